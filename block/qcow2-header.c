/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 header: parse and validate the first cluster (header fields,
 * header extensions, backing file name), and rewrite it.
 */
#include "block/qcow2.h"
#include "qemu/error.h"

#define QCOW2_FEATURE_ENTRY_LEN 48
#define QCOW2_FEATURE_NAME_LEN 46

static const char *qcow2_image_name(BlockDriverState *bs)
{
    if (bs->file && bs->file->filename) {
        return bs->file->filename;
    }
    return bs->node_name ? bs->node_name : "(unnamed)";
}

static void qcow2_ext_free(gpointer p)
{
    Qcow2Ext *ext = p;

    g_free(ext->data);
    g_free(ext);
}

void qcow2_header_free(BDRVQcow2State *s)
{
    g_clear_pointer(&s->header_tail, g_free);
    g_clear_pointer(&s->exts, g_ptr_array_unref);
    g_clear_pointer(&s->backing_file, g_free);
    g_clear_pointer(&s->backing_format, g_free);
    g_clear_pointer(&s->ro_reason, g_free);
}

/* The fixed fields at the start of @buf (at least 104 bytes). */
static void qcow2_parse_fields(const uint8_t *buf, Qcow2Header *h)
{
    h->version = qcow2_ld32(buf + 4);
    h->backing_file_offset = qcow2_ld64(buf + 8);
    h->backing_file_size = qcow2_ld32(buf + 16);
    h->cluster_bits = qcow2_ld32(buf + 20);
    h->size = qcow2_ld64(buf + 24);
    h->crypt_method = qcow2_ld32(buf + 32);
    h->l1_size = qcow2_ld32(buf + 36);
    h->l1_table_offset = qcow2_ld64(buf + 40);
    h->refcount_table_offset = qcow2_ld64(buf + 48);
    h->refcount_table_clusters = qcow2_ld32(buf + 56);
    h->nb_snapshots = qcow2_ld32(buf + 60);
    h->snapshots_offset = qcow2_ld64(buf + 64);
    if (h->version >= 3) {
        h->incompatible_features = qcow2_ld64(buf + 72);
        h->compatible_features = qcow2_ld64(buf + 80);
        h->autoclear_features = qcow2_ld64(buf + 88);
        h->refcount_order = qcow2_ld32(buf + 96);
        h->header_length = qcow2_ld32(buf + 100);
    } else {
        h->incompatible_features = 0;
        h->compatible_features = 0;
        h->autoclear_features = 0;
        h->refcount_order = 4;
        h->header_length = QCOW2_V2_HEADER_LEN;
    }
}

static void qcow2_store_fields(uint8_t *buf, const Qcow2Header *h)
{
    qcow2_st32(buf, QCOW2_MAGIC);
    qcow2_st32(buf + 4, h->version);
    qcow2_st64(buf + 8, h->backing_file_offset);
    qcow2_st32(buf + 16, h->backing_file_size);
    qcow2_st32(buf + 20, h->cluster_bits);
    qcow2_st64(buf + 24, h->size);
    qcow2_st32(buf + 32, h->crypt_method);
    qcow2_st32(buf + 36, h->l1_size);
    qcow2_st64(buf + 40, h->l1_table_offset);
    qcow2_st64(buf + 48, h->refcount_table_offset);
    qcow2_st32(buf + 56, h->refcount_table_clusters);
    qcow2_st32(buf + 60, h->nb_snapshots);
    qcow2_st64(buf + 64, h->snapshots_offset);
    if (h->version >= 3) {
        qcow2_st64(buf + 72, h->incompatible_features);
        qcow2_st64(buf + 80, h->compatible_features);
        qcow2_st64(buf + 88, h->autoclear_features);
        qcow2_st32(buf + 96, h->refcount_order);
        qcow2_st32(buf + 100, h->header_length);
    }
}

/* Magic, version, cluster size, header length: what the rest relies on. */
static int qcow2_check_basics(BlockDriverState *bs, const uint8_t *buf,
                              const Qcow2Header *h, GError **errp)
{
    const char *name = qcow2_image_name(bs);

    if (qcow2_ld32(buf) != QCOW2_MAGIC) {
        error_setg(errp, "Image '%s' is not in qcow2 format (bad magic)", name);
        return -1;
    }
    if (h->version != 2 && h->version != 3) {
        error_setg(errp, "qcow2 image '%s': unsupported version %u", name,
                   h->version);
        return -1;
    }
    if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS ||
        h->cluster_bits > QCOW2_MAX_CLUSTER_BITS) {
        error_setg(
            errp, "qcow2 image '%s': cluster_bits %u out of range %d..%d", name,
            h->cluster_bits, QCOW2_MIN_CLUSTER_BITS, QCOW2_MAX_CLUSTER_BITS);
        return -1;
    }
    if (h->version >= 3 &&
        (h->header_length < QCOW2_V3_HEADER_LEN || h->header_length % 8 ||
         h->header_length > (1U << h->cluster_bits))) {
        error_setg(errp, "qcow2 image '%s': invalid header_length %u", name,
                   h->header_length);
        return -1;
    }
    return 0;
}

/* Names of the feature bits in @bits of @type from the feature table. */
static char *qcow2_feature_names(BDRVQcow2State *s, uint8_t type, uint64_t bits)
{
    GString *out = g_string_new(NULL);

    for (guint i = 0; s->exts && i < s->exts->len; i++) {
        Qcow2Ext *ext = g_ptr_array_index(s->exts, i);

        if (ext->type != QCOW2_EXT_FEATURE_TABLE) {
            continue;
        }
        for (uint32_t p = 0; p + QCOW2_FEATURE_ENTRY_LEN <= ext->len;
             p += QCOW2_FEATURE_ENTRY_LEN) {
            const uint8_t *f = ext->data + p;

            if (f[0] == type && f[1] < 64 && (bits & (1ULL << f[1]))) {
                g_string_append_printf(out, "%s%.*s", out->len ? ", " : "",
                                       QCOW2_FEATURE_NAME_LEN,
                                       (const char *)f + 2);
                bits &= ~(1ULL << f[1]);
            }
        }
    }
    for (int bit = 0; bit < 64; bit++) {
        if (bits & (1ULL << bit)) {
            g_string_append_printf(out, "%sunknown bit %d",
                                   out->len ? ", " : "", bit);
        }
    }
    return g_string_free(out, FALSE);
}

/* The compression type field and its incompatible bit agree. */
static int qcow2_check_compression(BlockDriverState *bs, const uint8_t *buf,
                                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    uint8_t type = h->header_length > QCOW2_V3_HEADER_LEN ? buf[104] : 0;
    bool bit = h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION;

    if (type > 1) {
        error_setg(errp, "qcow2 image '%s': unknown compression type %u",
                   qcow2_image_name(bs), type);
        return -1;
    }
    if (bit != (type != 0)) {
        error_setg(errp,
                   "qcow2 image '%s': compression type %u does not match "
                   "the compression type feature bit",
                   qcow2_image_name(bs), type);
        return -1;
    }
    return 0;
}

/* Incompatible features that fdsetd cannot handle at all. */
static int qcow2_check_incompatible(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const char *name = qcow2_image_name(bs);
    uint64_t incompat = s->hdr.incompatible_features;

    if (incompat & ~QCOW2_INCOMPAT_KNOWN) {
        g_autofree char *names =
            qcow2_feature_names(s, 0, incompat & ~QCOW2_INCOMPAT_KNOWN);
        error_setg(errp,
                   "qcow2 image '%s' uses unsupported incompatible "
                   "feature(s): %s",
                   name, names);
        return -1;
    }
    if (incompat & QCOW2_INCOMPAT_DATA_FILE) {
        error_setg(errp,
                   "qcow2 image '%s' uses an external data file, which is "
                   "not supported",
                   name);
        return -1;
    }
    if (incompat & QCOW2_INCOMPAT_EXTL2) {
        error_setg(errp,
                   "qcow2 image '%s' uses extended L2 entries (subclusters), "
                   "which are not supported",
                   name);
        return -1;
    }
    if (s->hdr.crypt_method != 0) {
        error_setg(errp,
                   "qcow2 image '%s' is encrypted (crypt_method %u), which "
                   "is not supported",
                   name, s->hdr.crypt_method);
        return -1;
    }
    return 0;
}

/* Features that allow reading but not writing: record why. */
static void qcow2_check_writable(BlockDriverState *bs)
{
    BDRVQcow2State *s = bs->opaque;
    const char *name = qcow2_image_name(bs);
    const Qcow2Header *h = &s->hdr;

    if (h->incompatible_features & QCOW2_INCOMPAT_CORRUPT) {
        s->ro_reason = g_strdup_printf(
            "qcow2 image '%s' is marked corrupt; repair it with "
            "'qemu-img check -r all' before writing",
            name);
    } else if (h->incompatible_features & QCOW2_INCOMPAT_DIRTY) {
        s->ro_reason = g_strdup_printf(
            "qcow2 image '%s' has the dirty bit set (lazy refcounts not "
            "repaired); repair it with 'qemu-img check -r all' before "
            "writing",
            name);
    } else if (h->nb_snapshots > 0) {
        s->ro_reason = g_strdup_printf(
            "qcow2 image '%s' has %u internal snapshot(s); images with "
            "internal snapshots can only be opened read-only",
            name, h->nb_snapshots);
    }
}

/* L1 table geometry against the virtual size and the file. */
static int qcow2_check_l1(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    const char *name = qcow2_image_name(bs);
    uint32_t shift = s->cluster_bits + s->l2_bits;

    if (h->size > (uint64_t)INT64_MAX - s->cluster_size) {
        error_setg(errp,
                   "qcow2 image '%s': virtual size %" G_GUINT64_FORMAT
                   " too large",
                   name, h->size);
        return -1;
    }
    s->l1_needed = (h->size + (1ULL << shift) - 1) >> shift;
    if ((uint64_t)h->l1_size * 8 > QCOW2_MAX_L1_BYTES) {
        error_setg(errp, "qcow2 image '%s': L1 table too large (%u entries)",
                   name, h->l1_size);
        return -1;
    }
    if (h->l1_size < s->l1_needed) {
        error_setg(errp,
                   "qcow2 image '%s': L1 table too small (%u entries) for "
                   "virtual size %" G_GUINT64_FORMAT,
                   name, h->l1_size, h->size);
        return -1;
    }
    if (h->l1_size == 0) {
        return 0;
    }
    if (h->l1_table_offset & (s->cluster_size - 1) ||
        h->l1_table_offset < s->cluster_size ||
        h->l1_table_offset > qcow2_file_end(s) ||
        (uint64_t)h->l1_size * 8 > qcow2_file_end(s) - h->l1_table_offset) {
        error_setg(errp, "qcow2 image '%s': invalid L1 table offset %#" PRIx64,
                   name, h->l1_table_offset);
        return -1;
    }
    return 0;
}

/* Refcount table, snapshot table geometry; no overlap with the L1 table. */
static int qcow2_check_tables(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    const char *name = qcow2_image_name(bs);
    uint64_t rt_bytes = (uint64_t)h->refcount_table_clusters << s->cluster_bits;
    uint64_t l1_bytes =
        qcow2_round_up((uint64_t)h->l1_size * 8, s->cluster_size);

    if (h->refcount_order > 6) {
        error_setg(errp, "qcow2 image '%s': refcount_order %u out of range",
                   name, h->refcount_order);
        return -1;
    }
    if (h->refcount_table_clusters == 0 ||
        rt_bytes > QCOW2_MAX_REFTABLE_BYTES) {
        error_setg(errp,
                   "qcow2 image '%s': invalid refcount table size (%u "
                   "clusters)",
                   name, h->refcount_table_clusters);
        return -1;
    }
    if (h->refcount_table_offset & (s->cluster_size - 1) ||
        h->refcount_table_offset < s->cluster_size ||
        h->refcount_table_offset > qcow2_file_end(s) ||
        rt_bytes > qcow2_file_end(s) - h->refcount_table_offset) {
        error_setg(errp,
                   "qcow2 image '%s': invalid refcount table offset %#" PRIx64,
                   name, h->refcount_table_offset);
        return -1;
    }
    if (h->l1_size &&
        h->l1_table_offset < h->refcount_table_offset + rt_bytes &&
        h->refcount_table_offset < h->l1_table_offset + l1_bytes) {
        error_setg(errp,
                   "qcow2 image '%s' is corrupt: the L1 table and the "
                   "refcount table overlap",
                   name);
        return -1;
    }
    if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS ||
        (h->nb_snapshots && (h->snapshots_offset & (s->cluster_size - 1) ||
                             h->snapshots_offset < s->cluster_size ||
                             h->snapshots_offset >= qcow2_file_end(s)))) {
        error_setg(errp, "qcow2 image '%s': invalid snapshot table", name);
        return -1;
    }
    return 0;
}

/* A string header extension: no NUL inside, at most @max bytes. */
static char *qcow2_ext_string(BlockDriverState *bs, const uint8_t *data,
                              uint32_t len, uint32_t max, const char *what,
                              GError **errp)
{
    if (len > max || memchr(data, 0, len)) {
        error_setg(errp, "qcow2 image '%s': invalid %s (%u bytes)",
                   qcow2_image_name(bs), what, len);
        return NULL;
    }
    return g_strndup((const char *)data, len);
}

static int qcow2_take_ext(BlockDriverState *bs, uint32_t type,
                          const uint8_t *data, uint32_t len, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    Qcow2Ext *ext;

    if (type == QCOW2_EXT_BACKING_FMT) {
        if (s->backing_format) {
            error_setg(errp,
                       "qcow2 image '%s': duplicate backing format "
                       "extension",
                       qcow2_image_name(bs));
            return -1;
        }
        s->backing_format = qcow2_ext_string(
            bs, data, len, QCOW2_MAX_BACKING_FMT, "backing format", errp);
        return s->backing_format ? 0 : -1;
    }
    ext = g_new0(Qcow2Ext, 1);
    ext->type = type;
    ext->len = len;
    ext->data = g_memdup2(data, len);
    g_ptr_array_add(s->exts, ext);
    return 0;
}

/* Header extensions between the header and @end (the first cluster). */
static int qcow2_read_exts(BlockDriverState *bs, const uint8_t *buf,
                           uint64_t end, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    uint64_t pos = s->hdr.header_length;

    s->exts = g_ptr_array_new_with_free_func(qcow2_ext_free);
    while (pos + 8 <= end) {
        uint32_t type = qcow2_ld32(buf + pos);
        uint32_t len = qcow2_ld32(buf + pos + 4);

        if (type == QCOW2_EXT_END) {
            break;
        }
        if (len > end - pos - 8) {
            error_setg(errp,
                       "qcow2 image '%s': header extension %#x (%u bytes) "
                       "exceeds the header area",
                       qcow2_image_name(bs), type, len);
            return -1;
        }
        if (qcow2_take_ext(bs, type, buf + pos + 8, len, errp) < 0) {
            return -1;
        }
        pos += 8 + qcow2_round_up(len, 8);
    }
    return 0;
}

/* The backing file name stored in the first cluster. */
static int qcow2_read_backing_name(BlockDriverState *bs, const uint8_t *buf,
                                   GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;

    if (h->backing_file_offset == 0 || h->backing_file_size == 0) {
        return 0;
    }
    if (h->backing_file_size > QCOW2_MAX_BACKING_NAME ||
        h->backing_file_offset < h->header_length ||
        h->backing_file_offset > s->cluster_size ||
        h->backing_file_size > s->cluster_size - h->backing_file_offset) {
        error_setg(errp,
                   "qcow2 image '%s': invalid backing file name location "
                   "(offset %#" PRIx64 ", %u bytes)",
                   qcow2_image_name(bs), h->backing_file_offset,
                   h->backing_file_size);
        return -1;
    }
    s->backing_file =
        qcow2_ext_string(bs, buf + h->backing_file_offset, h->backing_file_size,
                         QCOW2_MAX_BACKING_NAME, "backing file name", errp);
    return s->backing_file ? 0 : -1;
}

/* Parse everything in the header cluster @buf after the basic checks. */
static int qcow2_parse_header(BlockDriverState *bs, const uint8_t *buf,
                              GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    uint64_t ext_end = s->cluster_size;

    if (h->header_length > QCOW2_V3_HEADER_LEN) {
        s->header_tail = g_memdup2(buf + QCOW2_V3_HEADER_LEN,
                                   h->header_length - QCOW2_V3_HEADER_LEN);
    }
    if (h->backing_file_offset > h->header_length &&
        h->backing_file_offset < ext_end) {
        ext_end = h->backing_file_offset;
    }
    if (qcow2_read_exts(bs, buf, ext_end, errp) < 0 ||
        qcow2_check_incompatible(bs, errp) < 0 ||
        (h->version >= 3 && qcow2_check_compression(bs, buf, errp) < 0) ||
        qcow2_check_l1(bs, errp) < 0 || qcow2_check_tables(bs, errp) < 0 ||
        qcow2_read_backing_name(bs, buf, errp) < 0) {
        return -1;
    }
    qcow2_check_writable(bs);
    return 0;
}

int qcow2_read_header(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    int64_t len = bdrv_getlength_bytes(bs->file); /* the file's end */
    g_autofree uint8_t *buf = NULL;
    uint8_t head[QCOW2_V3_HEADER_LEN] = {0};

    if (len < 0) {
        error_setg(errp, "Could not get the size of '%s'",
                   qcow2_image_name(bs));
        return -1;
    }
    __atomic_store_n(&s->file_size, len, __ATOMIC_RELEASE);
    if (len < QCOW2_V2_HEADER_LEN) {
        error_setg(errp,
                   "Image '%s' is too short to be qcow2 (%" PRId64 " bytes)",
                   qcow2_image_name(bs), len);
        return -1;
    }
    if (bdrv_pread(bs->file, 0, MIN(len, (int64_t)sizeof(head)), head, errp) <
        0) {
        return -1;
    }
    qcow2_parse_fields(head, &s->hdr);
    if (qcow2_check_basics(bs, head, &s->hdr, errp) < 0) {
        return -1;
    }
    s->cluster_bits = s->hdr.cluster_bits;
    s->cluster_size = 1ULL << s->cluster_bits;
    s->l2_bits = s->cluster_bits - 3;
    s->rb_bits = s->cluster_bits + 3 - s->hdr.refcount_order;
    buf = g_malloc0(s->cluster_size);
    if (qcow2_file_read_clipped(bs, 0, s->cluster_size, buf, errp) < 0) {
        return -1;
    }
    return qcow2_parse_header(bs, buf, errp);
}

/* Append extension @type to @buf at *pos; false if it does not fit. */
static bool qcow2_put_ext(uint8_t *buf, uint64_t size, uint64_t *pos,
                          uint32_t type, const void *data, uint32_t len)
{
    uint64_t need = 8 + qcow2_round_up(len, 8);

    if (need > size - *pos) {
        return false;
    }
    qcow2_st32(buf + *pos, type);
    qcow2_st32(buf + *pos + 4, len);
    if (len) {
        memcpy(buf + *pos + 8, data, len);
    }
    *pos += need;
    return true;
}

/* Extensions, end marker and backing name; false if they do not fit. */
static bool qcow2_put_exts(BDRVQcow2State *s, uint8_t *buf, uint64_t *pos)
{
    uint64_t size = s->cluster_size;
    size_t name_len = s->backing_file ? strlen(s->backing_file) : 0;

    if (s->backing_format &&
        !qcow2_put_ext(buf, size, pos, QCOW2_EXT_BACKING_FMT, s->backing_format,
                       strlen(s->backing_format))) {
        return false;
    }
    for (guint i = 0; i < s->exts->len; i++) {
        Qcow2Ext *ext = g_ptr_array_index(s->exts, i);

        if (!qcow2_put_ext(buf, size, pos, ext->type, ext->data, ext->len)) {
            return false;
        }
    }
    if (!qcow2_put_ext(buf, size, pos, QCOW2_EXT_END, NULL, 0) ||
        name_len > size - *pos) {
        return false;
    }
    return true;
}

int qcow2_write_header(BlockDriverState *bs, GError **errp)
{
    BDRVQcow2State *s = bs->opaque;
    g_autofree uint8_t *buf = g_malloc0(s->cluster_size);
    Qcow2Header h = s->hdr;
    uint64_t pos = h.header_length;
    size_t name_len = s->backing_file ? strlen(s->backing_file) : 0;

    if (s->header_tail) {
        memcpy(buf + QCOW2_V3_HEADER_LEN, s->header_tail,
               h.header_length - QCOW2_V3_HEADER_LEN);
    }
    if (!qcow2_put_exts(s, buf, &pos)) {
        error_setg(errp,
                   "qcow2 image '%s': the header extensions and backing "
                   "file name do not fit in the first cluster",
                   qcow2_image_name(bs));
        return -1;
    }
    h.backing_file_offset = name_len ? pos : 0;
    h.backing_file_size = name_len;
    if (name_len) {
        memcpy(buf + pos, s->backing_file, name_len);
    }
    qcow2_store_fields(buf, &h);
    if (qcow2_file_write(bs, 0, s->cluster_size, buf, errp) < 0) {
        return -1;
    }
    s->hdr = h;
    return 0;
}
