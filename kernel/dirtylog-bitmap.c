// SPDX-License-Identifier: GPL-2.0-only
/*
 * In-memory bitmap of the active interval; see dirtylog-bitmap.h.
 *
 * Locking: readers hold rcu_read_lock(); one writer at a time (whoever
 * holds the metadata lock: the worker or a request) publishes page
 * pointers with rcu_assign_pointer() and sets bits with WRITE_ONCE() on
 * whole words, so a reader sees each word either before or after the
 * update, never torn.
 */
#include <linux/bitmap.h>
#include <linux/math64.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>

#include "dirtylog-bitmap.h"

u64 dirtylog_nr_pages(u64 nr_blocks)
{
	return div64_u64(nr_blocks + DIRTYLOG_BITS_PER_PAGE - 1,
			 DIRTYLOG_BITS_PER_PAGE);
}

static struct dirtylog_bitmap *bitmap_shell(u64 nr_blocks)
{
	struct dirtylog_bitmap *bm;
	u64 nr_pages = dirtylog_nr_pages(nr_blocks);

	if (nr_pages > SIZE_MAX / sizeof(*bm->pages))
		return NULL;
	bm = kzalloc(sizeof(*bm), GFP_KERNEL);
	if (!bm)
		return NULL;
	bm->nr_blocks = nr_blocks;
	bm->nr_pages = nr_pages;
	/*
	 * Sized by the data device: may be most of RAM.  Fail with ENOMEM
	 * rather than have the OOM killer kill processes for it.
	 */
	bm->pages = dirtylog_kvcalloc_sized(max_t(u64, nr_pages, 1), sizeof(*bm->pages));
	if (!bm->pages) {
		kfree(bm);
		return NULL;
	}
	return bm;
}

/**
 * dirtylog_kvcalloc_sized() - a zeroed array sized by a device.
 * @n: elements
 * @size: bytes per element
 *
 * These arrays grow with the data or metadata device and may exceed
 * memory.  Never the OOM killer (__GFP_RETRY_MAYFAIL), and an array over
 * a quarter of RAM is refused at once: trying would reclaim and zero
 * pages for a long time before failing (under emulation long enough for
 * the soft-lockup watchdog).
 *
 * Return: the array (kvfree() it), or NULL.
 */
void *dirtylog_kvcalloc_sized(size_t n, size_t size)
{
	size_t bytes;

	if (check_mul_overflow(n, size, &bytes) ||
	    bytes > (totalram_pages() << PAGE_SHIFT) / 4)
		return NULL;
	return kvzalloc(bytes, GFP_KERNEL | __GFP_NOWARN | __GFP_RETRY_MAYFAIL);
}

/**
 * dirtylog_bitmap_alloc() - allocate an all-zero bitmap
 * @nr_blocks: number of bits
 *
 * Context: may sleep.  Return: the bitmap or NULL when memory is short.
 */
struct dirtylog_bitmap *dirtylog_bitmap_alloc(u64 nr_blocks)
{
	return bitmap_shell(nr_blocks);
}

/* Free the page pointer array and the struct but not the pages. */
void dirtylog_bitmap_free_shell(struct dirtylog_bitmap *bm)
{
	if (!bm)
		return;
	kvfree(bm->pages);
	kfree(bm);
}

/**
 * dirtylog_bitmap_free() - free a bitmap and its pages
 * @bm: bitmap no reader can reach any more (after synchronize_rcu())
 */
void dirtylog_bitmap_free(struct dirtylog_bitmap *bm)
{
	u64 p;

	if (!bm)
		return;
	for (p = 0; p < bm->nr_pages; p++)
		kfree(rcu_dereference_protected(bm->pages[p], 1));
	dirtylog_bitmap_free_shell(bm);
}

/**
 * dirtylog_bitmap_free_grown() - undo a dirtylog_bitmap_grow()
 * @bm: the larger bitmap, no longer reachable by any reader
 * @old_pages: pages of the bitmap it was grown from, which keeps those
 *
 * Frees the pages past @old_pages (published into @bm only) and the shell.
 */
void dirtylog_bitmap_free_grown(struct dirtylog_bitmap *bm, u64 old_pages)
{
	u64 p;

	if (!bm)
		return;
	for (p = old_pages; p < bm->nr_pages; p++)
		kfree(rcu_dereference_protected(bm->pages[p], 1));
	dirtylog_bitmap_free_shell(bm);
}

/**
 * dirtylog_bitmap_grow() - a larger bitmap sharing @old's pages
 * @old: current bitmap
 * @nr_blocks: new number of bits, at least @old's
 *
 * The new bitmap refers to the same pages; once it is published and
 * readers of @old are gone, free @old with dirtylog_bitmap_free_shell().
 */
struct dirtylog_bitmap *dirtylog_bitmap_grow(struct dirtylog_bitmap *old,
					     u64 nr_blocks)
{
	struct dirtylog_bitmap *bm = bitmap_shell(nr_blocks);
	u64 p;

	if (!bm)
		return NULL;
	for (p = 0; p < old->nr_pages; p++)
		RCU_INIT_POINTER(bm->pages[p],
				 rcu_dereference_protected(old->pages[p], 1));
	bm->nr_set = old->nr_set;
	return bm;
}

/**
 * dirtylog_bitmap_test_range() - are all of [@block, @block + @count) set?
 * @bm: bitmap
 * @block: first block
 * @count: number of blocks
 *
 * Context: rcu_read_lock() held, any context.  Blocks past the end count
 * as not set.
 */
bool dirtylog_bitmap_test_range(struct dirtylog_bitmap *bm, u64 block,
				u64 count)
{
	u64 end = block + count;

	if (end > bm->nr_blocks || end < block)
		return false;
	if (count == 1) {	/* the common case: one block, one bit */
		u32 bit;
		u64 p = div_u64_rem(block, DIRTYLOG_BITS_PER_PAGE, &bit);
		unsigned long *page = rcu_dereference(bm->pages[p]);

		return page && test_bit(bit, page);
	}
	while (block < end) {
		u32 bit;
		u64 p = div_u64_rem(block, DIRTYLOG_BITS_PER_PAGE, &bit);
		u64 n = min_t(u64, end - block, DIRTYLOG_BITS_PER_PAGE - bit);
		unsigned long *page = rcu_dereference(bm->pages[p]);

		if (!page)
			return false;
		if (find_next_zero_bit(page, bit + n, bit) < bit + n)
			return false;
		block += n;
	}
	return true;
}

bool dirtylog_bitmap_test(struct dirtylog_bitmap *bm, u64 block)
{
	return dirtylog_bitmap_test_range(bm, block, 1);
}

/**
 * dirtylog_bitmap_covers() - are all bits of @src set already?
 * @bm: bitmap
 * @page: page index
 * @first: index of the page's long that @src[0] is compared with
 * @src: the bits
 * @nlongs: longs in @src; @first + @nlongs <= DIRTYLOG_PAGE_LONGS
 *
 * Context: the caller is the writer (metadata lock held).
 */
bool dirtylog_bitmap_covers(struct dirtylog_bitmap *bm, u64 page, u32 first,
			    const unsigned long *src, u32 nlongs)
{
	unsigned long *cur = rcu_dereference_protected(bm->pages[page], 1);
	u32 i;

	for (i = 0; i < nlongs; i++)
		if (src[i] & ~(cur ? cur[first + i] : 0UL))
			return false;
	return true;
}

/**
 * dirtylog_bitmap_copy_page() - copy one page's bits into @dst
 * @bm: bitmap
 * @page: page index
 * @dst: DIRTYLOG_PAGE_BITMAP_BYTES of destination
 *
 * Context: the caller is the writer (metadata lock held).
 */
void dirtylog_bitmap_copy_page(struct dirtylog_bitmap *bm, u64 page,
			       unsigned long *dst)
{
	unsigned long *src = rcu_dereference_protected(bm->pages[page], 1);

	if (src)
		memcpy(dst, src, DIRTYLOG_PAGE_BITMAP_BYTES);
	else
		memset(dst, 0, DIRTYLOG_PAGE_BITMAP_BYTES);
}

/**
 * dirtylog_bitmap_publish() - make the bits of @src (durable) visible
 * @bm: the bitmap
 * @page: page index
 * @src: the page's new bits: bits are only added, never cleared
 * @groups: bit g set: words g * DIRTYLOG_GROUP_LONGS onwards (a group) of
 *	    @src may hold bits the page lacks; the other groups hold none
 *	    and are skipped (DIRTYLOG_ALL_GROUPS: look at every word).
 *	    Ignored when the page does not exist yet: @src is copied whole.
 * @spare: a preallocated page used when @page has none yet; set to NULL
 *	   when consumed, so the caller frees it otherwise
 *
 * Context: the writer (metadata lock held).  Cannot fail.
 */
void dirtylog_bitmap_publish(struct dirtylog_bitmap *bm, u64 page,
			     const unsigned long *src, u64 groups,
			     unsigned long **spare)
{
	unsigned long *dst = rcu_dereference_protected(bm->pages[page], 1);
	unsigned long add;
	unsigned int i, end;
	u64 added;

	if (!dst) {
		dst = *spare;
		*spare = NULL;
		memcpy(dst, src, DIRTYLOG_PAGE_BITMAP_BYTES);
		added = bitmap_weight(dst, DIRTYLOG_BITS_PER_PAGE);
		/* Pairs with rcu_dereference() in dirtylog_bitmap_test_range(). */
		rcu_assign_pointer(bm->pages[page], dst);
	} else {
		/* One pass: only words that gain bits are written and counted. */
		added = 0;
		while (groups) {
			i = __ffs64(groups) * DIRTYLOG_GROUP_LONGS;
			groups &= groups - 1;
			end = min_t(unsigned int, i + DIRTYLOG_GROUP_LONGS,
				    DIRTYLOG_PAGE_LONGS);
			for (; i < end; i++) {
				add = src[i] & ~dst[i];
				if (add) {
					WRITE_ONCE(dst[i], dst[i] | add);
					added += hweight_long(add);
				}
			}
		}
	}
	WRITE_ONCE(bm->nr_set, bm->nr_set + added);
}

/**
 * dirtylog_bitmap_publish_words() - make a few (durable) words visible
 * @bm: the bitmap
 * @page: page index
 * @word: word indexes within the page, each below DIRTYLOG_PAGE_LONGS
 * @mask: the bits to add to each of those words
 * @nr: how many
 * @spare: as for dirtylog_bitmap_publish(), used when @page has none yet
 *
 * The same as dirtylog_bitmap_publish() with a page of only these words.
 *
 * Context: the writer (metadata lock held).  Cannot fail.
 */
void dirtylog_bitmap_publish_words(struct dirtylog_bitmap *bm, u64 page,
				   const u16 *word, const unsigned long *mask,
				   unsigned int nr, unsigned long **spare)
{
	unsigned long *dst = rcu_dereference_protected(bm->pages[page], 1);
	unsigned long add;
	unsigned int k;
	u64 added = 0;

	if (!dst) {
		dst = *spare;
		*spare = NULL;
		memset(dst, 0, DIRTYLOG_PAGE_BITMAP_BYTES);
		for (k = 0; k < nr; k++) {
			added += hweight_long(mask[k] & ~dst[word[k]]);
			dst[word[k]] |= mask[k];
		}
		/* Pairs with rcu_dereference() in dirtylog_bitmap_test_range(). */
		rcu_assign_pointer(bm->pages[page], dst);
	} else {
		for (k = 0; k < nr; k++) {
			add = mask[k] & ~dst[word[k]];
			if (add) {
				WRITE_ONCE(dst[word[k]], dst[word[k]] | add);
				added += hweight_long(add);
			}
		}
	}
	WRITE_ONCE(bm->nr_set, bm->nr_set + added);
}
