/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * test_spacemap: the part of struct dirtylog_md (kernel/
 * dirtylog-md-internal.h) that kernel/dirtylog-space.c uses, with the
 * same field names, and its declarations.  A field the space map starts
 * using must be added here too, or test_spacemap does not build.
 */
#ifndef DL_KSPACE_MD_INTERNAL_H
#define DL_KSPACE_MD_INTERNAL_H

#include <errno.h>
#include <linux/bitmap.h>

struct dirtylog_md {
	int lock;
	u64 nr_meta_blocks;
	unsigned long *sm_committed;
	unsigned long *sm_current;
	unsigned long *sm_held[2];
	u64 nr_held[2];
	u32 readers[2];
	u32 pin_epoch;
	u64 nr_used;
	u64 alloc_hint;
	unsigned long *sm_dirty;
	u64 nr_dirty_words;
	bool sm_all_dirty;
	u64 nr_freed;
};

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

#endif
