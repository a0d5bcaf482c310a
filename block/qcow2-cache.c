/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 metadata cache: cluster-sized tables (L2 tables, refcount blocks)
 * kept in memory, least recently used evicted first.  Changes are
 * written back by range (only the dirty part of a table) when the cache is
 * flushed, which the driver does at the end of every write request, or when
 * a dirty table is evicted.
 */
#include <errno.h>

#include "block/blkdebug.h"
#include "block/qcow2.h"
#include "qemu/error.h"

#define QCOW2_IO_ALIGN 4096

typedef struct Qcow2CacheEntry {
    uint64_t offset; /* host offset of the table; 0: slot unused */
    uint8_t *data;
    uint32_t dirty_lo; /* dirty bytes [lo, hi); lo == hi: clean */
    uint32_t dirty_hi;
    uint64_t last_use;
} Qcow2CacheEntry;

struct Qcow2Cache {
    BlockDriverState *bs; /* the qcow2 node; tables live in bs->file */
    uint64_t table_size;
    unsigned n;
    Qcow2CacheEntry *entries;
    GHashTable *index; /* offset -> Qcow2CacheEntry* */
    uint64_t clock;
    Qcow2Cache *flush_first;
    uint64_t writes;
    int debug_event; /* BlkdebugEvent announced before a table write, or -1 */
};

/* The errno of this thread's last failed write to an image file. */
static __thread int file_write_errno;

int qcow2_take_write_errno(void)
{
    int err = file_write_errno;

    file_write_errno = 0;
    return err ? err : EIO;
}

int qcow2_file_write(BlockDriverState *bs, uint64_t offset, uint64_t bytes,
                     const void *buf, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret = bdrv_pwrite_flags(bs->file, offset, bytes, buf, 0, errp);

    if (ret < 0) {
        file_write_errno = -ret;
        return -1;
    }
    qcow2_file_grow(s, offset + bytes);
    return 0;
}

Qcow2Cache *qcow2_cache_new(BlockDriverState *bs, uint64_t table_size,
                            unsigned entries, Qcow2Cache *flush_first)
{
    Qcow2Cache *c = g_new0(Qcow2Cache, 1);

    c->bs = bs;
    c->table_size = table_size;
    c->n = entries;
    c->entries = g_new0(Qcow2CacheEntry, entries);
    c->index = g_hash_table_new(g_int64_hash, g_int64_equal);
    c->flush_first = flush_first;
    c->debug_event = -1;
    return c;
}

void qcow2_cache_free(Qcow2Cache *c)
{
    if (!c) {
        return;
    }
    for (unsigned i = 0; i < c->n; i++) {
        g_aligned_free(c->entries[i].data);
    }
    g_hash_table_destroy(c->index);
    g_free(c->entries);
    g_free(c);
}

bool qcow2_cache_dirty(const Qcow2Cache *c)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].offset &&
            c->entries[i].dirty_lo != c->entries[i].dirty_hi) {
            return true;
        }
    }
    return false;
}

int qcow2_file_barrier(BlockDriverState *bs, GError **errp)
{
    return bdrv_flush(bs->file, errp);
}

void qcow2_cache_set_debug_event(Qcow2Cache *c, int event)
{
    c->debug_event = event;
}

uint64_t qcow2_cache_writes(const Qcow2Cache *c)
{
    return c->writes;
}

/* Write the dirty range of @e, widened to the I/O alignment. */
static int qcow2_cache_write_entry(Qcow2Cache *c, Qcow2CacheEntry *e,
                                   GError **errp)
{
    uint64_t align = MIN(c->table_size, QCOW2_IO_ALIGN);
    uint64_t lo, hi;

    if (e->dirty_lo == e->dirty_hi) {
        return 0;
    }
    /* what this table points to is counted on disk before it is written */
    if (c->flush_first && qcow2_cache_dirty(c->flush_first) &&
        (qcow2_cache_flush(c->flush_first, errp) < 0 ||
         qcow2_file_barrier(c->bs, errp) < 0)) {
        return -1;
    }
    if (c->debug_event >= 0) {
        bdrv_debug_event(c->bs->file, c->debug_event);
    }
    lo = e->dirty_lo & ~(align - 1);
    hi = MIN(qcow2_round_up(e->dirty_hi, align), c->table_size);
    if (qcow2_file_write(c->bs, e->offset + lo, hi - lo, e->data + lo, errp) <
        0) {
        return -1;
    }
    c->writes++;
    e->dirty_lo = e->dirty_hi = 0;
    return 0;
}

int qcow2_cache_flush(Qcow2Cache *c, GError **errp)
{
    for (unsigned i = 0; i < c->n; i++) {
        if (c->entries[i].offset &&
            qcow2_cache_write_entry(c, &c->entries[i], errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* A slot for a new table: an unused one, else the least recently used. */
static Qcow2CacheEntry *qcow2_cache_victim(Qcow2Cache *c, GError **errp)
{
    Qcow2CacheEntry *victim = NULL;

    for (unsigned i = 0; i < c->n; i++) {
        Qcow2CacheEntry *e = &c->entries[i];

        if (!e->offset) {
            victim = e;
            break;
        }
        if (!victim || e->last_use < victim->last_use) {
            victim = e;
        }
    }
    if (victim->offset) {
        if (qcow2_cache_write_entry(c, victim, errp) < 0) {
            return NULL;
        }
        g_hash_table_remove(c->index, &victim->offset);
        victim->offset = 0;
    }
    if (!victim->data) {
        victim->data = g_aligned_alloc(1, c->table_size, QCOW2_IO_ALIGN);
    }
    return victim;
}

uint8_t *qcow2_cache_get(Qcow2Cache *c, uint64_t offset, bool fresh,
                         GError **errp)
{
    Qcow2CacheEntry *e = g_hash_table_lookup(c->index, &offset);

    g_assert(offset != 0);
    if (!e) {
        e = qcow2_cache_victim(c, errp);
        if (!e) {
            return NULL;
        }
        if (fresh) {
            memset(e->data, 0, c->table_size);
        } else if (bdrv_pread(c->bs->file, offset, c->table_size, e->data,
                              errp) < 0) {
            return NULL;
        }
        e->offset = offset;
        e->dirty_lo = e->dirty_hi = 0;
        g_hash_table_insert(c->index, &e->offset, e);
    }
    if (fresh) {
        memset(e->data, 0, c->table_size);
        e->dirty_lo = 0;
        e->dirty_hi = c->table_size;
    }
    e->last_use = ++c->clock;
    return e->data;
}

const uint8_t *qcow2_cache_peek(Qcow2Cache *c, uint64_t offset)
{
    Qcow2CacheEntry *e = g_hash_table_lookup(c->index, &offset);

    if (!e) {
        return NULL;
    }
    e->last_use = ++c->clock;
    return e->data;
}

void qcow2_cache_forget(Qcow2Cache *c, uint64_t offset)
{
    Qcow2CacheEntry *e = g_hash_table_lookup(c->index, &offset);

    if (e) {
        g_hash_table_remove(c->index, &offset);
        e->offset = 0;
        e->dirty_lo = e->dirty_hi = 0;
    }
}

void qcow2_cache_mark_dirty(Qcow2Cache *c, uint64_t offset, uint32_t lo,
                            uint32_t hi)
{
    Qcow2CacheEntry *e = g_hash_table_lookup(c->index, &offset);

    g_assert(e && lo < hi && hi <= c->table_size);
    if (e->dirty_lo == e->dirty_hi) {
        e->dirty_lo = lo;
        e->dirty_hi = hi;
    } else {
        e->dirty_lo = MIN(e->dirty_lo, lo);
        e->dirty_hi = MAX(e->dirty_hi, hi);
    }
}
