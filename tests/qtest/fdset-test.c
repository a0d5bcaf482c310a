/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdset qtests: add-fd / remove-fd / query-fdsets / getfd / closefd over a
 * real monitor socket with SCM_RIGHTS, the ownership rules (disconnect,
 * persistent), the fdset events, and the places where fdsetd answers
 * otherwise than QEMU 7.2 (design decisions 1-8).
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

#define NO_FD "No file descriptor supplied via SCM_RIGHTS"

typedef struct Fixture {
    QTestState *s;
    QTestConn *c;
} Fixture;

static Fixture start(const char *args)
{
    Fixture f;

    f.s = qtest_spawn(args);
    f.c = qtest_connect(f.s, 0);
    g_free(qtest_make_file(f.s, "a.img", 4096, 'a'));
    g_free(qtest_make_file(f.s, "b.img", 4096, 'b'));
    return f;
}

static void finish(Fixture *f, guint extra)
{
    qtest_assert_fds_match_registry(f->s, f->c, extra);
    ck_assert_int_eq(qtest_quit(f->s), 0);
}

/* Open a scratch file; closed by the caller. */
static int open_img(Fixture *f, const char *name, int flags)
{
    return qtest_open_file(f->s, name, flags);
}

static JsonNode *query(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");

    ck_assert_ptr_nonnull(qtest_return_array(r));
    return r;
}

/*
 * query-fdsets as text, in the daemon's order: "2[x y] 1[#7]", members by
 * opaque, or #fd when they have none.
 */
static char *summary(QTestConn *c)
{
    JsonNode *r = query(c);
    JsonArray *sets = qtest_return_array(r);
    GString *out = g_string_new(NULL);
    guint i, j;

    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");

        g_string_append_printf(out, "%s%" G_GINT64_FORMAT "[", i ? " " : "",
                               json_object_get_int_member(set, "fdset-id"));
        for (j = 0; j < json_array_get_length(fds); j++) {
            JsonObject *m = json_array_get_object_element(fds, j);
            if (j) {
                g_string_append_c(out, ' ');
            }
            if (json_object_has_member(m, "opaque")) {
                g_string_append_printf(out, "'%s'",
                    json_object_get_string_member(m, "opaque"));
            } else {
                g_string_append_printf(out, "#%" G_GINT64_FORMAT,
                    json_object_get_int_member(m, "fd"));
            }
        }
        g_string_append_c(out, ']');
    }
    json_node_unref(r);
    return g_string_free(out, FALSE);
}

static void assert_summary(QTestConn *c, const char *want)
{
    g_autofree char *got = summary(c);

    ck_assert_msg(g_str_equal(got, want), "query-fdsets is %s, expected %s",
                  got, want);
}

/* Poll until query-fdsets reads @want (a disconnect is handled async). */
static void wait_summary(QTestConn *c, const char *want)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    for (;;) {
        g_autofree char *got = summary(c);
        if (g_str_equal(got, want)) {
            return;
        }
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "query-fdsets stays %s, expected %s", got, want);
        g_usleep(10000);
    }
}

static JsonObject *find_member(JsonArray *sets, int fd, int64_t *set_id)
{
    guint i, j;

    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");
        for (j = 0; j < json_array_get_length(fds); j++) {
            JsonObject *m = json_array_get_object_element(fds, j);
            if (json_object_get_int_member(m, "fd") == fd) {
                if (set_id) {
                    *set_id = json_object_get_int_member(set, "fdset-id");
                }
                return m;
            }
        }
    }
    return NULL;
}

/* Is daemon fd @dfd the scratch file @name? */
static bool daemon_fd_is(Fixture *f, int dfd, const char *name)
{
    g_autofree char *path = g_build_filename(qtest_tmpdir(f->s), name, NULL);
    struct stat a, b;

    return qtest_fd_stat(f->s, dfd, &a) && stat(path, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int add_fd_ok(Fixture *f, const char *name, int flags, int64_t id,
                     const char *opaque, int64_t *out_set)
{
    int fd = open_img(f, name, flags);
    int dfd = qtest_add_fd(f->c, fd, id, opaque, out_set);

    close(fd);
    return dfd;
}

/* ------------------------------------------------------------- add-fd */

START_TEST(test_add_fd_without_fd)
{
    Fixture f = start(NULL);

    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd', "
                                      "'arguments': {}}"), "GenericError",
                       NO_FD);
    /* The missing fd is reported before the bad id. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd', 'arguments': "
                                      "{'fdset-id': -1, 'opaque': 'x'}}"),
                       "GenericError", NO_FD);
    assert_summary(f.c, "");
    finish(&f, 0);
}
END_TEST

START_TEST(test_add_fd_negative_id_closes_fd)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': -1}}"),
                       "GenericError",
                       "Parameter 'fdset-id' expects a non-negative value");
    close(fd);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    assert_summary(f.c, "");
    finish(&f, 0);
}
END_TEST

/* fdsetd differs (p08): a command that fails on its arguments closes its fd */
START_TEST(test_add_fd_bad_arguments_close_fd)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': '1'}}"),
                       "GenericError", "Invalid parameter type for "
                       "'fdset-id', expected: integer");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                                     "'arguments': {'foo': 1}}"),
                       "GenericError", "Parameter 'foo' is unexpected");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    /* Not pending either: a later add-fd without an fd has none. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd'}"),
                       "GenericError", NO_FD);
    close(fd);
    finish(&f, 0);
}
END_TEST

START_TEST(test_add_fd_explicit_id)
{
    Fixture f = start(NULL);
    g_autofree char *want = NULL;
    int64_t id;
    int a, b, auto0, auto1;

    a = add_fd_ok(&f, "a.img", O_RDONLY, 5, NULL, &id);
    ck_assert_int_eq(id, 5);
    auto0 = add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 0);
    auto1 = add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 1);
    /* Joining an existing set: any access mode. */
    b = add_fd_ok(&f, "a.img", O_RDWR, 5, NULL, &id);
    ck_assert_int_eq(id, 5);
    want = g_strdup_printf("5[#%d #%d] 1[#%d] 0[#%d]", a, b, auto1, auto0);
    assert_summary(f.c, want);
    ck_assert_str_eq(qtest_fd_mode(f.s, a), "ro");
    ck_assert_str_eq(qtest_fd_mode(f.s, b), "rw");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 4);
    finish(&f, 0);
}
END_TEST

START_TEST(test_auto_id_lowest_free)
{
    Fixture f = start(NULL);
    int64_t id;
    int i;

    for (i = 0; i < 3; i++) {
        add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
        ck_assert_int_eq(id, i);
    }
    /* {0,2} gives 1, then 3. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 1}}"));
    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 1);
    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 3);
    /* A freed 0 is reused. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 0}}"));
    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_auto_id_below_explicit)
{
    Fixture f = start(NULL);
    int64_t id;

    /* {1} gives 0, then 2. */
    add_fd_ok(&f, "a.img", O_RDONLY, 1, NULL, &id);
    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 0);
    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, &id);
    ck_assert_int_eq(id, 2);
    finish(&f, 0);
}
END_TEST

START_TEST(test_opaque_kept)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);
    int plain;

    add_fd_ok(&f, "a.img", O_RDONLY, 1, "rdonly", NULL);
    plain = add_fd_ok(&f, "a.img", O_RDWR, 1, NULL, NULL);
    add_fd_ok(&f, "a.img", O_RDONLY, 2, "", NULL);
    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': 3, "
                                     "'opaque': 7}}"),
                       "GenericError", "Invalid parameter type for "
                       "'opaque', expected: string");
    close(fd);
    {
        g_autofree char *want = g_strdup_printf("2[''] 1['rdonly' #%d]",
                                                plain);
        assert_summary(f.c, want);
    }
    finish(&f, 0);
}
END_TEST

START_TEST(test_two_fds_one_message)
{
    Fixture f = start(NULL);
    int fds[2] = { open_img(&f, "a.img", O_RDONLY),
                   open_img(&f, "b.img", O_RDWR) };
    JsonNode *r = qtest_qmp_fds(f.c, fds, 2, "{'execute': 'add-fd'}");
    JsonObject *ret = qtest_return_object(r);
    int dfd;

    ck_assert_ptr_nonnull(ret);
    dfd = json_object_get_int_member(ret, "fd");
    json_node_unref(r);
    ck_assert(daemon_fd_is(&f, dfd, "a.img"));
    ck_assert_str_eq(qtest_fd_mode(f.s, dfd), "ro");
    /* The second one is closed. */
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    close(fds[0]);
    close(fds[1]);
    finish(&f, 0);
}
END_TEST

/* fdsetd differs (p11): fds belong to the command they came with. */
START_TEST(test_fd_on_query_version_closed)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_success(qtest_qmp_fds(f.c, &fd, 1,
                                       "{'execute': 'query-version'}"));
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    /* ... and is not picked up by a later add-fd. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd'}"),
                       "GenericError", NO_FD);
    close(fd);
    finish(&f, 0);
}
END_TEST

/* python-qemu-qmp's send_fd_scm: the fd on one blank, the command after. */
START_TEST(test_fd_ahead_of_command)
{
    Fixture f = start(NULL);
    int a = open_img(&f, "a.img", O_RDONLY);
    int b = open_img(&f, "b.img", O_RDWR);
    JsonNode *r;
    int64_t id;
    int dfd;

    qtest_send_raw(f.c, " ", 1, &a, 1);
    r = qtest_qmp(f.c, "{'execute': 'add-fd', 'arguments': "
                       "{'fdset-id': 2, 'opaque': 'ahead'}}");
    ck_assert_ptr_nonnull(qtest_return_object(r));
    dfd = json_object_get_int_member(qtest_return_object(r), "fd");
    id = json_object_get_int_member(qtest_return_object(r), "fdset-id");
    json_node_unref(r);
    ck_assert_int_eq(id, 2);
    ck_assert(daemon_fd_is(&f, dfd, "a.img"));
    assert_summary(f.c, "2['ahead']");

    qtest_send_raw(f.c, "\n", 1, &b, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'getfd', "
                                        "'arguments': {'fdname': 'later'}}"));
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'later'}}"));
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 2}}"));
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    close(a);
    close(b);
    finish(&f, 0);
}
END_TEST

/* iotest 045: sets added as 1,1,0,2,2 come back as 2,1,0, oldest first. */
START_TEST(test_query_ordering)
{
    Fixture f = start(NULL);
    static const struct { int set; const char *opaque; int mode; } add[] = {
        { 1, "image0:r", O_RDONLY }, { 1, "image1:w+", O_RDWR },
        { 0, "image2:r", O_RDONLY }, { 2, "image3:r", O_RDONLY },
        { 2, "image4:r", O_RDONLY },
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(add); i++) {
        add_fd_ok(&f, "a.img", add[i].mode, add[i].set, add[i].opaque, NULL);
    }
    assert_summary(f.c, "2['image3:r' 'image4:r'] "
                        "1['image0:r' 'image1:w+'] 0['image2:r']");
    finish(&f, 0);
}
END_TEST

/* ---------------------------------------------------------- remove-fd */

START_TEST(test_remove_fd_whole_set)
{
    Fixture f = start(NULL);

    add_fd_ok(&f, "a.img", O_RDONLY, -1, NULL, NULL);
    add_fd_ok(&f, "a.img", O_RDWR, 0, NULL, NULL);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 2);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 0}}"));
    assert_summary(f.c, "");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_remove_fd_one_member)
{
    Fixture f = start(NULL);
    int ro = add_fd_ok(&f, "a.img", O_RDONLY, 3, NULL, NULL);
    int rw = add_fd_ok(&f, "a.img", O_RDWR, 3, NULL, NULL);

    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments':"
                                        " {'fdset-id': 3, 'fd': %d}}", rw));
    {
        g_autofree char *want = g_strdup_printf("3[#%d]", ro);
        assert_summary(f.c, want);
    }
    ck_assert_str_eq(qtest_fd_mode(f.s, ro), "ro");
    ck_assert_ptr_null(qtest_fd_mode(f.s, rw));
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments':"
                                        " {'fdset-id': 3, 'fd': %d}}", ro));
    assert_summary(f.c, "");
    finish(&f, 0);
}
END_TEST

START_TEST(test_remove_fd_errors)
{
    Fixture f = start(NULL);
    int ro = add_fd_ok(&f, "a.img", O_RDONLY, 3, NULL, NULL);
    int rw = add_fd_ok(&f, "a.img", O_RDWR, 3, NULL, NULL);
    g_autofree char *gone = NULL;

    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                      "'arguments': {'fdset-id': 4}}"),
                       "GenericError",
                       "File descriptor named 'fdset-id:4' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments': "
                                      "{'fdset-id': 42, 'fd': 99999}}"),
                       "GenericError", "File descriptor named "
                       "'fdset-id:42, fd:99999' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments': "
                                      "{'fdset-id': 3, 'fd': 99999}}"),
                       "GenericError", "File descriptor named "
                       "'fdset-id:3, fd:99999' not found");
    /* A member of another set is not a member of this one. */
    add_fd_ok(&f, "a.img", O_RDONLY, 7, NULL, NULL);
    gone = g_strdup_printf("File descriptor named 'fdset-id:7, fd:%d' "
                           "not found", ro);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments': "
                                      "{'fdset-id': 7, 'fd': %d}}", ro),
                       "GenericError", gone);
    /* Removed twice. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments':"
                                        " {'fdset-id': 3, 'fd': %d}}", rw));
    g_free(gone);
    gone = g_strdup_printf("File descriptor named 'fdset-id:3, fd:%d' "
                           "not found", rw);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments': "
                                      "{'fdset-id': 3, 'fd': %d}}", rw),
                       "GenericError", gone);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 3}}"));
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                      "'arguments': {'fdset-id': 3}}"),
                       "GenericError",
                       "File descriptor named 'fdset-id:3' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                      "'arguments': {}}"),
                       "GenericError", "Parameter 'fdset-id' is missing");
    finish(&f, 0);
}
END_TEST

/* dup-count of set @id (-1 when there is no such set). */
static int64_t dup_count(QTestConn *c, int64_t id)
{
    JsonNode *r = query(c);
    JsonArray *sets = qtest_return_array(r);
    int64_t n = -1;
    guint i;

    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        if (json_object_get_int_member(set, "fdset-id") == id) {
            n = json_object_get_int_member(set, "dup-count");
        }
    }
    json_node_unref(r);
    return n;
}

static void blockdev_add_ro(QTestConn *c, const char *node, int set)
{
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-add', "
                                      "'arguments': {'driver': 'file', "
                                      "'node-name': '%s', 'filename': "
                                      "'/dev/fdset/%d', 'read-only': true}}",
                                   node, set));
}

static void blockdev_del(QTestConn *c, const char *node)
{
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': '%s'}}",
                                   node));
}

/* p17: the member goes at once, the set stays empty until its dup goes. */
START_TEST(test_remove_fd_while_in_use)
{
    Fixture f = start(NULL);

    add_fd_ok(&f, "a.img", O_RDONLY, 1, NULL, NULL);
    blockdev_add_ro(f.c, "n1", 1);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 2);
    ck_assert_int_eq(dup_count(f.c, 1), 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 1}}"));
    assert_summary(f.c, "1[]");
    ck_assert_int_eq(dup_count(f.c, 1), 1);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    /* A set left with dups only: remove-fd without fd changes nothing. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 1}}"));
    assert_summary(f.c, "1[]");
    blockdev_del(f.c, "n1");
    assert_summary(f.c, "");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    finish(&f, 0);
}
END_TEST

/* -------------------------------------------------------- ownership */

/* fdsetd differs (p18): members belong to the connection that added them. */
START_TEST(test_disconnect_reaps_unused_sets)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd0 = open_img(&f, "a.img", O_RDONLY);
    int fd1 = open_img(&f, "b.img", O_RDONLY);
    int m1;

    qtest_add_fd(a, fd0, 0, "unused", NULL);
    m1 = qtest_add_fd(a, fd1, 1, "used", NULL);
    close(fd0);
    close(fd1);
    blockdev_add_ro(a, "n1", 1);
    qtest_disconnect(a);
    /* Set 0 is gone; set 1 keeps its member while the node needs it. */
    wait_summary(f.c, "1['used']");
    ck_assert(daemon_fd_is(&f, m1, "b.img"));
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    /* The last dup goes: so does the orphaned member, and the set. */
    blockdev_del(f.c, "n1");
    assert_summary(f.c, "");
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_disconnect_keeps_other_connections_members)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_add_fd(a, fd, 0, "from-a", NULL);
    qtest_add_fd(f.c, fd, 0, "from-c", NULL);
    close(fd);
    qtest_disconnect(a);
    wait_summary(f.c, "0['from-c']");
    finish(&f, 0);
}
END_TEST

START_TEST(test_disconnect_keeps_persistent)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;
    JsonObject *m;
    int dfd;

    r = qtest_qmp_fds(a, &fd, 1, "{'execute': 'add-fd', 'arguments': "
                      "{'fdset-id': 4, 'persistent': true}}");
    ck_assert_ptr_nonnull(qtest_return_object(r));
    dfd = json_object_get_int_member(qtest_return_object(r), "fd");
    json_node_unref(r);
    qtest_add_fd(a, fd, 5, NULL, NULL); /* not persistent: reaped */
    close(fd);
    qtest_disconnect(a);
    {
        g_autofree char *want = g_strdup_printf("4[#%d]", dfd);
        wait_summary(f.c, want);
    }
    r = query(f.c);
    m = find_member(qtest_return_array(r), dfd, NULL);
    ck_assert(json_object_get_boolean_member(m, "persistent"));
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

START_TEST(test_persistent_fds_switch)
{
    Fixture f = start("--persistent-fds");
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;
    int dfd;

    dfd = qtest_add_fd(a, fd, 0, "kept", NULL);
    close(fd);
    qtest_disconnect(a);
    /* Give a (wrong) reaping time to happen before looking. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'query-version'}"));
    g_usleep(100000);
    assert_summary(f.c, "0['kept']");
    r = query(f.c);
    ck_assert(json_object_get_boolean_member(
        find_member(qtest_return_array(r), dfd, NULL), "persistent"));
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

START_TEST(test_two_monitors_share_registry)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    Fixture f = { s, qtest_connect(s, 0) };
    QTestConn *b = qtest_connect(s, 1);
    int rw;

    g_free(qtest_make_file(s, "a.img", 4096, 'a'));
    add_fd_ok(&f, "a.img", O_RDONLY, -1, "from-A", NULL);
    assert_summary(b, "0['from-A']");
    {
        int fd = open_img(&f, "a.img", O_RDWR);
        int64_t id;
        rw = qtest_add_fd(b, fd, -1, NULL, &id);
        ck_assert_int_eq(id, 1);
        close(fd);
    }
    {
        g_autofree char *want = g_strdup_printf("1[#%d] 0['from-A']", rw);
        assert_summary(f.c, want);
        qtest_assert_success(qtest_qmp(b, "{'execute': 'remove-fd', "
                                          "'arguments': {'fdset-id': 0}}"));
        g_free(want);
        want = g_strdup_printf("1[#%d]", rw);
        assert_summary(f.c, want);
    }
    finish(&f, 0);
}
END_TEST

/* ---------------------------------------------------------- named fds */

START_TEST(test_getfd_closefd)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_success(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'disk0'}}"));
    close(fd);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    assert_summary(f.c, "");
    qtest_assert_fds_match_registry(f.s, f.c, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'disk0'}}"));
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'closefd', "
                                      "'arguments': {'fdname': 'disk0'}}"),
                       "GenericError",
                       "File descriptor named 'disk0' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'getfd', "
                                      "'arguments': {'fdname': 'disk1'}}"),
                       "GenericError", NO_FD);
    finish(&f, 0);
}
END_TEST

START_TEST(test_getfd_digit_name)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'getfd', "
                                     "'arguments': {'fdname': '0image0:r'}}"),
                       "GenericError", "Parameter 'fdname' expects a name "
                       "not starting with a digit");
    close(fd);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_getfd_replace_closes_old)
{
    Fixture f = start(NULL);
    int a = open_img(&f, "a.img", O_RDONLY);
    int b = open_img(&f, "b.img", O_RDWR);
    g_autofree char *bpath = g_build_filename(qtest_tmpdir(f.s), "b.img",
                                              NULL);
    struct stat want;
    guint found = 0;
    int fd;

    qtest_assert_success(qtest_qmp_fds(f.c, &a, 1, "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'x'}}"));
    qtest_assert_success(qtest_qmp_fds(f.c, &b, 1, "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'x'}}"));
    close(a);
    close(b);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    ck_assert_int_eq(stat(bpath, &want), 0);
    for (fd = 3; fd < 1024; fd++) {
        struct stat st;
        if (qtest_fd_stat(f.s, fd, &st) && S_ISREG(st.st_mode)) {
            ck_assert_int_eq(st.st_ino, want.st_ino);
            ck_assert_str_eq(qtest_fd_mode(f.s, fd), "rw");
            found++;
        }
    }
    ck_assert_uint_eq(found, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'x'}}"));
    finish(&f, 0);
}
END_TEST

START_TEST(test_named_fds_closed_on_disconnect)
{
    Fixture f = start(NULL);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_success(qtest_qmp_fds(a, &fd, 1, "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'n'}}"));
    close(fd);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    /* Names are per connection. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'closefd', "
                                      "'arguments': {'fdname': 'n'}}"),
                       "GenericError", "File descriptor named 'n' not found");
    qtest_disconnect(a);
    finish(&f, 0); /* the settle loop waits for the disconnect */
}
END_TEST

/* ----------------------------------------------------- query details */

static bool has_flag(JsonObject *m, const char *flag)
{
    JsonArray *a = json_object_get_array_member(m, "flags");
    guint i;

    for (i = 0; a && i < json_array_get_length(a); i++) {
        if (g_str_equal(json_array_get_string_element(a, i), flag)) {
            return true;
        }
    }
    return false;
}

START_TEST(test_query_member_details)
{
    Fixture f = start(NULL);
    int ro = add_fd_ok(&f, "a.img", O_RDONLY, 1, NULL, NULL);
    int wo = add_fd_ok(&f, "a.img", O_WRONLY | O_APPEND, 1, NULL, NULL);
    int rw = add_fd_ok(&f, "b.img", O_RDWR | O_SYNC | O_NONBLOCK, 2, NULL,
                       NULL);
    g_autofree char *apath = g_build_filename(qtest_tmpdir(f.s), "a.img",
                                              NULL);
    JsonNode *r = query(f.c);
    JsonArray *sets = qtest_return_array(r);
    JsonObject *m;
    struct stat st;

    ck_assert_int_eq(stat(apath, &st), 0);
    m = find_member(sets, ro, NULL);
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "read-only");
    ck_assert_int_eq(json_object_get_int_member(m, "ino"), st.st_ino);
    ck_assert_int_eq(json_object_get_int_member(m, "dev"), st.st_dev);
    ck_assert(!json_object_get_boolean_member(m, "persistent"));
    ck_assert_uint_eq(json_array_get_length(
                          json_object_get_array_member(m, "flags")), 0);
    m = find_member(sets, wo, NULL);
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "write-only");
    ck_assert(has_flag(m, "append") && !has_flag(m, "direct"));
    m = find_member(sets, rw, NULL);
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "read-write");
    ck_assert(has_flag(m, "sync") && has_flag(m, "nonblock"));
    ck_assert(!has_flag(m, "append"));
    ck_assert_int_eq(json_object_get_int_member(
                         json_array_get_object_element(sets, 0), "dup-count"),
                     0);
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

START_TEST(test_query_direct_flag)
{
    Fixture f = start(NULL);
    g_autofree char *path = g_build_filename(qtest_tmpdir(f.s), "a.img",
                                             NULL);
    int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
    JsonNode *r;
    int dfd;

    if (fd < 0 && errno == EINVAL) {
        fprintf(stderr, "%s: no O_DIRECT on this file system; skipped\n",
                __func__);
        finish(&f, 0);
        return;
    }
    ck_assert_int_ge(fd, 0);
    dfd = qtest_add_fd(f.c, fd, 1, NULL, NULL);
    close(fd);
    r = query(f.c);
    ck_assert(has_flag(find_member(qtest_return_array(r), dfd, NULL),
                       "direct"));
    json_node_unref(r);
    finish(&f, 0);
}
END_TEST

/* ------------------------------------------------------------- events */

/* Next event, which must be @name for set @id (and member @fd if >= 0). */
static JsonObject *next_event(QTestConn *c, const char *name, int64_t id,
                              int fd, JsonNode **keep)
{
    JsonNode *ev = qtest_event_wait(c, NULL, -1);
    JsonObject *o, *data;

    ck_assert_msg(ev, "no event (expected %s)", name);
    o = json_node_get_object(ev);
    ck_assert_str_eq(json_object_get_string_member(o, "event"), name);
    ck_assert(json_object_has_member(o, "timestamp"));
    data = json_object_get_object_member(o, "data");
    ck_assert_int_eq(json_object_get_int_member(data, "fdset-id"), id);
    if (fd >= 0) {
        ck_assert_int_eq(json_object_get_int_member(data, "fd"), fd);
    }
    *keep = ev;
    return data;
}

static void expect_removed(QTestConn *c, int64_t id, int fd,
                           const char *reason)
{
    JsonNode *ev;
    JsonObject *d = next_event(c, "FDSET_FD_REMOVED", id, fd, &ev);

    ck_assert_str_eq(json_object_get_string_member(d, "reason"), reason);
    json_node_unref(ev);
}

static void expect_simple(QTestConn *c, const char *name, int64_t id, int fd)
{
    JsonNode *ev;

    next_event(c, name, id, fd, &ev);
    json_node_unref(ev);
}

static QTestConn *connect_events(QTestState *s, guint monitor)
{
    QTestConn *c = qtest_connect_raw(s, monitor);

    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities', "
                                      "'arguments': {'enable': "
                                      "['fdset-events']}}"));
    return c;
}

START_TEST(test_events_to_every_subscriber)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    QTestConn *a = connect_events(s, 0);
    QTestConn *b = connect_events(s, 1);
    QTestConn *plain = qtest_connect(s, 0);
    Fixture f = { s, a };
    QTestConn *both[2] = { a, b };
    int m1, m2, i;

    g_free(qtest_make_file(s, "a.img", 4096, 'a'));
    m1 = add_fd_ok(&f, "a.img", O_RDONLY, 3, "one", NULL);
    m2 = add_fd_ok(&f, "a.img", O_RDWR, 3, NULL, NULL);
    qtest_assert_success(qtest_qmp(b, "{'execute': 'remove-fd', 'arguments':"
                                      " {'fdset-id': 3, 'fd': %d}}", m1));
    qtest_assert_success(qtest_qmp(b, "{'execute': 'remove-fd', "
                                      "'arguments': {'fdset-id': 3}}"));
    for (i = 0; i < 2; i++) {
        JsonNode *ev;
        JsonObject *d = next_event(both[i], "FDSET_FD_ADDED", 3, m1, &ev);
        ck_assert_str_eq(json_object_get_string_member(d, "opaque"), "one");
        json_node_unref(ev);
        d = next_event(both[i], "FDSET_FD_ADDED", 3, m2, &ev);
        ck_assert(!json_object_has_member(d, "opaque"));
        ck_assert(!json_object_has_member(d, "other-file") ||
                  !json_object_get_boolean_member(d, "other-file"));
        json_node_unref(ev);
        expect_removed(both[i], 3, m1, "remove-fd");
        expect_removed(both[i], 3, m2, "remove-fd");
        expect_simple(both[i], "FDSET_FREED", 3, -1);
    }
    /* A client that did not ask (QEMU's view) sees none. */
    qtest_assert_success(qtest_qmp(plain, "{'execute': 'query-version'}"));
    ck_assert_ptr_null(qtest_event_wait(plain, NULL, 200));
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_on_disconnect)
{
    Fixture f = start(NULL);
    QTestConn *ev = connect_events(f.s, 0);
    QTestConn *a = qtest_connect(f.s, 0);
    int fd = open_img(&f, "a.img", O_RDONLY);
    int m = qtest_add_fd(a, fd, 6, NULL, NULL);

    close(fd);
    expect_simple(ev, "FDSET_FD_ADDED", 6, m);
    qtest_disconnect(a);
    expect_removed(ev, 6, m, "disconnect");
    expect_simple(ev, "FDSET_FREED", 6, -1);
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_switch_for_all)
{
    Fixture f = start("--fdset-events");
    int m = add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);

    expect_simple(f.c, "FDSET_FD_ADDED", 0, m);
    finish(&f, 0);
}
END_TEST

START_TEST(test_events_other_file)
{
    Fixture f = start(NULL);
    QTestConn *ev = connect_events(f.s, 0);
    JsonNode *n;
    JsonObject *d;
    int m;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    m = add_fd_ok(&f, "b.img", O_RDONLY, 0, NULL, NULL);
    expect_simple(ev, "FDSET_FD_ADDED", 0, -1);
    d = next_event(ev, "FDSET_FD_ADDED", 0, m, &n);
    ck_assert(json_object_get_boolean_member(d, "other-file"));
    json_node_unref(n);
    finish(&f, 0);
}
END_TEST

/* ------------------------------------------------ fdsetd's own limits */

START_TEST(test_strict_same_file_refuses)
{
    Fixture f = start("--strict-same-file");
    int fd = open_img(&f, "b.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                      "'arguments': {'fdset-id': 0}}");
    close(fd);
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "strict same file: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "same file"));
    json_node_unref(r);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    finish(&f, 0);
}
END_TEST

START_TEST(test_limit_fds_per_set)
{
    Fixture f = start("--max-fds-per-set 2");
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd', "
                      "'arguments': {'fdset-id': 0}}");
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "per-set limit: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "limit"));
    json_node_unref(r);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 2);
    /* Another set still takes it. */
    qtest_add_fd(f.c, fd, 1, NULL, NULL);
    close(fd);
    finish(&f, 0);
}
END_TEST

START_TEST(test_limit_sets)
{
    Fixture f = start("--max-sets 1");
    int fd = open_img(&f, "a.img", O_RDONLY);
    JsonNode *r;

    add_fd_ok(&f, "a.img", O_RDONLY, 0, NULL, NULL);
    r = qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'add-fd'}");
    close(fd);
    ck_assert_str_eq(qtest_error_class(r), "GenericError");
    fprintf(stderr, "set limit: %s\n", qtest_error_desc(r));
    ck_assert_ptr_nonnull(strstr(qtest_error_desc(r), "limit"));
    json_node_unref(r);
    ck_assert_uint_eq(qtest_count_file_fds(f.s), 1);
    finish(&f, 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("fdset");
    TCase *tc = tcase_create("fdset");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_add_fd_without_fd);
    tcase_add_test(tc, test_add_fd_negative_id_closes_fd);
    tcase_add_test(tc, test_add_fd_bad_arguments_close_fd);
    tcase_add_test(tc, test_add_fd_explicit_id);
    tcase_add_test(tc, test_auto_id_lowest_free);
    tcase_add_test(tc, test_auto_id_below_explicit);
    tcase_add_test(tc, test_opaque_kept);
    tcase_add_test(tc, test_two_fds_one_message);
    tcase_add_test(tc, test_fd_on_query_version_closed);
    tcase_add_test(tc, test_fd_ahead_of_command);
    tcase_add_test(tc, test_query_ordering);
    tcase_add_test(tc, test_remove_fd_whole_set);
    tcase_add_test(tc, test_remove_fd_one_member);
    tcase_add_test(tc, test_remove_fd_errors);
    tcase_add_test(tc, test_remove_fd_while_in_use);
    tcase_add_test(tc, test_disconnect_reaps_unused_sets);
    tcase_add_test(tc, test_disconnect_keeps_other_connections_members);
    tcase_add_test(tc, test_disconnect_keeps_persistent);
    tcase_add_test(tc, test_persistent_fds_switch);
    tcase_add_test(tc, test_two_monitors_share_registry);
    tcase_add_test(tc, test_getfd_closefd);
    tcase_add_test(tc, test_getfd_digit_name);
    tcase_add_test(tc, test_getfd_replace_closes_old);
    tcase_add_test(tc, test_named_fds_closed_on_disconnect);
    tcase_add_test(tc, test_query_member_details);
    tcase_add_test(tc, test_query_direct_flag);
    tcase_add_test(tc, test_events_to_every_subscriber);
    tcase_add_test(tc, test_events_on_disconnect);
    tcase_add_test(tc, test_events_switch_for_all);
    tcase_add_test(tc, test_events_other_file);
    tcase_add_test(tc, test_strict_same_file_refuses);
    tcase_add_test(tc, test_limit_fds_per_set);
    tcase_add_test(tc, test_limit_sets);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
