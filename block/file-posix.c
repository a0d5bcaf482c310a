/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "file" protocol driver: one fd from qemu_open(), plain pread/pwrite.
 * With cache.direct the fd has O_DIRECT, and requests that are not aligned
 * go through an aligned bounce buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/graph.h"
#include "block/options.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define DIRECT_ALIGN 4096

typedef struct BDRVFileState {
    int fd;
    int open_flags; /* access mode and O_DIRECT, as opened */
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
    return 0;
}

static void file_close(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;

    if (s->fd >= 0) {
        qemu_close(s->fd);
        s->fd = -1;
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

static int write_full(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, GError **errp)
{
    BDRVFileState *s = bs->opaque;
    const char *p = buf;

    while (bytes > 0) {
        ssize_t n = pwrite(s->fd, p, bytes, offset);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO,
                             "Could not write to '%s'", bs->filename);
            return -1;
        }
        p += n;
        offset += n;
        bytes -= n;
    }
    return 0;
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

static int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, GError **errp)
{
    int64_t start, len;
    void *bounce;
    int ret;

    if (!needs_bounce(bs, offset, bytes, buf)) {
        return write_full(bs, offset, bytes, buf, errp);
    }
    /* read-modify-write of the aligned span */
    bounce = bounce_span(offset, bytes, &start, &len);
    ret = read_full(bs, start, len, bounce, errp);
    if (ret == 0) {
        memcpy((char *)bounce + (offset - start), buf, bytes);
        ret = write_full(bs, start, len, bounce, errp);
    }
    g_aligned_free(bounce);
    return ret;
}

static int file_flush(BlockDriverState *bs, GError **errp)
{
    BDRVFileState *s = bs->opaque;

    if (bdrv_node(bs)->no_flush) {
        return 0;
    }
    if (fdatasync(s->fd) < 0) {
        error_setg_errno(errp, errno, "Could not flush '%s'", bs->filename);
        return -1;
    }
    return 0;
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

    /* parent before child, source before destination: as pread/pwrite */
    g_mutex_lock(&src->lock);
    g_mutex_lock(&dst->lock);
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
    g_mutex_unlock(&dst->lock);
    g_mutex_unlock(&src->lock);
    return done;
}

void bdrv_file_start_writeback(BlockDriverState *bs, int64_t offset,
                               int64_t bytes)
{
    BDRVFileState *s = bs->opaque;

    g_mutex_lock(&bs->lock);
    /* a hint: a file system without it just writes back later */
    (void)sync_file_range(s->fd, offset, bytes, SYNC_FILE_RANGE_WRITE);
    g_mutex_unlock(&bs->lock);
}

int64_t bdrv_file_allocated_size(BlockDriverState *bs)
{
    BDRVFileState *s = bs->opaque;
    struct stat st;
    int64_t ret = -1;

    if (bs->drv != &bdrv_file) {
        return -1;
    }
    g_mutex_lock(&bs->lock);
    if (fstat(s->fd, &st) == 0) {
        ret = (int64_t)st.st_blocks * 512;
    }
    g_mutex_unlock(&bs->lock);
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
    g_mutex_lock(&bs->lock);
    err = posix_fallocate(s->fd, offset, bytes);
    g_mutex_unlock(&bs->lock);
    if (err) {
        error_setg_errno(errp, err, "Could not preallocate data for '%s'",
                         bs->filename);
        return -1;
    }
    return 0;
}
