/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transaction command: a table of actions, one row per
 * TransactionActionKind, each with prepare / commit / abort / clean.
 *
 * prepare runs for every action in order and may change the graph (a
 * later action sees what earlier ones did); when one fails, abort runs
 * for the prepared ones in reverse order; otherwise commit runs for all,
 * in order.  clean always runs last, for every prepared action.  Another
 * branch's actions (bitmaps, backup) are rows in block/transaction.c.
 */
#ifndef BLOCK_TRANSACTION_H
#define BLOCK_TRANSACTION_H

#include "qapi/qapi-types.h"

typedef struct BlkActionState BlkActionState;

typedef struct BlkActionOps {
    size_t instance_size;  /* of the action's state, BlkActionState first */
    bool supports_grouped; /* completion-mode grouped is accepted */
    /* false with errp: the transaction fails with that error */
    bool (*prepare)(BlkActionState *s, GError **errp);
    void (*commit)(BlkActionState *s); /* optional */
    void (*abort)(BlkActionState *s);  /* optional */
    void (*clean)(BlkActionState *s);  /* optional */
} BlkActionOps;

struct BlkActionState {
    const BlkActionOps *ops;
    const TransactionAction *action; /* borrowed for the transaction */
    ActionCompletionMode completion_mode;
};

/* Rows of the table (block/snapshot.c). */
extern const BlkActionOps bdrv_action_blockdev_snapshot;
extern const BlkActionOps bdrv_action_blockdev_snapshot_sync;

/* Rows of the table (block/bitmap-transaction.c). */
extern const BlkActionOps bdrv_action_dirty_bitmap_add;
extern const BlkActionOps bdrv_action_dirty_bitmap_remove;
extern const BlkActionOps bdrv_action_dirty_bitmap_clear;
extern const BlkActionOps bdrv_action_dirty_bitmap_enable;
extern const BlkActionOps bdrv_action_dirty_bitmap_disable;
extern const BlkActionOps bdrv_action_dirty_bitmap_merge;
extern const BlkActionOps bdrv_action_blockdev_backup;

/* Row of the table (block/backup-qmp.c). */
extern const BlkActionOps bdrv_action_drive_backup;

/* Run @actions all or nothing. */
bool bdrv_transaction(const TransactionActionList *actions,
                      ActionCompletionMode mode, GError **errp);

/* ---- snapshots (block/snapshot.c), also used outside transactions ---- */

bool bdrv_blockdev_snapshot(const BlockdevSnapshot *args, GError **errp);
bool bdrv_blockdev_snapshot_sync(const BlockdevSnapshotSync *args,
                                 GError **errp);

#endif
