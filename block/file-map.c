/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Writes through a shared mapping of the file (see file-map.h).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <glib.h>

#include "file-map.h"

/* Files bigger than this are not mapped (address space is 128 TiB). */
#define MAX_MAP_LEN (1LL << 40)
#define MAX_PAGES (FILE_MAP_MAX_WRITE / 4096 + 2)

/* ---- a memcpy that survives SIGBUS ---- */

/* Set while this thread copies into a mapping: where SIGBUS jumps to. */
static __thread sigjmp_buf *copy_escape;
static struct sigaction old_sigbus;

static void on_sigbus(int sig, siginfo_t *info, void *uc)
{
    sigjmp_buf *escape = copy_escape;

    if (escape) {
        copy_escape = NULL;
        siglongjmp(*escape, 1);
    }
    /* not a guarded copy: what was there before us */
    if ((old_sigbus.sa_flags & SA_SIGINFO) && old_sigbus.sa_sigaction) {
        old_sigbus.sa_sigaction(sig, info, uc);
        return;
    }
    if (old_sigbus.sa_handler != SIG_DFL && old_sigbus.sa_handler != SIG_IGN) {
        old_sigbus.sa_handler(sig);
        return;
    }
    /* the default action: returning re-runs the faulting access */
    signal(SIGBUS, SIG_DFL);
}

static gpointer install_sigbus(gpointer unused)
{
    struct sigaction sa = {0};

    (void)unused;
    sa.sa_sigaction = on_sigbus;
    /* NODEFER: the jump out leaves SIGBUS unblocked for the next fault */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &old_sigbus);
    return NULL;
}

bool file_map_copy_guarded(void *dst, const void *src, size_t n)
{
    static GOnce once = G_ONCE_INIT;
    sigjmp_buf escape;

    g_once(&once, install_sigbus, NULL);
    if (sigsetjmp(escape, 0)) {
        return false; /* the handler cleared copy_escape */
    }
    copy_escape = &escape;
    /* the compiler must not move the copy out of the armed window */
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    memcpy(dst, src, n);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    copy_escape = NULL;
    return true;
}

/* ---- the map ---- */

void file_map_init(FileMap *m)
{
    pthread_rwlockattr_t attr;

    /* a waiting (un)map makes new copies fail their trylock: it cannot
     * starve behind a stream of writes */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    m->base = NULL;
    m->reserve = 0;
    m->len = 0;
    m->failed = false;
}

static void unmap_locked(FileMap *m)
{
    if (m->base) {
        munmap(m->base, m->reserve);
    }
    m->base = NULL;
    m->reserve = 0;
    m->len = 0;
    m->failed = false;
}

void file_map_drop(FileMap *m)
{
    pthread_rwlock_wrlock(&m->lock);
    unmap_locked(m);
    pthread_rwlock_unlock(&m->lock);
}

void file_map_destroy(FileMap *m)
{
    file_map_drop(m);
    pthread_rwlock_destroy(&m->lock);
}

/* The address space kept for a file of @size: room to grow (qcow2
 * appends clusters), within MAX_MAP_LEN. */
static int64_t reserve_for(int64_t size)
{
    return MIN(MAX(size, 64LL << 20) * 2, MAX_MAP_LEN);
}

/* Map @fd, once; failed stays set when it cannot be done. */
static void map_fd(FileMap *m, int fd)
{
    struct stat st;
    int64_t reserve;
    void *p;

    pthread_rwlock_wrlock(&m->lock);
    if (m->base || m->failed) {
        goto out; /* another thread was first */
    }
    m->failed = true;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
        st.st_size > MAX_MAP_LEN) {
        goto out;
    }
    /* beyond the end nothing is resident, and a store there would SIGBUS:
     * copies are bounded by len, which follows the file as it grows */
    reserve = reserve_for(st.st_size);
    p = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        goto out;
    }
    m->base = p;
    m->reserve = reserve;
    __atomic_store_n(&m->len, st.st_size, __ATOMIC_RELAXED);
    m->failed = false;
out:
    pthread_rwlock_unlock(&m->lock);
}

static void raise_len(FileMap *m, int64_t len)
{
    int64_t old = __atomic_load_n(&m->len, __ATOMIC_RELAXED);

    while (old < len &&
           !__atomic_compare_exchange_n(&m->len, &old, len, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/*
 * Does the file reach @end (within the map)?  Past the length seen so
 * far, fstat tells whether it grew (our own appends do not pass here);
 * len only grows: a shrink comes with a drop (file_truncate), or from
 * another process, which the SIGBUS guard covers.
 */
static bool covers(FileMap *m, int fd, int64_t end)
{
    int64_t len = __atomic_load_n(&m->len, __ATOMIC_RELAXED);
    struct stat st;

    if (end <= len) {
        return true;
    }
    if (end > m->reserve || fstat(fd, &st) < 0 || st.st_size < end) {
        return false;
    }
    raise_len(m, MIN(st.st_size, m->reserve));
    return true;
}

/* Are all pages of [p, p + n) in the page cache?  @p lies in the map. */
static bool resident(const char *p, size_t n)
{
    uintptr_t page = sysconf(_SC_PAGESIZE);
    uintptr_t start = (uintptr_t)p & ~(page - 1);
    size_t pages = ((uintptr_t)p + n - start + page - 1) / page;
    unsigned char vec[MAX_PAGES];

    if (pages > G_N_ELEMENTS(vec) || mincore((void *)start, pages * page, vec)) {
        return false;
    }
    for (size_t i = 0; i < pages; i++) {
        if (!(vec[i] & 1)) {
            return false;
        }
    }
    return true;
}

/* Copy under the read lock, if mapped: true when done; *unmapped when
 * nothing was tried because no map was made yet. */
static bool write_mapped(FileMap *m, int fd, int64_t offset, int64_t bytes,
                         const void *buf, bool *unmapped)
{
    bool done = false;

    *unmapped = false;
    if (pthread_rwlock_tryrdlock(&m->lock)) {
        return false; /* being (un)mapped: never wait for it */
    }
    *unmapped = !m->base && !m->failed;
    if (m->base && covers(m, fd, offset + bytes) &&
        resident(m->base + offset, bytes)) {
        done = file_map_copy_guarded(m->base + offset, buf, bytes);
    }
    pthread_rwlock_unlock(&m->lock);
    return done;
}

int file_map_write(FileMap *m, int fd, int64_t offset, int64_t bytes,
                   const void *buf)
{
    bool unmapped;

    if (bytes <= 0 || bytes > FILE_MAP_MAX_WRITE || offset < 0) {
        return -EAGAIN;
    }
    if (write_mapped(m, fd, offset, bytes, buf, &unmapped)) {
        return 0;
    }
    if (!unmapped) {
        return -EAGAIN;
    }
    map_fd(m, fd);
    return write_mapped(m, fd, offset, bytes, buf, &unmapped) ? 0 : -EAGAIN;
}
