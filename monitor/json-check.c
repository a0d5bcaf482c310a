/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Strict JSON check of one QMP message before json-glib parses it.
 *
 * json-glib is lenient where QEMU is not (comments, single quotes, \x
 * escapes, leading zeros, hex numbers, raw control characters) and silent
 * where QEMU complains (duplicate keys, integers beyond 64 bits).  This
 * checker accepts exactly RFC 8259 JSON, reports with QEMU's wording, and
 * notes integers that do not fit int64 so that they can be read as floating
 * point, as QEMU does.
 */
#include "monitor/json-check.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/error.h"

/* Objects with more keys than this track them in a hash table. */
#define SMALL_OBJECT_KEYS 16

/* Replace [start, end) of the text with @with. */
typedef struct TextEdit {
    size_t start;
    size_t end;
    const char *with;
} TextEdit;

typedef struct Checker {
    const char *p;            /* next byte */
    const char *end;
    guint depth;
    GArray *edits;            /* TextEdit: how the text must be rewritten */
    const char *start;
    GError **errp;
} Checker;

static bool fail(Checker *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool fail(Checker *c, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(c->errp, "JSON parse error, %s", msg);
    return false;
}

static void skip_blanks(Checker *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static bool check_value(Checker *c);

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = g_ascii_tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* \uXXXX at c->p (after the 'u'); stores the code unit. */
static bool check_hex4(Checker *c, unsigned *unit)
{
    *unit = 0;
    for (int i = 0; i < 4; i++) {
        int v = c->p < c->end ? hex_value(*c->p) : -1;
        if (v < 0) {
            return fail(c, "invalid \\u escape in string");
        }
        *unit = *unit * 16 + v;
        c->p++;
    }
    return true;
}

static bool check_unicode_escape(Checker *c)
{
    unsigned unit, low;

    if (!check_hex4(c, &unit)) {
        return false;
    }
    if (unit == 0) {
        return fail(c, "\\u0000 is not supported");
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) {
        return fail(c, "invalid \\u escape in string (lone surrogate)");
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
        if (c->end - c->p < 2 || c->p[0] != '\\' || c->p[1] != 'u') {
            return fail(c, "invalid \\u escape in string (lone surrogate)");
        }
        c->p += 2;
        if (!check_hex4(c, &low)) {
            return false;
        }
        if (low < 0xdc00 || low > 0xdfff) {
            return fail(c, "invalid \\u escape in string (lone surrogate)");
        }
    }
    return true;
}

/* A string at c->p (on the opening quote). */
static bool check_string(Checker *c)
{
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = *c->p++;

        if (ch == '"') {
            return true;
        }
        if (ch < 0x20) {
            return fail(c, "invalid character U+%04X in string", ch);
        }
        if (ch != '\\') {
            continue;
        }
        if (c->p >= c->end) {
            break;
        }
        ch = *c->p++;
        if (ch == 'u') {
            if (!check_unicode_escape(c)) {
                return false;
            }
        } else if (!strchr("\"\\/bfnrt", ch) || !ch) {
            return fail(c, "invalid escape sequence '\\%c' in string", ch);
        }
    }
    return fail(c, "missing closing quote");
}

static bool is_digit(const Checker *c)
{
    return c->p < c->end && g_ascii_isdigit(*c->p);
}

/* A number at c->p, RFC 8259 grammar. */
static bool check_number(Checker *c)
{
    const char *begin = c->p;
    bool integer = true;

    if (*c->p == '-') {
        c->p++;
    }
    if (!is_digit(c)) {
        return fail(c, "expecting value");
    }
    if (*c->p == '0' && c->p + 1 < c->end && g_ascii_isdigit(c->p[1])) {
        return fail(c, "invalid number (leading zero)");
    }
    while (is_digit(c)) {
        c->p++;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        integer = false;
        if (!is_digit(c)) {
            return fail(c, "invalid number (no digit after '.')");
        }
        while (is_digit(c)) {
            c->p++;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        integer = false;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        if (!is_digit(c)) {
            return fail(c, "invalid number (no digit in exponent)");
        }
        while (is_digit(c)) {
            c->p++;
        }
    }
    g_autofree char *tok = g_strndup(begin, c->p - begin);
    TextEdit edit = { begin - c->start, c->p - c->start, NULL };
    errno = 0;
    if (integer) {
        /* Beyond int64: QEMU reads it as floating point. */
        g_ascii_strtoll(tok, NULL, 10);
        if (errno == ERANGE) {
            edit.start = edit.end;
            edit.with = ".0";
        }
    } else if (!isfinite(g_ascii_strtod(tok, NULL))) {
        /* QEMU reads an infinity; keep it finite so echoes stay JSON. */
        edit.with = *begin == '-' ? "-1.7976931348623157e308"
                                  : "1.7976931348623157e308";
    }
    if (edit.with) {
        g_array_append_val(c->edits, edit);
    }
    return true;
}

static bool check_keyword(Checker *c)
{
    static const char *const words[] = { "true", "false", "null" };
    const char *begin = c->p;

    while (c->p < c->end && (g_ascii_isalnum(*c->p) || *c->p == '_')) {
        c->p++;
    }
    for (guint i = 0; i < G_N_ELEMENTS(words); i++) {
        if (strlen(words[i]) == (size_t)(c->p - begin) &&
            !memcmp(words[i], begin, c->p - begin)) {
            return true;
        }
    }
    return fail(c, "invalid keyword '%.*s'", (int)MIN(c->p - begin, 64),
                begin);
}

/* Keys seen in one object: raw text spans, hashed once there are many. */
typedef struct KeySet {
    GArray *spans;            /* pairs of const char* (start, end) */
    GHashTable *hash;         /* owned key copies, or NULL */
} KeySet;

static bool key_is_new(KeySet *ks, const char *start, const char *end)
{
    size_t len = end - start;

    if (ks->hash) {
        char *key = g_strndup(start, len);
        if (g_hash_table_contains(ks->hash, key)) {
            g_free(key);
            return false;
        }
        g_hash_table_add(ks->hash, key);
        return true;
    }
    for (guint i = 0; i < ks->spans->len; i += 2) {
        const char *s = g_array_index(ks->spans, const char *, i);
        const char *e = g_array_index(ks->spans, const char *, i + 1);
        if ((size_t)(e - s) == len && !memcmp(s, start, len)) {
            return false;
        }
    }
    g_array_append_val(ks->spans, start);
    g_array_append_val(ks->spans, end);
    if (ks->spans->len / 2 > SMALL_OBJECT_KEYS) {
        ks->hash = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         NULL);
        for (guint i = 0; i < ks->spans->len; i += 2) {
            const char *s = g_array_index(ks->spans, const char *, i);
            const char *e = g_array_index(ks->spans, const char *, i + 1);
            g_hash_table_add(ks->hash, g_strndup(s, e - s));
        }
    }
    return true;
}

static bool check_member(Checker *c, KeySet *keys)
{
    const char *key_start = c->p;

    if (c->p >= c->end || *c->p != '"') {
        return fail(c, "key is not a string in object");
    }
    if (!check_string(c)) {
        return false;
    }
    if (!key_is_new(keys, key_start, c->p)) {
        return fail(c, "duplicate key");
    }
    skip_blanks(c);
    if (c->p >= c->end || *c->p != ':') {
        return fail(c, "missing : in object pair");
    }
    c->p++;
    return check_value(c);
}

static bool check_object(Checker *c)
{
    KeySet keys = { .spans = g_array_new(FALSE, FALSE, sizeof(char *)) };
    bool ok = true;

    c->p++;
    skip_blanks(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        g_array_unref(keys.spans);
        return true;
    }
    for (;;) {
        skip_blanks(c);
        if (!(ok = check_member(c, &keys))) {
            break;
        }
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') {
            c->p++;
            break;
        }
        ok = fail(c, "expected separator in dict");
        break;
    }
    g_array_unref(keys.spans);
    if (keys.hash) {
        g_hash_table_unref(keys.hash);
    }
    return ok;
}

static bool check_array(Checker *c)
{
    c->p++;
    skip_blanks(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return true;
    }
    for (;;) {
        if (!check_value(c)) {
            return false;
        }
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == ']') {
            c->p++;
            return true;
        }
        return fail(c, "expected separator in list");
    }
}

static bool check_value(Checker *c)
{
    bool ok;

    skip_blanks(c);
    if (c->p >= c->end) {
        return fail(c, "expecting value");
    }
    switch (*c->p) {
    case '{':
    case '[':
        if (++c->depth > JSON_CHECK_MAX_DEPTH) {
            return fail(c, "nesting too deep");
        }
        ok = *c->p == '{' ? check_object(c) : check_array(c);
        c->depth--;
        return ok;
    case '"':
        return check_string(c);
    case '-':
        return check_number(c);
    default:
        if (g_ascii_isdigit(*c->p)) {
            return check_number(c);
        }
        if (g_ascii_isalpha(*c->p)) {
            return check_keyword(c);
        }
        if ((unsigned char)*c->p < 0x20 || (unsigned char)*c->p >= 0x7f) {
            return fail(c, "stray '\\x%02X'", (unsigned char)*c->p);
        }
        return fail(c, "stray '%c'", *c->p);
    }
}

static GString *apply_edits(const char *text, size_t len, GArray *edits)
{
    GString *out = g_string_sized_new(len + edits->len * 24);
    size_t copied = 0;

    for (guint i = 0; i < edits->len; i++) {
        const TextEdit *e = &g_array_index(edits, TextEdit, i);
        g_string_append_len(out, text + copied, e->start - copied);
        g_string_append(out, e->with);
        copied = e->end;
    }
    g_string_append_len(out, text + copied, len - copied);
    return out;
}

bool json_check(const char *text, size_t len, GString **widened,
                GError **errp)
{
    Checker c = {
        .p = text, .end = text + len, .start = text, .errp = errp,
        .edits = g_array_new(FALSE, FALSE, sizeof(TextEdit)),
    };
    bool ok;

    *widened = NULL;
    if (!g_utf8_validate_len(text, len, NULL)) {
        g_array_unref(c.edits);
        error_setg(errp, "JSON parse error, invalid UTF-8 sequence");
        return false;
    }
    ok = check_value(&c);
    if (ok) {
        skip_blanks(&c);
        if (c.p < c.end) {
            ok = fail(&c, "unexpected data after the value");
        }
    }
    if (ok && c.edits->len) {
        *widened = apply_edits(text, len, c.edits);
    }
    g_array_unref(c.edits);
    return ok;
}
