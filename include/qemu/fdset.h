/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fdset registry: numbered sets of file descriptors handed to us by a
 * manager, and the duplicates served from them by qemu_open().
 *
 * Knows nothing about monitors or JSON.  Thread-safe: every entry point takes
 * the registry lock; close() always happens after the lock is dropped.
 *
 * Ownership: a member fd belongs to the registry from fdset_add_fd() on.
 * An "owner" is an opaque id of whoever added the member (a monitor
 * connection); FDSET_OWNER_PROCESS marks members that outlive every
 * connection (-add-fd, add-fd with persistent=true).
 */
#ifndef QEMU_FDSET_H
#define QEMU_FDSET_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FDSET_OWNER_PROCESS 0

/* Status flags a member must share with a request to match it. */
#define FDSET_MATCH_FLAGS (O_ACCMODE | O_DIRECT | O_SYNC | O_DSYNC)

typedef struct FdSetLimits {
    guint max_sets;          /* sets alive at once */
    guint max_fds_per_set;   /* members of one set */
    guint max_fds_total;     /* members of all sets */
    gboolean strict_same_file; /* refuse a member that is another file */
} FdSetLimits;

typedef enum FdSetRemoveReason {
    FDSET_REASON_REMOVE_FD,  /* remove-fd */
    FDSET_REASON_DISCONNECT, /* owner went away */
    FDSET_REASON_SHUTDOWN,   /* process exit */
} FdSetRemoveReason;

/* Wire name of a reason: "remove-fd", "disconnect", "shutdown". */
const char *fdset_reason_name(FdSetRemoveReason reason);

typedef enum FdSetEventKind {
    FDSET_EVENT_FD_ADDED,    /* fdset_id, fd, opaque, other_file */
    FDSET_EVENT_FD_REMOVED,  /* fdset_id, fd, reason */
    FDSET_EVENT_FREED,       /* fdset_id */
    FDSET_EVENT_DUP,         /* fdset_id, fd (member), dup_fd, flags */
    FDSET_EVENT_RELEASE,     /* fdset_id, dup_fd */
} FdSetEventKind;

typedef struct FdSetEvent {
    FdSetEventKind kind;
    int64_t fdset_id;
    int fd;                  /* member fd, -1 when not applicable */
    int dup_fd;              /* dup fd, -1 when not applicable */
    int flags;               /* requested open flags (DUP) */
    FdSetRemoveReason reason;
    const char *opaque;      /* NULL when none */
    bool other_file;         /* FD_ADDED: not the same file as the set's first */
} FdSetEvent;

/*
 * Called for every change, in the order they happened, outside the lock,
 * on the thread that made the change.  Several listeners may be registered.
 */
typedef void (*FdSetListener)(const FdSetEvent *ev, void *opaque);
void fdset_add_listener(FdSetListener fn, void *opaque);

/* Unregister a listener added with the same @fn and @opaque (not from a
 * listener callback). */
void fdset_remove_listener(FdSetListener fn, void *opaque);

/*
 * A listener is active when added.  An inactive one is not called; while
 * no listener is active, changes record no events at all (cheaper).
 */
void fdset_set_listener_active(FdSetListener fn, void *opaque, bool active);

/* Snapshot of one member, for queries. */
typedef struct FdSetMemberInfo {
    int fd;
    const char *opaque;      /* NULL when not given */
    int flags;               /* F_GETFL as last seen: at add, and at every
                                open that looked for a match in the set */
    dev_t dev;
    ino_t ino;
    bool persistent;         /* owner is FDSET_OWNER_PROCESS */
} FdSetMemberInfo;

typedef struct FdSetInfo {
    int64_t fdset_id;
    guint dup_count;
    guint n_members;
    FdSetMemberInfo *members; /* oldest first */
} FdSetInfo;

/* Limits in force; defaults are set by fdset_init(). */
void fdset_get_limits(FdSetLimits *out);
void fdset_set_limits(const FdSetLimits *limits);

/*
 * Add @fd to set @fdset_id, creating the set when missing; @fdset_id < 0
 * with @has_id false picks the lowest free id.  Takes ownership of @fd, also
 * on failure (it is closed then).  On success stores the set id in
 * *@out_fdset_id and returns true.
 */
bool fdset_add_fd(bool has_id, int64_t fdset_id, int fd, const char *opaque,
                  uint64_t owner, int64_t *out_fdset_id, GError **errp);

/*
 * remove-fd: close member @fd of set @fdset_id (every member when !@has_fd).
 * The set itself goes when it has neither members nor dups.
 */
bool fdset_remove_fd(int64_t fdset_id, bool has_fd, int64_t fd, GError **errp);

/*
 * An owner went away: close its members in sets that have no dups; members
 * in sets with dups are handed to the process and closed when the last dup
 * goes (a later reopen may need them).
 */
void fdset_release_owner(uint64_t owner);

/* Close every member and forget every set (process exit, tests). */
void fdset_shutdown(void);

/*
 * qemu_open() of /dev/fdset/@fdset_id: dup (CLOEXEC) the newest member whose
 * FDSET_MATCH_FLAGS equal @flags' and track the dup.  Truncates for O_TRUNC
 * and O_CREAT|O_EXCL.  Returns the dup, or -1 with errno set (ENOENT no such
 * set, EACCES no matching member, other: dup/ftruncate failure) and errp.
 * The caller owns the dup and must release it with fdset_release_dup().
 */
int fdset_dup_fd(int64_t fdset_id, int flags, GError **errp);

/*
 * Forget @fd if it is a tracked dup (the caller then closes it).  Frees the
 * set when that was its last reference.  Returns true if it was tracked.
 */
bool fdset_release_dup(int fd);

/*
 * Call @fn for every set, by descending id, members oldest first.  Runs
 * under the registry lock: @fn must not call back into fdset_*(), and what
 * it is given (opaque strings included) is valid during the call only.
 */
typedef void (*FdSetQueryFunc)(const FdSetInfo *set, void *opaque);
void fdset_query_foreach(FdSetQueryFunc fn, void *opaque);

/* The same, as a snapshot the caller owns (opaques are copies). */
FdSetInfo *fdset_query(guint *n_sets);
void fdset_info_free(FdSetInfo *sets, guint n_sets);

/* Counts, for limits reporting and leak checks. */
guint fdset_count_sets(void);
guint fdset_count_members(void);
guint fdset_count_dups(void);

/* Start from an empty registry with default limits (tests call it too). */
void fdset_init(void);

#endif
