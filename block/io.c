/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The I/O wrappers every user of a node calls: request checks, the write
 * threshold, the write hooks, then the driver.  Nothing here serialises
 * requests: any number of threads may be in the driver of one node at once
 * (the drivers keep their own state consistent).  What io.c keeps is an
 * atomic count of the requests running on each node, so that a drained
 * section can wait for them and hold new ones back.
 *
 * Return convention: the functions with an int result that predate the
 * flags API return 0 / -1; bdrv_pwrite_flags, bdrv_pwrite_zeroes,
 * bdrv_pdiscard and bdrv_block_status return a negative errno (-EINVAL,
 * -EPERM, -ENOTSUP, -EIO, ...) so that an NBD server can pass it on.
 */
#include <errno.h>
#include <string.h>

#include "block/blkdebug.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/write-hook.h"
#include "qemu/error.h"

/* Writes of zeroes without a driver callback go out in buffers this big. */
#define ZERO_BUFFER_SIZE (1 << 20)

/* ---- requests and drained sections ---- */

/*
 * The nodes this thread is inside a request on (a hook's read, a format
 * driver's own lookups): a nested request on one of them must not wait
 * for a drain, which waits for the outer request.  Nesting is shallow.
 */
#define REQ_NEST_MAX 16
static __thread BlockDriverState *req_nodes[REQ_NEST_MAX];
static __thread int req_depth;

static bool req_nested(BlockDriverState *bs)
{
    for (int i = 0; i < MIN(req_depth, REQ_NEST_MAX); i++) {
        if (req_nodes[i] == bs) {
            return true;
        }
    }
    return false;
}

void bdrv_io_init(BlockDriverState *bs)
{
    bs->in_flight = 0;
    bs->async_writes = 0;
    bs->async_held = 0;
    bs->quiesce = 0;
    bs->drainer = NULL;
    g_mutex_init(&bs->drain_lock);
    g_cond_init(&bs->drain_cond);
}

void bdrv_io_cleanup(BlockDriverState *bs)
{
    g_assert(g_atomic_int_get(&bs->in_flight) == 0);
    g_mutex_clear(&bs->drain_lock);
    g_cond_clear(&bs->drain_cond);
}

/* A request on @bs is over (on any thread: bdrv_pwrite_async's end). */
static void in_flight_end(BlockDriverState *bs)
{
    /* the last request of a node being drained wakes the drainer */
    if (g_atomic_int_dec_and_test(&bs->in_flight) &&
        g_atomic_int_get(&bs->quiesce)) {
        g_mutex_lock(&bs->drain_lock);
        g_cond_broadcast(&bs->drain_cond);
        g_mutex_unlock(&bs->drain_lock);
    }
}

static void io_end(BlockDriverState *bs)
{
    req_depth--;
    in_flight_end(bs);
}

/*
 * Count a request in, unless another thread drains @bs (false then).
 * The increment comes before the look at quiesce, and the drainer's
 * increment of quiesce before its look at in_flight (both full barriers):
 * one of the two always sees the other.
 */
static bool io_try_begin(BlockDriverState *bs, bool nested)
{
    if (req_depth < REQ_NEST_MAX) {
        req_nodes[req_depth] = bs;
    }
    req_depth++;
    g_atomic_int_inc(&bs->in_flight);
    if (nested || !g_atomic_int_get(&bs->quiesce) ||
        g_atomic_pointer_get(&bs->drainer) == g_thread_self()) {
        return true;
    }
    io_end(bs);
    return false;
}

/* Count a request in; while another thread drains @bs, wait outside. */
static void io_begin(BlockDriverState *bs)
{
    bool nested = req_nested(bs);

    while (!io_try_begin(bs, nested)) {
        g_mutex_lock(&bs->drain_lock);
        while (g_atomic_int_get(&bs->quiesce)) {
            g_cond_wait(&bs->drain_cond, &bs->drain_lock);
        }
        g_mutex_unlock(&bs->drain_lock);
    }
}

void bdrv_drained_begin(BlockDriverState *bs)
{
    GThread *self = g_thread_self();

    g_mutex_lock(&bs->drain_lock);
    /* one draining thread at a time; its own sections nest */
    while (g_atomic_int_get(&bs->quiesce) &&
           g_atomic_pointer_get(&bs->drainer) != self) {
        g_cond_wait(&bs->drain_cond, &bs->drain_lock);
    }
    g_atomic_pointer_set(&bs->drainer, self);
    g_atomic_int_inc(&bs->quiesce);
    while (g_atomic_int_get(&bs->in_flight) > 0) {
        g_cond_wait(&bs->drain_cond, &bs->drain_lock);
    }
    g_mutex_unlock(&bs->drain_lock);
}

void bdrv_drained_end(BlockDriverState *bs)
{
    g_mutex_lock(&bs->drain_lock);
    g_assert(g_atomic_int_get(&bs->quiesce) > 0);
    if (g_atomic_int_dec_and_test(&bs->quiesce)) {
        g_atomic_pointer_set(&bs->drainer, NULL);
    }
    g_cond_broadcast(&bs->drain_cond);
    g_mutex_unlock(&bs->drain_lock);
}
/* ---- write hooks ---- */

/*
 * Under the hooks' write lock a hook with a before came or went, and
 * async_held was raised: wait for the writes queued before (they did not
 * see the change), while new ones take the usual path (so that the count
 * does reach zero under a steady stream of writes).
 */
static void await_async_writes(BlockDriverState *bs)
{
    while (g_atomic_int_get(&bs->async_writes)) {
        g_usleep(100);
    }
    g_atomic_int_add(&bs->async_held, -1);
}

/*
 * The hook list is changed by the main thread and walked by every writer:
 * writers hold the read side from before to after, so a remove waits for
 * the writes its hook has seen begin.
 */
void bdrv_write_hook_add(BlockDriverState *bs, BdrvWriteHook *hook)
{
    g_rw_lock_writer_lock(&bs->write_hooks_lock);
    bs->write_hooks = g_slist_append(bs->write_hooks, hook);
    if (hook->before) {
        g_atomic_int_inc(&bs->async_held);
    }
    g_rw_lock_writer_unlock(&bs->write_hooks_lock);
    if (hook->before) {
        await_async_writes(bs);
    }
}

void bdrv_write_hook_remove(BlockDriverState *bs, BdrvWriteHook *hook)
{
    g_rw_lock_writer_lock(&bs->write_hooks_lock);
    bs->write_hooks = g_slist_remove(bs->write_hooks, hook);
    if (hook->before) {
        g_atomic_int_inc(&bs->async_held);
    }
    g_rw_lock_writer_unlock(&bs->write_hooks_lock);
    if (hook->before) {
        await_async_writes(bs); /* those that skipped its before */
    }
}

/* Takes the read side; write_hooks_after always releases it. */
static int write_hooks_before(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, BdrvWriteKind kind, GError **errp)
{
    g_rw_lock_reader_lock(&bs->write_hooks_lock);
    for (GSList *l = bs->write_hooks; l; l = l->next) {
        BdrvWriteHook *hook = l->data;
        int ret;

        if (!hook->before) {
            continue;
        }
        ret = hook->before(hook, bs, offset, bytes, kind, errp);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

static void write_hooks_after(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, BdrvWriteKind kind, int ret)
{
    for (GSList *l = bs->write_hooks; l; l = l->next) {
        BdrvWriteHook *hook = l->data;

        if (hook->after) {
            hook->after(hook, bs, offset, bytes, kind, ret);
        }
    }
    g_rw_lock_reader_unlock(&bs->write_hooks_lock);
}

/* ---- requests ---- */

static bool check_request(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          GError **errp)
{
    if (!bs->drv) {
        error_setg(errp, "Node '%s' has no driver", bs->node_name);
        return false;
    }
    if (offset < 0 || bytes < 0 || offset > INT64_MAX - bytes) {
        error_setg(errp,
                   "Invalid request at offset %" G_GINT64_FORMAT
                   " of %" G_GINT64_FORMAT " bytes on '%s'",
                   offset, bytes, bs->node_name);
        return false;
    }
    return true;
}

/* Is a write of any kind allowed on @bs?  -EPERM for a read-only node. */
static int check_writable(BlockDriverState *bs, GError **errp)
{
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        return -EPERM;
    }
    return 0;
}

/* discard=unmap on the node: may it give space back? */
static bool may_unmap(BlockDriverState *bs)
{
    const char *mode = bdrv_node(bs)->discard;

    return mode && g_str_equal(mode, "unmap");
}

int bdrv_pread(BlockDriverState *bs, int64_t offset, int64_t bytes, void *buf,
               GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (bytes == 0) {
        return 0;
    }
    int64_t t0 = bdrv_account_now();

    io_begin(bs);
    ret = bs->drv->bdrv_pread(bs, offset, bytes, buf, errp);
    io_end(bs);
    bdrv_account_io(bs, BDRV_ACCT_READ, bytes, bdrv_account_now() - t0, ret);
    return ret < 0 ? -1 : 0;
}

int bdrv_pread_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    int64_t t0;
    int ret;

    if (!bs->drv || !bs->drv->bdrv_pread_nowait || bytes <= 0 ||
        !check_request(bs, offset, bytes, NULL)) {
        return -EAGAIN;
    }
    t0 = bdrv_account_now();
    if (!io_try_begin(bs, req_nested(bs))) {
        return -EAGAIN; /* drained: the slow path waits for the end */
    }
    ret = bs->drv->bdrv_pread_nowait(bs, offset, bytes, buf);
    io_end(bs);
    if (ret < 0) {
        return -EAGAIN;
    }
    bdrv_account_io(bs, BDRV_ACCT_READ, bytes, bdrv_account_now() - t0, 0);
    return 0;
}

/* ---- writes that do not wait ---- */

/* A bdrv_pwrite_async on one node, from its start to its @done. */
typedef struct AsyncWriteReq {
    BlockDriverState *bs;
    int64_t offset, bytes, t0;
    BdrvWriteDoneFn *done;
    void *opaque;
} AsyncWriteReq;

/* Would every before hook of @bs let this write through at once? */
static bool befores_are_noop(BlockDriverState *bs, int64_t offset,
                             int64_t bytes)
{
    for (GSList *l = bs->write_hooks; l; l = l->next) {
        BdrvWriteHook *hook = l->data;

        if (hook->before && (!hook->before_is_noop ||
                             !hook->before_is_noop(hook, offset, bytes))) {
            return false;
        }
    }
    return true;
}

/*
 * May a write on @bs go without waiting?  Only if no before hook has
 * anything to do (a copy-before-write must run first, and may wait);
 * an after (dirty bitmaps, a mirror's tracking) runs at the write's end.
 * Counts the write in async_writes under the hooks' lock, so that a hook
 * change waits for it (await_async_writes).
 */
static bool async_write_begin(BlockDriverState *bs, int64_t offset,
                              int64_t bytes)
{
    bool ok;

    g_rw_lock_reader_lock(&bs->write_hooks_lock);
    ok = !g_atomic_int_get(&bs->async_held) &&
         befores_are_noop(bs, offset, bytes);
    if (ok) {
        g_atomic_int_inc(&bs->async_writes);
    }
    g_rw_lock_reader_unlock(&bs->write_hooks_lock);
    return ok;
}

static void async_write_done(void *opaque, int ret)
{
    AsyncWriteReq *a = opaque;
    BlockDriverState *bs = a->bs;

    g_rw_lock_reader_lock(&bs->write_hooks_lock);
    write_hooks_after(bs, a->offset, a->bytes, BDRV_WRITE_DATA, ret);
    bdrv_account_io(bs, BDRV_ACCT_WRITE, a->bytes,
                    bdrv_account_now() - a->t0, ret);
    g_atomic_int_add(&bs->async_writes, -1);
    in_flight_end(bs); /* from here on @bs may be drained */
    a->done(a->opaque, ret);
    g_free(a);
}

/*
 * The start of a write that does not wait (done now or queued), if @bs
 * can take one (@can: its driver has the callback): a request on @bs,
 * counted in async_writes.  False: nothing started.
 */
static bool unwaited_write_begin(BlockDriverState *bs, bool can,
                                 int64_t offset, int64_t bytes)
{
    if (!can || bytes <= 0 || bs->read_only ||
        !check_request(bs, offset, bytes, NULL)) {
        return false;
    }
    if (!io_try_begin(bs, req_nested(bs))) {
        return false; /* drained: the slow path waits for the end */
    }
    if (!async_write_begin(bs, offset, bytes)) {
        io_end(bs);
        return false;
    }
    return true;
}

/* Counted as an async write, so that a hook change waits for it too. */
int bdrv_pwrite_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf)
{
    int64_t t0;
    int ret;

    if (!unwaited_write_begin(bs, bs->drv && bs->drv->bdrv_pwrite_nowait,
                              offset, bytes)) {
        return -EAGAIN;
    }
    t0 = bdrv_account_now();
    ret = bs->drv->bdrv_pwrite_nowait(bs, offset, bytes, buf);
    if (ret == 0) {
        bdrv_write_threshold_check(bs, offset, bytes);
        g_rw_lock_reader_lock(&bs->write_hooks_lock);
        write_hooks_after(bs, offset, bytes, BDRV_WRITE_DATA, 0);
        bdrv_account_io(bs, BDRV_ACCT_WRITE, bytes, bdrv_account_now() - t0,
                        0);
    }
    g_atomic_int_add(&bs->async_writes, -1);
    io_end(bs);
    return ret < 0 ? -EAGAIN : 0;
}

int bdrv_pwrite_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque)
{
    AsyncWriteReq *a;
    int ret;

    if (!unwaited_write_begin(bs, bs->drv && bs->drv->bdrv_pwrite_async,
                              offset, bytes)) {
        return -EAGAIN;
    }
    bdrv_write_threshold_check(bs, offset, bytes);
    a = g_new(AsyncWriteReq, 1);
    *a = (AsyncWriteReq){bs, offset, bytes, bdrv_account_now(), done, opaque};
    ret = bs->drv->bdrv_pwrite_async(bs, offset, bytes, buf,
                                     async_write_done, a);
    if (ret < 0) {
        g_free(a);
        g_atomic_int_add(&bs->async_writes, -1);
        io_end(bs);
        return -EAGAIN;
    }
    req_depth--; /* the request goes on, but no longer on this thread */
    return 0;
}

int bdrv_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                  int64_t *pnum, GError **errp)
{
    int ret;

    *pnum = bytes;
    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (!bs->drv->bdrv_map_file || bytes == 0) {
        return 0;
    }
    io_begin(bs);
    ret = bs->drv->bdrv_map_file(bs, offset, bytes, write, leaf, leaf_offset,
                                 pnum, errp);
    io_end(bs);
    return ret;
}

void bdrv_start_writeback(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    BlockDriverState *leaf;
    int64_t leaf_off, n;

    while (bytes > 0 && bdrv_map_file(bs, offset, bytes, true, &leaf, &leaf_off,
                                      &n, NULL) > 0) {
        io_begin(leaf);
        bdrv_file_start_writeback(leaf, leaf_off, n);
        io_end(leaf);
        offset += n;
        bytes -= n;
    }
}

/*
 * The copy itself, as a request on both leaves.  Known limit: the two
 * begin one after the other, so two threads draining the same two leaves
 * in opposite orders while this runs could wait on each other; nothing
 * drains two leaves that way.
 */
static int64_t copy_leaves(BlockDriverState *src_leaf, int64_t src_off,
                           BlockDriverState *dst_leaf, int64_t dst_off,
                           int64_t n, GError **errp)
{
    io_begin(src_leaf);
    io_begin(dst_leaf);
    n = bdrv_file_copy_range(src_leaf, src_off, dst_leaf, dst_off, n, errp);
    io_end(dst_leaf);
    io_end(src_leaf);
    return n;
}

int64_t bdrv_copy_range(BlockDriverState *src, BlockDriverState *dst,
                        int64_t offset, int64_t bytes, GError **errp)
{
    BlockDriverState *src_leaf, *dst_leaf;
    int64_t src_off, dst_off, n;
    int ret;

    if (dst->read_only) {
        return 0; /* the plain write reports it */
    }
    /* the target first: a format that allocates (qcow2) says no at once,
     * before the source's mapping is looked up for nothing */
    ret = bdrv_map_file(dst, offset, bytes, true, &dst_leaf, &dst_off, &n,
                        errp);
    if (ret <= 0) {
        return ret;
    }
    ret = bdrv_map_file(src, offset, n, false, &src_leaf, &src_off, &n, errp);
    if (ret <= 0) {
        return ret;
    }
    if (dst_leaf == src_leaf || dst_leaf->read_only) {
        return 0;
    }
    io_begin(dst);
    bdrv_write_threshold_check(dst, offset, n); /* a write to @dst, too */
    if (write_hooks_before(dst, offset, n, BDRV_WRITE_DATA, errp) < 0) {
        write_hooks_after(dst, offset, n, BDRV_WRITE_DATA, -EIO);
        io_end(dst);
        return -1;
    }
    int64_t t0 = bdrv_account_now();

    n = copy_leaves(src_leaf, src_off, dst_leaf, dst_off, n, errp);
    write_hooks_after(dst, offset, n, BDRV_WRITE_DATA, n < 0 ? -EIO : 0);
    io_end(dst);
    /* offloaded, but a read of @src and a write of @dst all the same */
    t0 = bdrv_account_now() - t0;
    bdrv_account_io(src, BDRV_ACCT_READ, n, t0, n < 0 ? -1 : 0);
    bdrv_account_io(dst, BDRV_ACCT_WRITE, n, t0, n < 0 ? -1 : 0);
    return n;
}

/* The driver's flush; 0 on a read-only node (nothing to make durable). */
/* A driver's -1 is EIO; a driver that knows the errno (blkdebug) returns
 * it. */
static int driver_errno(const BlockDriver *drv, int ret)
{
    return ret == -1 && !drv->returns_errno ? -EIO : MIN(ret, 0);
}

static int driver_flush(BlockDriverState *bs, GError **errp)
{
    if (!bs->drv->bdrv_flush || bs->read_only) {
        return 0;
    }
    return driver_errno(bs->drv, bs->drv->bdrv_flush(bs, errp));
}

/* A write, made durable for FUA by the driver or by a flush after it. */
static int driver_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         const void *buf, int flags, GError **errp)
{
    const BlockDriver *drv = bs->drv;
    int ret;

    if (!drv->bdrv_pwrite && !drv->bdrv_pwrite_flags) {
        error_setg(errp, "Driver '%s' cannot write", drv->format_name);
        return -ENOTSUP;
    }
    ret = check_writable(bs, errp);
    if (ret < 0) {
        return ret;
    }
    if (drv->bdrv_pwrite_flags) {
        return bytes ? drv->bdrv_pwrite_flags(bs, offset, bytes, buf, flags,
                                              errp)
                     : 0;
    }
    if (bytes) {
        ret = driver_errno(drv,
                           drv->bdrv_pwrite(bs, offset, bytes, buf, errp));
    }
    if (ret == 0 && (flags & BDRV_REQ_FUA)) {
        ret = driver_flush(bs, errp);
    }
    return ret;
}

int bdrv_pwrite_flags(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags, GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    int64_t t0 = bdrv_account_now();

    io_begin(bs);
    bdrv_write_threshold_check(bs, offset, bytes);
    ret = write_hooks_before(bs, offset, bytes, BDRV_WRITE_DATA, errp);
    if (ret == 0) {
        ret = driver_pwrite(bs, offset, bytes, buf, flags, errp);
    }
    write_hooks_after(bs, offset, bytes, BDRV_WRITE_DATA, ret);
    io_end(bs);
    bdrv_account_io(bs, BDRV_ACCT_WRITE, bytes, bdrv_account_now() - t0, ret);
    return ret;
}

int bdrv_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, GError **errp)
{
    return bdrv_pwrite_flags(bs, offset, bytes, buf, 0, errp) < 0 ? -1 : 0;
}

int bdrv_flush(BlockDriverState *bs, GError **errp)
{
    int ret;

    if (!bs->drv || !bs->drv->bdrv_flush) {
        return 0;
    }
    int64_t t0 = bdrv_account_now();

    io_begin(bs);
    ret = driver_flush(bs, errp);
    io_end(bs);
    bdrv_account_io(bs, BDRV_ACCT_FLUSH, 0, bdrv_account_now() - t0, ret);
    return ret;
}

/* A resize changes what every request sees: it runs drained. */
int bdrv_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    int ret;

    if (!bs->drv || !bs->drv->bdrv_truncate) {
        error_setg(errp, "Image format '%s' does not support resizing",
                   bs->drv ? bs->drv->format_name : "");
        return -1;
    }
    bdrv_drained_begin(bs);
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else {
        ret = bs->drv->bdrv_truncate(bs, size, errp);
    }
    if (ret >= 0) {
        bdrv_dirty_bitmaps_truncate(bs); /* drained: no write marks them */
    }
    bdrv_drained_end(bs);
    return ret < 0 ? -1 : 0;
}

int64_t bdrv_getlength_bytes(BlockDriverState *bs)
{
    int64_t len;

    if (!bs->drv || !bs->drv->bdrv_getlength) {
        return -1;
    }
    io_begin(bs);
    len = bs->drv->bdrv_getlength(bs);
    io_end(bs);
    return len;
}

int64_t bdrv_getlength(BlockDriverState *bs)
{
    int64_t len = bdrv_getlength_bytes(bs);

    /* QEMU 7.2 counts whole sectors: a 1000000-byte file is a
     * 1000448-byte node, the tail reading as zeroes */
    return len < 0 ? len : (len + 511) & ~(int64_t)511;
}

int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    if (bytes == 0 || !bs->drv->bdrv_is_allocated) {
        *pnum = bytes;
        return 1;
    }
    io_begin(bs);
    ret = bs->drv->bdrv_is_allocated(bs, offset, bytes, pnum, errp);
    io_end(bs);
    if (ret >= 0 && (*pnum <= 0 || *pnum > bytes)) {
        error_setg(errp, "Driver '%s' reported a bad allocation run",
                   bs->drv->format_name);
        return -1;
    }
    return ret < 0 ? -1 : ret;
}

int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            GError **errp)
{
    int64_t run = bytes;

    for (BlockDriverState *it = bdrv_skip_filters(top); it && it != base;
         it = bdrv_backing_next(it)) {
        int64_t len = bdrv_getlength(it);
        int64_t n;
        int ret;

        if (offset >= len) {
            continue; /* a shorter layer allocates nothing out there */
        }
        ret = bdrv_is_allocated(it, offset, MIN(run, len - offset), &n, errp);
        if (ret < 0) {
            return -1;
        }
        if (ret == 1) {
            *pnum = n;
            return 1;
        }
        run = MIN(run, n);
    }
    *pnum = run;
    return 0;
}

/* ---- write zeroes, discard, block status ---- */

/* The fallback for drivers without write-zeroes: plain zero buffers. */
static int write_zero_buffers(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags, GError **errp)
{
    g_autofree void *zeroes = g_malloc0(MIN(bytes, ZERO_BUFFER_SIZE));
    int ret = 0;

    while (bytes > 0 && ret == 0) {
        int64_t n = MIN(bytes, ZERO_BUFFER_SIZE);

        ret = driver_pwrite(bs, offset, n, zeroes,
                            bytes == n ? flags & BDRV_REQ_FUA : 0, errp);
        offset += n;
        bytes -= n;
    }
    return ret;
}

/* The driver's zeroes when it has them, else (if allowed) buffers. */
static int driver_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, int flags, GError **errp)
{
    int ret = -ENOTSUP;

    if (bs->drv->bdrv_pwrite_zeroes) {
        ret = bs->drv->bdrv_pwrite_zeroes(bs, offset, bytes,
                                          flags & ~BDRV_REQ_FUA, errp);
        if (ret == 0 && (flags & BDRV_REQ_FUA)) {
            ret = driver_flush(bs, errp);
        }
        if (ret != -ENOTSUP || (flags & BDRV_REQ_NO_FALLBACK)) {
            return ret;
        }
        g_clear_error(errp);
    }
    if (flags & BDRV_REQ_NO_FALLBACK) {
        error_setg(errp, "Node '%s' cannot write zeroes fast",
                   bs->node_name);
        return -ENOTSUP;
    }
    return write_zero_buffers(bs, offset, bytes, flags, errp);
}

int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags, GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    ret = check_writable(bs, errp);
    if (ret < 0 || bytes == 0) {
        return ret;
    }
    if (!may_unmap(bs)) {
        flags &= ~BDRV_REQ_MAY_UNMAP; /* discard=ignore keeps the space */
    }
    if ((flags & BDRV_REQ_NO_FALLBACK) && !bs->drv->bdrv_pwrite_zeroes) {
        /* nothing here makes zeroes cheaper than writing them */
        error_setg(errp, "Node '%s' cannot write zeroes fast",
                   bs->node_name);
        return -ENOTSUP;
    }
    int64_t t0 = bdrv_account_now();

    io_begin(bs);
    bdrv_write_threshold_check(bs, offset, bytes);
    bdrv_debug_event(bs, BLKDBG_PWRITEV_ZERO);
    ret = write_hooks_before(bs, offset, bytes, BDRV_WRITE_ZEROES, errp);
    if (ret == 0) {
        ret = driver_pwrite_zeroes(bs, offset, bytes, flags, errp);
    }
    write_hooks_after(bs, offset, bytes, BDRV_WRITE_ZEROES, ret);
    io_end(bs);
    /* QEMU accounts write-zeroes as writes */
    bdrv_account_io(bs, BDRV_ACCT_WRITE, bytes, bdrv_account_now() - t0, ret);
    return ret;
}

int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  GError **errp)
{
    int ret;

    if (!check_request(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    ret = check_writable(bs, errp);
    if (ret < 0 || bytes == 0 || !may_unmap(bs)) {
        return ret; /* discard=ignore: the request is dropped, as QEMU */
    }
    int64_t t0 = bdrv_account_now();

    io_begin(bs);
    /* the hooks hear of it: a mirror or bitmap treats the range as changed */
    ret = write_hooks_before(bs, offset, bytes, BDRV_WRITE_DISCARD, errp);
    if (ret == 0 && bs->drv->bdrv_pdiscard) {
        ret = bs->drv->bdrv_pdiscard(bs, offset, bytes, errp);
        if (ret == -ENOTSUP) {
            g_clear_error(errp); /* advisory: nothing dropped is fine */
            ret = 0;
        }
    }
    write_hooks_after(bs, offset, bytes, BDRV_WRITE_DISCARD, ret);
    io_end(bs);
    bdrv_account_io(bs, BDRV_ACCT_UNMAP, bytes, bdrv_account_now() - t0, ret);
    return ret;
}

/*
 * One layer's status: BDRV_BLOCK_ALLOCATED (with DATA or ZERO) when @bs
 * decides what reads return, 0 when they go to its backing child.
 */
static int layer_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int64_t *pnum, GError **errp)
{
    int ret;

    if (bs->drv->bdrv_block_status) {
        io_begin(bs);
        ret = bs->drv->bdrv_block_status(bs, offset, bytes, pnum, errp);
        io_end(bs);
        if (ret >= 0 && (*pnum <= 0 || *pnum > bytes)) {
            error_setg(errp, "Driver '%s' reported a bad status run",
                       bs->drv->format_name);
            return -EIO;
        }
        return ret < 0 ? -EIO : ret;
    }
    ret = bdrv_is_allocated(bs, offset, bytes, pnum, errp);
    if (ret < 0) {
        return -EIO;
    }
    return ret ? BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED : 0;
}

int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int *depth, GError **errp)
{
    int64_t len, run;
    int d = 0;

    if (!check_request(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    if (bs->drv->is_filter) { /* depths count the layers below it */
        return bdrv_block_status(bs->file, offset, bytes, pnum, depth, errp);
    }
    len = bdrv_getlength(bs);
    if (len < 0 || offset + bytes > len || bytes == 0) {
        error_setg(errp, "Invalid block status request on '%s'",
                   bs->node_name);
        return -EINVAL;
    }
    run = bytes;
    for (BlockDriverState *it = bs; it; it = bdrv_backing_next(it), d++) {
        int64_t it_len = it == bs ? len : bdrv_getlength(it);
        int64_t n;
        int ret;

        if (offset >= it_len) {
            continue; /* a shorter layer reads as zeroes out there */
        }
        ret = layer_status(it, offset, MIN(run, it_len - offset), &n, errp);
        if (ret < 0) {
            return ret;
        }
        if (ret & BDRV_BLOCK_ALLOCATED) {
            *pnum = n;
            *depth = d + 1;
            return ret;
        }
        run = MIN(run, n);
    }
    *pnum = run;
    *depth = 0;
    return BDRV_BLOCK_ZERO;
}

/*
 * One pass of copy-on-read over [offset, offset + bytes): what this layer
 * does not allocate is read (from below) and written into it.
 */
static int copy_on_read_pass(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, void *buf, int64_t *copied,
                             GError **errp)
{
    const BlockDriver *drv = bs->drv;

    for (int64_t off = offset, n; off < offset + bytes; off += n) {
        int alloc = 1;

        n = offset + bytes - off;
        if (drv->bdrv_is_allocated) {
            alloc = drv->bdrv_is_allocated(bs, off, n, &n, errp);
        }
        if (alloc < 0 || n <= 0) {
            return -1;
        }
        if (alloc) {
            continue;
        }
        bdrv_debug_event(bs, BLKDBG_COR_WRITE); /* the copy is next */
        if (drv->bdrv_pread(bs, off, n, buf, errp) < 0 ||
            (drv->bdrv_pwrite_unallocated
                 ? drv->bdrv_pwrite_unallocated(bs, off, n, buf, errp)
                 : drv->bdrv_pwrite(bs, off, n, buf, errp)) < 0) {
            return -1;
        }
        *copied += n;
    }
    return 0;
}

int bdrv_copy_on_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf, int64_t *copied, GError **errp)
{
    /* a driver that writes only what is still unallocated needs no drain */
    bool drain = !bs->drv || !bs->drv->bdrv_pwrite_unallocated;
    int ret = 0;

    *copied = 0;
    if (!check_request(bs, offset, bytes, errp)) {
        return -1;
    }
    /*
     * No write hooks: what reads show does not change (QEMU's "write
     * unchanged").  A guest write from another thread must not be
     * overwritten with the older data from below: either the driver's
     * bdrv_pwrite_unallocated skips what was written meanwhile (qcow2), or
     * a drained section keeps other writers out for the pass.
     */
    if (drain) {
        bdrv_drained_begin(bs);
    } else {
        io_begin(bs);
    }
    if (bs->read_only) {
        error_setg(errp, "Block node is read-only");
        ret = -1;
    } else {
        ret = copy_on_read_pass(bs, offset, bytes, buf, copied, errp);
    }
    if (drain) {
        bdrv_drained_end(bs);
    } else {
        io_end(bs);
    }
    return ret;
}
