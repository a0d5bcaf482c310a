/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small helpers shared by the util/ unit tests: temp files and fd checks.
 */
#ifndef UNIT_HELPERS_H
#define UNIT_HELPERS_H

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <stdlib.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

static char *unit_dir;
static pid_t unit_dir_pid;

static void unit_tmpdir_cleanup(void)
{
    GDir *d;
    const char *name;

    if (!unit_dir || unit_dir_pid != getpid()) {
        return;
    }
    d = g_dir_open(unit_dir, 0, NULL);
    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(unit_dir, name, NULL);

        unlink(path);
    }
    if (d) {
        g_dir_close(d);
    }
    rmdir(unit_dir);
}

/* A fresh temp directory for this process, removed at exit. */
static inline char *unit_tmpdir(void)
{
    if (!unit_dir || unit_dir_pid != getpid()) {
        unit_dir = g_dir_make_tmp("fdsetd-unit-XXXXXX", NULL);
        ck_assert_ptr_nonnull(unit_dir);
        if (!unit_dir_pid) {
            atexit(unit_tmpdir_cleanup);
        }
        unit_dir_pid = getpid();
    }
    return unit_dir;
}

/* Path of temp file @name (created with @content if missing). */
static inline char *unit_file(const char *name, const char *content)
{
    char *path = g_build_filename(unit_tmpdir(), name, NULL);

    if (!g_file_test(path, G_FILE_TEST_EXISTS)) {
        ck_assert(g_file_set_contents(path, content ? content : "", -1, NULL));
    }
    return path;
}

/* open() temp file @name with @flags (never CLOEXEC unless asked). */
static inline int unit_open(const char *name, int flags)
{
    g_autofree char *path = unit_file(name, "data");
    int fd = open(path, flags);

    ck_assert_msg(fd >= 0, "open %s: %s", path, g_strerror(errno));
    return fd;
}

static inline bool fd_is_closed(int fd)
{
    return fcntl(fd, F_GETFD) == -1 && errno == EBADF;
}

static inline bool fd_is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    return fl >= 0 && (fl & FD_CLOEXEC);
}

static inline off_t fd_size(int fd)
{
    struct stat st;

    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_size;
}

static inline ino_t fd_ino(int fd)
{
    struct stat st;

    ck_assert_int_eq(fstat(fd, &st), 0);
    return st.st_ino;
}

/* Run @s and return the process exit status. */
static inline int unit_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

#endif
