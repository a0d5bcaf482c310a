/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev qtests for file nodes on /dev/fdset/N: the dup a node holds,
 * access-mode and O_DIRECT matching with QEMU 7.2's error texts, path
 * parsing, blockdev-del, and blockdev-reopen swapping dups.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libqtest.h"

typedef struct Fixture {
    QTestState *s;
    QTestConn *c;
} Fixture;

static Fixture start(void)
{
    Fixture f;

    f.s = qtest_spawn(NULL);
    f.c = qtest_connect(f.s, 0);
    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    g_free(qtest_make_file(f.s, "b.img", 65536, 'b'));
    return f;
}

static void finish(Fixture *f)
{
    qtest_assert_fds_match_registry(f->s, f->c, 0);
    ck_assert_int_eq(qtest_quit(f->s), 0);
}

/* add-fd of a fresh open of @name; returns the daemon's member fd. */
static int add(Fixture *f, const char *name, int flags, int64_t set)
{
    int fd = qtest_open_file(f->s, name, flags);
    int dfd = qtest_add_fd(f->c, fd, set, NULL, NULL);

    close(fd);
    return dfd;
}

static JsonNode *blockdev_add(Fixture *f, const char *node, const char *path,
                              bool ro, bool direct)
{
    g_autofree char *p = qtest_json_str(path);

    return qtest_qmp(f->c,
                     "{'execute': 'blockdev-add', 'arguments': "
                     "{'driver': 'file', 'node-name': '%s', 'filename': %s, "
                     "'read-only': %s%s}}",
                     node, p, ro ? "true" : "false",
                     direct ? ", 'cache': {'direct': true}" : "");
}

static JsonNode *blockdev_reopen(Fixture *f, const char *node, int set, bool ro)
{
    return qtest_qmp(f->c,
                     "{'execute': 'blockdev-reopen', 'arguments': "
                     "{'options': [{'driver': 'file', 'node-name': '%s', "
                     "'filename': '/dev/fdset/%d', 'read-only': %s}]}}",
                     node, set, ro ? "true" : "false");
}

static void blockdev_del(Fixture *f, const char *node)
{
    qtest_assert_success(qtest_qmp(f->c,
                                   "{'execute': 'blockdev-del', "
                                   "'arguments': {'node-name': '%s'}}",
                                   node));
}

/* The query-fdsets set @id, or NULL; *@keep holds the reply. */
static JsonObject *get_set(Fixture *f, int64_t id, JsonNode **keep)
{
    JsonNode *r = qtest_qmp(f->c, "{'execute': 'query-fdsets'}");
    JsonArray *sets = qtest_return_array(r);
    guint i;

    ck_assert_ptr_nonnull(sets);
    *keep = r;
    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *s = json_array_get_object_element(sets, i);
        if (json_object_get_int_member(s, "fdset-id") == id) {
            return s;
        }
    }
    return NULL;
}

static int64_t dup_count(Fixture *f, int64_t id)
{
    JsonNode *r;
    JsonObject *s = get_set(f, id, &r);
    int64_t n = s ? json_object_get_int_member(s, "dup-count") : -1;

    json_node_unref(r);
    return n;
}

static guint n_members(Fixture *f, int64_t id)
{
    JsonNode *r;
    JsonObject *s = get_set(f, id, &r);
    guint n =
        s ? json_array_get_length(json_object_get_array_member(s, "fds")) : 0;

    json_node_unref(r);
    return n;
}

/*
 * The daemon's fds on scratch file @name that are not in @members, i.e.
 * the dups: their number, and the mode of the last one in *@mode.
 */
static guint dups_of(Fixture *f, const char *name, const int *members, guint n,
                     const char **mode, int *dup_fd)
{
    g_autofree char *path = g_build_filename(qtest_tmpdir(f->s), name, NULL);
    struct stat want, st;
    guint found = 0, i;
    int fd;

    ck_assert_int_eq(stat(path, &want), 0);
    for (fd = 3; fd < 1024; fd++) {
        bool member = false;
        for (i = 0; i < n; i++) {
            member |= members[i] == fd;
        }
        if (!member && qtest_fd_stat(f->s, fd, &st) &&
            st.st_ino == want.st_ino && st.st_dev == want.st_dev) {
            found++;
            if (mode) {
                *mode = qtest_fd_mode(f->s, fd);
            }
            if (dup_fd) {
                *dup_fd = fd;
            }
        }
    }
    return found;
}

#define EACCES_TEXT(set, flags)                                                \
    "Could not dup FD for /dev/fdset/" #set " flags " #flags                   \
    ": Permission denied"

/* p14 */
START_TEST(test_readonly_node_holds_dup)
{
    Fixture f = start();
    int m = add(&f, "a.img", O_RDONLY, 1);
    const char *mode = NULL;
    int dup = -1;

    qtest_assert_success(blockdev_add(&f, "n1", "/dev/fdset/1", true, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", &m, 1, &mode, &dup), 1);
    ck_assert_str_eq(mode, "ro");
    ck_assert(qtest_fd_flags(f.s, dup) & O_CLOEXEC);
    ck_assert_uint_eq(n_members(&f, 1), 1); /* the dup is not a member */
    ck_assert_int_eq(dup_count(&f, 1), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    blockdev_del(&f, "n1");
    /* Only the dup is released; the member stays. */
    ck_assert_uint_eq(dups_of(&f, "a.img", &m, 1, NULL, NULL), 0);
    ck_assert_str_eq(qtest_fd_mode(f.s, m), "ro");
    ck_assert_uint_eq(n_members(&f, 1), 1);
    ck_assert_int_eq(dup_count(&f, 1), 0);
    finish(&f);
}
END_TEST

START_TEST(test_readwrite_node_holds_rw_dup)
{
    Fixture f = start();
    int m = add(&f, "a.img", O_RDWR, 1);
    const char *mode = NULL;

    qtest_assert_success(blockdev_add(&f, "w1", "/dev/fdset/1", false, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", &m, 1, &mode, NULL), 1);
    ck_assert_str_eq(mode, "rw");
    ck_assert_int_eq(dup_count(&f, 1), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    blockdev_del(&f, "w1");
    finish(&f);
}
END_TEST

/* p15 */
START_TEST(test_missing_mode_is_eacces)
{
    Fixture f = start();
    int m[3];

    m[0] = add(&f, "a.img", O_RDONLY, 1);
    m[1] = add(&f, "b.img", O_RDWR, 2);
    qtest_assert_error(blockdev_add(&f, "w1", "/dev/fdset/1", false, false),
                       "GenericError", EACCES_TEXT(1, 2));
    qtest_assert_error(blockdev_add(&f, "r2", "/dev/fdset/2", true, false),
                       "GenericError", EACCES_TEXT(2, 0));
    qtest_assert_file_fds(f.s, 2);
    ck_assert_int_eq(dup_count(&f, 1), 0);
    m[2] = add(&f, "a.img", O_RDWR, 1);
    qtest_assert_success(blockdev_add(&f, "w1", "/dev/fdset/1", false, false));
    qtest_assert_file_fds(f.s, 4);
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 3, NULL, NULL), 1);
    blockdev_del(&f, "w1");
    qtest_assert_file_fds(f.s, 3);
    finish(&f);
}
END_TEST

START_TEST(test_no_such_set_is_enoent)
{
    Fixture f = start();

    add(&f, "a.img", O_RDONLY, 1);
    qtest_assert_error(blockdev_add(&f, "n", "/dev/fdset/7", true, false),
                       "GenericError",
                       "Could not dup FD for /dev/fdset/7 "
                       "flags 0: No such file or directory");
    qtest_assert_error(blockdev_add(&f, "n", "/dev/fdset/7", false, false),
                       "GenericError",
                       "Could not dup FD for /dev/fdset/7 "
                       "flags 2: No such file or directory");
    qtest_assert_file_fds(f.s, 1);
    finish(&f);
}
END_TEST

/* p16 */
START_TEST(test_path_parse_errors)
{
    static const char *const bad[] = {
        "/dev/fdset/",
        "/dev/fdset/0x",
        "/dev/fdset/-1",
        "/dev/fdset/1x",
        "/dev/fdset/1 ",
        "/dev/fdset/2147483648",
        "/dev/fdset/99999999999999999999",
    };
    Fixture f = start();
    guint i;

    add(&f, "a.img", O_RDONLY, 1);
    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *want =
            g_strdup_printf("Could not parse fdset %s", bad[i]);
        qtest_assert_error(blockdev_add(&f, "n", bad[i], true, false),
                           "GenericError", want);
    }
    qtest_assert_file_fds(f.s, 1);
    finish(&f);
}
END_TEST

/* strtol's leniency, as QEMU: blanks, '+' and leading zeros. */
START_TEST(test_path_lenient_forms)
{
    static const char *const ok[] = {
        "/dev/fdset/ 1",
        "/dev/fdset/+01",
        "/dev/fdset/001",
    };
    Fixture f = start();
    guint i;

    add(&f, "a.img", O_RDONLY, 1);
    for (i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autofree char *node = g_strdup_printf("n%u", i);
        qtest_assert_success(blockdev_add(&f, node, ok[i], true, false));
    }
    ck_assert_int_eq(dup_count(&f, 1), G_N_ELEMENTS(ok));
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    for (i = 0; i < G_N_ELEMENTS(ok); i++) {
        g_autofree char *node = g_strdup_printf("n%u", i);
        blockdev_del(&f, node);
    }
    ck_assert_int_eq(dup_count(&f, 1), 0);
    finish(&f);
}
END_TEST

/*
 * fdsetd differs (decision 4): cache.direct=on needs a member that has
 * O_DIRECT; a plain one is not F_SETFL'd into shape.
 */
START_TEST(test_cache_direct_needs_direct_member)
{
    Fixture f = start();
    g_autofree char *path = g_build_filename(qtest_tmpdir(f.s), "a.img", NULL);
    int plain = qtest_open_file(f.s, "a.img", O_RDONLY);
    int direct = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    int m[2], dup = -1;
    const char *mode = NULL;

    if (direct < 0 && errno == EINVAL) {
        fprintf(stderr, "%s: no O_DIRECT here; skipped\n", __func__);
        close(plain);
        finish(&f);
        return;
    }
    ck_assert_int_ge(direct, 0);
    m[0] = qtest_add_fd(f.c, plain, 1, NULL, NULL);
    qtest_assert_error(blockdev_add(&f, "d1", "/dev/fdset/1", true, true),
                       "GenericError", EACCES_TEXT(1, 4000));
    /* Nobody's flags were changed. */
    ck_assert_int_eq(fcntl(plain, F_GETFL) & O_DIRECT, 0);
    ck_assert_int_eq(qtest_fd_flags(f.s, m[0]) & O_DIRECT, 0);
    m[1] = qtest_add_fd(f.c, direct, 1, NULL, NULL);
    qtest_assert_success(blockdev_add(&f, "d1", "/dev/fdset/1", true, true));
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, &mode, &dup), 1);
    ck_assert(qtest_fd_flags(f.s, dup) & O_DIRECT);
    /* ... and a plain open still gets the plain member. */
    qtest_assert_success(blockdev_add(&f, "p1", "/dev/fdset/1", true, false));
    ck_assert_int_eq(dup_count(&f, 1), 2);
    ck_assert_int_eq(fcntl(plain, F_GETFL) & O_DIRECT, 0);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    blockdev_del(&f, "d1");
    blockdev_del(&f, "p1");
    close(plain);
    close(direct);
    finish(&f);
}
END_TEST

/* p22 */
START_TEST(test_reopen_swaps_dups)
{
    Fixture f = start();
    int m[2];
    const char *mode = NULL;
    int dup_ro = -1, dup = -1;

    m[0] = add(&f, "a.img", O_RDONLY, 1);
    m[1] = add(&f, "a.img", O_RDWR, 1);
    qtest_assert_success(blockdev_add(&f, "n1", "/dev/fdset/1", true, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, &mode, &dup_ro), 1);
    ck_assert_str_eq(mode, "ro");

    qtest_assert_success(blockdev_reopen(&f, "n1", 1, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, &mode, &dup), 1);
    ck_assert_str_eq(mode, "rw");
    ck_assert_int_eq(dup_count(&f, 1), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);

    qtest_assert_success(blockdev_reopen(&f, "n1", 1, true));
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, &mode, &dup), 1);
    ck_assert_str_eq(mode, "ro");
    ck_assert_int_eq(dup_count(&f, 1), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);

    blockdev_del(&f, "n1");
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, NULL, NULL), 0);
    ck_assert_uint_eq(n_members(&f, 1), 2);
    finish(&f);
}
END_TEST

/* A reopen that cannot get its new fd leaves the node on the old one. */
START_TEST(test_reopen_failure_keeps_old_dup)
{
    Fixture f = start();
    int m = add(&f, "a.img", O_RDONLY, 1);
    const char *mode = NULL;
    int before = -1, after = -1;

    qtest_assert_success(blockdev_add(&f, "n1", "/dev/fdset/1", true, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", &m, 1, NULL, &before), 1);
    qtest_assert_error(blockdev_reopen(&f, "n1", 1, false), "GenericError",
                       EACCES_TEXT(1, 2));
    ck_assert_uint_eq(dups_of(&f, "a.img", &m, 1, &mode, &after), 1);
    ck_assert_int_eq(before, after);
    ck_assert_str_eq(mode, "ro");
    ck_assert_int_eq(dup_count(&f, 1), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    blockdev_del(&f, "n1");
    finish(&f);
}
END_TEST

/*
 * Members are matched newest first.  O_APPEND (not part of the match) marks
 * which member a dup came from: a dup shares its member's status flags.
 */
START_TEST(test_newest_matching_member_wins)
{
    Fixture f = start();
    int m[4], dup = -1;

    m[0] = add(&f, "a.img", O_RDONLY, 1);
    m[1] = add(&f, "a.img", O_RDONLY | O_APPEND, 1);
    m[2] = add(&f, "b.img", O_RDONLY | O_APPEND, 2);
    m[3] = add(&f, "b.img", O_RDONLY, 2);
    qtest_assert_success(blockdev_add(&f, "n1", "/dev/fdset/1", true, false));
    qtest_assert_success(blockdev_add(&f, "n2", "/dev/fdset/2", true, false));
    ck_assert_uint_eq(dups_of(&f, "a.img", m, 2, NULL, &dup), 1);
    ck_assert(qtest_fd_flags(f.s, dup) & O_APPEND);
    ck_assert_uint_eq(dups_of(&f, "b.img", m + 2, 2, NULL, &dup), 1);
    ck_assert(!(qtest_fd_flags(f.s, dup) & O_APPEND));
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    blockdev_del(&f, "n1");
    blockdev_del(&f, "n2");
    finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("blockdev-file");
    TCase *tc = tcase_create("blockdev-file");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_readonly_node_holds_dup);
    tcase_add_test(tc, test_readwrite_node_holds_rw_dup);
    tcase_add_test(tc, test_missing_mode_is_eacces);
    tcase_add_test(tc, test_no_such_set_is_enoent);
    tcase_add_test(tc, test_path_parse_errors);
    tcase_add_test(tc, test_path_lenient_forms);
    tcase_add_test(tc, test_cache_direct_needs_direct_member);
    tcase_add_test(tc, test_reopen_swaps_dups);
    tcase_add_test(tc, test_reopen_failure_keeps_old_dup);
    tcase_add_test(tc, test_newest_matching_member_wins);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
