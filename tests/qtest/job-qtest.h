/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers of the job qtests (job-test.c, stream-test.c, mirror-test.c):
 * exact JOB_STATUS_CHANGE sequences, query-block-jobs members, and the
 * usual images behind fdsets.  Header-only, on top of block-qtest.h.
 */
#ifndef JOB_QTEST_H
#define JOB_QTEST_H

#include "block-qtest.h"

#define MiB (1024 * 1024)

/* The next JOB_STATUS_CHANGE events of job @id must be @want (statuses
 * separated by spaces), in that order. */
static inline void jq_statuses(QTestConn *c, const char *id, const char *want)
{
    g_auto(GStrv) list = g_strsplit(want, " ", -1);

    for (guint i = 0; list[i]; i++) {
        JsonNode *keep;
        JsonObject *d;

        for (;;) {
            d = bq_event(c, "JOB_STATUS_CHANGE", 20000, &keep);
            if (g_str_equal(json_object_get_string_member(d, "id"), id)) {
                break;
            }
            json_node_unref(keep);
        }
        ck_assert_msg(
            g_str_equal(json_object_get_string_member(d, "status"), list[i]),
            "job %s: status #%u is '%s', expected '%s' (of '%s')", id, i,
            json_object_get_string_member(d, "status"), list[i], want);
        json_node_unref(keep);
    }
}

/* query-block-jobs' entry of @id as a JSON text member: bool, int or
 * string, printed ("true", "42", "ok"); "" when there is no such job. */
static inline char *jq_field(QTestConn *c, const char *id, const char *member)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-block-jobs'}");
    JsonArray *jobs = qtest_return_array(r);
    char *v = g_strdup("");

    for (guint i = 0; jobs && i < json_array_get_length(jobs); i++) {
        JsonObject *o = json_array_get_object_element(jobs, i);
        JsonNode *m;

        if (!g_str_equal(json_object_get_string_member(o, "device"), id)) {
            continue;
        }
        m = json_object_get_member(o, member);
        g_free(v);
        if (!m) {
            v = g_strdup("");
        } else if (json_node_get_value_type(m) == G_TYPE_BOOLEAN) {
            v = g_strdup(json_node_get_boolean(m) ? "true" : "false");
        } else if (json_node_get_value_type(m) == G_TYPE_INT64) {
            v = g_strdup_printf("%" G_GINT64_FORMAT, json_node_get_int(m));
        } else {
            v = g_strdup(json_node_get_string(m));
        }
    }
    json_node_unref(r);
    return v;
}

static inline void jq_assert_field(QTestConn *c, const char *id,
                                   const char *member, const char *want)
{
    g_autofree char *v = jq_field(c, id, member);

    ck_assert_msg(g_str_equal(v, want), "job %s: %s is '%s', expected '%s'",
                  id, member, v, want);
}

/* A command that must fail with class @cls and text @desc. */
#define jq_err(c, cls, desc, ...)                                              \
    qtest_assert_error(qtest_qmp((c), __VA_ARGS__), (cls), (desc))

static inline void jq_del(QTestConn *c, const char *node)
{
    bq_ok(c, "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
          node);
}

/* base.img (raw, @mib MiB of 0x11, 1M..2M 0x22) <- top.qcow2 (empty but
 * 0x33 at 0..64k); sets 0 base O_RDONLY, 1 top O_RDWR; nodes base, top.
 * expect.img is what top shows, as raw. */
static inline void jq_two_layers(BlockFixture *f, int mib)
{
    g_free(bq_sh(f,
                 "qemu-img create -q -f raw base.img %dM && "
                 "qemu-io -f raw -c 'write -P 0x11 0 %dM' "
                 "-c 'write -P 0x22 1M 1M' base.img >/dev/null && "
                 "qemu-img create -q -f qcow2 -b base.img -F raw top.qcow2 && "
                 "qemu-io -c 'write -P 0x33 0 64k' top.qcow2 >/dev/null && "
                 "qemu-img convert -O raw top.qcow2 expect.img",
                 mib, mib));
    bq_add_fd(f, f->c, "base.img", O_RDONLY, 0);
    bq_add_fd(f, f->c, "top.qcow2", O_RDWR, 1);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'read-only': true, 'file': {'driver': "
                "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
}

/*
 * A tmpfs of @kib KiB at scratch dir "small" (root only: false when it
 * cannot be mounted, and the caller skips).  jq_small_unmount() at the end
 * (lazily, so the scratch dir can go whatever happened).
 */
static inline bool jq_small_mount(BlockFixture *f, int kib)
{
    return bq_sh_status(f, "mkdir -p small && mount -t tmpfs -o size=%dk "
                           "tmpfs small",
                        kib) == 0;
}

static inline void jq_small_resize(BlockFixture *f, int kib)
{
    g_free(bq_sh(f, "mount -o remount,size=%dk small", kib));
}

static inline void jq_small_unmount(BlockFixture *f)
{
    bq_sh_status(f, "umount -l small");
}

/* BLOCK_JOB_ERROR of @id must come, with @op and @action. */
static inline void jq_expect_error_event(QTestConn *c, const char *id,
                                         const char *op, const char *action)
{
    JsonNode *keep;
    JsonObject *d = bq_event(c, "BLOCK_JOB_ERROR", 20000, &keep);

    ck_assert_str_eq(json_object_get_string_member(d, "device"), id);
    ck_assert_str_eq(json_object_get_string_member(d, "operation"), op);
    ck_assert_str_eq(json_object_get_string_member(d, "action"), action);
    json_node_unref(keep);
}

#endif
