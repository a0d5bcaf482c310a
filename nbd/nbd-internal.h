/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Shared by nbd/server.c (listener, clients, exports), nbd/handshake.c
 * (option haggling), nbd/requests.c (transmission phase: receiving and
 * its threads) and nbd/commands.c (its commands and replies).
 */
#ifndef NBD_INTERNAL_H
#define NBD_INTERNAL_H

#include <pthread.h>
#include <stddef.h>

#include "nbd/nbd.h"
#include "nbd-proto.h"

/* Requests a client may have in flight (QEMU's number). */
#define NBD_MAX_IN_FLIGHT 16
/* Payload bytes in flight per client: bounds a client's memory. */
#define NBD_MAX_BYTES_IN_FLIGHT (64 * 1024 * 1024)
/* Clients in their handshake at once; later ones are dropped at accept. */
#define NBD_MAX_HANDSHAKES 1024
/* Socket buffers asked for (the kernel caps them at its *mem_max). */
#define NBD_SOCKET_BUFFER (4 * 1024 * 1024)
/* Size of the connection thread's receive buffer. */
#define NBD_RECV_BUFFER (64 * 1024)
/* CACHE reads go through a buffer this big. */
#define NBD_CACHE_CHUNK (1024 * 1024)
/*
 * Reads shorter than this go out as one data chunk without asking block
 * status first: for a few KiB the probe (on a file, SEEK_DATA/SEEK_HOLE
 * plus the length checks) costs more than sending the zeroes of a hole
 * would, and the protocol lets a server send data where it could have sent
 * a hole.  Copy tools read far larger blocks and still get hole chunks.
 */
#define NBD_SPARSE_READ_MIN (64 * 1024)

/* Reads the receiving thread answers in place before it sends their
 * replies together (less than NBD_MAX_IN_FLIGHT: the others progress). */
#define NBD_BATCH_MAX 4
/*
 * A batch that carried this much data goes out before the next request
 * is received: with large requests, holding a reply back for the next
 * one costs the client a slot of its queue for a whole request's time.
 */
#define NBD_BATCH_FLUSH_BYTES (256 * 1024)
/* How long the receiving thread looks for a next request, awake. */
#define NBD_SPIN_US 30

/*
 * Metadata contexts: bit i of a client's selection is context id i, as
 * QEMU 7.2 numbers them (fixed per export: base:allocation 0,
 * qemu:allocation-depth 1 even when the export does not offer it, then
 * the bitmaps in the export's order).
 */
enum {
    NBD_META_BASE_ALLOCATION = 0,
    NBD_META_ALLOCATION_DEPTH = 1,
    /* then the export's qemu:dirty-bitmap:NAME contexts: bit and id
     * NBD_META_BITMAP_FIRST + index */
    NBD_META_BITMAP_FIRST = 2,
};

struct NbdExport {
    char *name;
    char *description;
    BdrvChild *root;          /* the owner's; ->bs read per request */
    int64_t size;             /* rounded down to 512, as QEMU */
    bool writable;
    bool writethrough;
    bool allocation_depth;
    BdrvDirtyBitmap **bitmaps;  /* borrowed, busy while exported */
    char **bitmap_contexts;     /* "qemu:dirty-bitmap:NAME" of each */
    guint n_bitmaps;
    bool closing;             /* no new clients; under nbd_lock */
    bool closer_waits;        /* nbd_export_close runs @gone; nbd_lock */
    guint n_clients;          /* under nbd_lock */
    NbdExportGoneFn *gone;
    void *opaque;
};

typedef struct NbdClient NbdClient;

typedef struct NbdRequest {
    NbdClient *client;
    uint16_t flags;
    uint16_t type;
    uint64_t cookie;
    uint64_t offset;
    uint32_t len;
    uint8_t *buf;             /* payload / reply data, buf_size bytes */
    size_t buf_size;
    /* a read's reply header (and chunk offset), reply_hdr_len bytes */
    uint8_t reply_hdr[NBD_CHUNK_HEADER_SIZE + 8];
    size_t reply_hdr_len;
    /* a write queued by nbd_write_async: its export's child, then its
     * result and place in the client's done list */
    BdrvChild *gate;
    int ret;
    struct NbdRequest *done_next;
} NbdRequest;

struct NbdClient {
    int fd;                   /* owned; closed by the connection thread */
    NbdExport *exp;           /* after the handshake */
    uint16_t tx_flags;        /* transmission flags sent */
    bool structured;
    bool no_zeroes;
    uint32_t meta;            /* selected contexts (bits, see above) */
    int64_t deadline;         /* handshake, monotonic us; 0: none */

    /* receive buffer of the connection thread */
    uint8_t *rbuf;
    size_t rpos, rlen;

    GMutex send_lock;         /* one reply on the wire at a time */
    GMutex lock;              /* the fields below */
    GCond cond;
    guint in_flight;
    size_t bytes_in_flight;
    gint failed;              /* atomic (set under lock): a send failed */
    GSList *free_reqs;        /* NbdRequest* kept for reuse */
    guint n_threads;          /* serving threads, the connection's incl. */
    gint n_waiting;           /* atomic: ... of them waiting to receive */
    guint n_cond_waiters;     /* threads in g_cond_wait(&cond) */
    bool stopping;            /* under recv_lock: the connection is over */
    NbdRequest *done_head;    /* queued writes done, replies not sent */
    gint async_n;             /* atomic: queued writes not done yet */

    GMutex recv_lock;         /* one thread receives at a time */
    /* under recv_lock: reads answered in place, replies not sent yet */
    NbdRequest *batch[NBD_BATCH_MAX];
    int batch_n;
    uint64_t batch_bytes; /* of data the batched requests carried */
    unsigned spin_misses, spin_skips; /* await_next_request */
};

/* server.c */
extern GMutex nbd_lock;
extern bool nbd_multi_conn_allowed;
/* The open export called @name, or NULL (under nbd_lock). */
NbdExport *nbd_export_lookup_locked(const char *name);
/* Every open export, for NBD_OPT_LIST (under nbd_lock). */
GList *nbd_export_list_locked(void);
/* Attach @c to @name's export if it is open: true on success. */
bool nbd_client_attach(NbdClient *c, const char *name);
/* Size in bytes the export shows. */
int64_t nbd_export_size(NbdExport *exp);
/* The node the export reads and writes right now. */
BlockDriverState *nbd_export_bs(NbdExport *exp);

/* Socket helpers (handshake.c): full reads/writes, honouring the
 * client's deadline while it is set.  0 or -1 (connection over). */
int nbd_read_full(NbdClient *c, void *buf, size_t len);
int nbd_write_full(NbdClient *c, const void *buf, size_t len);
int nbd_writev_full(NbdClient *c, struct iovec *iov, int iovcnt);

/* handshake.c: true once the client is in the transmission phase. */
bool nbd_handshake(NbdClient *c);
uint16_t nbd_export_tx_flags(NbdClient *c, NbdExport *exp);

/* commands.c */
/* Run a received, checked request and send its reply. */
void nbd_run_request(NbdClient *c, NbdRequest *r);
/* An error reply (a structured error chunk with @msg when negotiated). */
void nbd_send_error(NbdClient *c, uint64_t cookie, uint32_t err,
                    const char *msg);
/* A send failed: the connection is over for everyone on it. */
void nbd_client_fail(NbdClient *c);
/*
 * A READ whose data the node gives without waiting (in the page cache),
 * read into r->buf, or a plain WRITE the node takes without waiting
 * (bdrv_pwrite_nowait), done: its reply header is in r->reply_hdr, for
 * the caller to send.  False: nothing done, run it as any other.
 */
bool nbd_answer_nowait(NbdClient *c, NbdRequest *r);
/*
 * A plain WRITE queued on the node without waiting (bdrv_pwrite_async):
 * true when queued; once written it is put on c->done_head (under
 * c->lock, c->cond broadcast) for the receiving thread to answer with
 * nbd_write_reply.  False: nothing done, run it as any other.
 */
bool nbd_write_async(NbdClient *c, NbdRequest *r);
/* A done queued write's reply: true when it is in r->reply_hdr, for the
 * caller to send; false when it failed and its error reply went out. */
bool nbd_write_reply(NbdClient *c, NbdRequest *r);
/* The replies of @n (at most NBD_BATCH_MAX) such reads and writes, in one
 * sendmsg. */
void nbd_send_replies(NbdClient *c, NbdRequest **reqs, int n);

/* requests.c */
/*
 * Serve requests until the client leaves or fails, on as many threads
 * as it keeps busy (up to NBD_MAX_IN_FLIGHT); returns once every one of
 * them is done.
 */
void nbd_serve_requests(NbdClient *c);

static inline void nbd_put16(uint8_t *p, uint16_t v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static inline void nbd_put32(uint8_t *p, uint32_t v)
{
    nbd_put16(p, v >> 16);
    nbd_put16(p + 2, v);
}

static inline void nbd_put64(uint8_t *p, uint64_t v)
{
    nbd_put32(p, v >> 32);
    nbd_put32(p + 4, v);
}

static inline uint16_t nbd_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t nbd_get32(const uint8_t *p)
{
    return (uint32_t)nbd_get16(p) << 16 | nbd_get16(p + 2);
}

static inline uint64_t nbd_get64(const uint8_t *p)
{
    return (uint64_t)nbd_get32(p) << 32 | nbd_get32(p + 4);
}

#endif
