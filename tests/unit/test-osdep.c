/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu_open() and friends: /dev/fdset/N parsing, QEMU 7.2 error texts,
 * CLOEXEC, qemu_create() modes, qemu_close() untracking.
 */
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"
#include "unit-helpers.h"

static void setup(void)
{
    fdset_init();
}

static void teardown(void)
{
    fdset_shutdown();
}

static void add_member(gint64 set, int fd)
{
    ck_assert(fdset_add_fd(true, set, fd, NULL, 1, NULL, NULL));
}

/* ---- parsing ---- */

static void expect_parse(const char *path, gint64 want)
{
    gint64 id = -42;

    ck_assert_msg(qemu_parse_fdset_path(path, &id), "'%s' rejected", path);
    ck_assert_int_eq(id, want);
}

static void expect_reject(const char *path)
{
    gint64 id = -42;

    ck_assert_msg(!qemu_parse_fdset_path(path, &id), "'%s' accepted", path);
    ck_assert_int_eq(id, -42);
}

START_TEST(test_parse_accepts)
{
    expect_parse("/dev/fdset/0", 0);
    expect_parse("/dev/fdset/7", 7);
    expect_parse("/dev/fdset/+7", 7);
    expect_parse("/dev/fdset/007", 7);
    expect_parse("/dev/fdset/+007", 7);
    expect_parse("/dev/fdset/-0", 0);
    expect_parse("/dev/fdset/ 7", 7);
    expect_parse("/dev/fdset/\t 1", 1);
    expect_parse("/dev/fdset/2147483647", INT_MAX);
}
END_TEST

START_TEST(test_parse_rejects)
{
    expect_reject("/dev/fdset/");
    expect_reject("/dev/fdset/7x");
    expect_reject("/dev/fdset/1/");
    expect_reject("/dev/fdset/1 ");
    expect_reject("/dev/fdset/ ");
    expect_reject("/dev/fdset/-1");
    expect_reject("/dev/fdset/2147483648");
    expect_reject("/dev/fdset/99999999999999999999");
    expect_reject("/dev/fdset/0x");
    expect_reject("/dev/fdset/0x1");
    expect_reject("/dev/fdset/xyz");
    expect_reject("/dev/fdset");
    expect_reject("/dev/fdset1");
    expect_reject("/DEV/FDSET/1");
    expect_reject("dev/fdset/1");
    expect_reject("//dev/fdset/1");
}
END_TEST

/* ---- /dev/fdset/N through qemu_open ---- */

static void expect_open_error(const char *path, int flags, int want_errno,
                              const char *want_msg)
{
    g_autoptr(GError) err = NULL;

    errno = 0;
    ck_assert_int_eq(qemu_open(path, flags, &err), -1);
    ck_assert_int_eq(errno, want_errno);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err->message, want_msg);
    ck_assert_int_eq(error_get_class(err), QMP_ERROR_CLASS_GENERIC_ERROR);
}

START_TEST(test_open_parse_errors)
{
    add_member(1, unit_open("a.img", O_RDONLY));
    expect_open_error("/dev/fdset/", O_RDONLY, EINVAL,
                      "Could not parse fdset /dev/fdset/");
    expect_open_error("/dev/fdset/0x", O_RDONLY, EINVAL,
                      "Could not parse fdset /dev/fdset/0x");
    expect_open_error("/dev/fdset/-1", O_RDONLY, EINVAL,
                      "Could not parse fdset /dev/fdset/-1");
    expect_open_error("/dev/fdset/99999999999999999999", O_RDONLY, EINVAL,
                      "Could not parse fdset /dev/fdset/99999999999999999999");
    expect_open_error("/dev/fdset/1x", O_RDONLY, EINVAL,
                      "Could not parse fdset /dev/fdset/1x");
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

START_TEST(test_open_enoent_eacces_texts)
{
    add_member(1, unit_open("a.img", O_RDONLY));
    add_member(2, unit_open("b.img", O_RDWR));
    expect_open_error("/dev/fdset/7", O_RDONLY, ENOENT,
                      "Could not dup FD for /dev/fdset/7 flags 0: "
                      "No such file or directory");
    expect_open_error("/dev/fdset/1", O_RDWR, EACCES,
                      "Could not dup FD for /dev/fdset/1 flags 2: "
                      "Permission denied");
    expect_open_error("/dev/fdset/2", O_RDONLY, EACCES,
                      "Could not dup FD for /dev/fdset/2 flags 0: "
                      "Permission denied");
    expect_open_error("/dev/fdset/1", O_RDONLY | O_DIRECT, EACCES,
                      "Could not dup FD for /dev/fdset/1 flags 4000: "
                      "Permission denied");
    ck_assert_uint_eq(fdset_count_dups(), 0);
}
END_TEST

START_TEST(test_open_fdset_leading_space)
{
    int fd;

    add_member(1, unit_open("a.img", O_RDONLY));
    fd = qemu_open("/dev/fdset/ 1", O_RDONLY, NULL);
    ck_assert_int_ge(fd, 3);
    ck_assert(fd_is_cloexec(fd));
    ck_assert_uint_eq(fdset_count_dups(), 1);
    ck_assert_int_eq(qemu_close(fd), 0);
    ck_assert_uint_eq(fdset_count_dups(), 0);
    ck_assert(fd_is_closed(fd));
}
END_TEST

START_TEST(test_open_errp_null_keeps_errno)
{
    errno = 0;
    ck_assert_int_eq(qemu_open("/dev/fdset/3", O_RDONLY, NULL), -1);
    ck_assert_int_eq(errno, ENOENT);
    errno = 0;
    ck_assert_int_eq(qemu_open("/dev/fdset/z", O_RDONLY, NULL), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(test_create_fdset_ignores_mode_and_truncates)
{
    g_autofree char *path = unit_file("c.img", NULL);
    struct stat before, after;
    int rw, fd;

    ck_assert(g_file_set_contents(path, "0123456789", -1, NULL));
    rw = open(path, O_RDWR);
    ck_assert_int_eq(fstat(rw, &before), 0);
    add_member(1, rw);
    fd = qemu_create("/dev/fdset/1", O_RDWR | O_EXCL, 0777, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fd_size(fd), 0);
    ck_assert_int_eq(fstat(rw, &after), 0);
    ck_assert_int_eq(after.st_mode, before.st_mode);
    qemu_close(fd);
}
END_TEST

START_TEST(test_create_fdset_error_shows_o_creat)
{
    g_autoptr(GError) err = NULL;

    ck_assert_int_eq(qemu_create("/dev/fdset/5", O_RDWR, 0600, &err), -1);
    ck_assert_str_eq(err->message, "Could not dup FD for /dev/fdset/5 "
                                   "flags 42: No such file or directory");
}
END_TEST

/* ---- plain paths ---- */

START_TEST(test_plain_open_errors)
{
    g_autofree char *missing = g_build_filename(unit_tmpdir(), "nope", NULL);
    g_autofree char *want = NULL;
    g_autoptr(GError) err = NULL;

    want = g_strdup_printf("Could not open '%s': No such file or directory",
                           missing);
    expect_open_error(missing, O_RDONLY, ENOENT, want);
    /* "/dev/fdset" without the slash is an ordinary path */
    expect_open_error("/dev/fdset", O_RDONLY, ENOENT,
                      "Could not open '/dev/fdset': No such file or directory");
    ck_assert_int_eq(qemu_create("/nonexistent-dir/x", O_RDWR, 0600, &err), -1);
    ck_assert_int_eq(errno, ENOENT);
    ck_assert_str_eq(err->message, "Could not create '/nonexistent-dir/x': "
                                   "No such file or directory");
}
END_TEST

START_TEST(test_plain_open_cloexec)
{
    g_autofree char *path = unit_file("a.img", "data");
    int fd = qemu_open(path, O_RDONLY, NULL);

    ck_assert_int_ge(fd, 0);
    ck_assert(fd_is_cloexec(fd));
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    ck_assert_uint_eq(fdset_count_dups(), 0);
    ck_assert_int_eq(qemu_close(fd), 0);
    ck_assert(fd_is_closed(fd));
}
END_TEST

START_TEST(test_create_mode)
{
    g_autofree char *path = g_build_filename(unit_tmpdir(), "new", NULL);
    struct stat st;
    int fd;

    umask(022);
    fd = qemu_create(path, O_RDWR, 0640, NULL);
    ck_assert_int_ge(fd, 0);
    ck_assert(fd_is_cloexec(fd));
    ck_assert_int_eq(fstat(fd, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    qemu_close(fd);
    /* exclusive create of an existing file fails */
    errno = 0;
    ck_assert_int_eq(qemu_create(path, O_RDWR | O_EXCL, 0640, NULL), -1);
    ck_assert_int_eq(errno, EEXIST);
}
END_TEST

/* ---- close ---- */

START_TEST(test_close_untracks_and_frees_set)
{
    int fd;

    add_member(3, unit_open("a.img", O_RDONLY));
    fd = qemu_open("/dev/fdset/3", O_RDONLY, NULL);
    ck_assert(fdset_remove_fd(3, false, 0, NULL));
    ck_assert_uint_eq(fdset_count_sets(), 1); /* alive through the dup */
    ck_assert_int_eq(qemu_close(fd), 0);
    ck_assert_uint_eq(fdset_count_sets(), 0);
    ck_assert(fd_is_closed(fd));
}
END_TEST

START_TEST(test_close_errno)
{
    errno = 0;
    ck_assert_int_eq(qemu_close(-1), -1);
    ck_assert_int_eq(errno, EBADF);
    errno = 0;
    ck_assert_int_eq(qemu_close(4000), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

START_TEST(test_close_fd_quietly)
{
    int fd = unit_open("a.img", O_RDONLY);

    errno = ERANGE;
    qemu_close_fd_quietly(fd);
    ck_assert_int_eq(errno, ERANGE);
    ck_assert(fd_is_closed(fd));
    errno = ERANGE;
    qemu_close_fd_quietly(-1);
    qemu_close_fd_quietly(fd); /* EBADF, swallowed */
    ck_assert_int_eq(errno, ERANGE);
}
END_TEST

START_TEST(test_auto_fd)
{
    int seen;

    add_member(1, unit_open("a.img", O_RDONLY));
    {
        QEMU_AUTO_FD int fd = qemu_open("/dev/fdset/1", O_RDONLY, NULL);

        seen = fd;
        ck_assert_uint_eq(fdset_count_dups(), 1);
    }
    ck_assert_uint_eq(fdset_count_dups(), 0);
    ck_assert(fd_is_closed(seen));
}
END_TEST

/* ---- error.c ---- */

START_TEST(test_error_classes)
{
    g_autoptr(GError) e1 = NULL;
    g_autoptr(GError) e2 = NULL;
    g_autoptr(GError) other = g_error_new_literal(G_FILE_ERROR, 3, "x");

    ck_assert_str_eq(qmp_error_class_name(0), "GenericError");
    ck_assert_str_eq(qmp_error_class_name(1), "CommandNotFound");
    ck_assert_str_eq(qmp_error_class_name(2), "DeviceNotActive");
    ck_assert_str_eq(qmp_error_class_name(3), "DeviceNotFound");
    ck_assert_str_eq(qmp_error_class_name(4), "KVMMissingCap");
    ck_assert_str_eq(qmp_error_class_name(99), "GenericError");
    ck_assert_str_eq(qmp_error_class_name(-1), "GenericError");
    error_set(&e1, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
              "The command %s has not been found", "foo");
    ck_assert_str_eq(e1->message, "The command foo has not been found");
    ck_assert_int_eq(error_get_class(e1), QMP_ERROR_CLASS_COMMAND_NOT_FOUND);
    ck_assert_int_eq(error_get_class(other), QMP_ERROR_CLASS_GENERIC_ERROR);
    errno = EPIPE;
    error_setg_errno(&e2, ENOENT, "Could not open '%s'", "x");
    ck_assert_int_eq(errno, EPIPE);
    ck_assert_str_eq(e2->message,
                     "Could not open 'x': No such file or directory");
    error_setg(NULL, "ignored %d", 1);
}
END_TEST

static Suite *osdep_suite(void)
{
    Suite *s = suite_create("osdep");
    TCase *parse = tcase_create("parse");
    TCase *open_ = tcase_create("open");
    TCase *close_ = tcase_create("close");
    TCase *err = tcase_create("error");
    TCase *all[] = {parse, open_, close_, err};

    for (guint i = 0; i < G_N_ELEMENTS(all); i++) {
        tcase_add_checked_fixture(all[i], setup, teardown);
        suite_add_tcase(s, all[i]);
    }
    tcase_add_test(parse, test_parse_accepts);
    tcase_add_test(parse, test_parse_rejects);
    tcase_add_test(open_, test_open_parse_errors);
    tcase_add_test(open_, test_open_enoent_eacces_texts);
    tcase_add_test(open_, test_open_fdset_leading_space);
    tcase_add_test(open_, test_open_errp_null_keeps_errno);
    tcase_add_test(open_, test_create_fdset_ignores_mode_and_truncates);
    tcase_add_test(open_, test_create_fdset_error_shows_o_creat);
    tcase_add_test(open_, test_plain_open_errors);
    tcase_add_test(open_, test_plain_open_cloexec);
    tcase_add_test(open_, test_create_mode);
    tcase_add_test(close_, test_close_untracks_and_frees_set);
    tcase_add_test(close_, test_close_errno);
    tcase_add_test(close_, test_close_fd_quietly);
    tcase_add_test(close_, test_auto_fd);
    tcase_add_test(err, test_error_classes);
    return s;
}

int main(void)
{
    return unit_run(osdep_suite());
}
