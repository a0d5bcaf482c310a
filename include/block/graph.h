/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The node graph, for the block layer's own files (blockdev.c, jobs,
 * drivers).  Never included outside block/ and tests.
 *
 * Every node the core creates is a BdrvNode, whose first member is the
 * BlockDriverState drivers see; bdrv_node() gets from one to the other.
 * All graph changes (open, delete, reopen, child replacement) happen on the
 * main loop.  A job's worker thread only does I/O through the bdrv_*
 * wrappers, on nodes the job holds references to and blocks.
 */
#ifndef BLOCK_GRAPH_H
#define BLOCK_GRAPH_H

#include "block/block_int.h"
#include "qapi/qapi-types.h"
#include "block/perm.h"
#include "block/accounting.h"
#include "block/chain.h"

typedef struct BlockJob BlockJob;

/* Where a format node's backing child came from. */
typedef enum BdrvBackingMode {
    BDRV_BACKING_NONE,     /* no backing option and none in the header */
    BDRV_BACKING_HEADER,   /* opened from the name in the image header */
    BDRV_BACKING_EXPLICIT, /* a reference or an inline object */
    BDRV_BACKING_NULL,     /* "backing": null */
} BdrvBackingMode;

typedef struct BdrvNode {
    BlockDriverState bs; /* first: a BlockDriverState * is a node */
    guint64 serial;      /* creation order, for listings */
    bool monitor_owned;  /* blockdev-add, --blockdev, drive_add -n */
    bool inherit_ro;     /* implicit child: read-only follows parent */
    bool inherit_cache;  /* implicit child: cache.* follows parent */
    bool auto_read_only;
    bool no_flush;
    bool force_share;
    const char *discard;       /* "ignore" or "unmap" (static) */
    const char *detect_zeroes; /* "off", "on" or "unmap" (static) */
    BdrvBackingMode backing_mode;
    int blk_users; /* drives and jobs holding it as a root */
    BlockJob *job; /* the job that blocks it, or NULL */
    /* Any thread, with __atomic builtins (write-threshold.c). */
    int64_t write_threshold;   /* 0: off */
    int64_t wr_highest_offset; /* end of the furthest write */
    BdrvAcct acct;             /* query-blockstats (accounting.c) */
    /* permissions (perm.c): who uses this node, newest first (BdrvChild*) */
    GList *parents;
    BdrvChild *file_child;    /* holds bs.file, or NULL */
    BdrvChild *backing_child; /* holds bs.backing, or NULL */
    bool reopening;   /* block-reopen.c: modes are the tentative new ones */
    bool old_read_only; /* ... and this was read_only before */
} BdrvNode;

static inline BdrvNode *bdrv_node(BlockDriverState *bs)
{
    return (BdrvNode *)bs;
}

/* ---- registry and references (block.c) ---- */

/* QEMU's identifier rule: a letter, then letters, digits, '-', '.', '_'. */
bool bdrv_id_wellformed(const char *id);

/* Enter a node whose name is final into the registry (block-open.c). */
void bdrv_register_node(BlockDriverState *bs);

/* The node called @node_name, or NULL.  Borrowed. */
BlockDriverState *bdrv_find_node(const char *node_name);

/*
 * A drive id (its root node) or a node name, as QEMU's lookup does; either
 * may be NULL.  Errors: "Cannot find device='D' nor node-name='N'".
 */
BlockDriverState *bdrv_lookup_bs(const char *device, const char *node_name,
                                 GError **errp);

void bdrv_ref(BlockDriverState *bs);
/* Drop a reference; the last one closes the node and unrefs its children. */
void bdrv_unref(BlockDriverState *bs);

/* Every node, newest first.  Free the list (not the nodes) with
 * g_list_free(). */
GList *bdrv_list_nodes(void);

/* Name checks for a new node: "Invalid node-name: 'x'", "Node name too
 * long", "node-name=x is conflicting with a device id", "Duplicate nodes
 * with node-name='x'". */
bool bdrv_check_new_node_name(const char *name, GError **errp);

/* Does some node use @bs as its file or backing child? */
bool bdrv_has_parent(BlockDriverState *bs);
/* QEMU's "root node": every parent is a BlockBackend ("root" user: a
 * drive, an export, a job's own); a node child or a job's hold on the node
 * ("main node", "source", ...) makes it not one. */
bool bdrv_is_root_node(BlockDriverState *bs);
/* The first node whose backing child is @bs, or NULL. */
BlockDriverState *bdrv_backing_parent(BlockDriverState *bs);
/* Chain walks (contains, overlay, base, depth): block/chain.h. */

/*
 * Make @backing (may be NULL) the backing child of @bs: the child takes a
 * new reference to it and drops the old child's.  The backing child takes
 * its permissions (perm.h); on a conflict false with errp, nothing changed.
 */
bool bdrv_set_backing(BlockDriverState *bs, BlockDriverState *backing,
                      BdrvBackingMode mode, GError **errp);
/* Detach @bs's file and backing children (their references go). */
void bdrv_drop_children(BlockDriverState *bs);
/* Point every node child link to @from at @to instead (false with errp on
 * a permission conflict; the links switched before it stay switched). */
bool bdrv_replace_in_parents(BlockDriverState *from, BlockDriverState *to,
                             GError **errp);

/* Only the users that follow their node (exports) move from @from to @to;
 * the same contract as bdrv_replace_in_parents. */
bool bdrv_replace_followers(BlockDriverState *from, BlockDriverState *to,
                            GError **errp);
/* The drive id whose root is @bs, else its node name. */
const char *bdrv_device_or_node_name(BlockDriverState *bs);

/*
 * Is @bs busy for removal (blockdev-del, drive_del)?  Errors:
 * "Node 'x' is busy: block device is in use by block job: commit",
 * "Node 'x' is busy: node is used as backing hd of 'y'".
 */
bool bdrv_op_blocked(BlockDriverState *bs, GError **errp);

/* Rewrite @bs's header backing name (format drivers). */
int bdrv_change_backing_file(BlockDriverState *bs, const char *backing_file,
                             const char *backing_fmt, GError **errp);

/* Is any part of [offset, offset+bytes) allocated in the layers from @top
 * down to, but not including, @base?  As bdrv_is_allocated. */
int bdrv_is_allocated_above(BlockDriverState *top, BlockDriverState *base,
                            int64_t offset, int64_t bytes, int64_t *pnum,
                            GError **errp);

/* ---- opening (block-open.c) ---- */

const BlockDriver *bdrv_find_driver(const char *name);

/* One node's BlockdevOptions, checked and split (no children opened). */
typedef struct BdrvParsedOptions {
    const BlockDriver *drv;
    const char *node_name; /* borrowed from the options, or NULL */
    const char *filename;  /* protocol drivers */
    bool has_ro, ro, auto_ro, force_share;
    bool has_direct, direct, has_no_flush, no_flush;
    const char *discard, *detect_zeroes; /* static strings */
    JsonNode *file;                      /* borrowed; NULL when absent */
    JsonNode *backing;                   /* borrowed; NULL when absent */
    JsonObject *driver_opts;             /* owned: the driver's own members */
} BdrvParsedOptions;

/*
 * Check the members of @opts (names in errors start with @prefix, e.g.
 * "file"): "Parameter 'x' is missing", "Parameter 'x' is unexpected", type
 * and enum errors.  Release @out with bdrv_parsed_options_clear() (also
 * after a failure).
 */
bool bdrv_parse_options(JsonObject *opts, const char *prefix,
                        BdrvParsedOptions *out, GError **errp);
void bdrv_parsed_options_clear(BdrvParsedOptions *po);

/*
 * Open a node tree from BlockdevOptions (JSON as QMP gives it, or the
 * string leaves --blockdev and drive_add produce).  Returns the new root
 * with one reference owned by the caller, or NULL with errp set (then
 * nothing is left open).  @opts is not changed.
 */
BlockDriverState *bdrv_open_options(JsonObject *opts, GError **errp);
/* The same, but @opts may leave out "driver": the format is then probed
 * from the inline "file" child (qcow2 magic, else raw; "backing": null
 * is dropped for raw). */
BlockDriverState *bdrv_open_options_probe(JsonObject *opts, GError **errp);

/*
 * A new filter node @node_name (driver @drv, filter.h; NULL: an implicit
 * "#block..." name, as QEMU gives job filters) whose "file" child is
 * @child, registered, read-only as @child is; one reference for the
 * caller.  NULL with errp: a bad or taken name, a permission conflict.
 */
BlockDriverState *bdrv_open_filter(const BlockDriver *drv,
                                   const char *node_name,
                                   BlockDriverState *child, GError **errp);
/*
 * blockdev-add: open @opts (which must give "node-name": "'node-name' must
 * be specified for the root node") as a node the monitor owns, so that
 * blockdev-del may remove it.
 */
bool bdrv_add_monitor_node(JsonObject *opts, GError **errp);

/* The backing name of @bs's header resolved as it would be opened
 * (relative names against the image's directory when it is a real path),
 * or NULL when the header names none. */
char *bdrv_backing_full_name(BlockDriverState *bs);

/* ---- reopen (block-reopen.c) ---- */

/*
 * What drivers' reopen callbacks get: the BDRVReopenState of block_int.h
 * is the first member, so a driver that needs the cache mode as well casts
 * its state pointer to this.
 */
typedef struct BdrvReopenEntry {
    BDRVReopenState state;
    bool cache_direct; /* requested */
    bool no_flush;     /* requested */
    bool need_write;   /* data will be written through this node */
    bool auto_read_only; /* requested (blockdev-reopen: default false) */
    bool prepared;
} BdrvReopenEntry;

/*
 * Switch @bs (and the children that follow it) to read-only or read-write.
 * With @need_write, every node data written to @bs reaches (its file chain)
 * must end up writable, else "Block node is read-only".  Either everything
 * switches or nothing does; the fds replaced are released with qemu_close.
 */
bool bdrv_reopen_set_read_only(BlockDriverState *bs, bool read_only,
                               bool need_write, GError **errp);

/* blockdev-reopen: @options is the "options" array of BlockdevOptions. */
bool bdrv_reopen_options(JsonArray *options, GError **errp);

/* ---- information (query.c) ---- */

/* BlockDeviceInfo of @bs; @flat leaves out backing images.  @writeback is
 * the user's write cache mode (drives may be writethrough). */
BlockDeviceInfo *bdrv_query_node_info(BlockDriverState *bs, bool flat,
                                      bool writeback);
/* The filename queries show: the file's name, or "json:{...}" when the
 * node cannot be described by it (explicit backing and the like). */
char *bdrv_display_filename(BlockDriverState *bs);

/* ---- write threshold and write statistics (write-threshold.c) ---- */

/* block-set-write-threshold: 0 turns it off. */
void bdrv_write_threshold_set(BlockDriverState *bs, int64_t threshold);
int64_t bdrv_write_threshold_get(BlockDriverState *bs);
/*
 * The write path's hook (bdrv_pwrite, any thread): a write reaching past
 * the threshold sends BLOCK_WRITE_THRESHOLD once and turns it off; the
 * furthest write end is recorded for query-blockstats.
 */
void bdrv_write_threshold_check(BlockDriverState *bs, int64_t offset,
                                int64_t bytes);
int64_t bdrv_wr_highest_offset(BlockDriverState *bs);

/* ---- file-posix.c ---- */

/* Bytes allocated on disk for a file node (st_blocks), -1 if unknown. */
int64_t bdrv_file_allocated_size(BlockDriverState *bs);
/* Reserve [offset, offset+bytes) of a file node's file (posix_fallocate);
 * -1 with errp when it is no file node or the filesystem refuses. */
int bdrv_file_fallocate(BlockDriverState *bs, int64_t offset, int64_t bytes,
                        GError **errp);

#endif
