/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Error injection points for the "blkdebug" filter (block/blkdebug.c).
 *
 * Drivers announce that they reached a point of their work (an L2 table
 * allocation, a data write, a flush) with bdrv_debug_event(bs->file, ...):
 * the event goes to the first blkdebug node at or below @bs along "file"
 * children, and does nothing when there is none.  A rule of that node may
 * then fail the node's next requests (inject-error) or change its state
 * (set-state), as QEMU's blkdebug does.
 */
#ifndef BLOCK_BLKDEBUG_H
#define BLOCK_BLKDEBUG_H

#include "block/block_int.h"
#include "qapi/qapi-types.h" /* BlkdebugEvent: BLKDBG_L1_UPDATE ... */

extern const BlockDriver bdrv_blkdebug;

/* Any thread; @bs may be NULL. */
void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event);

#endif
