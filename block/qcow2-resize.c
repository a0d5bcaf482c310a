/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 resize (block_resize): growing the virtual size, with a larger L1
 * table when the new size needs one; shrinking as QEMU 7.2 does it: the
 * clusters past the new end are discarded, the L2 tables that cover only
 * that range freed (the L1 table keeps its size), the header gets the new
 * size, and the file is cut after its last cluster in use.
 */
#include "block/dirty-bitmap.h"
#include "block/qcow2.h"
#include "qemu/error.h"

static const char *qcow2_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

/*
 * A new L1 table of @entries at the end of the image, holding the old
 * entries: written, then named by the header, then the old one freed.
 */
static int qcow2_grow_l1(BlockDriverState *bs, uint64_t entries, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t bytes = qcow2_round_up(entries * 8, s->cluster_size);
    uint64_t clusters = bytes >> s->cluster_bits;
    uint64_t old_off = s->hdr.l1_table_offset;
    uint32_t old_size = s->hdr.l1_size;
    uint64_t old_clusters =
        qcow2_round_up((uint64_t)old_size * 8, s->cluster_size) >>
        s->cluster_bits;
    g_autofree uint64_t *be = g_new0(uint64_t, bytes / 8);
    uint64_t off;

    if (entries * 8 > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "The new size is too large for qcow2 image '%s'",
                   qcow2_name(bs));
        return -1;
    }
    if (qcow2_flush_metadata(bs, errp) < 0) {
        return -1;
    }
    off = qcow2_alloc_clusters(bs, clusters, errp);
    if (!off) {
        return -1;
    }
    for (uint32_t i = 0; i < old_size; i++) {
        be[i] = GUINT64_TO_BE(s->l1_table[i]);
    }
    if (qcow2_flush_metadata(bs, errp) < 0 ||
        qcow2_file_write(bs, off, bytes, be, errp) < 0 ||
        qcow2_file_barrier(bs, errp) < 0) { /* the table, then the header */
        return -1;
    }
    qcow2_meta_add(s, off, clusters, QCOW2_META_L1);
    s->hdr.l1_table_offset = off;
    s->hdr.l1_size = entries;
    if (qcow2_write_header(bs, errp) < 0) {
        s->hdr.l1_table_offset = old_off;
        s->hdr.l1_size = old_size;
        return -1;
    }
    s->l1_table = g_renew(uint64_t, s->l1_table, entries);
    memset(s->l1_table + old_size, 0, (entries - old_size) * 8);
    if (old_size == 0) {
        return 0;
    }
    qcow2_meta_remove(s, old_off, old_clusters);
    /* the header no longer points there, on disk, before it is freed */
    if (qcow2_file_barrier(bs, errp) < 0) {
        return -1;
    }
    return qcow2_update_refcounts(bs, old_off, old_clusters, -1, errp);
}

/* Free the L2 tables of L1 entries [@first, l1_size): after the discard
 * they map nothing.  The lock is held in this file (qcow2.c takes it). */
static int qcow2_free_l2_tables(BlockDriverState *bs, uint64_t first,
                                GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    for (uint64_t i = first; i < s->hdr.l1_size; i++) {
        uint64_t l2off = s->l1_table[i] & QCOW2_OFFSET_MASK;

        if (!l2off) {
            continue;
        }
        s->l1_table[i] = 0;
        if (s->l1_dirty_lo == s->l1_dirty_hi) {
            s->l1_dirty_lo = i;
            s->l1_dirty_hi = i + 1;
        } else {
            s->l1_dirty_lo = MIN(s->l1_dirty_lo, i);
            s->l1_dirty_hi = MAX(s->l1_dirty_hi, i + 1);
        }
        qcow2_cache_forget(s->l2_cache, l2off);
        qcow2_meta_remove(s, l2off, 1);
        qcow2_free_later(s, l2off); /* once the L1 entry is on disk */
    }
    return qcow2_writeback(bs, errp);
}

/* Cut the file after its last cluster with a refcount (QEMU 7.2 does,
 * and only warns when it cannot).  Lock held. */
static int qcow2_cut_tail(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t end = qcow2_round_up(qcow2_file_end(s), s->cluster_size);
    g_autoptr(GError) err = NULL;

    while (end > s->cluster_size) {
        uint64_t rc;

        if (qcow2_get_refcount(bs, end - s->cluster_size, &rc, errp) < 0) {
            return -1;
        }
        if (rc) {
            break;
        }
        end -= s->cluster_size;
    }
    if (end >= qcow2_file_end(s)) {
        return 0;
    }
    if (bdrv_truncate(bs->file, (int64_t)end, &err) < 0) {
        g_warning("Failed to truncate the tail of the image: %s",
                  err->message);
        return 0;
    }
    __atomic_store_n(&s->file_size, end, __ATOMIC_RELEASE);
    s->alloc_end = end;
    return 0;
}

static int qcow2_shrink(BlockDriverState *bs, uint64_t size, uint64_t needed,
                        GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t cut = qcow2_round_up(size, s->cluster_size);
    uint64_t end = qcow2_round_up(s->hdr.size, s->cluster_size);
    int ret;

    if (cut < end &&
        qcow2_discard_clusters_locked(bs, cut, end - cut, errp) < 0) {
        return -1;
    }
    ret = qcow2_free_l2_tables(bs, needed, errp);
    if (ret == 0) {
        ret = qcow2_free_unused_refblocks(bs, errp);
    }
    if (ret == 0) {
        uint64_t old_size = s->hdr.size;

        s->hdr.size = size;
        ret = qcow2_write_header(bs, errp);
        if (ret < 0) {
            s->hdr.size = old_size;
        }
    }
    if (ret == 0) {
        s->l1_needed = needed;
        ret = qcow2_cut_tail(bs, errp);
    }
    return ret < 0 ? -1 : bdrv_flush(bs->file, errp);
}

int qcow2_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint32_t shift = s->cluster_bits + s->l2_bits;
    uint64_t old_size = s->hdr.size, needed;

    if (size % 512) {
        error_setg(errp, "The new size must be a multiple of 512");
        return -1;
    }
    /* QEMU's rule: a persistent bitmap that cannot follow the new size
     * (stored later at it) stops the resize */
    if (!bdrv_dirty_bitmaps_check_resize(bs, errp)) {
        return -1;
    }
    if ((uint64_t)size > (uint64_t)INT64_MAX - s->cluster_size) {
        error_setg(errp, "The new size is too large for qcow2 image '%s'",
                   qcow2_name(bs));
        return -1;
    }
    needed = ((uint64_t)size + (1ULL << shift) - 1) >> shift;
    if ((uint64_t)size < old_size) {
        return qcow2_write_prepare(bs, errp) < 0 ? -1
               : qcow2_shrink(bs, size, needed, errp);
    }
    if (qcow2_write_prepare(bs, errp) < 0 ||
        (needed > s->hdr.l1_size && qcow2_grow_l1(bs, needed, errp) < 0) ||
        qcow2_flush_metadata(bs, errp) < 0) {
        return -1;
    }
    s->hdr.size = size;
    if (qcow2_write_header(bs, errp) < 0) {
        s->hdr.size = old_size;
        return -1;
    }
    s->l1_needed = needed;
    return bdrv_flush(bs->file, errp);
}
