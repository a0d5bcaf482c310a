/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compact storage behind the fdset registry (internal to util/fdset.c).
 * No locking, no events, no close(): util/fdset.c does all of that.
 *
 * A set with one member costs about 50 bytes of heap:
 * - set records (FdSetRec, 48 bytes, the oldest member inline) live in a
 *   slab of fixed-size chunks and are named by their slab index;
 * - set id -> slab index: an open-addressing table of 32-bit slots
 *   (linear probing, backward-shift deletion, load <= 3/4);
 * - members beyond the first: a side table, only for sets that have them;
 * - dup fd -> slab index: an array indexed by the fd number;
 * - lowest free id: a bitmap over [0, n_sets] (the lowest free id is never
 *   above the number of sets) with a hint below which every word is full;
 * - owners are interned into small slot numbers.
 */
#ifndef UTIL_FDSET_STORE_H
#define UTIL_FDSET_STORE_H

#include <glib.h>
#include <stdbool.h>

#define FDSET_NO_IDX G_MAXUINT32

/* Owner slots: 0 and 1 are reserved, interned owners start at 2. */
#define FDSET_SLOT_PROCESS 0u /* persistent, never reaped */
#define FDSET_SLOT_ORPHAN 1u  /* owner left; closed with the last dup */
#define FDSET_SLOT_FIRST 2u

typedef struct FdSetMember {
    char *opaque; /* NULL when not given */
    guint64 ino;
    guint32 dev; /* Linux st_dev values fit in 32 bits */
    gint32 fd;
    guint32 owner; /* owner slot */
    gint32 flags;  /* F_GETFL as last seen (at add, at each match) */
} FdSetMember;

typedef struct FdSetRec {
    gint64 id;      /* -1 while the record is free */
    FdSetMember m0; /* oldest member, valid when n_members > 0 */
    guint32 dup_count;
    guint32 n_members;
} FdSetRec;

#define FDSET_SLAB_SHIFT 9
#define FDSET_SLAB_CHUNK (1u << FDSET_SLAB_SHIFT)

typedef struct FdSetStore {
    FdSetRec **chunks; /* slab */
    guint32 n_chunks;
    guint32 n_records; /* records ever handed out (high-water) */
    GArray *free_recs; /* guint32 slab indexes */

    guint32 *slots; /* id table: slab index + 1, 0 = empty */
    guint32 slot_mask;

    GHashTable *extra; /* slab index -> FdSetMember[n_members - 1] */

    guint64 *low_bits; /* bit i set: a set with id i exists */
    guint32 low_words;
    guint32 low_hint; /* every word below is full */

    guint32 *dup_map; /* fd -> slab index + 1 */
    guint32 dup_map_len;

    GArray *owners;        /* OwnerSlot, indexed by slot */
    GHashTable *owner_ids; /* guint64* owner -> slot */

    guint32 n_sets;
    guint32 set_generation; /* changes whenever a set is created or dropped */
    guint32 n_members;
    guint32 n_dups;
} FdSetStore;

void fdset_store_init(FdSetStore *st);
/* Free the storage; members' fds and opaques are the caller's business. */
void fdset_store_destroy(FdSetStore *st);

static inline FdSetRec *fdset_store_rec(FdSetStore *st, guint32 idx)
{
    return &st->chunks[idx >> FDSET_SLAB_SHIFT][idx & (FDSET_SLAB_CHUNK - 1)];
}

/* Slab index of set @id, or FDSET_NO_IDX. */
guint32 fdset_store_lookup(FdSetStore *st, gint64 id);
/* A new empty set with @id (absent), or with the lowest free id. */
guint32 fdset_store_create(FdSetStore *st, bool has_id, gint64 id);
/* Forget a set that has no members and no dups. */
void fdset_store_drop(FdSetStore *st, guint32 idx);

/* Member @i of a set, oldest first. */
FdSetMember *fdset_store_member(FdSetStore *st, guint32 idx, guint i);
void fdset_store_append(FdSetStore *st, guint32 idx, const FdSetMember *m);
/* Forget member @i (its fd, opaque and owner ref are the caller's). */
void fdset_store_delete(FdSetStore *st, guint32 idx, guint i);

/* Slot of @owner with one more reference (FDSET_OWNER_PROCESS: slot 0). */
guint32 fdset_store_owner_ref(FdSetStore *st, guint64 owner);
void fdset_store_owner_unref(FdSetStore *st, guint32 slot);
/* The slot of an owner that holds members; false if it holds none. */
bool fdset_store_owner_find(FdSetStore *st, guint64 owner, guint32 *slot);
guint32 fdset_store_owner_refs(FdSetStore *st, guint32 slot);

/* Dups: slab index of the set that handed out @fd, or FDSET_NO_IDX. */
guint32 fdset_store_dup_lookup(FdSetStore *st, int fd);
void fdset_store_dup_add(FdSetStore *st, int fd, guint32 idx);
void fdset_store_dup_remove(FdSetStore *st, int fd);

#endif
