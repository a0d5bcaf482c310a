/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Hostile clients: one test per kind of bad behaviour on the QMP socket.
 *
 * Every test starts a daemon with a well-behaved control client, lets a
 * hostile client loose on it, and then checks three things:
 *  - where a reply is due, it is a clear error (class and text);
 *  - the daemon still answers another client (a fresh connection);
 *  - nothing leaked: once the hostile connections are gone the daemon holds
 *    exactly the fds it held before (by count, and the regular files it
 *    holds match query-fdsets).
 *
 * Hostile clients talk through raw sockets (RawClient below) rather than
 * libqtest's connections, because they do what libqtest never would: more
 * than 32 fds in one message, half-closes, never reading, byte-by-byte
 * writes.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libqtest.h"

#define NEED_CAPS "Expecting capabilities negotiation with 'qmp_capabilities'"
#define CTRUNC_MESSAGE                                                         \
    "File descriptors sent with this command were lost (MSG_CTRUNC): more "    \
    "than 253 in one message, or fdsetd is out of file descriptors"
#define RECV_TIMEOUT_MS 10000
#define SETTLE_MS 5000

/* ---- a daemon with a control client ---------------------------------- */

typedef struct Hostile {
    QTestState *s;
    QTestConn *ctl; /* well-behaved client, connected throughout */
    guint base_fds; /* daemon fds with only @ctl connected */
    char *scratch;  /* a regular file to send as fds */
} Hostile;

static Hostile *h_start_full(const char *args, guint n_monitors)
{
    Hostile *h = g_new0(Hostile, 1);

    h->s = qtest_spawn_full(args, n_monitors, NULL, 0);
    h->ctl = qtest_connect(h->s, 0);
    h->base_fds = qtest_count_fds(h->s);
    h->scratch = qtest_make_file(h->s, "scratch.img", 4096, 0x5a);
    return h;
}

static Hostile *h_start(const char *args)
{
    return h_start_full(args, 1);
}

/* Wait until the daemon holds @want fds; false after SETTLE_MS. */
static bool wait_fd_count(QTestState *s, guint want)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_MS * 1000LL;

    while (qtest_count_fds(s) != want) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(5000);
    }
    return true;
}

/* "fd -> target" lines of what the daemon holds, for failure messages. */
static char *daemon_fd_list(QTestState *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qtest_pid(s));
    GDir *d = g_dir_open(dir, 0, NULL);
    GString *out = g_string_new(NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *p = g_strdup_printf("%s/%s", dir, name);
        g_autofree char *t = g_file_read_link(p, NULL);

        g_string_append_printf(out, " %s->%s", name, t ? t : "?");
    }
    if (d) {
        g_dir_close(d);
    }
    return g_string_free(out, FALSE);
}

static void assert_fd_count(Hostile *h, guint want, const char *when)
{
    if (!wait_fd_count(h->s, want)) {
        g_autofree char *list = daemon_fd_list(h->s);

        ck_abort_msg("%s: daemon holds %u fds, expected %u:%s", when,
                     qtest_count_fds(h->s), want, list);
    }
}

/* Another client is served: a fresh connection, negotiated, answered. */
static void assert_still_serving(Hostile *h)
{
    QTestConn *c = qtest_connect(h->s, 0);
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-version'}");

    ck_assert_msg(qtest_return_object(r), "fresh client not served");
    json_node_unref(r);
    qtest_disconnect(c);
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'query-fdsets'}"));
}

/*
 * The end of every test: served, no leak, clean exit.  The caller has
 * closed its hostile connections.
 */
static void h_finish(Hostile *h)
{
    assert_still_serving(h);
    assert_fd_count(h, h->base_fds, "after the hostile client left");
    qtest_assert_fds_match_registry(h->s, h->ctl, 0);
    ck_assert_int_eq(qtest_quit(h->s), 0);
    g_free(h->scratch);
    g_free(h);
}

/* @n fresh descriptions of the scratch file; close with close_fds(). */
static int *open_fds(Hostile *h, guint n)
{
    int *fds = g_new(int, n);

    for (guint i = 0; i < n; i++) {
        fds[i] = qtest_open_file(h->s, h->scratch, O_RDONLY);
    }
    return fds;
}

static void close_fds(int *fds, guint n)
{
    for (guint i = 0; i < n; i++) {
        close(fds[i]);
    }
    g_free(fds);
}

/* ---- raw clients ------------------------------------------------------ */

typedef struct RawClient {
    int fd;
    GString *in; /* received, not yet split */
    bool eof;
} RawClient;

static RawClient *raw_connect(Hostile *h, guint monitor)
{
    const char *path = qtest_socket_path(h->s, monitor);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    RawClient *rc = g_new0(RawClient, 1);

    rc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(rc->fd, 0);
    ck_assert_uint_lt(strlen(path), sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    ck_assert_msg(connect(rc->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0,
                  "connect %s: %s", path, g_strerror(errno));
    rc->in = g_string_new(NULL);
    return rc;
}

static void raw_close(RawClient *rc)
{
    if (rc->fd >= 0) {
        close(rc->fd);
    }
    g_string_free(rc->in, TRUE);
    g_free(rc);
}

/*
 * One sendmsg carrying @fds (up to 253) with the first bytes, then the
 * rest.  Returns false if the peer is gone (EPIPE/ECONNRESET).
 */
static bool raw_send_fds(RawClient *rc, const void *buf, size_t len,
                         const int *fds, guint nfds)
{
    size_t cbuf_len = CMSG_SPACE(sizeof(int) * 253);
    g_autofree char *cbuf = g_malloc0(cbuf_len);
    size_t off = 0;

    ck_assert_uint_le(nfds, 253);
    ck_assert(len > 0);
    while (off < len) {
        struct iovec iov = {.iov_base = (char *)buf + off,
                            .iov_len = len - off};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n;

        if (off == 0 && nfds) {
            struct cmsghdr *cm;

            msg.msg_control = cbuf;
            msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
            cm = CMSG_FIRSTHDR(&msg);
            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
            memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
        }
        n = sendmsg(rc->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
            return false;
        }
        ck_assert_msg(n > 0, "sendmsg: %s", g_strerror(errno));
        off += n;
    }
    return true;
}

static void raw_send(RawClient *rc, const char *text)
{
    ck_assert(raw_send_fds(rc, text, strlen(text), NULL, 0));
}

/* Read what arrives within @timeout_ms (0: what is there); false at EOF. */
static bool raw_fill(RawClient *rc, int timeout_ms)
{
    struct pollfd pfd = {.fd = rc->fd, .events = POLLIN};
    char buf[65536];
    ssize_t n;

    if (rc->eof || poll(&pfd, 1, timeout_ms) <= 0) {
        return !rc->eof;
    }
    n = recv(rc->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return true;
    }
    if (n <= 0) {
        rc->eof = true;
        return false;
    }
    g_string_append_len(rc->in, buf, n);
    return true;
}

/* The daemon ends every message with CRLF. */
static JsonNode *raw_take_line(RawClient *rc)
{
    char *nl = memchr(rc->in->str, '\n', rc->in->len);
    g_autoptr(GError) err = NULL;
    g_autofree char *head = NULL, *shown = NULL;
    JsonNode *node;
    gsize len;

    if (!nl) {
        return NULL;
    }
    len = nl - rc->in->str + 1;
    head = g_strndup(rc->in->str, MIN(len, 300));
    shown = g_strescape(head, NULL);
    ck_assert_msg(g_utf8_validate(rc->in->str, len, NULL),
                  "daemon sent invalid UTF-8: %s", shown);
    node = json_parse_strict(rc->in->str, len, &err);
    ck_assert_msg(node, "daemon sent invalid JSON (%s): %s", err->message,
                  shown);
    /* the parser refuses them too; this names the byte */
    for (gsize i = 0; i + 2 < len; i++) {
        ck_assert_msg((unsigned char)rc->in->str[i] >= 0x20,
                      "daemon sent a raw control character 0x%02x at %zu: "
                      "%s",
                      rc->in->str[i], i, shown);
    }
    g_string_erase(rc->in, 0, len);
    return node;
}

/* Next message (greeting, reply or event); NULL on EOF or timeout. */
static JsonNode *raw_recv(RawClient *rc, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;
    JsonNode *n;

    while (!(n = raw_take_line(rc))) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        if (left <= 0 || !raw_fill(rc, (int)left)) {
            return raw_take_line(rc);
        }
    }
    return n;
}

static JsonNode *raw_recv_must(RawClient *rc)
{
    JsonNode *n = raw_recv(rc, RECV_TIMEOUT_MS);

    ck_assert_msg(n, "no message from the daemon (%s)",
                  rc->eof ? "EOF" : "timeout");
    return n;
}

/* True once the daemon closed the connection (within @timeout_ms). */
static bool raw_wait_eof(RawClient *rc, int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * 1000LL;

    while (!rc->eof && g_get_monotonic_time() < deadline) {
        raw_fill(rc, 50);
        g_string_truncate(rc->in, 0);
    }
    return rc->eof;
}

static RawClient *raw_open(Hostile *h, bool negotiate)
{
    RawClient *rc = raw_connect(h, 0);
    JsonNode *g = raw_recv_must(rc);

    ck_assert_msg(json_object_has_member(json_node_get_object(g), "QMP"),
                  "no greeting");
    json_node_unref(g);
    if (negotiate) {
        raw_send(rc, "{\"execute\": \"qmp_capabilities\"}");
        qtest_assert_success(raw_recv_must(rc));
    }
    return rc;
}

/* Send @text and expect the error reply @cls / @desc. */
static void raw_expect_error(RawClient *rc, const char *text, const char *cls,
                             const char *desc)
{
    raw_send(rc, text);
    qtest_assert_error(raw_recv_must(rc), cls, desc);
}

/* Expect an error reply whose text starts with @prefix; unrefs it. */
static void assert_error_prefix(JsonNode *r, const char *prefix)
{
    g_autofree char *text = json_to_string(r, FALSE);
    const char *cls = qtest_error_class(r);
    const char *desc = qtest_error_desc(r);

    ck_assert_msg(cls && desc && g_str_equal(cls, "GenericError") &&
                      g_str_has_prefix(desc, prefix),
                  "expected GenericError \"%s...\", got %s", prefix, text);
    json_node_unref(r);
}

/* Expect an error reply of any class; unrefs it. */
static void assert_any_error(JsonNode *r, const char *what)
{
    g_autofree char *text = json_to_string(r, FALSE);

    ck_assert_msg(qtest_error_class(r) && qtest_error_desc(r),
                  "%s: expected an error, got %s", what, text);
    json_node_unref(r);
}

/* The connection answers a plain command correctly. */
static void raw_assert_usable(RawClient *rc)
{
    JsonNode *r;

    raw_send(rc, "{\"execute\": \"query-version\", \"id\": \"usable\"}");
    r = raw_recv_must(rc);
    ck_assert_msg(qtest_return_object(r), "connection not usable");
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(r), "id"), "usable");
    json_node_unref(r);
}

static char *repeat(const char *unit, guint n)
{
    GString *s = g_string_sized_new(strlen(unit) * n + 1);

    for (guint i = 0; i < n; i++) {
        g_string_append(s, unit);
    }
    return g_string_free(s, FALSE);
}

/* Number of sets query-fdsets lists. */
static guint n_fdsets(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    guint n = json_array_get_length(qtest_return_array(r));

    json_node_unref(r);
    return n;
}

/*
 * Send @text, then a probe; every reply before the probe's must be a
 * GenericError starting with @prefix.  Returns how many there were.
 */
static guint errors_then_usable(RawClient *rc, const void *text, size_t len,
                                const char *prefix)
{
    guint n = 0;
    JsonNode *r;

    ck_assert(raw_send_fds(rc, text, len, NULL, 0));
    raw_send(rc, "\n{\"execute\": \"query-version\", \"id\": \"probe\"}");
    while ((r = raw_recv_must(rc)) && !qtest_return_object(r)) {
        assert_error_prefix(r, prefix);
        n++;
    }
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(r), "id"), "probe");
    json_node_unref(r);
    return n;
}

/* Run @cmd in the scratch dir; its exit status. */
static int sh(Hostile *h, const char *cmd)
{
    g_autofree char *full =
        g_strdup_printf("cd '%s' && %s", qtest_tmpdir(h->s), cmd);
    const char *argv[] = {"/bin/sh", "-c", full, NULL};
    int status = -1;

    ck_assert(
        g_spawn_sync(NULL, (char **)argv, NULL,
                     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- bytes that are not JSON ------------------------------------------ */

START_TEST(test_garbage_bytes)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    static const char junk[] = "@@@ ### %%% !!!\n";

    ck_assert_uint_ge(
        errors_then_usable(rc, junk, strlen(junk), "JSON parse error, "), 1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Random bytes with no bracket or quote (so they end): errors, no hang. */
START_TEST(test_binary_noise)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autoptr(GRand) rand = g_rand_new_with_seed(6);
    char buf[8192];

    for (guint i = 0; i < sizeof(buf); i++) {
        char c;
        do {
            c = (char)g_rand_int_range(rand, 0, 256);
        } while (strchr("{}[]\"'", c) && c); /* no value can start */
        buf[i] = c;
    }
    buf[sizeof(buf) - 1] = '\n';
    ck_assert_uint_ge(
        errors_then_usable(rc, buf, sizeof(buf), "JSON parse error, "), 1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Random bytes of every value, then the client leaves mid-whatever. */
START_TEST(test_binary_noise_then_disconnect)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autoptr(GRand) rand = g_rand_new_with_seed(7);
    g_autofree char *buf = g_malloc(65536);

    for (guint i = 0; i < 65536; i++) {
        buf[i] = (char)g_rand_int_range(rand, 0, 256);
    }
    raw_send_fds(rc, buf, 65536, NULL, 0);
    raw_close(rc);
    h_finish(h);
}
END_TEST

static void check_invalid_utf8(const char *bytes)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *msg = g_strdup_printf(
        "{\"execute\": \"query-version\", \"id\": \"%s\"}", bytes);

    raw_expect_error(rc, msg, "GenericError",
                     "JSON parse error, invalid UTF-8 sequence");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}

START_TEST(test_invalid_utf8_in_string)
{
    check_invalid_utf8("\xff\xfe");
}
END_TEST

START_TEST(test_overlong_utf8)
{
    check_invalid_utf8("\xc0\xaf");
}
END_TEST

START_TEST(test_utf8_encoded_surrogate)
{
    check_invalid_utf8("\xed\xa0\x80");
}
END_TEST

START_TEST(test_truncated_utf8_sequence)
{
    check_invalid_utf8("\xe2\x82");
}
END_TEST

START_TEST(test_invalid_utf8_outside_string)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    ck_assert_uint_ge(
        errors_then_usable(rc, "\xff\xfe\n", 3, "JSON parse error, "), 1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* A raw NUL byte, inside a string and between values. */
START_TEST(test_nul_bytes)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    static const char in_string[] =
        "{\"execute\": \"query-version\", \"id\": \"a\0b\"}";
    static const char bare[] = "\0\n";

    ck_assert_uint_eq(errors_then_usable(rc, in_string, sizeof(in_string) - 1,
                                         "JSON parse error, "),
                      1);
    ck_assert_uint_eq(
        errors_then_usable(rc, bare, sizeof(bare) - 1, "JSON parse error, "),
        1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * "\u0000" is valid JSON.  Whatever the daemon does with it, it must not
 * silently store something else than it was given: an opaque either comes
 * back from query-fdsets as sent, or add-fd fails.
 */
START_TEST(test_escaped_nul_in_opaque)
{
    Hostile *h = h_start(NULL);
    int *fd = open_fds(h, 1);
    JsonNode *r = qtest_qmp_fds(h->ctl, fd, 1,
                                "{'execute': 'add-fd', 'arguments': "
                                "{'opaque': 'x\\u0000y'}}");

    if (qtest_return_object(r)) {
        JsonNode *q = qtest_query_fdsets(h->ctl);
        JsonArray *sets = qtest_return_array(q);
        JsonObject *m = json_array_get_object_element(
            json_object_get_array_member(json_array_get_object_element(sets, 0),
                                         "fds"),
            0);
        JsonNode *opn = json_object_get_member(m, "opaque");
        /* node strings are NUL-terminated: compare the JSON text */
        g_autofree char *text = opn ? json_to_string(opn, FALSE) : NULL;

        ck_assert_msg(text && g_str_equal(text, "\"x\\u0000y\""),
                      "opaque stored as %s, sent \"x\\u0000y\"",
                      text ? text : "(none)");
        json_node_unref(q);
        qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'remove-fd', "
                                               "'arguments': "
                                               "{'fdset-id': 0}}"));
    } else {
        assert_error_prefix(json_node_ref(r), "");
    }
    json_node_unref(r);
    close_fds(fd, 1);
    h_finish(h);
}
END_TEST

/* ---- JSON that is not a request ---------------------------------------- */

START_TEST(test_not_an_object)
{
    static const char *const values[] = {
        "[1, 2, 3]", "[]",           "42",
        "-1.5e3",    "\"a string\"", "true",
        "false",     "null",         "[{\"execute\": \"quit\"}]",
        NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; values[i]; i++) {
        g_autofree char *msg = g_strdup_printf("%s\n", values[i]);
        raw_expect_error(rc, msg, "GenericError",
                         "QMP input must be a JSON object");
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_invalid_keyword)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    raw_expect_error(rc, "nope\n", "GenericError",
                     "JSON parse error, invalid keyword 'nope'");
    raw_expect_error(rc, "True\n", "GenericError",
                     "JSON parse error, invalid keyword 'True'");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_stray_closers)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    raw_expect_error(rc, "}", "GenericError",
                     "JSON parse error, expecting value");
    raw_expect_error(rc, "]", "GenericError",
                     "JSON parse error, expecting value");
    ck_assert_uint_eq(errors_then_usable(rc, "]]]]}}}}", 8,
                                         "JSON parse error, expecting value"),
                      8);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_malformed_objects)
{
    static const char *const bad[] = {"{\"execute\": }",
                                      "{\"execute\" \"x\"}",
                                      "{,}",
                                      "{\"a\": 1,}",
                                      "{\"a\": [1, 2,]}",
                                      "{1: 2}",
                                      "{\"a\": tru}",
                                      "{\"a\": +1}",
                                      "{\"a\": \"\\u12\"}",
                                      "{\"a\": NaN}",
                                      "{\"a\": Infinity}",
                                      "{\"a\": 1e}",
                                      "{\"a\": // c\n 1}",
                                      NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; bad[i]; i++) {
        raw_send(rc, bad[i]);
        assert_error_prefix(raw_recv_must(rc), "JSON parse error, ");
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * Not JSON, and refused by QEMU 7.2, whose grammar a compatible daemon
 * speaks: leading zeros, "1." and ".5", hex, unknown escapes, a lone
 * surrogate, raw control characters in strings, comments.
 */
START_TEST(test_lenient_json_refused)
{
    static const char *const bad[] = {
        "{\"id\": \"\\q\"}",     "{\"id\": \"\\x41\"}",
        "{\"id\": \"\\ud800\"}", "{\"id\": 01}",
        "{\"id\": 1.}",          "{\"id\": .5}",
        "{\"id\": 0x10}",        "{\"id\": \"\t\"}",
        "{\"id\": /* c */ 1}",   NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; bad[i]; i++) {
        g_autofree char *msg = g_strdup_printf(
            "{\"execute\": \"query-version\", \"arguments\": %s}", bad[i]);
        JsonNode *r;

        raw_send(rc, msg);
        r = raw_recv_must(rc);
        ck_assert_msg(
            qtest_error_desc(r) &&
                g_str_has_prefix(qtest_error_desc(r), "JSON parse error, "),
            "%s accepted as JSON (%s)", bad[i],
            qtest_error_desc(r) ? qtest_error_desc(r) : "ran");
        json_node_unref(r);
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * A duplicate member must not smuggle a second command past whatever read
 * the first one (QEMU 7.2: "JSON parse error, duplicate key").
 */
START_TEST(test_duplicate_key)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    raw_expect_error(rc,
                     "{\"execute\": \"query-version\", "
                     "\"execute\": \"query-commands\"}",
                     "GenericError", "JSON parse error, duplicate key");
    raw_expect_error(rc,
                     "{\"execute\": \"remove-fd\", \"arguments\": "
                     "{\"fdset-id\": 0, \"fdset-id\": 1}}",
                     "GenericError", "JSON parse error, duplicate key");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* An integer too large for int64 is not silently another integer. */
START_TEST(test_integer_overflow)
{
    static const char *const big[] = {
        "99999999999999999999999", "18446744073709551615",
        "9223372036854775808", "-9223372036854775809", NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; big[i]; i++) {
        g_autofree char *msg =
            g_strdup_printf("{\"execute\": \"remove-fd\", \"arguments\": "
                            "{\"fdset-id\": %s}}",
                            big[i]);
        raw_expect_error(rc, msg, "GenericError",
                         "Invalid parameter type for 'fdset-id', "
                         "expected: integer");
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Floats where integers go, and non-finite numbers anywhere. */
static const char *const float_ids[] = {
    "1e999", "-1e999", "1e19", "-1e22", "1e300", "1.5e16", "0.1", "2.5",
};

START_TEST(test_float_arguments)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    JsonNode *r;

    raw_expect_error(rc,
                     "{\"execute\": \"remove-fd\", \"arguments\": "
                     "{\"fdset-id\": 1.0}}",
                     "GenericError",
                     "Invalid parameter type for "
                     "'fdset-id', expected: integer");
    raw_expect_error(rc,
                     "{\"execute\": \"remove-fd\", \"arguments\": "
                     "{\"fdset-id\": 1e999}}",
                     "GenericError",
                     "Invalid parameter type for "
                     "'fdset-id', expected: integer");
    /* an id is echoed: whatever comes back must still be JSON (and the
     * same number, a finite stand-in for an infinite one) */
    for (guint i = 0; i < G_N_ELEMENTS(float_ids); i++) {
        g_autofree char *msg = g_strdup_printf(
            "{\"execute\": \"query-version\", \"id\": %s}", float_ids[i]);
        JsonNode *id;
        double want = g_ascii_strtod(float_ids[i], NULL);

        raw_send(rc, msg);
        r = raw_recv_must(rc);
        id = json_object_get_member(json_node_get_object(r), "id");
        ck_assert_msg(id && JSON_NODE_HOLDS_VALUE(id), "id %s lost",
                      float_ids[i]);
        if (isfinite(want)) {
            ck_assert_msg(json_node_get_double(id) == want,
                          "id %s came back as %g", float_ids[i],
                          json_node_get_double(id));
        }
        json_node_unref(r);
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Errors that quote what the client sent stay UTF-8 JSON. */
START_TEST(test_error_text_stays_json)
{
    static const char *const msgs[] = {
        "{\"execute\": \"query-version\", \"id\": \"\\\xc3\xa9\"}",
        "{\"execute\": \"query-version\", \"id\": \"\\\xe2\x82\xac\"}",
        "{\"execute\": \"query-version\", \"id\": \"\\\xf0\x9f\x98\x80\"}",
        "\xc3\xa9\n",
        "{\"\xc3\xa9\": 1}",
        "{\"execute\": \"\xe2\x82\xac\"}",
        "{\"execute\": \"remove-fd\", \"arguments\": {\"\xc3\xa9\": 1}}",
        "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": "
        "\"\xe2\x82\xac\"}}",
    };
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; i < G_N_ELEMENTS(msgs); i++) {
        raw_send(rc, msgs[i]);
        /* raw_recv checks UTF-8 and JSON */
        assert_any_error(raw_recv_must(rc), msgs[i]);
    }
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* ---- size and depth ------------------------------------------------------ */

static char *nested(guint depth)
{
    g_autofree char *open = repeat("[", depth);
    g_autofree char *close = repeat("]", depth);

    return g_strconcat(open, close, NULL);
}

/* Depth 64 is allowed (and then not an object); 65 is too deep. */
START_TEST(test_nesting_at_limit)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *ok = nested(64);
    g_autofree char *deep = nested(65);

    raw_expect_error(rc, ok, "GenericError", "QMP input must be a JSON object");
    raw_expect_error(rc, deep, "GenericError",
                     "JSON parse error, nesting too deep (limit 64)");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Deep inside a request's arguments, with objects. */
START_TEST(test_nesting_in_arguments)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *open = repeat("{\"a\": ", 200);
    g_autofree char *close = repeat("}", 200);
    g_autofree char *msg = g_strdup_printf(
        "{\"execute\": \"query-version\", \"arguments\": %s1%s}", open, close);

    raw_expect_error(rc, msg, "GenericError",
                     "JSON parse error, nesting too deep (limit 64)");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* 200000 levels, closed: skipped in one error, no recursion blow-up. */
START_TEST(test_nesting_huge)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *deep = nested(200000);

    ck_assert_uint_eq(errors_then_usable(rc, deep, strlen(deep),
                                         "JSON parse error, nesting too "
                                         "deep"),
                      1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Millions of opening brackets that never close, then the client leaves;
 * meanwhile others are served. */
START_TEST(test_nesting_unclosed_then_disconnect)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *open = repeat("[", 4 * 1024 * 1024);

    ck_assert(raw_send_fds(rc, open, strlen(open), NULL, 0));
    assert_still_serving(h);
    raw_close(rc);
    h_finish(h);
}
END_TEST

static char *message_of_size(gsize size)
{
    static const char head[] = "{\"execute\": \"query-version\", \"id\": \"";
    static const char tail[] = "\"}";
    gsize pad = size - strlen(head) - strlen(tail);
    g_autofree char *x = g_malloc(pad + 1);

    memset(x, 'x', pad);
    x[pad] = 0;
    return g_strconcat(head, x, tail, NULL);
}

START_TEST(test_message_too_large_default)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *big = message_of_size(1024 * 1024 + 1);

    raw_expect_error(rc, big, "GenericError",
                     "JSON parse error, message too large "
                     "(limit 1048576 bytes)");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* With a small limit: exactly at it is fine, one byte more is not. */
START_TEST(test_message_size_edge)
{
    Hostile *h = h_start("--max-message-size 4096");
    RawClient *rc = raw_open(h, true);
    g_autofree char *at = message_of_size(4096);
    g_autofree char *over = message_of_size(4097);
    JsonNode *r;

    raw_send(rc, at);
    r = raw_recv_must(rc);
    ck_assert_msg(qtest_return_object(r), "a 4096-byte message refused");
    json_node_unref(r);
    raw_expect_error(rc, over, "GenericError",
                     "JSON parse error, message too large "
                     "(limit 4096 bytes)");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Bare tokens and strings at top level are bounded as well. */
START_TEST(test_huge_top_level_tokens)
{
    Hostile *h = h_start("--max-message-size 65536");
    RawClient *rc = raw_open(h, true);
    g_autofree char *digits = repeat("1", 200000);
    g_autofree char *word = repeat("a", 200000);
    g_autofree char *body = repeat("s", 200000);
    g_autofree char *str = g_strdup_printf("\"%s\"", body);
    const char *too_large = "JSON parse error, message too large "
                            "(limit 65536 bytes)";

    ck_assert_uint_eq(errors_then_usable(rc, digits, strlen(digits), too_large),
                      1);
    ck_assert_uint_eq(errors_then_usable(rc, word, strlen(word), too_large), 1);
    ck_assert_uint_eq(errors_then_usable(rc, str, strlen(str), too_large), 1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Megabytes of blanks: nothing to answer, nothing buffered. */
START_TEST(test_whitespace_flood)
{
    Hostile *h = h_start("--max-message-size 4096");
    RawClient *rc = raw_open(h, true);
    g_autofree char *blanks = repeat(" \t\r\n", 2 * 1024 * 1024);

    ck_assert(raw_send_fds(rc, blanks, strlen(blanks), NULL, 0));
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* A 1000000-byte id comes back as it was. */
START_TEST(test_huge_id)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *id = repeat("i", 1000000);
    g_autofree char *msg =
        g_strdup_printf("{\"execute\": \"query-version\", \"id\": \"%s\"}", id);
    JsonNode *r;

    raw_send(rc, msg);
    r = raw_recv_must(rc);
    ck_assert(qtest_return_object(r));
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(r), "id"), id);
    json_node_unref(r);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* The next line as sent (without CRLF); fails after RECV_TIMEOUT_MS. */
static char *raw_recv_text(RawClient *rc)
{
    gint64 deadline = g_get_monotonic_time() + RECV_TIMEOUT_MS * 1000LL;
    char *nl;

    while (!(nl = memchr(rc->in->str, '\n', rc->in->len))) {
        gint64 left = (deadline - g_get_monotonic_time()) / 1000;

        ck_assert_msg(left > 0 && raw_fill(rc, (int)left),
                      "no line from the daemon");
    }
    {
        gsize len = nl - rc->in->str + 1;
        char *line = g_strndup(rc->in->str, len);

        g_string_erase(rc->in, 0, len);
        g_strchomp(line);
        return line;
    }
}

/* Byte for byte what QEMU 7.2 sends for these (recorded from it): strings
 * in ASCII with upper-case \u escapes, doubles as %.17g, the id ahead of
 * an error and after a return. */
START_TEST(test_replies_byte_for_byte)
{
    static const struct {
        const char *send, *want_tail;
    } cases[] = {
        {"{\"execute\": \"query-version\", \"id\": \"\\u00e9\\ud83d\\ude00"
         "\\b\\u007f/\"}",
         "\"id\": \"\\u00E9\\uD83D\\uDE00\\b\\u007F/\"}"},
        {"{\"execute\": \"query-version\", \"id\": 1e2}", "\"id\": 100}"},
        {"{\"execute\": \"query-version\", \"id\": 18446744073709551615}",
         "\"id\": 18446744073709551615}"},
        {"{\"execute\": \"no-such\", \"id\": [1]}",
         "{\"id\": [1], \"error\": {\"class\": \"CommandNotFound\", "
         "\"desc\": \"The command no-such has not been found\"}}"},
        /* QEMU's single quotes, and \u0000 kept */
        {"{'execute': 'query-version', 'id': 'a\"b\\'c\\u0000'}",
         "\"id\": \"a\\\"b'c\\u0000\"}"},
        /* a string left open at the end of the line: refused at once */
        {"{\"execute\": \"query-version\", \"id\": \"open\n",
         "{\"error\": {\"class\": \"GenericError\", \"desc\": "
         "\"JSON parse error, stray '\\\"open\\n'\"}}"},
    };
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *line = NULL;

        raw_send(rc, cases[i].send);
        line = raw_recv_text(rc);
        ck_assert_msg(g_str_has_suffix(line, cases[i].want_tail),
                      "sent %s, got %s", cases[i].send, line);
    }
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Ids of every JSON type are echoed exactly, also with errors. */
START_TEST(test_id_any_type)
{
    static const char *const ids[] = {"null",
                                      "true",
                                      "0",
                                      "-7",
                                      "9223372036854775808",
                                      "18446744073709551615",
                                      "1.5",
                                      "[]",
                                      "{}",
                                      "[1, [2, [3]]]",
                                      "{\"a\": {\"b\": [null, false, \"c\"]}}",
                                      "\"\"",
                                      NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; ids[i]; i++) {
        g_autoptr(JsonNode) want = json_from_string(ids[i], NULL);
        const char *cmds[] = {"query-version", "no-such-command"};

        ck_assert(want);
        for (guint k = 0; k < 2; k++) {
            g_autofree char *msg = g_strdup_printf(
                "{\"execute\": \"%s\", \"id\": %s}", cmds[k], ids[i]);
            JsonNode *r;
            JsonNode *got;

            raw_send(rc, msg);
            r = raw_recv_must(rc);
            got = json_object_get_member(json_node_get_object(r), "id");
            ck_assert_msg(got && json_node_equal(got, want), "id %s not echoed",
                          ids[i]);
            {
                /* exactly: a uint64 beyond int64 must not come back as a
                 * rounded double (equal as a number, not as an id) */
                g_autofree char *got_text = json_to_string(got, FALSE);
                g_autofree char *want_text = json_to_string(want, FALSE);

                ck_assert_str_eq(got_text, want_text);
            }
            json_node_unref(r);
        }
    }
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_huge_command_name)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *name = repeat("x", 500000);
    g_autofree char *msg = g_strdup_printf("{\"execute\": \"%s\"}", name);
    g_autofree char *desc = g_strdup_printf("The command %s has not been "
                                            "found",
                                            name);

    raw_expect_error(rc, msg, "CommandNotFound", desc);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* 50000 argument members: one clear error, nothing kept. */
START_TEST(test_many_arguments)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    GString *msg = g_string_new("{\"execute\": \"query-fdsets\", "
                                "\"arguments\": {");

    for (guint i = 0; i < 50000; i++) {
        g_string_append_printf(msg, "%s\"a%u\": %u", i ? ", " : "", i, i);
    }
    g_string_append(msg, "}}");
    raw_send(rc, msg->str);
    assert_error_prefix(raw_recv_must(rc), "Parameter 'a");
    g_string_free(msg, TRUE);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* ---- framing --------------------------------------------------------------
 */

START_TEST(test_many_messages_one_write)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    GString *all = g_string_new(NULL);

    for (guint i = 0; i < 2000; i++) {
        g_string_append_printf(all, "{\"execute\": \"%s\", \"id\": %u}",
                               i % 3 ? "query-version" : "nope", i);
    }
    raw_send(rc, all->str);
    for (guint i = 0; i < 2000; i++) {
        JsonNode *r = raw_recv_must(rc);
        JsonObject *o = json_node_get_object(r);

        ck_assert_int_eq(json_object_get_int_member(o, "id"), i);
        ck_assert(json_object_has_member(o, i % 3 ? "return" : "error"));
        json_node_unref(r);
    }
    g_string_free(all, TRUE);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* One byte per write, the fd with the first byte: add-fd still gets it. */
START_TEST(test_one_byte_per_write)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    static const char cmd[] =
        "{\"execute\": \"add-fd\", \"arguments\": {\"fdset-id\": 3}}";
    int *fd = open_fds(h, 1);
    JsonNode *r;

    for (guint i = 0; i < strlen(cmd); i++) {
        ck_assert(raw_send_fds(rc, cmd + i, 1, fd, i == 0 ? 1 : 0));
        g_usleep(200);
    }
    r = raw_recv_must(rc);
    ck_assert_msg(qtest_return_object(r), "add-fd byte by byte failed");
    json_node_unref(r);
    ck_assert_uint_eq(n_fdsets(h->ctl), 1);
    /* the member belongs to that connection: reaped when it goes */
    raw_close(rc);
    close_fds(fd, 1);
    qtest_wait_fdsets_summary(h->ctl, "", 5000);
    h_finish(h);
}
END_TEST

/* The same, for an over-limit message: the splitter keeps its state. */
START_TEST(test_one_byte_per_write_too_deep)
{
    Hostile *h = h_start("--max-json-depth 4");
    RawClient *rc = raw_open(h, true);
    g_autofree char *deep = nested(6);

    for (guint i = 0; deep[i]; i++) {
        raw_send_fds(rc, deep + i, 1, NULL, 0);
    }
    qtest_assert_error(raw_recv_must(rc), "GenericError",
                       "JSON parse error, nesting too deep (limit 4)");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_back_to_back_and_trailing_junk)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    JsonNode *r;

    raw_send(rc, "{\"execute\": \"query-version\", \"id\": 1}"
                 "{\"execute\": \"query-version\", \"id\": 2} xyz\n");
    for (int i = 1; i <= 2; i++) {
        r = raw_recv_must(rc);
        ck_assert_int_eq(
            json_object_get_int_member(json_node_get_object(r), "id"), i);
        json_node_unref(r);
    }
    qtest_assert_error(raw_recv_must(rc), "GenericError",
                       "JSON parse error, invalid keyword 'xyz'");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Two clients, one stalls mid-message: the other is answered. */
START_TEST(test_interleaved_partial_messages)
{
    Hostile *h = h_start(NULL);
    RawClient *a = raw_open(h, true);
    RawClient *b = raw_open(h, true);

    raw_send(a, "{\"execute\": \"query-vers");
    raw_assert_usable(b);
    raw_send(a, "ion\", \"id\": \"usable\"}");
    qtest_assert_success(raw_recv_must(a));
    raw_close(a);
    raw_close(b);
    h_finish(h);
}
END_TEST

/* ---- requests of the wrong shape ---------------------------------------- */

/* Every command, sent before negotiation, with an fd: refused, fd closed. */
START_TEST(test_every_command_before_negotiation)
{
    Hostile *h = h_start(NULL);
    JsonNode *cmds = qtest_qmp(h->ctl, "{'execute': 'query-commands'}");
    JsonArray *list = qtest_return_array(cmds);
    RawClient *rc = raw_open(h, false);
    int *fd = open_fds(h, 1);

    ck_assert_uint_gt(json_array_get_length(list), 10);
    for (guint i = 0; i < json_array_get_length(list); i++) {
        const char *name = json_object_get_string_member(
            json_array_get_object_element(list, i), "name");
        g_autofree char *msg = g_strdup_printf("{\"execute\": \"%s\"}", name);

        if (g_str_equal(name, "qmp_capabilities")) {
            continue;
        }
        ck_assert(raw_send_fds(rc, msg, strlen(msg), fd, 1));
        qtest_assert_error(raw_recv_must(rc), "CommandNotFound", NEED_CAPS);
    }
    /* the fds went with their refused commands */
    assert_fd_count(h, h->base_fds + 1, "refused commands' fds");
    ck_assert_uint_eq(n_fdsets(h->ctl), 0);
    json_node_unref(cmds);
    close_fds(fd, 1);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_bad_capabilities)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, false);

    raw_expect_error(rc,
                     "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                     "{\"enable\": [\"oob\"]}}",
                     "GenericError", "Capability 'oob' not available");
    raw_expect_error(rc,
                     "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                     "{\"enable\": \"fdset-events\"}}",
                     "GenericError",
                     "Invalid parameter type for 'enable', "
                     "expected: array");
    raw_expect_error(rc,
                     "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                     "{\"enable\": [1]}}",
                     "GenericError",
                     "Invalid parameter type for "
                     "'enable[0]', expected: string");
    raw_send(rc, "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                 "{\"enable\": [\"no-such-capability\"]}}");
    assert_error_prefix(raw_recv_must(rc), "");
    /* still not negotiated */
    raw_expect_error(rc, "{\"execute\": \"query-version\"}", "CommandNotFound",
                     NEED_CAPS);
    raw_send(rc, "{\"execute\": \"qmp_capabilities\"}");
    qtest_assert_success(raw_recv_must(rc));
    raw_expect_error(rc, "{\"execute\": \"qmp_capabilities\"}",
                     "CommandNotFound",
                     "Capabilities negotiation is already "
                     "complete, command ignored");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_request_member_types)
{
    static const char *const execs[] = {
        "1", "null", "[]", "{}", "true", "[\"query-version\"]", NULL};
    static const char *const args[] = {"[]", "\"x\"", "null",
                                       "1",  "[{}]",  NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    for (guint i = 0; execs[i]; i++) {
        g_autofree char *msg = g_strdup_printf("{\"execute\": %s}", execs[i]);
        raw_expect_error(rc, msg, "GenericError",
                         "QMP input member 'execute' must be a string");
    }
    for (guint i = 0; args[i]; i++) {
        g_autofree char *msg = g_strdup_printf(
            "{\"execute\": \"query-version\", \"arguments\": %s}", args[i]);
        raw_expect_error(rc, msg, "GenericError",
                         "QMP input member 'arguments' must be an object");
    }
    raw_expect_error(rc, "{\"id\": 1}", "GenericError",
                     "QMP input lacks member 'execute'");
    raw_expect_error(rc, "{}", "GenericError",
                     "QMP input lacks member 'execute'");
    raw_expect_error(rc, "{\"execute\": \"query-version\", \"foo\": 1}",
                     "GenericError", "QMP input member 'foo' is unexpected");
    raw_expect_error(rc, "{\"execute\": \"quit\", \"exec-oob\": \"quit\"}",
                     "GenericError",
                     "QMP input member 'exec-oob' is unexpected");
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* ---- every command's arguments, from the schema ----------------------- */

typedef struct Schema {
    JsonNode *root;
    GHashTable *by_name; /* name -> JsonObject of the entry */
} Schema;

static Schema *schema_get(QTestConn *c)
{
    Schema *sc = g_new0(Schema, 1);
    JsonArray *a;

    sc->root = qtest_qmp(c, "{'execute': 'query-qmp-schema'}");
    a = qtest_return_array(sc->root);
    ck_assert_ptr_nonnull(a);
    sc->by_name = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);
        g_hash_table_insert(
            sc->by_name, (char *)json_object_get_string_member(e, "name"), e);
    }
    return sc;
}

static void schema_free(Schema *sc)
{
    g_hash_table_unref(sc->by_name);
    json_node_unref(sc->root);
    g_free(sc);
}

static JsonObject *schema_type(Schema *sc, const char *name)
{
    return g_hash_table_lookup(sc->by_name, name);
}

/*
 * Members the schema declares uint64 or uint32: introspection shows them
 * as "int" (as QEMU's does), but QEMU 7.2 rejects a wrong type for them
 * with "Parameter 'x' expects uint64" (its unsigned visitors all go
 * through uint64), not the integer type error.
 */
static bool uint64_member(const char *name)
{
    return g_str_equal(name, "write-threshold") ||
           g_str_equal(name, "granularity");
}

/* The wrong value to send for a member of @type, and the expected error
 * type word ("integer"...); NULL when anything goes ('any'). */
static const char *wrong_value(Schema *sc, const char *type,
                               const char **expected)
{
    JsonObject *t = schema_type(sc, type);
    const char *meta = json_object_get_string_member(t, "meta-type");

    if (g_str_equal(meta, "builtin")) {
        const char *jt = json_object_get_string_member(t, "json-type");
        if (g_str_equal(jt, "int")) {
            *expected = "integer";
            return "\"not-a-number\"";
        }
        if (g_str_equal(jt, "number")) {
            *expected = "number";
            return "\"not-a-number\"";
        }
        if (g_str_equal(jt, "string")) {
            *expected = "string";
            return "12";
        }
        if (g_str_equal(jt, "boolean")) {
            *expected = "boolean";
            return "\"yes\"";
        }
        return NULL;
    }
    if (g_str_equal(meta, "enum")) {
        *expected = "string";
        return "12";
    }
    if (g_str_equal(meta, "array")) {
        *expected = "array";
        return "12";
    }
    if (g_str_equal(meta, "object")) {
        *expected = "object";
        return "12";
    }
    return NULL; /* alternates take several types */
}

/* A valid value of @type (required members filled in, recursively). */
static void append_valid(GString *out, Schema *sc, const char *type,
                         guint depth)
{
    JsonObject *t = schema_type(sc, type);
    const char *meta = json_object_get_string_member(t, "meta-type");

    if (g_str_equal(meta, "builtin")) {
        const char *jt = json_object_get_string_member(t, "json-type");
        g_string_append(out, g_str_equal(jt, "string")    ? "\"x\""
                             : g_str_equal(jt, "boolean") ? "false"
                                                          : "0");
    } else if (g_str_equal(meta, "enum")) {
        JsonArray *v = json_object_get_array_member(t, "values");
        g_string_append_printf(out, "\"%s\"",
                               json_array_get_string_element(v, 0));
    } else if (g_str_equal(meta, "array")) {
        g_string_append(out, "[]");
    } else if (g_str_equal(meta, "alternate")) {
        JsonArray *m = json_object_get_array_member(t, "members");
        append_valid(out, sc,
                     json_object_get_string_member(
                         json_array_get_object_element(m, 0), "type"),
                     depth);
    } else {
        JsonArray *m = json_object_get_array_member(t, "members");
        bool first = true;

        g_string_append_c(out, '{');
        for (guint i = 0; depth < 4 && m && i < json_array_get_length(m); i++) {
            JsonObject *mm = json_array_get_object_element(m, i);
            if (json_object_has_member(mm, "default")) {
                continue;
            }
            g_string_append_printf(out, "%s\"%s\": ", first ? "" : ", ",
                                   json_object_get_string_member(mm, "name"));
            append_valid(out, sc, json_object_get_string_member(mm, "type"),
                         depth + 1);
            first = false;
        }
        g_string_append_c(out, '}');
    }
}

/* {"execute": CMD, "arguments": {...}}: every required member valid but
 * @name, which is @value. */
static char *request_with(Schema *sc, const char *cmd, JsonObject *at,
                          const char *name, const char *value)
{
    JsonArray *members = json_object_get_array_member(at, "members");
    GString *out = g_string_new(NULL);

    g_string_append_printf(out,
                           "{\"execute\": \"%s\", \"arguments\": "
                           "{\"%s\": %s",
                           cmd, name, value);
    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        JsonObject *m = json_array_get_object_element(members, i);
        const char *n = json_object_get_string_member(m, "name");

        if (g_str_equal(n, name) || json_object_has_member(m, "default")) {
            continue;
        }
        g_string_append_printf(out, ", \"%s\": ", n);
        append_valid(out, sc, json_object_get_string_member(m, "type"), 1);
    }
    g_string_append(out, "}}");
    return g_string_free(out, FALSE);
}

typedef void (*CommandCheck)(RawClient *rc, Schema *sc, const char *cmd,
                             JsonObject *args_type, guint *checked);

/* Run @check on every command that has an argument type with members. */
static void for_every_command(Hostile *h, CommandCheck check, guint min)
{
    Schema *sc = schema_get(h->ctl);
    RawClient *rc = raw_open(h, true);
    JsonArray *a = qtest_return_array(sc->root);
    guint checked = 0, commands = 0;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);
        JsonObject *at;

        if (!g_str_equal(json_object_get_string_member(e, "meta-type"),
                         "command")) {
            continue;
        }
        commands++;
        if (g_str_equal(json_object_get_string_member(e, "name"),
                        "qmp_capabilities")) {
            continue; /* refused once negotiated: test_bad_capabilities */
        }
        at = schema_type(sc, json_object_get_string_member(e, "arg-type"));
        check(rc, sc, json_object_get_string_member(e, "name"), at, &checked);
    }
    ck_assert_uint_ge(commands, 20);
    ck_assert_msg(checked >= min, "only %u checks made", checked);
    raw_assert_usable(rc);
    raw_close(rc);
    schema_free(sc);
}

static void check_wrong_types(RawClient *rc, Schema *sc, const char *cmd,
                              JsonObject *at, guint *checked)
{
    JsonArray *members = json_object_get_array_member(at, "members");

    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        JsonObject *m = json_array_get_object_element(members, i);
        const char *name = json_object_get_string_member(m, "name");
        const char *expected = NULL;
        const char *v = wrong_value(
            sc, json_object_get_string_member(m, "type"), &expected);
        g_autofree char *msg = NULL, *desc = NULL;

        if (!v || uint64_member(name)) {
            continue;
        }
        msg = request_with(sc, cmd, at, name, v);
        desc = g_strdup_printf("Invalid parameter type for '%s', "
                               "expected: %s",
                               name, expected);
        raw_expect_error(rc, msg, "GenericError", desc);
        (*checked)++;
    }
}

START_TEST(test_every_command_wrong_types)
{
    Hostile *h = h_start(NULL);

    for_every_command(h, check_wrong_types, 20);
    ck_assert_uint_eq(n_fdsets(h->ctl), 0);
    h_finish(h);
}
END_TEST

/* null for every member that is not 'any': a type error, never a crash. */
static void check_null_members(RawClient *rc, Schema *sc, const char *cmd,
                               JsonObject *at, guint *checked)
{
    JsonArray *members = json_object_get_array_member(at, "members");

    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        JsonObject *m = json_array_get_object_element(members, i);
        const char *name = json_object_get_string_member(m, "name");
        const char *expected = NULL;
        g_autofree char *msg = NULL, *prefix = NULL;

        if (uint64_member(name) ||
            !wrong_value(sc, json_object_get_string_member(m, "type"),
                         &expected)) {
            continue;
        }
        msg = request_with(sc, cmd, at, name, "null");
        prefix = g_strdup_printf("Invalid parameter type for '%s'", name);
        raw_send(rc, msg);
        assert_error_prefix(raw_recv_must(rc), prefix);
        (*checked)++;
    }
}

START_TEST(test_every_command_null_arguments)
{
    Hostile *h = h_start(NULL);

    for_every_command(h, check_null_members, 20);
    h_finish(h);
}
END_TEST

static void check_unexpected(RawClient *rc, Schema *sc, const char *cmd,
                             JsonObject *at, guint *checked)
{
    g_autofree char *msg = g_strdup_printf(
        "{\"execute\": \"%s\", \"arguments\": {\"zz-bogus\": 1}}", cmd);
    JsonNode *r;

    raw_send(rc, msg);
    r = raw_recv_must(rc);
    /* a union's discriminator or a required member may be named first */
    ck_assert_msg(qtest_error_desc(r), "%s ran with a bogus argument", cmd);
    ck_assert_msg(g_str_equal(qtest_error_desc(r),
                              "Parameter 'zz-bogus' is unexpected") ||
                      g_str_has_suffix(qtest_error_desc(r), "is missing"),
                  "%s: %s", cmd, qtest_error_desc(r));
    json_node_unref(r);
    (*checked)++;
}

START_TEST(test_every_command_unexpected_argument)
{
    Hostile *h = h_start(NULL);

    for_every_command(h, check_unexpected, 20);
    h_finish(h);
}
END_TEST

/* A required member left out: "Parameter 'x' is missing". */
static void check_missing(RawClient *rc, Schema *sc, const char *cmd,
                          JsonObject *at, guint *checked)
{
    JsonArray *members = json_object_get_array_member(at, "members");

    for (guint i = 0; members && i < json_array_get_length(members); i++) {
        JsonObject *m = json_array_get_object_element(members, i);
        const char *name = json_object_get_string_member(m, "name");
        g_autofree char *msg = NULL;
        JsonNode *r;

        if (json_object_has_member(m, "default")) {
            continue; /* optional */
        }
        msg = g_strdup_printf("{\"execute\": \"%s\", \"arguments\": {}}", cmd);
        raw_send(rc, msg);
        r = raw_recv_must(rc);
        ck_assert_msg(qtest_error_desc(r) &&
                          g_str_has_suffix(qtest_error_desc(r), "is missing"),
                      "%s without '%s': %s", cmd, name,
                      qtest_error_desc(r) ? qtest_error_desc(r) : "success");
        json_node_unref(r);
        (*checked)++;
        return; /* the first required member is the one reported */
    }
}

START_TEST(test_every_command_missing_argument)
{
    Hostile *h = h_start(NULL);

    for_every_command(h, check_missing, 8);
    h_finish(h);
}
END_TEST

/* ---- file descriptors ------------------------------------------------------
 */

/* The kernel's maximum in one message: add-fd takes one, 252 are closed. */
START_TEST(test_253_fds_add_fd)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 253);
    static const char cmd[] = "{\"execute\": \"add-fd\", \"arguments\": "
                              "{\"persistent\": true}}";

    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), fds, 253));
    qtest_assert_success(raw_recv_must(rc));
    close_fds(fds, 253);
    /* the connection and one member */
    assert_fd_count(h, h->base_fds + 2, "after add-fd with 253 fds");
    raw_close(rc);
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'remove-fd', "
                                           "'arguments': {'fdset-id': 0}}"));
    h_finish(h);
}
END_TEST

START_TEST(test_253_fds_query)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 253);
    static const char cmd[] = "{\"execute\": \"query-version\"}";

    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), fds, 253));
    qtest_assert_success(raw_recv_must(rc));
    close_fds(fds, 253);
    assert_fd_count(h, h->base_fds + 1, "253 fds with query-version");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* More fds than --max-fds-per-message: the command fails, all closed. */
START_TEST(test_fds_over_per_message_limit)
{
    Hostile *h = h_start("--max-fds-per-message 5");
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 6);
    static const char cmd[] = "{\"execute\": \"add-fd\"}";

    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), fds, 5));
    qtest_assert_success(raw_recv_must(rc));
    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), fds, 6));
    assert_error_prefix(raw_recv_must(rc), "");
    ck_assert_uint_eq(n_fdsets(h->ctl), 1);
    close_fds(fds, 6);
    assert_fd_count(h, h->base_fds + 2, "over the per-message limit");
    raw_close(rc);
    qtest_wait_fdsets_summary(h->ctl, "", 5000);
    h_finish(h);
}
END_TEST

/* fds on blanks, and then the client leaves without a command. */
START_TEST(test_fds_without_message_then_disconnect)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 20);

    ck_assert(raw_send_fds(rc, " ", 1, fds, 20));
    close_fds(fds, 20);
    /* held for the next command meanwhile */
    assert_fd_count(h, h->base_fds + 1 + 20, "fds waiting for a command");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* fds on blanks, then a command that takes none: closed after it, and a
 * later add-fd does not find them. */
START_TEST(test_fds_without_message_then_command)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 3);

    ck_assert(raw_send_fds(rc, "\n", 1, fds, 3));
    close_fds(fds, 3);
    raw_assert_usable(rc);
    assert_fd_count(h, h->base_fds + 1, "after the command they went with");
    raw_expect_error(rc, "{\"execute\": \"add-fd\"}", "GenericError",
                     "No file descriptor supplied via SCM_RIGHTS");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* Many reads of fds with no command: what waits stays bounded. */
START_TEST(test_pending_fds_bounded)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 253);

    for (guint i = 0; i < 8; i++) {
        ck_assert(raw_send_fds(rc, " ", 1, fds, 253));
    }
    close_fds(fds, 253);
    raw_send(rc, "{\"execute\": \"query-version\"}");
    assert_error_prefix(raw_recv_must(rc), "");
    ck_assert_msg(qtest_count_fds(h->s) <= h->base_fds + 1,
                  "fds kept after the command: %u",
                  qtest_count_fds(h->s) - h->base_fds - 1);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* fds with a message that does not parse, or is not a command. */
START_TEST(test_fds_with_bad_messages)
{
    static const char *const bad[] = {
        "{\"execute\": }",
        "[1]",
        "}",
        "{\"execute\": \"nope\"}",
        "{\"execute\": \"add-fd\", \"arguments\": {\"fdset-id\": -1}}",
        "{\"execute\": \"add-fd\", \"arguments\": {\"fdset-id\": \"x\"}}",
        "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"1abc\"}}",
        "{\"execute\": \"getfd\"}",
        "{\"execute\": \"remove-fd\"}",
        "nope\n",
        NULL};
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 3);

    for (guint i = 0; bad[i]; i++) {
        ck_assert(raw_send_fds(rc, bad[i], strlen(bad[i]), fds, 3));
        assert_any_error(raw_recv_must(rc), bad[i]);
    }
    close_fds(fds, 3);
    assert_fd_count(h, h->base_fds + 1, "fds of failed commands");
    ck_assert_uint_eq(n_fdsets(h->ctl), 0);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* The same fd twice in one message: two references, one member. */
START_TEST(test_same_fd_twice)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fd = open_fds(h, 1);
    int twice[2] = {fd[0], fd[0]};
    static const char cmd[] = "{\"execute\": \"add-fd\", \"arguments\": "
                              "{\"fdset-id\": 9}}";

    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), twice, 2));
    qtest_assert_success(raw_recv_must(rc));
    assert_fd_count(h, h->base_fds + 2, "one member kept");
    close_fds(fd, 1);
    raw_close(rc);
    qtest_wait_fdsets_summary(h->ctl, "", 5000);
    h_finish(h);
}
END_TEST

/* fds that are not regular files: accepted or refused, never a crash. */
START_TEST(test_odd_fd_kinds)
{
    Hostile *h = h_start(NULL);
    int p[2], sp[2], kinds[8], n = 0;

    ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    kinds[n++] = p[0];
    kinds[n++] = p[1];
    kinds[n++] = sp[0];
    kinds[n++] = open(qtest_tmpdir(h->s), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    kinds[n++] = open(h->scratch, O_PATH | O_CLOEXEC);
    kinds[n++] = open("/dev/null", O_RDWR | O_CLOEXEC);
    kinds[n++] = memfd_create("hostile", MFD_CLOEXEC);
    for (int i = 0; i < n; i++) {
        JsonNode *r;

        ck_assert_int_ge(kinds[i], 0);
        r = qtest_qmp_fds(h->ctl, &kinds[i], 1,
                          "{'execute': 'add-fd', 'arguments': "
                          "{'fdset-id': %d}}",
                          i);
        ck_assert_msg(qtest_return_object(r) || qtest_error_desc(r),
                      "no reply shape");
        json_node_unref(r);
        /* opening through it must fail cleanly or work, not hang */
        r = qtest_qmp(h->ctl,
                      "{'execute': 'blockdev-add', 'arguments': "
                      "{'driver': 'file', 'node-name': 'n%d', "
                      "'filename': '/dev/fdset/%d', "
                      "'read-only': true}}",
                      i, i);
        if (qtest_return_object(r)) {
            qtest_assert_success(qtest_qmp(h->ctl,
                                           "{'execute': "
                                           "'blockdev-del', 'arguments': "
                                           "{'node-name': 'n%d'}}",
                                           i));
        }
        json_node_unref(r);
        close(kinds[i]);
    }
    close(sp[1]); /* kinds[] held the rest */
    for (int i = 0; i < n; i++) {
        JsonNode *r = qtest_qmp(h->ctl,
                                "{'execute': 'remove-fd', "
                                "'arguments': {'fdset-id': %d}}",
                                i);
        json_node_unref(r);
    }
    ck_assert_uint_eq(n_fdsets(h->ctl), 0);
    h_finish(h);
}
END_TEST

/*
 * A client hands the daemon its own end of the connection, then closes its
 * copy: the daemon now holds both ends, so no EOF comes.  Another client's
 * remove-fd must still release it, and the connection then goes.
 */
START_TEST(test_own_socket_as_fd)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    static const char cmd[] = "{\"execute\": \"add-fd\", \"arguments\": "
                              "{\"fdset-id\": 5}}";

    ck_assert(raw_send_fds(rc, cmd, strlen(cmd), &rc->fd, 1));
    qtest_assert_success(raw_recv_must(rc));
    raw_close(rc);
    ck_assert_uint_eq(n_fdsets(h->ctl), 1);
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'remove-fd', "
                                           "'arguments': {'fdset-id': 5}}"));
    h_finish(h);
}
END_TEST

/* Ancillary data that is not SCM_RIGHTS is ignored. */
START_TEST(test_credentials_cmsg)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    static const char cmd[] = "{\"execute\": \"query-version\", \"id\": 1}";
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = (char *)cmd, .iov_len = strlen(cmd)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = u.buf,
                         .msg_controllen = sizeof(u.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    struct ucred cred = {.pid = getpid(), .uid = getuid(), .gid = getgid()};

    memset(u.buf, 0, sizeof(u.buf));
    cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof(cred));
    memcpy(CMSG_DATA(cm), &cred, sizeof(cred));
    ck_assert_int_eq(sendmsg(rc->fd, &msg, MSG_NOSIGNAL), strlen(cmd));
    qtest_assert_success(raw_recv_must(rc));
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * Strings that come back (an id, an opaque in an event, a file name in a
 * block query) may hold any control character; replies and events must
 * stay JSON for every client, whatever one client put in them.
 */
START_TEST(test_control_characters_in_replies)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    RawClient *ev = raw_open(h, false);
    g_autofree char *odd = NULL, *odd_json = NULL;
    int *fd = open_fds(h, 1);
    JsonNode *r;

    raw_send(ev, "{\"execute\": \"qmp_capabilities\", \"arguments\": "
                 "{\"enable\": [\"fdset-events\"]}}");
    qtest_assert_success(raw_recv_must(ev));
    for (int c = 1; c < 0x20; c++) {
        g_autofree char *msg = g_strdup_printf(
            "{\"execute\": \"query-version\", \"id\": \"<\\u%04x>\"}", c);
        char want[4] = {'<', (char)c, '>', 0};

        raw_send(rc, msg);
        r = raw_recv_must(rc); /* checks it is strict JSON */
        ck_assert_str_eq(
            json_object_get_string_member(json_node_get_object(r), "id"), want);
        json_node_unref(r);
    }
    /* an opaque reaches every client that listens to events */
    qtest_assert_success(qtest_qmp_fds(h->ctl, fd, 1,
                                       "{'execute': 'add-fd', "
                                       "'arguments': {'fdset-id': 1, "
                                       "'opaque': 'a\\u001fb'}}"));
    r = raw_recv_must(ev);
    ck_assert_str_eq(
        json_object_get_string_member(json_node_get_object(r), "event"),
        "FDSET_FD_ADDED");
    json_node_unref(r);
    raw_send(rc, "{\"execute\": \"query-fdsets\"}");
    qtest_assert_success(raw_recv_must(rc));
    /* a file name (here: from the client; it could come from an image) */
    odd = qtest_make_file(h->s, "odd\x1fname.img", 4096, 0);
    /* spelled out, not qtest_json_str(): independent of our own writer */
    {
        g_auto(GStrv) parts = g_strsplit(odd, "\x1f", -1);
        g_autofree char *escaped = g_strjoinv("\\u001f", parts);
        odd_json = g_strdup_printf("\"%s\"", escaped);
    }
    r = qtest_qmp(h->ctl,
                  "{'execute': 'blockdev-add', 'arguments': "
                  "{'driver': 'file', 'node-name': 'odd', "
                  "'filename': %s, 'read-only': true}}",
                  odd_json);
    qtest_assert_success(r);
    raw_send(rc, "{\"execute\": \"query-named-block-nodes\"}");
    qtest_assert_success(raw_recv_must(rc));
    raw_send(rc, "{\"execute\": \"query-block\"}");
    qtest_assert_success(raw_recv_must(rc));
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'blockdev-del', "
                                           "'arguments': {'node-name': "
                                           "'odd'}}"));
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'remove-fd', "
                                           "'arguments': {'fdset-id': 1}}"));
    close_fds(fd, 1);
    raw_close(rc);
    raw_close(ev);
    h_finish(h);
}
END_TEST

/*
 * Names that are not UTF-8 come from images (a qcow2 header's backing file
 * name) and from the command line; replies must still be UTF-8 JSON for
 * every client (QEMU writes U+FFFD for such bytes).
 */
START_TEST(test_image_name_not_utf8)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    g_autofree char *img = NULL, *msg = NULL;

    if (sh(h, "command -v qemu-img") != 0) {
        raw_close(rc);
        h_finish(h);
        return;
    }
    ck_assert_int_eq(sh(h, "qemu-img create -q -f qcow2 -u -b "
                           "\"$(printf '/nowhere/x\\377y')\" -F raw "
                           "bad.qcow2 1M"),
                     0);
    img = g_build_filename(qtest_tmpdir(h->s), "bad.qcow2", NULL);
    msg = g_strdup_printf("{\"execute\": \"blockdev-add\", \"arguments\": "
                          "{\"driver\": \"qcow2\", \"node-name\": \"q\", "
                          "\"read-only\": true, \"backing\": null, \"file\": "
                          "{\"driver\": \"file\", \"filename\": \"%s\"}}}",
                          img);
    raw_send(rc, msg);
    qtest_assert_success(raw_recv_must(rc));
    raw_send(rc, "{\"execute\": \"query-named-block-nodes\"}");
    qtest_assert_success(raw_recv_must(rc)); /* UTF-8 and JSON */
    raw_send(rc, "{\"execute\": \"query-block\"}");
    qtest_assert_success(raw_recv_must(rc));
    raw_send(rc, "{\"execute\": \"blockdev-del\", \"arguments\": "
                 "{\"node-name\": \"q\"}}");
    qtest_assert_success(raw_recv_must(rc));
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_cmdline_opaque_not_utf8)
{
    g_autofree char *dir = g_dir_make_tmp("hostile-XXXXXX", NULL);
    g_autofree char *path = g_build_filename(dir, "f.img", NULL);
    int fd, inherit[2];
    QTestState *s;
    QTestConn *c;
    RawClient *rc;
    Hostile h = {0};

    ck_assert(g_file_set_contents(path, "x", 1, NULL));
    fd = open(path, O_RDONLY); /* inherited: no O_CLOEXEC */
    inherit[0] = 20;
    inherit[1] = fd;
    s = qtest_spawn_full("-add-fd fd=20,set=3,opaque=a\377b", 1, inherit, 1);
    c = qtest_connect(s, 0);
    h.s = s;
    rc = raw_open(&h, true);
    raw_send(rc, "{\"execute\": \"query-fdsets\"}");
    qtest_assert_success(raw_recv_must(rc)); /* UTF-8 and JSON */
    raw_close(rc);
    close(fd);
    unlink(path);
    rmdir(dir);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

/* ---- leaving at the wrong moment ------------------------------------------
 */

START_TEST(test_disconnect_mid_message)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    raw_send(rc, "{\"execute\": \"query-fdsets\", \"argum");
    raw_close(rc);
    h_finish(h);
}
END_TEST

START_TEST(test_disconnect_mid_message_with_fds)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 7);
    static const char part[] = "{\"execute\": \"add-fd\", \"argu";

    ck_assert(raw_send_fds(rc, part, strlen(part), fds, 7));
    close_fds(fds, 7);
    assert_fd_count(h, h->base_fds + 1 + 7, "fds of the unfinished command");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* An unterminated string, then EOF: the daemon closes, keeps nothing. */
START_TEST(test_unterminated_string_eof)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fds = open_fds(h, 2);
    static const char part[] = "{\"execute\": \"add-fd\", \"id\": \"abc";

    ck_assert(raw_send_fds(rc, part, strlen(part), fds, 2));
    close_fds(fds, 2);
    shutdown(rc->fd, SHUT_WR);
    ck_assert_msg(raw_wait_eof(rc, SETTLE_MS), "daemon kept the connection");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* A top-level string that never ends, then EOF. */
START_TEST(test_unterminated_top_level_string_eof)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);

    raw_send(rc, "\"never ends");
    shutdown(rc->fd, SHUT_WR);
    ck_assert_msg(raw_wait_eof(rc, SETTLE_MS), "daemon kept the connection");
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* A command then EOF: answered, then closed. */
START_TEST(test_eof_after_command)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    JsonNode *r;

    raw_send(rc, "{\"execute\": \"query-version\", \"id\": \"last\"}");
    shutdown(rc->fd, SHUT_WR);
    r = raw_recv_must(rc);
    ck_assert(qtest_return_object(r));
    json_node_unref(r);
    ck_assert(raw_wait_eof(rc, SETTLE_MS));
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* The client is gone before its command's reply: its members are reaped. */
START_TEST(test_disconnect_while_commands_run)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fd = open_fds(h, 1);
    static const char cmd[] = "{\"execute\": \"add-fd\"}";

    for (guint i = 0; i < 200; i++) {
        if (!raw_send_fds(rc, cmd, strlen(cmd), fd, 1)) {
            break;
        }
    }
    raw_send(rc, "{\"execute\": \"query-qmp-schema\"}");
    raw_close(rc);
    close_fds(fd, 1);
    qtest_wait_fdsets_summary(h->ctl, "", 5000);
    h_finish(h);
}
END_TEST

/* Right after connecting: half-close, close unread, reset. */
START_TEST(test_connect_close_storm)
{
    Hostile *h = h_start(NULL);

    for (guint i = 0; i < 300; i++) {
        RawClient *rc = raw_connect(h, 0);

        switch (i % 3) {
        case 0: /* never reads the greeting */
            break;
        case 1: { /* reset: unread data and SO_LINGER 0 */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(rc->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            raw_send_fds(rc, "{\"execute\"", 10, NULL, 0);
            break;
        }
        default: /* half-close at once */
            shutdown(rc->fd, SHUT_WR);
            break;
        }
        raw_close(rc);
    }
    h_finish(h);
}
END_TEST

START_TEST(test_half_close_after_greeting)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, false);

    shutdown(rc->fd, SHUT_WR);
    ck_assert(raw_wait_eof(rc, SETTLE_MS));
    raw_close(rc);
    h_finish(h);
}
END_TEST

/* ---- too many, too slow ------------------------------------------------- */

/* Beyond --max-connections: refused with a reason; freed slots reusable. */
START_TEST(test_connection_flood)
{
    Hostile *h = h_start("--max-connections 5");
    RawClient *rc[20];
    guint greeted = 0, refused = 0;

    for (guint i = 0; i < 20; i++) {
        JsonNode *g;

        rc[i] = raw_connect(h, 0);
        g = raw_recv_must(rc[i]);
        if (json_object_has_member(json_node_get_object(g), "QMP")) {
            greeted++;
        } else {
            qtest_assert_error(json_node_ref(g), "GenericError",
                               "Too many connections (limit 5); connection "
                               "refused");
            ck_assert(raw_wait_eof(rc[i], SETTLE_MS));
            refused++;
        }
        json_node_unref(g);
    }
    ck_assert_uint_eq(greeted, 4); /* the control client holds one */
    ck_assert_uint_eq(refused, 16);
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'query-fdsets'}"));
    for (guint i = 0; i < 20; i++) {
        raw_close(rc[i]);
    }
    assert_fd_count(h, h->base_fds, "after the flood");
    h_finish(h);
}
END_TEST

/* Connections that never read their greeting do not stall the daemon. */
START_TEST(test_many_silent_connections)
{
    Hostile *h = h_start(NULL);
    RawClient *rc[200];

    for (guint i = 0; i < 200; i++) {
        rc[i] = raw_connect(h, 0);
    }
    assert_still_serving(h);
    assert_fd_count(h, h->base_fds + 200, "200 silent connections");
    for (guint i = 0; i < 200; i++) {
        raw_close(rc[i]);
    }
    h_finish(h);
}
END_TEST

static int daemon_rss_kb(QTestState *s)
{
    g_autofree char *path =
        g_strdup_printf("/proc/%d/status", (int)qtest_pid(s));
    g_autofree char *text = NULL;
    const char *p;

    if (!g_file_get_contents(path, &text, NULL, NULL) ||
        !(p = strstr(text, "VmRSS:"))) {
        return -1;
    }
    return atoi(p + 6);
}

static bool daemon_has_asan(QTestState *s)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/maps", (int)qtest_pid(s));
    g_autofree char *maps = NULL;

    return g_file_get_contents(path, &maps, NULL, NULL) &&
           strstr(maps, "libasan");
}

/*
 * A client that sends a lot and never reads: others are served meanwhile,
 * the daemon's buffering stays bounded, and the non-reader is dropped.
 */
START_TEST(test_non_reader_dropped)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int rcvbuf = 4096;
    g_autofree char *cmds = repeat("{\"execute\": \"query-qmp-schema\"}", 2000);
    int rss_before = daemon_rss_kb(h->s);
    gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
    bool sent_all = true;

    setsockopt(rc->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    /* the daemon may drop it before taking all of this: EPIPE is fine */
    for (guint i = 0; i < 4 && sent_all; i++) {
        sent_all = raw_send_fds(rc, cmds, strlen(cmds), NULL, 0);
        assert_still_serving(h);
    }
    while (qtest_count_fds(h->s) != h->base_fds) {
        ck_assert_msg(g_get_monotonic_time() < deadline,
                      "non-reading client never dropped");
        assert_still_serving(h);
        g_usleep(20000);
    }
    /* under ASan, freed memory stays in its quarantine (256 MiB unless
     * ASAN_OPTIONS says otherwise, as scripts/run-tests.sh does) */
    if (!daemon_has_asan(h->s) ||
        strstr(g_getenv("ASAN_OPTIONS") ?: "", "quarantine_size_mb")) {
        ck_assert_msg(daemon_rss_kb(h->s) - rss_before < 128 * 1024,
                      "daemon grew by %d kB for one non-reader",
                      daemon_rss_kb(h->s) - rss_before);
    }
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * A client slow to read, but under the drop threshold: its input waits
 * while its output is backed up, others are served, and once it reads it
 * gets every reply, in order.
 */
START_TEST(test_slow_reader_paused)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    GString *cmds = g_string_new(NULL);
    const guint n = 150; /* ~3 MB of replies */

    for (guint i = 0; i < n; i++) {
        g_string_append_printf(cmds,
                               "{\"execute\": \"query-qmp-schema\", "
                               "\"id\": %u}",
                               i);
    }
    raw_send(rc, cmds->str);
    for (guint i = 0; i < 5; i++) {
        assert_still_serving(h);
        g_usleep(20000);
    }
    for (guint i = 0; i < n; i++) {
        JsonNode *r = raw_recv_must(rc);

        ck_assert_int_eq(
            json_object_get_int_member(json_node_get_object(r), "id"), i);
        json_node_unref(r);
    }
    g_string_free(cmds, TRUE);
    raw_assert_usable(rc);
    raw_close(rc);
    h_finish(h);
}
END_TEST

/*
 * Named fds count against no limit but the process's: a client can use
 * getfd to run the daemon out of fds (here under a lowered soft
 * RLIMIT_NOFILE).  What it must not do is stop the daemon: the client's
 * own excess is refused (MSG_CTRUNC), a newcomer is told why it is
 * refused, connected clients are answered, and all is well once the
 * flooder leaves.
 */
START_TEST(test_named_fd_flood)
{
    Hostile *h = h_start(NULL);
    RawClient *rc = raw_open(h, true);
    int *fd = open_fds(h, 1);
    struct rlimit rl;
    guint refused = 0;
    JsonNode *r;

    ck_assert_int_eq(prlimit(qtest_pid(h->s), RLIMIT_NOFILE, NULL, &rl), 0);
    rl.rlim_cur = h->base_fds + 40;
    ck_assert_int_eq(prlimit(qtest_pid(h->s), RLIMIT_NOFILE, &rl, NULL), 0);
    for (guint i = 0; i < 60; i++) {
        g_autofree char *cmd = g_strdup_printf(
            "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": "
            "\"n%u\"}}",
            i);
        ck_assert(raw_send_fds(rc, cmd, strlen(cmd), fd, 1));
        r = raw_recv_must(rc);
        if (qtest_error_desc(r)) {
            ck_assert_str_eq(qtest_error_desc(r), CTRUNC_MESSAGE);
            refused++;
        }
        json_node_unref(r);
    }
    ck_assert_uint_ge(refused, 15);
    /* a newcomer hears why; the control client is still answered */
    {
        RawClient *late = raw_connect(h, 0);
        r = raw_recv(late, 2000);
        ck_assert_msg(r && qtest_error_desc(r), "newcomer not refused");
        json_node_unref(r);
        raw_close(late);
    }
    qtest_send_raw(h->ctl, "{\"execute\": \"query-version\"}", 28, NULL, 0);
    r = qtest_recv_response(h->ctl, 2000);
    if (!r) {
        qtest_kill(h->s);
        ck_abort_msg("the daemon stopped answering when out of fds");
    }
    json_node_unref(r);
    raw_close(rc);
    close_fds(fd, 1);
    /* the names belong to the monitor (QEMU's rule): they stay after the
     * flooder left, bounded, until closefd */
    rl.rlim_cur = rl.rlim_max;
    ck_assert_int_eq(prlimit(qtest_pid(h->s), RLIMIT_NOFILE, &rl, NULL), 0);
    assert_fd_count(h, h->base_fds + 60 - refused, "after the flooder left");
    for (guint i = 0; i < 60; i++) {
        json_node_unref(qtest_qmp(h->ctl,
                                  "{'execute': 'closefd', 'arguments': "
                                  "{'fdname': 'n%u'}}",
                                  i));
    }
    assert_fd_count(h, h->base_fds, "after closefd");
    ck_assert_int_eq(prlimit(qtest_pid(h->s), RLIMIT_NOFILE, &rl, NULL), 0);
    h_finish(h);
}
END_TEST

static void add_file_fd(QTestConn *c, Hostile *h, const char *name, int flags,
                        int set)
{
    g_autofree char *path = g_build_filename(qtest_tmpdir(h->s), name, NULL);
    int fd = qtest_open_file(h->s, path, flags);

    qtest_add_fd(c, fd, set, name, NULL);
    close(fd);
}

/*
 * The manager that started a block-commit leaves while the job runs.  The
 * job goes on, the members its reopens need stay (their owner is gone but
 * the sets are in use), another client finishes the job, and once the
 * nodes are deleted the departed client's members are closed: nothing of
 * it is left.
 */
START_TEST(test_disconnect_during_block_commit)
{
    Hostile *h = h_start(NULL);
    QTestConn *m;
    JsonNode *ev;

    if (sh(h, "command -v qemu-img && command -v qemu-io") != 0) {
        fprintf(stderr, "qemu-img/qemu-io missing: skipped\n");
        h_finish(h);
        return;
    }
    ck_assert_int_eq(sh(h, "qemu-img create -q -f raw base.img 4M && "
                           "qemu-img create -q -f qcow2 -b base.img -F raw "
                           "mid.qcow2 && qemu-io -f qcow2 -c 'write -P 0x22 "
                           "0 2M' mid.qcow2 && qemu-img create -q -f qcow2 "
                           "-b mid.qcow2 -F qcow2 top.qcow2 && qemu-img "
                           "convert -O raw top.qcow2 expect.img"),
                     0);
    m = qtest_connect(h->s, 0);
    add_file_fd(m, h, "base.img", O_RDONLY, 0);
    add_file_fd(m, h, "base.img", O_RDWR, 0);
    add_file_fd(m, h, "mid.qcow2", O_RDONLY, 1);
    add_file_fd(m, h, "top.qcow2", O_RDWR, 2);
    qtest_assert_success(qtest_qmp(
        m, "{'execute': 'blockdev-add', "
           "'arguments': {'driver': 'raw', 'node-name': 'base', 'read-only': "
           "true, 'file': {'driver': 'file', 'filename': '/dev/fdset/0'}}}"));
    qtest_assert_success(qtest_qmp(
        m, "{'execute': 'blockdev-add', "
           "'arguments': {'driver': 'qcow2', 'node-name': 'mid', 'read-only': "
           "true, 'backing': 'base', 'file': {'driver': 'file', "
           "'filename': '/dev/fdset/1'}}}"));
    qtest_assert_success(qtest_qmp(
        m, "{'execute': 'blockdev-add', "
           "'arguments': {'driver': 'qcow2', 'node-name': 'top', 'backing': "
           "'mid', 'file': {'driver': 'file', 'filename': '/dev/fdset/2'}}}"));
    qtest_assert_success(qtest_qmp(
        m, "{'execute': 'block-commit', "
           "'arguments': {'job-id': 'c0', 'device': 'top', 'top-node': 'mid', "
           "'base-node': 'base', 'speed': 65536}}"));
    qtest_disconnect(m);
    /* its members stay, every set being in use (whether the job is still
     * running or not by now) */
    assert_fd_count(h,
                    h->base_fds + 4 + qtest_fdset_dup_count(h->ctl, 0) +
                        qtest_fdset_dup_count(h->ctl, 1) +
                        qtest_fdset_dup_count(h->ctl, 2),
                    "members and dups after the manager left");
    ck_assert_int_ge(qtest_fdset_dup_count(h->ctl, 0), 1);
    qtest_assert_fds_match_registry(h->s, h->ctl, 0);
    qtest_assert_success(qtest_qmp(
        h->ctl,
        "{'execute': "
        "'block-job-set-speed', 'arguments': {'device': 'c0', 'speed': 0}}"));
    ev = qtest_event_wait(h->ctl, "BLOCK_JOB_COMPLETED", 30000);
    ck_assert_msg(ev, "the job did not complete");
    ck_assert(!json_object_has_member(
        json_object_get_object_member(json_node_get_object(ev), "data"),
        "error"));
    json_node_unref(ev);
    qtest_assert_fds_match_registry(h->s, h->ctl, 0);
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'blockdev-del', "
                                           "'arguments': {'node-name': "
                                           "'top'}}"));
    /* mid left the chain but is still a node the monitor added */
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'blockdev-del', "
                                           "'arguments': {'node-name': "
                                           "'mid'}}"));
    qtest_assert_success(qtest_qmp(h->ctl, "{'execute': 'blockdev-del', "
                                           "'arguments': {'node-name': "
                                           "'base'}}"));
    qtest_wait_fdsets_summary(h->ctl, "", 5000);
    ck_assert_int_eq(sh(h, "qemu-img compare -q -f raw -F raw expect.img "
                           "base.img"),
                     0);
    h_finish(h);
}
END_TEST

/* HMP text is input too. */
START_TEST(test_hmp_garbage)
{
    static const char *const lines[] = {
        "",
        " ",
        "\\u0001",
        "help",
        "info",
        "info nothing",
        "drive_add",
        "drive_add 0",
        "drive_add 0 if=none,file=/dev/fdset/99999999999",
        "drive_add 0 ,,,,,,",
        "drive_del",
        "drive_del nope",
        "getfd",
        "closefd",
        "quit now",
        NULL};
    Hostile *h = h_start(NULL);
    g_autofree char *long_line = repeat("x", 100000);

    for (guint i = 0; lines[i]; i++) {
        JsonNode *r = qtest_qmp(h->ctl,
                                "{'execute': "
                                "'human-monitor-command', "
                                "'arguments': {'command-line': "
                                "\"%s\"}}",
                                lines[i]);
        ck_assert_msg(qtest_return_array(r) == NULL, "odd HMP reply");
        ck_assert_msg(
            qtest_error_desc(r) ||
                json_object_has_member(json_node_get_object(r), "return"),
            "HMP '%s': no reply", lines[i]);
        json_node_unref(r);
    }
    json_node_unref(qtest_qmp(h->ctl,
                              "{'execute': 'human-monitor-command', "
                              "'arguments': {'command-line': "
                              "'%s'}}",
                              long_line));
    h_finish(h);
}
END_TEST

/* ---- registration
 * ------------------------------------------------------------ */

int main(void)
{
    Suite *su = suite_create("hostile");
    TCase *tc = tcase_create("hostile");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_garbage_bytes);
    tcase_add_test(tc, test_binary_noise);
    tcase_add_test(tc, test_binary_noise_then_disconnect);
    tcase_add_test(tc, test_invalid_utf8_in_string);
    tcase_add_test(tc, test_overlong_utf8);
    tcase_add_test(tc, test_utf8_encoded_surrogate);
    tcase_add_test(tc, test_truncated_utf8_sequence);
    tcase_add_test(tc, test_invalid_utf8_outside_string);
    tcase_add_test(tc, test_nul_bytes);
    tcase_add_test(tc, test_escaped_nul_in_opaque);
    tcase_add_test(tc, test_not_an_object);
    tcase_add_test(tc, test_invalid_keyword);
    tcase_add_test(tc, test_stray_closers);
    tcase_add_test(tc, test_malformed_objects);
    tcase_add_test(tc, test_lenient_json_refused);
    tcase_add_test(tc, test_duplicate_key);
    tcase_add_test(tc, test_integer_overflow);
    tcase_add_test(tc, test_float_arguments);
    tcase_add_test(tc, test_error_text_stays_json);
    tcase_add_test(tc, test_nesting_at_limit);
    tcase_add_test(tc, test_nesting_in_arguments);
    tcase_add_test(tc, test_nesting_huge);
    tcase_add_test(tc, test_nesting_unclosed_then_disconnect);
    tcase_add_test(tc, test_message_too_large_default);
    tcase_add_test(tc, test_message_size_edge);
    tcase_add_test(tc, test_huge_top_level_tokens);
    tcase_add_test(tc, test_whitespace_flood);
    tcase_add_test(tc, test_huge_id);
    tcase_add_test(tc, test_id_any_type);
    tcase_add_test(tc, test_replies_byte_for_byte);
    tcase_add_test(tc, test_huge_command_name);
    tcase_add_test(tc, test_many_arguments);
    tcase_add_test(tc, test_many_messages_one_write);
    tcase_add_test(tc, test_one_byte_per_write);
    tcase_add_test(tc, test_one_byte_per_write_too_deep);
    tcase_add_test(tc, test_back_to_back_and_trailing_junk);
    tcase_add_test(tc, test_interleaved_partial_messages);
    tcase_add_test(tc, test_every_command_before_negotiation);
    tcase_add_test(tc, test_bad_capabilities);
    tcase_add_test(tc, test_request_member_types);
    tcase_add_test(tc, test_every_command_wrong_types);
    tcase_add_test(tc, test_every_command_null_arguments);
    tcase_add_test(tc, test_every_command_unexpected_argument);
    tcase_add_test(tc, test_every_command_missing_argument);
    tcase_add_test(tc, test_253_fds_add_fd);
    tcase_add_test(tc, test_253_fds_query);
    tcase_add_test(tc, test_fds_over_per_message_limit);
    tcase_add_test(tc, test_fds_without_message_then_disconnect);
    tcase_add_test(tc, test_fds_without_message_then_command);
    tcase_add_test(tc, test_pending_fds_bounded);
    tcase_add_test(tc, test_fds_with_bad_messages);
    tcase_add_test(tc, test_same_fd_twice);
    tcase_add_test(tc, test_odd_fd_kinds);
    tcase_add_test(tc, test_own_socket_as_fd);
    tcase_add_test(tc, test_credentials_cmsg);
    tcase_add_test(tc, test_control_characters_in_replies);
    tcase_add_test(tc, test_image_name_not_utf8);
    tcase_add_test(tc, test_cmdline_opaque_not_utf8);
    tcase_add_test(tc, test_disconnect_mid_message);
    tcase_add_test(tc, test_disconnect_mid_message_with_fds);
    tcase_add_test(tc, test_unterminated_string_eof);
    tcase_add_test(tc, test_unterminated_top_level_string_eof);
    tcase_add_test(tc, test_eof_after_command);
    tcase_add_test(tc, test_disconnect_while_commands_run);
    tcase_add_test(tc, test_connect_close_storm);
    tcase_add_test(tc, test_half_close_after_greeting);
    tcase_add_test(tc, test_connection_flood);
    tcase_add_test(tc, test_many_silent_connections);
    tcase_add_test(tc, test_non_reader_dropped);
    tcase_add_test(tc, test_slow_reader_paused);
    tcase_add_test(tc, test_named_fd_flood);
    tcase_add_test(tc, test_disconnect_during_block_commit);
    tcase_add_test(tc, test_hmp_garbage);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
