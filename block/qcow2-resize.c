/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 resize (block_resize): growing the virtual size, with a larger L1
 * table when the new size needs one.  Shrinking is refused: QEMU 7.2 does
 * shrink an image without internal snapshots, fdsetd does not (yet).
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
    if ((uint64_t)size < old_size) {
        error_setg(errp, "fdsetd cannot shrink qcow2 image '%s'",
                   qcow2_name(bs));
        return -1;
    }
    if ((uint64_t)size > (uint64_t)INT64_MAX - s->cluster_size) {
        error_setg(errp, "The new size is too large for qcow2 image '%s'",
                   qcow2_name(bs));
        return -1;
    }
    needed = ((uint64_t)size + (1ULL << shift) - 1) >> shift;
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
