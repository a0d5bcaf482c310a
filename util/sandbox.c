/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --sandbox on: no-new-privs, a Landlock ruleset that grants nothing, and a
 * seccomp deny list of path-based calls.  See include/qemu/sandbox.h.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<seccomp.h>)
#include <seccomp.h>
#define SANDBOX_HAVE_SECCOMP 1
#endif
#endif

#include "qemu/error.h"
#include "qemu/sandbox.h"

/*
 * The installed <linux/landlock.h> may predate the running kernel: the
 * rights and syscall numbers newer ABIs added are spelled out here.
 */
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)       /* ABI 2 */
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)    /* ABI 3 */
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)   /* ABI 5 */
#endif
#ifndef LANDLOCK_ACCESS_NET_BIND_TCP
#define LANDLOCK_ACCESS_NET_BIND_TCP (1ULL << 0)    /* ABI 4 */
#endif
#ifndef LANDLOCK_ACCESS_NET_CONNECT_TCP
#define LANDLOCK_ACCESS_NET_CONNECT_TCP (1ULL << 1) /* ABI 4 */
#endif
#ifndef LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#endif
#ifndef LANDLOCK_SCOPE_SIGNAL
#define LANDLOCK_SCOPE_SIGNAL (1ULL << 1)           /* ABI 6 */
#endif
#ifndef LANDLOCK_RESTRICT_SELF_TSYNC
#define LANDLOCK_RESTRICT_SELF_TSYNC (1U << 3)        /* ABI 8 */
#endif
#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#endif
#ifndef __NR_landlock_restrict_self
#define __NR_landlock_restrict_self 446
#endif

/* Filesystem rights of Landlock ABI 1. */
#define SANDBOX_LANDLOCK_FS_V1                                                 \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |              \
     LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |              \
     LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |          \
     LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |              \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |              \
     LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |            \
     LANDLOCK_ACCESS_FS_MAKE_SYM)

/*
 * struct landlock_ruleset_attr as of ABI 6; older kernels are given the
 * prefix they know (see landlock_ruleset_for_abi()).
 */
typedef struct SandboxRulesetAttr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net; /* ABI 4 */
    uint64_t scoped;             /* ABI 6 */
} SandboxRulesetAttr;

/* The errno every denied call fails with (Landlock's own is EACCES too). */
#define SANDBOX_ERRNO EACCES

static unsigned sandbox_layers;
static char sandbox_description[128] = "none";

int sandbox_landlock_abi(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
                       LANDLOCK_CREATE_RULESET_VERSION);

    return abi > 0 ? (int)abi : 0;
}

/* Fill @attr with every right @abi knows; returns the size to pass. */
static size_t landlock_ruleset_for_abi(int abi, SandboxRulesetAttr *attr)
{
    *attr = (SandboxRulesetAttr){ .handled_access_fs = SANDBOX_LANDLOCK_FS_V1 };
    if (abi >= 2) {
        attr->handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
    }
    if (abi >= 3) {
        attr->handled_access_fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
    }
    if (abi >= 5) {
        attr->handled_access_fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
    }
    if (abi < 4) {
        return sizeof(attr->handled_access_fs);
    }
    attr->handled_access_net =
        LANDLOCK_ACCESS_NET_BIND_TCP | LANDLOCK_ACCESS_NET_CONNECT_TCP;
    if (abi < 6) {
        return offsetof(SandboxRulesetAttr, scoped);
    }
    attr->scoped = LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | LANDLOCK_SCOPE_SIGNAL;
    return sizeof(*attr);
}

static long landlock_restrict_self(int ruleset_fd, unsigned flags)
{
    return syscall(__NR_landlock_restrict_self, ruleset_fd, flags);
}

/*
 * Restrict to a domain that handles everything @abi knows and allows none
 * of it: every thread when the kernel can (ABI 8, TSYNC), else the calling
 * thread and the threads it creates from now on.  *@all_threads tells which.
 */
static bool landlock_apply(int abi, bool *all_threads, GError **errp)
{
    SandboxRulesetAttr attr;
    size_t size = landlock_ruleset_for_abi(abi, &attr);
    unsigned flags = abi >= 8 ? LANDLOCK_RESTRICT_SELF_TSYNC : 0;
    int ruleset_fd;
    int saved_errno;
    long rc;

    ruleset_fd = syscall(__NR_landlock_create_ruleset, &attr, size, 0);
    if (ruleset_fd < 0) {
        error_setg_errno(errp, errno,
                         "Could not create Landlock ruleset (ABI %d)", abi);
        return false;
    }
    rc = landlock_restrict_self(ruleset_fd, flags);
    if (rc < 0 && flags && errno == EINVAL) {
        flags = 0;      /* a kernel that reports ABI 8 but refuses TSYNC */
        rc = landlock_restrict_self(ruleset_fd, flags);
    }
    saved_errno = errno;
    close(ruleset_fd);
    if (rc < 0) {
        error_setg_errno(errp, saved_errno, "Could not enforce Landlock");
        return false;
    }
    *all_threads = flags != 0;
    return true;
}

/* Threads of this process, or -1 if /proc cannot tell. */
static int count_threads(void)
{
    DIR *dir = opendir("/proc/self/task");
    struct dirent *ent;
    int n = 0;

    if (!dir) {
        return -1;
    }
    while ((ent = readdir(dir))) {
        if (ent->d_name[0] != '.') {
            n++;
        }
    }
    closedir(dir);
    return n;
}

/*
 * Load now what libc and GLib would otherwise read from files on first use
 * after the sandbox is up: the local timezone, the charset, strerror texts.
 */
static void warm_caches(void)
{
    GTimeZone *tz;
    volatile size_t sink = 0; /* g_strerror() is declared const */
    int e;

    tzset();
    tz = g_time_zone_new_local();
    g_time_zone_unref(tz);
    g_get_charset(NULL);
    for (e = 1; e < 134; e++) {
        sink += strlen(g_strerror(e));
    }
}

#ifdef SANDBOX_HAVE_SECCOMP

/*
 * Syscalls that never get through.  @nr is the number in the table shared by
 * all architectures since Linux 5.1 (>= 424), used when the installed
 * libseccomp does not know the name yet; 0 if there is none to use.
 */
typedef struct SandboxDeny {
    const char *name;
    int nr;
} SandboxDeny;

static const SandboxDeny sandbox_deny[] = {
    /* opening a path */
    { "open", 0 }, { "openat", 0 }, { "openat2", 437 }, { "creat", 0 },
    { "open_by_handle_at", 0 }, { "name_to_handle_at", 0 },
    /* running something else */
    { "execve", 0 }, { "execveat", 0 }, { "uselib", 0 },
    /* making, linking, renaming and removing names */
    { "mknod", 0 }, { "mknodat", 0 }, { "mkdir", 0 }, { "mkdirat", 0 },
    { "rmdir", 0 }, { "symlink", 0 }, { "symlinkat", 0 }, { "link", 0 },
    { "linkat", 0 }, { "rename", 0 }, { "renameat", 0 },
    { "renameat2", 0 }, { "unlink", 0 }, { "unlinkat", 0 },
    /* changing a file by path (Landlock does not cover most of these) */
    { "chmod", 0 }, { "fchmodat", 0 }, { "fchmodat2", 452 }, { "chown", 0 },
    { "lchown", 0 }, { "fchownat", 0 }, { "truncate", 0 }, { "utime", 0 },
    { "utimes", 0 }, { "futimesat", 0 }, { "setxattr", 0 },
    { "lsetxattr", 0 }, { "removexattr", 0 }, { "lremovexattr", 0 },
    { "setxattrat", 463 }, { "removexattrat", 466 },
    { "file_setattr", 469 }, { "inotify_add_watch", 0 },
    { "fanotify_mark", 0 }, { "acct", 0 },
    /* the mount table and the root */
    { "mount", 0 }, { "umount", 0 }, { "umount2", 0 }, { "pivot_root", 0 },
    { "chroot", 0 }, { "open_tree", 428 }, { "move_mount", 429 },
    { "fsopen", 430 }, { "fsconfig", 431 }, { "fsmount", 432 },
    { "fspick", 433 }, { "mount_setattr", 442 }, { "open_tree_attr", 467 },
    { "swapon", 0 }, { "swapoff", 0 }, { "unshare", 0 }, { "setns", 0 },
    /* other processes */
    { "ptrace", 0 }, { "process_vm_readv", 0 }, { "process_vm_writev", 0 },
    { "pidfd_getfd", 438 },
    /* io_uring can open paths without passing through seccomp */
    { "io_uring_setup", 425 }, { "io_uring_enter", 426 },
    { "io_uring_register", 427 },
    /* new sockets and addresses: listeners are bound before start-up */
    { "socket", 0 }, { "bind", 0 }, { "connect", 0 },
    /* the kernel itself */
    { "init_module", 0 }, { "finit_module", 0 }, { "delete_module", 0 },
    { "kexec_load", 0 }, { "kexec_file_load", 0 }, { "reboot", 0 },
    { "bpf", 0 },
};

/*
 * Whether numbers from the shared table (>= 424) are the native ones
 * (architectures that number them with an offset are left out).
 */
#if (defined(__x86_64__) && !defined(__ILP32__)) || defined(__aarch64__) ||  \
    defined(__i386__) || (defined(__riscv) && __riscv_xlen == 64)
#define SANDBOX_SHARED_SYSCALL_TABLE 1
#endif

static int deny_lookup(const SandboxDeny *deny)
{
    int nr = seccomp_syscall_resolve_name(deny->name);

#ifdef SANDBOX_SHARED_SYSCALL_TABLE
    if (nr == __NR_SCMP_ERROR && deny->nr > 0) {
        nr = deny->nr;
    }
#endif
    return nr;
}

static bool seccomp_deny_all(scmp_filter_ctx ctx, GError **errp)
{
    size_t i;
    int nr;
    int rc;

    for (i = 0; i < G_N_ELEMENTS(sandbox_deny); i++) {
        nr = deny_lookup(&sandbox_deny[i]);
        if (nr == __NR_SCMP_ERROR) {
            continue;       /* neither libseccomp nor this arch has it */
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(SANDBOX_ERRNO), nr, 0);
        if (rc < 0 && nr >= 0) {
            error_setg_errno(errp, -rc, "Could not add seccomp rule for %s",
                             sandbox_deny[i].name);
            return false;
        }
        /* negative pseudo-numbers (not on this arch) may be refused */
    }
    return true;
}

/*
 * Calls allowed only in their fd-based or connected forms: utimensat on an
 * fd (NULL path, as futimens()), sendto without an address, socketpair of
 * connected AF_UNIX stream/seqpacket sockets (a datagram pair could send to
 * any named socket).
 */
static bool seccomp_deny_forms(scmp_filter_ctx ctx, GError **errp)
{
    const uint32_t deny = SCMP_ACT_ERRNO(SANDBOX_ERRNO);
    int rc;
    int type;

    rc = seccomp_rule_add(ctx, deny, SCMP_SYS(utimensat), 1,
                          SCMP_A1(SCMP_CMP_NE, 0));
    if (rc == 0) {
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(sendto), 1,
                              SCMP_A4(SCMP_CMP_NE, 0));
    }
    if (rc == 0) {
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(socketpair), 1,
                              SCMP_A0(SCMP_CMP_NE, AF_UNIX));
    }
    for (type = 0; rc == 0 && type <= 0xf; type++) {
        if (type == SOCK_STREAM || type == SOCK_SEQPACKET) {
            continue;
        }
        rc = seccomp_rule_add(ctx, deny, SCMP_SYS(socketpair), 1,
                              SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, type));
    }
    if (rc < 0) {
        error_setg_errno(errp, -rc, "Could not add seccomp argument rule");
        return false;
    }
    return true;
}

/* The filter, built but not loaded; NULL with @errp set on failure. */
static scmp_filter_ctx seccomp_build(GError **errp)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc;

    if (!ctx) {
        error_setg(errp, "Could not initialise seccomp");
        return NULL;
    }
    /* every thread, including those GLib already started */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (rc == 0) {
        /* other ABIs (i386 on x86_64) fail instead of being let through */
        rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
                              SCMP_ACT_ERRNO(SANDBOX_ERRNO));
    }
    if (rc < 0) {
        error_setg_errno(errp, -rc, "Could not set seccomp attributes");
        seccomp_release(ctx);
        return NULL;
    }
    if (!seccomp_deny_all(ctx, errp) || !seccomp_deny_forms(ctx, errp)) {
        seccomp_release(ctx);
        return NULL;
    }
    return ctx;
}

/* Takes ownership of @ctx, also on failure. */
static bool seccomp_load_filter(scmp_filter_ctx ctx, GError **errp)
{
    int rc = seccomp_load(ctx);

    seccomp_release(ctx);
    if (rc < 0) {
        error_setg_errno(errp, -rc, "Could not load seccomp filter");
        return false;
    }
    return true;
}

#else /* !SANDBOX_HAVE_SECCOMP */

typedef void *scmp_filter_ctx;

static scmp_filter_ctx seccomp_build(GError **errp)
{
    error_setg(errp, "seccomp sandbox not available: built without "
               "libseccomp");
    return NULL;
}

static bool seccomp_load_filter(scmp_filter_ctx ctx, GError **errp)
{
    g_assert_not_reached();
}

#endif

static void describe(unsigned layers, int abi, bool landlock_missing,
                     int older_threads)
{
    GString *s = g_string_new(NULL);

    if (layers & SANDBOX_LAYER_LANDLOCK) {
        g_string_append_printf(s, "landlock ABI %d", abi);
        if (older_threads > 0) {
            g_string_append_printf(s, " (not on %d older thread%s)",
                                   older_threads,
                                   older_threads == 1 ? "" : "s");
        }
    }
    if (layers & SANDBOX_LAYER_SECCOMP) {
        g_string_append(s, s->len ? " + seccomp" : "seccomp");
    }
    if (landlock_missing) {
        g_string_append(s, " (landlock unavailable)");
    }
    g_strlcpy(sandbox_description, s->str, sizeof(sandbox_description));
    g_string_free(s, TRUE);
}

/*
 * Apply the layers in @want; of them, those in @required must be available.
 * Everything that can fail without a side effect is checked first.
 */
static bool sandbox_apply(unsigned want, unsigned required, GError **errp)
{
    scmp_filter_ctx ctx = NULL;
    int abi = 0;
    int threads = 0;
    bool all_threads = false;
    bool ok = true;

    if (sandbox_layers) {
        error_setg(errp, "Sandbox already entered (%s)", sandbox_description);
        return false;
    }
    if (want & SANDBOX_LAYER_LANDLOCK) {
        abi = sandbox_landlock_abi();
        if (!abi && (required & SANDBOX_LAYER_LANDLOCK)) {
            error_setg(errp, "Landlock is not supported by this kernel");
            return false;
        }
        threads = count_threads();
    }
    if (want & SANDBOX_LAYER_SECCOMP) {
        ctx = seccomp_build(errp);
        if (!ctx) {
            return false;
        }
    }
    warm_caches();

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        error_setg_errno(errp, errno, "Could not set no_new_privs");
        goto fail;
    }
    if (abi && !landlock_apply(abi, &all_threads, errp)) {
        goto fail;
    }
    if (abi) {
        sandbox_layers |= SANDBOX_LAYER_LANDLOCK;
    }
    if (ctx) {
        /* ownership of ctx moves to seccomp_load_filter() */
        ok = seccomp_load_filter(g_steal_pointer(&ctx), errp);
        if (ok) {
            sandbox_layers |= SANDBOX_LAYER_SECCOMP;
        }
    }
    describe(sandbox_layers, abi, (want & SANDBOX_LAYER_LANDLOCK) && !abi,
             all_threads ? 0 : threads - 1);
    return ok;

fail:
#ifdef SANDBOX_HAVE_SECCOMP
    if (ctx) {
        seccomp_release(ctx);
    }
#endif
    return false;
}

bool sandbox_enter(GError **errp)
{
    return sandbox_apply(SANDBOX_LAYER_LANDLOCK | SANDBOX_LAYER_SECCOMP,
                         SANDBOX_LAYER_SECCOMP, errp);
}

bool sandbox_enter_layers(unsigned layers, GError **errp)
{
    layers &= SANDBOX_LAYER_LANDLOCK | SANDBOX_LAYER_SECCOMP;
    if (!layers) {
        error_setg(errp, "No sandbox layer requested");
        return false;
    }
    return sandbox_apply(layers, layers, errp);
}

const char *sandbox_describe(void)
{
    return sandbox_description;
}

unsigned sandbox_active_layers(void)
{
    return sandbox_layers;
}
