/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP qemu-io DEVICE "COMMAND": guest-like I/O on a drive or node through
 * the block layer's own read and write paths (so jobs see it as a guest
 * write: mirror's dirty tracking, stream's copy-on-read).  The commands
 * are qemu-io's "write [-z] [-P pattern] offset length", "read [-P pattern]
 * offset length" and "flush"; only the first line of qemu-io's report is
 * printed (no timing line).  "aio_write" runs its write in a thread of its
 * own, "aio_flush" waits for those and prints their reports; with them,
 * blkdebug's breakpoints: "break EVENT TAG", "remove_break TAG", "resume
 * TAG", "wait_break TAG" (hmp-qemu-io-break.c).
 */
#include <errno.h>
#include <string.h>

#include "block/block-backend.h"
#include "block/graph.h"
#include "block/hmp-block.h"
#include "qapi/hmp.h"
#include "qemu/error.h"

/* qemu-io's cvtnum: a number with an optional k/M/G/T suffix. */
static bool parse_size(const char *s, int64_t *out)
{
    char *end;
    guint64 v;
    int shift = 0;

    errno = 0;
    v = g_ascii_strtoull(s, &end, 0);
    if (errno || end == s) {
        return false;
    }
    switch (g_ascii_tolower(*end)) {
    case 'k': shift = 10; end++; break;
    case 'm': shift = 20; end++; break;
    case 'g': shift = 30; end++; break;
    case 't': shift = 40; end++; break;
    case 'b': end++; break;
    default: break;
    }
    if (*end || v > (guint64)(G_MAXINT64 >> shift)) {
        return false;
    }
    *out = (int64_t)(v << shift);
    return true;
}

typedef struct IoCmd {
    const char *name;
    int pattern; /* -1: none */
    bool zeroes; /* write -z */
    int64_t offset, bytes;
} IoCmd;

static bool parse_io_cmd(char **argv, IoCmd *cmd, GString *out)
{
    int i = 1;

    cmd->name = argv[0];
    cmd->pattern = -1;
    cmd->zeroes = false;
    if (g_str_equal(cmd->name, "flush") || g_str_equal(cmd->name, "aio_flush")) {
        return true;
    }
    if (argv[i] && g_str_equal(argv[i], "-z") && !cmd->zeroes) {
        cmd->zeroes = true; /* write -z: write zeroes */
        i++;
    }
    if (argv[i] && g_str_equal(argv[i], "-P") && argv[i + 1]) {
        int64_t p;

        if (!parse_size(argv[i + 1], &p) || p > 0xff) {
            g_string_append_printf(out, "Invalid pattern '%s'\r\n",
                                   argv[i + 1]);
            return false;
        }
        cmd->pattern = (int)p;
        i += 2;
    }
    if (!argv[i] || !argv[i + 1] || argv[i + 2] ||
        !parse_size(argv[i], &cmd->offset) ||
        !parse_size(argv[i + 1], &cmd->bytes)) {
        g_string_append_printf(out, "%s: invalid arguments\r\n", cmd->name);
        return false;
    }
    return true;
}

static void run_read(BlockDriverState *bs, const IoCmd *cmd, GString *out)
{
    g_autofree guint8 *buf = g_malloc(cmd->bytes ? cmd->bytes : 1);
    GError *err = NULL;

    if (bdrv_pread(bs, cmd->offset, cmd->bytes, buf, &err) < 0) {
        g_string_append_printf(out, "read failed: %s\r\n", err->message);
        g_error_free(err);
        return;
    }
    for (int64_t i = 0; cmd->pattern >= 0 && i < cmd->bytes; i++) {
        if (buf[i] != cmd->pattern) {
            g_string_append_printf(out,
                                   "Pattern verification failed at offset "
                                   "%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT
                                   " bytes\r\n",
                                   cmd->offset + i, cmd->bytes - i);
            return;
        }
    }
    g_string_append_printf(out,
                           "read %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                           " bytes at offset %" G_GINT64_FORMAT "\r\n",
                           cmd->bytes, cmd->bytes, cmd->offset);
}

static void run_write(BlockDriverState *bs, const IoCmd *cmd, GString *out)
{
    g_autofree guint8 *buf = g_malloc(cmd->bytes ? cmd->bytes : 1);
    GError *err = NULL;

    memset(buf, cmd->pattern >= 0 ? cmd->pattern : 0xcd, cmd->bytes);
    if ((cmd->zeroes
             ? bdrv_pwrite_zeroes(bs, cmd->offset, cmd->bytes, 0, &err)
             : bdrv_pwrite(bs, cmd->offset, cmd->bytes, buf, &err)) < 0) {
        g_string_append_printf(out, "write failed: %s\r\n", err->message);
        g_error_free(err);
        return;
    }
    g_string_append_printf(out,
                           "wrote %" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
                           " bytes at offset %" G_GINT64_FORMAT "\r\n",
                           cmd->bytes, cmd->bytes, cmd->offset);
}

/* ---- aio_write, aio_flush ---- */

typedef struct AioWrite {
    BlockDriverState *bs; /* a reference held */
    IoCmd cmd;
    GString *out;
    gint done;
    GThread *thread;
} AioWrite;

static GPtrArray *aio_writes; /* main loop only; oldest first */

static gpointer aio_write_run(gpointer p)
{
    AioWrite *w = p;

    run_write(w->bs, &w->cmd, w->out);
    g_atomic_int_set(&w->done, 1);
    return NULL;
}

static void aio_submit(BlockDriverState *bs, const IoCmd *cmd)
{
    AioWrite *w = g_new0(AioWrite, 1);

    if (!aio_writes) {
        aio_writes = g_ptr_array_new();
    }
    bdrv_ref(bs);
    w->bs = bs;
    w->cmd = *cmd;
    w->out = g_string_new(NULL);
    w->thread = g_thread_new("qemu-io-aio", aio_write_run, w);
    g_ptr_array_add(aio_writes, w);
}

/*
 * Wait for the aio writes, report them in order.  A write suspended at a
 * breakpoint would wait forever (QEMU's aio_flush does): after 30 s the
 * ones still running are left for a later aio_flush.
 */
static void aio_flush(GString *out)
{
    gint64 end = g_get_monotonic_time() + 30 * G_USEC_PER_SEC;
    guint pending = 0;

    for (guint i = 0; aio_writes && i < aio_writes->len;) {
        AioWrite *w = g_ptr_array_index(aio_writes, i);

        while (!g_atomic_int_get(&w->done) && g_get_monotonic_time() < end) {
            g_usleep(1000);
        }
        if (!g_atomic_int_get(&w->done)) {
            pending++;
            i++;
            continue;
        }
        g_thread_join(w->thread);
        g_string_append(out, w->out->str);
        g_string_free(w->out, TRUE);
        bdrv_unref(w->bs);
        g_ptr_array_remove_index(aio_writes, i);
        g_free(w);
    }
    if (pending) {
        g_string_append_printf(out, "aio_flush: %u requests still running\r\n",
                               pending);
    }
}

static bool hmp_qemu_io(const char *args, GString *out, GError **errp)
{
    g_auto(GStrv) argv = NULL;
    g_auto(GStrv) cmdv = NULL;
    BlockDriverState *bs;
    BlockBackend *blk;
    IoCmd cmd;

    if (!g_shell_parse_argv(args, NULL, &argv, NULL) || !argv[0] ||
        !argv[1] || argv[2]) {
        error_setg(errp, "Usage: qemu-io [-d] [device] \"[command]\"");
        return false;
    }
    blk = blk_by_name(argv[0]);
    bs = blk ? blk->root : bdrv_lookup_bs(NULL, argv[0], errp);
    if (!bs) {
        if (blk) {
            error_setg(errp, "Device '%s' has no medium", argv[0]);
        }
        return false;
    }
    if (!g_shell_parse_argv(argv[1], NULL, &cmdv, NULL)) {
        return true;
    }
    if (hmp_qemu_io_break(bs, cmdv, out)) {
        return true;
    }
    if (!parse_io_cmd(cmdv, &cmd, out)) {
        return true; /* qemu-io reports in its output */
    }
    if (g_str_equal(cmd.name, "read")) {
        run_read(bs, &cmd, out);
    } else if (g_str_equal(cmd.name, "write")) {
        run_write(bs, &cmd, out);
    } else if (g_str_equal(cmd.name, "aio_write")) {
        aio_submit(bs, &cmd);
    } else if (g_str_equal(cmd.name, "aio_flush")) {
        aio_flush(out);
    } else if (g_str_equal(cmd.name, "flush")) {
        GError *err = NULL;

        if (bdrv_flush(bs, &err) < 0) {
            g_string_append_printf(out, "flush failed: %s\r\n", err->message);
            g_error_free(err);
        }
    } else {
        g_string_append_printf(out, "command \"%s\" not found\r\n", cmd.name);
    }
    return true;
}

void hmp_qemu_io_register(void)
{
    hmp_register_command("qemu-io", hmp_qemu_io);
}
