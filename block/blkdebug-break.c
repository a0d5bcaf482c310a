/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blkdebug breakpoints, QEMU 7.2's qemu-io "break EVENT TAG",
 * "remove_break TAG", "resume TAG" and "wait_break TAG": the next request
 * that announces EVENT on the node is suspended (the breakpoint is then
 * gone) until "resume TAG" or "remove_break TAG" lets it go on.  A request
 * suspends in the thread that runs it, holding whatever locks its driver
 * holds there (qcow2's metadata lock at l2_update), as QEMU's coroutine
 * holds its CoMutex: other requests wait behind it.
 */
#include <errno.h>

#include "block/blkdebug-int.h"
#include "qapi/util.h"

typedef struct BlkdebugBreak {
    BlkdebugEvent event;
    char *tag;
} BlkdebugBreak;

typedef struct BlkdebugSuspended {
    char *tag;
    bool resumed;
} BlkdebugSuspended;

static void break_free(gpointer p)
{
    BlkdebugBreak *b = p;

    g_free(b->tag);
    g_free(b);
}

void blkdebug_break_init(BDRVBlkdebugState *s)
{
    s->breaks = g_ptr_array_new_with_free_func(break_free);
    s->suspended = g_ptr_array_new();
    g_cond_init(&s->break_cond);
}

void blkdebug_break_cleanup(BDRVBlkdebugState *s)
{
    g_assert(s->suspended->len == 0); /* the node was drained */
    g_ptr_array_unref(s->suspended);
    g_ptr_array_unref(s->breaks);
    g_cond_clear(&s->break_cond);
}

/* Called with s->mutex held, from bdrv_debug_event: suspend the request
 * if a breakpoint is on @event (the mutex is released while it waits). */
void blkdebug_break_event_locked(BDRVBlkdebugState *s, BlkdebugEvent event)
{
    BlkdebugSuspended r = {NULL, false};

    for (guint i = 0; i < s->breaks->len; i++) {
        BlkdebugBreak *b = g_ptr_array_index(s->breaks, i);

        if (b->event == event) {
            r.tag = g_strdup(b->tag);
            g_ptr_array_remove_index(s->breaks, i); /* once, as QEMU */
            break;
        }
    }
    if (!r.tag) {
        return;
    }
    g_ptr_array_add(s->suspended, &r);
    g_cond_broadcast(&s->break_cond); /* wait_break */
    while (!r.resumed) {
        g_cond_wait(&s->break_cond, &s->mutex);
    }
    g_free(r.tag);
}

/* The blkdebug node at or below @bs, as QEMU's qemu-io finds it. */
static BDRVBlkdebugState *find_state(BlockDriverState *bs)
{
    while (bs && bs->drv != &bdrv_blkdebug) {
        bs = bs->file;
    }
    return bs ? bs->opaque : NULL;
}

int bdrv_debug_breakpoint(BlockDriverState *bs, const char *event,
                          const char *tag)
{
    BDRVBlkdebugState *s = find_state(bs);
    BlkdebugBreak *b;
    int ev;

    if (!s) {
        return -ENOTSUP;
    }
    ev = qapi_enum_parse(&BlkdebugEvent_lookup, event, -1);
    if (ev < 0) {
        return -ENOENT;
    }
    b = g_new0(BlkdebugBreak, 1);
    b->event = ev;
    b->tag = g_strdup(tag);
    g_mutex_lock(&s->mutex);
    g_ptr_array_add(s->breaks, b);
    g_mutex_unlock(&s->mutex);
    return 0;
}

/* Resume the requests suspended at @tag (@all, or the oldest): how many. */
static int resume_locked(BDRVBlkdebugState *s, const char *tag, bool all)
{
    int n = 0;

    for (guint i = 0; i < s->suspended->len;) {
        BlkdebugSuspended *r = g_ptr_array_index(s->suspended, i);

        if (g_str_equal(r->tag, tag) && (all || n == 0)) {
            r->resumed = true;
            g_ptr_array_remove_index(s->suspended, i);
            n++;
        } else {
            i++;
        }
    }
    if (n) {
        g_cond_broadcast(&s->break_cond);
    }
    return n;
}

int bdrv_debug_remove_breakpoint(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = find_state(bs);
    int ret = -ENOENT;

    if (!s) {
        return -ENOTSUP;
    }
    g_mutex_lock(&s->mutex);
    for (guint i = s->breaks->len; i-- > 0;) {
        BlkdebugBreak *b = g_ptr_array_index(s->breaks, i);

        if (g_str_equal(b->tag, tag)) {
            g_ptr_array_remove_index(s->breaks, i);
            ret = 0;
        }
    }
    if (resume_locked(s, tag, true)) {
        ret = 0; /* QEMU lets the requests at the tag go too */
    }
    g_mutex_unlock(&s->mutex);
    return ret;
}

int bdrv_debug_resume(BlockDriverState *bs, const char *tag)
{
    BDRVBlkdebugState *s = find_state(bs);
    int n;

    if (!s) {
        return -ENOTSUP;
    }
    g_mutex_lock(&s->mutex);
    n = resume_locked(s, tag, false);
    g_mutex_unlock(&s->mutex);
    return n ? 0 : -ENOENT;
}

static bool suspended_locked(BDRVBlkdebugState *s, const char *tag)
{
    for (guint i = 0; i < s->suspended->len; i++) {
        BlkdebugSuspended *r = g_ptr_array_index(s->suspended, i);

        if (g_str_equal(r->tag, tag)) {
            return true;
        }
    }
    return false;
}

bool bdrv_debug_wait_break(BlockDriverState *bs, const char *tag,
                           gint64 timeout_us)
{
    BDRVBlkdebugState *s = find_state(bs);
    gint64 end = g_get_monotonic_time() + timeout_us;
    bool found;

    if (!s) {
        return false;
    }
    g_mutex_lock(&s->mutex);
    do {
        found = suspended_locked(s, tag);
    } while (!found && g_cond_wait_until(&s->break_cond, &s->mutex, end));
    found = found || suspended_locked(s, tag);
    g_mutex_unlock(&s->mutex);
    return found;
}
