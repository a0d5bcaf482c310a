/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu_open() and friends: every path fdsetd opens goes through here, and
 * /dev/fdset/N is served from the fdset registry.  Error texts are QEMU
 * 7.2's.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

bool qemu_parse_fdset_path(const char *name, int64_t *fdset_id)
{
    const char *suffix;
    char *end;
    long val;

    if (!name || !g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        return false;
    }
    suffix = name + strlen(FDSET_PATH_PREFIX);
    errno = 0;
    val = strtol(suffix, &end, 10);
    if (end == suffix || *end != '\0' || errno == ERANGE || val < 0 ||
        val > INT_MAX) {
        return false;
    }
    *fdset_id = val;
    return true;
}

static int open_fdset(const char *name, int flags, GError **errp)
{
    int64_t fdset_id;
    int fd;

    if (!qemu_parse_fdset_path(name, &fdset_id)) {
        error_setg(errp, "Could not parse fdset %s", name);
        errno = EINVAL;
        return -1;
    }
    fd = fdset_dup_fd(fdset_id, flags, NULL);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Could not dup FD for %s flags %x", name,
                         flags);
        return -1;
    }
    return fd;
}

/* QEMU explains an O_DIRECT refusal: does the open work without it? */
static bool o_direct_unsupported(const char *name, int flags, mode_t mode)
{
    int fd;

    if (!(flags & O_DIRECT)) {
        return false;
    }
    fd = open(name,
              (flags & ~(O_DIRECT | O_CREAT | O_TRUNC | O_EXCL)) | O_CLOEXEC,
              mode);
    if (fd < 0) {
        return false;
    }
    qemu_close_fd_quietly(fd);
    return true;
}

static int open_internal(const char *name, int flags, mode_t mode,
                         GError **errp)
{
    const char *action = flags & O_CREAT ? "create" : "open";
    int fd;

    if (g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        return open_fdset(name, flags, errp);
    }
    fd = open(name, flags | O_CLOEXEC, mode);
    if (fd >= 0) {
        return fd;
    }
    if (errno == EINVAL && o_direct_unsupported(name, flags, mode)) {
        error_setg(errp,
                   "Could not %s '%s': filesystem does not support "
                   "O_DIRECT",
                   action, name);
        errno = EINVAL;
        return -1;
    }
    error_setg_errno(errp, errno, "Could not %s '%s'", action, name);
    return -1;
}

int qemu_open(const char *name, int flags, GError **errp)
{
    g_assert(!(flags & O_CREAT)); /* use qemu_create() */
    return open_internal(name, flags, 0, errp);
}

int qemu_create(const char *name, int flags, mode_t mode, GError **errp)
{
    return open_internal(name, flags | O_CREAT, mode, errp);
}

int qemu_close(int fd)
{
    fdset_release_dup(fd);
    return close(fd);
}

void qemu_close_fd_quietly(int fd)
{
    int saved_errno = errno;

    if (fd >= 0) {
        close(fd); /* on Linux the fd is gone even on EINTR */
    }
    errno = saved_errno;
}
