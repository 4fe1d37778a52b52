// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the bitmap file reader (dl_bmfile_read()) and what a caller does
 * with an accepted file: count, walk the extents, merge it with itself.
 */
#include <string.h>

#include "dl-bmfile.h"
#include "dl-util.h"
#include "fuzz.h"

/*
 * A copy of @data with correct checksums (body, then header), so that the
 * fuzzer reaches the checks behind them; NULL when too short for a header.
 */
static uint8_t *bm_fix_crcs(const uint8_t *data, size_t size)
{
	uint64_t body;
	uint8_t *p;

	if (size < DL_BMFILE_HEADER_SIZE)
		return NULL;
	p = malloc(size);
	if (!p)
		abort();
	memcpy(p, data, size);
	body = dl_bmfile_body_len(dl_get_le64(p + DL_BMFILE_OFF_NR_BLOCKS));
	if (body > size - DL_BMFILE_HEADER_SIZE)
		body = size - DL_BMFILE_HEADER_SIZE;
	dl_put_le32(p + DL_BMFILE_OFF_BODY_CRC,
		    dl_crc32c(0, p + DL_BMFILE_HEADER_SIZE, (size_t)body));
	dl_put_le32(p + DL_BMFILE_OFF_HEADER_CRC, 0);
	dl_put_le32(p + DL_BMFILE_OFF_HEADER_CRC, dl_crc32c(0, p, DL_BMFILE_HEADER_SIZE));
	return p;
}

static int count_extent(uint64_t start, uint64_t count, void *arg)
{
	uint64_t *n = arg;

	(void)start;
	*n += count;
	return 0;
}

static void bm_one(const uint8_t *data, size_t size)
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
}

/* The input as it is, then with its checksums made right. */
DL_FUZZ_ENTRY(bmfile)
{
	dl_fuzz_also_fixed(data, size, bm_one, bm_fix_crcs);
	return 0;
}
