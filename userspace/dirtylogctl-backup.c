// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl backup begin, backup end: the command lines over
 * dl-backup.c (pull-mode backup over NBD).
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dirtylogctl.h"
#include "dl-backup.h"
#include "dl-util.h"

struct begin_args {
	struct dl_backup_opts o;
	bool bad_port, bad_size;
};

static int begin_opt(int c, void *priv)
{
	struct begin_args *a = priv;
	char *end;
	unsigned long v;

	switch (c) {
	case 's':
		a->o.since = optarg;
		return 0;
	case 'c':
		a->o.checkpoint = optarg;
		return 0;
	case 'S':
		a->o.socket = optarg;
		return 0;
	case 'P':
		errno = 0;
		v = strtoul(optarg, &end, 10);
		if (errno || *end || !v || v > 65535)
			a->bad_port = true;
		else
			a->o.port = (unsigned int)v;
		return 0;
	case 'w':
		a->o.cow = optarg;
		return 0;
	case 'W':
		if (dl_parse_size(optarg, &a->o.cow_bytes) || !a->o.cow_bytes)
			a->bad_size = true;
		return 0;
	}
	return 1;
}

int cmd_backup_begin(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 'S' },
		{ "port", required_argument, NULL, 'P' },
		{ "cow", required_argument, NULL, 'w' },
		{ "cow-size", required_argument, NULL, 'W' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct begin_args a = { 0 };
	struct dl_backup_info info;
	int r;

	r = parse_opts(ctx, argc, argv, opts, begin_opt, &a);
	if (r)
		return r;
	if (a.bad_port)
		return usage_error(ctx, "--port must be a TCP port from 1 to 65535");
	if (a.bad_size)
		return usage_error(ctx, "invalid --cow-size");
	if (argc - optind != 1)
		return usage_error(ctx, "expected NAME");
	if (!a.o.checkpoint)
		return usage_error(ctx, "--checkpoint NEW is required");
	if (a.o.socket && a.o.port)
		return usage_error(ctx, "--socket and --port: choose one");
	a.o.device = argv[optind];
	r = ctx_nl(ctx);
	if (r)
		return nl_error(ctx, r);
	/* A ^C during begin is cleaned up by 'backup end', not half way. */
	signal(SIGINT, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	r = dl_backup_begin(&ctx->nl, &a.o, &info, ctx->err, sizeof(ctx->err));
	if (r) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, ctx->err);
		return exit_code(r);
	}
	if (ctx->json) {
		printf("{\"device\":");
		json_str(a.o.device);
		printf(",\"checkpoint\":");
		json_str(a.o.checkpoint);
		printf(",\"id\":%" PRIu64 ",\"since\":", info.id);
		if (a.o.since)
			json_str(a.o.since);
		else
			printf("null");
		printf(",\"since_id\":%" PRIu64 ",\"uri\":", info.since_id);
		json_str(info.uri);
		printf(",\"socket\":");
		if (info.socket[0])
			json_str(info.socket);
		else
			printf("null");
		printf(",\"port\":%u,\"bitmap\":", info.port);
		if (info.bitmap[0])
			json_str(info.bitmap);
		else
			printf("null");
		printf(",\"context\":");
		if (info.bitmap[0]) {
			char c[300];

			snprintf(c, sizeof(c), "qemu:dirty-bitmap:%s", info.bitmap);
			json_str(c);
		} else {
			printf("null");
		}
		printf(",\"image\":");
		json_str(info.image);
		printf(",\"snapshot\":");
		json_str(info.snapshot);
		printf(",\"size_bytes\":%" PRIu64 ",\"block_size_bytes\":%u,"
		       "\"dirty_blocks\":%" PRIu64 ",\"server_pid\":%d}\n",
		       info.size, info.block_size, info.dirty_blocks, info.server_pid);
	} else {
		printf("%s: checkpoint %s (id %" PRIu64 ") served at %s\n", a.o.device,
		       a.o.checkpoint, info.id, info.uri);
		if (info.bitmap[0])
			printf("  dirty since %s: %" PRIu64 " blocks of %u bytes, context qemu:dirty-bitmap:%s\n",
			       info.bitmap, info.dirty_blocks, info.block_size, info.bitmap);
		else
			printf("  full backup: no bitmap, read all %" PRIu64 " bytes\n", info.size);
		printf("  image %s over %s, qemu-nbd pid %d\n", info.image, info.snapshot,
		       info.server_pid);
		printf("  when done: dirtylogctl backup end %s [--failed]\n", a.o.device);
	}
	return 0;
}

static int end_opt(int c, void *priv)
{
	if (c != 'F')
		return 1;
	*(bool *)priv = true;
	return 0;
}

int cmd_backup_end(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "failed", no_argument, NULL, 'F' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct dl_backup_end_result res;
	bool failed = false;
	int r;

	r = parse_opts(ctx, argc, argv, opts, end_opt, &failed);
	if (r)
		return r;
	if (argc - optind != 1)
		return usage_error(ctx, "expected NAME");
	r = ctx_nl(ctx);
	if (r)
		return nl_error(ctx, r);
	signal(SIGINT, SIG_IGN);
	r = dl_backup_end(&ctx->nl, argv[optind], failed, &res, ctx->err,
			  sizeof(ctx->err));
	if (r) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, ctx->err);
		return exit_code(r);
	}
	if (ctx->json) {
		printf("{\"device\":");
		json_str(argv[optind]);
		printf(",\"checkpoint\":");
		json_str(res.checkpoint);
		printf(",\"failed\":%s,\"server_was_dead\":%s,\"rolled_back\":%s}\n",
		       failed || res.server_was_dead ? "true" : "false",
		       res.server_was_dead ? "true" : "false",
		       res.rolled_back ? "true" : "false");
	} else {
		printf("%s: backup ended%s; checkpoint %s %s\n", argv[optind],
		       res.server_was_dead ? " (the NBD server had died)" : "",
		       res.checkpoint,
		       res.rolled_back ? "deleted again: the next backup still covers every change" :
		       "kept");
	}
	return 0;
}
