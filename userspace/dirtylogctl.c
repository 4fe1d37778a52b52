// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl - control dm-dirtylog devices.
 *
 * Exit codes: 0 success, 1 the operation failed, 2 usage error.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dl-dm.h"
#include "dl-util.h"

#define DL_VERSION "0.1.0"

enum { EXIT_OPFAIL = 1, EXIT_USAGE = 2 };

struct dl_ctx {
	bool json;
	char err[512];
};

struct dl_cmd {
	const char *name;
	const char *usage;
	const char *help;
	int (*fn)(struct dl_ctx *ctx, int argc, char **argv);
};

static const struct dl_cmd *dl_find_cmd(const char *name);

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "dirtylogctl %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'dirtylogctl %s --help'.\n", cmd);
	return EXIT_USAGE;
}

static int op_error(struct dl_ctx *ctx, const char *op)
{
	fprintf(stderr, "dirtylogctl %s: %s\n", op, ctx->err);
	return EXIT_OPFAIL;
}

static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	return false;
}

static int cmd_create(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "block-size", required_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 },
	};
	const char *data = NULL, *metadata = NULL;
	uint64_t block_bytes = 64 << 10;
	uint32_t sectors;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:m:b:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			data = optarg;
			break;
		case 'm':
			metadata = optarg;
			break;
		case 'b':
			if (dl_parse_size(optarg, &block_bytes))
				return usage_error("create", "invalid block size '%s'", optarg);
			break;
		default:
			return usage_error("create", "%s", "invalid option");
		}
	}
	if (optind != argc - 1)
		return usage_error("create", "%s", "expected exactly one device NAME");
	if (!data || !metadata)
		return usage_error("create", "%s", "--data and --metadata are required");
	sectors = dl_block_size_sectors(block_bytes);
	if (!sectors)
		return usage_error("create", "%s",
				   "block size must be a power of two from 4K to 64M");
	if (dl_dm_create(argv[optind], metadata, data, sectors, ctx->err,
			 sizeof(ctx->err)))
		return op_error(ctx, "create");
	return 0;
}

static int cmd_remove(struct dl_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return usage_error("remove", "%s", "expected exactly one device NAME");
	if (dl_dm_remove(argv[1], ctx->err, sizeof(ctx->err)))
		return op_error(ctx, "remove");
	return 0;
}

struct status_out {
	bool json;
	int count;
};

/* Print @s as a JSON string; the fields we print never hold control bytes
 * other than what we escape here. */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static void print_status(const struct dl_dm_info *info, void *arg)
{
	struct status_out *out = arg;
	unsigned int block_sectors = 0;
	unsigned long long nr_blocks = 0;

	sscanf(info->status, "%u %llu", &block_sectors, &nr_blocks);
	if (out->json) {
		printf("%s{\"name\":", out->count ? "," : "");
		json_str(info->name);
		printf(",\"dev\":\"%u:%u\",\"size_bytes\":%llu,\"block_size_bytes\":%llu,\"blocks\":%llu,\"table\":",
		       info->major, info->minor,
		       (unsigned long long)info->length << 9,
		       (unsigned long long)block_sectors << 9, nr_blocks);
		json_str(info->table);
		printf("}");
	} else {
		printf("%s (%u:%u): size %llu bytes, block size %llu bytes, %llu blocks\n  table: %s\n",
		       info->name, info->major, info->minor,
		       (unsigned long long)info->length << 9,
		       (unsigned long long)block_sectors << 9, nr_blocks,
		       info->table);
	}
	out->count++;
}

static int cmd_status(struct dl_ctx *ctx, int argc, char **argv)
{
	struct status_out out = { .json = ctx->json };
	struct dl_dm_info info;
	int r;

	if (argc > 2)
		return usage_error("status", "%s", "expected at most one device NAME");
	if (ctx->json)
		printf("[");
	if (argc == 2) {
		r = dl_dm_info(argv[1], &info, ctx->err, sizeof(ctx->err));
		if (r > 0)
			snprintf(ctx->err, sizeof(ctx->err),
				 "%s is not a dirtylog device", argv[1]);
		if (r) {
			if (ctx->json)
				printf("]\n");
			return op_error(ctx, "status");
		}
		print_status(&info, &out);
	} else if (dl_dm_list(print_status, &out, ctx->err, sizeof(ctx->err)) < 0) {
		if (ctx->json)
			printf("]\n");
		return op_error(ctx, "status");
	}
	if (ctx->json)
		printf("]\n");
	return 0;
}

static int cmd_help(struct dl_ctx *ctx, int argc, char **argv);

static const struct dl_cmd dl_cmds[] = {
	{ "create", "create NAME --data DEV --metadata DEV [--block-size SIZE]",
	  "Create a dirtylog device NAME over the whole data device DEV, keeping\n"
	  "its dirty bitmaps on the metadata device.  SIZE is the tracking\n"
	  "granularity: a power of two from 4K to 64M (default 64K).",
	  cmd_create },
	{ "remove", "remove NAME", "Remove the dirtylog device NAME.", cmd_remove },
	{ "status", "status [NAME]",
	  "Show one dirtylog device, or all of them.  With --json, print a JSON\n"
	  "array of objects with the keys name, dev, size_bytes,\n"
	  "block_size_bytes, blocks and table.",
	  cmd_status },
	{ "help", "help [COMMAND]", "Show help for all commands or one.", cmd_help },
};

static const struct dl_cmd *dl_find_cmd(const char *name)
{
	for (size_t i = 0; i < sizeof(dl_cmds) / sizeof(dl_cmds[0]); i++)
		if (!strcmp(dl_cmds[i].name, name))
			return &dl_cmds[i];
	return NULL;
}

static void print_usage(FILE *f)
{
	fprintf(f, "Usage: dirtylogctl [--json] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(dl_cmds) / sizeof(dl_cmds[0]); i++)
		fprintf(f, "  %s\n", dl_cmds[i].usage);
	fprintf(f, "\nOptions:\n  --json     machine-readable output\n"
		   "  --help     show this help (or COMMAND --help)\n"
		   "  --version  show the version\n"
		   "\nExit status: 0 success, 1 operation failed, 2 usage error.\n");
}

static void print_cmd_help(const struct dl_cmd *cmd)
{
	printf("Usage: dirtylogctl %s\n\n%s\n", cmd->usage, cmd->help);
}

static int cmd_help(struct dl_ctx *ctx, int argc, char **argv)
{
	const struct dl_cmd *cmd;

	(void)ctx;
	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	cmd = dl_find_cmd(argv[1]);
	if (!cmd)
		return usage_error("help", "unknown command '%s'", argv[1]);
	print_cmd_help(cmd);
	return 0;
}

int main(int argc, char **argv)
{
	struct dl_ctx ctx = { 0 };
	const struct dl_cmd *cmd;
	int i = 1;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			ctx.json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			print_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("dirtylogctl %s\n", DL_VERSION);
			return 0;
		} else {
			fprintf(stderr, "dirtylogctl: unknown option '%s'\n", argv[i]);
			print_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		print_usage(stderr);
		return EXIT_USAGE;
	}
	cmd = dl_find_cmd(argv[i]);
	if (!cmd) {
		fprintf(stderr, "dirtylogctl: unknown command '%s'\n", argv[i]);
		print_usage(stderr);
		return EXIT_USAGE;
	}
	if (cmd->fn != cmd_help && want_help(argc - i, argv + i)) {
		print_cmd_help(cmd);
		return 0;
	}
	return cmd->fn(&ctx, argc - i, argv + i);
}
