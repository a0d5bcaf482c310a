/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Model-based test, the block world: NIMG images, each with its own set of
 * an O_RDONLY and an O_RDWR member (libvirt's two-fd group, passed with
 * -add-fd), driven through blockdev-create (file and qcow2), file and
 * qcow2 nodes, blockdev-reopen read-only <-> read-write, blockdev-snapshot,
 * -snapshot-sync and transaction (all or nothing), block-stream,
 * block-commit (active and not), blockdev-mirror with job-complete and
 * job-cancel, block_resize, and NBD exports with nbd-server-start/-stop.
 *
 * The model knows which nodes exist, their read-only flags, every graph
 * link (x-debug-query-block-graph: file, backing, export and job edges),
 * the jobs waiting in READY (query-block-jobs) and the exports
 * (query-block-exports); and from that which dup each file node holds: an
 * auto-read-only file node holds the O_RDWR member's description only
 * while a writer needs it (a read-write qcow2 node on it, a writable
 * export, the base of a commit), the O_RDONLY one otherwise.  verify()
 * compares all of it, and the fds, after every step.  Jobs run on images
 * of a few MiB and are waited for (their terminal or READY event) before
 * the comparison.
 */
#include "model.h"

#define JOB_WAIT_MS 30000
#define MiB (1024 * 1024)

static MImage *img(Model *m, int i)
{
    return &m->bw->img[i];
}

static char *qname(int i)
{
    return g_strdup_printf("q%d", i);
}

/* ---- what the model derives -------------------------------------------- */

/* An export does not share resize (QEMU 7.2): what taking it on @node
 * answers, as QEMU words it (both users are unnamed block devices). */
static char *export_resize_conflict(const char *node)
{
    return g_strdup_printf("Permission conflict on node '%s': permissions "
                           "'resize' are both required by an unnamed block "
                           "device (uses node '%s' as 'root' child) and "
                           "unshared by an unnamed block device (uses node "
                           "'%s' as 'root' child).",
                           node, node, node);
}

static MExport *export_on(Model *m, int i, bool on_file)
{
    for (guint k = 0; k < m->bw->exports->len; k++) {
        MExport *e = g_ptr_array_index(m->bw->exports, k);
        if (e->img == i && e->on_file == on_file) {
            return e;
        }
    }
    return NULL;
}

/* The first image whose qcow2 node has qI as its backing, -1 if none. */
static int backing_parent(Model *m, int i)
{
    for (int k = 0; k < NIMG; k++) {
        if (img(m, k)->q && img(m, k)->backing == i) {
            return k;
        }
    }
    return -1;
}

static int backing_parents(Model *m, int i)
{
    int n = 0;

    for (int k = 0; k < NIMG; k++) {
        n += img(m, k)->q && img(m, k)->backing == i;
    }
    return n;
}

/* qI is writable now: read-write, or the base of the commit in READY. */
static bool q_writable(Model *m, int i)
{
    BlockWorld *bw = m->bw;

    return img(m, i)->q &&
           (!img(m, i)->q_ro ||
            (bw->job == JOB_ACTIVE_COMMIT && bw->job_tgt == i));
}

/* Does image @i's file node hold the O_RDWR member's description? */
static bool file_rw(Model *m, int i)
{
    MExport *e = export_on(m, i, true);

    if (img(m, i)->implicit) {
        return q_writable(m, i); /* it follows its parent's mode */
    }
    return q_writable(m, i) || (e && e->writable);
}

void block_world_want_fds(Model *m, GArray *want)
{
    for (int i = 0; i < NIMG; i++) {
        MImage *im = img(m, i);

        if (im->file_node) {
            int d = file_rw(m, i) ? im->rw_desc : im->ro_desc;
            g_array_append_val(want, d);
        }
    }
}

int block_world_dups(Model *m, int64_t set)
{
    for (int i = 0; i < NIMG; i++) {
        if (img(m, i)->set == set) {
            return img(m, i)->file_node ? 1 : 0;
        }
    }
    return 0;
}

guint block_world_sockets(Model *m)
{
    return 1 + m->bw->nbd; /* the manager's connection, the NBD listener */
}

/* A mirror or active commit waiting in READY has QEMU 7.2's implicit
 * filter above its source (named "#block..."; the checks drop the
 * number), which the source's exports use meanwhile. */
static bool job_filter(Model *m)
{
    return m->bw->job == JOB_MIRROR || m->bw->job == JOB_ACTIVE_COMMIT;
}

/* The node an export is on, as the daemon names it. */
static char *export_node(Model *m, MExport *e)
{
    if (e->on_file) {
        return g_strdup(img(m, e->img)->file_node);
    }
    if (job_filter(m) && e->img == m->bw->job_src) {
        return g_strdup("#block");
    }
    return qname(e->img);
}

void block_world_node_lines(Model *m, GPtrArray *lines)
{
    if (job_filter(m)) {
        int src = m->bw->job_src;

        g_ptr_array_add(lines,
                        g_strdup_printf("#block ro=%d direct=0",
                                        img(m, src)->q_ro &&
                                            !q_writable(m, src)));
    }
    for (int i = 0; i < NIMG; i++) {
        MImage *im = img(m, i);

        if (im->file_node) {
            /* an implicit child inherits read-only; an auto-read-only node
             * says read-write whatever its fd is */
            g_ptr_array_add(lines, g_strdup_printf("%s ro=%d direct=0",
                                                   im->file_node,
                                                   im->implicit &&
                                                       !q_writable(m, i)));
        }
        if (im->q) {
            g_ptr_array_add(lines,
                            g_strdup_printf("q%d ro=%d direct=0", i,
                                            im->q_ro && !q_writable(m, i)));
        }
    }
}

/* ---- comparing ----------------------------------------------------------- */

static char *sorted_text(GPtrArray *lines)
{
    GString *s = g_string_new(NULL);

    g_ptr_array_sort(lines, cmp_str);
    for (guint i = 0; i < lines->len; i++) {
        g_string_append_printf(s, "  %s\n", (char *)lines->pdata[i]);
    }
    return g_string_free(s, FALSE);
}

static char *model_graph_text(Model *m)
{
    BlockWorld *bw = m->bw;
    g_autoptr(GPtrArray) l = g_ptr_array_new_with_free_func(g_free);

    for (int i = 0; i < NIMG; i++) {
        MImage *im = img(m, i);

        if (im->q) {
            g_ptr_array_add(l, g_strdup_printf("q%d -file-> %s", i,
                                               im->file_node));
        }
        if (im->q && im->backing >= 0) {
            g_ptr_array_add(l, g_strdup_printf("q%d -backing-> q%d", i,
                                               im->backing));
        }
    }
    for (guint k = 0; k < bw->exports->len; k++) {
        MExport *e = g_ptr_array_index(bw->exports, k);
        g_autofree char *on = export_node(m, e);

        g_ptr_array_add(l, g_strdup_printf("(backend) -root-> %s", on));
    }
    if (job_filter(m)) {
        /* QEMU 7.2's edges: the job holds its filter as "main node" */
        g_ptr_array_add(l, g_strdup_printf("#block -backing-> q%d",
                                           bw->job_src));
        g_ptr_array_add(l, g_strdup_printf("%s -main node-> #block",
                                           bw->job_id));
        g_ptr_array_add(l, g_strdup_printf("%s -source-> q%d", bw->job_id,
                                           bw->job_src));
        g_ptr_array_add(l, g_strdup_printf("%s -target-> q%d", bw->job_id,
                                           bw->job_tgt));
        g_ptr_array_add(l, g_strdup_printf("(backend) -root-> q%d",
                                           bw->job_tgt));
    }
    return sorted_text(l);
}

static char *daemon_graph_text(Model *m)
{
    JsonNode *r = qtest_qmp(m->obs, "{'execute': 'x-debug-query-block-graph'}");
    JsonObject *g = qtest_return_object(r);
    JsonArray *nodes = g ? json_object_get_array_member(g, "nodes") : NULL;
    JsonArray *edges = g ? json_object_get_array_member(g, "edges") : NULL;
    g_autoptr(GHashTable) names = g_hash_table_new(NULL, NULL);
    g_autoptr(GPtrArray) l = g_ptr_array_new_with_free_func(g_free);
    char *text;

    for (guint i = 0; nodes && i < json_array_get_length(nodes); i++) {
        JsonObject *n = json_array_get_object_element(nodes, i);
        const char *type = json_object_get_string_member(n, "type");
        const char *name = json_object_get_string_member(n, "name");

        g_hash_table_insert(
            names, GINT_TO_POINTER(json_object_get_int_member(n, "id")),
            (gpointer)(g_str_equal(type, "block-backend")
                           ? "(backend)"
                           : model_shown_name(name)));
    }
    for (guint i = 0; edges && i < json_array_get_length(edges); i++) {
        JsonObject *e = json_array_get_object_element(edges, i);

        g_ptr_array_add(
            l, g_strdup_printf(
                   "%s -%s-> %s",
                   (char *)g_hash_table_lookup(
                       names, GINT_TO_POINTER(
                                  json_object_get_int_member(e, "parent"))),
                   json_object_get_string_member(e, "name"),
                   (char *)g_hash_table_lookup(
                       names, GINT_TO_POINTER(
                                  json_object_get_int_member(e, "child")))));
    }
    text = g ? sorted_text(l) : g_strdup("x-debug-query-block-graph failed\n");
    json_node_unref(r);
    return text;
}

static char *model_jobs_exports_text(Model *m)
{
    BlockWorld *bw = m->bw;
    GString *s = g_string_new(NULL);

    if (bw->job) {
        g_string_append_printf(s, "  job %s %s ready\n", bw->job_id,
                               bw->job == JOB_MIRROR ? "mirror" : "commit");
    }
    for (guint k = 0; k < bw->exports->len; k++) {
        MExport *e = g_ptr_array_index(bw->exports, k);
        g_autofree char *on = export_node(m, e);

        g_string_append_printf(s, "  export %s %s\n", e->id, on);
    }
    return g_string_free(s, FALSE);
}

static char *daemon_jobs_exports_text(Model *m)
{
    JsonNode *r = qtest_qmp(m->obs, "{'execute': 'query-block-jobs'}");
    JsonArray *a = qtest_return_array(r);
    GString *s = g_string_new(NULL);

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *j = json_array_get_object_element(a, i);

        g_string_append_printf(s, "  job %s %s %s%s\n",
                               json_object_get_string_member(j, "device"),
                               json_object_get_string_member(j, "type"),
                               json_object_get_string_member(j, "status"),
                               json_object_get_boolean_member(j, "ready")
                                   ? ""
                                   : " (not ready)");
    }
    json_node_unref(r);
    r = qtest_qmp(m->obs, "{'execute': 'query-block-exports'}");
    a = qtest_return_array(r);
    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *e = json_array_get_object_element(a, i);

        g_string_append_printf(s, "  export %s %s%s\n",
                               json_object_get_string_member(e, "id"),
                               model_shown_name(json_object_get_string_member(
                                   e, "node-name")),
                               json_object_get_boolean_member(e,
                                                              "shutting-down")
                                   ? " (shutting down)"
                                   : "");
    }
    json_node_unref(r);
    return g_string_free(s, FALSE);
}

/* The graph, jobs and exports against the model; NULL when they agree. */
char *block_world_check(Model *m)
{
    g_autofree char *want_g = model_graph_text(m);
    g_autofree char *have_g = daemon_graph_text(m);
    g_autofree char *want_j = model_jobs_exports_text(m);
    g_autofree char *have_j = daemon_jobs_exports_text(m);

    if (g_str_equal(want_g, have_g) && g_str_equal(want_j, have_j)) {
        return NULL;
    }
    return g_strdup_printf("graph:\n  model:\n%s  daemon:\n%s"
                           "jobs and exports:\n  model:\n%s  daemon:\n%s",
                           want_g, have_g, want_j, have_j);
}

/* ---- talking to the daemon ----------------------------------------------- */

static JsonNode *bw_send(Model *m, const char *text)
{
    JsonNode *r;

    m->n_cmds++;
    m->bw->n_ops++;
    model_log(m, "block: %s", text);
    qtest_send_raw(m->bw->c, text, strlen(text), NULL, 0);
    r = qtest_recv_response(m->bw->c, -1);
    if (!r) {
        model_fail(m, "no reply to %s", text);
    }
    return r;
}

G_GNUC_PRINTF(3, 4)
static void bw_expect(Model *m, const char *err, const char *fmt, ...)
{
    va_list ap;
    g_autofree char *text = NULL;
    JsonNode *r;

    va_start(ap, fmt);
    text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    r = bw_send(m, text);
    if (err) {
        bool prefix = g_str_has_suffix(err, "...");
        g_autofree char *want =
            prefix ? g_strndup(err, strlen(err) - 3) : g_strdup(err);

        m->bw->n_refused++;
        expect_error(m, r, text, want, prefix);
    } else {
        expect_ok(m, r, text);
    }
    json_node_unref(r);
}

/*
 * Wait for job @id's JOB_STATUS_CHANGE @status on the manager's
 * connection; the error of its BLOCK_JOB_COMPLETED on the way, if any, is
 * returned in *@error.
 */
static void wait_job(Model *m, const char *id, const char *status,
                     char **error)
{
    gint64 deadline = g_get_monotonic_time() + JOB_WAIT_MS * 1000;

    for (;;) {
        int left = (int)((deadline - g_get_monotonic_time()) / 1000);
        JsonNode *ev = qtest_event_wait(m->bw->c, NULL, MAX(left, 1));
        JsonObject *o, *d;
        const char *name;
        bool done = false;

        if (!ev) {
            model_fail(m, "job %s: no JOB_STATUS_CHANGE %s within %d s", id,
                       status, JOB_WAIT_MS / 1000);
        }
        o = json_node_get_object(ev);
        name = json_object_get_string_member(o, "event");
        d = json_object_get_object_member(o, "data");
        if (g_str_equal(name, "JOB_STATUS_CHANGE") &&
            g_str_equal(json_object_get_string_member(d, "id"), id)) {
            const char *st = json_object_get_string_member(d, "status");

            done = g_str_equal(st, status);
            if (!done && g_str_equal(status, "ready") &&
                g_str_equal(st, "concluded")) {
                model_fail(m, "job %s concluded before READY", id);
            }
        } else if (error && g_str_equal(name, "BLOCK_JOB_COMPLETED") &&
                   g_str_equal(json_object_get_string_member(d, "device"),
                               id) &&
                   json_object_has_member(d, "error")) {
            *error = g_strdup(json_object_get_string_member(d, "error"));
        }
        json_node_unref(ev);
        if (done) {
            return;
        }
    }
}

/* The error query-jobs gives for the concluded job @id (NULL: none). */
static char *job_error(Model *m, const char *id)
{
    JsonNode *r = qtest_qmp(m->bw->c, "{'execute': 'query-jobs'}");
    JsonArray *a = qtest_return_array(r);
    char *err = NULL;

    for (guint i = 0; a && i < json_array_get_length(a); i++) {
        JsonObject *j = json_array_get_object_element(a, i);

        if (g_str_equal(json_object_get_string_member(j, "id"), id) &&
            json_object_has_member(j, "error")) {
            err = g_strdup(json_object_get_string_member(j, "error"));
        }
    }
    json_node_unref(r);
    return err;
}

static char *new_job_id(Model *m)
{
    m->bw->n_jobs++;
    return g_strdup_printf("j%d", m->bw->next_job++);
}

/* ---- operations ----------------------------------------------------------
 */

static int pick_img(Model *m)
{
    return rnd(m, NIMG);
}

/* The set's name as the daemon's messages quote it. */
static char *set_path(Model *m, int i)
{
    return g_strdup_printf("/dev/fdset/%" PRId64, img(m, i)->set);
}

/*
 * blockdev-create: a create job; it concludes (with @err as its error, or
 * none) and is dismissed.
 */
static void run_create(Model *m, const char *options, const char *err)
{
    g_autofree char *id = new_job_id(m);
    g_autofree char *got = NULL;

    bw_expect(m, NULL,
              "{\"execute\": \"blockdev-create\", \"arguments\": "
              "{\"job-id\": \"%s\", \"options\": %s}}",
              id, options);
    wait_job(m, id, "concluded", NULL);
    got = job_error(m, id);
    if (err && g_str_has_suffix(err, "...") && got &&
        strncmp(got, err, strlen(err) - 3) == 0) {
        m->bw->n_refused++; /* the predicted error, by its beginning */
    } else if (g_strcmp0(got, err) != 0) {
        model_fail(m, "create job %s: error \"%s\", expected \"%s\"", id,
                   got ? got : "(none)", err ? err : "(none)");
    }
    bw_expect(m, NULL,
              "{\"execute\": \"job-dismiss\", \"arguments\": {\"id\": \"%s\"}}",
              id);
}

static void op_create_file(Model *m)
{
    int i = pick_img(m);
    int64_t size = (1 + rnd(m, 4)) * MiB;
    g_autofree char *path = set_path(m, i);
    g_autofree char *opts = NULL;

    if (img(m, i)->q) {
        return; /* it would truncate an image in use */
    }
    opts = g_strdup_printf("{\"driver\": \"file\", \"filename\": \"%s\", "
                           "\"size\": %" PRId64 "}",
                           path, size);
    run_create(m, opts, NULL);
    img(m, i)->fmt = IMG_RAW;
    img(m, i)->size = size;
}

static void op_create_qcow2(Model *m)
{
    int i = pick_img(m);
    MImage *im = img(m, i);
    int64_t size = (1 + rnd(m, 4)) * MiB;
    bool bad_cluster = chance(m, 10);
    g_autofree char *opts = NULL;
    g_autofree char *err = NULL;

    if (!im->file_node || im->implicit || (im->q && !chance(m, 20))) {
        return;
    }
    opts = g_strdup_printf("{\"driver\": \"qcow2\", \"file\": \"%s\", "
                           "\"size\": %" PRId64 "%s}",
                           im->file_node, size,
                           bad_cluster ? ", \"cluster-size\": 1000" : "");
    if (bad_cluster) {
        err = g_strdup(
            "Cluster size must be a power of two between 512 and 2048k");
    } else if (im->q) {
        err = g_strdup_printf("Permission conflict on node '%s': permissions "
                              "'write, resize' are both required by an "
                              "unnamed block device...",
                              im->file_node);
    } else if (export_on(m, i, true)) {
        err = export_resize_conflict(im->file_node);
    }
    run_create(m, opts, err);
    if (!err) {
        im->fmt = IMG_QCOW2;
        im->size = size;
    }
}

static void op_add_file(Model *m)
{
    int i = pick_img(m);
    MImage *im = img(m, i);
    g_autofree char *path = set_path(m, i);
    g_autofree char *err = NULL;

    if (im->file_node && (im->implicit || !chance(m, 10))) {
        return;
    }
    if (im->file_node) {
        err = g_strdup_printf("Duplicate nodes with node-name='f%d'", i);
    }
    bw_expect(m, err,
              "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
              "\"file\", \"node-name\": \"f%d\", \"filename\": \"%s\", "
              "\"auto-read-only\": true}}",
              i, path);
    if (!err) {
        im->file_node = g_strdup_printf("f%d", i);
    }
}

static void op_del_file(Model *m)
{
    int i = pick_img(m);
    MImage *im = img(m, i);
    g_autofree char *err = NULL;

    if (!im->file_node || im->implicit) {
        return;
    }
    if (im->q) {
        err = g_strdup_printf("Block device f%d is in use", i);
    } else if (export_on(m, i, true)) {
        err = g_strdup_printf("Node f%d is in use", i);
    }
    bw_expect(m, err,
              "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
              "\"f%d\"}}",
              i);
    if (!err) {
        g_clear_pointer(&im->file_node, g_free);
    }
}

static void op_add_qcow2(Model *m)
{
    int i = pick_img(m), b = pick_img(m);
    MImage *im = img(m, i);
    bool ro = chance(m, 40);
    g_autofree char *backing = NULL;

    if (!im->file_node || im->implicit || im->q || im->fmt != IMG_QCOW2 ||
        export_on(m, i, true)) {
        return;
    }
    if (b != i && img(m, b)->q && backing_parent(m, b) < 0 && chance(m, 50)) {
        backing = g_strdup_printf("\"q%d\"", b);
    } else {
        b = -1;
    }
    bw_expect(m, NULL,
              "{\"execute\": \"blockdev-add\", \"arguments\": {\"driver\": "
              "\"qcow2\", \"node-name\": \"q%d\", \"file\": \"f%d\", "
              "\"read-only\": %s, \"backing\": %s}}",
              i, i, ro ? "true" : "false", backing ? backing : "null");
    im->q = true;
    im->q_ro = ro;
    im->backing = b;
}

/* Why qI cannot go (or be snapshotted): a parent uses it.  NULL if none. */
static char *busy_as_backing(Model *m, int i)
{
    int k = backing_parent(m, i);

    if (k < 0) {
        return NULL;
    }
    if (backing_parents(m, i) > 1) {
        return g_strdup_printf("Node 'q%d' is busy: node is used as backing "
                               "hd of '...",
                               i);
    }
    return g_strdup_printf("Node 'q%d' is busy: node is used as backing hd "
                           "of 'q%d'",
                           i, k);
}

static void op_del_qcow2(Model *m)
{
    int i = pick_img(m);
    MImage *im = img(m, i);
    g_autofree char *err = NULL;

    if (!im->q) {
        return;
    }
    if (export_on(m, i, false)) {
        err = g_strdup_printf("Node q%d is in use", i);
    } else {
        err = busy_as_backing(m, i);
    }
    bw_expect(m, err,
              "{\"execute\": \"blockdev-del\", \"arguments\": {\"node-name\": "
              "\"q%d\"}}",
              i);
    if (err) {
        return;
    }
    im->q = false;
    im->backing = -1;
    if (im->implicit) { /* the implicit file node goes with it */
        g_clear_pointer(&im->file_node, g_free);
        im->implicit = false;
    }
}

static void op_reopen_qcow2(Model *m)
{
    int i = pick_img(m);
    MImage *im = img(m, i);
    MExport *e = export_on(m, i, false);
    bool ro;
    g_autofree char *backing = NULL;
    g_autofree char *err = NULL;

    if (!im->q) {
        return;
    }
    ro = chance(m, 80) ? !im->q_ro : im->q_ro;
    backing = im->backing >= 0 ? g_strdup_printf("\"q%d\"", im->backing)
                               : g_strdup("null");
    if (ro && e && e->writable) {
        err = g_strdup_printf("Read-only block node 'q%d' cannot support "
                              "read-write users",
                              i);
    }
    bw_expect(m, err,
              "{\"execute\": \"blockdev-reopen\", \"arguments\": {\"options\": "
              "[{\"driver\": \"qcow2\", \"node-name\": \"q%d\", \"file\": "
              "\"%s\", \"read-only\": %s, \"backing\": %s}]}}",
              i, im->file_node, ro ? "true" : "false", backing);
    if (!err) {
        im->q_ro = ro;
    }
}

/* Parents of qB (backing links, exports) go to qO. */
static void move_parents(Model *m, int b, int o)
{
    for (int k = 0; k < NIMG; k++) {
        if (k != o && img(m, k)->q && img(m, k)->backing == b) {
            img(m, k)->backing = o;
        }
    }
    for (guint k = 0; k < m->bw->exports->len; k++) {
        MExport *e = g_ptr_array_index(m->bw->exports, k);
        if (e->img == b && !e->on_file) {
            e->img = o;
        }
    }
}

/* blockdev-snapshot's verdict on (qB, qO) in the current state. */
static char *snapshot_error(Model *m, int b, int o)
{
    if (!img(m, b)->q) {
        return g_strdup_printf("Cannot find device='q%d' nor node-name='q%d'",
                               b, b);
    }
    if (backing_parent(m, b) >= 0) {
        return busy_as_backing(m, b);
    }
    if (!img(m, o)->q) {
        return g_strdup_printf("Cannot find device='q%d' nor node-name='q%d'",
                               o, o);
    }
    if (backing_parent(m, o) >= 0 || export_on(m, o, false)) {
        return g_strdup("The overlay is already in use");
    }
    if (img(m, o)->backing >= 0) {
        return g_strdup("The overlay already has a backing image");
    }
    if (b == o) {
        return g_strdup_printf("Making 'q%d' a backing child of 'q%d' would "
                               "create a cycle",
                               b, b);
    }
    if (img(m, o)->q_ro && export_on(m, b, false) &&
        export_on(m, b, false)->writable) {
        return g_strdup("Block node is read-only"); /* the export moves */
    }
    return NULL;
}

static void snapshot_apply(Model *m, int b, int o)
{
    move_parents(m, b, o);
    img(m, o)->backing = b;
    img(m, b)->q_ro = true; /* the old top is reopened read-only (QEMU) */
}

static char *snapshot_action(int b, int o)
{
    return g_strdup_printf("{\"type\": \"blockdev-snapshot\", \"data\": "
                           "{\"node\": \"q%d\", \"overlay\": \"q%d\"}}",
                           b, o);
}

static void op_snapshot(Model *m)
{
    int b = pick_img(m), o = pick_img(m);
    g_autofree char *err = NULL;

    if (!img(m, b)->q && chance(m, 80)) {
        return;
    }
    err = snapshot_error(m, b, o);
    bw_expect(m, err,
              "{\"execute\": \"blockdev-snapshot\", \"arguments\": "
              "{\"node\": \"q%d\", \"overlay\": \"q%d\"}}",
              b, o);
    if (!err) {
        snapshot_apply(m, b, o);
    }
}

/*
 * transaction of two actions: blockdev-snapshot pairs, or one and a bad
 * action (abort, or a snapshot of a missing node); all or nothing.
 */
static void op_transaction(Model *m)
{
    int b1 = pick_img(m), o1 = pick_img(m), b2 = pick_img(m),
        o2 = pick_img(m), how = rnd(m, 3);
    MImage saved[NIMG];
    g_autoptr(GArray) saved_exports = g_array_new(FALSE, FALSE, sizeof(int));
    g_autofree char *a1 = snapshot_action(b1, o1), *a2 = NULL;
    g_autofree char *err = snapshot_error(m, b1, o1);

    if (err && chance(m, 70)) {
        return;
    }
    memcpy(saved, m->bw->img, sizeof(saved));
    for (guint k = 0; k < m->bw->exports->len; k++) {
        g_array_append_val(saved_exports,
                           ((MExport *)m->bw->exports->pdata[k])->img);
    }
    if (!err) {
        snapshot_apply(m, b1, o1);
    }
    if (how == 0) {
        a2 = g_strdup("{\"type\": \"abort\", \"data\": {}}");
        err = err ? err : g_strdup("Transaction aborted using Abort action");
    } else if (how == 1) {
        a2 = g_strdup("{\"type\": \"blockdev-snapshot\", \"data\": "
                      "{\"node\": \"nope\", \"overlay\": \"q0\"}}");
        err = err ? err
                  : g_strdup("Cannot find device='nope' nor "
                             "node-name='nope'");
    } else {
        a2 = snapshot_action(b2, o2);
        if (!err) {
            err = snapshot_error(m, b2, o2);
            if (!err) {
                snapshot_apply(m, b2, o2);
            }
        }
    }
    bw_expect(m, err,
              "{\"execute\": \"transaction\", \"arguments\": {\"actions\": "
              "[%s, %s]}}",
              a1, a2);
    if (err) { /* nothing happened */
        memcpy(m->bw->img, saved, sizeof(saved));
        for (guint k = 0; k < m->bw->exports->len; k++) {
            ((MExport *)m->bw->exports->pdata[k])->img =
                g_array_index(saved_exports, int, k);
        }
    }
}

/* The name the daemon gave qI's file child (an implicit node). */
static char *learn_file_child(Model *m, int i)
{
    g_autofree char *prefix = g_strdup_printf("  q%d -file-> ", i);
    g_autofree char *g = daemon_graph_text(m);
    char *p = strstr(g, prefix), *end;

    if (!p) {
        model_fail(m, "q%d has no file child:\n%s", i, g);
    }
    p += strlen(prefix);
    end = strchr(p, '\n');
    return g_strndup(p, end - p);
}

static void op_snapshot_sync(Model *m)
{
    int b = pick_img(m), o = pick_img(m);
    MImage *ov = img(m, o);
    g_autofree char *path = set_path(m, o);
    g_autofree char *err = NULL;

    if (!img(m, b)->q || b == o || ov->file_node || ov->q ||
        ov->fmt != IMG_QCOW2) {
        return;
    }
    err = busy_as_backing(m, b);
    bw_expect(m, err,
              "{\"execute\": \"blockdev-snapshot-sync\", \"arguments\": "
              "{\"node-name\": \"q%d\", \"snapshot-file\": \"%s\", "
              "\"snapshot-node-name\": \"q%d\", \"mode\": \"existing\", "
              "\"format\": \"qcow2\"}}",
              b, path, o);
    if (err) {
        return;
    }
    ov->q = true;
    ov->q_ro = false;
    ov->backing = -1;
    ov->implicit = true;
    ov->file_node = learn_file_child(m, o);
    snapshot_apply(m, b, o);
}

/*
 * The stream job takes every layer below qT sharing no write: a writable
 * export on one of them conflicts.  The text, or NULL.
 */
static char *stream_conflict(Model *m, int t, const char *id)
{
    int n = 0;
    char *first = NULL;

    for (int k = img(m, t)->backing; k >= 0; k = img(m, k)->backing) {
        MExport *e = export_on(m, k, false);

        if (e && e->writable && !n++) {
            first = g_strdup_printf(
                "Permission conflict on node 'q%d': permissions 'write' are "
                "both required by block export '%s' (uses node 'q%d' as "
                "'root' child) and unshared by stream job '%s' (uses node "
                "'q%d' as 'intermediate node' child).",
                k, e->id, k, id, k);
        }
    }
    if (n > 1) {
        g_free(first);
        first = g_strdup("Permission conflict on node '...");
    }
    return first;
}

static void op_stream(Model *m)
{
    int i = pick_img(m);
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;
    g_autofree char *conflict = NULL;

    if (!img(m, i)->q || img(m, i)->backing < 0) {
        return;
    }
    id = new_job_id(m);
    conflict = stream_conflict(m, i, id);
    bw_expect(m, conflict,
              "{\"execute\": \"block-stream\", \"arguments\": {\"job-id\": "
              "\"%s\", \"device\": \"q%d\"}}",
              id, i);
    if (conflict) {
        return;
    }
    wait_job(m, id, "null", &err);
    if (err) {
        model_fail(m, "stream %s failed: %s", id, err);
    }
    img(m, i)->backing = -1;
}

/* Has qI no parent at all (no backing link, no export)? */
static bool q_is_root(Model *m, int i)
{
    return backing_parent(m, i) < 0 && !export_on(m, i, false);
}

/* A non-active commit's link to base qB shares no write: a writable export on it
 * conflicts.  The text, or NULL. */
static char *commit_base_conflict(Model *m, int b)
{
    MExport *e = export_on(m, b, false);

    if (!e || !e->writable) {
        return NULL;
    }
    return g_strdup_printf("Permission conflict on node 'q%d': permissions "
                           "'write' are both required by block export '%s' "
                           "(uses node 'q%d' as 'root' child) and unshared "
                           "by ...",
                           b, e->id, b);
}

/* Commit qT (backing of root qP) into its backing qB. */
static void op_commit(Model *m)
{
    int t = pick_img(m), p, b;
    bool base_grows;
    g_autofree char *id = NULL;
    g_autofree char *err = NULL;

    if (!img(m, t)->q || img(m, t)->backing < 0) {
        return;
    }
    b = img(m, t)->backing;
    p = backing_parent(m, t);
    id = new_job_id(m);
    base_grows = img(m, b)->size < img(m, t)->size;
    if (p < 0) {
        if (!q_is_root(m, t)) {
            return;
        }
        /* active: it waits in READY for job-complete or job-cancel; its
         * link to the base shares writes (QEMU's mirror onto a backing) */
        bw_expect(m, NULL,
                  "{\"execute\": \"block-commit\", \"arguments\": {\"job-id\": "
                  "\"%s\", \"device\": \"q%d\", \"base-node\": \"q%d\"}}",
                  id, t, b);
        if (base_grows) { /* the job grows a shorter base first */
            img(m, b)->size = img(m, t)->size;
        }
        m->bw->job = JOB_ACTIVE_COMMIT;
        m->bw->job_id = g_steal_pointer(&id);
        m->bw->job_src = t;
        m->bw->job_tgt = b;
        wait_job(m, m->bw->job_id, "ready", NULL);
        return;
    }
    if (backing_parents(m, t) > 1 || !q_is_root(m, p)) {
        return;
    }
    err = commit_base_conflict(m, b);
    if (err && export_on(m, t, false)) {
        g_free(err);
        err = g_strdup("Permission conflict on node '...");
    } else if (export_on(m, t, false)) {
        /* the job takes the intermediate node sharing no consistent read */
        err = g_strdup_printf("Permission conflict on node 'q%d': "
                              "permissions 'consistent read' are both "
                              "required by block export '%s' (uses node "
                              "'q%d' as 'root' child) and unshared by commit "
                              "job '%s' (uses node 'q%d' as 'intermediate "
                              "node' child).",
                              t, export_on(m, t, false)->id, t, id, t);
    }
    bw_expect(m, err,
              "{\"execute\": \"block-commit\", \"arguments\": {\"job-id\": "
              "\"%s\", \"device\": \"q%d\", \"top-node\": \"q%d\", "
              "\"base-node\": \"q%d\", \"backing-file\": \"base.qcow2\"}}",
              id, p, t, b);
    if (err) {
        return;
    }
    wait_job(m, id, "null", &err);
    if (err) {
        model_fail(m, "commit %s failed: %s", id, err);
    }
    if (base_grows) {
        img(m, b)->size = img(m, t)->size;
    }
    img(m, p)->backing = b; /* qT keeps its own backing link */
}

static void op_mirror(Model *m)
{
    int s = pick_img(m), t = pick_img(m);
    MImage *tg = img(m, t);
    g_autofree char *id = NULL;

    if (s == t || !img(m, s)->q || !tg->q || tg->q_ro || tg->backing >= 0 ||
        !q_is_root(m, t) || tg->size != img(m, s)->size) {
        return;
    }
    id = new_job_id(m);
    if (backing_parent(m, s) >= 0) {
        bw_expect(m, "Need a root block node",
                  "{\"execute\": \"blockdev-mirror\", \"arguments\": "
                  "{\"job-id\": \"%s\", \"device\": \"q%d\", \"target\": "
                  "\"q%d\", \"sync\": \"full\"}}",
                  id, s, t);
        return;
    }
    bw_expect(m, NULL,
              "{\"execute\": \"blockdev-mirror\", \"arguments\": {\"job-id\": "
              "\"%s\", \"device\": \"q%d\", \"target\": \"q%d\", "
              "\"sync\": \"full\"}}",
              id, s, t);
    m->bw->job = JOB_MIRROR;
    m->bw->job_id = g_steal_pointer(&id);
    m->bw->job_src = s;
    m->bw->job_tgt = t;
    wait_job(m, m->bw->job_id, "ready", NULL);
}

/* The job in READY: job-complete (the pivot) or job-cancel. */
static void op_finish_job(Model *m)
{
    BlockWorld *bw = m->bw;
    bool complete = chance(m, 60);
    g_autofree char *err = NULL;

    bw_expect(m, NULL,
              "{\"execute\": \"%s\", \"arguments\": {\"id\": \"%s\"}}",
              complete ? "job-complete" : "job-cancel", bw->job_id);
    wait_job(m, bw->job_id, "null", &err);
    if (err) {
        model_fail(m, "job %s failed: %s", bw->job_id, err);
    }
    if (complete) {
        move_parents(m, bw->job_src, bw->job_tgt);
    }
    if (complete && bw->job == JOB_ACTIVE_COMMIT) {
        /* the base took the top's place: it stays writable (as QEMU's,
         * which reopens it read-only again only when the job is aborted) */
        img(m, bw->job_tgt)->q_ro = false;
    }
    bw->job = JOB_NONE;
    g_clear_pointer(&bw->job_id, g_free);
}

static void op_resize(Model *m)
{
    int i = pick_img(m), r = rnd(m, 100);
    MImage *im = img(m, i);
    int64_t size = r < 10 ? im->size - 512 * (1 + rnd(m, 8))
                   : r < 15 ? im->size + 1000
                            : im->size + 512 * rnd(m, 2049);
    g_autofree char *err = NULL;

    if (!im->q) {
        return;
    }
    /* fdsetd's (and QEMU's) order: the op blocker, the export's
     * permission conflict, then the driver's checks */
    if (backing_parent(m, i) >= 0 ||
        (m->bw->job && (m->bw->job_src == i || m->bw->job_tgt == i))) {
        /* QEMU's op blocker: a backing node, a job's node */
        err = g_strdup("Device '(null)' is in use");
    } else if (export_on(m, i, false)) {
        g_autofree char *node = g_strdup_printf("q%d", i);

        err = export_resize_conflict(node);
    } else if (size % 512) {
        err = g_strdup("The new size must be a multiple of 512");
    } else if (im->q_ro) {
        err = g_strdup("Block node is read-only");
    }
    bw_expect(m, err,
              "{\"execute\": \"block_resize\", \"arguments\": {\"node-name\": "
              "\"q%d\", \"size\": %" PRId64 "}}",
              i, size);
    if (!err) {
        im->size = size;
    }
}

static void wait_export_deleted(Model *m, const char *id)
{
    for (;;) {
        JsonNode *ev =
            qtest_event_wait(m->bw->c, "BLOCK_EXPORT_DELETED", JOB_WAIT_MS);
        bool match;

        if (!ev) {
            model_fail(m, "no BLOCK_EXPORT_DELETED for %s", id);
        }
        match = g_str_equal(
            json_object_get_string_member(
                json_object_get_object_member(json_node_get_object(ev), "data"),
                "id"),
            id);
        json_node_unref(ev);
        if (match) {
            return;
        }
    }
}

static void export_free(MExport *e)
{
    g_free(e->id);
    g_free(e);
}

static void op_nbd(Model *m)
{
    BlockWorld *bw = m->bw;

    if (!bw->nbd || chance(m, 30)) {
        bw_expect(m, bw->nbd ? "NBD server already running" : NULL,
                  "{\"execute\": \"nbd-server-start\", \"arguments\": "
                  "{\"addr\": {\"type\": \"unix\", \"data\": {\"path\": "
                  "\"%s\"}}}}",
                  bw->nbd_path);
        bw->nbd = true;
        return;
    }
    bw_expect(m, NULL, "{\"execute\": \"nbd-server-stop\"}");
    while (bw->exports->len) {
        wait_export_deleted(m, ((MExport *)bw->exports->pdata[0])->id);
        g_ptr_array_remove_index(bw->exports, 0);
    }
    bw->nbd = false;
}

static void op_export_add(Model *m)
{
    BlockWorld *bw = m->bw;
    int i = pick_img(m);
    MImage *im = img(m, i);
    bool on_file = !im->q, writable = chance(m, 50);
    g_autofree char *node =
        on_file ? g_strdup(im->file_node) : g_strdup_printf("q%d", i);
    g_autofree char *id = g_strdup_printf("e%d", bw->next_export);
    g_autofree char *err = NULL;
    bool ro;

    if (!node || export_on(m, i, on_file) ||
        bw->exports->len >= MAX_EXPORTS || (on_file && im->implicit)) {
        return;
    }
    ro = on_file ? false : im->q_ro;
    if (writable && ro) {
        err = g_strdup("Cannot export read-only node as writable");
    } else if (!bw->nbd) {
        err = g_strdup("NBD server not running");
    }
    bw_expect(m, err,
              "{\"execute\": \"block-export-add\", \"arguments\": {\"type\": "
              "\"nbd\", \"id\": \"%s\", \"node-name\": \"%s\", \"name\": "
              "\"%s\", \"writable\": %s}}",
              id, node, id, writable ? "true" : "false");
    if (!err) {
        MExport *e = g_new0(MExport, 1);

        e->id = g_steal_pointer(&id);
        e->img = i;
        e->on_file = on_file;
        e->writable = writable;
        g_ptr_array_add(bw->exports, e);
        bw->next_export++;
        bw->n_exports++;
    }
}

static void op_export_del(Model *m)
{
    BlockWorld *bw = m->bw;
    MExport *e = bw->exports->len && chance(m, 90)
                     ? g_ptr_array_index(bw->exports, rnd(m, bw->exports->len))
                     : NULL;
    g_autofree char *id = e ? g_strdup(e->id) : g_strdup("e999");
    g_autofree char *err =
        e ? NULL : g_strdup_printf("Export '%s' is not found", id);

    bw_expect(m, err,
              "{\"execute\": \"block-export-del\", \"arguments\": {\"id\": "
              "\"%s\"}}",
              id);
    if (e) {
        wait_export_deleted(m, id);
        g_ptr_array_remove(bw->exports, e);
    }
}

/*
 * A guest write of 64 KiB through qI (HMP qemu-io, through the block
 * layer and its write hooks), so that jobs have data to copy and qcow2
 * allocates; also while a job waits in READY.
 */
static void op_guest_write(Model *m, int i)
{
    MImage *im = img(m, i);
    int64_t off = (int64_t)rnd(m, MAX(im->size / 65536, 1)) * 65536;
    g_autofree char *line = g_strdup_printf("qemu-io q%d \"write -P 0x%02x "
                                            "%" PRId64 " 64k\"",
                                            i, 1 + rnd(m, 254), off);
    g_autofree char *q = qtest_json_str(line);
    g_autofree char *text = g_strdup_printf(
        "{\"execute\": \"human-monitor-command\", \"arguments\": "
        "{\"command-line\": %s}}",
        q);
    JsonNode *r;
    JsonNode *out;

    if (!q_writable(m, i) || off + 65536 > im->size) {
        return;
    }
    r = bw_send(m, text);
    out = json_object_get_member(json_node_get_object(r), "return");
    if (!out || !g_str_has_prefix(json_node_get_string(out), "wrote ")) {
        g_autofree char *t = json_to_string(r, FALSE);
        model_fail(m, "%s: %s", line, t);
    }
    json_node_unref(r);
    m->bw->n_writes++;
}

static void op_write_any(Model *m)
{
    op_guest_write(m, pick_img(m));
}

void block_world_step(Model *m)
{
    static void (*const ops[])(Model *) = {
        op_create_file, op_create_qcow2, op_create_qcow2, op_add_file,
        op_add_file,    op_del_file,     op_add_qcow2,    op_add_qcow2,
        op_add_qcow2,   op_del_qcow2,    op_reopen_qcow2, op_reopen_qcow2,
        op_snapshot,    op_transaction,  op_snapshot_sync, op_stream,
        op_commit,      op_commit,       op_mirror,       op_mirror,
        op_resize,      op_nbd,          op_export_add,   op_export_add,
        op_export_del,  op_write_any,    op_write_any,    op_write_any,
    };

    if (m->bw->job && chance(m, 40)) {
        op_guest_write(m, m->bw->job_src);
    } else if (m->bw->job) {
        op_finish_job(m);
    } else {
        ops[rnd(m, G_N_ELEMENTS(ops))](m);
    }
    qtest_events_clear(m->bw->c);
}

/* ---- set-up --------------------------------------------------------------
 */

/* Each image's two members come on the command line, as libvirt's. */
void block_world_args(Model *m, GString *args, GArray *inherit)
{
    BlockWorld *bw = g_new0(BlockWorld, 1);

    m->bw = bw;
    bw->exports = g_ptr_array_new_with_free_func((GDestroyNotify)export_free);
    for (int i = 0; i < NIMG; i++) {
        MImage *im = img(m, i);
        MSet *set = g_new0(MSet, 1);

        im->set = IMG_SET0 + i;
        im->backing = -1;
        im->ro_desc = desc_new(m, NFILES + i, O_RDONLY);
        im->rw_desc = desc_new(m, NFILES + i, O_RDWR);
        set->id = im->set;
        set->image = true;
        set->members = g_array_new(FALSE, TRUE, sizeof(MMember));
        g_ptr_array_add(m->sets, set);
        for (int k = 0; k < 2; k++) {
            int d = k ? im->rw_desc : im->ro_desc;
            int target = 200 + 2 * i + k;
            MMember mm = {.fd = -1, .desc = d, .owner = OWNER_PROCESS};

            mm.opaque = g_strdup_printf("image%d-%s", i, k ? "rw" : "ro");
            g_array_append_val(set->members, mm);
            g_array_append_val(inherit, target);
            g_array_append_val(inherit, desc_at(m, d)->tfd);
            g_string_append_printf(args,
                                   " -add-fd fd=%d,set=%" PRId64 ",opaque=%s",
                                   target, im->set, mm.opaque);
        }
    }
}

void block_world_start(Model *m)
{
    m->bw->c = qtest_connect(m->s, 0);
    m->bw->nbd_path = g_build_filename(m->pool_dir, "nbd.sock", NULL);
}

/* After the daemon is gone: every qcow2 image it wrote passes qemu-img
 * check. */
void block_world_check_images(Model *m)
{
    for (int i = 0; i < NIMG; i++) {
        g_autofree char *cmd = NULL;
        g_autofree char *out = NULL;
        int status;

        if (img(m, i)->fmt != IMG_QCOW2) {
            continue;
        }
        /* without its backing: a commit records the name "base.qcow2" */
        cmd = g_strdup_printf("qemu-img check 'json:{\"driver\": \"qcow2\", "
                              "\"file\": {\"driver\": \"file\", "
                              "\"filename\": \"%s\"}, \"backing\": null}'",
                              m->files[NFILES + i]);
        ck_assert(g_spawn_command_line_sync(cmd, &out, NULL, &status, NULL));
        if (!g_spawn_check_wait_status(status, NULL)) {
            model_fail(m, "%s failed:\n%s", cmd, out);
        }
    }
}

void block_world_end(Model *m)
{
    BlockWorld *bw = m->bw;

    fprintf(stderr,
            "model seed %u, block world: %u commands (%u refused as "
            "predicted), %u jobs, %u exports, %u guest writes\n",
            m->seed, bw->n_ops, bw->n_refused, bw->n_jobs, bw->n_exports,
            bw->n_writes);
    for (int i = 0; i < NIMG; i++) {
        g_free(img(m, i)->file_node);
    }
    unlink(bw->nbd_path);
    g_free(bw->nbd_path);
    g_free(bw->job_id);
    g_ptr_array_unref(bw->exports);
    g_free(bw);
    m->bw = NULL;
}
