/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Non-active block-commit's commit_top filter, against what QEMU 7.2
 * shows for the same set-up (tests/qtest/job-graph-compare.py, scenarios
 * "commit" and "commit-filter"): the whole x-debug-query-block-graph edge
 * list while the job runs, the filter's query-named-block-nodes entry,
 * QEMU's texts for the filter's blockdev-del and a job on it, reads
 * through the chain with the filter in it, and the chain after the job
 * completes or is cancelled.
 */
#include "graph-qtest.h"

/* QEMU 7.2's graph while the job runs (job-graph-compare.py). */
static const char *const qemu_commit[] = {
    "backend -(root)-> base cw/cu",
    "backend -(root)-> mid -/cruw",
    "#block -(backing)-> mid -/cruw",
    "base -(file)-> f-base cw/cu",
    "mid -(backing)-> base -/cruw",
    "mid -(file)-> f-mid crw/u",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> #block -/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(base)-> base -/cruw",
    "job:j -(intermediate node)-> mid -/uw",
    "job:j -(main node)-> top -/cruw",
    NULL,
};
static const char *const qemu_commit_filter[] = {
    "backend -(root)-> base cw/cu",
    "backend -(root)-> mid -/cruw",
    "base -(file)-> f-base cw/cu",
    "ct -(backing)-> mid -/cruw",
    "mid -(backing)-> base -/cruw",
    "mid -(file)-> f-mid crw/u",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> ct -/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(base)-> base -/cruw",
    "job:j -(intermediate node)-> mid -/uw",
    "job:j -(main node)-> top -/cruw",
    NULL,
};
/* The same with act.qcow2 over top: device act, top-node mid (QEMU holds
 * no layer between the device and top). */
static const char *const qemu_commit_four[] = {
    "backend -(root)-> base cw/cu",
    "backend -(root)-> mid -/cruw",
    "#block -(backing)-> mid -/cruw",
    "act -(backing)-> top -/cruw",
    "act -(file)-> f-act crw/cu",
    "base -(file)-> f-base cw/cu",
    "mid -(backing)-> base -/cruw",
    "mid -(file)-> f-mid crw/u",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> #block -/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(base)-> base -/cruw",
    "job:j -(intermediate node)-> mid -/uw",
    "job:j -(main node)-> act -/cruw",
    NULL,
};

static void start_commit(QTestConn *c, const char *filter)
{
    g_autofree char *arg =
        filter ? g_strdup_printf(", 'filter-node-name': '%s'", filter)
               : g_strdup("");

    bq_ok(c,
          "{'execute': 'block-commit', 'arguments': {'job-id': 'j', "
          "'device': 'top', 'top-node': 'mid', 'base-node': 'base', "
          "'speed': 1%s}}",
          arg);
}

/* The only node with driver @drv (flat query), its name (new string). */
static char *node_with_driver(QTestConn *c, const char *drv)
{
    g_autoptr(JsonNode) r = qtest_qmp(
        c, "{'execute': 'query-named-block-nodes', 'arguments': {'flat': "
           "true}}");
    JsonArray *arr = qtest_return_array(r);
    char *name = NULL;

    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "drv"), drv)) {
            ck_assert_msg(!name, "two %s nodes", drv);
            name = g_strdup(json_object_get_string_member(o, "node-name"));
        }
    }
    return name;
}

static gint64 node_depth(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, false, &keep);
    gint64 d;

    ck_assert_msg(o, "no node '%s'", node);
    d = json_object_get_int_member(o, "backing_file_depth");
    json_node_unref(keep);
    return d;
}

/* What QEMU shows of the filter and the chain through it. */
static void assert_filter_info(QTestConn *c, const char *ct, bool named)
{
    g_autofree char *drv = bq_node_str(c, ct, "drv");
    g_autofree char *file = bq_node_str(c, ct, "file");
    g_autofree char *mid_file = bq_node_str(c, "mid", "file");
    g_autofree char *top_file = bq_node_str(c, "top", "file");
    g_autofree char *top_backing = bq_node_str(c, "top", "backing_file");

    ck_assert_str_eq(drv, "commit_top");
    ck_assert(bq_node_ro(c, ct));
    ck_assert_str_eq(file, mid_file);     /* it shows top's name */
    ck_assert_str_eq(top_backing, mid_file);
    /* the overlay's json: names a named filter, skips an implicit one */
    ck_assert_int_eq(strstr(top_file, "\"commit_top\"") != NULL, named);
    ck_assert_int_eq(node_depth(c, "top"), 3); /* filters count */
    ck_assert_int_eq(node_depth(c, ct), 2);
}

/* Reads through top see mid's and base's data: the chain walks step over
 * the filter. */
static void assert_reads_through(QTestConn *c)
{
    g_autofree char *a = bq_hmp(c, "qemu-io top \"read -P 0x33 2M 64k\"");
    g_autofree char *b = bq_hmp(c, "qemu-io top \"read -P 0x22 4M 64k\"");
    g_autofree char *d = bq_hmp(c, "qemu-io top \"read -P 0x11 6M 64k\"");

    ck_assert_msg(!strstr(a, "Pattern") && !strstr(b, "Pattern") &&
                      !strstr(d, "Pattern"),
                  "bad data: %s%s%s", a, b, d);
}

/*
 * filter-node-name 'ct': QEMU's graph edge for edge, the node, QEMU's
 * texts; at completion the filter is gone and top's backing is base.
 */
START_TEST(test_commit_top_named)
{
    BlockFixture f = gq_start_chain();
    g_autofree char *got = NULL;
    JsonNode *keep;

    bq_err(f.c, "Duplicate nodes with node-name='mid'",
           "{'execute': 'block-commit', 'arguments': {'job-id': 'j', "
           "'device': 'top', 'top-node': 'mid', 'base-node': 'base', "
           "'filter-node-name': 'mid'}}");
    start_commit(f.c, "ct");
    gq_assert_graph(f.c, qemu_commit_filter);
    assert_filter_info(f.c, "ct", true);
    assert_reads_through(f.c);
    bq_err(f.c, "Node 'ct' is busy: node is used as backing hd of 'top'",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'ct'}}");
    bq_err(f.c, "Node 'mid' is busy: block device is in use by block job: "
                "commit",
           "{'execute': 'block-stream', 'arguments': {'device': 'ct', "
           "'job-id': 's'}}");
    /* QEMU 7.2: the job's node is op-blocked, "Device '(null)' is in use" */
    bq_err(f.c, "Device '(null)' is in use",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'top', "
           "'size': 134217728}}");
    bq_err(f.c, "Need a root block node",
           "{'execute': 'block-commit', 'arguments': {'job-id': 'c1', "
           "'device': 'top'}}");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'j', 'speed': 0}}");
    bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    json_node_unref(keep);
    ck_assert_ptr_null(bq_node(f.c, "ct", true, &keep));
    json_node_unref(keep);
    got = gq_graph_text(f.c);
    ck_assert_msg(strstr(got, "top -(backing)-> base "), "top not on base:\n%s",
                  got);
    ck_assert_int_eq(node_depth(f.c, "top"), 1);
    assert_reads_through(f.c);
    gq_del_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/*
 * No filter-node-name: an implicit '#block...' commit_top, listed by
 * query-named-block-nodes as QEMU 7.2 does; cancel puts top back under
 * its overlay.
 */
START_TEST(test_commit_top_implicit)
{
    BlockFixture f = gq_start_chain();
    g_autofree char *got = NULL;
    g_autofree char *ct = NULL;

    start_commit(f.c, NULL);
    gq_assert_graph(f.c, qemu_commit);
    ct = node_with_driver(f.c, "commit_top");
    ck_assert_msg(ct && g_str_has_prefix(ct, "#block"), "no implicit filter");
    assert_filter_info(f.c, ct, false);
    assert_reads_through(f.c);
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'j'}}");
    bq_expect_event(f.c, "BLOCK_JOB_CANCELLED", 30000);
    g_free(ct);
    ct = node_with_driver(f.c, "commit_top");
    ck_assert_ptr_null(ct);
    got = gq_graph_text(f.c);
    ck_assert_msg(strstr(got, "top -(backing)-> mid "), "top not on mid:\n%s",
                  got);
    ck_assert_int_eq(node_depth(f.c, "top"), 2);
    assert_reads_through(f.c);
    gq_del_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* Four layers: the filter sits under top (mid's overlay), the device is
 * act; at the end top's backing is base and act reads what it read. */
START_TEST(test_commit_top_four_layers)
{
    BlockFixture f = gq_start_chain();
    g_autofree char *got = NULL;
    JsonNode *keep;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b top.qcow2 -F qcow2 "
                     "act.qcow2"));
    gq_add_node(&f, 9, "act", "act.qcow2", "qcow2", "top");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'j', "
               "'device': 'act', 'top-node': 'mid', 'base-node': 'base', "
               "'speed': 1}}");
    gq_assert_graph(f.c, qemu_commit_four);
    ck_assert_int_eq(node_depth(f.c, "act"), 4);
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'j', 'speed': 0}}");
    bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    json_node_unref(keep);
    got = gq_graph_text(f.c);
    ck_assert_msg(strstr(got, "top -(backing)-> base ") &&
                      strstr(got, "act -(backing)-> top ") &&
                      !strstr(got, "#block"),
                  "chain after the commit:\n%s", got);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'act'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'f-act'}}");
    gq_del_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img act.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("commit-filter");
    TCase *tc = tcase_create("commit-filter");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_commit_top_named);
    tcase_add_test(tc, test_commit_top_implicit);
    tcase_add_test(tc, test_commit_top_four_layers);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
