/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disk lifecycle a libvirt-like manager drives, end to end, every
 * image reached through an fdset and the disk exported over NBD the whole
 * time, with guest writes through the export between every step (and one
 * writer running across the mirror's pivot):
 *
 *   attach base (O_RDONLY + O_RDWR members, auto-read-only storage node,
 *   qcow2 format node) -> NBD export -> blockdev-create an overlay on a
 *   passed fd -> transaction { blockdev-snapshot, bitmap add } ->
 *   block-stream -> detach base -> blockdev-create + blockdev-mirror to a
 *   new image -> job-complete (pivot) -> detach the overlay ->
 *   block_resize refused while exported -> export gone -> block_resize ->
 *   detach everything -> remove-fd.
 *
 * The test keeps a raw reference image with the same writes and checks the
 * result with qemu-img (compare, check, info: no /dev/fdset name in any
 * header), the base untouched from the snapshot on, where the export sits
 * after each graph change, and the daemon's fds back to their number
 * before the first add-fd.
 */
#include "job-qtest.h"

#define URI "nbd+unix:///disk?socket=nbd.sock"
#define SIZE_MIB 32

typedef struct Flow {
    BlockFixture f;
    guint fds_before; /* the daemon's fds before the first add-fd */
    int writes;       /* guest writes so far: each gets its own pattern */
} Flow;

/*
 * One guest write through the export, and the same write on the reference
 * (ref.raw).  Each write gets a fresh pattern and a 64 KiB slot of its own
 * in the first 4 MiB, so the order of writes never matters.
 */
static void guest_write(Flow *w)
{
    int n = w->writes++;
    int pattern = 0x40 + n;
    int64_t off = (int64_t)n * 128 * 1024 + 4096;

    g_free(bq_sh(&w->f,
                 "qemu-io -f raw -c 'write -P %d %" G_GINT64_FORMAT " 64k' "
                 "-c flush '" URI "' >/dev/null && "
                 "qemu-io -f raw -c 'write -P %d %" G_GINT64_FORMAT " 64k' "
                 "ref.raw >/dev/null",
                 pattern, off, pattern, off));
}

/* The writer that runs across the mirror's pivot: 40 writes of 16 KiB
 * from 8 MiB on, 20 ms apart, over one NBD connection. */
static char *background_writes(bool nbd)
{
    GString *cmd = g_string_new("qemu-io -f raw");

    for (int i = 0; i < 40; i++) {
        g_string_append_printf(cmd, " -c 'write -P %d %dk 16k'%s", 0x90 + i,
                               8192 + i * 64, nbd ? " -c 'sleep 20'" : "");
    }
    g_string_append(cmd, nbd ? " -c flush '" URI "'" : " ref.raw");
    g_string_append(cmd, " >/dev/null");
    return g_string_free(cmd, FALSE);
}

static GPid spawn_writer(Flow *w)
{
    g_autofree char *cmd = background_writes(true);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    GError *err = NULL;
    GPid pid;

    ck_assert_msg(g_spawn_async(qtest_tmpdir(w->f.s), (char **)argv, NULL,
                                G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid,
                                &err),
                  "writer: %s", err ? err->message : "?");
    return pid;
}

static void reap_writer(Flow *w, GPid pid)
{
    g_autofree char *cmd = background_writes(false);
    int status;

    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the NBD writer failed (status %d)", status);
    g_spawn_close_pid(pid);
    g_free(bq_sh(&w->f, "%s", cmd)); /* the same writes on the reference */
}

/*
 * libvirt's pair of fds for image @file in set @set (opaque
 * libvirt-<set>-storage<k>), then its storage node @node on /dev/fdset/@set.
 */
static void attach_storage(Flow *w, const char *file, int set, const char *node)
{
    for (int k = 0; k < 2; k++) {
        g_autofree char *opaque =
            g_strdup_printf("libvirt-%d-storage%d", set, k);
        int fd = qtest_open_file(w->f.s, file, k ? O_RDWR : O_RDONLY);

        qtest_add_fd(w->f.c, fd, set, opaque, NULL);
        close(fd);
    }
    bq_ok(w->f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': "
          "'file', 'filename': '/dev/fdset/%d', 'node-name': '%s', "
          "'auto-read-only': true, 'discard': 'unmap'}}",
          set, node);
}

static void attach_format(Flow *w, const char *node, const char *file)
{
    bq_ok(w->f.c,
          "{'execute': 'blockdev-add', 'arguments': {'driver': "
          "'qcow2', 'node-name': '%s', 'read-only': false, "
          "'file': '%s', 'backing': null}}",
          node, file);
}

/* blockdev-del of the format and storage nodes, then remove-fd. */
static void detach(Flow *w, const char *format, const char *storage, int set)
{
    jq_del(w->f.c, format);
    jq_del(w->f.c, storage);
    bq_ok(w->f.c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': %d}}",
          set);
}

/* blockdev-create of a qcow2 on @storage, as libvirt waits for it. */
static void create_qcow2(Flow *w, const char *storage, const char *backing)
{
    g_autofree char *bpath = backing ? bq_path(&w->f, backing) : NULL;
    g_autofree char *extra =
        backing ? g_strdup_printf(
                      ", 'backing-file': '%s', 'backing-fmt': 'qcow2'", bpath)
                : g_strdup("");
    g_autofree char *id = g_strdup_printf("create-%s", storage);

    bq_ok(w->f.c,
          "{'execute': 'blockdev-create', 'arguments': {'job-id': "
          "'%s', 'options': {'driver': 'qcow2', 'file': '%s', "
          "'size': %d%s}}}",
          id, storage, SIZE_MIB * MiB, extra);
    jq_statuses(w->f.c, id, "created running waiting pending concluded");
    bq_ok(w->f.c, "{'execute': 'job-dismiss', 'arguments': {'id': '%s'}}", id);
}

/* The node export e0 serves right now must be @node. */
static void assert_export_on(Flow *w, const char *node)
{
    g_autoptr(JsonNode) r = qtest_qmp(w->f.c, "{'execute': "
                                              "'query-block-exports'}");
    JsonArray *a = qtest_return_array(r);

    ck_assert_int_eq(json_array_get_length(a), 1);
    ck_assert_str_eq(json_object_get_string_member(
                         json_array_get_object_element(a, 0), "node-name"),
                     node);
}

/* A job that must end concluded without error, then dismissed. */
static void finish_job(Flow *w, const char *id)
{
    g_autofree char *err = NULL;

    bq_wait_status(w->f.c, id, "concluded");
    err = jq_field(w->f.c, id, "error");
    ck_assert_msg(!*err, "job %s failed: %s", id, err);
    bq_ok(w->f.c, "{'execute': 'job-dismiss', 'arguments': {'id': '%s'}}", id);
}

/* The daemon's fds must come back to @want (NBD connections of clients
 * that just left close on the daemon's side a little later). */
static void wait_fd_count(Flow *w, guint want)
{
    guint n = 0;

    for (int i = 0; i < 200; i++) {
        n = qtest_count_fds(w->f.s);
        if (n == want) {
            return;
        }
        g_usleep(50 * 1000);
    }
    ck_abort_msg("the daemon has %u fds, %u before the flow", n, want);
}

/* No image header names a /dev/fdset path, and the chain is as expected. */
static void check_headers(Flow *w)
{
    g_autofree char *ov = bq_sh(&w->f, "qemu-img info -U ov.qcow2");
    g_autofree char *all = bq_sh(&w->f, "for i in base ov new; do "
                                        "qemu-img info -U --backing-chain "
                                        "$i.qcow2; done");

    ck_assert_ptr_null(strstr(all, "/dev/fdset"));
    ck_assert_ptr_null(strstr(ov, "backing file:")); /* streamed: none */
}

static void step_attach_and_export(Flow *w)
{
    g_autofree char *sock = bq_path(&w->f, "nbd.sock");

    attach_storage(w, "base.qcow2", 5, "libvirt-1-storage");
    attach_format(w, "libvirt-1-format", "libvirt-1-storage");
    bq_ok(w->f.c,
          "{'execute': 'nbd-server-start', 'arguments': {'addr': "
          "{'type': 'unix', 'data': {'path': '%s'}}}}",
          sock);
    bq_ok(w->f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
                  "'nbd', 'id': 'e0', 'node-name': 'libvirt-1-format', "
                  "'name': 'disk', 'writable': true}}");
    guest_write(w);
}

/* Overlay made on a passed fd, then the snapshot transaction. */
static void step_snapshot(Flow *w)
{
    g_autofree char *info = NULL, *bpath = bq_path(&w->f, "base.qcow2");

    g_free(bq_sh(&w->f, "touch ov.qcow2"));
    attach_storage(w, "ov.qcow2", 6, "libvirt-2-storage");
    create_qcow2(w, "libvirt-2-storage", "base.qcow2");
    attach_format(w, "libvirt-2-format", "libvirt-2-storage");
    guest_write(w);
    bq_ok(w->f.c, "{'execute': 'transaction', 'arguments': {'actions': ["
                  "{'type': 'blockdev-snapshot', 'data': {'node': "
                  "'libvirt-1-format', 'overlay': 'libvirt-2-format'}}, "
                  "{'type': 'block-dirty-bitmap-add', 'data': {'node': "
                  "'libvirt-2-format', 'name': 'snap1', 'persistent': true}}"
                  "]}}");
    assert_export_on(w, "libvirt-2-format");
    /* from here on the base keeps what it had at the snapshot */
    g_free(bq_sh(&w->f, "cp ref.raw ref-at-snapshot.raw"));
    info = bq_sh(&w->f, "qemu-img info -U ov.qcow2");
    ck_assert_ptr_nonnull(strstr(info, bpath));
    guest_write(w);
}

static void step_stream(Flow *w)
{
    bq_ok(w->f.c, "{'execute': 'block-stream', 'arguments': {'job-id': "
                  "'stream0', 'device': 'libvirt-2-format', "
                  "'auto-finalize': true, 'auto-dismiss': false}}");
    guest_write(w);
    finish_job(w, "stream0");
    guest_write(w);
    /* the chain no longer uses the base: libvirt lets it go */
    detach(w, "libvirt-1-format", "libvirt-1-storage", 5);
    guest_write(w);
}

/* A new image through a fdset, the mirror, its pivot under a writer. */
static void step_mirror(Flow *w)
{
    g_autoptr(JsonNode) ready = NULL;
    GPid writer;

    g_free(bq_sh(&w->f, "touch new.qcow2"));
    attach_storage(w, "new.qcow2", 7, "libvirt-3-storage");
    create_qcow2(w, "libvirt-3-storage", NULL);
    attach_format(w, "libvirt-3-format", "libvirt-3-storage");
    guest_write(w);
    bq_ok(w->f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': "
                  "'mirror0', 'device': 'libvirt-2-format', 'target': "
                  "'libvirt-3-format', 'sync': 'full', 'auto-finalize': true, "
                  "'auto-dismiss': false}}");
    writer = spawn_writer(w);
    guest_write(w);
    ready = qtest_event_wait(w->f.c, "BLOCK_JOB_READY", 30000);
    ck_assert_ptr_nonnull(ready);
    bq_ok(w->f.c, "{'execute': 'job-complete', 'arguments': {'id': "
                  "'mirror0'}}");
    finish_job(w, "mirror0");
    reap_writer(w, writer);
    assert_export_on(w, "libvirt-3-format");
    guest_write(w);
    detach(w, "libvirt-2-format", "libvirt-2-storage", 6);
    guest_write(w);
}

/*
 * The export does not let its node be resized (QEMU 7.2: its clients were
 * told the size), so the resize comes after the export is gone.
 */
static void step_resize_and_detach(Flow *w)
{
    bq_err(w->f.c,
           "Permission conflict on node 'libvirt-3-format': permissions "
           "'resize' are both required by an unnamed block device (uses "
           "node 'libvirt-3-format' as 'root' child) and unshared by an "
           "unnamed block device (uses node 'libvirt-3-format' as 'root' "
           "child).",
           "{'execute': 'block_resize', 'arguments': {'node-name': "
           "'libvirt-3-format', 'size': %d}}",
           2 * SIZE_MIB * MiB);
    guest_write(w);
    bq_ok(w->f.c, "{'execute': 'block-export-del', 'arguments': {'id': "
                  "'e0'}}");
    bq_expect_event(w->f.c, "BLOCK_EXPORT_DELETED", 10000);
    bq_ok(w->f.c, "{'execute': 'nbd-server-stop'}");
    bq_ok(w->f.c,
          "{'execute': 'block_resize', 'arguments': {'node-name': "
          "'libvirt-3-format', 'size': %d}}",
          2 * SIZE_MIB * MiB);
    g_free(bq_sh(&w->f, "qemu-img resize -q -f raw ref.raw %dM", 2 * SIZE_MIB));
    detach(w, "libvirt-3-format", "libvirt-3-storage", 7);
}

static void check_images(Flow *w)
{
    g_autofree char *info = bq_sh(&w->f, "qemu-img info new.qcow2");
    g_autofree char *ov = bq_sh(&w->f, "qemu-img info ov.qcow2");

    ck_assert_int_eq(bq_sh_status(&w->f, "qemu-img check -q new.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&w->f, "qemu-img check -q ov.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&w->f, "qemu-img check -q base.qcow2"), 0);
    ck_assert_int_eq(bq_sh_status(&w->f, "qemu-img compare -q -f qcow2 -F "
                                         "raw new.qcow2 ref.raw"),
                     0);
    /* the base kept what it had at the snapshot */
    ck_assert_int_eq(bq_sh_status(&w->f, "qemu-img compare -q -f qcow2 -F "
                                         "raw base.qcow2 ref-at-snapshot.raw"),
                     0);
    ck_assert_ptr_nonnull(strstr(info, "virtual size: 64 MiB"));
    ck_assert_ptr_nonnull(strstr(ov, "snap1")); /* persistent bitmap */
    check_headers(w);
}

START_TEST(test_libvirt_flow)
{
    Flow w = {.f = bq_start(NULL)};

    g_free(bq_sh(&w.f,
                 "qemu-img create -q -f qcow2 base.qcow2 %dM && "
                 "qemu-io -c 'write -P 0x11 0 6M' base.qcow2 >/dev/null && "
                 "qemu-img convert -O raw base.qcow2 ref.raw",
                 SIZE_MIB));
    w.fds_before = qtest_count_fds(w.f.s);
    step_attach_and_export(&w);
    step_snapshot(&w);
    step_stream(&w);
    step_mirror(&w);
    step_resize_and_detach(&w);
    wait_fd_count(&w, w.fds_before);
    check_images(&w);
    bq_finish(&w.f);
}
END_TEST

/* ---- blockdev-snapshot and the export on its node ---- */

/* base.qcow2 (16M, 0x11 in the first 6M) attached as libvirt does and
 * exported writable as "disk"; ov.qcow2 made by qemu-img over it. */
static void export_base(Flow *w)
{
    g_autofree char *sock = bq_path(&w->f, "nbd.sock");
    g_autofree char *bpath = bq_path(&w->f, "base.qcow2");

    g_free(bq_sh(&w->f,
                 "qemu-img create -q -f qcow2 base.qcow2 16M && "
                 "qemu-io -c 'write -P 0x11 0 6M' base.qcow2 >/dev/null && "
                 "qemu-img convert -O raw base.qcow2 ref.raw && "
                 "qemu-img create -q -f qcow2 -b %s -F qcow2 ov.qcow2",
                 bpath));
    w->fds_before = qtest_count_fds(w->f.s);
    attach_storage(w, "base.qcow2", 5, "libvirt-1-storage");
    attach_format(w, "libvirt-1-format", "libvirt-1-storage");
    bq_ok(w->f.c,
          "{'execute': 'nbd-server-start', 'arguments': {'addr': "
          "{'type': 'unix', 'data': {'path': '%s'}}}}",
          sock);
    bq_ok(w->f.c, "{'execute': 'block-export-add', 'arguments': {'type': "
                  "'nbd', 'id': 'e0', 'node-name': 'libvirt-1-format', "
                  "'name': 'disk', 'writable': true}}");
}

static void unexport(Flow *w)
{
    bq_ok(w->f.c, "{'execute': 'block-export-del', 'arguments': {'id': "
                  "'e0'}}");
    bq_expect_event(w->f.c, "BLOCK_EXPORT_DELETED", 10000);
    bq_ok(w->f.c, "{'execute': 'nbd-server-stop'}");
}

/*
 * A writer keeps writing through the export while blockdev-snapshot puts
 * the overlay on its node: the export moves to the overlay, no write
 * reaches the base after the reply (a request that began on the base ends
 * before the switch), and overlay + base hold every write.
 */
START_TEST(test_snapshot_under_writer)
{
    Flow w = {.f = bq_start(NULL)};
    GPid writer;

    export_base(&w);
    attach_storage(&w, "ov.qcow2", 6, "libvirt-2-storage");
    attach_format(&w, "libvirt-2-format", "libvirt-2-storage");
    writer = spawn_writer(&w);
    g_usleep(100 * 1000); /* most likely inside the writes by now */
    bq_ok(w.f.c, "{'execute': 'blockdev-snapshot', 'arguments': {'node': "
                 "'libvirt-1-format', 'overlay': 'libvirt-2-format'}}");
    /* the base as it is when the reply is out (flushed by the snapshot) */
    g_free(bq_sh(&w.f, "qemu-img convert -U -O raw base.qcow2 "
                       "base-at-snapshot.raw"));
    assert_export_on(&w, "libvirt-2-format");
    reap_writer(&w, writer);
    guest_write(&w);
    unexport(&w);
    detach(&w, "libvirt-2-format", "libvirt-2-storage", 6);
    detach(&w, "libvirt-1-format", "libvirt-1-storage", 5);
    wait_fd_count(&w, w.fds_before);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img compare -q -f qcow2 -F raw "
                                        "base.qcow2 base-at-snapshot.raw"),
                     0);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img compare -q -f qcow2 -F raw "
                                        "ov.qcow2 ref.raw"),
                     0);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img check -q ov.qcow2 && "
                                        "qemu-img check -q base.qcow2"),
                     0);
    bq_finish(&w.f);
}
END_TEST

/* A transaction whose later action fails leaves the export on the base,
 * and writes keep landing there. */
START_TEST(test_snapshot_abort_keeps_export)
{
    Flow w = {.f = bq_start(NULL)};

    export_base(&w);
    attach_storage(&w, "ov.qcow2", 6, "libvirt-2-storage");
    attach_format(&w, "libvirt-2-format", "libvirt-2-storage");
    bq_err(w.f.c, "Cannot find device='nosuch' nor node-name='nosuch'",
           "{'execute': 'transaction', 'arguments': {'actions': ["
           "{'type': 'blockdev-snapshot', 'data': {'node': "
           "'libvirt-1-format', 'overlay': 'libvirt-2-format'}}, "
           "{'type': 'block-dirty-bitmap-add', 'data': {'node': "
           "'nosuch', 'name': 'b'}}]}}");
    assert_export_on(&w, "libvirt-1-format");
    guest_write(&w);
    unexport(&w);
    detach(&w, "libvirt-2-format", "libvirt-2-storage", 6);
    detach(&w, "libvirt-1-format", "libvirt-1-storage", 5);
    wait_fd_count(&w, w.fds_before);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img compare -q -f qcow2 -F raw "
                                        "base.qcow2 ref.raw"),
                     0);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img map --output=json "
                                        "ov.qcow2 | grep -q '\"depth\": 0'"),
                     1); /* nothing was written into the overlay */
    bq_finish(&w.f);
}
END_TEST

/* blockdev-snapshot-sync (mode existing, the overlay on a passed fd)
 * moves the export too. */
START_TEST(test_snapshot_sync_moves_export)
{
    Flow w = {.f = bq_start(NULL)};
    int fd;

    export_base(&w);
    fd = qtest_open_file(w.f.s, "ov.qcow2", O_RDWR);
    qtest_add_fd(w.f.c, fd, 6, "libvirt-2-storage0", NULL);
    close(fd);
    guest_write(&w);
    g_free(bq_sh(&w.f, "cp ref.raw ref-at-snapshot.raw"));
    bq_ok(w.f.c, "{'execute': 'blockdev-snapshot-sync', 'arguments': "
                 "{'node-name': 'libvirt-1-format', 'snapshot-file': "
                 "'/dev/fdset/6', 'snapshot-node-name': 'ov', 'mode': "
                 "'existing'}}");
    assert_export_on(&w, "ov");
    guest_write(&w);
    unexport(&w);
    jq_del(w.f.c, "ov");
    detach(&w, "libvirt-1-format", "libvirt-1-storage", 5);
    bq_ok(w.f.c, "{'execute': 'remove-fd', 'arguments': {'fdset-id': 6}}");
    wait_fd_count(&w, w.fds_before);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img compare -q -f qcow2 -F raw "
                                        "base.qcow2 ref-at-snapshot.raw"),
                     0);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img compare -q -f qcow2 -F raw "
                                        "ov.qcow2 ref.raw"),
                     0);
    bq_finish(&w.f);
}
END_TEST

/* ---- blockdev-mirror's filter-node-name under the export ---- */

/* Does x-debug-query-block-graph have an edge @name from @parent to
 * @child (node names)? */
static bool graph_has_edge(QTestConn *c, const char *parent, const char *child,
                           const char *name)
{
    g_autoptr(JsonNode) r =
        qtest_qmp(c, "{'execute': 'x-debug-query-block-graph'}");
    JsonObject *g = qtest_return_object(r);
    JsonArray *nodes = json_object_get_array_member(g, "nodes");
    JsonArray *edges = json_object_get_array_member(g, "edges");
    gint64 p = -1, ch = -1;

    for (guint i = 0; i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *nn = json_object_get_string_member(n, "name");

        if (g_str_equal(nn, parent)) {
            p = json_object_get_int_member(n, "id");
        } else if (g_str_equal(nn, child)) {
            ch = json_object_get_int_member(n, "id");
        }
    }
    for (guint i = 0; i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);

        if (json_object_get_int_member(e, "parent") == p &&
            json_object_get_int_member(e, "child") == ch &&
            g_str_equal(json_object_get_string_member(e, "name"), name)) {
            return true;
        }
    }
    return false;
}

/*
 * blockdev-mirror with filter-node-name, the source exported: while the
 * job runs a "mirror_top" node of that name (QEMU 7.2) serves the export,
 * its "backing" edge is the source and it shows the source's filename;
 * NBD writes meanwhile reach the target; after job-complete the export is
 * on the target, after a cancel back on the source; the filter is gone
 * either way.
 */
static void mirror_filter(bool complete)
{
    Flow w = {.f = bq_start(NULL)};
    g_autofree char *fname = NULL, *sname = NULL;

    export_base(&w);
    g_free(bq_sh(&w.f, "qemu-img create -q -f qcow2 new.qcow2 16M"));
    attach_storage(&w, "new.qcow2", 7, "libvirt-3-storage");
    attach_format(&w, "libvirt-3-format", "libvirt-3-storage");
    bq_ok(w.f.c, "{'execute': 'blockdev-mirror', 'arguments': {'job-id': "
                 "'m', 'device': 'libvirt-1-format', 'target': "
                 "'libvirt-3-format', 'sync': 'full', 'speed': 1048576, "
                 "'filter-node-name': 'mt0'}}");
    assert_export_on(&w, "mt0");
    fname = bq_node_str(w.f.c, "mt0", "file");
    sname = bq_node_str(w.f.c, "libvirt-1-format", "file");
    ck_assert_str_eq(fname, sname);
    ck_assert(graph_has_edge(w.f.c, "mt0", "libvirt-1-format", "backing"));
    bq_err(w.f.c, "Node mt0 is in use", /* the export's */
           "{'execute': 'blockdev-del', 'arguments': {'node-name': 'mt0'}}");
    guest_write(&w);
    if (complete) {
        bq_ok(w.f.c, "{'execute': 'block-job-set-speed', 'arguments': "
                     "{'device': 'm', 'speed': 0}}");
        bq_expect_event(w.f.c, "BLOCK_JOB_READY", 30000);
        bq_ok(w.f.c, "{'execute': 'job-complete', 'arguments': {'id': "
                     "'m'}}");
        bq_expect_event(w.f.c, "BLOCK_JOB_COMPLETED", 30000);
    } else {
        bq_ok(w.f.c, "{'execute': 'job-cancel', 'arguments': {'id': 'm'}}");
        bq_expect_event(w.f.c, "BLOCK_JOB_CANCELLED", 30000);
    }
    assert_export_on(&w, complete ? "libvirt-3-format" : "libvirt-1-format");
    ck_assert_int_eq(bq_node_count(w.f.c), 4); /* mt0 gone */
    guest_write(&w);
    unexport(&w);
    detach(&w, "libvirt-3-format", "libvirt-3-storage", 7);
    detach(&w, "libvirt-1-format", "libvirt-1-storage", 5);
    wait_fd_count(&w, w.fds_before);
    ck_assert_int_eq(bq_sh_status(&w.f,
                                  "qemu-img compare -q -f qcow2 -F raw "
                                  "%s ref.raw",
                                  complete ? "new.qcow2" : "base.qcow2"),
                     0);
    ck_assert_int_eq(bq_sh_status(&w.f, "qemu-img check -q new.qcow2 && "
                                        "qemu-img check -q base.qcow2"),
                     0);
    bq_finish(&w.f);
}

START_TEST(test_mirror_filter_complete)
{
    mirror_filter(true);
}
END_TEST

START_TEST(test_mirror_filter_cancel)
{
    mirror_filter(false);
}
END_TEST

static Suite *flow_suite(void)
{
    Suite *s = suite_create("libvirt-flow");
    TCase *tc = tcase_create("flow");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_libvirt_flow);
    tcase_add_test(tc, test_snapshot_under_writer);
    tcase_add_test(tc, test_snapshot_abort_keeps_export);
    tcase_add_test(tc, test_snapshot_sync_moves_export);
    tcase_add_test(tc, test_mirror_filter_complete);
    tcase_add_test(tc, test_mirror_filter_cancel);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(flow_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
