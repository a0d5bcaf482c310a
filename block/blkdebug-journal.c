/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug's x-drop-unflushed: a simulated power cut for crash tests.
 *
 * Every write since the last successful flush is written through to the
 * child, its old bytes kept in a journal; blkdebug-power-cut undoes them
 * newest first and shrinks the child back to its length at that flush, so
 * the image holds exactly what a disk that lost its volatile cache would:
 * everything flushed, nothing after.  The node then fails every request,
 * as a disk without power does.  With survivors, a random share of the
 * unflushed writes is put back afterwards, in their order, as a disk cache
 * that wrote some of them back in its own order would leave them.
 */
#include <errno.h>
#include <string.h>

#include "block/blkdebug-int.h"
#include "block/graph.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"

typedef struct BlkdebugJournalEntry {
    int64_t offset;
    int64_t bytes;
    guint8 *old;      /* the bytes before the write (or the truncate) */
    guint8 *data;     /* what was written; NULL for a truncate */
    int64_t new_size; /* truncate: the new length */
} BlkdebugJournalEntry;

void blkdebug_journal_entry_free(gpointer p)
{
    BlkdebugJournalEntry *e = p;

    g_free(e->old);
    g_free(e->data);
    g_free(e);
}

/* The first change since the flush remembers the length to go back to. */
static int journal_start(BDRVBlkdebugState *s, BlockDriverState *bs,
                         GError **errp)
{
    if (s->flushed_len >= 0) {
        return 0;
    }
    s->flushed_len = bdrv_getlength_bytes(bs->file);
    if (s->flushed_len < 0) {
        error_setg(errp, "Could not get the length of '%s'",
                   bs->file->node_name);
        return -1;
    }
    return 0;
}

int blkdebug_journal_write(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, GError **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    BlkdebugJournalEntry *e = g_new0(BlkdebugJournalEntry, 1);
    int ret = -1;

    e->offset = offset;
    e->bytes = bytes;
    e->old = g_malloc(bytes ? bytes : 1);
    e->data = g_memdup2(buf, bytes ? bytes : 1);
    g_mutex_lock(&s->mutex); /* one write at a time: the undo order holds */
    if (s->powered_off) {
        /* the cut came between the rule check and here: too late */
        error_setg(errp, "%s", g_strerror(EIO));
        ret = -EIO;
    } else if (journal_start(s, bs, errp) == 0 &&
               bdrv_pread(bs->file, offset, bytes, e->old, errp) == 0) {
        g_ptr_array_add(s->journal, g_steal_pointer(&e));
        ret = bdrv_pwrite(bs->file, offset, bytes, buf, errp);
    }
    g_mutex_unlock(&s->mutex);
    if (e) {
        blkdebug_journal_entry_free(e);
    }
    return ret;
}

int blkdebug_journal_truncate(BlockDriverState *bs, int64_t size,
                              GError **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ret = -1;

    g_mutex_lock(&s->mutex);
    if (s->powered_off) {
        error_setg(errp, "%s", g_strerror(EIO));
        ret = -EIO;
    } else if (journal_start(s, bs, errp) == 0) {
        /* a shrink loses bytes the undo would need: keep them */
        int64_t len = bdrv_getlength_bytes(bs->file);

        if (len > size) {
            BlkdebugJournalEntry *e = g_new0(BlkdebugJournalEntry, 1);

            e->offset = size;
            e->bytes = len - size;
            e->new_size = size;
            e->old = g_malloc(e->bytes);
            if (bdrv_pread(bs->file, size, e->bytes, e->old, errp) < 0) {
                blkdebug_journal_entry_free(e);
                goto out;
            }
            g_ptr_array_add(s->journal, e);
        } else {
            BlkdebugJournalEntry *e = g_new0(BlkdebugJournalEntry, 1);

            e->offset = size;
            e->new_size = size;
            g_ptr_array_add(s->journal, e);
        }
        ret = bdrv_truncate(bs->file, size, errp);
    }
out:
    g_mutex_unlock(&s->mutex);
    return ret;
}

int blkdebug_journal_flush(BlockDriverState *bs, GError **errp)
{
    BDRVBlkdebugState *s = bs->opaque;
    int ret;

    g_mutex_lock(&s->mutex); /* no write slips between flush and forget */
    if (s->powered_off) {
        error_setg(errp, "%s", g_strerror(EIO));
        g_mutex_unlock(&s->mutex);
        return -EIO;
    }
    ret = bdrv_flush(bs->file, errp);
    if (ret == 0) {
        g_ptr_array_set_size(s->journal, 0);
        s->flushed_len = -1;
    }
    g_mutex_unlock(&s->mutex);
    return ret;
}

/* Put back the survivors, oldest first (a truncate always survives: the
 * file system keeps its own metadata in order). */
static int journal_replay(BlockDriverState *bs, GPtrArray *journal,
                          int survivors, GError **errp)
{
    for (guint i = 0; i < journal->len; i++) {
        BlkdebugJournalEntry *e = g_ptr_array_index(journal, i);

        if (!e->data) {
            if (bdrv_truncate(bs->file, e->new_size, errp) < 0) {
                return -1;
            }
        } else if (g_random_int_range(0, 100) < survivors &&
                   bdrv_pwrite(bs->file, e->offset, e->bytes, e->data,
                               errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Undo the journal, newest first, then put back the survivors; the child
 * is flushed at the end. */
static int journal_undo(BlockDriverState *bs, int survivors, GError **errp)
{
    BDRVBlkdebugState *s = bs->opaque;

    for (guint i = s->journal->len; i-- > 0;) {
        BlkdebugJournalEntry *e = g_ptr_array_index(s->journal, i);
        int64_t len = bdrv_getlength_bytes(bs->file);

        if (!e->bytes) {
            continue; /* a growing truncate: the final one below undoes it */
        }
        if (e->offset + e->bytes > len &&
            bdrv_truncate(bs->file, e->offset + e->bytes, errp) < 0) {
            return -1;
        }
        if (bdrv_pwrite(bs->file, e->offset, e->bytes, e->old, errp) < 0) {
            return -1;
        }
    }
    if (s->flushed_len >= 0 &&
        bdrv_truncate(bs->file, s->flushed_len, errp) < 0) {
        return -1;
    }
    if (survivors && journal_replay(bs, s->journal, survivors, errp) < 0) {
        return -1;
    }
    g_ptr_array_set_size(s->journal, 0);
    s->flushed_len = -1;
    return bdrv_flush(bs->file, errp);
}

void qmp_blkdebug_power_cut(const char *node_name, bool has_survivors,
                            int64_t survivors, GError **errp)
{
    BlockDriverState *bs = bdrv_find_node(node_name);
    BDRVBlkdebugState *s;

    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'",
                   node_name);
        return;
    }
    s = bs->opaque;
    if (bs->drv != &bdrv_blkdebug || !s->drop_unflushed) {
        error_setg(errp, "Node '%s' is not a blkdebug node with "
                         "x-drop-unflushed", node_name);
        return;
    }
    if (has_survivors && (survivors < 0 || survivors > 100)) {
        error_setg(errp, "Parameter 'survivors' expects a percentage");
        return;
    }
    g_mutex_lock(&s->mutex);
    s->powered_off = true;
    journal_undo(bs, has_survivors ? survivors : 0, errp);
    g_mutex_unlock(&s->mutex);
}
