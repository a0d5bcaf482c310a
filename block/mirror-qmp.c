/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-mirror and drive-mirror: the arguments, QEMU's checks and
 * texts, and drive-mirror's target; the job itself is mirror.c's.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/graph.h"
#include "block/mirror.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define MIRROR_DEFAULT_BUF (16 * 1024 * 1024)


/* QEMU's default: the target's cluster size within [4k, 64k], else 64k. */
static int64_t default_granularity(BlockDriverState *target)
{
    int64_t cluster = 0;

    if (target->drv->bdrv_get_specific_info) {
        qapi_free_ImageInfoSpecific(
            target->drv->bdrv_get_specific_info(target, &cluster));
    }
    if (cluster <= 0) {
        return 65536;
    }
    return CLAMP(cluster, 4096, 65536);
}

static bool mirror_check_args(MirrorArgs *a, GError **errp)
{
    if (a->granularity != 0 &&
        (a->granularity < 512 || a->granularity > 64 * 1024 * 1024)) {
        error_setg(errp, "Parameter 'granularity' expects a value in range "
                         "[512B, 64MB]");
        return false;
    }
    if (a->granularity & (a->granularity - 1)) {
        error_setg(errp, "Parameter 'granularity' expects a power of 2");
        return false;
    }
    if (a->sync == MIRROR_SYNC_MODE_INCREMENTAL ||
        a->sync == MIRROR_SYNC_MODE_BITMAP) {
        error_setg(errp, "Sync mode '%s' not supported",
                   MirrorSyncMode_str(a->sync));
        return false;
    }
    if (a->buf_size < 0) {
        error_setg(errp, "Invalid parameter 'buf-size'");
        return false;
    }
    if (a->filter_node_name &&
        !bdrv_check_new_node_name(a->filter_node_name, errp)) {
        return false; /* QEMU 7.2: without stream's "Could not create" */
    }
    return true;
}

static BlockDriverState *mirror_root(const char *device, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(device, device, errp);

    if (bs && !bdrv_is_root_node(bs)) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    return bs;
}

static bool mirror_check_nodes(BlockDriverState *bs, BlockDriverState *target,
                               GError **errp)
{
    for (BlockDriverState *it = bs; it; it = bdrv_backing_next(it)) {
        if (bdrv_node(it)->job && it == bs) {
            error_setg(errp,
                       "Node '%s' is busy: block device is in use by "
                       "block job: %s",
                       it->node_name, block_job_type(bdrv_node(it)->job));
            return false;
        }
    }
    if (bdrv_node(target)->job) {
        error_setg(errp,
                   "Node '%s' is busy: block device is in use by block "
                   "job: %s",
                   target->node_name, block_job_type(bdrv_node(target)->job));
        return false;
    }
    if (target == bs) {
        error_setg(errp, "Can't mirror node into itself");
        return false;
    }
    if (bdrv_chain_contains(bs, target)) {
        error_setg(errp, "Cannot mirror to an image in the source's "
                         "backing chain");
        return false;
    }
    if (bdrv_getlength(target) < bdrv_getlength(bs)) {
        error_setg(errp, "Source and target image have different sizes");
        return false;
    }
    return true;
}

static BlockDriverState *mirror_replaces(BlockDriverState *bs,
                                         const char *replaces, GError **errp)
{
    BlockDriverState *to_replace;

    if (!replaces) {
        return bs;
    }
    to_replace = bdrv_find_node(replaces);
    if (!to_replace) {
        error_setg(errp, "Failed to find node with node-name='%s'", replaces);
        return NULL;
    }
    if (to_replace != bs) {
        /* fdsetd has no filters: only the source itself shows its data */
        error_setg(errp,
                   "Cannot replace '%s' by a node mirrored from '%s', "
                   "because it cannot be guaranteed that doing so would "
                   "not lead to an abrupt change of visible data",
                   replaces, bs->node_name);
        return NULL;
    }
    return to_replace;
}

static const char *mirror_job_id(const MirrorArgs *a, BlockDriverState *bs)
{
    BlockBackend *blk;

    if (a->job_id) {
        return a->job_id;
    }
    blk = blk_by_root(bs);
    return blk ? blk->id : "";
}

static void mirror_start(MirrorArgs *a, BlockDriverState *bs,
                         BlockDriverState *target, GError **errp)
{
    BlockDriverState *to_replace;

    if (a->sync == MIRROR_SYNC_MODE_TOP && !bs->backing) {
        a->sync = MIRROR_SYNC_MODE_FULL; /* as QEMU does */
    }
    to_replace = mirror_replaces(bs, a->replaces, errp);
    if (!to_replace || !mirror_check_nodes(bs, target, errp)) {
        return;
    }
    if (!a->granularity) {
        a->granularity = default_granularity(target);
    }
    a->buf_size = MAX(a->buf_size ? a->buf_size : MIRROR_DEFAULT_BUF,
                      a->granularity);
    mirror_job_start(a, mirror_job_id(a, bs), bs, target, to_replace, errp);
}

void qmp_blockdev_mirror(bool has_job_id, const char *job_id,
                         const char *device, const char *target,
                         bool has_replaces, const char *replaces,
                         MirrorSyncMode sync, bool has_speed, int64_t speed,
                         bool has_granularity, uint32_t granularity,
                         bool has_buf_size, int64_t buf_size,
                         bool has_on_source_error,
                         BlockdevOnError on_source_error,
                         bool has_on_target_error,
                         BlockdevOnError on_target_error,
                         bool has_filter_node_name,
                         const char *filter_node_name, bool has_copy_mode,
                         MirrorCopyMode copy_mode, bool has_auto_finalize,
                         bool auto_finalize, bool has_auto_dismiss,
                         bool auto_dismiss, GError **errp)
{
    MirrorArgs a = {
        .job_id = QAPI_OPT(has_job_id, job_id),
        .device = device,
        .replaces = QAPI_OPT(has_replaces, replaces),
        .filter_node_name = QAPI_OPT(has_filter_node_name, filter_node_name),
        .sync = sync,
        .copy_mode = has_copy_mode ? copy_mode : MIRROR_COPY_MODE_BACKGROUND,
        .on_source_error = has_on_source_error ? on_source_error
                                               : BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = has_on_target_error ? on_target_error
                                               : BLOCKDEV_ON_ERROR_REPORT,
        .speed = has_speed ? speed : 0,
        .granularity = has_granularity ? granularity : 0,
        .buf_size = has_buf_size ? buf_size : 0,
        .auto_finalize = has_auto_finalize ? auto_finalize : true,
        .auto_dismiss = has_auto_dismiss ? auto_dismiss : true,
    };
    BlockDriverState *bs, *target_bs;

    bs = mirror_root(device, errp);
    if (!bs) {
        return;
    }
    target_bs = bdrv_lookup_bs(target, target, errp);
    if (!target_bs || !mirror_check_args(&a, errp)) {
        return;
    }
    mirror_start(&a, bs, target_bs, errp);
}

/* drive-mirror's target: the image at @arg->target, opened (mode
 * existing) without its backing chain. */
static BlockDriverState *drive_mirror_open(DriveMirror *arg, GError **errp)
{
    g_autoptr(JsonObject) opts = json_object_new();
    JsonObject *file = json_object_new();

    if (arg->has_format) {
        json_object_set_string_member(opts, "driver", arg->format);
    }
    if (arg->has_node_name) {
        json_object_set_string_member(opts, "node-name", arg->node_name);
    }
    json_object_set_null_member(opts, "backing");
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", arg->target);
    json_object_set_object_member(opts, "file", file);
    return bdrv_open_options_probe(opts, errp);
}

void qmp_drive_mirror(DriveMirror *arg, GError **errp)
{
    MirrorArgs a = {
        .job_id = QAPI_OPT(arg->has_job_id, arg->job_id),
        .device = arg->device,
        .replaces = QAPI_OPT(arg->has_replaces, arg->replaces),
        .sync = arg->sync,
        .copy_mode = arg->has_copy_mode ? arg->copy_mode
                                        : MIRROR_COPY_MODE_BACKGROUND,
        .on_source_error = arg->has_on_source_error ? arg->on_source_error
                                                    : BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = arg->has_on_target_error ? arg->on_target_error
                                                    : BLOCKDEV_ON_ERROR_REPORT,
        .speed = arg->has_speed ? arg->speed : 0,
        .granularity = arg->has_granularity ? arg->granularity : 0,
        .buf_size = arg->has_buf_size ? arg->buf_size : 0,
        .auto_finalize = arg->has_auto_finalize ? arg->auto_finalize : true,
        .auto_dismiss = arg->has_auto_dismiss ? arg->auto_dismiss : true,
        .target_backing = arg->sync != MIRROR_SYNC_MODE_FULL,
    };
    BlockDriverState *bs, *target;
    NewImageMode mode =
        arg->has_mode ? arg->mode : NEW_IMAGE_MODE_ABSOLUTE_PATHS;

    bs = mirror_root(arg->device, errp);
    if (!bs) {
        return;
    }
    if (mode != NEW_IMAGE_MODE_EXISTING) {
        error_setg(errp, "fdsetd creates no image by path: prepare '%s' and "
                         "give 'mode': 'existing'",
                   arg->target);
        return;
    }
    if (arg->has_replaces && !arg->has_node_name) {
        error_setg(errp, "a node-name must be provided when replacing a "
                         "named node of the graph");
        return;
    }
    if (!mirror_check_args(&a, errp)) {
        return;
    }
    target = drive_mirror_open(arg, errp);
    if (!target) {
        return;
    }
    mirror_start(&a, bs, target, errp);
    bdrv_unref(target); /* the job (then the switched users) hold it */
}
