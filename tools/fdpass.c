/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdpass: the manager's side of fd passing, for people and scripts.
 *
 * Opens files itself and hands them to fdsetd (or QEMU) over the QMP
 * socket, with the fd in the same sendmsg() as the command (libvirt's
 * convention).  Every fd here is CLOEXEC and closed as soon as it is sent:
 * the daemon holds its own reference from then on.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include "qemu/json-parse.h"
#include "fdpass.h"

#define FDPASS_MAX_FDS 16

/* clang-format off */
static const char usage_text[] =
"Usage: fdpass [--timeout SEC] SOCKET COMMAND [ARGS...]\n"
"\n"
"Pass file descriptors to fdsetd over its QMP socket and manage its fdsets.\n"
"\n"
"Commands:\n"
"  add-fd --file PATH --mode ro|wo|rw [--direct] [--fdset-id N]\n"
"         [--opaque STR] [--no-persistent]\n"
"      Open PATH (never created) and add the fd to fdset N (default: the\n"
"      lowest free id).  Prints \"fdset-id N fd M\".\n"
"  query-fdsets [--json]\n"
"      List the fdsets; --json prints the QMP return value as JSON.\n"
"  remove-fd --fdset-id N [--fd M]\n"
"      Close member M of fdset N, or every member of it.\n"
"  qmp JSON [--file PATH --mode ro|wo|rw [--direct]]...\n"
"      Send any QMP command, e.g. '{\"execute\": \"query-version\"}', with\n"
"      the given files attached; prints the return value as JSON.\n"
"      --wait: then wait for the job it started (see job-wait).\n"
"  job-wait ID\n"
"      Follow job ID (query-jobs) until it concludes: a progress bar on a\n"
"      terminal, else a line per change.  Exits 0 if it succeeded, else 1\n"
"      with the job's error.  --wait after a qmp command that starts a job\n"
"      (arguments with a job-id, or a block job's device) does the same.\n"
"  session\n"
"      Read commands from stdin, one per line, in the syntax above (quoted\n"
"      like a shell; a line starting with '{' is a qmp command), all on one\n"
"      connection.  Blank lines and lines starting with '#' are skipped.\n"
"      Stops at the first failing command.\n"
"\n"
"Why add-fd sends \"persistent\": true by default: fdsetd gives every member\n"
"added over QMP to the connection that added it, and when that connection\n"
"closes it closes the members of sets that no block node uses.  fdpass's\n"
"connection ends when fdpass exits, so without persistence a set added by\n"
"one fdpass run would be gone before the next run could use it.  Persistent\n"
"members stay until remove-fd.  --no-persistent leaves them to this\n"
"connection: useful in a session that uses the set before it ends (a block\n"
"node keeps its set alive), and needed for QEMU, which knows no\n"
"\"persistent\" argument.\n"
"\n"
"Exit status: 0 on success, 1 when the daemon returned an error (its text\n"
"goes to stderr) or the socket failed, 2 on a usage error.\n";
/* clang-format on */


/* One file to attach to a command. */
typedef struct Attach {
    const char *path;
    int flags;
} Attach;

/* ----------------------------------------------------------- messages */

static gboolean enqueue(Conn *c, const char *text, gsize len, GError **errp)
{
    JsonNode *n = json_parse_strict(text, len, errp);

    if (!n) {
        g_prefix_error(errp, "bad JSON from the daemon: ");
        return FALSE;
    }
    if (JSON_NODE_HOLDS_OBJECT(n) &&
        json_object_has_member(json_node_get_object(n), "event")) {
        if (c->keep_events) {
            g_queue_push_tail(&c->events, n); /* for job-wait */
        } else {
            json_node_unref(n); /* events are not ours to show */
        }
        return TRUE;
    }
    g_queue_push_tail(&c->msgs, n);
    return TRUE;
}

/* Split whole JSON values off the receive buffer by bracket depth. */
static gboolean split(Conn *c, GError **errp)
{
    gsize i;

    for (i = c->scan; i < c->buf->len; i++) {
        char ch = c->buf->str[i];

        if (c->depth == 0) {
            if (g_ascii_isspace(ch)) {
                continue;
            }
            c->start = i;
            c->depth = 1;
            if (ch != '{' && ch != '[') {
                g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                            "the daemon sent something that is not QMP");
                return FALSE;
            }
        } else if (c->in_str) {
            if (c->esc) {
                c->esc = FALSE;
            } else if (ch == '\\') {
                c->esc = TRUE;
            } else if (ch == '"') {
                c->in_str = FALSE;
            }
        } else if (ch == '"') {
            c->in_str = TRUE;
        } else if (ch == '{' || ch == '[') {
            c->depth++;
        } else if ((ch == '}' || ch == ']') && --c->depth == 0) {
            if (!enqueue(c, c->buf->str + c->start, i + 1 - c->start, errp)) {
                return FALSE;
            }
            g_string_erase(c->buf, 0, i + 1);
            i = (gsize)-1;
        }
    }
    c->scan = c->buf->len;
    return TRUE;
}

gboolean fdpass_fill(Conn *c, GError **errp)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    char chunk[16384];
    ssize_t n;
    int r;

    do {
        r = poll(&pfd, 1, c->timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                    "no reply from the daemon within %d s",
                    c->timeout_ms / 1000);
        return FALSE;
    }
    do {
        n = r < 0 ? -1 : recv(c->fd, chunk, sizeof(chunk), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                    "the daemon closed the connection%s%s", n < 0 ? ": " : "",
                    n < 0 ? g_strerror(errno) : "");
        return FALSE;
    }
    g_string_append_len(c->buf, chunk, n);
    return split(c, errp);
}

/* The next message that is not an event. */
static JsonNode *recv_message(Conn *c, GError **errp)
{
    while (g_queue_is_empty(&c->msgs)) {
        if (!fdpass_fill(c, errp)) {
            return NULL;
        }
    }
    return g_queue_pop_head(&c->msgs);
}

/* Send @text with @fds (borrowed) in the first sendmsg. */
static gboolean send_text(Conn *c, const char *text, const int *fds, guint nfds,
                          GError **errp)
{
    union {
        char buf[CMSG_SPACE(sizeof(int) * FDPASS_MAX_FDS)];
        struct cmsghdr align;
    } u;
    size_t len = strlen(text), off = 0;

    g_assert(nfds <= FDPASS_MAX_FDS);
    while (off < len) {
        struct iovec iov = {(char *)text + off, len - off};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (off == 0 && nfds) {
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
        if (n < 0) {
            g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                        "cannot send to the daemon: %s", g_strerror(errno));
            return FALSE;
        }
        off += n;
    }
    return TRUE;
}

/*
 * Run one command.  Returns its "return" value (a new node), or NULL with
 * errp set to the daemon's error desc.
 */
JsonNode *qmp_call(Conn *c, const char *text, const int *fds, guint nfds,
                   GError **errp)
{
    g_autoptr(JsonNode) r = NULL;
    JsonObject *o, *err;

    if (!send_text(c, text, fds, nfds, errp) || !(r = recv_message(c, errp))) {
        return NULL;
    }
    o = JSON_NODE_HOLDS_OBJECT(r) ? json_node_get_object(r) : NULL;
    if (o && json_object_has_member(o, "return")) {
        return json_node_copy(json_object_get_member(o, "return"));
    }
    err = o && json_object_has_member(o, "error")
              ? json_object_get_object_member(o, "error")
              : NULL;
    g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED, "%s",
                err && json_object_has_member(err, "desc")
                    ? json_object_get_string_member(err, "desc")
                    : "malformed reply from the daemon");
    return NULL;
}

/* ------------------------------------------------------------ connect */

static void conn_free(Conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
    }
    g_queue_clear_full(&c->msgs, (GDestroyNotify)json_node_unref);
    g_queue_clear_full(&c->events, (GDestroyNotify)json_node_unref);
    g_string_free(c->buf, TRUE);
    g_free(c);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Conn, conn_free)

static Conn *conn_open(const char *path, int timeout_ms, GError **errp)
{
    g_autoptr(Conn) c = g_new0(Conn, 1);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    g_autoptr(JsonNode) greeting = NULL;
    g_autoptr(JsonNode) ret = NULL;

    c->buf = g_string_new(NULL);
    c->timeout_ms = timeout_ms;
    g_queue_init(&c->msgs);
    g_queue_init(&c->events);
    c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (strlen(path) >= sizeof(sa.sun_path)) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_USAGE,
                    "socket path too long: %s", path);
        return NULL;
    }
    strcpy(sa.sun_path, path);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                    "cannot connect to %s: %s", path, g_strerror(errno));
        return NULL;
    }
    greeting = recv_message(c, errp);
    if (!greeting) {
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(greeting) ||
        !json_object_has_member(json_node_get_object(greeting), "QMP")) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                    "%s did not greet with QMP", path);
        return NULL;
    }
    ret = qmp_call(c, "{\"execute\": \"qmp_capabilities\"}", NULL, 0, errp);
    if (!ret) {
        g_prefix_error(errp, "qmp_capabilities: ");
        return NULL;
    }
    return g_steal_pointer(&c);
}

/* ------------------------------------------------------------ options */

gboolean usage_error(GError **errp, const char *fmt, const char *arg)
{
    g_autofree char *msg = g_strdup_printf(fmt, arg);

    g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_USAGE, "%s (see --help)", msg);
    return FALSE;
}

static gboolean parse_mode(const char *s, int *flags, GError **errp)
{
    if (g_str_equal(s, "ro")) {
        *flags = O_RDONLY;
    } else if (g_str_equal(s, "wo")) {
        *flags = O_WRONLY;
    } else if (g_str_equal(s, "rw")) {
        *flags = O_RDWR;
    } else {
        return usage_error(errp, "--mode must be ro, wo or rw, not '%s'", s);
    }
    return TRUE;
}

static gboolean parse_int(const char *opt, const char *s, gint64 *out,
                          GError **errp)
{
    g_autoptr(GError) e = NULL;

    if (!s || !g_ascii_string_to_signed(s, 10, 0, G_MAXINT64, out, &e)) {
        g_autofree char *m = g_strdup_printf("%s needs a number >= 0", opt);
        return usage_error(errp, "%s", m);
    }
    return TRUE;
}

/* Value of the option at argv[*i]; advances *i. */
static const char *opt_value(char **argv, int argc, int *i, GError **errp)
{
    if (*i + 1 >= argc) {
        usage_error(errp, "%s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* Open the attachments (CLOEXEC); on failure closes what it opened. */
static gboolean open_files(const Attach *a, guint n, int *fds, GError **errp)
{
    guint i;

    for (i = 0; i < n; i++) {
        fds[i] = open(a[i].path, a[i].flags | O_CLOEXEC | O_NOCTTY);
        if (fds[i] < 0) {
            int e = errno;
            g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                        "cannot open %s: %s", a[i].path, g_strerror(e));
            while (i-- > 0) {
                close(fds[i]);
            }
            return FALSE;
        }
    }
    return TRUE;
}

static void close_files(int *fds, guint n)
{
    guint i;

    for (i = 0; i < n; i++) {
        close(fds[i]);
    }
}

/* Open the files, run @text with them attached, close them. */
static JsonNode *call_with_files(Conn *c, const char *text, const Attach *a,
                                 guint n, GError **errp)
{
    int fds[FDPASS_MAX_FDS] = {0};
    JsonNode *ret;

    if (!open_files(a, n, fds, errp)) {
        return NULL;
    }
    ret = qmp_call(c, text, fds, n, errp);
    close_files(fds, n); /* the daemon has its own reference now */
    return ret;
}

/* ----------------------------------------------------------- commands */

/* {"execute": @execute, "arguments": @args}; takes @args. */
static JsonNode *command_node(const char *execute, JsonObject *args)
{
    g_autoptr(JsonObject) cmd = json_object_new();

    json_object_set_string_member(cmd, "execute", execute);
    json_object_set_object_member(cmd, "arguments", args);
    return json_node_init_object(json_node_alloc(), cmd);
}

static gboolean cmd_add_fd(Conn *c, int argc, char **argv, GError **errp)
{
    Attach a = {NULL, -1};
    gboolean direct = FALSE, persistent = TRUE;
    g_autoptr(JsonObject) args = json_object_new();
    g_autoptr(JsonNode) ret = NULL, cmd = NULL;
    g_autofree char *text = NULL;
    const char *v;
    gint64 id = -1;
    int i;

    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (g_str_equal(o, "--direct")) {
            direct = TRUE;
        } else if (g_str_equal(o, "--no-persistent")) {
            persistent = FALSE;
        } else if (!g_str_equal(o, "--file") && !g_str_equal(o, "--mode") &&
                   !g_str_equal(o, "--fdset-id") &&
                   !g_str_equal(o, "--opaque")) {
            return usage_error(errp, "add-fd: unknown argument '%s'", o);
        } else if (!(v = opt_value(argv, argc, &i, errp))) {
            return FALSE;
        } else if (g_str_equal(o, "--file")) {
            a.path = v;
        } else if (g_str_equal(o, "--mode")) {
            if (!parse_mode(v, &a.flags, errp)) {
                return FALSE;
            }
        } else if (g_str_equal(o, "--fdset-id")) {
            if (!parse_int(o, v, &id, errp)) {
                return FALSE;
            }
            json_object_set_int_member(args, "fdset-id", id);
        } else {
            json_object_set_string_member(args, "opaque", v);
        }
    }
    if (!a.path || a.flags < 0) {
        return usage_error(errp, "%s", "add-fd needs --file and --mode");
    }
    if (persistent) {
        json_object_set_boolean_member(args, "persistent", TRUE);
    }
    a.flags |= direct ? O_DIRECT : 0;
    cmd = command_node("add-fd", g_steal_pointer(&args));
    text = json_to_string(cmd, FALSE);
    ret = call_with_files(c, text, &a, 1, errp);
    if (!ret) {
        return FALSE;
    }
    printf("fdset-id %" G_GINT64_FORMAT " fd %" G_GINT64_FORMAT "\n",
           json_object_get_int_member(json_node_get_object(ret), "fdset-id"),
           json_object_get_int_member(json_node_get_object(ret), "fd"));
    return TRUE;
}

static void print_member(JsonObject *m)
{
    GString *line = g_string_new(NULL);
    JsonArray *flags;
    guint i;

    g_string_append_printf(line, "  fd %" G_GINT64_FORMAT,
                           json_object_get_int_member(m, "fd"));
    if (json_object_has_member(m, "access-mode")) {
        g_string_append_printf(line, "  %s",
                               json_object_get_string_member(m, "access-mode"));
    }
    flags = json_object_has_member(m, "flags")
                ? json_object_get_array_member(m, "flags")
                : NULL;
    for (i = 0; flags && i < json_array_get_length(flags); i++) {
        g_string_append_printf(line, "%s%s", i ? "," : "  ",
                               json_array_get_string_element(flags, i));
    }
    if (json_object_has_member(m, "ino")) {
        g_string_append_printf(
            line, "  dev %" G_GINT64_FORMAT " ino %" G_GINT64_FORMAT,
            json_object_get_int_member(m, "dev"),
            json_object_get_int_member(m, "ino"));
    }
    if (json_object_has_member(m, "persistent") &&
        json_object_get_boolean_member(m, "persistent")) {
        g_string_append(line, "  persistent");
    }
    if (json_object_has_member(m, "opaque")) {
        g_autoptr(JsonNode) op =
            json_node_copy(json_object_get_member(m, "opaque"));
        g_autofree char *q = json_to_string(op, FALSE);
        g_string_append_printf(line, "  opaque %s", q);
    }
    printf("%s\n", line->str);
    g_string_free(line, TRUE);
}

static void print_fdsets(JsonArray *sets)
{
    guint i, j;

    if (json_array_get_length(sets) == 0) {
        printf("no fdsets\n");
    }
    for (i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *s = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(s, "fds");

        printf("fdset %" G_GINT64_FORMAT,
               json_object_get_int_member(s, "fdset-id"));
        if (json_object_has_member(s, "dup-count")) {
            printf("  (%" G_GINT64_FORMAT " in use)",
                   json_object_get_int_member(s, "dup-count"));
        }
        printf("%s\n", json_array_get_length(fds) ? "" : "  no members");
        for (j = 0; j < json_array_get_length(fds); j++) {
            print_member(json_array_get_object_element(fds, j));
        }
    }
}

static gboolean cmd_query(Conn *c, int argc, char **argv, GError **errp)
{
    gboolean json = argc == 2 && g_str_equal(argv[1], "--json");
    g_autoptr(JsonNode) ret = NULL;

    if (argc > 2 || (argc == 2 && !json)) {
        return usage_error(errp, "query-fdsets: unknown argument '%s'",
                           argv[1]);
    }
    ret = qmp_call(c, "{\"execute\": \"query-fdsets\"}", NULL, 0, errp);
    if (!ret) {
        return FALSE;
    }
    if (json) {
        g_autofree char *text = json_to_string(ret, TRUE);
        printf("%s\n", text);
    } else if (JSON_NODE_HOLDS_ARRAY(ret)) {
        print_fdsets(json_node_get_array(ret));
    }
    return TRUE;
}

static gboolean cmd_remove(Conn *c, int argc, char **argv, GError **errp)
{
    gint64 id = -1, fd = -1;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *text = NULL;
    const char *v;
    int i;

    for (i = 1; i < argc; i++) {
        gint64 *dst = g_str_equal(argv[i], "--fdset-id") ? &id
                      : g_str_equal(argv[i], "--fd")     ? &fd
                                                         : NULL;
        if (!dst) {
            return usage_error(errp, "remove-fd: unknown argument '%s'",
                               argv[i]);
        }
        if (!(v = opt_value(argv, argc, &i, errp)) ||
            !parse_int(argv[i - 1], v, dst, errp)) {
            return FALSE;
        }
    }
    if (id < 0) {
        return usage_error(errp, "%s", "remove-fd needs --fdset-id");
    }
    if (fd >= 0) {
        text = g_strdup_printf("{\"execute\": \"remove-fd\", \"arguments\": "
                               "{\"fdset-id\": %" G_GINT64_FORMAT ", \"fd\": "
                               "%" G_GINT64_FORMAT "}}",
                               id, fd);
    } else {
        text = g_strdup_printf("{\"execute\": \"remove-fd\", \"arguments\": "
                               "{\"fdset-id\": %" G_GINT64_FORMAT "}}",
                               id);
    }
    ret = qmp_call(c, text, NULL, 0, errp);
    return ret != NULL;
}

/* Check that @json is one QMP command object before sending it. */
static gboolean check_command(const char *json, GError **errp)
{
    g_autoptr(JsonNode) root = json_from_string(json, NULL);

    if (!root || !JSON_NODE_HOLDS_OBJECT(root) ||
        !json_object_has_member(json_node_get_object(root), "execute")) {
        return usage_error(errp, "qmp: not a JSON command object: %s", json);
    }
    return TRUE;
}

static gboolean cmd_qmp(Conn *c, int argc, char **argv, GError **errp)
{
    Attach a[FDPASS_MAX_FDS];
    guint n = 0;
    g_autoptr(JsonNode) ret = NULL;
    g_autofree char *out = NULL;
    g_autofree char *job = NULL;
    gboolean wait = FALSE;
    const char *v;
    int i;

    if (argc < 2 || !check_command(argv[1], errp)) {
        return argc < 2 ? usage_error(errp, "%s", "qmp needs a command")
                        : FALSE;
    }
    for (i = 2; i < argc; i++) {
        if (g_str_equal(argv[i], "--wait")) {
            wait = TRUE;
        } else if (g_str_equal(argv[i], "--direct") && n) {
            a[n - 1].flags |= O_DIRECT;
        } else if (g_str_equal(argv[i], "--file") && n < FDPASS_MAX_FDS) {
            if (!(v = opt_value(argv, argc, &i, errp))) {
                return FALSE;
            }
            a[n++] = (Attach){v, -1};
        } else if (g_str_equal(argv[i], "--mode") && n &&
                   a[n - 1].flags == -1) {
            if (!(v = opt_value(argv, argc, &i, errp)) ||
                !parse_mode(v, &a[n - 1].flags, errp)) {
                return FALSE;
            }
        } else {
            return usage_error(errp, "qmp: unexpected argument '%s'", argv[i]);
        }
    }
    for (i = 0; i < (int)n; i++) {
        if (a[i].flags == -1) {
            return usage_error(errp, "qmp: --file %s needs --mode", a[i].path);
        }
    }
    if (wait && !(job = fdpass_job_id_of(argv[1], errp))) {
        return FALSE;
    }
    c->keep_events = wait; /* a quick job's events come before the reply */
    ret = call_with_files(c, argv[1], a, n, errp);
    if (!ret) {
        return FALSE;
    }
    out = json_to_string(ret, TRUE);
    printf("%s\n", out);
    return !job || fdpass_job_wait(c, job, errp);
}

static gboolean run_command(Conn *c, int argc, char **argv, GError **errp)
{
    const char *cmd = argv[0];

    if (g_str_equal(cmd, "add-fd")) {
        return cmd_add_fd(c, argc, argv, errp);
    } else if (g_str_equal(cmd, "query-fdsets")) {
        return cmd_query(c, argc, argv, errp);
    } else if (g_str_equal(cmd, "remove-fd")) {
        return cmd_remove(c, argc, argv, errp);
    } else if (g_str_equal(cmd, "qmp")) {
        return cmd_qmp(c, argc, argv, errp);
    } else if (g_str_equal(cmd, "job-wait")) {
        if (argc != 2) {
            return usage_error(errp, "%s", "job-wait needs a job ID");
        }
        c->keep_events = TRUE;
        return fdpass_job_wait(c, argv[1], errp);
    }
    return usage_error(errp, "unknown command '%s'", cmd);
}

/* One line of a session: a command in shell quoting, or raw JSON. */
static gboolean session_line(Conn *c, const char *line, GError **errp)
{
    g_auto(GStrv) argv = NULL;
    int argc;

    if (*line == '{') {
        char *qargv[] = {(char *)"qmp", (char *)line, NULL};
        return cmd_qmp(c, 2, qargv, errp);
    }
    if (!g_shell_parse_argv(line, &argc, &argv, errp)) {
        g_prefix_error(errp, "cannot split '%s': ", line);
        return FALSE;
    }
    if (g_str_equal(argv[0], "session")) {
        return usage_error(errp, "%s", "session cannot nest");
    }
    return run_command(c, argc, argv, errp);
}

static gboolean session(Conn *c, GError **errp)
{
    g_autoptr(GIOChannel) in = g_io_channel_unix_new(STDIN_FILENO);
    GIOStatus st;

    g_io_channel_set_encoding(in, NULL, NULL);

    for (;;) {
        g_autofree char *line = NULL;
        char *l;

        st = g_io_channel_read_line(in, &line, NULL, NULL, errp);
        if (st == G_IO_STATUS_EOF) {
            return TRUE;
        }
        if (st != G_IO_STATUS_NORMAL) {
            return FALSE;
        }
        l = g_strstrip(line);
        if (*l == '\0' || *l == '#') {
            continue;
        }
        if (!session_line(c, l, errp)) {
            return FALSE;
        }
        fflush(stdout);
    }
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(Conn) c = NULL;
    gint64 timeout = 30;
    int i = 1;
    gboolean ok;

    if (argc > 1 &&
        (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc > 2 && g_str_equal(argv[1], "--timeout")) {
        if (!parse_int("--timeout", argv[2], &timeout, &err)) {
            goto fail;
        }
        i = 3;
    }
    if (argc - i < 2) {
        fputs(usage_text, stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    c = conn_open(argv[i], timeout ? (int)MIN(timeout, 86400) * 1000 : -1,
                  &err);
    if (!c) {
        goto fail;
    }
    if (g_str_equal(argv[i + 1], "session") && argc - i == 2) {
        ok = session(c, &err);
    } else {
        ok = run_command(c, argc - i - 1, argv + i + 1, &err);
    }
    if (ok) {
        return 0;
    }
fail:
    fprintf(stderr, "fdpass: %s\n", err->message);
    return err->domain == FDPASS_ERROR && err->code == FDPASS_ERR_USAGE ? 2 : 1;
}
