/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP input path of the real monitor: bytes -> stream splitter ->
 * JSON parse -> request checks -> argument validation -> dispatch to the
 * real command handlers (fd commands, block layer, HMP), for one fake
 * connection, with fds attached as SCM_RIGHTS would attach them.
 *
 * Oracles: every message gets exactly one reply, which is strict JSON with
 * "return" or "error"; after the input, a simulated disconnect and
 * teardown leave exactly the fds that were open before (and LeakSanitizer
 * checks memory).  Paths named by inputs cannot be written
 * (fuzz_restrict_writes).
 *
 * Input: 1 flag byte (bits 0-1: fds with the first message; bit 2: stay
 * unnegotiated; bits 3-7: chunking seed), then the stream.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "block/block.h"
#include "fuzz-util.h"
#include "monitor-internal.h"
#include "qemu/json-parse.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"

typedef struct Feed {
    MonitorConn *conn;
    GArray *fds; /* for the next message, then empty */
    size_t replies_expected;
} Feed;

static MonitorConn *conn;
static int memfd = -1; /* what fds attached to messages refer to */

static void fail(const char *what, const char *text, size_t len)
{
    fprintf(stderr, "fuzz-qmp: %s: %.*s\n", what, (int)MIN(len, 2000), text);
    abort();
}

/*
 * The replies since the last check: exactly one, strict JSON (as the
 * monitor's own parser reads it), an object with "return" or "error".
 */
static void check_reply(void)
{
    const char *s = conn->out->str;
    const char *crlf = strstr(s, "\r\n");
    g_autoptr(JsonNode) root = NULL;
    JsonObject *o;

    if (!crlf || crlf + 2 != s + conn->out->len) {
        fail("not exactly one reply", s, conn->out->len);
    }
    root = json_parse_strict(s, crlf - s, NULL);
    if (!root) {
        fail("reply is not JSON", s, conn->out->len);
    }
    o = JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    if (!o || (!json_object_has_member(o, "return") &&
               !json_object_has_member(o, "error"))) {
        fail("reply is neither return nor error", s, conn->out->len);
    }
    g_string_truncate(conn->out, 0);
    conn->out_off = 0;
}

static bool on_message(JsonStreamStatus status, const char *text, size_t len,
                       size_t end_offset, void *opaque)
{
    Feed *f = opaque;
    GArray *fds = f->fds;

    f->fds = g_array_new(FALSE, FALSE, sizeof(int));
    /* ownership of @fds passes to the handler */
    monitor_qmp_handle(f->conn, status, text, len, fds, NULL);
    check_reply();
    return true;
}

/* A memory file to pass: regular, readable and writable, 1 MiB. */
static void make_memfd(void)
{
    memfd = memfd_create("fuzz-qmp", MFD_CLOEXEC);
    if (memfd < 0 || ftruncate(memfd, 1 << 20) < 0) {
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    MonitorLimits limits;

    fuzz_restrict_writes();
    g_main_context_acquire(NULL); /* events are delivered on this thread */
    fuzz_fatal_criticals();
    monitor_default_limits(&limits);
    limits.max_message_size = 64 * 1024;
    fdset_init();
    monitor_init(&limits, false, false);
    bdrv_init();
    make_memfd();
    conn = g_new0(MonitorConn, 1);
    conn->fd = -1;
    conn->owner = 42;
    json_stream_init(&conn->stream, limits.max_message_size,
                     limits.max_json_depth);
    conn->pending_fds = g_array_new(FALSE, FALSE, sizeof(int));
    conn->out = g_string_new(NULL);
    conn->server = g_new0(MonitorServer, 1); /* only its getfd names */
    conn->server->named_fds = monitor_named_fds_new();
    return 0;
}

/* What a disconnect and the end of the session release, then a clean
 * registry and block layer for the next input. */
static void reset(void)
{
    monitor_named_fds_close_all(conn->server->named_fds);
    fdset_release_owner(conn->owner);
    while (g_main_context_iteration(NULL, FALSE)) {
    }
    bdrv_close_all();
    fdset_shutdown();
    fdset_init();
    json_stream_destroy(&conn->stream);
    json_stream_init(&conn->stream, 64 * 1024, 64);
    conn->negotiated = false;
    monitor_conn_set_fdset_events(conn, false);
    g_string_truncate(conn->out, 0);
    conn->out_off = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* per input: libFuzzer may open fds in between (symbolizer) */
    unsigned baseline_fds = fuzz_count_fds();
    FuzzInput in = {data, size};
    uint8_t flags = fuzz_byte(&in);
    Feed f = {.conn = conn};
    GRand *chunks = g_rand_new_with_seed(flags >> 3);
    size_t off = 0;

    f.fds = g_array_new(FALSE, FALSE, sizeof(int));
    if (!(flags & 4)) {
        static const char caps[] = "{\"execute\": \"qmp_capabilities\"}";
        json_stream_feed(&conn->stream, caps, strlen(caps), on_message, &f);
    }
    for (int i = 0; i < (flags & 3); i++) {
        int fd = fcntl(memfd, F_DUPFD_CLOEXEC, 3);
        g_array_append_val(f.fds, fd);
    }
    while (off < in.len) {
        size_t want = g_rand_int_range(chunks, 1, 4096); /* MIN: once */
        size_t n = MIN(in.len - off, want);

        for (size_t done = 0; done < n;) {
            done += json_stream_feed(&conn->stream,
                                     (const char *)in.data + off + done,
                                     n - done, on_message, &f);
        }
        off += n;
    }
    g_rand_free(chunks);
    /* fds whose message never came: closed with the connection */
    for (guint i = 0; i < f.fds->len; i++) {
        close(g_array_index(f.fds, int, i));
    }
    g_array_unref(f.fds);
    reset();
    fuzz_check_fds(baseline_fds, "an input");
    return 0;
}
