/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * query-blockstats and x-debug-query-block-graph: read-only views of the
 * nodes' counters (accounting.c) and of the graph's links (perm.h).
 */
#include "block/accounting.h"
#include "block/block-backend.h"
#include "block/graph.h"
#include "block/job-internal.h"
#include "qapi/qapi-commands.h"

static BlockDeviceStats *device_stats(BlockDriverState *bs)
{
    BlockDeviceStats *d = g_new0(BlockDeviceStats, 1);
    BdrvAcct a = {0};

    if (!bs) {
        return d; /* an empty drive */
    }
    bdrv_account_get(bs, &a);
    d->rd_bytes = a.kind[BDRV_ACCT_READ].bytes;
    d->wr_bytes = a.kind[BDRV_ACCT_WRITE].bytes;
    d->unmap_bytes = a.kind[BDRV_ACCT_UNMAP].bytes;
    d->rd_operations = a.kind[BDRV_ACCT_READ].ops;
    d->wr_operations = a.kind[BDRV_ACCT_WRITE].ops;
    d->flush_operations = a.kind[BDRV_ACCT_FLUSH].ops;
    d->unmap_operations = a.kind[BDRV_ACCT_UNMAP].ops;
    d->rd_total_time_ns = a.kind[BDRV_ACCT_READ].total_ns;
    d->wr_total_time_ns = a.kind[BDRV_ACCT_WRITE].total_ns;
    d->flush_total_time_ns = a.kind[BDRV_ACCT_FLUSH].total_ns;
    d->unmap_total_time_ns = a.kind[BDRV_ACCT_UNMAP].total_ns;
    d->failed_rd_operations = a.kind[BDRV_ACCT_READ].failed;
    d->failed_wr_operations = a.kind[BDRV_ACCT_WRITE].failed;
    d->failed_flush_operations = a.kind[BDRV_ACCT_FLUSH].failed;
    d->failed_unmap_operations = a.kind[BDRV_ACCT_UNMAP].failed;
    d->wr_highest_offset = bdrv_wr_highest_offset(bs);
    return d;
}

/* As QEMU: the "file" child as parent; the backing chain for drives. */
static BlockStats *node_stats(BlockDriverState *bs, bool drive_level)
{
    BlockStats *s = g_new0(BlockStats, 1);

    s->stats = device_stats(bs);
    if (!bs) {
        return s;
    }
    s->has_node_name = bs->node_name != NULL;
    s->node_name = g_strdup(bs->node_name);
    if (bs->file) {
        s->has_parent = true;
        s->parent = node_stats(bs->file, drive_level);
    }
    if (drive_level && bs->backing) {
        s->has_backing = true;
        s->backing = node_stats(bs->backing, drive_level);
    }
    return s;
}

static void stats_append(BlockStatsList ***tail, BlockStats *s)
{
    BlockStatsList *elt = g_new0(BlockStatsList, 1);

    elt->value = s;
    **tail = elt;
    *tail = &elt->next;
}

BlockStatsList *qmp_query_blockstats(bool has_query_nodes, bool query_nodes,
                                     GError **errp)
{
    BlockStatsList *head = NULL, **tail = &head;

    if (has_query_nodes && query_nodes) {
        g_autoptr(GList) nodes = bdrv_list_nodes(); /* newest first */

        for (GList *l = g_list_last(nodes); l; l = l->prev) {
            stats_append(&tail, node_stats(l->data, false));
        }
        return head;
    }
    for (GList *l = blk_list(); l; l = l->next) {
        BlockBackend *blk = l->data;
        BlockStats *s = node_stats(blk->root, true);

        s->has_device = true;
        s->device = g_strdup(blk->id);
        stats_append(&tail, s);
    }
    return head;
}

/* ---- x-debug-query-block-graph ---- */

typedef struct GraphBuilder {
    XDbgBlockGraph *graph;
    XDbgBlockGraphNodeList **ntail;
    XDbgBlockGraphEdgeList **etail;
    GHashTable *ids; /* vertex object -> id */
} GraphBuilder;

static uint64_t vertex(GraphBuilder *g, gconstpointer obj,
                       XDbgBlockGraphNodeType type, const char *name)
{
    uint64_t id = GPOINTER_TO_SIZE(g_hash_table_lookup(g->ids, obj));
    XDbgBlockGraphNodeList *elt;

    if (id) {
        return id;
    }
    id = g_hash_table_size(g->ids) + 1;
    g_hash_table_insert(g->ids, (gpointer)obj, GSIZE_TO_POINTER(id));
    elt = g_new0(XDbgBlockGraphNodeList, 1);
    elt->value = g_new0(XDbgBlockGraphNode, 1);
    elt->value->id = id;
    elt->value->type = type;
    elt->value->name = g_strdup(name ? name : "");
    *g->ntail = elt;
    g->ntail = &elt->next;
    return id;
}

/* QEMU lists a permission set from its highest bit down. */
static BlockPermissionList *perm_list(uint64_t perm)
{
    BlockPermissionList *head = NULL;

    for (int i = 0; i < BLOCK_PERMISSION__MAX; i++) {
        if (perm & (1ULL << i)) {
            BlockPermissionList *elt = g_new0(BlockPermissionList, 1);

            elt->value = i;
            elt->next = head;
            head = elt;
        }
    }
    return head;
}

/* Who holds @c when it is no node's child: a drive, a job, or anonymous.
 * A job's own users ("root", block_job_add_user) are QEMU's unnamed
 * BlockBackends: shown as such, not as the job. */
static uint64_t user_vertex(GraphBuilder *g, BdrvChild *c)
{
    for (GList *l = blk_list(); l; l = l->next) {
        BlockBackend *blk = l->data;

        if (blk->root_child == c) {
            return vertex(g, blk, X_DBG_BLOCK_GRAPH_NODE_TYPE_BLOCK_BACKEND,
                          blk->id);
        }
    }
    for (GList *l = block_job_list(); l; l = l->next) {
        BlockJob *job = l->data;

        for (guint i = 0; i < job->children->len; i++) {
            if (g_ptr_array_index(job->children, i) == c &&
                !g_str_equal(c->name, "root")) {
                return vertex(g, job, X_DBG_BLOCK_GRAPH_NODE_TYPE_BLOCK_JOB,
                              job->id);
            }
        }
    }
    return vertex(g, c, X_DBG_BLOCK_GRAPH_NODE_TYPE_BLOCK_BACKEND, "");
}

static void add_edge(GraphBuilder *g, uint64_t parent, uint64_t child,
                     BdrvChild *c)
{
    XDbgBlockGraphEdgeList *elt = g_new0(XDbgBlockGraphEdgeList, 1);

    elt->value = g_new0(XDbgBlockGraphEdge, 1);
    elt->value->parent = parent;
    elt->value->child = child;
    elt->value->name = g_strdup(c->name);
    elt->value->perm = perm_list(c->perm);
    elt->value->shared_perm = perm_list(c->shared);
    *g->etail = elt;
    g->etail = &elt->next;
}

XDbgBlockGraph *qmp_x_debug_query_block_graph(GError **errp)
{
    g_autoptr(GList) nodes = bdrv_list_nodes();
    GraphBuilder g = {.graph = g_new0(XDbgBlockGraph, 1)};

    g.ntail = &g.graph->nodes;
    g.etail = &g.graph->edges;
    g.ids = g_hash_table_new(NULL, NULL);
    for (GList *l = nodes; l; l = l->next) {
        BlockDriverState *bs = l->data;

        vertex(&g, bs, X_DBG_BLOCK_GRAPH_NODE_TYPE_BLOCK_DRIVER, bs->node_name);
    }
    for (GList *l = nodes; l; l = l->next) {
        BlockDriverState *bs = l->data;
        uint64_t child = vertex(&g, bs, 0, NULL);

        for (GList *p = bdrv_node(bs)->parents; p; p = p->next) {
            BdrvChild *c = p->data;
            uint64_t parent =
                c->parent ? vertex(&g, c->parent, 0, NULL) : user_vertex(&g, c);

            add_edge(&g, parent, child, c);
        }
    }
    g_hash_table_destroy(g.ids);
    return g.graph;
}
