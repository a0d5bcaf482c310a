/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdsetd under a service manager, with the test playing the manager: it
 * binds the listening sockets and passes them as fds 3, 4, ... with
 * LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES (socket activation), and binds the
 * datagram socket NOTIFY_SOCKET names, reading READY=1, STATUS= and
 * STOPPING=1 from it (sd_notify).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#define TIMEOUT_MS 10000

typedef struct SpawnOpts {
    guint n_passed;      /* listening unix sockets passed as fds 3.. */
    const char *fdnames; /* LISTEN_FDNAMES, NULL: unset */
    bool wrong_pid;      /* LISTEN_PID names another process */
    int bad_fd;          /* passed as the last fd instead of a socket */
    bool own_qmp;        /* and a --qmp socket the daemon binds itself */
    const char *notify;  /* NULL, "path" or "abstract" */
    const char *extra;   /* more daemon arguments */
} SpawnOpts;

typedef struct Svc {
    pid_t pid;
    char *dir;
    char *err_path;
    char *passed[8];  /* paths of the passed sockets */
    char *own;        /* the --qmp path */
    int notify_fd;    /* the test's receiving end, -1 */
    char *notify_addr;
    int status;       /* exit status once reaped, -1 before */
} Svc;

static const char *daemon_binary(void)
{
    const char *bin = g_getenv("FDSETD_BINARY");

    return bin && *bin ? bin : "build/fdsetd";
}

static socklen_t unix_addr(const char *addr, struct sockaddr_un *sa)
{
    size_t n = strlen(addr);

    *sa = (struct sockaddr_un){.sun_family = AF_UNIX};
    ck_assert_uint_lt(n, sizeof(sa->sun_path));
    memcpy(sa->sun_path, addr, n);
    if (addr[0] == '@') {
        sa->sun_path[0] = '\0';
        return offsetof(struct sockaddr_un, sun_path) + n;
    }
    return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

static int bind_socket(const char *addr, int type)
{
    struct sockaddr_un sa;
    socklen_t len = unix_addr(addr, &sa);
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s",
                  addr, g_strerror(errno));
    if (type == SOCK_STREAM) {
        ck_assert_int_eq(listen(fd, 16), 0);
    }
    return fd;
}

/* In the child: fds into place, the manager's variables, exec. */
static void G_GNUC_NORETURN child_exec(const SpawnOpts *o, int *fds, guint n,
                                       int errfd, char **argv)
{
    int high[10];

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (guint i = 0; i < n; i++) {
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
    }
    errfd = fcntl(errfd, F_DUPFD_CLOEXEC, 64);
    dup2(errfd, STDERR_FILENO);
    for (guint i = 0; i < n; i++) {
        dup2(high[i], 3 + i); /* dup2 clears FD_CLOEXEC: inherited */
    }
    g_unsetenv("LISTEN_FDNAMES");
    if (!o->notify) {
        g_unsetenv("NOTIFY_SOCKET");
    }
    if (n) {
        g_autofree char *pid = g_strdup_printf(
            "%d", (int)getpid() + (o->wrong_pid ? 1 : 0));
        g_autofree char *count = g_strdup_printf("%u", n);

        g_setenv("LISTEN_PID", pid, TRUE);
        g_setenv("LISTEN_FDS", count, TRUE);
        if (o->fdnames) {
            g_setenv("LISTEN_FDNAMES", o->fdnames, TRUE);
        }
    }
    execv(argv[0], argv);
    _exit(127);
}

static char **build_argv(const SpawnOpts *o, Svc *s)
{
    GPtrArray *av = g_ptr_array_new();
    g_auto(GStrv) extra = NULL;

    g_ptr_array_add(av, g_strdup(daemon_binary()));
    if (o->own_qmp) {
        s->own = g_build_filename(s->dir, "own.sock", NULL);
        g_ptr_array_add(av, g_strdup("--qmp"));
        g_ptr_array_add(av, g_strdup_printf("unix:%s,server=on,wait=off",
                                            s->own));
    }
    if (o->extra) {
        ck_assert(g_shell_parse_argv(o->extra, NULL, &extra, NULL));
        for (guint i = 0; extra[i]; i++) {
            g_ptr_array_add(av, g_strdup(extra[i]));
        }
    }
    g_ptr_array_add(av, NULL);
    return (char **)g_ptr_array_free(av, FALSE);
}

static void setup_notify(const SpawnOpts *o, Svc *s)
{
    s->notify_fd = -1;
    if (!o->notify) {
        return;
    }
    if (!strcmp(o->notify, "abstract")) {
        s->notify_addr = g_strdup_printf("@fdsetd-service-test-%d-%u",
                                         (int)getpid(), g_random_int());
    } else {
        s->notify_addr = g_build_filename(s->dir, "notify", NULL);
    }
    s->notify_fd = bind_socket(s->notify_addr, SOCK_DGRAM);
    g_setenv("NOTIFY_SOCKET", s->notify_addr, TRUE);
}

static Svc *spawn(const SpawnOpts *o)
{
    Svc *s = g_new0(Svc, 1);
    g_auto(GStrv) argv = NULL;
    int fds[8];
    int errfd;
    guint n = o->n_passed;

    s->status = -1;
    s->dir = g_dir_make_tmp("fdsetd-service-XXXXXX", NULL);
    ck_assert_ptr_nonnull(s->dir);
    s->err_path = g_build_filename(s->dir, "stderr", NULL);
    ck_assert_uint_le(n, 7);
    for (guint i = 0; i < n; i++) {
        s->passed[i] = g_strdup_printf("%s/passed%u.sock", s->dir, i);
        fds[i] = bind_socket(s->passed[i], SOCK_STREAM);
    }
    if (o->bad_fd > 0) {
        fds[n++] = o->bad_fd;
    }
    setup_notify(o, s);
    argv = build_argv(o, s);
    errfd = open(s->err_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ck_assert_int_ge(errfd, 0);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        child_exec(o, fds, n, errfd, argv);
    }
    g_unsetenv("NOTIFY_SOCKET");
    close(errfd);
    for (guint i = 0; i < o->n_passed; i++) {
        close(fds[i]); /* the daemon has them now */
    }
    return s;
}

static int wait_exit(Svc *s, int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;
    int ws;

    while (s->status < 0) {
        pid_t r = waitpid(s->pid, &ws, WNOHANG);

        if (r == s->pid) {
            s->status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        } else if (g_get_monotonic_time() > end) {
            return -1;
        } else {
            g_usleep(5000);
        }
    }
    return s->status;
}

static char *stderr_text(Svc *s)
{
    char *text = NULL;

    g_file_get_contents(s->err_path, &text, NULL, NULL);
    return text ? text : g_strdup("");
}

static void svc_free(Svc *s)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", s->dir);

    if (s->status < 0) {
        kill(s->pid, SIGKILL);
        wait_exit(s, TIMEOUT_MS);
    }
    if (s->notify_fd >= 0) {
        close(s->notify_fd);
    }
    ck_assert_int_eq(system(cmd), 0);
    for (guint i = 0; i < G_N_ELEMENTS(s->passed); i++) {
        g_free(s->passed[i]);
    }
    g_free(s->own);
    g_free(s->notify_addr);
    g_free(s->err_path);
    g_free(s->dir);
    g_free(s);
}

/* Expect start-up to fail with exit status 1 and @want in stderr. */
static void expect_start_failure(const SpawnOpts *o, const char *want)
{
    Svc *s = spawn(o);
    g_autofree char *err = NULL;

    ck_assert_int_eq(wait_exit(s, TIMEOUT_MS), 1);
    err = stderr_text(s);
    ck_assert_msg(strstr(err, want), "stderr '%s' lacks '%s'", err, want);
    svc_free(s);
}

/* ------------------------------------------------------------------ QMP */

/* One line from @fd (up to "\n"), NULL on timeout or EOF. */
static char *read_line(int fd, int timeout_ms)
{
    GString *line = g_string_new(NULL);
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    for (;;) {
        if (poll(&p, 1, timeout_ms) <= 0 || read(fd, &c, 1) != 1) {
            g_string_free(line, TRUE);
            return NULL;
        }
        if (c == '\n') {
            return g_string_free(line, FALSE);
        }
        g_string_append_c(line, c);
    }
}

static int try_connect(const char *path)
{
    struct sockaddr_un sa;
    socklen_t len = unix_addr(path, &sa);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(fd, 0);
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The reply to @cmd (events skipped). */
static char *qmp(int fd, const char *cmd)
{
    g_autofree char *msg = g_strdup_printf("%s\n", cmd);
    char *line;

    ck_assert_int_eq(send(fd, msg, strlen(msg), MSG_NOSIGNAL),
                     (ssize_t)strlen(msg));
    while ((line = read_line(fd, TIMEOUT_MS))) {
        if (!strstr(line, "\"event\"")) {
            return line;
        }
        g_free(line);
    }
    ck_abort_msg("no reply to %s", cmd);
    return NULL;
}

/* Connect (the socket must accept now), read the greeting, negotiate. */
static int qmp_connect(const char *path)
{
    int fd = try_connect(path);
    g_autofree char *greeting = NULL;
    g_autofree char *caps = NULL;

    ck_assert_msg(fd >= 0, "connect %s: %s", path, g_strerror(errno));
    greeting = read_line(fd, TIMEOUT_MS);
    ck_assert_msg(greeting && strstr(greeting, "\"QMP\""),
                  "no greeting on %s", path);
    caps = qmp(fd, "{\"execute\": \"qmp_capabilities\"}");
    ck_assert_str_eq(caps, "{\"return\": {}}\r");
    return fd;
}

static void assert_serves(const char *path)
{
    int fd = qmp_connect(path);
    g_autofree char *r = qmp(fd, "{\"execute\": \"query-version\"}");

    ck_assert_msg(strstr(r, "\"return\"") && strstr(r, "\"qemu\""), "%s", r);
    close(fd);
}

/* The own --qmp socket, once the daemon bound it. */
static void wait_own_socket(Svc *s)
{
    gint64 end = g_get_monotonic_time() + TIMEOUT_MS * 1000LL;
    int fd;

    while ((fd = try_connect(s->own)) < 0) {
        ck_assert_msg(g_get_monotonic_time() < end, "%s never accepted",
                      s->own);
        ck_assert_msg(waitpid(s->pid, NULL, WNOHANG) == 0, "daemon died");
        g_usleep(5000);
    }
    close(fd);
}

static void quit(Svc *s, const char *path)
{
    int fd = qmp_connect(path);
    g_autofree char *r = qmp(fd, "{\"execute\": \"quit\"}");

    ck_assert_str_eq(r, "{\"return\": {}}\r");
    close(fd);
    ck_assert_int_eq(wait_exit(s, TIMEOUT_MS), 0);
}

/* ------------------------------------------------------------- notify */

static char *recv_notify(Svc *s)
{
    struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};
    char buf[4096];
    ssize_t n;

    ck_assert_msg(poll(&p, 1, TIMEOUT_MS) == 1, "no notification");
    n = recv(s->notify_fd, buf, sizeof(buf), 0);
    ck_assert_int_gt(n, 0);
    return g_strndup(buf, n);
}

static bool notify_pending(Svc *s, int timeout_ms)
{
    struct pollfd p = {.fd = s->notify_fd, .events = POLLIN};

    return poll(&p, 1, timeout_ms) == 1;
}

/* Bits of "flags:" in /proc/PID/fdinfo/FD (octal), -1 when not open. */
static int daemon_fd_flags(Svc *s, int fd)
{
    g_autofree char *path =
        g_strdup_printf("/proc/%d/fdinfo/%d", (int)s->pid, fd);
    g_autofree char *text = NULL;
    const char *f;

    if (!g_file_get_contents(path, &text, NULL, NULL)) {
        return -1;
    }
    f = strstr(text, "flags:");
    ck_assert_ptr_nonnull(f);
    return (int)strtol(f + strlen("flags:"), NULL, 8);
}

/* ------------------------------------------------------ activation */

/* One socket and no names: a QMP monitor; its file is the manager's. */
START_TEST(test_activation_unnamed)
{
    SpawnOpts o = {.n_passed = 1};
    Svc *s = spawn(&o);

    assert_serves(s->passed[0]);
    ck_assert(daemon_fd_flags(s, 3) & O_CLOEXEC);
    ck_assert(daemon_fd_flags(s, 3) & O_NONBLOCK);
    quit(s, s->passed[0]);
    ck_assert(g_file_test(s->passed[0], G_FILE_TEST_EXISTS));
    svc_free(s);
}
END_TEST

/* Several named sockets, systemd's default names, and a bound one. */
START_TEST(test_activation_named_several)
{
    SpawnOpts o = {.n_passed = 4, .own_qmp = true,
                   .fdnames = "qmp:qmp:fdsetd@vm1.socket:"};
    Svc *s = spawn(&o);
    int held[4];

    wait_own_socket(s);
    /* all at once: each socket serves while the others hold a session */
    for (guint i = 0; i < 4; i++) {
        held[i] = qmp_connect(s->passed[i]);
    }
    assert_serves(s->own);
    for (guint i = 0; i < 4; i++) {
        g_autofree char *r = qmp(held[i], "{\"execute\": \"query-fdsets\"}");

        ck_assert_str_eq(r, "{\"return\": []}\r");
        close(held[i]);
    }
    quit(s, s->passed[3]);
    ck_assert(!g_file_test(s->own, G_FILE_TEST_EXISTS));
    for (guint i = 0; i < 4; i++) {
        ck_assert(g_file_test(s->passed[i], G_FILE_TEST_EXISTS));
    }
    svc_free(s);
}
END_TEST

/* LISTEN_PID of another process: the fds are not taken. */
START_TEST(test_activation_other_pid_ignored)
{
    SpawnOpts o = {.n_passed = 1, .wrong_pid = true, .own_qmp = true};
    Svc *s = spawn(&o);
    int fd;

    wait_own_socket(s);
    /* the passed socket listens (its backlog takes us) but nobody accepts */
    fd = try_connect(s->passed[0]);
    ck_assert_int_ge(fd, 0);
    ck_assert_ptr_null(read_line(fd, 300));
    close(fd);
    /* and is not made the daemon's own: still inheritable */
    ck_assert(!(daemon_fd_flags(s, 3) & O_CLOEXEC));
    quit(s, s->own);
    svc_free(s);
}
END_TEST

START_TEST(test_activation_other_pid_no_monitor)
{
    SpawnOpts o = {.n_passed = 1, .wrong_pid = true};

    expect_start_failure(&o, "no monitor: give at least one --qmp");
}
END_TEST

/*
 * systemd-socket-activate passes a QMP and an NBD socket (--fdname=qmp:nbd);
 * the first client (nbdinfo) starts the daemon, which serves the export
 * given on its command line on the passed NBD socket.
 */
START_TEST(test_activation_nbd)
{
    g_autofree char *dir = g_dir_make_tmp("fdsetd-nbd-act-XXXXXX", NULL);
    g_autofree char *cmd = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autofree char *activate = g_find_program_in_path(
        "systemd-socket-activate");
    g_autofree char *nbdinfo = g_find_program_in_path("nbdinfo");
    const char *argv[4] = {"/bin/sh", "-c", NULL, NULL};
    int status;

    if (!activate || !nbdinfo) {
        return; /* the tools are not installed */
    }
    cmd = g_strdup_printf(
        "set -e; cd %s; head -c 1048576 /dev/urandom > disk.raw; "
        "systemd-socket-activate -l $PWD/qmp.sock -l $PWD/nbd.sock "
        "--fdname=qmp:nbd %s --blockdev driver=file,node-name=d0,"
        "filename=$PWD/disk.raw,read-only=on --export type=nbd,id=e0,"
        "node-name=d0 2>act.log & act=$!; "
        "for i in $(seq 50); do [ -S nbd.sock ] && break; sleep 0.1; done; "
        "nbdinfo --size 'nbd+unix:///d0?socket=nbd.sock'; "
        "nbdcopy 'nbd+unix:///d0?socket=nbd.sock' copy.raw; "
        "cmp disk.raw copy.raw; kill $act; wait $act || true; rm -rf %s",
        dir, daemon_binary(), dir);
    argv[2] = cmd;
    ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, 0, NULL, NULL, &out,
                           &err, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s%s", out, err);
    ck_assert_str_eq(out, "1048576\n");
}
END_TEST

START_TEST(test_activation_errors)
{
    SpawnOpts bad_name = {.n_passed = 2, .fdnames = "qmp:vnc"};
    SpawnOpts two_nbd = {.n_passed = 2, .fdnames = "nbd:nbd"};
    SpawnOpts count = {.n_passed = 2, .fdnames = "qmp"};
    SpawnOpts add_fd = {.n_passed = 1, .extra = "--add-fd fd=3,set=1"};

    expect_start_failure(&bad_name, "fdsetd: socket activation: fd 4 is "
                         "named 'vnc'; expected 'qmp' or 'nbd'");
    expect_start_failure(&two_nbd, "fd 4 is a second 'nbd' socket");
    expect_start_failure(&count, "fdsetd: LISTEN_FDNAMES='qmp' names 1 "
                         "socket but LISTEN_FDS=2");
    /* a passed socket is the daemon's: -add-fd cannot take its number */
    expect_start_failure(&add_fd, "--add-fd fd=3,set=1: fd is not valid or "
                         "already in use");
}
END_TEST

/* What a QMP monitor cannot listen on. */
START_TEST(test_activation_not_a_listener)
{
    int sp[2];
    g_autofree char *file = g_strdup("/tmp/fdsetd-service-test-XXXXXX");
    int ffd = g_mkstemp_full(file, O_RDWR | O_CLOEXEC, 0600);
    int dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    SpawnOpts o = {.n_passed = 1, .fdnames = "qmp:qmp"};

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    o.bad_fd = sp[0];
    expect_start_failure(&o, "socket activation: fd 4 is not a listening "
                         "socket");
    o.bad_fd = dg;
    expect_start_failure(&o, "socket activation: fd 4 is not a unix stream "
                         "socket");
    o.bad_fd = ffd;
    expect_start_failure(&o, "socket activation: fd 4 is not a socket");
    unlink(file);
    close(ffd);
    close(dg);
    close(sp[0]);
    close(sp[1]);
}
END_TEST

/* --------------------------------------------------------- sd_notify */

/* READY=1 comes when the socket already accepts: no retry needed. */
START_TEST(test_notify_ready_after_accept)
{
    SpawnOpts o = {.own_qmp = true, .notify = "path"};
    Svc *s = spawn(&o);
    g_autofree char *ready = recv_notify(s);

    ck_assert_str_eq(ready, "READY=1\nSTATUS=Serving QMP on 1 socket; "
                     "sandbox off");
    assert_serves(s->own);
    ck_assert(!notify_pending(s, 100)); /* nothing more while serving */
    svc_free(s);
}
END_TEST

START_TEST(test_notify_stopping_at_quit)
{
    SpawnOpts o = {.n_passed = 2, .notify = "path", .extra = "--sandbox on"};
    g_autofree char *asan = g_strdup_printf(
        "%s:detect_leaks=0", g_getenv("ASAN_OPTIONS") ?: "");
    Svc *s;

    /* LeakSanitizer cannot read /proc in the sandbox (as security-test) */
    g_setenv("ASAN_OPTIONS", asan, TRUE);
    s = spawn(&o);
    g_autofree char *ready = recv_notify(s);
    g_autofree char *stopping = NULL;

    ck_assert_msg(g_str_has_prefix(ready, "READY=1\nSTATUS=Serving QMP on "
                                   "2 sockets (2 passed by the service "
                                   "manager); sandbox "), "%s", ready);
    ck_assert_ptr_nonnull(strstr(ready, "seccomp"));
    quit(s, s->passed[1]);
    /* sent after the sandbox is up: send() on the connected socket */
    stopping = recv_notify(s);
    ck_assert_str_eq(stopping, "STOPPING=1\nSTATUS=Stopping (quit command)");
    svc_free(s);
}
END_TEST

START_TEST(test_notify_stopping_at_sigterm)
{
    SpawnOpts o = {.own_qmp = true, .notify = "abstract"};
    Svc *s = spawn(&o);
    g_autofree char *ready = recv_notify(s);
    g_autofree char *stopping = NULL;

    ck_assert(g_str_has_prefix(ready, "READY=1\n"));
    ck_assert_int_eq(kill(s->pid, SIGTERM), 0);
    stopping = recv_notify(s);
    ck_assert_str_eq(stopping, "STOPPING=1\nSTATUS=Stopping (SIGTERM)");
    ck_assert_int_eq(wait_exit(s, TIMEOUT_MS), 0);
    svc_free(s);
}
END_TEST

/* --daemonize: the process that serves says so, with its pid. */
START_TEST(test_notify_daemonized_mainpid)
{
    SpawnOpts o = {.own_qmp = true, .notify = "path"};
    g_autofree char *pidfile = NULL;
    g_autofree char *text = NULL;
    g_autofree char *ready = NULL;
    g_autofree char *want = NULL;
    Svc *s;

    pidfile = g_strdup_printf("/tmp/fdsetd-service-%d.pid", (int)getpid());
    o.extra = text = g_strdup_printf("--daemonize --pidfile %s", pidfile);
    s = spawn(&o);
    ck_assert_int_eq(wait_exit(s, TIMEOUT_MS), 0); /* the parent */
    ready = recv_notify(s);
    g_free(g_steal_pointer(&text));
    ck_assert(g_file_get_contents(pidfile, &text, NULL, NULL));
    want = g_strdup_printf("\nMAINPID=%d", atoi(text));
    ck_assert_msg(g_str_has_suffix(ready, want), "%s", ready);
    quit(s, s->own);  /* reaps nothing: wait_exit saw the parent */
    svc_free(s);
}
END_TEST

static Suite *service_suite(void)
{
    Suite *s = suite_create("service");
    TCase *tc = tcase_create("service");

    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_activation_unnamed);
    tcase_add_test(tc, test_activation_named_several);
    tcase_add_test(tc, test_activation_other_pid_ignored);
    tcase_add_test(tc, test_activation_other_pid_no_monitor);
    tcase_add_test(tc, test_activation_nbd);
    tcase_add_test(tc, test_activation_errors);
    tcase_add_test(tc, test_activation_not_a_listener);
    tcase_add_test(tc, test_notify_ready_after_accept);
    tcase_add_test(tc, test_notify_stopping_at_quit);
    tcase_add_test(tc, test_notify_stopping_at_sigterm);
    tcase_add_test(tc, test_notify_daemonized_mainpid);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(service_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
