/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Heap cost of the fdset registry: bytes per set with one member, measured
 * with mallinfo2() (in-use arena bytes plus mmapped blocks, malloc's own
 * chunk overhead included), for 10k and 100k sets, with and without an
 * opaque string.
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

static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
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
    printf("%7u sets, opaque %-12s: %6.1f bytes/set, %.2f us/add\n", n,
           opaque ? opaque : "(none)", per_set, us);
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
