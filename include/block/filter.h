/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Filter nodes jobs insert above their node (filter-node-name): block
 * code only, main loop only.
 */
#ifndef BLOCK_FILTER_H
#define BLOCK_FILTER_H

#include "block/block_int.h"

/* block-stream's filter, "copy-on-read" as QEMU names the driver. */
extern const BlockDriver bdrv_copy_on_read_filter;
/* blockdev-mirror's, "mirror_top". */
extern const BlockDriver bdrv_mirror_top_filter;

/* active block-commit's "mirror_top" (commit's permissions). */
extern const BlockDriver bdrv_commit_mirror_top_filter;
/* blockdev-backup's "copy-before-write" (bdrv_cbw_filter_insert). */
extern const BlockDriver bdrv_copy_before_write_filter;
/* non-active block-commit's, "commit_top" (inside the chain). */
extern const BlockDriver bdrv_commit_top_filter;

/*
 * Put a new filter node @node_name (driver @drv; NULL: an implicit name)
 * above @bs: its child
 * (bs->file) is @bs, and @bs's exports and drive move to it.  Returns the
 * filter, whose one reference the caller owns and gives back with
 * bdrv_filter_remove(); NULL with errp ("Duplicate nodes with
 * node-name='x'" and the other name checks, a permission conflict) and
 * nothing changed.
 */
BlockDriverState *bdrv_filter_insert(const BlockDriver *drv,
                                     const char *node_name,
                                     BlockDriverState *bs, GError **errp);

/* Move the filter's users back to the node below and delete the filter.
 * NULL is ignored. */
void bdrv_filter_remove(BlockDriverState *filter);

/*
 * Put a new read-only filter node @node_name (NULL: an implicit name)
 * between @overlay and its backing node: @overlay's backing becomes the
 * filter, whose child is the old backing node.  Returns the filter (one
 * reference for the caller, given back with bdrv_filter_remove_below());
 * NULL with errp and nothing changed.
 */
BlockDriverState *bdrv_filter_insert_below(const BlockDriver *drv,
                                           const char *node_name,
                                           BlockDriverState *overlay,
                                           GError **errp);

/* If @overlay's backing is still @filter, the node below goes back in its
 * place; the filter is deleted.  NULL is ignored. */
void bdrv_filter_remove_below(BlockDriverState *filter,
                              BlockDriverState *overlay);

/*
 * blockdev-backup's filter above @bs (as bdrv_filter_insert), holding
 * @target as its child "target" too.  Removed with
 * bdrv_cbw_filter_remove().
 * NULL with errp and nothing changed.
 */
BlockDriverState *bdrv_cbw_filter_insert(const char *node_name,
                                         BlockDriverState *bs,
                                         BlockDriverState *target,
                                         GError **errp);
/* Take it out: its users back to the source, then deleted.  NULL is
 * ignored. */
void bdrv_cbw_filter_remove(BlockDriverState *filter);
/* For perm.c: are the source's users on the filter yet? */
bool bdrv_cbw_filter_sealed(BlockDriverState *bs);

#endif
