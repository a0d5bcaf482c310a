/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fixed newstyle handshake, server side, on the client's connection
 * thread: the greeting, then options until NBD_OPT_GO or
 * NBD_OPT_EXPORT_NAME enters the transmission phase.  The socket is
 * non-blocking until then and every wait is bounded by the client's
 * deadline, so a client that never finishes cannot hold a thread forever.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "nbd-internal.h"

/* Largest option payload read; longer ones are skipped (ERR_TOO_BIG). */
#define NBD_MAX_OPTION_SIZE (64 * 1024)
/* Longer than this is not worth skipping: the client goes. */
#define NBD_MAX_OPTION_SKIP (16 * 1024 * 1024)

/* Wait for @events on the socket until the deadline: 0, or -1. */
static int wait_socket(NbdClient *c, short events)
{
    struct pollfd pfd = { .fd = c->fd, .events = events };
    int timeout = -1;
    int ret;

    if (c->deadline) {
        int64_t left = c->deadline - g_get_monotonic_time();

        if (left <= 0) {
            return -1;
        }
        timeout = (int)MIN(left / 1000 + 1, G_MAXINT);
    }
    do {
        ret = poll(&pfd, 1, timeout);
    } while (ret < 0 && errno == EINTR);
    return ret > 0 ? 0 : -1;
}

int nbd_read_full(NbdClient *c, void *buf, size_t len)
{
    uint8_t *p = buf;

    while (len) {
        ssize_t n = recv(c->fd, p, len, MSG_WAITALL);

        if (n > 0) {
            p += n;
            len -= n;
        } else if (n == 0) {
            return -1;
        } else if (errno == EAGAIN) {
            if (wait_socket(c, POLLIN) < 0) {
                return -1;
            }
        } else if (errno != EINTR) {
            return -1;
        }
    }
    return 0;
}

int nbd_writev_full(NbdClient *c, struct iovec *iov, int iovcnt)
{
    while (iovcnt > 0) {
        struct msghdr msg = { .msg_iov = iov, .msg_iovlen = iovcnt };
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EAGAIN) {
                if (wait_socket(c, POLLOUT) < 0) {
                    return -1;
                }
                continue;
            }
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + n;
            iov->iov_len -= n;
        }
    }
    return 0;
}

int nbd_write_full(NbdClient *c, const void *buf, size_t len)
{
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

    return nbd_writev_full(c, &iov, 1);
}

/* ---- option replies ---- */

static int send_rep(NbdClient *c, uint32_t opt, uint32_t type,
                    const void *data, uint32_t len)
{
    uint8_t hdr[20];
    struct iovec iov[2] = {
        { .iov_base = hdr, .iov_len = sizeof(hdr) },
        { .iov_base = (void *)data, .iov_len = len },
    };

    nbd_put64(hdr, NBD_REP_MAGIC);
    nbd_put32(hdr + 8, opt);
    nbd_put32(hdr + 12, type);
    nbd_put32(hdr + 16, len);
    return nbd_writev_full(c, iov, len ? 2 : 1);
}

G_GNUC_PRINTF(4, 5)
static int send_rep_err(NbdClient *c, uint32_t opt, uint32_t type,
                        const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return send_rep(c, opt, type, msg, MIN(strlen(msg), 4096));
}

/* ---- export name and flags ---- */

uint16_t nbd_export_tx_flags(NbdClient *c, NbdExport *exp)
{
    uint16_t f = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                 NBD_FLAG_SEND_FUA | NBD_FLAG_SEND_CACHE;

    /*
     * Multi-conn: every connection reaches the same node and a reply is
     * sent only once the write is done, so a flush on any connection
     * covers what every connection had completed.  max-connections=1
     * clears it, as QEMU 7.2.
     */
    if (__atomic_load_n(&nbd_multi_conn_allowed, __ATOMIC_RELAXED)) {
        f |= NBD_FLAG_CAN_MULTI_CONN;
    }
    if (!exp->writable) {
        f |= NBD_FLAG_READ_ONLY;
    } else {
        f |= NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES |
             NBD_FLAG_SEND_FAST_ZERO;
    }
    if (c->structured) {
        f |= NBD_FLAG_SEND_DF;
    }
    return f;
}

/* ---- INFO / GO ---- */

static int send_info(NbdClient *c, uint32_t opt, uint16_t type,
                     const void *data, uint32_t len)
{
    g_autofree uint8_t *buf = g_malloc(2 + len);

    nbd_put16(buf, type);
    memcpy(buf + 2, data, len);
    return send_rep(c, opt, NBD_REP_INFO, buf, 2 + len);
}

/* Data: u32 name length, name, u16 count, count u16 info requests. */
static int opt_info_go(NbdClient *c, uint32_t opt, const uint8_t *d,
                       uint32_t len, bool *entered)
{
    g_autofree char *name = NULL;
    uint32_t name_len;
    uint16_t n_req;
    bool want_name = false, want_desc = false;
    NbdExport *exp;
    uint8_t buf[12];
    g_autofree char *desc = NULL;
    int64_t size;
    uint16_t flags;

    if (len < 6 || (name_len = nbd_get32(d)) > len - 6 ||
        (n_req = nbd_get16(d + 4 + name_len),
         len != 6 + name_len + 2 * (uint32_t)n_req)) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                            "Invalid length for option");
    }
    if (name_len > NBD_MAX_STRING_SIZE) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                            "export name too long");
    }
    name = g_strndup((const char *)d + 4, name_len);
    for (uint16_t i = 0; i < n_req; i++) {
        uint16_t t = nbd_get16(d + 6 + name_len + 2 * i);

        want_name |= t == NBD_INFO_NAME;
        want_desc |= t == NBD_INFO_DESCRIPTION;
    }

    g_mutex_lock(&nbd_lock);
    exp = nbd_export_lookup_locked(name);
    if (exp) {
        desc = g_strdup(exp->description);
        size = nbd_export_size(exp);
        flags = nbd_export_tx_flags(c, exp);
    }
    g_mutex_unlock(&nbd_lock);
    if (!exp) {
        return send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN,
                            "export '%.256s' not present", name);
    }
    if (want_name && send_info(c, opt, NBD_INFO_NAME, name, name_len) < 0) {
        return -1;
    }
    if (want_desc && desc &&
        send_info(c, opt, NBD_INFO_DESCRIPTION, desc, strlen(desc)) < 0) {
        return -1;
    }
    nbd_put32(buf, 1);
    nbd_put32(buf + 4, NBD_PREFERRED_BLOCK_SIZE);
    nbd_put32(buf + 8, NBD_MAX_BUFFER_SIZE);
    if (send_info(c, opt, NBD_INFO_BLOCK_SIZE, buf, 12) < 0) {
        return -1;
    }
    nbd_put64(buf, size);
    nbd_put16(buf + 8, flags);
    if (send_info(c, opt, NBD_INFO_EXPORT, buf, 10) < 0) {
        return -1;
    }
    if (opt == NBD_OPT_INFO) {
        return send_rep(c, opt, NBD_REP_ACK, NULL, 0);
    }
    /* GO: attach, unless it was closed in between */
    if (!nbd_client_attach(c, name)) {
        return send_rep_err(c, opt, NBD_REP_ERR_UNKNOWN,
                            "export '%.256s' not present", name);
    }
    c->tx_flags = nbd_export_tx_flags(c, c->exp);
    if (send_rep(c, opt, NBD_REP_ACK, NULL, 0) < 0) {
        return -1;
    }
    *entered = true;
    return 0;
}

/* The old way in: no reply on error, the connection just ends. */
static int opt_export_name(NbdClient *c, const uint8_t *d, uint32_t len,
                           bool *entered)
{
    g_autofree char *name = g_strndup((const char *)d, len);
    uint8_t buf[8 + 2 + 124] = { 0 };

    if (len > NBD_MAX_STRING_SIZE || !nbd_client_attach(c, name)) {
        return -1;
    }
    c->tx_flags = nbd_export_tx_flags(c, c->exp);
    nbd_put64(buf, nbd_export_size(c->exp));
    nbd_put16(buf + 8, c->tx_flags);
    if (nbd_write_full(c, buf, c->no_zeroes ? 10 : sizeof(buf)) < 0) {
        return -1;
    }
    *entered = true;
    return 0;
}

static int opt_list(NbdClient *c, uint32_t len)
{
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GList *all;

    if (len) {
        return send_rep_err(c, NBD_OPT_LIST, NBD_REP_ERR_INVALID,
                            "Invalid length for option");
    }
    g_mutex_lock(&nbd_lock);
    all = nbd_export_list_locked();
    for (GList *l = all; l; l = l->next) {
        NbdExport *exp = l->data;

        g_ptr_array_add(names, g_strdup(exp->name));
        g_ptr_array_add(names, g_strdup(exp->description ? exp->description
                                                         : ""));
    }
    g_list_free(all);
    g_mutex_unlock(&nbd_lock);
    for (guint i = 0; i < names->len; i += 2) {
        const char *name = names->pdata[i], *desc = names->pdata[i + 1];
        size_t nl = strlen(name), dl = strlen(desc);
        g_autofree uint8_t *buf = g_malloc(4 + nl + dl);

        nbd_put32(buf, nl);
        memcpy(buf + 4, name, nl);
        memcpy(buf + 4 + nl, desc, dl);
        if (send_rep(c, NBD_OPT_LIST, NBD_REP_SERVER, buf, 4 + nl + dl) < 0) {
            return -1;
        }
    }
    return send_rep(c, NBD_OPT_LIST, NBD_REP_ACK, NULL, 0);
}

/* ---- metadata contexts ---- */

static guint meta_count(NbdExport *exp)
{
    return NBD_META_BITMAP_FIRST + exp->n_bitmaps;
}

static const char *meta_name(NbdExport *exp, guint i)
{
    switch (i) {
    case NBD_META_BASE_ALLOCATION:
        return "base:allocation";
    case NBD_META_ALLOCATION_DEPTH:
        return "qemu:allocation-depth";
    default:
        return exp->bitmap_contexts[i - NBD_META_BITMAP_FIRST];
    }
}

static bool meta_available(NbdExport *exp, guint i)
{
    return i != NBD_META_ALLOCATION_DEPTH || exp->allocation_depth;
}

/* Every context of the export: LIST with no query. */
static uint32_t meta_all(NbdExport *exp)
{
    uint32_t set = 0;

    for (guint i = 0; i < meta_count(exp); i++) {
        set |= meta_available(exp, i) ? 1U << i : 0;
    }
    return set;
}

/*
 * Contexts a query names, as QEMU 7.2 matches them: an exact name (the
 * first bitmap of that name), and for LIST only a bare namespace ("base:",
 * "qemu:") or "qemu:dirty-bitmap:" for all it holds.
 */
static uint32_t meta_match(NbdExport *exp, const char *q, bool list)
{
    static const char bitmap_ns[] = "qemu:dirty-bitmap:";
    uint32_t set = 0;

    for (guint i = 0; i < meta_count(exp); i++) {
        const char *name = meta_name(exp, i);
        size_t ns = strchr(name, ':') - name + 1;
        bool bitmap = i >= NBD_META_BITMAP_FIRST;

        if (!meta_available(exp, i)) {
            continue;
        }
        if (!strcmp(q, name)) {
            set |= 1U << i;
            if (bitmap) {
                break;
            }
        } else if (list && ((strlen(q) == ns && !strncmp(q, name, ns)) ||
                            (bitmap && !strcmp(q, bitmap_ns)))) {
            set |= 1U << i;
        }
    }
    return set;
}

/*
 * Parse the queries of a LIST/SET_META_CONTEXT for @name's export and
 * copy out the selected names (nbd_lock held: the export may close
 * meanwhile).  *set: the selection; *names: its names in id order.
 * Returns 0, or the NBD_REP_ERR_* to answer.
 */
static uint32_t meta_select(const char *name, const uint8_t *d, uint32_t len,
                            uint32_t pos, bool list, uint32_t *set,
                            GPtrArray *names)
{
    NbdExport *exp = nbd_export_lookup_locked(name);
    uint32_t n_q = nbd_get32(d + pos - 4);

    for (uint32_t i = 0; exp && i < n_q; i++) {
        g_autofree char *q = NULL;
        uint32_t ql;

        if (len - pos < 4 || (ql = nbd_get32(d + pos)) > len - pos - 4) {
            return NBD_REP_ERR_INVALID;
        }
        q = g_strndup((const char *)d + pos + 4, ql);
        pos += 4 + ql;
        *set |= meta_match(exp, q, list);
    }
    if (!exp) {
        return NBD_REP_ERR_UNKNOWN;
    }
    if (pos != len) {
        return NBD_REP_ERR_INVALID;
    }
    if (list && n_q == 0) {
        *set = meta_all(exp);
    }
    for (guint i = 0; i < meta_count(exp); i++) {
        if (*set & (1U << i)) {
            g_ptr_array_add(names, g_strdup(meta_name(exp, i)));
        }
    }
    return 0;
}

/* Data: u32 name length, name, u32 count, count (u32 length, query). */
static int opt_meta(NbdClient *c, uint32_t opt, const uint8_t *d,
                    uint32_t len)
{
    bool list = opt == NBD_OPT_LIST_META_CONTEXT;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *name = NULL;
    uint32_t name_len, set = 0, err, left;

    if (!list && !c->structured) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                            "request option 'set meta context' when "
                            "structured reply is not negotiated");
    }
    if (len < 8 || (name_len = nbd_get32(d)) > len - 8) {
        return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                            "Invalid length for option");
    }
    name = g_strndup((const char *)d + 4, name_len);
    g_mutex_lock(&nbd_lock);
    err = meta_select(name, d, len, 8 + name_len, list, &set, names);
    g_mutex_unlock(&nbd_lock);
    if (err == NBD_REP_ERR_INVALID) {
        return send_rep_err(c, opt, err, "Invalid length for option");
    }
    if (err) {
        return send_rep_err(c, opt, err, "export '%.256s' not present", name);
    }
    left = set;
    for (guint k = 0; k < names->len; k++) {
        const char *ctx = names->pdata[k];
        size_t nl = strlen(ctx);
        g_autofree uint8_t *buf = g_malloc(4 + nl);
        int i = __builtin_ctz(left);

        left &= left - 1;
        nbd_put32(buf, list ? 0 : i);
        memcpy(buf + 4, ctx, nl);
        if (send_rep(c, opt, NBD_REP_META_CONTEXT, buf, 4 + nl) < 0) {
            return -1;
        }
    }
    if (!list) {
        c->meta = set;
    }
    return send_rep(c, opt, NBD_REP_ACK, NULL, 0);
}

/* ---- the option loop ---- */

/* Skip @len bytes of an option we will not read. */
static int skip_bytes(NbdClient *c, uint32_t len)
{
    uint8_t buf[4096];

    while (len) {
        uint32_t n = MIN(len, sizeof(buf));

        if (nbd_read_full(c, buf, n) < 0) {
            return -1;
        }
        len -= n;
    }
    return 0;
}

static int handle_option(NbdClient *c, uint32_t opt, const uint8_t *d,
                         uint32_t len, bool *entered)
{
    switch (opt) {
    case NBD_OPT_EXPORT_NAME:
        return opt_export_name(c, d, len, entered);
    case NBD_OPT_ABORT:
        send_rep(c, opt, NBD_REP_ACK, NULL, 0);
        return -1;
    case NBD_OPT_LIST:
        return opt_list(c, len);
    case NBD_OPT_INFO:
    case NBD_OPT_GO:
        return opt_info_go(c, opt, d, len, entered);
    case NBD_OPT_STRUCTURED_REPLY:
        if (len) {
            return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "Invalid length for option");
        }
        if (c->structured) {
            return send_rep_err(c, opt, NBD_REP_ERR_INVALID,
                                "structured reply already negotiated");
        }
        c->structured = true;
        return send_rep(c, opt, NBD_REP_ACK, NULL, 0);
    case NBD_OPT_LIST_META_CONTEXT:
    case NBD_OPT_SET_META_CONTEXT:
        return opt_meta(c, opt, d, len);
    case NBD_OPT_STARTTLS:
        return send_rep_err(c, opt, NBD_REP_ERR_POLICY,
                            "TLS not configured");
    default:
        return send_rep_err(c, opt, NBD_REP_ERR_UNSUP,
                            "Unsupported option %" G_GUINT32_FORMAT, opt);
    }
}

static int greet(NbdClient *c)
{
    uint8_t buf[18];
    uint32_t cflags;

    nbd_put64(buf, NBD_INIT_MAGIC);
    nbd_put64(buf + 8, NBD_OPTS_MAGIC);
    nbd_put16(buf + 16, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES);
    if (nbd_write_full(c, buf, 18) < 0 || nbd_read_full(c, buf, 4) < 0) {
        return -1;
    }
    cflags = nbd_get32(buf);
    if (!(cflags & NBD_FLAG_C_FIXED_NEWSTYLE) ||
        (cflags & ~(NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES))) {
        return -1; /* old-style clients and unknown flags: no way on */
    }
    c->no_zeroes = cflags & NBD_FLAG_C_NO_ZEROES;
    return 0;
}

bool nbd_handshake(NbdClient *c)
{
    g_autofree uint8_t *data = g_malloc(NBD_MAX_OPTION_SIZE);
    bool entered = false;
    int flags;

    if (greet(c) < 0) {
        return false;
    }
    while (!entered) {
        uint8_t hdr[16];
        uint32_t opt, len;

        if (nbd_read_full(c, hdr, 16) < 0 ||
            nbd_get64(hdr) != NBD_OPTS_MAGIC) {
            return false;
        }
        opt = nbd_get32(hdr + 8);
        len = nbd_get32(hdr + 12);
        if (len > NBD_MAX_OPTION_SIZE) {
            if (len > NBD_MAX_OPTION_SKIP || opt == NBD_OPT_EXPORT_NAME ||
                skip_bytes(c, len) < 0 ||
                send_rep_err(c, opt, NBD_REP_ERR_TOO_BIG,
                             "option too long") < 0) {
                return false;
            }
            continue;
        }
        if (nbd_read_full(c, data, len) < 0 ||
            handle_option(c, opt, data, len, &entered) < 0) {
            return false;
        }
    }
    /* transmission: blocking socket, no deadline */
    c->deadline = 0;
    flags = fcntl(c->fd, F_GETFL);
    fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
    return true;
}
