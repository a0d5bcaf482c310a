/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The model-based test (model-test.c): the model's state, shared by
 * model-test.c (driver and model helpers), model-check.c (comparing with
 * the daemon), model-fdops.c (fd operations) and model-block.c (block
 * graph, job and export operations).
 */
#ifndef MODEL_H
#define MODEL_H

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
#define NIMG 4        /* images of the block world (model-block.c) */
#define NALLFILES (NFILES + NIMG)
#define IMG_SET0 60   /* their fdsets: 60.. (no fd-world op uses them) */
#define MAX_EXPORTS 3
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
    bool image; /* an image's set: only model-block.c uses it */
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

typedef enum ImgFormat { IMG_EMPTY, IMG_RAW, IMG_QCOW2 } ImgFormat;

/*
 * One image of the block world: a file with its own set of an O_RDONLY
 * and an O_RDWR member (libvirt's two-fd group, passed with -add-fd), a
 * file node "fI" (auto-read-only) or the implicit one blockdev-snapshot-
 * sync opened, and a qcow2 node "qI" on it.
 */
typedef struct MImage {
    int64_t set;
    int ro_desc, rw_desc;
    ImgFormat fmt;
    int64_t size;    /* virtual size (qcow2), file size (raw) */
    char *file_node; /* NULL, "fI" or the implicit node's name */
    bool implicit;   /* file_node was opened by snapshot-sync: read-write,
                      * its read-only follows qI's */
    bool q;          /* qI exists */
    bool q_ro;
    int backing;     /* image whose qI is qI's backing, -1: none */
} MImage;

typedef struct MExport {
    char *id;
    int img;
    bool on_file; /* exports fI, not qI */
    bool writable;
} MExport;

typedef enum MJobKind { JOB_NONE, JOB_MIRROR, JOB_ACTIVE_COMMIT } MJobKind;

typedef struct BlockWorld {
    MImage img[NIMG];
    QTestConn *c; /* the manager's connection: block commands, job events */
    bool nbd;     /* the NBD server runs */
    char *nbd_path;
    GPtrArray *exports; /* MExport* */
    MJobKind job;       /* a job in READY, waiting for complete/cancel */
    char *job_id;
    int job_src, job_tgt; /* mirror: source, target; commit: top, base */
    bool job_base_was_ro;
    int next_export, next_job;
    guint n_ops, n_jobs, n_refused, n_exports, n_writes;
} BlockWorld;

typedef struct Config {
    guint n_monitors;
    bool persistent_default;
    bool strict_same_file;
    guint max_sets, max_per_set, max_total; /* 0: default (not reached) */
    guint n_cmdline;                        /* -add-fd members at start-up */
} Config;

typedef struct Model {
    guint seed, step, steps;
    guint block_percent; /* share of steps that are block-world ops */
    GRand *rand;
    Config cfg;
    QTestState *s;
    QTestConn *obs; /* observer: fdset events, queries */
    char *pool_dir;
    char *files[NALLFILES]; /* the pool, then the images */
    struct stat file_st[NALLFILES];
    struct BlockWorld *bw;  /* model-block.c */
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

typedef struct ProcView {
    GArray *files; /* regular-file fds above stdio */
    guint sockets, other;
} ProcView;

void model_log(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void model_fail(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
int rnd(Model *m, int n);
bool chance(Model *m, int percent);
MSet *set_find(Model *m, int64_t id);
MMember *member_at(MSet *set, guint i);
guint total_members(Model *m);
Desc *desc_at(Model *m, int d);
void want_event(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void set_free(MSet *set);
void set_maybe_free(Model *m, MSet *set);
void member_close(Model *m, MSet *set, guint i, const char *reason);
void dup_released(Model *m, MSet *set);
MMember *set_match(Model *m, MSet *set, int flags);
int64_t lowest_free_id(Model *m);
int desc_new(Model *m, int file, int flags);
void descs_collect(Model *m);
const char *mode_name(int flags);
char *flag_names(int flags);
gint cmp_set_desc(gconstpointer a, gconstpointer b);
void append_member(GString *s, int fd, const char *opaque,
                          const char *mode, const char *flags, guint64 dev,
                          guint64 ino, bool persistent);
char *model_fdsets_text(Model *m);
char *daemon_fdsets_text(JsonArray *sets);
gint cmp_str(gconstpointer a, gconstpointer b);
char *model_nodes_text(Model *m);
char *daemon_nodes_text(QTestConn *c);
int same_description(Model *m, int tfd, int fd);
void proc_view(Model *m, ProcView *v);
bool fd_in(GArray *fds, int fd);
int fd_file(Model *m, int fd);
int take_matching(Model *m, GArray *cands, int fd);
char *check_proc(Model *m);
char *event_text(JsonNode *ev);
char *check_events(Model *m, GPtrArray *got);
void verify(Model *m, bool settle);
JsonNode *actor_send(Model *m, Actor *a, const int *fds, guint nfds,
                            bool on_blank, const char *text);
void expect_ok(Model *m, JsonNode *r, const char *what);
void expect_error(Model *m, JsonNode *r, const char *what,
                         const char *desc, bool prefix);
Actor *pick_actor(Model *m);
MSet *pick_set(Model *m);
char *random_opaque(Model *m);
int random_flags(Model *m);
const char *add_fd_refusal(Model *m, bool has_id, int64_t id, int file,
                                  bool *prefix);
void op_add_fd(Model *m);
void op_remove_fd(Model *m);
int file_flags(bool ro, bool direct);
MNode *node_find(Model *m, const char *name);
char *dup_error(int64_t id, int flags, const char *why);
void choose_mode(Model *m, MSet *set, bool *ro, bool *direct);
void op_blockdev_add(Model *m);
void node_free(MNode *n);
void op_blockdev_del(Model *m);
void op_blockdev_reopen(Model *m);
void op_getfd(Model *m);
void op_closefd(Model *m);
void op_stray_fds(Model *m);
Actor *actor_new(Model *m, guint monitor);
void op_connect(Model *m);
void op_disconnect(Model *m);

/* model-block.c */
void block_world_args(Model *m, GString *args, GArray *inherit);
void block_world_start(Model *m);
void block_world_end(Model *m);
void block_world_check_images(Model *m);
void block_world_step(Model *m);
void block_world_want_fds(Model *m, GArray *want);
int block_world_dups(Model *m, int64_t set);
guint block_world_sockets(Model *m);
void block_world_node_lines(Model *m, GPtrArray *lines);
char *block_world_check(Model *m);

/* A node name as the checks compare it: an implicit "#block<n>" name (a
 * job's filter) without its number, which the model cannot know. */
static inline const char *model_shown_name(const char *name)
{
    return g_str_has_prefix(name, "#block") ? "#block" : name;
}

#endif
