/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-commit: copy what the layers from top down to (not including) base
 * allocate into base, then take those layers out of the chain.  This is
 * the job; the QMP command's checks are commit-qmp.c's.
 *
 * Non-active commit (top is below the device's active layer): base, and
 * the overlay above top when it is read-only, are reopened read-write for
 * the job (qemu_open(filename, O_RDWR): with /dev/fdset/N the manager must
 * have added an O_RDWR member).  On success the overlay's header names the
 * base by the name the chain itself used for it (never a /dev/fdset/ path)
 * and the overlay's backing becomes base.  Whatever happens, both are made
 * read-only again afterwards if they were, releasing the read-write fds.
 *
 * Active commit (top is the active layer): copy, then READY; on
 * block-job-complete base takes top's place (drives and exports switch to
 * it) and stays read-write, as QEMU leaves it.  Guest writes to top during
 * the job reach base too (write-copy.h): recorded while the copy runs,
 * copied before READY, and from then on copied as they land.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/commit.h"
#include "block/filter.h"
#include "block/graph.h"
#include "block/write-copy.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define COMMIT_CHUNK (8 * 1024 * 1024)
/* What active commit (QEMU's mirror job) lets others do to top. */
#define COMMIT_ACTIVE_SHARED                                                   \
    (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)

typedef struct CommitJob {
    BlockJob common;
    BlockDriverState *root; /* the device */
    BlockDriverState *top;
    BlockDriverState *base;
    BlockDriverState *overlay; /* above top; NULL for active commit */
    bool base_was_ro;
    bool overlay_was_ro;
    bool pivoted;
    char *backing_name; /* recorded in overlay (non-active) */
    BlockDriverState *filter; /* commit_top below overlay / mirror_top */
    BdrvWriteCopy *wcopy;     /* active: guest writes to top reach base */
    BlockdevOnError on_error;
    int64_t counted_end; /* worker: progress counted up to here */
} CommitJob;


/* ---- the worker ---- */

/* Allocated bytes above base, for active commit's progress. */
static int64_t commit_count(CommitJob *s, int64_t len, GError **errp)
{
    int64_t total = 0;

    for (int64_t off = 0, n; off < len; off += n) {
        int ret = bdrv_is_allocated_above(s->top, s->base, off,
                                          MIN(len - off, INT32_MAX), &n, errp);

        if (ret < 0) {
            return -1;
        }
        total += ret ? n : 0;
    }
    return total;
}

static int commit_prepare_base(CommitJob *s, int64_t len, GError **errp)
{
    int64_t base_len = bdrv_getlength(s->base);
    GError *err = NULL;

    if (base_len < 0) {
        error_setg(errp, "Could not get the length of '%s'",
                   s->base->node_name);
        return -1;
    }
    if (base_len < len && bdrv_truncate(s->base, len, &err) < 0) {
        error_setg(errp,
                   "Top image %s is larger than base image %s, and "
                   "resize of base image failed: %s",
                   s->top->filename, s->base->filename, err->message);
        g_error_free(err);
        return -1;
    }
    return 0;
}

/* One chunk being written to the base while the next one is read. */
typedef struct CommitWrite {
    BlockDriverState *base;
    int64_t off;
    int64_t bytes;
    void *buf;
    GError *err;
    int ret;
    GThread *thread;
} CommitWrite;

static gpointer commit_write_chunk(gpointer opaque)
{
    CommitWrite *w = opaque;

    w->ret = bdrv_pwrite(w->base, w->off, w->bytes, w->buf, &w->err);
    return NULL;
}

/* Wait for the chunk in flight, if any; -1 (and errp) if it failed. */
static int commit_write_wait(CommitWrite *w, GError **errp)
{
    if (!w->thread) {
        return 0;
    }
    g_thread_join(w->thread);
    w->thread = NULL;
    if (w->ret < 0) {
        g_propagate_error(errp, w->err);
        w->err = NULL;
        return -1;
    }
    bdrv_start_writeback(w->base, w->off, w->bytes);
    return 0;
}

static void commit_write_start(CommitWrite *w, CommitJob *s, int64_t off,
                               int64_t bytes, void *buf)
{
    *w = (CommitWrite) { .base = s->base, .off = off, .bytes = bytes,
                         .buf = buf };
    w->thread = g_thread_new("commit-write", commit_write_chunk, w);
}

/* Large chunks for speed; a rate-limited job moves in small steps so its
 * progress and cancellation stay prompt. */
static int64_t commit_chunk_size(CommitJob *s)
{
    int64_t speed = s->common.speed;

    if (speed <= 0) {
        return COMMIT_CHUNK;
    }
    return CLAMP(speed / 8, 64 * 1024, COMMIT_CHUNK) & ~(int64_t)4095;
}

/*
 * Top's own data in [off, off+n), copied inside the kernel when top and base
 * keep it as plain file bytes (a qcow2 data run into a raw base): one copy
 * through the page cache instead of a read and a write.  Returns the bytes
 * done from @off (0: none, the caller reads and writes), -1 on error.
 */
static int64_t commit_offload(CommitJob *s, int64_t off, int64_t n,
                              GError **errp)
{
    int64_t done = 0, k = 0;

    /* A chunk may still be in flight to base: another range, and the
     * file node's lock keeps the two writes apart. */
    while (done < n && (k = bdrv_copy_range(s->top, s->base, off + done,
                                            n - done, errp)) > 0) {
        done += k;
    }
    if (done > 0) {
        bdrv_start_writeback(s->base, off, done);
    }
    return k < 0 ? -1 : done;
}

/* Count [off, off+n) in the progress once, even when an error policy
 * makes the job copy it again. */
static void commit_progress(CommitJob *s, int64_t off, int64_t n)
{
    int64_t end = off + n;

    if (end > s->counted_end) {
        block_job_progress_update(&s->common, end - MAX(off, s->counted_end));
        s->counted_end = end;
    }
}

/*
 * One allocated run [off, off+n): offloaded where possible, otherwise
 * read into @buf while the chunk before is still being written.  On error
 * *fail_off is where copying must start again and *is_read what failed.
 */
static int commit_one(CommitJob *s, CommitWrite *w, void *buf, int64_t off,
                      int64_t n, int64_t *fail_off, bool *is_read,
                      GError **errp)
{
    int64_t done = commit_offload(s, off, n, errp);

    *fail_off = off;
    *is_read = false;
    if (done < 0) {
        return -1;
    }
    if (done == n) {
        return 1; /* no buffer used */
    }
    if (bdrv_pread(s->top, off + done, n - done, buf, errp) < 0) {
        *is_read = true;
        return -1;
    }
    *fail_off = w->off;
    if (commit_write_wait(w, errp) < 0) {
        return -1;
    }
    commit_write_start(w, s, off + done, n - done, buf);
    return 0;
}

/*
 * An error at *off: the job's on-error policy decides.  Report: -1 with
 * errp.  Otherwise (after a "stop", the worker parks at the next pause
 * point) the copy starts again at the first range that may be missing.
 */
static int commit_on_error(CommitJob *s, CommitWrite *w, GError *err,
                           bool is_read, int64_t *off, GError **errp)
{
    int64_t in_flight = w->off;
    GError *werr = NULL;

    if (commit_write_wait(w, &werr) < 0) {
        *off = MIN(*off, in_flight);
        g_error_free(werr);
    }
    if (block_job_error_action(&s->common, s->on_error, is_read, err) ==
        BLOCK_ERROR_ACTION_REPORT) {
        g_propagate_error(errp, err);
        return -1;
    }
    g_error_free(err);
    return 0;
}

/*
 * Copy what top..above-base allocate into base: offloaded where possible,
 * otherwise reading chunk k+1 from the top while chunk k is written to the
 * base (different nodes, so the two never wait on each other's lock).
 */
static int commit_copy(CommitJob *s, int64_t len, bool count_all, GError **errp)
{
    void *bufs[2] = { g_aligned_alloc(COMMIT_CHUNK, 1, 4096),
                      g_aligned_alloc(COMMIT_CHUNK, 1, 4096) };
    CommitWrite w = { 0 };
    int64_t chunk = commit_chunk_size(s);
    int cur = 0;
    int ret = 0;

    for (int64_t off = 0, n; off < len || w.thread; off += n) {
        GError *err = NULL;
        int64_t fail_off = off;
        bool is_read = true;

        n = 0;
        if (off >= len) {
            /* the last chunk's write: its error goes through the policy */
            fail_off = w.off;
            is_read = false;
            ret = commit_write_wait(&w, &err);
        } else {
            block_job_pause_point(&s->common);
            if (block_job_is_cancelled(&s->common)) {
                break;
            }
            ret = bdrv_is_allocated_above(s->top, s->base, off,
                                          MIN(chunk, len - off), &n, &err);
        }
        if (ret == 1) {
            ret = commit_one(s, &w, bufs[cur], off, n, &fail_off, &is_read,
                             &err);
            cur ^= ret == 0;
            ret = ret < 0 ? -1 : 1;
        }
        if (ret < 0) {
            n = 0;
            off = fail_off;
            if (commit_on_error(s, &w, err, is_read, &off, errp) < 0) {
                break;
            }
            ret = 0;
            continue;
        }
        if (ret == 1 || count_all) {
            commit_progress(s, off, n);
        }
        if (ret == 1) {
            block_job_ratelimit(&s->common, n);
        }
        ret = 0;
    }
    if (commit_write_wait(&w, ret < 0 ? NULL : errp) < 0) {
        ret = -1;
    }
    g_aligned_free(bufs[0]);
    g_aligned_free(bufs[1]);
    return ret;
}

static int commit_run(BlockJob *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    int64_t len = bdrv_getlength(s->top);
    int64_t total = len;

    if (len < 0) {
        error_setg(errp, "Could not get the length of '%s'", s->top->node_name);
        return -1;
    }
    if (!s->overlay) {
        total = commit_count(s, len, errp);
        if (total < 0) {
            return -1;
        }
    }
    block_job_progress_set_total(job, total);
    if (commit_prepare_base(s, len, errp) < 0 ||
        commit_copy(s, len, s->overlay != NULL, errp) < 0) {
        return -1;
    }
    if (block_job_is_cancelled(job)) {
        return 0;
    }
    /* what the guest wrote meanwhile; later writes are copied at once */
    if (s->wcopy && bdrv_write_copy_sync(s->wcopy, errp) < 0) {
        return -1;
    }
    return bdrv_flush(s->base, errp);
}

/* ---- completion, on the main loop ---- */

static int commit_prepare(BlockJob *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    g_autofree char *full = NULL;
    BdrvBackingMode mode = BDRV_BACKING_EXPLICIT;

    if (bdrv_change_backing_file(s->overlay, s->backing_name,
                                 s->base->drv->format_name, errp) < 0) {
        return -1;
    }
    full = bdrv_backing_full_name(s->overlay);
    if (full && g_str_equal(full, s->base->filename)) {
        mode = BDRV_BACKING_HEADER;
    }
    return bdrv_set_backing(s->overlay, s->base, mode, errp) ? 0 : -1;
}

/* Active: the filter's users go back to top (before the pivot moves
 * them).  Non-active: top goes back under its overlay unless prepare
 * already gave the overlay base. */
static void commit_drop_filter(CommitJob *s)
{
    if (!s->filter) {
        return;
    }
    if (s->overlay) {
        bdrv_filter_remove_below(g_steal_pointer(&s->filter), s->overlay);
    } else {
        block_job_remove_bdrv(&s->common, s->filter);
        bdrv_filter_remove(g_steal_pointer(&s->filter));
    }
}

static int commit_active_prepare(BlockJob *job, GError **errp)
{
    CommitJob *s = (CommitJob *)job;
    BlockBackend *blk;

    /* a copy that failed in a writer's thread is retried now */
    if (bdrv_write_copy_sync(s->wcopy, errp) < 0 ||
        bdrv_flush(s->base, errp) < 0) {
        return -1;
    }
    commit_drop_filter(s);
    while ((blk = blk_by_root(s->top))) {
        if (!blk_set_root(blk, s->base, errp)) {
            return -1;
        }
    }
    if (!bdrv_replace_in_parents(s->top, s->base, errp)) {
        return -1;
    }
    s->pivoted = true;
    /* no write reaches top any more (the export's gate saw to it) */
    bdrv_write_copy_stop(g_steal_pointer(&s->wcopy));
    return 0;
}

static void reopen_back(BlockDriverState *bs)
{
    GError *err = NULL;

    if (!bdrv_reopen_set_read_only(bs, true, false, &err)) {
        g_warning("Could not make '%s' read-only again: %s", bs->node_name,
                  err->message);
        g_error_free(err);
    }
}

static void commit_clean(BlockJob *job)
{
    CommitJob *s = (CommitJob *)job;

    bdrv_write_copy_stop(g_steal_pointer(&s->wcopy));
    /* writers gone first, so that the nodes may become read-only */
    block_job_drop_perms(job);
    commit_drop_filter(s);

    if (s->overlay && s->overlay_was_ro) {
        reopen_back(s->overlay);
    }
    if (s->base_was_ro && !s->pivoted) {
        reopen_back(s->base);
    }
    g_free(s->backing_name);
}

static const BlockJobDriver commit_driver = {
    .type = JOB_TYPE_COMMIT,
    .instance_size = sizeof(CommitJob),
    .run = commit_run,
    .prepare = commit_prepare,
    .clean = commit_clean,
};

static const BlockJobDriver commit_active_driver = {
    .type = JOB_TYPE_COMMIT,
    .instance_size = sizeof(CommitJob),
    .run = commit_run,
    .needs_complete = true,
    .prepare = commit_active_prepare,
    .clean = commit_clean,
};

/* ---- starting the job ---- */

/*
 * Reference and block every node the job touches, with QEMU 7.2's
 * permissions: the layers that go away cannot be read consistently by
 * anyone else meanwhile (non-active commit), nor resized.
 */
static bool commit_add_nodes(CommitJob *s, GError **errp)
{
    BlockJob *job = &s->common;
    uint64_t shared = BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED;

    if (!s->overlay) {
        shared |= BLK_PERM_CONSISTENT_READ; /* the active layer's readers */
    }
    /* active: QEMU's mirror job, "source" here and "main node" on its
     * filter (commit_insert_filter) */
    if (!block_job_add_bdrv(job, s->overlay ? "main node" : "source", s->root,
                            0, s->overlay ? BLK_PERM_ALL : COMMIT_ACTIVE_SHARED,
                            false, errp)) {
        return false;
    }
    /* the layers between the device and top: QEMU 7.2 holds none of them
     * (measured: no "overlay of top" edge) */
    for (BlockDriverState *it = s->top; it != s->base;
         it = bdrv_backing_next(it)) {
        if (it != s->root &&
            !block_job_add_bdrv(job, "intermediate node", it, 0, shared,
                                it == s->top && s->overlay, errp)) {
            return false;
        }
    }
    /* QEMU's names: a non-active commit's "base"; an active commit is a
     * mirror job, whose base is its "target" */
    return block_job_add_bdrv(job, s->overlay ? "base" : "target", s->base, 0,
                              BLK_PERM_ALL, true, errp);
}

/* What the job writes base through: QEMU's unnamed BlockBackend on it. */
static bool commit_take_base(CommitJob *s, GError **errp)
{
    uint64_t perm = BLK_PERM_WRITE, shared = BLK_PERM_WRITE_UNCHANGED;
    int64_t top_len = bdrv_getlength(s->top);

    if (s->overlay) {
        perm |= BLK_PERM_CONSISTENT_READ;
        shared |= BLK_PERM_CONSISTENT_READ;
    } else {
        shared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE;
    }
    if (top_len > bdrv_getlength(s->base)) {
        perm |= BLK_PERM_RESIZE;
    }
    /* non-active: QEMU also reads top through a BlockBackend of its own,
     * taking nothing */
    if (s->overlay &&
        !block_job_add_user(&s->common, s->top, 0, BLK_PERM_ALL, errp)) {
        return false;
    }
    return block_job_add_user(&s->common, s->base, perm, shared, errp) != NULL;
}

/* Make base (and a read-only overlay) writable for the job. */
static bool commit_reopen_rw(CommitJob *s, GError **errp)
{
    s->base_was_ro = s->base->read_only;
    if (!bdrv_reopen_set_read_only(s->base, false, true, errp)) {
        s->base_was_ro = false;
        return false;
    }
    if (!s->overlay) {
        return true;
    }
    s->overlay_was_ro = s->overlay->read_only;
    if (!bdrv_reopen_set_read_only(s->overlay, false, true, errp)) {
        s->overlay_was_ro = false;
        if (s->base_was_ro) {
            reopen_back(s->base);
            s->base_was_ro = false;
        }
        return false;
    }
    return true;
}

/*
 * QEMU 7.2's filter while the job runs, named by filter-node-name or
 * implicitly: non-active, a commit_top between top and its overlay;
 * active, a mirror_top above top, which its exports and drive use, held
 * by the job as its "main node".
 */
static bool commit_insert_filter(CommitJob *s, const char *name, GError **errp)
{
    if (s->overlay) {
        s->filter = bdrv_filter_insert_below(&bdrv_commit_top_filter, name,
                                             s->overlay, errp);
        /* not marked busy: QEMU's blockdev-del says "used as backing hd",
         * another job finds top busy */
        return s->filter != NULL;
    }
    s->filter =
        bdrv_filter_insert(&bdrv_commit_mirror_top_filter, name, s->top, errp);
    return s->filter &&
           block_job_add_bdrv(&s->common, "main node", s->filter,
                              BLK_PERM_CONSISTENT_READ, COMMIT_ACTIVE_SHARED,
                              false, errp);
}

bool commit_job_start(const CommitArgs *a, const char *job_id,
                      BlockDriverState *root, BlockDriverState *top,
                      BlockDriverState *base, char *backing_name,
                      GError **errp)
{
    g_autofree char *name = backing_name; /* ours, also on failure */
    bool active = top == root;
    CommitJob *s;

    s = (CommitJob *)block_job_create(
        job_id, active ? &commit_active_driver : &commit_driver,
        a->speed, a->auto_finalize, a->auto_dismiss, errp);
    if (!s) {
        return false;
    }
    s->root = root;
    s->top = top;
    s->base = base;
    s->overlay = active ? NULL : bdrv_find_overlay(root, top);
    s->backing_name = g_steal_pointer(&name);
    s->on_error = a->on_error;
    if (!commit_add_nodes(s, errp)) {
        g_free(s->backing_name);
        block_job_early_fail(&s->common);
        return false;
    }
    if (!commit_reopen_rw(s, errp)) {
        g_free(s->backing_name);
        block_job_early_fail(&s->common);
        return false;
    }
    if (!commit_take_base(s, errp) ||
        !commit_insert_filter(s, a->filter_node_name, errp)) {
        block_job_drop_perms(&s->common);
        commit_clean(&s->common);
        block_job_early_fail(&s->common);
        return false;
    }
    if (active) {
        s->wcopy = bdrv_write_copy_start(top, base);
    }
    block_job_start(&s->common);
    return true;
}

