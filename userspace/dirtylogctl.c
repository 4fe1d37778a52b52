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
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dl-dm.h"
#include "dl-nl.h"
#include "dl-util.h"

#define DL_VERSION "0.2.0"

enum {
	EXIT_OPFAIL = 1,	/* refused by the kernel, I/O error, ... */
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,	/* ENOENT, ENODEV */
	EXIT_PERM = 4,		/* EPERM, EACCES */
	EXIT_NOMODULE = 5,	/* the netlink family is not registered */
};

/* One run of the tool. */
struct dl_ctx {
	bool json;
	bool uuid;		/* DEVICE arguments are dm uuids */
	const char *cmd;	/* full command name, for messages */
	struct dl_nl nl;
	bool nl_open;
	char err[512];		/* libdevmapper failures */
};

struct dl_cmd {
	const char *name;	/* one word, or "group word" */
	const char *usage;	/* arguments */
	const char *help;
	int (*fn)(struct dl_ctx *ctx, int argc, char **argv);
};

static int usage_error(struct dl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int usage_error(struct dl_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "dirtylogctl %s: ", ctx->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'dirtylogctl %s --help'.\n", ctx->cmd);
	return EXIT_USAGE;
}

/* libdevmapper failures: the reason is in ctx->err. */
static int op_error(struct dl_ctx *ctx)
{
	fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd, ctx->err);
	return EXIT_OPFAIL;
}

static int exit_code(int r)
{
	switch (r < 0 ? -r : r) {
	case 0:
		return 0;
	case ENOENT:
	case ENODEV:
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
static int nl_error(struct dl_ctx *ctx, int r)
{
	fprintf(stderr, "dirtylogctl %s: %s\n", ctx->cmd,
		ctx->nl.err[0] ? ctx->nl.err : strerror(r < 0 ? -r : r));
	return exit_code(r);
}

static int ctx_nl(struct dl_ctx *ctx)
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
#define DL_OPT_JSON	{ "json", no_argument, NULL, 'J' }
#define DL_OPT_UUID	{ "uuid", no_argument, NULL, 'U' }
#define DL_OPT_END	{ NULL, 0, NULL, 0 }

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
static int parse_opts(struct dl_ctx *ctx, int argc, char **argv,
		      const struct option *opts,
		      int (*fn)(int c, void *priv), void *priv)
{
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (common_opt(ctx, c))
			continue;
		if (c == '?' || c == ':' || !fn || fn(c, priv))
			return getopt_error(ctx, c, argv);
	}
	return 0;
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
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
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
	const char **a = priv;	/* data, metadata, block size */

	switch (c) {
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
		DL_OPT_JSON,
		DL_OPT_END,
	};
	const char *a[3] = { NULL, NULL, NULL };
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
	if (dl_dm_create(argv[optind], a[1], a[0], sectors, ctx->err,
			 sizeof(ctx->err)))
		return op_error(ctx);
	return 0;
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
	if (dl_dm_remove(argv[optind], ctx->err, sizeof(ctx->err)))
		return op_error(ctx);
	return 0;
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

static int cmd_mark_dirty(struct dl_ctx *ctx, int argc, char **argv)
{
	struct dl_nl_sel sel;
	uint64_t start, count;
	int r;

	r = dev_cmd_args(ctx, argc, argv, 3, "expected DEVICE, START and COUNT", &sel);
	if (r)
		return r;
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

static int dirty_opt(int c, void *priv)
{
	const char **a = priv;	/* since, until */

	switch (c) {
	case 's':
		a[0] = optarg;
		return 0;
	case 'u':
		a[1] = optarg;
		return 0;
	}
	return 1;
}

static int cmd_dirty(struct dl_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		DL_OPT_JSON,
		DL_OPT_UUID,
		DL_OPT_END,
	};
	struct vec exts = { .size = sizeof(struct extent) };
	uint64_t bs, size, off, len, total_blocks = 0, total_bytes = 0;
	const char *a[2] = { NULL, NULL };
	unsigned int restarts = 0;
	const struct extent *e;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	int r;

	r = parse_opts(ctx, argc, argv, opts, dirty_opt, a);
	if (r)
		return r;
	if (argc - optind != 1)
		return usage_error(ctx, "expected exactly one DEVICE");
	if (!a[0])
		return usage_error(ctx, "--since is required");
	r = parse_sel(ctx, argv[optind], &sel);
	if (r)
		return r;
	r = ctx_nl(ctx);
	if (!r)
		r = dl_nl_dev_get(&ctx->nl, &sel, &dev);
	if (!r)
		r = dl_nl_dirty_dump(&ctx->nl, &sel, a[0], a[1], extent_add,
				     vec_clear, &exts, &restarts);
	if (r) {
		vec_free(&exts);
		return nl_error(ctx, r);
	}
	if (restarts)
		fprintf(stderr, "dirtylogctl %s: checkpoints changed during the query; restarted it %u time%s\n",
			ctx->cmd, restarts, restarts == 1 ? "" : "s");

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
		json_str(a[0]);
		printf(",\"until\":");
		if (a[1])
			json_str(a[1]);
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
 * help and dispatch
 */

static int cmd_help(struct dl_ctx *ctx, int argc, char **argv);

#define DL_DEVICE_HELP \
	"DEVICE is a device-mapper name, or MAJOR:MINOR (decimal digits on\n" \
	"both sides of the colon), or with --uuid a device-mapper uuid."

static const struct dl_cmd dl_cmds[] = {
	{ "create", "NAME --data DEV --metadata DEV [--block-size SIZE]",
	  "Create a dirtylog device NAME over the whole data device DEV, keeping\n"
	  "its dirty bitmaps on the metadata device.  SIZE is the tracking\n"
	  "granularity: a power of two from 4K to 64M (default 64K).\n"
	  "Uses device-mapper directly: every failure exits with 1.",
	  cmd_create },
	{ "remove", "NAME",
	  "Remove the dirtylog device NAME.\n"
	  "Uses device-mapper directly: every failure exits with 1.",
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
	  "   \"instance_uuid\":STR}",
	  cmd_status },
	{ "checkpoint create", "[--uuid] DEVICE CKPT [--also DEVICE]...",
	  "Create checkpoint CKPT on DEVICE, and with --also (repeatable) on more\n"
	  "devices at the same instant.  Names: 1 to 64 characters from\n"
	  "A-Z a-z 0-9 . _ : + -, unique per device.\n\n"
	  DL_DEVICE_HELP "\n\n"
	  "Prints the new checkpoint's id; for several devices one line\n"
	  "\"DEVICE ID\" each.  --json prints\n"
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
	{ "mark-dirty", "[--uuid] DEVICE START COUNT",
	  "Mark COUNT blocks from block START dirty in the active interval, for\n"
	  "data changed behind the target's back.  Prints nothing.\n\n"
	  DL_DEVICE_HELP,
	  cmd_mark_dirty },
	{ "dirty", "[--uuid] DEVICE --since CKPT [--until CKPT]",
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
	  "times) and says so on stderr.",
	  cmd_dirty },
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
		   "  1  the operation failed (refused by the kernel, I/O error, ...)\n"
		   "  2  usage error\n"
		   "  3  not found: no such device or checkpoint (ENOENT, ENODEV)\n"
		   "  4  permission denied (EPERM, EACCES)\n"
		   "  5  the dm-dirtylog module is not loaded\n");
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
