/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The mirror job (blockdev-mirror / drive-mirror, mirror-qmp.c): copy a
 * node to a target and keep the copy in sync until job-complete switches
 * every user of the source onto the target (or a cancel leaves them on
 * the source).  The copying is the copy engine's (copy-engine.h): up to
 * 4 chunks of about buf-size / 16 in flight.
 *
 * Guest writes to the source are seen by a write hook (write-hook.h):
 * in background mode it marks them dirty in the engine, which copies them
 * again; in write-blocking mode (and for the final drain before the
 * switch) it copies them to the target itself before the write completes.
 * Why it converges: the engine clears a range's bits when its copy starts,
 * and the hook sets them only after the write landed, so a write the
 * copy's read missed always leaves its bits set.  The engine never runs
 * two copies of one range at once, so an older copy never lands after a
 * newer one.
 */
#include "block/mirror.h"

#include "block/block-backend.h"
#include "block/copy-engine.h"
#include "block/filter.h"
#include "block/graph.h"
#include "block/write-hook.h"
#include "qemu/error.h"

#define MIRROR_IDLE_US (100 * 1000)
/*
 * QEMU's request size: buf-size / 16, at least 1 MiB (at most buf-size).
 * In flight: what buf-size holds, at most 4.  QEMU allows 16, but here
 * each request is a thread doing blocking I/O: 16 took 20-40% more CPU
 * than 4 for the same time to READY (1 GiB, 2 cores).
 */
#define MIRROR_CHUNKS_PER_BUF 16
#define MIRROR_MAX_IN_FLIGHT 4
#define MIRROR_MIN_CHUNK (1024 * 1024)

typedef struct MirrorJob {
    BlockJob common;
    BlockDriverState *source;
    BlockDriverState *target;
    BlockDriverState *to_replace;
    BlockDriverState *base;      /* sync top: the source's backing */
    BlockDriverState *target_backing; /* drive-mirror: set on completion */
    MirrorSyncMode sync;
    bool target_was_ro;
    bool pivoted;
    BdrvWriteHook hook;
    bool hook_added;
    char *filter_name;          /* filter-node-name, or NULL */
    BlockDriverState *filter;   /* mirror_top above the source meanwhile */
    CopyEngine *engine;
    /* Readers: the hook deciding between marking and copying; the writer:
     * the worker switching to synchronous copies. */
    GRWLock mode_lock;
    bool sync_writes;   /* the hook copies writes itself */
} MirrorJob;

/* ---- the write hook ---- */

/* After every write, write of zeroes or discard on the source, in the
 * writer's thread. */
static void mirror_after_write(BdrvWriteHook *hook, BlockDriverState *bs,
                               int64_t offset, int64_t bytes,
                               BdrvWriteKind kind, int ret)
{
    MirrorJob *s = hook->opaque;

    (void)bs;
    (void)kind;
    if (bytes <= 0) {
        return;
    }
    g_rw_lock_reader_lock(&s->mode_lock);
    if (s->sync_writes && ret == 0) {
        GError *err = NULL;

        if (copy_engine_copy_now(s->engine, offset, bytes, false, &err) < 0) {
            /* dirty again: the worker retries it under its error policy */
            g_error_free(err);
        }
    } else {
        copy_engine_set_dirty(s->engine, offset, bytes);
    }
    g_rw_lock_reader_unlock(&s->mode_lock);
    block_job_kick(&s->common);
}

/* ---- the worker ---- */

/* The engine's progress callback (any thread). */
static void mirror_copied(void *opaque, int64_t bytes)
{
    MirrorJob *s = opaque;
    int64_t pending = copy_engine_pending(s->engine);

    g_mutex_lock(&s->common.lock);
    s->common.progress_current += bytes;
    s->common.progress_total = s->common.progress_current + pending;
    g_mutex_unlock(&s->common.lock);
}

/* What sync asks to copy first. */
static int mirror_dirty_init(MirrorJob *s, int64_t len, GError **errp)
{
    for (int64_t off = 0, n; off < len && s->sync != MIRROR_SYNC_MODE_NONE;
         off += n) {
        int ret = bdrv_is_allocated_above(s->source, s->base, off,
                                          MIN(len - off, INT32_MAX), &n, errp);

        if (ret == 0 && s->sync == MIRROR_SYNC_MODE_FULL) {
            /* the target must read zeroes here too */
            ret = bdrv_is_allocated(s->target, off, n, &n, errp);
        }
        if (ret < 0) {
            return -1;
        }
        if (ret) {
            copy_engine_set_dirty(s->engine, off, n);
        }
        if (block_job_is_cancelled(&s->common)) {
            return 0;
        }
    }
    return 0;
}

/* Nothing dirty: go ready (once), and finish when asked to. */
static bool mirror_caught_up(MirrorJob *s, GError **errp, int *ret)
{
    BlockJob *job = &s->common;

    if (!job->worker_ready) {
        if (bdrv_flush(s->target, errp) < 0) {
            *ret = -1;
            return true;
        }
        block_job_worker_ready(job);
    }
    if (block_job_should_complete(job) || block_job_is_cancelled(job)) {
        g_rw_lock_writer_lock(&s->mode_lock);
        s->sync_writes = true; /* from now on the hook copies each write */
        g_rw_lock_writer_unlock(&s->mode_lock);
        if (copy_engine_pending(s->engine) == 0) {
            *ret = bdrv_flush(s->target, errp);
            return true;
        }
        return false; /* drain what is left, then come back */
    }
    block_job_wait(job, MIRROR_IDLE_US);
    return false;
}

static bool mirror_hard_cancelled(BlockJob *job)
{
    bool ret;

    g_mutex_lock(&job->lock);
    ret = job->cancelled && !job->soft_cancelled;
    g_mutex_unlock(&job->lock);
    return ret;
}

static int mirror_run(BlockJob *job, GError **errp)
{
    MirrorJob *s = (MirrorJob *)job;
    int ret = 0;

    if (mirror_dirty_init(s, bdrv_getlength(s->source), errp) < 0) {
        return -1;
    }
    for (;;) {
        g_mutex_lock(&job->lock);
        job->progress_total =
            job->progress_current + copy_engine_pending(s->engine);
        g_mutex_unlock(&job->lock);
        ret = copy_engine_run(s->engine, job, errp);
        if (ret != 0) {
            return ret < 0 ? -1 : 0; /* failed, or cancelled */
        }
        if (mirror_caught_up(s, errp, &ret)) {
            return ret;
        }
    }
}

/* ---- completion, on the main loop ---- */

static void mirror_remove_hook(MirrorJob *s)
{
    if (s->hook_added) {
        bdrv_write_hook_remove(s->source, &s->hook);
        s->hook_added = false;
    }
}

/* The filter's users go back to the source (before a pivot moves them). */
static void mirror_drop_filter(MirrorJob *s)
{
    if (s->filter) {
        block_job_remove_bdrv(&s->common, s->filter);
        bdrv_filter_remove(g_steal_pointer(&s->filter));
    }
}

/* job-complete: every user of the replaced node moves to the target. */
static int mirror_prepare(BlockJob *job, GError **errp)
{
    MirrorJob *s = (MirrorJob *)job;
    BlockBackend *blk;

    block_job_drop_perms(job); /* the target takes its users' now */
    mirror_drop_filter(s);
    if (s->target_backing &&
        !bdrv_set_backing(s->target, s->target_backing, BDRV_BACKING_EXPLICIT,
                          errp)) {
        return -1;
    }
    while ((blk = blk_by_root(s->to_replace))) {
        if (!blk_set_root(blk, s->target, errp)) {
            return -1;
        }
    }
    if (!bdrv_replace_in_parents(s->to_replace, s->target, errp)) {
        return -1;
    }
    s->pivoted = true;
    return 0;
}

static void mirror_clean(BlockJob *job)
{
    MirrorJob *s = (MirrorJob *)job;
    GError *err = NULL;

    mirror_remove_hook(s); /* waits for the writers in the hook */
    g_clear_pointer(&s->engine, copy_engine_free);
    block_job_drop_perms(job);
    mirror_drop_filter(s);
    g_free(g_steal_pointer(&s->filter_name));
    if (s->target_was_ro && !s->pivoted &&
        !bdrv_reopen_set_read_only(s->target, true, false, &err)) {
        g_warning("Could not make '%s' read-only again: %s",
                  s->target->node_name, err->message);
        g_error_free(err);
    }
    if (s->target_backing) {
        bdrv_unref(s->target_backing);
        s->target_backing = NULL;
    }
    g_rw_lock_clear(&s->mode_lock);
}

static const BlockJobDriver mirror_driver = {
    .type = JOB_TYPE_MIRROR,
    .instance_size = sizeof(MirrorJob),
    .run = mirror_run,
    .needs_complete = true,
    .prepare = mirror_prepare,
    .clean = mirror_clean,
};

/* ---- starting ---- */

static CopyEngine *mirror_engine(MirrorJob *s, const MirrorArgs *a)
{
    int64_t chunk = MIN(a->buf_size, MAX(a->buf_size / MIRROR_CHUNKS_PER_BUF,
                                         MIRROR_MIN_CHUNK));
    CopyEngineConfig cfg = {
        .source = s->source,
        .target = s->target,
        .len = bdrv_getlength(s->source),
        .granularity = a->granularity,
        .max_chunk = MAX(chunk, a->granularity),
        .max_in_flight = CLAMP(a->buf_size / MAX(chunk, a->granularity), 1,
                               MIRROR_MAX_IN_FLIGHT),
        .wrap = true,
        .on_source_error = a->on_source_error,
        .on_target_error = a->on_target_error,
        .copied = mirror_copied,
        .should_stop = mirror_hard_cancelled,
        .opaque = s,
    };

    return copy_engine_new(&cfg);
}

/* What the job lets others do to the node it mirrors (QEMU 7.2's). */
#define MIRROR_JOB_SHARED                                                      \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)

/* The job's nodes and permissions, the target writable, the hook. */
static bool mirror_setup(MirrorJob *s, GError **errp)
{
    BlockJob *job = &s->common;

    /* QEMU 7.2's edges: "source" on the node, "main node" on the filter */
    if (!block_job_add_bdrv(job, "source", s->source, 0, MIRROR_JOB_SHARED,
                            false, errp) ||
        !block_job_add_bdrv(job, "target", s->target, 0, BLK_PERM_ALL, true,
                            errp)) {
        return false;
    }
    s->target_was_ro = s->target->read_only;
    if (!bdrv_reopen_set_read_only(s->target, false, true, errp)) {
        s->target_was_ro = false;
        return false;
    }
    /* QEMU 7.2: nobody else may read or write the target meanwhile */
    if (!block_job_add_user(job, s->target, BLK_PERM_WRITE,
                            BLK_PERM_WRITE_UNCHANGED, errp)) {
        return false;
    }
    s->hook = (BdrvWriteHook) { .after = mirror_after_write, .opaque = s };
    bdrv_write_hook_add(s->source, &s->hook);
    s->hook_added = true;
    /* QEMU 7.2 always inserts it: implicitly named without the user's */
    s->filter = bdrv_filter_insert(&bdrv_mirror_top_filter, s->filter_name,
                                   s->source, errp);
    if (!s->filter) {
        return false;
    }
    /* the job reads the source through it (QEMU's permissions) */
    return block_job_add_bdrv(job, "main node", s->filter,
                              BLK_PERM_CONSISTENT_READ, MIRROR_JOB_SHARED,
                              false, errp);
}

void mirror_job_start(const MirrorArgs *a, const char *job_id,
                      BlockDriverState *bs, BlockDriverState *target,
                      BlockDriverState *to_replace, GError **errp)
{
    MirrorJob *s;

    s = (MirrorJob *)block_job_create(job_id, &mirror_driver, a->speed,
                                      a->auto_finalize, a->auto_dismiss, errp);
    if (!s) {
        return;
    }
    s->source = bs;
    s->target = target;
    s->to_replace = to_replace;
    s->sync = a->sync;
    s->base = a->sync == MIRROR_SYNC_MODE_TOP ? bdrv_backing_next(bs) : NULL;
    if (a->target_backing && bs->backing) {
        s->target_backing = bdrv_backing_next(bs);
        bdrv_ref(s->target_backing);
    }
    s->sync_writes = a->copy_mode == MIRROR_COPY_MODE_WRITE_BLOCKING;
    s->filter_name = g_strdup(a->filter_node_name);
    g_rw_lock_init(&s->mode_lock);
    s->engine = mirror_engine(s, a);
    if (!mirror_setup(s, errp)) {
        mirror_clean(&s->common);
        block_job_early_fail(&s->common);
        return;
    }
    block_job_start(&s->common);
}
