/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-create: a job of type "create" that formats a new image.
 *
 * On the main loop, when the command arrives: the options are checked,
 * the target opened (file: qemu_create on the path, normally
 * /dev/fdset/N) or looked up and taken with WRITE and RESIZE (qcow2: the
 * "file" node, reopened read-write by auto-read-only when it must).  What
 * fails there is kept and becomes the job's error, as QEMU reports it.
 * The worker thread writes.  It is no block job: no BLOCK_JOB_* events.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "block/blockjob.h"
#include "block/create.h"
#include "block/graph.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

#define CREATE_ZERO_CHUNK (1024 * 1024)

typedef struct CreateJob {
    BlockJob common;
    GError *setup_error; /* the job fails with it, or NULL */
    BlockdevDriver driver;
    /* file */
    int fd; /* from qemu_create, or -1 */
    char *filename;
    uint64_t size;
    PreallocMode prealloc;
    /* qcow2 */
    BlockDriverState *file; /* held by the job's child, or NULL */
    Qcow2CreatePlan *plan;
} CreateJob;

static int file_fill_zeroes(int fd, uint64_t size, GError **errp)
{
    g_autofree uint8_t *zero = g_malloc0(CREATE_ZERO_CHUNK);

    for (uint64_t off = 0; off < size;) {
        ssize_t n =
            pwrite(fd, zero, MIN(CREATE_ZERO_CHUNK, size - off), (off_t)off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg_errno(errp, n < 0 ? errno : EIO,
                             "Could not write zeros for preallocation");
            return -1;
        }
        off += (uint64_t)n;
    }
    return 0;
}

/* QEMU's order: drop the old contents, then reach the size. */
static int create_file_run(CreateJob *s, GError **errp)
{
    int err;

    if (ftruncate(s->fd, 0) < 0) {
        error_setg_errno(errp, errno, "Could not resize file");
        return -1;
    }
    switch (s->prealloc) {
    case PREALLOC_MODE_FALLOC:
        err = posix_fallocate(s->fd, 0, (off_t)s->size);
        if (err) {
            error_setg_errno(errp, err, "Could not preallocate new data");
            return -1;
        }
        break;
    case PREALLOC_MODE_FULL:
        if (file_fill_zeroes(s->fd, s->size, errp) < 0) {
            return -1;
        }
        break;
    default:
        if (ftruncate(s->fd, (off_t)s->size) < 0) {
            error_setg_errno(errp, errno, "Could not resize file");
            return -1;
        }
        break;
    }
    if (fdatasync(s->fd) < 0) {
        error_setg_errno(errp, errno, "Could not flush '%s'", s->filename);
        return -1;
    }
    return 0;
}

static int create_run(BlockJob *job, GError **errp)
{
    CreateJob *s = (CreateJob *)job;
    int ret;

    block_job_progress_set_total(job, 1);
    if (s->setup_error) {
        g_propagate_error(errp, g_steal_pointer(&s->setup_error));
        ret = -1;
    } else if (s->driver == BLOCKDEV_DRIVER_FILE) {
        ret = create_file_run(s, errp);
    } else {
        ret = qcow2_create_write(s->file, s->plan, errp);
    }
    block_job_progress_update(job, 1); /* QEMU shows 1/1 either way */
    return ret;
}

static void create_clean(BlockJob *job)
{
    CreateJob *s = (CreateJob *)job;

    if (s->fd >= 0) {
        qemu_close(s->fd); /* R5: a dup of the set's member */
        s->fd = -1;
    }
    g_clear_error(&s->setup_error);
    g_clear_pointer(&s->filename, g_free);
    g_clear_pointer(&s->plan, qcow2_create_plan_free);
    s->file = NULL; /* its child goes with the job's nodes */
}

static const BlockJobDriver create_job_driver = {
    .type = JOB_TYPE_CREATE,
    .instance_size = sizeof(CreateJob),
    .run = create_run,
    .clean = create_clean,
    .no_block_job_events = true,
};

static bool setup_file(CreateJob *s, BlockdevCreateOptionsFile *o,
                       GError **errp)
{
    PreallocMode mode =
        o->has_preallocation ? o->preallocation : PREALLOC_MODE_OFF;

    if (mode == PREALLOC_MODE_METADATA) {
        error_setg(errp, "Unsupported preallocation mode: %s",
                   PreallocMode_str(mode));
        return false;
    }
    if (o->size > INT64_MAX) {
        error_setg(errp, "Could not resize file: File too large");
        return false;
    }
    s->fd = qemu_create(o->filename, O_RDWR, 0644, errp);
    if (s->fd < 0) {
        return false;
    }
    s->filename = g_strdup(o->filename);
    s->size = o->size;
    s->prealloc = mode;
    return true;
}

static bool setup_qcow2(CreateJob *s, BlockdevCreateOptionsQcow2 *o,
                        GError **errp)
{
    BlockDriverState *bs;

    if (o->file->type != QTYPE_QSTRING) {
        error_setg(errp, "fdsetd's blockdev-create takes 'file' as the name "
                         "of an existing node; add it with blockdev-add "
                         "first");
        return false;
    }
    bs = bdrv_lookup_bs(o->file->u.reference, o->file->u.reference, errp);
    if (!bs) {
        return false;
    }
    s->plan = qcow2_create_plan(o, errp);
    if (!s->plan) {
        return false;
    }
    /* QEMU's create opens the node as a BlockBackend sharing all */
    if (!block_job_add_user(&s->common, bs, BLK_PERM_WRITE | BLK_PERM_RESIZE,
                            BLK_PERM_ALL, errp)) {
        return false;
    }
    s->file = bs;
    return true;
}

bool bdrv_create_job_start(const char *job_id, BlockdevCreateOptions *options,
                           GError **errp)
{
    CreateJob *s;
    bool ok;

    if (options->driver != BLOCKDEV_DRIVER_FILE &&
        options->driver != BLOCKDEV_DRIVER_QCOW2) {
        error_setg(errp, "Driver does not support blockdev-create");
        return false;
    }
    s = (CreateJob *)block_job_create(job_id, &create_job_driver, 0, true,
                                      false, errp);
    if (!s) {
        return false;
    }
    s->fd = -1;
    s->driver = options->driver;
    if (options->driver == BLOCKDEV_DRIVER_FILE) {
        ok = setup_file(s, &options->u.file, &s->setup_error);
    } else {
        ok = setup_qcow2(s, &options->u.qcow2, &s->setup_error);
    }
    g_assert(ok == (s->setup_error == NULL));
    block_job_start(&s->common);
    return true;
}

/* ---- a new image made on the main loop (drive-backup) ---- */

static bool format_raw(const char *filename, uint64_t size, GError **errp)
{
    QEMU_AUTO_FD int fd = qemu_create(filename, O_RDWR, 0644, errp);

    if (fd < 0) {
        return false;
    }
    /* QEMU's order: drop the old contents, then reach the size */
    if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
        error_setg_errno(errp, errno, "Could not resize file");
        return false;
    }
    return true;
}

static bool format_qcow2(const char *filename, uint64_t size,
                         const char *backing_file, const char *backing_fmt,
                         GError **errp)
{
    BlockdevCreateOptionsQcow2 o = {0};
    g_autoptr(JsonObject) opts = json_object_new();
    Qcow2CreatePlan *plan;
    BlockDriverState *file;
    int fd, ret;

    o.size = size;
    o.has_backing_file = backing_file != NULL;
    o.backing_file = (char *)backing_file;
    if (backing_fmt) {
        int fmt = qapi_enum_parse(&BlockdevDriver_lookup, backing_fmt, -1);

        o.has_backing_fmt = fmt >= 0;
        o.backing_fmt = o.has_backing_fmt ? fmt : 0;
    }
    plan = qcow2_create_plan(&o, errp);
    if (!plan) {
        return false;
    }
    fd = qemu_create(filename, O_RDWR, 0644, errp); /* a path may not exist */
    if (fd < 0) {
        qcow2_create_plan_free(plan);
        return false;
    }
    qemu_close(fd);
    json_object_set_string_member(opts, "driver", "file");
    json_object_set_string_member(opts, "filename", filename);
    file = bdrv_open_options(opts, errp);
    ret = file ? qcow2_create_write(file, plan, errp) : -1;
    if (file) {
        bdrv_unref(file);
    }
    qcow2_create_plan_free(plan);
    return ret == 0;
}

bool bdrv_format_new_image(const char *filename, const char *format,
                           uint64_t size, const char *backing_file,
                           const char *backing_fmt, GError **errp)
{
    if (g_str_equal(format, "qcow2")) {
        return format_qcow2(filename, size, backing_file, backing_fmt, errp);
    }
    if (!g_str_equal(format, "raw")) {
        error_setg(errp, "fdsetd creates qcow2 and raw images only: cannot "
                         "create '%s' as '%s'",
                   filename, format);
        return false;
    }
    if (backing_file) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   format);
        return false;
    }
    return format_raw(filename, size, errp);
}
