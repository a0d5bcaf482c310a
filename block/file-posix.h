/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file driver's state, shared by its two halves: file-posix.c (open,
 * fd switches, permissions and locks, reopen, copy offload) and
 * file-posix-io.c (reads, writes, zeroes, discard, flush, block status).
 */
#ifndef BLOCK_FILE_POSIX_H
#define BLOCK_FILE_POSIX_H

#include "block/block_int.h"
#include "file-data-cache.h"
#include "file-lock.h"
#include "file-map.h"
#include "file-range-lock.h"
#include "file-write-queue.h"

#define DIRECT_ALIGN 4096

/*
 * An fd switch (a reopen, or auto-read-only following the permissions)
 * and the locks that go with it, between prepare and commit/abort.
 */
typedef struct FileSwitch {
    bool pending;
    int fd;            /* the new fd, or -1: the node keeps its own */
    int open_flags;    /* ... and its flags */
    FileLock old_lock; /* what to go back to on abort */
    uint64_t perm;     /* what commit leaves locked */
    uint64_t unshared;
} FileSwitch;

typedef struct BDRVFileState {
    int fd;
    int open_flags;   /* access mode and O_DIRECT, as opened */
    GRWLock rmw_lock; /* O_DIRECT: unaligned writes exclude other writes */
    bool locking;     /* locking=on/auto: QEMU's OFD image locks */
    FileLock lock;    /* what this node holds on fd's description */
    FileSwitch perm_switch;     /* bdrv_perm_prepare's */
    FileDataCache data_cache;   /* what block status found to be data */
    FileWriteQueue write_queue; /* buffered writes, one at a time */
    FileMap map;                /* writes that never wait (file-map.h) */
    FileRangeLock write_ranges; /* buffered: overlapping writes, one at a time */
} BDRVFileState;
/* file-posix.c */
int64_t file_getlength(BlockDriverState *bs);

/* file-posix-io.c: the driver's I/O callbacks (block_int.h says what each
 * must do), and the error text of a failed read, write or flush. */
void file_io_error(GError **errp, int err);
int file_pread(BlockDriverState *bs, int64_t offset, int64_t bytes, void *buf,
               GError **errp);
int file_pread_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf);
int file_pwrite_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf);
int file_pwrite_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque);
int file_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, GError **errp);
int file_pwrite_flags(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags, GError **errp);
int file_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags, GError **errp);
int file_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  GError **errp);
int file_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, GError **errp);
int file_flush(BlockDriverState *bs, GError **errp);

#endif
