/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The flags API through the real block core and file driver, on images made
 * and checked by qemu-img: qcow2 v3/v2 write-zeroes, discard, block status
 * down a chain, raw fallocate paths and FUA, the file driver's status cache.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "block-io-test-util.h"

static void expect_status(BlockDriverState *bs, int64_t offset, int64_t bytes,
                          int want, int64_t want_pnum, int want_depth)
{
    int64_t pnum;
    int depth;
    int ret = bdrv_block_status(bs, offset, bytes, &pnum, &depth, NULL);

    ck_assert_msg(ret == want && pnum == want_pnum && depth == want_depth,
                  "status at %" PRId64 ": %d/%" PRId64 "/%d, want %d/%" PRId64
                  "/%d", offset, ret, pnum, depth, want, want_pnum,
                  want_depth);
}

#define ST_DATA (BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED)
#define ST_ZERO (BDRV_BLOCK_ZERO | BDRV_BLOCK_ALLOCATED)

/*
 * v3 zeroes: zero clusters (preallocation kept, or freed with MAY_UNMAP),
 * partial clusters written as zeroes, NO_FALLBACK refused on a partial
 * data cluster before anything changes and accepted where it reads zero.
 */
START_TEST(test_qcow2_zeroes_v3)
{
    g_autofree char *img = tq_path("zero3.qcow2");
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 1M && "
             "qemu-io -c 'write -P 0x55 0 256k' '%s' >/dev/null", img, img);
    bs = open_qcow2(img);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 64 * KiB, 0, NULL), 0);
    expect_status(bs, 0, MiB, ST_ZERO, 64 * KiB, 1);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 64 * KiB, 64 * KiB,
                                        BDRV_REQ_MAY_UNMAP, NULL), 0);
    expect_status(bs, 64 * KiB, 64 * KiB, BDRV_BLOCK_ZERO, 64 * KiB, 0);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 132 * KiB, 4 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), -ENOTSUP);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 4 * KiB, 4 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 196 * KiB, 8 * KiB,
                                        BDRV_REQ_FUA, NULL), 0);
    /* whole and partial together, through the end of the image */
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 1000 * KiB, 24 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), 0);
    bdrv_unref(bs);
    tq_assert_check_clean(img);
    tq_sh_ok("qemu-io -c 'read -P 0 0 128k' -c 'read -P 0x55 128k 68k' "
             "-c 'read -P 0 196k 8k' -c 'read -P 0x55 204k 52k' "
             "-c 'read -P 0 256k 768k' '%s' >/dev/null", img);
    /* preallocated zero cluster, then one given back */
    tq_sh_ok("qemu-img map --output=json '%s' > '%s.map' && grep -q "
             "'\"start\": 0, \"length\": 65536, \"depth\": 0, "
             "\"present\": true, \"zero\": true, \"data\": false' "
             "'%s.map' && grep -q '\"start\": 65536, \"length\": 65536, "
             "\"depth\": 0, \"present\": false, \"zero\": true' '%s.map'",
             img, img, img, img);
}
END_TEST

/* v2 has no zero flag: deallocation without a backing file, -ENOTSUP
 * (then zero buffers unless NO_FALLBACK) over one. */
START_TEST(test_qcow2_zeroes_v2)
{
    g_autofree char *img = tq_path("zero2.qcow2");
    g_autofree char *top = NULL;
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 -o compat=0.10 '%s' 1M && "
             "qemu-io -c 'write -P 0x55 0 256k' '%s' >/dev/null", img, img);
    bs = open_qcow2(img);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 128 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), 0);
    expect_status(bs, 0, MiB, BDRV_BLOCK_ZERO, 128 * KiB, 0);
    bdrv_unref(bs);
    tq_assert_check_clean(img);

    top = make_chain("zero2top", "1M", "-o compat=0.10");
    bs = open_qcow2(top);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 64 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), -ENOTSUP);
    expect_pattern(bs, 0, 64 * KiB, BASE_BYTE);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 64 * KiB, 0, NULL), 0);
    expect_pattern(bs, 0, 64 * KiB, 0);
    expect_status(bs, 0, MiB, ST_DATA, 64 * KiB, 1);
    bdrv_unref(bs);
    tq_assert_check_clean(top);
    tq_sh_ok("qemu-img info '%s' | "
             "grep -q 'compat: 0.10'", top);
}
END_TEST

/*
 * Discard frees whole clusters (space punched, refcounts 0, no leak);
 * over a backing file they become zero clusters, not the backing's data;
 * with discard=ignore nothing happens.
 */
START_TEST(test_qcow2_discard)
{
    g_autofree char *img = tq_path("discard.qcow2");
    g_autofree char *top = NULL;
    BlockDriverState *bs;
    int64_t before, after;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 4M && "
             "qemu-io -c 'write -P 0x55 0 2M' '%s' >/dev/null", img, img);
    bs = open_qcow2(img);
    before = bdrv_file_allocated_size(bs->file);
    /* partial clusters at both ends stay */
    ck_assert_int_eq(bdrv_pdiscard(bs, 4 * KiB, 1 * MiB + 60 * KiB, NULL), 0);
    after = bdrv_file_allocated_size(bs->file);
    ck_assert_int_le(after, before - MiB + 64 * KiB); /* fs slack */
    expect_pattern(bs, 0, 64 * KiB, 0x55);
    expect_status(bs, 64 * KiB, 4 * MiB - 64 * KiB, BDRV_BLOCK_ZERO, MiB, 0);
    expect_pattern(bs, 64 * KiB, MiB, 0);
    expect_pattern(bs, MiB + 64 * KiB, MiB - 64 * KiB, 0x55);
    bdrv_unref(bs);
    tq_assert_check_clean(img);

    top = make_chain("discardtop", "1M", "");
    tq_sh_ok("qemu-io -c 'write -P 0x66 0 256k' '%s' >/dev/null", top);
    bs = open_qcow2(top);
    ck_assert_int_eq(bdrv_pdiscard(bs, 0, 128 * KiB, NULL), 0);
    expect_pattern(bs, 0, 128 * KiB, 0);
    expect_status(bs, 0, MiB, ST_ZERO, 128 * KiB, 1);
    bdrv_unref(bs);
    tq_assert_check_clean(top);

    bs = open_json("{\"driver\": \"qcow2\", \"file\": {\"driver\": \"file\", "
                   "\"filename\": \"%s\"}}", top); /* discard=ignore */
    ck_assert_int_eq(bdrv_pdiscard(bs, 128 * KiB, 128 * KiB, NULL), 0);
    expect_pattern(bs, 128 * KiB, 128 * KiB, 0x66);
    bdrv_unref(bs);
}
END_TEST

/*
 * Block status down a chain: top qcow2 (data, a zero cluster) over a mid
 * qcow2 over a raw base whose holes read as zeroes; and a raw node's
 * holes and data straight from the file (SEEK_DATA/SEEK_HOLE).
 */
START_TEST(test_block_status_chain)
{
    g_autofree char *base = tq_path("st-base.raw");
    g_autofree char *mid = tq_path("st-mid.qcow2");
    g_autofree char *top = tq_path("st-top.qcow2");
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 2M && "
             "qemu-io -f raw -c 'write -P 1 0 64k' '%s' >/dev/null && "
             "qemu-img create -q -f qcow2 -b '%s' -F raw '%s' && "
             "qemu-io -c 'write -P 2 64k 64k' '%s' >/dev/null && "
             "qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s' && "
             "qemu-io -c 'write -P 3 128k 64k' -c 'write -z 192k 64k' "
             "'%s' >/dev/null",
             base, base, base, mid, mid, mid, top, top);
    bs = open_qcow2(top);
    expect_status(bs, 0, 2 * MiB, ST_DATA, 64 * KiB, 3);
    expect_status(bs, 64 * KiB, 2 * MiB - 64 * KiB, ST_DATA, 64 * KiB, 2);
    expect_status(bs, 128 * KiB, 2 * MiB - 128 * KiB, ST_DATA, 64 * KiB, 1);
    expect_status(bs, 192 * KiB, 2 * MiB - 192 * KiB, ST_ZERO, 64 * KiB, 1);
    /* the base's hole: allocated there (raw holds everything), zero */
    expect_status(bs, 256 * KiB, 2 * MiB - 256 * KiB, ST_ZERO,
                  2 * MiB - 256 * KiB, 3);
    bdrv_unref(bs);

    bs = open_json("{\"driver\": \"raw\", \"file\": {\"driver\": \"file\", "
                   "\"filename\": \"%s\"}}", base);
    expect_status(bs, 0, 2 * MiB, ST_DATA, 64 * KiB, 1);
    expect_status(bs, 64 * KiB, 2 * MiB - 64 * KiB, ST_ZERO,
                  2 * MiB - 64 * KiB, 1);
    bdrv_unref(bs);
}
END_TEST

/* Raw zeroes and discard: holes punched with MAY_UNMAP (discard=unmap),
 * ZERO_RANGE otherwise, beyond the old end too; FUA writes. */
START_TEST(test_raw_zeroes_discard_fua)
{
    g_autofree char *img = tq_path("rawz.img");
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;
    struct stat st;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-io -f raw -c 'write -P 0x77 0 1M' '%s' >/dev/null",
             img, img);
    bs = open_json("{\"driver\": \"raw\", \"discard\": \"unmap\", "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 256 * KiB,
                                        BDRV_REQ_MAY_UNMAP |
                                        BDRV_REQ_NO_FALLBACK, NULL), 0);
    expect_status(bs, 0, MiB, ST_ZERO, 256 * KiB, 1);
    ck_assert_int_eq(bdrv_pdiscard(bs, 512 * KiB, 256 * KiB, NULL), 0);
    expect_status(bs, 512 * KiB, 512 * KiB, ST_ZERO, 256 * KiB, 1);
    expect_pattern(bs, 512 * KiB, 256 * KiB, 0);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 300 * KiB, 4 * KiB,
                                        BDRV_REQ_NO_FALLBACK, NULL), 0);
    expect_pattern(bs, 300 * KiB, 4 * KiB, 0);
    expect_pattern(bs, 256 * KiB, 44 * KiB, 0x77);
    memset(buf, 0x78, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite_flags(bs, 800 * KiB, sizeof(buf), buf,
                                       BDRV_REQ_FUA, NULL), 0);
    expect_pattern(bs, 800 * KiB, sizeof(buf), 0x78);
    bdrv_unref(bs);
    ck_assert_int_eq(stat(img, &st), 0);
    ck_assert_int_eq(st.st_size, MiB);
    ck_assert_int_le(st.st_blocks * 512, 600 * KiB);
    tq_sh_ok("qemu-io -f raw -c 'read -P 0 0 256k' -c 'read -P 0x77 256k 44k' "
             "-c 'read -P 0 300k 4k' -c 'read -P 0x77 304k 208k' "
             "-c 'read -P 0 512k 256k' -c 'read -P 0x78 800k 4k' '%s' "
             ">/dev/null", img);
}
END_TEST

/*
 * The file driver's cache of known data: a fully written file's status
 * comes from it once probed (a hole punched behind the node's back still
 * reads as data: the cache's safe answer), and every call of the node's
 * own that makes holes (discard, zeroes, truncate) is seen at once.
 */
START_TEST(test_raw_status_cache)
{
    g_autofree char *img = tq_path("rawcache.img");
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-io -f raw -c 'write -P 0x55 0 1M' '%s' >/dev/null",
             img, img);
    bs = open_json("{\"driver\": \"raw\", \"discard\": \"unmap\", "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    expect_status(bs, 0, MiB, ST_DATA, MiB, 1);
    expect_status(bs, 512 * KiB, 4 * KiB, ST_DATA, 4 * KiB, 1);
    /* another process's punch: the cached answer stands, reads are right */
    tq_sh_ok("fallocate -p -o 0 -l 64KiB '%s'", img);
    expect_status(bs, 0, MiB, ST_DATA, MiB, 1);
    expect_pattern(bs, 0, 64 * KiB, 0);

    ck_assert_int_eq(bdrv_pdiscard(bs, 256 * KiB, 256 * KiB, NULL), 0);
    expect_status(bs, 0, MiB, ST_ZERO, 64 * KiB, 1);
    expect_status(bs, 64 * KiB, MiB - 64 * KiB, ST_DATA, 192 * KiB, 1);
    expect_status(bs, 256 * KiB, 768 * KiB, ST_ZERO, 256 * KiB, 1);
    memset(buf, 0x56, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite(bs, 256 * KiB, sizeof(buf), buf, NULL), 0);
    expect_status(bs, 256 * KiB, 768 * KiB, ST_DATA, 4 * KiB, 1);

    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 768 * KiB, 64 * KiB,
                                        BDRV_REQ_MAY_UNMAP, NULL), 0);
    expect_status(bs, 768 * KiB, 256 * KiB, ST_ZERO, 64 * KiB, 1);
    expect_status(bs, 832 * KiB, 192 * KiB, ST_DATA, 192 * KiB, 1);
    ck_assert_int_eq(bdrv_truncate(bs, 900 * KiB, NULL), 0);
    ck_assert_int_eq(bdrv_truncate(bs, MiB, NULL), 0);
    expect_status(bs, 832 * KiB, 192 * KiB, ST_DATA, 68 * KiB, 1);
    expect_status(bs, 900 * KiB, 124 * KiB, ST_ZERO, 124 * KiB, 1);
    bdrv_unref(bs);
}
END_TEST

typedef struct StatusProber {
    BlockDriverState *bs;
    gint *stop;
    unsigned seed;
    bool dropper; /* punches the scratch block instead: empties the cache */
} StatusProber;

#define SCRATCH (960 * KiB) /* [SCRATCH, 1M): the dropper's block */

/* Block status all over the file, filling the cache, until told to stop. */
static gpointer prober_run(gpointer opaque)
{
    StatusProber *p = opaque;

    while (!g_atomic_int_get(p->stop)) {
        int64_t off = (rand_r(&p->seed) % 256) * 4 * KiB;
        int64_t pnum;
        int depth;

        if (p->dropper) {
            ck_assert_int_eq(bdrv_pdiscard(p->bs, SCRATCH, MiB - SCRATCH,
                                           NULL), 0);
            continue;
        }
        ck_assert_int_ge(bdrv_block_status(p->bs, off, MiB - off, &pnum,
                                           &depth, NULL), 0);
    }
    return NULL;
}

/*
 * Probes racing with punches: a probe that saw data before a discard must
 * not put its answer back after the discard returned, so the punched
 * range reads as a hole right after every discard, and as data after the
 * rewrite.  A fourth thread keeps emptying the cache (punching a block of
 * its own), so that the probers keep asking the kernel.
 */
START_TEST(test_raw_status_cache_races)
{
    g_autofree char *img = tq_path("rawrace.img");
    g_autofree uint8_t *buf = g_malloc(64 * KiB);
    StatusProber p[4];
    GThread *th[4];
    gint stop = 0;
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-io -f raw -c 'write -P 0x33 0 1M' '%s' >/dev/null",
             img, img);
    bs = open_json("{\"driver\": \"raw\", \"discard\": \"unmap\", "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    memset(buf, 0x33, 64 * KiB);
    for (int i = 0; i < 4; i++) {
        p[i] = (StatusProber){
            .bs = bs, .stop = &stop, .seed = i + 1, .dropper = i == 3};
        th[i] = g_thread_new("prober", prober_run, &p[i]);
    }
    for (int i = 0; i < 2000; i++) {
        int64_t off = (i * 7 % 15) * 64 * KiB; /* below SCRATCH */

        ck_assert_int_eq(bdrv_pdiscard(bs, off, 64 * KiB, NULL), 0);
        expect_status(bs, off, 64 * KiB, ST_ZERO, 64 * KiB, 1);
        ck_assert_int_eq(bdrv_pwrite(bs, off, 64 * KiB, buf, NULL), 0);
        expect_status(bs, off, 64 * KiB, ST_DATA, 64 * KiB, 1);
    }
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
    }
    expect_pattern(bs, 0, SCRATCH, 0x33);
    bdrv_unref(bs);
}
END_TEST

static gpointer nowait_read_32k(gpointer bs)
{
    uint8_t buf[4 * KiB];

    return GINT_TO_POINTER(bdrv_pread_nowait(bs, 32 * KiB, sizeof(buf), buf));
}

/*
 * Does a never-waiting read of dropped pages come back -EAGAIN?  RWF_NOWAIT
 * may start readahead, and when that is done before the kernel looks again
 * the read succeeds: allowed, with the right data, but not every time.  So
 * the read spans 512 KiB (guest 256k under a 4k raw offset): several
 * readahead windows, each a race the disk must win, and a full suite run
 * under ASan on 2 cores still saw one 4 KiB read win 5 tries in a row.
 * Each try reads through a node of its own.  False if the pages could not
 * be dropped at all.
 */
static bool uncached_read_refused(const char *img)
{
    const size_t len = 512 * KiB;
    g_autofree uint8_t *buf = g_malloc(len);
    bool dropped = false;

    for (int try = 0; try < 10; try++) {
        BlockDriverState *bs;
        int ret;

        if (!page_dropped(img, 260 * KiB)) {
            continue;
        }
        dropped = true;
        bs = open_json("{\"driver\": \"raw\", \"offset\": 4096, "
                       "\"file\": {\"driver\": \"file\", "
                       "\"filename\": \"%s\"}}", img);
        memset(buf, 0, len);
        ret = bdrv_pread_nowait(bs, 256 * KiB, len, buf);
        bdrv_unref(bs);
        if (ret == -EAGAIN) {
            return true;
        }
        ck_assert_int_eq(ret, 0);
        ck_assert(all_bytes(buf, len, 0x5c));
    }
    ck_assert_msg(!dropped, "every never-waiting read of dropped pages "
                  "succeeded");
    return false;
}

/*
 * The never-waiting read: what the page cache holds comes back (and is
 * counted), what it does not is -EAGAIN with nothing reported; so is
 * O_DIRECT, a range beyond a raw window, a drained node and a node
 * without it (blkdebug under a qcow2).
 */
START_TEST(test_pread_nowait)
{
    g_autofree char *img = tq_path("nowait.img");
    g_autofree char *q = tq_path("nowait.qcow2");
    uint8_t buf[8 * KiB];
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-io -f raw -c 'write -P 0x5c 0 1M' '%s' >/dev/null && "
             "qemu-img create -q -f qcow2 '%s' 1M", img, img, q);
    bs = open_json("{\"driver\": \"raw\", \"offset\": 4096, \"size\": 65536, "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    ck_assert_int_eq(bdrv_pread(bs, 0, sizeof(buf), buf, NULL), 0);
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(bdrv_pread_nowait(bs, 0, sizeof(buf), buf), 0);
    ck_assert(all_bytes(buf, sizeof(buf), 0x5c));
    ck_assert_int_eq(bdrv_pread_nowait(bs, 60 * KiB, 8 * KiB, buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pread_nowait(bs, 0, 0, buf), -EAGAIN);
    if (uncached_read_refused(img)) { /* read once: cached again */
        ck_assert_int_eq(bdrv_pread(bs, 32 * KiB, 4 * KiB, buf, NULL), 0);
        ck_assert_int_eq(bdrv_pread_nowait(bs, 32 * KiB, 4 * KiB, buf), 0);
    }
    /* drained by this thread: another one's read does not wait */
    bdrv_drained_begin(bs->file);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(g_thread_new(
                         "nowait", nowait_read_32k, bs))), -EAGAIN);
    bdrv_drained_end(bs->file);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(g_thread_new(
                         "nowait", nowait_read_32k, bs))), 0);
    bdrv_unref(bs);

    bs = open_json("{\"driver\": \"raw\", \"cache\": {\"direct\": true}, "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    ck_assert_int_eq(bdrv_pread_nowait(bs, 0, 4 * KiB, buf), -EAGAIN);
    bdrv_unref(bs);
    /* qcow2: cached tables, then data in the page cache or zeroes */
    bs = open_qcow2(q);
    memset(buf, 0x11, sizeof(buf));
    ck_assert_int_eq(bdrv_pread_nowait(bs, 0, sizeof(buf), buf), 0);
    ck_assert(all_bytes(buf, sizeof(buf), 0));
    memset(buf, 0x77, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite(bs, 64 * KiB, sizeof(buf), buf, NULL), 0);
    memset(buf, 0, sizeof(buf));
    ck_assert_int_eq(bdrv_pread_nowait(bs, 64 * KiB, sizeof(buf), buf), 0);
    ck_assert(all_bytes(buf, sizeof(buf), 0x77));
    bdrv_unref(bs);
    /* ... but not through a node without it */
    bs = open_json("{\"driver\": \"qcow2\", \"file\": {\"driver\": "
                   "\"blkdebug\", \"image\": {\"driver\": \"file\", "
                   "\"filename\": \"%s\"}}}", q);
    ck_assert_int_eq(bdrv_pread_nowait(bs, 64 * KiB, 4 * KiB, buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pread(bs, 64 * KiB, 4 * KiB, buf, NULL), 0);
    ck_assert(all_bytes(buf, 4 * KiB, 0x77));
    bdrv_unref(bs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block-io-flags");
    TCase *tc = tcase_create("flags");
    SRunner *sr;
    int failed;

    if (!tq_have_qemu()) {
        return 77;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_qcow2_zeroes_v3);
    tcase_add_test(tc, test_qcow2_zeroes_v2);
    tcase_add_test(tc, test_qcow2_discard);
    tcase_add_test(tc, test_block_status_chain);
    tcase_add_test(tc, test_raw_zeroes_discard_fua);
    tcase_add_test(tc, test_raw_status_cache);
    tcase_add_test(tc, test_raw_status_cache_races);
    tcase_add_test(tc, test_pread_nowait);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
