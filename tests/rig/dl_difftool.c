// SPDX-License-Identifier: GPL-2.0-only
/*
 * Helper of tests/rig/test_rbddiff_05.sh: writes diffs from a seeded
 * random model and applies diffs with the library's reader.
 *
 *   dl_difftool write --seed N --size BYTES --image MODEL --to NAME
 *                     [--from NAME] [--block-size BYTES] [--empty]
 *                     [--format rbd|native] --out PATH|-
 *	Load the model image MODEL (zeroes when missing; cut or grown to
 *	BYTES), draw random data and zero runs of whole blocks (none with
 *	--empty), apply them to the model in memory, write them as a diff
 *	from NAME (full without --from) to NAME, and save the model.
 *
 *   dl_difftool apply --image IMAGE DIFF
 *	Read DIFF (native or rbd) and apply it to IMAGE, created empty if
 *	missing and cut to the size the diff gives.
 *
 * Exit status 0, 1 on a refusal or failure (message on stderr), 2 on a
 * usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dl-diff.h"

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: dl_difftool write --seed N --size BYTES "
		"--image MODEL --to NAME [--from NAME] [--block-size BYTES] "
		"[--empty] [--format rbd|native] --out PATH\n"
		"       dl_difftool apply --image IMAGE DIFF\n");
	return 2;
}

static int load_model(const char *path, uint8_t *img, uint64_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	memset(img, 0, size);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, img, size);	/* a small file: one read */
	close(fd);
	return n < 0 ? -errno : 0;
}

static int save(const char *path, const uint8_t *img, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, img, size) != (ssize_t)size)
		ret = -EIO;
	close(fd);
	return ret;
}

static int cmd_write(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 'S' },
		{ "size", required_argument, NULL, 's' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "image", required_argument, NULL, 'i' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "empty", no_argument, NULL, 'e' },
		{ NULL, 0, NULL, 0 },
	};
	enum dl_diff_format fmt = DL_DIFF_RBD;
	const char *image = NULL, *out = NULL, *from = NULL, *to = NULL;
	uint64_t size = 0, bs = 4096, seed = 1;
	char err[DL_DIFF_ERR_LEN] = "";
	struct dl_diff_writer *w;
	struct dl_diff_info info;
	bool empty = false;
	uint8_t *img;
	int c, fd, ret = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S': seed = strtoull(optarg, NULL, 0); break;
		case 's': size = strtoull(optarg, NULL, 0); break;
		case 'b': bs = strtoull(optarg, NULL, 0); break;
		case 'i': image = optarg; break;
		case 'f': from = optarg; break;
		case 't': to = optarg; break;
		case 'o': out = optarg; break;
		case 'e': empty = true; break;
		case 'F':
			if (!strcmp(optarg, "native"))
				fmt = DL_DIFF_NATIVE;
			else if (strcmp(optarg, "rbd"))
				return usage();
			break;
		default: return usage();
		}
	}
	if (!image || !out || !to || !size || !bs || optind != argc)
		return usage();
	rng = seed ? seed : 1;
	memset(&info, 0, sizeof(info));
	info.size = size;
	info.block_size = (uint32_t)bs;
	info.full = !from;
	if (from) {
		snprintf(info.base_name, sizeof(info.base_name), "%s", from);
		info.base_id = 1;
	}
	snprintf(info.new_name, sizeof(info.new_name), "%s", to);
	info.new_id = 2;

	img = malloc(size);
	if (!img || load_model(image, img, size)) {
		fprintf(stderr, "dl_difftool: cannot load %s\n", image);
		return 1;
	}
	fd = strcmp(out, "-") ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644) :
				STDOUT_FILENO;
	if (fd < 0) {
		fprintf(stderr, "dl_difftool: cannot create %s: %m\n", out);
		return 1;
	}
	w = dl_diff_writer_open(fmt, fd, &info, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "dl_difftool: %s\n", err);
		return 1;
	}
	for (uint64_t b = 0, nr = (size + bs - 1) / bs; !empty && b < nr;) {
		uint64_t run = 1 + rnd() % 8, off, end;
		bool data = rnd() % 3;

		b += rnd() % 4 ? 0 : rnd() % 6;
		if (b >= nr)
			break;
		run = run > nr - b ? nr - b : run;
		off = b * bs;
		end = (b + run) * bs < size ? (b + run) * bs : size;
		if (data) {
			for (uint64_t i = off; i < end; i += 8) {
				uint64_t v = rnd();

				memcpy(img + i, &v, end - i < 8 ? end - i : 8);
			}
			ret = dl_diff_write_data(w, off, end - off, img + off);
		} else {
			memset(img + off, 0, end - off);
			ret = dl_diff_write_zero(w, off, end - off);
		}
		if (ret)
			break;
		b += run;
	}
	if (!ret)
		ret = dl_diff_writer_finish(w);
	if (ret)
		fprintf(stderr, "dl_difftool: %s\n", err);
	dl_diff_writer_free(w);
	if (fd != STDOUT_FILENO)
		close(fd);
	if (!ret && save(image, img, size)) {
		fprintf(stderr, "dl_difftool: cannot save %s\n", image);
		ret = -EIO;
	}
	free(img);
	return ret ? 1 : 0;
}

static int cmd_apply(int argc, char **argv)
{
	static const uint8_t zero[65536];
	const char *image = NULL;
	char err[DL_DIFF_ERR_LEN] = "";
	struct dl_diff_reader *r;
	struct dl_diff_record rec;
	struct dl_diff_info info;
	int c, in, fd, ret;

	static const struct option opts[] = {
		{ "image", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 },
	};
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c != 'i')
			return usage();
		image = optarg;
	}
	if (!image || optind != argc - 1)
		return usage();
	in = open(argv[optind], O_RDONLY);
	fd = open(image, O_RDWR | O_CREAT, 0600);
	if (in < 0 || fd < 0) {
		fprintf(stderr, "dl_difftool: cannot open: %m\n");
		return 1;
	}
	r = dl_diff_reader_open(in, &info, err, sizeof(err));
	if (!r) {
		fprintf(stderr, "dl_difftool: %s\n", err);
		return 1;
	}
	while ((ret = dl_diff_read_record(r, &rec)) == 1) {
		uint64_t done = 0;

		while (done < rec.length) {
			uint64_t n = rec.length - done;
			const void *p = (const uint8_t *)rec.data + done;

			if (rec.type == DL_DIFF_ZERO) {
				n = n < sizeof(zero) ? n : sizeof(zero);
				p = zero;
			}
			if (pwrite(fd, p, n, (off_t)(rec.offset + done)) !=
			    (ssize_t)n) {
				fprintf(stderr, "dl_difftool: write failed\n");
				ret = -EIO;
				goto out;
			}
			done += n;
		}
	}
	if (ret)
		fprintf(stderr, "dl_difftool: %s\n", err);
	else if (ftruncate(fd, (off_t)info.size))
		ret = -errno;
out:
	dl_diff_reader_free(r);
	close(in);
	close(fd);
	return ret ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "write"))
		return cmd_write(argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return cmd_apply(argc - 1, argv + 1);
	return usage();
}
