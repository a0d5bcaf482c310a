/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Image locks on OFD byte ranges, QEMU 7.2's layout: see file-lock.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "block/perm.h"
#include "file-lock.h"
#include "qemu/error.h"

#define LOCK_BASE_PERM 100
#define LOCK_BASE_SHARED 200

static GPtrArray *file_locks; /* FileLock*, every node that holds some */

void file_lock_register(FileLock *l)
{
    if (!file_locks) {
        file_locks = g_ptr_array_new();
    }
    g_ptr_array_add(file_locks, l);
}

void file_lock_unregister(FileLock *l)
{
    if (file_locks) {
        g_ptr_array_remove(file_locks, l);
    }
}

/* Do @a and @b share one open file description (dups of each other)? */
static bool same_description(int a, int b)
{
    struct stat sa, sb;
    pid_t pid = getpid();

    if (a == b) {
        return true;
    }
    if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0 || sa.st_dev != sb.st_dev ||
        sa.st_ino != sb.st_ino) {
        return false;
    }
    return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

static int lock_byte(int fd, int byte, short type)
{
    struct flock fl = {
        .l_type = type,
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
    };

    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Is @byte locked by another open file description? */
static int byte_taken(int fd, int byte)
{
    struct flock fl = {
        .l_type = F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = byte,
        .l_len = 1,
    };

    if (fcntl(fd, F_OFD_GETLK, &fl) < 0) {
        return -errno;
    }
    return fl.l_type != F_UNLCK;
}

bool file_lock_sync(int fd, GError **errp)
{
    uint64_t perm = 0, unshared = 0;

    for (guint i = 0; file_locks && i < file_locks->len; i++) {
        FileLock *l = g_ptr_array_index(file_locks, i);

        if (l->fd >= 0 && same_description(l->fd, fd)) {
            perm |= l->perm;
            unshared |= l->unshared;
        }
    }
    for (int bit = 0; bit < BLK_PERM_COUNT; bit++) {
        uint64_t m = 1ULL << bit;
        int ret = lock_byte(fd, LOCK_BASE_PERM + bit,
                            perm & m ? F_RDLCK : F_UNLCK);

        if (ret == 0) {
            ret = lock_byte(fd, LOCK_BASE_SHARED + bit,
                            unshared & m ? F_RDLCK : F_UNLCK);
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to lock byte %d",
                             LOCK_BASE_PERM + bit);
            return false;
        }
    }
    return true;
}

static bool check_bytes(int fd, uint64_t bits, int base, const char *fmt,
                        GError **errp)
{
    for (int bit = 0; bit < BLK_PERM_COUNT; bit++) {
        g_autofree char *name = NULL;
        int ret;

        if (!(bits & (1ULL << bit))) {
            continue;
        }
        ret = byte_taken(fd, base + bit);
        if (ret == 0) {
            continue;
        }
        if (ret < 0) {
            error_setg_errno(errp, -ret, "Failed to get lock byte %d",
                             base + bit);
            return false;
        }
        name = bdrv_perm_names(1ULL << bit);
        error_setg(errp, fmt, name);
        return false;
    }
    return true;
}

bool file_lock_check(int fd, uint64_t perm, uint64_t shared, GError **errp)
{
    /* what we use must not be unshared elsewhere, and the reverse */
    return check_bytes(fd, perm, LOCK_BASE_SHARED, "Failed to get \"%s\" lock",
                       errp) &&
           check_bytes(fd, ~shared & BLK_PERM_ALL, LOCK_BASE_PERM,
                       "Failed to get shared \"%s\" lock", errp);
}
