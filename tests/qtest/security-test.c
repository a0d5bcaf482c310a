/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What protects the daemon and its fds: --sandbox on (no path can be opened,
 * /dev/fdset/N still works), socket permissions, peer credentials, never
 * replacing a non-socket file, the audit trail and the limits query.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "libqtest.h"

/* A scratch directory that exists before the daemon starts. */
static char *make_dir(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("fdsetd-sec-XXXXXX", &err);

    ck_assert_msg(dir, "mkdtemp: %s", err ? err->message : "?");
    return dir;
}

static void remove_dir(char *dir)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    ck_assert_int_eq(system(cmd), 0);
    g_free(dir);
}

/* Connect and read what the server says first; NULL on EOF/timeout. */
static char *first_line(const char *path)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 5 };
    char buf[4096];
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ssize_t n;

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    ck_assert_int_ge(fd, 0);
    /* The daemon binds its sockets one after the other: this one may come
     * a moment after the first, which qtest_spawn waited for. */
    for (int i = 0; connect(fd, (struct sockaddr *)&addr, sizeof(addr)); i++) {
        ck_assert_msg(i < 500, "cannot connect to %s", path);
        g_usleep(10000);
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    close(fd);
    if (n <= 0) {
        return NULL;
    }
    buf[n] = '\0';
    return g_strdup(buf);
}

START_TEST(test_socket_is_0600_by_default)
{
    QTestState *s = qtest_spawn(NULL);
    struct stat st;

    ck_assert_int_eq(stat(qtest_socket_path(s, 0), &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

START_TEST(test_socket_mode_option)
{
    char *dir = make_dir();
    g_autofree char *path = g_build_filename(dir, "m.sock", NULL);
    g_autofree char *args = g_strdup_printf(
        "--qmp unix:%s,server=on,wait=off,mode=0660", path);
    QTestState *s = qtest_spawn(args);
    g_autofree char *greeting = first_line(path);
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0660);
    ck_assert_ptr_nonnull(strstr(greeting, "\"QMP\""));
    ck_assert_int_eq(qtest_quit(s), 0);
    remove_dir(dir);
}
END_TEST

START_TEST(test_non_socket_file_is_never_replaced)
{
    char *dir = make_dir();
    g_autofree char *path = g_build_filename(dir, "precious", NULL);
    g_autofree char *args = g_strdup_printf(
        "--qmp unix:%s,server=on,wait=off", path);
    g_autofree char *err = NULL;
    g_autofree char *content = NULL;
    int status;

    ck_assert(g_file_set_contents(path, "keep me", -1, NULL));
    status = qtest_spawn_expect_fail(args, NULL, 0, &err);
    ck_assert_msg(status == 1, "exit status %d", status);
    ck_assert_msg(strstr(err, "exists and is not a socket; not replacing it"),
                  "stderr: %s", err);
    ck_assert(g_file_get_contents(path, &content, NULL, NULL));
    ck_assert_str_eq(content, "keep me");
    remove_dir(dir);
}
END_TEST

START_TEST(test_stale_socket_is_replaced)
{
    char *dir = make_dir();
    g_autofree char *path = g_build_filename(dir, "stale.sock", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_autofree char *args = g_strdup_printf(
        "--qmp unix:%s,server=on,wait=off", path);
    QTestState *s;
    g_autofree char *greeting = NULL;

    g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd); /* leaves a socket file nobody listens on */
    s = qtest_spawn(args);
    greeting = first_line(path);
    ck_assert_ptr_nonnull(greeting);
    ck_assert_int_eq(qtest_quit(s), 0);
    remove_dir(dir);
}
END_TEST

START_TEST(test_peer_uid_refuses_other_users)
{
    char *dir = make_dir();
    g_autofree char *denied = g_build_filename(dir, "denied.sock", NULL);
    g_autofree char *allowed = g_build_filename(dir, "allowed.sock", NULL);
    /* Nobody runs the test as uid 4242; our own uid is in the second list. */
    g_autofree char *args = g_strdup_printf(
        "--qmp unix:%s,server=on,wait=off,peer-uid=4242 "
        "--qmp unix:%s,server=on,wait=off,peer-uid=4242:%u",
        denied, allowed, (unsigned)getuid());
    QTestState *s = qtest_spawn(args);
    g_autofree char *none = first_line(denied);
    g_autofree char *greeting = first_line(allowed);
    QTestConn *c = qtest_connect(s, 0);

    ck_assert_ptr_null(none);
    ck_assert_ptr_nonnull(strstr(greeting, "\"QMP\""));
    /* The refused client left nothing behind. */
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    remove_dir(dir);
}
END_TEST

START_TEST(test_sandbox_refuses_paths_serves_fdsets)
{
    QTestState *s;
    QTestConn *c;
    g_autofree char *img = NULL;
    g_autofree char *req = NULL;
    g_autofree char *want = NULL;
    int fd;

    /* LeakSanitizer reads /proc at exit, which the sandbox forbids. */
    g_setenv("ASAN_OPTIONS", "detect_leaks=0", TRUE);
    s = qtest_spawn("--sandbox on");
    c = qtest_connect(s, 0);
    img = qtest_make_file(s, "a.img", 65536, 'a');

    req = g_strdup_printf("{'execute': 'blockdev-add', 'arguments': "
                          "{'driver': 'file', 'node-name': 'plain', "
                          "'filename': '%s', 'read-only': true}}", img);
    want = g_strdup_printf("Could not open '%s': Permission denied", img);
    qtest_assert_error(qtest_qmp(c, "%s", req), "GenericError", want);

    fd = qtest_open_file(s, "a.img", O_RDONLY);
    qtest_add_fd(c, fd, 1, "a:ro", NULL);
    close(fd);
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'node-name': 'viafd', 'filename': '/dev/fdset/1', "
           "'read-only': true}}"));
    ck_assert_uint_eq(qtest_fdset_dup_count(c, 1), 1);
    qtest_assert_fds_match_registry(s, c, 0);
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-del', 'arguments': "
           "{'node-name': 'viafd'}}"));
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
    g_unsetenv("ASAN_OPTIONS");
}
END_TEST

/* Wait (up to 5 s) for @path to be gone. */
static bool wait_gone(const char *path)
{
    for (int i = 0; i < 500; i++) {
        if (access(path, F_OK) < 0 && errno == ENOENT) {
            return true;
        }
        g_usleep(10000);
    }
    return false;
}

/* The sandbox forbids removing names: a helper removes the socket and the
 * pidfile once the daemon is gone, after quit as after SIGKILL. */
START_TEST(test_sandbox_exit_removes_socket_and_pidfile)
{
    /* outside the test state's directory, which the harness removes */
    char *dir = make_dir();
    g_autofree char *pidfile = g_build_filename(dir, "d.pid", NULL);
    g_autofree char *sock = g_build_filename(dir, "extra.sock", NULL);
    g_autofree char *args = g_strdup_printf(
        "--sandbox on --pidfile %s --qmp unix:%s,server=on,wait=off", pidfile,
        sock);
    QTestState *s;

    g_setenv("ASAN_OPTIONS", "detect_leaks=0", TRUE);
    for (int round = 0; round < 2; round++) {
        s = qtest_spawn(args);
        /* the greeting comes once start-up is over, pidfile written */
        qtest_connect(s, 0);
        ck_assert(access(pidfile, F_OK) == 0);
        ck_assert(access(sock, F_OK) == 0);
        if (round == 0) {
            ck_assert_int_eq(qtest_quit(s), 0);
        } else {
            qtest_kill(s); /* no clean-up by the daemon at all */
        }
        ck_assert_msg(wait_gone(sock), "socket %s left behind", sock);
        ck_assert_msg(wait_gone(pidfile), "pidfile left behind");
    }
    g_unsetenv("ASAN_OPTIONS");
    remove_dir(dir);
}
END_TEST

/* Lines of @path that contain every one of @parts. */
static guint count_lines(const char *text, const char *const *parts)
{
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    guint n = 0;

    for (guint i = 0; lines[i]; i++) {
        bool all = true;
        for (guint j = 0; parts[j]; j++) {
            all = all && strstr(lines[i], parts[j]);
        }
        n += all && *lines[i];
    }
    return n;
}

START_TEST(test_audit_trail_traces_every_fd)
{
    char *dir = make_dir();
    g_autofree char *log = g_build_filename(dir, "audit.log", NULL);
    g_autofree char *args = g_strdup_printf("--audit %s", log);
    QTestState *s = qtest_spawn(args);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *text = NULL;
    int fd, member;

    g_free(qtest_make_file(s, "a.img", 4096, 'a'));
    fd = qtest_open_file(s, "a.img", O_RDONLY);
    member = qtest_add_fd(c, fd, 3, "tag \"quoted\"", NULL);
    close(fd);
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'node-name': 'n', 'filename': '/dev/fdset/3', "
           "'read-only': true}}"));
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'n'}}"));
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': 3}}"));
    qtest_assert_fds_match_registry(s, c, 1); /* the audit file */
    ck_assert_int_eq(qtest_quit(s), 0);

    ck_assert(g_file_get_contents(log, &text, NULL, NULL));
    g_autofree char *m = g_strdup_printf("fd=%d", member);
    g_autofree char *mm = g_strdup_printf("member=%d", member);
    const char *const add[] = { "event=add", "fdset=3", m, NULL };
    const char *const dup[] = { "event=dup", "fdset=3", mm, "flags=0x0",
                                "dup=", NULL };
    const char *const rel[] = { "event=release", "fdset=3", NULL };
    const char *const rem[] = { "event=remove", "fdset=3", m,
                                "reason=remove-fd", NULL };
    const char *const fre[] = { "event=free", "fdset=3", NULL };
    ck_assert_msg(count_lines(text, add) == 1, "audit:\n%s", text);
    ck_assert_msg(count_lines(text, dup) == 1, "audit:\n%s", text);
    ck_assert_msg(count_lines(text, rel) == 1, "audit:\n%s", text);
    ck_assert_msg(count_lines(text, rem) == 1, "audit:\n%s", text);
    ck_assert_msg(count_lines(text, fre) == 1, "audit:\n%s", text);
    /* The opaque cannot break the one-line-per-event format. */
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    ck_assert_uint_eq(g_strv_length(lines) - 1, 5);
    remove_dir(dir);
}
END_TEST

START_TEST(test_limits_visible_over_qmp)
{
    QTestState *s = qtest_spawn("--max-sets 7 --max-fds-per-set 3 "
                                "--max-connections 9 --max-json-depth 12 "
                                "--max-message-size 5000 "
                                "--max-fds-per-message 4 --strict-same-file");
    QTestConn *c = qtest_connect(s, 0);
    JsonNode *resp = qtest_qmp(c, "{'execute': 'query-fdsetd-limits'}");
    JsonObject *lim = qtest_return_object(resp);

    ck_assert_ptr_nonnull(lim);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-sets"), 7);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-fds-per-set"), 3);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-connections"), 9);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-json-depth"), 12);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-message-size"),
                     5000);
    ck_assert_int_eq(json_object_get_int_member(lim, "max-fds-per-message"),
                     4);
    ck_assert(json_object_get_boolean_member(lim, "strict-same-file"));
    ck_assert_int_gt(json_object_get_int_member(lim, "max-fds-total"), 0);
    json_node_unref(resp);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

START_TEST(test_bad_limit_option_fails_start)
{
    g_autofree char *err = NULL;
    int status = qtest_spawn_expect_fail("--max-sets 0", NULL, 0, &err);

    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(err, "max-sets"), "stderr: %s", err);
}
END_TEST

START_TEST(test_named_fds_are_bounded)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *img = qtest_make_file(s, "n.img", 512, 'n');
    int fd = qtest_open_file(s, "n.img", O_RDONLY);
    guint before;

    for (int i = 0; i < 256; i++) {
        qtest_assert_success(qtest_qmp_fds(
            c, &fd, 1, "{'execute': 'getfd', 'arguments': "
                       "{'fdname': 'n%d'}}", i));
    }
    before = qtest_count_fds(s);
    qtest_assert_error(qtest_qmp_fds(c, &fd, 1, "{'execute': 'getfd', "
                                     "'arguments': {'fdname': 'one-more'}}"),
                       "GenericError", "Too many named file descriptors on "
                       "this monitor (limit 256)");
    ck_assert_uint_eq(qtest_count_fds(s), before);
    /* replacing a name is still fine */
    qtest_assert_success(qtest_qmp_fds(c, &fd, 1, "{'execute': 'getfd', "
                                       "'arguments': {'fdname': 'n7'}}"));
    close(fd);
    qtest_assert_fds_match_registry(s, c, 256);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

static Suite *security_suite(void)
{
    Suite *s = suite_create("security");
    TCase *tc = tcase_create("security");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_socket_is_0600_by_default);
    tcase_add_test(tc, test_socket_mode_option);
    tcase_add_test(tc, test_non_socket_file_is_never_replaced);
    tcase_add_test(tc, test_stale_socket_is_replaced);
    tcase_add_test(tc, test_peer_uid_refuses_other_users);
    tcase_add_test(tc, test_sandbox_refuses_paths_serves_fdsets);
    tcase_add_test(tc, test_sandbox_exit_removes_socket_and_pidfile);
    tcase_add_test(tc, test_audit_trail_traces_every_fd);
    tcase_add_test(tc, test_limits_visible_over_qmp);
    tcase_add_test(tc, test_bad_limit_option_fails_start);
    tcase_add_test(tc, test_named_fds_are_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(security_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
