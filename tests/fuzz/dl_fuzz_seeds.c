// SPDX-License-Identifier: GPL-2.0-only
/*
 * Write the seed corpus of the fuzz harnesses with the project's own
 * writers, plus hand-made edge cases: dl_fuzz_seeds DIR fills
 * DIR/{bmfile,diff,state,size}/seed-*.  The committed corpus
 * (tests/fuzz/corpus) was made with it ("make fuzz-seeds" makes it again).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dl-bmfile.h"
#include "dl-diff.h"
#include "dl-util.h"

static const char *top;

static void die(const char *what, const char *err)
{
	fprintf(stderr, "dl_fuzz_seeds: %s: %s\n", what, err);
	exit(1);
}

static int create(const char *sub, const char *name, char *path, size_t len)
{
	int fd;

	snprintf(path, len, "%s/%s", top, sub);
	mkdir(path, 0755);
	snprintf(path, len, "%s/%s/seed-%s", top, sub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path, strerror(errno));
	return fd;
}

static void put(const char *sub, const char *name, const void *p, size_t n)
{
	char path[4096];
	int fd = create(sub, name, path, sizeof(path));

	if (write(fd, p, n) != (ssize_t)n)
		die(path, strerror(errno));
	close(fd);
}

static void bmfile(const char *name, uint64_t nr_blocks, const uint64_t *ext,
		   unsigned int n, const char *since, const char *until)
{
	char path[4096], err[DL_BMFILE_ERR_LEN];
	struct dl_bmfile f;
	int fd = create("bmfile", name, path, sizeof(path));

	close(fd);
	if (dl_bmfile_alloc(&f, nr_blocks))
		die(name, "alloc");
	f.block_sectors = 8;
	snprintf(f.dev_name, sizeof(f.dev_name), "dl0");
	snprintf(f.dev_uuid, sizeof(f.dev_uuid), "0123456789abcdef0123456789abcdef");
	snprintf(f.since, sizeof(f.since), "%s", since);
	f.since_id = 3;
	if (until) {
		snprintf(f.until, sizeof(f.until), "%s", until);
		f.until_id = 9;
	}
	for (unsigned int i = 0; i < n; i++)
		if (dl_bmfile_set_range(&f, ext[2 * i], ext[2 * i + 1]))
			die(name, "set_range");
	f.nr_dirty = dl_bmfile_count(&f);
	if (dl_bmfile_write(path, &f, err, sizeof(err)))
		die(path, err);
	dl_bmfile_free(&f);
}

static void diff(const char *name, enum dl_diff_format fmt, bool full,
		 const uint64_t *rec, unsigned int n)
{
	static uint8_t buf[3 * 4096];
	struct dl_diff_info info = {
		.size = 64 * 4096, .block_size = 4096, .full = full,
		.base_id = full ? 0 : 2, .new_id = 5,
	};
	char path[4096], err[DL_DIFF_ERR_LEN];
	struct dl_diff_writer *w;
	int fd = create("diff", name, path, sizeof(path));

	for (unsigned int i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	memset(info.uuid, 0xab, sizeof(info.uuid));
	if (!full)
		snprintf(info.base_name, sizeof(info.base_name), "base");
	snprintf(info.new_name, sizeof(info.new_name), "new");
	w = dl_diff_writer_open(fmt, fd, &info, err, sizeof(err));
	if (!w)
		die(path, err);
	/* rec: triples of (1 data / 2 zero, block, blocks). */
	for (unsigned int i = 0; i < n; i++) {
		uint64_t off = rec[3 * i + 1] * 4096, len = rec[3 * i + 2] * 4096;
		int r = rec[3 * i] == 1 ? dl_diff_write_data(w, off, len, buf) :
					  dl_diff_write_zero(w, off, len);

		if (r)
			die(path, "write");
	}
	if (dl_diff_writer_finish(w))
		die(path, "finish");
	dl_diff_writer_free(w);
	close(fd);
}

int main(int argc, char **argv)
{
	static const uint64_t ext1[] = { 0, 1, 5, 3, 100, 28, 999, 1 };
	static const uint64_t rec1[] = { 1, 0, 1, 2, 1, 2, 1, 4, 3, 2, 63, 1 };
	static const uint64_t rec2[] = { 2, 0, 64 };
	static const char *const states[] = {
		"dirtylog-apply 1\nstate complete\nuuid abababababababababababababababab\n"
		"checkpoint new\nid 5\nsize 262144\n",
		"dirtylog-apply 1\nstate incomplete\nuuid -\ncheckpoint -\nid 0\nsize 0\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 18446744073709551615\n"
		"size 18446744073709551616\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1\nid 2\n",
	};
	static const char *const sizes[] = {
		"0", "512", "4K", "64KiB", "1MB", "2g", "3T", "16383T", "16384T",
		"18446744073709551615", "18446744073709551616", "1P", "K", "-1", " 1",
		"1KiBB", "0x10",
	};
	char n[32];

	if (argc != 2) {
		fprintf(stderr, "usage: dl_fuzz_seeds DIR\n");
		return 2;
	}
	top = argv[1];
	mkdir(top, 0755);
	bmfile("empty", 8, NULL, 0, "c1", NULL);
	bmfile("one", 1, (const uint64_t[]){ 0, 1 }, 1, "c1", "c2");
	bmfile("odd", 1001, ext1, 4, "c1", NULL);
	bmfile("full", 4096, (const uint64_t[]){ 0, 4096 }, 1, "a", "b");
	diff("native-full", DL_DIFF_NATIVE, true, rec1, 4);
	diff("native-incr", DL_DIFF_NATIVE, false, rec1, 2);
	diff("native-zero", DL_DIFF_NATIVE, true, rec2, 1);
	diff("native-empty", DL_DIFF_NATIVE, false, NULL, 0);
	diff("rbd-full", DL_DIFF_RBD, true, rec1, 4);
	diff("rbd-incr", DL_DIFF_RBD, false, rec1, 2);
	diff("rbd-empty", DL_DIFF_RBD, false, NULL, 0);
	/* Hand-made: an rbd diff with a huge write length and nothing after. */
	put("diff", "rbd-hugew", "rbd diff v1\ns\x00\x00\x04\x00\x00\x00\x00\x00"
	    "w\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x7f", 38);
	put("diff", "rbd-banner", DL_RBD_BANNER, DL_RBD_BANNER_LEN);
	put("diff", "native-magic", DL_DIFF_MAGIC, DL_DIFF_MAGIC_LEN);
	for (unsigned int i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		snprintf(n, sizeof(n), "%u", i);
		put("state", n, states[i], strlen(states[i]));
	}
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		snprintf(n, sizeof(n), "%u", i);
		put("size", n, sizes[i], strlen(sizes[i]));
	}
	return 0;
}
