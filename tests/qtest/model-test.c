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
#include "model.h"


void model_log(Model *m, const char *fmt, ...)
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


/* Divergence: show how to replay it, the recent operations, then fail. */
void model_fail(Model *m, const char *fmt, ...)
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

int rnd(Model *m, int n)
{
    return g_rand_int_range(m->rand, 0, n);
}

bool chance(Model *m, int percent)
{
    return rnd(m, 100) < percent;
}

MSet *set_find(Model *m, int64_t id)
{
    for (guint i = 0; i < m->sets->len; i++) {
        MSet *set = g_ptr_array_index(m->sets, i);
        if (set->id == id) {
            return set;
        }
    }
    return NULL;
}

MMember *member_at(MSet *set, guint i)
{
    return &g_array_index(set->members, MMember, i);
}

guint total_members(Model *m)
{
    guint n = 0;

    for (guint i = 0; i < m->sets->len; i++) {
        n += ((MSet *)g_ptr_array_index(m->sets, i))->members->len;
    }
    return n;
}

Desc *desc_at(Model *m, int d)
{
    return &g_array_index(m->descs, Desc, d);
}


void want_event(Model *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_queue_push_tail(&m->want_events, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

void set_free(MSet *set)
{
    for (guint i = 0; i < set->members->len; i++) {
        g_free(member_at(set, i)->opaque);
    }
    g_array_unref(set->members);
    g_free(set);
}

/* A set goes when it has neither members nor dups (FDSET_FREED). */
void set_maybe_free(Model *m, MSet *set)
{
    if (set->members->len || set->dups) {
        return;
    }
    want_event(m, "FDSET_FREED fdset-id=%" PRId64, set->id);
    g_ptr_array_remove(m->sets, set); /* frees it */
}

void member_close(Model *m, MSet *set, guint i, const char *reason)
{
    MMember *mm = member_at(set, i);

    want_event(m, "FDSET_FD_REMOVED fdset-id=%" PRId64 " fd=%d reason=%s",
               set->id, mm->fd, reason);
    g_free(mm->opaque);
    g_array_remove_index(set->members, i);
}

/* The last dup of @set went: members whose owner left go with it. */
void dup_released(Model *m, MSet *set)
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
MMember *set_match(Model *m, MSet *set, int flags)
{
    for (int i = (int)set->members->len - 1; i >= 0; i--) {
        MMember *mm = member_at(set, i);
        if (((desc_at(m, mm->desc)->flags ^ flags) & MATCH_FLAGS) == 0) {
            return mm;
        }
    }
    return NULL;
}

int64_t lowest_free_id(Model *m)
{
    for (int64_t id = 0;; id++) {
        if (!set_find(m, id)) {
            return id;
        }
    }
}

/* A fresh open file description of pool file @file; the test keeps it. */
int desc_new(Model *m, int file, int flags)
{
    Desc d = {.file = file, .flags = flags & MATCH_FLAGS};

    d.tfd = open(m->files[file], flags | O_CLOEXEC);
    ck_assert_msg(d.tfd >= 0, "open %s 0x%x: %s", m->files[file], flags,
                  g_strerror(errno));
    g_array_append_val(m->descs, d);
    return m->descs->len - 1;
}

/* Close the test's copies of descriptions the daemon no longer holds. */
void descs_collect(Model *m)
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
    /* the images' sets come on top of the fd world's (model-block.c) */
    if (c->max_sets) {
        c->max_sets += NIMG;
        c->max_total += 2 * NIMG;
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
    block_world_args(m, s, inherit);
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
    for (int i = NFILES; i < NALLFILES; i++) {
        m->files[i] =
            g_strdup_printf("%s/image%d.qcow2", m->pool_dir, i - NFILES);
        ck_assert(g_file_set_contents(m->files[i], "", 0, NULL));
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
    block_world_start(m);
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

    if (chance(m, m->block_percent)) {
        block_world_step(m);
        settle = true; /* jobs' and exports' ends may take a moment */
    } else if (r < 26 && total_members(m) < 100) {
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
    qtest_events_clear(m->bw->c);
    ck_assert_int_eq(qtest_quit(m->s), 0);
    block_world_check_images(m);
    block_world_end(m);
    for (guint i = 0; i < m->descs->len; i++) {
        if (desc_at(m, i)->tfd >= 0) {
            close(desc_at(m, i)->tfd);
        }
    }
    for (int i = 0; i < NALLFILES; i++) {
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
    m->block_percent = env_uint("MODEL_BLOCK_PERCENT", 25);
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

/* query-named-block-nodes' "ro" of node @name. */
static bool node_ro(QTestConn *c, const char *name)
{
    JsonNode *r = qtest_qmp(c, "{'execute': 'query-named-block-nodes'}");
    JsonArray *a = qtest_return_array(r);
    int ro = -1;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *o = json_array_get_object_element(a, i);

        if (g_str_equal(json_object_get_string_member(o, "node-name"), name)) {
            ro = json_object_get_boolean_member(o, "ro");
        }
    }
    json_node_unref(r);
    ck_assert_msg(ro >= 0, "no node '%s'", name);
    return ro;
}

/* A qcow2 image of 1 MiB in the scratch dir, by qemu-img. */
static char *make_qcow2(QTestState *s, const char *name)
{
    char *path = g_build_filename(qtest_tmpdir(s), name, NULL);
    g_autofree char *cmd =
        g_strdup_printf("qemu-img create -q -f qcow2 %s 1M", path);
    int status;

    ck_assert(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
    ck_assert_msg(g_spawn_check_wait_status(status, NULL), "%s failed", cmd);
    return path;
}

/* libvirt's two-member set @id on @path and an auto-read-only file node. */
static void add_image(QTestState *s, QTestConn *c, const char *path,
                      int64_t id, const char *node)
{
    g_autofree char *q = qtest_json_str(node);

    for (int k = 0; k < 2; k++) {
        int fd = qtest_open_file(s, path, k ? O_RDWR : O_RDONLY);

        qtest_add_fd(c, fd, id, NULL, NULL);
        close(fd);
    }
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'blockdev-add', 'arguments': "
                                   "{'driver': 'file', 'node-name': %s, "
                                   "'filename': '/dev/fdset/%" PRId64 "', "
                                   "'auto-read-only': true}}",
                                   q, id));
}

/*
 * Found by the model: reopening a qcow2 node read-only made its file node
 * (added on its own, auto-read-only) read-only too, so a read-write qcow2
 * node could not use it afterwards.  QEMU reopens only children it opened
 * implicitly: the file node stays "ro": false, and only its fd follows its
 * users (measured on QEMU 7.2).
 */
START_TEST(test_reopen_format_ro_keeps_auto_ro_file)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *path = make_qcow2(s, "a.qcow2");

    add_image(s, c, path, 1, "f");
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q', 'file': 'f', 'backing': null}}"));
    qtest_assert_success(
        qtest_qmp(c, "{'execute': 'blockdev-reopen', 'arguments': "
                     "{'options': [{'driver': 'qcow2', 'node-name': 'q', "
                     "'file': 'f', 'read-only': true, 'backing': null}]}}"));
    ck_assert(node_ro(c, "q"));
    ck_assert_msg(!node_ro(c, "f"), "the file node became read-only");
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'q'}}"));
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q', 'file': 'f', 'read-only': false, "
           "'backing': null}}"));
    ck_assert(!node_ro(c, "q"));
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'q'}}"));
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'f'}}"));
    qtest_assert_fds_match_registry(s, c, 0);
    ck_assert_int_eq(qtest_quit(s), 0);
}
END_TEST

/*
 * Found by the model: blockdev-reopen made a qcow2 node read-only under a
 * writable NBD export (and its file node went to its read-only dup).
 * QEMU 7.2 refuses, measured: "Read-only block node 'q' cannot support
 * read-write users"; nothing changes.
 */
START_TEST(test_reopen_ro_under_writable_export)
{
    QTestState *s = qtest_spawn(NULL);
    QTestConn *c = qtest_connect(s, 0);
    g_autofree char *path = make_qcow2(s, "a.qcow2");
    g_autofree char *sock = g_build_filename(qtest_tmpdir(s), "nbd.sock", NULL);
    g_autofree char *qsock = qtest_json_str(sock);
    JsonNode *ev;

    add_image(s, c, path, 1, "f");
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'blockdev-add', 'arguments': {'driver': 'qcow2', "
           "'node-name': 'q', 'file': 'f', 'backing': null}}"));
    qtest_assert_success(qtest_qmp(c,
                                   "{'execute': 'nbd-server-start', "
                                   "'arguments': {'addr': {'type': 'unix', "
                                   "'data': {'path': %s}}}}",
                                   qsock));
    qtest_assert_success(qtest_qmp(
        c, "{'execute': 'block-export-add', 'arguments': {'type': 'nbd', "
           "'id': 'e', 'node-name': 'q', 'writable': true}}"));
    qtest_assert_error(
        qtest_qmp(c, "{'execute': 'blockdev-reopen', 'arguments': "
                     "{'options': [{'driver': 'qcow2', 'node-name': 'q', "
                     "'file': 'f', 'read-only': true, 'backing': null}]}}"),
        "GenericError",
        "Read-only block node 'q' cannot support read-write users");
    ck_assert(!node_ro(c, "q"));
    ck_assert(!node_ro(c, "f"));
    /* the file node kept its read-write dup: the export still writes */
    ck_assert_int_eq(qtest_fdset_dup_count(c, 1), 1);
    qtest_assert_success(qtest_qmp(c, "{'execute': 'nbd-server-stop'}"));
    ev = qtest_event_wait(c, "BLOCK_EXPORT_DELETED", 20000);
    ck_assert_msg(ev, "no BLOCK_EXPORT_DELETED");
    json_node_unref(ev);
    /* without the export the same reopen works */
    qtest_assert_success(
        qtest_qmp(c, "{'execute': 'blockdev-reopen', 'arguments': "
                     "{'options': [{'driver': 'qcow2', 'node-name': 'q', "
                     "'file': 'f', 'read-only': true, 'backing': null}]}}"));
    ck_assert(node_ro(c, "q"));
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'q'}}"));
    qtest_assert_success(qtest_qmp(c, "{'execute': 'blockdev-del', "
                                      "'arguments': {'node-name': 'f'}}"));
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
    tcase_add_test(pinned, test_reopen_format_ro_keeps_auto_ro_file);
    tcase_add_test(pinned, test_reopen_ro_under_writable_export);
    suite_add_tcase(su, pinned);
    r = srunner_create(su);
    srunner_run_all(r, CK_NORMAL);
    failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

