/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What query-named-block-nodes and query-block show of a node:
 * BlockDeviceInfo and ImageInfo in QEMU 7.2's shape, and the "json:{...}"
 * filenames QEMU gives nodes a plain filename cannot describe.
 */
#include <string.h>

#include "block/graph.h"

/* ---- json: filenames ---- */

static void append_node(GString *out, JsonNode *n);

/* QEMU's spacing: {"a": 1, "b": "x"}, members sorted by name. */
static void append_object(GString *out, JsonObject *o)
{
    GList *members =
        g_list_sort(json_object_get_members(o), (GCompareFunc)strcmp);

    g_string_append_c(out, '{');
    for (GList *l = members; l; l = l->next) {
        g_autofree char *key = g_strescape(l->data, NULL);

        g_string_append_printf(out, "%s\"%s\": ", l == members ? "" : ", ",
                               key);
        append_node(out, json_object_get_member(o, l->data));
    }
    g_string_append_c(out, '}');
    g_list_free(members);
}

static void append_node(GString *out, JsonNode *n)
{
    if (JSON_NODE_HOLDS_OBJECT(n)) {
        append_object(out, json_node_get_object(n));
    } else if (JSON_NODE_HOLDS_NULL(n)) {
        g_string_append(out, "null");
    } else if (json_node_get_value_type(n) == G_TYPE_STRING) {
        g_autofree char *s = g_strescape(json_node_get_string(n), NULL);

        g_string_append_printf(out, "\"%s\"", s);
    } else if (json_node_get_value_type(n) == G_TYPE_BOOLEAN) {
        g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
    } else {
        g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
    }
}

static bool explicit_backing(BlockDriverState *bs)
{
    BdrvBackingMode mode = bdrv_node(bs)->backing_mode;

    return mode == BDRV_BACKING_EXPLICIT || mode == BDRV_BACKING_NULL;
}

/* Does the node need more than its file's name to be described? */
static bool needs_json(BlockDriverState *bs)
{
    if (bs->drv->is_protocol) {
        return false;
    }
    return explicit_backing(bs) || needs_json(bs->file);
}

/* The options that make up the node (QEMU's "full open options"). */
static JsonObject *full_options(BlockDriverState *bs)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "driver", bs->drv->format_name);
    if (bs->drv->is_protocol) {
        json_object_set_string_member(o, "filename", bs->filename);
        return o;
    }
    json_object_set_object_member(o, "file", full_options(bs->file));
    if (explicit_backing(bs)) {
        if (bs->backing) {
            json_object_set_object_member(o, "backing",
                                          full_options(bs->backing));
        } else {
            json_object_set_null_member(o, "backing");
        }
    }
    return o;
}

char *bdrv_display_filename(BlockDriverState *bs)
{
    g_autoptr(JsonObject) o = NULL;
    GString *out;

    if (!needs_json(bs)) {
        return g_strdup(bs->filename);
    }
    o = full_options(bs);
    out = g_string_new("json:");
    append_object(out, o);
    return g_string_free(out, FALSE);
}

/* ---- ImageInfo and BlockDeviceInfo ---- */

static int64_t actual_size(BlockDriverState *bs)
{
    while (bs && !bs->drv->is_protocol) {
        bs = bs->file;
    }
    return bs ? bdrv_file_allocated_size(bs) : -1;
}

static void image_backing_info(BlockDriverState *bs, JsonObject *o)
{
    const char *name = bs->drv->bdrv_get_backing_file
                           ? bs->drv->bdrv_get_backing_file(bs)
                           : NULL;
    const char *fmt = bs->drv->bdrv_get_backing_format
                          ? bs->drv->bdrv_get_backing_format(bs)
                          : NULL;
    g_autofree char *full = bdrv_backing_full_name(bs);

    if (!name || !*name) {
        return;
    }
    json_object_set_string_member(o, "backing-filename", name);
    json_object_set_string_member(o, "full-backing-filename", full);
    if (fmt && *fmt) {
        json_object_set_string_member(o, "backing-filename-format", fmt);
    }
}

static JsonObject *image_info(BlockDriverState *bs, bool flat)
{
    JsonObject *o = json_object_new();
    int64_t asize = actual_size(bs);
    g_autofree char *filename = bdrv_display_filename(bs);

    json_object_set_string_member(o, "filename", filename);
    json_object_set_string_member(o, "format", bs->drv->format_name);
    json_object_set_int_member(o, "virtual-size", bdrv_getlength(bs));
    if (asize >= 0) {
        json_object_set_int_member(o, "actual-size", asize);
    }
    json_object_set_boolean_member(o, "dirty-flag", false);
    if (bs->drv->bdrv_get_specific_info) {
        int64_t cluster_size;
        JsonObject *spec = bs->drv->bdrv_get_specific_info(bs, &cluster_size);

        json_object_set_int_member(o, "cluster-size", cluster_size);
        json_object_set_object_member(o, "format-specific", spec);
    }
    image_backing_info(bs, o);
    if (!flat && bs->backing) {
        json_object_set_object_member(o, "backing-image",
                                      image_info(bs->backing, false));
    }
    return o;
}

static JsonObject *cache_info(BlockDriverState *bs, bool writeback)
{
    JsonObject *o = json_object_new();

    json_object_set_boolean_member(o, "writeback", writeback);
    json_object_set_boolean_member(o, "direct", bs->cache_direct);
    json_object_set_boolean_member(o, "no-flush", bdrv_node(bs)->no_flush);
    return o;
}

JsonObject *bdrv_query_node_info(BlockDriverState *bs, bool flat,
                                 bool writeback)
{
    static const char *const zero_members[] = {
        "bps",     "bps_rd",  "bps_wr",          "iops",
        "iops_rd", "iops_wr",
    };
    JsonObject *o = json_object_new();
    g_autofree char *filename = bdrv_display_filename(bs);

    json_object_set_string_member(o, "file", filename);
    json_object_set_string_member(o, "node-name", bs->node_name);
    json_object_set_boolean_member(o, "ro", bs->read_only);
    json_object_set_string_member(o, "drv", bs->drv->format_name);
    if (bs->backing) {
        g_autofree char *backing = bdrv_display_filename(bs->backing);

        json_object_set_string_member(o, "backing_file", backing);
    }
    json_object_set_int_member(o, "backing_file_depth",
                               flat ? 0 : bdrv_backing_depth(bs));
    json_object_set_boolean_member(o, "encrypted", false);
    json_object_set_string_member(o, "detect_zeroes",
                                  bdrv_node(bs)->detect_zeroes);
    for (guint i = 0; i < G_N_ELEMENTS(zero_members); i++) {
        json_object_set_int_member(o, zero_members[i], 0);
    }
    json_object_set_int_member(o, "write_threshold",
                               bdrv_write_threshold_get(bs));
    json_object_set_object_member(o, "image", image_info(bs, flat));
    json_object_set_object_member(o, "cache", cache_info(bs, writeback));
    return o;
}
