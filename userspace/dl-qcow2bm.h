/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A qcow2 "bitmap sidecar": a qcow2 (version 3) image whose guest data is
 * an external raw data file (a frozen snapshot device, say) and which
 * carries one persistent dirty bitmap.  Served read-only by qemu-nbd with
 * "-B NAME", it lets any NBD backup client ask for the metadata context
 * "qemu:dirty-bitmap:NAME" and read only the blocks that changed.
 *
 * Written from QEMU's docs/interop/qcow2.txt.  The image made here:
 *
 *   - version 3, header_length 104, refcount_order 4; incompatible
 *     feature "external data file" (bit 2); autoclear features "raw
 *     external data" (bit 1) and, with a bitmap, "bitmaps" (bit 0);
 *   - header extensions: the external data file name (stored verbatim:
 *     QEMU resolves a relative name against the image's directory), the
 *     bitmaps extension when there is a bitmap, the end marker;
 *   - every guest cluster is mapped to the same offset of the data file
 *     (raw external data: the data file is the disk as it stands), L2
 *     entries with the "copied" bit as QEMU writes them; data file
 *     clusters are not refcounted;
 *   - one bitmap (type 1, dirty tracking), flags 0: neither "in_use" nor
 *     "auto" (a frozen map that nothing updates); granularity a power of
 *     two from 512 bytes to 2 GiB; bit i covers guest bytes
 *     [i * granularity, (i + 1) * granularity), bits stored least
 *     significant first in each byte; a bitmap data cluster that is all
 *     zeroes or all ones is not stored (bitmap table entry 0 or 1);
 *   - layout: header cluster, refcount table, refcount blocks, L1 table,
 *     L2 tables, bitmap data clusters, bitmap table, bitmap directory.
 *     Each host cluster is used once: every refcount is 1, no leaks.
 *
 * The header is written last, after everything else was written and
 * synced: an interrupted write never leaves a valid image.
 *
 * Memory: a cluster-sized buffer.  Image size: 8 bytes per guest cluster
 * (the L2 tables), plus the bitmap (one bit per granule, less where whole
 * clusters of it are all zeroes or all ones).
 */
#ifndef DL_QCOW2BM_H
#define DL_QCOW2BM_H

#include <stddef.h>
#include <stdint.h>

/* QEMU's limits on bitmap names and granularities. */
#define DL_QCOW2BM_MAX_NAME	1023U
#define DL_QCOW2BM_MIN_GRAN	512U
#define DL_QCOW2BM_MAX_GRAN	(1U << 31)
#define DL_QCOW2BM_MAX_DATA_FILE 1023U

/* A run of set bitmap bits: granules [start, start + count). */
struct dl_qcow2bm_extent {
	uint64_t start;
	uint64_t count;
};

struct dl_qcow2bm_opts {
	uint64_t size;			/* virtual size, bytes, multiple of 512 */
	uint32_t cluster_size;		/* 0: 64 KiB */
	const char *data_file;		/* the external raw data file's name */
	const char *bitmap;		/* NULL: no bitmap */
	uint32_t granularity;		/* bytes per bit */
	const struct dl_qcow2bm_extent *extents; /* ascending, disjoint */
	size_t nr_extents;
};

/*
 * dl_qcow2bm_write() - write the image described by @o to @fd (a regular
 * file open for writing; truncated first), fsync it.  Returns 0, or
 * -errno with a message in @err: -EINVAL for a bad size, cluster size,
 * granularity, name (empty or too long, or a data file name that does not
 * fit in the header cluster), or extents that are not ascending, overlap
 * or reach past the last granule; -EFBIG when the L1 table would pass
 * QEMU's 32 MiB; -ENOMEM; the errno of a failing write or sync.
 */
int dl_qcow2bm_write(int fd, const struct dl_qcow2bm_opts *o, char *err,
		     size_t errlen);

#endif /* DL_QCOW2BM_H */
