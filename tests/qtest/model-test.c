/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Model-based fd accounting: long random, seeded, reproducible sequences of
 * add-fd, remove-fd, blockdev-add/-del/-reopen through /dev/fdset/N,
 * getfd/closefd, stray fds, and connects/disconnects on several monitors,
 * run against the real daemon and against a reference model of the rules
 * in docs/fdset.rst ("Commands", "Opening /dev/fdset/N", "Ownership and
 * lifetime", "Events", "Limits").
 *
 * After every step the daemon and the model must agree exactly on:
 *  - every reply (success or the error the rules give);
 *  - query-fdsets: ids and order, members and order, fd numbers, opaque,
 *    access-mode, flags, dev/ino, persistent, dup-count;
 *  - query-named-block-nodes: which nodes exist, read-only, cache.direct;
 *  - the daemon's fds (/proc/PID/fd and fdinfo): every regular file it
 *    holds is a member at its number, a dup of a block node, or a named
 *    fd, and which open file description each one is (kcmp against the
 *    test's own copy of every description it passed);
 *  - sockets: the listening ones plus one per live connection;
 *  - FDSET_* events seen by an observer connection.
 *
 * MODEL_SEEDS (default 4), MODEL_SEED (first seed, default 1) and
 * MODEL_STEPS (per seed, default 800) size the run; a failure prints the
 * seed, the step and the last operations, and rerunning with the same
 * MODEL_SEED and MODEL_STEPS replays it.  scripts/run-model.sh runs long
 * ones.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libqtest.h"

#define NFILES 6
#define MAX_ACTORS 4
#define MAX_MONITORS 3
#define OWNER_PROCESS 0
#define OWNER_ORPHAN (-1)
#define MATCH_FLAGS (O_ACCMODE | O_DIRECT | O_SYNC | O_DSYNC)
#define NO_FD_MSG "No file descriptor supplied via SCM_RIGHTS"
#define SETTLE_US (5 * G_USEC_PER_SEC)
#define LOG_KEEP 40

/* ---- the model ----------------------------------------------------------- */

/* One open file description the test created and passed. */
typedef struct Desc {
    int tfd;   /* the test's copy, -1 once collected */
    int file;  /* index into the file pool */
    int flags; /* open flags that matter (MATCH_FLAGS) */
} Desc;

typedef struct MMember {
    int fd; /* the daemon's number */
    int desc;
    char *opaque; /* NULL: not given */
    int owner;    /* actor id, OWNER_PROCESS or OWNER_ORPHAN */
} MMember;

typedef struct MSet {
    int64_t id;
    GArray *members; /* MMember, oldest first */
    int dups;
} MSet;

typedef struct MNode {
    char *name;
    int64_t set;
    int desc; /* description its dup shares */
    bool ro, direct; /* as query-named-block-nodes says */
    bool auto_ro; /* added with auto-read-only: true */
    bool fd_ro;   /* its dup is O_RDONLY: ro, or auto-read-only without a
                   * writer (the model adds no format node: never one) */
} MNode;

typedef struct Actor {
    int id; /* owner id in the model, > 0 */
    guint monitor;
    QTestConn *c;
    GHashTable *named; /* its monitor's getfd names (borrowed) */
} Actor;

typedef struct Config {
    guint n_monitors;
    bool persistent_default;
    bool strict_same_file;
    guint max_sets, max_per_set, max_total; /* 0: default (not reached) */
    guint n_cmdline;                        /* -add-fd members at start-up */
} Config;

typedef struct Model {
    guint seed, step, steps;
    GRand *rand;
    Config cfg;
    QTestState *s;
    QTestConn *obs; /* observer: fdset events, queries */
    char *pool_dir;
    char *files[NFILES];
    struct stat file_st[NFILES];
    bool direct_ok; /* O_DIRECT works in the scratch dir */
    bool kcmp_ok;
    char *args;        /* the daemon's configuration, for figures */
    GArray *descs;     /* Desc */
    GPtrArray *sets;   /* MSet*, any order */
    GPtrArray *nodes;  /* MNode* */
    GPtrArray *actors; /* Actor* */
    /* getfd name -> desc (GINT), per monitor: names belong to the monitor
     * and outlive its connections, as in QEMU */
    GHashTable *named[MAX_MONITORS];
    int next_actor, next_node;
    GQueue want_events;     /* char* "NAME k=v..." in emission order */
    bool events_unordered;  /* this step's events may come in any order */
    guint other_fds;        /* non-file, non-socket fds at start */
    GQueue log;             /* char*, the last LOG_KEEP operations */
    guint n_cmds, n_errors; /* figures */
    guint max_members, max_dups;
    guint n_dups, n_reopened, n_orphaned, n_reaped, n_limits;
} Model;

static void model_log(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void model_log(Model *m, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *line = NULL;

    va_start(ap, fmt);
    line = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_queue_push_tail(&m->log, g_strdup_printf("%5u %s", m->step, line));
    if (g_queue_get_length(&m->log) > LOG_KEEP) {
        g_free(g_queue_pop_head(&m->log));
    }
}

static void model_fail(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Divergence: show how to replay it, the recent operations, then fail. */
static void model_fail(Model *m, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *why = NULL;

    va_start(ap, fmt);
    why = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\n=== model divergence: seed %u, step %u ===\n"
            "replay: MODEL_SEED=%u MODEL_SEEDS=1 MODEL_STEPS=%u\n"
            "last operations:\n",
            m->seed, m->step, m->seed, m->step + 1);
    for (GList *l = m->log.head; l; l = l->next) {
        fprintf(stderr, "  %s\n", (char *)l->data);
    }
    fprintf(stderr, "%s\n", why);
    ck_abort_msg("model divergence at seed %u step %u: %.300s", m->seed,
                 m->step, why);
}

static int rnd(Model *m, int n)
{
    return g_rand_int_range(m->rand, 0, n);
}

static bool chance(Model *m, int percent)
{
    return rnd(m, 100) < percent;
}

static MSet *set_find(Model *m, int64_t id)
{
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        if (set->id == id) {
            return set;
        }
    }
    return NULL;
}

static MMember *member_at(MSet *set, guint i)
{
    return &g_array_index(set->members, MMember, i);
}

static guint total_members(Model *m)
{
    guint n = 0;

    for (guint i = 0; i < m->sets->len; i++) {
        n += ((MSet *)g_ptr_array_index(m->sets, i))->members->len;
    }
    return n;
}

static Desc *desc_at(Model *m, int d)
{
    return &g_array_index(m->descs, Desc, d);
}

static void want_event(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void want_event(Model *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_queue_push_tail(&m->want_events, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

static void set_free(MSet *set)
{
    for (guint i = 0; i < set->members->len; i++) {
        g_free(member_at(set, i)->opaque);
    }
    g_array_unref(set->members);
    g_free(set);
}

/* A set goes when it has neither members nor dups (FDSET_FREED). */
static void set_maybe_free(Model *m, MSet *set)
{
    if (set->members->len || set->dups) {
        return;
    }
    want_event(m, "FDSET_FREED fdset-id=%" PRId64, set->id);
    g_ptr_array_remove(m->sets, set); /* frees it */
}

static void member_close(Model *m, MSet *set, guint i, const char *reason)
{
    MMember *mm = member_at(set, i);

    want_event(m, "FDSET_FD_REMOVED fdset-id=%" PRId64 " fd=%d reason=%s",
               set->id, mm->fd, reason);
    g_free(mm->opaque);
    g_array_remove_index(set->members, i);
}

/* The last dup of @set went: members whose owner left go with it. */
static void dup_released(Model *m, MSet *set)
{
    if (--set->dups > 0) {
        return;
    }
    for (guint i = 0; i < set->members->len;) {
        if (member_at(set, i)->owner == OWNER_ORPHAN) {
            member_close(m, set, i, "disconnect");
            m->n_reaped++;
        } else {
            i++;
        }
    }
    set_maybe_free(m, set);
}

/* The newest member whose mode and flags equal @flags, or NULL. */
static MMember *set_match(Model *m, MSet *set, int flags)
{
    for (int i = (int)set->members->len - 1; i >= 0; i--) {
        MMember *mm = member_at(set, i);
        if (((desc_at(m, mm->desc)->flags ^ flags) & MATCH_FLAGS) == 0) {
            return mm;
        }
    }
    return NULL;
}

static int64_t lowest_free_id(Model *m)
{
    for (int64_t id = 0;; id++) {
        if (!set_find(m, id)) {
            return id;
        }
    }
}

/* A fresh open file description of pool file @file; the test keeps it. */
static int desc_new(Model *m, int file, int flags)
{
    Desc d = {.file = file, .flags = flags & MATCH_FLAGS};

    d.tfd = open(m->files[file], flags | O_CLOEXEC);
    ck_assert_msg(d.tfd >= 0, "open %s 0x%x: %s", m->files[file], flags,
                  g_strerror(errno));
    g_array_append_val(m->descs, d);
    return m->descs->len - 1;
}

/* Close the test's copies of descriptions the daemon no longer holds. */
static void descs_collect(Model *m)
{
    g_autofree bool *used = g_new0(bool, m->descs->len);

    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        for (guint j = 0; j < set->members->len; j++) {
            used[member_at(set, j)->desc] = true;
        }
    }
    for (guint i = 0; i < m->nodes->len; i++) {
        used[((MNode *)g_ptr_array_index(m->nodes, i))->desc] = true;
    }
    for (guint i = 0; i < m->cfg.n_monitors; i++) {
        GHashTableIter it;
        gpointer v;

        g_hash_table_iter_init(&it, m->named[i]);
        while (g_hash_table_iter_next(&it, NULL, &v)) {
            used[GPOINTER_TO_INT(v)] = true;
        }
    }
    for (guint i = 0; i < m->descs->len; i++) {
        Desc *d = desc_at(m, i);
        if (!used[i] && d->tfd >= 0) {
            close(d->tfd);
            d->tfd = -1;
        }
    }
}

/* ---- comparing with the daemon ------------------------------------------- */

static const char *mode_name(int flags)
{
    switch (flags & O_ACCMODE) {
    case O_RDONLY:
        return "read-only";
    case O_WRONLY:
        return "write-only";
    default:
        return "read-write";
    }
}

static char *flag_names(int flags)
{
    GString *s = g_string_new("[");

    if (flags & O_DIRECT) {
        g_string_append(s, "direct,");
    }
    if ((flags & O_SYNC) == O_SYNC) {
        g_string_append(s, "sync,");
    } else if (flags & O_DSYNC) {
        g_string_append(s, "dsync,");
    }
    g_string_append_c(s, ']');
    return g_string_free(s, FALSE);
}

static gint cmp_set_desc(gconstpointer a, gconstpointer b)
{
    int64_t x = (*(MSet *const *)a)->id, y = (*(MSet *const *)b)->id;

    return x < y ? 1 : x > y ? -1 : 0;
}

static void append_member(GString *s, int fd, const char *opaque,
                          const char *mode, const char *flags, guint64 dev,
                          guint64 ino, bool persistent)
{
    g_autofree char *op = opaque ? qtest_json_str(opaque) : g_strdup("-");

    g_string_append_printf(s,
                           " {fd=%d opaque=%s mode=%s flags=%s dev=%" PRIu64
                           " ino=%" PRIu64 " persistent=%d}",
                           fd, op, mode, flags, dev, ino, persistent);
}

/* query-fdsets as the model says it should be, in a canonical text. */
static char *model_fdsets_text(Model *m)
{
    GString *s = g_string_new(NULL);

    g_ptr_array_sort(m->sets, cmp_set_desc);
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);

        g_string_append_printf(s, "set %" PRId64 " dups=%d:", set->id,
                               set->dups);
        for (guint j = 0; j < set->members->len; j++) {
            MMember *mm = member_at(set, j);
            Desc *d = desc_at(m, mm->desc);
            g_autofree char *fl = flag_names(d->flags);

            append_member(s, mm->fd, mm->opaque, mode_name(d->flags), fl,
                          (guint32)m->file_st[d->file].st_dev,
                          m->file_st[d->file].st_ino,
                          mm->owner == OWNER_PROCESS);
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

/* The same text from the daemon's reply. */
static char *daemon_fdsets_text(JsonArray *sets)
{
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *set = json_array_get_object_element(sets, i);
        JsonArray *fds = json_object_get_array_member(set, "fds");

        g_string_append_printf(s, "set %" PRId64 " dups=%" PRId64 ":",
                               json_object_get_int_member(set, "fdset-id"),
                               json_object_get_int_member(set, "dup-count"));
        for (guint j = 0; fds && j < json_array_get_length(fds); j++) {
            JsonObject *f = json_array_get_object_element(fds, j);
            JsonArray *fl = json_object_get_array_member(f, "flags");
            GString *fls = g_string_new("[");

            for (guint k = 0; fl && k < json_array_get_length(fl); k++) {
                g_string_append_printf(fls, "%s,",
                                       json_array_get_string_element(fl, k));
            }
            g_string_append_c(fls, ']');
            append_member(s, json_object_get_int_member(f, "fd"),
                          json_object_has_member(f, "opaque")
                              ? json_object_get_string_member(f, "opaque")
                              : NULL,
                          json_object_get_string_member(f, "access-mode"),
                          fls->str, json_object_get_int_member(f, "dev"),
                          json_object_get_int_member(f, "ino"),
                          json_object_get_boolean_member(f, "persistent"));
            g_string_free(fls, TRUE);
        }
        g_string_append_c(s, '\n');
    }
    return g_string_free(s, FALSE);
}

static gint cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted lines "NAME ro=R direct=D". */
static char *model_nodes_text(Model *m)
{
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    GString *s = g_string_new(NULL);

    for (guint i = 0; i < m->nodes->len; i++) {
        MNode *n = g_ptr_array_index(m->nodes, i);
        g_ptr_array_add(lines, g_strdup_printf("%s ro=%d direct=%d", n->name,
                                               n->ro, n->direct));
    }
    g_ptr_array_sort(lines, cmp_str);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "%s\n", (char *)lines->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

static char *daemon_nodes_text(QTestConn *c)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes', "
                               "'arguments': {'flat': true}}");
    JsonArray *a = qtest_return_array(r);
    g_autoptr(GPtrArray) lines = g_ptr_array_new_with_free_func(g_free);
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);
        JsonObject *cache = json_object_get_object_member(o, "cache");

        g_ptr_array_add(
            lines,
            g_strdup_printf(
                "%s ro=%d direct=%d",
                json_object_get_string_member(o, "node-name"),
                json_object_get_boolean_member(o, "ro"),
                cache && json_object_get_boolean_member(cache, "direct")));
    }
    if (!a) {
        g_string_append(s, "query-named-block-nodes failed\n");
    }
    g_ptr_array_sort(lines, cmp_str);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "%s\n", (char *)lines->pdata[i]);
    }
    json_node_unref(r);
    return g_string_free(s, FALSE);
}

/* Is daemon fd @fd the same open file description as our @tfd? */
static int same_description(Model *m, int tfd, int fd)
{
    long r = syscall(SYS_kcmp, getpid(), qtest_pid(m->s), KCMP_FILE, tfd, fd);

    return r == 0;
}

typedef struct ProcView {
    GArray *files; /* regular-file fds above stdio */
    guint sockets, other;
} ProcView;

static void proc_view(Model *m, ProcView *v)
{
    g_autofree char *dir = g_strdup_printf("/proc/%d/fd", (int)qtest_pid(m->s));
    GDir *d = g_dir_open(dir, 0, NULL);
    const char *name;

    v->files = g_array_new(FALSE, FALSE, sizeof(int));
    v->sockets = v->other = 0;
    ck_assert_msg(d, "cannot list %s", dir);
    while ((name = g_dir_read_name(d))) {
        int fd = atoi(name);
        g_autofree char *p = g_strdup_printf("%s/%s", dir, name);
        g_autofree char *target = g_file_read_link(p, NULL);
        struct stat st;

        if (fd <= 2 || !target) {
            continue;
        }
        if (g_str_has_prefix(target, "socket:")) {
            v->sockets++;
        } else if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
            g_array_append_val(v->files, fd);
        } else {
            v->other++;
        }
    }
    g_dir_close(d);
}

static bool fd_in(GArray *fds, int fd)
{
    for (guint i = 0; i < fds->len; i++) {
        if (g_array_index(fds, int, i) == fd) {
            return true;
        }
    }
    return false;
}

/* The file-pool index daemon fd @fd points at, -1 if none. */
static int fd_file(Model *m, int fd)
{
    g_autofree char *p =
        g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(m->s), fd);
    struct stat st;

    if (stat(p, &st) < 0) {
        return -1;
    }
    for (int i = 0; i < NFILES; i++) {
        if (st.st_ino == m->file_st[i].st_ino &&
            st.st_dev == m->file_st[i].st_dev) {
            return i;
        }
    }
    return -1;
}

/*
 * Which description daemon fd @fd is, among @cands (desc indexes, one is
 * removed when found); -1 when none.
 */
static int take_matching(Model *m, GArray *cands, int fd)
{
    int file = fd_file(m, fd);
    int flags = qtest_fd_flags(m->s, fd) & MATCH_FLAGS;

    for (guint i = 0; i < cands->len; i++) {
        int d = g_array_index(cands, int, i);
        Desc *dd = desc_at(m, d);
        bool same = m->kcmp_ok ? same_description(m, dd->tfd, fd)
                               : dd->file == file && dd->flags == flags;
        if (same) {
            g_array_remove_index_fast(cands, i);
            return d;
        }
    }
    return -1;
}

/* /proc against the model; NULL when they agree. */
static char *check_proc(Model *m)
{
    ProcView v;
    g_autoptr(GArray) rest = g_array_new(FALSE, FALSE, sizeof(int));
    g_autoptr(GArray) want = g_array_new(FALSE, FALSE, sizeof(int));
    GString *why = g_string_new(NULL);
    guint want_sockets = m->cfg.n_monitors + 1 + m->actors->len;

    proc_view(m, &v);
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        for (guint j = 0; j < set->members->len; j++) {
            MMember *mm = member_at(set, j);
            Desc *d = desc_at(m, mm->desc);
            int fl = qtest_fd_flags(m->s, mm->fd);

            if (!fd_in(v.files, mm->fd)) {
                g_string_append_printf(
                    why, "member %d of set %" PRId64 " is not an open file\n",
                    mm->fd, set->id);
            } else if (m->kcmp_ok && !same_description(m, d->tfd, mm->fd)) {
                g_string_append_printf(why,
                                       "member %d of set %" PRId64
                                       " is not the description passed\n",
                                       mm->fd, set->id);
            } else if ((fl & MATCH_FLAGS) != d->flags) {
                g_string_append_printf(why,
                                       "member %d: fdinfo flags 0%o, "
                                       "passed 0%o\n",
                                       mm->fd, fl & MATCH_FLAGS, d->flags);
            }
        }
    }
    for (guint i = 0; i < v.files->len; i++) {
        int fd = g_array_index(v.files, int, i);
        bool member = false;

        for (guint k = 0; k < m->sets->len && !member; k++) {
            MSet *set = g_ptr_array_index(m->sets, k);
            for (guint j = 0; j < set->members->len && !member; j++) {
                member = member_at(set, j)->fd == fd;
            }
        }
        if (!member) {
            g_array_append_val(rest, fd);
        }
    }
    /* the rest: one per block node (its dup) and per named fd */
    for (guint i = 0; i < m->nodes->len; i++) {
        g_array_append_val(want, ((MNode *)m->nodes->pdata[i])->desc);
    }
    for (guint i = 0; i < m->cfg.n_monitors; i++) {
        GHashTableIter it;
        gpointer val;

        g_hash_table_iter_init(&it, m->named[i]);
        while (g_hash_table_iter_next(&it, NULL, &val)) {
            int d = GPOINTER_TO_INT(val);
            g_array_append_val(want, d);
        }
    }
    for (guint i = 0; i < rest->len; i++) {
        int fd = g_array_index(rest, int, i);
        int d = take_matching(m, want, fd);

        if (d < 0) {
            g_autofree char *p =
                g_strdup_printf("/proc/%d/fd/%d", (int)qtest_pid(m->s), fd);
            g_autofree char *t = g_file_read_link(p, NULL);
            g_string_append_printf(why,
                                   "daemon fd %d (%s, flags 0%o) is "
                                   "no member, dup or named fd\n",
                                   fd, t ? t : "?", qtest_fd_flags(m->s, fd));
        }
    }
    for (guint i = 0; i < want->len; i++) {
        Desc *d = desc_at(m, g_array_index(want, int, i));
        g_string_append_printf(why,
                               "a dup or named fd of %s (0%o) is "
                               "missing\n",
                               m->files[d->file], d->flags);
    }
    if (v.sockets != want_sockets) {
        g_string_append_printf(why, "%u sockets, expected %u\n", v.sockets,
                               want_sockets);
    }
    if (v.other != m->other_fds) {
        g_string_append_printf(why, "%u other fds, expected %u\n", v.other,
                               m->other_fds);
    }
    g_array_unref(v.files);
    if (!why->len) {
        g_string_free(why, TRUE);
        return NULL;
    }
    return g_string_free(why, FALSE);
}

/* "NAME k=v ..." for an FDSET_* event, keys in a fixed order. */
static char *event_text(JsonNode *ev)
{
    JsonObject *o = json_node_get_object(ev);
    JsonObject *data = json_object_get_object_member(o, "data");
    GString *s = g_string_new(json_object_get_string_member(o, "event"));

    g_string_append_printf(s, " fdset-id=%" PRId64,
                           json_object_get_int_member(data, "fdset-id"));
    if (json_object_has_member(data, "fd")) {
        g_string_append_printf(s, " fd=%" PRId64,
                               json_object_get_int_member(data, "fd"));
    }
    if (json_object_has_member(data, "opaque")) {
        g_autofree char *q =
            qtest_json_str(json_object_get_string_member(data, "opaque"));
        g_string_append_printf(s, " opaque=%s", q);
    }
    if (json_object_has_member(data, "other-file")) {
        g_string_append_printf(
            s, " other-file=%d",
            json_object_get_boolean_member(data, "other-file"));
    }
    if (json_object_has_member(data, "reason")) {
        g_string_append_printf(s, " reason=%s",
                               json_object_get_string_member(data, "reason"));
    }
    return g_string_free(s, FALSE);
}

/*
 * The observer's FDSET_* events against the expected ones (taken from
 * m->want_events as they match).  NULL when all came; "wait" when some
 * have not arrived yet; else what is wrong.
 */
static char *check_events(Model *m, GPtrArray *got)
{
    JsonNode *ev;

    while ((ev = qtest_event_wait(m->obs, NULL, 0))) {
        const char *name =
            json_object_get_string_member(json_node_get_object(ev), "event");
        if (g_str_has_prefix(name, "FDSET_")) {
            g_ptr_array_add(got, event_text(ev));
        }
        json_node_unref(ev);
    }
    while (got->len) {
        GList *l = m->want_events.head;
        const char *first = got->pdata[0];

        if (m->events_unordered) {
            while (l && strcmp(l->data, first) != 0) {
                l = l->next;
            }
        }
        if (!l || strcmp(l->data, first) != 0) {
            return g_strdup_printf("event '%s', expected %s", first,
                                   l ? (char *)l->data
                                   : m->want_events.head
                                       ? (char *)m->want_events.head->data
                                       : "none");
        }
        g_free(l->data);
        g_queue_delete_link(&m->want_events, l);
        g_ptr_array_remove_index(got, 0);
    }
    return g_queue_is_empty(&m->want_events) ? NULL : g_strdup("wait");
}

/* Everything the daemon shows against the model; @settle: allow time for
 * a disconnect to be processed. */
static void verify(Model *m, bool settle)
{
    gint64 deadline = g_get_monotonic_time() + (settle ? SETTLE_US : 0);
    g_autoptr(GPtrArray) got = g_ptr_array_new_with_free_func(g_free);

    for (;;) {
        JsonNode *r = qtest_qmp(m->obs, "{'execute': 'query-fdsets'}");
        JsonArray *sets = qtest_return_array(r);
        g_autofree char *want = model_fdsets_text(m);
        g_autofree char *have =
            sets ? daemon_fdsets_text(sets) : g_strdup("query-fdsets failed");
        g_autofree char *want_nodes = model_nodes_text(m);
        g_autofree char *have_nodes = daemon_nodes_text(m->obs);
        g_autofree char *proc = NULL, *events = NULL;
        bool same =
            g_str_equal(want, have) && g_str_equal(want_nodes, have_nodes);

        json_node_unref(r);
        proc = same ? check_proc(m) : NULL;
        events = check_events(m, got);
        if (same && !proc && !events) {
            break;
        }
        if (g_get_monotonic_time() >= deadline &&
            (!events || g_str_equal(events, "wait"))) {
            model_fail(m,
                       "query-fdsets:\n  model:\n%s  daemon:\n%s"
                       "nodes:\n  model:\n%s  daemon:\n%s/proc: %s\n"
                       "events: %s",
                       want, have, want_nodes, have_nodes,
                       proc ? proc : (same ? "ok" : "not checked"),
                       events ? events : "ok");
        }
        if (events && !g_str_equal(events, "wait")) {
            model_fail(m, "%s", events);
        }
        g_usleep(10000);
    }
    m->events_unordered = false;
    descs_collect(m);
}

/* ---- operations ------------------------------------------------------------
 */

/* Send @text from @a with @fds (python-qemu-qmp style: on a blank first). */
static JsonNode *actor_send(Model *m, Actor *a, const int *fds, guint nfds,
                            bool on_blank, const char *text)
{
    JsonNode *r;

    m->n_cmds++;
    if (on_blank && nfds) {
        qtest_send_raw(a->c, " ", 1, fds, nfds);
        fds = NULL;
        nfds = 0;
    }
    qtest_send_raw(a->c, text, strlen(text), fds, nfds);
    r = qtest_recv_response(a->c, -1);
    if (!r) {
        model_fail(m, "no reply to %s", text);
    }
    return r;
}

static void expect_ok(Model *m, JsonNode *r, const char *what)
{
    if (!json_object_has_member(json_node_get_object(r), "return")) {
        g_autofree char *t = json_to_string(r, FALSE);
        model_fail(m, "%s: expected success, got %s", what, t);
    }
}

/* An error whose desc is @desc (or starts with it, if @prefix). */
static void expect_error(Model *m, JsonNode *r, const char *what,
                         const char *desc, bool prefix)
{
    const char *got = qtest_error_desc(r);

    m->n_errors++;
    if (!got || !g_str_equal(qtest_error_class(r), "GenericError") ||
        (prefix ? !g_str_has_prefix(got, desc) : !g_str_equal(got, desc))) {
        g_autofree char *t = json_to_string(r, FALSE);
        model_fail(m, "%s: expected error \"%s%s\", got %s", what, desc,
                   prefix ? "..." : "", t);
    }
}

static Actor *pick_actor(Model *m)
{
    return g_ptr_array_index(m->actors, rnd(m, m->actors->len));
}

static MSet *pick_set(Model *m)
{
    return m->sets->len ? g_ptr_array_index(m->sets, rnd(m, m->sets->len))
                        : NULL;
}

/* A random opaque: printable, quotes and backslashes included. */
static char *random_opaque(Model *m)
{
    static const char chars[] = "abcXYZ019 -_:,'\"\\/";
    guint len = rnd(m, 12);
    char *s = g_malloc(len + 1);

    for (guint i = 0; i < len; i++) {
        s[i] = chars[rnd(m, sizeof(chars) - 1)];
    }
    s[len] = 0;
    return s;
}

static int random_flags(Model *m)
{
    int r = rnd(m, 100);
    int flags = r < 42 ? O_RDONLY : r < 90 ? O_RDWR : O_WRONLY;

    if (m->direct_ok && chance(m, 10)) {
        flags |= O_DIRECT;
    }
    if (chance(m, 4)) {
        flags |= chance(m, 50) ? O_DSYNC : O_SYNC;
    }
    return flags;
}

/* add-fd: what the rules say it does, given the set chosen. */
static const char *add_fd_refusal(Model *m, bool has_id, int64_t id, int file,
                                  bool *prefix)
{
    MSet *set = has_id ? set_find(m, id) : NULL;

    *prefix = true;
    if (has_id && id < 0) {
        *prefix = false;
        return "Parameter 'fdset-id' expects a non-negative value";
    }
    if (!set && m->cfg.max_sets && m->sets->len >= m->cfg.max_sets) {
        return "Cannot create fdset";
    }
    if (set && m->cfg.max_per_set && set->members->len >= m->cfg.max_per_set) {
        return "Cannot add fd";
    }
    if (m->cfg.max_total && total_members(m) >= m->cfg.max_total) {
        return "Cannot add fd";
    }
    if (m->cfg.strict_same_file && set && set->members->len &&
        desc_at(m, member_at(set, 0)->desc)->file != file) {
        return "Cannot add fd to fdset";
    }
    return NULL;
}

static void op_add_fd(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *target = pick_set(m);
    int r = rnd(m, 100), file, d, fds[4], nfds = 0, persistent = -1;
    bool has_id = true, on_blank = chance(m, 15), prefix, keep;
    int64_t id = 0, got_id;
    g_autofree char *opaque = chance(m, 50) ? random_opaque(m) : NULL;
    g_autofree char *q = opaque ? qtest_json_str(opaque) : NULL;
    GString *args = g_string_new(NULL);
    const char *refusal;
    JsonNode *reply;
    JsonObject *ret;

    if (r < 45 && target) {
        id = target->id;
    } else if (r < 82) {
        has_id = false;
    } else if (r < 96) {
        id = rnd(m, 40);
    } else if (r < 98) {
        id = -1 - rnd(m, 5);
    } else {
        id = G_GINT64_CONSTANT(1) << (31 + rnd(m, 20));
    }
    target = has_id ? set_find(m, id) : NULL;
    file =
        target && target->members->len && chance(m, 90)
            ? desc_at(m, member_at(target, 0)->desc)->file
            : (has_id ? (int)(id % NFILES + NFILES) % NFILES : rnd(m, NFILES));
    if (chance(m, 8)) {
        file = rnd(m, NFILES);
    }
    if (chance(m, 25)) {
        persistent = chance(m, 50);
    }
    if (has_id) {
        g_string_append_printf(args, "\"fdset-id\": %" PRId64 ", ", id);
    }
    if (q) {
        g_string_append_printf(args, "\"opaque\": %s, ", q);
    }
    if (persistent >= 0) {
        g_string_append_printf(args, "\"persistent\": %s, ",
                               persistent ? "true" : "false");
    }
    if (args->len) {
        g_string_truncate(args, args->len - 2);
    }
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"add-fd\", \"arguments\": {%s}}", args->str);
    g_string_free(args, TRUE);

    if (chance(m, 3)) {
        model_log(m, "add-fd %s without an fd", text);
        reply = actor_send(m, a, NULL, 0, false, text);
        expect_error(m, reply, "add-fd without fd", NO_FD_MSG, false);
        json_node_unref(reply);
        return;
    }
    d = desc_new(m, file, random_flags(m));
    fds[nfds++] = desc_at(m, d)->tfd;
    for (int extra = chance(m, 12) ? 1 + rnd(m, 3) : 0; extra > 0; extra--) {
        fds[nfds++] =
            desc_at(m, desc_new(m, rnd(m, NFILES), random_flags(m)))->tfd;
    }
    model_log(m, "actor %d: %s fds=%d%s (file %d flags 0%o)", a->id, text, nfds,
              on_blank ? " on a blank" : "", file, desc_at(m, d)->flags);
    refusal = add_fd_refusal(m, has_id, id, file, &prefix);
    reply = actor_send(m, a, fds, nfds, on_blank, text);
    if (refusal) {
        m->n_limits += prefix;
        expect_error(m, reply, "add-fd", refusal, prefix);
        json_node_unref(reply);
        return;
    }
    expect_ok(m, reply, "add-fd");
    ret = qtest_return_object(reply);
    got_id = json_object_get_int_member(ret, "fdset-id");
    if (got_id != (has_id ? id : lowest_free_id(m))) {
        model_fail(m, "add-fd put the fd in set %" PRId64 ", expected %" PRId64,
                   got_id, has_id ? id : lowest_free_id(m));
    }
    target = set_find(m, got_id);
    if (!target) {
        target = g_new0(MSet, 1);
        target->id = got_id;
        target->members = g_array_new(FALSE, TRUE, sizeof(MMember));
        g_ptr_array_add(m->sets, target);
    }
    keep = persistent >= 0 ? persistent : m->cfg.persistent_default;
    MMember mm = {
        .fd = json_object_get_int_member(ret, "fd"),
        .desc = d,
        .opaque = g_strdup(opaque),
        .owner = keep ? OWNER_PROCESS : a->id,
    };
    bool other = target->members->len &&
                 desc_at(m, member_at(target, 0)->desc)->file != file;
    want_event(m, "FDSET_FD_ADDED fdset-id=%" PRId64 " fd=%d%s%s%s%s", got_id,
               mm.fd, q ? " opaque=" : "", q ? q : "",
               other ? " other-file=1" : "", "");
    g_array_append_val(target->members, mm);
    m->max_members = MAX(m->max_members, total_members(m));
    json_node_unref(reply);
}

static void op_remove_fd(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *set = pick_set(m);
    int r = rnd(m, 100);
    int64_t id;
    int fd = -1;
    bool has_fd;
    g_autofree char *text = NULL, *err = NULL;
    JsonNode *reply;

    if (!set || r < 5) {
        id = 1000 + rnd(m, 100); /* no such set */
        set = NULL;
        has_fd = chance(m, 50);
        fd = 3 + rnd(m, 200);
    } else if (r < 10) {
        id = set->id;
        has_fd = true;
        fd = 100000 + rnd(m, 100); /* not a member */
    } else if (r < 35 || !set->members->len) {
        id = set->id;
        has_fd = false;
    } else {
        id = set->id;
        has_fd = true;
        fd = member_at(set, rnd(m, set->members->len))->fd;
    }
    text = has_fd
               ? g_strdup_printf("{\"execute\": \"remove-fd\", "
                                 "\"arguments\": {\"fdset-id\": %" PRId64
                                 ", \"fd\": %d}}",
                                 id, fd)
               : g_strdup_printf("{\"execute\": \"remove-fd\", "
                                 "\"arguments\": {\"fdset-id\": %" PRId64 "}}",
                                 id);
    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (has_fd) {
        guint i = 0;

        while (set && i < set->members->len && member_at(set, i)->fd != fd) {
            i++;
        }
        if (!set || i == set->members->len) {
            err = g_strdup_printf("File descriptor named 'fdset-id:%" PRId64
                                  ", fd:%d' not found",
                                  id, fd);
        } else {
            member_close(m, set, i, "remove-fd");
        }
    } else if (!set) {
        err = g_strdup_printf(
            "File descriptor named 'fdset-id:%" PRId64 "' not found", id);
    } else {
        while (set->members->len) {
            member_close(m, set, 0, "remove-fd");
        }
    }
    if (err) {
        expect_error(m, reply, "remove-fd", err, false);
    } else {
        expect_ok(m, reply, "remove-fd");
        set_maybe_free(m, set);
    }
    json_node_unref(reply);
}

static int file_flags(bool ro, bool direct)
{
    return (ro ? O_RDONLY : O_RDWR) | (direct ? O_DIRECT : 0);
}

static MNode *node_find(Model *m, const char *name)
{
    for (guint i = 0; i < m->nodes->len; i++) {
        MNode *n = g_ptr_array_index(m->nodes, i);
        if (g_str_equal(n->name, name)) {
            return n;
        }
    }
    return NULL;
}

static char *dup_error(int64_t id, int flags, const char *why)
{
    return g_strdup_printf("Could not dup FD for /dev/fdset/%" PRId64
                           " flags %x: %s",
                           id, flags, why);
}

/*
 * Mostly ask for what some member of @set can serve (read-only or
 * read-write, with or without O_DIRECT), so that dups are made often.
 */
static void choose_mode(Model *m, MSet *set, bool *ro, bool *direct)
{
    *ro = chance(m, 50);
    *direct = m->direct_ok && chance(m, 12);
    if (set && set->members->len && chance(m, 60)) {
        int fl =
            desc_at(m, member_at(set, rnd(m, set->members->len))->desc)->flags;
        if ((fl & O_ACCMODE) != O_WRONLY && !(fl & O_DSYNC)) {
            *ro = (fl & O_ACCMODE) == O_RDONLY;
            *direct = fl & O_DIRECT;
        }
    }
}

static void op_blockdev_add(Model *m)
{
    Actor *a = pick_actor(m);
    MSet *set = pick_set(m);
    int r = rnd(m, 100), flags;
    int64_t id = set && r < 85 ? set->id
                 : r < 95      ? 40 + rnd(m, 10)
                               : (G_GINT64_CONSTANT(1) << 31) + rnd(m, 9);
    bool ro, direct, auto_ro;
    g_autofree char *name =
        m->nodes->len && chance(m, 5)
            ? g_strdup(((MNode *)m->nodes->pdata[rnd(m, m->nodes->len)])->name)
            : g_strdup_printf("n%d", m->next_node++);
    g_autofree char *text = NULL, *err = NULL;
    MMember *match = NULL;
    JsonNode *reply;

    set = set_find(m, id);
    choose_mode(m, set, &ro, &direct);
    auto_ro = !ro && chance(m, 25);
    text = g_strdup_printf(
        "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
        "\"file\", \"node-name\": \"%s\", \"filename\": \"/dev/fdset/%" PRId64
        "\", \"read-only\": %s%s%s}}",
        name, id, ro ? "true" : "false",
        auto_ro ? ", \"auto-read-only\": true" : "",
        direct ? ", \"cache\": {\"direct\": true}" : "");
    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    flags = file_flags(ro || auto_ro, direct);
    if (node_find(m, name)) {
        err = g_strdup_printf("Duplicate nodes with node-name='%s'", name);
    } else if (id > G_MAXINT32) {
        err = g_strdup_printf("Could not parse fdset /dev/fdset/%" PRId64, id);
    } else if (!set) {
        err = dup_error(id, flags, "No such file or directory");
    } else {
        match = set_match(m, set, flags);
    }
    if (!err && !match) {
        err = dup_error(id, flags, "Permission denied");
    }
    if (err) {
        expect_error(m, reply, "blockdev-add", err, false);
    } else {
        MNode *n = g_new0(MNode, 1);

        expect_ok(m, reply, "blockdev-add");
        n->name = g_steal_pointer(&name);
        n->set = id;
        n->desc = match->desc;
        n->ro = ro;
        n->fd_ro = ro || auto_ro;
        n->direct = direct;
        n->auto_ro = auto_ro;
        g_ptr_array_add(m->nodes, n);
        set->dups++;
        m->n_dups++;
        m->max_dups = MAX(m->max_dups, m->nodes->len);
    }
    json_node_unref(reply);
}

static void node_free(MNode *n)
{
    g_free(n->name);
    g_free(n);
}

static void op_blockdev_del(Model *m)
{
    Actor *a = pick_actor(m);
    MNode *n = m->nodes->len && chance(m, 93)
                   ? g_ptr_array_index(m->nodes, rnd(m, m->nodes->len))
                   : NULL;
    g_autofree char *name =
        n ? g_strdup(n->name) : g_strdup_printf("gone%d", rnd(m, 10));
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
        "\"%s\"}}",
        name);
    JsonNode *reply;

    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (!n) {
        g_autofree char *err =
            g_strdup_printf("Failed to find node with node-name='%s'", name);
        expect_error(m, reply, "blockdev-del", err, false);
    } else {
        MSet *set = set_find(m, n->set);

        expect_ok(m, reply, "blockdev-del");
        ck_assert_msg(set, "model: node %s without its set", n->name);
        g_ptr_array_remove(m->nodes, n); /* frees it */
        dup_released(m, set);
    }
    json_node_unref(reply);
}

static void op_blockdev_reopen(Model *m)
{
    Actor *a = pick_actor(m);
    MNode *n;
    MSet *set;
    bool ro, direct, auto_ro;
    g_autofree char *text = NULL;
    MMember *match;
    JsonNode *reply;

    if (!m->nodes->len) {
        return;
    }
    n = g_ptr_array_index(m->nodes, rnd(m, m->nodes->len));
    choose_mode(m, set_find(m, n->set), &ro, &direct);
    if (chance(m, 70)) {
        direct = n->direct;
    }
    if (ro == n->ro && direct == n->direct && chance(m, 70)) {
        ro = !ro;
    }
    auto_ro = !ro && chance(m, 30);
    text = g_strdup_printf(
        "{\"execute\": \"blockdev-reopen\", \"arguments\": {\"options\": "
        "[{\"driver\": \"file\", \"node-name\": \"%s\", \"filename\": "
        "\"/dev/fdset/%" PRId64 "\", \"read-only\": %s, "
        "\"auto-read-only\": %s, \"cache\": {\"direct\": %s}}]}}",
        n->name, n->set, ro ? "true" : "false", auto_ro ? "true" : "false",
        direct ? "true" : "false");
    model_log(m, "actor %d: %s (now ro=%d direct=%d)", a->id, text, n->ro,
              n->direct);
    reply = actor_send(m, a, NULL, 0, false, text);
    set = set_find(m, n->set);
    /* dynamic auto-read-only: the fd stays read-only without a writer */
    if (file_flags(ro || auto_ro, direct) ==
        file_flags(n->fd_ro, n->direct)) {
        expect_ok(m, reply, "blockdev-reopen (same flags)");
    } else if ((match = set_match(m, set, file_flags(ro || auto_ro,
                                                     direct)))) {
        expect_ok(m, reply, "blockdev-reopen");
        n->desc = match->desc; /* new dup in, old dup out: count stays */
        m->n_reopened++;
    } else {
        g_autofree char *err = dup_error(
            n->set, file_flags(ro || auto_ro, direct), "Permission denied");
        expect_error(m, reply, "blockdev-reopen", err, false);
        json_node_unref(reply);
        return;
    }
    n->ro = ro;
    n->fd_ro = ro || auto_ro;
    n->direct = direct;
    n->auto_ro = auto_ro; /* a reopen sets every option it leaves out */
    json_node_unref(reply);
}

static void op_getfd(Model *m)
{
    static const char *const names[] = {"a", "b", "c", "7x"};
    Actor *a = pick_actor(m);
    const char *name = names[rnd(m, G_N_ELEMENTS(names))];
    bool no_fd = chance(m, 4);
    int d = no_fd ? -1 : desc_new(m, rnd(m, NFILES), random_flags(m));
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"getfd\", \"arguments\": {\"fdname\": \"%s\"}}", name);
    JsonNode *reply;

    model_log(m, "actor %d: %s%s", a->id, text, no_fd ? " without fd" : "");
    reply = actor_send(m, a, no_fd ? NULL : &desc_at(m, d)->tfd, no_fd ? 0 : 1,
                       false, text);
    if (no_fd) {
        expect_error(m, reply, "getfd", NO_FD_MSG, false);
    } else if (g_ascii_isdigit(name[0])) {
        expect_error(m, reply, "getfd",
                     "Parameter 'fdname' expects a name "
                     "not starting with a digit",
                     false);
    } else {
        expect_ok(m, reply, "getfd");
        g_hash_table_insert(a->named, g_strdup(name), GINT_TO_POINTER(d));
    }
    json_node_unref(reply);
}

static void op_closefd(Model *m)
{
    static const char *const names[] = {"a", "b", "c", "zz"};
    Actor *a = pick_actor(m);
    const char *name = names[rnd(m, G_N_ELEMENTS(names))];
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"closefd\", \"arguments\": {\"fdname\": \"%s\"}}",
        name);
    JsonNode *reply;

    model_log(m, "actor %d: %s", a->id, text);
    reply = actor_send(m, a, NULL, 0, false, text);
    if (g_hash_table_remove(a->named, name)) {
        expect_ok(m, reply, "closefd");
    } else {
        g_autofree char *err =
            g_strdup_printf("File descriptor named '%s' not found", name);
        expect_error(m, reply, "closefd", err, false);
    }
    json_node_unref(reply);
}

/* fds with a command that takes none: closed after it. */
static void op_stray_fds(Model *m)
{
    static const char *const cmds[] = {
        "{\"execute\": \"query-version\"}",
        "{\"execute\": \"query-fdsets\"}",
        "{\"execute\": \"remove-fd\", \"arguments\": {\"fdset-id\": 999}}",
        "{\"execute\": \"no-such-command\"}",
    };
    Actor *a = pick_actor(m);
    int fds[4], n = 1 + rnd(m, 4), which = rnd(m, G_N_ELEMENTS(cmds));
    bool on_blank = chance(m, 30);
    JsonNode *reply;

    for (int i = 0; i < n; i++) {
        fds[i] = desc_at(m, desc_new(m, rnd(m, NFILES), random_flags(m)))->tfd;
    }
    model_log(m, "actor %d: %s with %d stray fds%s", a->id, cmds[which], n,
              on_blank ? " on a blank" : "");
    reply = actor_send(m, a, fds, n, on_blank, cmds[which]);
    if (which < 2) {
        expect_ok(m, reply, "command with stray fds");
    } else {
        ck_assert_msg(qtest_error_desc(reply), "%s succeeded", cmds[which]);
    }
    json_node_unref(reply);
}

static Actor *actor_new(Model *m, guint monitor)
{
    Actor *a = g_new0(Actor, 1);

    a->id = ++m->next_actor;
    a->monitor = monitor;
    a->c = qtest_connect(m->s, monitor);
    a->named = m->named[monitor];
    g_ptr_array_add(m->actors, a);
    return a;
}

static void op_connect(Model *m)
{
    guint mon = rnd(m, m->cfg.n_monitors);

    if (m->actors->len >= MAX_ACTORS) {
        return;
    }
    model_log(m, "connect actor %d to monitor %u", m->next_actor + 1, mon);
    actor_new(m, mon);
}

/* The connection goes: the rules of "Ownership and lifetime". */
static void op_disconnect(Model *m)
{
    Actor *a = pick_actor(m);

    model_log(m, "disconnect actor %d (its monitor keeps %u named fds)",
              a->id, g_hash_table_size(a->named));
    qtest_disconnect(a->c);
    for (guint i = 0; i < m->sets->len;) {
        MSet *set = g_ptr_array_index(m->sets, i);

        for (guint j = 0; j < set->members->len;) {
            MMember *mm = member_at(set, j);
            if (mm->owner != a->id) {
                j++;
            } else if (set->dups) {
                mm->owner = OWNER_ORPHAN; /* closed with the last dup */
                m->n_orphaned++;
                j++;
            } else {
                member_close(m, set, j, "disconnect");
            }
        }
        if (!set->members->len && !set->dups) {
            set_maybe_free(m, set);
        } else {
            i++;
        }
    }
    g_ptr_array_remove(m->actors, a);
    g_free(a);
    m->events_unordered = true;
}

/* ---- a run -------------------------------------------------------------- */

static guint env_uint(const char *name, guint def)
{
    const char *v = g_getenv(name);

    return v && *v ? (guint)g_ascii_strtoull(v, NULL, 10) : def;
}

static void choose_config(Model *m)
{
    Config *c = &m->cfg;

    c->n_monitors = 2 + rnd(m, 2);
    c->persistent_default = chance(m, 25);
    c->strict_same_file = chance(m, 20);
    if (chance(m, 40)) {
        c->max_sets = 3 + rnd(m, 5);
        c->max_per_set = 2 + rnd(m, 4);
        c->max_total = 6 + rnd(m, 10);
    }
    c->n_cmdline = chance(m, 30) ? 1 + rnd(m, 3) : 0;
}

static char *config_args(Model *m, GArray *inherit)
{
    GString *s = g_string_new(NULL);
    Config *c = &m->cfg;

    if (c->persistent_default) {
        g_string_append(s, " --persistent-fds");
    }
    if (c->strict_same_file) {
        g_string_append(s, " --strict-same-file");
    }
    if (c->max_sets) {
        g_string_append_printf(s,
                               " --max-sets %u --max-fds-per-set %u "
                               "--max-fds-total %u",
                               c->max_sets, c->max_per_set, c->max_total);
    }
    for (guint i = 0; i < c->n_cmdline; i++) {
        int target = 100 + i;
        int64_t id = rnd(m, 6);
        MSet *set = set_find(m, id);
        int file = (int)(id % NFILES);
        int d;
        MMember mm = {.fd = -1, .owner = OWNER_PROCESS};

        if (m->cfg.strict_same_file && set) {
            file = desc_at(m, member_at(set, 0)->desc)->file;
        }
        d = desc_new(m, file, chance(m, 50) ? O_RDONLY : O_RDWR);
        if (!set) {
            if (c->max_sets && m->sets->len >= c->max_sets) {
                continue;
            }
            set = g_new0(MSet, 1);
            set->id = id;
            set->members = g_array_new(FALSE, TRUE, sizeof(MMember));
            g_ptr_array_add(m->sets, set);
        }
        if ((c->max_per_set && set->members->len >= c->max_per_set) ||
            (c->max_total && total_members(m) >= c->max_total)) {
            continue;
        }
        mm.desc = d;
        mm.opaque = g_strdup_printf("cmdline%u", i);
        g_array_append_val(set->members, mm);
        g_array_append_val(inherit, target);
        g_array_append_val(inherit, desc_at(m, d)->tfd);
        g_string_append_printf(
            s, " -add-fd fd=%d,set=%" PRId64 ",opaque=cmdline%u", target, id,
            i);
    }
    return g_string_free(s, FALSE);
}

/* The numbers -add-fd members got: from query-fdsets, in order. */
static void learn_cmdline_fds(Model *m)
{
    JsonNode *r = qtest_qmp(m->obs, "{'execute': 'query-fdsets'}");
    JsonArray *sets = qtest_return_array(r);

    for (guint i = 0; i < json_array_get_length(sets); i++) {
        JsonObject *js = json_array_get_object_element(sets, i);
        MSet *set = set_find(m, json_object_get_int_member(js, "fdset-id"));
        JsonArray *fds = json_object_get_array_member(js, "fds");

        ck_assert_msg(set && set->members->len == json_array_get_length(fds),
                      "-add-fd sets differ from the model");
        for (guint j = 0; j < set->members->len; j++) {
            member_at(set, j)->fd = json_object_get_int_member(
                json_array_get_object_element(fds, j), "fd");
        }
    }
    json_node_unref(r);
}

/* The file pool lives in a directory of its own: -add-fd needs the files
 * before the daemon (and its scratch directory) exists. */
static void make_files(Model *m)
{
    g_autoptr(GError) err = NULL;
    int fd;

    m->pool_dir = g_dir_make_tmp("fdsetd-model-XXXXXX", &err);
    ck_assert_msg(m->pool_dir, "mkdtemp: %s", err ? err->message : "?");
    for (int i = 0; i < NFILES; i++) {
        g_autofree char *data = g_malloc(65536);

        memset(data, 'a' + i, 65536);
        m->files[i] = g_strdup_printf("%s/pool%d.img", m->pool_dir, i);
        ck_assert(g_file_set_contents(m->files[i], data, 65536, NULL));
        ck_assert_int_eq(stat(m->files[i], &m->file_st[i]), 0);
    }
    fd = open(m->files[0], O_RDONLY | O_DIRECT | O_CLOEXEC);
    m->direct_ok = fd >= 0;
    if (fd >= 0) {
        close(fd);
    }
}

static void model_start(Model *m)
{
    g_autoptr(GArray) inherit = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *args = NULL;
    ProcView v;
    long k;

    make_files(m);
    args = config_args(m, inherit);
    m->args = g_strdup_printf(" %u monitors%s%s%s", m->cfg.n_monitors, args,
                              m->kcmp_ok ? "" : "",
                              m->direct_ok ? "" : " (no O_DIRECT)");
    m->s = qtest_spawn_full(args, m->cfg.n_monitors, (const int *)inherit->data,
                            inherit->len / 2);
    m->obs = qtest_connect_raw(m->s, 0);
    qtest_assert_success(qtest_qmp(m->obs, "{'execute': 'qmp_capabilities', "
                                           "'arguments': {'enable': "
                                           "['fdset-events']}}"));
    for (guint i = 1; i < m->cfg.n_monitors; i++) {
        actor_new(m, i);
    }
    learn_cmdline_fds(m);
    k = syscall(SYS_kcmp, getpid(), qtest_pid(m->s), KCMP_FILE, 0, 0);
    m->kcmp_ok = k >= 0;
    proc_view(m, &v);
    m->other_fds = v.other;
    g_array_unref(v.files);
    model_log(m,
              "seed %u: %u monitors%s%s, limits %u/%u/%u, %u -add-fd, "
              "O_DIRECT %s, kcmp %s, args:%s",
              m->seed, m->cfg.n_monitors,
              m->cfg.persistent_default ? ", --persistent-fds" : "",
              m->cfg.strict_same_file ? ", --strict-same-file" : "",
              m->cfg.max_sets, m->cfg.max_per_set, m->cfg.max_total,
              m->cfg.n_cmdline, m->direct_ok ? "yes" : "no",
              m->kcmp_ok ? "yes" : "no", args);
    verify(m, false);
}

static void one_step(Model *m)
{
    int r = rnd(m, 100);
    bool settle = false;

    if (r < 26 && total_members(m) < 100) {
        op_add_fd(m);
    } else if (r < 26) {
        op_remove_fd(m); /* keep long runs (and each check) bounded */
    } else if (r < 36) {
        op_remove_fd(m);
    } else if (r < 51) {
        op_blockdev_add(m);
    } else if (r < 61) {
        op_blockdev_del(m);
    } else if (r < 70) {
        op_blockdev_reopen(m);
    } else if (r < 76) {
        op_getfd(m);
    } else if (r < 80) {
        op_closefd(m);
    } else if (r < 84) {
        op_stray_fds(m);
    } else if (r < 92) {
        op_connect(m);
    } else if (m->actors->len > 1 || chance(m, 30)) {
        op_disconnect(m);
        settle = true;
    }
    if (!m->actors->len) {
        op_connect(m);
    }
    verify(m, settle);
}

static void model_end(Model *m)
{
    /* a clean exit releases everything (sanitizer builds check the rest) */
    while (m->actors->len) {
        Actor *a = g_ptr_array_index(m->actors, 0);
        g_ptr_array_remove_index(m->actors, 0);
        g_free(a);
    }
    for (guint i = 0; i < MAX_MONITORS; i++) {
        g_clear_pointer(&m->named[i], g_hash_table_unref);
    }
    ck_assert_int_eq(qtest_quit(m->s), 0);
    for (guint i = 0; i < m->descs->len; i++) {
        if (desc_at(m, i)->tfd >= 0) {
            close(desc_at(m, i)->tfd);
        }
    }
    for (int i = 0; i < NFILES; i++) {
        unlink(m->files[i]);
        g_free(m->files[i]);
    }
    rmdir(m->pool_dir);
    if (!m->kcmp_ok) {
        fprintf(stderr, "model: kcmp() unavailable, descriptions were told "
                        "apart by file and flags only\n");
    }
    g_free(m->pool_dir);
    fprintf(stderr,
            "model seed %u: %u steps, %u commands (%u refused as "
            "predicted, %u by a limit), %u dups made, %u reopens, %u "
            "members orphaned and %u closed with their set's last dup, up "
            "to %u members and %u nodes at once, %u connections;%s\n",
            m->seed, m->steps, m->n_cmds, m->n_errors, m->n_limits, m->n_dups,
            m->n_reopened, m->n_orphaned, m->n_reaped, m->max_members,
            m->max_dups, m->next_actor, m->args);
}

START_TEST(test_model)
{
    Model *m = g_new0(Model, 1);

    m->seed = env_uint("MODEL_SEED", 1) + _i;
    m->steps = env_uint("MODEL_STEPS", 800);
    m->rand = g_rand_new_with_seed(m->seed);
    m->descs = g_array_new(FALSE, FALSE, sizeof(Desc));
    m->sets = g_ptr_array_new_with_free_func((GDestroyNotify)set_free);
    m->nodes = g_ptr_array_new_with_free_func((GDestroyNotify)node_free);
    m->actors = g_ptr_array_new();
    for (guint i = 0; i < MAX_MONITORS; i++) {
        m->named[i] =
            g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    g_queue_init(&m->want_events);
    g_queue_init(&m->log);
    choose_config(m);
    model_start(m);
    for (m->step = 1; m->step <= m->steps; m->step++) {
        one_step(m);
    }
    m->step = m->steps;
    model_end(m);
    g_ptr_array_unref(m->sets);
    g_ptr_array_unref(m->nodes);
    g_ptr_array_unref(m->actors);
    g_array_unref(m->descs);
    g_queue_clear_full(&m->log, g_free);
    g_free(m->args);
    g_rand_free(m->rand);
    g_free(m);
}
END_TEST

/*
 * Found by the model: reopening a read-write node to read-only needs a
 * read-only member (design: "back to read-only after the commit, the old
 * dup released with qemu_close"; "On failure the node keeps its old fd").
 * With auto-read-only the node already opens read-only (QEMU 7.2's dynamic
 * auto-read-only): without a read-only member its blockdev-add fails, as
 * QEMU's does (measured).
 */
START_TEST(test_reopen_auto_ro_to_read_only)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *path = qtest_make_file(s, "rw.img", 65536, 'r');
    int rw = qtest_open_file(s, path, O_RDWR);
    int member = qtest_add_fd(c, rw, 1, NULL, NULL);
    JsonNode *r;
    JsonArray *nodes;

    qtest_assert_success(
        qtest_qmp(c, "{'execute': 'blockdev-add', "
                     "'arguments': {'driver': 'file', 'node-name': 'n', "
                     "'filename': '/dev/fdset/1', 'read-only': false}}"));
    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'blockdev-reopen', "
                     "'arguments': {'options': [{'driver': 'file', "
                     "'node-name': 'n', "
                     "'filename': '/dev/fdset/1', 'read-only': true}]}}"),
        "GenericError",
        "Could not dup FD for /dev/fdset/1 flags 0: Permission denied");
    /* the node kept its read-write dup and says so */
    r = qtest_qmp(c, "{'execute': 'query-named-block-nodes'}");
    nodes = qtest_return_array(r);
    ck_assert_uint_eq(json_array_get_length(nodes), 1);
    ck_assert_msg(!json_object_get_boolean_member(
                      json_array_get_object_element(nodes, 0), "ro"),
                  "the failed reopen left the node read-only");
    json_node_unref(r);
    ck_assert_int_eq(qtest_fdset_dup_count(c, 1), 1);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'n'}}"));
    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'blockdev-add', "
                     "'arguments': {'driver': 'file', 'node-name': 'n', "
                     "'filename': '/dev/fdset/1', 'read-only': false, "
                     "'auto-read-only': true}}"),
        "GenericError",
        "Could not dup FD for /dev/fdset/1 flags 0: Permission denied");
    ck_assert_int_eq(qtest_fdset_dup_count(c, 1), 0);
    ck_assert_str_eq(qtest_fd_mode(s, member), "rw");
    close(rw);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

/*
 * The same when only cache.direct changes: an auto-read-only node with
 * cache.direct on a set of an O_RDONLY|O_DIRECT and an O_RDWR member reads
 * through the first; a reopen without O_DIRECT finds no O_RDONLY member
 * without it, fails, and the node keeps its fd and says so.
 */
START_TEST(test_reopen_auto_ro_direct_change)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *path = qtest_make_file(s, "d.img", 65536, 'd');
    int fd = qtest_open_file(s, path, O_RDONLY | O_DIRECT);
    int fd2 = qtest_open_file(s, path, O_RDWR);
    JsonNode *r;
    JsonObject *node;

    qtest_add_fd(c, fd, 2, NULL, NULL);
    qtest_add_fd(c, fd2, 2, NULL, NULL);
    qtest_assert_success(
        qtest_qmp(c, "{'execute': 'blockdev-add', "
                     "'arguments': {'driver': 'file', 'node-name': 'n', "
                     "'filename': '/dev/fdset/2', 'read-only': false, "
                     "'auto-read-only': true, 'cache': {'direct': true}}}"));
    qtest_assert_error(
        qtest_qmp(
            c, "{'execute': 'blockdev-reopen', "
               "'arguments': {'options': [{'driver': 'file', 'node-name': 'n', "
               "'filename': '/dev/fdset/2', 'read-only': false, "
               "'auto-read-only': true, 'cache': {'direct': false}}]}}"),
        "GenericError",
        "Could not dup FD for /dev/fdset/2 flags 0: Permission denied");
    r = qtest_qmp(c, "{'execute': 'query-named-block-nodes'}");
    node = json_array_get_object_element(qtest_return_array(r), 0);
    ck_assert(!json_object_get_boolean_member(node, "ro"));
    ck_assert(json_object_get_boolean_member(
        json_object_get_object_member(node, "cache"), "direct"));
    json_node_unref(r);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'n'}}"));
    close(fd);
    close(fd2);
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("model");
    TCase *tc = tcase_create("model"), *pinned;
    guint seeds = env_uint("MODEL_SEEDS", 4);
    guint steps = env_uint("MODEL_STEPS", 800);
    SRunner *r;
    int failed;

    /* about 1 ms a step, with a wide margin for sanitizer builds */
    tcase_set_timeout(tc, 60 + steps / 20);
    tcase_add_loop_test(tc, test_model, 0, seeds);
    suite_add_tcase(su, tc);
    pinned = tcase_create("found-by-the-model");
    tcase_set_timeout(pinned, 60);
    tcase_add_test(pinned, test_reopen_auto_ro_to_read_only);
    tcase_add_test(pinned, test_reopen_auto_ro_direct_change);
    suite_add_tcase(su, pinned);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
