/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The block layer's HMP commands: drive_add, drive_del, info block.
 */
#ifndef BLOCK_HMP_BLOCK_H
#define BLOCK_HMP_BLOCK_H

#include <glib.h>
#include <stdbool.h>

/* Register them with hmp_register_command() (bdrv_init() does). */
void hmp_block_register(void);
/* qemu-io DEVICE "COMMAND" (hmp-qemu-io.c); hmp_block_register calls it. */
void hmp_qemu_io_register(void);
/* qemu-io's breakpoint commands (@argv: the command's words): true when
 * @argv[0] is one, its report in @out. */
bool hmp_qemu_io_break(BlockDriverState *bs, char **argv, GString *out);

#endif
