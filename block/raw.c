/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "raw" format: the guest sees the file child's bytes, optionally a
 * window of them (offset, size).
 */
#include <errno.h>

#include "block/blkdebug.h"
#include "block/graph.h"
#include "block/options.h"
#include "qemu/error.h"

typedef struct BDRVRawState {
    int64_t offset;
    int64_t size; /* -1: up to the end of the file */
} BDRVRawState;

static int raw_open(BlockDriverState *bs, JsonObject *options, GError **errp)
{
    BDRVRawState *s = bs->opaque;
    bool has_offset, has_size;
    int64_t file_len = bdrv_getlength(bs->file);

    s->offset = 0;
    s->size = -1;
    if (!bdrv_opt_int(options, "offset", "offset", &has_offset, &s->offset,
                      errp) ||
        !bdrv_opt_int(options, "size", "size", &has_size, &s->size, errp)) {
        return -1;
    }
    if (s->offset < 0 || file_len < 0 || s->offset > file_len) {
        error_setg(errp,
                   "The sum of offset (%" G_GINT64_FORMAT ") and size "
                   "(0) has to be smaller or equal to the actual size of "
                   "the containing file (%" G_GINT64_FORMAT ")",
                   s->offset, file_len);
        return -1;
    }
    if (has_size && (s->size < 0 || s->offset + s->size > file_len)) {
        error_setg(errp,
                   "The sum of offset (%" G_GINT64_FORMAT ") and size "
                   "(%" G_GINT64_FORMAT ") has to be smaller or equal to the "
                   "actual size of the containing file (%" G_GINT64_FORMAT ")",
                   s->offset, s->size, file_len);
        return -1;
    }
    if (!has_size) {
        s->size = -1;
    }
    return 0;
}

static int64_t raw_getlength(BlockDriverState *bs)
{
    BDRVRawState *s = bs->opaque;
    int64_t len;

    if (s->size >= 0) {
        return s->size;
    }
    len = bdrv_getlength(bs->file);
    return len < 0 ? len : len - s->offset;
}

static bool raw_check(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (s->size >= 0 && offset + bytes > s->size) {
        error_setg(errp, "Request beyond the end of '%s'", bs->node_name);
        return false;
    }
    return true;
}

static int raw_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     void *buf, GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -1;
    }
    return bdrv_pread(bs->file, s->offset + offset, bytes, buf, errp);
}

static int raw_pread_nowait(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, void *buf)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, NULL)) {
        return -EAGAIN; /* bdrv_pread reports it */
    }
    return bdrv_pread_nowait(bs->file, s->offset + offset, bytes, buf);
}

static int raw_pwrite_nowait(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, const void *buf)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, NULL)) {
        return -EAGAIN; /* bdrv_pwrite_flags reports it */
    }
    return bdrv_pwrite_nowait(bs->file, s->offset + offset, bytes, buf);
}

static int raw_pwrite_async(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf,
                            BdrvWriteDoneFn *done, void *opaque)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, NULL)) {
        return -EAGAIN; /* bdrv_pwrite_flags reports it */
    }
    return bdrv_pwrite_async(bs->file, s->offset + offset, bytes, buf, done,
                             opaque);
}

static int raw_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -1;
    }
    return bdrv_pwrite(bs->file, s->offset + offset, bytes, buf, errp);
}

/* The flags API through the window: a range outside it is -EINVAL. */
static int raw_pwrite_flags(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, const void *buf, int flags,
                            GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    return bdrv_pwrite_flags(bs->file, s->offset + offset, bytes, buf, flags,
                             errp);
}

static int raw_pwrite_zeroes(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int flags, GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    return bdrv_pwrite_zeroes(bs->file, s->offset + offset, bytes, flags,
                              errp);
}

static int raw_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    return bdrv_pdiscard(bs->file, s->offset + offset, bytes, errp);
}

/* The file's holes and data; raw itself holds everything (no backing). */
static int raw_block_status(BlockDriverState *bs, int64_t offset,
                            int64_t bytes, int64_t *pnum, GError **errp)
{
    BDRVRawState *s = bs->opaque;
    int depth;
    int ret;

    if (!raw_check(bs, offset, bytes, errp)) {
        return -EINVAL;
    }
    ret = bdrv_block_status(bs->file, s->offset + offset, bytes, pnum, &depth,
                            errp);
    return ret < 0 ? ret : ret | BDRV_BLOCK_ALLOCATED;
}

static int raw_flush(BlockDriverState *bs, GError **errp)
{
    bdrv_debug_event(bs->file, BLKDBG_FLUSH_TO_DISK);
    return bdrv_flush(bs->file, errp);
}

static int raw_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    BDRVRawState *s = bs->opaque;

    if (s->offset || s->size >= 0) {
        error_setg(errp, "Cannot resize a raw node with offset or size");
        return -1;
    }
    return bdrv_truncate(bs->file, size, errp);
}

/* Its window of the file child, as it is. */
static int raw_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        bool write, BlockDriverState **leaf,
                        int64_t *leaf_offset, int64_t *pnum, GError **errp)
{
    BDRVRawState *s = bs->opaque;

    *pnum = bytes;
    if (!raw_check(bs, offset, bytes, errp)) {
        return -1;
    }
    return bdrv_map_file(bs->file, s->offset + offset, bytes, write, leaf,
                         leaf_offset, pnum, errp);
}

/* Everything belongs to this layer: raw has no backing. */
static int raw_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                            int64_t *pnum, GError **errp)
{
    *pnum = bytes;
    return 1;
}

/* Reads and writes go to the file child, whose own reopen does the work. */
static int raw_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    return 0;
}

const BlockDriver bdrv_raw = {
    .format_name = "raw",
    .instance_size = sizeof(BDRVRawState),
    .bdrv_open = raw_open,
    .bdrv_getlength = raw_getlength,
    .bdrv_pread = raw_pread,
    .bdrv_pread_nowait = raw_pread_nowait,
    .bdrv_pwrite_nowait = raw_pwrite_nowait,
    .bdrv_pwrite_async = raw_pwrite_async,
    .bdrv_pwrite = raw_pwrite,
    .bdrv_pwrite_flags = raw_pwrite_flags,
    .bdrv_pwrite_zeroes = raw_pwrite_zeroes,
    .bdrv_pdiscard = raw_pdiscard,
    .bdrv_block_status = raw_block_status,
    .bdrv_flush = raw_flush,
    .bdrv_truncate = raw_truncate,
    .bdrv_is_allocated = raw_is_allocated,
    .bdrv_map_file = raw_map_file,
    .bdrv_reopen_prepare = raw_reopen_prepare,
};
