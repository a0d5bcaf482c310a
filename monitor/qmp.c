/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP protocol: greeting, capabilities negotiation, request checks,
 * dispatch through the schema's command table, responses and events.
 */
#include "monitor-internal.h"

#include <errno.h>
#include <string.h>

#include "qemu/json-parse.h"
#include "qapi/cur-monitor.h"
#include "qapi/hmp.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qapi/qmp-schema.h"
#include "qapi/qmp.h"
#include "qapi/visit-json.h"
#include "qemu/fdset.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

/* The QEMU release whose QMP behaviour fdsetd follows. */
#define QMP_QEMU_MAJOR 7
#define QMP_QEMU_MINOR 2
#define QMP_QEMU_MICRO 0

/* The command running now (main loop only; NULL between commands). */
struct QmpContext {
    MonitorConn *conn;
    GArray *fds;              /* fds of this command; -1 once taken */
    guint next_fd;
    bool quit;
};

static QmpContext *cur_ctx;

/* ---- qapi/cur-monitor.h ------------------------------------------------ */

MonitorConn *monitor_cur_conn(void)
{
    return cur_ctx ? cur_ctx->conn : NULL;
}

int cur_mon_take_fd(void)
{
    while (cur_ctx && cur_ctx->next_fd < cur_ctx->fds->len) {
        int *slot = &g_array_index(cur_ctx->fds, int, cur_ctx->next_fd++);
        int fd = *slot;

        *slot = -1; /* the caller owns it from here */
        if (fd >= 0) {
            return fd;
        }
    }
    return -1;
}

guint cur_mon_fd_count(void)
{
    return cur_ctx ? cur_ctx->fds->len - cur_ctx->next_fd : 0;
}

uint64_t cur_mon_owner(void)
{
    return cur_ctx ? cur_ctx->conn->owner : FDSET_OWNER_PROCESS;
}

void cur_mon_request_quit(void)
{
    if (cur_ctx) {
        cur_ctx->quit = true;
    }
}

#define RETURN_HEAD "{\"return\": "

/* ---- output ------------------------------------------------------------ */

static void send_node(MonitorConn *conn, JsonNode *node)
{
    g_autoptr(GString) text = g_string_sized_new(256);

    qmp_json_append_node(text, node);
    monitor_conn_send(conn, text->str, text->len);
}

static JsonNode *version_node(void)
{
    JsonObject *triple = json_object_new();
    JsonObject *version = json_object_new();
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_object_set_int_member(triple, "micro", QMP_QEMU_MICRO);
    json_object_set_int_member(triple, "minor", QMP_QEMU_MINOR);
    json_object_set_int_member(triple, "major", QMP_QEMU_MAJOR);
    json_object_set_object_member(version, "qemu", triple);
    json_object_set_string_member(version, "package",
                                  "fdsetd " FDSETD_VERSION);
    json_node_take_object(node, version);
    return node;
}

VersionInfo *qmp_query_version(GError **errp)
{
    VersionInfo *info = g_new0(VersionInfo, 1);

    info->qemu = g_new0(VersionTriple, 1);
    info->qemu->major = QMP_QEMU_MAJOR;
    info->qemu->minor = QMP_QEMU_MINOR;
    info->qemu->micro = QMP_QEMU_MICRO;
    info->package = g_strdup("fdsetd " FDSETD_VERSION);
    return info;
}

/* HMP "info version", as QEMU prints it: the version, then the package. */
static bool hmp_info_version(const char *args, GString *out, GError **errp)
{
    g_string_append_printf(out, "%d.%d.%d%s\r\n", QMP_QEMU_MAJOR,
                           QMP_QEMU_MINOR, QMP_QEMU_MICRO,
                           "fdsetd " FDSETD_VERSION);
    return true;
}

/* Optional QMP capabilities fdsetd offers (no out-of-band execution). */
#define CAP_FDSET_EVENTS "fdset-events"

static JsonArray *capabilities_node(void)
{
    JsonArray *caps = json_array_new();

    json_array_add_string_element(caps, CAP_FDSET_EVENTS);
    return caps;
}

void monitor_qmp_greet(MonitorConn *conn)
{
    JsonObject *qmp = json_object_new();
    JsonObject *greeting = json_object_new();
    g_autoptr(JsonNode) node = NULL;

    json_object_set_member(qmp, "version", version_node());
    json_object_set_array_member(qmp, "capabilities", capabilities_node());
    json_object_set_object_member(greeting, "QMP", qmp);
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, greeting);
    send_node(conn, node);
    monitor_conn_flush(conn);
}

/* Finish a response begun in @msg (the id, if any, and "}") and send it. */
static void send_response(MonitorConn *conn, GString *msg, JsonNode *id)
{
    if (id) {
        g_string_append(msg, ", \"id\": ");
        qmp_json_append_node(msg, id);
    }
    qapi_out_lit(msg, "}", 1);
    monitor_conn_send_take(conn, msg);
}

/* QEMU sends the id ahead of an error (after a return): the same bytes. */
static void send_error(MonitorConn *conn, const GError *err, JsonNode *id)
{
    GString *msg = monitor_out_buffer_new(128);

    g_string_append_c(msg, '{');
    if (id) {
        g_string_append(msg, "\"id\": ");
        qmp_json_append_node(msg, id);
        g_string_append(msg, ", ");
    }
    g_string_append(msg, "\"error\": {\"class\": \"");
    g_string_append(msg, qmp_error_class_name(error_get_class(err)));
    g_string_append(msg, "\", \"desc\": ");
    qmp_json_append_string(msg, err->message);
    g_string_append(msg, "}}");
    monitor_conn_send_take(conn, msg);
}

/* {"timestamp": {...}, "event": NAME, "data": DATA}, QEMU's order. */
static void event_sink(const char *name, const char *data)
{
    gint64 now = g_get_real_time();
    g_autoptr(GString) text = g_string_sized_new(256);

    g_string_append_printf(text,
                           "{\"timestamp\": {\"seconds\": %" G_GINT64_FORMAT
                           ", \"microseconds\": %" G_GINT64_FORMAT
                           "}, \"event\": ",
                           now / G_USEC_PER_SEC, now % G_USEC_PER_SEC);
    qmp_json_append_string(text, name);
    if (data) {
        g_string_append(text, ", \"data\": ");
        g_string_append(text, data);
    }
    g_string_append_c(text, '}');
    monitor_broadcast_event(text->str, text->len,
                            g_str_has_prefix(name, "FDSET_"));
}

void monitor_qmp_emit_shutdown(const char *reason)
{
    qapi_event_send_shutdown(false,
                             qapi_enum_parse(&ShutdownCause_lookup, reason,
                                             SHUTDOWN_CAUSE_HOST_SIGNAL));
}

/* ---- request checks ---------------------------------------------------- */

/* QEMU's checks on the request object, in its order. */
static const char *check_request(JsonObject *req, GError **errp)
{
    g_autoptr(GList) names = json_object_get_members(req);
    JsonNode *exec;

    for (GList *l = names; l; l = l->next) {
        const char *name = l->data;
        JsonNode *member = json_object_get_member(req, name);

        if (!strcmp(name, "execute")) {
            if (!JSON_NODE_HOLDS_VALUE(member) ||
                json_node_get_value_type(member) != G_TYPE_STRING) {
                error_setg(errp, "QMP input member 'execute' must be a "
                           "string");
                return NULL;
            }
        } else if (!strcmp(name, "arguments")) {
            if (!JSON_NODE_HOLDS_OBJECT(member)) {
                error_setg(errp, "QMP input member 'arguments' must be an "
                           "object");
                return NULL;
            }
        } else if (strcmp(name, "id") != 0) {
            error_setg(errp, "QMP input member '%s' is unexpected", name);
            return NULL;
        }
    }
    exec = json_object_get_member(req, "execute");
    if (!exec) {
        error_setg(errp, "QMP input lacks member 'execute'");
        return NULL;
    }
    return json_node_get_string(exec);
}

static const QmpCommandDef *lookup_command(MonitorConn *conn,
                                           const char *name, GError **errp)
{
    bool is_caps = !strcmp(name, "qmp_capabilities");

    if (!conn->negotiated && !is_caps) {
        error_set(errp, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Expecting capabilities negotiation with "
                  "'qmp_capabilities'");
        return NULL;
    }
    if (conn->negotiated && is_caps) {
        error_set(errp, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
                  "Capabilities negotiation is already complete, command "
                  "ignored");
        return NULL;
    }
    const QmpCommandDef *cmd = qmp_find_command(name);
    if (!cmd) {
        error_set(errp, QMP_ERROR_CLASS_COMMAND_NOT_FOUND,
                  "The command %s has not been found", name);
    }
    return cmd;
}

/* ---- dispatch ---------------------------------------------------------- */

/* Runs the command of @req; its "return" value goes to @out. */
static bool run_command(QmpContext *ctx, JsonObject *req, const char *fd_error,
                        GString *out, GError **errp)
{
    const char *name = check_request(req, errp);
    const QmpCommandDef *cmd;
    JsonObject *args;
    g_autoptr(JsonObject) empty = NULL;
    bool ok;

    if (!name) {
        return false;
    }
    cmd = lookup_command(ctx->conn, name, errp);
    if (!cmd) {
        return false;
    }
    args = json_object_has_member(req, "arguments")
               ? json_object_get_object_member(req, "arguments")
               : (empty = json_object_new());
    if (!qmp_validate_args(cmd, args, errp)) {
        return false;
    }
    if (fd_error) {
        error_setg(errp, "%s", fd_error);
        return false;
    }
    g_assert(cur_ctx == NULL);      /* commands do not nest */
    cur_ctx = ctx;
    ok = cmd->fn(args, out, errp);
    cur_ctx = NULL;
    return ok;
}

static void close_untaken_fds(GArray *fds)
{
    for (guint i = 0; i < fds->len; i++) {
        qemu_close_fd_quietly(g_array_index(fds, int, i));
    }
    g_array_unref(fds);
}

static void handle_request(MonitorConn *conn, JsonNode *root, GArray *fds,
                           const char *fd_error)
{
    QmpContext ctx = { .conn = conn, .fds = fds };
    g_autoptr(GError) err = NULL;
    JsonObject *req = json_node_get_object(root);
    JsonNode *id = json_object_get_member(req, "id");
    GString *msg = monitor_out_buffer_new(128);
    bool ok;

    qapi_out_lit(msg, RETURN_HEAD, sizeof(RETURN_HEAD) - 1);
    ok = run_command(&ctx, req, fd_error, msg, &err);
    if (ctx.quit) {
        /* QEMU announces SHUTDOWN before it answers quit. */
        monitor_request_shutdown("host-qmp-quit");
    }
    /* Closed before the reply, so a client never sees them linger. */
    close_untaken_fds(fds);
    if (!ok) {
        g_string_free(msg, TRUE);
        send_error(conn, err, id);
    } else {
        send_response(conn, msg, id);
    }
}

static void report_stream_error(MonitorConn *conn, JsonStreamStatus status)
{
    g_autoptr(GError) err = NULL;

    switch (status) {
    case JSON_STREAM_STRAY_CLOSE:
        error_setg(&err, "JSON parse error, expecting value");
        break;
    case JSON_STREAM_TOO_LARGE:
        error_setg(&err, "JSON parse error, message too large "
                   "(limit %zu bytes)", monitor_limits.max_message_size);
        break;
    default:
        error_setg(&err, "JSON parse error, nesting too deep (limit %u)",
                   monitor_limits.max_json_depth);
        break;
    }
    send_error(conn, err, NULL);
}

void monitor_qmp_handle(MonitorConn *conn, JsonStreamStatus status,
                        const char *text, size_t len, GArray *fds,
                        const char *fd_error)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) root = NULL;

    if (status != JSON_STREAM_MESSAGE) {
        report_stream_error(conn, status);
        close_untaken_fds(fds);
        return;
    }
    root = json_parse_strict(text, len, &err);
    if (root && !JSON_NODE_HOLDS_OBJECT(root)) {
        error_setg(&err, "QMP input must be a JSON object");
    }
    if (err) {
        send_error(conn, err, NULL);
        close_untaken_fds(fds);
        return;
    }
    handle_request(conn, root, fds, fd_error);
}

void monitor_qmp_init(void)
{
    qapi_event_set_sink(event_sink);
    hmp_register_command("info version", hmp_info_version);
}

/* ---- protocol commands ------------------------------------------------- */

void qmp_qmp_capabilities(bool has_enable, QMPCapabilityList *enable,
                          GError **errp)
{
    MonitorConn *conn = monitor_cur_conn();
    bool fdset_events = monitor_fdset_events_default;

    for (QMPCapabilityList *l = enable; l; l = l->next) {
        if (l->value != QMP_CAPABILITY_FDSET_EVENTS) {
            error_setg(errp, "Capability '%s' not available",
                       QMPCapability_str(l->value));
            return;
        }
        fdset_events = true;
    }
    monitor_conn_set_fdset_events(conn, fdset_events);
    conn->negotiated = true;
}

void qmp_quit(GError **errp)
{
    cur_mon_request_quit();
}

CommandInfoList *qmp_query_commands(GError **errp)
{
    CommandInfoList *head = NULL, **tail = &head;

    for (guint i = 0; i < qmp_command_table_len; i++) {
        CommandInfoList *elt = g_new0(CommandInfoList, 1);

        elt->value = g_new0(CommandInfo, 1);
        elt->value->name = g_strdup(qmp_command_table[i].name);
        *tail = elt;
        tail = &elt->next;
    }
    return head;
}

/*
 * 'gen': false in the schema, as in QEMU: the reply is the introspection
 * text, written once (qmp_schema_introspection_json()), not thousands of
 * SchemaInfo structs built and written per request.
 */
bool qmp_marshal_query_qmp_schema(JsonObject *args, GString *out,
                                  GError **errp)
{
    const char *text = qmp_schema_introspection_json();
    size_t len = strlen(text);

    monitor_out_buffer_reserve(out, len);
    qapi_out_lit(out, text, len);
    return true;
}
