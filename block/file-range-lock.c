/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Byte-range locks for overlapping writes (see file-range-lock.h).  Few
 * writes are in flight at once (one per request thread), so a list does.
 */
#include <assert.h>

#include "file-range-lock.h"

void file_range_lock_init(FileRangeLock *l)
{
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->released, NULL);
    l->held = NULL;
    l->waiters = 0;
}

void file_range_lock_destroy(FileRangeLock *l)
{
    assert(!l->held);
    pthread_cond_destroy(&l->released);
    pthread_mutex_destroy(&l->lock);
}

static bool overlaps_held(FileRangeLock *l, int64_t start, int64_t end)
{
    for (FileRange *h = l->held; h; h = h->next) {
        if (h->start < end && start < h->end) {
            return true;
        }
    }
    return false;
}

static void hold_locked(FileRangeLock *l, FileRange *r, int64_t start,
                        int64_t end)
{
    *r = (FileRange){.start = start, .end = end, .next = l->held};
    l->held = r;
}

void file_range_lock(FileRangeLock *l, FileRange *r, int64_t offset,
                     int64_t bytes)
{
    pthread_mutex_lock(&l->lock);
    while (overlaps_held(l, offset, offset + bytes)) {
        l->waiters++;
        pthread_cond_wait(&l->released, &l->lock);
        l->waiters--;
    }
    hold_locked(l, r, offset, offset + bytes);
    pthread_mutex_unlock(&l->lock);
}

bool file_range_trylock(FileRangeLock *l, FileRange *r, int64_t offset,
                        int64_t bytes)
{
    bool taken;

    pthread_mutex_lock(&l->lock);
    taken = !overlaps_held(l, offset, offset + bytes);
    if (taken) {
        hold_locked(l, r, offset, offset + bytes);
    }
    pthread_mutex_unlock(&l->lock);
    return taken;
}

void file_range_unlock(FileRangeLock *l, FileRange *r)
{
    FileRange **p = &l->held;

    pthread_mutex_lock(&l->lock);
    while (*p != r) {
        p = &(*p)->next;
    }
    *p = r->next;
    if (l->waiters) {
        pthread_cond_broadcast(&l->released);
    }
    pthread_mutex_unlock(&l->lock);
}
