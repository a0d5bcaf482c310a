/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives made by drive_add: a name, a unit number and a root node.
 */
#include "block/block-backend.h"
#include "block/graph.h"
#include "qemu/error.h"

static GList *drives; /* BlockBackend, oldest first */

BlockBackend *blk_by_name(const char *id)
{
    for (GList *l = drives; l; l = l->next) {
        BlockBackend *blk = l->data;

        if (g_str_equal(blk->id, id)) {
            return blk;
        }
    }
    return NULL;
}

BlockBackend *blk_by_root(BlockDriverState *bs)
{
    for (GList *l = drives; l; l = l->next) {
        BlockBackend *blk = l->data;

        if (blk->root == bs) {
            return blk;
        }
    }
    return NULL;
}

GList *blk_list(void)
{
    return drives;
}

static bool unit_in_use(int unit)
{
    for (GList *l = drives; l; l = l->next) {
        if (((BlockBackend *)l->data)->unit == unit) {
            return true;
        }
    }
    return false;
}

int blk_free_unit(void)
{
    int unit = 0;

    while (unit_in_use(unit)) {
        unit++;
    }
    return unit;
}

static void root_attach(BlockDriverState *bs)
{
    if (bs) {
        bdrv_ref(bs);
        bdrv_node(bs)->blk_users++;
    }
}

static void root_detach(BlockDriverState *bs)
{
    if (bs) {
        bdrv_node(bs)->blk_users--;
        bdrv_unref(bs);
    }
}

BlockBackend *blk_new_drive(const char *id, int unit, BlockDriverState *root,
                            bool writethrough, GError **errp)
{
    BlockBackend *blk;

    if (blk_by_name(id)) {
        error_setg(errp, "Duplicate ID '%s' for drive", id);
        return NULL;
    }
    if (bdrv_find_node(id)) {
        error_setg(errp,
                   "Device name '%s' conflicts with an existing node "
                   "name",
                   id);
        return NULL;
    }
    blk = g_new0(BlockBackend, 1);
    blk->id = g_strdup(id);
    blk->unit = unit;
    blk->writethrough = writethrough;
    root_attach(root);
    blk->root = root;
    drives = g_list_append(drives, blk);
    return blk;
}

void blk_delete(BlockBackend *blk)
{
    drives = g_list_remove(drives, blk);
    root_detach(g_steal_pointer(&blk->root));
    g_free(blk->id);
    g_free(blk);
}

void blk_set_root(BlockBackend *blk, BlockDriverState *bs)
{
    BlockDriverState *old = blk->root;

    root_attach(bs);
    blk->root = bs;
    root_detach(old);
}

void blk_delete_all(void)
{
    while (drives) {
        blk_delete(drives->data);
    }
}
