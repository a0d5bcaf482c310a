/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * HMP commands reachable through QMP's human-monitor-command.  Subsystems
 * register their commands at start-up; the monitor only looks them up, so it
 * never depends on the block layer.
 */
#ifndef QAPI_HMP_H
#define QAPI_HMP_H

#include <glib.h>
#include <stdbool.h>

/*
 * @args is the command line after the command name, leading blanks removed.
 * Append human-readable output to @out.  Return false with errp set on error
 * (the monitor prints the message as HMP does, it is not a QMP error).
 */
typedef bool (*HmpCommandFunc)(const char *args, GString *out, GError **errp);

void hmp_register_command(const char *name, HmpCommandFunc fn);
HmpCommandFunc hmp_find_command(const char *name);

#endif
