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
#include "block/perm.h"
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
    int open_flags; /* access mode and O_DIRECT, as opened */
    bool locking;   /* locking=on/auto: QEMU's OFD image locks */
    FileLock lock;  /* what this node holds on fd's description */
    FileSwitch perm_switch; /* bdrv_perm_prepare's */
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

/* The caller holds bs->lock if requests may be in flight. */
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

    g_mutex_lock(&bs->lock);
    file_switch_commit(bs, &s->perm_switch);
    g_mutex_unlock(&bs->lock);
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
    .bdrv_perm_prepare = file_perm_prepare,
    .bdrv_perm_commit = file_perm_commit,
    .bdrv_perm_abort = file_perm_abort,
};
