/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Audit trail: one line per fdset event, e.g.
 *   fdsetd-audit: time=2026-11-25T10:00:00.123Z event=dup fdset=1 member=5
 *   flags=0x2 dup=9   (one line)
 * Events and their fields:
 *   add      fdset fd [opaque="..."] [other-file=yes]
 *   remove   fdset fd reason=remove-fd|disconnect|shutdown
 *   dup      fdset member flags dup
 *   release  fdset dup
 *   free     fdset
 * opaque is always quoted; '"', '\\', control and non-ASCII bytes are
 * written as \" \\ \xHH, so a line cannot be forged or split.
 * Each line is written with a single write() (lines never interleave).
 */
#ifndef QEMU_AUDIT_H
#define QEMU_AUDIT_H

#include <glib.h>
#include <stdbool.h>

/*
 * Start the audit trail to @path (appended to, created 0600), or to stderr
 * when @path is NULL or "-".  Replaces a trail already open.  The fd is
 * CLOEXEC.  Errors: "Could not open audit log 'PATH': <strerror>".
 */
bool audit_open(const char *path, GError **errp);

/* Stop the trail and close its file (stderr is left open). */
void audit_close(void);

/* The line for @ev without the trailing newline (exposed for tests). */
struct FdSetEvent;
char *audit_format_event(const struct FdSetEvent *ev, gint64 realtime_us);

#endif
