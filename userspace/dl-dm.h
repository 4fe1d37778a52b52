/* SPDX-License-Identifier: GPL-2.0-only */
/* libdevmapper calls used by dirtylogctl. */
#ifndef DL_DM_H
#define DL_DM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <linux/dm-dirtylog.h>

#define DL_TARGET_NAME DM_DIRTYLOG_TARGET_NAME

/* One dirtylog device as reported by device-mapper. */
struct dl_dm_info {
	char name[128];
	uint32_t major, minor;
	uint64_t length;	/* sectors */
	char table[512];	/* target parameters (STATUSTYPE_TABLE) */
	char status[512];	/* target status (STATUSTYPE_INFO) */
};

/*
 * Every call returns 0 or -errno with a reason in @err: ENOENT, ENXIO or
 * ENODEV for a missing device, EPERM or EACCES without the privilege,
 * EEXIST for a name in use, DL_DM_ENOTARGET when the dirtylog target is
 * not registered (the module is not loaded).
 */
#define DL_DM_ENOTARGET		ENOPKG

/*
 * dl_dm_create() - load and resume a one-target dirtylog table covering the
 * whole data device.
 */
int dl_dm_create(const char *name, const char *metadata, const char *data,
		 uint32_t block_sectors, char *err, size_t errlen);

/* dl_dm_remove() - remove a dirtylog device (-EINVAL for another kind). */
int dl_dm_remove(const char *name, char *err, size_t errlen);

/*
 * dl_dm_info() - fetch table and status of one dirtylog device.  Returns 0,
 * 1 when the device exists but is not a dirtylog device, or -errno.
 */
int dl_dm_info(const char *name, struct dl_dm_info *info, char *err,
	       size_t errlen);

/*
 * dl_dm_list() - call @fn for every dirtylog device.  Returns the number of
 * devices or -errno.
 */
int dl_dm_list(void (*fn)(const struct dl_dm_info *info, void *arg), void *arg,
	       char *err, size_t errlen);

/*
 * dl_dm_message() - send a target message (as "dmsetup message NAME 0 MSG")
 * to sector 0 of @name.  On success returns 0 and, when @response is not
 * NULL, stores a malloc'ed copy of the target's text answer (possibly
 * empty) that the caller frees.  On failure returns -errno from the kernel
 * (or -EINVAL/-ENOMEM) with a reason in @err.
 */
int dl_dm_message(const char *name, const char *msg, char **response,
		  char *err, size_t errlen);

/*
 * dl_zero_superblock() - zero the first 4 KiB of a metadata device so the
 * next table load formats it afresh (every checkpoint on it is lost).
 * Opens the device exclusively: refused (EBUSY) while anything holds it.
 */
int dl_zero_superblock(const char *path, char *err, size_t errlen);

/* dl_blockdev_size() - size of a block device in bytes. */
int dl_blockdev_size(const char *path, uint64_t *bytes, char *err,
		     size_t errlen);

#endif /* DL_DM_H */
