/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The registry of HMP commands reachable through human-monitor-command.
 * Subsystems register at start-up; the monitor looks commands up.  Both may
 * happen on any thread.
 */
#include "qapi/hmp.h"

static GMutex hmp_lock;
static GHashTable *hmp_commands;     /* name -> HmpCommandFunc */

/* Registering a name again replaces the earlier function. */
void hmp_register_command(const char *name, HmpCommandFunc fn)
{
    g_return_if_fail(name != NULL && fn != NULL);

    g_mutex_lock(&hmp_lock);
    if (!hmp_commands) {
        hmp_commands = g_hash_table_new_full(g_str_hash, g_str_equal,
                                             g_free, NULL);
    }
    g_hash_table_insert(hmp_commands, g_strdup(name), (gpointer)fn);
    g_mutex_unlock(&hmp_lock);
}

HmpCommandFunc hmp_find_command(const char *name)
{
    HmpCommandFunc fn = NULL;

    g_mutex_lock(&hmp_lock);
    if (hmp_commands && name) {
        fn = (HmpCommandFunc)g_hash_table_lookup(hmp_commands, name);
    }
    g_mutex_unlock(&hmp_lock);
    return fn;
}
