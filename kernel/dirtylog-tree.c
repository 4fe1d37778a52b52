// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog metadata: block I/O with checksums, the per-interval bitmap
 * trees on the metadata device (walk, lookup, merge) and dirty-map queries.
 * See dirtylog-metadata.c for the layout and the commit protocol.
 *
 * Locking: every function here requires md->lock, except the block
 * checksum helpers, which touch no shared state.
 */
#include <linux/bitmap.h>
#include <linux/crc32c.h>
#include <linux/dm-bufio.h>
#include <linux/device-mapper.h>
#include <linux/math64.h>
#include <linux/slab.h>

#include "dirtylog-md-internal.h"

#define DM_MSG_PREFIX "dirtylog"

/* ---------------------------------------------------------------------- */
/* Block checksums and I/O */

u32 dirtylog_block_csum(const void *data)
{
	return crc32c(~0U, (const u8 *)data + 4, DIRTYLOG_META_BLOCK_SIZE - 4) ^
	       DIRTYLOG_CSUM_XOR;
}

static void seal_block(void *data, u32 magic, u64 blocknr)
{
	struct dirtylog_disk_header *h = data;

	h->magic = cpu_to_le32(magic);
	h->blocknr = cpu_to_le64(blocknr);
	h->csum = cpu_to_le32(dirtylog_block_csum(data));
}

bool dirtylog_block_is_zero(const void *data)
{
	return !memchr_inv(data, 0, DIRTYLOG_META_BLOCK_SIZE);
}

/*
 * Read block @b into @dst (a full 4 KiB buffer) and check its header.
 * Returns 0, -EIO on a read error or -EILSEQ on a bad block.
 */
int dirtylog_read_block(struct dirtylog_md *md, u64 b, u32 magic, void *dst)
{
	struct dirtylog_disk_header *h;
	struct dm_buffer *buf;
	void *data;

	if (b == 0 || b >= md->nr_meta_blocks) {
		DMERR_LIMIT("metadata block %llu out of range", b);
		return -EILSEQ;
	}
	data = dm_bufio_read(md->bufio, b, &buf);
	if (IS_ERR(data)) {
		DMERR_LIMIT("metadata read error %ld at block %llu",
			    PTR_ERR(data), b);
		return -EIO;
	}
	memcpy(dst, data, DIRTYLOG_META_BLOCK_SIZE);
	dm_bufio_release(buf);

	h = dst;
	if (le32_to_cpu(h->magic) != magic || le64_to_cpu(h->blocknr) != b ||
	    le32_to_cpu(h->csum) != dirtylog_block_csum(dst)) {
		DMERR_LIMIT("metadata block %llu is corrupt (bad magic, location or checksum)",
			    b);
		return -EILSEQ;
	}
	return 0;
}

int dirtylog_write_block(struct dirtylog_md *md, u64 b, u32 magic,
			 const void *src)
{
	struct dm_buffer *buf;
	void *data;

	data = dm_bufio_new(md->bufio, b, &buf);
	if (IS_ERR(data))
		return PTR_ERR(data);
	memcpy(data, src, DIRTYLOG_META_BLOCK_SIZE);
	seal_block(data, magic, b);
	dm_bufio_mark_buffer_dirty(buf);
	dm_bufio_release(buf);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Frozen trees on disk */

static int walk_node(struct dirtylog_walk *w, u64 b, u32 level, u64 index,
		     u32 depth)
{
	struct dirtylog_md *md = w->md;
	struct dirtylog_disk_node *node;
	u64 span, first, child;
	int r, j;

	if (level == 0) {
		if (index >= md->nr_pages) {
			DMERR("metadata bitmap page index %llu beyond the device", index);
			return -EILSEQ;
		}
		return w->page_fn ? w->page_fn(w, index, b) : 0;
	}
	node = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	if (!node)
		return -ENOMEM;
	r = dirtylog_read_block(md, b, DIRTYLOG_NODE_MAGIC, node);
	if (r)
		goto out;
	if (le32_to_cpu(node->level) != level) {
		DMERR("metadata node %llu has level %u, expected %u", b,
		      le32_to_cpu(node->level), level);
		r = -EILSEQ;
		goto out;
	}
	if (w->node_fn) {
		r = w->node_fn(w, level, index, b);
		if (r)
			goto out;
	}
	span = dirtylog_span_of_entry(level);
	first = index * DIRTYLOG_NODE_ENTRIES;
	for (j = 0; j < DIRTYLOG_NODE_ENTRIES; j++) {
		child = le64_to_cpu(node->entries[j]);
		if (!child)
			continue;
		if ((first + j) * span >= md->nr_pages) {
			DMERR("metadata node %llu points beyond the device", b);
			r = -EILSEQ;
			goto out;
		}
		r = walk_node(w, child, level - 1, first + j, depth);
		if (r)
			goto out;
	}
out:
	kfree(node);
	return r;
}

int dirtylog_walk_tree(struct dirtylog_walk *w, u64 root, u32 depth)
{
	if (!root)
		return 0;
	return walk_node(w, root, depth, 0, depth);
}

int dirtylog_claim_page_fn(struct dirtylog_walk *w, u64 page, u64 b)
{
	return dirtylog_claim_block(w->md, b);
}

int dirtylog_claim_node_fn(struct dirtylog_walk *w, u32 level, u64 index, u64 b)
{
	return dirtylog_claim_block(w->md, b);
}

static int free_page_fn(struct dirtylog_walk *w, u64 page, u64 b)
{
	dirtylog_free_block(w->md, b);
	return 0;
}

int dirtylog_free_node_fn(struct dirtylog_walk *w, u32 level, u64 index, u64 b)
{
	dirtylog_free_block(w->md, b);
	return 0;
}

static int count_fn(struct dirtylog_walk *w, u64 page, u64 b)
{
	(*(u64 *)w->ctx)++;
	return 0;
}

static int count_node_fn(struct dirtylog_walk *w, u32 level, u64 index, u64 b)
{
	(*(u64 *)w->ctx)++;
	return 0;
}

int dirtylog_tree_free(struct dirtylog_md *md, u64 root)
{
	struct dirtylog_walk w = { .md = md, .page_fn = free_page_fn,
			       .node_fn = dirtylog_free_node_fn };

	return dirtylog_walk_tree(&w, root, md->atree.depth);
}

int dirtylog_tree_count(struct dirtylog_md *md, u64 root, u64 *n)
{
	struct dirtylog_walk w = { .md = md, .page_fn = count_fn,
			       .node_fn = count_node_fn, .ctx = n };

	*n = 0;
	return dirtylog_walk_tree(&w, root, md->atree.depth);
}

/*
 * Find the block of bitmap page @page in the tree at @root.  Returns 0 with
 * *@b == 0 when the page is all zero, in which case *@next is the first page
 * after it that may be non-zero.
 */
int dirtylog_tree_lookup(struct dirtylog_md *md, u64 root, u64 page, u64 *b,
			 u64 *next)
{
	struct dirtylog_disk_node *node;
	u32 level = md->atree.depth;
	u64 cur = root, span, idx;
	int r = 0;

	*b = 0;
	if (!cur) {
		*next = md->nr_pages;
		return 0;
	}
	node = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	if (!node)
		return -ENOMEM;
	while (level > 0) {
		r = dirtylog_read_block(md, cur, DIRTYLOG_NODE_MAGIC, node);
		if (r)
			break;
		if (le32_to_cpu(node->level) != level) {
			DMERR_LIMIT("metadata node %llu has the wrong level", cur);
			r = -EILSEQ;
			break;
		}
		span = dirtylog_span_of_entry(level);
		idx = div64_u64(page, span) % DIRTYLOG_NODE_ENTRIES;
		cur = le64_to_cpu(node->entries[idx]);
		if (!cur) {
			*next = (div64_u64(page, span) + 1) * span;
			break;
		}
		level--;
	}
	if (!r && level == 0)
		*b = cur;
	kfree(node);
	return r;
}

int dirtylog_read_page_bits(struct dirtylog_md *md, u64 b, unsigned long *bits,
			    void *scratch)
{
	struct dirtylog_disk_page *pg = scratch;
	int r;

	r = dirtylog_read_block(md, b, DIRTYLOG_PAGE_MAGIC, pg);
	if (!r)
		memcpy(bits, pg->bits, DIRTYLOG_PAGE_BITMAP_BYTES);
	return r;
}

int dirtylog_write_page_bits(struct dirtylog_md *md, u64 b,
			     const unsigned long *bits, void *scratch)
{
	struct dirtylog_disk_page *pg = scratch;

	memset(pg, 0, sizeof(*pg));
	memcpy(pg->bits, bits, DIRTYLOG_PAGE_BITMAP_BYTES);
	return dirtylog_write_block(md, b, DIRTYLOG_PAGE_MAGIC, pg);
}

int dirtylog_write_node(struct dirtylog_md *md, u64 b, u32 level,
			const u64 *entries, u32 n)
{
	struct dirtylog_disk_node *node;
	u32 j;
	int r;

	node = kzalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO | __GFP_NOFAIL);
	node->level = cpu_to_le32(level);
	for (j = 0; j < n; j++)
		node->entries[j] = cpu_to_le64(entries[j]);
	r = dirtylog_write_block(md, b, DIRTYLOG_NODE_MAGIC, node);
	kfree(node);
	return r;
}

/*
 * Union of two frozen trees, written to new blocks; both inputs are freed
 * (in the state being built).  Pages only one tree has move over as they are.
 */
int dirtylog_merge_trees(struct dirtylog_md *md, u64 a, u64 b, u32 level,
			 u64 *out)
{
	struct dirtylog_disk_node *na = NULL, *nb = NULL;
	unsigned long *ba = NULL, *bb = NULL;
	u64 *ent = NULL, nblk;
	void *scratch = NULL;
	int r, j;

	if (!a || !b) {
		*out = a ? a : b;
		return 0;
	}
	r = -ENOMEM;
	scratch = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	if (!scratch)
		goto out;
	if (level == 0) {
		ba = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
		bb = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
		if (!ba || !bb)
			goto out;
		r = dirtylog_read_page_bits(md, a, ba, scratch);
		if (!r)
			r = dirtylog_read_page_bits(md, b, bb, scratch);
		if (r)
			goto out;
		bitmap_or(ba, ba, bb, DIRTYLOG_BITS_PER_PAGE);
		r = dirtylog_alloc_block(md, &nblk);
		if (!r)
			r = dirtylog_write_page_bits(md, nblk, ba, scratch);
		goto done;
	}
	na = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	nb = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	ent = kcalloc(DIRTYLOG_NODE_ENTRIES, sizeof(u64), GFP_NOIO);
	if (!na || !nb || !ent)
		goto out;
	r = dirtylog_read_block(md, a, DIRTYLOG_NODE_MAGIC, na);
	if (!r)
		r = dirtylog_read_block(md, b, DIRTYLOG_NODE_MAGIC, nb);
	if (r)
		goto out;
	if (le32_to_cpu(na->level) != level || le32_to_cpu(nb->level) != level) {
		DMERR("metadata node level mismatch while merging");
		r = -EILSEQ;
		goto out;
	}
	for (j = 0; j < DIRTYLOG_NODE_ENTRIES; j++) {
		r = dirtylog_merge_trees(md, le64_to_cpu(na->entries[j]),
					 le64_to_cpu(nb->entries[j]), level - 1,
					 &ent[j]);
		if (r)
			goto out;
	}
	r = dirtylog_alloc_block(md, &nblk);
	if (!r)
		r = dirtylog_write_node(md, nblk, level, ent, DIRTYLOG_NODE_ENTRIES);
done:
	if (!r) {
		dirtylog_free_block(md, a);
		dirtylog_free_block(md, b);
		*out = nblk;
	}
out:
	kfree(ent);
	kfree(nb);
	kfree(na);
	kfree(bb);
	kfree(ba);
	kfree(scratch);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Queries */

struct extent_out {
	dirtylog_extent_fn emit;
	void *ctx;
	u64 from;
	u64 start, count;
	int stop;
};

static void out_bits(struct extent_out *o, u64 first, const unsigned long *bits,
		     u64 nbits)
{
	unsigned long i = 0, e;

	while (!o->stop) {
		i = find_next_bit(bits, nbits, i);
		if (i >= nbits)
			break;
		e = find_next_zero_bit(bits, nbits, i);
		if (first + e <= o->from) {
			i = e;
			continue;
		}
		if (first + i < o->from)
			i = o->from - first;
		if (o->count && o->start + o->count == first + i) {
			o->count += e - i;
		} else {
			if (o->count)
				o->stop = o->emit(o->ctx, o->start, o->count);
			o->start = first + i;
			o->count = e - i;
		}
		i = e;
	}
}

/**
 * dirtylog_md_query() - dirty extents since checkpoint @since
 * @md: metadata
 * @since: checkpoint name
 * @until: NULL for "up to now", else a newer checkpoint
 * @from: first block of interest (extents are clipped to start there), so
 *	  a caller can resume an interrupted listing
 * @emit: called for each extent; returns non-zero to stop
 * @ctx: for @emit
 *
 * Emits maximal extents in ascending order.  Holds md->lock, so the answer
 * is one point in time; never waits for the worker.
 *
 * Return: 0, -ENOENT for an unknown checkpoint, -EINVAL when @until is not
 * newer than @since, -ESTALE when tracking is invalid, -EIO/-EILSEQ on
 * metadata read errors.
 */
int dirtylog_md_query(struct dirtylog_md *md, const char *since,
		      const char *until, u64 from, dirtylog_extent_fn emit,
		      void *ctx)
{
	struct extent_out o = { .emit = emit, .ctx = ctx, .from = from };
	unsigned long *acc = NULL, *tmp = NULL;
	struct dirtylog_bitmap *bm;
	void *scratch = NULL;
	int s, u, i, r;
	u64 p, next, b, nxt;
	bool use_active;

	mutex_lock(&md->lock);
	r = -ESTALE;
	if (md->flags & DIRTYLOG_SB_FLAG_INVALID) {
		DMERR_LIMIT("checkpoints untrustworthy after a metadata error: full backup needed");
		goto out;
	}
	r = -EIO;
	if (md->failed)
		goto out;
	s = dirtylog_find_ckpt(md, since);
	r = s;
	if (s < 0)
		goto out;
	u = md->nr_ckpts;
	if (until) {
		u = dirtylog_find_ckpt(md, until);
		r = u;
		if (u < 0)
			goto out;
		r = -EINVAL;
		if (u <= s)
			goto out;
	}
	use_active = !until;
	r = -ENOMEM;
	/* NOIO: the worker waits for md->lock, and reclaim may wait for it. */
	acc = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	tmp = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	scratch = kmalloc(DIRTYLOG_META_BLOCK_SIZE, GFP_NOIO);
	if (!acc || !tmp || !scratch)
		goto out;
	bm = dirtylog_active_locked(md);

	r = 0;
	/* Intervals s+1 .. u-1 end at checkpoints s+1 .. u-1; u is its own. */
	for (p = div64_u64(from, DIRTYLOG_BITS_PER_PAGE); p < md->nr_pages && !o.stop && !r;
	     p = next) {
		bool any = false;

		next = md->nr_pages;
		memset(acc, 0, DIRTYLOG_PAGE_BITMAP_BYTES);
		for (i = s + 1; i <= u && i < md->nr_ckpts; i++) {
			r = dirtylog_tree_lookup(md, md->ckpts[i].root, p, &b, &nxt);
			if (r)
				break;
			if (b) {
				r = dirtylog_read_page_bits(md, b, tmp, scratch);
				if (r)
					break;
				bitmap_or(acc, acc, tmp, DIRTYLOG_BITS_PER_PAGE);
				any = true;
			} else {
				next = min(next, nxt);
			}
		}
		if (r)
			break;
		if (use_active) {
			if (rcu_access_pointer(bm->pages[p])) {
				dirtylog_bitmap_copy_page(bm, p, tmp);
				bitmap_or(acc, acc, tmp, DIRTYLOG_BITS_PER_PAGE);
				any = true;
			} else {
				next = min(next, p + 1);
			}
		}
		if (any) {
			out_bits(&o, p * DIRTYLOG_BITS_PER_PAGE, acc,
				 min_t(u64, DIRTYLOG_BITS_PER_PAGE,
				       md->nr_blocks - p * DIRTYLOG_BITS_PER_PAGE));
			next = p + 1;
		}
		next = max(next, p + 1);
	}
	if (!r && !o.stop && o.count)
		o.stop = emit(ctx, o.start, o.count);
out:
	kfree(scratch);
	kfree(tmp);
	kfree(acc);
	mutex_unlock(&md->lock);
	return r;
}

