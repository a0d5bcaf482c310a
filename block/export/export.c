/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block exports (QEMU's block/export/): block-export-add/-del,
 * query-block-exports, BLOCK_EXPORT_DELETED, and the older
 * nbd-server-add/-remove.  An export is a parent of its node (a "root"
 * BdrvChild with QEMU's permissions, counted as a BlockBackend user so
 * blockdev-del refuses the node); the protocol is nbd/.
 */
#include <string.h>

#include "block/export.h"
#include "block/graph.h"
#include "block/perm.h"
#include "nbd/nbd.h"
#include "qapi/qapi-commands.h"
#include "qapi/qapi-events.h"
#include "qemu/error.h"

typedef struct BlockExport {
    char *id;
    BlockExportType type;
    BdrvChild *root;
    NbdExport *nbd;
    bool shutting_down;
} BlockExport;

static GList *block_exports; /* oldest first */

static BlockExport *blk_exp_find(const char *id)
{
    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;

        if (!strcmp(exp->id, id)) {
            return exp;
        }
    }
    return NULL;
}

/* Main loop, once the NBD export's clients are gone. */
static void blk_exp_gone(void *opaque)
{
    BlockExport *exp = opaque;
    BlockDriverState *bs = exp->root->bs;

    block_exports = g_list_remove(block_exports, exp);
    bdrv_node(bs)->blk_users--;
    bdrv_child_detach(exp->root);
    qapi_event_send_block_export_deleted(exp->id);
    g_free(exp->id);
    g_free(exp);
}

static bool check_new_export(const BlockExportOptions *o, GError **errp)
{
    if (!bdrv_id_wellformed(o->id)) {
        error_setg(errp, "Invalid block export id");
        return false;
    }
    if (blk_exp_find(o->id)) {
        error_setg(errp, "Block export id '%s' is already in use", o->id);
        return false;
    }
    return true;
}

/* The export's permissions, as QEMU 7.2's: read, write if writable; all
 * shared but resize (the size the clients were told stays true).  QEMU's
 * export is an anonymous BlockBackend: conflicts name it so. */
static BdrvChild *attach_root(const BlockExportOptions *o,
                              BlockDriverState *bs, GError **errp)
{
    uint64_t perm = BLK_PERM_CONSISTENT_READ;

    if (o->has_writable && o->writable) {
        perm |= BLK_PERM_WRITE;
    }
    return bdrv_child_attach("an unnamed block device", bs, "root", perm,
                             BLK_PERM_ALL & ~BLK_PERM_RESIZE, errp);
}

static NbdExport *create_nbd(BlockExport *exp, const BlockExportOptions *o,
                             GError **errp)
{
    const BlockExportOptionsNbd *n = &o->u.nbd;
    NbdExportConfig cfg = {
        .name = n->has_name ? n->name : o->node_name,
        .description = n->has_description ? n->description : NULL,
        .writable = o->has_writable && o->writable,
        .writethrough = o->has_writethrough && o->writethrough,
        .allocation_depth = n->has_allocation_depth && n->allocation_depth,
    };

    if (n->has_bitmaps && n->bitmaps) {
        /* no dirty bitmaps yet (the bitmap branch adds them) */
        error_setg(errp, "Bitmap '%s' is not found", n->bitmaps->value);
        return NULL;
    }
    return nbd_export_new(&cfg, exp->root, blk_exp_gone, exp, errp);
}

bool blk_exp_add(const BlockExportOptions *o, GError **errp)
{
    g_autofree BlockExport *exp = NULL;
    BlockDriverState *bs;

    if (!check_new_export(o, errp)) {
        return false;
    }
    bs = bdrv_lookup_bs(o->node_name, o->node_name, errp);
    if (!bs) {
        return false;
    }
    if (o->has_writable && o->writable && bs->read_only) {
        error_setg(errp, "Cannot export read-only node as writable");
        return false;
    }
    if (o->has_iothread) {
        error_setg(errp, "IOThread '%s' not found (fdsetd has no iothreads)",
                   o->iothread);
        return false;
    }
    if (!nbd_server_running()) {
        error_setg(errp, "NBD server not running");
        return false;
    }
    exp = g_new0(BlockExport, 1);
    exp->type = o->type;
    exp->root = attach_root(o, bs, errp);
    if (!exp->root) {
        return false;
    }
    exp->nbd = create_nbd(exp, o, errp);
    if (!exp->nbd) {
        bdrv_child_detach(exp->root);
        return false;
    }
    bdrv_node(bs)->blk_users++; /* blockdev-del: "Node X is in use" */
    exp->root->follows_replace = true; /* mirror's pivot moves the export */
    exp->id = g_strdup(o->id);
    block_exports = g_list_append(block_exports, exp);
    g_steal_pointer(&exp);
    return true;
}

static void blk_exp_request_close(BlockExport *exp)
{
    exp->shutting_down = true;
    nbd_export_close(exp->nbd);
}

bool blk_exp_del(const char *id, bool hard, GError **errp)
{
    BlockExport *exp = blk_exp_find(id);

    if (!exp) {
        error_setg(errp, "Export '%s' is not found", id);
        return false;
    }
    if (exp->shutting_down) {
        error_setg(errp, "Export '%s' is already shutting down", id);
        return false;
    }
    if (!hard && nbd_export_client_count(exp->nbd)) {
        error_setg(errp, "export '%s' still in use", id);
        return false;
    }
    blk_exp_request_close(exp);
    return true;
}

void blk_exp_close_all(void)
{
    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;

        if (!exp->shutting_down) {
            blk_exp_request_close(exp);
        }
    }
}

void blk_exp_shutdown(void)
{
    blk_exp_close_all();
    nbd_server_shutdown();
    /* the exports' "gone" calls are queued on the main loop: run them */
    while (block_exports && g_main_context_iteration(NULL, FALSE)) {
    }
}

/* ---- QMP ---- */

void qmp_block_export_add(BlockExportOptions *arg, GError **errp)
{
    blk_exp_add(arg, errp);
}

void qmp_block_export_del(const char *id, bool has_mode,
                          BlockExportRemoveMode mode, GError **errp)
{
    blk_exp_del(id, has_mode && mode == BLOCK_EXPORT_REMOVE_MODE_HARD, errp);
}

BlockExportInfoList *qmp_query_block_exports(GError **errp)
{
    BlockExportInfoList *head = NULL, **tail = &head;

    for (GList *l = block_exports; l; l = l->next) {
        BlockExport *exp = l->data;
        BlockExportInfoList *elt = g_new0(BlockExportInfoList, 1);

        elt->value = g_new0(BlockExportInfo, 1);
        elt->value->id = g_strdup(exp->id);
        elt->value->type = exp->type;
        elt->value->node_name = g_strdup(exp->root->bs->node_name);
        elt->value->shutting_down = exp->shutting_down;
        *tail = elt;
        tail = &elt->next;
    }
    return head;
}

void qmp_nbd_server_add(NbdServerAddOptions *arg, GError **errp)
{
    BlockExportOptions o = {
        .type = BLOCK_EXPORT_TYPE_NBD,
        .id = arg->has_name ? arg->name : arg->device,
        .node_name = arg->device,
        .has_writable = arg->has_writable,
        .writable = arg->writable,
    };
    strList bitmap = { .value = arg->bitmap };

    o.u.nbd.has_name = arg->has_name;
    o.u.nbd.name = arg->name;
    o.u.nbd.has_description = arg->has_description;
    o.u.nbd.description = arg->description;
    if (arg->has_bitmap) {
        o.u.nbd.has_bitmaps = true;
        o.u.nbd.bitmaps = &bitmap;
    }
    blk_exp_add(&o, errp);
}

void qmp_nbd_server_remove(const char *name, bool has_mode,
                           BlockExportRemoveMode mode, GError **errp)
{
    BlockExport *exp = blk_exp_find(name);

    if (exp && exp->type != BLOCK_EXPORT_TYPE_NBD) {
        error_setg(errp, "Block export '%s' is not an NBD export", name);
        return;
    }
    qmp_block_export_del(name, has_mode, mode, errp);
}

void qmp_nbd_server_stop(GError **errp)
{
    if (!nbd_server_running()) {
        error_setg(errp, "NBD server not running");
        return;
    }
    blk_exp_close_all();
    nbd_server_stop();
}
