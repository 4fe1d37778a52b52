/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * In-memory bitmap of the active interval.
 *
 * The bitmap is split into pages of DIRTYLOG_BITS_PER_PAGE bits, the same
 * split as the bitmap pages on the metadata device, and each page is
 * allocated only once a bit in it is set.  Bits are only ever set here
 * after they are durable on the metadata device, so map() may pass a write
 * straight down when every block it touches is set.
 *
 * Concurrency: readers (map()) hold rcu_read_lock() and call
 * dirtylog_bitmap_test_range().  Bits are set and pages published
 * (dirtylog_bitmap_publish()) only with the metadata lock held: by the
 * worker, or by a request (a checkpoint, mark_dirty) run by its caller.
 * A whole bitmap is replaced with rcu_assign_pointer() by its owner and
 * freed after synchronize_rcu().
 */
#ifndef DIRTYLOG_BITMAP_H
#define DIRTYLOG_BITMAP_H

#include <linux/types.h>
#include <linux/rcupdate.h>

/* Bitmap bytes in one metadata page (4 KiB block less its 16-byte header). */
#define DIRTYLOG_PAGE_BITMAP_BYTES	4080U
#define DIRTYLOG_BITS_PER_PAGE		(DIRTYLOG_PAGE_BITMAP_BYTES * 8)
#define DIRTYLOG_PAGE_LONGS		(DIRTYLOG_PAGE_BITMAP_BYTES / sizeof(unsigned long))

struct dirtylog_bitmap {
	u64 nr_blocks;
	u64 nr_pages;
	u64 nr_set;			/* written under the metadata lock */
	unsigned long __rcu **pages;	/* nr_pages entries, NULL = all zero */
};

u64 dirtylog_nr_pages(u64 nr_blocks);

struct dirtylog_bitmap *dirtylog_bitmap_alloc(u64 nr_blocks);
void dirtylog_bitmap_free(struct dirtylog_bitmap *bm);
struct dirtylog_bitmap *dirtylog_bitmap_grow(struct dirtylog_bitmap *old,
					     u64 nr_blocks);
void dirtylog_bitmap_free_shell(struct dirtylog_bitmap *bm);
void dirtylog_bitmap_free_grown(struct dirtylog_bitmap *bm, u64 old_pages);

bool dirtylog_bitmap_test_range(struct dirtylog_bitmap *bm, u64 block,
				u64 count);
bool dirtylog_bitmap_test(struct dirtylog_bitmap *bm, u64 block);
bool dirtylog_bitmap_covers(struct dirtylog_bitmap *bm, u64 page, u32 first,
			    const unsigned long *src, u32 nlongs);
void dirtylog_bitmap_copy_page(struct dirtylog_bitmap *bm, u64 page,
			       unsigned long *dst);
/*
 * Publishing looks at groups of words that gained marks: 64 groups per
 * page (8 words each on 64-bit, 16 on 32-bit), one u64 of flags.
 */
#define DIRTYLOG_GROUP_LONGS	DIV_ROUND_UP(DIRTYLOG_PAGE_LONGS, 64)
#define DIRTYLOG_ALL_GROUPS	U64_MAX

void dirtylog_bitmap_publish(struct dirtylog_bitmap *bm, u64 page,
			     const unsigned long *src, u64 groups,
			     unsigned long **spare);
void dirtylog_bitmap_publish_words(struct dirtylog_bitmap *bm, u64 page,
				   const u16 *word, const unsigned long *mask,
				   unsigned int nr, unsigned long **spare);

void *dirtylog_kvcalloc_sized(size_t n, size_t size);

#endif /* DIRTYLOG_BITMAP_H */
