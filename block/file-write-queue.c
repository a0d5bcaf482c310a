/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The write queue of the file driver (see file-write-queue.h).  A caller
 * that finds the turn taken queues its call and sleeps on its own
 * condition variable; the thread with the turn runs the queue in order,
 * and after MAX_RUN calls of others it hands the turn to the next waiter,
 * so that its own reply is not held back for long.
 */
#include "file-write-queue.h"

#define MAX_RUN 8

struct FileQueuedCall {
    FileWriteFn *fn;
    void *opaque;
    int ret;
    bool done; /* ret is set */
    bool lead; /* the turn was handed to this caller */
    pthread_cond_t cond;
    FileQueuedCall *next;
};

void file_write_queue_init(FileWriteQueue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    q->busy = false;
    q->head = q->tail = NULL;
}

void file_write_queue_destroy(FileWriteQueue *q)
{
    pthread_mutex_destroy(&q->lock);
}

static FileQueuedCall *pop_locked(FileWriteQueue *q)
{
    FileQueuedCall *c = q->head;

    if (c) {
        q->head = c->next;
        if (!q->head) {
            q->tail = NULL;
        }
    }
    return c;
}

/*
 * Under q->lock, with the turn: mark @finished done (it may be NULL),
 * then take the next call to run, or give the turn up (NULL).  Signals go
 * out under the lock: a waiter returns, and its condition variable goes
 * away, only after it has seen done or lead, which needs the lock.
 */
static FileQueuedCall *next_locked(FileWriteQueue *q, FileQueuedCall *finished,
                                   int *run)
{
    FileQueuedCall *c;

    if (finished) {
        finished->done = true;
        pthread_cond_signal(&finished->cond);
    }
    c = pop_locked(q);
    if (!c) {
        q->busy = false;
    } else if (++*run > MAX_RUN) {
        c->lead = true; /* busy stays set: the turn moves to c */
        pthread_cond_signal(&c->cond);
        c = NULL;
    }
    return c;
}

/* With the turn: run what others queued until it is empty or handed on. */
static void run_queue(FileWriteQueue *q)
{
    FileQueuedCall *c = NULL;
    int run = 0;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        c = next_locked(q, c, &run);
        pthread_mutex_unlock(&q->lock);
        if (!c) {
            return;
        }
        c->ret = c->fn(c->opaque);
    }
}

/* Queue @self and sleep: true when it ran elsewhere, false when the turn
 * came to this thread.  Called and returns with q->lock held. */
static bool wait_queued_locked(FileWriteQueue *q, FileQueuedCall *self)
{
    pthread_cond_init(&self->cond, NULL);
    if (q->tail) {
        q->tail->next = self;
    } else {
        q->head = self;
    }
    q->tail = self;
    while (!self->done && !self->lead) {
        pthread_cond_wait(&self->cond, &q->lock);
    }
    pthread_cond_destroy(&self->cond);
    return self->done;
}

int file_write_queue_run(FileWriteQueue *q, FileWriteFn *fn, void *opaque)
{
    FileQueuedCall self = {.fn = fn, .opaque = opaque};
    int ret;

    pthread_mutex_lock(&q->lock);
    if (q->busy && wait_queued_locked(q, &self)) {
        pthread_mutex_unlock(&q->lock);
        return self.ret;
    }
    q->busy = true;
    pthread_mutex_unlock(&q->lock);
    ret = fn(opaque);
    run_queue(q);
    return ret;
}
