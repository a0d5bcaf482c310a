/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small accessors for QMP handlers.  The arguments were validated against
 * the schema before the handler runs, so a member that is present has the
 * declared JSON type; these only tell "absent" apart.
 */
#include <math.h>
#include <string.h>

#include "qapi/qmp.h"

/* The member @name of @args, or NULL when absent. */
static JsonNode *arg_member(JsonObject *args, const char *name)
{
    if (!args) {
        return NULL;
    }
    return json_object_get_member(args, name);
}

bool qmp_arg_int(JsonObject *args, const char *name, int64_t *out)
{
    JsonNode *node = arg_member(args, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node)) {
        return false;
    }
    *out = json_node_get_int(node);
    return true;
}

bool qmp_arg_bool(JsonObject *args, const char *name, bool *out)
{
    JsonNode *node = arg_member(args, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node)) {
        return false;
    }
    *out = json_node_get_boolean(node);
    return true;
}

const char *qmp_arg_str(JsonObject *args, const char *name)
{
    JsonNode *node = arg_member(args, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_STRING) {
        return NULL;
    }
    return json_node_get_string(node);
}

JsonNode *qmp_node_object(JsonObject *obj)
{
    JsonNode *node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, obj);   /* the node owns @obj now */
    return node;
}

JsonNode *qmp_node_array(JsonArray *arr)
{
    JsonNode *node = json_node_new(JSON_NODE_ARRAY);

    json_node_take_array(node, arr);    /* the node owns @arr now */
    return node;
}

/* Escape for one ASCII byte, or NULL when it goes out as it is. */
static const char *ascii_escape(unsigned char c, char buf[8])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        if (c >= 0x20) {
            return NULL;
        }
        memcpy(buf, "\\u00", 4);
        buf[4] = hex[c >> 4];
        buf[5] = hex[c & 15];
        buf[6] = '\0';
        return buf;
    }
}

/*
 * Strings may come from outside the QMP stream (an -add-fd opaque, a name
 * in an image header) and need not be UTF-8: a byte that does not start a
 * valid character goes out as U+FFFD, so every reply is valid JSON.
 */
void qmp_json_append_string(GString *out, const char *s)
{
    const char *p = s;
    char buf[8];

    g_string_append_c(out, '"');
    while (*p) {
        unsigned char c = *p;

        if (c < 0x80) {
            const char *esc = ascii_escape(c, buf);
            if (esc) {
                g_string_append(out, esc);
            } else {
                g_string_append_c(out, c);
            }
            p++;
            continue;
        }
        gunichar ch = g_utf8_get_char_validated(p, -1);
        if (ch == (gunichar)-1 || ch == (gunichar)-2) {
            g_string_append(out, "\xef\xbf\xbd");
            p++;
            continue;
        }
        const char *next = g_utf8_next_char(p);
        g_string_append_len(out, p, next - p);
        p = next;
    }
    g_string_append_c(out, '"');
}

static void append_double(GString *out, double d)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (!isfinite(d)) {
        g_string_append(out, "null"); /* JSON has no infinity */
        return;
    }
    g_ascii_dtostr(buf, sizeof(buf), d);
    g_string_append(out, buf);
    if (!strpbrk(buf, ".eE")) {
        g_string_append(out, ".0"); /* stays a floating-point number */
    }
}

static void append_value(GString *out, JsonNode *node)
{
    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" G_GINT64_FORMAT,
                               json_node_get_int(node));
        break;
    case G_TYPE_DOUBLE:
        append_double(out, json_node_get_double(node));
        break;
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        qmp_json_append_string(out, json_node_get_string(node));
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}

static void append_object(GString *out, JsonObject *obj)
{
    JsonObjectIter it;
    const char *name;
    JsonNode *member;
    bool first = true;

    g_string_append_c(out, '{');
    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &name, &member)) {
        g_string_append(out, first ? "" : ", ");
        qmp_json_append_string(out, name);
        g_string_append(out, ": ");
        qmp_json_append_node(out, member);
        first = false;
    }
    g_string_append_c(out, '}');
}

void qmp_json_append_node(GString *out, JsonNode *node)
{
    if (!node) {
        g_string_append(out, "null");
        return;
    }
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT:
        append_object(out, json_node_get_object(node));
        break;
    case JSON_NODE_ARRAY: {
        JsonArray *arr = json_node_get_array(node);
        guint n = json_array_get_length(arr);

        g_string_append_c(out, '[');
        for (guint i = 0; i < n; i++) {
            g_string_append(out, i ? ", " : "");
            qmp_json_append_node(out, json_array_get_element(arr, i));
        }
        g_string_append_c(out, ']');
        break;
    }
    case JSON_NODE_VALUE:
        append_value(out, node);
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}
