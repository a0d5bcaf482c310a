/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opening node trees from BlockdevOptions: the common options, the file
 * child (reference or inline), the driver, then the backing child
 * (reference, inline, null, or the name the image header gives).
 */
#include <string.h>

#include "block/blkdebug.h"
#include "block/graph.h"
#include "block/options.h"
#include "qemu/error.h"

#define BACKING_DEPTH_MAX 64

/* What an implicit child takes from its parent unless it says otherwise. */
typedef struct BdrvInherit {
    bool read_only;
    bool cache_direct;
    bool no_flush;
    bool force_share;
    const char *discard; /* the parent's mode, as QEMU's children take it */
    bool follow; /* file child: keeps following on reopen */
} BdrvInherit;

typedef BdrvParsedOptions NodeOpts;

static const char *const common_keys[] = {
    "driver",         "node-name",   "read-only",
    "auto-read-only", "cache",       "discard",
    "detect-zeroes",  "force-share", NULL};
static const char *const file_keys[] = {
    "filename",   "aio",        "aio-max-batch",
    "locking",    "drop-cache", "x-check-cache-dropped",
    "pr-manager", NULL};
static const char *const raw_keys[] = {"file", "offset", "size", NULL};
static const char *const blkdebug_keys[] = {
    "image",          "config",         "align",       "max-transfer",
    "opt-write-zero", "max-write-zero", "opt-discard", "max-discard",
    "inject-error",   "set-state",      "x-drop-unflushed", NULL};
static const char *const qcow2_keys[] = {"file",
                                         "backing",
                                         "lazy-refcounts",
                                         "pass-discard-request",
                                         "pass-discard-snapshot",
                                         "pass-discard-other",
                                         "cache-size",
                                         "l2-cache-size",
                                         "l2-cache-entry-size",
                                         "refcount-cache-size",
                                         "cache-clean-interval",
                                         NULL};
static const char *const discard_values[] = {"ignore", "unmap", NULL};
static const char *const zeroes_values[] = {"off", "on", "unmap", NULL};

static int open_depth; /* nesting of backing opens, against loops */

const BlockDriver *bdrv_find_driver(const char *name)
{
    static const BlockDriver *const drivers[] = {
        &bdrv_file,
        &bdrv_raw,
        &bdrv_qcow2,
        &bdrv_blkdebug,
    };

    for (guint i = 0; i < G_N_ELEMENTS(drivers); i++) {
        if (name && g_str_equal(drivers[i]->format_name, name)) {
            return drivers[i];
        }
    }
    return NULL;
}

static const char *const *driver_keys(const BlockDriver *drv)
{
    if (drv == &bdrv_file) {
        return file_keys;
    }
    if (drv == &bdrv_blkdebug) {
        return blkdebug_keys;
    }
    return drv == &bdrv_raw ? raw_keys : qcow2_keys;
}

/* The option that names the file child. */
static const char *file_key(const BlockDriver *drv)
{
    return drv->file_child_name ? drv->file_child_name : "file";
}

static bool in_list(const char *const *list, const char *key)
{
    for (int i = 0; list[i]; i++) {
        if (g_str_equal(list[i], key)) {
            return true;
        }
    }
    return false;
}

/* Every member must be known; the driver's own go to no->driver_opts. */
static bool split_members(JsonObject *opts, const char *prefix, NodeOpts *no,
                          GError **errp)
{
    const char *const *keys = driver_keys(no->drv);
    g_autoptr(GList) members = json_object_get_members(opts);

    no->driver_opts = json_object_new();
    for (GList *l = members; l; l = l->next) {
        const char *key = l->data;

        if (in_list(keys, key)) {
            if (!g_str_equal(key, file_key(no->drv)) &&
                !g_str_equal(key, "backing")) {
                json_object_set_member(
                    no->driver_opts, key,
                    json_node_copy(json_object_get_member(opts, key)));
            }
        } else if (!in_list(common_keys, key)) {
            g_autofree char *path = bdrv_opt_path(prefix, key);

            error_setg(errp, "Parameter '%s' is unexpected", path);
            return false;
        }
    }
    no->file = json_object_get_member(opts, file_key(no->drv));
    no->backing = json_object_get_member(opts, "backing");
    return true;
}

static bool parse_driver(JsonObject *opts, const char *prefix, NodeOpts *no,
                         GError **errp)
{
    g_autofree char *path = bdrv_opt_path(prefix, "driver");
    const char *name;

    if (!bdrv_opt_str(opts, "driver", path, &name, errp)) {
        return false;
    }
    if (!name) {
        error_setg(errp, "Parameter '%s' is missing", path);
        return false;
    }
    no->drv = bdrv_find_driver(name);
    if (!no->drv) {
        error_setg(errp, "Parameter '%s' does not accept value '%s'", path,
                   name);
        return false;
    }
    return true;
}

static bool parse_cache(JsonObject *opts, const char *prefix, NodeOpts *no,
                        GError **errp)
{
    g_autofree char *cpath = bdrv_opt_path(prefix, "cache");
    g_autofree char *dpath = bdrv_opt_path(cpath, "direct");
    g_autofree char *npath = bdrv_opt_path(cpath, "no-flush");
    JsonObject *cache;
    g_autoptr(GList) members = NULL;

    if (!bdrv_opt_object(opts, "cache", cpath, &cache, errp)) {
        return false;
    }
    if (!cache) {
        return true;
    }
    members = json_object_get_members(cache);
    for (GList *l = members; l; l = l->next) {
        if (!g_str_equal(l->data, "direct") &&
            !g_str_equal(l->data, "no-flush")) {
            g_autofree char *path = bdrv_opt_path(cpath, l->data);

            error_setg(errp, "Parameter '%s' is unexpected", path);
            return false;
        }
    }
    return bdrv_opt_bool(cache, "direct", dpath, &no->has_direct, &no->direct,
                         errp) &&
           bdrv_opt_bool(cache, "no-flush", npath, &no->has_no_flush,
                         &no->no_flush, errp);
}

static bool parse_common(JsonObject *opts, const char *prefix, NodeOpts *no,
                         GError **errp)
{
    g_autofree char *p_name = bdrv_opt_path(prefix, "node-name");
    g_autofree char *p_ro = bdrv_opt_path(prefix, "read-only");
    g_autofree char *p_aro = bdrv_opt_path(prefix, "auto-read-only");
    g_autofree char *p_fs = bdrv_opt_path(prefix, "force-share");
    g_autofree char *p_dis = bdrv_opt_path(prefix, "discard");
    g_autofree char *p_dz = bdrv_opt_path(prefix, "detect-zeroes");
    g_autofree char *p_fn = bdrv_opt_path(prefix, "filename");
    bool has;

    no->discard = NULL; /* not given: inherited, else "ignore" */
    no->detect_zeroes = "off";
    if (!bdrv_opt_str(opts, "node-name", p_name, &no->node_name, errp) ||
        !bdrv_opt_bool(opts, "read-only", p_ro, &no->has_ro, &no->ro, errp) ||
        !bdrv_opt_bool(opts, "auto-read-only", p_aro, &has, &no->auto_ro,
                       errp) ||
        !bdrv_opt_bool(opts, "force-share", p_fs, &has, &no->force_share,
                       errp) ||
        !bdrv_opt_enum(opts, "discard", p_dis, discard_values, &no->discard,
                       errp) ||
        !bdrv_opt_enum(opts, "detect-zeroes", p_dz, zeroes_values,
                       &no->detect_zeroes, errp) ||
        !parse_cache(opts, prefix, no, errp)) {
        return false;
    }
    if (!no->drv->is_protocol) {
        return true;
    }
    if (!bdrv_opt_str(opts, "filename", p_fn, &no->filename, errp)) {
        return false;
    }
    if (!no->filename) {
        error_setg(errp, "Parameter '%s' is missing", p_fn);
        return false;
    }
    return true;
}

void bdrv_parsed_options_clear(BdrvParsedOptions *po)
{
    if (po->driver_opts) {
        json_object_unref(po->driver_opts);
    }
    memset(po, 0, sizeof(*po));
}

bool bdrv_parse_options(JsonObject *opts, const char *prefix,
                        BdrvParsedOptions *no, GError **errp)
{
    memset(no, 0, sizeof(*no));
    if (!parse_driver(opts, prefix, no, errp) ||
        !split_members(opts, prefix, no, errp) ||
        !parse_common(opts, prefix, no, errp)) {
        return false;
    }
    if (!no->drv->is_protocol && !no->file) {
        g_autofree char *path = bdrv_opt_path(prefix, file_key(no->drv));

        error_setg(errp, "Parameter '%s' is missing", path);
        return false;
    }
    if (no->file && !JSON_NODE_HOLDS_OBJECT(no->file) &&
        !(JSON_NODE_HOLDS_VALUE(no->file) &&
          json_node_get_value_type(no->file) == G_TYPE_STRING)) {
        g_autofree char *path = bdrv_opt_path(prefix, file_key(no->drv));

        error_setg(errp,
                   "Invalid parameter type for '%s', expected: "
                   "BlockdevRef",
                   path);
        return false;
    }
    return true;
}

static char *auto_node_name(void)
{
    static guint64 counter;
    char *name;

    do {
        name = g_strdup_printf("#block%" G_GUINT64_FORMAT "%02d", counter++,
                               g_random_int_range(0, 100));
        if (!bdrv_find_node(name)) {
            return name;
        }
        g_free(name);
    } while (true);
}

/* The new node, not yet opened or registered. */
static BdrvNode *node_new(const NodeOpts *no, const BdrvInherit *inh)
{
    static guint64 serial;
    BdrvNode *n = g_new0(BdrvNode, 1);
    BlockDriverState *bs = &n->bs;

    n->serial = ++serial;
    bs->drv = no->drv;
    bs->opaque = g_malloc0(MAX(no->drv->instance_size, 1));
    bs->refcnt = 1;
    bdrv_io_init(bs);
    g_rw_lock_init(&bs->write_hooks_lock);
    bs->read_only = no->has_ro ? no->ro : (inh && inh->read_only);
    bs->cache_direct = no->has_direct ? no->direct : (inh && inh->cache_direct);
    n->no_flush = no->has_no_flush ? no->no_flush : (inh && inh->no_flush);
    n->inherit_ro = inh && inh->follow && !no->has_ro;
    n->inherit_cache =
        inh && inh->follow && !no->has_direct && !no->has_no_flush;
    n->auto_read_only = no->auto_ro;
    n->force_share = no->force_share || (inh && inh->force_share);
    n->discard = no->discard ? no->discard
                 : inh && inh->discard ? inh->discard
                                       : "ignore";
    n->detect_zeroes = no->detect_zeroes;
    bs->implicit = inh != NULL;
    return n;
}

/* Free a node that never got registered (its file child is released). */
static void node_discard(BdrvNode *n)
{
    BlockDriverState *bs = &n->bs;

    bdrv_drop_children(bs);
    bdrv_io_cleanup(bs);
    g_rw_lock_clear(&bs->write_hooks_lock);
    g_free(bs->opaque);
    g_free(bs->filename);
    g_free(bs->node_name);
    g_free(n);
}

static BlockDriverState *open_node(JsonObject *opts, const char *prefix,
                                   const BdrvInherit *inh,
                                   BlockDriverState *file, GError **errp);

/* The file child: @no->file is a reference or inline options. */
static BlockDriverState *open_file_child(BdrvNode *n, const NodeOpts *no,
                                         const char *prefix, GError **errp)
{
    BlockDriverState *bs = &n->bs;
    BdrvInherit inh = {
        .read_only = bs->read_only,
        .cache_direct = bs->cache_direct,
        .no_flush = n->no_flush,
        .force_share = n->force_share,
        .discard = n->discard,
        .follow = true,
    };
    g_autofree char *path = bdrv_opt_path(prefix, file_key(no->drv));
    BlockDriverState *child;

    if (JSON_NODE_HOLDS_OBJECT(no->file)) {
        return open_node(json_node_get_object(no->file), path, &inh, NULL,
                         errp);
    }
    child = bdrv_lookup_bs(json_node_get_string(no->file),
                           json_node_get_string(no->file), errp);
    if (child) {
        bdrv_ref(child);
    }
    return child;
}

static bool check_node(const NodeOpts *no, BdrvNode *n, GError **errp)
{
    if (no->node_name && !bdrv_check_new_node_name(no->node_name, errp)) {
        return false;
    }
    if (n->force_share && !n->bs.read_only) {
        error_setg(errp, "force-share=on can only be used with read-only "
                         "images");
        return false;
    }
    return true;
}

static bool open_backing(BlockDriverState *bs, JsonNode *backing,
                         const char *prefix, GError **errp);

/* @bs takes @file as its "file" child, with the permissions it needs. */
static bool attach_file(BlockDriverState *bs, BlockDriverState *file,
                        GError **errp)
{
    BdrvNode *n = bdrv_node(bs);

    n->file_child =
        bdrv_attach_node_child(bs, file, file_key(bs->drv), errp);
    if (!n->file_child) {
        return false;
    }
    bs->file = file; /* the child holds the reference */
    return true;
}

static BlockDriverState *open_node(JsonObject *opts, const char *prefix,
                                   const BdrvInherit *inh,
                                   BlockDriverState *file, GError **errp)
{
    NodeOpts no = {0};
    BdrvNode *n = NULL;
    BlockDriverState *bs = NULL;

    if (!bdrv_parse_options(opts, prefix, &no, errp)) {
        goto out;
    }
    n = node_new(&no, inh);
    bs = &n->bs;
    if (!no.drv->is_protocol && !file) {
        file = open_file_child(n, &no, prefix, errp);
        if (!file) {
            goto fail;
        }
    }
    if (!check_node(&no, n, errp)) {
        goto fail;
    }
    /* named before its file child attaches: errors name the parent */
    bs->node_name = no.node_name ? g_strdup(no.node_name) : auto_node_name();
    if (file && !attach_file(bs, file, errp)) {
        goto fail;
    }
    bs->filename =
        g_strdup(no.drv->is_protocol ? no.filename : bs->file->filename);
    if (no.drv->bdrv_open(bs, no.driver_opts, errp) < 0) {
        goto fail;
    }
    bdrv_register_node(bs);
    if (no.drv->bdrv_get_backing_file &&
        !open_backing(bs, no.backing, prefix, errp)) {
        bdrv_unref(bs);
        bs = NULL;
    }
    goto out;

fail:
    node_discard(n);
    bs = NULL;
out:
    bdrv_unref(file);
    bdrv_parsed_options_clear(&no);
    return bs;
}

BlockDriverState *bdrv_open_filter(const BlockDriver *drv,
                                   const char *node_name,
                                   BlockDriverState *child, GError **errp)
{
    NodeOpts no = {.drv = drv, .node_name = node_name};
    BdrvNode *n;
    BlockDriverState *bs;

    if (node_name && !bdrv_check_new_node_name(node_name, errp)) {
        return NULL;
    }
    n = node_new(&no, NULL);
    bs = &n->bs;
    bs->read_only = child->read_only;
    /* without a user's name, QEMU's implicit "#block..." one */
    bs->node_name = node_name ? g_strdup(node_name) : auto_node_name();
    if (!attach_file(bs, child, errp)) {
        node_discard(n);
        return NULL;
    }
    bs->filename = g_strdup(child->filename);
    bdrv_register_node(bs);
    return bs;
}

/* ---- format probing and backing children ---- */

static const char *probe_format(BlockDriverState *file)
{
    guint8 magic[4];

    if (bdrv_getlength(file) >= (int64_t)sizeof(magic) &&
        bdrv_pread(file, 0, sizeof(magic), magic, NULL) == 0 &&
        memcmp(magic, "QFI\xfb", sizeof(magic)) == 0) {
        return "qcow2";
    }
    return "raw";
}

static JsonObject *object_shallow_copy(JsonObject *o)
{
    JsonObject *copy = json_object_new();
    g_autoptr(GList) members = json_object_get_members(o);

    for (GList *l = members; l; l = l->next) {
        json_object_set_member(
            copy, l->data, json_node_copy(json_object_get_member(o, l->data)));
    }
    return copy;
}

/* What the file child of @opts inherits when the format is probed. */
static bool probe_inherit(JsonObject *opts, const BdrvInherit *inh,
                          BdrvInherit *out, GError **errp)
{
    NodeOpts no = {0};
    bool has;

    *out = inh ? *inh : (BdrvInherit){0};
    out->follow = true;
    if (!bdrv_opt_bool(opts, "read-only", "read-only", &has, &out->read_only,
                       errp)) {
        return false;
    }
    if (!parse_cache(opts, NULL, &no, errp)) {
        return false;
    }
    out->cache_direct = no.has_direct ? no.direct : out->cache_direct;
    out->no_flush = no.has_no_flush ? no.no_flush : out->no_flush;
    return true;
}

/* Open @opts; without a driver, open its file child and probe it. */
static BlockDriverState *open_probed(JsonObject *opts, const BdrvInherit *inh,
                                     GError **errp)
{
    g_autoptr(JsonObject) copy = NULL;
    JsonObject *file_opts;
    BlockDriverState *file;
    BdrvInherit file_inh;
    const char *format;

    if (json_object_has_member(opts, "driver")) {
        return open_node(opts, NULL, inh, NULL, errp);
    }
    if (!bdrv_opt_object(opts, "file", "file", &file_opts, errp) ||
        !probe_inherit(opts, inh, &file_inh, errp)) {
        return NULL;
    }
    if (!file_opts) {
        error_setg(errp, "Parameter 'driver' is missing");
        return NULL;
    }
    file = open_node(file_opts, "file", &file_inh, NULL, errp);
    if (!file) {
        return NULL;
    }
    copy = object_shallow_copy(opts);
    format = probe_format(file);
    json_object_set_string_member(copy, "driver", format);
    if (g_str_equal(format, "raw") && json_object_has_member(copy, "backing") &&
        JSON_NODE_HOLDS_NULL(json_object_get_member(copy, "backing"))) {
        /* "no backing" asked of whatever the probe finds: raw has none */
        json_object_remove_member(copy, "backing");
    }
    /* the probed file node is handed over, also on failure */
    return open_node(copy, NULL, inh, file, errp);
}

BlockDriverState *bdrv_open_options_probe(JsonObject *opts, GError **errp)
{
    return open_probed(opts, NULL, errp);
}

BlockDriverState *bdrv_open_options(JsonObject *opts, GError **errp)
{
    return open_node(opts, NULL, NULL, NULL, errp);
}

static bool is_real_path(const char *filename)
{
    return !g_str_has_prefix(filename, "/dev/fdset/") &&
           !g_str_has_prefix(filename, "json:");
}

char *bdrv_backing_full_name(BlockDriverState *bs)
{
    const char *name = bs->drv->bdrv_get_backing_file
                           ? bs->drv->bdrv_get_backing_file(bs)
                           : NULL;
    const char *image = bs->file ? bs->file->filename : bs->filename;
    g_autofree char *dir = NULL;

    if (!name || !*name) {
        return NULL;
    }
    if (g_path_is_absolute(name) || !image || !is_real_path(image)) {
        return g_strdup(name);
    }
    dir = g_path_get_dirname(image);
    return g_build_filename(dir, name, NULL);
}

static BlockDriverState *open_header_backing(BlockDriverState *bs,
                                             GError **errp)
{
    g_autofree char *path = bdrv_backing_full_name(bs);
    const char *fmt = bs->drv->bdrv_get_backing_format
                          ? bs->drv->bdrv_get_backing_format(bs)
                          : NULL;
    g_autoptr(JsonObject) opts = json_object_new();
    JsonObject *file;
    BdrvInherit inh = {
        .read_only = true,
        .cache_direct = bs->cache_direct,
        .no_flush = bdrv_node(bs)->no_flush,
        .force_share = bdrv_node(bs)->force_share,
    };

    if (!path) {
        return NULL;
    }
    if (fmt && *fmt) {
        json_object_set_string_member(opts, "driver", fmt);
    }
    file = json_object_new();
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", path);
    json_object_set_object_member(opts, "file", file);
    return open_probed(opts, &inh, errp);
}

static BlockDriverState *
open_backing_child(BlockDriverState *bs, JsonNode *backing, const char *prefix,
                   BdrvBackingMode *mode, GError **errp)
{
    BdrvInherit inh = {
        .read_only = true,
        .cache_direct = bs->cache_direct,
        .no_flush = bdrv_node(bs)->no_flush,
        .force_share = bdrv_node(bs)->force_share,
    };
    g_autofree char *path = bdrv_opt_path(prefix, "backing");
    BlockDriverState *child;

    *mode = BDRV_BACKING_EXPLICIT;
    if (!backing) {
        *mode = BDRV_BACKING_HEADER;
        return open_header_backing(bs, errp);
    }
    if (JSON_NODE_HOLDS_NULL(backing)) {
        *mode = BDRV_BACKING_NULL;
        return NULL;
    }
    if (JSON_NODE_HOLDS_OBJECT(backing)) {
        return open_node(json_node_get_object(backing), path, &inh, NULL, errp);
    }
    if (json_node_get_value_type(backing) != G_TYPE_STRING) {
        error_setg(errp,
                   "Invalid parameter type for '%s', expected: "
                   "BlockdevRefOrNull",
                   path);
        return NULL;
    }
    child = bdrv_lookup_bs(json_node_get_string(backing),
                           json_node_get_string(backing), errp);
    if (child) {
        bdrv_ref(child);
    }
    return child;
}

static bool open_backing(BlockDriverState *bs, JsonNode *backing,
                         const char *prefix, GError **errp)
{
    GError *err = NULL;
    BdrvBackingMode mode;
    BlockDriverState *child;

    if (open_depth >= BACKING_DEPTH_MAX) {
        error_setg(errp,
                   "Could not open backing file: the backing chain of "
                   "'%s' is deeper than %d",
                   bs->filename, BACKING_DEPTH_MAX);
        return false;
    }
    open_depth++;
    child = open_backing_child(bs, backing, prefix, &mode, &err);
    open_depth--;
    if (err) {
        g_prefix_error(&err, "Could not open backing file: ");
        g_propagate_error(errp, err);
        return false;
    }
    if (mode == BDRV_BACKING_HEADER && !child) {
        mode = BDRV_BACKING_NONE;
    }
    if (!bdrv_set_backing(bs, child, mode, &err)) {
        g_prefix_error(&err, "Could not open backing file: ");
        g_propagate_error(errp, err);
        bdrv_unref(child);
        return false;
    }
    bdrv_unref(child); /* bdrv_set_backing took its own reference */
    return true;
}
