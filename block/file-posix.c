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
 * discard are fallocate; block status is SEEK_DATA/SEEK_HOLE.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "block/graph.h"
#include "block/options.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define DIRECT_ALIGN 4096

typedef struct BDRVFileState {
    int fd;
    int open_flags;   /* access mode and O_DIRECT, as opened */
    GRWLock rmw_lock; /* O_DIRECT: unaligned writes exclude other writes */
} BDRVFileState;

typedef struct FileReopen {
    int fd;
    int open_flags;
} FileReopen;

static const char *const aio_values[] = {"threads", "native", "io_uring", NULL};
static const char *const locking_values[] = {"on", "off", "auto", NULL};

static int file_flags(bool read_only, bool direct)
{
    return (read_only ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0);
}

/* The accepted options have no effect here; check their types only. */
static bool file_check_options(JsonObject *o, GError **errp)
{
    const char *s = NULL;
    int64_t i;
    bool b, has;

    return bdrv_opt_enum(o, "aio", "aio", aio_values, &s, errp) &&
           bdrv_opt_enum(o, "locking", "locking", locking_values, &s, errp) &&
           bdrv_opt_int(o, "aio-max-batch", "aio-max-batch", &has, &i, errp) &&
           bdrv_opt_bool(o, "drop-cache", "drop-cache", &has, &b, errp) &&
           bdrv_opt_bool(o, "x-check-cache-dropped", "x-check-cache-dropped",
                         &has, &b, errp) &&
           bdrv_opt_str(o, "pr-manager", "pr-manager", &s, errp);
}

static bool auto_ro_fallback(BlockDriverState *bs, int err)
{
    return bdrv_node(bs)->auto_read_only && !bs->read_only &&
           (err == EACCES || err == EROFS || err == EPERM);
}

static int file_open(BlockDriverState *bs, JsonObject *options, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    GError *err = NULL;
    int flags = file_flags(bs->read_only, bs->cache_direct);
    int fd;

    if (!file_check_options(options, errp)) {
        return -1;
    }
    fd = qemu_open(bs->filename, flags, &err);
    if (fd < 0 && auto_ro_fallback(bs, errno)) {
        /* auto-read-only: settle for read-only access */
        g_clear_error(&err);
        bs->read_only = true;
        flags = file_flags(true, bs->cache_direct);
        fd = qemu_open(bs->filename, flags, &err);
    }
    if (fd < 0) {
        g_propagate_error(errp, err);
        return -1;
    }
    s->fd = fd; /* the node owns it from here */
    s->open_flags = flags;
    g_rw_lock_init(&s->rmw_lock);
    return 0;
}

static void file_close(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    if (s->fd >= 0) {
        qemu_close(s->fd);
        s->fd = -1;
        g_rw_lock_clear(&s->rmw_lock);
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
            error_setg_errno(errp, errno, "Could not read '%s'", bs->filename);
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
            error_setg_errno(errp, err, "Could not write to '%s'",
                             bs->filename);
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

        error_setg_errno(errp, err, "Could not flush '%s'", bs->filename);
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
        bool direct = s->open_flags & O_DIRECT;

        if (direct) {
            g_rw_lock_reader_lock(&s->rmw_lock);
        }
        ret = write_durable(bs, offset, bytes, buf, fua, errp);
        if (direct) {
            g_rw_lock_reader_unlock(&s->rmw_lock);
        }
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
        error_setg_errno(errp, -ret, "Could not write zeroes to '%s'",
                         bs->filename);
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
    off_t data, hole;

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
    }
    return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA;
}

static int file_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    BDRVFileState *s = bs->opaque;

    if (ftruncate(s->fd, size) < 0) {
        error_setg_errno(errp, errno, "Could not resize '%s'", bs->filename);
        return -1;
    }
    return 0;
}

/* Same flags: keep the fd.  Else a new qemu_open(), released on abort. */
static int file_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    BdrvReopenEntry *e = (BdrvReopenEntry *)state;
    BlockDriverState *bs = state->bs;
    BDRVFileState *s = bs->opaque;
    int flags = file_flags(state->read_only, e->cache_direct);
    GError *err = NULL;
    FileReopen *r;
    int fd;

    state->opaque = NULL;
    if (flags == s->open_flags) {
        return 0;
    }
    fd = qemu_open(bs->filename, flags, errp ? &err : NULL);
    if (fd < 0 && !state->read_only && !e->need_write && e->auto_read_only &&
        (errno == EACCES || errno == EROFS || errno == EPERM)) {
        /*
         * auto-read-only: a read-write request settles for read-only, with
         * an fd that really is read-only and has the requested cache mode;
         * if there is none, the read-write failure is what is reported.
         */
        int ro_flags = file_flags(true, e->cache_direct);

        if (ro_flags == s->open_flags) {
            g_clear_error(&err);
            state->read_only = true;
            return 0;
        }
        fd = qemu_open(bs->filename, ro_flags, NULL);
        if (fd >= 0) {
            g_clear_error(&err);
            state->read_only = true;
            flags = ro_flags;
        }
    }
    if (fd < 0) {
        g_propagate_error(errp, err);
        return -1;
    }
    r = g_new0(FileReopen, 1);
    r->fd = fd; /* owned by the reopen state until commit */
    r->open_flags = flags;
    state->opaque = r;
    return 0;
}

static void file_reopen_commit(BDRVReopenState *state)
{
    BDRVFileState *s = state->bs->opaque;
    FileReopen *r = state->opaque;
    int old;

    if (!r) {
        return;
    }
    old = s->fd;
    s->fd = r->fd; /* the node owns the new fd now */
    s->open_flags = r->open_flags;
    qemu_close(old);
    g_free(r);
    state->opaque = NULL;
}

static void file_reopen_abort(BDRVReopenState *state)
{
    FileReopen *r = state->opaque;

    if (r) {
        qemu_close(r->fd);
        g_free(r);
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
    if (err) {
        error_setg_errno(errp, err, "Could not preallocate data for '%s'",
                         bs->filename);
        return -1;
    }
    return 0;
}
