/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * drive-backup through fdsets: the target is a /dev/fdset/N path that
 * fdsetd formats (mode absolute-paths, the default) or opens as it is
 * (existing); backup's job copies into it (guest writes during the job
 * copy the old data first); the node goes with the job.  sync=top
 * records the source's backing file, sync=none makes the source the
 * target's backing (point-in-time view).  The transaction action, and the
 * argument errors with QEMU 7.2's texts where QEMU has them.
 */
#include "block-qtest.h"

/* src.qcow2 4M over base.qcow2: 0x11 everywhere from base, 0x22 at 1M
 * (64k) and 0x33 at 3M (64k) in src; before.img is src's data, raw. */
static void make_images(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f qcow2 base.qcow2 4M && "
                    "qemu-io -c 'write -P 0x11 0 4M' base.qcow2 && "
                    "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                    "src.qcow2 && "
                    "qemu-io -c 'write -P 0x22 1M 64k' "
                    "-c 'write -P 0x33 3M 64k' src.qcow2 && "
                    "qemu-img convert -O raw src.qcow2 before.img && "
                    ": > tgt"));
}

/* base (read-only) and src over fdsets 0 and 1; the target is set 2. */
static void add_source(BlockFixture *f)
{
    bq_add_fd(f, f->c, "base.qcow2", O_RDONLY, 0);
    bq_add_fd(f, f->c, "src.qcow2", O_RDWR, 1);
    bq_add_fd(f, f->c, "tgt", O_RDWR, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'base', 'read-only': true, 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'src', 'backing': 'base', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
}

static void del_source(BlockFixture *f)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'src'}}");
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'base'}}");
}

static void qemu_io(QTestConn *c, const char *node, const char *cmd)
{
    g_autofree char *line = g_strdup_printf("qemu-io %s \"%s\"", node, cmd);
    g_autofree char *out = bq_hmp(c, line);

    ck_assert_msg(!strstr(out, "fail") && !strstr(out, "error"), "%s: %s", line,
                  out);
}

static void check_image(BlockFixture *f, const char *file)
{
    ck_assert_msg(bq_sh_status(f, "qemu-img check -q %s", file) == 0,
                  "qemu-img check %s", file);
}

/* The qcow2 node fdsetd opened (the job's target: no name), new string. */
static char *target_node(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes', "
                               "'arguments': {'flat': true}}");
    JsonArray *a = qtest_return_array(r);
    char *name = NULL;

    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (json_object_get_string_member(o, "node-name")[0] == '#' &&
            g_str_equal(json_object_get_string_member(o, "drv"), "qcow2")) {
            name = g_strdup(json_object_get_string_member(o, "node-name"));
        }
    }
    json_node_unref(r);
    ck_assert_msg(name, "no target node");
    return name;
}

/* The default mode formats the fdset's empty file as a qcow2 of the
 * source's size (the source's format) and backs the source up into it,
 * guest writes during the job included (they copy the old data first). */
START_TEST(test_absolute_paths_full)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_images(&f);
    add_source(&f);
    bq_ok(f.c, "{'execute': 'drive-backup', 'arguments': {'job-id': 'd0', "
               "'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
               "'speed': 1048576}}");
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 2); /* member, file node */
    qemu_io(f.c, "src", "write -P 0x44 2M 4k");
    qemu_io(f.c, "src", "write -P 0x55 3M 128k");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'd0', 'speed': 0}}");
    bq_wait_status(f.c, "d0", "null");
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 1); /* the member only */
    info = bq_sh(&f, "qemu-img info tgt");
    ck_assert_msg(strstr(info, "file format: qcow2") &&
                      strstr(info, "virtual size: 4 MiB (4194304 bytes)") &&
                      !strstr(info, "backing file"),
                  "%s", info);
    check_image(&f, "tgt");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "before.img tgt"),
                     0);
    del_source(&f);
    ck_assert_int_ne(bq_sh_status(&f, "qemu-img compare -q src.qcow2 tgt"), 0);
    bq_finish(&f);
}
END_TEST

/* mode existing opens the image as it is, probing its format (raw). */
START_TEST(test_existing_raw_probed)
{
    BlockFixture f = bq_start(NULL);

    make_images(&f);
    g_free(bq_sh(&f, "qemu-img create -q -f raw tgt 4M"));
    add_source(&f);
    bq_ok(f.c, "{'execute': 'drive-backup', 'arguments': {'device': 'src', "
               "'target': '/dev/fdset/2', 'sync': 'full', "
               "'mode': 'existing'}}");
    bq_wait_status(f.c, "src", "null"); /* job-id: the device */
    ck_assert_int_eq(bq_sh_status(&f, "cmp -s before.img tgt"), 0);
    del_source(&f);
    bq_finish(&f);
}
END_TEST

/* sync=top copies src's own clusters into a qcow2 that records src's
 * backing file name (a real path): the chain reads as the source. */
START_TEST(test_sync_top_records_backing)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;
    g_autofree char *map = NULL;

    make_images(&f);
    add_source(&f);
    bq_ok(f.c, "{'execute': 'drive-backup', 'arguments': {'job-id': 'd1', "
               "'device': 'src', 'target': '/dev/fdset/2', 'sync': 'top', "
               "'format': 'qcow2'}}");
    bq_wait_status(f.c, "d1", "null");
    del_source(&f);
    info = bq_sh(&f, "qemu-img info tgt");
    /* the name src's header has (relative to src's directory) */
    ck_assert_msg(strstr(info, "backing file: base.qcow2\n") &&
                      strstr(info, "backing file format: qcow2"),
                  "%s", info);
    check_image(&f, "tgt");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q src.qcow2 tgt"), 0);
    /* only the top layer's two clusters are in the target */
    map = bq_sh(&f, "qemu-img map --output=json tgt | grep -c '\"depth\": 0,"
                    " \"present\": true, \"zero\": false, \"data\": true'");
    ck_assert_str_eq(g_strstrip(map), "2");
    bq_finish(&f);
}
END_TEST

/* sync=none: the target's backing is the source, so while the job runs
 * the target node reads as the source was at the start; only overwritten
 * clusters' old data reach the image. */
START_TEST(test_sync_none_point_in_time)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *node = NULL;
    g_autofree char *cmd = NULL;
    g_autofree char *map = NULL;

    make_images(&f);
    add_source(&f);
    bq_ok(f.c, "{'execute': 'drive-backup', 'arguments': {'job-id': 'd2', "
               "'device': 'src', 'target': '/dev/fdset/2', 'sync': 'none'}}");
    bq_wait_status(f.c, "d2", "running");
    node = target_node(f.c);
    qemu_io(f.c, "src", "write -P 0x66 1M 4k");
    qemu_io(f.c, "src", "read -P 0x66 1M 4k");
    qemu_io(f.c, node, "read -P 0x22 1M 64k"); /* the old data, copied */
    qemu_io(f.c, node, "read -P 0x33 3M 64k"); /* from src: its backing */
    qemu_io(f.c, node, "read -P 0x11 0 1M");   /* from base, through src */
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'd2'}}");
    bq_wait_status(f.c, "d2", "null");
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 1);
    del_source(&f);
    check_image(&f, "tgt");
    map = bq_sh(&f, "qemu-img map --output=json -f qcow2 tgt");
    ck_assert_msg(strstr(map, "\"start\": 1048576, \"length\": 65536, "
                              "\"depth\": 0, \"present\": true, "
                              "\"zero\": false, \"data\": true"),
                  "%s", map);
    g_free(bq_sh(&f, "qemu-io -f qcow2 -c 'read -P 0x22 1M 64k' tgt"));
    bq_finish(&f);
}
END_TEST

/* drive-backup in a transaction (with the bitmap libvirt adds); a failing
 * action later in the transaction undoes the prepared backup. */
START_TEST(test_transaction)
{
    BlockFixture f = bq_start(NULL);
    guint fds;

    make_images(&f);
    add_source(&f);
    fds = qtest_count_fds(f.s);
    bq_err(f.c, "Transaction aborted using Abort action",
           "{'execute': 'transaction', 'arguments': {'actions': ["
           "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
           "'name': 'inc'}}, "
           "{'type': 'drive-backup', 'data': {'job-id': 'd3', "
           "'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full'}}, "
           "{'type': 'abort', 'data': {}}]}}");
    ck_assert_uint_eq(qtest_count_fds(f.s), fds);
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 1);
    bq_err(f.c, "Job not found",
           "{'execute': 'job-dismiss', 'arguments': {'id': 'd3'}}");
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
               "'name': 'inc'}}, "
               "{'type': 'drive-backup', 'data': {'job-id': 'd4', "
               "'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
               "'bitmap': 'inc', 'bitmap-mode': 'on-success'}}]}}");
    bq_wait_status(f.c, "d4", "null");
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 1);
    qemu_io(f.c, "src", "write -P 0x77 64k 4k");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "before.img tgt"),
                     0);
    check_image(&f, "tgt");
    del_source(&f);
    bq_finish(&f);
}
END_TEST

/* The errors: QEMU 7.2's texts (recorded), fdsetd's where it refuses
 * more; no job and no fd are left behind. */
START_TEST(test_errors)
{
    static const struct {
        const char *args, *desc;
    } cases[] = {
        {"'device': 'nosuch', 'target': '/dev/fdset/2', 'sync': 'full'",
         "Cannot find device='nosuch' nor node-name='nosuch'"},
        {"'device': 'src', 'target': '/dev/fdset/9', 'sync': 'full', "
         "'mode': 'existing'",
         "Could not dup FD for /dev/fdset/9 flags 2: No such file or "
         "directory"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'format': 'nosuchfmt'",
         "Unknown driver 'nosuchfmt'"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'incremental', "
         "'mode': 'existing', 'format': 'qcow2'",
         "must provide a valid bitmap name for 'incremental' sync mode"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'mode': 'existing', 'format': 'qcow2', 'bitmap-mode': 'always'",
         "Cannot specify bitmap sync mode without a bitmap"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'mode': 'existing', 'format': 'qcow2', 'bitmap': 'nob', "
         "'bitmap-mode': 'always'",
         "Bitmap 'nob' could not be found"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'mode': 'existing', 'format': 'raw'",
         "Source and target image have different sizes"},
        /* fdsetd's own refusals */
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'compress': true",
         "Compression is not supported for this drive /dev/fdset/2"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'filter-node-name': 'cbw'",
         "Parameter 'filter-node-name' is not supported"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'full', "
         "'format': 'blkdebug'",
         "fdsetd creates qcow2 and raw images only: cannot create "
         "'/dev/fdset/2' as 'blkdebug'"},
        {"'device': 'src', 'target': '/dev/fdset/2', 'sync': 'top', "
         "'format': 'raw'",
         "Backing file not supported for file format 'raw'"},
    };
    BlockFixture f = bq_start(NULL);

    make_images(&f);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 tgt 4M && "
                     "qemu-img create -q -f raw small.img 1M"));
    add_source(&f);
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        bq_err(f.c, cases[i].desc,
               "{'execute': 'drive-backup', 'arguments': {%s}}", cases[i].args);
    }
    bq_add_fd(&f, f.c, "small.img", O_RDWR, 3);
    bq_err(f.c, "Source and target image have different sizes",
           "{'execute': 'drive-backup', 'arguments': {'device': 'src', "
           "'target': '/dev/fdset/3', 'sync': 'full', 'mode': 'existing'}}");
    ck_assert_uint_eq(bq_fds_on(&f, "tgt", NULL), 1);
    ck_assert_uint_eq(bq_fds_on(&f, "small.img", NULL), 1);
    {
        JsonNode *r = qtest_qmp(f.c, "{'execute': 'query-jobs'}");

        ck_assert_uint_eq(json_array_get_length(qtest_return_array(r)), 0);
        json_node_unref(r);
    }
    del_source(&f);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("drive-backup");
    TCase *tc = tcase_create("drive-backup");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_absolute_paths_full);
    tcase_add_test(tc, test_existing_raw_probed);
    tcase_add_test(tc, test_sync_top_records_backing);
    tcase_add_test(tc, test_sync_none_point_in_time);
    tcase_add_test(tc, test_transaction);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
