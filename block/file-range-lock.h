/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte ranges of one file held by the writes copying into them, so that
 * two overlapping writes never copy at the same time.
 *
 * Why: the kernel runs buffered pwrites to one file one at a time (the
 * inode lock), so each lands whole: overlapping writers leave every byte
 * range wholly one request's, as a disk does.  Stores through the file's
 * map (file-map.h) take no such lock; without this one, two writes to the
 * same cluster could interleave their bytes, and a store could interleave
 * with a pwrite.  Writes that do not overlap never wait for each other.
 */
#ifndef BLOCK_FILE_RANGE_LOCK_H
#define BLOCK_FILE_RANGE_LOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* One held range: the caller's, on its stack, from lock to unlock. */
typedef struct FileRange {
    int64_t start, end;
    struct FileRange *next;
} FileRange;

/* pthread, so that ThreadSanitizer sees the hand-over. */
typedef struct FileRangeLock {
    pthread_mutex_t lock;
    pthread_cond_t released;
    FileRange *held;
    int waiters;
} FileRangeLock;

void file_range_lock_init(FileRangeLock *l);
/* Nothing may be held. */
void file_range_lock_destroy(FileRangeLock *l);

/* Hold [@offset, @offset + @bytes) in @r, waiting while another write
 * holds any byte of it. */
void file_range_lock(FileRangeLock *l, FileRange *r, int64_t offset,
                     int64_t bytes);
/* The same, but false at once (nothing held) if it would wait. */
bool file_range_trylock(FileRangeLock *l, FileRange *r, int64_t offset,
                        int64_t bytes);
void file_range_unlock(FileRangeLock *l, FileRange *r);

#endif
