/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON objects and arrays (see include/qemu/json.h; nodes are in json.c).
 *
 * An object is a flat array of members in insertion order: QMP arguments
 * and replies have a handful of members, where a linear scan beats
 * hashing.  Past JSON_OBJECT_INDEX_MIN members a hash table from name to
 * member keeps lookups (and the parser's duplicate-key check) linear
 * overall.
 */
#include "qemu/json.h"

#include <string.h>

#define JSON_OBJECT_INDEX_MIN 16

/* One allocation per member, name included. */
typedef struct JsonMember {
    JsonNode *node;
    char name[];
} JsonMember;

/* Members an object holds without a second allocation. */
#define JSON_OBJECT_INLINE 4

struct JsonObject {
    gint ref_count;
    guint n_members;
    guint capacity;
    JsonMember **members; /* in insertion order: @inline_members at first */
    GHashTable *index;    /* name -> JsonMember, or NULL */
    JsonMember *inline_members[JSON_OBJECT_INLINE];
};

struct JsonArray {
    gint ref_count;
    GPtrArray *elements; /* of JsonNode, owned */
};

/* ----------------------------------------------------------- objects */

static void member_free(gpointer p)
{
    JsonMember *m = p;

    json_node_unref(m->node);
    g_free(m);
}

JsonObject *json_object_new(void)
{
    JsonObject *object = g_new(JsonObject, 1);

    /* no g_new0: clearing the inline member slots is wasted work */
    object->ref_count = 1;
    object->n_members = 0;
    object->capacity = JSON_OBJECT_INLINE;
    object->members = object->inline_members;
    object->index = NULL;
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
        for (guint i = 0; i < object->n_members; i++) {
            member_free(object->members[i]);
        }
        if (object->members != object->inline_members) {
            g_free(object->members);
        }
        g_free(object);
    }
}

guint json_object_get_size(JsonObject *object)
{
    g_return_val_if_fail(object != NULL, 0);
    return object->n_members;
}

static void members_append(JsonObject *object, JsonMember *m)
{
    if (object->n_members == object->capacity) {
        object->capacity *= 2;
        if (object->members == object->inline_members) {
            object->members = g_memdup2(object->inline_members,
                                        sizeof(object->inline_members));
        }
        object->members =
            g_renew(JsonMember *, object->members, object->capacity);
    }
    object->members[object->n_members++] = m;
}

/* Forget member @i (it is freed), keeping the others in order. */
static void members_delete(JsonObject *object, guint i)
{
    JsonMember *m = object->members[i];

    memmove(&object->members[i], &object->members[i + 1],
            (object->n_members - i - 1) * sizeof(*object->members));
    object->n_members--;
    member_free(m);
}

static void index_add(JsonObject *object, JsonMember *m)
{
    g_hash_table_insert(object->index, m->name, m);
}

/* Build the index once the object is big enough to need it. */
static void index_update(JsonObject *object)
{
    if (object->index || object->n_members < JSON_OBJECT_INDEX_MIN) {
        return;
    }
    object->index = g_hash_table_new(g_str_hash, g_str_equal);
    for (guint i = 0; i < object->n_members; i++) {
        index_add(object, object->members[i]);
    }
}

static JsonMember *find_member(JsonObject *object, const char *name)
{
    if (object->index) {
        return g_hash_table_lookup(object->index, name);
    }
    for (guint i = 0; i < object->n_members; i++) {
        JsonMember *m = object->members[i];

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
    for (guint i = object->n_members; i-- > 0;) {
        JsonMember *m = object->members[i];

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

const char *json_object_get_string_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    return node ? json_node_get_string(node) : NULL;
}

const char *json_object_get_string_member_with_default(JsonObject *object,
                                                       const char *name,
                                                       const char *dflt)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node || JSON_NODE_TYPE(node) != JSON_NODE_VALUE) {
        return dflt;
    }
    return json_node_get_string(node);
}

JsonObject *json_object_get_object_member(JsonObject *object, const char *name)
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

    g_return_if_fail(object != NULL && name != NULL && node != NULL);
    m = find_member(object, name);
    if (m) {
        JsonNode *old = m->node;

        m->node = node; /* same place, new value */
        json_node_unref(old);
        return;
    }
    json_object_add_new_member(object, name, node);
}

void json_object_add_new_member(JsonObject *object, const char *name,
                                JsonNode *node)
{
    size_t len = strlen(name) + 1;
    JsonMember *m = g_malloc(sizeof(*m) + len);

    memcpy(m->name, name, len);
    m->node = node; /* the object owns @node now */
    members_append(object, m);
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
    for (guint i = 0; i < object->n_members; i++) {
        if (object->members[i] == m) {
            members_delete(object, i);
            break;
        }
    }
}

void json_object_iter_init_ordered(JsonObjectIter *iter, JsonObject *object)
{
    g_return_if_fail(iter != NULL && object != NULL);
    iter->object = object;
    iter->next = 0;
}

gboolean json_object_iter_next_ordered(JsonObjectIter *iter, const char **name,
                                       JsonNode **node)
{
    JsonMember *m;

    g_return_val_if_fail(iter != NULL && iter->object != NULL, FALSE);
    if (iter->next >= iter->object->n_members) {
        return FALSE;
    }
    m = iter->object->members[iter->next++];
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
    array->elements =
        g_ptr_array_new_full(n_elements, (GDestroyNotify)json_node_unref);
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
    switch (JSON_NODE_TYPE(node)) {
    case JSON_NODE_NULL:
        return TRUE;
    case JSON_NODE_OBJECT:
        return json_node_get_object(node) == NULL;
    case JSON_NODE_ARRAY:
        return json_node_get_array(node) == NULL;
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
    json_array_add_element(array, json_node_init_int(json_node_alloc(), value));
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
