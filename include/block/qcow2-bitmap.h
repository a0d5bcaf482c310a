/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps in a qcow2 image's bitmaps extension
 * (qcow2-bitmap.c), for dirty-bitmap.c.
 */
#ifndef BLOCK_QCOW2_BITMAP_H
#define BLOCK_QCOW2_BITMAP_H

#include "block/block_int.h"

/* May @bs (any node) take a new persistent bitmap?  Errors as QEMU's:
 * "Can't store persistent bitmaps to N: Operation not supported",
 * "Cannot store dirty bitmaps in qcow2 v2 files". */
bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, GError **errp);
/*
 * Write @bs's persistent bitmaps to its image (any node: a no-op for
 * others), replacing what the image had; with @closing they are left not
 * in use.  On failure the image keeps its previous bitmaps.
 */
bool qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool closing,
                                          GError **errp);

#endif
