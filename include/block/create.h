/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * blockdev-create: the "create" job (block/create.c) and the image
 * formatters it runs (block/qcow2-create.c).
 *
 * The options are checked and the nodes looked up on the main loop when
 * the command arrives; what fails there becomes the job's error, as in
 * QEMU (the command itself only fails for a bad job id or a driver that
 * cannot create).  The writing happens in the job's worker thread.
 */
#ifndef BLOCK_CREATE_H
#define BLOCK_CREATE_H

#include "block/block_int.h"
#include "qapi/qapi-types.h"

/* blockdev-create: start the job.  Errors: "Driver does not support
 * blockdev-create", the job id errors of block_job_create(). */
bool bdrv_create_job_start(const char *job_id, BlockdevCreateOptions *options,
                           GError **errp);

/*
 * Format @filename (qemu_create: normally /dev/fdset/N) as a new @format
 * image ("qcow2" or "raw") of @size bytes, on the calling thread; qcow2
 * records @backing_file / @backing_fmt (either may be NULL).  Errors:
 * qemu_create's, qcow2_create_plan's, "fdsetd creates qcow2 and raw
 * images only: ...", "Backing file not supported for file format 'raw'".
 */
bool bdrv_format_new_image(const char *filename, const char *format,
                           uint64_t size, const char *backing_file,
                           const char *backing_fmt, GError **errp);

/* ---- qcow2 (qcow2-create.c) ---- */

typedef struct Qcow2CreatePlan Qcow2CreatePlan;

/*
 * Check @opts as QEMU does and lay the new image out (no I/O): NULL with
 * errp ("Cluster size must be a power of two between 512 and 2048k",
 * "Image size must be a multiple of 512 bytes", ...).
 */
Qcow2CreatePlan *qcow2_create_plan(const BlockdevCreateOptionsQcow2 *opts,
                                   GError **errp);
void qcow2_create_plan_free(Qcow2CreatePlan *plan);
/*
 * Write the image of @plan onto the node @file (which the caller holds
 * with WRITE and RESIZE), replacing what it held.  Any thread.  0, or -1
 * with errp.
 */
int qcow2_create_write(BlockDriverState *file, const Qcow2CreatePlan *plan,
                       GError **errp);

#endif
