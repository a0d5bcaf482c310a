/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Building blocks of the generated visitors (qapi/qapi-visit.c): JSON
 * values to C for the input side, QMP text for the output side.  Output
 * is laid out as QEMU writes QMP ({"a": 1, "b": [2]}) and matches
 * json_append_node(JSON_LAYOUT_QMP) byte for byte.
 */
#ifndef QAPI_VISIT_JSON_H
#define QAPI_VISIT_JSON_H

#include <string.h>

#include "qapi/util.h"

/*
 * Append @len bytes of @s: g_string_append_len() without its call when
 * there is room already (GLib 2.74 inlines only g_string_append_c), as
 * replies are written a few bytes at a time.
 */
static inline void qapi_out_lit(GString *out, const char *s, gsize len)
{
    if (out->len + len < out->allocated_len) {
        memcpy(out->str + out->len, s, len);
        out->len += len;
        out->str[out->len] = '\0';
    } else {
        g_string_append_len(out, s, len);
    }
}

/* Does @node hold a value of JSON scalar type @type (G_TYPE_STRING...)? */
bool qapi_node_is(JsonNode *node, GType type);

/* A deep copy of @node, for an 'any' or 'null' member. */
JsonNode *qapi_in_json(JsonNode *node);

/*
 * @v in decimal, written so that it ends just before @end (room for 20
 * bytes is enough): where it starts.  Not terminated.
 */
char *qapi_format_int(char *end, int64_t v);

void qapi_out_int(GString *out, int64_t v);
void qapi_out_uint(GString *out, uint64_t v);
void qapi_out_number(GString *out, double v);
void qapi_out_bool(GString *out, bool v);
void qapi_out_enum(GString *out, const QEnumLookup *lookup, int val);

/* ", " unless *@first; then *@first is false. */
void qapi_out_sep(GString *out, bool *first);

#endif
