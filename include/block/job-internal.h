/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Job internals shared by job.c (the state machine) and job-qmp.c (the QMP
 * commands).  Main loop only.
 */
#ifndef BLOCK_JOB_INTERNAL_H
#define BLOCK_JOB_INTERNAL_H

#include "block/blockjob.h"

typedef enum JobVerb {
    JOB_VERB_CANCEL,
    JOB_VERB_PAUSE,
    JOB_VERB_RESUME,
    JOB_VERB_SET_SPEED,
    JOB_VERB_COMPLETE,
    JOB_VERB_FINALIZE,
    JOB_VERB_DISMISS,
    JOB_VERB__MAX
} JobVerb;

const char *block_job_status_name(JobStatus status);
/* Every job not yet dismissed, oldest first (borrowed). */
GList *block_job_list(void);
/* "Job 'x' in state 'y' cannot accept command verb 'z'". */
bool block_job_apply_verb(BlockJob *job, JobVerb verb, GError **errp);
/* A consistent snapshot of what the worker updates. */
void block_job_progress(BlockJob *job, int64_t *current, int64_t *total,
                        int64_t *speed, bool *busy);
void block_job_set_speed(BlockJob *job, int64_t speed);
/* Ask the worker to stop (it notices at its next chunk or sleep). */
void block_job_request_cancel(BlockJob *job, bool force);
/* waiting -> pending, then finalize unless auto-finalize is off. */
void block_job_to_pending(BlockJob *job);
/* pending: prepare (or abort), clean, BLOCK_JOB_COMPLETED, conclude. */
void block_job_finalize(BlockJob *job);
/* concluded -> null; the job is freed. */
void block_job_dismiss(BlockJob *job);

#endif
