/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The strict JSON parser (util/json-parse.c) against the writers
 * (util/json-write.c):
 *  - what the parser accepts, the monitor's writer (qmp_json_append_node,
 *    which writes ids, return values and events) turns into text that it
 *    accepts again, as an equal tree: replies stay JSON;
 *  - the same for json_to_string(), compact and pretty (fdpass output);
 *  - a copy of what it accepts is equal to it;
 *  - a refusal always comes with a "JSON parse error, " message.
 *
 * Input: the message text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-util.h"
#include "qemu/json-parse.h"
#include "qapi/qmp.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz-json-check: %s: %.*s\n", what, (int)MIN(size, 500),
            (const char *)data);
    abort();
}

/* @text, written from @node, parses back to an equal tree. */
static void check_round_trip(JsonNode *node, const char *text, size_t len)
{
    g_autoptr(JsonNode) again = json_parse_strict(text, len, NULL);

    if (!again) {
        fail("its serialization is not accepted again", (const uint8_t *)text,
             len);
    }
    if (!json_node_equal(node, again)) {
        fail("its serialization parses to another tree", (const uint8_t *)text,
             len);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_fatal_criticals();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) node =
        json_parse_strict((const char *)data, size, &err);
    g_autoptr(JsonNode) copy = NULL;
    g_autoptr(GString) out = NULL;

    if (!node) {
        if (!err || !g_str_has_prefix(err->message, "JSON parse error, ")) {
            fail("refused without a parse error", data, size);
        }
        return 0;
    }
    if (err) {
        fail("parsed, and an error too", data, size);
    }
    copy = json_node_copy(node);
    if (!json_node_equal(node, copy)) {
        fail("a copy differs", data, size);
    }
    /* as the monitor writes ids, return values and events */
    out = g_string_new(NULL);
    qmp_json_append_node(out, node);
    check_round_trip(node, out->str, out->len);
    for (int pretty = 0; pretty < 2; pretty++) {
        g_autofree char *text = json_to_string(node, pretty);

        check_round_trip(node, text, strlen(text));
    }
    return 0;
}
