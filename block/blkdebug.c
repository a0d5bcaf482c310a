/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The "blkdebug" filter: requests pass to the child "image", and rules fail
 * them after named events, with QEMU 7.2's semantics:
 *
 * - the node has a state, 1 at open; a rule with a state only applies in it;
 * - when an event reaches the node, its inject-error rules become the active
 *   ones (replacing those of an earlier event), and a set-state rule moves
 *   the state once every rule of the event was looked at;
 * - each later request on the node fails with the errno of the first active
 *   rule that matches its kind (iotype) and covers its sector; a once rule
 *   is then gone for good, any other stays active.
 *
 * x-drop-unflushed (fdsetd only) journals the old bytes of every write since
 * the last flush, so that blkdebug-power-cut can undo them (power-cut.c).
 */
#include <errno.h>
#include <inttypes.h>

#include "block/blkdebug.h"
#include "block/blkdebug-int.h"
#include "block/graph.h"
#include "block/options.h"
#include "qapi/util.h"
#include "qemu/error.h"

typedef enum BlkdebugAction {
    BLKDEBUG_INJECT_ERROR,
    BLKDEBUG_SET_STATE,
} BlkdebugAction;

/* QEMU's default: every kind but block-status. */
#define BLKDEBUG_DEFAULT_IOTYPES                                               \
    ((1u << BLKDEBUG_IO_TYPE_READ) | (1u << BLKDEBUG_IO_TYPE_WRITE) |          \
     (1u << BLKDEBUG_IO_TYPE_WRITE_ZEROES) |                                   \
     (1u << BLKDEBUG_IO_TYPE_DISCARD) | (1u << BLKDEBUG_IO_TYPE_FLUSH))

typedef struct BlkdebugRule {
    BlkdebugAction action;
    BlkdebugEvent event;
    int64_t state; /* 0: any */
    /* inject-error */
    int error;
    guint iotypes;  /* bit per BlkdebugIOType */
    int64_t offset; /* -1: any */
    bool once;
    /* set-state */
    int64_t new_state;
} BlkdebugRule;

static BDRVBlkdebugState *blkdebug_state(BlockDriverState *bs)
{
    return bs->opaque;
}

/* ---- rules from the options ---- */

static bool parse_event(JsonObject *o, const char *path, BlkdebugEvent *ev,
                        GError **errp)
{
    g_autofree char *p = bdrv_opt_path(path, "event");
    const char *name = NULL;
    int v;

    if (!bdrv_opt_str(o, "event", p, &name, errp)) {
        return false;
    }
    if (!name) {
        error_setg(errp, "Parameter '%s' is missing", p);
        return false;
    }
    v = qapi_enum_parse(&BlkdebugEvent_lookup, name, -1);
    if (v < 0) {
        error_setg(errp, "Parameter '%s' does not accept value '%s'", p, name);
        return false;
    }
    *ev = v;
    return true;
}

static bool parse_iotype(JsonObject *o, const char *path, guint *mask,
                         GError **errp)
{
    g_autofree char *p = bdrv_opt_path(path, "iotype");
    const char *name = NULL;
    int v;

    *mask = BLKDEBUG_DEFAULT_IOTYPES;
    if (!bdrv_opt_str(o, "iotype", p, &name, errp)) {
        return false;
    }
    if (!name) {
        return true;
    }
    v = qapi_enum_parse(&BlkdebugIOType_lookup, name, -1);
    if (v < 0) {
        error_setg(errp, "Parameter '%s' does not accept value '%s'", p, name);
        return false;
    }
    *mask = 1u << v;
    return true;
}

static bool parse_int(JsonObject *o, const char *key, const char *path,
                      int64_t def, int64_t *out, GError **errp)
{
    g_autofree char *p = bdrv_opt_path(path, key);
    bool has;

    *out = def;
    return bdrv_opt_int(o, key, p, &has, out, errp);
}

static BlkdebugRule *parse_inject(JsonObject *o, const char *path,
                                  GError **errp)
{
    g_autofree BlkdebugRule *r = g_new0(BlkdebugRule, 1);
    g_autofree char *p_once = bdrv_opt_path(path, "once");
    g_autofree char *p_imm = bdrv_opt_path(path, "immediately");
    int64_t err, sector;
    bool has, immediately;

    r->action = BLKDEBUG_INJECT_ERROR;
    if (!parse_event(o, path, &r->event, errp) ||
        !parse_int(o, "state", path, 0, &r->state, errp) ||
        !parse_int(o, "errno", path, EIO, &err, errp) ||
        !parse_int(o, "sector", path, -1, &sector, errp) ||
        !parse_iotype(o, path, &r->iotypes, errp) ||
        !bdrv_opt_bool(o, "once", p_once, &has, &r->once, errp) ||
        !bdrv_opt_bool(o, "immediately", p_imm, &has, &immediately, errp)) {
        return NULL;
    }
    r->error = (int)err;
    r->offset = sector < 0 ? -1 : sector * 512;
    return g_steal_pointer(&r);
}

static BlkdebugRule *parse_set_state(JsonObject *o, const char *path,
                                     GError **errp)
{
    g_autofree BlkdebugRule *r = g_new0(BlkdebugRule, 1);
    g_autofree char *p_new = bdrv_opt_path(path, "new_state");
    bool has = false;

    r->action = BLKDEBUG_SET_STATE;
    if (!parse_event(o, path, &r->event, errp) ||
        !parse_int(o, "state", path, 0, &r->state, errp) ||
        !bdrv_opt_int(o, "new_state", p_new, &has, &r->new_state, errp)) {
        return NULL;
    }
    if (!has) {
        error_setg(errp, "Parameter '%s' is missing", p_new);
        return NULL;
    }
    return g_steal_pointer(&r);
}

typedef BlkdebugRule *(*RuleParser)(JsonObject *o, const char *path,
                                    GError **errp);

static bool parse_rules(BDRVBlkdebugState *s, JsonObject *options,
                        const char *key, RuleParser parse, GError **errp)
{
    JsonNode *node = json_object_get_member(options, key);
    JsonArray *arr;

    if (!node) {
        return true;
    }
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        error_setg(errp, "Invalid parameter type for '%s', expected: array",
                   key);
        return false;
    }
    arr = json_node_get_array(node);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *el = json_array_get_element(arr, i);
        g_autofree char *path = g_strdup_printf("%s[%u]", key, i);
        BlkdebugRule *r;

        if (!JSON_NODE_HOLDS_OBJECT(el)) {
            error_setg(errp, "Invalid parameter type for '%s', expected: "
                             "object", path);
            return false;
        }
        r = parse(json_node_get_object(el), path, errp);
        if (!r) {
            return false;
        }
        g_ptr_array_add(s->rules, r);
    }
    return true;
}

static bool parse_align(BDRVBlkdebugState *s, JsonObject *options,
                        GError **errp)
{
    bool has;
    int64_t align = 0;

    if (!bdrv_opt_int(options, "align", "align", &has, &align, errp)) {
        return false;
    }
    if (align < 0 || align >= G_MAXINT || (align & (align - 1))) {
        error_setg(errp, "Cannot meet constraints with align %" PRIu64,
                   (uint64_t)align);
        return false;
    }
    s->align = align ? align : 1;
    return true;
}

static int blkdebug_open(BlockDriverState *bs, JsonObject *options,
                         GError **errp)
{
    BDRVBlkdebugState *s = blkdebug_state(bs);
    bool has;

    g_mutex_init(&s->mutex);
    s->rules = g_ptr_array_new_with_free_func(g_free);
    s->active = g_ptr_array_new();
    s->journal = g_ptr_array_new_with_free_func(blkdebug_journal_entry_free);
    s->state = 1;
    s->flushed_len = -1;
    if (json_object_has_member(options, "config")) {
        /* fdsetd reaches files only through fds: no config by name */
        error_setg(errp, "Could not read blkdebug config file: %s",
                   g_strerror(EACCES));
        return -1;
    }
    if (!parse_align(s, options, errp) ||
        !parse_rules(s, options, "inject-error", parse_inject, errp) ||
        !parse_rules(s, options, "set-state", parse_set_state, errp) ||
        !bdrv_opt_bool(options, "x-drop-unflushed", "x-drop-unflushed", &has,
                       &s->drop_unflushed, errp)) {
        return -1;
    }
    return 0;
}

static void blkdebug_close(BlockDriverState *bs)
{
    BDRVBlkdebugState *s = blkdebug_state(bs);

    g_ptr_array_unref(s->active);
    g_ptr_array_unref(s->rules);
    g_ptr_array_unref(s->journal);
    g_mutex_clear(&s->mutex);
}

/* ---- events and the check of each request ---- */

static BlockDriverState *find_blkdebug(BlockDriverState *bs)
{
    while (bs && bs->drv != &bdrv_blkdebug) {
        bs = bs->file;
    }
    return bs;
}

void bdrv_debug_event(BlockDriverState *bs, BlkdebugEvent event)
{
    BDRVBlkdebugState *s;
    int64_t new_state;
    bool injected = false;

    bs = find_blkdebug(bs);
    if (!bs) {
        return;
    }
    s = blkdebug_state(bs);
    g_mutex_lock(&s->mutex);
    new_state = s->state;
    /* QEMU keeps each event's rules newest first: the same order here */
    for (guint i = s->rules->len; i-- > 0;) {
        BlkdebugRule *r = g_ptr_array_index(s->rules, i);

        if (r->event != event || (r->state && r->state != s->state)) {
            continue;
        }
        if (r->action == BLKDEBUG_SET_STATE) {
            new_state = r->new_state;
            continue;
        }
        if (!injected) {
            g_ptr_array_set_size(s->active, 0);
            injected = true;
        }
        g_ptr_array_insert(s->active, 0, r);
    }
    s->state = new_state;
    s->events++;
    g_mutex_unlock(&s->mutex);
}

/* 0, or the negative errno an active rule fails this request with. */
static int rule_check(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      BlkdebugIOType type)
{
    BDRVBlkdebugState *s = blkdebug_state(bs);
    BlkdebugRule *hit = NULL;
    int err = 0;

    g_mutex_lock(&s->mutex);
    if (s->powered_off) {
        g_mutex_unlock(&s->mutex);
        return -EIO;
    }
    for (guint i = 0; i < s->active->len && !hit; i++) {
        BlkdebugRule *r = g_ptr_array_index(s->active, i);

        if ((r->offset < 0 ||
             (bytes && r->offset >= offset && r->offset < offset + bytes)) &&
            (r->iotypes & (1u << type))) {
            hit = r;
        }
    }
    if (hit) {
        err = hit->error;
        if (hit->once) {
            g_ptr_array_remove(s->active, hit);
            g_ptr_array_remove(s->rules, hit); /* frees it */
        }
        s->injected++;
    }
    g_mutex_unlock(&s->mutex);
    return -err;
}

/* The injected failure, worded as QEMU's qemu-io shows it ("Input/output
 * error"), so that outputs compare. */
static int injected(int ret, GError **errp)
{
    error_setg(errp, "%s", g_strerror(-ret));
    return ret;
}

static int blkdebug_pread(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          void *buf, GError **errp)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_READ);

    if (ret < 0) {
        return injected(ret, errp);
    }
    return bdrv_pread(bs->file, offset, bytes, buf, errp);
}

/*
 * The flags API: 0 or a negative errno, never the -1 of the old one, so an
 * injected EPERM (-1) stays EPERM on its way to an NBD client.
 */
static int blkdebug_pwrite_flags(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, const void *buf, int flags,
                                 GError **errp)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_WRITE);

    if (ret < 0) {
        return injected(ret, errp);
    }
    if (!blkdebug_state(bs)->drop_unflushed) {
        return bdrv_pwrite_flags(bs->file, offset, bytes, buf, flags, errp);
    }
    if (blkdebug_journal_write(bs, offset, bytes, buf, errp) < 0) {
        return -EIO;
    }
    /* FUA: the journal forgets only whole flushes (a stronger FUA) */
    if ((flags & BDRV_REQ_FUA) && blkdebug_journal_flush(bs, errp) < 0) {
        return -EIO;
    }
    return 0;
}

static int blkdebug_pwrite(BlockDriverState *bs, int64_t offset, int64_t bytes,
                           const void *buf, GError **errp)
{
    return blkdebug_pwrite_flags(bs, offset, bytes, buf, 0, errp);
}

static int blkdebug_flush(BlockDriverState *bs, GError **errp)
{
    int ret = rule_check(bs, 0, 0, BLKDEBUG_IO_TYPE_FLUSH);

    if (ret < 0) {
        return injected(ret, errp);
    }
    if (blkdebug_state(bs)->drop_unflushed) {
        return blkdebug_journal_flush(bs, errp);
    }
    return bdrv_flush(bs->file, errp);
}

static int blkdebug_truncate(BlockDriverState *bs, int64_t size, GError **errp)
{
    int ret = rule_check(bs, size, 0, BLKDEBUG_IO_TYPE_WRITE);

    if (ret < 0) {
        return injected(ret, errp);
    }
    if (blkdebug_state(bs)->drop_unflushed) {
        return blkdebug_journal_truncate(bs, size, errp);
    }
    return bdrv_truncate(bs->file, size, errp);
}

static int64_t blkdebug_getlength(BlockDriverState *bs)
{
    return bdrv_getlength(bs->file);
}

static int blkdebug_is_allocated(BlockDriverState *bs, int64_t offset,
                                 int64_t bytes, int64_t *pnum, GError **errp)
{
    int ret = rule_check(bs, offset, bytes, BLKDEBUG_IO_TYPE_BLOCK_STATUS);

    *pnum = bytes;
    if (ret < 0) {
        return injected(ret, errp);
    }
    return 1; /* a filter: everything is this layer's (it has no backing) */
}

/* The child's own reopen does the work. */
static int blkdebug_reopen_prepare(BDRVReopenState *state, GError **errp)
{
    return 0;
}

/* No bdrv_map_file: copy offload would go around the rules. */
const BlockDriver bdrv_blkdebug = {
    .format_name = "blkdebug",
    .instance_size = sizeof(BDRVBlkdebugState),
    .file_child_name = "image",
    .returns_errno = true,
    .bdrv_open = blkdebug_open,
    .bdrv_close = blkdebug_close,
    .bdrv_getlength = blkdebug_getlength,
    .bdrv_pread = blkdebug_pread,
    .bdrv_pwrite = blkdebug_pwrite,
    .bdrv_pwrite_flags = blkdebug_pwrite_flags,
    .bdrv_flush = blkdebug_flush,
    .bdrv_truncate = blkdebug_truncate,
    .bdrv_is_allocated = blkdebug_is_allocated,
    .bdrv_reopen_prepare = blkdebug_reopen_prepare,
};
