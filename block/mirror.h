/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between the mirror job (mirror.c) and its QMP commands (mirror-qmp.c).
 */
#ifndef BLOCK_MIRROR_H
#define BLOCK_MIRROR_H

#include "block/blockjob.h"

typedef struct MirrorArgs {
    const char *job_id, *device, *replaces, *filter_node_name;
    MirrorSyncMode sync;
    MirrorCopyMode copy_mode;
    BlockdevOnError on_source_error, on_target_error;
    int64_t speed, granularity, buf_size;
    bool auto_finalize, auto_dismiss;
    bool target_backing; /* drive-mirror top/none */
} MirrorArgs;

/*
 * Create and start the job copying @bs to @target (both checked by the
 * caller; @to_replace is the node whose users move at completion).
 * @a->granularity and @a->buf_size are the final values (not 0).  The job
 * takes its own references.  Errors through errp.
 */
void mirror_job_start(const MirrorArgs *a, const char *job_id,
                      BlockDriverState *bs, BlockDriverState *target,
                      BlockDriverState *to_replace, GError **errp);

#endif
