/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The monitor's strict JSON parser (monitor/json-check.c), against
 * json-glib's (a lenient superset) and against itself:
 *  - what the strict parser accepts, json-glib accepts too, as the same
 *    tree (numbers compared as numbers: beyond int64 the strict parser
 *    reads floating point, as QEMU does);
 *  - what it accepts, the monitor's writer (qmp_json_append_node, which
 *    writes ids, return values and events) turns into text that it
 *    accepts again, as an equal tree: replies stay JSON;
 *  - a refusal always comes with a "JSON parse error, " message.
 *
 * Input: the message text.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "monitor/json-check.h"
#include "qapi/qmp.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz-json-check: %s: %.*s\n", what, (int)MIN(size, 500),
            (const char *)data);
    abort();
}

static double number_of(JsonNode *n)
{
    return json_node_get_value_type(n) == G_TYPE_INT64
               ? (double)json_node_get_int(n)
               : json_node_get_double(n);
}

static bool is_number(JsonNode *n)
{
    GType t = json_node_get_value_type(n);

    return t == G_TYPE_INT64 || t == G_TYPE_DOUBLE;
}

/* json_node_equal(), but 1 and 1.0 (and big integers) are the same. */
static bool same_tree(JsonNode *a, JsonNode *b)
{
    if (JSON_NODE_TYPE(a) != JSON_NODE_TYPE(b)) {
        return false;
    }
    if (JSON_NODE_HOLDS_OBJECT(a)) {
        JsonObject *oa = json_node_get_object(a), *ob = json_node_get_object(b);
        g_autoptr(GList) names = json_object_get_members(oa);

        if (json_object_get_size(oa) != json_object_get_size(ob)) {
            return false;
        }
        for (GList *l = names; l; l = l->next) {
            JsonNode *mb = json_object_get_member(ob, l->data);
            if (!mb || !same_tree(json_object_get_member(oa, l->data), mb)) {
                return false;
            }
        }
        return true;
    }
    if (JSON_NODE_HOLDS_ARRAY(a)) {
        JsonArray *xa = json_node_get_array(a), *xb = json_node_get_array(b);
        guint n = json_array_get_length(xa);

        if (n != json_array_get_length(xb)) {
            return false;
        }
        for (guint i = 0; i < n; i++) {
            if (!same_tree(json_array_get_element(xa, i),
                           json_array_get_element(xb, i))) {
                return false;
            }
        }
        return true;
    }
    if (JSON_NODE_HOLDS_VALUE(a) && is_number(a) && is_number(b)) {
        double x = number_of(a), y = number_of(b);

        /*
         * Documented differences: beyond int64 the strict parser reads
         * floating point (json-glib wraps), and an infinity becomes the
         * largest finite number (json-glib keeps inf).
         */
        if (!isfinite(x) || !isfinite(y) || fabs(x) >= 9.2e18 ||
            fabs(y) >= 9.2e18 || fabs(x) == DBL_MAX || fabs(y) == DBL_MAX) {
            return true;
        }
        return x == y || fabs(x - y) <= 1e-9 * MAX(fabs(x), fabs(y));
    }
    return json_node_equal(a, b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_fatal_criticals();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) node =
        json_parse_strict((const char *)data, size, &err);
    g_autoptr(JsonParser) glib = json_parser_new();
    g_autoptr(JsonNode) again = NULL;
    g_autoptr(GString) out = NULL;

    if (!node) {
        if (!err || !g_str_has_prefix(err->message, "JSON parse error, ")) {
            fail("refused without a parse error", data, size);
        }
        return 0;
    }
    if (err) {
        fail("parsed, and an error too", data, size);
    }
    /* json-glib wants NUL-free text; the strict parser refuses NULs */
    if (!json_parser_load_from_data(glib, (const char *)data, size, NULL)) {
        fail("accepted, but json-glib refuses it", data, size);
    }
    if (!same_tree(node, json_parser_get_root(glib))) {
        fail("accepted as another tree than json-glib's", data, size);
    }
    /* as the monitor writes ids, return values and events */
    out = g_string_new(NULL);
    qmp_json_append_node(out, node);
    again = json_parse_strict(out->str, out->len, NULL);
    if (!again) {
        fail("its serialization is not accepted again",
             (const uint8_t *)out->str, out->len);
    }
    if (!same_tree(node, again)) {
        fail("its serialization parses to another tree",
             (const uint8_t *)out->str, out->len);
    }
    return 0;
}
