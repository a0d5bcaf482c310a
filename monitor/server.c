/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Monitor sockets: -qmp and --chardev/--monitor options, binding with the
 * right permissions, and never replacing a file that is not a socket.
 */
#include "monitor-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/keyval.h"
#include "qemu/osdep.h"
#include "qemu/unix-socket.h"

GPtrArray *monitor_servers;

static void server_free(gpointer p)
{
    MonitorServer *srv = p;

    qemu_close_fd_quietly(srv->listen_fd);
    monitor_named_fds_close_all(srv->named_fds);
    g_hash_table_unref(srv->named_fds);
    g_array_unref(srv->peer_uids);
    g_free(srv->id);
    g_free(srv->path);
    g_free(srv);
}

/* A stale socket at the path is replaced, never another file; the
 * socket has the monitor's mode from the start. */
static bool server_bind(MonitorServer *srv, GError **errp)
{
    UnixSocketSpec spec = {
        .path = srv->path,
        .stale = UNIX_SOCKET_STALE_ONLY_SOCKET,
        .has_mode = true,
        .mode = srv->mode,
        .sock_flags = SOCK_NONBLOCK,
    };
    QEMU_AUTO_RAW_FD int fd = unix_socket_bind(&spec, errp);

    if (fd < 0) {
        return false;
    }
    if (chmod(srv->path, srv->mode) < 0 || listen(fd, SOMAXCONN) < 0) {
        error_setg_errno(errp, errno, "Failed to set up socket %s",
                         srv->path);
        unlink(srv->path);
        return false;
    }
    srv->listen_fd = g_steal_fd(&fd);
    return true;
}

static bool parse_peer_uids(MonitorServer *srv, const char *list,
                            GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(list, ":", -1);

    for (guint i = 0; parts[i]; i++) {
        guint64 uid;

        if (!g_ascii_string_to_unsigned(parts[i], 10, 0, G_MAXUINT32 - 1,
                                        &uid, NULL)) {
            error_setg(errp, "Invalid uid '%s' in peer-uid", parts[i]);
            return false;
        }
        uid_t u = uid;
        g_array_append_val(srv->peer_uids, u);
    }
    return true;
}

static bool parse_mode(const char *text, mode_t *mode, GError **errp)
{
    guint64 v;

    if (!g_ascii_string_to_unsigned(text, 8, 0, 0777, &v, NULL)) {
        error_setg(errp, "Invalid socket mode '%s' (octal, e.g. 0600)", text);
        return false;
    }
    *mode = v;
    return true;
}

/*
 * Common socket options of -qmp and --chardev: server=on wait=off, the
 * permissions of the socket file and the peers allowed.
 */
static bool server_apply_options(MonitorServer *srv, Keyval *kv,
                                 GError **errp)
{
    const char *mode = keyval_get(kv, "mode");
    const char *uids = keyval_get(kv, "peer-uid");
    bool server, wait;

    if (!keyval_get_bool(kv, "server", false, &server, errp) ||
        !keyval_get_bool(kv, "wait", true, &wait, errp)) {
        return false;
    }
    if (!server) {
        error_setg(errp, "'%s': only server=on sockets are supported",
                   srv->path);
        return false;
    }
    if (wait) {
        error_setg(errp, "'%s': wait=on is not supported, use wait=off",
                   srv->path);
        return false;
    }
    if (mode && !parse_mode(mode, &srv->mode, errp)) {
        return false;
    }
    return !uids || parse_peer_uids(srv, uids, errp);
}

static Keyval *parse_options(const char *spec, const char *implied,
                             const KeyvalDesc *keys, GError **errp);

static MonitorServer *server_new(const char *id, const char *path)
{
    MonitorServer *srv = g_new0(MonitorServer, 1);

    srv->id = g_strdup(id);
    srv->path = g_strdup(path);
    srv->listen_fd = -1;
    srv->mode = 0600;
    srv->peer_uids = g_array_new(FALSE, FALSE, sizeof(uid_t));
    srv->named_fds = monitor_named_fds_new();
    return srv;
}

static const KeyvalDesc qmp_keys[] = {
    { "path", KEYVAL_STRING }, { "server", KEYVAL_BOOL },
    { "wait", KEYVAL_BOOL }, { "mode", KEYVAL_STRING },
    { "peer-uid", KEYVAL_STRING }, { NULL }
};

bool monitor_add_qmp(const char *spec, GError **errp)
{
    g_autoptr(Keyval) kv = NULL;
    const char *path;
    MonitorServer *srv;

    if (!g_str_has_prefix(spec, "unix:")) {
        error_setg(errp, "'%s': only unix:PATH QMP sockets are supported",
                   spec);
        return false;
    }
    kv = parse_options(spec + strlen("unix:"), "path", qmp_keys,
                       errp);
    if (!kv) {
        return false;
    }
    path = keyval_get(kv, "path");
    if (!path || !*path) {
        error_setg(errp, "'%s': a socket path is required", spec);
        return false;
    }
    srv = server_new(NULL, path);
    srv->is_monitor = true;
    if (!server_apply_options(srv, kv, errp) || !server_bind(srv, errp)) {
        server_free(srv);
        return false;
    }
    g_ptr_array_add(monitor_servers, srv);
    return true;
}

/* How a passed socket is called in messages: its address, or "fd N". */
static char *socket_label(int fd)
{
    struct sockaddr_un sa = { 0 };
    socklen_t len = sizeof(sa);
    size_t n;

    if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0 ||
        len <= offsetof(struct sockaddr_un, sun_path)) {
        return g_strdup_printf("fd %d", fd);
    }
    n = len - offsetof(struct sockaddr_un, sun_path);
    if (sa.sun_path[0] == '\0') {
        return g_strdup_printf("@%.*s", (int)n - 1, sa.sun_path + 1);
    }
    return g_strndup(sa.sun_path, n);
}

static int socket_option(int fd, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);

    return getsockopt(fd, SOL_SOCKET, name, &v, &len) < 0 ? -1 : v;
}

/* Is @fd a listening unix stream socket, as a QMP monitor needs? */
static bool check_qmp_socket(int fd, GError **errp)
{
    struct stat st;

    if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        error_setg(errp, "fd %d is not a socket", fd);
        return false;
    }
    if (socket_option(fd, SO_DOMAIN) != AF_UNIX ||
        socket_option(fd, SO_TYPE) != SOCK_STREAM) {
        error_setg(errp, "fd %d is not a unix stream socket", fd);
        return false;
    }
    if (socket_option(fd, SO_ACCEPTCONN) != 1) {
        error_setg(errp, "fd %d is not a listening socket", fd);
        return false;
    }
    return true;
}

bool monitor_add_qmp_fd(int fd, GError **errp)
{
    QEMU_AUTO_RAW_FD int owned = fd;
    MonitorServer *srv;
    int fl;

    if (!check_qmp_socket(owned, errp)) {
        return false;
    }
    /* accept() in a loop until EAGAIN needs it; the manager only polls */
    fl = fcntl(owned, F_GETFL);
    if (fl < 0 || fcntl(owned, F_SETFL, fl | O_NONBLOCK) < 0) {
        error_setg_errno(errp, errno, "fd %d: cannot make it non-blocking",
                         owned);
        return false;
    }
    srv = server_new(NULL, NULL);
    srv->path = socket_label(owned);
    srv->activated = true;
    srv->is_monitor = true;
    srv->listen_fd = g_steal_fd(&owned);
    g_ptr_array_add(monitor_servers, srv);
    return true;
}

static const KeyvalDesc chardev_keys[] = {
    { "backend", KEYVAL_STRING }, { "id", KEYVAL_STRING },
    { "path", KEYVAL_STRING }, { "server", KEYVAL_BOOL },
    { "wait", KEYVAL_BOOL }, { "mode", KEYVAL_STRING },
    { "peer-uid", KEYVAL_STRING }, { NULL }
};

bool monitor_add_chardev(const char *spec, GError **errp)
{
    g_autoptr(Keyval) kv = parse_options(spec, "backend", chardev_keys,
                                             errp);
    const char *backend, *id, *path;
    MonitorServer *srv;

    if (!kv) {
        return false;
    }
    backend = keyval_get(kv, "backend");
    id = keyval_get(kv, "id");
    path = keyval_get(kv, "path");
    if (g_strcmp0(backend, "socket") != 0) {
        error_setg(errp, "chardev backend '%s' is not supported "
                   "(only socket)", backend ? backend : "");
        return false;
    }
    if (!id || !path) {
        error_setg(errp, "chardev: 'id' and 'path' are required");
        return false;
    }
    for (guint i = 0; i < monitor_servers->len; i++) {
        MonitorServer *other = g_ptr_array_index(monitor_servers, i);
        if (g_strcmp0(other->id, id) == 0) {
            error_setg(errp, "Duplicate chardev ID '%s'", id);
            return false;
        }
    }
    srv = server_new(id, path);
    if (!server_apply_options(srv, kv, errp) || !server_bind(srv, errp)) {
        server_free(srv);
        return false;
    }
    g_ptr_array_add(monitor_servers, srv);
    return true;
}

static const KeyvalDesc monitor_keys[] = {
    { "chardev", KEYVAL_STRING }, { "mode", KEYVAL_STRING },
    { "id", KEYVAL_STRING }, { NULL }
};

/* Parse and check an option string against @keys. */
static Keyval *parse_options(const char *spec, const char *implied,
                             const KeyvalDesc *keys, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(spec, implied);

    if (!keyval_validate(kv, keys, errp)) {
        return NULL;
    }
    return g_steal_pointer(&kv);
}

bool monitor_add_monitor(const char *spec, GError **errp)
{
    g_autoptr(Keyval) kv = parse_options(spec, "chardev", monitor_keys,
                                             errp);
    const char *chardev, *mode;

    if (!kv) {
        return false;
    }
    chardev = keyval_get(kv, "chardev");
    mode = keyval_get(kv, "mode");
    if (mode && strcmp(mode, "control") != 0) {
        error_setg(errp, "monitor mode '%s' is not supported (only control)",
                   mode);
        return false;
    }
    for (guint i = 0; chardev && i < monitor_servers->len; i++) {
        MonitorServer *srv = g_ptr_array_index(monitor_servers, i);
        if (g_strcmp0(srv->id, chardev) == 0) {
            srv->is_monitor = true;
            return true;
        }
    }
    error_setg(errp, "chardev '%s' not found", chardev ? chardev : "");
    return false;
}

void monitor_servers_init(void)
{
    monitor_servers = g_ptr_array_new_with_free_func(server_free);
}

void monitor_servers_cleanup(void)
{
    g_ptr_array_unref(monitor_servers);
    monitor_servers = NULL;
}

char **monitor_socket_paths(void)
{
    GPtrArray *paths = g_ptr_array_new();

    for (guint i = 0; monitor_servers && i < monitor_servers->len; i++) {
        MonitorServer *srv = g_ptr_array_index(monitor_servers, i);

        if (srv->listen_fd >= 0 && !srv->activated) {
            g_ptr_array_add(paths, g_strdup(srv->path));
        }
    }
    g_ptr_array_add(paths, NULL);
    return (char **)g_ptr_array_free(paths, FALSE);
}
