/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP handlers (thin): block_resize, change-backing-file,
 * block-set-write-threshold.  The work is in block/lifecycle.c.
 */
#include "block/create.h"
#include "block/lifecycle.h"
#include "block/transaction.h"
#include "qapi/qapi-commands.h"

void qmp_block_resize(bool has_device, const char *device, bool has_node_name,
                      const char *node_name, int64_t size, GError **errp)
{
    bdrv_block_resize(has_device ? device : NULL,
                      has_node_name ? node_name : NULL, size, errp);
}

void qmp_change_backing_file(const char *device, const char *image_node_name,
                             const char *backing_file, GError **errp)
{
    bdrv_qmp_change_backing_file(device, image_node_name, backing_file, errp);
}

void qmp_block_set_write_threshold(const char *node_name,
                                   uint64_t write_threshold, GError **errp)
{
    bdrv_set_write_threshold_by_name(node_name, write_threshold, errp);
}

void qmp_blockdev_create(const char *job_id, BlockdevCreateOptions *options,
                         GError **errp)
{
    bdrv_create_job_start(job_id, options, errp);
}

void qmp_blockdev_snapshot(const char *node, const char *overlay,
                           GError **errp)
{
    BlockdevSnapshot args = {.node = (char *)node, .overlay = (char *)overlay};

    bdrv_blockdev_snapshot(&args, errp);
}

void qmp_blockdev_snapshot_sync(bool has_device, const char *device,
                                bool has_node_name, const char *node_name,
                                const char *snapshot_file,
                                bool has_snapshot_node_name,
                                const char *snapshot_node_name,
                                bool has_format, const char *format,
                                bool has_mode, NewImageMode mode,
                                GError **errp)
{
    BlockdevSnapshotSync args = {
        .has_device = has_device, .device = (char *)device,
        .has_node_name = has_node_name, .node_name = (char *)node_name,
        .snapshot_file = (char *)snapshot_file,
        .has_snapshot_node_name = has_snapshot_node_name,
        .snapshot_node_name = (char *)snapshot_node_name,
        .has_format = has_format, .format = (char *)format,
        .has_mode = has_mode, .mode = mode,
    };

    bdrv_blockdev_snapshot_sync(&args, errp);
}

void qmp_transaction(TransactionActionList *actions, bool has_properties,
                     TransactionProperties *properties, GError **errp)
{
    ActionCompletionMode mode = ACTION_COMPLETION_MODE_INDIVIDUAL;

    if (has_properties && properties->has_completion_mode) {
        mode = properties->completion_mode;
    }
    bdrv_transaction(actions, mode, errp);
}
