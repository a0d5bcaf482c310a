/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for the qcow2 driver tests: a counting test file driver, node
 * chains opened by hand, qemu-img/qemu-io runs and header patching.
 */
#ifndef QCOW2_TEST_UTIL_H
#define QCOW2_TEST_UTIL_H

#include <check.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"
#include "qemu/json.h"

/* State of a test file node: its fd and I/O counters. */
typedef struct TestFile {
    int fd;
    uint64_t preads, pwrites, bytes_read, bytes_written;
} TestFile;

/* A protocol driver over a plain fd: pread short of @bytes is an error. */
extern const BlockDriver test_file_driver;

/* Is qemu-img installed?  Tests skip (with a message) when it is not. */
bool tq_have_qemu(void);

/* Path of @name in this process's temp directory (removed at exit). */
char *tq_path(const char *name);

/* Run a shell command; exit status, stdout in *out when @out is given. */
int tq_sh(char **out, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Run a shell command that must exit 0. */
void tq_sh_ok(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* A file node on @path. */
BlockDriverState *tq_file_open(const char *path, bool read_only);

/*
 * A qcow2 node on @path with its backing chain (raw backing: the file node
 * itself; qcow2 backing: opened the same way).  NULL and errp on failure.
 */
BlockDriverState *tq_qcow2_open(const char *path, bool read_only,
                                GError **errp);

/* The same, with qcow2 driver options given as a JSON object. */
BlockDriverState *tq_qcow2_open_opts(const char *path, bool read_only,
                                     const char *json_opts, GError **errp);

/* Close @bs and its children. */
void tq_close(BlockDriverState *bs);

/* The counters of the file node under qcow2 node @bs. */
TestFile *tq_stats(BlockDriverState *bs);

/* Guest content of @img as qemu-img convert -O raw sees it (g_free). */
uint8_t *tq_raw_content(const char *img, size_t *len);

/* qemu-img check must find no errors and no leaks. */
void tq_assert_check_clean(const char *img);

/* Overwrite bytes of a file. */
void tq_patch(const char *path, uint64_t offset, const void *buf, size_t len);
void tq_patch_be32(const char *path, uint64_t offset, uint32_t v);
void tq_patch_be64(const char *path, uint64_t offset, uint64_t v);
uint64_t tq_peek_be64(const char *path, uint64_t offset);

/* Fill @len bytes with a pattern that depends on @seed and the offset. */
void tq_fill(uint8_t *buf, size_t len, uint64_t seed);

#define TQ_REQUIRE_QEMU()                                                      \
    do {                                                                       \
        if (!tq_have_qemu()) {                                                 \
            fprintf(stderr, "SKIP %s: qemu-img/qemu-io not found\n",           \
                    __func__);                                                 \
            return;                                                            \
        }                                                                      \
    } while (0)

#endif
