/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "file" protocol driver: one fd from qemu_open(), plain pread/pwrite.
 * With cache.direct the fd has O_DIRECT, and requests that are not aligned
 * go through an aligned bounce buffer.
 *
 * Requests run on many threads at once with no lock: pread, pwrite and
 * fallocate are safe on one fd.  The exception is O_DIRECT's unaligned
 * read-modify-write, which must not interleave with another write of the
 * same blocks: it holds rmw_lock as writer, other writes hold it as reader.
 * FUA is pwritev2(RWF_DSYNC) (or a write and fdatasync); zeroes and
 * discard are fallocate; block status is SEEK_DATA/SEEK_HOLE, with the
 * runs of data it finds kept in a FileDataCache.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/graph.h"
#include "block/perm.h"
#include "file-data-cache.h"
#include "file-write-queue.h"
#include "file-lock.h"
#include "block/options.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#include "file-posix.h"

static const char *const aio_values[] = {"threads", "native", "io_uring", NULL};
static const char *const locking_values[] = {"on", "off", "auto", NULL};

static int file_flags(bool read_only, bool direct)
{
    return (read_only ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0);
}

/* The accepted options besides locking have no effect: types only. */
static bool file_check_options(JsonObject *o, bool *locking, GError **errp)
{
    const char *s = NULL, *lk = "auto";
    int64_t i;
    bool b, has;

    if (!bdrv_opt_enum(o, "aio", "aio", aio_values, &s, errp) ||
        !bdrv_opt_enum(o, "locking", "locking", locking_values, &lk, errp) ||
        !bdrv_opt_int(o, "aio-max-batch", "aio-max-batch", &has, &i, errp) ||
        !bdrv_opt_bool(o, "drop-cache", "drop-cache", &has, &b, errp) ||
        !bdrv_opt_bool(o, "x-check-cache-dropped", "x-check-cache-dropped",
                       &has, &b, errp) ||
        !bdrv_opt_str(o, "pr-manager", "pr-manager", &s, errp)) {
        return false;
    }
    /* Linux always has OFD locks: auto means on */
    *locking = !lk || !g_str_equal(lk, "off");
    return true;
}

/*
 * The access mode the node needs: auto-read-only keeps the fd read-only
 * until a parent takes a writing permission (QEMU's dynamic
 * auto-read-only); otherwise read-write unless the node is read-only.
 */
static bool file_needs_rw(BlockDriverState *bs, bool read_only,
                          bool auto_read_only, uint64_t perm)
{
    return !read_only && (!auto_read_only || (perm & BLK_PERM_WRITERS));
}

static int file_open(BlockDriverState *bs, JsonObject *options, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    bool rw = file_needs_rw(bs, bs->read_only, bdrv_node(bs)->auto_read_only,
                            0);
    int flags = file_flags(!rw, bs->cache_direct);
    int fd;

    if (!file_check_options(options, &s->locking, errp)) {
        return -1;
    }
    fd = qemu_open(bs->filename, flags, errp);
    if (fd < 0) {
        return -1;
    }
    s->fd = fd; /* the node owns it from here */
    s->open_flags = flags;
    g_rw_lock_init(&s->rmw_lock);
    file_data_cache_init(&s->data_cache);
    file_write_queue_init(&s->write_queue);
    file_map_init(&s->map);
    file_range_lock_init(&s->write_ranges);
    s->lock.fd = fd; /* no parents yet: nothing to lock */
    if (s->locking) {
        file_lock_register(&s->lock);
    }
    return 0;
}

/*
 * Prepare to use @perm, sharing @shared, through an fd with @flags: a new
 * fd if the mode changes (the locks move to its description), else the
 * union of the old and new locks until commit.  Then check that no other
 * process's locks stand in the way.  Nothing changes on failure.
 */
static int file_switch_prepare(BlockDriverState *bs, FileSwitch *sw,
                               int flags, uint64_t perm, uint64_t shared,
                               GError **errp)
{
    BDRVFileState *s = bs->opaque;
    uint64_t unshared = ~shared & BLK_PERM_ALL;

    *sw = (FileSwitch){.fd = -1, .old_lock = s->lock};
    if (flags != s->open_flags) {
        sw->fd = qemu_open(bs->filename, flags, errp);
        if (sw->fd < 0) {
            return -1;
        }
        sw->open_flags = flags;
    }
    sw->pending = true;
    sw->perm = perm;
    sw->unshared = unshared;
    if (!s->locking) {
        return 0;
    }
    if (sw->fd >= 0) {
        s->lock.perm = s->lock.unshared = 0;
        (void)file_lock_sync(s->fd, NULL); /* what only we held goes */
        s->lock = (FileLock){.fd = sw->fd, .perm = perm, .unshared = unshared};
    } else {
        s->lock.perm |= perm;
        s->lock.unshared |= unshared;
    }
    /* lock first, then check: no window in which another process slips in */
    if (!file_lock_sync(s->lock.fd, errp) ||
        !file_lock_check(s->lock.fd, perm, shared, errp)) {
        return -1; /* the caller aborts */
    }
    return 0;
}

static void file_switch_abort(BlockDriverState *bs, FileSwitch *sw)
{
    BDRVFileState *s = bs->opaque;

    if (!sw->pending) {
        return;
    }
    sw->pending = false;
    s->lock = sw->old_lock;
    if (sw->fd >= 0) {
        if (s->locking) {
            (void)file_lock_sync(sw->fd, NULL); /* no one holds it: unlock */
        }
        qemu_close(sw->fd);
        sw->fd = -1;
    }
    if (s->locking) {
        (void)file_lock_sync(s->fd, NULL);
    }
}

/* The caller keeps requests out (a drained section) when the fd changes. */
static void file_switch_commit(BlockDriverState *bs, FileSwitch *sw)
{
    BDRVFileState *s = bs->opaque;

    if (!sw->pending) {
        return;
    }
    sw->pending = false;
    if (sw->fd >= 0) {
        int old = s->fd;

        s->fd = sw->fd; /* the node owns the new fd now */
        s->open_flags = sw->open_flags;
        sw->fd = -1;
        s->lock.fd = s->fd;
        if (s->locking) {
            (void)file_lock_sync(old, NULL);
        }
        file_map_drop(&s->map); /* it holds the old fd's file */
        qemu_close(old);
        file_data_cache_drop(&s->data_cache); /* a reopen may be another file */
    }
    if (s->locking) {
        s->lock.perm = sw->perm;
        s->lock.unshared = sw->unshared;
        (void)file_lock_sync(s->fd, NULL); /* drop the extra */
    }
}

static int file_perm_prepare(BlockDriverState *bs, uint64_t perm,
                             uint64_t shared, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    bool rw = file_needs_rw(bs, bs->read_only, bdrv_node(bs)->auto_read_only,
                            perm);
    int flags = file_flags(!rw, s->open_flags & O_DIRECT);

    if (file_switch_prepare(bs, &s->perm_switch, flags, perm, shared, errp) <
        0) {
        file_switch_abort(bs, &s->perm_switch);
        return -1;
    }
    return 0;
}

static void file_perm_commit(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    bool swap = s->perm_switch.pending && s->perm_switch.fd >= 0;

    /* no request may run on the old fd while it goes */
    if (swap) {
        bdrv_drained_begin(bs);
    }
    file_switch_commit(bs, &s->perm_switch);
    if (swap) {
        bdrv_drained_end(bs);
    }
}

static void file_perm_abort(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    file_switch_abort(bs, &s->perm_switch);
}

static void file_close(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    file_switch_abort(bs, &s->perm_switch);
    if (s->locking) {
        /* release now, even if an fdset member keeps the description */
        file_lock_unregister(&s->lock);
        (void)file_lock_sync(s->fd, NULL);
    }
    if (s->fd >= 0) {
        /* the map holds the file description: it goes before the fd */
        file_map_destroy(&s->map);
        qemu_close(s->fd);
        s->fd = -1;
        g_rw_lock_clear(&s->rmw_lock);
        file_data_cache_destroy(&s->data_cache);
        file_write_queue_destroy(&s->write_queue);
        file_range_lock_destroy(&s->write_ranges);
    }
}

int64_t file_getlength(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;

    if (fstat(s->fd, &st) < 0) {
        return -errno;
    }
    if (S_ISBLK(st.st_mode)) {
        off_t end = lseek(s->fd, 0, SEEK_END);

        return end < 0 ? -errno : end;
    }
    return st.st_size;
}

static int file_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int err = ftruncate(s->fd, size) < 0 ? errno : 0;

    file_data_cache_drop(&s->data_cache); /* a shrink and regrow: a hole */
    file_map_drop(&s->map);                /* its length is the old one */
    if (err) {
        error_setg_errno(errp, err, "Could not resize '%s'", bs->filename);
        return -1;
    }
    return 0;
}

/*
 * Same flags: keep the fd.  Else a new qemu_open(), which takes over the
 * node's locks; released on abort.  auto-read-only stays read-only until
 * a writer needs more (or the reopen is for writing).
 */
static int file_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    BdrvReopenEntry *e = (BdrvReopenEntry *)state;
    BlockDriverState *bs = state->bs;
    uint64_t perm, shared;
    FileSwitch *sw = g_new0(FileSwitch, 1);
    bool rw;

    bdrv_cumulative_perm(bs, &perm, &shared);
    rw = file_needs_rw(bs, state->read_only, e->auto_read_only,
                       perm | (e->need_write ? BLK_PERM_WRITE : 0));
    state->opaque = sw;
    if (file_switch_prepare(bs, sw, file_flags(!rw, e->cache_direct), perm,
                            shared, errp) < 0) {
        file_switch_abort(bs, sw);
        g_free(sw);
        state->opaque = NULL;
        return -1;
    }
    return 0;
}

static void file_reopen_commit(BDRVReopenState *state)
{
    FileSwitch *sw = state->opaque;

    if (sw) {
        file_switch_commit(state->bs, sw);
        g_free(sw);
        state->opaque = NULL;
    }
}

static void file_reopen_abort(BDRVReopenState *state)
{
    FileSwitch *sw = state->opaque;

    if (sw) {
        file_switch_abort(state->bs, sw);
        g_free(sw);
        state->opaque = NULL;
    }
}

/* Its own bytes: the identity, unless O_DIRECT must keep the page cache
 * out (the kernel's copy goes through it). */
static int file_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         bool write, BlockDriverState **leaf,
                         int64_t *leaf_offset, int64_t *pnum, GError **errp)
{
    BDRVFileState *s = bs->opaque;

    *pnum = bytes;
    if (s->open_flags & O_DIRECT) {
        return 0;
    }
    *leaf = bs;
    *leaf_offset = offset;
    return 1;
}

/* Errors that only say the kernel cannot copy between these two files. */
static bool copy_range_unsupported(int err)
{
    return err == EXDEV || err == EINVAL || err == EOPNOTSUPP ||
           err == ENOSYS || err == EBADF || err == EPERM || err == ETXTBSY ||
           err == EOVERFLOW;
}

int64_t bdrv_file_copy_range(BlockDriverState *src, int64_t src_offset,
                             BlockDriverState *dst, int64_t dst_offset,
                             int64_t bytes, GError **errp)
{
    BDRVFileState *in = src->opaque, *out = dst->opaque;
    int64_t done = 0;

    while (done < bytes) {
        loff_t from = src_offset + done, to = dst_offset + done;
        ssize_t n =
            copy_file_range(in->fd, &from, out->fd, &to, bytes - done, 0);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && !copy_range_unsupported(errno)) {
            error_setg_errno(errp, errno, "Could not copy from '%s' to '%s'",
                             src->filename, dst->filename);
            done = -1;
        }
        if (n <= 0) {
            break; /* 0: the source file ends early; the caller reads */
        }
        done += n;
    }
    if (done != 0) {
        /* a file system that clones extents can carry holes over */
        file_data_cache_drop(&out->data_cache);
    }
    return done;
}

void bdrv_file_start_writeback(BlockDriverState *bs, int64_t offset,
                               int64_t bytes)
{
    BDRVFileState *s = bs->opaque;

    /* a hint: a file system without it just writes back later */
    (void)sync_file_range(s->fd, offset, bytes, SYNC_FILE_RANGE_WRITE);
}

/*
 * Why: new page-cache pages can cost several times what reused ones do
 * (measured in this VM: 9-10 us a first-touched 4k page against 2-3 us),
 * and a backup target's copy of a whole disk would take new pages for all
 * of it while a guest waits on its copy-before-writes.  DONTNEED starts
 * writeback of the dirty pages and frees the clean ones (written back
 * since the last call); the next writes take those.
 */
void bdrv_file_drop_behind(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_DONTNEED);
}

int64_t bdrv_file_allocated_size(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;
    int64_t ret = -1;

    if (bs->drv != &bdrv_file) {
        return -1;
    }
    if (fstat(s->fd, &st) == 0) {
        ret = (int64_t)st.st_blocks * 512;
    }
    return ret;
}

const BlockDriver bdrv_file = {
    .format_name = "file",
    .instance_size = sizeof(BDRVFileState),
    .is_protocol = true,
    .bdrv_open = file_open,
    .bdrv_close = file_close,
    .bdrv_getlength = file_getlength,
    .bdrv_pread = file_pread,
    .bdrv_pread_nowait = file_pread_nowait,
    .bdrv_pwrite_nowait = file_pwrite_nowait,
    .bdrv_pwrite_async = file_pwrite_async,
    .bdrv_pwrite = file_pwrite,
    .bdrv_pwrite_flags = file_pwrite_flags,
    .bdrv_pwrite_zeroes = file_pwrite_zeroes,
    .bdrv_pdiscard = file_pdiscard,
    .bdrv_block_status = file_block_status,
    .bdrv_flush = file_flush,
    .bdrv_truncate = file_truncate,
    .bdrv_map_file = file_map_file,
    .bdrv_reopen_prepare = file_reopen_prepare,
    .bdrv_reopen_commit = file_reopen_commit,
    .bdrv_reopen_abort = file_reopen_abort,
    .bdrv_perm_prepare = file_perm_prepare,
    .bdrv_perm_commit = file_perm_commit,
    .bdrv_perm_abort = file_perm_abort,
};

int bdrv_file_fallocate(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int err;

    if (bs->drv != &bdrv_file) {
        error_setg(errp, "Preallocation mode 'falloc' needs a file node");
        return -1;
    }
    err = posix_fallocate(s->fd, offset, bytes); /* safe beside I/O */
    file_data_cache_drop(&s->data_cache);
    if (err) {
        file_io_error(errp, err); /* the caller says what it preallocated */
        return -1;
    }
    return 0;
}
