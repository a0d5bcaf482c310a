/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy engine of the copying jobs (mirror, backup): it copies the
 * dirty ranges of a map from a source node to the same offsets of a
 * target node, with several chunks in flight on worker threads.
 * Contiguous dirty granules go out as one request of up to max_chunk
 * bytes; what the source reads as zeroes is written to the target as
 * zeroes (no data read); where both sides keep plain file bytes the kernel
 * copies them (copy_file_range).
 *
 * Ordering: a range is never copied by two requests at once.  A chunk's
 * bits are cleared when it starts and set again if it fails; a chunk that
 * would overlap one in flight waits.  So a copy that started later (it
 * read newer data) can never be overtaken by an older one, and a writer
 * that sets bits after its write landed (mirror) always gets its range
 * copied again.
 *
 * Threads: copy_engine_run() is the job's worker; copy_engine_copy_now()
 * may be called from any thread (the write hooks, in the guest's); the
 * rest from the thread that owns the engine.  One mutex guards the maps;
 * a point-in-time engine with deferred writes also keeps an atomic map of
 * the granules already read, so that a copy-before-write over those (most
 * guest writes once a backup is under way) takes no lock at all.
 */
#ifndef BLOCK_COPY_ENGINE_H
#define BLOCK_COPY_ENGINE_H

#include "block/blockjob.h"
#include "qemu/hbitmap.h"

typedef struct CopyEngine CopyEngine;

typedef struct CopyEngineConfig {
    BlockDriverState *source, *target;
    int64_t len;          /* bytes of the source to consider */
    int64_t granularity;  /* of the dirty map, a power of 2 */
    int64_t max_chunk;    /* largest request (rounded to granularity) */
    int max_in_flight;    /* chunks at once (worker threads) */
    /*
     * Wrap: copy_engine_run() goes back to the start of the map when it
     * reaches its end (mirror: ranges dirtied behind it get copied).
     * Without, one pass: a range that failed and was left behind (error
     * policy "ignore") stays dirty and uncopied.
     */
    bool wrap;
    /*
     * Image fleecing: the target's backing is the source and clients read
     * the target (a pull backup's scratch node).  A copy-before-write
     * drains the target around its copy, so that no read of the target
     * that fell through to the source is still in flight when the guest's
     * write lands (QEMU serialises these copies for the same reason).
     */
    bool fleecing;
    /*
     * Point in time (backup): what a chunk read is what the target must
     * get, even if the source changes after the read (copy-before-write
     * waits only for reads).  A chunk whose write fails keeps its data
     * and is written again, never read again.
     */
    bool point_in_time;
    /*
     * A copy-before-write only reads in the guest's thread and leaves the
     * write to the pool (up to 32 MiB of such data at a time); a failed
     * one is the worker's to handle, so copy_engine_run() must be running
     * (or the map clean) while the hooks copy.
     */
    bool defer_cbw;
    /*
     * A copy-before-write copies every granule still to copy in the
     * aligned window of this many bytes around the write (0: only the
     * write's granules).  Why: a guest writing at random during a full
     * backup needs a copy for nearly every write; one per 64 KiB cluster
     * costs more in per-copy overhead (locks, wake-ups, allocation) than
     * in bytes, and larger windows cover the disk in fewer copies.
     */
    int64_t cbw_window;
    /*
     * The target is written once and not read back here (not fleecing):
     * the periodic writeback hint drops its clean pages too
     * (bdrv_file_drop_behind).
     */
    bool drop_behind;
    BlockdevOnError on_source_error, on_target_error;
    /* Called after each copied range (any thread, no lock held). */
    void (*copied)(void *opaque, int64_t bytes);
    /* copy_engine_run() returns when this says so (default: cancel). */
    bool (*should_stop)(BlockJob *job);
    void *opaque;
} CopyEngineConfig;

/* An engine with an empty dirty map.  The nodes are borrowed: the job
 * holds them for the engine's life. */
CopyEngine *copy_engine_new(const CopyEngineConfig *cfg);
/* Waits for the chunks in flight, then frees; NULL is fine. */
void copy_engine_free(CopyEngine *e);

void copy_engine_set_dirty(CopyEngine *e, int64_t offset, int64_t bytes);
void copy_engine_reset_dirty(CopyEngine *e, int64_t offset, int64_t bytes);
/* @hb (same length, any granularity) joins the dirty map. */
void copy_engine_merge_dirty(CopyEngine *e, const HBitmap *hb);
/* A copy of the dirty map, chunks in flight counted as dirty: what is
 * not copied yet. */
HBitmap *copy_engine_dirty_copy(CopyEngine *e);
/* Dirty bytes plus the bytes of the chunks in flight. */
int64_t copy_engine_pending(CopyEngine *e);
/* The job flushed the target: with drop_behind, its pages leave the
 * page cache. */
void copy_engine_target_flushed(CopyEngine *e);

/*
 * The worker: copy the dirty map until it is clean (one pass without
 * wrap) with max_in_flight chunks at once, honouring the job's speed,
 * pause points (nothing in flight while parked) and the on-error
 * policies (report fails, stop parks the job then retries, ignore leaves
 * the range dirty).  0 when clean, 1 when should_stop said stop (nothing
 * in flight any more), -1 with errp when an error is reported.
 */
int copy_engine_run(CopyEngine *e, BlockJob *job, GError **errp);

/*
 * Copy [offset, offset+bytes) (widened to granules) now, in the calling
 * thread, after the chunks in flight over it: with @dirty_only just the
 * granules still dirty (copy-before-write: with point_in_time it waits
 * only for the reads in flight, with defer_cbw the pool may do the
 * writes), else all of them (a mirror's write-blocking copy).  Their bits
 * are cleared; on failure they are set again and -1 comes back with errp.
 */
/* Would copy_engine_copy_now(@e, @offset, @bytes, true) return 0 at once,
 * without a lock (the old data of the range was read, or it is outside
 * the copy)?  A lock-free look: the answer may go stale at once, as the
 * same look inside copy_engine_copy_now may. */
bool copy_engine_cbw_is_noop(CopyEngine *e, int64_t offset, int64_t bytes);
int copy_engine_copy_now(CopyEngine *e, int64_t offset, int64_t bytes,
                         bool dirty_only, GError **errp);

#endif
