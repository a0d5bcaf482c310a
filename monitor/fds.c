/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands for passed fds: fdsets (add-fd, remove-fd, query-fdsets),
 * named fds (getfd, closefd), and the fdset events.  Thin: the rules live in
 * util/fdset.c.
 */
#include "monitor-internal.h"

#include <fcntl.h>
#include <string.h>

#include "qapi/cur-monitor.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qapi/qmp-schema.h"
#include "qapi/qmp.h"
#include "qapi/visit-json.h"
#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

#define NO_FD_MESSAGE "No file descriptor supplied via SCM_RIGHTS"
/* getfd names per monitor: every resource a client makes us hold is
 * bounded. */
#define MAX_NAMED_FDS 256

/*
 * The reply of query-fdsets is written as JSON text by hand, straight from
 * the registry's records, into room reserved
 * at the end of the reply: printf, a GString call per token, or a tree of
 * JSON objects cost more than the rest of the command.
 */
static inline char *put_bytes(char *p, const char *s, size_t len)
{
    memcpy(p, s, len);
    return p + len;
}

#define PUT_LIT(p, lit) put_bytes((p), (lit), sizeof(lit) - 1)
/* Longest text of a set's head or tail, or of a member without its opaque,
 * with room to spare. */
#define QUERY_TEXT_MAX 256

/* Room for QUERY_TEXT_MAX bytes at the end of @out: where they go. */
static char *out_reserve(GString *out)
{
    gsize len = out->len;

    g_string_set_size(out, len + QUERY_TEXT_MAX);
    out->len = len;
    return out->str + len;
}

/* What was written at the reserved room ends at @end. */
static void out_commit(GString *out, char *end)
{
    out->len = end - out->str;
    *end = '\0';
}

static char *put_int(char *p, int64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *d = qapi_format_int(end, v);

    return put_bytes(p, d, end - d);
}

static char *put_access_mode(char *p, int flags)
{
    switch (flags & O_ACCMODE) {
    case O_RDONLY:
        return PUT_LIT(p, "read-only");
    case O_WRONLY:
        return PUT_LIT(p, "write-only");
    default:
        return PUT_LIT(p, "read-write");
    }
}

static char *put_flag(char *p, bool *first, const char *quoted, size_t len)
{
    if (!*first) {
        p = PUT_LIT(p, ", ");
    }
    *first = false;
    return put_bytes(p, quoted, len);
}

#define PUT_FLAG(p, first, lit) put_flag((p), (first), (lit), sizeof(lit) - 1)

static char *put_flag_names(char *p, int flags)
{
    bool first = true;

    *p++ = '[';
    if (flags & O_DIRECT) {
        p = PUT_FLAG(p, &first, "\"direct\"");
    }
    /* O_SYNC includes the O_DSYNC bit: dsync is only dsync alone. */
    if ((flags & O_SYNC) == O_SYNC) {
        p = PUT_FLAG(p, &first, "\"sync\"");
    } else if (flags & O_DSYNC) {
        p = PUT_FLAG(p, &first, "\"dsync\"");
    }
    if (flags & O_APPEND) {
        p = PUT_FLAG(p, &first, "\"append\"");
    }
    if (flags & O_NONBLOCK) {
        p = PUT_FLAG(p, &first, "\"nonblock\"");
    }
    *p++ = ']';
    return p;
}

/* FdsetFdInfo, members in QEMU's order (as the generated visitor). */
static void append_member(GString *out, const FdSetMemberInfo *m)
{
    char *p = out_reserve(out);

    p = PUT_LIT(p, "{\"flags\": ");
    p = put_flag_names(p, m->flags);
    if (m->persistent) {
        p = PUT_LIT(p, ", \"persistent\": true");
    } else {
        p = PUT_LIT(p, ", \"persistent\": false");
    }
    p = PUT_LIT(p, ", \"fd\": ");
    p = put_int(p, m->fd);
    p = PUT_LIT(p, ", \"access-mode\": \"");
    p = put_access_mode(p, m->flags);
    p = PUT_LIT(p, "\", \"dev\": ");
    p = put_int(p, (int64_t)m->dev);
    p = PUT_LIT(p, ", \"ino\": ");
    p = put_int(p, (int64_t)m->ino);
    if (m->opaque) {
        p = PUT_LIT(p, ", \"opaque\": ");
        out_commit(out, p);
        qmp_json_append_string(out, m->opaque);
        p = out_reserve(out);
    }
    *p++ = '}';
    out_commit(out, p);
}

AddfdInfo *qmp_add_fd(bool has_fdset_id, int64_t fdset_id, bool has_opaque,
                      const char *opaque, bool has_persistent,
                      bool persistent, GError **errp)
{
    int fd = cur_mon_take_fd(); /* ours until fdset_add_fd takes it */
    int64_t out_id;
    AddfdInfo *info;

    if (fd < 0) {
        error_setg(errp, NO_FD_MESSAGE);
        return NULL;
    }
    if (!has_persistent) {
        persistent = monitor_persistent_default;
    }
    /* fdset_add_fd takes ownership of @fd, also on failure. */
    if (!fdset_add_fd(has_fdset_id, fdset_id, fd,
                      has_opaque ? opaque : NULL,
                      persistent ? FDSET_OWNER_PROCESS : cur_mon_owner(),
                      &out_id, errp)) {
        return NULL;
    }
    info = g_new(AddfdInfo, 1);
    info->fdset_id = out_id;
    info->fd = fd;
    return info;
}

void qmp_remove_fd(int64_t fdset_id, bool has_fd, int64_t fd, GError **errp)
{
    fdset_remove_fd(fdset_id, has_fd, fd, errp);
}

typedef struct QueryWriter {
    GString *out;
    bool first;
} QueryWriter;

/* FdsetInfo, members in QEMU's order (as the generated visitor). */
static void append_set(const FdSetInfo *set, void *opaque)
{
    QueryWriter *w = opaque;
    char *p = out_reserve(w->out);

    if (!w->first) {
        p = PUT_LIT(p, ", ");
    }
    w->first = false;
    p = PUT_LIT(p, "{\"dup-count\": ");
    p = put_int(p, set->dup_count);
    p = PUT_LIT(p, ", \"fds\": [");
    out_commit(w->out, p);
    for (guint j = 0; j < set->n_members; j++) {
        if (j) {
            g_string_append_len(w->out, ", ", 2);
        }
        append_member(w->out, &set->members[j]);
    }
    p = out_reserve(w->out);
    p = PUT_LIT(p, "], \"fdset-id\": ");
    p = put_int(p, set->fdset_id);
    *p++ = '}';
    out_commit(w->out, p);
}

/*
 * 'gen': false: FdsetInfoList is written straight from the registry's
 * records, in the bytes the generated visitor would write for it (QEMU's
 * member order), without building the list (figure (b) of bench/README.md).
 */
bool qmp_marshal_query_fdsets(JsonObject *args, GString *out, GError **errp)
{
    QueryWriter w = { .out = out, .first = true };

    /* room for the whole reply at once */
    monitor_out_buffer_reserve(out, 64 + fdset_count_sets() * 160);
    g_string_append_c(w.out, '[');
    fdset_query_foreach(append_set, &w);
    g_string_append_c(w.out, ']');
    return true;
}

/* The current monitor's names (NULL outside a command). */
static GHashTable *cur_named_fds(void)
{
    MonitorConn *conn = monitor_cur_conn();

    return conn ? conn->server->named_fds : NULL;
}

void qmp_getfd(const char *name, GError **errp)
{
    GHashTable *named = cur_named_fds();
    int fd = cur_mon_take_fd();
    gpointer old;

    if (fd < 0) {
        error_setg(errp, NO_FD_MESSAGE);
        return;
    }
    if (g_ascii_isdigit(name[0])) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "Parameter 'fdname' expects a name not starting "
                   "with a digit");
        return;
    }
    if (g_hash_table_lookup_extended(named, name, NULL, &old)) {
        qemu_close_fd_quietly(GPOINTER_TO_INT(old));
    } else if (g_hash_table_size(named) >= MAX_NAMED_FDS) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "Too many named file descriptors on this monitor "
                   "(limit %d)", MAX_NAMED_FDS);
        return;
    }
    /* The monitor's table owns @fd from here. */
    g_hash_table_replace(named, g_strdup(name), GINT_TO_POINTER(fd));
}

void qmp_closefd(const char *name, GError **errp)
{
    GHashTable *named = cur_named_fds();
    gpointer fd;

    if (!g_hash_table_lookup_extended(named, name, NULL, &fd)) {
        error_setg(errp, "File descriptor named '%s' not found", name);
        return;
    }
    g_hash_table_remove(named, name);
    qemu_close_fd_quietly(GPOINTER_TO_INT(fd));
}

int cur_mon_take_named_fd(const char *name, GError **errp)
{
    GHashTable *named = cur_named_fds();
    gpointer fd;

    if (!named || !g_hash_table_lookup_extended(named, name, NULL, &fd)) {
        error_setg(errp, "File descriptor named '%s' has not been found",
                   name);
        return -1;
    }
    g_hash_table_remove(named, name); /* the caller owns it now */
    return GPOINTER_TO_INT(fd);
}

GHashTable *monitor_named_fds_new(void)
{
    return g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
}

void monitor_named_fds_close_all(GHashTable *named_fds)
{
    GHashTableIter it;
    gpointer fd;

    g_hash_table_iter_init(&it, named_fds);
    while (g_hash_table_iter_next(&it, NULL, &fd)) {
        qemu_close_fd_quietly(GPOINTER_TO_INT(fd));
    }
    g_hash_table_remove_all(named_fds);
}

FdsetdLimits *qmp_query_fdsetd_limits(GError **errp)
{
    FdsetdLimits *ret = g_new0(FdsetdLimits, 1);
    FdSetLimits fl;

    fdset_get_limits(&fl);
    ret->max_sets = fl.max_sets;
    ret->max_fds_per_set = fl.max_fds_per_set;
    ret->max_fds_total = fl.max_fds_total;
    ret->max_fds_per_message = monitor_limits.max_fds_per_message;
    ret->max_message_size = monitor_limits.max_message_size;
    ret->max_json_depth = monitor_limits.max_json_depth;
    ret->max_connections = monitor_limits.max_connections;
    ret->strict_same_file = fl.strict_same_file;
    return ret;
}

/* ---- events ------------------------------------------------------------ */

/* Registry changes become QMP events (dups and releases stay internal). */
static void fdset_event_to_qmp(const FdSetEvent *ev, void *opaque)
{
    if (!g_atomic_int_get(&monitor_fdset_event_subscribers)) {
        return; /* nobody listens: do not even build it */
    }
    switch (ev->kind) {
    case FDSET_EVENT_FD_ADDED:
        qapi_event_send_fdset_fd_added(ev->fdset_id, ev->fd, ev->opaque != NULL,
                                       ev->opaque, ev->other_file, true);
        break;
    case FDSET_EVENT_FD_REMOVED:
        qapi_event_send_fdset_fd_removed(
            ev->fdset_id, ev->fd,
            qapi_enum_parse(&FdsetRemoveReason_lookup,
                            fdset_reason_name(ev->reason),
                            FDSET_REMOVE_REASON_REMOVE_FD));
        break;
    case FDSET_EVENT_FREED:
        qapi_event_send_fdset_freed(ev->fdset_id);
        break;
    default:
        break;
    }
}

void monitor_fds_init(void)
{
    fdset_add_listener(fdset_event_to_qmp, NULL);
    monitor_fds_update_listener();
}

void monitor_fds_update_listener(void)
{
    /* without subscribers the registry need not record events for us */
    fdset_set_listener_active(
        fdset_event_to_qmp, NULL,
        g_atomic_int_get(&monitor_fdset_event_subscribers) > 0);
}
