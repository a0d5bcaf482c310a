/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block jobs: the state machine, its events, the worker thread, the rate
 * limit, and the transitions after the work (ready, finalize, abort,
 * conclude, dismiss).
 */
#include "block/blockjob.h"
#include "block/graph.h"
#include "block/job-internal.h"
#include "qapi/qapi-events.h"
#include "block/perm.h"
#include "qemu/error.h"

static GList *jobs; /* BlockJob*, oldest first; a job leaves at "null" */

static const char *const verb_names[JOB_VERB__MAX] = {
    [JOB_VERB_CANCEL] = "cancel",     [JOB_VERB_PAUSE] = "pause",
    [JOB_VERB_RESUME] = "resume",     [JOB_VERB_SET_SPEED] = "set-speed",
    [JOB_VERB_COMPLETE] = "complete", [JOB_VERB_FINALIZE] = "finalize",
    [JOB_VERB_DISMISS] = "dismiss",
};

/* clang-format off */
/* Which verbs each state accepts:  U  C  R  P  Y  S  W  D  X  E  N */
static const bool verb_table[JOB_VERB__MAX][JOB_STATUS__MAX] = {
    [JOB_VERB_CANCEL]    = { 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 },
    [JOB_VERB_PAUSE]     = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_RESUME]    = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_SET_SPEED] = { 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0 },
    [JOB_VERB_COMPLETE]  = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [JOB_VERB_FINALIZE]  = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 },
    [JOB_VERB_DISMISS]   = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0 },
};
/* clang-format on */

/* clang-format off */
/* QEMU's transitions:                     U  C  R  P  Y  S  W  D  X  E  N */
static const bool transitions[JOB_STATUS__MAX][JOB_STATUS__MAX] = {
    [JOB_STATUS_UNDEFINED] = { 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
    [JOB_STATUS_CREATED]   = { 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1 },
    [JOB_STATUS_RUNNING]   = { 0, 0, 0, 1, 1, 0, 1, 0, 1, 0, 0 },
    [JOB_STATUS_PAUSED]    = { 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_READY]     = { 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0 },
    [JOB_STATUS_STANDBY]   = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 },
    [JOB_STATUS_WAITING]   = { 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0 },
    [JOB_STATUS_PENDING]   = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_ABORTING]  = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0 },
    [JOB_STATUS_CONCLUDED] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 },
    [JOB_STATUS_NULL]      = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
};
/* clang-format on */

const char *block_job_status_name(JobStatus status)
{
    return JobStatus_str(status);
}

const char *block_job_type(BlockJob *job)
{
    return JobType_str(job->driver->type);
}

GList *block_job_list(void)
{
    return jobs;
}

BlockJob *block_job_find(const char *id)
{
    for (GList *l = jobs; l; l = l->next) {
        BlockJob *job = l->data;

        if (g_str_equal(job->id, id)) {
            return job;
        }
    }
    return NULL;
}

bool block_job_apply_verb(BlockJob *job, JobVerb verb, GError **errp)
{
    if (verb_table[verb][job->status]) {
        return true;
    }
    error_setg(errp,
               "Job '%s' in state '%s' cannot accept command verb "
               "'%s'",
               job->id, JobStatus_str(job->status), verb_names[verb]);
    return false;
}

static void job_set_status(BlockJob *job, JobStatus status)
{
    g_assert(transitions[job->status][status]);
    job->status = status;
    qapi_event_send_job_status_change(job->id, status);
}

void block_job_progress(BlockJob *job, int64_t *current, int64_t *total,
                        int64_t *speed, bool *busy)
{
    g_mutex_lock(&job->lock);
    *current = job->progress_current;
    *total = job->progress_total;
    *speed = job->speed;
    *busy = job->busy;
    g_mutex_unlock(&job->lock);
}

typedef enum JobEvent {
    JOB_EVENT_READY,
    JOB_EVENT_COMPLETED,
    JOB_EVENT_CANCELLED,
} JobEvent;

/* BLOCK_JOB_READY / _COMPLETED / _CANCELLED. */
static void job_event(BlockJob *job, JobEvent ev, const char *error)
{
    int64_t current, total, speed;
    bool busy;

    if (job->driver->no_block_job_events) {
        return;
    }
    block_job_progress(job, &current, &total, &speed, &busy);
    switch (ev) {
    case JOB_EVENT_READY:
        qapi_event_send_block_job_ready(job->driver->type, job->id, total,
                                        current, speed);
        break;
    case JOB_EVENT_COMPLETED:
        qapi_event_send_block_job_completed(job->driver->type, job->id,
                                            total, current, speed,
                                            error != NULL, error);
        break;
    case JOB_EVENT_CANCELLED:
        qapi_event_send_block_job_cancelled(job->driver->type, job->id,
                                            total, current, speed);
        break;
    }
}

static void job_free(BlockJob *job)
{
    if (job->deferred_source) {
        g_source_remove(job->deferred_source); /* frees its data */
    }
    if (job->notes_source) {
        g_source_remove(job->notes_source);
    }
    g_queue_clear_full(&job->notes, g_free);
    jobs = g_list_remove(jobs, job);
    g_assert(job->nodes->len == 0);
    g_ptr_array_free(job->nodes, TRUE);
    g_ptr_array_free(job->blk_nodes, TRUE);
    g_ptr_array_free(job->children, TRUE);
    g_mutex_clear(&job->lock);
    g_cond_clear(&job->cond);
    g_clear_error(&job->run_error);
    g_free(job->error);
    g_free(job->id);
    g_free(job);
}

BlockJob *block_job_create(const char *id, const BlockJobDriver *driver,
                           int64_t speed, bool auto_finalize, bool auto_dismiss,
                           GError **errp)
{
    BlockJob *job;

    if (!id || !bdrv_id_wellformed(id)) {
        error_setg(errp, "Invalid job ID '%s'", id ? id : "");
        return NULL;
    }
    if (block_job_find(id)) {
        error_setg(errp, "Job ID '%s' already in use", id);
        return NULL;
    }
    g_assert(driver->instance_size >= sizeof(BlockJob));
    job = g_malloc0(driver->instance_size);
    job->driver = driver;
    job->id = g_strdup(id);
    job->auto_finalize = auto_finalize;
    job->auto_dismiss = auto_dismiss;
    job->nodes = g_ptr_array_new();
    job->children = g_ptr_array_new();
    job->blk_nodes = g_ptr_array_new();
    g_mutex_init(&job->lock);
    g_cond_init(&job->cond);
    g_queue_init(&job->notes);
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
    jobs = g_list_append(jobs, job);
    job_set_status(job, JOB_STATUS_CREATED);
    if (speed < 0) {
        error_setg(errp, "Parameter 'speed' expects a non-negative value");
        block_job_early_fail(job);
        return NULL;
    }
    job->speed = speed;
    return job;
}

bool block_job_add_bdrv(BlockJob *job, const char *name, BlockDriverState *bs,
                        uint64_t perm, uint64_t shared, bool as_root,
                        GError **errp)
{
    g_autofree char *user =
        g_strdup_printf("%s job '%s'", JobType_str(job->driver->type), job->id);
    BdrvChild *c = bdrv_child_attach(user, bs, name, perm, shared, errp);

    if (!c) {
        return false;
    }
    g_ptr_array_add(job->children, c);
    bdrv_ref(bs);
    bdrv_node(bs)->job = job;
    g_ptr_array_add(job->nodes, bs);
    if (as_root) {
        bdrv_node(bs)->blk_users++;
        g_ptr_array_add(job->blk_nodes, bs);
    }
    return true;
}

void block_job_add_node(BlockJob *job, BlockDriverState *bs, bool as_root)
{
    /* takes nothing and shares everything: cannot conflict */
    block_job_add_bdrv(job, "main node", bs, 0, BLK_PERM_ALL, as_root, NULL);
}

BdrvChild *block_job_add_user(BlockJob *job, BlockDriverState *bs,
                              uint64_t perm, uint64_t shared, GError **errp)
{
    BdrvChild *c = bdrv_child_attach("an unnamed block device", bs, "root",
                                     perm, shared, errp);

    if (c) {
        g_ptr_array_add(job->children, c);
    }
    return c;
}

void block_job_drop_perms(BlockJob *job)
{
    for (guint i = job->children->len; i-- > 0;) {
        bdrv_child_detach(g_ptr_array_index(job->children, i));
    }
    g_ptr_array_set_size(job->children, 0);
}

void block_job_remove_bdrv(BlockJob *job, BlockDriverState *bs)
{
    for (guint i = job->children->len; i-- > 0;) {
        BdrvChild *c = g_ptr_array_index(job->children, i);

        if (c->bs == bs) {
            g_ptr_array_remove_index(job->children, i);
            bdrv_child_detach(c);
        }
    }
    if (g_ptr_array_remove(job->blk_nodes, bs)) {
        bdrv_node(bs)->blk_users--;
    }
    if (bdrv_node(bs)->job == job) {
        bdrv_node(bs)->job = NULL;
    }
    while (g_ptr_array_remove(job->nodes, bs)) {
        bdrv_unref(bs);
    }
}

static void job_release_nodes(BlockJob *job)
{
    block_job_drop_perms(job);
    for (guint i = 0; i < job->blk_nodes->len; i++) {
        bdrv_node(g_ptr_array_index(job->blk_nodes, i))->blk_users--;
    }
    g_ptr_array_set_size(job->blk_nodes, 0);
    for (guint i = 0; i < job->nodes->len; i++) {
        BlockDriverState *bs = g_ptr_array_index(job->nodes, i);

        if (bdrv_node(bs)->job == job) {
            bdrv_node(bs)->job = NULL;
        }
    }
    for (guint i = 0; i < job->nodes->len; i++) {
        bdrv_unref(g_ptr_array_index(job->nodes, i));
    }
    g_ptr_array_set_size(job->nodes, 0);
}

void block_job_early_fail(BlockJob *job)
{
    job_release_nodes(job);
    job_set_status(job, JOB_STATUS_NULL);
    job_free(job);
}

void block_job_set_speed(BlockJob *job, int64_t speed)
{
    g_mutex_lock(&job->lock);
    job->speed = speed;
    job->rl_start = 0; /* a new limit starts a new window */
    job->rl_bytes = 0;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
}

void block_job_start(BlockJob *job)
{
    job->started = true;
    job->busy = true;
    job_set_status(job, JOB_STATUS_RUNNING);
    job->thread = g_thread_new(job->id, block_job_thread, job);
}

/* ---- after the work, on the main loop ---- */

static void job_conclude(BlockJob *job)
{
    job_set_status(job, JOB_STATUS_CONCLUDED);
    if (job->auto_dismiss) {
        block_job_dismiss(job);
    }
}

static bool job_hard_cancelled(BlockJob *job)
{
    return job->cancelled && !job->soft_cancelled;
}

/* Failure or cancel: abort, clean, tell, conclude. */
static void job_do_abort(BlockJob *job)
{
    if (job->deferred_source) {
        g_source_remove(job->deferred_source);
        job->deferred_source = 0;
    }
    job_set_status(job, JOB_STATUS_ABORTING);
    if (job->driver->abort) {
        job->driver->abort(job);
    }
    if (job->driver->clean) {
        job->driver->clean(job);
    }
    job_release_nodes(job);
    if (job_hard_cancelled(job) && !job->error) {
        job_event(job, JOB_EVENT_CANCELLED, NULL);
        /* query-jobs then shows QEMU 7.2's strerror(ECANCELED) */
        job->error = g_strdup("Operation canceled");
    } else {
        job_event(job, JOB_EVENT_COMPLETED,
                  job->error ? job->error : "Job failed");
    }
    job_conclude(job);
}

static void job_set_error(BlockJob *job, GError *err)
{
    g_free(job->error);
    job->error = g_strdup(err ? err->message : "Job failed");
}

void block_job_finalize(BlockJob *job)
{
    GError *err = NULL;

    if (job_hard_cancelled(job)) {
        job_do_abort(job);
        return;
    }
    if (!job->soft_cancelled && job->driver->prepare &&
        job->driver->prepare(job, &err) < 0) {
        job_set_error(job, err);
        g_error_free(err);
        job_do_abort(job);
        return;
    }
    if (job->driver->clean) {
        job->driver->clean(job);
    }
    job_release_nodes(job);
    job_event(job, JOB_EVENT_COMPLETED, NULL);
    job_conclude(job);
}

void block_job_to_pending(BlockJob *job)
{
    job_set_status(job, JOB_STATUS_WAITING);
    job_set_status(job, JOB_STATUS_PENDING);
    if (job->auto_finalize) {
        block_job_finalize(job);
        return;
    }
    if (job->driver->no_block_job_events) {
        return;
    }
    qapi_event_send_block_job_pending(job->driver->type, job->id);
}

static void job_after_run(BlockJob *job)
{
    if (job->thread) {
        g_thread_join(job->thread);
        job->thread = NULL;
    }
    if (job->run_ret < 0 && !job_hard_cancelled(job)) {
        job_set_error(job, job->run_error);
        job_do_abort(job);
    } else if (job_hard_cancelled(job)) {
        job_do_abort(job);
    } else if (job->driver->needs_complete && !job->should_complete &&
               !job->soft_cancelled) {
        job_set_status(job, JOB_STATUS_READY);
        job_event(job, JOB_EVENT_READY, NULL);
    } else {
        block_job_to_pending(job);
    }
}

/* A note from the worker, on the main loop.  False once the job is gone. */
static bool job_apply_note(BlockJob *job, const JobNote *note)
{
    switch (note->kind) {
    case JOB_NOTE_STATUS:
        job_set_status(job, note->status);
        return true;
    case JOB_NOTE_READY:
        job_set_status(job, JOB_STATUS_READY);
        job_event(job, JOB_EVENT_READY, NULL);
        return true;
    case JOB_NOTE_ERROR:
        qapi_event_send_block_job_error(job->id, note->op, note->action);
        return true;
    case JOB_NOTE_DONE:
        job_after_run(job);
        return false;
    }
    g_assert_not_reached();
}

/* Apply the notes posted so far, in order. */
static void job_apply_notes(BlockJob *job)
{
    GQueue todo = G_QUEUE_INIT;
    JobNote *note;

    g_mutex_lock(&job->lock);
    job->notes_source = 0;
    todo = job->notes;
    g_queue_init(&job->notes);
    g_mutex_unlock(&job->lock);
    while ((note = g_queue_pop_head(&todo))) {
        bool alive = job_apply_note(job, note);

        g_free(note);
        if (!alive) {
            break; /* DONE is the last note a worker posts */
        }
    }
    g_queue_clear_full(&todo, g_free);
}

static gboolean job_notes_run(gpointer opaque)
{
    job_apply_notes(opaque);
    return G_SOURCE_REMOVE;
}

void block_job_post_note_locked(BlockJob *job, JobNote note)
{
    g_queue_push_tail(&job->notes, g_memdup2(&note, sizeof(note)));
    if (!job->notes_source) {
        job->notes_source = g_idle_add(job_notes_run, job);
    }
}

void block_job_dismiss(BlockJob *job)
{
    job_set_status(job, JOB_STATUS_NULL);
    job_free(job);
}

void block_job_request_cancel(BlockJob *job, bool force)
{
    g_mutex_lock(&job->lock);
    job->cancelled = true;
    job->force = force;
    if (job->user_paused) {
        /* a cancel ends a user pause, as in QEMU */
        job->user_paused = false;
        job->pause_count--;
    }
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
}

bool block_job_is_paused(BlockJob *job)
{
    bool ret;

    g_mutex_lock(&job->lock);
    ret = job->pause_count > 0;
    g_mutex_unlock(&job->lock);
    return ret;
}

/* A job without a worker (a ready active commit) pauses and resumes
 * here: ready <-> standby. */
static void job_threadless_pause_changed(BlockJob *job)
{
    bool paused = job->pause_count > 0;

    if (job->thread) {
        return; /* the worker reports it from its pause point */
    }
    if (paused && job->status == JOB_STATUS_READY) {
        job_set_status(job, JOB_STATUS_STANDBY);
    } else if (!paused && job->status == JOB_STATUS_STANDBY) {
        job_set_status(job, JOB_STATUS_READY);
    }
}

bool block_job_user_pause(BlockJob *job, GError **errp)
{
    if (!block_job_apply_verb(job, JOB_VERB_PAUSE, errp)) {
        return false;
    }
    g_mutex_lock(&job->lock);
    if (job->user_paused) {
        g_mutex_unlock(&job->lock);
        error_setg(errp, "Job is already paused");
        return false;
    }
    job->user_paused = true;
    job->pause_count++;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
    job_threadless_pause_changed(job);
    return true;
}

bool block_job_user_resume(BlockJob *job, GError **errp)
{
    g_mutex_lock(&job->lock);
    if (!job->user_paused || job->pause_count <= 0) {
        g_mutex_unlock(&job->lock);
        error_setg(errp, "Can't resume a job that was not paused");
        return false;
    }
    g_mutex_unlock(&job->lock);
    if (!block_job_apply_verb(job, JOB_VERB_RESUME, errp)) {
        return false;
    }
    g_mutex_lock(&job->lock);
    job->user_paused = false;
    job->pause_count--;
    job->iostatus = BLOCK_DEVICE_IO_STATUS_OK;
    job->rl_start = 0; /* the pause does not count as copying time */
    job->rl_bytes = 0;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
    job_threadless_pause_changed(job);
    return true;
}

static gboolean run_to_pending(gpointer opaque)
{
    BlockJob *job = opaque;

    job->deferred_source = 0;
    block_job_to_pending(job);
    return G_SOURCE_REMOVE;
}

/* A thread-less job's next step runs on the next main loop turn, after
 * the reply of the command that asked for it. */
static void defer_to_pending(BlockJob *job)
{
    if (!job->deferred_source) {
        job->deferred_source = g_idle_add(run_to_pending, job);
    }
}

void block_job_cancel(BlockJob *job, bool force)
{
    bool ready = job->status == JOB_STATUS_READY ||
                 job->status == JOB_STATUS_STANDBY;

    if (ready && !force && job->driver->needs_complete) {
        /* a ready job that mirrors: finish without switching over */
        g_mutex_lock(&job->lock);
        job->soft_cancelled = true;
        g_mutex_unlock(&job->lock);
        block_job_request_cancel(job, false);
        job_threadless_pause_changed(job);
        if (!job->thread) {
            defer_to_pending(job);
        }
        return;
    }
    block_job_request_cancel(job, force);
    job_threadless_pause_changed(job);
    if (!job->thread && job->status != JOB_STATUS_CONCLUDED) {
        job_do_abort(job); /* its events come before the reply, as QEMU's */
    }
}

void block_job_complete(BlockJob *job)
{
    job->should_complete = true;
    g_mutex_lock(&job->lock);
    job->complete_requested = true;
    g_cond_broadcast(&job->cond);
    g_mutex_unlock(&job->lock);
    if (!job->thread) {
        defer_to_pending(job);
    }
}

/* Wait for the worker of @job and handle its end here and now. */
static void job_wait_worker(BlockJob *job)
{
    g_thread_join(job->thread); /* its DONE note is queued by then */
    job->thread = NULL;
    if (job->notes_source) {
        g_source_remove(job->notes_source);
    }
    job_apply_notes(job);
}

void block_job_cancel_all_sync(void)
{
    while (jobs) {
        BlockJob *job = jobs->data;

        if (job->status == JOB_STATUS_CONCLUDED) {
            block_job_dismiss(job);
            continue;
        }
        job->auto_dismiss = true;
        block_job_request_cancel(job, true);
        if (job->thread) {
            job_wait_worker(job);
        } else {
            job_do_abort(job);
        }
    }
}
