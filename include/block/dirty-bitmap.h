/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty bitmaps of nodes (block-dirty-bitmap-*): an HBitmap per bitmap,
 * marked by a write hook on the node for every write, write of zeroes and
 * discard.  The bitmaps and their bits are guarded by one mutex, since
 * writes come from any thread; the list of a node's bitmaps only changes
 * on the main loop.  Persistent bitmaps are loaded from and stored into a
 * qcow2 image by qcow2-bitmap.c.
 */
#ifndef BLOCK_DIRTY_BITMAP_H
#define BLOCK_DIRTY_BITMAP_H

#include "block/block_int.h"
#include "qapi/qapi-types.h"
#include "qemu/hbitmap.h"

typedef struct BdrvDirtyBitmap BdrvDirtyBitmap;

#define BDRV_BITMAP_MAX_NAME_SIZE 1023

/* What an operation needs of a bitmap (QEMU's checks). */
#define BDRV_BITMAP_BUSY         0x1 /* not used by a job or export */
#define BDRV_BITMAP_RO           0x2 /* not read-only (persistent, ro node) */
#define BDRV_BITMAP_INCONSISTENT 0x4 /* not inconsistent */
#define BDRV_BITMAP_DEFAULT      0x7
#define BDRV_BITMAP_ALLOW_RO     (BDRV_BITMAP_BUSY | BDRV_BITMAP_INCONSISTENT)

/*
 * A new bitmap on @bs.  @granularity 0: the default.  Errors as
 * block-dirty-bitmap-add's.  Borrowed: the node owns it.
 */
BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          const char *name,
                                          uint32_t granularity,
                                          bool persistent, bool disabled,
                                          GError **errp);
/* Delete it (main loop); a persistent one leaves the image at the next
 * store. */
void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm);

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name);
/* "Node 'N' not found" / "Dirty bitmap 'B' not found". @pbs may be NULL. */
BdrvDirtyBitmap *bdrv_dirty_bitmap_lookup(const char *node, const char *name,
                                          BlockDriverState **pbs,
                                          GError **errp);
/* False with QEMU's error when @bm fails one of the BDRV_BITMAP_* @checks. */
bool bdrv_dirty_bitmap_check(BdrvDirtyBitmap *bm, unsigned checks,
                             GError **errp);

const char *bdrv_dirty_bitmap_name(BdrvDirtyBitmap *bm);
uint32_t bdrv_dirty_bitmap_granularity(BdrvDirtyBitmap *bm);
uint64_t bdrv_dirty_bitmap_size(BdrvDirtyBitmap *bm);
uint64_t bdrv_dirty_bitmap_granules(BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_enabled(BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_persistent(BdrvDirtyBitmap *bm);
bool bdrv_dirty_bitmap_inconsistent(BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_enabled(BdrvDirtyBitmap *bm, bool enabled);
/* A job or export takes it (busy) and gives it back. */
void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bm, bool busy);
/* Loaded from an image: flags as the directory gives them. */
void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm);
void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool readonly);

void bdrv_dirty_bitmap_clear(BdrvDirtyBitmap *bm);
/* @dst |= @src; "Bitmaps are of different sizes ..." */
bool bdrv_dirty_bitmap_merge(BdrvDirtyBitmap *dst, BdrvDirtyBitmap *src,
                             GError **errp);
void bdrv_dirty_bitmap_set_range(BdrvDirtyBitmap *bm, uint64_t offset,
                                 uint64_t bytes);
void bdrv_dirty_bitmap_reset_range(BdrvDirtyBitmap *bm, uint64_t offset,
                                   uint64_t bytes);
uint64_t bdrv_dirty_bitmap_count(BdrvDirtyBitmap *bm);
/* Lower-case hex, g_free it. */
char *bdrv_dirty_bitmap_sha256(BdrvDirtyBitmap *bm);
/* A snapshot of the bits (a backup's copy), owned by the caller. */
HBitmap *bdrv_dirty_bitmap_copy_bits(BdrvDirtyBitmap *bm);
/* The bits, and @bm cleared, in one step (a backup freezes them). */
HBitmap *bdrv_dirty_bitmap_take_bits(BdrvDirtyBitmap *bm);
/* @bm = @bits (a transaction's abort); the same granularity and size. */
void bdrv_dirty_bitmap_restore_bits(BdrvDirtyBitmap *bm, const HBitmap *bits);
/* @bm |= @bits (any granularity; the same size). */
void bdrv_dirty_bitmap_merge_bits(BdrvDirtyBitmap *bm, const HBitmap *bits);
/* Under the bitmap lock: serialise / deserialise (qcow2-bitmap.c). */
void bdrv_dirty_bitmap_serialize(BdrvDirtyBitmap *bm, uint64_t first_granule,
                                 uint64_t granules, uint8_t *buf);
void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bm,
                                   uint64_t first_granule, uint64_t granules,
                                   const uint8_t *buf);
bool bdrv_dirty_bitmap_granules_clean(BdrvDirtyBitmap *bm,
                                      uint64_t first_granule,
                                      uint64_t granules);

/*
 * blockdev-backup in two steps (backup.c), for transaction: prepare sets
 * the job up (the copy-before-write hook in place, the bitmap's bits
 * taken) without starting it; start it with block_job_start(), or undo
 * it all with bdrv_backup_abort_prepared().
 */
typedef struct BlockJob BlockJob;
BlockJob *bdrv_backup_prepare(BlockdevBackup *args, GError **errp);
void bdrv_backup_abort_prepared(BlockJob *job);
/* drive-backup's prepare (backup-qmp.c): the target image made and
 * opened, then as bdrv_backup_prepare().  May set arg->sync to full. */
BlockJob *bdrv_drive_backup_prepare(DriveBackup *arg, GError **errp);

/*
 * block-dirty-bitmap-merge (dirty-bitmap-qmp.c): the target, or NULL with
 * errp (nothing changed).  With @backup, *backup is the target's bits
 * before the merge (the caller's).
 */
BdrvDirtyBitmap *bdrv_merge_dirty_bitmaps(const char *node,
                                          const char *target,
                                          BlockDirtyBitmapOrStrList *bitmaps,
                                          HBitmap **backup, GError **errp);

/*
 * The runs of [@offset, @offset + @bytes) in order, dirty and clean
 * alternating (dirty ones whole granules, clipped to the range; past the
 * bitmap's end is clean), each given to @fn under the bitmap lock until it
 * returns false.  An NBD export's qemu:dirty-bitmap context.
 */
typedef bool BdrvDirtyRunFn(void *opaque, uint64_t len, bool dirty);
void bdrv_dirty_bitmap_walk_runs(BdrvDirtyBitmap *bm, uint64_t offset,
                                 uint64_t bytes, BdrvDirtyRunFn *fn,
                                 void *opaque);

/*
 * Before a qcow2 resize: false with QEMU's error when a persistent bitmap
 * of @bs is busy, read-only or inconsistent (it could not be stored at
 * the new size).
 */
bool bdrv_dirty_bitmaps_check_resize(BlockDriverState *bs, GError **errp);
/* After a resize (bdrv_truncate, drained): every bitmap of @bs takes the
 * node's new length, as QEMU's do. */
void bdrv_dirty_bitmaps_truncate(BlockDriverState *bs);

/* The node's bitmaps, oldest first; free the list (not the bitmaps). */
GList *bdrv_dirty_bitmaps(BlockDriverState *bs);

/* query-named-block-nodes' "dirty-bitmaps" of @bs, newest first. */
BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs);

/* The node is being deleted: store its persistent bitmaps (qcow2), then
 * free them all and remove the hook.  Before the driver's close. */
void bdrv_dirty_bitmaps_close(BlockDriverState *bs);
/* Free them all without storing (an open that fails). */
void bdrv_dirty_bitmaps_drop(BlockDriverState *bs);

#endif
