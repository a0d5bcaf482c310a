/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Buffered writes to one file, one at a time, run back to back by the
 * thread that has the turn ("flat combining").
 *
 * Why: a buffered write on ext4 holds the inode lock exclusively, and with
 * large page-cache folios each 4 KiB write spends tens of microseconds
 * under it (the walk over the folio's buffer heads).  Sixteen NBD threads
 * writing one file then queue on that lock in the kernel, where waiters
 * spin on the owner while it runs: on two CPUs that takes the CPU from
 * the client and the rest of the server.  Here, waiters sleep, and the
 * thread with the turn runs the queued writes without a hand-off between
 * them (qemu's io_uring path gets the same effect from the kernel, which
 * runs buffered writes to one file on one worker).
 */
#ifndef BLOCK_FILE_WRITE_QUEUE_H
#define BLOCK_FILE_WRITE_QUEUE_H

#include <pthread.h>
#include <stdbool.h>

typedef struct FileQueuedCall FileQueuedCall;

/* pthread, not GMutex/GCond: those are invisible to ThreadSanitizer, and
 * the queue hands each call's result from one thread to another. */
typedef struct FileWriteQueue {
    pthread_mutex_t lock;
    bool busy; /* a thread has the turn */
    FileQueuedCall *head, *tail;
} FileWriteQueue;

typedef int FileWriteFn(void *opaque);

void file_write_queue_init(FileWriteQueue *q);
void file_write_queue_destroy(FileWriteQueue *q);

/*
 * Run @fn(@opaque) with no other call of @q running, on this thread or on
 * the one that has the turn, and return its result.  @fn must not call
 * into @q itself.
 */
int file_write_queue_run(FileWriteQueue *q, FileWriteFn *fn, void *opaque);

#endif
