/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Between the commit job (block/commit.c) and block-commit's checks
 * (block/commit-qmp.c).
 */
#ifndef BLOCK_COMMIT_H
#define BLOCK_COMMIT_H

#include "block/blockjob.h"

typedef struct CommitArgs {
    const char *job_id, *device, *base_node, *base, *top_node, *top;
    const char *backing_file, *filter_node_name;
    int64_t speed;
    BlockdevOnError on_error;
    bool auto_finalize, auto_dismiss;
} CommitArgs;

/*
 * Create and start the job committing @top into @base on the device
 * @root (all checked by the caller; @top == @root is an active commit).
 * Takes ownership of @backing_name (the name the overlay's header will
 * record for base; NULL for active commit), also on failure.  The job
 * takes its own references.  Errors through errp.
 */
bool commit_job_start(const CommitArgs *a, const char *job_id,
                      BlockDriverState *root, BlockDriverState *top,
                      BlockDriverState *base, char *backing_name,
                      GError **errp);

#endif
