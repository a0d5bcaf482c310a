/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 format driver: open/close, the BlockDriver table, flush, reopen and
 * backing file changes.  The format itself lives in qcow2-header.c (first
 * cluster), qcow2-refcount.c (allocation) and qcow2-cluster.c (guest I/O).
 *
 * What fdsetd refuses (with an error naming the feature): encryption,
 * external data files, extended L2 entries, unknown incompatible features,
 * compressed clusters (when a request meets one).  Images with internal
 * snapshots, persistent bitmaps, the dirty bit (lazy refcounts not repaired)
 * or the corrupt bit open read-only only.
 */
#include <errno.h>

#include "block/blkdebug.h"
#include "block/qcow2.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

/* Metadata cache budgets, in bytes, and bounds on the number of tables. */
#define QCOW2_L2_CACHE_BYTES (4 * 1024 * 1024)
#define QCOW2_RB_CACHE_BYTES (1024 * 1024)
#define QCOW2_CACHE_MIN_TABLES 4
#define QCOW2_CACHE_MAX_TABLES 1024

static const char *qcow2_name(BlockDriverState *bs)
{
    return bs->file && bs->file->filename ? bs->file->filename : "(qcow2)";
}

static void qcow2_free_state(BDRVQcow2State *s)
{
    qcow2_header_free(s);
    g_clear_pointer(&s->l1_table, g_free);
    g_clear_pointer(&s->reftable, g_free);
    g_clear_pointer(&s->l2_cache, qcow2_cache_free);
    g_clear_pointer(&s->rb_cache, qcow2_cache_free);
    g_clear_pointer(&s->metadata, g_hash_table_destroy);
    g_clear_pointer(&s->pending_frees, g_array_unref);
    qcow2_bitmaps_free(s);
    s->write_ready = false;
    g_assert(!s->allocs);
    g_mutex_clear(&s->lock);
    g_cond_clear(&s->alloc_cond);
}

static unsigned qcow2_cache_tables(BDRVQcow2State *s, uint64_t budget)
{
    return CLAMP(budget >> s->cluster_bits, QCOW2_CACHE_MIN_TABLES,
                 QCOW2_CACHE_MAX_TABLES);
}

/* A cache budget option in bytes, or @dflt when it is not given. */
static int qcow2_size_option(JsonObject *options, const char *name,
                             uint64_t dflt, uint64_t *out, GError **errp)
{
    JsonNode *node = options ? json_object_get_member(options, name) : NULL;

    *out = dflt;
    if (!node) {
        return 0;
    }
    if (json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 0) {
        error_setg(errp, "Parameter '%s' expects a size in bytes", name);
        return -1;
    }
    *out = json_node_get_int(node);
    return 0;
}

/*
 * The qcow2 options the core hands over.  The cache sizes are honoured;
 * the others tune QEMU features fdsetd does not have and are accepted.
 */
static int qcow2_check_options(JsonObject *options, GError **errp)
{
    static const char *const accepted[] = {
        "l2-cache-size",
        "l2-cache-entry-size",
        "refcount-cache-size",
        "cache-size",
        "cache-clean-interval",
        "lazy-refcounts",
        "pass-discard-request",
        "pass-discard-snapshot",
        "pass-discard-other",
        "overlap-check",
        NULL,
    };
    g_autoptr(GList) members = NULL;

    if (!options) {
        return 0;
    }
    members = json_object_get_members(options);
    for (GList *m = members; m; m = m->next) {
        const char *key = m->data;

        if (g_str_equal(key, "encrypt")) {
            error_setg(errp, "qcow2 encryption is not supported");
            return -1;
        }
        if (g_str_equal(key, "data-file")) {
            error_setg(errp, "qcow2 external data files are not supported");
            return -1;
        }
        if (!g_strv_contains(accepted, key)) {
            error_setg(errp, "Invalid parameter '%s'", key);
            return -1;
        }
    }
    return 0;
}

/* The metadata caches, sized by the options or the defaults. */
static int qcow2_create_caches(BlockDriverState *bs, JsonObject *options,
                               GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t l2_bytes, rb_bytes;

    if (qcow2_size_option(options, "l2-cache-size", QCOW2_L2_CACHE_BYTES,
                          &l2_bytes, errp) < 0 ||
        qcow2_size_option(options, "refcount-cache-size", QCOW2_RB_CACHE_BYTES,
                          &rb_bytes, errp) < 0) {
        return -1;
    }
    s->rb_cache = qcow2_cache_new(bs, s->cluster_size,
                                  qcow2_cache_tables(s, rb_bytes), NULL);
    s->l2_cache = qcow2_cache_new(bs, s->cluster_size,
                                  qcow2_cache_tables(s, l2_bytes), s->rb_cache);
    qcow2_cache_set_debug_event(s->rb_cache, BLKDBG_REFBLOCK_UPDATE_PART);
    qcow2_cache_set_debug_event(s->l2_cache, BLKDBG_L2_UPDATE);
    return 0;
}

static int qcow2_open(BlockDriverState *bs, JsonObject *options, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (!bs->file) {
        error_setg(errp, "qcow2 needs a 'file' child");
        return -1;
    }
    g_mutex_init(&s->lock);
    g_cond_init(&s->alloc_cond);
    if (qcow2_check_options(options, errp) < 0 ||
        qcow2_read_header(bs, errp) < 0) {
        goto fail;
    }
    if (!bs->read_only && s->ro_reason) {
        error_setg(errp, "%s", s->ro_reason);
        goto fail;
    }
    if (qcow2_create_caches(bs, options, errp) < 0 ||
        qcow2_l1_init(bs, errp) < 0 || qcow2_refcount_init(bs, errp) < 0 ||
        qcow2_load_dirty_bitmaps(bs, errp) < 0) {
        goto fail;
    }
    return 0;

fail:
    qcow2_free_state(s);
    return -1;
}

static void qcow2_close(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    g_autoptr(GError) err = NULL;

    if (s->write_ready && qcow2_writeback(bs, &err) < 0) {
        g_warning("qcow2 image '%s': metadata lost on close: %s",
                  qcow2_name(bs), err->message);
    }
    qcow2_free_state(s);
}

static int64_t qcow2_getlength(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->hdr.size;
}

/*
 * Before the first write: check the metadata layout and clear the
 * auto-clear feature bits fdsetd does not maintain.
 */
int qcow2_write_prepare(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;

    if (s->write_ready) {
        return 0;
    }
    if (s->ro_reason) {
        error_setg(errp, "%s", s->ro_reason);
        return -1;
    }
    if (!s->metadata && qcow2_build_metadata_map(bs, errp) < 0) {
        return -1;
    }
    /* the bitmaps bit stays while qcow2-bitmap.c keeps the extension */
    if (s->hdr.autoclear_features & ~(s->bitmap_clusters
                                          ? QCOW2_AUTOCLEAR_BITMAPS
                                          : 0)) {
        s->hdr.autoclear_features &=
            s->bitmap_clusters ? QCOW2_AUTOCLEAR_BITMAPS : 0;
        if (qcow2_write_header(bs, errp) < 0) {
            return -1;
        }
    }
    s->write_ready = true;
    return 0;
}

/* Writable, and the layout checked once (lock taken here). */
static int qcow2_check_write(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    if (bs->read_only) {
        error_setg(errp, "Cannot write to read-only qcow2 node '%s'",
                   bs->node_name ? bs->node_name : qcow2_name(bs));
        return -1;
    }
    qcow2_lock(s);
    ret = qcow2_write_prepare(bs, errp);
    qcow2_unlock(s);
    return ret;
}

static int qcow2_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        const void *buf, GError **errp)
{
    if (qcow2_check_write(bs, errp) < 0) {
        return -1;
    }
    return qcow2_write_data(bs, offset, bytes, buf, errp);
}

static int qcow2_pwrite_unallocated(BlockDriverState *bs, int64_t offset,
                                    int64_t bytes, const void *buf,
                                    GError **errp)
{
    if (qcow2_check_write(bs, errp) < 0) {
        return -1;
    }
    return qcow2_write_unallocated(bs, offset, bytes, buf, errp);
}

/* Metadata caches to the file, then the file to disk. */
static int qcow2_flush(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_take_write_errno(); /* start clean */
    qcow2_lock(s);
    ret = qcow2_writeback(bs, errp);
    qcow2_unlock(s);
    if (ret < 0) {
        return -qcow2_take_write_errno();
    }
    bdrv_debug_event(bs->file, BLKDBG_FLUSH_TO_DISK);
    return bdrv_flush(bs->file, errp); /* 0 or a negative errno */
}

static int qcow2_pwrite_flags(BlockDriverState *bs, int64_t offset,
                              int64_t bytes, const void *buf, int flags,
                              GError **errp)
{
    qcow2_take_write_errno(); /* start clean */
    if (qcow2_pwrite(bs, offset, bytes, buf, errp) < 0) {
        return -qcow2_take_write_errno();
    }
    return flags & BDRV_REQ_FUA ? qcow2_flush(bs, errp) : 0;
}

static int qcow2_pwrite_zeroes_checked(BlockDriverState *bs, int64_t offset,
                                       int64_t bytes, int flags,
                                       GError **errp)
{
    int ret;

    if (qcow2_check_write(bs, errp) < 0) {
        return -EIO;
    }
    qcow2_take_write_errno();
    ret = qcow2_pwrite_zeroes(bs, offset, bytes, flags, errp);
    return ret == -EIO ? -qcow2_take_write_errno() : ret;
}

/* Runs drained (io.c); the lock is for the functions it calls. */
static int qcow2_truncate_locked(BlockDriverState *bs, int64_t size,
                                 GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_lock(s);
    ret = qcow2_truncate(bs, size, errp);
    qcow2_unlock(s);
    return ret;
}

static int qcow2_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    BlockDriverState *bs = state->bs;
    BDRVQcow2State *s = bs->opaque;

    if (!state->read_only && s->ro_reason) {
        error_setg(errp, "%s", s->ro_reason);
        return -1;
    }
    if (state->read_only && !bs->read_only) {
        int ret;

        qcow2_lock(s);
        ret = qcow2_writeback(bs, errp);
        qcow2_unlock(s);
        return ret;
    }
    return 0;
}

static void qcow2_reopen_commit(BDRVReopenState *state)
{
}

static void qcow2_reopen_abort(BDRVReopenState *state)
{
}

static int qcow2_check_backing_args(BlockDriverState *bs,
                                    const char *backing_file,
                                    const char *backing_fmt, GError **errp)
{
    if (bs->read_only) {
        error_setg(errp,
                   "Cannot change the backing file of read-only qcow2 "
                   "image '%s'",
                   qcow2_name(bs));
        return -1;
    }
    if (backing_file && g_str_has_prefix(backing_file, FDSET_PATH_PREFIX)) {
        error_setg(errp,
                   "Backing file name '%s' is an fdset path, which "
                   "other programs cannot open",
                   backing_file);
        return -1;
    }
    if (backing_file && strlen(backing_file) > QCOW2_MAX_BACKING_NAME) {
        error_setg(errp, "Backing file name too long (%zu bytes, at most %d)",
                   strlen(backing_file), QCOW2_MAX_BACKING_NAME);
        return -1;
    }
    if (backing_fmt && strlen(backing_fmt) > QCOW2_MAX_BACKING_FMT) {
        error_setg(errp, "Backing format name '%s' too long", backing_fmt);
        return -1;
    }
    return 0;
}

static int qcow2_change_backing_file_locked(BlockDriverState *bs,
                                            const char *backing_file,
                                            const char *backing_fmt,
                                            GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    char *old_file = s->backing_file, *old_fmt = s->backing_format;

    if (qcow2_check_backing_args(bs, backing_file, backing_fmt, errp) < 0 ||
        qcow2_write_prepare(bs, errp) < 0 ||
        qcow2_flush_metadata(bs, errp) < 0) {
        return -1;
    }
    if (backing_file && !*backing_file) {
        backing_file = NULL;
    }
    s->backing_file = g_strdup(backing_file);
    s->backing_format = backing_file && backing_fmt && *backing_fmt
                            ? g_strdup(backing_fmt)
                            : NULL;
    if (qcow2_write_header(bs, errp) < 0) {
        g_free(s->backing_file);
        g_free(s->backing_format);
        s->backing_file = old_file;
        s->backing_format = old_fmt;
        return -1;
    }
    g_free(old_file);
    g_free(old_fmt);
    return 0;
}

/* Runs drained (block.c); the lock is for the functions it calls. */
static int qcow2_change_backing_file(BlockDriverState *bs,
                                     const char *backing_file,
                                     const char *backing_fmt, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int ret;

    qcow2_lock(s);
    ret = qcow2_change_backing_file_locked(bs, backing_file, backing_fmt,
                                           errp);
    qcow2_unlock(s);
    return ret;
}

static const char *qcow2_get_backing_file(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->backing_file;
}

static const char *qcow2_get_backing_format(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;

    return s->backing_format;
}

const BlockDriver bdrv_qcow2 = {
    .format_name = "qcow2",
    .instance_size = sizeof(BDRVQcow2State),
    .returns_errno = true, /* qcow2_flush's; writes have the flags API */
    .is_protocol = false,
    .bdrv_open = qcow2_open,
    .bdrv_close = qcow2_close,
    .bdrv_getlength = qcow2_getlength,
    .bdrv_pread = qcow2_read_data,
    .bdrv_pread_nowait = qcow2_read_nowait,
    .bdrv_pwrite = qcow2_pwrite,
    .bdrv_pwrite_flags = qcow2_pwrite_flags,
    .bdrv_pwrite_nowait = qcow2_write_nowait,
    .bdrv_pwrite_async = qcow2_write_async,
    .bdrv_pwrite_unallocated = qcow2_pwrite_unallocated,
    .bdrv_block_status = qcow2_block_status,
    .bdrv_pwrite_zeroes = qcow2_pwrite_zeroes_checked,
    .bdrv_pdiscard = qcow2_pdiscard,
    .bdrv_flush = qcow2_flush,
    .bdrv_truncate = qcow2_truncate_locked,
    .bdrv_is_allocated = qcow2_allocation_status,
    .bdrv_map_file = qcow2_map_file,
    .bdrv_reopen_prepare = qcow2_reopen_prepare,
    .bdrv_reopen_commit = qcow2_reopen_commit,
    .bdrv_reopen_abort = qcow2_reopen_abort,
    .bdrv_change_backing_file = qcow2_change_backing_file,
    .bdrv_get_backing_file = qcow2_get_backing_file,
    .bdrv_get_backing_format = qcow2_get_backing_format,
    .bdrv_get_specific_info = qcow2_get_specific_info,
};
