// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog metadata: block I/O with checksums and the per-interval
 * bitmap trees on the metadata device (walk, lookup, merge).  See
 * dirtylog-metadata.c for the layout and the commit protocol.
 *
 * Locking: every function here requires md->lock, except the block
 * checksum helpers, which touch no shared state, and the block reads and
 * lookups a query makes of trees it pinned (dirtylog-query.c).
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

/*
 * Checksum updates from the words that change (a page rewritten in place,
 * dirtylog_update_page_words()).  CRC32C without its initial value is
 * linear: for blocks of one length, csum(A) ^ csum(B) is the raw CRC of
 * A ^ B, which is zero but for the changed words.  A 32-bit value here is
 * a polynomial modulo the CRC32C polynomial in the CRC's reflected order
 * (bit 31 the coefficient of x^0, bit 0 that of x^31); a zero byte fed to
 * the CRC multiplies its state by x^8.  So a word at byte offset o whose
 * bits change by d (low half lo, high half hi, little-endian) changes the
 * checksum by lo * x^(64 + 8t) + hi * x^(32 + 8t), t the bytes after it.
 */
#define DIRTYLOG_CRC32C_POLY_REV	0x82f63b78U	/* x^32 mod P */

/* x^(32 k) mod P, for the bytes after any word of a page and the word. */
static u32 dirtylog_xpow32[DIRTYLOG_PAGE_BITMAP_BYTES / 4 + 1] __read_mostly;
static bool dirtylog_csum_delta_ok __read_mostly;

static u32 gf_mul(u32 a, u32 b)
{
	u32 p = 0;

	for (; a; a <<= 1) {
		if (a & 0x80000000U)
			p ^= b;
		b = (b >> 1) ^ (b & 1 ? DIRTYLOG_CRC32C_POLY_REV : 0);
	}
	return p;
}

/* How the checksum of a page changes when its long @w changes by @d. */
static u32 page_csum_delta(u32 w, unsigned long d)
{
	/* The bytes after the word, in 32-bit steps. */
	u32 k = (DIRTYLOG_PAGE_BITMAP_BYTES - (w + 1) * sizeof(long)) / 4;
	__le32 part[sizeof(long) / 4];
	u32 i, n = ARRAY_SIZE(part), c = 0, v;

	memcpy(part, &d, sizeof(d));	/* the bytes as the CRC reads them */
	for (i = 0; i < n; i++) {
		v = le32_to_cpu(part[i]);
		if (v)
			c ^= gf_mul(v, dirtylog_xpow32[k + n - i]);
	}
	return c;
}

static void seal_block(void *data, u32 magic, u64 blocknr);

/*
 * Build the table of powers, then check the update against a full
 * checksum of a test page; on a mismatch (which would be a bug, not a
 * condition of the system) every page is built in full.
 */
void dirtylog_csum_init(void)
{
	struct dirtylog_disk_page *pg;
	unsigned long *w, old;
	u32 k, csum;

	dirtylog_xpow32[0] = 0x80000000U;		/* x^0 */
	for (k = 1; k < ARRAY_SIZE(dirtylog_xpow32); k++)
		dirtylog_xpow32[k] = gf_mul(dirtylog_xpow32[k - 1],
					    DIRTYLOG_CRC32C_POLY_REV);
	pg = kzalloc(sizeof(*pg), GFP_KERNEL);
	if (!pg)
		return;
	w = (unsigned long *)pg->bits;
	for (k = 0; k < DIRTYLOG_PAGE_LONGS; k++)
		w[k] = (unsigned long)(k * 0x9e3779b97f4a7c15ULL);
	seal_block(pg, DIRTYLOG_PAGE_MAGIC, 12345);
	csum = le32_to_cpu(pg->hdr.csum);
	for (k = 0; k < DIRTYLOG_PAGE_LONGS; k += 37) {
		old = w[k];
		w[k] = ~old ^ (k << 7);
		csum ^= page_csum_delta(k, old ^ w[k]);
	}
	old = w[DIRTYLOG_PAGE_LONGS - 1];
	w[DIRTYLOG_PAGE_LONGS - 1] = ~old;
	csum ^= page_csum_delta(DIRTYLOG_PAGE_LONGS - 1, ~0UL);
	dirtylog_csum_delta_ok = csum == dirtylog_block_csum(pg);
	if (!dirtylog_csum_delta_ok)
		DMERR("checksum update self-test failed: pages are rewritten in full");
	kfree(pg);
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
 * Every cached metadata buffer carries, as dm-bufio aux data, the magic it
 * was last checked (or sealed) with, 0 when unchecked: a block is checked
 * once per stay in the cache, not on every read.  Code holding md->lock
 * reads and writes buffers; a query also reads without it, but only
 * blocks no commit may reuse while it runs (dirtylog_query_pin_locked()),
 * so two readers at worst both store the same mark.
 */
static u32 *block_checked(struct dm_buffer *buf)
{
	return dm_bufio_get_aux_data(buf);
}

/* dm-bufio alloc callback: a buffer about to hold another block. */
void dirtylog_bufio_alloc(struct dm_buffer *buf)
{
	*block_checked(buf) = 0;
}

/*
 * Get a checked, read-only view of block @b; release it with
 * dm_bufio_release(*@bufp).  Returns the data, or ERR_PTR(-EIO) on a read
 * error or ERR_PTR(-EILSEQ) on a bad block.
 */
const void *dirtylog_get_block(struct dirtylog_md *md, u64 b, u32 magic,
			       struct dm_buffer **bufp)
{
	const struct dirtylog_disk_header *h;
	void *data;

	if (b == 0 || b >= md->nr_meta_blocks) {
		DMERR_LIMIT("metadata block %llu out of range", b);
		return ERR_PTR(-EILSEQ);
	}
	data = dm_bufio_read(md->bufio, b, bufp);
	if (IS_ERR(data)) {
		DMERR_LIMIT("metadata read error %ld at block %llu",
			    PTR_ERR(data), b);
		return ERR_PTR(-EIO);
	}
	if (READ_ONCE(*block_checked(*bufp)) == magic)
		return data;
	h = data;
	if (le32_to_cpu(h->magic) != magic || le64_to_cpu(h->blocknr) != b ||
	    le32_to_cpu(h->csum) != dirtylog_block_csum(data)) {
		DMERR_LIMIT("metadata block %llu is corrupt (bad magic, location or checksum)",
			    b);
		dm_bufio_release(*bufp);
		return ERR_PTR(-EILSEQ);
	}
	WRITE_ONCE(*block_checked(*bufp), magic);
	return data;
}

/*
 * Read block @b into @dst (a full 4 KiB buffer) and check its header.
 * Returns 0, -EIO on a read error or -EILSEQ on a bad block.
 */
int dirtylog_read_block(struct dirtylog_md *md, u64 b, u32 magic, void *dst)
{
	struct dm_buffer *buf;
	const void *data = dirtylog_get_block(md, b, magic, &buf);

	if (IS_ERR(data))
		return PTR_ERR(data);
	memcpy(dst, data, DIRTYLOG_META_BLOCK_SIZE);
	dm_bufio_release(buf);
	return 0;
}

/*
 * New contents for block @b, built in place in its dm-bufio buffer (no
 * copy through a scratch block): dirtylog_new_block() returns the buffer's
 * data, whose bytes are undefined; the caller fills everything after the
 * header and then calls dirtylog_seal_new_block(), which fills the header.
 */
void *dirtylog_new_block(struct dirtylog_md *md, u64 b, struct dm_buffer **bufp)
{
	return dm_bufio_new(md->bufio, b, bufp);
}

void dirtylog_seal_new_block(struct dm_buffer *buf, void *data, u32 magic)
{
	seal_block(data, magic, dm_bufio_get_block_number(buf));
	WRITE_ONCE(*block_checked(buf), magic);
	dm_bufio_mark_buffer_dirty(buf);
	dm_bufio_release(buf);
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
 * Find the block of bitmap page @page in the tree at @root, @depth levels
 * deep over @nr_pages pages (a query passes the geometry it snapshotted:
 * a grow may change md's meanwhile).  Returns 0 with *@b == 0 when the
 * page is all zero, in which case *@next is the first page after it that
 * may be non-zero.
 */
int dirtylog_tree_lookup(struct dirtylog_md *md, u64 root, u32 depth,
			 u64 nr_pages, u64 page, u64 *b, u64 *next)
{
	const struct dirtylog_disk_node *node;
	struct dm_buffer *buf;
	u32 level = depth, node_level;
	u64 cur = root, span, idx, next_b;
	int r = 0;

	*b = 0;
	if (!cur) {
		*next = nr_pages;
		return 0;
	}
	while (level > 0) {
		node = dirtylog_get_block(md, cur, DIRTYLOG_NODE_MAGIC, &buf);
		if (IS_ERR(node)) {
			r = PTR_ERR(node);
			break;
		}
		node_level = le32_to_cpu(node->level);
		span = dirtylog_span_of_entry(level);
		idx = div64_u64(page, span) % DIRTYLOG_NODE_ENTRIES;
		next_b = le64_to_cpu(node->entries[idx]);
		dm_bufio_release(buf);
		if (node_level != level) {
			DMERR_LIMIT("metadata node %llu has the wrong level", cur);
			r = -EILSEQ;
			break;
		}
		cur = next_b;
		if (!cur) {
			*next = (div64_u64(page, span) + 1) * span;
			break;
		}
		level--;
	}
	if (!r && level == 0)
		*b = cur;
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
			     const unsigned long *bits)
{
	struct dirtylog_disk_page *pg;
	struct dm_buffer *buf;

	pg = dirtylog_new_block(md, b, &buf);
	if (IS_ERR(pg))
		return PTR_ERR(pg);
	memcpy(pg->bits, bits, DIRTYLOG_PAGE_BITMAP_BYTES);
	dirtylog_seal_new_block(buf, pg, DIRTYLOG_PAGE_MAGIC);
	return 0;
}

static_assert(offsetof(struct dirtylog_disk_page, bits) % sizeof(long) == 0);

/*
 * Write page @page of @bm with a few words added (@mask[k] to word
 * @word[k], k < @nr) to block @b: what publishing the same words makes of
 * the in-memory page after the commit.
 */
int dirtylog_write_page_words(struct dirtylog_md *md, u64 b,
			      struct dirtylog_bitmap *bm, u64 page,
			      const u16 *word, const unsigned long *mask, u32 nr)
{
	struct dirtylog_disk_page *pg;
	struct dm_buffer *buf;
	unsigned long *bits;
	u32 k;

	pg = dirtylog_new_block(md, b, &buf);
	if (IS_ERR(pg))
		return PTR_ERR(pg);
	bits = (unsigned long *)pg->bits;
	dirtylog_bitmap_copy_page(bm, page, bits);
	for (k = 0; k < nr; k++)
		bits[word[k]] |= mask[k];
	dirtylog_seal_new_block(buf, pg, DIRTYLOG_PAGE_MAGIC);
	return 0;
}

/*
 * Add the same words to page block @b in place, in its cached dm-bufio
 * buffer, and update its checksum from the words that change (no copy of
 * the page, no checksum over the block).  Only for a page of the active
 * tree rewritten in place: when its buffer is cached and was checked or
 * sealed as a page, it holds what the last commit wrote there, which is
 * the in-memory page.  Returns 0, or -EAGAIN when the buffer is not cached
 * (the caller builds the page with dirtylog_write_page_words()).
 */
int dirtylog_update_page_words(struct dirtylog_md *md, u64 b, const u16 *word,
			       const unsigned long *mask, u32 nr)
{
	struct dirtylog_disk_page *pg;
	struct dm_buffer *buf;
	unsigned long *bits, old;
	u32 csum, k;

	if (!dirtylog_csum_delta_ok)
		return -EAGAIN;
	pg = dm_bufio_get(md->bufio, b, &buf);
	if (IS_ERR_OR_NULL(pg))
		return -EAGAIN;
	if (READ_ONCE(*block_checked(buf)) != DIRTYLOG_PAGE_MAGIC) {
		dm_bufio_release(buf);
		return -EAGAIN;
	}
	bits = (unsigned long *)pg->bits;
	csum = le32_to_cpu(pg->hdr.csum);
	for (k = 0; k < nr; k++) {
		old = bits[word[k]];
		bits[word[k]] = old | mask[k];
		csum ^= page_csum_delta(word[k], old ^ bits[word[k]]);
	}
	pg->hdr.csum = cpu_to_le32(csum);
	dm_bufio_mark_buffer_dirty(buf);
	dm_bufio_release(buf);
	return 0;
}

int dirtylog_write_node(struct dirtylog_md *md, u64 b, u32 level,
			const u64 *entries, u32 n)
{
	struct dirtylog_disk_node *node;
	struct dm_buffer *buf;
	u32 j;

	n = min_t(u32, n, DIRTYLOG_NODE_ENTRIES);
	node = dirtylog_new_block(md, b, &buf);
	if (IS_ERR(node))
		return PTR_ERR(node);
	node->level = cpu_to_le32(level);
	node->reserved0 = 0;
	node->reserved1 = 0;
	for (j = 0; j < n; j++)
		node->entries[j] = cpu_to_le64(entries[j]);
	memset(&node->entries[n], 0, (DIRTYLOG_NODE_ENTRIES - n) * sizeof(u64));
	dirtylog_seal_new_block(buf, node, DIRTYLOG_NODE_MAGIC);
	return 0;
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
			r = dirtylog_write_page_bits(md, nblk, ba);
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
