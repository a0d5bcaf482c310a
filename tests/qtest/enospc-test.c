/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Full filesystems: images on a small tmpfs (needs root to mount; skipped
 * with a message otherwise) filled by guest-like writes (qemu-io over HMP)
 * and by a commit job.  The failing request or job reports ENOSPC, the
 * daemon and the node stay usable, everything flushed before reads back,
 * the image passes qemu-img check (leaked clusters allowed, as in QEMU),
 * and once space is freed the same node takes the write it refused.
 */
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

/* -U: the daemon may still hold the image's write lock (flushed, so what
 * qemu-img reads is what a restart would find). */
static void image_ok(BlockFixture *f, const char *name)
{
    int rc = bq_sh_status(f, "qemu-img check -q -U %s", name);

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
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
