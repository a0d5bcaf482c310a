/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The flags API of block/io.c on real qcow2 chains made by qemu-img: FUA
 * writes, writes of zeroes, discard, block status with depth, and the
 * write hooks (what they see, and a before hook that fails a write).
 */
#include <errno.h>
#include <string.h>

#include "block/write-hook.h"
#include "qcow2-test-util.h"

#define KiB 1024

typedef struct Seen {
    BdrvWriteHook hook;
    int before, after;
    int64_t offset, bytes;
    BdrvWriteKind kind;
    int last_ret;
    bool refuse;
} Seen;

static int seen_before(BdrvWriteHook *hook, BlockDriverState *bs,
                       int64_t offset, int64_t bytes, BdrvWriteKind kind,
                       GError **errp)
{
    Seen *s = hook->opaque;

    s->before++;
    s->offset = offset;
    s->bytes = bytes;
    s->kind = kind;
    if (s->refuse) {
        g_set_error(errp, G_FILE_ERROR, G_FILE_ERROR_IO, "refused by hook");
        return -EIO;
    }
    return 0;
}

static void seen_after(BdrvWriteHook *hook, BlockDriverState *bs,
                       int64_t offset, int64_t bytes, BdrvWriteKind kind,
                       int ret)
{
    Seen *s = hook->opaque;

    s->after++;
    s->last_ret = ret;
}

static BlockDriverState *open_chain(char **top_path)
{
    g_autofree char *base = tq_path("base.qcow2");
    BlockDriverState *bs;
    GError *err = NULL;

    *top_path = tq_path("top.qcow2");
    tq_sh_ok("qemu-img create -q -f qcow2 '%s' 1M && "
             "qemu-io -c 'write -P 0x11 0 64k' '%s' >/dev/null && "
             "qemu-img create -q -f qcow2 -b '%s' -F qcow2 '%s' && "
             "qemu-io -c 'write -P 0x22 128k 64k' '%s' >/dev/null",
             base, base, base, *top_path, *top_path);
    bs = tq_qcow2_open(*top_path, false, &err);
    ck_assert_msg(bs, "%s", err ? err->message : "");
    return bs;
}

START_TEST(test_block_status_depth)
{
    g_autofree char *top = NULL;
    BlockDriverState *bs = open_chain(&top);
    int64_t pnum;
    int depth, ret;

    ret = bdrv_block_status(bs, 0, 1024 * KiB, &pnum, &depth, NULL);
    ck_assert_int_eq(ret, BDRV_BLOCK_DATA | BDRV_BLOCK_ALLOCATED);
    ck_assert_int_eq(pnum, 64 * KiB);
    ck_assert_int_eq(depth, 2);
    ret = bdrv_block_status(bs, 64 * KiB, 960 * KiB, &pnum, &depth, NULL);
    ck_assert_int_eq(ret, BDRV_BLOCK_ZERO);
    ck_assert_int_eq(pnum, 64 * KiB);
    ck_assert_int_eq(depth, 0);
    ret = bdrv_block_status(bs, 128 * KiB, 896 * KiB, &pnum, &depth, NULL);
    ck_assert_int_eq(depth, 1);
    ck_assert_int_eq(pnum, 64 * KiB);
    ck_assert_int_eq(bdrv_block_status(bs, 1020 * KiB, 8 * KiB, &pnum,
                                       &depth, NULL), -EINVAL);
    tq_close(bs);
}
END_TEST

START_TEST(test_zeroes_fua_and_hooks)
{
    g_autofree char *top = NULL;
    BlockDriverState *bs = open_chain(&top);
    Seen seen = {.hook = {.before = seen_before, .after = seen_after}};
    uint8_t buf[4 * KiB];
    GError *err = NULL;

    seen.hook.opaque = &seen;
    bdrv_write_hook_add(bs, &seen.hook);
    memset(buf, 0x33, sizeof(buf));
    ck_assert_int_eq(bdrv_pwrite_flags(bs, 8 * KiB, sizeof(buf), buf,
                                       BDRV_REQ_FUA, NULL), 0);
    ck_assert_int_eq(seen.before, 1);
    ck_assert_int_eq(seen.kind, BDRV_WRITE_DATA);
    ck_assert_int_eq(seen.offset, 8 * KiB);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 4 * KiB, 0, NULL), 0);
    ck_assert_int_eq(seen.kind, BDRV_WRITE_ZEROES);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 4 * KiB, BDRV_REQ_NO_FALLBACK,
                                        NULL), -ENOTSUP);
    ck_assert_int_eq(bdrv_pdiscard(bs, 512 * KiB, 64 * KiB, NULL), 0);
    ck_assert_int_eq(seen.kind, BDRV_WRITE_DISCARD);
    /* qcow2 tries NO_FALLBACK (its hooks see it fail), then the rest */
    ck_assert_int_eq(seen.after, 4);

    seen.refuse = true;
    ck_assert_int_eq(bdrv_pwrite_flags(bs, 0, sizeof(buf), buf, 0, &err),
                     -EIO);
    ck_assert_str_eq(err->message, "refused by hook");
    g_clear_error(&err);
    ck_assert_int_eq(seen.last_ret, -EIO);
    bdrv_write_hook_remove(bs, &seen.hook);
    tq_close(bs);

    /* The refused write never landed; the others did, over the backing. */
    tq_sh_ok("qemu-img check -q '%s'", top);
    tq_sh_ok("qemu-io -c 'read -P 0 0 4k' -c 'read -P 0x11 4k 4k' "
             "-c 'read -P 0x33 8k 4k' -c 'read -P 0x11 12k 52k' '%s' "
             ">/dev/null", top);
}
END_TEST

START_TEST(test_read_only_node)
{
    g_autofree char *top = NULL;
    BlockDriverState *bs = open_chain(&top);
    GError *err = NULL;
    uint8_t buf[512] = {0};

    tq_close(bs);
    bs = tq_qcow2_open(top, true, NULL);
    ck_assert_ptr_nonnull(bs);
    ck_assert_int_eq(bdrv_pwrite_flags(bs, 0, 512, buf, 0, &err), -EPERM);
    g_clear_error(&err);
    ck_assert_int_eq(bdrv_pwrite_zeroes(bs, 0, 512, 0, NULL), -EPERM);
    ck_assert_int_eq(bdrv_pdiscard(bs, 0, 512, NULL), -EPERM);
    tq_close(bs);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block-io-api");
    TCase *tc = tcase_create("io");
    SRunner *sr;
    int failed;

    if (!tq_have_qemu()) {
        return 77;
    }
    tcase_add_test(tc, test_block_status_depth);
    tcase_add_test(tc, test_zeroes_fua_and_hooks);
    tcase_add_test(tc, test_read_only_node);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
