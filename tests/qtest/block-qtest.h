/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the block qtests (block-test.c, commit-test.c,
 * hmp-test.c): images made with qemu-img/qemu-io in the test's scratch
 * directory, fds passed with add-fd, short QMP assertions, node lookups and
 * the daemon's dups of a file.  Header-only: each qtest is one .c file.
 */
#ifndef BLOCK_QTEST_H
#define BLOCK_QTEST_H

#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libqtest.h"

typedef struct BlockFixture {
    QTestState *s;
    QTestConn *c;
} BlockFixture;

static inline BlockFixture bq_start(const char *extra_args)
{
    BlockFixture f;

    f.s = qtest_spawn(extra_args);
    f.c = qtest_connect(f.s, 0);
    return f;
}

/* Every test ends here: no fd beyond the registry's, clean exit. */
static inline void bq_finish(BlockFixture *f)
{
    qtest_assert_fds_match_registry(f->s, f->c, 0);
    ck_assert_int_eq(qtest_quit(f->s), 0);
}

static inline char *bq_path(BlockFixture *f, const char *name)
{
    return g_build_filename(qtest_tmpdir(f->s), name, NULL);
}

/* Run a shell command in the scratch directory; it must succeed.  Returns
 * its stdout. */
G_GNUC_PRINTF(2, 3)
static inline char *bq_sh(BlockFixture *f, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autofree char *err = NULL;
    char *out = NULL;
    const char *argv[4] = {"/bin/sh", "-c", NULL, NULL};
    GError *gerr = NULL;
    int status;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    argv[2] = cmd;
    ck_assert_msg(g_spawn_sync(qtest_tmpdir(f->s), (char **)argv, NULL, 0, NULL,
                               NULL, &out, &err, &status, &gerr),
                  "spawn %s: %s", cmd, gerr ? gerr->message : "?");
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "'%s' failed: %s%s",
                  cmd, out, err);
    return out;
}

/* Like bq_sh, but returns the exit status (output dropped). */
G_GNUC_PRINTF(2, 3)
static inline int bq_sh_status(BlockFixture *f, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    const char *argv[4] = {"/bin/sh", "-c", NULL, NULL};
    int status;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    argv[2] = cmd;
    ck_assert(
        g_spawn_sync(qtest_tmpdir(f->s), (char **)argv, NULL,
                     G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, NULL, NULL, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* add-fd of a fresh open of scratch file @name into set @set. */
static inline int bq_add_fd(BlockFixture *f, QTestConn *c, const char *name,
                            int flags, int64_t set)
{
    int fd = qtest_open_file(f->s, name, flags);
    int dfd = qtest_add_fd(c, fd, set, NULL, NULL);

    close(fd);
    return dfd;
}

/* A QMP command that must succeed; returns the response. */
#define bq_ok(c, ...) qtest_assert_success(qtest_qmp((c), __VA_ARGS__))
/* A QMP command that must fail with GenericError @desc. */
#define bq_err(c, desc, ...)                                                   \
    qtest_assert_error(qtest_qmp((c), __VA_ARGS__), "GenericError", (desc))

/* human-monitor-command: its output (new string). */
static inline char *bq_hmp(QTestConn *c, const char *line)
{
    g_autofree char *l = qtest_json_str(line);
    JsonNode *r = qtest_qmp(c,
                            "{'execute': 'human-monitor-command', "
                            "'arguments': {'command-line': %s}}",
                            l);
    char *out;

    ck_assert_msg(json_object_has_member(json_node_get_object(r), "return"),
                  "HMP '%s' failed", line);
    out = g_strdup(json_node_get_string(
        json_object_get_member(json_node_get_object(r), "return")));
    json_node_unref(r);
    return out;
}

/* The query-named-block-nodes entry of @node (flat or not), or NULL; the
 * reply is kept in *@keep (unref it). */
static inline JsonObject *bq_node(QTestConn *c, const char *node, bool flat,
                                  JsonNode **keep)
{
    JsonNode *r = qtest_qmp(c,
                            "{'execute': 'query-named-block-nodes', "
                            "'arguments': {'flat': %s}}",
                            flat ? "true" : "false");
    JsonArray *arr = qtest_return_array(r);

    ck_assert_ptr_nonnull(arr);
    *keep = r;
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "node-name"), node)) {
            return o;
        }
    }
    return NULL;
}

static inline guint bq_node_count(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes'}");
    guint n = json_array_get_length(qtest_return_array(r));

    json_node_unref(r);
    return n;
}

static inline bool bq_node_ro(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    bool ro;

    ck_assert_msg(o, "no node '%s'", node);
    ro = json_object_get_boolean_member(o, "ro");
    json_node_unref(keep);
    return ro;
}

/* A string member of node @node's info ("" when absent, new string). */
static inline char *bq_node_str(QTestConn *c, const char *node,
                                const char *member)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    char *v;

    ck_assert_msg(o, "no node '%s'", node);
    v = g_strdup(json_object_get_string_member_with_default(o, member, ""));
    json_node_unref(keep);
    return v;
}

/*
 * How many of the daemon's fds point at scratch file @name with access
 * mode @mode ("ro", "rw"; NULL for any).  Members are counted too.
 */
static inline guint bq_fds_on(BlockFixture *f, const char *name,
                              const char *mode)
{
    g_autofree char *path = bq_path(f, name);
    struct stat want, st;
    guint n = 0;

    ck_assert_int_eq(stat(path, &want), 0);
    for (int fd = 3; fd < 1024; fd++) {
        if (qtest_fd_stat(f->s, fd, &st) && st.st_ino == want.st_ino &&
            st.st_dev == want.st_dev &&
            (!mode || g_strcmp0(qtest_fd_mode(f->s, fd), mode) == 0)) {
            n++;
        }
    }
    return n;
}

/* Wait for event @name; returns its "data" member's object, kept in
 * *@keep. */
static inline JsonObject *bq_event(QTestConn *c, const char *name,
                                   int timeout_ms, JsonNode **keep)
{
    JsonNode *ev = qtest_event_wait(c, name, timeout_ms);

    ck_assert_msg(ev, "no %s event", name);
    *keep = ev;
    return json_object_get_object_member(json_node_get_object(ev), "data");
}

/* Event @name must come within @timeout_ms. */
static inline void bq_expect_event(QTestConn *c, const char *name,
                                   int timeout_ms)
{
    JsonNode *ev = qtest_event_wait(c, name, timeout_ms);

    ck_assert_msg(ev, "no %s event", name);
    json_node_unref(ev);
}

/* Wait for JOB_STATUS_CHANGE @status of job @id (skipping others). */
static inline void bq_wait_status(QTestConn *c, const char *id,
                                  const char *status)
{
    for (;;) {
        JsonNode *keep;
        JsonObject *d = bq_event(c, "JOB_STATUS_CHANGE", 20000, &keep);
        bool match =
            g_str_equal(json_object_get_string_member(d, "id"), id) &&
            g_str_equal(json_object_get_string_member(d, "status"), status);

        json_node_unref(keep);
        if (match) {
            return;
        }
    }
}

#endif
