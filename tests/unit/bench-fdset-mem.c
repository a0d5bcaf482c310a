/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Heap cost of the fdset registry: bytes per set with one member, measured
 * with mallinfo2() (in-use arena bytes plus mmapped blocks, malloc's own
 * chunk overhead included), for 10k and 100k sets, with and without an
 * opaque string; and the time of an open of /dev/fdset/N (dup, track,
 * release, close) for the first and the last id, which must not grow with
 * the number of sets.
 *
 * RLIMIT_NOFILE is usually far below 100k, so the members are one real fd
 * added to every set; the registry does not care, and the bench forgets the
 * sets by exiting instead of closing that fd 100k times.
 */
#include <fcntl.h>
#include <glib.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "qemu/fdset.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* Median time of one qemu_open()-style round on set @id: dup the member,
 * track the dup, then release and close it. */
static double open_us(gint64 id)
{
    enum { ROUNDS = 21, PER_ROUND = 2000 };
    double t[ROUNDS];

    for (int r = 0; r < ROUNDS; r++) {
        gint64 t0 = g_get_monotonic_time();

        for (int i = 0; i < PER_ROUND; i++) {
            int d = fdset_dup_fd(id, O_RDWR, NULL);

            if (d < 0 || !fdset_release_dup(d)) {
                fprintf(stderr, "open of set %" G_GINT64_FORMAT " failed\n",
                        id);
                exit(1);
            }
            close(d);
        }
        t[r] = (double)(g_get_monotonic_time() - t0) / PER_ROUND;
    }
    qsort(t, ROUNDS, sizeof(t[0]), cmp_double);
    return t[ROUNDS / 2];
}

static double measure(int file, guint n, const char *opaque)
{
    FdSetLimits lim;
    size_t before;
    gint64 t0;
    double per_set, us;
    int fd;

    fdset_init(); /* closes the previous round's fd (many times) */
    fd = dup(file);
    fdset_get_limits(&lim);
    lim.max_sets = n + 1;
    lim.max_fds_total = n + 1;
    fdset_set_limits(&lim);
    fdset_add_fd(true, 0, fd, opaque, 1, NULL, NULL); /* warm up */
    before = heap_in_use();
    t0 = g_get_monotonic_time();
    for (guint i = 1; i < n; i++) {
        if (!fdset_add_fd(false, -1, fd, opaque, 1, NULL, NULL)) {
            fprintf(stderr, "add failed at %u\n", i);
            exit(1);
        }
    }
    us = (double)(g_get_monotonic_time() - t0) / (n - 1);
    per_set = (double)(heap_in_use() - before) / (n - 1);
    printf("%7u sets, opaque %-12s: %6.1f bytes/set, %.2f us/add, "
           "open first id %.3f us, last id %.3f us\n",
           n, opaque ? opaque : "(none)", per_set, us, open_us(0),
           open_us(n - 1));
    return per_set;
}

int main(void)
{
    char path[] = "/tmp/bench-fdset-XXXXXX";
    int fd = mkstemp(path);

    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    unlink(path);
    measure(fd, 10000, NULL);
    measure(fd, 100000, NULL);
    measure(fd, 10000, "libvirt-1-0");
    measure(fd, 100000, "libvirt-1-0");
    return 0;
}
