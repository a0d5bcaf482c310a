/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers of test-block-io*.c: nodes opened through the real block core
 * (bdrv_open_options, file driver) and image chains made by qemu-img.
 */
#ifndef BLOCK_IO_TEST_UTIL_H
#define BLOCK_IO_TEST_UTIL_H

#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <unistd.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>

#include "block/graph.h"
#include "qcow2-test-util.h"

#define KiB 1024
#define MiB (1024 * KiB)
#define BASE_BYTE 0xaa /* what make_chain's backing file holds */

static inline BlockDriverState *open_json(const char *fmt, ...)
    G_GNUC_PRINTF(1, 2);

static inline BlockDriverState *open_json(const char *fmt, ...)
{
    g_autofree char *json = NULL;
    g_autoptr(JsonNode) opts = NULL;
    BlockDriverState *bs;
    GError *err = NULL;
    va_list ap;

    va_start(ap, fmt);
    json = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    opts = json_from_string(json, NULL);
    ck_assert_msg(opts, "bad JSON %s", json);
    bs = bdrv_open_options(json_node_get_object(opts), &err);
    ck_assert_msg(bs, "open %s: %s", json, err ? err->message : "?");
    return bs;
}

/* A read-write qcow2 node on @img (backing from its header), discard=unmap.*/
static inline BlockDriverState *open_qcow2(const char *img)
{
    return open_json("{\"driver\": \"qcow2\", \"discard\": \"unmap\", "
                     "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                     img);
}

static inline bool all_bytes(const uint8_t *buf, size_t len, uint8_t v)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != v) {
            return false;
        }
    }
    return true;
}

/* A base filled with BASE_BYTE and an empty qcow2 overlay over it. */
static inline char *make_chain(const char *name, const char *size,
                               const char *opts)
{
    g_autofree char *base_name = g_strdup_printf("%s-base.raw", name);
    g_autofree char *top_name = g_strdup_printf("%s.qcow2", name);
    g_autofree char *base = tq_path(base_name);
    char *top = tq_path(top_name);

    tq_sh_ok("qemu-img create -q -f raw '%s' %s && "
             "qemu-io -f raw -c 'write -P 0x%x 0 %s' '%s' >/dev/null && "
             "qemu-img create -q -f qcow2 %s -b '%s' -F raw '%s'",
             base, size, BASE_BYTE, size, base, opts, base, top);
    return top;
}

/* [offset, offset + bytes) of @bs reads as bytes @v. */
static inline void expect_pattern(BlockDriverState *bs, int64_t offset,
                                  int64_t bytes, uint8_t v)
{
    g_autofree uint8_t *buf = g_malloc(bytes);

    ck_assert_int_eq(bdrv_pread(bs, offset, bytes, buf, NULL), 0);
    ck_assert_msg(all_bytes(buf, bytes, v), "[%" PRId64 ", +%" PRId64
                  ") is not 0x%02x", offset, bytes, v);
}

/* Drop @img's clean pages from the page cache; false where that is not
 * possible (tmpfs keeps them: they are the file). */
static inline bool drop_page_cache(const char *img)
{
    struct statfs fs;
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    bool ok;

    ck_assert_int_ge(fd, 0);
    ok = fstatfs(fd, &fs) == 0 && fs.f_type != TMPFS_MAGIC &&
         fdatasync(fd) == 0 &&
         posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0;
    close(fd);
    return ok;
}

/* Whether any page of [@offset, @offset + @len) of @img is in the page
 * cache: fadvise(DONTNEED) is only a hint, and a loaded machine may keep
 * (or read ahead) pages a test wanted gone. */
static inline bool range_resident(const char *img, off_t offset, size_t len)
{
    long page = sysconf(_SC_PAGESIZE);
    int fd = open(img, O_RDONLY | O_CLOEXEC);
    unsigned char vec[64] = { 0 };
    bool resident = false;
    void *map;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_le(len / page + 1, sizeof(vec));
    map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, offset);
    ck_assert(map != MAP_FAILED);
    ck_assert_int_eq(mincore(map, len, vec), 0);
    for (size_t i = 0; i < (len + page - 1) / page; i++) {
        resident |= vec[i] & 1;
    }
    munmap(map, len);
    close(fd);
    return resident;
}

/* Drop the page holding file offset @offset and see it stay gone: the
 * readahead of an earlier read may still be landing pages behind a drop. */
static inline bool page_dropped(const char *img, off_t offset)
{
    for (int try = 0; try < 5; try++) {
        if (!drop_page_cache(img)) {
            return false;
        }
        g_usleep(20 * 1000);
        if (!range_resident(img, offset, 4 * KiB)) {
            return true;
        }
    }
    return false;
}

#endif
