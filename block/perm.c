/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Permissions (QEMU's model, include/block/perm.h).  An update walks from
 * the node whose parents changed down through its children: at each node
 * the parents are checked against each other (newest first, as QEMU's
 * parent list), the driver prepares (the file driver: new fd for
 * auto-read-only, image locks), and the node's children get the
 * permissions derived from the node's new cumulative ones.  Everything
 * touched is remembered, so a failure anywhere puts it all back.
 */
#include <string.h>

#include "block/filter.h"
#include "block/graph.h"
#include "block/perm.h"
#include "qemu/error.h"

struct BdrvPermUpdate {
    GPtrArray *children; /* BdrvChild* whose perm/shared were changed */
    GPtrArray *nodes;    /* BlockDriverState* whose driver prepared */
};

static const char *const perm_names[BLK_PERM_COUNT] = {
    "consistent read", "write", "write unchanged", "resize",
};

char *bdrv_perm_names(uint64_t perm)
{
    GString *s = g_string_new(NULL);

    for (int i = 0; i < BLK_PERM_COUNT; i++) {
        if (perm & (1ULL << i)) {
            g_string_append_printf(s, "%s%s", s->len ? ", " : "",
                                   perm_names[i]);
        }
    }
    return g_string_free(s, FALSE);
}

GList *bdrv_parents(BlockDriverState *bs)
{
    return bdrv_node(bs)->parents;
}

void bdrv_cumulative_perm(BlockDriverState *bs, uint64_t *perm,
                          uint64_t *shared)
{
    *perm = 0;
    *shared = BLK_PERM_ALL;
    for (GList *l = bdrv_node(bs)->parents; l; l = l->next) {
        BdrvChild *c = l->data;

        *perm |= c->perm;
        *shared &= c->shared;
    }
}

static char *child_user_desc(BdrvChild *c)
{
    if (c->parent) {
        return g_strdup_printf("node '%s'", c->parent->node_name);
    }
    return g_strdup(c->user);
}

/* Does @a let @b do what @b does?  QEMU's bdrv_a_allow_b(). */
static bool a_allows_b(BdrvChild *a, BdrvChild *b, GError **errp)
{
    const char *name = a->bs->node_name;
    g_autofree char *a_user = NULL;
    g_autofree char *b_user = NULL;
    g_autofree char *perms = NULL;

    if ((b->perm & a->shared) == b->perm) {
        return true;
    }
    a_user = child_user_desc(a);
    b_user = child_user_desc(b);
    perms = bdrv_perm_names(b->perm & ~a->shared);
    error_setg(errp,
               "Permission conflict on node '%s': permissions '%s' are "
               "both required by %s (uses node '%s' as '%s' child) and "
               "unshared by %s (uses node '%s' as '%s' child).",
               name, perms, b_user, name, b->name, a_user, name, a->name);
    return false;
}

static bool parents_conflict(BlockDriverState *bs, GError **errp)
{
    for (GList *a = bdrv_node(bs)->parents; a; a = a->next) {
        for (GList *b = bdrv_node(bs)->parents; b; b = b->next) {
            if (a != b && !a_allows_b(a->data, b->data, errp)) {
                return true;
            }
        }
    }
    return false;
}

/*
 * What @parent takes on its child @c, given what @parent's own parents
 * take (@perm) and share (@shared): QEMU's default permissions for a
 * filter (raw), for a format's storage (qcow2's file: metadata and data)
 * and for a backing child.
 */
static void child_perm(BlockDriverState *parent, BdrvChild *c, uint64_t perm,
                       uint64_t shared, uint64_t *nperm, uint64_t *nshared)
{
    if (parent->drv == &bdrv_copy_before_write_filter &&
        (g_str_equal(c->name, "target") || bdrv_cbw_filter_sealed(parent))) {
        /* QEMU 7.2's cbw: it writes the target, which others may read and
         * write; once the source's users are on it, others may only read
         * and rewrite the source.  Before, it is a plain filter, so that
         * the source's writers can move onto it. */
        bool target = g_str_equal(c->name, "target");

        *nperm = target ? BLK_PERM_WRITE : perm & BLK_PERM_ALL;
        *nshared = BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED |
                   (target ? BLK_PERM_WRITE : 0);
    } else if (parent->drv->is_filter) {
        /* QEMU's filters: what their users do (copy-on-read always adds
         * the unchanged writes of copying, as QEMU 7.2's cor_child_perm);
         * they let others do what their users let them, and rewrite data
         * unchanged */
        *nperm = perm & BLK_PERM_ALL;
        if (parent->drv == &bdrv_commit_mirror_top_filter) {
            *nperm &= ~BLK_PERM_CONSISTENT_READ;
            shared |= BLK_PERM_WRITE;
        }
        if (parent->drv == &bdrv_copy_on_read_filter) {
            *nperm |= BLK_PERM_WRITE_UNCHANGED;
        }
        *nshared = (shared & (BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE |
                              BLK_PERM_RESIZE)) |
                   BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    } else if (g_str_equal(c->name, "backing")) {
        *nperm = perm & BLK_PERM_CONSISTENT_READ;
        *nshared = (shared & BLK_PERM_WRITE)
                       ? BLK_PERM_WRITE | BLK_PERM_RESIZE
                       : 0;
        *nshared |= BLK_PERM_CONSISTENT_READ | BLK_PERM_WRITE_UNCHANGED;
    } else if (parent->drv == &bdrv_raw) {
        *nperm = perm & BLK_PERM_ALL;
        *nshared = shared & BLK_PERM_ALL;
    } else {
        *nperm = perm & BLK_PERM_ALL;
        *nshared = shared & BLK_PERM_ALL;
        if (!parent->read_only) {
            *nperm |= BLK_PERM_WRITE | BLK_PERM_RESIZE;
        }
        *nperm |= BLK_PERM_CONSISTENT_READ;
        *nshared &= ~(BLK_PERM_WRITE | BLK_PERM_RESIZE);
        if (*nperm & BLK_PERM_WRITE_UNCHANGED) {
            *nperm |= BLK_PERM_WRITE;
        }
        if (*nperm & BLK_PERM_WRITE) {
            *nperm |= BLK_PERM_RESIZE;
        }
    }
    if (bdrv_node(c->bs)->force_share) {
        *nshared = BLK_PERM_ALL;
    }
}

static void update_save_child(BdrvPermUpdate *u, BdrvChild *c)
{
    if (!c->saved) {
        c->saved = true;
        c->old_perm = c->perm;
        c->old_shared = c->shared;
        g_ptr_array_add(u->children, c);
    }
}

static bool update_node(BdrvPermUpdate *u, BlockDriverState *bs,
                        GError **errp);

static bool update_child(BdrvPermUpdate *u, BlockDriverState *parent,
                         BdrvChild *c, uint64_t perm, uint64_t shared,
                         GError **errp)
{
    uint64_t np, ns;

    if (!c) {
        return true;
    }
    child_perm(parent, c, perm, shared, &np, &ns);
    if (np != c->perm || ns != c->shared) {
        update_save_child(u, c);
        c->perm = np;
        c->shared = ns;
    }
    return update_node(u, c->bs, errp);
}

static bool update_node(BdrvPermUpdate *u, BlockDriverState *bs,
                        GError **errp)
{
    BdrvNode *n = bdrv_node(bs);
    uint64_t perm, shared;

    if (parents_conflict(bs, errp)) {
        return false;
    }
    bdrv_cumulative_perm(bs, &perm, &shared);
    if ((perm & (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED)) &&
        bs->read_only) {
        if (n->reopening && !n->old_read_only) {
            error_setg(errp, "Read-only block node '%s' cannot support "
                             "read-write users",
                       bs->node_name);
        } else {
            error_setg(errp, "Block node is read-only");
        }
        return false;
    }
    /* a node being reopened takes its permissions in its reopen prepare */
    if (bs->drv->bdrv_perm_prepare && !n->reopening) {
        if (g_ptr_array_find(u->nodes, bs, NULL)) {
            bs->drv->bdrv_perm_abort(bs); /* prepared again below */
            g_ptr_array_remove(u->nodes, bs);
        }
        if (bs->drv->bdrv_perm_prepare(bs, perm, shared, errp) < 0) {
            return false;
        }
        g_ptr_array_add(u->nodes, bs);
    }
    return update_child(u, bs, n->file_child, perm, shared, errp) &&
           update_child(u, bs, n->backing_child, perm, shared, errp);
}

BdrvPermUpdate *bdrv_perm_update_begin(void)
{
    BdrvPermUpdate *u = g_new0(BdrvPermUpdate, 1);

    u->children = g_ptr_array_new();
    u->nodes = g_ptr_array_new();
    return u;
}

bool bdrv_perm_update_add(BdrvPermUpdate *u, BlockDriverState *bs,
                          GError **errp)
{
    return update_node(u, bs, errp);
}

void bdrv_perm_update_end(BdrvPermUpdate *u, bool ok)
{
    for (guint i = 0; i < u->nodes->len; i++) {
        BlockDriverState *bs = g_ptr_array_index(u->nodes, i);

        if (ok) {
            bs->drv->bdrv_perm_commit(bs);
        } else {
            bs->drv->bdrv_perm_abort(bs);
        }
    }
    for (guint i = u->children->len; i-- > 0;) {
        BdrvChild *c = g_ptr_array_index(u->children, i);

        if (!ok) {
            c->perm = c->old_perm;
            c->shared = c->old_shared;
        }
        c->saved = false;
    }
    g_ptr_array_free(u->children, TRUE);
    g_ptr_array_free(u->nodes, TRUE);
    g_free(u);
}

bool bdrv_refresh_perms(BlockDriverState *bs, GError **errp)
{
    BdrvPermUpdate *u = bdrv_perm_update_begin();
    bool ok = update_node(u, bs, errp);

    bdrv_perm_update_end(u, ok);
    return ok;
}

static BdrvChild *child_new(BlockDriverState *parent, const char *user,
                            BlockDriverState *bs, const char *name)
{
    BdrvChild *c = g_new0(BdrvChild, 1);

    c->bs = bs;
    c->parent = parent;
    c->name = g_strdup(name);
    c->user = g_strdup(user);
    g_mutex_init(&c->req_lock);
    g_cond_init(&c->req_cond);
    return c;
}

static void child_free(BdrvChild *c)
{
    g_assert(g_atomic_int_get(&c->requests) == 0);
    g_mutex_clear(&c->req_lock);
    g_cond_clear(&c->req_cond);
    g_free(c->name);
    g_free(c->user);
    g_free(c);
}

/*
 * No lock on the way of a request: it counts itself in, then looks at the
 * gate; the closer closes the gate, then looks at the count (both full
 * barriers), so one of the two always sees the other.  Only a request
 * that finds the gate closed, and the closer, take req_lock to wait.
 */
BlockDriverState *bdrv_child_request_begin(BdrvChild *c)
{
    for (;;) {
        g_atomic_int_inc(&c->requests);
        if (!g_atomic_int_get(&c->gate_closed)) {
            return g_atomic_pointer_get(&c->bs);
        }
        bdrv_child_request_end(c);
        g_mutex_lock(&c->req_lock);
        while (g_atomic_int_get(&c->gate_closed)) {
            g_cond_wait(&c->req_cond, &c->req_lock);
        }
        g_mutex_unlock(&c->req_lock);
    }
}

void bdrv_child_request_end(BdrvChild *c)
{
    g_assert(g_atomic_int_get(&c->requests) > 0);
    if (g_atomic_int_dec_and_test(&c->requests) &&
        g_atomic_int_get(&c->gate_closed)) {
        g_mutex_lock(&c->req_lock); /* the closer waits under it */
        g_cond_broadcast(&c->req_cond);
        g_mutex_unlock(&c->req_lock);
    }
}

void bdrv_child_gate_close(BdrvChild *c)
{
    g_mutex_lock(&c->req_lock);
    g_assert(!g_atomic_int_get(&c->gate_closed));
    g_atomic_int_set(&c->gate_closed, 1);
    while (g_atomic_int_get(&c->requests) > 0) {
        g_cond_wait(&c->req_cond, &c->req_lock);
    }
    g_mutex_unlock(&c->req_lock);
}

void bdrv_child_gate_open(BdrvChild *c)
{
    g_mutex_lock(&c->req_lock);
    g_atomic_int_set(&c->gate_closed, 0);
    g_cond_broadcast(&c->req_cond);
    g_mutex_unlock(&c->req_lock);
}

/* Enter @c among its node's parents (newest first) and refresh. */
static bool child_link(BdrvChild *c, GError **errp)
{
    BdrvNode *n = bdrv_node(c->bs);

    n->parents = g_list_prepend(n->parents, c);
    if (!bdrv_refresh_perms(c->bs, errp)) {
        n->parents = g_list_remove(n->parents, c);
        return false;
    }
    bdrv_ref(c->bs);
    return true;
}

BdrvChild *bdrv_child_attach(const char *user, BlockDriverState *bs,
                             const char *name, uint64_t perm, uint64_t shared,
                             GError **errp)
{
    BdrvChild *c = child_new(NULL, user, bs, name);

    c->perm = perm;
    c->shared = shared;
    if (!child_link(c, errp)) {
        child_free(c);
        return NULL;
    }
    return c;
}

BdrvChild *bdrv_attach_node_child(BlockDriverState *parent,
                                  BlockDriverState *bs, const char *name,
                                  GError **errp)
{
    BdrvChild *c = child_new(parent, NULL, bs, name);
    uint64_t perm, shared;

    bdrv_cumulative_perm(parent, &perm, &shared);
    child_perm(parent, c, perm, shared, &c->perm, &c->shared);
    if (!child_link(c, errp)) {
        child_free(c);
        return NULL;
    }
    return c;
}

bool bdrv_child_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared,
                         GError **errp)
{
    uint64_t old_perm = c->perm, old_shared = c->shared;

    c->perm = perm;
    c->shared = shared;
    if (!bdrv_refresh_perms(c->bs, errp)) {
        c->perm = old_perm;
        c->shared = old_shared;
        return false;
    }
    return true;
}

/* Take @c out of its node's parents and relax what is below. */
static void child_unlink(BdrvChild *c)
{
    BdrvNode *n = bdrv_node(c->bs);
    GError *err = NULL;

    n->parents = g_list_remove(n->parents, c);
    if (!bdrv_refresh_perms(c->bs, &err)) {
        /* fewer users can only mean less to hold; keep what we have */
        g_warning("Could not relax the permissions on '%s': %s",
                  c->bs->node_name, err->message);
        g_error_free(err);
    }
}

bool bdrv_child_replace(BdrvChild *c, BlockDriverState *to, GError **errp)
{
    BlockDriverState *from = c->bs;
    BdrvNode *tn = bdrv_node(to);

    c->bs = to;
    tn->parents = g_list_prepend(tn->parents, c);
    if (c->parent) {
        uint64_t perm, shared;

        bdrv_cumulative_perm(c->parent, &perm, &shared);
        child_perm(c->parent, c, perm, shared, &c->perm, &c->shared);
    }
    if (!bdrv_refresh_perms(to, errp)) {
        tn->parents = g_list_remove(tn->parents, c);
        c->bs = from;
        return false;
    }
    bdrv_ref(to);
    c->bs = from;
    child_unlink(c);
    c->bs = to;
    bdrv_unref(from);
    return true;
}

void bdrv_child_detach(BdrvChild *c)
{
    BlockDriverState *bs;

    if (!c) {
        return;
    }
    bs = c->bs;
    child_unlink(c);
    child_free(c);
    bdrv_unref(bs);
}
