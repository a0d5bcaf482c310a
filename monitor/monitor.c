/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP server's transport: accepting on the sockets, connections, reading
 * with SCM_RIGHTS, splitting the stream into messages, and output with
 * back-pressure.  One epoll set, watched by a single GLib source, so the
 * cost of a wake-up does not grow with the number of idle connections.
 */
#include "monitor-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

#define READ_CHUNK 65536
#define READS_PER_WAKEUP 16
/* Above this much unsent output, stop reading the client's input. */
#define OUTPUT_PAUSE_THRESHOLD (256 * 1024)
/* An idle connection keeps at most this much output buffer. */
#define OUTPUT_KEEP_CAPACITY (64 * 1024)
/* The largest spare output buffer kept (query-fdsets of 100,000 sets). */
#define OUTPUT_SPARE_MAX (32 * 1024 * 1024)

/*
 * Output buffers done with are kept for the next messages, one small and
 * one large: a reply then costs no allocation, and a large query does not
 * get megabytes of fresh memory from the kernel (and touch every page
 * again) each time, which costs more than writing the reply does.
 */
static GString *spare_small, *spare_large;

static GString **spare_for(gsize size)
{
    return size > OUTPUT_KEEP_CAPACITY ? &spare_large : &spare_small;
}

GString *monitor_out_buffer_new(gsize size)
{
    GString **spare = spare_for(size);
    GString *buf = g_steal_pointer(spare);

    if (!buf || buf->allocated_len <= size) {
        if (buf) {
            g_string_free(buf, TRUE);
        }
        return g_string_sized_new(size);
    }
    g_string_truncate(buf, 0);
    return buf;
}

/* Done with @buf: keep it if it is the largest of its class (and not
 * huge), else free it. */
static void out_buffer_release(GString *buf)
{
    GString **spare = spare_for(buf->allocated_len);

    if (buf->allocated_len > OUTPUT_SPARE_MAX ||
        (*spare && (*spare)->allocated_len >= buf->allocated_len)) {
        g_string_free(buf, TRUE);
        return;
    }
    if (*spare) {
        g_string_free(*spare, TRUE);
    }
    *spare = buf;
}

void monitor_out_buffer_reserve(GString *buf, gsize extra)
{
    GString *room, tmp;

    if (buf->len + extra < buf->allocated_len) {
        return;
    }
    room = monitor_out_buffer_new(buf->len + extra);
    g_string_append_len(room, buf->str, buf->len);
    /* @buf takes @room's memory; its own goes back as a spare */
    tmp = *buf;
    *buf = *room;
    *room = tmp;
    out_buffer_release(room);
}

static void out_buffers_free(void)
{
    if (spare_small) {
        g_string_free(g_steal_pointer(&spare_small), TRUE);
    }
    if (spare_large) {
        g_string_free(g_steal_pointer(&spare_large), TRUE);
    }
}

#define SCM_MAX_FDS 253


MonitorLimits monitor_limits;
bool monitor_persistent_default;
bool monitor_fdset_events_default;
gint monitor_fdset_event_subscribers;

static GHashTable *conns;     /* MonitorConn* set, owned */
static GPtrArray *graveyard;  /* closed connections to free */
static int epoll_fd = -1;
static guint epoll_watch;
static int reserve_fd = -1;   /* given up to refuse a client at EMFILE */
static uint64_t next_owner = 1;
static bool quit_requested;

static void conn_close(MonitorConn *conn);
static void conn_update_interest(MonitorConn *conn);

void monitor_default_limits(MonitorLimits *out)
{
    out->max_fds_per_message = SCM_MAX_FDS;
    out->max_message_size = 1024 * 1024;
    out->max_json_depth = 64;
    out->max_connections = 2048;
    out->max_output_backlog = 16 * 1024 * 1024;
}

void monitor_get_limits(MonitorLimits *out)
{
    *out = monitor_limits;
}

bool monitor_quit_requested(void)
{
    return quit_requested;
}

/* ---- epoll ------------------------------------------------------------- */

/* Servers are tagged with the low pointer bit in epoll data. */
static void *server_tag(MonitorServer *srv)
{
    return (void *)((uintptr_t)srv | 1);
}

static void epoll_set(int fd, uint32_t events, void *ptr, int op)
{
    struct epoll_event ev = { .events = events, .data.ptr = ptr };

    if (epoll_ctl(epoll_fd, op, fd, &ev) < 0 && op != EPOLL_CTL_DEL) {
        g_warning("epoll_ctl(%d) failed: %s", fd, g_strerror(errno));
    }
}

/* ---- connections ------------------------------------------------------- */

static bool peer_allowed(MonitorServer *srv, int fd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (!srv->peer_uids->len) {
        return true;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        return false;
    }
    for (guint i = 0; i < srv->peer_uids->len; i++) {
        if (g_array_index(srv->peer_uids, uid_t, i) == cred.uid) {
            return true;
        }
    }
    g_message("refused a connection on %s from uid %u (pid %d)",
              srv->path, (unsigned)cred.uid, (int)cred.pid);
    return false;
}

/* Tell a client we will not serve it, best effort, and close it. */
static void refuse_client(int fd, const char *why)
{
    g_autofree char *msg = g_strdup_printf(
        "{\"error\": {\"class\": \"GenericError\", \"desc\": \"%s\"}}\r\n",
        why);

    (void)!send(fd, msg, strlen(msg), MSG_NOSIGNAL | MSG_DONTWAIT);
    qemu_close_fd_quietly(fd);
}

static void conn_new(MonitorServer *srv, int fd)
{
    MonitorConn *conn = g_new0(MonitorConn, 1);

    conn->fd = fd; /* the connection owns the accepted fd from here */
    conn->owner = next_owner++;
    conn->server = srv;
    json_stream_init(&conn->stream, monitor_limits.max_message_size,
                     monitor_limits.max_json_depth);
    conn->pending_fds = g_array_new(FALSE, FALSE, sizeof(int));
    conn->out = g_string_sized_new(512);
    g_hash_table_add(conns, conn);
    conn->epoll_events = EPOLLIN;
    epoll_set(fd, EPOLLIN, conn, EPOLL_CTL_ADD);
    monitor_qmp_greet(conn);
}

static void server_accept(MonitorServer *srv);

static gboolean server_resume_accept(gpointer opaque)
{
    MonitorServer *srv = opaque;

    epoll_set(srv->listen_fd, EPOLLIN, server_tag(srv), EPOLL_CTL_ADD);
    server_accept(srv);
    return G_SOURCE_REMOVE;
}

/*
 * Out of fds at accept: give up the reserve fd for a moment so the client
 * hears why, instead of hanging in the backlog.  When even that fails, stop
 * watching the socket for a while rather than spin on it.
 */
static void accept_at_fd_exhaustion(MonitorServer *srv)
{
    int fd;

    qemu_close_fd_quietly(reserve_fd);
    reserve_fd = -1;
    fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd >= 0) {
        refuse_client(fd, "fdsetd is out of file descriptors "
                      "(Too many open files); connection refused");
    }
    reserve_fd = fcntl(srv->listen_fd, F_DUPFD_CLOEXEC, 0);
    g_warning("out of file descriptors: refused a connection on %s",
              srv->path);
    if (fd < 0 || reserve_fd < 0) {
        epoll_set(srv->listen_fd, 0, NULL, EPOLL_CTL_DEL);
        g_timeout_add(100, server_resume_accept, srv);
    }
}

static void server_accept(MonitorServer *srv)
{
    for (;;) {
        int fd = accept4(srv->listen_fd, NULL, NULL,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            if (errno == EMFILE || errno == ENFILE) {
                accept_at_fd_exhaustion(srv);
            } else if (errno != EAGAIN) {
                g_warning("accept on %s: %s", srv->path, g_strerror(errno));
            }
            return;
        }
        if (!peer_allowed(srv, fd)) {
            qemu_close_fd_quietly(fd);
        } else if (g_hash_table_size(conns) - graveyard->len >=
                   monitor_limits.max_connections) {
            g_autofree char *why = g_strdup_printf(
                "Too many connections (limit %u); connection refused",
                monitor_limits.max_connections);
            refuse_client(fd, why);
        } else {
            conn_new(srv, fd);
        }
    }
}

static void close_fd_array(GArray *fds)
{
    for (guint i = 0; i < fds->len; i++) {
        qemu_close_fd_quietly(g_array_index(fds, int, i));
    }
    g_array_set_size(fds, 0);
}

void monitor_conn_set_fdset_events(MonitorConn *conn, bool on)
{
    if (conn->fdset_events != on) {
        g_atomic_int_add(&monitor_fdset_event_subscribers, on ? 1 : -1);
        conn->fdset_events = on;
        monitor_fds_update_listener();
    }
}

/* Close now; the memory goes at the end of this dispatch round. */
static void conn_close(MonitorConn *conn)
{
    if (conn->dead) {
        return;
    }
    conn->dead = true;
    monitor_conn_set_fdset_events(conn, false);
    epoll_set(conn->fd, 0, NULL, EPOLL_CTL_DEL);
    qemu_close_fd_quietly(conn->fd);
    conn->fd = -1;
    close_fd_array(conn->pending_fds);
    fdset_release_owner(conn->owner);
    /* Still in @conns (someone may be iterating it) until freed. */
    g_ptr_array_add(graveyard, conn);
}

static void conn_free(gpointer p)
{
    MonitorConn *conn = p;

    g_hash_table_remove(conns, conn);
    json_stream_destroy(&conn->stream);
    g_array_unref(conn->pending_fds);
    out_buffer_release(conn->out);
    g_free(conn->pending_fd_error);
    g_free(conn);
}

static void conn_update_interest(MonitorConn *conn)
{
    uint32_t want = 0;

    if (conn->dead) {
        return;
    }
    if (!conn->reading_paused && !conn->closing) {
        want |= EPOLLIN;
    }
    if (conn->out->len > conn->out_off) {
        want |= EPOLLOUT;
    }
    if (want != conn->epoll_events) {
        conn->epoll_events = want;
        epoll_set(conn->fd, want, conn, EPOLL_CTL_MOD);
    }
}

void monitor_conn_flush(MonitorConn *conn)
{
    while (!conn->dead && conn->out_off < conn->out->len) {
        ssize_t n = send(conn->fd, conn->out->str + conn->out_off,
                         conn->out->len - conn->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN) {
                conn_close(conn);
                return;
            }
            break;
        }
        conn->out_off += n;
    }
    if (conn->out_off == conn->out->len) {
        if (conn->out->allocated_len > OUTPUT_KEEP_CAPACITY) {
            /* a large reply went out: an idle connection stays small */
            out_buffer_release(conn->out);
            conn->out = g_string_sized_new(512);
        }
        g_string_truncate(conn->out, 0);
        conn->out_off = 0;
        if (conn->closing) {
            conn_close(conn);
            return;
        }
    }
    conn->reading_paused =
        conn->out->len - conn->out_off > OUTPUT_PAUSE_THRESHOLD;
    conn_update_interest(conn);
}

/* False (and the connection closed) if @len more bytes would be too many. */
static bool conn_output_fits(MonitorConn *conn, size_t len)
{
    if (conn->dead) {
        return false;
    }
    if (conn->out->len - conn->out_off + len >
        monitor_limits.max_output_backlog) {
        /* It does not read what we send: bounded memory beats waiting. */
        g_warning("dropping a client on %s: more than %zu bytes unread",
                  conn->server->path, monitor_limits.max_output_backlog);
        conn_close(conn);
        return false;
    }
    return true;
}

void monitor_conn_send_take(MonitorConn *conn, GString *msg)
{
    if (conn->out_off == conn->out->len && conn_output_fits(conn, msg->len)) {
        g_string_append(msg, "\r\n");
        out_buffer_release(conn->out);
        conn->out = msg; /* the connection owns @msg now */
        conn->out_off = 0;
        return;
    }
    monitor_conn_send(conn, msg->str, msg->len);
    out_buffer_release(msg);
}

void monitor_conn_sendv(MonitorConn *conn, const GString *const *pieces,
                        guint n)
{
    size_t len = 0;

    for (guint i = 0; i < n; i++) {
        len += pieces[i]->len;
    }
    if (!conn_output_fits(conn, len)) {
        return;
    }
    for (guint i = 0; i < n; i++) {
        g_string_append_len(conn->out, pieces[i]->str, pieces[i]->len);
    }
    g_string_append(conn->out, "\r\n");
}

void monitor_conn_send(MonitorConn *conn, const char *text, size_t len)
{
    GString piece = { .str = (char *)text, .len = len };
    const GString *pieces[] = { &piece };

    monitor_conn_sendv(conn, pieces, 1);
}

void monitor_broadcast_event(const char *text, size_t len, bool fdset)
{
    GHashTableIter it;
    gpointer key;

    g_hash_table_iter_init(&it, conns);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        MonitorConn *conn = key;
        if (conn->negotiated && !conn->dead &&
            (!fdset || conn->fdset_events)) {
            monitor_conn_send(conn, text, len);
        }
    }
    g_hash_table_iter_init(&it, conns);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        MonitorConn *conn = key;
        if (conn->out->len > conn->out_off) {
            monitor_conn_flush(conn);
        }
    }
}

/* ---- input ------------------------------------------------------------- */

/* The fds of the read being handled (reused: reads never nest). */
static GArray *read_fds;

/* The fds of one read, and the message they belong to. */
typedef struct ReadChunk {
    MonitorConn *conn;
    GArray *fds;              /* fds of this read not yet given out */
    char *fd_error;           /* fds of this read lost */
    size_t last_nonblank;     /* SIZE_MAX: the read was all blanks */
} ReadChunk;

/* Append @from's fds to @to, closing what goes over the per-command limit. */
static void merge_fds(MonitorConn *conn, GArray *to, GArray *from)
{
    for (guint i = 0; i < from->len; i++) {
        int fd = g_array_index(from, int, i);
        if (to->len >= monitor_limits.max_fds_per_message) {
            qemu_close_fd_quietly(fd);
            if (!conn->pending_fd_error) {
                conn->pending_fd_error = g_strdup_printf(
                    "Too many file descriptors for one command (limit %u)",
                    monitor_limits.max_fds_per_message);
            }
            continue;
        }
        g_array_append_val(to, fd);
    }
    g_array_set_size(from, 0);
}

/*
 * fds travel with the command whose bytes they arrived with: the message
 * holding the last non-blank byte of their read.  fds on a read of blanks
 * only (python-qemu-qmp's convention) wait for the next message.
 */
static bool on_message(JsonStreamStatus status, const char *text, size_t len,
                       size_t end_offset, void *opaque)
{
    ReadChunk *chunk = opaque;
    MonitorConn *conn = chunk->conn;
    g_autoptr(GArray) fds = conn->pending_fds;
    g_autofree char *fd_error = g_steal_pointer(&conn->pending_fd_error);

    conn->pending_fds = g_array_new(FALSE, FALSE, sizeof(int));
    if (chunk->last_nonblank != SIZE_MAX && end_offset > chunk->last_nonblank) {
        merge_fds(conn, fds, chunk->fds);
        if (chunk->fd_error && !fd_error) {
            fd_error = g_steal_pointer(&chunk->fd_error);
        }
        if (conn->pending_fd_error && !fd_error) {
            fd_error = g_steal_pointer(&conn->pending_fd_error);
        }
        chunk->last_nonblank = SIZE_MAX;
    }
    /* Ownership of every fd in @fds passes to the handler here. */
    monitor_qmp_handle(conn, status, text, len, g_steal_pointer(&fds),
                       fd_error);
    return !conn->dead && !conn->closing && !quit_requested;
}

static size_t find_last_nonblank(const char *buf, size_t len)
{
    for (size_t i = len; i > 0; i--) {
        char c = buf[i - 1];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
            return i - 1;
        }
    }
    return SIZE_MAX;
}

static void take_received_fds(struct msghdr *msg, GArray *fds)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const int *in = (const int *)CMSG_DATA(c);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, &in[i], sizeof(fd));
            g_array_append_val(fds, fd); /* the connection owns it now */
        }
    }
}

static char *lost_fds_message(void)
{
    return g_strdup_printf("File descriptors sent with this command were "
                           "lost (MSG_CTRUNC): more than %u in one message, "
                           "or fdsetd is out of file descriptors",
                           monitor_limits.max_fds_per_message);
}

/* One recvmsg.  Returns false when the connection is done reading. */
static bool conn_read_once(MonitorConn *conn)
{
    static char buf[READ_CHUNK];
    static char cbuf[CMSG_SPACE(SCM_MAX_FDS * sizeof(int))];
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
    };
    ReadChunk chunk = { .conn = conn };
    ssize_t n;
    size_t done = 0;

    n = recvmsg(conn->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
        if (errno == EINTR) {
            return true;
        }
        if (errno != EAGAIN) {
            conn_close(conn);
        }
        return false;
    }
    if (!read_fds) {
        read_fds = g_array_new(FALSE, FALSE, sizeof(int));
    }
    chunk.fds = read_fds; /* empty: every read leaves it so */
    take_received_fds(&msg, chunk.fds);
    if (msg.msg_flags & MSG_CTRUNC) {
        chunk.fd_error = lost_fds_message();
    }
    chunk.last_nonblank = find_last_nonblank(buf, n);
    while (!conn->dead && !conn->closing && done < (size_t)n) {
        done += json_stream_feed(&conn->stream, buf + done, n - done,
                                 on_message, &chunk);
    }
    /* fds whose command has not ended yet wait for it. */
    if (!conn->dead) {
        merge_fds(conn, conn->pending_fds, chunk.fds);
        if (chunk.fd_error && !conn->pending_fd_error) {
            conn->pending_fd_error = g_steal_pointer(&chunk.fd_error);
        }
    }
    close_fd_array(chunk.fds); /* what no command took; empties it */
    g_free(chunk.fd_error);
    if (n == 0) {
        conn->closing = true; /* EOF: answer what came, then close */
        return false;
    }
    /* A short read drained the socket: spare the recvmsg that would only
     * say EAGAIN (epoll reports again when more arrives). */
    return n == sizeof(buf);
}

static void conn_readable(MonitorConn *conn)
{
    for (int i = 0; i < READS_PER_WAKEUP; i++) {
        if (conn->dead || conn->closing || conn->reading_paused ||
            !conn_read_once(conn)) {
            break;
        }
        if (conn->out->len - conn->out_off > OUTPUT_PAUSE_THRESHOLD) {
            break;
        }
    }
    if (!conn->dead) {
        monitor_conn_flush(conn);
    }
}

static gboolean epoll_dispatch(gint fd, GIOCondition cond, gpointer data)
{
    struct epoll_event events[64];
    int n = monitor_mainloop_take_events(events, G_N_ELEMENTS(events));

    if (n < 0) {
        n = epoll_wait(epoll_fd, events, G_N_ELEMENTS(events), 0);
    }
    for (int i = 0; i < n; i++) {
        uintptr_t ptr = (uintptr_t)events[i].data.ptr;

        if ((ptr & 3) == 2) {
            continue; /* one of GLib's fds: GLib dispatches it */
        }
        if (ptr & 1) {
            server_accept((MonitorServer *)(ptr & ~(uintptr_t)1));
            continue;
        }
        MonitorConn *conn = (MonitorConn *)ptr;
        if (conn->dead) {
            continue;
        }
        if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
            conn_readable(conn);
        }
        if (!conn->dead && (events[i].events & EPOLLOUT)) {
            monitor_conn_flush(conn);
        }
    }
    g_ptr_array_set_size(graveyard, 0);
    return G_SOURCE_CONTINUE;
}

/* ---- life cycle -------------------------------------------------------- */

void monitor_init(const MonitorLimits *limits, bool persistent_default,
                  bool fdset_events_default)
{
    monitor_limits = *limits;
    monitor_persistent_default = persistent_default;
    monitor_fdset_events_default = fdset_events_default;
    monitor_servers_init();
    conns = g_hash_table_new(g_direct_hash, g_direct_equal);
    graveyard = g_ptr_array_new_with_free_func(conn_free);
    monitor_qmp_init();
    monitor_fds_init();
}

void monitor_start(void)
{
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd < 0) {
        g_error("epoll_create1: %s", g_strerror(errno));
    }
    reserve_fd = fcntl(epoll_fd, F_DUPFD_CLOEXEC, 0);
    for (guint i = 0; i < monitor_servers->len; i++) {
        MonitorServer *srv = g_ptr_array_index(monitor_servers, i);
        if (srv->is_monitor) {
            epoll_set(srv->listen_fd, EPOLLIN, server_tag(srv),
                      EPOLL_CTL_ADD);
        }
    }
    /* May recurse: otherwise GLib blocks the source around each dispatch,
     * which costs a wake-up write and two poll set changes per request. */
    GSource *src = g_unix_fd_source_new(epoll_fd, G_IO_IN);
    g_source_set_can_recurse(src, TRUE);
    g_source_set_callback(src, G_SOURCE_FUNC(epoll_dispatch), NULL, NULL);
    epoll_watch = g_source_attach(src, NULL);
    g_source_unref(src);
    monitor_mainloop_install(epoll_fd);
}

void monitor_request_shutdown(const char *reason)
{
    quit_requested = true;
    monitor_qmp_emit_shutdown(reason);
}

void monitor_cleanup(void)
{
    GList *all;

    if (!conns) {
        return;
    }
    all = g_hash_table_get_keys(conns);
    for (GList *l = all; l; l = l->next) {
        MonitorConn *conn = l->data;
        monitor_conn_flush(conn);
        conn_close(conn);
    }
    g_list_free(all);
    g_ptr_array_set_size(graveyard, 0);
    out_buffers_free();
    g_clear_pointer(&read_fds, g_array_unref);
    if (epoll_watch) {
        monitor_mainloop_uninstall();
        g_source_remove(epoll_watch);
        epoll_watch = 0;
    }
    for (guint i = 0; i < monitor_servers->len; i++) {
        MonitorServer *srv = g_ptr_array_index(monitor_servers, i);
        if (!srv->activated) {
            unlink(srv->path);
        }
    }
    monitor_servers_cleanup();
    g_hash_table_unref(conns);
    conns = NULL;
    g_ptr_array_unref(graveyard);
    graveyard = NULL;
    qemu_close_fd_quietly(reserve_fd);
    reserve_fd = -1;
    qemu_close_fd_quietly(epoll_fd);
    epoll_fd = -1;
}
