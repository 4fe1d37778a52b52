// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_bench_dirtymap DEVICE: how fast and how compactly the dirty map
 * streams at the worst density (every other block dirty).
 *
 * DEVICE is a fresh dirtylog device (bench_dirtymap.sh makes one of 16 Mi
 * blocks).  The program takes checkpoint "a", marks every other block
 * through MARK_DIRTY bitmaps, takes checkpoint "b", marks them again (now
 * in the active interval), and writes the same bitmap to a file on tmpfs.
 * Then, interleaved in rounds, it times reading that file against
 * fetching a..b (frozen intervals, from the metadata) and b..now (the
 * in-memory active interval) with DM_DIRTYLOG_DUMP_AUTO, checks every
 * fetched map bit for bit, and reports as KTAP:
 *   - bytes received / bitmap size (goal: at most 1.1)
 *   - median fetch time / median file read time (goal: at most 5)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dl-nl.h"
#include "ktap.h"

#define ROUNDS		15
#define BYTES_GOAL	1.1
#define TIME_GOAL	5.0
#define FILE_PATH	"/tmp/dl_bench_dirtymap.bitmap"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return v[n / 2];
}

struct fetched {
	uint8_t *bits;
	uint64_t nr_blocks;
	int bad;
};

static int got_chunk(uint64_t start, const uint8_t *bits, uint64_t nbits,
		     void *arg)
{
	struct fetched *f = arg;

	if (start >= f->nr_blocks)
		return 0;
	if (nbits > f->nr_blocks - start)
		nbits = f->nr_blocks - start;
	/* Chunks start on multiples of 64 blocks. */
	memcpy(f->bits + start / 8, bits, (nbits + 7) / 8);
	return 0;
}

static int got_extent(uint64_t start, uint64_t count, void *arg)
{
	struct fetched *f = arg;

	if (start + count > f->nr_blocks) {
		f->bad = 1;
		return -ERANGE;
	}
	for (uint64_t b = start; b < start + count; b++)
		f->bits[b / 8] |= 1u << (b % 8);
	return 0;
}

static void got_restart(void *arg)
{
	struct fetched *f = arg;

	memset(f->bits, 0, (f->nr_blocks + 7) / 8);
}

static double read_file(uint8_t *buf, size_t len)
{
	double t0 = now();
	int fd = open(FILE_PATH, O_RDONLY);
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return -1;
	while (got < len && (n = read(fd, buf + got, len - got)) > 0)
		got += (size_t)n;
	close(fd);
	return got == len ? now() - t0 : -1;
}

static double fetch(struct dl_nl *nl, const struct dl_nl_sel *sel,
		    const char *since, const char *until, struct fetched *f,
		    uint64_t *bytes)
{
	struct dl_nl_dirty_opts o = {
		.format = DM_DIRTYLOG_DUMP_AUTO, .extent = got_extent,
		.chunk = got_chunk, .restart = got_restart, .arg = f,
	};
	double t0 = now();
	int r;

	got_restart(f);
	r = dl_nl_dirty_fetch(nl, sel, since, until, &o);
	if (r) {
		fprintf(stderr, "fetch %s..%s: %s\n", since, until ? until : "now",
			nl->err);
		return -1;
	}
	*bytes = o.bytes;
	return now() - t0;
}

int main(int argc, char **argv)
{
	double t_file[ROUNDS], t_frozen[ROUNDS], t_active[ROUNDS];
	uint64_t bytes_frozen = 0, bytes_active = 0;
	struct fetched f = { 0 };
	struct dl_nl_ckpt_id id;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	struct dl_nl nl;
	unsigned int nr_ids;
	uint8_t *pattern, *buf;
	size_t len;
	double bytes_ratio, time_frozen, time_active, tf;
	int fd, r, ok;

	if (argc != 2 || dl_nl_sel_parse(argv[1], false, &sel)) {
		fprintf(stderr, "usage: %s DEVICE\n", argv[0]);
		return 2;
	}
	printf("KTAP version 1\n1..4\n");
	r = dl_nl_open(&nl);
	if (!r)
		r = dl_nl_dev_get(&nl, &sel, &dev);
	if (r) {
		fprintf(stderr, "%s\n", nl.err);
		return 1;
	}
	len = (dev.nr_blocks + 7) / 8;
	printf("# %s: %" PRIu64 " blocks of %" PRIu32 " sectors; bitmap %zu bytes\n",
	       dev.name, dev.nr_blocks, dev.block_sectors, len);
	pattern = malloc(len);
	buf = malloc(len);
	f.bits = malloc(len);
	f.nr_blocks = dev.nr_blocks;
	if (!pattern || !buf || !f.bits)
		return 1;
	memset(pattern, 0x55, len);		/* every other block */
	if (dev.nr_blocks % 8)
		pattern[len - 1] &= (uint8_t)((1u << (dev.nr_blocks % 8)) - 1);

	r = dl_nl_ckpt_new(&nl, &sel, 1, "a", &id, &nr_ids);
	if (!r)
		r = dl_nl_mark_bitmap(&nl, &sel, 0, pattern, dev.nr_blocks);
	if (!r)
		r = dl_nl_ckpt_new(&nl, &sel, 1, "b", &id, &nr_ids);
	if (!r)
		r = dl_nl_mark_bitmap(&nl, &sel, 0, pattern, dev.nr_blocks);
	ktap_result(!r, "set up: every other block dirty in a..b and after b%s%s",
		    r ? ": " : "", r ? nl.err : "");
	if (r)
		return 1;
	fd = open(FILE_PATH, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, pattern, len) != (ssize_t)len || close(fd))
		return 1;

	ok = 1;
	for (int i = 0; i < ROUNDS && ok; i++) {
		t_file[i] = read_file(buf, len);
		t_frozen[i] = fetch(&nl, &sel, "a", "b", &f, &bytes_frozen);
		ok = t_frozen[i] >= 0 && !memcmp(f.bits, pattern, len);
		t_active[i] = fetch(&nl, &sel, "b", NULL, &f, &bytes_active);
		ok = ok && t_active[i] >= 0 && !memcmp(f.bits, pattern, len);
		ok = ok && t_file[i] >= 0 && !memcmp(buf, pattern, len);
	}
	ktap_result(ok, "every fetched map equals the marked pattern");
	if (!ok)
		return 1;

	bytes_ratio = (double)(bytes_frozen > bytes_active ? bytes_frozen : bytes_active) / len;
	tf = median(t_file, ROUNDS);
	time_frozen = median(t_frozen, ROUNDS) / tf;
	time_active = median(t_active, ROUNDS) / tf;
	printf("# bytes received: a..b %" PRIu64 ", b..now %" PRIu64 " for a %zu-byte bitmap\n",
	       bytes_frozen, bytes_active, len);
	printf("# median of %d interleaved rounds: file read %.3f ms, fetch a..b %.3f ms, b..now %.3f ms\n",
	       ROUNDS, tf * 1e3, median(t_frozen, ROUNDS) * 1e3,
	       median(t_active, ROUNDS) * 1e3);
	printf("dirtymap: bytes ratio %.4f (goal <= %.1f)\n", bytes_ratio, BYTES_GOAL);
	printf("dirtymap: time ratio a..b %.2f, b..now %.2f (goal <= %.1f)\n",
	       time_frozen, time_active, TIME_GOAL);
	ktap_result(bytes_ratio <= BYTES_GOAL, "bytes received %.4f x the bitmap (goal <= %.1f)",
		    bytes_ratio, BYTES_GOAL);
	ktap_result(time_frozen <= TIME_GOAL && time_active <= TIME_GOAL,
		    "fetch time %.2f / %.2f x reading the bitmap from tmpfs (goal <= %.1f)",
		    time_frozen, time_active, TIME_GOAL);
	unlink(FILE_PATH);
	free(pattern);
	free(buf);
	free(f.bits);
	dl_nl_close(&nl);
	return ktap_failed ? 1 : 0;
}
