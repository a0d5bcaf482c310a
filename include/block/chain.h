/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Walking a backing chain that may hold filter nodes (filter.h): a job's
 * filter sits between a node and its overlay (commit_top) or above the
 * top (mirror_top, copy-on-read), and has no data of its own.  Chain
 * lookups (top, base, overlay, allocation, depth of the data) want the
 * images and step over filters; the graph queries want every node and
 * use bdrv_filter_or_cow_child().
 */
#ifndef BLOCK_CHAIN_H
#define BLOCK_CHAIN_H

#include "block/block_int.h"

/* The node below @bs that holds its data or shows through: a filter's
 * child, else the backing child (NULL at the bottom). */
BlockDriverState *bdrv_filter_or_cow_child(BlockDriverState *bs);

/* @bs itself unless it is a filter; else the first non-filter node below
 * it.  NULL for NULL. */
BlockDriverState *bdrv_skip_filters(BlockDriverState *bs);

/* The next image (non-filter node) below @bs in its backing chain, or
 * NULL at the bottom.  With bdrv_skip_filters() for the start:
 *     for (it = bdrv_skip_filters(top); it; it = bdrv_backing_next(it))
 * visits the images of top's chain. */
BlockDriverState *bdrv_backing_next(BlockDriverState *bs);

/* Does the walk above from @top reach @bs (@bs an image)? */
bool bdrv_chain_contains(BlockDriverState *top, BlockDriverState *bs);

/* The image in @top's chain whose next image is @bs, or NULL. */
BlockDriverState *bdrv_find_overlay(BlockDriverState *top,
                                    BlockDriverState *bs);

/* The bottom image of @bs's chain (@bs, past filters, when it has none). */
BlockDriverState *bdrv_find_base(BlockDriverState *bs);

/* The nodes below @bs through bdrv_filter_or_cow_child(), filters
 * counted, as QEMU's backing_file_depth counts them. */
int bdrv_backing_depth(BlockDriverState *bs);

#endif
