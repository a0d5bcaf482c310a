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

#define DIRECT_ALIGN 4096

/*
 * An fd switch (a reopen, or auto-read-only following the permissions)
 * and the locks that go with it, between prepare and commit/abort.
 */
typedef struct FileSwitch {
    bool pending;
    int fd;              /* the new fd, or -1: the node keeps its own */
    int open_flags;      /* ... and its flags */
    FileLock old_lock;   /* what to go back to on abort */
    uint64_t perm;       /* what commit leaves locked */
    uint64_t unshared;
} FileSwitch;

typedef struct BDRVFileState {
    int fd;
    int open_flags;   /* access mode and O_DIRECT, as opened */
    GRWLock rmw_lock; /* O_DIRECT: unaligned writes exclude other writes */
    bool locking;     /* locking=on/auto: QEMU's OFD image locks */
    FileLock lock;    /* what this node holds on fd's description */
    FileSwitch perm_switch; /* bdrv_perm_prepare's */
    FileDataCache data_cache; /* what block status found to be data */
    FileWriteQueue write_queue; /* buffered writes, one at a time */
} BDRVFileState;

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
        qemu_close(s->fd);
        s->fd = -1;
        g_rw_lock_clear(&s->rmw_lock);
        file_data_cache_destroy(&s->data_cache);
        file_write_queue_destroy(&s->write_queue);
    }
}

static int64_t file_getlength(BlockDriverState *bs)
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

/*
 * A failed read, write or flush: the errno's text alone, as QEMU 7.2's
 * clients show it ("write failed: No space left on device" in qemu-io, the
 * error of a job's BLOCK_JOB_COMPLETED); the file is the node's.
 */
static void io_error(GError **errp, int err)
{
    error_setg(errp, "%s", g_strerror(err));
}

/* pread until done; what lies beyond the end of the file reads as zeroes */
static int read_full(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     void *buf, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    char *p = buf;

    while (bytes > 0) {
        ssize_t n = pread(s->fd, p, bytes, offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            io_error(errp, errno);
            return -1;
        }
        if (n == 0) {
            memset(p, 0, bytes);
            break;
        }
        p += n;
        offset += n;
        bytes -= n;
    }
    return 0;
}

/* One write call; with @dsync, durable on return (RWF_DSYNC). */
static ssize_t write_once(int fd, const char *p, int64_t bytes, int64_t offset,
                          bool dsync)
{
    struct iovec iov = {.iov_base = (void *)p, .iov_len = bytes};

    if (!dsync) {
        return pwrite(fd, p, bytes, offset);
    }
    return pwritev2(fd, &iov, 1, offset, RWF_DSYNC);
}

/*
 * pwrite until done (with @dsync: each piece durable); -errno on failure
 * with errp set, -EOPNOTSUPP unset when the kernel has no RWF_DSYNC.
 */
static int write_full(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, bool dsync, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    const char *p = buf;

    while (bytes > 0) {
        ssize_t n = write_once(s->fd, p, bytes, offset, dsync);
        int err = n < 0 ? errno : EIO;

        if (n < 0 && err == EINTR) {
            continue;
        }
        if (n < 0 && dsync && (err == EOPNOTSUPP || err == EINVAL) &&
            p == buf) {
            return -EOPNOTSUPP;
        }
        if (n <= 0) {
            io_error(errp, err);
            return -err;
        }
        p += n;
        offset += n;
        bytes -= n;
    }
    return 0;
}

static int file_fdatasync(BlockDriverState *bs, GError **errp)
{
    BDRVFileState *s = bs->opaque;

    if (fdatasync(s->fd) < 0) {
        int err = errno;

        io_error(errp, err);
        return -err;
    }
    return 0;
}

/* A write, durable on return with @fua (unless cache.no-flush). */
static int write_durable(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         const void *buf, bool fua, GError **errp)
{
    int ret;

    fua = fua && !bdrv_node(bs)->no_flush;
    ret = write_full(bs, offset, bytes, buf, fua, errp);
    if (ret == -EOPNOTSUPP && fua) {
        ret = write_full(bs, offset, bytes, buf, false, errp);
        if (ret == 0) {
            ret = file_fdatasync(bs, errp);
        }
    }
    return ret;
}

static bool needs_bounce(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         const void *buf)
{
    BDRVFileState *s = bs->opaque;

    return (s->open_flags & O_DIRECT) &&
           ((offset | bytes | (int64_t)(uintptr_t)buf) & (DIRECT_ALIGN - 1));
}

/* The aligned span around a request, and a bounce buffer for it. */
static void *bounce_span(int64_t offset, int64_t bytes, int64_t *start,
                         int64_t *len)
{
    *start = offset & ~(int64_t)(DIRECT_ALIGN - 1);
    *len =
        ((offset + bytes + DIRECT_ALIGN - 1) & ~(int64_t)(DIRECT_ALIGN - 1)) -
        *start;
    return g_aligned_alloc(*len, 1, DIRECT_ALIGN);
}

static int file_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf, GError **errp)
{
    int64_t start, len;
    void *bounce;
    int ret;

    if (!needs_bounce(bs, offset, bytes, buf)) {
        return read_full(bs, offset, bytes, buf, errp);
    }
    bounce = bounce_span(offset, bytes, &start, &len);
    ret = read_full(bs, start, len, bounce, errp);
    if (ret == 0) {
        memcpy(buf, (char *)bounce + (offset - start), bytes);
    }
    g_aligned_free(bounce);
    return ret;
}

typedef struct QueuedWrite {
    BlockDriverState *bs;
    int64_t offset, bytes;
    const void *buf;
    GError **errp;
} QueuedWrite;

static int queued_write(void *opaque)
{
    QueuedWrite *w = opaque;

    return write_full(w->bs, w->offset, w->bytes, w->buf, false, w->errp);
}

/*
 * Buffered writes go through the write queue (file-write-queue.h says
 * why); durable ones do not, so that a disk flush never holds it.
 */
static int write_buffered(BlockDriverState *bs, int64_t offset,
                          int64_t bytes, const void *buf, bool fua,
                          GError **errp)
{
    BDRVFileState *s = bs->opaque;
    QueuedWrite w = {bs, offset, bytes, buf, errp};

    if (fua && !bdrv_node(bs)->no_flush) {
        return write_durable(bs, offset, bytes, buf, true, errp);
    }
    return file_write_queue_run(&s->write_queue, queued_write, &w);
}

/* The write; an unaligned O_DIRECT one read-modify-writes its span. */
static int file_pwrite_flags(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, const void *buf, int flags,
                             GError **errp)
{
    BDRVFileState *s = bs->opaque;
    bool fua = flags & BDRV_REQ_FUA;
    int64_t start, len;
    void *bounce;
    int ret;

    if (!needs_bounce(bs, offset, bytes, buf)) {
        if (!(s->open_flags & O_DIRECT)) {
            return write_buffered(bs, offset, bytes, buf, fua, errp);
        }
        g_rw_lock_reader_lock(&s->rmw_lock);
        ret = write_durable(bs, offset, bytes, buf, fua, errp);
        g_rw_lock_reader_unlock(&s->rmw_lock);
        return ret;
    }
    bounce = bounce_span(offset, bytes, &start, &len);
    g_rw_lock_writer_lock(&s->rmw_lock);
    ret = read_full(bs, start, len, bounce, errp) < 0 ? -EIO : 0;
    if (ret == 0) {
        memcpy((char *)bounce + (offset - start), buf, bytes);
        ret = write_durable(bs, start, len, bounce, fua, errp);
    }
    g_rw_lock_writer_unlock(&s->rmw_lock);
    g_aligned_free(bounce);
    return ret;
}

static int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, GError **errp)
{
    return file_pwrite_flags(bs, offset, bytes, buf, 0, errp) < 0 ? -1 : 0;
}

static int file_flush(BlockDriverState *bs, GError **errp)
{
    if (bdrv_node(bs)->no_flush) {
        return 0;
    }
    return file_fdatasync(bs, errp) < 0 ? -1 : 0;
}

/* fallocate under the O_DIRECT read side; -errno, errp not set. */
static int file_fallocate(BlockDriverState *bs, int mode, int64_t offset,
                          int64_t bytes)
{
    BDRVFileState *s = bs->opaque;
    bool direct = s->open_flags & O_DIRECT;
    int ret;

    if (direct) {
        g_rw_lock_reader_lock(&s->rmw_lock);
    }
    do {
        ret = fallocate(s->fd, mode, offset, bytes) < 0 ? -errno : 0;
    } while (ret == -EINTR);
    if (direct) {
        g_rw_lock_reader_unlock(&s->rmw_lock);
    }
    if (ret == 0) {
        file_data_cache_drop(&s->data_cache); /* holes, or unwritten extents */
    }
    return ret;
}

static bool fallocate_unsupported(int ret)
{
    return ret == -EOPNOTSUPP || ret == -ENOSYS || ret == -EINVAL ||
           ret == -ENODEV;
}

/*
 * Zeroes: a punched hole with MAY_UNMAP (inside the file: a hole beyond
 * the end would not extend it), else ZERO_RANGE, which also extends the
 * file like a write.  -ENOTSUP when the file system has neither.
 */
static int file_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags, GError **errp)
{
    int64_t len = file_getlength(bs);
    int ret = -EOPNOTSUPP;

    if ((flags & BDRV_REQ_MAY_UNMAP) && len >= 0 && offset + bytes <= len) {
        ret = file_fallocate(bs, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             offset, bytes);
    }
    if (ret < 0 && fallocate_unsupported(ret)) {
        ret = file_fallocate(bs, FALLOC_FL_ZERO_RANGE, offset, bytes);
    }
    if (ret < 0 && fallocate_unsupported(ret)) {
        error_setg(errp, "'%s' cannot write zeroes fast", bs->filename);
        return -ENOTSUP;
    }
    if (ret < 0) {
        io_error(errp, -ret);
    }
    return ret;
}

static int file_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         GError **errp)
{
    int ret = file_fallocate(bs, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             offset, bytes);

    if (ret < 0 && fallocate_unsupported(ret)) {
        return 0; /* advisory: the data simply stays */
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not discard on '%s'",
                         bs->filename);
    }
    return ret;
}

/*
 * Holes read as zeroes: SEEK_DATA finds where the data starts, SEEK_HOLE
 * where it ends.  A file system that cannot tell says all is data.
 */
static int file_block_status(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int64_t known = file_data_cache_lookup(&s->data_cache, offset, bytes);
    uint32_t gen = file_data_cache_gen(&s->data_cache);
    off_t data, hole;

    if (known > 0) {
        *pnum = known;
        return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA;
    }
    *pnum = bytes;
    data = lseek(s->fd, offset, SEEK_DATA);
    if (data < 0) {
        /* ENXIO: nothing but a hole up to the end of the file */
        return BDRV_BLOCK_ALLOCATED |
               (errno == ENXIO ? BDRV_BLOCK_ZERO : BDRV_BLOCK_DATA);
    }
    if (data > offset) {
        *pnum = MIN(bytes, data - offset);
        return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_ZERO;
    }
    hole = lseek(s->fd, offset, SEEK_HOLE);
    if (hole > offset) {
        *pnum = MIN(bytes, hole - offset);
        file_data_cache_fill(&s->data_cache, gen, offset, hole);
    }
    return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA;
}

static int file_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int err = ftruncate(s->fd, size) < 0 ? errno : 0;

    file_data_cache_drop(&s->data_cache); /* a shrink and regrow: a hole */
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
        io_error(errp, err); /* the caller says what it preallocated */
        return -1;
    }
    return 0;
}
