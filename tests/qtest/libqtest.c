/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqtest: start the real fdsetd and talk QMP to it.
 *
 * Process model: the daemon is forked from the test process with
 * PR_SET_PDEATHSIG, so it dies with the test even when check _exit()s after
 * a failed assertion or SIGKILLs the test on a timeout.  A tiny watcher
 * (/bin/sh) holds the read end of a pipe whose write end only the test
 * process has: when the test ends without qtest_quit()/qtest_kill() the
 * watcher sees EOF, shows the daemon's stderr and removes the scratch dir.
 *
 * Comparing with QEMU: with QTEST_REFERENCE_QEMU=1 in the environment and
 * FDSETD_BINARY a script that turns --qmp/--add-fd into -qmp/-add-fd and
 * execs "qemu-system-x86_64 -machine none -nodefaults -display none",
 * the tests run against QEMU 7.2; the leak check then accepts sets without
 * dup-count (QEMU has none) and only checks that members are open.
 *
 * Message framing: the reader splits the byte stream into JSON values by
 * bracket depth (strings and escapes honoured), so it does not depend on
 * newlines.  Messages with an "event" member and no "return"/"error" are
 * events; everything else is a response.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libqtest.h"

#define QTEST_DEFAULT_TIMEOUT_MS 10000
#define QTEST_START_TIMEOUT_MS 20000
#define QTEST_EXIT_TIMEOUT_MS 10000
#define QTEST_MAX_FDS 32 /* per message sent by libqtest */

struct QTestConn {
    QTestState *s;
    guint monitor;
    int fd;
    GString *rbuf; /* received bytes not yet split into messages */
    gsize scan;    /* splitter position inside rbuf */
    gsize start;   /* start of the value being scanned */
    int depth;
    bool in_str, esc;
    bool eof;
    bool negotiated; /* qmp_capabilities succeeded on it */
    GQueue msgs;     /* JsonNode*: responses (and the greeting) */
    GQueue events;   /* JsonNode*: events */
    GString *trace;  /* arrival order: event names, "return", "error" */
    char *greeting;
};

struct QTestState {
    pid_t pid;
    pid_t watcher;
    int watch_fd; /* write end of the watcher's pipe */
    bool reaped;
    int status; /* exit status once reaped (128+sig when signalled) */
    char *tmpdir;
    char *stderr_path;
    guint n_monitors;
    char **sockets; /* NULL-terminated */
    int *spare;     /* probe connection per monitor, reused by connect */
    GList *conns;
};

/* ------------------------------------------------------------------ util */

static int remove_cb(const char *path, const struct stat *sb, int flag,
                     struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, remove_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *daemon_binary(void)
{
    const char *env = g_getenv("FDSETD_BINARY");

    return env && *env ? env : "./build/fdsetd";
}

static void close_quietly(int fd)
{
    if (fd >= 0) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
}

static int status_code(int wstatus)
{
    if (WIFEXITED(wstatus)) {
        return WEXITSTATUS(wstatus);
    }
    return 128 + WTERMSIG(wstatus);
}

/* Reap the daemon if it has exited; true once reaped. */
static bool try_reap(QTestState *s)
{
    int wstatus;

    if (s->reaped) {
        return true;
    }
    if (waitpid(s->pid, &wstatus, WNOHANG) == s->pid) {
        s->reaped = true;
        s->status = status_code(wstatus);
    }
    return s->reaped;
}

static bool wait_reap(QTestState *s, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;

    while (!try_reap(s)) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(2000);
    }
    return true;
}

char *qtest_stderr_text(QTestState *s)
{
    char *text = NULL;

    if (!g_file_get_contents(s->stderr_path, &text, NULL, NULL)) {
        return g_strdup("");
    }
    return text;
}

static void dump_stderr(QTestState *s, const char *why)
{
    g_autofree char *text = qtest_stderr_text(s);

    fprintf(stderr, "--- fdsetd pid %d %s; its stderr: ---\n%s--- end ---\n",
            (int)s->pid, why, text);
}

/* ------------------------------------------------------------- spawning */

/*
 * The watcher outlives a test that dies without cleaning up: on EOF of its
 * stdin without "ok" it kills the daemon, shows its stderr, removes the
 * scratch dir.
 */
static const char watcher_script[] =
    "read -r line; "
    "if [ \"$line\" != ok ]; then "
    "kill -9 \"$1\" 2>/dev/null; "
    "echo \"--- fdsetd pid $1 left behind by a failed test; stderr: ---\" >&2; "
    "cat \"$2/fdsetd.stderr\" >&2; echo '--- end ---' >&2; "
    "fi; rm -rf \"$2\"";

static void start_watcher(QTestState *s)
{
    int p[2];
    g_autofree char *pid = g_strdup_printf("%d", (int)s->pid);

    ck_assert_msg(pipe2(p, O_CLOEXEC) == 0, "pipe2: %s", g_strerror(errno));
    s->watcher = fork();
    ck_assert_msg(s->watcher >= 0, "fork: %s", g_strerror(errno));
    if (s->watcher == 0) {
        /*
         * Own process group: check kills the test's group when a test
         * ends, which must not cut the clean-up short.
         */
        setpgid(0, 0);
        dup2(p[0], 0);
        execl("/bin/sh", "sh", "-c", watcher_script, "qtest-watcher", pid,
              s->tmpdir, (char *)NULL);
        _exit(127);
    }
    /* Also here, so a test that fails at once cannot win the race. */
    setpgid(s->watcher, s->watcher);
    close(p[0]);
    s->watch_fd = p[1];
}

static void stop_watcher(QTestState *s)
{
    if (s->watch_fd >= 0) {
        ssize_t n = write(s->watch_fd, "ok\n", 3);
        (void)n;
        close(s->watch_fd);
        s->watch_fd = -1;
    }
    if (s->watcher > 0) {
        waitpid(s->watcher, NULL, 0);
        s->watcher = -1;
    }
}

typedef struct SpawnPlan {
    char **argv;
    int devnull, errfd;
    const int *inherit;
    guint n_inherit;
    int high; /* first fd number above every target */
    pid_t parent;
} SpawnPlan;

/* In the child: only async-signal-safe calls from here to exec. */
static void child_exec(const SpawnPlan *p)
{
    int hi_null, hi_err, hi[64];
    guint i;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != p->parent) {
        _exit(127);
    }
    signal(SIGPIPE, SIG_DFL);
    hi_null = fcntl(p->devnull, F_DUPFD_CLOEXEC, p->high);
    hi_err = fcntl(p->errfd, F_DUPFD_CLOEXEC, p->high);
    for (i = 0; i < p->n_inherit; i++) {
        hi[i] = fcntl(p->inherit[2 * i + 1], F_DUPFD_CLOEXEC, p->high);
        if (hi[i] < 0) {
            _exit(126);
        }
    }
    if (hi_null < 0 || hi_err < 0) {
        _exit(126);
    }
    /* Everything above stdio closes at exec unless placed below. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (dup2(hi_null, 0) < 0 || dup2(hi_null, 1) < 0 || dup2(hi_err, 2) < 0) {
        _exit(126);
    }
    for (i = 0; i < p->n_inherit; i++) {
        /* dup2 clears FD_CLOEXEC on the new number. */
        if (dup2(hi[i], p->inherit[2 * i]) < 0) {
            _exit(126);
        }
    }
    execv(p->argv[0], p->argv);
    _exit(127);
}

static char **build_argv(QTestState *s, const char *extra_args)
{
    GPtrArray *av = g_ptr_array_new();
    g_auto(GStrv) extra = NULL;
    GError *err = NULL;
    guint i;

    g_ptr_array_add(av, g_strdup(daemon_binary()));
    for (i = 0; i < s->n_monitors; i++) {
        g_ptr_array_add(av, g_strdup("--qmp"));
        g_ptr_array_add(
            av, g_strdup_printf("unix:%s,server=on,wait=off", s->sockets[i]));
    }
    if (extra_args && *extra_args) {
        ck_assert_msg(g_shell_parse_argv(extra_args, NULL, &extra, &err),
                      "bad extra_args '%s': %s", extra_args,
                      err ? err->message : "?");
        for (i = 0; extra[i]; i++) {
            g_ptr_array_add(av, g_strdup(extra[i]));
        }
    }
    g_ptr_array_add(av, NULL);
    return (char **)g_ptr_array_free(av, FALSE);
}

static QTestState *state_new(guint n_monitors)
{
    QTestState *s = g_new0(QTestState, 1);
    GError *err = NULL;
    guint i;

    s->tmpdir = g_dir_make_tmp("fdsetd-qtest-XXXXXX", &err);
    ck_assert_msg(s->tmpdir, "mkdtemp: %s", err ? err->message : "?");
    s->stderr_path = g_build_filename(s->tmpdir, "fdsetd.stderr", NULL);
    s->n_monitors = n_monitors;
    s->sockets = g_new0(char *, n_monitors + 1);
    s->spare = g_new(int, MAX(n_monitors, 1));
    for (i = 0; i < n_monitors; i++) {
        s->sockets[i] = g_strdup_printf("%s/qmp%u.sock", s->tmpdir, i);
        s->spare[i] = -1;
    }
    s->watch_fd = -1;
    s->watcher = -1;
    return s;
}

static void state_free(QTestState *s)
{
    guint i;

    while (s->conns) {
        qtest_disconnect(s->conns->data);
    }
    for (i = 0; i < s->n_monitors; i++) {
        close_quietly(s->spare[i]);
    }
    rm_rf(s->tmpdir);
    stop_watcher(s);
    g_strfreev(s->sockets);
    g_free(s->spare);
    g_free(s->stderr_path);
    g_free(s->tmpdir);
    g_free(s);
}

static void spawn_daemon(QTestState *s, const char *extra_args,
                         const int *inherit, guint n_inherit)
{
    SpawnPlan p = {.inherit = inherit, .n_inherit = n_inherit, .high = 3};
    guint i;

    ck_assert_msg(n_inherit <= 64, "too many inherited fds");
    for (i = 0; i < n_inherit; i++) {
        ck_assert_msg(inherit[2 * i] >= 3, "cannot place an fd at %d",
                      inherit[2 * i]);
        ck_assert_msg(fcntl(inherit[2 * i + 1], F_GETFD) >= 0,
                      "inherited fd %d is not open", inherit[2 * i + 1]);
        p.high = MAX(p.high, inherit[2 * i] + 1);
    }
    ck_assert_msg(g_file_test(daemon_binary(), G_FILE_TEST_IS_EXECUTABLE),
                  "no fdsetd binary at '%s' (set FDSETD_BINARY)",
                  daemon_binary());
    p.argv = build_argv(s, extra_args);
    p.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    p.errfd =
        open(s->stderr_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_msg(p.devnull >= 0 && p.errfd >= 0, "open: %s",
                  g_strerror(errno));
    p.parent = getpid();
    signal(SIGPIPE, SIG_IGN);
    s->pid = fork();
    ck_assert_msg(s->pid >= 0, "fork: %s", g_strerror(errno));
    if (s->pid == 0) {
        child_exec(&p);
    }
    close(p.devnull);
    close(p.errfd);
    g_strfreev(p.argv);
    start_watcher(s);
}

/* Connect to @path; -1 while the daemon does not accept yet. */
static int try_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_msg(fd >= 0, "socket: %s", g_strerror(errno));
    ck_assert_msg(strlen(path) < sizeof(sa.sun_path), "path too long");
    strcpy(sa.sun_path, path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void wait_sockets(QTestState *s)
{
    gint64 deadline = g_get_monotonic_time() + QTEST_START_TIMEOUT_MS * 1000LL;
    guint i;

    for (i = 0; i < s->n_monitors; i++) {
        while ((s->spare[i] = try_connect(s->sockets[i])) < 0) {
            if (try_reap(s)) {
                dump_stderr(s, "exited at start-up");
                ck_abort_msg("fdsetd exited with status %d before %s "
                             "accepted",
                             s->status, s->sockets[i]);
            }
            if (g_get_monotonic_time() > deadline) {
                dump_stderr(s, "did not start");
                ck_abort_msg("fdsetd did not accept on %s", s->sockets[i]);
            }
            g_usleep(2000);
        }
    }
}

QTestState *qtest_spawn_full(const char *extra_args, guint n_monitors,
                             const int *inherit, guint n_inherit)
{
    QTestState *s = state_new(n_monitors);

    spawn_daemon(s, extra_args, inherit, n_inherit);
    wait_sockets(s);
    return s;
}

QTestState *qtest_spawn(const char *extra_args)
{
    return qtest_spawn_full(extra_args, 1, NULL, 0);
}

int qtest_spawn_expect_fail(const char *extra_args, const int *inherit,
                            guint n_inherit, char **err)
{
    QTestState *s = state_new(1);
    int status;

    spawn_daemon(s, extra_args, inherit, n_inherit);
    if (!wait_reap(s, QTEST_EXIT_TIMEOUT_MS)) {
        kill(s->pid, SIGKILL);
        wait_reap(s, QTEST_EXIT_TIMEOUT_MS);
        dump_stderr(s, "did not exit");
        ck_abort_msg("fdsetd '%s' was expected to fail but kept running",
                     extra_args ? extra_args : "");
    }
    status = s->status;
    if (err) {
        *err = qtest_stderr_text(s);
    }
    state_free(s);
    return status;
}

pid_t qtest_pid(QTestState *s)
{
    return s->pid;
}

const char *qtest_socket_path(QTestState *s, guint monitor)
{
    ck_assert_uint_lt(monitor, s->n_monitors);
    return s->sockets[monitor];
}

const char *qtest_tmpdir(QTestState *s)
{
    return s->tmpdir;
}

/* ------------------------------------------------------------ messages */

static void trace_add(QTestConn *c, const char *what)
{
    if (c->trace->len) {
        g_string_append_c(c->trace, ' ');
    }
    g_string_append(c->trace, what);
}

static void enqueue_message(QTestConn *c, const char *text, gsize len)
{
    GError *err = NULL;
    JsonNode *node = json_parse_strict(text, len, &err);
    JsonObject *obj;

    if (!node) {
        ck_abort_msg("fdsetd sent bad JSON (%s): %.*s", err->message, (int)len,
                     text);
    }
    obj = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    if (obj && json_object_has_member(obj, "event") &&
        !json_object_has_member(obj, "return") &&
        !json_object_has_member(obj, "error")) {
        g_queue_push_tail(&c->events, node);
        trace_add(c, json_object_get_string_member(obj, "event"));
    } else {
        g_queue_push_tail(&c->msgs, node);
        trace_add(c, obj && json_object_has_member(obj, "error") ? "error"
                                                                  : "return");
    }
}

/* Split complete JSON values off the receive buffer. */
static void split_messages(QTestConn *c)
{
    const char *b = c->rbuf->str;

    for (; c->scan < c->rbuf->len; c->scan++) {
        char ch = b[c->scan];

        if (c->depth == 0) {
            if (g_ascii_isspace(ch)) {
                continue;
            }
            ck_assert_msg(ch == '{' || ch == '[',
                          "fdsetd sent text outside a JSON value: %s",
                          b + c->scan);
            c->start = c->scan;
            c->depth = 1;
        } else if (c->in_str) {
            if (c->esc) {
                c->esc = false;
            } else if (ch == '\\') {
                c->esc = true;
            } else if (ch == '"') {
                c->in_str = false;
            }
        } else if (ch == '"') {
            c->in_str = true;
        } else if (ch == '{' || ch == '[') {
            c->depth++;
        } else if ((ch == '}' || ch == ']') && --c->depth == 0) {
            enqueue_message(c, b + c->start, c->scan + 1 - c->start);
            g_string_erase(c->rbuf, 0, c->scan + 1);
            b = c->rbuf->str;
            c->scan = (gsize)-1; /* the loop's ++ makes it 0 */
        }
    }
    if (c->depth == 0) {
        g_string_truncate(c->rbuf, 0);
        c->scan = 0;
    }
}

/* Read what is available within @timeout_ms; false on timeout or EOF. */
static bool fill(QTestConn *c, int timeout_ms)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char buf[65536];
    ssize_t n;
    int r;

    if (c->eof) {
        return false;
    }
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    ck_assert_msg(r >= 0, "poll: %s", g_strerror(errno));
    if (r == 0) {
        return false;
    }
    do {
        n = recv(c->fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        c->eof = true; /* EOF or ECONNRESET */
        return false;
    }
    g_string_append_len(c->rbuf, buf, n);
    split_messages(c);
    return true;
}

static int remaining_ms(gint64 deadline)
{
    gint64 left = (deadline - g_get_monotonic_time()) / 1000;

    return left < 0 ? 0 : (int)left;
}

static gint64 deadline_after(int timeout_ms)
{
    if (timeout_ms < 0) {
        timeout_ms = QTEST_DEFAULT_TIMEOUT_MS;
    }
    return g_get_monotonic_time() + timeout_ms * 1000LL;
}

JsonNode *qtest_recv_response(QTestConn *c, int timeout_ms)
{
    gint64 deadline = deadline_after(timeout_ms);

    while (g_queue_is_empty(&c->msgs)) {
        if (!fill(c, remaining_ms(deadline)) &&
            (c->eof || remaining_ms(deadline) == 0)) {
            return g_queue_pop_head(&c->msgs);
        }
    }
    return g_queue_pop_head(&c->msgs);
}

static const char *event_name(JsonNode *ev)
{
    return json_object_get_string_member(json_node_get_object(ev), "event");
}

static JsonNode *take_event(QTestConn *c, const char *name)
{
    GList *l;

    for (l = c->events.head; l; l = l->next) {
        if (!name || g_str_equal(event_name(l->data), name)) {
            JsonNode *ev = l->data;
            g_queue_delete_link(&c->events, l);
            return ev;
        }
    }
    return NULL;
}

JsonNode *qtest_event_wait(QTestConn *c, const char *name, int timeout_ms)
{
    gint64 deadline = deadline_after(timeout_ms);
    JsonNode *ev;

    while (!(ev = take_event(c, name))) {
        if (!fill(c, remaining_ms(deadline)) &&
            (c->eof || remaining_ms(deadline) == 0)) {
            return NULL;
        }
    }
    return ev;
}

char *qtest_trace_take(QTestConn *c)
{
    char *t = g_strdup(c->trace->str);

    g_string_truncate(c->trace, 0);
    return t;
}

void qtest_events_clear(QTestConn *c)
{
    g_queue_clear_full(&c->events, (GDestroyNotify)json_node_unref);
}

bool qtest_conn_eof(QTestConn *c, int timeout_ms)
{
    gint64 deadline = deadline_after(timeout_ms);

    while (!c->eof && remaining_ms(deadline) > 0) {
        fill(c, remaining_ms(deadline));
    }
    return c->eof;
}

/* --------------------------------------------------------- connections */

static void check_greeting(QTestConn *c, JsonNode *g)
{
    JsonObject *o =
        g && JSON_NODE_HOLDS_OBJECT(g) ? json_node_get_object(g) : NULL;
    JsonNode *qmp = o ? json_object_get_member(o, "QMP") : NULL;
    JsonObject *q =
        qmp && JSON_NODE_HOLDS_OBJECT(qmp) ? json_node_get_object(qmp) : NULL;
    JsonNode *caps = q ? json_object_get_member(q, "capabilities") : NULL;
    JsonNode *ver = q ? json_object_get_member(q, "version") : NULL;

    c->greeting = g ? json_to_string(g, FALSE) : g_strdup("(none)");
    ck_assert_msg(q && caps && JSON_NODE_HOLDS_ARRAY(caps) && ver &&
                      JSON_NODE_HOLDS_OBJECT(ver),
                  "bad QMP greeting on monitor %u: %s", c->monitor,
                  c->greeting);
}

QTestConn *qtest_connect_raw(QTestState *s, guint monitor)
{
    QTestConn *c = g_new0(QTestConn, 1);
    JsonNode *g;

    ck_assert_uint_lt(monitor, s->n_monitors);
    c->s = s;
    c->monitor = monitor;
    c->rbuf = g_string_new(NULL);
    c->trace = g_string_new(NULL);
    g_queue_init(&c->msgs);
    g_queue_init(&c->events);
    if (s->spare[monitor] >= 0) {
        c->fd = s->spare[monitor]; /* the probe connection, moved here */
        s->spare[monitor] = -1;
    } else {
        c->fd = try_connect(s->sockets[monitor]);
        ck_assert_msg(c->fd >= 0, "connect %s: %s", s->sockets[monitor],
                      g_strerror(errno));
    }
    s->conns = g_list_append(s->conns, c);
    g = qtest_recv_response(c, -1);
    check_greeting(c, g);
    json_node_unref(g);
    return c;
}

QTestConn *qtest_connect(QTestState *s, guint monitor)
{
    QTestConn *c = qtest_connect_raw(s, monitor);

    qtest_assert_success(qtest_qmp(c, "{'execute': 'qmp_capabilities'}"));
    c->negotiated = true;
    return c;
}

void qtest_disconnect(QTestConn *c)
{
    c->s->conns = g_list_remove(c->s->conns, c);
    close_quietly(c->fd);
    g_queue_clear_full(&c->msgs, (GDestroyNotify)json_node_unref);
    g_queue_clear_full(&c->events, (GDestroyNotify)json_node_unref);
    g_string_free(c->rbuf, TRUE);
    g_string_free(c->trace, TRUE);
    g_free(c->greeting);
    g_free(c);
}

const char *qtest_conn_greeting_text(QTestConn *c)
{
    return c->greeting;
}

/* ------------------------------------------------------------- sending */

void qtest_send_raw(QTestConn *c, const void *buf, size_t len, const int *fds,
                    guint nfds)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * QTEST_MAX_FDS)];
        struct cmsghdr align;
    } u;
    const char *p = buf;
    size_t off = 0;

    ck_assert_uint_le(nfds, QTEST_MAX_FDS);
    ck_assert_msg(len > 0 || nfds == 0, "fds need at least one byte");
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)p + off, .iov_len = len - off};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (off == 0 && nfds > 0) {
            struct cmsghdr *cm;

            memset(&u, 0, sizeof(u));
            msg.msg_control = u.buf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        ck_assert_msg(n > 0, "sendmsg: %s", g_strerror(errno));
        off += n;
    }
}

/*
 * QEMU's libqtest accepts 'single-quoted' strings; so do we: they become
 * standard JSON strings before sending.
 */
static char *to_json_quotes(const char *in)
{
    GString *out = g_string_sized_new(strlen(in) + 8);
    char quote = 0;
    const char *p;

    for (p = in; *p; p++) {
        if (quote && *p == '\\' && p[1]) {
            if (quote == '\'' && p[1] == '\'') {
                g_string_append_c(out, '\'');
            } else {
                g_string_append_c(out, *p);
                g_string_append_c(out, p[1]);
            }
            p++;
        } else if (quote == '\'' && *p == '"') {
            g_string_append(out, "\\\"");
        } else if (*p == '\'' || *p == '"') {
            if (!quote || quote == *p) {
                quote = quote ? 0 : *p;
                g_string_append_c(out, '"');
            } else {
                g_string_append_c(out, *p);
            }
        } else {
            g_string_append_c(out, *p);
        }
    }
    return g_string_free(out, FALSE);
}

static JsonNode *qmp_vsend(QTestConn *c, const int *fds, guint nfds,
                           const char *fmt, va_list ap)
{
    g_autofree char *raw = g_strdup_vprintf(fmt, ap);
    g_autofree char *text = to_json_quotes(raw);
    JsonNode *resp;

    qtest_send_raw(c, text, strlen(text), fds, nfds);
    resp = qtest_recv_response(c, -1);
    if (!resp) {
        dump_stderr(c->s, c->eof ? "closed the connection" : "did not answer");
        ck_abort_msg("no response to %s (%s)", text,
                     c->eof ? "EOF" : "timeout");
    }
    if (strstr(text, "\"qmp_capabilities\"") && qtest_return_object(resp)) {
        c->negotiated = true;
    }
    return resp;
}

JsonNode *qtest_qmp(QTestConn *c, const char *fmt, ...)
{
    va_list ap;
    JsonNode *r;

    va_start(ap, fmt);
    r = qmp_vsend(c, NULL, 0, fmt, ap);
    va_end(ap);
    return r;
}

JsonNode *qtest_qmp_fds(QTestConn *c, const int *fds, guint nfds,
                        const char *fmt, ...)
{
    va_list ap;
    JsonNode *r;

    va_start(ap, fmt);
    r = qmp_vsend(c, fds, nfds, fmt, ap);
    va_end(ap);
    return r;
}

/* ------------------------------------------------------------- ending */

int qtest_wait_exit(QTestState *s, int timeout_ms)
{
    if (!wait_reap(s, timeout_ms < 0 ? QTEST_EXIT_TIMEOUT_MS : timeout_ms)) {
        return -1;
    }
    return s->status;
}

/* A negotiated connection with nothing queued, for quit. */
static QTestConn *idle_conn(QTestState *s)
{
    GList *l;

    for (l = s->conns; l; l = l->next) {
        QTestConn *c = l->data;
        if (c->negotiated && !c->eof && g_queue_is_empty(&c->msgs)) {
            return c;
        }
    }
    return qtest_connect(s, 0);
}

int qtest_quit(QTestState *s)
{
    int status;

    if (!try_reap(s)) {
        QTestConn *c = idle_conn(s);

        qtest_assert_success(qtest_qmp(c, "{'execute': 'quit'}"));
        if (!wait_reap(s, QTEST_EXIT_TIMEOUT_MS)) {
            dump_stderr(s, "did not exit after quit");
            kill(s->pid, SIGKILL);
            wait_reap(s, QTEST_EXIT_TIMEOUT_MS);
            state_free(s);
            ck_abort_msg("fdsetd did not exit after quit");
        }
    }
    status = s->status;
    if (status != 0) {
        dump_stderr(s, "exited with a failure status");
    }
    state_free(s);
    return status;
}

void qtest_kill(QTestState *s)
{
    if (!try_reap(s)) {
        kill(s->pid, SIGKILL);
        wait_reap(s, QTEST_EXIT_TIMEOUT_MS);
    }
    state_free(s);
}
