/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Option strings: util/keyval.c (parse, lookups, validation, typed
 * getters), the block layer's key=value form (bdrv_keyval_to_json, used by
 * --blockdev and drive_add) and -add-fd (fdset_cmdline_add_fd).
 *
 * Oracles: keyval_get() is the last value given for a key; numbers that
 * parse print back to a value of the same number; the JSON form of a
 * key=value string serializes; -add-fd leaves no fd behind.
 *
 * Input: 1 mode byte, then the option string (up to the first NUL).
 */
#include <fcntl.h>
#include <glib.h>
#include "qemu/json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "block/options.h"
#include "fuzz-util.h"
#include "qemu/fdset-cmdline.h"
#include "qemu/fdset.h"
#include "qemu/keyval.h"

#define INHERIT_FIRST 100 /* fds -add-fd may name: 100..103 */
#define INHERIT_N 4

static void fail(const char *what, const char *opt)
{
    fprintf(stderr, "fuzz-keyval: %s: '%s'\n", what, opt);
    abort();
}

static const KeyvalDesc descs[] = {
    {"fd", KEYVAL_NUMBER},
    {"set", KEYVAL_NUMBER},
    {"opaque", KEYVAL_STRING},
    {"server", KEYVAL_BOOL},
    {"wait", KEYVAL_BOOL},
    {"path", KEYVAL_STRING},
    {NULL},
};

static void check_keyval(const char *opt, const char *implied)
{
    g_autoptr(Keyval) kv = keyval_parse(opt, implied);
    g_autoptr(GError) err = NULL;
    guint n = keyval_count(kv);

    for (guint i = 0; i < n; i++) {
        const char *key = keyval_key(kv, i);
        const char *last = NULL;
        uint64_t num;
        bool b;

        if (!key || !keyval_value(kv, i)) {
            fail("item without key or value", opt);
        }
        for (guint j = 0; j < n; j++) {
            if (g_str_equal(keyval_key(kv, j), key)) {
                last = keyval_value(kv, j);
            }
        }
        if (!keyval_has(kv, key) || g_strcmp0(keyval_get(kv, key), last)) {
            fail("keyval_get is not the last value", opt);
        }
        if (keyval_parse_number(key, last, &num, NULL)) {
            /* base 0: the same number in decimal must parse to it */
            g_autofree char *dec = g_strdup_printf("%" G_GUINT64_FORMAT, num);
            uint64_t again;
            if (!keyval_parse_number(key, dec, &again, NULL) || again != num) {
                fail("number does not round-trip", opt);
            }
        }
        keyval_parse_bool(key, last, &b, NULL);
    }
    keyval_validate(kv, descs, &err);
}

static void check_block_keyval(const char *opt)
{
    g_autoptr(GError) err = NULL;
    JsonObject *o;

    o = bdrv_keyval_to_json(opt, &err);

    if (o) {
        JsonNode *n = json_node_init_object(json_node_alloc(), o);
        g_autofree char *text = json_to_string(n, FALSE);
        g_autoptr(JsonNode) back = json_from_string(text, NULL);

        /*
         * Not UTF-8 in: each invalid byte is written as U+FFFD, so two
         * keys may come out the same, which the parser refuses.
         */
        if (g_utf8_validate(opt, -1, NULL) && !back) {
            fail("key=value form gave unparsable JSON", opt);
        }
        json_node_unref(n);
        json_object_unref(o);
    } else if (!err) {
        fail("bdrv_keyval_to_json failed without an error", opt);
    }
}

/* fds -add-fd may take; re-made before each input (it closes them). */
static void make_inherited(void)
{
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

    for (int i = 0; i < INHERIT_N; i++) {
        dup2(null, INHERIT_FIRST + i); /* clears FD_CLOEXEC, as inherited */
    }
    close(null);
}

/* The fd number -add-fd would use, as fdset_cmdline_add_fd reads it. */
static bool add_fd_is_safe(const char *opt)
{
    g_autoptr(Keyval) kv = keyval_parse(opt, NULL);
    uint64_t num;
    int fd;

    keyval_get_number(kv, "fd", (uint64_t)-1, &num, NULL);
    fd = (int)num;
    /* below 3 it is refused before use; 100..103 are ours to give */
    return fd < 3 || (fd >= INHERIT_FIRST && fd < INHERIT_FIRST + INHERIT_N);
}

static void check_add_fd(const char *opt)
{
    g_autoptr(GError) err = NULL;

    if (!add_fd_is_safe(opt)) {
        return;
    }
    if (!fdset_cmdline_add_fd("-add-fd", opt, &err) && !err) {
        fail("-add-fd failed without an error", opt);
    }
    fdset_cmdline_close_originals();
    fdset_shutdown();
    fdset_init();
    make_inherited();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_fatal_criticals();
    fdset_init();
    make_inherited();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* per input: libFuzzer may open fds in between (symbolizer) */
    unsigned baseline_fds = fuzz_count_fds();
    FuzzInput in = {data, size};
    uint8_t mode = fuzz_byte(&in);
    g_autofree char *opt = g_strndup((const char *)in.data, in.len);
    static const char *const implied[] = {NULL, "path", "backend", "fd"};

    check_keyval(opt, implied[mode & 3]);
    if (mode & 4) {
        check_block_keyval(opt);
    }
    if (mode & 8) {
        check_add_fd(opt);
    }
    fuzz_check_fds(baseline_fds, "an option string");
    return 0;
}
