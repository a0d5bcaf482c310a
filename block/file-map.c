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

    *m = (FileMap){0};
    /* a waiting (un)map makes new copies fail their trylock: it cannot
     * starve behind a stream of writes */
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&m->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
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

/* The length of the file open on @fd, -1 if unknown. */
static int64_t file_length(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/*
 * Map @fd (again, with more room, when the file outgrew the map) so that
 * a write ending at @end fits; failed is set when it cannot be done.
 * Beyond the end of the file nothing is resident, and a store there
 * would SIGBUS: copies are bounded by len, which follows the file.
 */
static void map_fd(FileMap *m, int fd, int64_t end)
{
    struct stat st;
    int64_t reserve;
    void *p;

    pthread_rwlock_wrlock(&m->lock);
    if (m->failed || (m->base && end <= m->reserve)) {
        goto out; /* another thread was first */
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        st.st_size > MAX_MAP_LEN) {
        m->failed = true;
        goto out;
    }
    if (st.st_size < end) {
        goto out; /* shrunk meanwhile: nothing to map for this write */
    }
    reserve = reserve_for(st.st_size);
    p = mmap(NULL, reserve, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        m->failed = true;
        goto out;
    }
    if (m->base) {
        munmap(m->base, m->reserve);
    }
    m->base = p;
    m->reserve = reserve;
    __atomic_store_n(&m->len, st.st_size, __ATOMIC_RELAXED);
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

    if (end <= len) {
        return true;
    }
    len = end <= m->reserve ? file_length(fd) : -1;
    if (len < end) {
        return false;
    }
    raise_len(m, MIN(len, m->reserve));
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

typedef enum MapCopy {
    MAP_COPIED,
    MAP_NOT_NOW, /* not copied: write it another way */
    MAP_REMAP,   /* not copied: the file reaches the write, the map not */
} MapCopy;

/* Copy under the read lock, if the map holds the range. */
static MapCopy write_mapped(FileMap *m, int fd, int64_t offset,
                            int64_t bytes, const void *buf)
{
    int64_t end = offset + bytes;
    MapCopy ret = MAP_NOT_NOW;

    if (pthread_rwlock_tryrdlock(&m->lock)) {
        return MAP_NOT_NOW; /* being (un)mapped: never wait for it */
    }
    if (m->failed) {
        ret = MAP_NOT_NOW;
    } else if (!m->base || end > m->reserve) {
        ret = file_length(fd) >= end ? MAP_REMAP : MAP_NOT_NOW;
    } else if (covers(m, fd, end) && resident(m->base + offset, bytes) &&
               file_map_copy_guarded(m->base + offset, buf, bytes)) {
        ret = MAP_COPIED;
    }
    pthread_rwlock_unlock(&m->lock);
    return ret;
}

int file_map_write(FileMap *m, int fd, int64_t offset, int64_t bytes,
                   const void *buf)
{
    MapCopy r;

    if (bytes <= 0 || bytes > FILE_MAP_MAX_WRITE || offset < 0) {
        return -EAGAIN;
    }
    r = write_mapped(m, fd, offset, bytes, buf);
    if (r == MAP_REMAP) {
        map_fd(m, fd, offset + bytes);
        r = write_mapped(m, fd, offset, bytes, buf);
    }
    return r == MAP_COPIED ? 0 : -EAGAIN;
}
