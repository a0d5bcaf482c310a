/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdpass internals shared by fdpass.c (connection, commands) and
 * fdpass-job.c (job-wait, --wait).
 */
#ifndef FDPASS_H
#define FDPASS_H

#include <glib.h>
#include "qemu/json.h"

#define FDPASS_ERROR (g_quark_from_static_string("fdpass"))
enum { FDPASS_ERR_USAGE = 2, FDPASS_ERR_FAILED = 1 };

typedef struct Conn {
    int fd;         /* owned */
    int timeout_ms; /* for a reply; -1: wait for ever */
    GString *buf;
    gsize scan, start;
    int depth;
    gboolean in_str, esc;
    GQueue msgs;           /* replies, JsonNode* */
    GQueue events;         /* events, JsonNode*, while keep_events */
    gboolean keep_events;  /* else events are dropped */
} Conn;

/* Run one command; its "return" value (new node) or NULL with @errp set to
 * the daemon's error text.  @fds are borrowed. */
JsonNode *qmp_call(Conn *c, const char *text, const int *fds, guint nfds,
                   GError **errp);
/* Wait (up to c->timeout_ms) for bytes and queue what they complete. */
gboolean fdpass_fill(Conn *c, GError **errp);
/* A usage error (exit status 2): @fmt with one %s for @arg. */
gboolean usage_error(GError **errp, const char *fmt, const char *arg);

/* The job a command (JSON text) starts: its arguments' job-id, else (block
 * jobs) its device; a new string, or NULL with a usage error. */
char *fdpass_job_id_of(const char *command, GError **errp);
/* Follow job @id until it concludes; true if it concluded without error,
 * else false with the job's error. */
gboolean fdpass_job_wait(Conn *c, const char *id, GError **errp);

#endif
