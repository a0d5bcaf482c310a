/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the generated QAPI types need: enum string tables and freeing the
 * JSON values 'any' members hold.  Included by qapi/qapi-types.h.
 */
#ifndef QAPI_UTIL_H
#define QAPI_UTIL_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "qemu/json.h"

typedef struct QEnumLookup {
    const char *const *array;   /* value -> name */
    int size;
} QEnumLookup;

/* The name of enum value @val (a valid value). */
const char *qapi_enum_lookup(const QEnumLookup *lookup, int val);

/* The value named @name, or @def when there is none. */
int qapi_enum_parse(const QEnumLookup *lookup, const char *name, int def);

/* An optional string argument of a typed handler: @v, or NULL when the
 * client left it out. */
#define QAPI_OPT(has, v) ((has) ? (v) : NULL)

/* Unref @node (an 'any' or 'null' value); NULL is fine. */
void qapi_free_json(JsonNode *node);

#endif
