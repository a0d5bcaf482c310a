/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reading BlockdevOptions members.  Options arrive as typed JSON from QMP,
 * or with string leaves from --blockdev key=value and drive_add; these
 * accessors take either, so the open code reads them one way.
 *
 * @path is the member's name as errors show it ("cache.direct",
 * "file.filename").  Absent members leave *out untouched and give
 * *has = false; a wrong type gives QEMU's "Invalid parameter type for 'x',
 * expected: boolean" (or "Parameter 'x' expects 'on' or 'off'" for a
 * string).
 */
#ifndef BLOCK_OPTIONS_H
#define BLOCK_OPTIONS_H

#include <glib.h>
#include "qemu/json.h"
#include <stdbool.h>
#include <stdint.h>

bool bdrv_opt_bool(JsonObject *o, const char *key, const char *path, bool *has,
                   bool *out, GError **errp);
bool bdrv_opt_int(JsonObject *o, const char *key, const char *path, bool *has,
                  int64_t *out, GError **errp);
/* *out borrows from @o; NULL when absent. */
bool bdrv_opt_str(JsonObject *o, const char *key, const char *path,
                  const char **out, GError **errp);
/* A string among @values (NULL-terminated); *out is the static entry of
 * @values, untouched when absent.  "Parameter 'x' does not accept value
 * 'y'" otherwise. */
bool bdrv_opt_enum(JsonObject *o, const char *key, const char *path,
                   const char *const *values, const char **out, GError **errp);
/* An object member (NULL when absent). */
bool bdrv_opt_object(JsonObject *o, const char *key, const char *path,
                     JsonObject **out, GError **errp);

/* "a.b" from @prefix ("a" or "" or NULL) and @key ("b"); free it. */
char *bdrv_opt_path(const char *prefix, const char *key);

/*
 * key=value,k.sub=value into a JSON object with nested objects and string
 * leaves (",," is a literal comma; QemuOpts' "flag" items mean flag=on).
 * Error: "Parameter 'x' used inconsistently" (x both a value and an
 * object).
 */
JsonObject *bdrv_keyval_to_json(const char *str, GError **errp);

#endif
