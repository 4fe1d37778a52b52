// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device-mapper access through libdevmapper.  Nodes under /dev/mapper are
 * synchronised with udev when udev runs (udev cookies); without udev,
 * libdevmapper creates them itself.
 */
#include "dl-dm.h"
#include "dl-util.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libdevmapper.h>
#include <linux/dm-ioctl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * Why device-mapper refused @dmt: the ioctl's errno, else why the control
 * node cannot be opened (libdevmapper reports that only in its log).
 */
static int dm_errno(struct dm_task *dmt, int dflt)
{
	int e = dm_task_get_errno(dmt);

	if (e)
		return e;
	if (access("/dev/mapper/control", R_OK | W_OK))
		return errno == EACCES || errno == EPERM ? errno : EIO;
	return dflt;
}

/*
 * dm_task_create() failed: say why.  libdevmapper keeps the reason in its
 * log, so ask the control node ourselves: can it be opened, and does it
 * answer a version query (which needs CAP_SYS_ADMIN)?
 */
static int dm_unavailable(char *err, size_t errlen)
{
	struct dm_ioctl io = {
		.version = { DM_VERSION_MAJOR, 0, 0 },
		.data_size = sizeof(io),
	};
	int fd = open("/dev/mapper/control", O_RDWR | O_CLOEXEC), e = 0;

	/* No control node is no device-mapper, not a missing device. */
	if (fd < 0)
		return dl_fail(err, errlen, errno == EACCES || errno == EPERM ? errno : EIO,
			    "cannot open /dev/mapper/control: %s", strerror(errno));
	if (ioctl(fd, DM_VERSION, &io) < 0)
		e = errno;
	close(fd);
	if (e)
		return dl_fail(err, errlen, e, "device-mapper refused: %s", strerror(e));
	return dl_fail(err, errlen, ENOMEM, "out of memory");
}

/* Is the dirtylog target registered with device-mapper? */
static bool dl_dm_have_target(void)
{
	struct dm_versions *v, *last;
	struct dm_task *dmt;
	bool found = false;

	dmt = dm_task_create(DM_DEVICE_LIST_VERSIONS);
	if (!dmt)
		return true;	/* cannot tell: let the real error speak */
	if (!dm_task_run(dmt)) {
		dm_task_destroy(dmt);
		return true;
	}
	v = dm_task_get_versions(dmt);
	do {
		last = v;
		if (!strcmp(v->name, DL_TARGET_NAME))
			found = true;
		v = (struct dm_versions *)((char *)v + v->next);
	} while (last != v && !found);
	dm_task_destroy(dmt);
	return found;
}

/* Silence libdevmapper's own logging: every failure is reported by us. */
static void dl_dm_quiet_log(int level, const char *file, int line,
			    int dm_errno_or_class, const char *f, ...)
{
	(void)level;
	(void)file;
	(void)line;
	(void)dm_errno_or_class;
	(void)f;
}

static void dl_dm_init(void)
{
	static bool done;

	if (done)
		return;
	dm_log_with_errno_init(dl_dm_quiet_log);
	done = true;
}

/* Run @dmt, waiting for udev when it runs.  Returns true on success. */
static bool dl_dm_run(struct dm_task *dmt, bool udev_cookie)
{
	uint32_t cookie = 0;
	bool ok;

	if (udev_cookie && !dm_task_set_cookie(dmt, &cookie, 0))
		return false;
	ok = dm_task_run(dmt);
	if (udev_cookie)
		dm_udev_wait(cookie);
	return ok;
}

int dl_blockdev_size(const char *path, uint64_t *bytes, char *err,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", path,
			    strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, bytes) < 0)
		r = dl_fail(err, errlen, errno, "cannot get size of %s: %s", path,
			 strerror(errno));
	close(fd);
	return r;
}

/* Does a device-mapper device called @name exist?  1, 0, or -1 if unknown. */
static int dl_dm_exists(const char *name)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
	struct dm_info info;
	int r = -1;

	if (!dmt)
		return -1;
	if (dm_task_set_name(dmt, name) && dm_task_run(dmt) &&
	    dm_task_get_info(dmt, &info))
		r = info.exists ? 1 : 0;
	dm_task_destroy(dmt);
	return r;
}

int dl_zero_superblock(const char *path, char *err, size_t errlen)
{
	void *buf = NULL;
	int fd, r = 0;

	/* O_EXCL: refused while anything (a mounted fs, a dm table) holds it. */
	fd = open(path, O_WRONLY | O_EXCL | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s for formatting: %s",
			    path, strerror(errno));
	if (posix_memalign(&buf, 4096, 4096)) {
		close(fd);
		return dl_fail(err, errlen, ENOMEM, "out of memory");
	}
	memset(buf, 0, 4096);
	if (pwrite(fd, buf, 4096, 0) != 4096)
		r = dl_fail(err, errlen, errno ? errno : EIO, "cannot clear the superblock of %s: %s",
			 path, strerror(errno ? errno : EIO));
	else if (fsync(fd))
		r = dl_fail(err, errlen, errno, "cannot flush %s: %s", path, strerror(errno));
	free(buf);
	close(fd);
	return r;
}

int dl_dm_create(const char *name, const char *metadata, const char *data,
		 uint32_t block_sectors, char *err, size_t errlen)
{
	struct dm_task *dmt;
	uint64_t bytes;
	char params[1024];
	int r, e;

	dl_dm_init();
	r = dl_blockdev_size(data, &bytes, err, errlen);
	if (r)
		return r;
	if (bytes < 512)
		return dl_fail(err, errlen, EINVAL, "data device %s is empty", data);
	if (snprintf(params, sizeof(params), "%s %s %" PRIu32, metadata, data,
		     block_sectors) >= (int)sizeof(params))
		return dl_fail(err, errlen, ENAMETOOLONG, "device paths too long");

	r = dl_dm_exists(name);
	if (r > 0)
		return dl_fail(err, errlen, EEXIST, "a device named %s exists already", name);
	dmt = dm_task_create(DM_DEVICE_CREATE);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) ||
	    !dm_task_add_target(dmt, 0, bytes >> 9, DL_TARGET_NAME, params)) {
		r = dl_fail(err, errlen, EINVAL, "invalid device name or table");
		goto out;
	}
	if (!dl_dm_run(dmt, true)) {
		e = dm_errno(dmt, EINVAL);
		if (e == EEXIST)
			r = dl_fail(err, errlen, e, "a device named %s exists already", name);
		else if (e == EINVAL && !dl_dm_have_target())
			r = dl_fail(err, errlen, DL_DM_ENOTARGET,
				 "the dirtylog target is not available: dm-dirtylog module not loaded");
		else
			r = dl_fail(err, errlen, e,
				 "device-mapper refused the table (see the kernel log for the target's reason): %s",
				 strerror(e));
		goto out;
	}
	r = 0;
out:
	dm_task_destroy(dmt);
	return r;
}

int dl_dm_remove(const char *name, char *err, size_t errlen)
{
	struct dl_dm_info info;
	struct dm_task *dmt;
	int r;

	r = dl_dm_info(name, &info, err, errlen);
	if (r < 0)
		return r;
	if (r > 0)
		return dl_fail(err, errlen, EINVAL, "%s is not a dirtylog device", name);

	dmt = dm_task_create(DM_DEVICE_REMOVE);
	if (!dmt)
		return dm_unavailable(err, errlen);
	r = 0;
	if (!dm_task_set_name(dmt, name) || !dl_dm_run(dmt, true))
		r = dl_fail(err, errlen, dm_errno(dmt, EBUSY), "cannot remove %s: %s",
			 name, strerror(dm_errno(dmt, EBUSY)));
	dm_task_destroy(dmt);
	return r;
}

/* Read the single target's type and parameters of @name for @type. */
static int dl_dm_query(const char *name, int type, struct dl_dm_info *info,
		       char *buf, size_t buflen, char *err, size_t errlen)
{
	uint64_t start, length;
	char *target_type = NULL, *params = NULL;
	struct dm_info dinfo;
	struct dm_task *dmt;
	int r;

	dmt = dm_task_create(type);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, &dinfo)) {
		r = dl_fail(err, errlen, dm_errno(dmt, EIO), "cannot query %s: %s",
			 name, strerror(dm_errno(dmt, EIO)));
		goto out;
	}
	if (!dinfo.exists) {
		r = dl_fail(err, errlen, ENODEV, "no such device: %s", name);
		goto out;
	}
	info->major = dinfo.major;
	info->minor = dinfo.minor;
	dm_get_next_target(dmt, NULL, &start, &length, &target_type, &params);
	if (!target_type || strcmp(target_type, DL_TARGET_NAME)) {
		r = 1;
		goto out;
	}
	info->length = length;
	snprintf(buf, buflen, "%s", params ? params : "");
	r = 0;
out:
	dm_task_destroy(dmt);
	return r;
}

int dl_dm_info(const char *name, struct dl_dm_info *info, char *err,
	       size_t errlen)
{
	int r;

	dl_dm_init();
	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", name);
	r = dl_dm_query(name, DM_DEVICE_TABLE, info, info->table,
			sizeof(info->table), err, errlen);
	if (r)
		return r;
	return dl_dm_query(name, DM_DEVICE_STATUS, info, info->status,
			   sizeof(info->status), err, errlen);
}

int dl_dm_list(void (*fn)(const struct dl_dm_info *info, void *arg), void *arg,
	       char *err, size_t errlen)
{
	struct dm_names *names;
	struct dm_task *dmt;
	struct dl_dm_info info;
	unsigned int next = 0;
	int count = 0;

	dl_dm_init();
	dmt = dm_task_create(DM_DEVICE_LIST);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_run(dmt) || !(names = dm_task_get_names(dmt))) {
		count = dl_fail(err, errlen, dm_errno(dmt, EIO),
			     "cannot list device-mapper devices (is dm-mod loaded?)");
		dm_task_destroy(dmt);
		return count;
	}
	if (names->dev) {
		do {
			names = (struct dm_names *)((char *)names + next);
			if (dl_dm_info(names->name, &info, err, errlen) == 0) {
				fn(&info, arg);
				count++;
			}
			next = names->next;
		} while (next);
	}
	dm_task_destroy(dmt);
	return count;
}

int dl_dm_message(const char *name, const char *msg, char **response,
		  char *err, size_t errlen)
{
	struct dm_task *dmt;
	const char *out;
	int r = 0;

	dl_dm_init();
	if (response)
		*response = NULL;
	dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) || !dm_task_set_sector(dmt, 0) ||
	    !dm_task_set_message(dmt, msg)) {
		r = dl_fail(err, errlen, EINVAL, "invalid device name or message");
		goto out;
	}
	if (!dm_task_run(dmt)) {
		r = dl_fail(err, errlen, dm_errno(dmt, EIO),
			 "message '%s' to %s failed: %s", msg, name,
			 strerror(dm_errno(dmt, EIO)));
		goto out;
	}
	if (response) {
		out = dm_task_get_message_response(dmt);
		*response = strdup(out ? out : "");
		if (!*response)
			r = dl_fail(err, errlen, ENOMEM, "out of memory");
	}
out:
	dm_task_destroy(dmt);
	return r;
}

/* Run a task of @type on @name; @udev: wait for udev. */
static int dl_dm_simple(int type, const char *name, bool udev, const char *what,
			char *err, size_t errlen)
{
	struct dm_task *dmt;
	int r = 0, e;

	dl_dm_init();
	dmt = dm_task_create(type);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name)) {
		r = dl_fail(err, errlen, EINVAL, "invalid device name %s", name);
	} else if (!dl_dm_run(dmt, udev)) {
		e = dm_errno(dmt, EIO);
		r = dl_fail(err, errlen, e, "cannot %s %s: %s", what, name, strerror(e));
	}
	dm_task_destroy(dmt);
	return r;
}

static int dl_dm_load(int type, const char *name, const char *target,
		      const char *params, uint64_t sectors, char *err,
		      size_t errlen)
{
	struct dm_task *dmt;
	int r = 0, e;

	dl_dm_init();
	if (type == DM_DEVICE_CREATE && dl_dm_exists(name) > 0)
		return dl_fail(err, errlen, EEXIST, "a device named %s exists already", name);
	dmt = dm_task_create(type);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) ||
	    !dm_task_add_target(dmt, 0, sectors, target, params)) {
		r = dl_fail(err, errlen, EINVAL, "invalid device name or table");
	} else if (!dl_dm_run(dmt, type == DM_DEVICE_CREATE)) {
		e = dm_errno(dmt, EINVAL);
		r = dl_fail(err, errlen, e,
			 "device-mapper refused the %s table for %s (see the kernel log): %s",
			 target, name, strerror(e));
	}
	dm_task_destroy(dmt);
	return r;
}

int dl_dm_create_table(const char *name, const char *target, const char *params,
		       uint64_t sectors, char *err, size_t errlen)
{
	return dl_dm_load(DM_DEVICE_CREATE, name, target, params, sectors, err,
			  errlen);
}

int dl_dm_reload(const char *name, const char *target, const char *params,
		 uint64_t sectors, char *err, size_t errlen)
{
	return dl_dm_load(DM_DEVICE_RELOAD, name, target, params, sectors, err,
			  errlen);
}

int dl_dm_suspend(const char *name, char *err, size_t errlen)
{
	return dl_dm_simple(DM_DEVICE_SUSPEND, name, false, "suspend", err, errlen);
}

int dl_dm_resume(const char *name, char *err, size_t errlen)
{
	return dl_dm_simple(DM_DEVICE_RESUME, name, true, "resume", err, errlen);
}

int dl_dm_remove_any(const char *name, char *err, size_t errlen)
{
	int r = 0;

	/* udev may still be probing a device it just saw: retry EBUSY. */
	for (int i = 0; i < 50; i++) {
		r = dl_dm_simple(DM_DEVICE_REMOVE, name, true, "remove", err, errlen);
		if (r != -EBUSY)
			break;
		usleep(100000);
	}
	return r;
}

/* The dm_info of an existing device @name. */
static int dl_dm_dev_info(const char *name, struct dm_info *info, char *err,
			  size_t errlen)
{
	struct dm_task *dmt;
	int r = 0;

	dl_dm_init();
	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, info))
		r = dl_fail(err, errlen, dm_errno(dmt, EIO), "cannot query %s: %s",
			    name, strerror(dm_errno(dmt, EIO)));
	else if (!info->exists)
		r = dl_fail(err, errlen, ENODEV, "no such device: %s", name);
	dm_task_destroy(dmt);
	return r;
}

int dl_dm_open_count(const char *name, int *count, char *err, size_t errlen)
{
	struct dm_info info;
	int r = dl_dm_dev_info(name, &info, err, errlen);

	if (!r)
		*count = info.open_count;
	return r;
}

int dl_dm_devnum(const char *name, uint32_t *major, uint32_t *minor,
		 char *err, size_t errlen)
{
	struct dm_info info;
	int r = dl_dm_dev_info(name, &info, err, errlen);

	if (!r) {
		*major = info.major;
		*minor = info.minor;
	}
	return r;
}

int dl_dm_state(const char *name, bool *suspended, bool *inactive, char *err,
		size_t errlen)
{
	struct dm_info info;
	int r = dl_dm_dev_info(name, &info, err, errlen);

	if (!r) {
		*suspended = info.suspended;
		*inactive = info.inactive_table;
	}
	return r;
}

int dl_dm_clear(const char *name, char *err, size_t errlen)
{
	return dl_dm_simple(DM_DEVICE_CLEAR, name, false, "clear the inactive table of",
			    err, errlen);
}

int dl_dm_name_uuid(uint32_t major, uint32_t minor, char *name, size_t namelen,
		    char *uuid, size_t uuidlen, char *err, size_t errlen)
{
	struct dm_task *dmt;
	struct dm_info info;
	const char *u;
	int r = 0;

	dl_dm_init();
	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_major(dmt, (int)major) || !dm_task_set_minor(dmt, (int)minor) ||
	    !dm_task_run(dmt) || !dm_task_get_info(dmt, &info)) {
		r = dm_errno(dmt, EIO);
		/* Not a device-mapper device at all. */
		r = r == ENXIO || r == ENODEV || r == ENOENT ? -ENODEV :
			dl_fail(err, errlen, r, "cannot query device %u:%u: %s",
			     major, minor, strerror(r));
	} else if (!info.exists) {
		r = -ENODEV;
	} else {
		snprintf(name, namelen, "%s", dm_task_get_name(dmt));
		u = dm_task_get_uuid(dmt);
		snprintf(uuid, uuidlen, "%s", u ? u : "");
	}
	if (r == -ENODEV)
		dl_fail(err, errlen, ENODEV, "%u:%u is not a device-mapper device",
		     major, minor);
	dm_task_destroy(dmt);
	return r;
}

int dl_dm_table(const char *name, char *target, size_t targetlen,
		char *params, size_t paramslen, uint64_t *sectors,
		char *err, size_t errlen)
{
	uint64_t start, length;
	char *type = NULL, *p = NULL;
	struct dm_info info;
	struct dm_task *dmt;
	int r = 0;

	dl_dm_init();
	dmt = dm_task_create(DM_DEVICE_TABLE);
	if (!dmt)
		return dm_unavailable(err, errlen);
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) ||
	    !dm_task_get_info(dmt, &info)) {
		r = dl_fail(err, errlen, dm_errno(dmt, EIO), "cannot query %s: %s",
			 name, strerror(dm_errno(dmt, EIO)));
		goto out;
	}
	if (!info.exists) {
		r = dl_fail(err, errlen, ENODEV, "no such device: %s", name);
		goto out;
	}
	if (dm_get_next_target(dmt, NULL, &start, &length, &type, &p) || !type) {
		r = dl_fail(err, errlen, EINVAL, "%s does not have exactly one target", name);
		goto out;
	}
	snprintf(target, targetlen, "%s", type);
	if (snprintf(params, paramslen, "%s", p ? p : "") >= (int)paramslen)
		r = dl_fail(err, errlen, E2BIG, "table of %s too long", name);
	*sectors = length;
out:
	dm_task_destroy(dmt);
	return r;
}

int dl_loop_attach(const char *path, char *dev, size_t devlen, int *hold,
		   char *err, size_t errlen)
{
	struct loop_config cfg;
	int ctl, fd, lfd, n, r = 0;

	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", path, strerror(errno));
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		r = dl_fail(err, errlen, errno, "cannot open /dev/loop-control: %s",
			 strerror(errno));
		goto out_fd;
	}
	for (int tries = 0; tries < 10; tries++) {
		n = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (n < 0) {
			r = dl_fail(err, errlen, errno, "no free loop device: %s", strerror(errno));
			break;
		}
		snprintf(dev, devlen, "/dev/loop%d", n);
		lfd = open(dev, O_RDWR | O_CLOEXEC);
		if (lfd < 0) {
			r = dl_fail(err, errlen, errno, "cannot open %s: %s", dev, strerror(errno));
			break;
		}
		memset(&cfg, 0, sizeof(cfg));
		cfg.fd = fd;
		cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
		r = ioctl(lfd, LOOP_CONFIGURE, &cfg);
		if (!r) {
			*hold = lfd;
			break;
		}
		close(lfd);
		r = dl_fail(err, errlen, errno, "cannot attach %s to %s: %s", path, dev,
			 strerror(errno));
		if (r != -EBUSY)
			break;	/* EBUSY: another user took it first */
	}
	close(ctl);
out_fd:
	close(fd);
	return r;
}

/* Layers dl_sits_on() looks through at most. */
#define DL_STACK_DEPTH	16
/* Devices one dl_sits_on() walk visits at most. */
#define DL_STACK_SEEN	256

struct stack_walk {
	const char *sysroot;
	uint32_t tmaj, tmin;
	unsigned int nseen;
	uint32_t seen[DL_STACK_SEEN][2];
};

/* Has the walk been below @maj:@min already?  Records it if not. */
static bool walk_seen(struct stack_walk *w, uint32_t maj, uint32_t min)
{
	unsigned int i;

	for (i = 0; i < w->nseen; i++)
		if (w->seen[i][0] == maj && w->seen[i][1] == min)
			return true;
	if (w->nseen == DL_STACK_SEEN)
		return true;		/* enough: look no further */
	w->seen[w->nseen][0] = maj;
	w->seen[w->nseen][1] = min;
	w->nseen++;
	return false;
}

static bool sits_on(struct stack_walk *w, uint32_t maj, uint32_t min,
		    unsigned int depth)
{
	char path[PATH_MAX], devpath[PATH_MAX + 512];
	unsigned int smaj, smin;
	struct dirent *de;
	bool found = false;
	DIR *dir;
	FILE *f;

	if (!depth || walk_seen(w, maj, min))
		return false;
	snprintf(path, sizeof(path), "%s/dev/block/%u:%u/slaves", w->sysroot,
		 maj, min);
	dir = opendir(path);
	if (!dir)
		return false;
	while (!found && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(devpath, sizeof(devpath), "%s/%s/dev", path, de->d_name);
		f = fopen(devpath, "r");
		if (!f)
			continue;
		if (fscanf(f, "%u:%u", &smaj, &smin) == 2)
			found = (smaj == w->tmaj && smin == w->tmin) ||
				sits_on(w, smaj, smin, depth - 1);
		fclose(f);
	}
	closedir(dir);
	return found;
}

bool dl_sits_on(const char *sysroot, uint32_t maj, uint32_t min,
		uint32_t tmaj, uint32_t tmin)
{
	struct stack_walk *w = calloc(1, sizeof(*w));
	bool r;

	if (!w)
		return false;
	w->sysroot = sysroot;
	w->tmaj = tmaj;
	w->tmin = tmin;
	r = sits_on(w, maj, min, DL_STACK_DEPTH);
	free(w);
	return r;
}

int dl_stack_order(const char *sysroot, const uint32_t (*devs)[2], unsigned int n,
		   unsigned int *order)
{
	bool *done = calloc(n ? n : 1, sizeof(*done));
	unsigned int k, i, j;

	if (!done)
		return -ENOMEM;
	for (k = 0; k < n; k++) {
		/* The first device in the given order that nothing left sits on. */
		for (i = 0; i < n; i++) {
			if (done[i])
				continue;
			for (j = 0; j < n; j++)
				if (j != i && !done[j] &&
				    dl_sits_on(sysroot, devs[j][0], devs[j][1],
					       devs[i][0], devs[i][1]))
					break;
			if (j == n)
				break;
		}
		if (i == n) {
			free(done);
			return -ELOOP;
		}
		done[i] = true;
		order[k] = i;
	}
	free(done);
	return 0;
}
