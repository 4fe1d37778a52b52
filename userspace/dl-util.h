/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers shared by dirtylogctl and its tests. */
#ifndef DL_UTIL_H
#define DL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * dl_fail() - format a reason into @err (of @errlen bytes) and return
 * -@e (-EIO when @e is 0): the error convention of the library layer.
 * dl_seterr() - the same without a return value (@err may be NULL).
 */
int dl_fail(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void dl_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* dl_json_str() - @s as a JSON string on @f (bytes >= 0x80 as they are). */
void dl_json_str(FILE *f, const char *s);

/* Little-endian fields of the file formats, at any alignment. */
static inline void dl_put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void dl_put_le64(uint8_t *p, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t dl_get_le32(const uint8_t *p)
{
	uint32_t v = 0;

	for (unsigned int i = 0; i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

static inline uint64_t dl_get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Big-endian fields (qcow2), at any alignment. */
static inline void dl_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void dl_put_be32(uint8_t *p, uint32_t v)
{
	for (unsigned int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static inline void dl_put_be64(uint8_t *p, uint64_t v)
{
	for (unsigned int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static inline uint64_t dl_div_round_up(uint64_t a, uint64_t b)
{
	return a / b + (a % b != 0);
}

/*
 * dl_pwrite_full() - pwrite() all of @len bytes at @off, again after EINTR
 * and short writes.  Returns 0 or -errno (-ENOSPC when nothing moves).
 */
int dl_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * dl_commit_file() - finish a file written as @tmp through @f: flush,
 * fsync, close, rename to @path.  On any failure @tmp is removed.
 * Returns 0 or -errno with a reason in @err.
 */
int dl_commit_file(FILE *f, const char *tmp, const char *path, char *err,
		   size_t errlen);

/*
 * dl_parse_size() - parse a byte count such as "4096", "64K", "1M", "2G".
 * Suffixes K, M, G, T (powers of 1024, upper or lower case, optional "iB"
 * or "B") are accepted.  Returns 0 and stores the value, or -1 on a
 * malformed string or overflow.
 */
int dl_parse_size(const char *s, uint64_t *bytes);

/*
 * dl_block_size_sectors() - turn a block size in bytes into sectors, checking
 * the target's rule (power of two from 4 KiB to 64 MiB).  Returns the number
 * of 512-byte sectors, or 0 when the size is not allowed.
 */
uint32_t dl_block_size_sectors(uint64_t bytes);

#include <linux/dm-dirtylog.h>

#define DL_MIN_BLOCK_BYTES ((uint64_t)DM_DIRTYLOG_MIN_BLOCK_SECTORS << 9)
#define DL_MAX_BLOCK_BYTES ((uint64_t)DM_DIRTYLOG_MAX_BLOCK_SECTORS << 9)

#endif /* DL_UTIL_H */
