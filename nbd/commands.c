/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transmission phase's commands and replies: each request runs its
 * block call and sends its reply (header and payload in one sendmsg,
 * under send_lock) on the thread that received it (requests.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "block/block_int.h"
#include "block/perm.h"
#include "nbd-internal.h"

void nbd_client_fail(NbdClient *c)
{
    g_mutex_lock(&c->lock);
    g_atomic_int_set(&c->failed, true);
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
    shutdown(c->fd, SHUT_RDWR);
}

/* ---- replies ---- */

static void send_iov(NbdClient *c, struct iovec *iov, int n)
{
    int ret;

    g_mutex_lock(&c->send_lock);
    ret = nbd_writev_full(c, iov, n);
    g_mutex_unlock(&c->send_lock);
    if (ret < 0) {
        nbd_client_fail(c);
    }
}

static void send_simple(NbdClient *c, uint64_t cookie, uint32_t err,
                        const void *data, size_t len)
{
    uint8_t hdr[NBD_SIMPLE_REPLY_SIZE];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_put32(hdr, NBD_SIMPLE_REPLY_MAGIC);
    nbd_put32(hdr + 4, err);
    nbd_put64(hdr + 8, cookie);
    send_iov(c, iov, len ? 2 : 1);
}

/* A chunk: header, @prefix (offset, context id...), then @data. */
static void send_chunk(NbdClient *c, uint64_t cookie, uint16_t flags,
                       uint16_t type, const void *prefix, size_t plen,
                       const void *data, size_t len)
{
    uint8_t hdr[NBD_CHUNK_HEADER_SIZE];
    struct iovec iov[3] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)prefix, .iov_len = plen },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_put32(hdr, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_put16(hdr + 4, flags);
    nbd_put16(hdr + 6, type);
    nbd_put64(hdr + 8, cookie);
    nbd_put32(hdr + 16, plen + len);
    send_iov(c, iov, len ? 3 : plen ? 2 : 1);
}

void nbd_send_error(NbdClient *c, uint64_t cookie, uint32_t err,
                    const char *msg)
{
    uint8_t prefix[6];
    size_t ml = msg ? MIN(strlen(msg), 4096) : 0;

    if (!c->structured) {
        send_simple(c, cookie, err, NULL, 0);
        return;
    }
    nbd_put32(prefix, err);
    nbd_put16(prefix + 4, ml);
    send_chunk(c, cookie, NBD_REPLY_FLAG_DONE, NBD_REPLY_TYPE_ERROR, prefix,
               6, msg, ml);
}

/* Success of a request without data. */
static void send_ok(NbdClient *c, uint64_t cookie)
{
    send_simple(c, cookie, 0, NULL, 0);
}

static uint32_t nbd_errno(int err)
{
    switch (-err) {
    case 0:
        return 0;
    case EPERM:
    case EROFS:
        return NBD_EPERM;
    case EIO:
        return NBD_EIO;
    case ENOMEM:
        return NBD_ENOMEM;
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
        return NBD_ENOSPC;
    case EOVERFLOW:
        return NBD_EOVERFLOW;
    case ENOTSUP:
#if EOPNOTSUPP != ENOTSUP
    case EOPNOTSUPP:
#endif
        return NBD_ENOTSUP;
    case ESHUTDOWN:
        return NBD_ESHUTDOWN;
    default:
        return NBD_EINVAL;
    }
}

/* Reply to a request whose block call returned @ret (negative errno). */
static void send_result(NbdClient *c, NbdRequest *r, int ret, GError *err)
{
    if (ret >= 0) {
        send_ok(c, r->cookie);
    } else {
        nbd_send_error(c, r->cookie, nbd_errno(ret), err ? err->message : NULL);
    }
}

void nbd_send_replies(NbdClient *c, NbdRequest **reqs, int n)
{
    struct iovec iov[2 * NBD_BATCH_MAX];

    g_assert(n <= NBD_BATCH_MAX);
    for (int i = 0; i < n; i++) {
        iov[2 * i].iov_base = reqs[i]->reply_hdr;
        iov[2 * i].iov_len = reqs[i]->reply_hdr_len;
        iov[2 * i + 1].iov_base = reqs[i]->buf;
        iov[2 * i + 1].iov_len =
            reqs[i]->type == NBD_CMD_READ ? reqs[i]->len : 0;
    }
    send_iov(c, iov, 2 * n);
}

/* ---- commands ---- */

/* The header of a successful read's reply of r->buf (a simple reply, or
 * one OFFSET_DATA chunk and its offset) into r->reply_hdr: its length. */
static size_t read_reply_header(NbdClient *c, NbdRequest *r)
{
    uint8_t *h = r->reply_hdr;

    if (!c->structured) {
        nbd_put32(h, NBD_SIMPLE_REPLY_MAGIC);
        nbd_put32(h + 4, 0);
        nbd_put64(h + 8, r->cookie);
        return NBD_SIMPLE_REPLY_SIZE;
    }
    nbd_put32(h, NBD_STRUCTURED_REPLY_MAGIC);
    nbd_put16(h + 4, NBD_REPLY_FLAG_DONE);
    nbd_put16(h + 6, NBD_REPLY_TYPE_OFFSET_DATA);
    nbd_put64(h + 8, r->cookie);
    nbd_put32(h + 16, 8 + r->len);
    nbd_put64(h + NBD_CHUNK_HEADER_SIZE, r->offset);
    return NBD_CHUNK_HEADER_SIZE + 8;
}

static void read_plain(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;

    if (bdrv_pread(bs, r->offset, r->len, r->buf, &err) < 0) {
        nbd_send_error(c, r->cookie, NBD_EIO, err ? err->message : NULL);
        return;
    }
    r->reply_hdr_len = read_reply_header(c, r);
    nbd_send_replies(c, &r, 1);
}

/* A read that goes out as one piece of data (no hole chunks). */
static bool read_is_plain(NbdClient *c, NbdRequest *r)
{
    return !c->structured || (r->flags & NBD_CMD_FLAG_DF) ||
           r->len < NBD_SPARSE_READ_MIN;
}

static bool read_nowait(NbdClient *c, NbdRequest *r)
{
    BlockDriverState *bs;
    int ret;

    if (r->len == 0 || !read_is_plain(c, r)) {
        return false;
    }
    bs = bdrv_child_request_begin(c->exp->root);
    ret = bdrv_pread_nowait(bs, r->offset, r->len, r->buf);
    bdrv_child_request_end(c->exp->root);
    if (ret < 0) {
        return false;
    }
    r->reply_hdr_len = read_reply_header(c, r);
    return true;
}

/* ---- writes done or queued without waiting ---- */

static int fua_flags(NbdClient *c, NbdRequest *r);

static bool write_nowait(NbdClient *c, NbdRequest *r)
{
    BlockDriverState *bs;
    int ret;

    if (r->len == 0 || fua_flags(c, r)) {
        return false;
    }
    bs = bdrv_child_request_begin(c->exp->root);
    ret = bdrv_pwrite_nowait(bs, r->offset, r->len, r->buf);
    bdrv_child_request_end(c->exp->root);
    if (ret < 0) {
        return false;
    }
    r->ret = 0;
    return nbd_write_reply(c, r);
}

bool nbd_answer_nowait(NbdClient *c, NbdRequest *r)
{
    switch (r->type) {
    case NBD_CMD_READ:
        return read_nowait(c, r);
    case NBD_CMD_WRITE:
        return write_nowait(c, r);
    default:
        return false;
    }
}

/* On the node's writer thread: hand the result to the receiving one. */
static void write_done(void *opaque, int ret)
{
    NbdRequest *r = opaque;
    NbdClient *c = r->client;

    bdrv_child_request_end(r->gate);
    r->ret = ret;
    g_mutex_lock(&c->lock);
    r->done_next = c->done_head;
    c->done_head = r;
    g_atomic_int_add(&c->async_n, -1);
    if (c->n_cond_waiters) {
        g_cond_broadcast(&c->cond);
    }
    g_mutex_unlock(&c->lock);
}

bool nbd_write_async(NbdClient *c, NbdRequest *r)
{
    BlockDriverState *bs;

    if (r->type != NBD_CMD_WRITE || r->len == 0 || fua_flags(c, r)) {
        return false;
    }
    r->gate = c->exp->root;
    bs = bdrv_child_request_begin(r->gate);
    g_atomic_int_inc(&c->async_n); /* before: write_done may come first */
    if (bdrv_pwrite_async(bs, r->offset, r->len, r->buf, write_done, r) < 0) {
        g_atomic_int_add(&c->async_n, -1);
        bdrv_child_request_end(r->gate);
        return false;
    }
    return true;
}

bool nbd_write_reply(NbdClient *c, NbdRequest *r)
{
    if (r->ret < 0) {
        nbd_send_error(c, r->cookie, nbd_errno(r->ret), g_strerror(-r->ret));
        return false;
    }
    nbd_put32(r->reply_hdr, NBD_SIMPLE_REPLY_MAGIC);
    nbd_put32(r->reply_hdr + 4, 0);
    nbd_put64(r->reply_hdr + 8, r->cookie);
    r->reply_hdr_len = NBD_SIMPLE_REPLY_SIZE;
    return true;
}

/* Structured read without DF: holes go as hole chunks, data as data. */
static void read_sparse(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    uint64_t pos = r->offset, end = r->offset + r->len;

    while (pos < end) {
        g_autoptr(GError) err = NULL;
        int64_t pnum;
        int depth;
        int st = bdrv_block_status(bs, pos, end - pos, &pnum, &depth, NULL);
        uint16_t done;
        uint8_t prefix[12];

        if (st < 0 || (pos == r->offset && pnum >= (int64_t)r->len &&
                       !(st & BDRV_BLOCK_ZERO))) {
            read_plain(c, r, bs); /* all data, or status unknown */
            return;
        }
        done = pos + pnum >= end ? NBD_REPLY_FLAG_DONE : 0;
        nbd_put64(prefix, pos);
        if (st & BDRV_BLOCK_ZERO) {
            nbd_put32(prefix + 8, pnum);
            send_chunk(c, r->cookie, done, NBD_REPLY_TYPE_OFFSET_HOLE,
                       prefix, 12, NULL, 0);
        } else if (bdrv_pread(bs, pos, pnum, r->buf, &err) < 0) {
            nbd_send_error(c, r->cookie, NBD_EIO, err ? err->message : NULL);
            return;
        } else {
            send_chunk(c, r->cookie, done, NBD_REPLY_TYPE_OFFSET_DATA,
                       prefix, 8, r->buf, pnum);
        }
        pos += pnum;
    }
}

static void do_read(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    if (r->len == 0) {
        send_ok(c, r->cookie);
    } else if (read_is_plain(c, r)) {
        read_plain(c, r, bs);
    } else {
        read_sparse(c, r, bs);
    }
}

static int fua_flags(NbdClient *c, NbdRequest *r)
{
    return (r->flags & NBD_CMD_FLAG_FUA) || c->exp->writethrough
               ? BDRV_REQ_FUA
               : 0;
}

static void do_write_zeroes(NbdClient *c, NbdRequest *r,
                            BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;
    int flags = fua_flags(c, r);
    int ret;

    if (!(r->flags & NBD_CMD_FLAG_NO_HOLE)) {
        flags |= BDRV_REQ_MAY_UNMAP;
    }
    if (r->flags & NBD_CMD_FLAG_FAST_ZERO) {
        flags |= BDRV_REQ_NO_FALLBACK;
    }
    ret = bdrv_pwrite_zeroes(bs, r->offset, r->len, flags, &err);
    send_result(c, r, ret, err);
}

static void do_trim(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;
    int ret = bdrv_pdiscard(bs, r->offset, r->len, &err);

    if (ret >= 0 && fua_flags(c, r) && bdrv_flush(bs, &err) < 0) {
        ret = -EIO;
    }
    send_result(c, r, ret, err);
}

static void do_cache(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;
    uint64_t pos = r->offset, end = r->offset + r->len;
    int ret = 0;

    while (pos < end && ret == 0) {
        uint64_t n = MIN(end - pos, r->buf_size);

        ret = bdrv_pread(bs, pos, n, r->buf, &err) < 0 ? -EIO : 0;
        pos += n;
    }
    send_result(c, r, ret, err);
}

/* The value a context gives a run of status @st at @depth. */
static uint32_t meta_value(int ctx, int st, int depth)
{
    if (ctx == NBD_META_ALLOCATION_DEPTH) {
        return depth;
    }
    return (st & BDRV_BLOCK_DATA ? 0 : NBD_STATE_HOLE) |
           (st & BDRV_BLOCK_ZERO ? NBD_STATE_ZERO : 0);
}

/* A block-status reply being built: extents after the 4-byte id. */
typedef struct NbdExtents {
    uint8_t *ext;
    uint32_t n, max;
} NbdExtents;

static void extents_init(NbdExtents *e, NbdRequest *r)
{
    e->ext = r->buf + 4;
    e->n = 0;
    e->max = r->flags & NBD_CMD_FLAG_REQ_ONE ? 1
                                             : NBD_MAX_BLOCK_STATUS_EXTENTS;
}

/* Append a run, merged into the last one when it has the same flags;
 * false once the reply is full (the run is not in it). */
static bool extents_add(NbdExtents *e, uint64_t len, uint32_t flags)
{
    uint8_t *last = e->n ? e->ext + 8 * (e->n - 1) : NULL;

    if (last && nbd_get32(last + 4) == flags) {
        nbd_put32(last, nbd_get32(last) + len);
        return true;
    }
    if (e->n == e->max) {
        return false;
    }
    nbd_put32(e->ext + 8 * e->n, len);
    nbd_put32(e->ext + 8 * e->n + 4, flags);
    e->n++;
    return true;
}

/* One allocation context's extents: count, or a negative errno. */
static int status_extents(NbdRequest *r, BlockDriverState *bs, int ctx,
                          GError **errp)
{
    uint64_t pos = r->offset, end = r->offset + r->len;
    NbdExtents e;

    extents_init(&e, r);
    while (pos < end) {
        int64_t pnum;
        int depth;
        int st = bdrv_block_status(bs, pos, end - pos, &pnum, &depth, errp);

        if (st < 0) {
            return st;
        }
        if (!extents_add(&e, pnum, meta_value(ctx, st, depth))) {
            break;
        }
        pos += pnum;
    }
    return e.n;
}

static bool bitmap_run(void *opaque, uint64_t len, bool dirty)
{
    return extents_add(opaque, len, dirty ? NBD_STATE_DIRTY : 0);
}

/* A qemu:dirty-bitmap context's extents (the bits as they are now, runs
 * at the bitmap's granularity clipped to the request): count. */
static int bitmap_extents(NbdRequest *r, BdrvDirtyBitmap *bm)
{
    NbdExtents e;

    extents_init(&e, r);
    bdrv_dirty_bitmap_walk_runs(bm, r->offset, r->len, bitmap_run, &e);
    return e.n;
}

static void do_block_status(NbdClient *c, NbdRequest *r,
                            BlockDriverState *bs)
{
    uint32_t left = c->meta;

    for (int ctx = 0; left; ctx++) {
        g_autoptr(GError) err = NULL;
        int n;

        if (!(left & (1U << ctx))) {
            continue;
        }
        left &= ~(1U << ctx);
        if (ctx >= NBD_META_BITMAP_FIRST) {
            n = bitmap_extents(r, c->exp->bitmaps[ctx - NBD_META_BITMAP_FIRST]);
        } else {
            n = status_extents(r, bs, ctx, &err);
        }
        if (n < 0) {
            nbd_send_error(c, r->cookie, nbd_errno(n),
                           err ? err->message : NULL);
            return;
        }
        nbd_put32(r->buf, ctx);
        send_chunk(c, r->cookie, left ? 0 : NBD_REPLY_FLAG_DONE,
                   NBD_REPLY_TYPE_BLOCK_STATUS, r->buf, 4 + 8 * (size_t)n,
                   NULL, 0);
    }
}

void nbd_run_request(NbdClient *c, NbdRequest *r)
{
    /* the request stays on this node even if a snapshot or a mirror's
     * pivot moves the export meanwhile (perm.h) */
    BlockDriverState *bs = bdrv_child_request_begin(c->exp->root);
    g_autoptr(GError) err = NULL;
    int ret;

    switch (r->type) {
    case NBD_CMD_READ:
        do_read(c, r, bs);
        break;
    case NBD_CMD_WRITE:
        ret = bdrv_pwrite_flags(bs, r->offset, r->len, r->buf,
                                fua_flags(c, r), &err);
        send_result(c, r, ret, err);
        break;
    case NBD_CMD_FLUSH:
        ret = bdrv_flush(bs, &err);
        send_result(c, r, ret, err);
        break;
    case NBD_CMD_TRIM:
        do_trim(c, r, bs);
        break;
    case NBD_CMD_WRITE_ZEROES:
        do_write_zeroes(c, r, bs);
        break;
    case NBD_CMD_CACHE:
        do_cache(c, r, bs);
        break;
    case NBD_CMD_BLOCK_STATUS:
        do_block_status(c, r, bs);
        break;
    default:
        g_assert_not_reached(); /* checked by the reader */
    }
    bdrv_child_request_end(c->exp->root);
}
