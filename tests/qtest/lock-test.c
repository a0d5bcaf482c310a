/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Image locking and dynamic auto-read-only (block/file-lock.c,
 * block/file-posix.c), differential: real qemu-io/qemu-img processes
 * against fdsetd in both directions.  qemu-io and qemu-img are QEMU 7.2's
 * own file driver, so their verdicts are QEMU's; the texts fdsetd gives
 * were measured on qemu-system-x86_64 -machine none in the same set-up.
 */
#include <check.h>
#include <signal.h>

#include "block-qtest.h"

/* Run @cmd in the scratch directory: exit status, stdout+stderr in *out. */
static int run(BlockFixture *f, char **out, const char *cmd)
{
    g_autofree char *full = g_strdup_printf("%s 2>&1", cmd);
    const char *argv[4] = {"/bin/sh", "-c", full, NULL};
    int status;

    ck_assert(g_spawn_sync(qtest_tmpdir(f->s), (char **)argv, NULL, 0, NULL,
                           NULL, out, NULL, &status, NULL));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* @cmd must fail, saying @text. */
static void refused(BlockFixture *f, const char *cmd, const char *text)
{
    g_autofree char *out = NULL;

    ck_assert_msg(run(f, &out, cmd) != 0, "'%s' succeeded: %s", cmd, out);
    ck_assert_msg(strstr(out, text), "'%s': no '%s' in: %s", cmd, text, out);
}

static void allowed(BlockFixture *f, const char *cmd)
{
    g_autofree char *out = NULL;

    ck_assert_msg(run(f, &out, cmd) == 0, "'%s' failed: %s", cmd, out);
}

static void add_qcow2(BlockFixture *f, const char *node, const char *set,
                      const char *extra)
{
    bq_ok(f->c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
          "'node-name': '%s', 'file': {'driver': 'file', 'filename': "
          "'/dev/fdset/%s'}%s}}",
          node, set, extra);
}

static void del(BlockFixture *f, const char *node)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
                "'%s'}}",
          node);
}

#define WRITE "qemu-io -c 'write 0 64k' a.qcow2"
#define INFO "qemu-img info a.qcow2"
#define READ "qemu-io -r -c 'read 0 64k' a.qcow2"
#define LOCK_W "Failed to get \"write\" lock"
#define LOCK_SW "Failed to get shared \"write\" lock"
#define HINT "Is another process using the image [a.qcow2]?"

static BlockFixture with_image(void)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 a.qcow2 1M"));
    return f;
}

/* fdsetd holds the image read-write: as QEMU 7.2, nobody else writes or
 * even reads it without -U; the locks go with the node, not the fdset. */
START_TEST(test_fdsetd_holds_rw)
{
    BlockFixture f = with_image();

    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    add_qcow2(&f, "q0", "1", "");
    refused(&f, WRITE, LOCK_W);
    refused(&f, WRITE, HINT);
    refused(&f, INFO, LOCK_SW);
    refused(&f, READ, LOCK_SW);
    allowed(&f, "qemu-img info -U a.qcow2");
    allowed(&f, "qemu-io -r -U -c 'read 0 64k' a.qcow2");
    del(&f, "q0");
    /* the member still holds the open file description; QEMU 7.2 keeps the
     * image locked here, fdsetd releases on close */
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", NULL), 1);
    allowed(&f, WRITE);
    allowed(&f, "qemu-img check -q a.qcow2");
    bq_finish(&f);
}
END_TEST

/* Read-only: readers are welcome, writers are not; force-share lets
 * everyone in; locking=off takes and checks nothing. */
START_TEST(test_fdsetd_holds_ro)
{
    BlockFixture f = with_image();

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    add_qcow2(&f, "q0", "1", ", 'read-only': true");
    allowed(&f, INFO);
    allowed(&f, READ);
    refused(&f, WRITE, LOCK_W);
    del(&f, "q0");
    add_qcow2(&f, "q1", "1", ", 'read-only': true, 'force-share': true");
    allowed(&f, WRITE);
    bq_err(f.c, "force-share=on can only be used with read-only images",
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q2', 'force-share': true, 'file': {'driver': "
           "'file', 'filename': '/dev/fdset/1'}}}");
    del(&f, "q1");
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q3', 'file': {'driver': 'file', 'filename': "
               "'/dev/fdset/1', 'locking': 'off'}}}");
    allowed(&f, INFO);
    del(&f, "q3");
    bq_finish(&f);
}
END_TEST

/* Two nodes on dups of one fdset member share its open file description
 * and so its locks: the first one's close must keep the second's. */
START_TEST(test_shared_description_keeps_locks)
{
    BlockFixture f = with_image();

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    add_qcow2(&f, "q0", "1", ", 'read-only': true");
    add_qcow2(&f, "q1", "1", ", 'read-only': true");
    refused(&f, WRITE, LOCK_W);
    del(&f, "q0");
    refused(&f, WRITE, LOCK_W);
    del(&f, "q1");
    allowed(&f, WRITE);
    bq_finish(&f);
}
END_TEST

/*
 * Wait until some process locks byte 100 of the image (/proc/locks: "...
 * MAJ:MIN:INODE 100 END").  Probing with qemu-img would race with the
 * holder's own lock check.
 */
static void wait_locked(BlockFixture *f)
{
    g_autofree char *path = bq_path(f, "a.qcow2");
    g_autofree char *want = NULL;
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    want = g_strdup_printf(":%lu 100 ", (unsigned long)st.st_ino);
    for (int i = 0; i < 500; i++) {
        g_autofree char *locks = NULL;

        ck_assert(g_file_get_contents("/proc/locks", &locks, NULL, NULL));
        if (strstr(locks, want)) {
            return;
        }
        g_usleep(20000);
    }
    ck_abort_msg("nobody locked the image");
}

/* qemu-io holds the image (its stdin open), until @stop. */
typedef struct Holder {
    GPid pid;
    int in;
} Holder;

static Holder hold(BlockFixture *f, const char *args)
{
    g_autofree char *cmd = g_strdup_printf("exec qemu-io %s a.qcow2 "
                                           ">/dev/null 2>&1",
                                           args);
    const char *argv[4] = {"/bin/sh", "-c", cmd, NULL};
    Holder h;

    ck_assert(g_spawn_async_with_pipes(qtest_tmpdir(f->s), (char **)argv,
                                       NULL, G_SPAWN_DO_NOT_REAP_CHILD, NULL,
                                       NULL, &h.pid, &h.in, NULL, NULL, NULL));
    wait_locked(f);
    return h;
}

static void stop(Holder *h)
{
    int status;

    close(h->in); /* qemu-io quits at end of input */
    ck_assert_int_eq(waitpid(h->pid, &status, 0), h->pid);
    g_spawn_close_pid(h->pid);
}

/* The reverse: qemu-io holds it, fdsetd's blockdev-add fails as QEMU's. */
START_TEST(test_qemu_io_holds_rw)
{
    BlockFixture f = with_image();
    Holder h;
    guint fds;

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    fds = qtest_count_fds(f.s);
    h = hold(&f, "");
    bq_err(f.c, LOCK_W,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q0', 'file': {'driver': 'file', 'filename': "
           "'/dev/fdset/1'}}}");
    bq_err(f.c, LOCK_SW,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q0', 'read-only': true, 'file': {'driver': "
           "'file', 'filename': '/dev/fdset/1'}}}");
    ck_assert_uint_eq(qtest_count_fds(f.s), fds); /* nothing kept */
    add_qcow2(&f, "q0", "1", ", 'read-only': true, 'force-share': true");
    del(&f, "q0");
    /* a node that exists already cannot take the writer either */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f0', 'filename': '/dev/fdset/1', "
               "'auto-read-only': true}}");
    bq_err(f.c, LOCK_W,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q1', 'file': 'f0'}}");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1); /* member only */
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "ro"), 2);
    stop(&h);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q1', 'file': 'f0'}}");
    del(&f, "q1");
    del(&f, "f0");
    bq_finish(&f);
}
END_TEST

#define QEMU "qemu-system-x86_64 -machine none -nodefaults -display none " \
             "-blockdev driver=qcow2,node-name=q,file.driver=file," \
             "file.filename=a.qcow2"

/* QEMU 7.2 itself, both directions: it holds, fdsetd is refused, and the
 * reverse, with the same texts. */
START_TEST(test_qemu_both_directions)
{
    BlockFixture f = with_image();
    const char *argv[4] = {"/bin/sh", "-c", "exec " QEMU " >/dev/null 2>&1",
                           NULL};
    GPid pid;
    int status;

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    ck_assert(g_spawn_async(qtest_tmpdir(f.s), (char **)argv, NULL,
                            G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                            NULL));
    wait_locked(&f);
    bq_err(f.c, LOCK_W,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q0', 'file': {'driver': 'file', 'filename': "
           "'/dev/fdset/1'}}}");
    bq_err(f.c, LOCK_SW,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q0', 'read-only': true, 'file': {'driver': "
           "'file', 'filename': '/dev/fdset/1'}}}");
    kill(pid, SIGTERM);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    g_spawn_close_pid(pid);

    add_qcow2(&f, "q0", "1", "");
    refused(&f, QEMU, LOCK_W);
    del(&f, "q0");
    add_qcow2(&f, "q0", "1", ", 'read-only': true");
    refused(&f, QEMU, LOCK_W);
    del(&f, "q0");
    bq_finish(&f);
}
END_TEST

/* qemu-io -r holds it read-only: fdsetd may read, not write. */
START_TEST(test_qemu_io_holds_ro)
{
    BlockFixture f = with_image();
    Holder h;

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    h = hold(&f, "-r");
    bq_err(f.c, LOCK_W,
           "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q0', 'file': {'driver': 'file', 'filename': "
           "'/dev/fdset/1'}}}");
    add_qcow2(&f, "q0", "1", ", 'read-only': true");
    del(&f, "q0");
    stop(&h);
    bq_finish(&f);
}
END_TEST

/*
 * Dynamic auto-read-only, the access mode of every dup at each step: the
 * file node alone reads through an O_RDONLY dup; a writable qcow2 brings a
 * new O_RDWR dup (the read-only one is closed); when the writer goes, back
 * to an O_RDONLY dup and the read-write one is released.  query says
 * read-only: false throughout, as QEMU's.
 */
START_TEST(test_auto_read_only_steps)
{
    BlockFixture f = with_image();

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f0', 'filename': '/dev/fdset/1', "
               "'auto-read-only': true}}");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "ro"), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1);
    ck_assert(!bq_node_ro(f.c, "f0"));
    allowed(&f, WRITE); /* a lone file node locks nothing */

    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q0', 'file': 'f0'}}");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "ro"), 1);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 2);
    ck_assert(!bq_node_ro(f.c, "f0"));
    refused(&f, INFO, LOCK_SW);

    del(&f, "q0");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "ro"), 2);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1);
    allowed(&f, WRITE); /* the locks left with the writer */

    /* a reader keeps it read-only, and locks as a reader */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q1', 'file': 'f0', 'read-only': true}}");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1);
    allowed(&f, INFO);
    refused(&f, WRITE, LOCK_W);
    del(&f, "q1");
    del(&f, "f0");
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", NULL), 2);
    allowed(&f, "qemu-img check -q a.qcow2");
    bq_finish(&f);
}
END_TEST

/* blockdev-reopen: the locks and the auto-read-only fd follow the node's
 * new mode (libvirt's layout: a named auto-read-only file node). */
START_TEST(test_reopen_follows)
{
    BlockFixture f = with_image();
    const char *reopen =
        "{'execute': 'blockdev-reopen', 'arguments': {'options': [{'driver': "
        "'qcow2', 'node-name': 'q0', 'file': 'f0', 'read-only': %s}]}}";

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f0', 'filename': '/dev/fdset/1', "
               "'auto-read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q0', 'file': 'f0', 'read-only': true}}");
    allowed(&f, INFO);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1);
    bq_ok(f.c, reopen, "false");
    refused(&f, INFO, LOCK_SW);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 2);
    bq_ok(f.c, reopen, "true");
    allowed(&f, INFO);
    refused(&f, WRITE, LOCK_W);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1);
    del(&f, "q0");
    del(&f, "f0");
    bq_finish(&f);
}
END_TEST

/*
 * blockdev-reopen is refused, and the nodes stay as they were, when the
 * new modes' permissions cannot be had (QEMU 7.2's texts, measured): a
 * reader elsewhere that does not share writing, a writer on a node that
 * would become read-only.
 */
START_TEST(test_reopen_refused_keeps_node)
{
    BlockFixture f = with_image();
    const char *reopen =
        "{'execute': 'blockdev-reopen', 'arguments': {'options': [{'driver': "
        "'qcow2', 'node-name': 'q0', 'file': 'f0', 'read-only': false}]}}";
    Holder h;
    guint fds;

    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'f0', 'filename': '/dev/fdset/1', "
               "'auto-read-only': true}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
               "'node-name': 'q0', 'file': 'f0', 'read-only': true}}");
    h = hold(&f, "-r"); /* a reader that does not share writing */
    fds = qtest_count_fds(f.s);
    bq_err(f.c, LOCK_W, reopen);
    ck_assert(bq_node_ro(f.c, "q0"));
    ck_assert_uint_eq(qtest_count_fds(f.s), fds);
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 1); /* member only */
    g_free(bq_hmp(f.c, "qemu-io q0 \"read 0 64k\""));
    stop(&h);
    allowed(&f, INFO); /* fdsetd still only reads */
    bq_ok(f.c, reopen);
    ck_assert(!bq_node_ro(f.c, "q0"));
    ck_assert_uint_eq(bq_fds_on(&f, "a.qcow2", "rw"), 2);
    refused(&f, WRITE, LOCK_W);

    /* q0 writes through f0: f0 cannot become read-only under it */
    bq_ok(f.c, "{'execute': 'blockdev-reopen', 'arguments': {'options': "
               "[{'driver': 'file', 'node-name': 'f0', 'filename': "
               "'/dev/fdset/1'}]}}"); /* auto-read-only off: rw, no switch */
    fds = qtest_count_fds(f.s);
    bq_err(f.c, "Read-only block node 'f0' cannot support read-write users",
           "{'execute': 'blockdev-reopen', 'arguments': {'options': "
           "[{'driver': 'file', 'node-name': 'f0', 'filename': "
           "'/dev/fdset/1', 'read-only': true}]}}");
    ck_assert(!bq_node_ro(f.c, "f0"));
    ck_assert_uint_eq(qtest_count_fds(f.s), fds);
    g_free(bq_hmp(f.c, "qemu-io q0 \"write -P 0x5a 0 64k\""));
    refused(&f, WRITE, LOCK_W);
    del(&f, "q0");
    del(&f, "f0");
    allowed(&f, "qemu-io -c 'read -P 0x5a 0 64k' a.qcow2");
    allowed(&f, "qemu-img check -q a.qcow2");
    bq_finish(&f);
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("lock");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_fdsetd_holds_rw);
    tcase_add_test(tc, test_fdsetd_holds_ro);
    tcase_add_test(tc, test_shared_description_keeps_locks);
    tcase_add_test(tc, test_qemu_io_holds_rw);
    tcase_add_test(tc, test_qemu_io_holds_ro);
    tcase_add_test(tc, test_qemu_both_directions);
    tcase_add_test(tc, test_auto_read_only_steps);
    tcase_add_test(tc, test_reopen_follows);
    tcase_add_test(tc, test_reopen_refused_keeps_node);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lock_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
