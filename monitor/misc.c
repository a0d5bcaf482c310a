/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * human-monitor-command: runs the HMP commands that subsystems registered
 * (drive_add, drive_del, info block...).  Like QEMU, failures are part of the
 * text output, not QMP errors.
 */
#include "monitor-internal.h"

#include <string.h>

#include "qapi/hmp.h"
#include "qapi/qmp.h"

/* Split "name rest..." into the command name and its arguments. */
static char *hmp_split(const char *line, const char **rest)
{
    const char *p = line;
    const char *start;

    while (*p == ' ' || *p == '\t') {
        p++;
    }
    start = p;
    while (*p && *p != ' ' && *p != '\t') {
        p++;
    }
    char *name = g_strndup(start, p - start);
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    *rest = p;
    return name;
}

/* "info block" is the command "info block", not "info" with "block". */
static HmpCommandFunc hmp_lookup(const char *name, const char **rest)
{
    if (strcmp(name, "info") == 0) {
        g_autofree char *what = hmp_split(*rest, rest);
        g_autofree char *full = g_strdup_printf("info %s", what);
        return hmp_find_command(full);
    }
    return hmp_find_command(name);
}

JsonNode *qmp_human_monitor_command(JsonObject *args, QmpContext *ctx,
                                    GError **errp)
{
    const char *line = qmp_arg_str(args, "command-line");
    const char *rest;
    g_autofree char *name = hmp_split(line, &rest);
    g_autoptr(GString) out = g_string_new("");
    g_autoptr(GError) err = NULL;
    HmpCommandFunc fn;
    JsonNode *ret;

    if (!*name) {
        return json_node_init_string(json_node_alloc(), "");
    }
    fn = hmp_lookup(name, &rest);
    if (!fn) {
        g_string_append_printf(out, "unknown command: '%s'\r\n", name);
    } else if (!fn(rest, out, &err)) {
        g_string_append_printf(out, "%s\r\n", err->message);
    }
    ret = json_node_alloc();
    return json_node_init_string(ret, out->str);
}
