/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd-server-start: the listening socket from a unix or inet address, or
 * a getfd name; and the command line's --nbd-server and --export.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <netdb.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "block/export.h"
#include "nbd/nbd.h"
#include "qapi/cur-monitor.h"
#include "qapi/qapi-commands.h"
#include "qemu/error.h"
#include "qemu/keyval.h"
#include "qemu/osdep.h"

/* A bound unix socket (an old socket file at @path is replaced, as QEMU
 * does); -1 with errp. */
static int unix_bind(const UnixSocketAddress *a, GError **errp)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    bool abstract = a->has_abstract && a->abstract;
    bool tight = !a->has_tight || a->tight;
    size_t plen = strlen(a->path);
    socklen_t len;
    int fd;

    if (plen + abstract > sizeof(sun.sun_path)) {
        error_setg(errp, "UNIX socket path '%s' is too long", a->path);
        return -1;
    }
    memcpy(sun.sun_path + abstract, a->path, plen);
    len = abstract && !tight ? sizeof(sun)
                             : offsetof(struct sockaddr_un, sun_path) +
                                   abstract + plen + !abstract;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "Failed to create Unix socket");
        return -1;
    }
    if (!abstract) {
        unlink(a->path);
    }
    if (bind(fd, (struct sockaddr *)&sun, len) < 0) {
        error_setg_errno(errp, errno, "Failed to bind socket to %s",
                         a->path);
        qemu_close_fd_quietly(fd);
        return -1;
    }
    return fd;
}

static int inet_bind(const InetSocketAddress *a, GError **errp)
{
    struct addrinfo hints = {
        .ai_flags = AI_PASSIVE,
        .ai_socktype = SOCK_STREAM,
        .ai_family = AF_UNSPEC,
    };
    struct addrinfo *res = NULL;
    int fd = -1, one = 1, rc, saved = 0;

    if (a->has_ipv4 && a->ipv4 && !(a->has_ipv6 && a->ipv6)) {
        hints.ai_family = AF_INET;
    } else if (a->has_ipv6 && a->ipv6 && !(a->has_ipv4 && a->ipv4)) {
        hints.ai_family = AF_INET6;
    }
    if (a->has_numeric && a->numeric) {
        hints.ai_flags |= AI_NUMERICHOST;
    }
    rc = getaddrinfo(*a->host ? a->host : NULL, a->port, &hints, &res);
    if (rc) {
        error_setg(errp, "address resolution failed for %s:%s: %s", a->host,
                   a->port, gai_strerror(rc));
        return -1;
    }
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            break;
        }
        saved = errno;
        qemu_close_fd_quietly(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        error_setg_errno(errp, saved, "Failed to bind socket");
    }
    return fd;
}

/*
 * The fd behind an "fd" address: in QMP a getfd name (consumed), on the
 * command line a number (an inherited fd).
 */
static int named_fd(const char *name, bool cmdline, GError **errp)
{
    char *end;
    long n;

    if (!cmdline) {
        return cur_mon_take_named_fd(name, errp);
    }
    n = strtol(name, &end, 10);
    if (!*name || *end || n < 3 || n > G_MAXINT ||
        fcntl((int)n, F_GETFD) < 0) {
        error_setg(errp, "File descriptor '%s' is not a socket", name);
        return -1;
    }
    return (int)n;
}

static bool start_server(const SocketAddressLegacy *addr,
                         const NbdServerConfig *cfg, bool cmdline,
                         GError **errp)
{
    const char *what = "";
    int fd = -1;

    if (nbd_server_running()) {
        error_setg(errp, "NBD server already running");
        return false;
    }
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_UNIX:
        fd = unix_bind(addr->u.q_unix.data, errp);
        what = addr->u.q_unix.data->path;
        break;
    case SOCKET_ADDRESS_TYPE_INET:
        fd = inet_bind(addr->u.inet.data, errp);
        what = addr->u.inet.data->host;
        break;
    case SOCKET_ADDRESS_TYPE_FD:
        what = addr->u.fd.data->str;
        fd = named_fd(what, cmdline, errp);
        break;
    default:
        error_setg(errp, "fdsetd's NBD server does not listen on vsock");
        return false;
    }
    if (fd < 0) {
        return false;
    }
    return nbd_server_start_fd(fd, what, cfg, errp); /* takes fd */
}

void qmp_nbd_server_start(SocketAddressLegacy *addr, bool has_tls_creds,
                          const char *tls_creds, bool has_tls_authz,
                          const char *tls_authz, bool has_max_connections,
                          uint32_t max_connections,
                          bool has_handshake_max_seconds,
                          uint32_t handshake_max_seconds, GError **errp)
{
    NbdServerConfig cfg = {
        .max_connections = has_max_connections ? max_connections : 0,
        .handshake_max_seconds = has_handshake_max_seconds
                                     ? handshake_max_seconds
                                     : NBD_DEFAULT_HANDSHAKE_MAX_SECONDS,
    };

    if (!nbd_server_running() && (has_tls_creds || has_tls_authz)) {
        error_setg(errp, "TLS is not supported by fdsetd's NBD server "
                   "(serve on a unix socket or loopback instead)");
        return;
    }
    start_server(addr, &cfg, false, errp);
}

/* ---- command line (qemu-storage-daemon's syntax) ---- */

static const KeyvalDesc nbd_server_keys[] = {
    { "addr.type", KEYVAL_STRING },
    { "addr.path", KEYVAL_STRING },
    { "addr.abstract", KEYVAL_BOOL },
    { "addr.host", KEYVAL_STRING },
    { "addr.port", KEYVAL_STRING },
    { "addr.str", KEYVAL_STRING },
    { "max-connections", KEYVAL_NUMBER },
    { "handshake-max-seconds", KEYVAL_NUMBER },
    { "tls-creds", KEYVAL_STRING },
    { "tls-authz", KEYVAL_STRING },
    { NULL, 0 },
};

/* A required key: "Parameter 'K' is missing" otherwise. */
static const char *need(const Keyval *kv, const char *key, GError **errp)
{
    const char *v = keyval_get(kv, key);

    if (!v) {
        error_setg(errp, "Parameter '%s' is missing", key);
    }
    return v;
}

bool blk_exp_cmdline_nbd_server(const char *optarg, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(optarg, NULL);
    UnixSocketAddress ua = { 0 };
    InetSocketAddress ia = { 0 };
    String fa = { 0 };
    UnixSocketAddressWrapper uw = { .data = &ua };
    InetSocketAddressWrapper iw = { .data = &ia };
    StringWrapper fw = { .data = &fa };
    SocketAddressLegacy addr = { 0 };
    NbdServerConfig cfg = { 0 };
    uint64_t n;
    const char *type;

    if (!keyval_validate(kv, nbd_server_keys, errp) ||
        !(type = need(kv, "addr.type", errp))) {
        return false;
    }
    if (keyval_has(kv, "tls-creds") || keyval_has(kv, "tls-authz")) {
        error_setg(errp, "TLS is not supported by fdsetd's NBD server");
        return false;
    }
    if (!keyval_get_number(kv, "max-connections", 0, &n, errp)) {
        return false;
    }
    cfg.max_connections = MIN(n, G_MAXUINT32);
    if (!keyval_get_number(kv, "handshake-max-seconds",
                           NBD_DEFAULT_HANDSHAKE_MAX_SECONDS, &n, errp)) {
        return false;
    }
    cfg.handshake_max_seconds = MIN(n, G_MAXUINT32);
    if (!strcmp(type, "unix")) {
        addr.type = SOCKET_ADDRESS_TYPE_UNIX;
        addr.u.q_unix = uw;
        if (!(ua.path = (char *)need(kv, "addr.path", errp)) ||
            !keyval_get_bool(kv, "addr.abstract", false, &ua.abstract,
                             errp)) {
            return false;
        }
        ua.has_abstract = true;
    } else if (!strcmp(type, "inet")) {
        addr.type = SOCKET_ADDRESS_TYPE_INET;
        addr.u.inet = iw;
        if (!(ia.host = (char *)need(kv, "addr.host", errp)) ||
            !(ia.port = (char *)need(kv, "addr.port", errp))) {
            return false;
        }
    } else if (!strcmp(type, "fd")) {
        addr.type = SOCKET_ADDRESS_TYPE_FD;
        addr.u.fd = fw;
        if (!(fa.str = (char *)need(kv, "addr.str", errp))) {
            return false;
        }
    } else {
        error_setg(errp, "Parameter 'addr.type' does not accept value '%s'",
                   type);
        return false;
    }
    return start_server(&addr, &cfg, true, errp);
}

static const KeyvalDesc export_keys[] = {
    { "type", KEYVAL_STRING },
    { "id", KEYVAL_STRING },
    { "node-name", KEYVAL_STRING },
    { "writable", KEYVAL_BOOL },
    { "writethrough", KEYVAL_BOOL },
    { "name", KEYVAL_STRING },
    { "description", KEYVAL_STRING },
    { "allocation-depth", KEYVAL_BOOL },
    { "bitmaps", KEYVAL_STRING },
    { NULL, 0 },
};

bool blk_exp_cmdline_export(const char *optarg, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(optarg, NULL);
    BlockExportOptions o = { .type = BLOCK_EXPORT_TYPE_NBD };
    BlockExportOptionsNbd *nbd = &o.u.nbd;
    BlockDirtyBitmapOrStr name = { .type = QTYPE_QSTRING };
    BlockDirtyBitmapOrStrList bitmap = { .value = &name };
    const char *type;

    if (!keyval_validate(kv, export_keys, errp) ||
        !(type = need(kv, "type", errp)) ||
        !(o.id = (char *)need(kv, "id", errp)) ||
        !(o.node_name = (char *)need(kv, "node-name", errp))) {
        return false;
    }
    if (strcmp(type, "nbd")) {
        error_setg(errp, "Parameter 'type' does not accept value '%s'", type);
        return false;
    }
    o.has_writable = o.has_writethrough = true;
    nbd->has_allocation_depth = true;
    if (!keyval_get_bool(kv, "writable", false, &o.writable, errp) ||
        !keyval_get_bool(kv, "writethrough", false, &o.writethrough, errp) ||
        !keyval_get_bool(kv, "allocation-depth", false,
                         &nbd->allocation_depth, errp)) {
        return false;
    }
    nbd->name = (char *)keyval_get(kv, "name");
    nbd->has_name = nbd->name != NULL;
    nbd->description = (char *)keyval_get(kv, "description");
    nbd->has_description = nbd->description != NULL;
    if ((name.u.local = (char *)keyval_get(kv, "bitmaps"))) {
        nbd->has_bitmaps = true;
        nbd->bitmaps = &bitmap;
    }
    return blk_exp_add(&o, errp);
}
