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

/* What a drive takes on its root (QEMU's blk_new_open for -drive). */
static uint64_t drive_perm(BlockDriverState *bs)
{
    return BLK_PERM_CONSISTENT_READ | (bs->read_only ? 0 : BLK_PERM_WRITE);
}

static BdrvChild *root_attach(const char *id, BlockDriverState *bs,
                              GError **errp)
{
    g_autofree char *user = g_strdup_printf("block device '%s'", id);
    BdrvChild *c;

    if (!bs) {
        return NULL;
    }
    c = bdrv_child_attach(user, bs, "root", drive_perm(bs), BLK_PERM_ALL,
                          errp);
    if (c) {
        bdrv_node(bs)->blk_users++;
    }
    return c;
}

static void root_detach(BdrvChild *c)
{
    if (c) {
        bdrv_node(c->bs)->blk_users--;
        bdrv_child_detach(c);
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
    blk->root_child = root_attach(id, root, errp);
    if (root && !blk->root_child) {
        g_free(blk);
        return NULL;
    }
    blk->id = g_strdup(id);
    blk->unit = unit;
    blk->writethrough = writethrough;
    blk->root = root;
    drives = g_list_append(drives, blk);
    return blk;
}

void blk_delete(BlockBackend *blk)
{
    drives = g_list_remove(drives, blk);
    blk->root = NULL;
    root_detach(g_steal_pointer(&blk->root_child));
    g_free(blk->id);
    g_free(blk);
}

bool blk_set_root(BlockBackend *blk, BlockDriverState *bs, GError **errp)
{
    BdrvChild *c = blk->root_child;

    if (c && !bdrv_child_replace(c, bs, errp)) {
        return false;
    }
    if (!c) {
        c = blk->root_child = root_attach(blk->id, bs, errp);
        if (!c) {
            return false;
        }
    } else {
        bdrv_node(blk->root)->blk_users--;
        bdrv_node(bs)->blk_users++;
    }
    blk->root = bs;
    return true;
}

void blk_delete_all(void)
{
    while (drives) {
        blk_delete(drives->data);
    }
}
