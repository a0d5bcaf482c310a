/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP handlers of the block-dirty-bitmap-* commands (thin: lookups, QEMU's
 * checks, then dirty-bitmap.c) and the remove of a persistent bitmap from
 * its image.
 */
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/qcow2-bitmap.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"

void qmp_block_dirty_bitmap_add(const char *node, const char *name,
                                bool has_granularity, uint32_t granularity,
                                bool has_persistent, bool persistent,
                                bool has_disabled, bool disabled,
                                GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(node, node, errp);

    if (!bs) {
        return;
    }
    if (has_granularity && granularity == 0) {
        granularity = 1; /* 0 given explicitly is refused, not the default */
    }
    bdrv_create_dirty_bitmap(bs, name, has_granularity ? granularity : 0,
                             has_persistent && persistent,
                             has_disabled && disabled, errp);
}

void qmp_block_dirty_bitmap_remove(const char *node, const char *name,
                                   GError **errp)
{
    BlockDriverState *bs;
    BdrvDirtyBitmap *bm = bdrv_dirty_bitmap_lookup(node, name, &bs, errp);
    bool persistent;

    if (!bm || !bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_BUSY |
                                        BDRV_BITMAP_RO, errp)) {
        return;
    }
    persistent = bdrv_dirty_bitmap_persistent(bm);
    bdrv_release_dirty_bitmap(bm);
    if (persistent) {
        /* out of the image now, not only at close (the others stay in
         * use); on failure the image keeps it until the next store */
        qcow2_store_persistent_dirty_bitmaps(bs, false, errp);
    }
}

void qmp_block_dirty_bitmap_clear(const char *node, const char *name,
                                  GError **errp)
{
    BdrvDirtyBitmap *bm = bdrv_dirty_bitmap_lookup(node, name, NULL, errp);

    if (bm && bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, errp)) {
        bdrv_dirty_bitmap_clear(bm);
    }
}

static void set_enabled(const char *node, const char *name, bool enabled,
                        GError **errp)
{
    BdrvDirtyBitmap *bm = bdrv_dirty_bitmap_lookup(node, name, NULL, errp);

    if (bm && bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
        bdrv_dirty_bitmap_set_enabled(bm, enabled);
    }
}

void qmp_block_dirty_bitmap_enable(const char *node, const char *name,
                                   GError **errp)
{
    set_enabled(node, name, true, errp);
}

void qmp_block_dirty_bitmap_disable(const char *node, const char *name,
                                    GError **errp)
{
    set_enabled(node, name, false, errp);
}

static BdrvDirtyBitmap *merge_source(const char *node,
                                     BlockDirtyBitmapOrStr *src,
                                     BdrvDirtyBitmap *target, GError **errp)
{
    BdrvDirtyBitmap *bm;

    if (src->type == QTYPE_QSTRING) {
        bm = bdrv_dirty_bitmap_lookup(node, src->u.local, NULL, errp);
    } else {
        bm = bdrv_dirty_bitmap_lookup(src->u.external.node,
                                      src->u.external.name, NULL, errp);
    }
    if (!bm || !bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_INCONSISTENT, errp)) {
        return NULL;
    }
    if (bdrv_dirty_bitmap_size(bm) != bdrv_dirty_bitmap_size(target)) {
        bdrv_dirty_bitmap_merge(target, bm, errp); /* sets the size error */
        return NULL;
    }
    return bm;
}

BdrvDirtyBitmap *bdrv_merge_dirty_bitmaps(const char *node,
                                          const char *target,
                                          BlockDirtyBitmapOrStrList *bitmaps,
                                          HBitmap **backup, GError **errp)
{
    BdrvDirtyBitmap *dst = bdrv_dirty_bitmap_lookup(node, target, NULL, errp);
    g_autoptr(GPtrArray) srcs = g_ptr_array_new();

    if (!dst || !bdrv_dirty_bitmap_check(dst, BDRV_BITMAP_DEFAULT, errp)) {
        return NULL;
    }
    /* all sources first, so that a bad one leaves the target as it was */
    for (BlockDirtyBitmapOrStrList *l = bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *src = merge_source(node, l->value, dst, errp);

        if (!src) {
            return NULL;
        }
        g_ptr_array_add(srcs, src);
    }
    if (backup) {
        *backup = bdrv_dirty_bitmap_copy_bits(dst);
    }
    for (guint i = 0; i < srcs->len; i++) {
        bdrv_dirty_bitmap_merge(dst, srcs->pdata[i], NULL); /* sizes checked */
    }
    return dst;
}

void qmp_block_dirty_bitmap_merge(const char *node, const char *target,
                                  BlockDirtyBitmapOrStrList *bitmaps,
                                  GError **errp)
{
    bdrv_merge_dirty_bitmaps(node, target, bitmaps, NULL, errp);
}

BlockDirtyBitmapSha256 *qmp_x_debug_block_dirty_bitmap_sha256(
    const char *node, const char *name, GError **errp)
{
    BdrvDirtyBitmap *bm = bdrv_dirty_bitmap_lookup(node, name, NULL, errp);
    BlockDirtyBitmapSha256 *ret;

    if (!bm) {
        return NULL;
    }
    ret = g_new0(BlockDirtyBitmapSha256, 1);
    ret->sha256 = bdrv_dirty_bitmap_sha256(bm);
    return ret;
}
