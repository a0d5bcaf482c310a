/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * floor: the least a QMP-shaped server can do, as a baseline for bench.py.
 *
 * Listens on a unix stream socket, sends a QEMU-like greeting to every
 * client, and answers each request line with a fixed reply.  Like a real
 * QMP server it receives with recvmsg(MSG_CMSG_CLOEXEC) and takes ownership
 * of every fd that comes with a request -- here by closing it at once.
 * epoll, non-blocking sockets, any number of clients at once.
 *
 *   floor -s PATH [-m SUBSTRING -r FILE]
 *
 * Requests whose line contains SUBSTRING get the contents of FILE as their
 * reply (one line; a newline is added when missing), so a large reply (e.g.
 * query-fdsets over 10,000 sets) costs the floor the same bytes as the
 * server it is compared with.  Every other request gets {"return": {}}.
 *
 * Deliberately plain libc (no GLib, unlike the rest of the tree): it is the
 * floor for start-up time as well, so it links nothing it does not need.
 * SIGTERM/SIGINT end it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FDS_PER_MSG 253
#define READ_CHUNK 65536

static const char greeting[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, "
    "\"major\": 7}, \"package\": \"floor\"}, \"capabilities\": [\"oob\"]}}"
    "\r\n";
static const char default_reply[] = "{\"return\": {}}\r\n";

typedef struct Conn {
    int fd;
    char *in;           /* bytes received, not yet a complete line */
    size_t in_len, in_cap;
    char *out;          /* reply bytes the socket did not take yet */
    size_t out_off, out_len, out_cap;
    bool want_out;      /* EPOLLOUT registered */
} Conn;

static const char *match;       /* -m */
static char *big_reply;         /* -r contents */
static size_t big_reply_len;
static int epfd = -1;

static void die(const char *what)
{
    fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);

    if (!q) {
        fprintf(stderr, "floor: out of memory\n");
        exit(1);
    }
    return q;
}

static void load_reply(const char *path)
{
    FILE *f = fopen(path, "rb");
    long n;

    if (!f || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
        die(path);
    }
    rewind(f);
    big_reply = xrealloc(NULL, n + 2);
    if (fread(big_reply, 1, n, f) != (size_t)n) {
        die(path);
    }
    fclose(f);
    while (n > 0 && (big_reply[n - 1] == '\n' || big_reply[n - 1] == '\r')) {
        n--;
    }
    big_reply[n++] = '\r';
    big_reply[n++] = '\n';
    big_reply_len = n;
}

static void conn_free(Conn *c)
{
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c);
}

static void set_want_out(Conn *c, bool want)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

    if (want == c->want_out) {
        return;
    }
    if (want) {
        ev.events |= EPOLLOUT;
    }
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

/* Flush what is queued; false when the peer is gone. */
static bool conn_flush(Conn *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_want_out(c, true);
                return true;
            }
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        c->out_off += n;
    }
    c->out_off = c->out_len = 0;
    set_want_out(c, false);
    return true;
}

/* Send @len bytes of @buf: straight to the socket when nothing is queued,
 * and queue whatever it does not take. */
static bool conn_send(Conn *c, const char *buf, size_t len)
{
    if (c->out_len == 0) {
        ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
            errno != EINTR) {
            return false;
        }
        if (n > 0) {
            buf += n;
            len -= n;
        }
        if (len == 0) {
            return true;
        }
    }
    if (c->out_len + len > c->out_cap) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
    return conn_flush(c);
}

static void close_fds(struct msghdr *msg)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
         cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
            size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int fds[MAX_FDS_PER_MSG];

            memcpy(fds, CMSG_DATA(cm), n * sizeof(int));
            for (size_t i = 0; i < n; i++) {
                close(fds[i]);
            }
        }
    }
}

/* Answer every complete line in the input buffer. */
static bool conn_answer(Conn *c)
{
    size_t start = 0;
    char *nl;

    while ((nl = memchr(c->in + start, '\n', c->in_len - start))) {
        size_t len = nl - (c->in + start);
        const char *line = c->in + start;
        bool blank = true;

        for (size_t i = 0; i < len && blank; i++) {
            blank = line[i] == ' ' || line[i] == '\t' || line[i] == '\r';
        }
        if (!blank) {
            bool big = big_reply && memmem(line, len, match, strlen(match));
            bool ok = big ? conn_send(c, big_reply, big_reply_len)
                          : conn_send(c, default_reply,
                                      sizeof(default_reply) - 1);
            if (!ok) {
                return false;
            }
        }
        start += len + 1;
    }
    memmove(c->in, c->in + start, c->in_len - start);
    c->in_len -= start;
    return true;
}

/* Read what is there; false on EOF or error. */
static bool conn_read(Conn *c)
{
    char cbuf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MSG)];

    for (;;) {
        if (c->in_cap - c->in_len < READ_CHUNK) {
            c->in_cap = c->in_len + READ_CHUNK;
            c->in = xrealloc(c->in, c->in_cap);
        }
        struct iovec iov = { c->in + c->in_len, c->in_cap - c->in_len };
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
        };
        ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == EAGAIN || errno == EWOULDBLOCK;
        }
        close_fds(&msg);
        if (n == 0) {
            return false;
        }
        c->in_len += n;
        if (!conn_answer(c)) {
            return false;
        }
        if ((size_t)n < iov.iov_len && !msg.msg_controllen) {
            return true;    /* drained; epoll tells us about more */
        }
    }
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return;     /* EAGAIN, or out of fds: retried on next wake */
        }
        Conn *c = xrealloc(NULL, sizeof(*c));
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            close(fd);
            free(c);
            continue;
        }
        if (!conn_send(c, greeting, sizeof(greeting) - 1)) {
            conn_free(c);
        }
    }
}

static int listen_on(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "floor: socket path too long\n");
        exit(1);
    }
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        die("socket");
    }
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        die(path);
    }
    if (listen(fd, 4096) < 0) {
        die("listen");
    }
    return fd;
}

static volatile sig_atomic_t quit;

static void on_signal(int sig)
{
    (void)sig;
    quit = 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL, *reply_file = NULL;
    struct epoll_event evs[64];
    int opt, lfd;

    while ((opt = getopt(argc, argv, "s:m:r:")) != -1) {
        switch (opt) {
        case 's': path = optarg; break;
        case 'm': match = optarg; break;
        case 'r': reply_file = optarg; break;
        default:
            fprintf(stderr, "usage: floor -s PATH [-m SUBSTRING -r FILE]\n");
            return 2;
        }
    }
    if (!path || (!match != !reply_file)) {
        fprintf(stderr, "usage: floor -s PATH [-m SUBSTRING -r FILE]\n");
        return 2;
    }
    if (reply_file) {
        load_reply(reply_file);
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        die("epoll_create1");
    }
    lfd = listen_on(path);
    struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &lev) < 0) {
        die("epoll_ctl");
    }
    while (!quit) {
        int n = epoll_wait(epfd, evs, 64, -1);

        for (int i = 0; i < n; i++) {
            Conn *c = evs[i].data.ptr;

            if (!c) {
                accept_all(lfd);
                continue;
            }
            bool ok = true;
            if (evs[i].events & EPOLLOUT) {
                ok = conn_flush(c);
            }
            if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
                ok = conn_read(c);
            }
            if (!ok) {
                conn_free(c);
            }
        }
    }
    unlink(path);
    return 0;
}
