/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * human-monitor-command: runs the HMP commands that subsystems registered
 * (drive_add, drive_del, info block...).  Like QEMU, failures are part of the
 * text output, not QMP errors.
 */
#include "monitor-internal.h"

#include <string.h>

#include "qapi/hmp.h"
#include "qapi/qapi-commands.h"

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

char *qmp_human_monitor_command(const char *line, bool has_cpu_index,
                                int64_t cpu_index, GError **errp)
{
    const char *rest;
    g_autofree char *name = hmp_split(line, &rest);
    GString *out = g_string_new("");
    g_autoptr(GError) err = NULL;
    HmpCommandFunc fn;

    if (!*name) {
        return g_string_free(out, FALSE);
    }
    fn = hmp_lookup(name, &rest);
    if (!fn) {
        g_string_append_printf(out, "unknown command: '%s'\r\n", name);
    } else if (!fn(rest, out, &err)) {
        g_string_append_printf(out, "%s\r\n", err->message);
    }
    return g_string_free(out, FALSE);
}
