/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON values: nodes, objects and arrays.
 *
 * Why our own: the daemon needs only GLib, and json-glib pulls in GObject
 * and GIO (and through them libmount, libselinux, libffi, ...), which cost
 * a third of the start-up time, and builds its trees from GSlice'd GObject
 * boxes on every request.  The names and semantics follow json-glib's (the
 * subset this tree uses), so code reads the same as code written for it:
 *
 * - nodes, objects and arrays are reference counted; a node that is put
 *   into an object or array belongs to it from then on;
 * - objects keep their members in insertion order; setting an existing
 *   member replaces its value in place, removing one keeps the others'
 *   order;
 * - value getters convert between numbers (and booleans), and answer
 *   0 / FALSE / NULL for any other type, missing members included;
 * - json_node_copy() copies values but shares objects and arrays.
 *
 * Passing NULL where a node, object, array or name is expected, or an
 * index past the end, is a programmer error (a GLib critical).
 */
#ifndef QEMU_JSON_H
#define QEMU_JSON_H

#include <glib.h>
#include <stdbool.h>

/*
 * json_node_get_value_type() answers with GObject's fundamental type
 * numbers, as json-glib does; GLib alone does not define them.
 */
#ifndef G_TYPE_INVALID
typedef gsize GType;
#define G_TYPE_INVALID ((GType)(0 << 2))
#define G_TYPE_BOOLEAN ((GType)(5 << 2))
#define G_TYPE_INT64 ((GType)(10 << 2))
#define G_TYPE_DOUBLE ((GType)(15 << 2))
#define G_TYPE_STRING ((GType)(16 << 2))
#endif

typedef enum JsonNodeType {
    JSON_NODE_OBJECT,
    JSON_NODE_ARRAY,
    JSON_NODE_VALUE,
    JSON_NODE_NULL,
} JsonNodeType;

typedef struct JsonNode JsonNode;
typedef struct JsonObject JsonObject;
typedef struct JsonArray JsonArray;

/* Iterates over an object's members in order; the object must not change
 * meanwhile. */
typedef struct JsonObjectIter {
    JsonObject *object;
    guint next;
} JsonObjectIter;

#define JSON_NODE_TYPE(node) json_node_get_node_type(node)
#define JSON_NODE_HOLDS(node, t) (json_node_get_node_type(node) == (t))
#define JSON_NODE_HOLDS_OBJECT(node) JSON_NODE_HOLDS((node), JSON_NODE_OBJECT)
#define JSON_NODE_HOLDS_ARRAY(node) JSON_NODE_HOLDS((node), JSON_NODE_ARRAY)
#define JSON_NODE_HOLDS_VALUE(node) JSON_NODE_HOLDS((node), JSON_NODE_VALUE)
#define JSON_NODE_HOLDS_NULL(node) JSON_NODE_HOLDS((node), JSON_NODE_NULL)

/* ------------------------------------------------------------- nodes */

/* A new node (one reference) that holds nothing yet: init it. */
JsonNode *json_node_alloc(void);
/* A new node of @type: empty object/array slot, no value, or null. */
JsonNode *json_node_new(JsonNodeType type);
JsonNode *json_node_ref(JsonNode *node);
void json_node_unref(JsonNode *node);

/* (Re)initialise @node, dropping what it held; each returns @node. */
JsonNode *json_node_init(JsonNode *node, JsonNodeType type);
JsonNode *json_node_init_int(JsonNode *node, gint64 value);
JsonNode *json_node_init_double(JsonNode *node, double value);
/*
 * Not in json-glib: an integer beyond int64 that fits uint64.  It is a
 * double like any other (as for QEMU, not an "int" argument), but keeps its
 * exact value, which the writer prints: an "id" echoes unchanged, as QEMU's
 * does.
 */
JsonNode *json_node_init_uint64(JsonNode *node, guint64 value);
/* Its exact value, when @node was made by json_node_init_uint64(). */
gboolean json_node_get_exact_uint64(JsonNode *node, guint64 *value);
JsonNode *json_node_init_boolean(JsonNode *node, gboolean value);
JsonNode *json_node_init_string(JsonNode *node, const char *value);
JsonNode *json_node_init_null(JsonNode *node);
JsonNode *json_node_init_object(JsonNode *node, JsonObject *object); /* refs */
JsonNode *json_node_init_array(JsonNode *node, JsonArray *array);    /* refs */

/* A value is copied, an object or array shared. */
JsonNode *json_node_copy(JsonNode *node);
/* Deep equality; members in any order; 1 equals 1.0. */
gboolean json_node_equal(JsonNode *a, JsonNode *b);

JsonNodeType json_node_get_node_type(JsonNode *node);
/* G_TYPE_INT64/DOUBLE/BOOLEAN/STRING for values, else G_TYPE_INVALID. */
GType json_node_get_value_type(JsonNode *node);

/* The container held (borrowed), or NULL for any other node. */
JsonObject *json_node_get_object(JsonNode *node);
JsonArray *json_node_get_array(JsonNode *node);
/* On an object (array) node: hold @object (@array); set adds a
 * reference, take takes the caller's. */
void json_node_set_object(JsonNode *node, JsonObject *object);
void json_node_take_object(JsonNode *node, JsonObject *object);
void json_node_take_array(JsonNode *node, JsonArray *array);

/* A double is truncated toward zero (clamped to int64), a boolean 0/1. */
gint64 json_node_get_int(JsonNode *node);
double json_node_get_double(JsonNode *node);
gboolean json_node_get_boolean(JsonNode *node);
/* Borrowed; NULL unless @node holds a string. */
const char *json_node_get_string(JsonNode *node);

/* ----------------------------------------------------------- objects */

JsonObject *json_object_new(void);
JsonObject *json_object_ref(JsonObject *object);
void json_object_unref(JsonObject *object);

guint json_object_get_size(JsonObject *object);
gboolean json_object_has_member(JsonObject *object, const char *name);
/* Borrowed, or NULL when absent. */
JsonNode *json_object_get_member(JsonObject *object, const char *name);
/* The names (owned by @object) in order; free the list only. */
GList *json_object_get_members(JsonObject *object);

/* Getters: the member converted as the node getters do; absent -> 0. */
gint64 json_object_get_int_member(JsonObject *object, const char *name);
double json_object_get_double_member(JsonObject *object, const char *name);
gboolean json_object_get_boolean_member(JsonObject *object, const char *name);
const char *json_object_get_string_member(JsonObject *object, const char *name);
/* @dflt when absent or null, else as json_object_get_string_member(). */
const char *json_object_get_string_member_with_default(JsonObject *object,
                                                       const char *name,
                                                       const char *dflt);
JsonObject *json_object_get_object_member(JsonObject *object, const char *name);
JsonArray *json_object_get_array_member(JsonObject *object, const char *name);

/* Setters: add @name at the end, or replace its value in place.
 * set_member takes @node; set_object/array_member take @value (NULL
 * sets null); a NULL string sets null. */
void json_object_set_member(JsonObject *object, const char *name,
                            JsonNode *node);
/* The same for a @name the caller knows is absent (the parser checked):
 * no search.  Not in json-glib. */
void json_object_add_new_member(JsonObject *object, const char *name,
                                JsonNode *node);
void json_object_set_int_member(JsonObject *object, const char *name,
                                gint64 value);
void json_object_set_boolean_member(JsonObject *object, const char *name,
                                    gboolean value);
void json_object_set_string_member(JsonObject *object, const char *name,
                                   const char *value);
void json_object_set_null_member(JsonObject *object, const char *name);
void json_object_set_object_member(JsonObject *object, const char *name,
                                   JsonObject *value);
void json_object_set_array_member(JsonObject *object, const char *name,
                                  JsonArray *value);
void json_object_remove_member(JsonObject *object, const char *name);

void json_object_iter_init_ordered(JsonObjectIter *iter, JsonObject *object);
/* The next member (both borrowed); FALSE at the end. */
gboolean json_object_iter_next_ordered(JsonObjectIter *iter, const char **name,
                                       JsonNode **node);

/* ------------------------------------------------------------ arrays */

JsonArray *json_array_new(void);
JsonArray *json_array_sized_new(guint n_elements);
JsonArray *json_array_ref(JsonArray *array);
void json_array_unref(JsonArray *array);

guint json_array_get_length(JsonArray *array);
/* Borrowed. */
JsonNode *json_array_get_element(JsonArray *array, guint index);
double json_array_get_double_element(JsonArray *array, guint index);
gboolean json_array_get_boolean_element(JsonArray *array, guint index);
const char *json_array_get_string_element(JsonArray *array, guint index);
JsonObject *json_array_get_object_element(JsonArray *array, guint index);
/* TRUE for null, and for an object/array node that holds none. */
gboolean json_array_get_null_element(JsonArray *array, guint index);

/* Append; add_element takes @node, add_object_element takes @value
 * (NULL appends null); a NULL string appends null. */
void json_array_add_element(JsonArray *array, JsonNode *node);
void json_array_add_int_element(JsonArray *array, gint64 value);
void json_array_add_string_element(JsonArray *array, const char *value);
void json_array_add_object_element(JsonArray *array, JsonObject *value);
void json_array_remove_element(JsonArray *array, guint index);

/* ------------------------------------------------- text (json-write.c,
 * json-parse.c) */

typedef enum JsonLayout {
    JSON_LAYOUT_COMPACT, /* {"a":1,"b":[2]}           json_to_string() */
    JSON_LAYOUT_PRETTY,  /* members on lines, 2-space indent          */
    JSON_LAYOUT_QMP,     /* {"a": 1, "b": [2]}        what QEMU sends  */
} JsonLayout;

/*
 * Append @s as a JSON string literal.  Control characters are escaped;
 * bytes that do not start a valid UTF-8 character go out as U+FFFD, so the
 * result is always valid JSON.
 */
void json_append_string(GString *out, const char *s);
/* The same as QEMU writes it in QMP: ASCII only (\uXXXX, upper-case hex,
 * surrogate pairs beyond the BMP), \b \f \n \r \t for those controls. */
void json_append_string_qmp(GString *out, const char *s);

/* Append @node (NULL: null) as JSON text laid out as @layout. */
void json_append_node(GString *out, JsonNode *node, JsonLayout layout);

/* @node as JSON text (compact, or pretty-printed), to g_free(). */
char *json_to_string(JsonNode *node, gboolean pretty);

/* Parse @text strictly (see json_parse_strict()); NULL with @errp set. */
JsonNode *json_from_string(const char *text, GError **errp);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(JsonNode, json_node_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(JsonObject, json_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(JsonArray, json_array_unref)

#endif
