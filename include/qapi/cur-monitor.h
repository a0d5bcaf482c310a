/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a QMP command handler may ask of the connection that sent the
 * command it is running (QEMU's "current monitor").  Implemented in
 * monitor/; valid only while a handler runs on the main loop (outside one,
 * there are no fds, the owner is the process's and quit is ignored).
 */
#ifndef QAPI_CUR_MONITOR_H
#define QAPI_CUR_MONITOR_H

#include <glib.h>
#include <stdint.h>

/*
 * Take the next fd that came with this command.  The caller owns the result
 * from here (and must close it); -1 when there is none left.
 */
int cur_mon_take_fd(void);

/* Number of fds that came with this command still untaken. */
guint cur_mon_fd_count(void);

/* Owner id of the connection running this command (for fdset members). */
uint64_t cur_mon_owner(void);

/*
 * Take the fd the current connection stored as @name with getfd: it is no
 * longer the connection's, the caller owns it.  -1 with errp set ("File
 * descriptor named 'x' has not been found") when there is none.
 */
int cur_mon_take_named_fd(const char *name, GError **errp);

/* Exit the daemon once this command's reply has been sent. */
void cur_mon_request_quit(void);

#endif
