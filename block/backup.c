/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-backup: a "backup" job copying a point-in-time image of a node
 * to a target, cluster by cluster (BACKUP_CLUSTER bytes).  @copy holds the
 * clusters still to copy; a write hook on the source copies the old data
 * of every cluster a guest write touches before the write lands
 * (copy-before-write).  copy_lock makes a cluster's copy one step, whether
 * the worker or a guest write does it.
 *
 * With a bitmap, its bits are taken at the start (it keeps recording the
 * writes that follow); when the job ends they are given back or not,
 * following bitmap-mode.
 */
#include "block/blockjob.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/write-hook.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"

#define BACKUP_CLUSTER (64 * 1024)

typedef struct BackupJob {
    BlockJob common;
    BlockDriverState *source;
    BlockDriverState *target;
    MirrorSyncMode sync;
    BdrvDirtyBitmap *bitmap; /* or NULL */
    BitmapSyncMode mode;
    HBitmap *frozen; /* the bitmap's bits at the start */
    HBitmap *copy;   /* clusters still to copy; under copy_lock */
    GMutex copy_lock;
    BdrvWriteHook cbw;
    bool hooked;
    BlockdevOnError on_source_error;
    BlockdevOnError on_target_error;
    int64_t len;
} BackupJob;

/* Copy cluster @off if still needed; copy_lock held.  *is_read tells
 * which side failed. */
static int copy_cluster_locked(BackupJob *s, int64_t off, void *buf,
                               bool *is_read, GError **errp)
{
    int64_t n = MIN(BACKUP_CLUSTER, s->len - off);
    int ret;

    if (!hbitmap_get(s->copy, off)) {
        return 0;
    }
    *is_read = true;
    ret = bdrv_pread(s->source, off, n, buf, errp);
    if (ret >= 0) {
        *is_read = false;
        ret = bdrv_pwrite(s->target, off, n, buf, errp);
    }
    if (ret < 0) {
        return ret;
    }
    hbitmap_reset(s->copy, off, n);
    if (s->sync == MIRROR_SYNC_MODE_NONE) {
        block_job_progress_add_total(&s->common, n); /* no plan: grows */
    }
    block_job_progress_update(&s->common, n);
    return 0;
}

static int copy_cluster(BackupJob *s, int64_t off, void *buf, bool *is_read,
                        GError **errp)
{
    int ret;

    g_mutex_lock(&s->copy_lock);
    ret = copy_cluster_locked(s, off, buf, is_read, errp);
    g_mutex_unlock(&s->copy_lock);
    return ret;
}

/* The write hook: the old data of [offset, offset+bytes) goes first. */
static int backup_before_write(BdrvWriteHook *hook, BlockDriverState *bs,
                               int64_t offset, int64_t bytes,
                               BdrvWriteKind kind, GError **errp)
{
    BackupJob *s = hook->opaque;
    g_autofree void *buf = g_malloc(BACKUP_CLUSTER);
    int64_t end = MIN(offset + bytes, s->len);

    (void)bs;
    (void)kind;
    for (int64_t off = offset - offset % BACKUP_CLUSTER; off < end;
         off += BACKUP_CLUSTER) {
        bool is_read;
        int ret = copy_cluster(s, off, buf, &is_read, errp);

        if (ret < 0) {
            return ret; /* the guest write fails rather than lose data */
        }
    }
    return 0;
}

/* sync=top: only what the source's own layer allocates. */
static int drop_unallocated(BackupJob *s, GError **errp)
{
    for (int64_t off = 0; off < s->len;) {
        int64_t pnum;
        int r = bdrv_is_allocated(s->source, off, s->len - off, &pnum, errp);

        if (r < 0) {
            return -1;
        }
        if (!r) {
            /* whole clusters only: a partly allocated one is copied */
            int64_t lo = (off + BACKUP_CLUSTER - 1) / BACKUP_CLUSTER *
                         BACKUP_CLUSTER;
            int64_t hi = (off + pnum == s->len) ? s->len
                         : (off + pnum) / BACKUP_CLUSTER * BACKUP_CLUSTER;

            if (hi > lo) {
                hbitmap_reset(s->copy, lo, hi - lo);
            }
        }
        off += pnum;
    }
    return 0;
}

/*
 * The worker's copy of cluster @off under the error policies: false with
 * errp when the job must fail.  "stop" parks the job (job-resume retries),
 * "ignore" leaves the cluster uncopied and goes on.
 */
static bool worker_copy(BackupJob *s, int64_t off, void *buf, GError **errp)
{
    for (;;) {
        GError *err = NULL;
        bool is_read = false;
        BlockErrorAction act;

        if (copy_cluster(s, off, buf, &is_read, &err) >= 0) {
            return true;
        }
        act = block_job_error_action(&s->common,
                                     is_read ? s->on_source_error
                                             : s->on_target_error,
                                     is_read, err);
        if (act == BLOCK_ERROR_ACTION_REPORT) {
            g_propagate_error(errp, err);
            return false;
        }
        g_error_free(err);
        if (act == BLOCK_ERROR_ACTION_IGNORE) {
            return true;
        }
        block_job_pause_point(&s->common); /* stop: until job-resume */
        if (block_job_is_cancelled(&s->common)) {
            return true;
        }
    }
}

static int backup_run(BlockJob *job, GError **errp)
{
    BackupJob *s = (BackupJob *)job;
    g_autofree void *buf = g_malloc(BACKUP_CLUSTER);
    int64_t off = 0;

    if (s->sync == MIRROR_SYNC_MODE_TOP) {
        g_mutex_lock(&s->copy_lock);
        if (drop_unallocated(s, errp) < 0) {
            g_mutex_unlock(&s->copy_lock);
            return -1;
        }
        g_mutex_unlock(&s->copy_lock);
    }
    g_mutex_lock(&s->copy_lock);
    block_job_progress_set_total(job, s->sync == MIRROR_SYNC_MODE_NONE
                                          ? 0 : hbitmap_count(s->copy));
    g_mutex_unlock(&s->copy_lock);
    while (s->sync != MIRROR_SYNC_MODE_NONE && !block_job_is_cancelled(job)) {
        g_mutex_lock(&s->copy_lock);
        off = hbitmap_next_dirty(s->copy, off, s->len);
        g_mutex_unlock(&s->copy_lock);
        if (off < 0) {
            break;
        }
        if (!worker_copy(s, off, buf, errp)) {
            return -1;
        }
        block_job_ratelimit(job, BACKUP_CLUSTER);
        block_job_pause_point(job);
        off += BACKUP_CLUSTER;
    }
    /* sync=none: only copy-before-write, until the job is cancelled */
    while (s->sync == MIRROR_SYNC_MODE_NONE && !block_job_is_cancelled(job)) {
        block_job_wait(job, G_USEC_PER_SEC);
        block_job_pause_point(job);
    }
    return bdrv_flush(s->target, errp) < 0 ? -1 : 0;
}

static void unhook(BackupJob *s)
{
    if (s->hooked) {
        bdrv_write_hook_remove(s->source, &s->cbw); /* waits for writers */
        s->hooked = false;
    }
}

static int backup_prepare(BlockJob *job, GError **errp)
{
    BackupJob *s = (BackupJob *)job;

    (void)errp;
    unhook(s);
    if (s->bitmap && s->mode == BITMAP_SYNC_MODE_NEVER) {
        bdrv_dirty_bitmap_merge_bits(s->bitmap, s->frozen);
    }
    return 0;
}

static void backup_abort(BlockJob *job)
{
    BackupJob *s = (BackupJob *)job;

    unhook(s);
    if (!s->bitmap) {
        return;
    }
    if (s->mode == BITMAP_SYNC_MODE_ALWAYS) {
        /* what was not copied stays dirty */
        g_autoptr(HBitmap) left = hbitmap_copy(s->frozen);

        hbitmap_reset_all(left);
        hbitmap_merge(left, s->copy);
        bdrv_dirty_bitmap_merge_bits(s->bitmap, left);
    } else {
        bdrv_dirty_bitmap_merge_bits(s->bitmap, s->frozen);
    }
}

static void backup_clean(BlockJob *job)
{
    BackupJob *s = (BackupJob *)job;

    unhook(s);
    block_job_drop_perms(job);
    if (s->bitmap) {
        bdrv_dirty_bitmap_set_busy(s->bitmap, false);
    }
    g_clear_pointer(&s->frozen, hbitmap_free);
    g_clear_pointer(&s->copy, hbitmap_free);
    g_mutex_clear(&s->copy_lock);
}

static const BlockJobDriver backup_driver = {
    .type = JOB_TYPE_BACKUP,
    .instance_size = sizeof(BackupJob),
    .run = backup_run,
    .prepare = backup_prepare,
    .abort = backup_abort,
    .clean = backup_clean,
};

/* ---- blockdev-backup ---- */

/* QEMU's order of the sync / bitmap / bitmap-mode checks. */
static BdrvDirtyBitmap *backup_bitmap(BlockdevBackup *a, BlockDriverState *bs,
                                      GError **errp)
{
    BdrvDirtyBitmap *bm;
    const char *sync = MirrorSyncMode_str(a->sync);

    if (a->sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        if (a->has_bitmap_mode &&
            a->bitmap_mode != BITMAP_SYNC_MODE_ON_SUCCESS) {
            error_setg(errp, "Bitmap sync mode must be 'on-success' when "
                       "using sync mode 'incremental'");
            return NULL;
        }
        a->has_bitmap_mode = true;
        a->bitmap_mode = BITMAP_SYNC_MODE_ON_SUCCESS;
    }
    if (!a->has_bitmap) {
        if (a->sync == MIRROR_SYNC_MODE_INCREMENTAL ||
            a->sync == MIRROR_SYNC_MODE_BITMAP) {
            error_setg(errp, "must provide a valid bitmap name for '%s' sync "
                       "mode", sync);
        } else if (a->has_bitmap_mode) {
            error_setg(errp, "Cannot specify bitmap sync mode without a "
                       "bitmap");
        }
        return NULL;
    }
    bm = bdrv_find_dirty_bitmap(bs, a->bitmap);
    if (!bm) {
        error_setg(errp, "Bitmap '%s' could not be found", a->bitmap);
        return NULL;
    }
    if (!a->has_bitmap_mode) {
        error_setg(errp, "Bitmap sync mode must be given when providing a "
                   "bitmap");
        return NULL;
    }
    if (!bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
        return NULL;
    }
    if (a->sync == MIRROR_SYNC_MODE_NONE) {
        error_setg(errp, "sync mode '%s' does not produce meaningful bitmap "
                   "outputs", sync);
        return NULL;
    }
    if (a->bitmap_mode == BITMAP_SYNC_MODE_NEVER &&
        a->sync != MIRROR_SYNC_MODE_BITMAP) {
        error_setg(errp, "Bitmap sync mode '%s' has no meaningful effect "
                   "when combined with sync mode '%s'",
                   BitmapSyncMode_str(a->bitmap_mode), sync);
        return NULL;
    }
    return bm;
}

static bool backup_check_target(BlockdevBackup *a, BlockDriverState *bs,
                                BlockDriverState *target, GError **errp)
{
    if (a->has_compress && a->compress) {
        error_setg(errp, "Compression is not supported for this drive %s",
                   bdrv_device_or_node_name(target));
        return false;
    }
    if (a->has_filter_node_name) {
        error_setg(errp, "Parameter 'filter-node-name' is not supported");
        return false;
    }
    if (target == bs) {
        error_setg(errp, "Source and target cannot be the same");
        return false;
    }
    if (bdrv_getlength(bs) != bdrv_getlength(target)) {
        error_setg(errp, "Source and target image have different sizes");
        return false;
    }
    return !bdrv_op_blocked(target, errp);
}

/* What the job copies first: everything, or the bitmap's frozen bits. */
static void backup_init_copy(BackupJob *s)
{
    s->copy = hbitmap_new(s->len, BACKUP_CLUSTER);
    if (s->bitmap) {
        bdrv_dirty_bitmap_set_busy(s->bitmap, true);
        s->frozen = bdrv_dirty_bitmap_take_bits(s->bitmap);
    }
    if (s->sync == MIRROR_SYNC_MODE_BITMAP ||
        s->sync == MIRROR_SYNC_MODE_INCREMENTAL) {
        hbitmap_merge(s->copy, s->frozen);
    } else {
        /* sync=none too: every cluster's old data goes before a write */
        hbitmap_set(s->copy, 0, s->len);
    }
}

/*
 * QEMU unblocks BACKUP_SOURCE on a backing node (image fleecing: a pull
 * backup's scratch target has the source as its backing), so only a job
 * on the source blocks it.
 */
static bool source_blocked(BlockDriverState *bs, GError **errp)
{
    if (!bdrv_node(bs)->job && bdrv_backing_parent(bs)) {
        return false;
    }
    return bdrv_op_blocked(bs, errp);
}

BlockJob *bdrv_backup_prepare(BlockdevBackup *a, GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(a->device, a->device, errp);
    BlockDriverState *target;
    BdrvDirtyBitmap *bm;
    GError *err = NULL;
    BackupJob *s;

    if (!bs) {
        return NULL;
    }
    target = bdrv_lookup_bs(a->target, a->target, errp);
    if (!target) {
        return NULL;
    }
    bm = backup_bitmap(a, bs, &err);
    if (err) {
        g_propagate_error(errp, err);
        return NULL;
    }
    if (!backup_check_target(a, bs, target, errp) ||
        source_blocked(bs, errp)) {
        return NULL;
    }
    s = (BackupJob *)block_job_create(
        a->has_job_id ? a->job_id : a->device, &backup_driver,
        a->has_speed ? a->speed : 0,
        a->has_auto_finalize ? a->auto_finalize : true,
        a->has_auto_dismiss ? a->auto_dismiss : true, errp);
    if (!s) {
        return NULL;
    }
    s->source = bs;
    s->target = target;
    s->sync = a->sync;
    s->bitmap = bm;
    s->mode = a->has_bitmap_mode ? a->bitmap_mode : 0;
    s->len = bdrv_getlength(bs);
    s->on_source_error = a->has_on_source_error ? a->on_source_error
                                                : BLOCKDEV_ON_ERROR_REPORT;
    s->on_target_error = a->has_on_target_error ? a->on_target_error
                                                : BLOCKDEV_ON_ERROR_REPORT;
    g_mutex_init(&s->copy_lock);
    if (!block_job_add_bdrv(&s->common, "source", bs,
                            BLK_PERM_CONSISTENT_READ, BLK_PERM_ALL, true,
                            errp) ||
        /* QEMU's: the target shares writes, since the guest's disk may
         * be its backing (a pull backup's scratch), but not resize */
        !block_job_add_bdrv(&s->common, "target", target, BLK_PERM_WRITE,
                            BLK_PERM_ALL & ~BLK_PERM_RESIZE, true, errp)) {
        g_mutex_clear(&s->copy_lock);
        block_job_early_fail(&s->common);
        return NULL;
    }
    backup_init_copy(s);
    s->cbw.before = backup_before_write;
    s->cbw.opaque = s;
    bdrv_write_hook_add(bs, &s->cbw);
    s->hooked = true;
    return &s->common;
}

void bdrv_backup_abort_prepared(BlockJob *job)
{
    backup_abort(job); /* the bitmap gets its bits back */
    backup_clean(job);
    block_job_early_fail(job);
}

void qmp_blockdev_backup(BlockdevBackup *a, GError **errp)
{
    BlockJob *job = bdrv_backup_prepare(a, errp);

    if (job) {
        block_job_start(job);
    }
}
