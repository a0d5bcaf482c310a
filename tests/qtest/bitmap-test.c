/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty bitmaps (block-dirty-bitmap-*, x-debug-block-dirty-bitmap-sha256)
 * through fdsets: the bits writes leave (a commit job writing into the
 * bitmap's node), compared with the digests QEMU 7.2 gives for the same
 * flow; every documented error with QEMU 7.2's text; the listing in
 * query-named-block-nodes and query-block; no fd left behind.
 */
#include "block-qtest.h"

/* QEMU 7.2, 1 MiB node, 64 KiB granularity: no bit set; and granules 1
 * and 4 set (what committing top's 64k..128k and 300k..301k leaves). */
#define SHA_EMPTY_1M                                                           \
    "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc"
#define SHA_COMMIT_1M                                                          \
    "e48d939f60d90eb530fe27e3605e548e51c7232e13baddfdfeaa4e04fb478319"

/* base.img (raw, 1 MiB of 0x11) <- top.qcow2 (0x22 at 64k, 0x33 at 300k). */
static void open_chain(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 1M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 1M' base.img && "
                    "qemu-img create -q -f qcow2 -o cluster_size=512 "
                    "-b base.img -F raw top.qcow2 && "
                    "qemu-io -c 'write -P 0x22 64k 64k' "
                    "-c 'write -P 0x33 300k 1k' top.qcow2"));
    bq_add_fd(f, f->c, "base.img", O_RDWR, 0);
    bq_add_fd(f, f->c, "top.qcow2", O_RDWR, 1);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
}

static void close_chain(BlockFixture *f)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'top'}}");
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': "
                "{'node-name': 'base'}}");
}

static void add_bitmap(QTestConn *c, const char *node, const char *name,
                       const char *extra)
{
    bq_ok(c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
             "{'node': '%s', 'name': '%s'%s}}", node, name, extra);
}

static char *sha256(QTestConn *c, const char *node, const char *name)
{
    JsonNode *r = qtest_qmp(c, "{'execute': "
                               "'x-debug-block-dirty-bitmap-sha256', "
                               "'arguments': {'node': '%s', 'name': '%s'}}",
                            node, name);
    JsonObject *ret = json_object_get_object_member(json_node_get_object(r),
                                                    "return");
    char *hex;

    ck_assert_msg(ret, "no sha256 for %s/%s", node, name);
    hex = g_strdup(json_object_get_string_member(ret, "sha256"));
    json_node_unref(r);
    return hex;
}

static void assert_sha(QTestConn *c, const char *node, const char *name,
                       const char *want)
{
    g_autofree char *got = sha256(c, node, name);

    ck_assert_str_eq(got, want);
}

/* The node's BlockDirtyInfo called @name (a new reference in *keep). */
static JsonObject *bitmap_info(QTestConn *c, const char *node,
                               const char *name, JsonNode **keep)
{
    JsonObject *o = bq_node(c, node, true, keep);
    JsonArray *a;

    ck_assert_msg(o, "no node '%s'", node);
    if (!json_object_has_member(o, "dirty-bitmaps")) {
        return NULL;
    }
    a = json_object_get_array_member(o, "dirty-bitmaps");
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonObject *b = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(b, "name"), name)) {
            return b;
        }
    }
    return NULL;
}

static int64_t bitmap_count(QTestConn *c, const char *node, const char *name)
{
    JsonNode *keep;
    JsonObject *b = bitmap_info(c, node, name, &keep);
    int64_t n;

    ck_assert_msg(b, "no bitmap '%s'", name);
    n = json_object_get_int_member(b, "count");
    json_node_unref(keep);
    return n;
}

static void commit_top(QTestConn *c)
{
    bq_ok(c, "{'execute': 'block-commit', 'arguments': {'device': 'top', "
             "'job-id': 'c0'}}");
    bq_wait_status(c, "c0", "ready");
    bq_ok(c, "{'execute': 'job-complete', 'arguments': {'id': 'c0'}}");
    bq_wait_status(c, "c0", "null");
}

/* Writes mark enabled bitmaps only; merge and clear: QEMU's digests. */
START_TEST(test_writes_mark_bitmaps)
{
    BlockFixture f = bq_start(NULL);

    open_chain(&f);
    add_bitmap(f.c, "base", "b64", "");
    add_bitmap(f.c, "base", "b512", ", 'granularity': 512");
    add_bitmap(f.c, "base", "off", ", 'disabled': true");
    assert_sha(f.c, "base", "b64", SHA_EMPTY_1M);
    commit_top(f.c);
    assert_sha(f.c, "base", "b64", SHA_COMMIT_1M);
    assert_sha(f.c, "base", "off", SHA_EMPTY_1M);
    ck_assert_int_eq(bitmap_count(f.c, "base", "b64"), 131072);
    ck_assert_int_eq(bitmap_count(f.c, "base", "off"), 0);
    /* 64k + 1k written: at least those 130 granules of 512 */
    ck_assert_int_ge(bitmap_count(f.c, "base", "b512"), 66560);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
               "{'node': 'base', 'target': 'off', 'bitmaps': ['b64']}}");
    assert_sha(f.c, "base", "off", SHA_COMMIT_1M);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-clear', 'arguments': "
               "{'node': 'base', 'name': 'b64'}}");
    assert_sha(f.c, "base", "b64", SHA_EMPTY_1M);
    ck_assert_int_eq(bitmap_count(f.c, "base", "b64"), 0);
    close_chain(&f);
    bq_finish(&f);
}
END_TEST

/* The listing: newest first, QEMU's members, disable/enable and remove. */
START_TEST(test_query_listing)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *o, *b;
    JsonArray *a;

    open_chain(&f);
    add_bitmap(f.c, "base", "first", "");
    add_bitmap(f.c, "base", "second", ", 'granularity': 2147483648");
    o = bq_node(f.c, "base", true, &keep);
    a = json_object_get_array_member(o, "dirty-bitmaps");
    ck_assert_int_eq(json_array_get_length(a), 2);
    b = json_array_get_object_element(a, 0);
    ck_assert_str_eq(json_object_get_string_member(b, "name"), "second");
    ck_assert_int_eq(json_object_get_int_member(b, "granularity"),
                     2147483648LL);
    b = json_array_get_object_element(a, 1);
    ck_assert_str_eq(json_object_get_string_member(b, "name"), "first");
    ck_assert_int_eq(json_object_get_int_member(b, "granularity"), 65536);
    ck_assert(json_object_get_boolean_member(b, "recording"));
    ck_assert(!json_object_get_boolean_member(b, "persistent"));
    ck_assert(!json_object_get_boolean_member(b, "busy"));
    ck_assert(!json_object_has_member(b, "inconsistent"));
    ck_assert_int_eq(json_object_get_int_member(b, "count"), 0);
    json_node_unref(keep);
    /* top (qcow2, 512-byte clusters): the default is at least 4 KiB */
    add_bitmap(f.c, "top", "t", "");
    o = bitmap_info(f.c, "top", "t", &keep);
    ck_assert_int_eq(json_object_get_int_member(o, "granularity"), 4096);
    json_node_unref(keep);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-disable', 'arguments': "
               "{'node': 'base', 'name': 'first'}}");
    o = bitmap_info(f.c, "base", "first", &keep);
    ck_assert(!json_object_get_boolean_member(o, "recording"));
    json_node_unref(keep);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-enable', 'arguments': "
               "{'node': 'base', 'name': 'first'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'base', 'name': 'first'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'base', 'name': 'second'}}");
    o = bq_node(f.c, "base", true, &keep);
    ck_assert(!json_object_has_member(o, "dirty-bitmaps"));
    json_node_unref(keep);
    close_chain(&f); /* top still has 't': it goes with the node */
    bq_finish(&f);
}
END_TEST

/* Every documented error, with QEMU 7.2's text; nothing changes. */
START_TEST(test_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *long_name = g_strnfill(1024, 'x');

    open_chain(&f);
    g_free(bq_sh(&f, "qemu-img create -q -f raw small.img 512k"));
    bq_add_fd(&f, f.c, "small.img", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'small', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/2'}}}");
    add_bitmap(f.c, "base", "b0", "");
    add_bitmap(f.c, "small", "s0", "");
    bq_err(f.c, "Bitmap already exists: b0",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': 'b0'}}");
    bq_err(f.c, "Cannot find device='nope' nor node-name='nope'",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'nope', 'name': 'b0'}}");
    bq_err(f.c, "Bitmap name cannot be empty",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': ''}}");
    {
        g_autofree char *want = g_strdup_printf("Bitmap name too long: %s",
                                                long_name);

        bq_err(f.c, want, "{'execute': 'block-dirty-bitmap-add', "
                          "'arguments': {'node': 'base', 'name': '%s'}}",
               long_name);
    }
    bq_err(f.c, "Granularity must be power of 2 and at least 512",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': 'g', 'granularity': 1000}}");
    bq_err(f.c, "Granularity must be power of 2 and at least 512",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': 'g', 'granularity': 256}}");
    bq_err(f.c, "Parameter 'granularity' expects uint32_t",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': 'g', 'granularity': 4294967296}}");
    bq_err(f.c, "Can't store persistent bitmaps to base: Operation not "
                "supported",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'base', 'name': 'p', 'persistent': true}}");
    bq_err(f.c, "Node 'zz' not found",
           "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
           "{'node': 'zz', 'name': 'b0'}}");
    static const char *const cmds[] = {
        "block-dirty-bitmap-remove", "block-dirty-bitmap-clear",
        "block-dirty-bitmap-enable", "block-dirty-bitmap-disable",
        "x-debug-block-dirty-bitmap-sha256",
    };
    for (guint i = 0; i < G_N_ELEMENTS(cmds); i++) {
        bq_err(f.c, "Dirty bitmap 'zz' not found",
               "{'execute': '%s', 'arguments': {'node': 'base', "
               "'name': 'zz'}}", cmds[i]);
    }
    bq_err(f.c, "Dirty bitmap 'zz' not found",
           "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
           "{'node': 'base', 'target': 'zz', 'bitmaps': ['b0']}}");
    bq_err(f.c, "Dirty bitmap 'zz' not found",
           "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
           "{'node': 'base', 'target': 'b0', 'bitmaps': ['zz']}}");
    bq_err(f.c, "Node 'qq' not found",
           "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
           "{'node': 'base', 'target': 'b0', 'bitmaps': "
           "[{'node': 'qq', 'name': 'b0'}]}}");
    bq_err(f.c, "Bitmaps are of different sizes (destination size is "
                "1048576, source size is 524288) and can't be merged",
           "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
           "{'node': 'base', 'target': 'b0', 'bitmaps': "
           "[{'node': 'small', 'name': 's0'}]}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-merge', 'arguments': "
               "{'node': 'base', 'target': 'b0', 'bitmaps': "
               "['b0', {'node': 'base', 'name': 'b0'}]}}");
    assert_sha(f.c, "base", "b0", SHA_EMPTY_1M);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'small'}}");
    close_chain(&f);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("bitmap");
    TCase *tc = tcase_create("bitmap");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_writes_mark_bitmaps);
    tcase_add_test(tc, test_query_listing);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
