/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The copy engine under mirror and backup (block/copy-engine.c): many
 * chunks in flight while a guest writes over NBD (qemu-io on an export of
 * the source), in background and write-blocking mirrors and in a full
 * backup (copy-before-write while the job's chunks run); an incremental
 * backup whose dirty runs go out coalesced, zeroes as zeroes, with the
 * allocation map QEMU 7.2 gives for the same flow.  Data checked with
 * qemu-img compare/check/map, fds against the registry.
 */
#include "job-qtest.h"

#define WRITES 48

/* src.qcow2 (@mib MiB of 0x5a) as node 'src' (set 1), an empty qcow2
 * tgt.qcow2 as node 'tgt' (set 2), and src exported writable over NBD. */
static void setup(BlockFixture *f, int mib)
{
    g_autofree char *sock = bq_path(f, "nbd.sock");

    g_free(bq_sh(f, "qemu-img create -q -f qcow2 src.qcow2 %dM && "
                    "qemu-io -c 'write -q -P 0x5a 0 %dM' src.qcow2 && "
                    "qemu-img create -q -f qcow2 tgt.qcow2 %dM",
                 mib, mib, mib));
    bq_add_fd(f, f->c, "src.qcow2", O_RDWR, 1);
    bq_add_fd(f, f->c, "tgt.qcow2", O_RDWR, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'src', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/1'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'tgt', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/2'}}}");
    bq_ok(f->c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
                "{'type': 'unix', 'data': {'path': '%s'}}}}", sock);
    bq_ok(f->c, "{'execute': 'block-export-add', 'arguments': {'type': "
                "'nbd', 'id': 'e0', 'node-name': 'src', 'writable': true}}");
}

/*
 * The guest: one qemu-io over NBD doing WRITES writes of 192 KiB (three
 * granules, across 1 MiB chunk edges: offsets 1 MiB + 960 KiB + k * 2.5 MiB
 * mod the size), zeroes and new data alternating patterns, so that each
 * lands on ranges being copied or just copied.  Run in the background
 * when @bg (the file guest.done appears at its end).
 */
static void guest(BlockFixture *f, int mib, bool bg)
{
    GString *cmd = g_string_new("qemu-io -f raw "
                                "'nbd+unix:///src?socket=nbd.sock'");

    for (int k = 0; k < WRITES; k++) {
        int64_t off = (MiB + 960 * 1024 + (int64_t)k * 5 * MiB / 2) %
                      ((int64_t)mib * MiB - 192 * 1024);

        off -= off % 4096;
        if (k % 5 == 4) {
            g_string_append_printf(cmd, " -c 'write -q -z %" G_GINT64_FORMAT
                                        " 192k'", off);
        } else {
            g_string_append_printf(cmd, " -c 'write -q -P 0x%02x %"
                                        G_GINT64_FORMAT " 192k'",
                                   0x10 + k, off);
        }
    }
    if (bg) {
        g_free(bq_sh(f, "(%s; touch guest.done) >/dev/null 2>&1 &",
                     cmd->str));
    } else {
        g_free(bq_sh(f, "%s", cmd->str));
    }
    g_string_free(cmd, TRUE);
}

static void wait_guest(BlockFixture *f)
{
    /* generous: qemu-io under heavy load */
    ck_assert_int_eq(bq_sh_status(f, "i=0; while [ ! -e guest.done ]; do "
                                     "i=$((i+1)); [ $i -gt 1200 ] && "
                                     "exit 1; sleep 0.1; done"),
                     0);
}

static void assert_job_event(QTestConn *c, const char *name, const char *id)
{
    JsonNode *keep;
    JsonObject *d = bq_event(c, name, 60000, &keep);

    ck_assert_str_eq(json_object_get_string_member(d, "device"), id);
    ck_assert_msg(!json_object_has_member(d, "error"), "%s failed: %s", id,
                  json_object_get_string_member_with_default(d, "error", ""));
    json_node_unref(keep);
}

/* Export and nodes gone: the files are the images' last word. */
static void close_all(BlockFixture *f)
{
    bq_ok(f->c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0', "
                "'mode': 'hard'}}");
    json_node_unref(qtest_event_wait(f->c, "BLOCK_EXPORT_DELETED", 30000));
    jq_del(f->c, "tgt");
    jq_del(f->c, "src");
    qtest_assert_fds_match_registry(f->s, f->c, 0);
}

/*
 * A mirror of 96 MiB (4 chunks of 1 MiB in flight) while the guest
 * writes over NBD, before and after READY; then the guest stops and
 * job-complete drains the rest: the target must equal the source.
 */
static void mirror_with_guest(const char *copy_mode)
{
    BlockFixture f = bq_start(NULL);

    setup(&f, 96);
    guest(&f, 96, true);
    bq_ok(f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
               "'device': 'src', 'target': 'tgt', 'sync': 'full', "
               "'copy-mode': '%s'}}", copy_mode);
    assert_job_event(f.c, "BLOCK_JOB_READY", "m");
    wait_guest(&f);
    guest(&f, 96, false); /* while ready: copied again, or at once */
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    assert_job_event(f.c, "BLOCK_JOB_COMPLETED", "m");
    close_all(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q src.qcow2 "
                                      "tgt.qcow2"),
                     0);
    bq_finish(&f);
}

START_TEST(test_mirror_background_guest_over_nbd)
{
    mirror_with_guest("background");
}
END_TEST

START_TEST(test_mirror_write_blocking_guest_over_nbd)
{
    mirror_with_guest("write-blocking");
}
END_TEST

/*
 * A full backup at 16 MiB/s of 64 MiB while the guest writes over NBD:
 * every write's old data is read before it lands and written to the
 * target later (off the guest's path).  The target must hold the image
 * as it was when the job started.
 */
START_TEST(test_backup_point_in_time_guest_over_nbd)
{
    BlockFixture f = bq_start(NULL);

    setup(&f, 64);
    g_free(bq_sh(&f, "qemu-img convert -U -O raw src.qcow2 expect.img"));
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': 'b', "
               "'device': 'src', 'target': 'tgt', 'sync': 'full', "
               "'speed': 16777216}}");
    guest(&f, 64, false);
    guest(&f, 64, false); /* the same ranges again: copied already */
    /* the job may have ended already: each guest write copied the 2 MiB
     * window around it */
    json_node_unref(qtest_qmp(f.c, "{'execute': 'block-job-set-speed', "
                                   "'arguments': {'device': 'b', "
                                   "'speed': 0}}"));
    assert_job_event(f.c, "BLOCK_JOB_COMPLETED", "b");
    close_all(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img tgt.qcow2"),
                     0);
    /* and the source really changed meanwhile */
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img src.qcow2"),
                     1);
    bq_finish(&f);
}
END_TEST

/*
 * The same with 16 writers at once (fio: 4 KiB random writes, QD16, over
 * NBD) for 2 s of a 4 s backup: most writes land on clusters whose old
 * data is read already and pass without the engine's lock, racing with
 * the copies of their neighbours.  The target is still the image as it
 * was at the job's start.
 */
START_TEST(test_backup_point_in_time_fio_qd16)
{
    BlockFixture f = bq_start(NULL);

    setup(&f, 64);
    g_free(bq_sh(&f, "qemu-img convert -U -O raw src.qcow2 expect.img"));
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': 'b', "
               "'device': 'src', 'target': 'tgt', 'sync': 'full', "
               "'speed': 16777216}}");
    g_free(bq_sh(&f, "fio --output=/dev/null --ioengine=nbd "
                     "--uri='nbd+unix:///src?socket=nbd.sock' --name=g "
                     "--rw=randwrite --bs=4k --iodepth=16 --size=64M "
                     "--time_based --runtime=2"));
    /* the job may have ended already (the guest's copies count) */
    json_node_unref(qtest_qmp(f.c, "{'execute': 'block-job-set-speed', "
                                   "'arguments': {'device': 'b', "
                                   "'speed': 0}}"));
    assert_job_event(f.c, "BLOCK_JOB_COMPLETED", "b");
    close_all(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img tgt.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img src.qcow2"),
                     1);
    bq_finish(&f);
}
END_TEST

/*
 * Incremental backup after scattered writes: contiguous dirty clusters
 * are copied as runs, a range written as zeroes is written as zeroes
 * (zero clusters over the backing image, not data).  inc.qcow2 sits on
 * the full backup: it must read as the source, and hold exactly the
 * dirty ranges, as QEMU 7.2's incremental backup of the same flow does
 * (its qemu-img map, recorded).
 */
START_TEST(test_backup_incremental_runs)
{
    BlockFixture f = bq_start(NULL);
    static const char *const writes[] = {
        "write -q -P 0x33 1M 3M",      /* three chunks, one run */
        "write -q -P 0x44 8M 4k",      /* one cluster */
        "write -q -P 0x55 10M 64k",    /* two adjacent clusters */
        "write -q -P 0x56 10304k 64k", /* ... written apart */
        "write -q -z 20M 2M",          /* zeroes */
        "write -q -P 0x66 31M 1M",     /* the last MiB */
    };
    g_autofree char *map = NULL;
    g_autofree char *out = NULL;
    JsonNode *keep;
    JsonObject *d;

    setup(&f, 32);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'src', 'name': 'bm0'}}");
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': 'b0', "
               "'device': 'src', 'target': 'tgt', 'sync': 'full'}}");
    assert_job_event(f.c, "BLOCK_JOB_COMPLETED", "b0");
    for (guint i = 0; i < G_N_ELEMENTS(writes); i++) {
        g_free(bq_sh(&f, "qemu-io -f raw 'nbd+unix:///src?socket=nbd.sock' "
                         "-c '%s'", writes[i]));
    }
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b tgt.qcow2 -F qcow2 "
                     "inc.qcow2"));
    bq_add_fd(&f, f.c, "inc.qcow2", O_RDWR, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'inc', 'backing': 'tgt', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/3'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': 'b1', "
               "'device': 'src', 'target': 'inc', 'sync': 'incremental', "
               "'bitmap': 'bm0'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 60000, &keep);
    ck_assert_msg(!json_object_has_member(d, "error"), "b1 failed");
    /* the dirty clusters: 3M + 64k + 128k + 2M + 1M, as QEMU counts */
    ck_assert_int_eq(json_object_get_int_member(d, "len"), 6488064);
    ck_assert_int_eq(json_object_get_int_member(d, "offset"), 6488064);
    json_node_unref(keep);
    jq_del(f.c, "inc");
    close_all(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q inc.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q src.qcow2 "
                                      "inc.qcow2"),
                     0);
    /* inc's own clusters (depth 0), neighbours of one kind merged (the
     * host order of parallel chunks may split an entry), as QEMU 7.2
     * leaves them */
    map = bq_sh(&f, "qemu-img map --output=json inc.qcow2 | sed -n "
                    "'s/.*\"start\": \\([0-9]*\\), \"length\": "
                    "\\([0-9]*\\), \"depth\": 0, \"present\": true, "
                    "\"zero\": \\([a-z]*\\), \"data\": "
                    "\\([a-z]*\\).*/\\1 \\2 \\3 \\4/p' | awk "
                    "'$1 == s + l && $3 == z { l += $2; next } "
                    "NR > 1 { print s, l, z } { s = $1; l = $2; z = $3 } "
                    "END { print s, l, z }'");
    out = g_strdup("1048576 3145728 false\n"
                   "8388608 65536 false\n"
                   "10485760 131072 false\n"
                   "20971520 2097152 true\n"
                   "32505856 1048576 false\n");
    ck_assert_str_eq(map, out);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("copy");
    TCase *tc = tcase_create("copy");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_mirror_background_guest_over_nbd);
    tcase_add_test(tc, test_mirror_write_blocking_guest_over_nbd);
    tcase_add_test(tc, test_backup_point_in_time_guest_over_nbd);
    tcase_add_test(tc, test_backup_point_in_time_fio_qd16);
    tcase_add_test(tc, test_backup_incremental_runs);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
