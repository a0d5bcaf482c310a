/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 write-zeroes and discard: L2 entries change, guest data does not
 * move.
 *
 * Zeroes: v3 images get zero clusters (QCOW2_OFLAG_ZERO); a data cluster
 * keeps its host cluster as preallocation unless BDRV_REQ_MAY_UNMAP.  v2
 * images have no zero flag: without a backing file an unallocated cluster
 * reads as zeroes, so the clusters are deallocated; with one, -ENOTSUP
 * (the core writes zero buffers, or fails for NO_FALLBACK).  Partial
 * clusters at either end are written as zeroes unless they already read
 * as zeroes; with NO_FALLBACK the request fails first, before any change.
 *
 * Discard frees whole clusters: they become unallocated, or zero clusters
 * where a backing file would otherwise show through (v3; v2 with a backing
 * file keeps them).  A host cluster whose refcount drops to 0 is punched
 * out of the file.  Allocation only appends, so a freed cluster is never
 * reused in the session (a reader that looked it up sees old data or
 * zeroes, never another cluster's).
 *
 * Both record their clusters like an allocating write (qcow2.h), so they
 * never interleave with an allocation of the same clusters.
 */
#include <errno.h>

#include "block/qcow2.h"
#include "qemu/error.h"

typedef enum Qcow2ZeroMode {
    QCOW2_Z_ZERO,    /* write zeroes, keep preallocation */
    QCOW2_Z_UNMAP,   /* write zeroes, may free */
    QCOW2_Z_DISCARD, /* discard */
} Qcow2ZeroMode;

/* The new L2 entry for @old; *freed the host cluster it lets go (or 0). */
static uint64_t qcow2_zero_entry(BlockDriverState *bs, uint64_t old,
                                 Qcow2ZeroMode mode, uint64_t *freed)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t host = old & QCOW2_OFFSET_MASK;
    bool v3 = s->hdr.version >= 3;

    *freed = 0;
    if (mode == QCOW2_Z_ZERO && v3 && host) {
        return old | QCOW2_OFLAG_ZERO; /* the host cluster stays allocated */
    }
    *freed = host;
    if (!bs->backing) {
        return 0; /* unallocated reads as zeroes */
    }
    if (v3) {
        return QCOW2_OFLAG_ZERO;
    }
    *freed = 0;
    return old; /* v2 over a backing file: discard keeps it */
}

/* Give a freed host cluster back (refcount, and the file's space) once
 * the L2 change that stopped using it is on disk (qcow2_writeback). */
static int qcow2_free_host(BlockDriverState *bs, uint64_t host, GError **errp)
{
    qcow2_free_later(bs->opaque, host);
    return 0;
}

/* Whole clusters [gc0, gc0 + n) inside one L2 table; lock held. */
static int qcow2_zero_chunk(BlockDriverState *bs, uint64_t gc0, uint64_t n,
                            Qcow2ZeroMode mode, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1i = gc0 >> s->l2_bits;
    uint64_t idx0 = gc0 & ((1ULL << s->l2_bits) - 1);
    g_autofree uint64_t *freed = g_new0(uint64_t, n);
    uint64_t l2off = s->l1_table[l1i] & QCOW2_OFFSET_MASK;
    Qcow2Alloc alloc;
    uint8_t *t;
    int ret = 0;

    if (!l2off && (!bs->backing || mode == QCOW2_Z_DISCARD)) {
        return 0; /* no table: already unallocated, nothing shows through */
    }
    qcow2_alloc_begin(s, &alloc, gc0, n);
    l2off = qcow2_l2_for_write(bs, l1i, errp);
    t = l2off ? qcow2_cache_get(s->l2_cache, l2off, false, errp) : NULL;
    if (!t) {
        qcow2_alloc_end(s, &alloc);
        return -1;
    }
    for (uint64_t k = 0; k < n; k++) {
        uint64_t old = qcow2_ld64(t + 8 * (idx0 + k));

        if (old & QCOW2_OFLAG_COMPRESSED) {
            ret = qcow2_compressed_error(bs, (gc0 + k) << s->cluster_bits,
                                         errp);
            n = k; /* the entries before it are done */
            break;
        }
        qcow2_st64(t + 8 * (idx0 + k), qcow2_zero_entry(bs, old, mode,
                                                        &freed[k]));
    }
    qcow2_cache_mark_dirty(s->l2_cache, l2off, 8 * idx0, 8 * (idx0 + n));
    for (uint64_t k = 0; k < n && ret == 0; k++) {
        if (freed[k]) {
            ret = qcow2_free_host(bs, freed[k], errp);
        }
    }
    qcow2_alloc_end(s, &alloc);
    return ret;
}

/* Whole clusters [offset, offset + bytes), chunk by chunk; lock taken. */
static int qcow2_zero_clusters_locked(BlockDriverState *bs, uint64_t offset,
                                      uint64_t bytes, Qcow2ZeroMode mode,
                                      GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t gc = offset >> s->cluster_bits;
    uint64_t end = gc + (bytes >> s->cluster_bits);
    uint64_t per_table = 1ULL << s->l2_bits;
    int ret = 0;

    ret = qcow2_write_prepare(bs, errp);
    while (ret == 0 && gc < end) {
        uint64_t n = MIN(end - gc, per_table - (gc & (per_table - 1)));

        ret = qcow2_zero_chunk(bs, gc, n, mode, errp);
        gc += n;
    }
    /* freed clusters go back now: the L2 change, a barrier, refcounts */
    if (qcow2_writeback(bs, ret < 0 ? NULL : errp) < 0) {
        ret = -1;
    }
    return ret;
}

static int qcow2_zero_clusters(BlockDriverState *bs, uint64_t offset,
                               uint64_t bytes, Qcow2ZeroMode mode,
                               GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_lock(s);
    ret = qcow2_zero_clusters_locked(bs, offset, bytes, mode, errp);
    qcow2_unlock(s);
    return ret;
}

int qcow2_discard_clusters_locked(BlockDriverState *bs, uint64_t offset,
                                  uint64_t bytes, GError **errp)
{
    return qcow2_zero_clusters_locked(bs, offset, bytes, QCOW2_Z_DISCARD,
                                      errp);
}

/* Does the guest range (inside one cluster) read as zeroes already? */
static bool qcow2_reads_zero(BlockDriverState *bs, uint64_t offset,
                             uint64_t bytes)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Run run;
    int ret;

    qcow2_lock(s);
    ret = qcow2_map(bs, offset, bytes, false, &run, NULL);
    qcow2_unlock(s);
    return ret == 0 && (run.kind == QCOW2_ZERO ||
                        (run.kind == QCOW2_UNALLOC && !bs->backing));
}

/* A partial cluster: nothing if it reads as zeroes, else zero bytes. */
static int qcow2_zero_partial(BlockDriverState *bs, uint64_t offset,
                              uint64_t bytes, GError **errp)
{
    g_autofree uint8_t *zeroes = NULL;

    if (!bytes || qcow2_reads_zero(bs, offset, bytes)) {
        return 0;
    }
    zeroes = g_malloc0(bytes);
    return qcow2_write_data(bs, offset, bytes, zeroes, errp) < 0 ? -EIO : 0;
}

int qcow2_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int flags, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cs = s->cluster_size;
    uint64_t head_end = MIN((uint64_t)offset + bytes,
                            qcow2_round_up(offset, cs));
    uint64_t tail_start = MAX(head_end, (offset + bytes) & ~(cs - 1));
    Qcow2ZeroMode mode =
        (flags & BDRV_REQ_MAY_UNMAP) ? QCOW2_Z_UNMAP : QCOW2_Z_ZERO;

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -EINVAL;
    }
    if (s->hdr.version < 3 && bs->backing) {
        error_setg(errp, "qcow2 v2 image with a backing file has no zero "
                   "clusters");
        return -ENOTSUP;
    }
    if ((flags & BDRV_REQ_NO_FALLBACK) &&
        ((head_end > (uint64_t)offset &&
          !qcow2_reads_zero(bs, offset, head_end - offset)) ||
         (tail_start < (uint64_t)(offset + bytes) &&
          !qcow2_reads_zero(bs, tail_start, offset + bytes - tail_start)))) {
        error_setg(errp, "Partial qcow2 clusters cannot be zeroed fast");
        return -ENOTSUP;
    }
    if (qcow2_zero_partial(bs, offset, head_end - offset, errp) < 0 ||
        qcow2_zero_partial(bs, tail_start, offset + bytes - tail_start,
                           errp) < 0) {
        return -EIO;
    }
    if (tail_start > head_end &&
        qcow2_zero_clusters(bs, head_end, tail_start - head_end, mode,
                            errp) < 0) {
        return -EIO;
    }
    return 0;
}

int qcow2_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = qcow2_round_up(offset, s->cluster_size);
    uint64_t end = (offset + bytes) & ~(s->cluster_size - 1);

    if (qcow2_check_range(bs, offset, bytes, errp) < 0) {
        return -EINVAL;
    }
    if ((uint64_t)(offset + bytes) == s->hdr.size) {
        end = qcow2_round_up(offset + bytes, s->cluster_size); /* last one */
    }
    if (end <= start) {
        return 0; /* advisory: partial clusters stay */
    }
    return qcow2_zero_clusters(bs, start, end - start, QCOW2_Z_DISCARD,
                               errp) < 0 ? -EIO : 0;
}
