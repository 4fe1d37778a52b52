/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dm-dirtylog metadata: the on-disk format (superblock, checkpoint table,
 * per-interval bitmap trees), the in-memory state of the active interval,
 * and atomic copy-on-write commits.
 *
 * Every function here takes the metadata lock itself unless its name ends
 * in _locked; the _locked ones require it (asserted with lockdep).  All
 * functions may sleep.  The ones that change metadata are called by the
 * target's worker and by requests in their caller's context, with
 * memalloc_noio (writes wait for the metadata lock); queries may be called
 * from any process context.
 */
#ifndef DIRTYLOG_METADATA_H
#define DIRTYLOG_METADATA_H

#include <linux/blkdev.h>
#include <linux/types.h>

#include "dirtylog-bitmap.h"

#define DIRTYLOG_NAME_MAX		64
#define DIRTYLOG_MAX_CHECKPOINTS	4096
#define DIRTYLOG_META_BLOCK_SIZE	4096
/*
 * Commit once this many bitmap pages have pending marks.  Every marking
 * path (the worker, mark_dirty, bitmap marks) marks in steps of at most
 * this many pages, so the pending copies (8 KiB per page with the spare
 * that later becomes the in-memory page) stay below about 1 MiB however
 * large the request.
 */
#define DIRTYLOG_COMMIT_BATCH_PAGES	64

#define DIRTYLOG_SHRINK_ERROR \
	"Device is smaller than recorded in the metadata: shrinking is not supported"

struct dirtylog_md;

struct dirtylog_md_stats {
	u64 nr_blocks;
	u64 dirty_active;
	u32 nr_checkpoints;
	u64 latest_id;
	u64 meta_used;
	u64 meta_total;
	u64 commits;		/* metadata commits since the metadata was opened */
	bool invalid;
	bool failed;
	u8 uuid[16];		/* instance uuid, new after reset */
	u64 ckpt_gen;		/* changes with every checkpoint operation */
};

struct dirtylog_ckpt_info {
	char name[DIRTYLOG_NAME_MAX + 1];
	u64 id;
	u64 ctime_ns;
};

struct dirtylog_md *dirtylog_md_open(struct block_device *bdev,
				     u32 block_sectors, u64 data_sectors,
				     char **error);
void dirtylog_md_close(struct dirtylog_md *md);
void dirtylog_csum_init(void);

u64 dirtylog_md_data_sectors(struct dirtylog_md *md);
u32 dirtylog_md_block_sectors(struct dirtylog_md *md);
void dirtylog_md_stats(struct dirtylog_md *md, struct dirtylog_md_stats *st);

/* Fast path (rcu_read_lock() held): are all of these blocks marked? */
bool dirtylog_md_test_range(struct dirtylog_md *md, u64 block, u64 count);

void dirtylog_md_lock(struct dirtylog_md *md);
void dirtylog_md_unlock(struct dirtylog_md *md);
int dirtylog_md_mark_locked(struct dirtylog_md *md, u64 block, u64 count);
u64 dirtylog_md_nr_pending_locked(struct dirtylog_md *md);
int dirtylog_md_commit_locked(struct dirtylog_md *md);
void dirtylog_md_discard_pending_locked(struct dirtylog_md *md);

int dirtylog_md_mark(struct dirtylog_md *md, u64 block, u64 count);

/**
 * struct dirtylog_mark_chunk - part of a bitmap of blocks to mark dirty
 * @start: block of bit 0, a multiple of 64
 * @words: @nr_words little-endian 64-bit words, bit i of word k being block
 *	   @start + 64 * k + i (need not be aligned)
 * @nr_words: at least 1
 */
struct dirtylog_mark_chunk {
	u64 start;
	const void *words;
	u32 nr_words;
};

int dirtylog_md_mark_chunks(struct dirtylog_md *md,
			    const struct dirtylog_mark_chunk *c, unsigned int n);

typedef int (*dirtylog_collect_fn)(void *ctx, struct dirtylog_md *md);
int dirtylog_md_checkpoint_create(struct dirtylog_md *md, const char *name,
				  dirtylog_collect_fn collect, void *ctx,
				  u64 *id);
int dirtylog_md_checkpoint_delete(struct dirtylog_md *md, const char *name, u64 id);
int dirtylog_md_reset(struct dirtylog_md *md);
int dirtylog_md_grow(struct dirtylog_md *md, u64 data_sectors);
int dirtylog_md_set_invalid(struct dirtylog_md *md);

bool dirtylog_valid_name(const char *name);

/* Emits one extent; returns non-zero to stop the walk. */
typedef int (*dirtylog_extent_fn)(void *ctx, u64 start, u64 count);
/* @bits holds @nbits bits for blocks @start..; @start is chunk aligned. */
typedef int (*dirtylog_chunk_fn)(void *ctx, u64 start,
				 const unsigned long *bits, u32 nbits);

/**
 * struct dirtylog_query - a dirty-map question and where the answer goes
 * @since: checkpoint name
 * @until: NULL for "up to now", else a newer checkpoint
 * @from: first block of interest; everything before it is left out, so a
 *	  caller can resume an interrupted listing
 * @format: DM_DIRTYLOG_DUMP_*; AUTO and BITMAP need @chunk
 * @extent: called for each extent; returns non-zero to stop
 * @chunk: called for each bitmap chunk (DM_DIRTYLOG_BM_CHUNK_BITS blocks,
 *	   fewer at the end of the device, bits before @from cleared);
 *	   returns non-zero to stop
 * @ctx: for @extent and @chunk
 */
struct dirtylog_query {
	const char *since;
	const char *until;
	u64 from;
	u32 format;
	dirtylog_extent_fn extent;
	dirtylog_chunk_fn chunk;
	void *ctx;
};

int dirtylog_md_query(struct dirtylog_md *md, const struct dirtylog_query *q);
int dirtylog_md_list(struct dirtylog_md *md,
		     int (*fn)(void *ctx, const struct dirtylog_ckpt_info *ci),
		     void *ctx);

#endif /* DIRTYLOG_METADATA_H */
