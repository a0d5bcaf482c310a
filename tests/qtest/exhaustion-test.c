/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Exhaustion: the configured limits at their edge, and the process out of
 * file descriptors (RLIMIT_NOFILE lowered under the running daemon with
 * prlimit(), or before it starts).  Each case checks the clear error the
 * limit gives, that nothing leaked, and that service resumes once the
 * resource is free again (docs/fdset.rst "Limits").
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libqtest.h"

#define CTRUNC_MSG                                                             \
    "File descriptors sent with this command were lost (MSG_CTRUNC): more "    \
    "than 253 in one message, or fdsetd is out of file descriptors"
#define ACCEPT_EMFILE_MSG                                                      \
    "fdsetd is out of file descriptors (Too many open files); connection "     \
    "refused"
#define SETTLE_US (5 * G_USEC_PER_SEC)

/* ---- helpers ------------------------------------------------------------ */

typedef struct Ex {
    QTestState *s;
    QTestConn *c;
    char *img;
    guint base; /* daemon fds with @c connected */
} Ex;

static Ex *ex_start(const char *args)
{
    Ex *e = g_new0(Ex, 1);

    e->s = qtest_spawn(args);
    e->c = qtest_connect(e->s, 0);
    e->img = qtest_make_file(e->s, "ex.img", 65536, 'x');
    e->base = qtest_count_fds(e->s);
    return e;
}

static bool wait_count(QTestState *s, guint want)
{
    gint64 deadline = g_get_monotonic_time() + SETTLE_US;

    while (qtest_count_fds(s) != want) {
        if (g_get_monotonic_time() > deadline) {
            return false;
        }
        g_usleep(5000);
    }
    return true;
}

static void assert_count(Ex *e, guint want, const char *when)
{
    ck_assert_msg(wait_count(e->s, want),
                  "%s: daemon holds %u fds, "
                  "expected %u",
                  when, qtest_count_fds(e->s), want);
}

/* No leak, a fresh client served, clean exit. */
static void ex_finish(Ex *e)
{
    QTestConn *c = qtest_connect(e->s, 0);

    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-version'}"));
    qtest_disconnect(c);
    assert_count(e, e->base, "at the end");
    qtest_assert_fds_match_registry(e->s, e->c, 0);
    ck_assert_int_eq(qtest_quit(e->s), 0);
    g_free(e->img);
    g_free(e);
}

static int ro_fd(Ex *e)
{
    return qtest_open_file(e->s, e->img, O_RDONLY);
}

/* add-fd of a fresh read-only description; the reply (caller unrefs). */
static JsonNode *add_fd(Ex *e, QTestConn *c, const char *args)
{
    int fd = ro_fd(e);
    JsonNode *r = qtest_qmp_fds(c, &fd, 1,
                                "{'execute': 'add-fd', "
                                "'arguments': {%s}}",
                                args ? args : "");

    close(fd);
    return r;
}

static void add_fd_ok(Ex *e, const char *args)
{
    qtest_assert_success(add_fd(e, e->c, args));
}

static void assert_error_prefix(JsonNode *r, const char *prefix)
{
    g_autofree char *text = json_to_string(r, FALSE);
    const char *desc = qtest_error_desc(r);

    ck_assert_msg(desc && g_str_equal(qtest_error_class(r), "GenericError") &&
                      g_str_has_prefix(desc, prefix),
                  "expected GenericError \"%s...\", got %s", prefix, text);
    json_node_unref(r);
}

static int64_t limit_of(QTestConn *c, const char *name)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsetd-limits'}");
    int64_t v = json_object_get_int_member(qtest_return_object(r), name);

    json_node_unref(r);
    return v;
}

static void remove_set(Ex *e, int64_t id)
{
    qtest_assert_success(qtest_qmp(e->c,
                                   "{'execute': 'remove-fd', "
                                   "'arguments': {'fdset-id': %" G_GINT64_FORMAT
                                   "}}",
                                   id));
}

static guint n_sets(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-fdsets'}");
    guint n = json_array_get_length(qtest_return_array(r));

    json_node_unref(r);
    return n;
}

/* ---- configured limits at their edge -------------------------------- */

START_TEST(test_max_sets_edge)
{
    Ex *e = ex_start("--max-sets 3");

    ck_assert_int_eq(limit_of(e->c, "max-sets"), 3);
    for (int i = 0; i < 3; i++) {
        add_fd_ok(e, NULL);
    }
    assert_error_prefix(add_fd(e, e->c, NULL), "Cannot create fdset");
    assert_error_prefix(add_fd(e, e->c, "'fdset-id': 77"),
                        "Cannot create fdset");
    /* the refused fds are closed; existing sets still take members */
    assert_count(e, e->base + 3, "after refusals");
    add_fd_ok(e, "'fdset-id': 1");
    remove_set(e, 1);
    add_fd_ok(e, "'fdset-id': 77");
    ck_assert_uint_eq(n_sets(e->c), 3);
    remove_set(e, 0);
    remove_set(e, 2);
    remove_set(e, 77);
    ex_finish(e);
}
END_TEST

START_TEST(test_max_fds_per_set_edge)
{
    Ex *e = ex_start("--max-fds-per-set 2");

    add_fd_ok(e, "'fdset-id': 4");
    add_fd_ok(e, "'fdset-id': 4");
    assert_error_prefix(add_fd(e, e->c, "'fdset-id': 4"), "Cannot add fd");
    assert_count(e, e->base + 2, "after the refusal");
    add_fd_ok(e, "'fdset-id': 5"); /* other sets are not affected */
    remove_set(e, 4);
    remove_set(e, 5);
    ex_finish(e);
}
END_TEST

START_TEST(test_max_fds_total_edge)
{
    Ex *e = ex_start("--max-fds-total 4");

    for (int i = 0; i < 4; i++) {
        add_fd_ok(e, i % 2 ? "'fdset-id': 1" : "'fdset-id': 2");
    }
    assert_error_prefix(add_fd(e, e->c, NULL), "Cannot add fd");
    assert_error_prefix(add_fd(e, e->c, "'fdset-id': 1"), "Cannot add fd");
    assert_count(e, e->base + 4, "after refusals");
    qtest_assert_success(qtest_qmp(e->c, "{'execute': 'remove-fd', "
                                         "'arguments': {'fdset-id': 2}}"));
    add_fd_ok(e, "'fdset-id': 3");
    add_fd_ok(e, "'fdset-id': 3");
    assert_error_prefix(add_fd(e, e->c, NULL), "Cannot add fd");
    remove_set(e, 1);
    remove_set(e, 3);
    ex_finish(e);
}
END_TEST

static int raw_connect(QTestState *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    strcpy(sa.sun_path, qtest_socket_path(s, 0));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Everything a client gets until EOF (or 5 s). */
static char *read_until_eof(int fd, bool *eof)
{
    GString *in = g_string_new(NULL);
    gint64 deadline = g_get_monotonic_time() + SETTLE_US;
    char buf[4096];

    *eof = false;
    while (g_get_monotonic_time() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&p, 1, 100) <= 0) {
            continue;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            *eof = true;
            break;
        }
        g_string_append_len(in, buf, n);
    }
    return g_string_free(in, FALSE);
}

/* A refused client is told why, in one error line, then closed. */
static void assert_refused(QTestState *s, const char *desc)
{
    int fd = raw_connect(s);
    bool eof;
    g_autofree char *text = read_until_eof(fd, &eof);
    g_autofree char *want = g_strdup_printf(
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\"}}\r\n",
        desc);
    g_autoptr(JsonNode) p = NULL, q = NULL;

    close(fd);
    ck_assert_msg(eof, "refused client not closed; got %s", text);
    ck_assert_msg((p = json_from_string(text, NULL)) &&
                      (q = json_from_string(want, NULL)) &&
                      json_node_equal(p, q),
                  "refused client got '%s', expected '%s'", text, want);
}

START_TEST(test_max_connections_edge)
{
    Ex *e = ex_start("--max-connections 3");
    QTestConn *a = qtest_connect(e->s, 0);
    QTestConn *b = qtest_connect(e->s, 0);

    assert_refused(e->s, "Too many connections (limit 3); connection "
                         "refused");
    assert_refused(e->s, "Too many connections (limit 3); connection "
                         "refused");
    qtest_assert_success(qtest_qmp(b, "{'execute': 'query-version'}"));
    qtest_disconnect(a);
    assert_count(e, e->base + 1, "after one left");
    a = qtest_connect(e->s, 0);
    qtest_assert_success(qtest_qmp(a, "{'execute': 'query-version'}"));
    qtest_disconnect(a);
    qtest_disconnect(b);
    assert_count(e, e->base, "after both left");
    ex_finish(e);
}
END_TEST

START_TEST(test_message_size_and_depth_edges)
{
    Ex *e = ex_start("--max-message-size 64 --max-json-depth 3");
    QTestConn *c = e->c;
    /* 64 bytes exactly, and 65 */
    static const char at[] = "{\"execute\": \"query-version\", \"id\": "
                             "\"xxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
    static const char over[] = "{\"execute\": \"query-version\", \"id\": "
                               "\"xxxxxxxxxxxxxxxxxxxxxxxxxxx\"}";
    JsonNode *r;

    ck_assert_uint_eq(strlen(at), 64);
    qtest_send_raw(c, at, strlen(at), NULL, 0);
    qtest_assert_success(qtest_recv_response(c, -1));
    qtest_send_raw(c, over, strlen(over), NULL, 0);
    qtest_assert_error(qtest_recv_response(c, -1), "GenericError",
                       "JSON parse error, message too large (limit 64 "
                       "bytes)");
    qtest_send_raw(c, "{\"id\": [[1]]}", 13, NULL, 0);
    r = qtest_recv_response(c, -1);
    qtest_assert_error(r, "GenericError", "QMP input lacks member 'execute'");
    qtest_send_raw(c, "{\"id\": [[[1]]]}", 15, NULL, 0);
    qtest_assert_error(qtest_recv_response(c, -1), "GenericError",
                       "JSON parse error, nesting too deep (limit 3)");
    ck_assert_int_eq(limit_of(c, "max-json-depth"), 3);
    ex_finish(e);
}
END_TEST

START_TEST(test_max_fds_per_message_edge)
{
    Ex *e = ex_start("--max-fds-per-message 4");
    int fds[5];
    JsonNode *r;

    for (int i = 0; i < 5; i++) {
        fds[i] = ro_fd(e);
    }
    qtest_assert_success(qtest_qmp_fds(e->c, fds, 4,
                                       "{'execute': "
                                       "'add-fd'}"));
    assert_count(e, e->base + 1, "4 fds: one taken");
    r = qtest_qmp_fds(e->c, fds, 5, "{'execute': 'add-fd'}");
    assert_error_prefix(r, "");
    assert_count(e, e->base + 1, "5 fds: all closed");
    ck_assert_uint_eq(n_sets(e->c), 1);
    for (int i = 0; i < 5; i++) {
        close(fds[i]);
    }
    remove_set(e, 0);
    ex_finish(e);
}
END_TEST

/* ---- out of file descriptors ------------------------------------------ */

/* The daemon's open fd numbers. */
static GArray *daemon_fds(QTestState *s)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qtest_pid(s));
    GDir *d = g_dir_open(dir, 0, NULL);
    GArray *fds = g_array_new(FALSE, FALSE, sizeof(int));
    const char *name;

    ck_assert_ptr_nonnull(d);
    while ((name = g_dir_read_name(d))) {
        int fd = atoi(name);
        g_array_append_val(fds, fd);
    }
    g_dir_close(d);
    return fds;
}

/*
 * Set the daemon's soft RLIMIT_NOFILE (the hard one stays: raising it back
 * would need CAP_SYS_RESOURCE); 0 restores the soft limit to the hard one.
 */
static void set_nofile(QTestState *s, rlim_t limit)
{
    struct rlimit rl;

    ck_assert_int_eq(prlimit(qtest_pid(s), RLIMIT_NOFILE, NULL, &rl), 0);
    rl.rlim_cur = limit ? limit : rl.rlim_max;
    ck_assert_msg(prlimit(qtest_pid(s), RLIMIT_NOFILE, &rl, NULL) == 0,
                  "prlimit(%d, NOFILE, %lu): %s", (int)qtest_pid(s),
                  (unsigned long)limit, g_strerror(errno));
}

/*
 * Lower the daemon's RLIMIT_NOFILE so that exactly @free fd numbers are
 * left for it to allocate.
 */
static void leave_free_fds(QTestState *s, guint free)
{
    g_autoptr(GArray) fds = daemon_fds(s);
    rlim_t limit;

    for (limit = 1;; limit++) {
        guint below = 0;

        for (guint i = 0; i < fds->len; i++) {
            below += (rlim_t)g_array_index(fds, int, i) < limit;
        }
        if (below == fds->len && limit - below == free) {
            break;
        }
    }
    set_nofile(s, limit);
}

/* EMFILE at the dup: blockdev-add fails with QEMU's text, then works. */
START_TEST(test_emfile_at_dup)
{
    Ex *e = ex_start(NULL);

    add_fd_ok(e, "'fdset-id': 0");
    add_fd_ok(e, "'fdset-id': 1");
    leave_free_fds(e->s, 0);
    qtest_assert_error(qtest_qmp(e->c, "{'execute': 'blockdev-add', "
                                       "'arguments': {'driver': 'file', "
                                       "'node-name': 'n', 'filename': "
                                       "'/dev/fdset/0', 'read-only': true}}"),
                       "GenericError",
                       "Could not dup FD for /dev/fdset/0 "
                       "flags 0: Too many open files");
    ck_assert_int_eq(qtest_fdset_dup_count(e->c, 0), 0);
    /* a member goes: the dup has room now */
    remove_set(e, 1);
    qtest_assert_success(qtest_qmp(e->c,
                                   "{'execute': 'blockdev-add', "
                                   "'arguments': {'driver': 'file', "
                                   "'node-name': 'n', 'filename': "
                                   "'/dev/fdset/0', 'read-only': true}}"));
    ck_assert_int_eq(qtest_fdset_dup_count(e->c, 0), 1);
    qtest_assert_success(qtest_qmp(e->c, "{'execute': 'blockdev-del', "
                                         "'arguments': {'node-name': 'n'}}"));
    remove_set(e, 0);
    set_nofile(e->s, 0);
    ex_finish(e);
}
END_TEST

/* EMFILE at recvmsg: the command fails (MSG_CTRUNC), what came is closed. */
START_TEST(test_emfile_at_recvmsg)
{
    Ex *e = ex_start(NULL);
    int fds[3] = {ro_fd(e), ro_fd(e), ro_fd(e)};

    leave_free_fds(e->s, 1);
    qtest_assert_error(qtest_qmp_fds(e->c, fds, 3, "{'execute': 'add-fd'}"),
                       "GenericError", CTRUNC_MSG);
    assert_count(e, e->base, "after the truncated message");
    ck_assert_uint_eq(n_sets(e->c), 0);
    /* with none free at all */
    add_fd_ok(e, "'fdset-id': 5");
    qtest_assert_error(qtest_qmp_fds(e->c, fds, 1, "{'execute': 'add-fd'}"),
                       "GenericError", CTRUNC_MSG);
    qtest_assert_error(qtest_qmp_fds(e->c, fds, 1,
                                     "{'execute': "
                                     "'query-version'}"),
                       "GenericError", CTRUNC_MSG);
    /* freed: service resumes */
    remove_set(e, 5);
    qtest_assert_success(qtest_qmp_fds(e->c, fds, 1,
                                       "{'execute': "
                                       "'add-fd'}"));
    remove_set(e, 0);
    for (int i = 0; i < 3; i++) {
        close(fds[i]);
    }
    set_nofile(e->s, 0);
    ex_finish(e);
}
END_TEST

/*
 * The daemon still answers @c within 2 s.  If not, it is killed here (a
 * daemon spinning on a log message would fill the disk and the test log),
 * and the test fails.
 */
static void assert_answers(Ex *e, QTestConn *c, const char *when)
{
    static const char q[] = "{\"execute\": \"query-fdsets\"}";
    JsonNode *r;

    qtest_send_raw(c, q, strlen(q), NULL, 0);
    r = qtest_recv_response(c, 2000);
    if (!r) {
        qtest_kill(e->s);
        ck_abort_msg("%s: the daemon stopped answering", when);
    }
    qtest_assert_success(r);
}

/* EMFILE at accept: the client is told why, repeatedly; then served. */
START_TEST(test_emfile_at_accept)
{
    Ex *e = ex_start(NULL);
    QTestConn *c;

    add_fd_ok(e, "'fdset-id': 0");
    leave_free_fds(e->s, 0);
    assert_refused(e->s, ACCEPT_EMFILE_MSG);
    /* those that are connected are still served */
    assert_answers(e, e->c, "after refusing a client at EMFILE");
    for (int i = 0; i < 3; i++) {
        assert_refused(e->s, ACCEPT_EMFILE_MSG);
    }
    assert_count(e, e->base + 1, "after refusals");
    remove_set(e, 0);
    c = qtest_connect(e->s, 0);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'query-version'}"));
    qtest_disconnect(c);
    set_nofile(e->s, 0);
    ex_finish(e);
}
END_TEST

/* Raising the limit again is enough, nothing needs to be freed. */
START_TEST(test_emfile_then_limit_raised)
{
    Ex *e = ex_start(NULL);
    int fd = ro_fd(e);

    add_fd_ok(e, "'fdset-id': 0");
    leave_free_fds(e->s, 0);
    qtest_assert_error(qtest_qmp_fds(e->c, &fd, 1, "{'execute': 'add-fd'}"),
                       "GenericError", CTRUNC_MSG);
    qtest_assert_error(qtest_qmp(e->c, "{'execute': 'blockdev-add', "
                                       "'arguments': {'driver': 'file', "
                                       "'node-name': 'n', 'filename': "
                                       "'/dev/fdset/0', 'read-only': true}}"),
                       "GenericError",
                       "Could not dup FD for /dev/fdset/0 "
                       "flags 0: Too many open files");
    set_nofile(e->s, 0);
    qtest_assert_success(qtest_qmp_fds(e->c, &fd, 1,
                                       "{'execute': "
                                       "'add-fd', 'arguments': "
                                       "{'fdset-id': 0}}"));
    qtest_assert_success(qtest_qmp(e->c,
                                   "{'execute': 'blockdev-add', "
                                   "'arguments': {'driver': 'file', "
                                   "'node-name': 'n', 'filename': "
                                   "'/dev/fdset/0', 'read-only': true}}"));
    qtest_assert_success(qtest_qmp(e->c, "{'execute': 'blockdev-del', "
                                         "'arguments': {'node-name': 'n'}}"));
    remove_set(e, 0);
    close(fd);
    ex_finish(e);
}
END_TEST

/*
 * Started with a low hard limit: the default --max-fds-total leaves
 * headroom, so members are refused with a clear error before the process
 * runs out, and dups and clients still fit.
 */
START_TEST(test_low_rlimit_at_start)
{
    struct rlimit old, low = {.rlim_cur = 64, .rlim_max = 64};
    Ex *e;
    int64_t total;
    QTestConn *c2;

    /*
     * The daemon raises its soft limit to the hard one: lower the hard
     * limit of this (forked, per-test) process before it spawns the
     * daemon.  It cannot be raised again without CAP_SYS_RESOURCE.
     */
    if (g_strcmp0(g_getenv("CK_FORK"), "no") == 0) {
        fprintf(stderr, "test_low_rlimit_at_start needs CK_FORK: skipped\n");
        return;
    }
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
    if (old.rlim_max < 64) {
        return;
    }
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
    e = ex_start(NULL);
    total = limit_of(e->c, "max-fds-total");
    ck_assert_msg(total > 0 && total < 64 - 8,
                  "max-fds-total %" PRId64 " leaves no headroom under 64",
                  total);
    for (int64_t i = 0; i < total; i++) {
        add_fd_ok(e, "'fdset-id': 0");
    }
    assert_error_prefix(add_fd(e, e->c, "'fdset-id': 0"), "Cannot add fd");
    qtest_assert_success(qtest_qmp(e->c,
                                   "{'execute': 'blockdev-add', "
                                   "'arguments': {'driver': 'file', "
                                   "'node-name': 'n', 'filename': "
                                   "'/dev/fdset/0', 'read-only': true}}"));
    c2 = qtest_connect(e->s, 0);
    qtest_assert_success(qtest_qmp(c2, "{'execute': 'query-fdsets'}"));
    qtest_disconnect(c2);
    qtest_assert_success(qtest_qmp(e->c, "{'execute': 'blockdev-del', "
                                         "'arguments': {'node-name': 'n'}}"));
    remove_set(e, 0);
    ex_finish(e);
}
END_TEST

/*
 * Out of fds while clients come and go with fds in flight: nothing leaks,
 * no connection is left half open, and everything works once freed.
 */
START_TEST(test_emfile_churn)
{
    Ex *e = ex_start(NULL);
    int fds[4] = {ro_fd(e), ro_fd(e), ro_fd(e), ro_fd(e)};

    add_fd_ok(e, "'fdset-id': 0");
    add_fd_ok(e, "'fdset-id': 1");
    leave_free_fds(e->s, 2);
    for (int i = 0; i < 30; i++) {
        int sock = raw_connect(e->s);
        static const char cmd[] = "{\"execute\": \"add-fd\"}";
        struct iovec iov = {.iov_base = (char *)cmd, .iov_len = strlen(cmd)};
        union {
            char buf[CMSG_SPACE(sizeof(fds))];
            struct cmsghdr align;
        } u;
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

        memset(u.buf, 0, sizeof(u.buf));
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(fds));
        memcpy(CMSG_DATA(cm), fds, sizeof(fds));
        (void)!sendmsg(sock, &msg, MSG_NOSIGNAL);
        if (i % 2) {
            g_usleep(2000);
        }
        close(sock);
    }
    qtest_assert_success(qtest_qmp(e->c, "{'execute': 'query-fdsets'}"));
    assert_count(e, e->base + 2, "after the churn");
    ck_assert_uint_eq(n_sets(e->c), 2);
    remove_set(e, 1);
    set_nofile(e->s, 0);
    qtest_assert_success(qtest_qmp_fds(e->c, fds, 4,
                                       "{'execute': "
                                       "'add-fd', 'arguments': "
                                       "{'fdset-id': 0}}"));
    remove_set(e, 0);
    for (int i = 0; i < 4; i++) {
        close(fds[i]);
    }
    ex_finish(e);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("exhaustion");
    TCase *tc = tcase_create("exhaustion");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_max_sets_edge);
    tcase_add_test(tc, test_max_fds_per_set_edge);
    tcase_add_test(tc, test_max_fds_total_edge);
    tcase_add_test(tc, test_max_connections_edge);
    tcase_add_test(tc, test_message_size_and_depth_edges);
    tcase_add_test(tc, test_max_fds_per_message_edge);
    tcase_add_test(tc, test_emfile_at_dup);
    tcase_add_test(tc, test_emfile_at_recvmsg);
    tcase_add_test(tc, test_emfile_at_accept);
    tcase_add_test(tc, test_emfile_then_limit_raised);
    tcase_add_test(tc, test_low_rlimit_at_start);
    tcase_add_test(tc, test_emfile_churn);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
