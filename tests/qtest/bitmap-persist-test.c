/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Persistent dirty bitmaps in qcow2 images: stored on blockdev-del, read
 * back by fdsetd after a restart and by qemu-img (info, bitmap --merge),
 * found inconsistent after a kill -9; qemu-img check on every image.
 * The images live in a directory of the test's own, so that they outlive
 * the daemon.
 */
#include "block-qtest.h"

/* QEMU 7.2: 1 MiB, 64 KiB granules, none set / granules 1 and 4 set. */
#define SHA_EMPTY_1M                                                           \
    "af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc"
#define SHA_COMMIT_1M                                                          \
    "e48d939f60d90eb530fe27e3605e548e51c7232e13baddfdfeaa4e04fb478319"

static char *sh(const char *dir, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* A shell command in @dir that must succeed; its stdout. */
static char *sh(const char *dir, const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    g_autofree char *err = NULL;
    const char *argv[4] = {"/bin/sh", "-c", NULL, NULL};
    char *out = NULL;
    int status;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    argv[2] = cmd;
    ck_assert(g_spawn_sync(dir, (char **)argv, NULL, 0, NULL, NULL, &out,
                           &err, &status, NULL));
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "'%s' failed: %s%s", cmd, out, err);
    return out;
}

static void add_fd(QTestConn *c, const char *dir, const char *name,
                   int64_t set)
{
    g_autofree char *path = g_build_filename(dir, name, NULL);
    int fd = open(path, O_RDWR | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    qtest_add_fd(c, fd, set, NULL, NULL);
    close(fd);
}

/* base.qcow2 (0x11) <- top.qcow2 (0x22 at 64k, 0x33 at 300k). */
static char *make_images(void)
{
    char *dir = g_dir_make_tmp("bitmap-persist-XXXXXX", NULL);

    ck_assert(dir);
    g_free(sh(dir, "qemu-img create -q -f qcow2 base.qcow2 1M && "
                   "qemu-io -c 'write -P 0x11 0 1M' base.qcow2 && "
                   "qemu-img create -q -f qcow2 -o cluster_size=512 "
                   "-b base.qcow2 -F qcow2 top.qcow2 && "
                   "qemu-io -c 'write -P 0x22 64k 64k' "
                   "-c 'write -P 0x33 300k 1k' top.qcow2"));
    return dir;
}

static void remove_images(const char *dir)
{
    g_free(sh(dir, "rm -f base.qcow2 top.qcow2"));
    rmdir(dir);
}

static void open_base(QTestConn *c, const char *dir)
{
    add_fd(c, dir, "base.qcow2", 0);
    bq_ok(c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
             "'node-name': 'base', 'file': {'driver': 'file', "
             "'filename': '/dev/fdset/0'}}}");
}

static void del_node(QTestConn *c, const char *node)
{
    bq_ok(c, "{'execute': 'blockdev-del', 'arguments': {'node-name': '%s'}}",
          node);
}

static void assert_sha(QTestConn *c, const char *name, const char *want)
{
    JsonNode *r = qtest_qmp(c, "{'execute': "
                               "'x-debug-block-dirty-bitmap-sha256', "
                               "'arguments': {'node': 'base', "
                               "'name': '%s'}}", name);
    JsonObject *ret = json_object_get_object_member(json_node_get_object(r),
                                                    "return");

    ck_assert_msg(ret, "no bitmap '%s'", name);
    ck_assert_str_eq(json_object_get_string_member(ret, "sha256"), want);
    json_node_unref(r);
}

/* BlockDirtyInfo member @m (a bool) of bitmap @name on base. */
static bool bitmap_flag(QTestConn *c, const char *name, const char *m)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, "base", true, &keep);
    JsonArray *a = json_object_get_array_member(o, "dirty-bitmaps");
    bool v = false, found = false;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *b = json_array_get_object_element(a, i);

        if (!strcmp(json_object_get_string_member(b, "name"), name)) {
            found = true;
            v = json_object_has_member(b, m) &&
                json_object_get_boolean_member(b, m);
        }
    }
    json_node_unref(keep);
    ck_assert_msg(found, "no bitmap '%s'", name);
    return v;
}

/* Persistent bitmaps written by commit's writes, stored at blockdev-del,
 * read by qemu-img and by a new daemon; the others are gone. */
START_TEST(test_survive_restart)
{
    g_autofree char *dir = make_images();
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    open_base(f.c, dir);
    add_fd(f.c, dir, "top.qcow2", 1);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'top', 'backing': 'base', 'file': "
               "{'driver': 'file', 'filename': '/dev/fdset/1'}}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'base', 'name': 'p', 'persistent': true}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'base', 'name': 'off', 'persistent': true, "
               "'disabled': true, 'granularity': 512}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'base', 'name': 'gone'}}");
    bq_ok(f.c, "{'execute': 'block-commit', 'arguments': {'device': 'top', "
               "'job-id': 'c0'}}");
    bq_wait_status(f.c, "c0", "ready");
    bq_ok(f.c, "{'execute': 'job-complete', 'arguments': {'id': 'c0'}}");
    bq_wait_status(f.c, "c0", "null");
    assert_sha(f.c, "p", SHA_COMMIT_1M);
    del_node(f.c, "top");
    del_node(f.c, "base");
    bq_finish(&f);

    info = sh(dir, "qemu-img info base.qcow2");
    ck_assert_msg(strstr(info, "name: p") && strstr(info, "name: off") &&
                  !strstr(info, "gone") && !strstr(info, "in-use"),
                  "%s", info);
    ck_assert_msg(strstr(info, "granularity: 512"), "%s", info);
    g_free(sh(dir, "qemu-img check -q base.qcow2"));
    if (g_getenv("BITMAP_TEST_KEEP")) {
        /* for comparing with QEMU by hand (docs/dev-notes/issue-14) */
        g_free(sh(dir, "cp base.qcow2 \"$BITMAP_TEST_KEEP\""));
    }
    /* QEMU reads our bits and writes a bitmap of its own */
    g_free(sh(dir, "qemu-img bitmap --add base.qcow2 q && "
                   "qemu-img bitmap --merge p base.qcow2 q && "
                   "qemu-img check -q base.qcow2"));

    f = bq_start(NULL);
    open_base(f.c, dir);
    assert_sha(f.c, "p", SHA_COMMIT_1M);
    assert_sha(f.c, "q", SHA_COMMIT_1M);
    ck_assert(bitmap_flag(f.c, "p", "persistent"));
    ck_assert(bitmap_flag(f.c, "p", "recording"));
    ck_assert(!bitmap_flag(f.c, "off", "recording"));
    ck_assert(!bitmap_flag(f.c, "p", "inconsistent"));
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'base', 'name': 'q'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-clear', 'arguments': "
               "{'node': 'base', 'name': 'p'}}");
    del_node(f.c, "base");
    bq_finish(&f);
    g_free(info);
    info = sh(dir, "qemu-img info base.qcow2 && qemu-img check base.qcow2");
    ck_assert_msg(!strstr(info, "name: q") && strstr(info, "name: p") &&
                  strstr(info, "No errors") && !strstr(info, "leaked"),
                  "%s", info);
    remove_images(dir);
}
END_TEST

/* kill -9 while open read-write: the bitmap comes back inconsistent and
 * refuses use; remove takes it out of the image. */
START_TEST(test_kill_leaves_inconsistent)
{
    g_autofree char *dir = make_images();
    BlockFixture f = bq_start(NULL);
    g_autofree char *info = NULL;

    open_base(f.c, dir);
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'base', 'name': 'p', 'persistent': true}}");
    del_node(f.c, "base"); /* stored, not in use */
    open_base(f.c, dir);   /* in use again */
    info = sh(dir, "qemu-img info -U base.qcow2");
    ck_assert_msg(strstr(info, "in-use"), "%s", info);
    qtest_kill(f.s);
    g_clear_pointer(&info, g_free);

    f = bq_start(NULL);
    open_base(f.c, dir);
    ck_assert(bitmap_flag(f.c, "p", "inconsistent"));
    ck_assert(!bitmap_flag(f.c, "p", "recording"));
    bq_err(f.c, "Bitmap 'p' is inconsistent and cannot be used",
           "{'execute': 'block-dirty-bitmap-clear', 'arguments': "
           "{'node': 'base', 'name': 'p'}}");
    bq_err(f.c, "Bitmap 'p' is inconsistent and cannot be used",
           "{'execute': 'block-dirty-bitmap-enable', 'arguments': "
           "{'node': 'base', 'name': 'p'}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'base', 'name': 'p'}}");
    del_node(f.c, "base");
    bq_finish(&f);
    info = sh(dir, "qemu-img info base.qcow2 && qemu-img check base.qcow2");
    ck_assert_msg(!strstr(info, "name: p") && strstr(info, "No errors") &&
                  !strstr(info, "leaked"), "%s", info);
    remove_images(dir);
}
END_TEST

/* Errors of persistent bitmaps: qcow2 v2, read-only. */
/* Names of base's bitmaps as query-named-block-nodes lists them. */
static char *listed(QTestConn *c, const char *node)
{
    JsonNode *keep;
    JsonObject *o = bq_node(c, node, true, &keep);
    JsonArray *a = json_object_get_array_member(o, "dirty-bitmaps");
    GString *out = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *b = json_array_get_object_element(a, i);

        g_string_append_printf(out, "%s%s", i ? " " : "",
                               json_object_get_string_member(b, "name"));
    }
    json_node_unref(keep);
    return g_string_free(out, FALSE);
}

/* The bitmap directory's order as qemu-img info shows it. */
static char *on_disk(BlockFixture *f)
{
    return bq_sh(f, "qemu-img info -U --output=json disk.qcow2 | "
                    "sed -n 's/^ *\"name\": \"\\(.*\\)\",*$/\\1/p' | "
                    "tr '\\n' ' '");
}

static void cycle(BlockFixture *f, bool open)
{
    if (open) {
        bq_ok(f->c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
                    "'qcow2', 'node-name': 'disk', 'file': {'driver': "
                    "'file', 'filename': '/dev/fdset/0'}}}");
    } else {
        del_node(f->c, "disk");
    }
}

#define ASSERT_STR(expr, want)                                                 \
    do {                                                                       \
        g_autofree char *got_ = (expr);                                        \
        ck_assert_str_eq(got_, (want));                                        \
    } while (0)

/*
 * Directory and listing order, as QEMU 7.2 (measured: compat-compare.py
 * bitmap-order): listed newest first; new bitmaps are written newest
 * first after those already in the directory, which keep their place; a
 * re-opened image lists its bitmaps in reverse directory order.
 */
START_TEST(test_directory_order)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 disk.qcow2 4M"));
    bq_add_fd(&f, f.c, "disk.qcow2", O_RDWR, 0);
    cycle(&f, true);
    for (const char *n = "abc"; *n; n++) {
        bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
                   "{'node': 'disk', 'name': '%c', 'persistent': true}}", *n);
    }
    ASSERT_STR(listed(f.c, "disk"), "c b a");
    cycle(&f, false);
    ASSERT_STR(on_disk(&f), "c b a ");
    cycle(&f, true);
    ASSERT_STR(listed(f.c, "disk"), "a b c");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-add', 'arguments': "
               "{'node': 'disk', 'name': 'd', 'persistent': true}}");
    bq_ok(f.c, "{'execute': 'block-dirty-bitmap-remove', 'arguments': "
               "{'node': 'disk', 'name': 'b'}}");
    ASSERT_STR(listed(f.c, "disk"), "d a c");
    cycle(&f, false);
    ASSERT_STR(on_disk(&f), "c a d ");
    cycle(&f, true);
    ASSERT_STR(listed(f.c, "disk"), "d a c");
    cycle(&f, false);
    g_free(bq_sh(&f, "qemu-img bitmap --add disk.qcow2 e"));
    ASSERT_STR(on_disk(&f), "c a d e ");
    cycle(&f, true);
    ASSERT_STR(listed(f.c, "disk"), "e d a c");
    cycle(&f, false);
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q disk.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

START_TEST(test_persistent_errors)
{
    BlockFixture f = bq_start(NULL);

    g_free(bq_sh(&f, "qemu-img create -q -f qcow2 -o compat=0.10 v2.qcow2 "
                     "1M"));
    bq_add_fd(&f, f.c, "v2.qcow2", O_RDWR, 0);
    bq_ok(f.c, "{'execute': 'blockdev-add', 'arguments': {'driver': "
               "'qcow2', 'node-name': 'v2', 'file': {'driver': 'file', "
               "'filename': '/dev/fdset/0'}}}");
    bq_err(f.c, "Cannot store dirty bitmaps in qcow2 v2 files",
           "{'execute': 'block-dirty-bitmap-add', 'arguments': "
           "{'node': 'v2', 'name': 'p', 'persistent': true}}");
    del_node(f.c, "v2");
    ck_assert_int_eq(bq_sh_status(&f, "qemu-img check -q v2.qcow2"), 0);
    bq_finish(&f);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("bitmap-persist");
    TCase *tc = tcase_create("bitmap-persist");
    SRunner *r;
    int failed;

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_survive_restart);
    tcase_add_test(tc, test_kill_leaves_inconsistent);
    tcase_add_test(tc, test_persistent_errors);
    tcase_add_test(tc, test_directory_order);
    suite_add_tcase(su, tc);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
