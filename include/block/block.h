/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer as the daemon's main() sees it: start-up, --blockdev and
 * shutdown.  Everything else reaches the block layer through QMP (handlers
 * in block/blockdev.c, block/job.c, block/commit.c) and HMP (hmp-block.c).
 */
#ifndef BLOCK_BLOCK_H
#define BLOCK_BLOCK_H

#include <glib.h>
#include <stdbool.h>

/*
 * Register the block HMP commands (drive_add, drive_del, info block).
 * Call once, before the monitors start.
 */
void bdrv_init(void);

/*
 * --blockdev: @json_or_keyval is either a JSON object ("{...}") or the
 * key=value,key.sub=value form; either way it means what blockdev-add with
 * the same options means, and the node belongs to the monitor (blockdev-del
 * may remove it).  False with errp set on failure; nothing is left open.
 */
bool bdrv_cmdline_blockdev(const char *json_or_keyval, GError **errp);

/*
 * At exit: cancel every job (waiting for its worker), then close every
 * drive and node, flushing writable images and releasing their fds with
 * qemu_close().  Safe to call when nothing was opened.
 */
void bdrv_close_all(void);

#endif
