// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog metadata: on-disk format and copy-on-write commits.
 *
 * Layout of the metadata device, in 4 KiB blocks:
 *   block 0         superblock
 *   any other block a checkpoint-table block, a tree node or a bitmap page,
 *                   allocated from an in-memory space map rebuilt at load
 *                   time by walking everything the superblock reaches.
 *
 * Each interval between two checkpoints has a bitmap stored as a radix
 * tree of fixed depth: bitmap pages (32640 blocks each) at level 0, nodes
 * of 508 pointers above; a zero pointer is an all-zero subtree, so an
 * all-zero page is never stored.  Checkpoint i's table entry holds the
 * root of the interval that ends at it; the superblock holds the root of
 * the active interval.  The interval before the oldest checkpoint is never
 * queried and so never kept.
 *
 * Commit: every change writes new blocks (a block reachable from the
 * committed superblock is not overwritten, with one exception below) and
 * makes them durable, then writes the superblock and makes it durable.  In
 * terms of requests the metadata device sees: the new blocks, FLUSH, the
 * superblock, FLUSH.  Both flushes are the one
 * dm_bufio_write_dirty_buffers() ends with: its contract is that every
 * buffer dirtied before the call is on disk when it returns, so it waits
 * for the writes and then flushes the device's cache.  A crash at any
 * instant leaves either the old or the new superblock, each referring to
 * intact blocks.
 *
 * The exception: a bitmap page of the active interval that already has a
 * block is rewritten in that block when a commit only adds marks (no
 * checkpoint operation in it).  Its bits only go from 0 to 1 and nothing
 * else refers to it (checkpoint creation starts a new tree; frozen trees
 * never share a page with the active one; queries read the active
 * interval from memory), so a crash leaves each such page with or without
 * the new marks, both of them states whose writes were not issued yet:
 * at worst a block is marked whose write never happened, as when a crash
 * follows a commit.  A commit that touches only such pages is one round:
 * the pages, FLUSH.  All of this relies on the metadata device writing a
 * 4 KiB block atomically, as dm-era and dm-thin do for their superblocks;
 * a torn page fails its checksum at load (metadata repair then makes that
 * page all dirty).
 *
 * Locking: md->lock (a mutex) protects all fields of struct dirtylog_md
 * except @active, which map() reads under RCU; it is only replaced with the
 * lock held, followed by an RCU grace period before the old bitmap is freed.
 * Lock order: md->lock, then the target's per-CPU in-flight locks (taken
 * inside the checkpoint collect callback).
 */
#include <linux/bitmap.h>
#include <linux/crc32c.h>
#include <linux/ctype.h>
#include <linux/dm-bufio.h>
#include <linux/device-mapper.h>
#include <linux/log2.h>
#include <linux/math64.h>
#include <linux/slab.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/uuid.h>
#include <linux/xarray.h>

#include "compat.h"
#include "dirtylog-md-internal.h"

#define DM_MSG_PREFIX "dirtylog"

static void update_latest(struct dirtylog_md *md)
{
	WRITE_ONCE(md->latest_id, md->nr_ckpts ? md->ckpts[md->nr_ckpts - 1].id : 0);
}

/* ---------------------------------------------------------------------- */
/* Geometry */

static void set_geometry(struct dirtylog_md *md, u64 data_sectors)
{
	md->data_sectors = data_sectors;
	md->nr_blocks = (data_sectors + md->block_sectors - 1) >> md->block_shift;
	md->nr_pages = dirtylog_nr_pages(md->nr_blocks);
}

bool dirtylog_valid_name(const char *name)
{
	size_t len = strnlen(name, DIRTYLOG_NAME_MAX + 1);
	size_t i;

	if (!len || len > DIRTYLOG_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') &&
		    !(c >= '0' && c <= '9') && !strchr("._:+-", c))
			return false;
	}
	return true;
}

/* ---------------------------------------------------------------------- */
/* The active tree in memory */

static void atree_free(struct dirtylog_atree *t)
{
	int l;

	for (l = 0; l <= DIRTYLOG_MAX_DEPTH; l++) {
		kvfree(t->blk[l]);
		kvfree(t->dirty[l]);
		t->blk[l] = NULL;
		t->dirty[l] = NULL;
	}
}

static int atree_alloc(struct dirtylog_atree *t, u64 nr_pages)
{
	u32 l;

	memset(t, 0, sizeof(*t));
	t->depth = dirtylog_depth_for(nr_pages);
	t->nr[0] = nr_pages;
	for (l = 0; l <= t->depth; l++) {
		if (l)
			t->nr[l] = DIV_ROUND_UP_ULL(t->nr[l - 1], DIRTYLOG_NODE_ENTRIES);
		/* Sized by the data device: ENOMEM, never the OOM killer. */
		t->blk[l] = dirtylog_kvcalloc_sized(max_t(u64, t->nr[l], 1), sizeof(u64));
		t->dirty[l] = dirtylog_kvcalloc_sized(BITS_TO_LONGS(max_t(u64, t->nr[l], 1)),
						      sizeof(unsigned long));
		if (!t->blk[l] || !t->dirty[l]) {
			atree_free(t);
			return -ENOMEM;
		}
	}
	return 0;
}

static u64 atree_root(struct dirtylog_atree *t)
{
	return t->blk[t->depth][0];
}

/* Mark every node above the pages set dirty at level 1 as dirty too. */
static void atree_propagate_dirty(struct dirtylog_atree *t)
{
	u32 l;
	u64 i;

	for (l = 1; l < t->depth; l++)
		for_each_set_bit(i, t->dirty[l], t->nr[l])
			__set_bit(i / DIRTYLOG_NODE_ENTRIES, t->dirty[l + 1]);
}

static u64 atree_nr_dirty_nodes(struct dirtylog_atree *t)
{
	u64 n = 0;
	u32 l;

	for (l = 1; l <= t->depth; l++)
		n += bitmap_weight(t->dirty[l], t->nr[l]);
	return n;
}

/* Free every block of the active tree (in the state being built). */
static void atree_free_blocks(struct dirtylog_md *md, struct dirtylog_atree *t)
{
	u32 l;
	u64 i;

	for (l = 0; l <= t->depth; l++)
		for (i = 0; i < t->nr[l]; i++)
			dirtylog_free_block(md, t->blk[l][i]);
}

/* ---------------------------------------------------------------------- */
/* Pending marks of the active interval */

static void pending_free(struct dirtylog_pending *pd)
{
	if (pd) {
		kfree(pd->bits);
		kfree(pd->spare);
		kfree(pd);
	}
}

void dirtylog_md_discard_pending_locked(struct dirtylog_md *md)
{
	struct dirtylog_pending *pd;

	lockdep_assert_held(&md->lock);
	while ((pd = md->pending_list)) {
		md->pending_list = pd->next;
		xa_erase(&md->pending, pd->page);
		pending_free(pd);
	}
	md->nr_pending = 0;
}

/* A small allocation on the write path; the full copy comes only if needed. */
static_assert(sizeof(struct dirtylog_pending) <= 256);

/* Note that words @first..@last of @pd's full copy gained marks. */
static void pending_changed(struct dirtylog_pending *pd, u32 first, u32 last)
{
	pd->groups |= GENMASK_ULL(last / DIRTYLOG_GROUP_LONGS,
				  first / DIRTYLOG_GROUP_LONGS);
}

/*
 * Switch @pd (page @p) to a full copy: the live page with the listed marks.
 * The live page does not change while @pd exists: every holder of md->lock
 * commits or discards what is pending before it lets go, and nothing else
 * publishes to or replaces the active bitmap with marks pending.
 */
static int pending_full(struct dirtylog_md *md, struct dirtylog_pending *pd,
			u64 p)
{
	unsigned long *bits;
	u32 k;

	if (pd->bits)
		return 0;
	bits = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	if (!bits)
		return -ENOMEM;
	dirtylog_bitmap_copy_page(dirtylog_active_locked(md), p, bits);
	for (k = 0; k < pd->nr; k++) {
		bits[pd->word[k]] |= pd->mask[k];
		pending_changed(pd, pd->word[k], pd->word[k]);
	}
	pd->bits = bits;
	pd->nr = 0;
	return 0;
}

/*
 * Get the pending marks of page @p, or create them for @nwords words of new
 * marks: a list, or a full copy when the list cannot hold them.  A new
 * entry is stored only once it can take those marks, so no entry is ever
 * left without any (which would write a page of zeroes).
 */
static struct dirtylog_pending *pending_get(struct dirtylog_md *md, u64 p,
					    u32 nwords)
{
	struct dirtylog_bitmap *bm = dirtylog_active_locked(md);
	struct dirtylog_pending *pd = xa_load(&md->pending, p);

	if (pd)
		return pd;
	pd = kmalloc(sizeof(*pd), GFP_NOIO);
	if (!pd)
		return NULL;
	pd->bits = NULL;
	pd->spare = NULL;
	pd->groups = 0;
	pd->nr = 0;
	if (!rcu_access_pointer(bm->pages[p])) {
		pd->spare = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
		if (!pd->spare)
			goto fail;
	}
	if (nwords > DIRTYLOG_PENDING_WORDS && pending_full(md, pd, p))
		goto fail;
	pd->page = p;
	if (xa_err(xa_store(&md->pending, p, pd, GFP_NOIO)))
		goto fail;
	pd->next = md->pending_list;
	md->pending_list = pd;
	md->nr_pending++;
	return pd;
fail:
	pending_free(pd);
	return NULL;
}

/* Add @mask to word @w of page @p's pending marks. */
static int pending_or_long(struct dirtylog_md *md, struct dirtylog_pending *pd,
			   u64 p, u32 w, unsigned long mask)
{
	u32 k;
	int r;

	if (!pd->bits) {
		/* Marks of one write come in order: look from the end. */
		for (k = pd->nr; k-- > 0;) {
			if (pd->word[k] == w) {
				pd->mask[k] |= mask;
				return 0;
			}
		}
		if (pd->nr < DIRTYLOG_PENDING_WORDS) {
			pd->word[pd->nr] = w;
			pd->mask[pd->nr] = mask;
			pd->nr++;
			return 0;
		}
		r = pending_full(md, pd, p);
		if (r)
			return r;
	}
	pd->bits[w] |= mask;
	pending_changed(pd, w, w);
	return 0;
}

/* Set bits of [block, block + count) in the pending marks of their pages. */
static int pending_or_range(struct dirtylog_md *md, u64 block, u64 count)
{
	struct dirtylog_bitmap *bm = dirtylog_active_locked(md);
	u64 end = block + count;
	int r;

	while (block < end) {
		struct dirtylog_pending *pd;
		u32 bit, w, last;
		u64 p = div_u64_rem(block, DIRTYLOG_BITS_PER_PAGE, &bit);
		u32 n = min_t(u64, end - block, DIRTYLOG_BITS_PER_PAGE - bit);
		bool marked;

		/*
		 * md->lock keeps the pages in place; the read lock is what
		 * dirtylog_bitmap_test_range() documents (and lockdep checks).
		 */
		rcu_read_lock();
		marked = dirtylog_bitmap_test_range(bm, block, n);
		rcu_read_unlock();
		block += n;
		if (marked)
			continue;
		w = bit / BITS_PER_LONG;
		last = (bit + n - 1) / BITS_PER_LONG;
		pd = pending_get(md, p, last - w + 1);
		if (!pd)
			return -ENOMEM;
		/* More words than the list holds: straight to the full copy. */
		if (!pd->bits && last - w >= DIRTYLOG_PENDING_WORDS - pd->nr) {
			r = pending_full(md, pd, p);
			if (r)
				return r;
		}
		if (pd->bits) {
			bitmap_set(pd->bits, bit, n);
			pending_changed(pd, w, last);
			continue;
		}
		for (; w <= last; w++) {
			u32 from = max(bit, w * BITS_PER_LONG);
			u32 to = min(bit + n, (w + 1) * BITS_PER_LONG);

			r = pending_or_long(md, pd, p, w,
					    BITMAP_FIRST_WORD_MASK(from) &
					    BITMAP_LAST_WORD_MASK(to));
			if (r)
				return r;
		}
	}
	return 0;
}

/* Merge a whole bitmap page's bits into the pending marks of page @p. */
static int pending_or_page(struct dirtylog_md *md, u64 p,
			   const unsigned long *bits)
{
	struct dirtylog_pending *pd = pending_get(md, p, DIRTYLOG_PAGE_LONGS);
	int r;

	if (!pd)
		return -ENOMEM;
	r = pending_full(md, pd, p);
	if (r)
		return r;
	bitmap_or(pd->bits, pd->bits, bits, DIRTYLOG_BITS_PER_PAGE);
	pd->groups = DIRTYLOG_ALL_GROUPS;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Commit */

static int write_table(struct dirtylog_md *md)
{
	struct dirtylog_disk_table *tb;
	struct dm_buffer *buf;
	u32 nr = DIV_ROUND_UP(md->nr_ckpts, DIRTYLOG_TABLE_ENTRIES);
	u64 *blocks = NULL;
	u32 i, k;
	int r = 0;

	for (i = 0; i < md->nr_table_blocks; i++)
		dirtylog_free_block(md, md->table_blocks[i]);
	if (nr) {
		blocks = kcalloc(nr, sizeof(u64), GFP_NOIO | __GFP_NOFAIL);
		for (i = 0; i < nr && !r; i++)
			r = dirtylog_alloc_block(md, &blocks[i]);
		if (r) {
			kfree(blocks);
			return r;
		}
	}
	for (i = 0; i < nr && !r; i++) {
		tb = dirtylog_new_block(md, blocks[i], &buf);
		if (IS_ERR(tb)) {
			r = PTR_ERR(tb);
			break;
		}
		memset(tb, 0, sizeof(*tb));
		tb->next = cpu_to_le64(i + 1 < nr ? blocks[i + 1] : 0);
		for (k = 0; k < DIRTYLOG_TABLE_ENTRIES; k++) {
			u32 c = i * DIRTYLOG_TABLE_ENTRIES + k;
			struct dirtylog_disk_ckpt *e = &tb->entries[k];

			if (c >= md->nr_ckpts)
				break;
			memcpy(e->name, md->ckpts[c].name, DIRTYLOG_NAME_MAX);
			e->id = cpu_to_le64(md->ckpts[c].id);
			e->ctime_ns = cpu_to_le64(md->ckpts[c].ctime_ns);
			e->root = cpu_to_le64(md->ckpts[c].root);
		}
		tb->count = cpu_to_le32(k);
		dirtylog_seal_new_block(buf, tb, DIRTYLOG_TABLE_MAGIC);
	}
	if (r) {
		kfree(blocks);
		return r;
	}
	kfree(md->table_blocks);
	md->table_blocks = blocks;
	md->nr_table_blocks = nr;
	return 0;
}

static int write_superblock(struct dirtylog_md *md)
{
	struct dirtylog_disk_sb *sb;
	struct dm_buffer *buf;

	sb = dirtylog_new_block(md, 0, &buf);
	if (IS_ERR(sb))
		return PTR_ERR(sb);
	memset(sb, 0, DIRTYLOG_META_BLOCK_SIZE);
	sb->version = cpu_to_le32(DIRTYLOG_VERSION_MAX);
	sb->flags = cpu_to_le32(md->flags);
	memcpy(sb->uuid, md->uuid, sizeof(sb->uuid));
	sb->generation = cpu_to_le64(md->generation);
	sb->data_sectors = cpu_to_le64(md->data_sectors);
	sb->block_sectors = cpu_to_le32(md->block_sectors);
	sb->depth = cpu_to_le32(md->atree.depth);
	sb->nr_meta_blocks = cpu_to_le64(md->nr_meta_blocks);
	sb->next_ckpt_id = cpu_to_le64(md->next_ckpt_id);
	sb->nr_ckpts = cpu_to_le32(md->nr_ckpts);
	sb->nr_table_blocks = cpu_to_le32(md->nr_table_blocks);
	sb->table_root = cpu_to_le64(md->nr_table_blocks ? md->table_blocks[0] : 0);
	sb->active_root = cpu_to_le64(atree_root(&md->atree));
	dirtylog_seal_new_block(buf, sb, DIRTYLOG_SB_MAGIC);
	return 0;
}

/* Blocks only operations that free space (delete, reset) may use. */
static u64 reserve_blocks(struct dirtylog_md *md)
{
	return DIV_ROUND_UP(md->nr_ckpts, DIRTYLOG_TABLE_ENTRIES) + 1;
}

/*
 * Write the superblock and wait until it is durable (the commit point):
 * dm_bufio_write_dirty_buffers() waits for the write and then flushes.
 */
static int sync_superblock(struct dirtylog_md *md)
{
	int r = write_superblock(md);

	if (!r)
		r = dm_bufio_write_dirty_buffers(md->bufio);
	return r;
}

static void commit_failed(struct dirtylog_md *md, int r)
{
	md->failed = true;
	DMERR("metadata commit failed (%d): metadata device unusable until reload", r);
}

/*
 * Does pending page @p go to a new block?  Not when the commit may update
 * in place and the active tree already has a block for it.
 */
static bool page_needs_block(struct dirtylog_md *md, bool in_place, u64 p)
{
	return !in_place || !md->atree.blk[0][p];
}

/*
 * Plan a commit: how many new blocks it needs, with the nodes above the
 * pages that move to new blocks marked dirty, and whether the superblock
 * changes (*@sb); -ENOSPC (nothing written, nothing left dirty) when the
 * blocks are not free.
 */
static s64 commit_plan(struct dirtylog_md *md, bool in_place, bool *sb)
{
	struct dirtylog_atree *t = &md->atree;
	struct dirtylog_pending *pd;
	u64 need = 0, avail;
	u32 l;

	for (pd = md->pending_list; pd; pd = pd->next) {
		if (page_needs_block(md, in_place, pd->page)) {
			__set_bit(pd->page / DIRTYLOG_NODE_ENTRIES, t->dirty[1]);
			need++;
		}
	}
	atree_propagate_dirty(t);
	need += atree_nr_dirty_nodes(t);
	if (md->table_dirty)
		need += DIV_ROUND_UP(md->nr_ckpts, DIRTYLOG_TABLE_ENTRIES);
	*sb = need || md->table_dirty;
	if (!need)
		return 0;
	avail = dirtylog_nr_free_blocks(md);
	/*
	 * Keep enough blocks back for rewriting the checkpoint table, so that
	 * deleting a checkpoint can always free space on a full device.
	 */
	if (!md->use_reserve)
		avail -= min(avail, reserve_blocks(md));
	if (need > avail) {
		DMERR_LIMIT("metadata device full: %llu blocks needed, %llu available",
			    need, avail);
		for (l = 1; l <= t->depth; l++)
			bitmap_zero(t->dirty[l], t->nr[l]);
		return -ENOSPC;
	}
	return need;
}

/* Write page @p with its pending marks to block @b. */
static int write_pending_page(struct dirtylog_md *md, u64 b, u64 p,
			      struct dirtylog_pending *pd)
{
	if (pd->bits)
		return dirtylog_write_page_bits(md, b, pd->bits);
	return dirtylog_write_page_words(md, b, dirtylog_active_locked(md), p,
					 pd->word, pd->mask, pd->nr);
}

/* Write every pending bitmap page: in place, or to a new block. */
static int write_pending_pages(struct dirtylog_md *md, bool in_place)
{
	struct dirtylog_atree *t = &md->atree;
	struct dirtylog_pending *pd;
	u64 nb, p;
	int r = 0;

	for (pd = md->pending_list; pd; pd = pd->next) {
		p = pd->page;
		if (!page_needs_block(md, in_place, p)) {
			/*
			 * The cached page as it is, checksum updated from the
			 * words that change.  Not a partial last page: its
			 * block may hold bits past the device (repair sets
			 * them, the load clears them in memory), which the
			 * page built from memory drops.
			 */
			r = -EAGAIN;
			if (!pd->bits &&
			    (p + 1) * DIRTYLOG_BITS_PER_PAGE <= md->nr_blocks)
				r = dirtylog_update_page_words(md, t->blk[0][p],
							       pd->word, pd->mask,
							       pd->nr);
			if (r == -EAGAIN)
				r = write_pending_page(md, t->blk[0][p], p, pd);
			if (r)
				break;
			continue;
		}
		r = dirtylog_alloc_block(md, &nb);
		if (!r)
			r = write_pending_page(md, nb, p, pd);
		if (r)
			break;
		dirtylog_free_block(md, t->blk[0][p]);
		t->blk[0][p] = nb;
	}
	return r;
}

/* Rewrite every dirty node of the active tree, bottom up, to new blocks. */
static int write_dirty_nodes(struct dirtylog_md *md)
{
	struct dirtylog_atree *t = &md->atree;
	u64 i, n, nb;
	u32 l;
	int r = 0;

	for (l = 1; l <= t->depth && !r; l++) {
		for_each_set_bit(i, t->dirty[l], t->nr[l]) {
			u64 first = i * DIRTYLOG_NODE_ENTRIES;
			u64 *child = &t->blk[l - 1][first];
			bool empty;

			n = min_t(u64, DIRTYLOG_NODE_ENTRIES, t->nr[l - 1] - first);
			empty = !memchr_inv(child, 0, n * sizeof(u64));
			dirtylog_free_block(md, t->blk[l][i]);
			t->blk[l][i] = 0;
			if (!empty) {
				r = dirtylog_alloc_block(md, &nb);
				if (!r)
					r = dirtylog_write_node(md, nb, l, child, n);
				if (r)
					break;
				t->blk[l][i] = nb;
			}
			if (l < t->depth)
				__set_bit(i / DIRTYLOG_NODE_ENTRIES, t->dirty[l + 1]);
		}
		bitmap_zero(t->dirty[l], t->nr[l]);
	}
	return r;
}

/* The new blocks durable, then the superblock durable: the commit point. */
static int commit_point(struct dirtylog_md *md)
{
	int r = 0;

	if (md->table_dirty)
		r = write_table(md);
	/* Waits for every new block, then flushes: all durable from here. */
	if (!r)
		r = dm_bufio_write_dirty_buffers(md->bufio);
	if (!r) {
		md->generation++;
		r = sync_superblock(md);
	}
	return r;
}

/**
 * dirtylog_md_commit_locked() - make every pending change durable
 * @md: metadata
 *
 * Writes pending bitmap pages and dirty nodes of the active tree and, if
 * changed, the checkpoint table, all to fresh blocks; waits for them and
 * flushes; writes the superblock; waits and flushes (see the commit
 * protocol above).  A commit that only adds marks to pages the active tree
 * already has (no checkpoint operation in it) rewrites those pages in
 * place and flushes once: nothing else changes, so the superblock stays.
 * Then publishes the pending bits to the in-memory bitmap so map() lets
 * writes to those blocks through.
 *
 * Context: md->lock held; may sleep.
 * Return: 0; -ENOSPC or -ENOMEM with nothing written (the caller rolls
 * back); another error after a failed write, when @md is marked failed.
 * Past the space check, allocations do not fail (__GFP_NOFAIL), so only
 * I/O errors fail a commit half way.
 */
int dirtylog_md_commit_locked(struct dirtylog_md *md)
{
	struct dirtylog_bitmap *bm = dirtylog_active_locked(md);
	struct dirtylog_pending *pd;
	bool in_place, sb;
	s64 need;
	int r;

	lockdep_assert_held(&md->lock);
	if (md->failed)
		return -EIO;
	/*
	 * Checkpoint operations stay copy-on-write, so that a crash leaves
	 * each of them wholly done or not at all, marks included.
	 */
	in_place = !md->table_dirty;
	need = commit_plan(md, in_place, &sb);
	if (need < 0)
		return need;	/* -ENOSPC: nothing written */
	/* Nothing changed (e.g. writes to blocks marked meanwhile): no I/O. */
	if (!sb && !md->nr_pending)
		return 0;

	/* From here on only I/O errors can fail the commit. */
	r = write_pending_pages(md, in_place);
	if (!r && sb)
		r = write_dirty_nodes(md);
	if (!r)
		r = sb ? commit_point(md) : dm_bufio_write_dirty_buffers(md->bufio);
	if (r) {
		commit_failed(md, r);
		return r;
	}

	md->table_dirty = false;
	WRITE_ONCE(md->nr_commits, md->nr_commits + 1);
	/* An in-place commit (!sb) allocated and freed nothing. */
	if (sb)
		dirtylog_sm_commit(md);
	for (pd = md->pending_list; pd; pd = pd->next) {
		if (pd->bits)
			dirtylog_bitmap_publish(bm, pd->page, pd->bits,
						pd->groups, &pd->spare);
		else
			dirtylog_bitmap_publish_words(bm, pd->page, pd->word,
						      pd->mask, pd->nr,
						      &pd->spare);
	}
	dirtylog_md_discard_pending_locked(md);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Open, format, load */

/*
 * Checkpoint generations come from one counter shared by every metadata
 * instance: a netlink dump that spans a remove and re-create of its device,
 * or a reopen after a failure, never finds its first generation again (a
 * per-instance count restarted at the same value and hid the change).
 */
static atomic64_t dirtylog_gens = ATOMIC64_INIT(0);

static void next_gen(struct dirtylog_md *md)
{
	WRITE_ONCE(md->ckpt_gen, atomic64_inc_return(&dirtylog_gens));
}

static int ensure_ckpt_capacity(struct dirtylog_md *md, u32 want)
{
	struct dirtylog_ckpt *n;
	u32 cap;

	if (want <= md->ckpt_capacity)
		return 0;
	cap = max_t(u32, 16, md->ckpt_capacity * 2);
	while (cap < want)
		cap *= 2;
	cap = min_t(u32, cap, DIRTYLOG_MAX_CHECKPOINTS);
	if (cap < want)
		return -ENOSPC;
	n = kvcalloc(cap, sizeof(*n), GFP_KERNEL | __GFP_NOWARN);
	if (!n)
		return -ENOMEM;
	if (md->ckpts)
		memcpy(n, md->ckpts, md->nr_ckpts * sizeof(*n));
	kvfree(md->ckpts);
	md->ckpts = n;
	md->ckpt_capacity = cap;
	return 0;
}

static int format(struct dirtylog_md *md, u64 data_sectors)
{
	int r;

	generate_random_uuid(md->uuid);
	md->generation = 0;
	md->flags = 0;
	md->next_ckpt_id = 1;
	set_geometry(md, data_sectors);
	r = atree_alloc(&md->atree, md->nr_pages);
	if (r)
		return r;
	md->table_dirty = false;
	return sync_superblock(md);
}

/* Copy block 0 as it is; dirtylog_get_block() refuses block 0 on purpose. */
static int read_superblock(struct dirtylog_md *md, void *dst)
{
	struct dm_buffer *buf;
	void *data = dm_bufio_read(md->bufio, 0, &buf);

	if (IS_ERR(data))
		return PTR_ERR(data);
	memcpy(dst, data, DIRTYLOG_META_BLOCK_SIZE);
	dm_bufio_release(buf);
	return 0;
}

struct load_ctx {
	struct dirtylog_bitmap *bm;
	void *scratch;
};

static int load_active_page(struct dirtylog_walk *w, u64 page, u64 b)
{
	struct dirtylog_md *md = w->md;
	struct load_ctx *lc = w->ctx;
	unsigned long *bits, *spare;
	u64 first = page * DIRTYLOG_BITS_PER_PAGE;
	u64 valid;
	int r;

	r = dirtylog_claim_block(md, b);
	if (r)
		return r;
	md->atree.blk[0][page] = b;
	bits = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_KERNEL);
	spare = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_KERNEL);
	if (!bits || !spare) {
		kfree(bits);
		kfree(spare);
		return -ENOMEM;
	}
	r = dirtylog_read_page_bits(md, b, bits, lc->scratch);
	if (!r) {
		/* Bits past the end of the device are meaningless: drop them. */
		valid = min_t(u64, DIRTYLOG_BITS_PER_PAGE, md->nr_blocks - first);
		if (valid < DIRTYLOG_BITS_PER_PAGE)
			bitmap_clear(bits, valid, DIRTYLOG_BITS_PER_PAGE - valid);
		dirtylog_bitmap_publish(lc->bm, page, bits, DIRTYLOG_ALL_GROUPS, &spare);
	}
	kfree(spare);
	kfree(bits);
	return r;
}

static int load_active_node(struct dirtylog_walk *w, u32 level, u64 index, u64 b)
{
	struct dirtylog_md *md = w->md;

	if (index >= md->atree.nr[level]) {
		DMERR("metadata node index out of range");
		return -EILSEQ;
	}
	md->atree.blk[level][index] = b;
	return dirtylog_claim_block(md, b);
}

static int load_table(struct dirtylog_md *md, u64 first, u32 nr_blocks,
		      u32 nr_ckpts, char **error)
{
	struct dirtylog_disk_table *tb;
	u64 b = first;
	u32 i, k, c = 0;
	int r;

	*error = "Corrupt checkpoint table in metadata";
	if (nr_blocks != DIV_ROUND_UP(nr_ckpts, DIRTYLOG_TABLE_ENTRIES) ||
	    (nr_blocks && !first) || (!nr_blocks && first))
		return -EILSEQ;
	r = ensure_ckpt_capacity(md, nr_ckpts);
	if (r)
		return r;
	md->table_blocks = kcalloc(max_t(u32, nr_blocks, 1), sizeof(u64), GFP_KERNEL);
	tb = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_KERNEL);
	if (!md->table_blocks || !tb) {
		kfree(tb);
		return -ENOMEM;
	}
	for (i = 0; i < nr_blocks; i++) {
		r = dirtylog_claim_block(md, b);
		if (!r)
			r = dirtylog_read_block(md, b, DIRTYLOG_TABLE_MAGIC, tb);
		if (r)
			goto out;
		md->table_blocks[i] = b;
		if (le32_to_cpu(tb->count) > DIRTYLOG_TABLE_ENTRIES ||
		    c + le32_to_cpu(tb->count) > nr_ckpts) {
			r = -EILSEQ;
			goto out;
		}
		for (k = 0; k < le32_to_cpu(tb->count); k++, c++) {
			struct dirtylog_disk_ckpt *e = &tb->entries[k];
			struct dirtylog_ckpt *ck = &md->ckpts[c];
			u32 j;

			memcpy(ck->name, e->name, DIRTYLOG_NAME_MAX);
			ck->name[DIRTYLOG_NAME_MAX] = '\0';
			ck->id = le64_to_cpu(e->id);
			ck->ctime_ns = le64_to_cpu(e->ctime_ns);
			ck->root = le64_to_cpu(e->root);
			if (!dirtylog_valid_name(ck->name) || !ck->id ||
			    ck->id >= md->next_ckpt_id ||
			    (c && ck->id <= md->ckpts[c - 1].id) ||
			    (c == 0 && ck->root)) {
				DMERR("metadata checkpoint entry %u is invalid", c);
				r = -EILSEQ;
				goto out;
			}
			for (j = 0; j < c; j++) {
				if (!strcmp(md->ckpts[j].name, ck->name)) {
					DMERR("metadata holds checkpoint '%s' twice",
					      ck->name);
					r = -EILSEQ;
					goto out;
				}
			}
		}
		b = le64_to_cpu(tb->next);
		if ((i + 1 < nr_blocks) != !!b) {
			r = -EILSEQ;
			goto out;
		}
	}
	if (c != nr_ckpts)
		r = -EILSEQ;
	md->nr_ckpts = c;
	update_latest(md);
	md->nr_table_blocks = nr_blocks;
out:
	kfree(tb);
	return r;
}

static int load(struct dirtylog_md *md, const struct dirtylog_disk_sb *sb,
		u64 data_sectors, char **error)
{
	struct load_ctx lc = { };
	struct dirtylog_walk w = { .md = md };
	struct dirtylog_bitmap *bm;
	u32 version = le32_to_cpu(sb->version);
	u64 recorded = le64_to_cpu(sb->data_sectors);
	u32 i;
	int r;

	if (le32_to_cpu(sb->hdr.magic) != DIRTYLOG_SB_MAGIC ||
	    le64_to_cpu(sb->hdr.blocknr) != 0) {
		*error = "Metadata device holds something else (bad superblock magic)";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->hdr.csum) != dirtylog_block_csum(sb)) {
		*error = "Metadata superblock checksum mismatch";
		return -EILSEQ;
	}
	if (version < DIRTYLOG_VERSION_MIN || version > DIRTYLOG_VERSION_MAX) {
		*error = "Unsupported metadata version";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->flags) & ~DIRTYLOG_SB_KNOWN_FLAGS) {
		*error = "Metadata superblock has unknown flags";
		return -EINVAL;
	}
	if (le32_to_cpu(sb->block_sectors) != md->block_sectors) {
		*error = "Block size does not match the one recorded in the metadata";
		return -EINVAL;
	}
	if (!recorded) {
		*error = "Corrupt metadata superblock (zero data size)";
		return -EILSEQ;
	}
	if (recorded > data_sectors) {
		*error = DIRTYLOG_SHRINK_ERROR;
		return -EINVAL;
	}
	if (le64_to_cpu(sb->next_ckpt_id) == 0 ||
	    le32_to_cpu(sb->nr_ckpts) > DIRTYLOG_MAX_CHECKPOINTS) {
		*error = "Corrupt metadata superblock";
		return -EILSEQ;
	}
	memcpy(md->uuid, sb->uuid, sizeof(md->uuid));
	md->generation = le64_to_cpu(sb->generation);
	md->flags = le32_to_cpu(sb->flags);
	md->next_ckpt_id = le64_to_cpu(sb->next_ckpt_id);
	set_geometry(md, recorded);
	if (le32_to_cpu(sb->depth) != dirtylog_depth_for(md->nr_pages)) {
		*error = "Corrupt metadata superblock (tree depth)";
		return -EILSEQ;
	}
	r = atree_alloc(&md->atree, md->nr_pages);
	if (r) {
		*error = "Cannot allocate memory for the active interval";
		return r;
	}

	r = load_table(md, le64_to_cpu(sb->table_root),
		       le32_to_cpu(sb->nr_table_blocks),
		       le32_to_cpu(sb->nr_ckpts), error);
	if (r) {
		if (r == -EIO)
			*error = "Cannot read the checkpoint table";
		return r;
	}

	*error = "Corrupt bitmap tree in metadata";
	w.page_fn = dirtylog_claim_page_fn;
	w.node_fn = dirtylog_claim_node_fn;
	for (i = 0; i < md->nr_ckpts; i++) {
		r = dirtylog_walk_tree(&w, md->ckpts[i].root, md->atree.depth);
		if (r)
			return r;
	}

	bm = dirtylog_bitmap_alloc(md->nr_blocks);
	lc.scratch = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_KERNEL);
	if (!bm || !lc.scratch) {
		dirtylog_bitmap_free(bm);
		kfree(lc.scratch);
		*error = "Cannot allocate memory for the active interval";
		return -ENOMEM;
	}
	lc.bm = bm;
	w.page_fn = load_active_page;
	w.node_fn = load_active_node;
	w.ctx = &lc;
	r = dirtylog_walk_tree(&w, le64_to_cpu(sb->active_root), md->atree.depth);
	kfree(lc.scratch);
	if (r) {
		dirtylog_bitmap_free(bm);
		return r;
	}
	rcu_assign_pointer(md->active, bm);
	dirtylog_sm_sync(md);
	return 0;
}

/**
 * dirtylog_md_open() - open, validate or format the metadata
 * @bdev: metadata device
 * @block_sectors: tracking block size from the table line
 * @data_sectors: length of the target
 * @error: set to a static reason on failure
 *
 * A metadata device whose first block is all zero is formatted.  Anything
 * else must be valid dirtylog metadata with the same block size and a data
 * size no larger than @data_sectors; nothing is written in that case (a
 * larger @data_sectors is applied later with dirtylog_md_grow()).
 *
 * Context: process context, may sleep.  Return: metadata or ERR_PTR().
 */
struct dirtylog_md *dirtylog_md_open(struct block_device *bdev,
				     u32 block_sectors, u64 data_sectors,
				     char **error)
{
	struct dirtylog_disk_sb *sb = NULL;
	struct dirtylog_md *md;
	int r;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md) {
		*error = "Cannot allocate metadata context";
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&md->lock);
	xa_init(&md->pending);
	next_gen(md);
	md->bdev = bdev;
	md->block_sectors = block_sectors;
	md->block_shift = ilog2(block_sectors);
	md->nr_meta_blocks = min_t(u64, bdev_nr_sectors(bdev) >> 3,
				   DIRTYLOG_MAX_META_BLOCKS);
	if (md->nr_meta_blocks < DIRTYLOG_MIN_META_BLOCKS) {
		*error = "Metadata device too small: at least 64 KiB needed";
		r = -EINVAL;
		goto bad;
	}

	md->bufio = dirtylog_bufio_client_create(bdev, DIRTYLOG_META_BLOCK_SIZE,
						 4, sizeof(u32),
						 dirtylog_bufio_alloc, NULL);
	if (IS_ERR(md->bufio)) {
		*error = "Cannot create metadata buffer cache";
		r = PTR_ERR(md->bufio);
		md->bufio = NULL;
		goto bad;
	}
	r = dirtylog_sm_alloc(md);
	if (r) {
		*error = "Cannot allocate metadata space map";
		goto bad;
	}

	sb = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_KERNEL);
	if (!sb) {
		*error = "Cannot allocate metadata context";
		r = -ENOMEM;
		goto bad;
	}
	r = read_superblock(md, sb);
	if (r) {
		*error = "Cannot read the metadata superblock";
		goto bad;
	}

	if (dirtylog_block_is_zero(sb)) {
		struct dirtylog_bitmap *bm;

		/* Allocate first: a refused load must write nothing. */
		set_geometry(md, data_sectors);
		bm = dirtylog_bitmap_alloc(md->nr_blocks);
		if (!bm) {
			*error = "Cannot allocate memory for the active interval";
			r = -ENOMEM;
			goto bad;
		}
		r = format(md, data_sectors);
		if (r) {
			dirtylog_bitmap_free(bm);
			*error = "Cannot format the metadata device";
			goto bad;
		}
		rcu_assign_pointer(md->active, bm);
		dirtylog_sm_sync(md);
		DMINFO("formatted metadata device %pg", bdev);
	} else {
		r = load(md, sb, data_sectors, error);
		if (r)
			goto bad;
	}
	kfree(sb);
	return md;

bad:
	kfree(sb);
	dirtylog_md_close(md);
	return ERR_PTR(r);
}

/**
 * dirtylog_md_close() - free the in-memory state (nothing is written)
 * @md: metadata, may be NULL
 *
 * Context: no reader of the active bitmap may remain.
 */
void dirtylog_md_close(struct dirtylog_md *md)
{
	struct dirtylog_pending *pd;

	if (!md)
		return;
	while ((pd = md->pending_list)) {
		md->pending_list = pd->next;
		pending_free(pd);
	}
	xa_destroy(&md->pending);
	dirtylog_bitmap_free(rcu_dereference_protected(md->active, 1));
	atree_free(&md->atree);
	kvfree(md->ckpts);
	kfree(md->table_blocks);
	kvfree(md->sm_committed);
	kvfree(md->sm_current);
	kvfree(md->sm_held[0]);
	kvfree(md->sm_held[1]);
	kvfree(md->sm_dirty);
	if (md->bufio)
		dm_bufio_client_destroy(md->bufio);
	kfree(md);
}

/* ---------------------------------------------------------------------- */
/* Aborting a transaction */

/* Move the in-core state of @from into @md, freeing @md's; @from is left empty. */
static void take_state(struct dirtylog_md *md, struct dirtylog_md *from)
{
	struct dirtylog_bitmap *old_bm;

	memcpy(md->uuid, from->uuid, sizeof(md->uuid));
	md->generation = from->generation;
	md->data_sectors = from->data_sectors;
	md->nr_blocks = from->nr_blocks;
	md->nr_pages = from->nr_pages;
	WRITE_ONCE(md->flags, from->flags);
	md->next_ckpt_id = from->next_ckpt_id;

	kvfree(md->ckpts);
	md->ckpts = from->ckpts;
	md->ckpt_capacity = from->ckpt_capacity;
	WRITE_ONCE(md->nr_ckpts, from->nr_ckpts);
	from->ckpts = NULL;
	kfree(md->table_blocks);
	md->table_blocks = from->table_blocks;
	md->nr_table_blocks = from->nr_table_blocks;
	from->table_blocks = NULL;
	md->table_dirty = false;
	md->use_reserve = false;

	atree_free(&md->atree);
	md->atree = from->atree;
	memset(&from->atree, 0, sizeof(from->atree));

	/* Same size (the metadata device did not change); sm_held stays. */
	swap(md->sm_committed, from->sm_committed);
	swap(md->sm_current, from->sm_current);
	swap(md->sm_dirty, from->sm_dirty);
	md->nr_dirty_words = from->nr_dirty_words;
	md->sm_all_dirty = from->sm_all_dirty;
	md->nr_freed = from->nr_freed;
	WRITE_ONCE(md->nr_used, from->nr_used);
	md->alloc_hint = 1;

	old_bm = dirtylog_active_locked(md);
	rcu_assign_pointer(md->active, rcu_dereference_protected(from->active, 1));
	RCU_INIT_POINTER(from->active, NULL);
	synchronize_rcu();
	dirtylog_bitmap_free(old_bm);
	update_latest(md);
}

/**
 * abort_transaction() - forget everything since the last commit
 * @md: metadata whose current transaction failed before its commit point
 *
 * The one rollback of every operation (checkpoint create and delete,
 * reset, grow), after dm-clone's dm_clone_metadata_abort(): the pending
 * marks are dropped, the blocks the transaction wrote are written out now
 * (dm-bufio cannot drop a dirty buffer; they are free in the committed
 * state, so writing them harms nothing, and nothing of this transaction
 * is left to be written later, at teardown, over blocks a new instance
 * may have committed meanwhile), and the whole in-core state, the active
 * bitmap included, is rebuilt from the committed superblock.  The caller
 * frees what it set aside itself (an old atree or bitmap it swapped out);
 * the current md->active and md->atree are freed here.
 *
 * Context: md->lock held, noio scope where a device is suspended.
 * Return: 0, or -errno when the rebuild failed: then @md is failed.
 */
static int abort_transaction(struct dirtylog_md *md)
{
	struct dirtylog_disk_sb *sb;
	struct dirtylog_md *fresh;
	char *error = NULL;
	int r;

	lockdep_assert_held(&md->lock);
	dirtylog_md_discard_pending_locked(md);
	r = dm_bufio_write_dirty_buffers(md->bufio);
	sb = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	fresh = kzalloc(sizeof(*fresh), GFP_NOIO);
	if (!r && (!sb || !fresh))
		r = -ENOMEM;
	if (fresh) {
		/* Before anything can fail: dirtylog_md_close() destroys them. */
		mutex_init(&fresh->lock);
		xa_init(&fresh->pending);
	}
	if (!r)
		r = read_superblock(md, sb);	/* load() checks it */
	if (!r) {
		fresh->bdev = md->bdev;
		fresh->bufio = md->bufio;
		fresh->block_sectors = md->block_sectors;
		fresh->block_shift = md->block_shift;
		fresh->nr_meta_blocks = md->nr_meta_blocks;
		r = dirtylog_sm_alloc(fresh);
		if (!r)
			r = load(fresh, sb, le64_to_cpu(sb->data_sectors), &error);
	}
	if (!r) {
		take_state(md, fresh);
		next_gen(md);
	} else {
		md->failed = true;
		DMERR("cannot roll back a metadata transaction (%d%s%s): unusable until reload",
		      r, error ? ": " : "", error ? error : "");
	}
	if (fresh) {
		fresh->bufio = NULL;	/* md's */
		dirtylog_md_close(fresh);
	}
	kfree(sb);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Accessors */

void dirtylog_md_lock(struct dirtylog_md *md)
{
	mutex_lock(&md->lock);
}

void dirtylog_md_unlock(struct dirtylog_md *md)
{
	mutex_unlock(&md->lock);
}

u64 dirtylog_md_data_sectors(struct dirtylog_md *md)
{
	return READ_ONCE(md->data_sectors);
}

u32 dirtylog_md_block_sectors(struct dirtylog_md *md)
{
	return md->block_sectors;
}

/*
 * Context: any; takes no lock that a worker or a suspend could hold, so
 * status never waits.  Fields may be a moment apart.
 */
void dirtylog_md_stats(struct dirtylog_md *md, struct dirtylog_md_stats *st)
{
	struct dirtylog_bitmap *bm;
	u32 n;

	rcu_read_lock();
	bm = rcu_dereference(md->active);
	st->nr_blocks = bm->nr_blocks;
	st->dirty_active = READ_ONCE(bm->nr_set);
	rcu_read_unlock();
	n = READ_ONCE(md->nr_ckpts);
	st->nr_checkpoints = n;
	st->latest_id = READ_ONCE(md->latest_id);
	/* Blocks held for running queries are not free either. */
	st->meta_used = READ_ONCE(md->nr_used) + READ_ONCE(md->nr_held[0]) +
			READ_ONCE(md->nr_held[1]);
	st->meta_total = md->nr_meta_blocks;
	st->commits = READ_ONCE(md->nr_commits);
	st->invalid = READ_ONCE(md->flags) & DIRTYLOG_SB_FLAG_INVALID;
	st->failed = READ_ONCE(md->failed);
	memcpy(st->uuid, md->uuid, sizeof(st->uuid));
	st->ckpt_gen = READ_ONCE(md->ckpt_gen);
}

bool dirtylog_md_test_range(struct dirtylog_md *md, u64 block, u64 count)
{
	return dirtylog_bitmap_test_range(rcu_dereference(md->active), block,
					  count);
}

/* ---------------------------------------------------------------------- */
/* Marking */

int dirtylog_md_mark_locked(struct dirtylog_md *md, u64 block, u64 count)
{
	lockdep_assert_held(&md->lock);
	if (!count || block >= md->nr_blocks || count > md->nr_blocks - block)
		return -EINVAL;
	return pending_or_range(md, block, count);
}

u64 dirtylog_md_nr_pending_locked(struct dirtylog_md *md)
{
	lockdep_assert_held(&md->lock);
	return md->nr_pending;
}

/**
 * dirtylog_md_mark() - mark blocks dirty in the active interval, durably
 * @md: metadata
 * @block: first block
 * @count: number of blocks
 *
 * Large ranges are committed in batches so memory stays bounded; on return
 * every block of the range is durable (or an error is returned).
 */
int dirtylog_md_mark(struct dirtylog_md *md, u64 block, u64 count)
{
	u64 step, end;
	int r = 0;

	mutex_lock(&md->lock);
	if (!count || block >= md->nr_blocks || count > md->nr_blocks - block) {
		r = -EINVAL;
		goto out;
	}
	end = block + count;
	while (block < end && !r) {
		step = min_t(u64, end - block,
			     (u64)DIRTYLOG_BITS_PER_PAGE * DIRTYLOG_COMMIT_BATCH_PAGES);
		r = pending_or_range(md, block, step);
		if (!r)
			r = dirtylog_md_commit_locked(md);
		if (r && r != -EIO && !md->failed)
			dirtylog_md_discard_pending_locked(md);
		block += step;
	}
out:
	mutex_unlock(&md->lock);
	return r;
}

/* Add the 64 bits of @w at block @block (a multiple of 64) to pending. */
static int pending_or_word(struct dirtylog_md *md, u64 block, u64 w)
{
	struct dirtylog_bitmap *bm = dirtylog_active_locked(md);
	unsigned long tmp[BITS_TO_LONGS(64)];
	struct dirtylog_pending *pd;
	u32 bit, i;
	u64 p = div_u64_rem(block, DIRTYLOG_BITS_PER_PAGE, &bit);
	int r = 0;

	bitmap_from_arr64(tmp, &w, 64);
	/* Pages hold a whole number of 64-bit words: @bit is long aligned. */
	if (dirtylog_bitmap_covers(bm, p, bit / BITS_PER_LONG, tmp,
				   ARRAY_SIZE(tmp)))
		return 0;
	pd = pending_get(md, p, ARRAY_SIZE(tmp));
	if (!pd)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(tmp) && !r; i++)
		if (tmp[i])
			r = pending_or_long(md, pd, p, bit / BITS_PER_LONG + i,
					    tmp[i]);
	return r;
}

/* Are @c aligned, inside the device, and clear past its end? */
static int check_chunk(struct dirtylog_md *md, const struct dirtylog_mark_chunk *c)
{
	u64 b, w;
	u32 k;

	if (c->start % 64 || !c->nr_words)
		return -EINVAL;
	if (c->start >= md->nr_blocks)
		return -ERANGE;
	for (k = 0; k < c->nr_words; k++) {
		b = c->start + 64ULL * k;
		if (b + 64 <= md->nr_blocks)
			continue;
		w = get_unaligned_le64(c->words + 8ULL * k);
		if (b >= md->nr_blocks ? w : w >> (md->nr_blocks - b))
			return -ERANGE;
	}
	return 0;
}

/**
 * dirtylog_md_mark_chunks() - mark the blocks of bitmap chunks dirty, durably
 * @md: metadata
 * @c: the chunks
 * @n: how many
 *
 * Checks every chunk before marking anything.  Commits in batches, so
 * memory stays bounded; on success every set bit is durable.
 *
 * Return: 0, -EINVAL for a misaligned or empty chunk, -ERANGE for a bit
 * past the end of the device, or a commit error.
 */
int dirtylog_md_mark_chunks(struct dirtylog_md *md,
			    const struct dirtylog_mark_chunk *c, unsigned int n)
{
	unsigned int i;
	u32 k;
	u64 w;
	int r = 0;

	mutex_lock(&md->lock);
	if (md->failed)
		r = -EIO;
	for (i = 0; i < n && !r; i++)
		r = check_chunk(md, &c[i]);
	for (i = 0; i < n && !r; i++) {
		for (k = 0; k < c[i].nr_words && !r; k++) {
			w = get_unaligned_le64(c[i].words + 8ULL * k);
			if (!w)
				continue;
			r = pending_or_word(md, c[i].start + 64ULL * k, w);
			if (!r && md->nr_pending >= DIRTYLOG_COMMIT_BATCH_PAGES)
				r = dirtylog_md_commit_locked(md);
		}
	}
	if (!r)
		r = dirtylog_md_commit_locked(md);
	if (r && r != -EIO && !md->failed)
		dirtylog_md_discard_pending_locked(md);
	mutex_unlock(&md->lock);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Checkpoints */

int dirtylog_find_ckpt(struct dirtylog_md *md, const char *name)
{
	u32 i;

	for (i = 0; i < md->nr_ckpts; i++)
		if (!strcmp(md->ckpts[i].name, name))
			return i;
	return -ENOENT;
}

/*
 * Replace the active bitmap; readers of the old one are gone on return.
 * Expedited, as dm's own table swap is: a checkpoint waits for this grace
 * period with md->lock held, so every deferred write waits too, and a
 * normal grace period lasts several scheduler ticks.
 */
static struct dirtylog_bitmap *swap_active(struct dirtylog_md *md,
					   struct dirtylog_bitmap *bm)
{
	struct dirtylog_bitmap *old = dirtylog_active_locked(md);

	rcu_assign_pointer(md->active, bm);
	synchronize_rcu_expedited();
	return old;
}

/*
 * Allocate an empty active interval: a new in-memory bitmap in *@nbm (not
 * yet visible) and a new active tree in md->atree, the old one saved in
 * *@oat.  On failure nothing has changed.
 */
static int new_interval(struct dirtylog_md *md, struct dirtylog_bitmap **nbm,
			struct dirtylog_atree *oat)
{
	int r;

	*nbm = dirtylog_bitmap_alloc(md->nr_blocks);
	if (!*nbm)
		return -ENOMEM;
	*oat = md->atree;
	r = atree_alloc(&md->atree, md->nr_pages);
	if (r) {
		md->atree = *oat;
		dirtylog_bitmap_free(*nbm);
	}
	return r;
}

/**
 * dirtylog_md_checkpoint_create() - freeze the active interval
 * @md: metadata
 * @name: validated checkpoint name
 * @collect: called after the new active bitmap is visible to map(), with
 *	     md->lock held, to mark writes still in flight in the new interval
 *	     (dirtylog_md_mark_locked())
 * @ctx: for @collect
 * @id: the new checkpoint's id
 *
 * Atomic on disk: one commit adds the table entry, freezes the old
 * interval and starts the new one with the in-flight writes in it.
 */
int dirtylog_md_checkpoint_create(struct dirtylog_md *md, const char *name,
				  dirtylog_collect_fn collect, void *ctx,
				  u64 *id)
{
	struct dirtylog_bitmap *nbm, *obm;
	struct dirtylog_atree oat;
	struct dirtylog_ckpt *ck;
	int r;

	mutex_lock(&md->lock);
	r = -EIO;
	if (md->failed)
		goto out;
	r = -EEXIST;
	if (dirtylog_find_ckpt(md, name) >= 0)
		goto out;
	if (md->nr_ckpts >= DIRTYLOG_MAX_CHECKPOINTS) {
		DMERR("cannot create checkpoint: the limit of %u is reached",
		      DIRTYLOG_MAX_CHECKPOINTS);
		r = -ENOSPC;
		goto out;
	}
	r = ensure_ckpt_capacity(md, md->nr_ckpts + 1);
	if (r)
		goto out;
	r = new_interval(md, &nbm, &oat);
	if (r)
		goto out;

	ck = &md->ckpts[md->nr_ckpts];
	memset(ck, 0, sizeof(*ck));
	strscpy(ck->name, name, sizeof(ck->name));
	ck->id = md->next_ckpt_id;
	ck->ctime_ns = ktime_get_real_ns();
	if (md->nr_ckpts)
		ck->root = atree_root(&oat);
	else
		atree_free_blocks(md, &oat);	/* nobody asks what came before */
	md->nr_ckpts++;
	md->next_ckpt_id++;
	md->table_dirty = true;

	obm = swap_active(md, nbm);
	r = collect ? collect(ctx, md) : 0;
	if (!r)
		r = dirtylog_md_commit_locked(md);
	if (r && !md->failed) {
		abort_transaction(md);
		atree_free(&oat);
		dirtylog_bitmap_free(obm);
		goto out;
	}
	if (!r)
		*id = ck->id;
	next_gen(md);
	update_latest(md);
	atree_free(&oat);
	dirtylog_bitmap_free(obm);
out:
	mutex_unlock(&md->lock);
	return r;
}

static int merge_into_active(struct dirtylog_walk *w, u64 page, u64 b)
{
	struct dirtylog_md *md = w->md;
	unsigned long *bits;
	int r;

	bits = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	if (!bits)
		return -ENOMEM;
	r = dirtylog_read_page_bits(md, b, bits, w->ctx);
	if (!r)
		r = pending_or_page(md, page, bits);
	kfree(bits);
	return r;
}

/*
 * Fold the interval that ends at checkpoint @i into its neighbour so that
 * every other checkpoint's answer stays: into the next frozen interval, or
 * into the active one when @i is the newest; the oldest one's is dropped.
 */
static int fold_interval(struct dirtylog_md *md, int i)
{
	struct dirtylog_ckpt *removed = &md->ckpts[i], *next = NULL;
	u64 merged, need;
	int r;

	if (i + 1 < md->nr_ckpts)
		next = &md->ckpts[i + 1];
	if (i == 0) {
		/* The interval before the oldest is never queried. */
		if (!next)
			return 0;
		r = dirtylog_tree_free(md, next->root);
		if (!r)
			next->root = 0;
		return r;
	}
	if (next) {
		/* New blocks are needed only where both trees have one. */
		r = dirtylog_tree_count(md, min(removed->root, next->root) ?
					removed->root : 0, &need);
		if (r)
			return r;
		if (need > dirtylog_nr_free_blocks(md))
			return -ENOSPC;
		r = dirtylog_merge_trees(md, removed->root, next->root,
					 md->atree.depth, &merged);
		if (!r)
			next->root = merged;
		return r;
	}
	/* Newest: its interval is active; fold the one before into it. */
	{
		struct dirtylog_walk w = { .md = md, .page_fn = merge_into_active };

		w.ctx = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
		if (!w.ctx)
			return -ENOMEM;
		r = dirtylog_walk_tree(&w, removed->root, md->atree.depth);
		kfree(w.ctx);
	}
	return r ? r : dirtylog_tree_free(md, removed->root);
}

/**
 * dirtylog_md_checkpoint_delete() - delete a checkpoint, merging intervals
 * @md: metadata
 * @name: checkpoint name
 * @id: 0, or the id the checkpoint must have (else -ENOENT)
 *
 * The interval after the checkpoint is merged into the one before it, so
 * every other checkpoint's answer is unchanged; deleting the oldest drops
 * the interval before it.  One atomic commit.
 */
int dirtylog_md_checkpoint_delete(struct dirtylog_md *md, const char *name, u64 id)
{
	int i, r;

	mutex_lock(&md->lock);
	r = -EIO;
	if (md->failed)
		goto out;
	i = dirtylog_find_ckpt(md, name);
	r = i;
	if (i < 0)
		goto out;
	r = -ENOENT;
	if (id && md->ckpts[i].id != id)
		goto out;
	r = fold_interval(md, i);
	if (r)
		goto fail;

	memmove(&md->ckpts[i], &md->ckpts[i + 1],
		(md->nr_ckpts - i - 1) * sizeof(*md->ckpts));
	md->nr_ckpts--;
	md->table_dirty = true;
	md->use_reserve = true;
	r = dirtylog_md_commit_locked(md);
	md->use_reserve = false;
	next_gen(md);
	update_latest(md);
	if (!r || md->failed)
		goto out;
fail:
	abort_transaction(md);
out:
	mutex_unlock(&md->lock);
	return r;
}

/**
 * dirtylog_md_reset() - forget every checkpoint and start a new chain
 * @md: metadata
 *
 * Gives the metadata a new instance uuid and clears the invalid state.
 */
int dirtylog_md_reset(struct dirtylog_md *md)
{
	struct dirtylog_bitmap *nbm, *obm;
	struct dirtylog_atree oat;
	u64 *otable;
	int r;

	mutex_lock(&md->lock);
	r = -EIO;
	if (md->failed)
		goto out;
	r = new_interval(md, &nbm, &oat);
	if (r)
		goto out;
	otable = md->table_blocks;

	dirtylog_sm_reset(md);
	md->table_blocks = NULL;
	md->nr_table_blocks = 0;
	md->nr_ckpts = 0;
	md->flags &= ~DIRTYLOG_SB_FLAG_INVALID;
	generate_random_uuid(md->uuid);
	md->table_dirty = true;
	obm = swap_active(md, nbm);
	md->use_reserve = true;
	r = dirtylog_md_commit_locked(md);
	md->use_reserve = false;
	if (r && !md->failed) {
		/* Only memory can be short here (all space was freed). */
		abort_transaction(md);
		kfree(otable);
		atree_free(&oat);
		dirtylog_bitmap_free(obm);
		goto out;
	}
	kfree(otable);
	next_gen(md);
	update_latest(md);
	atree_free(&oat);
	dirtylog_bitmap_free(obm);
out:
	mutex_unlock(&md->lock);
	return r;
}

/*
 * Mark [@from, @to) dirty in the active interval of a grow.  Pages wholly
 * inside the range are written at once from one all-ones buffer and
 * published into @bm, so marking costs no memory per page beyond the
 * in-memory page itself (the admin guide's formula), however large the
 * growth; only the two partial pages at the ends go through pending
 * copies.  Publishing before the commit is safe here: grow runs while the
 * device is suspended, and a failed grow throws @bm away.
 */
static int grow_mark(struct dirtylog_md *md, struct dirtylog_bitmap *bm,
		     u64 old_pages, u64 from, u64 to)
{
	/*
	 * Only pages new to the bitmap take the direct path: the old last
	 * page (even one whose first block is @from) is shared with the old
	 * bitmap and may have a block of its own.
	 */
	u64 fp = max(DIV_ROUND_UP_ULL(from, DIRTYLOG_BITS_PER_PAGE), old_pages);
	u64 lp = div64_u64(to, DIRTYLOG_BITS_PER_PAGE);
	unsigned long *ones, *spare = NULL;
	u64 p, nb, avail;
	int r;

	if (fp >= lp)
		return pending_or_range(md, from, to - from);
	r = 0;
	if (from < fp * DIRTYLOG_BITS_PER_PAGE)
		r = pending_or_range(md, from, fp * DIRTYLOG_BITS_PER_PAGE - from);
	if (!r && to > lp * DIRTYLOG_BITS_PER_PAGE)
		r = pending_or_range(md, lp * DIRTYLOG_BITS_PER_PAGE,
				     to - lp * DIRTYLOG_BITS_PER_PAGE);
	if (r)
		return r;
	avail = dirtylog_nr_free_blocks(md);
	avail -= min(avail, reserve_blocks(md));
	if (lp - fp > avail) {
		DMERR_LIMIT("metadata device full: %llu blocks needed to grow, %llu available",
			    lp - fp, avail);
		return -ENOSPC;
	}
	ones = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	r = -ENOMEM;
	if (!ones)
		goto out;
	memset(ones, 0xff, DIRTYLOG_PAGE_BITMAP_BYTES);
	r = 0;
	for (p = fp; p < lp && !r; p++) {
		spare = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
		if (!spare) {
			r = -ENOMEM;
			break;
		}
		r = dirtylog_alloc_block(md, &nb);
		if (!r)
			r = dirtylog_write_page_bits(md, nb, ones);
		if (!r) {
			dirtylog_free_block(md, md->atree.blk[0][p]);	/* 0: none */
			md->atree.blk[0][p] = nb;
			__set_bit(p / DIRTYLOG_NODE_ENTRIES, md->atree.dirty[1]);
			dirtylog_bitmap_publish(bm, p, ones, DIRTYLOG_ALL_GROUPS, &spare);
		}
		kfree(spare);
		cond_resched();
	}
out:
	kfree(ones);
	return r;
}

/*
 * The trees of a grow: the active tree (new, in md->atree) takes over the
 * pages of the old one (@oat) and gets every node above them rewritten;
 * each frozen tree keeps its shape under a taller root.
 */
static int grow_trees(struct dirtylog_md *md, struct dirtylog_atree *oat)
{
	u32 new_depth = md->atree.depth, i, l;
	u64 p, nb, root;
	int r = 0;

	for (p = 0; p < oat->nr[0]; p++) {
		md->atree.blk[0][p] = oat->blk[0][p];
		if (oat->blk[0][p])
			__set_bit(p / DIRTYLOG_NODE_ENTRIES, md->atree.dirty[1]);
	}
	for (l = 1; l <= oat->depth; l++)
		for (p = 0; p < oat->nr[l]; p++)
			dirtylog_free_block(md, oat->blk[l][p]);

	for (i = 0; i < md->nr_ckpts && !r; i++) {
		for (l = oat->depth + 1; l <= new_depth && md->ckpts[i].root; l++) {
			root = md->ckpts[i].root;
			r = dirtylog_alloc_block(md, &nb);
			if (!r)
				r = dirtylog_write_node(md, nb, l, &root, 1);
			if (r)
				break;
			md->ckpts[i].root = nb;
		}
	}
	return r;
}

/**
 * dirtylog_md_grow() - extend every bitmap to a larger data device
 * @md: metadata
 * @data_sectors: new length of the target, larger than the recorded one
 *
 * Blocks beyond the old end (and the old partial last block) are marked
 * dirty in the active interval: their content is new to every backup.
 * One atomic commit; on failure nothing changes.
 */
int dirtylog_md_grow(struct dirtylog_md *md, u64 data_sectors)
{
	struct dirtylog_bitmap *nbm = NULL, *obm;
	struct dirtylog_atree oat;
	u64 old_sectors, old_blocks, first;
	int r;

	mutex_lock(&md->lock);
	r = -EIO;
	if (md->failed)
		goto out;
	r = 0;
	if (data_sectors <= md->data_sectors)
		goto out;
	old_sectors = md->data_sectors;
	old_blocks = md->nr_blocks;
	obm = dirtylog_active_locked(md);
	oat = md->atree;

	r = -ENOMEM;
	set_geometry(md, data_sectors);
	nbm = dirtylog_bitmap_grow(obm, md->nr_blocks);
	if (!nbm)
		goto undo_geometry;
	if (atree_alloc(&md->atree, md->nr_pages)) {
		md->atree = oat;
		goto undo_geometry;
	}
	r = grow_trees(md, &oat);
	md->table_dirty = true;
	rcu_assign_pointer(md->active, nbm);
	synchronize_rcu();
	first = old_sectors >> md->block_shift;	/* the old partial block too */
	if (!r)
		r = grow_mark(md, nbm, obm->nr_pages, first, md->nr_blocks);
	if (!r)
		r = dirtylog_md_commit_locked(md);
	if (!r) {
		atree_free(&oat);
		dirtylog_bitmap_free_shell(obm);
		next_gen(md);
		DMINFO("grew from %llu to %llu blocks", old_blocks, md->nr_blocks);
		goto out;
	}
	if (md->failed) {
		/* Unusable until reloaded; at least free what is not referenced. */
		atree_free(&oat);
		dirtylog_bitmap_free_shell(obm);
		goto out;
	}

	DMERR("cannot grow the metadata (%d)", r);
	/* Frees nbm (and the pages it shares with obm) and the new atree. */
	abort_transaction(md);
	atree_free(&oat);
	dirtylog_bitmap_free_shell(obm);
	goto out;
undo_geometry:
	dirtylog_bitmap_free_grown(nbm, obm->nr_pages);
	set_geometry(md, old_sectors);
out:
	mutex_unlock(&md->lock);
	return r;
}

/**
 * dirtylog_md_set_invalid() - record that tracking has gaps
 * @md: metadata
 *
 * Best effort: the flag is kept in memory and written to the superblock if
 * the metadata device still takes writes.
 */
int dirtylog_md_set_invalid(struct dirtylog_md *md)
{
	int r = 0;

	mutex_lock(&md->lock);
	if (!(md->flags & DIRTYLOG_SB_FLAG_INVALID)) {
		WRITE_ONCE(md->flags, md->flags | DIRTYLOG_SB_FLAG_INVALID);
		dirtylog_md_discard_pending_locked(md);
		dirtylog_sm_rollback(md);
		if (!md->failed) {
			md->generation++;
			r = sync_superblock(md);
			if (r)
				md->failed = true;
		}
	}
	mutex_unlock(&md->lock);
	return r;
}

int dirtylog_md_list(struct dirtylog_md *md,
		     int (*fn)(void *ctx, const struct dirtylog_ckpt_info *ci),
		     void *ctx)
{
	struct dirtylog_ckpt_info ci;
	u32 i;
	int r = 0;

	mutex_lock(&md->lock);
	/* Like every query: ESTALE while tracking is invalid. */
	if (md->flags & DIRTYLOG_SB_FLAG_INVALID)
		r = -ESTALE;
	else if (md->failed)
		r = -EIO;
	for (i = 0; i < md->nr_ckpts && !r; i++) {
		memcpy(ci.name, md->ckpts[i].name, sizeof(ci.name));
		ci.id = md->ckpts[i].id;
		ci.ctime_ns = md->ckpts[i].ctime_ns;
		r = fn(ctx, &ci);
	}
	mutex_unlock(&md->lock);
	return r;
}
