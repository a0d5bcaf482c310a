/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU 7.2's image locks (file-posix only): OFD read locks on one byte
 * per permission bit, at 100 + bit ("I use this") and 200 + bit ("I do
 * not share this"), so that QEMU, qemu-img, qemu-io and fdsetd see each
 * other's uses of an image.
 *
 * OFD locks belong to the open file description, and every dup of an
 * fdset member shares the member's: unlocking for one node would drop
 * what another node on the same description still needs.  So each node
 * registers what it holds (FileLock), and file_lock_sync() makes the
 * description hold exactly the union of what its registered nodes hold.
 * A node that closes unregisters and syncs, so its locks go even while
 * the fdset member keeps the description open (QEMU 7.2 leaves them).
 *
 * Main loop only.
 */
#ifndef BLOCK_FILE_LOCK_H
#define BLOCK_FILE_LOCK_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct FileLock {
    int fd;            /* where the locks are (borrowed from the node) */
    uint64_t perm;     /* BLK_PERM_* bits used: bytes 100 + bit */
    uint64_t unshared; /* BLK_PERM_* bits not shared: bytes 200 + bit */
} FileLock;

void file_lock_register(FileLock *l);
void file_lock_unregister(FileLock *l);

/*
 * Make @fd's open file description hold the union of the locks of the
 * registered FileLocks on it (nothing if there is none).  False with
 * errp (errno text) if the kernel refuses a byte.
 */
bool file_lock_sync(int fd, GError **errp);

/*
 * Whether another open file description stops us from using @perm
 * (`Failed to get "write" lock`) or from not sharing what @shared lacks
 * (`Failed to get shared "write" lock`): QEMU's texts and order.
 */
bool file_lock_check(int fd, uint64_t perm, uint64_t shared, GError **errp);

#endif
