/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * --sandbox on: after sandbox_enter() no path can be opened while fd-based
 * work goes on.  Every scenario runs in a child of its own, forked here, so
 * the test runner stays unsandboxed; the child reports a failure through a
 * pipe and leaves with _exit() (LeakSanitizer could not read /proc).
 */
#include <check.h>
#include <glib/gstdio.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qemu/fdset.h"
#include "qemu/osdep.h"
#include "qemu/sandbox.h"

#define CONTENT "fdsetd sandbox test\n"

/*
 * Mode of a child: sandbox_enter(), sandbox_enter_layers(mode), or nothing
 * (the scenario enters itself).
 */
#define ENTER_FULL 0
#define ENTER_NONE 0x100

static char *tmp_dir;
static char *existing_path;   /* a file with CONTENT, made before the fork */
static int report_fd = -1;    /* child: write end of the report pipe */

/* ---- child side ---------------------------------------------------- */

static void G_GNUC_PRINTF(3, 4) G_GNUC_NORETURN
child_fail(const char *file, int line, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    int n = snprintf(buf, sizeof(buf), "%s:%d: ", file, line);

    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
    va_end(ap);
    if (write(report_fd, buf, strlen(buf)) < 0) {
        /* nothing to do: the exit status still tells */
    }
    _exit(1);
}

#define CHILD_CHECK(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            child_fail(__FILE__, __LINE__, __VA_ARGS__);                       \
        }                                                                      \
    } while (0)

/* A syscall result that must be a denial: -1 with EACCES or EPERM. */
#define CHILD_DENIED(expr)                                                     \
    do {                                                                       \
        errno = 0;                                                             \
        long rc_ = (long)(expr);                                               \
        CHILD_CHECK(rc_ == -1 && (errno == EACCES || errno == EPERM),          \
                    "%s: expected EACCES/EPERM, got %ld (%s)", #expr, rc_,    \
                    strerror(errno));                                          \
    } while (0)

#define CHILD_OK(expr)                                                         \
    do {                                                                       \
        errno = 0;                                                             \
        long rc_ = (long)(expr);                                               \
        CHILD_CHECK(rc_ >= 0, "%s failed: %s", #expr, strerror(errno));        \
    } while (0)

static void child_enter(unsigned mode)
{
    GError *err = NULL;
    bool ok;

    if (mode == ENTER_NONE) {
        return;
    }
    ok = mode == ENTER_FULL ? sandbox_enter(&err)
                                 : sandbox_enter_layers(mode, &err);

    CHILD_CHECK(ok, "sandbox: %s", err ? err->message : "(no error)");
}

/* ---- parent side --------------------------------------------------- */

typedef void (*ChildFn)(void *opaque);

/*
 * Run @before (may be NULL), enter the sandbox per @mode and run @fn, in a
 * child; fail the test with what the child said.
 */
static void run_sandboxed_after(unsigned mode, ChildFn before, ChildFn fn,
                                void *opaque)
{
    char buf[1024] = "";
    size_t got = 0;
    ssize_t n;
    int pfd[2];
    int status;
    pid_t pid;

    ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(pfd[0]);
        report_fd = pfd[1];
        if (before) {
            before(opaque);
        }
        child_enter(mode);
        fn(opaque);
        _exit(0);
    }
    close(pfd[1]);
    while ((n = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
        got += n;
    }
    close(pfd[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "sandboxed child %s %d: %s",
                  WIFEXITED(status) ? "exited with" : "killed by signal",
                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                  got ? buf : "(no message)");
}

static void run_sandboxed(unsigned mode, ChildFn fn, void *opaque)
{
    run_sandboxed_after(mode, NULL, fn, opaque);
}

static char *tmp_path(const char *name)
{
    return g_build_filename(tmp_dir, name, NULL);
}

static void setup(void)
{
    GError *err = NULL;

    tmp_dir = g_dir_make_tmp("test-sandbox-XXXXXX", &err);
    ck_assert_msg(tmp_dir, "%s", err ? err->message : "");
    existing_path = tmp_path("existing");
    ck_assert(g_file_set_contents(existing_path, CONTENT, -1, NULL));
}

static void teardown(void)
{
    g_autoptr(GDir) dir = g_dir_open(tmp_dir, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *p = tmp_path(name);
        g_remove(p);
    }
    g_rmdir(tmp_dir);
    g_clear_pointer(&existing_path, g_free);
    g_clear_pointer(&tmp_dir, g_free);
}

/* ---- scenarios ----------------------------------------------------- */

static void child_open_existing(void *opaque)
{
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };

    CHILD_DENIED(open(existing_path, O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(open(existing_path, O_RDWR | O_CLOEXEC));
    CHILD_DENIED(openat(AT_FDCWD, existing_path, O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(syscall(SYS_openat2, AT_FDCWD, existing_path, &how,
                         sizeof(how)));
    CHILD_DENIED(creat(existing_path, 0600));
    CHILD_DENIED(open("/etc/hostname", O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(open("/dev/null", O_WRONLY | O_CLOEXEC));
    CHILD_DENIED(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(open(tmp_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

START_TEST(test_open_existing_denied)
{
    g_autofree char *text = NULL;

    run_sandboxed(ENTER_FULL, child_open_existing, NULL);
    /* creat() would have truncated it */
    ck_assert(g_file_get_contents(existing_path, &text, NULL, NULL));
    ck_assert_str_eq(text, CONTENT);
}
END_TEST

static void child_make_names(void *opaque)
{
    g_autofree char *fresh = tmp_path("fresh");
    g_autofree char *dir = tmp_path("dir");
    g_autofree char *sym = tmp_path("sym");
    g_autofree char *hard = tmp_path("hard");
    g_autofree char *moved = tmp_path("moved");

    CHILD_DENIED(open(fresh, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    CHILD_DENIED(openat(AT_FDCWD, fresh, O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    CHILD_DENIED(creat(fresh, 0600));
    CHILD_DENIED(mkdir(dir, 0700));
    CHILD_DENIED(mknod(fresh, S_IFIFO | 0600, 0));
    CHILD_DENIED(symlink(existing_path, sym));
    CHILD_DENIED(link(existing_path, hard));
    CHILD_DENIED(rename(existing_path, moved));
    CHILD_DENIED(unlink(existing_path));
    CHILD_DENIED(truncate(existing_path, 0));
    CHILD_DENIED(chmod(existing_path, 0777));
}

START_TEST(test_new_names_denied)
{
    g_autofree char *fresh = tmp_path("fresh");
    g_autofree char *dir = tmp_path("dir");
    g_autofree char *text = NULL;
    struct stat st;

    run_sandboxed(ENTER_FULL, child_make_names, NULL);
    ck_assert(!g_file_test(fresh, G_FILE_TEST_EXISTS));
    ck_assert(!g_file_test(dir, G_FILE_TEST_EXISTS));
    ck_assert(g_file_get_contents(existing_path, &text, NULL, NULL));
    ck_assert_str_eq(text, CONTENT);
    ck_assert_int_eq(stat(existing_path, &st), 0);
    ck_assert_int_ne(st.st_mode & 0777, 0777);
}
END_TEST

static void child_exec(void *opaque)
{
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"exit 77", NULL };
    char *envp[] = { NULL };

    /* if exec went through, the parent sees exit status 77 */
    CHILD_DENIED(execve(argv[0], argv, envp));
    CHILD_DENIED(syscall(SYS_execveat, AT_FDCWD, argv[0], argv, envp, 0));
}

START_TEST(test_exec_denied)
{
    run_sandboxed(ENTER_FULL, child_exec, NULL);
}
END_TEST

/* fds opened before sandbox_enter() keep all their powers. */
static void child_fd_work(void *opaque)
{
    int fd = GPOINTER_TO_INT(opaque);
    char buf[64] = "";
    struct stat st;
    int dupfd;
    int dupfd2;
    int flags;

    CHILD_CHECK(pread(fd, buf, sizeof(buf) - 1, 0) == strlen(CONTENT) &&
                    strcmp(buf, CONTENT) == 0,
                "pread of the old fd: '%s'", buf);
    CHILD_CHECK(pwrite(fd, "FDSETD", 6, 0) == 6, "pwrite: %s",
                strerror(errno));
    dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    CHILD_CHECK(dupfd > 2, "F_DUPFD_CLOEXEC: %s", strerror(errno));
    flags = fcntl(dupfd, F_GETFD);
    CHILD_CHECK(flags & FD_CLOEXEC, "dup lacks FD_CLOEXEC");
    CHILD_CHECK((fcntl(dupfd, F_GETFL) & O_ACCMODE) == O_RDWR, "F_GETFL");
    dupfd2 = dup(dupfd);
    CHILD_CHECK(dupfd2 >= 0, "dup: %s", strerror(errno));
    memset(buf, 0, sizeof(buf));
    CHILD_CHECK(pread(dupfd2, buf, 6, 0) == 6 &&
                    memcmp(buf, "FDSETD", 6) == 0,
                "pread through the dup: '%s'", buf);
    CHILD_OK(fsync(dupfd));
    CHILD_OK(fdatasync(dupfd2));
    CHILD_OK(ftruncate(dupfd, 4096));
    CHILD_OK(fstat(fd, &st));
    CHILD_CHECK(st.st_size == 4096, "size after ftruncate: %lld",
                (long long)st.st_size);
    CHILD_OK(close(dupfd));
    CHILD_OK(close(dupfd2));
}

START_TEST(test_old_fd_works)
{
    int fd = open(existing_path, O_RDWR | O_CLOEXEC);
    g_autofree char *text = NULL;
    gsize len;

    ck_assert_int_ge(fd, 0);
    run_sandboxed(ENTER_FULL, child_fd_work, GINT_TO_POINTER(fd));
    close(fd);
    ck_assert(g_file_get_contents(existing_path, &text, &len, NULL));
    ck_assert_uint_eq(len, 4096);
    ck_assert(memcmp(text, "FDSETD", 6) == 0);
}
END_TEST

static bool send_fd(int sock, int fd)
{
    char byte = 'F';
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
    };
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);

    memset(u.buf, 0, sizeof(u.buf));
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
    return sendmsg(sock, &msg, 0) == 1;
}

/* The fd that came with one byte on @sock, or -1. */
static int recv_fd(int sock)
{
    char byte;
    struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = u.buf, .msg_controllen = sizeof(u.buf),
    };
    struct cmsghdr *cmsg;
    int fd;

    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) {
        return -1;
    }
    cmsg = CMSG_FIRSTHDR(&msg);
    if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS ||
        cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
        return -1;
    }
    memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    return fd;
}

/* The manager (parent) passes a freshly opened fd to the sandboxed child. */
static void child_scm_rights(void *opaque)
{
    int manager_sock = GPOINTER_TO_INT(opaque);
    int sp[2];
    int fd;
    int fd2;
    char buf[64] = "";

    fd = recv_fd(manager_sock);
    CHILD_CHECK(fd >= 0, "recvmsg from the manager: %s", strerror(errno));
    CHILD_CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC, "received fd not CLOEXEC");
    CHILD_CHECK(pread(fd, buf, sizeof(buf) - 1, 0) == strlen(CONTENT) &&
                    strcmp(buf, CONTENT) == 0,
                "read of the received fd: '%s'", buf);
    CHILD_CHECK(pwrite(fd, "passed", 6, 0) == 6, "pwrite: %s",
                strerror(errno));
    CHILD_OK(ftruncate(fd, 100));

    /* and a socketpair made inside the sandbox carries fds as well */
    CHILD_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
    CHILD_CHECK(send_fd(sp[0], fd), "sendmsg: %s", strerror(errno));
    fd2 = recv_fd(sp[1]);
    CHILD_CHECK(fd2 >= 0 && fd2 != fd, "recvmsg: %s", strerror(errno));
    memset(buf, 0, sizeof(buf));
    CHILD_CHECK(pread(fd2, buf, 6, 0) == 6 && memcmp(buf, "passed", 6) == 0,
                "read of the re-passed fd: '%s'", buf);
}

START_TEST(test_scm_rights_works)
{
    int sp[2];
    int fd;
    struct stat st;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    /* queued now, received by the child once it is sandboxed */
    fd = open(existing_path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert(send_fd(sp[0], fd));
    close(fd);
    run_sandboxed(ENTER_FULL, child_scm_rights, GINT_TO_POINTER(sp[1]));
    close(sp[0]);
    close(sp[1]);
    ck_assert_int_eq(stat(existing_path, &st), 0);
    ck_assert_int_eq(st.st_size, 100);
}
END_TEST

typedef struct AcceptCase {
    int listen_fd;
    char *listen_path;
} AcceptCase;

/* A connection queued on a listener bound before start-up is accepted. */
static void child_accept(void *opaque)
{
    AcceptCase *ac = opaque;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int sp[2];
    int conn;
    int fd;
    char buf[64] = "";

    conn = accept4(ac->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    CHILD_CHECK(conn >= 0, "accept4: %s", strerror(errno));
    CHILD_CHECK(read(conn, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0,
                "read from the client: '%s'", buf);
    fd = recv_fd(conn);
    CHILD_CHECK(fd >= 0, "recvmsg on the accepted socket: %s",
                strerror(errno));
    memset(buf, 0, sizeof(buf));
    CHILD_CHECK(read(fd, buf, sizeof(buf) - 1) == strlen(CONTENT),
                "read of the received fd: %s", strerror(errno));
    CHILD_CHECK(write(conn, "bye", 3) == 3, "reply: %s", strerror(errno));

    /* no new sockets, no new addresses */
    g_strlcpy(sun.sun_path, ac->listen_path, sizeof(sun.sun_path));
    CHILD_DENIED(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    CHILD_DENIED(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    CHILD_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
    CHILD_DENIED(connect(sp[0], (struct sockaddr *)&sun, sizeof(sun)));
    CHILD_DENIED(bind(sp[0], (struct sockaddr *)&sun, sizeof(sun)));
    CHILD_DENIED(sendto(sp[0], "x", 1, 0, (struct sockaddr *)&sun,
                        sizeof(sun)));
    CHILD_CHECK(send(sp[0], "x", 1, 0) == 1, "send: %s", strerror(errno));
    CHILD_DENIED(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp));
    CHILD_DENIED(socketpair(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0, sp));
    CHILD_OK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp));
}

START_TEST(test_accept_on_bound_listener)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    AcceptCase ac = { .listen_path = tmp_path("qmp.sock") };
    char buf[4] = "";
    int client;
    int fd;

    g_strlcpy(sun.sun_path, ac.listen_path, sizeof(sun.sun_path));
    ac.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(ac.listen_fd, 0);
    ck_assert_int_eq(bind(ac.listen_fd, (struct sockaddr *)&sun, sizeof(sun)),
                     0);
    ck_assert_int_eq(listen(ac.listen_fd, 4), 0);
    client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_eq(connect(client, (struct sockaddr *)&sun, sizeof(sun)),
                     0);
    ck_assert_int_eq(write(client, "hello", 5), 5);
    fd = open(existing_path, O_RDONLY | O_CLOEXEC);
    ck_assert(send_fd(client, fd));
    close(fd);

    run_sandboxed(ENTER_FULL, child_accept, &ac);
    ck_assert_int_eq(read(client, buf, 3), 3);
    ck_assert_str_eq(buf, "bye");
    close(client);
    close(ac.listen_fd);
    g_free(ac.listen_path);
}
END_TEST

static gboolean quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static gpointer double_it(gpointer data)
{
    return GINT_TO_POINTER(GPOINTER_TO_INT(data) * 2);
}

/* From another thread: wake the main loop up and make it quit. */
static gpointer quit_from_thread(gpointer loop)
{
    g_idle_add(quit_loop, loop);
    return NULL;
}

static void pool_work(gpointer data, gpointer counter)
{
    g_atomic_int_inc((gint *)counter);
}

static void child_glib(void *opaque)
{
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    gint64 t0 = g_get_monotonic_time();
    GThreadPool *pool;
    GThread *t;
    GDateTime *now;
    gint counter = 0;
    int i;

    g_timeout_add(20, quit_loop, loop);
    g_main_loop_run(loop);
    CHILD_CHECK(g_get_monotonic_time() - t0 >= 15000,
                "timeout fired after %" G_GINT64_FORMAT " us",
                g_get_monotonic_time() - t0);

    t = g_thread_new("sandboxed", double_it, GINT_TO_POINTER(21));
    CHILD_CHECK(GPOINTER_TO_INT(g_thread_join(t)) == 42, "GThread result");

    t = g_thread_new("waker", quit_from_thread, loop);
    g_main_loop_run(loop);
    g_thread_join(t);

    pool = g_thread_pool_new(pool_work, &counter, 4, FALSE, NULL);
    CHILD_CHECK(pool, "GThreadPool");
    for (i = 0; i < 100; i++) {
        g_thread_pool_push(pool, GINT_TO_POINTER(i + 1), NULL);
    }
    g_thread_pool_free(pool, FALSE, TRUE);
    CHILD_CHECK(g_atomic_int_get(&counter) == 100, "pool ran %d", counter);

    CHILD_CHECK(g_get_real_time() > 1500000000LL * G_USEC_PER_SEC,
                "g_get_real_time");
    now = g_date_time_new_now_local();
    CHILD_CHECK(now, "g_date_time_new_now_local");
    g_date_time_unref(now);
    g_main_loop_unref(loop);
}

START_TEST(test_glib_main_loop_and_threads)
{
    run_sandboxed(ENTER_FULL, child_glib, NULL);
}
END_TEST

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
}

static void child_basics(void *opaque)
{
    struct sigaction sa = { .sa_handler = on_signal };
    struct epoll_event ev = { .events = EPOLLIN };
    struct timespec ts;
    uint64_t val = 1;
    char rnd[16];
    int pfd[2];
    int efd;
    int ep;
    void *mem;

    CHILD_CHECK(getrandom(rnd, sizeof(rnd), 0) == sizeof(rnd), "getrandom");
    CHILD_OK(clock_gettime(CLOCK_REALTIME, &ts));
    CHILD_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
    CHILD_OK(pipe2(pfd, O_CLOEXEC));
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    CHILD_OK(efd);
    ep = epoll_create1(EPOLL_CLOEXEC);
    CHILD_OK(ep);
    CHILD_OK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev));
    CHILD_CHECK(write(efd, &val, sizeof(val)) == sizeof(val), "eventfd");
    CHILD_CHECK(epoll_wait(ep, &ev, 1, 1000) == 1, "epoll_wait");

    mem = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHILD_CHECK(mem != MAP_FAILED, "mmap: %s", strerror(errno));
    memset(mem, 0xaa, 1 << 20);
    CHILD_OK(mprotect(mem, 4096, PROT_READ));
    CHILD_OK(madvise(mem, 1 << 20, MADV_DONTNEED));
    CHILD_OK(munmap(mem, 1 << 20));
    g_free(g_malloc0(64 << 20));

    CHILD_OK(sigaction(SIGUSR1, &sa, NULL));
    CHILD_OK(kill(getpid(), SIGUSR1));
    CHILD_CHECK(got_signal == SIGUSR1, "SIGUSR1 not delivered");
}

START_TEST(test_basics_work)
{
    run_sandboxed(ENTER_FULL, child_basics, NULL);
}
END_TEST

static GAsyncQueue *thread_queue;

/* Waits for a path, tries to open it, reports errno (0 if it opened). */
static gpointer open_when_told(gpointer data)
{
    char *path = g_async_queue_pop(thread_queue);
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    return GINT_TO_POINTER(fd < 0 ? errno : 0);
}

static GThread *older_thread;

static void start_older_thread(void *opaque)
{
    thread_queue = g_async_queue_new();
    older_thread = g_thread_new("older", open_when_told, NULL);
}

/* seccomp binds threads that ran before sandbox_enter() as well. */
static void child_older_thread(void *opaque)
{
    int err;

    g_async_queue_push(thread_queue, existing_path);
    err = GPOINTER_TO_INT(g_thread_join(older_thread));
    CHILD_CHECK(err == EACCES || err == EPERM,
                "older thread's open: %s", err ? strerror(err) : "opened");
    if (sandbox_active_layers() & SANDBOX_LAYER_LANDLOCK) {
        CHILD_CHECK(strstr(sandbox_describe(), "older thread"),
                    "describe: %s", sandbox_describe());
    }
}

START_TEST(test_older_thread_confined)
{
    run_sandboxed_after(ENTER_FULL, start_older_thread, child_older_thread,
                        NULL);
}
END_TEST

static void child_landlock_only(void *opaque)
{
    int fd = GPOINTER_TO_INT(opaque);
    int abi = sandbox_landlock_abi();
    g_autofree char *fresh = tmp_path("fresh");
    g_autofree char *dir = tmp_path("dir");
    g_autofree char *expect = g_strdup_printf("landlock ABI %d", abi);
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"exit 77", NULL };
    struct sockaddr_in sin = { .sin_family = AF_INET };
    char buf[8];
    int s;

    CHILD_CHECK(sandbox_active_layers() == SANDBOX_LAYER_LANDLOCK,
                "layers %u", sandbox_active_layers());
    CHILD_CHECK(strcmp(sandbox_describe(), expect) == 0, "describe: %s",
                sandbox_describe());
    CHILD_DENIED(open(existing_path, O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(open("/proc/self/status", O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(open(fresh, O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    CHILD_DENIED(mkdir(dir, 0700));
    CHILD_DENIED(unlink(existing_path));
    CHILD_DENIED(execve(argv[0], argv, NULL));
    if (abi >= 3) {
        CHILD_DENIED(truncate(existing_path, 0));
    }
    if (abi >= 4) {
        s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        CHILD_CHECK(s >= 0, "socket: %s", strerror(errno));
        CHILD_DENIED(bind(s, (struct sockaddr *)&sin, sizeof(sin)));
    }
    /* the fd from before keeps its rights, truncate included */
    CHILD_CHECK(pread(fd, buf, 6, 0) == 6, "pread: %s", strerror(errno));
    CHILD_OK(ftruncate(fd, 10));
}

START_TEST(test_landlock_layer)
{
    int fd;
    struct stat st;

    if (!sandbox_landlock_abi()) {
        fprintf(stderr, "test-sandbox: Landlock unavailable in this kernel, "
                "only the seccomp layer is checked\n");
        return;
    }
    fd = open(existing_path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    run_sandboxed(SANDBOX_LAYER_LANDLOCK, child_landlock_only,
                  GINT_TO_POINTER(fd));
    close(fd);
    ck_assert_int_eq(stat(existing_path, &st), 0);
    ck_assert_int_eq(st.st_size, 10);
}
END_TEST

static void child_seccomp_only(void *opaque)
{
    int fd = GPOINTER_TO_INT(opaque);
    struct open_how how = { .flags = O_RDONLY | O_CLOEXEC };
    char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)"exit 77", NULL };
    struct stat st;

    CHILD_CHECK(sandbox_active_layers() == SANDBOX_LAYER_SECCOMP,
                "layers %u", sandbox_active_layers());
    CHILD_CHECK(strcmp(sandbox_describe(), "seccomp") == 0, "describe: %s",
                sandbox_describe());
    /* seccomp's EACCES, not Landlock's */
    CHILD_DENIED(open(existing_path, O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(openat(AT_FDCWD, existing_path, O_RDONLY | O_CLOEXEC));
    CHILD_DENIED(syscall(SYS_openat2, AT_FDCWD, existing_path, &how,
                         sizeof(how)));
    CHILD_DENIED(creat(existing_path, 0600));
    CHILD_DENIED(execve(argv[0], argv, NULL));
    /* beyond Landlock's reach: by-path metadata changes, io_uring, mount */
    CHILD_DENIED(chmod(existing_path, 0777));
    CHILD_DENIED(chown(existing_path, getuid(), getgid()));
#if defined(__x86_64__) || defined(__aarch64__)
    /* fchmodat2 (Linux 6.6) is newer than some libseccomp: by number */
    CHILD_DENIED(syscall(452, AT_FDCWD, existing_path, 0777, 0));
#endif
    CHILD_DENIED(utimensat(AT_FDCWD, existing_path, NULL, 0));
    CHILD_DENIED(syscall(SYS_io_uring_setup, 4, NULL));
    CHILD_DENIED(mount("none", "/tmp", "tmpfs", 0, NULL));
    CHILD_DENIED(ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    /* while the fd-based forms stay */
    CHILD_OK(fchmod(fd, 0640));
    CHILD_OK(futimens(fd, NULL));
    CHILD_OK(fstat(fd, &st));
    CHILD_CHECK((st.st_mode & 0777) == 0640, "mode %o", st.st_mode & 0777);
}

START_TEST(test_seccomp_layer)
{
    int fd = open(existing_path, O_RDWR | O_CLOEXEC);
    struct stat st;

    ck_assert_int_ge(fd, 0);
    run_sandboxed(SANDBOX_LAYER_SECCOMP, child_seccomp_only,
                  GINT_TO_POINTER(fd));
    close(fd);
    ck_assert_int_eq(stat(existing_path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
}
END_TEST

/*
 * The daemon's own path: an fd that arrives over the socket goes into an
 * fdset and /dev/fdset/N is served from it, while a real path is refused
 * with a message that says why.
 */
static void child_qemu_open(void *opaque)
{
    int manager_sock = GPOINTER_TO_INT(opaque);
    g_autofree char *fresh = tmp_path("fresh");
    GError *err = NULL;
    int64_t id = -1;
    char buf[64] = "";
    int fd;

    fdset_init();
    fd = recv_fd(manager_sock);
    CHILD_CHECK(fd >= 0, "recvmsg: %s", strerror(errno));
    /* ownership of fd moves to the registry */
    CHILD_CHECK(fdset_add_fd(true, 3, fd, NULL, FDSET_OWNER_PROCESS, &id,
                             &err),
                "fdset_add_fd: %s", err ? err->message : "");
    fd = qemu_open("/dev/fdset/3", O_RDWR, &err);
    CHILD_CHECK(fd >= 0, "qemu_open(/dev/fdset/3): %s",
                err ? err->message : "");
    CHILD_CHECK(pread(fd, buf, sizeof(buf) - 1, 0) == strlen(CONTENT),
                "pread of the dup: %s", strerror(errno));
    CHILD_OK(qemu_close(fd));

    fd = qemu_open("/etc/hostname", O_RDONLY, &err);
    CHILD_CHECK(fd == -1 && errno == EACCES, "qemu_open(/etc/hostname): "
                "%d (%s)", fd, strerror(errno));
    CHILD_CHECK(err && strcmp(err->message, "Could not open "
                              "'/etc/hostname': Permission denied") == 0,
                "message: %s", err ? err->message : "(none)");
    g_clear_error(&err);
    fd = qemu_create(fresh, O_WRONLY, 0600, &err);
    CHILD_CHECK(fd == -1 && err && g_str_has_suffix(err->message,
                                                    ": Permission denied"),
                "qemu_create: %s", err ? err->message : "(opened)");
    g_clear_error(&err);
    fdset_shutdown();
}

START_TEST(test_qemu_open_fdset_only)
{
    int sp[2];
    int fd;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp),
                     0);
    fd = open(existing_path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert(send_fd(sp[0], fd));
    close(fd);
    run_sandboxed(ENTER_FULL, child_qemu_open, GINT_TO_POINTER(sp[1]));
    close(sp[0]);
    close(sp[1]);
}
END_TEST

static void child_describe(void *opaque)
{
    int abi = sandbox_landlock_abi();
    g_autofree char *expect = abi
        ? g_strdup_printf("landlock ABI %d + seccomp", abi)
        : g_strdup("seccomp (landlock unavailable)");
    unsigned layers = SANDBOX_LAYER_SECCOMP |
                      (abi ? SANDBOX_LAYER_LANDLOCK : 0);
    GError *err = NULL;

    CHILD_CHECK(strcmp(sandbox_describe(), "none") == 0, "before: %s",
                sandbox_describe());
    CHILD_CHECK(sandbox_active_layers() == 0, "layers before");
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0,
                "no_new_privs already set before");
    CHILD_CHECK(sandbox_enter(&err), "sandbox_enter: %s",
                err ? err->message : "");
    CHILD_CHECK(strcmp(sandbox_describe(), expect) == 0, "'%s' != '%s'",
                sandbox_describe(), expect);
    CHILD_CHECK(sandbox_active_layers() == layers, "layers %u",
                sandbox_active_layers());
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1,
                "no_new_privs not set");
    CHILD_CHECK(!sandbox_enter(&err) && err &&
                    strstr(err->message, "already"),
                "second sandbox_enter: %s", err ? err->message : "ok");
    g_clear_error(&err);
    CHILD_CHECK(!sandbox_enter_layers(0, &err) && err, "no layers");
    g_clear_error(&err);
}

START_TEST(test_describe)
{
    run_sandboxed(ENTER_NONE, child_describe, NULL);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("sandbox");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, test_open_existing_denied);
    tcase_add_test(tc, test_new_names_denied);
    tcase_add_test(tc, test_exec_denied);
    tcase_add_test(tc, test_old_fd_works);
    tcase_add_test(tc, test_scm_rights_works);
    tcase_add_test(tc, test_accept_on_bound_listener);
    tcase_add_test(tc, test_glib_main_loop_and_threads);
    tcase_add_test(tc, test_basics_work);
    tcase_add_test(tc, test_older_thread_confined);
    tcase_add_test(tc, test_landlock_layer);
    tcase_add_test(tc, test_seccomp_layer);
    tcase_add_test(tc, test_qemu_open_fdset_only);
    tcase_add_test(tc, test_describe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sandbox_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
