/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes to one node copied to another (write-copy.h).  One lock
 * serialises the hook's copies and the sync pass: whoever copies a range
 * reads it after the write that dirtied it landed, so the last copy of a
 * range always carries its newest data.
 */
#include "block/write-copy.h"
#include "block/write-hook.h"
#include "qemu/hbitmap.h"

#define WRITE_COPY_GRANULARITY (64 * 1024)
#define WRITE_COPY_CHUNK (4 * 1024 * 1024)

struct BdrvWriteCopy {
    BlockDriverState *from, *to;
    BdrvWriteHook hook;
    GMutex lock;    /* dirty, sync, and every copy */
    HBitmap *dirty; /* recorded, not yet copied */
    bool sync;      /* copy each write as it lands */
};

/* Under wc->lock. */
static int copy_range(BdrvWriteCopy *wc, void *buf, int64_t off, int64_t bytes,
                      GError **errp)
{
    for (int64_t done = 0, n; done < bytes; done += n) {
        n = MIN(bytes - done, WRITE_COPY_CHUNK);
        if (bdrv_pread(wc->from, off + done, n, buf, errp) < 0 ||
            bdrv_pwrite(wc->to, off + done, n, buf, errp) < 0) {
            hbitmap_set(wc->dirty, off + done, bytes - done);
            return -1;
        }
    }
    return 0;
}

/* After every write, write of zeroes or discard on @from, in the writer's
 * thread: record it, or copy it now. */
static void write_copy_after(BdrvWriteHook *hook, BlockDriverState *bs,
                             int64_t offset, int64_t bytes, BdrvWriteKind kind,
                             int ret)
{
    BdrvWriteCopy *wc = hook->opaque;
    int64_t len = hbitmap_size(wc->dirty);

    if (bytes <= 0 || offset >= len) {
        return;
    }
    bytes = MIN(bytes, len - offset);
    g_mutex_lock(&wc->lock);
    if (wc->sync) {
        g_autofree void *buf = g_malloc(MIN(bytes, WRITE_COPY_CHUNK));
        GError *err = NULL;

        if (copy_range(wc, buf, offset, bytes, &err) < 0) {
            g_error_free(err); /* recorded: the next sync retries it */
        }
    } else {
        hbitmap_set(wc->dirty, offset, bytes);
    }
    g_mutex_unlock(&wc->lock);
}

BdrvWriteCopy *bdrv_write_copy_start(BlockDriverState *from,
                                     BlockDriverState *to)
{
    BdrvWriteCopy *wc = g_new0(BdrvWriteCopy, 1);

    wc->from = from;
    wc->to = to;
    g_mutex_init(&wc->lock);
    wc->dirty =
        hbitmap_new(MAX(bdrv_getlength(from), 0), WRITE_COPY_GRANULARITY);
    wc->hook = (BdrvWriteHook){.after = write_copy_after, .opaque = wc};
    bdrv_write_hook_add(from, &wc->hook);
    return wc;
}

int bdrv_write_copy_sync(BdrvWriteCopy *wc, GError **errp)
{
    g_autofree void *buf = g_malloc(WRITE_COPY_CHUNK);
    uint64_t len = hbitmap_size(wc->dirty);
    uint64_t start, n;
    int ret = 0;

    g_mutex_lock(&wc->lock);
    wc->sync = true;
    while (ret == 0 && hbitmap_next_dirty_area(wc->dirty, 0, len,
                                               WRITE_COPY_CHUNK, &start, &n)) {
        hbitmap_reset(wc->dirty, start, n);
        ret = copy_range(wc, buf, start, n, errp);
    }
    g_mutex_unlock(&wc->lock);
    return ret;
}

void bdrv_write_copy_stop(BdrvWriteCopy *wc)
{
    if (!wc) {
        return;
    }
    bdrv_write_hook_remove(wc->from, &wc->hook);
    hbitmap_free(wc->dirty);
    g_mutex_clear(&wc->lock);
    g_free(wc);
}
