// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl dirty, show, merge: dirty maps, live and in bitmap files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirtylogctl.h"
#include "dl-bmfile.h"
#include "dl-dm.h"
#include "dl-nl.h"
#include "dl-util.h"

/*
 * dirty
 */

struct extent {
	uint64_t start, count;
};

static int extent_add(uint64_t start, uint64_t count, void *arg)
{
	struct extent *e = vec_push(arg);

	if (!e)
		return -ENOMEM;
	e->start = start;
	e->count = count;
	return 0;
}

struct dirty_args {
	struct range_args rg;
	uint32_t format;
	bool bad_format;
};

static int dirty_opt(int c, void *priv)
{
	struct dirty_args *a = priv;

	switch (c) {
	case 'e':
		if (!strcmp(optarg, "auto"))
			a->format = DM_DIRTYLOG_DUMP_AUTO;
		else if (!strcmp(optarg, "extents"))
			a->format = DM_DIRTYLOG_DUMP_EXTENTS;
		else if (!strcmp(optarg, "bitmap"))
			a->format = DM_DIRTYLOG_DUMP_BITMAP;
		else
			a->bad_format = true;
		return 0;
	}
	return range_opt(c, &a->rg);
}

/* The ids of the checkpoints a map runs between. */
struct ckpt_find {
	const char *since, *until;
	uint64_t since_id, until_id;
};

static int ckpt_find_one(const char *name, uint64_t id, uint64_t ctime_ns,
			 void *arg)
{
	struct ckpt_find *f = arg;

	(void)ctime_ns;
	if (!strcmp(name, f->since))
		f->since_id = id;
	if (f->until && !strcmp(name, f->until))
		f->until_id = id;
	return 0;
}

static void ckpt_find_restart(void *arg)
{
	struct ckpt_find *f = arg;

	f->since_id = f->until_id = 0;
}

static int ckpt_find(struct dl_ctx *ctx, const struct dl_nl_sel *sel,
		     struct ckpt_find *f)
{
	int r;

	ckpt_find_restart(f);
	r = dl_nl_ckpt_dump(&ctx->nl, sel, ckpt_find_one, ckpt_find_restart, f,
			    NULL);

	if (!r && (!f->since_id || (f->until && !f->until_id))) {
		snprintf(ctx->nl.err, sizeof(ctx->nl.err), "no checkpoint '%s'",
			 f->since_id ? f->until : f->since);
		r = -ENOENT;
	}
	return r;
}

static int file_extent(uint64_t start, uint64_t count, void *arg)
{
	return dl_bmfile_set_range(arg, start, count);
}

static int file_chunk(uint64_t start, const uint8_t *bits, uint64_t nbits,
		      void *arg)
{
	struct dl_bmfile *f = arg;

	uint64_t keep = start < f->nr_blocks ? f->nr_blocks - start : 0;

	/*
	 * The last chunk may run past the device, with those bits clear; a
	 * set bit there means the device grew since it was sized: -ERANGE,
	 * and the caller starts again with the new size.
	 */
	for (uint64_t i = keep; i < nbits; i++)
		if (bits[i / 8] >> (i % 8) & 1)
			return -ERANGE;
	if (!keep)
		return 0;
	return dl_bmfile_or_bits(f, start, bits, nbits < keep ? nbits : keep);
}

static void file_restart(void *arg)
{
	struct dl_bmfile *f = arg;

	memset(f->bits, 0, dl_bmfile_body_len(f->nr_blocks));
}

static void print_file_json(const char *path, const struct dl_bmfile *f)
{
	printf("{\"file\":");
	json_str(path);
	printf(",\"device\":");
	json_str(f->dev_name);
	printf(",\"instance_uuid\":");
	json_str(f->dev_uuid);
	printf(",\"since\":");
	json_str(f->since);
	printf(",\"since_id\":%" PRIu64 ",\"until\":", f->since_id);
	if (f->until_id)
		json_str(f->until);
	else
		printf("null");
	printf(",\"until_id\":%" PRIu64 ",\"block_size_bytes\":%" PRIu64
	       ",\"blocks\":%" PRIu64 ",\"dirty_blocks\":%" PRIu64
	       ",\"created_ns\":%" PRIu64, f->until_id,
	       (uint64_t)f->block_sectors << 9, f->nr_blocks, f->nr_dirty,
	       f->created_ns);
}

static void print_file_human(const char *path, const struct dl_bmfile *f)
{
	printf("%s\n", path);
	printf("  device:           %s (instance %s)\n", f->dev_name, f->dev_uuid);
	printf("  since:            %s (id %" PRIu64 ")\n", f->since, f->since_id);
	if (f->until_id)
		printf("  until:            %s (id %" PRIu64 ")\n", f->until, f->until_id);
	else
		printf("  until:            the time of the query\n");
	printf("  block size:       %" PRIu64 " bytes\n", (uint64_t)f->block_sectors << 9);
	printf("  blocks:           %" PRIu64 "\n", f->nr_blocks);
	printf("  dirty:            %" PRIu64 " blocks\n", f->nr_dirty);
}

/* dirty -o FILE: fetch the map into a bitmap file. */
static int dirty_to_file(struct dl_ctx *ctx, const struct dl_nl_sel *sel,
			 const struct dirty_args *a, struct dl_nl_dev *dev)
{
	struct ckpt_find before = { .since = a->rg.since, .until = a->rg.until };
	struct ckpt_find after = before;
	struct dl_nl_dirty_opts o = {
		.format = a->format, .extent = file_extent, .chunk = file_chunk,
		.restart = file_restart,
	};
	struct dl_bmfile f = { 0 };
	struct dl_nl_dev dev2;
	int r, attempt;

	o.arg = &f;
	/*
	 * The file names the checkpoints by id and has the device's size:
	 * make sure the ids, the instance and the size read before the dump
	 * still hold after it, else start again (sized anew).
	 */
	for (attempt = 0;; attempt++) {
		if (f.nr_blocks != dev->nr_blocks) {
			dl_bmfile_free(&f);
			r = dl_bmfile_alloc(&f, dev->nr_blocks);
			if (r) {
				snprintf(ctx->err, sizeof(ctx->err),
					 "cannot hold a map of %" PRIu64 " blocks: %s",
					 dev->nr_blocks, strerror(-r));
				return op_error(ctx, r);
			}
		} else {
			file_restart(&f);
		}
		r = ckpt_find(ctx, sel, &before);
		if (!r)
			r = dl_nl_dirty_fetch(&ctx->nl, sel, a->rg.since, a->rg.until, &o);
		if (r == -ERANGE)
			r = 0;		/* grown meanwhile: dev2 differs below */
		else if (!r)
			r = ckpt_find(ctx, sel, &after);
		if (!r)
			r = dl_nl_dev_get(&ctx->nl, sel, &dev2);
		if (r) {
			dl_bmfile_free(&f);
			return nl_error(ctx, r);
		}
		if (before.since_id == after.since_id &&
		    before.until_id == after.until_id &&
		    !strcmp(dev->instance_uuid, dev2.instance_uuid) &&
		    dev->nr_blocks == dev2.nr_blocks)
			break;
		if (attempt == DL_NL_DUMP_RESTARTS) {
			dl_bmfile_free(&f);
			fprintf(stderr, "dirtylogctl %s: the device kept changing during the query; try again\n",
				ctx->cmd);
			return EXIT_OPFAIL;
		}
		*dev = dev2;
		after.since_id = after.until_id = (uint64_t)-1;
	}
	f.block_sectors = dev->block_sectors;
	snprintf(f.dev_uuid, sizeof(f.dev_uuid), "%s", dev->instance_uuid);
	snprintf(f.dev_name, sizeof(f.dev_name), "%s", dev->name);
	snprintf(f.since, sizeof(f.since), "%s", a->rg.since);
	f.since_id = before.since_id;
	snprintf(f.until, sizeof(f.until), "%s", a->rg.until ? a->rg.until : "");
	f.until_id = before.until_id;
	r = dl_bmfile_write(a->rg.out, &f, ctx->err, sizeof(ctx->err));
	if (r) {
		dl_bmfile_free(&f);
		return op_error(ctx, r);
	}
	if (!strcmp(a->rg.out, "-")) {
		/* The file itself went to stdout: no summary. */
	} else if (ctx->json) {
		print_file_json(a->rg.out, &f);
		printf(",\"bytes_received\":%" PRIu64 ",\"bitmap_bytes_received\":%" PRIu64 "}\n",
		       o.bytes, o.bytes_bitmap);
	} else {
		print_file_human(a->rg.out, &f);
		printf("  received:         %" PRIu64 " bytes (%" PRIu64 " as raw bitmap)\n",
		       o.bytes, o.bytes_bitmap);
	}
	dl_bmfile_free(&f);
	return 0;
}

int cmd_dirty(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "output", required_argument, NULL, 'o' },
		{ "encoding", required_argument, NULL, 'e' },
		DL_OPT_JSON,
		DL_OPT_UUID,
		DL_OPT_END,
	};
	struct vec exts = { .size = sizeof(struct extent) };
	uint64_t bs, size, off, len, total_blocks = 0, total_bytes = 0;
	struct dirty_args a = { .format = DM_DIRTYLOG_DUMP_AUTO };
	struct dl_nl_dirty_opts o = {
		.extent = extent_add, .restart = vec_clear, .arg = &exts,
	};
	const struct extent *e;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	int r;

	r = parse_opts(ctx, argc, argv, opts, dirty_opt, &a);
	if (r)
		return r;
	if (a.bad_format)
		return usage_error(ctx, "--encoding takes auto, extents or bitmap");
	if (argc - optind != 1)
		return usage_error(ctx, "expected exactly one DEVICE");
	if (!a.rg.since)
		return usage_error(ctx, "--since is required");
	r = parse_sel(ctx, argv[optind], &sel);
	if (r)
		return r;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_dev_get(&ctx->nl, &sel, &dev);
	if (r)
		return nl_error(ctx, r);
	if (a.rg.out)
		return dirty_to_file(ctx, &sel, &a, &dev);
	o.format = a.format;
	r = dl_nl_dirty_fetch(&ctx->nl, &sel, a.rg.since, a.rg.until, &o);
	if (r) {
		vec_free(&exts);
		return nl_error(ctx, r);
	}
	if (o.restarts)
		fprintf(stderr, "dirtylogctl %s: checkpoints changed during the query; restarted it %u time%s\n",
			ctx->cmd, o.restarts, o.restarts == 1 ? "" : "s");

	bs = (uint64_t)dev.block_sectors << 9;
	size = dev.size_sectors << 9;
	/* Extents ascend and do not wrap: if the last one ends below 2^64
	 * bytes, every offset and length fits. */
	e = exts.n ? (const struct extent *)exts.items + exts.n - 1 : NULL;
	if (e && __builtin_mul_overflow(e->start + e->count, bs, &off)) {
		fprintf(stderr, "dirtylogctl %s: the kernel sent an extent beyond 2^64 bytes\n",
			ctx->cmd);
		vec_free(&exts);
		return EXIT_OPFAIL;
	}
	if (ctx->json) {
		printf("{\"device\":");
		json_str(dev.name);
		printf(",\"since\":");
		json_str(a.rg.since);
		printf(",\"until\":");
		if (a.rg.until)
			json_str(a.rg.until);
		else
			printf("null");
		printf(",\"block_size_bytes\":%" PRIu64 ",\"extents\":[", bs);
	}
	for (size_t i = 0; i < exts.n; i++) {
		e = (const struct extent *)exts.items + i;
		off = e->start * bs;
		len = e->count * bs;
		/* The last block may be partial: stop at the device's end. */
		if (off < size && len > size - off)
			len = size - off;
		total_blocks += e->count;
		total_bytes += len;
		if (ctx->json)
			printf("%s{\"start\":%" PRIu64 ",\"count\":%" PRIu64
			       ",\"offset_bytes\":%" PRIu64 ",\"length_bytes\":%" PRIu64 "}",
			       i ? "," : "", e->start, e->count, off, len);
		else
			printf("start %" PRIu64 " count %" PRIu64 " offset %" PRIu64
			       " length %" PRIu64 "\n", e->start, e->count, off, len);
	}
	if (ctx->json)
		printf("],\"total_blocks\":%" PRIu64 ",\"total_bytes\":%" PRIu64 "}\n",
		       total_blocks, total_bytes);
	else
		printf("total: %zu extent%s, %" PRIu64 " blocks, %" PRIu64 " bytes\n",
		       exts.n, exts.n == 1 ? "" : "s", total_blocks, total_bytes);
	vec_free(&exts);
	return 0;
}

/*
 * show, merge: bitmap files, offline.
 */

static int print_extent_json(uint64_t start, uint64_t count, void *arg)
{
	bool *first = arg;

	printf("%s{\"start\":%" PRIu64 ",\"count\":%" PRIu64 "}", *first ? "" : ",",
	       start, count);
	*first = false;
	return 0;
}

static int print_extent_human(uint64_t start, uint64_t count, void *arg)
{
	(void)arg;
	printf("start %" PRIu64 " count %" PRIu64 "\n", start, count);
	return 0;
}

static int show_opt(int c, void *priv)
{
	bool *extents = priv;

	if (c != 'x')
		return 1;
	*extents = true;
	return 0;
}

static void print_file(struct dl_ctx *ctx, const char *path,
		       const struct dl_bmfile *f, bool extents)
{
	bool first = true;

	if (!ctx->json) {
		print_file_human(path, f);
		if (extents)
			dl_bmfile_extents(f, print_extent_human, NULL);
		return;
	}
	print_file_json(path, f);
	if (extents) {
		printf(",\"extents\":[");
		dl_bmfile_extents(f, print_extent_json, &first);
		printf("]");
	}
	printf("}\n");
}

int cmd_show(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "extents", no_argument, NULL, 'x' }, DL_OPT_JSON, DL_OPT_END,
	};
	struct dl_bmfile f = { 0 };
	bool extents = false;
	int r;

	r = parse_opts(ctx, argc, argv, opts, show_opt, &extents);
	if (r)
		return r;
	if (argc - optind != 1)
		return usage_error(ctx, "expected exactly one FILE");
	r = dl_bmfile_read(argv[optind], &f, ctx->err, sizeof(ctx->err));
	if (r)
		return op_error(ctx, r);
	print_file(ctx, argv[optind], &f, extents);
	dl_bmfile_free(&f);
	return 0;
}

static int merge_opt(int c, void *priv)
{
	const char **out = priv;

	if (c != 'o')
		return 1;
	*out = optarg;
	return 0;
}

int cmd_merge(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' }, DL_OPT_JSON, DL_OPT_END,
	};
	struct dl_bmfile *in, out = { 0 };
	const char *output = NULL;
	unsigned int n, i;
	int r;

	r = parse_opts(ctx, argc, argv, opts, merge_opt, &output);
	if (r)
		return r;
	if (!output)
		return usage_error(ctx, "-o FILE is required");
	if (argc - optind < 1)
		return usage_error(ctx, "expected at least one FILE to merge");
	n = (unsigned int)(argc - optind);
	in = calloc(n, sizeof(*in));
	if (!in) {
		snprintf(ctx->err, sizeof(ctx->err), "%s", strerror(ENOMEM));
		return op_error(ctx, -ENOMEM);
	}
	for (i = 0; i < n; i++) {
		r = dl_bmfile_read(argv[optind + i], &in[i], ctx->err, sizeof(ctx->err));
		if (r) {
			/* Say which file: the reason alone may not. */
			fprintf(stderr, "dirtylogctl %s: %s: %s\n", ctx->cmd,
				argv[optind + i], ctx->err);
			while (i--)
				dl_bmfile_free(&in[i]);
			free(in);
			return exit_code(r);
		}
	}
	r = dl_bmfile_merge(in, n, &out, ctx->err, sizeof(ctx->err));
	if (!r)
		r = dl_bmfile_write(output, &out, ctx->err, sizeof(ctx->err));
	for (i = 0; i < n; i++)
		dl_bmfile_free(&in[i]);
	free(in);
	if (r) {
		dl_bmfile_free(&out);
		return op_error(ctx, r);
	}
	if (strcmp(output, "-"))
		print_file(ctx, output, &out, false);
	dl_bmfile_free(&out);
	return 0;
}
