/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy engine of mirror and backup (copy-engine.h): dirty granules out
 * as large requests, several at once on a thread pool, zeroes as zeroes.
 *
 * @busy marks the ranges being copied (by a pool chunk or by
 * copy_engine_copy_now); nothing starts over a busy range, which is what
 * keeps the copies of one range in order.  Failed chunks are queued for
 * the worker, which applies the job's error policy to them.
 */
#include <errno.h>

#include "block/copy-engine.h"
#include "block/write-hook.h"
#include "qemu/error.h"

/* The worker looks at cancel and pause requests at least this often
 * while it waits for chunks. */
#define COPY_ENGINE_POLL_US (50 * 1000)
/* The target's file is handed to writeback after this much was written,
 * so the flush at the end finds little left to do. */
#define COPY_ENGINE_WRITEBACK_BYTES (32 * 1024 * 1024)

typedef struct CopyFailure {
    int64_t offset, bytes;
    bool is_read;
    GError *err;
} CopyFailure;

struct CopyEngine {
    CopyEngineConfig cfg;
    GThreadPool *pool;
    GMutex lock;   /* everything below */
    GCond cond;    /* a copy ended */
    HBitmap *dirty;
    HBitmap *busy;
    int64_t busy_bytes;
    int in_flight;  /* pool chunks */
    int64_t cursor; /* the worker's next look */
    GQueue failures; /* CopyFailure*, for the worker */
    gint unflushed;  /* bytes written since the last writeback hint */
};

typedef struct CopyRange {
    int64_t offset, bytes;
} CopyRange;

typedef struct CopyChunk {
    CopyEngine *e;
    int64_t offset, bytes;
} CopyChunk;

/* ---- one range, in the calling thread ---- */

static void start_writeback(CopyEngine *e, int64_t bytes)
{
    BlockDriverState *t = e->cfg.target;
    BlockDriverState *leaf = t->file ? t->file : t;
    gint n = (gint)MIN(bytes, G_MAXINT / 2);

    if (g_atomic_int_add(&e->unflushed, n) + n < COPY_ENGINE_WRITEBACK_BYTES) {
        return;
    }
    g_atomic_int_set(&e->unflushed, 0);
    if (leaf->drv == &bdrv_file) {
        /* the whole file: a qcow2 target cannot map ranges for writing,
         * and only its dirty pages are written anyway */
        bdrv_file_start_writeback(leaf, 0, 0);
    }
}

/* Data of [offset, offset+bytes): offloaded where possible, else read and
 * written through a buffer of at most max_chunk bytes. */
static int copy_data(CopyEngine *e, int64_t offset, int64_t bytes,
                     bool *is_read, GError **errp)
{
    g_autofree void *buf = NULL;
    int64_t done;

    *is_read = false;
    done = bdrv_copy_range(e->cfg.source, e->cfg.target, offset, bytes, errp);
    if (done < 0) {
        return -1;
    }
    while (done < bytes) {
        int64_t n = MIN(bytes - done, e->cfg.max_chunk);

        if (!buf) {
            buf = g_malloc(n);
        }
        *is_read = true;
        if (bdrv_pread(e->cfg.source, offset + done, n, buf, errp) < 0) {
            return -1;
        }
        *is_read = false;
        if (bdrv_pwrite(e->cfg.target, offset + done, n, buf, errp) < 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

/* [offset, offset+bytes) source -> target, a run of one block status at a
 * time.  -1 with errp and *is_read telling which side failed. */
static int copy_range(CopyEngine *e, int64_t offset, int64_t bytes,
                      bool *is_read, GError **errp)
{
    for (int64_t end = offset + bytes, n; offset < end; offset += n) {
        int depth;
        int st;

        *is_read = true;
        st = bdrv_block_status(e->cfg.source, offset, end - offset, &n,
                               &depth, errp);
        if (st < 0) {
            return -1;
        }
        if (st & BDRV_BLOCK_ZERO) {
            *is_read = false;
            if (bdrv_pwrite_zeroes(e->cfg.target, offset, n,
                                   BDRV_REQ_MAY_UNMAP, errp) < 0) {
                return -1;
            }
        } else if (copy_data(e, offset, n, is_read, errp) < 0) {
            return -1;
        }
    }
    start_writeback(e, bytes);
    return 0;
}

static void report_copied(CopyEngine *e, int64_t bytes)
{
    if (e->cfg.copied) {
        e->cfg.copied(e->cfg.opaque, bytes);
    }
}

/* ---- pool chunks ---- */

static void chunk_end_locked(CopyEngine *e, int64_t offset, int64_t bytes)
{
    hbitmap_reset(e->busy, offset, bytes);
    e->busy_bytes -= bytes;
    g_cond_broadcast(&e->cond);
}

static void chunk_worker(gpointer data, gpointer user_data)
{
    CopyChunk *c = data;
    CopyEngine *e = c->e;
    GError *err = NULL;
    bool is_read;
    int ret = copy_range(e, c->offset, c->bytes, &is_read, &err);

    (void)user_data;
    if (ret == 0) {
        report_copied(e, c->bytes);
    }
    g_mutex_lock(&e->lock);
    if (ret < 0) {
        CopyFailure *f = g_new(CopyFailure, 1);

        *f = (CopyFailure) { .offset = c->offset, .bytes = c->bytes,
                             .is_read = is_read, .err = err };
        g_queue_push_tail(&e->failures, f);
        hbitmap_set(e->dirty, c->offset, c->bytes);
    }
    e->in_flight--;
    chunk_end_locked(e, c->offset, c->bytes);
    g_mutex_unlock(&e->lock);
    g_free(c);
}

/* The first dirty run in [from, end) not over a busy range (clipped
 * before one), at most @max bytes. */
static bool pick_locked(CopyEngine *e, int64_t from, int64_t end, int64_t max,
                        int64_t *start, int64_t *n)
{
    uint64_t s, len;

    while (from < end &&
           hbitmap_next_dirty_area(e->dirty, from, end, max, &s, &len)) {
        int64_t b = hbitmap_next_dirty(e->busy, s, s + len);

        if (b < 0 || b > (int64_t)s) {
            *start = s;
            *n = b < 0 ? (int64_t)len : b - (int64_t)s;
            return true;
        }
        from = hbitmap_next_zero(e->busy, s, end);
        if (from < 0) {
            break;
        }
    }
    return false;
}

/* Start the next chunk of at most @max bytes on the pool: its size, or 0
 * when none can start now (all slots taken, or nothing dirty that is not
 * busy). */
static int64_t start_chunk_locked(CopyEngine *e, int64_t max)
{
    int64_t len = e->cfg.len, start, n;
    CopyChunk *c;

    if (e->in_flight >= e->cfg.max_in_flight) {
        return 0;
    }
    if (!pick_locked(e, e->cursor, len, max, &start, &n) &&
        !(e->cfg.wrap && pick_locked(e, 0, len, max, &start, &n))) {
        return 0;
    }
    hbitmap_reset(e->dirty, start, n);
    hbitmap_set(e->busy, start, n);
    e->busy_bytes += n;
    e->in_flight++;
    e->cursor = start + n;
    c = g_new(CopyChunk, 1);
    *c = (CopyChunk) { .e = e, .offset = start, .bytes = n };
    g_thread_pool_push(e->pool, c, NULL);
    return n;
}

static void drain_locked(CopyEngine *e)
{
    while (e->in_flight > 0) {
        g_cond_wait(&e->cond, &e->lock);
    }
}

static void drain(CopyEngine *e)
{
    g_mutex_lock(&e->lock);
    drain_locked(e);
    g_mutex_unlock(&e->lock);
}

static void free_failure(gpointer p)
{
    CopyFailure *f = p;

    g_clear_error(&f->err);
    g_free(f);
}

/* ---- lifetime and the map ---- */

CopyEngine *copy_engine_new(const CopyEngineConfig *cfg)
{
    CopyEngine *e = g_new0(CopyEngine, 1);

    e->cfg = *cfg;
    e->cfg.max_chunk = MAX(cfg->max_chunk / cfg->granularity, 1) *
                       cfg->granularity;
    e->cfg.max_in_flight = MAX(cfg->max_in_flight, 1);
    if (!e->cfg.should_stop) {
        e->cfg.should_stop = block_job_is_cancelled;
    }
    g_mutex_init(&e->lock);
    g_cond_init(&e->cond);
    e->dirty = hbitmap_new(cfg->len, cfg->granularity);
    e->busy = hbitmap_new(cfg->len, cfg->granularity);
    g_queue_init(&e->failures);
    e->pool = g_thread_pool_new(chunk_worker, NULL, e->cfg.max_in_flight,
                                FALSE, NULL);
    return e;
}

void copy_engine_free(CopyEngine *e)
{
    if (!e) {
        return;
    }
    drain(e);
    g_thread_pool_free(e->pool, FALSE, TRUE);
    g_queue_clear_full(&e->failures, free_failure);
    hbitmap_free(e->dirty);
    hbitmap_free(e->busy);
    g_mutex_clear(&e->lock);
    g_cond_clear(&e->cond);
    g_free(e);
}

/* Clip [*offset, *offset+*bytes) to the engine's length: false if empty
 * (a write past the end the source had when the job started). */
static bool clip(CopyEngine *e, int64_t *offset, int64_t *bytes)
{
    if (*offset < 0 || *offset >= e->cfg.len || *bytes <= 0) {
        return false;
    }
    *bytes = MIN(*bytes, e->cfg.len - *offset);
    return true;
}

void copy_engine_set_dirty(CopyEngine *e, int64_t offset, int64_t bytes)
{
    if (clip(e, &offset, &bytes)) {
        g_mutex_lock(&e->lock);
        hbitmap_set(e->dirty, offset, bytes);
        g_mutex_unlock(&e->lock);
    }
}

void copy_engine_reset_dirty(CopyEngine *e, int64_t offset, int64_t bytes)
{
    if (clip(e, &offset, &bytes)) {
        g_mutex_lock(&e->lock);
        hbitmap_reset(e->dirty, offset, bytes);
        g_mutex_unlock(&e->lock);
    }
}

void copy_engine_merge_dirty(CopyEngine *e, const HBitmap *hb)
{
    g_mutex_lock(&e->lock);
    hbitmap_merge(e->dirty, hb);
    g_mutex_unlock(&e->lock);
}

HBitmap *copy_engine_dirty_copy(CopyEngine *e)
{
    HBitmap *hb;

    g_mutex_lock(&e->lock);
    hb = hbitmap_copy(e->dirty);
    hbitmap_merge(hb, e->busy);
    g_mutex_unlock(&e->lock);
    return hb;
}

int64_t copy_engine_pending(CopyEngine *e)
{
    int64_t n;

    g_mutex_lock(&e->lock);
    n = hbitmap_count(e->dirty) + e->busy_bytes;
    g_mutex_unlock(&e->lock);
    return n;
}

/* ---- the worker ---- */

/* The largest chunk under the job's speed: about 8 chunks a second, so
 * the rate limit's sleeps stay short. */
static int64_t chunk_limit(CopyEngine *e, BlockJob *job)
{
    int64_t speed, max = e->cfg.max_chunk, g = e->cfg.granularity;

    g_mutex_lock(&job->lock);
    speed = job->speed;
    g_mutex_unlock(&job->lock);
    if (speed > 0) {
        max = MIN(max, MAX(speed / 8 / g, 1) * g);
    }
    return max;
}

static CopyFailure *take_failure(CopyEngine *e)
{
    CopyFailure *f;

    g_mutex_lock(&e->lock);
    f = g_queue_pop_head(&e->failures);
    g_mutex_unlock(&e->lock);
    return f;
}

static bool failures_queued(CopyEngine *e)
{
    bool ret;

    g_mutex_lock(&e->lock);
    ret = !g_queue_is_empty(&e->failures);
    g_mutex_unlock(&e->lock);
    return ret;
}

/* A failed chunk under the job's policy: -1 with errp to fail. */
static int handle_failure(CopyEngine *e, BlockJob *job, CopyFailure *f,
                          GError **errp)
{
    BlockdevOnError policy =
        f->is_read ? e->cfg.on_source_error : e->cfg.on_target_error;
    BlockErrorAction act =
        block_job_error_action(job, policy, f->is_read, f->err);
    int ret = 0;

    if (act == BLOCK_ERROR_ACTION_REPORT) {
        g_propagate_error(errp, g_steal_pointer(&f->err));
        ret = -1;
    } else if (act == BLOCK_ERROR_ACTION_STOP) {
        /* parked at the next pause point; the range is dirty again and
         * is copied after job-resume */
        g_mutex_lock(&e->lock);
        e->cursor = MIN(e->cursor, f->offset);
        g_mutex_unlock(&e->lock);
    }
    free_failure(f);
    return ret;
}

/* Start what can start; false when everything is copied. */
static bool run_step(CopyEngine *e, BlockJob *job)
{
    int64_t max = chunk_limit(e, job), n;

    g_mutex_lock(&e->lock);
    n = start_chunk_locked(e, max);
    if (n == 0) {
        if (e->busy_bytes == 0 && g_queue_is_empty(&e->failures)) {
            g_mutex_unlock(&e->lock);
            return false;
        }
        g_cond_wait_until(&e->cond, &e->lock,
                          g_get_monotonic_time() + COPY_ENGINE_POLL_US);
    }
    g_mutex_unlock(&e->lock);
    if (n > 0) {
        block_job_ratelimit(job, n);
    }
    return true;
}

int copy_engine_run(CopyEngine *e, BlockJob *job, GError **errp)
{
    for (;;) {
        CopyFailure *f;

        if (e->cfg.should_stop(job)) {
            drain(e);
            return 1;
        }
        f = take_failure(e);
        if (f) {
            if (handle_failure(e, job, f, errp) < 0) {
                drain(e);
                return -1;
            }
            continue;
        }
        if (block_job_pause_requested(job)) {
            drain(e); /* nothing in flight while paused */
            if (!failures_queued(e)) {
                block_job_pause_point(job);
            } /* else those first: each under the policy, as QEMU */
            continue;
        }
        if (!run_step(e, job)) {
            return 0;
        }
    }
}

/* ---- copies in the caller's thread (write hooks) ---- */

/* Mark the ranges of [start, end) to copy now busy (into @ranges), after
 * the copies in flight over them. */
static void claim_locked(CopyEngine *e, int64_t start, int64_t end,
                         bool dirty_only, GArray *ranges)
{
    uint64_t s, n;

    while (hbitmap_next_dirty(e->busy, start, end) >= 0) {
        g_cond_wait(&e->cond, &e->lock);
    }
    for (int64_t from = start; from < end; from = s + n) {
        if (!dirty_only) {
            s = start;
            n = end - start;
        } else if (!hbitmap_next_dirty_area(e->dirty, from, end, 0, &s, &n)) {
            break;
        }
        CopyRange r = { .offset = s, .bytes = n };

        g_array_append_val(ranges, r);
        hbitmap_reset(e->dirty, s, n);
        hbitmap_set(e->busy, s, n);
        e->busy_bytes += n;
    }
}

int copy_engine_copy_now(CopyEngine *e, int64_t offset, int64_t bytes,
                         bool dirty_only, GError **errp)
{
    int64_t g = e->cfg.granularity;
    int64_t start;
    int64_t end;
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(CopyRange));
    int ret = 0;

    if (!clip(e, &offset, &bytes)) {
        return 0;
    }
    start = offset - offset % g;
    end = MIN((offset + bytes + g - 1) / g * g, e->cfg.len);
    g_mutex_lock(&e->lock);
    claim_locked(e, start, end, dirty_only, ranges);
    g_mutex_unlock(&e->lock);
    for (guint i = 0; i < ranges->len; i++) {
        CopyRange *r = &g_array_index(ranges, CopyRange, i);
        bool is_read;

        if (ret == 0 &&
            copy_range(e, r->offset, r->bytes, &is_read, errp) < 0) {
            ret = -1;
        }
        if (ret == 0) {
            report_copied(e, r->bytes);
        }
        g_mutex_lock(&e->lock);
        if (ret < 0) {
            hbitmap_set(e->dirty, r->offset, r->bytes); /* still to copy */
        }
        chunk_end_locked(e, r->offset, r->bytes);
        g_mutex_unlock(&e->lock);
    }
    return ret;
}
