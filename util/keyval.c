/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QemuOpts-style option strings; see include/qemu/keyval.h for the syntax.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qemu/error.h"
#include "qemu/keyval.h"

typedef struct KeyvalPair {
    char *key;
    char *value;
} KeyvalPair;

struct Keyval {
    GArray *pairs; /* KeyvalPair, in the order written */
};

/* Read a value up to a single ',' (",," is a literal comma). */
static const char *parse_value(const char *p, char **value)
{
    GString *s = g_string_new(NULL);

    while (*p) {
        if (*p == ',') {
            if (p[1] != ',') {
                break;
            }
            p++;
        }
        g_string_append_c(s, *p++);
    }
    *value = g_string_free(s, FALSE);
    return p;
}

/* One item at @p; returns where the next one starts. */
static const char *parse_item(const char *p, const char *implied_key,
                              KeyvalPair *pair)
{
    size_t len = strcspn(p, "=,");

    if (p[len] == '=') {
        pair->key = g_strndup(p, len);
        p = parse_value(p + len + 1, &pair->value);
    } else if (implied_key) {
        pair->key = g_strdup(implied_key);
        p = parse_value(p, &pair->value);
    } else {
        bool negated = len >= 2 && strncmp(p, "no", 2) == 0;

        pair->key = g_strndup(negated ? p + 2 : p, negated ? len - 2 : len);
        pair->value = g_strdup(negated ? "off" : "on");
        p += len;
    }
    return *p ? p + 1 : p;
}

Keyval *keyval_parse(const char *str, const char *implied_key)
{
    Keyval *kv = g_new0(Keyval, 1);
    const char *p = str ? str : "";

    kv->pairs = g_array_new(FALSE, FALSE, sizeof(KeyvalPair));
    while (*p) {
        KeyvalPair pair;

        p = parse_item(p, implied_key, &pair);
        implied_key = NULL; /* only the first item may be implied */
        g_array_append_val(kv->pairs, pair);
    }
    return kv;
}

void keyval_free(Keyval *kv)
{
    if (!kv) {
        return;
    }
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *pair = &g_array_index(kv->pairs, KeyvalPair, i);

        g_free(pair->key);
        g_free(pair->value);
    }
    g_array_free(kv->pairs, TRUE);
    g_free(kv);
}

guint keyval_count(const Keyval *kv)
{
    return kv->pairs->len;
}

const char *keyval_key(const Keyval *kv, guint i)
{
    g_assert(i < kv->pairs->len);
    return g_array_index(kv->pairs, KeyvalPair, i).key;
}

const char *keyval_value(const Keyval *kv, guint i)
{
    g_assert(i < kv->pairs->len);
    return g_array_index(kv->pairs, KeyvalPair, i).value;
}

const char *keyval_get(const Keyval *kv, const char *key)
{
    for (guint i = kv->pairs->len; i > 0; i--) {
        KeyvalPair *pair = &g_array_index(kv->pairs, KeyvalPair, i - 1);

        if (strcmp(pair->key, key) == 0) {
            return pair->value;
        }
    }
    return NULL;
}

bool keyval_has(const Keyval *kv, const char *key)
{
    return keyval_get(kv, key) != NULL;
}

bool keyval_parse_bool(const char *name, const char *value, bool *out,
                       GError **errp)
{
    static const char *const yes[] = {"on", "yes", "true", "y", NULL};
    static const char *const no[] = {"off", "no", "false", "n", NULL};

    if (value && g_strv_contains(yes, value)) {
        *out = true;
        return true;
    }
    if (value && g_strv_contains(no, value)) {
        *out = false;
        return true;
    }
    error_setg(errp, "Parameter '%s' expects 'on' or 'off'", name);
    return false;
}

bool keyval_parse_number(const char *name, const char *value, uint64_t *out,
                         GError **errp)
{
    char *end;
    unsigned long long v;
    int err;

    if (!value) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    errno = 0;
    v = strtoull(value, &end, 0);
    err = errno;
    if ((err == 0 && end == value) || *end != '\0' ||
        (err != 0 && err != ERANGE)) {
        error_setg(errp, "Parameter '%s' expects a number", name);
        return false;
    }
    if (err == ERANGE) {
        error_setg(errp, "Value '%s' is too large for parameter '%s'", value,
                   name);
        return false;
    }
    *out = v;
    return true;
}

static bool check_value(const KeyvalDesc *d, const char *value, GError **errp)
{
    bool b;
    uint64_t n;

    switch (d->type) {
    case KEYVAL_BOOL:
        return keyval_parse_bool(d->name, value, &b, errp);
    case KEYVAL_NUMBER:
        return keyval_parse_number(d->name, value, &n, errp);
    case KEYVAL_STRING:
        break;
    }
    return true;
}

bool keyval_validate(const Keyval *kv, const KeyvalDesc *desc, GError **errp)
{
    for (guint i = 0; i < kv->pairs->len; i++) {
        KeyvalPair *pair = &g_array_index(kv->pairs, KeyvalPair, i);
        const KeyvalDesc *d = desc;

        while (d->name && strcmp(d->name, pair->key) != 0) {
            d++;
        }
        if (!d->name) {
            error_setg(errp, "Invalid parameter '%s'", pair->key);
            return false;
        }
        if (!check_value(d, pair->value, errp)) {
            return false;
        }
    }
    return true;
}

bool keyval_get_bool(const Keyval *kv, const char *key, bool def, bool *out,
                     GError **errp)
{
    const char *value = keyval_get(kv, key);

    if (!value) {
        *out = def;
        return true;
    }
    return keyval_parse_bool(key, value, out, errp);
}

bool keyval_get_number(const Keyval *kv, const char *key, uint64_t def,
                       uint64_t *out, GError **errp)
{
    const char *value = keyval_get(kv, key);

    if (!value) {
        *out = def;
        return true;
    }
    return keyval_parse_number(key, value, out, errp);
}
