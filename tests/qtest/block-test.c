/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block node qtests: raw and qcow2 nodes over fdsets, inline and referenced
 * children, backing resolution, blockdev-add/-del/-reopen and their errors
 * (QEMU 7.2's texts), the query shapes, --blockdev.
 */
#include "block-qtest.h"

/* base.img (raw, 1 MiB of 0x11) <- top.qcow2 (0x22 at 64k) */
static void make_chain(BlockFixture *f, const char *base, const char *top)
{
    g_free(bq_sh(f,
                 "qemu-img create -q -f raw %s 1M && "
                 "qemu-io -f raw -c 'write -P 0x11 0 1M' %s >/dev/null && "
                 "qemu-img create -q -f qcow2 -b %s -F raw %s && "
                 "qemu-io -f qcow2 -c 'write -P 0x22 64k 64k' %s "
                 ">/dev/null",
                 base, base, base, top, top));
}

static JsonNode *add_raw(QTestConn *c, const char *node, int set, bool ro)
{
    return qtest_qmp(c,
                     "{'execute': 'blockdev-add', 'arguments': "
                     "{'driver': 'raw', 'node-name': '%s', 'read-only': %s, "
                     "'file': {'driver': 'file', "
                     "'filename': '/dev/fdset/%d'}}}",
                     node, ro ? "true" : "false", set);
}

static void del(QTestConn *c, const char *node)
{
    bq_ok(c,
          "{'execute': 'blockdev-del', 'arguments': "
          "{'node-name': '%s'}}",
          node);
}

/* The name of @node's file child, from the non-flat listing order. */
static char *file_child_name(QTestConn *c, const char *node)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes'}");
    JsonArray *arr = qtest_return_array(r);
    char *name = NULL;

    /* newest first: a node's inline file child is listed right after it */
    for (guint i = 0; i + 1 < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "node-name"), node)) {
            name = g_strdup(json_object_get_string_member(
                json_array_get_object_element(arr, i + 1), "node-name"));
        }
    }
    json_node_unref(r);
    return name;
}

START_TEST(test_raw_inline_file_child)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *child = NULL;
    g_autofree char *msg = NULL;

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    qtest_assert_success(add_raw(f.c, "r1", 1, true));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    ck_assert_uint_eq(bq_node_count(f.c), 2);
    child = file_child_name(f.c, "r1");
    ck_assert(g_str_has_prefix(child, "#block"));
    ck_assert(bq_node_ro(f.c, child));
    msg = g_strdup_printf("Node %s is not owned by the monitor", child);
    bq_err(f.c, msg,
           "{'execute': 'blockdev-del', 'arguments': "
           "{'node-name': '%s'}}",
           child);
    del(f.c, "r1");
    ck_assert_uint_eq(bq_node_count(f.c), 0);
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", NULL), 1);
    bq_finish(&f);
}
END_TEST

START_TEST(test_file_child_by_reference)
{
    BlockFixture f = bq_start(NULL);

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f1', 'filename': '/dev/fdset/1', "
               "'read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'r1', 'file': 'f1', 'read-only': true}}");
    /* one node, one dup: the reference shares it */
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    bq_err(f.c, "Block device f1 is in use",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'f1'}}");
    del(f.c, "r1");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    del(f.c, "f1");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 1);
    bq_finish(&f);
}
END_TEST

START_TEST(test_blockdev_add_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = NULL;

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    path = bq_path(&f, "a.img");
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    bq_err(f.c, "'node-name' must be specified for the root node",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'filename': '/dev/fdset/1', 'read-only': true}}");
    bq_err(f.c, "Invalid node-name: '1x'",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'node-name': '1x', 'filename': '/dev/fdset/1'}}");
    bq_err(f.c, "Node name too long",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'node-name': 'a23456789012345678901234567890123', "
           "'filename': '/dev/fdset/1', 'read-only': true}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
           "'node-name': 'r', 'file': 'nope'}}");
    bq_err(f.c, "force-share=on can only be used with read-only images",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
           "'node-name': 'x', 'filename': '/dev/fdset/1', "
           "'force-share': true}}");
    qtest_assert_success(add_raw(f.c, "r1", 1, true));
    qtest_assert_error(add_raw(f.c, "r1", 1, true), "GenericError",
                       "Duplicate nodes with node-name='r1'");
    /* the inline child failed: nothing is left of the parent either */
    qtest_assert_error(add_raw(f.c, "r2", 1, false), "GenericError",
                       "Could not dup FD for /dev/fdset/1 flags 2: "
                       "Permission denied");
    ck_assert_uint_eq(bq_node_count(f.c), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", NULL), 2);
    del(f.c, "r1");
    bq_finish(&f);
}
END_TEST

/* A qcow2 node with no "backing" opens what its header names. */
START_TEST(test_qcow2_header_backing_by_path)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *top = NULL;
    g_autofree char *base = NULL;
    JsonNode *keep;
    JsonObject *o, *img;

    make_chain(&f, "base.img", "top.qcow2");
    top = bq_path(&f, "top.qcow2");
    base = bq_path(&f, "base.img");
    bq_ok(f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
          "'node-name': 'top', 'file': {'driver': 'file', 'filename': '%s'}}}",
          top);
    /* top, its file, the implicit raw base and its file */
    ck_assert_uint_eq(bq_node_count(f.c), 4);
    o = bq_node(f.c, "top", false, &keep);
    ck_assert_str_eq(json_object_get_string_member(o, "file"), top);
    ck_assert_str_eq(json_object_get_string_member(o, "backing_file"), base);
    ck_assert_int_eq(json_object_get_int_member(o, "backing_file_depth"), 1);
    ck_assert(!json_object_get_boolean_member(o, "ro"));
    img = json_object_get_object_member(o, "image");
    ck_assert_str_eq(json_object_get_string_member(img, "format"), "qcow2");
    ck_assert_int_eq(json_object_get_int_member(img, "virtual-size"), 1 << 20);
    ck_assert_str_eq(json_object_get_string_member(img, "backing-filename"),
                     "base.img");
    ck_assert_str_eq(
        json_object_get_string_member(img, "full-backing-filename"), base);
    ck_assert_str_eq(
        json_object_get_string_member(img, "backing-filename-format"), "raw");
    ck_assert(json_object_has_member(img, "backing-image"));
    json_node_unref(keep);
    o = bq_node(f.c, "top", true, &keep);
    ck_assert_int_eq(json_object_get_int_member(o, "backing_file_depth"), 0);
    ck_assert(!json_object_has_member(json_object_get_object_member(o, "image"),
                                      "backing-image"));
    json_node_unref(keep);
    del(f.c, "top");
    ck_assert_uint_eq(bq_node_count(f.c), 0);
    bq_finish(&f);
}
END_TEST

/* An explicit backing (or null) makes the filename a json: description. */
START_TEST(test_qcow2_explicit_backing_json_filename)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *want = NULL;
    g_autofree char *file = NULL;
    g_autofree char *bfile = NULL;
    JsonNode *keep;
    JsonObject *o;

    make_chain(&f, "base.img", "top.qcow2");
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 1);
    qtest_assert_success(add_raw(f.c, "base", 0, true));
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'top', 'read-only': true, 'backing': 'base', "
               "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    want = g_strdup("json:{\"backing\": {\"driver\": \"raw\", \"file\": "
                    "{\"driver\": \"file\", \"filename\": \"/dev/fdset/0\"}}, "
                    "\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", "
                    "\"filename\": \"/dev/fdset/1\"}}");
    file = bq_node_str(f.c, "top", "file");
    ck_assert_str_eq(file, want);
    bfile = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_eq(bfile, "/dev/fdset/0");
    bq_err(f.c, "Node 'base' is busy: node is used as backing hd of 'top'",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'base'}}");
    del(f.c, "top");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'top', 'read-only': true, 'backing': null, "
               "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    o = bq_node(f.c, "top", true, &keep);
    ck_assert_str_eq(json_object_get_string_member(o, "file"),
                     "json:{\"backing\": null, \"driver\": \"qcow2\", "
                     "\"file\": {\"driver\": \"file\", "
                     "\"filename\": \"/dev/fdset/1\"}}");
    ck_assert(!json_object_has_member(o, "backing_file"));
    json_node_unref(keep);
    del(f.c, "top");
    del(f.c, "base");
    bq_finish(&f);
}
END_TEST

/* A /dev/fdset image's relative header name is opened as it is: here it
 * does not exist, and nothing is left open. */
START_TEST(test_fdset_image_header_backing_fails_cleanly)
{
    BlockFixture f = bq_start(NULL);

    make_chain(&f, "fdsetd-no-such-base-4711.img", "top.qcow2");
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 1);
    bq_err(f.c,
           "Could not open backing file: Could not open "
           "'fdsetd-no-such-base-4711.img': No such file or directory",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'top', 'read-only': true, "
           "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    ck_assert_uint_eq(bq_node_count(f.c), 0);
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", NULL), 1);
    bq_err(f.c,
           "Could not open backing file: Cannot find device='nope' nor "
           "node-name='nope'",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'top', 'read-only': true, 'backing': 'nope', "
           "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", NULL), 1);
    bq_finish(&f);
}
END_TEST

START_TEST(test_blockdev_del_errors)
{
    BlockFixture f = bq_start(NULL);

    bq_err(f.c, "Failed to find node with node-name='x'",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'x'}}");
    bq_finish(&f);
}
END_TEST

static JsonNode *reopen_raw(QTestConn *c, const char *node, bool ro)
{
    return qtest_qmp(c,
                     "{'execute': 'blockdev-reopen', 'arguments': "
                     "{'options': [{'driver': 'raw', 'node-name': '%s', "
                     "'file': {'driver': 'file', 'filename': '/dev/fdset/1'}, "
                     "'read-only': %s}]}}",
                     node, ro ? "true" : "false");
}

/* The inline file child follows its format node: the dup changes mode. */
START_TEST(test_reopen_format_node_child_follows)
{
    BlockFixture f = bq_start(NULL);

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.img", O_RDWR, 1);
    qtest_assert_success(add_raw(f.c, "r1", 1, true));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    qtest_assert_success(reopen_raw(f.c, "r1", false));
    ck_assert(!bq_node_ro(f.c, "r1"));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 1);
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "rw"), 2);
    qtest_assert_success(reopen_raw(f.c, "r1", true));
    ck_assert(bq_node_ro(f.c, "r1"));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "rw"), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del(f.c, "r1");
    bq_finish(&f);
}
END_TEST

/* Without an O_RDWR member the reopen fails and the node keeps its dup. */
START_TEST(test_reopen_missing_mode_leaves_node)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *child = NULL;

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    qtest_assert_success(add_raw(f.c, "r1", 1, true));
    child = file_child_name(f.c, "r1");
    qtest_assert_error(reopen_raw(f.c, "r1", false), "GenericError",
                       "Could not dup FD for /dev/fdset/1 flags 2: "
                       "Permission denied");
    ck_assert(bq_node_ro(f.c, "r1"));
    ck_assert(bq_node_ro(f.c, child));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del(f.c, "r1");
    bq_finish(&f);
}
END_TEST

START_TEST(test_reopen_errors)
{
    BlockFixture f = bq_start(NULL);

    make_chain(&f, "base.img", "top.qcow2");
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 1);
    qtest_assert_success(add_raw(f.c, "base", 0, true));
    bq_ok(f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
          "'node-name': 'tf', 'filename': '/dev/fdset/1', 'read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'top', 'read-only': true, 'backing': 'base', "
               "'file': 'tf'}}");
    bq_err(f.c, "node-name not specified",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'file', 'filename': '/dev/fdset/1'}]}}");
    bq_err(f.c, "Failed to find node with node-name='nope'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'file', 'node-name': 'nope', "
           "'filename': '/dev/fdset/1'}]}}");
    bq_err(f.c, "Cannot change the option 'driver'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'raw', 'node-name': 'tf', 'file': 'base'}]}}");
    bq_err(f.c, "Cannot change the option 'filename'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'file', 'node-name': 'tf', "
           "'filename': '/dev/fdset/0', 'read-only': true}]}}");
    bq_err(f.c, "backing is missing for 'top'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'qcow2', 'node-name': 'top', 'file': 'tf', "
           "'read-only': true}]}}");
    bq_err(f.c, "Cannot change the option 'backing'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'qcow2', 'node-name': 'top', 'file': 'tf', "
           "'backing': null, 'read-only': true}]}}");
    bq_err(f.c, "Cannot change the option 'file'",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'qcow2', 'node-name': 'top', 'file': 'base', "
           "'backing': 'base', 'read-only': true}]}}");
    /* the same options, unchanged, are fine */
    bq_ok(f.c, "{'execute': 'blockdev-reopen', 'arguments': {'options': "
               "[{'driver': 'qcow2', 'node-name': 'top', 'file': 'tf', "
               "'backing': 'base', 'read-only': true}]}}");
    del(f.c, "top");
    del(f.c, "tf");
    del(f.c, "base");
    bq_finish(&f);
}
END_TEST

/*
 * auto-read-only without an O_RDWR member: the node opens read-only (and
 * says read-only: false, as QEMU 7.2's does); a writer's attach fails
 * with QEMU's error and leaves the node as it was.
 */
START_TEST(test_auto_read_only_falls_back)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.img 1M"));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f1', 'filename': '/dev/fdset/1', "
               "'auto-read-only': true}}");
    ck_assert(!bq_node_ro(f.c, "f1"));
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    bq_err(f.c, "Could not dup FD for /dev/fdset/1 flags 2: Permission denied",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q1', 'file': 'f1'}}");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", NULL), 2);
    /* a reader fits */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q1', 'file': 'f1', 'read-only': true}}");
    del(f.c, "q1");
    del(f.c, "f1");
    bq_finish(&f);
}
END_TEST

START_TEST(test_cmdline_blockdev)
{
    g_autofree char *dir = g_dir_make_tmp("fdsetd-blk-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "c.img", NULL);
    g_autofree char *args = NULL;
    BlockFixture f;
    char *err = NULL;

    ck_assert(g_file_set_contents(img, "0123456789abcdef", 16, NULL));
    args = g_strdup_printf("--blockdev driver=file,node-name=kv,filename=%s,"
                           "read-only=on --blockdev '{\"driver\":\"raw\","
                           "\"node-name\":\"js\",\"file\":\"kv\","
                           "\"read-only\":true}'",
                           img);
    f = bq_start(args);
    ck_assert(bq_node_ro(f.c, "kv"));
    ck_assert(bq_node_ro(f.c, "js"));
    ck_assert_int_eq(bq_node_count(f.c), 2);
    del(f.c, "js");
    del(f.c, "kv");
    bq_finish(&f);
    ck_assert_int_ne(qtest_spawn_expect_fail("--blockdev driver=raw,"
                                             "node-name=x,file=nope",
                                             NULL, 0, &err),
                     0);
    ck_assert_msg(strstr(err, "Cannot find device='nope' nor "
                              "node-name='nope'"),
                  "stderr: %s", err);
    g_free(err);
    unlink(img);
    rmdir(dir);
}
END_TEST

START_TEST(test_query_block_empty)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *r = qtest_qmp(f.c, "{'execute': 'query-block'}");

    ck_assert_uint_eq(json_array_get_length(qtest_return_array(r)), 0);
    json_node_unref(r);
    r = qtest_qmp(f.c, "{'execute': 'query-named-block-nodes'}");
    ck_assert_uint_eq(json_array_get_length(qtest_return_array(r)), 0);
    json_node_unref(r);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("block");
    TCase *tc = tcase_create("block");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_raw_inline_file_child);
    tcase_add_test(tc, test_file_child_by_reference);
    tcase_add_test(tc, test_blockdev_add_errors);
    tcase_add_test(tc, test_qcow2_header_backing_by_path);
    tcase_add_test(tc, test_qcow2_explicit_backing_json_filename);
    tcase_add_test(tc, test_fdset_image_header_backing_fails_cleanly);
    tcase_add_test(tc, test_blockdev_del_errors);
    tcase_add_test(tc, test_reopen_format_node_child_follows);
    tcase_add_test(tc, test_reopen_missing_mode_leaves_node);
    tcase_add_test(tc, test_reopen_errors);
    tcase_add_test(tc, test_auto_read_only_falls_back);
    tcase_add_test(tc, test_cmdline_blockdev);
    tcase_add_test(tc, test_query_block_empty);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
