/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps in a qcow2 image's bitmaps extension
 * (qcow2-bitmap.c), for dirty-bitmap.c and the qcow2 driver.
 */
#ifndef BLOCK_QCOW2_BITMAP_H
#define BLOCK_QCOW2_BITMAP_H

#include "block/block_int.h"

/* May @bs (any node) take a new persistent bitmap?  Errors as QEMU's:
 * "Can't store persistent bitmaps to N: Operation not supported", ... */
bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, GError **errp);
/* Take @name out of @bs's image now (block-dirty-bitmap-remove). */
bool qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                          const char *name, GError **errp);
/* Write @bs's persistent bitmaps to its image; with @closing they are left
 * not in use.  Warns on failure (the node is closing or flushing). */
void qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool closing);

#endif
