/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The contract between the QMP dispatcher and command handlers.
 *
 * Handlers are generated into a table from the qapi/ schema files: command "foo-bar" is
 * served by
 *
 *     JsonNode *qmp_foo_bar(JsonObject *args, QmpContext *ctx, GError **errp);
 *
 * @args has been validated against the schema (types, required and unknown
 * members) and is never NULL (an empty object when the request had none).
 * Return the "return" value (a new JsonNode, owned by the caller; NULL means
 * the empty object {}), or NULL with errp set.
 *
 * Handlers live in monitor/ (core commands) and block/ (block commands) and
 * include only this header (and through it qemu/json.h): they never see
 * the connection.
 */
#ifndef QAPI_QMP_H
#define QAPI_QMP_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct QmpContext QmpContext;

typedef JsonNode *(*QmpCommandFunc)(JsonObject *args, QmpContext *ctx,
                                    GError **errp);

/*
 * Take the next fd that came with this command.  The caller owns the result
 * from here (and must close it); -1 when there is none left.
 */
int qmp_ctx_take_fd(QmpContext *ctx);

/* Number of fds still untaken. */
guint qmp_ctx_fd_count(QmpContext *ctx);

/* Owner id of the connection running this command (for fdset members). */
uint64_t qmp_ctx_owner(QmpContext *ctx);

/* Per-connection named fds (getfd/closefd) live with the connection. */
GHashTable *qmp_ctx_named_fds(QmpContext *ctx);

/*
 * For large replies: the handler appends its "return" value, serialised as
 * JSON, to the buffer this returns (owned by @ctx; room for about
 * @size_hint bytes) and returns NULL without error.  The buffer already
 * holds the start of the reply, so it goes out without being copied.
 */
GString *qmp_ctx_return_json(QmpContext *ctx, gsize size_hint);

/*
 * Append @s to @out as a JSON string literal (quoted, escaped; bytes that
 * are not UTF-8 as U+FFFD).
 */
void qmp_json_append_string(GString *out, const char *s);

/* Append @node as JSON laid out as QEMU does: {"a": 1, "b": [2]}. */
void qmp_json_append_node(GString *out, JsonNode *node);

/* Ask the daemon to exit after this reply has been sent. */
void qmp_ctx_request_quit(QmpContext *ctx);

/*
 * Member accessors for handlers (the schema already checked types).
 * "has" is false when the member is absent.
 */
bool qmp_arg_int(JsonObject *args, const char *name, int64_t *out);
bool qmp_arg_bool(JsonObject *args, const char *name, bool *out);
const char *qmp_arg_str(JsonObject *args, const char *name); /* NULL absent */

/* Build helpers. */
JsonNode *qmp_node_object(JsonObject *obj); /* takes @obj */
JsonNode *qmp_node_array(JsonArray *arr);   /* takes @arr */

/*
 * Events: anything may emit one; the monitor registers the sink that
 * timestamps it and sends it to every negotiated connection.  Thread-safe;
 * delivery happens on the main loop, in emission order.  Takes @data
 * (may be NULL).
 */
typedef void (*QapiEventSink)(const char *name, JsonObject *data);
void qapi_event_set_sink(QapiEventSink sink);
void qapi_event_send(const char *name, JsonObject *data);

#endif
