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
#include "block-qtest.h"

/*
 * base.img (raw, 8 MiB of 0x11) <- mid.qcow2 (0x22 at 1M..5M) <- top.qcow2
 * (0x33 at 2M..2.5M); expect-top.img is what top shows, as raw.
 */
static void make_chain(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 8M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                    "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 "
                    "&& qemu-io -f qcow2 -c 'write -P 0x22 1M 4M' mid.qcow2 && "
                    "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                    "top.qcow2 && qemu-io -f qcow2 -c 'write -P 0x33 2M 512k' "
                    "top.qcow2 && "
                    "qemu-img convert -O raw top.qcow2 expect-top.img"));
}

/* One O_RDWR member per image (set i), file node f-NAME, format node NAME,
 * all writable: the set-up measured on QEMU. */
static void add_node(BlockFixture *f, int set, const char *node,
                     const char *image, const char *fmt, const char *backing)
{
    g_autofree char *back = NULL;

    bq_add_fd(f, f->c, image, O_RDWR, set);
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
          "'node-name': 'f-%s', 'filename': '/dev/fdset/%d'}}",
          node, set);
    back = backing ? g_strdup_printf(", 'backing': '%s'", backing)
                   : g_strdup("");
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': '%s', "
          "'node-name': '%s', 'file': 'f-%s'%s}}",
          fmt, node, node, back);
}

static BlockFixture start_chain(void)
{
    BlockFixture f = bq_start(NULL);

    make_chain(&f);
    add_node(&f, 0, "base", "base.img", "raw", NULL);
    add_node(&f, 1, "mid", "mid.qcow2", "qcow2", "base");
    add_node(&f, 2, "top", "top.qcow2", "qcow2", "mid");
    return f;
}

static void del_chain(BlockFixture *f)
{
    static const char *const nodes[] = {"top", "f-top", "mid", "f-mid",
                                        "base", "f-base"};

    for (guint i = 0; i < G_N_ELEMENTS(nodes); i++) {
        bq_ok(f->c,
              "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
              nodes[i]);
    }
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "a,b" from a permission list, sorted as the measurement script does. */
static char *perm_text(JsonArray *perms)
{
    g_autoptr(GPtrArray) l = g_ptr_array_new();

    for (guint i = 0; i < json_array_get_length(perms); i++) {
        g_ptr_array_add(l, (gpointer)json_array_get_string_element(perms, i));
    }
    g_ptr_array_sort(l, cmp_str);
    g_ptr_array_add(l, NULL);
    return g_strjoinv(",", (char **)l->pdata);
}

/* The graph's edges as job-graph-compare.py prints them, sorted, one a
 * line; an implicit node's number is dropped ("#block"). */
static char *graph_text(QTestConn *c)
{
    g_autoptr(JsonNode) r =
        qtest_qmp(c, "{'execute': 'x-debug-query-block-graph'}");
    JsonObject *g = qtest_return_object(r);
    JsonArray *nodes = json_object_get_array_member(g, "nodes");
    JsonArray *edges = json_object_get_array_member(g, "edges");
    g_autoptr(GHashTable) names =
        g_hash_table_new_full(NULL, NULL, NULL, g_free);
    g_autoptr(GPtrArray) l = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *name = json_object_get_string_member(n, "name");

        g_hash_table_insert(
            names, GINT_TO_POINTER(json_object_get_int_member(n, "id")),
            g_strdup_printf("%s:%s", json_object_get_string_member(n, "type"),
                            g_str_has_prefix(name, "#block") ? "#block"
                                                             : name));
    }
    for (guint i = 0; i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);
        g_autofree char *perm =
            perm_text(json_object_get_array_member(e, "perm"));
        g_autofree char *shared =
            perm_text(json_object_get_array_member(e, "shared-perm"));

        g_ptr_array_add(
            l, g_strdup_printf(
                   "%s -(%s)-> %s perm=%s shared=%s",
                   (char *)g_hash_table_lookup(
                       names, GINT_TO_POINTER(
                                  json_object_get_int_member(e, "parent"))),
                   json_object_get_string_member(e, "name"),
                   (char *)g_hash_table_lookup(
                       names, GINT_TO_POINTER(
                                  json_object_get_int_member(e, "child"))),
                   perm, shared));
    }
    g_ptr_array_sort(l, cmp_str);
    g_ptr_array_add(l, NULL);
    return g_strjoinv("\n", (char **)l->pdata);
}

#define ALL "consistent-read,resize,write,write-unchanged"

/* QEMU 7.2's edges while the job runs, @ct the filter's name. */
static char *qemu_graph(const char *ct)
{
    const char *lines[] = {
        "block-backend: -(root)-> block-driver:base perm=consistent-read,"
        "write shared=consistent-read,write-unchanged",
        "block-backend: -(root)-> block-driver:mid perm= shared=" ALL,
        "block-driver:%s -(backing)-> block-driver:mid perm= shared=" ALL,
        "block-driver:base -(file)-> block-driver:f-base perm=consistent-read,"
        "write shared=consistent-read,write-unchanged",
        "block-driver:mid -(backing)-> block-driver:base perm= shared=" ALL,
        "block-driver:mid -(file)-> block-driver:f-mid perm=consistent-read,"
        "resize,write shared=write-unchanged",
        "block-driver:top -(backing)-> block-driver:%s perm= shared=" ALL,
        "block-driver:top -(file)-> block-driver:f-top perm=consistent-read,"
        "resize,write shared=consistent-read,write-unchanged",
        "block-job:j -(base)-> block-driver:base perm= shared=" ALL,
        "block-job:j -(intermediate node)-> block-driver:mid perm= "
        "shared=write,write-unchanged",
        "block-job:j -(main node)-> block-driver:top perm= shared=" ALL,
    };
    g_autoptr(GPtrArray) l = g_ptr_array_new_with_free_func(g_free);

    for (guint i = 0; i < G_N_ELEMENTS(lines); i++) {
        g_autofree char *line = g_strdup(lines[i]);
        g_auto(GStrv) parts = g_strsplit(line, "%s", -1);

        g_ptr_array_add(l, g_strjoinv(ct, parts));
    }
    g_ptr_array_sort(l, cmp_str);
    g_ptr_array_add(l, NULL);
    return g_strjoinv("\n", (char **)l->pdata);
}

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
    BlockFixture f = start_chain();
    g_autofree char *want = qemu_graph("ct");
    g_autofree char *got = NULL;
    JsonNode *keep;

    bq_err(f.c, "Duplicate nodes with node-name='mid'",
           "{'execute': 'block-commit', 'arguments': {'job-id': 'j', "
           "'device': 'top', 'top-node': 'mid', 'base-node': 'base', "
           "'filter-node-name': 'mid'}}");
    start_commit(f.c, "ct");
    got = graph_text(f.c);
    ck_assert_str_eq(got, want);
    assert_filter_info(f.c, "ct", true);
    assert_reads_through(f.c);
    bq_err(f.c, "Node 'ct' is busy: node is used as backing hd of 'top'",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'ct'}}");
    bq_err(f.c, "Node 'mid' is busy: block device is in use by block job: "
                "commit",
           "{'execute': 'block-stream', 'arguments': {'device': 'ct', "
           "'job-id': 's'}}");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'j', 'speed': 0}}");
    bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    json_node_unref(keep);
    ck_assert_ptr_null(bq_node(f.c, "ct", true, &keep));
    json_node_unref(keep);
    g_free(got);
    got = graph_text(f.c);
    ck_assert_msg(strstr(got, "block-driver:top -(backing)-> "
                              "block-driver:base "),
                  "top not on base:\n%s", got);
    ck_assert_int_eq(node_depth(f.c, "top"), 1);
    assert_reads_through(f.c);
    del_chain(&f);
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
    BlockFixture f = start_chain();
    g_autofree char *want = qemu_graph("#block");
    g_autofree char *got = NULL;
    g_autofree char *ct = NULL;

    start_commit(f.c, NULL);
    got = graph_text(f.c);
    ck_assert_str_eq(got, want);
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
    g_free(got);
    got = graph_text(f.c);
    ck_assert_msg(strstr(got, "block-driver:top -(backing)-> "
                              "block-driver:mid "),
                  "top not on mid:\n%s", got);
    ck_assert_int_eq(node_depth(f.c, "top"), 2);
    assert_reads_through(f.c);
    del_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
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
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
