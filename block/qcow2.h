/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 driver internals, shared by block/qcow2*.c only.
 *
 * On-disk facts follow QEMU's docs/interop/qcow2.txt.  Everything read from
 * the image is untrusted: it is validated before it is used, and a bad value
 * is reported as an error that names it.
 *
 * All functions here run with bs->lock held (the bdrv_* wrappers take it),
 * so the driver state needs no lock of its own.
 */
#ifndef BLOCK_QCOW2_H
#define BLOCK_QCOW2_H

#include <glib.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "block/block_int.h"

#define QCOW2_MAGIC 0x514649fbU /* "QFI\xfb" */
#define QCOW2_V2_HEADER_LEN 72
#define QCOW2_V3_HEADER_LEN 104
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
#define QCOW2_MAX_BACKING_NAME 1023
#define QCOW2_MAX_BACKING_FMT 15 /* QEMU refuses longer format names */
#define QCOW2_MAX_L1_BYTES (32 * 1024 * 1024)
#define QCOW2_MAX_REFTABLE_BYTES (8 * 1024 * 1024)
#define QCOW2_MAX_SNAPSHOTS 65536

/* Header extension types. */
#define QCOW2_EXT_END 0x00000000U
#define QCOW2_EXT_BACKING_FMT 0xe2792acaU
#define QCOW2_EXT_FEATURE_TABLE 0x6803f857U
#define QCOW2_EXT_BITMAPS 0x23852875U
#define QCOW2_EXT_CRYPTO 0x0537be77U
#define QCOW2_EXT_DATA_FILE 0x44415441U

/* Feature bits. */
#define QCOW2_INCOMPAT_DIRTY (1ULL << 0)
#define QCOW2_INCOMPAT_CORRUPT (1ULL << 1)
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_INCOMPAT_COMPRESSION (1ULL << 3)
#define QCOW2_INCOMPAT_EXTL2 (1ULL << 4)
#define QCOW2_INCOMPAT_KNOWN 0x1fULL
#define QCOW2_AUTOCLEAR_BITMAPS (1ULL << 0)
#define QCOW2_AUTOCLEAR_DATA_FILE_RAW (1ULL << 1)

/* Table entry bits. */
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO (1ULL << 0)
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL /* bits 9-55 */
#define QCOW2_L1_RESERVED 0x7f000000000001ffULL /* bits 0-8, 56-62 */
#define QCOW2_L2_RESERVED 0x3f000000000001feULL /* bits 1-8, 56-61 */
#define QCOW2_REFTABLE_RESERVED 0x1ffULL        /* bits 0-8 */

/* A header extension fdsetd does not interpret but must keep. */
typedef struct Qcow2Ext {
    uint32_t type;
    uint32_t len;
    uint8_t *data;
} Qcow2Ext;

/* The header fields, host-endian, as parsed and validated. */
typedef struct Qcow2Header {
    uint32_t version;
    uint64_t backing_file_offset;
    uint32_t backing_file_size;
    uint32_t cluster_bits;
    uint64_t size;
    uint32_t crypt_method;
    uint32_t l1_size;
    uint64_t l1_table_offset;
    uint64_t refcount_table_offset;
    uint32_t refcount_table_clusters;
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    uint64_t incompatible_features;
    uint64_t compatible_features;
    uint64_t autoclear_features;
    uint32_t refcount_order;
    uint32_t header_length;
} Qcow2Header;

typedef struct Qcow2Cache Qcow2Cache;

typedef struct BDRVQcow2State {
    Qcow2Header hdr;
    uint8_t *header_tail; /* v3 bytes 104..header_length, kept as is */
    GPtrArray *exts;      /* of Qcow2Ext*, kept on header rewrites */
    char *backing_file;   /* NULL: none */
    char *backing_format; /* NULL: none */
    char *ro_reason;      /* why writing is refused, or NULL */

    uint64_t cluster_size;
    uint32_t cluster_bits;
    uint32_t l2_bits;   /* log2 of entries per L2 table */
    uint32_t rb_bits;   /* log2 of entries per refcount block */
    uint64_t l1_needed; /* L1 entries that cover the virtual size */

    uint64_t *l1_table;   /* host-endian copy, hdr.l1_size entries */
    uint32_t l1_dirty_lo; /* dirty entries [lo, hi) */
    uint32_t l1_dirty_hi;

    uint64_t *reftable;     /* host-endian copy */
    uint64_t reftable_size; /* entries */

    Qcow2Cache *l2_cache;
    Qcow2Cache *rb_cache;

    uint64_t file_size;   /* bytes of the image file, as we know it */
    uint64_t alloc_end;   /* every cluster from here on is free */
    GHashTable *metadata; /* cluster index -> Qcow2MetaKind, for writes */
    GArray *bitmap_clusters; /* uint64_t offsets the bitmaps extension owns
                                (directory, tables, data): qcow2-bitmap.c */
    bool write_ready;     /* qcow2_write_prepare() done */
} BDRVQcow2State;

typedef enum Qcow2MetaKind {
    QCOW2_META_HEADER = 1,
    QCOW2_META_L1,
    QCOW2_META_REFTABLE,
    QCOW2_META_REFBLOCK,
    QCOW2_META_L2,
    QCOW2_META_BITMAP,
} Qcow2MetaKind;

/* Big-endian loads and stores on byte buffers of any alignment. */
static inline uint32_t qcow2_ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT32_FROM_BE(v);
}

static inline uint64_t qcow2_ld64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return GUINT64_FROM_BE(v);
}

static inline void qcow2_st32(uint8_t *p, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline void qcow2_st64(uint8_t *p, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    memcpy(p, &v, sizeof(v));
}

static inline uint64_t qcow2_round_up(uint64_t v, uint64_t align)
{
    return (v + align - 1) & ~(align - 1);
}

/* qcow2-header.c */

/*
 * Read, validate and parse the header cluster of bs->file into bs->opaque
 * (hdr, exts, backing name/format, ro_reason).  -1 and errp on a bad image.
 */
int qcow2_read_header(BlockDriverState *bs, GError **errp);

/*
 * Rewrite the header cluster from the in-memory state: header fields,
 * extensions (backing format first), backing name.  -1 and errp when it
 * does not fit in the first cluster or the write fails.
 */
int qcow2_write_header(BlockDriverState *bs, GError **errp);

/* Free what qcow2_read_header() allocated. */
void qcow2_header_free(BDRVQcow2State *s);

/* qcow2-cache.c: write-back cache of cluster-sized metadata tables. */

/*
 * A cache of up to @entries tables of @table_size bytes read from and
 * written to @file.  When @flush_first is given, it is flushed before any
 * table of this cache is written (refcounts before the L2 tables that
 * reference the clusters).
 */
Qcow2Cache *qcow2_cache_new(BlockDriverState *file, uint64_t table_size,
                            unsigned entries, Qcow2Cache *flush_first);
void qcow2_cache_free(Qcow2Cache *c);

/*
 * The table at host @offset.  With @fresh, the table is new: it is not read
 * but zero-filled and marked dirty as a whole.  The pointer is valid until
 * the next qcow2_cache_get() on this cache.  NULL and errp on I/O error.
 */
uint8_t *qcow2_cache_get(Qcow2Cache *c, uint64_t offset, bool fresh,
                         GError **errp);

/* Mark bytes [lo, hi) of the table at @offset (which is cached) dirty. */
void qcow2_cache_mark_dirty(Qcow2Cache *c, uint64_t offset, uint32_t lo,
                            uint32_t hi);

/* Write back all dirty tables.  -1 and errp on I/O error. */
int qcow2_cache_flush(Qcow2Cache *c, GError **errp);

/* Total host writes issued by the cache (for tests and statistics). */
uint64_t qcow2_cache_writes(const Qcow2Cache *c);

/* Low-level I/O on bs->file that keeps s->file_size up to date. */
int qcow2_file_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     const void *buf, GError **errp);

/* qcow2-refcount.c */

/* Load the refcount table and find the end of the allocated area. */
int qcow2_refcount_init(BlockDriverState *bs, GError **errp);

/* Refcount of the host cluster at @offset.  -1 and errp on error. */
int qcow2_get_refcount(BlockDriverState *bs, uint64_t offset,
                       uint64_t *refcount, GError **errp);

/* Is @off a cluster-aligned table offset past the header, inside the file? */
bool qcow2_table_offset_ok(BDRVQcow2State *s, uint64_t off);

/* Record @n metadata clusters at @offset in the write-time map, if built. */
void qcow2_meta_add(BDRVQcow2State *s, uint64_t offset, uint64_t n,
                    Qcow2MetaKind kind);

/* Forget @n metadata clusters at @offset in the write-time map. */
void qcow2_meta_remove(BDRVQcow2State *s, uint64_t offset, uint64_t n);

/* Add @delta to the refcounts of @n clusters from host @offset. */
int qcow2_update_refcounts(BlockDriverState *bs, uint64_t offset, uint64_t n,
                           int delta, GError **errp);

/*
 * Allocate @n contiguous free clusters (refcount 1 each).  Returns the host
 * offset, or 0 and errp.
 */
uint64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, GError **errp);

/*
 * Build the map of metadata clusters and check it before the first write:
 * no two structures share a cluster and each has refcount 1.
 */
int qcow2_build_metadata_map(BlockDriverState *bs, GError **errp);

/* Claim the bitmaps extension's clusters (s->bitmap_clusters). */
int qcow2_meta_claim_bitmaps(BlockDriverState *bs, GError **errp);

/* qcow2-bitmap.c: load the persistent bitmaps at open (and mark them in
 * use when @bs is read-write); free the state at close. */
int qcow2_load_dirty_bitmaps(BlockDriverState *bs, GError **errp);
void qcow2_bitmaps_free(BDRVQcow2State *s);

/* qcow2-cluster.c */

/* Load and validate the L1 table. */
int qcow2_l1_init(BlockDriverState *bs, GError **errp);

/* Write back dirty refcount blocks, L2 tables and L1 entries, in order. */
int qcow2_flush_metadata(BlockDriverState *bs, GError **errp);

/* The driver's guest I/O (see BlockDriver in block_int.h). */
int qcow2_read_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf, GError **errp);
int qcow2_write_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, GError **errp);
int qcow2_allocation_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            int64_t *pnum, GError **errp);
/* bdrv_map_file: a run of data clusters, through the file child. */
int qcow2_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                   int64_t *pnum, GError **errp);

/* qcow2.c: before the first write, check the metadata layout. */
int qcow2_write_prepare(BlockDriverState *bs, GError **errp);

/* qcow2-info.c: ImageInfo's format-specific data. */
struct ImageInfoSpecific *qcow2_get_specific_info(BlockDriverState *bs,
                                    int64_t *cluster_size);

/* qcow2-resize.c: grow the virtual size (bdrv_truncate). */
int qcow2_truncate(BlockDriverState *bs, int64_t size, GError **errp);

/* Read a host range of bs->file, zeroes past its end. */
int qcow2_file_read_clipped(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, void *buf, GError **errp);

#endif
