/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 cluster mapping: L1/L2 lookups, guest reads and writes.
 *
 * A request is split into runs of clusters of one kind (unallocated, zero,
 * data, compressed); a data run whose host clusters are contiguous is read
 * or written with one call on bs->file.  Writes allocate all the clusters a
 * run needs at once (contiguous at the end of the image), write the guest
 * data in one call (plus one per partial cluster, filled from the backing
 * file or zeroes), then update the L2 table; metadata is written back at the
 * end of each request: refcounts, then L2 tables, then the L1 table.
 */
#include "block/blkdebug.h"
#include "block/qcow2.h"
#include "qemu/error.h"

#define QCOW2_BOUNCE_ALIGN 4096

typedef enum Qcow2Kind {
    QCOW2_UNALLOC,
    QCOW2_ZERO,
    QCOW2_DATA,
    QCOW2_COMPRESSED,
} Qcow2Kind;

typedef struct Qcow2Run {
    Qcow2Kind kind;
    uint64_t host; /* DATA: host offset of the run's first byte */
    uint64_t len;  /* bytes */
} Qcow2Run;

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
static int qcow2_classify(BlockDriverState *bs, uint64_t e, uint64_t gc,
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

/* The cached L2 table of L1 entry @l1i; *table = NULL when there is none. */
static int qcow2_l2_table(BlockDriverState *bs, uint64_t l1i,
                          const uint8_t **table, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = s->l1_table[l1i] & QCOW2_OFFSET_MASK;

    *table = NULL;
    if (!off) {
        return 0;
    }
    *table = qcow2_cache_get(s->l2_cache, off, false, errp);
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
static int qcow2_map(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     bool alloc_only, Qcow2Run *run, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits, gc = gc0;
    uint64_t in = offset & (s->cluster_size - 1);
    uint64_t l2n = 1ULL << s->l2_bits, host0 = 0;

    run->len = 0;
    while (run->len < bytes) {
        const uint8_t *t;

        if (qcow2_l2_table(bs, gc >> s->l2_bits, &t, errp) < 0) {
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

int qcow2_file_read_clipped(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, void *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t avail = 0;

    if (offset < s->file_size) {
        avail = MIN(bytes, s->file_size - offset);
    }
    if (avail && bdrv_pread(bs->file, offset, avail, buf, errp) < 0) {
        return -1;
    }
    memset((uint8_t *)buf + avail, 0, bytes - avail);
    return 0;
}

/* Guest range of the backing file; zeroes past its end or without one. */
static int qcow2_read_backing(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, uint8_t *buf, GError **errp)
{
    int64_t blen;
    uint64_t avail = 0;

    if (bs->backing) {
        blen = bdrv_getlength(bs->backing);
        if (blen < 0) {
            error_setg(errp,
                       "qcow2 image '%s': could not get the size of "
                       "its backing file",
                       qcow2_name(bs));
            return -1;
        }
        if (offset < (uint64_t)blen) {
            avail = MIN(bytes, (uint64_t)blen - offset);
        }
    }
    if (avail && bdrv_pread(bs->backing, offset, avail, buf, errp) < 0) {
        return -1;
    }
    memset(buf + avail, 0, bytes - avail);
    return 0;
}

static int qcow2_check_range(BlockDriverState *bs, int64_t offset,
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

static int qcow2_compressed_error(BlockDriverState *bs, uint64_t offset,
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
    uint8_t *p = buf;
    Qcow2Run run;
    int ret = 0;

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    while (bytes > 0 && ret == 0) {
        if (qcow2_map(bs, offset, bytes, false, &run, errp) < 0) {
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

int qcow2_allocation_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            int64_t *pnum, GError **errp)
{
    Qcow2Run run;

    *pnum = 0;
    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    if (bytes == 0) {
        return 0;
    }
    if (qcow2_map(bs, offset, bytes, true, &run, errp) < 0) {
        return -1;
    }
    *pnum = run.len;
    return run.kind != QCOW2_UNALLOC;
}

int qcow2_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                   int64_t *pnum, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;

    *pnum = bytes;
    if (write) {
        return 0; /* allocation, refcounts, shared clusters: that is pwrite */
    }
    if (qcow2_check_range(bs, offset, bytes, errp) < 0 ||
        qcow2_map(bs, offset, bytes, false, &run, errp) < 0) {
        return -1;
    }
    *pnum = run.len;
    /* data past the end of the file reads as zeroes: not plain bytes */
    if (run.kind != QCOW2_DATA || run.host >= s->file_size) {
        return 0;
    }
    return bdrv_map_file(bs->file, run.host,
                         MIN(run.len, s->file_size - run.host), false, leaf,
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

int qcow2_flush_metadata(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (qcow2_cache_flush(s->rb_cache, errp) < 0 ||
        qcow2_flush_reftable(bs, errp) < 0 ||
        qcow2_cache_flush(s->l2_cache, errp) < 0 ||
        qcow2_write_l1(bs, errp) < 0) {
        return -1;
    }
    return 0;
}

/* The L2 table for a write at L1 index @l1i, allocated if missing. */
static uint64_t qcow2_l2_for_write(BlockDriverState *bs, uint64_t l1i,
                                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off = s->l1_table[l1i] & QCOW2_OFFSET_MASK;

    if (off) {
        return off;
    }
    off = qcow2_alloc_clusters(bs, 1, errp);
    if (!off || !qcow2_cache_get(s->l2_cache, off, true, errp)) {
        return 0;
    }
    bdrv_debug_event(bs->file, BLKDBG_L2_ALLOC_WRITE);
    s->l1_table[l1i] = off | QCOW2_OFLAG_COPIED;
    if (s->l1_dirty_lo == s->l1_dirty_hi) {
        s->l1_dirty_lo = l1i;
        s->l1_dirty_hi = l1i + 1;
    } else {
        s->l1_dirty_lo = MIN(s->l1_dirty_lo, l1i);
        s->l1_dirty_hi = MAX(s->l1_dirty_hi, l1i + 1);
    }
    qcow2_meta_add(s, off, 1, QCOW2_META_L2);
    return off;
}

/* In-place write into @m data clusters from @host: check them first. */
static int qcow2_write_in_place(BlockDriverState *bs, const uint64_t *ent,
                                uint64_t m, uint64_t host, uint64_t start,
                                uint64_t stop, const uint8_t *data,
                                GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cluster = host & ~(s->cluster_size - 1);

    for (uint64_t k = 0; k < m; k++) {
        uint64_t h = cluster + (k << s->cluster_bits), rc = 1;
        gpointer key = GSIZE_TO_POINTER(h >> s->cluster_bits);

        if (!(ent[k] & QCOW2_OFLAG_COPIED) &&
            qcow2_get_refcount(bs, h, &rc, errp) < 0) {
            return -1;
        }
        if (g_hash_table_contains(s->metadata, key) || rc != 1 ||
            h + s->cluster_size > s->alloc_end) {
            error_setg(errp,
                       "qcow2 image '%s' is corrupt or shared: data cluster "
                       "%#" PRIx64 " (refcount %" PRIu64 ") cannot be "
                       "written in place",
                       qcow2_name(bs), h, rc);
            return -1;
        }
    }
    bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
    return qcow2_file_write(bs, host, stop - start, data, errp);
}

static bool qcow2_is_zero(const uint8_t *p, uint64_t len)
{
    return len == 0 || (p[0] == 0 && memcmp(p, p + 1, len - 1) == 0);
}

/* One guest cluster @gc, partly written: [in, in + len) from @data. */
static int qcow2_write_partial(BlockDriverState *bs, uint64_t *ent, uint64_t gc,
                               uint64_t in, uint64_t len, const uint8_t *data,
                               GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *bounce = g_aligned_alloc(1, s->cluster_size, QCOW2_BOUNCE_ALIGN);
    uint64_t host = 0;
    int ret = -1;

    /* QEMU's copy-on-write events only when there is backing data */
    bool cow = bs->backing && !(*ent & QCOW2_OFLAG_ZERO);

    if (cow) {
        bdrv_debug_event(bs->file, BLKDBG_COW_READ);
    }
    if (*ent & QCOW2_OFLAG_ZERO) {
        memset(bounce, 0, s->cluster_size);
    } else if (qcow2_read_backing(bs, gc << s->cluster_bits, s->cluster_size,
                                  bounce, errp) < 0) {
        goto out;
    }
    memcpy(bounce + in, data, len);
    bdrv_debug_event(bs->file, BLKDBG_CLUSTER_ALLOC);
    host = qcow2_alloc_clusters(bs, 1, errp);
    bdrv_debug_event(bs->file, cow ? BLKDBG_COW_WRITE : BLKDBG_WRITE_AIO);
    if (host &&
        qcow2_file_write(bs, host, s->cluster_size, bounce, errp) == 0) {
        *ent = host | QCOW2_OFLAG_COPIED;
        ret = 0;
    }
out:
    g_aligned_free(bounce);
    return ret;
}

/* @m whole guest clusters from @data; zero clusters if it is all zeroes. */
static int qcow2_write_full(BlockDriverState *bs, uint64_t *ent, uint64_t m,
                            const uint8_t *data, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = m << s->cluster_bits, host;

    if (s->hdr.version >= 3 && qcow2_is_zero(data, bytes)) {
        for (uint64_t k = 0; k < m; k++) {
            if (!(ent[k] & QCOW2_OFLAG_ZERO)) {
                ent[k] = QCOW2_OFLAG_ZERO;
            }
        }
        return 0;
    }
    bdrv_debug_event(bs->file, BLKDBG_CLUSTER_ALLOC);
    host = qcow2_alloc_clusters(bs, m, errp);
    bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
    if (!host || qcow2_file_write(bs, host, bytes, data, errp) < 0) {
        return -1;
    }
    for (uint64_t k = 0; k < m; k++) {
        ent[k] = (host + (k << s->cluster_bits)) | QCOW2_OFLAG_COPIED;
    }
    return 0;
}

/* Write [start, stop) into @m unallocated or zero clusters from @gc. */
static int qcow2_write_alloc(BlockDriverState *bs, uint64_t *ent, uint64_t m,
                             uint64_t gc, uint64_t start, uint64_t stop,
                             const uint8_t *data, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size, k = 0, full, pos;

    if ((start & (cs - 1)) || stop < ((gc + 1) << s->cluster_bits)) {
        uint64_t len = MIN(stop, (gc + 1) << s->cluster_bits) - start;

        if (qcow2_write_partial(bs, &ent[0], gc, start & (cs - 1), len, data,
                                errp) < 0) {
            return -1;
        }
        k = 1;
    }
    if (k == m) {
        return 0;
    }
    pos = (gc + k) << s->cluster_bits;
    full = ((stop & ~(cs - 1)) - pos) >> s->cluster_bits;
    if (full &&
        qcow2_write_full(bs, &ent[k], full, data + (pos - start), errp) < 0) {
        return -1;
    }
    k += full;
    pos += full << s->cluster_bits;
    if (k < m) {
        return qcow2_write_partial(bs, &ent[k], gc + k, 0, stop - pos,
                                   data + (pos - start), errp);
    }
    return 0;
}

/* End of the run of entries from @i that one write call can handle. */
static uint64_t qcow2_write_run_end(BlockDriverState *bs, const uint64_t *ent,
                                    uint64_t i, uint64_t n, Qcow2Kind kind,
                                    uint64_t host)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t j = i + 1;

    if (kind == QCOW2_COMPRESSED) {
        return j;
    }
    for (; j < n; j++) {
        Qcow2Kind k;
        uint64_t h;

        if (qcow2_classify(bs, ent[j], 0, &k, &h, NULL) < 0) {
            break;
        }
        if (kind == QCOW2_DATA
                ? (k != QCOW2_DATA || h != host + ((j - i) << s->cluster_bits))
                : (k != QCOW2_UNALLOC && k != QCOW2_ZERO)) {
            break;
        }
    }
    return j;
}

/* Write [offset, offset + bytes), inside one L2 table, updating @ent. */
static int qcow2_write_runs(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, const uint8_t *buf, uint64_t *ent,
                            uint64_t n, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits, end = offset + bytes;

    for (uint64_t i = 0, j; i < n; i = j) {
        uint64_t start = MAX(offset, (gc0 + i) << s->cluster_bits);
        uint64_t stop, host;
        const uint8_t *data = buf + (start - offset);
        Qcow2Kind kind;
        int ret;

        if (qcow2_classify(bs, ent[i], gc0 + i, &kind, &host, errp) < 0) {
            return -1;
        }
        j = qcow2_write_run_end(bs, ent, i, n, kind, host);
        stop = MIN(end, (gc0 + j) << s->cluster_bits);
        if (kind == QCOW2_COMPRESSED) {
            return qcow2_compressed_error(bs, start, errp);
        } else if (kind == QCOW2_DATA) {
            host += start & (s->cluster_size - 1);
            ret = qcow2_write_in_place(bs, ent + i, j - i, host, start, stop,
                                       data, errp);
        } else {
            ret = qcow2_write_alloc(bs, ent + i, j - i, gc0 + i, start, stop,
                                    data, errp);
        }
        if (ret < 0) {
            return -1;
        }
    }
    return 0;
}

/* Put changed entries into the L2 table; free replaced preallocations. */
static int qcow2_store_l2(BlockDriverState *bs, uint64_t l2off, uint64_t idx0,
                          const uint64_t *ent, const uint64_t *old, uint64_t n,
                          GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint8_t *t = qcow2_cache_get(s->l2_cache, l2off, false, errp);
    uint64_t lo = n, hi = 0;

    if (!t) {
        return -1;
    }
    for (uint64_t k = 0; k < n; k++) {
        if (ent[k] != old[k]) {
            qcow2_st64(t + 8 * (idx0 + k), ent[k]);
            lo = MIN(lo, k);
            hi = k + 1;
        }
    }
    if (lo >= hi) {
        return 0;
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2off, 8 * (idx0 + lo),
                           8 * (idx0 + hi));
    for (uint64_t k = lo; k < hi; k++) {
        uint64_t prealloc = old[k] & QCOW2_OFFSET_MASK;

        if ((old[k] & QCOW2_OFLAG_ZERO) && prealloc && ent[k] != old[k] &&
            qcow2_update_refcounts(bs, prealloc, 1, -1, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* A write inside the range of one L2 table. */
static int qcow2_write_chunk(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, const uint8_t *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits;
    uint64_t n = ((offset + bytes - 1) >> s->cluster_bits) - gc0 + 1;
    uint64_t idx0 = gc0 & ((1ULL << s->l2_bits) - 1);
    uint64_t l2off = qcow2_l2_for_write(bs, gc0 >> s->l2_bits, errp);
    g_autofree uint64_t *ent = NULL;
    g_autofree uint64_t *old = NULL;
    const uint8_t *t;
    int ret;

    if (!l2off) {
        return -1;
    }
    t = qcow2_cache_get(s->l2_cache, l2off, false, errp);
    if (!t) {
        return -1;
    }
    ent = g_new(uint64_t, n);
    for (uint64_t k = 0; k < n; k++) {
        ent[k] = qcow2_ld64(t + 8 * (idx0 + k));
    }
    old = g_memdup2(ent, n * sizeof(uint64_t));
    ret = qcow2_write_runs(bs, offset, bytes, buf, ent, n, errp);
    if (qcow2_store_l2(bs, l2off, idx0, ent, old, n, ret < 0 ? NULL : errp) <
        0) {
        ret = -1;
    }
    return ret;
}

int qcow2_write_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t span = 1ULL << (s->cluster_bits + s->l2_bits);
    const uint8_t *p = buf;
    int ret = 0;

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    while (bytes > 0 && ret == 0) {
        uint64_t chunk = MIN((uint64_t)bytes, span - (offset & (span - 1)));

        ret = qcow2_write_chunk(bs, offset, chunk, p, errp);
        offset += chunk;
        bytes -= chunk;
        p += chunk;
    }
    if (qcow2_flush_metadata(bs, ret < 0 ? NULL : errp) < 0) {
        ret = -1;
    }
    return ret;
}
