/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * unix_socket_bind(): what is done with a file already at the path (each
 * policy), permissions from the start, abstract names tight and padded,
 * the path length limits (QEMU's: a file path may fill sun_path), and the
 * error texts.
 */
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "qemu/error.h"
#include "qemu/unix-socket.h"
#include "unit-helpers.h"

static char *sock_path(const char *name)
{
    return g_build_filename(unit_tmpdir(), name, NULL);
}

static int bind_ok(const UnixSocketSpec *spec)
{
    GError *err = NULL;
    int fd = unix_socket_bind(spec, &err);

    ck_assert_msg(fd >= 0, "bind %s: %s", spec->path, err ? err->message : "?");
    ck_assert(fd_is_cloexec(fd));
    return fd;
}

static void bind_fails(const UnixSocketSpec *spec, const char *want)
{
    GError *err = NULL;

    ck_assert_int_eq(unix_socket_bind(spec, &err), -1);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(err->message, want);
    g_error_free(err);
}

/* A client reaches @fd (listening) at @path: as a file, or abstract. */
static void check_reachable(int fd, const char *path, bool abstract,
                            socklen_t len)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_eq(listen(fd, 1), 0);
    memcpy(sun.sun_path + abstract, path, strlen(path));
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sun, len), 0);
    close(c);
}

static socklen_t file_len(const char *path)
{
    return offsetof(struct sockaddr_un, sun_path) +
           MIN(strlen(path) + 1, sizeof(((struct sockaddr_un *)0)->sun_path));
}

START_TEST(test_mode_and_flags)
{
    g_autofree char *p = sock_path("m.sock");
    UnixSocketSpec spec = {
        .path = p,
        .stale = UNIX_SOCKET_STALE_ONLY_SOCKET,
        .has_mode = true,
        .mode = 0620,
        .sock_flags = SOCK_NONBLOCK,
    };
    mode_t old = umask(0);
    int fd = bind_ok(&spec);
    struct stat st;

    umask(old);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(st.st_mode & 0777, 0620);
    ck_assert(fcntl(fd, F_GETFL) & O_NONBLOCK);
    check_reachable(fd, p, false, file_len(p));
    close(fd);
}
END_TEST

/* Both policies replace a socket left behind (by a daemon that died). */
START_TEST(test_stale_socket_replaced)
{
    g_autofree char *p = sock_path("s.sock");
    UnixSocketSpec spec = {.path = p};

    for (int i = 0; i < 2; i++) {
        int fd;

        spec.stale =
            i ? UNIX_SOCKET_STALE_ONLY_SOCKET : UNIX_SOCKET_STALE_UNLINK;
        close(bind_ok(&spec)); /* the socket file stays */
        fd = bind_ok(&spec);
        check_reachable(fd, p, false, file_len(p));
        close(fd);
    }
}
END_TEST

/* Another file: the monitor's policy keeps it, QEMU's replaces it. */
START_TEST(test_other_file)
{
    g_autofree char *p = unit_file("plain", "keep me");
    g_autofree char *want =
        g_strdup_printf("'%s' exists and is not a socket; not replacing it", p);
    UnixSocketSpec spec = {
        .path = p,
        .stale = UNIX_SOCKET_STALE_ONLY_SOCKET,
    };
    struct stat st;

    bind_fails(&spec, want);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    spec.stale = UNIX_SOCKET_STALE_UNLINK;
    close(bind_ok(&spec));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
}
END_TEST

/* Abstract names: no file; tight (QEMU's default) or padded lengths. */
START_TEST(test_abstract)
{
    g_autofree char *name = g_strdup_printf("fdsetd-unit-%d", getpid());
    UnixSocketSpec spec = {.path = name, .abstract = true, .tight = true};
    socklen_t tight = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name);
    struct sockaddr_un got;
    socklen_t len = sizeof(got);
    int fd = bind_ok(&spec);

    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&got, &len), 0);
    ck_assert_int_eq(len, tight);
    check_reachable(fd, name, true, tight);
    close(fd);
    spec.tight = false;
    fd = bind_ok(&spec);
    len = sizeof(got);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&got, &len), 0);
    ck_assert_int_eq(len, sizeof(struct sockaddr_un));
    check_reachable(fd, name, true, sizeof(struct sockaddr_un));
    close(fd);
}
END_TEST

/* A name of @n bytes: the temp dir, then 'x's. */
static char *path_of_length(size_t n)
{
    GString *s = g_string_new(unit_tmpdir());

    g_string_append_c(s, '/');
    while (s->len < n) {
        g_string_append_c(s, 'x');
    }
    return g_string_free(s, FALSE);
}

START_TEST(test_lengths)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    g_autofree char *full = path_of_length(max);
    g_autofree char *over = path_of_length(max + 1);
    g_autofree char *want = NULL;
    UnixSocketSpec spec = {.path = full, .stale = UNIX_SOCKET_STALE_UNLINK};
    int fd = bind_ok(&spec); /* fills sun_path: no NUL, as QEMU allows */

    check_reachable(fd, full, false, file_len(full));
    close(fd);
    unlink(full);
    want = g_strdup_printf("UNIX socket path '%s' is too long", over);
    spec.path = over;
    bind_fails(&spec, want);
    g_free(want);
    /* abstract: one byte less, for the leading NUL */
    spec.path = full;
    spec.abstract = true;
    want = g_strdup_printf("UNIX socket path '%s' is too long", full);
    bind_fails(&spec, want);
}
END_TEST

START_TEST(test_bind_error_text)
{
    g_autofree char *p = sock_path("no-such-dir/s.sock");
    g_autofree char *want = g_strdup_printf(
        "Failed to bind socket to %s: No such file or directory", p);
    UnixSocketSpec spec = {.path = p, .stale = UNIX_SOCKET_STALE_UNLINK};

    bind_fails(&spec, want);
    spec.stale = UNIX_SOCKET_STALE_ONLY_SOCKET; /* ENOENT: nothing there */
    bind_fails(&spec, want);
}
END_TEST

static Suite *unix_socket_suite(void)
{
    Suite *s = suite_create("unix-socket");
    TCase *tc = tcase_create("bind");

    tcase_add_test(tc, test_mode_and_flags);
    tcase_add_test(tc, test_stale_socket_replaced);
    tcase_add_test(tc, test_other_file);
    tcase_add_test(tc, test_abstract);
    tcase_add_test(tc, test_lengths);
    tcase_add_test(tc, test_bind_error_text);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(unix_socket_suite());
}
