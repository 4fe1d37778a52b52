// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dirty bitmap files (format in dl-bmfile.h).
 *
 * The header is packed and unpacked field by field at the offsets of the
 * table in dl-bmfile.h, through explicit little-endian helpers, so the
 * code does not depend on the host's byte order or struct layout.
 */
#include "dl-bmfile.h"
#include "dl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* crc32c, slicing-by-8                                                */
/* ------------------------------------------------------------------ */

#define CRC32C_POLY	0x82F63B78U

static uint32_t crc32c_table[8][256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

/*
 * crc32c_table[0] is the classic byte table; crc32c_table[k][b] is the crc
 * of byte b followed by k zero bytes, so eight bytes can be folded with
 * eight independent lookups.
 */
static void crc32c_init(void)
{
	for (unsigned int i = 0; i < 256; i++) {
		uint32_t c = i;

		for (unsigned int j = 0; j < 8; j++)
			c = (c >> 1) ^ (CRC32C_POLY & -(c & 1));
		crc32c_table[0][i] = c;
	}
	for (unsigned int i = 0; i < 256; i++) {
		uint32_t c = crc32c_table[0][i];

		for (unsigned int k = 1; k < 8; k++) {
			c = (c >> 8) ^ crc32c_table[0][c & 0xff];
			crc32c_table[k][i] = c;
		}
	}
}

#if defined(__x86_64__)
/*
 * The SSE4.2 crc32 instruction computes crc32c: eight bytes per
 * instruction, several times faster than the tables (the diff streams
 * checksum every byte they carry twice).
 */
/* Any buffer may be read as words (p is aligned to 8 first). */
typedef uint64_t dl_word_alias __attribute__((may_alias));

__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	/*
	 * 64 bytes a round, each word loaded by the crc32 instruction itself
	 * (p is 8-byte aligned here): 11 instructions per 64 bytes instead
	 * of 23 with separate loads and a 32-byte round.  Instruction count
	 * is what a TCG guest pays (make bench runs with -icount).
	 */
	while (len >= 64) {
		const dl_word_alias *q = (const dl_word_alias *)(const void *)p;

		c = __builtin_ia32_crc32di(c, q[0]);
		c = __builtin_ia32_crc32di(c, q[1]);
		c = __builtin_ia32_crc32di(c, q[2]);
		c = __builtin_ia32_crc32di(c, q[3]);
		c = __builtin_ia32_crc32di(c, q[4]);
		c = __builtin_ia32_crc32di(c, q[5]);
		c = __builtin_ia32_crc32di(c, q[6]);
		c = __builtin_ia32_crc32di(c, q[7]);
		p += 64;
		len -= 64;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static bool have_sse42(void)
{
	static int have = -1;

	if (have < 0) {
		__builtin_cpu_init();
		have = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	}
	return have;
}
#endif

uint32_t dl_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_sse42())
		return ~crc32c_sse42(~crc, buf, len);
#endif
	return dl_crc32c_soft(crc, buf, len);
}

/*
 * Combining.  A crc is the remainder of the message's polynomial times
 * x^32 modulo P (bit-reflected: bit 31 holds x^0, bit 0 holds x^31), with
 * the ~0 pre- and post-conditioning.  Appending len_b bytes multiplies A's
 * remainder by x^(8 len_b) mod P; the conditioning terms cancel, so
 * crc(AB) = crc(A) * x^(8 len_b) mod P  xor  crc(B).
 */
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* a * b mod P, both reflected. */
static uint32_t gf2_mulmod(uint32_t a, uint32_t b)
{
	uint32_t prod = 0;

	for (uint32_t bit = 1u << 31; bit; bit >>= 1) {
		if (a & bit)
			prod ^= b;
		/* b *= x */
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY_REFLECTED : b >> 1;
	}
	return prod;
}

/* pow2[k] = x^(2^k) mod P */
static uint32_t crc32c_pow2[64];
static pthread_once_t crc32c_pow2_once = PTHREAD_ONCE_INIT;

static void crc32c_pow2_init(void)
{
	uint32_t v = 1u << 30;	/* x^1 */

	for (int k = 0; k < 64; k++) {
		crc32c_pow2[k] = v;
		v = gf2_mulmod(v, v);
	}
}

uint32_t dl_crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	/* Streams combine the same length over and over: keep the last. */
	static __thread uint64_t last_len = UINT64_MAX;
	static __thread uint32_t last_xn;
	uint32_t xn = 1u << 31;	/* x^0 */
	uint64_t len = len_b;
	int k = 3;		/* bytes to bits: x^(8 len_b) */

	if (len_b != last_len) {
		pthread_once(&crc32c_pow2_once, crc32c_pow2_init);
		for (; len && k < 64; len >>= 1, k++)
			if (len & 1)
				xn = gf2_mulmod(crc32c_pow2[k], xn);
		last_len = len_b;
		last_xn = xn;
	}
	return gf2_mulmod(last_xn, crc_a) ^ crc_b;
}

uint32_t dl_crc32c_soft(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	const uint32_t (*t)[256] = crc32c_table;

	pthread_once(&crc32c_once, crc32c_init);
	crc = ~crc;
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 |
				     (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 |
			      (uint32_t)p[6] << 16 | (uint32_t)p[7] << 24;

		crc = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^
		      t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
		      t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^
		      t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ t[0][(crc ^ *p++) & 0xff];
	return ~crc;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* Eight body bytes as one word, for zero / all-ones tests and popcount. */
static uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* Mask of the valid bits in the last body byte (0xff when it is full). */
static uint8_t last_byte_mask(uint64_t nr_blocks)
{
	unsigned int r = nr_blocks & 7;

	return r ? (uint8_t)((1U << r) - 1) : 0xff;
}

/* "'a' (id 1) to 'b' (id 2)" or "'a' (id 1) to now", for messages. */
static const char *describe(const struct dl_bmfile *f, char *buf, size_t len)
{
	if (f->until_id)
		snprintf(buf, len, "'%.*s' (id %" PRIu64 ") to '%.*s' (id %" PRIu64 ")",
			 DM_DIRTYLOG_NAME_MAX, f->since, f->since_id,
			 DM_DIRTYLOG_NAME_MAX, f->until, f->until_id);
	else
		snprintf(buf, len, "'%.*s' (id %" PRIu64 ") to now",
			 DM_DIRTYLOG_NAME_MAX, f->since, f->since_id);
	return buf;
}

#define DESC_LEN	(2 * DL_BMFILE_CKPT_LEN + 64)

/* ------------------------------------------------------------------ */
/* In-memory map                                                       */
/* ------------------------------------------------------------------ */

int dl_bmfile_alloc(struct dl_bmfile *f, uint64_t nr_blocks)
{
	uint64_t len = dl_bmfile_body_len(nr_blocks);

	memset(f, 0, sizeof(*f));
	if (!nr_blocks)
		return -EINVAL;
	if (len > SIZE_MAX)
		return -EOVERFLOW;
	f->bits = calloc(1, (size_t)len);
	if (!f->bits)
		return -ENOMEM;
	f->nr_blocks = nr_blocks;
	return 0;
}

void dl_bmfile_free(struct dl_bmfile *f)
{
	free(f->bits);
	memset(f, 0, sizeof(*f));
}

static bool range_ok(const struct dl_bmfile *f, uint64_t start, uint64_t n)
{
	return n <= f->nr_blocks && start <= f->nr_blocks - n;
}

int dl_bmfile_set_range(struct dl_bmfile *f, uint64_t start, uint64_t count)
{
	uint64_t end = start + count;
	uint64_t sb = start >> 3, eb = end >> 3;

	if (!range_ok(f, start, count))
		return -ERANGE;
	if (!count)
		return 0;
	if (sb == eb) {
		f->bits[sb] |= (uint8_t)(((1U << count) - 1) << (start & 7));
		return 0;
	}
	if (start & 7)
		f->bits[sb++] |= (uint8_t)(0xffU << (start & 7));
	memset(f->bits + sb, 0xff, (size_t)(eb - sb));
	if (end & 7)
		f->bits[eb] |= (uint8_t)((1U << (end & 7)) - 1);
	return 0;
}

int dl_bmfile_or_bits(struct dl_bmfile *f, uint64_t start,
		      const uint8_t *le_bits, uint64_t nbits)
{
	uint64_t full = nbits >> 3;
	unsigned int rem = nbits & 7, sh = start & 7;
	uint8_t *d;

	if (!range_ok(f, start, nbits))
		return -ERANGE;
	d = f->bits + (start >> 3);
	if (!sh) {
		for (uint64_t j = 0; j < full; j++)
			d[j] |= le_bits[j];
		if (rem)
			d[full] |= le_bits[full] & (uint8_t)((1U << rem) - 1);
		return 0;
	}
	/*
	 * Source byte j covers blocks start + 8j .. start + 8j + 7, which
	 * straddle d[j] and d[j + 1]; both lie below nr_blocks for a full
	 * byte.  For the partial last byte, d[full + 1] is touched only when
	 * a bit lands there, hence below nr_blocks too.
	 */
	for (uint64_t j = 0; j < full; j++) {
		unsigned int v = le_bits[j];

		d[j] |= (uint8_t)(v << sh);
		d[j + 1] |= (uint8_t)(v >> (8 - sh));
	}
	if (rem) {
		unsigned int v = le_bits[full] & ((1U << rem) - 1);

		d[full] |= (uint8_t)(v << sh);
		if (v >> (8 - sh))
			d[full + 1] |= (uint8_t)(v >> (8 - sh));
	}
	return 0;
}

uint64_t dl_bmfile_count(const struct dl_bmfile *f)
{
	uint64_t len = dl_bmfile_body_len(f->nr_blocks), i = 0, n = 0;

	if (!len)
		return 0;
	for (; i + 8 <= len - 1; i += 8)
		n += (uint64_t)__builtin_popcountll(load64(f->bits + i));
	for (; i < len - 1; i++)
		n += (uint64_t)__builtin_popcount(f->bits[i]);
	return n + (uint64_t)__builtin_popcount(f->bits[len - 1] &
						last_byte_mask(f->nr_blocks));
}

/*
 * First block at or after @pos whose bit equals @set, or nr_blocks.  @flip
 * is 0 to look for a set bit, 0xff to look for a clear one; whole words
 * equal to the "uninteresting" pattern are skipped eight bytes at a time.
 */
static uint64_t find_next(const struct dl_bmfile *f, uint64_t pos, uint8_t flip)
{
	uint64_t len = dl_bmfile_body_len(f->nr_blocks);
	uint64_t skip = flip ? UINT64_MAX : 0;
	uint64_t i = pos >> 3, r;
	unsigned int b;

	if (pos >= f->nr_blocks)
		return f->nr_blocks;
	b = (uint8_t)(f->bits[i] ^ flip) & (0xffU << (pos & 7));
	if (!b) {
		for (i++; i + 8 <= len && load64(f->bits + i) == skip; i += 8)
			;
		while (i < len && f->bits[i] == (uint8_t)skip)
			i++;
		if (i == len)
			return f->nr_blocks;
		b = (uint8_t)(f->bits[i] ^ flip);
	}
	r = (i << 3) + (unsigned int)__builtin_ctz(b);
	return r < f->nr_blocks ? r : f->nr_blocks;
}

int dl_bmfile_extents(const struct dl_bmfile *f,
		      int (*fn)(uint64_t start, uint64_t count, void *arg),
		      void *arg)
{
	uint64_t pos = 0;

	while (pos < f->nr_blocks) {
		uint64_t start = find_next(f, pos, 0), end;
		int ret;

		if (start >= f->nr_blocks)
			break;
		end = find_next(f, start, 0xff);
		ret = fn(start, end - start, arg);
		if (ret)
			return ret;
		pos = end;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Field rules shared by reader and writer                             */
/* ------------------------------------------------------------------ */

static bool block_sectors_ok(uint32_t s)
{
	return s >= DM_DIRTYLOG_MIN_BLOCK_SECTORS &&
	       s <= DM_DIRTYLOG_MAX_BLOCK_SECTORS && !(s & (s - 1));
}

static bool uuid_ok(const char *u)
{
	for (unsigned int i = 0; i < DL_BMFILE_UUID_LEN - 1; i++)
		if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f')))
			return false;
	return u[DL_BMFILE_UUID_LEN - 1] == '\0';
}

/* Which string field of @f lacks a NUL, or NULL. */
static const char *unterminated(const struct dl_bmfile *f)
{
	if (!memchr(f->dev_uuid, 0, sizeof(f->dev_uuid)))
		return "dev_uuid";
	if (!memchr(f->dev_name, 0, sizeof(f->dev_name)))
		return "dev_name";
	if (!memchr(f->since, 0, sizeof(f->since)))
		return "since";
	if (!memchr(f->until, 0, sizeof(f->until)))
		return "until";
	return NULL;
}

/* Everything but the strings' termination and the bits. */
static int check_fields(const struct dl_bmfile *f, const char *what,
			char *err, size_t errlen)
{
	if (!block_sectors_ok(f->block_sectors)) {
		dl_seterr(err, errlen,
		       "invalid block size: %s has %" PRIu32 " sectors per block, "
		       "not a power of two from %u to %u", what, f->block_sectors,
		       DM_DIRTYLOG_MIN_BLOCK_SECTORS, DM_DIRTYLOG_MAX_BLOCK_SECTORS);
		return -EINVAL;
	}
	if (!f->nr_blocks) {
		dl_seterr(err, errlen, "invalid block count: %s has 0 blocks", what);
		return -EINVAL;
	}
	if (dl_bmfile_body_len(f->nr_blocks) > SIZE_MAX - DL_BMFILE_HEADER_SIZE) {
		dl_seterr(err, errlen,
		       "invalid block count: %s has %" PRIu64 " blocks, too many "
		       "to hold in memory", what, f->nr_blocks);
		return -EINVAL;
	}
	if (!uuid_ok(f->dev_uuid)) {
		dl_seterr(err, errlen,
		       "invalid device uuid: %s has '%.32s', not 32 lowercase hex digits",
		       what, f->dev_uuid);
		return -EINVAL;
	}
	if (!f->since_id || !f->since[0]) {
		dl_seterr(err, errlen,
		       "invalid checkpoints: %s has since '%.*s' with id %" PRIu64
		       "; it must name a checkpoint with an id from 1", what,
		       DM_DIRTYLOG_NAME_MAX, f->since, f->since_id);
		return -EINVAL;
	}
	if (!f->until_id != !f->until[0]) {
		dl_seterr(err, errlen,
		       "invalid checkpoints: %s has until '%.*s' with id %" PRIu64
		       "; 'now' is an empty name with id 0, a checkpoint has both",
		       what, DM_DIRTYLOG_NAME_MAX, f->until, f->until_id);
		return -EINVAL;
	}
	if (f->until_id && f->until_id <= f->since_id) {
		dl_seterr(err, errlen,
		       "invalid checkpoints: %s has until id %" PRIu64
		       " not after since id %" PRIu64, what, f->until_id,
		       f->since_id);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Header packing                                                      */
/* ------------------------------------------------------------------ */

struct str_field {
	const char *name;
	unsigned int off, len;
	size_t member;		/* offsetof(struct dl_bmfile, ...) */
};

static const struct str_field str_fields[] = {
	{ "dev_uuid", DL_BMFILE_OFF_DEV_UUID, DL_BMFILE_UUID_LEN,
	  offsetof(struct dl_bmfile, dev_uuid) },
	{ "dev_name", DL_BMFILE_OFF_DEV_NAME, DL_BMFILE_NAME_LEN,
	  offsetof(struct dl_bmfile, dev_name) },
	{ "since", DL_BMFILE_OFF_SINCE, DL_BMFILE_CKPT_LEN,
	  offsetof(struct dl_bmfile, since) },
	{ "until", DL_BMFILE_OFF_UNTIL, DL_BMFILE_CKPT_LEN,
	  offsetof(struct dl_bmfile, until) },
};

#define NR_STR_FIELDS	(sizeof(str_fields) / sizeof(str_fields[0]))

_Static_assert(DL_BMFILE_OFF_DEV_NAME == DL_BMFILE_OFF_DEV_UUID + DL_BMFILE_UUID_LEN,
	       "dev_name follows dev_uuid");
_Static_assert(DL_BMFILE_OFF_SINCE == DL_BMFILE_OFF_DEV_NAME + DL_BMFILE_NAME_LEN,
	       "since follows dev_name");
_Static_assert(DL_BMFILE_OFF_UNTIL == DL_BMFILE_OFF_SINCE + DL_BMFILE_CKPT_LEN,
	       "until follows since");
_Static_assert(DL_BMFILE_OFF_RESERVED == DL_BMFILE_OFF_UNTIL + DL_BMFILE_CKPT_LEN,
	       "reserved follows until");
_Static_assert(DL_BMFILE_OFF_RESERVED < DL_BMFILE_HEADER_SIZE, "header fits");

/* @f passed check_fields() and has terminated strings. */
static void pack_header(const struct dl_bmfile *f, uint32_t body_crc,
			uint8_t *h)
{
	memset(h, 0, DL_BMFILE_HEADER_SIZE);
	memcpy(h + DL_BMFILE_OFF_MAGIC, DL_BMFILE_MAGIC, DL_BMFILE_MAGIC_LEN);
	dl_put_le32(h + DL_BMFILE_OFF_VERSION, DL_BMFILE_VERSION);
	dl_put_le32(h + DL_BMFILE_OFF_HEADER_SIZE, DL_BMFILE_HEADER_SIZE);
	dl_put_le32(h + DL_BMFILE_OFF_FLAGS, 0);
	dl_put_le32(h + DL_BMFILE_OFF_BLOCK_SECTORS, f->block_sectors);
	dl_put_le64(h + DL_BMFILE_OFF_NR_BLOCKS, f->nr_blocks);
	dl_put_le64(h + DL_BMFILE_OFF_NR_DIRTY, f->nr_dirty);
	dl_put_le64(h + DL_BMFILE_OFF_CREATED_NS, f->created_ns);
	dl_put_le64(h + DL_BMFILE_OFF_SINCE_ID, f->since_id);
	dl_put_le64(h + DL_BMFILE_OFF_UNTIL_ID, f->until_id);
	dl_put_le32(h + DL_BMFILE_OFF_BODY_CRC, body_crc);
	for (unsigned int i = 0; i < NR_STR_FIELDS; i++) {
		const char *s = (const char *)f + str_fields[i].member;

		/* Up to the NUL only: the padding stays zero. */
		memcpy(h + str_fields[i].off, s, strlen(s));
	}
	dl_put_le32(h + DL_BMFILE_OFF_HEADER_CRC,
		 dl_crc32c(0, h, DL_BMFILE_HEADER_SIZE));
}

/*
 * Unpack the part of a header that follows the magic, version and header
 * size (already checked) into @f (bits untouched) and check it.  Stores the
 * body crc in *@body_crc.
 */
static int unpack_header(const uint8_t *h, const char *path,
			 struct dl_bmfile *f, uint32_t *body_crc,
			 char *err, size_t errlen)
{
	uint8_t tmp[DL_BMFILE_HEADER_SIZE];
	uint32_t stored, computed, flags;

	memcpy(tmp, h, sizeof(tmp));
	stored = dl_get_le32(h + DL_BMFILE_OFF_HEADER_CRC);
	dl_put_le32(tmp + DL_BMFILE_OFF_HEADER_CRC, 0);
	computed = dl_crc32c(0, tmp, sizeof(tmp));
	if (stored != computed) {
		dl_seterr(err, errlen,
		       "header corrupt: %s: header checksum mismatch (stored "
		       "0x%08" PRIx32 ", computed 0x%08" PRIx32 ")", path, stored,
		       computed);
		return -EBADMSG;
	}
	flags = dl_get_le32(h + DL_BMFILE_OFF_FLAGS);
	if (flags) {
		dl_seterr(err, errlen,
		       "unsupported flags: %s has flags 0x%08" PRIx32
		       ", this program knows none", path, flags);
		return -EOPNOTSUPP;
	}
	for (unsigned int i = DL_BMFILE_OFF_RESERVED; i < DL_BMFILE_HEADER_SIZE; i++) {
		if (h[i]) {
			dl_seterr(err, errlen,
			       "nonzero reserved bytes: %s has 0x%02x at header "
			       "offset %u", path, h[i], i);
			return -EBADMSG;
		}
	}
	for (unsigned int i = 0; i < NR_STR_FIELDS; i++) {
		const struct str_field *s = &str_fields[i];
		const uint8_t *p = h + s->off;
		const uint8_t *nul = memchr(p, 0, s->len);

		if (!nul) {
			dl_seterr(err, errlen,
			       "unterminated string: %s: field %s (offset %u, "
			       "%u bytes) has no NUL", path, s->name, s->off, s->len);
			return -EBADMSG;
		}
		for (const uint8_t *q = nul; q < p + s->len; q++) {
			if (*q) {
				dl_seterr(err, errlen,
				       "nonzero reserved bytes: %s has 0x%02x in the "
				       "padding of field %s at header offset %u",
				       path, *q, s->name, (unsigned int)(q - h));
				return -EBADMSG;
			}
		}
		memcpy((char *)f + s->member, p, s->len);
	}
	f->block_sectors = dl_get_le32(h + DL_BMFILE_OFF_BLOCK_SECTORS);
	f->nr_blocks = dl_get_le64(h + DL_BMFILE_OFF_NR_BLOCKS);
	f->nr_dirty = dl_get_le64(h + DL_BMFILE_OFF_NR_DIRTY);
	f->created_ns = dl_get_le64(h + DL_BMFILE_OFF_CREATED_NS);
	f->since_id = dl_get_le64(h + DL_BMFILE_OFF_SINCE_ID);
	f->until_id = dl_get_le64(h + DL_BMFILE_OFF_UNTIL_ID);
	*body_crc = dl_get_le32(h + DL_BMFILE_OFF_BODY_CRC);
	return check_fields(f, path, err, errlen);
}

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The directory holding @path, for fsync() after the rename. */
static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

int dl_bmfile_write(const char *path, struct dl_bmfile *f,
		    char *err, size_t errlen)
{
	uint8_t h[DL_BMFILE_HEADER_SIZE];
	const char *field;
	char *tmp = NULL, *dir = NULL;
	uint64_t len;
	int fd = -1, dfd, ret;

	if (!f->bits) {
		dl_seterr(err, errlen, "invalid map: no bits allocated");
		return -EINVAL;
	}
	field = unterminated(f);
	if (field) {
		dl_seterr(err, errlen, "unterminated string: field %s has no NUL", field);
		return -EINVAL;
	}
	ret = check_fields(f, "the map", err, errlen);
	if (ret)
		return ret;
	len = dl_bmfile_body_len(f->nr_blocks);
	if (f->bits[len - 1] & (uint8_t)~last_byte_mask(f->nr_blocks)) {
		dl_seterr(err, errlen,
		       "bits set past the end: last byte 0x%02x of a %" PRIu64
		       "-block map", f->bits[len - 1], f->nr_blocks);
		return -EINVAL;
	}
	f->nr_dirty = dl_bmfile_count(f);
	if (!f->created_ns)
		f->created_ns = now_ns();
	pack_header(f, dl_crc32c(0, f->bits, (size_t)len), h);

	if (!strcmp(path, "-")) {
		ret = write_full(STDOUT_FILENO, h, sizeof(h));
		if (!ret)
			ret = write_full(STDOUT_FILENO, f->bits, (size_t)len);
		if (ret)
			dl_seterr(err, errlen, "cannot write to standard output: %s",
			       strerror(-ret));
		return ret;
	}

	if (asprintf(&tmp, "%s.tmp-XXXXXX", path) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		dl_seterr(err, errlen, "out of memory");
		goto out;
	}
	dir = dir_of(path);
	if (!dir) {
		ret = -ENOMEM;
		dl_seterr(err, errlen, "out of memory");
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		dl_seterr(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	ret = write_full(fd, h, sizeof(h));
	if (!ret)
		ret = write_full(fd, f->bits, (size_t)len);
	if (ret) {
		dl_seterr(err, errlen, "cannot write %s: %s", tmp, strerror(-ret));
		goto out_unlink;
	}
	if (fsync(fd)) {
		ret = -errno;
		dl_seterr(err, errlen, "cannot fsync %s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	ret = close(fd);
	fd = -1;
	if (ret) {
		ret = -errno;
		dl_seterr(err, errlen, "cannot close %s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	if (rename(tmp, path)) {
		ret = -errno;
		dl_seterr(err, errlen, "cannot rename %s to %s: %s", tmp, path,
		       strerror(errno));
		goto out_unlink;
	}

	/* Past the point of no return: @path is complete. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd)) {
		ret = -errno;
		dl_seterr(err, errlen,
		       "cannot fsync directory %s: %s (%s is written but its "
		       "name may not survive a crash)", dir, strerror(errno), path);
	}
	if (dfd >= 0)
		close(dfd);
	goto out;

out_unlink:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(tmp);
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	free(tmp);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

/* Read up to @len bytes; returns how many (short only at end of file). */
static ssize_t read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!n)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int read_header(int fd, const char *path, const struct stat *st,
		       uint8_t *h, char *err, size_t errlen)
{
	ssize_t n = read_full(fd, h, DL_BMFILE_HEADER_SIZE);
	uint32_t v;

	if (n < 0) {
		dl_seterr(err, errlen, "cannot read %s: %s", path, strerror((int)-n));
		return (int)n;
	}
	if ((n < DL_BMFILE_MAGIC_LEN &&
	     memcmp(h, DL_BMFILE_MAGIC, (size_t)n)) ||
	    (n >= DL_BMFILE_MAGIC_LEN &&
	     memcmp(h, DL_BMFILE_MAGIC, DL_BMFILE_MAGIC_LEN))) {
		dl_seterr(err, errlen,
		       "not a bitmap file: %s does not start with \"%s\"", path,
		       DL_BMFILE_MAGIC);
		return -EILSEQ;
	}
	if (n >= DL_BMFILE_OFF_VERSION + 4) {
		v = dl_get_le32(h + DL_BMFILE_OFF_VERSION);
		if (v != DL_BMFILE_VERSION) {
			dl_seterr(err, errlen,
			       "unsupported version: %s is format version %" PRIu32
			       ", this program reads version %u", path, v,
			       DL_BMFILE_VERSION);
			return -EPROTONOSUPPORT;
		}
	}
	if (n >= DL_BMFILE_OFF_HEADER_SIZE + 4) {
		v = dl_get_le32(h + DL_BMFILE_OFF_HEADER_SIZE);
		if (v != DL_BMFILE_HEADER_SIZE) {
			dl_seterr(err, errlen,
			       "unsupported header size: %s has a %" PRIu32
			       "-byte header, version %u has %u", path, v,
			       DL_BMFILE_VERSION, DL_BMFILE_HEADER_SIZE);
			return -EPROTONOSUPPORT;
		}
	}
	if (n < DL_BMFILE_HEADER_SIZE) {
		if (S_ISREG(st->st_mode))
			dl_seterr(err, errlen,
			       "truncated: %s is %jd bytes, shorter than the "
			       "%u-byte header", path, (intmax_t)st->st_size,
			       DL_BMFILE_HEADER_SIZE);
		else
			dl_seterr(err, errlen,
			       "truncated: %s ended after %zd bytes, inside the "
			       "%u-byte header", path, n, DL_BMFILE_HEADER_SIZE);
		return -ENODATA;
	}
	return 0;
}

static int read_body(int fd, const char *path, const struct stat *st,
		     struct dl_bmfile *f, uint32_t body_crc,
		     char *err, size_t errlen)
{
	uint64_t len = dl_bmfile_body_len(f->nr_blocks);
	uint64_t expect = DL_BMFILE_HEADER_SIZE + len;
	uint32_t crc;
	uint64_t n;
	ssize_t got, extra_got = 0;
	uint8_t extra;
	int ret;

	if (S_ISREG(st->st_mode) && (uint64_t)st->st_size != expect) {
		bool shorter = (uint64_t)st->st_size < expect;

		dl_seterr(err, errlen,
		       "%s: %s is %jd bytes, expected %" PRIu64 " (%u-byte header "
		       "+ %" PRIu64 "-byte body for %" PRIu64 " blocks)",
		       shorter ? "truncated" : "trailing garbage", path,
		       (intmax_t)st->st_size, expect, DL_BMFILE_HEADER_SIZE, len,
		       f->nr_blocks);
		return shorter ? -ENODATA : -EFBIG;
	}
	f->bits = malloc((size_t)len);
	if (!f->bits) {
		dl_seterr(err, errlen, "out of memory: %s needs %" PRIu64
		       " bytes for its body", path, len);
		return -ENOMEM;
	}
	/* A regular file may still change under us: check as for a pipe. */
	got = read_full(fd, f->bits, (size_t)len);
	if (got >= 0 && (uint64_t)got == len)
		extra_got = read_full(fd, &extra, 1);
	if (got < 0 || extra_got < 0) {
		ret = got < 0 ? (int)got : (int)extra_got;
		dl_seterr(err, errlen, "cannot read %s: %s", path, strerror(-ret));
		return ret;
	}
	if ((uint64_t)got != len) {
		dl_seterr(err, errlen,
		       "truncated: %s ended after %" PRIu64 " bytes, expected %"
		       PRIu64, path, DL_BMFILE_HEADER_SIZE + (uint64_t)got, expect);
		return -ENODATA;
	}
	if (extra_got) {
		dl_seterr(err, errlen,
		       "trailing garbage: %s is longer than the expected %" PRIu64
		       " bytes", path, expect);
		return -EFBIG;
	}

	crc = dl_crc32c(0, f->bits, (size_t)len);
	if (crc != body_crc) {
		dl_seterr(err, errlen,
		       "body corrupt: %s: body checksum mismatch (stored 0x%08"
		       PRIx32 ", computed 0x%08" PRIx32 ")", path, body_crc, crc);
		return -EBADMSG;
	}
	if (f->bits[len - 1] & (uint8_t)~last_byte_mask(f->nr_blocks)) {
		dl_seterr(err, errlen,
		       "bits set past the end: %s has %" PRIu64 " blocks but its "
		       "last byte is 0x%02x", path, f->nr_blocks, f->bits[len - 1]);
		return -EBADMSG;
	}
	n = dl_bmfile_count(f);
	if (n != f->nr_dirty) {
		dl_seterr(err, errlen,
		       "nr_dirty mismatch: %s: header says %" PRIu64
		       " dirty blocks, body has %" PRIu64, path, f->nr_dirty, n);
		return -EBADMSG;
	}
	return 0;
}

int dl_bmfile_read(const char *path, struct dl_bmfile *f,
		   char *err, size_t errlen)
{
	uint8_t h[DL_BMFILE_HEADER_SIZE];
	bool is_stdin = !strcmp(path, "-");
	const char *name = is_stdin ? "standard input" : path;
	uint32_t body_crc;
	struct stat st;
	int fd, ret;

	memset(f, 0, sizeof(*f));
	if (is_stdin) {
		fd = STDIN_FILENO;
	} else {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ret = -errno;
			dl_seterr(err, errlen, "cannot open %s: %s", path,
			       strerror(errno));
			return ret;
		}
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		dl_seterr(err, errlen, "cannot stat %s: %s", name, strerror(errno));
		goto out;
	}
	memset(h, 0, sizeof(h));
	ret = read_header(fd, name, &st, h, err, errlen);
	if (ret)
		goto out;
	ret = unpack_header(h, name, f, &body_crc, err, errlen);
	if (ret)
		goto out;
	ret = read_body(fd, name, &st, f, body_crc, err, errlen);
out:
	if (!is_stdin)
		close(fd);
	if (ret)
		dl_bmfile_free(f);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Merging                                                             */
/* ------------------------------------------------------------------ */

/* until_id 0 ("now") sorts after every checkpoint. */
static uint64_t until_key(const struct dl_bmfile *f)
{
	return f->until_id ? f->until_id : UINT64_MAX;
}

static int cmp_chain(const void *a, const void *b)
{
	const struct dl_bmfile *x = *(const struct dl_bmfile *const *)a;
	const struct dl_bmfile *y = *(const struct dl_bmfile *const *)b;

	if (x->since_id != y->since_id)
		return x->since_id < y->since_id ? -1 : 1;
	if (until_key(x) != until_key(y))
		return until_key(x) < until_key(y) ? -1 : 1;
	/* Equal keys: keep the caller's order, for stable messages. */
	return x < y ? -1 : x > y;
}

/* Check the sorted chain @v of @n maps; see dl_bmfile_merge(). */
static int check_chain(const struct dl_bmfile **v, unsigned int n,
		       char *err, size_t errlen)
{
	char d1[DESC_LEN], d2[DESC_LEN];

	for (unsigned int i = 1; i < n; i++) {
		const struct dl_bmfile *p = v[i - 1], *c = v[i];

		if (strncmp(p->dev_uuid, c->dev_uuid, DL_BMFILE_UUID_LEN)) {
			dl_seterr(err, errlen,
			       "different devices: map %s is of device %.32s, map "
			       "%s of device %.32s", describe(p, d1, sizeof(d1)),
			       p->dev_uuid, describe(c, d2, sizeof(d2)),
			       c->dev_uuid);
			return -EXDEV;
		}
		if (p->block_sectors != c->block_sectors) {
			dl_seterr(err, errlen,
			       "different block sizes: map %s has %" PRIu32
			       " sectors per block, map %s has %" PRIu32,
			       describe(p, d1, sizeof(d1)), p->block_sectors,
			       describe(c, d2, sizeof(d2)), c->block_sectors);
			return -EINVAL;
		}
	}
	for (unsigned int i = 1; i < n; i++) {
		const struct dl_bmfile *p = v[i - 1], *c = v[i];

		if (p->since_id == c->since_id && p->until_id == c->until_id) {
			dl_seterr(err, errlen, "duplicate file: map %s given twice",
			       describe(p, d1, sizeof(d1)));
			return -EEXIST;
		}
	}
	for (unsigned int i = 0; i + 1 < n; i++) {
		if (!v[i]->until_id) {
			dl_seterr(err, errlen,
			       "'now' not last: map %s runs up to the moment it "
			       "was fetched, so it can only end a chain, but map "
			       "%s follows it", describe(v[i], d1, sizeof(d1)),
			       describe(v[i + 1], d2, sizeof(d2)));
			return -EINVAL;
		}
	}
	for (unsigned int i = 1; i < n; i++) {
		const struct dl_bmfile *p = v[i - 1], *c = v[i];

		if (c->since_id > p->until_id) {
			dl_seterr(err, errlen,
			       "gap between checkpoints '%.*s' (id %" PRIu64
			       ") and '%.*s' (id %" PRIu64 "): no map covers the "
			       "writes in between", DM_DIRTYLOG_NAME_MAX, p->until,
			       p->until_id, DM_DIRTYLOG_NAME_MAX, c->since,
			       c->since_id);
			return -EINVAL;
		}
		if (c->since_id < p->until_id) {
			dl_seterr(err, errlen,
			       "overlap: map %s and map %s both cover the writes "
			       "after checkpoint '%.*s' (id %" PRIu64 ")",
			       describe(p, d1, sizeof(d1)),
			       describe(c, d2, sizeof(d2)), DM_DIRTYLOG_NAME_MAX,
			       c->since, c->since_id);
			return -EINVAL;
		}
		if (strncmp(p->until, c->since, DL_BMFILE_CKPT_LEN)) {
			dl_seterr(err, errlen,
			       "inconsistent checkpoint: id %" PRIu64 " is '%.*s' "
			       "in map %s but '%.*s' in map %s", c->since_id,
			       DM_DIRTYLOG_NAME_MAX, p->until,
			       describe(p, d1, sizeof(d1)), DM_DIRTYLOG_NAME_MAX,
			       c->since, describe(c, d2, sizeof(d2)));
			return -EINVAL;
		}
		if (c->nr_blocks < p->nr_blocks) {
			dl_seterr(err, errlen,
			       "device shrank: map %s has %" PRIu64 " blocks, the "
			       "later map %s only %" PRIu64,
			       describe(p, d1, sizeof(d1)), p->nr_blocks,
			       describe(c, d2, sizeof(d2)), c->nr_blocks);
			return -EINVAL;
		}
	}
	return 0;
}

int dl_bmfile_merge(const struct dl_bmfile *in, unsigned int n,
		    struct dl_bmfile *out, char *err, size_t errlen)
{
	const struct dl_bmfile **v, *last;
	int ret;

	memset(out, 0, sizeof(*out));
	if (!n) {
		dl_seterr(err, errlen, "no files to merge");
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		if (!in[i].bits || !in[i].nr_blocks) {
			dl_seterr(err, errlen, "invalid map: input %u has no blocks", i);
			return -EINVAL;
		}
	}
	v = calloc(n, sizeof(*v));
	if (!v) {
		dl_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++)
		v[i] = &in[i];
	qsort(v, n, sizeof(*v), cmp_chain);
	ret = check_chain(v, n, err, errlen);
	if (ret)
		goto out;

	last = v[n - 1];
	ret = dl_bmfile_alloc(out, last->nr_blocks);
	if (ret) {
		dl_seterr(err, errlen, "cannot allocate a %" PRIu64 "-block map: %s",
		       last->nr_blocks, strerror(-ret));
		goto out;
	}
	for (unsigned int i = 0; i < n; i++) {
		uint64_t len = dl_bmfile_body_len(v[i]->nr_blocks);

		for (uint64_t j = 0; j + 1 < len; j++)
			out->bits[j] |= v[i]->bits[j];
		out->bits[len - 1] |= v[i]->bits[len - 1] &
				      last_byte_mask(v[i]->nr_blocks);
	}
	out->block_sectors = last->block_sectors;
	out->created_ns = now_ns();
	memcpy(out->dev_uuid, last->dev_uuid, sizeof(out->dev_uuid));
	memcpy(out->dev_name, last->dev_name, sizeof(out->dev_name));
	memcpy(out->since, v[0]->since, sizeof(out->since));
	out->since_id = v[0]->since_id;
	memcpy(out->until, last->until, sizeof(out->until));
	out->until_id = last->until_id;
	out->nr_dirty = dl_bmfile_count(out);
out:
	free(v);
	return ret;
}
