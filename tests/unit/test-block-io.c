/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The concurrent I/O path (block/io.c, file-posix, raw, qcow2's locking):
 * many threads on one node through the real block core and file driver,
 * on images made and checked by qemu-img.  Each scenario ends with the
 * image's content compared and `qemu-img check` clean.  The flags API
 * (zeroes, discard, block status) is in test-block-io-flags.c.  Also the
 * file driver's write queue on its own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "block/file-write-queue.h"
#include "block/graph.h"
#include "block/perm.h"
#include "block-io-test-util.h"
#include "qemu/error.h"

#define BLK (4 * KiB)
#define NTHREADS 8

/* ---- helpers ---- */

/* A block tagged with its index and generation: a reader can tell a whole
 * block from a torn one. */
static void block_fill(uint8_t *buf, uint64_t blk, uint64_t gen)
{
    uint64_t seed = (blk << 20) | gen;

    memcpy(buf, &seed, sizeof(seed));
    tq_fill(buf + sizeof(seed), BLK - sizeof(seed), seed);
}

/*
 * Is @buf block @blk as some writer wrote it (any generation), or the old
 * content @old_byte?  *gen gets the generation (0: old).
 */
static bool block_valid(const uint8_t *buf, uint64_t blk, uint8_t old_byte,
                        uint64_t *gen)
{
    uint8_t want[BLK];
    uint64_t seed;

    *gen = 0;
    if (all_bytes(buf, BLK, old_byte)) {
        return true;
    }
    memcpy(&seed, buf, sizeof(seed));
    if (seed >> 20 != blk) {
        return false;
    }
    *gen = seed & ((1 << 20) - 1);
    block_fill(want, blk, *gen);
    return memcmp(want, buf, BLK) == 0;
}

/*
 * A read of a block that its owner may be overwriting in place right now:
 * page-cache copies are not atomic, so the read may mix the old and the new
 * generation byte by byte (a disk would tear at sectors) — but every byte
 * must come from one of them, never from another block, a wrong cluster or
 * zeroes.  Allocating writes never tear: see the strict checks.
 */
static bool block_plausible(const uint8_t *buf, uint64_t blk, uint8_t old_byte)
{
    uint8_t cand[3][BLK];
    uint64_t seed, gen = 1;

    if (block_valid(buf, blk, old_byte, &seed)) {
        return true;
    }
    memcpy(&seed, buf, sizeof(seed));
    if (seed >> 20 == blk) {
        gen = seed & ((1 << 20) - 1);
    }
    for (int k = 0; k < 3; k++) {
        block_fill(cand[k], blk, gen + k - 1);
    }
    for (size_t i = 0; i < BLK; i++) {
        if (buf[i] != old_byte && buf[i] != cand[0][i] &&
            buf[i] != cand[1][i] && buf[i] != cand[2][i]) {
            return false;
        }
    }
    return true;
}

/* ---- many threads, own blocks, every cluster shared ---- */

typedef struct Worker {
    BlockDriverState *bs;
    int id;
    uint64_t nblocks; /* of the whole area */
    uint8_t old_byte; /* what unwritten blocks read as */
    int iters;
    int flags;           /* of the writes (FUA) */
    uint64_t *last_gen;  /* per block, written by its owner only */
    int bad_reads;       /* torn or foreign content seen */
    int write_errors;
    int eperm;           /* writes refused while read-only (drain test) */
    int *stop;           /* atomic */
    int progress;        /* atomic */
} Worker;

/* Block @blk belongs to thread blk % NTHREADS: a 64k cluster holds 16
 * blocks of all eight threads, so allocations and partial-cluster COWs of
 * one cluster race. */
static gpointer worker_run(gpointer opaque)
{
    Worker *w = opaque;
    GRand *rnd = g_rand_new_with_seed(w->id * 7919 + 1);
    uint8_t *buf = g_aligned_alloc(1, BLK, 4096);
    uint64_t mine = w->nblocks / NTHREADS;

    for (int i = 0; i < w->iters && !(w->stop && g_atomic_int_get(w->stop));
         i++) {
        uint64_t blk = g_rand_int_range(rnd, 0, mine) * NTHREADS + w->id;
        uint64_t any = g_rand_int_range(rnd, 0, w->nblocks), gen = 0;
        int ret;

        block_fill(buf, blk, w->last_gen[blk] + 1);
        ret = bdrv_pwrite_flags(w->bs, blk * BLK, BLK, buf, w->flags, NULL);
        if (ret == 0) {
            w->last_gen[blk]++;
        } else if (ret == -EPERM) {
            w->eperm++;
        } else {
            w->write_errors++;
        }
        /* someone else's block, maybe being allocated right now */
        if (bdrv_pread(w->bs, any * BLK, BLK, buf, NULL) < 0 ||
            !block_plausible(buf, any, w->old_byte)) {
            fprintf(stderr, "thread %d: block %" PRIu64 " torn (%02x %02x)\n",
                    w->id, any, buf[0], buf[100]);
            w->bad_reads++;
        }
        /* my own block: exactly what I wrote last */
        if (bdrv_pread(w->bs, blk * BLK, BLK, buf, NULL) < 0 ||
            !block_valid(buf, blk, w->old_byte, &gen) ||
            gen != w->last_gen[blk]) {
            fprintf(stderr, "thread %d: own block %" PRIu64 " gen %" PRIu64
                    " want %" PRIu64 " (%02x)\n", w->id, blk, gen,
                    w->last_gen[blk], buf[100]);
            w->bad_reads++;
        }
        g_atomic_int_set(&w->progress, i + 1);
    }
    g_aligned_free(buf);
    g_rand_free(rnd);
    return NULL;
}

/* Run NTHREADS workers; @during runs on this thread meanwhile. */
static void run_workers(BlockDriverState *bs, uint64_t nblocks,
                        uint8_t old_byte, int iters, int flags,
                        uint64_t *last_gen, void (*during)(Worker *w),
                        Worker *w)
{
    GThread *th[NTHREADS];
    int stop = 0;

    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (Worker){.bs = bs, .id = i, .nblocks = nblocks,
                        .old_byte = old_byte, .iters = iters, .flags = flags,
                        .last_gen = last_gen, .stop = during ? &stop : NULL};
        th[i] = g_thread_new("io-worker", worker_run, &w[i]);
    }
    if (during) {
        during(w);
        g_atomic_int_set(&stop, 1);
    }
    for (int i = 0; i < NTHREADS; i++) {
        g_thread_join(th[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        ck_assert_int_eq(w[i].bad_reads, 0);
        ck_assert_int_eq(w[i].write_errors, 0);
    }
}

/* Every block holds its owner's last write (or the old byte if none). */
static void verify_blocks(BlockDriverState *bs, uint64_t nblocks,
                          uint8_t old_byte, const uint64_t *last_gen)
{
    uint8_t *buf = g_malloc(BLK);

    for (uint64_t b = 0; b < nblocks; b++) {
        uint64_t gen;

        ck_assert_int_eq(bdrv_pread(bs, b * BLK, BLK, buf, NULL), 0);
        ck_assert_msg(block_valid(buf, b, old_byte, &gen), "block %" PRIu64
                      " torn", b);
        ck_assert_msg(gen == last_gen[b], "block %" PRIu64 ": gen %" PRIu64
                      ", want %" PRIu64, b, gen, last_gen[b]);
    }
    g_free(buf);
}

/*
 * Allocation races: 8 threads write 4k blocks of one unallocated area of
 * a qcow2 overlay (every 64k cluster shared by all eight, each partial
 * write a copy-on-write from the backing file) and read their own and
 * others' blocks meanwhile: no lost write, no torn or garbage read.
 */
START_TEST(test_qcow2_allocation_races)
{
    const uint64_t nblocks = 4 * MiB / BLK;
    g_autofree char *top = NULL;
    g_autofree uint64_t *last_gen = g_new0(uint64_t, nblocks);
    Worker w[NTHREADS];
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    top = make_chain("alloc", "4M", "-o cluster_size=64k");
    bs = open_qcow2(top);
    run_workers(bs, nblocks, BASE_BYTE, 1500, 0, last_gen, NULL, w);
    verify_blocks(bs, nblocks, BASE_BYTE, last_gen);
    bdrv_unref(bs);
    tq_assert_check_clean(top);
    bs = open_qcow2(top); /* and after a reopen from disk */
    verify_blocks(bs, nblocks, BASE_BYTE, last_gen);
    bdrv_unref(bs);
}
END_TEST

/* The same with small clusters (many L2 updates per request) and FUA. */
START_TEST(test_qcow2_small_clusters_fua)
{
    const uint64_t nblocks = 2 * MiB / BLK;
    g_autofree char *top = NULL;
    g_autofree uint64_t *last_gen = g_new0(uint64_t, nblocks);
    Worker w[NTHREADS];
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    top = make_chain("small", "2M", "-o cluster_size=4k");
    bs = open_qcow2(top);
    run_workers(bs, nblocks, BASE_BYTE, 300, BDRV_REQ_FUA, last_gen, NULL, w);
    bdrv_unref(bs);
    tq_assert_check_clean(top);
    bs = open_qcow2(top);
    verify_blocks(bs, nblocks, BASE_BYTE, last_gen);
    bdrv_unref(bs);
}
END_TEST

/* Raw over a sparse file: the lock-free path, reads of holes as zeroes. */
START_TEST(test_raw_concurrency)
{
    const uint64_t nblocks = 8 * MiB / BLK;
    g_autofree char *img = tq_path("raw.img");
    g_autofree uint64_t *last_gen = g_new0(uint64_t, nblocks);
    Worker w[NTHREADS];
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 8M", img);
    bs = open_json("{\"driver\": \"raw\", \"file\": {\"driver\": \"file\", "
                   "\"filename\": \"%s\"}}", img);
    run_workers(bs, nblocks, 0, 2000, 0, last_gen, NULL, w);
    verify_blocks(bs, nblocks, 0, last_gen);
    bdrv_unref(bs);
}
END_TEST

/* ---- a drain during I/O ---- */

static void wait_progress(Worker *w)
{
    int start = g_atomic_int_get(&w[0].progress);

    for (int i = 0; i < 2000 && g_atomic_int_get(&w[0].progress) < start + 5;
         i++) {
        g_usleep(1000);
    }
}

/*
 * While the workers run: drained sections (no request in flight inside,
 * none starting from another thread), and reopens read-only and back,
 * which drain too; writes refused meanwhile get -EPERM.
 */
static void drain_and_reopen(Worker *w)
{
    BlockDriverState *bs = w[0].bs;
    GError *err = NULL;

    for (int round = 0; round < 5; round++) {
        int before[NTHREADS];

        wait_progress(w);
        bdrv_drained_begin(bs);
        for (int i = 0; i < NTHREADS; i++) {
            before[i] = g_atomic_int_get(&w[i].progress);
        }
        g_usleep(20000);
        for (int i = 0; i < NTHREADS; i++) {
            /* at most the iteration that was between two requests */
            ck_assert_int_le(g_atomic_int_get(&w[i].progress),
                             before[i] + 1);
        }
        bdrv_drained_end(bs);

        wait_progress(w);
        ck_assert_msg(bdrv_reopen_set_read_only(bs, true, false, &err), "%s",
                      err ? err->message : "");
        g_usleep(5000);
        ck_assert_msg(bdrv_reopen_set_read_only(bs, false, true, &err), "%s",
                      err ? err->message : "");
    }
    wait_progress(w);
}

START_TEST(test_drain_during_io)
{
    const uint64_t nblocks = 4 * MiB / BLK;
    g_autofree char *top = NULL;
    g_autofree uint64_t *last_gen = g_new0(uint64_t, nblocks);
    Worker w[NTHREADS];
    BlockDriverState *bs;
    int eperm = 0;

    TQ_REQUIRE_QEMU();
    top = make_chain("drain", "4M", "");
    bs = open_qcow2(top);
    run_workers(bs, nblocks, BASE_BYTE, 1000000, 0, last_gen,
                drain_and_reopen, w);
    for (int i = 0; i < NTHREADS; i++) {
        eperm += w[i].eperm;
    }
    ck_assert_int_gt(eperm, 0); /* the read-only phases were seen */
    verify_blocks(bs, nblocks, BASE_BYTE, last_gen);
    bdrv_unref(bs);
    tq_assert_check_clean(top);
}
END_TEST

/* ---- copy-on-read (block-stream) racing guest writes ---- */

/* What block-stream does, over the whole area in 256k pieces, again and
 * again, while the workers write. */
static void copy_on_read_loop(Worker *w)
{
    BlockDriverState *bs = w[0].bs;
    g_autofree uint8_t *buf = g_malloc(256 * KiB);

    for (int round = 0; round < 3; round++) {
        for (int64_t off = 0; off < 4 * MiB; off += 256 * KiB) {
            int64_t copied;

            ck_assert_int_eq(bdrv_copy_on_read(bs, off, 256 * KiB, buf,
                                               &copied, NULL), 0);
        }
        wait_progress(w);
    }
}

/*
 * Copy-on-read must never put the backing file's older data over a guest
 * write that landed between its allocation check and its write: every
 * block ends with its owner's last write (qcow2 writes only what is still
 * unallocated, with no drained section).
 */
START_TEST(test_copy_on_read_vs_writes)
{
    const uint64_t nblocks = 4 * MiB / BLK;
    g_autofree char *top = NULL;
    g_autofree uint64_t *last_gen = g_new0(uint64_t, nblocks);
    Worker w[NTHREADS];
    BlockDriverState *bs;
    int64_t pnum;

    TQ_REQUIRE_QEMU();
    top = make_chain("cor", "4M", "-o cluster_size=64k");
    bs = open_qcow2(top);
    run_workers(bs, nblocks, BASE_BYTE, 1000000, 0, last_gen,
                copy_on_read_loop, w);
    verify_blocks(bs, nblocks, BASE_BYTE, last_gen);
    /* the whole area is in the overlay now */
    ck_assert_int_eq(bdrv_is_allocated(bs, 0, 4 * MiB, &pnum, NULL), 1);
    ck_assert_int_eq(pnum, 4 * MiB);
    bdrv_unref(bs);
    tq_assert_check_clean(top);
}
END_TEST

/* ---- overlapping writers, readers of clusters being allocated ---- */

#define OVL_CLUSTERS 64
#define OVL_WRITERS 4

typedef struct Overlap {
    BlockDriverState *bs;
    int id;              /* writers 1..OVL_WRITERS write that byte */
    bool reader;
    int *stop; /* atomic */
    int bad;
} Overlap;

/* Writers: every cluster in turn, whole (64k) or as one 128k request over
 * two; all writers hit the same unallocated clusters at about the same
 * time.  Readers: every byte must be the backing file's or a writer's. */
static gpointer overlap_run(gpointer opaque)
{
    Overlap *o = opaque;
    uint8_t *buf = g_malloc(128 * KiB);

    for (int c = 0; c < OVL_CLUSTERS && !o->reader; c++) {
        /* odd writers send pairs of clusters, even ones single clusters */
        bool pair = (o->id & 1) && !(c & 1) && c + 1 < OVL_CLUSTERS;
        int64_t len = pair ? 128 * KiB : 64 * KiB;

        memset(buf, o->id, len);
        o->bad += bdrv_pwrite(o->bs, c * 64 * KiB, len, buf, NULL) < 0;
        c += pair;
    }
    while (o->reader && !g_atomic_int_get(o->stop)) {
        for (int c = 0; c < OVL_CLUSTERS; c++) {
            if (bdrv_pread(o->bs, c * 64 * KiB, 64 * KiB, buf, NULL) < 0) {
                o->bad++;
                continue;
            }
            for (int i = 0; i < 64 * KiB; i++) {
                if (buf[i] != BASE_BYTE &&
                    (buf[i] < 1 || buf[i] > OVL_WRITERS)) {
                    o->bad++;
                    break;
                }
            }
        }
    }
    g_free(buf);
    return NULL;
}

/*
 * Writers race to allocate the same clusters: exactly one allocates each
 * (no leaked or doubly referenced cluster), the others write in place, so
 * every 4k block ends up wholly one writer's; readers never see garbage.
 */
START_TEST(test_qcow2_overlapping_writers)
{
    g_autofree char *top = NULL;
    g_autofree uint8_t *buf = g_malloc(BLK);
    Overlap o[OVL_WRITERS + 2];
    GThread *th[OVL_WRITERS + 2];
    int stop = 0;
    BlockDriverState *bs;

    TQ_REQUIRE_QEMU();
    top = make_chain("overlap", "4M", "-o cluster_size=64k");
    bs = open_qcow2(top);
    for (int i = 0; i < OVL_WRITERS + 2; i++) {
        o[i] = (Overlap){.bs = bs, .id = i + 1, .reader = i >= OVL_WRITERS,
                         .stop = &stop};
        th[i] = g_thread_new("overlap", overlap_run, &o[i]);
    }
    for (int i = 0; i < OVL_WRITERS; i++) {
        g_thread_join(th[i]);
    }
    g_atomic_int_set(&stop, 1);
    for (int i = OVL_WRITERS; i < OVL_WRITERS + 2; i++) {
        g_thread_join(th[i]);
    }
    for (int i = 0; i < OVL_WRITERS + 2; i++) {
        ck_assert_int_eq(o[i].bad, 0);
    }
    for (int64_t off = 0; off < OVL_CLUSTERS * 64 * KiB; off += BLK) {
        ck_assert_int_eq(bdrv_pread(bs, off, BLK, buf, NULL), 0);
        ck_assert_msg(buf[0] >= 1 && buf[0] <= OVL_WRITERS &&
                      all_bytes(buf, BLK, buf[0]),
                      "block at %" PRId64 " mixed", off);
    }
    bdrv_unref(bs);
    tq_assert_check_clean(top);
    /* one host cluster per guest cluster: nothing allocated twice */
    tq_sh_ok("test \"$(qemu-img check --output=json '%s' | "
             "sed -n 's/.*\"allocated-clusters\": \\([0-9]*\\).*/\\1/p')\" "
             "-eq %d", top, OVL_CLUSTERS);
}
END_TEST

/* ---- O_DIRECT: unaligned writes read-modify-write under rmw_lock ---- */

typedef struct SectorWorker {
    BlockDriverState *bs;
    int id;
    int bad;
} SectorWorker;

/* Thread i owns 512-byte sector i of every 4k block: every write is an
 * unaligned read-modify-write of a block the others write too. */
static gpointer sector_run(gpointer opaque)
{
    SectorWorker *w = opaque;
    uint8_t buf[512], got[512];

    for (int i = 0; i < 400; i++) {
        int64_t off = (int64_t)(i % 64) * BLK + w->id * 512;

        memset(buf, (w->id << 4) | (i & 15), sizeof(buf));
        if (bdrv_pwrite(w->bs, off, sizeof(buf), buf, NULL) < 0 ||
            bdrv_pread(w->bs, off, sizeof(got), got, NULL) < 0 ||
            memcmp(buf, got, sizeof(buf))) {
            w->bad++;
        }
    }
    return NULL;
}

START_TEST(test_direct_unaligned_rmw)
{
    g_autofree char *img = tq_path("direct.img");
    g_autofree char *json = NULL;
    g_autoptr(JsonNode) opts = NULL;
    SectorWorker w[NTHREADS];
    GThread *th[NTHREADS];
    BlockDriverState *bs;
    GError *err = NULL;

    TQ_REQUIRE_QEMU();
    tq_sh_ok("qemu-img create -q -f raw '%s' 256k", img);
    json = g_strdup_printf("{\"driver\": \"raw\", \"cache\": {\"direct\": "
                           "true}, \"file\": {\"driver\": \"file\", "
                           "\"filename\": \"%s\"}}", img);
    opts = json_from_string(json, NULL);
    bs = bdrv_open_options(json_node_get_object(opts), &err);
    if (!bs) {
        fprintf(stderr, "SKIP %s: no O_DIRECT here: %s\n", __func__,
                err->message);
        g_clear_error(&err);
        return;
    }
    for (int i = 0; i < NTHREADS; i++) {
        w[i] = (SectorWorker){.bs = bs, .id = i};
        th[i] = g_thread_new("rmw", sector_run, &w[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        g_thread_join(th[i]);
        ck_assert_int_eq(w[i].bad, 0);
    }
    for (int b = 0; b < 64; b++) {
        for (int i = 0; i < NTHREADS; i++) {
            int last = b + 64 * ((399 - b) / 64); /* its last write */

            expect_pattern(bs, (int64_t)b * BLK + i * 512, 512,
                           (i << 4) | (last & 15));
        }
    }
    bdrv_unref(bs);
}
END_TEST

/* ---- the file driver's write queue ---- */

typedef struct QueueCaller {
    FileWriteQueue *q;
    gint *running;  /* calls inside fn right now: must stay 0 or 1 */
    guint64 *total; /* plain: only ever changed inside fn */
    GThread *self;
    int calls, ran_elsewhere;
} QueueCaller;

typedef struct QueueCall {
    QueueCaller *caller;
    int value;
    bool ran_here;
} QueueCall;

static int queue_call_fn(void *opaque)
{
    QueueCall *call = opaque;
    QueueCaller *qc = call->caller;
    gint others = g_atomic_int_add(qc->running, 1);

    ck_assert_int_eq(others, 0);
    call->ran_here = g_thread_self() == qc->self;
    *qc->total += call->value;
    g_thread_yield(); /* give the others time to queue up */
    g_atomic_int_add(qc->running, -1);
    return call->value * 2;
}

static gpointer queue_caller_run(gpointer opaque)
{
    QueueCaller *qc = opaque;

    qc->self = g_thread_self();
    for (int i = 1; i <= qc->calls; i++) {
        QueueCall call = {.caller = qc, .value = i};

        ck_assert_int_eq(file_write_queue_run(qc->q, queue_call_fn, &call),
                         2 * i);
        qc->ran_elsewhere += !call.ran_here;
    }
    return NULL;
}

/*
 * Eight threads through one queue: every call runs exactly once, never two
 * at a time, and each caller gets its own result back, whichever thread
 * ran it.
 */
START_TEST(test_file_write_queue)
{
    FileWriteQueue q;
    QueueCaller qc[NTHREADS];
    GThread *th[NTHREADS];
    gint running = 0;
    guint64 total = 0;
    int elsewhere = 0;

    file_write_queue_init(&q);
    for (int i = 0; i < NTHREADS; i++) {
        qc[i] = (QueueCaller){
            .q = &q, .running = &running, .total = &total, .calls = 500};
        th[i] = g_thread_new("queue", queue_caller_run, &qc[i]);
    }
    for (int i = 0; i < NTHREADS; i++) {
        g_thread_join(th[i]);
        elsewhere += qc[i].ran_elsewhere;
    }
    ck_assert_uint_eq(total, (guint64)NTHREADS * 500 * 501 / 2);
    ck_assert(!q.busy && !q.head && !q.tail);
    /* how many ran on another thread depends on the load; say it */
    fprintf(stderr, "write queue: %d of %d calls ran on another thread\n",
            elsewhere, NTHREADS * 500);
    file_write_queue_destroy(&q);
}
END_TEST

typedef struct GateUser {
    BdrvChild *child;
    BlockDriverState **forbidden;
    gint *stop;
    gint *bad;
    guint64 requests;
} GateUser;

/* Requests through the child until told to stop; a request still on
 * the node a finished replace left is a failure. */
static gpointer gate_user_run(gpointer opaque)
{
    GateUser *u = opaque;

    while (!g_atomic_int_get(u->stop)) {
        BlockDriverState *bs = bdrv_child_request_begin(u->child);

        for (volatile int k = 0; k < 500; k++) {
            /* a request takes a while */
        }
        /* the replace that made bs forbidden returned while we held it */
        if (bs == g_atomic_pointer_get(u->forbidden)) {
            g_atomic_int_inc(u->bad);
        }
        bdrv_child_request_end(u->child);
        u->requests++;
    }
    return NULL;
}

/*
 * A follower's gate (exports under snapshot and pivot): once
 * bdrv_replace_followers() returns, no request is still on the old node
 * and none gets it any more, with four threads going through the child
 * without a lock.
 */
START_TEST(test_child_request_gate)
{
    g_autofree char *a = tq_path("gate-a.img");
    g_autofree char *b = tq_path("gate-b.img");
    BlockDriverState *node[2], *forbidden = NULL;
    GateUser u[4];
    GThread *th[4];
    gint stop = 0, bad = 0;
    BdrvChild *c;

    tq_sh_ok("qemu-img create -q -f raw '%s' 1M && "
             "qemu-img create -q -f raw '%s' 1M", a, b);
    node[0] = open_json("{\"driver\": \"raw\", \"file\": {\"driver\": "
                        "\"file\", \"filename\": \"%s\"}}", a);
    node[1] = open_json("{\"driver\": \"raw\", \"file\": {\"driver\": "
                        "\"file\", \"filename\": \"%s\"}}", b);
    c = bdrv_child_attach("gate test", node[0], "root", BLK_PERM_CONSISTENT_READ,
                          BLK_PERM_ALL, NULL);
    ck_assert_ptr_nonnull(c);
    c->follows_replace = true;
    bdrv_node(node[0])->blk_users++;
    for (int i = 0; i < 4; i++) {
        u[i] = (GateUser){.child = c, .forbidden = &forbidden, .stop = &stop,
                          .bad = &bad};
        th[i] = g_thread_new("gate", gate_user_run, &u[i]);
    }
    for (int i = 0; i < 400; i++) {
        BlockDriverState *from = node[i % 2], *to = node[(i + 1) % 2];

        g_atomic_pointer_set(&forbidden, NULL);
        ck_assert(bdrv_replace_followers(from, to, NULL));
        g_atomic_pointer_set(&forbidden, from);
        g_usleep(100);
    }
    g_atomic_int_set(&stop, 1);
    for (int i = 0; i < 4; i++) {
        g_thread_join(th[i]);
        ck_assert_uint_gt(u[i].requests, 0);
    }
    ck_assert_int_eq(g_atomic_int_get(&bad), 0);
    ck_assert_int_eq(g_atomic_int_get(&c->requests), 0);
    bdrv_node(node[0])->blk_users--;
    bdrv_child_detach(c);
    bdrv_unref(node[0]);
    bdrv_unref(node[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("block-io");
    TCase *tc = tcase_create("concurrent");
    SRunner *sr;
    int failed;

    if (!tq_have_qemu()) {
        return 77;
    }
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_qcow2_allocation_races);
    tcase_add_test(tc, test_qcow2_small_clusters_fua);
    tcase_add_test(tc, test_raw_concurrency);
    tcase_add_test(tc, test_drain_during_io);
    tcase_add_test(tc, test_qcow2_overlapping_writers);
    tcase_add_test(tc, test_copy_on_read_vs_writes);
    tcase_add_test(tc, test_direct_unaligned_rmw);
    tcase_add_test(tc, test_file_write_queue);
    tcase_add_test(tc, test_child_request_gate);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
