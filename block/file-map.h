/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes into a file's page cache through a shared mapping, for writes
 * that must not wait (bdrv_pwrite_nowait).
 *
 * Why: on kernel 6.18 ext4 caches files in large folios (up to 2 MiB), and
 * a 4 KiB pwrite into one walks all the folio's buffer heads under the
 * inode lock: about 30 us, so one file takes some 33k random 4k writes a
 * second however many threads write.  A store through a mapping pays that
 * walk once per folio and writeback (the write fault that dirties it),
 * then costs a memcpy: measured 1M/s against 31k/s for pwrite on the same
 * cached file.  The data is in the same page cache, so reads, pwrite,
 * copy offload and fdatasync see it as they see any buffered write.
 *
 * What is copied this way: only ranges inside the file (as last seen), whose
 * pages mincore() finds in the page cache (so the copy does not wait for
 * the disk).  A copy that faults anyway (the file shrank behind our back,
 * the file system cannot back a page: ENOSPC, EIO) raises SIGBUS; the
 * handler jumps out of the copy and the write goes the ordinary way, which
 * reports the error.  SIGBUS elsewhere goes to the previous disposition.
 */
#ifndef BLOCK_FILE_MAP_H
#define BLOCK_FILE_MAP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Larger writes gain little here and would need bigger residency checks. */
#define FILE_MAP_MAX_WRITE (1024 * 1024)

typedef struct FileMap {
    /* readers: copies through the map; the writer: mapping, unmapping */
    pthread_rwlock_t lock;
    char *base;      /* NULL: not mapped (yet) */
    int64_t reserve; /* bytes of address space mapped from offset 0 */
    int64_t len;     /* atomic: the file's length as last seen (<= reserve) */
    bool failed;  /* could not map this fd: no retry until dropped */
} FileMap;

void file_map_init(FileMap *m);
/* Unmap; the next write maps the fd it is given anew.  For a change of fd
 * or of length, and before the fd closes. */
void file_map_drop(FileMap *m);
void file_map_destroy(FileMap *m);

/*
 * Copy @bytes of @buf to @offset of the file open on @fd (read-write,
 * buffered), mapping it first if needed.  0 when done; -EAGAIN when not
 * done this way (nothing or only part of it written: the caller writes
 * all of it with pwrite).
 */
int file_map_write(FileMap *m, int fd, int64_t offset, int64_t bytes,
                   const void *buf);

/* memcpy that returns false instead of dying when @dst faults (SIGBUS).
 * For file_map_write, and for tests. */
bool file_map_copy_guarded(void *dst, const void *src, size_t n);

#endif
