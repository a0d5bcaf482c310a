/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block_resize, change-backing-file and block-set-write-threshold, with
 * QEMU 7.2's checks in QEMU 7.2's order.
 */
#include "block/blockjob.h"
#include "block/graph.h"
#include "block/lifecycle.h"
#include "block/perm.h"
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

/* As QEMU, through a short-lived user that takes RESIZE: a parent that
 * does not share it (an export, a job) refuses with QEMU's text. */
static bool resize_as_user(BlockDriverState *bs, int64_t size, GError **errp)
{
    BdrvChild *c = bdrv_child_attach("an unnamed block device", bs, "root",
                                     BLK_PERM_RESIZE, BLK_PERM_ALL, errp);
    bool ok;

    if (!c) {
        return false;
    }
    ok = bdrv_truncate(bs, size, errp) == 0 && bdrv_flush(bs, errp) == 0;
    bdrv_child_detach(c);
    return ok;
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
    if (bdrv_node(bs)->job || bdrv_has_parent(bs)) {
        /* QEMU's op blocker (a job's node, a backing node) and its text,
         * with the device argument: "(null)" for node-name (measured) */
        error_setg(errp, "Device '%s' is in use", device ? device : "(null)");
        return false;
    }
    return resize_as_user(bs, size, errp);
}

/* A root node by drive id or node name: QEMU's qmp_get_root_bs(). */
static BlockDriverState *root_bs(const char *name, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(name, name, errp);

    if (bs && !bdrv_is_root_node(bs)) {
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
    for (BlockDriverState *it = bs; it; it = bdrv_backing_next(it)) {
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
