/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Offline reader, checker and writer of dm-dirtylog metadata (the format
 * of kernel/dirtylog-metadata.c, described in the admin guide's "On-disk
 * format"): 4 KiB blocks, each with a header (crc32c of the rest of the
 * block xor 0x6469726b, magic, own block number); block 0 the superblock,
 * a chain of checkpoint-table blocks, and per interval a bitmap tree of
 * fixed depth (nodes of 508 pointers, pages of 32640 bits).  There is no
 * on-disk space map and no second superblock: the allocation state is the
 * set of blocks reached from the superblock.
 *
 * dl_meta_read() loads everything it can reach into memory, validating
 * every header, bound and reference (each block may be reached once, which
 * also stops cycles; trees have at most 7 levels), and records each
 * problem.  What it cannot read it replaces conservatively: a bad page or
 * node makes every block it covers dirty in its interval; a lost part of
 * the checkpoint table, or a superblock whose checksum fails, makes the
 * active interval all dirty, so that every query since a kept checkpoint
 * answers "everything"; a dropped checkpoint entry makes the interval
 * after it all dirty.  dl_meta_write() writes the loaded state as fresh,
 * compact metadata the kernel accepts.
 */
#ifndef DL_META_H
#define DL_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DLM_BLOCK_SIZE		4096U
#define DLM_PAGE_BYTES		4080U
#define DLM_BITS_PER_PAGE	(DLM_PAGE_BYTES * 8)
#define DLM_NODE_ENTRIES	508U
#define DLM_TABLE_ENTRIES	42U
#define DLM_MAX_DEPTH		7U
#define DLM_NAME_MAX		64U
#define DLM_MAX_CKPTS		4096U
#define DLM_MIN_META_BLOCKS	16U
#define DLM_MAX_META_BLOCKS	(1ULL << 30)

/* One problem found: which block, which structure, what is wrong. */
struct dlm_problem {
	uint64_t block;
	const char *structure;	/* superblock, checkpoint-table, tree-node,
				 * bitmap-page, space-map, device */
	const char *interval;	/* checkpoint name, "active" or NULL */
	char what[200];
};

/* An interval's bitmap: nr_pages pages, NULL = all clear. */
struct dlm_interval {
	uint8_t **pages;
	bool damaged;		/* some of it was replaced by "all dirty" */
};

struct dlm_ckpt {
	char name[DLM_NAME_MAX + 1];
	uint64_t id;
	uint64_t ctime_ns;
	uint64_t root;		/* as read */
	struct dlm_interval iv;	/* the interval that ends at this checkpoint */
};

enum dlm_sb_state {
	DLM_SB_OK,
	DLM_SB_SALVAGED,	/* checksum failed, fields used with care */
	DLM_SB_LOST,		/* unusable: geometry must be given */
};

/* Owners of metadata blocks; DLM_OWN_ACTIVE + 1 + i: checkpoint i's tree. */
enum { DLM_OWN_NONE, DLM_OWN_SB, DLM_OWN_TABLE, DLM_OWN_ACTIVE };

struct dl_meta {
	int fd;
	uint64_t dev_bytes;
	uint64_t nr_meta_blocks;	/* what the kernel would use */

	enum dlm_sb_state sb_state;
	uint32_t version, flags, block_sectors, depth;
	uint8_t uuid[16];
	uint64_t generation, data_sectors, sb_nr_meta_blocks, next_ckpt_id;
	uint32_t sb_nr_ckpts, sb_nr_table_blocks;
	uint64_t table_root, active_root;

	uint64_t nr_blocks, nr_pages;	/* tracked blocks, bitmap pages */
	uint32_t nr_ckpts;		/* kept */
	struct dlm_ckpt *ckpts;		/* oldest first */
	struct dlm_interval active;
	uint32_t dropped_ckpts;		/* entries lost or dropped */
	char dropped_names[512];	/* those whose name is known */

	uint32_t *owner;		/* per metadata block: who reached it */
	bool *taint;			/* per owner - DLM_OWN_ACTIVE: shares a block */
	uint32_t cur_owner;
	uint64_t nr_used;		/* blocks reached (valid or not) */

	struct dlm_problem *probs;
	size_t nr_probs, probs_cap;
};

struct dl_meta_geom {			/* overrides for a lost superblock */
	uint32_t block_sectors;		/* 0: not given */
	uint64_t data_sectors;
};

/*
 * dl_meta_open_dev() - open @path read-only (@rw: read-write); a block
 * device with O_EXCL, so that one held by a live target is refused
 * (-EBUSY with a reason).  Returns the fd or -errno.
 */
int dl_meta_open_dev(const char *path, bool rw, char *err, size_t errlen);

/*
 * dl_meta_read() - load and check the metadata on @fd into @m (zeroed by
 * the caller; freed with dl_meta_free()).  @g may be NULL.  Returns 0 when
 * it could be read (problems are in m->probs; m->nr_pages is 0 when the
 * superblock is lost and @g gives no geometry: nothing else was read), or
 * -errno on an I/O error, a device too small or out of memory.
 */
int dl_meta_read(struct dl_meta *m, int fd, const struct dl_meta_geom *g,
		 char *err, size_t errlen);
void dl_meta_free(struct dl_meta *m);

/* dl_meta_count() - set bits of @iv (within the device), pages stored. */
uint64_t dl_meta_count(const struct dl_meta *m, const struct dlm_interval *iv,
		       uint64_t *pages);

/*
 * dl_meta_extents() - call @fn for each maximal run of blocks set in the
 * union of @n intervals @ivs, in order.  Stops when @fn returns non-zero.
 */
void dl_meta_extents(const struct dl_meta *m, const struct dlm_interval **ivs,
		     size_t n, int (*fn)(void *ctx, uint64_t start, uint64_t count),
		     void *ctx);

/*
 * dl_meta_since() - the intervals a query "dirty SINCE [UNTIL]" reads:
 * fills @ivs (room for nr_ckpts + 1) and returns how many, or -ENOENT
 * (unknown checkpoint) / -EINVAL (UNTIL not newer than SINCE).
 */
int dl_meta_since(const struct dl_meta *m, const char *since, const char *until,
		  const struct dlm_interval **ivs);

/*
 * dl_meta_write() - write @m as fresh metadata to @fd (a device or file of
 * m->dev_bytes bytes, all zero when @fresh): pages, nodes, table, then
 * after a sync the superblock, then a sync.  With @fresh false (in place)
 * the new blocks avoid every block the old state reached, so a crash
 * before the superblock leaves the old metadata.  Returns 0 or -errno.
 */
int dl_meta_write(struct dl_meta *m, int fd, bool fresh, char *err,
		  size_t errlen);

/*
 * Building metadata in memory (tests, tools): dl_meta_init() sets up an
 * empty state with no checkpoint for a device of @dev_bytes; the state is
 * written with dl_meta_write(@fresh = true) to a zeroed file of that size.
 * dl_meta_add_ckpt() appends a checkpoint (ids must grow), its interval
 * (the writes since the checkpoint before) is the active interval so far,
 * and the active interval starts empty.  dl_meta_set() marks @count blocks
 * from @start dirty in @iv.  They return 0 or -errno (-EINVAL on bad
 * arguments).
 */
int dl_meta_init(struct dl_meta *m, uint64_t dev_bytes, uint32_t block_sectors,
		 uint64_t data_sectors);
int dl_meta_add_ckpt(struct dl_meta *m, const char *name, uint64_t id,
		     uint64_t ctime_ns);
int dl_meta_set(struct dl_meta *m, struct dlm_interval *iv, uint64_t start,
		uint64_t count);

/* crc32c-based block checksum of the kernel format. */
uint32_t dl_meta_csum(const uint8_t *blk);

#endif /* DL_META_H */
