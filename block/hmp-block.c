/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP: drive_add [-n] pci_addr opts, drive_del id, info block [-n] [-v]
 * [device].  Drives are if=none only (fdsetd has no guest devices); their
 * nodes come from the same open code as blockdev-add, so file=/dev/fdset/N
 * works.
 */
#include <string.h>

#include "block/block-backend.h"
#include "block/graph.h"
#include "block/hmp-block.h"
#include "block/options.h"
#include "qapi/hmp.h"
#include "qemu/error.h"
#include "qemu/keyval.h"

/* The drive options we know; anything else is refused like QEMU does. */
static const char *const drive_keys[] = {"if",
                                         "id",
                                         "file",
                                         "format",
                                         "readonly",
                                         "read-only",
                                         "cache",
                                         "cache.direct",
                                         "cache.no-flush",
                                         "node-name",
                                         "discard",
                                         "detect-zeroes",
                                         "aio",
                                         "auto-read-only",
                                         "force-share",
                                         "media",
                                         "backing",
                                         NULL};

/* Next HMP string argument: a "quoted string" or a run of non-blanks. */
static char *hmp_next_arg(const char **p)
{
    const char *s = *p;
    GString *arg;

    while (*s == ' ' || *s == '\t') {
        s++;
    }
    if (!*s) {
        *p = s;
        return NULL;
    }
    arg = g_string_new(NULL);
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
            if (*s == '\\' && s[1]) {
                s++;
            }
            g_string_append_c(arg, *s);
        }
        s += *s == '"';
    } else {
        while (*s && *s != ' ' && *s != '\t') {
            g_string_append_c(arg, *s++);
        }
    }
    *p = s;
    return g_string_free(arg, FALSE);
}

static bool usage_error(const char *cmd, const char *what, GError **errp)
{
    error_setg(errp,
               "%s: %s expected\r\nTry \"help %s\" for more "
               "information",
               cmd, what, cmd);
    return false;
}

typedef struct DriveOpts {
    const char *id, *file, *format, *node_name, *discard, *zeroes, *aio;
    const char *backing; /* node-name of the backing node */
    bool read_only, direct, no_flush, writethrough;
} DriveOpts;

static bool drive_cache(const char *mode, DriveOpts *d, GError **errp)
{
    if (!mode || g_str_equal(mode, "writeback")) {
        return true;
    }
    if (g_str_equal(mode, "none")) {
        d->direct = true;
    } else if (g_str_equal(mode, "writethrough")) {
        d->writethrough = true;
    } else if (g_str_equal(mode, "directsync")) {
        d->direct = d->writethrough = true;
    } else if (g_str_equal(mode, "unsafe")) {
        d->no_flush = true;
    } else {
        error_setg(errp, "invalid cache option");
        return false;
    }
    return true;
}

static bool drive_check_keys(const Keyval *kv, const char *format,
                             GError **errp)
{
    for (guint i = 0; i < keyval_count(kv); i++) {
        const char *key = keyval_key(kv, i);
        bool known = false;

        for (int k = 0; drive_keys[k]; k++) {
            known |= g_str_equal(drive_keys[k], key);
        }
        if (!known) {
            error_setg(errp,
                       "Block %s '%s' does not support the option "
                       "'%s'",
                       format ? "format" : "protocol", format ? format : "file",
                       key);
            return false;
        }
    }
    return true;
}

static bool drive_id(const Keyval *kv, DriveOpts *d, GError **errp)
{
    d->id = keyval_get(kv, "id");
    if (d->id && !bdrv_id_wellformed(d->id)) {
        error_setg(errp,
                   "Parameter 'id' expects an identifier\r\n"
                   "Identifiers consist of letters, digits, '-', '.', '_', "
                   "starting with a letter.");
        return false;
    }
    if (d->id && blk_by_name(d->id)) {
        error_setg(errp, "Duplicate ID '%s' for drive", d->id);
        return false;
    }
    if (g_strcmp0(keyval_get(kv, "if"), "none") != 0) {
        error_setg(errp, "fdsetd has no guest devices: drive_add needs "
                         "if=none");
        return false;
    }
    return true;
}

static bool drive_parse(const Keyval *kv, DriveOpts *d, GError **errp)
{
    const char *ro = keyval_get(kv, "readonly");

    if (!drive_id(kv, d, errp)) {
        return false;
    }
    ro = ro ? ro : keyval_get(kv, "read-only");
    if (ro && !keyval_parse_bool("read-only", ro, &d->read_only, errp)) {
        return false;
    }
    if (!drive_cache(keyval_get(kv, "cache"), d, errp) ||
        !keyval_get_bool(kv, "cache.direct", d->direct, &d->direct, errp) ||
        !keyval_get_bool(kv, "cache.no-flush", d->no_flush, &d->no_flush,
                         errp)) {
        return false;
    }
    d->file = keyval_get(kv, "file");
    d->format = keyval_get(kv, "format");
    d->node_name = keyval_get(kv, "node-name");
    d->discard = keyval_get(kv, "discard");
    d->zeroes = keyval_get(kv, "detect-zeroes");
    d->aio = keyval_get(kv, "aio");
    d->backing = keyval_get(kv, "backing");
    if (d->format && !bdrv_find_driver(d->format)) {
        error_setg(errp, "Unknown driver '%s'", d->format);
        return false;
    }
    return drive_check_keys(kv, d->format, errp);
}

static const char *drive_discard(const char *v)
{
    if (v && (g_str_equal(v, "on") || g_str_equal(v, "unmap"))) {
        return "unmap";
    }
    return v && !g_str_equal(v, "off") ? v : "ignore";
}

/* The BlockdevOptions for the drive's root node (format probed if not
 * given). */
static JsonObject *drive_options(const DriveOpts *d)
{
    JsonObject *o = json_object_new();
    JsonObject *file = json_object_new();
    JsonObject *cache = json_object_new();

    if (d->format) {
        json_object_set_string_member(o, "driver", d->format);
    }
    if (d->node_name) {
        json_object_set_string_member(o, "node-name", d->node_name);
    }
    json_object_set_boolean_member(o, "read-only", d->read_only);
    json_object_set_boolean_member(cache, "direct", d->direct);
    json_object_set_boolean_member(cache, "no-flush", d->no_flush);
    json_object_set_object_member(o, "cache", cache);
    json_object_set_string_member(o, "discard", drive_discard(d->discard));
    if (d->zeroes) {
        json_object_set_string_member(o, "detect-zeroes", d->zeroes);
    }
    if (d->backing) {
        json_object_set_string_member(o, "backing", d->backing);
    }
    json_object_set_string_member(file, "driver", "file");
    json_object_set_string_member(file, "filename", d->file);
    if (d->aio) {
        json_object_set_string_member(file, "aio", d->aio);
    }
    json_object_set_object_member(o, "file", file);
    return o;
}

static bool drive_add_drive(const char *optstr, GString *out, GError **errp)
{
    g_autoptr(Keyval) kv = keyval_parse(optstr, NULL);
    g_autofree char *auto_id = NULL;
    DriveOpts d = {0};
    BlockDriverState *bs = NULL;
    BlockBackend *blk;
    int unit = blk_free_unit();

    if (!drive_parse(kv, &d, errp)) {
        return false;
    }
    if (!d.id) {
        d.id = auto_id = g_strdup_printf("none%d", unit);
    }
    if (bdrv_find_node(d.id)) {
        error_setg(errp,
                   "Device name '%s' conflicts with an existing node "
                   "name",
                   d.id);
        return false;
    }
    if (d.file) {
        g_autoptr(JsonObject) opts = drive_options(&d);

        bs = bdrv_open_options_probe(opts, errp);
        if (!bs) {
            return false;
        }
    }
    blk = blk_new_drive(d.id, unit, bs, d.writethrough, errp);
    bdrv_unref(bs); /* the drive holds its own reference */
    if (!blk) {
        return false;
    }
    g_string_append(out, "OK\r\n");
    return true;
}

/* drive_add -n: a node the monitor owns, from QemuOpts-style options. */
static bool drive_add_node(const char *optstr, GError **errp)
{
    g_autoptr(JsonObject) opts = bdrv_keyval_to_json(optstr, errp);

    if (!opts) {
        return false;
    }
    if (g_strcmp0(
            json_object_get_string_member_with_default(opts, "if", "none"),
            "none") == 0) {
        json_object_remove_member(opts, "if");
    }
    if (!json_object_has_member(opts, "node-name")) {
        error_setg(errp, "'node-name' needs to be specified");
        return false;
    }
    return bdrv_add_monitor_node(opts, errp);
}

static bool hmp_drive_add(const char *args, GString *out, GError **errp)
{
    const char *p = args;
    g_autofree char *first = hmp_next_arg(&p);
    g_autofree char *pci_addr = NULL;
    g_autofree char *opts = NULL;
    bool node = g_strcmp0(first, "-n") == 0;

    pci_addr = node ? hmp_next_arg(&p) : g_steal_pointer(&first);
    opts = pci_addr ? hmp_next_arg(&p) : NULL;
    if (!opts) {
        return usage_error("drive_add", "string", errp);
    }
    if (node) {
        return drive_add_node(opts, errp);
    }
    return drive_add_drive(opts, out, errp);
}

static bool hmp_drive_del(const char *args, GString *out, GError **errp)
{
    const char *p = args;
    g_autofree char *id = hmp_next_arg(&p);
    BlockBackend *blk;

    if (!id) {
        return usage_error("drive_del", "block device name", errp);
    }
    blk = blk_by_name(id);
    if (!blk) {
        error_setg(errp, "Device '%s' not found", id);
        return false;
    }
    if (blk->root && bdrv_op_blocked(blk->root, errp)) {
        return false;
    }
    blk_delete(blk);
    return true;
}

/* ---- info block ---- */

/* QEMU's size_to_str(): "64 MiB", "16.3 MiB". */
static char *size_to_str(int64_t val)
{
    static const char *const suffixes[] = {"B",   "KiB", "MiB", "GiB",
                                           "TiB", "PiB", "EiB"};
    double v = val;
    guint i = 0;

    while (v >= 1024 && i + 1 < G_N_ELEMENTS(suffixes)) {
        v /= 1024;
        i++;
    }
    return g_strdup_printf("%0.3g %s", v, suffixes[i]);
}

static void print_disk_size(GString *out, BlockDriverState *bs)
{
    BlockDriverState *proto = bs;
    int64_t size;

    while (proto && !proto->drv->is_protocol) {
        proto = proto->file;
    }
    size = proto ? bdrv_file_allocated_size(proto) : -1;
    if (size >= 0) {
        g_autofree char *str = size_to_str(size);

        g_string_append_printf(out, "disk size: %s\r\n", str);
    }
}

static void print_image(GString *out, BlockDriverState *bs)
{
    g_autofree char *name = bdrv_display_filename(bs);
    g_autofree char *vsize = size_to_str(bdrv_getlength(bs));
    const char *backing = bs->drv->bdrv_get_backing_file
                              ? bs->drv->bdrv_get_backing_file(bs)
                              : NULL;

    g_string_append_printf(out,
                           "image: %s\r\nfile format: %s\r\n"
                           "virtual size: %s (%" G_GINT64_FORMAT " bytes)\r\n",
                           name, bs->drv->format_name, vsize,
                           bdrv_getlength(bs));
    print_disk_size(out, bs);
    if (backing && *backing) {
        g_autofree char *full = bdrv_backing_full_name(bs);
        const char *fmt = bs->drv->bdrv_get_backing_format
                              ? bs->drv->bdrv_get_backing_format(bs)
                              : NULL;

        g_string_append_printf(out, "backing file: %s (actual path: %s)\r\n",
                               backing, full);
        if (fmt && *fmt) {
            g_string_append_printf(out, "backing file format: %s\r\n", fmt);
        }
    }
    if (bs->backing) {
        print_image(out, bs->backing);
    }
}

static void print_node(GString *out, const char *device, BlockDriverState *bs,
                       bool writeback, bool verbose)
{
    if (device) {
        g_string_append(out, device);
        if (bs) {
            g_string_append_printf(out, " (%s)", bs->node_name);
        }
    } else {
        g_string_append(out, bs->node_name);
    }
    if (!bs) {
        g_string_append(out,
                        ": [not inserted]\r\n"
                        "    Removable device: not locked, tray closed\r\n");
        return;
    }
    g_autofree char *file = bdrv_display_filename(bs);
    g_string_append_printf(out, ": %s (%s%s)\r\n", file, bs->drv->format_name,
                           bs->read_only ? ", read-only" : "");
    if (device) {
        g_string_append(out, "    Removable device: not locked, tray "
                             "closed\r\n");
    }
    g_string_append_printf(out, "    Cache mode:       %s%s%s\r\n",
                           writeback ? "writeback" : "writethrough",
                           bs->cache_direct ? ", direct" : "",
                           bdrv_node(bs)->no_flush ? ", ignore flushes" : "");
    if (bs->backing) {
        g_autofree char *backing = bdrv_display_filename(bs->backing);

        g_string_append_printf(out,
                               "    Backing file:     %s (chain depth: "
                               "%d)\r\n",
                               backing, bdrv_backing_depth(bs));
    }
    if (!g_str_equal(bdrv_node(bs)->detect_zeroes, "off")) {
        g_string_append_printf(out, "    Detect zeroes:    %s\r\n",
                               bdrv_node(bs)->detect_zeroes);
    }
    if (verbose) {
        g_string_append(out, "\r\nImages:\r\n");
        print_image(out, bs);
    }
}

static bool hmp_info_block(const char *args, GString *out, GError **errp)
{
    const char *p = args;
    g_autofree char *device = NULL;
    bool nodes = false, verbose = false, printed = false;
    char *arg;

    while ((arg = hmp_next_arg(&p))) {
        if (g_str_equal(arg, "-n") || g_str_equal(arg, "-v")) {
            nodes |= arg[1] == 'n';
            verbose |= arg[1] == 'v';
            g_free(arg);
        } else {
            g_free(device);
            device = arg;
        }
    }
    if (nodes) {
        g_autoptr(GList) list = bdrv_list_nodes();

        for (GList *l = list; l; l = l->next, printed = true) {
            g_string_append(out, printed ? "\r\n" : "");
            print_node(out, NULL, l->data, true, verbose);
        }
        return true;
    }
    for (GList *l = blk_list(); l; l = l->next) {
        BlockBackend *blk = l->data;

        if (device && !g_str_equal(device, blk->id)) {
            continue;
        }
        g_string_append(out, printed ? "\r\n" : "");
        print_node(out, blk->id, blk->root, !blk->writethrough, verbose);
        printed = true;
    }
    return true;
}

void hmp_block_register(void)
{
    hmp_register_command("drive_add", hmp_drive_add);
    hmp_register_command("drive_del", hmp_drive_del);
    hmp_register_command("info block", hmp_info_block);
    hmp_qemu_io_register();
}
