/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Socket activation and readiness notification, the documented protocol of
 * sd_listen_fds(3) and sd_notify(3).  See include/qemu/sd-daemon.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/osdep.h"
#include "qemu/sd-daemon.h"

/* How long a notification may wait for room in the manager's queue. */
#define NOTIFY_SEND_TIMEOUT_S 1

static int notify_fd = -1;

static bool parse_number(const char *var, const char *text, guint64 min,
                         guint64 max, guint64 *out, GError **errp)
{
    if (!g_ascii_string_to_unsigned(text, 10, min, max, out, NULL)) {
        error_setg(errp, "%s='%s' is not a number from %" G_GUINT64_FORMAT
                   " to %" G_GUINT64_FORMAT, var, text, min, max);
        return false;
    }
    return true;
}

/* LISTEN_FDNAMES split into exactly @n names (all "" when unset or empty:
 * one empty name and none at all mean the same, unnamed). */
static char **parse_names(const char *text, guint n, GError **errp)
{
    g_auto(GStrv) names = NULL;

    if (!text || !*text) {
        names = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++) {
            names[i] = g_strdup("");
        }
        return g_steal_pointer(&names);
    }
    names = g_strsplit(text, ":", -1);
    if (g_strv_length(names) != n) {
        error_setg(errp, "LISTEN_FDNAMES='%s' names %u socket%s but "
                   "LISTEN_FDS=%u", text, g_strv_length(names),
                   g_strv_length(names) == 1 ? "" : "s", n);
        return NULL;
    }
    return g_steal_pointer(&names);
}

bool systemd_listen_parse(const char *listen_pid, const char *listen_fds,
                          const char *listen_fdnames, pid_t self, guint *n,
                          char ***names, GError **errp)
{
    guint64 pid, count;

    *n = 0;
    *names = NULL;
    if (!listen_pid || !listen_fds) {
        return true;
    }
    if (!parse_number("LISTEN_PID", listen_pid, 1, G_MAXINT32, &pid, errp)) {
        return false;
    }
    if ((pid_t)pid != self) {
        return true; /* meant for another process, which passed them on */
    }
    if (!parse_number("LISTEN_FDS", listen_fds, 0, SYSTEMD_LISTEN_FDS_MAX,
                      &count, errp)) {
        return false;
    }
    *names = parse_names(listen_fdnames, count, errp);
    if (!*names) {
        return false;
    }
    *n = count;
    return true;
}

int systemd_listen_fds_take(char ***names, GError **errp)
{
    g_autofree char *pid = g_strdup(g_getenv("LISTEN_PID"));
    g_autofree char *fds = g_strdup(g_getenv("LISTEN_FDS"));
    g_autofree char *fdnames = g_strdup(g_getenv("LISTEN_FDNAMES"));
    g_auto(GStrv) parsed = NULL;
    guint n;

    *names = NULL;
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    if (!systemd_listen_parse(pid, fds, fdnames, getpid(), &n, &parsed,
                              errp)) {
        return -1;
    }
    for (guint i = 0; i < n; i++) {
        if (fcntl(SYSTEMD_LISTEN_FDS_START + i, F_GETFD) < 0) {
            error_setg_errno(errp, errno, "LISTEN_FDS=%u: fd %u", n,
                             SYSTEMD_LISTEN_FDS_START + i);
            return -1;
        }
    }
    /* Ours from here on, and not to be inherited by anything we exec. */
    for (guint i = 0; i < n; i++) {
        fcntl(SYSTEMD_LISTEN_FDS_START + i, F_SETFD, FD_CLOEXEC);
    }
    *names = g_steal_pointer(&parsed);
    return n;
}

/* Fill @sa from NOTIFY_SOCKET's value: "/path" or "@abstract". */
static bool notify_address(const char *text, struct sockaddr_un *sa,
                           socklen_t *len, GError **errp)
{
    size_t n = strlen(text);

    *sa = (struct sockaddr_un){ .sun_family = AF_UNIX };
    if ((text[0] != '/' && text[0] != '@') || n < 2) {
        error_setg(errp, "NOTIFY_SOCKET='%s': only a socket path or an "
                   "@abstract name is supported", text);
        return false;
    }
    if (n > sizeof(sa->sun_path)) {
        error_setg(errp, "NOTIFY_SOCKET='%s': address too long", text);
        return false;
    }
    memcpy(sa->sun_path, text, n);
    if (text[0] == '@') {
        sa->sun_path[0] = '\0'; /* abstract: no terminator counted */
        *len = offsetof(struct sockaddr_un, sun_path) + n;
    } else {
        *len = offsetof(struct sockaddr_un, sun_path) + n + 1;
        if (n == sizeof(sa->sun_path)) {
            error_setg(errp, "NOTIFY_SOCKET='%s': address too long", text);
            return false;
        }
    }
    return true;
}

bool systemd_notify_open(GError **errp)
{
    g_autofree char *addr = g_strdup(g_getenv("NOTIFY_SOCKET"));
    struct timeval tv = { .tv_sec = NOTIFY_SEND_TIMEOUT_S };
    QEMU_AUTO_RAW_FD int fd = -1;
    struct sockaddr_un sa;
    socklen_t len;

    g_unsetenv("NOTIFY_SOCKET");
    systemd_notify_close();
    if (!addr || !*addr) {
        return true;
    }
    if (!notify_address(addr, &sa, &len, errp)) {
        return false;
    }
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "NOTIFY_SOCKET: socket");
        return false;
    }
    if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
        error_setg_errno(errp, errno, "NOTIFY_SOCKET='%s'", addr);
        return false;
    }
    /* A manager that does not read must not hold the daemon up for long. */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    notify_fd = g_steal_fd(&fd);
    return true;
}

bool systemd_notify_enabled(void)
{
    return notify_fd >= 0;
}

bool systemd_notify(const char *state, GError **errp)
{
    ssize_t n;

    if (notify_fd < 0) {
        return true;
    }
    do {
        n = send(notify_fd, state, strlen(state), MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        error_setg_errno(errp, errno, "Could not notify the service manager");
        return false;
    }
    return true;
}

void systemd_notifyf(const char *fmt, ...)
{
    g_autofree char *state = NULL;
    va_list ap;

    if (notify_fd < 0) {
        return;
    }
    va_start(ap, fmt);
    state = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    systemd_notify(state, NULL);
}

void systemd_notify_close(void)
{
    qemu_close_fd_quietly(notify_fd);
    notify_fd = -1;
}
