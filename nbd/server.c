/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server: the listening socket on the main loop, one connection
 * thread per client, the export registry.  See include/nbd/nbd.h.
 *
 * Locking: nbd_lock guards the export table, every export's closing flag
 * and client count, and the client list.  A client's fd is closed only by
 * its own thread, after it left the list under nbd_lock, so the main loop
 * may shutdown() any listed client's fd while holding the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "block/block_int.h"
#include "nbd-internal.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

GMutex nbd_lock;

typedef struct NbdServer {
    int fd;
    guint watch;
    NbdServerConfig cfg;
} NbdServer;

static NbdServer *server;
static GHashTable *exports;    /* name -> NbdExport*, open ones */
static GList *clients;         /* every NbdClient with a live thread */
static guint n_handshaking;
static GCond clients_cond;     /* a client's thread finished */
/* max-connections=1 clears multi-conn (QEMU 7.2); read by client threads */
bool nbd_multi_conn_allowed = true;

bool nbd_server_running(void)
{
    return server != NULL;
}

/* ---- exports ---- */

NbdExport *nbd_export_lookup_locked(const char *name)
{
    return exports ? g_hash_table_lookup(exports, name) : NULL;
}

GList *nbd_export_list_locked(void)
{
    return exports ? g_hash_table_get_values(exports) : NULL;
}

int64_t nbd_export_size(NbdExport *exp)
{
    return exp->size;
}

BlockDriverState *nbd_export_bs(NbdExport *exp)
{
    return __atomic_load_n(&exp->root->bs, __ATOMIC_ACQUIRE);
}

static void export_set_bitmaps(NbdExport *exp, BdrvDirtyBitmap *const *bms,
                               guint n)
{
    exp->n_bitmaps = n;
    exp->bitmaps = g_new0(BdrvDirtyBitmap *, n);
    exp->bitmap_contexts = g_new0(char *, n + 1);
    for (guint i = 0; i < n; i++) {
        exp->bitmaps[i] = bms[i];
        exp->bitmap_contexts[i] = g_strdup_printf(
            "qemu:dirty-bitmap:%s", bdrv_dirty_bitmap_name(bms[i]));
    }
}

NbdExport *nbd_export_new(const NbdExportConfig *cfg, BdrvChild *root,
                          NbdExportGoneFn *gone, void *opaque, GError **errp)
{
    NbdExport *exp;
    int64_t len;

    if (!server) {
        error_setg(errp, "NBD server not running");
        return NULL;
    }
    if (strlen(cfg->name) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export name '%.64s...' too long", cfg->name);
        return NULL;
    }
    if (cfg->description &&
        strlen(cfg->description) > NBD_MAX_STRING_SIZE) {
        error_setg(errp, "export description '%.64s...' too long",
                   cfg->description);
        return NULL;
    }
    if (nbd_export_lookup_locked(cfg->name)) {
        error_setg(errp, "NBD server already has export named '%s'",
                   cfg->name);
        return NULL;
    }
    if (cfg->n_bitmaps > NBD_MAX_EXPORT_BITMAPS) {
        error_setg(errp, "An NBD export offers at most %d bitmaps",
                   NBD_MAX_EXPORT_BITMAPS);
        return NULL;
    }
    len = bdrv_getlength(root->bs);
    if (len < 0) {
        error_setg(errp, "Failed to get the length of node '%s'",
                   root->bs->node_name);
        return NULL;
    }
    exp = g_new0(NbdExport, 1);
    exp->name = g_strdup(cfg->name);
    exp->description = g_strdup(cfg->description);
    exp->root = root;
    exp->size = len & ~(int64_t)511;
    exp->writable = cfg->writable;
    exp->writethrough = cfg->writethrough;
    exp->allocation_depth = cfg->allocation_depth;
    export_set_bitmaps(exp, cfg->bitmaps, cfg->n_bitmaps);
    exp->gone = gone;
    exp->opaque = opaque;
    g_mutex_lock(&nbd_lock);
    if (!exports) {
        exports = g_hash_table_new(g_str_hash, g_str_equal);
    }
    g_hash_table_insert(exports, exp->name, exp);
    g_mutex_unlock(&nbd_lock);
    return exp;
}

/* Has the peer closed @c's socket (its thread may not have seen it)? */
static bool client_hung_up(NbdClient *c)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLRDHUP};

    return poll(&pfd, 1, 0) > 0 &&
           (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

guint nbd_export_live_client_count(NbdExport *exp)
{
    guint n = 0;

    g_mutex_lock(&nbd_lock);
    for (GList *l = clients; l; l = l->next) {
        NbdClient *c = l->data;

        n += c->exp == exp && !client_hung_up(c);
    }
    g_mutex_unlock(&nbd_lock);
    return n;
}

static void export_free(NbdExport *exp)
{
    g_free(exp->name);
    g_free(exp->description);
    g_free(exp->bitmaps);
    g_strfreev(exp->bitmap_contexts);
    g_free(exp);
}

/* Main loop: the export's last client is gone. */
static gboolean export_gone(gpointer data)
{
    NbdExport *exp = data;

    exp->gone(exp->opaque);
    export_free(exp);
    return G_SOURCE_REMOVE;
}

void nbd_export_close(NbdExport *exp, bool wait)
{
    g_mutex_lock(&nbd_lock);
    g_assert(!exp->closing);
    exp->closing = true;
    exp->closer_waits = wait;
    if (exports && g_hash_table_lookup(exports, exp->name) == exp) {
        g_hash_table_remove(exports, exp->name);
    }
    for (GList *l = clients; l; l = l->next) {
        NbdClient *c = l->data;

        if (c->exp == exp) {
            shutdown(c->fd, SHUT_RDWR); /* its thread sees EOF/EPIPE */
        }
    }
    /* the client threads run no main-loop work, so they finish alone */
    while (wait && exp->n_clients) {
        g_cond_wait(&clients_cond, &nbd_lock);
    }
    wait = exp->n_clients == 0;
    g_mutex_unlock(&nbd_lock);
    if (wait) {
        export_gone(exp);
    }
}

bool nbd_client_attach(NbdClient *c, const char *name)
{
    NbdExport *exp;

    g_mutex_lock(&nbd_lock);
    exp = nbd_export_lookup_locked(name);
    if (exp) {
        exp->n_clients++;
        c->exp = exp;
        n_handshaking--;
    }
    g_mutex_unlock(&nbd_lock);
    return exp != NULL;
}

/* ---- clients ---- */

static void request_free(gpointer data)
{
    NbdRequest *r = data;

    g_free(r->buf);
    g_free(r);
}

static void client_free(NbdClient *c)
{
    g_slist_free_full(c->free_reqs, request_free);
    g_free(c->rbuf);
    g_mutex_clear(&c->send_lock);
    g_mutex_clear(&c->recv_lock);
    g_mutex_clear(&c->lock);
    g_cond_clear(&c->cond);
    g_free(c);
}

/* The connection thread's end: leave the lists, close, tell the export. */
static void client_finish(NbdClient *c)
{
    NbdExport *exp = c->exp;
    bool last = false;

    g_mutex_lock(&nbd_lock);
    clients = g_list_remove(clients, c);
    if (exp) {
        exp->n_clients--;
        last = exp->closing && exp->n_clients == 0 && !exp->closer_waits;
    } else {
        n_handshaking--;
    }
    /* for nbd_server_shutdown (no clients) and a waiting export closer */
    g_cond_broadcast(&clients_cond);
    g_mutex_unlock(&nbd_lock);
    qemu_close_fd_quietly(c->fd);
    client_free(c);
    if (last) {
        g_main_context_invoke(NULL, export_gone, exp);
    }
}

static void *client_thread(void *opaque)
{
    NbdClient *c = opaque;

    if (nbd_handshake(c)) {
        nbd_serve_requests(c);
    }
    client_finish(c);
    return NULL;
}

static void tune_socket(int fd)
{
    int size = NBD_SOCKET_BUFFER;
    int one = 1;
    int flags = fcntl(fd, F_GETFL);

    /* Best effort: the kernel caps them, TCP_NODELAY is TCP only. */
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, flags | O_NONBLOCK); /* the handshake polls */
}

/* Takes ownership of @fd. */
static void client_start(int fd)
{
    NbdClient *c;
    pthread_attr_t attr;
    pthread_t tid;
    int err;

    g_mutex_lock(&nbd_lock);
    if (n_handshaking >= NBD_MAX_HANDSHAKES ||
        (server->cfg.max_connections &&
         g_list_length(clients) >= server->cfg.max_connections)) {
        g_mutex_unlock(&nbd_lock);
        qemu_close_fd_quietly(fd);
        return;
    }
    c = g_new0(NbdClient, 1);
    c->fd = fd;
    g_mutex_init(&c->send_lock);
    g_mutex_init(&c->recv_lock);
    g_mutex_init(&c->lock);
    g_cond_init(&c->cond);
    if (server->cfg.handshake_max_seconds) {
        c->deadline = g_get_monotonic_time() +
                      (int64_t)server->cfg.handshake_max_seconds *
                          G_USEC_PER_SEC;
    }
    tune_socket(fd);
    clients = g_list_prepend(clients, c);
    n_handshaking++;
    g_mutex_unlock(&nbd_lock);

    /* Small stacks: a thousand idle clients cost little. */
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    err = pthread_create(&tid, &attr, client_thread, c);
    pthread_attr_destroy(&attr);
    if (err) {
        g_warning("NBD: cannot start a client thread: %s", g_strerror(err));
        client_finish(c);
    }
}

static gboolean on_listen_ready(gint fd, GIOCondition cond, gpointer data)
{
    for (int i = 0; i < 64; i++) {
        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

        if (cfd < 0) {
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                g_warning("NBD: accept: %s", g_strerror(errno));
            }
            break;
        }
        client_start(cfd);
    }
    return G_SOURCE_CONTINUE;
}

bool nbd_server_start_fd(int fd, const char *what, const NbdServerConfig *cfg,
                         GError **errp)
{
    int type = 0;
    socklen_t len = sizeof(type);
    int flags;

    if (server) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "NBD server already running");
        return false;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
        type != SOCK_STREAM) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "File descriptor '%s' is not a socket", what);
        return false;
    }
    if (listen(fd, 128) < 0) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "Failed to listen on fd socket");
        return false;
    }
    flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    server = g_new0(NbdServer, 1);
    server->fd = fd;
    server->cfg = *cfg;
    __atomic_store_n(&nbd_multi_conn_allowed, cfg->max_connections != 1,
                     __ATOMIC_RELAXED);
    server->watch = g_unix_fd_add(fd, G_IO_IN, on_listen_ready, NULL);
    return true;
}

bool nbd_server_start_listen_fd(int fd, GError **errp)
{
    NbdServerConfig cfg = {
        .handshake_max_seconds = NBD_DEFAULT_HANDSHAKE_MAX_SECONDS,
    };
    g_autofree char *what = g_strdup_printf("%d", fd);

    return nbd_server_start_fd(fd, what, &cfg, errp);
}

void nbd_server_stop(void)
{
    if (!server) {
        return;
    }
    g_source_remove(server->watch);
    qemu_close_fd_quietly(server->fd);
    g_clear_pointer(&server, g_free);
    /* clients still in their handshake cannot attach any more: drop them */
    g_mutex_lock(&nbd_lock);
    for (GList *l = clients; l; l = l->next) {
        NbdClient *c = l->data;

        if (!c->exp) {
            shutdown(c->fd, SHUT_RDWR);
        }
    }
    g_mutex_unlock(&nbd_lock);
}

void nbd_server_shutdown(void)
{
    nbd_server_stop();
    g_mutex_lock(&nbd_lock);
    for (GList *l = clients; l; l = l->next) {
        shutdown(((NbdClient *)l->data)->fd, SHUT_RDWR);
    }
    while (clients) {
        g_cond_wait(&clients_cond, &nbd_lock);
    }
    g_mutex_unlock(&nbd_lock);
}
