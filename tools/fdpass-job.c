/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fdpass job-wait ID, and qmp JSON --wait: follow a job until it concludes.
 *
 * Progress comes from query-jobs (current-progress / total-progress), asked
 * every POLL_MS or as soon as an event arrives.  The result: a job still
 * listed as "concluded" carries its error, if any; a job that is gone
 * (auto-dismiss) is judged by the events seen on this connection: it failed
 * if it went through "aborting" (BLOCK_JOB_COMPLETED's error or
 * BLOCK_JOB_CANCELLED say how), else it succeeded.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdpass.h"

#define POLL_MS 200
#define BAR_WIDTH 30

typedef struct JobWatch {
    const char *id;
    gboolean seen;        /* listed by query-jobs at least once */
    gboolean aborting;    /* went through "aborting" */
    gboolean cancelled;   /* BLOCK_JOB_CANCELLED */
    gboolean concluded;   /* "concluded" or "null" reported */
    char *error;          /* from BLOCK_JOB_COMPLETED or query-jobs */
    gboolean tty;
    char *shown_status;   /* what the last line/bar showed */
    int shown_pct;
    gboolean bar_drawn;
} JobWatch;

char *fdpass_job_id_of(const char *command, GError **errp)
{
    g_autoptr(JsonNode) root = json_from_string(command, NULL);
    JsonObject *cmd = root ? json_node_get_object(root) : NULL;
    JsonObject *args = cmd && json_object_has_member(cmd, "arguments")
                           ? json_object_get_object_member(cmd, "arguments")
                           : NULL;
    const char *id = NULL;

    if (args) {
        id = json_object_get_string_member(args, "job-id");
        if (!id) {
            id = json_object_get_string_member(args, "device");
        }
    }
    if (!id) {
        usage_error(errp, "%s", "qmp --wait: the command has no job-id "
                    "(nor a block job's device) to wait for");
        return NULL;
    }
    return g_strdup(id);
}

/* Record what an event says about our job. */
static void note_event(JobWatch *w, JsonObject *ev)
{
    const char *name = json_object_get_string_member(ev, "event");
    JsonObject *data = json_object_has_member(ev, "data")
                           ? json_object_get_object_member(ev, "data")
                           : NULL;
    const char *status;

    if (!name || !data) {
        return;
    }
    if (!strcmp(name, "JOB_STATUS_CHANGE") &&
        !g_strcmp0(json_object_get_string_member(data, "id"), w->id)) {
        status = json_object_get_string_member(data, "status");
        w->aborting |= !g_strcmp0(status, "aborting");
        w->concluded |= !g_strcmp0(status, "concluded") ||
                        !g_strcmp0(status, "null");
    } else if (!g_strcmp0(json_object_get_string_member(data, "device"),
                          w->id)) {
        if (!strcmp(name, "BLOCK_JOB_CANCELLED")) {
            w->cancelled = TRUE;
        } else if (!strcmp(name, "BLOCK_JOB_COMPLETED") &&
                   json_object_has_member(data, "error") && !w->error) {
            w->error = g_strdup(json_object_get_string_member(data, "error"));
        }
    }
}

static void drain_events(Conn *c, JobWatch *w)
{
    JsonNode *ev;

    while ((ev = g_queue_pop_head(&c->events))) {
        if (json_node_get_object(ev)) {
            note_event(w, json_node_get_object(ev));
        }
        json_node_unref(ev);
    }
}

static void show(JobWatch *w, const char *status, gint64 cur, gint64 total)
{
    int pct = total > 0 ? (int)MIN(100, cur * 100 / total) : 0;

    if (w->tty) {
        int fill = total > 0 ? (int)MIN(BAR_WIDTH, cur * BAR_WIDTH / total)
                             : 0;
        printf("\r%s %-9s [%.*s%*s] %3d%% %" G_GINT64_FORMAT
               "/%" G_GINT64_FORMAT "\033[K", w->id, status, fill,
               "##############################", BAR_WIDTH - fill, "", pct,
               cur, total);
        w->bar_drawn = TRUE;
    } else if (g_strcmp0(status, w->shown_status) || pct != w->shown_pct) {
        printf("job %s: %s %d%% (%" G_GINT64_FORMAT "/%" G_GINT64_FORMAT
               ")\n", w->id, status, pct, cur, total);
    }
    fflush(stdout);
    g_free(w->shown_status);
    w->shown_status = g_strdup(status);
    w->shown_pct = pct;
}

/* Our job in a query-jobs return value, or NULL. */
static JsonObject *find_job(JsonNode *jobs, const char *id)
{
    JsonArray *arr = json_node_get_array(jobs);

    for (guint i = 0; arr && i < json_array_get_length(arr); i++) {
        JsonObject *j = json_array_get_object_element(arr, i);

        if (j && !g_strcmp0(json_object_get_string_member(j, "id"), id)) {
            return j;
        }
    }
    return NULL;
}

/* One look at the job: TRUE when it is over (*@done). */
static gboolean poll_job(Conn *c, JobWatch *w, gboolean *done, GError **errp)
{
    g_autoptr(JsonNode) jobs =
        qmp_call(c, "{\"execute\": \"query-jobs\"}", NULL, 0, errp);
    JsonObject *j;
    const char *status;

    if (!jobs) {
        return FALSE;
    }
    drain_events(c, w);
    j = find_job(jobs, w->id);
    if (!j) {
        *done = TRUE; /* gone, or never there: the events tell */
        return TRUE;
    }
    w->seen = TRUE;
    status = json_object_get_string_member(j, "status");
    show(w, status ? status : "?",
         json_object_get_int_member(j, "current-progress"),
         json_object_get_int_member(j, "total-progress"));
    if (!g_strcmp0(status, "concluded")) {
        if (json_object_has_member(j, "error") && !w->error) {
            w->error = g_strdup(json_object_get_string_member(j, "error"));
        }
        w->aborting |= w->error != NULL;
        *done = TRUE;
    }
    return TRUE;
}

/* Sleep until POLL_MS passed or something arrived (queued by fill). */
static gboolean wait_a_moment(Conn *c, GError **errp)
{
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    int r;

    do {
        r = poll(&p, 1, POLL_MS);
    } while (r < 0 && errno == EINTR);
    return r <= 0 || fdpass_fill(c, errp);
}

static gboolean job_result(JobWatch *w, GError **errp)
{
    if (!w->seen && !w->concluded && !w->aborting) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED,
                    "no job '%s'", w->id);
        return FALSE;
    }
    if (w->error || w->cancelled || w->aborting) {
        g_set_error(errp, FDPASS_ERROR, FDPASS_ERR_FAILED, "job %s %s%s",
                    w->id, w->error ? "failed: " : "",
                    w->error ? w->error
                    : w->cancelled ? "was cancelled" : "failed");
        return FALSE;
    }
    if (!w->tty) {
        printf("job %s: concluded\n", w->id);
    }
    return TRUE;
}

gboolean fdpass_job_wait(Conn *c, const char *id, GError **errp)
{
    JobWatch w = {.id = id, .tty = isatty(STDOUT_FILENO), .shown_pct = -1};
    gboolean done = FALSE, ok = TRUE;

    c->keep_events = TRUE;
    while (ok && !done) {
        ok = poll_job(c, &w, &done, errp) &&
             (done || wait_a_moment(c, errp));
    }
    if (w.bar_drawn) {
        printf("\n");
    }
    ok = ok && job_result(&w, errp);
    g_free(w.shown_status);
    g_free(w.error);
    return ok;
}
