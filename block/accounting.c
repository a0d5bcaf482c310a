/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * I/O accounting for query-blockstats.  Relaxed atomics: the counters are
 * statistics, each exact, read one by one.
 */
#include <time.h>

#include "block/accounting.h"
#include "block/graph.h"

int64_t bdrv_account_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bdrv_account_io(BlockDriverState *bs, BdrvAcctKind kind, int64_t bytes,
                     int64_t ns, int ret)
{
    BdrvAcctCounter *c = &bdrv_node(bs)->acct.kind[kind];

    if (ret < 0) {
        __atomic_fetch_add(&c->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_fetch_add(&c->ops, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->bytes, bytes, __ATOMIC_RELAXED);
    __atomic_fetch_add(&c->total_ns, ns, __ATOMIC_RELAXED);
}

void bdrv_account_get(BlockDriverState *bs, BdrvAcct *out)
{
    const BdrvAcct *a = &bdrv_node(bs)->acct;

    for (int k = 0; k < BDRV_ACCT__MAX; k++) {
        out->kind[k].ops = __atomic_load_n(&a->kind[k].ops, __ATOMIC_RELAXED);
        out->kind[k].bytes =
            __atomic_load_n(&a->kind[k].bytes, __ATOMIC_RELAXED);
        out->kind[k].total_ns =
            __atomic_load_n(&a->kind[k].total_ns, __ATOMIC_RELAXED);
        out->kind[k].failed =
            __atomic_load_n(&a->kind[k].failed, __ATOMIC_RELAXED);
    }
}
