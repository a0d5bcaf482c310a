/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands for jobs: block-job-cancel, block-job-complete,
 * block-job-set-speed, job-cancel, job-complete, job-finalize, job-dismiss,
 * query-block-jobs, query-jobs.
 */
#include "block/job-internal.h"
#include "qapi/qmp.h"
#include "qemu/error.h"

JsonNode *qmp_block_job_cancel(JsonObject *args, QmpContext *ctx,
                               GError **errp);
JsonNode *qmp_block_job_complete(JsonObject *args, QmpContext *ctx,
                                 GError **errp);
JsonNode *qmp_block_job_set_speed(JsonObject *args, QmpContext *ctx,
                                  GError **errp);
JsonNode *qmp_job_cancel(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_job_complete(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_job_finalize(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_job_dismiss(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_query_block_jobs(JsonObject *args, QmpContext *ctx,
                               GError **errp);
JsonNode *qmp_query_jobs(JsonObject *args, QmpContext *ctx, GError **errp);

static BlockJob *find_block_job(const char *id, GError **errp)
{
    BlockJob *job = id ? block_job_find(id) : NULL;

    if (!job) {
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

JsonNode *qmp_block_job_cancel(JsonObject *args, QmpContext *ctx, GError **errp)
{
    BlockJob *job = find_block_job(qmp_arg_str(args, "device"), errp);
    bool force = false;

    if (!job) {
        return NULL;
    }
    qmp_arg_bool(args, "force", &force);
    if (!block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return NULL;
    }
    job_cancel(job, force);
    return NULL;
}

JsonNode *qmp_job_cancel(JsonObject *args, QmpContext *ctx, GError **errp)
{
    BlockJob *job = find_job(qmp_arg_str(args, "id"), errp);

    if (!job || !block_job_apply_verb(job, JOB_VERB_CANCEL, errp)) {
        return NULL;
    }
    job_cancel(job, true);
    return NULL;
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

JsonNode *qmp_block_job_complete(JsonObject *args, QmpContext *ctx,
                                 GError **errp)
{
    BlockJob *job = find_block_job(qmp_arg_str(args, "device"), errp);

    if (job) {
        job_complete(job, errp);
    }
    return NULL;
}

JsonNode *qmp_job_complete(JsonObject *args, QmpContext *ctx, GError **errp)
{
    BlockJob *job = find_job(qmp_arg_str(args, "id"), errp);

    if (job) {
        job_complete(job, errp);
    }
    return NULL;
}

JsonNode *qmp_block_job_set_speed(JsonObject *args, QmpContext *ctx,
                                  GError **errp)
{
    BlockJob *job = find_block_job(qmp_arg_str(args, "device"), errp);
    int64_t speed = 0;

    if (!job || !block_job_apply_verb(job, JOB_VERB_SET_SPEED, errp)) {
        return NULL;
    }
    qmp_arg_int(args, "speed", &speed);
    if (speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        return NULL;
    }
    block_job_set_speed(job, speed);
    return NULL;
}

JsonNode *qmp_job_finalize(JsonObject *args, QmpContext *ctx, GError **errp)
{
    BlockJob *job = find_job(qmp_arg_str(args, "id"), errp);

    if (job && block_job_apply_verb(job, JOB_VERB_FINALIZE, errp)) {
        defer(job, block_job_finalize);
    }
    return NULL;
}

JsonNode *qmp_job_dismiss(JsonObject *args, QmpContext *ctx, GError **errp)
{
    BlockJob *job = find_job(qmp_arg_str(args, "id"), errp);

    if (job && block_job_apply_verb(job, JOB_VERB_DISMISS, errp)) {
        block_job_dismiss(job);
    }
    return NULL;
}

static JsonObject *block_job_info(BlockJob *job)
{
    JsonObject *o = json_object_new();
    int64_t current, total, speed;
    bool busy;

    block_job_progress(job, &current, &total, &speed, &busy);
    json_object_set_string_member(o, "type", job->driver->type);
    json_object_set_string_member(o, "device", job->id);
    json_object_set_int_member(o, "len", total);
    json_object_set_int_member(o, "offset", current);
    json_object_set_boolean_member(o, "busy",
                                   busy && job->status == JOB_STATUS_RUNNING);
    json_object_set_boolean_member(o, "paused", false);
    json_object_set_int_member(o, "speed", speed);
    json_object_set_string_member(o, "io-status", "ok");
    json_object_set_boolean_member(o, "ready", job->status == JOB_STATUS_READY);
    json_object_set_string_member(o, "status",
                                  block_job_status_name(job->status));
    json_object_set_boolean_member(o, "auto-finalize", job->auto_finalize);
    json_object_set_boolean_member(o, "auto-dismiss", job->auto_dismiss);
    if (job->error) {
        json_object_set_string_member(o, "error", job->error);
    }
    return o;
}

JsonNode *qmp_query_block_jobs(JsonObject *args, QmpContext *ctx, GError **errp)
{
    JsonArray *arr = json_array_new();

    for (GList *l = block_job_list(); l; l = l->next) {
        json_array_add_object_element(arr, block_job_info(l->data));
    }
    return qmp_node_array(arr);
}

static JsonObject *job_info(BlockJob *job)
{
    JsonObject *o = json_object_new();
    int64_t current, total, speed;
    bool busy;

    block_job_progress(job, &current, &total, &speed, &busy);
    json_object_set_string_member(o, "id", job->id);
    json_object_set_string_member(o, "type", job->driver->type);
    json_object_set_string_member(o, "status",
                                  block_job_status_name(job->status));
    json_object_set_int_member(o, "current-progress", current);
    json_object_set_int_member(o, "total-progress", total);
    if (job->error) {
        json_object_set_string_member(o, "error", job->error);
    }
    return o;
}

JsonNode *qmp_query_jobs(JsonObject *args, QmpContext *ctx, GError **errp)
{
    JsonArray *arr = json_array_new();

    for (GList *l = block_job_list(); l; l = l->next) {
        json_array_add_object_element(arr, job_info(l->data));
    }
    return qmp_node_array(arr);
}
