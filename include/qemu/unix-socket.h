/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Binding a unix stream socket (util/unix-socket.c), for the QMP monitor
 * and the NBD server: the path checks, the old socket file, abstract
 * names and permissions in one place; each caller picks its policy.
 *
 *   UnixSocketSpec spec = {
 *       .path = path,
 *       .stale = UNIX_SOCKET_STALE_ONLY_SOCKET,
 *       .has_mode = true,
 *       .mode = 0600,
 *   };
 *   int fd = unix_socket_bind(&spec, errp);   // bound, not listening
 */
#ifndef QEMU_UNIX_SOCKET_H
#define QEMU_UNIX_SOCKET_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* What happens to a file already at the socket's path. */
typedef enum UnixSocketStale {
    /* whatever it is, it is unlinked (QEMU's NBD server and chardevs) */
    UNIX_SOCKET_STALE_UNLINK,
    /* a socket is unlinked; anything else is an error, nothing changed */
    UNIX_SOCKET_STALE_ONLY_SOCKET,
} UnixSocketStale;

typedef struct UnixSocketSpec {
    const char *path;      /* a file path, or the abstract name */
    bool abstract;         /* Linux's abstract namespace: no file */
    bool tight;            /* abstract: the address is only as long as the
                            * name (QEMU's default), else sun_path padded */
    UnixSocketStale stale; /* file paths only */
    bool has_mode;         /* false: the file's mode is the umask's */
    mode_t mode;           /* else exactly this, never looser meanwhile */
    int sock_flags;        /* more socket() type flags: SOCK_NONBLOCK */
} UnixSocketSpec;

/*
 * A new SOCK_STREAM | SOCK_CLOEXEC socket bound to @spec's address (not
 * listening yet): the caller owns it.  -1 with errp: "UNIX socket path
 * 'P' is too long", "Failed to create Unix socket", "'P' exists and is not
 * a socket; not replacing it", "Failed to stat socket path 'P'", "Failed
 * to unlink socket 'P'", "Failed to bind socket to P" (with strerror).
 */
int unix_socket_bind(const UnixSocketSpec *spec, GError **errp);

#endif
