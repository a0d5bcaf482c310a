/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdsetd under a service manager: passed sockets and notifications.  See
 * fdsetd-service.h.
 */
#include <string.h>
#include <unistd.h>

#include "fdsetd-service.h"
#include "monitor/monitor.h"
#include "nbd/nbd.h"
#include "qemu/error.h"
#include "qemu/osdep.h"
#include "qemu/sd-daemon.h"

typedef enum PassedKind {
    PASSED_QMP,
    PASSED_NBD,
} PassedKind;

/* fds SYSTEMD_LISTEN_FDS_START + i, i < n_passed; -1 once handed on. */
static int *passed_fds;
static PassedKind *passed_kinds;
static guint n_passed;
static guint n_passed_qmp;
static bool have_nbd;

/*
 * The NBD server's listening socket.  Takes ownership of @fd, also on
 * failure.
 */
static bool start_nbd_listen_fd(int fd, GError **errp)
{
    return nbd_server_start_listen_fd(fd, errp);
}

/* What the name of a passed socket makes of it. */
static bool classify(const char *name, int fd, PassedKind *kind,
                     GError **errp)
{
    if (!strcmp(name, "nbd")) {
        if (have_nbd) {
            error_setg(errp, "socket activation: fd %d is a second 'nbd' "
                       "socket (the NBD server listens on one)", fd);
            return false;
        }
        have_nbd = true;
        *kind = PASSED_NBD;
        return true;
    }
    if (!strcmp(name, "qmp") || !*name || !strcmp(name, "unknown") ||
        g_str_has_suffix(name, ".socket")) {
        *kind = PASSED_QMP;
        return true;
    }
    error_setg(errp, "socket activation: fd %d is named '%s'; expected "
               "'qmp' or 'nbd' (FileDescriptorName=)", fd, name);
    return false;
}

static void notify_init(void)
{
    g_autoptr(GError) err = NULL;

    if (!systemd_notify_open(&err)) {
        g_warning("%s; not notifying the service manager", err->message);
    }
}

bool service_init(GError **errp)
{
    g_auto(GStrv) names = NULL;
    int n;

    notify_init();
    n = systemd_listen_fds_take(&names, errp);
    if (n < 0) {
        return false;
    }
    n_passed = n;
    passed_fds = g_new(int, n_passed);
    passed_kinds = g_new(PassedKind, n_passed);
    for (guint i = 0; i < n_passed; i++) {
        passed_fds[i] = SYSTEMD_LISTEN_FDS_START + i;
    }
    for (guint i = 0; i < n_passed; i++) {
        if (!classify(names[i], passed_fds[i], &passed_kinds[i], errp)) {
            return false; /* service_cleanup() closes them */
        }
        n_passed_qmp += passed_kinds[i] == PASSED_QMP;
    }
    return true;
}

guint service_qmp_socket_count(void)
{
    return n_passed_qmp;
}

bool service_start_sockets(GError **errp)
{
    for (guint i = 0; i < n_passed; i++) {
        int fd = passed_fds[i];
        bool ok;

        passed_fds[i] = -1; /* both calls take ownership, also on failure */
        if (passed_kinds[i] == PASSED_QMP) {
            ok = monitor_add_qmp_fd(fd, errp);
        } else {
            ok = start_nbd_listen_fd(fd, errp);
        }
        if (!ok) {
            g_prefix_error(errp, "socket activation: ");
            return false;
        }
    }
    return true;
}

static char *ready_status(guint n_monitors, const char *sandbox)
{
    GString *s = g_string_new("STATUS=Serving QMP on ");

    g_string_append_printf(s, "%u socket%s", n_monitors,
                           n_monitors == 1 ? "" : "s");
    if (n_passed_qmp) {
        g_string_append_printf(s, " (%u passed by the service manager)",
                               n_passed_qmp);
    }
    if (have_nbd) {
        g_string_append(s, ", NBD on the passed 'nbd' socket");
    }
    g_string_append_printf(s, "; sandbox %s", sandbox ? sandbox : "off");
    return g_string_free(s, FALSE);
}

void service_notify_ready(guint n_monitors, const char *sandbox,
                          bool daemonized)
{
    g_autofree char *status = NULL;

    if (!systemd_notify_enabled()) {
        return;
    }
    status = ready_status(n_monitors, sandbox);
    if (daemonized) {
        systemd_notifyf("READY=1\n%s\nMAINPID=%d", status, (int)getpid());
    } else {
        systemd_notifyf("READY=1\n%s", status);
    }
}

void service_notify_stopping(const char *why)
{
    systemd_notifyf("STOPPING=1\nSTATUS=Stopping (%s)", why);
}

void service_cleanup(void)
{
    for (guint i = 0; i < n_passed; i++) {
        qemu_close_fd_quietly(passed_fds[i]);
    }
    g_clear_pointer(&passed_fds, g_free);
    g_clear_pointer(&passed_kinds, g_free);
    n_passed = n_passed_qmp = 0;
    have_nbd = false;
    systemd_notify_close();
}
