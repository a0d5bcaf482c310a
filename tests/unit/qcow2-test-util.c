/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for the qcow2 driver tests.  The nodes are built by hand (no
 * blockdev-add), over a test file driver that counts its calls so that the
 * tests can assert how the qcow2 driver batches its I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "qcow2-test-util.h"
#include "qemu/error.h"

static char *tmpdir;
static pid_t tmpdir_pid;

static void tq_cleanup(void)
{
    if (tmpdir && tmpdir_pid == getpid()) {
        g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);

        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", tmpdir);
        }
    }
}

char *tq_path(const char *name)
{
    if (!tmpdir || tmpdir_pid != getpid()) {
        tmpdir = g_dir_make_tmp("fdsetd-qcow2-XXXXXX", NULL);
        ck_assert_ptr_nonnull(tmpdir);
        if (!tmpdir_pid) {
            atexit(tq_cleanup);
        }
        tmpdir_pid = getpid();
    }
    return g_build_filename(tmpdir, name, NULL);
}

static int tq_vsh(char **out, const char *fmt, va_list ap)
{
    g_autofree char *cmd = g_strdup_vprintf(fmt, ap);
    g_autofree char *err = NULL;
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    int status = -1;

    GSpawnFlags flags = out ? G_SPAWN_DEFAULT : G_SPAWN_STDOUT_TO_DEV_NULL;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, flags, NULL, NULL, out, &err,
                      &status, NULL)) {
        return -1;
    }
    if (status != 0 && err && *err) {
        fprintf(stderr, "[%s] %s", cmd, err);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int tq_sh(char **out, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = tq_vsh(out, fmt, ap);
    va_end(ap);
    return ret;
}

void tq_sh_ok(const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = tq_vsh(NULL, fmt, ap);
    va_end(ap);
    ck_assert_int_eq(ret, 0);
}

bool tq_have_qemu(void)
{
    return tq_sh(NULL, "command -v qemu-img && command -v qemu-io") == 0;
}

/* ---- test file driver ---- */

static int tf_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                    void *buf, GError **errp)
{
    TestFile *tf = bs->opaque;
    ssize_t n = pread(tf->fd, buf, bytes, offset);

    tf->preads++;
    if (n != bytes) {
        error_setg(errp,
                   "test file: short read at %" PRId64 " (%" PRId64 " bytes)",
                   offset, bytes);
        return -1;
    }
    tf->bytes_read += bytes;
    return 0;
}

static int tf_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                     const void *buf, GError **errp)
{
    TestFile *tf = bs->opaque;
    ssize_t n = pwrite(tf->fd, buf, bytes, offset);

    tf->pwrites++;
    if (n != bytes) {
        error_setg_errno(errp, errno, "test file: write failed");
        return -1;
    }
    tf->bytes_written += bytes;
    return 0;
}

static int64_t tf_getlength(BlockDriverState *bs)
{
    TestFile *tf = bs->opaque;
    struct stat st;

    return fstat(tf->fd, &st) < 0 ? -1 : st.st_size;
}

static int tf_flush(BlockDriverState *bs, GError **errp)
{
    TestFile *tf = bs->opaque;

    return fdatasync(tf->fd);
}

const BlockDriver test_file_driver = {
    .format_name = "file",
    .instance_size = sizeof(TestFile),
    .is_protocol = true,
    .bdrv_pread = tf_pread,
    .bdrv_pwrite = tf_pwrite,
    .bdrv_getlength = tf_getlength,
    .bdrv_flush = tf_flush,
};

static BlockDriverState *tq_node(const BlockDriver *drv, const char *name,
                                 bool read_only)
{
    /* the block layer sees every node as a BdrvNode */
    BdrvNode *node = g_new0(BdrvNode, 1);
    BlockDriverState *bs = &node->bs;

    node->discard = "unmap"; /* discard and MAY_UNMAP reach the driver */
    bs->drv = drv;
    bs->opaque = g_malloc0(drv->instance_size);
    bs->node_name = g_strdup(name);
    bs->read_only = read_only;
    bs->refcnt = 1;
    bdrv_io_init(bs);
    g_rw_lock_init(&bs->write_hooks_lock);
    return bs;
}

BlockDriverState *tq_file_open(const char *path, bool read_only)
{
    BlockDriverState *bs = tq_node(&test_file_driver, "file", read_only);
    TestFile *tf = bs->opaque;

    bs->filename = g_strdup(path);
    tf->fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    ck_assert_msg(tf->fd >= 0, "open %s: %s", path, g_strerror(errno));
    return bs;
}

static BlockDriverState *tq_open_backing(BlockDriverState *bs, const char *path,
                                         GError **errp)
{
    const char *name = bs->drv->bdrv_get_backing_file(bs);
    const char *fmt = bs->drv->bdrv_get_backing_format(bs);
    g_autofree char *dir = g_path_get_dirname(path);
    g_autofree char *full = NULL;

    if (!name) {
        return NULL;
    }
    full = g_path_is_absolute(name) ? g_strdup(name)
                                    : g_build_filename(dir, name, NULL);
    if (fmt && strcmp(fmt, "qcow2") == 0) {
        return tq_qcow2_open(full, true, errp);
    }
    return tq_file_open(full, true);
}

BlockDriverState *tq_qcow2_open(const char *path, bool read_only, GError **errp)
{
    return tq_qcow2_open_opts(path, read_only, NULL, errp);
}

BlockDriverState *tq_qcow2_open_opts(const char *path, bool read_only,
                                     const char *json_opts, GError **errp)
{
    BlockDriverState *bs = tq_node(&bdrv_qcow2, "qcow2", read_only);
    g_autoptr(JsonNode) opts = NULL;
    GError *err = NULL;
    int ret;

    if (json_opts) {
        opts = json_from_string(json_opts, NULL);
        ck_assert_ptr_nonnull(opts);
    }
    bs->file = tq_file_open(path, read_only);
    ret = bdrv_qcow2.bdrv_open(bs, opts ? json_node_get_object(opts) : NULL,
                               errp);
    if (ret < 0) {
        bs->drv = NULL;
        tq_close(bs);
        return NULL;
    }
    bs->backing = tq_open_backing(bs, path, &err);
    if (err) {
        g_propagate_error(errp, err);
        tq_close(bs);
        return NULL;
    }
    return bs;
}

void tq_close(BlockDriverState *bs)
{
    if (!bs) {
        return;
    }
    /* as bdrv_delete: persistent bitmaps stored before the driver closes */
    bdrv_dirty_bitmaps_close(bs);
    if (bs->drv == &test_file_driver) {
        close(((TestFile *)bs->opaque)->fd);
    } else if (bs->drv && bs->drv->bdrv_close) {
        bs->drv->bdrv_close(bs);
    }
    tq_close(bs->backing);
    tq_close(bs->file);
    bdrv_io_cleanup(bs);
    g_rw_lock_clear(&bs->write_hooks_lock);
    g_free(bs->opaque);
    g_free(bs->node_name);
    g_free(bs->filename);
    g_free(bs);
}

TestFile *tq_stats(BlockDriverState *bs)
{
    return bs->file->opaque;
}

uint8_t *tq_raw_content(const char *img, size_t *len)
{
    g_autofree char *raw = g_strdup_printf("%s.raw", img);
    gchar *data = NULL;
    gsize n = 0;

    tq_sh_ok("qemu-img convert -O raw '%s' '%s'", img, raw);
    ck_assert(g_file_get_contents(raw, &data, &n, NULL));
    unlink(raw);
    *len = n;
    return (uint8_t *)data;
}

void tq_assert_check_clean(const char *img)
{
    g_autofree char *out = NULL;
    int ret = tq_sh(&out, "qemu-img check '%s' 2>&1", img);

    ck_assert_msg(ret == 0, "qemu-img check %s: exit %d\n%s", img, ret, out);
}

void tq_patch(const char *path, uint64_t offset, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, buf, len, offset), (ssize_t)len);
    close(fd);
}

void tq_patch_be32(const char *path, uint64_t offset, uint32_t v)
{
    v = GUINT32_TO_BE(v);
    tq_patch(path, offset, &v, sizeof(v));
}

void tq_patch_be64(const char *path, uint64_t offset, uint64_t v)
{
    v = GUINT64_TO_BE(v);
    tq_patch(path, offset, &v, sizeof(v));
}

uint64_t tq_peek_be64(const char *path, uint64_t offset)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    uint64_t v = 0;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &v, sizeof(v), offset), (ssize_t)sizeof(v));
    close(fd);
    return GUINT64_FROM_BE(v);
}

void tq_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;

    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = x;
    }
}
