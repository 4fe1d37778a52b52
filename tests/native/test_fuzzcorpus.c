// SPDX-License-Identifier: GPL-2.0-only
/*
 * Replay the fuzz corpus (every file of tests/fuzz/corpus/NAME: the seeds, inputs the
 * fuzzers found interesting, and reproducers of the bugs they found)
 * through the entry points of the harnesses tests/fuzz/fuzz_NAME.c, built
 * here without libFuzzer but with ASan and UBSan (see the Makefile): a
 * harness aborts on a broken promise, the sanitizers on a memory error.
 * The corpus directory is compiled in (DL_FUZZ_CORPUS) and can be moved
 * with the environment variable of the same name.
 */
#define DL_FUZZ_REPLAY 1

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "kselftest_harness.h"

#include "../fuzz/fuzz_bmfile.c"
#include "../fuzz/fuzz_diff.c"
#include "../fuzz/fuzz_state.c"
#include "../fuzz/fuzz_size.c"

#ifndef DL_FUZZ_CORPUS
#define DL_FUZZ_CORPUS "tests/fuzz/corpus"
#endif

/* Feed every file of corpus/@name to @fn; returns the number of files. */
static int replay(struct __test_metadata *_metadata, const char *name,
		  int (*fn)(const uint8_t *, size_t))
{
	const char *top = getenv("DL_FUZZ_CORPUS") ?: DL_FUZZ_CORPUS;
	char dir[PATH_MAX], path[PATH_MAX + 256];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/%s", top, name);
	d = opendir(dir);
	ASSERT_NE(NULL, d) TH_LOG("cannot open %s", dir);
	while ((de = readdir(d))) {
		struct stat st;
		uint8_t *buf;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd) TH_LOG("%s", path);
		ASSERT_EQ(0, fstat(fd, &st));
		buf = malloc(st.st_size ? st.st_size : 1);
		ASSERT_NE(NULL, buf);
		ASSERT_EQ(st.st_size, read(fd, buf, st.st_size)) TH_LOG("%s", path);
		close(fd);
		fn(buf, st.st_size);
		free(buf);
		n++;
	}
	closedir(d);
	TH_LOG("%s: %d inputs replayed", name, n);
	/* A corpus that went missing must not pass as an empty one. */
	ASSERT_LT(0, n);
	return n;
}

TEST(bmfile_corpus)
{
	replay(_metadata, "bmfile", dl_fuzz_bmfile);
}

TEST(diff_corpus)
{
	replay(_metadata, "diff", dl_fuzz_diff);
}

TEST(state_corpus)
{
	replay(_metadata, "state", dl_fuzz_state);
}

TEST(size_corpus)
{
	replay(_metadata, "size", dl_fuzz_size);
}

/* The state file parser against hand-written cases, accepted and refused. */
TEST(state_parse_cases)
{
	static const char good[] =
		"dirtylog-apply 1\nstate complete\nuuid 0123456789abcdef0123456789abcdef\n"
		"checkpoint c1\nid 7\nsize 1048576\n";
	static const char *const bad[] = {
		"",
		"dirtylog-apply 2\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1",
		"dirtylog-apply 1\nstate done\nuuid -\ncheckpoint c\nid 1\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid -1\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid x\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 18446744073709551616\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1\nid 2\n",
		"dirtylog-apply 1\nstate complete\nuuid ABC\ncheckpoint c\nid 1\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1 2\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1\n\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint c\nid 1\nsize 1\nextra 1\n",
		"state complete\ndirtylog-apply 1\nuuid -\ncheckpoint c\nid 1\nsize 1\n",
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint "
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nid 1\nsize 1\n",
	};
	struct dl_apply_state st;

	ASSERT_EQ(0, dl_apply_state_parse(good, strlen(good), &st));
	EXPECT_TRUE(st.complete);
	EXPECT_STREQ("0123456789abcdef0123456789abcdef", st.uuid);
	EXPECT_STREQ("c1", st.ckpt);
	EXPECT_EQ(7, st.id);
	EXPECT_EQ(1048576, st.size);
	ASSERT_EQ(0, dl_apply_state_parse(
		"dirtylog-apply 1\nstate incomplete\nuuid -\ncheckpoint -\nid 0\nsize 0\n",
		66, &st));
	EXPECT_FALSE(st.complete);
	EXPECT_STREQ("", st.uuid);
	/* "-" is how the writer spells "no checkpoint": read it back so. */
	EXPECT_STREQ("", st.ckpt);
	/* rbd snapshot names may hold spaces; they are read back whole. */
	ASSERT_EQ(0, dl_apply_state_parse(
		"dirtylog-apply 1\nstate complete\nuuid -\ncheckpoint a b\nid 0\nsize 0\n",
		66, &st));
	EXPECT_STREQ("a b", st.ckpt);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = dl_apply_state_parse(bad[i], strlen(bad[i]), &st);

		EXPECT_EQ(-EBADMSG, r) TH_LOG("bad case %u", i);
	}
}

TEST_HARNESS_MAIN
