/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The store interface: what the target (dirtylog-target.c) offers the
 * layers above it (the netlink family, dirtylog-netlink.c): finding
 * devices and running the same operations the dm messages run, and a hook
 * through which the target announces events without knowing who listens.
 * Layering, top-down: netlink -> target/store -> metadata -> tree ->
 * space map -> bitmap; dirtylog-main.c ties the module together.
 *
 * Finding a store (dirtylog_store_lookup(), _nth()) and taking a reference
 * to it (dirtylog_store_get()) require dirtylog_stores_lock
 * (dirtylog_lock_stores()); everything else needs only a reference, and
 * must be called without that lock: operations wait for the device's
 * metadata lock and its metadata I/O.
 */
#ifndef DIRTYLOG_STORE_H
#define DIRTYLOG_STORE_H

#include <linux/types.h>
#include <linux/device-mapper.h>

#include "dirtylog-metadata.h"

struct dirtylog_store;

/* Most devices one atomic checkpoint may name. */
#define DIRTYLOG_MAX_ORDER	16

struct dirtylog_dev_info {
	char name[DM_NAME_LEN];
	char uuid[DM_UUID_LEN];
	u32 major, minor;
	u32 block_sectors;
	u64 size_sectors;
	u32 state;			/* enum dm_dirtylog_state */
	struct dirtylog_md_stats stats;
	char instance_uuid[33];
	u64 generation;
	char stray[DIRTYLOG_NAME_MAX + 1];	/* see dirtylog_store_set_stray() */
};

void dirtylog_lock_stores(void);
void dirtylog_unlock_stores(void);
struct dirtylog_store *dirtylog_store_nth(unsigned long idx);
struct dirtylog_store *dirtylog_store_lookup(const char *name, const char *uuid,
					     bool by_dev, u32 major, u32 minor);
int dirtylog_store_get(struct dirtylog_store *st);
void dirtylog_store_put(struct dirtylog_store *st);
int dirtylog_store_order(struct dirtylog_store **sts, unsigned int n,
			 unsigned int *order);
void dirtylog_store_set_stray(struct dirtylog_store *st, const char *name);
void dirtylog_store_info(struct dirtylog_store *st, struct dirtylog_dev_info *di);
int dirtylog_store_query(struct dirtylog_store *st,
			 const struct dirtylog_query *q);
int dirtylog_store_list(struct dirtylog_store *st,
			int (*fn)(void *ctx, const struct dirtylog_ckpt_info *ci),
			void *ctx);
struct mapped_device *dirtylog_store_owner(struct dirtylog_store *st);

int dirtylog_store_checkpoint(struct dirtylog_store *st, const char *name, u64 *id);
int dirtylog_store_delete(struct dirtylog_store *st, const char *name, u64 id);
int dirtylog_store_reset(struct dirtylog_store *st);
int dirtylog_store_mark(struct dirtylog_store *st, u64 start, u64 count);
int dirtylog_store_mark_chunks(struct dirtylog_store *st,
			       const struct dirtylog_mark_chunk *chunks,
			       unsigned int n);

/*
 * Events: @cmd is a DM_DIRTYLOG_CMD_*_NTF, @ckpt a checkpoint name or
 * NULL, @id a checkpoint id or 0.  Called in process context, maybe from
 * the worker or inside a request's memalloc_noio scope (allocate with
 * GFP_NOIO).  Set before the target registers
 * and cleared after it unregisters (dirtylog-main.c).
 */
typedef void (*dirtylog_notify_fn)(struct dirtylog_store *st, u8 cmd,
				   const char *ckpt, u64 id);
void dirtylog_store_set_notify(dirtylog_notify_fn fn);

/* dirtylog-target.c: the device-mapper target */
int dirtylog_target_init(void);
void dirtylog_target_exit(void);

#endif /* DIRTYLOG_STORE_H */
