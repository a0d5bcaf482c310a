/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Filter nodes a job puts in the graph while it runs, named by
 * filter-node-name or implicitly, as QEMU 7.2 does: block-stream's
 * "copy-on-read" and blockdev-mirror's and active block-commit's
 * "mirror_top" above the node (its exports and drive use the filter
 * meanwhile), non-active block-commit's "commit_top" between top and its
 * overlay (inside the backing chain: chain.h's walks step over it).  A
 * filter passes every request to its only child (bs->file; the edge is
 * named "backing" for mirror_top and commit_top, as in QEMU);
 * query-named-block-nodes and x-debug-query-block-graph show it; at the
 * job's end the users go back and the filter is deleted.
 *
 * Reads are passed through, not copied up: the job does the copying, and
 * a guest read copied into the image would have to know the job's base.
 */
#include "block/block-backend.h"
#include "block/filter.h"
#include "block/graph.h"
#include "qemu/error.h"

static int64_t filter_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file);
}

static int filter_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        void *buf, GError **errp)
{
    return bdrv_pread(bs->file, offset, bytes, buf, errp);
}

static int filter_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         const void *buf, GError **errp)
{
    return bdrv_pwrite(bs->file, offset, bytes, buf, errp);
}

static int filter_pwrite_flags(BlockDriverState *bs, int64_t offset,
                               int64_t bytes, const void *buf, int flags,
                               GError **errp)
{
    return bdrv_pwrite_flags(bs->file, offset, bytes, buf, flags, errp);
}

static int filter_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, int flags, GError **errp)
{
    return bdrv_pwrite_zeroes(bs->file, offset, bytes, flags, errp);
}

static int filter_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                           GError **errp)
{
    return bdrv_pdiscard(bs->file, offset, bytes, errp);
}

static int filter_flush(BlockDriverState *bs, GError **errp)
{
    return bdrv_flush(bs->file, errp);
}

static int filter_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    return bdrv_truncate(bs->file, size, errp);
}

/* The filter holds nothing itself: everything shows through its child
 * (bdrv_block_status skips filters, so allocation depths stay the
 * child's). */
static int filter_is_allocated(BlockDriverState *bs, int64_t offset,
                               int64_t bytes, int64_t *pnum, GError **errp)
{
    return bdrv_is_allocated(bs->file, offset, bytes, pnum, errp);
}

static int filter_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    return 0;
}

const BlockDriver bdrv_copy_on_read_filter = {
    .format_name = "copy-on-read",
    .is_filter = true,
    .bdrv_getlength = filter_getlength,
    .bdrv_pread = filter_pread,
    .bdrv_pwrite = filter_pwrite,
    .bdrv_pwrite_flags = filter_pwrite_flags,
    .bdrv_pwrite_zeroes = filter_pwrite_zeroes,
    .bdrv_pdiscard = filter_pdiscard,
    .bdrv_flush = filter_flush,
    .bdrv_truncate = filter_truncate,
    .bdrv_is_allocated = filter_is_allocated,
    .bdrv_reopen_prepare = filter_reopen_prepare,
};

/* blockdev-mirror's: QEMU's edge to the source is its "backing", and it
 * shows the source's filename as its own. */
const BlockDriver bdrv_mirror_top_filter = {
    .format_name = "mirror_top",
    .is_filter = true,
    .file_child_name = "backing",
    .bdrv_getlength = filter_getlength,
    .bdrv_pread = filter_pread,
    .bdrv_pwrite = filter_pwrite,
    .bdrv_pwrite_flags = filter_pwrite_flags,
    .bdrv_pwrite_zeroes = filter_pwrite_zeroes,
    .bdrv_pdiscard = filter_pdiscard,
    .bdrv_flush = filter_flush,
    .bdrv_truncate = filter_truncate,
    .bdrv_is_allocated = filter_is_allocated,
    .bdrv_reopen_prepare = filter_reopen_prepare,
};

/* Active block-commit's mirror_top: the same node, but (QEMU 7.2's
 * bdrv_mirror_top_child_perm for commit) it never takes consistent read,
 * which base's overlays do not share, and shares write (perm.c). */
const BlockDriver bdrv_commit_mirror_top_filter = {
    .format_name = "mirror_top",
    .is_filter = true,
    .file_child_name = "backing",
    .bdrv_getlength = filter_getlength,
    .bdrv_pread = filter_pread,
    .bdrv_pwrite = filter_pwrite,
    .bdrv_pwrite_flags = filter_pwrite_flags,
    .bdrv_pwrite_zeroes = filter_pwrite_zeroes,
    .bdrv_pdiscard = filter_pdiscard,
    .bdrv_flush = filter_flush,
    .bdrv_truncate = filter_truncate,
    .bdrv_is_allocated = filter_is_allocated,
    .bdrv_reopen_prepare = filter_reopen_prepare,
};

/* A non-active block-commit's, between top and its overlay: read-only,
 * its edge to top named "backing", showing top's name (QEMU's). */
const BlockDriver bdrv_commit_top_filter = {
    .format_name = "commit_top",
    .is_filter = true,
    .file_child_name = "backing",
    .bdrv_getlength = filter_getlength,
    .bdrv_pread = filter_pread,
    .bdrv_flush = filter_flush,
    .bdrv_is_allocated = filter_is_allocated,
    .bdrv_reopen_prepare = filter_reopen_prepare,
};

/* blockdev-backup's: besides its "file" child (the source) it holds the
 * target as child "target", with QEMU 7.2's permissions (perm.c). */
const BlockDriver bdrv_copy_before_write_filter = {
    .format_name = "copy-before-write",
    .instance_size = sizeof(bool), /* sealed: the users are on it */
    .is_filter = true,
    .bdrv_getlength = filter_getlength,
    .bdrv_pread = filter_pread,
    .bdrv_pwrite = filter_pwrite,
    .bdrv_pwrite_flags = filter_pwrite_flags,
    .bdrv_pwrite_zeroes = filter_pwrite_zeroes,
    .bdrv_pdiscard = filter_pdiscard,
    .bdrv_flush = filter_flush,
    .bdrv_truncate = filter_truncate,
    .bdrv_is_allocated = filter_is_allocated,
    .bdrv_reopen_prepare = filter_reopen_prepare,
};

/* @bs's users that follow it (exports) and its drive go to @to. */
static bool move_users(BlockDriverState *bs, BlockDriverState *to,
                       GError **errp)
{
    BlockBackend *blk = blk_by_root(bs);

    if (!bdrv_replace_followers(bs, to, errp)) {
        return false;
    }
    if (blk && !blk_set_root(blk, to, errp)) {
        bdrv_replace_followers(to, bs, NULL); /* they were there */
        return false;
    }
    return true;
}

BlockDriverState *bdrv_filter_insert(const BlockDriver *drv,
                                     const char *node_name,
                                     BlockDriverState *bs, GError **errp)
{
    BlockDriverState *filter = bdrv_open_filter(drv, node_name, bs, errp);

    if (!filter) {
        return NULL;
    }
    if (!move_users(bs, filter, errp)) {
        bdrv_unref(filter);
        return NULL;
    }
    return filter;
}

void bdrv_filter_remove(BlockDriverState *filter)
{
    BlockDriverState *bs;
    GError *err = NULL;

    if (!filter) {
        return;
    }
    bs = filter->file;
    if (!move_users(filter, bs, &err)) {
        /* they had @bs before the filter: only a lock taken meanwhile by
         * another process could refuse it */
        g_warning("Could not take filter '%s' out: %s", filter->node_name,
                  err->message);
        g_error_free(err);
    }
    bdrv_unref(filter); /* the last reference unless that failed */
}

BlockDriverState *bdrv_filter_insert_below(const BlockDriver *drv,
                                           const char *node_name,
                                           BlockDriverState *overlay,
                                           GError **errp)
{
    BdrvBackingMode mode = bdrv_node(overlay)->backing_mode;
    BlockDriverState *filter =
        bdrv_open_filter(drv, node_name, overlay->backing, errp);

    if (!filter) {
        return NULL;
    }
    filter->read_only = true;
    /* the overlay keeps how it named its backing (query's filenames) */
    if (!bdrv_set_backing(overlay, filter, mode, errp)) {
        bdrv_unref(filter);
        return NULL;
    }
    return filter;
}

void bdrv_filter_remove_below(BlockDriverState *filter,
                              BlockDriverState *overlay)
{
    GError *err = NULL;

    if (!filter) {
        return;
    }
    if (overlay->backing == filter &&
        !bdrv_set_backing(overlay, filter->file,
                          bdrv_node(overlay)->backing_mode, &err)) {
        /* the overlay had that child before: cannot conflict */
        g_warning("Could not take filter '%s' out: %s", filter->node_name,
                  err->message);
        g_error_free(err);
    }
    bdrv_unref(filter);
}

BlockDriverState *bdrv_cbw_filter_insert(const char *node_name,
                                         BlockDriverState *bs,
                                         BlockDriverState *target,
                                         GError **errp)
{
    BlockDriverState *filter =
        bdrv_filter_insert(&bdrv_copy_before_write_filter, node_name, bs, errp);
    BdrvNode *n;

    if (!filter) {
        return NULL;
    }
    /* kept in the backing slot, with bs->backing NULL: no chain walk sees
     * it, the permission updates and the filter's deletion do */
    n = bdrv_node(filter);
    n->backing_child = bdrv_attach_node_child(filter, target, "target", errp);
    if (!n->backing_child) {
        bdrv_filter_remove(filter);
        return NULL;
    }
    /* the source's users are on the filter: from now on only it writes */
    *(bool *)filter->opaque = true;
    if (!bdrv_refresh_perms(filter, errp)) {
        *(bool *)filter->opaque = false;
        bdrv_filter_remove(filter);
        return NULL;
    }
    return filter;
}

void bdrv_cbw_filter_remove(BlockDriverState *filter)
{
    if (!filter) {
        return;
    }
    /* a plain filter again, so that the users can go back to the source;
     * sharing more cannot fail */
    *(bool *)filter->opaque = false;
    bdrv_refresh_perms(filter, NULL);
    bdrv_filter_remove(filter);
}

bool bdrv_cbw_filter_sealed(BlockDriverState *bs)
{
    return *(bool *)bs->opaque;
}
