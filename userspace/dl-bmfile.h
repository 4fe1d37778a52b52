/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Dirty bitmap files: the dirty map of one dm-dirtylog device between two
 * checkpoints, self-describing, kept by backup tools next to their backups.
 *
 * Format version 1.  All integers little-endian.  A fixed 512-byte header,
 * then the body: ceil(nr_blocks / 8) bytes, block i in byte i / 8, bit
 * (i % 8); bits at or beyond nr_blocks are zero.  The file is exactly
 * header_size + body size bytes long.
 *
 *   offset size  field
 *        0    8  magic          "DLBITMAP" (no NUL)
 *        8    4  version        1
 *       12    4  header_size    512
 *       16    4  flags          0 (no flag is defined; nonzero is refused)
 *       20    4  block_sectors  512-byte sectors per block, a power of two
 *                               from DM_DIRTYLOG_MIN_BLOCK_SECTORS to
 *                               DM_DIRTYLOG_MAX_BLOCK_SECTORS
 *       24    8  nr_blocks      blocks in the map, > 0
 *       32    8  nr_dirty       bits set in the body
 *       40    8  created_ns     CLOCK_REALTIME, ns since the epoch
 *       48    8  since_id       id of checkpoint "since", >= 1
 *       56    8  until_id       id of checkpoint "until", > since_id; or 0
 *                               for "up to the moment the map was fetched"
 *       64    4  body_crc       crc32c of the body
 *       68    4  header_crc     crc32c of the 512 header bytes, this field
 *                               taken as zero
 *       72   33  dev_uuid       instance uuid: 32 lowercase hex digits, NUL
 *      105  128  dev_name       dm name (informational), NUL-terminated
 *      233   65  since          checkpoint name, NUL-terminated, not empty
 *      298   65  until          checkpoint name, NUL-terminated; "" exactly
 *                               when until_id is 0
 *      363  149  reserved       zero
 *
 * Unused bytes after the NUL of a string field are zero as well.  A reader
 * refuses anything that breaks one of these rules.
 *
 * Functions that can fail return 0 or -errno and, when given an @err
 * buffer, leave there a message that starts with what is wrong.
 */
#ifndef DL_BMFILE_H
#define DL_BMFILE_H

#include <stddef.h>
#include <stdint.h>

#include <linux/dm-dirtylog.h>

#define DL_BMFILE_MAGIC		"DLBITMAP"
#define DL_BMFILE_MAGIC_LEN	8
#define DL_BMFILE_VERSION	1
#define DL_BMFILE_HEADER_SIZE	512

/* Header offsets (see the table above). */
#define DL_BMFILE_OFF_MAGIC		0
#define DL_BMFILE_OFF_VERSION		8
#define DL_BMFILE_OFF_HEADER_SIZE	12
#define DL_BMFILE_OFF_FLAGS		16
#define DL_BMFILE_OFF_BLOCK_SECTORS	20
#define DL_BMFILE_OFF_NR_BLOCKS		24
#define DL_BMFILE_OFF_NR_DIRTY		32
#define DL_BMFILE_OFF_CREATED_NS	40
#define DL_BMFILE_OFF_SINCE_ID		48
#define DL_BMFILE_OFF_UNTIL_ID		56
#define DL_BMFILE_OFF_BODY_CRC		64
#define DL_BMFILE_OFF_HEADER_CRC	68
#define DL_BMFILE_OFF_DEV_UUID		72
#define DL_BMFILE_OFF_DEV_NAME		105
#define DL_BMFILE_OFF_SINCE		233
#define DL_BMFILE_OFF_UNTIL		298
#define DL_BMFILE_OFF_RESERVED		363

/* String field sizes, NUL included. */
#define DL_BMFILE_UUID_LEN	33
#define DL_BMFILE_NAME_LEN	128
#define DL_BMFILE_CKPT_LEN	(DM_DIRTYLOG_NAME_MAX + 1)

/* Room for a message of any function here. */
#define DL_BMFILE_ERR_LEN	512

/*
 * One bitmap file in memory.  nr_dirty is what the header said (after
 * dl_bmfile_read()) or what dl_bmfile_write() last computed; the bits are
 * the truth.  A zeroed struct (bits NULL) is a valid "empty" state that
 * dl_bmfile_free() accepts.
 */
struct dl_bmfile {
	uint32_t block_sectors;
	uint64_t nr_blocks;
	uint64_t nr_dirty;
	uint64_t created_ns;
	char dev_uuid[DL_BMFILE_UUID_LEN];
	char dev_name[DL_BMFILE_NAME_LEN];
	char since[DL_BMFILE_CKPT_LEN];
	uint64_t since_id;
	char until[DL_BMFILE_CKPT_LEN];
	uint64_t until_id;
	uint8_t *bits;		/* dl_bmfile_body_len(nr_blocks) bytes, owned */
};

/* dl_bmfile_body_len() - bytes of body for @nr_blocks blocks. */
static inline uint64_t dl_bmfile_body_len(uint64_t nr_blocks)
{
	return nr_blocks / 8 + (nr_blocks % 8 != 0);
}

/*
 * dl_crc32c() - crc32c (Castagnoli, reflected polynomial 0x82F63B78) of
 * @len bytes at @buf, continuing from @crc: pass 0 to start, and the
 * previous result to continue (the ~0 initial value and final xor are
 * applied inside, like zlib's crc32()).  dl_crc32c(0, "123456789", 9) is
 * 0xE3069283.  Thread-safe.
 */
uint32_t dl_crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * dl_crc32c_soft() - the same with tables only (dl_crc32c() uses the CPU's
 * crc32 instruction when it has one); for tests comparing the two.
 */
uint32_t dl_crc32c_soft(uint32_t crc, const void *buf, size_t len);

/*
 * dl_crc32c_combine() - the crc32c of A followed by B, from @crc_a =
 * dl_crc32c(0, A, ...), @crc_b = dl_crc32c(0, B, ...) and @len_b, the
 * length of B, without reading either again: O(log len_b) work.  The diff
 * streams checksum each record and the whole stream; this is how the
 * record's data is read once for both.
 */
uint32_t dl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/*
 * dl_bmfile_alloc() - zero @f and give it @nr_blocks clean blocks.  The
 * caller fills in the other fields.  Returns 0, -EINVAL when @nr_blocks is
 * 0, -EOVERFLOW when the body does not fit in memory's address space, or
 * -ENOMEM; on failure @f is zeroed.
 */
int dl_bmfile_alloc(struct dl_bmfile *f, uint64_t nr_blocks);

/* dl_bmfile_free() - release the bits and zero @f (safe to call twice). */
void dl_bmfile_free(struct dl_bmfile *f);

/*
 * dl_bmfile_set_range() - mark blocks [@start, @start + @count) dirty; long
 * runs are filled a byte at a time.  Returns 0, or -ERANGE, changing
 * nothing, when the range goes past nr_blocks.  The signature fits the
 * extent callback of dl_nl_dirty_dump() through a small wrapper.
 */
int dl_bmfile_set_range(struct dl_bmfile *f, uint64_t start, uint64_t count);

/*
 * dl_bmfile_or_bits() - OR into @f the first @nbits bits of the
 * little-endian bitmap @le_bits (bit j in byte j / 8, bit j % 8; bits past
 * @nbits in its last byte are ignored), bit j landing on block @start + j.
 * Any @start works; a multiple of 8 is the fast path.  Returns 0, or
 * -ERANGE, changing nothing, when the chunk goes past nr_blocks.
 */
int dl_bmfile_or_bits(struct dl_bmfile *f, uint64_t start,
		      const uint8_t *le_bits, uint64_t nbits);

/* dl_bmfile_count() - number of dirty blocks (population count). */
uint64_t dl_bmfile_count(const struct dl_bmfile *f);

/*
 * dl_bmfile_extents() - call @fn once for every maximal run of dirty
 * blocks, in ascending order, skipping clean stretches eight bytes at a
 * time.  A nonzero return from @fn stops the walk and is returned;
 * otherwise 0.
 */
int dl_bmfile_extents(const struct dl_bmfile *f,
		      int (*fn)(uint64_t start, uint64_t count, void *arg),
		      void *arg);

/*
 * dl_bmfile_write() - check @f against the rules of the format, set
 * f->nr_dirty from the bits (and f->created_ns to now when it is 0), and
 * write it to @path.  A regular path is written to a temporary file
 * "PATH.tmp-XXXXXX" in the same directory (mode 0600, as mkstemp() makes
 * it), fsync()ed, renamed over @path, and the directory fsync()ed: @path
 * is never left holding a partial file and a failure removes the
 * temporary file.  "-" writes to standard output, without any of that.
 * Returns 0 or -errno: -EINVAL when @f breaks a rule (nothing is written),
 * else the errno of the failing system call.  A failure to fsync the
 * directory after the rename is reported although @path is complete.
 */
int dl_bmfile_write(const char *path, struct dl_bmfile *f,
		    char *err, size_t errlen);

/*
 * dl_bmfile_read() - read and check the bitmap file @path ("-": standard
 * input) into @f, which the caller later releases with dl_bmfile_free().
 * Everything is checked before @f is filled; on failure @f is zeroed.
 * Refusals, in the order they are checked:
 *
 *   "cannot open", "cannot read"  -errno of the system call
 *   "not a bitmap file"        -EILSEQ  (bad magic)
 *   "unsupported version"      -EPROTONOSUPPORT
 *   "unsupported header size"  -EPROTONOSUPPORT
 *   "truncated"                -ENODATA (shorter than the header)
 *   "header corrupt"           -EBADMSG (header checksum)
 *   "unsupported flags"        -EOPNOTSUPP
 *   "nonzero reserved bytes"   -EBADMSG (reserved area, or string padding)
 *   "unterminated string"      -EBADMSG
 *   "invalid block size"       -EINVAL
 *   "invalid block count"      -EINVAL  (0, or a body too big for memory)
 *   "invalid device uuid"      -EINVAL
 *   "invalid checkpoints"      -EINVAL  (since/until ids and names)
 *   "truncated"                -ENODATA (shorter than header + body)
 *   "trailing garbage"         -EFBIG   (longer than header + body)
 *   "body corrupt"             -EBADMSG (body checksum)
 *   "bits set past the end"    -EBADMSG
 *   "nr_dirty mismatch"        -EBADMSG
 *
 * The size messages give the expected and the actual size.
 */
int dl_bmfile_read(const char *path, struct dl_bmfile *f,
		   char *err, size_t errlen);

/*
 * dl_bmfile_merge() - merge @n maps of one device forming a chain of
 * consecutive checkpoints into one map @out (allocated here; zeroed on
 * failure).  The inputs may come in any order: they are taken sorted by
 * since_id, and are not modified.  @out covers the first since to the last
 * until, its bits are the OR of all, nr_blocks, block size and dev_name
 * are those of the last, created_ns is now and nr_dirty the count.  A
 * device may grow along the chain, never shrink.  Refusals:
 *
 *   "no files to merge"          -EINVAL (@n is 0)
 *   "invalid map"                -EINVAL (an input without bits)
 *   "different devices"          -EXDEV  (dev_uuid differs; both named)
 *   "different block sizes"      -EINVAL
 *   "duplicate file"             -EEXIST (same since and until twice)
 *   "'now' not last"             -EINVAL (until_id 0 followed by another)
 *   "gap"                        -EINVAL (next since_id > previous until_id)
 *   "overlap"                    -EINVAL (next since_id < previous until_id)
 *   "inconsistent checkpoint"    -EINVAL (same id, different names)
 *   "device shrank"              -EINVAL (nr_blocks decreasing)
 *
 * and -ENOMEM.
 */
int dl_bmfile_merge(const struct dl_bmfile *in, unsigned int n,
		    struct dl_bmfile *out, char *err, size_t errlen);

#endif /* DL_BMFILE_H */
