/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP handlers (thin): block_resize, change-backing-file,
 * block-set-write-threshold.  The work is in block/lifecycle.c.
 */
#include "block/create.h"
#include "block/lifecycle.h"
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
