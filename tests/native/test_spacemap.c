// SPDX-License-Identifier: GPL-2.0-only
/*
 * The metadata space map (kernel/dirtylog-space.c, built here against the
 * userspace stand-ins of tests/native/kspace) against a model, over random
 * sequences of what the metadata code does to it: allocate and free
 * blocks, commit, roll back, reset, reload the last commit (an aborted
 * transaction), and queries pinning and unpinning the blocks commits free.
 *
 * The model keeps its own sets of the blocks the state being built uses
 * and the blocks the last commit uses, from what each operation means,
 * and counts free blocks from scratch: neither in those sets nor held for
 * a query.  After every step the space map's count of free blocks, its
 * count of used blocks and its two bitmaps must be the model's, and its
 * record of changed words must count its set bits; a block it allocates
 * must be free in the model and must not be one that a query still
 * pinned could read (any block of the last commit at the time it
 * pinned); a commit must leave nothing to copy.  Randomised: DL_SEED
 * picks the first seed (default 1); the seeds are printed, a failure
 * names its seed and step.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "dirtylog-md-internal.h"

int dl_kspace_warnings;

struct model {
	u64 n;
	unsigned long *cur, *com;
};

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static unsigned long *zalloc_bits(u64 n)
{
	return calloc(BITS_TO_LONGS(n) + 1, sizeof(long));
}

static bool held(struct dirtylog_md *md, u64 b)
{
	return test_bit(b, md->sm_held[0]) || test_bit(b, md->sm_held[1]);
}

/* Free blocks, counted from scratch: the model's sets and the held ones. */
static u64 model_free(struct model *m, struct dirtylog_md *md)
{
	u64 b, f = 0;

	for (b = 0; b < m->n; b++)
		f += !test_bit(b, m->cur) && !test_bit(b, m->com) && !held(md, b);
	return f;
}

static void md_free(struct dirtylog_md *md)
{
	free(md->sm_committed);
	free(md->sm_current);
	free(md->sm_held[0]);
	free(md->sm_held[1]);
	free(md->sm_dirty);
}

/*
 * An aborted transaction: a fresh space map loaded from the last commit
 * (abort_transaction()), whose state take_state() moves into @md; the
 * held blocks stay.
 */
static int reload(struct dirtylog_md *md)
{
	struct dirtylog_md f = { .nr_meta_blocks = md->nr_meta_blocks };
	u64 b;
	int r = dirtylog_sm_alloc(&f);

	for (b = 1; !r && b < md->nr_meta_blocks; b++)
		if (test_bit(b, md->sm_committed))
			r = dirtylog_claim_block(&f, b);
	if (!r) {
		dirtylog_sm_sync(&f);
		swap(md->sm_committed, f.sm_committed);
		swap(md->sm_current, f.sm_current);
		swap(md->sm_dirty, f.sm_dirty);
		md->nr_dirty_words = f.nr_dirty_words;
		md->sm_all_dirty = f.sm_all_dirty;
		md->nr_freed = f.nr_freed;
		md->nr_used = f.nr_used;
		md->alloc_hint = 1;
	}
	md_free(&f);
	return r;
}

#define MAX_PINS 32

/* A query's pin, and the committed blocks it may read meanwhile. */
struct pin {
	u32 epoch;
	unsigned long *reads;
};

static bool pinned(struct pin *pins, unsigned int np, u64 b)
{
	unsigned int k;

	for (k = 0; k < np; k++)
		if (test_bit(b, pins[k].reads))
			return true;
	return false;
}

static bool summary_counted(struct dirtylog_md *md)
{
	u64 longs = BITS_TO_LONGS(md->nr_meta_blocks);

	return md->sm_all_dirty ||
	       bitmap_weight(md->sm_dirty, longs) == md->nr_dirty_words;
}

/* One random sequence; returns the failing step (0: none) in *@step. */
static const char *run(uint64_t seed, u64 n, long steps, long *step)
{
	struct dirtylog_md md = { .nr_meta_blocks = n };
	struct model m = { .n = n };
	struct pin pins[MAX_PINS];
	unsigned int np = 0, k;
	size_t bytes = BITS_TO_LONGS(n) * sizeof(long);
	const char *bad = NULL;
	u64 b;
	int op;

	rng = seed * 0x9e3779b97f4a7c15ULL + 1;
	m.cur = zalloc_bits(n);
	m.com = zalloc_bits(n);
	if (dirtylog_sm_alloc(&md) || !m.cur || !m.com) {
		bad = "out of memory";
		goto out;
	}
	dirtylog_sm_sync(&md);
	__set_bit(0, m.cur);
	__set_bit(0, m.com);
	for (*step = 1; *step <= steps && !bad; (*step)++) {
		op = rnd() % 100;
		if (op < 35) {
			u64 before = model_free(&m, &md);
			int r = dirtylog_alloc_block(&md, &b);

			if (r ? before != 0 || r != -ENOSPC :
				b >= n || test_bit(b, m.cur) ||
				test_bit(b, m.com) || held(&md, b))
				bad = "allocated a block that is not free";
			else if (!r && pinned(pins, np, b))
				bad = "allocated a block a pinned query may read";
			else if (!r)
				__set_bit(b, m.cur);
		} else if (op < 65) {
			b = 1 + rnd() % (n - 1);
			if (test_bit(b, m.cur)) {
				dirtylog_free_block(&md, b);
				__clear_bit(b, m.cur);
			}
		} else if (op < 78) {
			dirtylog_sm_commit(&md);
			memcpy(m.com, m.cur, bytes);
			if (md.nr_dirty_words)
				bad = "dirty words left after a commit";
		} else if (op < 82) {
			dirtylog_sm_rollback(&md);
			memcpy(m.cur, m.com, bytes);
		} else if (op < 84) {
			dirtylog_sm_reset(&md);
			memset(m.cur, 0, bytes);
			__set_bit(0, m.cur);
		} else if (op < 86) {
			if (reload(&md))
				bad = "reload failed";
			memcpy(m.cur, m.com, bytes);
		} else if (op < 93) {
			if (np < MAX_PINS) {
				pins[np].reads = zalloc_bits(n);
				if (!pins[np].reads) {
					bad = "out of memory";
					break;
				}
				memcpy(pins[np].reads, m.com, bytes);
				pins[np++].epoch = dirtylog_query_pin_locked(&md);
			}
		} else if (np) {
			k = rnd() % np;
			dirtylog_query_unpin(&md, pins[k].epoch);
			free(pins[k].reads);
			pins[k] = pins[--np];
		}
		if (bad)
			break;
		if (dirtylog_nr_free_blocks(&md) != model_free(&m, &md))
			bad = "free block count differs from the model";
		else if (md.nr_used != bitmap_weight(m.cur, n))
			bad = "used block count differs from the model";
		else if (memcmp(md.sm_current, m.cur, bytes))
			bad = "current map differs from the model";
		else if (memcmp(md.sm_committed, m.com, bytes))
			bad = "committed map differs from the model";
		else if (!summary_counted(&md))
			bad = "changed words miscounted";
		else if (dl_kspace_warnings)
			bad = "WARN_ON_ONCE fired";
	}
out:
	while (np)
		free(pins[--np].reads);
	md_free(&md);
	free(m.cur);
	free(m.com);
	return bad;
}

static uint64_t first_seed(void)
{
	const char *s = getenv("DL_SEED");

	return s ? strtoull(s, NULL, 0) : 1;
}

static void sweep(struct __test_metadata *_metadata, u64 min, u64 span,
		  unsigned int seeds, long steps)
{
	uint64_t s0 = first_seed(), s;
	const char *bad;
	long step = 0;
	u64 n;

	TH_LOG("seeds %llu to %llu", (unsigned long long)s0,
	       (unsigned long long)(s0 + seeds - 1));
	for (s = s0; s < s0 + seeds; s++) {
		rng = s;
		n = min + rnd() % span;
		bad = run(s, n, steps, &step);
		ASSERT_EQ(NULL, bad)
			TH_LOG("seed %llu (%llu blocks), step %ld: %s",
			       (unsigned long long)s, (unsigned long long)n,
			       step, bad);
	}
}

/* Small maps: the device fills up, so ENOSPC and reuse come often. */
TEST(small_maps_against_model)
{
	sweep(_metadata, 2, 300, 400, 3000);
}

/* Maps of many words: the commit visits only the words that changed. */
TEST(large_maps_against_model)
{
	sweep(_metadata, 4096, 20000, 12, 4000);
}

TEST_HARNESS_MAIN
