/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -add-fd: put a dup of an inherited fd into an fdset at start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/fdset-cmdline.h"
#include "qemu/fdset.h"
#include "qemu/keyval.h"
#include "qemu/osdep.h"

static const KeyvalDesc add_fd_desc[] = {
    {"fd", KEYVAL_NUMBER},
    {"set", KEYVAL_NUMBER},
    {"opaque", KEYVAL_STRING},
    {NULL},
};

/* Originals to close once every -add-fd was handled. */
static GArray *originals;

static void remember_original(int fd)
{
    if (!originals) {
        originals = g_array_new(FALSE, FALSE, sizeof(int));
    }
    for (guint i = 0; i < originals->len; i++) {
        if (g_array_index(originals, int, i) == fd) {
            return;
        }
    }
    g_array_append_val(originals, fd);
}

/* The inherited fd, checked; -1 with errp set. */
static int add_fd_source(const Keyval *kv, GError **errp)
{
    uint64_t num;
    int fd, fl;

    keyval_get_number(kv, "fd", (uint64_t)-1, &num, NULL);
    fd = (int)num; /* QEMU truncates to int */
    if (fd < 0) {
        error_setg(errp, "fd option is required and must be non-negative");
        return -1;
    }
    if (fd <= STDERR_FILENO) {
        error_setg(errp, "fd cannot be a standard I/O stream");
        return -1;
    }
    fl = fcntl(fd, F_GETFD);
    if (fl == -1 || (fl & FD_CLOEXEC)) {
        /* inherited fds have it clear; ours all have it set */
        error_setg(errp, "fd is not valid or already in use");
        return -1;
    }
    return fd;
}

bool fdset_cmdline_check(const char *optarg, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(optarg, NULL);

    return keyval_validate(kv, add_fd_desc, errp);
}

bool fdset_cmdline_add_fd(const char *optname, const char *optarg,
                          GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(optarg, NULL);
    uint64_t set;
    int fd, dupfd;

    if (!keyval_validate(kv, add_fd_desc, errp)) {
        return false;
    }
    fd = add_fd_source(kv, errp);
    if (fd < 0) {
        return false;
    }
    keyval_get_number(kv, "set", (uint64_t)-1, &set, NULL);
    if ((int64_t)set < 0) {
        error_setg(errp, "set option is required and must be non-negative");
        return false;
    }
    dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0) {
        error_setg(errp, "error duplicating fd: %s", g_strerror(errno));
        return false;
    }
    /* the registry owns dupfd from here, also on failure */
    if (!fdset_add_fd(true, (int64_t)set, dupfd, keyval_get(kv, "opaque"),
                      FDSET_OWNER_PROCESS, NULL, errp)) {
        return false;
    }
    remember_original(fd);
    return true;
}

void fdset_cmdline_close_originals(void)
{
    if (!originals) {
        return;
    }
    for (guint i = 0; i < originals->len; i++) {
        qemu_close_fd_quietly(g_array_index(originals, int, i));
    }
    g_array_free(originals, TRUE);
    originals = NULL;
}

void fdset_cmdline_report_error(const char *prog, const char *optname,
                                const char *optarg, const GError *err)
{
    fprintf(stderr, "%s: %s %s: %s\n", prog, optname, optarg,
            err ? err->message : "unknown error");
}
