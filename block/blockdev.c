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
#include "qapi/qapi-commands.h"
#include "qapi/qapi-visit.h"
#include "qemu/error.h"

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

/*
 * The block layer opens nodes from an option dictionary, as QEMU's does
 * from a QDict: the typed options are written back into one.
 */
static JsonObject *blockdev_options_dict(const BlockdevOptions *options)
{
    g_autoptr(GString) text = g_string_sized_new(256);
    g_autoptr(JsonNode) node = NULL;

    qapi_out_BlockdevOptions(text, options);
    node = json_from_string(text->str, NULL);
    g_assert(node && JSON_NODE_HOLDS_OBJECT(node)); /* we just wrote it */
    return json_object_ref(json_node_get_object(node));
}

void qmp_blockdev_add(BlockdevOptions *options, GError **errp)
{
    g_autoptr(JsonObject) opts = blockdev_options_dict(options);

    bdrv_add_monitor_node(opts, errp);
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

void qmp_blockdev_del(const char *name, GError **errp)
{
    BlockDriverState *bs = bdrv_find_node(name);

    if (!bs) {
        error_setg(errp, "Failed to find node with node-name='%s'", name);
        return;
    }
    if (blockdev_del_check(bs, errp)) {
        bdrv_node(bs)->monitor_owned = false;
        bdrv_unref(bs); /* the monitor's reference */
    }
}

void qmp_blockdev_reopen(BlockdevOptionsList *options, GError **errp)
{
    g_autoptr(JsonArray) arr = json_array_new();

    for (BlockdevOptionsList *l = options; l; l = l->next) {
        json_array_add_object_element(arr, blockdev_options_dict(l->value));
    }
    bdrv_reopen_options(arr, errp);
}

BlockDeviceInfoList *qmp_query_named_block_nodes(bool has_flat, bool flat,
                                                 GError **errp)
{
    g_autoptr(GList) nodes = bdrv_list_nodes();
    BlockDeviceInfoList *head = NULL, **tail = &head;

    for (GList *l = nodes; l; l = l->next) {
        BlockDeviceInfoList *elt = g_new0(BlockDeviceInfoList, 1);

        elt->value = bdrv_query_node_info(l->data, has_flat && flat, true);
        *tail = elt;
        tail = &elt->next;
    }
    return head;
}

static BlockInfo *drive_info(BlockBackend *blk)
{
    BlockInfo *info = g_new0(BlockInfo, 1);

    info->device = g_strdup(blk->id);
    info->type = g_strdup("unknown");
    info->removable = true;
    info->locked = false;
    if (blk->root) {
        info->has_inserted = true;
        info->inserted =
            bdrv_query_node_info(blk->root, false, !blk->writethrough);
    }
    return info;
}

BlockInfoList *qmp_query_block(GError **errp)
{
    BlockInfoList *head = NULL, **tail = &head;

    for (GList *l = blk_list(); l; l = l->next) {
        BlockInfoList *elt = g_new0(BlockInfoList, 1);

        elt->value = drive_info(l->data);
        *tail = elt;
        tail = &elt->next;
    }
    return head;
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
