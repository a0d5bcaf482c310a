/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Small accessors for QMP handlers.  The arguments were validated against
 * the schema before the handler runs, so a member that is present has the
 * declared JSON type; these only tell "absent" apart.
 */
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

void qmp_json_append_string(GString *out, const char *s)
{
    json_append_string_qmp(out, s);
}

void qmp_json_append_node(GString *out, JsonNode *node)
{
    json_append_node(out, node, JSON_LAYOUT_QMP);
}
