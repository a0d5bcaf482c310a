/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-node I/O statistics for query-blockstats: operations, bytes and
 * total time per kind, and failures, counted with atomics from any thread
 * (the I/O wrappers in block/io.c make one call per request).
 */
#ifndef BLOCK_ACCOUNTING_H
#define BLOCK_ACCOUNTING_H

#include <stdint.h>

typedef struct BlockDriverState BlockDriverState;

typedef enum BdrvAcctKind {
    BDRV_ACCT_READ,
    BDRV_ACCT_WRITE,
    BDRV_ACCT_FLUSH,
    BDRV_ACCT_UNMAP,
    BDRV_ACCT__MAX,
} BdrvAcctKind;

typedef struct BdrvAcctCounter {
    int64_t ops;
    int64_t bytes;
    int64_t total_ns;
    int64_t failed;
} BdrvAcctCounter;

typedef struct BdrvAcct {
    BdrvAcctCounter kind[BDRV_ACCT__MAX];
} BdrvAcct;

/* Monotonic nanoseconds, the start of a request. */
int64_t bdrv_account_now(void);
/* One request of @kind on @bs: @bytes, taking @ns; @ret < 0: it failed
 * (counted among failed_*, not in the bytes). */
void bdrv_account_io(BlockDriverState *bs, BdrvAcctKind kind, int64_t bytes,
                     int64_t ns, int ret);
/* A consistent-enough copy of @bs's counters (each read atomically). */
void bdrv_account_get(BlockDriverState *bs, BdrvAcct *out);

#endif
