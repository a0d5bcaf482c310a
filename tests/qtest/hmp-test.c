/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP commands through human-monitor-command: drive_add (drives and -n
 * nodes), drive_del, info block, info version, with QEMU 7.2's output and
 * errors.
 */
#include "block-qtest.h"

static void hmp_is(QTestConn *c, const char *line, const char *want)
{
    g_autofree char *out = bq_hmp(c, line);

    ck_assert_msg(g_str_equal(out, want), "'%s' printed '%s', not '%s'", line,
                  out, want);
}

static JsonObject *drive(QTestConn *c, const char *id, JsonNode **keep)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-block'}");
    JsonArray *arr = qtest_return_array(r);

    *keep = r;
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonObject *o = json_array_get_object_element(arr, i);

        if (g_str_equal(json_object_get_string_member(o, "device"), id)) {
            return o;
        }
    }
    return NULL;
}

/* As QEMU prints it: "<major>.<minor>.<micro><package>". */
START_TEST(test_info_version)
{
    BlockFixture f = bq_start(NULL);

    hmp_is(f.c, "info version", "7.2.0fdsetd 0.1.0\r\n");
    bq_finish(&f);
}
END_TEST

START_TEST(test_drive_add_fdset_and_del)
{
    BlockFixture f = bq_start(NULL);
    JsonNode *keep;
    JsonObject *d, *ins;
    g_autofree char *out = NULL;

    g_free(qtest_make_file(f.s, "a.img", 1 << 20, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    hmp_is(f.c,
           "drive_add 0 if=none,id=d0,file=/dev/fdset/1,format=raw,"
           "readonly=on,node-name=n0",
           "OK\r\n");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    d = drive(f.c, "d0", &keep);
    ck_assert_ptr_nonnull(d);
    ck_assert(json_object_get_boolean_member(d, "removable"));
    ck_assert(!json_object_get_boolean_member(d, "locked"));
    ck_assert_str_eq(json_object_get_string_member(d, "type"), "unknown");
    ins = json_object_get_object_member(d, "inserted");
    ck_assert_str_eq(json_object_get_string_member(ins, "node-name"), "n0");
    ck_assert_str_eq(json_object_get_string_member(ins, "file"),
                     "/dev/fdset/1");
    ck_assert_str_eq(json_object_get_string_member(ins, "drv"), "raw");
    ck_assert(json_object_get_boolean_member(ins, "ro"));
    json_node_unref(keep);
    out = bq_hmp(f.c, "info block");
    ck_assert_str_eq(out, "d0 (n0): /dev/fdset/1 (raw, read-only)\r\n"
                          "    Removable device: not locked, tray closed\r\n"
                          "    Cache mode:       writeback\r\n");
    bq_err(f.c, "Node n0 is in use",
           "{'execute': 'blockdev-del', "
           "'arguments': {'node-name': 'n0'}}");
    hmp_is(f.c, "drive_del d0", "");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", NULL), 1);
    ck_assert_uint_eq(bq_node_count(f.c), 0);
    hmp_is(f.c, "info block", "");
    bq_finish(&f);
}
END_TEST

START_TEST(test_drive_add_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = NULL;
    g_autofree char *line = NULL;

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    path = bq_path(&f, "a.img");
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    hmp_is(f.c, "drive_add",
           "drive_add: string expected\r\n"
           "Try \"help drive_add\" for more information\r\n");
    hmp_is(f.c, "drive_add 0",
           "drive_add: string expected\r\n"
           "Try \"help drive_add\" for more information\r\n");
    hmp_is(f.c, "drive_add 0 if=none,id=1d,file=/dev/fdset/1",
           "Parameter 'id' expects an identifier\r\nIdentifiers consist of "
           "letters, digits, '-', '.', '_', starting with a letter.\r\n");
    hmp_is(f.c,
           "drive_add 0 if=none,id=d,file=/dev/fdset/1,readonly=on,"
           "cache=bogus",
           "invalid cache option\r\n");
    hmp_is(f.c, "drive_add 0 if=none,id=d,file=/dev/fdset/1,readonly=maybe",
           "Parameter 'read-only' expects 'on' or 'off'\r\n");
    hmp_is(f.c, "drive_add 0 if=none,id=d,file=/dev/fdset/1,format=raw,,x",
           "Unknown driver 'raw,x'\r\n");
    hmp_is(f.c,
           "drive_add 0 if=none,id=d,file=/dev/fdset/1,format=raw,"
           "bogus=1",
           "Block format 'raw' does not support the option "
           "'bogus'\r\n");
    hmp_is(f.c, "drive_add 0 if=none,id=d,file=/dev/fdset/1,format=raw",
           "Could not dup FD for /dev/fdset/1 flags 2: Permission "
           "denied\r\n");
    hmp_is(f.c, "drive_add 0 id=d,file=/dev/fdset/1,readonly=on",
           "fdsetd has no guest devices: drive_add needs if=none\r\n");
    line = g_strdup_printf("drive_add 0 if=none,id=d0,file=%s,readonly=on,"
                           "node-name=n0",
                           path);
    hmp_is(f.c, line, "OK\r\n");
    hmp_is(f.c, line, "Duplicate ID 'd0' for drive\r\n");
    g_free(line);
    line = g_strdup_printf("drive_add 0 if=none,id=d1,file=%s,readonly=on,"
                           "node-name=n0",
                           path);
    hmp_is(f.c, line, "Duplicate nodes with node-name='n0'\r\n");
    g_free(line);
    line = g_strdup_printf("drive_add 0 if=none,id=d1,file=%s,readonly=on,"
                           "node-name=d0",
                           path);
    hmp_is(f.c, line, "node-name=d0 is conflicting with a device id\r\n");
    g_free(line);
    line =
        g_strdup_printf("drive_add 0 if=none,id=n0,file=%s,readonly=on", path);
    hmp_is(f.c, line,
           "Device name 'n0' conflicts with an existing node "
           "name\r\n");
    hmp_is(f.c, "drive_del",
           "drive_del: block device name expected\r\n"
           "Try \"help drive_del\" for more information\r\n");
    hmp_is(f.c, "drive_del nope", "Device 'nope' not found\r\n");
    ck_assert_uint_eq(bq_node_count(f.c), 2);
    hmp_is(f.c, "drive_del d0", "");
    ck_assert_uint_eq(bq_node_count(f.c), 0);
    bq_finish(&f);
}
END_TEST

/* Without format= the image is probed; without id= it is "noneN". */
START_TEST(test_drive_add_probe_and_auto_id)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 1M && "
                     "qemu-img create -q -f qcow2 -b base.img -F raw "
                     "top.qcow2"));
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 1);
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/2'}}}");
    hmp_is(f.c,
           "drive_add 0 if=none,id=d0,file=/dev/fdset/1,backing=base,"
           "cache=none",
           "Could not dup FD for /dev/fdset/1 flags 4002: "
           "Permission denied\r\n");
    hmp_is(f.c,
           "drive_add 0 if=none,file=/dev/fdset/1,backing=base,"
           "cache=writethrough",
           "OK\r\n");
    out = bq_hmp(f.c, "info block none0");
    ck_assert_msg(
        g_str_has_suffix(
            out, "): json:{\"backing\": {\"driver\": "
                 "\"raw\", \"file\": {\"driver\": \"file\", \"filename\": "
                 "\"/dev/fdset/2\"}}, \"driver\": \"qcow2\", \"file\": "
                 "{\"driver\": \"file\", \"filename\": \"/dev/fdset/1\"}} "
                 "(qcow2)\r\n"
                 "    Removable device: not locked, tray closed\r\n"
                 "    Cache mode:       writethrough\r\n"
                 "    Backing file:     /dev/fdset/2 (chain depth: 1)\r\n"),
        "%s", out);
    ck_assert(g_str_has_prefix(out, "none0 (#block"));
    g_free(out);
    out = bq_hmp(f.c, "info block -v none0");
    want = g_strdup_printf("backing file: base.img (actual path: "
                           "base.img)\r\nbacking file format: raw\r\n");
    ck_assert_msg(strstr(out, "\r\nImages:\r\nimage: json:"), "%s", out);
    ck_assert_msg(strstr(out, want), "%s", out);
    hmp_is(f.c, "info block nope", "");
    hmp_is(f.c, "drive_del none0", "");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'base'}}");
    bq_finish(&f);
}
END_TEST

/* drive_add -n makes a node the monitor owns, from the same options. */
START_TEST(test_drive_add_node)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;

    g_free(qtest_make_file(f.s, "a.img", 65536, 'a'));
    bq_add_fd(&f, f.c, "a.img", O_RDONLY, 1);
    hmp_is(f.c,
           "drive_add -n 0 driver=file,filename=/dev/fdset/1,"
           "read-only=on",
           "'node-name' needs to be specified\r\n");
    hmp_is(f.c, "drive_add -n 0 driver=raw,node-name=x,file=nope",
           "Cannot find device='nope' nor node-name='nope'\r\n");
    hmp_is(f.c,
           "drive_add -n 0 if=none,driver=file,node-name=f1,"
           "filename=/dev/fdset/1,read-only=on",
           "");
    hmp_is(f.c,
           "drive_add -n 0 driver=raw,node-name=r1,file=f1,"
           "read-only=on",
           "");
    out = bq_hmp(f.c, "info block -n");
    ck_assert_str_eq(out, "r1: /dev/fdset/1 (raw, read-only)\r\n"
                          "    Cache mode:       writeback\r\n\r\n"
                          "f1: /dev/fdset/1 (file, read-only)\r\n"
                          "    Cache mode:       writeback\r\n");
    ck_assert_uint_eq(bq_fds_on(&f, "a.img", "ro"), 2);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'r1'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'f1'}}");
    bq_finish(&f);
}
END_TEST

/* A drive whose root a job uses cannot go. */
START_TEST(test_drive_del_busy)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f raw base.img 4M && "
                     "qemu-img create -q -f qcow2 -b base.img -F raw top.qcow2 "
                     "&& qemu-io -c 'write -P 0x33 0 4M' top.qcow2"));
    bq_add_fd(&f, f.c, "base.img", O_RDONLY, 0);
    bq_add_fd(&f, f.c, "base.img", O_RDWR, 0);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'raw', "
               "'node-name': 'base', 'read-only': true, 'file': {'driver': "
               "'file', 'filename': '/dev/fdset/0'}}}");
    hmp_is(f.c,
           "drive_add 0 if=none,id=d0,format=qcow2,file=/dev/fdset/1,"
           "backing=base,node-name=t0",
           "OK\r\n");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'device': 'd0', "
               "'speed': 1}}");
    /* QEMU 7.2 names the drive (its root is the job's filter) */
    hmp_is(f.c, "drive_del d0",
           "Node 'd0' is busy: block device is in use "
           "by block job: commit\r\n");
    bq_ok(f.c, "{'execute': 'block-job-cancel', 'arguments': "
               "{'device': 'd0'}}");
    bq_wait_status(f.c, "d0", "null");
    hmp_is(f.c, "drive_del d0", "");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': "
               "{'node-name': 'base'}}");
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("hmp");
    TCase *tc = tcase_create("hmp");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_info_version);
    tcase_add_test(tc, test_drive_add_fdset_and_del);
    tcase_add_test(tc, test_drive_add_errors);
    tcase_add_test(tc, test_drive_add_probe_and_auto_id);
    tcase_add_test(tc, test_drive_add_node);
    tcase_add_test(tc, test_drive_del_busy);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
