/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Event delivery.  Anything may emit an event from any thread; the sink
 * (the monitor, which timestamps events and writes them to every
 * negotiated connection) is only ever called on the thread that owns the
 * default GMainContext, one event at a time, in emission order.
 *
 * Events emitted on other threads (block job workers) go to a locked
 * queue, and an idle source on the default context is attached to drain
 * it; attaching wakes the context.  The owner thread first moves that
 * queue over and then appends its own event, so the lock defines the
 * order.  Delivery goes through one owner-only list, so an event emitted
 * by the sink itself is delivered after the one being delivered.
 *
 * The generated qapi_event_send_<name>() write the event's data as QMP
 * text and hand it to qapi_event_emit(); the sink borrows the name and the
 * text for the duration of the call.  Events emitted while no sink is set
 * are dropped.
 */
#include "qapi/qmp.h"

typedef struct QapiEvent {
    char *name;
    char *data;                     /* QMP text, may be NULL */
} QapiEvent;

static GMutex event_lock;
static GQueue remote_events;        /* QapiEvent *, under event_lock */
static bool drain_scheduled;        /* under event_lock */
static QapiEventSink event_sink;    /* atomic */

/* Owner thread of the default main context only. */
static GQueue pending_events;
static bool delivering;

static void qapi_event_free(QapiEvent *ev)
{
    g_free(ev->data);
    g_free(ev->name);
    g_free(ev);
}

static QapiEventSink current_sink(void)
{
    return (QapiEventSink)g_atomic_pointer_get(&event_sink);
}

void qapi_event_set_sink(QapiEventSink sink)
{
    g_atomic_pointer_set(&event_sink, sink);
}

/* Owner thread: take what other threads queued, keeping their order. */
static void take_remote_events(void)
{
    g_mutex_lock(&event_lock);
    while (!g_queue_is_empty(&remote_events)) {
        g_queue_push_tail(&pending_events, g_queue_pop_head(&remote_events));
    }
    g_mutex_unlock(&event_lock);
}

/* Owner thread: hand everything pending to the sink, oldest first. */
static void deliver_pending(void)
{
    QapiEvent *ev;

    if (delivering) {
        return;                     /* the outer loop will get to it */
    }
    delivering = true;
    while ((ev = g_queue_pop_head(&pending_events))) {
        QapiEventSink sink = current_sink();

        if (sink) {
            sink(ev->name, ev->data);
        }
        qapi_event_free(ev);
    }
    delivering = false;
}

static gboolean drain_remote_events(gpointer opaque)
{
    g_mutex_lock(&event_lock);
    drain_scheduled = false;
    g_mutex_unlock(&event_lock);

    take_remote_events();
    deliver_pending();
    return G_SOURCE_REMOVE;
}

/* Any other thread: queue @ev and make sure the main loop drains it. */
static void queue_remote_event(QapiEvent *ev)
{
    g_mutex_lock(&event_lock);
    g_queue_push_tail(&remote_events, ev);
    if (!drain_scheduled) {
        GSource *source = g_idle_source_new();

        g_source_set_priority(source, G_PRIORITY_DEFAULT);
        g_source_set_callback(source, drain_remote_events, NULL, NULL);
        g_source_set_name(source, "qapi-event-drain");
        g_source_attach(source, NULL);      /* wakes the default context */
        g_source_unref(source);
        drain_scheduled = true;
    }
    g_mutex_unlock(&event_lock);
}

void qapi_event_emit(const char *name, char *data)
{
    QapiEvent *ev;

    g_return_if_fail(name != NULL);

    if (!current_sink()) {
        g_free(data);                   /* nobody listens yet */
        return;
    }
    ev = g_new0(QapiEvent, 1);
    ev->name = g_strdup(name);
    ev->data = data;                    /* the event owns @data now */

    if (g_main_context_is_owner(g_main_context_default())) {
        take_remote_events();
        g_queue_push_tail(&pending_events, ev);
        deliver_pending();
    } else {
        queue_remote_event(ev);
    }
}

void qapi_event_send(const char *name, JsonObject *data)
{
    GString *text;
    JsonNode *node;

    if (!data) {
        qapi_event_emit(name, NULL);
        return;
    }
    text = g_string_sized_new(64);
    node = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(node, data);  /* the node owns @data now */
    json_append_node(text, node, JSON_LAYOUT_QMP);
    json_node_unref(node);
    qapi_event_emit(name, g_string_free(text, FALSE));
}
