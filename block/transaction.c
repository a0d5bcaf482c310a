/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * transaction: the action table and the all-or-nothing driver around it.
 */
#include "block/transaction.h"
#include "qemu/error.h"

static bool abort_prepare(BlkActionState *s, GError **errp)
{
    error_setg(errp, "Transaction aborted using Abort action");
    return false;
}

static const BlkActionOps abort_action = {
    .instance_size = sizeof(BlkActionState),
    .supports_grouped = true,
    .prepare = abort_prepare,
};

/* One row per action; other branches add theirs here. */
static const BlkActionOps *const action_table[TRANSACTION_ACTION_KIND__MAX] = {
    [TRANSACTION_ACTION_KIND_ABORT] = &abort_action,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ADD] =
        &bdrv_action_dirty_bitmap_add,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_REMOVE] =
        &bdrv_action_dirty_bitmap_remove,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_CLEAR] =
        &bdrv_action_dirty_bitmap_clear,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_ENABLE] =
        &bdrv_action_dirty_bitmap_enable,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_DISABLE] =
        &bdrv_action_dirty_bitmap_disable,
    [TRANSACTION_ACTION_KIND_BLOCK_DIRTY_BITMAP_MERGE] =
        &bdrv_action_dirty_bitmap_merge,
    [TRANSACTION_ACTION_KIND_BLOCKDEV_BACKUP] = &bdrv_action_blockdev_backup,
    [TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT] =
        &bdrv_action_blockdev_snapshot,
    [TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_SYNC] =
        &bdrv_action_blockdev_snapshot_sync,
    [TRANSACTION_ACTION_KIND_DRIVE_BACKUP] = &bdrv_action_drive_backup,
};

static BlkActionState *action_new(const TransactionAction *action,
                                  ActionCompletionMode mode)
{
    const BlkActionOps *ops = action_table[action->type];
    BlkActionState *s;

    g_assert(ops && ops->instance_size >= sizeof(BlkActionState));
    s = g_malloc0(ops->instance_size);
    s->ops = ops;
    s->action = action;
    s->completion_mode = mode;
    return s;
}

/* QEMU checks every action's support for the mode before preparing any. */
static bool check_mode(const TransactionActionList *actions,
                       ActionCompletionMode mode, GError **errp)
{
    if (mode != ACTION_COMPLETION_MODE_GROUPED) {
        return true;
    }
    for (const TransactionActionList *l = actions; l; l = l->next) {
        if (!action_table[l->value->type]->supports_grouped) {
            error_setg(errp,
                       "Action '%s' does not support Transaction "
                       "property completion-mode = %s",
                       TransactionActionKind_str(l->value->type),
                       ActionCompletionMode_str(mode));
            return false;
        }
    }
    return true;
}

bool bdrv_transaction(const TransactionActionList *actions,
                      ActionCompletionMode mode, GError **errp)
{
    g_autoptr(GPtrArray) prepared = g_ptr_array_new_with_free_func(g_free);
    bool ok = true;

    if (!check_mode(actions, mode, errp)) {
        return false;
    }
    for (const TransactionActionList *l = actions; l && ok; l = l->next) {
        BlkActionState *s = action_new(l->value, mode);

        ok = s->ops->prepare(s, errp);
        if (ok) {
            g_ptr_array_add(prepared, s);
        } else {
            g_free(s); /* a failed prepare leaves nothing to undo */
        }
    }
    for (guint i = prepared->len; !ok && i-- > 0;) {
        BlkActionState *s = g_ptr_array_index(prepared, i);

        if (s->ops->abort) {
            s->ops->abort(s);
        }
    }
    for (guint i = 0; ok && i < prepared->len; i++) {
        BlkActionState *s = g_ptr_array_index(prepared, i);

        if (s->ops->commit) {
            s->ops->commit(s);
        }
    }
    for (guint i = 0; i < prepared->len; i++) {
        BlkActionState *s = g_ptr_array_index(prepared, i);

        if (s->ops->clean) {
            s->ops->clean(s);
        }
    }
    return ok;
}
