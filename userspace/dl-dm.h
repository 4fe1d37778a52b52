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
 * dl_dm_create() - load and resume a one-target dirtylog table covering the
 * whole data device.  On failure returns -1 with a reason in @err.
 */
int dl_dm_create(const char *name, const char *metadata, const char *data,
		 uint32_t block_sectors, char *err, size_t errlen);

/* dl_dm_remove() - remove a device.  Returns 0 or -1 with @err. */
int dl_dm_remove(const char *name, char *err, size_t errlen);

/*
 * dl_dm_info() - fetch table and status of one dirtylog device.  Returns 0,
 * 1 when the device exists but is not a dirtylog device, or -1 with @err.
 */
int dl_dm_info(const char *name, struct dl_dm_info *info, char *err,
	       size_t errlen);

/*
 * dl_dm_list() - call @fn for every dirtylog device.  Returns the number of
 * devices or -1 with @err.
 */
int dl_dm_list(void (*fn)(const struct dl_dm_info *info, void *arg), void *arg,
	       char *err, size_t errlen);

/* dl_blockdev_size() - size of a block device in bytes, or -1 with @err. */
int dl_blockdev_size(const char *path, uint64_t *bytes, char *err,
		     size_t errlen);

#endif /* DL_DM_H */
