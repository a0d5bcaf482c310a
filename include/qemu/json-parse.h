/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON parser reading what QEMU 7.2 reads (QMP messages, command-line and
 * tool input), with QEMU's error wording ("JSON parse error, ..."),
 * building qemu/json.h nodes.
 */
#ifndef QEMU_JSON_PARSE_H
#define QEMU_JSON_PARSE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

#include "qemu/json.h"

/* Deepest nesting the parser accepts (the splitter's limit is lower). */
#define JSON_CHECK_MAX_DEPTH 1024

/*
 * Parse @text (one value) as QEMU does: single-quoted strings and \'
 * accepted, \u0000 kept as C0 80 (the writers send it back as \u0000).
 * Refuses invalid UTF-8, comments, invalid escapes, lone surrogates,
 * control characters in strings, leading zeros and duplicate keys.  Integers beyond int64 become floating
 * point (as QEMU reads them; up to 2^64-1 with their exact value kept, see
 * json_node_init_uint64) and infinite numbers the largest finite ones.
 * Returns a new node, or NULL with @errp set.
 */
JsonNode *json_parse_strict(const char *text, size_t len, GError **errp);

#endif
