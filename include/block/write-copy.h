/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keep what is written to one node reaching another while a job copies
 * between them (active commit: top -> base).  From start, a write hook on
 * @from records every range written; bdrv_write_copy_sync() copies what
 * was recorded and from then on copies each write to @to before the write
 * returns, so that @to can take @from's place at any moment.  Block code
 * only.
 */
#ifndef BLOCK_WRITE_COPY_H
#define BLOCK_WRITE_COPY_H

#include "block/block_int.h"

typedef struct BdrvWriteCopy BdrvWriteCopy;

/* Start recording writes to @from (both nodes referenced by the caller
 * for as long as this lives).  Main loop. */
BdrvWriteCopy *bdrv_write_copy_start(BlockDriverState *from,
                                     BlockDriverState *to);

/*
 * Copy every range recorded so far from @from to @to, and switch to
 * copying each later write synchronously.  A copy that fails in a writer's
 * thread is recorded again, and the next call retries it: call it once
 * more just before @to takes @from's place.  Any thread; -1 with errp.
 */
int bdrv_write_copy_sync(BdrvWriteCopy *wc, GError **errp);

/* Stop (waits for the writes the hook has seen begin) and free.  NULL is
 * ignored.  Main loop. */
void bdrv_write_copy_stop(BdrvWriteCopy *wc);

#endif
