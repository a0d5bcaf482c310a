/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Drives: the named roots drive_add creates (QEMU's BlockBackend with a
 * legacy drive id).  A drive holds one reference to its root node, which
 * counts as a BlockBackend user of that node (blockdev-del refuses it).
 */
#ifndef BLOCK_BLOCK_BACKEND_H
#define BLOCK_BLOCK_BACKEND_H

#include "block/block_int.h"
#include "block/perm.h"

typedef struct BlockBackend {
    char *id;
    int unit;               /* if=none unit, for generated ids */
    BlockDriverState *root; /* NULL for an empty drive */
    BdrvChild *root_child;  /* holds root: consistent read, write if rw */
    bool writethrough;      /* cache=writethrough/directsync */
} BlockBackend;

BlockBackend *blk_by_name(const char *id);
/* The drive whose root is @bs, or NULL. */
BlockBackend *blk_by_root(BlockDriverState *bs);
/* Every drive, oldest first (borrowed list). */
GList *blk_list(void);
/* The lowest unit number no drive uses. */
int blk_free_unit(void);

/*
 * A new drive @id (checked: "Duplicate ID 'x' for drive", "Device name 'x'
 * conflicts with an existing node name") with @root (may be NULL); the drive
 * takes a reference of its own and permissions on it (perm.h; a conflict
 * or a lock held elsewhere fails the drive).
 */
BlockBackend *blk_new_drive(const char *id, int unit, BlockDriverState *root,
                            bool writethrough, GError **errp);
/* Forget the drive and drop its root reference. */
void blk_delete(BlockBackend *blk);
/* Replace the root (active commit's pivot): references and permissions
 * move; false with errp (nothing changed) on a permission conflict. */
bool blk_set_root(BlockBackend *blk, BlockDriverState *bs, GError **errp);
void blk_delete_all(void);

#endif
