// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the bitmap file reader (dl_bmfile_read()) and what a caller does
 * with an accepted file: count, walk the extents, merge it with itself.
 */
#include <string.h>

#include "dl-bmfile.h"
#include "fuzz.h"

static int count_extent(uint64_t start, uint64_t count, void *arg)
{
	uint64_t *n = arg;

	(void)start;
	*n += count;
	return 0;
}

DL_FUZZ_ENTRY(bmfile)
{
	struct dl_bmfile f, two[2], m;
	char path[64], err[DL_BMFILE_ERR_LEN];
	uint64_t n = 0;
	int fd = dl_fuzz_memfd(data, size);

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (!dl_bmfile_read(path, &f, err, sizeof(err))) {
		/* An accepted file is self-consistent. */
		if (dl_bmfile_count(&f) != f.nr_dirty)
			abort();
		if (dl_bmfile_extents(&f, count_extent, &n) || n != f.nr_dirty)
			abort();
		if (f.nr_blocks <= (1U << 20)) {
			two[0] = f;
			two[1] = f;
			if (!dl_bmfile_merge(two, 2, &m, err, sizeof(err))) {
				if (dl_bmfile_count(&m) != f.nr_dirty)
					abort();
				dl_bmfile_free(&m);
			}
		}
		dl_bmfile_free(&f);
	} else if (!err[0]) {
		abort();	/* every refusal says why */
	}
	close(fd);
	return 0;
}
