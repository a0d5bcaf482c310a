/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands for passed fds: fdsets (add-fd, remove-fd, query-fdsets),
 * named fds (getfd, closefd), and the fdset events.  Thin: the rules live in
 * util/fdset.c.
 */
#include "monitor-internal.h"

#include <fcntl.h>

#include "qapi/qmp.h"
#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

#define NO_FD_MESSAGE "No file descriptor supplied via SCM_RIGHTS"
/* getfd names per connection: every resource a client makes us hold is
 * bounded. */
#define MAX_NAMED_FDS 256

JsonNode *qmp_add_fd(JsonObject *args, QmpContext *ctx, GError **errp)
{
    int64_t fdset_id = -1, out_id;
    bool has_id = qmp_arg_int(args, "fdset-id", &fdset_id);
    bool persistent = monitor_persistent_default;
    int fd = qmp_ctx_take_fd(ctx); /* ours until fdset_add_fd takes it */
    JsonObject *ret;

    if (fd < 0) {
        error_setg(errp, NO_FD_MESSAGE);
        return NULL;
    }
    qmp_arg_bool(args, "persistent", &persistent);
    /* fdset_add_fd takes ownership of @fd, also on failure. */
    if (!fdset_add_fd(has_id, fdset_id, fd, qmp_arg_str(args, "opaque"),
                      persistent ? FDSET_OWNER_PROCESS : qmp_ctx_owner(ctx),
                      &out_id, errp)) {
        return NULL;
    }
    ret = json_object_new();
    json_object_set_int_member(ret, "fdset-id", out_id);
    json_object_set_int_member(ret, "fd", fd);
    return qmp_node_object(ret);
}

JsonNode *qmp_remove_fd(JsonObject *args, QmpContext *ctx, GError **errp)
{
    int64_t fdset_id = 0, fd = -1;
    bool has_fd;

    qmp_arg_int(args, "fdset-id", &fdset_id);
    has_fd = qmp_arg_int(args, "fd", &fd);
    if (!fdset_remove_fd(fdset_id, has_fd, fd, errp)) {
        return NULL;
    }
    return NULL;
}

static const char *access_mode_name(int flags)
{
    switch (flags & O_ACCMODE) {
    case O_RDONLY:
        return "read-only";
    case O_WRONLY:
        return "write-only";
    default:
        return "read-write";
    }
}

/* printf costs more than the rest of a large query: format by hand. */
static void append_int(GString *out, int64_t v)
{
    char buf[24];
    char *p = buf + sizeof(buf);
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

    do {
        *--p = '0' + u % 10;
        u /= 10;
    } while (u);
    if (v < 0) {
        *--p = '-';
    }
    g_string_append_len(out, p, buf + sizeof(buf) - p);
}

static void append_flag_names(GString *out, int flags)
{
    const char *sep = "";

    g_string_append_c(out, '[');
    if (flags & O_DIRECT) {
        g_string_append(out, "\"direct\"");
        sep = ", ";
    }
    /* O_SYNC includes the O_DSYNC bit: dsync is only dsync alone. */
    if ((flags & O_SYNC) == O_SYNC || (flags & O_DSYNC)) {
        g_string_append(out, sep);
        g_string_append(out, (flags & O_SYNC) == O_SYNC ? "\"sync\""
                                                          : "\"dsync\"");
        sep = ", ";
    }
    if (flags & O_APPEND) {
        g_string_append(out, sep);
        g_string_append(out, "\"append\"");
        sep = ", ";
    }
    if (flags & O_NONBLOCK) {
        g_string_append(out, sep);
        g_string_append(out, "\"nonblock\"");
    }
    g_string_append_c(out, ']');
}

static void append_member(GString *out, const FdSetMemberInfo *m)
{
    g_string_append(out, "{\"fd\": ");
    append_int(out, m->fd);
    if (m->opaque) {
        g_string_append(out, ", \"opaque\": ");
        qmp_json_append_string(out, m->opaque);
    }
    g_string_append(out, ", \"access-mode\": \"");
    g_string_append(out, access_mode_name(m->flags));
    g_string_append(out, "\", \"flags\": ");
    append_flag_names(out, m->flags);
    g_string_append(out, ", \"dev\": ");
    append_int(out, (int64_t)m->dev);
    g_string_append(out, ", \"ino\": ");
    append_int(out, (int64_t)m->ino);
    g_string_append(out, m->persistent ? ", \"persistent\": true}"
                                       : ", \"persistent\": false}");
}

/*
 * Written straight as JSON text: with thousands of sets, building a tree
 * of JSON objects first costs ten times the work.
 */
JsonNode *qmp_query_fdsets(JsonObject *args, QmpContext *ctx, GError **errp)
{
    guint n_sets;
    FdSetInfo *sets = fdset_query(&n_sets);
    GString *out = g_string_sized_new(64 + n_sets * 160);

    g_string_append_c(out, '[');
    for (guint i = 0; i < n_sets; i++) {
        g_string_append(out, i ? ", {\"fdset-id\": " : "{\"fdset-id\": ");
        append_int(out, sets[i].fdset_id);
        g_string_append(out, ", \"fds\": [");
        for (guint j = 0; j < sets[i].n_members; j++) {
            if (j) {
                g_string_append(out, ", ");
            }
            append_member(out, &sets[i].members[j]);
        }
        g_string_append(out, "], \"dup-count\": ");
        append_int(out, sets[i].dup_count);
        g_string_append_c(out, '}');
    }
    g_string_append_c(out, ']');
    fdset_info_free(sets, n_sets);
    qmp_ctx_set_return_json(ctx, out); /* the reply owns @out now */
    return NULL;
}

JsonNode *qmp_getfd(JsonObject *args, QmpContext *ctx, GError **errp)
{
    const char *name = qmp_arg_str(args, "fdname");
    GHashTable *named = qmp_ctx_named_fds(ctx);
    int fd = qmp_ctx_take_fd(ctx);
    gpointer old;

    if (fd < 0) {
        error_setg(errp, NO_FD_MESSAGE);
        return NULL;
    }
    if (g_ascii_isdigit(name[0])) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "Parameter 'fdname' expects a name not starting "
                   "with a digit");
        return NULL;
    }
    if (g_hash_table_lookup_extended(named, name, NULL, &old)) {
        qemu_close_fd_quietly(GPOINTER_TO_INT(old));
    } else if (g_hash_table_size(named) >= MAX_NAMED_FDS) {
        qemu_close_fd_quietly(fd);
        error_setg(errp, "Too many named file descriptors on this connection "
                   "(limit %d)", MAX_NAMED_FDS);
        return NULL;
    }
    /* The connection's table owns @fd from here. */
    g_hash_table_replace(named, g_strdup(name), GINT_TO_POINTER(fd));
    return NULL;
}

JsonNode *qmp_closefd(JsonObject *args, QmpContext *ctx, GError **errp)
{
    const char *name = qmp_arg_str(args, "fdname");
    GHashTable *named = qmp_ctx_named_fds(ctx);
    gpointer fd;

    if (!g_hash_table_lookup_extended(named, name, NULL, &fd)) {
        error_setg(errp, "File descriptor named '%s' not found", name);
        return NULL;
    }
    g_hash_table_remove(named, name);
    qemu_close_fd_quietly(GPOINTER_TO_INT(fd));
    return NULL;
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

JsonNode *qmp_query_fdsetd_limits(JsonObject *args, QmpContext *ctx,
                                  GError **errp)
{
    FdSetLimits fl;
    JsonObject *ret = json_object_new();

    fdset_get_limits(&fl);
    json_object_set_int_member(ret, "max-sets", fl.max_sets);
    json_object_set_int_member(ret, "max-fds-per-set", fl.max_fds_per_set);
    json_object_set_int_member(ret, "max-fds-total", fl.max_fds_total);
    json_object_set_int_member(ret, "max-fds-per-message",
                               monitor_limits.max_fds_per_message);
    json_object_set_int_member(ret, "max-message-size",
                               monitor_limits.max_message_size);
    json_object_set_int_member(ret, "max-json-depth",
                               monitor_limits.max_json_depth);
    json_object_set_int_member(ret, "max-connections",
                               monitor_limits.max_connections);
    json_object_set_boolean_member(ret, "strict-same-file",
                                   fl.strict_same_file);
    return qmp_node_object(ret);
}

/* ---- events ------------------------------------------------------------ */

static JsonObject *event_data(const FdSetEvent *ev)
{
    JsonObject *data = json_object_new();

    json_object_set_int_member(data, "fdset-id", ev->fdset_id);
    if (ev->kind == FDSET_EVENT_FREED) {
        return data;
    }
    json_object_set_int_member(data, "fd", ev->fd);
    if (ev->kind == FDSET_EVENT_FD_ADDED) {
        if (ev->opaque) {
            json_object_set_string_member(data, "opaque", ev->opaque);
        }
        if (ev->other_file) {
            json_object_set_boolean_member(data, "other-file", TRUE);
        }
    } else {
        json_object_set_string_member(data, "reason",
                                      fdset_reason_name(ev->reason));
    }
    return data;
}

/* Registry changes become QMP events (dups and releases stay internal). */
static void fdset_event_to_qmp(const FdSetEvent *ev, void *opaque)
{
    if (!g_atomic_int_get(&monitor_fdset_event_subscribers)) {
        return; /* nobody listens: do not even build it */
    }
    switch (ev->kind) {
    case FDSET_EVENT_FD_ADDED:
        qapi_event_send("FDSET_FD_ADDED", event_data(ev));
        break;
    case FDSET_EVENT_FD_REMOVED:
        qapi_event_send("FDSET_FD_REMOVED", event_data(ev));
        break;
    case FDSET_EVENT_FREED:
        qapi_event_send("FDSET_FREED", event_data(ev));
        break;
    default:
        break;
    }
}

void monitor_fds_init(void)
{
    fdset_add_listener(fdset_event_to_qmp, NULL);
}
