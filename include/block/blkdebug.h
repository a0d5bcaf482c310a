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

/*
 * Breakpoints on the blkdebug node at or below @bs (qemu-io's break,
 * remove_break, resume, wait_break).  0, or -ENOTSUP (no blkdebug node),
 * -ENOENT (unknown event name, no such breakpoint or suspended request).
 */
int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag);
int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag);
int bdrv_debug_resume(BlockDriverState *bs, const char *tag);
/* Until a request is suspended at @tag (true) or @timeout_us passed. */
bool bdrv_debug_wait_break(BlockDriverState *bs, const char *tag,
                           gint64 timeout_us);

#endif
