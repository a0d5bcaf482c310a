/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 driver internals, shared by block/qcow2*.c only.
 *
 * On-disk facts follow QEMU's docs/interop/qcow2.txt.  Everything read from
 * the image is untrusted: it is validated before it is used, and a bad value
 * is reported as an error that names it.
 *
 * Concurrency.  Any number of threads run requests on one qcow2 node.
 * s->lock protects the metadata: the header copy, the L1 table, the
 * refcount table, both caches (a table pointer from qcow2_cache_get is
 * valid only while the lock is held), the metadata map, alloc_end and
 * allocs.  Every function declared here runs with s->lock held unless its
 * comment says otherwise; the driver callbacks in qcow2.c and the guest
 * I/O entry points in qcow2-cluster.c/qcow2-write.c take it.  Guest data
 * moves without it: a read looks its clusters up under the lock, then
 * reads the host clusters unlocked; a write does the same for clusters it
 * overwrites in place.
 *
 * Allocation.  A write that must allocate (unallocated or zero clusters,
 * copy-on-write of a partial cluster from the backing file) first records
 * the guest clusters of its chunk in s->allocs, then drops the lock while
 * it writes the new host clusters, then retakes it and points the L2
 * entries at them.  A second request that meets a recorded cluster waits
 * on alloc_cond, then looks the cluster up again: after a first allocating
 * write it finds a data cluster and writes in place.  So two writes into
 * one unallocated cluster never allocate it twice, and the data of a
 * partial-cluster write is never lost to another's copy-on-write.  A read
 * racing an allocating write sees each cluster wholly old or wholly new:
 * the L2 entry changes only after the new cluster is written.  Allocation
 * only appends, so a host cluster a reader has looked up is never reused
 * for other data (a discard may drop it: the read sees zeroes or old data).
 *
 * Drained sections (block_int.h) cover what changes the layout under
 * running requests: truncate, reopen, close, backing changes.
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
    /* entries [lo, hi) not yet on disk (a failed write left them) */
    uint64_t reftable_dirty_lo;
    uint64_t reftable_dirty_hi;
    /* host clusters (uint64_t offsets) an L2 change stopped using: their
     * refcounts drop only once that change is on disk */
    GArray *pending_frees;

    Qcow2Cache *l2_cache;
    Qcow2Cache *rb_cache;

    GMutex lock;          /* the metadata: see the top of this file */
    GCond alloc_cond;     /* an entry of allocs went away */
    GSList *allocs;       /* Qcow2Alloc *: guest clusters being allocated */

    uint64_t file_size;   /* atomic: bytes of the image file, as we know it;
                           * qcow2_file_end() and qcow2_file_grow() */
    uint64_t alloc_end;   /* every cluster from here on is free */
    GHashTable *metadata; /* cluster index -> Qcow2MetaKind, for writes */
    GArray *bitmap_clusters; /* uint64_t offsets the bitmaps extension owns
                                (directory, tables, data): qcow2-bitmap.c */
    GPtrArray *bitmap_dir;   /* names, in the on-disk directory's order */
    bool write_ready;     /* qcow2_write_prepare() done */
} BDRVQcow2State;

/* Guest clusters [first, first + n) that one request is allocating. */
typedef struct Qcow2Alloc {
    uint64_t first;
    uint64_t n;
} Qcow2Alloc;

/*
 * The metadata lock.  GMutex and GCond are futex-based, which
 * ThreadSanitizer cannot see: in a TSan build (-Db_sanitize=thread) the
 * acquire/release edges are announced to it by hand.
 */
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define QCOW2_TSAN_ACQUIRE(p) __tsan_acquire(p)
#define QCOW2_TSAN_RELEASE(p) __tsan_release(p)
#else
#define QCOW2_TSAN_ACQUIRE(p) ((void)(p))
#define QCOW2_TSAN_RELEASE(p) ((void)(p))
#endif

static inline void qcow2_lock(BDRVQcow2State *s)
{
    g_mutex_lock(&s->lock);
    QCOW2_TSAN_ACQUIRE(&s->lock);
}

static inline bool qcow2_trylock(BDRVQcow2State *s)
{
    if (!g_mutex_trylock(&s->lock)) {
        return false;
    }
    QCOW2_TSAN_ACQUIRE(&s->lock);
    return true;
}

static inline void qcow2_unlock(BDRVQcow2State *s)
{
    QCOW2_TSAN_RELEASE(&s->lock);
    g_mutex_unlock(&s->lock);
}

/* Wait (lock dropped meanwhile) until an allocation in flight ends. */
static inline void qcow2_wait_alloc(BDRVQcow2State *s)
{
    QCOW2_TSAN_RELEASE(&s->lock);
    g_cond_wait(&s->alloc_cond, &s->lock);
    QCOW2_TSAN_ACQUIRE(&s->lock);
}

static inline uint64_t qcow2_file_end(BDRVQcow2State *s)
{
    return __atomic_load_n(&s->file_size, __ATOMIC_ACQUIRE);
}

/* The file now reaches at least @end (any thread, lock or not). */
static inline void qcow2_file_grow(BDRVQcow2State *s, uint64_t end)
{
    uint64_t cur = qcow2_file_end(s);

    while (cur < end &&
           !__atomic_compare_exchange_n(&s->file_size, &cur, end, true,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
    }
}

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

/* The table at host @offset if it is cached (no I/O), else NULL; valid
 * as qcow2_cache_get's. */
const uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t offset);

/* Mark bytes [lo, hi) of the table at @offset (which is cached) dirty. */
/* Drop the table at @offset from the cache, unwritten (it was freed). */
void qcow2_cache_forget(Qcow2Cache *c, uint64_t offset);
void qcow2_cache_mark_dirty(Qcow2Cache *c, uint64_t offset, uint32_t lo,
                            uint32_t hi);

/* Write back all dirty tables.  -1 and errp on I/O error. */
int qcow2_cache_flush(Qcow2Cache *c, GError **errp);

/* Total host writes issued by the cache (for tests and statistics). */
uint64_t qcow2_cache_writes(const Qcow2Cache *c);
/* Does the cache hold changes not yet written? */
bool qcow2_cache_dirty(const Qcow2Cache *c);
/*
 * Write ordering: what was written to the image file before reaches the
 * disk before what is written after (a flush of bs->file).  Between new
 * refcounts and the L2/L1 entries that use them, between a refcount block
 * and the table entry pointing to it, between a new refcount table and the
 * header: a power cut then leaves leaks, never a cluster in use with
 * refcount 0 (QEMU's cache dependency flush).
 */
int qcow2_file_barrier(BlockDriverState *bs, GError **errp);
/* Drop a reference to cluster @offset after the next metadata write-back
 * (the L2 entry that used it reaches the disk first). */
void qcow2_free_later(BDRVQcow2State *s, uint64_t offset);
/* The blkdebug event (BlkdebugEvent) announced before each table write. */
void qcow2_cache_set_debug_event(Qcow2Cache *c, int event);

/* Low-level I/O on bs->file that keeps s->file_size up to date; the lock
 * may or may not be held. */
int qcow2_file_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     const void *buf, GError **errp);
/*
 * After a failed request: the errno of the image file write that failed
 * it on this thread (ENOSPC, EIO, ...), EIO when none did (a corrupt
 * table, a refused request).  Resets it.
 */
int qcow2_take_write_errno(void);

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
/* Write the refcount table entries a failed request left in memory only
 * (after the refcount blocks they point to). */
int qcow2_flush_reftable(BlockDriverState *bs, GError **errp);
/* Free the refcount blocks that count nothing but themselves (QEMU 7.2's
 * shrink does, so that the file's tail can go).  Lock held. */
int qcow2_free_unused_refblocks(BlockDriverState *bs, GError **errp);
int qcow2_update_refcounts(BlockDriverState *bs, uint64_t offset, uint64_t n,
                           int delta, GError **errp);

/*
 * Allocate @n contiguous free clusters (refcount 1 each).  Returns the host
 * offset, or 0 and errp.
 */
uint64_t qcow2_alloc_clusters(BlockDriverState *bs, uint64_t n, GError **errp);
/* Give back the clusters of a failed write when they are the last ones. */
void qcow2_alloc_abort(BlockDriverState *bs, uint64_t offset, uint64_t n);

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
/* qcow2_flush_metadata, then the references the written L2 changes dropped
 * (a barrier first): at a flush, a read-only reopen, a close. */
int qcow2_writeback(BlockDriverState *bs, GError **errp);

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

/* What guest cluster @gc with L2 entry @e is; refuse a malformed entry. */
int qcow2_classify(BlockDriverState *bs, uint64_t e, uint64_t gc,
                   Qcow2Kind *kind, uint64_t *host, GError **errp);
/*
 * The run of clusters from guest @offset (at most @bytes) that share a
 * kind, with contiguous host clusters for data.  With @alloc_only, only
 * allocated/unallocated matters.
 */
int qcow2_map(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
              bool alloc_only, Qcow2Run *run, GError **errp);
/* qcow2_map from the cached L2 tables only: -1 (errp unset) when one is
 * not cached or an entry is malformed. */
int qcow2_map_cached(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     Qcow2Run *run);
/* Under s->lock: may @run (data, from qcow2_map_cached at guest @offset)
 * be written in place, judged from the cached L2 tables alone? */
bool qcow2_in_place_cached(BlockDriverState *bs, uint64_t offset,
                           const Qcow2Run *run);
/* Guest range of the backing file, zeroes past its end or without one
 * (lock not needed: it touches only the backing child). */
int qcow2_read_backing(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                       uint8_t *buf, GError **errp);
/* -1 and errp unless the request lies inside the virtual size (no lock). */
int qcow2_check_range(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      GError **errp);
int qcow2_compressed_error(BlockDriverState *bs, uint64_t offset,
                           GError **errp);

/*
 * The driver's guest I/O (see BlockDriver in block_int.h).  These take
 * s->lock themselves: call them without it.
 */
int qcow2_read_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf, GError **errp);
/* bdrv_pread_nowait: cached L2 tables, the lock not contended, data and
 * backing read without waiting; else -EAGAIN. */
int qcow2_read_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf);
int qcow2_write_data(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, GError **errp);
/*
 * A write into data clusters that need no metadata change (refcount 1,
 * tables cached), done on the file without waiting (bdrv_pwrite_nowait)
 * or queued there (bdrv_pwrite_async).  -EAGAIN when it does not
 * qualify: nothing done, write it the usual way.
 */
int qcow2_write_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf);
int qcow2_write_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque);
/* Copy-on-read's write: only the clusters still unallocated (the rest
 * were written meanwhile and keep the newer data). */
int qcow2_write_unallocated(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, GError **errp);
int qcow2_allocation_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            int64_t *pnum, GError **errp);
int qcow2_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int64_t *pnum, GError **errp);

/* qcow2-zero.c: the driver's write-zeroes and discard (lock not held). */
int qcow2_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        int flags, GError **errp);
/* Whole clusters [offset, offset + bytes) become unallocated, their
 * clusters freed (block_resize's shrink).  Lock held. */
int qcow2_discard_clusters_locked(BlockDriverState *bs, uint64_t offset,
                                  uint64_t bytes, GError **errp);
int qcow2_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                   GError **errp);

/* qcow2-write.c: wait until no request allocates guest clusters
 * [first, first + n), then record that @a does (lock held throughout,
 * dropped while waiting); and the end of it. */
void qcow2_alloc_begin(BDRVQcow2State *s, Qcow2Alloc *a, uint64_t first,
                       uint64_t n);
void qcow2_alloc_end(BDRVQcow2State *s, Qcow2Alloc *a);
/* Does a request in flight allocate any of [first, first + n)? */
bool qcow2_alloc_busy(BDRVQcow2State *s, uint64_t first, uint64_t n);
/* The L2 table for a write at L1 index @l1i, allocated if missing; its
 * host offset, or 0 and errp. */
uint64_t qcow2_l2_for_write(BlockDriverState *bs, uint64_t l1i, GError **errp);
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

/* Read a host range of bs->file, zeroes past its end (lock not needed). */
int qcow2_file_read_clipped(BlockDriverState *bs, uint64_t offset,
                            uint64_t bytes, void *buf, GError **errp);

#endif
