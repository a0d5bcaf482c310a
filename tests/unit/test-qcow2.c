/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 driver: reading images qemu-img and qemu-io made, writing images
 * that qemu-img check and compare accept, backing chains, allocation
 * status, backing file changes, and how few I/O calls large requests take.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/graph.h"
#include "qcow2-test-util.h"
#include "qemu/error.h"

#define MiB (1024 * 1024)

typedef struct ImgConfig {
    const char *compat;
    int cluster_size;
    int refcount_bits;
} ImgConfig;

static const ImgConfig configs[] = {
    {"1.1", 65536, 16}, {"0.10", 65536, 16},  {"1.1", 512, 16},
    {"0.10", 4096, 16}, {"1.1", 2 * MiB, 16}, {"1.1", 4096, 1},
    {"1.1", 4096, 64},  {"1.1", 512, 8},
};

static char *make_img(const char *name, const ImgConfig *c, const char *size,
                      const char *extra)
{
    char *path = tq_path(name);

    tq_sh_ok("qemu-img create -q -f qcow2 -o compat=%s,cluster_size=%d,"
             "refcount_bits=%d %s '%s' %s",
             c->compat, c->cluster_size, c->refcount_bits, extra ? extra : "",
             path, size);
    return path;
}

static BlockDriverState *open_ok(const char *path, bool read_only)
{
    GError *err = NULL;
    BlockDriverState *bs = tq_qcow2_open(path, read_only, &err);

    ck_assert_msg(bs, "open %s: %s", path, err ? err->message : "?");
    return bs;
}

static void pread_ok(BlockDriverState *bs, int64_t off, int64_t len, void *buf)
{
    GError *err = NULL;

    ck_assert_msg(bdrv_pread(bs, off, len, buf, &err) == 0, "read: %s",
                  err ? err->message : "?");
}

static void pwrite_ok(BlockDriverState *bs, int64_t off, int64_t len,
                      const void *buf)
{
    GError *err = NULL;

    ck_assert_msg(bdrv_pwrite(bs, off, len, buf, &err) == 0, "write: %s",
                  err ? err->message : "?");
}

/* The whole guest content through the driver equals qemu-img's view. */
static void assert_reads_like_qemu(const char *img, size_t chunk)
{
    size_t len;
    g_autofree uint8_t *want = tq_raw_content(img, &len);
    g_autofree uint8_t *got = g_malloc(len);
    BlockDriverState *bs = open_ok(img, true);

    ck_assert_int_eq(bdrv_getlength(bs), len);
    for (size_t off = 0; off < len; off += chunk) {
        pread_ok(bs, off, MIN(chunk, len - off), got + off);
    }
    ck_assert_msg(memcmp(want, got, len) == 0, "content differs: %s", img);
    tq_close(bs);
}

START_TEST(test_read_patterns)
{
    const ImgConfig *c = &configs[_i];
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("read.qcow2", c, "8M", NULL);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0xab 0 1M' "
             "-c 'write -P 0xcd 3M 300k' -c 'write -P 0x11 5000 700' "
             "-c 'write -P 0xef 8388096 512' '%s' >/dev/null",
             img);
    assert_reads_like_qemu(img, 3 * MiB + 77);
    assert_reads_like_qemu(img, 4096);
}
END_TEST

/* Overlay over a raw or qcow2 base that is shorter than the overlay. */
static void check_backing_read(const char *base_fmt)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *base = tq_path("base.img");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F %s", base, base_fmt);

    tq_sh_ok("qemu-img create -q -f %s '%s' 3M", base_fmt, base);
    tq_sh_ok("qemu-io -f %s -c 'write -P 0x5a 0 3M' '%s' >/dev/null", base_fmt,
             base);
    top = make_img("top.qcow2", &c, "6M", opt);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x77 100k 64k' "
             "-c 'write -z 1M 128k' -c 'write -P 0x33 2M 2M' '%s' >/dev/null",
             top);
    assert_reads_like_qemu(top, 1 * MiB + 3);
}

START_TEST(test_read_backing_raw)
{
    TQ_REQUIRE_QEMU();
    check_backing_read("raw");
}
END_TEST

START_TEST(test_read_backing_qcow2)
{
    TQ_REQUIRE_QEMU();
    check_backing_read("qcow2");
}
END_TEST

START_TEST(test_backing_name_and_format)
{
    ImgConfig c = {"0.10", 65536, 16};
    g_autofree char *base = tq_path("b.raw");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F raw", base);
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M", base);
    top = make_img("t.qcow2", &c, "1M", opt);
    bs = open_ok(top, true);
    ck_assert_str_eq(bdrv_qcow2.bdrv_get_backing_file(bs), base);
    ck_assert_str_eq(bdrv_qcow2.bdrv_get_backing_format(bs), "raw");
    tq_close(bs);
}
END_TEST

START_TEST(test_allocation_status)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *img = NULL;
    BlockDriverState *bs;
    int64_t pnum;

    TQ_REQUIRE_QEMU();
    img = make_img("alloc.qcow2", &c, "4M", NULL);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 1 64k 128k' -c 'write -z 1M 64k' "
             "-c 'write -P 2 1088k 64k' '%s' >/dev/null",
             img);
    bs = open_ok(img, true);
    ck_assert_int_eq(bdrv_is_allocated(bs, 0, 4 * MiB, &pnum, NULL), 0);
    ck_assert_int_eq(pnum, 64 * 1024);
    ck_assert_int_eq(
        bdrv_is_allocated(bs, 64 * 1024, 4 * MiB - 65536, &pnum, NULL), 1);
    ck_assert_int_eq(pnum, 128 * 1024);
    ck_assert_int_eq(bdrv_is_allocated(bs, 1000, 300000, &pnum, NULL), 0);
    ck_assert_int_eq(pnum, 65536 - 1000);
    /* a zero cluster counts as allocated, and merges with data after it */
    ck_assert_int_eq(bdrv_is_allocated(bs, MiB, MiB, &pnum, NULL), 1);
    ck_assert_int_eq(pnum, 128 * 1024);
    ck_assert_int_eq(
        bdrv_is_allocated(bs, 1152 * 1024, 4 * MiB - 1152 * 1024, &pnum, NULL),
        0);
    ck_assert_int_eq(pnum, 4 * MiB - 1152 * 1024);
    tq_close(bs);
}
END_TEST

/*
 * Random writes through the driver, mirrored in memory; the node, then
 * qemu-img (after close) must agree with the mirror; check must be clean.
 */
static void random_writes_opts(const char *img, size_t size, int rounds,
                               size_t max_len, uint32_t seed, const char *opts)
{
    g_autofree uint8_t *mirror = NULL;
    g_autofree uint8_t *buf = g_malloc(max_len);
    g_autofree uint8_t *back = g_malloc(size);
    size_t len;
    BlockDriverState *bs;
    GRand *rand = g_rand_new_with_seed(seed);

    mirror = tq_raw_content(img, &len);
    ck_assert_uint_eq(len, size);
    bs = tq_qcow2_open_opts(img, false, opts, NULL);
    ck_assert_ptr_nonnull(bs);
    for (int i = 0; i < rounds; i++) {
        size_t n = g_rand_int_range(rand, 1, max_len);
        size_t off = g_rand_int_range(rand, 0, size - n + 1);

        if (g_rand_boolean(rand)) { /* cluster-aligned starts too */
            off &= ~(size_t)4095;
        }
        if (g_rand_int_range(rand, 0, 5) == 0) {
            memset(buf, 0, n); /* zero writes take another path */
        } else {
            tq_fill(buf, n, seed * 1000 + i);
        }
        pwrite_ok(bs, off, n, buf);
        memcpy(mirror + off, buf, n);
    }
    pread_ok(bs, 0, size, back);
    ck_assert(memcmp(mirror, back, size) == 0);
    tq_close(bs);
    g_rand_free(rand);
    tq_assert_check_clean(img);
    g_free(back);
    back = tq_raw_content(img, &len);
    ck_assert(len == size && memcmp(mirror, back, size) == 0);
}

static void random_writes(const char *img, size_t size, int rounds,
                          size_t max_len, uint32_t seed)
{
    random_writes_opts(img, size, rounds, max_len, seed, NULL);
}

START_TEST(test_write_random)
{
    const ImgConfig *c = &configs[_i];
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("w.qcow2", c, "6M", NULL);
    /* data, zero clusters over data (they keep their host cluster in v3),
     * zero clusters over nothing */
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0xab 0 1M' -c 'write -z 0 256k' "
             "-c 'write -z 2M 1M' '%s' >/dev/null",
             img);
    random_writes(img, 6 * MiB, 60, 300 * 1024, 7 + _i);
}
END_TEST

START_TEST(test_write_over_backing)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *base = tq_path("wb-base.qcow2");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F qcow2", base);

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 2M", base);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x5a 0 2M' '%s' >/dev/null", base);
    top = make_img("wb-top.qcow2", &c, "4M", opt);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x22 512k 64k' '%s' >/dev/null",
             top);
    random_writes(top, 4 * MiB, 40, 200 * 1024, 99);
    /* the base is untouched */
    tq_sh_ok("qemu-io -f qcow2 -c 'read -P 0x5a 0 2M' '%s' >/dev/null", base);
}
END_TEST

START_TEST(test_write_v2_backing_raw)
{
    ImgConfig c = {"0.10", 4096, 16};
    g_autofree char *base = tq_path("v2-base.raw");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F raw", base);

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M", base);
    tq_sh_ok("qemu-io -f raw -c 'write -P 0x5a 0 1M' '%s' >/dev/null", base);
    top = make_img("v2-top.qcow2", &c, "2M", opt);
    random_writes(top, 2 * MiB, 40, 100 * 1024, 5);
}
END_TEST

START_TEST(test_write_unaligned_cow)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *base = tq_path("cow-base.raw");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F raw", base);
    BlockDriverState *bs;
    uint8_t buf[100];

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M", base);
    tq_sh_ok("qemu-io -f raw -c 'write -P 0x5a 0 1M' '%s' >/dev/null", base);
    top = make_img("cow-top.qcow2", &c, "1M", opt);
    bs = open_ok(top, false);
    memset(buf, 0xee, sizeof(buf));
    pwrite_ok(bs, 65536 - 50, sizeof(buf), buf); /* across two clusters */
    tq_close(bs);
    tq_assert_check_clean(top);
    tq_sh_ok("qemu-io -f qcow2 -c 'read -P 0x5a 0 65486' "
             "-c 'read -P 0xee 65486 100' -c 'read -P 0x5a 65586 982990' "
             "'%s' | grep -q 'read 982990/982990'",
             top);
}
END_TEST

/* Enough clusters that the refcount table (1 cluster) has to grow. */
static const ImgConfig grow_configs[] = {
    {"1.1", 512, 16},
    {"1.1", 512, 64},
    {"0.10", 512, 16},
    {"1.1", 1024, 64},
};

START_TEST(test_write_grows_refcount_table)
{
    ImgConfig c = grow_configs[_i];
    g_autofree char *img = NULL;
    uint64_t rt_before, rt_after;
    g_autofree uint8_t *buf = g_malloc(MiB);
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    img = make_img("grow.qcow2", &c, "24M", NULL);
    rt_before = tq_peek_be64(img, 48);
    bs = open_ok(img, false);
    for (int i = 0; i < 24; i++) {
        tq_fill(buf, MiB, i);
        pwrite_ok(bs, (int64_t)i * MiB, MiB, buf);
    }
    tq_close(bs);
    rt_after = tq_peek_be64(img, 48);
    ck_assert_uint_ne(rt_before, rt_after);
    tq_assert_check_clean(img);
    for (int i = 0; i < 24; i += 7) {
        g_autofree uint8_t *back = g_malloc(MiB);

        bs = open_ok(img, true);
        pread_ok(bs, (int64_t)i * MiB, MiB, back);
        tq_fill(buf, MiB, i);
        ck_assert(memcmp(buf, back, MiB) == 0);
        tq_close(bs);
    }
}
END_TEST

/* A virtual size that ends inside a cluster. */
START_TEST(test_write_unaligned_size)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *base = tq_path("us-base.raw");
    g_autofree char *img = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F raw", base);
    const size_t size = 3 * MiB + 1536;
    g_autofree char *size_str = g_strdup_printf("%zu", size);

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' %zu", base, size + 4096);
    tq_sh_ok("qemu-io -f raw -c 'write -P 0x5a 0 %zu' '%s' >/dev/null",
             size + 4096, base);
    img = make_img("us.qcow2", &c, size_str, opt);
    random_writes(img, size, 40, 100 * 1024, 3);
}
END_TEST

/* qemu-img preallocation: metadata only, and falloc. */
START_TEST(test_write_preallocated)
{
    static const char *const modes[] = {"metadata", "falloc", "full"};
    ImgConfig c = {_i == 2 ? "0.10" : "1.1", 65536, 16};
    g_autofree char *opt = g_strdup_printf("-o preallocation=%s", modes[_i]);
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("prealloc.qcow2", &c, "4M", opt);
    assert_reads_like_qemu(img, MiB);
    random_writes(img, 4 * MiB, 40, 200 * 1024, 21 + _i);
}
END_TEST

/* Tiny metadata caches: tables are evicted (and written back) all along. */
START_TEST(test_write_small_caches)
{
    ImgConfig c = {"1.1", 512, 16};
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("cache.qcow2", &c, "8M", NULL);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0xab 0 3M' '%s' >/dev/null", img);
    random_writes_opts(img, 8 * MiB, 60, 300 * 1024, 77,
                       "{\"l2-cache-size\": 0, \"refcount-cache-size\": 0}");
}
END_TEST

START_TEST(test_options)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *img = NULL;
    BlockDriverState *bs;
    GError *err = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("opts.qcow2", &c, "1M", NULL);
    bs = tq_qcow2_open_opts(img, true, "{\"encrypt\": {}}", &err);
    ck_assert_ptr_null(bs);
    ck_assert_msg(strstr(err->message, "encryption"), "%s", err->message);
    g_clear_error(&err);
    bs = tq_qcow2_open_opts(img, true, "{\"data-file\": \"x\"}", &err);
    ck_assert_ptr_null(bs);
    ck_assert_msg(strstr(err->message, "data file"), "%s", err->message);
    g_clear_error(&err);
    bs = tq_qcow2_open_opts(img, true, "{\"l2-cache-size\": \"big\"}", &err);
    ck_assert_ptr_null(bs);
    g_clear_error(&err);
    bs = tq_qcow2_open_opts(img, true,
                            "{\"l2-cache-size\": 1048576, "
                            "\"lazy-refcounts\": true}",
                            &err);
    ck_assert_ptr_nonnull(bs);
    tq_close(bs);
}
END_TEST

START_TEST(test_write_persists_across_reopen)
{
    ImgConfig c = {"1.1", 4096, 16};
    g_autofree char *img = NULL;

    TQ_REQUIRE_QEMU();
    img = make_img("reopen.qcow2", &c, "3M", NULL);
    random_writes(img, 3 * MiB, 20, 64 * 1024, 11);
    random_writes(img, 3 * MiB, 20, 64 * 1024, 12);
}
END_TEST

START_TEST(test_write_read_only_refused)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *img = NULL;
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t buf[512] = {1};

    TQ_REQUIRE_QEMU();
    img = make_img("ro.qcow2", &c, "1M", NULL);
    bs = open_ok(img, true);
    ck_assert_int_lt(bdrv_qcow2.bdrv_pwrite(bs, 0, sizeof(buf), buf, &err), 0);
    ck_assert_ptr_nonnull(strstr(err->message, "read-only"));
    g_clear_error(&err);
    ck_assert_int_lt(bdrv_pwrite(bs, 0, sizeof(buf), buf, &err), 0);
    g_clear_error(&err);
    ck_assert_int_lt(bdrv_qcow2.bdrv_change_backing_file(bs, "x", "raw", &err),
                     0);
    g_clear_error(&err);
    tq_close(bs);
    tq_sh_ok("qemu-io -f qcow2 -c 'read -P 0 0 1M' '%s' >/dev/null", img);
}
END_TEST

START_TEST(test_write_out_of_range)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *img = NULL;
    BlockDriverState *bs;
    GError *err = NULL;
    uint8_t buf[512] = {1};

    TQ_REQUIRE_QEMU();
    img = make_img("range.qcow2", &c, "1M", NULL);
    bs = open_ok(img, false);
    ck_assert_int_lt(bdrv_pwrite(bs, MiB - 256, sizeof(buf), buf, &err), 0);
    ck_assert_ptr_nonnull(strstr(err->message, "outside the virtual size"));
    g_clear_error(&err);
    ck_assert_int_lt(bdrv_pread(bs, MiB, 1, buf, &err), 0);
    g_clear_error(&err);
    tq_close(bs);
    tq_assert_check_clean(img);
}
END_TEST

static char *info_json(const char *img)
{
    char *out = NULL;

    ck_assert_int_eq(tq_sh(&out, "qemu-img info --output=json '%s'", img), 0);
    return out;
}

START_TEST(test_change_backing_file)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *old_base = tq_path("old.raw");
    g_autofree char *new_base = tq_path("new.qcow2");
    g_autofree char *opt = g_strdup_printf("-b '%s' -F raw", old_base);
    g_autofree char *img = NULL;
    g_autofree char *info = NULL;
    g_autofree char *want = NULL;
    g_autofree char *long_name = g_strnfill(1100, 'x');
    BlockDriverState *bs;
    GError *err = NULL;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M", old_base);
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 1M", new_base);
    img = make_img("cb.qcow2", &c, "1M", opt);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 7 0 64k' '%s' >/dev/null", img);
    bs = open_ok(img, false);
    ck_assert_int_eq(
        bdrv_qcow2.bdrv_change_backing_file(bs, new_base, "qcow2", &err), 0);
    ck_assert_int_lt(
        bdrv_qcow2.bdrv_change_backing_file(bs, "/dev/fdset/3", "raw", &err),
        0);
    ck_assert_ptr_nonnull(strstr(err->message, "/dev/fdset/3"));
    g_clear_error(&err);
    ck_assert_int_lt(
        bdrv_qcow2.bdrv_change_backing_file(bs, long_name, "raw", &err), 0);
    g_clear_error(&err);
    ck_assert_str_eq(bdrv_qcow2.bdrv_get_backing_file(bs), new_base);
    tq_close(bs);

    info = info_json(img);
    want = g_strdup_printf("\"backing-filename\": \"%s\"", new_base);
    ck_assert_msg(strstr(info, want), "%s", info);
    ck_assert_msg(strstr(info, "\"backing-filename-format\": \"qcow2\""), "%s",
                  info);
    tq_assert_check_clean(img);
    tq_sh_ok("qemu-io -f qcow2 -c 'read -P 7 0 64k' '%s' >/dev/null", img);

    bs = open_ok(img, false);
    ck_assert_int_eq(bdrv_qcow2.bdrv_change_backing_file(bs, NULL, NULL, &err),
                     0);
    tq_close(bs);
    g_free(info);
    info = info_json(img);
    ck_assert_msg(!strstr(info, "backing-filename"), "%s", info);
    tq_assert_check_clean(img);
}
END_TEST

/*
 * A large aligned request costs a handful of calls on the file, not one
 * per cluster: data is written and read in one piece per contiguous run.
 */
START_TEST(test_large_requests_are_coalesced)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *img = NULL;
    const size_t req = 8 * MiB, total = 64 * MiB;
    g_autofree uint8_t *buf = g_malloc(req);
    BlockDriverState *bs;
    TestFile *tf;

    TQ_REQUIRE_QEMU();
    img = make_img("perf.qcow2", &c, "64M", NULL);
    bs = open_ok(img, false);
    tf = tq_stats(bs);
    for (size_t off = 0; off < total; off += req) {
        tq_fill(buf, req, off);
        pwrite_ok(bs, off, req, buf);
    }
    /* per request: data, refcount block range, L2 range (+ L1 once) */
    ck_assert_uint_le(tf->pwrites, 3 * (total / req) + 4);
    tq_close(bs);

    bs = open_ok(img, true);
    tf = tq_stats(bs);
    tf->preads = 0;
    for (size_t off = 0; off < total; off += req) {
        pread_ok(bs, off, req, buf);
    }
    ck_assert_uint_le(tf->preads, total / req + 2);
    tq_close(bs);
    tq_assert_check_clean(img);
}
END_TEST

static BlockDriverState *core_open(const char *img, bool direct)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"read-only\": true, "
        "\"cache\": {\"direct\": %s}, "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        direct ? "true" : "false", img);
    g_autoptr(JsonNode) opts = json_from_string(json, NULL);
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open_options(json_node_get_object(opts), &err);

    ck_assert_msg(bs, "bdrv_open_options: %s", err ? err->message : "?");
    return bs;
}

/*
 * Through the block core and the real file driver (with and without
 * O_DIRECT): backing chain resolved from the header, reopen read-write,
 * writes, a backing file change, reopen read-only, close.
 */
START_TEST(test_core_chain)
{
    ImgConfig c = {"1.1", 65536, 16};
    g_autofree char *base = tq_path("core-base.qcow2");
    g_autofree char *top = NULL;
    g_autofree char *opt = g_strdup_printf("-b '%s' -F qcow2", base);
    g_autofree uint8_t *want = NULL, *got = g_malloc(4 * MiB);
    g_autofree uint8_t *buf = g_malloc(MiB + 1000);
    BlockDriverState *bs;
    GError *err = NULL;
    int64_t pnum;
    size_t len;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 4M", base);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x5a 0 4M' '%s' >/dev/null", base);
    top = make_img("core-top.qcow2", &c, "4M", opt);
    tq_sh_ok("qemu-io -f qcow2 -c 'write -P 0x11 1M 64k' '%s' >/dev/null", top);
    want = tq_raw_content(top, &len);
    bs = core_open(top, _i);
    ck_assert_ptr_nonnull(bs->backing);
    pread_ok(bs, 0, 4 * MiB, got);
    ck_assert(memcmp(want, got, 4 * MiB) == 0);

    ck_assert_msg(bdrv_reopen_set_read_only(bs, false, true, &err), "%s",
                  err ? err->message : "");
    tq_fill(buf, MiB + 1000, 5);
    pwrite_ok(bs, 300, MiB + 1000, buf);
    memcpy(want + 300, buf, MiB + 1000);
    ck_assert_int_eq(bdrv_is_allocated(bs, 0, 4 * MiB, &pnum, NULL), 1);
    ck_assert_int_eq(pnum, 17 * 65536); /* 300 .. 1 MiB + 64 KiB */
    ck_assert_int_eq(bdrv_change_backing_file(bs, base, "qcow2", &err), 0);
    ck_assert_msg(bdrv_reopen_set_read_only(bs, true, false, &err), "%s",
                  err ? err->message : "");
    pread_ok(bs, 0, 4 * MiB, got);
    ck_assert(memcmp(want, got, 4 * MiB) == 0);
    bdrv_unref(bs);

    tq_assert_check_clean(top);
    g_free(got);
    got = tq_raw_content(top, &len);
    ck_assert(len == 4 * MiB && memcmp(want, got, len) == 0);
}
END_TEST

static Suite *qcow2_suite(void)
{
    Suite *s = suite_create("qcow2");
    TCase *tc = tcase_create("io");
    int n = G_N_ELEMENTS(configs);

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_read_patterns, 0, n);
    tcase_add_test(tc, test_read_backing_raw);
    tcase_add_test(tc, test_read_backing_qcow2);
    tcase_add_test(tc, test_backing_name_and_format);
    tcase_add_test(tc, test_allocation_status);
    tcase_add_loop_test(tc, test_write_random, 0, n);
    tcase_add_test(tc, test_write_over_backing);
    tcase_add_test(tc, test_write_v2_backing_raw);
    tcase_add_test(tc, test_write_unaligned_cow);
    tcase_add_loop_test(tc, test_write_grows_refcount_table, 0,
                        G_N_ELEMENTS(grow_configs));
    tcase_add_test(tc, test_write_unaligned_size);
    tcase_add_loop_test(tc, test_write_preallocated, 0, 3);
    tcase_add_test(tc, test_write_small_caches);
    tcase_add_test(tc, test_options);
    tcase_add_test(tc, test_write_persists_across_reopen);
    tcase_add_test(tc, test_write_read_only_refused);
    tcase_add_test(tc, test_write_out_of_range);
    tcase_add_test(tc, test_change_backing_file);
    tcase_add_test(tc, test_large_requests_are_coalesced);
    tcase_add_loop_test(tc, test_core_chain, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(qcow2_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
