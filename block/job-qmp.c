/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands for jobs: block-job-cancel, block-job-complete,
 * block-job-set-speed, job-cancel, job-complete, job-finalize, job-dismiss,
 * query-block-jobs, query-jobs.
 */
#include "block/job-internal.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"

static BlockJob *find_block_job(const char *id, GError **errp)
{
    BlockJob *job = id ? block_job_find(id) : NULL;

    if (!job || job->driver->no_block_job_events) {
        error_set(errp, QMP_ERROR_CLASS_DEVICE_NOT_ACTIVE,
                  "Block job '%s' not found", id ? id : "");
    }
    return job;
}

static BlockJob *find_job(const char *id, GError **errp)
{
    BlockJob *job = id ? block_job_find(id) : NULL;

    if (!job) {
        error_setg(errp, "Job not found");
    }
    return job;
}

/* Transitions a command asks for run from the main loop right after the
 * reply, once per job at a time. */
typedef void (*JobAction)(BlockJob *job);

typedef struct Deferred {
    BlockJob *job;
    JobAction action;
} Deferred;

static gboolean run_deferred(gpointer opaque)
{
    Deferred *d = opaque;

    d->job->deferred_source = 0;
    d->action(d->job);
    return G_SOURCE_REMOVE;
}

static void defer(BlockJob *job, JobAction action)
{
    Deferred *d;

    if (job->deferred_source) {
        return; /* already on its way out of this state */
    }
    d = g_new0(Deferred, 1);
    d->job = job;
    d->action = action;
    job->deferred_source =
        g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, run_deferred, d, g_free);
}

static void job_cancel(BlockJob *job, bool force)
{
    if (job->status == JOB_STATUS_READY && !force &&
        job->driver->needs_complete) {
        /* cancelling a ready job that mirrors: finish without switching */
        job->cancelled = true;
        job->soft_cancelled = true;
        defer(job, block_job_to_pending);
        return;
    }
    block_job_request_cancel(job, force);
    if (!job->thread) {
        defer(job, block_job_finalize); /* aborts: it is cancelled */
    }
}

void qmp_block_job_cancel(const char *device, bool has_force, bool force,
                          GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    job_cancel(job, has_force && force);
}

void qmp_job_cancel(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    job_cancel(job, true);
}

static void job_complete(BlockJob *job, GError **errp)
{
    if (!block_job_apply_verb(job, JOB_VERB_COMPLETE, errp)) {
        return;
    }
    if (!job->driver->needs_complete) {
        error_setg(errp, "The active block job '%s' cannot be completed",
                   job->id);
        return;
    }
    job->should_complete = true;
    defer(job, block_job_to_pending);
}

void qmp_block_job_complete(const char *device, GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        job_complete(job, errp);
    }
}

void qmp_job_complete(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (job) {
        job_complete(job, errp);
    }
}

void qmp_block_job_set_speed(const char *device, int64_t speed, GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_SET_SPEED, errp)) {
        return;
    }
    if (speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        return;
    }
    block_job_set_speed(job, speed);
}

void qmp_job_finalize(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (job && block_job_apply_verb(job, JOB_VERB_FINALIZE, errp)) {
        defer(job, block_job_finalize);
    }
}

void qmp_job_dismiss(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (job && block_job_apply_verb(job, JOB_VERB_DISMISS, errp)) {
        block_job_dismiss(job);
    }
}

static BlockJobInfo *block_job_info(BlockJob *job)
{
    BlockJobInfo *info = g_new0(BlockJobInfo, 1);
    int64_t current, total, speed;
    bool busy;

    block_job_progress(job, &current, &total, &speed, &busy);
    info->type = job->driver->type;
    info->device = g_strdup(job->id);
    info->len = total;
    info->offset = current;
    info->busy = busy && job->status == JOB_STATUS_RUNNING;
    info->paused = false;
    info->speed = speed;
    info->io_status = BLOCK_DEVICE_IO_STATUS_OK;
    info->ready = job->status == JOB_STATUS_READY;
    info->status = job->status;
    info->auto_finalize = job->auto_finalize;
    info->auto_dismiss = job->auto_dismiss;
    info->has_error = job->error != NULL;
    info->error = g_strdup(job->error);
    return info;
}

BlockJobInfoList *qmp_query_block_jobs(GError **errp)
{
    BlockJobInfoList *head = NULL, **tail = &head;

    for (GList *l = block_job_list(); l; l = l->next) {
        BlockJobInfoList *elt;

        if (((BlockJob *)l->data)->driver->no_block_job_events) {
            continue; /* not a block job (create) */
        }
        elt = g_new0(BlockJobInfoList, 1);

        elt->value = block_job_info(l->data);
        *tail = elt;
        tail = &elt->next;
    }
    return head;
}

static JobInfo *job_info(BlockJob *job)
{
    JobInfo *info = g_new0(JobInfo, 1);
    int64_t current, total, speed;
    bool busy;

    block_job_progress(job, &current, &total, &speed, &busy);
    info->id = g_strdup(job->id);
    info->type = job->driver->type;
    info->status = job->status;
    info->current_progress = current;
    info->total_progress = total;
    info->has_error = job->error != NULL;
    info->error = g_strdup(job->error);
    return info;
}

JobInfoList *qmp_query_jobs(GError **errp)
{
    JobInfoList *head = NULL, **tail = &head;

    for (GList *l = block_job_list(); l; l = l->next) {
        JobInfoList *elt = g_new0(JobInfoList, 1);

        elt->value = job_info(l->data);
        *tail = elt;
        tail = &elt->next;
    }
    return head;
}
