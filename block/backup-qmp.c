/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drive-backup: blockdev-backup onto an image given by path.  The path
 * (normally /dev/fdset/N) is formatted first in mode absolute-paths,
 * then opened as a new node without its backing chain, and backup.c's
 * job copies into it; the job holds the node, which goes with the job.
 * For sync=none the device becomes the node's backing (as in QEMU), so
 * the target reads as the point-in-time image while the job runs.
 */
#include "block/blockjob.h"
#include "block/create.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

/* What the device's chain calls @bs, when that is a real path. */
static const char *chain_name(BlockDriverState *bs)
{
    BlockDriverState *parent = bdrv_backing_parent(bs);
    const char *name = NULL;

    if (parent && parent->drv->bdrv_get_backing_file) {
        name = parent->drv->bdrv_get_backing_file(parent);
    }
    if (!name || !*name) {
        name = bs->file ? bs->file->filename : bs->filename;
    }
    if (!name || !*name || g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        return NULL;
    }
    return name;
}

/*
 * The backing name the new image records: sync=top the device's backing
 * file (without it the image would read wrong), sync=none the device
 * itself if it has a real name (its node is the target's backing anyway).
 */
static bool new_image_backing(const DriveBackup *arg, BlockDriverState *bs,
                              const char **name, const char **fmt,
                              GError **errp)
{
    BlockDriverState *below = NULL;

    *name = NULL;
    *fmt = NULL;
    if (arg->sync == MIRROR_SYNC_MODE_TOP) {
        below = bdrv_backing_next(bs);
        *name = bs->drv->bdrv_get_backing_file
                    ? bs->drv->bdrv_get_backing_file(bs)
                    : NULL;
        if (!*name || !(*name)[0] ||
            g_str_has_prefix(*name, FDSET_PATH_PREFIX)) {
            error_setg(errp,
                       "Cannot record '%s' as the backing file of '%s': "
                       "a /dev/fdset/ path only means something inside "
                       "this process; create the target with its backing "
                       "file name and use mode 'existing'",
                       *name ? *name : below->filename, arg->target);
            return false;
        }
    } else if (arg->sync == MIRROR_SYNC_MODE_NONE) {
        below = bs;
        *name = chain_name(bs);
    }
    if (*name) {
        *fmt = below->drv->format_name;
    }
    return true;
}

/* Open @arg->target as a node of @format (NULL: probed), no backing. */
static BlockDriverState *open_target(const DriveBackup *arg, const char *format,
                                     GError **errp)
{
    g_autoptr(JsonObject) opts = json_object_new();
    JsonObject *file = json_object_new();

    if (format) {
        json_object_set_string_member(opts, "driver", format);
    }
    if (!format || !g_str_equal(format, "raw")) {
        json_object_set_null_member(opts, "backing"); /* no path opened */
    }
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", arg->target);
    json_object_set_object_member(opts, "file", file);
    return format ? bdrv_open_options(opts, errp)
                  : bdrv_open_options_probe(opts, errp);
}

/* The target node, made (absolute-paths) and opened; the caller's ref. */
static BlockDriverState *
drive_backup_target(DriveBackup *arg, BlockDriverState *bs, GError **errp)
{
    NewImageMode mode =
        arg->has_mode ? arg->mode : NEW_IMAGE_MODE_ABSOLUTE_PATHS;
    const char *format = arg->has_format ? arg->format : NULL;
    const char *backing, *backing_fmt;
    int64_t size = bdrv_getlength(bs);

    if (size < 0) {
        error_setg(errp, "bdrv_getlength failed");
        return NULL;
    }
    if (mode != NEW_IMAGE_MODE_EXISTING) {
        format = format ? format : bs->drv->format_name;
        if (!new_image_backing(arg, bs, &backing, &backing_fmt, errp) ||
            !bdrv_format_new_image(arg->target, format, (uint64_t)size, backing,
                                   backing_fmt, errp)) {
            return NULL;
        }
    }
    return open_target(arg, format, errp);
}

/* Refused before any image is made (QEMU 7.2 would write compressed). */
static bool drive_backup_check(const DriveBackup *arg, GError **errp)
{
    if (arg->has_compress && arg->compress) {
        error_setg(errp, "Compression is not supported for this drive %s",
                   arg->target);
        return false;
    }
    if (arg->has_filter_node_name) {
        error_setg(errp, "Parameter 'filter-node-name' is not supported");
        return false;
    }
    return true;
}

BlockJob *bdrv_drive_backup_prepare(DriveBackup *arg, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(arg->device, arg->device, errp);
    BlockDriverState *target;
    BlockJob *job;

    if (!bs || !drive_backup_check(arg, errp) || bdrv_op_blocked(bs, errp)) {
        return NULL;
    }
    if (arg->has_format &&
        qapi_enum_parse(&BlockdevDriver_lookup, arg->format, -1) < 0) {
        error_setg(errp, "Unknown driver '%s'", arg->format);
        return NULL;
    }
    if (arg->sync == MIRROR_SYNC_MODE_TOP && !bs->backing) {
        arg->sync = MIRROR_SYNC_MODE_FULL; /* as QEMU does */
    }
    target = drive_backup_target(arg, bs, errp);
    if (!target) {
        return NULL;
    }
    BlockdevBackup a = {
        .has_job_id = arg->has_job_id,
        .job_id = arg->job_id,
        .device = arg->device,
        .target = (char *)target->node_name, /* found again by its name */
        .sync = arg->sync,
        .has_speed = arg->has_speed,
        .speed = arg->speed,
        .has_bitmap = arg->has_bitmap,
        .bitmap = arg->bitmap,
        .has_bitmap_mode = arg->has_bitmap_mode,
        .bitmap_mode = arg->bitmap_mode,
        .has_on_source_error = arg->has_on_source_error,
        .on_source_error = arg->on_source_error,
        .has_on_target_error = arg->has_on_target_error,
        .on_target_error = arg->on_target_error,
        .has_auto_finalize = arg->has_auto_finalize,
        .auto_finalize = arg->auto_finalize,
        .has_auto_dismiss = arg->has_auto_dismiss,
        .auto_dismiss = arg->auto_dismiss,
    };
    job = bdrv_backup_prepare(&a, errp);
    /* after the job's checks: the device is not busy as the backing */
    if (job && arg->sync == MIRROR_SYNC_MODE_NONE &&
        !bdrv_set_backing(target, bs, BDRV_BACKING_EXPLICIT, errp)) {
        bdrv_backup_abort_prepared(job);
        job = NULL;
    }
    bdrv_unref(target); /* the job holds it from here, or it is gone */
    return job;
}

void qmp_drive_backup(DriveBackup *arg, GError **errp)
{
    BlockJob *job = bdrv_drive_backup_prepare(arg, errp);

    if (job) {
        block_job_start(job);
    }
}

/* ---- the transaction action: the job starts at commit ---- */

typedef struct DriveBackupState {
    BlkActionState common;
    BlockJob *job;
} DriveBackupState;

static bool drive_backup_action_prepare(BlkActionState *common, GError **errp)
{
    DriveBackupState *s = (DriveBackupState *)common;

    s->job =
        bdrv_drive_backup_prepare(common->action->u.drive_backup.data, errp);
    return s->job != NULL;
}

static void drive_backup_action_commit(BlkActionState *common)
{
    block_job_start(((DriveBackupState *)common)->job);
}

static void drive_backup_action_abort(BlkActionState *common)
{
    /* the image made stays, as QEMU leaves it */
    bdrv_backup_abort_prepared(((DriveBackupState *)common)->job);
}

const BlkActionOps bdrv_action_drive_backup = {
    .instance_size = sizeof(DriveBackupState),
    .prepare = drive_backup_action_prepare,
    .commit = drive_backup_action_commit,
    .abort = drive_backup_action_abort,
};
