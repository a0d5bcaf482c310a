/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdpass qtests: the built tool ($FDPASS_BINARY, else build/fdpass)
 * run against a real fdsetd, checked from a second connection.
 */
#include <check.h>
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
    char *img;
} Fixture;

typedef struct Run {
    int status;
    char *out, *err;
} Run;

static Fixture start(void)
{
    Fixture f;

    f.s = qtest_spawn(NULL);
    f.c = qtest_connect(f.s, 0);
    f.img = qtest_make_file(f.s, "a.img", 4096, 'a');
    return f;
}

static void finish(Fixture *f)
{
    qtest_assert_fds_match_registry(f->s, f->c, 0);
    ck_assert_int_eq(qtest_quit(f->s), 0);
    g_free(f->img);
}

static void run_free(Run *r)
{
    g_free(r->out);
    g_free(r->err);
}

static void stdin_from_file(gpointer path)
{
    int fd = open(path, O_RDONLY);

    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
}

/* fdpass SOCKET @args..., stdin from @input (NULL: /dev/null). */
static Run fdpass(Fixture *f, const char *input, const char *args)
{
    const char *bin = g_getenv("FDPASS_BINARY");
    g_autofree char *in_path = NULL;
    g_auto(GStrv) extra = NULL;
    GPtrArray *argv = g_ptr_array_new();
    GError *err = NULL;
    Run r = {0};
    int wstatus, i;

    g_ptr_array_add(argv, (char *)(bin && *bin ? bin : "build/fdpass"));
    g_ptr_array_add(argv, (char *)qtest_socket_path(f->s, 0));
    ck_assert(g_shell_parse_argv(args, NULL, &extra, NULL));
    for (i = 0; extra[i]; i++) {
        g_ptr_array_add(argv, extra[i]);
    }
    g_ptr_array_add(argv, NULL);
    if (input) {
        in_path = g_build_filename(qtest_tmpdir(f->s), "stdin.txt", NULL);
        ck_assert(g_file_set_contents(in_path, input, -1, NULL));
    }
    ck_assert_msg(g_spawn_sync(NULL, (char **)argv->pdata, NULL,
                               G_SPAWN_DEFAULT, input ? stdin_from_file : NULL,
                               in_path, &r.out, &r.err, &wstatus, &err),
                  "cannot run %s: %s", (char *)argv->pdata[0],
                  err ? err->message : "?");
    g_ptr_array_free(argv, TRUE);
    ck_assert_msg(WIFEXITED(wstatus), "fdpass died: %s", r.err);
    r.status = WEXITSTATUS(wstatus);
    return r;
}

static JsonNode *query(Fixture *f)
{
    JsonNode *r = qtest_qmp(f->c, "{'execute': 'query-fdsets'}");

    ck_assert_ptr_nonnull(qtest_return_array(r));
    return r;
}

static guint n_sets(Fixture *f)
{
    JsonNode *r = query(f);
    guint n = json_array_get_length(qtest_return_array(r));

    json_node_unref(r);
    return n;
}

/* Wait for the tool's disconnect to be handled: @n sets left. */
static void wait_n_sets(Fixture *f, guint n)
{
    gint64 deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

    while (n_sets(f) != n) {
        ck_assert_msg(g_get_monotonic_time() < deadline, "%u sets, expected %u",
                      n_sets(f), n);
        g_usleep(10000);
    }
}

START_TEST(test_fdpass_add_fd_persistent)
{
    Fixture f = start();
    g_autofree char *args = g_strdup_printf("add-fd --file %s --mode ro "
                                            "--fdset-id 3 --opaque 'a b'",
                                            f.img);
    Run r = fdpass(&f, NULL, args);
    JsonNode *q;
    JsonObject *set, *m;
    gint64 id, fd;
    struct stat want, st;

    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_int_eq(
        sscanf(r.out, "fdset-id %" G_GINT64_FORMAT " fd %" G_GINT64_FORMAT, &id,
               &fd),
        2);
    ck_assert_int_eq(id, 3);
    /* The tool has gone; the persistent member stays. */
    g_usleep(50000);
    q = query(&f);
    ck_assert_uint_eq(json_array_get_length(qtest_return_array(q)), 1);
    set = json_array_get_object_element(qtest_return_array(q), 0);
    m = json_array_get_object_element(json_object_get_array_member(set, "fds"),
                                      0);
    ck_assert_int_eq(json_object_get_int_member(m, "fd"), fd);
    ck_assert_str_eq(json_object_get_string_member(m, "opaque"), "a b");
    ck_assert_str_eq(json_object_get_string_member(m, "access-mode"),
                     "read-only");
    ck_assert(json_object_get_boolean_member(m, "persistent"));
    ck_assert_int_eq(stat(f.img, &want), 0);
    ck_assert(qtest_fd_stat(f.s, fd, &st));
    ck_assert_int_eq(st.st_ino, want.st_ino);
    json_node_unref(q);
    run_free(&r);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_add_fd_not_persistent_is_reaped)
{
    Fixture f = start();
    g_autofree char *args = g_strdup_printf("add-fd --file %s --mode rw "
                                            "--no-persistent",
                                            f.img);
    Run r = fdpass(&f, NULL, args);

    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_msg(g_str_has_prefix(r.out, "fdset-id 0 fd "), "%s", r.out);
    run_free(&r);
    /* Its connection is gone, and nothing used the set. */
    wait_n_sets(&f, 0);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_query_fdsets)
{
    Fixture f = start();
    g_autofree char *add = g_strdup_printf("add-fd --file %s --mode rw "
                                           "--fdset-id 5 --opaque disk",
                                           f.img);
    Run r = fdpass(&f, NULL, add);
    g_autoptr(JsonNode) p = NULL;
    JsonNode *q;

    ck_assert_int_eq(r.status, 0);
    run_free(&r);
    r = fdpass(&f, NULL, "query-fdsets");
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(g_str_has_prefix(r.out, "fdset 5") &&
                      strstr(r.out, "read-write") && strstr(r.out, "\"disk\""),
                  "pretty output: %s", r.out);
    run_free(&r);
    /* --json is exactly query-fdsets' return value. */
    r = fdpass(&f, NULL, "query-fdsets --json");
    ck_assert_int_eq(r.status, 0);
    p = json_from_string(r.out, NULL);
    ck_assert(p);
    q = query(&f);
    ck_assert(json_node_equal(
        p, json_object_get_member(json_node_get_object(q), "return")));
    json_node_unref(q);
    run_free(&r);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_remove_fd)
{
    Fixture f = start();
    int fd = qtest_open_file(f.s, "a.img", O_RDONLY);
    Run r;

    qtest_add_fd(f.c, fd, 2, NULL, NULL);
    close(fd);
    r = fdpass(&f, NULL, "remove-fd --fdset-id 2");
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_str_eq(r.out, "");
    run_free(&r);
    ck_assert_uint_eq(n_sets(&f), 0);
    r = fdpass(&f, NULL, "remove-fd --fdset-id 2");
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.err, "fdpass: File descriptor named 'fdset-id:2' "
                            "not found\n");
    run_free(&r);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_qmp_with_file)
{
    Fixture f = start();
    g_autofree char *args = g_strdup_printf(
        "qmp '{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"x\"}}' "
        "--file %s --mode ro",
        f.img);
    Run r = fdpass(&f, NULL, "qmp '{\"execute\": \"query-version\"}'");

    ck_assert_int_eq(r.status, 0);
    ck_assert_ptr_nonnull(strstr(r.out, "\"package\""));
    run_free(&r);
    /* The fd reaches the command. */
    r = fdpass(&f, NULL, args);
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_str_eq(g_strstrip(r.out), "{}");
    run_free(&r);
    r = fdpass(&f, NULL,
               "qmp '{\"execute\": \"getfd\", \"arguments\": "
               "{\"fdname\": \"x\"}}'");
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.err, "fdpass: No file descriptor supplied via "
                            "SCM_RIGHTS\n");
    run_free(&r);
    /* named fds belong to the monitor: the next connection closes it */
    r = fdpass(&f, NULL,
               "qmp '{\"execute\": \"closefd\", \"arguments\": "
               "{\"fdname\": \"x\"}}'");
    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    run_free(&r);
    finish(&f);
}
END_TEST

/*
 * One connection for several steps: a non-persistent member survives the
 * session's end because a block node made from it holds a dup; the set
 * goes with the node.
 */
START_TEST(test_fdpass_session)
{
    Fixture f = start();
    g_autofree char *input = g_strdup_printf(
        "# comment\n"
        "add-fd --file %s --mode ro --fdset-id 1 --no-persistent\n"
        "\n"
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
        "\"file\", \"node-name\": \"n1\", \"filename\": \"/dev/fdset/1\", "
        "\"read-only\": true}}\n"
        "query-fdsets\n",
        f.img);
    Run r = fdpass(&f, input, "session");

    ck_assert_msg(r.status == 0, "status %d: %s", r.status, r.err);
    ck_assert_msg(g_str_has_prefix(r.out, "fdset-id 1 fd ") &&
                      strstr(r.out, "(1 in use)"),
                  "output: %s", r.out);
    run_free(&r);
    g_usleep(50000);
    ck_assert_uint_eq(n_sets(&f), 1);
    qtest_assert_success(qtest_qmp(f.c, "{'execute': 'blockdev-del', "
                                        "'arguments': {'node-name': 'n1'}}"));
    ck_assert_uint_eq(n_sets(&f), 0);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_session_stops_at_error)
{
    Fixture f = start();
    Run r = fdpass(&f,
                   "remove-fd --fdset-id 9\n"
                   "qmp '{\"execute\": \"query-version\"}'\n",
                   "session");

    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_str_eq(r.err, "fdpass: File descriptor named 'fdset-id:9' "
                            "not found\n");
    run_free(&r);
    finish(&f);
}
END_TEST

START_TEST(test_fdpass_usage_errors)
{
    Fixture f = start();
    static const char *const bad[] = {
        "add-fd --mode ro", "add-fd --file x --mode rx",
        "remove-fd",        "remove-fd --fdset-id -1",
        "qmp '[1]'",        "no-such-command",
    };
    guint i;

    for (i = 0; i < G_N_ELEMENTS(bad); i++) {
        Run r = fdpass(&f, NULL, bad[i]);
        ck_assert_msg(r.status == 2, "'%s': status %d", bad[i], r.status);
        ck_assert_msg(g_str_has_prefix(r.err, "fdpass: "), "'%s': %s", bad[i],
                      r.err);
        run_free(&r);
    }
    finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("fdpass");
    TCase *tc = tcase_create("fdpass");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fdpass_add_fd_persistent);
    tcase_add_test(tc, test_fdpass_add_fd_not_persistent_is_reaped);
    tcase_add_test(tc, test_fdpass_query_fdsets);
    tcase_add_test(tc, test_fdpass_remove_fd);
    tcase_add_test(tc, test_fdpass_qmp_with_file);
    tcase_add_test(tc, test_fdpass_session);
    tcase_add_test(tc, test_fdpass_session_stops_at_error);
    tcase_add_test(tc, test_fdpass_usage_errors);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
