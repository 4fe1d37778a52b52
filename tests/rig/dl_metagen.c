// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_metagen FILE [SEED]: write a small dirtylog metadata image (4 MiB,
 * 4 KiB tracking blocks over 1 GiB, 50 checkpoints: two table blocks,
 * random dirty blocks in every interval) through the dl-meta.c writer,
 * for host-side runs of dirtylogctl metadata (valgrind).  Prints the data
 * size in sectors.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dl-meta.h"

#define DATA_SECTORS	(2ULL << 20)
#define DEV_BYTES	(4ULL << 20)

int main(int argc, char **argv)
{
	struct dl_meta m;
	char name[16], err[256];
	int fd, r;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: dl_metagen FILE [SEED]\n");
		return 2;
	}
	srandom(argc == 3 ? (unsigned int)strtoul(argv[2], NULL, 0) : 1);
	r = dl_meta_init(&m, DEV_BYTES, 8, DATA_SECTORS);
	for (int i = 0; !r && i < 50; i++) {
		for (int k = 0; k < 4 && !r && i; k++) {
			uint64_t s = (uint64_t)random() % (DATA_SECTORS / 8 - 64);

			r = dl_meta_set(&m, &m.active, s, 1 + (uint64_t)random() % 64);
		}
		snprintf(name, sizeof(name), "ck%02d", i);
		if (!r)
			r = dl_meta_add_ckpt(&m, name, 1 + 2 * (uint64_t)i, 1000 + (uint64_t)i);
	}
	if (!r)
		r = dl_meta_set(&m, &m.active, 100, 50);
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (r || fd < 0 || ftruncate(fd, (off_t)DEV_BYTES)) {
		fprintf(stderr, "dl_metagen: cannot build the image\n");
		dl_meta_free(&m);
		return 1;
	}
	r = dl_meta_write(&m, fd, true, err, sizeof(err));
	dl_meta_free(&m);
	if (r || close(fd)) {
		fprintf(stderr, "dl_metagen: %s\n", err);
		return 1;
	}
	printf("%llu\n", (unsigned long long)DATA_SECTORS);
	return 0;
}
