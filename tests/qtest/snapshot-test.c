/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-snapshot, blockdev-snapshot-sync and transaction through
 * fdsets: the graph after each (query-named-block-nodes), the images with
 * qemu-img, all-or-nothing rollback, QEMU 7.2's error texts (recorded with
 * qemu-system-x86_64 -machine none), and the fds at the end.
 */
#include "block-qtest.h"

#define MiB (1024 * 1024)

/* @name.qcow2 with 0x11 at 0, passed O_RDWR as set @set, node @name. */
static void add_disk(BlockFixture *f, const char *name, int set)
{
    g_free(bq_sh(f, "qemu-img create -q -f qcow2 %s.qcow2 1M && "
                    "qemu-io -c 'write -P 0x11 0 64k' %s.qcow2", name, name));
    g_autofree char *file = g_strdup_printf("%s.qcow2", name);
    bq_add_fd(f, f->c, file, O_RDWR, set);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': '%s', 'file': {'driver': 'file', "
                "'node-name': '%s-file', 'filename': '/dev/fdset/%d'}}}",
          name, name, set);
}

/* An overlay image of @backing.qcow2 (made by qemu-img: the name in its
 * header is the manager's), passed as set @set, node @name, no backing. */
static void add_overlay(BlockFixture *f, const char *name,
                        const char *backing, int set)
{
    g_autofree char *file = g_strdup_printf("%s.qcow2", name);

    g_free(bq_sh(f, "qemu-img create -q -f qcow2 -b %s.qcow2 -F qcow2 "
                    "%s.qcow2", backing, name));
    bq_add_fd(f, f->c, file, O_RDWR, set);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': '%s', 'backing': null, 'file': "
                "{'driver': 'file', 'node-name': '%s-file', "
                "'filename': '/dev/fdset/%d'}}}", name, name, set);
}

/* The node name of @node's backing image, "" when it has none. */
static char *backing_of(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, false, &keep);
    JsonObject *img;
    char *name = g_strdup("");

    ck_assert_msg(o, "no node '%s'", node);
    img = json_object_get_object_member(o, "image");
    if (json_object_has_member(img, "backing-image")) {
        JsonObject *b = json_object_get_object_member(img, "backing-image");

        g_free(name);
        name = g_strdup(json_object_get_string_member(b, "filename"));
    }
    json_node_unref(keep);
    return name;
}

static bool has_backing(QTestConn *c, const char *node)
{
    g_autofree char *b = backing_of(c, node);

    return *b != '\0';
}

static void del(QTestConn *c, const char *node)
{
    bq_ok(c, "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
          node);
}

START_TEST(test_blockdev_snapshot)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *chain = NULL;

    add_disk(&f, "base", 0);
    add_overlay(&f, "ov", "base", 1);
    ck_assert(!has_backing(f.c, "ov"));
    bq_ok(f.c, "{'execute': 'blockdev-snapshot', 'arguments': {'node': "
               "'base', 'overlay': 'ov'}}");
    ck_assert(has_backing(f.c, "ov"));
    /* now base is the overlay's backing node: busy, as in QEMU */
    bq_err(f.c, "Node 'base' is busy: node is used as backing hd of 'ov'",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'base', "
           "'overlay': 'ov'}}");
    bq_err(f.c, "Node 'base' is busy: node is used as backing hd of 'ov'",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': "
           "'base'}}");
    del(f.c, "ov");
    del(f.c, "base");
    chain = bq_sh(&f, "qemu-img info --backing-chain ov.qcow2 && "
                      "qemu-img check -q ov.qcow2 && "
                      "qemu-io -r -c 'read -P 0x11 0 64k' ov.qcow2");
    ck_assert_msg(strstr(chain, "backing file: base.qcow2"), "%s", chain);
    bq_finish(&f);
}
END_TEST

/* QEMU 7.2's checks and texts. */
START_TEST(test_blockdev_snapshot_errors)
{
    BlockFixture f = bq_start(NULL);

    add_disk(&f, "a", 0);
    add_disk(&f, "b", 1);
    add_overlay(&f, "ov", "a", 2);
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'nope', "
           "'overlay': 'ov'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
           "'overlay': 'nope'}}");
    g_free(qtest_make_file(f.s, "loose.raw", MiB, 0));
    bq_add_fd(&f, f.c, "loose.raw", O_RDWR, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'loose', 'filename': '/dev/fdset/3'}}");
    bq_err(f.c, "The overlay does not support backing images",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
           "'overlay': 'loose'}}");
    bq_err(f.c, "The overlay is already in use",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
           "'overlay': 'ov-file'}}");
    bq_err(f.c, "The overlay is already in use",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
           "'overlay': 'b-file'}}");
    bq_err(f.c, "Making 'a' a backing child of 'a' would create a cycle",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
           "'overlay': 'a'}}");
    /* b's header names no backing file, so it qualifies; then ov cannot
     * go over b: it has one now */
    bq_ok(f.c, "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'a', "
               "'overlay': 'b'}}");
    bq_err(f.c, "The overlay already has a backing image",
           "{'execute': 'blockdev-snapshot', 'arguments': {'node': 'ov', "
           "'overlay': 'b'}}");
    del(f.c, "b");
    del(f.c, "a");
    del(f.c, "ov");
    del(f.c, "loose");
    bq_finish(&f);
}
END_TEST

START_TEST(test_snapshot_sync)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    add_disk(&f, "base", 0);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "new.qcow2 && : > fresh.qcow2"));
    bq_add_fd(&f, f.c, "new.qcow2", O_RDWR, 1);
    bq_add_fd(&f, f.c, "fresh.qcow2", O_RDWR, 2);
    /* formatting it would record /dev/fdset/0 in its header: refused */
    bq_err(f.c, "Cannot record '/dev/fdset/0' as the backing file of "
                "'/dev/fdset/2': a /dev/fdset/ path only means something "
                "inside this process; create the overlay with its backing "
                "file name and use mode 'existing'",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/2', "
           "'snapshot-node-name': 'n1'}}");
    bq_err(f.c, "New overlay node-name missing",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/1'}}");
    bq_err(f.c, "New overlay node-name already in use",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/1', "
           "'snapshot-node-name': 'base'}}");
    bq_err(f.c, "Invalid node-name: '1x'",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/1', "
           "'snapshot-node-name': '1x'}}");
    bq_err(f.c, "Unknown file format 'nope'",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/1', "
           "'snapshot-node-name': 'n1', 'format': 'nope'}}");
    bq_err(f.c, "Backing file not supported for file format 'raw'",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'base', 'snapshot-file': '/dev/fdset/1', "
           "'snapshot-node-name': 'n1', 'format': 'raw'}}");
    bq_err(f.c, "Cannot find device='' nor node-name='nope'",
           "{'execute': 'blockdev-snapshot-sync', 'arguments': {'node-name': "
           "'nope', 'snapshot-file': '/dev/fdset/1', "
           "'snapshot-node-name': 'n1'}}");
    ck_assert_int_eq(bq_node_count(f.c), 2); /* nothing left open */
    bq_ok(f.c, "{'execute': 'blockdev-snapshot-sync', 'arguments': "
               "{'node-name': 'base', 'snapshot-file': '/dev/fdset/1', "
               "'snapshot-node-name': 'n1', 'mode': 'existing'}}");
    ck_assert(has_backing(f.c, "n1"));
    del(f.c, "n1");
    del(f.c, "base");
    info = bq_sh(&f, "qemu-img info new.qcow2 && qemu-img check -q "
                     "new.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.qcow2"), "%s", info);
    bq_finish(&f);
}
END_TEST

/* A node opened by its real name (outside fdsets): mode absolute-paths
 * formats the overlay, and its header names the backing by that name. */
START_TEST(test_snapshot_sync_formats_overlay)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *base = bq_path(&f, "base.qcow2");
    g_autofree char *info = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 base.qcow2 1M && "
                     "qemu-io -c 'write -P 0x11 0 64k' base.qcow2 && "
                     ": > new.qcow2"));
    bq_add_fd(&f, f.c, "new.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'base', 'file': {'driver': 'file', "
               "'filename': '%s'}}}", base);
    bq_ok(f.c, "{'execute': 'blockdev-snapshot-sync', 'arguments': "
               "{'node-name': 'base', 'snapshot-file': '/dev/fdset/1', "
               "'snapshot-node-name': 'n1'}}");
    ck_assert(has_backing(f.c, "n1"));
    del(f.c, "n1");
    del(f.c, "base");
    info = bq_sh(&f, "qemu-img info new.qcow2 && qemu-img check -q new.qcow2"
                     " && qemu-io -r -c 'read -P 0x11 0 64k' new.qcow2");
    ck_assert_msg(strstr(info, "backing file format: qcow2"), "%s", info);
    ck_assert_msg(strstr(info, base), "%s", info);
    ck_assert_msg(strstr(info, "(1048576 bytes)"), "%s", info);
    bq_finish(&f);
}
END_TEST

/* All or nothing: an abort after two snapshots undoes both; the same
 * without the abort does both.  No fd is gained or lost. */
START_TEST(test_transaction)
{
    BlockFixture f = bq_start(NULL);
    static const char *const two =
        "{'type': 'blockdev-snapshot', 'data': {'node': 'a', 'overlay': "
        "'ova'}}, {'type': 'blockdev-snapshot-sync', 'data': {'node-name': "
        "'b', 'snapshot-file': '/dev/fdset/3', 'snapshot-node-name': 'ovb', "
        "'mode': 'existing'}}";
    guint nodes;

    add_disk(&f, "a", 0);
    add_disk(&f, "b", 1);
    add_overlay(&f, "ova", "a", 2);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 "
                     "ovb.qcow2"));
    bq_add_fd(&f, f.c, "ovb.qcow2", O_RDWR, 3);
    nodes = bq_node_count(f.c);
    bq_err(f.c, "Transaction aborted using Abort action",
           "{'execute': 'transaction', 'arguments': {'actions': [%s, "
           "{'type': 'abort', 'data': {}}]}}", two);
    ck_assert(!has_backing(f.c, "ova"));
    ck_assert_int_eq(bq_node_count(f.c), nodes);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    bq_err(f.c, "Action 'blockdev-snapshot' does not support Transaction "
                "property completion-mode = grouped",
           "{'execute': 'transaction', 'arguments': {'actions': [%s], "
           "'properties': {'completion-mode': 'grouped'}}}", two);
    /* the second action fails: the first is undone */
    bq_err(f.c, "Cannot find device='' nor node-name='nope'",
           "{'execute': 'transaction', 'arguments': {'actions': ["
           "{'type': 'blockdev-snapshot', 'data': {'node': 'a', 'overlay': "
           "'ova'}}, {'type': 'blockdev-snapshot-sync', 'data': "
           "{'node-name': 'nope', 'snapshot-file': '/dev/fdset/3', "
           "'snapshot-node-name': 'x'}}]}}");
    ck_assert(!has_backing(f.c, "ova"));
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': []}}");
    bq_ok(f.c, "{'execute': 'transaction', 'arguments': {'actions': [%s], "
               "'properties': {'completion-mode': 'individual'}}}", two);
    ck_assert(has_backing(f.c, "ova"));
    ck_assert(has_backing(f.c, "ovb"));
    ck_assert_int_eq(bq_node_count(f.c), nodes + 2); /* ovb, its file */
    del(f.c, "ova");
    del(f.c, "ovb");
    del(f.c, "a");
    del(f.c, "b");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q ova.qcow2 && "
                                      "qemu-img check -q ovb.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("snapshot");
    TCase *tc = tcase_create("snapshot");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_blockdev_snapshot);
    tcase_add_test(tc, test_blockdev_snapshot_errors);
    tcase_add_test(tc, test_snapshot_sync);
    tcase_add_test(tc, test_snapshot_sync_formats_overlay);
    tcase_add_test(tc, test_transaction);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
