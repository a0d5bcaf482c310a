/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util/sd-daemon.c: LISTEN_* parsing and clearing, sd_notify datagrams to
 * a socket the test binds (path and abstract name).
 */
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qemu/sd-daemon.h"
#include "unit-helpers.h"

static void teardown(void)
{
    systemd_notify_close();
    g_unsetenv("NOTIFY_SOCKET");
}

static void parse_ok(const char *pid, const char *fds, const char *names,
                     pid_t self, guint want_n, const char *want_names)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) got = NULL;
    g_autofree char *joined = NULL;
    guint n = 99;

    ck_assert_msg(systemd_listen_parse(pid, fds, names, self, &n, &got, &err),
                  "%s", err ? err->message : "");
    ck_assert_uint_eq(n, want_n);
    if (!want_names) {
        ck_assert_ptr_null(got);
        return;
    }
    ck_assert_uint_eq(g_strv_length(got), n);
    joined = g_strjoinv("|", got);
    ck_assert_str_eq(joined, want_names);
}

static void parse_fails(const char *pid, const char *fds, const char *names,
                        const char *want)
{
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) got = NULL;
    guint n = 99;

    ck_assert(!systemd_listen_parse(pid, fds, names, 42, &n, &got, &err));
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(got);
    ck_assert_str_eq(err->message, want);
}

START_TEST(test_parse_not_for_us)
{
    parse_ok(NULL, NULL, NULL, 42, 0, NULL);
    parse_ok(NULL, "2", "qmp:nbd", 42, 0, NULL);
    parse_ok("42", NULL, NULL, 42, 0, NULL);
    /* another process's: not checked further, not taken */
    parse_ok("43", "2", "qmp", 42, 0, NULL);
}
END_TEST

START_TEST(test_parse_for_us)
{
    parse_ok("42", "0", NULL, 42, 0, "");
    parse_ok("42", "1", NULL, 42, 1, "");
    parse_ok("42", "3", NULL, 42, 3, "||");
    parse_ok("42", "2", "qmp:nbd", 42, 2, "qmp|nbd");
    parse_ok("42", "3", "qmp::x.socket", 42, 3, "qmp||x.socket");
    parse_ok("42", "1", "", 42, 1, "");
    parse_ok("42", "2", "", 42, 2, "|");
}
END_TEST

START_TEST(test_parse_malformed)
{
    parse_fails("x42", "1", NULL,
                "LISTEN_PID='x42' is not a number from 1 to 2147483647");
    parse_fails("0", "1", NULL,
                "LISTEN_PID='0' is not a number from 1 to 2147483647");
    parse_fails("42", "-1", NULL,
                "LISTEN_FDS='-1' is not a number from 0 to 1024");
    parse_fails("42", "1025", NULL,
                "LISTEN_FDS='1025' is not a number from 0 to 1024");
    parse_fails("42", "2", "qmp",
                "LISTEN_FDNAMES='qmp' names 1 socket but LISTEN_FDS=2");
    parse_fails("42", "1", "qmp:nbd",
                "LISTEN_FDNAMES='qmp:nbd' names 2 sockets but LISTEN_FDS=1");
}
END_TEST

static void set_listen_env(const char *pid, const char *fds, const char *n)
{
    g_setenv("LISTEN_PID", pid, TRUE);
    g_setenv("LISTEN_FDS", fds, TRUE);
    if (n) {
        g_setenv("LISTEN_FDNAMES", n, TRUE);
    } else {
        g_unsetenv("LISTEN_FDNAMES");
    }
}

static void assert_listen_env_cleared(void)
{
    ck_assert_ptr_null(g_getenv("LISTEN_PID"));
    ck_assert_ptr_null(g_getenv("LISTEN_FDS"));
    ck_assert_ptr_null(g_getenv("LISTEN_FDNAMES"));
}

START_TEST(test_take_clears_env_when_not_ours)
{
    g_autofree char *other = g_strdup_printf("%d", (int)getpid() + 1);
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) names = NULL;

    set_listen_env(other, "1", "qmp");
    ck_assert_int_eq(systemd_listen_fds_take(&names, &err), 0);
    ck_assert_ptr_null(names);
    assert_listen_env_cleared();
}
END_TEST

START_TEST(test_take_zero)
{
    g_autofree char *self = g_strdup_printf("%d", (int)getpid());
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) names = NULL;

    set_listen_env(self, "0", "qmp");
    /* a name for a socket that LISTEN_FDS says is not there: malformed */
    ck_assert_int_eq(systemd_listen_fds_take(&names, &err), -1);
    assert_listen_env_cleared();
    g_clear_error(&err);
    g_setenv("LISTEN_PID", self, TRUE);
    g_setenv("LISTEN_FDS", "0", TRUE);
    ck_assert_int_eq(systemd_listen_fds_take(&names, &err), 0);
    ck_assert_ptr_nonnull(names);
    ck_assert_ptr_null(names[0]);
    assert_listen_env_cleared();
}
END_TEST

/* An fd that is not open fails the whole take and marks nothing. */
START_TEST(test_take_missing_fd)
{
    g_autofree char *self = g_strdup_printf("%d", (int)getpid());
    g_autoptr(GError) err = NULL;
    g_auto(GStrv) names = NULL;
    int last = SYSTEMD_LISTEN_FDS_START + SYSTEMD_LISTEN_FDS_MAX - 1;
    bool was_cloexec = fd_is_cloexec(SYSTEMD_LISTEN_FDS_START);

    ck_assert(fd_is_closed(last));
    set_listen_env(self, "1024", NULL);
    ck_assert_int_eq(systemd_listen_fds_take(&names, &err), -1);
    ck_assert_ptr_nonnull(strstr(err->message, ": Bad file descriptor"));
    ck_assert(g_str_has_prefix(err->message, "LISTEN_FDS=1024: fd "));
    ck_assert(fd_is_cloexec(SYSTEMD_LISTEN_FDS_START) == was_cloexec);
    ck_assert_ptr_null(names);
    assert_listen_env_cleared();
}
END_TEST

/* A datagram socket bound at @addr ("/path" or "@name"). */
static int bind_receiver(const char *addr)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t len = offsetof(struct sockaddr_un, sun_path) + strlen(addr);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    memcpy(sa.sun_path, addr, strlen(addr));
    if (addr[0] == '@') {
        sa.sun_path[0] = '\0';
    } else {
        len++;
    }
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s",
                  addr, g_strerror(errno));
    return fd;
}

static char *recv_datagram(int fd)
{
    char buf[4096];
    ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

    ck_assert_msg(n >= 0, "no datagram: %s", g_strerror(errno));
    return g_strndup(buf, n);
}

static void notify_roundtrip(const char *addr)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *got = NULL;
    int rfd = bind_receiver(addr);

    g_setenv("NOTIFY_SOCKET", addr, TRUE);
    ck_assert_msg(systemd_notify_open(&err), "%s", err ? err->message : "");
    ck_assert_ptr_null(g_getenv("NOTIFY_SOCKET"));
    ck_assert(systemd_notify_enabled());
    ck_assert(systemd_notify("READY=1\nSTATUS=up", &err));
    got = recv_datagram(rfd);
    ck_assert_str_eq(got, "READY=1\nSTATUS=up");
    g_free(g_steal_pointer(&got));
    systemd_notifyf("STATUS=%d sockets", 3);
    got = recv_datagram(rfd);
    ck_assert_str_eq(got, "STATUS=3 sockets");
    close(rfd);
}

START_TEST(test_notify_path)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "notify", NULL);

    notify_roundtrip(path);
    unlink(path);
}
END_TEST

START_TEST(test_notify_abstract)
{
    g_autofree char *name =
        g_strdup_printf("@fdsetd-test-notify-%d-%u", (int)getpid(),
                        g_random_int());

    notify_roundtrip(name);
}
END_TEST

START_TEST(test_notify_unset)
{
    g_autoptr(GError) err = NULL;

    g_unsetenv("NOTIFY_SOCKET");
    ck_assert(systemd_notify_open(&err));
    ck_assert(!systemd_notify_enabled());
    ck_assert(systemd_notify("READY=1", &err));
    g_setenv("NOTIFY_SOCKET", "", TRUE);
    ck_assert(systemd_notify_open(&err));
    ck_assert(!systemd_notify_enabled());
    ck_assert_ptr_null(g_getenv("NOTIFY_SOCKET"));
}
END_TEST

START_TEST(test_notify_bad_address)
{
    g_autoptr(GError) err = NULL;

    g_setenv("NOTIFY_SOCKET", "vsock:2:1234", TRUE);
    ck_assert(!systemd_notify_open(&err));
    ck_assert_str_eq(err->message, "NOTIFY_SOCKET='vsock:2:1234': only a "
                     "socket path or an @abstract name is supported");
    ck_assert(!systemd_notify_enabled());
    ck_assert_ptr_null(g_getenv("NOTIFY_SOCKET"));
    g_clear_error(&err);
    g_setenv("NOTIFY_SOCKET", "/nonexistent-dir/notify", TRUE);
    ck_assert(!systemd_notify_open(&err));
    ck_assert_str_eq(err->message, "NOTIFY_SOCKET='/nonexistent-dir/notify':"
                     " No such file or directory");
}
END_TEST

/* The manager went away: reported, and nothing else happens. */
START_TEST(test_notify_receiver_gone)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "gone", NULL);
    g_autoptr(GError) err = NULL;
    int rfd = bind_receiver(path);

    g_setenv("NOTIFY_SOCKET", path, TRUE);
    ck_assert(systemd_notify_open(&err));
    close(rfd);
    unlink(path);
    ck_assert(!systemd_notify("READY=1", &err));
    ck_assert(g_str_has_prefix(err->message,
                               "Could not notify the service manager: "));
    systemd_notifyf("STOPPING=1"); /* ignored */
    ck_assert(systemd_notify_enabled());
}
END_TEST

static Suite *sd_daemon_suite(void)
{
    Suite *s = suite_create("sd-daemon");
    TCase *tc = tcase_create("sd-daemon");

    tcase_add_checked_fixture(tc, NULL, teardown);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_parse_not_for_us);
    tcase_add_test(tc, test_parse_for_us);
    tcase_add_test(tc, test_parse_malformed);
    tcase_add_test(tc, test_take_clears_env_when_not_ours);
    tcase_add_test(tc, test_take_zero);
    tcase_add_test(tc, test_take_missing_fd);
    tcase_add_test(tc, test_notify_path);
    tcase_add_test(tc, test_notify_abstract);
    tcase_add_test(tc, test_notify_unset);
    tcase_add_test(tc, test_notify_bad_address);
    tcase_add_test(tc, test_notify_receiver_gone);
    return s;
}

int main(void)
{
    return unit_run(sd_daemon_suite());
}
