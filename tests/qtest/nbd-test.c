/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * NBD exports with the real clients: qemu-img, qemu-io, nbdinfo, nbdcopy,
 * nbdsh probes (nbd-probe.py), QEMU 7.2's nbd driver, fio; QEMU 7.2's QMP
 * errors; hostile clients.  Disks come in as fds (add-fd, /dev/fdset/N);
 * every test ends with the daemon's fds back to the registry's and
 * qemu-img check of what was written.
 */
#include <arpa/inet.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "block-qtest.h"

#define URI "nbd+unix:///%s?socket=nbd.sock"

/* A qcow2 image with known data, its fds passed, node "disk0"; the NBD
 * server on nbd.sock. */
static void setup_disk(BlockFixture *f, const char *fmt, bool server)
{
    int set;

    g_free(bq_sh(f, "qemu-img create -q -f %s disk.img 16M && "
                    "qemu-io -f %s -c 'write -P 0x11 0 1M' "
                    "-c 'write -P 0x22 4M 64k' disk.img >/dev/null",
                 fmt, fmt));
    set = 1;
    bq_add_fd(f, f->c, "disk.img", O_RDWR, set);
    bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': '%s', "
                "'node-name': 'disk0', 'file': {'driver': 'file', "
                "'filename': '/dev/fdset/1'}}}", fmt);
    if (server) {
        g_autofree char *path = bq_path(f, "nbd.sock");

        bq_ok(f->c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
                    "{'type': 'unix', 'data': {'path': '%s'}}}}", path);
    }
}

static void add_export(BlockFixture *f, const char *extra)
{
    bq_ok(f->c, "{'execute': 'block-export-add', 'arguments': {'type': "
                "'nbd', 'id': 'e0', 'node-name': 'disk0'%s}}", extra);
}

/*
 * Remove e0 and wait for its event.  A client that just exited may still
 * be leaving on the daemon's side ("still in use" for a moment).
 */
static void del_export(BlockFixture *f, const char *mode)
{
    for (int i = 0;; i++) {
        g_autoptr(JsonNode) r = qtest_qmp(f->c, "{'execute': "
                                          "'block-export-del', 'arguments': "
                                          "{'id': 'e0', 'mode': '%s'}}",
                                          mode);
        const char *desc = qtest_error_class(r) ? qtest_error_desc(r) : NULL;

        if (!desc || i == 100 || !strstr(desc, "still in use")) {
            qtest_assert_success(g_steal_pointer(&r));
            break;
        }
        g_usleep(50 * 1000);
    }
    g_autoptr(JsonNode) ev = qtest_event_wait(f->c, "BLOCK_EXPORT_DELETED",
                                              5000);
    ck_assert_ptr_nonnull(ev);
}

static void finish_checked(BlockFixture *f, const char *fmt)
{
    bq_ok(f->c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
                "'disk0'}}");
    if (!strcmp(fmt, "qcow2")) {
        ck_assert_int_eq(bq_sh_status(f, "qemu-img check -q disk.img"), 0);
    }
    bq_finish(f);
}

/* Writes through qemu-io, read back with qemu-img compare and convert,
 * nbdcopy, mapped with qemu-img map and nbdinfo. */
static void run_clients(const char *fmt)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *map = NULL, *info = NULL, *nmap = NULL;

    setup_disk(&f, fmt, true);
    add_export(&f, ", 'writable': true");
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x33 2M 512k' "
                     "-c 'write -z 8M 1M' -c 'write -P 0x44 -f 12M 4k' "
                     "-c flush '" URI "' >/dev/null", "disk0"));
    /* the same writes on a local copy of the original */
    g_free(bq_sh(&f, "qemu-img create -q -f raw want.raw 16M && "
                     "qemu-io -f raw -c 'write -P 0x11 0 1M' "
                     "-c 'write -P 0x22 4M 64k' -c 'write -P 0x33 2M 512k' "
                     "-c 'write -P 0x44 12M 4k' want.raw >/dev/null"));
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -q -f raw -F raw "
                                      "want.raw '" URI "'", "disk0"), 0);
    g_free(bq_sh(&f, "qemu-img convert -f raw -O raw '" URI "' conv.raw && "
                     "nbdcopy '" URI "' copy.raw && cmp want.raw conv.raw "
                     "&& cmp want.raw copy.raw", "disk0", "disk0"));
    map = bq_sh(&f, "qemu-img map --output=json -f raw '" URI "'", "disk0");
    ck_assert_ptr_nonnull(strstr(map, "\"data\": true"));
    info = bq_sh(&f, "nbdinfo --json '" URI "'", "disk0");
    ck_assert_ptr_nonnull(strstr(info, "\"export-size\": 16777216"));
    ck_assert_ptr_nonnull(strstr(info, "\"can_multi_conn\": true"));
    ck_assert_ptr_nonnull(strstr(info, "\"is_read_only\": false"));
    nmap = bq_sh(&f, "nbdinfo --map '" URI "'", "disk0");
    ck_assert_ptr_nonnull(strstr(nmap, "data"));
    del_export(&f, "safe");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -U -q -f %s -F raw "
                                      "disk.img want.raw", fmt), 0);
    finish_checked(&f, fmt);
}

START_TEST(test_clients_qcow2)
{
    run_clients("qcow2");
}
END_TEST

START_TEST(test_clients_raw)
{
    run_clients("raw");
}
END_TEST

/* qcow2 over a backing file: holes and qemu:allocation-depth. */
START_TEST(test_allocation_depth)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "nbd.sock");
    g_autofree char *map = NULL, *depth = NULL, *lst = NULL;

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 base.qcow2 4M && "
                     "qemu-io -f qcow2 -c 'write -P 1 0 1M' base.qcow2 && "
                     "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 "
                     "top.qcow2 && qemu-io -f qcow2 -c 'write -P 2 2M 1M' "
                     "top.qcow2 >/dev/null"));
    bq_add_fd(&f, f.c, "base.qcow2", O_RDONLY, 1);
    bq_add_fd(&f, f.c, "top.qcow2", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'base', 'read-only': true, 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'disk0', 'backing': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/2'}}}");
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}}}", path);
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e0', 'node-name': 'disk0', 'name': 'top', "
               "'description': 'the top layer', 'allocation-depth': true}}");
    depth = bq_sh(&f, "nbdinfo --map=qemu:allocation-depth '" URI "'", "top");
    ck_assert_str_eq(depth, "         0     1048576    2  backing depth 2\n"
                            "   1048576     1048576    0  absent\n"
                            "   2097152     1048576    1  local\n"
                            "   3145728     1048576    0  absent\n");
    map = bq_sh(&f, "nbdinfo --map '" URI "'", "top");
    ck_assert_str_eq(map, "         0     1048576    0  data\n"
                          "   1048576     1048576    3  hole,zero\n"
                          "   2097152     1048576    0  data\n"
                          "   3145728     1048576    3  hole,zero\n");
    lst = bq_sh(&f, "nbdinfo --list --json 'nbd+unix://?socket=nbd.sock'");
    ck_assert_ptr_nonnull(strstr(lst, "\"description\": \"the top layer\""));
    ck_assert_ptr_nonnull(strstr(lst, "qemu:allocation-depth"));
    ck_assert_int_eq(bq_sh_status(&f, "nbdinfo --can write '" URI "'", "top"),
                     2);
    g_free(bq_sh(&f, "qemu-img convert -O raw '" URI "' flat.raw && "
                     "qemu-img compare -U -q -F qcow2 flat.raw top.qcow2",
                 "top"));
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    g_autoptr(JsonNode) ev = qtest_event_wait(f.c, "BLOCK_EXPORT_DELETED",
                                              5000);
    ck_assert_ptr_nonnull(ev);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'disk0'}}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'base'}}");
    bq_finish(&f);
}
END_TEST

/* A raw client that finished the handshake (old style, by name). */
static int raw_client(BlockFixture *f, const char *name)
{
    g_autofree char *path = bq_path(f, "nbd.sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    uint8_t buf[256];
    uint32_t flags = htonl(1), len = htonl(strlen(name));
    uint8_t opt[16] = {0x49, 0x48, 0x41, 0x56, 0x45, 0x4f, 0x50, 0x54,
                       0, 0, 0, 1};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memcpy(opt + 12, &len, 4);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(recv(fd, buf, 18, MSG_WAITALL), 18);
    ck_assert_int_eq(send(fd, &flags, 4, 0), 4);
    ck_assert_int_eq(send(fd, opt, 16, 0), 16);
    ck_assert_int_eq(send(fd, name, strlen(name), 0), (ssize_t)strlen(name));
    ck_assert_int_eq(recv(fd, buf, 134, MSG_WAITALL), 134);
    return fd;
}

START_TEST(test_qmp_errors)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "nbd.sock");
    int fd;

    setup_disk(&f, "qcow2", false);
    bq_err(f.c, "NBD server not running", "{'execute': 'nbd-server-stop'}");
    bq_err(f.c, "NBD server not running",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk0'}}");
    bq_err(f.c, "File descriptor named 'nope' has not been found",
           "{'execute': 'nbd-server-start', 'arguments': {'addr': "
           "{'type': 'fd', 'data': {'str': 'nope'}}}}");
    bq_err(f.c, "TLS is not supported by fdsetd's NBD server (serve on a "
                "unix socket or loopback instead)",
           "{'execute': 'nbd-server-start', 'arguments': {'addr': {'type': "
           "'unix', 'data': {'path': 'x'}}, 'tls-creds': 't0'}}");
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}}}", path);
    bq_err(f.c, "NBD server already running",
           "{'execute': 'nbd-server-start', 'arguments': {'addr': "
           "{'type': 'unix', 'data': {'path': '%s'}}}}", path);
    bq_err(f.c, "Invalid block export id",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': '0e', 'node-name': 'disk0'}}");
    bq_err(f.c, "Cannot find device='nodisk' nor node-name='nodisk'",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'nodisk'}}");
    bq_err(f.c, "Bitmap 'b0' is not found",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk0', 'bitmaps': ['b0']}}");
    add_export(&f, "");
    bq_err(f.c, "Block export id 'e0' is already in use",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e0', 'node-name': 'disk0'}}");
    bq_err(f.c, "NBD server already has export named 'disk0'",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e1', 'node-name': 'disk0'}}");
    bq_err(f.c, "Node disk0 is in use",
           "{'execute': 'blockdev-del', 'arguments': {'node-name': "
           "'disk0'}}");
    {
        g_autoptr(JsonNode) r = qtest_qmp(f.c, "{'execute': "
                                               "'query-block-exports'}");
        JsonArray *a = qtest_return_array(r);
        JsonObject *e = json_array_get_object_element(a, 0);

        ck_assert_uint_eq(json_array_get_length(a), 1);
        ck_assert_str_eq(json_object_get_string_member(e, "id"), "e0");
        ck_assert_str_eq(json_object_get_string_member(e, "type"), "nbd");
        ck_assert_str_eq(json_object_get_string_member(e, "node-name"),
                         "disk0");
        ck_assert(!json_object_get_boolean_member(e, "shutting-down"));
    }
    fd = raw_client(&f, "disk0");
    bq_err(f.c, "export 'e0' still in use",
           "{'execute': 'block-export-del', 'arguments': {'id': 'e0'}}");
    bq_err(f.c, "Export 'e9' is not found",
           "{'execute': 'block-export-del', 'arguments': {'id': 'e9'}}");
    bq_ok(f.c, "{'execute': 'block-export-del', 'arguments': {'id': 'e0', "
               "'mode': 'hard'}}");
    ck_assert_int_eq(recv(fd, path, 1, 0), 0); /* disconnected */
    close(fd);
    g_autoptr(JsonNode) ev = qtest_event_wait(f.c, "BLOCK_EXPORT_DELETED",
                                              5000);
    ck_assert_ptr_nonnull(ev);
    /* a read-only node */
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 ro.img 1M"));
    bq_add_fd(&f, f.c, "ro.img", O_RDONLY, 3);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'ro', 'read-only': true, 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/3'}}}");
    bq_err(f.c, "Cannot export read-only node as writable",
           "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e1', 'node-name': 'ro', 'writable': true}}");
    /* the older commands */
    bq_ok(f.c, "{'execute': 'nbd-server-add', 'arguments': {'device': "
               "'ro', 'name': 'old'}}");
    bq_err(f.c, "Export 'x' is not found",
           "{'execute': 'nbd-server-remove', 'arguments': {'name': 'x'}}");
    bq_ok(f.c, "{'execute': 'nbd-server-remove', 'arguments': {'name': "
               "'old'}}");
    g_autoptr(JsonNode) ev2 = qtest_event_wait(f.c, "BLOCK_EXPORT_DELETED",
                                               5000);
    ck_assert_ptr_nonnull(ev2);
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'ro'}}");
    finish_checked(&f, "qcow2");
}
END_TEST

/* @cmd's response and the events around it, in arrival order. */
static char *trace_of(BlockFixture *f, const char *cmd)
{
    g_autoptr(JsonNode) r = NULL;

    g_free(qtest_trace_take(f->c));
    r = qtest_qmp(f->c, "%s", cmd);
    return qtest_trace_take(f->c);
}

static void assert_trace(BlockFixture *f, const char *cmd, const char *want)
{
    g_autofree char *got = trace_of(f, cmd);

    ck_assert_str_eq(got, want);
}

static void assert_deleted_id(BlockFixture *f, const char *id)
{
    g_autoptr(JsonNode) ev = qtest_event_wait(f->c, "BLOCK_EXPORT_DELETED",
                                              5000);
    JsonObject *data;

    ck_assert_ptr_nonnull(ev);
    data = json_object_get_object_member(json_node_get_object(ev), "data");
    ck_assert_str_eq(json_object_get_string_member(data, "id"), id);
}

/*
 * When BLOCK_EXPORT_DELETED comes, relative to the reply, as measured on
 * QEMU 7.2 (tests/qtest/compat-compare.py export-deleted): before it when
 * no client is attached (block-export-del in any mode, nbd-server-remove)
 * and for nbd-server-stop even with a client (it waits for the client to
 * go); after it for mode=hard with a client.
 */
START_TEST(test_export_deleted_order)
{
    static const char del[] = "{'execute': 'block-export-del', 'arguments': "
                              "{'id': 'e0'%s}}";
    BlockFixture f = bq_start(NULL);
    static const char *const modes[] = {"", ", 'mode': 'safe'",
                                        ", 'mode': 'hard'"};
    char c;
    int fd;

    setup_disk(&f, "qcow2", true);
    for (guint i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_autofree char *cmd = g_strdup_printf(del, modes[i]);

        add_export(&f, "");
        assert_trace(&f, cmd, "BLOCK_EXPORT_DELETED return");
        assert_deleted_id(&f, "e0");
    }
    add_export(&f, "");
    fd = raw_client(&f, "disk0");
    {
        g_autofree char *safe = g_strdup_printf(del, modes[1]);
        g_autofree char *hard = g_strdup_printf(del, modes[2]);
        g_autofree char *t = NULL;

        assert_trace(&f, safe, "error");
        t = trace_of(&f, hard);
        ck_assert(g_str_has_prefix(t, "return"));
    }
    assert_deleted_id(&f, "e0");
    ck_assert_int_eq(recv(fd, &c, 1, 0), 0); /* disconnected */
    close(fd);
    /* a client that just exited counts as gone, with no race */
    add_export(&f, "");
    close(raw_client(&f, "disk0"));
    {
        g_autofree char *safe = g_strdup_printf(del, modes[1]);

        assert_trace(&f, safe, "BLOCK_EXPORT_DELETED return");
        assert_deleted_id(&f, "e0");
    }
    bq_ok(f.c, "{'execute': 'nbd-server-add', 'arguments': {'device': "
               "'disk0', 'name': 'n0'}}");
    assert_trace(&f, "{'execute': 'nbd-server-remove', 'arguments': "
                     "{'name': 'n0'}}", "BLOCK_EXPORT_DELETED return");
    assert_deleted_id(&f, "n0");
    /* e0 with a client, e1 without: both gone before the reply */
    add_export(&f, "");
    bq_ok(f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
               "'nbd', 'id': 'e1', 'name': 'x1', 'node-name': 'disk0'}}");
    fd = raw_client(&f, "disk0");
    assert_trace(&f, "{'execute': 'nbd-server-stop'}",
                 "BLOCK_EXPORT_DELETED BLOCK_EXPORT_DELETED return");
    assert_deleted_id(&f, "e0");
    assert_deleted_id(&f, "e1");
    ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
    close(fd);
    finish_checked(&f, "qcow2");
}
END_TEST

/* nbdsh (python3-libnbd) strict-mode probes: nbd-probe.py, on qcow2 and
 * on raw (their writes take different paths). */
static const char *const probe_formats[] = {"qcow2", "raw"};

START_TEST(test_protocol_probes)
{
    const char *fmt = probe_formats[_i];
    BlockFixture f = bq_start(NULL);
    g_autofree char *out = NULL;
    const char *src = g_getenv("NBD_PROBE");

    setup_disk(&f, fmt, true);
    add_export(&f, ", 'writable': true");
    bq_ok(f.c, "{'execute': 'nbd-server-add', 'arguments': {'device': "
               "'disk0', 'name': 'ro'}}");
    out = bq_sh(&f, "/usr/bin/python3 %s nbd.sock", src);
    ck_assert_ptr_nonnull(strstr(out, "probes ok"));
    del_export(&f, "safe");
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    g_autoptr(JsonNode) ev = qtest_event_wait(f.c, "BLOCK_EXPORT_DELETED",
                                              5000);
    ck_assert_ptr_nonnull(ev);
    /* what the probes wrote and flushed */
    ck_assert_int_eq(bq_sh_status(&f, "qemu-io -f %s -r -U -c "
                                      "'read -P 0x77 8M 64k' disk.img "
                                      "| grep -q 'read 65536'", fmt), 0);
    finish_checked(&f, fmt);
}
END_TEST

/* QEMU 7.2 as a client: its nbd block driver, written through qemu-io. */
START_TEST(test_qemu_client)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "nbd.sock");
    g_autofree char *out = NULL;

    setup_disk(&f, "qcow2", true);
    add_export(&f, ", 'writable': true");
    out = bq_sh(&f,
        "printf '%%s\\n' '{\"execute\":\"qmp_capabilities\"}' "
        "'{\"execute\":\"blockdev-add\",\"arguments\":{\"driver\":\"nbd\","
        "\"node-name\":\"n0\",\"export\":\"disk0\",\"server\":{\"type\":"
        "\"unix\",\"path\":\"%s\"}}}' "
        "'{\"execute\":\"human-monitor-command\",\"arguments\":"
        "{\"command-line\":\"qemu-io n0 \\\"write -P 0x55 6M 128k\\\"\"}}' "
        "'{\"execute\":\"human-monitor-command\",\"arguments\":"
        "{\"command-line\":\"qemu-io n0 \\\"read -P 0x11 0 1M\\\"\"}}' "
        "'{\"execute\":\"quit\"}' | timeout 20 qemu-system-x86_64 "
        "-machine none -nodefaults -display none -qmp stdio", path);
    ck_assert_ptr_nonnull(strstr(out, "wrote 131072/131072"));
    ck_assert_ptr_nonnull(strstr(out, "read 1048576/1048576"));
    ck_assert_ptr_null(strstr(out, "\"error\""));
    del_export(&f, "safe");
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-io -f qcow2 -r -U -c "
                                      "'read -P 0x55 6M 128k' disk.img "
                                      "| grep -q 'read 131072'"), 0);
    finish_checked(&f, "qcow2");
}
END_TEST

/* fio's nbd engine, short: verified random writes, then reads. */
START_TEST(test_fio)
{
    BlockFixture f = bq_start(NULL);

    setup_disk(&f, "raw", true);
    add_export(&f, ", 'writable': true");
    g_free(bq_sh(&f, "fio --output=/dev/null --ioengine=nbd "
                     "--uri='" URI "' --name=w --rw=randwrite --bs=4k "
                     "--iodepth=16 --size=4M --verify=crc32c "
                     "--do_verify=1", "disk0"));
    del_export(&f, "safe");
    finish_checked(&f, "raw");
}
END_TEST

/* The daemon's resident memory in KiB. */
static long daemon_rss_kib(BlockFixture *f)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status",
                                            (int)qtest_pid(f->s));
    g_autofree char *text = NULL;
    const char *p;

    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    p = strstr(text, "VmRSS:");
    ck_assert_ptr_nonnull(p);
    return strtol(p + 6, NULL, 10);
}

static int connect_nbd(BlockFixture *f)
{
    g_autofree char *path = bq_path(f, "nbd.sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/*
 * Garbage handshakes, many idle connections, a half-sent write, a client
 * that never reads: the daemon lives, others are served, fds come back.
 */
START_TEST(test_hostile_clients)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "nbd.sock");
    guint base;
    int idle[1000];
    int hog, half;
    long rss;
    struct rlimit rl;
    uint8_t req[28] = {0x25, 0x60, 0x95, 0x13, 0, 0, 0, 1}; /* WRITE */

    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    setup_disk(&f, "raw", false);
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'unix', 'data': {'path': '%s'}}, "
               "'handshake-max-seconds': 2}}", path);
    add_export(&f, ", 'writable': true");
    base = qtest_count_fds(f.s);
    rss = daemon_rss_kib(&f);
    for (guint i = 0; i < G_N_ELEMENTS(idle); i++) {
        idle[i] = connect_nbd(&f);
        if (i % 3 == 0) {
            ck_assert_int_eq(send(idle[i], "garbage!garbage!", 16, 0), 16);
        }
    }
    /* a client that never reads its (large) replies */
    hog = raw_client(&f, "disk0");
    for (int i = 0; i < 64; i++) {
        uint8_t r[28] = {0x25, 0x60, 0x95, 0x13, 0, 0, 0, 0};

        r[26] = 0x10; /* 1 MiB reads */
        send(hog, r, 28, MSG_DONTWAIT);
    }
    /* a write whose payload never comes */
    half = raw_client(&f, "disk0");
    req[26] = 0x01; /* 64k */
    ck_assert_int_eq(send(half, req, 28, 0), 28);
    ck_assert_int_eq(send(half, "part", 4, 0), 4);
    /* everybody else is served */
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img compare -U -q -f raw -F raw "
                                      "disk.img '" URI "'", "disk0"), 0);
    /* bounded: 16 requests / 64 MiB for the hog, small stacks for idle */
    ck_assert_int_lt(daemon_rss_kib(&f) - rss, 160 * 1024);
    for (guint i = 0; i < G_N_ELEMENTS(idle); i++) {
        close(idle[i]);
    }
    close(half);
    close(hog);
    /* the daemon drops them all: fds back to where they were */
    for (int i = 0; i < 100 && qtest_count_fds(f.s) > base; i++) {
        g_usleep(50 * 1000);
    }
    ck_assert_uint_eq(qtest_count_fds(f.s), base);
    /* a client that never finishes its handshake is dropped by deadline */
    hog = connect_nbd(&f);
    ck_assert_int_eq(recv(hog, req, 18, MSG_WAITALL), 18);
    ck_assert_int_eq(recv(hog, req, 1, 0), 0); /* EOF after ~2 s */
    close(hog);
    del_export(&f, "safe");
    finish_checked(&f, "raw");
}
END_TEST

/* --nbd-server and --export on the command line, under --sandbox on. */
START_TEST(test_cmdline_sandbox)
{
    BlockFixture f;
    g_autofree char *dir = g_dir_make_tmp("fdsetd-nbd-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "d.img", NULL);
    g_autofree char *args = NULL;
    g_autofree char *out = NULL;
    args = g_strdup_printf(
        "--blockdev driver=file,node-name=d0,filename=%s "
        "--nbd-server addr.type=unix,addr.path=%s/nbd.sock,"
        "max-connections=1 "
        "--export type=nbd,id=e0,node-name=d0,writable=on --sandbox on",
        img, dir);
    g_assert(g_file_set_contents(img, "", 0, NULL));
    ck_assert_int_eq(truncate(img, 1 << 20), 0);
    /* LeakSanitizer cannot read /proc inside the sandbox (security-test) */
    g_setenv("ASAN_OPTIONS", "detect_leaks=0", TRUE);
    f = bq_start(args);
    g_unsetenv("ASAN_OPTIONS");
    out = bq_sh(&f, "qemu-io -f raw -c 'write -P 9 0 4k' -c flush "
                    "'nbd+unix:///d0?socket=%s/nbd.sock' && "
                    "qemu-io -f raw -r -U -c 'read -P 9 0 4k' %s",
                dir, img);
    ck_assert_ptr_nonnull(strstr(out, "read 4096/4096"));
    /* max-connections=1 clears multi-conn */
    ck_assert_int_eq(bq_sh_status(&f, "nbdinfo --can multi-conn "
                                      "'nbd+unix:///d0?socket=%s/nbd.sock'",
                                  dir), 2);
    ck_assert_int_eq(qtest_quit(f.s), 0);
    unlink(img);
    g_autofree char *sock = g_build_filename(dir, "nbd.sock", NULL);
    unlink(sock);
    rmdir(dir);
}
END_TEST

/*
 * A mirror of the exported node, written through NBD while it runs; at
 * the pivot the export moves to the target (and blockdev-del of the old
 * node is allowed again, of the target refused).
 */
START_TEST(test_mirror_pivot)
{
    BlockFixture f = bq_start(NULL);
    g_autoptr(JsonNode) ready = NULL, done = NULL;

    setup_disk(&f, "qcow2", true);
    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 tgt.img 16M"));
    bq_add_fd(&f, f.c, "tgt.img", O_RDWR, 2);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'tgt', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/2'}}}");
    add_export(&f, ", 'writable': true");
    bq_ok(f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': 'm', "
               "'device': 'disk0', 'target': 'tgt', 'sync': 'full'}}");
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x61 3M 64k' -c flush '"
                     URI "' >/dev/null", "disk0"));
    ready = qtest_event_wait(f.c, "BLOCK_JOB_READY", 10000);
    ck_assert_ptr_nonnull(ready);
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'm'}}");
    done = qtest_event_wait(f.c, "BLOCK_JOB_COMPLETED", 10000);
    ck_assert_ptr_nonnull(done);
    {
        g_autoptr(JsonNode) r = qtest_qmp(f.c, "{'execute': "
                                               "'query-block-exports'}");
        JsonObject *e = json_array_get_object_element(qtest_return_array(r),
                                                      0);

        ck_assert_str_eq(json_object_get_string_member(e, "node-name"),
                         "tgt");
    }
    /* after the pivot NBD writes land in the target */
    g_free(bq_sh(&f, "qemu-io -f raw -c 'write -P 0x62 5M 64k' -c flush '"
                     URI "' >/dev/null", "disk0"));
    bq_err(f.c, "Node tgt is in use", "{'execute': 'blockdev-del', "
                "'arguments': {'node-name': 'tgt'}}");
    del_export(&f, "safe");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-io -f qcow2 -r -U -c "
                                      "'read -P 0x61 3M 64k' -c "
                                      "'read -P 0x62 5M 64k' -c "
                                      "'read -P 0x11 0 1M' tgt.img | "
                                      "grep -c '^read' | grep -qx 3"), 0);
    bq_ok(f.c, "{'execute': 'blockdev-del', 'arguments': {'node-name': "
               "'tgt'}}");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q tgt.img"), 0);
    finish_checked(&f, "qcow2");
}
END_TEST

/* nbd-server-start on a listening socket passed with getfd. */
START_TEST(test_start_on_getfd)
{
    BlockFixture f = bq_start(NULL);
    g_autofree char *path = bq_path(&f, "nbd.sock");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int file = qtest_open_file(f.s, "disk.img", O_RDONLY | O_CREAT);
    g_autofree char *sz = NULL;

    setup_disk(&f, "raw", false);
    g_strlcpy(sa.sun_path, path, sizeof(sa.sun_path));
    ck_assert_int_eq(bind(sock, (struct sockaddr *)&sa, sizeof(sa)), 0);
    qtest_assert_success(qtest_qmp_fds(f.c, &file, 1, "{'execute': "
                         "'getfd', 'arguments': {'fdname': 'notsock'}}"));
    bq_err(f.c, "File descriptor 'notsock' is not a socket",
           "{'execute': 'nbd-server-start', 'arguments': {'addr': "
           "{'type': 'fd', 'data': {'str': 'notsock'}}}}");
    qtest_assert_success(qtest_qmp_fds(f.c, &sock, 1, "{'execute': "
                         "'getfd', 'arguments': {'fdname': 'lsn'}}"));
    close(sock);
    close(file);
    bq_ok(f.c, "{'execute': 'nbd-server-start', 'arguments': {'addr': "
               "{'type': 'fd', 'data': {'str': 'lsn'}}}}");
    /* the name was consumed */
    bq_err(f.c, "File descriptor named 'lsn' not found",
           "{'execute': 'closefd', 'arguments': {'fdname': 'lsn'}}");
    add_export(&f, "");
    sz = bq_sh(&f, "nbdinfo --size '" URI "'", "disk0");
    ck_assert_str_eq(sz, "16777216\n");
    bq_ok(f.c, "{'execute': 'nbd-server-stop'}");
    g_autoptr(JsonNode) ev = qtest_event_wait(f.c, "BLOCK_EXPORT_DELETED",
                                              5000);
    ck_assert_ptr_nonnull(ev);
    finish_checked(&f, "raw");
}
END_TEST

static Suite *nbd_suite(void)
{
    Suite *s = suite_create("nbd");
    TCase *tc = tcase_create("exports");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_clients_qcow2);
    tcase_add_test(tc, test_clients_raw);
    tcase_add_test(tc, test_allocation_depth);
    tcase_add_test(tc, test_qmp_errors);
    tcase_add_test(tc, test_export_deleted_order);
    tcase_add_loop_test(tc, test_protocol_probes, 0,
                        G_N_ELEMENTS(probe_formats));
    tcase_add_test(tc, test_qemu_client);
    tcase_add_test(tc, test_fio);
    tcase_add_test(tc, test_hostile_clients);
    tcase_add_test(tc, test_cmdline_sandbox);
    tcase_add_test(tc, test_mirror_pivot);
    tcase_add_test(tc, test_start_on_getfd);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nbd_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
