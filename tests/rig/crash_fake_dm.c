// SPDX-License-Identifier: GPL-2.0-only
/*
 * A userspace stand-in for the dirtylog target, for the crash test's own
 * self-test (DL_CRASH_FAKE=all|none tests/rig/test_crash_03.sh): linked into
 * tests/vm/dl_crashload.c in place of userspace/dl-dm.c.  The device is a
 * dm-linear mapping of the data disk; checkpoints live in one 4 KiB block
 * at the start of the metadata disk, written synchronously.  Every dirty
 * set is the whole device (DL_FAKE_DIRTY_NONE: empty), so the verifier
 * must pass (must fail) against it.  Only what dl_crashload calls is here.
 */
#include "dl-dm.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define FAKE_MAGIC	0x454b4146474f4c44ULL	/* "DLOGFAKE" */
#define FAKE_MAX	64
#define FAKE_BLOCK	4096

struct fake_cp {
	char name[32];
	uint64_t id;
	uint64_t ctime;
};

struct fake_sb {
	uint64_t magic;
	uint64_t latest_id;
	uint64_t n;
	struct fake_cp cp[FAKE_MAX];
};

_Static_assert(sizeof(struct fake_sb) <= FAKE_BLOCK, "fake superblock");

static char fake_meta[256];
static uint64_t fake_blocks;
static uint32_t fake_block_sectors;

static int fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return r;
}

int dl_blockdev_size(const char *path, uint64_t *bytes, char *err,
		     size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return fail(err, errlen, -EIO, "cannot open %s: %s", path,
			    strerror(errno));
	if (ioctl(fd, BLKGETSIZE64, bytes) < 0)
		r = fail(err, errlen, -EIO, "cannot get size of %s", path);
	close(fd);
	return r;
}

static int sb_io(struct fake_sb *sb, bool write)
{
	void *buf;
	int fd, r = -EIO;

	if (posix_memalign(&buf, FAKE_BLOCK, FAKE_BLOCK))
		return -ENOMEM;
	fd = open(fake_meta, (write ? O_WRONLY : O_RDONLY) | O_DIRECT | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if (write) {
		memset(buf, 0, FAKE_BLOCK);
		memcpy(buf, sb, sizeof(*sb));
		if (pwrite(fd, buf, FAKE_BLOCK, 0) == FAKE_BLOCK && !fdatasync(fd))
			r = 0;
	} else if (pread(fd, buf, FAKE_BLOCK, 0) == FAKE_BLOCK) {
		memcpy(sb, buf, sizeof(*sb));
		if (sb->magic != FAKE_MAGIC) {	/* fresh: all zero */
			memset(sb, 0, sizeof(*sb));
			sb->magic = FAKE_MAGIC;
		}
		r = 0;
	}
	close(fd);
out:
	free(buf);
	return r;
}

int dl_dm_create(const char *name, const char *metadata, const char *data,
		 uint32_t block_sectors, char *err, size_t errlen)
{
	struct fake_sb sb;
	uint64_t bytes;
	char cmd[768];

	if (dl_blockdev_size(data, &bytes, err, errlen))
		return -EIO;
	snprintf(fake_meta, sizeof(fake_meta), "%s", metadata);
	fake_block_sectors = block_sectors;
	fake_blocks = ((bytes >> 9) + block_sectors - 1) / block_sectors;
	if (sb_io(&sb, false))
		return fail(err, errlen, -EIO, "fake: cannot read %s", metadata);
	snprintf(cmd, sizeof(cmd),
		 "dmsetup create %s --table '0 %" PRIu64 " linear %s 0' && dmsetup mknodes %s",
		 name, bytes >> 9, data, name);
	if (system(cmd))
		return fail(err, errlen, -EIO, "fake: '%s' failed", cmd);
	return 0;
}

int dl_dm_remove(const char *name, char *err, size_t errlen)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "dmsetup remove %s", name);
	if (system(cmd))
		return fail(err, errlen, -EIO, "fake: '%s' failed", cmd);
	return 0;
}

int dl_dm_info(const char *name, struct dl_dm_info *info, char *err,
	       size_t errlen)
{
	struct fake_sb sb;

	memset(info, 0, sizeof(*info));
	snprintf(info->name, sizeof(info->name), "%s", name);
	if (sb_io(&sb, false))
		return fail(err, errlen, -EIO, "fake: cannot read %s", fake_meta);
	info->length = fake_blocks * fake_block_sectors;
	snprintf(info->status, sizeof(info->status),
		 "%" PRIu32 " %" PRIu64 " 0 %" PRIu64 " %" PRIu64 " 1/1 rw",
		 fake_block_sectors, fake_blocks, sb.n, sb.latest_id);
	return 0;
}

static int find(const struct fake_sb *sb, const char *name)
{
	for (uint64_t i = 0; i < sb->n; i++)
		if (!strcmp(sb->cp[i].name, name))
			return (int)i;
	return -1;
}

int dl_dm_message(const char *name, const char *msg, char **response,
		  char *err, size_t errlen)
{
	struct fake_sb sb;
	char arg[64] = "", out[8192] = "";
	size_t len = 0;
	int i, r = 0;

	(void)name;
	if (response)
		*response = NULL;
	if (sb_io(&sb, false))
		return fail(err, errlen, -EIO, "fake: cannot read %s", fake_meta);
	if (sscanf(msg, "checkpoint %31s", arg) == 1) {
		struct timespec ts;

		if (find(&sb, arg) >= 0)
			return fail(err, errlen, -EEXIST, "fake: %s exists", arg);
		if (sb.n == FAKE_MAX)
			return fail(err, errlen, -ENOSPC, "fake: table full");
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(sb.cp[sb.n].name, sizeof(sb.cp[sb.n].name), "%s", arg);
		sb.cp[sb.n].id = ++sb.latest_id;
		sb.cp[sb.n].ctime = (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
		sb.n++;
		r = sb_io(&sb, true);
		snprintf(out, sizeof(out), "%" PRIu64, sb.latest_id);
	} else if (sscanf(msg, "delete_checkpoint %31s", arg) == 1) {
		i = find(&sb, arg);
		if (i < 0)
			return fail(err, errlen, -ENOENT, "fake: no %s", arg);
		memmove(&sb.cp[i], &sb.cp[i + 1], (sb.n - i - 1) * sizeof(sb.cp[0]));
		sb.n--;
		r = sb_io(&sb, true);
	} else if (!strcmp(msg, "list_checkpoints")) {
		for (uint64_t j = 0; j < sb.n; j++)
			len += snprintf(out + len, sizeof(out) - len,
					"%s %" PRIu64 " %" PRIu64 "\n",
					sb.cp[j].name, sb.cp[j].id, sb.cp[j].ctime);
	} else if (sscanf(msg, "dirty %31s", arg) == 1) {
		if (find(&sb, arg) < 0)
			return fail(err, errlen, -ENOENT, "fake: no %s", arg);
#ifndef DL_FAKE_DIRTY_NONE
		snprintf(out, sizeof(out), "0 %" PRIu64 "\n", fake_blocks);
#endif
	} else {
		return fail(err, errlen, -EINVAL, "fake: unknown message '%s'", msg);
	}
	if (r)
		return fail(err, errlen, r, "fake: cannot write %s", fake_meta);
	if (response) {
		*response = strdup(out);
		if (!*response)
			return fail(err, errlen, -ENOMEM, "out of memory");
	}
	return 0;
}
