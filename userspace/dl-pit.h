/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The point-in-time snapshot of a dirtylog device (export, backup): under
 * one suspend of NAME, a dm-snapshot of its data device (NAME is reloaded
 * onto a snapshot-origin NAME.xo, the snapshot is NAME.xs, its store a
 * block device, a file or an unlinked temporary file through a loop
 * device) or, with --lvm, an LVM snapshot; and a callback run at that
 * instant (the checkpoint).  Internal to the library: dl-export.c and
 * dl-backup.c.
 */
#ifndef DL_PIT_H
#define DL_PIT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "dl-lvm.h"
#include "dl-nl.h"

struct dl_pit {
	char dev[DL_NL_DEV_NAME_LEN];
	char params[512];	/* NAME's own table */
	uint64_t sectors;
	uint32_t data_major, data_minor;
	char origin[DL_NL_DEV_NAME_LEN + 8], snap[DL_NL_DEV_NAME_LEN + 8];
	char path[PATH_MAX];	/* the snapshot's node */
	bool origin_made, reloaded, snap_made;
	bool lvm_mode;		/* an LVM snapshot (--lvm) instead */
	struct dl_lvm lvm;
};

/*
 * dl_pit_take() - build the snapshot of @dev (store @cow, or a temporary
 * file of @cow_bytes) and call @instant(@arg) while @dev is suspended.  On
 * failure everything built is removed again.  p->path is the snapshot's
 * node.
 */
int dl_pit_take(struct dl_pit *p, const char *dev, const char *cow,
		uint64_t cow_bytes,
		int (*instant)(void *arg, char *err, size_t errlen), void *arg,
		char *err, size_t errlen);

/* dl_pit_take_lvm() - the same with an LVM snapshot of the data LV. */
int dl_pit_take_lvm(struct dl_pit *p, const char *dev, uint64_t cow_bytes,
		    bool cow_default,
		    int (*instant)(void *arg, char *err, size_t errlen),
		    void *arg, char *err, size_t errlen);

/* dl_pit_release() - put @dev back on its data device, remove the rest. */
int dl_pit_release(struct dl_pit *p, char *err, size_t errlen);

#endif /* DL_PIT_H */
