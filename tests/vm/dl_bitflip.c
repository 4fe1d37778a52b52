// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_bitflip DEV BLOCK BIT NBITS: invert NBITS consecutive bits of the
 * 4 KiB block BLOCK of DEV, from bit BIT of the block (bit 0 is the lowest
 * bit of byte 0), with direct I/O so that no page cache is involved.
 * Used by test_metaflip_24.sh to damage metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096

int main(int argc, char **argv)
{
	unsigned long long blk, bit, n;
	uint8_t *buf;
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: dl_bitflip DEV BLOCK BIT NBITS\n");
		return 2;
	}
	blk = strtoull(argv[2], NULL, 10);
	bit = strtoull(argv[3], NULL, 10);
	n = strtoull(argv[4], NULL, 10);
	if (!n || bit >= BLOCK * 8 || n > BLOCK * 8 - bit) {
		fprintf(stderr, "dl_bitflip: bits %llu+%llu outside the block\n", bit, n);
		return 2;
	}
	if (posix_memalign((void **)&buf, BLOCK, BLOCK))
		return 1;
	fd = open(argv[1], O_RDWR | O_DIRECT | O_CLOEXEC);
	if (fd < 0 || pread(fd, buf, BLOCK, (off_t)(blk * BLOCK)) != BLOCK) {
		fprintf(stderr, "dl_bitflip: read %s block %llu: %s\n", argv[1], blk,
			strerror(errno));
		return 1;
	}
	for (unsigned long long i = bit; i < bit + n; i++)
		buf[i / 8] ^= (uint8_t)(1U << (i % 8));
	if (pwrite(fd, buf, BLOCK, (off_t)(blk * BLOCK)) != BLOCK || fsync(fd)) {
		fprintf(stderr, "dl_bitflip: write %s block %llu: %s\n", argv[1], blk,
			strerror(errno));
		return 1;
	}
	close(fd);
	free(buf);
	return 0;
}
