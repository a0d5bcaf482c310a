/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The fdset registry.
 *
 * Memory layout, chosen so that a set with one member costs about 50 bytes
 * of heap (see tests/unit/bench-fdset-mem.c):
 * - set records (FdSetRec, 48 bytes, the oldest member inline) live in a
 *   slab of fixed-size chunks and are named by their slab index;
 * - set id -> slab index: an open-addressing table of 32-bit slots;
 * - members beyond the first: a side table, only for sets that have them;
 * - dup fd -> slab index: an array indexed by the fd number (O(1), sized by
 *   the highest dup fd);
 * - lowest free id: a bitmap over [0, n] (the lowest free id is never above
 *   the number of sets) with a hint below which every word is full;
 * - owners are interned into small slot numbers.
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

#define DEFAULT_MAX_SETS 65536
#define DEFAULT_MAX_FDS_PER_SET 64
#define NO_IDX G_MAXUINT32

/* Owner slots: 0 and 1 are reserved, interned owners start at 2. */
#define OWNER_SLOT_PROCESS 0u  /* persistent, never reaped */
#define OWNER_SLOT_ORPHAN 1u   /* owner left; closed with the last dup */
#define OWNER_SLOT_FIRST 2u

typedef struct FdSetMember {
    char *opaque;          /* NULL when not given */
    guint64 ino;
    guint32 dev;           /* Linux st_dev values fit in 32 bits */
    gint32 fd;
    guint32 owner : 30;    /* owner slot */
    guint32 accmode : 2;   /* F_GETFL & O_ACCMODE at add */
} FdSetMember;

typedef struct FdSetRec {
    gint64 id;             /* -1 while the record is free */
    FdSetMember m0;        /* oldest member, valid when n_members > 0 */
    guint32 dup_count;
    guint32 n_members;
} FdSetRec;

G_STATIC_ASSERT(sizeof(FdSetRec) <= 48);

#define SLAB_SHIFT 9
#define SLAB_CHUNK (1u << SLAB_SHIFT)

typedef struct OwnerSlot {
    guint64 owner;
    guint32 refs;          /* members held; 0: slot free */
} OwnerSlot;

typedef struct Listener {
    FdSetListener fn;
    void *opaque;
} Listener;

typedef struct Registry {
    bool ready;
    FdSetLimits limits;

    FdSetRec **chunks;     /* slab */
    guint32 n_chunks;
    guint32 n_records;     /* records ever handed out (high-water) */
    GArray *free_recs;     /* guint32 slab indexes */

    guint32 *slots;        /* id table: slab index + 1, 0 = empty */
    guint32 slot_mask;
    guint32 n_sets;

    GHashTable *extra;     /* slab index -> FdSetMember[n_members - 1] */

    guint64 *low_bits;     /* bit i set: a set with id i exists */
    guint32 low_words;
    guint32 low_hint;      /* every word below is full */

    guint32 *dup_map;      /* fd -> slab index + 1 */
    guint32 dup_map_len;
    guint32 n_dups;
    guint32 n_members;

    GArray *owners;        /* OwnerSlot, indexed by slot */
    GHashTable *owner_ids; /* guint64* owner -> slot */
} Registry;

static GMutex reg_lock;
static GRecMutex deliver_lock;
static Registry reg;
static GArray *listeners;  /* Listener, under deliver_lock */

/* Events being delivered on this thread (nested changes queue here). */
static __thread GArray *tls_delivering;

typedef struct PendingEvent {
    FdSetEvent ev;
    char *opaque;          /* owned copy */
} PendingEvent;

/* One change: events and fds to close once the locks are dropped. */
typedef struct FdSetOp {
    GArray *events;        /* PendingEvent */
    GArray *to_close;      /* int */
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

/* ---- slab ---- */

static inline FdSetRec *rec_at(guint32 idx)
{
    return &reg.chunks[idx >> SLAB_SHIFT][idx & (SLAB_CHUNK - 1)];
}

static guint32 rec_alloc(gint64 id)
{
    guint32 idx;

    if (reg.free_recs->len) {
        idx = g_array_index(reg.free_recs, guint32, reg.free_recs->len - 1);
        g_array_set_size(reg.free_recs, reg.free_recs->len - 1);
    } else {
        if (reg.n_records == reg.n_chunks * SLAB_CHUNK) {
            reg.chunks = g_renew(FdSetRec *, reg.chunks, reg.n_chunks + 1);
            reg.chunks[reg.n_chunks++] = g_new(FdSetRec, SLAB_CHUNK);
        }
        idx = reg.n_records++;
    }
    *rec_at(idx) = (FdSetRec) { .id = id, .m0.fd = -1 };
    return idx;
}

static void rec_free(guint32 idx)
{
    rec_at(idx)->id = -1;
    g_array_append_val(reg.free_recs, idx);
}

/* ---- id table: linear probing, backward-shift deletion ---- */

static inline guint32 id_hash(gint64 id)
{
    guint64 h = (guint64)id;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return (guint32)h;
}

static guint32 id_lookup(gint64 id)
{
    guint32 i;

    if (!reg.slots) {
        return NO_IDX;
    }
    for (i = id_hash(id) & reg.slot_mask; reg.slots[i];
         i = (i + 1) & reg.slot_mask) {
        if (rec_at(reg.slots[i] - 1)->id == id) {
            return reg.slots[i] - 1;
        }
    }
    return NO_IDX;
}

static void id_place(guint32 idx)
{
    guint32 i = id_hash(rec_at(idx)->id) & reg.slot_mask;

    while (reg.slots[i]) {
        i = (i + 1) & reg.slot_mask;
    }
    reg.slots[i] = idx + 1;
}

static void id_insert(guint32 idx)
{
    guint32 cap = reg.slots ? reg.slot_mask + 1 : 0;

    /* keep the load at most 3/4 */
    if ((guint64)(reg.n_sets + 1) * 4 > (guint64)cap * 3) {
        guint32 *old = reg.slots;
        guint32 new_cap = cap ? cap * 2 : 16;

        reg.slots = g_new0(guint32, new_cap);
        reg.slot_mask = new_cap - 1;
        for (guint32 j = 0; j < cap; j++) {
            if (old[j]) {
                id_place(old[j] - 1);
            }
        }
        g_free(old);
    }
    id_place(idx);
    reg.n_sets++;
}

static void id_remove(gint64 id)
{
    guint32 i = id_hash(id) & reg.slot_mask;
    guint32 j;

    while (rec_at(reg.slots[i] - 1)->id != id) {
        i = (i + 1) & reg.slot_mask;
    }
    /* shift back the entries that probed past the hole */
    for (j = (i + 1) & reg.slot_mask; reg.slots[j];
         j = (j + 1) & reg.slot_mask) {
        guint32 home = id_hash(rec_at(reg.slots[j] - 1)->id) & reg.slot_mask;

        if (((j - home) & reg.slot_mask) >= ((j - i) & reg.slot_mask)) {
            reg.slots[i] = reg.slots[j];
            i = j;
        }
    }
    reg.slots[i] = 0;
    reg.n_sets--;
}

/* ---- lowest free id ---- */

static void low_mark(gint64 id, bool used)
{
    guint64 bit;
    guint32 w;

    if (id < 0 || (guint64)id >= (guint64)reg.low_words * 64) {
        return;
    }
    w = (guint32)(id / 64);
    bit = G_GUINT64_CONSTANT(1) << (id % 64);
    if (used) {
        reg.low_bits[w] |= bit;
    } else {
        reg.low_bits[w] &= ~bit;
        reg.low_hint = MIN(reg.low_hint, w);
    }
}

/* Make the bitmap cover more ids than there are sets. */
static void low_cover(void)
{
    guint32 old = reg.low_words;

    if ((guint64)old * 64 > reg.n_sets) {
        return;
    }
    reg.low_words = MAX(old * 2, 4);
    reg.low_bits = g_renew(guint64, reg.low_bits, reg.low_words);
    memset(reg.low_bits + old, 0, (reg.low_words - old) * sizeof(guint64));
    for (guint32 idx = 0; idx < reg.n_records; idx++) {
        gint64 id = rec_at(idx)->id;

        if (id >= (gint64)old * 64) {
            low_mark(id, true);
        }
    }
}

static gint64 low_first_free(void)
{
    guint32 w;

    low_cover();
    for (w = reg.low_hint; reg.low_bits[w] == G_MAXUINT64; w++) {
        /* terminates: fewer sets than covered ids */
    }
    reg.low_hint = w;
    return (gint64)w * 64 + __builtin_ctzll(~reg.low_bits[w]);
}

/* ---- members ---- */

static FdSetMember *extras_of(guint32 idx)
{
    return g_hash_table_lookup(reg.extra, GUINT_TO_POINTER(idx));
}

static FdSetMember *member_at(guint32 idx, guint i)
{
    return i == 0 ? &rec_at(idx)->m0 : &extras_of(idx)[i - 1];
}

static void member_append(guint32 idx, const FdSetMember *m)
{
    FdSetRec *s = rec_at(idx);

    if (s->n_members > 0) {
        FdSetMember *more = extras_of(idx);

        g_hash_table_steal(reg.extra, GUINT_TO_POINTER(idx));
        more = g_renew(FdSetMember, more, s->n_members);
        more[s->n_members - 1] = *m;
        g_hash_table_insert(reg.extra, GUINT_TO_POINTER(idx), more);
    } else {
        s->m0 = *m;
    }
    s->n_members++;
    reg.n_members++;
}

/* Forget member @i (its fd and opaque are the caller's business). */
static void member_delete(guint32 idx, guint i)
{
    FdSetRec *s = rec_at(idx);
    FdSetMember *more = s->n_members > 1 ? extras_of(idx) : NULL;
    guint n_more = s->n_members - 1;

    if (i == 0 && more) {
        s->m0 = more[0];
    }
    if (more) {
        guint from = i == 0 ? 1 : i;

        memmove(&more[from - 1], &more[from],
                (n_more - from) * sizeof(FdSetMember));
        if (n_more == 1) {
            g_hash_table_remove(reg.extra, GUINT_TO_POINTER(idx));
        }
    }
    s->n_members--;
    reg.n_members--;
}

/* ---- owners ---- */

static guint32 owner_intern(guint64 owner)
{
    gpointer slot;
    OwnerSlot os = { .owner = owner, .refs = 0 };
    guint32 n;

    if (owner == FDSET_OWNER_PROCESS) {
        return OWNER_SLOT_PROCESS;
    }
    if (g_hash_table_lookup_extended(reg.owner_ids, &owner, NULL, &slot)) {
        return GPOINTER_TO_UINT(slot);
    }
    for (n = OWNER_SLOT_FIRST; n < reg.owners->len; n++) {
        if (g_array_index(reg.owners, OwnerSlot, n).refs == 0) {
            break;
        }
    }
    if (n == reg.owners->len) {
        g_array_append_val(reg.owners, os);
    }
    g_array_index(reg.owners, OwnerSlot, n) = os;
    g_hash_table_insert(reg.owner_ids, g_memdup2(&owner, sizeof(owner)),
                        GUINT_TO_POINTER(n));
    return n;
}

static void owner_ref(guint32 slot)
{
    if (slot >= OWNER_SLOT_FIRST) {
        g_array_index(reg.owners, OwnerSlot, slot).refs++;
    }
}

static void owner_unref(guint32 slot)
{
    OwnerSlot *os;

    if (slot < OWNER_SLOT_FIRST) {
        return;
    }
    os = &g_array_index(reg.owners, OwnerSlot, slot);
    if (--os->refs == 0) {
        g_hash_table_remove(reg.owner_ids, &os->owner);
    }
}

/* ---- events, operations ---- */

static void op_event(FdSetOp *op, FdSetEventKind kind, gint64 fdset_id,
                     int fd, int dup_fd)
{
    PendingEvent pe = {
        .ev = { .kind = kind, .fdset_id = fdset_id, .fd = fd,
                .dup_fd = dup_fd },
    };

    g_array_append_val(op->events, pe);
}

static PendingEvent *op_last(FdSetOp *op)
{
    return &g_array_index(op->events, PendingEvent, op->events->len - 1);
}

static void reg_reset_locked(void);

static void op_begin(FdSetOp *op)
{
    op->events = g_array_new(FALSE, FALSE, sizeof(PendingEvent));
    op->to_close = g_array_new(FALSE, FALSE, sizeof(int));
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

            li.fn(&pe.ev, li.opaque);
        }
    }
}

static void op_end(FdSetOp *op)
{
    g_mutex_unlock(&reg_lock);
    if (tls_delivering) {
        /* called from a listener: queue behind the events in delivery */
        g_array_append_vals(tls_delivering, op->events->data,
                            op->events->len);
        g_array_set_size(op->events, 0);
    } else {
        tls_delivering = op->events;
        deliver(op->events);
        tls_delivering = NULL;
    }
    g_rec_mutex_unlock(&deliver_lock);

    for (guint i = 0; i < op->events->len; i++) {
        g_free(g_array_index(op->events, PendingEvent, i).opaque);
    }
    g_array_free(op->events, TRUE);
    for (guint i = 0; i < op->to_close->len; i++) {
        qemu_close_fd_quietly(g_array_index(op->to_close, int, i));
    }
    g_array_free(op->to_close, TRUE);
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
    low_mark(s->id, false);
    id_remove(s->id);
    rec_free(idx);
}

/* Close member @i; @op NULL: no event (reset). */
static void member_close(FdSetOp *op, guint32 idx, guint i,
                         FdSetRemoveReason reason)
{
    FdSetMember *m = member_at(idx, i);
    int fd = m->fd;

    if (op) {
        op_event(op, FDSET_EVENT_FD_REMOVED, rec_at(idx)->id, fd, -1);
        op_last(op)->ev.reason = reason;
        g_array_append_val(op->to_close, fd);
    } else {
        qemu_close_fd_quietly(fd);
    }
    g_free(m->opaque);
    owner_unref(m->owner);
    member_delete(idx, i);
}

/* Close the members handed to the process when their owner left. */
static void set_reap_orphans(FdSetOp *op, guint32 idx)
{
    guint i = 0;

    while (i < rec_at(idx)->n_members) {
        if (member_at(idx, i)->owner == OWNER_SLOT_ORPHAN) {
            member_close(op, idx, i, FDSET_REASON_DISCONNECT);
        } else {
            i++;
        }
    }
}

static void dup_untrack(FdSetOp *op, int fd)
{
    guint32 idx = reg.dup_map[fd] - 1;
    FdSetRec *s = rec_at(idx);

    reg.dup_map[fd] = 0;
    s->dup_count--;
    reg.n_dups--;
    op_event(op, FDSET_EVENT_RELEASE, s->id, -1, fd);
    if (s->dup_count == 0) {
        set_reap_orphans(op, idx);
    }
    set_maybe_free(op, idx);
}

static bool dup_is_tracked(int fd)
{
    return fd >= 0 && (guint32)fd < reg.dup_map_len && reg.dup_map[fd];
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

static void dup_track(guint32 idx, int fd)
{
    if ((guint32)fd >= reg.dup_map_len) {
        guint32 len = MAX((guint32)fd + 1, reg.dup_map_len * 2);

        reg.dup_map = g_renew(guint32, reg.dup_map, len);
        memset(reg.dup_map + reg.dup_map_len, 0,
               (len - reg.dup_map_len) * sizeof(guint32));
        reg.dup_map_len = len;
    }
    reg.dup_map[fd] = idx + 1;
    rec_at(idx)->dup_count++;
    reg.n_dups++;
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
        for (guint32 idx = 0; idx < reg.n_records; idx++) {
            while (rec_at(idx)->id >= 0 && rec_at(idx)->n_members) {
                member_close(NULL, idx, 0, FDSET_REASON_SHUTDOWN);
            }
        }
        for (guint32 c = 0; c < reg.n_chunks; c++) {
            g_free(reg.chunks[c]);
        }
        g_free(reg.chunks);
        g_array_free(reg.free_recs, TRUE);
        g_free(reg.slots);
        g_hash_table_destroy(reg.extra);
        g_free(reg.low_bits);
        g_free(reg.dup_map);
        g_array_free(reg.owners, TRUE);
        g_hash_table_destroy(reg.owner_ids);
    }
    reg = (Registry) {
        .ready = true,
        .limits = {
            .max_sets = DEFAULT_MAX_SETS,
            .max_fds_per_set = DEFAULT_MAX_FDS_PER_SET,
            .max_fds_total = default_max_fds_total(),
        },
        .free_recs = g_array_new(FALSE, FALSE, sizeof(guint32)),
        .extra = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                       NULL, g_free),
        .owners = g_array_new(FALSE, TRUE, sizeof(OwnerSlot)),
        .owner_ids = g_hash_table_new_full(g_int64_hash, g_int64_equal,
                                           g_free, NULL),
    };
    g_array_set_size(reg.owners, OWNER_SLOT_FIRST);
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
    Listener li = { .fn = fn, .opaque = opaque };

    g_rec_mutex_lock(&deliver_lock);
    if (!listeners) {
        listeners = g_array_new(FALSE, FALSE, sizeof(Listener));
    }
    g_array_append_val(listeners, li);
    g_rec_mutex_unlock(&deliver_lock);
}

void fdset_remove_listener(FdSetListener fn, void *opaque)
{
    g_rec_mutex_lock(&deliver_lock);
    for (guint l = 0; listeners && l < listeners->len; l++) {
        Listener *li = &g_array_index(listeners, Listener, l);

        if (li->fn == fn && li->opaque == opaque) {
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
    guint32 idx = has_id ? id_lookup(id) : NO_IDX;
    guint have = idx != NO_IDX ? rec_at(idx)->n_members : 0;

    if (idx == NO_IDX && reg.n_sets >= lim->max_sets) {
        error_setg(errp, "Cannot create fdset: %u fdsets exist "
                   "(limit max-sets=%u)", reg.n_sets, lim->max_sets);
        return NO_IDX;
    }
    if (have >= lim->max_fds_per_set) {
        if (idx != NO_IDX) {
            error_setg(errp, "Cannot add fd to fdset %" PRId64 ": it has %u "
                       "fds (limit max-fds-per-set=%u)", id, have,
                       lim->max_fds_per_set);
        } else {
            error_setg(errp, "Cannot add fd: no fds allowed in an fdset "
                       "(limit max-fds-per-set=0)");
        }
        return NO_IDX;
    }
    if (reg.n_members >= lim->max_fds_total) {
        error_setg(errp, "Cannot add fd: %u fds are held in fdsets "
                   "(limit max-fds-total=%u)", reg.n_members,
                   lim->max_fds_total);
        return NO_IDX;
    }
    if (idx == NO_IDX) {
        idx = rec_alloc(has_id ? id : low_first_free());
        id_insert(idx);
        low_mark(rec_at(idx)->id, true);
    }
    return idx;
}

/* Takes ownership of @m's opaque, not of its fd. */
static bool add_locked(FdSetOp *op, bool has_id, gint64 id, FdSetMember *m,
                       guint64 owner, gint64 *out_id, GError **errp)
{
    guint32 idx = add_pick_set(has_id, id, errp);
    FdSetRec *s;
    bool other;

    if (idx == NO_IDX) {
        return false;
    }
    s = rec_at(idx);
    other = s->n_members && (s->m0.dev != m->dev || s->m0.ino != m->ino);
    if (other && reg.limits.strict_same_file) {
        error_setg(errp, "Cannot add fd to fdset %" PRId64 ": it is not the "
                   "same file as the fdset's members", s->id);
        return false;
    }
    dup_forget_stale(op, m->fd);
    m->owner = owner_intern(owner);
    owner_ref(m->owner);
    member_append(idx, m);
    op_event(op, FDSET_EVENT_FD_ADDED, s->id, m->fd, -1);
    op_last(op)->opaque = g_strdup(m->opaque);
    op_last(op)->ev.other_file = other;
    if (out_id) {
        *out_id = s->id;
    }
    return true;
}

bool fdset_add_fd(bool has_id, int64_t fdset_id, int fd, const char *opaque,
                  uint64_t owner, int64_t *out_fdset_id, GError **errp)
{
    FdSetOp op;
    FdSetMember m = { .fd = fd };
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
    m.accmode = fl & O_ACCMODE;
    m.dev = (guint32)st.st_dev;
    m.ino = st.st_ino;
    m.opaque = g_strdup(opaque);

    op_begin(&op);
    ok = add_locked(&op, has_id, fdset_id, &m, owner, out_fdset_id, errp);
    if (!ok) {
        g_free(m.opaque);
        g_array_append_val(op.to_close, fd);   /* ours, also on failure */
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
    idx = id_lookup(fdset_id);
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
            error_setg(errp, "File descriptor named 'fdset-id:%" PRId64
                       ", fd:%" PRId64 "' not found", fdset_id, fd);
        } else {
            error_setg(errp, "File descriptor named 'fdset-id:%" PRId64
                       "' not found", fdset_id);
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
            owner_unref(slot);
            m->owner = OWNER_SLOT_ORPHAN;   /* the process holds it now */
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
    gpointer slot;

    if (owner == FDSET_OWNER_PROCESS) {
        return;
    }
    op_begin(&op);
    if (g_hash_table_lookup_extended(reg.owner_ids, &owner, NULL, &slot)) {
        guint32 n = GPOINTER_TO_UINT(slot);

        for (guint32 idx = 0; idx < reg.n_records &&
             g_array_index(reg.owners, OwnerSlot, n).refs; idx++) {
            if (rec_at(idx)->id >= 0) {
                release_owner_in_set(&op, idx, n);
            }
        }
    }
    op_end(&op);
}

void fdset_shutdown(void)
{
    FdSetOp op;

    op_begin(&op);
    for (guint32 idx = 0; idx < reg.n_records; idx++) {
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
    guint32 idx = id_lookup(fdset_id);
    int dupfd, i;

    if (idx == NO_IDX) {
        error_setg(errp, "Failed to find fdset %" PRId64, fdset_id);
        errno = ENOENT;
        return -1;
    }
    for (i = (int)rec_at(idx)->n_members - 1; i >= 0; i--) {
        int fl = fcntl(member_at(idx, i)->fd, F_GETFL);

        if (fl >= 0 && ((fl ^ flags) & FDSET_MATCH_FLAGS) == 0) {
            break;
        }
    }
    if (i < 0) {
        error_setg(errp, "Failed to find file descriptor in fdset %" PRId64
                   " with matching flags=0x%x", fdset_id, flags);
        errno = EACCES;
        return -1;
    }
    *member = member_at(idx, i)->fd;
    dupfd = fcntl(*member, F_DUPFD_CLOEXEC, 3);
    if (dupfd < 0) {
        error_setg_errno(errp, errno, "Failed to dup() fd %d of fdset %"
                         PRId64, *member, fdset_id);
        return -1;
    }
    dup_forget_stale(op, dupfd);
    dup_track(idx, dupfd);
    op_event(op, FDSET_EVENT_DUP, fdset_id, *member, dupfd);
    op_last(op)->ev.flags = flags;
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
    if ((flags & O_TRUNC) || (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL)) {
        /* outside the lock: truncating a big file takes time */
        if (ftruncate(dupfd, 0) < 0) {
            err = errno;
            error_setg_errno(errp, err, "Failed to truncate fd %d of fdset %"
                             PRId64, member, fdset_id);
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

static int cmp_id_desc(const void *a, const void *b)
{
    gint64 x = rec_at(*(const guint32 *)a)->id;
    gint64 y = rec_at(*(const guint32 *)b)->id;

    return x < y ? 1 : x > y ? -1 : 0;
}

static void query_fill(FdSetInfo *info, guint32 idx)
{
    FdSetRec *s = rec_at(idx);

    info->fdset_id = s->id;
    info->dup_count = s->dup_count;
    info->n_members = s->n_members;
    info->members = g_new0(FdSetMemberInfo, s->n_members);
    for (guint i = 0; i < s->n_members; i++) {
        FdSetMember *m = member_at(idx, i);
        FdSetMemberInfo *mi = &info->members[i];
        int fl = fcntl(m->fd, F_GETFL);

        mi->fd = m->fd;
        mi->opaque = g_strdup(m->opaque);
        mi->flags = fl >= 0 ? fl : (int)m->accmode;
        mi->dev = m->dev;
        mi->ino = m->ino;
        mi->persistent = m->owner == OWNER_SLOT_PROCESS;
    }
}

FdSetInfo *fdset_query(guint *n_sets)
{
    g_autofree guint32 *order = NULL;
    FdSetInfo *sets;
    guint n = 0;

    reg_lock_ready();
    order = g_new(guint32, reg.n_sets + 1);
    for (guint32 idx = 0; idx < reg.n_records; idx++) {
        if (rec_at(idx)->id >= 0) {
            order[n++] = idx;
        }
    }
    qsort(order, n, sizeof(*order), cmp_id_desc);
    sets = g_new0(FdSetInfo, n + 1);
    for (guint i = 0; i < n; i++) {
        query_fill(&sets[i], order[i]);
    }
    g_mutex_unlock(&reg_lock);
    *n_sets = n;
    return sets;
}

void fdset_info_free(FdSetInfo *sets, guint n_sets)
{
    if (!sets) {
        return;
    }
    for (guint i = 0; i < n_sets; i++) {
        for (guint j = 0; j < sets[i].n_members; j++) {
            g_free(sets[i].members[j].opaque);
        }
        g_free(sets[i].members);
    }
    g_free(sets);
}

guint fdset_count_sets(void)
{
    guint n;

    reg_lock_ready();
    n = reg.n_sets;
    g_mutex_unlock(&reg_lock);
    return n;
}

guint fdset_count_members(void)
{
    guint n;

    reg_lock_ready();
    n = reg.n_members;
    g_mutex_unlock(&reg_lock);
    return n;
}

guint fdset_count_dups(void)
{
    guint n;

    reg_lock_ready();
    n = reg.n_dups;
    g_mutex_unlock(&reg_lock);
    return n;
}
