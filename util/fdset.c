/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fdset registry: QEMU's fdset semantics, ownership, limits, events.
 * The compact storage underneath is util/fdset-store.c.
 *
 * Locking: reg_lock protects the registry.  Every mutating entry point also
 * holds deliver_lock (recursive) from before it takes reg_lock until its
 * events are delivered, so events reach listeners in the order they
 * happened, on the thread that made the change.  A listener that calls back
 * into the registry has its events queued behind the ones being delivered.
 * Members are closed after both locks are dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qemu/error.h"
#include "qemu/fdset.h"
#include "qemu/osdep.h"
#include "util/fdset-store.h"

#define DEFAULT_MAX_SETS 65536
#define DEFAULT_MAX_FDS_PER_SET 64
#define NO_IDX FDSET_NO_IDX

typedef struct Listener {
    FdSetListener fn;
    void *opaque;
    bool active;
} Listener;

typedef struct Registry {
    bool ready;
    FdSetLimits limits;
    FdSetStore st;
    /* Slab indexes by descending id, for queries: sorted again only when
     * the store's set generation moved. */
    guint32 *order;
    guint32 order_gen;
    bool order_valid;
} Registry;

static GMutex reg_lock;
static GRecMutex deliver_lock;
static Registry reg;
static GArray *listeners; /* Listener, under deliver_lock */
/* Listeners that want events now: with none, no event is even recorded. */
static gint active_listeners;

/* Events being delivered on this thread (nested changes queue here). */
static __thread GArray *tls_delivering;

typedef struct PendingEvent {
    FdSetEvent ev;
    char *opaque; /* owned copy */
} PendingEvent;

/* One change: events and fds to close once the locks are dropped (each
 * array made on first use: most changes need one of them or neither). */
typedef struct FdSetOp {
    GArray *events;   /* PendingEvent, or NULL */
    GArray *to_close; /* int, or NULL */
} FdSetOp;

const char *fdset_reason_name(FdSetRemoveReason reason)
{
    switch (reason) {
    case FDSET_REASON_REMOVE_FD:
        return "remove-fd";
    case FDSET_REASON_DISCONNECT:
        return "disconnect";
    case FDSET_REASON_SHUTDOWN:
        return "shutdown";
    }
    return "unknown";
}

static inline FdSetRec *rec_at(guint32 idx)
{
    return fdset_store_rec(&reg.st, idx);
}

static inline FdSetMember *member_at(guint32 idx, guint i)
{
    return fdset_store_member(&reg.st, idx, i);
}

/* ---- events, operations ---- */

/* Record an event for the listeners; NULL (nothing recorded) when none
 * of them wants events now. */
static PendingEvent *op_event(FdSetOp *op, FdSetEventKind kind, gint64 fdset_id,
                              int fd, int dup_fd)
{
    PendingEvent pe = {
        .ev = {.kind = kind, .fdset_id = fdset_id, .fd = fd, .dup_fd = dup_fd},
    };

    if (!g_atomic_int_get(&active_listeners)) {
        return NULL;
    }
    if (!op->events) {
        op->events = g_array_sized_new(FALSE, FALSE, sizeof(PendingEvent), 2);
    }
    g_array_append_val(op->events, pe);
    return &g_array_index(op->events, PendingEvent, op->events->len - 1);
}

/* @fd goes with the change: closed once the locks are dropped. */
static void op_close_later(FdSetOp *op, int fd)
{
    if (!op->to_close) {
        op->to_close = g_array_sized_new(FALSE, FALSE, sizeof(int), 2);
    }
    g_array_append_val(op->to_close, fd);
}

static void reg_reset_locked(void);

static void op_begin(FdSetOp *op)
{
    op->events = NULL;
    op->to_close = NULL;
    g_rec_mutex_lock(&deliver_lock);
    g_mutex_lock(&reg_lock);
    if (!reg.ready) {
        reg_reset_locked();
    }
}

static void deliver(GArray *events)
{
    /* events may grow while we walk it: nested changes append to it */
    for (guint i = 0; i < events->len; i++) {
        PendingEvent pe = g_array_index(events, PendingEvent, i);

        pe.ev.opaque = pe.opaque;
        for (guint l = 0; listeners && l < listeners->len; l++) {
            Listener li = g_array_index(listeners, Listener, l);

            if (li.active) {
                li.fn(&pe.ev, li.opaque);
            }
        }
    }
}

static void op_end(FdSetOp *op)
{
    GArray *events = op->events;

    g_mutex_unlock(&reg_lock);
    if (events && tls_delivering) {
        /* called from a listener: queue behind the events in delivery */
        g_array_append_vals(tls_delivering, events->data, events->len);
        g_array_set_size(events, 0);
    } else if (events) {
        tls_delivering = events;
        deliver(events);
        tls_delivering = NULL;
    }
    g_rec_mutex_unlock(&deliver_lock);

    if (events) {
        for (guint i = 0; i < events->len; i++) {
            g_free(g_array_index(events, PendingEvent, i).opaque);
        }
        g_array_free(events, TRUE);
    }
    if (op->to_close) {
        for (guint i = 0; i < op->to_close->len; i++) {
            qemu_close_fd_quietly(g_array_index(op->to_close, int, i));
        }
        g_array_free(op->to_close, TRUE);
    }
}

/* ---- set lifetime ---- */

static void set_maybe_free(FdSetOp *op, guint32 idx)
{
    FdSetRec *s = rec_at(idx);

    if (s->n_members || s->dup_count) {
        return;
    }
    if (op) {
        op_event(op, FDSET_EVENT_FREED, s->id, -1, -1);
    }
    fdset_store_drop(&reg.st, idx);
}

/* Close member @i; @op NULL: no event (reset). */
static void member_close(FdSetOp *op, guint32 idx, guint i,
                         FdSetRemoveReason reason)
{
    FdSetMember *m = member_at(idx, i);
    int fd = m->fd;

    if (op) {
        PendingEvent *pe =
            op_event(op, FDSET_EVENT_FD_REMOVED, rec_at(idx)->id, fd, -1);

        if (pe) {
            pe->ev.reason = reason;
        }
        op_close_later(op, fd);
    } else {
        qemu_close_fd_quietly(fd);
    }
    g_free(m->opaque);
    fdset_store_owner_unref(&reg.st, m->owner);
    fdset_store_delete(&reg.st, idx, i);
}

/* Close the members handed to the process when their owner left. */
static void set_reap_orphans(FdSetOp *op, guint32 idx)
{
    guint i = 0;

    while (i < rec_at(idx)->n_members) {
        if (member_at(idx, i)->owner == FDSET_SLOT_ORPHAN) {
            member_close(op, idx, i, FDSET_REASON_DISCONNECT);
        } else {
            i++;
        }
    }
}

static void dup_untrack(FdSetOp *op, int fd)
{
    guint32 idx = fdset_store_dup_lookup(&reg.st, fd);
    FdSetRec *s = rec_at(idx);

    fdset_store_dup_remove(&reg.st, fd);
    op_event(op, FDSET_EVENT_RELEASE, s->id, -1, fd);
    if (s->dup_count == 0) {
        set_reap_orphans(op, idx);
    }
    set_maybe_free(op, idx);
}

static bool dup_is_tracked(int fd)
{
    return fdset_store_dup_lookup(&reg.st, fd) != NO_IDX;
}

/*
 * @fd is a new descriptor of ours: a record under its number is stale (a
 * dup closed without qemu_close()); drop it.
 */
static void dup_forget_stale(FdSetOp *op, int fd)
{
    if (dup_is_tracked(fd)) {
        dup_untrack(op, fd);
    }
}

/* ---- init, limits, listeners ---- */

static guint default_max_fds_total(void)
{
    struct rlimit rl;
    rlim_t soft = 1024, headroom;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        soft = rl.rlim_cur;
    }
    if (soft == RLIM_INFINITY || soft > (1u << 30)) {
        soft = 1u << 30;
    }
    headroom = MAX(soft / 4, 64);
    return soft > headroom ? soft - headroom : MAX(soft / 2, 1);
}

/* Close every member without events and start empty. */
static void reg_reset_locked(void)
{
    if (reg.ready) {
        for (guint32 idx = 0; idx < reg.st.n_records; idx++) {
            while (rec_at(idx)->id >= 0 && rec_at(idx)->n_members) {
                member_close(NULL, idx, 0, FDSET_REASON_SHUTDOWN);
            }
        }
        fdset_store_destroy(&reg.st);
    }
    g_clear_pointer(&reg.order, g_free);
    reg.order_valid = false;
    reg.ready = true;
    reg.limits = (FdSetLimits){
        .max_sets = DEFAULT_MAX_SETS,
        .max_fds_per_set = DEFAULT_MAX_FDS_PER_SET,
        .max_fds_total = default_max_fds_total(),
    };
    fdset_store_init(&reg.st);
}

void fdset_init(void)
{
    g_mutex_lock(&reg_lock);
    reg_reset_locked();
    g_mutex_unlock(&reg_lock);
}

static void reg_lock_ready(void)
{
    g_mutex_lock(&reg_lock);
    if (!reg.ready) {
        reg_reset_locked();
    }
}

void fdset_get_limits(FdSetLimits *out)
{
    reg_lock_ready();
    *out = reg.limits;
    g_mutex_unlock(&reg_lock);
}

void fdset_set_limits(const FdSetLimits *limits)
{
    reg_lock_ready();
    reg.limits = *limits;
    g_mutex_unlock(&reg_lock);
}

void fdset_add_listener(FdSetListener fn, void *opaque)
{
    Listener li = {.fn = fn, .opaque = opaque, .active = true};

    g_rec_mutex_lock(&deliver_lock);
    if (!listeners) {
        listeners = g_array_new(FALSE, FALSE, sizeof(Listener));
    }
    g_array_append_val(listeners, li);
    g_atomic_int_inc(&active_listeners);
    g_rec_mutex_unlock(&deliver_lock);
}

void fdset_set_listener_active(FdSetListener fn, void *opaque, bool active)
{
    g_rec_mutex_lock(&deliver_lock);
    for (guint l = 0; listeners && l < listeners->len; l++) {
        Listener *li = &g_array_index(listeners, Listener, l);

        if (li->fn == fn && li->opaque == opaque && li->active != active) {
            li->active = active;
            g_atomic_int_add(&active_listeners, active ? 1 : -1);
        }
    }
    g_rec_mutex_unlock(&deliver_lock);
}

void fdset_remove_listener(FdSetListener fn, void *opaque)
{
    g_rec_mutex_lock(&deliver_lock);
    for (guint l = 0; listeners && l < listeners->len; l++) {
        Listener *li = &g_array_index(listeners, Listener, l);

        if (li->fn == fn && li->opaque == opaque) {
            if (li->active) {
                g_atomic_int_add(&active_listeners, -1);
            }
            g_array_remove_index(listeners, l);
            break;
        }
    }
    g_rec_mutex_unlock(&deliver_lock);
}

/* ---- add ---- */

/* The set a new member goes into, created when missing; NO_IDX: errp set. */
static guint32 add_pick_set(bool has_id, gint64 id, GError **errp)
{
    const FdSetLimits *lim = &reg.limits;
    guint32 idx = has_id ? fdset_store_lookup(&reg.st, id) : NO_IDX;
    guint have = idx != NO_IDX ? rec_at(idx)->n_members : 0;

    if (idx == NO_IDX && reg.st.n_sets >= lim->max_sets) {
        error_setg(errp,
                   "Cannot create fdset: %u fdsets exist "
                   "(limit max-sets=%u)",
                   reg.st.n_sets, lim->max_sets);
        return NO_IDX;
    }
    if (have >= lim->max_fds_per_set) {
        if (idx != NO_IDX) {
            error_setg(errp,
                       "Cannot add fd to fdset %" PRId64 ": it has %u "
                       "fds (limit max-fds-per-set=%u)",
                       id, have, lim->max_fds_per_set);
        } else {
            error_setg(errp, "Cannot add fd: no fds allowed in an fdset "
                             "(limit max-fds-per-set=0)");
        }
        return NO_IDX;
    }
    if (reg.st.n_members >= lim->max_fds_total) {
        error_setg(errp,
                   "Cannot add fd: %u fds are held in fdsets "
                   "(limit max-fds-total=%u)",
                   reg.st.n_members, lim->max_fds_total);
        return NO_IDX;
    }
    if (idx == NO_IDX) {
        idx = fdset_store_create(&reg.st, has_id, id);
    }
    return idx;
}

/* Takes ownership of @m's opaque, not of its fd. */
static bool add_locked(FdSetOp *op, bool has_id, gint64 id, FdSetMember *m,
                       guint64 owner, gint64 *out_id, GError **errp)
{
    PendingEvent *pe;
    guint32 idx = add_pick_set(has_id, id, errp);
    FdSetRec *s;
    bool other;

    if (idx == NO_IDX) {
        return false;
    }
    s = rec_at(idx);
    other = s->n_members && (s->m0.dev != m->dev || s->m0.ino != m->ino);
    if (other && reg.limits.strict_same_file) {
        error_setg(errp,
                   "Cannot add fd to fdset %" PRId64 ": it is not the "
                   "same file as the fdset's members",
                   s->id);
        return false;
    }
    dup_forget_stale(op, m->fd);
    m->owner = fdset_store_owner_ref(&reg.st, owner);
    fdset_store_append(&reg.st, idx, m);
    pe = op_event(op, FDSET_EVENT_FD_ADDED, s->id, m->fd, -1);
    if (pe) {
        pe->opaque = g_strdup(m->opaque);
        pe->ev.other_file = other;
    }
    if (out_id) {
        *out_id = s->id;
    }
    return true;
}

bool fdset_add_fd(bool has_id, int64_t fdset_id, int fd, const char *opaque,
                  uint64_t owner, int64_t *out_fdset_id, GError **errp)
{
    FdSetOp op;
    FdSetMember m = {.fd = fd};
    struct stat st;
    int fl;
    bool ok;

    if (has_id && fdset_id < 0) {
        error_setg(errp, "Parameter 'fdset-id' expects a non-negative value");
        qemu_close_fd_quietly(fd);
        return false;
    }
    fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fstat(fd, &st) < 0) {
        error_setg_errno(errp, errno, "Cannot add fd %d to an fdset", fd);
        qemu_close_fd_quietly(fd);
        return false;
    }
    m.flags = fl;
    m.dev = (guint32)st.st_dev;
    m.ino = st.st_ino;
    m.opaque = g_strdup(opaque);

    op_begin(&op);
    ok = add_locked(&op, has_id, fdset_id, &m, owner, out_fdset_id, errp);
    if (!ok) {
        g_free(m.opaque);
        op_close_later(&op, fd); /* ours, also on failure */
    }
    op_end(&op);
    return ok;
}

/* ---- remove, release ---- */

bool fdset_remove_fd(int64_t fdset_id, bool has_fd, int64_t fd, GError **errp)
{
    FdSetOp op;
    guint32 idx;
    guint i = 0;
    bool ok = true;

    op_begin(&op);
    idx = fdset_store_lookup(&reg.st, fdset_id);
    if (idx != NO_IDX && has_fd) {
        FdSetRec *s = rec_at(idx);

        while (i < s->n_members && member_at(idx, i)->fd != fd) {
            i++;
        }
        if (i < s->n_members) {
            member_close(&op, idx, i, FDSET_REASON_REMOVE_FD);
        } else {
            idx = NO_IDX;
        }
    } else if (idx != NO_IDX) {
        while (rec_at(idx)->n_members) {
            member_close(&op, idx, 0, FDSET_REASON_REMOVE_FD);
        }
    }
    if (idx == NO_IDX) {
        ok = false;
        if (has_fd) {
            error_setg(errp,
                       "File descriptor named 'fdset-id:%" PRId64
                       ", fd:%" PRId64 "' not found",
                       fdset_id, fd);
        } else {
            error_setg(errp,
                       "File descriptor named 'fdset-id:%" PRId64 "' not found",
                       fdset_id);
        }
    } else {
        set_maybe_free(&op, idx);
    }
    op_end(&op);
    return ok;
}

static void release_owner_in_set(FdSetOp *op, guint32 idx, guint32 slot)
{
    guint i = 0;

    while (i < rec_at(idx)->n_members) {
        FdSetMember *m = member_at(idx, i);

        if (m->owner != slot) {
            i++;
        } else if (rec_at(idx)->dup_count) {
            fdset_store_owner_unref(&reg.st, slot);
            m->owner = FDSET_SLOT_ORPHAN; /* the process holds it now */
            i++;
        } else {
            member_close(op, idx, i, FDSET_REASON_DISCONNECT);
        }
    }
    set_maybe_free(op, idx);
}

void fdset_release_owner(uint64_t owner)
{
    FdSetOp op;
    guint32 slot;

    if (owner == FDSET_OWNER_PROCESS) {
        return;
    }
    op_begin(&op);
    if (fdset_store_owner_find(&reg.st, owner, &slot)) {
        for (guint32 idx = 0;
             idx < reg.st.n_records && fdset_store_owner_refs(&reg.st, slot);
             idx++) {
            if (rec_at(idx)->id >= 0) {
                release_owner_in_set(&op, idx, slot);
            }
        }
    }
    op_end(&op);
}

void fdset_shutdown(void)
{
    FdSetOp op;

    op_begin(&op);
    for (guint32 idx = 0; idx < reg.st.n_records; idx++) {
        FdSetRec *s = rec_at(idx);

        if (s->id < 0) {
            continue;
        }
        while (s->n_members) {
            member_close(&op, idx, 0, FDSET_REASON_SHUTDOWN);
        }
        op_event(&op, FDSET_EVENT_FREED, s->id, -1, -1);
    }
    /* dups stay with their holders; qemu_close() will find them untracked */
    {
        FdSetLimits keep = reg.limits;

        reg_reset_locked();
        reg.limits = keep;
    }
    op_end(&op);
}

/* ---- dup ---- */

static int dup_locked(FdSetOp *op, int64_t fdset_id, int flags, int *member,
                      GError **errp)
{
    PendingEvent *pe;
    guint32 idx = fdset_store_lookup(&reg.st, fdset_id);
    int dupfd, i;

    if (idx == NO_IDX) {
        error_setg(errp, "Failed to find fdset %" PRId64, fdset_id);
        errno = ENOENT;
        return -1;
    }
    for (i = (int)rec_at(idx)->n_members - 1; i >= 0; i--) {
        FdSetMember *m = member_at(idx, i);
        /* Live: whoever shares the open file may have changed O_DIRECT. */
        int fl = fcntl(m->fd, F_GETFL);

        if (fl < 0) {
            continue;
        }
        m->flags = fl;
        if (((fl ^ flags) & FDSET_MATCH_FLAGS) == 0) {
            break;
        }
    }
    if (i < 0) {
        error_setg(errp,
                   "Failed to find file descriptor in fdset %" PRId64
                   " with matching flags=0x%x",
                   fdset_id, flags);
        errno = EACCES;
        return -1;
    }
    *member = member_at(idx, i)->fd;
    dupfd = fcntl(*member, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0) {
        error_setg_errno(errp, errno, "Failed to dup() fd %d of fdset %" PRId64,
                         *member, fdset_id);
        return -1;
    }
    dup_forget_stale(op, dupfd);
    fdset_store_dup_add(&reg.st, dupfd, idx);
    pe = op_event(op, FDSET_EVENT_DUP, fdset_id, *member, dupfd);
    if (pe) {
        pe->ev.flags = flags;
    }
    return dupfd;
}

int fdset_dup_fd(int64_t fdset_id, int flags, GError **errp)
{
    FdSetOp op;
    int member = -1, dupfd, err;

    op_begin(&op);
    dupfd = dup_locked(&op, fdset_id, flags, &member, errp);
    err = errno;
    op_end(&op);
    if (dupfd < 0) {
        errno = err;
        return -1;
    }
    if ((flags & O_TRUNC) ||
        (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
        /* outside the lock: truncating a big file takes time */
        if (ftruncate(dupfd, 0) < 0) {
            err = errno;
            error_setg_errno(errp, err,
                             "Failed to truncate fd %d of fdset %" PRId64,
                             member, fdset_id);
            fdset_release_dup(dupfd);
            qemu_close_fd_quietly(dupfd);
            errno = err;
            return -1;
        }
    }
    return dupfd;
}

bool fdset_release_dup(int fd)
{
    FdSetOp op;
    bool tracked;
    int saved_errno = errno;

    if (fd < 0) {
        return false;
    }
    op_begin(&op);
    tracked = dup_is_tracked(fd);
    if (tracked) {
        dup_untrack(&op, fd);
    }
    op_end(&op);
    errno = saved_errno;
    return tracked;
}

/* ---- query ---- */

typedef struct IdIdx {
    gint64 id;
    guint32 idx;
} IdIdx;

static int cmp_id_desc(const void *a, const void *b)
{
    gint64 x = ((const IdIdx *)a)->id;
    gint64 y = ((const IdIdx *)b)->id;

    return x < y ? 1 : x > y ? -1 : 0;
}

/* reg.order, sorted again only if sets came or went since the last query. */
static const guint32 *query_order_locked(void)
{
    g_autofree IdIdx *pairs = NULL;
    guint n = 0;

    if (reg.order_valid && reg.order_gen == reg.st.set_generation) {
        return reg.order;
    }
    pairs = g_new(IdIdx, reg.st.n_sets + 1);
    for (guint32 idx = 0; idx < reg.st.n_records; idx++) {
        if (rec_at(idx)->id >= 0) {
            pairs[n++] = (IdIdx){.id = rec_at(idx)->id, .idx = idx};
        }
    }
    qsort(pairs, n, sizeof(*pairs), cmp_id_desc);
    reg.order = g_renew(guint32, reg.order, n + 1);
    for (guint i = 0; i < n; i++) {
        reg.order[i] = pairs[i].idx;
    }
    reg.order_gen = reg.st.set_generation;
    reg.order_valid = true;
    return reg.order;
}

static void member_view(FdSetMemberInfo *mi, const FdSetMember *m)
{
    mi->fd = m->fd;
    mi->opaque = m->opaque; /* borrowed: valid during the callback only */
    mi->flags = m->flags;
    mi->dev = m->dev;
    mi->ino = m->ino;
    mi->persistent = m->owner == FDSET_SLOT_PROCESS;
}

void fdset_query_foreach(FdSetQueryFunc fn, void *opaque)
{
    g_autofree FdSetMemberInfo *scratch = NULL;
    guint scratch_len = 0;
    const guint32 *order;

    reg_lock_ready();
    order = query_order_locked();
    for (guint i = 0; i < reg.st.n_sets; i++) {
        guint32 idx = order[i];
        FdSetRec *s = rec_at(idx);
        FdSetInfo info = {
            .fdset_id = s->id,
            .dup_count = s->dup_count,
            .n_members = s->n_members,
        };

        if (s->n_members > scratch_len) {
            scratch_len = MAX(s->n_members, 8);
            scratch = g_renew(FdSetMemberInfo, scratch, scratch_len);
        }
        for (guint j = 0; j < s->n_members; j++) {
            member_view(&scratch[j], member_at(idx, j));
        }
        info.members = scratch;
        fn(&info, opaque);
    }
    g_mutex_unlock(&reg_lock);
}

typedef struct QuerySnapshot {
    GArray *sets; /* FdSetInfo, owning copies */
} QuerySnapshot;

static void snapshot_one(const FdSetInfo *set, void *opaque)
{
    QuerySnapshot *snap = opaque;
    FdSetInfo copy = *set;

    copy.members =
        g_memdup2(set->members, set->n_members * sizeof(*set->members));
    for (guint j = 0; j < copy.n_members; j++) {
        copy.members[j].opaque = g_strdup(set->members[j].opaque);
    }
    g_array_append_val(snap->sets, copy);
}

FdSetInfo *fdset_query(guint *n_sets)
{
    QuerySnapshot snap = {
        .sets = g_array_new(TRUE, TRUE, sizeof(FdSetInfo)),
    };

    fdset_query_foreach(snapshot_one, &snap);
    *n_sets = snap.sets->len;
    return (FdSetInfo *)g_array_free(snap.sets, FALSE);
}

void fdset_info_free(FdSetInfo *sets, guint n_sets)
{
    if (!sets) {
        return;
    }
    for (guint i = 0; i < n_sets; i++) {
        for (guint j = 0; j < sets[i].n_members; j++) {
            g_free((char *)sets[i].members[j].opaque);
        }
        g_free(sets[i].members);
    }
    g_free(sets);
}

guint fdset_count_sets(void)
{
    guint n;

    reg_lock_ready();
    n = reg.st.n_sets;
    g_mutex_unlock(&reg_lock);
    return n;
}

guint fdset_count_members(void)
{
    guint n;

    reg_lock_ready();
    n = reg.st.n_members;
    g_mutex_unlock(&reg_lock);
    return n;
}

guint fdset_count_dups(void)
{
    guint n;

    reg_lock_ready();
    n = reg.st.n_dups;
    g_mutex_unlock(&reg_lock);
    return n;
}
