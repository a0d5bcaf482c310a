/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps in the qcow2 bitmaps extension (QEMU's
 * docs/interop/qcow2.txt): the extension names a directory of entries,
 * each with a bitmap table whose entries point at data clusters (0: all
 * clean).  At open the bitmaps are loaded into dirty-bitmap.c and, on a
 * read-write node, flagged in use on disk, so that a crash leaves them
 * "inconsistent" rather than silently stale.  At close (and when one is
 * removed) everything is written anew: data, tables, directory, then the
 * header; the old clusters are freed after the header points elsewhere.
 */
#include "block/qcow2-bitmap.h"
#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/qcow2.h"
#include "qemu/error.h"

#define EXT_LEN 24
#define ENTRY_FIXED 24
#define FLAG_IN_USE 0x1
#define FLAG_AUTO 0x2
#define FLAG_EXTRA_COMPAT 0x4
#define TYPE_DIRTY_TRACKING 1
#define MAX_DIR_BYTES (64 * 1024 * 1024)
#define MAX_BITMAPS 65535
#define MAX_GRANULARITY_BITS 31
#define TABLE_ALL_ONES 0x1ULL

static const char *image_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

void qcow2_bitmaps_free(BDRVQcow2State *s)
{
    g_clear_pointer(&s->bitmap_clusters, g_array_unref);
    g_clear_pointer(&s->bitmap_dir, g_ptr_array_unref);
}

/* Remember the directory's order: the names of @bitmaps. */
static void set_dir_order(BDRVQcow2State *s, GPtrArray *bitmaps)
{
    g_clear_pointer(&s->bitmap_dir, g_ptr_array_unref);
    s->bitmap_dir = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < bitmaps->len; i++) {
        g_ptr_array_add(s->bitmap_dir,
                        g_strdup(bdrv_dirty_bitmap_name(bitmaps->pdata[i])));
    }
}

/*
 * The persistent bitmaps in the order QEMU 7.2 writes them: those already
 * in the directory where they are, then the new ones newest first (its
 * bitmap list is newest first; ours is oldest first).
 */
static GPtrArray *store_order(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GList) bitmaps = bdrv_dirty_bitmaps(bs);
    GPtrArray *out = g_ptr_array_new();

    for (guint i = 0; s->bitmap_dir && i < s->bitmap_dir->len; i++) {
        BdrvDirtyBitmap *bm = bdrv_find_dirty_bitmap(bs,
                                                     s->bitmap_dir->pdata[i]);

        if (bm && bdrv_dirty_bitmap_persistent(bm)) {
            g_ptr_array_add(out, bm);
        }
    }
    for (GList *l = g_list_last(bitmaps); l; l = l->prev) {
        if (bdrv_dirty_bitmap_persistent(l->data) &&
            !g_ptr_array_find(out, l->data, NULL)) {
            g_ptr_array_add(out, l->data);
        }
    }
    return out;
}

static Qcow2Ext *find_ext(BDRVQcow2State *s)
{
    for (guint i = 0; s->exts && i < s->exts->len; i++) {
        Qcow2Ext *ext = g_ptr_array_index(s->exts, i);

        if (ext->type == QCOW2_EXT_BITMAPS) {
            return ext;
        }
    }
    return NULL;
}

static void own_cluster(BDRVQcow2State *s, uint64_t off)
{
    if (!s->bitmap_clusters) {
        s->bitmap_clusters = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    }
    g_array_append_val(s->bitmap_clusters, off);
}

static void own_range(BDRVQcow2State *s, uint64_t off, uint64_t bytes)
{
    for (uint64_t o = 0; o < bytes; o += s->cluster_size) {
        own_cluster(s, off + o);
    }
}

/* Entries of a bitmap table for @size bytes at 2^@gbits granularity. */
static uint64_t table_entries(BDRVQcow2State *s, uint64_t size,
                              uint32_t gbits)
{
    uint64_t granules = (size + (1ULL << gbits) - 1) >> gbits;
    uint64_t per_cluster = s->cluster_size * 8;

    return (granules + per_cluster - 1) / per_cluster;
}

static bool cluster_offset_ok(BDRVQcow2State *s, uint64_t off)
{
    return off && !(off & (s->cluster_size - 1)) &&
           off + s->cluster_size <= qcow2_round_up(s->file_size,
                                                   s->cluster_size);
}

/* ---- loading ---- */

/*
 * Take the clusters of @bm's table (@n entries at @table_off) and, unless
 * it is inconsistent, fill @bm from them.
 */
static int load_bits(BlockDriverState *bs, BdrvDirtyBitmap *bm,
                     uint64_t table_off, uint32_t n, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *table = g_malloc(n * 8ULL);
    g_autofree uint8_t *data = g_malloc(s->cluster_size);
    uint64_t per_cluster = s->cluster_size * 8;
    uint64_t granules = bdrv_dirty_bitmap_granules(bm);

    if (qcow2_file_read_clipped(bs, table_off, n * 8ULL, table, errp) < 0) {
        return -1;
    }
    own_range(s, table_off, qcow2_round_up(n * 8ULL, s->cluster_size));
    for (uint32_t i = 0; i < n; i++) {
        uint64_t e = qcow2_ld64(table + 8ULL * i);
        uint64_t off = e & QCOW2_OFFSET_MASK;
        uint64_t first = i * per_cluster;
        uint64_t count = MIN(per_cluster, granules - first);
        bool use = !bdrv_dirty_bitmap_inconsistent(bm);

        if (!off) {
            if (use && (e & TABLE_ALL_ONES)) {
                memset(data, 0xff, s->cluster_size);
                bdrv_dirty_bitmap_deserialize(bm, first, count, data);
            }
            continue;
        }
        if (!cluster_offset_ok(s, off)) {
            error_setg(errp, "qcow2 image '%s': bitmap '%s' has a bad data "
                       "cluster offset %#" PRIx64, image_name(bs),
                       bdrv_dirty_bitmap_name(bm), off);
            return -1;
        }
        own_cluster(s, off);
        if (!use) {
            continue; /* freed at the next store, its bits not trusted */
        }
        if (qcow2_file_read_clipped(bs, off, s->cluster_size, data,
                                    errp) < 0) {
            return -1;
        }
        bdrv_dirty_bitmap_deserialize(bm, first, count, data);
    }
    return 0;
}

/* One directory entry at @e (@avail bytes left); *len its size. */
static int load_entry(BlockDriverState *bs, uint8_t *e, uint64_t avail,
                      uint64_t *len, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t table_off = qcow2_ld64(e);
    uint32_t table_size = qcow2_ld32(e + 8);
    uint32_t flags = qcow2_ld32(e + 12);
    uint32_t gbits = e[17];
    uint16_t name_size = (e[18] << 8) | e[19];
    uint32_t extra = qcow2_ld32(e + 20);
    g_autofree char *name = NULL;
    BdrvDirtyBitmap *bm;

    *len = qcow2_round_up(ENTRY_FIXED + (uint64_t)extra + name_size, 8);
    if (avail < ENTRY_FIXED || *len > avail || e[16] != TYPE_DIRTY_TRACKING ||
        gbits < 9 || gbits > MAX_GRANULARITY_BITS || !name_size ||
        name_size > BDRV_BITMAP_MAX_NAME_SIZE ||
        (extra && !(flags & FLAG_EXTRA_COMPAT)) ||
        table_size != table_entries(s, s->hdr.size, gbits) ||
        (table_size && !cluster_offset_ok(s, table_off))) {
        error_setg(errp, "qcow2 image '%s': bad bitmap directory entry",
                   image_name(bs));
        return -1;
    }
    name = g_strndup((char *)e + ENTRY_FIXED + extra, name_size);
    bm = bdrv_create_dirty_bitmap(bs, name, 1U << gbits, true,
                                  !(flags & FLAG_AUTO), errp);
    if (!bm) {
        return -1;
    }
    bdrv_dirty_bitmap_set_readonly(bm, bs->read_only);
    if (flags & FLAG_IN_USE) {
        bdrv_dirty_bitmap_set_inconsistent(bm);
    }
    return load_bits(bs, bm, table_off, table_size, errp);
}

/* Set the in-use flag of every entry and write the directory back. */
static int mark_in_use(BlockDriverState *bs, uint8_t *dir, uint64_t dir_off,
                       uint64_t dir_size, GError **errp)
{
    for (uint64_t pos = 0; pos + ENTRY_FIXED <= dir_size;) {
        uint8_t *e = dir + pos;

        qcow2_st32(e + 12, qcow2_ld32(e + 12) | FLAG_IN_USE);
        pos += qcow2_round_up(ENTRY_FIXED + (uint64_t)qcow2_ld32(e + 20) +
                              ((e[18] << 8) | e[19]), 8);
    }
    if (qcow2_write_prepare(bs, errp) < 0 ||
        qcow2_file_write(bs, dir_off, dir_size, dir, errp) < 0) {
        return -1;
    }
    return bdrv_flush(bs->file, errp) < 0 ? -1 : 0;
}

int qcow2_load_dirty_bitmaps(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Ext *ext = find_ext(s);
    g_autofree uint8_t *dir = NULL;
    uint64_t dir_size, dir_off, pos = 0;
    uint32_t nb;

    if (!ext || !(s->hdr.autoclear_features & QCOW2_AUTOCLEAR_BITMAPS)) {
        return 0; /* an extension without the bit is stale: QEMU drops it */
    }
    if (ext->len < EXT_LEN) {
        error_setg(errp, "qcow2 image '%s': bitmaps extension too short",
                   image_name(bs));
        return -1;
    }
    nb = qcow2_ld32(ext->data);
    dir_size = qcow2_ld64(ext->data + 8);
    dir_off = qcow2_ld64(ext->data + 16);
    if (!nb || nb > MAX_BITMAPS || !dir_size || dir_size > MAX_DIR_BYTES ||
        !cluster_offset_ok(s, dir_off) ||
        dir_off + dir_size > qcow2_round_up(s->file_size, s->cluster_size)) {
        error_setg(errp, "qcow2 image '%s': bad bitmaps extension",
                   image_name(bs));
        return -1;
    }
    dir = g_malloc(dir_size);
    if (qcow2_file_read_clipped(bs, dir_off, dir_size, dir, errp) < 0) {
        return -1;
    }
    own_range(s, dir_off, qcow2_round_up(dir_size, s->cluster_size));
    for (uint32_t i = 0; i < nb; i++) {
        uint64_t len;

        if (load_entry(bs, dir + pos, dir_size - pos, &len, errp) < 0) {
            bdrv_dirty_bitmaps_drop(bs); /* the open fails: none stays */
            return -1;
        }
        pos += len;
    }
    {
        /* nothing else is on the node yet: ours is the directory's order */
        g_autoptr(GList) loaded = bdrv_dirty_bitmaps(bs);
        g_autoptr(GPtrArray) order = g_ptr_array_new();

        for (GList *l = loaded; l; l = l->next) {
            g_ptr_array_add(order, l->data);
        }
        set_dir_order(s, order);
    }
    if (!bs->read_only) {
        return mark_in_use(bs, dir, dir_off, dir_size, errp);
    }
    return 0;
}

/* ---- storing ---- */

static bool can_store(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s;

    if (bs->drv != &bdrv_qcow2) {
        error_setg(errp, "Can't store persistent bitmaps to %s: Operation "
                   "not supported", bdrv_device_or_node_name(bs));
        return false;
    }
    s = bs->opaque;
    if (s->hdr.version < 3) {
        error_setg(errp, "Cannot store dirty bitmaps in qcow2 v2 files");
        return false;
    }
    return true;
}

bool qcow2_can_store_new_dirty_bitmap(BlockDriverState *bs, const char *name,
                                      uint32_t granularity, GError **errp)
{
    (void)name;
    (void)granularity; /* <= 2^31: the uint32 argument cannot say more */
    return can_store(bs, errp);
}

/* Write @n bytes to fresh clusters; their offset, or 0 and errp. */
static uint64_t write_new(BlockDriverState *bs, const void *buf, uint64_t n,
                          GArray *owned, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t clusters = qcow2_round_up(n, s->cluster_size) >> s->cluster_bits;
    uint64_t off = qcow2_alloc_clusters(bs, clusters, errp);

    if (!off) {
        return 0;
    }
    for (uint64_t i = 0; i < clusters; i++) {
        uint64_t c = off + (i << s->cluster_bits);

        g_array_append_val(owned, c);
    }
    qcow2_meta_add(s, off, clusters, QCOW2_META_BITMAP);
    return qcow2_file_write(bs, off, n, buf, errp) < 0 ? 0 : off;
}

/* Data clusters and table of @bm; the table's offset (0: none needed). */
static int store_bits(BlockDriverState *bs, BdrvDirtyBitmap *bm,
                      GArray *owned, uint64_t *table_off, uint32_t *n,
                      GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t per_cluster = s->cluster_size * 8;
    uint64_t granules = bdrv_dirty_bitmap_granules(bm);
    g_autofree uint8_t *data = g_malloc(s->cluster_size);
    g_autofree uint8_t *table = NULL;

    *n = (granules + per_cluster - 1) / per_cluster;
    table = g_malloc0(*n * 8ULL);
    for (uint32_t i = 0; i < *n; i++) {
        uint64_t first = i * per_cluster;
        uint64_t count = MIN(per_cluster, granules - first);
        uint64_t off;

        if (bdrv_dirty_bitmap_inconsistent(bm) ||
            bdrv_dirty_bitmap_granules_clean(bm, first, count)) {
            continue; /* entry 0: all clean */
        }
        memset(data, 0, s->cluster_size);
        bdrv_dirty_bitmap_serialize(bm, first, count, data);
        off = write_new(bs, data, s->cluster_size, owned, errp);
        if (!off) {
            return -1;
        }
        qcow2_st64(table + 8ULL * i, off);
    }
    *table_off = write_new(bs, table, *n * 8ULL, owned, errp);
    return *table_off ? 0 : -1;
}

/* Append @bm's directory entry to @dir. */
static void put_entry(GByteArray *dir, BdrvDirtyBitmap *bm, uint64_t table_off,
                      uint32_t n, bool in_use)
{
    const char *name = bdrv_dirty_bitmap_name(bm);
    uint16_t name_size = strlen(name);
    uint64_t len = qcow2_round_up(ENTRY_FIXED + name_size, 8);
    uint8_t e[ENTRY_FIXED + BDRV_BITMAP_MAX_NAME_SIZE + 8] = { 0 };
    uint32_t flags = 0;

    if (in_use || bdrv_dirty_bitmap_inconsistent(bm)) {
        flags |= FLAG_IN_USE;
    }
    if (bdrv_dirty_bitmap_enabled(bm)) {
        flags |= FLAG_AUTO;
    }
    qcow2_st64(e, table_off);
    qcow2_st32(e + 8, n);
    qcow2_st32(e + 12, flags);
    e[16] = TYPE_DIRTY_TRACKING;
    e[17] = __builtin_ctz(bdrv_dirty_bitmap_granularity(bm));
    e[18] = name_size >> 8;
    e[19] = name_size & 0xff;
    memcpy(e + ENTRY_FIXED, name, name_size);
    g_byte_array_append(dir, e, len);
}

/* Point the header at the new directory (none when @nb is 0). */
static int write_ext(BlockDriverState *bs, uint32_t nb, uint64_t dir_off,
                     uint64_t dir_size, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Ext *ext = find_ext(s);

    if (!nb) {
        if (ext) {
            g_ptr_array_remove(s->exts, ext);
        }
        s->hdr.autoclear_features &= ~QCOW2_AUTOCLEAR_BITMAPS;
        return qcow2_write_header(bs, errp);
    }
    if (!ext) {
        ext = g_new0(Qcow2Ext, 1);
        ext->type = QCOW2_EXT_BITMAPS;
        g_ptr_array_add(s->exts, ext);
    }
    g_free(ext->data);
    ext->len = EXT_LEN;
    ext->data = g_malloc0(EXT_LEN);
    qcow2_st32(ext->data, nb);
    qcow2_st64(ext->data + 8, dir_size);
    qcow2_st64(ext->data + 16, dir_off);
    s->hdr.autoclear_features |= QCOW2_AUTOCLEAR_BITMAPS;
    return qcow2_write_header(bs, errp);
}

/* New data, tables and directory of every persistent bitmap. */
static int write_all(BlockDriverState *bs, bool in_use, GArray *owned,
                     GError **errp)
{
    g_autoptr(GByteArray) dir = g_byte_array_new();
    g_autoptr(GPtrArray) bitmaps = store_order(bs);
    uint32_t nb = 0;
    uint64_t dir_off = 0;

    for (guint i = 0; i < bitmaps->len; i++) {
        uint64_t table_off;
        uint32_t n;

        if (store_bits(bs, bitmaps->pdata[i], owned, &table_off, &n,
                       errp) < 0) {
            return -1;
        }
        put_entry(dir, bitmaps->pdata[i], table_off, n, in_use);
        nb++;
    }
    if (nb) {
        dir_off = write_new(bs, dir->data, dir->len, owned, errp);
        if (!dir_off) {
            return -1;
        }
    }
    /* data before the header that points at it */
    if (qcow2_flush_metadata(bs, errp) < 0 || bdrv_flush(bs->file, errp) < 0) {
        return -1;
    }
    if (write_ext(bs, nb, dir_off, dir->len, errp) < 0) {
        return -1;
    }
    set_dir_order(bs->opaque, bitmaps);
    return 0;
}

static void free_clusters(BlockDriverState *bs, GArray *clusters)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GError) err = NULL;

    for (guint i = 0; clusters && i < clusters->len; i++) {
        uint64_t off = g_array_index(clusters, uint64_t, i);

        qcow2_meta_remove(s, off, 1);
        if (qcow2_update_refcounts(bs, off, 1, -1, &err) < 0) {
            /* a leak qemu-img check -r leaks repairs, not corruption */
            g_warning("qcow2 image '%s': bitmap cluster %#" PRIx64 " not "
                      "freed: %s", image_name(bs), off, err->message);
            g_clear_error(&err);
        }
    }
}

static bool has_persistent(BlockDriverState *bs)
{
    g_autoptr(GList) bitmaps = bdrv_dirty_bitmaps(bs);

    for (GList *l = bitmaps; l; l = l->next) {
        if (bdrv_dirty_bitmap_persistent(l->data)) {
            return true;
        }
    }
    return false;
}

bool qcow2_store_persistent_dirty_bitmaps(BlockDriverState *bs, bool closing,
                                          GError **errp)
{
    BDRVQcow2State *s;
    g_autoptr(GArray) owned = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    GArray *old;

    if (bs->drv != &bdrv_qcow2) {
        return true;
    }
    s = bs->opaque;
    if (!s->bitmap_clusters && !has_persistent(bs)) {
        return true; /* nothing on disk, nothing to put there */
    }
    if (bs->read_only) {
        if (has_persistent(bs) && !s->bitmap_clusters) {
            error_setg(errp, "No write access");
            return false;
        }
        return true; /* the image keeps what it had */
    }
    if (qcow2_write_prepare(bs, errp) < 0 ||
        write_all(bs, !closing, owned, errp) < 0) {
        free_clusters(bs, owned); /* the header still names the old ones */
        return false;
    }
    old = s->bitmap_clusters;
    s->bitmap_clusters = owned->len ? g_steal_pointer(&owned) : NULL;
    free_clusters(bs, old);
    g_clear_pointer(&old, g_array_unref);
    if (qcow2_flush_metadata(bs, errp) < 0 || bdrv_flush(bs->file, errp) < 0) {
        return false;
    }
    return true;
}
