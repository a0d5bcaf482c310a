/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdset qtests: add-fd / remove-fd / query-fdsets / getfd / closefd over a
 * real monitor socket with SCM_RIGHTS, with QEMU 7.2's texts, and where
 * fdsetd answers otherwise (fds belong to their command, remove-fd at once,
 * richer query-fdsets).  Ownership, events and limits: fdset-lifetime-test.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdset-qtest.h"
#include "libqtest.h"

/* ------------------------------------------------------------- add-fd */

START_TEST(test_add_fd_without_fd)
{
    Fixture f = start(NULL);

    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd', "
                                      "'arguments': {}}"),
                       "GenericError", NO_FD);
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

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1,
                                     "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': -1}}"),
                       "GenericError",
                       "Parameter 'fdset-id' expects a non-negative value");
    close(fd);
    qtest_assert_file_fds(f.s, 0);
    assert_summary(f.c, "");
    finish(&f, 0);
}
END_TEST

/* fdsetd differs (p08): a command that fails on its arguments closes its fd */
START_TEST(test_add_fd_bad_arguments_close_fd)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1,
                                     "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': '1'}}"),
                       "GenericError",
                       "Invalid parameter type for "
                       "'fdset-id', expected: integer");
    qtest_assert_file_fds(f.s, 0);
    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1,
                                     "{'execute': 'add-fd', "
                                     "'arguments': {'foo': 1}}"),
                       "GenericError", "Parameter 'foo' is unexpected");
    qtest_assert_file_fds(f.s, 0);
    /* Not pending either: a later add-fd without an fd has none. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd'}"), "GenericError",
                       NO_FD);
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
    qtest_assert_file_fds(f.s, 4);
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
    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1,
                                     "{'execute': 'add-fd', "
                                     "'arguments': {'fdset-id': 3, "
                                     "'opaque': 7}}"),
                       "GenericError",
                       "Invalid parameter type for "
                       "'opaque', expected: string");
    close(fd);
    {
        g_autofree char *want = g_strdup_printf("2[''] 1['rdonly' #%d]", plain);
        assert_summary(f.c, want);
    }
    finish(&f, 0);
}
END_TEST

START_TEST(test_two_fds_one_message)
{
    Fixture f = start(NULL);
    int fds[2] = {open_img(&f, "a.img", O_RDONLY),
                  open_img(&f, "b.img", O_RDWR)};
    JsonNode *r = qtest_qmp_fds(f.c, fds, 2, "{'execute': 'add-fd'}");
    JsonObject *ret = qtest_return_object(r);
    int dfd;

    ck_assert_ptr_nonnull(ret);
    dfd = json_object_get_int_member(ret, "fd");
    json_node_unref(r);
    ck_assert(daemon_fd_is(&f, dfd, "a.img"));
    ck_assert_str_eq(qtest_fd_mode(f.s, dfd), "ro");
    /* The second one is closed. */
    qtest_assert_file_fds(f.s, 1);
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

    qtest_assert_success(
        qtest_qmp_fds(f.c, &fd, 1, "{'execute': 'query-version'}"));
    qtest_assert_file_fds(f.s, 0);
    /* ... and is not picked up by a later add-fd. */
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd'}"), "GenericError",
                       NO_FD);
    close(fd);
    finish(&f, 0);
}
END_TEST

/* An fd sent with the first bytes of a command belongs to that command. */
START_TEST(test_fd_with_first_part_of_command)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);
    const char *cmd = "{\"execute\": \"add-fd\", \"arguments\": "
                      "{\"fdset-id\": 4}}";
    JsonNode *r;

    qtest_send_raw(f.c, cmd, 10, &fd, 1);
    g_usleep(20000);
    qtest_send_raw(f.c, cmd + 10, strlen(cmd) - 10, NULL, 0);
    r = qtest_recv_response(f.c, -1);
    ck_assert_ptr_nonnull(qtest_return_object(r));
    ck_assert(daemon_fd_is(
        &f, json_object_get_int_member(qtest_return_object(r), "fd"), "a.img"));
    json_node_unref(r);
    close(fd);
    finish(&f, 0);
}
END_TEST

/* An fd sent ahead of a command that takes none goes with that command. */
START_TEST(test_fd_ahead_of_query_version_closed)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_send_raw(f.c, " ", 1, &fd, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'query-version'}"));
    qtest_assert_file_fds(f.s, 0);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'add-fd'}"), "GenericError",
                       NO_FD);
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
    qtest_assert_file_fds(f.s, 2);
    qtest_assert_fds_match_registry(f.s, f.c, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'later'}}"));
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 2}}"));
    qtest_assert_file_fds(f.s, 0);
    close(a);
    close(b);
    finish(&f, 0);
}
END_TEST

/* iotest 045: sets added as 1,1,0,2,2 come back as 2,1,0, oldest first. */
START_TEST(test_query_ordering)
{
    Fixture f = start(NULL);
    static const struct {
        int set;
        const char *opaque;
        int mode;
    } add[] = {
        {1, "image0:r", O_RDONLY}, {1, "image1:w+", O_RDWR},
        {0, "image2:r", O_RDONLY}, {2, "image3:r", O_RDONLY},
        {2, "image4:r", O_RDONLY},
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
    qtest_assert_file_fds(f.s, 2);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 0}}"));
    assert_summary(f.c, "");
    qtest_assert_file_fds(f.s, 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_remove_fd_one_member)
{
    Fixture f = start(NULL);
    int ro = add_fd_ok(&f, "a.img", O_RDONLY, 3, NULL, NULL);
    int rw = add_fd_ok(&f, "a.img", O_RDWR, 3, NULL, NULL);

    qtest_assert_success(qtest_qmp(f.c,
                                   "{'execute': 'remove-fd', 'arguments':"
                                   " {'fdset-id': 3, 'fd': %d}}",
                                   rw));
    {
        g_autofree char *want = g_strdup_printf("3[#%d]", ro);
        assert_summary(f.c, want);
    }
    ck_assert_str_eq(qtest_fd_mode(f.s, ro), "ro");
    ck_assert_ptr_null(qtest_fd_mode(f.s, rw));
    qtest_assert_success(qtest_qmp(f.c,
                                   "{'execute': 'remove-fd', 'arguments':"
                                   " {'fdset-id': 3, 'fd': %d}}",
                                   ro));
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
                       "GenericError",
                       "File descriptor named "
                       "'fdset-id:42, fd:99999' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'remove-fd', 'arguments': "
                                      "{'fdset-id': 3, 'fd': 99999}}"),
                       "GenericError",
                       "File descriptor named "
                       "'fdset-id:3, fd:99999' not found");
    /* A member of another set is not a member of this one. */
    add_fd_ok(&f, "a.img", O_RDONLY, 7, NULL, NULL);
    gone = g_strdup_printf("File descriptor named 'fdset-id:7, fd:%d' "
                           "not found",
                           ro);
    qtest_assert_error(qtest_qmp(f.c,
                                 "{'execute': 'remove-fd', 'arguments': "
                                 "{'fdset-id': 7, 'fd': %d}}",
                                 ro),
                       "GenericError", gone);
    /* Removed twice. */
    qtest_assert_success(qtest_qmp(f.c,
                                   "{'execute': 'remove-fd', 'arguments':"
                                   " {'fdset-id': 3, 'fd': %d}}",
                                   rw));
    g_free(gone);
    gone = g_strdup_printf("File descriptor named 'fdset-id:3, fd:%d' "
                           "not found",
                           rw);
    qtest_assert_error(qtest_qmp(f.c,
                                 "{'execute': 'remove-fd', 'arguments': "
                                 "{'fdset-id': 3, 'fd': %d}}",
                                 rw),
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

static void blockdev_add_ro(QTestConn *c, const char *node, int set)
{
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'blockdev-add', "
                                   "'arguments': {'driver': 'file', "
                                   "'node-name': '%s', 'filename': "
                                   "'/dev/fdset/%d', 'read-only': true}}",
                                   node, set));
}

static void blockdev_del(QTestConn *c, const char *node)
{
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'blockdev-del', "
                                   "'arguments': {'node-name': '%s'}}",
                                   node));
}

/* p17: the member goes at once, the set stays empty until its dup goes. */
START_TEST(test_remove_fd_while_in_use)
{
    Fixture f = start(NULL);

    add_fd_ok(&f, "a.img", O_RDONLY, 1, NULL, NULL);
    blockdev_add_ro(f.c, "n1", 1);
    qtest_assert_file_fds(f.s, 2);
    ck_assert_int_eq(qtest_fdset_dup_count(f.c, 1), 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 1}}"));
    assert_summary(f.c, "1[]");
    ck_assert_int_eq(qtest_fdset_dup_count(f.c, 1), 1);
    qtest_assert_file_fds(f.s, 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    /* A set left with dups only: remove-fd without fd changes nothing. */
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'remove-fd', "
                                        "'arguments': {'fdset-id': 1}}"));
    assert_summary(f.c, "1[]");
    blockdev_del(f.c, "n1");
    assert_summary(f.c, "");
    qtest_assert_file_fds(f.s, 0);
    finish(&f, 0);
}
END_TEST

/* ---------------------------------------------------------- named fds */

START_TEST(test_getfd_closefd)
{
    Fixture f = start(NULL);
    int fd = open_img(&f, "a.img", O_RDONLY);

    qtest_assert_success(qtest_qmp_fds(f.c, &fd, 1,
                                       "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'disk0'}}"));
    close(fd);
    qtest_assert_file_fds(f.s, 1);
    assert_summary(f.c, "");
    qtest_assert_fds_match_registry(f.s, f.c, 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'disk0'}}"));
    qtest_assert_file_fds(f.s, 0);
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

    qtest_assert_error(qtest_qmp_fds(f.c, &fd, 1,
                                     "{'execute': 'getfd', "
                                     "'arguments': {'fdname': '0image0:r'}}"),
                       "GenericError",
                       "Parameter 'fdname' expects a name "
                       "not starting with a digit");
    close(fd);
    qtest_assert_file_fds(f.s, 0);
    finish(&f, 0);
}
END_TEST

START_TEST(test_getfd_replace_closes_old)
{
    Fixture f = start(NULL);
    int a = open_img(&f, "a.img", O_RDONLY);
    int b = open_img(&f, "b.img", O_RDWR);
    g_autofree char *bpath = g_build_filename(qtest_tmpdir(f.s), "b.img", NULL);
    struct stat want;
    guint found = 0;
    int fd;

    qtest_assert_success(qtest_qmp_fds(f.c, &a, 1,
                                       "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'x'}}"));
    qtest_assert_success(qtest_qmp_fds(f.c, &b, 1,
                                       "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'x'}}"));
    close(a);
    close(b);
    qtest_assert_file_fds(f.s, 1);
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

/*
 * getfd names belong to the monitor, as in QEMU 7.2 (fdset-spec §8): they
 * survive the connection that sent them and a reconnect to the same
 * socket finds them; another monitor cannot see them; a name is taken
 * once; closefd closes.  Only the daemon's exit closes the rest.
 */
START_TEST(test_named_fds_per_monitor)
{
    QTestState *s = qtest_spawn_full(NULL, 2, NULL, 0);
    QTestConn *a = qtest_connect(s, 0);
    QTestConn *other = qtest_connect(s, 1);
    QTestConn *b;
    g_autofree char *img = qtest_make_file(s, "a.img", 4096, 'a');
    int fd = qtest_open_file(s, "a.img", O_RDONLY);

    qtest_assert_success(qtest_qmp_fds(a, &fd, 1,
                                       "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'n'}}"));
    qtest_assert_success(qtest_qmp_fds(a, &fd, 1,
                                       "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'm'}}"));
    close(fd);
    qtest_assert_file_fds(s, 2);
    qtest_disconnect(a);
    /* the disconnect is handled: the other monitor answers after it */
    qtest_assert_error(qtest_qmp(other, "{'execute': 'closefd', "
                                        "'arguments': {'fdname': 'n'}}"),
                       "GenericError", "File descriptor named 'n' not found");
    qtest_assert_file_fds(s, 2); /* kept across the disconnect */
    b = qtest_connect(s, 0);
    qtest_assert_success(qtest_qmp(b, "{'execute': 'closefd', "
                                      "'arguments': {'fdname': 'n'}}"));
    qtest_assert_file_fds(s, 1);
    qtest_assert_error(qtest_qmp(b, "{'execute': 'closefd', "
                                    "'arguments': {'fdname': 'n'}}"),
                       "GenericError", "File descriptor named 'n' not found");
    qtest_disconnect(b);
    qtest_disconnect(other);
    /* 'm' is still held: the daemon's exit closes it */
    qtest_assert_file_fds(s, 1);
    ck_assert_int_eq(qtest_quit(s), 0);
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
    int rw =
        add_fd_ok(&f, "b.img", O_RDWR | O_SYNC | O_NONBLOCK, 2, NULL, NULL);
    g_autofree char *apath = g_build_filename(qtest_tmpdir(f.s), "a.img", NULL);
    JsonNode *r = query(f.c);
    JsonArray *sets = qtest_return_array(r);
    JsonObject *m;
    struct stat st;

    ck_assert_int_eq(stat(apath, &st), 0);
    m = qtest_fdsets_find_member(sets, ro, NULL);
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "read-only");
    ck_assert_int_eq(json_object_get_int_member(m, "ino"), st.st_ino);
    ck_assert_int_eq(json_object_get_int_member(m, "dev"), st.st_dev);
    ck_assert(!json_object_get_boolean_member(m, "persistent"));
    ck_assert_uint_eq(
        json_array_get_length(json_object_get_array_member(m, "flags")), 0);
    m = qtest_fdsets_find_member(sets, wo, NULL);
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "write-only");
    ck_assert(has_flag(m, "append") && !has_flag(m, "direct"));
    m = qtest_fdsets_find_member(sets, rw, NULL);
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
    g_autofree char *path = g_build_filename(qtest_tmpdir(f.s), "a.img", NULL);
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
    ck_assert(has_flag(
        qtest_fdsets_find_member(qtest_return_array(r), dfd, NULL), "direct"));
    json_node_unref(r);
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
    tcase_add_test(tc, test_fd_with_first_part_of_command);
    tcase_add_test(tc, test_fd_ahead_of_query_version_closed);
    tcase_add_test(tc, test_query_ordering);
    tcase_add_test(tc, test_remove_fd_whole_set);
    tcase_add_test(tc, test_remove_fd_one_member);
    tcase_add_test(tc, test_remove_fd_errors);
    tcase_add_test(tc, test_remove_fd_while_in_use);
    tcase_add_test(tc, test_getfd_closefd);
    tcase_add_test(tc, test_getfd_digit_name);
    tcase_add_test(tc, test_getfd_replace_closes_old);
    tcase_add_test(tc, test_named_fds_per_monitor);
    tcase_add_test(tc, test_query_member_details);
    tcase_add_test(tc, test_query_direct_flag);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
