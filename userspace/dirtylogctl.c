// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl - control dm-dirtylog devices.
 *
 * create and remove go through libdevmapper (dl-dm.c); every other command
 * through the dm-dirtylog generic netlink family (dl-nl.c).  Exit codes and
 * the DEVICE syntax are in print_usage().  Only main() exits.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dl-apply.h"
#include "dl-bmfile.h"
#include "dl-diff.h"
#include "dl-dm.h"
#include "dl-export.h"
#include "dl-nl.h"
#include "dl-util.h"
#include "dirtylogctl.h"

/* From the top-level VERSION file, through the Makefile. */
#ifndef DL_VERSION
#error "DL_VERSION is defined by the Makefile (from the VERSION file)"
#endif


struct dl_cmd {
	const char *name;	/* one word, or "group word" */
	const char *usage;	/* arguments */
	const char *help;
	int (*fn)(struct dl_ctx *ctx, int argc, char **argv);
};

int usage_error(struct dl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dirtylogctl %s: ", ctx->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'dirtylogctl %s --help'.\n", ctx->cmd);
	return EXIT_USAGE;
}

int exit_code(int r)
{
	switch (r < 0 ? -r : r) {
	case 0:
		return 0;
	case ENOENT:
	case ENODEV:
	case ENXIO:
		return EXIT_NOTFOUND;
	case EPERM:
	case EACCES:
		return EXIT_PERM;
	case DL_NL_ENOMODULE:
		return EXIT_NOMODULE;
	default:
		return EXIT_OPFAIL;
	}
}

/* Netlink failures (-errno @r): the reason is in ctx->nl.err. */
int nl_error(struct dl_ctx *ctx, int r)
{
	fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd,
		ctx->nl.err[0] ? ctx->nl.err : strerror(r < 0 ? -r : r));
	return exit_code(r);
}

/* libdevmapper and bitmap-file failures (-errno @r): the reason is in ctx->err. */
int op_error(struct dl_ctx *ctx, int r)
{
	fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, ctx->err);
	return exit_code(r);
}

int ctx_nl(struct dl_ctx *ctx)
{
	int r;

	if (ctx->nl_open)
		return 0;
	r = dl_nl_open(&ctx->nl);
	if (!r)
		ctx->nl_open = true;
	return r;
}

/*
 * Options.  Every command takes --json; those that take DEVICE arguments
 * also --uuid.  Unknown options and missing arguments are usage errors.
 */

/* Handle an option every command shares; false if @c is not one. */
static bool common_opt(struct dl_ctx *ctx, int c)
{
	switch (c) {
	case 'J':
		ctx->json = true;
		return true;
	case 'U':
		ctx->uuid = true;
		return true;
	}
	return false;
}

static int getopt_error(struct dl_ctx *ctx, int c, char **argv)
{
	if (c == ':')
		return usage_error(ctx, "option '%s' needs an argument",
				   argv[optind - 1]);
	if (optopt)
		return usage_error(ctx, "unknown option '-%c'", optopt);
	return usage_error(ctx, "unknown option '%s'", argv[optind - 1]);
}

/*
 * Parse options with @opts, leaving the operands in argv[optind..].  @fn
 * (may be NULL) takes the command's own options: it returns 0, or 1 for an
 * option that is not its own.
 */
int parse_opts(struct dl_ctx *ctx, int argc, char **argv,
		      const struct option *opts,
		      int (*fn)(int c, void *priv), void *priv)
{
	const char *shortopts = ":";
	int c;

	/* --output is also -o, wherever a command has it. */
	for (const struct option *o = opts; o->name; o++)
		if (o->val == 'o')
			shortopts = ":o:";
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
		if (common_opt(ctx, c))
			continue;
		if (c == '?' || c == ':' || !fn || fn(c, priv))
			return getopt_error(ctx, c, argv);
	}
	return 0;
}

int range_opt(int c, struct range_args *r)
{
	switch (c) {
	case 's':
		r->since = optarg;
		return 0;
	case 'u':
		r->until = optarg;
		return 0;
	case 'o':
		r->out = optarg;
		return 0;
	}
	return 1;
}

static int parse_sel(struct dl_ctx *ctx, const char *arg, struct dl_nl_sel *sel)
{
	if (dl_nl_sel_parse(arg, ctx->uuid, sel))
		return usage_error(ctx, "invalid %s '%s'",
				   ctx->uuid ? "dm uuid" : "DEVICE", arg);
	return 0;
}

/* A decimal number, digits only. */
static int parse_u64(const char *s, uint64_t *v)
{
	uint64_t n = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*v = n;
	return 0;
}

/* Print @s as a JSON string (bytes >= 0x80 pass through as UTF-8). */
void json_str(const char *s)
{
	dl_json_str(stdout, s);
}

/* A growing array of @size-byte items. */
struct vec {
	void *items;
	size_t n, cap, size;
};

static void *vec_push(struct vec *v)
{
	void *p;

	if (v->n == v->cap) {
		size_t cap = v->cap ? v->cap * 2 : 64;

		if (cap > SIZE_MAX / v->size)
			return NULL;
		p = realloc(v->items, cap * v->size);
		if (!p)
			return NULL;
		v->items = p;
		v->cap = cap;
	}
	return (char *)v->items + v->n++ * v->size;
}

static void vec_clear(void *arg)
{
	((struct vec *)arg)->n = 0;
}

static void vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

/*
 * create, remove: libdevmapper.
 */

static int create_opt(int c, void *priv)
{
	const char **a = priv;	/* data, metadata, block size, format */

	switch (c) {
	case 'f':
		a[3] = "yes";
		return 0;
	case 'd':
		a[0] = optarg;
		return 0;
	case 'm':
		a[1] = optarg;
		return 0;
	case 'b':
		a[2] = optarg;
		return 0;
	}
	return 1;
}

static int cmd_create(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data", required_argument, NULL, 'd' },
		{ "metadata", required_argument, NULL, 'm' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "format", no_argument, NULL, 'f' },
		DL_OPT_JSON,
		DL_OPT_END,
	};
	const char *a[4] = { NULL, NULL, NULL, NULL };
	uint64_t block_bytes = 64 << 10;
	uint32_t sectors;
	int r;

	r = parse_opts(ctx, argc, argv, opts, create_opt, a);
	if (r)
		return r;
	if (a[2] && dl_parse_size(a[2], &block_bytes))
		return usage_error(ctx, "invalid block size '%s'", a[2]);
	if (optind != argc - 1)
		return usage_error(ctx, "expected exactly one device NAME");
	if (!a[0] || !a[1])
		return usage_error(ctx, "--data and --metadata are required");
	sectors = dl_block_size_sectors(block_bytes);
	if (!sectors)
		return usage_error(ctx, "block size must be a power of two from 4K to 64M");
	if (a[3]) {
		r = dl_zero_superblock(a[1], ctx->err, sizeof(ctx->err));
		if (r)
			return op_error(ctx, r);
	}
	r = dl_dm_create(argv[optind], a[1], a[0], sectors, ctx->err,
			 sizeof(ctx->err));
	return r ? op_error(ctx, r) : 0;
}

static int cmd_remove(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { DL_OPT_JSON, DL_OPT_END };
	int r;

	r = parse_opts(ctx, argc, argv, opts, NULL, NULL);
	if (r)
		return r;
	if (optind != argc - 1)
		return usage_error(ctx, "expected exactly one device NAME");
	r = dl_dm_remove(argv[optind], ctx->err, sizeof(ctx->err));
	return r ? op_error(ctx, r) : 0;
}

/*
 * status
 */

static const char *state_name(uint32_t state)
{
	switch (state) {
	case DM_DIRTYLOG_STATE_RW:
		return "rw";
	case DM_DIRTYLOG_STATE_INVALID:
		return "invalid";
	case DM_DIRTYLOG_STATE_FAIL:
		return "fail";
	}
	return "unknown";
}

static void print_dev_json(const struct dl_nl_dev *d)
{
	printf("{\"name\":");
	json_str(d->name);
	printf(",\"uuid\":");
	json_str(d->uuid);
	printf(",\"dev\":\"%" PRIu32 ":%" PRIu32 "\",\"major\":%" PRIu32
	       ",\"minor\":%" PRIu32, d->major, d->minor, d->major, d->minor);
	printf(",\"size_bytes\":%" PRIu64 ",\"size_sectors\":%" PRIu64,
	       d->size_sectors << 9, d->size_sectors);
	printf(",\"block_size_bytes\":%" PRIu64 ",\"block_sectors\":%" PRIu32,
	       (uint64_t)d->block_sectors << 9, d->block_sectors);
	printf(",\"blocks\":%" PRIu64 ",\"state\":\"%s\"", d->nr_blocks,
	       state_name(d->state));
	printf(",\"dirty_active_blocks\":%" PRIu64 ",\"checkpoints\":%" PRIu32
	       ",\"latest_id\":%" PRIu64, d->dirty_active, d->nr_checkpoints,
	       d->latest_id);
	printf(",\"metadata_used_blocks\":%" PRIu64
	       ",\"metadata_total_blocks\":%" PRIu64 ",\"instance_uuid\":",
	       d->meta_used, d->meta_total);
	json_str(d->instance_uuid);
	printf(",\"stray_checkpoint\":");
	if (d->stray_ckpt[0])
		json_str(d->stray_ckpt);
	else
		printf("null");
	printf("}");
}

static void print_dev_human(const struct dl_nl_dev *d)
{
	printf("%s (%" PRIu32 ":%" PRIu32 ")\n", d->name, d->major, d->minor);
	printf("  uuid:             %s\n", d->uuid[0] ? d->uuid : "(none)");
	printf("  size:             %" PRIu64 " bytes (%" PRIu64 " sectors)\n",
	       d->size_sectors << 9, d->size_sectors);
	printf("  block size:       %" PRIu64 " bytes (%" PRIu32 " sectors)\n",
	       (uint64_t)d->block_sectors << 9, d->block_sectors);
	printf("  blocks:           %" PRIu64 "\n", d->nr_blocks);
	printf("  state:            %s\n", state_name(d->state));
	printf("  dirty (active):   %" PRIu64 " blocks\n", d->dirty_active);
	printf("  checkpoints:      %" PRIu32 " (latest id %" PRIu64 ")\n",
	       d->nr_checkpoints, d->latest_id);
	printf("  metadata:         %" PRIu64 "/%" PRIu64 " blocks of 4 KiB\n",
	       d->meta_used, d->meta_total);
	printf("  instance uuid:    %s\n", d->instance_uuid);
	if (d->stray_ckpt[0])
		printf("  stray checkpoint: %s (a failed atomic create could not remove it: delete it)\n",
		       d->stray_ckpt);
}

static int status_add(const struct dl_nl_dev *dev, void *arg)
{
	struct dl_nl_dev *slot = vec_push(arg);

	if (!slot)
		return -ENOMEM;
	*slot = *dev;
	return 0;
}

/*
 * The opening of every command on one device that takes only --json and
 * --uuid: options, exactly @nargs arguments (the device first), the device.
 * Returns 0 or an exit code.
 */
static int dev_cmd_args(struct dl_ctx *ctx, int argc, char **argv, int nargs,
			const char *usage, struct dl_nl_sel *sel)
{
	static const struct option opts[] = { DL_OPT_JSON, DL_OPT_UUID, DL_OPT_END };
	int r = parse_opts(ctx, argc, argv, opts, NULL, NULL);

	if (r)
		return r;
	if (argc - optind != nargs)
		return usage_error(ctx, "%s", usage);
	return parse_sel(ctx, argv[optind], sel);
}

static int cmd_status(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = { DL_OPT_JSON, DL_OPT_UUID, DL_OPT_END };
	struct vec devs = { .size = sizeof(struct dl_nl_dev) };
	const struct dl_nl_dev *d;
	struct dl_nl_sel sel;
	int r;

	r = parse_opts(ctx, argc, argv, opts, NULL, NULL);
	if (r)
		return r;
	if (argc - optind > 1)
		return usage_error(ctx, "expected at most one DEVICE");
	if (argc - optind == 1 && (r = parse_sel(ctx, argv[optind], &sel)))
		return r;
	r = ctx_nl(ctx);
	if (r)
		return nl_error(ctx, r);
	if (argc - optind == 1) {
		d = vec_push(&devs);
		r = d ? dl_nl_dev_get(&ctx->nl, &sel, devs.items) : -ENOMEM;
	} else {
		r = dl_nl_dev_dump(&ctx->nl, status_add, vec_clear, &devs, NULL);
	}
	if (r) {
		vec_free(&devs);
		return nl_error(ctx, r);
	}
	if (ctx->json)
		printf("[");
	for (size_t i = 0; i < devs.n; i++) {
		d = (const struct dl_nl_dev *)devs.items + i;
		if (ctx->json) {
			printf("%s", i ? "," : "");
			print_dev_json(d);
		} else {
			printf("%s", i ? "\n" : "");
			print_dev_human(d);
		}
	}
	if (ctx->json)
		printf("]\n");
	vec_free(&devs);
	return 0;
}

/*
 * checkpoint create | list | delete
 */

struct also_args {
	char **v;
	int n;
};

static int ckpt_create_opt(int c, void *priv)
{
	struct also_args *also = priv;

	if (c != 'a')
		return 1;
	also->v[also->n++] = optarg;
	return 0;
}

/*
 * Put the devices of an atomic checkpoint in the order the module quiesces
 * them in: a device that sits on another one (through any layers, dm-linear
 * and LVM included, which only sysfs shows) first.  The module orders by
 * the dirtylog devices it knows of and keeps this order otherwise.
 * Returns 0, -errno from the netlink lookup, or an exit status.
 */
static int stack_order(struct dl_ctx *ctx, const char **args,
		       struct dl_nl_sel *sels, unsigned int n)
{
	uint32_t (*devs)[2] = calloc(n, sizeof(*devs));
	const char **a2 = calloc(n, sizeof(*a2));
	struct dl_nl_sel *s2 = calloc(n, sizeof(*s2));
	unsigned int *order = calloc(n, sizeof(*order));
	struct dl_nl_dev dev;
	unsigned int i;
	int r = 0;

	if (!devs || !a2 || !s2 || !order) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, strerror(ENOMEM));
		r = EXIT_OPFAIL;
		goto out;
	}
	for (i = 0; i < n && !r; i++) {
		r = dl_nl_dev_get(&ctx->nl, &sels[i], &dev);
		devs[i][0] = dev.major;
		devs[i][1] = dev.minor;
	}
	if (r)
		goto out;
	if (dl_stack_order("/sys", (const uint32_t (*)[2])devs, n, order)) {
		fprintf(stderr, "dirtylogctl %s: two of the devices sit on each other\n",
			ctx->cmd);
		r = EXIT_OPFAIL;
		goto out;
	}
	for (i = 0; i < n; i++) {
		a2[i] = args[order[i]];
		s2[i] = sels[order[i]];
	}
	memcpy(args, a2, n * sizeof(*args));
	memcpy(sels, s2, n * sizeof(*sels));
out:
	free(order);
	free(s2);
	free(a2);
	free(devs);
	return r;
}

static int cmd_ckpt_create(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "also", required_argument, NULL, 'a' },
		DL_OPT_JSON,
		DL_OPT_UUID,
		DL_OPT_END,
	};
	struct also_args also = { 0 };
	struct dl_nl_ckpt_id *ids = NULL;
	struct dl_nl_sel *sels = NULL;
	const char **args = NULL;
	unsigned int n, nr_ids = 0;
	const char *label;
	int r;

	/* There are fewer --also arguments than arguments. */
	also.v = calloc((size_t)argc, sizeof(*also.v));
	if (!also.v) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, strerror(ENOMEM));
		return EXIT_OPFAIL;
	}
	r = parse_opts(ctx, argc, argv, opts, ckpt_create_opt, &also);
	if (r)
		goto out;
	if (argc - optind != 2) {
		r = usage_error(ctx, "expected DEVICE and a checkpoint name");
		goto out;
	}
	n = 1 + (unsigned int)also.n;
	args = calloc(n, sizeof(*args));
	sels = calloc(n, sizeof(*sels));
	ids = calloc(n, sizeof(*ids));
	if (!args || !sels || !ids) {
		fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, strerror(ENOMEM));
		r = EXIT_OPFAIL;
		goto out;
	}
	args[0] = argv[optind];
	for (unsigned int i = 1; i < n; i++)
		args[i] = also.v[i - 1];
	for (unsigned int i = 0; i < n; i++) {
		r = parse_sel(ctx, args[i], &sels[i]);
		if (r)
			goto out;
	}
	r = ctx_nl(ctx);
	if (!r && n > 1)
		r = stack_order(ctx, args, sels, n);
	if (r > 0)
		goto out;
	if (!r)
		r = dl_nl_ckpt_new(&ctx->nl, sels, n, argv[optind + 1], ids,
				   &nr_ids);
	if (r) {
		r = nl_error(ctx, r);
		goto out;
	}
	if (ctx->json) {
		printf("{\"checkpoint\":");
		json_str(argv[optind + 1]);
		printf(",\"devices\":[");
	}
	for (unsigned int i = 0; i < nr_ids; i++) {
		/* The device the kernel named, else the argument in order. */
		label = ids[i].dev_name[0] ? ids[i].dev_name :
			nr_ids == n ? args[i] : NULL;
		if (ctx->json) {
			printf("%s{\"device\":", i ? "," : "");
			if (label)
				json_str(label);
			else
				printf("null");
			printf(",\"id\":%" PRIu64 "}", ids[i].id);
		} else if (nr_ids == 1) {
			printf("%" PRIu64 "\n", ids[i].id);
		} else {
			printf("%s %" PRIu64 "\n", label ? label : "?", ids[i].id);
		}
	}
	if (ctx->json)
		printf("]}\n");
	r = 0;
out:
	free(ids);
	free(sels);
	free(args);
	free(also.v);
	return r;
}

struct ckpt_item {
	char name[DL_NL_CKPT_NAME_LEN];
	uint64_t id, ctime_ns;
};

static int ckpt_add(const char *name, uint64_t id, uint64_t ctime_ns, void *arg)
{
	struct ckpt_item *c = vec_push(arg);

	if (!c)
		return -ENOMEM;
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->id = id;
	c->ctime_ns = ctime_ns;
	return 0;
}

/* "2025-01-31T12:00:00.123456789Z" */
static void format_time(uint64_t ns, char *buf, size_t len)
{
	time_t secs = (time_t)(ns / 1000000000u);
	struct tm tm;
	size_t n;

	if (!gmtime_r(&secs, &tm) ||
	    !(n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm))) {
		snprintf(buf, len, "@%" PRIu64 "ns", ns);
		return;
	}
	snprintf(buf + n, len - n, ".%09" PRIu64 "Z", ns % 1000000000u);
}

static int cmd_ckpt_list(struct dl_ctx *ctx, int argc, char **argv)
{
	struct vec ckpts = { .size = sizeof(struct ckpt_item) };
	const struct ckpt_item *c;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	char when[64];
	int r;

	r = dev_cmd_args(ctx, argc, argv, 1, "expected exactly one DEVICE", &sel);
	if (r)
		return r;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_dev_get(&ctx->nl, &sel, &dev);
	if (!r)
		r = dl_nl_ckpt_dump(&ctx->nl, &sel, ckpt_add, vec_clear, &ckpts,
				    NULL);
	if (r) {
		vec_free(&ckpts);
		return nl_error(ctx, r);
	}
	if (ctx->json) {
		printf("{\"device\":");
		json_str(dev.name);
		printf(",\"checkpoints\":[");
	}
	for (size_t i = 0; i < ckpts.n; i++) {
		c = (const struct ckpt_item *)ckpts.items + i;
		if (ctx->json) {
			printf("%s{\"name\":", i ? "," : "");
			json_str(c->name);
			printf(",\"id\":%" PRIu64 ",\"ctime_ns\":%" PRIu64 "}",
			       c->id, c->ctime_ns);
		} else {
			format_time(c->ctime_ns, when, sizeof(when));
			printf("%s %" PRIu64 " %s\n", c->name, c->id, when);
		}
	}
	if (ctx->json)
		printf("]}\n");
	vec_free(&ckpts);
	return 0;
}

static int cmd_ckpt_delete(struct dl_ctx *ctx, int argc, char **argv)
{
	struct dl_nl_sel sel;
	int r;

	r = dev_cmd_args(ctx, argc, argv, 2, "expected DEVICE and a checkpoint name", &sel);
	if (r)
		return r;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_ckpt_del(&ctx->nl, &sel, argv[optind + 1]);
	return r ? nl_error(ctx, r) : 0;
}

/*
 * reset, mark-dirty
 */

static int cmd_reset(struct dl_ctx *ctx, int argc, char **argv)
{
	struct dl_nl_sel sel;
	int r;

	r = dev_cmd_args(ctx, argc, argv, 1, "expected exactly one DEVICE", &sel);
	if (r)
		return r;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_reset(&ctx->nl, &sel);
	return r ? nl_error(ctx, r) : 0;
}

static int mark_dirty_opt(int c, void *priv)
{
	const char **from = priv;

	if (c != 'f')
		return 1;
	*from = optarg;
	return 0;
}

/* Re-mark the blocks of a bitmap file, after checking it fits the device. */
static int mark_from_file(struct dl_ctx *ctx, const struct dl_nl_sel *sel,
			  const char *path)
{
	struct dl_bmfile f = { 0 };
	struct dl_nl_dev dev;
	int r;

	r = dl_bmfile_read(path, &f, ctx->err, sizeof(ctx->err));
	if (r)
		return op_error(ctx, r);
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_dev_get(&ctx->nl, sel, &dev);
	if (r) {
		dl_bmfile_free(&f);
		return nl_error(ctx, r);
	}
	r = -EXDEV;
	if (strcmp(f.dev_uuid, dev.instance_uuid))
		snprintf(ctx->err, sizeof(ctx->err),
			 "%s belongs to instance %s, but %s is instance %s (reset since?)",
			 path, f.dev_uuid, dev.name, dev.instance_uuid);
	else if (f.block_sectors != dev.block_sectors)
		snprintf(ctx->err, sizeof(ctx->err),
			 "%s has %" PRIu32 "-sector blocks, %s has %" PRIu32,
			 path, f.block_sectors, dev.name, dev.block_sectors);
	else if (f.nr_blocks > dev.nr_blocks)
		snprintf(ctx->err, sizeof(ctx->err),
			 "%s has %" PRIu64 " blocks, more than the %" PRIu64 " of %s",
			 path, f.nr_blocks, dev.nr_blocks, dev.name);
	else
		r = 0;
	if (r) {
		dl_bmfile_free(&f);
		return op_error(ctx, r);
	}
	r = dl_nl_mark_bitmap(&ctx->nl, sel, 0, f.bits, f.nr_blocks);
	dl_bmfile_free(&f);
	return r ? nl_error(ctx, r) : 0;
}

static int cmd_mark_dirty(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "from", required_argument, NULL, 'f' },
		DL_OPT_JSON,
		DL_OPT_UUID,
		DL_OPT_END,
	};
	const char *from = NULL;
	struct dl_nl_sel sel;
	uint64_t start, count;
	int r;

	r = parse_opts(ctx, argc, argv, opts, mark_dirty_opt, &from);
	if (r)
		return r;
	if (argc - optind != (from ? 1 : 3))
		return usage_error(ctx, "expected DEVICE START COUNT, or DEVICE --from FILE");
	r = parse_sel(ctx, argv[optind], &sel);
	if (r)
		return r;
	if (from)
		return mark_from_file(ctx, &sel, from);
	if (parse_u64(argv[optind + 1], &start))
		return usage_error(ctx, "invalid START '%s'", argv[optind + 1]);
	if (parse_u64(argv[optind + 2], &count))
		return usage_error(ctx, "invalid COUNT '%s'", argv[optind + 2]);
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_mark_dirty(&ctx->nl, &sel, start, count);
	return r ? nl_error(ctx, r) : 0;
}

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

static int cmd_dirty(struct dl_ctx *ctx, int argc, char **argv)
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

static int cmd_show(struct dl_ctx *ctx, int argc, char **argv)
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

static int cmd_merge(struct dl_ctx *ctx, int argc, char **argv)
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

/*
 * monitor
 */

struct monitor_state {
	bool json;
	uint64_t left;		/* events still to print, when limited */
	bool limited;
	const char *bad_count;	/* an invalid --count argument */
};

static const char *event_name(uint8_t cmd)
{
	switch (cmd) {
	case DM_DIRTYLOG_CMD_CKPT_CREATED_NTF:
		return "checkpoint-created";
	case DM_DIRTYLOG_CMD_CKPT_DELETED_NTF:
		return "checkpoint-deleted";
	case DM_DIRTYLOG_CMD_STATE_NTF:
		return "state";
	case DM_DIRTYLOG_CMD_SPACE_LOW_NTF:
		return "space-low";
	case DM_DIRTYLOG_CMD_RESIZE_NTF:
		return "resize";
	}
	return "unknown";
}

static int monitor_event(const struct dl_nl_event *ev, void *arg)
{
	struct monitor_state *m = arg;
	const struct dl_nl_dev *d = &ev->dev;

	if (m->json) {
		printf("{\"event\":\"%s\",\"device\":", event_name(ev->cmd));
		json_str(d->name);
		printf(",\"dev\":\"%" PRIu32 ":%" PRIu32 "\"", d->major, d->minor);
		if (ev->ckpt[0]) {
			printf(",\"checkpoint\":");
			json_str(ev->ckpt);
		}
		if (ev->id)
			printf(",\"id\":%" PRIu64, ev->id);
		printf(",\"state\":\"%s\",\"blocks\":%" PRIu64
		       ",\"metadata_used_blocks\":%" PRIu64
		       ",\"metadata_total_blocks\":%" PRIu64 "}\n",
		       state_name(d->state), d->nr_blocks, d->meta_used, d->meta_total);
	} else {
		printf("%s %s", event_name(ev->cmd), d->name);
		if (ev->ckpt[0])
			printf(" checkpoint %s", ev->ckpt);
		if (ev->id)
			printf(" id %" PRIu64, ev->id);
		printf(" state %s blocks %" PRIu64 " metadata %" PRIu64 "/%" PRIu64 "\n",
		       state_name(d->state), d->nr_blocks, d->meta_used, d->meta_total);
	}
	/* Each event as it comes, also into a pipe. */
	if (fflush(stdout))
		return -EIO;
	if (m->limited && !--m->left)
		return 1;
	return 0;
}

static void monitor_lost(void *arg)
{
	(void)arg;
	fprintf(stderr, "dirtylogctl monitor: events were lost (receive buffer overrun)\n");
}

static int monitor_opt(int c, void *priv)
{
	struct monitor_state *m = priv;

	if (c != 'c')
		return 1;
	if (parse_u64(optarg, &m->left) || !m->left)
		m->bad_count = optarg;
	m->limited = true;
	return 0;
}

static int cmd_monitor(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' }, DL_OPT_JSON, DL_OPT_END,
	};
	struct monitor_state m = { 0 };
	int r;

	r = parse_opts(ctx, argc, argv, opts, monitor_opt, &m);
	if (r)
		return r;
	if (m.bad_count)
		return usage_error(ctx, "--count takes a number of events from 1 up, not '%s'",
				   m.bad_count);
	if (argc != optind)
		return usage_error(ctx, "monitor takes no arguments");
	m.json = ctx->json;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_monitor(&ctx->nl, monitor_event, monitor_lost, &m);
	if (r == 1)
		return 0;
	return nl_error(ctx, r);
}

/*
 * help and dispatch
 */


static int cmd_help(struct dl_ctx *ctx, int argc, char **argv);

#define DL_DEVICE_HELP \
	"DEVICE is a device-mapper name, or MAJOR:MINOR (decimal digits on\n" \
	"both sides of the colon), or with --uuid a device-mapper uuid."

static const struct dl_cmd dl_cmds[] = {
	{ "create", "NAME --data DEV --metadata DEV [--block-size SIZE] [--format]",
	  "Create a dirtylog device NAME over the whole data device DEV, keeping\n"
	  "its dirty bitmaps on the metadata device.  SIZE is the tracking\n"
	  "granularity: a power of two from 4K to 64M (default 64K).\n"
	  "Fresh metadata (first 4 KiB all zero) is formatted; existing\n"
	  "metadata is loaded and must have the same block size.  --format\n"
	  "first clears the metadata device's superblock (opened exclusively:\n"
	  "refused while in use), so it is formatted afresh: every checkpoint\n"
	  "on it is lost.  Waits for udev when it runs.",
	  cmd_create },
	{ "remove", "NAME",
	  "Remove the dirtylog device NAME (refused for other kinds of device).",
	  cmd_remove },
	{ "status", "[--uuid] [DEVICE]",
	  "Show one dirtylog device, or all of them.\n\n"
	  DL_DEVICE_HELP "\n\n"
	  "--json prints an array with one object per device:\n"
	  "  {\"name\":STR,\"uuid\":STR (\"\" if none),\"dev\":\"MAJOR:MINOR\",\n"
	  "   \"major\":N,\"minor\":N,\"size_bytes\":N,\"size_sectors\":N,\n"
	  "   \"block_size_bytes\":N,\"block_sectors\":N,\"blocks\":N,\n"
	  "   \"state\":\"rw\"|\"invalid\"|\"fail\",\"dirty_active_blocks\":N,\n"
	  "   \"checkpoints\":N,\"latest_id\":N (0: none),\n"
	  "   \"metadata_used_blocks\":N,\"metadata_total_blocks\":N (4 KiB blocks),\n"
	  "   \"instance_uuid\":STR,\"stray_checkpoint\":STR|null}\n"
	  "stray_checkpoint names a checkpoint that a failed atomic create made\n"
	  "on this device and could not roll back (delete it, or reset).",
	  cmd_status },
	{ "checkpoint create", "[--uuid] DEVICE CKPT [--also DEVICE]...",
	  "Create checkpoint CKPT on DEVICE, and with --also (repeatable) on more\n"
	  "devices at the same instant (at most 16, all or none).  Names: 1 to 64\n"
	  "characters from A-Z a-z 0-9 . _ : + -, unique per device.\n\n"
	  DL_DEVICE_HELP "\n\n"
	  "The devices go to the module in stacking order: one that sits on\n"
	  "another (through any layers sysfs shows) first.  Prints the new\n"
	  "checkpoint's id; for several devices one line \"DEVICE ID\" each,\n"
	  "in that order.  --json prints\n"
	  "  {\"checkpoint\":STR,\"devices\":[{\"device\":STR,\"id\":N},...]}\n"
	  "where device is the name the kernel reported, else the argument.",
	  cmd_ckpt_create },
	{ "checkpoint list", "[--uuid] DEVICE",
	  "List the checkpoints of DEVICE, oldest first: one line\n"
	  "\"NAME ID CREATED\" each, CREATED in UTC (ISO 8601).\n\n"
	  DL_DEVICE_HELP "\n\n"
	  "--json prints\n"
	  "  {\"device\":STR,\"checkpoints\":[{\"name\":STR,\"id\":N,\"ctime_ns\":N},...]}\n"
	  "with ctime_ns in nanoseconds since the epoch.",
	  cmd_ckpt_list },
	{ "checkpoint delete", "[--uuid] DEVICE CKPT",
	  "Delete checkpoint CKPT of DEVICE; its interval merges into the one\n"
	  "before it.  Prints nothing.\n\n" DL_DEVICE_HELP,
	  cmd_ckpt_delete },
	{ "reset", "[--uuid] DEVICE",
	  "Forget every checkpoint of DEVICE and start a new chain (a new\n"
	  "instance uuid); also clears the invalid state.  Prints nothing.\n\n"
	  DL_DEVICE_HELP,
	  cmd_reset },
	{ "mark-dirty", "[--uuid] DEVICE START COUNT | DEVICE --from FILE",
	  "Mark COUNT blocks from block START dirty in the active interval, for\n"
	  "data changed behind the target's back.  With --from, mark every block\n"
	  "a bitmap file (see dirty -o) has dirty: after a backup failed, this\n"
	  "puts what it should have copied back into the next one.  The file\n"
	  "must come from this device instance (same instance uuid and block\n"
	  "size).  Each block is durable once the command returns; prints\n"
	  "nothing.\n\n"
	  DL_DEVICE_HELP,
	  cmd_mark_dirty },
	{ "dirty", "[--uuid] DEVICE --since CKPT [--until CKPT] [-o FILE]\n"
	  "        [--encoding auto|extents|bitmap]",
	  "Show what was written since checkpoint --since, up to now or up to\n"
	  "the newer checkpoint --until: one line per extent of dirty blocks,\n"
	  "ascending,\n"
	  "  start BLOCK count BLOCKS offset BYTES length BYTES\n"
	  "then \"total: N extents, N blocks, N bytes\".  Lengths stop at the\n"
	  "end of the device (the last block may be partial).\n\n"
	  DL_DEVICE_HELP "\n\n"
	  "--json prints\n"
	  "  {\"device\":STR,\"since\":STR,\"until\":STR|null,\"block_size_bytes\":N,\n"
	  "   \"extents\":[{\"start\":N,\"count\":N,\"offset_bytes\":N,\n"
	  "                \"length_bytes\":N},...],\n"
	  "   \"total_blocks\":N,\"total_bytes\":N}\n"
	  "If checkpoints change during the query it starts again (at most 5\n"
	  "times) and says so on stderr.\n\n"
	  "-o FILE (--output) saves the map to a bitmap file instead (\"-\":\n"
	  "standard output), written to a temporary file and renamed; see\n"
	  "'show' for what it holds and prints.  --json then adds\n"
	  "  \"bytes_received\":N,\"bitmap_bytes_received\":N\n"
	  "to show's object (netlink bytes the answer took; in raw bitmap).  --encoding chooses how the kernel sends the map:\n"
	  "auto (default: raw bitmap chunks where they are smaller than\n"
	  "extents), extents or bitmap; the answer is the same.",
	  cmd_dirty },
	{ "show", "[--extents] FILE",
	  "Check a bitmap file (magic, version, checksums, size) and describe\n"
	  "it: device name and instance uuid, the checkpoints it runs between\n"
	  "(until 'the time of the query' when it was taken up to now), block\n"
	  "size, blocks, dirty blocks; with --extents also one line\n"
	  "\"start BLOCK count BLOCKS\" per extent.  --json prints\n"
	  "  {\"file\":STR,\"device\":STR,\"instance_uuid\":STR,\"since\":STR,\n"
	  "   \"since_id\":N,\"until\":STR|null,\"until_id\":N (0: now),\n"
	  "   \"block_size_bytes\":N,\"blocks\":N,\"dirty_blocks\":N,\n"
	  "   \"created_ns\":N[,\"extents\":[{\"start\":N,\"count\":N},...]]}\n"
	  "A damaged or foreign file is refused with the reason (exit 1).",
	  cmd_show },
	{ "merge", "FILE... -o FILE",
	  "Merge bitmap files of one device that cover consecutive intervals\n"
	  "(A..B, B..C, ...; in any order) into one file covering the whole\n"
	  "span (A..C), offline.  Refused with the reason when the files come\n"
	  "from different devices or block sizes, leave a gap, overlap, repeat,\n"
	  "or when one taken up to 'now' is not the last.  Prints the result as\n"
	  "'show' does.",
	  cmd_merge },
	{ "export", "NAME --checkpoint NEW [--since CKPT] -o FILE|-\n"
	  "        [--format native|rbd-diff|qcow2|raw] [--cow DEV|FILE]\n"
	  "        [--cow-size SIZE] [--lvm] [--backing FILE] [--fuzzy]\n"
	  "        [--progress auto|none|json]",
	  "Create checkpoint NEW on the dirtylog device NAME and write the data\n"
	  "as it was at that instant: the blocks written since checkpoint CKPT,\n"
	  "or without --since every block (a full export).  The device stays\n"
	  "online: under one suspend, NEW is created together with a dm-snapshot\n"
	  "of the data device, which the export reads and then removes.  Its\n"
	  "copy-on-write store is --cow (a block device, or a file made at\n"
	  "--cow-size if missing), by default a temporary file in $TMPDIR or\n"
	  "/var/tmp sized from the dirty map (at least 256 MiB).  With --lvm\n"
	  "the data device must be an LVM logical volume VG/LV, and the snapshot\n"
	  "is 'lvcreate --snapshot -n NAME-xs' in its VG instead, of --cow-size\n"
	  "(by default as above, at most the VG's free space), removed with\n"
	  "lvremove afterwards.  The lvm commands see only the VG's PVs (so they\n"
	  "never open NAME while it is suspended); lvcreate, which runs while it\n"
	  "is, is killed after 60 s, the others after 600 s.\n"
	  "--lvm goes with neither --cow nor --fuzzy.  --fuzzy reads\n"
	  "the live device instead, for a writer you stopped yourself; the\n"
	  "stream says so.  If anything fails, NEW is deleted again, so the\n"
	  "next export still covers every change.\n\n"
	  "Formats: native (default: header, checksummed data and zero records,\n"
	  "trailer; see Documentation/diff-format.rst), rbd-diff (Ceph 'rbd diff\n"
	  "v1', for rbd import-diff; checkpoint names must be valid RBD snapshot\n"
	  "names; the instance uuid, ids, block size and fuzzy flag go to\n"
	  "FILE.json beside it), qcow2 (an overlay; incrementals need\n"
	  "--backing, the previous export, stored as given), raw (a sparse\n"
	  "image the size of the device).  Blocks that read as zeroes go\n"
	  "out as zero records.  FILE is written as FILE.partial and renamed\n"
	  "when complete; \"-\" streams to standard output (native and\n"
	  "rbd-diff).  A progress line goes to\n"
	  "stderr when it is a terminal (--progress json: one object per line).\n"
	  "--json prints\n"
	  "  {\"device\":STR,\"checkpoint\":STR,\"id\":N,\"since\":STR|null,\n"
	  "   \"since_id\":N,\"format\":STR,\"fuzzy\":BOOL,\"size_bytes\":N,\n"
	  "   \"block_size_bytes\":N,\"dirty_blocks\":N,\"read_bytes\":N,\n"
	  "   \"data_bytes\":N,\"zero_bytes\":N,\"seconds\":N}\n"
	  "(to stderr when the stream goes to stdout).",
	  cmd_export },
	{ "apply", "FILE... TARGET [--state FILE] [--progress auto|none|json]",
	  "Apply a full export and then incrementals, in order, to TARGET (an\n"
	  "image file, made if missing, or a block device).  Each stream must\n"
	  "continue the one before (or what TARGET already holds: same device\n"
	  "instance, base = the previous new checkpoint), and every record is\n"
	  "checked before it is written.  TARGET's chain is kept in a state\n"
	  "file (--state; default TARGET.dlstate, for a block device\n"
	  "/var/lib/dirtylogctl/apply-NAME.state) that says 'incomplete' while\n"
	  "an apply runs: after a failure the next apply must start from a full\n"
	  "export.  Native and rbd-diff streams; \"-\" reads standard input.\n"
	  "Prints what verify prints.",
	  cmd_apply },
	{ "verify", "FILE...",
	  "Read diff streams to the end and check them (magic, version, every\n"
	  "checksum, record order, trailer) and that each continues the one\n"
	  "before, without applying anything.  One line per stream; --json\n"
	  "prints\n"
	  "  {\"streams\":[{\"file\":STR,\"format\":STR,\"instance_uuid\":STR|null,\n"
	  "   \"base\":STR|null,\"base_id\":N,\"checkpoint\":STR,\"id\":N,\n"
	  "   \"fuzzy\":BOOL,\"size_bytes\":N,\"block_size_bytes\":N,\"records\":N,\n"
	  "   \"data_bytes\":N,\"zero_bytes\":N},...]}",
	  cmd_verify },
	{ "revert", "NAME --to CKPT --from IMAGE [--force]",
	  "Copy back from IMAGE every block of the dirtylog device NAME written\n"
	  "since checkpoint CKPT, so NAME equals IMAGE again when IMAGE holds\n"
	  "its content at CKPT (a golden image): time in proportion to what was\n"
	  "written.  NAME must not be in use (opened exclusively) unless --force.\n"
	  "The copies are tracked like any write.",
	  cmd_revert },
	{ "monitor", "[--count N]",
	  "Print the module's events as they come, one line each:\n"
	  "  EVENT DEVICE [checkpoint NAME] [id N] state STATE blocks N\n"
	  "        metadata USED/TOTAL\n"
	  "EVENT is checkpoint-created, checkpoint-deleted, state (the state\n"
	  "changed to fail or invalid, or back to rw), space-low (metadata over\n"
	  "90% used) or resize.  Exits after N events with --count, else runs\n"
	  "until killed.  --json prints one object per line:\n"
	  "  {\"event\":STR,\"device\":STR,\"dev\":\"MAJOR:MINOR\",\n"
	  "   [\"checkpoint\":STR,][\"id\":N,]\"state\":STR,\"blocks\":N,\n"
	  "   \"metadata_used_blocks\":N,\"metadata_total_blocks\":N}",
	  cmd_monitor },
	{ "metadata check", "[--block-size SIZE --data-sectors N] METADATA",
	  "Check the metadata device (or an image file) of a dirtylog device\n"
	  "that is not loaded: superblock, checkpoint table, every bitmap tree\n"
	  "node and page (magic, location, checksum, level, bounds) and the\n"
	  "allocation state (every block reached once, inside the device).  A\n"
	  "block device is opened exclusively: one held by a live target is\n"
	  "refused.  One line per problem,\n"
	  "  block N: STRUCTURE [of INTERVAL]: WHAT\n"
	  "STRUCTURE being superblock, checkpoint-table, tree-node, bitmap-page,\n"
	  "space-map or device, then a summary.  Exit status 0 when clean, 6 when\n"
	  "problems were found.  --block-size and --data-sectors give the\n"
	  "geometry when the superblock is lost.  --json prints\n"
	  "  {\"clean\":BOOL,\"superblock\":\"ok\"|\"salvaged\"|\"lost\",\n"
	  "   \"checkpoints\":N,\"dropped_checkpoints\":N,\"used_blocks\":N,\n"
	  "   \"total_blocks\":N,\"problems\":[{\"block\":N,\"structure\":STR,\n"
	  "   \"interval\":STR|null,\"problem\":STR},...]}",
	  cmd_meta_check },
	{ "metadata dump", "[--extents] [--since CKPT [--until CKPT]] METADATA",
	  "Print the metadata of a dirtylog device that is not loaded: the\n"
	  "superblock fields, each checkpoint (name, id, creation time in ns,\n"
	  "tree root) with the dirty blocks and bitmap pages of the interval\n"
	  "that ends at it (the oldest one's is not kept), the active interval,\n"
	  "and the space used.  --extents adds each interval's extents\n"
	  "(\"START COUNT\").  Damaged parts count as all dirty.  With --since\n"
	  "it prints only what the kernel's \"dirty CKPT [UNTIL]\" message would\n"
	  "answer, one \"START COUNT\" line per extent.  --json prints\n"
	  "  {\"superblock\":{\"state\":STR,\"version\":N,\"flags\":N,\"invalid\":BOOL,\n"
	  "   \"uuid\":STR,\"generation\":N,\"data_sectors\":N,\"block_sectors\":N,\n"
	  "   \"depth\":N,\"metadata_blocks\":N,\"next_checkpoint_id\":N,\n"
	  "   \"checkpoints\":N,\"table_blocks\":N,\"table_root\":N,\"active_root\":N},\n"
	  "   \"tracked_blocks\":N,\"bitmap_pages\":N,\n"
	  "   \"checkpoints\":[{\"name\":STR,\"id\":N,\"ctime_ns\":N,\"root\":N,\n"
	  "     \"interval\":INTERVAL},...],\"active\":INTERVAL,\n"
	  "   \"space\":{\"total_blocks\":N,\"used_blocks\":N,\"free_blocks\":N},\n"
	  "   \"problems\":[...as check...]}\n"
	  "INTERVAL = {\"kept\":BOOL,\"dirty_blocks\":N,\"pages\":N,\"damaged\":BOOL\n"
	  "   [,\"extents\":[[START,COUNT],...]]}; with --since\n"
	  "  {\"since\":STR,\"until\":STR|null,\"extents\":[[START,COUNT],...]}",
	  cmd_meta_dump },
	{ "metadata repair", "[--yes | -o FILE] [--block-size SIZE --data-sectors N]\n"
	  "        METADATA",
	  "Write repaired metadata for a dirtylog device that is not loaded: in\n"
	  "place with --yes (the device is opened exclusively; new blocks avoid\n"
	  "the old ones and the superblock is written last), or to a new FILE\n"
	  "(-o, --output) of the same size.  Everything readable is kept, the\n"
	  "allocation state is rebuilt from what is reached, and the dirty\n"
	  "information stays conservative: a damaged bitmap page or tree node\n"
	  "makes every block it covers dirty in its interval; a damaged checkpoint\n"
	  "entry is dropped and the interval after it becomes all dirty; a lost\n"
	  "part of the checkpoint table drops those checkpoints and makes the\n"
	  "active interval all dirty (every query since a kept checkpoint then\n"
	  "answers every block); a superblock with a bad checksum is rewritten\n"
	  "from its fields with the active interval all dirty; a lost superblock\n"
	  "needs --block-size and --data-sectors and keeps no checkpoint.  A\n"
	  "dropped checkpoint means a full backup for whatever was based on it.\n"
	  "--json prints\n"
	  "  {\"problems_found\":N,\"superblock\":\"ok\"|\"salvaged\"|\"lost\",\n"
	  "   \"checkpoints_kept\":N,\"checkpoints_dropped\":N,\n"
	  "   \"dropped_names\":STR,\"damaged_intervals\":[STR,...],\n"
	  "   \"active_damaged\":BOOL}",
	  cmd_meta_repair },
	{ "activate", "[--config FILE] [--dry-run] [NAME...]",
	  "Create every dirtylog device of the config file (default\n"
	  "/etc/dirtylog/dirtylogtab) that does not exist yet, or only the NAMEs\n"
	  "given; the boot does this through dirtylog-activate.service.  One\n"
	  "device per line, '#' starts a comment:\n"
	  "  NAME DATA-DEV METADATA-DEV [BLOCK-SIZE|-] [OPTION[,OPTION]...|-]\n"
	  "BLOCK-SIZE as for create (default 64K).  Options: format (a metadata\n"
	  "device whose first 4 KiB are all zero may be formatted; without it\n"
	  "such a device is refused), passthrough_on_metadata_error (the table's\n"
	  "feature), noauto (activated only when named).  Paths may be symlinks\n"
	  "(/dev/disk/by-id/...).  A device that exists with the same table is\n"
	  "left alone; one with another table is refused and not touched.\n"
	  "Existing metadata is loaded as it is; nothing is ever written to a\n"
	  "metadata device.  A line that fails (a device missing, a syntax\n"
	  "error) is reported and the others still go on; the exit status is 1\n"
	  "if any failed.  --dry-run checks and prints what would be done.\n"
	  "Prints \"NAME: ACTION[: TABLE]\" per device, ACTION being created,\n"
	  "present, would-create or would-format-and-create; failures go to\n"
	  "stderr.  --json prints\n"
	  "  {\"config\":STR,\"dry_run\":BOOL,\"devices\":[{\"name\":STR,\"line\":N,\n"
	  "   \"action\":STR,\"table\":STR|null,\"error\":STR|null},...],\n"
	  "   \"failed\":N}\n"
	  "with action \"failed\" for a failed line.",
	  cmd_activate },
	{ "deactivate", "[--config FILE] [--dry-run] [NAME...]",
	  "Remove the dirtylog devices of the config file (all, noauto ones\n"
	  "included, or the NAMEs given), last line first.  A device that is\n"
	  "not there is reported as absent; one in use, or not a dirtylog\n"
	  "device, fails.  Output as for activate, ACTION being removed, absent\n"
	  "or would-remove.",
	  cmd_deactivate },
	{ "help", "[COMMAND]", "Show help for all commands or one.", cmd_help },
};

static const size_t dl_nr_cmds = sizeof(dl_cmds) / sizeof(dl_cmds[0]);

/* The first word of @name is @word (the whole name or a group). */
static bool first_word_is(const char *name, const char *word)
{
	size_t n = strlen(word);

	return !strncmp(name, word, n) && (name[n] == '\0' || name[n] == ' ');
}

/*
 * The command named by @argv (one or two words).  *@words is how many
 * words it took.  NULL if none matches.
 */
static const struct dl_cmd *find_cmd(int argc, char **argv, int *words)
{
	const char *sp;

	for (size_t i = 0; i < dl_nr_cmds; i++) {
		sp = strchr(dl_cmds[i].name, ' ');
		if (!sp && !strcmp(dl_cmds[i].name, argv[0])) {
			*words = 1;
			return &dl_cmds[i];
		}
		if (sp && argc > 1 && first_word_is(dl_cmds[i].name, argv[0]) &&
		    !strcmp(sp + 1, argv[1])) {
			*words = 2;
			return &dl_cmds[i];
		}
	}
	return NULL;
}

/* Is @word the first word of a two-word command? */
static bool is_group(const char *word)
{
	for (size_t i = 0; i < dl_nr_cmds; i++)
		if (strchr(dl_cmds[i].name, ' ') &&
		    first_word_is(dl_cmds[i].name, word))
			return true;
	return false;
}

static void print_group(FILE *f, const char *group)
{
	fprintf(f, "Usage:\n");
	for (size_t i = 0; i < dl_nr_cmds; i++)
		if (strchr(dl_cmds[i].name, ' ') &&
		    first_word_is(dl_cmds[i].name, group))
			fprintf(f, "  dirtylogctl %s %s\n", dl_cmds[i].name,
				dl_cmds[i].usage);
	fprintf(f, "\nTry 'dirtylogctl %s SUBCOMMAND --help'.\n", group);
}

static void print_usage(FILE *f)
{
	fprintf(f, "Usage: dirtylogctl [--json] COMMAND [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < dl_nr_cmds; i++)
		fprintf(f, "  %s %s\n", dl_cmds[i].name, dl_cmds[i].usage);
	fprintf(f, "\n" DL_DEVICE_HELP "\n"
		   "\nOptions (before COMMAND, or among its arguments):\n"
		   "  --json     machine-readable output (see COMMAND --help)\n"
		   "  --uuid     DEVICE arguments are device-mapper uuids\n"
		   "  --help     show this help (or COMMAND --help)\n"
		   "  --version  show the version\n"
		   "\nErrors go to stderr as \"dirtylogctl COMMAND: REASON\", REASON being\n"
		   "the kernel's own message when it gives one.\n"
		   "\nExit status:\n"
		   "  0  success\n"
		   "  1  the operation failed (refused by the kernel, I/O error, a\n"
		   "     damaged or unsuitable bitmap file, ...)\n"
		   "  2  usage error\n"
		   "  3  not found: no such device, checkpoint or file (ENOENT,\n"
		   "     ENODEV, ENXIO)\n"
		   "  4  permission denied (EPERM, EACCES)\n"
		   "  5  the dm-dirtylog module is not loaded\n"
		   "  6  metadata check found problems\n");
}

static void print_cmd_help(const struct dl_cmd *cmd)
{
	printf("Usage: dirtylogctl [--json] %s %s\n\n%s\n", cmd->name,
	       cmd->usage, cmd->help);
}

static int cmd_help(struct dl_ctx *ctx, int argc, char **argv)
{
	const struct dl_cmd *cmd;
	int words;

	if (argc < 2) {
		print_usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		print_cmd_help(find_cmd(1, argv, &words));
		return 0;
	}
	cmd = find_cmd(argc - 1, argv + 1, &words);
	if (cmd && words == argc - 1) {
		print_cmd_help(cmd);
		return 0;
	}
	if (argc == 2 && is_group(argv[1])) {
		print_group(stdout, argv[1]);
		return 0;
	}
	return usage_error(ctx, "unknown command '%s%s%s'", argv[1],
			   argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
}

/* --help or -h among the arguments, before any "--". */
static bool want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return false;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	struct dl_ctx ctx = { .cmd = "" };
	const struct dl_cmd *cmd;
	int i = 1, words, r;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json")) {
			ctx.json = true;
		} else if (!strcmp(argv[i], "--uuid")) {
			ctx.uuid = true;
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
	cmd = find_cmd(argc - i, argv + i, &words);
	if (!cmd && is_group(argv[i])) {
		if (want_help(argc - i, argv + i)) {
			print_group(stdout, argv[i]);
			return 0;
		}
		if (i + 1 < argc)
			fprintf(stderr, "dirtylogctl %s: unknown subcommand '%s'\n",
				argv[i], argv[i + 1]);
		else
			fprintf(stderr, "dirtylogctl %s: a subcommand is needed\n",
				argv[i]);
		print_group(stderr, argv[i]);
		return EXIT_USAGE;
	}
	if (!cmd) {
		fprintf(stderr, "dirtylogctl: unknown command '%s'\n", argv[i]);
		print_usage(stderr);
		return EXIT_USAGE;
	}
	/* The command sees its last word as argv[0]. */
	i += words - 1;
	ctx.cmd = cmd->name;
	if (cmd->fn != cmd_help && want_help(argc - i, argv + i)) {
		print_cmd_help(cmd);
		return 0;
	}
	r = cmd->fn(&ctx, argc - i, argv + i);
	if (ctx.nl_open)
		dl_nl_close(&ctx.nl);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "dirtylogctl %s: cannot write the output\n", ctx.cmd);
		if (!r)
			r = EXIT_OPFAIL;
	}
	return r;
}
