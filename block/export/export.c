/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Block exports (QEMU's block/export/): block-export-add/-del,
 * query-block-exports, BLOCK_EXPORT_DELETED, and the older
 * nbd-server-add/-remove.  An export is a parent of its node (a "root"
 * BdrvChild with QEMU's permissions, counted as a BlockBackend user so
 * blockdev-del refuses the node); the protocol is nbd/.
 */
#include <string.h>

#include "block/dirty-bitmap.h"
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
    GPtrArray *bitmaps;  /* BdrvDirtyBitmap *: busy while exported */
    GPtrArray *bm_nodes; /* their nodes (blk_users held, as the root's) */
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

/* No client reads them any more: free for other users. */
static void release_bitmaps(BlockExport *exp)
{
    for (guint i = 0; i < exp->bitmaps->len; i++) {
        BlockDriverState *bs = exp->bm_nodes->pdata[i];

        bdrv_dirty_bitmap_set_busy(exp->bitmaps->pdata[i], false);
        bdrv_node(bs)->blk_users--;
    }
    g_ptr_array_set_size(exp->bitmaps, 0);
    g_ptr_array_set_size(exp->bm_nodes, 0);
}

static void blk_exp_free(BlockExport *exp)
{
    if (exp) {
        g_ptr_array_unref(exp->bitmaps);
        g_ptr_array_unref(exp->bm_nodes);
        g_free(exp->id);
        g_free(exp);
    }
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(BlockExport, blk_exp_free)

/* Main loop, once the NBD export's clients are gone. */
static void blk_exp_gone(void *opaque)
{
    BlockExport *exp = opaque;
    BlockDriverState *bs = exp->root->bs;

    block_exports = g_list_remove(block_exports, exp);
    release_bitmaps(exp);
    bdrv_node(bs)->blk_users--;
    bdrv_child_detach(exp->root);
    qapi_event_send_block_export_deleted(exp->id);
    blk_exp_free(exp);
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

/* The export's permissions, as QEMU's: read, write if writable; all
 * shared but RESIZE (the size clients were told must hold; QEMU names
 * the export "an unnamed block device" in a conflict). */
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

/*
 * A bitmap named in @bitmaps, as QEMU 7.2 finds it: a plain name on @bs or
 * down its backing chain (refused when it records writes to a writable
 * node and the export is read-only: its bits would move under the
 * reader), {node, name} on any node.  *pbs: the bitmap's node.
 */
static BdrvDirtyBitmap *find_export_bitmap(BlockDriverState *bs,
                                           const BlockDirtyBitmapOrStr *b,
                                           bool readonly,
                                           BlockDriverState **pbs,
                                           GError **errp)
{
    BdrvDirtyBitmap *bm = NULL;

    if (b->type != QTYPE_QSTRING) {
        return bdrv_dirty_bitmap_lookup(b->u.external.node,
                                        b->u.external.name, pbs, errp);
    }
    while (bs && !(bm = bdrv_find_dirty_bitmap(bs, b->u.local))) {
        bs = bs->backing;
    }
    if (!bm) {
        error_setg(errp, "Bitmap '%s' is not found", b->u.local);
        return NULL;
    }
    if (readonly && !bs->read_only && bdrv_dirty_bitmap_enabled(bm)) {
        error_setg(errp, "Enabled bitmap '%s' incompatible with readonly "
                   "export", b->u.local);
        return NULL;
    }
    *pbs = bs;
    return bm;
}

/* Resolve every bitmap first (QEMU's checks), then take them all: busy,
 * and their nodes held so none can go while a client reads it. */
static bool take_bitmaps(BlockExport *exp, const BlockExportOptions *o,
                         GError **errp)
{
    const BlockExportOptionsNbd *n = &o->u.nbd;
    bool readonly = !(o->has_writable && o->writable);
    g_autoptr(GPtrArray) bms = g_ptr_array_new();
    g_autoptr(GPtrArray) nodes = g_ptr_array_new();

    for (BlockDirtyBitmapOrStrList *l = n->has_bitmaps ? n->bitmaps : NULL;
         l; l = l->next) {
        BlockDriverState *bm_bs = NULL;
        BdrvDirtyBitmap *bm = find_export_bitmap(exp->root->bs, l->value,
                                                 readonly, &bm_bs, errp);

        if (!bm || !bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_ALLOW_RO, errp)) {
            return false;
        }
        g_ptr_array_add(bms, bm);
        g_ptr_array_add(nodes, bm_bs);
    }
    for (guint i = 0; i < bms->len; i++) {
        bdrv_dirty_bitmap_set_busy(bms->pdata[i], true);
        bdrv_node(nodes->pdata[i])->blk_users++;
        g_ptr_array_add(exp->bitmaps, bms->pdata[i]);
        g_ptr_array_add(exp->bm_nodes, nodes->pdata[i]);
    }
    return true;
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
    NbdExport *nbd;

    if (!take_bitmaps(exp, o, errp)) {
        return NULL;
    }
    cfg.bitmaps = (BdrvDirtyBitmap *const *)exp->bitmaps->pdata;
    cfg.n_bitmaps = exp->bitmaps->len;
    nbd = nbd_export_new(&cfg, exp->root, blk_exp_gone, exp, errp);
    if (!nbd) {
        release_bitmaps(exp);
    }
    return nbd;
}

bool blk_exp_add(const BlockExportOptions *o, GError **errp)
{
    g_autoptr(BlockExport) exp = NULL;
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
    exp->bitmaps = g_ptr_array_new();
    exp->bm_nodes = g_ptr_array_new();
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

/* May free @exp before it returns (see nbd_export_close). */
static void blk_exp_request_close(BlockExport *exp, bool wait)
{
    exp->shutting_down = true;
    nbd_export_close(exp->nbd, wait);
}

bool blk_exp_del(const char *id, bool hard, GError **errp)
{
    BlockExport *exp = blk_exp_find(id);
    guint live;

    if (!exp) {
        error_setg(errp, "Export '%s' is not found", id);
        return false;
    }
    if (exp->shutting_down) {
        error_setg(errp, "Export '%s' is already shutting down", id);
        return false;
    }
    live = nbd_export_live_client_count(exp->nbd);
    if (!hard && live) {
        error_setg(errp, "export '%s' still in use", id);
        return false;
    }
    /* clients that already hung up are waited for: as with none, the
     * event comes before the reply */
    blk_exp_request_close(exp, live == 0);
    return true;
}

void blk_exp_close_all(bool wait)
{
    GList *next;

    for (GList *l = block_exports; l; l = next) {
        BlockExport *exp = l->data;

        next = l->next; /* @l goes with @exp */
        if (!exp->shutting_down) {
            blk_exp_request_close(exp, wait);
        }
    }
}

void blk_exp_shutdown(void)
{
    blk_exp_close_all(false);
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
    BlockDirtyBitmapOrStr name = {
        .type = QTYPE_QSTRING,
        .u.local = arg->bitmap,
    };
    BlockDirtyBitmapOrStrList bitmap = { .value = &name };

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
    /* QEMU 7.2 replies once every export is gone */
    blk_exp_close_all(true);
    nbd_server_stop();
}
