/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * BlockdevOptions members from typed JSON or from key=value strings.
 */
#include <string.h>

#include "block/options.h"
#include "qemu/error.h"
#include "qemu/keyval.h"

char *bdrv_opt_path(const char *prefix, const char *key)
{
    if (!prefix || !*prefix) {
        return g_strdup(key);
    }
    return g_strdup_printf("%s.%s", prefix, key);
}

static JsonNode *member(JsonObject *o, const char *key)
{
    return o ? json_object_get_member(o, key) : NULL;
}

static bool type_error(const char *path, const char *expected, GError **errp)
{
    error_setg(errp, "Invalid parameter type for '%s', expected: %s", path,
               expected);
    return false;
}

static bool is_type(JsonNode *n, GType type)
{
    return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == type;
}

bool bdrv_opt_bool(JsonObject *o, const char *key, const char *path, bool *has,
                   bool *out, GError **errp)
{
    JsonNode *n = member(o, key);

    *has = false;
    if (!n) {
        return true;
    }
    if (is_type(n, G_TYPE_BOOLEAN)) {
        *out = json_node_get_boolean(n);
    } else if (is_type(n, G_TYPE_STRING)) {
        if (!keyval_parse_bool(path, json_node_get_string(n), out, errp)) {
            return false;
        }
    } else {
        return type_error(path, "boolean", errp);
    }
    *has = true;
    return true;
}

bool bdrv_opt_int(JsonObject *o, const char *key, const char *path, bool *has,
                  int64_t *out, GError **errp)
{
    JsonNode *n = member(o, key);
    uint64_t v;

    *has = false;
    if (!n) {
        return true;
    }
    if (is_type(n, G_TYPE_INT64)) {
        *out = json_node_get_int(n);
    } else if (is_type(n, G_TYPE_STRING)) {
        if (!keyval_parse_number(path, json_node_get_string(n), &v, errp)) {
            return false;
        }
        *out = (int64_t)v;
    } else {
        return type_error(path, "integer", errp);
    }
    *has = true;
    return true;
}

bool bdrv_opt_str(JsonObject *o, const char *key, const char *path,
                  const char **out, GError **errp)
{
    JsonNode *n = member(o, key);

    *out = NULL;
    if (!n) {
        return true;
    }
    if (!is_type(n, G_TYPE_STRING)) {
        return type_error(path, "string", errp);
    }
    *out = json_node_get_string(n);
    return true;
}

bool bdrv_opt_enum(JsonObject *o, const char *key, const char *path,
                   const char *const *values, const char **out, GError **errp)
{
    const char *s;

    if (!bdrv_opt_str(o, key, path, &s, errp)) {
        return false;
    }
    if (!s) {
        return true;
    }
    for (int i = 0; values[i]; i++) {
        if (g_str_equal(values[i], s)) {
            *out = values[i];
            return true;
        }
    }
    error_setg(errp, "Parameter '%s' does not accept value '%s'", path, s);
    return false;
}

bool bdrv_opt_object(JsonObject *o, const char *key, const char *path,
                     JsonObject **out, GError **errp)
{
    JsonNode *n = member(o, key);

    *out = NULL;
    if (!n) {
        return true;
    }
    if (!JSON_NODE_HOLDS_OBJECT(n)) {
        return type_error(path, "object", errp);
    }
    *out = json_node_get_object(n);
    return true;
}

/* The object at @parts[0..n-1] below @root, created as needed. */
static JsonObject *keyval_dir(JsonObject *root, char **parts, guint n,
                              GError **errp)
{
    JsonObject *dir = root;

    for (guint i = 0; i < n; i++) {
        JsonNode *child = json_object_get_member(dir, parts[i]);

        if (!child) {
            json_object_set_object_member(dir, parts[i], json_object_new());
            child = json_object_get_member(dir, parts[i]);
        } else if (!JSON_NODE_HOLDS_OBJECT(child)) {
            char *saved = parts[i + 1];
            g_autofree char *name = NULL;

            parts[i + 1] = NULL; /* join the first i + 1 parts */
            name = g_strjoinv(".", parts);
            parts[i + 1] = saved;
            error_setg(errp, "Parameter '%s' used inconsistently", name);
            return NULL;
        }
        dir = json_node_get_object(child);
    }
    return dir;
}

static bool keyval_put(JsonObject *root, const char *key, const char *value,
                       GError **errp)
{
    g_auto(GStrv) parts = g_strsplit(key, ".", -1);
    guint n = g_strv_length(parts);
    JsonObject *dir;
    JsonNode *old;

    /* "", ".a", "a..b" and "a." name nothing. */
    for (guint i = 0; i < n; i++) {
        if (!*parts[i]) {
            n = 0;
        }
    }
    if (!n) {
        error_setg(errp, "Invalid parameter '%s'", key);
        return false;
    }
    dir = keyval_dir(root, parts, n - 1, errp);
    if (!dir) {
        return false;
    }
    old = json_object_get_member(dir, parts[n - 1]);
    if (old && JSON_NODE_HOLDS_OBJECT(old)) {
        error_setg(errp, "Parameter '%s' used inconsistently", key);
        return false;
    }
    json_object_set_string_member(dir, parts[n - 1], value);
    return true;
}

JsonObject *bdrv_keyval_to_json(const char *str, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(str, NULL);
    JsonObject *root = json_object_new();

    for (guint i = 0; i < keyval_count(kv); i++) {
        if (!keyval_put(root, keyval_key(kv, i), keyval_value(kv, i), errp)) {
            json_object_unref(root);
            return NULL;
        }
    }
    return root;
}
