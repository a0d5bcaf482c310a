/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The file driver's cache of known data (see file-data-cache.h).  Every
 * access to the shared fields is a sequentially consistent atomic, which
 * is what makes the lock-free lookup a correct sequence-count read, and
 * the lock is a pthread mutex, not a GMutex (invisible to ThreadSanitizer).
 */
#include "file-data-cache.h"

#define LOAD(p) __atomic_load_n(p, __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n(p, v, __ATOMIC_SEQ_CST)

void file_data_cache_init(FileDataCache *c)
{
    pthread_mutex_init(&c->lock, NULL);
    c->seq = c->gen = 0;
    c->start = c->end = 0;
}

void file_data_cache_destroy(FileDataCache *c)
{
    pthread_mutex_destroy(&c->lock);
}

int64_t file_data_cache_lookup(FileDataCache *c, int64_t offset, int64_t bytes)
{
    uint32_t seq;
    int64_t start, end;

    do {
        seq = LOAD(&c->seq);
        if (seq & 1) {
            return 0; /* being changed: ask the kernel instead */
        }
        start = LOAD(&c->start);
        end = LOAD(&c->end);
    } while (LOAD(&c->seq) != seq);
    if (offset < start || offset >= end) {
        return 0;
    }
    return MIN(bytes, end - offset);
}

uint32_t file_data_cache_gen(FileDataCache *c)
{
    return LOAD(&c->gen);
}

/* Under c->lock: publish a new run. */
static void set_run_locked(FileDataCache *c, int64_t start, int64_t end)
{
    STORE(&c->seq, LOAD(&c->seq) + 1);
    STORE(&c->start, start);
    STORE(&c->end, end);
    STORE(&c->seq, LOAD(&c->seq) + 1);
}

void file_data_cache_fill(FileDataCache *c, uint32_t gen, int64_t start,
                          int64_t end)
{
    pthread_mutex_lock(&c->lock);
    if (LOAD(&c->gen) == gen && start < end) {
        int64_t cs = LOAD(&c->start), ce = LOAD(&c->end);

        /* two runs seen with no drop between them are both still data */
        if (cs < ce && start <= ce && end >= cs) {
            start = MIN(start, cs);
            end = MAX(end, ce);
        }
        set_run_locked(c, start, end);
    }
    pthread_mutex_unlock(&c->lock);
}

void file_data_cache_drop(FileDataCache *c)
{
    pthread_mutex_lock(&c->lock);
    STORE(&c->gen, LOAD(&c->gen) + 1);
    set_run_locked(c, 0, 0);
    pthread_mutex_unlock(&c->lock);
}
