/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The blkdebug filter under qcow2, one test per injection point: a rule on
 * the event fails the guest-like request (qemu-io over HMP) or the job that
 * reaches it with the rule's errno, worded as QEMU 7.2's qemu-io prints it;
 * the next request succeeds; the image passes qemu-img check (leaked
 * clusters allowed, as in QEMU) and holds what was written.  Then the rule
 * semantics (state, set-state, sector, iotype, once) and the open errors,
 * with QEMU 7.2's texts.
 */
#include <signal.h>

#include "block-qtest.h"

static void out_is(QTestConn *c, const char *line, const char *want)
{
    g_autofree char *out = bq_hmp(c, line);

    ck_assert_msg(g_str_equal(out, want), "'%s' printed '%s', not '%s'", line,
                  out, want);
}

/* qemu-img check: 0 clean, 3 leaks only; 2 (corruption) or 1 fail. */
static void image_ok(BlockFixture *f, const char *name)
{
    int rc = bq_sh_status(f, "qemu-img check -q %s", name);

    ck_assert_msg(rc == 0 || rc == 3, "qemu-img check %s: exit %d", name, rc);
}

/* qcow2 node "q" on blkdebug node "dbg" on /dev/fdset/1 (@name), with
 * @rules (the blkdebug members after "image", JSON with single quotes);
 * with @backing, b.qcow2 is its backing node "base". */
static void add_q_backing(BlockFixture *f, const char *name, bool backing,
                          const char *rules)
{
    if (backing) {
        bq_add_fd(f, f->c, "b.qcow2", O_RDONLY, 2);
        bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                    "'qcow2', 'node-name': 'base', 'read-only': true, "
                    "'file': {'driver': 'file', "
                    "'filename': '/dev/fdset/2'}}}");
    }
    bq_add_fd(f, f->c, name, O_RDWR, 1);
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
          "'node-name': 'q', 'backing': %s, 'file': {'driver': 'blkdebug', "
          "'node-name': 'dbg', 'image': {'driver': 'file', "
          "'filename': '/dev/fdset/1'}, %s}}}",
          backing ? "'base'" : "null", rules);
}

static void add_q(BlockFixture *f, const char *name, const char *rules)
{
    add_q_backing(f, name, false, rules);
}

static bool has_base(BlockFixture *f)
{
    JsonNode *keep;
    bool has = bq_node(f->c, "base", true, &keep) != NULL;

    json_node_unref(keep);
    return has;
}

static void del_q(BlockFixture *f)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', "
                "'arguments': {'node-name': 'q'}}");
    if (has_base(f)) {
        bq_ok(f->c, "{'execute': 'blockdev-del', "
                    "'arguments': {'node-name': 'base'}}");
    }
}

/* The pattern @p is at [off, off+len) of the image, read by qemu-io. */
static void reads_back(BlockFixture *f, const char *name, int p, int64_t off,
                       int64_t len)
{
    g_autofree char *out = bq_sh(
        f, "qemu-io -r -f qcow2 -c 'read -P %d %" G_GINT64_FORMAT
           " %" G_GINT64_FORMAT "' %s",
        p, off, len, name);

    ck_assert_msg(!strstr(out, "failed"), "%s", out);
}

typedef struct PointCase {
    const char *event;
    const char *create; /* qemu-img create options; "backing": on b.qcow2 */
    const char *setup;  /* qemu-io command run first (may be NULL) */
    const char *cmd;    /* fails once, then succeeds */
    const char *fail;   /* its output on failure */
    const char *ok;     /* and on success */
    int64_t off, len;   /* what cmd wrote (len 0: nothing to check) */
} PointCase;

#define W64K "wrote 65536/65536 bytes at offset 0\r\n"
#define W4K "wrote 4096/4096 bytes at offset 0\r\n"
#define WFAIL "write failed: Input/output error\r\n"

static const PointCase points[] = {
    {"write_aio", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0, 65536},
    {"read_aio", "", "write -P 7 0 64k", "read -P 7 0 64k",
     "read failed: Input/output error\r\n",
     "read 65536/65536 bytes at offset 0\r\n", 0, 65536},
    {"l1_update", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0, 65536},
    {"l2_alloc_write", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0, 65536},
    {"l2_update", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0, 65536},
    {"cluster_alloc", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0, 65536},
    {"refblock_update_part", "", NULL, "write -P 7 0 64k", WFAIL, W64K, 0,
     65536},
    /* as in QEMU 7.2, these two never fire here: only compressed writes
     * allocate bytes, and refcount blocks are written through the cache
     * (refblock_update_part) */
    {"cluster_alloc_bytes", "", NULL, "write -P 7 0 4k", W4K, W4K, 0, 4096},
    {"refblock_update", "", NULL, "write -P 7 0 64k", W64K, W64K, 0, 65536},
    /* a partial cluster over backing data: copy-on-write */
    {"cow_read", "backing", NULL, "write -P 7 0 4k", WFAIL, W4K, 0, 4096},
    {"cow_write", "backing", NULL, "write -P 7 0 4k", WFAIL, W4K, 0, 4096},
    /* without backing data the cluster is plain data, as QEMU's */
    {"cow_write", "", NULL, "write -P 7 0 4k", W4K, W4K, 0, 4096},
    /* 512-byte clusters: a refcount block covers 128 KiB of the file */
    {"refblock_alloc", "-o cluster_size=512", NULL, "write -P 7 0 256k",
     WFAIL, "wrote 262144/262144 bytes at offset 0\r\n", 0, 262144},
    /* ... and the first refcount table 8 MiB */
    {"reftable_grow", "-o cluster_size=512", NULL, "write -P 7 0 9M", WFAIL,
     "wrote 9437184/9437184 bytes at offset 0\r\n", 0, 9437184},
    {"flush_to_disk", "", "write -P 7 0 64k", "flush",
     "flush failed: Input/output error\r\n", "", 0, 65536},
    {"pwritev_zero", "", "write -P 7 0 64k", "write -z 0 4k", WFAIL,
     "wrote 4096/4096 bytes at offset 0\r\n", 0, 0},
};

START_TEST(test_injection_point)
{
    const PointCase *pc = &points[_i];
    BlockFixture f = bq_start(NULL);
    g_autofree char *rules = g_strdup_printf(
        "'inject-error': [{'event': '%s', 'errno': 5, 'once': true}]",
        pc->event);
    g_autofree char *line = g_strdup_printf("qemu-io q \"%s\"", pc->cmd);

    bool backing = g_str_equal(pc->create, "backing");

    if (backing) {
        g_free(bq_sh(&f, "qemu-img create -q -f qcow2 b.qcow2 16M && "
                         "qemu-io -f qcow2 -c 'write -P 3 0 64k' b.qcow2 "
                         ">/dev/null && qemu-img create -q -f qcow2 -b "
                         "b.qcow2 -F qcow2 a.qcow2"));
    } else {
        g_free(bq_sh(&f, "qemu-img create -q -f qcow2 %s a.qcow2 16M",
                     pc->create));
    }
    add_q_backing(&f, "a.qcow2", backing, rules);
    if (pc->setup) {
        g_autofree char *s = g_strdup_printf("qemu-io q \"%s\"", pc->setup);
        g_autofree char *out = bq_hmp(f.c, s);

        ck_assert_msg(strstr(out, "wrote"), "%s: %s", s, out);
    }
    out_is(f.c, line, pc->fail);
    out_is(f.c, line, pc->ok);
    out_is(f.c, "qemu-io q \"flush\"", "");
    del_q(&f);
    image_ok(&f, "a.qcow2");
    if (pc->len) {
        reads_back(&f, "a.qcow2", 7, pc->off, pc->len);
    }
    bq_finish(&f);
}
END_TEST

/*
 * A refcount block whose first write fails stays in use in memory: the
 * refcount table entry pointing to it must still reach the disk once the
 * block does (it was lost, and clusters counted there read as refcount 0).
 * 512-byte clusters: the second block starts at 128 KiB of the file.
 */
START_TEST(test_refblock_alloc_failure_keeps_reftable)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -o cluster_size=512 "
                     "a.qcow2 16M"));
    add_q(&f, "a.qcow2",
          "'inject-error': [{'event': 'refblock_alloc', 'once': true}]");
    out_is(f.c, "qemu-io q \"write -P 7 0 120k\"",
           "wrote 122880/122880 bytes at offset 0\r\n");
    out_is(f.c, "qemu-io q \"write -P 8 120k 8k\"", WFAIL);
    out_is(f.c, "qemu-io q \"write -P 9 128k 8k\"",
           "wrote 8192/8192 bytes at offset 131072\r\n");
    out_is(f.c, "qemu-io q \"flush\"", "");
    del_q(&f);
    image_ok(&f, "a.qcow2");
    reads_back(&f, "a.qcow2", 7, 0, 122880);
    reads_back(&f, "a.qcow2", 9, 131072, 8192);
    bq_finish(&f);
}
END_TEST

/* cor_write: block-stream copies the backing data up; the job fails with
 * the error, a second stream completes. */
START_TEST(test_cor_write_fails_stream)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -P 9 0 1M' base.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "top.qcow2"));
    bq_add_fd(&f, f.c, "base.qcow2", O_RDONLY, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'base', 'read-only': true, 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q', 'backing': 'base', 'file': "
               "{'driver': 'blkdebug', 'inject-error': [{'event': "
               "'cor_write', 'once': true}], 'image': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}}");
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'job-id': 's1', "
               "'device': 'q'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 20000, &keep);
    ck_assert_str_eq(json_object_get_string_member(d, "error"),
                     "Input/output error");
    json_node_unref(keep);
    bq_ok(f.c, "{'execute': 'block-stream', 'arguments': {'job-id': 's2', "
               "'device': 'q'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 20000, &keep);
    ck_assert(!json_object_has_member(d, "error"));
    json_node_unref(keep);
    bq_wait_status(f.c, "s2", "null");
    del_q(&f); /* and base */
    image_ok(&f, "top.qcow2");
    g_free(bq_sh(&f, "qemu-img rebase -q -u -b '' top.qcow2 && "
                     "qemu-io -r -f qcow2 -c 'read -P 9 0 1M' top.qcow2 | "
                     "grep -q '^read 1048576'"));
    bq_finish(&f);
}
END_TEST

/* Without once, the rule fails every matching request until another event
 * arms new rules; a set-state rule moves the state at the event. */
START_TEST(test_state_and_persistent_rule)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 16M"));
    add_q(&f, "a.qcow2",
          "'inject-error': [{'event': 'read_aio', 'state': 2, 'errno': 28}],"
          "'set-state': [{'event': 'write_aio', 'state': 1, 'new_state': 2},"
          "{'event': 'flush_to_disk', 'new_state': 3}]");
    /* state 1: reads are fine; the write moves to state 2 */
    out_is(f.c, "qemu-io q \"write -P 1 0 64k\"", W64K);
    out_is(f.c, "qemu-io q \"read -P 1 0 64k\"",
           "read failed: No space left on device\r\n");
    out_is(f.c, "qemu-io q \"read -P 1 0 64k\"",
           "read failed: No space left on device\r\n");
    /* flush_to_disk arms nothing: the read rule stays, flush fails too */
    out_is(f.c, "qemu-io q \"flush\"",
           "flush failed: No space left on device\r\n");
    out_is(f.c, "qemu-io q \"read -P 1 0 64k\"",
           "read failed: No space left on device\r\n");
    /* in state 3 the next read_aio arms nothing: its active list stays */
    out_is(f.c, "qemu-io q \"flush\"",
           "flush failed: No space left on device\r\n");
    del_q(&f);
    image_ok(&f, "a.qcow2");
    bq_finish(&f);
}
END_TEST

/* sector: only requests covering that sector fail; iotype: only that kind. */
START_TEST(test_sector_and_iotype)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f raw a.img 1M"));
    bq_add_fd(&f, f.c, "a.img", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'blkdebug', 'node-name': 'dbg', 'inject-error': [{'event': "
               "'pwritev_zero', 'sector': 8, 'iotype': 'write', 'errno': 1}],"
               "'image': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    /* sector 8 is byte 4096: a write of [0, 4k) does not cover it */
    out_is(f.c, "qemu-io dbg \"write -z 0 4k\"",
           "wrote 4096/4096 bytes at offset 0\r\n");
    out_is(f.c, "qemu-io dbg \"write 4k 4k\"",
           "write failed: Operation not permitted\r\n");
    out_is(f.c, "qemu-io dbg \"write 2k 4k\"",
           "write failed: Operation not permitted\r\n");
    out_is(f.c, "qemu-io dbg \"read 4k 4k\"",
           "read 4096/4096 bytes at offset 4096\r\n");
    out_is(f.c, "qemu-io dbg \"write 8k 4k\"",
           "wrote 4096/4096 bytes at offset 8192\r\n");
    out = bq_hmp(f.c, "qemu-io dbg \"flush\"");
    ck_assert_str_eq(out, "");
    bq_ok(f.c, "{'execute': 'blockdev-del', "
               "'arguments': {'node-name': 'dbg'}}");
    bq_finish(&f);
}
END_TEST

/* x-drop-unflushed: a power cut loses every write since the last flush;
 * the node fails everything afterwards; after a kill -9 the image holds
 * exactly what was flushed and passes qemu-img check. */
/* kill -9 the daemon; back once it is a zombie (its fds are closed). */
static void kill9(BlockFixture *f)
{
    ck_assert_int_eq(kill(qtest_pid(f->s), SIGKILL), 0);
    while (kill(qtest_pid(f->s), 0) == 0 &&
           bq_sh_status(f, "grep -q '^State:.*Z' /proc/%d/status",
                        (int)qtest_pid(f->s)) != 0) {
        g_usleep(10000);
    }
}

#define QIO(cmd) "qemu-io q \"" cmd "\""

/*
 * 4 KiB clusters, 64 KiB of data at 0 (its L2 table covers 2 MiB); a
 * write at 8 MiB needs a new L2 table and is suspended at l2_update, just
 * before that table is written (QEMU 7.2 suspends the same write there:
 * tests/fault/compare-qemu-blkdebug.py).
 */
static void suspend_at_l2_update(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f qcow2 -o cluster_size=4096 "
                    "a.qcow2 16M && qemu-io -f qcow2 -c 'write -P 17 0 64k' "
                    "a.qcow2 >/dev/null"));
    add_q(f, "a.qcow2", "'inject-error': []");
    out_is(f->c, QIO("break l2_update L"), "");
    out_is(f->c, QIO("aio_write -P 34 8M 64k"), "");
    out_is(f->c, QIO("wait_break L"), "");
    /* the monitor is not held up by the suspended request */
    bq_ok(f->c, "{'execute': 'query-fdsets'}");
}

/* kill -9 while the write is suspended: the image is sound, what was
 * there before reads back. */
START_TEST(test_break_l2_update_then_kill)
{
    BlockFixture f = bq_start(NULL);

    suspend_at_l2_update(&f);
    kill9(&f);
    image_ok(&f, "a.qcow2");
    reads_back(&f, "a.qcow2", 17, 0, 65536);
    qtest_kill(f.s);
}
END_TEST

/* resume: the write completes (aio_flush reports it) and is right. */
START_TEST(test_break_resume)
{
    BlockFixture f = bq_start(NULL);

    suspend_at_l2_update(&f);
    out_is(f.c, QIO("resume L"), "");
    out_is(f.c, QIO("aio_flush"),
           "wrote 65536/65536 bytes at offset 8388608\r\n");
    out_is(f.c, QIO("flush"), "");
    out_is(f.c, QIO("read -P 34 8M 64k"),
           "read 65536/65536 bytes at offset 8388608\r\n");
    /* QEMU 7.2's texts, recorded */
    out_is(f.c, QIO("resume L"),
           "Could not resume request: No such file or directory\r\n");
    out_is(f.c, QIO("remove_break L"),
           "Could not remove breakpoint L: No such file or directory\r\n");
    out_is(f.c, QIO("break nope B"),
           "Could not set breakpoint: No such file or directory\r\n");
    out_is(f.c, QIO("break write_aio"),
           "bad argument count 1 to break, expected 2 arguments\r\n");
    /* remove_break lets the suspended request go too, as in QEMU */
    out_is(f.c, QIO("break write_aio W"), "");
    out_is(f.c, QIO("aio_write -P 51 0 4k"), "");
    out_is(f.c, QIO("wait_break W"), "");
    out_is(f.c, QIO("remove_break W"), "");
    out_is(f.c, QIO("aio_flush"), W4K);
    out_is(f.c, QIO("flush"), "");
    del_q(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    reads_back(&f, "a.qcow2", 51, 0, 4096);
    reads_back(&f, "a.qcow2", 17, 4096, 61440);
    reads_back(&f, "a.qcow2", 34, 8 << 20, 65536);
    bq_finish(&f);
}
END_TEST

/*
 * Injected errors reach an NBD client as NBD errors with their errno
 * (EPERM too, whose -1 io.c once read as EIO), for a write and for the
 * flush that writes qcow2's metadata back, and the connection stays: the
 * next request succeeds.  Measured the same on QEMU 7.2
 * (tests/fault/compare-qemu-errors.py).
 */
static const struct {
    int err;
    const char *name;
} nbd_errnos[] = {{EPERM, "EPERM"}, {EIO, "EIO"}, {ENOSPC, "ENOSPC"}};

#define NBD_ERRNO_PY                                                        \
    "/usr/bin/python3 - <<'EOF'\n"                                          \
    "import nbd\n"                                                          \
    "h = nbd.NBD()\n"                                                       \
    "h.connect_uri('nbd+unix:///q?socket=nbd.sock')\n"                      \
    "for op in (lambda: h.pwrite(b'x' * 4096, 0), h.flush, h.flush):\n"     \
    "    try:\n"                                                            \
    "        op()\n"                                                        \
    "        print('ok')\n"                                                 \
    "    except nbd.Error as e:\n"                                          \
    "        print(e.errno)\n"                                              \
    "h.shutdown()\n"                                                        \
    "EOF"

START_TEST(test_nbd_client_errnos)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *sock = bq_path(&f, "nbd.sock");
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 16M"));
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    bq_ok(f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
          "'node-name': 'q', 'file': {'driver': 'blkdebug', 'image': "
          "{'driver': 'file', 'filename': '/dev/fdset/1'}, 'inject-error': "
          "[{'event': 'write_aio', 'errno': %d, 'once': true}, "
          "{'event': 'flush_to_disk', 'errno': %d, 'once': true}]}}}",
          nbd_errnos[_i].err, nbd_errnos[_i].err);
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}}}", sock);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
               "'id': 'e0', 'node-name': 'q', 'writable': true}}");
    out = bq_sh(&f, NBD_ERRNO_PY);
    want = g_strdup_printf("%s\n%s\nok\n", nbd_errnos[_i].name,
                           nbd_errnos[_i].name);
    ck_assert_str_eq(out, want);
    bq_ok(f.c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0'}}");
    bq_expect_event(f.c, "BLOCK_EXPORT_DELETED", 10000);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'q'}}");
    image_ok(&f, "a.qcow2");
    bq_finish(&f);
}
END_TEST

START_TEST(test_power_cut_drops_unflushed)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 16M"));
    add_q(&f, "a.qcow2", "'x-drop-unflushed': true");
    out_is(f.c, "qemu-io q \"write -P 1 0 64k\"", W64K);
    out_is(f.c, "qemu-io q \"flush\"", "");
    out_is(f.c, "qemu-io q \"write -P 2 0 4k\"", W4K);
    out_is(f.c, "qemu-io q \"write -P 3 1M 64k\"",
           "wrote 65536/65536 bytes at offset 1048576\r\n");
    bq_err(f.c, "Parameter 'survivors' expects a percentage",
           "{'execute': 'blkdebug-power-cut', "
           "'arguments': {'node-name': 'dbg', 'survivors': 101}}");
    bq_ok(f.c, "{'execute': 'blkdebug-power-cut', "
               "'arguments': {'node-name': 'dbg'}}");
    out_is(f.c, "qemu-io q \"read 0 4k\"",
           "read failed: Input/output error\r\n");
    kill9(&f);
    image_ok(&f, "a.qcow2");
    reads_back(&f, "a.qcow2", 1, 0, 65536);
    reads_back(&f, "a.qcow2", 0, 1048576, 65536);
    qtest_kill(f.s);
}
END_TEST

START_TEST(test_open_errors)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f raw a.img 1M"));
    bq_add_fd(&f, f.c, "a.img", O_RDWR, 1);
    bq_err(f.c, "Cannot meet constraints with align 3",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'blkdebug', "
           "'node-name': 'd', 'align': 3, 'image': {'driver': 'file', "
           "'filename': '/dev/fdset/1'}}}");
    bq_err(f.c, "Parameter 'image' is missing",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'blkdebug', "
           "'node-name': 'd'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'blkdebug', "
           "'node-name': 'd', 'image': 'nope'}}");
    bq_err(f.c, "Failed to find node with node-name='nope'",
           "{'execute': 'blkdebug-power-cut', "
           "'arguments': {'node-name': 'nope'}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'blkdebug', 'node-name': 'd', 'image': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_err(f.c, "Node 'd' is not a blkdebug node with x-drop-unflushed",
           "{'execute': 'blkdebug-power-cut', "
           "'arguments': {'node-name': 'd'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'd'}}");
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("blkdebug");
    TCase *tc = tcase_create("blkdebug");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_injection_point, 0, G_N_ELEMENTS(points));
    tcase_add_test(tc, test_refblock_alloc_failure_keeps_reftable);
    tcase_add_test(tc, test_cor_write_fails_stream);
    tcase_add_test(tc, test_state_and_persistent_rule);
    tcase_add_test(tc, test_sector_and_iotype);
    tcase_add_test(tc, test_power_cut_drops_unflushed);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_break_l2_update_then_kill);
    tcase_add_test(tc, test_break_resume);
    tcase_add_loop_test(tc, test_nbd_client_errnos, 0,
                        G_N_ELEMENTS(nbd_errnos));
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
