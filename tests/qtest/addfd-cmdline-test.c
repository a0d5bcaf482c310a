/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -add-fd / --add-fd qtests: inherited fds put into sets at start-up, and
 * every start-up error in QEMU 7.2's order and wording
 * ("fdsetd: -add-fd fd=0,set=1: fd cannot be a standard I/O stream").
 */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libqtest.h"

/*
 * Files for the daemon to inherit, opened before it exists: they are
 * unlinked at once (the open fds keep them), so a failing test leaves
 * nothing behind.
 */
typedef struct Files {
    int ro, rw, other;
} Files;

static Files files_open(void)
{
    g_autofree char *dir = g_dir_make_tmp("fdsetd-addfd-XXXXXX", NULL);
    g_autofree char *a = NULL, *b = NULL;
    Files f;

    ck_assert_ptr_nonnull(dir);
    a = g_build_filename(dir, "a.img", NULL);
    b = g_build_filename(dir, "b.img", NULL);
    ck_assert(g_file_set_contents(a, "aaaa", 4, NULL));
    ck_assert(g_file_set_contents(b, "bbbb", 4, NULL));
    f.ro = open(a, O_RDONLY | O_CLOEXEC);
    f.rw = open(a, O_RDWR | O_CLOEXEC);
    f.other = open(b, O_RDONLY | O_CLOEXEC);
    unlink(a);
    unlink(b);
    rmdir(dir);
    ck_assert(f.ro >= 0 && f.rw >= 0 && f.other >= 0);
    return f;
}

static void files_close(Files *f)
{
    close(f->ro);
    close(f->rw);
    close(f->other);
}

static ino_t ino_of(int fd)
{
    struct stat st;

    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_ino;
}

static JsonObject *member_at(JsonArray *sets, guint set, guint member)
{
    JsonObject *s = json_array_get_object_element(sets, set);

    return json_array_get_object_element(json_object_get_array_member(s, "fds"),
                                         member);
}

static int member_fd(JsonArray *sets, guint set, guint member)
{
    return json_object_get_int_member(member_at(sets, set, member), "fd");
}

/* Daemon fd @dfd is a CLOEXEC dup of the test's @fd, in @mode. */
static void assert_dup_of(QTestState *s, int dfd, int fd, const char *mode)
{
    struct stat st;

    ck_assert(qtest_fd_stat(s, dfd, &st));
    ck_assert_int_eq(st.st_ino, ino_of(fd));
    ck_assert_str_eq(qtest_fd_mode(s, dfd), mode);
    ck_assert(qtest_fd_flags(s, dfd) & O_CLOEXEC);
}

/* p20 */
START_TEST(test_cmdline_sets_and_auto_ids)
{
    Files f = files_open();
    int inherit[] = {200, f.ro, 201, f.rw, 202, f.other};
    QTestState *s = qtest_spawn_full("-add-fd fd=200,set=1,opaque=ro "
                                     "-add-fd fd=201,set=1 "
                                     "-add-fd fd=202,set=4",
                                     1, inherit, 3);
    QTestConn *c;
    JsonNode *r;
    JsonArray *sets;
    int64_t id;
    int i;

    /* The inherited numbers are closed once every -add-fd is done. */
    ck_assert_ptr_null(qtest_fd_mode(s, 200));
    ck_assert_ptr_null(qtest_fd_mode(s, 201));
    ck_assert_ptr_null(qtest_fd_mode(s, 202));
    c = qtest_connect(s, 0);
    r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    sets = qtest_return_array(r);
    ck_assert_uint_eq(json_array_get_length(sets), 2);
    ck_assert_int_eq(json_object_get_int_member(
                         json_array_get_object_element(sets, 0), "fdset-id"),
                     4);
    assert_dup_of(s, member_fd(sets, 0, 0), f.other, "ro");
    assert_dup_of(s, member_fd(sets, 1, 0), f.ro, "ro");
    assert_dup_of(s, member_fd(sets, 1, 1), f.rw, "rw");
    ck_assert_str_eq(
        json_object_get_string_member(member_at(sets, 1, 0), "opaque"), "ro");
    ck_assert(!json_object_has_member(member_at(sets, 1, 1), "opaque"));
    ck_assert(
        json_object_get_boolean_member(member_at(sets, 1, 1), "persistent"));
    json_node_unref(r);
    /* Auto ids skip 1 and 4. */
    for (i = 0; i < 3; i++) {
        static const int want[] = {0, 2, 3};
        qtest_add_fd(c, f.ro, -1, NULL, &id);
        ck_assert_int_eq(id, want[i]);
    }
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

START_TEST(test_cmdline_double_dash_and_hex)
{
    Files f = files_open();
    int inherit[] = {200, f.ro};
    QTestState *s =
        qtest_spawn_full("--add-fd fd=0xc8,set=0x10", 1, inherit, 1);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    JsonArray *sets = qtest_return_array(r);

    ck_assert_uint_eq(json_array_get_length(sets), 1);
    ck_assert_int_eq(json_object_get_int_member(
                         json_array_get_object_element(sets, 0), "fdset-id"),
                     16);
    assert_dup_of(s, member_fd(sets, 0, 0), f.ro, "ro");
    json_node_unref(r);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

START_TEST(test_cmdline_same_fd_in_two_sets)
{
    Files f = files_open();
    int inherit[] = {200, f.rw};
    QTestState *s = qtest_spawn_full("-add-fd fd=200,set=1 "
                                     "-add-fd fd=200,set=2,opaque=again",
                                     1, inherit, 1);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    JsonArray *sets = qtest_return_array(r);

    ck_assert_uint_eq(json_array_get_length(sets), 2);
    ck_assert_int_ne(member_fd(sets, 0, 0), member_fd(sets, 1, 0));
    assert_dup_of(s, member_fd(sets, 0, 0), f.rw, "rw");
    assert_dup_of(s, member_fd(sets, 1, 0), f.rw, "rw");
    ck_assert_ptr_null(qtest_fd_mode(s, 200));
    json_node_unref(r);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

START_TEST(test_cmdline_opaque_doubled_comma)
{
    Files f = files_open();
    int inherit[] = {200, f.ro};
    QTestState *s =
        qtest_spawn_full("-add-fd 'fd=200,set=3,opaque=a,,b'", 1, inherit, 1);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");

    ck_assert_str_eq(json_object_get_string_member(
                         member_at(qtest_return_array(r), 0, 0), "opaque"),
                     "a,b");
    json_node_unref(r);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

/* -add-fd members belong to the process: no connection reaps them. */
START_TEST(test_cmdline_members_survive_disconnect)
{
    Files f = files_open();
    int inherit[] = {200, f.ro};
    QTestState *s = qtest_spawn_full("-add-fd fd=200,set=0", 1, inherit, 1);
    QTestConn *a = qtest_connect(s, 0);
    QTestConn *c;
    JsonNode *r;

    qtest_disconnect(a);
    c = qtest_connect(s, 0);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-version'}"));
    r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    ck_assert_uint_eq(json_array_get_length(qtest_return_array(r)), 1);
    json_node_unref(r);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

/* Start-up order: -add-fd comes before --blockdev. */
START_TEST(test_cmdline_set_serves_blockdev)
{
    Files f = files_open();
    int inherit[] = {200, f.ro};
    QTestState *s = qtest_spawn_full(
        "--blockdev driver=file,node-name=n1,filename=/dev/fdset/1,"
        "read-only=on -add-fd fd=200,set=1",
        1, inherit, 1);
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");

    ck_assert_int_eq(json_object_get_int_member(json_array_get_object_element(
                                                    qtest_return_array(r), 0),
                                                "dup-count"),
                     1);
    json_node_unref(r);
    qtest_assert_fds_match_registry(s, c, 0);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'n1'}}"));
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    files_close(&f);
}
END_TEST

/* ---------------------------------------------------------- errors */

typedef struct ErrorCase {
    const char *args; /* the daemon's extra arguments */
    bool inherit_200; /* put an open fd at 200 */
    const char *stderr_text;
} ErrorCase;

#define P "fdsetd: "
static const ErrorCase error_cases[] = {
    {"-add-fd fd=0,set=1", false,
     P "-add-fd fd=0,set=1: fd cannot be a standard I/O stream\n"},
    {"-add-fd fd=2,set=1", false,
     P "-add-fd fd=2,set=1: fd cannot be a standard I/O stream\n"},
    {"--add-fd fd=0,set=1", false,
     P "--add-fd fd=0,set=1: fd cannot be a standard I/O stream\n"},
    {"-add-fd set=1", false,
     P "-add-fd set=1: fd option is required and must be non-negative\n"},
    {"-add-fd fd=-1,set=1", false,
     P "-add-fd fd=-1,set=1: fd option is required and must be "
       "non-negative\n"},
    {"-add-fd fd=99,set=1", false,
     P "-add-fd fd=99,set=1: fd is not valid or already in use\n"},
    {"-add-fd fd=200", true,
     P "-add-fd fd=200: set option is required and must be "
       "non-negative\n"},
    {"-add-fd fd=200,set=-1", true,
     P "-add-fd fd=200,set=-1: set option is required and must be "
       "non-negative\n"},
    {"-add-fd fd=abc,set=1", false,
     P "-add-fd fd=abc,set=1: Parameter 'fd' expects a number\n"},
    {"-add-fd fd=0x,set=1", false,
     P "-add-fd fd=0x,set=1: Parameter 'fd' expects a number\n"},
    {"-add-fd fd=200,set=abc", true,
     P "-add-fd fd=200,set=abc: Parameter 'set' expects a number\n"},
    {"-add-fd fd=99999999999999999999,set=1", false,
     P "-add-fd fd=99999999999999999999,set=1: Value "
       "'99999999999999999999' is too large for parameter 'fd'\n"},
    {"-add-fd fd=200,set=1,foo=1", true,
     P "-add-fd fd=200,set=1,foo=1: Invalid parameter 'foo'\n"},
    /* QEMU's order: the fd checks come before the set check... */
    {"-add-fd fd=0", false,
     P "-add-fd fd=0: fd cannot be a standard I/O stream\n"},
    {"-add-fd fd=99", false,
     P "-add-fd fd=99: fd is not valid or already in use\n"},
    {"-add-fd fd=1,set=-1", false,
     P "-add-fd fd=1,set=-1: fd cannot be a standard I/O stream\n"},
    /* ...the last of a repeated key wins... */
    {"-add-fd fd=200,fd=99,set=1", true,
     P "-add-fd fd=200,fd=99,set=1: fd is not valid or already in use\n"},
    /* ...and every option is parsed before any is checked. */
    {"-add-fd fd=0,set=1 -add-fd fd=abc,set=2", false,
     P "-add-fd fd=abc,set=2: Parameter 'fd' expects a number\n"},
    {"-add-fd fd=200,set=1 -add-fd fd=0,set=2", true,
     P "-add-fd fd=0,set=2: fd cannot be a standard I/O stream\n"},
};

START_TEST(test_cmdline_error)
{
    const ErrorCase *ec = &error_cases[_i];
    Files f = files_open();
    int inherit[] = {200, f.ro};
    g_autofree char *err = NULL;
    int status;

    status = qtest_spawn_expect_fail(ec->args, inherit, ec->inherit_200 ? 1 : 0,
                                     &err);
    ck_assert_msg(status == 1, "'%s': exit status %d, stderr: %s", ec->args,
                  status, err);
    ck_assert_msg(g_str_equal(err, ec->stderr_text),
                  "'%s': stderr is\n%s\nexpected\n%s", ec->args, err,
                  ec->stderr_text);
    files_close(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("addfd-cmdline");
    TCase *tc = tcase_create("addfd-cmdline");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_cmdline_sets_and_auto_ids);
    tcase_add_test(tc, test_cmdline_double_dash_and_hex);
    tcase_add_test(tc, test_cmdline_same_fd_in_two_sets);
    tcase_add_test(tc, test_cmdline_opaque_doubled_comma);
    tcase_add_test(tc, test_cmdline_members_survive_disconnect);
    tcase_add_test(tc, test_cmdline_set_serves_blockdev);
    tcase_add_loop_test(tc, test_cmdline_error, 0, G_N_ELEMENTS(error_cases));
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
