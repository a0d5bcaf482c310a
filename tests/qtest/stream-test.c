/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-stream qtests on images behind fdsets: into the top of a three-layer
 * chain down to a base (header names the base as the chain did), the whole
 * chain, a read-only top (O_RDWR member needed, released afterwards), guest
 * writes during the stream are kept, a /dev/fdset name is never recorded,
 * every documented error, and the on-error policies on a full filesystem
 * (report, stop then resume once space is back, ignore), the
 * copy-on-read filter of filter-node-name under an NBD export.  Data checked
 * with qemu-img compare/check/info; fds against the registry.
 */
#include "job-qtest.h"

/* base.img (raw 0x11, 8M) <- mid.qcow2 (0x22 1M..3M) <- top.qcow2 (0x33
 * 2M..2M+64k); sets 0 base, 1 mid (O_RDONLY), 2 top (@top_flags). */
static void make_three(BlockFixture *f, int top_flags, bool top_ro)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 8M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                    "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 "
                    "&& qemu-io -c 'write -P 0x22 1M 2M' mid.qcow2 && "
                    "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                    "top.qcow2 && qemu-io -c 'write -P 0x33 2M 64k' top.qcow2 "
                    "&& qemu-img convert -O raw top.qcow2 expect.img"));
    bq_add_fd(f, f->c, "base.img", O_RDONLY, 0);
    bq_add_fd(f, f->c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(f, f->c, "top.qcow2", top_flags, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'read-only': true, 'file': {'driver': "
                "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
                "'base', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/1'}}}");
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': "
          "'qcow2', 'node-name': 'top', 'read-only': %s, 'backing': 'mid', "
          "'file': {'driver': 'file', 'filename': '/dev/fdset/2'}}}",
          top_ro ? "true" : "false");
}

static void del_three(BlockFixture *f)
{
    jq_del(f->c, "top");
    jq_del(f->c, "mid");
    jq_del(f->c, "base");
}

static void assert_top_data(BlockFixture *f)
{
    ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q top.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(f, "qemu-img compare -q -f raw -F qcow2 "
                                     "expect.img top.qcow2"),
                     0);
}

static void assert_completed(QTestConn *c, const char *id)
{
    JsonNode *keep;
    JsonObject *d = bq_event(c, "BLOCK_JOB_COMPLETED", 30000, &keep);

    ck_assert_str_eq(json_object_get_string_member(d, "device"), id);
    ck_assert_str_eq(json_object_get_string_member(d, "type"), "stream");
    ck_assert_msg(!json_object_has_member(d, "error"), "stream failed: %s",
                  json_object_get_string_member_with_default(d, "error", ""));
    ck_assert_int_eq(json_object_get_int_member(d, "offset"), 8 * MiB);
    ck_assert_int_eq(json_object_get_int_member(d, "len"), 8 * MiB);
    json_node_unref(keep);
}

/* mid streamed into top; top then names base as mid's header did. */
START_TEST(test_stream_to_base)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;
    g_autofree char *map = NULL;
    g_autofree char *backing = NULL;

    make_three(&f, O_RDWR, false);
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'job-id': 's', "
               "'device': 'top', 'base-node': 'base'}}");
    jq_statuses(f.c, "s", "created running waiting pending");
    assert_completed(f.c, "s");
    jq_statuses(f.c, "s", "concluded null");
    backing = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_eq(backing, "/dev/fdset/0");
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.img\n"), "%s", info);
    ck_assert(!strstr(info, "/dev/fdset"));
    assert_top_data(&f);
    /* mid's data now lives in top, base's still shows through */
    map = bq_sh(&f, "qemu-img map --output=json top.qcow2");
    ck_assert_msg(strstr(map, "\"start\": 1048576, \"length\": 1048576, "
                              "\"depth\": 0"),
                  "%s", map);
    ck_assert_msg(strstr(map, "\"depth\": 1"), "%s", map);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q mid.qcow2 "
                                      "expect.img"),
                     1);
    bq_finish(&f);
}
END_TEST

/* No base: everything is copied and the header names no backing. */
START_TEST(test_stream_whole_chain)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_three(&f, O_RDWR, false);
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's'}}");
    assert_completed(f.c, "s");
    jq_statuses(f.c, "s", "created running waiting pending concluded null");
    del_three(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(!strstr(info, "backing file"), "%s", info);
    assert_top_data(&f);
    bq_finish(&f);
}
END_TEST

/* A read-only top needs the set's O_RDWR member and is read-only again
 * after the job, its read-write dup released. */
START_TEST(test_stream_readonly_top)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f, O_RDONLY, true);
    bq_err(f.c, "Could not dup FD for /dev/fdset/2 flags 2: Permission "
                "denied",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'base-node': 'base'}}");
    jq_statuses(f.c, "s", "created null");
    ck_assert(bq_node_ro(f.c, "top"));
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's', 'base-node': 'base'}}");
    assert_completed(f.c, "s");
    jq_statuses(f.c, "s", "created running waiting pending concluded null");
    ck_assert(bq_node_ro(f.c, "top"));
    /* members (ro, rw) and the node's ro dup: the rw dup went */
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", "rw"), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    assert_top_data(&f);
    bq_finish(&f);
}
END_TEST

/* A guest write during the stream is never overwritten by the copy. */
START_TEST(test_stream_guest_writes)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;

    make_three(&f, O_RDWR, false);
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's', 'speed': 2097152}}");
    jq_statuses(f.c, "s", "created running");
    /* in mid's range, ahead of the copy */
    out = bq_hmp(f.c, "qemu-io top \"write -P 0x77 2560k 128k\"");
    ck_assert_str_eq(out, "wrote 131072/131072 bytes at offset 2621440\r\n");
    g_free(bq_hmp(f.c, "qemu-io top \"write -P 0x78 7M 4k\""));
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 's', 'speed': 0}}");
    assert_completed(f.c, "s");
    del_three(&f);
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x77 2560k 128k' "
                     "-c 'write -P 0x78 7M 4k' expect.img"));
    assert_top_data(&f);
    bq_finish(&f);
}
END_TEST

/* The node export e0 serves right now. */
static char *export_node(QTestConn *c)
{
    g_autoptr(JsonNode) r = qtest_qmp(c, "{'execute': 'query-block-exports'}");
    JsonArray *a = qtest_return_array(r);

    return g_strdup(json_object_get_string_member(
        json_array_get_object_element(a, 0), "node-name"));
}

/* x-debug-query-block-graph's id of node @name, -1 if none. */
static gint64 graph_id(JsonObject *g, const char *name)
{
    JsonArray *nodes = json_object_get_array_member(g, "nodes");

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);

        if (g_str_equal(json_object_get_string_member(n, "name"), name)) {
            return json_object_get_int_member(n, "id");
        }
    }
    return -1;
}

/* Does the graph have an edge @name from node @parent to node @child? */
static bool graph_has_edge(QTestConn *c, const char *parent, const char *child,
                           const char *name)
{
    g_autoptr(JsonNode) r =
        qtest_qmp(c, "{'execute': 'x-debug-query-block-graph'}");
    JsonObject *g = qtest_return_object(r);
    JsonArray *edges = json_object_get_array_member(g, "edges");
    gint64 p = graph_id(g, parent), ch = graph_id(g, child);

    for (guint i = 0; i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);

        if (json_object_get_int_member(e, "parent") == p &&
            json_object_get_int_member(e, "child") == ch &&
            g_str_equal(json_object_get_string_member(e, "name"), name)) {
            return true;
        }
    }
    return false;
}

/*
 * filter-node-name: while the job runs a "copy-on-read" node of that name
 * sits above top (QEMU 7.2): query-named-block-nodes shows it, its "file"
 * edge is top, the export of top serves through it (its writes reach top),
 * it cannot be deleted nor streamed; at the end it is gone and the export
 * is on top again.
 */
START_TEST(test_stream_filter_node)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *sock = bq_path(&f, "nbd.sock");
    g_autofree char *on = NULL, *after = NULL, *drv = NULL;

    make_three(&f, O_RDWR, false);
    bq_ok(f.c,
          "{'execute': 'nbd-server-start', 'arguments': {'addr': "
          "{'type': 'unix', 'data': {'path': '%s'}}}}",
          sock);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
               "'id': 'e0', 'node-name': 'top', 'writable': true}}");
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's', 'speed': 1048576, 'filter-node-name': "
               "'cor0'}}");
    jq_statuses(f.c, "s", "created running");
    drv = bq_node_str(f.c, "cor0", "drv");
    ck_assert_str_eq(drv, "copy-on-read");
    on = export_node(f.c);
    ck_assert_str_eq(on, "cor0");
    ck_assert(graph_has_edge(f.c, "cor0", "top", "file"));
    bq_err(f.c, "Node cor0 is in use",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'cor0'}}");
    bq_err(f.c,
           "Node 'cor0' is busy: block device is in use by block job: "
           "stream",
           "{'execute': 'block-stream', 'arguments': {'device': 'cor0', "
           "'job-id': 's2'}}");
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x79 6M 64k' -c flush "
                     "'nbd+unix:///top?socket=nbd.sock' >/dev/null"));
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 's', 'speed': 0}}");
    assert_completed(f.c, "s");
    ck_assert_int_eq(bq_node_count(f.c), 6); /* 3 format + 3 file nodes */
    after = export_node(f.c);
    ck_assert_str_eq(after, "top");
    bq_ok(f.c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0'}}");
    bq_expect_event(f.c, "BLOCK_EXPORT_DELETED", 10000);
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    del_three(&f);
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x79 6M 64k' expect.img"));
    assert_top_data(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img info top.qcow2 | grep -q "
                                      "'^backing file'"),
                     1); /* the whole chain streamed */
    bq_finish(&f);
}
END_TEST

/* Without backing-file, a header that names no base would get the
 * base's /dev/fdset path: refused; with backing-file it works. */
START_TEST(test_stream_fdset_name_refused)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 4M && "
                     "qemu-io -f raw -c 'write -P 0x11 0 4M' base.img && "
                     "qemu-img create -q -f qcow2 mid.qcow2 4M && "
                     "qemu-io -c 'write -P 0x22 0 1M' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 top.qcow2 4M"));
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'mid', 'read-only': true, 'backing': 'base', "
               "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'top', 'backing': 'mid', 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/2'}}}");
    bq_err(f.c, "Cannot record '/dev/fdset/0' as the backing file of 'top': "
                "a /dev/fdset/ path only means something inside this "
                "process; give 'backing-file'",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'base-node': 'base'}}");
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's', 'base-node': 'base', 'backing-file': "
               "'base.img', 'auto-finalize': false}}");
    bq_expect_event(f.c, "BLOCK_JOB_PENDING", 20000);
    bq_ok(f.c, "{'execute': 'job-finalize', 'arguments': {'id': 's'}}");
    jq_statuses(f.c, "s", "created running waiting pending concluded null");
    del_three(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.img\n"), "%s", info);
    ck_assert_msg(strstr(info, "backing file format: raw\n"), "%s", info);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b base.img -F raw "
                     "e.qcow2 && qemu-io -c 'write -P 0x22 0 1M' e.qcow2"));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q e.qcow2 "
                                      "top.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

START_TEST(test_stream_errors)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f, O_RDWR, false);
    bq_err(f.c, "'base' and 'base-node' cannot be specified at the same time",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'base': 'base.img', 'base-node': 'base'}}");
    bq_err(f.c, "'base' and 'bottom' cannot be specified at the same time",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'base': 'base.img', 'bottom': 'mid'}}");
    bq_err(f.c, "'bottom' and 'base-node' cannot be specified at the same "
                "time",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'bottom': 'mid', 'base-node': 'base'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'block-stream', 'arguments': {'device': 'nope'}}");
    bq_err(f.c, "Can't find 'other.img' in the backing chain",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'base': 'other.img'}}");
    bq_err(f.c, "Node 'top' is not a backing image of 'mid'",
           "{'execute': 'block-stream', 'arguments': {'device': 'mid', "
           "'job-id': 's', 'base-node': 'top'}}");
    bq_err(f.c, "Node 'top' is not in a chain starting from 'mid'",
           "{'execute': 'block-stream', 'arguments': {'device': 'mid', "
           "'job-id': 's', 'bottom': 'top'}}");
    bq_err(f.c, "backing file specified, but streaming the entire chain",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'backing-file': 'x'}}");
    bq_err(f.c, "Invalid job ID ''",
           "{'execute': 'block-stream', 'arguments': {'device': 'top'}}");
    bq_err(f.c,
           "Could not create node: Duplicate nodes with "
           "node-name='mid'",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'filter-node-name': 'mid'}}");
    bq_err(f.c, "Could not create node: Invalid node-name: '#cor'",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'filter-node-name': '#cor'}}");
    bq_err(f.c, "Parameter 'speed' expects a non-negative value",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 's', 'speed': -1}}");
    jq_statuses(f.c, "s", "created null");
    /* by file name and bottom work, and a busy chain is refused */
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'device': 'top', "
               "'job-id': 's', 'base': 'base.img', 'speed': 1048576}}");
    bq_err(f.c, "Node 'top' is busy: block device is in use by block job: "
                "stream",
           "{'execute': 'block-stream', 'arguments': {'device': 'top', "
           "'job-id': 't', 'bottom': 'mid'}}");
    bq_err(f.c, "Job ID 's' already in use",
           "{'execute': 'block-stream', 'arguments': {'device': 'base', "
           "'job-id': 's'}}");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 's', 'speed': 0}}");
    assert_completed(f.c, "s");
    del_three(&f);
    assert_top_data(&f);
    bq_finish(&f);
}
END_TEST

/*
 * top.qcow2 on a 512 KiB tmpfs, 8 MiB to pull in: each policy meets
 * ENOSPC.  stop: paused, io-status nospace, resumed once the filesystem
 * grows, and the result is right.  report: the job fails, the chain
 * stays.  ignore: it goes on and fails at the end, the chain stays.
 */
static void stream_enospc(const char *policy)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d;

    if (!jq_small_mount(&f, 512)) {
        fprintf(stderr, "stream-test: cannot mount a tmpfs, skipped\n");
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 8M && "
                     "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                     "qemu-img create -q -f qcow2 -b ../base.img -F raw "
                     "small/top.qcow2 && qemu-img convert -O raw "
                     "small/top.qcow2 expect.img"));
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "small/top.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c,
          "{'execute': 'block-stream', 'arguments': {'device': 'top', "
          "'job-id': 's', 'on-error': '%s'}}",
          policy);
    /* "read" although the copy's write failed, as QEMU 7.2 says (its
     * stream copies with copy-on-read reads) */
    jq_expect_error_event(f.c, "s", "read",
                          g_str_equal(policy, "report") ? "report"
                          : g_str_equal(policy, "ignore") ? "ignore"
                                                          : "stop");
    if (g_str_equal(policy, "stop") || g_str_equal(policy, "enospc")) {
        jq_statuses(f.c, "s", "created running paused");
        jq_assert_field(f.c, "s", "io-status", "nospace");
        jq_assert_field(f.c, "s", "paused", "true");
        jq_small_resize(&f, 32 * 1024);
        bq_ok(f.c, "{'execute': 'job-resume', 'arguments': {'id': 's'}}");
        jq_assert_field(f.c, "s", "io-status", "ok");
        d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
        ck_assert_msg(!json_object_has_member(d, "error"), "%s",
                      json_object_get_string_member_with_default(d, "error",
                                                                 ""));
        json_node_unref(keep);
    } else {
        d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
        ck_assert_msg(strstr(json_object_get_string_member_with_default(
                                 d, "error", ""),
                             "No space left on device"),
                      "error: %s",
                      json_object_get_string_member_with_default(d, "error",
                                                                 ""));
        json_node_unref(keep);
        {
            g_autofree char *b = bq_node_str(f.c, "top", "backing_file");

            ck_assert_str_eq(b, "/dev/fdset/0"); /* the chain stays */
        }
        jq_small_resize(&f, 32 * 1024);
        /* the same node works again once there is room */
        g_free(bq_hmp(f.c, "qemu-io top \"write -P 0x11 0 4M\""));
    }
    jq_del(f.c, "top");
    jq_del(f.c, "base");
    /* leaked clusters are allowed after ENOSPC (as in QEMU), no corruption */
    ck_assert_int_ne(bq_sh_status(&f, "qemu-img check -q small/top.qcow2"), 2);
    ck_assert_int_ne(bq_sh_status(&f, "qemu-img check -q small/top.qcow2"), 1);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img small/top.qcow2"),
                     0);
    jq_small_unmount(&f);
    bq_finish(&f);
}

START_TEST(test_stream_enospc_stop)
{
    stream_enospc("stop");
}
END_TEST

START_TEST(test_stream_enospc_enospc)
{
    stream_enospc("enospc");
}
END_TEST

START_TEST(test_stream_enospc_report)
{
    stream_enospc("report");
}
END_TEST

START_TEST(test_stream_enospc_ignore)
{
    stream_enospc("ignore");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("stream");
    TCase *tc = tcase_create("stream");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_stream_to_base);
    tcase_add_test(tc, test_stream_whole_chain);
    tcase_add_test(tc, test_stream_readonly_top);
    tcase_add_test(tc, test_stream_guest_writes);
    tcase_add_test(tc, test_stream_fdset_name_refused);
    tcase_add_test(tc, test_stream_errors);
    tcase_add_test(tc, test_stream_enospc_stop);
    tcase_add_test(tc, test_stream_enospc_enospc);
    tcase_add_test(tc, test_stream_enospc_report);
    tcase_add_test(tc, test_stream_filter_node);
    tcase_add_test(tc, test_stream_enospc_ignore);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
