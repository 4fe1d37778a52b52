// SPDX-License-Identifier: GPL-2.0-only
/*
 * Fuzz the size parser of the command line (dl_parse_size(): "512",
 * "64K", "1G", ...) against an independent model of it.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dl-util.h"
#include "fuzz.h"

/*
 * Digits, then nothing or one of KMGT (any case) optionally followed by
 * "B" or "iB" (any case); the value fits in 64 bits.
 */
static int model(const char *s, uint64_t *out)
{
	static const char units[] = "KMGT";
	unsigned __int128 v = 0;
	const char *u;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		v = v * 10 + (unsigned)(*s++ - '0');
		if (v >> 64)
			return -1;
	}
	if (*s) {
		u = strchr(units, toupper((unsigned char)*s));
		if (!u || !*u || (s[1] && strcasecmp(s + 1, "B") && strcasecmp(s + 1, "iB")))
			return -1;
		v <<= 10 * (u - units + 1);
		if (v >> 64)
			return -1;
	}
	*out = (uint64_t)v;
	return 0;
}

DL_FUZZ_ENTRY(size)
{
	char s[64];
	uint64_t a = 0, b = 0;
	int ra, rb;

	if (size >= sizeof(s) || memchr(data, '\0', size))
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	ra = dl_parse_size(s, &a);
	rb = model(s, &b);
	if ((ra == 0) != (rb == 0) || (ra == 0 && a != b)) {
		fprintf(stderr, "dl_parse_size(\"%s\"): %d %llu, model %d %llu\n", s,
			ra, (unsigned long long)a, rb, (unsigned long long)b);
		abort();
	}
	return 0;
}
