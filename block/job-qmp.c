/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands for jobs: block-job-cancel, -complete, -set-speed, -pause,
 * -resume, -finalize, -dismiss; job-cancel, -complete, -pause, -resume,
 * -finalize, -dismiss; query-block-jobs, query-jobs.
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

void qmp_block_job_cancel(const char *device, bool has_force, bool force,
                          GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    block_job_cancel(job, has_force && force);
}

void qmp_job_cancel(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return;
    }
    block_job_cancel(job, true);
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
    block_job_complete(job);
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
        block_job_finalize(job); /* its events come before the reply */
    }
}

void qmp_block_job_finalize(const char *id, GError **errp)
{
    BlockJob *job = find_block_job(id, errp);

    if (job && block_job_apply_verb(job, JOB_VERB_FINALIZE, errp)) {
        block_job_finalize(job);
    }
}

void qmp_block_job_dismiss(const char *id, GError **errp)
{
    BlockJob *job = find_block_job(id, errp);

    if (job && block_job_apply_verb(job, JOB_VERB_DISMISS, errp)) {
        block_job_dismiss(job);
    }
}

void qmp_job_pause(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (job) {
        block_job_user_pause(job, errp);
    }
}

void qmp_job_resume(const char *id, GError **errp)
{
    BlockJob *job = find_job(id, errp);

    if (job) {
        block_job_user_resume(job, errp);
    }
}

void qmp_block_job_pause(const char *device, GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        block_job_user_pause(job, errp);
    }
}

void qmp_block_job_resume(const char *device, GError **errp)
{
    BlockJob *job = find_block_job(device, errp);

    if (job) {
        block_job_user_resume(job, errp);
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
    info->busy = busy && (job->status == JOB_STATUS_RUNNING ||
                          job->status == JOB_STATUS_READY);
    info->paused = block_job_is_paused(job);
    info->speed = speed;
    g_mutex_lock(&job->lock);
    info->io_status = job->iostatus;
    g_mutex_unlock(&job->lock);
    info->ready = job->status == JOB_STATUS_READY ||
                  job->status == JOB_STATUS_STANDBY;
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
