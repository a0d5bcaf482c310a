/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Dirty bitmaps of nodes.  A node with bitmaps has one BdrvBitmapNode: its
 * write hook marks every enabled bitmap after each write, write of zeroes
 * or discard (also a failed one: its range may have changed in part).
 * bitmaps_lock guards the lists and the bits, since writers run in any
 * thread; the table of nodes is only touched on the main loop.
 */
#include <string.h>

#include "block/dirty-bitmap.h"
#include "block/graph.h"
#include "block/write-hook.h"
#include "block/qcow2-bitmap.h"
#include "qemu/error.h"

#define DEFAULT_GRANULARITY 65536

struct BdrvDirtyBitmap {
    BlockDriverState *bs;
    char *name;
    HBitmap *bits;
    bool disabled;
    bool persistent;
    bool busy;
    bool readonly;     /* persistent, read from a read-only image */
    bool inconsistent; /* found in use when the image was opened */
};

typedef struct BdrvBitmapNode {
    BdrvWriteHook hook;
    BlockDriverState *bs;
    GList *bitmaps; /* BdrvDirtyBitmap *, oldest first */
} BdrvBitmapNode;

static GMutex bitmaps_lock;
static GHashTable *bitmap_nodes; /* BlockDriverState * -> BdrvBitmapNode * */

static void mark_dirty(BdrvWriteHook *hook, BlockDriverState *bs,
                       int64_t offset, int64_t bytes, BdrvWriteKind kind,
                       int ret)
{
    BdrvBitmapNode *bn = hook->opaque;

    (void)bs;
    (void)kind;
    (void)ret;
    g_mutex_lock(&bitmaps_lock);
    for (GList *l = bn->bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        if (!bm->disabled) {
            hbitmap_set(bm->bits, offset, bytes);
        }
    }
    g_mutex_unlock(&bitmaps_lock);
}

static BdrvBitmapNode *bitmap_node(BlockDriverState *bs, bool create)
{
    BdrvBitmapNode *bn;

    if (!bitmap_nodes) {
        bitmap_nodes = g_hash_table_new(NULL, NULL);
    }
    bn = g_hash_table_lookup(bitmap_nodes, bs);
    if (bn || !create) {
        return bn;
    }
    bn = g_new0(BdrvBitmapNode, 1);
    bn->bs = bs;
    bn->hook.after = mark_dirty;
    bn->hook.opaque = bn;
    g_hash_table_insert(bitmap_nodes, bs, bn);
    bdrv_write_hook_add(bs, &bn->hook);
    return bn;
}

static void bitmap_node_drop_if_empty(BdrvBitmapNode *bn)
{
    if (bn->bitmaps) {
        return;
    }
    bdrv_write_hook_remove(bn->bs, &bn->hook); /* waits for its writers */
    g_hash_table_remove(bitmap_nodes, bn->bs);
    g_free(bn);
}

GList *bdrv_dirty_bitmaps(BlockDriverState *bs)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);

    return bn ? g_list_copy(bn->bitmaps) : NULL;
}

BdrvDirtyBitmap *bdrv_find_dirty_bitmap(BlockDriverState *bs,
                                        const char *name)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);

    for (GList *l = bn ? bn->bitmaps : NULL; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        if (strcmp(bm->name, name) == 0) {
            return bm;
        }
    }
    return NULL;
}

BdrvDirtyBitmap *bdrv_dirty_bitmap_lookup(const char *node, const char *name,
                                          BlockDriverState **pbs,
                                          GError **errp)
{
    BlockDriverState *bs = bdrv_lookup_bs(node, node, NULL);
    BdrvDirtyBitmap *bm;

    if (!bs) {
        error_setg(errp, "Node '%s' not found", node);
        return NULL;
    }
    bm = bdrv_find_dirty_bitmap(bs, name);
    if (!bm) {
        error_setg(errp, "Dirty bitmap '%s' not found", name);
        return NULL;
    }
    if (pbs) {
        *pbs = bs;
    }
    return bm;
}

static uint32_t default_granularity(BlockDriverState *bs)
{
    int64_t cluster_size = 0;
    ImageInfoSpecific *info;

    if (!bs->drv->bdrv_get_specific_info) {
        return DEFAULT_GRANULARITY;
    }
    info = bs->drv->bdrv_get_specific_info(bs, &cluster_size);
    qapi_free_ImageInfoSpecific(info);
    if (cluster_size <= 0) {
        return DEFAULT_GRANULARITY;
    }
    return MAX(cluster_size, 4096);
}

static bool check_new_name(BlockDriverState *bs, const char *name,
                           GError **errp)
{
    if (!*name) {
        error_setg(errp, "Bitmap name cannot be empty");
        return false;
    }
    if (strlen(name) > BDRV_BITMAP_MAX_NAME_SIZE) {
        error_setg(errp, "Bitmap name too long: %s", name);
        return false;
    }
    if (bdrv_find_dirty_bitmap(bs, name)) {
        error_setg(errp, "Bitmap already exists: %s", name);
        return false;
    }
    return true;
}

BdrvDirtyBitmap *bdrv_create_dirty_bitmap(BlockDriverState *bs,
                                          const char *name,
                                          uint32_t granularity,
                                          bool persistent, bool disabled,
                                          GError **errp)
{
    BdrvBitmapNode *bn;
    BdrvDirtyBitmap *bm;
    int64_t size;

    if (granularity == 0) {
        granularity = default_granularity(bs);
    }
    if (granularity < 512 || (granularity & (granularity - 1))) {
        error_setg(errp, "Granularity must be power of 2 and at least 512");
        return NULL;
    }
    if (!check_new_name(bs, name, errp)) {
        return NULL;
    }
    if (persistent &&
        !qcow2_can_store_new_dirty_bitmap(bs, name, granularity, errp)) {
        return NULL;
    }
    size = bdrv_getlength(bs);
    if (size < 0) {
        error_setg(errp, "Could not get the size of '%s'", bs->node_name);
        return NULL;
    }
    bm = g_new0(BdrvDirtyBitmap, 1);
    bm->bs = bs;
    bm->name = g_strdup(name);
    bm->bits = hbitmap_new(size, granularity);
    bm->disabled = disabled;
    bm->persistent = persistent;
    bn = bitmap_node(bs, true);
    g_mutex_lock(&bitmaps_lock);
    bn->bitmaps = g_list_append(bn->bitmaps, bm);
    g_mutex_unlock(&bitmaps_lock);
    return bm;
}

static void dirty_bitmap_free(BdrvDirtyBitmap *bm)
{
    hbitmap_free(bm->bits);
    g_free(bm->name);
    g_free(bm);
}

void bdrv_release_dirty_bitmap(BdrvDirtyBitmap *bm)
{
    BdrvBitmapNode *bn = bitmap_node(bm->bs, false);

    g_mutex_lock(&bitmaps_lock);
    bn->bitmaps = g_list_remove(bn->bitmaps, bm);
    g_mutex_unlock(&bitmaps_lock);
    dirty_bitmap_free(bm);
    bitmap_node_drop_if_empty(bn);
}

bool bdrv_dirty_bitmap_check(BdrvDirtyBitmap *bm, unsigned checks,
                             GError **errp)
{
    if ((checks & BDRV_BITMAP_BUSY) && bm->busy) {
        error_setg(errp, "Bitmap '%s' is currently in use by another "
                   "operation and cannot be used", bm->name);
        return false;
    }
    if ((checks & BDRV_BITMAP_RO) && bm->readonly) {
        error_setg(errp, "Bitmap '%s' is readonly and cannot be modified",
                   bm->name);
        return false;
    }
    if ((checks & BDRV_BITMAP_INCONSISTENT) && bm->inconsistent) {
        error_setg(errp, "Bitmap '%s' is inconsistent and cannot be used",
                   bm->name);
        return false;
    }
    return true;
}

const char *bdrv_dirty_bitmap_name(BdrvDirtyBitmap *bm)
{
    return bm->name;
}

uint32_t bdrv_dirty_bitmap_granularity(BdrvDirtyBitmap *bm)
{
    return hbitmap_granularity(bm->bits);
}

uint64_t bdrv_dirty_bitmap_granules(BdrvDirtyBitmap *bm)
{
    return hbitmap_granules(bm->bits);
}

uint64_t bdrv_dirty_bitmap_size(BdrvDirtyBitmap *bm)
{
    return hbitmap_size(bm->bits);
}

bool bdrv_dirty_bitmap_enabled(BdrvDirtyBitmap *bm)
{
    return !bm->disabled;
}

bool bdrv_dirty_bitmap_persistent(BdrvDirtyBitmap *bm)
{
    return bm->persistent;
}

bool bdrv_dirty_bitmap_inconsistent(BdrvDirtyBitmap *bm)
{
    return bm->inconsistent;
}

void bdrv_dirty_bitmap_set_enabled(BdrvDirtyBitmap *bm, bool enabled)
{
    g_mutex_lock(&bitmaps_lock);
    bm->disabled = !enabled;
    g_mutex_unlock(&bitmaps_lock);
}

void bdrv_dirty_bitmap_set_busy(BdrvDirtyBitmap *bm, bool busy)
{
    bm->busy = busy;
}

void bdrv_dirty_bitmap_set_inconsistent(BdrvDirtyBitmap *bm)
{
    bm->inconsistent = true;
    bm->disabled = true; /* QEMU: an inconsistent bitmap never records */
}

void bdrv_dirty_bitmap_set_readonly(BdrvDirtyBitmap *bm, bool readonly)
{
    bm->readonly = readonly;
}

void bdrv_dirty_bitmap_clear(BdrvDirtyBitmap *bm)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_reset_all(bm->bits);
    g_mutex_unlock(&bitmaps_lock);
}

bool bdrv_dirty_bitmap_merge(BdrvDirtyBitmap *dst, BdrvDirtyBitmap *src,
                             GError **errp)
{
    uint64_t dsize = hbitmap_size(dst->bits), ssize = hbitmap_size(src->bits);

    if (dsize != ssize) {
        error_setg(errp, "Bitmaps are of different sizes (destination size "
                   "is %" G_GUINT64_FORMAT ", source size is %"
                   G_GUINT64_FORMAT ") and can't be merged", dsize, ssize);
        return false;
    }
    if (dst == src) {
        return true;
    }
    g_mutex_lock(&bitmaps_lock);
    hbitmap_merge(dst->bits, src->bits);
    g_mutex_unlock(&bitmaps_lock);
    return true;
}

void bdrv_dirty_bitmap_set_range(BdrvDirtyBitmap *bm, uint64_t offset,
                                 uint64_t bytes)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_set(bm->bits, offset, bytes);
    g_mutex_unlock(&bitmaps_lock);
}

void bdrv_dirty_bitmap_reset_range(BdrvDirtyBitmap *bm, uint64_t offset,
                                   uint64_t bytes)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_reset(bm->bits, offset, bytes);
    g_mutex_unlock(&bitmaps_lock);
}

uint64_t bdrv_dirty_bitmap_count(BdrvDirtyBitmap *bm)
{
    uint64_t n;

    g_mutex_lock(&bitmaps_lock);
    n = hbitmap_count(bm->bits);
    g_mutex_unlock(&bitmaps_lock);
    return n;
}

char *bdrv_dirty_bitmap_sha256(BdrvDirtyBitmap *bm)
{
    char *hex;

    g_mutex_lock(&bitmaps_lock);
    hex = hbitmap_sha256(bm->bits);
    g_mutex_unlock(&bitmaps_lock);
    return hex;
}

HBitmap *bdrv_dirty_bitmap_copy_bits(BdrvDirtyBitmap *bm)
{
    HBitmap *copy;

    g_mutex_lock(&bitmaps_lock);
    copy = hbitmap_copy(bm->bits);
    g_mutex_unlock(&bitmaps_lock);
    return copy;
}

HBitmap *bdrv_dirty_bitmap_take_bits(BdrvDirtyBitmap *bm)
{
    HBitmap *copy;

    g_mutex_lock(&bitmaps_lock);
    copy = hbitmap_copy(bm->bits);
    hbitmap_reset_all(bm->bits);
    g_mutex_unlock(&bitmaps_lock);
    return copy;
}

void bdrv_dirty_bitmap_restore_bits(BdrvDirtyBitmap *bm, const HBitmap *bits)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_reset_all(bm->bits);
    hbitmap_merge(bm->bits, bits);
    g_mutex_unlock(&bitmaps_lock);
}

void bdrv_dirty_bitmap_merge_bits(BdrvDirtyBitmap *bm, const HBitmap *bits)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_merge(bm->bits, bits);
    g_mutex_unlock(&bitmaps_lock);
}

void bdrv_dirty_bitmap_serialize(BdrvDirtyBitmap *bm, uint64_t first_granule,
                                 uint64_t granules, uint8_t *buf)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_serialize(bm->bits, first_granule, granules, buf);
    g_mutex_unlock(&bitmaps_lock);
}

void bdrv_dirty_bitmap_deserialize(BdrvDirtyBitmap *bm,
                                   uint64_t first_granule, uint64_t granules,
                                   const uint8_t *buf)
{
    g_mutex_lock(&bitmaps_lock);
    hbitmap_deserialize(bm->bits, first_granule, granules, buf);
    g_mutex_unlock(&bitmaps_lock);
}

bool bdrv_dirty_bitmap_granules_clean(BdrvDirtyBitmap *bm,
                                      uint64_t first_granule,
                                      uint64_t granules)
{
    bool clean;

    g_mutex_lock(&bitmaps_lock);
    clean = hbitmap_granules_clean(bm->bits, first_granule, granules);
    g_mutex_unlock(&bitmaps_lock);
    return clean;
}

void bdrv_dirty_bitmap_walk_runs(BdrvDirtyBitmap *bm, uint64_t offset,
                                 uint64_t bytes, BdrvDirtyRunFn *fn,
                                 void *opaque)
{
    uint64_t pos = offset, end = offset + bytes, start, len;

    g_mutex_lock(&bitmaps_lock);
    while (pos < end) {
        if (!hbitmap_next_dirty_area(bm->bits, pos, end, 0, &start, &len)) {
            fn(opaque, end - pos, false);
            break;
        }
        if ((start > pos && !fn(opaque, start - pos, false)) ||
            !fn(opaque, len, true)) {
            break;
        }
        pos = start + len;
    }
    g_mutex_unlock(&bitmaps_lock);
}

bool bdrv_dirty_bitmaps_check_resize(BlockDriverState *bs, GError **errp)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);

    for (GList *l = bn ? bn->bitmaps : NULL; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        if (bm->persistent &&
            !bdrv_dirty_bitmap_check(bm, BDRV_BITMAP_DEFAULT, errp)) {
            return false;
        }
    }
    return true;
}

void bdrv_dirty_bitmaps_truncate(BlockDriverState *bs)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);
    int64_t size;

    if (!bn || (size = bdrv_getlength(bs)) < 0) {
        return;
    }
    g_mutex_lock(&bitmaps_lock);
    for (GList *l = bn->bitmaps; l; l = l->next) {
        BdrvDirtyBitmap *bm = l->data;

        hbitmap_truncate(bm->bits, size);
    }
    g_mutex_unlock(&bitmaps_lock);
}

static BlockDirtyInfo *dirty_info(BdrvDirtyBitmap *bm)
{
    BlockDirtyInfo *info = g_new0(BlockDirtyInfo, 1);

    info->name = g_strdup(bm->name);
    info->count = bdrv_dirty_bitmap_count(bm);
    info->granularity = hbitmap_granularity(bm->bits);
    info->recording = !bm->disabled;
    info->busy = bm->busy;
    info->persistent = bm->persistent;
    info->has_inconsistent = bm->inconsistent;
    info->inconsistent = bm->inconsistent;
    return info;
}

BlockDirtyInfoList *bdrv_query_dirty_bitmaps(BlockDriverState *bs)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);
    BlockDirtyInfoList *head = NULL;

    /* prepending the oldest first leaves the newest at the head */
    for (GList *l = bn ? bn->bitmaps : NULL; l; l = l->next) {
        BlockDirtyInfoList *e = g_new0(BlockDirtyInfoList, 1);

        e->value = dirty_info(l->data);
        e->next = head;
        head = e;
    }
    return head;
}

void bdrv_dirty_bitmaps_close(BlockDriverState *bs)
{
    g_autoptr(GError) err = NULL;

    if (!bitmap_node(bs, false)) {
        return;
    }
    if (!qcow2_store_persistent_dirty_bitmaps(bs, true, &err)) {
        g_warning("Lost persistent bitmaps during inactivation of node "
                  "'%s': %s", bdrv_device_or_node_name(bs), err->message);
    }
    bdrv_dirty_bitmaps_drop(bs);
}

void bdrv_dirty_bitmaps_drop(BlockDriverState *bs)
{
    BdrvBitmapNode *bn = bitmap_node(bs, false);

    if (!bn) {
        return;
    }
    while (bn->bitmaps) {
        BdrvDirtyBitmap *bm = bn->bitmaps->data;

        g_mutex_lock(&bitmaps_lock);
        bn->bitmaps = g_list_remove(bn->bitmaps, bm);
        g_mutex_unlock(&bitmaps_lock);
        dirty_bitmap_free(bm);
    }
    bitmap_node_drop_if_empty(bn);
}
