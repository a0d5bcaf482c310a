/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * External snapshots: blockdev-snapshot (an existing overlay node) and
 * blockdev-snapshot-sync (an overlay image made here, or opened with mode
 * existing), as transaction actions; the commands alone are one-action
 * transactions, as in QEMU.
 *
 * prepare makes the graph change (so that later actions see it) and abort
 * undoes it: the overlay takes @node as its backing child, every parent
 * of @node (format nodes, the drive) moves to the overlay.
 */
#include <fcntl.h>
#include <string.h>

#include "block/block-backend.h"
#include "block/create.h"
#include "block/graph.h"
#include "block/transaction.h"
#include "qemu/error.h"
#include "qemu/osdep.h"

typedef struct SnapshotState {
    BlkActionState common;
    BlockDriverState *node;    /* referenced while prepared */
    BlockDriverState *overlay; /* referenced while prepared */
    BdrvBackingMode old_mode;  /* the overlay's, to restore on abort */
    BlockBackend *blk;         /* the drive moved to the overlay, or NULL */
    bool made_overlay;         /* -sync opened it: abort deletes it */
} SnapshotState;

/* QEMU's checks on the overlay, in QEMU's order. */
static bool check_overlay(BlockDriverState *node, BlockDriverState *ov,
                          GError **errp)
{
    if (bdrv_node(ov)->blk_users > 0 || bdrv_has_parent(ov)) {
        error_setg(errp, "The overlay is already in use");
        return false;
    }
    if (ov->backing) {
        error_setg(errp, "The overlay already has a backing image");
        return false;
    }
    if (!ov->drv->bdrv_get_backing_file) {
        error_setg(errp, "The overlay does not support backing images");
        return false;
    }
    if (ov == node || bdrv_chain_contains(ov, node) ||
        bdrv_chain_contains(node, ov)) {
        error_setg(errp,
                   "Making '%s' a backing child of '%s' would create "
                   "a cycle",
                   node->node_name, ov->node_name);
        return false;
    }
    return true;
}

static void undo_switch(SnapshotState *s)
{
    if (s->blk) {
        blk_set_root(s->blk, s->node, NULL); /* had it: cannot conflict */
        s->blk = NULL;
    }
    bdrv_replace_in_parents(s->overlay, s->node, NULL);
    bdrv_set_backing(s->overlay, NULL, s->old_mode, NULL);
}

/* Put s->overlay over s->node; on failure nothing changed. */
static bool switch_to_overlay(SnapshotState *s, GError **errp)
{
    BlockBackend *blk = blk_by_root(s->node);

    s->old_mode = bdrv_node(s->overlay)->backing_mode;
    if (!bdrv_set_backing(s->overlay, s->node, BDRV_BACKING_EXPLICIT, errp)) {
        return false;
    }
    if (!bdrv_replace_in_parents(s->node, s->overlay, errp) ||
        (blk && !blk_set_root(blk, s->overlay, errp))) {
        undo_switch(s);
        return false;
    }
    s->blk = blk;
    return true;
}

static bool snapshot_prepare_nodes(SnapshotState *s, BlockDriverState *node,
                                   BlockDriverState *ov, GError **errp)
{
    g_autoptr(GError) err = NULL;

    if (!check_overlay(node, ov, errp)) {
        return false;
    }
    /* what was written before the snapshot is on disk in the base (QEMU
     * flushes here too, with this text) */
    if (!node->read_only && bdrv_flush(node, &err) < 0) {
        error_setg(errp, "An IO error has occurred");
        return false;
    }
    s->node = node;
    s->overlay = ov;
    if (!switch_to_overlay(s, errp)) {
        return false;
    }
    bdrv_ref(node);
    bdrv_ref(ov);
    return true;
}

static bool snapshot_prepare(BlkActionState *common, GError **errp)
{
    SnapshotState *s = (SnapshotState *)common;
    const BlockdevSnapshot *a = common->action->u.blockdev_snapshot.data;
    BlockDriverState *node = bdrv_lookup_bs(a->node, a->node, errp);
    BlockDriverState *ov;

    if (!node || bdrv_op_blocked(node, errp)) {
        return false;
    }
    ov = bdrv_lookup_bs(a->overlay, a->overlay, errp);
    return ov && snapshot_prepare_nodes(s, node, ov, errp);
}

static void snapshot_abort(BlkActionState *common)
{
    SnapshotState *s = (SnapshotState *)common;

    undo_switch(s);
    if (s->made_overlay) {
        bdrv_node(s->overlay)->monitor_owned = false;
        bdrv_unref(s->overlay); /* the reference opening it gave us */
    }
}

static void snapshot_clean(BlkActionState *common)
{
    SnapshotState *s = (SnapshotState *)common;

    bdrv_unref(s->overlay);
    bdrv_unref(s->node);
}

const BlkActionOps bdrv_action_blockdev_snapshot = {
    .instance_size = sizeof(SnapshotState),
    .prepare = snapshot_prepare,
    .abort = snapshot_abort,
    .clean = snapshot_clean,
};

/* ---- blockdev-snapshot-sync ---- */

/*
 * The name the new overlay's header gives @node: what the chain above
 * calls it, else its file's name; never a /dev/fdset/ path.
 */
static char *backing_name_for(BlockDriverState *node, const char *overlay,
                              GError **errp)
{
    BlockDriverState *parent = bdrv_backing_parent(node);
    const char *name = NULL;

    if (parent && parent->drv->bdrv_get_backing_file) {
        name = parent->drv->bdrv_get_backing_file(parent);
    }
    if (!name || !*name) {
        name = node->file ? node->file->filename : node->filename;
    }
    if (!name || g_str_has_prefix(name, FDSET_PATH_PREFIX)) {
        error_setg(errp,
                   "Cannot record '%s' as the backing file of '%s': "
                   "a /dev/fdset/ path only means something inside "
                   "this process; create the overlay with its backing "
                   "file name and use mode 'existing'",
                   name ? name : "", overlay);
        return NULL;
    }
    return g_strdup(name);
}

/* Format @file as a qcow2 overlay of @node (mode absolute-paths). */
static bool make_overlay_image(const char *file, BlockDriverState *node,
                               GError **errp)
{
    BlockdevCreateOptionsQcow2 o = {0};
    g_autoptr(JsonObject) opts = json_object_new();
    g_autofree char *name = backing_name_for(node, file, errp);
    Qcow2CreatePlan *plan;
    BlockDriverState *fbs;
    int fd, fmt, ret;

    if (!name) {
        return false;
    }
    o.size = (uint64_t)bdrv_getlength(node);
    o.has_backing_file = true;
    o.backing_file = name;
    fmt = qapi_enum_parse(&BlockdevDriver_lookup, node->drv->format_name,
                          -1);
    o.has_backing_fmt = fmt >= 0; /* QEMU records it too */
    o.backing_fmt = o.has_backing_fmt ? fmt : 0;
    plan = qcow2_create_plan(&o, errp);
    if (!plan) {
        return false;
    }
    fd = qemu_create(file, O_RDWR, 0644, errp); /* a path may not exist */
    if (fd < 0) {
        qcow2_create_plan_free(plan);
        return false;
    }
    qemu_close(fd);
    json_object_set_string_member(opts, "driver", "file");
    json_object_set_string_member(opts, "filename", file);
    fbs = bdrv_open_options(opts, errp);
    ret = fbs ? qcow2_create_write(fbs, plan, errp) : -1;
    if (fbs) {
        bdrv_unref(fbs);
    }
    qcow2_create_plan_free(plan);
    return ret == 0;
}

/* Open @file as the overlay node (its header's backing is not opened). */
static BlockDriverState *open_overlay(const BlockdevSnapshotSync *a,
                                      const char *format, GError **errp)
{
    g_autoptr(JsonObject) opts = json_object_new();
    JsonObject *file = json_object_new();
    BlockDriverState *ov;

    json_object_set_string_member(opts, "driver", format);
    if (a->has_snapshot_node_name) {
        json_object_set_string_member(opts, "node-name", a->snapshot_node_name);
    }
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", a->snapshot_file);
    json_object_set_object_member(opts, "file", file);
    if (g_str_equal(format, "qcow2")) {
        json_object_set_null_member(opts, "backing");
    }
    ov = bdrv_open_options(opts, errp);
    if (ov && a->has_snapshot_node_name) {
        bdrv_node(ov)->monitor_owned = true; /* blockdev-del may remove it */
    }
    return ov;
}

static bool sync_check_args(const BlockdevSnapshotSync *a,
                            BlockDriverState **node, GError **errp)
{
    *node = bdrv_lookup_bs(a->has_device ? a->device : NULL,
                           a->has_node_name ? a->node_name : NULL, errp);
    if (!*node) {
        return false;
    }
    if (a->has_node_name && !a->has_snapshot_node_name) {
        error_setg(errp, "New overlay node-name missing");
        return false;
    }
    if (a->has_snapshot_node_name && bdrv_find_node(a->snapshot_node_name)) {
        error_setg(errp, "New overlay node-name already in use");
        return false;
    }
    if (a->has_snapshot_node_name &&
        !bdrv_check_new_node_name(a->snapshot_node_name, errp)) {
        return false;
    }
    return !bdrv_op_blocked(*node, errp);
}

static bool sync_check_format(const char *format, bool create, GError **errp)
{
    if (!bdrv_find_driver(format)) {
        error_setg(errp, "Unknown file format '%s'", format);
        return false;
    }
    if (create && !g_str_equal(format, "qcow2")) {
        error_setg(errp, "Backing file not supported for file format '%s'",
                   format);
        return false;
    }
    return true;
}

static bool snapshot_sync_prepare(BlkActionState *common, GError **errp)
{
    SnapshotState *s = (SnapshotState *)common;
    const BlockdevSnapshotSync *a =
        common->action->u.blockdev_snapshot_sync.data;
    const char *format = a->has_format ? a->format : "qcow2";
    bool create = !a->has_mode || a->mode == NEW_IMAGE_MODE_ABSOLUTE_PATHS;
    BlockDriverState *node, *ov;

    if (!sync_check_args(a, &node, errp) ||
        !sync_check_format(format, create, errp)) {
        return false;
    }
    if (create && !make_overlay_image(a->snapshot_file, node, errp)) {
        return false;
    }
    ov = open_overlay(a, format, errp);
    if (!ov) {
        return false;
    }
    if (!snapshot_prepare_nodes(s, node, ov, errp)) {
        bdrv_node(ov)->monitor_owned = false;
        bdrv_unref(ov);
        return false;
    }
    s->made_overlay = true;
    return true;
}

/* Success: the opening reference stays only as the monitor's. */
static void snapshot_sync_commit(BlkActionState *common)
{
    SnapshotState *s = (SnapshotState *)common;

    if (!bdrv_node(s->overlay)->monitor_owned) {
        bdrv_unref(s->overlay); /* the parents hold it now */
    }
}

const BlkActionOps bdrv_action_blockdev_snapshot_sync = {
    .instance_size = sizeof(SnapshotState),
    .prepare = snapshot_sync_prepare,
    .commit = snapshot_sync_commit,
    .abort = snapshot_abort,
    .clean = snapshot_clean,
};

/* ---- the commands alone ---- */

bool bdrv_blockdev_snapshot(const BlockdevSnapshot *args, GError **errp)
{
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT,
        .u.blockdev_snapshot.data = (BlockdevSnapshot *)args,
    };
    TransactionActionList list = {.value = &action};

    return bdrv_transaction(&list, ACTION_COMPLETION_MODE_INDIVIDUAL, errp);
}

bool bdrv_blockdev_snapshot_sync(const BlockdevSnapshotSync *args,
                                 GError **errp)
{
    TransactionAction action = {
        .type = TRANSACTION_ACTION_KIND_BLOCKDEV_SNAPSHOT_SYNC,
        .u.blockdev_snapshot_sync.data = (BlockdevSnapshotSync *)args,
    };
    TransactionActionList list = {.value = &action};

    return bdrv_transaction(&list, ACTION_COMPLETION_MODE_INDIVIDUAL, errp);
}
