/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdsetd under a service manager: the sockets it passes (socket
 * activation) and what the daemon tells it (sd_notify).  Used by main()
 * only; see util/sd-daemon.c for the protocol.
 *
 * Passed sockets, by their LISTEN_FDNAMES name:
 *   "qmp", or no name ("", "unknown", or systemd's default, the socket
 *   unit's name "*.socket")  a QMP monitor (any number of them)
 *   "nbd"                    the NBD server's listening socket (at most one)
 * Any other name is a start-up error.
 */
#ifndef FDSETD_SERVICE_H
#define FDSETD_SERVICE_H

#include <glib.h>
#include <stdbool.h>

/*
 * First thing at start-up, before -add-fd is carried out: take the passed
 * sockets (FD_CLOEXEC from here, so -add-fd refuses their numbers) and
 * open the notification socket.  LISTEN_* and NOTIFY_SOCKET leave the
 * environment.  False with @errp set when the passed sockets are
 * malformed or misnamed; a notification socket that cannot be reached only
 * warns (the daemon runs, unnotified).
 */
bool service_init(GError **errp);

/* Number of passed sockets that become QMP monitors. */
guint service_qmp_socket_count(void);

/*
 * After monitor_init() and bdrv_init(), before monitor_start(): the passed
 * QMP sockets become monitors, the "nbd" one the NBD server's listener.
 * Every passed fd is owned elsewhere or closed afterwards, also on failure.
 */
bool service_start_sockets(GError **errp);

/*
 * Everything listens: READY=1 and a STATUS= line saying what is served.
 * @n_monitors counts every QMP socket, passed or bound; @sandbox is the
 * sandbox description, NULL when off; @daemonized adds MAINPID=.
 */
void service_notify_ready(guint n_monitors, const char *sandbox,
                          bool daemonized);

/* STOPPING=1, with why ("quit command", "SIGTERM") in STATUS=. */
void service_notify_stopping(const char *why);

/* Close what service_init() opened and service_start_sockets() left. */
void service_cleanup(void);

#endif
