/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-create through fdsets: file and qcow2 images made by the
 * daemon on files the test created and passed, checked with qemu-img
 * (check, info, map) and qemu-io; the job's states and events as QEMU 7.2
 * sends them; each documented error with QEMU 7.2's text (recorded with
 * qemu-system-x86_64 -machine none); the daemon's fds at the end.
 */
#include "block-qtest.h"

#define MiB (1024 * 1024)

/* The job's states in QEMU 7.2's order, then its error (NULL: none);
 * the job is dismissed. */
static char *create_job(QTestConn *c, const char *id, const char *options)
{
    JsonNode *r;
    JsonObject *job;
    char *error;

    bq_ok(c, "{'execute': 'blockdev-create', 'arguments': {'job-id': '%s', "
             "'options': %s}}", id, options);
    bq_wait_status(c, id, "concluded");
    r = qtest_qmp(c, "{'execute': 'query-jobs'}");
    job = json_array_get_object_element(qtest_return_array(r), 0);
    ck_assert_str_eq(json_object_get_string_member(job, "type"), "create");
    ck_assert_str_eq(json_object_get_string_member(job, "status"),
                     "concluded");
    ck_assert_int_eq(json_object_get_int_member(job, "current-progress"), 1);
    ck_assert_int_eq(json_object_get_int_member(job, "total-progress"), 1);
    error = g_strdup(json_object_get_string_member_with_default(job, "error",
                                                                NULL));
    json_node_unref(r);
    bq_ok(c, "{'execute': 'job-dismiss', 'arguments': {'id': '%s'}}", id);
    bq_wait_status(c, id, "null");
    return error;
}

static void create_ok(QTestConn *c, const char *options)
{
    g_autofree char *err = create_job(c, "job0", options);

    ck_assert_msg(err == NULL, "create failed: %s", err);
}

static void create_fails(QTestConn *c, const char *options, const char *want)
{
    g_autofree char *err = create_job(c, "job0", options);

    ck_assert_msg(err != NULL, "create of %s did not fail", options);
    ck_assert_str_eq(err, want);
}

static int64_t file_size(BlockFixture *f, const char *name)
{
    g_autofree char *path = bq_path(f, name);
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

static int64_t file_blocks(BlockFixture *f, const char *name)
{
    g_autofree char *path = bq_path(f, name);
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/* Scratch file @name (garbage inside: creation must replace it), passed
 * O_RDWR as set @set, and a file node @node on it. */
static void pass_file(BlockFixture *f, const char *name, int set,
                      const char *node)
{
    g_free(qtest_make_file(f->s, name, 3 * MiB + 5, 0x5a));
    bq_add_fd(f, f->c, name, O_RDWR, set);
    if (node) {
        bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                    "'file', 'node-name': '%s', 'filename': "
                    "'/dev/fdset/%d'}}", node, set);
    }
}

static void del_node(QTestConn *c, const char *node)
{
    bq_ok(c, "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
          node);
}

/* The whole event sequence of one successful create, as QEMU 7.2 sends
 * it (no BLOCK_JOB_* events: a create job is no block job). */
START_TEST(test_create_file_events)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *r;

    pass_file(&f, "a.raw", 0, NULL);
    bq_ok(f.c, "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j1', "
               "'options': {'driver': 'file', 'filename': '/dev/fdset/0', "
               "'size': %d}}}", MiB);
    bq_wait_status(f.c, "j1", "created");
    bq_wait_status(f.c, "j1", "running");
    bq_wait_status(f.c, "j1", "waiting");
    bq_wait_status(f.c, "j1", "pending");
    bq_wait_status(f.c, "j1", "concluded");
    ck_assert_ptr_null(qtest_event_wait(f.c, "BLOCK_JOB_COMPLETED", 100));
    r = qtest_qmp(f.c, "{'execute': 'query-block-jobs'}");
    ck_assert_int_eq(json_array_get_length(qtest_return_array(r)), 0);
    json_node_unref(r);
    qtest_assert_error(qtest_qmp(f.c, "{'execute': 'block-job-cancel', "
                                      "'arguments': {'device': 'j1'}}"),
                       "DeviceNotActive", "Block job 'j1' not found");
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'j1'}}");
    bq_wait_status(f.c, "j1", "null");
    ck_assert_int_eq(file_size(&f, "a.raw"), MiB);
    ck_assert_int_eq(bq_sh_status(&f, "cmp -s a.raw /dev/zero -n 1048576"),
                     0);
    bq_finish(&f);
}
END_TEST

/* preallocation: off is sparse, falloc and full allocate; the old
 * contents are gone in every mode. */
START_TEST(test_create_file_prealloc)
{
    BlockFixture f = bq_start(NULL);

    pass_file(&f, "a.raw", 0, NULL);
    create_ok(f.c, "{'driver': 'file', 'filename': '/dev/fdset/0', "
                   "'size': 4194304, 'preallocation': 'full'}");
    ck_assert_int_ge(file_blocks(&f, "a.raw"), 4 * MiB);
    create_ok(f.c, "{'driver': 'file', 'filename': '/dev/fdset/0', "
                   "'size': 2097152, 'preallocation': 'falloc'}");
    ck_assert_int_eq(file_size(&f, "a.raw"), 2 * MiB);
    ck_assert_int_ge(file_blocks(&f, "a.raw"), 2 * MiB);
    create_ok(f.c, "{'driver': 'file', 'filename': '/dev/fdset/0', "
                   "'size': 1048576, 'preallocation': 'off', "
                   "'nocow': true}");
    ck_assert_int_eq(file_size(&f, "a.raw"), MiB);
    ck_assert_int_eq(bq_sh_status(&f, "cmp -s a.raw /dev/zero -n 1048576"),
                     0);
    create_fails(f.c, "{'driver': 'file', 'filename': '/dev/fdset/0', "
                      "'size': 1048576, 'preallocation': 'metadata'}",
                 "Unsupported preallocation mode: metadata");
    create_fails(f.c, "{'driver': 'file', 'filename': '/dev/fdset/9', "
                      "'size': 1048576}",
                 "Could not dup FD for /dev/fdset/9 flags 42: No such file "
                 "or directory");
    bq_finish(&f);
}
END_TEST

/* The default qcow2: QEMU 7.2's layout byte for byte in size (header,
 * refcount table, refcount block, an 8-byte L1: 196616 bytes), valid for
 * qemu-img, and usable by qemu-io and by the daemon itself. */
START_TEST(test_create_qcow2_default)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    pass_file(&f, "a.qcow2", 0, "af");
    create_ok(f.c, "{'driver': 'qcow2', 'file': 'af', 'size': 67108864}");
    ck_assert_int_eq(file_size(&f, "a.qcow2"), 196616);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    info = bq_sh(&f, "qemu-img info a.qcow2");
    ck_assert_msg(strstr(info, "(67108864 bytes)"), "%s", info);
    ck_assert_msg(strstr(info, "cluster_size: 65536"), "%s", info);
    ck_assert_msg(strstr(info, "compat: 1.1"), "%s", info);
    ck_assert_msg(strstr(info, "refcount bits: 16"), "%s", info);
    ck_assert_msg(strstr(info, "lazy refcounts: false"), "%s", info);
    /* the daemon opens and writes it */
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'a', 'file': 'af'}}");
    del_node(f.c, "a");
    del_node(f.c, "af");
    g_free(bq_sh(&f, "qemu-io -c 'write -P 0x42 1M 128k' a.qcow2 && "
                     "qemu-img check -q a.qcow2 && "
                     "qemu-io -c 'read -P 0x42 1M 128k' a.qcow2"));
    bq_finish(&f);
}
END_TEST

/* version, cluster size, refcount width, lazy refcounts and the backing
 * name land in the header as qemu-img reads them. */
START_TEST(test_create_qcow2_options)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *v2 = NULL;
    g_autofree char *v3 = NULL;
    g_autofree char *big = NULL;

    pass_file(&f, "a.qcow2", 0, "af");
    g_free(qtest_make_file(f.s, "base.raw", MiB, 0x11));
    create_ok(f.c, "{'driver': 'qcow2', 'file': 'af', 'size': 1048576, "
                   "'version': 'v2', 'cluster-size': 4096, "
                   "'backing-file': 'base.raw', 'backing-fmt': 'raw'}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    v2 = bq_sh(&f, "qemu-img info a.qcow2 && "
                   "qemu-io -r -c 'read -P 0x11 0 1M' a.qcow2");
    ck_assert_msg(strstr(v2, "compat: 0.10"), "%s", v2);
    ck_assert_msg(strstr(v2, "backing file: base.raw"), "%s", v2);
    ck_assert_msg(strstr(v2, "backing file format: raw"), "%s", v2);
    ck_assert_msg(strstr(v2, "cluster_size: 4096"), "%s", v2);
    create_ok(f.c, "{'driver': 'qcow2', 'file': 'af', 'size': 1048576, "
                   "'refcount-bits': 1, 'lazy-refcounts': true, "
                   "'cluster-size': 512, 'compression-type': 'zlib'}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    v3 = bq_sh(&f, "qemu-img info a.qcow2");
    ck_assert_msg(strstr(v3, "refcount bits: 1"), "%s", v3);
    ck_assert_msg(strstr(v3, "lazy refcounts: true"), "%s", v3);
    /* many refcount blocks and a multi-cluster L1 */
    create_ok(f.c, "{'driver': 'qcow2', 'file': 'af', 'size': 4294967296, "
                   "'cluster-size': 512, 'refcount-bits': 64}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    big = bq_sh(&f, "qemu-img info a.qcow2");
    ck_assert_msg(strstr(big, "(4294967296 bytes)"), "%s", big);
    ck_assert_msg(strstr(big, "refcount bits: 64"), "%s", big);
    del_node(f.c, "af");
    g_free(bq_sh(&f, "qemu-io -c 'write -P 0x42 4095M 1M' a.qcow2 && "
                     "qemu-img check -q a.qcow2"));
    bq_finish(&f);
}
END_TEST

/* metadata, falloc and full: every cluster mapped (qemu-img map shows one
 * data run), data reads zero, the image checks clean. */
START_TEST(test_create_qcow2_prealloc)
{
    static const char *const modes[] = {"metadata", "falloc", "full"};
    BlockFixture f = bq_start(NULL);

    pass_file(&f, "a.qcow2", 0, "af");
    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *map = NULL;
        g_autofree char *opts = g_strdup_printf(
            "{'driver': 'qcow2', 'file': 'af', 'size': 5242880, "
            "'cluster-size': 4096, 'preallocation': '%s'}", modes[i]);

        create_ok(f.c, opts);
        ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q -U a.qcow2"), 0);
        map = bq_sh(&f, "qemu-img map -U --output=json a.qcow2");
        ck_assert_msg(strstr(map, "\"length\": 5242880") &&
                          strstr(map, "\"data\": true"),
                      "%s: %s", modes[i], map);
        ck_assert_int_eq(bq_sh_status(&f, "qemu-io -r -U -c 'read -P 0 0 5M' "
                                          "a.qcow2 | grep -q 'read 5242880'"),
                         0);
        if (i > 0) {
            ck_assert_int_ge(file_blocks(&f, "a.qcow2"), 5 * MiB);
        }
    }
    del_node(f.c, "af");
    bq_finish(&f);
}
END_TEST

/* The option checks fail inside the job, with QEMU 7.2's texts. */
START_TEST(test_create_qcow2_job_errors)
{
    static const struct {
        const char *opts;
        const char *error;
    } cases[] = {
        {"'file': 'nonode', 'size': 1048576",
         "Cannot find device='nonode' nor node-name='nonode'"},
        {"'file': 'af', 'size': 1048576, 'cluster-size': 1000",
         "Cluster size must be a power of two between 512 and 2048k"},
        {"'file': 'af', 'size': 1048576, 'cluster-size': 4194304",
         "Cluster size must be a power of two between 512 and 2048k"},
        {"'file': 'af', 'size': 1000",
         "Image size must be a multiple of 512 bytes"},
        {"'file': 'af', 'size': 1048576, 'refcount-bits': 3",
         "Refcount width must be a power of two and may not exceed 64 bits"},
        {"'file': 'af', 'size': 1048576, 'refcount-bits': 128",
         "Refcount width must be a power of two and may not exceed 64 bits"},
        {"'file': 'af', 'size': 1048576, 'version': 'v2', "
         "'refcount-bits': 8",
         "Different refcount widths than 16 bits require compatibility "
         "level 1.1 or above (use version=v3 or greater)"},
        {"'file': 'af', 'size': 1048576, 'version': 'v2', "
         "'lazy-refcounts': true",
         "Lazy refcounts only supported with compatibility level 1.1 and "
         "above (use version=v3 or greater)"},
        {"'file': 'af', 'size': 1048576, 'version': 'v2', "
         "'extended-l2': true",
         "Extended L2 entries are only supported with compatibility level "
         "1.1 and above (use version=v3 or greater)"},
        {"'file': 'af', 'size': 1048576, 'cluster-size': 4096, "
         "'extended-l2': true",
         "Extended L2 entries are only supported with cluster sizes of at "
         "least 16384 bytes"},
        {"'file': 'af', 'size': 1048576, 'backing-fmt': 'raw'",
         "Backing format cannot be used without backing file"},
        {"'file': 'af', 'size': 1048576, 'backing-file': '/x/base.raw', "
         "'preallocation': 'metadata'",
         "Backing file and preallocation can only be used at the same time "
         "if extended_l2 is on"},
        /* fdsetd's own refusals, by name */
        {"'file': 'af', 'size': 1048576, 'extended-l2': true",
         "fdsetd does not support 'extended-l2': its qcow2 driver does not "
         "read extended L2 entries"},
        {"'file': 'af', 'size': 1048576, 'data-file': 'af'",
         "fdsetd does not support 'data-file': qcow2 images keep their data "
         "in their own file"},
        {"'file': 'af', 'size': 1048576, 'compression-type': 'zstd'",
         "fdsetd does not support compression type 'zstd'"},
        {"'file': 'af', 'size': 1048576, 'backing-file': '/dev/fdset/3'",
         "Backing file name '/dev/fdset/3' names an fdset, which the image "
         "outlives; give the backing image's own path"},
        {"'file': 'af', 'size': 1152921504606846976",
         "The image size is too large for file format 'qcow2' (try using a "
         "larger cluster size)"},
    };
    BlockFixture f = bq_start(NULL);

    pass_file(&f, "a.qcow2", 0, "af");
    for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *opts =
            g_strdup_printf("{'driver': 'qcow2', %s}", cases[i].opts);

        create_fails(f.c, opts, cases[i].error);
    }
    /* nothing was written: the garbage is still there */
    ck_assert_int_eq(file_size(&f, "a.qcow2"), 3 * MiB + 5);
    del_node(f.c, "af");
    bq_finish(&f);
}
END_TEST

/* Errors of the command itself (no job), with QEMU 7.2's texts. */
START_TEST(test_create_command_errors)
{
    BlockFixture f = bq_start(NULL);

    pass_file(&f, "a.qcow2", 0, "af");
    bq_err(f.c, "Driver does not support blockdev-create",
           "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
           "'options': {'driver': 'raw'}}}");
    bq_err(f.c, "Parameter 'options.size' is unexpected",
           "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
           "'options': {'driver': 'raw', 'size': 512}}}");
    bq_err(f.c, "Parameter 'options.size' is missing",
           "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
           "'options': {'driver': 'file', 'filename': '/dev/fdset/0'}}}");
    bq_err(f.c, "Parameter 'job-id' is missing",
           "{'execute': 'blockdev-create', 'arguments': {'options': "
           "{'driver': 'file', 'filename': '/dev/fdset/0', 'size': 1}}}");
    bq_err(f.c, "Invalid job ID '1bad'",
           "{'execute': 'blockdev-create', 'arguments': {'job-id': '1bad', "
           "'options': {'driver': 'file', 'filename': '/dev/fdset/0', "
           "'size': 1}}}");
    /* a format node on the file takes it: QEMU's conflict text */
    bq_ok(f.c, "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
               "'options': {'driver': 'qcow2', 'file': 'af', "
               "'size': 1048576}}}");
    bq_err(f.c, "Job ID 'j' already in use",
           "{'execute': 'blockdev-create', 'arguments': {'job-id': 'j', "
           "'options': {'driver': 'qcow2', 'file': 'af', 'size': 512}}}");
    bq_wait_status(f.c, "j", "concluded");
    bq_ok(f.c, "{'execute': 'job-dismiss', 'arguments': {'id': 'j'}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'a', 'file': 'af'}}");
    {
        g_autofree char *err = create_job(
            f.c, "j2", "{'driver': 'qcow2', 'file': 'af', 'size': 512}");

        ck_assert_msg(err && g_str_has_prefix(err, "Permission conflict on "
                                                   "node 'af': permissions "
                                                   "'write, resize' are both "
                                                   "required by an unnamed "
                                                   "block device"),
                      "%s", err);
    }
    del_node(f.c, "a");
    del_node(f.c, "af");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

/* libvirt's two-member set with auto-read-only: the node is reopened
 * read-write for the job and read-only after it (QEMU 7.2 fails here with
 * "Failed to get shared 'write' lock"). */
START_TEST(test_create_qcow2_auto_read_only)
{
    BlockFixture f = bq_start(NULL);

    g_free(qtest_make_file(f.s, "a.qcow2", MiB, 0));
    bq_add_fd(&f, f.c, "a.qcow2", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "a.qcow2", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'file', "
               "'node-name': 'af', 'filename': '/dev/fdset/0', "
               "'auto-read-only': true}}");
    bool ro = bq_node_ro(f.c, "af");
    guint rw = bq_fds_on(&f, "a.qcow2", "rw");

    create_ok(f.c, "{'driver': 'qcow2', 'file': 'af', 'size': 1048576}");
    ck_assert(bq_node_ro(f.c, "af") == ro); /* back as it was */
    ck_assert_int_eq(bq_fds_on(&f, "a.qcow2", "rw"), rw);
    del_node(f.c, "af");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q a.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("create");
    TCase *tc = tcase_create("create");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_create_file_events);
    tcase_add_test(tc, test_create_file_prealloc);
    tcase_add_test(tc, test_create_qcow2_default);
    tcase_add_test(tc, test_create_qcow2_options);
    tcase_add_test(tc, test_create_qcow2_prealloc);
    tcase_add_test(tc, test_create_qcow2_job_errors);
    tcase_add_test(tc, test_create_command_errors);
    tcase_add_test(tc, test_create_qcow2_auto_read_only);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
