/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The schema tables that scripts/qapi-gen.py writes into qapi-introspect.c,
 * and the validator that walks them.  Private to qapi/ and its tests: the
 * rest of the tree uses include/qapi/qmp-schema.h.
 *
 * Types refer to each other by index into QapiSchema.types, resolved by the
 * generator, so checking a request never looks a type up by name.  Object
 * members are flattened (base members first, in schema order); a flat
 * union's variants are listed in the order of its discriminator enum's
 * values, one per value (the empty object where the schema has no branch).
 */
#ifndef QAPI_SCHEMA_PRIV_H
#define QAPI_SCHEMA_PRIV_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum QapiKind {
    QAPI_KIND_STR,
    QAPI_KIND_INT,          /* int, int64 */
    QAPI_KIND_INT8,
    QAPI_KIND_INT16,
    QAPI_KIND_INT32,
    QAPI_KIND_UINT8,
    QAPI_KIND_UINT16,
    QAPI_KIND_UINT32,
    QAPI_KIND_UINT64,       /* uint64, size */
    QAPI_KIND_NUMBER,
    QAPI_KIND_BOOL,
    QAPI_KIND_NULL,
    QAPI_KIND_ANY,
    QAPI_KIND_ENUM,
    QAPI_KIND_OBJECT,
    QAPI_KIND_ARRAY,
    QAPI_KIND_ALTERNATE,
} QapiKind;

typedef struct QapiMember {
    const char *name;
    uint32_t type;                  /* index into QapiSchema.types */
    bool optional;
} QapiMember;

typedef struct QapiType {
    const char *name;               /* schema name, e.g. "BlockdevRef" */
    QapiKind kind;
    /* QAPI_KIND_ENUM */
    const char *const *values;
    uint32_t n_values;
    /* QAPI_KIND_OBJECT */
    const QapiMember *members;
    uint32_t n_members;
    int tag;                        /* discriminator's member index, or -1 */
    /* flat union: object type per enum value; alternate: branch types */
    const uint32_t *variants;
    uint32_t n_variants;
    /* QAPI_KIND_ARRAY */
    uint32_t element;
} QapiType;

typedef struct QapiSchema {
    const QapiType *types;          /* [0] is the empty object */
    uint32_t n_types;
    const char *const *events;      /* event names, NULL-terminated */
    uint32_t n_events;
    const char *introspection;      /* query-qmp-schema reply, JSON */
    gsize *cache;                   /* lookup tables, built at first use */
} QapiSchema;

/* The daemon's schema (qapi/qapi-introspect.c). */
extern const QapiSchema qapi_schema;

/* Index of type @name in @schema, or -1.  O(1) after the first call. */
int qapi_schema_find_type(const QapiSchema *schema, const char *name);

/*
 * Check @args against object type @type of @schema (see
 * qmp_validate_args() for the messages).  Never changes @args.
 */
bool qapi_schema_validate(const QapiSchema *schema, uint32_t type,
                          JsonObject *args, GError **errp);

#endif
