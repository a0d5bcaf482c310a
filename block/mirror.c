/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-mirror / drive-mirror: copy a node to a target and keep the copy
 * in sync until job-complete switches every user of the source onto the
 * target (or a cancel leaves them on the source).
 *
 * Guest writes to the source are seen by a write hook (write-hook.h):
 * in background mode it marks them in a dirty bitmap that the worker
 * copies again; in write-blocking mode (and for the final drain before the
 * switch) it copies them to the target itself before the write completes.
 * Why it converges: the worker clears a range's bits before it reads it,
 * and the hook sets them only after the write landed, so a write the
 * worker's read missed always leaves its bits set.  Synchronous copies and
 * the worker's chunks are serialised by copy_lock, so an older copy of a
 * range never lands on the target after a newer one.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/blockjob.h"
#include "block/filter.h"
#include "block/graph.h"
#include "block/write-hook.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/hbitmap.h"
#include "qemu/osdep.h"

#define MIRROR_DEFAULT_BUF (16 * 1024 * 1024)
#define MIRROR_IDLE_US (100 * 1000)

typedef struct MirrorJob {
    BlockJob common;
    BlockDriverState *source;
    BlockDriverState *target;
    BlockDriverState *to_replace;
    BlockDriverState *base;      /* sync top: the source's backing */
    BlockDriverState *target_backing; /* drive-mirror: set on completion */
    MirrorSyncMode sync;
    BlockdevOnError on_source_error, on_target_error;
    int64_t granularity, buf_size;
    bool target_was_ro;
    bool pivoted;
    BdrvWriteHook hook;
    bool hook_added;
    char *filter_name;        /* filter-node-name, or NULL */
    BlockDriverState *filter; /* mirror_top above the source meanwhile */
    GMutex dirty_lock;  /* dirty */
    HBitmap *dirty;
    GMutex copy_lock;   /* a chunk copy or a synchronous copy at a time */
    bool sync_writes;   /* under copy_lock: the hook copies writes itself */
    int64_t copied;     /* worker: bytes copied, for the progress */
} MirrorJob;

typedef struct MirrorArgs {
    const char *job_id, *device, *replaces, *filter_node_name;
    MirrorSyncMode sync;
    MirrorCopyMode copy_mode;
    BlockdevOnError on_source_error, on_target_error;
    int64_t speed, granularity, buf_size;
    bool auto_finalize, auto_dismiss;
    bool target_backing; /* drive-mirror top/none */
} MirrorArgs;

/* ---- dirty tracking ---- */

static void mirror_set_dirty(MirrorJob *s, int64_t off, int64_t bytes)
{
    g_mutex_lock(&s->dirty_lock);
    hbitmap_set(s->dirty, off, bytes);
    g_mutex_unlock(&s->dirty_lock);
}

static int64_t mirror_dirty_count(MirrorJob *s)
{
    int64_t n;

    g_mutex_lock(&s->dirty_lock);
    n = hbitmap_count(s->dirty);
    g_mutex_unlock(&s->dirty_lock);
    return n;
}

/* Copy [off, off+bytes) source -> target; -1 with *is_read and errp. */
static int mirror_copy_range(MirrorJob *s, void *buf, int64_t off,
                             int64_t bytes, bool *is_read, GError **errp)
{
    int64_t done;

    *is_read = false;
    done = bdrv_copy_range(s->source, s->target, off, bytes, errp);
    if (done < 0) {
        return -1;
    }
    while (done < bytes) {
        int64_t n = MIN(bytes - done, s->buf_size);

        *is_read = true;
        if (bdrv_pread(s->source, off + done, n, buf, errp) < 0) {
            return -1;
        }
        *is_read = false;
        if (bdrv_pwrite(s->target, off + done, n, buf, errp) < 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

/* The write hook, after every write, write of zeroes or discard on the
 * source, in the writer's thread. */
static void mirror_after_write(BdrvWriteHook *hook, BlockDriverState *bs,
                               int64_t offset, int64_t bytes,
                               BdrvWriteKind kind, int ret)
{
    MirrorJob *s = hook->opaque;
    int64_t len = hbitmap_size(s->dirty);

    if (bytes <= 0 || offset >= len) {
        return;
    }
    bytes = MIN(bytes, len - offset);
    g_mutex_lock(&s->copy_lock);
    if (s->sync_writes && ret == 0) {
        g_autofree void *buf = g_malloc(MIN(bytes, s->buf_size));
        GError *err = NULL;
        bool is_read;

        if (mirror_copy_range(s, buf, offset, bytes, &is_read, &err) < 0) {
            /* the worker retries it under the job's error policy */
            mirror_set_dirty(s, offset, bytes);
            g_error_free(err);
        }
    } else {
        mirror_set_dirty(s, offset, bytes);
    }
    g_mutex_unlock(&s->copy_lock);
    block_job_kick(&s->common);
}

/* ---- the worker ---- */

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
            mirror_set_dirty(s, off, n);
        }
        if (block_job_is_cancelled(&s->common)) {
            return 0;
        }
    }
    return 0;
}

/* ---- the worker's pipeline: chunk k is written while k+1 is read ---- */

typedef struct MirrorWrite {
    MirrorJob *s;
    int64_t off, bytes;
    void *buf;
    GError *err;
    int ret;
    GThread *thread;
} MirrorWrite;

/*
 * Hand what the target's file holds so far to the kernel's writeback: the
 * disk writes then overlap the copy and the flush before READY finds
 * little left.  A qcow2 target cannot map its ranges for writing, so the
 * whole file is asked for (it is cheap: only dirty pages are written).
 */
static void mirror_start_writeback(MirrorJob *s)
{
    BlockDriverState *leaf = s->target->file ? s->target->file : s->target;

    if (leaf->drv == &bdrv_file) {
        bdrv_file_start_writeback(leaf, 0, 0);
    }
}

static gpointer mirror_write_chunk(gpointer opaque)
{
    MirrorWrite *w = opaque;

    w->ret = bdrv_pwrite(w->s->target, w->off, w->bytes, w->buf, &w->err);
    if (w->ret == 0) {
        mirror_start_writeback(w->s);
    }
    return NULL;
}

/* Wait for the chunk in flight; on error its range is dirty again. */
static int mirror_write_wait(MirrorWrite *w, GError **errp)
{
    if (!w->thread) {
        return 0;
    }
    g_thread_join(w->thread);
    w->thread = NULL;
    if (w->ret < 0) {
        mirror_set_dirty(w->s, w->off, w->bytes);
        g_propagate_error(errp, w->err);
        w->err = NULL;
        return -1;
    }
    return 0;
}

static void mirror_write_start(MirrorWrite *w, MirrorJob *s, int64_t off,
                               int64_t bytes, void *buf)
{
    *w = (MirrorWrite) { .s = s, .off = off, .bytes = bytes, .buf = buf };
    w->thread = g_thread_new("mirror-write", mirror_write_chunk, w);
}

/*
 * [start, start+n) (n <= buf-size) into the target: offloaded where the
 * files allow, else read into @buf and written in the background while
 * the next chunk is read.  With synchronous writes on (the hook copies
 * writes itself) nothing stays in flight, so a hook's newer copy can never
 * be overtaken by an older one.
 */
static int mirror_copy_chunk(MirrorJob *s, MirrorWrite *w, void *buf,
                             int64_t start, int64_t n, bool *is_read,
                             GError **errp)
{
    int64_t done;

    *is_read = false;
    done = bdrv_copy_range(s->source, s->target, start, n, errp);
    if (done < 0) {
        return -1;
    }
    if (done == n) {
        return 0;
    }
    *is_read = true;
    if (bdrv_pread(s->source, start + done, n - done, buf, errp) < 0) {
        return -1;
    }
    *is_read = false;
    if (mirror_write_wait(w, errp) < 0) {
        return -1;
    }
    if (s->sync_writes) {
        return bdrv_pwrite(s->target, start + done, n - done, buf, errp);
    }
    mirror_write_start(w, s, start + done, n - done, buf);
    return 1; /* @buf is in use */
}

/* Copy the next dirty area (at most buf-size) from *cursor on.  1 when
 * something was copied (or is on its way), 0 when nothing is dirty and
 * nothing in flight, -1 on error (the bits are set again). */
static int mirror_iteration(MirrorJob *s, MirrorWrite *w, void **bufs,
                            int *cur, int64_t *cursor, int64_t *bytes,
                            bool *is_read, GError **errp)
{
    uint64_t len = hbitmap_size(s->dirty), start, n;
    bool found;
    int ret;

    g_mutex_lock(&s->copy_lock);
    g_mutex_lock(&s->dirty_lock);
    found = hbitmap_next_dirty_area(s->dirty, *cursor, len, s->buf_size,
                                    &start, &n) ||
            hbitmap_next_dirty_area(s->dirty, 0, len, s->buf_size, &start, &n);
    if (found) {
        hbitmap_reset(s->dirty, start, n);
    }
    g_mutex_unlock(&s->dirty_lock);
    if (!found) {
        *is_read = false;
        ret = mirror_write_wait(w, errp);
        g_mutex_unlock(&s->copy_lock);
        return ret < 0 ? -1 : 0;
    }
    ret = mirror_copy_chunk(s, w, bufs[*cur], start, n, is_read, errp);
    if (ret < 0) {
        mirror_set_dirty(s, start, n);
    } else if (ret == 1) {
        *cur ^= 1;
    }
    g_mutex_unlock(&s->copy_lock);
    *cursor = start + n;
    *bytes = n;
    return ret < 0 ? -1 : 1;
}

/* An error under the source or target policy: -1 (errp) to fail. */
static int mirror_on_error(MirrorJob *s, bool is_read, GError *err,
                           GError **errp)
{
    BlockdevOnError policy = is_read ? s->on_source_error : s->on_target_error;

    if (block_job_error_action(&s->common, policy, is_read, err) ==
        BLOCK_ERROR_ACTION_REPORT) {
        g_propagate_error(errp, err);
        return -1;
    }
    g_error_free(err); /* ignore or stop: the bits are set, it is retried */
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
        g_mutex_lock(&s->copy_lock);
        s->sync_writes = true; /* from now on the hook copies each write */
        g_mutex_unlock(&s->copy_lock);
        if (mirror_dirty_count(s) == 0) {
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
    int64_t len = hbitmap_size(s->dirty), cursor = 0;
    void *bufs[2] = { g_malloc(s->buf_size), g_malloc(s->buf_size) };
    MirrorWrite w = { 0 };
    int cur = 0;
    int ret = 0;

    if (mirror_dirty_init(s, len, errp) < 0) {
        ret = -1;
    }
    while (ret == 0 && !mirror_hard_cancelled(job)) {
        GError *err = NULL;
        int64_t n = 0;
        bool is_read;

        block_job_pause_point(job);
        block_job_progress_set_total(job, s->copied + mirror_dirty_count(s));
        ret = mirror_iteration(s, &w, bufs, &cur, &cursor, &n,
                               &is_read, &err);
        if (ret < 0) {
            ret = mirror_on_error(s, is_read, err, errp);
        } else if (ret > 0) {
            s->copied += n;
            block_job_progress_update(job, n);
            block_job_ratelimit(job, n);
            ret = 0;
        } else if (mirror_caught_up(s, errp, &ret)) {
            break;
        }
    }
    mirror_write_wait(&w, NULL); /* cancelled or failed: the result is moot */
    g_free(bufs[0]);
    g_free(bufs[1]);
    return ret;
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
        bdrv_node(s->filter)->job = NULL;
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

    mirror_remove_hook(s);
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
    hbitmap_free(s->dirty);
    s->dirty = NULL;
    g_mutex_clear(&s->dirty_lock);
    g_mutex_clear(&s->copy_lock);
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

/* QEMU's default: the target's cluster size within [4k, 64k], else 64k. */
static int64_t default_granularity(BlockDriverState *target)
{
    int64_t cluster = 0;

    if (target->drv->bdrv_get_specific_info) {
        qapi_free_ImageInfoSpecific(
            target->drv->bdrv_get_specific_info(target, &cluster));
    }
    if (cluster <= 0) {
        return 65536;
    }
    return CLAMP(cluster, 4096, 65536);
}

static bool mirror_check_args(MirrorArgs *a, GError **errp)
{
    if (a->granularity != 0 &&
        (a->granularity < 512 || a->granularity > 64 * 1024 * 1024)) {
        error_setg(errp, "Parameter 'granularity' expects a value in range "
                         "[512B, 64MB]");
        return false;
    }
    if (a->granularity & (a->granularity - 1)) {
        error_setg(errp, "Parameter 'granularity' expects a power of 2");
        return false;
    }
    if (a->sync == MIRROR_SYNC_MODE_INCREMENTAL ||
        a->sync == MIRROR_SYNC_MODE_BITMAP) {
        error_setg(errp, "Sync mode '%s' not supported",
                   MirrorSyncMode_str(a->sync));
        return false;
    }
    if (a->buf_size < 0) {
        error_setg(errp, "Invalid parameter 'buf-size'");
        return false;
    }
    if (a->filter_node_name &&
        !bdrv_check_new_node_name(a->filter_node_name, errp)) {
        return false; /* QEMU 7.2: without stream's "Could not create" */
    }
    return true;
}

static BlockDriverState *mirror_root(const char *device, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(device, device, errp);

    if (bs && bdrv_has_parent(bs)) {
        error_setg(errp, "Need a root block node");
        return NULL;
    }
    return bs;
}

static bool mirror_check_nodes(BlockDriverState *bs, BlockDriverState *target,
                               GError **errp)
{
    for (BlockDriverState *it = bs; it; it = it->backing) {
        if (bdrv_node(it)->job && it == bs) {
            error_setg(errp,
                       "Node '%s' is busy: block device is in use by "
                       "block job: %s",
                       it->node_name, block_job_type(bdrv_node(it)->job));
            return false;
        }
    }
    if (bdrv_node(target)->job) {
        error_setg(errp,
                   "Node '%s' is busy: block device is in use by block "
                   "job: %s",
                   target->node_name, block_job_type(bdrv_node(target)->job));
        return false;
    }
    if (target == bs) {
        error_setg(errp, "Can't mirror node into itself");
        return false;
    }
    if (bdrv_chain_contains(bs, target)) {
        error_setg(errp, "Cannot mirror to an image in the source's "
                         "backing chain");
        return false;
    }
    if (bdrv_getlength(target) < bdrv_getlength(bs)) {
        error_setg(errp, "Source and target image have different sizes");
        return false;
    }
    return true;
}

static BlockDriverState *mirror_replaces(BlockDriverState *bs,
                                         const char *replaces, GError **errp)
{
    BlockDriverState *to_replace;

    if (!replaces) {
        return bs;
    }
    to_replace = bdrv_find_node(replaces);
    if (!to_replace) {
        error_setg(errp, "Failed to find node with node-name='%s'", replaces);
        return NULL;
    }
    if (to_replace != bs) {
        /* fdsetd has no filters: only the source itself shows its data */
        error_setg(errp,
                   "Cannot replace '%s' by a node mirrored from '%s', "
                   "because it cannot be guaranteed that doing so would "
                   "not lead to an abrupt change of visible data",
                   replaces, bs->node_name);
        return NULL;
    }
    return to_replace;
}

/* The job's nodes and permissions, the target writable, the hook. */
static bool mirror_setup(MirrorJob *s, GError **errp)
{
    BlockJob *job = &s->common;

    if (!block_job_add_bdrv(job, "main node", s->source, 0, BLK_PERM_ALL,
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
    if (!block_job_add_user(job, s->source, BLK_PERM_CONSISTENT_READ,
                            BLK_PERM_ALL, errp) ||
        !block_job_add_user(job, s->target, BLK_PERM_WRITE,
                            BLK_PERM_WRITE_UNCHANGED | BLK_PERM_WRITE |
                                BLK_PERM_CONSISTENT_READ,
                            errp)) {
        return false;
    }
    s->hook = (BdrvWriteHook) { .after = mirror_after_write, .opaque = s };
    bdrv_write_hook_add(s->source, &s->hook);
    s->hook_added = true;
    if (!s->filter_name) {
        return true;
    }
    s->filter = bdrv_filter_insert(&bdrv_mirror_top_filter, s->filter_name,
                                   s->source, errp);
    if (!s->filter) {
        return false;
    }
    bdrv_node(s->filter)->job = job; /* no other job on it meanwhile */
    return true;
}

static const char *mirror_job_id(const MirrorArgs *a, BlockDriverState *bs)
{
    BlockBackend *blk;

    if (a->job_id) {
        return a->job_id;
    }
    blk = blk_by_root(bs);
    return blk ? blk->id : "";
}

static void mirror_start(MirrorArgs *a, BlockDriverState *bs,
                         BlockDriverState *target, GError **errp)
{
    BlockDriverState *to_replace;
    MirrorJob *s;
    int64_t len = bdrv_getlength(bs);

    if (a->sync == MIRROR_SYNC_MODE_TOP && !bs->backing) {
        a->sync = MIRROR_SYNC_MODE_FULL; /* as QEMU does */
    }
    to_replace = mirror_replaces(bs, a->replaces, errp);
    if (!to_replace || !mirror_check_nodes(bs, target, errp)) {
        return;
    }
    s = (MirrorJob *)block_job_create(mirror_job_id(a, bs), &mirror_driver,
                                      a->speed, a->auto_finalize,
                                      a->auto_dismiss, errp);
    if (!s) {
        return;
    }
    s->source = bs;
    s->target = target;
    s->to_replace = to_replace;
    s->sync = a->sync;
    s->base = a->sync == MIRROR_SYNC_MODE_TOP ? bs->backing : NULL;
    if (a->target_backing && bs->backing) {
        s->target_backing = bs->backing;
        bdrv_ref(s->target_backing);
    }
    s->on_source_error = a->on_source_error;
    s->on_target_error = a->on_target_error;
    s->granularity = a->granularity ? a->granularity
                                    : default_granularity(target);
    s->buf_size = a->buf_size ? a->buf_size : MIRROR_DEFAULT_BUF;
    s->buf_size = MAX(s->buf_size, s->granularity);
    s->sync_writes = a->copy_mode == MIRROR_COPY_MODE_WRITE_BLOCKING;
    s->filter_name = g_strdup(a->filter_node_name);
    g_mutex_init(&s->dirty_lock);
    g_mutex_init(&s->copy_lock);
    s->dirty = hbitmap_new(len, s->granularity);
    if (!mirror_setup(s, errp)) {
        mirror_clean(&s->common);
        block_job_early_fail(&s->common);
        return;
    }
    block_job_start(&s->common);
}

#define OPT(has, v) ((has) ? (v) : NULL)

void qmp_blockdev_mirror(bool has_job_id, const char *job_id,
                         const char *device, const char *target,
                         bool has_replaces, const char *replaces,
                         MirrorSyncMode sync, bool has_speed, int64_t speed,
                         bool has_granularity, uint32_t granularity,
                         bool has_buf_size, int64_t buf_size,
                         bool has_on_source_error,
                         BlockdevOnError on_source_error,
                         bool has_on_target_error,
                         BlockdevOnError on_target_error,
                         bool has_filter_node_name,
                         const char *filter_node_name, bool has_copy_mode,
                         MirrorCopyMode copy_mode, bool has_auto_finalize,
                         bool auto_finalize, bool has_auto_dismiss,
                         bool auto_dismiss, GError **errp)
{
    MirrorArgs a = {
        .job_id = OPT(has_job_id, job_id),
        .device = device,
        .replaces = OPT(has_replaces, replaces),
        .filter_node_name = OPT(has_filter_node_name, filter_node_name),
        .sync = sync,
        .copy_mode = has_copy_mode ? copy_mode : MIRROR_COPY_MODE_BACKGROUND,
        .on_source_error = has_on_source_error ? on_source_error
                                               : BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = has_on_target_error ? on_target_error
                                               : BLOCKDEV_ON_ERROR_REPORT,
        .speed = has_speed ? speed : 0,
        .granularity = has_granularity ? granularity : 0,
        .buf_size = has_buf_size ? buf_size : 0,
        .auto_finalize = has_auto_finalize ? auto_finalize : true,
        .auto_dismiss = has_auto_dismiss ? auto_dismiss : true,
    };
    BlockDriverState *bs, *target_bs;

    bs = mirror_root(device, errp);
    if (!bs) {
        return;
    }
    target_bs = bdrv_lookup_bs(target, target, errp);
    if (!target_bs || !mirror_check_args(&a, errp)) {
        return;
    }
    mirror_start(&a, bs, target_bs, errp);
}

/* drive-mirror's target: the image at @arg->target, opened (mode
 * existing) without its backing chain. */
static BlockDriverState *drive_mirror_open(DriveMirror *arg, GError **errp)
{
    g_autoptr(JsonObject) opts = json_object_new();
    JsonObject *file = json_object_new();

    if (arg->has_format) {
        json_object_set_string_member(opts, "driver", arg->format);
    }
    if (arg->has_node_name) {
        json_object_set_string_member(opts, "node-name", arg->node_name);
    }
    json_object_set_null_member(opts, "backing");
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", arg->target);
    json_object_set_object_member(opts, "file", file);
    return bdrv_open_options_probe(opts, errp);
}

void qmp_drive_mirror(DriveMirror *arg, GError **errp)
{
    MirrorArgs a = {
        .job_id = OPT(arg->has_job_id, arg->job_id),
        .device = arg->device,
        .replaces = OPT(arg->has_replaces, arg->replaces),
        .sync = arg->sync,
        .copy_mode = arg->has_copy_mode ? arg->copy_mode
                                        : MIRROR_COPY_MODE_BACKGROUND,
        .on_source_error = arg->has_on_source_error ? arg->on_source_error
                                                    : BLOCKDEV_ON_ERROR_REPORT,
        .on_target_error = arg->has_on_target_error ? arg->on_target_error
                                                    : BLOCKDEV_ON_ERROR_REPORT,
        .speed = arg->has_speed ? arg->speed : 0,
        .granularity = arg->has_granularity ? arg->granularity : 0,
        .buf_size = arg->has_buf_size ? arg->buf_size : 0,
        .auto_finalize = arg->has_auto_finalize ? arg->auto_finalize : true,
        .auto_dismiss = arg->has_auto_dismiss ? arg->auto_dismiss : true,
        .target_backing = arg->sync != MIRROR_SYNC_MODE_FULL,
    };
    BlockDriverState *bs, *target;
    NewImageMode mode =
        arg->has_mode ? arg->mode : NEW_IMAGE_MODE_ABSOLUTE_PATHS;

    bs = mirror_root(arg->device, errp);
    if (!bs) {
        return;
    }
    if (mode != NEW_IMAGE_MODE_EXISTING) {
        error_setg(errp, "fdsetd creates no image by path: prepare '%s' and "
                         "give 'mode': 'existing'",
                   arg->target);
        return;
    }
    if (arg->has_replaces && !arg->has_node_name) {
        error_setg(errp, "a node-name must be provided when replacing a "
                         "named node of the graph");
        return;
    }
    if (!mirror_check_args(&a, errp)) {
        return;
    }
    target = drive_mirror_open(arg, errp);
    if (!target) {
        return;
    }
    mirror_start(&a, bs, target, errp);
    bdrv_unref(target); /* the job (then the switched users) hold it */
}
