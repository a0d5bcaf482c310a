/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The job state machine as QEMU 7.2 has it, seen through block-stream and
 * active block-commit jobs on images behind fdsets: the exact
 * JOB_STATUS_CHANGE sequences of pause/resume, standby, cancel of a paused
 * job and manual finalize/dismiss; every verb in a state that refuses it
 * with QEMU's text; not-found errors of all job commands; fd accounting.
 */
#include "job-qtest.h"

/* A whole-chain stream of top, slowed to @speed bytes/s. */
static void stream_slow(QTestConn *c, const char *id, int64_t speed,
                        bool manual)
{
    bq_ok(c,
          "{'execute': 'block-stream', 'arguments': {'job-id': '%s', "
          "'device': 'top', 'speed': %" G_GINT64_FORMAT ", "
          "'auto-finalize': %s, 'auto-dismiss': %s}}",
          id, speed, manual ? "false" : "true", manual ? "false" : "true");
}

static void finish_two(BlockFixture *f)
{
    jq_del(f->c, "top");
    jq_del(f->c, "base");
    ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q top.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(f, "qemu-img compare -q -f raw -F qcow2 "
                                     "expect.img top.qcow2"),
                     0);
    bq_finish(f);
}

/* running -> paused -> running, with the pause errors on the way. */
START_TEST(test_pause_resume)
{
    BlockFixture f = bq_start(NULL);

    jq_two_layers(&f, 8);
    stream_slow(f.c, "j", 1 * MiB, false);
    jq_statuses(f.c, "j", "created running");
    bq_ok(f.c, "{'execute': 'job-pause', 'arguments': {'id': 'j'}}");
    jq_assert_field(f.c, "j", "paused", "true");
    jq_statuses(f.c, "j", "paused");
    jq_assert_field(f.c, "j", "busy", "false");
    jq_assert_field(f.c, "j", "status", "paused");
    bq_err(f.c, "Job is already paused",
           "{'execute': 'job-pause', 'arguments': {'id': 'j'}}");
    bq_err(f.c, "Job is already paused",
           "{'execute': 'block-job-pause', 'arguments': {'device': 'j'}}");
    bq_ok(f.c, "{'execute': 'block-job-resume', 'arguments': {'device': "
               "'j'}}");
    jq_statuses(f.c, "j", "running");
    jq_assert_field(f.c, "j", "paused", "false");
    bq_err(f.c, "Can't resume a job that was not paused",
           "{'execute': 'job-resume', 'arguments': {'id': 'j'}}");
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'j', 'speed': 0}}");
    jq_statuses(f.c, "j", "waiting pending concluded null");
    finish_two(&f);
}
END_TEST

/* A cancel ends the pause: paused -> running -> aborting, CANCELLED. */
START_TEST(test_cancel_paused)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d;

    jq_two_layers(&f, 8);
    stream_slow(f.c, "j", 1 * MiB, false);
    bq_ok(f.c, "{'execute': 'job-pause', 'arguments': {'id': 'j'}}");
    jq_statuses(f.c, "j", "created running paused");
    bq_ok(f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'j'}}");
    jq_statuses(f.c, "j", "running aborting");
    d = bq_event(f.c, "BLOCK_JOB_CANCELLED", 10000, &keep);
    ck_assert_str_eq(json_object_get_string_member(d, "type"), "stream");
    json_node_unref(keep);
    jq_statuses(f.c, "j", "concluded null");
    /* the chain is untouched: top still reads as before */
    ck_assert(bq_node_ro(f.c, "base"));
    finish_two(&f);
}
END_TEST

/* Manual finalize and dismiss, and every verb in the states refusing it. */
START_TEST(test_verbs_in_wrong_states)
{
    BlockFixture f = bq_start(NULL);
    static const char *const running_refuses[][2] = {
        { "job-complete", "complete" }, { "job-finalize", "finalize" },
        { "job-dismiss", "dismiss" },
    };
    static const char *const pending_refuses[][2] = {
        { "job-complete", "complete" }, { "job-pause", "pause" },
        { "job-dismiss", "dismiss" },
    };
    static const char *const concluded_refuses[][2] = {
        { "job-complete", "complete" }, { "job-pause", "pause" },
        { "job-finalize", "finalize" }, { "job-cancel", "cancel" },
    };
    JsonNode *keep;

    jq_two_layers(&f, 8);
    stream_slow(f.c, "j", 2 * MiB, true);
    jq_statuses(f.c, "j", "created running");
    for (guint i = 0; i < G_N_ELEMENTS(running_refuses); i++) {
        g_autofree char *want = g_strdup_printf(
            "Job 'j' in state 'running' cannot accept command verb '%s'",
            running_refuses[i][1]);

        bq_err(f.c, want, "{'execute': '%s', 'arguments': {'id': 'j'}}",
               running_refuses[i][0]);
    }
    bq_ok(f.c, "{'execute': 'block-job-set-speed', 'arguments': "
               "{'device': 'j', 'speed': 0}}");
    jq_statuses(f.c, "j", "waiting pending");
    ck_assert_ptr_nonnull(bq_event(f.c, "BLOCK_JOB_PENDING", 5000, &keep));
    json_node_unref(keep);
    for (guint i = 0; i < G_N_ELEMENTS(pending_refuses); i++) {
        g_autofree char *want = g_strdup_printf(
            "Job 'j' in state 'pending' cannot accept command verb '%s'",
            pending_refuses[i][1]);

        bq_err(f.c, want, "{'execute': '%s', 'arguments': {'id': 'j'}}",
               pending_refuses[i][0]);
    }
    /* resume checks "not paused" before the verb table, as QEMU */
    bq_err(f.c, "Can't resume a job that was not paused",
           "{'execute': 'job-resume', 'arguments': {'id': 'j'}}");
    bq_err(f.c, "Job 'j' in state 'pending' cannot accept command verb "
                "'set-speed'",
           "{'execute': 'block-job-set-speed', 'arguments': {'device': 'j', "
           "'speed': 1}}");
    /* nothing changed before finalize: top still has its backing */
    {
        g_autofree char *b = bq_node_str(f.c, "top", "backing_file");

        ck_assert_str_eq(b, "/dev/fdset/0");
    }
    bq_ok(f.c, "{'execute': 'block-job-finalize', 'arguments': {'id': 'j'}}");
    jq_statuses(f.c, "j", "concluded");
    bq_expect_event(f.c, "BLOCK_JOB_COMPLETED", 1000);
    jq_assert_field(f.c, "j", "status", "concluded");
    for (guint i = 0; i < G_N_ELEMENTS(concluded_refuses); i++) {
        g_autofree char *want = g_strdup_printf(
            "Job 'j' in state 'concluded' cannot accept command verb '%s'",
            concluded_refuses[i][1]);

        bq_err(f.c, want, "{'execute': '%s', 'arguments': {'id': 'j'}}",
               concluded_refuses[i][0]);
    }
    bq_ok(f.c, "{'execute': 'block-job-dismiss', 'arguments': {'id': 'j'}}");
    jq_statuses(f.c, "j", "null");
    jq_assert_field(f.c, "j", "status", "");
    {
        g_autofree char *b = bq_node_str(f.c, "top", "backing_file");

        ck_assert_str_eq(b, "");
    }
    jq_del(f.c, "top");
    jq_del(f.c, "base");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img top.qcow2"),
                     0);
    bq_finish(&f);
}
END_TEST

/* A ready active commit: pause -> standby (ready stays true), resume. */
START_TEST(test_standby)
{
    BlockFixture f = bq_start(NULL);

    jq_two_layers(&f, 4);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'a', "
               "'device': 'top'}}");
    jq_statuses(f.c, "a", "created running ready");
    bq_ok(f.c, "{'execute': 'job-pause', 'arguments': {'id': 'a'}}");
    jq_statuses(f.c, "a", "standby");
    jq_assert_field(f.c, "a", "ready", "true");
    jq_assert_field(f.c, "a", "paused", "true");
    bq_err(f.c, "Job 'a' in state 'standby' cannot accept command verb "
                "'complete'",
           "{'execute': 'job-complete', 'arguments': {'id': 'a'}}");
    bq_ok(f.c, "{'execute': 'job-resume', 'arguments': {'id': 'a'}}");
    jq_statuses(f.c, "a", "ready");
    /* cancelled while in standby: back to ready first, then the end */
    bq_ok(f.c, "{'execute': 'job-pause', 'arguments': {'id': 'a'}}");
    jq_statuses(f.c, "a", "standby");
    bq_ok(f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'a'}}");
    jq_statuses(f.c, "a", "ready aborting concluded null");
    finish_two(&f);
}
END_TEST

/*
 * block-commit's on-error: the base (raw, 8 MiB to receive) on a 1 MiB
 * tmpfs.  stop: BLOCK_JOB_ERROR, paused with io-status nospace, resumed
 * once the filesystem grows, and the commit's result is right.
 */
START_TEST(test_commit_enospc_stop)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d;

    if (!jq_small_mount(&f, 1024)) {
        fprintf(stderr, "job-test: cannot mount a tmpfs, skipped\n");
        bq_finish(&f);
        return;
    }
    g_free(bq_sh(&f, "qemu-img create -q -f raw small/base.img 64k && "
                     "qemu-img create -q -f qcow2 -b small/base.img -F raw "
                     "mid.qcow2 8M && qemu-io -c 'write -P 0x42 0 8M' "
                     "mid.qcow2 >/dev/null && qemu-img create -q -f qcow2 "
                     "-b mid.qcow2 -F qcow2 top.qcow2 && qemu-img convert "
                     "-O raw top.qcow2 expect.img"));
    bq_add_fd(&f, f.c, "small/base.img", O_RDWR, 0);
    bq_add_fd(&f, f.c, "mid.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/0'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'mid', 'read-only': true, 'backing': "
               "'base', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'mid', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'job-id': 'c', "
               "'device': 'top', 'top-node': 'mid', 'base-node': 'base', "
               "'backing-file': 'small/base.img', 'on-error': 'stop'}}");
    jq_expect_error_event(f.c, "c", "write", "stop");
    jq_statuses(f.c, "c", "created running paused");
    jq_assert_field(f.c, "c", "io-status", "nospace");
    jq_small_resize(&f, 32 * 1024);
    bq_ok(f.c, "{'execute': 'job-resume', 'arguments': {'id': 'c'}}");
    d = bq_event(f.c, "BLOCK_JOB_COMPLETED", 30000, &keep);
    ck_assert_msg(!json_object_has_member(d, "error"), "%s",
                  json_object_get_string_member_with_default(d, "error", ""));
    ck_assert_int_eq(json_object_get_int_member(d, "offset"), 8 * MiB);
    json_node_unref(keep);
    jq_statuses(f.c, "c", "running waiting pending concluded null");
    jq_del(f.c, "top");
    jq_del(f.c, "mid");
    jq_del(f.c, "base");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F qcow2 "
                                      "expect.img top.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "expect.img small/base.img"),
                     0);
    jq_small_unmount(&f);
    bq_finish(&f);
}
END_TEST

/* Every job command on a job that does not exist. */
START_TEST(test_not_found)
{
    BlockFixture f = bq_start(NULL);
    static const char *const job_cmds[] = {
        "job-pause", "job-resume", "job-cancel", "job-complete",
        "job-finalize", "job-dismiss",
    };
    static const char *const block_cmds[] = {
        "block-job-pause", "block-job-resume", "block-job-cancel",
        "block-job-complete",
    };

    for (guint i = 0; i < G_N_ELEMENTS(job_cmds); i++) {
        bq_err(f.c, "Job not found",
               "{'execute': '%s', 'arguments': {'id': 'nope'}}", job_cmds[i]);
    }
    for (guint i = 0; i < G_N_ELEMENTS(block_cmds); i++) {
        jq_err(f.c, "DeviceNotActive", "Block job 'nope' not found",
               "{'execute': '%s', 'arguments': {'device': 'nope'}}",
               block_cmds[i]);
    }
    jq_err(f.c, "DeviceNotActive", "Block job 'nope' not found",
           "{'execute': 'block-job-finalize', 'arguments': {'id': 'nope'}}");
    jq_err(f.c, "DeviceNotActive", "Block job 'nope' not found",
           "{'execute': 'block-job-dismiss', 'arguments': {'id': 'nope'}}");
    jq_err(f.c, "DeviceNotActive", "Block job 'nope' not found",
           "{'execute': 'block-job-set-speed', 'arguments': {'device': "
           "'nope', 'speed': 0}}");
    bq_finish(&f);
}
END_TEST

static Suite *job_suite(void)
{
    Suite *s = suite_create("job");
    TCase *tc = tcase_create("state-machine");

    tcase_add_test(tc, test_pause_resume);
    tcase_add_test(tc, test_cancel_paused);
    tcase_add_test(tc, test_verbs_in_wrong_states);
    tcase_add_test(tc, test_standby);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_commit_enospc_stop);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(job_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
