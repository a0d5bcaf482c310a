/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Pull-mode backup over NBD, libvirt's flow, with the real clients: the
 * live disk exported writable, a transaction of bitmap actions plus
 * blockdev-backup sync=none into a scratch qcow2 backed by the disk, the
 * scratch exported read-only with bitmaps; nbdcopy and an incremental
 * python3-libnbd pull (pull-client.py) read it while fio and qemu-io write
 * the live disk.  Also the qemu:dirty-bitmap contexts against QEMU 7.2's
 * answers, block-export-add's bitmap errors, bitmaps through block_resize
 * and across a flush.  Every image through an fdset, every image checked,
 * the daemon's fds back to where they started.
 */
#include "block-qtest.h"

#define URI "nbd+unix:///%s?socket=nbd.sock"
#define MIB (1024 * 1024)

/* QEMU 7.2's x-debug-block-dirty-bitmap-sha256 of backup-chk0 after the
 * writes of test_pull_flow (2M+1M, 5M+64k, 7M+4k+512 of an 8 MiB disk at
 * 64 KiB granules), recorded with the same flow on qemu-system-x86_64. */
#define QEMU_PULL_SHA256                                                       \
    "174c1a7dd21270ffa1135ed8eddbf7c561c27bc53cea2a09395440316db12b88"

static const char *pull_client(void)
{
    const char *p = g_getenv("PULL_CLIENT");

    ck_assert_ptr_nonnull(p);
    return p;
}

static char *sha256(QTestConn *c, const char *node, const char *name)
{
    g_autoptr(JsonNode) r = qtest_qmp(c, "{'execute': "
                                         "'x-debug-block-dirty-bitmap-sha256'"
                                         ", 'arguments': {'node': '%s', "
                                         "'name': '%s'}}",
                                      node, name);
    JsonObject *ret = qtest_return_object(r);

    ck_assert_msg(ret, "no sha256 for %s/%s", node, name);
    return g_strdup(json_object_get_string_member(ret, "sha256"));
}

/* The dirty-bitmaps entry @name of @node, as "recording/busy/count". */
static char *bitmap_state(QTestConn *c, const char *node, const char *name)
{
    g_autoptr(JsonNode) keep = NULL;
    JsonObject *n = bq_node(c, node, true, &keep);
    JsonArray *bms;

    ck_assert_ptr_nonnull(n);
    bms = json_object_get_array_member(n, "dirty-bitmaps");
    for (guint i = 0; bms && i < json_array_get_length(bms); i++) {
        JsonObject *b = json_array_get_object_element(bms, i);

        if (g_str_equal(json_object_get_string_member(b, "name"), name)) {
            return g_strdup_printf(
                "%s/%s/%" G_GINT64_FORMAT,
                json_object_get_boolean_member(b, "recording") ? "rec" : "off",
                json_object_get_boolean_member(b, "busy") ? "busy" : "free",
                json_object_get_int_member(b, "count"));
        }
    }
    return g_strdup("absent");
}

static void start_server(BlockFixture *f)
{
    g_autofree char *path = bq_path(f, "nbd.sock");

    bq_ok(f->c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
                "{'type': 'unix', 'data': {'path': '%s'}}}}", path);
}

/* Remove export @id and wait for its event (a client that just left may
 * still be leaving on the daemon's side: "still in use" for a moment). */
static void del_export(BlockFixture *f, const char *id)
{
    for (int i = 0;; i++) {
        g_autoptr(JsonNode) r = qtest_qmp(f->c, "{'execute': "
                                          "'block-export-del', 'arguments': "
                                          "{'id': '%s'}}", id);
        const char *desc = qtest_error_class(r) ? qtest_error_desc(r) : NULL;

        if (!desc || i == 200 || !strstr(desc, "still in use")) {
            qtest_assert_success(g_steal_pointer(&r));
            break;
        }
        g_usleep(50 * 1000);
    }
    g_autoptr(JsonNode) ev = qtest_event_wait(f->c, "BLOCK_EXPORT_DELETED",
                                              10000);
    ck_assert_ptr_nonnull(ev);
}

/* The scratch qcow2 @node on fdset @set, its backing the live disk. */
static void add_scratch(BlockFixture *f, const char *node, int set)
{
    g_autofree char *img = g_strdup_printf("%s.qcow2", node);

    g_free(bq_sh(f, "qemu-img create -q -f qcow2 %s 8M", img));
    bq_add_fd(f, f->c, img, O_RDWR, set);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': '%s', 'backing': 'disk', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/%d'}}}",
          node, set);
}

/* Cancel job @job (sync=none runs until cancelled) and wait for it. */
static void cancel_job(BlockFixture *f, const char *job)
{
    bq_ok(f->c, "{'execute': 'block-job-cancel', 'arguments': {'device': "
                "'%s'}}", job);
    g_autoptr(JsonNode) ev = qtest_event_wait(f->c, "BLOCK_JOB_CANCELLED",
                                              20000);
    ck_assert_ptr_nonnull(ev);
}

/* Drop a scratch node, its export and job gone, and check its image. */
static void drop_scratch(BlockFixture *f, const char *node, int set)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
                "'%s'}}", node);
    bq_ok(f->c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': %d}}",
          set);
    ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q %s.qcow2", node), 0);
}

/*
 * libvirt's pull mode, a full backup then an incremental one:
 *  1. transaction {bitmap-add chk0 (persistent), blockdev-backup sync=none
 *     disk -> s0}; s0 exported read-only; nbdcopy reads it while fio
 *     writes 2M..3M of the live export: what it read is the disk as it was
 *     (a copy taken before, compared with cmp).
 *  2. more writes; transaction {bitmap-add backup-chk0 disabled, merge chk0
 *     into it, disable chk0, bitmap-add chk1, blockdev-backup disk -> s1};
 *     s1 exported with bitmaps [backup-chk0]: nbdinfo --map shows exactly
 *     the written ranges, the digest is QEMU 7.2's; pull-client.py reads
 *     only the dirty extents into a copy of the full backup while fio
 *     writes again, and the result equals the disk at step 2.
 */
START_TEST(test_pull_flow)
{
    BlockFixture f = bq_start(NULL);
    guint base_fds = qtest_count_fds(f.s);
    g_autofree char *map = NULL, *pulled = NULL, *digest = NULL;
    g_autofree char *st = NULL, *info = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 8M && "
                     "qemu-io -f qcow2 -c 'write -P 0x11 0 8M' disk.qcow2 "
                     ">/dev/null"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    start_server(&f);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'live', 'name': 'live', 'node-name': 'disk', "
               "'writable': true}}");

    /* 1: full pull while the guest writes */
    g_free(bq_sh(&f, "nbdcopy '" URI "' pit0.raw", "live"));
    add_scratch(&f, "s0", 2);
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'disk', "
               "'name': 'chk0', 'persistent': true}}, "
               "{'type': 'blockdev-backup', 'data': {'device': 'disk', "
               "'target': 's0', 'sync': 'none', 'job-id': 'b0'}}]}}");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'scratch', 'name': 'scratch', 'node-name': "
               "'s0'}}");
    g_free(bq_sh(&f, "fio --output=/dev/null --ioengine=nbd --uri='" URI "' "
                     "--name=w --rw=write --bs=4k --offset=2M --size=1M "
                     "--iodepth=8 --verify=crc32c --do_verify=1 & "
                     "nbdcopy '" URI "' full.raw; rc=$?; wait $! && "
                     "exit $rc", "live", "scratch"));
    g_free(bq_sh(&f, "cmp pit0.raw full.raw"));
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x33 5M 64k' "
                     "-c 'write -P 0x44 7344128 512' '" URI "' >/dev/null",
                 "live"));
    del_export(&f, "scratch");
    cancel_job(&f, "b0");
    drop_scratch(&f, "s0", 2);

    /* 2: incremental pull of what changed since chk0 */
    g_free(bq_sh(&f, "nbdcopy '" URI "' pit1.raw", "live"));
    add_scratch(&f, "s1", 3);
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'disk', "
               "'name': 'backup-chk0', 'disabled': true}}, "
               "{'type': 'block-dirty-bitmap-merge', 'data': {'node': "
               "'disk', 'target': 'backup-chk0', 'bitmaps': ['chk0']}}, "
               "{'type': 'block-dirty-bitmap-disable', 'data': {'node': "
               "'disk', 'name': 'chk0'}}, "
               "{'type': 'block-dirty-bitmap-add', 'data': {'node': 'disk', "
               "'name': 'chk1', 'persistent': true}}, "
               "{'type': 'blockdev-backup', 'data': {'device': 'disk', "
               "'target': 's1', 'sync': 'none', 'job-id': 'b1'}}]}}");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'scratch', 'name': 'scratch', 'node-name': "
               "'s1', 'bitmaps': ['backup-chk0']}}");
    st = bitmap_state(f.c, "disk", "backup-chk0");
    ck_assert_str_eq(st, "off/busy/1179648");
    digest = sha256(f.c, "disk", "backup-chk0");
    ck_assert_str_eq(digest, QEMU_PULL_SHA256);
    map = bq_sh(&f, "nbdinfo --map=qemu:dirty-bitmap:backup-chk0 '" URI "'",
                "scratch");
    ck_assert_str_eq(map, "         0     2097152    0  clean\n"
                          "   2097152     1048576    1  dirty\n"
                          "   3145728     2097152    0  clean\n"
                          "   5242880       65536    1  dirty\n"
                          "   5308416     2031616    0  clean\n"
                          "   7340032       65536    1  dirty\n"
                          "   7405568      983040    0  clean\n");
    /* the copy first: in the background with fio it could land after
     * (and over) what the pull wrote, as it did under I/O pressure */
    g_free(bq_sh(&f, "cp full.raw restored.raw"));
    pulled = bq_sh(&f, "fio --output=/dev/null --ioengine=nbd --uri='" URI "' "
                       "--name=w2 --rw=randwrite --bs=4k --size=8M "
                       "--number_ios=512 --iodepth=8 & "
                       "/usr/bin/python3 %s incremental nbd.sock scratch "
                       "backup-chk0 restored.raw; rc=$?; wait $! && exit $rc",
                   "live", pull_client());
    ck_assert_str_eq(pulled, "dirty 2097152 1048576\n"
                             "dirty 5242880 65536\n"
                             "dirty 7340032 65536\n"
                             "pulled 1179648\n");
    /* on a mismatch: the first bytes that differ (octal), and how many */
    g_free(bq_sh(&f, "cmp pit1.raw restored.raw || { cmp -l pit1.raw "
                     "restored.raw | head -n 4; cmp -l pit1.raw restored.raw "
                     "| wc -l; exit 1; }; "
                     "qemu-img convert -f raw -O qcow2 restored.raw r.qcow2 "
                     "&& qemu-img compare -q -f qcow2 -F raw r.qcow2 "
                     "pit1.raw && qemu-img check -q r.qcow2"));
    del_export(&f, "scratch");
    cancel_job(&f, "b1");
    g_free(st);
    st = bitmap_state(f.c, "disk", "backup-chk0");
    ck_assert_str_eq(st, "off/free/1179648");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'disk', 'name': 'backup-chk0'}}");
    drop_scratch(&f, "s1", 3);

    del_export(&f, "live");
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    bq_ok(f.c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': 1}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q disk.qcow2"), 0);
    info = bq_sh(&f, "qemu-img info --output=json disk.qcow2");
    ck_assert_ptr_nonnull(strstr(info, "\"name\": \"chk0\""));
    ck_assert_ptr_nonnull(strstr(info, "\"name\": \"chk1\""));
    ck_assert_ptr_null(strstr(info, "in-use"));
    ck_assert_uint_eq(qtest_count_fds(f.s), base_fds);
    bq_finish(&f);
}
END_TEST

/* The contexts (LIST and SET forms, with their ids and wire order) and
 * extents QEMU 7.2 answers for the same bitmaps (pull-contexts.qemu72,
 * recorded with the same writes by tests/qtest/compat-compare.py
 * contexts). */
START_TEST(test_meta_contexts_as_qemu)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL, *want = NULL, *lst = NULL;
    static const char *const writes[] = {
        "write 0 512", "write 196608 65536", "write 262144 1",
        "write 1048576 200000", "write 4190208 4096",
    };

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 4M"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    start_server(&f);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'b', 'granularity': 65536}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'c', 'granularity': 4096}}");
    for (guint i = 0; i < G_N_ELEMENTS(writes); i++) {
        g_autofree char *line = g_strdup_printf("qemu-io disk \"%s\"",
                                                writes[i]);

        g_free(bq_hmp(f.c, line));
    }
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-disable', 'arguments': "
               "{'node': 'disk', 'name': 'b'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-disable', 'arguments': "
               "{'node': 'disk', 'name': 'c'}}");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e0', 'node-name': 'disk', 'bitmaps': ['b', "
               "'c'], 'allocation-depth': true}}");
    out = bq_sh(&f, "/usr/bin/python3 %s contexts nbd.sock disk",
                pull_client());
    ck_assert(g_file_get_contents(g_getenv("PULL_CONTEXTS"), &want, NULL,
                                  NULL));
    ck_assert_str_eq(out, want);
    lst = bq_sh(&f, "nbdinfo --list --json 'nbd+unix://?socket=nbd.sock'");
    ck_assert_ptr_nonnull(strstr(lst, "\"qemu:dirty-bitmap:b\""));
    ck_assert_ptr_nonnull(strstr(lst, "\"qemu:dirty-bitmap:c\""));
    /* without negotiating it, no context, as before */
    ck_assert_int_eq(bq_sh_status(&f, "nbdinfo --map=qemu:dirty-bitmap:zz "
                                      "'" URI "'", "disk"), 1);
    del_export(&f, "e0");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q disk.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/* block-export-add's bitmap errors and the busy state, QEMU 7.2's texts. */
START_TEST(test_export_bitmap_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *st = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 4M && "
                     "qemu-img create -q -f qcow2 top.qcow2 4M"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    start_server(&f);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'en'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'dis', 'disabled': true}}");
    bq_err(f.c, "Bitmap 'nope' is not found",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk', 'bitmaps': ['nope']}}");
    bq_err(f.c, "Enabled bitmap 'en' incompatible with readonly export",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk', 'bitmaps': ['en']}}");
    bq_err(f.c, "Node 'nonode' not found",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk', 'bitmaps': [{'node': "
           "'nonode', 'name': 'en'}]}}");
    bq_err(f.c, "Dirty bitmap 'zz' not found",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk', 'bitmaps': [{'node': 'disk', "
           "'name': 'zz'}]}}");
    /* a later bad name leaves the first one untouched */
    bq_err(f.c, "Bitmap 'zz' is not found",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk', 'bitmaps': ['dis', 'zz']}}");
    st = bitmap_state(f.c, "disk", "dis");
    ck_assert_str_eq(st, "off/free/0");
    g_free(g_steal_pointer(&st));
    /* enabled on a writable export, and {node, name} skips the check */
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'w', 'name': 'w', 'node-name': 'disk', "
               "'writable': true, 'bitmaps': ['en']}}");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e0', 'node-name': 'disk', 'bitmaps': ['dis']}}");
    st = bitmap_state(f.c, "disk", "dis");
    ck_assert_str_eq(st, "off/busy/0");
    g_free(g_steal_pointer(&st));
    bq_err(f.c, "Bitmap 'dis' is currently in use by another operation and "
                "cannot be used",
           "{'execute': 'nbd-server-add', 'arguments': {'device': 'disk', "
           "'name': 'old', 'bitmap': 'dis'}}");
    bq_err(f.c, "Bitmap 'en' is currently in use by another operation and "
                "cannot be used",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e1', 'node-name': 'disk', 'bitmaps': [{'node': 'disk', "
           "'name': 'en'}]}}");
    static const char *const refused[] = {
        "{'execute': 'block-dirty-bitmap-remove', 'arguments': {'node': "
        "'disk', 'name': 'dis'}}",
        "{'execute': 'block-dirty-bitmap-enable', 'arguments': {'node': "
        "'disk', 'name': 'dis'}}",
        "{'execute': 'block-dirty-bitmap-clear', 'arguments': {'node': "
        "'disk', 'name': 'dis'}}",
        "{'execute': 'block-dirty-bitmap-merge', 'arguments': {'node': "
        "'disk', 'target': 'dis', 'bitmaps': []}}",
    };
    for (guint i = 0; i < G_N_ELEMENTS(refused); i++) {
        bq_err(f.c, "Bitmap 'dis' is currently in use by another operation "
                    "and cannot be used", "%s", refused[i]);
    }
    /* the export does not share RESIZE, as QEMU's */
    bq_err(f.c, "Permission conflict on node 'disk': permissions 'resize' "
                "are both required by an unnamed block device (uses node "
                "'disk' as 'root' child) and unshared by an unnamed block "
                "device (uses node 'disk' as 'root' child).",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'disk', "
           "'size': 8388608}}");
    /* found down the backing chain of an overlay */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'disk', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'dis2', 'disabled': true}}");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e2', 'node-name': 'top', 'bitmaps': ['dis2']}}");
    bq_err(f.c, "Enabled bitmap 'en' incompatible with readonly export",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e3', 'node-name': 'top', 'name': 'x', 'bitmaps': "
           "['en']}}");
    del_export(&f, "e0");
    del_export(&f, "e2");
    del_export(&f, "w");
    st = bitmap_state(f.c, "disk", "dis");
    ck_assert_str_eq(st, "off/free/0");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'disk', 'name': 'dis'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'top'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    bq_finish(&f);
}
END_TEST

/*
 * block_resize grows the bitmaps (QEMU 7.2's digests for the same writes):
 * the persistent one is stored at the new size, qemu-img reads it, fdsetd
 * reads the same bits back.  Raw: grow and shrink.  An inconsistent
 * persistent bitmap stops a qcow2 resize.
 */
START_TEST(test_resize_bitmaps)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *grown = NULL, *again = NULL, *info = NULL;
    g_autofree char *raw_grown = NULL, *raw_shrunk = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 4M && "
                     "truncate -s 1M r.raw"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 1);
    bq_add_fd(&f, f.c, "r.raw", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'p', 'persistent': true}}");
    g_free(bq_hmp(f.c, "qemu-io disk \"write 0 4096\""));
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'disk', 'size': 8388608}}");
    g_free(bq_hmp(f.c, "qemu-io disk \"write 6291456 65536\""));
    grown = sha256(f.c, "disk", "p");
    ck_assert_str_eq(grown, "288b1793833bb59673891be54d485696"
                            "d3f7d8ff9a9168758ef9d00b1bca8985");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -U -q disk.qcow2"), 0);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    info = bq_sh(&f, "qemu-img info --output=json disk.qcow2");
    ck_assert_ptr_nonnull(strstr(info, "\"virtual-size\": 8388608"));
    ck_assert_ptr_nonnull(strstr(info, "\"name\": \"p\""));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q disk.qcow2"), 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    again = sha256(f.c, "disk", "p");
    ck_assert_str_eq(again, grown);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");

    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'raw', 'file': {'driver': 'file', 'filename': "
               "'/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'raw', 'name': 'r', 'granularity': 4096}}");
    g_free(bq_hmp(f.c, "qemu-io raw \"write 1044480 4096\""));
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'raw', 'size': 2097152}}");
    g_free(bq_hmp(f.c, "qemu-io raw \"write 2093056 4096\""));
    raw_grown = sha256(f.c, "raw", "r");
    ck_assert_str_eq(raw_grown, "12d9775bb769dcd5ba53b30741b953fc"
                                "cd709078be48b4c7d0f94266711b0508");
    bq_ok(f.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'raw', 'size': 1000448}}");
    raw_shrunk = sha256(f.c, "raw", "r");
    ck_assert_str_eq(raw_shrunk, "66687aadf862bd776c8fc18b8e9f8e20"
                                 "089714856ee233b3902a591d0d5f2925");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'raw'}}");
    bq_finish(&f);
}
END_TEST

/* A bitmap left in use (daemon killed) stops a resize, as in QEMU 7.2. */
START_TEST(test_resize_refused_inconsistent)
{
    BlockFixture g = bq_start(NULL); /* the survivor; the image is its */
    BlockFixture f = bq_start(NULL); /* killed with the image open */
    int fd;

    g_free(bq_sh(&g, "qemu-img create -q -f qcow2 disk.qcow2 4M && "
                     "qemu-img bitmap --add disk.qcow2 bad"));
    fd = qtest_open_file(g.s, "disk.qcow2", O_RDWR);
    qtest_add_fd(f.c, fd, 1, NULL, NULL);
    close(fd);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    qtest_kill(f.s); /* "bad" stays flagged in use in the image */
    bq_add_fd(&g, g.c, "disk.qcow2", O_RDWR, 1);
    bq_ok(g.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_err(g.c, "Bitmap 'bad' is inconsistent and cannot be used",
           "{'execute': 'block_resize', 'arguments': {'node-name': 'disk', "
           "'size': 8388608}}");
    bq_ok(g.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'disk', 'name': 'bad'}}");
    bq_ok(g.c, "{'execute': 'block_resize', 'arguments': {'node-name': "
               "'disk', 'size': 8388608}}");
    bq_ok(g.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    ck_assert_int_eq(bq_sh_status(&g, "qemu-img check -q disk.qcow2"), 0);
    bq_finish(&g);
}
END_TEST

/*
 * What a flush writes of the bitmaps, as QEMU 7.2: nothing.  A loaded
 * bitmap stays flagged in use in the image, a new persistent one is not
 * in it yet (both measured with qemu-img info -U on QEMU 7.2); the node's
 * close stores them.
 */
START_TEST(test_flush_leaves_bitmaps_in_use)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *after_flush = NULL, *after_close = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 4M && "
                     "qemu-img bitmap --add disk.qcow2 old"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'new', 'persistent': true}}");
    g_free(bq_hmp(f.c, "qemu-io disk \"write 0 4096\""));
    g_free(bq_hmp(f.c, "qemu-io disk \"flush\""));
    after_flush = bq_sh(&f, "qemu-img info -U --output=json disk.qcow2 | "
                            "tr -d ' \\n'");
    ck_assert_ptr_nonnull(strstr(after_flush, "\"bitmaps\":[{\"flags\":"
                                              "[\"in-use\",\"auto\"],"
                                              "\"name\":\"old\""));
    ck_assert_ptr_null(strstr(after_flush, "\"name\":\"new\""));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -U -q disk.qcow2"), 0);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk'}}");
    after_close = bq_sh(&f, "qemu-img info --output=json disk.qcow2");
    ck_assert_ptr_null(strstr(after_close, "in-use"));
    ck_assert_ptr_nonnull(strstr(after_close, "\"name\": \"new\""));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q disk.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

static Suite *pull_suite(void)
{
    Suite *s = suite_create("pull");
    TCase *tc = tcase_create("pull");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_pull_flow);
    tcase_add_test(tc, test_meta_contexts_as_qemu);
    tcase_add_test(tc, test_export_bitmap_errors);
    tcase_add_test(tc, test_resize_bitmaps);
    tcase_add_test(tc, test_resize_refused_inconsistent);
    tcase_add_test(tc, test_flush_leaves_bitmaps_in_use);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pull_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
