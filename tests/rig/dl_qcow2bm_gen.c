// SPDX-License-Identifier: GPL-2.0-only
/*
 * Test helper for tests/rig/test_qcow2bm_12.sh: write a qcow2 bitmap
 * sidecar (userspace/dl-qcow2bm.c) over a raw data file, with a seeded
 * random set of dirty granules, and print that set so that the test can
 * compare it with what QEMU's tools read back.
 *
 *   dl_qcow2bm_gen --out IMG --size BYTES --data NAME [--cluster BYTES]
 *                  [--bitmap NAME --gran BYTES --seed N [--extents N]
 *                  [--all]]
 *
 * The extents are ascending and disjoint; about one case in three has a
 * run long enough to fill whole bitmap clusters (stored as "all ones"),
 * and one extent reaches the last granule when the seed says so.  --all
 * marks every granule (a full backup's map).  Prints one line per extent,
 * "ext START COUNT" in granules, then "bits N".  Exit 0, or 1 with the
 * writer's message.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dl-qcow2bm.h"
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

static uint64_t num(const char *opt, const char *s)
{
	uint64_t v;

	if (dl_parse_size(s, &v)) {
		fprintf(stderr, "dl_qcow2bm_gen: bad %s '%s'\n", opt, s);
		exit(1);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "size", required_argument, NULL, 's' },
		{ "data", required_argument, NULL, 'd' },
		{ "cluster", required_argument, NULL, 'c' },
		{ "bitmap", required_argument, NULL, 'b' },
		{ "gran", required_argument, NULL, 'g' },
		{ "seed", required_argument, NULL, 'r' },
		{ "extents", required_argument, NULL, 'n' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 }
	};
	struct dl_qcow2bm_opts o = { 0 };
	struct dl_qcow2bm_extent *ext = NULL;
	const char *out = NULL;
	uint64_t bits = 0, pos = 0, want = 8;
	bool all = false;
	char err[256] = "";
	size_t n = 0, i;
	int c, fd, ret;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 's': o.size = num("--size", optarg); break;
		case 'd': o.data_file = optarg; break;
		case 'c': o.cluster_size = (uint32_t)num("--cluster", optarg); break;
		case 'b': o.bitmap = optarg; break;
		case 'g': o.granularity = (uint32_t)num("--gran", optarg); break;
		case 'r': rng = num("--seed", optarg) * 2 + 1; break;
		case 'n': want = num("--extents", optarg); break;
		case 'a': all = true; break;
		default: return 1;
		}
	}
	if (!out || !o.size) {
		fprintf(stderr, "dl_qcow2bm_gen: --out and --size are required\n");
		return 1;
	}
	if (o.bitmap && o.granularity >= 512) {
		bits = (o.size + o.granularity - 1) / o.granularity;
		ext = calloc(want + 2, sizeof(*ext));
		if (!ext)
			return 1;
		if (all && bits) {
			ext[n].start = 0;
			ext[n++].count = bits;
		}
		for (i = 0; !all && i < want && pos < bits; i++) {
			uint64_t gap = rnd_below(bits / (want + 1) + 1);
			uint64_t len = 1 + rnd_below(bits / (want * 4) + 2);

			/* Now and then a run that fills bitmap clusters. */
			if (rnd_below(3) == 0)
				len += rnd_below(bits / 2 + 1);
			if (pos + gap >= bits)
				break;
			pos += gap;
			if (len > bits - pos || (i == want - 1 && rnd_below(2)))
				len = bits - pos;
			ext[n].start = pos;
			ext[n++].count = len;
			pos += len + 1;
		}
		o.extents = ext;
		o.nr_extents = n;
	}
	fd = open(out, O_WRONLY | O_CREAT, 0644);
	if (fd < 0) {
		perror(out);
		return 1;
	}
	ret = dl_qcow2bm_write(fd, &o, err, sizeof(err));
	close(fd);
	if (ret) {
		fprintf(stderr, "dl_qcow2bm_gen: %s\n", err);
		free(ext);
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("ext %" PRIu64 " %" PRIu64 "\n", ext[i].start, ext[i].count);
	printf("bits %" PRIu64 "\n", bits);
	free(ext);
	return 0;
}
