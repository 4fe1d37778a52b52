// SPDX-License-Identifier: GPL-2.0-only
/*
 * Dirty bitmap files (dl-bmfile) against independent models: a plain bool
 * array per block for the bitmap operations, a bit-at-a-time crc32c for
 * the checksums, and byte offsets written out by hand for the layout.
 * Every refusal of the reader is produced by damaging a real written file.
 *
 * Randomised tests print their seed; rerun one with DL_SEED=N.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-bmfile.h"

#define UUID_A	"0123456789abcdef0123456789abcdef"
#define UUID_B	"fedcba9876543210fedcba9876543210"

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

/* xorshift64*: enough for test patterns. */
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

/* Reference crc32c: one bit at a time, straight from the definition. */
static uint32_t crc_model(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = 0xffffffffU;

	while (len--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82F63B78U : c >> 1;
	}
	return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static bool model_bit(const struct dl_bmfile *f, uint64_t i)
{
	return f->bits[i / 8] >> (i % 8) & 1;
}

/* Extents as the model sees them. */
struct ext_list {
	uint64_t n, cap;
	uint64_t (*e)[2];
};

static int ext_add(uint64_t start, uint64_t count, void *arg)
{
	struct ext_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->e = realloc(l->e, l->cap * sizeof(*l->e));
		if (!l->e)
			return -ENOMEM;
	}
	l->e[l->n][0] = start;
	l->e[l->n][1] = count;
	l->n++;
	return 0;
}

static void model_extents(const bool *m, uint64_t nr, struct ext_list *l)
{
	for (uint64_t i = 0; i < nr;) {
		uint64_t j = i;

		if (!m[i]) {
			i++;
			continue;
		}
		while (j < nr && m[j])
			j++;
		ext_add(i, j - i, l);
		i = j;
	}
}

/* Compare a map with the bool model: every bit, count, extents, tail. */
static void check_model(struct __test_metadata *_metadata,
			const struct dl_bmfile *f, const bool *m)
{
	struct ext_list got = { 0 }, want = { 0 };
	uint64_t len = dl_bmfile_body_len(f->nr_blocks), n = 0;

	for (uint64_t i = 0; i < f->nr_blocks; i++) {
		ASSERT_EQ(m[i], model_bit(f, i)) TH_LOG("block %" PRIu64, i);
		n += m[i];
	}
	for (uint64_t i = f->nr_blocks; i < len * 8; i++) {
		ASSERT_FALSE(model_bit(f, i)) TH_LOG("tail bit %" PRIu64, i);
	}
	ASSERT_EQ(n, dl_bmfile_count(f));

	ASSERT_EQ(0, dl_bmfile_extents(f, ext_add, &got));
	model_extents(m, f->nr_blocks, &want);
	ASSERT_EQ(want.n, got.n);
	for (uint64_t i = 0; i < want.n; i++) {
		ASSERT_EQ(want.e[i][0], got.e[i][0]) TH_LOG("extent %" PRIu64, i);
		ASSERT_EQ(want.e[i][1], got.e[i][1]) TH_LOG("extent %" PRIu64, i);
	}
	free(got.e);
	free(want.e);
}

static void set_meta(struct dl_bmfile *f, const char *uuid,
		     const char *since, uint64_t since_id,
		     const char *until, uint64_t until_id)
{
	f->block_sectors = 8;
	snprintf(f->dev_uuid, sizeof(f->dev_uuid), "%s", uuid);
	snprintf(f->dev_name, sizeof(f->dev_name), "vg-data.%s", since);
	snprintf(f->since, sizeof(f->since), "%s", since);
	f->since_id = since_id;
	snprintf(f->until, sizeof(f->until), "%s", until);
	f->until_id = until_id;
}

/* Random runs, short and long, at random places: a model and a map. */
static void random_fill(struct __test_metadata *_metadata,
			struct dl_bmfile *f, bool *m, unsigned int nr_runs)
{
	for (unsigned int r = 0; r < nr_runs; r++) {
		uint64_t start = rnd_below(f->nr_blocks);
		uint64_t max = f->nr_blocks - start;
		uint64_t count = rnd() & 1 ? rnd_below(17) : rnd_below(max + 1);

		if (count > max)
			count = max;
		ASSERT_EQ(0, dl_bmfile_set_range(f, start, count));
		for (uint64_t i = 0; i < count; i++)
			m[start + i] = true;
	}
}

static char *path_in(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

static int nr_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void rm_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *p;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		p = path_in(dir, e->d_name);
		if (p)
			unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(dir);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : st.st_size;
}

static void pwrite_at(struct __test_metadata *_metadata, const char *path,
		      off_t off, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, pwrite(fd, buf, len, off));
	close(fd);
}

static void pread_at(struct __test_metadata *_metadata, const char *path,
		     off_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, pread(fd, buf, len, off));
	close(fd);
}

/* Recompute the header checksum with the model crc (field at 68). */
static void fix_header_crc(struct __test_metadata *_metadata, const char *path)
{
	uint8_t h[512];

	pread_at(_metadata, path, 0, h, sizeof(h));
	put32(h + 68, 0);
	put32(h + 68, crc_model(h, sizeof(h)));
	pwrite_at(_metadata, path, 0, h, sizeof(h));
}

/* Recompute the body checksum (field at 64), then the header's. */
static void fix_body_crc(struct __test_metadata *_metadata, const char *path)
{
	off_t size = file_size(path);
	uint8_t *body, c[4];

	ASSERT_LT(512, size);
	body = malloc(size - 512);
	ASSERT_NE(NULL, body);
	pread_at(_metadata, path, 512, body, size - 512);
	put32(c, crc_model(body, size - 512));
	free(body);
	pwrite_at(_metadata, path, 64, c, 4);
	fix_header_crc(_metadata, path);
}

static void patch32(struct __test_metadata *_metadata, const char *path,
		    off_t off, uint32_t v)
{
	uint8_t b[4];

	put32(b, v);
	pwrite_at(_metadata, path, off, b, 4);
}

static void patch64(struct __test_metadata *_metadata, const char *path,
		    off_t off, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	pwrite_at(_metadata, path, off, b, 8);
}

static void flip_byte(struct __test_metadata *_metadata, const char *path,
		      off_t off)
{
	uint8_t b;

	pread_at(_metadata, path, off, &b, 1);
	b ^= 0x5a;
	pwrite_at(_metadata, path, off, &b, 1);
}

/* ---- crc32c --------------------------------------------------------- */

TEST(crc32c_known_values)
{
	uint8_t buf[32];

	EXPECT_EQ(0xE3069283U, dl_crc32c(0, "123456789", 9));
	EXPECT_EQ(0U, dl_crc32c(0, "", 0));
	/* RFC 3720 appendix B.4. */
	memset(buf, 0, sizeof(buf));
	EXPECT_EQ(0x8A9136AAU, dl_crc32c(0, buf, sizeof(buf)));
	memset(buf, 0xff, sizeof(buf));
	EXPECT_EQ(0x62A8AB43U, dl_crc32c(0, buf, sizeof(buf)));
	for (int i = 0; i < 32; i++)
		buf[i] = i;
	EXPECT_EQ(0x46DD794EU, dl_crc32c(0, buf, sizeof(buf)));
	for (int i = 0; i < 32; i++)
		buf[i] = 31 - i;
	EXPECT_EQ(0x113FDB5CU, dl_crc32c(0, buf, sizeof(buf)));
	EXPECT_EQ(0xE3069283U, crc_model("123456789", 9));
}

/* Every length and alignment up to a few words, and chaining, vs the model. */
TEST(crc32c_matches_bitwise_model)
{
	uint8_t buf[300];

	seed_rng();
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rnd();
	for (size_t off = 0; off < 9; off++) {
		for (size_t len = 0; len + off <= sizeof(buf); len += 1 + len / 16) {
			uint32_t want = crc_model(buf + off, len);
			size_t cut = rnd_below(len + 1);

			ASSERT_EQ(want, dl_crc32c(0, buf + off, len))
				TH_LOG("off %zu len %zu", off, len);
			ASSERT_EQ(want, dl_crc32c(dl_crc32c(0, buf + off, cut),
						  buf + off + cut, len - cut))
				TH_LOG("off %zu len %zu cut %zu", off, len, cut);
			/* The table path, which a CPU with crc32 never takes. */
			ASSERT_EQ(want, dl_crc32c_soft(dl_crc32c_soft(0, buf + off, cut),
						       buf + off + cut, len - cut))
				TH_LOG("soft: off %zu len %zu cut %zu", off, len, cut);
		}
	}
}

/*
 * crc(A) and crc(B) combine to crc(AB): against the bitwise model at small
 * sizes, and against dl_crc32c() (checked above) over up to 4 MiB.
 */
TEST(crc32c_combine_matches_model)
{
	const size_t big = 4 << 20;
	uint8_t *buf = malloc(big);

	ASSERT_NE(NULL, buf);
	seed_rng();
	for (size_t i = 0; i < big; i++)
		buf[i] = rnd();
	for (int round = 0; round < 300; round++) {
		size_t len = round < 40 ? (size_t)round : rnd_below(4096);
		size_t cut = rnd_below(len + 1);

		ASSERT_EQ(crc_model(buf, len),
			  dl_crc32c_combine(dl_crc32c(0, buf, cut),
					    dl_crc32c(0, buf + cut, len - cut), len - cut))
			TH_LOG("len %zu cut %zu", len, cut);
	}
	for (int round = 0; round < 8; round++) {
		size_t len = big - rnd_below(4096), cut = rnd_below(len + 1);

		if (round == 0)
			cut = 0;
		ASSERT_EQ(dl_crc32c(0, buf, len),
			  dl_crc32c_combine(dl_crc32c(0, buf, cut),
					    dl_crc32c(0, buf + cut, len - cut), len - cut))
			TH_LOG("len %zu cut %zu", len, cut);
	}
	EXPECT_EQ(0x12345678U, dl_crc32c_combine(0x12345678U, 0, 0));
	free(buf);
}

/* ---- bitmap operations, per map size -------------------------------- */

FIXTURE(map)
{
	struct dl_bmfile f;
	bool *m;
	char dir[64];
};

FIXTURE_VARIANT(map)
{
	uint64_t nr_blocks;
};

FIXTURE_VARIANT_ADD(map, b1) { .nr_blocks = 1 };
FIXTURE_VARIANT_ADD(map, b7) { .nr_blocks = 7 };
FIXTURE_VARIANT_ADD(map, b8) { .nr_blocks = 8 };
FIXTURE_VARIANT_ADD(map, b9) { .nr_blocks = 9 };
FIXTURE_VARIANT_ADD(map, b64) { .nr_blocks = 64 };
FIXTURE_VARIANT_ADD(map, b65) { .nr_blocks = 65 };
FIXTURE_VARIANT_ADD(map, b1001) { .nr_blocks = 1001 };
FIXTURE_VARIANT_ADD(map, b40960) { .nr_blocks = 40960 };
FIXTURE_VARIANT_ADD(map, b100003) { .nr_blocks = 100003 };

FIXTURE_SETUP(map)
{
	seed_rng();
	ASSERT_EQ(0, dl_bmfile_alloc(&self->f, variant->nr_blocks));
	self->m = calloc(variant->nr_blocks, sizeof(bool));
	ASSERT_NE(NULL, self->m);
	strcpy(self->dir, "/tmp/test_bmfile.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(map)
{
	dl_bmfile_free(&self->f);
	free(self->m);
	rm_dir(self->dir);
}

TEST_F(map, alloc_is_clean)
{
	check_model(_metadata, &self->f, self->m);
	EXPECT_EQ(0, dl_bmfile_count(&self->f));
}

TEST_F(map, set_range_and_extents_match_model)
{
	uint64_t nr = variant->nr_blocks;

	for (int round = 0; round < 8; round++) {
		random_fill(_metadata, &self->f, self->m, 6);
		check_model(_metadata, &self->f, self->m);
	}
	/* The last block, the first, and the whole map. */
	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, nr - 1, 1));
	self->m[nr - 1] = true;
	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, 0, 1));
	self->m[0] = true;
	check_model(_metadata, &self->f, self->m);
	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, 0, nr));
	for (uint64_t i = 0; i < nr; i++)
		self->m[i] = true;
	check_model(_metadata, &self->f, self->m);
}

TEST_F(map, set_range_past_end_changes_nothing)
{
	uint64_t nr = variant->nr_blocks;

	EXPECT_EQ(-ERANGE, dl_bmfile_set_range(&self->f, nr, 1));
	EXPECT_EQ(-ERANGE, dl_bmfile_set_range(&self->f, 0, nr + 1));
	EXPECT_EQ(-ERANGE, dl_bmfile_set_range(&self->f, 1, UINT64_MAX));
	EXPECT_EQ(-ERANGE, dl_bmfile_set_range(&self->f, UINT64_MAX, 2));
	EXPECT_EQ(0, dl_bmfile_set_range(&self->f, nr, 0));
	check_model(_metadata, &self->f, self->m);
}

/* Chunks at any alignment, with junk past nbits in their last byte. */
TEST_F(map, or_bits_any_alignment_matches_model)
{
	uint64_t nr = variant->nr_blocks;
	uint8_t chunk[700];

	for (int r = 0; r < 200; r++) {
		uint64_t start = rnd_below(nr), nbits;

		if (r % 4 == 0)
			start &= ~7ULL;
		nbits = rnd_below(nr - start + 1);
		if (nbits > 8 * sizeof(chunk))
			nbits = rnd_below(8 * sizeof(chunk) + 1);
		for (size_t i = 0; i < sizeof(chunk); i++)
			chunk[i] = rnd_below(3) ? 0 : rnd();
		ASSERT_EQ(0, dl_bmfile_or_bits(&self->f, start, chunk, nbits));
		for (uint64_t j = 0; j < nbits; j++)
			if (chunk[j / 8] >> (j % 8) & 1)
				self->m[start + j] = true;
		if (r % 20 == 0)
			check_model(_metadata, &self->f, self->m);
	}
	check_model(_metadata, &self->f, self->m);
	memset(chunk, 0xff, sizeof(chunk));
	EXPECT_EQ(-ERANGE, dl_bmfile_or_bits(&self->f, nr, chunk, 1));
	EXPECT_EQ(-ERANGE, dl_bmfile_or_bits(&self->f, 1, chunk, nr));
	check_model(_metadata, &self->f, self->m);
}

static int stop_at_third(uint64_t start, uint64_t count, void *arg)
{
	unsigned int *calls = arg;

	(void)start;
	(void)count;
	return ++*calls == 3 ? 42 : 0;
}

TEST_F(map, extents_stop_when_callback_says_so)
{
	unsigned int calls = 0;

	for (uint64_t i = 0; i < variant->nr_blocks; i += 2) {
		ASSERT_EQ(0, dl_bmfile_set_range(&self->f, i, 1));
	}
	if (variant->nr_blocks < 5) {
		EXPECT_EQ(0, dl_bmfile_extents(&self->f, stop_at_third, &calls));
		EXPECT_EQ((variant->nr_blocks + 1) / 2, calls);
		return;
	}
	EXPECT_EQ(42, dl_bmfile_extents(&self->f, stop_at_third, &calls));
	EXPECT_EQ(3, calls);
}

TEST_F(map, write_read_round_trip)
{
	struct dl_bmfile g;
	char err[DL_BMFILE_ERR_LEN] = "";
	char *path = path_in(self->dir, "map.dlbm");

	ASSERT_NE(NULL, path);
	random_fill(_metadata, &self->f, self->m, 20);
	set_meta(&self->f, UUID_A, "nightly-0001", 7, "nightly-0002", 9);
	self->f.block_sectors = 128;
	self->f.created_ns = 1700000000123456789ULL;
	ASSERT_EQ(0, dl_bmfile_write(path, &self->f, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(512 + (off_t)((variant->nr_blocks + 7) / 8), file_size(path));
	EXPECT_EQ(1, nr_entries(self->dir));

	ASSERT_EQ(0, dl_bmfile_read(path, &g, err, sizeof(err))) TH_LOG("%s", err);
	check_model(_metadata, &g, self->m);
	EXPECT_EQ(variant->nr_blocks, g.nr_blocks);
	EXPECT_EQ(dl_bmfile_count(&g), g.nr_dirty);
	EXPECT_EQ(128, g.block_sectors);
	EXPECT_EQ(1700000000123456789ULL, g.created_ns);
	EXPECT_STREQ(UUID_A, g.dev_uuid);
	EXPECT_STREQ("vg-data.nightly-0001", g.dev_name);
	EXPECT_STREQ("nightly-0001", g.since);
	EXPECT_EQ(7, g.since_id);
	EXPECT_STREQ("nightly-0002", g.until);
	EXPECT_EQ(9, g.until_id);
	dl_bmfile_free(&g);
	free(path);
}

/* ---- file format ------------------------------------------------------ */

FIXTURE(file)
{
	char dir[64];
	char *path;
	struct dl_bmfile f;
	char err[DL_BMFILE_ERR_LEN];
};

/* A valid written file of 1001 blocks (last byte partial). */
FIXTURE_SETUP(file)
{
	seed_rng();
	strcpy(self->dir, "/tmp/test_bmfile.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	self->path = path_in(self->dir, "a.dlbm");
	ASSERT_NE(NULL, self->path);
	ASSERT_EQ(0, dl_bmfile_alloc(&self->f, 1001));
	set_meta(&self->f, UUID_A, "a", 1, "b", 2);
	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, 3, 100));
	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, 990, 11));
	ASSERT_EQ(0, dl_bmfile_write(self->path, &self->f, self->err,
				     sizeof(self->err))) TH_LOG("%s", self->err);
	self->err[0] = '\0';
}

FIXTURE_TEARDOWN(file)
{
	dl_bmfile_free(&self->f);
	free(self->path);
	rm_dir(self->dir);
}

/* Read must fail with @want and a message containing every @needles. */
static void expect_refused(struct __test_metadata *_metadata, const char *path,
			   int want, const char *const *needles)
{
	char err[DL_BMFILE_ERR_LEN] = "";
	struct dl_bmfile g;

	memset(&g, 0xa5, sizeof(g));
	EXPECT_EQ(want, dl_bmfile_read(path, &g, err, sizeof(err)))
		TH_LOG("message: %s", err);
	EXPECT_EQ(NULL, g.bits);
	for (; *needles; needles++) {
		EXPECT_NE(NULL, strstr(err, *needles))
			TH_LOG("'%s' not in '%s'", *needles, err);
	}
	dl_bmfile_free(&g);
}

#define REFUSED(want, ...) \
	expect_refused(_metadata, self->path, want, \
		       (const char *const[]){ __VA_ARGS__, NULL })

/* The layout, byte by byte, written out by hand from the format table. */
TEST_F(file, layout_matches_format_table)
{
	uint8_t h[512];
	uint8_t *body = malloc(126);

	ASSERT_NE(NULL, body);
	ASSERT_EQ(512 + 126, file_size(self->path));
	pread_at(_metadata, self->path, 0, h, sizeof(h));
	pread_at(_metadata, self->path, 512, body, 126);
	EXPECT_EQ(0, memcmp(h, "DLBITMAP", 8));
	EXPECT_EQ(1, get32(h + 8));
	EXPECT_EQ(512, get32(h + 12));
	EXPECT_EQ(0, get32(h + 16));
	EXPECT_EQ(8, get32(h + 20));
	EXPECT_EQ(1001, get64(h + 24));
	EXPECT_EQ(111, get64(h + 32));
	EXPECT_NE(0, get64(h + 40));
	EXPECT_EQ(1, get64(h + 48));
	EXPECT_EQ(2, get64(h + 56));
	EXPECT_EQ(crc_model(body, 126), get32(h + 64));
	EXPECT_STREQ(UUID_A, (char *)h + 72);
	EXPECT_STREQ("vg-data.a", (char *)h + 105);
	EXPECT_STREQ("a", (char *)h + 233);
	EXPECT_STREQ("b", (char *)h + 298);
	for (int i = 363; i < 512; i++) {
		EXPECT_EQ(0, h[i]) TH_LOG("offset %d", i);
	}
	{
		uint32_t stored = get32(h + 68);

		put32(h + 68, 0);
		EXPECT_EQ(crc_model(h, sizeof(h)), stored);
	}
	/* Blocks 3..102 and 990..1000: bit i in byte i/8, bit i%8. */
	EXPECT_EQ(0xf8, body[0]);
	EXPECT_EQ(0xff, body[1]);
	EXPECT_EQ(0x7f, body[12]);
	EXPECT_EQ(0x00, body[13]);
	EXPECT_EQ(0xc0, body[123]);
	EXPECT_EQ(0xff, body[124]);
	EXPECT_EQ(0x01, body[125]);
	free(body);
}

TEST_F(file, refuses_missing_file)
{
	char *p = path_in(self->dir, "nope");

	expect_refused(_metadata, p, -ENOENT,
		       (const char *const[]){ "cannot open", "nope", NULL });
	free(p);
}

TEST_F(file, refuses_bad_magic)
{
	pwrite_at(_metadata, self->path, 0, "DLBITMAX", 8);
	REFUSED(-EILSEQ, "not a bitmap file");
}

TEST_F(file, refuses_other_file_shorter_than_magic)
{
	ASSERT_EQ(0, truncate(self->path, 0));
	pwrite_at(_metadata, self->path, 0, "#!", 2);
	REFUSED(-EILSEQ, "not a bitmap file");
}

TEST_F(file, refuses_version_2)
{
	patch32(_metadata, self->path, 8, 2);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EPROTONOSUPPORT, "unsupported version", "version 2");
}

TEST_F(file, refuses_other_header_size)
{
	patch32(_metadata, self->path, 12, 1024);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EPROTONOSUPPORT, "unsupported header size", "1024");
}

TEST_F(file, refuses_flipped_header_byte)
{
	/* Every field after the version and header size, one at a time. */
	static const off_t offs[] = { 16, 20, 24, 32, 40, 48, 56, 64, 68, 72,
				      150, 233, 300, 363, 511 };
	struct dl_bmfile g;

	for (unsigned int i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		flip_byte(_metadata, self->path, offs[i]);
		REFUSED(-EBADMSG, "header corrupt", "checksum");
		flip_byte(_metadata, self->path, offs[i]);
	}
	/* Flipped back: whole again. */
	ASSERT_EQ(0, dl_bmfile_read(self->path, &g, self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	dl_bmfile_free(&g);
}

TEST_F(file, refuses_flipped_body_byte)
{
	flip_byte(_metadata, self->path, 512 + rnd_below(125));
	REFUSED(-EBADMSG, "body corrupt", "checksum");
}

TEST_F(file, refuses_truncated_by_one_byte)
{
	ASSERT_EQ(0, truncate(self->path, 512 + 126 - 1));
	REFUSED(-ENODATA, "truncated", "is 637 bytes", "expected 638");
}

TEST_F(file, refuses_truncated_inside_header)
{
	ASSERT_EQ(0, truncate(self->path, 100));
	REFUSED(-ENODATA, "truncated", "100 bytes", "512-byte header");
	ASSERT_EQ(0, truncate(self->path, 5));
	REFUSED(-ENODATA, "truncated", "5 bytes");
	ASSERT_EQ(0, truncate(self->path, 0));
	REFUSED(-ENODATA, "truncated", "0 bytes");
}

TEST_F(file, refuses_appended_byte)
{
	int fd = open(self->path, O_WRONLY | O_APPEND);

	ASSERT_LE(0, fd);
	ASSERT_EQ(1, write(fd, "", 1));
	close(fd);
	REFUSED(-EFBIG, "trailing garbage", "is 639 bytes", "expected 638");
}

TEST_F(file, refuses_nonzero_flags)
{
	patch32(_metadata, self->path, 16, 4);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EOPNOTSUPP, "unsupported flags");
}

TEST_F(file, refuses_nonzero_reserved_byte)
{
	pwrite_at(_metadata, self->path, 400, "x", 1);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EBADMSG, "nonzero reserved bytes", "offset 400");
}

TEST_F(file, refuses_junk_after_string_nul)
{
	pwrite_at(_metadata, self->path, 233 + 10, "x", 1);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EBADMSG, "nonzero reserved bytes", "since");
}

TEST_F(file, refuses_unterminated_strings)
{
	static const struct { off_t off; size_t len; const char *name; } s[] = {
		{ 72, 33, "dev_uuid" }, { 105, 128, "dev_name" },
		{ 233, 65, "since" }, { 298, 65, "until" },
	};
	char fill[128];
	uint8_t orig[512];

	memset(fill, 'z', sizeof(fill));
	pread_at(_metadata, self->path, 0, orig, sizeof(orig));
	for (unsigned int i = 0; i < 4; i++) {
		pwrite_at(_metadata, self->path, s[i].off, fill, s[i].len);
		fix_header_crc(_metadata, self->path);
		REFUSED(-EBADMSG, "unterminated string", s[i].name);
		pwrite_at(_metadata, self->path, 0, orig, sizeof(orig));
	}
}

TEST_F(file, refuses_invalid_block_size)
{
	static const uint32_t bad[] = { 0, 4, 12, 24, 262144, 0x80000000U };

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		patch32(_metadata, self->path, 20, bad[i]);
		fix_header_crc(_metadata, self->path);
		REFUSED(-EINVAL, "invalid block size");
	}
}

TEST_F(file, refuses_zero_blocks)
{
	patch64(_metadata, self->path, 24, 0);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EINVAL, "invalid block count");
}

TEST_F(file, refuses_huge_block_count_without_allocating)
{
	patch64(_metadata, self->path, 24, UINT64_MAX);
	fix_header_crc(_metadata, self->path);
	REFUSED(-ENODATA, "truncated", "expected");
}

TEST_F(file, refuses_uppercase_uuid)
{
	pwrite_at(_metadata, self->path, 72, "A", 1);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EINVAL, "invalid device uuid");
}

TEST_F(file, refuses_inconsistent_checkpoints)
{
	patch64(_metadata, self->path, 48, 0);		/* since_id 0 */
	fix_header_crc(_metadata, self->path);
	REFUSED(-EINVAL, "invalid checkpoints");
	patch64(_metadata, self->path, 48, 5);		/* until before since */
	fix_header_crc(_metadata, self->path);
	REFUSED(-EINVAL, "invalid checkpoints", "not after");
	patch64(_metadata, self->path, 48, 1);
	patch64(_metadata, self->path, 56, 0);		/* "b" with id 0 */
	fix_header_crc(_metadata, self->path);
	REFUSED(-EINVAL, "invalid checkpoints", "'now'");
}

TEST_F(file, refuses_bits_past_the_end)
{
	uint8_t b = 0x03;	/* block 1001 is past the end of 1001 blocks */

	pwrite_at(_metadata, self->path, 512 + 125, &b, 1);
	fix_body_crc(_metadata, self->path);
	REFUSED(-EBADMSG, "bits set past the end");
}

TEST_F(file, refuses_wrong_nr_dirty)
{
	patch64(_metadata, self->path, 32, 112);
	fix_header_crc(_metadata, self->path);
	REFUSED(-EBADMSG, "nr_dirty mismatch", "112", "111");
}

TEST_F(file, reads_and_writes_standard_streams)
{
	struct dl_bmfile g;
	int saved, fd, p[2];
	off_t size = file_size(self->path);
	char *copy = path_in(self->dir, "copy.dlbm");
	char *buf = malloc(size);

	ASSERT_NE(NULL, copy);
	ASSERT_NE(NULL, buf);
	/* stdout into a file, byte-identical to the named write. */
	saved = dup(STDOUT_FILENO);
	fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	fflush(stdout);
	ASSERT_LE(0, dup2(fd, STDOUT_FILENO));
	close(fd);
	ASSERT_EQ(0, dl_bmfile_write("-", &self->f, self->err, sizeof(self->err)));
	ASSERT_LE(0, dup2(saved, STDOUT_FILENO));
	close(saved);
	{
		char *want = malloc(size), *got = malloc(size);

		ASSERT_EQ(size, file_size(copy));
		pread_at(_metadata, self->path, 0, want, size);
		pread_at(_metadata, copy, 0, got, size);
		/* created_ns was set by the first write and kept. */
		EXPECT_EQ(0, memcmp(want, got, size));
		free(want);
		free(got);
	}

	/* stdin from a pipe, whole and truncated. */
	pread_at(_metadata, self->path, 0, buf, size);
	for (int cut = 0; cut < 2; cut++) {
		ASSERT_EQ(0, pipe(p));
		ASSERT_EQ(size - cut, write(p[1], buf, size - cut));
		close(p[1]);
		saved = dup(STDIN_FILENO);
		ASSERT_LE(0, dup2(p[0], STDIN_FILENO));
		close(p[0]);
		if (!cut) {
			ASSERT_EQ(0, dl_bmfile_read("-", &g, self->err,
						    sizeof(self->err)))
				TH_LOG("%s", self->err);
			EXPECT_EQ(111, g.nr_dirty);
			EXPECT_EQ(1001, g.nr_blocks);
			dl_bmfile_free(&g);
		} else {
			EXPECT_EQ(-ENODATA, dl_bmfile_read("-", &g, self->err,
							   sizeof(self->err)));
			EXPECT_NE(NULL, strstr(self->err, "truncated"))
				TH_LOG("%s", self->err);
		}
		ASSERT_LE(0, dup2(saved, STDIN_FILENO));
		close(saved);
	}
	free(buf);
	free(copy);
}

/* ---- atomic replacement ------------------------------------------------ */

TEST_F(file, write_replaces_and_leaves_no_temporary)
{
	struct dl_bmfile g;

	ASSERT_EQ(0, dl_bmfile_set_range(&self->f, 500, 1));
	ASSERT_EQ(0, dl_bmfile_write(self->path, &self->f, self->err,
				     sizeof(self->err)));
	EXPECT_EQ(1, nr_entries(self->dir));
	ASSERT_EQ(0, dl_bmfile_read(self->path, &g, self->err, sizeof(self->err)));
	EXPECT_EQ(112, g.nr_dirty);
	dl_bmfile_free(&g);
}

TEST_F(file, write_refuses_invalid_map_and_touches_nothing)
{
	char *p = path_in(self->dir, "new.dlbm");

	ASSERT_NE(NULL, p);
	self->f.dev_uuid[0] = 'X';
	EXPECT_EQ(-EINVAL, dl_bmfile_write(p, &self->f, self->err,
					   sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "invalid device uuid"));
	self->f.dev_uuid[0] = '0';
	self->f.bits[125] |= 0x80;
	EXPECT_EQ(-EINVAL, dl_bmfile_write(p, &self->f, self->err,
					   sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "bits set past the end"));
	self->f.bits[125] &= 0x01;
	self->f.block_sectors = 7;
	EXPECT_EQ(-EINVAL, dl_bmfile_write(p, &self->f, self->err,
					   sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "invalid block size"));
	EXPECT_EQ(-1, file_size(p));
	EXPECT_EQ(1, nr_entries(self->dir));
	free(p);
}

TEST_F(file, write_into_missing_directory_fails)
{
	char *p = path_in(self->dir, "no/such/dir.dlbm");

	EXPECT_EQ(-ENOENT, dl_bmfile_write(p, &self->f, self->err,
					   sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "cannot create")) TH_LOG("%s", self->err);
	free(p);
}

/* A write failing halfway (file size limit) keeps the old file whole. */
TEST_F(file, failed_write_keeps_old_file)
{
	struct rlimit rl = { .rlim_cur = 4096, .rlim_max = RLIM_INFINITY };
	struct dl_bmfile big, g;

	ASSERT_EQ(0, dl_bmfile_alloc(&big, 100000));
	set_meta(&big, UUID_A, "a", 1, "c", 3);
	ASSERT_EQ(0, dl_bmfile_set_range(&big, 0, 100000));
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	EXPECT_EQ(-EFBIG, dl_bmfile_write(self->path, &big, self->err,
					  sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "cannot write")) TH_LOG("%s", self->err);
	EXPECT_EQ(1, nr_entries(self->dir));
	ASSERT_EQ(0, dl_bmfile_read(self->path, &g, self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	EXPECT_EQ(1001, g.nr_blocks);
	EXPECT_EQ(111, g.nr_dirty);
	dl_bmfile_free(&g);
	dl_bmfile_free(&big);
}

/* ---- merging ------------------------------------------------------------ */

FIXTURE(chain)
{
	char dir[64];
	char err[DL_BMFILE_ERR_LEN];
	struct dl_bmfile in[4];
	unsigned int n;
	bool *m;		/* model OR, sized for the largest map */
	uint32_t block_sectors;	/* for the next link */
};

FIXTURE_SETUP(chain)
{
	seed_rng();
	strcpy(self->dir, "/tmp/test_bmfile.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	self->m = calloc(4096, sizeof(bool));
	ASSERT_NE(NULL, self->m);
	self->block_sectors = 8;
}

FIXTURE_TEARDOWN(chain)
{
	for (unsigned int i = 0; i < self->n; i++)
		dl_bmfile_free(&self->in[i]);
	free(self->m);
	rm_dir(self->dir);
}

/*
 * Write a random map of the given chain link to a real file, read it back
 * into the next input slot, and OR its bits into the model.
 */
static void add_link(struct __test_metadata *_metadata, FIXTURE_DATA(chain) *self,
		     uint64_t nr, const char *uuid,
		     const char *since, uint64_t since_id,
		     const char *until, uint64_t until_id)
{
	struct dl_bmfile f;
	bool *m = calloc(nr, sizeof(bool));
	char name[32], *p;

	ASSERT_NE(NULL, m);
	ASSERT_LE(nr, 4096);
	ASSERT_EQ(0, dl_bmfile_alloc(&f, nr));
	set_meta(&f, uuid, since, since_id, until, until_id);
	f.block_sectors = self->block_sectors;
	random_fill(_metadata, &f, m, 8);
	snprintf(name, sizeof(name), "link%u.dlbm", self->n);
	p = path_in(self->dir, name);
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, dl_bmfile_write(p, &f, self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	ASSERT_EQ(0, dl_bmfile_read(p, &self->in[self->n], self->err,
				    sizeof(self->err))) TH_LOG("%s", self->err);
	self->n++;
	for (uint64_t i = 0; i < nr; i++)
		self->m[i] |= m[i];
	dl_bmfile_free(&f);
	free(m);
	free(p);
}

#define LINK(...) add_link(_metadata, self, __VA_ARGS__)

static void expect_merge_refused(struct __test_metadata *_metadata,
				 FIXTURE_DATA(chain) *self, int want,
				 const char *const *needles)
{
	struct dl_bmfile out;

	EXPECT_EQ(want, dl_bmfile_merge(self->in, self->n, &out, self->err,
					sizeof(self->err)))
		TH_LOG("message: %s", self->err);
	EXPECT_EQ(NULL, out.bits);
	for (; *needles; needles++) {
		EXPECT_NE(NULL, strstr(self->err, *needles))
			TH_LOG("'%s' not in '%s'", *needles, self->err);
	}
	dl_bmfile_free(&out);
}

#define MERGE_REFUSED(want, ...) \
	expect_merge_refused(_metadata, self, want, \
			     (const char *const[]){ __VA_ARGS__, NULL })

/* Three links given out of order, the last up to 'now'. */
TEST_F(chain, merge_out_of_order_is_or_of_all)
{
	struct dl_bmfile out, back;
	char *p = path_in(self->dir, "merged.dlbm");
	uint64_t before = (uint64_t)time(NULL) * 1000000000ULL;

	LINK(3000, UUID_A, "wed", 9, "", 0);
	LINK(3000, UUID_A, "mon", 4, "tue", 6);
	LINK(3000, UUID_A, "tue", 6, "wed", 9);
	snprintf(self->in[0].dev_name, sizeof(self->in[0].dev_name), "latest");

	ASSERT_EQ(0, dl_bmfile_merge(self->in, 3, &out, self->err,
				     sizeof(self->err))) TH_LOG("%s", self->err);
	check_model(_metadata, &out, self->m);
	EXPECT_EQ(3000, out.nr_blocks);
	EXPECT_STREQ("mon", out.since);
	EXPECT_EQ(4, out.since_id);
	EXPECT_STREQ("", out.until);
	EXPECT_EQ(0, out.until_id);
	EXPECT_STREQ("latest", out.dev_name);
	EXPECT_STREQ(UUID_A, out.dev_uuid);
	EXPECT_EQ(8, out.block_sectors);
	EXPECT_EQ(dl_bmfile_count(&out), out.nr_dirty);
	EXPECT_LE(before, out.created_ns);
	/* Inputs untouched, in the caller's order. */
	EXPECT_EQ(9, self->in[0].since_id);
	EXPECT_EQ(4, self->in[1].since_id);

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, dl_bmfile_write(p, &out, self->err, sizeof(self->err)));
	ASSERT_EQ(0, dl_bmfile_read(p, &back, self->err, sizeof(self->err)));
	check_model(_metadata, &back, self->m);
	dl_bmfile_free(&back);
	dl_bmfile_free(&out);
	free(p);
}

TEST_F(chain, merge_single_file_is_itself)
{
	struct dl_bmfile out;

	LINK(777, UUID_A, "a", 1, "b", 2);
	ASSERT_EQ(0, dl_bmfile_merge(self->in, 1, &out, self->err,
				     sizeof(self->err)));
	check_model(_metadata, &out, self->m);
	EXPECT_STREQ("b", out.until);
	dl_bmfile_free(&out);
}

TEST_F(chain, merge_follows_device_growth)
{
	struct dl_bmfile out;

	LINK(2001, UUID_A, "c", 3, "d", 4);
	LINK(1000, UUID_A, "a", 1, "b", 2);
	LINK(1500, UUID_A, "b", 2, "c", 3);
	ASSERT_EQ(0, dl_bmfile_merge(self->in, 3, &out, self->err,
				     sizeof(self->err))) TH_LOG("%s", self->err);
	EXPECT_EQ(2001, out.nr_blocks);
	check_model(_metadata, &out, self->m);
	EXPECT_STREQ("a", out.since);
	EXPECT_STREQ("d", out.until);
	EXPECT_EQ(4, out.until_id);
	dl_bmfile_free(&out);
}

TEST_F(chain, merge_refuses_nothing)
{
	MERGE_REFUSED(-EINVAL, "no files to merge");
}

TEST_F(chain, merge_refuses_shrinking_device)
{
	LINK(1000, UUID_A, "a", 1, "b", 2);
	LINK(999, UUID_A, "b", 2, "c", 3);
	MERGE_REFUSED(-EINVAL, "device shrank", "1000", "999");
}

TEST_F(chain, merge_refuses_different_devices)
{
	LINK(1000, UUID_A, "a", 1, "b", 2);
	LINK(1000, UUID_B, "b", 2, "c", 3);
	MERGE_REFUSED(-EXDEV, "different devices", UUID_A, UUID_B);
}

TEST_F(chain, merge_refuses_different_block_sizes)
{
	LINK(1000, UUID_A, "a", 1, "b", 2);
	self->block_sectors = 16;
	LINK(1000, UUID_A, "b", 2, "c", 3);
	MERGE_REFUSED(-EINVAL, "different block sizes", "8", "16");
}

TEST_F(chain, merge_refuses_gap)
{
	LINK(1000, UUID_A, "c", 3, "d", 4);
	LINK(1000, UUID_A, "a", 1, "b", 2);
	MERGE_REFUSED(-EINVAL, "gap between checkpoints", "'b' (id 2)",
		      "'c' (id 3)");
}

TEST_F(chain, merge_refuses_overlap)
{
	LINK(1000, UUID_A, "a", 1, "c", 3);
	LINK(1000, UUID_A, "b", 2, "d", 4);
	MERGE_REFUSED(-EINVAL, "overlap");
}

TEST_F(chain, merge_refuses_now_not_last)
{
	LINK(1000, UUID_A, "a", 1, "", 0);
	LINK(1000, UUID_A, "b", 2, "c", 3);
	MERGE_REFUSED(-EINVAL, "'now' not last", "'a' (id 1) to now");
}

TEST_F(chain, merge_refuses_duplicate)
{
	LINK(1000, UUID_A, "b", 2, "c", 3);
	LINK(1000, UUID_A, "a", 1, "b", 2);
	LINK(1000, UUID_A, "b", 2, "c", 3);
	MERGE_REFUSED(-EEXIST, "duplicate file", "'b' (id 2) to 'c' (id 3)");
}

TEST_F(chain, merge_refuses_renamed_checkpoint)
{
	LINK(1000, UUID_A, "a", 1, "b", 2);
	LINK(1000, UUID_A, "bee", 2, "c", 3);
	MERGE_REFUSED(-EINVAL, "inconsistent checkpoint", "'b'", "'bee'");
}

/* ---- a large map: fast paths over long runs and zero stretches --------- */

FIXTURE(big)
{
	char dir[64];
};

FIXTURE_SETUP(big)
{
	strcpy(self->dir, "/tmp/test_bmfile.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
}

FIXTURE_TEARDOWN(big)
{
	rm_dir(self->dir);
}

TEST_F(big, large_map_round_trip)
{
	const uint64_t nr = 8ULL << 20;		/* 1 MiB of body */
	char err[DL_BMFILE_ERR_LEN] = "";
	struct ext_list got = { 0 };
	struct dl_bmfile f, g;
	char *p;

	p = path_in(self->dir, "big.dlbm");
	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, dl_bmfile_alloc(&f, nr));
	set_meta(&f, UUID_A, "a", 1, "b", 2);
	ASSERT_EQ(0, dl_bmfile_set_range(&f, 5, 3000001));
	ASSERT_EQ(0, dl_bmfile_set_range(&f, 5000000, 3));
	ASSERT_EQ(0, dl_bmfile_set_range(&f, nr - 77, 77));
	ASSERT_EQ(0, dl_bmfile_write(p, &f, err, sizeof(err))) TH_LOG("%s", err);
	ASSERT_EQ(0, dl_bmfile_read(p, &g, err, sizeof(err))) TH_LOG("%s", err);
	EXPECT_EQ(3000081, g.nr_dirty);
	ASSERT_EQ(0, dl_bmfile_extents(&g, ext_add, &got));
	ASSERT_EQ(3, got.n);
	EXPECT_EQ(5, got.e[0][0]);
	EXPECT_EQ(3000001, got.e[0][1]);
	EXPECT_EQ(5000000, got.e[1][0]);
	EXPECT_EQ(3, got.e[1][1]);
	EXPECT_EQ(nr - 77, got.e[2][0]);
	EXPECT_EQ(77, got.e[2][1]);
	free(got.e);
	dl_bmfile_free(&f);
	dl_bmfile_free(&g);
	free(p);
}

TEST_HARNESS_MAIN
