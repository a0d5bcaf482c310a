/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --sandbox on: after start-up the daemon can no longer open any path,
 * while everything fd-based keeps working.
 *
 * Layers, all applied by sandbox_enter():
 *  1. PR_SET_NO_NEW_PRIVS.
 *  2. Landlock (when the kernel has it): a ruleset that handles every
 *     filesystem right the running ABI knows (plus TCP bind/connect from ABI
 *     4 and abstract-unix-socket/signal scoping from ABI 6) and grants
 *     nothing.  From ABI 8 it binds every thread (TSYNC); before, only the
 *     calling thread and the threads it creates later, not threads that
 *     already run (sandbox_describe() then says so).
 *  3. seccomp (libseccomp), on every thread of the process (TSYNC): default
 *     allow, a deny list of path-based and escape-prone calls that fail with
 *     EACCES.  Nothing is killed: qemu_open("/etc/hostname") fails with
 *     "Permission denied".
 *
 * What still works: fds opened before (including the bound listening
 * sockets, log and audit files), accept4, recvmsg with SCM_RIGHTS, dup,
 * fcntl, fstat, pread/pwrite/ftruncate/fsync on any held fd, close,
 * eventfd/pipe/AF_UNIX stream socketpair, threads, memory, clocks,
 * poll/epoll, getrandom, signals to the process itself, exit.
 *
 * What stops working: open/openat/openat2/creat/open_by_handle_at of any
 * path, exec, mknod, (sym)link, rename, unlink, mkdir/rmdir, chmod/chown/
 * truncate/utimes/xattr changes by path, mount and friends, chroot, ptrace,
 * pidfd_getfd, io_uring, socket() (accept4 and socketpair remain), bind,
 * connect, sendto() with an address.  Call tzset() / syslog openlog(...,
 * LOG_NDELAY) and the like before sandbox_enter() if they are needed later;
 * sandbox_enter() itself warms the timezone, charset and strerror caches of
 * libc and GLib.
 */
#ifndef QEMU_SANDBOX_H
#define QEMU_SANDBOX_H

#include <glib.h>
#include <stdbool.h>

typedef enum SandboxLayer {
    SANDBOX_LAYER_LANDLOCK = 1 << 0,
    SANDBOX_LAYER_SECCOMP = 1 << 1,
} SandboxLayer;

/*
 * Enter the sandbox: no-new-privs, Landlock if the kernel supports it, and
 * seccomp (required).  Irreversible; call once, after sockets are bound and
 * files opened.  Returns false with @errp set if the sandbox could not be
 * applied; the process may then be partly restricted and should exit.
 * Fails without side effects when seccomp is unavailable or the sandbox was
 * already entered.
 */
bool sandbox_enter(GError **errp);

/*
 * Like sandbox_enter() with only the layers in @layers (SandboxLayer bits),
 * each of them required: a requested layer the kernel lacks is an error.
 * Meant for tests that exercise one layer alone.
 */
bool sandbox_enter_layers(unsigned layers, GError **errp);

/*
 * The layers in force, for logs and QMP: "none" before sandbox_enter(),
 * then e.g. "landlock ABI 4 + seccomp" or "seccomp (landlock unavailable)".
 * The string is static and stays valid.
 */
const char *sandbox_describe(void);

/* SandboxLayer bits active in this process (0 before sandbox_enter()). */
unsigned sandbox_active_layers(void);

/*
 * Highest Landlock ABI version the running kernel supports, or 0 when
 * Landlock is not built in or disabled.  Does not change anything.
 */
int sandbox_landlock_abi(void);

#endif
