/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The NBD server (nbd/): one listening socket, clients served by their own
 * threads, exports looked up by name.  The QMP side (nbd-server-start,
 * block-export-add, ...) is block/export/; this is the protocol.
 *
 * Threads: the main loop accepts (non-blocking) and runs every call below.
 * Each client has a connection thread (handshake with a deadline, then it
 * reads requests) and a small pool of workers that run the block calls and
 * send the replies, so disk I/O never runs on the main loop and a client
 * that stops reading stalls only itself.
 */
#ifndef NBD_NBD_H
#define NBD_NBD_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "block/dirty-bitmap.h"
#include "block/perm.h"

typedef struct NbdExport NbdExport;

typedef struct NbdServerConfig {
    uint32_t max_connections;       /* 0: no limit */
    uint32_t handshake_max_seconds; /* 0: no deadline */
} NbdServerConfig;

#define NBD_DEFAULT_HANDSHAKE_MAX_SECONDS 10

bool nbd_server_running(void);

/*
 * Serve on @fd, a bound stream socket (listen() is called here).  Takes
 * ownership of @fd, also on failure.  Errors: "NBD server already
 * running", "File descriptor 'NAME' is not a socket" (@what names it),
 * "Failed to listen on fd socket".
 */
bool nbd_server_start_fd(int fd, const char *what, const NbdServerConfig *cfg,
                         GError **errp);

/*
 * A listening socket from the service manager (socket activation), with
 * the default configuration.  Takes ownership of @fd, also on failure.
 */
bool nbd_server_start_listen_fd(int fd, GError **errp);

/* Stop accepting and close the listener; exports are the caller's. */
void nbd_server_stop(void);

/* What to call on the main loop once a closed export's last client is
 * gone (see nbd_export_close). */
typedef void NbdExportGoneFn(void *opaque);

typedef struct NbdExportConfig {
    const char *name;
    const char *description;   /* may be NULL */
    bool writable;
    bool writethrough;
    bool allocation_depth;
    /* offered as qemu:dirty-bitmap:NAME, in this order; borrowed: the
     * caller keeps them alive (busy) until @gone ran */
    BdrvDirtyBitmap *const *bitmaps;
    guint n_bitmaps;
} NbdExportConfig;

/* Bitmaps one export can offer (one context bit each per client). */
#define NBD_MAX_EXPORT_BITMAPS 30

/*
 * Offer @root's node under cfg->name.  @root stays the caller's (valid
 * until @gone ran); the export reads its node from it on every request,
 * so a replaced child is followed.  Errors: "NBD server not running",
 * "NBD server already has export named 'X'", "export name 'X' too long",
 * "export description 'X' too long", too many bitmaps.
 */
NbdExport *nbd_export_new(const NbdExportConfig *cfg, BdrvChild *root,
                          NbdExportGoneFn *gone, void *opaque,
                          GError **errp);

/* Clients attached now (handshake done) whose peer has not closed the
 * socket: one that just exited may still be leaving on our side. */
guint nbd_export_live_client_count(NbdExport *exp);

/*
 * Hide the export from new clients and disconnect its clients; @gone runs
 * once they are gone, and the export is freed after it.  With no client
 * attached, @gone runs inside this call (QEMU 7.2 sends
 * BLOCK_EXPORT_DELETED before the command's reply).  Otherwise, with
 * @wait, this call waits for the clients' threads to finish and runs
 * @gone itself (nbd-server-stop, as QEMU); without, @gone runs later on
 * the main loop (block-export-del mode=hard).  Main loop only.
 */
void nbd_export_close(NbdExport *exp, bool wait);

/*
 * At exit: stop the server, disconnect every client and wait until their
 * threads are done (no block call runs afterwards).
 */
void nbd_server_shutdown(void);

#endif
