/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A bitmap over the bytes of a disk, one bit per @granularity bytes (a
 * power of two), with a summary level so that finding the next dirty or
 * clean range skips clean stretches 64 words at a time.  The dirty bitmaps
 * of the block layer (mirror, backup, persistent qcow2 bitmaps) sit on it.
 *
 * Not thread-safe: the owner serialises access (the block layer holds a
 * mutex per bitmap).  Offsets and lengths are in bytes; ranges are clipped
 * to the bitmap's size.
 */
#ifndef QEMU_HBITMAP_H
#define QEMU_HBITMAP_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct HBitmap HBitmap;

/* @granularity: a power of two >= 1. */
HBitmap *hbitmap_new(uint64_t size, uint64_t granularity);
void hbitmap_free(HBitmap *hb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(HBitmap, hbitmap_free)

uint64_t hbitmap_size(const HBitmap *hb);
uint64_t hbitmap_granularity(const HBitmap *hb);

/* Mark [offset, offset+bytes) dirty: every granule it touches. */
void hbitmap_set(HBitmap *hb, uint64_t offset, uint64_t bytes);
/* Mark clean every granule that lies inside or touches the range. */
void hbitmap_reset(HBitmap *hb, uint64_t offset, uint64_t bytes);
void hbitmap_reset_all(HBitmap *hb);
bool hbitmap_get(const HBitmap *hb, uint64_t offset);

/* Dirty bytes: dirty granules times the granularity (as QEMU counts). */
uint64_t hbitmap_count(const HBitmap *hb);

/*
 * The first dirty granule at or after @offset and before @end, as a byte
 * offset (granule-aligned, but never below @offset); -1 when none.
 */
int64_t hbitmap_next_dirty(const HBitmap *hb, uint64_t offset, uint64_t end);
/* Likewise for a clean granule. */
int64_t hbitmap_next_zero(const HBitmap *hb, uint64_t offset, uint64_t end);

/*
 * The first dirty run inside [offset, end): *start and *len (clipped to
 * the range, and to @max_len when it is not 0).  False when none.
 */
bool hbitmap_next_dirty_area(const HBitmap *hb, uint64_t offset,
                             uint64_t end, uint64_t max_len,
                             uint64_t *start, uint64_t *len);

/* @dst |= @src.  Sizes must be equal; granularities may differ. */
void hbitmap_merge(HBitmap *dst, const HBitmap *src);
/*
 * Cover @size bytes from now on (block_resize): a grown bitmap is clean
 * past the old end, a shrunk one forgets the bits past the new end.
 */
void hbitmap_truncate(HBitmap *hb, uint64_t size);
/* A copy of @hb. */
HBitmap *hbitmap_copy(const HBitmap *hb);

/*
 * The on-disk layout qcow2 uses: bit i of byte j stands for granule
 * 8 * j + i.  @first_granule must be a multiple of 8; @granules bits are
 * written to / read from @buf ((granules + 7) / 8 bytes).
 */
void hbitmap_serialize(const HBitmap *hb, uint64_t first_granule,
                       uint64_t granules, uint8_t *buf);
void hbitmap_deserialize(HBitmap *hb, uint64_t first_granule,
                         uint64_t granules, const uint8_t *buf);
/* Are the granules [first, first+granules) all clean? */
bool hbitmap_granules_clean(const HBitmap *hb, uint64_t first_granule,
                            uint64_t granules);
/* Number of granules (bits). */
uint64_t hbitmap_granules(const HBitmap *hb);

/*
 * SHA-256 of the bits as 64-bit little-endian words, as QEMU's
 * x-debug-block-dirty-bitmap-sha256 hashes them; lower-case hex, g_free it.
 */
char *hbitmap_sha256(const HBitmap *hb);

#endif
