// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog metadata space map: which 4 KiB blocks of the metadata
 * device the committed state and the state being built use, and which are
 * held back from reuse for queries reading without the metadata lock.
 * Rebuilt at load time by walking everything the superblock reaches.
 *
 * Layering: the lowest part of the metadata: the trees (dirtylog-tree.c)
 * and the state and commits (dirtylog-metadata.c) allocate here; nothing
 * here calls up.  Every function requires md->lock, or runs on an md
 * nobody else can reach yet (load).
 */
#include <linux/bitmap.h>
#include <linux/device-mapper.h>
#include <linux/mm.h>

#include "compat.h"
#include "dirtylog-md-internal.h"

#define DM_MSG_PREFIX "dirtylog"

int dirtylog_sm_alloc(struct dirtylog_md *md)
{
	size_t longs = BITS_TO_LONGS(md->nr_meta_blocks);

	/* Sized by the metadata device: ENOMEM, never the OOM killer. */
	md->sm_committed = dirtylog_kvcalloc_sized(longs, sizeof(long));
	md->sm_current = dirtylog_kvcalloc_sized(longs, sizeof(long));
	md->sm_held[0] = dirtylog_kvcalloc_sized(longs, sizeof(long));
	md->sm_held[1] = dirtylog_kvcalloc_sized(longs, sizeof(long));
	md->sm_dirty = dirtylog_kvcalloc_sized(BITS_TO_LONGS(longs),
					       sizeof(long));
	if (!md->sm_committed || !md->sm_current || !md->sm_held[0] ||
	    !md->sm_held[1] || !md->sm_dirty)
		return -ENOMEM;
	__set_bit(0, md->sm_current);
	md->nr_used = 1;
	md->alloc_hint = 1;
	return 0;
}

/* Block @b of sm_current changed: the next commit copies its word. */
static void sm_touch(struct dirtylog_md *md, u64 b)
{
	if (!__test_and_set_bit(b / BITS_PER_LONG, md->sm_dirty))
		md->nr_dirty_words++;
}

/*
 * The next word of sm_current at or after @i that may have changed since
 * the last commit (with its bit in sm_dirty cleared, unless sm_all_dirty:
 * then every word); >= @longs when there is none.
 */
static size_t sm_next_dirty(struct dirtylog_md *md, size_t i, size_t longs)
{
	if (md->sm_all_dirty)
		return i;
	if (!md->nr_dirty_words)
		return longs;
	i = find_next_bit(md->sm_dirty, longs, i);
	if (i < longs) {
		__clear_bit(i, md->sm_dirty);
		md->nr_dirty_words--;
	}
	return i;
}

/*
 * Nothing is dirty any more: every changed word was visited (which cleared
 * its bit), or @all (every bit cleared here).
 */
static void sm_clean(struct dirtylog_md *md, bool all)
{
	if (all || md->sm_all_dirty)
		bitmap_zero(md->sm_dirty, BITS_TO_LONGS(md->nr_meta_blocks));
	md->nr_dirty_words = 0;
	md->sm_all_dirty = false;
	md->nr_freed = 0;
}

/*
 * A block is free when neither the committed nor the new state uses it
 * and no query holds it.  The four sets counted are disjoint: a held
 * block left sm_committed at the commit that held it, is never allocated
 * while held, and is not in a state reloaded from disk (an abort reloads
 * the last commit, which no longer uses it); and the two epochs hold what
 * different commits freed.
 */
u64 dirtylog_nr_free_blocks(struct dirtylog_md *md)
{
	u64 busy = md->nr_used + md->nr_freed + md->nr_held[0] +
		   md->nr_held[1];

	if (WARN_ON_ONCE(busy > md->nr_meta_blocks))
		return 0;	/* a counting bug: refuse new blocks */
	return md->nr_meta_blocks - busy;
}

/* Release the other epoch once its last query ended, and make it current. */
static void query_epoch_advance(struct dirtylog_md *md)
{
	u32 old, i;

	for (i = 0; i < 2; i++) {
		old = md->pin_epoch ^ 1;
		if (md->readers[old])
			return;
		if (md->nr_held[old]) {
			bitmap_zero(md->sm_held[old], md->nr_meta_blocks);
			WRITE_ONCE(md->nr_held[old], 0);
		}
		if (!md->readers[md->pin_epoch] && !md->nr_held[md->pin_epoch])
			return;
		md->pin_epoch = old;
	}
}

/*
 * A query that reads frozen trees without md->lock pins them: blocks that
 * commits free meanwhile are held back from reuse until the queries that
 * may read them have ended (dirtylog_query_unpin()).  Returns the epoch
 * to unpin.
 */
u32 dirtylog_query_pin_locked(struct dirtylog_md *md)
{
	lockdep_assert_held(&md->lock);
	query_epoch_advance(md);
	md->readers[md->pin_epoch]++;
	return md->pin_epoch;
}

void dirtylog_query_unpin(struct dirtylog_md *md, u32 epoch)
{
	mutex_lock(&md->lock);
	md->readers[epoch]--;
	query_epoch_advance(md);
	mutex_unlock(&md->lock);
}

/*
 * At a commit (sm_current is what is now on disk): hold what it frees
 * while a query may still read it, then make sm_committed sm_current.
 * Only the words the transaction changed can differ.
 */
void dirtylog_sm_commit(struct dirtylog_md *md)
{
	size_t i, longs = BITS_TO_LONGS(md->nr_meta_blocks);
	unsigned long *held = md->sm_held[md->pin_epoch];
	bool hold = md->readers[0] || md->readers[1];
	unsigned long f;
	u64 n = 0;

	for (i = sm_next_dirty(md, 0, longs); i < longs;
	     i = sm_next_dirty(md, i + 1, longs)) {
		if (hold) {
			f = md->sm_committed[i] & ~md->sm_current[i];
			n += hweight_long(f & ~held[i]);
			held[i] |= f;
		}
		md->sm_committed[i] = md->sm_current[i];
	}
	if (n)
		WRITE_ONCE(md->nr_held[md->pin_epoch],
			   md->nr_held[md->pin_epoch] + n);
	sm_clean(md, false);
}

/* After a load or a format: what was built is what is on disk. */
void dirtylog_sm_sync(struct dirtylog_md *md)
{
	bitmap_copy(md->sm_committed, md->sm_current, md->nr_meta_blocks);
	sm_clean(md, true);
}

/*
 * A reset: the new state uses only the superblock (block 0, which every
 * committed state uses too).
 */
void dirtylog_sm_reset(struct dirtylog_md *md)
{
	u64 committed = bitmap_weight(md->sm_committed, md->nr_meta_blocks);

	bitmap_zero(md->sm_current, md->nr_meta_blocks);
	__set_bit(0, md->sm_current);
	WRITE_ONCE(md->nr_used, 1);
	md->sm_all_dirty = true;
	md->nr_freed = committed ? committed - 1 : 0;
}

static bool sm_is_held(struct dirtylog_md *md, u64 b)
{
	return (md->nr_held[0] && test_bit(b, md->sm_held[0])) ||
	       (md->nr_held[1] && test_bit(b, md->sm_held[1]));
}

int dirtylog_alloc_block(struct dirtylog_md *md, u64 *b)
{
	u64 start = md->alloc_hint, i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		i = start;
		for (;;) {
			i = find_next_zero_bit(md->sm_current, md->nr_meta_blocks, i);
			if (i >= md->nr_meta_blocks)
				break;
			if (!test_bit(i, md->sm_committed) && !sm_is_held(md, i)) {
				__set_bit(i, md->sm_current);
				sm_touch(md, i);
				md->nr_used++;
				md->alloc_hint = i + 1;
				*b = i;
				return 0;
			}
			i++;
		}
		start = 1;
	}
	return -ENOSPC;
}

void dirtylog_free_block(struct dirtylog_md *md, u64 b)
{
	if (!b)
		return;
	if (b >= md->nr_meta_blocks || !test_bit(b, md->sm_current)) {
		/* Only a metadata device changed behind our back gets here. */
		DMERR_LIMIT("freeing metadata block %llu that is not in use", b);
		return;
	}
	if (test_bit(b, md->sm_committed))
		md->nr_freed++;
	__clear_bit(b, md->sm_current);
	sm_touch(md, b);
	md->nr_used--;
}

/* Undo every allocation and free since the last commit. */
void dirtylog_sm_rollback(struct dirtylog_md *md)
{
	size_t i, longs = BITS_TO_LONGS(md->nr_meta_blocks);
	u64 used = md->nr_used;

	for (i = sm_next_dirty(md, 0, longs); i < longs;
	     i = sm_next_dirty(md, i + 1, longs)) {
		used += hweight_long(md->sm_committed[i]);
		used -= hweight_long(md->sm_current[i]);
		md->sm_current[i] = md->sm_committed[i];
	}
	WRITE_ONCE(md->nr_used, used);
	sm_clean(md, false);
}

/* Claim a block found while loading; a block reached twice is corruption. */
int dirtylog_claim_block(struct dirtylog_md *md, u64 b)
{
	if (b == 0 || b >= md->nr_meta_blocks) {
		DMERR("metadata refers to block %llu outside the device", b);
		return -EILSEQ;
	}
	if (test_bit(b, md->sm_current)) {
		DMERR("metadata block %llu is referenced twice", b);
		return -EILSEQ;
	}
	__set_bit(b, md->sm_current);
	sm_touch(md, b);
	md->nr_used++;
	return 0;
}
