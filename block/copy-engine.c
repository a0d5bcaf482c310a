/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy engine of mirror and backup (copy-engine.h): dirty granules out
 * as large requests, several at once on a thread pool, zeroes as zeroes.
 *
 * A chunk is copied in two phases: read (block status, then the data into
 * a buffer, or a kernel copy), then write.  @busy marks the ranges being
 * copied, @reading those whose read phase is not over.  Nothing starts
 * over a busy range, which keeps the copies of one range in order.  A
 * copy-before-write needs less: only that the old data was read, so it
 * waits for @reading (point_in_time) and may leave the write to the pool
 * (defer_cbw).  Failed chunks are queued for the worker, which applies the
 * job's error policy; a point-in-time chunk whose write failed keeps the
 * data it read (the source may have changed since) and is written again,
 * never read again.
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
/* Copy-before-write data read but not yet written, at most (beyond it a
 * guest write waits for its copy's write). */
#define COPY_ENGINE_DEFER_BYTES (32 * 1024 * 1024)

typedef enum CopyRunKind {
    COPY_RUN_DATA, /* in the chunk's buffer */
    COPY_RUN_ZERO, /* reads as zeroes: written as zeroes */
    COPY_RUN_DONE, /* copied by the kernel in the read phase */
} CopyRunKind;

typedef struct CopyRun {
    int64_t offset, bytes;
    CopyRunKind kind;
} CopyRun;

typedef struct CopyChunk {
    int64_t offset, bytes;
    void *buf;      /* the DATA runs, at run offset - chunk offset */
    GArray *runs;   /* CopyRun, from the read phase */
    bool read_done;
    bool deferred;  /* a copy-before-write's write (deferred_bytes) */
} CopyChunk;

typedef struct CopyRange {
    int64_t offset, bytes;
} CopyRange;

typedef struct CopyFailure {
    int64_t offset, bytes;
    bool is_read;
    CopyChunk *chunk; /* point in time: the data read, its range busy */
    GError *err;
} CopyFailure;

struct CopyEngine {
    CopyEngineConfig cfg;
    GThreadPool *pool;
    GMutex lock;   /* everything below */
    GCond cond;    /* a read phase or a copy ended */
    HBitmap *dirty;
    HBitmap *busy;
    HBitmap *reading;
    int64_t busy_bytes;
    int in_flight;   /* the worker's chunks on the pool */
    int pool_tasks;  /* every chunk on the pool */
    int64_t deferred_bytes;
    int64_t cursor;  /* the worker's next look */
    GQueue failures; /* CopyFailure*, for the worker */
    GQueue retry;    /* CopyChunk* to write again (policy "stop") */
    gint unflushed;  /* bytes written since the last writeback hint */
    int waiters;     /* threads waiting on cond: wake only when some do */
    /*
     * Point in time with deferred writes: one bit per granule whose old
     * data was read (and is held until written), atomic.  A guest write
     * over granules that are all set is let through without the lock:
     * that is most writes once the copy is under way.  NULL otherwise.
     */
    uint64_t *read_map;
};

/* ---- one chunk, in the calling thread ---- */

static CopyChunk *chunk_new(int64_t offset, int64_t bytes)
{
    CopyChunk *c = g_new0(CopyChunk, 1);

    c->offset = offset;
    c->bytes = bytes;
    c->runs = g_array_new(FALSE, FALSE, sizeof(CopyRun));
    return c;
}

static void chunk_free(CopyChunk *c)
{
    if (c) {
        g_free(c->buf);
        g_array_unref(c->runs);
        g_free(c);
    }
}

static void add_run(CopyChunk *c, int64_t offset, int64_t bytes,
                    CopyRunKind kind)
{
    CopyRun r = { .offset = offset, .bytes = bytes, .kind = kind };

    g_array_append_val(c->runs, r);
}

/* The read phase: a run of one block status at a time.  -1 with errp and
 * *is_read telling which side failed (a kernel copy writes too). */
static int chunk_read(CopyEngine *e, CopyChunk *c, bool *is_read,
                      GError **errp)
{
    int64_t end = c->offset + c->bytes;

    g_array_set_size(c->runs, 0);
    for (int64_t off = c->offset, n; off < end; off += n) {
        int64_t done;
        int depth;
        int st;

        *is_read = true;
        st = bdrv_block_status(e->cfg.source, off, end - off, &n, &depth,
                               errp);
        if (st < 0) {
            return -1;
        }
        if (st & BDRV_BLOCK_ZERO) {
            add_run(c, off, n, COPY_RUN_ZERO);
            continue;
        }
        *is_read = false;
        done = bdrv_copy_range(e->cfg.source, e->cfg.target, off, n, errp);
        if (done < 0) {
            return -1;
        }
        if (done > 0) {
            add_run(c, off, done, COPY_RUN_DONE);
            n = done;
            continue;
        }
        if (!c->buf) {
            c->buf = g_malloc(c->bytes);
        }
        *is_read = true;
        if (bdrv_pread(e->cfg.source, off, n,
                       (uint8_t *)c->buf + (off - c->offset), errp) < 0) {
            return -1;
        }
        add_run(c, off, n, COPY_RUN_DATA);
    }
    return 0;
}

/* The target's "file" node, if it has one right below (or is one). */
static BlockDriverState *target_file(CopyEngine *e)
{
    BlockDriverState *t = e->cfg.target;
    BlockDriverState *leaf = t->file ? t->file : t;

    return leaf->drv == &bdrv_file ? leaf : NULL;
}

static void start_writeback(CopyEngine *e, int64_t bytes)
{
    BlockDriverState *leaf = target_file(e);
    gint n = (gint)MIN(bytes, G_MAXINT / 2);

    if (g_atomic_int_add(&e->unflushed, n) + n < COPY_ENGINE_WRITEBACK_BYTES) {
        return;
    }
    g_atomic_int_set(&e->unflushed, 0);
    if (!leaf) {
        return;
    }
    /* the whole file: a qcow2 target cannot map ranges for writing, and
     * only its dirty pages are written anyway */
    if (e->cfg.drop_behind) {
        bdrv_file_drop_behind(leaf);
    } else {
        bdrv_file_start_writeback(leaf, 0, 0);
    }
}

void copy_engine_target_flushed(CopyEngine *e)
{
    BlockDriverState *leaf = target_file(e);

    if (leaf && e->cfg.drop_behind) {
        bdrv_file_drop_behind(leaf); /* all clean now: all of it goes */
    }
}

/* The write phase: what the read phase found, into the target. */
static int chunk_write(CopyEngine *e, CopyChunk *c, GError **errp)
{
    for (guint i = 0; i < c->runs->len; i++) {
        CopyRun *r = &g_array_index(c->runs, CopyRun, i);
        int ret = 0;

        if (r->kind == COPY_RUN_ZERO) {
            ret = bdrv_pwrite_zeroes(e->cfg.target, r->offset, r->bytes,
                                     BDRV_REQ_MAY_UNMAP, errp);
        } else if (r->kind == COPY_RUN_DATA) {
            ret = bdrv_pwrite(e->cfg.target, r->offset, r->bytes,
                              (uint8_t *)c->buf + (r->offset - c->offset),
                              errp);
        }
        if (ret < 0) {
            return -1;
        }
    }
    start_writeback(e, c->bytes);
    return 0;
}

static void report_copied(CopyEngine *e, int64_t bytes)
{
    if (e->cfg.copied) {
        e->cfg.copied(e->cfg.opaque, bytes);
    }
}

/* ---- range states ---- */

/* Wait on cond until woken (or @deadline, monotonic, unless -1). */
static void wait_locked(CopyEngine *e, gint64 deadline)
{
    e->waiters++;
    if (deadline < 0) {
        g_cond_wait(&e->cond, &e->lock);
    } else {
        g_cond_wait_until(&e->cond, &e->lock, deadline);
    }
    e->waiters--;
}

static void wake_locked(CopyEngine *e)
{
    if (e->waiters > 0) {
        g_cond_broadcast(&e->cond);
    }
}

/* Set (@set) or clear the read_map bits of [offset, offset + bytes). */
static void read_map_change(CopyEngine *e, int64_t offset, int64_t bytes,
                            bool set)
{
    int64_t g = e->cfg.granularity;
    int64_t last = (offset + bytes - 1) / g;

    if (!e->read_map || bytes <= 0) {
        return;
    }
    for (int64_t i = offset / g; i <= last; i++) {
        uint64_t bit = 1ULL << (i % 64);

        if (set) {
            __atomic_fetch_or(&e->read_map[i / 64], bit, __ATOMIC_RELEASE);
        } else {
            __atomic_fetch_and(&e->read_map[i / 64], ~bit, __ATOMIC_RELEASE);
        }
    }
}

/* Are the granules of [start, end) all read?  Any thread, no lock. */
static bool read_map_covers(CopyEngine *e, int64_t start, int64_t end)
{
    int64_t g = e->cfg.granularity;

    for (int64_t i = start / g; i < (end + g - 1) / g; i++) {
        uint64_t w = __atomic_load_n(&e->read_map[i / 64], __ATOMIC_ACQUIRE);

        if (!(w & (1ULL << (i % 64)))) {
            return false;
        }
    }
    return true;
}

static void claim_range_locked(CopyEngine *e, int64_t offset, int64_t bytes)
{
    hbitmap_reset(e->dirty, offset, bytes);
    hbitmap_set(e->busy, offset, bytes);
    hbitmap_set(e->reading, offset, bytes);
    e->busy_bytes += bytes;
}

static void read_end_locked(CopyEngine *e, CopyChunk *c)
{
    if (c->read_done) {
        read_map_change(e, c->offset, c->bytes, true);
    }
    hbitmap_reset(e->reading, c->offset, c->bytes);
    wake_locked(e);
}

/* The range is copied (or, @dirty, still to copy). */
static void range_end_locked(CopyEngine *e, int64_t offset, int64_t bytes,
                             bool dirty)
{
    hbitmap_reset(e->reading, offset, bytes);
    hbitmap_reset(e->busy, offset, bytes);
    if (dirty) {
        hbitmap_set(e->dirty, offset, bytes);
    }
    e->busy_bytes -= bytes;
    wake_locked(e);
}

/* ---- pool chunks ---- */

/* A chunk's end on the pool: copied, or a failure for the worker. */
static void chunk_finish(CopyEngine *e, CopyChunk *c, int ret, bool is_read,
                         GError *err)
{
    if (ret == 0) {
        report_copied(e, c->bytes);
    }
    g_mutex_lock(&e->lock);
    if (c->deferred) {
        e->deferred_bytes -= c->bytes;
    } else {
        e->in_flight--;
    }
    e->pool_tasks--;
    if (ret < 0) {
        /* what was read before the source changed cannot be read again */
        bool keep = e->cfg.point_in_time && c->read_done;
        CopyFailure *f = g_new0(CopyFailure, 1);

        *f = (CopyFailure) { .offset = c->offset, .bytes = c->bytes,
                             .is_read = is_read, .err = err };
        if (keep) {
            c->deferred = false; /* the worker's from now on */
            f->chunk = g_steal_pointer(&c);
        } else {
            range_end_locked(e, f->offset, f->bytes, true);
        }
        g_queue_push_tail(&e->failures, f);
    } else {
        range_end_locked(e, c->offset, c->bytes, false);
    }
    wake_locked(e);
    g_mutex_unlock(&e->lock);
    chunk_free(c);
}

static void chunk_worker(gpointer data, gpointer user_data)
{
    CopyChunk *c = data;
    CopyEngine *e = user_data;
    GError *err = NULL;
    bool is_read = false;
    int ret = 0;

    if (!c->read_done) {
        ret = chunk_read(e, c, &is_read, &err);
        g_mutex_lock(&e->lock);
        c->read_done = ret == 0;
        read_end_locked(e, c);
        g_mutex_unlock(&e->lock);
    }
    if (ret == 0) {
        is_read = false;
        ret = chunk_write(e, c, &err);
    }
    chunk_finish(e, c, ret, is_read, err);
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

static void push_locked(CopyEngine *e, CopyChunk *c)
{
    if (c->deferred) {
        e->deferred_bytes += c->bytes;
    } else {
        e->in_flight++;
    }
    e->pool_tasks++;
    g_thread_pool_push(e->pool, c, NULL);
}

/* Start the next chunk of at most @max bytes on the pool (a chunk to
 * write again first): its size, or 0 when none can start now (all slots
 * taken, or nothing dirty that is not busy). */
static int64_t start_chunk_locked(CopyEngine *e, int64_t max)
{
    int64_t len = e->cfg.len, start, n;
    CopyChunk *c;

    if (e->in_flight >= e->cfg.max_in_flight) {
        return 0;
    }
    c = g_queue_pop_head(&e->retry);
    if (c) {
        push_locked(e, c);
        return c->bytes;
    }
    if (!pick_locked(e, e->cursor, len, max, &start, &n) &&
        !(e->cfg.wrap && pick_locked(e, 0, len, max, &start, &n))) {
        return 0;
    }
    claim_range_locked(e, start, n);
    e->cursor = start + n;
    push_locked(e, chunk_new(start, n));
    return n;
}

/* The worker's chunks on the pool are over. */
static void drain(CopyEngine *e)
{
    g_mutex_lock(&e->lock);
    while (e->in_flight > 0) {
        wait_locked(e, -1);
    }
    g_mutex_unlock(&e->lock);
}

static void free_failure(gpointer p)
{
    CopyFailure *f = p;

    g_clear_error(&f->err);
    chunk_free(f->chunk);
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
    e->reading = hbitmap_new(cfg->len, cfg->granularity);
    g_queue_init(&e->failures);
    g_queue_init(&e->retry);
    if (cfg->point_in_time && cfg->defer_cbw) {
        int64_t granules = (cfg->len + cfg->granularity - 1) /
                           cfg->granularity;

        e->read_map = g_new0(uint64_t, (granules + 63) / 64);
    }
    e->pool = g_thread_pool_new(chunk_worker, e, e->cfg.max_in_flight,
                                FALSE, NULL);
    return e;
}

void copy_engine_free(CopyEngine *e)
{
    if (!e) {
        return;
    }
    g_thread_pool_free(e->pool, FALSE, TRUE); /* every chunk ends */
    g_queue_clear_full(&e->failures, free_failure);
    g_queue_clear_full(&e->retry, (GDestroyNotify)chunk_free);
    hbitmap_free(e->dirty);
    hbitmap_free(e->busy);
    hbitmap_free(e->reading);
    g_free(e->read_map);
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
        read_map_change(e, offset, bytes, false); /* to copy again */
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
    }
    g_mutex_lock(&e->lock);
    if (act == BLOCK_ERROR_ACTION_STOP) {
        /* parked at the next pause point; then copied again (or, with
         * the data it read kept, written again) */
        if (f->chunk) {
            g_queue_push_tail(&e->retry, g_steal_pointer(&f->chunk));
        }
        e->cursor = MIN(e->cursor, f->offset);
    } else if (f->chunk) {
        /* left uncopied (ignore), or the job fails (report): the data
         * read is dropped */
        read_map_change(e, f->offset, f->bytes, false);
        range_end_locked(e, f->offset, f->bytes, true);
    }
    g_mutex_unlock(&e->lock);
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
        wait_locked(e, g_get_monotonic_time() + COPY_ENGINE_POLL_US);
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
            drain(e); /* nothing of the job's in flight while paused */
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

/*
 * Claim the ranges of [start, end) to copy now (into @ranges, pieces of at
 * most max_chunk), after the copies over them: a copy-before-write of a
 * point-in-time engine waits only for their read phases (and skips what
 * they hold), anything else for the whole copy.
 */
static void claim_now_locked(CopyEngine *e, int64_t start, int64_t end,
                             bool dirty_only, GArray *ranges)
{
    HBitmap *wait = dirty_only && e->cfg.point_in_time ? e->reading : e->busy;
    int64_t s, n;

    while (hbitmap_next_dirty(wait, start, end) >= 0) {
        wait_locked(e, -1);
    }
    for (int64_t from = start; from < end; from = s + n) {
        CopyRange r;

        if (!dirty_only) {
            s = from;
            n = MIN(end - from, e->cfg.max_chunk);
        } else if (!pick_locked(e, from, end, e->cfg.max_chunk, &s, &n)) {
            break;
        }
        r = (CopyRange) { .offset = s, .bytes = n };
        g_array_append_val(ranges, r);
        claim_range_locked(e, s, n);
    }
}

/* The write of a copy-before-write, off the guest's path when the
 * engine may defer it and the budget allows: true when handed over. */
static bool defer_write(CopyEngine *e, CopyChunk *c, bool dirty_only)
{
    bool ok;

    if (!dirty_only || !e->cfg.defer_cbw) {
        return false;
    }
    g_mutex_lock(&e->lock);
    ok = e->deferred_bytes + c->bytes <= COPY_ENGINE_DEFER_BYTES;
    if (ok) {
        c->deferred = true;
        push_locked(e, c);
    }
    g_mutex_unlock(&e->lock);
    return ok;
}

/* One claimed range now; -1 with errp (the range is dirty again). */
static int copy_now_range(CopyEngine *e, const CopyRange *r, bool dirty_only,
                          GError **errp)
{
    CopyChunk *c = chunk_new(r->offset, r->bytes);
    bool is_read;
    int ret;

    if (e->cfg.fleecing) {
        /* see cfg.fleecing: no target read falls through meanwhile */
        bdrv_drained_begin(e->cfg.target);
    }
    ret = chunk_read(e, c, &is_read, errp);

    g_mutex_lock(&e->lock);
    c->read_done = ret == 0;
    read_end_locked(e, c);
    g_mutex_unlock(&e->lock);
    if (ret == 0 && !e->cfg.fleecing && defer_write(e, c, dirty_only)) {
        return 0; /* the pool writes it, the worker hears of failures */
    }
    if (ret == 0) {
        ret = chunk_write(e, c, errp);
    }
    if (e->cfg.fleecing) {
        bdrv_drained_end(e->cfg.target);
    }
    if (ret == 0) {
        report_copied(e, r->bytes);
    }
    /* on failure the caller's write does not happen: reading it again
     * later finds the same data (so a later write must copy it first) */
    g_mutex_lock(&e->lock);
    if (ret < 0) {
        read_map_change(e, r->offset, r->bytes, false);
    }
    range_end_locked(e, r->offset, r->bytes, ret < 0);
    g_mutex_unlock(&e->lock);
    chunk_free(c);
    return ret;
}

/* Granules [*start, *end) of a range inside the copy (false: outside). */
static bool granule_span(CopyEngine *e, int64_t offset, int64_t bytes,
                         int64_t *start, int64_t *end)
{
    int64_t g = e->cfg.granularity;

    if (!clip(e, &offset, &bytes)) {
        return false;
    }
    *start = offset - offset % g;
    *end = MIN((offset + bytes + g - 1) / g * g, e->cfg.len);
    return true;
}

bool copy_engine_cbw_is_noop(CopyEngine *e, int64_t offset, int64_t bytes)
{
    int64_t start, end;

    return !granule_span(e, offset, bytes, &start, &end) ||
           (e->read_map && read_map_covers(e, start, end));
}

/* [*start, *end) grown to the cbw_window around it (inside the copy). */
static void widen_to_window(CopyEngine *e, int64_t *start, int64_t *end)
{
    int64_t w = e->cfg.cbw_window;

    *start -= *start % w;
    *end = MIN((*end + w - 1) / w * w, e->cfg.len);
}

/* Copy the granules of [start, end) (all, or those still to copy). */
static int copy_span_now(CopyEngine *e, int64_t start, int64_t end,
                         bool dirty_only, GError **errp)
{
    g_autoptr(GArray) ranges = g_array_new(FALSE, FALSE, sizeof(CopyRange));
    int ret = 0;

    g_mutex_lock(&e->lock);
    claim_now_locked(e, start, end, dirty_only, ranges);
    g_mutex_unlock(&e->lock);
    for (guint i = 0; i < ranges->len; i++) {
        CopyRange *r = &g_array_index(ranges, CopyRange, i);

        if (ret < 0) {
            g_mutex_lock(&e->lock); /* not tried: still to copy */
            range_end_locked(e, r->offset, r->bytes, true);
            g_mutex_unlock(&e->lock);
        } else {
            ret = copy_now_range(e, r, dirty_only, errp);
        }
    }
    return ret;
}

int copy_engine_copy_now(CopyEngine *e, int64_t offset, int64_t bytes,
                         bool dirty_only, GError **errp)
{
    int64_t start, end, wstart, wend;

    if (!granule_span(e, offset, bytes, &start, &end)) {
        return 0;
    }
    if (dirty_only && e->read_map && read_map_covers(e, start, end)) {
        return 0; /* the old data is read: nothing to wait for */
    }
    wstart = start;
    wend = end;
    if (dirty_only && e->cfg.cbw_window > 0) {
        widen_to_window(e, &wstart, &wend);
    }
    if (wstart == start && wend == end) {
        return copy_span_now(e, start, end, dirty_only, errp);
    }
    /* an error elsewhere in the window is not the guest write's: what
     * failed is still to copy, and only the write's own part is retried */
    if (copy_span_now(e, wstart, wend, dirty_only, NULL) == 0) {
        return 0;
    }
    return copy_span_now(e, start, end, dirty_only, errp);
}
