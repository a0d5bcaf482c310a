/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The service manager's side channels, as systemd documents them
 * (sd_listen_fds(3), sd_notify(3)), implemented here without libsystemd.
 *
 * Socket activation: the manager passes listening sockets as fds 3, 4, ...
 * and says so in LISTEN_PID (the pid they are meant for), LISTEN_FDS (how
 * many) and LISTEN_FDNAMES (their names, colon-separated).
 *
 * Readiness: NOTIFY_SOCKET names a datagram socket (a path, or "@name" in
 * the abstract namespace) to which the daemon sends newline-separated
 * "VAR=value" assignments: READY=1, STATUS=..., STOPPING=1.  The socket is
 * opened and connected once, before any sandbox: after that only send() on
 * the connected fd is needed, which --sandbox on still allows (it refuses
 * socket(), connect() and sendto() with an address).
 *
 * Both read their variables once and remove them from the environment, so
 * that no child inherits a claim meant for this process.
 */
#ifndef QEMU_SD_DAEMON_H
#define QEMU_SD_DAEMON_H

#include <glib.h>
#include <stdbool.h>
#include <sys/types.h>

/* The first passed fd (SD_LISTEN_FDS_START). */
#define SYSTEMD_LISTEN_FDS_START 3
/* More than this many passed fds is refused as malformed. */
#define SYSTEMD_LISTEN_FDS_MAX 1024

/*
 * Parse the three variables' values (each may be NULL: unset) for process
 * @self.  Not for us (LISTEN_PID unset or another pid, LISTEN_FDS unset):
 * *@n = 0, *@names = NULL, true.  For us: *@n fds and *@names a
 * NULL-terminated array of @n names (g_strfreev), "" for an fd without a
 * name.  Malformed values are an error: LISTEN_PID or LISTEN_FDS not a
 * number (LISTEN_PID not positive), more than SYSTEMD_LISTEN_FDS_MAX fds,
 * LISTEN_FDNAMES set with another number of names than there are fds.
 */
bool systemd_listen_parse(const char *listen_pid, const char *listen_fds,
                          const char *listen_fdnames, pid_t self, guint *n,
                          char ***names, GError **errp);

/*
 * Take the sockets passed to this process: reads and unsets LISTEN_PID,
 * LISTEN_FDS and LISTEN_FDNAMES (always, also when they are not for us or
 * malformed), checks that fds 3 .. 3+n-1 are open and marks them
 * FD_CLOEXEC.  Returns n (0: none passed) and the names as
 * systemd_listen_parse() does; the caller owns fds 3 .. 3+n-1 from then on.
 * -1 with @errp set when the variables are malformed or an fd is not open
 * (no fd is touched then).
 */
int systemd_listen_fds_take(char ***names, GError **errp);

/*
 * Read and unset NOTIFY_SOCKET, and when it was set, open a CLOEXEC
 * datagram socket connected to it.  Unset or empty: nothing to do, true.
 * False with @errp set when the address is not a unix path or abstract
 * name or the socket cannot be reached; notifications are then off.
 */
bool systemd_notify_open(GError **errp);

/* Whether systemd_notify_open() connected a socket. */
bool systemd_notify_enabled(void);

/*
 * Send @state ("READY=1\nSTATUS=Serving"...) as one datagram.  Does nothing
 * when notifications are off.  Best effort: a failure (the manager gone,
 * its queue full for more than a second) is reported through @errp and
 * changes nothing else.
 */
bool systemd_notify(const char *state, GError **errp);

/* systemd_notify() of a formatted state; errors are ignored. */
void systemd_notifyf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Close the notification socket (notifications are off from then on). */
void systemd_notify_close(void);

#endif
