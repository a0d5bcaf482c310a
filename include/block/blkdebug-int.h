/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug's state, shared by its rules (block/blkdebug.c) and its
 * power-cut journal (block/blkdebug-journal.c).  Only those two include it.
 */
#ifndef BLOCK_BLKDEBUG_INT_H
#define BLOCK_BLKDEBUG_INT_H

#include "block/blkdebug.h"

typedef struct BDRVBlkdebugState {
    GMutex mutex;       /* rules, state, journal: events come from parents */
    int64_t state;      /* 1 at open */
    GPtrArray *rules;   /* BlkdebugRule *, owned, in the order given */
    GPtrArray *active;  /* the rules the last injecting event armed */
    int64_t align;
    guint64 events;     /* events that reached the node */
    guint64 injected;   /* requests failed by a rule */
    /* x-drop-unflushed */
    bool drop_unflushed;
    bool powered_off;    /* after blkdebug-power-cut: everything fails */
    GPtrArray *journal;  /* BlkdebugJournalEntry *, oldest first */
    int64_t flushed_len; /* the child's length at the last flush, or -1 */
    /* breakpoints (blkdebug-break.c) */
    GPtrArray *breaks;    /* BlkdebugBreak *, owned */
    GPtrArray *suspended; /* BlkdebugSuspended *, on their waiters' stacks */
    GCond break_cond;     /* a request suspended or resumed */
} BDRVBlkdebugState;

void blkdebug_break_init(BDRVBlkdebugState *s);
void blkdebug_break_cleanup(BDRVBlkdebugState *s);
/* With s->mutex held: a breakpoint on @event suspends the caller here. */
void blkdebug_break_event_locked(BDRVBlkdebugState *s, BlkdebugEvent event);

void blkdebug_journal_entry_free(gpointer p);
/* Write through to the child, the old bytes journaled first. */
int blkdebug_journal_write(BlockDriverState *bs, int64_t offset,
                           int64_t bytes, const void *buf, GError **errp);
int blkdebug_journal_truncate(BlockDriverState *bs, int64_t size,
                              GError **errp);
/* Flush the child; on success what was written is durable: forget it. */
int blkdebug_journal_flush(BlockDriverState *bs, GError **errp);

#endif
