/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The scalar steps of the generated visitors: see qapi/visit-json.h.
 */
#include <string.h>

#include "qapi/visit-json.h"

bool qapi_node_is(JsonNode *node, GType type)
{
    return JSON_NODE_HOLDS_VALUE(node) &&
           json_node_get_value_type(node) == type;
}

/* json_node_copy() shares objects and arrays: the C value owns its own. */
JsonNode *qapi_in_json(JsonNode *node)
{
    JsonNode *copy;

    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_OBJECT: {
        JsonObject *src = json_node_get_object(node);
        JsonObject *dst = json_object_new();
        JsonObjectIter iter;
        const char *name;
        JsonNode *member;

        json_object_iter_init_ordered(&iter, src);
        while (json_object_iter_next_ordered(&iter, &name, &member)) {
            json_object_set_member(dst, name, qapi_in_json(member));
        }
        copy = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(copy, dst);
        return copy;
    }
    case JSON_NODE_ARRAY: {
        JsonArray *src = json_node_get_array(node);
        guint len = json_array_get_length(src);
        JsonArray *dst = json_array_sized_new(len);

        for (guint i = 0; i < len; i++) {
            json_array_add_element(dst,
                                   qapi_in_json(json_array_get_element(src,
                                                                       i)));
        }
        copy = json_node_new(JSON_NODE_ARRAY);
        json_node_take_array(copy, dst);
        return copy;
    }
    default:
        return json_node_copy(node);
    }
}

/* Digits of @u, last first, ending at @end: where they start. */
static char *format_digits(char *end, uint64_t u)
{
    static const char pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";
    char *d = end;

    while (u >= 100) {
        d -= 2;
        memcpy(d, pairs + (u % 100) * 2, 2);
        u /= 100;
    }
    if (u >= 10) {
        d -= 2;
        memcpy(d, pairs + u * 2, 2);
    } else {
        *--d = '0' + u;
    }
    return d;
}

char *qapi_format_int(char *end, int64_t v)
{
    char *d = format_digits(end, v < 0 ? -(uint64_t)v : (uint64_t)v);

    if (v < 0) {
        *--d = '-';
    }
    return d;
}

void qapi_out_int(GString *out, int64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *d = qapi_format_int(end, v);

    qapi_out_lit(out, d, end - d);
}

void qapi_out_uint(GString *out, uint64_t v)
{
    char buf[24];
    char *end = buf + sizeof(buf);
    char *d = format_digits(end, v);

    qapi_out_lit(out, d, end - d);
}

void qapi_out_number(GString *out, double v)
{
    g_autoptr(JsonNode) node = json_node_init_double(json_node_alloc(), v);

    json_append_node(out, node, JSON_LAYOUT_QMP);
}

void qapi_out_bool(GString *out, bool v)
{
    if (v) {
        qapi_out_lit(out, "true", 4);
    } else {
        qapi_out_lit(out, "false", 5);
    }
}

void qapi_out_enum(GString *out, const QEnumLookup *lookup, int val)
{
    g_string_append_c(out, '"');
    g_string_append(out, qapi_enum_lookup(lookup, val));
    g_string_append_c(out, '"');
}

void qapi_out_sep(GString *out, bool *first)
{
    if (!*first) {
        qapi_out_lit(out, ", ", 2);
    }
    *first = false;
}
