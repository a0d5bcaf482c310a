/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a manager changes on a live node besides opening and closing it:
 * its size (block_resize), the backing name in its header
 * (change-backing-file) and its write threshold.  Plain C arguments; the
 * QMP handlers in block/lifecycle-qmp.c only unpack and call these.
 * Main loop only.
 */
#ifndef BLOCK_LIFECYCLE_H
#define BLOCK_LIFECYCLE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * block_resize: @device or @node_name (either may be NULL) to @size bytes.
 * QEMU 7.2's errors: "Cannot find device='D' nor node-name='N'",
 * "Parameter 'size' expects a >0 size", job busy, "Device '(null)' is in
 * use" (a node below another), "The new size must be a multiple of 512"
 * (qcow2); fdsetd's own: shrinking qcow2.
 */
bool bdrv_block_resize(const char *device, const char *node_name,
                       int64_t size, GError **errp);

/*
 * change-backing-file: record @backing_file in the header of
 * @image_node_name, which must be in the chain of root @device and have a
 * backing node (whose format is recorded too).  A read-only image is
 * reopened read-write for the change and back.  A /dev/fdset/ name is
 * refused.
 */
bool bdrv_qmp_change_backing_file(const char *device,
                                  const char *image_node_name,
                                  const char *backing_file, GError **errp);

/* block-set-write-threshold: "Device 'x' not found". */
bool bdrv_set_write_threshold_by_name(const char *node_name,
                                      int64_t threshold, GError **errp);

#endif
