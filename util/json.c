/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON nodes, objects and arrays (see include/qemu/json.h for why and for
 * the semantics, which follow json-glib's).
 *
 * An object is a flat array of members in insertion order: QMP arguments
 * and replies have a handful of members, where a linear scan beats
 * hashing.  Past JSON_OBJECT_INDEX_MIN members a hash table from name to
 * member keeps lookups (and the parser's duplicate-key check) linear
 * overall.
 */
#include "qemu/json.h"

#include <math.h>
#include <string.h>

#define JSON_OBJECT_INDEX_MIN 16

typedef enum JsonValueType {
    JSON_VALUE_INT,
    JSON_VALUE_DOUBLE,
    JSON_VALUE_BOOLEAN,
    JSON_VALUE_STRING,
} JsonValueType;

struct JsonNode {
    gint ref_count;
    JsonNodeType type;
    JsonValueType value_type;     /* JSON_NODE_VALUE only */
    gboolean has_value;           /* FALSE after json_node_new(VALUE) */
    union {
        JsonObject *object;
        JsonArray *array;
        gint64 i;
        double d;
        gboolean b;
        char *s;
    } u;
};

/* One allocation per member, name included. */
typedef struct JsonMember {
    JsonNode *node;
    char name[];
} JsonMember;

struct JsonObject {
    gint ref_count;
    GPtrArray *members;           /* of JsonMember, in insertion order */
    GHashTable *index;            /* name -> JsonMember, or NULL */
};

struct JsonArray {
    gint ref_count;
    GPtrArray *elements;          /* of JsonNode, owned */
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
    JsonNode *node = g_new0(JsonNode, 1);

    node->ref_count = 1;
    node->type = JSON_NODE_NULL;
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
    copy->u = node->u;
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
    if (!a || !b) {
        return a == b;
    }
    if (json_object_get_size(a) != json_object_get_size(b)) {
        return FALSE;
    }
    for (guint i = 0; i < a->members->len; i++) {
        JsonMember *m = g_ptr_array_index(a->members, i);
        JsonNode *other = json_object_get_member(b, m->name);

        if (!other || !json_node_equal(m->node, other)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean array_equal(JsonArray *a, JsonArray *b)
{
    if (!a || !b) {
        return a == b;
    }
    if (a->elements->len != b->elements->len) {
        return FALSE;
    }
    for (guint i = 0; i < a->elements->len; i++) {
        if (!json_node_equal(g_ptr_array_index(a->elements, i),
                             g_ptr_array_index(b->elements, i))) {
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

/* ----------------------------------------------------------- objects */

static void member_free(gpointer p)
{
    JsonMember *m = p;

    json_node_unref(m->node);
    g_free(m);
}

JsonObject *json_object_new(void)
{
    JsonObject *object = g_new0(JsonObject, 1);

    object->ref_count = 1;
    object->members = g_ptr_array_new_with_free_func(member_free);
    return object;
}

JsonObject *json_object_ref(JsonObject *object)
{
    g_return_val_if_fail(object != NULL, NULL);
    g_atomic_int_inc(&object->ref_count);
    return object;
}

void json_object_unref(JsonObject *object)
{
    g_return_if_fail(object != NULL);
    if (g_atomic_int_dec_and_test(&object->ref_count)) {
        g_clear_pointer(&object->index, g_hash_table_destroy);
        g_ptr_array_free(object->members, TRUE);
        g_free(object);
    }
}

guint json_object_get_size(JsonObject *object)
{
    g_return_val_if_fail(object != NULL, 0);
    return object->members->len;
}

static void index_add(JsonObject *object, JsonMember *m)
{
    g_hash_table_insert(object->index, m->name, m);
}

/* Build the index once the object is big enough to need it. */
static void index_update(JsonObject *object)
{
    if (object->index || object->members->len < JSON_OBJECT_INDEX_MIN) {
        return;
    }
    object->index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < object->members->len; i++) {
        index_add(object, g_ptr_array_index(object->members, i));
    }
}

static JsonMember *find_member(JsonObject *object, const char *name)
{
    if (object->index) {
        return g_hash_table_lookup(object->index, name);
    }
    for (guint i = 0; i < object->members->len; i++) {
        JsonMember *m = g_ptr_array_index(object->members, i);

        if (strcmp(m->name, name) == 0) {
            return m;
        }
    }
    return NULL;
}

gboolean json_object_has_member(JsonObject *object, const char *name)
{
    g_return_val_if_fail(object != NULL && name != NULL, FALSE);
    return find_member(object, name) != NULL;
}

JsonNode *json_object_get_member(JsonObject *object, const char *name)
{
    JsonMember *m;

    g_return_val_if_fail(object != NULL && name != NULL, NULL);
    m = find_member(object, name);
    return m ? m->node : NULL;
}

GList *json_object_get_members(JsonObject *object)
{
    GList *names = NULL;

    g_return_val_if_fail(object != NULL, NULL);
    for (guint i = object->members->len; i-- > 0;) {
        JsonMember *m = g_ptr_array_index(object->members, i);

        names = g_list_prepend(names, m->name);
    }
    return names;
}

gint64 json_object_get_int_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_int(node) : 0;
}

double json_object_get_double_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_double(node) : 0;
}

gboolean json_object_get_boolean_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_boolean(node) : FALSE;
}

const char *json_object_get_string_member(JsonObject *object,
                                          const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_string(node) : NULL;
}

const char *json_object_get_string_member_with_default(JsonObject *object,
                                                       const char *name,
                                                       const char *dflt)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node || node->type != JSON_NODE_VALUE) {
        return dflt;
    }
    return json_node_get_string(node);
}

JsonObject *json_object_get_object_member(JsonObject *object,
                                          const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_object(node) : NULL;
}

JsonArray *json_object_get_array_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_array(node) : NULL;
}

void json_object_set_member(JsonObject *object, const char *name,
                            JsonNode *node)
{
    JsonMember *m;
    size_t len;

    g_return_if_fail(object != NULL && name != NULL && node != NULL);
    m = find_member(object, name);
    if (m) {
        JsonNode *old = m->node;

        m->node = node;            /* same place, new value */
        json_node_unref(old);
        return;
    }
    len = strlen(name) + 1;
    m = g_malloc(sizeof(*m) + len);
    memcpy(m->name, name, len);
    m->node = node;                /* the object owns @node now */
    g_ptr_array_add(object->members, m);
    if (object->index) {
        index_add(object, m);
    } else {
        index_update(object);
    }
}

void json_object_set_int_member(JsonObject *object, const char *name,
                                gint64 value)
{
    json_object_set_member(object, name,
                           json_node_init_int(json_node_alloc(), value));
}

void json_object_set_boolean_member(JsonObject *object, const char *name,
                                    gboolean value)
{
    json_object_set_member(object, name,
                           json_node_init_boolean(json_node_alloc(), value));
}

void json_object_set_string_member(JsonObject *object, const char *name,
                                   const char *value)
{
    JsonNode *node = json_node_alloc();

    if (value) {
        json_node_init_string(node, value);
    }
    json_object_set_member(object, name, node);
}

void json_object_set_null_member(JsonObject *object, const char *name)
{
    json_object_set_member(object, name, json_node_alloc());
}

void json_object_set_object_member(JsonObject *object, const char *name,
                                   JsonObject *value)
{
    JsonNode *node = json_node_alloc();

    if (value) {
        json_node_init(node, JSON_NODE_OBJECT);
        json_node_take_object(node, value);
    }
    json_object_set_member(object, name, node);
}

void json_object_set_array_member(JsonObject *object, const char *name,
                                  JsonArray *value)
{
    JsonNode *node = json_node_alloc();

    if (value) {
        json_node_init(node, JSON_NODE_ARRAY);
        json_node_take_array(node, value);
    }
    json_object_set_member(object, name, node);
}

void json_object_remove_member(JsonObject *object, const char *name)
{
    JsonMember *m;

    g_return_if_fail(object != NULL && name != NULL);
    m = find_member(object, name);
    if (!m) {
        return;
    }
    if (object->index) {
        g_hash_table_remove(object->index, m->name);
    }
    g_ptr_array_remove(object->members, m); /* frees @m */
}

void json_object_iter_init_ordered(JsonObjectIter *iter, JsonObject *object)
{
    g_return_if_fail(iter != NULL && object != NULL);
    iter->object = object;
    iter->next = 0;
}

gboolean json_object_iter_next_ordered(JsonObjectIter *iter,
                                       const char **name, JsonNode **node)
{
    JsonMember *m;

    g_return_val_if_fail(iter != NULL && iter->object != NULL, FALSE);
    if (iter->next >= iter->object->members->len) {
        return FALSE;
    }
    m = g_ptr_array_index(iter->object->members, iter->next++);
    if (name) {
        *name = m->name;
    }
    if (node) {
        *node = m->node;
    }
    return TRUE;
}

/* ------------------------------------------------------------ arrays */

JsonArray *json_array_sized_new(guint n_elements)
{
    JsonArray *array = g_new0(JsonArray, 1);

    array->ref_count = 1;
    array->elements = g_ptr_array_new_full(n_elements,
                                           (GDestroyNotify)json_node_unref);
    return array;
}

JsonArray *json_array_new(void)
{
    return json_array_sized_new(0);
}

JsonArray *json_array_ref(JsonArray *array)
{
    g_return_val_if_fail(array != NULL, NULL);
    g_atomic_int_inc(&array->ref_count);
    return array;
}

void json_array_unref(JsonArray *array)
{
    g_return_if_fail(array != NULL);
    if (g_atomic_int_dec_and_test(&array->ref_count)) {
        g_ptr_array_free(array->elements, TRUE);
        g_free(array);
    }
}

guint json_array_get_length(JsonArray *array)
{
    g_return_val_if_fail(array != NULL, 0);
    return array->elements->len;
}

JsonNode *json_array_get_element(JsonArray *array, guint index)
{
    g_return_val_if_fail(array != NULL, NULL);
    g_return_val_if_fail(index < array->elements->len, NULL);
    return g_ptr_array_index(array->elements, index);
}

double json_array_get_double_element(JsonArray *array, guint index)
{
    JsonNode *node = json_array_get_element(array, index);

    return node ? json_node_get_double(node) : 0;
}

gboolean json_array_get_boolean_element(JsonArray *array, guint index)
{
    JsonNode *node = json_array_get_element(array, index);

    return node ? json_node_get_boolean(node) : FALSE;
}

const char *json_array_get_string_element(JsonArray *array, guint index)
{
    JsonNode *node = json_array_get_element(array, index);

    return node ? json_node_get_string(node) : NULL;
}

JsonObject *json_array_get_object_element(JsonArray *array, guint index)
{
    JsonNode *node = json_array_get_element(array, index);

    return node ? json_node_get_object(node) : NULL;
}

gboolean json_array_get_null_element(JsonArray *array, guint index)
{
    JsonNode *node = json_array_get_element(array, index);

    if (!node) {
        return FALSE;
    }
    switch (node->type) {
    case JSON_NODE_NULL:
        return TRUE;
    case JSON_NODE_OBJECT:
        return node->u.object == NULL;
    case JSON_NODE_ARRAY:
        return node->u.array == NULL;
    default:
        return FALSE;
    }
}

void json_array_add_element(JsonArray *array, JsonNode *node)
{
    g_return_if_fail(array != NULL && node != NULL);
    g_ptr_array_add(array->elements, node); /* the array owns @node now */
}

void json_array_add_int_element(JsonArray *array, gint64 value)
{
    json_array_add_element(array,
                           json_node_init_int(json_node_alloc(), value));
}

void json_array_add_string_element(JsonArray *array, const char *value)
{
    JsonNode *node = json_node_alloc();

    if (value) {
        json_node_init_string(node, value);
    }
    json_array_add_element(array, node);
}

void json_array_add_object_element(JsonArray *array, JsonObject *value)
{
    JsonNode *node = json_node_alloc();

    if (value) {
        json_node_init(node, JSON_NODE_OBJECT);
        json_node_take_object(node, value);
    }
    json_array_add_element(array, node);
}

void json_array_remove_element(JsonArray *array, guint index)
{
    g_return_if_fail(array != NULL);
    g_return_if_fail(index < array->elements->len);
    g_ptr_array_remove_index(array->elements, index);
}
