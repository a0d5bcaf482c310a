/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query-blockstats and x-debug-query-block-graph through fdsets: the
 * counters follow the I/O the daemon does (blockdev-create's writes, HMP
 * qemu-io reads, writes and flushes), the graph shows every link with its
 * permissions in QEMU 7.2's shape.
 */
#include "block-qtest.h"

/* The stats object of node @node in query-blockstats {query-nodes}. */
static JsonObject *stats_of(QTestConn *c, const char *node, JsonNode **keep)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-blockstats', "
                               "'arguments': {'query-nodes': true}}");
    JsonArray *arr = qtest_return_array(r);

    *keep = r;
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "node-name"), node)) {
            return json_object_get_object_member(o, "stats");
        }
    }
    ck_abort_msg("no stats for '%s'", node);
    return NULL;
}

static int64_t stat_of(QTestConn *c, const char *node, const char *member)
{
    JsonNode *keep;
    int64_t v = json_object_get_int_member(stats_of(c, node, &keep), member);

    json_node_unref(keep);
    return v;
}

START_TEST(test_blockstats_count_io)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *r;
    JsonObject *st;
    g_autofree char *out = NULL;

    g_free(qtest_make_file(f.s, "a.qcow2", 0, 0));
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'af', 'filename': '/dev/fdset/0'}}");
    st = stats_of(f.c, "af", &r);
    ck_assert_int_eq(json_object_get_int_member(st, "wr_operations"), 0);
    ck_assert_int_eq(
        json_array_get_length(json_object_get_array_member(st, "timed_stats")),
        0);
    ck_assert(!json_object_get_boolean_member(st, "account_failed"));
    json_node_unref(r);
    /* blockdev-create: header, refcount table and block, 8-byte L1 */
    bq_ok(f.c, "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
               "'options': {'driver': 'qcow2', 'file': 'af', "
               "'size': 67108864}}}");
    bq_wait_status(f.c, "j", "concluded");
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'j'}}");
    ck_assert_int_eq(stat_of(f.c, "af", "wr_operations"), 4);
    ck_assert_int_eq(stat_of(f.c, "af", "wr_bytes"), 196616);
    ck_assert_int_eq(stat_of(f.c, "af", "wr_highest_offset"), 196616);
    ck_assert_int_ge(stat_of(f.c, "af", "flush_operations"), 1);
    ck_assert_int_ge(stat_of(f.c, "af", "wr_total_time_ns"), 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'a', 'file': 'af'}}");
    ck_assert_int_ge(stat_of(f.c, "af", "rd_operations"), 1);
    out = bq_hmp(f.c, "qemu-io a \"write -P 0x5 0 64k\"");
    g_free(out);
    out = bq_hmp(f.c, "qemu-io a \"read -P 0x5 0 64k\"");
    g_free(out);
    out = bq_hmp(f.c, "qemu-io a \"flush\"");
    ck_assert_int_eq(stat_of(f.c, "a", "wr_operations"), 1);
    ck_assert_int_eq(stat_of(f.c, "a", "wr_bytes"), 65536);
    ck_assert_int_eq(stat_of(f.c, "a", "rd_operations"), 1);
    ck_assert_int_eq(stat_of(f.c, "a", "rd_bytes"), 65536);
    ck_assert_int_eq(stat_of(f.c, "a", "flush_operations"), 1);
    ck_assert_int_eq(stat_of(f.c, "a", "wr_highest_offset"), 65536);
    /* the format node's entry carries its file's as "parent" */
    r = qtest_qmp(f.c, "{'execute': 'query-blockstats', 'arguments': "
                       "{'query-nodes': true}}");
    {
        JsonArray *arr = qtest_return_array(r);
        JsonObject *top = json_array_get_object_element(arr, 1);

        ck_assert_str_eq(json_object_get_string_member(top, "node-name"), "a");
        ck_assert_str_eq(
            json_object_get_string_member(
                json_object_get_object_member(top, "parent"), "node-name"),
            "af");
    }
    json_node_unref(r);
    r = qtest_qmp(f.c, "{'execute': 'query-blockstats'}");
    ck_assert_int_eq(json_array_get_length(qtest_return_array(r)), 0);
    json_node_unref(r);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'a'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'af'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2 && "
                                      "qemu-io -c 'read -P 0x5 0 64k' "
                                      "a.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/*
 * A backup's end flushes its target, not its source: the job's filter
 * above the source holds nothing of its own, and a flush through it would
 * write back all the dirty pages of the guest still running there.
 */
START_TEST(test_backup_end_flushes_target_only)
{
    BlockFixture f = bq_start(NULL);
    int64_t src_flushes;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 src.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -P 0x9 0 4M' src.qcow2 "
                     ">/dev/null && qemu-img create -q -f qcow2 tgt.qcow2 4M"));
    bq_add_fd(&f, f.c, "src.qcow2", O_RDWR, 0);
    bq_add_fd(&f, f.c, "tgt.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'src', 'file': {'driver': 'file', "
               "'node-name': 'srcf', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'tgt', 'file': {'driver': 'file', "
               "'node-name': 'tgtf', 'filename': '/dev/fdset/1'}}}");
    g_free(bq_hmp(f.c, "qemu-io src \"write -P 0xa 1M 64k\""));
    src_flushes = stat_of(f.c, "src", "flush_operations");
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
               "'b0', 'device': 'src', 'target': 'tgt', 'sync': 'full'}}");
    bq_wait_status(f.c, "b0", "null");
    ck_assert_int_eq(stat_of(f.c, "src", "flush_operations"), src_flushes);
    ck_assert_int_eq(stat_of(f.c, "srcf", "flush_operations"), 0);
    ck_assert_int_ge(stat_of(f.c, "tgtf", "flush_operations"), 1);
    /* what the target got is durable and whole, without a source flush */
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'tgt'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2 && "
                                      "qemu-io -f qcow2 -c 'read -P 0x9 0 1M' "
                                      "-c 'read -P 0xa 1M 64k' tgt.qcow2 "
                                      ">/dev/null"),
                     0);
    bq_finish(&f);
}
END_TEST

/* QEMU 7.2's shape: the format node's "file" edge with its perms. */
START_TEST(test_block_graph)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *r;
    JsonObject *g, *e;
    JsonArray *nodes, *edges;
    g_autofree char *perm = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 1M"));
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'a', 'file': {'driver': 'file', "
               "'node-name': 'af', 'filename': '/dev/fdset/0'}}}");
    r = qtest_qmp(f.c, "{'execute': 'x-debug-query-block-graph'}");
    g = qtest_return_object(r);
    nodes = json_object_get_array_member(g, "nodes");
    edges = json_object_get_array_member(g, "edges");
    ck_assert_int_eq(json_array_get_length(nodes), 2);
    ck_assert_int_eq(json_array_get_length(edges), 1);
    e = json_array_get_object_element(edges, 0);
    ck_assert_str_eq(json_object_get_string_member(e, "name"), "file");
    for (guint i = 0; i < 2; i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member(n, "name");
        int64_t id = json_object_get_int_member(n, "id");

        ck_assert_str_eq(json_object_get_string_member(n, "type"),
                         "block-driver");
        ck_assert_int_eq(id,
                         json_object_get_int_member(
                             e, g_str_equal(name, "a") ? "parent" : "child"));
    }
    {
        JsonArray *p = json_object_get_array_member(e, "perm");
        GString *s = g_string_new(NULL);

        for (guint i = 0; i < json_array_get_length(p); i++) {
            g_string_append_printf(s, "%s%s", i ? "," : "",
                                   json_array_get_string_element(p, i));
        }
        perm = g_string_free(s, FALSE);
    }
    ck_assert_str_eq(perm, "resize,write,consistent-read"); /* as QEMU */
    json_node_unref(r);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'a'}}");
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("blockstats");
    TCase *tc = tcase_create("blockstats");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_blockstats_count_io);
    tcase_add_test(tc, test_backup_end_flushes_target_only);
    tcase_add_test(tc, test_block_graph);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
