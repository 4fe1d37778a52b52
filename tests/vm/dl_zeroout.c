// SPDX-License-Identifier: GPL-2.0-only
/*
 * Zero a byte range of a block device with the BLKZEROOUT ioctl (the
 * kernel sends REQ_OP_WRITE_ZEROES where the device has it), for
 * tests/vm/test_hugebio_30.sh: busybox's blkdiscard has no -z.
 *
 *   dl_zeroout DEV OFFSET LENGTH
 *
 * OFFSET and LENGTH in bytes, multiples of 512.  Exit status 0 on success,
 * 1 when the ioctl fails, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/fs.h>

int main(int argc, char **argv)
{
	uint64_t range[2];
	char *end;
	int fd;

	if (argc != 4) {
		fprintf(stderr, "usage: dl_zeroout DEV OFFSET LENGTH\n");
		return 2;
	}
	range[0] = strtoull(argv[2], &end, 0);
	if (*end)
		return 2;
	range[1] = strtoull(argv[3], &end, 0);
	if (*end)
		return 2;
	fd = open(argv[1], O_WRONLY);
	if (fd < 0) {
		fprintf(stderr, "dl_zeroout: %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	if (ioctl(fd, BLKZEROOUT, range)) {
		fprintf(stderr, "dl_zeroout: BLKZEROOUT: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
