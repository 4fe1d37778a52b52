// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the diff stream readers (native and rbd diff v1, dl-diff.c): open
 * the stream, read every record to the end or the first error, and check
 * what the reader promises about each record it hands out.
 */
#include <string.h>

#include "dl-diff.h"
#include "fuzz.h"

DL_FUZZ_ENTRY(diff)
{
	char err[DL_DIFF_ERR_LEN];
	struct dl_diff_reader *r;
	struct dl_diff_record rec;
	struct dl_diff_info info;
	uint64_t next = 0, end = 0;
	int fd = dl_fuzz_memfd(data, size), ret;

	err[0] = '\0';
	r = dl_diff_reader_open(fd, &info, err, sizeof(err));
	if (!r) {
		if (!err[0])
			abort();
		close(fd);
		return 0;
	}
	if (memchr(info.base_name, '\0', sizeof(info.base_name)) == NULL ||
	    memchr(info.new_name, '\0', sizeof(info.new_name)) == NULL)
		abort();
	while ((ret = dl_diff_read_record(r, &rec)) == 1) {
		if (rec.index != next++ || !rec.length ||
		    rec.length > DL_DIFF_MAX_DATA || rec.offset < end ||
		    rec.offset + rec.length < rec.offset ||
		    rec.offset + rec.length > info.size)
			abort();
		end = rec.offset + rec.length;
		if (rec.type == DL_DIFF_DATA) {
			volatile uint8_t sink = 0;

			/* Touch the first and last byte handed out. */
			sink ^= ((const uint8_t *)rec.data)[0];
			sink ^= ((const uint8_t *)rec.data)[rec.length - 1];
			(void)sink;
		} else if (rec.type != DL_DIFF_ZERO) {
			abort();
		}
	}
	/* After the end or an error, the same answer again. */
	if (dl_diff_read_record(r, &rec) != ret)
		abort();
	if (ret < 0 && !err[0])
		abort();
	dl_diff_reader_free(r);
	close(fd);
	return 0;
}
