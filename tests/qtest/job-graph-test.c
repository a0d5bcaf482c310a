/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block jobs in x-debug-query-block-graph, edge for edge as QEMU 7.2
 * shows them for the same set-up (tests/qtest/job-graph-compare.py, whose
 * output these tables are): active block-commit, block-stream,
 * blockdev-mirror and blockdev-backup, each with an implicit filter and
 * with filter-node-name.  The job's edges ("main node" on its filter,
 * "source"/"active node" on the node, "target", "intermediate node"),
 * its BlockBackends and the permissions they give every node.  After the
 * job the filter is gone and top's users are back on top.
 */
#include "graph-qtest.h"

static const char *const qemu_commit_active[] = {
    "backend -(root)-> mid w/cuw",
    "#block -(backing)-> top -/cuw",
    "base -(file)-> f-base -/cruw",
    "mid -(backing)-> base -/cruw",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid -/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> #block c/cuw",
    "job:j -(source)-> top -/cuw",
    "job:j -(target)-> mid -/cruw",
    NULL,
};
static const char *const qemu_commit_active_filter[] = {
    "backend -(root)-> mid w/cuw",
    "base -(file)-> f-base -/cruw",
    "mid -(backing)-> base -/cruw",
    "mid -(file)-> f-mid crw/cu",
    "mt -(backing)-> top -/cuw",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid -/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> mt c/cuw",
    "job:j -(source)-> top -/cuw",
    "job:j -(target)-> mid -/cruw",
    NULL,
};
static const char *const qemu_stream[] = {
    "backend -(root)-> #block c/cuw",
    "#block -(file)-> top cu/cuw",
    "base -(file)-> f-base c/cu",
    "mid -(backing)-> base c/cu",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid c/cruw",
    "top -(file)-> f-top cruw/cu",
    "job:j -(active node)-> top -/cuw",
    "job:j -(intermediate node)-> mid -/cu",
    "job:j -(main node)-> #block -/cruw",
    NULL,
};
static const char *const qemu_stream_filter[] = {
    "backend -(root)-> cor c/cuw",
    "base -(file)-> f-base c/cu",
    "cor -(file)-> top cu/cuw",
    "mid -(backing)-> base c/cu",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid c/cruw",
    "top -(file)-> f-top cruw/cu",
    "job:j -(active node)-> top -/cuw",
    "job:j -(intermediate node)-> mid -/cu",
    "job:j -(main node)-> cor -/cruw",
    NULL,
};
static const char *const qemu_mirror[] = {
    "backend -(root)-> tgt w/u",
    "#block -(backing)-> top c/cuw",
    "base -(file)-> f-base c/cruw",
    "mid -(backing)-> base c/cruw",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/u",
    "top -(backing)-> mid c/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> #block c/cuw",
    "job:j -(source)-> top -/cuw",
    "job:j -(target)-> tgt -/cruw",
    NULL,
};
static const char *const qemu_mirror_filter[] = {
    "backend -(root)-> tgt w/u",
    "base -(file)-> f-base c/cruw",
    "mid -(backing)-> base c/cruw",
    "mid -(file)-> f-mid crw/cu",
    "mt -(backing)-> top c/cuw",
    "tgt -(file)-> f-tgt crw/u",
    "top -(backing)-> mid c/cruw",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> mt c/cuw",
    "job:j -(source)-> top -/cuw",
    "job:j -(target)-> tgt -/cruw",
    NULL,
};
static const char *const qemu_backup[] = {
    "#block -(file)-> top -/cu",
    "#block -(target)-> tgt w/cuw",
    "base -(file)-> f-base -/cu",
    "mid -(backing)-> base -/cu",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid -/cu",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> #block -/cruw",
    "job:j -(target)-> tgt -/cruw",
    NULL,
};

static const char *const qemu_backup_filter[] = {
    "base -(file)-> f-base -/cu",
    "cbw -(file)-> top -/cu",
    "cbw -(target)-> tgt w/cuw",
    "mid -(backing)-> base -/cu",
    "mid -(file)-> f-mid crw/cu",
    "tgt -(file)-> f-tgt crw/cu",
    "top -(backing)-> mid -/cu",
    "top -(file)-> f-top crw/cu",
    "job:j -(main node)-> cbw -/cruw",
    "job:j -(target)-> tgt -/cruw",
    NULL,
};

/* Start @cmd (a job 'j' at 1 byte/s), compare the graph, cancel. */
static void run_scenario(const char *cmd, const char *args,
                         const char *const *qemu, const char *filter)
{
    BlockFixture f = gq_start_chain();
    g_autofree char *fname =
        filter ? g_strdup_printf(", 'filter-node-name': '%s'", filter)
               : g_strdup("");
    g_autofree char *after = NULL;

    bq_ok(f.c,
          "{'execute': '%s', 'arguments': {'job-id': 'j', 'device': 'top', "
          "'speed': 1%s%s}}",
          cmd, args, fname);
    gq_assert_graph(f.c, qemu);
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': {'device': 'j', "
               "'force': true}}");
    bq_wait_status(f.c, "j", "null");
    after = gq_graph_text(f.c);
    ck_assert_msg(!strstr(after, "#block") && !strstr(after, "job:") &&
                      !strstr(after, "backend"),
                  "left over:\n%s", after);
    gq_del_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    bq_finish(&f);
}

#define COMMIT_ACTIVE "block-commit", ", 'base-node': 'mid'"
#define STREAM "block-stream", ", 'base-node': 'base'"
#define MIRROR "blockdev-mirror", ", 'target': 'tgt', 'sync': 'full'"
#define BACKUP "blockdev-backup", ", 'target': 'tgt', 'sync': 'full'"

START_TEST(test_graph_active_commit)
{
    run_scenario(COMMIT_ACTIVE, qemu_commit_active, NULL);
}
END_TEST

START_TEST(test_graph_active_commit_filter)
{
    run_scenario(COMMIT_ACTIVE, qemu_commit_active_filter, "mt");
}
END_TEST

START_TEST(test_graph_stream)
{
    run_scenario(STREAM, qemu_stream, NULL);
}
END_TEST

START_TEST(test_graph_stream_filter)
{
    run_scenario(STREAM, qemu_stream_filter, "cor");
}
END_TEST

START_TEST(test_graph_mirror)
{
    run_scenario(MIRROR, qemu_mirror, NULL);
}
END_TEST

START_TEST(test_graph_mirror_filter)
{
    run_scenario(MIRROR, qemu_mirror_filter, "mt");
}
END_TEST

START_TEST(test_graph_backup)
{
    run_scenario(BACKUP, qemu_backup, NULL);
}
END_TEST

START_TEST(test_graph_backup_filter)
{
    run_scenario(BACKUP, qemu_backup_filter, "cbw");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("job-graph");
    TCase *tc = tcase_create("job-graph");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_graph_active_commit);
    tcase_add_test(tc, test_graph_active_commit_filter);
    tcase_add_test(tc, test_graph_stream);
    tcase_add_test(tc, test_graph_stream_filter);
    tcase_add_test(tc, test_graph_mirror);
    tcase_add_test(tc, test_graph_mirror_filter);
    tcase_add_test(tc, test_graph_backup);
    tcase_add_test(tc, test_graph_backup_filter);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
