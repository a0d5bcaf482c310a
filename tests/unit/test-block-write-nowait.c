/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes that never wait (bdrv_pwrite_nowait): stores through the file's
 * map (block/file-map.c) into cached pages, on raw and qcow2, seen by
 * every other way of reading the file; -EAGAIN wherever they must not
 * happen; and the guard that turns a faulting store into a fallback.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "block-io-test-util.h"
#include "block/dirty-bitmap.h"
#include "block/file-map.h"
#include "block/file-posix.h"

/* A 1 MiB raw image of bytes @v, made by qemu-img and qemu-io. */
static char *filled_raw(const char *name, uint8_t v)
{
    char *img = tq_path(name);

    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-io -f raw -c 'write -P 0x%02x 0 1M' '%s' >/dev/null", img,
             v, img);
    return img;
}

static BlockDriverState *open_raw(const char *img, const char *extra)
{
    return open_json("{\"driver\": \"raw\"%s, \"file\": {\"driver\": "
                     "\"file\", \"filename\": \"%s\"}}", extra, img);
}

/* @len bytes at @offset of @img, read by a fd of its own. */
static void expect_file_bytes(const char *img, off_t offset, size_t len,
                              uint8_t v)
{
    g_autofree uint8_t *buf = g_malloc(len);
    int fd = open(img, O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, buf, len, offset), (ssize_t)len);
    close(fd);
    ck_assert_msg(all_bytes(buf, len, v), "%s at %jd is not 0x%02x", img,
                  (intmax_t)offset, v);
}

static gpointer nowait_write_thread(gpointer bs)
{
    uint8_t buf[4 * KiB];

    memset(buf, 0x99, sizeof(buf));
    return GINT_TO_POINTER(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf));
}

/* Cached pages take the write at once, and a dirty bitmap sees it. */
START_TEST(test_raw_cached_write)
{
    g_autofree char *img = filled_raw("nw.raw", 0x11);
    uint8_t buf[8 * KiB];
    BlockDriverState *bs;
    BdrvDirtyBitmap *bm;

    bs = open_raw(img, "");
    bm = bdrv_create_dirty_bitmap(bs, "b0", 64 * KiB, false, false, NULL);
    ck_assert_ptr_nonnull(bm);
    expect_pattern(bs, 0, 1 * MiB, 0x11); /* now cached */
    memset(buf, 0x5a, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 128 * KiB, sizeof(buf), buf), 0);
    expect_pattern(bs, 128 * KiB, sizeof(buf), 0x5a);
    expect_file_bytes(img, 128 * KiB, sizeof(buf), 0x5a);
    expect_file_bytes(img, 136 * KiB, 4 * KiB, 0x11);
    ck_assert_uint_eq(bdrv_dirty_bitmap_count(bm), 64 * KiB);
    /* the last bytes of the file, and not one past them */
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 1 * MiB - 4 * KiB, 4 * KiB, buf),
                     0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 1 * MiB - 4 * KiB, 8 * KiB, buf),
                     -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 1 * MiB, 4 * KiB, buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, 0, buf), -EAGAIN);
    /* drained by this thread: another one's write does not wait */
    bdrv_drained_begin(bs->file);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(g_thread_new(
                         "nowait", nowait_write_thread, bs))), -EAGAIN);
    bdrv_drained_end(bs->file);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(g_thread_new(
                         "nowait", nowait_write_thread, bs))), 0);
    expect_file_bytes(img, 0, 4 * KiB, 0x99);
    ck_assert_int_eq(bdrv_flush(bs, NULL), 0);
    bdrv_unref(bs);
    tq_sh_ok("qemu-io -f raw -c 'read -P 0x5a 128k 8k' "
             "-c 'read -P 0x11 136k 4k' -c 'read -P 0x99 0 4k' "
             "-c 'read -P 0x5a 1020k 4k' '%s' >/dev/null", img);
}
END_TEST

/* Pages not in the page cache would make the store wait for the disk. */
START_TEST(test_raw_uncached_write)
{
    g_autofree char *img = filled_raw("nw-cold.raw", 0x22);
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;

    bs = open_raw(img, "");
    memset(buf, 0x33, sizeof(buf));
    if (page_dropped(img, 512 * KiB)) {
        ck_assert_int_eq(bdrv_pwrite_nowait(bs, 512 * KiB, sizeof(buf), buf),
                         -EAGAIN);
    }
    ck_assert_int_eq(bdrv_pwrite(bs, 512 * KiB, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 512 * KiB, sizeof(buf), buf), 0);
    expect_file_bytes(img, 512 * KiB, sizeof(buf), 0x33);
    bdrv_unref(bs);
}
END_TEST

typedef struct OverlapWrite {
    BlockDriverState *bs;
    int done; /* atomic */
} OverlapWrite;

static gpointer overlap_write_thread(gpointer opaque)
{
    OverlapWrite *w = opaque;
    uint8_t buf[4 * KiB];
    int ret;

    memset(buf, 0x77, sizeof(buf));
    ret = bdrv_pwrite(w->bs, 2 * KiB, sizeof(buf), buf, NULL);
    g_atomic_int_set(&w->done, 1);
    return GINT_TO_POINTER(ret);
}

/* A write never copies into bytes another write is copying into: stores
 * and pwrites wait (or, not waiting, decline); others go on. */
START_TEST(test_overlapping_write_waits)
{
    g_autofree char *img = filled_raw("nw-overlap.raw", 0x44);
    uint8_t buf[4 * KiB];
    OverlapWrite w = {0};
    BDRVFileState *s;
    FileRange held;
    GThread *th;

    w.bs = open_raw(img, "");
    s = w.bs->file->opaque;
    expect_pattern(w.bs, 0, 1 * MiB, 0x44); /* now cached */
    memset(buf, 0x55, sizeof(buf));
    file_range_lock(&s->write_ranges, &held, 0, 4 * KiB);
    ck_assert_int_eq(bdrv_pwrite_nowait(w.bs, 0, sizeof(buf), buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite_nowait(w.bs, 4 * KiB, sizeof(buf), buf), 0);
    th = g_thread_new("overlap", overlap_write_thread, &w);
    g_usleep(100 * 1000);
    ck_assert_int_eq(g_atomic_int_get(&w.done), 0);
    file_range_unlock(&s->write_ranges, &held);
    ck_assert_int_eq(GPOINTER_TO_INT(g_thread_join(th)), 0);
    expect_file_bytes(img, 0, 2 * KiB, 0x44);
    expect_file_bytes(img, 2 * KiB, 4 * KiB, 0x77);
    expect_file_bytes(img, 6 * KiB, 2 * KiB, 0x55);
    bdrv_unref(w.bs);
}
END_TEST

/* Nodes and modes the map must stay out of. */
START_TEST(test_nowait_refused)
{
    g_autofree char *img = filled_raw("nw-ro.raw", 0x44);
    uint8_t buf[4 * KiB] = {0};
    BlockDriverState *bs;

    bs = open_raw(img, ", \"read-only\": true");
    expect_pattern(bs, 0, 1 * MiB, 0x44);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), -EAGAIN);
    bdrv_unref(bs);
    /* O_DIRECT bypasses the page cache the map writes into */
    bs = open_json("{\"driver\": \"raw\", \"cache\": {\"direct\": true}, "
                   "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                   img);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), -EAGAIN);
    bdrv_unref(bs);
    /* a window: nothing outside it */
    bs = open_raw(img, ", \"offset\": 4096, \"size\": 65536");
    expect_pattern(bs, 0, 64 * KiB, 0x44);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 60 * KiB, 8 * KiB, buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), 0);
    bdrv_unref(bs);
    expect_file_bytes(img, 0, 4 * KiB, 0x44);
    expect_file_bytes(img, 4 * KiB, 4 * KiB, 0);
    /* a filter in between has no such path */
    bs = open_json("{\"driver\": \"raw\", \"file\": {\"driver\": "
                   "\"blkdebug\", \"image\": {\"driver\": \"file\", "
                   "\"filename\": \"%s\"}}}", img);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), -EAGAIN);
    bdrv_unref(bs);
}
END_TEST

/* The file grows (resize) and shrinks: the map follows. */
START_TEST(test_resize)
{
    g_autofree char *img = filled_raw("nw-grow.raw", 0x55);
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;

    bs = open_raw(img, "");
    memset(buf, 0x66, sizeof(buf));
    expect_pattern(bs, 0, 1 * MiB, 0x55);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), 0);
    ck_assert_int_eq(bdrv_truncate(bs, 2 * MiB, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite(bs, 1536 * KiB, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 1536 * KiB, sizeof(buf), buf), 0);
    ck_assert_int_eq(bdrv_truncate(bs, 1 * MiB, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 1536 * KiB, sizeof(buf), buf),
                     -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 8 * KiB, sizeof(buf), buf), 0);
    bdrv_unref(bs);
    tq_sh_ok("test $(stat -c %%s '%s') = 1048576 && "
             "qemu-io -f raw -c 'read -P 0x66 0 4k' -c 'read -P 0x55 4k 4k' "
             "-c 'read -P 0x66 8k 4k' '%s' >/dev/null", img, img);
}
END_TEST

/* A file that starts empty, then grows past the address space first kept
 * for it (twice its size, at least 128 MiB), as a growing qcow2 does:
 * the map follows it by mapping again. */
START_TEST(test_growth_past_map)
{
    g_autofree char *img = tq_path("nw-empty.raw");
    g_autofree uint8_t *zeroes = g_malloc0(64 * KiB);
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;
    int64_t far = 130 * MiB;

    tq_sh_ok("rm -f '%s' && touch '%s'", img, img);
    bs = open_json("{\"driver\": \"file\", \"filename\": \"%s\"}", img);
    memset(buf, 0x3c, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 0, sizeof(buf), buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite(bs, 0, 64 * KiB, zeroes, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 8 * KiB, sizeof(buf), buf), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, far, sizeof(buf), buf), -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite(bs, far, 64 * KiB, zeroes, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, far + 8 * KiB, sizeof(buf), buf),
                     0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 8 * KiB, sizeof(buf), buf), 0);
    bdrv_unref(bs);
    expect_file_bytes(img, 8 * KiB, sizeof(buf), 0x3c);
    expect_file_bytes(img, far + 8 * KiB, sizeof(buf), 0x3c);
    expect_file_bytes(img, far + 12 * KiB, sizeof(buf), 0);
}
END_TEST

/* qcow2: in place into allocated data clusters; anything else refused. */
START_TEST(test_qcow2_in_place)
{
    g_autofree char *q = tq_path("nw.qcow2");
    uint8_t buf[4 * KiB];
    BlockDriverState *bs;

    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 4M && "
             "qemu-io -f qcow2 -c 'write -P 0x71 0 1M' '%s' >/dev/null", q, q);
    bs = open_qcow2(q);
    expect_pattern(bs, 0, 1 * MiB, 0x71); /* tables and data cached */
    memset(buf, 0x72, sizeof(buf));
    /* the first write readies the image for writing (dirty flag) */
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 256 * KiB, sizeof(buf), buf),
                     -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite(bs, 512 * KiB, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 256 * KiB, sizeof(buf), buf), 0);
    /* unallocated: an allocation, never without the lock */
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 2 * MiB, sizeof(buf), buf),
                     -EAGAIN);
    ck_assert_int_eq(bdrv_pwrite(bs, 2 * MiB, sizeof(buf), buf, NULL), 0);
    ck_assert_int_eq(bdrv_pwrite_nowait(bs, 2 * MiB + 4 * KiB, sizeof(buf),
                                        buf), 0);
    bdrv_unref(bs);
    tq_sh_ok("qemu-img check -q '%s' && qemu-io -f qcow2 "
             "-c 'read -P 0x72 256k 4k' -c 'read -P 0x71 260k 4k' "
             "-c 'read -P 0x72 512k 4k' "
             "-c 'read -P 0x72 2M 8k' -c 'read -P 0 2056k 4k' '%s' "
             ">/dev/null", q, q);
}
END_TEST

/* A store that faults (here: past the end of a shrunk file) comes back
 * as false, and the guard stays armed for the next one. */
START_TEST(test_copy_guard)
{
    g_autofree char *img = tq_path("nw-guard.raw");
    uint8_t buf[4 * KiB];
    int fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char *map;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, 64 * KiB), 0);
    map = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert(map != MAP_FAILED);
    memset(buf, 0x7e, sizeof(buf));
    ck_assert(file_map_copy_guarded(map, buf, sizeof(buf)));
    ck_assert_int_eq(ftruncate(fd, 8 * KiB), 0);
    for (int i = 0; i < 3; i++) {
        ck_assert(!file_map_copy_guarded(map + 32 * KiB, buf, sizeof(buf)));
        ck_assert(file_map_copy_guarded(map + 4 * KiB, buf, sizeof(buf)));
    }
    munmap(map, 64 * KiB);
    close(fd);
    expect_file_bytes(img, 0, 8 * KiB, 0x7e);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block-write-nowait");
    TCase *tc = tcase_create("nowait");
    SRunner *sr;
    int failed;

    if (!tq_have_qemu()) {
        return 77;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_raw_cached_write);
    tcase_add_test(tc, test_raw_uncached_write);
    tcase_add_test(tc, test_overlapping_write_waits);
    tcase_add_test(tc, test_nowait_refused);
    tcase_add_test(tc, test_resize);
    tcase_add_test(tc, test_growth_past_map);
    tcase_add_test(tc, test_qcow2_in_place);
    tcase_add_test(tc, test_copy_guard);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
