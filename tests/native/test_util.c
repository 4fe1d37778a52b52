// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_parse_size() and dl_block_size_sectors() against an independent model:
 * sizes are built here by arithmetic and formatted, then parsed back.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "kselftest_harness.h"

#include "dl-util.h"

TEST(parse_plain_and_suffixed)
{
	static const char *const suffix[] = { "", "K", "M", "G", "T" };
	static const char *const tail[] = { "", "B", "iB", "b", "IB" };
	char buf[64];
	uint64_t v;

	for (unsigned int s = 0; s < 5; s++) {
		for (unsigned int t = 0; t < 5; t++) {
			if (!s && t)
				continue;
			for (uint64_t n = 0; n < 2000; n += 7) {
				snprintf(buf, sizeof(buf), "%" PRIu64 "%s%s", n,
					 suffix[s], tail[t]);
				ASSERT_EQ(0, dl_parse_size(buf, &v)) TH_LOG("%s", buf);
				ASSERT_EQ(n << (10 * s), v) TH_LOG("%s", buf);
			}
		}
	}
	ASSERT_EQ(0, dl_parse_size("64k", &v));
	ASSERT_EQ(65536, v);
}

TEST(parse_rejects_garbage)
{
	static const char *const bad[] = {
		"", "K", "-1", " 1", "1 ", "1X", "1KK", "1KiBs", "0x10", "1.5M",
		"18446744073709551616", "16777216T", "abc",
	};
	uint64_t v = 42;

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		EXPECT_EQ(-1, dl_parse_size(bad[i], &v)) TH_LOG("'%s'", bad[i]);
		EXPECT_EQ(42, v);
	}
	EXPECT_EQ(-1, dl_parse_size(NULL, &v));
}

TEST(parse_largest)
{
	uint64_t v;

	ASSERT_EQ(0, dl_parse_size("18446744073709551615", &v));
	ASSERT_EQ(UINT64_MAX, v);
	ASSERT_EQ(0, dl_parse_size("16777215T", &v));
	ASSERT_EQ(16777215ULL << 40, v);
}

/* Model: allowed iff a power of two in [4096, 64 MiB]; walk every bit
 * position and its neighbours. */
TEST(block_size_rule)
{
	for (unsigned int bit = 0; bit < 64; bit++) {
		uint64_t p = 1ULL << bit;
		uint64_t probes[] = { p, p - 1, p + 1, p | 4096 };

		for (unsigned int i = 0; i < 4; i++) {
			uint64_t b = probes[i];
			int allowed = b >= 4096 && b <= (64ULL << 20) &&
				      __builtin_popcountll(b) == 1;

			EXPECT_EQ(allowed ? (uint32_t)(b / 512) : 0,
				  dl_block_size_sectors(b))
				TH_LOG("bytes %" PRIu64, b);
		}
	}
}

TEST_HARNESS_MAIN
