/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What query-named-block-nodes shows of a qcow2 header: ImageInfo's
 * "cluster-size" and "format-specific" in QEMU 7.2's shape.
 */
#include "block/qcow2.h"
#include "qapi/qapi-types.h"

ImageInfoSpecific *qcow2_get_specific_info(BlockDriverState *bs,
                                           int64_t *cluster_size)
{
    BDRVQcow2State *s = bs->opaque;
    const Qcow2Header *h = &s->hdr;
    ImageInfoSpecific *spec = g_new0(ImageInfoSpecific, 1);
    ImageInfoSpecificQCow2 *data = g_new0(ImageInfoSpecificQCow2, 1);

    *cluster_size = s->cluster_size;
    spec->type = IMAGE_INFO_SPECIFIC_KIND_QCOW2;
    spec->u.qcow2.data = data;
    if (h->version == 2) {
        data->compat = g_strdup("0.10");
        data->refcount_bits = 16;
        return spec;
    }
    data->compat = g_strdup("1.1");
    data->has_compression_type = true;
    data->compression_type = g_strdup(
        h->incompatible_features & QCOW2_INCOMPAT_COMPRESSION ? "zstd"
                                                              : "zlib");
    data->has_lazy_refcounts = true;
    data->lazy_refcounts = h->compatible_features & 1;
    data->refcount_bits = 1 << h->refcount_order;
    data->has_corrupt = true;
    data->corrupt = h->incompatible_features & QCOW2_INCOMPAT_CORRUPT;
    data->has_extended_l2 = true;
    data->extended_l2 = h->incompatible_features & QCOW2_INCOMPAT_EXTL2;
    return spec;
}
