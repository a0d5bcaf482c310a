/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Monitor internals shared by monitor.c (sockets, I/O) and qmp.c (protocol).
 */
#ifndef MONITOR_INTERNAL_H
#define MONITOR_INTERNAL_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "monitor/json-stream.h"
#include "monitor/monitor.h"

typedef struct MonitorServer MonitorServer;

/* A listening socket. */
struct MonitorServer {
    char *id;                 /* chardev id, or NULL for -qmp */
    char *path;               /* or, socket-activated, its address */
    int listen_fd;            /* owned */
    bool activated;           /* passed by the service manager: the path
                               * is the manager's, never unlinked */
    mode_t mode;
    GArray *peer_uids;        /* uid_t allowed; empty: anyone */
    bool is_monitor;          /* has a QMP monitor attached */
    /* getfd name -> fd (owned): as in QEMU they belong to the monitor, so
     * they outlive its connections; closed with the server */
    GHashTable *named_fds;
};

/* server.c: every socket, MonitorServer*, owned. */
extern GPtrArray *monitor_servers;
void monitor_servers_init(void);
void monitor_servers_cleanup(void);

typedef struct MonitorConn {
    int fd;                   /* owned */
    uint64_t owner;           /* fdset owner id of this connection */
    MonitorServer *server;
    JsonStream stream;
    GArray *pending_fds;      /* received, waiting for their command; owned */
    char *pending_fd_error;   /* fds lost for the next command */
    GString *out;             /* unsent output */
    gsize out_off;            /* bytes of @out already sent */
    bool negotiated;
    bool fdset_events;        /* wants FDSET_* events */
    bool reading_paused;      /* output backlog: input waits */
    bool closing;             /* close once output is flushed */
    bool dead;                /* closed, waiting to be freed */
    uint32_t epoll_events;    /* current interest */
} MonitorConn;

extern MonitorLimits monitor_limits;
extern bool monitor_persistent_default;
extern bool monitor_fdset_events_default;

/* Number of connections that want FDSET_* events (any thread may read). */
extern gint monitor_fdset_event_subscribers;
/* The connection's interest in FDSET_* events changes. */
void monitor_conn_set_fdset_events(MonitorConn *conn, bool on);

/* qmp.c */
void monitor_qmp_greet(MonitorConn *conn);
/*
 * Handle one message from the splitter.  Takes ownership of @fds (closes the
 * ones the command does not take).  @fd_error, when set, fails the command.
 */
void monitor_qmp_handle(MonitorConn *conn, JsonStreamStatus status,
                        const char *text, size_t len, GArray *fds,
                        const char *fd_error);
void monitor_qmp_init(void);
/* The connection whose command is running (NULL outside a command). */
MonitorConn *monitor_cur_conn(void);
typedef struct QmpContext QmpContext;
/* SHUTDOWN event with @reason ("host-qmp-quit", "host-signal"). */
void monitor_qmp_emit_shutdown(const char *reason);

/* monitor.c */
void monitor_conn_send(MonitorConn *conn, const char *text, size_t len);
/* One message made of @n pieces, copied once into the output buffer. */
void monitor_conn_sendv(MonitorConn *conn, const GString *const *pieces,
                        guint n);
/* One whole message (without its line end), taken: when nothing is queued
 * ahead of it, it becomes the output buffer itself instead of a copy. */
void monitor_conn_send_take(MonitorConn *conn, GString *msg);
/* An empty buffer for a message of about @size bytes (to be handed to
 * monitor_conn_send_take): a large one is reused from an earlier reply. */
GString *monitor_out_buffer_new(gsize size);
/* Room for @extra more bytes in @buf (from the large spare buffer when
 * there is one): for replies written straight into it. */
void monitor_out_buffer_reserve(GString *buf, gsize extra);
/* Send an event to negotiated connections (@fdset: only those that want
 * FDSET_* events). */
void monitor_broadcast_event(const char *text, size_t len, bool fdset);
/* Called after a connection's output grew, to try sending now. */
void monitor_conn_flush(MonitorConn *conn);

/* mainloop.c */
struct epoll_event;
/* Sleep in epoll_wait on @epoll_fd, GLib's fds included. */
void monitor_mainloop_install(int epoll_fd);
void monitor_mainloop_uninstall(void);
/* Monitor events the last wait returned (-1: none kept, ask epoll). */
int monitor_mainloop_take_events(struct epoll_event *evs, int max);

/* fds.c */
void monitor_fds_init(void);
/* FDSET_* events are recorded only while a connection subscribes to them. */
void monitor_fds_update_listener(void);
GHashTable *monitor_named_fds_new(void);
void monitor_named_fds_close_all(GHashTable *named_fds);

#endif
