/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-dirtylog metadata internals shared by dirtylog-query.c (dirty-map
 * queries), dirtylog-metadata.c (state, commits, checkpoints),
 * dirtylog-tree.c (block I/O, bitmap trees) and dirtylog-space.c (space
 * map).  Nothing outside those files includes this: the rest of the module
 * sees only dirtylog-metadata.h.
 */
#ifndef DIRTYLOG_MD_INTERNAL_H
#define DIRTYLOG_MD_INTERNAL_H

#include <linux/dm-bufio.h>
#include <linux/mutex.h>
#include <linux/xarray.h>

#include "dirtylog-metadata.h"

#define DIRTYLOG_SB_MAGIC	0x44474c53	/* "DGLS" */
#define DIRTYLOG_TABLE_MAGIC	0x44474c54	/* "DGLT" */
#define DIRTYLOG_NODE_MAGIC	0x44474c4e	/* "DGLN" */
#define DIRTYLOG_PAGE_MAGIC	0x44474c50	/* "DGLP" */
#define DIRTYLOG_CSUM_XOR	0x6469726bU

#define DIRTYLOG_VERSION_MIN	1
#define DIRTYLOG_VERSION_MAX	1

#define DIRTYLOG_SB_FLAG_INVALID	BIT(0)
#define DIRTYLOG_SB_KNOWN_FLAGS		DIRTYLOG_SB_FLAG_INVALID

#define DIRTYLOG_NODE_ENTRIES	508
#define DIRTYLOG_MAX_DEPTH	7
#define DIRTYLOG_TABLE_ENTRIES	42
#define DIRTYLOG_MIN_META_BLOCKS 16
/* Keeps the space maps (two bits per metadata block) reasonable: 4 TiB. */
#define DIRTYLOG_MAX_META_BLOCKS BIT_ULL(30)

struct dirtylog_disk_header {
	__le32 csum;
	__le32 magic;
	__le64 blocknr;
} __packed;

struct dirtylog_disk_sb {
	struct dirtylog_disk_header hdr;
	__le32 version;
	__le32 flags;
	__u8 uuid[16];
	__le64 generation;
	__le64 data_sectors;
	__le32 block_sectors;
	__le32 depth;
	__le64 nr_meta_blocks;
	__le64 next_ckpt_id;
	__le32 nr_ckpts;
	__le32 nr_table_blocks;
	__le64 table_root;
	__le64 active_root;
	__u8 reserved[3976];
} __packed;

struct dirtylog_disk_ckpt {
	char name[DIRTYLOG_NAME_MAX];	/* NUL-padded, not terminated at 64 */
	__le64 id;
	__le64 ctime_ns;
	__le64 root;
	__le64 reserved;
} __packed;

struct dirtylog_disk_table {
	struct dirtylog_disk_header hdr;
	__le64 next;
	__le32 count;
	__le32 reserved;
	struct dirtylog_disk_ckpt entries[DIRTYLOG_TABLE_ENTRIES];
	__u8 pad[32];
} __packed;

struct dirtylog_disk_node {
	struct dirtylog_disk_header hdr;
	__le32 level;
	__le32 reserved0;
	__le64 reserved1;
	__le64 entries[DIRTYLOG_NODE_ENTRIES];
} __packed;

struct dirtylog_disk_page {
	struct dirtylog_disk_header hdr;
	__u8 bits[DIRTYLOG_PAGE_BITMAP_BYTES];
} __packed;

/*
 * Blocks are built in place in their dm-bufio buffers (dirtylog_new_block()):
 * each filled structure must cover the whole block, or the rest be zeroed.
 */
static_assert(sizeof(struct dirtylog_disk_table) == DIRTYLOG_META_BLOCK_SIZE);
static_assert(sizeof(struct dirtylog_disk_node) == DIRTYLOG_META_BLOCK_SIZE);
static_assert(sizeof(struct dirtylog_disk_page) == DIRTYLOG_META_BLOCK_SIZE);
static_assert(sizeof(struct dirtylog_disk_sb) <= DIRTYLOG_META_BLOCK_SIZE);

struct dirtylog_ckpt {
	char name[DIRTYLOG_NAME_MAX + 1];
	u64 id;
	u64 ctime_ns;
	u64 root;
};

/* The active interval's tree, kept in memory so commits need no reads. */
struct dirtylog_atree {
	u64 *blk[DIRTYLOG_MAX_DEPTH + 1];	/* level 0: pages */
	unsigned long *dirty[DIRTYLOG_MAX_DEPTH + 1];
	u64 nr[DIRTYLOG_MAX_DEPTH + 1];
	u32 depth;
};

/*
 * Marks of one bitmap page not yet durable.  Most commits add a few words
 * to a page: those are kept as a list (@word, @mask), applied to the live
 * in-memory page when the commit writes the page and publishes it.  Past
 * DIRTYLOG_PENDING_WORDS words, or for a whole page at once, @bits holds a
 * full copy: the live page (at the switch) with every mark added.
 */
#define DIRTYLOG_PENDING_WORDS	21

struct dirtylog_pending {
	struct dirtylog_pending *next;	/* md->pending_list */
	u64 page;
	unsigned long *bits;		/* NULL: the list below */
	/* Groups of @bits marked since the copy (dirtylog_bitmap_publish()). */
	u64 groups;
	unsigned long *spare;		/* becomes the in-memory page */
	u32 nr;				/* entries of the list */
	u16 word[DIRTYLOG_PENDING_WORDS];
	unsigned long mask[DIRTYLOG_PENDING_WORDS];
};

struct dirtylog_md {
	struct mutex lock;	/* protects everything below but @active reads */
	struct block_device *bdev;
	struct dm_bufio_client *bufio;

	u8 uuid[16];
	u64 generation;
	u64 data_sectors;
	u32 block_sectors;
	u32 block_shift;
	u64 nr_blocks;
	u64 nr_pages;
	u32 flags;
	u64 next_ckpt_id;
	bool failed;		/* a metadata write failed: refuse everything */
	u64 nr_commits;		/* commits that wrote something, since open */

	u32 nr_ckpts;
	u64 latest_id;		/* id of the newest checkpoint, 0 if none */
	u32 ckpt_capacity;
	struct dirtylog_ckpt *ckpts;	/* oldest first */
	u64 *table_blocks;		/* current chain, nr_table_blocks long */
	u32 nr_table_blocks;
	bool table_dirty;
	bool use_reserve;	/* this commit may use the reserved blocks */
	u64 ckpt_gen;		/* new at every checkpoint op; see next_gen() */

	struct dirtylog_bitmap __rcu *active;
	struct dirtylog_atree atree;
	struct xarray pending;		/* page index -> struct dirtylog_pending */
	/* The same entries, linked: a commit walks them without the xarray. */
	struct dirtylog_pending *pending_list;
	u64 nr_pending;

	u64 nr_meta_blocks;
	unsigned long *sm_committed;	/* blocks the on-disk state uses */
	unsigned long *sm_current;	/* blocks the state being built uses */
	/*
	 * Blocks freed by commits while queries read without md->lock, held
	 * back from reuse so the trees they snapshotted stay intact: two
	 * epochs, as SRCU has.  A query pins the current epoch; what a commit
	 * frees is held in the current epoch; the other epoch's blocks are
	 * released once its last query ends, and then it becomes the current
	 * one.  So overlapping queries never hold blocks for longer than two
	 * query lifetimes.
	 */
	unsigned long *sm_held[2];
	u64 nr_held[2];
	u32 readers[2];
	u32 pin_epoch;		/* 0 or 1: the current epoch */
	u64 nr_used;
	u64 alloc_hint;
	/*
	 * What changed since the last commit, so that a commit's space
	 * accounting costs what the transaction did, not a pass over the
	 * space map: bit i of @sm_dirty says word i of sm_current may have
	 * changed, and a word whose bit is clear equals sm_committed's
	 * (@nr_dirty_words bits are set; when @sm_all_dirty, any word may
	 * differ); @nr_freed counts the blocks sm_committed has and
	 * sm_current no longer has.
	 */
	unsigned long *sm_dirty;
	u64 nr_dirty_words;
	bool sm_all_dirty;
	u64 nr_freed;
};

static inline u32 dirtylog_depth_for(u64 nr_pages)
{
	u64 cap = DIRTYLOG_NODE_ENTRIES;
	u32 d = 1;

	while (cap < nr_pages) {
		cap *= DIRTYLOG_NODE_ENTRIES;
		d++;
	}
	return d;
}

/* Number of pages one entry of a node at @level covers. */
static inline u64 dirtylog_span_of_entry(u32 level)
{
	u64 s = 1;

	while (--level)
		s *= DIRTYLOG_NODE_ENTRIES;
	return s;
}

static inline struct dirtylog_bitmap *dirtylog_active_locked(struct dirtylog_md *md)
{
	return rcu_dereference_protected(md->active, lockdep_is_held(&md->lock));
}

/*
 * Layering, top-down: dirtylog-query.c -> dirtylog-metadata.c ->
 * dirtylog-tree.c -> dirtylog-space.c -> dirtylog-bitmap.c; a file calls
 * only the ones below it.
 */

/* dirtylog-tree.c: block I/O */
u32 dirtylog_block_csum(const void *data);
bool dirtylog_block_is_zero(const void *data);
int dirtylog_read_block(struct dirtylog_md *md, u64 b, u32 magic, void *dst);
const void *dirtylog_get_block(struct dirtylog_md *md, u64 b, u32 magic,
			       struct dm_buffer **bufp);
void dirtylog_bufio_alloc(struct dm_buffer *buf);
void *dirtylog_new_block(struct dirtylog_md *md, u64 b, struct dm_buffer **bufp);
void dirtylog_seal_new_block(struct dm_buffer *buf, void *data, u32 magic);

/* dirtylog-space.c: space map (calls nothing above it) */
int dirtylog_sm_alloc(struct dirtylog_md *md);
u64 dirtylog_nr_free_blocks(struct dirtylog_md *md);
int dirtylog_alloc_block(struct dirtylog_md *md, u64 *b);
void dirtylog_free_block(struct dirtylog_md *md, u64 b);
int dirtylog_claim_block(struct dirtylog_md *md, u64 b);
void dirtylog_sm_rollback(struct dirtylog_md *md);
void dirtylog_sm_commit(struct dirtylog_md *md);
void dirtylog_sm_sync(struct dirtylog_md *md);
void dirtylog_sm_reset(struct dirtylog_md *md);
u32 dirtylog_query_pin_locked(struct dirtylog_md *md);
void dirtylog_query_unpin(struct dirtylog_md *md, u32 epoch);

/* dirtylog-metadata.c: state, commits, checkpoints (for dirtylog-query.c) */
int dirtylog_find_ckpt(struct dirtylog_md *md, const char *name);

/* dirtylog-tree.c: bitmap trees on disk */
struct dirtylog_walk {
	struct dirtylog_md *md;
	int (*page_fn)(struct dirtylog_walk *w, u64 page, u64 b);
	int (*node_fn)(struct dirtylog_walk *w, u32 level, u64 index, u64 b);
	void *ctx;
};

int dirtylog_walk_tree(struct dirtylog_walk *w, u64 root, u32 depth);
int dirtylog_claim_page_fn(struct dirtylog_walk *w, u64 page, u64 b);
int dirtylog_claim_node_fn(struct dirtylog_walk *w, u32 level, u64 index, u64 b);
int dirtylog_free_node_fn(struct dirtylog_walk *w, u32 level, u64 index, u64 b);
int dirtylog_tree_free(struct dirtylog_md *md, u64 root);
int dirtylog_tree_count(struct dirtylog_md *md, u64 root, u64 *n);
int dirtylog_tree_lookup(struct dirtylog_md *md, u64 root, u32 depth,
			 u64 nr_pages, u64 page, u64 *b, u64 *next);
int dirtylog_read_page_bits(struct dirtylog_md *md, u64 b, unsigned long *bits,
			    void *scratch);
int dirtylog_write_page_bits(struct dirtylog_md *md, u64 b,
			     const unsigned long *bits);
int dirtylog_write_page_words(struct dirtylog_md *md, u64 b,
			      struct dirtylog_bitmap *bm, u64 page,
			      const u16 *word, const unsigned long *mask, u32 nr);
int dirtylog_update_page_words(struct dirtylog_md *md, u64 b, const u16 *word,
			       const unsigned long *mask, u32 nr);
int dirtylog_write_node(struct dirtylog_md *md, u64 b, u32 level,
			const u64 *entries, u32 n);
int dirtylog_merge_trees(struct dirtylog_md *md, u64 a, u64 b, u32 level,
			 u64 *out);

#endif /* DIRTYLOG_MD_INTERNAL_H */
