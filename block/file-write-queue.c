/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The write queue of the file driver (see file-write-queue.h).  A caller
 * that finds the turn taken queues its call and sleeps on its own
 * condition variable; the thread with the turn runs the queue in order,
 * and after MAX_RUN calls of others it hands the turn to the next waiter,
 * so that its own reply is not held back for long.  A queued call without
 * a waiting thread (file_write_queue_submit) is the writer thread's to
 * run: a caller's thread that meets one hands the turn to it.
 */
#include <glib.h>

#include "file-write-queue.h"

#define MAX_RUN 8

struct FileQueuedCall {
    FileWriteFn *fn;
    void *opaque;
    FileWriteDoneFn *done_fn; /* a queued call (else a thread waits) */
    int ret;
    bool done; /* ret is set */
    bool lead; /* the turn was handed to this caller */
    pthread_cond_t cond;
    FileQueuedCall *next;
};

void file_write_queue_init(FileWriteQueue *q)
{
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->writer_cond, NULL);
    q->busy = false;
    q->head = q->tail = NULL;
    q->writer_started = false;
    q->writer_turn = false;
    q->stopping = false;
}

void file_write_queue_destroy(FileWriteQueue *q)
{
    pthread_mutex_lock(&q->lock);
    g_assert(!q->busy && !q->head);
    q->stopping = true;
    pthread_cond_signal(&q->writer_cond);
    pthread_mutex_unlock(&q->lock);
    if (q->writer_started) {
        pthread_join(q->writer, NULL);
    }
    pthread_cond_destroy(&q->writer_cond);
    pthread_mutex_destroy(&q->lock);
}

static void push_locked(FileWriteQueue *q, FileQueuedCall *c)
{
    c->next = NULL;
    if (q->tail) {
        q->tail->next = c;
    } else {
        q->head = c;
    }
    q->tail = c;
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

static bool start_writer_locked(FileWriteQueue *q);

/* Under q->lock: the turn goes to the writer thread (busy stays set). */
static void give_turn_to_writer_locked(FileWriteQueue *q)
{
    q->writer_turn = true;
    pthread_cond_signal(&q->writer_cond);
}

/*
 * Under q->lock, with the turn: mark @finished done (it may be NULL),
 * then take the next call to run, or give the turn up (NULL).  Signals go
 * out under the lock: a waiter returns, and its condition variable goes
 * away, only after it has seen done or lead, which needs the lock.  A
 * caller's thread (@writer false) leaves queued calls to the writer, and
 * after MAX_RUN calls hands the turn to the writer too (or, without one,
 * to the next caller); the writer runs until the queue is empty.
 */
static FileQueuedCall *next_locked(FileWriteQueue *q, FileQueuedCall *finished,
                                   bool writer, int *run)
{
    FileQueuedCall *c;

    if (finished) {
        finished->done = true;
        pthread_cond_signal(&finished->cond);
    }
    c = q->head;
    if (!c) {
        q->busy = false;
        q->writer_turn = false;
        return NULL;
    }
    if (!writer && c->done_fn) {
        give_turn_to_writer_locked(q);
        return NULL;
    }
    /* enough for this caller: the writer thread takes over and runs the
     * rest back to back, where handing the turn from one sleeping caller
     * to the next costs a wake-up per MAX_RUN calls (milliseconds each
     * when the CPUs are busy) */
    if (!writer && *run >= MAX_RUN && start_writer_locked(q)) {
        give_turn_to_writer_locked(q);
        return NULL;
    }
    pop_locked(q);
    if (!writer && ++*run > MAX_RUN) {
        c->lead = true; /* no writer thread: the turn moves to c */
        pthread_cond_signal(&c->cond);
        return NULL;
    }
    return c;
}

/*
 * With the turn: run what others queued until it is empty or handed on.
 * A queued call's completion runs after the turn moved on or was given
 * up: from then on, its node may be drained and closed, and the queue may
 * only be touched under its lock (file_write_queue_destroy joins the
 * writer thread before the lock goes away).
 */
static void run_queue(FileWriteQueue *q, bool writer)
{
    FileQueuedCall *c = NULL, *ended = NULL;
    int run = 0;

    for (;;) {
        pthread_mutex_lock(&q->lock);
        c = next_locked(q, c, writer, &run);
        pthread_mutex_unlock(&q->lock);
        if (ended) {
            ended->done_fn(ended->opaque, ended->ret);
            g_free(ended);
            ended = NULL;
        }
        if (!c) {
            return;
        }
        c->ret = c->fn(c->opaque);
        if (c->done_fn) {
            ended = c; /* no thread waits for it */
            c = NULL;
        }
    }
}

/* Queue @self and sleep: true when it ran elsewhere, false when the turn
 * came to this thread.  Called and returns with q->lock held. */
static bool wait_queued_locked(FileWriteQueue *q, FileQueuedCall *self)
{
    pthread_cond_init(&self->cond, NULL);
    push_locked(q, self);
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
    run_queue(q, false);
    return ret;
}

/* Sleeps while the turn is not its own; runs until the queue is empty. */
static void *writer_thread(void *opaque)
{
    FileWriteQueue *q = opaque;

    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->writer_turn && !q->stopping) {
            pthread_cond_wait(&q->writer_cond, &q->lock);
        }
        if (!q->writer_turn) {
            break; /* stopping, and nothing queued */
        }
        pthread_mutex_unlock(&q->lock);
        run_queue(q, true);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

/* Under q->lock: false when the thread cannot be started. */
static bool start_writer_locked(FileWriteQueue *q)
{
    pthread_attr_t attr;
    int err;

    if (q->writer_started) {
        return true;
    }
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    err = pthread_create(&q->writer, &attr, writer_thread, q);
    pthread_attr_destroy(&attr);
    q->writer_started = err == 0;
    return q->writer_started;
}

bool file_write_queue_submit(FileWriteQueue *q, FileWriteFn *fn,
                             FileWriteDoneFn *done, void *opaque)
{
    FileQueuedCall *c;

    pthread_mutex_lock(&q->lock);
    if (!start_writer_locked(q)) {
        pthread_mutex_unlock(&q->lock);
        return false;
    }
    c = g_new0(FileQueuedCall, 1);
    c->fn = fn;
    c->opaque = opaque;
    c->done_fn = done;
    push_locked(q, c);
    if (!q->busy) {
        q->busy = true;
        give_turn_to_writer_locked(q);
    }
    pthread_mutex_unlock(&q->lock);
    return true;
}
