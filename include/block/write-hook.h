/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Write hooks: code that must see every change to a node's data before
 * and after it happens (a mirror's dirty tracking or write-blocking copy,
 * a dirty bitmap, a backup's copy-before-write).  The I/O wrappers (io.c)
 * call them for every write, write of zeroes and discard on the node the
 * request is sent to (not on its children), from whatever thread sends it.
 */
#ifndef BLOCK_WRITE_HOOK_H
#define BLOCK_WRITE_HOOK_H

#include "block/block_int.h"

typedef enum BdrvWriteKind {
    BDRV_WRITE_DATA,
    BDRV_WRITE_ZEROES,
    BDRV_WRITE_DISCARD,
} BdrvWriteKind;

typedef struct BdrvWriteHook BdrvWriteHook;
struct BdrvWriteHook {
    /*
     * Before the range changes.  A negative errno (and errp) fails the
     * request without touching the node.  Optional.  It may do I/O on
     * other nodes, and reads on this one.
     */
    int (*before)(BdrvWriteHook *hook, BlockDriverState *bs, int64_t offset,
                  int64_t bytes, BdrvWriteKind kind, GError **errp);
    /*
     * Would before return 0 at once for this data write?  Optional, and
     * must not wait: a write that never waits (bdrv_pwrite_async) may then
     * skip before.  Without it such writes take the usual path while the
     * hook is there.
     */
    bool (*before_is_noop)(BdrvWriteHook *hook, int64_t offset,
                           int64_t bytes);
    /* After, with the request's result (0 or a negative errno); also
     * when a before hook failed it.  Optional. */
    void (*after)(BdrvWriteHook *hook, BlockDriverState *bs, int64_t offset,
                  int64_t bytes, BdrvWriteKind kind, int ret);
    void *opaque; /* the owner's */
};

/*
 * The hook stays owned by the caller and must stay valid until removed.
 * Remove waits for the writes that already called it to finish; it must
 * not be called from a hook.  Adding or removing a hook with a before
 * also waits for the writes queued without it (bdrv_pwrite_async).  A node is deleted only without hooks.
 */
void bdrv_write_hook_add(BlockDriverState *bs, BdrvWriteHook *hook);
void bdrv_write_hook_remove(BlockDriverState *bs, BdrvWriteHook *hook);

#endif
