/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Full filesystems: images on a small tmpfs (needs root to mount; skipped
 * with a message otherwise) filled by guest-like writes (qemu-io over HMP,
 * and an NBD client), by commit, stream and mirror jobs and by
 * blockdev-create.  The failing request or job reports ENOSPC, the
 * daemon and the node stay usable, everything flushed before reads back,
 * the image passes qemu-img check (leaked clusters allowed, as in QEMU),
 * and once space is freed the same node takes the write it refused.
 */
#include <sched.h>
#include <sys/mount.h>

#include "block-qtest.h"

#define ENOSPC_TEXT "No space left on device"

/* tmpfs of @size at scratch dir "mnt", with a @filler_mb MiB file in it
 * (removed to free space); false, with a message, when not root. */
static bool mount_small(BlockFixture *f, const char *size, int filler_mb)
{
    g_autofree char *mnt = bq_path(f, "mnt");
    g_autofree char *opts = g_strdup_printf("size=%s", size);

    if (geteuid() != 0) {
        fprintf(stderr, "SKIP: mounting a tmpfs needs root\n");
        return false;
    }
    ck_assert_int_eq(g_mkdir_with_parents(mnt, 0700), 0);
    /* a mount namespace of this test's process (check forks one per test):
     * the tmpfs goes away with it, even when the test fails half-way, and
     * nobody else sees it */
    ck_assert_msg(unshare(CLONE_NEWNS) == 0, "unshare: %s", g_strerror(errno));
    ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    ck_assert_msg(mount("tmpfs", mnt, "tmpfs", 0, opts) == 0, "mount %s: %s",
                  mnt, g_strerror(errno));
    g_free(bq_sh(f, "dd if=/dev/zero of=mnt/filler bs=1M count=%d "
                    "status=none",
                 filler_mb));
    return true;
}

/* The daemon may still hold fds into it: detach lazily. */
static void unmount_small(BlockFixture *f)
{
    g_autofree char *mnt = bq_path(f, "mnt");

    ck_assert_int_eq(umount2(mnt, MNT_DETACH), 0);
}

/* -U: the image may still be open (and locked) in the daemon. */
static void image_ok(BlockFixture *f, const char *name)
{
    int rc = bq_sh_status(f, "qemu-img check -U -q %s", name);

    ck_assert_msg(rc == 0 || rc == 3, "qemu-img check %s: exit %d", name, rc);
}

static char *qemu_io(QTestConn *c, const char *node, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static char *qemu_io(QTestConn *c, const char *node, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autofree char *line = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    line = g_strdup_printf("qemu-io %s \"%s\"", node, cmd);
    return bq_hmp(c, line);
}

/* 1 MiB writes with a flush after each until the disk is full. */
static int fill_with_writes(QTestConn *c)
{
    for (int i = 0; i < 32; i++) {
        g_autofree char *out = qemu_io(c, "q", "write -P %d %dM 1M", i + 1, i);
        g_autofree char *fl = NULL;

        if (strstr(out, "failed")) {
            ck_assert_msg(strstr(out, ENOSPC_TEXT), "write %d: %s", i, out);
            return i;
        }
        fl = qemu_io(c, "q", "flush");
        if (*fl) {
            ck_assert_msg(strstr(fl, ENOSPC_TEXT), "flush %d: %s", i, fl);
            return i; /* this one is not known to be durable */
        }
    }
    ck_abort_msg("the disk never filled up");
    return -1;
}

START_TEST(test_guest_writes_fill_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;
    int full;

    if (!mount_small(&f, "8m", 3)) {
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 mnt/a.qcow2 64M"));
    bq_add_fd(&f, f.c, "mnt/a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    full = fill_with_writes(f.c);
    ck_assert_int_ge(full, 2);
    /* the node still serves what was flushed */
    for (int i = 0; i < full; i++) {
        g_autofree char *r = qemu_io(f.c, "q", "read -P %d %dM 1M", i + 1, i);

        ck_assert_msg(g_str_has_prefix(r, "read 1048576/"), "%d: %s", i, r);
    }
    /* room again: the same node takes the refused write */
    g_free(bq_sh(&f, "rm mnt/filler"));
    out = qemu_io(f.c, "q", "write -P %d %dM 1M", full + 1, full);
    ck_assert_msg(g_str_has_prefix(out, "wrote 1048576/"), "%s", out);
    g_free(out);
    out = qemu_io(f.c, "q", "flush");
    ck_assert_str_eq(out, "");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'q'}}");
    image_ok(&f, "mnt/a.qcow2");
    for (int i = 0; i <= full; i++) {
        g_autofree char *r = bq_sh(&f, "qemu-io -r -f qcow2 -c 'read -P %d "
                                       "%dM 1M' mnt/a.qcow2",
                                   i + 1, i);

        ck_assert_msg(!strstr(r, "failed"), "%d: %s", i, r);
    }
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

/* base (on the tmpfs) <- mid (4 MiB of data) <- top; commit mid into
 * base. */
static void open_chain(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f qcow2 mnt/base.qcow2 16M && "
                    "qemu-img create -q -f qcow2 -b mnt/base.qcow2 -F qcow2 "
                    "mid.qcow2 && qemu-io -f qcow2 -c 'write -P 0x5a 0 4M' "
                    "mid.qcow2 >/dev/null && qemu-img create -q -f qcow2 "
                    "-b mid.qcow2 -F qcow2 top.qcow2"));
    bq_add_fd(f, f->c, "mnt/base.qcow2", O_RDONLY, 0);
    bq_add_fd(f, f->c, "mnt/base.qcow2", O_RDWR, 0);
    bq_add_fd(f, f->c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(f, f->c, "top.qcow2", O_RDWR, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'base', 'read-only': true, 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
                "'base', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/1'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'top', 'backing': 'mid', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
}

/* The job's BLOCK_JOB_COMPLETED error, or NULL (new string). */
static char *commit_mid(BlockFixture *f, const char *id)
{
    JsonNode *keep;
    JsonObject *d;
    char *err;

    bq_ok(f->c, "{'execute': 'block-commit', 'arguments': {'job-id': '%s', "
                "'device': 'top', 'top-node': 'mid', 'base-node': 'base'}}",
          id);
    d = bq_event(f->c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    err = g_strdup(json_object_get_string_member_with_default(d, "error",
                                                               NULL));
    json_node_unref(keep);
    bq_wait_status(f->c, id, "null");
    return err;
}

START_TEST(test_commit_fills_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *err = NULL;
    g_autofree char *out = NULL;

    if (!mount_small(&f, "8m", 5)) {
        bq_finish(&f);
        return;
    }
    open_chain(&f);
    err = commit_mid(&f, "c1");
    ck_assert_msg(err && strstr(err, ENOSPC_TEXT), "commit: %s",
                  err ? err : "no error");
    /* the chain through top still reads mid's data; base is sound */
    out = qemu_io(f.c, "top", "read -P 0x5a 0 4M");
    ck_assert_msg(g_str_has_prefix(out, "read 4194304/"), "%s", out);
    image_ok(&f, "mnt/base.qcow2");
    g_free(bq_sh(&f, "rm mnt/filler"));
    g_free(err);
    err = commit_mid(&f, "c2");
    ck_assert_msg(!err, "second commit: %s", err);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'top'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'mid'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'base'}}");
    image_ok(&f, "mnt/base.qcow2");
    g_free(out);
    out = bq_sh(&f, "qemu-io -r -f qcow2 -c 'read -P 0x5a 0 4M' "
                    "mnt/base.qcow2");
    ck_assert_msg(!strstr(out, "failed"), "%s", out);
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

/* top (on the tmpfs) <- base (4 MiB of data); stream base into top. */
START_TEST(test_stream_fills_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;
    JsonNode *keep;
    JsonObject *d;

    if (!mount_small(&f, "8m", 5)) {
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 base.qcow2 16M && "
                     "qemu-io -f qcow2 -c 'write -P 0x6b 0 4M' base.qcow2 "
                     ">/dev/null && qemu-img create -q -f qcow2 -b "
                     "$PWD/base.qcow2 -F qcow2 mnt/top.qcow2"));
    bq_add_fd(&f, f.c, "base.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "mnt/top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'base', 'read-only': true, 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'job-id': 's1', "
               "'device': 'top'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    ck_assert_msg(strstr(json_object_get_string_member_with_default(
                             d, "error", ""),
                         ENOSPC_TEXT),
                  "stream did not fail with ENOSPC");
    json_node_unref(keep);
    bq_wait_status(f.c, "s1", "null");
    out = qemu_io(f.c, "top", "read -P 0x6b 0 4M");
    ck_assert_msg(g_str_has_prefix(out, "read 4194304/"), "%s", out);
    image_ok(&f, "mnt/top.qcow2");
    g_free(bq_sh(&f, "rm mnt/filler"));
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'job-id': 's2', "
               "'device': 'top'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    ck_assert(!json_object_has_member(d, "error"));
    json_node_unref(keep);
    bq_wait_status(f.c, "s2", "null");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'top'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'base'}}");
    image_ok(&f, "mnt/top.qcow2");
    g_free(out);
    /* no backing file named any more: the data is top's own */
    out = bq_sh(&f, "qemu-img info mnt/top.qcow2 | grep -c '^backing file' "
                    "|| true; qemu-io -r -f qcow2 -c 'read -P 0x6b 0 4M' "
                    "mnt/top.qcow2");
    ck_assert_msg(g_str_has_prefix(out, "0\n") && !strstr(out, "failed"),
                  "%s", out);
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

/* The first job's field @name (new string, NULL when absent). */
static char *job_field(QTestConn *c, const char *type, const char *name)
{
    g_autofree char *cmd =
        g_strdup_printf("{'execute': 'query-%s'}", type);
    JsonNode *r = qtest_qmp(c, cmd);
    JsonArray *jobs = qtest_return_array(r);
    JsonObject *j;
    char *v = NULL;

    ck_assert_int_ge(json_array_get_length(jobs), 1);
    j = json_array_get_object_element(jobs, 0);
    if (json_object_has_member(j, name)) {
        v = g_strdup(json_object_get_string_member(j, name));
    }
    json_node_unref(r);
    return v;
}

/* QEMU 7.2 sends no BLOCK_IO_ERROR for an export's (or HMP qemu-io's)
 * failed write: measured (tests/fault/compare-qemu-errors.py). */
static void assert_no_io_error_event(QTestConn *c)
{
    JsonNode *ev = qtest_event_wait(c, "BLOCK_IO_ERROR", 200);

    ck_assert_msg(!ev, "BLOCK_IO_ERROR sent");
}

/*
 * A guest writing over NBD (libnbd) until the disk is full: the error
 * reaches it as NBD's ENOSPC, on the write or on the flush that writes the
 * metadata back; everything flushed before reads back on the same
 * connection; the server takes a new client, and once space is freed the
 * refused write.
 */
#define NBD_FILL_PY                                                         \
    "/usr/bin/python3 - <<'EOF'\n"                                          \
    "import nbd\n"                                                          \
    "h = nbd.NBD()\n"                                                       \
    "h.connect_uri('nbd+unix:///q?socket=nbd.sock')\n"                      \
    "for i in range(32):\n"                                                 \
    "    try:\n"                                                            \
    "        h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)\n"               \
    "        h.flush()\n"                                                   \
    "    except nbd.Error as e:\n"                                          \
    "        print(i, e.errno)\n"                                           \
    "        break\n"                                                       \
    "for j in range(i):\n"                                                  \
    "    assert h.pread(1 << 20, j << 20) == bytes([j + 1]) * (1 << 20)\n"  \
    "print('read back', i)\n"                                               \
    "EOF"

#define NBD_REFILL_PY                                                       \
    "/usr/bin/python3 - %d <<'EOF'\n"                                       \
    "import nbd, sys\n"                                                     \
    "i = int(sys.argv[1])\n"                                                \
    "h = nbd.NBD()\n"                                                       \
    "h.connect_uri('nbd+unix:///q?socket=nbd.sock')\n"                      \
    "h.pwrite(bytes([i + 1]) * (1 << 20), i << 20)\n"                       \
    "h.flush()\n"                                                           \
    "print('ok')\n"                                                         \
    "EOF"

START_TEST(test_nbd_writes_fill_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *sock = NULL;
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;
    int full = -1;

    if (!mount_small(&f, "8m", 3)) {
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 mnt/a.qcow2 64M"));
    bq_add_fd(&f, f.c, "mnt/a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    sock = bq_path(&f, "nbd.sock");
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}}}", sock);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
               "'id': 'e0', 'node-name': 'q', 'writable': true}}");
    out = bq_sh(&f, NBD_FILL_PY);
    ck_assert_msg(sscanf(out, "%d ENOSPC\n", &full) == 1 && full >= 2,
                  "%s", out);
    want = g_strdup_printf("%d ENOSPC\nread back %d\n", full, full);
    ck_assert_str_eq(out, want);
    assert_no_io_error_event(f.c);
    g_free(bq_sh(&f, "rm mnt/filler"));
    g_free(out);
    out = bq_sh(&f, NBD_REFILL_PY, full);
    ck_assert_str_eq(out, "ok\n");
    bq_ok(f.c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0'}}");
    bq_expect_event(f.c, "BLOCK_EXPORT_DELETED", 10000);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'q'}}");
    image_ok(&f, "mnt/a.qcow2");
    for (int i = 0; i <= full; i++) {
        g_autofree char *r = bq_sh(&f, "qemu-io -r -f qcow2 -c 'read -P %d "
                                       "%dM 1M' mnt/a.qcow2",
                                   i + 1, i);

        ck_assert_msg(!strstr(r, "failed"), "%d: %s", i, r);
    }
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

/*
 * blockdev-mirror onto a target on the full tmpfs with
 * on-target-error=enospc: BLOCK_JOB_ERROR (write, stop), the job paused
 * with io-status nospace; after space is freed job-resume finishes the
 * copy, the pivot puts the target in the source's place and it takes
 * writes.
 */
START_TEST(test_mirror_fills_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *io = NULL;
    g_autofree char *out = NULL;
    JsonNode *keep;
    JsonObject *d;

    if (!mount_small(&f, "16m", 13)) {
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 src.qcow2 16M && "
                     "qemu-io -f qcow2 -c 'write -P 0x71 0 6M' src.qcow2 "
                     ">/dev/null && qemu-img create -q -f qcow2 mnt/t.qcow2 "
                     "16M"));
    bq_add_fd(&f, f.c, "src.qcow2", O_RDWR, 1);
    bq_add_fd(&f, f.c, "mnt/t.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'src', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'tgt', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
               "'device': 'src', 'target': 'tgt', 'sync': 'full', "
               "'on-target-error': 'enospc'}}");
    d = bq_event(f.c, "BLOCK_JOB_ERROR", 30000, &keep);
    ck_assert_str_eq(json_object_get_string_member(d, "operation"), "write");
    ck_assert_str_eq(json_object_get_string_member(d, "action"), "stop");
    json_node_unref(keep);
    bq_wait_status(f.c, "m", "paused");
    io = job_field(f.c, "block-jobs", "io-status");
    ck_assert_str_eq(io, "nospace");
    io = (g_free(io), qemu_io(f.c, "src", "write -P 0x73 1M 64k"));
    ck_assert_msg(g_str_has_prefix(io, "wrote"), "%s", io); /* tracked */
    g_free(bq_sh(&f, "rm mnt/filler"));
    bq_ok(f.c, "{'execute': 'job-resume', 'arguments': {'id': 'm'}}");
    bq_expect_event(f.c, "BLOCK_JOB_READY", 30000);
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    ck_assert(!json_object_has_member(d, "error"));
    json_node_unref(keep);
    out = qemu_io(f.c, "tgt", "write -P 0x72 7M 64k");
    ck_assert_msg(g_str_has_prefix(out, "wrote"), "%s", out);
    g_free(out);
    out = qemu_io(f.c, "tgt", "flush");
    ck_assert_str_eq(out, "");
    image_ok(&f, "mnt/t.qcow2");
    g_free(out);
    out = bq_sh(&f, "qemu-io -U -r -f qcow2 -c 'read -P 0x71 0 1M' "
                    "-c 'read -P 0x73 1M 64k' -c 'read -P 0x71 1088k 4992k' "
                    "-c 'read -P 0x72 7M 64k' mnt/t.qcow2");
    ck_assert_msg(!strstr(out, "failed") && !strstr(out, "verification"),
                  "%s", out);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'tgt'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'src'}}");
    image_ok(&f, "mnt/t.qcow2");
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

/* blockdev-create @options on node or file 'f'; its error (new string) or
 * NULL; the job dismissed. */
static char *create(QTestConn *c, const char *id, const char *options)
{
    char *err;

    bq_ok(c, "{'execute': 'blockdev-create', 'arguments': {'job-id': '%s', "
             "'options': %s}}", id, options);
    bq_wait_status(c, id, "concluded");
    err = job_field(c, "jobs", "error");
    bq_ok(c, "{'execute': 'job-dismiss', 'arguments': {'id': '%s'}}", id);
    bq_wait_status(c, id, "null");
    return err;
}

/*
 * blockdev-create on the full tmpfs, through an fdset: the job fails with
 * QEMU 7.2's texts (measured), the daemon is fine, and once space is freed
 * the same fdset takes the image, which passes check and holds data.
 */
START_TEST(test_create_fills_disk)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *err = NULL;
    g_autofree char *out = NULL;

    if (!mount_small(&f, "8m", 5)) {
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "touch mnt/c.qcow2"));
    bq_add_fd(&f, f.c, "mnt/c.qcow2", O_RDWR, 1);
    err = create(f.c, "c0", "{'driver': 'file', 'filename': '/dev/fdset/1', "
                            "'size': 16777216, 'preallocation': 'full'}");
    ck_assert_str_eq(err, "Could not write zeros for preallocation: "
                          ENOSPC_TEXT);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f', 'filename': '/dev/fdset/1'}}");
    g_free(err);
    err = create(f.c, "c1", "{'driver': 'qcow2', 'file': 'f', 'size': "
                            "4194304, 'preallocation': 'full'}");
    ck_assert_str_eq(err, "Could not resize image: Failed to resize "
                          "underlying file: Could not write zeros for "
                          "preallocation: " ENOSPC_TEXT);
    g_free(err);
    err = create(f.c, "c2", "{'driver': 'qcow2', 'file': 'f', 'size': "
                            "68719476736, 'preallocation': 'metadata'}");
    ck_assert_str_eq(err, "Could not resize image: Allocating clusters "
                          "failed: " ENOSPC_TEXT);
    g_free(bq_sh(&f, "rm mnt/filler"));
    g_free(err);
    err = create(f.c, "c3", "{'driver': 'qcow2', 'file': 'f', 'size': "
                            "4194304, 'preallocation': 'full'}");
    ck_assert_msg(!err, "%s", err);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q', 'file': 'f'}}");
    out = qemu_io(f.c, "q", "write -P 0x44 1M 1M");
    ck_assert_msg(g_str_has_prefix(out, "wrote"), "%s", out);
    g_free(out);
    out = qemu_io(f.c, "q", "flush");
    ck_assert_str_eq(out, "");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'q'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'f'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q mnt/c.qcow2"), 0);
    g_free(out);
    out = bq_sh(&f, "qemu-io -r -f qcow2 -c 'read -P 0x44 1M 1M' "
                    "-c 'read -P 0 0 1M' -c 'read -P 0 2M 2M' mnt/c.qcow2");
    ck_assert_msg(!strstr(out, "failed") && !strstr(out, "verification"),
                  "%s", out);
    unmount_small(&f);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("enospc");
    TCase *tc = tcase_create("enospc");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_guest_writes_fill_disk);
    tcase_add_test(tc, test_commit_fills_disk);
    tcase_add_test(tc, test_stream_fills_disk);
    tcase_add_test(tc, test_nbd_writes_fill_disk);
    tcase_add_test(tc, test_mirror_fills_disk);
    tcase_add_test(tc, test_create_fills_disk);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
