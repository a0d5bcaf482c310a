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

/*
 * Put a new filter node @node_name (driver @drv) above @bs: its child
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

#endif
