/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block exports (block/export/): the QMP commands' library side and
 * main()'s entry points.  Main loop only.
 */
#ifndef BLOCK_EXPORT_H
#define BLOCK_EXPORT_H

#include <glib.h>
#include <stdbool.h>

#include "qapi/qapi-types.h"

/* block-export-add, with QEMU 7.2's checks and texts. */
bool blk_exp_add(const BlockExportOptions *o, GError **errp);
/* block-export-del: safe refuses while clients are connected. */
bool blk_exp_del(const char *id, bool hard, GError **errp);
/* Ask every export to close; @wait: until their clients are gone and
 * BLOCK_EXPORT_DELETED is sent (nbd-server-stop). */
void blk_exp_close_all(bool wait);
/* At exit, before bdrv_close_all(): every export and client is gone. */
void blk_exp_shutdown(void);

/* --nbd-server addr.type=unix,addr.path=P[,max-connections=N] */
bool blk_exp_cmdline_nbd_server(const char *optarg, GError **errp);
/* --export type=nbd,id=ID,node-name=N[,name=NAME][,writable=on]... */
bool blk_exp_cmdline_export(const char *optarg, GError **errp);

#endif
