/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP stream splitter: see include/monitor/json-stream.h.
 */
#include "monitor/json-stream.h"
#include "qemu/strbuf.h"

#include <string.h>

void json_stream_init(JsonStream *js, size_t max_size, guint max_depth)
{
    memset(js, 0, sizeof(*js));
    js->buf = g_string_sized_new(256);
    js->max_size = max_size;
    js->max_depth = max_depth;
}

void json_stream_destroy(JsonStream *js)
{
    if (js->buf) {
        g_string_free(js->buf, TRUE);
        js->buf = NULL;
    }
}

bool json_stream_in_message(const JsonStream *js)
{
    return js->depth > 0 || js->in_scalar || js->skipping;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ends_scalar(char c)
{
    return is_blank(c) || c == '{' || c == '[' || c == '}' || c == ']' ||
           c == '"' || c == '\'' || c == ',' || c == ':';
}

static void reset_message(JsonStream *js)
{
    g_string_truncate(js->buf, 0);
    js->depth = 0;
    js->in_string = false;
    js->string_broken = false;
    js->escape = false;
    js->in_scalar = false;
    js->skipping = false;
}

/* Track strings and nesting for one byte inside a structured value. */
static void track_byte(JsonStream *js, char c)
{
    if (js->in_string) {
        if (c == '\n') {
            /* A string cannot hold a raw line break: it was never closed.
             * End the message here (QEMU's lexer gives up here too)
             * rather than wait for a quote that may never come.  Other
             * raw controls stay in the message, which the parser then
             * refuses whole: one error, and the stream stays in step. */
            js->string_broken = true;
        } else if (js->escape) {
            js->escape = false;
        } else if (c == '\\') {
            js->escape = true;
        } else if (c == js->quote) {
            js->in_string = false;
        }
        return;
    }
    if (c == '"' || c == '\'') {
        js->in_string = true;
        js->quote = c;
    } else if (c == '{' || c == '[') {
        js->depth++;
    } else if (c == '}' || c == ']') {
        js->depth--;
    }
}

/* Begin dropping the current message: it broke a limit. */
static void start_skipping(JsonStream *js, JsonStreamStatus why)
{
    js->skipping = true;
    js->skip_status = why;
    g_string_truncate(js->buf, 0);
}

/* Append a byte of a top-level scalar or string, within max_size. */
static void append_bounded(JsonStream *js, char c)
{
    if (js->skipping) {
        return;
    }
    g_string_append_c(js->buf, c);
    if (js->buf->len > js->max_size) {
        start_skipping(js, JSON_STREAM_TOO_LARGE);
    }
}

static bool emit(JsonStream *js, JsonStreamStatus status, size_t end,
                 JsonStreamFunc fn, void *opaque)
{
    bool go_on;

    if (status == JSON_STREAM_MESSAGE) {
        go_on = fn(status, js->buf->str, js->buf->len, end, opaque);
    } else {
        go_on = fn(status, "", 0, end, opaque);
    }
    reset_message(js);
    return go_on;
}

/*
 * One byte at top level (no message in progress).  Returns true when the
 * byte completed a (one-byte) message that must be emitted with @status.
 */
static bool start_byte(JsonStream *js, char c, JsonStreamStatus *status)
{
    if (is_blank(c)) {
        return false;
    }
    if (c == '}' || c == ']') {
        *status = JSON_STREAM_STRAY_CLOSE;
        return true;
    }
    g_string_append_c(js->buf, c);
    if (c == '{' || c == '[') {
        js->depth = 1;
    } else if (c == '"' || c == '\'') {
        /* A top-level string is a value like any other. */
        js->depth = 1;
        js->in_string = true;
        js->quote = c;
        js->in_scalar = true;
    } else {
        js->in_scalar = true;
    }
    return false;
}

/*
 * How many bytes from @p (at most @len) inside a structured value cannot
 * change the splitter's state: in a string anything but its quote or a
 * backslash, outside one anything but a quote (double or single: QEMU
 * accepts both) or a bracket.  They are
 * copied as one run instead of byte by byte.
 */
static size_t plain_run(const JsonStream *js, const char *p, size_t len)
{
    size_t n = 0;

    if (js->escape) {
        return 0;
    }
    if (js->in_string) {
        while (n < len && p[n] != js->quote && p[n] != '\\' && p[n] != '\n') {
            n++;
        }
        return n;
    }
    while (n < len && p[n] != '"' && p[n] != '\'' && p[n] != '{' &&
           p[n] != '[' && p[n] != '}' && p[n] != ']') {
        n++;
    }
    return n;
}

/* Append a run of plain bytes of a structured value, within max_size. */
static void append_run(JsonStream *js, const char *p, size_t n)
{
    if (js->skipping) {
        return;
    }
    strbuf_append_len(js->buf, p, n);
    if (js->buf->len > js->max_size) {
        start_skipping(js, JSON_STREAM_TOO_LARGE);
    }
}

/*
 * One byte of a structured value that may change its state (a plain run
 * goes through append_run instead).  True when it ended the value.
 */
static bool structured_byte(JsonStream *js, char c)
{
    track_byte(js, c);
    if (!js->skipping) {
        g_string_append_c(js->buf, c);
        if (js->depth > js->max_depth) {
            start_skipping(js, JSON_STREAM_TOO_DEEP);
        } else if (js->buf->len > js->max_size) {
            start_skipping(js, JSON_STREAM_TOO_LARGE);
        }
    }
    return js->depth == 0 || js->string_broken;
}

size_t json_stream_feed(JsonStream *js, const char *data, size_t len,
                        JsonStreamFunc fn, void *opaque)
{
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        JsonStreamStatus status;

        /* Inside an object or array, where nearly every byte is: first. */
        if (js->depth > 0 && !js->in_scalar) {
            size_t run = plain_run(js, data + i, len - i);

            if (run > 0) {
                append_run(js, data + i, run);
                i += run - 1;
                continue;
            }
            if (structured_byte(js, c)) {
                status = js->skipping ? js->skip_status : JSON_STREAM_MESSAGE;
                if (!emit(js, status, i + 1, fn, opaque)) {
                    return i + 1;
                }
            }
            continue;
        }
        if (!js->depth && !js->in_scalar && !js->skipping) {
            if (start_byte(js, c, &status) &&
                !emit(js, status, i + 1, fn, opaque)) {
                return i + 1;
            }
            continue;
        }
        if (js->in_scalar && !js->in_string && js->depth == 0) {
            /* Bare token: ends at a delimiter, which is then re-read. */
            if (ends_scalar(c)) {
                status = js->skipping ? js->skip_status : JSON_STREAM_MESSAGE;
                if (!emit(js, status, i, fn, opaque)) {
                    return i;
                }
                i--;
                continue;
            }
            append_bounded(js, c);
            continue;
        }
        if (js->in_scalar && js->in_string) {
            /* Top-level string: depth 1 stands for "inside the quotes". */
            append_bounded(js, c);
            track_byte(js, c);
            if (!js->in_string || js->string_broken) {
                js->depth = 0;
                status = js->skipping ? js->skip_status : JSON_STREAM_MESSAGE;
                if (!emit(js, status, i + 1, fn, opaque)) {
                    return i + 1;
                }
            }
            continue;
        }
        /* Not reached in practice: the states above cover them all. */
        if (structured_byte(js, c)) {
            status = js->skipping ? js->skip_status : JSON_STREAM_MESSAGE;
            if (!emit(js, status, i + 1, fn, opaque)) {
                return i + 1;
            }
        }
    }
    return len;
}
