// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test helper for tests/rig/test_qcow2_07.sh: write one qcow2 export with
 * dl-qcow2 from a seeded random list of extents, and apply the same
 * extents to a raw model image with plain pwrite()s and hole punches, so
 * that QEMU's tools can compare the two.
 *
 *   dl_qcow2_gen --out IMG --size BYTES --cluster BYTES --seed N
 *                [--model RAW] [--backing NAME [--backing-format FMT]]
 *                [--extents N] [--max-data BYTES] [--unfinished] [--hide]
 *
 * The model, when given, must exist with the virtual size and hold the
 * content the backing chain shows (zeroes for a full export); it is
 * updated in place.  The extents are ascending, data or zeroes, a data
 * extent sometimes split into several calls; with --unfinished the writer
 * is freed without dl_qcow2_finish(); with --hide the extents are planned
 * again until a zero extent covers nonzero model data.  Prints:
 *
 *   gen: data|zero OFF+LEN          (one line per extent)
 *   gen: C calls, D data clusters, Z zero clusters, H zero clusters over data, tail T
 *
 * where H counts zero clusters that hid nonzero model data (backing data
 * the zero flag must hide) and T is 1 when an extent ended at a size that
 * is not a multiple of the cluster size.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dl-qcow2.h"
#include "dl-util.h"

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t rnd_below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "dl_qcow2_gen: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t size_arg(const char *s)
{
	uint64_t v;

	if (dl_parse_size(s, &v))
		die("bad size '%s'", s);
	return v;
}

static void model_write(int fd, const void *buf, size_t len, uint64_t off)
{
	if (pwrite(fd, buf, len, (off_t)off) != (ssize_t)len)
		die("model write failed: %s", strerror(errno));
}

/*
 * Clusters of [off, off + len) of the model that hold a nonzero byte (up
 * to @max); holes of the sparse model are skipped with SEEK_DATA.
 */
static uint64_t model_data_clusters(int fd, uint64_t off, uint64_t len,
				    uint8_t *buf, uint64_t cs, uint64_t max)
{
	uint64_t found = 0, end = off + len;

	for (uint64_t p = off; p < end && found < max; p += cs) {
		off_t d = lseek(fd, (off_t)p, SEEK_DATA);
		size_t n;

		if (d < 0 || (uint64_t)d >= end)
			break;		/* ENXIO: no data after p */
		if ((uint64_t)d >= p + cs)
			p = (uint64_t)d - ((uint64_t)d - off) % cs;
		n = end - p < cs ? (size_t)(end - p) : cs;
		if (pread(fd, buf, n, (off_t)p) != (ssize_t)n)
			die("model read failed: %s", strerror(errno));
		for (size_t i = 0; i < n; i++) {
			if (buf[i]) {
				found++;
				break;
			}
		}
	}
	return found;
}

/* Zero [off, off + len) of the model; count the clusters that held data. */
static uint64_t model_zero(int fd, uint64_t off, uint64_t len, uint32_t cs,
			   uint8_t *buf)
{
	uint64_t hid = model_data_clusters(fd, off, len, buf, cs, UINT64_MAX);

	if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)off, (off_t)len) < 0) {
		memset(buf, 0, cs);
		for (uint64_t p = off; p < off + len; p += cs)
			model_write(fd, buf, off + len - p < cs ?
				    (size_t)(off + len - p) : cs, p);
	}
	return hid;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "model", required_argument, NULL, 'm' },
		{ "size", required_argument, NULL, 's' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 'S' },
		{ "backing", required_argument, NULL, 'b' },
		{ "backing-format", required_argument, NULL, 'F' },
		{ "extents", required_argument, NULL, 'n' },
		{ "max-data", required_argument, NULL, 'd' },
		{ "unfinished", no_argument, NULL, 'u' },
		{ "hide", no_argument, NULL, 'h' },
		{ 0 }
	};
	const char *out = NULL, *model = NULL, *backing = NULL, *fmt = NULL;
	uint64_t size = 0, cs = 0, seed = 1, nr_ext = 16, max_data = 32 << 20;
	uint64_t nclusters, pos = 0, data = 0, zero = 0, hid = 0, calls = 0;
	bool unfinished = false, tail = false, hide = false, hide_ok = false;
	struct { uint64_t off, bytes; bool data; } *plan;
	size_t nr = 0;
	char err[DL_QCOW2_ERR_LEN];
	struct dl_qcow2 *q;
	uint8_t *buf, *tmp;
	int fd, mfd = -1, c, ret;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'm': model = optarg; break;
		case 's': size = size_arg(optarg); break;
		case 'c': cs = size_arg(optarg); break;
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 'b': backing = optarg; break;
		case 'F': fmt = optarg; break;
		case 'n': nr_ext = strtoull(optarg, NULL, 0); break;
		case 'd': max_data = size_arg(optarg); break;
		case 'u': unfinished = true; break;
		case 'h': hide = true; break;
		default: die("%s", "usage: see the comment at the top of dl_qcow2_gen.c");
		}
	}
	if (!out || !size || !cs || cs > DL_QCOW2_MAX_CLUSTER)
		die("%s", "--out, --size and --cluster (at most 2M) are required");
	rng = seed ? seed : 1;
	nclusters = size / cs + (size % cs != 0);

	fd = open(out, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die("cannot create %s", out);
	if (model) {
		struct stat st;

		mfd = open(model, O_RDWR);
		if (mfd < 0 || fstat(mfd, &st) < 0 || (uint64_t)st.st_size != size)
			die("model %s missing or not of the virtual size", model);
	}
	q = dl_qcow2_create(fd, size, (uint32_t)cs, backing, fmt, err, sizeof(err));
	if (!q)
		die("create: %s", err);
	buf = malloc(4 * cs);
	tmp = malloc(cs);
	plan = calloc(nr_ext ? nr_ext : 1, sizeof(*plan));
	if (!buf || !tmp || !plan)
		die("%s", "out of memory");

	/*
	 * Plan the extents; with --hide, plan again until a zero extent
	 * covers data of the model (the backing data it must hide).
	 */
	for (unsigned int tries = 0;; tries++) {
		uint64_t planned = 0;

		nr = 0;
		pos = 0;
		for (uint64_t e = 0; e < nr_ext && pos < nclusters; e++) {
			uint64_t left = nclusters - pos;
			uint64_t gap = rnd_below(2 * left / (nr_ext - e + 1) + 1);
			uint64_t maxlen = 4 * (max_data / cs / nr_ext) + 1;
			uint64_t len;
			bool is_data = rnd_below(10) < 6;

			if (gap >= left)
				break;
			pos += gap;
			len = 1 + rnd_below(maxlen);
			/* Now and then the last extent runs to the end. */
			if (len > nclusters - pos || (e == nr_ext - 1 && rnd() & 1))
				len = nclusters - pos;
			if (is_data && (planned + len) * cs > max_data) {
				len = max_data / cs > planned ? max_data / cs - planned : 0;
				if (!len)
					is_data = false, len = 1;
			}
			plan[nr].off = pos * cs;
			plan[nr].bytes = pos + len == nclusters ? size - pos * cs : len * cs;
			plan[nr].data = is_data;
			if (is_data)
				planned += len;
			nr++;
			pos += len;
		}
		if (!hide || mfd < 0)
			break;
		for (size_t i = 0; i < nr && !hide_ok; i++)
			hide_ok = !plan[i].data &&
				  model_data_clusters(mfd, plan[i].off, plan[i].bytes,
						      tmp, cs, 1);
		if (hide_ok)
			break;
		if (tries == 1000)
			die("%s", "--hide: no zero extent over model data in 1000 plans");
	}

	for (size_t i = 0; i < nr; i++) {
		uint64_t off = plan[i].off, bytes = plan[i].bytes;
		uint64_t len = bytes / cs + (bytes % cs != 0);

		tail |= off + bytes == size && size % cs;
		if (plan[i].data) {
			/* In calls of 1-4 clusters (the last maybe partial). */
			for (uint64_t p = off; p < off + bytes;) {
				uint64_t n = (1 + rnd_below(4)) * cs;

				if (n > off + bytes - p)
					n = off + bytes - p;
				for (uint64_t j = 0; j < n; j += 8) {
					uint64_t r = rnd();

					memcpy(buf + j, &r, n - j < 8 ? n - j : 8);
				}
				ret = dl_qcow2_write(q, p, n, buf);
				if (ret)
					die("write: %s", dl_qcow2_error(q));
				if (mfd >= 0)
					model_write(mfd, buf, n, p);
				p += n;
				calls++;
			}
			data += len;
		} else {
			ret = dl_qcow2_zero(q, off, bytes);
			if (ret)
				die("zero: %s", dl_qcow2_error(q));
			if (mfd >= 0)
				hid += model_zero(mfd, off, bytes, (uint32_t)cs, tmp);
			zero += len;
			calls++;
		}
		printf("gen: %s %" PRIu64 "+%" PRIu64 "\n",
		       plan[i].data ? "data" : "zero", off, bytes);
	}
	if (!unfinished) {
		ret = dl_qcow2_finish(q);
		if (ret)
			die("finish: %s", dl_qcow2_error(q));
	}
	printf("gen: %" PRIu64 " calls, %" PRIu64 " data clusters, %" PRIu64
	       " zero clusters, %" PRIu64 " zero clusters over data, tail %d\n",
	       calls, data, zero, hid, tail);
	dl_qcow2_free(q);
	free(buf);
	free(tmp);
	free(plan);
	if (close(fd) < 0 || (mfd >= 0 && close(mfd) < 0))
		die("%s", "close failed");
	return 0;
}
