/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * block-commit qtests with real images made by qemu-img and qemu-io, every
 * image reached only through fdsets: the read-write member needed for the
 * base, cancel, blockdev-del during a job, a manager that disconnects,
 * active commit (READY, complete, cancel), job commands and their errors.
 * Results are checked with qemu-img compare/check/info, and the daemon's
 * fds against the registry after every scenario.
 */
#include "block-qtest.h"

#define MiB (1024 * 1024)

/*
 * base.img (raw, 8 MiB of 0x11) <- mid.qcow2 (0x22 at 1M..5M) <- top.qcow2
 * (0x33 at 2M..2.5M, 0x44 at 7M..7M+64k).  expect-top.img / expect-mid.img
 * are what the chains show, as raw.
 */
static void make_three(BlockFixture *f)
{
    g_free(bq_sh(f, "qemu-img create -q -f raw base.img 8M && "
                    "qemu-io -f raw -c 'write -P 0x11 0 8M' base.img && "
                    "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 "
                    "&& qemu-io -f qcow2 -c 'write -P 0x22 1M 4M' mid.qcow2 && "
                    "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                    "top.qcow2 && qemu-io -f qcow2 -c 'write -P 0x33 2M 512k' "
                    "-c 'write -P 0x44 7M 64k' top.qcow2 && "
                    "qemu-img convert -O raw top.qcow2 expect-top.img && "
                    "qemu-img convert -O raw mid.qcow2 expect-mid.img"));
}

/* Sets 0 (base, O_RDONLY), 1 (mid, O_RDONLY), 2 (top, O_RDWR); nodes
 * base, mid, top with explicit backings. */
static void open_three(BlockFixture *f)
{
    bq_add_fd(f, f->c, "base.img", O_RDONLY, 0);
    bq_add_fd(f, f->c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(f, f->c, "top.qcow2", O_RDWR, 2);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
                "'node-name': 'base', 'read-only': true, 'file': {'driver': "
                "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
                "'base', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/1'}}}");
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                "'qcow2', 'node-name': 'top', 'backing': 'mid', 'file': "
                "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
}

static void del(QTestConn *c, const char *node)
{
    bq_ok(c,
          "{'execute': 'blockdev-del', 'arguments': "
          "{'node-name': '%s'}}",
          node);
}

static void del_three(BlockFixture *f)
{
    del(f->c, "top");
    del(f->c, "mid");
    del(f->c, "base");
}

static void commit_mid(QTestConn *c, const char *id, int64_t speed)
{
    bq_ok(c,
          "{'execute': 'block-commit', 'arguments': {'job-id': '%s', "
          "'device': 'top', 'top-node': 'mid', 'base-node': 'base', "
          "'speed': %" G_GINT64_FORMAT "}}",
          id, speed);
}

/* The chain seen through top is still what it was. */
static void assert_top_chain_intact(BlockFixture *f)
{
    ck_assert_int_eq(bq_sh_status(f, "qemu-img compare -q -f raw "
                                     "-F qcow2 expect-top.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q top.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q mid.qcow2"), 0);
}

static void assert_completed_ok(QTestConn *c, const char *id)
{
    JsonNode *keep;
    JsonObject *d = bq_event(c, "BLOCK_JOB_COMPLETED", 30000, &keep);

    ck_assert_str_eq(json_object_get_string_member(d, "device"), id);
    ck_assert_str_eq(json_object_get_string_member(d, "type"), "commit");
    ck_assert_msg(!json_object_has_member(d, "error"), "job failed: %s",
                  json_object_get_string_member_with_default(d, "error", ""));
    ck_assert_int_eq(json_object_get_int_member(d, "offset"),
                     json_object_get_int_member(d, "len"));
    json_node_unref(keep);
}

/* query-block-jobs' offset of the only job; -1 when there is none. */
static int64_t job_offset(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-block-jobs'}");
    JsonArray *jobs = qtest_return_array(r);
    int64_t off = -1;

    if (json_array_get_length(jobs) == 1) {
        off = json_object_get_int_member(json_array_get_object_element(jobs, 0),
                                         "offset");
    }
    json_node_unref(r);
    return off;
}

static guint job_count(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-jobs'}");
    guint n = json_array_get_length(qtest_return_array(r));

    json_node_unref(r);
    return n;
}

/* Without an O_RDWR member for the base, nothing starts or changes. */
START_TEST(test_commit_without_rw_member_fails)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f);
    open_three(&f);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-commit', "
                                      "'arguments': {'job-id': 'c0', 'device': "
                                      "'top', 'top-node': 'mid'}}"),
                       "GenericError",
                       "Could not dup FD for /dev/fdset/0 "
                       "flags 2: Permission denied");
    bq_wait_status(f.c, "c0", "created");
    bq_wait_status(f.c, "c0", "null");
    ck_assert_uint_eq(job_count(f.c), 0);
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 0);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    assert_top_chain_intact(&f);
    bq_finish(&f);
}
END_TEST

/* base <- mid <- top, commit mid into base: top then names base as mid's
 * header did, and everything reads as before. */
START_TEST(test_commit_three_layers)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;
    g_autofree char *backing = NULL;

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 0);
    bq_wait_status(f.c, "c0", "running");
    assert_completed_ok(f.c, "c0");
    bq_wait_status(f.c, "c0", "concluded");
    bq_wait_status(f.c, "c0", "null");
    ck_assert_uint_eq(job_count(f.c), 0);
    backing = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_eq(backing, "/dev/fdset/0");
    ck_assert(bq_node_ro(f.c, "base"));
    /* the read-write dup is gone: members (ro, rw) and one ro dup remain */
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "ro"), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.img\n"), "%s", info);
    ck_assert(!strstr(info, "/dev/fdset"));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect-mid.img base.img"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/* base.img <- top.qcow2, active commit through fdsets only. */
START_TEST(test_active_commit_two_layers)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;
    JsonNode *keep, *r;
    JsonObject *d;

    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 4M && "
                     "qemu-io -f raw -c 'write -P 0x5a 0 4M' base.img && "
                     "qemu-img create -q -f qcow2 -b base.img -F raw top.qcow2 "
                     "&& qemu-io -c 'write -P 0xa5 1M 1M' top.qcow2 && "
                     "qemu-img convert -O raw top.qcow2 expect.img"));
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_err(f.c,
           "Could not dup FD for /dev/fdset/0 flags 2: Permission "
           "denied",
           "{'execute': 'block-commit', 'arguments': "
           "{'job-id': 'c1', 'device': 'top'}}");
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c1', "
               "'device': 'top'}}");
    d = bq_event(f.c, "BLOCK_JOB_READY", 30000, &keep);
    ck_assert_int_eq(json_object_get_int_member(d, "len"), MiB);
    json_node_unref(keep);
    r = qtest_qmp(f.c, "{'execute': 'query-block-jobs'}");
    d = json_array_get_object_element(qtest_return_array(r), 0);
    ck_assert(json_object_get_boolean_member(d, "ready"));
    ck_assert_str_eq(json_object_get_string_member(d, "status"), "ready");
    json_node_unref(r);
    bq_ok(f.c, "{'execute': 'block-job-complete', 'arguments': "
               "{'device': 'c1'}}");
    assert_completed_ok(f.c, "c1");
    bq_wait_status(f.c, "c1", "null");
    /* base is the active layer now and stays read-write */
    ck_assert(!bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del(f.c, "top");
    del(f.c, "base");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect.img base.img"),
                     0);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.img\n"), "%s", info);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/* Slowed down and cancelled halfway: base read-only again, no read-write
 * dup left, the chain unchanged. */
START_TEST(test_commit_cancel_halfway)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *backing = NULL;
    JsonNode *keep;
    JsonObject *d;

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 256 * 1024);
    while (job_offset(f.c) < 2 * MiB) {
        g_usleep(50000);
    }
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 2);
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'c0'}}");
    d = bq_event(f.c, "BLOCK_JOB_CANCELLED", 10000, &keep);
    ck_assert_int_lt(json_object_get_int_member(d, "offset"),
                     json_object_get_int_member(d, "len"));
    json_node_unref(keep);
    bq_wait_status(f.c, "c0", "null");
    ck_assert(qtest_event_wait(f.c, "BLOCK_JOB_COMPLETED", 200) == NULL);
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    backing = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_eq(backing,
                     "json:{\"backing\": {\"driver\": \"raw\", \"file\": "
                     "{\"driver\": \"file\", \"filename\": \"/dev/fdset/0\"}}, "
                     "\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", "
                     "\"filename\": \"/dev/fdset/1\"}}");
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    assert_top_chain_intact(&f);
    bq_finish(&f);
}
END_TEST

START_TEST(test_blockdev_del_during_job)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 1);
    bq_err(f.c, "Node base is in use",
           "{'execute': 'blockdev-del', "
           "'arguments': {'node-name': 'base'}}");
    bq_err(f.c, "Node mid is in use",
           "{'execute': 'blockdev-del', "
           "'arguments': {'node-name': 'mid'}}");
    bq_err(f.c,
           "Node 'top' is busy: block device is in use by block job: "
           "commit",
           "{'execute': 'blockdev-del', "
           "'arguments': {'node-name': 'top'}}");
    bq_err(f.c,
           "Node 'top' is busy: block device is in use by block job: "
           "commit",
           "{'execute': 'blockdev-reopen', 'arguments': "
           "{'options': [{'driver': 'qcow2', 'node-name': 'top', "
           "'file': {'driver': 'file', 'filename': '/dev/fdset/2'}, "
           "'backing': 'mid'}]}}");
    /* QEMU 7.2: the job holds top, so it is no root node */
    bq_err(f.c, "Need a root block node",
           "{'execute': 'block-commit', 'arguments': "
           "{'job-id': 'c1', 'device': 'top'}}");
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'c0'}}");
    bq_wait_status(f.c, "c0", "null");
    del_three(&f);
    assert_top_chain_intact(&f);
    bq_finish(&f);
}
END_TEST

/* The job belongs to no connection: it goes on when its manager leaves,
 * and the sets it uses keep their members. */
START_TEST(test_manager_disconnect_during_commit)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *r;

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 256 * 1024);
    qtest_disconnect(f.c);
    f.c = qtest_connect(f.s, 0);
    ck_assert_uint_eq(job_count(f.c), 1);
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'c0', 'speed': 0}}");
    assert_completed_ok(f.c, "c0");
    r = qtest_qmp(f.c, "{'execute': 'query-fdsets'}");
    ck_assert_uint_eq(json_array_get_length(qtest_return_array(r)), 3);
    json_node_unref(r);
    ck_assert(bq_node_ro(f.c, "base"));
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect-mid.img base.img"),
                     0);
    bq_finish(&f);
}
END_TEST

/* A read-only overlay above top is reopened read-write for its header
 * (needing its own O_RDWR member) and made read-only again. */
START_TEST(test_commit_readonly_overlay)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_three(&f);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -b top.qcow2 -F qcow2 "
                     "act.qcow2"));
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 2);
    bq_add_fd(&f, f.c, "act.qcow2", O_RDWR, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'act', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/3'}, 'backing': {'driver': 'qcow2', "
               "'node-name': 'top', 'file': {'driver': 'file', 'filename': "
               "'/dev/fdset/2'}, 'backing': {'driver': 'qcow2', 'node-name': "
               "'mid', 'file': {'driver': 'file', 'filename': '/dev/fdset/1'}, "
               "'backing': {'driver': 'raw', 'node-name': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/0'}}}}}}");
    ck_assert(bq_node_ro(f.c, "top"));
    bq_err(f.c,
           "Could not dup FD for /dev/fdset/2 flags 2: Permission "
           "denied",
           "{'execute': 'block-commit', 'arguments': "
           "{'job-id': 'c0', 'device': 'act', 'top-node': 'mid'}}");
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'act', 'top-node': 'mid'}}");
    assert_completed_ok(f.c, "c0");
    bq_wait_status(f.c, "c0", "null");
    ck_assert(bq_node_ro(f.c, "top"));
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", "rw"), 1);
    /* mid was inline: it went away with its place in the chain */
    ck_assert_uint_eq(bq_fds_on(&f, "mid.qcow2", NULL), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del(f.c, "act");
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: base.img\n"), "%s", info);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img act.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

START_TEST(test_commit_backing_file_argument)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_err(f.c,
           "Cannot record '/dev/fdset/0' as the backing file of 'top': "
           "a /dev/fdset/ path only means something inside this process; "
           "give 'backing-file'",
           "{'execute': 'block-commit', 'arguments': "
           "{'job-id': 'c0', 'device': 'top', 'top-node': 'mid', "
           "'backing-file': '/dev/fdset/0'}}");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'top', 'top-node': 'mid', "
               "'backing-file': './base.img'}}");
    assert_completed_ok(f.c, "c0");
    del_three(&f);
    info = bq_sh(&f, "qemu-img info top.qcow2");
    ck_assert_msg(strstr(info, "backing file: ./base.img\n"), "%s", info);
    bq_finish(&f);
}
END_TEST

START_TEST(test_commit_errors)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f);
    open_three(&f);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-commit', "
                                      "'arguments': {'device': 'nope'}}"),
                       "DeviceNotFound", "Device 'nope' not found");
    bq_err(f.c, "Need a root block node",
           "{'execute': 'block-commit', "
           "'arguments': {'device': 'mid'}}");
    bq_err(f.c, "'top-node' and 'top' are mutually exclusive",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'top-node': 'mid', 'top': 'x'}}");
    bq_err(f.c, "Cannot find device='' nor node-name='nope'",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'top-node': 'nope'}}");
    bq_err(f.c, "Top image file nope not found",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'top': 'nope'}}");
    bq_err(f.c, "'base-node' and 'base' are mutually exclusive",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'base-node': 'base', 'base': 'x'}}");
    bq_err(f.c, "'mid' is not in this backing file chain",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'top-node': 'base', 'base-node': 'mid'}}");
    bq_err(f.c, "Can't find 'nope' in the backing chain",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'base': 'nope'}}");
    bq_err(f.c, "cannot commit an image into itself",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'top-node': 'base'}}");
    bq_err(f.c, "'backing-file' specified, but 'top' is the active layer",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'backing-file': 'x'}}");
    bq_err(f.c, "Invalid job ID ''",
           "{'execute': 'block-commit', "
           "'arguments': {'device': 'top', 'top-node': 'mid'}}");
    bq_err(f.c, "Invalid job ID '1j'",
           "{'execute': 'block-commit', "
           "'arguments': {'device': 'top', 'job-id': '1j'}}");
    bq_err(f.c, "Parameter 'speed' expects a non-negative value",
           "{'execute': 'block-commit', 'arguments': {'device': 'top', "
           "'job-id': 'j', 'speed': -1}}");
    bq_wait_status(f.c, "j", "null");
    ck_assert_uint_eq(job_count(f.c), 0);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    bq_finish(&f);
}
END_TEST

START_TEST(test_job_command_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *opath = NULL;

    make_three(&f);
    open_three(&f);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-job-cancel', "
                                      "'arguments': {'device': 'nope'}}"),
                       "DeviceNotActive", "Block job 'nope' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-job-complete', "
                                      "'arguments': {'device': 'nope'}}"),
                       "DeviceNotActive", "Block job 'nope' not found");
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-job-set-speed', "
                                      "'arguments': {'device': 'nope', "
                                      "'speed': 1}}"),
                       "DeviceNotActive", "Block job 'nope' not found");
    bq_err(f.c, "Job not found",
           "{'execute': 'job-dismiss', "
           "'arguments': {'id': 'nope'}}");
    bq_err(f.c, "Job not found",
           "{'execute': 'job-finalize', "
           "'arguments': {'id': 'nope'}}");
    bq_err(f.c, "Job not found",
           "{'execute': 'job-cancel', "
           "'arguments': {'id': 'nope'}}");
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 1);
    g_free(bq_sh(&f, "qemu-img create -q -f raw o-base.img 1M && "
                     "qemu-img create -q -f qcow2 -b o-base.img -F raw "
                     "o.qcow2"));
    opath = bq_path(&f, "o.qcow2");
    bq_ok(f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': "
          "'qcow2', 'node-name': 'o', 'file': {'driver': 'file', "
          "'filename': '%s'}}}",
          opath);
    bq_err(f.c, "Job ID 'c0' already in use",
           "{'execute': 'block-commit', "
           "'arguments': {'job-id': 'c0', 'device': 'o'}}");
    del(f.c, "o");
    bq_err(f.c,
           "Job 'c0' in state 'running' cannot accept command verb "
           "'complete'",
           "{'execute': 'block-job-complete', "
           "'arguments': {'device': 'c0'}}");
    bq_err(f.c,
           "Job 'c0' in state 'running' cannot accept command verb "
           "'dismiss'",
           "{'execute': 'job-dismiss', 'arguments': "
           "{'id': 'c0'}}");
    bq_err(f.c, "Parameter 'speed' expects a non-negative value",
           "{'execute': 'block-job-set-speed', 'arguments': "
           "{'device': 'c0', 'speed': -5}}");
    bq_ok(f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'c0'}}");
    bq_wait_status(f.c, "c0", "null");
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    bq_finish(&f);
}
END_TEST

static const char *job_status(QTestConn *c, JsonNode **keep)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-jobs'}");
    JsonArray *jobs = qtest_return_array(r);

    *keep = r;
    ck_assert_uint_eq(json_array_get_length(jobs), 1);
    return json_object_get_string_member(json_array_get_object_element(jobs, 0),
                                         "status");
}

START_TEST(test_manual_finalize_and_dismiss)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *before = NULL;
    g_autofree char *after = NULL;
    JsonNode *keep;

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'top', 'top-node': 'mid', 'auto-finalize': false, "
               "'auto-dismiss': false}}");
    bq_expect_event(f.c, "BLOCK_JOB_PENDING", 30000);
    ck_assert_str_eq(job_status(f.c, &keep), "pending");
    json_node_unref(keep);
    /* nothing visible happened yet */
    before = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_ne(before, "/dev/fdset/0");
    bq_err(f.c,
           "Job 'c0' in state 'pending' cannot accept command verb "
           "'dismiss'",
           "{'execute': 'job-dismiss', 'arguments': "
           "{'id': 'c0'}}");
    bq_ok(f.c, "{'execute': 'job-finalize', 'arguments': {'id': 'c0'}}");
    assert_completed_ok(f.c, "c0");
    bq_wait_status(f.c, "c0", "concluded");
    ck_assert_str_eq(job_status(f.c, &keep), "concluded");
    json_node_unref(keep);
    after = bq_node_str(f.c, "top", "backing_file");
    ck_assert_str_eq(after, "/dev/fdset/0");
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'c0'}}");
    ck_assert_uint_eq(job_count(f.c), 0);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    bq_finish(&f);
}
END_TEST

/* Cancelling a ready active commit without force keeps top: the job
 * completes without switching, and base is read-only again. */
START_TEST(test_active_commit_soft_and_hard_cancel)
{
    BlockFixture f = bq_start(NULL);

    make_three(&f);
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'a0', "
               "'device': 'top'}}");
    bq_expect_event(f.c, "BLOCK_JOB_READY", 30000);
    ck_assert(!bq_node_ro(f.c, "base"));
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'a0'}}");
    assert_completed_ok(f.c, "a0");
    bq_wait_status(f.c, "a0", "null");
    ck_assert(bq_node_ro(f.c, "base"));
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'a1', "
               "'device': 'top'}}");
    bq_expect_event(f.c, "BLOCK_JOB_READY", 30000);
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'a1', 'force': true}}");
    bq_expect_event(f.c, "BLOCK_JOB_CANCELLED", 10000);
    bq_wait_status(f.c, "a1", "null");
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    assert_top_chain_intact(&f);
    bq_finish(&f);
}
END_TEST

/* Active commit of a drive: on complete the drive switches to base. */
START_TEST(test_active_commit_drive_pivot)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;
    JsonNode *r;
    JsonObject *ins;

    make_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
               "'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    out = bq_hmp(f.c, "drive_add 0 if=none,id=d0,format=qcow2,"
                      "file=/dev/fdset/2,backing=mid");
    ck_assert_str_eq(out, "OK\r\n");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'device': 'd0'}}");
    bq_expect_event(f.c, "BLOCK_JOB_READY", 30000);
    bq_ok(f.c, "{'execute': 'block-job-complete', 'arguments': "
               "{'device': 'd0'}}");
    assert_completed_ok(f.c, "d0");
    bq_wait_status(f.c, "d0", "null");
    r = qtest_qmp(f.c, "{'execute': 'query-block'}");
    ins = json_object_get_object_member(
        json_array_get_object_element(qtest_return_array(r), 0), "inserted");
    ck_assert_str_eq(json_object_get_string_member(ins, "node-name"), "base");
    ck_assert(!json_object_get_boolean_member(ins, "ro"));
    json_node_unref(r);
    /* the old top is gone with its dup */
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", NULL), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del(f.c, "mid");
    g_free(out);
    out = bq_hmp(f.c, "drive_del d0");
    ck_assert_str_eq(out, "");
    del(f.c, "base");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect-top.img base.img"),
                     0);
    bq_finish(&f);
}
END_TEST

/* A qcow2 base is written by the qcow2 driver: refcounts stay valid. */
START_TEST(test_commit_into_qcow2_base)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 base.qcow2 8M && "
                     "qemu-io -c 'write -P 0x11 0 3M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "mid.qcow2 && qemu-io -c 'write -P 0x22 2M 4M' mid.qcow2 "
                     "&& qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                     "top.qcow2 && qemu-io -c 'write -P 0x33 5M 64k' top.qcow2 "
                     "&& qemu-img convert -O raw top.qcow2 expect-top.img && "
                     "qemu-img convert -O raw mid.qcow2 expect-mid.img"));
    bq_add_fd(&f, f.c, "base.qcow2", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "base.qcow2", O_RDWR, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': "
          "'qcow2', 'node-name': 'base', 'read-only': true, 'backing': null, "
          "'file': {'driver': 'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
               "'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'mid', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    commit_mid(f.c, "c0", 0);
    assert_completed_ok(f.c, "c0");
    ck_assert(bq_node_ro(f.c, "base"));
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q base.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q top.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-mid.img base.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* A raw base shorter than top grows to top's size. */
START_TEST(test_commit_grows_raw_base)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *o;

    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 1M && "
                     "qemu-io -f raw -c 'write -P 0x11 0 1M' base.img && "
                     "qemu-img create -q -f qcow2 -b base.img -F raw mid.qcow2 "
                     "3M && qemu-io -c 'write -P 0x22 2M 1M' mid.qcow2 && "
                     "qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 "
                     "top.qcow2 && qemu-img convert -O raw mid.qcow2 "
                     "expect-mid.img"));
    open_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    commit_mid(f.c, "c0", 0);
    assert_completed_ok(f.c, "c0");
    o = bq_node(f.c, "base", true, &keep);
    ck_assert_int_eq(
        json_object_get_int_member(json_object_get_object_member(o, "image"),
                                   "virtual-size"),
        3 * MiB);
    json_node_unref(keep);
    del_three(&f);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect-mid.img base.img"),
                     0);
    bq_finish(&f);
}
END_TEST

/* libvirt's layout: named file nodes with auto-read-only under the format
 * nodes.  The base's file node follows the job: read-write while it runs,
 * read-only again afterwards. */
START_TEST(test_commit_libvirt_style_nodes)
{
    BlockFixture f = bq_start(NULL);
    static const char *const layers[][4] = {
        {"base", "raw", "0", ""},
        {"mid", "qcow2", "1", ", 'backing': 'base-fmt'"},
        {"top", "qcow2", "2", ", 'backing': 'mid-fmt'"},
    };

    make_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    /* auto-read-only opens read-only first: QEMU 7.2 needs the O_RDONLY
     * member as well */
    bq_add_fd(&f, f.c, "top.qcow2", O_RDONLY, 2);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    for (guint i = 0; i < G_N_ELEMENTS(layers); i++) {
        bq_ok(f.c,
              "{'execute': 'blockdev-add', 'arguments': {'driver': "
              "'file', 'node-name': '%s-sto', 'filename': '/dev/fdset/%s', "
              "'auto-read-only': true, 'discard': 'unmap'}}",
              layers[i][0], layers[i][2]);
        bq_ok(f.c,
              "{'execute': 'blockdev-add', 'arguments': {'driver': "
              "'%s', 'node-name': '%s-fmt', 'file': '%s-sto', "
              "'read-only': %s%s}}",
              layers[i][1], layers[i][0], layers[i][0],
              i < 2 ? "true" : "false", layers[i][3]);
    }
    /* dynamic auto-read-only: read-only: false, but a read-only dup */
    ck_assert(!bq_node_ro(f.c, "base-sto"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "ro"), 2);
    ck_assert(!bq_node_ro(f.c, "top-sto"));
    ck_assert_uint_eq(bq_fds_on(&f, "top.qcow2", "rw"), 2);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'top-fmt', 'top-node': 'mid-fmt', "
               "'base-node': 'base-fmt', 'speed': 1}}");
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "ro"), 1);
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'c0', 'speed': 0}}");
    assert_completed_ok(f.c, "c0");
    bq_wait_status(f.c, "c0", "null");
    ck_assert(bq_node_ro(f.c, "base-fmt"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "ro"), 2);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    for (guint i = G_N_ELEMENTS(layers); i-- > 0;) {
        bq_ok(f.c,
              "{'execute': 'blockdev-del', 'arguments': "
              "{'node-name': '%s-fmt'}}",
              layers[i][0]);
        bq_ok(f.c,
              "{'execute': 'blockdev-del', 'arguments': "
              "{'node-name': '%s-sto'}}",
              layers[i][0]);
    }
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect-top.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect-mid.img base.img"),
                     0);
    bq_finish(&f);
}
END_TEST

/* A job that fails: BLOCK_JOB_COMPLETED carries the error, query-jobs
 * keeps it until job-dismiss, and the base is read-only again. */
START_TEST(test_commit_failure_reported)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep, *r;
    JsonObject *d;

    make_three(&f);
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    /* a base window smaller than the chain, which cannot grow */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'size': 4194304, "
               "'file': {'driver': 'file', 'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
               "'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'mid', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c0', "
               "'device': 'top', 'top-node': 'mid', 'auto-dismiss': false}}");
    bq_wait_status(f.c, "c0", "aborting");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 10000, &keep);
    ck_assert_msg(
        strstr(json_object_get_string_member_with_default(d, "error", ""),
               "resize of base image failed"),
        "no error in the event");
    json_node_unref(keep);
    bq_wait_status(f.c, "c0", "concluded");
    r = qtest_qmp(f.c, "{'execute': 'query-jobs'}");
    d = json_array_get_object_element(qtest_return_array(r), 0);
    ck_assert_str_eq(json_object_get_string_member(d, "status"), "concluded");
    ck_assert(json_object_has_member(d, "error"));
    json_node_unref(r);
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'c0'}}");
    ck_assert(bq_node_ro(f.c, "base"));
    ck_assert_uint_eq(bq_fds_on(&f, "base.img", "rw"), 1);
    qtest_assert_fds_match_registry(f.s, f.c, 0);
    del_three(&f);
    assert_top_chain_intact(&f);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("commit");
    TCase *tc = tcase_create("commit");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_commit_without_rw_member_fails);
    tcase_add_test(tc, test_commit_three_layers);
    tcase_add_test(tc, test_active_commit_two_layers);
    tcase_add_test(tc, test_commit_cancel_halfway);
    tcase_add_test(tc, test_blockdev_del_during_job);
    tcase_add_test(tc, test_manager_disconnect_during_commit);
    tcase_add_test(tc, test_commit_readonly_overlay);
    tcase_add_test(tc, test_commit_backing_file_argument);
    tcase_add_test(tc, test_commit_errors);
    tcase_add_test(tc, test_job_command_errors);
    tcase_add_test(tc, test_manual_finalize_and_dismiss);
    tcase_add_test(tc, test_active_commit_soft_and_hard_cancel);
    tcase_add_test(tc, test_active_commit_drive_pivot);
    tcase_add_test(tc, test_commit_into_qcow2_base);
    tcase_add_test(tc, test_commit_grows_raw_base);
    tcase_add_test(tc, test_commit_libvirt_style_nodes);
    tcase_add_test(tc, test_commit_failure_reported);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
