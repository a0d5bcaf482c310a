/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Background block jobs, with QEMU's job state machine and events.
 *
 * A job's run() callback does the copying in a worker thread; everything
 * else (creation, graph changes, reopen, events, freeing) happens on the
 * main loop.  The worker reaches the main loop through g_idle_add() on the
 * default main context.
 *
 * created -> running -> [ready ->] waiting -> pending -> concluded -> null
 *                    \-> aborting -> concluded -> null (failure, cancel)
 * running <-> paused and ready <-> standby on job-pause / job-resume (or an
 * on-error "stop"), at the worker's pause points.
 *
 * The worker never changes job->status nor sends events itself: it posts
 * notes (a state it entered, an error it met, its end) that the main loop
 * applies in the order they were posted, so the events come out in the
 * order the worker saw them.
 */
#ifndef BLOCK_BLOCKJOB_H
#define BLOCK_BLOCKJOB_H

#include "block/block_int.h"
#include "qapi/qapi-types.h"
#include "block/perm.h"

/* JobStatus (JOB_STATUS_*) and JobType come from the schema (job.json). */

typedef struct BlockJob BlockJob;

typedef struct BlockJobDriver {
    JobType type;         /* JOB_TYPE_COMMIT */
    size_t instance_size; /* of the driver's struct, BlockJob first */
    /* Worker thread: do the work, polling block_job_is_cancelled().
     * 0, or -1 with errp set. */
    int (*run)(BlockJob *job, GError **errp);
    /* After run() succeeds, go READY and wait for block-job-complete
     * (or run() itself calls block_job_worker_ready() and keeps going
     * until block_job_should_complete()). */
    bool needs_complete;
    /* Main loop, on success: make the result visible.  May fail. */
    int (*prepare)(BlockJob *job, GError **errp);
    /* Main loop, on failure or cancel (after prepare failed, too). */
    void (*abort)(BlockJob *job);
    /* Main loop, always, last: undo what creation set up (reopen back). */
    void (*clean)(BlockJob *job);
    /* Not a block job (create): no BLOCK_JOB_* events, not among the
     * block jobs of query-block-jobs and block-job-*, only job-*. */
    bool no_block_job_events;
} BlockJobDriver;

struct BlockJob {
    const BlockJobDriver *driver;
    char *id;
    JobStatus status;
    bool auto_finalize;
    bool auto_dismiss;
    /* Main loop only. */
    bool should_complete; /* block-job-complete was accepted */
    bool soft_cancelled;  /* cancel of a READY job without force */
    bool started;
    char *error;          /* why it failed, or NULL */
    GPtrArray *nodes;     /* BlockDriverState*, referenced, blocked */
    GPtrArray *blk_nodes; /* subset counted as blk_users */
    GPtrArray *children;  /* BdrvChild*: the job's permissions */
    GThread *thread;
    guint deferred_source; /* a command's transition, to follow */
    /* Shared with the worker, under lock. */
    GMutex lock;
    GCond cond;
    bool cancelled;
    bool force;
    bool busy;
    int64_t speed;
    int64_t progress_current;
    int64_t progress_total;
    gint64 rl_start;  /* rate limit: window start (monotonic us) */
    int64_t rl_bytes; /* bytes copied since rl_start */
    int run_ret;
    GError *run_error;
    int pause_count;   /* > 0: the worker parks at its next pause point */
    bool user_paused;  /* job-pause, or on-error "stop" */
    bool parked;       /* the worker waits in a pause point */
    bool worker_ready; /* the worker went READY (mirror) */
    bool complete_requested; /* job-complete, seen by the worker */
    BlockDeviceIoStatus iostatus;
    GQueue notes;      /* JobNote*, worker -> main loop */
    guint notes_source;
};

/*
 * A new job in state "created" (JOB_STATUS_CHANGE is emitted).  Errors:
 * "Invalid job ID 'x'", "Job ID 'x' already in use" (nothing emitted), and
 * "Parameter 'speed' expects a non-negative value" (after "created", and
 * the job goes to "null" again).
 */
BlockJob *block_job_create(const char *id, const BlockJobDriver *driver,
                           int64_t speed, bool auto_finalize, bool auto_dismiss,
                           GError **errp);
/*
 * The job references and blocks @bs, and uses it as child @name
 * ("intermediate node", "main node", "source", ...) with @perm and
 * @shared (perm.h), described as "TYPE job 'ID'" in conflicts; @as_root
 * makes blockdev-del say "in use" (QEMU's job BlockBackends).  False with
 * errp on a conflict (nothing added).  Everything is released when the
 * job ends.
 */
bool block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                        uint64_t perm, uint64_t shared, bool as_root,
                        GError **errp);
/* Let go of @bs before the job ends (a job's filter it takes out): its
 * children on @bs, the reference, the in-use and busy marks. */
void block_job_remove_bdrv(BlockJob *job, BlockDriverState *bs);
/* The same taking nothing and sharing everything ("main node"). */
void block_job_add_node(BlockJob *job, BlockDriverState *bs, bool as_root);
/*
 * A BlockBackend the job writes through (commit's base, mirror's target):
 * child "root" of "an unnamed block device", as QEMU names it.  Released
 * with the job (or earlier by block_job_drop_perms).  NULL with errp on a
 * conflict.
 */
BdrvChild *block_job_add_user(BlockJob *job, BlockDriverState *bs,
                              uint64_t perm, uint64_t shared, GError **errp);
/* Give up every permission the job holds (at its end, before reopening
 * its nodes read-only again). */
void block_job_drop_perms(BlockJob *job);
/* Setting up failed after create: emit "null", release, free. */
void block_job_early_fail(BlockJob *job);
/* Go "running" and start the worker. */
void block_job_start(BlockJob *job);

/* For the worker. */
bool block_job_is_cancelled(BlockJob *job);
/* Park here while the job is paused (status paused, or standby once
 * ready); returns at once when it is not, or is cancelled. */
void block_job_pause_point(BlockJob *job);
/* A pause is asked for: the worker should let its requests in flight end
 * and come to its pause point. */
bool block_job_pause_requested(BlockJob *job);
/* The worker copied everything and now keeps the copy in sync: READY
 * (BLOCK_JOB_READY) until job-complete or a cancel. */
void block_job_worker_ready(BlockJob *job);
/* job-complete was accepted (for a worker that went ready). */
bool block_job_should_complete(BlockJob *job);
/* Wait until the job is cancelled, completed or paused, something
 * calls block_job_kick(), or @timeout_us passes. */
void block_job_wait(BlockJob *job, gint64 timeout_us);
/* Wake a worker sleeping in block_job_wait (any thread). */
void block_job_kick(BlockJob *job);
void block_job_progress_add_total(BlockJob *job, int64_t delta);
/*
 * An I/O error met by the worker, under policy @on_err (QEMU's rules:
 * enospc and auto stop on ENOSPC and report otherwise).  Sends
 * BLOCK_JOB_ERROR unless the job is cancelled; "stop" pauses the job as
 * job-pause would and sets its io-status (failed or nospace), so the
 * worker parks at its next pause point until job-resume.  The caller then
 * retries (stop), goes on (ignore) or fails (report).
 */
BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        bool is_read, const GError *err);
/* The errno behind an I/O GError: its strerror suffix (ENOSPC, EIO...),
 * EIO when none is recognised. */
int block_job_error_errno(const GError *err);
void block_job_progress_set_total(BlockJob *job, int64_t total);
void block_job_progress_update(BlockJob *job, int64_t done);
/* Account @bytes copied and sleep as long as the speed limit asks; returns
 * early when the job is cancelled or its speed changes. */
void block_job_ratelimit(BlockJob *job, int64_t bytes);

/* "commit" */
const char *block_job_type(BlockJob *job);
BlockJob *block_job_find(const char *id);

/* Exit: cancel every job, wait for the workers, release everything. */
void block_job_cancel_all_sync(void);

#endif
