/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The QMP stream splitter (monitor/json-stream.c), differentially: the same
 * bytes fed at once, in random chunks, byte by byte, and with the callback
 * stopping the feed at random points must give the same messages; every
 * message respects the size and depth limits and is NUL-terminated.
 *
 * Input: 1 byte max depth, 2 bytes max size, 4 bytes chunking seed, then
 * the stream.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "monitor/json-stream.h"

typedef struct Run {
    GString *log; /* status, length, text of each message */
    size_t max_size;
    guint max_depth;
    GRand *stop; /* NULL: never stop the feed early */
    size_t chunk_len;
} Run;

static void fail(const char *what)
{
    fprintf(stderr, "json-stream: %s\n", what);
    abort();
}

static bool on_message(JsonStreamStatus status, const char *text, size_t len,
                       size_t end_offset, void *opaque)
{
    Run *run = opaque;

    if (text[len] != '\0') {
        fail("message not NUL-terminated");
    }
    if (status != JSON_STREAM_MESSAGE && len != 0) {
        fail("error status with text");
    }
    if (status == JSON_STREAM_MESSAGE && (len == 0 || len > run->max_size)) {
        fail("message empty or over max_size");
    }
    if (end_offset > run->chunk_len) {
        fail("end_offset past the chunk");
    }
    g_string_append_printf(run->log, "%d:%zu:", status, len);
    g_string_append_len(run->log, text, len);
    g_string_append_c(run->log, '\n');
    return !run->stop || g_rand_int_range(run->stop, 0, 4) != 0;
}

/* Feed @data in chunks from @sizes (NULL: at once; 1: byte by byte). */
static GString *feed(Run *run, const uint8_t *data, size_t len, GRand *sizes,
                     bool bytewise)
{
    JsonStream js;
    size_t off = 0;

    run->log = g_string_new(NULL);
    json_stream_init(&js, run->max_size, run->max_depth);
    while (off < len) {
        size_t n = len - off;

        if (bytewise) {
            n = 1;
        } else if (sizes) {
            size_t want = g_rand_int_range(sizes, 1, 300); /* MIN: once */
            n = MIN(n, want);
        }
        /* the monitor re-feeds what a stopped callback left */
        run->chunk_len = n;
        for (size_t done = 0, idle = 0; done < n;) {
            size_t took = json_stream_feed(&js, (const char *)data + off + done,
                                           n - done, on_message, run);
            /* 0 is right once: a token ended by the chunk's first byte */
            if (took > n - done || (took == 0 && ++idle > 1)) {
                fail("feed consumed nothing twice, or too much");
            }
            idle = took ? 0 : idle;
            done += took;
            run->chunk_len = n - done;
        }
        off += n;
    }
    json_stream_destroy(&js);
    return run->log;
}

static void same(GString *a, GString *b, const char *what)
{
    if (a->len != b->len || memcmp(a->str, b->str, a->len) != 0) {
        fail(what);
    }
    g_string_free(b, TRUE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzInput in = {data, size};
    Run run = {0};
    guint32 seed;
    GString *whole;
    GRand *sizes;

    run.max_depth = 1 + fuzz_byte(&in) % 64;
    run.max_size = 1 + (fuzz_byte(&in) << 8 | fuzz_byte(&in)) % 4096;
    seed = fuzz_u32(&in);

    whole = feed(&run, in.data, in.len, NULL, false);
    sizes = g_rand_new_with_seed(seed);
    same(whole, feed(&run, in.data, in.len, sizes, false),
         "chunked feed split differently");
    g_rand_free(sizes);
    same(whole, feed(&run, in.data, in.len, NULL, true),
         "byte-by-byte feed split differently");
    run.stop = g_rand_new_with_seed(seed ^ 0x5a5a5a5a);
    same(whole, feed(&run, in.data, in.len, NULL, false),
         "feed stopped by the callback split differently");
    g_rand_free(run.stop);
    g_string_free(whole, TRUE);
    return 0;
}
