/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 guest writes.  A write is cut into chunks of one L2 table, and a
 * chunk into runs of clusters of one kind: data clusters are overwritten in
 * place; unallocated and zero clusters get new host clusters, all a run
 * needs at once (contiguous at the end of the image), written in one call
 * (plus one per partial cluster, filled from the backing file or zeroes);
 * then the L2 table is updated in the cache.  Metadata is written back at
 * a flush (or when a cache entry is evicted): refcounts, a barrier, then L2
 * tables and the L1 table; a new L2 table is written with its L1 entry at
 * once.
 *
 * Locking (qcow2.h): the chunk is looked up under s->lock; a chunk that
 * allocates records its guest clusters in s->allocs first; guest data is
 * written with the lock dropped.
 */
#include "block/blkdebug.h"
#include "block/qcow2.h"
#include "qemu/error.h"

#define QCOW2_BOUNCE_ALIGN 4096

static const char *qcow2_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

bool qcow2_alloc_busy(BDRVQcow2State *s, uint64_t first, uint64_t n)
{
    for (GSList *l = s->allocs; l; l = l->next) {
        Qcow2Alloc *a = l->data;

        if (first < a->first + a->n && a->first < first + n) {
            return true;
        }
    }
    return false;
}

void qcow2_alloc_begin(BDRVQcow2State *s, Qcow2Alloc *a, uint64_t first,
                       uint64_t n)
{
    while (qcow2_alloc_busy(s, first, n)) {
        qcow2_wait_alloc(s);
    }
    a->first = first;
    a->n = n;
    s->allocs = g_slist_prepend(s->allocs, a);
}

void qcow2_alloc_end(BDRVQcow2State *s, Qcow2Alloc *a)
{
    s->allocs = g_slist_remove(s->allocs, a);
    g_cond_broadcast(&s->alloc_cond);
}

/* Guest data to the image file, with s->lock dropped meanwhile. */
static int qcow2_data_write(BlockDriverState *bs, uint64_t host,
                            uint64_t bytes, const void *data, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_unlock(s);
    ret = qcow2_file_write(bs, host, bytes, data, errp);
    qcow2_lock(s);
    return ret;
}

/* The backing file's data for a copy-on-write, with s->lock dropped. */
static int qcow2_cow_read(BlockDriverState *bs, uint64_t offset,
                          uint64_t bytes, uint8_t *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_unlock(s);
    ret = qcow2_read_backing(bs, offset, bytes, buf, errp);
    qcow2_lock(s);
    return ret;
}

/* The L2 table for a write at L1 index @l1i, allocated if missing. */
uint64_t qcow2_l2_for_write(BlockDriverState *bs, uint64_t l1i, GError **errp)
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
    /* a new table goes to disk at once, as QEMU's: counted, then linked */
    return qcow2_flush_metadata(bs, errp) < 0 ? 0 : off;
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
    return qcow2_data_write(bs, host, stop - start, data, errp);
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
    } else if (qcow2_cow_read(bs, gc << s->cluster_bits, s->cluster_size,
                              bounce, errp) < 0) {
        goto out;
    }
    memcpy(bounce + in, data, len);
    bdrv_debug_event(bs->file, BLKDBG_CLUSTER_ALLOC);
    host = qcow2_alloc_clusters(bs, 1, errp);
    bdrv_debug_event(bs->file, cow ? BLKDBG_COW_WRITE : BLKDBG_WRITE_AIO);
    if (host &&
        qcow2_data_write(bs, host, s->cluster_size, bounce, errp) == 0) {
        *ent = host | QCOW2_OFLAG_COPIED;
        ret = 0;
    } else if (host) {
        qcow2_alloc_abort(bs, host, 1);
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
    if (!host) {
        return -1;
    }
    if (qcow2_data_write(bs, host, bytes, data, errp) < 0) {
        qcow2_alloc_abort(bs, host, m);
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
/* The end of the run of unallocated entries from @i (before @j). */
static uint64_t qcow2_unalloc_run_end(BlockDriverState *bs, const uint64_t *ent,
                                      uint64_t i, uint64_t j)
{
    for (uint64_t k = i + 1; k < j; k++) {
        Qcow2Kind kind;
        uint64_t host;

        if (qcow2_classify(bs, ent[k], 0, &kind, &host, NULL) < 0 ||
            kind != QCOW2_UNALLOC) {
            return k;
        }
    }
    return j;
}

/*
 * Write the runs of one chunk.  With @only_unalloc (copy-on-read), only
 * clusters still unallocated are written: whatever a guest wrote since the
 * caller looked stays.
 */
static int qcow2_write_runs(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, const uint8_t *buf, uint64_t *ent,
                            uint64_t n, bool only_unalloc, GError **errp)
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
        if (only_unalloc && kind != QCOW2_UNALLOC) {
            continue;
        }
        if (only_unalloc) {
            j = qcow2_unalloc_run_end(bs, ent, i, j);
        }
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

        if ((old[k] & QCOW2_OFLAG_ZERO) && prealloc && ent[k] != old[k]) {
            qcow2_free_later(s, prealloc);
        }
    }
    return 0;
}

/* Does any of the @n entries need a new host cluster? */
static bool qcow2_chunk_allocates(BlockDriverState *bs, const uint64_t *ent,
                                  uint64_t n)
{
    for (uint64_t k = 0; k < n; k++) {
        Qcow2Kind kind;
        uint64_t host;

        if (qcow2_classify(bs, ent[k], 0, &kind, &host, NULL) < 0 ||
            kind != QCOW2_DATA) {
            return true; /* errors show in qcow2_write_runs */
        }
    }
    return false;
}

/* The chunk's current L2 entries; 0, or -1 and errp. */
static int qcow2_chunk_entries(BlockDriverState *bs, uint64_t gc0, uint64_t n,
                               uint64_t *l2off, uint64_t *ent, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t idx0 = gc0 & ((1ULL << s->l2_bits) - 1);
    const uint8_t *t;

    *l2off = qcow2_l2_for_write(bs, gc0 >> s->l2_bits, errp);
    if (!*l2off) {
        return -1;
    }
    t = qcow2_cache_get(s->l2_cache, *l2off, false, errp);
    if (!t) {
        return -1;
    }
    for (uint64_t k = 0; k < n; k++) {
        ent[k] = qcow2_ld64(t + 8 * (idx0 + k));
    }
    return 0;
}

/*
 * A write inside the range of one L2 table, with s->lock held.  If it
 * allocates, it waits for other allocations of its clusters and looks its
 * entries up again after them (one allocates, the other writes in place).
 */
static int qcow2_write_chunk(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes, const uint8_t *buf,
                             bool only_unalloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc0 = offset >> s->cluster_bits;
    uint64_t n = ((offset + bytes - 1) >> s->cluster_bits) - gc0 + 1;
    uint64_t idx0 = gc0 & ((1ULL << s->l2_bits) - 1);
    g_autofree uint64_t *ent = g_new(uint64_t, n);
    g_autofree uint64_t *old = NULL;
    Qcow2Alloc alloc;
    bool allocating;
    uint64_t l2off;
    int ret;

    for (;;) {
        if (qcow2_chunk_entries(bs, gc0, n, &l2off, ent, errp) < 0) {
            return -1;
        }
        allocating = qcow2_chunk_allocates(bs, ent, n);
        if (!allocating || !qcow2_alloc_busy(s, gc0, n)) {
            break;
        }
        qcow2_wait_alloc(s);
    }
    if (allocating) {
        qcow2_alloc_begin(s, &alloc, gc0, n); /* not busy: no wait */
    }
    old = g_memdup2(ent, n * sizeof(uint64_t));
    ret = qcow2_write_runs(bs, offset, bytes, buf, ent, n, only_unalloc,
                           errp);
    if (qcow2_store_l2(bs, l2off, idx0, ent, old, n, ret < 0 ? NULL : errp) <
        0) {
        ret = -1;
    }
    if (allocating) {
        qcow2_alloc_end(s, &alloc);
    }
    return ret;
}

static int qcow2_write_data_mode(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, const void *buf,
                                 bool only_unalloc, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t span = 1ULL << (s->cluster_bits + s->l2_bits);
    const uint8_t *p = buf;
    int ret = 0;

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -1;
    }
    qcow2_lock(s);
    while (bytes > 0 && ret == 0) {
        uint64_t chunk = MIN((uint64_t)bytes, span - (offset & (span - 1)));

        ret = qcow2_write_chunk(bs, offset, chunk, p, only_unalloc, errp);
        offset += chunk;
        bytes -= chunk;
        p += chunk;
    }
    /* the metadata stays in the caches until a flush (QEMU's write-back):
     * new refcounts, a barrier, then the L2 and L1 entries using them */
    qcow2_unlock(s);
    return ret;
}

int qcow2_write_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, GError **errp)
{
    return qcow2_write_data_mode(bs, offset, bytes, buf, false, errp);
}

/*
 * The host offset of [offset, offset+bytes) if it lies in place in data
 * clusters whose tables are cached, found without waiting for the lock.
 * The mapping may change once the lock is dropped, as for a sync write
 * (qcow2_data_write): allocation only appends, so a cluster freed
 * meanwhile is not reused under this write.
 */
static bool map_in_place_nowait(BlockDriverState *bs, int64_t offset,
                                int64_t bytes, uint64_t *host)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;
    bool ok;

    if (qcow2_check_range(bs, offset, bytes, NULL) < 0) {
        return false;
    }
    /* the lock may be held across a table read: never wait for it */
    if (!qcow2_trylock(s)) {
        return false;
    }
    ok = s->write_ready && s->metadata &&
         qcow2_map_cached(bs, offset, bytes, &run) == 0 &&
         run.len == (uint64_t)bytes && qcow2_in_place_cached(bs, offset, &run);
    qcow2_unlock(s);
    *host = ok ? run.host : 0;
    return ok;
}

int qcow2_write_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf)
{
    uint64_t host;

    if (!map_in_place_nowait(bs, offset, bytes, &host)) {
        return -EAGAIN;
    }
    return bdrv_pwrite_nowait(bs->file, host, bytes, buf);
}

int qcow2_write_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque)
{
    uint64_t host;

    if (!map_in_place_nowait(bs, offset, bytes, &host)) {
        return -EAGAIN;
    }
    bdrv_debug_event(bs->file, BLKDBG_WRITE_AIO);
    return bdrv_pwrite_async(bs->file, host, bytes, buf, done, opaque);
}

int qcow2_write_unallocated(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, GError **errp)
{
    return qcow2_write_data_mode(bs, offset, bytes, buf, true, errp);
}
