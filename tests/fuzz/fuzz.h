/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Common part of the fuzz harnesses (tests/fuzz/fuzz_*.c).  Built with
 * -fsanitize=fuzzer, each harness is a libFuzzer program with its own
 * LLVMFuzzerTestOneInput(); built with -DDL_FUZZ_REPLAY (included by
 * tests/native/test_fuzzcorpus.c), the same entry point is called
 * dl_fuzz_NAME() and the replay test feeds it the committed corpus.
 */
#ifndef DL_FUZZ_H
#define DL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifdef DL_FUZZ_REPLAY
#define DL_FUZZ_ENTRY(name) int dl_fuzz_##name(const uint8_t *data, size_t size)
#else
#define DL_FUZZ_ENTRY(name) \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
#endif

/* An fd reading @size bytes of @data from offset 0 (a memfd). */
static inline int dl_fuzz_memfd(const uint8_t *data, size_t size)
{
	int fd = memfd_create("dl-fuzz", MFD_CLOEXEC);

	if (fd < 0) {
		perror("memfd_create");
		abort();
	}
	if (size && write(fd, data, size) != (ssize_t)size) {
		perror("write memfd");
		abort();
	}
	if (lseek(fd, 0, SEEK_SET)) {
		perror("lseek");
		abort();
	}
	return fd;
}

/*
 * Feed @one the input as it is, then @fix's copy of it with the checksums
 * made right (NULL when it has none to fix), so that the checks behind the
 * checksums are reached too.
 */
static inline void dl_fuzz_also_fixed(const uint8_t *data, size_t size,
				      void (*one)(const uint8_t *, size_t),
				      uint8_t *(*fix)(const uint8_t *, size_t))
{
	uint8_t *fixed = fix(data, size);

	one(data, size);
	if (fixed) {
		one(fixed, size);
		free(fixed);
	}
}

#endif /* DL_FUZZ_H */
