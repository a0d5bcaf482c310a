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

/* What the worker tells the main loop (job-worker.c -> job.c). */
typedef enum JobNoteKind {
    JOB_NOTE_STATUS, /* it entered @status (paused, standby, back) */
    JOB_NOTE_READY,  /* block_job_worker_ready() */
    JOB_NOTE_ERROR,  /* BLOCK_JOB_ERROR {@op, @action} */
    JOB_NOTE_DONE,   /* run() returned: the last note */
} JobNoteKind;

typedef struct JobNote {
    JobNoteKind kind;
    JobStatus status;
    IoOperationType op;
    BlockErrorAction action;
} JobNote;

/* Queue @note for the main loop; called with job->lock held. */
void block_job_post_note_locked(BlockJob *job, JobNote note);
/* The worker thread's body (job-worker.c). */
gpointer block_job_thread(gpointer opaque);

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
/* job-cancel / block-job-cancel once the verb is accepted: a user pause
 * ends, a ready mirror-like job without @force finishes unswitched. */
void block_job_cancel(BlockJob *job, bool force);
/* job-pause / job-resume after the verb check: "Job is already paused",
 * "Can't resume a job that was not paused". */
bool block_job_user_pause(BlockJob *job, GError **errp);
bool block_job_user_resume(BlockJob *job, GError **errp);
/* job-complete accepted: a ready worker finishes, or a thread-less ready
 * job goes to pending on the next main loop turn. */
void block_job_complete(BlockJob *job);
bool block_job_is_paused(BlockJob *job);
/* waiting -> pending, then finalize unless auto-finalize is off. */
void block_job_to_pending(BlockJob *job);
/* pending: prepare (or abort), clean, BLOCK_JOB_COMPLETED, conclude. */
void block_job_finalize(BlockJob *job);
/* concluded -> null; the job is freed. */
void block_job_dismiss(BlockJob *job);

#endif
