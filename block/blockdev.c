/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP commands on nodes (blockdev-add, blockdev-del, blockdev-reopen,
 * query-named-block-nodes, query-block) and the block layer's entry points
 * for main(): bdrv_init(), --blockdev, bdrv_close_all().
 */
#include "block/block.h"
#include "block/block-backend.h"
#include "block/blockjob.h"
#include "block/graph.h"
#include "block/hmp-block.h"
#include "block/options.h"
#include "qapi/qmp.h"
#include "qemu/error.h"

JsonNode *qmp_blockdev_add(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_blockdev_del(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_blockdev_reopen(JsonObject *args, QmpContext *ctx, GError **errp);
JsonNode *qmp_query_named_block_nodes(JsonObject *args, QmpContext *ctx,
                                      GError **errp);
JsonNode *qmp_query_block(JsonObject *args, QmpContext *ctx, GError **errp);

/* A node the monitor owns: blockdev-add, --blockdev, drive_add -n. */
bool bdrv_add_monitor_node(JsonObject *opts, GError **errp)
{
    BlockDriverState *bs;

    if (!json_object_has_member(opts, "node-name")) {
        error_setg(errp, "'node-name' must be specified for the root node");
        return false;
    }
    bs = bdrv_open_options(opts, errp);
    if (!bs) {
        return false;
    }
    bdrv_node(bs)->monitor_owned = true; /* the monitor's reference */
    return true;
}

JsonNode *qmp_blockdev_add(JsonObject *args, QmpContext *ctx, GError **errp)
{
    bdrv_add_monitor_node(args, errp);
    return NULL;
}

/* QEMU's checks, in QEMU's order. */
static bool blockdev_del_check(BlockDriverState *bs, GError **errp)
{
    if (bdrv_node(bs)->blk_users > 0) {
        error_setg(errp, "Node %s is in use", bs->node_name);
        return false;
    }
    if (bdrv_op_blocked(bs, errp)) {
        return false;
    }
    if (!bdrv_node(bs)->monitor_owned) {
        error_setg(errp, "Node %s is not owned by the monitor", bs->node_name);
        return false;
    }
    if (bs->refcnt > 1) {
        error_setg(errp, "Block device %s is in use",
                   bdrv_device_or_node_name(bs));
        return false;
    }
    return true;
}

JsonNode *qmp_blockdev_del(JsonObject *args, QmpContext *ctx, GError **errp)
{
    const char *name = qmp_arg_str(args, "node-name");
    BlockDriverState *bs = bdrv_find_node(name);

    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'",
                   name ? name : "");
        return NULL;
    }
    if (blockdev_del_check(bs, errp)) {
        bdrv_node(bs)->monitor_owned = false;
        bdrv_unref(bs); /* the monitor's reference */
    }
    return NULL;
}

JsonNode *qmp_blockdev_reopen(JsonObject *args, QmpContext *ctx, GError **errp)
{
    JsonNode *options = json_object_get_member(args, "options");

    if (!options || !JSON_NODE_HOLDS_ARRAY(options)) {
        error_setg(errp, "Parameter 'options' is missing");
        return NULL;
    }
    bdrv_reopen_options(json_node_get_array(options), errp);
    return NULL;
}

JsonNode *qmp_query_named_block_nodes(JsonObject *args, QmpContext *ctx,
                                      GError **errp)
{
    JsonArray *arr = json_array_new();
    g_autoptr(GList) nodes = bdrv_list_nodes();
    bool flat = false;

    qmp_arg_bool(args, "flat", &flat);
    for (GList *l = nodes; l; l = l->next) {
        json_array_add_object_element(
            arr, bdrv_query_node_info(l->data, flat, true));
    }
    return qmp_node_array(arr);
}

static JsonObject *drive_info(BlockBackend *blk)
{
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "device", blk->id);
    json_object_set_boolean_member(o, "locked", false);
    json_object_set_boolean_member(o, "removable", true);
    if (blk->root) {
        json_object_set_object_member(
            o, "inserted",
            bdrv_query_node_info(blk->root, false, !blk->writethrough));
    }
    json_object_set_string_member(o, "type", "unknown");
    return o;
}

JsonNode *qmp_query_block(JsonObject *args, QmpContext *ctx, GError **errp)
{
    JsonArray *arr = json_array_new();

    for (GList *l = blk_list(); l; l = l->next) {
        json_array_add_object_element(arr, drive_info(l->data));
    }
    return qmp_node_array(arr);
}

/* ---- main()'s entry points ---- */

void bdrv_init(void)
{
    hmp_block_register();
}

bool bdrv_cmdline_blockdev(const char *json_or_keyval, GError **errp)
{
    g_autoptr(JsonObject) opts = NULL;
    const char *p = json_or_keyval;

    while (g_ascii_isspace(*p)) {
        p++;
    }
    if (*p == '{') {
        g_autoptr(JsonNode) root = json_from_string(p, errp);

        if (!root) {
            return false;
        }
        if (!JSON_NODE_HOLDS_OBJECT(root)) {
            error_setg(errp, "--blockdev: expected a JSON object");
            return false;
        }
        opts = json_object_ref(json_node_get_object(root));
    } else {
        opts = bdrv_keyval_to_json(p, errp);
        if (!opts) {
            return false;
        }
    }
    return bdrv_add_monitor_node(opts, errp);
}

void bdrv_close_all(void)
{
    g_autoptr(GList) nodes = NULL;
    g_autoptr(GPtrArray) owned = g_ptr_array_new();

    block_job_cancel_all_sync();
    blk_delete_all();
    /* newest first: parents go before the children they hold */
    nodes = bdrv_list_nodes();
    for (GList *l = nodes; l; l = l->next) {
        if (bdrv_node(l->data)->monitor_owned) {
            g_ptr_array_add(owned, l->data);
        }
    }
    /* each stays alive until its own monitor reference is dropped here */
    for (guint i = 0; i < owned->len; i++) {
        BdrvNode *n = bdrv_node(g_ptr_array_index(owned, i));

        n->monitor_owned = false;
        bdrv_unref(&n->bs);
    }
}
