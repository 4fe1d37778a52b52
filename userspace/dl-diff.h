/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Diff streams: the changed blocks of a dm-dirtylog device between two
 * checkpoints (or all of it: a "full" export), as written by
 * "dirtylogctl export" and read back by "apply" and "verify".  This is the
 * format layer only: no devices, no netlink.
 *
 * Three output formats:
 *
 *   DL_DIFF_NATIVE  the format below: checksummed, self-describing, with a
 *                   trailer without which a stream is never accepted.
 *   DL_DIFF_RBD     Ceph's "rbd diff v1" byte for byte, as "rbd
 *                   export-diff" writes it, for "rbd import-diff" and "rbd
 *                   merge-diff".  No checksums and no custom records.
 *   DL_DIFF_RAW     a plain image: data written at its offset, zeroed
 *                   ranges left as holes, the file cut to the device size.
 *                   Needs a seekable file.  No completeness marker: write
 *                   to a temporary name and rename it after finish.
 *
 * Native and rbd streams are written strictly sequentially (no seek), so
 * they can go to a pipe.  Records must come in ascending order without
 * overlap; offsets and lengths are bytes, multiples of 512, lengths > 0,
 * and a record ends at or before the device size.
 *
 * Native format, version 1.  All integers little-endian.
 *
 * Header, 256 bytes:
 *
 *   offset size  field
 *        0    8  magic          "DLDIFF\r\n" (no NUL)
 *        8    4  version        1; a reader refuses any other
 *       12    4  header_size    256
 *       16    4  flags          bit 0 FULL (no base checkpoint), bit 1 FUZZY
 *                               (read from the live device, no snapshot);
 *                               other bits are refused
 *       20    4  block_size     tracking block size, bytes: a power of two
 *                               from DM_DIRTYLOG_MIN_BLOCK_SECTORS to
 *                               DM_DIRTYLOG_MAX_BLOCK_SECTORS sectors
 *       24    8  size           device size at the new checkpoint, bytes,
 *                               a multiple of 512
 *       32   16  uuid           device instance uuid
 *       48    8  base_id        base checkpoint id; 0 exactly when FULL
 *       56    8  new_id         new checkpoint id, > base_id; or 0 for "the
 *                               moment of the export" (then new_name is "")
 *       64   65  base_name      NUL-terminated; "" exactly when FULL
 *      129   65  new_name       NUL-terminated
 *      194   58  reserved       zero
 *      252    4  header_crc     crc32c of bytes 0..251
 *
 * Unused bytes after the NUL of a name are zero as well.
 *
 * Then any number of records, each a 32-byte record header, followed for
 * a data record by its data:
 *
 *   offset size  field
 *        0    4  type           1 data, 2 zero, 3 trailer (below)
 *        4    4  reserved       zero
 *        8    8  offset         bytes; a multiple of 512, at or past the end
 *                               of the previous record
 *       16    8  length         bytes; a multiple of 512, > 0, offset +
 *                               length <= size; a data record carries at
 *                               most DL_DIFF_MAX_DATA bytes (the writer
 *                               splits longer runs)
 *       24    4  crc            crc32c of bytes 0..23 of this header, then
 *                               of the data (data records)
 *       28    4  reserved       zero
 *       32  len  data           (data records only)
 *
 * Trailer, 32 bytes, the last bytes of the stream:
 *
 *   offset size  field
 *        0    4  type           3
 *        4    4  reserved       zero
 *        8    8  nr_records     data and zero records in the stream
 *       16    8  data_bytes     sum of the data record lengths
 *       24    4  stream_crc     crc32c of every byte before the trailer
 *       28    4  trailer_crc    crc32c of bytes 0..27 of the trailer
 *
 * A stream without a trailer is incomplete (the export failed or was
 * interrupted) and is refused; so is anything after the trailer.
 *
 * Functions that can fail return -errno and leave in the @err buffer given
 * to the open function (it must outlive the writer or reader; it may be
 * NULL) a message that starts with what is wrong.  A writer whose write
 * failed refuses every later call with the same error.  Writing to a pipe
 * whose reader is gone gives -EPIPE only when SIGPIPE is ignored; the
 * caller decides that.
 */
#ifndef DL_DIFF_H
#define DL_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/dm-dirtylog.h>

enum dl_diff_format {
	DL_DIFF_NATIVE,
	DL_DIFF_RBD,
	DL_DIFF_RAW,
};

#define DL_DIFF_MAGIC		"DLDIFF\r\n"
#define DL_DIFF_MAGIC_LEN	8
#define DL_DIFF_VERSION		1
#define DL_DIFF_HEADER_SIZE	256
#define DL_DIFF_REC_SIZE	32
#define DL_DIFF_TRAILER_SIZE	32

#define DL_DIFF_FLAG_FULL	(1U << 0)
#define DL_DIFF_FLAG_FUZZY	(1U << 1)

#define DL_DIFF_REC_DATA	1
#define DL_DIFF_REC_ZERO	2
#define DL_DIFF_REC_TRAILER	3

/* Largest data record, native and as handed out by the readers. */
#define DL_DIFF_MAX_DATA	(64U << 20)

/* Header offsets (see the table above). */
#define DL_DIFF_OFF_MAGIC	0
#define DL_DIFF_OFF_VERSION	8
#define DL_DIFF_OFF_HEADER_SIZE	12
#define DL_DIFF_OFF_FLAGS	16
#define DL_DIFF_OFF_BLOCK_SIZE	20
#define DL_DIFF_OFF_SIZE	24
#define DL_DIFF_OFF_UUID	32
#define DL_DIFF_OFF_BASE_ID	48
#define DL_DIFF_OFF_NEW_ID	56
#define DL_DIFF_OFF_BASE_NAME	64
#define DL_DIFF_OFF_NEW_NAME	129
#define DL_DIFF_OFF_RESERVED	194
#define DL_DIFF_OFF_HEADER_CRC	252

/* Record header and trailer offsets. */
#define DL_DIFF_REC_OFF_TYPE	0
#define DL_DIFF_REC_OFF_OFFSET	8
#define DL_DIFF_REC_OFF_LENGTH	16
#define DL_DIFF_REC_OFF_CRC	24
#define DL_DIFF_TRL_OFF_RECORDS	8
#define DL_DIFF_TRL_OFF_BYTES	16
#define DL_DIFF_TRL_OFF_STREAM_CRC	24
#define DL_DIFF_TRL_OFF_CRC	28

#define DL_DIFF_NAME_LEN	(DM_DIRTYLOG_NAME_MAX + 1)

/* The rbd diff v1 banner and record tags. */
#define DL_RBD_BANNER		"rbd diff v1\n"
#define DL_RBD_BANNER_LEN	12
#define DL_RBD_FROM_SNAP	'f'
#define DL_RBD_TO_SNAP		't'
#define DL_RBD_SIZE		's'
#define DL_RBD_WRITE		'w'
#define DL_RBD_ZERO		'z'
#define DL_RBD_END		'e'
/* rbd reads snapshot names of at most this many bytes. */
#define DL_RBD_NAME_MAX		4096

/* Room for a message of any function here. */
#define DL_DIFF_ERR_LEN		512

struct dl_diff_info {
	uint8_t uuid[16];		/* device instance uuid */
	uint64_t size;			/* device size, bytes, at the new checkpoint */
	uint32_t block_size;		/* tracking block size, bytes */
	bool full;			/* no base: full export */
	char base_name[DL_DIFF_NAME_LEN];	/* when !full */
	uint64_t base_id;
	char new_name[DL_DIFF_NAME_LEN];	/* "" with new_id 0: "now" */
	uint64_t new_id;
	bool fuzzy;			/* read from the live device, no snapshot */
};

enum dl_diff_rec_type {
	DL_DIFF_DATA = DL_DIFF_REC_DATA,
	DL_DIFF_ZERO = DL_DIFF_REC_ZERO,
};

struct dl_diff_record {
	enum dl_diff_rec_type type;
	uint64_t offset;
	uint64_t length;
	const void *data;	/* DL_DIFF_DATA: @length bytes, owned by the
				 * reader, valid until its next call */
	uint64_t index;		/* record number in the stream, from 0 */
};

struct dl_diff_writer;
struct dl_diff_reader;

/*
 * dl_diff_rbd_name_ok() - whether @name can be an rbd snapshot name in a
 * diff: not empty, at most DL_RBD_NAME_MAX bytes, no '/' or '@' (the rbd
 * tool refuses both in snapshot names: they separate pool, image and
 * snapshot in an image spec).  Returns 0 or -EINVAL with a message naming
 * the character.
 */
int dl_diff_rbd_name_ok(const char *name, char *err, size_t errlen);

/*
 * dl_diff_writer_open() - start a diff of format @f on @fd (not closed by
 * this module).  @info is checked (see the header table; for rbd the names
 * must also pass dl_diff_rbd_name_ok(), and rbd has no place for the
 * uuid, ids, block size or fuzzy flag) and the header written.  Raw
 * refuses an fd that cannot seek (-ESPIPE).  Returns the writer, or NULL
 * with errno set and a message in @err.
 */
struct dl_diff_writer *dl_diff_writer_open(enum dl_diff_format f, int fd,
					   const struct dl_diff_info *info,
					   char *err, size_t errlen);

/*
 * dl_diff_write_data() - @len bytes of data at @off.  Runs longer than
 * DL_DIFF_MAX_DATA are written as several records.  Returns 0, -EINVAL
 * for a record out of order, overlapping, unaligned, empty or past the
 * size (nothing written), or the errno of a failed write.
 */
int dl_diff_write_data(struct dl_diff_writer *w, uint64_t off, uint64_t len,
		       const void *buf);

/*
 * dl_diff_write_data_crc() - the same, when the caller has already
 * computed @crc = dl_crc32c(0, @buf, @len) (@len at most
 * DL_DIFF_MAX_DATA): the native writer then does not read the data again
 * to checksum it.
 */
int dl_diff_write_data_crc(struct dl_diff_writer *w, uint64_t off, uint64_t len,
			   const void *buf, uint32_t crc);

/* dl_diff_write_zero() - @len bytes of zeroes at @off; as above. */
int dl_diff_write_zero(struct dl_diff_writer *w, uint64_t off, uint64_t len);

/*
 * dl_diff_writer_finish() - write the trailer (native), 'e' (rbd) or cut
 * the file to the size (raw), and fsync() the fd if it is a regular file
 * or a block device.  Returns 0 or -errno.  The writer must still be
 * freed.
 */
int dl_diff_writer_finish(struct dl_diff_writer *w);

/*
 * dl_diff_writer_free() - release @w (NULL is fine).  Without a finish
 * first, output still buffered is dropped, a native stream has no trailer
 * and is refused by every reader, and an rbd stream has no 'e'.
 */
void dl_diff_writer_free(struct dl_diff_writer *w);

/* Records and data bytes written so far. */
uint64_t dl_diff_writer_records(const struct dl_diff_writer *w);
uint64_t dl_diff_writer_data_bytes(const struct dl_diff_writer *w);

/*
 * dl_diff_reader_open() - read and check the start of a native or rbd
 * diff v1 stream on @fd (sequential reads only; not closed here) and fill
 * @info.  The format is recognised by its first bytes.  For rbd, only the
 * names, full and size are known; names need not be valid dirtylog
 * checkpoint names but must fit in the info fields.  Refusals:
 *
 *   "not a diff stream"            -EILSEQ (neither magic)
 *   "stream version N is newer than this tool supports"
 *                                  -EPROTONOSUPPORT (also version 0)
 *   "unsupported header size"      -EPROTONOSUPPORT
 *   "truncated"                    -ENODATA
 *   "header corrupt"               -EBADMSG (header checksum)
 *   "unsupported flags", "nonzero reserved bytes", "unterminated name"
 *                                  -EBADMSG
 *   "invalid header"               -EINVAL (block size, size, checkpoints)
 *   rbd: "invalid rbd diff"        -EBADMSG (metadata: unknown or repeated
 *                                  tag, no size, names too long)
 *
 * and -errno of read().  Returns the reader, or NULL with errno set.
 */
struct dl_diff_reader *dl_diff_reader_open(int fd, struct dl_diff_info *info,
					   char *err, size_t errlen);

/* Format of the stream: DL_DIFF_NATIVE or DL_DIFF_RBD. */
enum dl_diff_format dl_diff_reader_format(const struct dl_diff_reader *r);

/* dl_diff_reader_pos() - bytes of the stream consumed so far. */
uint64_t dl_diff_reader_pos(const struct dl_diff_reader *r);

/*
 * dl_diff_read_record() - the next record into @rec.  Returns 1 with a
 * record, 0 once the trailer (native) or 'e' (rbd) has been read and
 * checked and nothing follows it, or -errno; messages name the record
 * index and its stream offset.  Data is checked against its crc before it
 * is handed out (native).  rbd 'w' records longer than DL_DIFF_MAX_DATA
 * are handed out in pieces (each piece its own index).  Refusals:
 *
 *   "truncated"           -ENODATA (end of stream before the trailer)
 *   "record corrupt"      -EBADMSG (checksum, unknown type, reserved
 *                                   bytes, data over DL_DIFF_MAX_DATA)
 *   "trailer corrupt"     -EBADMSG (trailer checksum, counts, stream crc)
 *   "invalid rbd diff"    -EBADMSG (unknown tag, metadata after data)
 *   "invalid record"      -EINVAL  (empty, unaligned, past the size)
 *   "records out of order" -EINVAL (descending or overlapping)
 *   "trailing garbage"    -EFBIG   (bytes after the trailer)
 *
 * After an error or the end, every call returns the same result.
 */
int dl_diff_read_record(struct dl_diff_reader *r, struct dl_diff_record *rec);

/*
 * dl_diff_reader_set_buffer() - for the next dl_diff_read_record() call
 * only: when that record is a data record (or rbd piece) of at most @cap
 * bytes, read its data into @buf (rec->data then points to @buf) instead
 * of the reader's own buffer.  The reader also reads that record's header
 * with reads no longer than the header, so the data is read from @fd
 * straight into @buf, not copied through the input buffer (apply hands
 * @buf to an O_DIRECT write as it is).
 */
void dl_diff_reader_set_buffer(struct dl_diff_reader *r, void *buf, size_t cap);

/* dl_diff_reader_free() - release @r (NULL is fine). */
void dl_diff_reader_free(struct dl_diff_reader *r);

#endif /* DL_DIFF_H */
