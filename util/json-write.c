/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON text from nodes: QMP's layout ({"a": 1, "b": [2]}, what QEMU sends),
 * and json-glib's compact and pretty ones for json_to_string().
 *
 * Every layout escapes every control character, writes bytes that are not
 * UTF-8 as U+FFFD and numbers that JSON can read back, so the text is
 * always valid JSON whatever the strings held.
 */
#include "qemu/json.h"

#include <math.h>
#include <string.h>

#include "qemu/strbuf.h"

/* Escape for one ASCII byte, or NULL when it goes out as it is. */
static const char *ascii_escape(unsigned char c, char buf[8])
{
    static const char hex[] = "0123456789abcdef";

    switch (c) {
    case '"':
        return "\\\"";
    case '\\':
        return "\\\\";
    case '\n':
        return "\\n";
    case '\r':
        return "\\r";
    case '\t':
        return "\\t";
    default:
        if (c >= 0x20) {
            return NULL;
        }
        memcpy(buf, "\\u00", 4);
        buf[4] = hex[c >> 4];
        buf[5] = hex[c & 15];
        buf[6] = '\0';
        return buf;
    }
}

/* \uXXXX, upper-case hex as QEMU writes it. */
static void append_u_escape(GString *out, guint code)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[6] = "\\u";

    for (int i = 0; i < 4; i++) {
        buf[2 + i] = hex[(code >> (12 - 4 * i)) & 15];
    }
    strbuf_append_len(out, buf, sizeof(buf));
}

/* QEMU's escape of an ASCII byte that does not stand for itself. */
static void append_qemu_ascii_escape(GString *out, unsigned char c)
{
    switch (c) {
    case '"':
        g_string_append(out, "\\\"");
        break;
    case '\\':
        g_string_append(out, "\\\\");
        break;
    case '\b':
        g_string_append(out, "\\b");
        break;
    case '\f':
        g_string_append(out, "\\f");
        break;
    case '\n':
        g_string_append(out, "\\n");
        break;
    case '\r':
        g_string_append(out, "\\r");
        break;
    case '\t':
        g_string_append(out, "\\t");
        break;
    default:
        append_u_escape(out, c); /* other controls and DEL */
        break;
    }
}

/* How a string style writes what does not stand for itself. */
typedef struct StringStyle {
    /* an ASCII byte other than a plain printable one */
    void (*ascii)(GString *out, unsigned char c);
    /* a byte that does not start a valid UTF-8 character */
    void (*invalid)(GString *out);
    /* the valid non-ASCII character @ch, the bytes [@p, @next) */
    void (*unichar)(GString *out, gunichar ch, const char *p, const char *next);
} StringStyle;

/*
 * Strings may come from outside a JSON text (an -add-fd opaque, a name in
 * an image header) and need not be UTF-8.  U+0000 is C0 80 in them (the
 * parser keeps it so, as QEMU does) and goes out as \u0000.
 */
static void append_string_styled(GString *out, const char *s,
                                 const StringStyle *st)
{
    const char *p = s;

    g_string_append_c(out, '"');
    while (*p) {
        unsigned char c = *p;
        const char *run = p;
        gunichar ch;

        /* characters that stand for themselves, copied as one run */
        while (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            c = *++p;
        }
        if (p > run) {
            strbuf_append_len(out, run, p - run);
        } else if (c < 0x80) {
            st->ascii(out, c);
            p++;
        } else if (c == 0xc0 && (unsigned char)p[1] == 0x80) {
            append_u_escape(out, 0);
            p += 2;
        } else if ((ch = g_utf8_get_char_validated(p, -1)) == (gunichar)-1 ||
                   ch == (gunichar)-2) {
            st->invalid(out);
            p++;
        } else {
            const char *next = g_utf8_next_char(p);

            st->unichar(out, ch, p, next);
            p = next;
        }
    }
    g_string_append_c(out, '"');
}

static void qemu_invalid(GString *out)
{
    append_u_escape(out, 0xFFFD);
}

/* Beyond the BMP: a surrogate pair, as QEMU writes it. */
static void qemu_unichar(GString *out, gunichar ch, const char *p,
                         const char *next)
{
    if (ch > 0xFFFF) {
        append_u_escape(out, 0xD800 + ((ch - 0x10000) >> 10));
        append_u_escape(out, 0xDC00 + ((ch - 0x10000) & 0x3FF));
    } else {
        append_u_escape(out, ch);
    }
}

static void glib_ascii(GString *out, unsigned char c)
{
    char buf[8];
    const char *esc = ascii_escape(c, buf);

    if (esc) {
        g_string_append(out, esc);
    } else {
        g_string_append_c(out, c);
    }
}

static void glib_invalid(GString *out)
{
    g_string_append(out, "\xef\xbf\xbd"); /* U+FFFD */
}

static void glib_unichar(GString *out, gunichar ch, const char *p,
                         const char *next)
{
    strbuf_append_len(out, p, next - p);
}

void json_append_string_qmp(GString *out, const char *s)
{
    static const StringStyle qemu = {append_qemu_ascii_escape, qemu_invalid,
                                     qemu_unichar};

    append_string_styled(out, s, &qemu);
}

void json_append_string(GString *out, const char *s)
{
    static const StringStyle glib = {glib_ascii, glib_invalid, glib_unichar};

    append_string_styled(out, s, &glib);
}

/* How a layout separates things, and writes a whole double. */
typedef struct Style {
    const char *comma; /* between members or elements */
    const char *colon; /* between a name and its value */
    bool lines;        /* one member or element per line, indented */
    bool float_suffix; /* 100.0, not 100 (json-glib); QEMU writes 100 */
    void (*append_string)(GString *out, const char *s);
} Style;

static const Style styles[] = {
    [JSON_LAYOUT_COMPACT] = {",", ":", false, true, json_append_string},
    [JSON_LAYOUT_PRETTY] = {",", " : ", true, true, json_append_string},
    [JSON_LAYOUT_QMP] = {", ", ": ", false, false, json_append_string_qmp},
};

/* %.17g, as QEMU and json-glib write doubles. */
static void append_double(GString *out, double d, const Style *st)
{
    char buf[G_ASCII_DTOSTR_BUF_SIZE];

    if (!isfinite(d)) {
        g_string_append(out, "null"); /* JSON has no infinity */
        return;
    }
    g_ascii_dtostr(buf, sizeof(buf), d);
    g_string_append(out, buf);
    if (st->float_suffix && !strpbrk(buf, ".eE")) {
        g_string_append(out, ".0"); /* stays a floating-point number */
    }
}

static void append_value(GString *out, JsonNode *node, const Style *st)
{
    const char *s;
    guint64 u;

    switch (json_node_get_value_type(node)) {
    case G_TYPE_INT64:
        g_string_append_printf(out, "%" G_GINT64_FORMAT,
                               json_node_get_int(node));
        break;
    case G_TYPE_DOUBLE:
        if (json_node_get_exact_uint64(node, &u)) {
            g_string_append_printf(out, "%" G_GUINT64_FORMAT, u);
        } else {
            append_double(out, json_node_get_double(node), st);
        }
        break;
    case G_TYPE_BOOLEAN:
        g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
        break;
    case G_TYPE_STRING:
        s = json_node_get_string(node);
        if (s) {
            st->append_string(out, s);
        } else {
            g_string_append(out, "null");
        }
        break;
    default:
        g_string_append(out, "null");
        break;
    }
}

static void append_node(GString *out, JsonNode *node, const Style *st,
                        guint level);

/* Before a member or element at @level: a line break and indentation. */
static void begin_item(GString *out, const Style *st, guint i, guint level)
{
    if (i) {
        g_string_append(out, st->comma);
    }
    if (st->lines) {
        g_string_append_c(out, '\n');
        for (guint n = 0; n < level * 2; n++) {
            g_string_append_c(out, ' ');
        }
    }
}

/* Indentation of a closing brace; json-glib's pretty layout writes it
 * even for an empty object ("{  }" one level in), never for an empty
 * array. */
static void end_items(GString *out, const Style *st, guint n, guint level,
                      bool object)
{
    if (!st->lines || (n == 0 && !object)) {
        return;
    }
    if (n) {
        g_string_append_c(out, '\n');
    }
    for (guint i = 0; i < level * 2; i++) {
        g_string_append_c(out, ' ');
    }
}

static void append_object(GString *out, JsonObject *obj, const Style *st,
                          guint level)
{
    JsonObjectIter it;
    const char *name;
    JsonNode *member;
    guint i = 0;

    g_string_append_c(out, '{');
    json_object_iter_init_ordered(&it, obj);
    while (json_object_iter_next_ordered(&it, &name, &member)) {
        begin_item(out, st, i++, level + 1);
        st->append_string(out, name);
        g_string_append(out, st->colon);
        append_node(out, member, st, level + 1);
    }
    end_items(out, st, i, level, true);
    g_string_append_c(out, '}');
}

static void append_array(GString *out, JsonArray *arr, const Style *st,
                         guint level)
{
    guint n = json_array_get_length(arr);

    g_string_append_c(out, '[');
    for (guint i = 0; i < n; i++) {
        begin_item(out, st, i, level + 1);
        append_node(out, json_array_get_element(arr, i), st, level + 1);
    }
    end_items(out, st, n, level, false);
    g_string_append_c(out, ']');
}

static void append_node(GString *out, JsonNode *node, const Style *st,
                        guint level)
{
    if (json_node_get_object(node)) {
        append_object(out, json_node_get_object(node), st, level);
    } else if (json_node_get_array(node)) {
        append_array(out, json_node_get_array(node), st, level);
    } else if (JSON_NODE_HOLDS_VALUE(node)) {
        append_value(out, node, st);
    } else {
        g_string_append(out, "null");
    }
}

void json_append_node(GString *out, JsonNode *node, JsonLayout layout)
{
    g_return_if_fail(layout < G_N_ELEMENTS(styles));
    if (!node) {
        g_string_append(out, "null");
        return;
    }
    append_node(out, node, &styles[layout], 0);
}

char *json_to_string(JsonNode *node, gboolean pretty)
{
    GString *out;

    g_return_val_if_fail(node != NULL, NULL);
    out = g_string_new(NULL);
    json_append_node(out, node,
                     pretty ? JSON_LAYOUT_PRETTY : JSON_LAYOUT_COMPACT);
    return g_string_free(out, FALSE);
}
