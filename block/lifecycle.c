/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block_resize, change-backing-file and block-set-write-threshold, with
 * QEMU 7.2's checks in QEMU 7.2's order.
 */
#include "block/blockjob.h"
#include "block/graph.h"
#include "block/lifecycle.h"
#include "qemu/error.h"

static bool busy_with_job(BlockDriverState *bs, GError **errp)
{
    if (!bdrv_node(bs)->job) {
        return false;
    }
    error_setg(errp,
               "Node '%s' is busy: block device is in use by block job: %s",
               bs->node_name, block_job_type(bdrv_node(bs)->job));
    return true;
}

/* A user that does not let @bs be resized (an NBD export): QEMU's
 * conflict with the resize's own BlockBackend, in QEMU's words. */
static bool resize_unshared(BlockDriverState *bs, GError **errp)
{
    for (GList *l = bdrv_parents(bs); l; l = l->next) {
        BdrvChild *c = l->data;

        if (!c->parent && !(c->shared & BLK_PERM_RESIZE)) {
            error_setg(errp,
                       "Permission conflict on node '%s': permissions "
                       "'resize' are both required by an unnamed block "
                       "device (uses node '%s' as 'root' child) and "
                       "unshared by %s (uses node '%s' as '%s' child).",
                       bs->node_name, bs->node_name, c->user, bs->node_name,
                       c->name);
            return true;
        }
    }
    return false;
}

bool bdrv_block_resize(const char *device, const char *node_name,
                       int64_t size, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(device, node_name, errp);

    if (!bs) {
        return false;
    }
    if (size < 0) {
        error_setg(errp, "Parameter 'size' expects a >0 size");
        return false;
    }
    if (busy_with_job(bs, errp)) {
        return false;
    }
    if (bdrv_has_parent(bs)) {
        /* QEMU: its parent does not share RESIZE; the text is QEMU's */
        error_setg(errp, "Device '(null)' is in use");
        return false;
    }
    if (resize_unshared(bs, errp)) {
        return false;
    }
    if (bdrv_truncate(bs, size, errp) < 0) {
        return false;
    }
    return bdrv_flush(bs, errp) == 0;
}

/* A root node by drive id or node name: QEMU's qmp_get_root_bs(). */
static BlockDriverState *root_bs(const char *name, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(name, name, errp);

    if (bs && bdrv_has_parent(bs)) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    return bs;
}

static bool change_backing_checks(BlockDriverState *bs,
                                  BlockDriverState *image, const char *device,
                                  GError **errp)
{
    if (!image->backing) {
        error_setg(errp, "not allowing backing file change on an image "
                         "without a backing file");
        return false;
    }
    for (BlockDriverState *it = bs; it; it = it->backing) {
        if (busy_with_job(it, errp)) {
            return false;
        }
    }
    if (!bdrv_chain_contains(bs, image)) {
        error_setg(errp, "'%s' and image file are not in the same chain",
                   device);
        return false;
    }
    return true;
}

bool bdrv_qmp_change_backing_file(const char *device,
                                  const char *image_node_name,
                                  const char *backing_file, GError **errp)
{
    BlockDriverState *bs = root_bs(device, errp);
    BlockDriverState *image;
    bool ro, ok;

    if (!bs) {
        return false;
    }
    image = bdrv_lookup_bs(NULL, image_node_name, errp);
    if (!image || !change_backing_checks(bs, image, device, errp)) {
        return false;
    }
    ro = image->read_only;
    if (ro && !bdrv_reopen_set_read_only(image, false, true, errp)) {
        return false;
    }
    ok = bdrv_change_backing_file(image, backing_file,
                                  image->backing->drv->format_name, errp) == 0;
    if (ro) {
        GError *err = NULL;

        if (!bdrv_reopen_set_read_only(image, true, false, &err)) {
            if (ok) {
                g_propagate_error(errp, err);
                return false;
            }
            g_error_free(err);
        }
    }
    return ok;
}

bool bdrv_set_write_threshold_by_name(const char *node_name,
                                      int64_t threshold, GError **errp)
{
    BlockDriverState *bs = bdrv_find_node(node_name);

    if (!bs) {
        error_setg(errp, "Device '%s' not found", node_name ? node_name : "");
        return false;
    }
    bdrv_write_threshold_set(bs, threshold);
    return true;
}
