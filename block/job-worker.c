/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a job's worker thread calls: cancellation and completion checks,
 * progress, the rate limit, pause points, READY, and the on-error
 * policies.  Everything here runs under job->lock; what the main loop must
 * see (a state change, an error event, the end) is posted as a note.
 */
#include <errno.h>
#include <string.h>

#include "block/blockjob.h"
#include "block/job-internal.h"

bool block_job_is_cancelled(BlockJob *job)
{
    bool ret;

    g_mutex_lock(&job->lock);
    ret = job->cancelled;
    g_mutex_unlock(&job->lock);
    return ret;
}

bool block_job_should_complete(BlockJob *job)
{
    bool ret;

    g_mutex_lock(&job->lock);
    ret = job->complete_requested;
    g_mutex_unlock(&job->lock);
    return ret;
}

void block_job_progress_set_total(BlockJob *job, int64_t total)
{
    g_mutex_lock(&job->lock);
    job->progress_total = total;
    g_mutex_unlock(&job->lock);
}

void block_job_progress_add_total(BlockJob *job, int64_t delta)
{
    g_mutex_lock(&job->lock);
    job->progress_total += delta;
    g_mutex_unlock(&job->lock);
}

void block_job_progress_update(BlockJob *job, int64_t done)
{
    g_mutex_lock(&job->lock);
    job->progress_current += done;
    g_mutex_unlock(&job->lock);
}

void block_job_ratelimit(BlockJob *job, int64_t bytes)
{
    g_mutex_lock(&job->lock);
    if (job->rl_start == 0) {
        job->rl_start = g_get_monotonic_time();
    }
    job->rl_bytes += bytes;
    job->busy = false;
    while (!job->cancelled && job->speed > 0 && job->pause_count == 0) {
        gint64 end =
            job->rl_start + job->rl_bytes * G_USEC_PER_SEC / job->speed;

        if (g_get_monotonic_time() >= end ||
            !g_cond_wait_until(&job->cond, &job->lock, end)) {
            break;
        }
    }
    job->busy = true;
    g_mutex_unlock(&job->lock);
}

static JobStatus worker_status(BlockJob *job, bool parked)
{
    if (job->worker_ready) {
        return parked ? JOB_STATUS_STANDBY : JOB_STATUS_READY;
    }
    return parked ? JOB_STATUS_PAUSED : JOB_STATUS_RUNNING;
}

void block_job_pause_point(BlockJob *job)
{
    g_mutex_lock(&job->lock);
    while (job->pause_count > 0 && !job->cancelled) {
        if (!job->parked) {
            job->parked = true;
            job->busy = false;
            block_job_post_note_locked(job, (JobNote) {
                .kind = JOB_NOTE_STATUS, .status = worker_status(job, true) });
        }
        g_cond_wait(&job->cond, &job->lock);
    }
    if (job->parked) {
        job->parked = false;
        job->busy = true;
        block_job_post_note_locked(job, (JobNote) {
            .kind = JOB_NOTE_STATUS, .status = worker_status(job, false) });
    }
    g_mutex_unlock(&job->lock);
}

bool block_job_pause_requested(BlockJob *job)
{
    bool ret;

    g_mutex_lock(&job->lock);
    ret = job->pause_count > 0 && !job->cancelled;
    g_mutex_unlock(&job->lock);
    return ret;
}

void block_job_worker_ready(BlockJob *job)
{
    g_mutex_lock(&job->lock);
    if (!job->worker_ready) {
        job->worker_ready = true;
        block_job_post_note_locked(job, (JobNote) { .kind = JOB_NOTE_READY });
    }
    g_mutex_unlock(&job->lock);
}

void block_job_wait(BlockJob *job, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;

    g_mutex_lock(&job->lock);
    job->busy = false;
    if (!job->cancelled && !job->complete_requested && job->pause_count == 0) {
        g_cond_wait_until(&job->cond, &job->lock, end);
    }
    job->busy = true;
    g_mutex_unlock(&job->lock);
}

void block_job_kick(BlockJob *job)
{
    g_mutex_lock(&job->lock);
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
}

int block_job_error_errno(const GError *err)
{
    static const int known[] = { ENOSPC, EDQUOT, EFBIG, EIO, EPERM, EACCES,
                                 EROFS, EINVAL, ENOMEM };

    if (!err) {
        return EIO;
    }
    for (guint i = 0; i < G_N_ELEMENTS(known); i++) {
        if (g_str_has_suffix(err->message, g_strerror(known[i]))) {
            return known[i];
        }
    }
    return EIO;
}

static BlockErrorAction policy_action(BlockdevOnError on_err, int error)
{
    switch (on_err) {
    case BLOCKDEV_ON_ERROR_ENOSPC:
    case BLOCKDEV_ON_ERROR_AUTO:
        return error == ENOSPC ? BLOCK_ERROR_ACTION_STOP
                               : BLOCK_ERROR_ACTION_REPORT;
    case BLOCKDEV_ON_ERROR_STOP:
        return BLOCK_ERROR_ACTION_STOP;
    case BLOCKDEV_ON_ERROR_IGNORE:
        return BLOCK_ERROR_ACTION_IGNORE;
    case BLOCKDEV_ON_ERROR_REPORT:
    default:
        return BLOCK_ERROR_ACTION_REPORT;
    }
}

BlockErrorAction block_job_error_action(BlockJob *job, BlockdevOnError on_err,
                                        bool is_read, const GError *err)
{
    int error = block_job_error_errno(err);
    BlockErrorAction action = policy_action(on_err, error);

    g_mutex_lock(&job->lock);
    if (!job->cancelled) {
        block_job_post_note_locked(job, (JobNote) {
            .kind = JOB_NOTE_ERROR,
            .op = is_read ? IO_OPERATION_TYPE_READ : IO_OPERATION_TYPE_WRITE,
            .action = action });
    }
    if (action == BLOCK_ERROR_ACTION_STOP) {
        if (!job->user_paused) {
            job->pause_count++;
            job->user_paused = true; /* job-resume ends it */
        }
        if (job->iostatus == BLOCK_DEVICE_IO_STATUS_OK) {
            job->iostatus = error == ENOSPC ? BLOCK_DEVICE_IO_STATUS_NOSPACE
                                            : BLOCK_DEVICE_IO_STATUS_FAILED;
        }
    }
    g_mutex_unlock(&job->lock);
    return action;
}

gpointer block_job_thread(gpointer opaque)
{
    BlockJob *job = opaque;
    GError *err = NULL;
    int ret = job->driver->run(job, &err);

    g_mutex_lock(&job->lock);
    job->run_ret = ret;
    job->run_error = err;
    job->busy = false;
    block_job_post_note_locked(job, (JobNote) { .kind = JOB_NOTE_DONE });
    g_mutex_unlock(&job->lock);
    return NULL;
}
