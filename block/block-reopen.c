/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reopen: change read-only and cache modes of a set of nodes as one
 * transaction.  First the permissions the nodes' children take under the
 * new modes are computed and checked (a writer on a node becoming
 * read-only, another process's image lock); then every driver prepares
 * (the file driver opens its new fd, locked for those new permissions).
 * If anything fails, everything is undone and the nodes are as they were.
 * Only then are the changes committed (old fds released).
 */
#include "block/blockjob.h"
#include "block/graph.h"
#include "block/options.h"
#include "block/perm.h"
#include "qemu/error.h"

typedef struct ReopenItem {
    BdrvReopenEntry e; /* first: what drivers see */
    bool explicit;     /* named by the user, not propagated */
} ReopenItem;

typedef struct ReopenQueue {
    GPtrArray *items; /* ReopenItem*, parents before children */
    bool check_users; /* blockdev-reopen: no writing user of a node that
                       * becomes read-only (jobs drop theirs themselves) */
} ReopenQueue;

static ReopenQueue *queue_new(void)
{
    ReopenQueue *q = g_new0(ReopenQueue, 1);

    q->items = g_ptr_array_new_with_free_func(g_free);
    return q;
}

static void queue_free(ReopenQueue *q)
{
    g_ptr_array_free(q->items, TRUE);
    g_free(q);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC(ReopenQueue, queue_free)

static ReopenItem *queue_find(ReopenQueue *q, BlockDriverState *bs)
{
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);

        if (it->e.state.bs == bs) {
            return it;
        }
    }
    return NULL;
}

/*
 * Queue @bs with the new modes; its file child follows when it inherits
 * them from @bs (an implicit child) or is auto-read-only.  An entry the
 * user gave explicitly is never overridden by propagation.
 */
static void queue_add(ReopenQueue *q, BlockDriverState *bs, bool read_only,
                      bool direct, bool no_flush, bool need_write,
                      bool explicit)
{
    ReopenItem *it = queue_find(q, bs);
    BlockDriverState *child = bs->file;

    if (!it) {
        it = g_new0(ReopenItem, 1);
        it->e.state.bs = bs;
        it->e.auto_read_only = bdrv_node(bs)->auto_read_only;
        g_ptr_array_add(q->items, it);
    } else if (it->explicit && !explicit) {
        it->e.need_write |= need_write;
        return;
    }
    it->e.state.read_only = read_only;
    it->e.cache_direct = direct;
    it->e.no_flush = no_flush;
    it->e.need_write |= need_write;
    it->explicit |= explicit;
    if (!child) {
        return;
    }
    if (bdrv_node(child)->inherit_ro || bdrv_node(child)->auto_read_only) {
        BdrvNode *cn = bdrv_node(child);
        bool cache = cn->inherit_cache;

        /* A child added on its own keeps its read-only flag (QEMU reopens
         * only children it opened implicitly); an auto-read-only one still
         * comes along so that its fd follows its users. */
        queue_add(q, child, cn->inherit_ro ? read_only : child->read_only,
                  cache ? direct : child->cache_direct,
                  cache ? no_flush : cn->no_flush, need_write, false);
    } else if (need_write) {
        /* not ours to change, but it must be writable in the end */
        queue_add(q, child, child->read_only, child->cache_direct,
                  bdrv_node(child)->no_flush, true, false);
    }
}

static void queue_abort(ReopenQueue *q)
{
    for (guint i = q->items->len; i-- > 0;) {
        ReopenItem *it = g_ptr_array_index(q->items, i);
        BlockDriverState *bs = it->e.state.bs;

        if (it->e.prepared && bs->drv->bdrv_reopen_abort) {
            bs->drv->bdrv_reopen_abort(&it->e.state);
        }
        it->e.prepared = false;
    }
}

/* Flush what becomes read-only, while it still can be written. */
static bool queue_flush(ReopenQueue *q, GError **errp)
{
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);
        BlockDriverState *bs = it->e.state.bs;

        if (it->e.state.read_only && !bs->read_only &&
            bdrv_flush(bs, errp) < 0) {
            return false;
        }
    }
    return true;
}

static bool queue_prepare(ReopenQueue *q, GError **errp)
{
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);
        BlockDriverState *bs = it->e.state.bs;

        if (bs->drv->bdrv_reopen_prepare &&
            bs->drv->bdrv_reopen_prepare(&it->e.state, errp) < 0) {
            queue_abort(q);
            return false;
        }
        it->e.prepared = true;
    }
    return true;
}

/* Does @c still write to its node after the reopen of @q?  A parent node
 * that becomes read-only in the same reopen stops writing. */
static bool user_keeps_writing(ReopenQueue *q, BdrvChild *c)
{
    ReopenItem *parent = c->parent ? queue_find(q, c->parent) : NULL;

    if (!(c->perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED))) {
        return false;
    }
    return !parent || !parent->e.state.read_only;
}

/* QEMU's check: a read-only node has no user that writes (an export, a
 * read-write format node on it). */
static bool check_no_writer(ReopenQueue *q, BlockDriverState *bs,
                            GError **errp)
{
    for (GList *l = bdrv_parents(bs); l; l = l->next) {
        if (user_keeps_writing(q, l->data)) {
            error_setg(errp,
                       "Read-only block node '%s' cannot support read-write "
                       "users",
                       bs->node_name);
            return false;
        }
    }
    return true;
}

/* Everything data is written to must be writable once committed. */
static bool queue_check_writable(ReopenQueue *q, GError **errp)
{
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);

        if (it->e.need_write && it->e.state.read_only) {
            error_setg(errp, "Block node is read-only");
            return false;
        }
        if (q->check_users && it->e.state.read_only &&
            !check_no_writer(q, it->e.state.bs, errp)) {
            return false;
        }
    }
    return true;
}

static void queue_commit(ReopenQueue *q)
{
    /* children (queued after their parents) first */
    for (guint i = q->items->len; i-- > 0;) {
        ReopenItem *it = g_ptr_array_index(q->items, i);
        BlockDriverState *bs = it->e.state.bs;

        if (bs->drv->bdrv_reopen_commit) {
            bs->drv->bdrv_reopen_commit(&it->e.state);
        }
        bs->read_only = it->e.state.read_only;
        bs->cache_direct = it->e.cache_direct;
        bdrv_node(bs)->no_flush = it->e.no_flush;
        bdrv_node(bs)->auto_read_only = it->e.auto_read_only;
    }
}

/* Longest path down the file and backing children: a leaf is 0. */
static int node_height(BlockDriverState *bs)
{
    int h = 0;

    if (bs->file) {
        h = MAX(h, node_height(bs->file) + 1);
    }
    if (bs->backing) {
        h = MAX(h, node_height(bs->backing) + 1);
    }
    return h;
}

static gint by_height_desc(gconstpointer a, gconstpointer b)
{
    BlockDriverState *x = (*(ReopenItem *const *)a)->e.state.bs;
    BlockDriverState *y = (*(ReopenItem *const *)b)->e.state.bs;

    return node_height(y) - node_height(x);
}

/*
 * Drain parents before children: a parent's request that is already
 * running may still need its child, so the child is drained only once no
 * parent request can reach it.
 */
static GPtrArray *queue_drain(ReopenQueue *q)
{
    GPtrArray *order = g_ptr_array_new();

    for (guint i = 0; i < q->items->len; i++) {
        g_ptr_array_add(order, g_ptr_array_index(q->items, i));
    }
    g_ptr_array_sort(order, by_height_desc);
    for (guint i = 0; i < order->len; i++) {
        ReopenItem *it = g_ptr_array_index(order, i);

        bdrv_drained_begin(it->e.state.bs);
    }
    return order;
}

static void queue_undrain(GPtrArray *order)
{
    for (guint i = order->len; i-- > 0;) {
        ReopenItem *it = g_ptr_array_index(order, i);

        bdrv_drained_end(it->e.state.bs);
    }
    g_ptr_array_free(order, TRUE);
}

/*
 * The queued nodes take their new read-only modes for the permission
 * computation (perm.c sees "reopening" and the old mode), or go back.
 */
static void queue_set_tentative(ReopenQueue *q, bool tentative)
{
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);
        BlockDriverState *bs = it->e.state.bs;
        BdrvNode *n = bdrv_node(bs);

        if (tentative) {
            n->old_read_only = bs->read_only;
            bs->read_only = it->e.state.read_only;
        } else {
            bs->read_only = n->old_read_only;
        }
        n->reopening = tentative;
    }
}

/*
 * The children's permissions under the new modes, checked (conflicts,
 * writers on a node becoming read-only, other processes' locks on files
 * that are not reopened).  A reopened file node's own fd switch takes its
 * new permissions in its prepare (perm.c leaves reopening nodes to it).
 * NULL with errp: nothing changed.
 */
static BdrvPermUpdate *queue_update_perms(ReopenQueue *q, GError **errp)
{
    BdrvPermUpdate *u = bdrv_perm_update_begin();

    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);

        if (!bdrv_perm_update_add(u, it->e.state.bs, errp)) {
            bdrv_perm_update_end(u, false);
            return NULL;
        }
    }
    return u;
}

/* Flush, prepare and commit with no request running on any queued node. */
static bool queue_run_drained(ReopenQueue *q, GError **errp)
{
    BdrvPermUpdate *u;

    if (!queue_flush(q, errp)) {
        return false;
    }
    queue_set_tentative(q, true);
    u = queue_update_perms(q, errp);
    if (!u || !queue_prepare(q, errp) || !queue_check_writable(q, errp)) {
        if (u) {
            queue_abort(q); /* no-op for what did not prepare */
            bdrv_perm_update_end(u, false);
        }
        queue_set_tentative(q, false);
        return false;
    }
    queue_commit(q);
    bdrv_perm_update_end(u, true);
    for (guint i = 0; i < q->items->len; i++) {
        ReopenItem *it = g_ptr_array_index(q->items, i);

        bdrv_node(it->e.state.bs)->reopening = false;
    }
    return true;
}

static bool queue_run(ReopenQueue *q, GError **errp)
{
    GPtrArray *order = queue_drain(q);
    bool ok = queue_run_drained(q, errp);

    queue_undrain(order);
    return ok;
}

bool bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                               bool need_write, GError **errp)
{
    g_autoptr(ReopenQueue) q = queue_new();

    queue_add(q, bs, read_only, bs->cache_direct, bdrv_node(bs)->no_flush,
              need_write, true);
    return queue_run(q, errp);
}

/* ---- blockdev-reopen ---- */

/* What options left out of a reopen description become. */
typedef struct ReopenDefaults {
    bool read_only;
    bool direct;
    bool no_flush;
} ReopenDefaults;

static bool queue_options(ReopenQueue *q, JsonObject *opts,
                          BlockDriverState *bs, const char *prefix,
                          const ReopenDefaults *def, GError **errp);

/*
 * A child option must name the current child, or describe it inline; an
 * inline description inherits what it leaves out from @def (the parent's
 * new modes for a file child, read-only for a backing child).
 */
static bool queue_child(ReopenQueue *q, JsonNode *opt, BlockDriverState *child,
                        const char *name, const char *prefix,
                        const ReopenDefaults *def, GError **errp)
{
    g_autofree char *path = bdrv_opt_path(prefix, name);

    if (JSON_NODE_HOLDS_OBJECT(opt)) {
        JsonObject *o = json_node_get_object(opt);
        const char *nn =
            json_object_get_string_member_with_default(o, "node-name", NULL);

        if (child && (!nn || g_str_equal(nn, child->node_name))) {
            return queue_options(q, o, child, path, def, errp);
        }
    } else if (JSON_NODE_HOLDS_NULL(opt)) {
        if (!child) {
            return true;
        }
    } else if (child && json_node_get_value_type(opt) == G_TYPE_STRING &&
               g_str_equal(json_node_get_string(opt), child->node_name)) {
        return true;
    }
    error_setg(errp, "Cannot change the option '%s'", path);
    return false;
}

static bool queue_children(ReopenQueue *q, const BdrvParsedOptions *po,
                           BlockDriverState *bs, const char *prefix,
                           const ReopenDefaults *mine, GError **errp)
{
    ReopenDefaults backing_def = *mine;

    if (po->file &&
        !queue_child(q, po->file, bs->file, "file", prefix, mine, errp)) {
        return false;
    }
    if (!bs->drv->bdrv_get_backing_file) {
        return true;
    }
    if (!po->backing) {
        const char *hdr = bs->drv->bdrv_get_backing_file(bs);

        if (bs->backing || (hdr && *hdr)) {
            error_setg(errp, "backing is missing for '%s'", bs->node_name);
            return false;
        }
        return true;
    }
    backing_def.read_only = true;
    return queue_child(q, po->backing, bs->backing, "backing", prefix,
                       &backing_def, errp);
}

/* Options a reopen cannot change, and defaults for those left out. */
static bool queue_options(ReopenQueue *q, JsonObject *opts,
                          BlockDriverState *bs, const char *prefix,
                          const ReopenDefaults *def, GError **errp)
{
    BdrvParsedOptions po;
    ReopenDefaults mine;
    bool ok = false;

    if (!bdrv_parse_options(opts, prefix, &po, errp)) {
        goto out;
    }
    if (po.drv != bs->drv) {
        g_autofree char *path = bdrv_opt_path(prefix, "driver");

        error_setg(errp, "Cannot change the option '%s'", path);
        goto out;
    }
    if (po.filename && g_strcmp0(po.filename, bs->filename) != 0) {
        g_autofree char *path = bdrv_opt_path(prefix, "filename");

        error_setg(errp, "Cannot change the option '%s'", path);
        goto out;
    }
    if (po.force_share && po.has_ro && !po.ro) {
        error_setg(errp, "force-share=on can only be used with read-only "
                         "images");
        goto out;
    }
    mine.read_only = po.has_ro ? po.ro : def->read_only;
    mine.direct = po.has_direct ? po.direct : def->direct;
    mine.no_flush = po.has_no_flush ? po.no_flush : def->no_flush;
    queue_add(q, bs, mine.read_only, mine.direct, mine.no_flush, false, true);
    /* Like every option a reopen leaves out, auto-read-only reverts to its
     * default (off). */
    queue_find(q, bs)->e.auto_read_only = po.auto_ro;
    ok = queue_children(q, &po, bs, prefix, &mine, errp);
out:
    bdrv_parsed_options_clear(&po);
    return ok;
}

static BlockDriverState *reopen_target(JsonObject *opts, GError **errp)
{
    const char *name;
    BlockDriverState *bs;

    if (!bdrv_opt_str(opts, "node-name", "node-name", &name, errp)) {
        return NULL;
    }
    if (!name) {
        error_setg(errp, "node-name not specified");
        return NULL;
    }
    bs = bdrv_find_node(name);
    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'", name);
        return NULL;
    }
    if (bdrv_node(bs)->job) {
        error_setg(errp,
                   "Node '%s' is busy: block device is in use by "
                   "block job: %s",
                   name, block_job_type(bdrv_node(bs)->job));
        return NULL;
    }
    return bs;
}

bool bdrv_reopen_options(JsonArray *options, GError **errp)
{
    static const ReopenDefaults top_defaults = {false, false, false};
    g_autoptr(ReopenQueue) q = queue_new();

    q->check_users = true;
    for (guint i = 0; i < json_array_get_length(options); i++) {
        JsonNode *n = json_array_get_element(options, i);
        BlockDriverState *bs;

        if (!JSON_NODE_HOLDS_OBJECT(n)) {
            error_setg(errp,
                       "Invalid parameter type for 'options[%u]', "
                       "expected: object",
                       i);
            return false;
        }
        bs = reopen_target(json_node_get_object(n), errp);
        if (!bs || !queue_options(q, json_node_get_object(n), bs, NULL,
                                  &top_defaults, errp)) {
            return false;
        }
    }
    return queue_run(q, errp);
}
