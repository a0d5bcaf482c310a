/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Compact storage behind the fdset registry; see fdset-store.h.
 */
#include <string.h>

#include "qemu/fdset.h"
#include "util/fdset-store.h"

G_STATIC_ASSERT(sizeof(FdSetRec) <= 48);

typedef struct OwnerSlot {
    guint64 owner;
    guint32 refs; /* members held; 0: slot free */
} OwnerSlot;

void fdset_store_init(FdSetStore *st)
{
    *st = (FdSetStore){
        .free_recs = g_array_new(FALSE, FALSE, sizeof(guint32)),
        .extra =
            g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free),
        .owners = g_array_new(FALSE, TRUE, sizeof(OwnerSlot)),
        .owner_ids =
            g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL),
    };
    g_array_set_size(st->owners, FDSET_SLOT_FIRST);
}

void fdset_store_destroy(FdSetStore *st)
{
    for (guint32 c = 0; c < st->n_chunks; c++) {
        g_free(st->chunks[c]);
    }
    g_free(st->chunks);
    g_array_free(st->free_recs, TRUE);
    g_free(st->slots);
    g_hash_table_destroy(st->extra);
    g_free(st->low_bits);
    g_free(st->dup_map);
    g_array_free(st->owners, TRUE);
    g_hash_table_destroy(st->owner_ids);
    memset(st, 0, sizeof(*st));
}

/* ---- slab ---- */

static guint32 rec_alloc(FdSetStore *st, gint64 id)
{
    guint32 idx;

    if (st->free_recs->len) {
        idx = g_array_index(st->free_recs, guint32, st->free_recs->len - 1);
        g_array_set_size(st->free_recs, st->free_recs->len - 1);
    } else {
        if (st->n_records == st->n_chunks * FDSET_SLAB_CHUNK) {
            st->chunks = g_renew(FdSetRec *, st->chunks, st->n_chunks + 1);
            st->chunks[st->n_chunks++] = g_new(FdSetRec, FDSET_SLAB_CHUNK);
        }
        idx = st->n_records++;
    }
    *fdset_store_rec(st, idx) = (FdSetRec){.id = id, .m0.fd = -1};
    return idx;
}

/* ---- id table ---- */

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

static inline gint64 slot_id(FdSetStore *st, guint32 i)
{
    return fdset_store_rec(st, st->slots[i] - 1)->id;
}

guint32 fdset_store_lookup(FdSetStore *st, gint64 id)
{
    guint32 i;

    if (!st->slots) {
        return FDSET_NO_IDX;
    }
    for (i = id_hash(id) & st->slot_mask; st->slots[i];
         i = (i + 1) & st->slot_mask) {
        if (slot_id(st, i) == id) {
            return st->slots[i] - 1;
        }
    }
    return FDSET_NO_IDX;
}

static void id_place(FdSetStore *st, guint32 idx)
{
    guint32 i = id_hash(fdset_store_rec(st, idx)->id) & st->slot_mask;

    while (st->slots[i]) {
        i = (i + 1) & st->slot_mask;
    }
    st->slots[i] = idx + 1;
}

static void id_insert(FdSetStore *st, guint32 idx)
{
    guint32 cap = st->slots ? st->slot_mask + 1 : 0;

    if ((guint64)(st->n_sets + 1) * 4 > (guint64)cap * 3) {
        guint32 *old = st->slots;
        guint32 new_cap = cap ? cap * 2 : 16;

        st->slots = g_new0(guint32, new_cap);
        st->slot_mask = new_cap - 1;
        for (guint32 j = 0; j < cap; j++) {
            if (old[j]) {
                id_place(st, old[j] - 1);
            }
        }
        g_free(old);
    }
    id_place(st, idx);
    st->n_sets++;
    st->set_generation++;
}

static void id_remove(FdSetStore *st, gint64 id)
{
    guint32 mask = st->slot_mask;
    guint32 i = id_hash(id) & mask;

    while (slot_id(st, i) != id) {
        i = (i + 1) & mask;
    }
    /* shift back the entries whose probe run crosses the hole */
    for (guint32 j = (i + 1) & mask; st->slots[j]; j = (j + 1) & mask) {
        guint32 home = id_hash(slot_id(st, j)) & mask;

        if (((j - home) & mask) >= ((j - i) & mask)) {
            st->slots[i] = st->slots[j];
            i = j;
        }
    }
    st->slots[i] = 0;
    st->n_sets--;
    st->set_generation++;
}

/* ---- lowest free id ---- */

static void low_mark(FdSetStore *st, gint64 id, bool used)
{
    guint64 bit;
    guint32 w;

    if (id < 0 || (guint64)id >= (guint64)st->low_words * 64) {
        return;
    }
    w = (guint32)(id / 64);
    bit = G_GUINT64_CONSTANT(1) << (id % 64);
    if (used) {
        st->low_bits[w] |= bit;
    } else {
        st->low_bits[w] &= ~bit;
        st->low_hint = MIN(st->low_hint, w);
    }
}

/* Make the bitmap cover more ids than there are sets. */
static void low_cover(FdSetStore *st)
{
    guint32 old = st->low_words;

    if ((guint64)old * 64 > st->n_sets) {
        return;
    }
    st->low_words = MAX(old * 2, 4);
    st->low_bits = g_renew(guint64, st->low_bits, st->low_words);
    memset(st->low_bits + old, 0, (st->low_words - old) * sizeof(guint64));
    for (guint32 idx = 0; idx < st->n_records; idx++) {
        gint64 id = fdset_store_rec(st, idx)->id;

        if (id >= (gint64)old * 64) {
            low_mark(st, id, true);
        }
    }
}

static gint64 low_first_free(FdSetStore *st)
{
    guint32 w;

    low_cover(st);
    for (w = st->low_hint; st->low_bits[w] == G_MAXUINT64; w++) {
        /* terminates: fewer sets than covered ids */
    }
    st->low_hint = w;
    return (gint64)w * 64 + __builtin_ctzll(~st->low_bits[w]);
}

/* ---- sets ---- */

guint32 fdset_store_create(FdSetStore *st, bool has_id, gint64 id)
{
    guint32 idx = rec_alloc(st, has_id ? id : low_first_free(st));

    id_insert(st, idx);
    low_mark(st, fdset_store_rec(st, idx)->id, true);
    return idx;
}

void fdset_store_drop(FdSetStore *st, guint32 idx)
{
    FdSetRec *s = fdset_store_rec(st, idx);

    g_assert(s->n_members == 0 && s->dup_count == 0);
    low_mark(st, s->id, false);
    id_remove(st, s->id);
    s->id = -1;
    g_array_append_val(st->free_recs, idx);
}

/* ---- members ---- */

static FdSetMember *extras_of(FdSetStore *st, guint32 idx)
{
    return g_hash_table_lookup(st->extra, GUINT_TO_POINTER(idx));
}

FdSetMember *fdset_store_member(FdSetStore *st, guint32 idx, guint i)
{
    return i == 0 ? &fdset_store_rec(st, idx)->m0 : &extras_of(st, idx)[i - 1];
}

void fdset_store_append(FdSetStore *st, guint32 idx, const FdSetMember *m)
{
    FdSetRec *s = fdset_store_rec(st, idx);

    if (s->n_members > 0) {
        FdSetMember *more = extras_of(st, idx);

        g_hash_table_steal(st->extra, GUINT_TO_POINTER(idx));
        more = g_renew(FdSetMember, more, s->n_members);
        more[s->n_members - 1] = *m;
        g_hash_table_insert(st->extra, GUINT_TO_POINTER(idx), more);
    } else {
        s->m0 = *m;
    }
    s->n_members++;
    st->n_members++;
}

void fdset_store_delete(FdSetStore *st, guint32 idx, guint i)
{
    FdSetRec *s = fdset_store_rec(st, idx);
    FdSetMember *more = s->n_members > 1 ? extras_of(st, idx) : NULL;
    guint n_more = s->n_members - 1;

    if (i == 0 && more) {
        s->m0 = more[0];
    }
    if (more) {
        guint from = i == 0 ? 1 : i;

        memmove(&more[from - 1], &more[from],
                (n_more - from) * sizeof(FdSetMember));
        if (n_more == 1) {
            g_hash_table_remove(st->extra, GUINT_TO_POINTER(idx));
        }
    }
    s->n_members--;
    st->n_members--;
}

/* ---- owners ---- */

static OwnerSlot *owner_slot(FdSetStore *st, guint32 slot)
{
    return &g_array_index(st->owners, OwnerSlot, slot);
}

guint32 fdset_store_owner_ref(FdSetStore *st, guint64 owner)
{
    gpointer found;
    guint32 n;

    if (owner == FDSET_OWNER_PROCESS) {
        return FDSET_SLOT_PROCESS;
    }
    if (g_hash_table_lookup_extended(st->owner_ids, &owner, NULL, &found)) {
        n = GPOINTER_TO_UINT(found);
        owner_slot(st, n)->refs++;
        return n;
    }
    for (n = FDSET_SLOT_FIRST; n < st->owners->len; n++) {
        if (owner_slot(st, n)->refs == 0) {
            break;
        }
    }
    if (n == st->owners->len) {
        g_array_set_size(st->owners, n + 1);
    }
    *owner_slot(st, n) = (OwnerSlot){.owner = owner, .refs = 1};
    g_hash_table_insert(st->owner_ids, g_memdup2(&owner, sizeof(owner)),
                        GUINT_TO_POINTER(n));
    return n;
}

void fdset_store_owner_unref(FdSetStore *st, guint32 slot)
{
    OwnerSlot *os;

    if (slot < FDSET_SLOT_FIRST) {
        return;
    }
    os = owner_slot(st, slot);
    if (--os->refs == 0) {
        g_hash_table_remove(st->owner_ids, &os->owner);
    }
}

bool fdset_store_owner_find(FdSetStore *st, guint64 owner, guint32 *slot)
{
    gpointer found;

    if (!g_hash_table_lookup_extended(st->owner_ids, &owner, NULL, &found)) {
        return false;
    }
    *slot = GPOINTER_TO_UINT(found);
    return true;
}

guint32 fdset_store_owner_refs(FdSetStore *st, guint32 slot)
{
    return slot < FDSET_SLOT_FIRST ? 0 : owner_slot(st, slot)->refs;
}

/* ---- dups ---- */

guint32 fdset_store_dup_lookup(FdSetStore *st, int fd)
{
    if (fd < 0 || (guint32)fd >= st->dup_map_len || !st->dup_map[fd]) {
        return FDSET_NO_IDX;
    }
    return st->dup_map[fd] - 1;
}

void fdset_store_dup_add(FdSetStore *st, int fd, guint32 idx)
{
    g_assert(fd >= 0);
    if ((guint32)fd >= st->dup_map_len) {
        guint32 len = MAX((guint32)fd + 1, st->dup_map_len * 2);

        st->dup_map = g_renew(guint32, st->dup_map, len);
        memset(st->dup_map + st->dup_map_len, 0,
               (len - st->dup_map_len) * sizeof(guint32));
        st->dup_map_len = len;
    }
    g_assert(!st->dup_map[fd]);
    st->dup_map[fd] = idx + 1;
    fdset_store_rec(st, idx)->dup_count++;
    st->n_dups++;
}

void fdset_store_dup_remove(FdSetStore *st, int fd)
{
    guint32 idx = fdset_store_dup_lookup(st, fd);

    g_assert(idx != FDSET_NO_IDX);
    st->dup_map[fd] = 0;
    fdset_store_rec(st, idx)->dup_count--;
    st->n_dups--;
}
