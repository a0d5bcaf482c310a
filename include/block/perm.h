/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Permissions, QEMU's model.  Every user of a node is a parent that holds a
 * BdrvChild on it: a format node over its "file" child, an overlay over its
 * "backing" child, a drive over its "root", an export, a job over the nodes
 * it touches.  A BdrvChild says what its parent does with the node (perm)
 * and what it lets the others do at the same time (shared).  Whenever a
 * parent attaches, changes its permissions or detaches, the node's children
 * get the permissions the node's driver derives from its new set of parents
 * (all the way down), conflicts are refused with QEMU 7.2's text, and the
 * file driver turns the result into OFD image locks and auto-read-only
 * reopens.  Either the whole graph takes the new permissions or nothing
 * changes.
 *
 * Main loop only, like every graph change.  Block code only: never included
 * by monitor/.
 *
 *   BdrvChild *c = bdrv_child_attach("commit job 'j0'", base, "root",
 *                                    BLK_PERM_CONSISTENT_READ |
 *                                    BLK_PERM_WRITE | BLK_PERM_RESIZE,
 *                                    BLK_PERM_CONSISTENT_READ |
 *                                    BLK_PERM_WRITE_UNCHANGED, errp);
 *   ...
 *   bdrv_child_detach(c);
 */
#ifndef BLOCK_PERM_H
#define BLOCK_PERM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/block_int.h"

/* The bits of QEMU 7.2's BlockPermission (also its lock byte offsets). */
enum {
    BLK_PERM_CONSISTENT_READ = 0x01,
    BLK_PERM_WRITE = 0x02,
    BLK_PERM_WRITE_UNCHANGED = 0x04,
    BLK_PERM_RESIZE = 0x08,
    BLK_PERM_ALL = 0x0f,
};
#define BLK_PERM_COUNT 4

/* Writing permissions: any of them makes an auto-read-only file writable. */
#define BLK_PERM_WRITERS                                                       \
    (BLK_PERM_WRITE | BLK_PERM_WRITE_UNCHANGED | BLK_PERM_RESIZE)

typedef struct BdrvChild BdrvChild;

struct BdrvChild {
    BlockDriverState *bs;     /* the node used; the child holds a reference */
    BlockDriverState *parent; /* parent node (file/backing), else NULL */
    char *name;               /* "file", "backing", "root", ... */
    char *user;               /* parent description when not a node */
    uint64_t perm;
    uint64_t shared;
    /* during a permission update: what to go back to on failure */
    uint64_t old_perm, old_shared;
    bool saved;
    /* a user that is not a node (an export) and moves with its node when
     * bdrv_replace_in_parents() replaces it (mirror's pivot); it counts
     * as a BlockBackend user (blk_users) of whichever node it is on */
    bool follows_replace;
    /* the requests a follower runs through this child right now, and
     * whether a replace holds new ones back (bdrv_child_request_begin):
     * both atomic; req_lock and req_cond only for those who wait */
    GMutex req_lock;
    GCond req_cond;
    gint requests;
    gint gate_closed;
};

/*
 * "consistent read, write" (QEMU's names, bit order, ", " between).  New
 * string.
 */
char *bdrv_perm_names(uint64_t perm);

/*
 * A user that is not a node (drive, export, job) starts using @bs as
 * child @name ("root" for drives and exports), described in errors as
 * @user ("block device 'd0'", "commit job 'j0'", "an unnamed block
 * device").  The child takes its own reference to @bs.  On a conflict
 * (with the node's other parents, or an image lock held elsewhere), or
 * when the file below cannot be made writable, returns NULL with errp set
 * and nothing changed.
 */
BdrvChild *bdrv_child_attach(const char *user, BlockDriverState *bs,
                             const char *name, uint64_t perm, uint64_t shared,
                             GError **errp);

/* Change @c's permissions, as one transaction (false: nothing changed). */
bool bdrv_child_set_perm(BdrvChild *c, uint64_t perm, uint64_t shared,
                         GError **errp);

/*
 * Stop using the node: permissions below are relaxed (a read-write
 * auto-read-only file goes back to read-only, locks are released), the
 * child's reference is dropped and @c freed.  NULL is ignored.
 */
void bdrv_child_detach(BdrvChild *c);

/*
 * Recompute the permissions @bs's children take from @bs's parents and
 * @bs's own state (read-only, driver), recursively, with conflicts and
 * locks checked: after a reopen changed a node's modes.  False with errp:
 * nothing changed.
 */
bool bdrv_refresh_perms(BlockDriverState *bs, GError **errp);

/*
 * For block-reopen.c: several nodes at once.  Their modes are already the
 * new ones; on failure the caller puts them back.  After success or
 * failure, call bdrv_perm_update_end(), which commits (@ok) or aborts.
 */
typedef struct BdrvPermUpdate BdrvPermUpdate;
BdrvPermUpdate *bdrv_perm_update_begin(void);
bool bdrv_perm_update_add(BdrvPermUpdate *u, BlockDriverState *bs,
                          GError **errp);
void bdrv_perm_update_end(BdrvPermUpdate *u, bool ok);

/* ---- used by the graph code (block.c, block-open.c) ---- */

/* A node child: @parent uses @bs as @name ("file", "backing"), with what
 * @parent's driver derives.  Same contract as bdrv_child_attach. */
BdrvChild *bdrv_attach_node_child(BlockDriverState *parent,
                                  BlockDriverState *bs, const char *name,
                                  GError **errp);
/* Point @c at @to (which must not be NULL), keeping its permissions where
 * they allow it: false with errp, and nothing changed, if they do not. */
bool bdrv_child_replace(BdrvChild *c, BlockDriverState *to, GError **errp);

/*
 * For a user that follows its node (an export) and runs requests from
 * other threads: the node @c is on, which stays so until the matching
 * bdrv_child_request_end(), so that every request lands on one node and a
 * replace (snapshot, pivot) never lets a request that started before it
 * reach the old node after it.  Waits while a replace of @c runs.
 */
BlockDriverState *bdrv_child_request_begin(BdrvChild *c);
void bdrv_child_request_end(BdrvChild *c);
/* Main loop, around a replace of @c: waits for its running requests and
 * holds new ones back until the gate opens again. */
void bdrv_child_gate_close(BdrvChild *c);
void bdrv_child_gate_open(BdrvChild *c);

/* The node's parents, newest first (borrowed). */
GList *bdrv_parents(BlockDriverState *bs);
/* What all of @bs's parents take and share together. */
void bdrv_cumulative_perm(BlockDriverState *bs, uint64_t *perm,
                          uint64_t *shared);

#endif
