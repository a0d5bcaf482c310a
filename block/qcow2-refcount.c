/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 refcounts: the refcount table (kept in memory) and refcount blocks
 * (through the metadata cache), cluster allocation, growth of both.
 *
 * Allocation only appends: clusters are taken from s->alloc_end, which is
 * past the end of the file and past every cluster with a refcount.  A new
 * refcount block goes to the first free cluster, and counts itself when it
 * covers that cluster.  When the refcount table is full, a bigger one is
 * written after the end, followed by the refcount blocks needed to cover
 * the table and themselves.
 */
#include "block/blkdebug.h"
#include "block/qcow2.h"
#include "qemu/error.h"

#define QCOW2_MAX_HOST_OFFSET (1ULL << 56)
#define QCOW2_MAX_GROWTH_DEPTH 4

static int qcow2_update_refcounts_depth(BlockDriverState *bs, uint64_t offset,
                                        uint64_t n, int delta, int depth,
                                        GError **errp);

static const char *qcow2_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

static uint64_t qcow2_rb_entries(BDRVQcow2State *s)
{
    return 1ULL << s->rb_bits;
}

static uint64_t qcow2_rb_get(const uint8_t *b, uint32_t order, uint64_t i)
{
    switch (order) {
    case 0:
    case 1:
    case 2: {
        uint64_t bit = i << order;
        uint32_t mask = (1U << (1U << order)) - 1;

        return (b[bit >> 3] >> (bit & 7)) & mask;
    }
    case 3:
        return b[i];
    case 4:
        return ((uint64_t)b[2 * i] << 8) | b[2 * i + 1];
    case 5:
        return qcow2_ld32(b + 4 * i);
    default:
        return qcow2_ld64(b + 8 * i);
    }
}

static void qcow2_rb_set(uint8_t *b, uint32_t order, uint64_t i, uint64_t v)
{
    switch (order) {
    case 0:
    case 1:
    case 2: {
        uint64_t bit = i << order;
        uint32_t mask = ((1U << (1U << order)) - 1) << (bit & 7);

        b[bit >> 3] =
            (uint8_t)((b[bit >> 3] & ~mask) | ((v << (bit & 7)) & mask));
        break;
    }
    case 3:
        b[i] = (uint8_t)v;
        break;
    case 4:
        b[2 * i] = (uint8_t)(v >> 8);
        b[2 * i + 1] = (uint8_t)v;
        break;
    case 5:
        qcow2_st32(b + 4 * i, v);
        break;
    default:
        qcow2_st64(b + 8 * i, v);
        break;
    }
}

static uint64_t qcow2_refcount_max(BDRVQcow2State *s)
{
    uint32_t bits = 1U << s->hdr.refcount_order;

    return bits == 64 ? UINT64_MAX : (1ULL << bits) - 1;
}

/* Byte range [*lo, *hi) of refcount block entries [first, first + n). */
static void qcow2_rb_bytes(BDRVQcow2State *s, uint64_t first, uint64_t n,
                           uint32_t *lo, uint32_t *hi)
{
    uint32_t order = s->hdr.refcount_order;

    *lo = (first << order) >> 3;
    *hi = (((first + n) << order) + 7) >> 3;
}

void qcow2_meta_add(BDRVQcow2State *s, uint64_t offset, uint64_t n,
                    Qcow2MetaKind kind)
{
    for (uint64_t i = 0; s->metadata && i < n; i++) {
        uint64_t idx = (offset >> s->cluster_bits) + i;

        g_hash_table_insert(s->metadata, GSIZE_TO_POINTER(idx),
                            GINT_TO_POINTER(kind));
    }
}

void qcow2_meta_remove(BDRVQcow2State *s, uint64_t offset, uint64_t n)
{
    for (uint64_t i = 0; s->metadata && i < n; i++) {
        uint64_t idx = (offset >> s->cluster_bits) + i;

        g_hash_table_remove(s->metadata, GSIZE_TO_POINTER(idx));
    }
}

/* The last cluster with a non-zero refcount, + 1, as a byte offset. */
static int qcow2_find_refcount_end(BlockDriverState *bs, uint64_t *end,
                                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    *end = 0;
    for (uint64_t r = s->reftable_size; r-- > 0;) {
        const uint8_t *blk;

        if (!s->reftable[r]) {
            continue;
        }
        blk = qcow2_cache_get(s->rb_cache, s->reftable[r], false, errp);
        if (!blk) {
            return -1;
        }
        for (uint64_t i = qcow2_rb_entries(s); i-- > 0;) {
            uint64_t idx = (r << s->rb_bits) + i;

            if (!qcow2_rb_get(blk, s->hdr.refcount_order, i)) {
                continue;
            }
            if (idx >= QCOW2_MAX_HOST_OFFSET >> s->cluster_bits) {
                error_setg(errp,
                           "qcow2 image '%s': refcount for a cluster "
                           "beyond the 64 PB limit",
                           qcow2_name(bs));
                return -1;
            }
            *end = (idx + 1) << s->cluster_bits;
            return 0;
        }
    }
    return 0;
}

/* Is @off a usable offset of a cluster-sized table inside the file? */
bool qcow2_table_offset_ok(BDRVQcow2State *s, uint64_t off)
{
    return !(off & (s->cluster_size - 1)) && off >= s->cluster_size &&
           off <= qcow2_file_end(s) &&
           s->cluster_size <= qcow2_file_end(s) - off;
}

int qcow2_refcount_init(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = (uint64_t)s->hdr.refcount_table_clusters
                     << s->cluster_bits;
    uint64_t end;

    s->reftable_size = bytes / 8;
    s->reftable = g_new(uint64_t, s->reftable_size);
    if (bdrv_pread(bs->file, s->hdr.refcount_table_offset, bytes, s->reftable,
                   errp) < 0) {
        return -1;
    }
    for (uint64_t i = 0; i < s->reftable_size; i++) {
        uint64_t v = GUINT64_FROM_BE(s->reftable[i]);

        if (v &&
            ((v & QCOW2_REFTABLE_RESERVED) || !qcow2_table_offset_ok(s, v))) {
            error_setg(errp,
                       "qcow2 image '%s': invalid refcount block offset "
                       "%#" PRIx64 " (refcount table entry %" PRIu64 ")",
                       qcow2_name(bs), v, i);
            return -1;
        }
        s->reftable[i] = v;
    }
    if (qcow2_find_refcount_end(bs, &end, errp) < 0) {
        return -1;
    }
    s->alloc_end = MAX(qcow2_round_up(qcow2_file_end(s), s->cluster_size), end);
    return 0;
}

int qcow2_get_refcount(BlockDriverState *bs, uint64_t offset,
                       uint64_t *refcount, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t idx = offset >> s->cluster_bits;
    uint64_t rt = idx >> s->rb_bits;
    const uint8_t *blk;

    *refcount = 0;
    if (rt >= s->reftable_size || !s->reftable[rt]) {
        return 0;
    }
    blk = qcow2_cache_get(s->rb_cache, s->reftable[rt], false, errp);
    if (!blk) {
        return -1;
    }
    *refcount = qcow2_rb_get(blk, s->hdr.refcount_order,
                             idx & (qcow2_rb_entries(s) - 1));
    return 0;
}

/* Write refcount table entries [lo, hi) from memory, sector-aligned. */
static int qcow2_write_reftable(BlockDriverState *bs, uint64_t lo, uint64_t hi,
                                GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t first = lo & ~63ULL;
    uint64_t last = MIN(qcow2_round_up(hi, 64), s->reftable_size);
    g_autofree uint64_t *buf = g_new(uint64_t, last - first);

    for (uint64_t i = first; i < last; i++) {
        buf[i - first] = GUINT64_TO_BE(s->reftable[i]);
    }
    return qcow2_file_write(bs, s->hdr.refcount_table_offset + first * 8,
                            (last - first) * 8, buf, errp);
}

int qcow2_flush_reftable(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->reftable_dirty_lo == s->reftable_dirty_hi) {
        return 0;
    }
    if (qcow2_write_reftable(bs, s->reftable_dirty_lo, s->reftable_dirty_hi,
                             errp) < 0) {
        return -1;
    }
    s->reftable_dirty_lo = s->reftable_dirty_hi = 0;
    return 0;
}

/* Entry @rt changed in memory: it must reach the disk, now or later. */
static void qcow2_reftable_mark_dirty(BDRVQcow2State *s, uint64_t rt)
{
    if (s->reftable_dirty_lo == s->reftable_dirty_hi) {
        s->reftable_dirty_lo = rt;
        s->reftable_dirty_hi = rt + 1;
    } else {
        s->reftable_dirty_lo = MIN(s->reftable_dirty_lo, rt);
        s->reftable_dirty_hi = MAX(s->reftable_dirty_hi, rt + 1);
    }
}

/* Does refcount block @rb (table entry @rt) count nothing but itself? */
static int qcow2_refblock_unused(BlockDriverState *bs, uint64_t rt,
                                 uint64_t rb, bool *unused, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per = qcow2_rb_entries(s);
    uint64_t idx = rb >> s->cluster_bits;
    uint64_t self = (idx >> s->rb_bits) == rt ? (idx & (per - 1)) : per;
    const uint8_t *blk = qcow2_cache_get(s->rb_cache, rb, false, errp);

    if (!blk) {
        return -1;
    }
    *unused = true;
    for (uint64_t i = 0; i < per && *unused; i++) {
        *unused = i == self || !qcow2_rb_get(blk, s->hdr.refcount_order, i);
    }
    return 0;
}

int qcow2_free_unused_refblocks(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GArray) freed = g_array_new(FALSE, FALSE, sizeof(uint64_t));

    if (qcow2_flush_metadata(bs, errp) < 0) {
        return -1;
    }
    for (uint64_t rt = 0; rt < s->reftable_size; rt++) {
        uint64_t rb = s->reftable[rt];
        bool unused;

        if (!rb) {
            continue;
        }
        if (qcow2_refblock_unused(bs, rt, rb, &unused, errp) < 0) {
            return -1;
        }
        if (unused) {
            g_array_append_val(freed, rb);
            s->reftable[rt] = 0;
            qcow2_reftable_mark_dirty(s, rt);
        }
    }
    /* the table stops naming them, on disk, before they are freed */
    if (!freed->len || qcow2_flush_reftable(bs, errp) < 0 ||
        qcow2_file_barrier(bs, errp) < 0) {
        return freed->len ? -1 : 0;
    }
    for (guint i = 0; i < freed->len; i++) {
        uint64_t rb = g_array_index(freed, uint64_t, i);

        qcow2_cache_forget(s->rb_cache, rb);
        qcow2_meta_remove(s, rb, 1);
        /* counted by a block that stays; a self-counting one is gone */
        if (s->reftable[(rb >> s->cluster_bits) >> s->rb_bits] &&
            qcow2_update_refcounts(bs, rb, 1, -1, errp) < 0) {
            return -1;
        }
    }
    return qcow2_cache_flush(s->rb_cache, errp);
}

/*
 * Size and place a new refcount table for at least @min_entries at the
 * end: *clusters of table at *start, then *nb_blocks new refcount blocks
 * for whatever part of the new area has no block yet.  Cluster units.
 */
static int qcow2_plan_reftable(BlockDriverState *bs, uint64_t min_entries,
                               uint64_t *start, uint64_t *clusters,
                               uint64_t *nb_blocks, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per_cluster = s->cluster_size / 8;
    uint64_t entries = MAX(min_entries, s->reftable_size * 3 / 2);
    bool converged = false;

    *start = s->alloc_end >> s->cluster_bits;
    *clusters = (entries + per_cluster - 1) / per_cluster;
    *nb_blocks = 0;
    for (int iter = 0; !converged && iter < 64; iter++) {
        uint64_t end = *start + *clusters + *nb_blocks;
        uint64_t last_rt = (end - 1) >> s->rb_bits;
        uint64_t missing = 0;

        if (last_rt >= *clusters * per_cluster) {
            *clusters = (last_rt + per_cluster) / per_cluster;
            continue;
        }
        for (uint64_t rt = *start >> s->rb_bits; rt <= last_rt; rt++) {
            missing += rt >= s->reftable_size || !s->reftable[rt];
        }
        converged = missing == *nb_blocks;
        *nb_blocks = missing;
    }
    if (!converged || *clusters * s->cluster_size > QCOW2_MAX_REFTABLE_BYTES ||
        (*start + *clusters + *nb_blocks) > QCOW2_MAX_HOST_OFFSET >>
            s->cluster_bits) {
        error_setg(errp,
                   "qcow2 image '%s': refcount table cannot grow beyond "
                   "%d MiB",
                   qcow2_name(bs), QCOW2_MAX_REFTABLE_BYTES >> 20);
        return -1;
    }
    return 0;
}

/* Swap in @table, written at @start; free the old one. */
static int qcow2_install_reftable(BlockDriverState *bs, uint64_t *table,
                                  uint64_t start, uint64_t clusters,
                                  GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t old_off = s->hdr.refcount_table_offset;
    uint64_t old_clusters = s->hdr.refcount_table_clusters;
    uint64_t bytes = clusters << s->cluster_bits;
    g_autofree uint64_t *be = g_new(uint64_t, bytes / 8);

    for (uint64_t i = 0; i < bytes / 8; i++) {
        be[i] = GUINT64_TO_BE(table[i]);
    }
    if (qcow2_cache_flush(s->rb_cache, errp) < 0 ||
        qcow2_file_write(bs, start, bytes, be, errp) < 0 ||
        qcow2_file_barrier(bs, errp) < 0) {
        return -1;
    }
    s->hdr.refcount_table_offset = start;
    s->hdr.refcount_table_clusters = clusters;
    if (qcow2_write_header(bs, errp) < 0) {
        s->hdr.refcount_table_offset = old_off;
        s->hdr.refcount_table_clusters = old_clusters;
        return -1;
    }
    s->reftable_dirty_lo = s->reftable_dirty_hi = 0; /* all of it written */
    qcow2_meta_remove(s, old_off, old_clusters);
    qcow2_meta_add(s, start, clusters, QCOW2_META_REFTABLE);
    /* the header points to the new table, on disk, before the old is freed */
    if (qcow2_file_barrier(bs, errp) < 0) {
        return -1;
    }
    return qcow2_update_refcounts_depth(bs, old_off, old_clusters, -1, 0, errp);
}

static int qcow2_grow_reftable(BlockDriverState *bs, uint64_t min_entries,
                               GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start, clusters, nb_blocks, k = 0, new_size;
    uint64_t *old = s->reftable, old_size = s->reftable_size;
    uint64_t *table;

    bdrv_debug_event(bs->file, BLKDBG_REFTABLE_GROW);
    if (qcow2_plan_reftable(bs, min_entries, &start, &clusters, &nb_blocks,
                            errp) < 0) {
        return -1;
    }
    new_size = (clusters << s->cluster_bits) / 8;
    table = g_new0(uint64_t, new_size);
    memcpy(table, old, old_size * sizeof(uint64_t));
    for (uint64_t rt = start >> s->rb_bits; k < nb_blocks; rt++) {
        if (rt < old_size && old[rt]) {
            continue;
        }
        table[rt] = (start + clusters + k++) << s->cluster_bits;
        if (!qcow2_cache_get(s->rb_cache, table[rt], true, errp)) {
            g_free(table);
            return -1;
        }
        qcow2_meta_add(s, table[rt], 1, QCOW2_META_REFBLOCK);
    }
    /* The new blocks live in the new table only; from here on it is ours */
    s->reftable = table;
    s->reftable_size = new_size;
    s->alloc_end = (start + clusters + nb_blocks) << s->cluster_bits;
    if (qcow2_update_refcounts_depth(bs, start << s->cluster_bits,
                                     clusters + nb_blocks, 1, 0, errp) < 0 ||
        qcow2_install_reftable(bs, table, start << s->cluster_bits, clusters,
                               errp) < 0) {
        s->reftable = old;
        s->reftable_size = old_size;
        g_free(table);
        return -1;
    }
    g_free(old);
    return 0;
}

/* Make sure refcount block @rt exists; create it at the end if not. */
static int qcow2_ensure_refblock(BlockDriverState *bs, uint64_t rt, int depth,
                                 GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t off, idx;
    uint8_t *blk;

    if (depth > QCOW2_MAX_GROWTH_DEPTH) {
        error_setg(errp,
                   "qcow2 image '%s': refcount structure growth does "
                   "not converge",
                   qcow2_name(bs));
        return -1;
    }
    if (rt >= s->reftable_size && qcow2_grow_reftable(bs, rt + 1, errp) < 0) {
        return -1;
    }
    if (s->reftable[rt]) {
        return 0;
    }
    bdrv_debug_event(bs->file, BLKDBG_REFBLOCK_ALLOC);
    off = s->alloc_end;
    idx = off >> s->cluster_bits;
    if (off + s->cluster_size > QCOW2_MAX_HOST_OFFSET) {
        error_setg(errp, "qcow2 image '%s' is full", qcow2_name(bs));
        return -1;
    }
    s->alloc_end += s->cluster_size;
    blk = qcow2_cache_get(s->rb_cache, off, true, errp);
    if (!blk) {
        return -1;
    }
    s->reftable[rt] = off;
    qcow2_reftable_mark_dirty(s, rt);
    qcow2_meta_add(s, off, 1, QCOW2_META_REFBLOCK);
    if ((idx >> s->rb_bits) == rt) {
        qcow2_rb_set(blk, s->hdr.refcount_order,
                     idx & (qcow2_rb_entries(s) - 1), 1);
    } else if (qcow2_update_refcounts_depth(bs, off, 1, 1, depth + 1, errp) <
               0) {
        return -1;
    }
    /* the block first, then the table entry that points to it */
    if (qcow2_cache_flush(s->rb_cache, errp) < 0 ||
        qcow2_file_barrier(bs, errp) < 0) {
        return -1;
    }
    return qcow2_flush_reftable(bs, errp);
}

/* Apply @delta to entries [first, first + n) of block @blk, or refuse. */
static int qcow2_rb_apply(BlockDriverState *bs, uint8_t *blk, uint64_t first,
                          uint64_t n, int delta, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t order = s->hdr.refcount_order;
    uint64_t max = qcow2_refcount_max(s);

    for (uint64_t i = first; i < first + n; i++) {
        uint64_t v = qcow2_rb_get(blk, order, i);

        if ((delta < 0 && v < (uint64_t)-delta) ||
            (delta > 0 && max - v < (uint64_t)delta)) {
            error_setg(errp,
                       "qcow2 image '%s' is corrupt: refcount %s (refcount "
                       "%" PRIu64 ", change %d)",
                       qcow2_name(bs), delta < 0 ? "underflow" : "overflow", v,
                       delta);
            return -1;
        }
    }
    for (uint64_t i = first; i < first + n; i++) {
        qcow2_rb_set(blk, order, i, qcow2_rb_get(blk, order, i) + delta);
    }
    return 0;
}

static int qcow2_update_refcounts_depth(BlockDriverState *bs, uint64_t offset,
                                        uint64_t n, int delta, int depth,
                                        GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t idx = offset >> s->cluster_bits;
    uint64_t per_block = qcow2_rb_entries(s);

    while (n > 0) {
        uint64_t rt = idx >> s->rb_bits;
        uint64_t first = idx & (per_block - 1);
        uint64_t m = MIN(n, per_block - first);
        uint32_t lo, hi;
        uint8_t *blk;

        if (qcow2_ensure_refblock(bs, rt, depth, errp) < 0) {
            return -1;
        }
        blk = qcow2_cache_get(s->rb_cache, s->reftable[rt], false, errp);
        if (!blk || qcow2_rb_apply(bs, blk, first, m, delta, errp) < 0) {
            return -1;
        }
        qcow2_rb_bytes(s, first, m, &lo, &hi);
        qcow2_cache_mark_dirty(s->rb_cache, s->reftable[rt], lo, hi);
        idx += m;
        n -= m;
    }
    return 0;
}

int qcow2_update_refcounts(BlockDriverState *bs, uint64_t offset, uint64_t n,
                           int delta, GError **errp)
{
    return qcow2_update_refcounts_depth(bs, offset, n, delta, 0, errp);
}

uint64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t start = s->alloc_end;

    if (n > (QCOW2_MAX_HOST_OFFSET - start) >> s->cluster_bits) {
        error_setg(errp, "qcow2 image '%s' is full", qcow2_name(bs));
        return 0;
    }
    s->alloc_end += n << s->cluster_bits;
    if (qcow2_update_refcounts(bs, start, n, 1, errp) < 0) {
        return 0;
    }
    return start;
}

/*
 * The write into the @n clusters at @offset that qcow2_alloc_clusters gave
 * failed: when nothing was allocated after them, give them back, so that
 * the retry (a job resumed after ENOSPC) takes the same space instead of
 * more (QEMU frees them too).  Else they stay leaked: harmless, and
 * qemu-img check reports them.
 */
void qcow2_alloc_abort(BlockDriverState *bs, uint64_t offset, uint64_t n)
{
    BDRVQcow2State *s = bs->opaque;

    if (offset + (n << s->cluster_bits) == s->alloc_end &&
        qcow2_update_refcounts(bs, offset, n, -1, NULL) == 0) {
        s->alloc_end = offset;
    }
}

/* Record @n clusters at @offset as @kind; refuse a cluster used twice. */
static int qcow2_meta_claim(BlockDriverState *bs, uint64_t offset, uint64_t n,
                            Qcow2MetaKind kind, GError **errp)
{
    static const char *const names[] = {
        [QCOW2_META_HEADER] = "header",
        [QCOW2_META_L1] = "L1 table",
        [QCOW2_META_REFTABLE] = "refcount table",
        [QCOW2_META_REFBLOCK] = "refcount block",
        [QCOW2_META_L2] = "L2 table",
        [QCOW2_META_BITMAP] = "bitmap",
    };
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t i = 0; i < n; i++) {
        gpointer key = GSIZE_TO_POINTER((offset >> s->cluster_bits) + i);
        int old = GPOINTER_TO_INT(g_hash_table_lookup(s->metadata, key));

        if (old) {
            error_setg(errp,
                       "qcow2 image '%s' is corrupt: cluster %#" PRIx64
                       " is used both as %s and as %s",
                       qcow2_name(bs), offset + (i << s->cluster_bits),
                       names[old], names[kind]);
            return -1;
        }
        g_hash_table_insert(s->metadata, key, GINT_TO_POINTER(kind));
    }
    return 0;
}

/* Every metadata cluster must have refcount 1 before we write. */
static int qcow2_meta_check_refcounts(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, s->metadata);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        uint64_t off = (uint64_t)GPOINTER_TO_SIZE(key) << s->cluster_bits;
        uint64_t rc;

        if (qcow2_get_refcount(bs, off, &rc, errp) < 0) {
            return -1;
        }
        if (rc != 1) {
            error_setg(errp,
                       "qcow2 image '%s' is corrupt or shared: metadata "
                       "cluster %#" PRIx64 " has refcount %" PRIu64,
                       qcow2_name(bs), off, rc);
            return -1;
        }
    }
    return 0;
}

/* Claim the fixed structures: header, L1 table, refcount table. */
static int qcow2_meta_claim_fixed(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l1_clusters =
        qcow2_round_up((uint64_t)s->hdr.l1_size * 8, s->cluster_size) >>
        s->cluster_bits;

    if (qcow2_meta_claim(bs, 0, 1, QCOW2_META_HEADER, errp) < 0 ||
        qcow2_meta_claim(bs, s->hdr.l1_table_offset, l1_clusters, QCOW2_META_L1,
                         errp) < 0 ||
        qcow2_meta_claim(bs, s->hdr.refcount_table_offset,
                         s->hdr.refcount_table_clusters, QCOW2_META_REFTABLE,
                         errp) < 0) {
        return -1;
    }
    return 0;
}

/* Claim the refcount blocks and L2 tables the tables point to. */
static int qcow2_meta_claim_tables(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t i = 0; i < s->reftable_size; i++) {
        if (s->reftable[i] && qcow2_meta_claim(bs, s->reftable[i], 1,
                                               QCOW2_META_REFBLOCK, errp) < 0) {
            return -1;
        }
    }
    for (uint64_t i = 0; i < s->hdr.l1_size; i++) {
        uint64_t l2 = s->l1_table[i] & QCOW2_OFFSET_MASK;

        if (l2 && qcow2_meta_claim(bs, l2, 1, QCOW2_META_L2, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

int qcow2_meta_claim_bitmaps(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    for (guint i = 0; s->bitmap_clusters && i < s->bitmap_clusters->len;
         i++) {
        if (qcow2_meta_claim(bs, g_array_index(s->bitmap_clusters, uint64_t,
                                               i),
                             1, QCOW2_META_BITMAP, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Check one L2 table's data clusters; @seen collects them. */
static int qcow2_check_l2_data(BlockDriverState *bs, const uint64_t *l2,
                               GHashTable *seen, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t n = 1ULL << s->l2_bits;

    for (uint64_t j = 0; j < n; j++) {
        uint64_t e = GUINT64_FROM_BE(l2[j]);
        uint64_t host = e & QCOW2_OFFSET_MASK & ~(s->cluster_size - 1);
        gpointer key = GSIZE_TO_POINTER(host >> s->cluster_bits);
        const char *why = NULL;

        if ((e & QCOW2_OFLAG_COMPRESSED) || !host) {
            continue;
        }
        if (host + s->cluster_size > s->alloc_end) {
            why = "lies beyond the end of the image";
        } else if (g_hash_table_contains(s->metadata, key)) {
            why = "overlaps metadata";
        } else if (!g_hash_table_add(seen, key)) {
            why = "is used by two guest clusters";
        }
        if (why) {
            error_setg(errp, "qcow2 image '%s' is corrupt: data cluster %#"
                       PRIx64 " %s; writes refused (qemu-img check -r all "
                       "repairs it)", qcow2_name(bs), host, why);
            return -1;
        }
    }
    return 0;
}

/*
 * Every data cluster the L2 tables name must be inside the image, apart
 * from metadata, and named once: otherwise an allocation or an in-place
 * write would change another guest cluster's data.
 */
static int qcow2_meta_check_data(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GHashTable) seen = g_hash_table_new(g_direct_hash,
                                                  g_direct_equal);
    g_autofree uint64_t *l2 = g_malloc(s->cluster_size);

    for (uint64_t i = 0; i < s->hdr.l1_size; i++) {
        uint64_t off = s->l1_table[i] & QCOW2_OFFSET_MASK;

        if (!off) {
            continue;
        }
        if (qcow2_file_read_clipped(bs, off, s->cluster_size, l2, errp) < 0 ||
            qcow2_check_l2_data(bs, l2, seen, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

int qcow2_build_metadata_map(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    g_assert(!s->metadata);
    s->metadata = g_hash_table_new(g_direct_hash, g_direct_equal);
    if (qcow2_meta_claim_fixed(bs, errp) < 0 ||
        qcow2_meta_claim_tables(bs, errp) < 0 ||
        qcow2_meta_claim_bitmaps(bs, errp) < 0 ||
        qcow2_meta_check_refcounts(bs, errp) < 0 ||
        qcow2_meta_check_data(bs, errp) < 0) {
        g_clear_pointer(&s->metadata, g_hash_table_destroy);
        return -1;
    }
    return 0;
}
