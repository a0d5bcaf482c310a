/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP server, as main() sees it.
 */
#ifndef MONITOR_MONITOR_H
#define MONITOR_MONITOR_H

#include <glib.h>
#include <stdbool.h>

typedef struct MonitorLimits {
    guint max_fds_per_message;  /* fds that may come with one command */
    gsize max_message_size;     /* bytes of one JSON message */
    guint max_json_depth;       /* nesting of one JSON message */
    guint max_connections;      /* connections at once, all sockets */
    gsize max_output_backlog;   /* unsent bytes before a client is dropped */
} MonitorLimits;

/* Defaults, before any option changes them. */
void monitor_default_limits(MonitorLimits *out);

/*
 * Set up the monitor layer: limits, whether add-fd members outlive their
 * connection by default (QEMU 9.1 behaviour), and whether every negotiated
 * connection gets FDSET_* events without asking for the "fdset-events"
 * capability.  Call once, before adding sockets.
 */
void monitor_init(const MonitorLimits *limits, bool persistent_default,
                  bool fdset_events_default);
void monitor_get_limits(MonitorLimits *out);

/*
 * -qmp unix:PATH,server=on,wait=off[,mode=0600][,peer-uid=UID[:UID...]]
 * Binds the socket now (an existing socket file is replaced, any other file
 * is an error).
 */
bool monitor_add_qmp(const char *spec, GError **errp);

/*
 * A QMP monitor on @fd, a listening unix stream socket someone else bound
 * (socket activation).  Takes ownership of @fd, also on failure.  The
 * socket is made non-blocking; its file is never removed.  Errors: @fd is
 * not a socket, not a unix stream socket, or not listening.
 */
bool monitor_add_qmp_fd(int fd, GError **errp);

/* --chardev socket,id=ID,path=PATH,server=on,wait=off[,...] */
bool monitor_add_chardev(const char *spec, GError **errp);
/* --monitor chardev=ID[,mode=control] */
bool monitor_add_monitor(const char *spec, GError **errp);

/* Start accepting on every socket (after -add-fd and --blockdev). */
void monitor_start(void);

/* True once a client asked to quit; the main loop then ends. */
bool monitor_quit_requested(void);
/* Why the daemon stops: "host-qmp-quit", "host-signal". */
void monitor_request_shutdown(const char *reason);

/* Close every connection (their owners released) and every socket. */
void monitor_cleanup(void);

/* The socket files this process created (NULL-terminated, g_strfreev). */
char **monitor_socket_paths(void);

#endif
