// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl export, apply, verify, revert: the command lines over
 * dl-export.c and dl-apply.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylogctl.h"
#include "dl-apply.h"
#include "dl-diff.h"
#include "dl-export.h"
#include "dl-util.h"

static void on_signal(int sig)
{
	(void)sig;
	dl_export_interrupted = 1;
}

/* Stop cleanly on ^C or a kill; a closed pipe is a write error, not death. */
static void catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int parse_progress(const char *s, enum dl_progress *p)
{
	if (!strcmp(s, "auto"))
		*p = DL_PROGRESS_AUTO;
	else if (!strcmp(s, "none"))
		*p = DL_PROGRESS_NONE;
	else if (!strcmp(s, "json"))
		*p = DL_PROGRESS_JSON;
	else
		return -1;
	return 0;
}

struct export_args {
	struct dl_export_opts o;
	bool bad_format, bad_progress, bad_size;
};

static int export_opt(int c, void *priv)
{
	struct export_args *a = priv;
	int f;

	switch (c) {
	case 's':
		a->o.since = optarg;
		return 0;
	case 'c':
		a->o.checkpoint = optarg;
		return 0;
	case 'o':
		a->o.output = optarg;
		return 0;
	case 'f':
		f = dl_export_format_parse(optarg);
		if (f < 0)
			a->bad_format = true;
		else
			a->o.format = (enum dl_export_format)f;
		return 0;
	case 'w':
		a->o.cow = optarg;
		return 0;
	case 'W':
		if (dl_parse_size(optarg, &a->o.cow_bytes) || !a->o.cow_bytes)
			a->bad_size = true;
		return 0;
	case 'b':
		a->o.backing = optarg;
		return 0;
	case 'z':
		a->o.fuzzy = true;
		return 0;
	case 'L':
		a->o.lvm = true;
		return 0;
	case 'p':
		if (parse_progress(optarg, &a->o.progress))
			a->bad_progress = true;
		return 0;
	}
	return 1;
}

int cmd_export(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ "cow", required_argument, NULL, 'w' },
		{ "cow-size", required_argument, NULL, 'W' },
		{ "backing", required_argument, NULL, 'b' },
		{ "fuzzy", no_argument, NULL, 'z' },
		{ "lvm", no_argument, NULL, 'L' },
		{ "progress", required_argument, NULL, 'p' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct export_args a = { .o.format = DL_EXPORT_NATIVE };
	struct dl_export_result res;
	int r;

	r = parse_opts(ctx, argc, argv, opts, export_opt, &a);
	if (r)
		return r;
	if (a.bad_format)
		return usage_error(ctx, "--format must be native, rbd-diff, qcow2 or raw");
	if (a.bad_progress)
		return usage_error(ctx, "--progress must be auto, none or json");
	if (a.bad_size)
		return usage_error(ctx, "invalid --cow-size");
	if (argc - optind != 1)
		return usage_error(ctx, "expected NAME");
	if (!a.o.checkpoint)
		return usage_error(ctx, "--checkpoint NEW is required");
	if (!a.o.output)
		return usage_error(ctx, "-o FILE is required (\"-\" for standard output)");
	if (a.o.fuzzy && (a.o.cow || a.o.cow_bytes))
		return usage_error(ctx, "--fuzzy takes no snapshot: --cow does not apply");
	if (a.o.lvm && a.o.fuzzy)
		return usage_error(ctx, "--lvm takes a snapshot, --fuzzy takes none: choose one");
	if (a.o.lvm && a.o.cow)
		return usage_error(ctx, "--lvm keeps the snapshot in the VG: --cow does not apply (--cow-size does)");
	if (a.o.backing && a.o.format != DL_EXPORT_QCOW2)
		return usage_error(ctx, "--backing is for --format qcow2");
	a.o.device = argv[optind];
	r = ctx_nl(ctx);
	if (r)
		return nl_error(ctx, r);
	catch_signals();
	r = dl_export(&ctx->nl, &a.o, &res, ctx->err, sizeof(ctx->err));
	if (r) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, ctx->err);
		if (res.rolled_back)
			fprintf(stderr, "dirtylogctl %s: checkpoint '%s' deleted again: the next export still covers everything\n",
				ctx->cmd, a.o.checkpoint);
		return exit_code(r);
	}
	if (ctx->json) {
		/* To stderr when the stream itself goes to stdout. */
		FILE *f = strcmp(a.o.output, "-") ? stdout : stderr;

		fprintf(f, "{\"device\":");
		dl_json_str(f, a.o.device);
		fprintf(f, ",\"checkpoint\":");
		dl_json_str(f, a.o.checkpoint);
		fprintf(f, ",\"id\":%" PRIu64 ",\"since\":", res.new_id);
		if (a.o.since) {
			dl_json_str(f, a.o.since);
			fprintf(f, ",\"since_id\":%" PRIu64, res.base_id);
		}
		else
			fprintf(f, "null,\"since_id\":0");
		fprintf(f, ",\"format\":\"%s\",\"fuzzy\":%s,\"size_bytes\":%" PRIu64
			",\"block_size_bytes\":%u,\"dirty_blocks\":%" PRIu64
			",\"read_bytes\":%" PRIu64 ",\"data_bytes\":%" PRIu64
			",\"zero_bytes\":%" PRIu64 ",\"seconds\":%.3f}\n",
			dl_export_format_name(a.o.format), a.o.fuzzy ? "true" : "false",
			res.size, res.block_size, res.dirty_blocks, res.read_bytes,
			res.data_bytes, res.zero_bytes, res.seconds);
	} else if (strcmp(a.o.output, "-")) {
		printf("%s: checkpoint %s (id %" PRIu64 "), %s%s, %" PRIu64
		       " dirty blocks: %" PRIu64 " bytes of data, %" PRIu64
		       " bytes of zeroes in %.1f s\n",
		       a.o.output, a.o.checkpoint, res.new_id,
		       a.o.since ? "incremental" : "full",
		       a.o.fuzzy ? " (fuzzy)" : "", res.dirty_blocks,
		       res.data_bytes, res.zero_bytes, res.seconds);
	}
	return 0;
}

static void print_summaries(struct dl_ctx *ctx, const struct dl_stream_summary *s,
			    unsigned int n, const char *target)
{
	if (ctx->json) {
		printf("{");
		if (target) {
			printf("\"target\":");
			json_str(target);
			printf(",");
		}
		printf("\"streams\":[");
		for (unsigned int i = 0; i < n; i++) {
			printf("%s{\"file\":", i ? "," : "");
			json_str(s[i].file);
			printf(",\"format\":\"%s\",\"instance_uuid\":",
			       s[i].format == DL_DIFF_RBD ? "rbd-diff" : "native");
			if (s[i].uuid[0])
				json_str(s[i].uuid);
			else
				printf("null");
			printf(",\"base\":");
			if (s[i].full)
				printf("null");
			else
				json_str(s[i].base);
			printf(",\"base_id\":%" PRIu64 ",\"checkpoint\":", s[i].base_id);
			json_str(s[i].new_name);
			printf(",\"id\":%" PRIu64 ",\"fuzzy\":%s,\"size_bytes\":%" PRIu64
			       ",\"block_size_bytes\":%" PRIu64 ",\"records\":%" PRIu64
			       ",\"data_bytes\":%" PRIu64 ",\"zero_bytes\":%" PRIu64 "}",
			       s[i].new_id, s[i].fuzzy ? "true" : "false", s[i].size,
			       s[i].block_size, s[i].records, s[i].data_bytes,
			       s[i].zero_bytes);
		}
		printf("]}\n");
		return;
	}
	for (unsigned int i = 0; i < n; i++)
		printf("%s: %s %s%s -> %s, %" PRIu64 " bytes, %" PRIu64 " records, %"
		       PRIu64 " bytes of data, %" PRIu64 " bytes of zeroes%s\n",
		       s[i].file, s[i].format == DL_DIFF_RBD ? "rbd-diff" : "native",
		       s[i].full ? "full" : "from ", s[i].full ? "" : s[i].base,
		       s[i].new_name, s[i].size, s[i].records, s[i].data_bytes,
		       s[i].zero_bytes, s[i].fuzzy ? " (fuzzy)" : "");
}

struct apply_args {
	const char *state;
	enum dl_progress progress;
	bool bad_progress;
};

static int apply_opt(int c, void *priv)
{
	struct apply_args *a = priv;

	switch (c) {
	case 'S':
		a->state = optarg;
		return 0;
	case 'p':
		if (parse_progress(optarg, &a->progress))
			a->bad_progress = true;
		return 0;
	}
	return 1;
}

int cmd_apply(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state", required_argument, NULL, 'S' },
		{ "progress", required_argument, NULL, 'p' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct apply_args a = { 0 };
	struct dl_stream_summary *sum;
	unsigned int n;
	int r;

	r = parse_opts(ctx, argc, argv, opts, apply_opt, &a);
	if (r)
		return r;
	if (a.bad_progress)
		return usage_error(ctx, "--progress must be auto, none or json");
	if (argc - optind < 2)
		return usage_error(ctx, "expected FILE... TARGET");
	n = (unsigned int)(argc - optind - 1);
	sum = calloc(n, sizeof(*sum));
	if (!sum) {
		snprintf(ctx->err, sizeof(ctx->err), "%s", strerror(ENOMEM));
		return op_error(ctx, -ENOMEM);
	}
	catch_signals();
	r = dl_apply(argv + optind, n, argv[argc - 1], a.state, a.progress, sum,
		     ctx->err, sizeof(ctx->err));
	if (!r)
		print_summaries(ctx, sum, n, argv[argc - 1]);
	free(sum);
	return r ? op_error(ctx, r) : 0;
}

int cmd_verify(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { DL_OPT_JSON, DL_OPT_END };
	struct dl_stream_summary *sum;
	unsigned int n;
	int r;

	r = parse_opts(ctx, argc, argv, opts, NULL, NULL);
	if (r)
		return r;
	if (argc - optind < 1)
		return usage_error(ctx, "expected FILE...");
	n = (unsigned int)(argc - optind);
	sum = calloc(n, sizeof(*sum));
	if (!sum) {
		snprintf(ctx->err, sizeof(ctx->err), "%s", strerror(ENOMEM));
		return op_error(ctx, -ENOMEM);
	}
	r = dl_verify(argv + optind, n, true, sum, ctx->err, sizeof(ctx->err));
	if (!r)
		print_summaries(ctx, sum, n, NULL);
	free(sum);
	return r ? op_error(ctx, r) : 0;
}

struct revert_args {
	const char *to, *from;
	bool force, bad_progress;
	enum dl_progress progress;
};

static int revert_opt(int c, void *priv)
{
	struct revert_args *a = priv;

	switch (c) {
	case 't':
		a->to = optarg;
		return 0;
	case 'F':
		a->from = optarg;
		return 0;
	case 'f':
		a->force = true;
		return 0;
	case 'p':
		if (parse_progress(optarg, &a->progress))
			a->bad_progress = true;
		return 0;
	}
	return 1;
}

int cmd_revert(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "from", required_argument, NULL, 'F' },
		{ "force", no_argument, NULL, 'f' },
		{ "progress", required_argument, NULL, 'p' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct revert_args a = { 0 };
	uint64_t blocks, bytes;
	int r;

	r = parse_opts(ctx, argc, argv, opts, revert_opt, &a);
	if (r)
		return r;
	if (a.bad_progress)
		return usage_error(ctx, "--progress must be auto, none or json");
	if (argc - optind != 1)
		return usage_error(ctx, "expected NAME");
	if (!a.to || !a.from)
		return usage_error(ctx, "--to CKPT and --from IMAGE are required");
	r = ctx_nl(ctx);
	if (r)
		return nl_error(ctx, r);
	catch_signals();
	r = dl_revert(&ctx->nl, argv[optind], a.to, a.from, a.force, a.progress,
		      &blocks, &bytes, ctx->err, sizeof(ctx->err));
	if (r)
		return op_error(ctx, r);
	if (ctx->json) {
		printf("{\"device\":");
		json_str(argv[optind]);
		printf(",\"to\":");
		json_str(a.to);
		printf(",\"blocks\":%" PRIu64 ",\"bytes\":%" PRIu64 "}\n", blocks, bytes);
	} else {
		printf("%s: %" PRIu64 " blocks (%" PRIu64 " bytes) copied back from %s\n",
		       argv[optind], blocks, bytes, a.from);
	}
	return 0;
}
