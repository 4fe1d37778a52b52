// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl metadata check, dump, repair: the command lines over
 * dl-meta.c, for the metadata device of a dirtylog device that is not
 * loaded (or an image of it).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dirtylogctl.h"
#include "dl-meta.h"
#include "dl-util.h"

struct meta_args {
	struct dl_meta_geom g;
	struct range_args rg;
	bool extents, yes, bad;
};

static int meta_opt(int c, void *priv)
{
	struct meta_args *a = priv;
	uint64_t v;

	switch (c) {
	case 'b':
		if (dl_parse_size(optarg, &v) || v % 512 || v / 512 > UINT32_MAX)
			a->bad = true;
		else
			a->g.block_sectors = (uint32_t)(v / 512);
		return 0;
	case 'd':
		if (dl_parse_size(optarg, &v) || !v)
			a->bad = true;
		else
			a->g.data_sectors = v;
		return 0;
	case 'e':
		a->extents = true;
		return 0;
	case 'y':
		a->yes = true;
		return 0;
	}
	return range_opt(c, &a->rg);
}

#define META_GEOM_OPTS \
	{ "block-size", required_argument, NULL, 'b' }, \
	{ "data-sectors", required_argument, NULL, 'd' }

/* Parse, open and read the metadata named by the one operand. */
static int meta_load(struct dl_ctx *ctx, int argc, char **argv,
		     const struct option *opts, struct meta_args *a,
		     struct dl_meta *m, bool rw)
{
	int fd, r;

	r = parse_opts(ctx, argc, argv, opts, meta_opt, a);
	if (r)
		return r;
	if (a->bad)
		return usage_error(ctx, "invalid --block-size or --data-sectors");
	if (argc - optind != 1)
		return usage_error(ctx, "expected one metadata device or image");
	if (a->rg.until && !a->rg.since)
		return usage_error(ctx, "--until needs --since");
	fd = dl_meta_open_dev(argv[optind], rw, ctx->err, sizeof(ctx->err));
	if (fd < 0)
		return op_error(ctx, fd);
	r = dl_meta_read(m, fd, &a->g, ctx->err, sizeof(ctx->err));
	if (r) {
		close(fd);
		dl_meta_free(m);
		return op_error(ctx, r);
	}
	return 0;
}

static void print_problems(struct dl_ctx *ctx, const struct dl_meta *m, FILE *f)
{
	if (ctx->json) {
		printf("\"problems\":[");
		for (size_t i = 0; i < m->nr_probs; i++) {
			const struct dlm_problem *p = &m->probs[i];

			printf("%s{\"block\":%" PRIu64 ",\"structure\":", i ? "," : "",
			       p->block);
			json_str(p->structure);
			printf(",\"interval\":");
			if (p->interval)
				json_str(p->interval);
			else
				printf("null");
			printf(",\"problem\":");
			json_str(p->what);
			printf("}");
		}
		printf("]");
		return;
	}
	for (size_t i = 0; i < m->nr_probs; i++) {
		const struct dlm_problem *p = &m->probs[i];

		fprintf(f, "block %" PRIu64 ": %s%s%s: %s\n", p->block, p->structure,
			p->interval ? " of " : "", p->interval ? p->interval : "",
			p->what);
	}
}

static const char *sb_state_name(enum dlm_sb_state s)
{
	return s == DLM_SB_OK ? "ok" : s == DLM_SB_SALVAGED ? "salvaged" : "lost";
}

int cmd_meta_check(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { META_GEOM_OPTS, DL_OPT_JSON, DL_OPT_END };
	struct meta_args a = { 0 };
	struct dl_meta m = { 0 };
	int r;

	r = meta_load(ctx, argc, argv, opts, &a, &m, false);
	if (r)
		return r;
	if (ctx->json) {
		printf("{\"clean\":%s,\"superblock\":\"%s\",\"checkpoints\":%" PRIu32
		       ",\"dropped_checkpoints\":%" PRIu32 ",\"used_blocks\":%" PRIu64
		       ",\"total_blocks\":%" PRIu64 ",",
		       m.nr_probs ? "false" : "true", sb_state_name(m.sb_state),
		       m.nr_ckpts, m.dropped_ckpts, m.nr_used, m.nr_meta_blocks);
		print_problems(ctx, &m, stdout);
		printf("}\n");
	} else {
		print_problems(ctx, &m, stdout);
		printf("%s: %zu problem%s, %" PRIu32 " checkpoints readable, %" PRIu64
		       "/%" PRIu64 " blocks reached\n", m.nr_probs ? "damaged" : "clean",
		       m.nr_probs, m.nr_probs == 1 ? "" : "s", m.nr_ckpts, m.nr_used,
		       m.nr_meta_blocks);
	}
	close(m.fd);
	r = m.nr_probs ? EXIT_DAMAGED : 0;
	dl_meta_free(&m);
	return r;
}

struct ext_out {
	bool json;
	uint64_t n;
	uint64_t bs;		/* block size in bytes, 0: "START COUNT" lines */
};

static int print_extent(void *ctx, uint64_t start, uint64_t count)
{
	struct ext_out *o = ctx;

	if (o->json)
		printf("%s[%" PRIu64 ",%" PRIu64 "]", o->n ? "," : "", start, count);
	else if (o->bs)
		printf("    %" PRIu64 " %" PRIu64 "\n", start, count);
	else
		printf("%" PRIu64 " %" PRIu64 "\n", start, count);
	o->n++;
	return 0;
}

static void dump_interval(struct dl_ctx *ctx, const struct dl_meta *m,
			  const struct dlm_interval *iv, bool extents, bool kept)
{
	uint64_t pages, n = kept ? dl_meta_count(m, iv, &pages) : 0;
	struct ext_out o = { .json = ctx->json, .bs = 1 };

	if (!kept)
		pages = 0;
	if (ctx->json) {
		printf("{\"kept\":%s,\"dirty_blocks\":%" PRIu64 ",\"pages\":%" PRIu64
		       ",\"damaged\":%s", kept ? "true" : "false", n, pages,
		       iv->damaged ? "true" : "false");
		if (extents && kept) {
			printf(",\"extents\":[");
			dl_meta_extents(m, &iv, 1, print_extent, &o);
			printf("]");
		}
		printf("}");
		return;
	}
	if (!kept) {
		printf("(interval not kept)\n");
		return;
	}
	printf("%" PRIu64 " dirty blocks in %" PRIu64 " pages%s\n", n, pages,
	       iv->damaged ? " (damaged parts counted as all dirty)" : "");
	if (extents)
		dl_meta_extents(m, &iv, 1, print_extent, &o);
}

static int dump_since(struct dl_ctx *ctx, struct dl_meta *m, struct meta_args *a)
{
	const struct dlm_interval **ivs = calloc(m->nr_ckpts + 1, sizeof(*ivs));
	struct ext_out o = { .json = ctx->json };
	int n;

	if (!ivs) {
		snprintf(ctx->err, sizeof(ctx->err), "out of memory");
		return op_error(ctx, -ENOMEM);
	}
	n = dl_meta_since(m, a->rg.since, a->rg.until, ivs);
	if (n < 0) {
		free(ivs);
		snprintf(ctx->err, sizeof(ctx->err), "%s",
			 n == -ENOENT ? "no such checkpoint" :
			 "--until must be newer than --since");
		return op_error(ctx, n);
	}
	if (ctx->json) {
		printf("{\"since\":");
		json_str(a->rg.since);
		printf(",\"until\":");
		if (a->rg.until)
			json_str(a->rg.until);
		else
			printf("null");
		printf(",\"extents\":[");
	}
	dl_meta_extents(m, ivs, (size_t)n, print_extent, &o);
	if (ctx->json)
		printf("]}\n");
	free(ivs);
	return 0;
}

int cmd_meta_dump(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		META_GEOM_OPTS,
		{ "extents", no_argument, NULL, 'e' },
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct meta_args a = { 0 };
	struct dl_meta m = { 0 };
	int r;

	r = meta_load(ctx, argc, argv, opts, &a, &m, false);
	if (r)
		return r;
	if (a.rg.since) {
		r = dump_since(ctx, &m, &a);
		goto out;
	}
	if (ctx->json) {
		printf("{\"superblock\":{\"state\":\"%s\",\"version\":%" PRIu32
		       ",\"flags\":%" PRIu32 ",\"invalid\":%s,\"uuid\":\"",
		       sb_state_name(m.sb_state), m.version, m.flags,
		       m.flags & 1 ? "true" : "false");
		for (int i = 0; i < 16; i++)
			printf("%02x", m.uuid[i]);
		printf("\",\"generation\":%" PRIu64 ",\"data_sectors\":%" PRIu64
		       ",\"block_sectors\":%" PRIu32 ",\"depth\":%" PRIu32
		       ",\"metadata_blocks\":%" PRIu64 ",\"next_checkpoint_id\":%" PRIu64
		       ",\"checkpoints\":%" PRIu32 ",\"table_blocks\":%" PRIu32
		       ",\"table_root\":%" PRIu64 ",\"active_root\":%" PRIu64 "},",
		       m.generation, m.data_sectors, m.block_sectors, m.depth,
		       m.sb_nr_meta_blocks, m.next_ckpt_id, m.sb_nr_ckpts,
		       m.sb_nr_table_blocks, m.table_root, m.active_root);
		printf("\"tracked_blocks\":%" PRIu64 ",\"bitmap_pages\":%" PRIu64
		       ",\"checkpoints\":[", m.nr_blocks, m.nr_pages);
		for (uint32_t i = 0; i < m.nr_ckpts; i++) {
			printf("%s{\"name\":", i ? "," : "");
			json_str(m.ckpts[i].name);
			printf(",\"id\":%" PRIu64 ",\"ctime_ns\":%" PRIu64
			       ",\"root\":%" PRIu64 ",\"interval\":", m.ckpts[i].id,
			       m.ckpts[i].ctime_ns, m.ckpts[i].root);
			dump_interval(ctx, &m, &m.ckpts[i].iv, a.extents, i > 0);
			printf("}");
		}
		printf("],\"active\":");
		dump_interval(ctx, &m, &m.active, a.extents, true);
		printf(",\"space\":{\"total_blocks\":%" PRIu64 ",\"used_blocks\":%" PRIu64
		       ",\"free_blocks\":%" PRIu64 "},", m.nr_meta_blocks, m.nr_used,
		       m.nr_meta_blocks - m.nr_used);
		print_problems(ctx, &m, stdout);
		printf("}\n");
		goto out;
	}
	printf("superblock: %s, version %" PRIu32 ", flags %" PRIu32 "%s, uuid ",
	       sb_state_name(m.sb_state), m.version, m.flags,
	       m.flags & 1 ? " (invalid)" : "");
	for (int i = 0; i < 16; i++)
		printf("%02x", m.uuid[i]);
	printf("\n  generation %" PRIu64 ", data %" PRIu64 " sectors, block %" PRIu32
	       " sectors, %" PRIu64 " blocks in %" PRIu64 " bitmap pages, depth %"
	       PRIu32 "\n  metadata blocks %" PRIu64 ", next checkpoint id %" PRIu64
	       ", %" PRIu32 " checkpoints in %" PRIu32 " table blocks from %" PRIu64
	       ", active root %" PRIu64 "\n", m.generation, m.data_sectors,
	       m.block_sectors, m.nr_blocks, m.nr_pages, m.depth, m.sb_nr_meta_blocks,
	       m.next_ckpt_id, m.sb_nr_ckpts, m.sb_nr_table_blocks, m.table_root,
	       m.active_root);
	for (uint32_t i = 0; i < m.nr_ckpts; i++) {
		printf("checkpoint %s id %" PRIu64 " ctime_ns %" PRIu64 " root %" PRIu64
		       ": ", m.ckpts[i].name, m.ckpts[i].id, m.ckpts[i].ctime_ns,
		       m.ckpts[i].root);
		dump_interval(ctx, &m, &m.ckpts[i].iv, a.extents, i > 0);
	}
	printf("active: ");
	dump_interval(ctx, &m, &m.active, a.extents, true);
	printf("space: %" PRIu64 " of %" PRIu64 " blocks reached, %" PRIu64 " free\n",
	       m.nr_used, m.nr_meta_blocks, m.nr_meta_blocks - m.nr_used);
	if (m.nr_probs) {
		printf("problems:\n");
		print_problems(ctx, &m, stdout);
	}
out:
	close(m.fd);
	dl_meta_free(&m);
	return r;
}

int cmd_meta_repair(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		META_GEOM_OPTS,
		{ "yes", no_argument, NULL, 'y' },
		{ "output", required_argument, NULL, 'o' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct meta_args a = { 0 };
	struct dl_meta m = { 0 };
	bool rw;
	int fd, r;

	/* Peek at the options first: in place needs a read-write open. */
	r = parse_opts(ctx, argc, argv, opts, meta_opt, &a);
	if (r)
		return r;
	if (!a.rg.out && !a.yes)
		return usage_error(ctx, "repairing in place needs --yes "
				   "(or write the result with -o FILE)");
	rw = !a.rg.out;
	memset(&a, 0, sizeof(a));
	r = meta_load(ctx, argc, argv, opts, &a, &m, rw);
	if (r)
		return r;
	if (!m.nr_pages) {
		snprintf(ctx->err, sizeof(ctx->err), "the superblock is lost: give "
			 "the geometry with --block-size and --data-sectors");
		r = op_error(ctx, -EINVAL);
		goto out;
	}
	if (a.rg.out) {
		fd = open(a.rg.out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)m.dev_bytes)) {
			snprintf(ctx->err, sizeof(ctx->err), "cannot create %s: %s",
				 a.rg.out, strerror(errno));
			r = op_error(ctx, -errno);
			if (fd >= 0) {
				close(fd);
				unlink(a.rg.out);
			}
			goto out;
		}
	} else {
		fd = m.fd;
	}
	r = dl_meta_write(&m, fd, a.rg.out != NULL, ctx->err, sizeof(ctx->err));
	if (a.rg.out) {
		if (close(fd) && !r)
			r = dl_fail(ctx->err, sizeof(ctx->err), errno, "close %s: %s",
				    a.rg.out, strerror(errno));
		if (r)
			unlink(a.rg.out);
	}
	if (r) {
		r = op_error(ctx, r);
		goto out;
	}
	if (ctx->json) {
		printf("{\"problems_found\":%zu,\"superblock\":\"%s\",\"checkpoints_kept\":%" PRIu32
		       ",\"checkpoints_dropped\":%" PRIu32 ",\"dropped_names\":",
		       m.nr_probs, sb_state_name(m.sb_state), m.nr_ckpts, m.dropped_ckpts);
		json_str(m.dropped_names);
		printf(",\"damaged_intervals\":[");
		for (uint32_t i = 0, n = 0; i < m.nr_ckpts; i++) {
			if (!m.ckpts[i].iv.damaged)
				continue;
			printf("%s", n++ ? "," : "");
			json_str(m.ckpts[i].name);
		}
		printf("],\"active_damaged\":%s}\n", m.active.damaged ? "true" : "false");
	} else {
		printf("repaired: %zu problems, %" PRIu32 " checkpoints kept\n",
		       m.nr_probs, m.nr_ckpts);
		if (m.sb_state == DLM_SB_LOST)
			printf("superblock lost: no checkpoint could be kept, every "
			       "block is dirty: take a full backup\n");
		if (m.dropped_ckpts)
			printf("dropped %" PRIu32 " checkpoints (%s): a backup based on "
			       "them needs a full copy\n", m.dropped_ckpts,
			       m.dropped_names[0] ? m.dropped_names : "names unknown");
		for (uint32_t i = 0; i < m.nr_ckpts; i++)
			if (m.ckpts[i].iv.damaged)
				printf("interval ending at %s: damaged parts marked all "
				       "dirty\n", m.ckpts[i].name);
		if (m.active.damaged)
			printf("active interval: damaged parts marked all dirty%s\n",
			       m.sb_state != DLM_SB_OK || m.dropped_ckpts ?
			       " (everything: every query answers all blocks)" : "");
	}
out:
	close(m.fd);
	dl_meta_free(&m);
	return r;
}
