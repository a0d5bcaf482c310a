/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file driver's I/O (see file-posix.c for the whole driver): reads,
 * writes (buffered ones through the write queue), zeroes and discard as
 * fallocate, flush as fdatasync, block status as SEEK_DATA/SEEK_HOLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/graph.h"
#include "file-posix.h"
#include "qemu/error.h"
#include "qemu/osdep.h"
/*
 * A failed read, write or flush: the errno's text alone, as QEMU 7.2's
 * clients show it ("write failed: No space left on device" in qemu-io, the
 * error of a job's BLOCK_JOB_COMPLETED); the file is the node's.
 */
void file_io_error(GError **errp, int err)
{
    error_setg(errp, "%s", g_strerror(err));
}

/* preadv2 with @rwf until done: 0 or -errno; what lies beyond the end of
 * the file reads as zeroes. */
static int read_loop(int fd, int64_t offset, int64_t bytes, char *p, int rwf)
{
    while (bytes > 0) {
        struct iovec iov = {.iov_base = p, .iov_len = bytes};
        ssize_t n = preadv2(fd, &iov, 1, offset, rwf);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
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

static int read_full(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     void *buf, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    int ret = read_loop(s->fd, offset, bytes, buf, 0);

    if (ret < 0) {
        file_io_error(errp, -ret);
        return -1;
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
static int write_all(BlockDriverState *bs, int64_t offset, int64_t bytes,
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
            file_io_error(errp, err);
            return -err;
        }
        p += n;
        offset += n;
        bytes -= n;
    }
    return 0;
}

/* write_all, buffered ones whole against overlapping map stores
 * (file-range-lock.h); O_DIRECT is never mapped. */
static int write_full(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, bool dsync, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    FileRange range;
    int ret;

    if (s->open_flags & O_DIRECT) {
        return write_all(bs, offset, bytes, buf, dsync, errp);
    }
    file_range_lock(&s->write_ranges, &range, offset, bytes);
    ret = write_all(bs, offset, bytes, buf, dsync, errp);
    file_range_unlock(&s->write_ranges, &range);
    return ret;
}

static int file_fdatasync(BlockDriverState *bs, GError **errp)
{
    BDRVFileState *s = bs->opaque;

    if (fdatasync(s->fd) < 0) {
        int err = errno;

        file_io_error(errp, err);
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

int file_pread(BlockDriverState *bs, int64_t offset, int64_t bytes, void *buf,
               GError **errp)
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

/*
 * Buffered only (an O_DIRECT read always waits for the disk): what the
 * page cache holds, with RWF_NOWAIT; beyond the end of the file, zeroes.
 */
int file_pread_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BDRVFileState *s = bs->opaque;

    if (s->open_flags & O_DIRECT) {
        return -EAGAIN;
    }
    /* not cached, an error: the slow path (which reports errors) */
    return read_loop(s->fd, offset, bytes, buf, RWF_NOWAIT) < 0 ? -EAGAIN : 0;
}

/*
 * Buffered and read-write only: a store into the cached pages through the
 * node's map (file-map.h), which needs no turn in the write queue.
 */
int file_pwrite_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf)
{
    BDRVFileState *s = bs->opaque;
    FileRange range;
    int ret;

    if ((s->open_flags & O_DIRECT) || (s->open_flags & O_ACCMODE) != O_RDWR) {
        return -EAGAIN;
    }
    if (!file_range_trylock(&s->write_ranges, &range, offset, bytes)) {
        return -EAGAIN; /* an overlapping write is copying */
    }
    ret = file_map_write(&s->map, s->fd, offset, bytes, buf);
    file_range_unlock(&s->write_ranges, &range);
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
static int write_buffered(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          const void *buf, bool fua, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    QueuedWrite w = {bs, offset, bytes, buf, errp};

    if (fua && !bdrv_node(bs)->no_flush) {
        return write_durable(bs, offset, bytes, buf, true, errp);
    }
    /* cached pages: a store through the map needs no turn (file-map.h) */
    if (file_pwrite_nowait(bs, offset, bytes, buf) == 0) {
        return 0;
    }
    return file_write_queue_run(&s->write_queue, queued_write, &w);
}

/* A buffered write queued by file_pwrite_async: the writer thread's. */
typedef struct AsyncWrite {
    QueuedWrite w;
    BdrvWriteDoneFn *done;
    void *opaque;
} AsyncWrite;

static void async_write_done(void *opaque, int ret)
{
    AsyncWrite *a = opaque;
    BdrvWriteDoneFn *done = a->done;
    void *done_opaque = a->opaque;

    g_free(a);
    done(done_opaque, ret);
}

/* Buffered only: an O_DIRECT write waits for the disk in any case. */
int file_pwrite_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque)
{
    BDRVFileState *s = bs->opaque;
    AsyncWrite *a;

    if (s->open_flags & O_DIRECT) {
        return -EAGAIN;
    }
    a = g_new(AsyncWrite, 1);
    *a = (AsyncWrite){{bs, offset, bytes, buf, NULL}, done, opaque};
    if (!file_write_queue_submit(&s->write_queue, queued_write,
                                 async_write_done, a)) {
        g_free(a);
        return -EAGAIN;
    }
    return 0;
}

/* The write; an unaligned O_DIRECT one read-modify-writes its span. */
int file_pwrite_flags(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags, GError **errp)
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

int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, GError **errp)
{
    return file_pwrite_flags(bs, offset, bytes, buf, 0, errp) < 0 ? -1 : 0;
}

int file_flush(BlockDriverState *bs, GError **errp)
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
int file_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags, GError **errp)
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
        file_io_error(errp, -ret);
    }
    return ret;
}

int file_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  GError **errp)
{
    int ret = file_fallocate(bs, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             offset, bytes);

    if (ret < 0 && fallocate_unsupported(ret)) {
        return 0; /* advisory: the data simply stays */
    }
    if (ret < 0) {
        error_setg_errno(errp, -ret, "Could not discard on '%s'", bs->filename);
    }
    return ret;
}

/*
 * Holes read as zeroes: SEEK_DATA finds where the data starts, SEEK_HOLE
 * where it ends.  A file system that cannot tell says all is data.
 */
int file_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, GError **errp)
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
