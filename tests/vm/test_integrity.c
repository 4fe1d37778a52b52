// SPDX-License-Identifier: GPL-2.0-only
/*
 * Random direct-I/O writes through a dirtylog device, created with the same
 * libdevmapper code dirtylogctl uses, checked against an in-memory model of
 * the region: reads through the target and reads of the raw data device
 * must both equal the model.  Seed printed; rerun with DL_SEED=<n>.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-dm.h"

#define REGION (64u << 20)	/* bytes of the data device exercised */
#define ALIGN 4096u
#define WRITES 400

static const char data_dev[] = "/dev/vda";
static const char meta_dev[] = "/dev/vdb";

FIXTURE(integrity) {
	unsigned char *model;
	unsigned char *buf;
	char name[32];
	char path[64];
	unsigned int seed;
};

FIXTURE_VARIANT(integrity) {
	uint32_t block_sectors;
};

FIXTURE_VARIANT_ADD(integrity, block_4k) { .block_sectors = 8 };
FIXTURE_VARIANT_ADD(integrity, block_64k) { .block_sectors = 128 };
FIXTURE_VARIANT_ADD(integrity, block_1m) { .block_sectors = 2048 };

FIXTURE_SETUP(integrity)
{
	const char *env = getenv("DL_SEED");
	char err[256];
	int fd;

	self->seed = env ? (unsigned int)strtoul(env, NULL, 0) :
			   (unsigned int)time(NULL) ^ (unsigned int)getpid();
	TH_LOG("seed %u (rerun with DL_SEED=%u)", self->seed, self->seed);
	srandom(self->seed);

	ASSERT_EQ(0, system("modprobe dm-dirtylog"));
	/* Fresh metadata: each variant uses its own block size. */
	ASSERT_EQ(0, system("dd if=/dev/zero of=/dev/vdb bs=64k count=16 oflag=direct 2>/dev/null"));
	snprintf(self->name, sizeof(self->name), "dlint%u",
		 variant->block_sectors);
	snprintf(self->path, sizeof(self->path), "/dev/mapper/%s", self->name);
	ASSERT_EQ(0, dl_dm_create(self->name, meta_dev, data_dev,
				  variant->block_sectors, err, sizeof(err)))
		TH_LOG("%s", err);

	self->model = malloc(REGION);
	ASSERT_NE(NULL, self->model);
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, ALIGN, 1u << 20));
	/* Start from the device's current content: the model is what the
	 * data device holds, read directly (not through the target). */
	fd = open(data_dev, O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	for (unsigned int off = 0; off < REGION; off += 1u << 20) {
		ASSERT_EQ(1 << 20, pread(fd, self->buf, 1u << 20, off));
		memcpy(self->model + off, self->buf, 1u << 20);
	}
	close(fd);
}

FIXTURE_TEARDOWN(integrity)
{
	char err[256];

	dl_dm_remove(self->name, err, sizeof(err));
	free(self->model);
	free(self->buf);
}

static int compare_dev(const char *path, const unsigned char *model,
		       unsigned char *buf)
{
	int fd = open(path, O_RDONLY | O_DIRECT);
	int bad = -1;

	if (fd < 0)
		return -2;
	for (unsigned int off = 0; off < REGION; off += 1u << 20) {
		if (pread(fd, buf, 1u << 20, off) != 1 << 20 ||
		    memcmp(buf, model + off, 1u << 20)) {
			bad = (int)(off >> 20);
			break;
		}
	}
	close(fd);
	return bad;
}

TEST_F(integrity, random_direct_writes_match_model)
{
	int fd = open(self->path, O_RDWR | O_DIRECT);

	ASSERT_LE(0, fd) TH_LOG("open %s", self->path);
	for (int i = 0; i < WRITES; i++) {
		uint32_t len = ALIGN * (1 + random() % 64);
		uint32_t off = ALIGN * (random() % ((REGION - len) / ALIGN));

		for (uint32_t j = 0; j < len; j += 4)
			*(uint32_t *)(self->buf + j) = (uint32_t)random();
		ASSERT_EQ((ssize_t)len, pwrite(fd, self->buf, len, off))
			TH_LOG("write %u at %u", len, off);
		memcpy(self->model + off, self->buf, len);
	}
	ASSERT_EQ(0, fsync(fd));
	close(fd);

	EXPECT_EQ(-1, compare_dev(self->path, self->model, self->buf))
		TH_LOG("read through the target differs from the model");
	EXPECT_EQ(-1, compare_dev(data_dev, self->model, self->buf))
		TH_LOG("data device differs from the model");
}

TEST_HARNESS_MAIN
