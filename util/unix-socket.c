/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Binding unix stream sockets: see include/qemu/unix-socket.h.
 */
#include "qemu/unix-socket.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/osdep.h"

/* The address and its length for @spec; false with errp if it does not
 * fit.  A file path may fill sun_path without a NUL (as QEMU allows);
 * an abstract name has the leading NUL byte in front. */
static bool fill_address(const UnixSocketSpec *spec, struct sockaddr_un *sun,
                         socklen_t *len, GError **errp)
{
    size_t plen = strlen(spec->path);
    size_t room = sizeof(sun->sun_path) - (spec->abstract ? 1 : 0);

    if (plen > room) {
        error_setg(errp, "UNIX socket path '%s' is too long", spec->path);
        return false;
    }
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path + (spec->abstract ? 1 : 0), spec->path, plen);
    if (spec->abstract) {
        *len = spec->tight ? offsetof(struct sockaddr_un, sun_path) + 1 + plen
                           : sizeof(*sun);
    } else {
        *len = offsetof(struct sockaddr_un, sun_path) +
               MIN(plen + 1, sizeof(sun->sun_path));
    }
    return true;
}

/* Make room at @path as @stale says. */
static bool clear_path(const char *path, UnixSocketStale stale, GError **errp)
{
    struct stat st;

    if (stale == UNIX_SOCKET_STALE_UNLINK) {
        (void)unlink(path); /* ENOENT is the usual case */
        return true;
    }
    if (lstat(path, &st) < 0) {
        if (errno == ENOENT) {
            return true;
        }
        error_setg_errno(errp, errno, "Failed to stat socket path '%s'", path);
        return false;
    }
    if (!S_ISSOCK(st.st_mode)) {
        error_setg(errp, "'%s' exists and is not a socket; not replacing it",
                   path);
        return false;
    }
    if (unlink(path) < 0) {
        error_setg_errno(errp, errno, "Failed to unlink socket '%s'", path);
        return false;
    }
    return true;
}

int unix_socket_bind(const UnixSocketSpec *spec, GError **errp)
{
    QEMU_AUTO_RAW_FD int fd = -1;
    struct sockaddr_un sun;
    mode_t old_umask = 0;
    socklen_t len;
    int ret;

    if (!fill_address(spec, &sun, &len, errp) ||
        (!spec->abstract && !clear_path(spec->path, spec->stale, errp))) {
        return -1;
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | spec->sock_flags, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return -1;
    }
    if (spec->has_mode) {
        old_umask = umask(0777 & ~spec->mode);
    }
    ret = bind(fd, (struct sockaddr *)&sun, len);
    if (spec->has_mode) {
        umask(old_umask);
    }
    if (ret < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s",
                         spec->path);
        return -1;
    }
    return g_steal_fd(&fd);
}
