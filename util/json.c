/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON nodes (see include/qemu/json.h for why and for the semantics,
 * which follow json-glib's); objects and arrays are in json-object.c.
 */
#include "qemu/json.h"

#include <math.h>
#include <string.h>

typedef enum JsonValueType {
    JSON_VALUE_INT,
    JSON_VALUE_DOUBLE,
    JSON_VALUE_BOOLEAN,
    JSON_VALUE_STRING,
} JsonValueType;

struct JsonNode {
    gint ref_count;
    JsonNodeType type;
    JsonValueType value_type; /* JSON_NODE_VALUE only */
    guint8 has_value;         /* FALSE after json_node_new(VALUE) */
    guint8 has_exact_u64;     /* a double that is exactly @exact_u64 */
    union {
        JsonObject *object;
        JsonArray *array;
        gint64 i;
        double d;
        gboolean b;
        char *s;
    } u;
    guint64 exact_u64; /* fills malloc's 32-byte chunk: no extra cost */
};

/* ------------------------------------------------------------- nodes */

/* Drop what @node holds; it holds nothing afterwards. */
static void node_clear(JsonNode *node)
{
    switch (node->type) {
    case JSON_NODE_OBJECT:
        g_clear_pointer(&node->u.object, json_object_unref);
        break;
    case JSON_NODE_ARRAY:
        g_clear_pointer(&node->u.array, json_array_unref);
        break;
    case JSON_NODE_VALUE:
        if (node->has_value && node->value_type == JSON_VALUE_STRING) {
            g_free(node->u.s);
        }
        break;
    case JSON_NODE_NULL:
        break;
    }
    memset(&node->u, 0, sizeof(node->u));
    node->has_value = FALSE;
}

JsonNode *json_node_alloc(void)
{
    JsonNode *node = g_new(JsonNode, 1);

    *node = (JsonNode){.ref_count = 1, .type = JSON_NODE_NULL};
    return node;
}

JsonNode *json_node_init(JsonNode *node, JsonNodeType type)
{
    g_return_val_if_fail(node != NULL, NULL);
    node_clear(node);
    node->type = type;
    return node;
}

JsonNode *json_node_new(JsonNodeType type)
{
    return json_node_init(json_node_alloc(), type);
}

JsonNode *json_node_ref(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, NULL);
    g_atomic_int_inc(&node->ref_count);
    return node;
}

void json_node_unref(JsonNode *node)
{
    g_return_if_fail(node != NULL);
    if (g_atomic_int_dec_and_test(&node->ref_count)) {
        node_clear(node);
        g_free(node);
    }
}

static JsonNode *init_value(JsonNode *node, JsonValueType type)
{
    json_node_init(node, JSON_NODE_VALUE);
    node->value_type = type;
    node->has_value = TRUE;
    node->has_exact_u64 = FALSE;
    return node;
}

JsonNode *json_node_init_int(JsonNode *node, gint64 value)
{
    g_return_val_if_fail(node != NULL, NULL);
    init_value(node, JSON_VALUE_INT)->u.i = value;
    return node;
}

JsonNode *json_node_init_double(JsonNode *node, double value)
{
    g_return_val_if_fail(node != NULL, NULL);
    init_value(node, JSON_VALUE_DOUBLE)->u.d = value;
    return node;
}

JsonNode *json_node_init_uint64(JsonNode *node, guint64 value)
{
    json_node_init_double(node, (double)value);
    node->has_exact_u64 = TRUE;
    node->exact_u64 = value;
    return node;
}

gboolean json_node_get_exact_uint64(JsonNode *node, guint64 *value)
{
    g_return_val_if_fail(node != NULL, FALSE);
    if (node->type != JSON_NODE_VALUE || !node->has_value ||
        node->value_type != JSON_VALUE_DOUBLE || !node->has_exact_u64) {
        return FALSE;
    }
    *value = node->exact_u64;
    return TRUE;
}

JsonNode *json_node_init_boolean(JsonNode *node, gboolean value)
{
    g_return_val_if_fail(node != NULL, NULL);
    init_value(node, JSON_VALUE_BOOLEAN)->u.b = !!value;
    return node;
}

JsonNode *json_node_init_string(JsonNode *node, const char *value)
{
    char *copy;

    g_return_val_if_fail(node != NULL, NULL);
    copy = g_strdup(value); /* before init: @value may be @node's own */
    init_value(node, JSON_VALUE_STRING)->u.s = copy;
    return node;
}

JsonNode *json_node_init_null(JsonNode *node)
{
    return json_node_init(node, JSON_NODE_NULL);
}

JsonNode *json_node_init_object(JsonNode *node, JsonObject *object)
{
    g_return_val_if_fail(node != NULL, NULL);
    json_node_init(node, JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    return node;
}

JsonNode *json_node_init_array(JsonNode *node, JsonArray *array)
{
    g_return_val_if_fail(node != NULL, NULL);
    json_node_init(node, JSON_NODE_ARRAY);
    node->u.array = array ? json_array_ref(array) : NULL;
    return node;
}

JsonNode *json_node_copy(JsonNode *node)
{
    JsonNode *copy;

    g_return_val_if_fail(node != NULL, NULL);
    copy = json_node_alloc();
    copy->type = node->type;
    copy->value_type = node->value_type;
    copy->has_value = node->has_value;
    copy->has_exact_u64 = node->has_exact_u64;
    copy->u = node->u;
    copy->exact_u64 = node->exact_u64;
    if (node->type == JSON_NODE_OBJECT && node->u.object) {
        json_object_ref(node->u.object);
    } else if (node->type == JSON_NODE_ARRAY && node->u.array) {
        json_array_ref(node->u.array);
    } else if (node->type == JSON_NODE_VALUE && node->has_value &&
               node->value_type == JSON_VALUE_STRING) {
        copy->u.s = g_strdup(node->u.s);
    }
    return copy;
}

JsonNodeType json_node_get_node_type(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, JSON_NODE_NULL);
    return node->type;
}

GType json_node_get_value_type(JsonNode *node)
{
    static const GType gtypes[] = {
        [JSON_VALUE_INT] = G_TYPE_INT64,
        [JSON_VALUE_DOUBLE] = G_TYPE_DOUBLE,
        [JSON_VALUE_BOOLEAN] = G_TYPE_BOOLEAN,
        [JSON_VALUE_STRING] = G_TYPE_STRING,
    };

    g_return_val_if_fail(node != NULL, G_TYPE_INVALID);
    if (node->type != JSON_NODE_VALUE || !node->has_value) {
        return G_TYPE_INVALID;
    }
    return gtypes[node->value_type];
}

static bool holds(JsonNode *node, JsonValueType type)
{
    return node->type == JSON_NODE_VALUE && node->has_value &&
           node->value_type == type;
}

JsonObject *json_node_get_object(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, NULL);
    return node->type == JSON_NODE_OBJECT ? node->u.object : NULL;
}

JsonArray *json_node_get_array(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, NULL);
    return node->type == JSON_NODE_ARRAY ? node->u.array : NULL;
}

void json_node_set_object(JsonNode *node, JsonObject *object)
{
    json_node_take_object(node, object ? json_object_ref(object) : NULL);
}

void json_node_take_object(JsonNode *node, JsonObject *object)
{
    g_return_if_fail(node != NULL && node->type == JSON_NODE_OBJECT);
    if (node->u.object) {
        json_object_unref(node->u.object);
    }
    node->u.object = object; /* the node owns the caller's reference */
}

void json_node_take_array(JsonNode *node, JsonArray *array)
{
    g_return_if_fail(node != NULL && node->type == JSON_NODE_ARRAY);
    if (node->u.array) {
        json_array_unref(node->u.array);
    }
    node->u.array = array; /* the node owns the caller's reference */
}

gint64 json_node_get_int(JsonNode *node)
{
    double d;

    g_return_val_if_fail(node != NULL, 0);
    if (holds(node, JSON_VALUE_INT)) {
        return node->u.i;
    }
    if (holds(node, JSON_VALUE_BOOLEAN)) {
        return node->u.b;
    }
    if (!holds(node, JSON_VALUE_DOUBLE) || isnan(node->u.d)) {
        return 0;
    }
    /* A plain cast is undefined out of range: clamp first. */
    d = node->u.d;
    if (d <= (double)G_MININT64) {
        return G_MININT64;
    }
    if (d >= (double)G_MAXINT64) {
        return G_MAXINT64;
    }
    return (gint64)d;
}

double json_node_get_double(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, 0);
    if (holds(node, JSON_VALUE_DOUBLE)) {
        return node->u.d;
    }
    if (holds(node, JSON_VALUE_INT)) {
        return node->u.i;
    }
    return holds(node, JSON_VALUE_BOOLEAN) ? node->u.b : 0;
}

gboolean json_node_get_boolean(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, FALSE);
    if (holds(node, JSON_VALUE_BOOLEAN)) {
        return node->u.b;
    }
    if (holds(node, JSON_VALUE_INT)) {
        return node->u.i != 0;
    }
    return holds(node, JSON_VALUE_DOUBLE) && node->u.d != 0;
}

const char *json_node_get_string(JsonNode *node)
{
    g_return_val_if_fail(node != NULL, NULL);
    return holds(node, JSON_VALUE_STRING) ? node->u.s : NULL;
}

static bool is_number(JsonNode *node)
{
    return holds(node, JSON_VALUE_INT) || holds(node, JSON_VALUE_DOUBLE);
}

static gboolean value_equal(JsonNode *a, JsonNode *b)
{
    if (is_number(a) && is_number(b)) {
        if (holds(a, JSON_VALUE_INT) && holds(b, JSON_VALUE_INT)) {
            return a->u.i == b->u.i;
        }
        return json_node_get_double(a) == json_node_get_double(b);
    }
    if (a->has_value != b->has_value || a->value_type != b->value_type) {
        return FALSE;
    }
    if (!a->has_value) {
        return TRUE;
    }
    if (a->value_type == JSON_VALUE_BOOLEAN) {
        return a->u.b == b->u.b;
    }
    return g_strcmp0(a->u.s, b->u.s) == 0;
}

static gboolean object_equal(JsonObject *a, JsonObject *b)
{
    JsonObjectIter it;
    const char *name;
    JsonNode *member;

    if (!a || !b) {
        return a == b;
    }
    if (json_object_get_size(a) != json_object_get_size(b)) {
        return FALSE;
    }

    json_object_iter_init_ordered(&it, a);
    while (json_object_iter_next_ordered(&it, &name, &member)) {
        JsonNode *other = json_object_get_member(b, name);

        if (!other || !json_node_equal(member, other)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean array_equal(JsonArray *a, JsonArray *b)
{
    guint n;

    if (!a || !b) {
        return a == b;
    }
    n = json_array_get_length(a);

    if (n != json_array_get_length(b)) {
        return FALSE;
    }
    for (guint i = 0; i < n; i++) {
        if (!json_node_equal(json_array_get_element(a, i),
                             json_array_get_element(b, i))) {
            return FALSE;
        }
    }
    return TRUE;
}

gboolean json_node_equal(JsonNode *a, JsonNode *b)
{
    g_return_val_if_fail(a != NULL && b != NULL, FALSE);
    if (a == b) {
        return TRUE;
    }
    if (a->type != b->type) {
        return FALSE;
    }
    switch (a->type) {
    case JSON_NODE_OBJECT:
        return object_equal(a->u.object, b->u.object);
    case JSON_NODE_ARRAY:
        return array_equal(a->u.array, b->u.array);
    case JSON_NODE_VALUE:
        return value_equal(a, b);
    case JSON_NODE_NULL:
        break;
    }
    return TRUE;
}
