/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-mirror / drive-mirror qtests on images behind fdsets: sync full
 * and top with guest writes (HMP qemu-io) before and after READY, the
 * pivot of the drive onto the target, cancel after READY (no pivot, soft
 * and hard), write-blocking mode, drive-mirror onto /dev/fdset/N, every
 * documented error, and on-target-error on a full tmpfs (stop, resume once
 * space is back, report).  Data checked with qemu-img compare/check/map;
 * fds against the registry.
 */
#include "job-qtest.h"

/*
 * base.img (raw, 8M of 0x11) <- src.qcow2 (0x22 at 1M..3M); drive d0 on
 * node src (set 1, O_RDWR), base node 'base' (set 0); target tgt.qcow2
 * (set 2) as node 'tgt', with backing 'base' for sync top.
 */
static void make_source(BlockFixture *f, bool tgt_backing)
{
    g_autofree char *out = NULL;

    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 8M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                    "qemu-img create -q -f qcow2 -b base.img -F raw src.qcow2 "
                    "&& qemu-io -c 'write -P 0x22 1M 2M' src.qcow2 && "
                    "qemu-img convert -O raw src.qcow2 expect.img && %s",
                 tgt_backing ? "qemu-img create -q -f qcow2 -b base.img -F "
                               "raw tgt.qcow2"
                             : "qemu-img create -q -f qcow2 tgt.qcow2 8M"));
    bq_add_fd(f, f->c, "base.img", O_RDONLY, 0);
    bq_add_fd(f, f->c, "src.qcow2", O_RDWR, 1);
    bq_add_fd(f, f->c, "tgt.qcow2", O_RDWR, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'read-only': true, 'file': {'driver': "
                "'file', 'filename': '/dev/fdset/0'}}}");
    out = bq_hmp(f->c, "drive_add 0 if=none,id=d0,format=qcow2,"
                       "file=/dev/fdset/1,node-name=src,backing=base");
    ck_assert_str_eq(out, "OK\r\n");
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
          "'node-name': 'tgt', %s 'file': {'driver': 'file', "
          "'filename': '/dev/fdset/2'}}}",
          tgt_backing ? "'backing': 'base'," : "");
}

/* A guest write through d0, also applied to expect.img. */
static void guest_write(BlockFixture *f, int pattern, const char *off,
                        const char *len)
{
    g_autofree char *cmd = g_strdup_printf(
        "qemu-io d0 \"write -P 0x%02x %s %s\"", pattern, off, len);
    g_autofree char *out = bq_hmp(f->c, cmd);

    ck_assert_msg(g_str_has_prefix(out, "wrote "), "%s", out);
    g_free(bq_sh(f, "qemu-io -f raw -c 'write -P 0x%02x %s %s' expect.img",
                 pattern, off, len));
}

static void assert_event_ok(QTestConn *c, const char *name, const char *id)
{
    JsonNode *keep;
    JsonObject *d = bq_event(c, name, 30000, &keep);

    ck_assert_str_eq(json_object_get_string_member(d, "device"), id);
    ck_assert_str_eq(json_object_get_string_member(d, "type"), "mirror");
    ck_assert_msg(!json_object_has_member(d, "error"), "mirror failed: %s",
                  json_object_get_string_member_with_default(d, "error", ""));
    json_node_unref(keep);
}

/* Which node drive d0 shows ("d0 (NODE): ..."). */
static void assert_drive_on(BlockFixture *f, const char *node)
{
    g_autofree char *info = bq_hmp(f->c, "info block d0");
    g_autofree char *want = g_strdup_printf("d0 (%s): ", node);

    ck_assert_msg(g_str_has_prefix(info, want), "%s", info);
}

static void drop_all(BlockFixture *f, bool tgt_node)
{
    g_free(bq_hmp(f->c, "drive_del d0"));
    if (tgt_node) {
        jq_del(f->c, "tgt");
    }
    jq_del(f->c, "base");
}

static void mirror_pivot(const char *sync, const char *copy_mode)
{
    BlockFixture f = bq_start(NULL);
    bool top = g_str_equal(sync, "top");
    g_autofree char *map = NULL;

    make_source(&f, top);
    bq_ok(f.c,
          "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
          "'device': 'd0', 'target': 'tgt', 'sync': '%s', 'copy-mode': "
          "'%s', 'speed': 2097152, 'buf-size': 262144}}",
          sync, copy_mode);
    jq_statuses(f.c, "m", "created running");
    guest_write(&f, 0x33, "2M", "64k");  /* inside what is being copied */
    guest_write(&f, 0x34, "6M", "128k"); /* outside src's own data */
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'm', 'speed': 0}}");
    assert_event_ok(f.c, "BLOCK_JOB_READY", "m");
    jq_statuses(f.c, "m", "ready");
    jq_assert_field(f.c, "m", "ready", "true");
    guest_write(&f, 0x35, "7M", "64k"); /* while ready */
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    guest_write(&f, 0x36, "7M", "4k"); /* before or after the switch */
    assert_event_ok(f.c, "BLOCK_JOB_COMPLETED", "m");
    jq_statuses(f.c, "m", "waiting pending concluded null");
    assert_drive_on(&f, "tgt");
    guest_write(&f, 0x37, "0", "4k"); /* on the target now */
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    drop_all(&f, true);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img tgt.qcow2"),
                     0);
    map = bq_sh(&f, "qemu-img map --output=json tgt.qcow2");
    if (top) {
        /* only src's own data and the guest writes were copied */
        ck_assert_msg(strstr(map, "\"start\": 3145728, \"length\": 3145728, "
                                  "\"depth\": 1"),
                      "%s", map);
    }
    bq_finish(&f);
}

START_TEST(test_mirror_full)
{
    mirror_pivot("full", "background");
}
END_TEST

START_TEST(test_mirror_top)
{
    mirror_pivot("top", "background");
}
END_TEST

START_TEST(test_mirror_write_blocking)
{
    mirror_pivot("full", "write-blocking");
}
END_TEST

/* sync none: only what is written during the job reaches the target,
 * which shows the base elsewhere. */
START_TEST(test_mirror_none)
{
    BlockFixture f = bq_start(NULL);

    make_source(&f, true);
    g_free(bq_sh(&f, "qemu-img convert -O raw base.img expect.img"));
    bq_ok(f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
               "'device': 'd0', 'target': 'tgt', 'sync': 'none'}}");
    assert_event_ok(f.c, "BLOCK_JOB_READY", "m");
    guest_write(&f, 0x66, "2M", "64k");
    guest_write(&f, 0x67, "5M", "4k");
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    assert_event_ok(f.c, "BLOCK_JOB_COMPLETED", "m");
    assert_drive_on(&f, "tgt");
    drop_all(&f, true);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img tgt.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* Cancel after READY: the drive stays on the source.  Without force the
 * job completes (the target holds the copy as of then); with force it is
 * cancelled. */
static void mirror_cancel_ready(bool force)
{
    BlockFixture f = bq_start(NULL);

    make_source(&f, false);
    bq_ok(f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
               "'device': 'd0', 'target': 'tgt', 'sync': 'full'}}");
    assert_event_ok(f.c, "BLOCK_JOB_READY", "m");
    guest_write(&f, 0x44, "4M", "64k");
    if (force) {
        bq_ok(f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'm'}}");
        bq_expect_event(f.c, "BLOCK_JOB_CANCELLED", 10000);
        jq_statuses(f.c, "m", "created running ready aborting concluded null");
    } else {
        bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
                   "{'device': 'm'}}");
        assert_event_ok(f.c, "BLOCK_JOB_COMPLETED", "m");
        jq_statuses(f.c, "m", "created running ready waiting pending "
                              "concluded null");
    }
    assert_drive_on(&f, "src");
    guest_write(&f, 0x45, "5M", "4k"); /* to the source only */
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    drop_all(&f, true);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img src.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    if (!force) {
        /* the copy as of the cancel, without the later write */
        ck_assert_int_eq(bq_sh_status(&f, "qemu-io -c 'read -P 0x44 4M 64k' "
                                          "tgt.qcow2 | grep -q ^read"),
                         0);
        ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw "
                                          "-F qcow2 expect.img tgt.qcow2"),
                         1);
    }
    bq_finish(&f);
}

START_TEST(test_mirror_soft_cancel)
{
    mirror_cancel_ready(false);
}
END_TEST

START_TEST(test_mirror_hard_cancel)
{
    mirror_cancel_ready(true);
}
END_TEST

/* drive-mirror onto /dev/fdset/2 (mode existing), the target opened as a
 * node of its own and switched to. */
START_TEST(test_drive_mirror)
{
    BlockFixture f = bq_start(NULL);

    make_source(&f, false);
    jq_del(f.c, "tgt");
    bq_err(f.c, "fdsetd creates no image by path: prepare '/dev/fdset/2' and "
                "give 'mode': 'existing'",
           "{'execute': 'drive-mirror', 'arguments': {'device': 'd0', "
           "'target': '/dev/fdset/2', 'sync': 'full'}}");
    bq_err(f.c, "a node-name must be provided when replacing a named node of "
                "the graph",
           "{'execute': 'drive-mirror', 'arguments': {'device': 'd0', "
           "'target': '/dev/fdset/2', 'sync': 'full', 'mode': 'existing', "
           "'replaces': 'src'}}");
    bq_ok(f.c, "{'execute': 'drive-mirror', 'arguments': {'device': 'd0', "
               "'target': '/dev/fdset/2', 'sync': 'full', 'mode': "
               "'existing', 'format': 'qcow2', 'node-name': 'dm'}}");
    assert_event_ok(f.c, "BLOCK_JOB_READY", "d0");
    guest_write(&f, 0x55, "3M", "8k");
    bq_ok(f.c, "{'execute': 'block-job-complete', 'arguments': {'device': "
               "'d0'}}");
    assert_event_ok(f.c, "BLOCK_JOB_COMPLETED", "d0");
    assert_drive_on(&f, "dm");
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    drop_all(&f, false);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img tgt.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

START_TEST(test_mirror_errors)
{
    BlockFixture f = bq_start(NULL);

    make_source(&f, false);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 small.qcow2 4M"));
    bq_add_fd(&f, f.c, "small.qcow2", O_RDWR, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'small', 'file': {'driver': 'file', 'filename': "
               "'/dev/fdset/3'}}}");
#define MIRROR(extra)                                                          \
    "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', 'device': "  \
    "'d0', 'target': 'tgt', 'sync': 'full'" extra "}}"
    bq_err(f.c, "Parameter 'granularity' expects a value in range [512B, "
                "64MB]",
           MIRROR(", 'granularity': 256"));
    bq_err(f.c, "Parameter 'granularity' expects a power of 2",
           MIRROR(", 'granularity': 65537"));
    bq_err(f.c, "Invalid parameter 'buf-size'", MIRROR(", 'buf-size': -1"));
    bq_err(f.c, "Duplicate nodes with node-name='tgt'",
           MIRROR(", 'filter-node-name': 'tgt'"));
    bq_err(f.c, "Sync mode 'incremental' not supported",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
           "'device': 'd0', 'target': 'tgt', 'sync': 'incremental'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
           "'device': 'd0', 'target': 'nope', 'sync': 'full'}}");
    bq_err(f.c, "Need a root block node",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
           "'device': 'base', 'target': 'tgt', 'sync': 'full'}}");
    bq_err(f.c, "Can't mirror node into itself",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
           "'device': 'd0', 'target': 'src', 'sync': 'full'}}");
    bq_err(f.c, "Source and target image have different sizes",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
           "'device': 'd0', 'target': 'small', 'sync': 'full'}}");
    bq_err(f.c, "Cannot replace 'small' by a node mirrored from 'src', "
                "because it cannot be guaranteed that doing so would not "
                "lead to an abrupt change of visible data",
           MIRROR(", 'replaces': 'small'"));
    bq_err(f.c, "Failed to find node with node-name='nope'",
           MIRROR(", 'replaces': 'nope'"));
    bq_err(f.c, "Invalid job ID ''",
           "{'execute': 'blockdev-mirror', 'arguments': {'device': 'small', "
           "'target': 'tgt', 'sync': 'full'}}");
    bq_err(f.c, "Parameter 'speed' expects a non-negative value",
           MIRROR(", 'speed': -5"));
    jq_statuses(f.c, "m", "created null");
    bq_ok(f.c, MIRROR(", 'speed': 65536"));
    /* QEMU 7.2: d0's root is the job's filter, held by the job */
    bq_err(f.c, "Need a root block node",
           "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'n', "
           "'device': 'd0', 'target': 'small', 'sync': 'full'}}");
    bq_err(f.c, "Job 'm' in state 'running' cannot accept command verb "
                "'complete'",
           "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    bq_ok(f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'm'}}");
    bq_expect_event(f.c, "BLOCK_JOB_CANCELLED", 10000);
    assert_drive_on(&f, "src");
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    jq_del(f.c, "small");
    drop_all(&f, true);
    bq_finish(&f);
}
END_TEST

/* The target on a 1 MiB tmpfs, 8 MiB to copy: on-target-error. */
static void mirror_enospc(const char *policy)
{
    BlockFixture f = bq_start(NULL);
    bool stop = g_str_equal(policy, "stop");
    JsonNode *keep;
    JsonObject *d;

    if (!jq_small_mount(&f, 1024)) {
        fprintf(stderr, "mirror-test: cannot mount a tmpfs, skipped\n");
        bq_finish(&f);
        return;
    }
    make_source(&f, false);
    jq_del(f.c, "tgt");
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 small/t.qcow2 8M"));
    bq_add_fd(&f, f.c, "small/t.qcow2", O_RDWR, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 't', 'file': {'driver': 'file', 'filename': "
               "'/dev/fdset/3'}}}");
    bq_ok(f.c,
          "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
          "'device': 'd0', 'target': 't', 'sync': 'full', "
          "'on-target-error': '%s'}}",
          policy);
    jq_expect_error_event(f.c, "m", "write", stop ? "stop" : "report");
    if (stop) {
        jq_statuses(f.c, "m", "created running paused");
        jq_assert_field(f.c, "m", "io-status", "nospace");
        guest_write(&f, 0x66, "1M", "4k"); /* tracked while paused */
        jq_small_resize(&f, 64 * 1024);
        bq_ok(f.c, "{'execute': 'job-resume', 'arguments': {'id': 'm'}}");
        assert_event_ok(f.c, "BLOCK_JOB_READY", "m");
        bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
        assert_event_ok(f.c, "BLOCK_JOB_COMPLETED", "m");
        assert_drive_on(&f, "t");
    } else {
        d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
        ck_assert_msg(strstr(json_object_get_string_member_with_default(
                                 d, "error", ""),
                             "No space left on device"),
                      "%s",
                      json_object_get_string_member_with_default(d, "error",
                                                                 ""));
        json_node_unref(keep);
        assert_drive_on(&f, "src");
        jq_del(f.c, "t");
    }
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    g_free(bq_hmp(f.c, "drive_del d0"));
    if (stop) {
        /* 't' is still open read-write here: -U past its image locks */
        ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -U -q -f raw "
                                          "-F qcow2 expect.img "
                                          "small/t.qcow2"),
                         0);
    }
    jq_del(f.c, "base");
    /* leaks are allowed after ENOSPC, corruption is not */
    ck_assert_int_ne(bq_sh_status(&f, "qemu-img check -q small/t.qcow2"), 2);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img src.qcow2"),
                     0);
    jq_small_unmount(&f);
    bq_finish(&f);
}

START_TEST(test_mirror_enospc_stop)
{
    mirror_enospc("stop");
}
END_TEST

START_TEST(test_mirror_enospc_report)
{
    mirror_enospc("report");
}
END_TEST

int main(void)
{
    Suite *su = suite_create("mirror");
    TCase *tc = tcase_create("mirror");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_mirror_full);
    tcase_add_test(tc, test_mirror_top);
    tcase_add_test(tc, test_mirror_write_blocking);
    tcase_add_test(tc, test_mirror_none);
    tcase_add_test(tc, test_mirror_soft_cancel);
    tcase_add_test(tc, test_mirror_hard_cancel);
    tcase_add_test(tc, test_drive_mirror);
    tcase_add_test(tc, test_mirror_errors);
    tcase_add_test(tc, test_mirror_enospc_stop);
    tcase_add_test(tc, test_mirror_enospc_report);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
