/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * libqtest: start the real fdsetd, talk QMP to it over its unix sockets
 * (with SCM_RIGHTS), and check its open fds through /proc.
 *
 * The daemon binary is $FDSETD_BINARY, else build/fdsetd relative to the
 * current directory, else the path meson passes in the test environment.
 * Every failure inside these helpers is a test failure (ck_abort_msg).
 */
#ifndef LIBQTEST_H
#define LIBQTEST_H

#include <glib.h>
#include "qemu/json-parse.h"
#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct QTestState QTestState; /* one daemon */
typedef struct QTestConn QTestConn;   /* one monitor connection */

/*
 * Start the daemon with @n_monitors QMP sockets and @extra_args (split like
 * a shell would; NULL for none).  @inherit maps child fd numbers to the
 * test's fds: inherit[2*i] is the number in the child, inherit[2*i+1] the
 * test's fd (for -add-fd fd=N); @n_inherit counts pairs.  Waits until every
 * socket accepts.
 */
QTestState *qtest_spawn_full(const char *extra_args, guint n_monitors,
                             const int *inherit, guint n_inherit);
QTestState *qtest_spawn(const char *extra_args); /* one monitor */

/* Spawn expecting start-up failure: returns exit status, stderr in *err. */
int qtest_spawn_expect_fail(const char *extra_args, const int *inherit,
                            guint n_inherit, char **err);

pid_t qtest_pid(QTestState *s);
const char *qtest_socket_path(QTestState *s, guint monitor);
const char *qtest_tmpdir(QTestState *s); /* per-test scratch directory */

/* Connect to monitor @monitor; the greeting is read and checked. */
QTestConn *qtest_connect_raw(QTestState *s, guint monitor);
/* ... and qmp_capabilities sent. */
QTestConn *qtest_connect(QTestState *s, guint monitor);
void qtest_disconnect(QTestConn *c);
const char *qtest_conn_greeting_text(QTestConn *c);

/*
 * Send a command (printf-style JSON text; use %s with qtest_json_str() for
 * strings) with optional fds in the same sendmsg, and wait for its response
 * (events that arrive meanwhile are queued).  Returns the whole response
 * object; free with json_node_unref.
 */
JsonNode *qtest_qmp(QTestConn *c, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
JsonNode *qtest_qmp_fds(QTestConn *c, const int *fds, guint nfds,
                        const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* Raw bytes (may be partial JSON) with optional fds; no reply is read. */
void qtest_send_raw(QTestConn *c, const void *buf, size_t len, const int *fds,
                    guint nfds);
/* Next message that is not an event (-1 timeout_ms = default 10 s); NULL on
 * timeout or EOF. */
JsonNode *qtest_recv_response(QTestConn *c, int timeout_ms);
/* Next event named @name (queued or new; NULL @name: the next event of any
 * name, in arrival order); NULL on timeout. */
JsonNode *qtest_event_wait(QTestConn *c, const char *name, int timeout_ms);
/* What arrived since the last call, in order, space-separated: event
 * names, "return" or "error" for a response (the greeting too).  Free. */
char *qtest_trace_take(QTestConn *c);
/* Drop queued events. */
void qtest_events_clear(QTestConn *c);
/* True when the peer closed the connection (reads EOF within timeout_ms). */
bool qtest_conn_eof(QTestConn *c, int timeout_ms);

/* Response helpers: NULL when not of that shape. */
JsonObject *qtest_return_object(JsonNode *resp);
JsonArray *qtest_return_array(JsonNode *resp);
const char *qtest_error_class(JsonNode *resp);
const char *qtest_error_desc(JsonNode *resp);
/* Assert an error reply with exactly this class and desc; unrefs @resp. */
void qtest_assert_error(JsonNode *resp, const char *cls, const char *desc);
/* Assert {"return": ...} and unref @resp. */
void qtest_assert_success(JsonNode *resp);
/* JSON-quote @s (returns a new string). */
char *qtest_json_str(const char *s);

/* Test files: create @name in the scratch dir with @size bytes of @pattern,
 * and open it (O_RDONLY/O_WRONLY/O_RDWR); the caller owns the fd. */
char *qtest_make_file(QTestState *s, const char *name, size_t size, int pattern);
int qtest_open_file(QTestState *s, const char *name, int flags);

/* add-fd with @fd; returns the daemon's fd number, stores the set id. */
int qtest_add_fd(QTestConn *c, int fd, int64_t fdset_id /* -1: auto */,
                 const char *opaque /* may be NULL */, int64_t *out_set);

/* query-fdsets, asserted to succeed (json_node_unref the result). */
JsonNode *qtest_query_fdsets(QTestConn *c);
/*
 * query-fdsets as compact text in the daemon's order, e.g.
 * "2['image3:r' #12] 1[]": sets as id[members], each member by its opaque
 * (quoted) or, without one, #fd.  "" when there are no sets.  New string.
 */
char *qtest_fdsets_summary(QTestConn *c);
/* Poll until the summary is @want (after a disconnect, which the daemon
 * handles asynchronously); fails after @timeout_ms (-1: 10 s). */
void qtest_wait_fdsets_summary(QTestConn *c, const char *want,
                               int timeout_ms);
/* dup-count of set @fdset_id; -1 when there is no such set. */
int64_t qtest_fdset_dup_count(QTestConn *c, int64_t fdset_id);
/* The member with daemon fd @fd in a query-fdsets return array, or NULL;
 * its set id goes to *@fdset_id when not NULL. */
JsonObject *qtest_fdsets_find_member(JsonArray *sets, int fd,
                                     int64_t *fdset_id);

/* /proc inspection. */
guint qtest_count_fds(QTestState *s);
/* Number of daemon fds that point at regular files (members, dups, logs). */
guint qtest_count_file_fds(QTestState *s);
/* Assert qtest_count_file_fds() == @expected, allowing the daemon up to 2 s
 * to close what it closes after a reply. */
void qtest_assert_file_fds(QTestState *s, guint expected);
/* Access mode ("ro", "wo", "rw") of daemon fd @fd, NULL if not open. */
const char *qtest_fd_mode(QTestState *s, int fd);

/*
 * The leak check every test ends with: the daemon's regular-file fds are
 * exactly the members query-fdsets lists (each open, same number) plus the
 * sum of the sets' dup-count plus @extra (named fds, logs the test knows
 * of).  Uses @c for query-fdsets.
 */
void qtest_assert_fds_match_registry(QTestState *s, QTestConn *c, guint extra);

/* stat() of what daemon fd @fd points at; false if not open. */
bool qtest_fd_stat(QTestState *s, int fd, struct stat *st);

/* Bits of /proc/PID/fdinfo/@fd "flags:" (O_ACCMODE, O_DIRECT...), -1 if
 * not open. */
int qtest_fd_flags(QTestState *s, int fd);

/* The daemon's stderr so far (new string). */
char *qtest_stderr_text(QTestState *s);

/* Wait for the daemon to exit on its own (after a quit the test sent):
 * its exit status (128+signal when killed), -1 on timeout (-1: 10 s). */
int qtest_wait_exit(QTestState *s, int timeout_ms);

/* Send quit and reap: returns the exit status.  Frees @s and its conns. */
int qtest_quit(QTestState *s);
/* SIGKILL and reap (for tests that leave the daemon wedged). */
void qtest_kill(QTestState *s);

#endif
