/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Splits a QMP byte stream into messages without parsing them: tracks
 * nesting, strings and escapes, and reports each complete top-level value
 * (or a stray top-level token) as one message.  Bounded: a message larger
 * than max_size or nested deeper than max_depth is reported as an error and
 * skipped up to its end, so the stream stays in sync.
 */
#ifndef MONITOR_JSON_STREAM_H
#define MONITOR_JSON_STREAM_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum JsonStreamStatus {
    JSON_STREAM_MESSAGE,      /* a complete value or top-level token */
    JSON_STREAM_STRAY_CLOSE,  /* '}' or ']' outside any value */
    JSON_STREAM_TOO_LARGE,    /* message exceeded max_size; skipped */
    JSON_STREAM_TOO_DEEP,     /* nesting exceeded max_depth; skipped */
} JsonStreamStatus;

/*
 * Called for each message.  @text/@len is the message (NUL-terminated, valid
 * until the callback returns; empty for the error statuses).
 * @end_offset is the offset, within the chunk being fed, just past its last
 * byte.  Return false to stop feeding (the rest of the chunk is kept).
 */
typedef bool (*JsonStreamFunc)(JsonStreamStatus status, const char *text,
                               size_t len, size_t end_offset, void *opaque);

typedef struct JsonStream {
    GString *buf;          /* bytes of the message in progress */
    size_t max_size;
    guint max_depth;
    guint depth;
    bool in_string;
    char quote; /* of the string we are in: '"', or '\'' (QEMU accepts) */
    bool escape;
    bool string_broken; /* a raw line break in a string ended the message */
    bool in_scalar;        /* bare top-level token (number, keyword...) */
    bool skipping;         /* dropping an over-limit message */
    JsonStreamStatus skip_status;
} JsonStream;

void json_stream_init(JsonStream *js, size_t max_size, guint max_depth);
void json_stream_destroy(JsonStream *js);

/* Is a message partially received? */
bool json_stream_in_message(const JsonStream *js);

/*
 * Feed @len bytes.  Returns the number of bytes consumed (less than @len
 * only when the callback returned false).
 */
size_t json_stream_feed(JsonStream *js, const char *data, size_t len,
                        JsonStreamFunc fn, void *opaque);

#endif
