// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl create, remove, status, checkpoint create|list|delete,
 * reset, mark-dirty and monitor: the devices and their checkpoints.
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

int cmd_create(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_remove(struct dl_ctx *ctx, int argc, char **argv)
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
	       ",\"metadata_total_blocks\":%" PRIu64
	       ",\"metadata_commits\":%" PRIu64 ",\"instance_uuid\":",
	       d->meta_used, d->meta_total, d->meta_commits);
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
	printf("  commits:          %" PRIu64 "\n", d->meta_commits);
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

int cmd_status(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_ckpt_create(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_ckpt_list(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_ckpt_delete(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_reset(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_mark_dirty(struct dl_ctx *ctx, int argc, char **argv)
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

int cmd_monitor(struct dl_ctx *ctx, int argc, char **argv)
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
