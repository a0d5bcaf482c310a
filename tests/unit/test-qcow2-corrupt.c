/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 driver against images it must refuse: unsupported features (each
 * named in the error), header fields and table entries out of range,
 * overlapping metadata, and randomly damaged images (no crash, no read out
 * of bounds: run this under ASan).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qcow2-test-util.h"
#include "qemu/error.h"

#define MiB (1024 * 1024)
#define CLUSTER 65536

/* Header field offsets. */
#define H_VERSION 4
#define H_BACKING_OFFSET 8
#define H_BACKING_SIZE 16
#define H_CLUSTER_BITS 20
#define H_SIZE 24
#define H_CRYPT 32
#define H_L1_SIZE 36
#define H_L1_OFFSET 40
#define H_RT_OFFSET 48
#define H_RT_CLUSTERS 56
#define H_NB_SNAPSHOTS 60
#define H_INCOMPAT 72
#define H_REFCOUNT_ORDER 96
#define H_HEADER_LENGTH 100

/* A v3 image, 64 KiB clusters, with data in its first 128 KiB. */
static char *fresh_img(const char *name, const char *extra)
{
    char *path = tq_path(name);

    tq_sh_ok("qemu-img create -q -f qcow2 %s '%s' 4M", extra ? extra : "",
             path);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x42 0 128k' '%s' >/dev/null",
             path);
    return path;
}

static void expect_open_error(const char *img, bool read_only,
                              const char *needle)
{
    GError *err = NULL;
    BlockDriverState *bs = tq_qcow2_open(img, read_only, &err);

    ck_assert_msg(!bs, "%s opened, expected '%s'", img, needle);
    ck_assert_ptr_nonnull(err);
    ck_assert_msg(strstr(err->message, needle), "error '%s' lacks '%s'",
                  err->message, needle);
    g_error_free(err);
}

static BlockDriverState *open_ok(const char *img, bool read_only)
{
    GError *err = NULL;
    BlockDriverState *bs = tq_qcow2_open(img, read_only, &err);

    ck_assert_msg(bs, "open %s: %s", img, err ? err->message : "?");
    return bs;
}

/* Opens read-only and reads the data, but refuses to open read-write. */
static void expect_read_only(const char *img, const char *needle)
{
    BlockDriverState *bs;
    uint8_t buf[512];

    BDRVReopenState rs = {.read_only = false};
    GError *err = NULL;

    expect_open_error(img, false, needle);
    bs = open_ok(img, true);
    ck_assert_int_eq(bdrv_pread(bs, 0, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(buf[0], 0x42);
    /* nor can it be reopened read-write */
    rs.bs = bs;
    ck_assert_int_lt(bdrv_qcow2.bdrv_reopen_prepare(&rs, &err), 0);
    ck_assert_msg(strstr(err->message, needle), "%s", err->message);
    g_clear_error(&err);
    tq_close(bs);
}

typedef struct HeaderPatch {
    uint64_t offset;
    int width; /* 4 or 8 */
    uint64_t value;
    const char *error;
} HeaderPatch;

static const HeaderPatch header_patches[] = {
    {0, 4, 0x51464900, "not in qcow2 format"},
    {H_VERSION, 4, 4, "unsupported version 4"},
    {H_VERSION, 4, 1, "unsupported version 1"},
    {H_CLUSTER_BITS, 4, 8, "cluster_bits 8 out of range"},
    {H_CLUSTER_BITS, 4, 22, "cluster_bits 22 out of range"},
    {H_CLUSTER_BITS, 4, 0xffffffff, "cluster_bits"},
    {H_CRYPT, 4, 1, "encrypted"},
    {H_CRYPT, 4, 2, "encrypted"},
    {H_SIZE, 8, 0x7fffffffffffffffULL, "too large"},
    {H_SIZE, 8, 1ULL << 40, "L1 table too small"},
    {H_L1_SIZE, 4, 0x10000000, "L1 table too large"},
    {H_L1_OFFSET, 8, 0x12345, "invalid L1 table offset"},
    {H_L1_OFFSET, 8, 0, "invalid L1 table offset"},
    {H_L1_OFFSET, 8, 1ULL << 50, "invalid L1 table offset"},
    {H_L1_OFFSET, 8, 0xfffffffffffff000ULL, "invalid L1 table offset"},
    {H_RT_OFFSET, 8, 0x10200, "invalid refcount table offset"},
    {H_RT_OFFSET, 8, 0, "invalid refcount table offset"},
    {H_RT_OFFSET, 8, 1ULL << 45, "invalid refcount table offset"},
    {H_RT_CLUSTERS, 4, 0, "invalid refcount table size"},
    {H_RT_CLUSTERS, 4, 0xffffffff, "invalid refcount table size"},
    {H_RT_CLUSTERS, 4, 100, "invalid refcount table offset"},
    {H_NB_SNAPSHOTS, 4, 0x7fffffff, "invalid snapshot table"},
    {H_INCOMPAT, 8, 1ULL << 10, "unknown bit 10"},
    {H_INCOMPAT, 8, 1ULL << 2, "external data file"},
    {H_INCOMPAT, 8, 1ULL << 4, "extended L2"},
    {H_INCOMPAT, 8, 1ULL << 3, "compression type"},
    {H_REFCOUNT_ORDER, 4, 7, "refcount_order 7"},
    {H_HEADER_LENGTH, 4, 100, "invalid header_length"},
    {H_HEADER_LENGTH, 4, 105, "invalid header_length"},
    {H_HEADER_LENGTH, 4, 0x20000, "invalid header_length"},
    {H_BACKING_OFFSET, 8, 0xfff0, "backing file name"},
    {H_BACKING_OFFSET, 8, 0x10, "backing file name"},
    {H_BACKING_SIZE, 4, 10, "backing file name"},
};

START_TEST(test_bad_header_field)
{
    const HeaderPatch *p = &header_patches[_i];
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("hdr.qcow2", NULL);
    if (p->offset == H_BACKING_SIZE) {
        tq_patch_be64(img, H_BACKING_OFFSET, 0xfffa); /* runs past cluster */
    }
    if (p->offset == H_BACKING_OFFSET) {
        tq_patch_be32(img, H_BACKING_SIZE, p->value == 0x10 ? 2000 : 100);
    }
    if (p->width == 4) {
        tq_patch_be32(img, p->offset, p->value);
    } else {
        tq_patch_be64(img, p->offset, p->value);
    }
    expect_open_error(img, true, p->error);
}
END_TEST

START_TEST(test_too_short)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("short.qcow2", NULL);
    ck_assert_int_eq(truncate(img, 50), 0);
    expect_open_error(img, true, "too short");
}
END_TEST

START_TEST(test_truncated_tables)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("trunc.qcow2", NULL);
    /* header, refcount table, refcount block, L1 (needs 16 bytes), ... */
    ck_assert_int_eq(truncate(img, 3 * CLUSTER + 8), 0);
    expect_open_error(img, true, "invalid");
}
END_TEST

START_TEST(test_header_extension_overflow)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("ext.qcow2", NULL);
    /* the first extension after the 112-byte header: make it huge */
    tq_patch_be32(img, 112 + 4, 0xfffffff0);
    expect_open_error(img, true, "exceeds the header area");
}
END_TEST

START_TEST(test_backing_format_too_long)
{
    g_autofree char *base = NULL;
    g_autofree char *img = NULL;
    g_autofree char *opt = NULL;

    TQ_REQUIRE_QEMU();
    base = fresh_img("fmt-base.qcow2", NULL);
    opt = g_strdup_printf("-b '%s' -F qcow2", base);
    img = fresh_img("fmt.qcow2", opt);
    /* backing format extension comes first: claim 40 bytes of it */
    tq_patch_be32(img, 112, 0xe2792aca);
    tq_patch_be32(img, 112 + 4, 40);
    expect_open_error(img, true, "backing format");
}
END_TEST

START_TEST(test_compression_type_mismatch)
{
    g_autofree char *img = NULL;
    uint8_t zstd = 1;

    TQ_REQUIRE_QEMU();
    img = fresh_img("ctype.qcow2", NULL);
    tq_patch(img, 104, &zstd, 1);
    expect_open_error(img, true, "compression type");
}
END_TEST

START_TEST(test_real_unsupported_features)
{
    g_autofree char *data = NULL;
    g_autofree char *opt = NULL;
    g_autofree char *ext = tq_path("data-file.qcow2");
    g_autofree char *l2 = tq_path("extl2.qcow2");

    TQ_REQUIRE_QEMU();
    data = tq_path("data.raw");
    opt = g_strdup_printf("-o data_file='%s'", data);
    tq_sh_ok("qemu-img create -q -f qcow2 %s '%s' 1M", opt, ext);
    expect_open_error(ext, true, "external data file");
    tq_sh_ok("qemu-img create -q -f qcow2 -o extended_l2=on '%s' 1M", l2);
    expect_open_error(l2, true, "extended L2");
}
END_TEST

START_TEST(test_dirty_bit_read_only)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("dirty.qcow2", "-o lazy_refcounts=on");
    tq_patch_be64(img, H_INCOMPAT, 1);
    expect_read_only(img, "dirty bit");
}
END_TEST

START_TEST(test_corrupt_bit_read_only)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("corrupt.qcow2", NULL);
    tq_patch_be64(img, H_INCOMPAT, 2);
    expect_read_only(img, "marked corrupt");
}
END_TEST

START_TEST(test_snapshots_read_only)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("snap.qcow2", NULL);
    tq_sh_ok("qemu-img snapshot -c s1 '%s'", img);
    expect_read_only(img, "internal snapshot");
}
END_TEST

/* Persistent bitmaps (qcow2-bitmap.c) no longer force read-only: a
 * write lands, the bitmap marks it and survives close. */
START_TEST(test_bitmaps_read_write)
{
    g_autofree char *img = NULL;
    g_autofree char *info = NULL;
    BlockDriverState *bs;
    uint8_t buf[512];

    TQ_REQUIRE_QEMU();
    img = fresh_img("bitmap.qcow2", NULL);
    tq_sh_ok("qemu-img bitmap --add '%s' b0", img);
    bs = open_ok(img, false);
    memset(buf, 0x43, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite(bs, 1 * MiB, sizeof(buf), buf, NULL), 0);
    tq_close(bs);
    tq_sh_ok("qemu-img check -q '%s'", img);
    ck_assert_int_eq(tq_sh(&info, "qemu-img info '%s'", img), 0);
    ck_assert_msg(strstr(info, "name: b0") && !strstr(info, "in-use"), "%s",
                  info);
}
END_TEST

START_TEST(test_compressed_clusters)
{
    g_autofree char *img = tq_path("comp.qcow2");
    g_autofree char *src = NULL;
    BlockDriverState *bs;
    GError *err = NULL;
    int64_t pnum;
    uint8_t buf[4096];

    TQ_REQUIRE_QEMU();
    src = fresh_img("comp-src.qcow2", NULL);
    tq_sh_ok("qemu-img convert -c -O qcow2 '%s' '%s'", src, img);
    bs = open_ok(img, false);
    ck_assert_int_lt(bdrv_pread(bs, 4096, sizeof(buf), buf, &err), 0);
    ck_assert_msg(strstr(err->message, "compressed clusters"), "%s",
                  err->message);
    g_clear_error(&err);
    memset(buf, 1, sizeof(buf));
    ck_assert_int_lt(bdrv_pwrite(bs, 0, sizeof(buf), buf, &err), 0);
    ck_assert_msg(strstr(err->message, "compressed clusters"), "%s",
                  err->message);
    g_clear_error(&err);
    ck_assert_int_eq(bdrv_is_allocated(bs, 0, MiB, &pnum, NULL), 1);
    /* unallocated parts still read and write */
    ck_assert_int_eq(bdrv_pread(bs, 2 * MiB, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite(bs, 2 * MiB, sizeof(buf), buf, NULL), 0);
    tq_close(bs);
    tq_assert_check_clean(img);
}
END_TEST

/* An image of size 0 has no L1 table: it opens, and refuses any I/O. */
START_TEST(test_empty_image)
{
    g_autofree char *img = tq_path("empty.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t b = 1;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 0", img);
    bs = open_ok(img, false);
    ck_assert_int_eq(bdrv_getlength(bs), 0);
    ck_assert_int_lt(bdrv_pwrite(bs, 0, 1, &b, &err), 0);
    ck_assert_msg(strstr(err->message, "outside the virtual size"), "%s",
                  err->message);
    g_clear_error(&err);
    tq_close(bs);
    tq_assert_check_clean(img);
}
END_TEST

/* The backing name must fit in the header cluster; nothing changes if not. */
START_TEST(test_backing_name_does_not_fit)
{
    g_autofree char *img = tq_path("small-header.qcow2");
    g_autofree char *name = g_strnfill(400, 'n');
    g_autofree char *out = NULL;
    BlockDriverState *bs;
    GError *err = NULL;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 -o cluster_size=512 '%s' 1M", img);
    bs = open_ok(img, false);
    ck_assert_int_lt(bdrv_qcow2.bdrv_change_backing_file(bs, name, "raw", &err),
                     0);
    ck_assert_msg(strstr(err->message, "do not fit"), "%s", err->message);
    g_clear_error(&err);
    ck_assert_ptr_null(bdrv_qcow2.bdrv_get_backing_file(bs));
    tq_close(bs);
    tq_assert_check_clean(img);
    ck_assert_int_eq(tq_sh(&out, "qemu-img info '%s'", img), 0);
    ck_assert_ptr_null(strstr(out, "backing file"));
}
END_TEST

/* L1 table at the offset the header gives; entry 0 points to an L2. */
static uint64_t l1_entry_offset(const char *img)
{
    return tq_peek_be64(img, H_L1_OFFSET);
}

START_TEST(test_bad_l1_entry)
{
    static const uint64_t bad[] = {
        0x8000000000040001ULL,                /* reserved bit 0 */
        0x8100000000040000ULL,                /* reserved bit 56 */
        0x8000000000040200ULL,                /* unaligned */
        0x8000000000000000ULL | (1ULL << 40), /* past the end of the file */
        0x8000000000000000ULL,                /* copied flag alone: fine */
    };
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("l1.qcow2", NULL);
    tq_patch_be64(img, l1_entry_offset(img), bad[_i]);
    if (_i == G_N_ELEMENTS(bad) - 1) {
        tq_close(open_ok(img, true));
        return;
    }
    expect_open_error(img, true, "invalid L1 entry");
}
END_TEST

START_TEST(test_bad_refcount_table_entry)
{
    g_autofree char *img = NULL;
    uint64_t rt;

    TQ_REQUIRE_QEMU();
    img = fresh_img("rt.qcow2", NULL);
    rt = tq_peek_be64(img, H_RT_OFFSET);
    tq_patch_be64(img, rt, tq_peek_be64(img, rt) | 0x100);
    expect_open_error(img, true, "invalid refcount block offset");
    tq_patch_be64(img, rt, 1ULL << 44);
    expect_open_error(img, true, "invalid refcount block offset");
}
END_TEST

/* L2 entry @index of the first L2 table. */
static uint64_t l2_entry_offset(const char *img, int index)
{
    uint64_t l1e = tq_peek_be64(img, l1_entry_offset(img));

    return (l1e & 0x00fffffffffffe00ULL) + 8 * index;
}

START_TEST(test_bad_l2_entry)
{
    g_autofree char *img = NULL;
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t buf[512];
    uint64_t e;

    TQ_REQUIRE_QEMU();
    img = fresh_img("l2.qcow2", NULL);
    e = tq_peek_be64(img, l2_entry_offset(img, 1));
    tq_patch_be64(img, l2_entry_offset(img, 1), e | 0x200);
    bs = open_ok(img, false);
    ck_assert_int_eq(bdrv_pread(bs, 0, sizeof(buf), buf, NULL), 0);
    ck_assert_int_lt(bdrv_pread(bs, CLUSTER, sizeof(buf), buf, &err), 0);
    ck_assert_msg(strstr(err->message, "invalid L2 entry"), "%s", err->message);
    g_clear_error(&err);
    ck_assert_int_lt(bdrv_pwrite(bs, CLUSTER, sizeof(buf), buf, &err), 0);
    g_clear_error(&err);
    tq_close(bs);
    /* pointing into the header cluster */
    tq_patch_be64(img, l2_entry_offset(img, 1), 0x8000000000000000ULL);
    bs = open_ok(img, true);
    ck_assert_int_lt(bdrv_pread(bs, CLUSTER, sizeof(buf), buf, NULL), 0);
    tq_close(bs);
}
END_TEST

/* Metadata sharing a cluster: readable, but never written to. */
static void expect_write_refused(const char *img, int64_t guest_off,
                                 const char *needle)
{
    BlockDriverState *bs = open_ok(img, false);
    GError *err = NULL;
    uint8_t buf[512];

    memset(buf, 0x99, sizeof(buf));
    ck_assert_int_eq(bdrv_pread(bs, 0, sizeof(buf), buf, NULL), 0);
    ck_assert_int_lt(bdrv_pwrite(bs, guest_off, sizeof(buf), buf, &err), 0);
    ck_assert_msg(strstr(err->message, needle), "'%s' lacks '%s'", err->message,
                  needle);
    g_clear_error(&err);
    tq_close(bs);
}

START_TEST(test_overlap_l2_is_refcount_table)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("ov1.qcow2", NULL);
    tq_patch_be64(img, l1_entry_offset(img),
                  0x8000000000000000ULL | tq_peek_be64(img, H_RT_OFFSET));
    expect_write_refused(img, 0, "used both as");
}
END_TEST

START_TEST(test_overlap_refblock_is_l1)
{
    g_autofree char *img = NULL;
    uint64_t rt;

    TQ_REQUIRE_QEMU();
    img = fresh_img("ov2.qcow2", NULL);
    rt = tq_peek_be64(img, H_RT_OFFSET);
    tq_patch_be64(img, rt + 8, l1_entry_offset(img));
    expect_write_refused(img, 0, "used both as");
}
END_TEST

START_TEST(test_overlap_data_is_refblock)
{
    g_autofree char *img = NULL;
    uint64_t rb;

    TQ_REQUIRE_QEMU();
    img = fresh_img("ov3.qcow2", NULL);
    rb = tq_peek_be64(img, tq_peek_be64(img, H_RT_OFFSET));
    tq_patch_be64(img, l2_entry_offset(img, 0), 0x8000000000000000ULL | rb);
    expect_write_refused(img, 0, "overlaps metadata");
}
END_TEST

/* Two guest clusters on one data cluster: a write to one changes both. */
START_TEST(test_aliased_data_clusters)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("alias.qcow2", NULL);
    tq_patch_be64(img, l2_entry_offset(img, 1),
                  tq_peek_be64(img, l2_entry_offset(img, 0)));
    expect_write_refused(img, 0, "is used by two guest clusters");
}
END_TEST

/* A data cluster past the end of the file: an allocation would land on it. */
START_TEST(test_data_cluster_beyond_end)
{
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = fresh_img("beyond.qcow2", NULL);
    tq_patch_be64(img, l2_entry_offset(img, 1),
                  0x8000000000000000ULL | (64ULL * 1024 * 1024));
    expect_write_refused(img, 0, "lies beyond the end of the image");
}
END_TEST

/* A data cluster with refcount 2 (as a snapshot would leave it). */
START_TEST(test_shared_data_cluster)
{
    g_autofree char *img = NULL;
    uint64_t e0, rb;
    uint8_t two[2] = {0, 2};

    TQ_REQUIRE_QEMU();
    img = fresh_img("shared.qcow2", NULL);
    e0 = tq_peek_be64(img, l2_entry_offset(img, 0));
    rb = tq_peek_be64(img, tq_peek_be64(img, H_RT_OFFSET));
    tq_patch(img, rb + 2 * ((e0 & 0x00fffffffffffe00ULL) / CLUSTER), two, 2);
    tq_patch_be64(img, l2_entry_offset(img, 0), e0 & ~(1ULL << 63));
    expect_write_refused(img, 0, "cannot be written in place");
}
END_TEST

/* 150 rounds per seed; FDSETD_QCOW2_FUZZ_ROUNDS asks for a longer run. */
static int fuzz_rounds(void)
{
    const char *env = getenv("FDSETD_QCOW2_FUZZ_ROUNDS");

    return env ? atoi(env) : 150;
}

typedef struct FuzzRegion {
    uint32_t start, len;
} FuzzRegion;

/*
 * Where the metadata of the fuzzed image (4 KiB clusters) lives: header
 * fields, header extensions, refcount table, refcount block, L1, L2.
 */
static const FuzzRegion regions[] = {
    {0, 112}, {112, 400}, {4096, 64}, {8192, 256}, {12288, 64}, {16384, 1024},
};

static const char *const fuzz_formats[] = {
    "compat=1.1",
    "compat=0.10",
    "refcount_bits=1",
    "refcount_bits=64",
};

/*
 * Damage random bytes of the metadata of a small image; open, read,
 * write and close must fail cleanly or work, never crash.
 */
START_TEST(test_fuzz_metadata)
{
    g_autofree char *good = NULL;
    g_autofree char *img = tq_path("fuzz.qcow2");
    g_autofree uint8_t *buf = g_malloc(2 * MiB);
    g_autofree gchar *image = NULL;
    gsize image_len = 0;
    GRand *rand = g_rand_new_with_seed(1234 + _i);

    TQ_REQUIRE_QEMU();
    good = tq_path("fuzz-good.qcow2");
    /* same layout for each: header, refcount table, block, L1, L2 */
    tq_sh_ok("qemu-img create -q -f qcow2 -o cluster_size=4096,%s '%s' 2M",
             fuzz_formats[_i % G_N_ELEMENTS(fuzz_formats)], good);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 1 0 300k' -c 'write -z 1M 8k' "
             "-c 'write -P 2 1500k 100k' '%s' >/dev/null",
             good);
    ck_assert(g_file_get_contents(good, &image, &image_len, NULL));
    for (int round = 0; round < fuzz_rounds(); round++) {
        BlockDriverState *bs;
        int64_t pnum;

        ck_assert(g_file_set_contents(img, image, image_len, NULL));
        for (int k = 0; k < 1 + g_rand_int_range(rand, 0, 4); k++) {
            const FuzzRegion *r =
                &regions[g_rand_int_range(rand, 0, G_N_ELEMENTS(regions))];
            uint8_t b = g_rand_int(rand);

            tq_patch(img, r->start + g_rand_int_range(rand, 0, r->len), &b, 1);
        }
        bs = tq_qcow2_open(img, false, NULL);
        if (!bs) {
            continue;
        }
        bdrv_pread(bs, 0, 2 * MiB, buf, NULL);
        bdrv_is_allocated(bs, 0, 2 * MiB, &pnum, NULL);
        tq_fill(buf, MiB, round);
        bdrv_pwrite(bs, g_rand_int_range(rand, 0, MiB), MiB, buf, NULL);
        bdrv_pread(bs, 0, 2 * MiB, buf, NULL);
        tq_close(bs);
    }
    g_rand_free(rand);
}
END_TEST

static Suite *corrupt_suite(void)
{
    Suite *s = suite_create("qcow2-corrupt");
    TCase *tc = tcase_create("refuse");
    TCase *fuzz = tcase_create("fuzz");

    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_bad_header_field, 0,
                        G_N_ELEMENTS(header_patches));
    tcase_add_test(tc, test_too_short);
    tcase_add_test(tc, test_truncated_tables);
    tcase_add_test(tc, test_header_extension_overflow);
    tcase_add_test(tc, test_backing_format_too_long);
    tcase_add_test(tc, test_compression_type_mismatch);
    tcase_add_test(tc, test_real_unsupported_features);
    tcase_add_test(tc, test_dirty_bit_read_only);
    tcase_add_test(tc, test_corrupt_bit_read_only);
    tcase_add_test(tc, test_snapshots_read_only);
    tcase_add_test(tc, test_bitmaps_read_write);
    tcase_add_test(tc, test_compressed_clusters);
    tcase_add_test(tc, test_empty_image);
    tcase_add_test(tc, test_backing_name_does_not_fit);
    tcase_add_loop_test(tc, test_bad_l1_entry, 0, 5);
    tcase_add_test(tc, test_bad_refcount_table_entry);
    tcase_add_test(tc, test_bad_l2_entry);
    tcase_add_test(tc, test_overlap_l2_is_refcount_table);
    tcase_add_test(tc, test_overlap_refblock_is_l1);
    tcase_add_test(tc, test_overlap_data_is_refblock);
    tcase_add_test(tc, test_aliased_data_clusters);
    tcase_add_test(tc, test_data_cluster_beyond_end);
    tcase_add_test(tc, test_shared_data_cluster);
    suite_add_tcase(s, tc);
    tcase_set_timeout(fuzz, 240);
    tcase_add_loop_test(fuzz, test_fuzz_metadata, 0, 8);
    suite_add_tcase(s, fuzz);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(corrupt_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
