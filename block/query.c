/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What query-named-block-nodes and query-block show of a node:
 * BlockDeviceInfo and ImageInfo in QEMU 7.2's shape, and the "json:{...}"
 * filenames QEMU gives nodes a plain filename cannot describe.
 */
#include <string.h>

#include "block/dirty-bitmap.h"
#include "block/filter.h"
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
    /* a filter with its own child name (blkdebug's "image"), a job's */
    return bs->drv->file_child_name || bs->drv->is_filter ||
           explicit_backing(bs) || needs_json(bs->file);
}

/* A filter a job inserted without a user's name: QEMU's implicit nodes
 * copy their child's name and options. */
static bool implicit_filter(BlockDriverState *bs)
{
    return bs->drv->is_filter && bs->node_name[0] == '#';
}

/* mirror_top and commit_top show their child's name too (their own
 * refresh_filename), while their options still name them. */
static bool shows_child(BlockDriverState *bs)
{
    return implicit_filter(bs) || bs->drv == &bdrv_mirror_top_filter ||
           bs->drv == &bdrv_commit_mirror_top_filter ||
           bs->drv == &bdrv_copy_before_write_filter ||
           bs->drv == &bdrv_commit_top_filter;
}

/* The options that make up the node (QEMU's "full open options"). */
static JsonObject *full_options(BlockDriverState *bs)
{
    JsonObject *o;

    if (implicit_filter(bs)) {
        return full_options(bs->file);
    }
    o = json_object_new();
    json_object_set_string_member(o, "driver", bs->drv->format_name);
    if (bs->drv->is_protocol) {
        json_object_set_string_member(o, "filename", bs->filename);
        return o;
    }
    json_object_set_object_member(
        o, bs->drv->file_child_name ? bs->drv->file_child_name : "file",
        full_options(bs->file));
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

    if (shows_child(bs)) {
        return bdrv_display_filename(bs->file);
    }
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

static void image_backing_info(BlockDriverState *bs, ImageInfo *info)
{
    const char *name = bs->drv->bdrv_get_backing_file
                           ? bs->drv->bdrv_get_backing_file(bs)
                           : NULL;
    const char *fmt = bs->drv->bdrv_get_backing_format
                          ? bs->drv->bdrv_get_backing_format(bs)
                          : NULL;

    if (!name || !*name) {
        return;
    }
    info->has_backing_filename = true;
    info->backing_filename = g_strdup(name);
    info->has_full_backing_filename = true;
    info->full_backing_filename = bdrv_backing_full_name(bs);
    if (fmt && *fmt) {
        info->has_backing_filename_format = true;
        info->backing_filename_format = g_strdup(fmt);
    }
}

static ImageInfo *image_info(BlockDriverState *bs, bool flat)
{
    ImageInfo *info = g_new0(ImageInfo, 1);
    int64_t asize = actual_size(bs);

    info->filename = bdrv_display_filename(bs);
    info->format = g_strdup(bs->drv->format_name);
    info->virtual_size = bdrv_getlength(bs);
    if (asize >= 0) {
        info->has_actual_size = true;
        info->actual_size = asize;
    }
    info->has_dirty_flag = true;
    info->dirty_flag = false;
    if (bs->drv->bdrv_get_specific_info) {
        info->format_specific =
            bs->drv->bdrv_get_specific_info(bs, &info->cluster_size);
        info->has_cluster_size = true;
        info->has_format_specific = true;
    }
    image_backing_info(bs, info);
    /* QEMU's chain shows filters as layers too */
    if (!flat && bdrv_filter_or_cow_child(bs)) {
        info->has_backing_image = true;
        info->backing_image = image_info(bdrv_filter_or_cow_child(bs), false);
    }
    return info;
}

static BlockdevCacheInfo *cache_info(BlockDriverState *bs, bool writeback)
{
    BlockdevCacheInfo *info = g_new0(BlockdevCacheInfo, 1);

    info->writeback = writeback;
    info->direct = bs->cache_direct;
    info->no_flush = bdrv_node(bs)->no_flush;
    return info;
}

BlockDeviceInfo *bdrv_query_node_info(BlockDriverState *bs, bool flat,
                                      bool writeback)
{
    BlockDeviceInfo *info = g_new0(BlockDeviceInfo, 1);

    info->file = bdrv_display_filename(bs);
    info->has_node_name = true;
    info->node_name = g_strdup(bs->node_name);
    info->ro = bs->read_only;
    info->drv = g_strdup(bs->drv->format_name);
    if (bs->backing) {
        info->has_backing_file = true;
        info->backing_file = bdrv_display_filename(bs->backing);
    }
    info->backing_file_depth = flat ? 0 : bdrv_backing_depth(bs);
    info->encrypted = false;
    info->detect_zeroes = qapi_enum_parse(&BlockdevDetectZeroesOptions_lookup,
                                          bdrv_node(bs)->detect_zeroes,
                                          BLOCKDEV_DETECT_ZEROES_OPTIONS_OFF);
    /* bps and iops stay 0: no throttling here */
    info->write_threshold = bdrv_write_threshold_get(bs);
    info->image = image_info(bs, flat);
    info->cache = cache_info(bs, writeback);
    info->dirty_bitmaps = bdrv_query_dirty_bitmaps(bs);
    info->has_dirty_bitmaps = info->dirty_bitmaps != NULL;
    return info;
}
