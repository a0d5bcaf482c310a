/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP handlers (thin): block_resize, change-backing-file,
 * block-set-write-threshold.  The work is in block/lifecycle.c.
 */
#include "block/lifecycle.h"
#include "qapi/qmp.h"

JsonNode *qmp_block_resize(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_change_backing_file(JsonObject *args, QmpContext *ctx,
                                  GError **errp);
JsonNode *qmp_block_set_write_threshold(JsonObject *args, QmpContext *ctx,
                                        GError **errp);

JsonNode *qmp_block_resize(JsonObject *args, QmpContext *ctx, GError **errp)
{
    int64_t size = 0;

    qmp_arg_int(args, "size", &size);
    bdrv_block_resize(qmp_arg_str(args, "device"),
                      qmp_arg_str(args, "node-name"), size, errp);
    return NULL;
}

JsonNode *qmp_change_backing_file(JsonObject *args, QmpContext *ctx,
                                  GError **errp)
{
    bdrv_qmp_change_backing_file(qmp_arg_str(args, "device"),
                                 qmp_arg_str(args, "image-node-name"),
                                 qmp_arg_str(args, "backing-file"), errp);
    return NULL;
}

JsonNode *qmp_block_set_write_threshold(JsonObject *args, QmpContext *ctx,
                                        GError **errp)
{
    int64_t threshold = 0;

    qmp_arg_int(args, "write-threshold", &threshold);
    bdrv_set_write_threshold_by_name(qmp_arg_str(args, "node-name"),
                                     threshold, errp);
    return NULL;
}
