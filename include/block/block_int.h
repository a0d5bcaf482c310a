/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block layer internals shared by the core (block.c), the jobs and the
 * drivers (file-posix.c, raw.c, qcow2*.c).  Never included by monitor/.
 *
 * A node (BlockDriverState) has a driver, an optional "file" child (format
 * drivers sit on a protocol node) and an optional "backing" child.  All I/O
 * is synchronous pread/pwrite-style on byte offsets, and any number of
 * threads (NBD workers, block jobs, the main loop) may call the bdrv_*
 * wrappers on one node at once: nothing serialises them.  Drivers keep their
 * own state consistent (file: none to keep; qcow2: its metadata lock).  Code
 * that changes a node's driver state or its children outside a request
 * (reopen, close, truncate, backing changes) does it in a drained section
 * (bdrv_drained_begin/end), which holds out requests from other threads.
 */
#ifndef BLOCK_BLOCK_INT_H
#define BLOCK_BLOCK_INT_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct BlockDriver BlockDriver;
typedef struct BlockDriverState BlockDriverState;
/* The end of a bdrv_pwrite_async: 0 or a negative errno. */
typedef void BdrvWriteDoneFn(void *opaque, int ret);

/* State prepared by a driver's reopen_prepare, committed or aborted. */
typedef struct BDRVReopenState {
    BlockDriverState *bs;
    bool read_only;           /* requested */
    void *opaque;             /* driver's own prepared state */
} BDRVReopenState;

struct BlockDriver {
    const char *format_name;  /* "file", "raw", "qcow2" */
    size_t instance_size;     /* bs->opaque is g_malloc0'd to this size */
    bool is_protocol;         /* opens a filename itself (file) */
    /* A filter a job inserts (filter.h): no data of its own, every request
     * goes to its "file" child; never opened from options. */
    bool is_filter;
    /* The option naming the file child: "file" when NULL ("image" for
     * blkdebug). */
    const char *file_child_name;
    /* bdrv_flush (and bdrv_pwrite, unless there is bdrv_pwrite_flags) fails
     * with a negative errno, so -1 is EPERM (blkdebug's injected one), not
     * the -1 that io.c reads as EIO. */
    bool returns_errno;

    /*
     * Open: a protocol driver uses bs->filename, bs->read_only and
     * bs->cache_direct; a format driver reads its header through bs->file
     * (already open).  The core resolves the backing child after a
     * successful open (explicit reference, null, or the name the header
     * gives, from bdrv_get_backing_file) and sets bs->backing; a format
     * driver reads unallocated ranges from bs->backing when it is set.
     * @options are the node's remaining driver-specific options.
     */
    int (*bdrv_open)(BlockDriverState *bs, JsonObject *options,
                     GError **errp);
    void (*bdrv_close)(BlockDriverState *bs);

    /* Guest-visible size in bytes. */
    int64_t (*bdrv_getlength)(BlockDriverState *bs);

    /*
     * Read @bytes at @offset of this node's own data.  Ranges this layer does
     * not allocate are read from bs->backing (or zeroes) by the driver.
     */
    int (*bdrv_pread)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf, GError **errp);
    int (*bdrv_pwrite)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf, GError **errp);
    /*
     * Optional: the read of bdrv_pread, but only if it needs no waiting
     * (the data is in the page cache, no metadata to read): 0 when done,
     * -EAGAIN when not done (whatever the reason; errors show in the
     * bdrv_pread the caller makes then).
     */
    int (*bdrv_pread_nowait)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, void *buf);
    /*
     * Optional: a plain (not FUA) write done at once, without waiting for
     * anything (the disk, a lock, a turn): 0 when written, -EAGAIN when
     * not (nothing may be assumed written; the caller writes it all).
     */
    int (*bdrv_pwrite_nowait)(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, const void *buf);
    /*
     * Optional: a plain (not FUA) write queued without waiting: 0 when
     * queued, then @done(@opaque, 0 or -errno) is called once it is
     * written, on another thread; -EAGAIN when the caller must write
     * with bdrv_pwrite_flags instead.  @buf stays valid until @done.
     */
    int (*bdrv_pwrite_async)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, const void *buf,
                             BdrvWriteDoneFn *done, void *opaque);
    int (*bdrv_flush)(BlockDriverState *bs, GError **errp);
    /* Protocol drivers: resize the file. */
    int (*bdrv_truncate)(BlockDriverState *bs, int64_t size, GError **errp);

    /*
     * Is [offset, offset+bytes) allocated in this layer (not backing)?
     * Returns 1 allocated / 0 not, and *pnum the length of the run with that
     * state starting at @offset (> 0, <= bytes); -1 on error.
     */
    int (*bdrv_is_allocated)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, GError **errp);

    /*
     * For copy offload: does this layer keep [offset, offset+bytes) of its
     * own data as plain bytes of a file node, to read them (@write false)
     * or to overwrite them in place (@write true)?  1: in *leaf (a "file"
     * node) at *leaf_offset, for *pnum bytes (> 0, <= bytes); 0: not here
     * (unallocated, zero, compressed, past the end of the image file,
     * O_DIRECT, a format whose writes need more than the bytes); -1 on
     * error.  Optional: a driver without it never offloads.
     */
    int (*bdrv_map_file)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         bool write, BlockDriverState **leaf,
                         int64_t *leaf_offset, int64_t *pnum, GError **errp);

    /*
     * The flags API; optional, each returns 0 or a negative errno (and
     * errp).  Every driver callback may run on several threads at once.
     * - bdrv_pwrite_flags: a write that honours BDRV_REQ_FUA (durable on
     *   return).  Without it the core calls bdrv_pwrite, then bdrv_flush.
     * - bdrv_pwrite_zeroes: afterwards the range reads as zeroes.
     *   BDRV_REQ_MAY_UNMAP lets it deallocate (the core drops the flag on a
     *   node with discard=ignore).  -ENOTSUP: not cheaply here; the core
     *   then writes zero buffers, unless BDRV_REQ_NO_FALLBACK.  FUA is the
     *   core's (a flush after).
     * - bdrv_pdiscard: give the range's space back if it can (reads then
     *   return old data or zeroes); only called with discard=unmap.
     * - bdrv_block_status: for the run *pnum (> 0, <= bytes) from @offset,
     *   BDRV_BLOCK_ALLOCATED with DATA and/or ZERO when this layer decides
     *   what reads return, 0 when they fall through to bs->backing.
     *   Without it the core asks bdrv_is_allocated (DATA when allocated).
     */
    int (*bdrv_pwrite_flags)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, const void *buf, int flags,
                             GError **errp);
    /*
     * Optional, 0 or -1 and errp: copy-on-read's write, of only the parts
     * of the range this layer still does not allocate, atomically with
     * respect to other writes (what a guest wrote meanwhile stays).  With
     * it bdrv_copy_on_read needs no drained section.
     */
    int (*bdrv_pwrite_unallocated)(BlockDriverState *bs, int64_t offset,
                                   int64_t bytes, const void *buf,
                                   GError **errp);
    int (*bdrv_pwrite_zeroes)(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, int flags, GError **errp);
    int (*bdrv_pdiscard)(BlockDriverState *bs, int64_t offset, int64_t bytes,
                         GError **errp);
    int (*bdrv_block_status)(BlockDriverState *bs, int64_t offset,
                             int64_t bytes, int64_t *pnum, GError **errp);

    /* Reopen read-only <-> read-write: prepare may fail, leaving bs as is. */
    int (*bdrv_reopen_prepare)(BDRVReopenState *state, GError **errp);
    void (*bdrv_reopen_commit)(BDRVReopenState *state);
    void (*bdrv_reopen_abort)(BDRVReopenState *state);

    /* Format drivers: rewrite the backing file name in the image header. */
    int (*bdrv_change_backing_file)(BlockDriverState *bs,
                                    const char *backing_file,
                                    const char *backing_fmt, GError **errp);
    /* Format drivers: the backing name recorded in the header, or NULL. */
    const char *(*bdrv_get_backing_file)(BlockDriverState *bs);
    const char *(*bdrv_get_backing_format)(BlockDriverState *bs);
    /* Optional: ImageInfo's "format-specific" (new object) and
     * *cluster_size, for query-named-block-nodes. */
    struct ImageInfoSpecific *(*bdrv_get_specific_info)(BlockDriverState *bs,
                                          int64_t *cluster_size);

    /*
     * Permissions (perm.h): the node's parents now take @perm and share
     * @shared together.  Prepare may fail (a lock held elsewhere, no
     * read-write fd for auto-read-only), leaving the node as it was;
     * commit or abort follows.  Prepare may be called again before either:
     * the driver aborts what it prepared first.  Optional, all three.
     */
    int (*bdrv_perm_prepare)(BlockDriverState *bs, uint64_t perm,
                             uint64_t shared, GError **errp);
    void (*bdrv_perm_commit)(BlockDriverState *bs);
    void (*bdrv_perm_abort)(BlockDriverState *bs);
};

struct BlockDriverState {
    char *node_name;
    const BlockDriver *drv;
    void *opaque;             /* driver state, drv->instance_size bytes */
    char *filename;           /* file: as given (may be /dev/fdset/N) */
    bool read_only;
    bool cache_direct;
    int refcnt;               /* graph parents + users (jobs, drives) */
    BlockDriverState *file;   /* "file" child, or NULL */
    BlockDriverState *backing;/* "backing" child, or NULL */
    /* Requests and drained sections (io.c); see bdrv_drained_begin. */
    int in_flight;            /* atomic: requests running on this node */
    int async_writes;         /* atomic: bdrv_pwrite_async ones of them */
    int async_held;           /* atomic: >0 keeps new ones out meanwhile */
    int quiesce;              /* atomic: drained sections open */
    GThread *drainer;         /* the thread whose requests still go in */
    GMutex drain_lock;        /* protects the waits on drain_cond */
    GCond drain_cond;
    GRWLock write_hooks_lock; /* write_hooks: readers are the writes */
    GSList *write_hooks;      /* BdrvWriteHook *, write-hook.h */
    bool implicit;            /* created inline, deleted with its parent */
};

/* Set up and tear down a node's request accounting (node creation and
 * deletion; the node must be idle at cleanup). */
void bdrv_io_init(BlockDriverState *bs);
void bdrv_io_cleanup(BlockDriverState *bs);

/*
 * A drained section on @bs: begin waits until no request runs on @bs;
 * until the matching end, requests from other threads wait before they
 * start, while the calling thread's own requests go through (a flush at
 * close or reopen).  Sections nest.  The caller must not be inside a
 * request on @bs itself.
 */
void bdrv_drained_begin(BlockDriverState *bs);
void bdrv_drained_end(BlockDriverState *bs);

/* I/O on a node (io.c): checks, then the driver. -1 and errp on
 * error. */
int bdrv_pread(BlockDriverState *bs, int64_t offset, int64_t bytes, void *buf,
               GError **errp);
int bdrv_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                const void *buf, GError **errp);
/*
 * A read that never waits (for the disk, a drained section, a lock): 0
 * when done, -EAGAIN when the caller must bdrv_pread instead.  For a
 * server's fast path: what is in the page cache is answered in place.
 */
int bdrv_pread_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf);
/*
 * A write that never waits, done on this thread: 0 when written (hooks
 * and accounting as for bdrv_pwrite), -EAGAIN when the caller must write
 * another way (the node cannot, is read-only or drained, has a write hook
 * that must run before the write, or the data is not cached).  For a
 * server's fast path, as bdrv_pread_nowait.
 */
int bdrv_pwrite_nowait(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       const void *buf);
/*
 * A write that does not wait for its turn: 0 when queued (@done(@opaque,
 * 0 or -errno) is called when it is written, on another thread, and @buf
 * must stay valid until then), -EAGAIN when the caller must
 * bdrv_pwrite_flags instead (the node cannot, is drained, or has a write
 * hook that must run before the write).  Counts as a request on @bs
 * until @done: a drain waits for it.
 */
int bdrv_pwrite_async(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, BdrvWriteDoneFn *done, void *opaque);
/* 0, or a negative errno (-EIO when the driver did not tell) and errp: an
 * NBD client's flush gets ENOSPC as such. */
int bdrv_flush(BlockDriverState *bs, GError **errp);
/*
 * Copy-on-read for block-stream: fill the ranges of [offset, offset+bytes)
 * that @bs does not allocate itself with what its backing chain shows
 * there, never overwriting data written to @bs meanwhile.  @buf holds
 * @bytes; *copied gets the bytes written.  -1 and errp on error.
 */
int bdrv_copy_on_read(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      void *buf, int64_t *copied, GError **errp);

/* Request flags of bdrv_pwrite_flags and bdrv_pwrite_zeroes. */
#define BDRV_REQ_FUA          0x1 /* durable when the call returns */
#define BDRV_REQ_MAY_UNMAP    0x2 /* zeroes: the range may be deallocated */
#define BDRV_REQ_NO_FALLBACK  0x4 /* zeroes: fail with -ENOTSUP rather than
                                     write zero buffers */

/*
 * These return 0 or a negative errno (-EINVAL a bad range, -EPERM a
 * read-only node, -ENOTSUP, -EIO, -ENOSPC ...), with errp set.
 */
int bdrv_pwrite_flags(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      const void *buf, int flags, GError **errp);
int bdrv_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                       int flags, GError **errp);
/* Advisory: the range's data may be dropped (reads return old data or
 * zeroes). */
int bdrv_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  GError **errp);

/* bdrv_block_status's result bits. */
#define BDRV_BLOCK_DATA       0x1 /* reads return data (not known zero) */
#define BDRV_BLOCK_ZERO       0x2 /* reads return zeroes */
#define BDRV_BLOCK_ALLOCATED  0x4 /* some layer of the chain holds it */
/*
 * What reads of [offset, offset+bytes) of @bs (inside its length, bytes >
 * 0) return, for the run *pnum (> 0, <= bytes) starting at @offset that has
 * one status: BDRV_BLOCK_* bits, or a negative errno.  *depth: the layer
 * that holds it (1 = @bs itself, 2 its backing, ...), 0 when none does.
 */
int bdrv_block_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, int *depth, GError **errp);
int bdrv_truncate(BlockDriverState *bs, int64_t size, GError **errp);
/* The node's length in whole 512-byte sectors (QEMU's), or -errno. */
int64_t bdrv_getlength(BlockDriverState *bs);
/* The driver's exact length in bytes (a file's st_size), or -errno. */
int64_t bdrv_getlength_bytes(BlockDriverState *bs);
int bdrv_is_allocated(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      int64_t *pnum, GError **errp);
/* The driver's bdrv_map_file; 0 when it has none. */
int bdrv_map_file(BlockDriverState *bs, int64_t offset, int64_t bytes,
                  bool write, BlockDriverState **leaf, int64_t *leaf_offset,
                  int64_t *pnum, GError **errp);

/*
 * Copy [offset, offset+n) of @src's own data to the same range of @dst
 * inside the kernel (copy_file_range), for a prefix of @bytes where both
 * keep it as plain file bytes.  Returns n (> 0) when it copied, 0 when it
 * cannot here (the caller reads and writes instead), -1 and errp on error.
 */
int64_t bdrv_copy_range(BlockDriverState *src, BlockDriverState *dst,
                        int64_t offset, int64_t bytes, GError **errp);
/*
 * Start writing [offset, offset+bytes) of @bs back to disk without waiting
 * for it, where @bs keeps it as plain file bytes (else nothing): a long
 * copy then overlaps its writes to disk, and the final flush finds little
 * left to do.  A hint: failures are ignored.
 */
void bdrv_start_writeback(BlockDriverState *bs, int64_t offset, int64_t bytes);
void bdrv_file_start_writeback(BlockDriverState *bs, int64_t offset,
                               int64_t bytes);
/*
 * A "file" node written once and not read back here (a backup's target):
 * start writing back what is dirty and drop from the page cache what is
 * clean, so that later writes reuse those pages.  A hint, like the above.
 */
void bdrv_file_drop_behind(BlockDriverState *bs);
/* file-posix.c: the copy between two "file" nodes; 0 when the kernel
 * cannot do it for these files. */
int64_t bdrv_file_copy_range(BlockDriverState *src, int64_t src_offset,
                             BlockDriverState *dst, int64_t dst_offset,
                             int64_t bytes, GError **errp);

extern const BlockDriver bdrv_file;
extern const BlockDriver bdrv_raw;
extern const BlockDriver bdrv_qcow2;

#endif
