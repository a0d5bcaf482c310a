/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-create for qcow2: check the options (QEMU 7.2's rules and
 * error texts), lay the image out, write it.
 *
 * The layout is QEMU's: the header in cluster 0, then the refcount table,
 * the refcount blocks and the L1 table; with preallocation, every L2 table
 * and then every data cluster follow, all mapped.  Every cluster up to the
 * end has refcount 1, so the image passes qemu-img check as it is.
 */
#include <string.h>

#include "block/create.h"
#include "block/graph.h"
#include "qcow2.h"
#include "qemu/error.h"

#define QCOW2_CREATE_V3_HEADER_LEN 112 /* with the compression type byte */
#define QCOW2_COMPAT_LAZY_REFCOUNTS (1ULL << 0)
#define QCOW2_CREATE_ZERO_CHUNK (1024 * 1024)

struct Qcow2CreatePlan {
    uint32_t version;
    uint32_t cluster_bits;
    uint32_t refcount_order;
    uint64_t size;
    bool lazy_refcounts;
    char *backing_file;
    char *backing_fmt;
    PreallocMode prealloc;
    /* the layout, in clusters (l1_size in entries) */
    uint64_t l1_size;
    uint64_t reftable_clusters;
    uint64_t refblocks;
    uint64_t l1_clusters;
    uint64_t l2_tables;
    uint64_t data_clusters;
    uint64_t total;
};

void qcow2_create_plan_free(Qcow2CreatePlan *plan)
{
    if (plan) {
        g_free(plan->backing_file);
        g_free(plan->backing_fmt);
        g_free(plan);
    }
}

static uint64_t div_round_up(uint64_t a, uint64_t b)
{
    return (a + b - 1) / b;
}

static bool check_cluster_size(const BlockdevCreateOptionsQcow2 *o,
                               uint32_t *bits, GError **errp)
{
    uint64_t cs = o->has_cluster_size ? o->cluster_size : 65536;

    if (cs < 512 || cs > 2 * 1024 * 1024 || (cs & (cs - 1))) {
        error_setg(errp, "Cluster size must be a power of two between 512 "
                         "and 2048k");
        return false;
    }
    *bits = (uint32_t)__builtin_ctzll(cs);
    return true;
}

static bool check_version_features(const BlockdevCreateOptionsQcow2 *o,
                                   Qcow2CreatePlan *p, GError **errp)
{
    int64_t rb = o->has_refcount_bits ? o->refcount_bits : 16;
    bool v2 = p->version == 2;

    if (v2 && o->has_lazy_refcounts && o->lazy_refcounts) {
        error_setg(errp, "Lazy refcounts only supported with compatibility "
                         "level 1.1 and above (use version=v3 or greater)");
        return false;
    }
    if (rb < 1 || rb > 64 || (rb & (rb - 1))) {
        error_setg(errp, "Refcount width must be a power of two and may not "
                         "exceed 64 bits");
        return false;
    }
    if (v2 && rb != 16) {
        error_setg(errp, "Different refcount widths than 16 bits require "
                         "compatibility level 1.1 or above (use version=v3 "
                         "or greater)");
        return false;
    }
    p->refcount_order = (uint32_t)__builtin_ctzll((uint64_t)rb);
    p->lazy_refcounts = o->has_lazy_refcounts && o->lazy_refcounts;
    return true;
}

static bool check_extended_l2(const BlockdevCreateOptionsQcow2 *o,
                              const Qcow2CreatePlan *p, GError **errp)
{
    if (!o->has_extended_l2 || !o->extended_l2) {
        return true;
    }
    if (p->version == 2) {
        error_setg(errp, "Extended L2 entries are only supported with "
                         "compatibility level 1.1 and above (use version=v3 "
                         "or greater)");
        return false;
    }
    if (p->cluster_bits < 14) {
        error_setg(errp, "Extended L2 entries are only supported with "
                         "cluster sizes of at least 16384 bytes");
        return false;
    }
    error_setg(errp, "fdsetd does not support 'extended-l2': its qcow2 "
                     "driver does not read extended L2 entries");
    return false;
}

static bool check_backing(const BlockdevCreateOptionsQcow2 *o,
                          Qcow2CreatePlan *p, GError **errp)
{
    if (o->has_backing_file && p->prealloc != PREALLOC_MODE_OFF) {
        error_setg(errp, "Backing file and preallocation can only be used at "
                         "the same time if extended_l2 is on");
        return false;
    }
    if (o->has_backing_fmt && !o->has_backing_file) {
        error_setg(errp, "Backing format cannot be used without backing "
                         "file");
        return false;
    }
    if (!o->has_backing_file) {
        return true;
    }
    /* The header outlives the set: a set's name would dangle (issue 13). */
    if (g_str_has_prefix(o->backing_file, "/dev/fdset/")) {
        error_setg(errp,
                   "Backing file name '%s' names an fdset, which the "
                   "image outlives; give the backing image's own path",
                   o->backing_file);
        return false;
    }
    if (strlen(o->backing_file) > QCOW2_MAX_BACKING_NAME) {
        error_setg(errp, "Backing file name too long");
        return false;
    }
    p->backing_file = g_strdup(o->backing_file);
    if (o->has_backing_fmt) {
        p->backing_fmt = g_strdup(BlockdevDriver_str(o->backing_fmt));
    }
    return true;
}

/* What QEMU 7.2 has and fdsetd does not: refused by name. */
static bool check_unsupported(const BlockdevCreateOptionsQcow2 *o,
                              GError **errp)
{
    if (o->has_data_file || (o->has_data_file_raw && o->data_file_raw)) {
        error_setg(errp, "fdsetd does not support 'data-file': qcow2 images "
                         "keep their data in their own file");
        return false;
    }
    if (o->has_encrypt) {
        error_setg(errp, "fdsetd does not support 'encrypt': it has no "
                         "encryption");
        return false;
    }
    if (o->has_compression_type && !g_str_equal(o->compression_type, "zlib")) {
        if (g_str_equal(o->compression_type, "zstd")) {
            error_setg(errp, "fdsetd does not support compression type "
                             "'zstd'");
        } else {
            error_setg(errp,
                       "Parameter 'compression-type' does not accept "
                       "value '%s'",
                       o->compression_type);
        }
        return false;
    }
    return true;
}

/* The header, its extensions and the backing name must fit cluster 0. */
static uint64_t header_bytes(const Qcow2CreatePlan *p)
{
    uint64_t n =
        p->version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_CREATE_V3_HEADER_LEN;

    if (p->backing_fmt) {
        n += 8 + qcow2_round_up(strlen(p->backing_fmt), 8);
    }
    n += 8; /* end of extensions */
    if (p->backing_file) {
        n += strlen(p->backing_file);
    }
    return n;
}

/* Count the refcount structures until the count covers itself. */
static bool plan_layout(Qcow2CreatePlan *p, GError **errp)
{
    uint64_t cs = 1ULL << p->cluster_bits;
    uint64_t l2_entries = cs / 8;
    uint64_t rb_entries = cs * 8 >> p->refcount_order;
    uint64_t fixed;

    p->l1_size = div_round_up(p->size, cs * l2_entries);
    if (p->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "The image size is too large for file format "
                         "'qcow2' (try using a larger cluster size)");
        return false;
    }
    p->l1_clusters = MAX(div_round_up(p->l1_size * 8, cs), 1);
    if (p->prealloc != PREALLOC_MODE_OFF) {
        p->data_clusters = div_round_up(p->size, cs);
        p->l2_tables = p->l1_size;
    }
    fixed = 1 + p->l1_clusters + p->l2_tables + p->data_clusters;
    p->refblocks = 1;
    p->reftable_clusters = 1;
    for (;;) {
        uint64_t total = fixed + p->refblocks + p->reftable_clusters;
        uint64_t rb = div_round_up(total, rb_entries);
        uint64_t rt = div_round_up(rb * 8, cs);

        if (rb <= p->refblocks && rt <= p->reftable_clusters) {
            p->total = total;
            break;
        }
        p->refblocks = MAX(rb, p->refblocks);
        p->reftable_clusters = MAX(rt, p->reftable_clusters);
    }
    if (p->reftable_clusters * cs > QCOW2_MAX_REFTABLE_BYTES) {
        error_setg(errp, "The image size is too large for file format "
                         "'qcow2' (try using a larger cluster size)");
        return false;
    }
    return true;
}

Qcow2CreatePlan *qcow2_create_plan(const BlockdevCreateOptionsQcow2 *o,
                                   GError **errp)
{
    Qcow2CreatePlan *p = g_new0(Qcow2CreatePlan, 1);

    p->version =
        o->has_version && o->version == BLOCKDEV_QCOW2_VERSION_V2 ? 2 : 3;
    p->size = o->size;
    p->prealloc = o->has_preallocation ? o->preallocation : PREALLOC_MODE_OFF;
    if (!check_cluster_size(o, &p->cluster_bits, errp)) {
        goto fail;
    }
    if (p->size % 512 || p->size > INT64_MAX) {
        error_setg(errp, "Image size must be a multiple of 512 bytes");
        goto fail;
    }
    if (!check_version_features(o, p, errp) || !check_backing(o, p, errp) ||
        !check_extended_l2(o, p, errp) || !check_unsupported(o, errp)) {
        goto fail;
    }
    if (header_bytes(p) > (1ULL << p->cluster_bits)) {
        error_setg(errp, "Backing file name too long");
        goto fail;
    }
    if (!plan_layout(p, errp)) {
        goto fail;
    }
    return p;

fail:
    qcow2_create_plan_free(p);
    return NULL;
}

/* ---- writing ---- */

typedef struct Qcow2Layout {
    uint64_t cs;
    uint64_t reftable, refblocks, l1, l2, data; /* byte offsets */
} Qcow2Layout;

static void layout_offsets(const Qcow2CreatePlan *p, Qcow2Layout *l)
{
    l->cs = 1ULL << p->cluster_bits;
    l->reftable = l->cs;
    l->refblocks = l->reftable + p->reftable_clusters * l->cs;
    l->l1 = l->refblocks + p->refblocks * l->cs;
    l->l2 = l->l1 + p->l1_clusters * l->cs;
    l->data = l->l2 + p->l2_tables * l->cs;
}

static uint64_t put_ext(uint8_t *buf, uint64_t pos, uint32_t type,
                        const char *data)
{
    uint32_t len = (uint32_t)strlen(data);

    qcow2_st32(buf + pos, type);
    qcow2_st32(buf + pos + 4, len);
    memcpy(buf + pos + 8, data, len);
    return pos + 8 + qcow2_round_up(len, 8);
}

static void fill_header(const Qcow2CreatePlan *p, const Qcow2Layout *l,
                        uint8_t *buf)
{
    uint64_t pos =
        p->version == 2 ? QCOW2_V2_HEADER_LEN : QCOW2_CREATE_V3_HEADER_LEN;

    qcow2_st32(buf, QCOW2_MAGIC);
    qcow2_st32(buf + 4, p->version);
    qcow2_st32(buf + 20, p->cluster_bits);
    qcow2_st64(buf + 24, p->size);
    qcow2_st32(buf + 36, (uint32_t)p->l1_size);
    qcow2_st64(buf + 40, l->l1);
    qcow2_st64(buf + 48, l->reftable);
    qcow2_st32(buf + 56, (uint32_t)p->reftable_clusters);
    if (p->version == 3) {
        qcow2_st64(buf + 80,
                   p->lazy_refcounts ? QCOW2_COMPAT_LAZY_REFCOUNTS : 0);
        qcow2_st32(buf + 96, p->refcount_order);
        qcow2_st32(buf + 100, QCOW2_CREATE_V3_HEADER_LEN);
        /* byte 104: compression type 0, zlib */
    }
    if (p->backing_fmt) {
        pos = put_ext(buf, pos, QCOW2_EXT_BACKING_FMT, p->backing_fmt);
    }
    pos += 8; /* QCOW2_EXT_END: type 0, length 0 */
    if (p->backing_file) {
        qcow2_st64(buf + 8, pos);
        qcow2_st32(buf + 16, (uint32_t)strlen(p->backing_file));
        memcpy(buf + pos, p->backing_file, strlen(p->backing_file));
    }
}

/* Refcount 1 for every cluster in [0, total), entry by entry. */
static void set_refcount_one(uint8_t *b, uint32_t order, uint64_t i)
{
    if (order < 3) {
        uint64_t bit = i << order;

        b[bit >> 3] |= (uint8_t)(1U << (bit & 7));
    } else {
        uint64_t width = 1ULL << (order - 3); /* bytes, big-endian */

        b[i * width + width - 1] = 1;
    }
}

static int write_refcounts(BlockDriverState *file, const Qcow2CreatePlan *p,
                           const Qcow2Layout *l, uint8_t *buf, GError **errp)
{
    uint64_t per_block = l->cs * 8 >> p->refcount_order;

    memset(buf, 0, l->cs);
    for (uint64_t k = 0; k < p->refblocks; k++) {
        qcow2_st64(buf + (k % (l->cs / 8)) * 8, l->refblocks + k * l->cs);
        if ((k + 1) % (l->cs / 8) == 0 || k + 1 == p->refblocks) {
            uint64_t rt = k / (l->cs / 8);

            if (bdrv_pwrite(file, l->reftable + rt * l->cs, l->cs, buf, errp) <
                0) {
                return -1;
            }
            memset(buf, 0, l->cs);
        }
    }
    for (uint64_t k = 0; k < p->refblocks; k++) {
        uint64_t first = k * per_block;
        uint64_t n = MIN(per_block, p->total - first);

        memset(buf, 0, l->cs);
        for (uint64_t i = 0; i < n; i++) {
            set_refcount_one(buf, p->refcount_order, i);
        }
        if (bdrv_pwrite(file, l->refblocks + k * l->cs, l->cs, buf, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

/* @entries (> 0) table entries at @offset: entry i maps target + i*cs. */
static int write_mapping(BlockDriverState *file, uint64_t offset,
                         uint64_t entries, uint64_t target, uint64_t cs,
                         uint8_t *buf, GError **errp)
{
    uint64_t n;

    for (uint64_t done = 0; done < entries; done += n) {
        n = MIN(cs / 8, entries - done);
        memset(buf, 0, cs);
        for (uint64_t i = 0; i < n; i++) {
            qcow2_st64(buf + i * 8,
                       (target + (done + i) * cs) | QCOW2_OFLAG_COPIED);
        }
        if (bdrv_pwrite(file, offset + done * 8, n * 8, buf, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

static int write_l2_tables(BlockDriverState *file, const Qcow2CreatePlan *p,
                           const Qcow2Layout *l, uint8_t *buf, GError **errp)
{
    uint64_t per_table = l->cs / 8;

    for (uint64_t t = 0; t < p->l2_tables; t++) {
        uint64_t first = t * per_table;
        uint64_t n = MIN(per_table, p->data_clusters - first);

        if (write_mapping(file, l->l2 + t * l->cs, n, l->data + first * l->cs,
                          l->cs, buf, errp) < 0) {
            return -1;
        }
    }
    return 0;
}

static int write_l1(BlockDriverState *file, const Qcow2CreatePlan *p,
                    const Qcow2Layout *l, uint8_t *buf, GError **errp)
{
    if (p->l2_tables) {
        return write_mapping(file, l->l1, p->l2_tables, l->l2, l->cs, buf,
                             errp);
    }
    memset(buf, 0, l->cs);
    for (uint64_t done = 0; done < MAX(p->l1_size, 1);) {
        uint64_t n = MIN(l->cs / 8, MAX(p->l1_size, 1) - done);

        if (bdrv_pwrite(file, l->l1 + done * 8, n * 8, buf, errp) < 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

/*
 * The texts of a failure in each step are QEMU 7.2's (measured on a full
 * tmpfs), whose create makes a small image and then resizes it: growing
 * its L1 table, allocating the clusters (metadata), preallocating the file.
 */
#define RESIZE_TEXT "Could not resize image: "
#define GROW_L1_TEXT RESIZE_TEXT "Failed to grow the L1 table: "
#define ALLOC_TEXT RESIZE_TEXT "Allocating clusters failed: "
#define FILE_TEXT RESIZE_TEXT "Failed to resize underlying file: "

/* falloc reserves the data clusters, full writes them: they read zero. */
static int write_data(BlockDriverState *file, const Qcow2CreatePlan *p,
                      const Qcow2Layout *l, GError **errp)
{
    uint64_t end = l->data + p->data_clusters * l->cs;
    g_autofree uint8_t *zero = NULL;

    if (p->prealloc == PREALLOC_MODE_METADATA) {
        if (bdrv_truncate(file, (int64_t)end, errp) < 0) {
            g_prefix_error(errp, ALLOC_TEXT);
            return -1;
        }
        return 0;
    }
    if (p->prealloc == PREALLOC_MODE_FALLOC) {
        if (bdrv_file_fallocate(file, (int64_t)l->data,
                                (int64_t)(end - l->data), errp) < 0) {
            g_prefix_error(errp, FILE_TEXT "Could not preallocate new data: ");
            return -1;
        }
        return 0;
    }
    zero = g_malloc0(QCOW2_CREATE_ZERO_CHUNK);
    for (uint64_t off = l->data; off < end;) {
        uint64_t n = MIN(QCOW2_CREATE_ZERO_CHUNK, end - off);

        if (bdrv_pwrite(file, off, n, zero, errp) < 0) {
            g_prefix_error(errp,
                           FILE_TEXT "Could not write zeros for preallocation: ");
            return -1;
        }
        off += n;
    }
    return 0;
}

int qcow2_create_write(BlockDriverState *file, const Qcow2CreatePlan *p,
                       GError **errp)
{
    Qcow2Layout l;
    g_autofree uint8_t *buf = NULL;

    layout_offsets(p, &l);
    buf = g_malloc0(l.cs);
    if (bdrv_truncate(file, 0, errp) < 0) {
        return -1;
    }
    /* the refcounts cover the preallocated clusters too */
    if (write_refcounts(file, p, &l, buf, errp) < 0) {
        g_prefix_error(errp, p->prealloc == PREALLOC_MODE_OFF ? GROW_L1_TEXT
                                                             : ALLOC_TEXT);
        return -1;
    }
    if (write_l1(file, p, &l, buf, errp) < 0) {
        g_prefix_error(errp, GROW_L1_TEXT);
        return -1;
    }
    if (write_l2_tables(file, p, &l, buf, errp) < 0) {
        g_prefix_error(errp, ALLOC_TEXT);
        return -1;
    }
    if (p->data_clusters && write_data(file, p, &l, errp) < 0) {
        return -1;
    }
    /* the header last: until it is there, the file is no qcow2 image */
    memset(buf, 0, l.cs);
    fill_header(p, &l, buf);
    if (bdrv_pwrite(file, 0, l.cs, buf, errp) < 0) {
        return -1;
    }
    return bdrv_flush(file, errp);
}
