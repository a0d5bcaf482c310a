/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-commit, the command: the device, top and base lookups, QEMU 7.2's
 * checks in its order and texts, and the name the overlay will record for
 * the base; the job itself is commit.c's.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/commit.h"
#include "block/graph.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/osdep.h"


/* ---- block-commit ---- */

/* The device: a drive id or a node name, which must be a root. */
static BlockDriverState *commit_root(const char *device, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(device, device, NULL);

    if (!bs) {
        error_set(errp, QMP_ERROR_CLASS_DEVICE_NOT_FOUND,
                  "Device '%s' not found", device ? device : "");
        return NULL;
    }
    if (!bdrv_is_root_node(bs)) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    return bs;
}

/* A layer below @bs named by filename, as the chain's headers name it. */
static BlockDriverState *find_backing_image(BlockDriverState *bs,
                                            const char *name)
{
    for (BlockDriverState *it = bdrv_backing_next(bs); it;
         it = bdrv_backing_next(it)) {
        g_autofree char *shown = bdrv_display_filename(it);
        g_autofree char *full = bdrv_backing_full_name(bs);

        if (g_str_equal(it->filename, name) || g_str_equal(shown, name) ||
            (full && g_str_equal(full, name) &&
             bdrv_backing_next(bs) == it)) {
            return it;
        }
        bs = it;
    }
    return NULL;
}

static BlockDriverState *commit_top(BlockDriverState *root, const CommitArgs *a,
                                    GError **errp)
{
    BlockDriverState *top = root;

    if (a->top_node && a->top) {
        error_setg(errp, "'top-node' and 'top' are mutually exclusive");
        return NULL;
    }
    if (a->top_node) {
        top = bdrv_lookup_bs(NULL, a->top_node, errp);
        if (top && !bdrv_chain_contains(root, top)) {
            error_setg(errp, "'%s' is not in this backing file chain",
                       a->top_node);
            return NULL;
        }
        return top;
    }
    if (a->top && !g_str_equal(root->filename, a->top)) {
        top = find_backing_image(root, a->top);
    }
    if (!top) {
        error_setg(errp, "Top image file %s not found", a->top);
    }
    return top;
}

static BlockDriverState *commit_base(BlockDriverState *top, const CommitArgs *a,
                                     GError **errp)
{
    BlockDriverState *base;

    if (a->base_node && a->base) {
        error_setg(errp, "'base-node' and 'base' are mutually exclusive");
        return NULL;
    }
    if (a->base_node) {
        base = bdrv_lookup_bs(NULL, a->base_node, errp);
        if (base && !bdrv_chain_contains(top, base)) {
            error_setg(errp, "'%s' is not in this backing file chain",
                       a->base_node);
            return NULL;
        }
        return base;
    }
    if (a->base) {
        base = find_backing_image(top, a->base);
        if (!base) {
            error_setg(errp, "Can't find '%s' in the backing chain", a->base);
        }
        return base;
    }
    return bdrv_find_base(top);
}

/* Nodes already in another job cannot take part. */
static bool commit_check_busy(BlockDriverState *root, BlockDriverState *top,
                              BlockDriverState *base, GError **errp)
{
    for (BlockDriverState *it = root; it; it = bdrv_backing_next(it)) {
        if (bdrv_node(it)->job) {
            error_setg(errp,
                       "Node '%s' is busy: block device is in use by "
                       "block job: %s",
                       it->node_name, block_job_type(bdrv_node(it)->job));
            return false;
        }
        if (it == base) {
            break;
        }
    }
    return true;
}

/*
 * The name the overlay's header will give the base: @backing_file, else
 * what the lowest dropped layer's header called it.  Never a /dev/fdset/
 * path: that name means nothing outside this process.
 */
static char *commit_backing_name(const CommitArgs *a, BlockDriverState *overlay,
                                 BlockDriverState *top, BlockDriverState *base,
                                 GError **errp)
{
    BlockDriverState *lowest = bdrv_find_overlay(top, base);
    const char *name = a->backing_file;

    if (!name && lowest->drv->bdrv_get_backing_file) {
        name = lowest->drv->bdrv_get_backing_file(lowest);
    }
    if (!name || !*name) {
        name = base->filename;
    }
    if (g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        error_setg(errp,
                   "Cannot record '%s' as the backing file of '%s': "
                   "a /dev/fdset/ path only means something inside this "
                   "process; give 'backing-file'",
                   name, bdrv_device_or_node_name(overlay));
        return NULL;
    }
    return g_strdup(name);
}

static const char *commit_job_id(const CommitArgs *a, BlockDriverState *root)
{
    BlockBackend *blk;

    if (a->job_id) {
        return a->job_id;
    }
    blk = blk_by_root(root);
    return blk ? blk->id : "";
}

/* The overlay's name for base (non-active commit), then the job. */
static void commit_start(const CommitArgs *a, BlockDriverState *root,
                         BlockDriverState *top, BlockDriverState *base,
                         GError **errp)
{
    char *name = NULL;

    if (top != root) {
        name = commit_backing_name(a, bdrv_find_overlay(root, top), top, base,
                                   errp);
        if (!name) {
            return;
        }
    }
    /* takes name */
    commit_job_start(a, commit_job_id(a, root), root, top, base, name, errp);
}

static bool commit_check_filter(const CommitArgs *a, GError **errp)
{
    return !a->filter_node_name ||
           bdrv_check_new_node_name(a->filter_node_name, errp);
}

/* The checks QEMU makes, in its order, then the job. */
static void commit_run_checks(const CommitArgs *a, GError **errp)
{
    BlockDriverState *root, *top, *base;

    /* libvirt probes with DeviceNotFound: look the device up first */
    root = commit_root(a->device, errp);
    if (!root || !commit_check_busy(root, root, root, errp)) {
        return;
    }
    top = commit_top(root, a, errp);
    base = top ? commit_base(top, a, errp) : NULL;
    if (!base || !commit_check_busy(root, top, base, errp)) {
        return;
    }
    if (top == base) {
        error_setg(errp, "cannot commit an image into itself");
        return;
    }
    if (top == root && a->backing_file) {
        error_setg(errp, "'backing-file' specified, but 'top' is the active "
                         "layer");
        return;
    }
    if (!commit_check_filter(a, errp)) {
        return;
    }
    commit_start(a, root, top, base, errp);
}

void qmp_block_commit(bool has_job_id, const char *job_id, const char *device,
                      bool has_base_node, const char *base_node,
                      bool has_base, const char *base, bool has_top_node,
                      const char *top_node, bool has_top, const char *top,
                      bool has_backing_file, const char *backing_file,
                      bool has_speed, int64_t speed, bool has_on_error,
                      BlockdevOnError on_error, bool has_filter_node_name,
                      const char *filter_node_name, bool has_auto_finalize,
                      bool auto_finalize, bool has_auto_dismiss,
                      bool auto_dismiss, GError **errp)
{
    CommitArgs a = {
        .job_id = QAPI_OPT(has_job_id, job_id),
        .device = device,
        .base_node = QAPI_OPT(has_base_node, base_node),
        .base = QAPI_OPT(has_base, base),
        .top_node = QAPI_OPT(has_top_node, top_node),
        .top = QAPI_OPT(has_top, top),
        .backing_file = QAPI_OPT(has_backing_file, backing_file),
        .filter_node_name = QAPI_OPT(has_filter_node_name, filter_node_name),
        .speed = has_speed ? speed : 0,
        .on_error = has_on_error ? on_error : BLOCKDEV_ON_ERROR_REPORT,
        .auto_finalize = has_auto_finalize ? auto_finalize : true,
        .auto_dismiss = has_auto_dismiss ? auto_dismiss : true,
    };

    commit_run_checks(&a, errp);
}

