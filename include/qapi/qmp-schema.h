/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The schema at run time.  scripts/qapi-gen.py reads the qapi/ schema files and
 * generates the command table (qapi-commands.c, linked into the daemon, with
 * a marshaller per command that calls its typed qmp_* handler) and the
 * introspection data (qapi-introspect.c, in libqapi) that both validates
 * arguments and answers query-qmp-schema.
 */
#ifndef QAPI_QMP_SCHEMA_H
#define QAPI_QMP_SCHEMA_H

#include "qapi/qmp.h"

/*
 * A command's marshaller: @args (never NULL) passed qmp_validate_args().
 * On success it appends the "return" value as QMP text to @out and returns
 * true; else false with errp set (and @out as it was).
 */
typedef bool (*QmpCommandFunc)(JsonObject *args, GString *out,
                               GError **errp);

typedef struct QmpCommandDef {
    const char *name;          /* "add-fd" */
    QmpCommandFunc fn;         /* qmp_marshal_add_fd */
    const char *arg_type;      /* schema type of the arguments, or NULL */
    bool allow_preconfig;
    bool success_response;     /* false for commands that send no reply */
} QmpCommandDef;

/* The generated table (qapi-commands.c). */
extern const QmpCommandDef qmp_command_table[];
extern const guint qmp_command_table_len;

/* Lookup by name; NULL when unknown. */
const QmpCommandDef *qmp_find_command(const char *name);

/*
 * Check @args (never NULL) against the command's argument type with QEMU's
 * messages: "Parameter 'x' is missing", "Parameter 'x' is unexpected",
 * "Invalid parameter type for 'x', expected: integer", nested names as
 * "cache.direct".  May fill in nothing; never changes @args.
 */
bool qmp_validate_args(const QmpCommandDef *cmd, JsonObject *args,
                       GError **errp);

/* Does event @name exist in the schema? (for debug assertions) */
bool qmp_schema_has_event(const char *name);

/* A new node with the whole introspection list. */
JsonNode *qmp_schema_introspection(void);

/*
 * The same list as QMP text, for query-qmp-schema: written once, as the
 * schema never changes, rather than copied and written per request (a
 * few thousand nodes each time).  Lives as long as the process.
 */
const char *qmp_schema_introspection_json(void);

#endif
