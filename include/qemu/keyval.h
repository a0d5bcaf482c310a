/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QemuOpts-style option strings: "key=value,key2=value2", as used by -qmp,
 * -add-fd, drive_add and friends.
 *
 * Syntax, as QEMU's QemuOpts parses it:
 * - items are separated by ','; in a value ",," is a literal ','.  A key
 *   ends at the first '=' or ',' (keys cannot contain either);
 * - with an @implied_key, a first item that has no '=' before its end is the
 *   whole value of that key ("unix:/p,server=on" with implied key "path");
 * - any other item without '=' is a flag: "foo" means foo=on, "nofoo"
 *   foo=off (QEMU's deprecated short form, e.g. "server,nowait");
 * - "" has no items; "a=" gives a the empty value; a trailing ',' is ignored.
 * - Duplicates are all kept, in order; lookups return the last one (as
 *   QemuOpts does).
 * Parsing never fails; keyval_validate() checks keys and typed values.
 */
#ifndef QEMU_KEYVAL_H
#define QEMU_KEYVAL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct Keyval Keyval;

/* Parse @str; @implied_key may be NULL.  Free with keyval_free(). */
Keyval *keyval_parse(const char *str, const char *implied_key);
void keyval_free(Keyval *kv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Keyval, keyval_free)

/* The items in the order written (duplicates included). */
guint keyval_count(const Keyval *kv);
const char *keyval_key(const Keyval *kv, guint i);
const char *keyval_value(const Keyval *kv, guint i);

/* The last value given for @key, or NULL. */
const char *keyval_get(const Keyval *kv, const char *key);
bool keyval_has(const Keyval *kv, const char *key);

typedef enum KeyvalType {
    KEYVAL_STRING,
    KEYVAL_BOOL,
    KEYVAL_NUMBER,
} KeyvalType;

typedef struct KeyvalDesc {
    const char *name;
    KeyvalType type;
} KeyvalDesc;

/*
 * Check every item in order against @desc (terminated by a NULL name), as
 * QemuOpts does when it sets options: an unknown key gives
 * "Invalid parameter 'KEY'", a bad value the errors of
 * keyval_parse_bool()/keyval_parse_number().  The first problem is reported.
 */
bool keyval_validate(const Keyval *kv, const KeyvalDesc *desc, GError **errp);

/*
 * on/yes/true/y and off/no/false/n; else
 * "Parameter 'NAME' expects 'on' or 'off'".
 */
bool keyval_parse_bool(const char *name, const char *value, bool *out,
                       GError **errp);

/*
 * An unsigned 64-bit number, base 0 (0x.. hex, 0.. octal), leading blanks
 * allowed, the whole string consumed; "-N" wraps like strtoull (as QEMU).
 * Errors: "Parameter 'NAME' expects a number",
 * "Value 'VALUE' is too large for parameter 'NAME'".
 */
bool keyval_parse_number(const char *name, const char *value, uint64_t *out,
                         GError **errp);

/* Typed lookups of the last value; an absent key gives @def. */
bool keyval_get_bool(const Keyval *kv, const char *key, bool def, bool *out,
                     GError **errp);
bool keyval_get_number(const Keyval *kv, const char *key, uint64_t def,
                       uint64_t *out, GError **errp);

#endif
