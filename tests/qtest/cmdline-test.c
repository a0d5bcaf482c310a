/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's own command line: qemu-storage-daemon style --chardev and
 * --monitor, --pidfile, --daemonize, signals, and option errors.
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libqtest.h"

static char *make_dir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("fdsetd-cmd-XXXXXX", &err);

    ck_assert_msg(dir, "mkdtemp: %s", err ? err->message : "?");
    return dir;
}

static void remove_dir(char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    ck_assert_int_eq(system(cmd), 0);
    g_free(dir);
}

static const char *daemon_binary(void)
{
    const char *bin = g_getenv("FDSETD_BINARY");

    return bin && *bin ? bin : "build/fdsetd";
}

/* Connect, negotiate and send one command; returns all that came back. */
static char *converse(const char *path, const char *command)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 5 };
    g_autoptr(GString) got = g_string_new("");
    g_autofree char *msg = g_strdup_printf(
        "{\"execute\": \"qmp_capabilities\"}\n%s\n", command);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char buf[4096];
    ssize_t n;

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    /* A socket after the first may be bound a moment later. */
    for (int i = 0; connect(fd, (struct sockaddr *)&addr, sizeof(addr)); i++) {
        ck_assert_msg(i < 500, "cannot connect to %s", path);
        g_usleep(10000);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(send(fd, msg, strlen(msg), MSG_NOSIGNAL),
                     (ssize_t)strlen(msg));
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
        g_string_append_len(got, buf, n);
        if (strstr(got->str, "\"return\"") &&
            g_strrstr(got->str, "\"return\"") != strstr(got->str,
                                                         "\"return\"")) {
            break; /* replies to both commands are in */
        }
    }
    close(fd);
    return g_strdup(got->str);
}

START_TEST(test_chardev_and_monitor)
{
    char *dir = make_dir();
    g_autofree char *path = g_build_filename(dir, "m.sock", NULL);
    g_autofree char *args = g_strdup_printf(
        "--chardev socket,id=mon1,path=%s,server=on,wait=off "
        "--monitor chardev=mon1,mode=control", path);
    QTestState *s = qtest_spawn(args);
    g_autofree char *got = converse(path, "{\"execute\": \"query-version\"}");

    ck_assert_msg(strstr(got, "\"package\""), "got: %s", got);
    ck_assert_int_eq(qtest_quit(s), 0);
    remove_dir(dir);
}
END_TEST

START_TEST(test_monitor_needs_a_known_chardev)
{
    g_autofree char *err = NULL;

    ck_assert_int_eq(
        qtest_spawn_expect_fail("--monitor chardev=nope", NULL, 0, &err), 1);
    ck_assert_msg(strstr(err, "chardev 'nope' not found"), "stderr: %s", err);
}
END_TEST

START_TEST(test_unknown_option_fails)
{
    g_autofree char *err = NULL;

    ck_assert_int_eq(qtest_spawn_expect_fail("--frobnicate", NULL, 0, &err),
                     1);
    ck_assert_msg(strstr(err, "unknown option '--frobnicate'"), "stderr: %s",
                  err);
}
END_TEST

START_TEST(test_client_mode_socket_is_refused)
{
    g_autofree char *err = NULL;

    ck_assert_int_eq(qtest_spawn_expect_fail(
                         "--qmp unix:/tmp/fdsetd-x.sock,server=off",
                         NULL, 0, &err), 1);
    ck_assert_msg(strstr(err, "only server=on sockets are supported"),
                  "stderr: %s", err);
}
END_TEST

START_TEST(test_sigterm_announces_shutdown)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *sock = g_strdup(qtest_socket_path(s, 0));
    JsonNode *ev;

    ck_assert_int_eq(kill(qtest_pid(s), SIGTERM), 0);
    ev = qtest_event_wait(c, "SHUTDOWN", 5000);
    ck_assert_ptr_nonnull(ev);
    JsonObject *data = json_object_get_object_member(
        json_node_get_object(ev), "data");
    ck_assert_str_eq(json_object_get_string_member(data, "reason"),
                     "host-signal");
    ck_assert(!json_object_get_boolean_member(data, "guest"));
    json_node_unref(ev);
    ck_assert(qtest_conn_eof(c, 5000));
    ck_assert_int_eq(qtest_wait_exit(s, 5000), 0);
    ck_assert(!g_file_test(sock, G_FILE_TEST_EXISTS));
    qtest_kill(s);
}
END_TEST

START_TEST(test_daemonize_and_pidfile)
{
    char *dir = make_dir();
    g_autofree char *path = g_build_filename(dir, "d.sock", NULL);
    g_autofree char *pidfile = g_build_filename(dir, "fdsetd.pid", NULL);
    g_autofree char *qmp = g_strdup_printf("unix:%s,server=on,wait=off",
                                           path);
    const char *argv[] = { daemon_binary(), "--qmp", qmp, "--daemonize",
                           "--pidfile", pidfile, NULL };
    g_autofree char *text = NULL;
    g_autofree char *got = NULL;
    gint status;
    pid_t pid;

    /* The parent returns once the daemon is ready: socket and pidfile. */
    ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL,
                           NULL, NULL, NULL, &status, NULL));
    ck_assert(g_spawn_check_wait_status(status, NULL));
    ck_assert(g_file_get_contents(pidfile, &text, NULL, NULL));
    pid = atoi(text);
    ck_assert_int_gt(pid, 1);
    ck_assert_int_eq(kill(pid, 0), 0);
    got = converse(path, "{\"execute\": \"quit\"}");
    ck_assert_msg(strstr(got, "host-qmp-quit"), "got: %s", got);
    for (int i = 0; i < 500 && kill(pid, 0) == 0; i++) {
        g_usleep(10000);
    }
    ck_assert_int_ne(kill(pid, 0), 0);
    ck_assert(!g_file_test(pidfile, G_FILE_TEST_EXISTS));
    remove_dir(dir);
}
END_TEST

static Suite *cmdline_suite(void)
{
    Suite *s = suite_create("cmdline");
    TCase *tc = tcase_create("cmdline");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_chardev_and_monitor);
    tcase_add_test(tc, test_monitor_needs_a_known_chardev);
    tcase_add_test(tc, test_unknown_option_fails);
    tcase_add_test(tc, test_client_mode_socket_is_refused);
    tcase_add_test(tc, test_sigterm_announces_shutdown);
    tcase_add_test(tc, test_daemonize_and_pidfile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cmdline_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
