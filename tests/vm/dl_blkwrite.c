// SPDX-License-Identifier: GPL-2.0-only
/*
 * Write one 4 KiB piece at the start of each listed tracking block and say
 * which writes the kernel acknowledged (tests/vm/test_faults_25.sh):
 *
 *   dl_blkwrite DEV BLOCK_BYTES [DELAY_MS] < blocks
 *
 * Reads one block number per line from stdin; for each, one O_DIRECT
 * pwrite of fresh random bytes, then prints "BLOCK 0" when it succeeded
 * or "BLOCK ERRNO" when it failed, flushing stdout after each line (so a
 * record survives the writer being stopped).  DELAY_MS: a pause after
 * each write.  Exit status 0 when the list was worked through (failed
 * writes are results, not errors), 2 on bad usage or an unopenable DEV.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PIECE 4096

int main(int argc, char **argv)
{
	unsigned long long blk, bsize, delay = 0;
	char line[64];
	void *buf;
	int fd;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: dl_blkwrite DEV BLOCK_BYTES [DELAY_MS] < blocks\n");
		return 2;
	}
	bsize = strtoull(argv[2], NULL, 0);
	if (argc == 4)
		delay = strtoull(argv[3], NULL, 0);
	if (bsize < PIECE || bsize % PIECE) {
		fprintf(stderr, "dl_blkwrite: BLOCK_BYTES must be a multiple of %d\n", PIECE);
		return 2;
	}
	fd = open(argv[1], O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "dl_blkwrite: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (posix_memalign(&buf, PIECE, PIECE)) {
		close(fd);
		return 2;
	}
	srandom((unsigned int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		ssize_t n;
		size_t i;

		if (sscanf(line, "%llu", &blk) != 1)
			continue;
		for (i = 0; i < PIECE / sizeof(long); i++)
			((long *)buf)[i] = random();
		n = pwrite(fd, buf, PIECE, (off_t)(blk * bsize));
		printf("%llu %d\n", blk, n == PIECE ? 0 : n < 0 ? errno : EIO);
		fflush(stdout);
		if (delay) {
			struct timespec ts = { delay / 1000, (delay % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	free(buf);
	close(fd);
	return 0;
}
