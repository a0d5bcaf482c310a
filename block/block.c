/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node graph: registry by node name, references, child links.  The
 * I/O wrappers are in io.c.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/blockjob.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "qemu/error.h"

#define NODE_NAME_MAX 31

static GHashTable *nodes_by_name; /* node name -> BlockDriverState */
static GList *node_list;          /* every node, oldest first */

static void registry_init(void)
{
    if (!nodes_by_name) {
        nodes_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    }
}

void bdrv_register_node(BlockDriverState *bs)
{
    registry_init();
    g_hash_table_insert(nodes_by_name, bs->node_name, bs);
    node_list = g_list_append(node_list, bs);
}

static void bdrv_unregister_node(BlockDriverState *bs)
{
    GList *link = g_list_find(node_list, bs);

    if (link) {
        node_list = g_list_delete_link(node_list, link);
        g_hash_table_remove(nodes_by_name, bs->node_name);
    }
}

BlockDriverState *bdrv_find_node(const char *node_name)
{
    if (!nodes_by_name || !node_name) {
        return NULL;
    }
    return g_hash_table_lookup(nodes_by_name, node_name);
}

BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name,
                                 GError **errp)
{
    if (device) {
        BlockBackend *blk = blk_by_name(device);

        if (blk && blk->root) {
            return blk->root;
        }
    }
    if (node_name) {
        BlockDriverState *bs = bdrv_find_node(node_name);

        if (bs) {
            return bs;
        }
    }
    error_setg(errp, "Cannot find device='%s' nor node-name='%s'",
               device ? device : "", node_name ? node_name : "");
    return NULL;
}

GList *bdrv_list_nodes(void)
{
    return g_list_reverse(g_list_copy(node_list));
}

bool bdrv_id_wellformed(const char *id)
{
    if (!g_ascii_isalpha(id[0])) {
        return false;
    }
    for (const char *p = id + 1; *p; p++) {
        if (!g_ascii_isalnum(*p) && !strchr("-._", *p)) {
            return false;
        }
    }
    return true;
}

bool bdrv_check_new_node_name(const char *name, GError **errp)
{
    if (!bdrv_id_wellformed(name)) {
        error_setg(errp, "Invalid node-name: '%s'", name);
        return false;
    }
    if (blk_by_name(name)) {
        error_setg(errp, "node-name=%s is conflicting with a device id", name);
        return false;
    }
    if (bdrv_find_node(name)) {
        error_setg(errp, "Duplicate nodes with node-name='%s'", name);
        return false;
    }
    if (strlen(name) > NODE_NAME_MAX) {
        error_setg(errp, "Node name too long");
        return false;
    }
    return true;
}

void bdrv_ref(BlockDriverState *bs)
{
    g_assert(bs->refcnt > 0);
    bs->refcnt++;
}

void bdrv_drop_children(BlockDriverState *bs)
{
    BdrvNode *n = bdrv_node(bs);

    bdrv_drained_begin(bs);
    bs->backing = NULL;
    bs->file = NULL;
    bdrv_drained_end(bs);
    /* each child's reference goes with it */
    bdrv_child_detach(g_steal_pointer(&n->backing_child));
    bdrv_child_detach(g_steal_pointer(&n->file_child));
}

static void bdrv_delete(BlockDriverState *bs)
{
    GError *err = NULL;

    bdrv_drained_begin(bs); /* the last requests finish; none start */
    /* A filter keeps nothing of its own, and the node below it goes on
     * (a backup's filter leaves with the job): flushing it would write
     * back all of that node's dirty pages under its running guest. */
    if (!bs->read_only && bs->drv->bdrv_flush && !bs->drv->is_filter &&
        bdrv_flush(bs, &err) < 0) {
        g_warning("Flushing '%s' before closing it failed: %s", bs->node_name,
                  err->message);
        g_clear_error(&err);
    }
    bdrv_dirty_bitmaps_close(bs); /* stores persistent ones, drops its hook */
    if (bs->drv->bdrv_close) {
        bs->drv->bdrv_close(bs);
    }
    bdrv_unregister_node(bs);
    bdrv_drop_children(bs);
    g_assert(!bs->write_hooks); /* their owners removed them */
    bdrv_drained_end(bs);
    bdrv_io_cleanup(bs);
    g_rw_lock_clear(&bs->write_hooks_lock);
    g_free(bs->opaque);
    g_free(bs->filename);
    g_free(bs->node_name);
    g_free(bdrv_node(bs));
}

void bdrv_unref(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    g_assert(bs->refcnt > 0);
    if (--bs->refcnt == 0) {
        bdrv_delete(bs);
    }
}

bool bdrv_has_parent(BlockDriverState *bs)
{
    for (GList *l = node_list; l; l = l->next) {
        BlockDriverState *p = l->data;

        if (p->file == bs || p->backing == bs) {
            return true;
        }
    }
    return false;
}

bool bdrv_is_root_node(BlockDriverState *bs)
{
    for (GList *l = bdrv_node(bs)->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        if (c->parent || !g_str_equal(c->name, "root")) {
            return false;
        }
    }
    return true;
}

BlockDriverState *bdrv_backing_parent(BlockDriverState *bs)
{
    for (GList *l = node_list; l; l = l->next) {
        BlockDriverState *p = l->data;

        if (p->backing == bs) {
            return p;
        }
    }
    return NULL;
}

bool bdrv_set_backing(BlockDriverState *bs, BlockDriverState *backing,
                      BdrvBackingMode mode, GError **errp)
{
    BdrvNode *n = bdrv_node(bs);
    BdrvChild *old = n->backing_child;

    if (backing && old) {
        if (old->bs != backing && !bdrv_child_replace(old, backing, errp)) {
            return false;
        }
    } else if (backing) {
        n->backing_child = bdrv_attach_node_child(bs, backing, "backing",
                                                  errp);
        if (!n->backing_child) {
            return false;
        }
    } else {
        n->backing_child = NULL;
    }
    bdrv_drained_begin(bs);
    bs->backing = backing;
    bdrv_drained_end(bs);
    n->backing_mode = mode;
    if (!backing) {
        bdrv_child_detach(old);
    }
    return true;
}

bool bdrv_replace_followers(BlockDriverState *from, BlockDriverState *to,
                            GError **errp)
{
    g_autoptr(GList) users = g_list_copy(bdrv_parents(from));

    for (GList *l = users; l; l = l->next) {
        BdrvChild *c = l->data;

        bool ok;

        if (c->parent || !c->follows_replace) {
            continue;
        }
        /* its requests that began on @from end there, later ones go to
         * @to: none of them reaches @from once the reply is out */
        bdrv_child_gate_close(c);
        ok = bdrv_child_replace(c, to, errp);
        bdrv_child_gate_open(c);
        if (!ok) {
            return false;
        }
        bdrv_node(from)->blk_users--;
        bdrv_node(to)->blk_users++;
    }
    return true;
}

bool bdrv_replace_in_parents(BlockDriverState *from, BlockDriverState *to,
                             GError **errp)
{
    /* the users that follow their node (exports) move first */
    if (!bdrv_replace_followers(from, to, errp)) {
        return false;
    }
    for (GList *l = node_list; l; l = l->next) {
        BlockDriverState *p = l->data;
        BdrvNode *pn = bdrv_node(p);

        if (p == to) {
            continue; /* never make a node its own child */
        }
        if (p->file == from) {
            if (!bdrv_child_replace(pn->file_child, to, errp)) {
                return false;
            }
            bdrv_drained_begin(p);
            p->file = to;
            bdrv_drained_end(p);
        }
        if (p->backing == from &&
            !bdrv_set_backing(p, to, BDRV_BACKING_EXPLICIT, errp)) {
            return false;
        }
    }
    return true;
}

const char *bdrv_device_or_node_name(BlockDriverState *bs)
{
    BlockBackend *blk = blk_by_root(bs);

    return blk ? blk->id : bs->node_name;
}

bool bdrv_op_blocked(BlockDriverState *bs, GError **errp)
{
    BlockDriverState *parent;

    if (bdrv_node(bs)->job) {
        error_setg(errp,
                   "Node '%s' is busy: block device is in use by "
                   "block job: %s",
                   bdrv_device_or_node_name(bs),
                   block_job_type(bdrv_node(bs)->job));
        return true;
    }
    parent = bdrv_backing_parent(bs);
    if (parent) {
        error_setg(errp,
                   "Node '%s' is busy: node is used as backing hd of "
                   "'%s'",
                   bs->node_name, bdrv_device_or_node_name(parent));
        return true;
    }
    return false;
}

int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, GError **errp)
{
    int ret;

    if (!bs->drv->bdrv_change_backing_file) {
        error_setg(errp, "Image format '%s' cannot record a backing file",
                   bs->drv->format_name);
        return -1;
    }
    bdrv_drained_begin(bs);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else {
        ret = bs->drv->bdrv_change_backing_file(bs, backing_file, backing_fmt,
                                                errp);
    }
    bdrv_drained_end(bs);
    return ret < 0 ? -1 : 0;
}
