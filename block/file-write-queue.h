/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Buffered writes to one file, one at a time, run back to back by the
 * thread that has the turn ("flat combining"), or queued without waiting
 * and run by the queue's own writer thread.
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
 *
 * Queued calls (file_write_queue_submit) go further: the submitter does
 * not wait at all, and the writer thread, which only sleeps when the
 * queue is empty, runs them and calls each one's completion.  Under load
 * a write then costs no sleep and no wake-up on either side.
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
    /* the writer thread, started by the first queued call */
    pthread_t writer;
    bool writer_started;
    bool writer_turn; /* the turn is the writer's (busy is set) */
    bool stopping;
    pthread_cond_t writer_cond;
} FileWriteQueue;

typedef int FileWriteFn(void *opaque);
/* A queued call's end: @ret is what its FileWriteFn returned. */
typedef void FileWriteDoneFn(void *opaque, int ret);

void file_write_queue_init(FileWriteQueue *q);
/* No call may be queued or running (the node is drained). */
void file_write_queue_destroy(FileWriteQueue *q);

/*
 * Run @fn(@opaque) with no other call of @q running, on this thread or on
 * the one that has the turn, and return its result.  @fn must not call
 * into @q itself.
 */
int file_write_queue_run(FileWriteQueue *q, FileWriteFn *fn, void *opaque);

/*
 * Queue @fn(@opaque) and return at once: the writer thread runs it in
 * turn, then calls @done(@opaque, result).  false when no writer thread
 * could be started (nothing was queued: run it with file_write_queue_run).
 */
bool file_write_queue_submit(FileWriteQueue *q, FileWriteFn *fn,
                             FileWriteDoneFn *done, void *opaque);

#endif
