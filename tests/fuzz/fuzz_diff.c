// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the diff stream readers (native and rbd diff v1, dl-diff.c): open
 * the stream, read every record to the end or the first error, and check
 * what the reader promises about each record it hands out.
 */
#include <string.h>

#include "dl-bmfile.h"
#include "dl-diff.h"
#include "dl-util.h"
#include "fuzz.h"

/*
 * A copy of a native stream @data with every checksum made right (header,
 * each record, the trailer and its stream crc), so that the fuzzer
 * reaches the checks behind them; NULL when it is no native stream.
 */
static uint8_t *diff_fix_crcs(const uint8_t *data, size_t size)
{
	size_t pos = DL_DIFF_HEADER_SIZE;
	uint32_t stream;
	uint8_t *p;

	if (size < DL_DIFF_HEADER_SIZE || memcmp(data, DL_DIFF_MAGIC, DL_DIFF_MAGIC_LEN))
		return NULL;
	p = malloc(size);
	if (!p)
		abort();
	memcpy(p, data, size);
	dl_put_le32(p + DL_DIFF_OFF_HEADER_CRC, dl_crc32c(0, p, DL_DIFF_OFF_HEADER_CRC));
	stream = dl_crc32c(0, p, DL_DIFF_HEADER_SIZE);
	while (pos + DL_DIFF_REC_SIZE <= size) {
		uint8_t *r = p + pos;
		uint32_t type = dl_get_le32(r + DL_DIFF_REC_OFF_TYPE);
		uint64_t len = dl_get_le64(r + DL_DIFF_REC_OFF_LENGTH), data_len = 0;
		uint32_t crc;

		if (type == DL_DIFF_REC_TRAILER) {
			dl_put_le32(r + DL_DIFF_TRL_OFF_STREAM_CRC, stream);
			dl_put_le32(r + DL_DIFF_TRL_OFF_CRC, dl_crc32c(0, r, DL_DIFF_TRL_OFF_CRC));
			break;
		}
		if (type == DL_DIFF_REC_DATA)
			data_len = len < size - pos - DL_DIFF_REC_SIZE ? len :
				   size - pos - DL_DIFF_REC_SIZE;
		crc = dl_crc32c(0, r, DL_DIFF_REC_OFF_CRC);
		crc = dl_crc32c(crc, r + DL_DIFF_REC_SIZE, (size_t)data_len);
		dl_put_le32(r + DL_DIFF_REC_OFF_CRC, crc);
		stream = dl_crc32c(stream, r, DL_DIFF_REC_SIZE + (size_t)data_len);
		pos += DL_DIFF_REC_SIZE + (size_t)data_len;
	}
	return p;
}

static void diff_one(const uint8_t *data, size_t size)
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
		return;
	}
	if (memchr(info.base_name, '\0', sizeof(info.base_name)) == NULL ||
	    memchr(info.new_name, '\0', sizeof(info.new_name)) == NULL)
		abort();
	while ((ret = dl_diff_read_record(r, &rec)) == 1) {
		/* Only data is bounded: a zero record may span the device. */
		if (rec.index != next++ || !rec.length ||
		    (rec.type == DL_DIFF_DATA && rec.length > DL_DIFF_MAX_DATA) ||
		    rec.offset < end ||
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
}

/* The input as it is, then (a native stream) with its checksums right. */
DL_FUZZ_ENTRY(diff)
{
	dl_fuzz_also_fixed(data, size, diff_one, diff_fix_crcs);
	return 0;
}
