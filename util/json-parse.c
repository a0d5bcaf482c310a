/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The JSON parser, building qemu/json.h nodes: the grammar QEMU 7.2 reads.
 *
 * RFC 8259 JSON plus QEMU's extensions: single-quoted strings, the \'
 * escape, \u0000 (kept as modified UTF-8, C0 80, as QEMU keeps it).  No
 * comments, \x escapes, leading zeros, hex numbers or raw control
 * characters, all of which lenient parsers such as json-glib's let
 * through; duplicate keys refused; QEMU's wording; integers beyond int64
 * read as floating point, as QEMU does (keeping the exact value of those
 * that fit uint64, which QEMU keeps too).
 */
#include "qemu/json-parse.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/error.h"
#include "qemu/strbuf.h"

typedef struct Parser {
    const char *p; /* next byte */
    const char *end;
    guint depth;
    GString *scratch; /* decoded string being built */
    char quote;       /* of the string being parsed */
    GError **errp;
} Parser;

static bool fail(Parser *ps, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static bool fail(Parser *ps, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    error_setg(ps->errp, "JSON parse error, %s", msg);
    return false;
}

static void skip_blanks(Parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' ||
                               *ps->p == '\n' || *ps->p == '\r')) {
        ps->p++;
    }
}

static JsonNode *parse_value(Parser *ps);

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch = g_ascii_tolower(ch);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/*
 * QEMU's complaint about the \u escape whose four characters start at
 * @hex: it quotes them as written, up to the string's closing quote.
 */
static bool fail_unicode(Parser *ps, const char *hex)
{
    int n = 0;

    while (n < 4 && hex + n < ps->end) {
        if (hex[n++] == ps->quote) {
            break;
        }
    }
    return fail(ps, "\\u%.*s is not a valid Unicode character", n, hex);
}

/* XXXX after "\u": the UTF-16 code unit. */
static bool parse_hex4(Parser *ps, unsigned *unit)
{
    const char *hex = ps->p;

    *unit = 0;
    for (int i = 0; i < 4; i++) {
        int v = ps->p < ps->end ? hex_value(*ps->p) : -1;
        if (v < 0) {
            return fail_unicode(ps, hex);
        }
        *unit = *unit * 16 + v;
        ps->p++;
    }
    return true;
}

/* \uXXXX (and its low surrogate) after "\u", appended as UTF-8. */
static bool parse_unicode_escape(Parser *ps)
{
    const char *hex = ps->p;
    unsigned unit, low;

    if (!parse_hex4(ps, &unit)) {
        return false;
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) {
        return fail_unicode(ps, hex);
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
        if (ps->end - ps->p < 2 || ps->p[0] != '\\' || ps->p[1] != 'u') {
            return fail_unicode(ps, hex);
        }
        ps->p += 2;
        if (!parse_hex4(ps, &low)) {
            return false;
        }
        if (low < 0xdc00 || low > 0xdfff) {
            return fail_unicode(ps, hex);
        }
        unit = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
    }
    if (unit == 0) {
        /* as QEMU keeps it: modified UTF-8, the writers send \u0000 */
        g_string_append_len(ps->scratch, "\xc0\x80", 2);
        return true;
    }
    g_string_append_unichar(ps->scratch, unit);
    return true;
}

static bool parse_escape(Parser *ps)
{
    static const char from[] = "\"'\\/bfnrt";
    static const char to[] = "\"'\\/\b\f\n\r\t";
    char ch;
    const char *hit;

    if (ps->p >= ps->end) {
        return fail(ps, "missing closing quote");
    }
    ch = *ps->p++;
    if (ch == 'u') {
        return parse_unicode_escape(ps);
    }
    hit = ch ? strchr(from, ch) : NULL;
    if (!hit) {
        return fail(ps, "invalid escape sequence in string");
    }
    g_string_append_c(ps->scratch, to[hit - from]);
    return true;
}

/*
 * A string at ps->p (on the opening quote, double or single: QEMU accepts
 * both), decoded into ps->scratch.
 */
static bool parse_string(Parser *ps)
{
    const char *start = ps->p;

    ps->quote = *ps->p++;
    g_string_truncate(ps->scratch, 0);
    while (ps->p < ps->end) {
        const char *run = ps->p;

        /* Copy plain bytes in one go. */
        while (ps->p < ps->end && *ps->p != ps->quote && *ps->p != '\\' &&
               (unsigned char)*ps->p >= 0x20) {
            ps->p++;
        }
        strbuf_append_len(ps->scratch, run, ps->p - run);
        if (ps->p >= ps->end) {
            break;
        }
        unsigned char ch = *ps->p++;
        if (ch == ps->quote) {
            return true;
        }
        if (ch < 0x20) {
            /* QEMU's lexer gives up here and quotes what it read */
            return fail(ps, "stray '%.*s'", (int)(ps->p - start), start);
        }
        if (!parse_escape(ps)) {
            return false;
        }
    }
    return fail(ps, "missing closing quote");
}

static bool at_digit(const Parser *ps)
{
    return ps->p < ps->end && g_ascii_isdigit(*ps->p);
}

static void skip_digits(Parser *ps)
{
    while (at_digit(ps)) {
        ps->p++;
    }
}

/* Syntax of a number (RFC 8259); *integer tells whether it has no
 * fraction or exponent. */
static bool scan_number(Parser *ps, bool *integer)
{
    *integer = true;
    if (*ps->p == '-') {
        ps->p++;
    }
    if (!at_digit(ps)) {
        return fail(ps, "expecting value");
    }
    if (*ps->p == '0' && ps->p + 1 < ps->end && g_ascii_isdigit(ps->p[1])) {
        return fail(ps, "invalid number (leading zero)");
    }
    skip_digits(ps);
    if (ps->p < ps->end && *ps->p == '.') {
        ps->p++;
        *integer = false;
        if (!at_digit(ps)) {
            return fail(ps, "invalid number (no digit after '.')");
        }
        skip_digits(ps);
    }
    if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
        ps->p++;
        *integer = false;
        if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) {
            ps->p++;
        }
        if (!at_digit(ps)) {
            return fail(ps, "invalid number (no digit in exponent)");
        }
        skip_digits(ps);
    }
    return true;
}

static JsonNode *parse_number(Parser *ps)
{
    const char *begin = ps->p;
    char tok[64];
    g_autofree char *long_tok = NULL;
    const char *text = tok;
    bool integer;
    double d;

    if (!scan_number(ps, &integer)) {
        return NULL;
    }
    size_t len = ps->p - begin;
    if (len < sizeof(tok)) {
        memcpy(tok, begin, len);
        tok[len] = '\0';
    } else {
        text = long_tok = g_strndup(begin, len);
    }
    if (integer) {
        errno = 0;
        gint64 v = g_ascii_strtoll(text, NULL, 10);
        if (errno != ERANGE) {
            return json_node_init_int(json_node_alloc(), v);
        }
        if (text[0] != '-') {
            /* Up to 2^64-1 QEMU keeps the exact value (and echoes it). */
            guint64 u;

            errno = 0;
            u = g_ascii_strtoull(text, NULL, 10);
            if (errno != ERANGE) {
                return json_node_init_uint64(json_node_alloc(), u);
            }
        }
        /* Beyond that: QEMU reads it as floating point. */
    }
    d = g_ascii_strtod(text, NULL);
    if (!isfinite(d)) {
        /* QEMU reads an infinity; keep it finite so echoes stay JSON. */
        d = d < 0 ? -DBL_MAX : DBL_MAX;
    }
    return json_node_init_double(json_node_alloc(), d);
}

static JsonNode *parse_keyword(Parser *ps)
{
    const char *begin = ps->p;
    size_t len;

    while (ps->p < ps->end && (g_ascii_isalnum(*ps->p) || *ps->p == '_')) {
        ps->p++;
    }
    len = ps->p - begin;
    if (len == 4 && !memcmp(begin, "true", 4)) {
        return json_node_init_boolean(json_node_alloc(), TRUE);
    }
    if (len == 5 && !memcmp(begin, "false", 5)) {
        return json_node_init_boolean(json_node_alloc(), FALSE);
    }
    if (len == 4 && !memcmp(begin, "null", 4)) {
        return json_node_init_null(json_node_alloc());
    }
    fail(ps, "invalid keyword '%.*s'", (int)MIN(len, 64), begin);
    return NULL;
}

static bool parse_member(Parser *ps, JsonObject *obj)
{
    char short_key[64]; /* most keys: no allocation */
    g_autofree char *long_key = NULL;
    const char *key;
    JsonNode *value;

    if (ps->p < ps->end && *ps->p == '}') {
        return fail(ps, "expecting value"); /* after a comma, as QEMU */
    }
    if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\'')) {
        return fail(ps, "key is not a string in object");
    }
    if (!parse_string(ps)) {
        return false;
    }
    if (ps->scratch->len < sizeof(short_key)) {
        memcpy(short_key, ps->scratch->str, ps->scratch->len + 1);
        key = short_key;
    } else {
        key = long_key = g_strndup(ps->scratch->str, ps->scratch->len);
    }
    if (json_object_has_member(obj, key)) {
        return fail(ps, "duplicate key");
    }
    skip_blanks(ps);
    if (ps->p >= ps->end || *ps->p != ':') {
        return fail(ps, "missing : in object pair");
    }
    ps->p++;
    value = parse_value(ps);
    if (!value) {
        return false;
    }
    json_object_add_new_member(obj, key, value); /* it owns @value now */
    return true;
}

static JsonNode *parse_object(Parser *ps)
{
    g_autoptr(JsonObject) obj = json_object_new();

    ps->p++;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
        return json_node_init_object(json_node_alloc(), obj);
    }
    for (;;) {
        skip_blanks(ps);
        if (!parse_member(ps, obj)) {
            return NULL;
        }
        skip_blanks(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            return json_node_init_object(json_node_alloc(), obj);
        }
        fail(ps, "expected separator in dict");
        return NULL;
    }
}

static JsonNode *parse_array(Parser *ps)
{
    g_autoptr(JsonArray) arr = json_array_new();

    ps->p++;
    skip_blanks(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
        return json_node_init_array(json_node_alloc(), arr);
    }
    for (;;) {
        JsonNode *elem;

        skip_blanks(ps);
        if (ps->p < ps->end && *ps->p == ']') {
            fail(ps, "expecting value"); /* after a comma, as QEMU */
            return NULL;
        }
        elem = parse_value(ps);
        if (!elem) {
            return NULL;
        }
        json_array_add_element(arr, elem); /* the array owns @elem */
        skip_blanks(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == ']') {
            ps->p++;
            return json_node_init_array(json_node_alloc(), arr);
        }
        fail(ps, "expected separator in list");
        return NULL;
    }
}

static JsonNode *parse_nested(Parser *ps)
{
    JsonNode *node;

    if (++ps->depth > JSON_CHECK_MAX_DEPTH) {
        fail(ps, "nesting too deep");
        return NULL;
    }
    node = *ps->p == '{' ? parse_object(ps) : parse_array(ps);
    ps->depth--;
    return node;
}

static JsonNode *parse_value(Parser *ps)
{
    unsigned char ch;

    skip_blanks(ps);
    if (ps->p >= ps->end) {
        fail(ps, "expecting value");
        return NULL;
    }
    ch = *ps->p;
    if (ch == '{' || ch == '[') {
        return parse_nested(ps);
    }
    if (ch == '"' || ch == '\'') {
        return parse_string(ps)
                   ? json_node_init_string(json_node_alloc(), ps->scratch->str)
                   : NULL;
    }
    if (ch == '-' || g_ascii_isdigit(ch)) {
        return parse_number(ps);
    }
    if (g_ascii_isalpha(ch)) {
        return parse_keyword(ps);
    }
    if (ch < 0x20 || ch >= 0x7f) {
        fail(ps, "stray '\\x%02X'", ch);
    } else {
        fail(ps, "stray '%c'", ch);
    }
    return NULL;
}

/* QMP input is nearly always ASCII: checked eight bytes at a time. */
static bool is_ascii(const char *text, size_t len)
{
    const guint64 high = G_GUINT64_CONSTANT(0x8080808080808080);
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        guint64 w;

        memcpy(&w, text + i, sizeof(w));
        if (w & high) {
            return false;
        }
    }
    for (; i < len; i++) {
        if (text[i] & 0x80) {
            return false;
        }
    }
    return true;
}

JsonNode *json_parse_strict(const char *text, size_t len, GError **errp)
{
    Parser ps = {
        .p = text,
        .end = text + len,
        .errp = errp,
        .scratch = g_string_sized_new(64),
    };
    JsonNode *root = NULL;

    if (!is_ascii(text, len) && !g_utf8_validate_len(text, len, NULL)) {
        error_setg(errp, "JSON parse error, invalid UTF-8 sequence");
    } else {
        root = parse_value(&ps);
        skip_blanks(&ps);
        if (root && ps.p < ps.end) {
            fail(&ps, "unexpected data after the value");
            g_clear_pointer(&root, json_node_unref);
        }
    }
    g_string_free(ps.scratch, TRUE);
    return root;
}

JsonNode *json_from_string(const char *text, GError **errp)
{
    g_return_val_if_fail(text != NULL, NULL);
    return json_parse_strict(text, strlen(text), errp);
}
