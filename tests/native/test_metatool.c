// SPDX-License-Identifier: GPL-2.0-only
/*
 * The offline metadata reader/writer (dl-meta.c) against a model kept here
 * as plain per-interval bitmaps: written state reads back clean with the
 * same answers; every block damaged in turn (bit flip, zeroed or garbage),
 * and random well-checksummed mutations of referenced blocks, never crash
 * the reader, are always reported, and the state read (and rewritten by
 * repair) answers a superset of the model for every checkpoint kept.
 * Randomised: the seed is printed, DL_SEED repeats it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-meta.h"
#include "dl-util.h"

#define NBLK	(3 * DLM_BITS_PER_PAGE + 1000)	/* 4 pages, the last partial */
#define NCK	45				/* two table blocks */
#define DEVB	(4ULL << 20)			/* 1024 metadata blocks */

struct model {
	uint8_t bits[NCK + 1][NBLK / 8 + 1];	/* [i]: interval ending at ckpt i;
						 * [NCK]: active */
	char names[NCK][16];
};

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static void seed_once(void)
{
	static bool done;
	const char *s = getenv("DL_SEED");

	if (done)
		return;
	done = true;
	rnd_state = s ? strtoull(s, NULL, 0) : (uint64_t)getpid() * 2654435761ULL;
	if (!rnd_state)
		rnd_state = 1;
	fprintf(stderr, "# seed %" PRIu64 " (DL_SEED repeats it)\n", rnd_state);
}

static int mset(struct dl_meta *m, struct model *md, int iv, uint64_t s, uint64_t n)
{
	for (uint64_t b = s; b < s + n; b++)
		md->bits[iv][b / 8] |= (uint8_t)(1U << (b % 8));
	return dl_meta_set(m, iv == NCK ? &m->active : &m->ckpts[iv].iv, s, n);
}

/* Build a state and its model; the interval of ckpt 0 is not kept. */
static int build(struct dl_meta *m, struct model *md)
{
	int r = dl_meta_init(m, DEVB, 8, (uint64_t)NBLK * 8 - 3);

	memset(md, 0, sizeof(*md));
	for (int i = 0; !r && i < NCK; i++) {
		/* writes before checkpoint i land in the active interval */
		if (i) {
			for (int k = 0; k < 3 && !r; k++) {
				uint64_t s = rnd() % NBLK, n = 1 + rnd() % 40;

				if (s + n > NBLK)
					n = NBLK - s;
				r = mset(m, md, NCK, s, n);
			}
		}
		if (r)
			break;
		memcpy(md->bits[i], md->bits[NCK], sizeof(md->bits[i]));
		memset(md->bits[NCK], 0, sizeof(md->bits[NCK]));
		if (!i)
			memset(md->bits[0], 0, sizeof(md->bits[0]));
		snprintf(md->names[i], sizeof(md->names[i]), "ck%02d", i);
		r = dl_meta_add_ckpt(m, md->names[i], 10 + 3 * (uint64_t)i, 1000 + i);
	}
	if (!r)
		r = mset(m, md, NCK, NBLK - 5, 5);
	if (!r)
		r = mset(m, md, NCK, 32640, 2);
	return r;
}

static int tmpimg(void)
{
	/* tmpfs when there is one: the writer syncs, a disk makes that slow */
	char shm[] = "/dev/shm/test_metatool.XXXXXX", tmp[] = "/tmp/test_metatool.XXXXXX";
	char *path = access("/dev/shm", W_OK) ? tmp : shm;
	int fd = mkstemp(path);

	if (fd >= 0) {
		unlink(path);
		if (ftruncate(fd, (off_t)DEVB)) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

struct set_ctx {
	uint8_t bits[NBLK / 8 + 1];
	uint64_t bad;
};

static int collect(void *ctx, uint64_t start, uint64_t count)
{
	struct set_ctx *c = ctx;

	for (uint64_t b = start; b < start + count; b++) {
		if (b >= NBLK)
			c->bad++;
		else
			c->bits[b / 8] |= (uint8_t)(1U << (b % 8));
	}
	return 0;
}

/*
 * For every kept checkpoint (found by name in the model) and the query
 * since it: the answer covers the model's; @exact: equals it.  Returns the
 * number of mismatches.
 */
static int compare_step(const struct dl_meta *m, const struct model *md,
			bool exact, uint32_t step)
{
	const struct dlm_interval *ivs[NCK + 1];
	int bad = 0;

	for (uint32_t k = 0; k < m->nr_ckpts; k++) {
		struct set_ctx got = { 0 };
		uint8_t want[NBLK / 8 + 1] = { 0 };
		int i, n;

		if (k % step && k + 1 != m->nr_ckpts)
			continue;

		for (i = 0; i < NCK && strcmp(md->names[i], m->ckpts[k].name); i++)
			;
		if (i == NCK)
			return 1000;	/* a checkpoint the model never had */
		for (int j = i + 1; j <= NCK; j++)
			for (size_t x = 0; x < sizeof(want); x++)
				want[x] |= md->bits[j][x];
		n = dl_meta_since(m, m->ckpts[k].name, NULL, ivs);
		if (n < 0)
			return 1000;
		dl_meta_extents(m, ivs, (size_t)n, collect, &got);
		for (size_t x = 0; x < sizeof(want); x++) {
			if ((want[x] & ~got.bits[x]) || (exact && want[x] != got.bits[x])) {
				bad++;
				break;
			}
		}
	}
	return bad;
}

/* Every checkpoint when @exact, else a sample (the damage loops run often). */
static int compare(const struct dl_meta *m, const struct model *md, bool exact)
{
	return compare_step(m, md, exact, exact ? 1 : 7);
}

static int reread(int fd, struct dl_meta *m)
{
	char err[256];

	memset(m, 0, sizeof(*m));
	return dl_meta_read(m, fd, NULL, err, sizeof(err));
}

/* Build a state @w and its model @md, written to a fresh image: its fd, or -1. */
static int written_image(struct dl_meta *w, struct model *md)
{
	int fd;

	seed_once();
	if (build(w, md))
		return -1;
	fd = tmpimg();
	if (fd < 0)
		return -1;
	if (dl_meta_write(w, fd, true, NULL, 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(write_read_roundtrip)
{
	static struct model md;
	struct dl_meta w, m;
	int fd;

	fd = written_image(&w, &md);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, reread(fd, &m));
	for (size_t i = 0; i < m.nr_probs; i++)
		TH_LOG("block %" PRIu64 ": %s: %s", m.probs[i].block,
		       m.probs[i].structure, m.probs[i].what);
	EXPECT_EQ(0, m.nr_probs);
	EXPECT_EQ(DLM_SB_OK, m.sb_state);
	EXPECT_EQ(NCK, m.nr_ckpts);
	EXPECT_EQ(0, compare(&m, &md, true));
	EXPECT_EQ(w.nr_blocks, m.nr_blocks);
	EXPECT_EQ(0, strcmp(m.ckpts[NCK - 1].name, md.names[NCK - 1]));
	EXPECT_EQ(10 + 3 * (NCK - 1), m.ckpts[NCK - 1].id);
	EXPECT_EQ(1000 + NCK - 1, m.ckpts[NCK - 1].ctime_ns);
	EXPECT_EQ(10 + 3 * (NCK - 1) + 1, m.next_ckpt_id);
	dl_meta_free(&m);
	dl_meta_free(&w);
	close(fd);
}

/* Damage each used block (one of three ways); read, repair, read again. */
TEST(every_block_damaged)
{
	static struct model md;
	uint8_t orig[DLM_BLOCK_SIZE], blk[DLM_BLOCK_SIZE];
	struct dl_meta w, m, m2;
	uint64_t used;
	int fd, fd2;

	fd = written_image(&w, &md);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, reread(fd, &m));
	used = m.nr_used;
	ASSERT_LT(40, used);
	dl_meta_free(&m);
	for (uint64_t b = 0; b < used + 2; b++) {
		ASSERT_EQ(DLM_BLOCK_SIZE, pread(fd, orig, DLM_BLOCK_SIZE, (off_t)b * 4096));
		for (int how = (int)(rnd() % 3), once = 1; once; once = 0) {
			memcpy(blk, orig, sizeof(blk));
			if (how == 0)
				blk[16 + rnd() % 4080] ^= (uint8_t)(1U << (rnd() % 8));
			else if (how == 1)
				memset(blk, 0, sizeof(blk));
			else
				for (size_t i = 0; i < sizeof(blk); i++)
					blk[i] = (uint8_t)rnd();
			ASSERT_EQ(DLM_BLOCK_SIZE, pwrite(fd, blk, DLM_BLOCK_SIZE, (off_t)b * 4096));
			if (b == 0 && how) {
				/* lost superblock: geometry from the caller */
				struct dl_meta_geom g = { 8, (uint64_t)NBLK * 8 - 3 };
				char err[256];

				memset(&m, 0, sizeof(m));
				ASSERT_EQ(0, dl_meta_read(&m, fd, &g, err, sizeof(err)));
				EXPECT_EQ(DLM_SB_LOST, m.sb_state);
				EXPECT_EQ(0, m.nr_ckpts);
			} else {
				ASSERT_EQ(0, reread(fd, &m));
			}
			if (b < used) {
				EXPECT_NE(0, m.nr_probs) TH_LOG("block %" PRIu64 " how %d", b, how);
			} else {
				EXPECT_EQ(0, m.nr_probs) TH_LOG("unused block %" PRIu64, b);
			}
			/* a checksum-failed superblock's geometry is trusted */
			if (m.nr_blocks == NBLK) {
				EXPECT_EQ(0, compare(&m, &md, false)) TH_LOG("block %" PRIu64 " how %d", b, how);
			}
			if (!m.nr_pages) {
				dl_meta_free(&m);
				ASSERT_EQ(DLM_BLOCK_SIZE, pwrite(fd, orig, DLM_BLOCK_SIZE, (off_t)b * 4096));
				continue;
			}
			fd2 = tmpimg();
			ASSERT_LE(0, fd2);
			ASSERT_EQ(0, dl_meta_write(&m, fd2, true, NULL, 0));
			ASSERT_EQ(0, reread(fd2, &m2));
			EXPECT_EQ(0, m2.nr_probs) TH_LOG("repaired, block %" PRIu64 " how %d", b, how);
			EXPECT_EQ(m.nr_ckpts, m2.nr_ckpts);
			if (m.nr_blocks == NBLK) {
				EXPECT_EQ(0, compare(&m2, &md, false));
			}
			dl_meta_free(&m2);
			dl_meta_free(&m);
			close(fd2);
			ASSERT_EQ(DLM_BLOCK_SIZE, pwrite(fd, orig, DLM_BLOCK_SIZE, (off_t)b * 4096));
		}
	}
	dl_meta_free(&w);
	close(fd);
}

/*
 * Hostile images: random words of used blocks overwritten with small
 * numbers or block numbers (pointers, counts, levels), checksum resealed
 * so the deeper checks run; in place repair, too.
 */
TEST(resealed_mutations)
{
	static struct model md;
	uint8_t orig[64][DLM_BLOCK_SIZE], blk[DLM_BLOCK_SIZE];
	struct dl_meta w, m, m2;
	uint64_t used;
	int fd;

	fd = written_image(&w, &md);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, reread(fd, &m));
	used = m.nr_used < 64 ? m.nr_used : 64;
	dl_meta_free(&m);
	for (uint64_t b = 0; b < used; b++)
		ASSERT_EQ(DLM_BLOCK_SIZE, pread(fd, orig[b], DLM_BLOCK_SIZE, (off_t)b * 4096));
	for (int round = 0; round < 300; round++) {
		uint64_t b = 1 + rnd() % (used - 1);	/* see the admin guide */
		int nm = 1 + (int)(rnd() % 3);

		memcpy(blk, orig[b], sizeof(blk));
		for (int k = 0; k < nm; k++) {
			uint32_t off = 16 + (uint32_t)(rnd() % (DLM_BLOCK_SIZE - 24));
			uint64_t v;

			switch (rnd() % 4) {
			case 0: v = rnd() % used; break;
			case 1: v = rnd() % 8; break;
			case 2: v = rnd() % 2000; break;
			default: v = rnd(); break;
			}
			off &= ~3U;
			if (rnd() % 2)
				dl_put_le32(blk + off, (uint32_t)v);
			else
				dl_put_le64(blk + off, v);
		}
		dl_put_le32(blk, dl_meta_csum(blk));
		ASSERT_EQ(DLM_BLOCK_SIZE, pwrite(fd, blk, DLM_BLOCK_SIZE, (off_t)b * 4096));
		ASSERT_EQ(0, reread(fd, &m)) TH_LOG("round %d block %" PRIu64, round, b);
		EXPECT_EQ(0, compare(&m, &md, false)) TH_LOG("round %d block %" PRIu64, round, b);
		/* in place: the old blocks stay until the superblock moves */
		if (m.nr_pages) {
			ASSERT_EQ(0, dl_meta_write(&m, fd, false, NULL, 0));
			ASSERT_EQ(0, reread(fd, &m2));
			EXPECT_EQ(0, m2.nr_probs) TH_LOG("round %d: %s", round,
							 m2.nr_probs ? m2.probs[0].what : "");
			EXPECT_EQ(0, compare(&m2, &md, false));
			dl_meta_free(&m2);
		}
		dl_meta_free(&m);
		/* back to the pristine image for the next round */
		ASSERT_EQ(0, ftruncate(fd, 0));
		ASSERT_EQ(0, ftruncate(fd, (off_t)DEVB));
		for (uint64_t k = 0; k < used; k++)
			ASSERT_EQ(DLM_BLOCK_SIZE, pwrite(fd, orig[k], DLM_BLOCK_SIZE, (off_t)k * 4096));
	}
	dl_meta_free(&w);
	close(fd);
}

TEST(tiny_or_missing_devices)
{
	struct dl_meta m;
	char err[256];
	int fd = tmpimg();

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 60 << 10));
	memset(&m, 0, sizeof(m));
	EXPECT_EQ(-EINVAL, dl_meta_read(&m, fd, NULL, err, sizeof(err)));
	dl_meta_free(&m);
	ASSERT_EQ(0, ftruncate(fd, 64 << 10));
	memset(&m, 0, sizeof(m));
	EXPECT_EQ(0, dl_meta_read(&m, fd, NULL, err, sizeof(err)));
	EXPECT_EQ(DLM_SB_LOST, m.sb_state);
	EXPECT_EQ(0, m.nr_pages);
	dl_meta_free(&m);
	close(fd);
	EXPECT_GT(0, dl_meta_open_dev("/nonexistent/x", false, err, sizeof(err)));
}

TEST_HARNESS_MAIN
