/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transmission phase, as leader/followers: a client's serving threads
 * take turns receiving (under recv_lock: one request, through a receive
 * buffer, payloads of large writes straight into the request's buffer),
 * then each runs its request's block call and sends the reply (header and
 * payload in one sendmsg, under send_lock) while the next thread receives.
 * A thread that finds no other waiting to receive starts one more, up to
 * NBD_MAX_IN_FLIGHT: an idle client costs one thread, a busy one as many
 * as it keeps in flight, and no request changes threads on its way.  At most NBD_MAX_IN_FLIGHT
 * requests and NBD_MAX_BYTES_IN_FLIGHT payload bytes are in flight per
 * client: the reader waits before taking more, which bounds memory and
 * lets a client that never reads its replies stall nobody but itself.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "block/block_int.h"
#include "block/perm.h"
#include "nbd-internal.h"

/* Cached request buffers above this size are given back. */
#define NBD_CACHED_BUFFER_MAX (1024 * 1024 + 64)
/* CACHE reads go through a buffer this big. */
#define NBD_CACHE_CHUNK (1024 * 1024)
/*
 * Reads shorter than this go out as one data chunk without asking block
 * status first: for a few KiB the probe (on a file, SEEK_DATA/SEEK_HOLE
 * plus the length checks) costs more than sending the zeroes of a hole
 * would, and the protocol lets a server send data where it could have sent
 * a hole.  Copy tools read far larger blocks and still get hole chunks.
 */
#define NBD_SPARSE_READ_MIN (64 * 1024)

/* ---- receiving ---- */

static int recv_buffered(NbdClient *c, void *dst, size_t n)
{
    uint8_t *p = dst;
    size_t avail = c->rlen - c->rpos;

    if (avail >= n) {
        memcpy(p, c->rbuf + c->rpos, n);
        c->rpos += n;
        return 0;
    }
    memcpy(p, c->rbuf + c->rpos, avail);
    p += avail;
    n -= avail;
    c->rpos = c->rlen = 0;
    if (n >= NBD_RECV_BUFFER / 2) {
        return nbd_read_full(c, p, n); /* big payloads skip the copy */
    }
    while (c->rlen < n) {
        ssize_t got = recv(c->fd, c->rbuf + c->rlen,
                           NBD_RECV_BUFFER - c->rlen, 0);

        if (got <= 0) {
            if (got < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        c->rlen += got;
    }
    memcpy(p, c->rbuf, n);
    c->rpos = n;
    return 0;
}

/* ---- request slots ---- */

static size_t request_buf_need(uint16_t type, uint32_t len)
{
    switch (type) {
    case NBD_CMD_READ:
    case NBD_CMD_WRITE:
        return len;
    case NBD_CMD_CACHE:
        return MIN(len, NBD_CACHE_CHUNK);
    case NBD_CMD_BLOCK_STATUS:
        return 4 + 8 * (size_t)NBD_MAX_BLOCK_STATUS_EXTENTS;
    default:
        return 0;
    }
}

/* Wait for room for @need more bytes, then take a slot. */
static NbdRequest *request_get(NbdClient *c, size_t need)
{
    NbdRequest *r;

    g_mutex_lock(&c->lock);
    while (!c->failed && c->in_flight &&
           (c->in_flight >= NBD_MAX_IN_FLIGHT ||
            c->bytes_in_flight + need > NBD_MAX_BYTES_IN_FLIGHT)) {
        c->n_cond_waiters++;
        g_cond_wait(&c->cond, &c->lock);
        c->n_cond_waiters--;
    }
    if (c->failed) {
        g_mutex_unlock(&c->lock);
        return NULL;
    }
    c->in_flight++;
    c->bytes_in_flight += need;
    r = c->free_reqs ? c->free_reqs->data : NULL;
    if (r) {
        c->free_reqs = g_slist_delete_link(c->free_reqs, c->free_reqs);
    }
    g_mutex_unlock(&c->lock);
    if (!r) {
        r = g_new0(NbdRequest, 1);
        r->client = c;
    }
    if (r->buf_size < need) {
        g_free(r->buf);
        r->buf = g_malloc(need);
        r->buf_size = need;
    }
    return r;
}

static void request_put(NbdClient *c, NbdRequest *r)
{
    size_t need = request_buf_need(r->type, r->len);

    if (r->buf_size > NBD_CACHED_BUFFER_MAX) {
        g_clear_pointer(&r->buf, g_free);
        r->buf_size = 0;
    }
    g_mutex_lock(&c->lock);
    c->in_flight--;
    c->bytes_in_flight -= need;
    c->free_reqs = g_slist_prepend(c->free_reqs, r);
    if (c->n_cond_waiters) { /* a GCond wake is a syscall even with none */
        g_cond_broadcast(&c->cond);
    }
    g_mutex_unlock(&c->lock);
}

/* A send failed: the connection is over for everyone on it. */
static void client_fail(NbdClient *c)
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
        client_fail(c);
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

static void send_error(NbdClient *c, uint64_t cookie, uint32_t err,
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
        send_error(c, r->cookie, nbd_errno(ret), err ? err->message : NULL);
    }
}

/* ---- commands ---- */

static void read_plain(NbdClient *c, NbdRequest *r, BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;
    uint8_t off[8];

    if (bdrv_pread(bs, r->offset, r->len, r->buf, &err) < 0) {
        send_error(c, r->cookie, NBD_EIO, err ? err->message : NULL);
    } else if (!c->structured) {
        send_simple(c, r->cookie, 0, r->buf, r->len);
    } else {
        nbd_put64(off, r->offset);
        send_chunk(c, r->cookie, NBD_REPLY_FLAG_DONE,
                   NBD_REPLY_TYPE_OFFSET_DATA, off, 8, r->buf, r->len);
    }
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
            send_error(c, r->cookie, NBD_EIO, err ? err->message : NULL);
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
    } else if (c->structured && !(r->flags & NBD_CMD_FLAG_DF) &&
               r->len >= NBD_SPARSE_READ_MIN) {
        read_sparse(c, r, bs);
    } else {
        read_plain(c, r, bs);
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
            send_error(c, r->cookie, nbd_errno(n), err ? err->message : NULL);
            return;
        }
        nbd_put32(r->buf, ctx);
        send_chunk(c, r->cookie, left ? 0 : NBD_REPLY_FLAG_DONE,
                   NBD_REPLY_TYPE_BLOCK_STATUS, r->buf, 4 + 8 * (size_t)n,
                   NULL, 0);
    }
}

static void run_request(NbdClient *c, NbdRequest *r)
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

/* ---- the reader ---- */

static bool is_write_type(uint16_t type)
{
    return type == NBD_CMD_WRITE || type == NBD_CMD_TRIM ||
           type == NBD_CMD_WRITE_ZEROES;
}

/* QEMU's checks in QEMU's order: 0, or the NBD error (and @msg). */
static uint32_t check_request(NbdClient *c, NbdRequest *r, const char **msg)
{
    uint64_t size = nbd_export_size(c->exp);
    uint16_t valid = NBD_CMD_FLAG_FUA;

    if (r->type > NBD_CMD_BLOCK_STATUS) {
        *msg = "invalid request type received";
        return NBD_EINVAL;
    }
    if (is_write_type(r->type) && !c->exp->writable) {
        *msg = "Export is read-only";
        return NBD_EPERM;
    }
    if (r->type != NBD_CMD_FLUSH &&
        (r->offset > size || r->len > size - r->offset)) {
        *msg = "operation past EOF";
        return r->type == NBD_CMD_WRITE || r->type == NBD_CMD_WRITE_ZEROES
                   ? NBD_ENOSPC
                   : NBD_EINVAL;
    }
    if (r->type == NBD_CMD_READ && c->structured) {
        valid |= NBD_CMD_FLAG_DF;
    } else if (r->type == NBD_CMD_WRITE_ZEROES) {
        valid |= NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FAST_ZERO;
    } else if (r->type == NBD_CMD_BLOCK_STATUS) {
        valid |= NBD_CMD_FLAG_REQ_ONE;
    }
    if (r->flags & ~valid) {
        *msg = "unsupported flags";
        return NBD_EINVAL;
    }
    if (r->type == NBD_CMD_BLOCK_STATUS && (!c->meta || !r->len)) {
        *msg = "no metadata context negotiated";
        return NBD_EINVAL;
    }
    return 0;
}

/*
 * One request: false when the connection is over (DISC, EOF, bad magic,
 * a write payload too big to read).  *out: the request to run, or NULL
 * when it was answered here (a bad request).
 */
static bool receive_one(NbdClient *c, NbdRequest **out)
{
    uint8_t hdr[NBD_REQUEST_SIZE];
    uint16_t type, flags;
    uint64_t cookie;
    uint32_t len;
    NbdRequest *r;
    const char *msg = NULL;
    uint32_t err;

    *out = NULL;
    if (recv_buffered(c, hdr, sizeof(hdr)) < 0 ||
        nbd_get32(hdr) != NBD_REQUEST_MAGIC) {
        return false;
    }
    flags = nbd_get16(hdr + 4);
    type = nbd_get16(hdr + 6);
    cookie = nbd_get64(hdr + 8);
    len = nbd_get32(hdr + 24);
    if (type == NBD_CMD_DISC) {
        return false;
    }
    if ((type == NBD_CMD_READ || type == NBD_CMD_WRITE) &&
        len > NBD_MAX_BUFFER_SIZE) {
        send_error(c, cookie, NBD_EINVAL, "request larger than max len");
        return type != NBD_CMD_WRITE; /* its payload is not read */
    }
    r = request_get(c, request_buf_need(type, len));
    if (!r) {
        return false;
    }
    r->flags = flags;
    r->type = type;
    r->cookie = cookie;
    r->offset = nbd_get64(hdr + 16);
    r->len = len;
    if (type == NBD_CMD_WRITE && recv_buffered(c, r->buf, len) < 0) {
        request_put(c, r);
        return false;
    }
    err = check_request(c, r, &msg);
    if (err) {
        send_error(c, cookie, err, msg);
        request_put(c, r);
        return true;
    }
    *out = r;
    return true;
}

static void *follower_thread(void *opaque);

/* Another serving thread; a failure only means less parallelism. */
static void start_follower(NbdClient *c)
{
    pthread_attr_t attr;
    pthread_t tid;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&tid, &attr, follower_thread, c)) {
        g_mutex_lock(&c->lock);
        c->n_threads--;
        g_cond_broadcast(&c->cond);
        g_mutex_unlock(&c->lock);
    }
    pthread_attr_destroy(&attr);
}

/*
 * Take the next request: false when the connection is over.  c->lock is
 * taken only to start a follower: with 16 threads on a client, every
 * other acquisition per request was one more chance to sleep on it.
 */
static bool take_turn(NbdClient *c, NbdRequest **r, bool *spawn)
{
    bool ok;

    g_atomic_int_inc(&c->n_waiting);
    g_mutex_lock(&c->recv_lock);
    g_atomic_int_add(&c->n_waiting, -1);
    ok = !c->stopping && !g_atomic_int_get(&c->failed) && receive_one(c, r);
    c->stopping = !ok;
    *spawn = false;
    if (ok && g_atomic_int_get(&c->n_waiting) == 0) {
        g_mutex_lock(&c->lock);
        *spawn = c->n_threads < NBD_MAX_IN_FLIGHT;
        c->n_threads += *spawn;
        g_mutex_unlock(&c->lock);
    }
    g_mutex_unlock(&c->recv_lock);
    if (!ok) {
        shutdown(c->fd, SHUT_RD); /* wakes a follower blocked in recv */
    }
    return ok;
}

static void serve_loop(NbdClient *c)
{
    NbdRequest *r;
    bool spawn;

    while (take_turn(c, &r, &spawn)) {
        if (spawn) {
            start_follower(c);
        }
        if (r) {
            run_request(c, r);
            request_put(c, r);
        }
    }
    g_mutex_lock(&c->lock);
    c->n_threads--;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
}

static void *follower_thread(void *opaque)
{
    serve_loop(opaque);
    return NULL;
}

void nbd_serve_requests(NbdClient *c)
{
    c->rbuf = g_malloc(NBD_RECV_BUFFER);
    c->n_threads = 1;
    serve_loop(c);
    g_mutex_lock(&c->lock);
    while (c->n_threads) {
        c->n_cond_waiters++;
        g_cond_wait(&c->cond, &c->lock);
        c->n_cond_waiters--;
    }
    g_mutex_unlock(&c->lock);
}
