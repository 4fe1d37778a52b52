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

/*
 * Generic table operations, for the stacking an export builds (a
 * snapshot-origin and a snapshot under the dirtylog device).  @target and
 * @params make a one-target table of @sectors sectors.
 *
 * dl_dm_create_table() - create device @name with that table, live.
 * dl_dm_reload() - load it as @name's inactive table (live at resume).
 * dl_dm_suspend() - suspend @name, flushing what is in flight.
 * dl_dm_resume() - resume @name (swapping in an inactive table).
 * dl_dm_remove_any() - remove @name, whatever its target (retried a few
 *	times while udev still holds it open).
 * dl_dm_devnum() - the device number of @name.
 * dl_dm_table() - the single target's type and parameters of @name.
 * dl_dm_open_count() - how many openers @name has (mounts, holders, fds).
 */
int dl_dm_create_table(const char *name, const char *target, const char *params,
		       uint64_t sectors, char *err, size_t errlen);
int dl_dm_reload(const char *name, const char *target, const char *params,
		 uint64_t sectors, char *err, size_t errlen);
int dl_dm_suspend(const char *name, char *err, size_t errlen);
int dl_dm_resume(const char *name, char *err, size_t errlen);
int dl_dm_remove_any(const char *name, char *err, size_t errlen);
int dl_dm_devnum(const char *name, uint32_t *major, uint32_t *minor,
		 char *err, size_t errlen);
/* Is @name suspended, does it have an inactive (loaded) table? */
int dl_dm_state(const char *name, bool *suspended, bool *inactive, char *err,
		size_t errlen);
/* Drop the inactive table of @name ("dmsetup clear"). */
int dl_dm_clear(const char *name, char *err, size_t errlen);
int dl_dm_open_count(const char *name, int *count, char *err, size_t errlen);
int dl_dm_table(const char *name, char *target, size_t targetlen,
		char *params, size_t paramslen, uint64_t *sectors,
		char *err, size_t errlen);

/*
 * dl_dm_name_uuid() - the dm name and uuid (empty when it has none) of the
 * device @major:@minor.  -ENODEV when it is not a device-mapper device.
 */
int dl_dm_name_uuid(uint32_t major, uint32_t minor, char *name, size_t namelen,
		    char *uuid, size_t uuidlen, char *err, size_t errlen);

/*
 * dl_loop_attach() - attach the regular file @path to a free loop device
 * (autoclear: it goes away when its last user closes it) and store its
 * path in @dev and an open descriptor of it in @hold: close that once the
 * device has another user (a dm table), or the loop device is gone at once.
 */
int dl_loop_attach(const char *path, char *dev, size_t devlen, int *hold,
		   char *err, size_t errlen);

/*
 * dl_sits_on() - does block device @maj:@min sit on @tmaj:@tmin, directly or
 * through any number of layers, as the "slaves" directories of sysfs say?
 * @sysroot is "/sys" (a test passes a tree of its own).  Looks at most 16
 * layers deep.
 */
bool dl_sits_on(const char *sysroot, uint32_t maj, uint32_t min,
		uint32_t tmaj, uint32_t tmin);

/*
 * dl_stack_order() - order @n devices (@devs[i][0] major, [1] minor) so that
 * a device that sits on another one comes before it, keeping the given
 * order otherwise; @order gets the permutation.  Returns 0, or -ELOOP when
 * two sit on each other.
 */
int dl_stack_order(const char *sysroot, const uint32_t (*devs)[2], unsigned int n,
		   unsigned int *order);

#endif /* DL_DM_H */
