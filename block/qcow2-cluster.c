/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 cluster mapping: L1/L2 lookups, guest reads, block status and the
 * metadata write-back (writes are in qcow2-write.c).
 *
 * A request is split into runs of clusters of one kind (unallocated, zero,
 * data, compressed); a data run whose host clusters are contiguous is read
 * with one call on bs->file.  Each run is looked up under s->lock and read
 * without it (see qcow2.h).
 */
#include "block/blkdebug.h"
#include "block/qcow2.h"
#include <errno.h>

#include "qemu/error.h"

static const char *qcow2_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

int qcow2_l1_init(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t n = s->hdr.l1_size;

    s->l1_table = g_new0(uint64_t, MAX(n, 1));
    if (n && bdrv_pread(bs->file, s->hdr.l1_table_offset, (int64_t)n * 8,
                        s->l1_table, errp) < 0) {
        return -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        uint64_t v = GUINT64_FROM_BE(s->l1_table[i]);
        uint64_t off = v & QCOW2_OFFSET_MASK;

        if ((v & QCOW2_L1_RESERVED) ||
            (off && !qcow2_table_offset_ok(s, off))) {
            error_setg(errp,
                       "qcow2 image '%s': invalid L1 entry %u (%#" PRIx64 ")",
                       qcow2_name(bs), i, v);
            return -1;
        }
        s->l1_table[i] = v;
    }
    return 0;
}

/* What guest cluster @gc with L2 entry @e is; refuse a malformed entry. */
int qcow2_classify(BlockDriverState *bs, uint64_t e, uint64_t gc,
                          Qcow2Kind *kind, uint64_t *host, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = e & QCOW2_OFFSET_MASK;

    *host = 0;
    if (e & QCOW2_OFLAG_COMPRESSED) {
        *kind = QCOW2_COMPRESSED;
        return 0;
    }
    if ((e & QCOW2_L2_RESERVED) || (off & (s->cluster_size - 1)) ||
        (off && off < s->cluster_size) ||
        (!off && (e & QCOW2_OFLAG_COPIED) && !(e & QCOW2_OFLAG_ZERO))) {
        error_setg(errp,
                   "qcow2 image '%s' is corrupt: invalid L2 entry %#" PRIx64
                   " for guest offset %#" PRIx64,
                   qcow2_name(bs), e, gc << s->cluster_bits);
        return -1;
    }
    *host = off;
    if (e & QCOW2_OFLAG_ZERO) {
        *kind = QCOW2_ZERO;
    } else {
        *kind = off ? QCOW2_DATA : QCOW2_UNALLOC;
    }
    return 0;
}

/* The cached L2 table of L1 entry @l1i; *table = NULL when there is none.
 * With @cached_only, -1 (errp unset) when it would have to be read. */
static int qcow2_l2_table(BlockDriverState *bs, uint64_t l1i,
                          bool cached_only, const uint8_t **table,
                          GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = s->l1_table[l1i] & QCOW2_OFFSET_MASK;

    *table = NULL;
    if (!off) {
        return 0;
    }
    *table = cached_only ? qcow2_cache_peek(s->l2_cache, off)
                         : qcow2_cache_get(s->l2_cache, off, false, errp);
    return *table ? 0 : -1;
}

/* Does cluster (kind, host), @dist clusters after the run's first, extend
 * the run (@first_kind, @first_host)? */
static bool qcow2_extends_run(BDRVQcow2State *s, bool alloc_only,
                              Qcow2Kind first_kind, uint64_t first_host,
                              Qcow2Kind kind, uint64_t host, uint64_t dist)
{
    if (alloc_only) {
        return (kind == QCOW2_UNALLOC) == (first_kind == QCOW2_UNALLOC);
    }
    if (kind != first_kind || kind == QCOW2_COMPRESSED) {
        return false;
    }
    return kind != QCOW2_DATA || host == first_host + (dist << s->cluster_bits);
}

/*
 * The run of clusters from guest @offset (at most @bytes) that share a
 * kind, with contiguous host clusters for data.  With @alloc_only, only
 * allocated/unallocated matters.
 */
static int map_run(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                   bool alloc_only, bool cached_only, Qcow2Run *run,
                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits, gc = gc0;
    uint64_t in = offset & (s->cluster_size - 1);
    uint64_t l2n = 1ULL << s->l2_bits, host0 = 0;

    run->len = 0;
    while (run->len < bytes) {
        const uint8_t *t;

        if (qcow2_l2_table(bs, gc >> s->l2_bits, cached_only, &t, errp) <
            0) {
            return -1;
        }
        for (uint64_t i = gc & (l2n - 1); i < l2n && run->len < bytes;
             i++, gc++) {
            uint64_t e = t ? qcow2_ld64(t + 8 * i) : 0, host;
            Qcow2Kind kind;

            if (qcow2_classify(bs, e, gc, &kind, &host, errp) < 0) {
                return -1;
            }
            if (gc == gc0) {
                run->kind = kind;
                host0 = host;
            } else if (!qcow2_extends_run(s, alloc_only, run->kind, host0, kind,
                                          host, gc - gc0)) {
                goto done;
            }
            run->len +=
                MIN(s->cluster_size - (gc == gc0 ? in : 0), bytes - run->len);
        }
    }
done:
    run->host = host0 + in;
    return 0;
}

int qcow2_map(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
              bool alloc_only, Qcow2Run *run, GError **errp)
{
    return map_run(bs, offset, bytes, alloc_only, false, run, errp);
}

int qcow2_map_cached(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     Qcow2Run *run)
{
    return map_run(bs, offset, bytes, false, true, run, NULL);
}

/* Every cluster COPIED (refcount 1), none metadata, all inside the file:
 * the checks of qcow2_write_in_place, without a refcount lookup. */
bool qcow2_in_place_cached(BlockDriverState *bs, uint64_t offset,
                           const Qcow2Run *run)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits;
    uint64_t n = ((offset + run->len - 1) >> s->cluster_bits) - gc0 + 1;
    uint64_t host0 = run->host & ~(s->cluster_size - 1);

    if (run->kind != QCOW2_DATA ||
        host0 + (n << s->cluster_bits) > s->alloc_end ||
        run->host + run->len > qcow2_file_end(s)) {
        return false;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t gc = gc0 + k, h = host0 + (k << s->cluster_bits);
        const uint8_t *t;

        if (qcow2_l2_table(bs, gc >> s->l2_bits, true, &t, NULL) < 0 || !t ||
            !(qcow2_ld64(t + 8 * (gc & ((1ULL << s->l2_bits) - 1))) &
              QCOW2_OFLAG_COPIED) ||
            g_hash_table_contains(s->metadata,
                                  GSIZE_TO_POINTER(h >> s->cluster_bits))) {
            return false;
        }
    }
    return true;
}

/*
 * [offset, offset+bytes) of @child, which ends at @end: zeroes past it (or
 * all zeroes without a child).  With @nowait through bdrv_pread_nowait:
 * -1 then means "not without waiting", errp unset.
 */
static int read_zero_padded(BlockDriverState *child, uint64_t end,
                            uint64_t offset, uint64_t bytes, uint8_t *buf,
                            bool nowait, GError **errp)
{
    uint64_t avail = child && offset < end ? MIN(bytes, end - offset) : 0;

    if (avail && (nowait ? bdrv_pread_nowait(child, offset, avail, buf)
                         : bdrv_pread(child, offset, avail, buf, errp)) < 0) {
        return -1;
    }
    memset(buf + avail, 0, bytes - avail);
    return 0;
}

int qcow2_file_read_clipped(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, void *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    return read_zero_padded(bs->file, qcow2_file_end(s), offset, bytes, buf,
                            false, errp);
}

/* The backing file's length, 0 without one; -1 and errp on error. */
static int64_t backing_end(BlockDriverState *bs, GError **errp)
{
    int64_t blen = bs->backing ? bdrv_getlength(bs->backing) : 0;

    if (blen < 0) {
        error_setg(errp,
                   "qcow2 image '%s': could not get the size of "
                   "its backing file",
                   qcow2_name(bs));
    }
    return blen;
}

/* Guest range of the backing file; zeroes past its end or without one. */
int qcow2_read_backing(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, uint8_t *buf, GError **errp)
{
    int64_t blen = backing_end(bs, errp);

    if (blen < 0) {
        return -1;
    }
    return read_zero_padded(bs->backing, blen, offset, bytes, buf, false,
                            errp);
}

int qcow2_check_range(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset < 0 || bytes < 0 || (uint64_t)offset > s->hdr.size ||
        (uint64_t)bytes > s->hdr.size - offset) {
        error_setg(errp,
                   "qcow2 image '%s': request [%" PRId64 ", +%" PRId64
                   ") outside the virtual size %" PRIu64,
                   qcow2_name(bs), offset, bytes, s->hdr.size);
        return -1;
    }
    return 0;
}

int qcow2_compressed_error(BlockDriverState *bs, uint64_t offset,
                                  GError **errp)
{
    error_setg(errp,
               "qcow2 image '%s': compressed clusters are not supported "
               "(guest offset %#" PRIx64 ")",
               qcow2_name(bs), offset);
    return -1;
}

int qcow2_read_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *p = buf;
    Qcow2Run run;
    int ret = 0;

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    while (bytes > 0 && ret == 0) {
        qcow2_lock(s);
        ret = qcow2_map(bs, offset, bytes, false, &run, errp);
        qcow2_unlock(s);
        if (ret < 0) {
            return -1;
        }
        switch (run.kind) {
        case QCOW2_UNALLOC:
            ret = qcow2_read_backing(bs, offset, run.len, p, errp);
            break;
        case QCOW2_ZERO:
            memset(p, 0, run.len);
            break;
        case QCOW2_DATA:
            bdrv_debug_event(bs->file, BLKDBG_READ_AIO);
            ret = qcow2_file_read_clipped(bs, run.host, run.len, p, errp);
            break;
        case QCOW2_COMPRESSED:
            return qcow2_compressed_error(bs, offset, errp);
        }
        offset += run.len;
        bytes -= run.len;
        p += run.len;
    }
    return ret;
}

/* A run's bytes without waiting: 0, or -EAGAIN. */
static int read_run_nowait(BlockDriverState *bs, const Qcow2Run *run,
                           uint64_t offset, uint8_t *p)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t blen;
    int ret;

    switch (run->kind) {
    case QCOW2_ZERO:
        memset(p, 0, run->len);
        return 0;
    case QCOW2_DATA: /* clipped to the file's end, as qcow2_read_data */
        ret = read_zero_padded(bs->file, qcow2_file_end(s), run->host,
                               run->len, p, true, NULL);
        break;
    case QCOW2_UNALLOC:
        blen = backing_end(bs, NULL);
        ret = blen < 0 ? -1
                       : read_zero_padded(bs->backing, blen, offset, run->len,
                                          p, true, NULL);
        break;
    default:
        return -EAGAIN; /* compressed: qcow2_read_data says why */
    }
    return ret < 0 ? -EAGAIN : 0;
}

int qcow2_read_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *p = buf;
    Qcow2Run run;
    int ret;

    if (qcow2_check_range(bs, offset, bytes, NULL) < 0) {
        return -EAGAIN;
    }
    while (bytes > 0) {
        /* the lock may be held across a table read: never wait for it */
        if (!qcow2_trylock(s)) {
            return -EAGAIN;
        }
        ret = qcow2_map_cached(bs, offset, bytes, &run);
        qcow2_unlock(s);
        if (ret < 0 || read_run_nowait(bs, &run, offset, p) < 0) {
            return -EAGAIN;
        }
        offset += run.len;
        bytes -= run.len;
        p += run.len;
    }
    return 0;
}

int qcow2_allocation_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            int64_t *pnum, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;
    int ret;

    *pnum = 0;
    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    if (bytes == 0) {
        return 0;
    }
    qcow2_lock(s);
    ret = qcow2_map(bs, offset, bytes, true, &run, errp);
    qcow2_unlock(s);
    if (ret < 0) {
        return -1;
    }
    *pnum = run.len;
    return run.kind != QCOW2_UNALLOC;
}

/* Zero clusters read as zeroes; data clusters as data; the rest is not
 * this layer's. */
int qcow2_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;
    int ret;

    *pnum = bytes;
    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -EINVAL;
    }
    qcow2_lock(s);
    ret = qcow2_map(bs, offset, bytes, false, &run, errp);
    qcow2_unlock(s);
    if (ret < 0) {
        return -EIO;
    }
    *pnum = run.len;
    switch (run.kind) {
    case QCOW2_UNALLOC:
        return 0;
    case QCOW2_ZERO:
        return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_ZERO;
    default:
        return BDRV_BLOCK_ALLOCATED | BDRV_BLOCK_DATA;
    }
}

int qcow2_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                   int64_t *pnum, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;
    int ret;

    *pnum = bytes;
    if (write) {
        return 0; /* allocation, refcounts, shared clusters: that is pwrite */
    }
    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    qcow2_lock(s);
    ret = qcow2_map(bs, offset, bytes, false, &run, errp);
    qcow2_unlock(s);
    if (ret < 0) {
        return -1;
    }
    *pnum = run.len;
    /* data past the end of the file reads as zeroes: not plain bytes */
    if (run.kind != QCOW2_DATA || run.host >= qcow2_file_end(s)) {
        return 0;
    }
    return bdrv_map_file(bs->file, run.host,
                         MIN(run.len, qcow2_file_end(s) - run.host), false,
                         leaf,
                         leaf_offset, pnum, errp);
}

/* Write L1 entries [lo, hi) that changed, sector-aligned. */
static int qcow2_write_l1(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t room =
        qcow2_round_up((uint64_t)s->hdr.l1_size * 8, s->cluster_size) / 8;
    uint64_t first = s->l1_dirty_lo & ~63ULL;
    uint64_t last = MIN(qcow2_round_up(s->l1_dirty_hi, 64), room);
    g_autofree uint64_t *buf = NULL;

    if (s->l1_dirty_lo == s->l1_dirty_hi) {
        return 0;
    }
    buf = g_new0(uint64_t, last - first);
    for (uint64_t i = first; i < MIN(last, s->hdr.l1_size); i++) {
        buf[i - first] = GUINT64_TO_BE(s->l1_table[i]);
    }
    bdrv_debug_event(bs->file, BLKDBG_L1_UPDATE);
    if (qcow2_file_write(bs, s->hdr.l1_table_offset + first * 8,
                         (last - first) * 8, buf, errp) < 0) {
        return -1;
    }
    s->l1_dirty_lo = s->l1_dirty_hi = 0;
    return 0;
}

void qcow2_free_later(BDRVQcow2State *s, uint64_t offset)
{
    if (!s->pending_frees) {
        s->pending_frees = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    }
    g_array_append_val(s->pending_frees, offset);
}

/* The L2/L1 changes are written: a barrier, then the refcounts drop; a
 * cluster nothing counts any more gives its space back to the file. */
static int qcow2_apply_frees(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (!s->pending_frees || !s->pending_frees->len) {
        return 0;
    }
    if (qcow2_file_barrier(bs, errp) < 0) {
        return -1;
    }
    while (s->pending_frees->len) {
        uint64_t off = g_array_index(s->pending_frees, uint64_t,
                                     s->pending_frees->len - 1);
        uint64_t rc;

        if (qcow2_update_refcounts(bs, off, 1, -1, errp) < 0 ||
            qcow2_get_refcount(bs, off, &rc, errp) < 0) {
            return -1;
        }
        if (rc == 0) {
            /* advisory: a file that keeps the bytes is still consistent */
            bdrv_pdiscard(bs->file, off, s->cluster_size, NULL);
        }
        g_array_set_size(s->pending_frees, s->pending_frees->len - 1);
    }
    return qcow2_cache_flush(s->rb_cache, errp);
}

int qcow2_writeback(BlockDriverState *bs, GError **errp)
{
    if (qcow2_flush_metadata(bs, errp) < 0 || qcow2_apply_frees(bs, errp) < 0) {
        return -1;
    }
    return 0;
}

int qcow2_flush_metadata(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    bool new_refs = qcow2_cache_dirty(s->rb_cache) ||
                    s->reftable_dirty_lo != s->reftable_dirty_hi;
    bool l2 = qcow2_cache_dirty(s->l2_cache);
    bool l1 = s->l1_dirty_lo != s->l1_dirty_hi;

    /* refcounts, durable, before the L2 and L1 entries that use them; a new
     * L2 table before the L1 entry naming it (the references they dropped
     * go at the next qcow2_writeback) */
    if (qcow2_cache_flush(s->rb_cache, errp) < 0 ||
        qcow2_flush_reftable(bs, errp) < 0 ||
        (new_refs && (l2 || l1) && qcow2_file_barrier(bs, errp) < 0) ||
        qcow2_cache_flush(s->l2_cache, errp) < 0 ||
        (l2 && l1 && qcow2_file_barrier(bs, errp) < 0) ||
        qcow2_write_l1(bs, errp) < 0) {
        return -1;
    }
    return 0;
}
