/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * io-bench: the execution model for NBD requests, measured.  The same
 * workloads (4k random read/write at QD16, 4k random read at QD1, 1M
 * sequential read/write at QD4) run
 *   - through the block layer (bdrv_pread/bdrv_pwrite) with one thread per
 *     request in flight (the worker pool an NBD server would use), on a
 *     raw node and on a qcow2 node;
 *   - straight on the file with io_uring (liburing), one thread keeping
 *     QD requests in flight.
 * Not a CI test.  Usage:
 *   io-bench [-t SECONDS] [-d] RAW_FILE QCOW2_FILE
 * Both files must exist and be at least 1 GiB (bench/io-bench.sh makes
 * them); -d opens them with O_DIRECT (cache.direct=on).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "block/graph.h"
#include "qemu/json.h"

#define KiB 1024
#define MiB (1024 * KiB)
#define SPAN (1024LL * MiB) /* the area the requests cover */

typedef struct Workload {
    const char *name;
    int64_t size;
    int qd;
    bool write;
    bool sequential;
} Workload;

static const Workload workloads[] = {
    {"4k randread QD16", 4 * KiB, 16, false, false},
    {"4k randwrite QD16", 4 * KiB, 16, true, false},
    {"4k randread QD1", 4 * KiB, 1, false, false},
    {"1M seqread QD4", MiB, 4, false, true},
    {"1M seqwrite QD4", MiB, 4, true, true},
};

static double seconds = 3;
static bool direct;

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The offset of request @n of one stream: random, or the next in line. */
static int64_t next_offset(const Workload *w, uint64_t *rnd, int64_t *seq)
{
    if (w->sequential) {
        int64_t off = *seq;

        *seq = (*seq + w->size) % SPAN;
        return off;
    }
    *rnd ^= *rnd << 13;
    *rnd ^= *rnd >> 7;
    *rnd ^= *rnd << 17;
    return (int64_t)(*rnd % (SPAN / w->size)) * w->size;
}

/* ---- the block layer with a thread per request in flight ---- */

typedef struct Stream {
    BlockDriverState *bs;
    const Workload *w;
    int id;
    double deadline;
    uint64_t ops;
    int errors;
} Stream;

static gpointer stream_run(gpointer opaque)
{
    Stream *st = opaque;
    const Workload *w = st->w;
    uint8_t *buf = g_aligned_alloc(1, w->size, 4096);
    uint64_t rnd = 0x9e3779b97f4a7c15ULL * (st->id + 1);
    /* sequential streams each take their own part of the span */
    int64_t seq = (SPAN / w->qd) * st->id;

    memset(buf, 0x5a, w->size);
    while (now() < st->deadline) {
        for (int i = 0; i < 16; i++) {
            int64_t off = next_offset(w, &rnd, &seq);
            int ret = w->write ? bdrv_pwrite(st->bs, off, w->size, buf, NULL)
                               : bdrv_pread(st->bs, off, w->size, buf, NULL);

            st->errors += ret < 0;
            st->ops++;
        }
    }
    g_aligned_free(buf);
    return NULL;
}

static double run_bdrv(BlockDriverState *bs, const Workload *w)
{
    GThread *th[64];
    Stream st[64];
    double start = now();
    uint64_t ops = 0;

    for (int i = 0; i < w->qd; i++) {
        st[i] = (Stream){.bs = bs, .w = w, .id = i,
                         .deadline = start + seconds};
        th[i] = g_thread_new("bench", stream_run, &st[i]);
    }
    for (int i = 0; i < w->qd; i++) {
        g_thread_join(th[i]);
        ops += st[i].ops;
        if (st[i].errors) {
            fprintf(stderr, "%s: %d errors\n", w->name, st[i].errors);
        }
    }
    bdrv_flush(bs, NULL);
    return ops / (now() - start);
}

static BlockDriverState *open_node(const char *fmt, const char *path)
{
    g_autofree char *json = g_strdup_printf(
        "{\"driver\": \"%s\", \"cache\": {\"direct\": %s}, "
        "\"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
        fmt, direct ? "true" : "false", path);
    g_autoptr(JsonNode) opts = json_from_string(json, NULL);
    GError *err = NULL;
    BlockDriverState *bs = bdrv_open_options(json_node_get_object(opts), &err);

    if (!bs) {
        fprintf(stderr, "io-bench: %s\n", err->message);
        exit(1);
    }
    return bs;
}

/* ---- io_uring on the file, one thread ---- */

static double run_uring(const char *path, const Workload *w)
{
    struct io_uring ring;
    uint8_t *bufs[64];
    uint64_t rnd = 0x9e3779b97f4a7c15ULL, ops = 0;
    int64_t seq = 0;
    double start, deadline;
    int fd = open(path, O_RDWR | O_CLOEXEC | (direct ? O_DIRECT : 0));
    int inflight = 0, ret;

    if (fd < 0 || io_uring_queue_init(64, &ring, 0) < 0) {
        perror("io-bench: io_uring");
        exit(1);
    }
    for (int i = 0; i < w->qd; i++) {
        bufs[i] = g_aligned_alloc(1, w->size, 4096);
        memset(bufs[i], 0x5a, w->size);
    }
    start = now();
    deadline = start + seconds;
    for (;;) {
        bool more = now() < deadline;
        struct io_uring_cqe *cqe;

        while (more && inflight < w->qd) {
            struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
            int slot = inflight; /* buffers are interchangeable */
            int64_t off = next_offset(w, &rnd, &seq);

            if (w->write) {
                io_uring_prep_write(sqe, fd, bufs[slot], w->size, off);
            } else {
                io_uring_prep_read(sqe, fd, bufs[slot], w->size, off);
            }
            inflight++;
        }
        if (!inflight) {
            break;
        }
        io_uring_submit(&ring);
        ret = io_uring_wait_cqe(&ring, &cqe);
        if (ret < 0 || cqe->res < 0) {
            fprintf(stderr, "io-bench: %s\n", strerror(ret < 0 ? -ret
                                                               : -cqe->res));
            exit(1);
        }
        io_uring_cqe_seen(&ring, cqe);
        inflight--;
        ops++;
    }
    fdatasync(fd);
    io_uring_queue_exit(&ring);
    for (int i = 0; i < w->qd; i++) {
        g_aligned_free(bufs[i]);
    }
    close(fd);
    return ops / (now() - start);
}

static void row(const char *target, const Workload *w, double iops)
{
    printf("| %-18s | %-19s | %10.0f | %9.1f |\n", w->name, target, iops,
           iops * w->size / MiB);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    BlockDriverState *raw, *qcow2;
    int opt;

    while ((opt = getopt(argc, argv, "t:d")) != -1) {
        if (opt == 't') {
            seconds = atof(optarg);
        } else if (opt == 'd') {
            direct = true;
        } else {
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "usage: io-bench [-t SECONDS] [-d] RAW QCOW2\n");
        return 2;
    }
    raw = open_node("raw", argv[optind]);
    qcow2 = open_node("qcow2", argv[optind + 1]);
    printf("cache: %s, %.1f s per row\n\n", direct ? "direct" : "writeback",
           seconds);
    printf("| %-18s | %-19s | %10s | %9s |\n", "workload", "target", "IOPS",
           "MiB/s");
    printf("|--------------------|---------------------|------------|"
           "-----------|\n");
    for (size_t i = 0; i < G_N_ELEMENTS(workloads); i++) {
        const Workload *w = &workloads[i];

        row("raw: bdrv threads", w, run_bdrv(raw, w));
        row("raw: io_uring", w, run_uring(argv[optind], w));
        row("qcow2: bdrv threads", w, run_bdrv(qcow2, w));
    }
    bdrv_unref(qcow2);
    bdrv_unref(raw);
    return 0;
}
