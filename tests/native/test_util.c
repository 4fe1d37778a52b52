// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_parse_size() and dl_block_size_sectors() against an independent model:
 * sizes are built here by arithmetic and formatted, then parsed back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "kselftest_harness.h"

#include "dl-dm.h"
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

/*
 * dl_stack_order() on a fake sysfs tree of random layers: every device comes
 * before each device it sits on (reachability computed here by a closure,
 * independently of the walk), unrelated devices keep their order, and a
 * cycle is refused.
 */
#define STK_N 10

static void stk_link(const char *root, unsigned int upper, unsigned int lower)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/dev", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev/block", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev/block/7:%u", root, upper);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev/block/7:%u/slaves", root, upper);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/dev/block/7:%u/slaves/loop%u", root, upper, lower);
	if (mkdir(path, 0755) && errno != EEXIST)
		abort();
	snprintf(path, sizeof(path), "%s/dev/block/7:%u/slaves/loop%u/dev",
		 root, upper, lower);
	f = fopen(path, "w");
	if (!f)
		abort();
	fprintf(f, "7:%u\n", lower);
	fclose(f);
}

TEST(stack_order)
{
	unsigned int seed = 1234, round, i, j, k, order[STK_N], pos[STK_N];
	uint32_t devs[STK_N][2];
	bool reach[STK_N][STK_N];
	char root[] = "/tmp/dl-stack-XXXXXX", cmd[600];

	for (round = 0; round < 20; round++) {
		ASSERT_NE(NULL, mkdtemp(root));
		memset(reach, 0, sizeof(reach));
		/* Edges only from a higher to a lower number: no cycle. */
		for (i = 0; i < STK_N; i++)
			for (j = 0; j < i; j++)
				if (rand_r(&seed) % 6 == 0) {
					stk_link(root, i, j);
					reach[i][j] = true;
				}
		for (k = 0; k < STK_N; k++)
			for (i = 0; i < STK_N; i++)
				for (j = 0; j < STK_N; j++)
					if (reach[i][k] && reach[k][j])
						reach[i][j] = true;
		/* Ask about a shuffled subset, in shuffled order. */
		for (i = 0; i < STK_N; i++) {
			devs[i][0] = 7;
			devs[i][1] = i;
		}
		for (i = STK_N - 1; i > 0; i--) {
			j = rand_r(&seed) % (i + 1);
			k = devs[i][1];
			devs[i][1] = devs[j][1];
			devs[j][1] = k;
		}
		ASSERT_EQ(0, dl_stack_order(root, (const uint32_t (*)[2])devs, STK_N, order));
		for (i = 0; i < STK_N; i++)
			pos[order[i]] = i;
		for (i = 0; i < STK_N; i++)
			for (j = 0; j < STK_N; j++) {
				if (reach[devs[i][1]][devs[j][1]])
					EXPECT_LT(pos[i], pos[j]);
				/*
				 * Nothing sits on i: it is never held back, so
				 * it keeps its place before every later device.
				 */
				if (j > i) {
					bool held = false;

					for (k = 0; k < STK_N; k++)
						if (reach[k][devs[i][1]])
							held = true;
					if (!held)
						EXPECT_LT(pos[i], pos[j]);
				}
			}
		/* A cycle: 0 sits on 9 as well. */
		stk_link(root, 0, 9);
		stk_link(root, 9, 0);
		EXPECT_EQ(-ELOOP, dl_stack_order(root, (const uint32_t (*)[2])devs, STK_N, order));
		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		ASSERT_EQ(0, system(cmd));
		memcpy(root + strlen(root) - 6, "XXXXXX", 6);
	}
}
