/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A run of a file that SEEK_DATA/SEEK_HOLE found to be data, so that block
 * status on a fully allocated file costs no system call.  On ext4 each
 * probe is an extent lookup under the inode lock, and an NBD export asks
 * for every read and every BLOCK_STATUS.
 *
 * The cache only ever answers "data", which is always a safe answer: if a
 * range became a hole behind our back (another process punched it), reads
 * still return the right bytes (zeroes) and clients that map the image
 * just copy them.  Our own calls that can make holes (fallocate, truncate,
 * a change of fd, copy offload into the file) drop the cache once they
 * have returned, so a status asked after they completed is exact.
 *
 * Lookups take no lock (a sequence count); fills and drops take @lock.  A
 * probe notes the generation before it asks the kernel, and its fill is
 * ignored if a drop came in between, so a probe racing with a punch never
 * leaves the old answer behind.
 */
#ifndef BLOCK_FILE_DATA_CACHE_H
#define BLOCK_FILE_DATA_CACHE_H

#include <glib.h>
#include <pthread.h>
#include <stdint.h>

typedef struct FileDataCache {
    pthread_mutex_t lock; /* fills and drops, one at a time */
    uint32_t seq;         /* atomic: odd while start/end change */
    uint32_t gen;         /* atomic: bumped by every drop */
    int64_t start; /* atomic: [start, end) is data; empty when end <= start */
    int64_t end;
} FileDataCache;

void file_data_cache_init(FileDataCache *c);
void file_data_cache_destroy(FileDataCache *c);

/* The bytes of data from @offset on (at most @bytes) that the cache knows
 * of, or 0 when it cannot tell. */
int64_t file_data_cache_lookup(FileDataCache *c, int64_t offset, int64_t bytes);

/* The generation to pass to file_data_cache_fill: read before the probe. */
uint32_t file_data_cache_gen(FileDataCache *c);

/* The probe that began at generation @gen found [start, end) to be data;
 * kept (merged with the cached run when they touch) unless a drop came
 * since. */
void file_data_cache_fill(FileDataCache *c, uint32_t gen, int64_t start,
                          int64_t end);

/* Forget everything: a call that may have made holes has returned. */
void file_data_cache_drop(FileDataCache *c);

#endif
