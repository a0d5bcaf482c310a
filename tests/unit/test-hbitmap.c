/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The dirty bitmap against a plain array of booleans: random sets and
 * resets, every query compared; serialization round trips; QEMU's count
 * and sha256 conventions.
 */
#include <check.h>
#include <string.h>

#include "qemu/hbitmap.h"

/* The model: one bool per granule. */
typedef struct Model {
    uint64_t size, gran, n;
    bool *bits;
} Model;

static void model_change(Model *m, uint64_t off, uint64_t bytes, bool set)
{
    if (!bytes || off >= m->size) {
        return;
    }
    bytes = MIN(bytes, m->size - off);
    for (uint64_t g = off / m->gran; g <= (off + bytes - 1) / m->gran; g++) {
        m->bits[g] = set;
    }
}

static int64_t model_next(const Model *m, uint64_t off, uint64_t end,
                          bool dirty)
{
    end = MIN(end, m->size);
    for (uint64_t g = off / m->gran; g < m->n; g++) {
        uint64_t at = MAX(g * m->gran, off);

        if (at >= end) {
            return -1;
        }
        if (m->bits[g] == dirty) {
            return at;
        }
    }
    return -1;
}

static void check_against_model(HBitmap *hb, const Model *m, GRand *r)
{
    uint64_t count = 0;

    for (uint64_t g = 0; g < m->n; g++) {
        count += m->bits[g];
        ck_assert_int_eq(hbitmap_get(hb, g * m->gran), m->bits[g]);
    }
    ck_assert_uint_eq(hbitmap_count(hb), count * m->gran);
    for (int i = 0; i < 50; i++) {
        uint64_t off = g_rand_int_range(r, 0, m->size + 1);
        uint64_t end = off + g_rand_int_range(r, 0, m->size + 1);

        ck_assert_int_eq(hbitmap_next_dirty(hb, off, end),
                         model_next(m, off, end, true));
        ck_assert_int_eq(hbitmap_next_zero(hb, off, end),
                         model_next(m, off, end, false));
    }
}

static void run_random(uint64_t size, uint64_t gran, guint32 seed)
{
    g_autoptr(GRand) r = g_rand_new_with_seed(seed);
    g_autoptr(HBitmap) hb = hbitmap_new(size, gran);
    Model m = { size, gran, (size + gran - 1) / gran, NULL };

    m.bits = g_new0(bool, m.n + 1);
    for (int step = 0; step < 300; step++) {
        uint64_t off = g_rand_int_range(r, 0, size + gran);
        uint64_t len = g_rand_int_range(r, 0, size / 4 + 2);
        bool set = g_rand_boolean(r) || g_rand_boolean(r);

        if (set) {
            hbitmap_set(hb, off, len);
        } else {
            hbitmap_reset(hb, off, len);
        }
        model_change(&m, off, len, set);
        if (step % 30 == 0) {
            check_against_model(hb, &m, r);
        }
    }
    check_against_model(hb, &m, r);
    g_free(m.bits);
}

START_TEST(test_random_small_granules)
{
    run_random(100000, 512, 1);
    run_random(64 * 512 * 70 + 3, 512, 2); /* spans summary words */
}
END_TEST

START_TEST(test_random_large_granules)
{
    run_random(10 * 65536 + 1, 65536, 3);
    run_random(1 << 20, 4096, 4);
}
END_TEST

START_TEST(test_dirty_area_and_max_len)
{
    g_autoptr(HBitmap) hb = hbitmap_new(1 << 20, 4096);
    uint64_t start, len;

    hbitmap_set(hb, 8192, 3 * 4096);
    hbitmap_set(hb, 65536, 1);
    ck_assert(hbitmap_next_dirty_area(hb, 0, 1 << 20, 0, &start, &len));
    ck_assert_uint_eq(start, 8192);
    ck_assert_uint_eq(len, 3 * 4096);
    ck_assert(hbitmap_next_dirty_area(hb, 0, 1 << 20, 4096, &start, &len));
    ck_assert_uint_eq(len, 4096);
    ck_assert(hbitmap_next_dirty_area(hb, 9000, 1 << 20, 0, &start, &len));
    ck_assert_uint_eq(start, 9000);
    ck_assert_uint_eq(len, 8192 + 3 * 4096 - 9000);
    ck_assert(hbitmap_next_dirty_area(hb, 20480, 1 << 20, 0, &start, &len));
    ck_assert_uint_eq(start, 65536);
    ck_assert_uint_eq(len, 4096);
    ck_assert(!hbitmap_next_dirty_area(hb, 69632, 1 << 20, 0, &start, &len));
    /* A one-byte write dirties the whole granule, counted whole. */
    ck_assert_uint_eq(hbitmap_count(hb), 4 * 4096);
}
END_TEST

START_TEST(test_serialize_round_trip)
{
    g_autoptr(HBitmap) hb = hbitmap_new(1000 * 512, 512);
    g_autoptr(HBitmap) back = hbitmap_new(1000 * 512, 512);
    uint8_t buf[128];

    hbitmap_set(hb, 0, 1);
    hbitmap_set(hb, 9 * 512, 512);
    hbitmap_set(hb, 130 * 512, 200 * 512);
    hbitmap_set(hb, 999 * 512, 512);
    hbitmap_serialize(hb, 0, 1000, buf);
    ck_assert_uint_eq(buf[0], 0x01);
    ck_assert_uint_eq(buf[1], 0x02); /* granule 9: byte 1, bit 1 */
    hbitmap_deserialize(back, 0, 512, buf);
    hbitmap_deserialize(back, 512, 488, buf + 64);
    for (uint64_t g = 0; g < 1000; g++) {
        ck_assert_int_eq(hbitmap_get(back, g * 512), hbitmap_get(hb, g * 512));
    }
    ck_assert_uint_eq(hbitmap_count(back), hbitmap_count(hb));
    ck_assert(hbitmap_granules_clean(hb, 1, 8));
    ck_assert(!hbitmap_granules_clean(hb, 1, 9));
}
END_TEST

START_TEST(test_merge_copy_and_granularity)
{
    g_autoptr(HBitmap) a = hbitmap_new(1 << 20, 65536);
    g_autoptr(HBitmap) b = hbitmap_new(1 << 20, 4096);
    g_autoptr(HBitmap) c = NULL;

    hbitmap_set(b, 4096, 4096);
    hbitmap_set(a, 0, 65536 * 3);
    hbitmap_merge(a, b);
    ck_assert_uint_eq(hbitmap_count(a), 3 * 65536);
    hbitmap_merge(b, a);
    ck_assert_uint_eq(hbitmap_count(b), 3 * 65536);
    c = hbitmap_copy(b);
    hbitmap_reset(b, 0, 1 << 20);
    ck_assert_uint_eq(hbitmap_count(b), 0);
    ck_assert_uint_eq(hbitmap_count(c), 3 * 65536);
}
END_TEST

START_TEST(test_sha256_as_qemu)
{
    /* An empty 1 MiB bitmap at 64 KiB granules is one zero word: QEMU's
     * x-debug-block-dirty-bitmap-sha256 hashes those 8 bytes. */
    g_autoptr(HBitmap) hb = hbitmap_new(1 << 20, 65536);
    g_autofree char *empty = hbitmap_sha256(hb);
    g_autofree char *want = g_compute_checksum_for_data(
        G_CHECKSUM_SHA256, (const guchar *)"\0\0\0\0\0\0\0\0", 8);
    g_autofree char *dirty = NULL;

    ck_assert_str_eq(empty, want);
    hbitmap_set(hb, 0, 1);
    dirty = hbitmap_sha256(hb);
    ck_assert_str_ne(dirty, empty);
}
END_TEST

START_TEST(test_truncate_as_qemu)
{
    /* Digests QEMU 7.2 gave for the same writes and block_resizes
     * (x-debug-block-dirty-bitmap-sha256 on a raw node, 4 KiB granules). */
    g_autoptr(HBitmap) hb = hbitmap_new(1 << 20, 4096);
    g_autofree char *grown = NULL, *shrunk = NULL;

    hbitmap_set(hb, 1044480, 4096);
    hbitmap_truncate(hb, 2 << 20);
    ck_assert(!hbitmap_get(hb, 1 << 20)); /* clean past the old end */
    hbitmap_set(hb, 2093056, 4096);
    ck_assert_uint_eq(hbitmap_count(hb), 8192);
    grown = hbitmap_sha256(hb);
    ck_assert_str_eq(grown, "12d9775bb769dcd5ba53b30741b953fc"
                            "cd709078be48b4c7d0f94266711b0508");
    hbitmap_truncate(hb, 1000448);
    ck_assert_uint_eq(hbitmap_count(hb), 0);
    ck_assert_uint_eq(hbitmap_size(hb), 1000448);
    ck_assert_int_eq(hbitmap_next_dirty(hb, 0, 1 << 20), -1);
    shrunk = hbitmap_sha256(hb);
    ck_assert_str_eq(shrunk, "66687aadf862bd776c8fc18b8e9f8e20"
                             "089714856ee233b3902a591d0d5f2925");
    /* growing again brings no old bit back */
    hbitmap_truncate(hb, 2 << 20);
    ck_assert_uint_eq(hbitmap_count(hb), 0);
    hbitmap_set(hb, (2 << 20) - 1, 1);
    ck_assert_uint_eq(hbitmap_count(hb), 4096);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("hbitmap");
    TCase *tc = tcase_create("hbitmap");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_random_small_granules);
    tcase_add_test(tc, test_random_large_granules);
    tcase_add_test(tc, test_dirty_area_and_max_len);
    tcase_add_test(tc, test_serialize_round_trip);
    tcase_add_test(tc, test_merge_copy_and_granularity);
    tcase_add_test(tc, test_sha256_as_qemu);
    tcase_add_test(tc, test_truncate_as_qemu);
    tcase_set_timeout(tc, 30);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
