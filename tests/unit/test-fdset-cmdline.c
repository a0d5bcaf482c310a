/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -add-fd: QEMU's checks in QEMU's order, the dup, closing the originals.
 */
#include <stdio.h>
#include <sys/resource.h>

#include "qemu/error.h"
#include "qemu/fdset-cmdline.h"
#include "qemu/fdset.h"
#include "unit-helpers.h"

static void setup(void)
{
    fdset_init();
}

static void teardown(void)
{
    fdset_cmdline_close_originals();
    fdset_shutdown();
}

/* An inherited-looking fd: open, FD_CLOEXEC clear. */
static int inherited(const char *name, int flags)
{
    int fd = unit_open(name, flags);

    ck_assert(!fd_is_cloexec(fd));
    return fd;
}

static void expect_error(const char *arg, const char *msg)
{
    g_autoptr(GError) err = NULL;

    ck_assert_msg(!fdset_cmdline_add_fd("-add-fd", arg, &err), "'%s' accepted",
                  arg);
    ck_assert_msg(g_str_equal(err->message, msg), "'%s': got '%s'", arg,
                  err->message);
    ck_assert_int_eq(error_get_class(err), QMP_ERROR_CLASS_GENERIC_ERROR);
    ck_assert_uint_eq(fdset_count_sets(), 0);
}

static void expect_ok(const char *fmt, int fd, const char *rest)
{
    g_autofree char *arg = g_strdup_printf(fmt, fd, rest);
    g_autoptr(GError) err = NULL;

    ck_assert_msg(fdset_cmdline_add_fd("--add-fd", arg, &err), "'%s': %s", arg,
                  err ? err->message : "");
}

#define REQ_FD "fd option is required and must be non-negative"
#define STDIO "fd cannot be a standard I/O stream"
#define IN_USE "fd is not valid or already in use"
#define REQ_SET "set option is required and must be non-negative"

START_TEST(test_fd_required)
{
    expect_error("", REQ_FD);
    expect_error("set=1", REQ_FD);
    expect_error("fd=-1,set=1", REQ_FD);
    expect_error("fd=0xffffffff,set=1", REQ_FD); /* truncates to -1 */
    expect_error("opaque=x", REQ_FD);
}
END_TEST

START_TEST(test_fd_stdio)
{
    expect_error("fd=0,set=1", STDIO);
    expect_error("fd=1,set=1", STDIO);
    expect_error("fd=2", STDIO);                /* before the set check */
    expect_error("fd=4294967298,set=1", STDIO); /* truncates to 2 */
}
END_TEST

START_TEST(test_fd_stdio_even_when_closed)
{
    close(0); /* the test runs in its own process */
    expect_error("fd=0,set=1", STDIO);
}
END_TEST

START_TEST(test_fd_not_valid)
{
    int cloexec = unit_open("a.img", O_RDONLY | O_CLOEXEC);
    g_autofree char *a1 = g_strdup_printf("fd=%d,set=1", cloexec);
    g_autofree char *a2 = g_strdup_printf("fd=%d", cloexec);

    expect_error(a1, IN_USE);
    expect_error(a2, IN_USE); /* before the set check */
    expect_error("fd=900,set=1", IN_USE);
    ck_assert(!fd_is_closed(cloexec));
}
END_TEST

START_TEST(test_set_required)
{
    int fd = inherited("a.img", O_RDONLY);
    g_autofree char *a1 = g_strdup_printf("fd=%d", fd);
    g_autofree char *a2 = g_strdup_printf("fd=%d,set=-1", fd);
    g_autofree char *a3 = g_strdup_printf("fd=%d,set=0xffffffffffffffff", fd);

    expect_error(a1, REQ_SET);
    expect_error(a2, REQ_SET);
    expect_error(a3, REQ_SET);
    fdset_cmdline_close_originals();
    ck_assert(!fd_is_closed(fd)); /* not taken */
}
END_TEST

START_TEST(test_bad_keys_and_numbers)
{
    expect_error("fd=3,set=1,foo=2", "Invalid parameter 'foo'");
    expect_error("foo=2,fd=0", "Invalid parameter 'foo'");
    expect_error("fd=0,id=x", "Invalid parameter 'id'");
    expect_error("fd=abc,set=1", "Parameter 'fd' expects a number");
    expect_error("fd=,set=1", "Parameter 'fd' expects a number");
    expect_error("fd=3,set=1x", "Parameter 'set' expects a number");
    expect_error("fd=99999999999999999999,set=1",
                 "Value '99999999999999999999' is too large for "
                 "parameter 'fd'");
}
END_TEST

START_TEST(test_add_dups_and_closes_originals_later)
{
    int ro = inherited("a.img", O_RDONLY), rw = inherited("a.img", O_RDWR);
    int other = inherited("b.img", O_RDONLY);
    FdSetInfo *info;
    guint n;

    expect_ok("fd=%d,set=1,opaque=%s", ro, "ro");
    expect_ok("fd=%d,set=1%s", rw, "");
    expect_ok("fd=%d,set=4%s", other, "");
    expect_ok("fd=%d,set=5,opaque=%s", ro, "again,,x"); /* same fd twice */
    ck_assert(!fd_is_closed(ro)); /* kept until all are done */
    ck_assert(!fd_is_closed(rw));

    info = fdset_query(&n);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(info[0].fdset_id, 5);
    ck_assert_str_eq(info[0].members[0].opaque, "again,x");
    ck_assert_int_eq(info[2].fdset_id, 1);
    ck_assert_uint_eq(info[2].n_members, 2);
    ck_assert_str_eq(info[2].members[0].opaque, "ro");
    ck_assert_ptr_null(info[2].members[1].opaque);
    for (guint i = 0; i < n; i++) {
        for (guint j = 0; j < info[i].n_members; j++) {
            int fd = info[i].members[j].fd;

            ck_assert_int_ne(fd, ro);
            ck_assert_int_ne(fd, rw);
            ck_assert_int_ne(fd, other);
            ck_assert_int_ge(fd, 3);
            ck_assert(fd_is_cloexec(fd));
            ck_assert(info[i].members[j].persistent);
        }
    }
    ck_assert_int_eq(info[2].members[1].flags & O_ACCMODE, O_RDWR);
    ck_assert_uint_eq(info[2].members[0].ino, fd_ino(ro));
    fdset_info_free(info, n);

    fdset_cmdline_close_originals();
    ck_assert(fd_is_closed(ro));
    ck_assert(fd_is_closed(rw));
    ck_assert(fd_is_closed(other));
    ck_assert_uint_eq(fdset_count_members(), 4);
    fdset_release_owner(1); /* persistent: never reaped */
    ck_assert_uint_eq(fdset_count_members(), 4);
}
END_TEST

START_TEST(test_large_set_id_and_truncated_fd)
{
    int fd = inherited("a.img", O_RDONLY);
    guint64 wrapped = (guint64)fd + (G_GUINT64_CONSTANT(1) << 32);
    g_autofree char *arg =
        g_strdup_printf("fd=%" G_GUINT64_FORMAT ",set=4294967296", wrapped);
    FdSetInfo *info;
    guint n;

    ck_assert(fdset_cmdline_add_fd("-add-fd", arg, NULL));
    info = fdset_query(&n);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(info[0].fdset_id, G_GINT64_CONSTANT(4294967296));
    ck_assert_uint_eq(info[0].members[0].ino, fd_ino(fd));
    fdset_info_free(info, n);
}
END_TEST

START_TEST(test_dup_failure)
{
    int fd = inherited("a.img", O_RDONLY);
    g_autofree char *arg = g_strdup_printf("fd=%d,set=1", fd);
    struct rlimit saved, rl;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    rl = (struct rlimit){.rlim_cur = fd + 1, .rlim_max = saved.rlim_max};
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    expect_error(arg, "error duplicating fd: Too many open files");
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    ck_assert(!fd_is_closed(fd));
}
END_TEST

START_TEST(test_registry_error_passes_through)
{
    FdSetLimits lim;
    int fd = inherited("a.img", O_RDONLY);
    g_autofree char *arg = g_strdup_printf("fd=%d,set=1", fd);

    fdset_get_limits(&lim);
    lim.max_sets = 0;
    fdset_set_limits(&lim);
    expect_error(arg, "Cannot create fdset: 0 fdsets exist (limit max-sets=0)");
    ck_assert_int_eq(fdset_count_members(), 0);
}
END_TEST

START_TEST(test_report_error_format)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "stderr", NULL);
    g_autoptr(GError) err = NULL;
    g_autofree char *text = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    ck_assert(!fdset_cmdline_add_fd("-add-fd", "fd=0,set=1", &err));
    fflush(stderr);
    ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    fdset_cmdline_report_error("fdsetd", "-add-fd", "fd=0,set=1", err);
    fflush(stderr);
    ck_assert(g_file_get_contents(path, &text, NULL, NULL));
    ck_assert_str_eq(text, "fdsetd: -add-fd fd=0,set=1: "
                           "fd cannot be a standard I/O stream\n");
}
END_TEST

static Suite *cmdline_suite(void)
{
    Suite *s = suite_create("fdset-cmdline");
    TCase *tc = tcase_create("add-fd");

    tcase_add_checked_fixture(tc, setup, teardown);
    suite_add_tcase(s, tc);
    tcase_add_test(tc, test_fd_required);
    tcase_add_test(tc, test_fd_stdio);
    tcase_add_test(tc, test_fd_stdio_even_when_closed);
    tcase_add_test(tc, test_fd_not_valid);
    tcase_add_test(tc, test_set_required);
    tcase_add_test(tc, test_bad_keys_and_numbers);
    tcase_add_test(tc, test_add_dups_and_closes_originals_later);
    tcase_add_test(tc, test_large_set_id_and_truncated_fd);
    tcase_add_test(tc, test_dup_failure);
    tcase_add_test(tc, test_registry_error_passes_through);
    tcase_add_test(tc, test_report_error_format);
    return s;
}

int main(void)
{
    return unit_run(cmdline_suite());
}
