/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The main loop sleeps in epoll_wait() on the monitor's epoll set, not in
 * poll() on the epoll fd: a wake-up through a nested epoll loses the
 * kernel's hint to run the daemon where the client's write happened, and
 * every request then pays a cross-CPU wake-up.  GLib's own fds (its wake-up
 * eventfd, signal and job sources) are added to the same set, and what the
 * wait returns for the monitor is kept for the monitor's dispatch.
 */
#include "monitor-internal.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#define GLIB_FD_TAG 2
#define MAX_EVENTS 64

static int loop_epoll_fd = -1;
static GArray *glib_fds;           /* GPollFD registered in the epoll set */
static struct epoll_event stash[MAX_EVENTS];
static int stashed = -1;           /* monitor events waiting for dispatch */

static uint32_t to_epoll(gushort events)
{
    uint32_t e = 0;

    e |= events & G_IO_IN ? EPOLLIN : 0;
    e |= events & G_IO_OUT ? EPOLLOUT : 0;
    e |= events & G_IO_PRI ? EPOLLPRI : 0;
    return e;
}

static gushort from_epoll(uint32_t e)
{
    gushort r = 0;

    r |= e & EPOLLIN ? G_IO_IN : 0;
    r |= e & EPOLLOUT ? G_IO_OUT : 0;
    r |= e & EPOLLPRI ? G_IO_PRI : 0;
    r |= e & EPOLLERR ? G_IO_ERR : 0;
    r |= e & EPOLLHUP ? G_IO_HUP : 0;
    return r;
}

static bool registered(int fd, gushort events)
{
    for (guint i = 0; i < glib_fds->len; i++) {
        GPollFD *g = &g_array_index(glib_fds, GPollFD, i);
        if (g->fd == fd) {
            return g->events == events;
        }
    }
    return false;
}

/* Make the epoll set hold exactly GLib's current fds (usually 1-3). */
static void sync_glib_fds(GPollFD *ufds, guint nfds)
{
    for (guint i = 0; i < glib_fds->len; i++) {
        epoll_ctl(loop_epoll_fd, EPOLL_CTL_DEL,
                  g_array_index(glib_fds, GPollFD, i).fd, NULL);
    }
    g_array_set_size(glib_fds, 0);
    for (guint i = 0; i < nfds; i++) {
        struct epoll_event ev = {
            .events = to_epoll(ufds[i].events),
            .data.u64 = ((uint64_t)ufds[i].fd << 2) | GLIB_FD_TAG,
        };
        if (ufds[i].fd == loop_epoll_fd || ufds[i].fd < 0) {
            continue;
        }
        if (epoll_ctl(loop_epoll_fd, EPOLL_CTL_ADD, ufds[i].fd, &ev) < 0 &&
            errno == EEXIST) {
            epoll_ctl(loop_epoll_fd, EPOLL_CTL_MOD, ufds[i].fd, &ev);
        }
        g_array_append_val(glib_fds, ufds[i]);
    }
}

static bool glib_fds_unchanged(GPollFD *ufds, guint nfds)
{
    guint n = 0;

    for (guint i = 0; i < nfds; i++) {
        if (ufds[i].fd == loop_epoll_fd || ufds[i].fd < 0) {
            continue;
        }
        if (!registered(ufds[i].fd, ufds[i].events)) {
            return false;
        }
        n++;
    }
    return n == glib_fds->len;
}

static void mark(GPollFD *ufds, guint nfds, int fd, gushort revents)
{
    for (guint i = 0; i < nfds; i++) {
        if (ufds[i].fd == fd) {
            ufds[i].revents |= revents & (ufds[i].events | G_IO_ERR |
                                          G_IO_HUP | G_IO_NVAL);
        }
    }
}

static gint monitor_poll(GPollFD *ufds, guint nfds, gint timeout)
{
    struct epoll_event evs[MAX_EVENTS];
    int n, ready = 0;

    if (!glib_fds_unchanged(ufds, nfds)) {
        sync_glib_fds(ufds, nfds);
    }
    n = epoll_wait(loop_epoll_fd, evs, MAX_EVENTS, timeout);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    for (guint i = 0; i < nfds; i++) {
        ufds[i].revents = 0;
    }
    stashed = 0;
    for (int i = 0; i < n; i++) {
        if ((evs[i].data.u64 & 3) == GLIB_FD_TAG) {
            mark(ufds, nfds, evs[i].data.u64 >> 2, from_epoll(evs[i].events));
        } else {
            stash[stashed++] = evs[i];
        }
    }
    if (stashed) {
        mark(ufds, nfds, loop_epoll_fd, G_IO_IN);
    }
    for (guint i = 0; i < nfds; i++) {
        ready += ufds[i].revents != 0;
    }
    return ready;
}

void monitor_mainloop_install(int epoll_fd)
{
    loop_epoll_fd = epoll_fd;
    glib_fds = g_array_new(FALSE, FALSE, sizeof(GPollFD));
    g_main_context_set_poll_func(NULL, monitor_poll);
}

void monitor_mainloop_uninstall(void)
{
    if (glib_fds) {
        g_main_context_set_poll_func(NULL, g_poll);
        g_array_unref(glib_fds);
        glib_fds = NULL;
    }
    loop_epoll_fd = -1;
    stashed = -1;
}

int monitor_mainloop_take_events(struct epoll_event *evs, int max)
{
    int n = stashed;

    if (n < 0) {
        return -1;
    }
    n = MIN(n, max);
    memcpy(evs, stash, n * sizeof(*evs));
    stashed = -1;
    return n;
}
