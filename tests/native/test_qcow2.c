// SPDX-License-Identifier: GPL-2.0-only
/*
 * qcow2 exports (dl-qcow2) read back by an independent little qcow2
 * reader written here from the specification: header fields, header
 * extensions and the backing name, the L1/L2 mapping of every guest
 * cluster, and the refcount of every host cluster.  Also every refusal
 * of the writer, its failed state after an I/O error, and that its
 * memory does not grow with the virtual size.  QEMU's own tools check
 * the images in tests/rig/test_qcow2_07.sh.
 *
 * Randomised tests print their seed; rerun one with DL_SEED=N.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-qcow2.h"

/* ---- helpers and the independent reader ------------------------------ */

static uint64_t rng;

static void seed_rng(void)
{
	const char *s = getenv("DL_SEED");
	uint64_t seed;

	seed = s ? strtoull(s, NULL, 0) :
		   (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	ksft_print_msg("seed %" PRIu64 " (rerun with DL_SEED=%" PRIu64 ")\n",
		       seed, seed);
	rng = seed ? seed : 1;
}

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t be(const uint8_t *p, unsigned int bytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static void read_at(struct __test_metadata *_metadata, int fd, uint64_t off,
		    void *buf, size_t len)
{
	ASSERT_EQ((ssize_t)len, pread(fd, buf, len, (off_t)off))
		TH_LOG("read of %zu bytes at %" PRIu64, len, off);
}

/* What a guest cluster is, as the reader finds it. */
enum kind { UNALLOCATED, ZERO, DATA };

struct image {
	uint64_t size, file_size;
	uint32_t cs;
	uint64_t l1_off, l1_size, rt_off, rt_clusters;
	char backing[1024];
	char backing_fmt[64];
	bool feature_table;
};

/* Parse and check the header the way a reader must: field by field. */
static void parse_header(struct __test_metadata *_metadata, int fd,
			 struct image *im)
{
	uint8_t h[4096];
	struct stat st;
	uint32_t bits;
	uint64_t p, boff, blen;

	memset(im, 0, sizeof(*im));
	ASSERT_EQ(0, fstat(fd, &st));
	im->file_size = (uint64_t)st.st_size;
	read_at(_metadata, fd, 0, h, 512);
	ASSERT_EQ(0x514649fbU, be(h, 4)) TH_LOG("magic");
	ASSERT_EQ(3, be(h + 4, 4)) TH_LOG("version");
	bits = (uint32_t)be(h + 20, 4);
	ASSERT_LE(9, bits);
	ASSERT_GE(21, bits);
	im->cs = 1U << bits;
	read_at(_metadata, fd, 0, h, im->cs < sizeof(h) ? im->cs : sizeof(h));
	im->size = be(h + 24, 8);
	EXPECT_EQ(0, be(h + 32, 4)) TH_LOG("crypt_method");
	im->l1_size = be(h + 36, 4);
	im->l1_off = be(h + 40, 8);
	im->rt_off = be(h + 48, 8);
	im->rt_clusters = be(h + 56, 4);
	EXPECT_EQ(0, be(h + 60, 4)) TH_LOG("nb_snapshots");
	EXPECT_EQ(0, be(h + 64, 8)) TH_LOG("snapshots_offset");
	EXPECT_EQ(0, be(h + 72, 8)) TH_LOG("incompatible features (dirty, corrupt...)");
	EXPECT_EQ(0, be(h + 80, 8)) TH_LOG("compatible features");
	EXPECT_EQ(0, be(h + 88, 8)) TH_LOG("autoclear features");
	EXPECT_EQ(4, be(h + 96, 4)) TH_LOG("refcount_order");
	ASSERT_EQ(104, be(h + 100, 4)) TH_LOG("header_length");
	EXPECT_EQ(0, im->l1_off % im->cs);
	EXPECT_EQ(0, im->rt_off % im->cs);
	EXPECT_EQ(0, im->file_size % im->cs) TH_LOG("file size %" PRIu64, im->file_size);
	/* L1 covers the virtual size exactly. */
	{
		uint64_t clusters = (im->size + im->cs - 1) / im->cs;
		uint64_t per = im->cs / 8;

		EXPECT_EQ((clusters + per - 1) / per, im->l1_size);
	}

	/* Header extensions, 8-byte aligned, up to the end marker. */
	p = 104;
	for (;;) {
		uint32_t type, len;

		ASSERT_LE(p + 8, im->cs);
		ASSERT_LE(p + 8, sizeof(h));
		type = (uint32_t)be(h + p, 4);
		len = (uint32_t)be(h + p + 4, 4);
		p += 8;
		if (!type) {
			EXPECT_EQ(0, len);
			break;
		}
		ASSERT_LE(p + len, sizeof(h));
		if (type == 0xe2792acaU) {
			ASSERT_GT(sizeof(im->backing_fmt), len);
			memcpy(im->backing_fmt, h + p, len);
		} else if (type == 0x6803f857U) {
			EXPECT_EQ(0, len % 48);
			im->feature_table = true;
			/* Entry 0: the dirty bit, incompatible bit 0. */
			EXPECT_EQ(0, h[p]);
			EXPECT_EQ(0, h[p + 1]);
			EXPECT_EQ(0, strncmp((char *)h + p + 2, "dirty bit", 46));
		} else {
			EXPECT_TRUE(false) TH_LOG("unexpected header extension %#x", type);
		}
		p += (len + 7) & ~7U;
	}
	boff = be(h + 8, 8);
	blen = be(h + 16, 4);
	if (boff) {
		/* After the extensions, inside the first cluster. */
		EXPECT_LE(p, boff);
		ASSERT_LE(boff + blen, im->cs);
		ASSERT_LE(boff + blen, sizeof(h));
		ASSERT_GE(1023, blen);
		memcpy(im->backing, h + boff, blen);
		im->backing[blen] = 0;
	}
}

/* Refcount of host cluster @c, through the refcount table. */
static uint64_t refcount(struct __test_metadata *_metadata, int fd,
			 const struct image *im, uint64_t c)
{
	uint64_t per_block = im->cs / 2, b = c / per_block;
	uint8_t e[8];
	uint64_t rb;

	if (b >= im->rt_clusters * im->cs / 8)
		return 0;
	read_at(_metadata, fd, im->rt_off + b * 8, e, 8);
	rb = be(e, 8);
	if (!rb)
		return 0;
	EXPECT_EQ(0, rb % im->cs);
	read_at(_metadata, fd, rb + (c % per_block) * 2, e, 2);
	return be(e, 2);
}

/* Map guest cluster @g: its kind and, for data, its host offset. */
static enum kind lookup(struct __test_metadata *_metadata, int fd,
			const struct image *im, uint64_t g, uint64_t *host)
{
	uint64_t per = im->cs / 8, l1e, l2e;
	uint8_t e[8];

	if (g / per >= im->l1_size) {
		EXPECT_TRUE(false) TH_LOG("guest cluster %" PRIu64 " past L1", g);
		return UNALLOCATED;
	}
	read_at(_metadata, fd, im->l1_off + g / per * 8, e, 8);
	l1e = be(e, 8);
	if (!(l1e & 0x00fffffffffffe00ULL))
		return UNALLOCATED;
	EXPECT_EQ(1ULL << 63, l1e & ~0x00fffffffffffe00ULL) TH_LOG("L1 flags");
	read_at(_metadata, fd, (l1e & 0x00fffffffffffe00ULL) + g % per * 8, e, 8);
	l2e = be(e, 8);
	if (l2e == 1)
		return ZERO;
	if (!l2e)
		return UNALLOCATED;
	EXPECT_EQ(1ULL << 63, l2e & ~0x00fffffffffffe00ULL) TH_LOG("L2 flags");
	*host = l2e & 0x00fffffffffffe00ULL;
	EXPECT_EQ(0, *host % im->cs);
	EXPECT_GT(im->file_size, *host);
	return DATA;
}

static void fill(uint8_t *buf, size_t len, uint64_t tag)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(tag * 131 + i * 7 + (i >> 9));
}

static bool under_valgrind(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	bool vg = false;

	if (!f)
		return false;
	while (!vg && fgets(line, sizeof(line), f))
		vg = strstr(line, "vgpreload") != NULL;
	fclose(f);
	return vg;
}

/* ---- fixture: one image file in a temporary directory --------------- */

FIXTURE(img)
{
	char dir[64];
	char path[128];
	char err[DL_QCOW2_ERR_LEN];
	int fd;
};

FIXTURE_VARIANT(img)
{
	uint32_t cs;
};

FIXTURE_VARIANT_ADD(img, c512) { .cs = 512 };
FIXTURE_VARIANT_ADD(img, c4k) { .cs = 4096 };
FIXTURE_VARIANT_ADD(img, c64k) { .cs = 65536 };
FIXTURE_VARIANT_ADD(img, c2m) { .cs = 2U << 20 };

FIXTURE_SETUP(img)
{
	strcpy(self->dir, "/tmp/test_qcow2.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/img.qcow2", self->dir);
	self->fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(img)
{
	close(self->fd);
	unlink(self->path);
	rmdir(self->dir);
}

#define CREATE_REFUSED(want, needle, fd, size, cs, back, fmt)		\
	do {								\
		errno = 0;						\
		EXPECT_EQ(NULL, dl_qcow2_create(fd, size, cs, back, fmt, \
						self->err, sizeof(self->err))); \
		EXPECT_EQ(want, errno);					\
		EXPECT_NE(NULL, strstr(self->err, needle))		\
			TH_LOG("'%s' not in '%s'", needle, self->err);	\
	} while (0)

#define CALL_REFUSED(want, needle, call)				\
	do {								\
		EXPECT_EQ(want, call);					\
		EXPECT_NE(NULL, strstr(dl_qcow2_error(q), needle))	\
			TH_LOG("'%s' not in '%s'", needle, dl_qcow2_error(q)); \
	} while (0)

TEST_F(img, create_refuses_bad_geometry_and_names)
{
	uint32_t cs = variant->cs;
	char longname[1100];

	CREATE_REFUSED(EINVAL, "invalid cluster size", self->fd, 1 << 20, 256, NULL, NULL);
	CREATE_REFUSED(EINVAL, "invalid cluster size", self->fd, 1 << 20, 3 * 1024, NULL, NULL);
	CREATE_REFUSED(EINVAL, "invalid cluster size", self->fd, 1 << 20, 4U << 20, NULL, NULL);
	CREATE_REFUSED(EINVAL, "invalid size", self->fd, 0, cs, NULL, NULL);
	CREATE_REFUSED(EINVAL, "invalid size", self->fd, (1 << 20) + 100, cs, NULL, NULL);
	/* One L1 entry past QEMU's 32 MiB L1 limit. */
	CREATE_REFUSED(EFBIG, "L1 table", self->fd,
		       (4ULL << 20) * (cs / 8) * (uint64_t)cs + 512, cs, NULL, NULL);
	CREATE_REFUSED(EFBIG, "L1 table", self->fd, UINT64_MAX - 511, cs, NULL, NULL);
	CREATE_REFUSED(EINVAL, "invalid backing format", self->fd, 1 << 20, cs, "b", "vmdk");
	CREATE_REFUSED(EINVAL, "without a backing file", self->fd, 1 << 20, cs, NULL, "raw");
	CREATE_REFUSED(EINVAL, "empty backing", self->fd, 1 << 20, cs, "", NULL);
	memset(longname, 'n', sizeof(longname));
	longname[1024] = 0;
	CREATE_REFUSED(ENAMETOOLONG, "qcow2 allows 1023", self->fd, 1 << 20, cs, longname, NULL);
	longname[1023] = 0;
	if (cs == 512)
		CREATE_REFUSED(ENAMETOOLONG, "does not fit", self->fd, 1 << 20, cs, longname, "qcow2");
	/* Nothing refused touched the file. */
	EXPECT_EQ(0, lseek(self->fd, 0, SEEK_END));
	/* The largest L1 QEMU takes is fine. */
	{
		struct dl_qcow2 *q = dl_qcow2_create(self->fd,
			(4ULL << 20) * (cs / 8) * (uint64_t)cs, cs,
			cs == 512 ? NULL : longname, NULL, self->err,
			sizeof(self->err));

		ASSERT_NE(NULL, q) TH_LOG("%s", self->err);
		dl_qcow2_free(q);
	}
}

TEST_F(img, create_refuses_unseekable_and_unwritable_outputs)
{
	int p[2], fd;

	ASSERT_EQ(0, pipe(p));
	CREATE_REFUSED(ESPIPE, "pipe", p[1], 1 << 20, variant->cs, NULL, NULL);
	EXPECT_NE(NULL, strstr(self->err, "regular file or a block device"));
	close(p[0]);
	close(p[1]);
	fd = open("/dev/null", O_WRONLY);
	ASSERT_LE(0, fd);
	CREATE_REFUSED(ESPIPE, "character device", fd, 1 << 20, variant->cs, NULL, NULL);
	close(fd);
	fd = open(self->path, O_RDONLY);
	ASSERT_LE(0, fd);
	CREATE_REFUSED(EBADF, "not open for writing", fd, 1 << 20, variant->cs, NULL, NULL);
	close(fd);
	fd = open(self->path, O_WRONLY | O_APPEND);
	ASSERT_LE(0, fd);
	CREATE_REFUSED(EINVAL, "O_APPEND", fd, 1 << 20, variant->cs, NULL, NULL);
	close(fd);
	fd = open(self->dir, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, fd);
	CREATE_REFUSED(EINVAL, "neither a regular file", fd, 1 << 20, variant->cs, NULL, NULL);
	close(fd);
}

TEST_F(img, calls_refuse_bad_ranges_and_change_nothing)
{
	uint32_t cs = variant->cs;
	uint64_t size = 16ULL * cs + 512;	/* a partial last cluster */
	uint8_t *buf = calloc(4, cs);
	struct dl_qcow2 *q;
	struct image im;
	uint64_t host;

	ASSERT_NE(NULL, buf);
	fill(buf, 4 * cs, 1);
	q = dl_qcow2_create(self->fd, size, cs, "base.qcow2", "qcow2",
			    self->err, sizeof(self->err));
	ASSERT_NE(NULL, q) TH_LOG("%s", self->err);

	CALL_REFUSED(-EINVAL, "not a multiple of the cluster size",
		     dl_qcow2_write(q, 512 < cs ? 512 : cs / 2, cs, buf));
	CALL_REFUSED(-EINVAL, "not ending at the device's end",
		     dl_qcow2_write(q, 0, cs / 2, buf));
	CALL_REFUSED(-EINVAL, "empty range", dl_qcow2_write(q, 0, 0, buf));
	CALL_REFUSED(-EINVAL, "without a buffer", dl_qcow2_write(q, 0, cs, NULL));
	CALL_REFUSED(-ERANGE, "past the end", dl_qcow2_write(q, 17ULL * cs, cs, buf));
	CALL_REFUSED(-ERANGE, "past the end", dl_qcow2_zero(q, 17ULL * cs, cs));
	CALL_REFUSED(-ERANGE, "past the end", dl_qcow2_zero(q, cs, UINT64_MAX - 10));

	ASSERT_EQ(0, dl_qcow2_write(q, 4ULL * cs, 2ULL * cs, buf));
	CALL_REFUSED(-EINVAL, "ascending", dl_qcow2_write(q, 2ULL * cs, cs, buf));
	CALL_REFUSED(-EINVAL, "ascending", dl_qcow2_zero(q, 0, cs));
	CALL_REFUSED(-EINVAL, "overlaps", dl_qcow2_write(q, 5ULL * cs, cs, buf));
	CALL_REFUSED(-EINVAL, "overlaps", dl_qcow2_zero(q, 4ULL * cs, 4ULL * cs));
	ASSERT_EQ(0, dl_qcow2_zero(q, 6ULL * cs, cs));
	CALL_REFUSED(-EINVAL, "overlaps", dl_qcow2_zero(q, 6ULL * cs, cs));
	/* The partial tail, ending at the size. */
	ASSERT_EQ(0, dl_qcow2_write(q, 16ULL * cs, 512, buf + cs)) TH_LOG("%s", dl_qcow2_error(q));
	CALL_REFUSED(-ERANGE, "past the end", dl_qcow2_zero(q, 16ULL * cs, 2ULL * cs));
	ASSERT_EQ(0, dl_qcow2_finish(q)) TH_LOG("%s", dl_qcow2_error(q));
	CALL_REFUSED(-EINVAL, "after finish", dl_qcow2_write(q, 16ULL * cs, 512, buf));
	CALL_REFUSED(-EINVAL, "twice", dl_qcow2_finish(q));
	EXPECT_EQ((uint64_t)lseek(self->fd, 0, SEEK_END), dl_qcow2_image_size(q));
	dl_qcow2_free(q);

	/* Only the accepted calls are in the image. */
	parse_header(_metadata, self->fd, &im);
	EXPECT_STREQ("base.qcow2", im.backing);
	EXPECT_STREQ("qcow2", im.backing_fmt);
	EXPECT_EQ(size, im.size);
	for (uint64_t g = 0; g <= 16; g++) {
		enum kind k = lookup(_metadata, self->fd, &im, g, &host);
		enum kind want = g == 4 || g == 5 || g == 16 ? DATA :
				 g == 6 ? ZERO : UNALLOCATED;

		EXPECT_EQ(want, k) TH_LOG("guest cluster %" PRIu64, g);
	}
	ASSERT_EQ(DATA, lookup(_metadata, self->fd, &im, 16, &host));
	{
		uint8_t *got = malloc(cs);

		ASSERT_NE(NULL, got);
		read_at(_metadata, self->fd, host, got, cs);
		EXPECT_EQ(0, memcmp(got, buf + cs, 512));
		for (uint32_t i = 512; i < cs; i++) {
			ASSERT_EQ(0, got[i]) TH_LOG("tail padding byte %u", i);
		}
		free(got);
	}
	free(buf);
}

/*
 * A random export read back through the reader: every guest cluster has
 * the kind and content the model says, every host cluster refcount 1.
 */
TEST_F(img, random_export_reads_back)
{
	uint32_t cs = variant->cs;
	uint64_t nclusters, size, host;
	uint8_t *kind, *buf = malloc(cs), *got = malloc(cs);
	uint64_t *tag;
	struct dl_qcow2 *q;
	struct image im;
	bool backing;

	seed_rng();
	nclusters = cs == (2U << 20) ? 20 + rnd() % 40 : 300 + rnd() % 1200;
	size = nclusters * cs - (rnd() % 2 ? 512 * (rnd() % (cs / 512)) : 0);
	backing = rnd() % 2;
	kind = calloc(nclusters, 1);
	tag = calloc(nclusters, sizeof(*tag));
	ASSERT_NE(NULL, kind);
	ASSERT_NE(NULL, tag);
	ASSERT_NE(NULL, buf);
	ASSERT_NE(NULL, got);
	q = dl_qcow2_create(self->fd, size, cs, backing ? "../prev.qcow2" : NULL,
			    NULL, self->err, sizeof(self->err));
	ASSERT_NE(NULL, q) TH_LOG("%s", self->err);
	for (uint64_t g = 0; g < nclusters; g++) {
		uint64_t len = g == nclusters - 1 ? size - g * cs : cs;

		switch (rnd() % 3) {
		case 0:
			break;
		case 1:
			ASSERT_EQ(0, dl_qcow2_zero(q, g * cs, len));
			kind[g] = backing ? ZERO : UNALLOCATED;
			break;
		default:
			tag[g] = rnd();
			fill(buf, cs, tag[g]);
			ASSERT_EQ(0, dl_qcow2_write(q, g * cs, len, buf));
			kind[g] = DATA;
		}
	}
	ASSERT_EQ(0, dl_qcow2_finish(q)) TH_LOG("%s", dl_qcow2_error(q));
	dl_qcow2_free(q);

	parse_header(_metadata, self->fd, &im);
	EXPECT_EQ(size, im.size);
	EXPECT_EQ(cs, im.cs);
	EXPECT_STREQ(backing ? "../prev.qcow2" : "", im.backing);
	EXPECT_STREQ("", im.backing_fmt);
	/* The feature name table is there whenever it fits. */
	EXPECT_EQ(cs > 512 || !backing, im.feature_table);
	for (uint64_t g = 0; g < nclusters; g++) {
		enum kind k = lookup(_metadata, self->fd, &im, g, &host);

		ASSERT_EQ(kind[g], k) TH_LOG("guest cluster %" PRIu64, g);
		if (k != DATA)
			continue;
		fill(buf, cs, tag[g]);
		if (g == nclusters - 1 && size % cs)
			memset(buf + size % cs, 0, cs - size % cs);
		read_at(_metadata, self->fd, host, got, cs);
		ASSERT_EQ(0, memcmp(buf, got, cs)) TH_LOG("guest cluster %" PRIu64, g);
	}
	/* Every host cluster in use once, none past the end. */
	for (uint64_t c = 0; c < im.file_size / cs; c++) {
		ASSERT_EQ(1, refcount(_metadata, self->fd, &im, c))
			TH_LOG("host cluster %" PRIu64, c);
	}
	EXPECT_EQ(0, refcount(_metadata, self->fd, &im, im.file_size / cs));
	free(kind);
	free(tag);
	free(buf);
	free(got);
}

TEST_F(img, unfinished_export_is_not_qcow2)
{
	uint8_t *buf = calloc(1, variant->cs), h[4];
	struct dl_qcow2 *q;

	ASSERT_NE(NULL, buf);
	/* Even over an old, finished image. */
	q = dl_qcow2_create(self->fd, 1 << 22, variant->cs, NULL, NULL,
			    self->err, sizeof(self->err));
	ASSERT_NE(NULL, q);
	ASSERT_EQ(0, dl_qcow2_finish(q));
	dl_qcow2_free(q);
	read_at(_metadata, self->fd, 0, h, 4);
	ASSERT_EQ(0x514649fbU, be(h, 4));

	q = dl_qcow2_create(self->fd, 1 << 22, variant->cs, NULL, NULL,
			    self->err, sizeof(self->err));
	ASSERT_NE(NULL, q);
	ASSERT_EQ(0, dl_qcow2_write(q, 0, variant->cs, buf));
	dl_qcow2_free(q);
	read_at(_metadata, self->fd, 0, h, 4);
	EXPECT_NE(0x514649fbU, be(h, 4));
	free(buf);
}

/* A write failing halfway (file size limit) fails the writer for good. */
TEST_F(img, io_error_fails_the_writer)
{
	uint32_t cs = variant->cs;
	struct rlimit rl = { .rlim_cur = 3ULL * cs + 100, .rlim_max = RLIM_INFINITY };
	uint8_t *buf = calloc(4, cs), h[4];
	struct dl_qcow2 *q;

	ASSERT_NE(NULL, buf);
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	q = dl_qcow2_create(self->fd, 64ULL * cs, cs, NULL, NULL,
			    self->err, sizeof(self->err));
	ASSERT_NE(NULL, q) TH_LOG("%s", self->err);
	ASSERT_EQ(0, dl_qcow2_write(q, 0, cs, buf));
	/* A short write first, then EFBIG. */
	CALL_REFUSED(-EFBIG, "cannot write data", dl_qcow2_write(q, cs, 4ULL * cs, buf));
	CALL_REFUSED(-EFBIG, "cannot write data", dl_qcow2_zero(q, 8ULL * cs, cs));
	CALL_REFUSED(-EFBIG, "cannot write data", dl_qcow2_finish(q));
	dl_qcow2_free(q);
	read_at(_metadata, self->fd, 0, h, 4);
	EXPECT_NE(0x514649fbU, be(h, 4));
	free(buf);
}

/*
 * Memory does not follow the virtual size: the largest image QEMU takes
 * for the cluster size (a 32 MiB L1 table; 8 TiB at 4 KiB) is written
 * under an address-space limit of 24 MiB above what the process has, in
 * a child.  A writer holding an L1 table, or anything per cluster of the
 * device, runs out.  The limit is shown to bite with a 32 MiB malloc.
 */
TEST_F(img, memory_does_not_follow_the_virtual_size)
{
	uint32_t cs = variant->cs;
	uint64_t size = (4ULL << 20) * (cs / 8) * (uint64_t)cs;
	int status;
	pid_t pid;

	if (under_valgrind())
		SKIP(return, "valgrind manages the address space itself");
	if (cs == 512 || cs == (2U << 20))
		SKIP(return, "4 KiB and 64 KiB clusters cover it");
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		char line[256];
		uint64_t vm_kb = 0;
		FILE *f = fopen("/proc/self/status", "r");
		struct rlimit rl;
		struct dl_qcow2 *q;
		uint8_t *buf;
		void *big;

		if (!f)
			_exit(10);
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "VmSize: %" SCNu64, &vm_kb) == 1)
				break;
		fclose(f);
		buf = calloc(3, cs);
		if (!vm_kb || !buf)
			_exit(11);
		rl.rlim_cur = rl.rlim_max = (vm_kb << 10) + (24ULL << 20);
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(12);
		big = malloc(32ULL << 20);
		if (big)
			_exit(13);	/* the limit does not bite */
		q = dl_qcow2_create(self->fd, size, cs, "prev.qcow2", "qcow2",
				    NULL, 0);
		if (!q)
			_exit(14);
		/* A few clusters at the start, in the middle, at the end. */
		if (dl_qcow2_write(q, 0, cs, buf) ||
		    dl_qcow2_zero(q, cs, 2ULL * cs) ||
		    dl_qcow2_write(q, size / 2, 3ULL * cs, buf) ||
		    dl_qcow2_zero(q, size - 2ULL * cs, cs) ||
		    dl_qcow2_write(q, size - cs, cs, buf)) {
			fprintf(stderr, "%s\n", dl_qcow2_error(q));
			_exit(15);
		}
		if (dl_qcow2_finish(q)) {
			fprintf(stderr, "%s\n", dl_qcow2_error(q));
			_exit(16);
		}
		dl_qcow2_free(q);
		free(buf);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child step %d failed", WEXITSTATUS(status));
	{
		struct image im;
		uint64_t host;

		parse_header(_metadata, self->fd, &im);
		EXPECT_EQ(size, im.size);
		EXPECT_EQ(4ULL << 20, im.l1_size);
		EXPECT_EQ(DATA, lookup(_metadata, self->fd, &im, size / cs - 1, &host));
		EXPECT_EQ(ZERO, lookup(_metadata, self->fd, &im, size / cs - 2, &host));
		EXPECT_EQ(UNALLOCATED, lookup(_metadata, self->fd, &im, size / cs / 3, &host));
	}
}

TEST_HARNESS_MAIN
