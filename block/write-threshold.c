/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The write threshold (block-set-write-threshold, BLOCK_WRITE_THRESHOLD)
 * and the furthest write a node has seen (query-blockstats'
 * wr_highest_offset).  Both are read and written from any thread that
 * writes to a node, so they are atomics and never take a lock.
 */
#include "block/graph.h"
#include "qapi/qmp.h"

void bdrv_write_threshold_set(BlockDriverState *bs, int64_t threshold)
{
    __atomic_store_n(&bdrv_node(bs)->write_threshold, threshold,
                     __ATOMIC_SEQ_CST);
}

int64_t bdrv_write_threshold_get(BlockDriverState *bs)
{
    return __atomic_load_n(&bdrv_node(bs)->write_threshold, __ATOMIC_SEQ_CST);
}

int64_t bdrv_wr_highest_offset(BlockDriverState *bs)
{
    return __atomic_load_n(&bdrv_node(bs)->wr_highest_offset,
                           __ATOMIC_SEQ_CST);
}

static void note_highest(BdrvNode *n, int64_t end)
{
    int64_t cur = __atomic_load_n(&n->wr_highest_offset, __ATOMIC_SEQ_CST);

    while (end > cur &&
           !__atomic_compare_exchange_n(&n->wr_highest_offset, &cur, end,
                                        false, __ATOMIC_SEQ_CST,
                                        __ATOMIC_SEQ_CST)) {
        /* cur was reloaded: try again while we are still further */
    }
}

void bdrv_write_threshold_check(BlockDriverState *bs, int64_t offset,
                                int64_t bytes)
{
    BdrvNode *n = bdrv_node(bs);
    int64_t threshold = __atomic_load_n(&n->write_threshold, __ATOMIC_SEQ_CST);
    JsonObject *data;

    note_highest(n, offset + bytes);
    if (threshold <= 0 || offset + bytes <= threshold) {
        return;
    }
    /* only the writer that turns it off reports it */
    if (!__atomic_compare_exchange_n(&n->write_threshold, &threshold, 0, false,
                                     __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
        return;
    }
    data = json_object_new();
    json_object_set_string_member(data, "node-name", bs->node_name);
    json_object_set_int_member(data, "amount-exceeded",
                               offset + bytes - threshold);
    json_object_set_int_member(data, "write-threshold", threshold);
    qapi_event_send("BLOCK_WRITE_THRESHOLD", data); /* thread-safe */
}
