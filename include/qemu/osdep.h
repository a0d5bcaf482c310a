/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The only way anything in fdsetd opens a path: qemu_open() understands
 * /dev/fdset/N and serves it from the fdset registry.
 */
#ifndef QEMU_OSDEP_H
#define QEMU_OSDEP_H

#include <fcntl.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#define FDSET_PATH_PREFIX "/dev/fdset/"

/*
 * Parse the suffix of a /dev/fdset/ path as QEMU does: strtol base 10, the
 * whole rest consumed, 0..INT_MAX.  Returns false for a path that does not
 * start with the prefix or does not parse.
 */
bool qemu_parse_fdset_path(const char *name, int64_t *fdset_id);

/*
 * Open @name with @flags (O_CLOEXEC is added).  -1 with errno set and errp
 * filled on failure.  The fd must be released with qemu_close().
 */
int qemu_open(const char *name, int flags, GError **errp);
int qemu_create(const char *name, int flags, mode_t mode, GError **errp);

/* Release an fd from qemu_open(): untrack a dup, then close.  Keeps errno. */
int qemu_close(int fd);

/* close() that keeps errno and ignores EINTR; -1 is a no-op. */
void qemu_close_fd_quietly(int fd);

static inline void qemu_auto_fd_cleanup(int *fd)
{
    if (*fd >= 0) {
        qemu_close(*fd);
    }
}

/* Scope-bound fd from qemu_open(), released by qemu_close() at scope exit. */
#define QEMU_AUTO_FD __attribute__((cleanup(qemu_auto_fd_cleanup)))

static inline void qemu_auto_raw_fd_cleanup(int *fd)
{
    qemu_close_fd_quietly(*fd);
}

/* Scope-bound fd that is not from qemu_open() (sockets, received fds). */
#define QEMU_AUTO_RAW_FD __attribute__((cleanup(qemu_auto_raw_fd_cleanup)))

#endif
