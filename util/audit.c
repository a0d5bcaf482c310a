/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit trail of fdset events, one structured line per event.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "qemu/audit.h"
#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

static GMutex audit_lock;
static int audit_fd = -1;
static bool audit_fd_owned;
static bool audit_registered;

static void append_escaped(GString *s, const char *str)
{
    g_string_append_c(s, '"');
    for (const guchar *p = (const guchar *)str; *p; p++) {
        if (*p == '"' || *p == '\\') {
            g_string_append_printf(s, "\\%c", *p);
        } else if (*p < 0x20 || *p >= 0x7f) {
            g_string_append_printf(s, "\\x%02x", *p);
        } else {
            g_string_append_c(s, *p);
        }
    }
    g_string_append_c(s, '"');
}

static void append_time(GString *s, gint64 realtime_us)
{
    g_autoptr(GDateTime) dt =
        g_date_time_new_from_unix_utc(realtime_us / G_USEC_PER_SEC);
    g_autofree char *t = dt ? g_date_time_format(dt, "%Y-%m-%dT%H:%M:%S")
                            : g_strdup("1970-01-01T00:00:00");

    g_string_append_printf(s, "time=%s.%03dZ", t,
                           (int)(realtime_us % G_USEC_PER_SEC / 1000));
}

static void append_fields(GString *s, const FdSetEvent *ev)
{
    switch (ev->kind) {
    case FDSET_EVENT_FD_ADDED:
        g_string_append_printf(s, " event=add fdset=%" G_GINT64_FORMAT " fd=%d",
                               ev->fdset_id, ev->fd);
        if (ev->opaque) {
            g_string_append(s, " opaque=");
            append_escaped(s, ev->opaque);
        }
        if (ev->other_file) {
            g_string_append(s, " other-file=yes");
        }
        break;
    case FDSET_EVENT_FD_REMOVED:
        g_string_append_printf(
            s, " event=remove fdset=%" G_GINT64_FORMAT " fd=%d reason=%s",
            ev->fdset_id, ev->fd, fdset_reason_name(ev->reason));
        break;
    case FDSET_EVENT_DUP:
        g_string_append_printf(
            s,
            " event=dup fdset=%" G_GINT64_FORMAT " member=%d flags=0x%x dup=%d",
            ev->fdset_id, ev->fd, (unsigned)ev->flags, ev->dup_fd);
        break;
    case FDSET_EVENT_RELEASE:
        g_string_append_printf(
            s, " event=release fdset=%" G_GINT64_FORMAT " dup=%d", ev->fdset_id,
            ev->dup_fd);
        break;
    case FDSET_EVENT_FREED:
        g_string_append_printf(s, " event=free fdset=%" G_GINT64_FORMAT,
                               ev->fdset_id);
        break;
    }
}

char *audit_format_event(const FdSetEvent *ev, gint64 realtime_us)
{
    GString *s = g_string_new("fdsetd-audit: ");

    append_time(s, realtime_us);
    append_fields(s, ev);
    return g_string_free(s, FALSE);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* the trail must never stop the daemon */
        }
        buf += n;
        len -= n;
    }
}

static void audit_listener(const FdSetEvent *ev, void *opaque)
{
    int saved_errno = errno;
    g_autofree char *line = audit_format_event(ev, g_get_real_time());
    g_autofree char *nl = g_strconcat(line, "\n", NULL);

    g_mutex_lock(&audit_lock);
    if (audit_fd >= 0) {
        write_all(audit_fd, nl, strlen(nl));
    }
    g_mutex_unlock(&audit_lock);
    errno = saved_errno;
}

/* Swap in @fd as the trail's output; returns the old one if ours. */
static int audit_swap(int fd, bool owned)
{
    int old;

    g_mutex_lock(&audit_lock);
    old = audit_fd_owned ? audit_fd : -1;
    audit_fd = fd;
    audit_fd_owned = owned;
    g_mutex_unlock(&audit_lock);
    return old;
}

bool audit_open(const char *path, GError **errp)
{
    int fd = STDERR_FILENO;
    bool to_stderr = !path || g_str_equal(path, "-");

    if (!to_stderr) {
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
            error_setg_errno(errp, errno, "Could not open audit log '%s'",
                             path);
            return false;
        }
    }
    qemu_close_fd_quietly(audit_swap(fd, !to_stderr));
    if (!audit_registered) {
        fdset_add_listener(audit_listener, NULL);
        audit_registered = true;
    }
    return true;
}

void audit_close(void)
{
    if (audit_registered) {
        fdset_remove_listener(audit_listener, NULL);
        audit_registered = false;
    }
    qemu_close_fd_quietly(audit_swap(-1, false));
}
