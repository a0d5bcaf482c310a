/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node graph: registry by node name, references, child links, and the
 * I/O wrappers that serialise a node's requests with its lock.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/blockjob.h"
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

    g_mutex_lock(&bs->lock);
    bs->backing = NULL;
    bs->file = NULL;
    g_mutex_unlock(&bs->lock);
    /* each child's reference goes with it */
    bdrv_child_detach(g_steal_pointer(&n->backing_child));
    bdrv_child_detach(g_steal_pointer(&n->file_child));
}

static void bdrv_delete(BlockDriverState *bs)
{
    GError *err = NULL;

    if (!bs->read_only && bs->drv->bdrv_flush && bdrv_flush(bs, &err) < 0) {
        g_warning("Flushing '%s' before closing it failed: %s", bs->node_name,
                  err->message);
        g_clear_error(&err);
    }
    if (bs->drv->bdrv_close) {
        bs->drv->bdrv_close(bs);
    }
    bdrv_unregister_node(bs);
    bdrv_drop_children(bs);
    g_mutex_clear(&bs->lock);
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

bool bdrv_chain_contains(BlockDriverState *top, BlockDriverState *bs)
{
    for (BlockDriverState *it = top; it; it = it->backing) {
        if (it == bs) {
            return true;
        }
    }
    return false;
}

BlockDriverState *bdrv_find_overlay(BlockDriverState *top, BlockDriverState *bs)
{
    for (BlockDriverState *it = top; it; it = it->backing) {
        if (it->backing == bs) {
            return it;
        }
    }
    return NULL;
}

BlockDriverState *bdrv_find_base(BlockDriverState *bs)
{
    while (bs->backing) {
        bs = bs->backing;
    }
    return bs;
}

int bdrv_backing_depth(BlockDriverState *bs)
{
    int depth = 0;

    for (BlockDriverState *it = bs->backing; it; it = it->backing) {
        depth++;
    }
    return depth;
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
    g_mutex_lock(&bs->lock);
    bs->backing = backing;
    g_mutex_unlock(&bs->lock);
    n->backing_mode = mode;
    if (!backing) {
        bdrv_child_detach(old);
    }
    return true;
}

bool bdrv_replace_in_parents(BlockDriverState *from, BlockDriverState *to,
                             GError **errp)
{
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
            g_mutex_lock(&p->lock);
            p->file = to;
            g_mutex_unlock(&p->lock);
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
                   bs->node_name, block_job_type(bdrv_node(bs)->job));
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

/* ---- I/O wrappers ---- */

static bool check_request(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          GError **errp)
{
    if (!bs->drv) {
        error_setg(errp, "Node '%s' has no driver", bs->node_name);
        return false;
    }
    if (offset < 0 || bytes < 0 || offset > INT64_MAX - bytes) {
        error_setg(errp,
                   "Invalid request at offset %" G_GINT64_FORMAT
                   " of %" G_GINT64_FORMAT " bytes on '%s'",
                   offset, bytes, bs->node_name);
        return false;
    }
    return true;
}

int bdrv_pread(BlockDriverState *bs, int64_t offset, int64_t bytes, void *buf,
               GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (bytes == 0) {
        return 0;
    }
    g_mutex_lock(&bs->lock);
    ret = bs->drv->bdrv_pread(bs, offset, bytes, buf, errp);
    g_mutex_unlock(&bs->lock);
    return ret < 0 ? -1 : 0;
}

int bdrv_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                  int64_t *pnum, GError **errp)
{
    int ret;

    *pnum = bytes;
    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (!bs->drv->bdrv_map_file || bytes == 0) {
        return 0;
    }
    g_mutex_lock(&bs->lock);
    ret = bs->drv->bdrv_map_file(bs, offset, bytes, write, leaf, leaf_offset,
                                 pnum, errp);
    g_mutex_unlock(&bs->lock);
    return ret;
}

void bdrv_start_writeback(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BlockDriverState *leaf;
    int64_t leaf_off, n;

    while (bytes > 0 && bdrv_map_file(bs, offset, bytes, true, &leaf, &leaf_off,
                                      &n, NULL) > 0) {
        bdrv_file_start_writeback(leaf, leaf_off, n);
        offset += n;
        bytes -= n;
    }
}

int64_t bdrv_copy_range(BlockDriverState *src, BlockDriverState *dst,
                        int64_t offset, int64_t bytes, GError **errp)
{
    BlockDriverState *src_leaf, *dst_leaf;
    int64_t src_off, dst_off, n;
    int ret;

    if (dst->read_only) {
        return 0; /* the plain write reports it */
    }
    ret =
        bdrv_map_file(src, offset, bytes, false, &src_leaf, &src_off, &n, errp);
    if (ret <= 0) {
        return ret;
    }
    ret = bdrv_map_file(dst, offset, n, true, &dst_leaf, &dst_off, &n, errp);
    if (ret <= 0) {
        return ret;
    }
    if (dst_leaf == src_leaf || dst_leaf->read_only) {
        return 0;
    }
    bdrv_write_threshold_check(dst, offset, n); /* a write to @dst, too */
    return bdrv_file_copy_range(src_leaf, src_off, dst_leaf, dst_off, n, errp);
}

int bdrv_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    bdrv_write_threshold_check(bs, offset, bytes);
    g_mutex_lock(&bs->lock);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else if (!bs->drv->bdrv_pwrite) {
        error_setg(errp, "Driver '%s' cannot write", bs->drv->format_name);
        ret = -1;
    } else {
        ret = bytes ? bs->drv->bdrv_pwrite(bs, offset, bytes, buf, errp) : 0;
    }
    g_mutex_unlock(&bs->lock);
    return ret < 0 ? -1 : 0;
}

int bdrv_flush(BlockDriverState *bs, GError **errp)
{
    int ret = 0;

    if (!bs->drv || !bs->drv->bdrv_flush) {
        return 0;
    }
    g_mutex_lock(&bs->lock);
    if (!bs->read_only) {
        ret = bs->drv->bdrv_flush(bs, errp);
    }
    g_mutex_unlock(&bs->lock);
    return ret < 0 ? -1 : 0;
}

int bdrv_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    int ret;

    if (!bs->drv || !bs->drv->bdrv_truncate) {
        error_setg(errp, "Image format '%s' does not support resizing",
                   bs->drv ? bs->drv->format_name : "");
        return -1;
    }
    g_mutex_lock(&bs->lock);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else {
        ret = bs->drv->bdrv_truncate(bs, size, errp);
    }
    g_mutex_unlock(&bs->lock);
    return ret < 0 ? -1 : 0;
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    int64_t len;

    if (!bs->drv || !bs->drv->bdrv_getlength) {
        return -1;
    }
    g_mutex_lock(&bs->lock);
    len = bs->drv->bdrv_getlength(bs);
    g_mutex_unlock(&bs->lock);
    return len;
}

int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (bytes == 0 || !bs->drv->bdrv_is_allocated) {
        *pnum = bytes;
        return 1;
    }
    g_mutex_lock(&bs->lock);
    ret = bs->drv->bdrv_is_allocated(bs, offset, bytes, pnum, errp);
    g_mutex_unlock(&bs->lock);
    if (ret >= 0 && (*pnum <= 0 || *pnum > bytes)) {
        error_setg(errp, "Driver '%s' reported a bad allocation run",
                   bs->drv->format_name);
        return -1;
    }
    return ret < 0 ? -1 : ret;
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            GError **errp)
{
    int64_t run = bytes;

    for (BlockDriverState *it = top; it && it != base; it = it->backing) {
        int64_t len = bdrv_getlength(it);
        int64_t n;
        int ret;

        if (offset >= len) {
            continue; /* a shorter layer allocates nothing out there */
        }
        ret = bdrv_is_allocated(it, offset, MIN(run, len - offset), &n, errp);
        if (ret < 0) {
            return -1;
        }
        if (ret == 1) {
            *pnum = n;
            return 1;
        }
        run = MIN(run, n);
    }
    *pnum = run;
    return 0;
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
    g_mutex_lock(&bs->lock);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else {
        ret = bs->drv->bdrv_change_backing_file(bs, backing_file, backing_fmt,
                                                errp);
    }
    g_mutex_unlock(&bs->lock);
    return ret < 0 ? -1 : 0;
}

int bdrv_copy_on_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf, int64_t *copied, GError **errp)
{
    int ret = 0;

    *copied = 0;
    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    bdrv_write_threshold_check(bs, offset, bytes);
    /* one hold of the lock: a guest write cannot slip in between the
     * allocation check and the copy, so it is never overwritten */
    g_mutex_lock(&bs->lock);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    }
    for (int64_t off = offset, n; ret == 0 && off < offset + bytes; off += n) {
        int alloc = 1;

        n = offset + bytes - off;
        if (bs->drv->bdrv_is_allocated) {
            alloc = bs->drv->bdrv_is_allocated(bs, off, n, &n, errp);
        }

        if (alloc < 0 || n <= 0) {
            ret = -1;
        } else if (!alloc &&
                   (bs->drv->bdrv_pread(bs, off, n, buf, errp) < 0 ||
                    bs->drv->bdrv_pwrite(bs, off, n, buf, errp) < 0)) {
            ret = -1;
        } else if (!alloc) {
            *copied += n;
        }
    }
    g_mutex_unlock(&bs->lock);
    return ret;
}
