/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qcow2 header, extension and table parsing, and then I/O, on an image the
 * input supplies: the image is a memory file passed through /dev/fdset/0,
 * opened as {"driver": "qcow2", "file": {"driver": "file", "filename":
 * "/dev/fdset/0"}, "backing": null} (the header may name a backing file:
 * nothing is opened for it), read-only or read-write.
 *
 * Oracles: no crash, no sanitizer report, no leak (memory or fd); reads
 * within the size succeed or fail with an error (never both, never
 * silently); in read-write mode what was written reads back, also after a
 * reopen of the same image.
 *
 * Input: 1 mode byte (bit 0 read-write, bits 1-7 seed for the I/O), then
 * the image.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/graph.h"
#include "fuzz-util.h"
#include "qemu/fdset.h"

#define IO_MAX 65536

static bool verbose; /* FUZZ_VERBOSE=1: print the I/O done */

static void fail(const char *what)
{
    fprintf(stderr, "fuzz-qcow2: %s\n", what);
    abort();
}

/* The image in set 0: a read-only member, and a read-write one if @rw. */
static void image_members(const uint8_t *img, size_t len, bool rw)
{
    int mfd = memfd_create("image", MFD_CLOEXEC);
    g_autofree char *proc = g_strdup_printf("/proc/self/fd/%d", mfd);
    int64_t id;

    if (mfd < 0 || (len && write(mfd, img, len) != (ssize_t)len)) {
        fail("memfd");
    }
    for (int i = 0; i <= rw; i++) {
        int fd = open(proc, (i ? O_RDWR : O_RDONLY) | O_CLOEXEC);

        /* the registry owns @fd from here, also on failure */
        if (fd < 0 || !fdset_add_fd(true, 0, fd, "image", FDSET_OWNER_PROCESS,
                                    &id, NULL)) {
            fail("add-fd of the image");
        }
    }
    close(mfd);
}

static BlockDriverState *open_image(bool rw)
{
    g_autofree char *text = g_strdup_printf(
        "{\"driver\": \"qcow2\", \"node-name\": \"fz\", \"read-only\": %s, "
        "\"backing\": null, \"file\": {\"driver\": \"file\", "
        "\"filename\": \"/dev/fdset/0\"}}",
        rw ? "false" : "true");
    g_autoptr(JsonNode) p = json_from_string(text, NULL);
    g_autoptr(GError) err = NULL;
    BlockDriverState *bs;

    if (!p) {
        fail("options");
    }
    bs = bdrv_open_options(json_node_get_object(p), &err);
    if (!bs && !err) {
        fail("open failed without an error");
    }
    if (bs && err) {
        fail("open succeeded with an error");
    }
    return bs;
}

static int64_t pick(GRand *r, int64_t size)
{
    int which = g_rand_int_range(r, 0, 4);

    if (size <= 0) {
        return 0;
    }
    switch (which) {
    case 0:
        return 0;
    case 1:
        return MAX(0, size - IO_MAX);
    default:
        return (int64_t)(g_rand_double(r) * (double)size) & ~511LL;
    }
}

static void check_read(BlockDriverState *bs, int64_t off, int64_t n,
                       uint8_t *buf)
{
    g_autoptr(GError) err = NULL;
    int ret = bdrv_pread(bs, off, n, buf, &err);

    if ((ret < 0) != (err != NULL)) {
        fail("read: return value and error disagree");
    }
}

/* Reads, allocation queries, and in read-write mode writes read back. */
static void exercise(BlockDriverState *bs, GRand *r, bool rw, GArray *written)
{
    int64_t size = bdrv_getlength(bs);
    g_autofree uint8_t *buf = g_malloc(IO_MAX);
    g_autofree uint8_t *back = g_malloc(IO_MAX);

    for (int i = 0; i < 6 && size > 0; i++) {
        int64_t off = pick(r, size);
        int64_t want = g_rand_int_range(r, 1, IO_MAX); /* MIN: once */
        int64_t n = MIN(size - off, want);
        int64_t pnum = 0;
        g_autoptr(GError) err = NULL;
        int alloc;

        check_read(bs, off, n, buf);
        alloc = bdrv_is_allocated(bs, off, n, &pnum, &err);
        if (alloc >= 0 && (pnum <= 0 || pnum > n)) {
            fail("is_allocated: run length out of range");
        }
        if (rw && g_rand_boolean(r)) {
            g_autoptr(GError) werr = NULL;
            uint8_t pat = g_rand_int_range(r, 1, 256);

            memset(buf, pat, n);
            if (verbose) {
                fprintf(stderr,
                        "write %" G_GINT64_FORMAT "+%" G_GINT64_FORMAT
                        " pattern %u\n",
                        off, n, pat);
            }
            int ret = bdrv_pwrite(bs, off, n, buf, &werr);
            /* a failed write leaves the range undefined: pattern 0 */
            int64_t rec[3] = {off, n, ret < 0 ? 0 : pat};

            if ((ret < 0) != (werr != NULL)) {
                fail("write: return value and error disagree");
            }
            g_array_append_vals(written, rec, 3);
            if (ret >= 0) {
                g_autoptr(GError) rerr = NULL;

                if (bdrv_pread(bs, off, n, back, &rerr) < 0 ||
                    memcmp(buf, back, n) != 0) {
                    fail("written data does not read back");
                }
            }
        }
    }
    if (rw) {
        g_autoptr(GError) err = NULL;
        bdrv_flush(bs, &err);
    }
}

/* The last write to each range is still there (within the session, and
 * after a reopen). */
static void check_written(BlockDriverState *bs, GArray *written,
                          const char *what)
{
    g_autofree uint8_t *back = g_malloc(IO_MAX);

    for (guint i = written->len; i >= 3; i -= 3) {
        int64_t off = g_array_index(written, int64_t, i - 3);
        int64_t n = g_array_index(written, int64_t, i - 2);
        uint8_t pat = g_array_index(written, int64_t, i - 1);
        bool overwritten = false;
        g_autoptr(GError) err = NULL;

        for (guint j = i; j < written->len; j += 3) {
            int64_t o2 = g_array_index(written, int64_t, j);
            int64_t n2 = g_array_index(written, int64_t, j + 1);
            overwritten |= o2 < off + n && off < o2 + n2;
        }
        if (overwritten || pat == 0) {
            continue;
        }
        if (bdrv_pread(bs, off, n, back, &err) < 0) {
            fail("written range unreadable after reopen");
        }
        for (int64_t k = 0; k < n; k++) {
            if (back[k] != pat) {
                fprintf(stderr,
                        "byte %" G_GINT64_FORMAT " of write %" G_GINT64_FORMAT
                        "+%" G_GINT64_FORMAT " is %u, "
                        "wrote %u\n",
                        k, off, n, back[k], pat);
                fail(what);
            }
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_fatal_criticals();
    verbose = g_strcmp0(getenv("FUZZ_VERBOSE"), "1") == 0;
    fdset_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* per input: libFuzzer may open fds in between (symbolizer) */
    unsigned baseline_fds = fuzz_count_fds();
    FuzzInput in = {data, size};
    uint8_t mode = fuzz_byte(&in);
    bool rw = mode & 1;
    GRand *r = g_rand_new_with_seed(mode >> 1);
    g_autoptr(GArray) written = g_array_new(FALSE, FALSE, sizeof(int64_t));
    BlockDriverState *bs;

    image_members(in.data, in.len, rw);
    bs = open_image(rw);
    if (bs) {
        exercise(bs, r, rw, written);
        check_written(bs, written,
                      "a write changed data another write put elsewhere");
        bdrv_unref(bs);
        if (rw && written->len) {
            bs = open_image(false);
            if (!bs) {
                fail("an image fdsetd wrote cannot be opened again");
            }
            check_written(bs, written,
                          "written data lost across close and open");
            bdrv_unref(bs);
        }
    }
    g_rand_free(r);
    fdset_shutdown();
    fdset_init();
    fuzz_check_fds(baseline_fds, "an image");
    return 0;
}
