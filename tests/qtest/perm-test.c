/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Permission conflicts (include/block/perm.h), each reply measured against
 * QEMU 7.2 (qemu-system-x86_64 -machine none) in the same set-up.
 */
#include <check.h>

#include "block-qtest.h"

/* The file nodes opened by path are the only fds outside the registry. */
static void finish(BlockFixture *f, guint file_nodes)
{
    qtest_assert_fds_match_registry(f->s, f->c, file_nodes);
    ck_assert_int_eq(qtest_quit(f->s), 0);
}

static void add_file_node(BlockFixture *f, const char *img, const char *node)
{
    g_autofree char *path = bq_path(f, img);
    g_autofree char *p = qtest_json_str(path);

    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
          "'node-name': '%s', 'filename': %s}}",
          node, p);
}

/* A second format node over a file node a writable one holds. */
START_TEST(test_two_writers_on_one_file)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 1M"));
    add_file_node(&f, "a.qcow2", "f0");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q0', 'file': 'f0'}}");
    bq_err(f.c,
           "Permission conflict on node 'f0': permissions 'write, resize' "
           "are both required by node 'q0' (uses node 'f0' as 'file' child) "
           "and unshared by node 'q1' (uses node 'f0' as 'file' child).",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q1', 'file': 'f0'}}");
    bq_err(f.c,
           "Permission conflict on node 'f0': permissions 'write, resize' "
           "are both required by node 'q0' (uses node 'f0' as 'file' child) "
           "and unshared by node 'q2' (uses node 'f0' as 'file' child).",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q2', 'file': 'f0', 'read-only': true}}");
    /* raw with no user of its own takes nothing: QEMU accepts it too */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'r0', 'file': 'f0'}}");
    /* once the writer is gone, the reader fits */
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'q0'}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q2', 'file': 'f0', 'read-only': true}}");
    /* and now the writer does not */
    bq_err(f.c,
           "Permission conflict on node 'f0': permissions 'write, resize' "
           "are both required by node 'q3' (uses node 'f0' as 'file' child) "
           "and unshared by node 'q2' (uses node 'f0' as 'file' child).",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q3', 'file': 'f0'}}");
    finish(&f, 1);
}
END_TEST

/* A reader of an intermediate node while a commit runs (rate-limited). */
START_TEST(test_commit_intermediate_unshares_read)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 b.qcow2 64M && "
                     "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 "
                     "m.qcow2 && qemu-img create -q -f qcow2 -b m.qcow2 "
                     "-F qcow2 t.qcow2 && qemu-io -c 'write 0 32M' m.qcow2 "
                     ">/dev/null"));
    add_file_node(&f, "b.qcow2", "bf");
    add_file_node(&f, "m.qcow2", "mf");
    add_file_node(&f, "t.qcow2", "tf");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'b', 'file': 'bf', 'backing': null, "
               "'read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'm', 'file': 'mf', 'backing': 'b', "
               "'read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 't', 'file': 'tf', 'backing': 'm'}}");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'device': 't', "
               "'job-id': 'j', 'top-node': 'm', 'base-node': 'b', "
               "'speed': 1048576}}");
    /* raw takes nothing: accepted, as by QEMU */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'Y', 'file': 'm', 'read-only': true}}");
    bq_err(f.c,
           "Permission conflict on node 'm': permissions 'consistent read' "
           "are both required by node 'Y2' (uses node 'm' as 'file' child) "
           "and unshared by commit job 'j' (uses node 'm' as 'intermediate "
           "node' child).",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'Y2', 'file': 'm', 'read-only': true}}");
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'j', 'force': true}}");
    bq_wait_status(f.c, "j", "null");
    /* the job's permissions went with it: what fails now is the format
     * (m's data is no qcow2 image), as in QEMU */
    {
        JsonNode *r = qtest_qmp(f.c, "{'execute': 'blockdev-add', "
                                     "'arguments': {'driver': 'qcow2', "
                                     "'node-name': 'Y2', 'file': 'm', "
                                     "'read-only': true}}");

        ck_assert_msg(g_str_has_suffix(qtest_error_desc(r),
                                       "is not in qcow2 format (bad magic)"),
                      "%s", qtest_error_desc(r));
        json_node_unref(r);
    }
    finish(&f, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("perm");
    TCase *tc = tcase_create("conflicts");
    SRunner *sr;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_two_writers_on_one_file);
    tcase_add_test(tc, test_commit_intermediate_unshares_read);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
