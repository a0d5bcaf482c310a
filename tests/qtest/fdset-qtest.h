/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers shared by the fdset qtests (fdset-test.c, fdset-lifetime-test.c):
 * a daemon with one negotiated connection and two scratch files, the
 * closing registry check, add-fd and query shortcuts.  Header-only: each
 * qtest is one .c file.
 */
#ifndef FDSET_QTEST_H
#define FDSET_QTEST_H

#include <check.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libqtest.h"

#define NO_FD "No file descriptor supplied via SCM_RIGHTS"

typedef struct Fixture {
    QTestState *s;
    QTestConn *c;
} Fixture;

static inline Fixture start(const char *args)
{
    Fixture f;

    f.s = qtest_spawn(args);
    f.c = qtest_connect(f.s, 0);
    g_free(qtest_make_file(f.s, "a.img", 4096, 'a'));
    g_free(qtest_make_file(f.s, "b.img", 4096, 'b'));
    return f;
}

static inline void finish(Fixture *f, guint extra)
{
    qtest_assert_fds_match_registry(f->s, f->c, extra);
    ck_assert_int_eq(qtest_quit(f->s), 0);
}

/* Open a scratch file; closed by the caller. */
static inline int open_img(Fixture *f, const char *name, int flags)
{
    return qtest_open_file(f->s, name, flags);
}

static inline JsonNode *query(QTestConn *c)
{
    return qtest_query_fdsets(c);
}

static inline void assert_summary(QTestConn *c, const char *want)
{
    g_autofree char *got = qtest_fdsets_summary(c);

    ck_assert_msg(g_str_equal(got, want), "query-fdsets is %s, expected %s",
                  got, want);
}

/* Is daemon fd @dfd the scratch file @name? */
static inline bool daemon_fd_is(Fixture *f, int dfd, const char *name)
{
    g_autofree char *path = g_build_filename(qtest_tmpdir(f->s), name, NULL);
    struct stat a, b;

    return qtest_fd_stat(f->s, dfd, &a) && stat(path, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static inline int add_fd_ok(Fixture *f, const char *name, int flags, int64_t id,
                            const char *opaque, int64_t *out_set)
{
    int fd = open_img(f, name, flags);
    int dfd = qtest_add_fd(f->c, fd, id, opaque, out_set);

    close(fd);
    return dfd;
}

#endif
