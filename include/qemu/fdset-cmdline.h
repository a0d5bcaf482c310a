/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * -add-fd fd=FD,set=SET[,opaque=STR] on the command line, as QEMU does it.
 */
#ifndef QEMU_FDSET_CMDLINE_H
#define QEMU_FDSET_CMDLINE_H

#include <glib.h>
#include <stdbool.h>

/*
 * Handle one -add-fd (@optname as typed: "-add-fd" or "--add-fd").  The
 * inherited fd is borrowed: a CLOEXEC dup of it (>= 3) goes into set SET
 * (created when missing) with owner FDSET_OWNER_PROCESS and the opaque.
 * The original is remembered and closed by fdset_cmdline_close_originals().
 *
 * Checks, QEMU's, in this order (GenericError):
 *   unknown key              "Invalid parameter 'KEY'"
 *   bad number               "Parameter 'fd' expects a number",
 *                            "Value 'V' is too large for parameter 'fd'"
 *   fd missing or negative   "fd option is required and must be non-negative"
 *   fd 0, 1 or 2             "fd cannot be a standard I/O stream"
 *   F_GETFD fails, or
 *   FD_CLOEXEC already set   "fd is not valid or already in use"
 *   set missing or negative  "set option is required and must be non-negative"
 *   dup fails                "error duplicating fd: <strerror>"
 * and then the registry's own errors (limits).
 *
 * Numbers are parsed as uint64 (base 0) and, like QEMU, fd is truncated to
 * int (fd=4294967299 is fd 3) and set to int64 (set=-1 wraps to -1, refused).
 */
/*
 * Syntax only (keys, numbers), as QEMU checks every -add-fd while it reads
 * the command line, before any is carried out.
 */
bool fdset_cmdline_check(const char *optarg, GError **errp);

bool fdset_cmdline_add_fd(const char *optname, const char *optarg,
                          GError **errp);

/*
 * Close every original fd named by a successful fdset_cmdline_add_fd(),
 * once each, after all -add-fd options were handled.
 */
void fdset_cmdline_close_originals(void);

/* Print "PROG: OPTNAME OPTARG: MESSAGE\n" to stderr, QEMU's format. */
void fdset_cmdline_report_error(const char *prog, const char *optname,
                                const char *optarg, const GError *err);

#endif
