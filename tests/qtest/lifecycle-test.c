/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block_resize, change-backing-file and block-set-write-threshold through
 * fdsets: each command's effect checked with qemu-img (info, check,
 * compare), each documented error with QEMU 7.2's text, and the daemon's
 * fds against the registry at the end of every scenario.
 */
#include "block-qtest.h"

#define MiB (1024 * 1024)

/* base.img (raw, 1 MiB of 0x11) <- top.qcow2 (512-byte clusters, so a
 * larger size needs a larger L1 table; 0x22 at 64k..128k). */
static void make_chain(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 1M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 1M' base.img && "
                    "qemu-img create -q -f qcow2 -o cluster_size=512 "
                    "-b base.img -F raw top.qcow2 && "
                    "qemu-io -c 'write -P 0x22 64k 64k' top.qcow2 && "
                    "qemu-img convert -O raw top.qcow2 expect.img"));
}

/* Sets 0 (base, O_RDONLY) and 1 (top, O_RDWR); nodes base, top, topf. */
static void open_chain(BlockFixture *f)
{
    bq_add_fd(f, f->c, "base.img", O_RDONLY, 0);
    bq_add_fd(f, f->c, "top.qcow2", O_RDWR, 1);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'read-only': true, 'file': {'driver': "
                "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
                "{'driver': 'file', 'node-name': 'topf', "
                "'filename': '/dev/fdset/1'}}}");
}

static void close_chain(BlockFixture *f)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'top'}}");
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'base'}}");
}

static int64_t node_int(QTestConn *c, const char *node, const char *member)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    int64_t v;

    ck_assert_msg(o, "no node '%s'", node);
    v = json_object_get_int_member(o, member);
    json_node_unref(keep);
    return v;
}

static int64_t virtual_size(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    int64_t v;

    ck_assert_msg(o, "no node '%s'", node);
    v = json_object_get_int_member(json_object_get_object_member(o, "image"),
                                   "virtual-size");
    json_node_unref(keep);
    return v;
}

/* ImageInfo of a qcow2 v3 node: cluster-size and format-specific as
 * QEMU 7.2 shows them for this header. */
static void assert_qcow2_info(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    JsonObject *img = json_object_get_object_member(o, "image");
    JsonObject *spec = json_object_get_object_member(img, "format-specific");
    JsonObject *d = json_object_get_object_member(spec, "data");

    ck_assert_int_eq(json_object_get_int_member(img, "cluster-size"), 512);
    ck_assert_str_eq(json_object_get_string_member(spec, "type"), "qcow2");
    ck_assert_str_eq(json_object_get_string_member(d, "compat"), "1.1");
    ck_assert_str_eq(json_object_get_string_member(d, "compression-type"),
                     "zlib");
    ck_assert(!json_object_get_boolean_member(d, "lazy-refcounts"));
    ck_assert(!json_object_get_boolean_member(d, "corrupt"));
    ck_assert(!json_object_get_boolean_member(d, "extended-l2"));
    ck_assert_int_eq(json_object_get_int_member(d, "refcount-bits"), 16);
    json_node_unref(keep);
}

/* Growing a qcow2 past its L1 table: the image stays valid, the data and
 * the backing chain read as before, the new range reads as the backing
 * file ends (zeroes). */
START_TEST(test_resize_qcow2_grows_l1)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_chain(&f);
    open_chain(&f);
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'top', 'size': %d}}", 64 * MiB);
    ck_assert_int_eq(virtual_size(f.c, "top"), 64 * MiB);
    assert_qcow2_info(f.c, "top");
    close_chain(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "(67108864 bytes)"), "%s", info);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    g_free(bq_sh(&f, "qemu-img resize -q -f raw expect.img 64M"));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img top.qcow2"),
                     0);
    /* and the image still takes writes beyond the old L1 table */
    g_free(bq_sh(&f, "qemu-io -c 'write -P 0x33 60M 64k' top.qcow2 && "
                     "qemu-img check -q top.qcow2"));
    bq_finish(&f);
}
END_TEST

/* A raw root node resizes its file; the file child is refused. */
START_TEST(test_resize_raw_and_errors)
{
    BlockFixture f = bq_start(NULL);
    struct stat st;
    g_autofree char *path = NULL;

    make_chain(&f);
    open_chain(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'r', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': 'r', "
               "'size': %d}}", 3 * MiB);
    path = bq_path(&f, "base.img");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 3 * MiB);
    bq_err(f.c, "Cannot find device='' nor node-name='nope'",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'nope', "
           "'size': 512}}");
    bq_err(f.c, "Cannot find device='' nor node-name=''",
           "{'execute': 'block_resize', 'arguments': {'size': 512}}");
    bq_err(f.c, "Parameter 'size' expects a >0 size",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'top', "
           "'size': -1}}");
    bq_err(f.c, "The new size must be a multiple of 512",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'top', "
           "'size': 1000}}");
    bq_err(f.c, "Device '(null)' is in use",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'base', "
           "'size': %d}}", 2 * MiB);
    bq_err(f.c, "Device '(null)' is in use",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'topf', "
           "'size': %d}}", 2 * MiB);
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'top', 'size': 512}}");
    ck_assert_int_eq(virtual_size(f.c, "top"), 512);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': 'r'}}");
    close_chain(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/*
 * QEMU 7.2 (measured, compat-compare.py resize): block_resize of a raw or
 * file node truncates the file to the size asked, and the node counts
 * whole sectors: query-named-block-nodes, the NBD export and qemu-img
 * info show the size rounded up to 512; the tail reads as zeroes.
 */
START_TEST(test_resize_raw_rounds_to_sectors)
{
    static const int64_t sizes[][2] = {
        {1000000, 1000448}, {2000001, 2000384}, {2097152, 2097152},
        {500000, 500224}, {511, 512}, {1, 512}, {1000000, 1000448},
    };
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "r.img");
    g_autofree char *sock = bq_path(&f, "nbd.sock");
    g_autofree char *out = NULL;
    struct stat st;

    g_free(bq_sh(&f, "truncate -s 1M r.img"));
    bq_add_fd(&f, f.c, "r.img", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'r', 'file': {'driver': 'file', 'node-name': "
               "'rf', 'filename': '/dev/fdset/2'}}}");
    for (guint i = 0; i < G_N_ELEMENTS(sizes); i++) {
        bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
                   "'r', 'size': %" G_GINT64_FORMAT "}}", sizes[i][0]);
        ck_assert_int_eq(stat(path, &st), 0);
        ck_assert_int_eq(st.st_size, sizes[i][0]);
        ck_assert_int_eq(virtual_size(f.c, "r"), sizes[i][1]);
        ck_assert_int_eq(virtual_size(f.c, "rf"), sizes[i][1]);
    }
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}}}", sock);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e0', 'node-name': 'r'}}");
    out = bq_sh(&f, "nbdinfo --size 'nbd+unix:///r?socket=nbd.sock' && "
                    "qemu-io -r -f raw -c 'read -P 0 999936 512' "
                    "'nbd+unix:///r?socket=nbd.sock' | head -1");
    ck_assert_str_eq(out, "1000448\n"
                          "read 512/512 bytes at offset 999936\n");
    bq_ok(f.c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0'}}");
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'r'}}");
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 1000000);
    g_free(out);
    out = bq_sh(&f, "qemu-img info --output=json r.img | "
                    "grep '\"virtual-size\"'");
    ck_assert_ptr_nonnull(strstr(out, "1000448"));
    bq_finish(&f);
}
END_TEST

/* Header fields of a qcow2 file and its size. */
static void qcow2_fields(BlockFixture *f, const char *name, uint64_t *size,
                         uint32_t *l1_size, uint64_t *file_size)
{
    g_autofree char *path = bq_path(f, name);
    uint8_t h[48];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, h, sizeof(h), 0), sizeof(h));
    ck_assert_int_eq(fstat(fd, &st), 0);
    close(fd);
    *size = 0;
    for (int i = 24; i < 32; i++) {
        *size = *size << 8 | h[i];
    }
    *l1_size = (uint32_t)h[36] << 24 | h[37] << 16 | h[38] << 8 | h[39];
    *file_size = st.st_size;
}

/*
 * Shrinking qcow2 as QEMU 7.2 does (measured, compat-compare.py shrink):
 * the clusters past the end are freed, the header has the new size, the
 * L1 table keeps its size, unused refcount blocks go and the file is cut
 * after its last cluster in use: the same file size, to the byte.
 */
START_TEST(test_shrink_qcow2_as_qemu)
{
    static const struct {
        const char *create, *writes;
        int64_t size;
        uint64_t l1_size, file_size;
    } cases[] = {
        {"4G", "-c 'write -P 0x11 0 1M' -c 'write -P 0x22 2G 64k' "
               "-c 'write -P 0x33 4032M 1M'", 1048576, 8, 1376256},
        {"4G", "-c 'write -P 0x11 0 1M' -c 'write -P 0x22 2G 64k' "
               "-c 'write -P 0x33 4032M 1M'", 2147516416, 8, 1507328},
        {"4G", "-c 'write -P 0x11 0 1M' -c 'write -P 0x22 2G 64k' "
               "-c 'write -P 0x33 4032M 1M'", 1000448, 8, 1376256},
        {"-o cluster_size=512 64M", "-c 'write -P 0x11 0 64M'", 1048576, 2048,
         58857984},
        {"1M", "-c 'write -P 0x11 0 1M'", 65536, 1, 393216},
    };
    BlockFixture f = bq_start(NULL);

    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *img = g_strdup_printf("s%u.qcow2", i);
        uint64_t size, file_size;
        uint32_t l1_size;

        g_free(bq_sh(&f, "qemu-img create -q -f qcow2 %s %s && "
                         "qemu-io -f qcow2 %s %s >/dev/null",
                     img, cases[i].create, cases[i].writes, img));
        bq_add_fd(&f, f.c, img, O_RDWR, 10 + i);
        bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                   "'qcow2', 'node-name': 's', 'file': {'driver': 'file', "
                   "'filename': '/dev/fdset/%u'}}}", 10 + i);
        bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
                   "'s', 'size': %" G_GINT64_FORMAT "}}", cases[i].size);
        ck_assert_int_eq(virtual_size(f.c, "s"), cases[i].size);
        bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
                   "'s'}}");
        bq_ok(f.c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': "
                   "%u}}", 10 + i);
        qcow2_fields(&f, img, &size, &l1_size, &file_size);
        ck_assert_uint_eq(size, cases[i].size);
        ck_assert_uint_eq(l1_size, cases[i].l1_size);
        ck_assert_uint_eq(file_size, cases[i].file_size);
        ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q %s", img), 0);
        /* what stays reads back; grown again, the cut part is zeroes */
        ck_assert_int_eq(bq_sh_status(&f, "qemu-io -f qcow2 -c 'read -P 0x11 "
                                          "0 %" G_GINT64_FORMAT "' %s",
                                      MIN(cases[i].size, 1048576), img), 0);
        ck_assert_int_eq(bq_sh_status(&f, "qemu-img resize -q %s 4G && "
                                          "qemu-io -f qcow2 -c 'read -P 0 "
                                          "4032M 1M' %s", img, img), 0);
    }
    bq_finish(&f);
}
END_TEST

/* The header names what the manager says; a read-only image is reopened
 * read-write for it and back, through the set's O_RDWR member. */
START_TEST(test_change_backing_file)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_chain(&f);
    g_free(bq_sh(&f, "cp base.img renamed.img"));
    open_chain(&f);
    bq_ok(f.c, "{'execute': 'change-backing-file', 'arguments': {'device': "
               "'top', 'image-node-name': 'top', "
               "'backing-file': 'renamed.img'}}");
    bq_err(f.c,
           "Backing file name '/dev/fdset/0' is an fdset path, which other "
           "programs cannot open",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'top', 'image-node-name': 'top', "
           "'backing-file': '/dev/fdset/0'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'nope', 'image-node-name': 'top', 'backing-file': 'x'}}");
    bq_err(f.c, "Cannot find device='' nor node-name='nope'",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'top', 'image-node-name': 'nope', 'backing-file': 'x'}}");
    bq_err(f.c, "not allowing backing file change on an image without a "
                "backing file",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'top', 'image-node-name': 'base', 'backing-file': 'x'}}");
    bq_err(f.c, "Need a root block node",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'base', 'image-node-name': 'top', 'backing-file': 'x'}}");
    close_chain(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: renamed.img\n"), "%s", info);
    ck_assert_msg(strstr(info, "backing file format: raw\n"), "%s", info);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img top.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* Read-only top: reopened read-write for the change, read-only after. */
START_TEST(test_change_backing_file_read_only_image)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_chain(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'read-only': true, 'backing': "
               "'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_err(f.c, "Could not dup FD for /dev/fdset/1 flags 2: Permission denied",
           "{'execute': 'change-backing-file', 'arguments': {'device': "
           "'top', 'image-node-name': 'top', 'backing-file': 'x.img'}}");
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'change-backing-file', 'arguments': {'device': "
               "'top', 'image-node-name': 'top', "
               "'backing-file': 'other.img'}}");
    ck_assert(bq_node_ro(f.c, "top"));
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", "rw"), 1); /* the member */
    close_chain(&f);
    info = bq_sh(&f, "qemu-img info -U top.qcow2");
    ck_assert_msg(strstr(info, "backing file: other.img"), "%s", info);
    bq_finish(&f);
}
END_TEST

/* A commit writing into base crosses base's threshold: one event, with
 * the amount, and the threshold is off afterwards. */
START_TEST(test_write_threshold_event)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d;

    make_chain(&f);
    open_chain(&f);
    bq_err(f.c, "Device 'nope' not found",
           "{'execute': 'block-set-write-threshold', 'arguments': "
           "{'node-name': 'nope', 'write-threshold': 100}}");
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-set-write-threshold', 'arguments': "
               "{'node-name': 'base', 'write-threshold': 65536}}");
    ck_assert_int_eq(node_int(f.c, "base", "write_threshold"), 65536);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'top'}}");
    d = bq_event(f.c, "BLOCK_WRITE_THRESHOLD", 20000, &keep);
    ck_assert_str_eq(json_object_get_string_member(d, "node-name"), "base");
    ck_assert_int_eq(json_object_get_int_member(d, "write-threshold"), 65536);
    /* the first write past 64k ends somewhere in top's data (64k..128k) */
    ck_assert_int_gt(json_object_get_int_member(d, "amount-exceeded"), 0);
    ck_assert_int_le(json_object_get_int_member(d, "amount-exceeded"), 65536);
    json_node_unref(keep);
    bq_wait_status(f.c, "c0", "ready");
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'c0'}}");
    bq_wait_status(f.c, "c0", "null");
    ck_assert_int_eq(node_int(f.c, "base", "write_threshold"), 0);
    ck_assert_ptr_null(qtest_event_wait(f.c, "BLOCK_WRITE_THRESHOLD", 200));
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'top'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'base'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect.img base.img"),
                     0);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("lifecycle");
    TCase *tc = tcase_create("lifecycle");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_resize_qcow2_grows_l1);
    tcase_add_test(tc, test_resize_raw_and_errors);
    tcase_add_test(tc, test_resize_raw_rounds_to_sectors);
    tcase_add_test(tc, test_shrink_qcow2_as_qemu);
    tcase_add_test(tc, test_change_backing_file);
    tcase_add_test(tc, test_change_backing_file_read_only_image);
    tcase_add_test(tc, test_write_threshold_event);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
