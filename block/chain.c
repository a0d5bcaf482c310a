/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Backing chains with filters in them (chain.h).  Every walk that means
 * "the images of this chain" goes through bdrv_backing_next(), so that a
 * job's filter between two layers (commit_top) or above the top changes
 * no lookup, allocation answer or header name.
 */
#include "block/chain.h"

BlockDriverState *bdrv_filter_or_cow_child(BlockDriverState *bs)
{
    return bs->drv->is_filter ? bs->file : bs->backing;
}

BlockDriverState *bdrv_skip_filters(BlockDriverState *bs)
{
    while (bs && bs->drv->is_filter) {
        bs = bs->file;
    }
    return bs;
}

BlockDriverState *bdrv_backing_next(BlockDriverState *bs)
{
    return bdrv_skip_filters(bdrv_filter_or_cow_child(bs));
}

bool bdrv_chain_contains(BlockDriverState *top, BlockDriverState *bs)
{
    for (BlockDriverState *it = bdrv_skip_filters(top); it;
         it = bdrv_backing_next(it)) {
        if (it == bs) {
            return true;
        }
    }
    return false;
}

BlockDriverState *bdrv_find_overlay(BlockDriverState *top, BlockDriverState *bs)
{
    for (BlockDriverState *it = bdrv_skip_filters(top); it;
         it = bdrv_backing_next(it)) {
        if (bdrv_backing_next(it) == bs) {
            return it;
        }
    }
    return NULL;
}

BlockDriverState *bdrv_find_base(BlockDriverState *bs)
{
    BlockDriverState *it = bdrv_skip_filters(bs);

    while (bdrv_backing_next(it)) {
        it = bdrv_backing_next(it);
    }
    return it;
}

int bdrv_backing_depth(BlockDriverState *bs)
{
    int depth = 0;

    for (BlockDriverState *it = bdrv_filter_or_cow_child(bs); it;
         it = bdrv_filter_or_cow_child(it)) {
        depth++;
    }
    return depth;
}
