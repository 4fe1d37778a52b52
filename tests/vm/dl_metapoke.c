// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_metapoke DEV BLOCK OFFSET VALUE: store the 64-bit little-endian VALUE
 * at byte OFFSET of 4 KiB metadata block BLOCK of DEV and seal the block
 * again (checksum of the dirtylog format), so a test can build hostile but
 * well-checksummed metadata (cross-linked or out-of-range pointers).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dl-meta.h"
#include "dl-util.h"

int main(int argc, char **argv)
{
	uint8_t blk[DLM_BLOCK_SIZE];
	unsigned long long b, off, v;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: dl_metapoke DEV BLOCK OFFSET VALUE\n");
		return 2;
	}
	b = strtoull(argv[2], NULL, 0);
	off = strtoull(argv[3], NULL, 0);
	v = strtoull(argv[4], NULL, 0);
	if (off < 16 || off > DLM_BLOCK_SIZE - 8) {
		fprintf(stderr, "dl_metapoke: offset must lie in 16..4088\n");
		return 2;
	}
	fd = open(argv[1], O_RDWR);
	if (fd < 0 || pread(fd, blk, sizeof(blk), (off_t)(b * DLM_BLOCK_SIZE)) !=
	    (ssize_t)sizeof(blk)) {
		perror("dl_metapoke: read");
		return 1;
	}
	dl_put_le64(blk + off, v);
	dl_put_le32(blk, dl_meta_csum(blk));
	if (pwrite(fd, blk, sizeof(blk), (off_t)(b * DLM_BLOCK_SIZE)) !=
	    (ssize_t)sizeof(blk) || fsync(fd) || close(fd)) {
		perror("dl_metapoke: write");
		return 1;
	}
	return 0;
}
