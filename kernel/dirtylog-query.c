// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog dirty-map queries: the union of the frozen intervals since a
 * checkpoint (up to another one, or with the active interval), walked one
 * bitmap page at a time and emitted as extents or bitmap chunks.
 *
 * Layering: above the state (dirtylog-metadata.c: checkpoint lookup, the
 * active interval) and the trees (dirtylog-tree.c); nothing below calls
 * up into it.
 */
#include <linux/bitmap.h>
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <net/netlink.h>

#include <linux/dm-dirtylog.h>

#include "compat.h"
#include "dirtylog-md-internal.h"

#define DM_MSG_PREFIX "dirtylog"

/*
 * Bytes a dump spends on one extent (nest header, start, count) and on one
 * bitmap chunk besides its data (nest header, start, data header); AUTO
 * sends a chunk as a bitmap when its extents would cost more.
 */
#define DIRTYLOG_EXTENT_COST	(NLA_HDRLEN + 2 * nla_total_size_64bit(sizeof(u64)))
#define DIRTYLOG_CHUNK_COST	(2 * NLA_HDRLEN + nla_total_size_64bit(sizeof(u64)))

struct extent_out {
	const struct dirtylog_query *q;
	u64 start, count;	/* extent not sent yet */
	int stop;
};

static void out_flush(struct extent_out *o)
{
	if (o->count && !o->stop)
		o->stop = o->q->extent(o->q->ctx, o->start, o->count);
	o->count = 0;
}

/* Extents of @nbits bits at block @first; bits before q->from are clear. */
static void out_bits(struct extent_out *o, u64 first, const unsigned long *bits,
		     u32 nbits)
{
	unsigned long i = 0, e;

	while (!o->stop) {
		i = find_next_bit(bits, nbits, i);
		if (i >= nbits)
			break;
		e = find_next_zero_bit(bits, nbits, i);
		if (o->count && o->start + o->count == first + i) {
			o->count += e - i;
		} else {
			out_flush(o);
			o->start = first + i;
			o->count = e - i;
		}
		i = e;
	}
}

/* Would the extents of this chunk take more room than its bitmap? */
static bool chunk_is_dense(const unsigned long *bits, u32 nbits)
{
	u32 nlongs = BITS_TO_LONGS(nbits), i;
	u32 limit = (DIRTYLOG_CHUNK_COST + DIV_ROUND_UP(nbits, 64) * sizeof(u64)) /
		    DIRTYLOG_EXTENT_COST;
	unsigned long w, carry = 0;
	u32 runs = 0;

	for (i = 0; i < nlongs; i++) {
		w = bits[i];
		if (i == nlongs - 1 && nbits % BITS_PER_LONG)
			w &= BITMAP_LAST_WORD_MASK(nbits);
		/* A run starts at every set bit whose lower neighbour is clear. */
		runs += hweight_long(w & ~((w << 1) | carry));
		carry = w >> (BITS_PER_LONG - 1);
		if (runs > limit)
			return true;
	}
	return false;
}

/*
 * One page of the answer: @nbits bits at block @first (page aligned).  A
 * chunk that q->from cuts is copied to @tmp and its bits before from
 * cleared there.
 */
static void out_page(struct extent_out *o, u64 first, const unsigned long *bits,
		     u32 nbits, unsigned long *tmp)
{
	const struct dirtylog_query *q = o->q;
	const unsigned long *cb;
	u32 c, n;
	bool raw;

	for (c = 0; c < nbits && !o->stop; c += DM_DIRTYLOG_BM_CHUNK_BITS) {
		cb = bits + c / BITS_PER_LONG;
		n = min_t(u32, nbits - c, DM_DIRTYLOG_BM_CHUNK_BITS);
		if (first + c + n <= q->from)
			continue;
		if (first + c < q->from) {
			bitmap_copy(tmp, cb, n);
			bitmap_clear(tmp, 0, q->from - first - c);
			cb = tmp;
		}
		/*
		 * A chunk that from cuts goes out as extents: a raw chunk
		 * starts at its start, before the items already sent.  (In
		 * BITMAP format from is always a chunk boundary but for the
		 * first message.)
		 */
		raw = first + c >= q->from &&
		      (q->format == DM_DIRTYLOG_DUMP_BITMAP ||
		       (q->format == DM_DIRTYLOG_DUMP_AUTO && chunk_is_dense(cb, n)));
		if (!raw) {
			out_bits(o, first + c, cb, n);
			continue;
		}
		out_flush(o);
		if (!o->stop && !bitmap_empty(cb, n))
			o->stop = q->chunk(q->ctx, first + c, cb, n);
	}
}

/*
 * The bits of one page of the answer.  With one source (the usual case:
 * one interval) they are read where they lie, a cached metadata block
 * (held in @buf) or the in-memory page; a second source folds both
 * into @acc.
 */
struct page_src {
	const unsigned long *bits;	/* NULL: no source yet */
	struct dm_buffer *buf;		/* holds bits, or NULL */
	unsigned long *acc;
};

static void src_release(struct page_src *ps)
{
	if (ps->buf)
		dm_bufio_release(ps->buf);
	ps->buf = NULL;
	ps->bits = NULL;
}

/* Add @bits (kept valid by @buf, or NULL when they need no hold). */
static void src_add(struct page_src *ps, const unsigned long *bits,
		    struct dm_buffer *buf)
{
	if (!ps->bits) {
		ps->bits = bits;
		ps->buf = buf;
		return;
	}
	if (ps->bits != ps->acc) {
		memcpy(ps->acc, ps->bits, DIRTYLOG_PAGE_BITMAP_BYTES);
		if (ps->buf)
			dm_bufio_release(ps->buf);
		ps->buf = NULL;
		ps->bits = ps->acc;
	}
	bitmap_or(ps->acc, ps->acc, bits, DIRTYLOG_BITS_PER_PAGE);
	if (buf)
		dm_bufio_release(buf);
}

static int src_add_block(struct dirtylog_md *md, struct page_src *ps, u64 b)
{
	const struct dirtylog_disk_page *pg;
	struct dm_buffer *buf;

	pg = dirtylog_get_block(md, b, DIRTYLOG_PAGE_MAGIC, &buf);
	if (IS_ERR(pg))
		return PTR_ERR(pg);
	/* The bits start 16 bytes into a page-aligned buffer. */
	src_add(ps, (const unsigned long *)pg->bits, buf);
	return 0;
}

/* What a query reads, as of one moment (taken under md->lock). */
struct query_snap {
	u64 *roots;		/* frozen intervals since..until */
	u32 nr_roots, cap;
	u32 depth;
	u64 nr_pages, nr_blocks;
	u64 gen;		/* md->ckpt_gen when taken */
	u64 since_id;		/* the checkpoint the names meant at the first look */
};

/* Index of the checkpoint with id @id, or -ENOENT (deleted meanwhile). */
static int find_ckpt_id(struct dirtylog_md *md, u64 id)
{
	u32 i;

	for (i = 0; i < md->nr_ckpts; i++)
		if (md->ckpts[i].id == id)
			return i;
	return -ENOENT;
}

/*
 * Take (or renew) @qs for @q.  A renewal looks the checkpoint up by the id
 * the first look found, never by name again: the name may since have been
 * deleted and made anew (another checkpoint), and a dm message's
 * arguments share their buffer with its output, which the walk overwrites.
 * Context: md->lock held.
 */
static int query_snap(struct dirtylog_md *md, const struct dirtylog_query *q,
		      struct query_snap *qs)
{
	int s, u, i;

	lockdep_assert_held(&md->lock);
	if (md->flags & DIRTYLOG_SB_FLAG_INVALID) {
		DMERR_LIMIT("checkpoints untrustworthy after a metadata error: full backup needed");
		return -ESTALE;
	}
	if (md->failed)
		return -EIO;
	s = qs->since_id ? find_ckpt_id(md, qs->since_id) :
			   dirtylog_find_ckpt(md, q->since);
	if (s < 0)
		return s;
	qs->since_id = md->ckpts[s].id;
	u = md->nr_ckpts;
	if (q->until) {
		u = dirtylog_find_ckpt(md, q->until);
		if (u < 0)
			return u;
		if (u <= s)
			return -EINVAL;
	}
	/* Intervals s+1 .. u-1 end at checkpoints s+1 .. u-1; u is its own. */
	qs->nr_roots = 0;
	for (i = s + 1; i <= u && i < md->nr_ckpts; i++)
		qs->roots[qs->nr_roots++] = md->ckpts[i].root;
	qs->depth = md->atree.depth;
	qs->nr_pages = md->nr_pages;
	qs->nr_blocks = md->nr_blocks;
	qs->gen = md->ckpt_gen;
	return 0;
}

/**
 * dirtylog_md_query() - the dirty map since a checkpoint
 * @md: metadata
 * @q: the question (see struct dirtylog_query)
 *
 * Emits maximal extents (split only where a bitmap chunk starts) and bitmap
 * chunks in ascending order.  Walks one bitmap page at a time with fixed
 * buffers.  Frozen trees are read without md->lock: the query pins them
 * (their blocks are not reused until it ends), so the worker, and every
 * write waiting for a mark, waits for a query at most while it copies one
 * in-memory page.  Each page is answered as of one moment; a checkpoint
 * operation during the walk is picked up at the next page (an "up to now"
 * answer then also holds what was written meanwhile; a netlink dump is
 * flagged interrupted by the generation).
 *
 * Return: 0, -ENOENT for an unknown checkpoint, -EINVAL when @until is not
 * newer than @since, -ESTALE when tracking is invalid, -EIO/-EILSEQ on
 * metadata read errors.
 */
int dirtylog_md_query(struct dirtylog_md *md, const struct dirtylog_query *q)
{
	struct extent_out o = { .q = q };
	struct page_src ps = { };
	struct query_snap qs = { };
	unsigned long *acc = NULL, *tmp = NULL, *act = NULL, *page;
	struct dirtylog_bitmap *bm;
	bool use_active = !q->until, have_act;
	u64 p, next, b, nxt;
	u32 i, epoch = 0;
	unsigned int noio;
	int r;

	if (q->format != DM_DIRTYLOG_DUMP_EXTENTS && !q->chunk)
		return -EINVAL;
	/* NOIO: the worker waits for md->lock, and reclaim may wait for it. */
	acc = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	tmp = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	act = kmalloc(DIRTYLOG_PAGE_BITMAP_BYTES, GFP_NOIO);
	qs.cap = DIRTYLOG_MAX_CHECKPOINTS;
	/*
	 * 32 KiB: NOIO by scope, not by flags.  Before 5.17 kvmalloc() with
	 * flags other than GFP_KERNEL never falls back to vmalloc (5.15 would
	 * need an order-3 page, or fail); the scope keeps reclaim off I/O on
	 * every kernel.
	 */
	noio = memalloc_noio_save();
	qs.roots = kvmalloc_array(qs.cap, sizeof(u64), GFP_KERNEL);
	memalloc_noio_restore(noio);
	r = -ENOMEM;
	if (!acc || !tmp || !act || !qs.roots)
		goto out_free;

	mutex_lock(&md->lock);
	r = query_snap(md, q, &qs);
	if (!r)
		epoch = dirtylog_query_pin_locked(md);
	mutex_unlock(&md->lock);
	if (r)
		goto out_free;

	ps.acc = acc;
	for (p = div64_u64(q->from, DIRTYLOG_BITS_PER_PAGE);
	     p < qs.nr_pages && !o.stop && !r; p = next) {
		next = qs.nr_pages;
		have_act = false;
		if (use_active || READ_ONCE(md->ckpt_gen) != qs.gen) {
			mutex_lock(&md->lock);
			/*
			 * A checkpoint operation froze or merged intervals:
			 * look again (what the old snapshot reads stays pinned).
			 * A closed interval needs no new look: its trees do
			 * not change, only merge into pinned copies.
			 */
			if (md->ckpt_gen != qs.gen && use_active)
				r = query_snap(md, q, &qs);
			else if (md->flags & DIRTYLOG_SB_FLAG_INVALID)
				r = -ESTALE;
			if (!r && use_active && p < qs.nr_pages) {
				bm = dirtylog_active_locked(md);
				page = p < bm->nr_pages ?
				       rcu_dereference_protected(bm->pages[p],
								 lockdep_is_held(&md->lock)) :
				       NULL;
				if (page) {
					memcpy(act, page, DIRTYLOG_PAGE_BITMAP_BYTES);
					have_act = true;
				}
			}
			if (!use_active)
				qs.gen = md->ckpt_gen;
			mutex_unlock(&md->lock);
			if (r)
				break;
			if (p >= qs.nr_pages)
				break;
			next = qs.nr_pages;
		}
		for (i = 0; i < qs.nr_roots; i++) {
			r = dirtylog_tree_lookup(md, qs.roots[i], qs.depth, qs.nr_pages,
						 p, &b, &nxt);
			if (!r && b)
				r = src_add_block(md, &ps, b);
			else if (!r)
				next = min(next, nxt);
			if (r)
				break;
		}
		if (!r && use_active) {
			if (have_act)
				src_add(&ps, act, NULL);
			else
				next = min(next, p + 1);
		}
		if (!r && ps.bits) {
			out_page(&o, p * DIRTYLOG_BITS_PER_PAGE, ps.bits,
				 min_t(u64, DIRTYLOG_BITS_PER_PAGE,
				       qs.nr_blocks - p * DIRTYLOG_BITS_PER_PAGE), tmp);
			next = p + 1;
		}
		src_release(&ps);
		next = max(next, p + 1);
		cond_resched();
	}
	if (!r)
		out_flush(&o);
	dirtylog_query_unpin(md, epoch);
out_free:
	kvfree(qs.roots);
	kfree(act);
	kfree(tmp);
	kfree(acc);
	return r;
}
