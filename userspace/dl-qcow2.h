/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A streaming qcow2 (version 3) writer for exports: the extents of a
 * device come in ascending order, as data or as zeroes, and the result is
 * an image that QEMU opens directly, alone (a full export) or on top of
 * the previous export as its backing file (an incremental one).
 *
 * Written from QEMU's docs/interop/qcow2.txt.  The image made here:
 *
 *   - version 3, header_length 104, refcount_order 4 (16-bit refcounts),
 *     no encryption, no compression, no snapshots, no extended L2 entries,
 *     incompatible, compatible and autoclear features all 0 (in
 *     particular the dirty and corrupt bits are clear);
 *   - header extensions: the backing file format name (when one is given)
 *     and a feature name table (when it fits in the header cluster), then
 *     the end marker; the backing file name follows the extensions, inside
 *     the first cluster, as the specification asks;
 *   - the backing file name is the caller's string, stored verbatim, like
 *     "qemu-img create -b": QEMU resolves a relative name against the
 *     directory of the image that names it, not the current directory;
 *   - a guest cluster written with data maps to its own host cluster
 *     (refcount 1, L2 entry with the "copied" bit 63); a guest cluster
 *     written as zeroes is an L2 entry with only the zero flag (bit 0)
 *     set: it reads as zeroes, never from the backing file; any other
 *     guest cluster is unallocated and reads from the backing file (or as
 *     zeroes without one);
 *   - layout: cluster 0 the header, then the data clusters in the order
 *     they were written, then at dl_qcow2_finish() the L2 tables, the L1
 *     table, the refcount table and the refcount blocks.  Every host
 *     cluster from 0 to the end is in use exactly once, so every refcount
 *     is 1 and the image has no leaks.
 *
 * Cluster 0 holds a non-qcow2 marker until dl_qcow2_finish() writes the
 * header last, after the metadata has been written and synced: an export
 * that was interrupted, or freed without finishing, is never a valid
 * qcow2 image (QEMU's probing sees it as raw data; opened as qcow2 it is
 * refused).  A regular file is truncated to 0 at dl_qcow2_create().
 *
 * Memory: the writer keeps one record per run of calls that continue each
 * other (so at most one per call), and one cluster-sized buffer during
 * dl_qcow2_finish().  Nothing is proportional to the virtual size: the L1
 * table and the refcount structures are generated and written a cluster
 * at a time.
 *
 * Limits: the virtual size is a multiple of 512 bytes (QEMU counts it in
 * sectors); the L1 table is at most 32 MiB (QEMU's limit: with 4 KiB
 * clusters, 8 TiB of virtual size; with 64 KiB clusters, 2 PiB); host
 * offsets stay below 2^56.
 *
 * Functions that can fail return 0 or -errno.  dl_qcow2_create() leaves a
 * message in @err; the others leave it in the writer, for
 * dl_qcow2_error().  A refused argument changes nothing; a failed write
 * or sync leaves the writer failed: every later call returns the same
 * error, and the image stays invalid.
 */
#ifndef DL_QCOW2_H
#define DL_QCOW2_H

#include <stddef.h>
#include <stdint.h>

#define DL_QCOW2_MIN_CLUSTER	512U
#define DL_QCOW2_MAX_CLUSTER	(2U << 20)
/* Longest backing file name the format allows. */
#define DL_QCOW2_MAX_BACKING	1023U
/* QEMU refuses an L1 table larger than this. */
#define DL_QCOW2_MAX_L1_BYTES	(32ULL << 20)

/* Room for a message of any function here. */
#define DL_QCOW2_ERR_LEN	256

struct dl_qcow2;

/*
 * dl_qcow2_create() - start an image of @size bytes with clusters of
 * @cluster_size bytes on @fd, which must be open for writing, without
 * O_APPEND, on a regular file or a block device.  @backing_file (NULL:
 * none) is stored verbatim; @backing_format is "qcow2", "raw" or NULL
 * (then QEMU probes the backing file's format).  The first cluster is
 * written at once (with a marker that is not a qcow2 header).  The
 * writer does not own @fd: the caller closes it after dl_qcow2_free().
 *
 * Returns the writer, or NULL with @err set and errno set to:
 *
 *   EINVAL   a bad size (0, not a multiple of 512), cluster size (not a
 *            power of two from 512 to 2 MiB), backing format (unknown,
 *            or given without a backing file), an empty backing name,
 *            an fd open with O_APPEND, neither a file nor a device
 *   EBADF    @fd is open read-only
 *   ESPIPE   @fd is a pipe, a socket or a character device
 *   EFBIG    the L1 table would exceed 32 MiB: use larger clusters
 *   ENAMETOOLONG  the backing file name is over 1023 bytes, or does not
 *            fit in the header cluster
 *   ENOMEM, or the errno of a failing fstat/fcntl/ftruncate/pwrite
 */
struct dl_qcow2 *dl_qcow2_create(int fd, uint64_t size, uint32_t cluster_size,
				 const char *backing_file,
				 const char *backing_format,
				 char *err, size_t errlen);

/*
 * dl_qcow2_write() - the guest range [@off, @off + @len) holds the @len
 * bytes at @buf.  @off is a multiple of the cluster size and so is @len,
 * except for a range that ends exactly at the virtual size (its last
 * cluster is padded with zeroes in the image).  Ranges of all the calls
 * (writes and zeroes) come in ascending order and do not overlap.
 * Returns 0; -EINVAL for a NULL @buf, an empty, misaligned, descending or
 * overlapping range, or a call after dl_qcow2_finish(); -ERANGE for a
 * range past the virtual size; -EFBIG when the image would grow past
 * QEMU's host offset limit; -ENOMEM; -ENOSPC, -EIO or another errno of
 * the failing pwrite (then the writer is failed).
 */
int dl_qcow2_write(struct dl_qcow2 *q, uint64_t off, uint64_t len,
		   const void *buf);

/*
 * dl_qcow2_zero() - the guest range [@off, @off + @len) reads as zeroes
 * and not from the backing file: the v3 zero flag in its L2 entries, no
 * data written.  That is still an L2 entry per cluster (8 bytes of image
 * per cluster, plus memory for one run): zeroing a whole large device in
 * an incremental export costs L2 tables.  Without a backing file nothing
 * is recorded, unallocated clusters reading as zeroes already.  Same
 * rules and returns as dl_qcow2_write().
 */
int dl_qcow2_zero(struct dl_qcow2 *q, uint64_t off, uint64_t len);

/*
 * dl_qcow2_finish() - write the L2 tables, the L1 table, the refcount
 * table and blocks, fsync, then write the header and fsync again.  After
 * it returns 0 the image is complete and only dl_qcow2_free() is left to
 * call.  Returns 0 or -errno (-ENOMEM, -EFBIG, the errno of a failing
 * pwrite or fsync; -EINVAL when called twice); on failure the image is
 * left invalid.
 */
int dl_qcow2_finish(struct dl_qcow2 *q);

/*
 * dl_qcow2_error() - the message of the last failure of @q ("" if none),
 * valid until the next call on @q.
 */
const char *dl_qcow2_error(const struct dl_qcow2 *q);

/*
 * dl_qcow2_image_size() - bytes of the image file: during the export the
 * end of the data written so far, after dl_qcow2_finish() the whole image.
 */
uint64_t dl_qcow2_image_size(const struct dl_qcow2 *q);

/*
 * dl_qcow2_free() - release @q (NULL is fine).  Does not close the fd;
 * an image not finished stays invalid.
 */
void dl_qcow2_free(struct dl_qcow2 *q);

#endif /* DL_QCOW2_H */
