/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transaction actions of dirty bitmaps and blockdev-backup: prepare
 * does the work and keeps what abort needs to put things back.  None
 * supports completion-mode grouped (QEMU refuses it for the bitmap
 * actions; fdsetd's backup jobs do not fail together yet).
 */
#include "block/blockjob.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/qcow2-bitmap.h"
#include "block/transaction.h"
#include "qemu/error.h"

typedef struct BitmapState {
    BlkActionState common;
    BdrvDirtyBitmap *bm;
    BlockDriverState *bs;
    HBitmap *backup;  /* clear, merge: the bits before */
    bool was_enabled; /* enable, disable, remove */
    BlockJob *job;    /* blockdev-backup */
} BitmapState;

static void bitmap_clean(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;

    g_clear_pointer(&s->backup, hbitmap_free);
}

/* ---- add ---- */

static bool add_prepare(BlkActionState *common, GError **errp)
{
    BitmapState *s = (BitmapState *)common;
    const BlockDirtyBitmapAdd *a =
        common->action->u.block_dirty_bitmap_add.data;
    BlockDriverState *bs = bdrv_lookup_bs(a->node, a->node, errp);

    if (!bs) {
        return false;
    }
    if (a->has_granularity && a->granularity == 0) {
        error_setg(errp, "Granularity must be power of 2 and at least 512");
        return false;
    }
    s->bm = bdrv_create_dirty_bitmap(bs, a->name,
                                     a->has_granularity ? a->granularity : 0,
                                     a->has_persistent && a->persistent,
                                     a->has_disabled && a->disabled, errp);
    return s->bm != NULL;
}

static void add_abort(BlkActionState *common)
{
    bdrv_release_dirty_bitmap(((BitmapState *)common)->bm);
}

const BlkActionOps bdrv_action_dirty_bitmap_add = {
    .instance_size = sizeof(BitmapState),
    .prepare = add_prepare,
    .abort = add_abort,
};

/* ---- remove: hidden (busy, disabled) until commit ---- */

static BdrvDirtyBitmap *lookup(BlkActionState *common, BlockDriverState **bs,
                               unsigned checks, GError **errp)
{
    /* every BlockDirtyBitmapWrapper branch has the same layout */
    const BlockDirtyBitmap *a =
        common->action->u.block_dirty_bitmap_clear.data;
    BdrvDirtyBitmap *bm = bdrv_dirty_bitmap_lookup(a->node, a->name, bs, errp);

    if (!bm || !bdrv_dirty_bitmap_check(bm, checks, errp)) {
        return NULL;
    }
    return bm;
}

static bool remove_prepare(BlkActionState *common, GError **errp)
{
    BitmapState *s = (BitmapState *)common;

    s->bm = lookup(common, &s->bs, BDRV_BITMAP_BUSY | BDRV_BITMAP_RO, errp);
    if (!s->bm) {
        return false;
    }
    s->was_enabled = bdrv_dirty_bitmap_enabled(s->bm);
    bdrv_dirty_bitmap_set_busy(s->bm, true);
    bdrv_dirty_bitmap_set_enabled(s->bm, false);
    return true;
}

static void remove_commit(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;
    bool persistent = bdrv_dirty_bitmap_persistent(s->bm);
    g_autoptr(GError) err = NULL;

    bdrv_release_dirty_bitmap(s->bm);
    if (persistent &&
        !qcow2_store_persistent_dirty_bitmaps(s->bs, false, &err)) {
        g_warning("%s", err->message); /* it goes at the next store */
    }
}

static void remove_abort(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;

    bdrv_dirty_bitmap_set_busy(s->bm, false);
    bdrv_dirty_bitmap_set_enabled(s->bm, s->was_enabled);
}

const BlkActionOps bdrv_action_dirty_bitmap_remove = {
    .instance_size = sizeof(BitmapState),
    .prepare = remove_prepare,
    .commit = remove_commit,
    .abort = remove_abort,
};

/* ---- clear ---- */

static bool clear_prepare(BlkActionState *common, GError **errp)
{
    BitmapState *s = (BitmapState *)common;

    s->bm = lookup(common, NULL, BDRV_BITMAP_DEFAULT, errp);
    if (!s->bm) {
        return false;
    }
    s->backup = bdrv_dirty_bitmap_take_bits(s->bm);
    return true;
}

static void merge_back_abort(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;

    bdrv_dirty_bitmap_merge_bits(s->bm, s->backup);
}

const BlkActionOps bdrv_action_dirty_bitmap_clear = {
    .instance_size = sizeof(BitmapState),
    .prepare = clear_prepare,
    .abort = merge_back_abort,
    .clean = bitmap_clean,
};

/* ---- enable, disable ---- */

static bool set_enabled_prepare(BlkActionState *common, bool enabled,
                                GError **errp)
{
    BitmapState *s = (BitmapState *)common;

    s->bm = lookup(common, NULL, BDRV_BITMAP_ALLOW_RO, errp);
    if (!s->bm) {
        return false;
    }
    s->was_enabled = bdrv_dirty_bitmap_enabled(s->bm);
    bdrv_dirty_bitmap_set_enabled(s->bm, enabled);
    return true;
}

static bool enable_prepare(BlkActionState *common, GError **errp)
{
    return set_enabled_prepare(common, true, errp);
}

static bool disable_prepare(BlkActionState *common, GError **errp)
{
    return set_enabled_prepare(common, false, errp);
}

static void set_enabled_abort(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;

    bdrv_dirty_bitmap_set_enabled(s->bm, s->was_enabled);
}

const BlkActionOps bdrv_action_dirty_bitmap_enable = {
    .instance_size = sizeof(BitmapState),
    .prepare = enable_prepare,
    .abort = set_enabled_abort,
};

const BlkActionOps bdrv_action_dirty_bitmap_disable = {
    .instance_size = sizeof(BitmapState),
    .prepare = disable_prepare,
    .abort = set_enabled_abort,
};

/* ---- merge ---- */

static bool merge_prepare(BlkActionState *common, GError **errp)
{
    BitmapState *s = (BitmapState *)common;
    const BlockDirtyBitmapMerge *a =
        common->action->u.block_dirty_bitmap_merge.data;

    s->bm = bdrv_merge_dirty_bitmaps(a->node, a->target, a->bitmaps,
                                     &s->backup, errp);
    return s->bm != NULL;
}

static void merge_abort(BlkActionState *common)
{
    BitmapState *s = (BitmapState *)common;

    bdrv_dirty_bitmap_restore_bits(s->bm, s->backup);
}

const BlkActionOps bdrv_action_dirty_bitmap_merge = {
    .instance_size = sizeof(BitmapState),
    .prepare = merge_prepare,
    .abort = merge_abort,
    .clean = bitmap_clean,
};

/* ---- blockdev-backup: the job starts at commit ---- */

static bool backup_prepare(BlkActionState *common, GError **errp)
{
    BitmapState *s = (BitmapState *)common;

    s->job = bdrv_backup_prepare(common->action->u.blockdev_backup.data,
                                 errp);
    return s->job != NULL;
}

static void backup_commit(BlkActionState *common)
{
    block_job_start(((BitmapState *)common)->job);
}

static void backup_abort(BlkActionState *common)
{
    bdrv_backup_abort_prepared(((BitmapState *)common)->job);
}

const BlkActionOps bdrv_action_blockdev_backup = {
    .instance_size = sizeof(BitmapState),
    .prepare = backup_prepare,
    .commit = backup_commit,
    .abort = backup_abort,
};
