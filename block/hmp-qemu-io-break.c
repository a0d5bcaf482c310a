/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * qemu-io's blkdebug breakpoint commands over HMP, with QEMU 7.2's
 * reports: "break EVENT TAG", "remove_break TAG", "resume TAG",
 * "wait_break TAG".  A request made on the main loop (qemu-io's write)
 * must not reach a breakpoint: nothing could resume it.  aio_write, NBD
 * clients and jobs run theirs in other threads.
 */
#include <errno.h>
#include <string.h>

#include "block/blkdebug.h"
#include "block/hmp-block.h"

/* QEMU's wait_break waits for ever; here a bounded wait, then a report. */
#define WAIT_BREAK_US (30 * G_USEC_PER_SEC)

typedef struct BreakCmd {
    const char *name;
    int args;
} BreakCmd;

static const BreakCmd break_cmds[] = {
    {"break", 2},
    {"remove_break", 1},
    {"resume", 1},
    {"wait_break", 1},
};

static void run_break(BlockDriverState *bs, char **argv, GString *out)
{
    int ret = 0;

    if (g_str_equal(argv[0], "break")) {
        ret = bdrv_debug_breakpoint(bs, argv[1], argv[2]);
        if (ret < 0) {
            g_string_append_printf(out, "Could not set breakpoint: %s\r\n",
                                   g_strerror(-ret));
        }
    } else if (g_str_equal(argv[0], "remove_break")) {
        ret = bdrv_debug_remove_breakpoint(bs, argv[1]);
        if (ret < 0) {
            g_string_append_printf(out,
                                   "Could not remove breakpoint %s: "
                                   "%s\r\n",
                                   argv[1], g_strerror(-ret));
        }
    } else if (g_str_equal(argv[0], "resume")) {
        ret = bdrv_debug_resume(bs, argv[1]);
        if (ret < 0) {
            g_string_append_printf(out, "Could not resume request: %s\r\n",
                                   g_strerror(-ret));
        }
    } else if (!bdrv_debug_wait_break(bs, argv[1], WAIT_BREAK_US)) {
        g_string_append_printf(out,
                               "wait_break: no request suspended at "
                               "'%s'\r\n",
                               argv[1]);
    }
}

bool hmp_qemu_io_break(BlockDriverState *bs, char **argv, GString *out)
{
    for (size_t i = 0; argv[0] && i < G_N_ELEMENTS(break_cmds); i++) {
        int argc = (int)g_strv_length(argv) - 1;

        if (!g_str_equal(argv[0], break_cmds[i].name)) {
            continue;
        }
        if (argc != break_cmds[i].args) {
            g_string_append_printf(out,
                                   "bad argument count %d to %s, "
                                   "expected %d arguments\r\n",
                                   argc, argv[0], break_cmds[i].args);
        } else {
            run_break(bs, argv, out);
        }
        return true;
    }
    return false;
}
