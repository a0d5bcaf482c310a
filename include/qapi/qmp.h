/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP pieces below the monitor: writing QMP text, and events.
 *
 * Command handlers are typed C functions generated from the qapi/ schema
 * (see qapi/qapi-commands.h and docs/devel-qapi.rst): command "foo-bar" is
 * served by qmp_foo_bar(), which never sees JSON.  What a handler needs from
 * the connection that sent the command comes from qapi/cur-monitor.h.
 */
#ifndef QAPI_QMP_H
#define QAPI_QMP_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>

/*
 * Append @s to @out as a JSON string literal (quoted, escaped; bytes that
 * are not UTF-8 as U+FFFD).
 */
void qmp_json_append_string(GString *out, const char *s);

/* Append @node as JSON laid out as QEMU does: {"a": 1, "b": [2]}. */
void qmp_json_append_node(GString *out, JsonNode *node);

/*
 * Events: anything may emit one (the generated qapi_event_send_<name>() in
 * qapi/qapi-events.h); the monitor registers the sink that timestamps it
 * and sends it to every negotiated connection.  Thread-safe; delivery
 * happens on the main loop, in emission order.  The sink borrows @name and
 * @data (the event's "data" as QMP text, or NULL when it has none).
 */
typedef void (*QapiEventSink)(const char *name, const char *data);
void qapi_event_set_sink(QapiEventSink sink);

/* Emit event @name; takes @data (QMP text, g_free'd; may be NULL). */
void qapi_event_emit(const char *name, char *data);

/* The same from a JSON object (takes @data, may be NULL): for tests. */
void qapi_event_send(const char *name, JsonObject *data);

#endif
