/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Appending to a GString on hot paths (the QMP splitter, parser and
 * writer): GLib 2.74's g_string_append_len() is a call that checks for
 * overlap and moves bytes as an insertion; when the bytes fit, a memcpy
 * does.
 */
#ifndef QEMU_STRBUF_H
#define QEMU_STRBUF_H

#include <glib.h>
#include <string.h>

static inline void strbuf_append_len(GString *s, const char *p, gsize len)
{
    if (s->len + len < s->allocated_len) {
        memcpy(s->str + s->len, p, len);
        s->len += len;
        s->str[s->len] = '\0';
    } else {
        g_string_append_len(s, p, len);
    }
}

#endif
