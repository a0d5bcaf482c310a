/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-stream: copy into an image what the layers below it, down to (not
 * including) base, allocate, then make base its backing image.
 *
 * The copy is copy-on-read in the image itself (bdrv_copy_on_read), so a
 * guest write made during the job is never overwritten.  A read-only image
 * is reopened read-write for the job through qemu_open (with /dev/fdset/N
 * the set needs an O_RDWR member) and read-only again at its end.  The
 * header's new backing name is @backing-file, else what the lowest streamed
 * layer's header called base; a /dev/fdset/ path is never recorded.
 * With filter-node-name a "copy-on-read" filter of that name sits above
 * the image while the job runs (filter.h), as in QEMU 7.2: the image's
 * exports and drive use it meanwhile.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/blockjob.h"
#include "block/filter.h"
#include "block/graph.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define STREAM_CHUNK (8 * 1024 * 1024)

typedef struct StreamJob {
    BlockJob common;
    BlockDriverState *top;
    BlockDriverState *base;       /* kept; NULL: the whole chain */
    BlockDriverState *above_base; /* the lowest streamed layer */
    char *backing_name;           /* for the header; NULL without base */
    char *filter_name;            /* filter-node-name, or NULL */
    BlockDriverState *filter;     /* while inserted */
    BlockdevOnError on_error;
    bool top_was_ro;
} StreamJob;

typedef struct StreamArgs {
    const char *job_id, *device, *base, *base_node, *backing_file, *bottom;
    const char *filter_node_name;
    int64_t speed;
    BlockdevOnError on_error;
    bool auto_finalize, auto_dismiss;
} StreamArgs;

/* ---- the worker ---- */

static int64_t stream_chunk_size(StreamJob *s)
{
    int64_t speed = s->common.speed;

    if (speed <= 0) {
        return STREAM_CHUNK;
    }
    return CLAMP(speed / 8, 64 * 1024, STREAM_CHUNK) & ~(int64_t)4095;
}

/* One chunk: 1 when data was copied, 0 when none was needed, -1 on error. */
static int stream_chunk(StreamJob *s, void *buf, int64_t off, int64_t *n,
                        GError **errp)
{
    int64_t copied;
    int ret;

    ret = bdrv_is_allocated(s->top, off, *n, n, errp);
    if (ret != 0) {
        return ret < 0 ? -1 : 0; /* the image has it already */
    }
    ret = bdrv_is_allocated_above(s->top->backing, s->base, off, *n, n, errp);
    if (ret <= 0) {
        return ret; /* the base (or nothing) shows through: keep it so */
    }
    return bdrv_copy_on_read(s->top, off, *n, buf, &copied, errp) < 0 ? -1 : 1;
}

static int stream_run(BlockJob *job, GError **errp)
{
    StreamJob *s = (StreamJob *)job;
    int64_t len = bdrv_getlength(s->top);
    int64_t chunk = stream_chunk_size(s);
    g_autofree void *buf = NULL;
    GError *ignored = NULL;
    int ret = 0;

    if (len < 0) {
        error_setg(errp, "Could not get the length of '%s'", s->top->node_name);
        return -1;
    }
    block_job_progress_set_total(job, len);
    buf = g_malloc(STREAM_CHUNK);
    for (int64_t off = 0, n; off < len; off += n) {
        GError *err = NULL;

        block_job_pause_point(job);
        if (block_job_is_cancelled(job)) {
            break;
        }
        n = MIN(chunk, len - off);
        ret = stream_chunk(s, buf, off, &n, &err);
        if (ret < 0) {
            /* "read" even when the copy's write failed, as QEMU 7.2 (its
             * stream copies by copy-on-read reads: measured) */
            BlockErrorAction act =
                block_job_error_action(job, s->on_error, true, err);

            if (act == BLOCK_ERROR_ACTION_STOP) {
                g_error_free(err);
                n = 0; /* retried after job-resume */
                continue;
            }
            if (act == BLOCK_ERROR_ACTION_REPORT) {
                g_clear_error(&ignored);
                g_propagate_error(errp, err);
                return -1;
            }
            /* ignore: go on, but fail at the end keeping the chain */
            if (!ignored) {
                ignored = err;
            } else {
                g_error_free(err);
            }
            n = MIN(chunk, len - off);
        }
        block_job_progress_update(job, n);
        if (ret > 0) {
            block_job_ratelimit(job, n);
        }
    }
    if (ignored) {
        g_propagate_error(errp, ignored);
        return -1;
    }
    if (block_job_is_cancelled(job)) {
        return 0;
    }
    return bdrv_flush(s->top, errp);
}

/* ---- completion, on the main loop ---- */

static int stream_prepare(BlockJob *job, GError **errp)
{
    StreamJob *s = (StreamJob *)job;
    const char *fmt = s->base ? s->base->drv->format_name : NULL;
    BdrvBackingMode mode = s->base ? BDRV_BACKING_EXPLICIT : BDRV_BACKING_NONE;
    g_autofree char *full = NULL;

    if (bdrv_change_backing_file(s->top, s->backing_name, fmt, errp) < 0) {
        return -1;
    }
    full = bdrv_backing_full_name(s->top);
    if (s->base && full && g_str_equal(full, s->base->filename)) {
        mode = BDRV_BACKING_HEADER;
    }
    return bdrv_set_backing(s->top, s->base, mode, errp) ? 0 : -1;
}

static void stream_clean(BlockJob *job)
{
    StreamJob *s = (StreamJob *)job;
    GError *err = NULL;

    block_job_drop_perms(job); /* the writer goes before read-only */
    if (s->filter) {
        block_job_remove_bdrv(job, s->filter);
        bdrv_filter_remove(g_steal_pointer(&s->filter));
    }
    if (s->top_was_ro &&
        !bdrv_reopen_set_read_only(s->top, true, false, &err)) {
        g_warning("Could not make '%s' read-only again: %s",
                  s->top->node_name, err->message);
        g_error_free(err);
    }
    g_free(s->backing_name);
    g_free(s->filter_name);
}

static const BlockJobDriver stream_driver = {
    .type = JOB_TYPE_STREAM,
    .instance_size = sizeof(StreamJob),
    .run = stream_run,
    .prepare = stream_prepare,
    .clean = stream_clean,
};

/* ---- block-stream ---- */

static bool stream_check_exclusive(const StreamArgs *a, GError **errp)
{
    const char *pair[2] = { NULL, NULL };

    if (a->base && a->base_node) {
        pair[0] = "base", pair[1] = "base-node";
    } else if (a->base && a->bottom) {
        pair[0] = "base", pair[1] = "bottom";
    } else if (a->bottom && a->base_node) {
        pair[0] = "bottom", pair[1] = "base-node";
    }
    if (pair[0]) {
        error_setg(errp, "'%s' and '%s' cannot be specified at the same time",
                   pair[0], pair[1]);
        return false;
    }
    return true;
}

/* A layer below @bs named by file name, as the chain's headers name it. */
static BlockDriverState *stream_find_backing(BlockDriverState *bs,
                                             const char *name)
{
    for (BlockDriverState *it = bdrv_backing_next(bs); it;
         it = bdrv_backing_next(it)) {
        g_autofree char *shown = bdrv_display_filename(it);
        g_autofree char *full = bdrv_backing_full_name(bs);
        const char *recorded = bs->drv->bdrv_get_backing_file
                                   ? bs->drv->bdrv_get_backing_file(bs)
                                   : NULL;

        if (g_str_equal(it->filename, name) || g_str_equal(shown, name) ||
            g_strcmp0(full, name) == 0 || g_strcmp0(recorded, name) == 0) {
            return it;
        }
        bs = it;
    }
    return NULL;
}

/* base / base-node / bottom to the node kept (NULL: none) and the lowest
 * streamed layer.  False with errp on a bad argument. */
static bool stream_find_base(BlockDriverState *bs, const StreamArgs *a,
                             BlockDriverState **base,
                             BlockDriverState **above_base, GError **errp)
{
    *base = NULL;
    if (a->base) {
        *base = stream_find_backing(bs, a->base);
        if (!*base) {
            error_setg(errp, "Can't find '%s' in the backing chain", a->base);
            return false;
        }
    } else if (a->base_node) {
        *base = bdrv_lookup_bs(NULL, a->base_node, errp);
        if (!*base) {
            return false;
        }
        if (!bdrv_chain_contains(bs, *base)) {
            error_setg(errp, "Node '%s' is not a backing image of '%s'",
                       a->base_node, a->device);
            return false;
        }
    } else if (a->bottom) {
        BlockDriverState *bottom = bdrv_lookup_bs(NULL, a->bottom, errp);

        if (!bottom) {
            return false;
        }
        if (!bdrv_chain_contains(bs, bottom)) {
            error_setg(errp, "Node '%s' is not in a chain starting from '%s'",
                       a->bottom, a->device);
            return false;
        }
        *base = bdrv_backing_next(bottom);
    }
    *above_base = *base ? bdrv_find_overlay(bs, *base) : bdrv_find_base(bs);
    return true;
}

static bool stream_check_busy(BlockDriverState *bs, BlockDriverState *base,
                              GError **errp)
{
    /* from @bs itself: a job's filter is busy too */
    for (BlockDriverState *it = bs; it && it != base;
         it = bdrv_backing_next(it)) {
        if (bdrv_node(it)->job) {
            error_setg(errp,
                       "Node '%s' is busy: block device is in use by "
                       "block job: %s",
                       it->node_name, block_job_type(bdrv_node(it)->job));
            return false;
        }
    }
    return true;
}

/* The header's name for base: never a /dev/fdset/ path. */
static char *stream_backing_name(const StreamArgs *a, BlockDriverState *bs,
                                 BlockDriverState *base,
                                 BlockDriverState *above_base, GError **errp)
{
    const char *name = a->backing_file;

    if (!base) {
        return NULL;
    }
    if (!name && above_base->drv->bdrv_get_backing_file) {
        name = above_base->drv->bdrv_get_backing_file(above_base);
    }
    if (!name || !*name) {
        name = base->filename;
    }
    if (g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        error_setg(errp,
                   "Cannot record '%s' as the backing file of '%s': "
                   "a /dev/fdset/ path only means something inside this "
                   "process; give 'backing-file'",
                   name, bdrv_device_or_node_name(bs));
        return NULL;
    }
    return g_strdup(name);
}

/*
 * Reference the nodes with QEMU 7.2's permissions and edges ("active
 * node" top, "intermediate node"s, "main node" the filter), make the
 * image writable, put the filter above it and the job's BlockBackend on
 * the filter.
 */
static bool stream_setup(StreamJob *s, GError **errp)
{
    BlockJob *job = &s->common;
    uint64_t basic = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    uint64_t shared = basic | BLK_PERM_WRITE;

    if (!block_job_add_bdrv(job, "active node", s->top, 0, shared, false,
                            errp)) {
        return false;
    }
    for (BlockDriverState *it = bdrv_backing_next(s->top); it && it != s->base;
         it = bdrv_backing_next(it)) {
        if (!block_job_add_bdrv(job, "intermediate node", it, 0, basic, false,
                                errp)) {
            return false;
        }
    }
    s->top_was_ro = s->top->read_only;
    if (!bdrv_reopen_set_read_only(s->top, false, true, errp)) {
        s->top_was_ro = false;
        return false;
    }
    /* QEMU 7.2 always inserts it: implicitly named without the user's */
    s->filter = bdrv_filter_insert(&bdrv_copy_on_read_filter, s->filter_name,
                                   s->top, errp);
    if (!s->filter) {
        return false;
    }
    /* the job holds the filter as its root: no other job on it, and
     * blockdev-del says "Node NAME is in use" (mirror's says "busy") */
    return block_job_add_bdrv(job, "main node", s->filter, 0, BLK_PERM_ALL,
                              true, errp) &&
           block_job_add_user(job, s->filter, BLK_PERM_CONSISTENT_READ,
                              shared, errp);
}

static const char *stream_job_id(const StreamArgs *a, BlockDriverState *bs)
{
    BlockBackend *blk;

    if (a->job_id) {
        return a->job_id;
    }
    blk = blk_by_root(bs);
    return blk ? blk->id : "";
}

static void stream_start(const StreamArgs *a, BlockDriverState *bs,
                         BlockDriverState *base, BlockDriverState *above_base,
                         GError **errp)
{
    g_autofree char *name = NULL;
    StreamJob *s;

    if (base) {
        name = stream_backing_name(a, bs, base, above_base, errp);
        if (!name) {
            return;
        }
    }
    s = (StreamJob *)block_job_create(stream_job_id(a, bs), &stream_driver,
                                      a->speed, a->auto_finalize,
                                      a->auto_dismiss, errp);
    if (!s) {
        return;
    }
    s->top = bs;
    s->base = base;
    s->above_base = above_base;
    s->on_error = a->on_error;
    s->backing_name = g_steal_pointer(&name);
    s->filter_name = g_strdup(a->filter_node_name);
    if (!stream_setup(s, errp)) {
        stream_clean(&s->common);
        block_job_early_fail(&s->common);
        return;
    }
    block_job_start(&s->common);
}

/* QEMU's checks, in its order, then the job. */
static void stream_run_checks(const StreamArgs *a, GError **errp)
{
    BlockDriverState *bs, *base, *above_base;

    if (!stream_check_exclusive(a, errp)) {
        return;
    }
    bs = bdrv_lookup_bs(a->device, a->device, errp);
    if (!bs || !stream_find_base(bs, a, &base, &above_base, errp) ||
        !stream_check_busy(bs, base, errp)) {
        return;
    }
    if (!base && a->backing_file) {
        error_setg(errp, "backing file specified, but streaming the entire "
                         "chain");
        return;
    }
    if (a->filter_node_name &&
        !bdrv_check_new_node_name(a->filter_node_name, errp)) {
        g_prefix_error(errp, "Could not create node: ");
        return;
    }
    stream_start(a, bs, base, above_base, errp);
}

void qmp_block_stream(bool has_job_id, const char *job_id, const char *device,
                      bool has_base, const char *base, bool has_base_node,
                      const char *base_node, bool has_backing_file,
                      const char *backing_file, bool has_bottom,
                      const char *bottom, bool has_speed, int64_t speed,
                      bool has_on_error, BlockdevOnError on_error,
                      bool has_filter_node_name, const char *filter_node_name,
                      bool has_auto_finalize, bool auto_finalize,
                      bool has_auto_dismiss, bool auto_dismiss, GError **errp)
{
    StreamArgs a = {
        .job_id = QAPI_OPT(has_job_id, job_id),
        .device = device,
        .base = QAPI_OPT(has_base, base),
        .base_node = QAPI_OPT(has_base_node, base_node),
        .backing_file = QAPI_OPT(has_backing_file, backing_file),
        .bottom = QAPI_OPT(has_bottom, bottom),
        .filter_node_name = QAPI_OPT(has_filter_node_name, filter_node_name),
        .speed = has_speed ? speed : 0,
        .on_error = has_on_error ? on_error : BLOCKDEV_ON_ERROR_REPORT,
        .auto_finalize = has_auto_finalize ? auto_finalize : true,
        .auto_dismiss = has_auto_dismiss ? auto_dismiss : true,
    };

    stream_run_checks(&a, errp);
}
