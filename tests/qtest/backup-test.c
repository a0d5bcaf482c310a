/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-backup through fdsets: a full backup while the guest (HMP
 * qemu-io) writes into ranges not copied yet, then an incremental one from
 * the bitmap the full backup synchronised; the chain full <- incremental
 * restored with qemu-img and compared with the images; the documented
 * argument errors with QEMU 7.2's texts.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include "block-qtest.h"
#include "job-qtest.h"

/* src.qcow2 4M (0x11, 0x22 at 2M) and the backup targets, all 4M. */
static void make_images(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f qcow2 src.qcow2 4M && "
                    "qemu-io -c 'write -P 0x11 0 4M' "
                    "-c 'write -P 0x22 2M 64k' src.qcow2 && "
                    "qemu-img convert -O raw src.qcow2 before.img && "
                    "qemu-img create -q -f qcow2 full.qcow2 4M && "
                    "qemu-img create -q -f qcow2 -b full.qcow2 -F qcow2 "
                    "inc1.qcow2"));
}

static void add_node(BlockFixture *f, const char *node, const char *file,
                     int64_t set, bool no_backing)
{
    bq_add_fd(f, f->c, file, O_RDWR, set);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': '%s', %s 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/%" G_GINT64_FORMAT "'}}}",
          node, no_backing ? "'backing': null," : "", set);
}

static void del_node(QTestConn *c, const char *node)
{
    bq_ok(c, "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
          node);
}

static void qemu_io(QTestConn *c, const char *node, const char *cmd)
{
    g_autofree char *line = g_strdup_printf("qemu-io %s \"%s\"", node, cmd);

    g_free(bq_hmp(c, line));
}

static int64_t bitmap_count(QTestConn *c, const char *node, const char *name)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    JsonArray *a = json_object_get_array_member(o, "dirty-bitmaps");
    int64_t n = -1;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *b = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(b, "name"), name)) {
            ck_assert(!json_object_get_boolean_member(b, "busy"));
            n = json_object_get_int_member(b, "count");
        }
    }
    json_node_unref(keep);
    return n;
}

static void check_image(BlockFixture *f, const char *file)
{
    ck_assert_msg(bq_sh_status(f, "qemu-img check -q %s", file) == 0,
                  "qemu-img check %s", file);
}

/* Full backup with guest writes during it (copy-before-write), then an
 * incremental one; restored chain == the source at each point. */
START_TEST(test_full_then_incremental)
{
    BlockFixture f = bq_start(NULL);

    make_images(&f);
    add_node(&f, "src", "src.qcow2", 0, false);
    add_node(&f, "full", "full.qcow2", 1, false);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'src', 'name': 'inc'}}");
    qemu_io(f.c, "src", "write -P 0x33 1M 64k"); /* before: in the full */
    /* 1 MiB/s: the worker reaches 2M..4M only after the guest writes */
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
               "'b0', 'device': 'src', 'target': 'full', 'sync': 'full', "
               "'speed': 1048576, 'bitmap': 'inc', "
               "'bitmap-mode': 'on-success'}}");
    qemu_io(f.c, "src", "write -P 0x44 2M 4k");
    qemu_io(f.c, "src", "write -P 0x55 3M 128k");
    bq_err(f.c, "Bitmap 'inc' is currently in use by another operation and "
                "cannot be used",
           "{'execute': 'block-dirty-bitmap-clear', 'arguments': "
           "{'node': 'src', 'name': 'inc'}}");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'b0', 'speed': 0}}");
    bq_wait_status(f.c, "b0", "null");
    /* the bitmap now holds what the guest wrote during the job */
    ck_assert_int_eq(bitmap_count(f.c, "src", "inc"), 3 * 65536);
    del_node(f.c, "full");
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x33 1M 64k' before.img"));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "before.img full.qcow2"),
                     0);
    check_image(&f, "full.qcow2");

    qemu_io(f.c, "src", "write -P 0x66 64k 4k");
    add_node(&f, "inc1", "inc1.qcow2", 2, true);
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
               "'b1', 'device': 'src', 'target': 'inc1', "
               "'sync': 'incremental', 'bitmap': 'inc'}}");
    bq_wait_status(f.c, "b1", "null");
    ck_assert_int_eq(bitmap_count(f.c, "src", "inc"), 0);
    del_node(f.c, "inc1");
    del_node(f.c, "src");
    /* full <- inc1 is the source as it is now; inc1 holds 4 clusters */
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q src.qcow2 "
                                      "inc1.qcow2"),
                     0);
    check_image(&f, "inc1.qcow2");
    check_image(&f, "src.qcow2");
    ck_assert_int_ne(bq_sh_status(&f, "qemu-img compare -q src.qcow2 "
                                      "full.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* Nodes "src" and "copy" on @src and @copy, and job b0 copying src to
 * copy (sync full, then @extra arguments, if any). */
static void start_backup(BlockFixture *f, const char *src, const char *copy,
                         const char *extra)
{
    add_node(f, "src", src, 0, false);
    add_node(f, "copy", copy, 1, false);
    bq_ok(f->c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
                "'b0', 'device': 'src', 'target': 'copy', 'sync': 'full'%s}}",
          extra);
}

/* Both nodes gone, @copy reads as @want (qemu-img compare arguments
 * before it) and passes qemu-img check. */
static void copy_is(BlockFixture *f, const char *want, const char *copy)
{
    del_node(f->c, "copy");
    del_node(f->c, "src");
    ck_assert_int_eq(bq_sh_status(f, "qemu-img compare -q %s %s", want, copy),
                     0);
    check_image(f, copy);
}

/* Bytes of @file in the page cache (mincore through a mapping of it). */
static int64_t cached_bytes(BlockFixture *f, const char *file)
{
    g_autofree char *path = bq_path(f, file);
    long page = sysconf(_SC_PAGESIZE);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    g_autofree unsigned char *vec = NULL;
    struct stat st;
    int64_t n = 0;
    size_t pages;
    void *map;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fstat(fd, &st), 0);
    pages = (st.st_size + page - 1) / page;
    vec = g_malloc0(pages);
    map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    ck_assert(map != MAP_FAILED);
    ck_assert_int_eq(mincore(map, st.st_size, vec), 0);
    for (size_t i = 0; i < pages; i++) {
        n += (vec[i] & 1) ? page : 0;
    }
    munmap(map, st.st_size);
    close(fd);
    return n;
}

/*
 * A push backup's target is written once: its pages leave the page cache
 * as it goes and once it is flushed (bdrv_file_drop_behind), so a disk's
 * copy does not take a page-cache page for each of its pages.  The copy
 * still reads back as the source.
 */
START_TEST(test_target_pages_dropped)
{
    BlockFixture f = bq_start(NULL);
    int64_t cached;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 big.qcow2 96M && "
                     "qemu-io -c 'write -P 0x5a 0 96M' big.qcow2 && "
                     "qemu-img create -q -f qcow2 copy.qcow2 96M"));
    start_backup(&f, "big.qcow2", "copy.qcow2", "");
    bq_wait_status(f.c, "b0", "null");
    cached = cached_bytes(&f, "copy.qcow2");
    ck_assert_msg(cached < 8 * 1024 * 1024,
                  "%" G_GINT64_FORMAT " bytes of the target still cached",
                  cached);
    copy_is(&f, "big.qcow2", "copy.qcow2");
    bq_finish(&f);
}
END_TEST

/*
 * A guest write during a full backup copies the whole 2 MiB window
 * around it first, not only its cluster (cfg.cbw_window): the job's
 * progress jumps by the window (plus at most the worker's first chunk,
 * speed-limited to one cluster), and the copy is the source before it.
 */
START_TEST(test_cbw_copies_window)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *offset = NULL;
    int64_t done;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 w.qcow2 8M && "
                     "qemu-io -c 'write -P 0x21 0 8M' w.qcow2 && "
                     "qemu-img convert -O raw w.qcow2 w-before.img && "
                     "qemu-img create -q -f qcow2 w-copy.qcow2 8M"));
    start_backup(&f, "w.qcow2", "w-copy.qcow2", ", 'speed': 1");
    qemu_io(f.c, "src", "write -P 0x42 5128k 4k");
    /* the copy's write may still be on its way (deferred to the pool) */
    for (int i = 0; i < 500; i++) {
        g_free(offset);
        offset = jq_field(f.c, "b0", "offset");
        done = g_ascii_strtoll(offset, NULL, 10);
        if (done >= 2 * MiB) {
            break;
        }
        g_usleep(10 * 1000);
    }
    ck_assert_msg(done == 2 * MiB || done == 2 * MiB + 65536,
                  "progress %" G_GINT64_FORMAT " after one guest write", done);
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'b0', 'speed': 0}}");
    bq_wait_status(f.c, "b0", "null");
    copy_is(&f, "-f raw -F qcow2 w-before.img", "w-copy.qcow2");
    bq_finish(&f);
}
END_TEST

/*
 * A read error elsewhere in the window is not the guest write's: the
 * write copies its own cluster and succeeds; the job meets the error
 * when it gets there.  (qemu-img lays the written image out in one run:
 * guest offset + the host offset of guest 0.)
 */
START_TEST(test_cbw_window_error_elsewhere)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *host = NULL;
    g_autofree char *out = NULL;
    int64_t bad_sector;

    host = bq_sh(&f, "qemu-img create -q -f qcow2 e.qcow2 8M && "
                     "qemu-io -c 'write -P 0x21 0 8M' e.qcow2 >/dev/null && "
                     "qemu-img create -q -f qcow2 e-copy.qcow2 8M && "
                     "qemu-img map --output=json e.qcow2 | "
                     "sed -n 's/.*\"offset\": \\([0-9]*\\).*/\\1/p'");
    bad_sector = (g_ascii_strtoll(host, NULL, 10) + 5632 * 1024) / 512;
    bq_add_fd(&f, f.c, "e.qcow2", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'src', 'file': {'driver': 'blkdebug', "
               "'inject-error': [{'event': 'read_aio', 'iotype': 'read', "
               "'sector': %" G_GINT64_FORMAT "}], 'image': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}}", bad_sector);
    add_node(&f, "copy", "e-copy.qcow2", 1, false);
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
               "'b0', 'device': 'src', 'target': 'copy', 'sync': 'full', "
               "'speed': 1}}");
    out = bq_hmp(f.c, "qemu-io src \"write -P 0x42 5128k 4k\"");
    ck_assert_str_eq(out, "wrote 4096/4096 bytes at offset 5251072\r\n");
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'b0', 'force': true}}");
    bq_wait_status(f.c, "b0", "null");
    del_node(f.c, "copy");
    del_node(f.c, "src");
    bq_finish(&f);
}
END_TEST

/* sync=none (pull mode's scratch): only the old data of what the guest
 * overwrites reaches the target; the job runs until cancelled.  Its
 * progress is QEMU 7.2's (measured, compat-compare.py
 * backup-none-cancel): 0 of the whole length, copies before writes not
 * counted; cancelled, it concludes with "Operation canceled". */
START_TEST(test_sync_none)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *map = NULL;

    make_images(&f);
    add_node(&f, "src", "src.qcow2", 0, false);
    add_node(&f, "scratch", "full.qcow2", 1, false);
    bq_ok(f.c, "{'execute': 'blockdev-backup', 'arguments': {'job-id': "
               "'b2', 'device': 'src', 'target': 'scratch', "
               "'sync': 'none', 'auto-dismiss': false}}");
    qemu_io(f.c, "src", "write -P 0x77 1M 4k");
    qemu_io(f.c, "src", "write -P 0x78 1M 4k"); /* copied once, not twice */
    bq_wait_status(f.c, "b2", "running");
    jq_assert_field(f.c, "b2", "len", "4194304");
    jq_assert_field(f.c, "b2", "offset", "0");
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'b2'}}");
    {
        g_autoptr(JsonNode) ev = qtest_event_wait(f.c, "BLOCK_JOB_CANCELLED",
                                                  10000);
        JsonObject *d;

        ck_assert_ptr_nonnull(ev);
        d = json_object_get_object_member(json_node_get_object(ev), "data");
        ck_assert_int_eq(json_object_get_int_member(d, "len"), 4194304);
        ck_assert_int_eq(json_object_get_int_member(d, "offset"), 0);
    }
    bq_wait_status(f.c, "b2", "concluded");
    jq_assert_field(f.c, "b2", "error", "Operation canceled");
    jq_assert_field(f.c, "b2", "len", "4194304");
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'b2'}}");
    del_node(f.c, "scratch");
    del_node(f.c, "src");
    g_free(bq_sh(&f, "qemu-io -c 'read -P 0x11 1M 64k' full.qcow2 && "
                     "qemu-io -c 'read -P 0x78 1M 4k' src.qcow2"));
    map = bq_sh(&f, "qemu-img map --output=json full.qcow2");
    ck_assert_msg(strstr(map, "\"start\": 1048576, \"length\": 65536, "
                         "\"depth\": 0, \"present\": true, \"zero\": "
                         "false, \"data\": true"), "%s", map);
    check_image(&f, "full.qcow2");
    bq_finish(&f);
}
END_TEST

/* The argument errors, with QEMU 7.2's texts; no job is left. */
START_TEST(test_errors)
{
    static const struct {
        const char *args, *desc;
    } cases[] = {
        {"'device': 'nope', 'target': 'full', 'sync': 'full'",
         "Cannot find device='nope' nor node-name='nope'"},
        {"'device': 'src', 'target': 'full', 'sync': 'incremental'",
         "must provide a valid bitmap name for 'incremental' sync mode"},
        {"'device': 'src', 'target': 'full', 'sync': 'bitmap'",
         "must provide a valid bitmap name for 'bitmap' sync mode"},
        {"'device': 'src', 'target': 'full', 'sync': 'incremental', "
         "'bitmap': 'b', 'bitmap-mode': 'never'",
         "Bitmap sync mode must be 'on-success' when using sync mode "
         "'incremental'"},
        {"'device': 'src', 'target': 'full', 'sync': 'full', "
         "'bitmap-mode': 'always'",
         "Cannot specify bitmap sync mode without a bitmap"},
        {"'device': 'src', 'target': 'full', 'sync': 'bitmap', "
         "'bitmap': 'zz', 'bitmap-mode': 'always'",
         "Bitmap 'zz' could not be found"},
        {"'device': 'src', 'target': 'full', 'sync': 'bitmap', "
         "'bitmap': 'b'",
         "Bitmap sync mode must be given when providing a bitmap"},
        {"'device': 'src', 'target': 'full', 'sync': 'none', "
         "'bitmap': 'b', 'bitmap-mode': 'always'",
         "sync mode 'none' does not produce meaningful bitmap outputs"},
        {"'device': 'src', 'target': 'full', 'sync': 'full', "
         "'bitmap': 'b', 'bitmap-mode': 'never'",
         "Bitmap sync mode 'never' has no meaningful effect when combined "
         "with sync mode 'full'"},
        {"'device': 'src', 'target': 'full', 'sync': 'full', "
         "'compress': true",
         "Compression is not supported for this drive full"},
        {"'device': 'src', 'target': 'small', 'sync': 'full'",
         "Source and target image have different sizes"},
    };
    BlockFixture f = bq_start(NULL);

    make_images(&f);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 small.qcow2 1M"));
    add_node(&f, "src", "src.qcow2", 0, false);
    add_node(&f, "full", "full.qcow2", 1, false);
    add_node(&f, "small", "small.qcow2", 2, false);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'src', 'name': 'b'}}");
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        bq_err(f.c, cases[i].desc,
               "{'execute': 'blockdev-backup', 'arguments': {%s}}",
               cases[i].args);
    }
    bq_err(f.c, "Invalid parameter type for 'compress', expected: boolean",
           "{'execute': 'blockdev-backup', 'arguments': {'device': 'src', "
           "'target': 'full', 'sync': 'full', 'compress': 1}}");
    del_node(f.c, "small");
    del_node(f.c, "full");
    del_node(f.c, "src");
    bq_finish(&f);
}
END_TEST

static bool bitmap_recording(QTestConn *c, const char *node,
                             const char *name)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    JsonArray *a = json_object_get_array_member(o, "dirty-bitmaps");
    bool v = false;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *b = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(b, "name"), name)) {
            v = json_object_get_boolean_member(b, "recording");
        }
    }
    json_node_unref(keep);
    return v;
}

/* transaction: bitmap + full backup together (libvirt's first backup);
 * a failing action undoes the bitmap actions before it. */
START_TEST(test_transaction)
{
    BlockFixture f = bq_start(NULL);

    make_images(&f);
    add_node(&f, "src", "src.qcow2", 0, false);
    add_node(&f, "full", "full.qcow2", 1, false);
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
               "'name': 'inc'}}, "
               "{'type': 'blockdev-backup', 'data': {'job-id': 'b0', "
               "'device': 'src', 'target': 'full', 'sync': 'full', "
               "'bitmap': 'inc', 'bitmap-mode': 'on-success'}}]}}");
    bq_wait_status(f.c, "b0", "null");
    del_node(f.c, "full");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "before.img full.qcow2"),
                     0);
    qemu_io(f.c, "src", "write -P 0x66 64k 4k");
    ck_assert_int_eq(bitmap_count(f.c, "src", "inc"), 65536);
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'transaction', 'arguments': {'actions': ["
           "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
           "'name': 'x'}}, "
           "{'type': 'block-dirty-bitmap-clear', 'data': {'node': 'src', "
           "'name': 'inc'}}, "
           "{'type': 'block-dirty-bitmap-disable', 'data': {'node': 'src', "
           "'name': 'inc'}}, "
           "{'type': 'blockdev-backup', 'data': {'device': 'src', "
           "'target': 'nope', 'sync': 'full'}}]}}");
    ck_assert_int_eq(bitmap_count(f.c, "src", "x"), -1);
    ck_assert_int_eq(bitmap_count(f.c, "src", "inc"), 65536);
    ck_assert(bitmap_recording(f.c, "src", "inc"));
    bq_err(f.c, "Action 'block-dirty-bitmap-add' does not support "
                "Transaction property completion-mode = grouped",
           "{'execute': 'transaction', 'arguments': {'actions': ["
           "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
           "'name': 'x'}}], 'properties': {'completion-mode': "
           "'grouped'}}}");
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'src', "
               "'name': 'x', 'disabled': true}}, "
               "{'type': 'block-dirty-bitmap-merge', 'data': {'node': 'src', "
               "'target': 'x', 'bitmaps': ['inc']}}, "
               "{'type': 'block-dirty-bitmap-remove', 'data': {'node': "
               "'src', 'name': 'inc'}}]}}");
    ck_assert_int_eq(bitmap_count(f.c, "src", "x"), 65536);
    ck_assert_int_eq(bitmap_count(f.c, "src", "inc"), -1);
    del_node(f.c, "src");
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("backup");
    TCase *tc = tcase_create("backup");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_full_then_incremental);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_transaction);
    tcase_add_test(tc, test_sync_none);
    tcase_add_test(tc, test_target_pages_dropped);
    tcase_add_test(tc, test_cbw_copies_window);
    tcase_add_test(tc, test_cbw_window_error_elsewhere);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
