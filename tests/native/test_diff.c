// SPDX-License-Identifier: GPL-2.0-only
/*
 * Diff streams (dl-diff) against independent models: random record lists
 * kept in the test, encoders for the native and rbd layouts written here
 * from the format tables with a bit-at-a-time crc32c, and an in-memory
 * image for the raw format.  Every refusal of the reader is produced by
 * damaging a real stream or by a model stream with valid checksums.
 *
 * Randomised tests print their seed; rerun one with DL_SEED=N.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-diff.h"

/* ---- models and helpers -------------------------------------------- */

static uint64_t rng;

static void seed_rng(void)
{
	const char *s = getenv("DL_SEED");
	uint64_t seed;

	seed = s ? strtoull(s, NULL, 0) :
		   (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	ksft_print_msg("seed %" PRIu64 " (rerun with DL_SEED=%" PRIu64 ")\n",
		       seed, seed);
	rng = seed ? seed : 1;
}

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static uint32_t crc_model(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A growable byte buffer: model streams and file contents. */
struct bytes {
	uint8_t *p;
	size_t len, cap;
};

static void b_add(struct bytes *b, const void *p, size_t len)
{
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

/* One record of the model. */
struct rec {
	bool data;
	uint64_t off, len;
	uint8_t *buf;
};

struct model {
	struct dl_diff_info info;
	struct rec *r;
	unsigned int n;
};

static void model_free(struct model *m)
{
	for (unsigned int i = 0; i < m->n; i++)
		free(m->r[i].buf);
	free(m->r);
	m->r = NULL;
	m->n = 0;
}

static void model_add(struct model *m, bool data, uint64_t off, uint64_t len)
{
	struct rec *r;

	m->r = realloc(m->r, (m->n + 1) * sizeof(*m->r));
	r = &m->r[m->n++];
	r->data = data;
	r->off = off;
	r->len = len;
	r->buf = NULL;
	if (data) {
		r->buf = malloc(len);
		for (uint64_t i = 0; i < len; i += 8) {
			uint64_t v = rnd();

			memcpy(r->buf + i, &v, len - i < 8 ? len - i : 8);
		}
	}
}

static void set_info(struct dl_diff_info *info, uint64_t size, uint32_t bs,
		     bool full)
{
	memset(info, 0, sizeof(*info));
	for (int i = 0; i < 16; i++)
		info->uuid[i] = (uint8_t)(0x10 + i);
	info->size = size;
	info->block_size = bs;
	info->full = full;
	if (!full) {
		strcpy(info->base_name, "daily-1");
		info->base_id = 7;
	}
	strcpy(info->new_name, "daily 2");
	info->new_id = 9;
}

/*
 * Random whole blocks (the last one may be short: the size need not be a
 * multiple of the block size), with gaps, some data, some zero.
 */
static void model_random(struct model *m, uint64_t size, uint32_t bs,
			 bool full)
{
	uint64_t nr = (size + bs - 1) / bs, b = 0;

	set_info(&m->info, size, bs, full);
	while (b < nr) {
		uint64_t gap = rnd() & 1 ? 0 : rnd_below(4);
		uint64_t run = 1 + rnd_below(rnd() & 3 ? 3 : 12);
		uint64_t off, end;

		b += gap;
		if (b >= nr)
			break;
		if (run > nr - b)
			run = nr - b;
		off = b * bs;
		end = (b + run) * bs;
		if (end > size)
			end = size;
		/* Consecutive runs: the model never merges them. */
		model_add(m, rnd_below(3) != 0, off, end - off);
		b += run;
	}
}

/* The model encoder of the native format: header, records, trailer. */
static void enc_native(const struct model *m, struct bytes *s, bool trailer)
{
	const struct dl_diff_info *in = &m->info;
	uint8_t h[256] = { 0 }, rh[32];
	uint64_t bytes = 0;

	memcpy(h, "DLDIFF\r\n", 8);
	put32(h + 8, 1);
	put32(h + 12, 256);
	put32(h + 16, (in->full ? 1 : 0) | (in->fuzzy ? 2 : 0));
	put32(h + 20, in->block_size);
	put64(h + 24, in->size);
	memcpy(h + 32, in->uuid, 16);
	put64(h + 48, in->base_id);
	put64(h + 56, in->new_id);
	memcpy(h + 64, in->base_name, strlen(in->base_name));
	memcpy(h + 129, in->new_name, strlen(in->new_name));
	put32(h + 252, crc_model(0, h, 252));
	b_add(s, h, sizeof(h));
	for (unsigned int i = 0; i < m->n; i++) {
		const struct rec *r = &m->r[i];
		uint32_t c;

		memset(rh, 0, sizeof(rh));
		put32(rh, r->data ? 1 : 2);
		put64(rh + 8, r->off);
		put64(rh + 16, r->len);
		c = crc_model(0, rh, 24);
		if (r->data) {
			c = crc_model(c, r->buf, r->len);
			bytes += r->len;
		}
		put32(rh + 24, c);
		b_add(s, rh, sizeof(rh));
		if (r->data)
			b_add(s, r->buf, r->len);
	}
	if (!trailer)
		return;
	memset(rh, 0, sizeof(rh));
	put32(rh, 3);
	put64(rh + 8, m->n);
	put64(rh + 16, bytes);
	put32(rh + 24, crc_model(0, s->p, s->len));
	put32(rh + 28, crc_model(0, rh, 28));
	b_add(s, rh, sizeof(rh));
}

/* The model encoder of rbd diff v1 (Ceph doc/dev/rbd-diff.rst). */
static void enc_rbd(const struct model *m, struct bytes *s)
{
	uint8_t b[17];

	b_add(s, "rbd diff v1\n", 12);
	if (!m->info.full) {
		b[0] = 'f';
		put32(b + 1, (uint32_t)strlen(m->info.base_name));
		b_add(s, b, 5);
		b_add(s, m->info.base_name, strlen(m->info.base_name));
	}
	b[0] = 't';
	put32(b + 1, (uint32_t)strlen(m->info.new_name));
	b_add(s, b, 5);
	b_add(s, m->info.new_name, strlen(m->info.new_name));
	b[0] = 's';
	put64(b + 1, m->info.size);
	b_add(s, b, 9);
	for (unsigned int i = 0; i < m->n; i++) {
		b[0] = m->r[i].data ? 'w' : 'z';
		put64(b + 1, m->r[i].off);
		put64(b + 9, m->r[i].len);
		b_add(s, b, 17);
		if (m->r[i].data)
			b_add(s, m->r[i].buf, m->r[i].len);
	}
	b_add(s, "e", 1);
}

/* Write @m through the library; returns finish()'s result. */
static int lib_write(enum dl_diff_format f, int fd, const struct model *m,
		     char *err)
{
	struct dl_diff_writer *w;
	int ret = 0;

	w = dl_diff_writer_open(f, fd, &m->info, err, DL_DIFF_ERR_LEN);
	if (!w)
		return -errno;
	for (unsigned int i = 0; i < m->n && !ret; i++)
		ret = m->r[i].data ?
			dl_diff_write_data(w, m->r[i].off, m->r[i].len,
					   m->r[i].buf) :
			dl_diff_write_zero(w, m->r[i].off, m->r[i].len);
	if (!ret)
		ret = dl_diff_writer_finish(w);
	dl_diff_writer_free(w);
	return ret;
}

static int memfd_of(const void *p, size_t len)
{
	int fd = memfd_create("dl-diff", 0);

	if (fd < 0)
		return -1;
	if (len && write(fd, p, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

static void slurp(int fd, struct bytes *b)
{
	uint8_t buf[65536];
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		b_add(b, buf, (size_t)n);
}

/*
 * With ucap set, read_compare() lends the reader a buffer of ucap bytes
 * before every record (dl_diff_reader_set_buffer(), as apply does): data
 * that fits must arrive in it, larger data in the reader's own.
 */
static size_t ucap;
static uint8_t *ubuf;

/*
 * Read every record of the stream @fd and compare with @m (NULL: only
 * read).  Returns the reader's final result: 0 at a verified end.
 */
static int read_compare(struct __test_metadata *_metadata, int fd,
			const struct model *m, char *err)
{
	struct dl_diff_info info;
	struct dl_diff_reader *r;
	struct dl_diff_record rec;
	unsigned int i = 0;
	uint64_t done = 0;	/* bytes of model record i already seen */
	int ret;

	err[0] = 0;
	r = dl_diff_reader_open(fd, &info, err, DL_DIFF_ERR_LEN);
	if (!r)
		return -errno;
	if (m) {
		EXPECT_EQ(m->info.size, info.size);
		EXPECT_EQ(m->info.full, info.full);
		EXPECT_STREQ(m->info.base_name, info.base_name);
		EXPECT_STREQ(m->info.new_name, info.new_name);
	}
	for (;;) {
		if (ucap) {
			memset(ubuf, 0xa5, ucap);
			dl_diff_reader_set_buffer(r, ubuf, ucap);
		}
		ret = dl_diff_read_record(r, &rec);
		if (ret != 1)
			break;
		if (ucap && rec.type == DL_DIFF_DATA)
			ASSERT_EQ(rec.length <= ucap, rec.data == ubuf)
				TH_LOG("%" PRIu64 " bytes, buffer %zu", rec.length, ucap);
		if (!m)
			continue;
		ASSERT_GT(m->n, i) TH_LOG("extra record at %" PRIu64, rec.offset);
		ASSERT_EQ(m->r[i].data, rec.type == DL_DIFF_DATA);
		ASSERT_EQ(m->r[i].off + done, rec.offset) TH_LOG("record %u", i);
		ASSERT_GE(m->r[i].len - done, rec.length);
		if (m->r[i].data)
			ASSERT_EQ(0, memcmp(m->r[i].buf + done, rec.data,
					    rec.length)) TH_LOG("record %u", i);
		done += rec.length;
		if (done == m->r[i].len) {
			i++;
			done = 0;
		}
	}
	if (m && !ret)
		EXPECT_EQ(m->n, i);
	/* Every later call gives the same answer. */
	EXPECT_EQ(ret, dl_diff_read_record(r, &rec));
	dl_diff_reader_free(r);
	return ret;
}

/* Read the stream held in @b; the final result and the message. */
static int read_bytes(struct __test_metadata *_metadata, const struct bytes *b,
		      char *err)
{
	int fd = memfd_of(b->p, b->len), ret;

	if (fd < 0)
		return -999;
	ret = read_compare(_metadata, fd, NULL, err);
	close(fd);
	return ret;
}

/* ---- round trips over several block sizes --------------------------- */

FIXTURE(diff) {
	struct model m;
	char err[DL_DIFF_ERR_LEN];
	char dir[64];
};

FIXTURE_VARIANT(diff) {
	uint32_t block_size;
	uint64_t size;
};

FIXTURE_VARIANT_ADD(diff, bs4k) { .block_size = 4096, .size = 1000 * 4096 };
FIXTURE_VARIANT_ADD(diff, bs64k_short_tail) {
	.block_size = 65536, .size = 100 * 65536 - 1536 };
FIXTURE_VARIANT_ADD(diff, bs1m) { .block_size = 1 << 20, .size = 24 << 20 };

FIXTURE_SETUP(diff)
{
	seed_rng();
	memset(&self->m, 0, sizeof(self->m));
	model_random(&self->m, variant->size, variant->block_size, rnd() & 1);
	strcpy(self->dir, "/tmp/test_diff.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	TH_LOG("%u records, full %d", self->m.n, self->m.info.full);
}

FIXTURE_TEARDOWN(diff)
{
	char p[128];

	snprintf(p, sizeof(p), "%s/raw", self->dir);
	unlink(p);
	rmdir(self->dir);
	model_free(&self->m);
}

TEST_F(diff, native_round_trip_matches_model)
{
	int fd = memfd_create("d", 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lib_write(DL_DIFF_NATIVE, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	lseek(fd, 0, SEEK_SET);
	ASSERT_EQ(0, read_compare(_metadata, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	close(fd);
}

TEST_F(diff, native_bytes_match_format_table)
{
	struct bytes got = { 0 }, want = { 0 };
	int fd = memfd_create("d", 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lib_write(DL_DIFF_NATIVE, fd, &self->m, self->err));
	slurp(fd, &got);
	enc_native(&self->m, &want, true);
	ASSERT_EQ(want.len, got.len);
	ASSERT_EQ(0, memcmp(want.p, got.p, want.len));
	free(got.p);
	free(want.p);
	close(fd);
}

TEST_F(diff, rbd_bytes_match_ceph_format_and_read_back)
{
	struct bytes got = { 0 }, want = { 0 };
	int fd = memfd_create("d", 0);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lib_write(DL_DIFF_RBD, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	slurp(fd, &got);
	enc_rbd(&self->m, &want);
	ASSERT_EQ(want.len, got.len);
	ASSERT_EQ(0, memcmp(want.p, got.p, want.len));
	lseek(fd, 0, SEEK_SET);
	ASSERT_EQ(0, read_compare(_metadata, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	free(got.p);
	free(want.p);
	close(fd);
}

/* Write @m as @f into a pipe from a child and read it back as it comes. */
static void pipe_round_trip(struct __test_metadata *_metadata,
			    enum dl_diff_format f, const struct model *m, char *err)
{
	int p[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		close(p[0]);
		_exit(lib_write(f, p[1], m, err) ? 1 : 0);
	}
	close(p[1]);
	EXPECT_EQ(0, read_compare(_metadata, p[0], m, err)) TH_LOG("%s", err);
	close(p[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
}

/* Native and rbd go through a pipe: no seek on either side. */
TEST_F(diff, sequential_formats_stream_through_a_pipe)
{
	pipe_round_trip(_metadata, DL_DIFF_NATIVE, &self->m, self->err);
	pipe_round_trip(_metadata, DL_DIFF_RBD, &self->m, self->err);
}

/*
 * A buffer lent for each record (apply's O_DIRECT buffers): data that fits
 * arrives in it, the rest in the reader's own; the records are the same,
 * from a file and through a pipe (reads of any length).
 */
TEST_F(diff, lent_buffer_gets_the_data_that_fits)
{
	enum dl_diff_format fmts[] = { DL_DIFF_NATIVE, DL_DIFF_RBD };
	size_t caps[] = { variant->block_size, 3 * (size_t)variant->block_size };

	for (unsigned int k = 0; k < 4; k++) {
		int fd = memfd_create("d", 0);

		ucap = caps[k & 1];
		ubuf = malloc(ucap);
		ASSERT_NE(NULL, ubuf);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, lib_write(fmts[k / 2], fd, &self->m, self->err));
		lseek(fd, 0, SEEK_SET);
		EXPECT_EQ(0, read_compare(_metadata, fd, &self->m, self->err))
			TH_LOG("%s", self->err);
		close(fd);
		pipe_round_trip(_metadata, fmts[k / 2], &self->m, self->err);
		free(ubuf);
		ubuf = NULL;
		ucap = 0;
	}
}

/* Raw: the file equals the model image; zero ranges are holes. */
static void check_raw(struct __test_metadata *_metadata, const char *path,
		      const struct model *m, uint8_t fill, uint64_t old_size)
{
	uint64_t size = m->info.size;
	uint8_t *img = malloc(size), *got = malloc(size);
	struct stat st;
	int fd;

	ASSERT_NE(NULL, img);
	ASSERT_NE(NULL, got);
	memset(img, 0, size);
	memset(img, fill, old_size < size ? old_size : size);
	for (unsigned int i = 0; i < m->n; i++) {
		if (m->r[i].data)
			memcpy(img + m->r[i].off, m->r[i].buf, m->r[i].len);
		else
			memset(img + m->r[i].off, 0, m->r[i].len);
	}
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	ASSERT_EQ((off_t)size, st.st_size);
	ASSERT_EQ((ssize_t)size, pread(fd, got, size, 0));
	if (memcmp(img, got, size)) {
		uint64_t i = 0;

		while (img[i] == got[i])
			i++;
		ASSERT_EQ(img[i], got[i]) TH_LOG("first difference at byte %"
						 PRIu64, i);
	}
	/* Each zero record's whole filesystem blocks hold no data. */
	for (unsigned int i = 0; i < m->n; i++) {
		uint64_t bs = (uint64_t)st.st_blksize;
		uint64_t a = (m->r[i].off + bs - 1) / bs * bs;
		uint64_t e = (m->r[i].off + m->r[i].len) / bs * bs;
		off_t d;

		if (m->r[i].data || a >= e)
			continue;
		d = lseek(fd, (off_t)a, SEEK_DATA);
		if (d < 0) {
			ASSERT_EQ(ENXIO, errno);
		} else {
			ASSERT_LE((off_t)e, d) TH_LOG("zero record %u [%" PRIu64
						     ", %" PRIu64 ") has data at %jd",
						     i, a, e, (intmax_t)d);
		}
	}
	close(fd);
	free(img);
	free(got);
}

TEST_F(diff, raw_new_file_equals_model_image_with_holes)
{
	char path[128];
	uint64_t data = 0;
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/raw", self->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lib_write(DL_DIFF_RAW, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	close(fd);
	check_raw(_metadata, path, &self->m, 0, 0);
	/* Only data takes space (plus slack for partly written fs blocks). */
	for (unsigned int i = 0; i < self->m.n; i++)
		data += self->m.r[i].data ? self->m.r[i].len : 0;
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_GE(data + 2 * self->m.n * (uint64_t)st.st_blksize + 65536,
		  (uint64_t)st.st_blocks * 512);
}

TEST_F(diff, raw_over_old_image_punches_zeroes_and_cuts_to_size)
{
	uint64_t old = self->m.info.size + 8192;
	uint8_t *fill = malloc(old);
	char path[128];
	int fd;

	ASSERT_NE(NULL, fill);
	memset(fill, 0xa5, old);
	snprintf(path, sizeof(path), "%s/raw", self->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)old, write(fd, fill, old));
	free(fill);
	ASSERT_EQ(0, lib_write(DL_DIFF_RAW, fd, &self->m, self->err))
		TH_LOG("%s", self->err);
	close(fd);
	check_raw(_metadata, path, &self->m, 0xa5, old);
}

/* ---- refusals -------------------------------------------------------- */

/*
 * A fixed native stream for damage: data [0, 4096) at 256 (data at 288),
 * zero [8192, 16384) at 4384, data [16384, 20480) at 4416 (data at 4448),
 * trailer at 8544; 8576 bytes.
 */
FIXTURE(bad) {
	struct model m;
	struct bytes s;
	char err[DL_DIFF_ERR_LEN];
};

FIXTURE_SETUP(bad)
{
	int fd;

	rng = 42;
	memset(&self->m, 0, sizeof(self->m));
	memset(&self->s, 0, sizeof(self->s));
	set_info(&self->m.info, 1 << 20, 4096, false);
	model_add(&self->m, true, 0, 4096);
	model_add(&self->m, false, 8192, 8192);
	model_add(&self->m, true, 16384, 4096);
	fd = memfd_create("d", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lib_write(DL_DIFF_NATIVE, fd, &self->m, self->err));
	slurp(fd, &self->s);
	close(fd);
	ASSERT_EQ(8576, self->s.len);
	ASSERT_EQ(0, read_bytes(_metadata, &self->s, self->err));
}

FIXTURE_TEARDOWN(bad)
{
	model_free(&self->m);
	free(self->s.p);
}

#define EXPECT_REFUSED(want_ret, want_msg)				\
	do {								\
		int __r = read_bytes(_metadata, &self->s, self->err);	\
		EXPECT_EQ(want_ret, __r) TH_LOG("%s", self->err);	\
		EXPECT_NE(NULL, strstr(self->err, want_msg))		\
			TH_LOG("message: %s", self->err);		\
	} while (0)

static void flip(struct bytes *s, size_t off)
{
	s->p[off] ^= 0x5a;
}

TEST_F(bad, flipped_header_byte)
{
	for (size_t off = 16; off < 256; off++) {
		flip(&self->s, off);
		EXPECT_REFUSED(-EBADMSG, "header corrupt");
		flip(&self->s, off);
	}
}

TEST_F(bad, flipped_magic)
{
	flip(&self->s, 3);
	EXPECT_REFUSED(-EILSEQ, "not a diff stream");
}

TEST_F(bad, flipped_record_header_byte)
{
	static const size_t offs[] = { 0, 4, 8, 9, 15, 16, 23, 24, 27, 28, 31 };

	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		/* the first record (data) and the second (zero) */
		flip(&self->s, 256 + offs[i]);
		EXPECT_REFUSED(-EBADMSG, "record corrupt");
		EXPECT_NE(NULL, strstr(self->err, "record 0 at stream offset 256"));
		flip(&self->s, 256 + offs[i]);
		flip(&self->s, 4384 + offs[i]);
		EXPECT_REFUSED(-EBADMSG, "record 1 at stream offset 4384");
		flip(&self->s, 4384 + offs[i]);
	}
}

TEST_F(bad, flipped_data_byte)
{
	for (size_t off = 288; off < 4384; off += 97) {
		flip(&self->s, off);
		EXPECT_REFUSED(-EBADMSG, "checksum mismatch");
		EXPECT_NE(NULL, strstr(self->err, "record 0 "));
		flip(&self->s, off);
	}
	flip(&self->s, 8543);
	EXPECT_REFUSED(-EBADMSG, "record 2 at stream offset 4416: checksum");
}

TEST_F(bad, flipped_trailer_byte)
{
	/* byte 0 is the type: a corrupt type is a corrupt record */
	flip(&self->s, 8544);
	EXPECT_REFUSED(-EBADMSG, "record corrupt");
	flip(&self->s, 8544);
	for (size_t off = 8548; off < 8576; off++) {
		flip(&self->s, off);
		EXPECT_REFUSED(-EBADMSG, "trailer corrupt");
		flip(&self->s, off);
	}
}

TEST_F(bad, truncated_anywhere)
{
	size_t len = self->s.len;

	for (size_t cut = 0; cut < len; cut++) {
		self->s.len = cut;
		EXPECT_REFUSED(-ENODATA, "truncated");
	}
	/* At a record boundary the message says why it matters. */
	self->s.len = 8544;
	EXPECT_REFUSED(-ENODATA, "without a trailer");
	/* The same with a lent buffer (reads straight into it). */
	ucap = 4096;
	ubuf = malloc(ucap);
	ASSERT_NE(NULL, ubuf);
	for (size_t cut = 0; cut < len; cut++) {
		self->s.len = cut;
		EXPECT_REFUSED(-ENODATA, "truncated");
	}
	free(ubuf);
	ubuf = NULL;
	ucap = 0;
	self->s.len = len;
}

TEST_F(bad, trailing_garbage)
{
	b_add(&self->s, "", 1);
	EXPECT_REFUSED(-EFBIG, "trailing garbage");
}

TEST_F(bad, future_and_unknown_versions)
{
	put32(self->s.p + 8, 2);
	EXPECT_REFUSED(-EPROTONOSUPPORT,
		       "stream version 2 is newer than this tool supports");
	/* with a valid checksum as well */
	put32(self->s.p + 252, crc_model(0, self->s.p, 252));
	EXPECT_REFUSED(-EPROTONOSUPPORT, "stream version 2 is newer");
	put32(self->s.p + 8, 0);
	EXPECT_REFUSED(-EPROTONOSUPPORT, "unsupported stream version 0");
}

/* Model streams with valid checksums everywhere but a broken rule. */
static int model_stream(struct __test_metadata *_metadata, struct model *m,
			char *err)
{
	struct bytes s = { 0 };
	int ret;

	enc_native(m, &s, true);
	ret = read_bytes(_metadata, &s, err);
	free(s.p);
	return ret;
}

TEST_F(bad, model_encoder_agrees)
{
	ASSERT_EQ(0, model_stream(_metadata, &self->m, self->err))
		TH_LOG("%s", self->err);
}

TEST_F(bad, overlapping_records)
{
	self->m.r[1].off = 4096 - 512;
	ASSERT_EQ(-EINVAL, model_stream(_metadata, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "records out of order: record 1"))
		TH_LOG("%s", self->err);
}

TEST_F(bad, descending_records)
{
	self->m.r[2].off = 4096;
	self->m.r[2].len = 4096;
	ASSERT_EQ(-EINVAL, model_stream(_metadata, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "records out of order: record 2"))
		TH_LOG("%s", self->err);
}

TEST_F(bad, record_past_size)
{
	self->m.r[2].off = (1 << 20) - 2048;
	ASSERT_EQ(-EINVAL, model_stream(_metadata, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "past the device size"))
		TH_LOG("%s", self->err);
}

TEST_F(bad, unaligned_and_empty_records)
{
	self->m.r[1].len = 100;
	ASSERT_EQ(-EINVAL, model_stream(_metadata, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "multiples of 512"));
	self->m.r[1].len = 0;
	ASSERT_EQ(-EINVAL, model_stream(_metadata, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "invalid record: record 1"));
}

TEST_F(bad, trailer_counts_checked)
{
	struct bytes s = { 0 };

	/* drop the last record but keep a trailer made for the full list */
	enc_native(&self->m, &s, true);
	self->m.n--;
	free(self->s.p);
	memset(&self->s, 0, sizeof(self->s));
	enc_native(&self->m, &self->s, false);
	self->m.n++;
	b_add(&self->s, s.p + s.len - 32, 32);
	free(s.p);
	EXPECT_REFUSED(-EBADMSG, "trailer corrupt");
}

/* ---- the writer's refusals and errors -------------------------------- */

TEST_F(bad, writer_refuses_bad_records_and_stays_usable)
{
	struct dl_diff_writer *w;
	struct model ok = { 0 };
	int fd = memfd_create("d", 0);

	ASSERT_LE(0, fd);
	w = dl_diff_writer_open(DL_DIFF_NATIVE, fd, &self->m.info, self->err,
				sizeof(self->err));
	ASSERT_NE(NULL, w);
	ASSERT_EQ(0, dl_diff_write_zero(w, 8192, 8192));
	EXPECT_EQ(-EINVAL, dl_diff_write_zero(w, 0, 4096));	/* descending */
	EXPECT_NE(NULL, strstr(self->err, "records out of order"));
	EXPECT_EQ(-EINVAL, dl_diff_write_zero(w, 12288, 8192));	/* overlap */
	EXPECT_NE(NULL, strstr(self->err, "records out of order"));
	EXPECT_EQ(-EINVAL, dl_diff_write_data(w, 16384, 100, self->m.r[0].buf));
	EXPECT_NE(NULL, strstr(self->err, "multiples of 512"));
	EXPECT_EQ(-EINVAL, dl_diff_write_zero(w, 16384, 0));
	EXPECT_EQ(-EINVAL, dl_diff_write_zero(w, 1 << 20, 512));	/* past */
	EXPECT_NE(NULL, strstr(self->err, "past the device size"));
	ASSERT_EQ(0, dl_diff_write_data(w, 16384, 4096, self->m.r[2].buf));
	ASSERT_EQ(0, dl_diff_writer_finish(w));
	EXPECT_EQ(-EINVAL, dl_diff_write_zero(w, 1 << 19, 512));	/* after end */
	dl_diff_writer_free(w);

	ok.info = self->m.info;
	ok.r = &self->m.r[1];
	ok.n = 2;
	lseek(fd, 0, SEEK_SET);
	EXPECT_EQ(0, read_compare(_metadata, fd, &ok, self->err))
		TH_LOG("%s", self->err);
	close(fd);
}

TEST_F(bad, writer_refuses_bad_info)
{
	struct dl_diff_info in = self->m.info;

	in.block_size = 3000;
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_NATIVE, 1, &in, self->err,
					    sizeof(self->err)));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_NE(NULL, strstr(self->err, "block size"));
	in = self->m.info;
	in.full = true;
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_NATIVE, 1, &in, self->err,
					    sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "full export has no base"));
	in = self->m.info;
	in.new_id = 3;
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_NATIVE, 1, &in, self->err,
					    sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "not after base"));
}

TEST_F(bad, writer_without_finish_is_incomplete)
{
	struct dl_diff_writer *w;
	int fd = memfd_create("d", 0);

	ASSERT_LE(0, fd);
	w = dl_diff_writer_open(DL_DIFF_NATIVE, fd, &self->m.info, self->err,
				sizeof(self->err));
	ASSERT_NE(NULL, w);
	ASSERT_EQ(0, dl_diff_write_data(w, 0, 4096, self->m.r[0].buf));
	dl_diff_writer_free(w);
	lseek(fd, 0, SEEK_SET);
	/* what was buffered is dropped; nothing is ever accepted */
	EXPECT_EQ(-ENODATA, read_compare(_metadata, fd, NULL, self->err));
	EXPECT_NE(NULL, strstr(self->err, "truncated"));
	close(fd);
}

TEST_F(bad, writer_reports_broken_pipe_and_full_disk)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int p[2], fd;

	ASSERT_EQ(0, pipe(p));
	close(p[0]);
	EXPECT_EQ(-EPIPE, lib_write(DL_DIFF_RBD, p[1], &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "broken pipe")) TH_LOG("%s", self->err);
	close(p[1]);
	signal(SIGPIPE, old);

	fd = open("/dev/full", O_WRONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(-ENOSPC, lib_write(DL_DIFF_NATIVE, fd, &self->m, self->err));
	EXPECT_NE(NULL, strstr(self->err, "no space left on device"))
		TH_LOG("%s", self->err);
	close(fd);
}

TEST_F(bad, raw_refuses_a_pipe)
{
	int p[2];

	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_RAW, p[1], &self->m.info,
					    self->err, sizeof(self->err)));
	EXPECT_EQ(ESPIPE, errno);
	EXPECT_NE(NULL, strstr(self->err, "seekable")) TH_LOG("%s", self->err);
	close(p[0]);
	close(p[1]);
}

/* ---- rbd names and the rbd reader ----------------------------------- */

TEST(rbd_snapshot_names)
{
	char err[DL_DIFF_ERR_LEN];
	struct dl_diff_info in;

	EXPECT_EQ(0, dl_diff_rbd_name_ok("nightly 2024-01-01_x.y", err, sizeof(err)));
	EXPECT_EQ(-EINVAL, dl_diff_rbd_name_ok("a/b", err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "'/'"));
	EXPECT_EQ(-EINVAL, dl_diff_rbd_name_ok("a@b", err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "'@'"));
	EXPECT_EQ(-EINVAL, dl_diff_rbd_name_ok("", err, sizeof(err)));

	set_info(&in, 1 << 20, 4096, false);
	strcpy(in.base_name, "pool/x");
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_RBD, 1, &in, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "invalid rbd snapshot name 'pool/x'"));
	/* the native format takes any checkpoint name */
	set_info(&in, 1 << 20, 4096, false);
	strcpy(in.new_name, "img@snap");
	EXPECT_EQ(NULL, dl_diff_writer_open(DL_DIFF_RBD, 1, &in, err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "'@'"));
}

TEST(rbd_reader_refusals)
{
	static const uint8_t hdr[] = "rbd diff v1\nt\2\0\0\0s1s\0\0\x10\0\0\0\0\0";
	char err[DL_DIFF_ERR_LEN];
	struct bytes s = { 0 };
	uint8_t w[17] = { 'z' };

	b_add(&s, hdr, sizeof(hdr) - 1);
	put64(w + 1, 8192);
	put64(w + 9, 4096);
	b_add(&s, w, 17);
	EXPECT_EQ(-ENODATA, read_bytes(_metadata, &s, err));
	EXPECT_NE(NULL, strstr(err, "without its end record"));
	b_add(&s, "e", 1);
	EXPECT_EQ(0, read_bytes(_metadata, &s, err)) TH_LOG("%s", err);
	b_add(&s, "x", 1);
	EXPECT_EQ(-EFBIG, read_bytes(_metadata, &s, err));
	EXPECT_NE(NULL, strstr(err, "trailing garbage"));
	s.len -= 2;
	put64(w + 1, 0);	/* descending */
	b_add(&s, w, 17);
	b_add(&s, "e", 1);
	EXPECT_EQ(-EINVAL, read_bytes(_metadata, &s, err));
	EXPECT_NE(NULL, strstr(err, "records out of order: record 1"));
	s.len -= 18;
	put64(w + 1, 1 << 20);	/* past the size */
	b_add(&s, w, 17);
	b_add(&s, "e", 1);
	EXPECT_EQ(-EINVAL, read_bytes(_metadata, &s, err));
	EXPECT_NE(NULL, strstr(err, "past the device size"));
	s.len -= 18;
	b_add(&s, "s", 1);	/* metadata after data */
	EXPECT_EQ(-EBADMSG, read_bytes(_metadata, &s, err));
	EXPECT_NE(NULL, strstr(err, "after the data records"));
	free(s.p);
}

TEST_HARNESS_MAIN
