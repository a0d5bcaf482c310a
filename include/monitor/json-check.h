/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict RFC 8259 check of one QMP message, with QEMU's error wording
 * ("JSON parse error, ..."), before the message is given to json-glib.
 */
#ifndef MONITOR_JSON_CHECK_H
#define MONITOR_JSON_CHECK_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting the checker walks (the splitter's limit is lower). */
#define JSON_CHECK_MAX_DEPTH 1024

/*
 * Check @text (one value).  Rejects invalid UTF-8, comments, single quotes,
 * invalid escapes, \u0000, control characters in strings, leading zeros,
 * and duplicate keys.  On success *@widened is NULL, or a copy of @text in
 * which integers beyond int64 are written as floating point (QEMU reads
 * them so) and infinite numbers as the largest finite ones; parse that
 * instead.
 */
bool json_check(const char *text, size_t len, GString **widened,
                GError **errp);

#endif
