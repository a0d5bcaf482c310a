/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps in qcow2 images: not stored yet, so refused at
 * creation with QEMU's text for a node that cannot store them.
 */
#include "block/qcow2-bitmap.h"
#include "qemu/error.h"

bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, GError **errp)
{
    (void)name;
    (void)granularity;
    error_setg(errp, "Can't store persistent bitmaps to %s: Operation not "
               "supported", bs->node_name);
    return false;
}

bool qcow2_remove_persistent_dirty_bitmap(BlockDriverState *bs,
                                          const char *name, GError **errp)
{
    (void)bs;
    (void)name;
    (void)errp;
    return true; /* none is ever stored */
}

void qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool closing)
{
    (void)bs;
    (void)closing;
}
