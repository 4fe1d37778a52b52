// SPDX-License-Identifier: GPL-2.0-only
/*
 * dirtylogctl activate / deactivate: bring up (and take down) the dirtylog
 * devices listed in a config file, /etc/dirtylog/dirtylogtab by default.
 * Device-mapper tables do not survive a reboot; this is what recreates
 * them at boot (dirtylog-activate.service).
 *
 * One device per line, '#' starts a comment:
 *
 *   NAME  DATA-DEV  METADATA-DEV  [BLOCK-SIZE|-]  [OPTION[,OPTION]...|-]
 *
 * Devices are paths (symlinks such as /dev/disk/by-id/... are followed).
 * Options: format (a metadata device whose first 4 KiB are all zero may
 * be formatted; without it such a device is refused, so a wrong path never
 * silently starts an empty chain), passthrough_on_metadata_error (the
 * table's feature argument), noauto (only activated when named).
 *
 * Rules: a device that exists with exactly the table the line asks for is
 * left alone; one with any other table is refused, never reloaded; a
 * missing or unreadable device fails that line only and the others still
 * go on.  Existing metadata is always loaded as it is: nothing here ever
 * writes to a metadata device.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "dl-dm.h"
#include "dl-util.h"
#include "dirtylogctl.h"

#define DL_TAB_DEFAULT	"/etc/dirtylog/dirtylogtab"
#define DL_TAB_MAX	256	/* lines with a device */

struct tab_ent {
	unsigned int line;
	char name[128];
	char data[PATH_MAX];
	char meta[PATH_MAX];
	uint32_t block_sectors;
	bool format, passthrough, noauto;
	char err[256];		/* a syntax error on this line */
};

struct tab {
	struct tab_ent ent[DL_TAB_MAX];
	unsigned int n;
};

struct act_args {
	const char *config;
	bool dry_run;
};

static int act_opt(int c, void *priv)
{
	struct act_args *a = priv;

	switch (c) {
	case 'c':
		a->config = optarg;
		return 0;
	case 'n':
		a->dry_run = true;
		return 0;
	}
	return 1;
}

/* A dm name: what dmsetup accepts, minus the characters that need quoting. */
static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= 128 || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (*s == '/' || *s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static int parse_options(struct tab_ent *e, char *opts)
{
	char *save = NULL;

	if (!strcmp(opts, "-"))
		return 0;
	for (char *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
		if (!strcmp(o, "format")) {
			e->format = true;
		} else if (!strcmp(o, "passthrough_on_metadata_error")) {
			e->passthrough = true;
		} else if (!strcmp(o, "noauto")) {
			e->noauto = true;
		} else {
			snprintf(e->err, sizeof(e->err), "unknown option '%s'", o);
			return -1;
		}
	}
	return 0;
}

/* Parse one line into @e; false for a blank or comment line. */
static bool parse_line(char *line, struct tab_ent *e)
{
	char *f[6], *save = NULL, *hash;
	uint64_t bytes = 64 << 10;
	int n = 0;

	hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	for (char *t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == 5) {
			snprintf(e->err, sizeof(e->err),
				 "too many fields (NAME DATA-DEV METADATA-DEV [BLOCK-SIZE] [OPTIONS])");
			return true;
		}
		f[n++] = t;
	}
	if (!n)
		return false;
	if (n < 3) {
		snprintf(e->err, sizeof(e->err),
			 "need at least NAME DATA-DEV METADATA-DEV");
		return true;
	}
	if (!valid_name(f[0])) {
		snprintf(e->err, sizeof(e->err), "invalid device name '%.64s'", f[0]);
		return true;
	}
	snprintf(e->name, sizeof(e->name), "%s", f[0]);
	if (strlen(f[1]) >= sizeof(e->data) || strlen(f[2]) >= sizeof(e->meta)) {
		snprintf(e->err, sizeof(e->err), "device path too long");
		return true;
	}
	snprintf(e->data, sizeof(e->data), "%s", f[1]);
	snprintf(e->meta, sizeof(e->meta), "%s", f[2]);
	if (n > 3 && strcmp(f[3], "-") && dl_parse_size(f[3], &bytes)) {
		snprintf(e->err, sizeof(e->err), "invalid block size '%.64s'", f[3]);
		return true;
	}
	e->block_sectors = dl_block_size_sectors(bytes);
	if (!e->block_sectors) {
		snprintf(e->err, sizeof(e->err),
			 "block size must be a power of two from 4K to 64M");
		return true;
	}
	if (n > 4)
		parse_options(e, f[4]);
	return true;
}

static int read_tab(const char *path, struct tab *tab, char *err, size_t errlen)
{
	char line[3 * PATH_MAX];
	unsigned int lineno = 0;
	FILE *f;

	f = fopen(path, "r");
	if (!f)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", path,
			       strerror(errno));
	tab->n = 0;
	while (fgets(line, sizeof(line), f)) {
		struct tab_ent *e = &tab->ent[tab->n];

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			fclose(f);
			return dl_fail(err, errlen, EINVAL, "%s:%u: line too long",
				       path, lineno);
		}
		memset(e, 0, sizeof(*e));
		e->line = lineno;
		if (!parse_line(line, e))
			continue;
		if (!e->err[0]) {
			for (unsigned int i = 0; i < tab->n; i++)
				if (!strcmp(tab->ent[i].name, e->name))
					snprintf(e->err, sizeof(e->err),
						 "configured twice (first on line %u)",
						 tab->ent[i].line);
		}
		if (++tab->n == DL_TAB_MAX) {
			fclose(f);
			return dl_fail(err, errlen, E2BIG, "%s: more than %d devices",
				       path, DL_TAB_MAX - 1);
		}
	}
	if (ferror(f)) {
		fclose(f);
		return dl_fail(err, errlen, EIO, "cannot read %s", path);
	}
	fclose(f);
	return 0;
}

/* The device number of the block device @path (symlinks followed). */
static int blkdev_num(const char *what, const char *path, dev_t *dev,
		      char *err, size_t errlen)
{
	struct stat st;

	if (stat(path, &st))
		return dl_fail(err, errlen, errno, "%s device %s: %s", what, path,
			       strerror(errno));
	if (!S_ISBLK(st.st_mode))
		return dl_fail(err, errlen, ENOTBLK, "%s device %s is not a block device",
			       what, path);
	*dev = st.st_rdev;
	return 0;
}

/* 1 when the first 4 KiB of @path are all zero (a blank metadata device). */
static int meta_blank(const char *path, char *err, size_t errlen)
{
	unsigned char buf[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open metadata device %s: %s",
			       path, strerror(errno));
	n = pread(fd, buf, sizeof(buf), 0);
	close(fd);
	if (n != (ssize_t)sizeof(buf))
		return dl_fail(err, errlen, n < 0 ? errno : EIO,
			       "cannot read metadata device %s", path);
	for (size_t i = 0; i < sizeof(buf); i++)
		if (buf[i])
			return 0;
	return 1;
}

/* The table line @e asks for: its parameters and length. */
static int want_table(const struct tab_ent *e, char *params, size_t len,
		      uint64_t *sectors, char *err, size_t errlen)
{
	dev_t data, meta;
	uint64_t bytes;
	int r;

	r = blkdev_num("data", e->data, &data, err, errlen);
	if (!r)
		r = blkdev_num("metadata", e->meta, &meta, err, errlen);
	if (!r && data == meta)
		r = dl_fail(err, errlen, EINVAL,
			    "data and metadata are the same device (%u:%u)",
			    major(data), minor(data));
	if (!r)
		r = dl_blockdev_size(e->data, &bytes, err, errlen);
	if (r)
		return r;
	if (bytes < 512)
		return dl_fail(err, errlen, EINVAL, "data device %s is empty", e->data);
	*sectors = bytes >> 9;
	snprintf(params, len, "%u:%u %u:%u %" PRIu32 "%s", major(meta),
		 minor(meta), major(data), minor(data), e->block_sectors,
		 e->passthrough ? " 1 passthrough_on_metadata_error" : "");
	return 0;
}

enum act_result { ACT_OK, ACT_FAILED };

static void report(struct dl_ctx *ctx, bool *first, const struct tab_ent *e,
		   const char *action, const char *table, const char *err)
{
	if (ctx->json) {
		printf("%s{\"name\":", *first ? "" : ",");
		json_str(e->name);
		printf(",\"line\":%u,\"action\":\"%s\",\"table\":", e->line, action);
		if (table)
			json_str(table);
		else
			printf("null");
		printf(",\"error\":");
		if (err)
			json_str(err);
		else
			printf("null");
		printf("}");
		*first = false;
		return;
	}
	if (err)
		fprintf(stderr, "dirtylogctl %s: %s (line %u): %s\n", ctx->cmd,
			e->name[0] ? e->name : "?", e->line, err);
	else if (table)
		printf("%s: %s: %s\n", e->name, action, table);
	else
		printf("%s: %s\n", e->name, action);
}

static enum act_result activate_one(struct dl_ctx *ctx, const struct tab_ent *e,
				    bool dry_run, bool *first)
{
	char want[512], have[1024], target[64], line[600];
	uint64_t sectors = 0, have_sectors = 0;
	int r;

	r = want_table(e, want, sizeof(want), &sectors, ctx->err, sizeof(ctx->err));
	if (r)
		goto fail;
	snprintf(line, sizeof(line), "0 %" PRIu64 " %s %s", sectors,
		 DL_TARGET_NAME, want);
	r = dl_dm_table(e->name, target, sizeof(target), have, sizeof(have),
			&have_sectors, ctx->err, sizeof(ctx->err));
	if (!r) {
		if (strcmp(target, DL_TARGET_NAME) || strcmp(have, want) ||
		    have_sectors != sectors) {
			dl_seterr(ctx->err, sizeof(ctx->err),
				  "a device named %s exists with another table: has '0 %" PRIu64
				  " %s %s', the config asks for '%s'; not changed",
				  e->name, have_sectors, target, have, line);
			goto fail;
		}
		report(ctx, first, e, "present", line, NULL);
		return ACT_OK;
	}
	if (r != -ENODEV && r != -ENXIO && r != -ENOENT)
		goto fail;
	r = meta_blank(e->meta, ctx->err, sizeof(ctx->err));
	if (r < 0)
		goto fail;
	if (r && !e->format) {
		dl_seterr(ctx->err, sizeof(ctx->err),
			  "metadata device %s is blank (first 4 KiB all zero): add the 'format' option to format it",
			  e->meta);
		goto fail;
	}
	if (dry_run) {
		report(ctx, first, e, r ? "would-format-and-create" : "would-create",
		       line, NULL);
		return ACT_OK;
	}
	r = dl_dm_create_table(e->name, DL_TARGET_NAME, want, sectors, ctx->err,
			       sizeof(ctx->err));
	if (r)
		goto fail;
	report(ctx, first, e, "created", line, NULL);
	return ACT_OK;
fail:
	report(ctx, first, e, "failed", NULL, ctx->err);
	return ACT_FAILED;
}

static enum act_result deactivate_one(struct dl_ctx *ctx, const struct tab_ent *e,
				      bool dry_run, bool *first)
{
	struct dl_dm_info info;
	int r;

	r = dl_dm_info(e->name, &info, ctx->err, sizeof(ctx->err));
	if (r == -ENODEV || r == -ENXIO || r == -ENOENT) {
		report(ctx, first, e, "absent", NULL, NULL);
		return ACT_OK;
	}
	if (r == 1)
		dl_seterr(ctx->err, sizeof(ctx->err),
			  "%s is not a dirtylog device; not removed", e->name);
	if (r)
		goto fail;
	if (dry_run) {
		report(ctx, first, e, "would-remove", NULL, NULL);
		return ACT_OK;
	}
	r = dl_dm_remove(e->name, ctx->err, sizeof(ctx->err));
	if (r)
		goto fail;
	report(ctx, first, e, "removed", NULL, NULL);
	return ACT_OK;
fail:
	report(ctx, first, e, "failed", NULL, ctx->err);
	return ACT_FAILED;
}

/* Shared by both commands: which lines, in which order, what to do. */
static int run_tab(struct dl_ctx *ctx, int argc, char **argv, bool up)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "dry-run", no_argument, NULL, 'n' },
		DL_OPT_JSON, DL_OPT_END,
	};
	struct act_args a = { .config = DL_TAB_DEFAULT };
	unsigned int failed = 0;
	bool first = true;
	struct tab *tab;
	int r;

	r = parse_opts(ctx, argc, argv, opts, act_opt, &a);
	if (r)
		return r;
	tab = calloc(1, sizeof(*tab));
	if (!tab) {
		fprintf(stderr, "dirtylogctl %s: out of memory\n", ctx->cmd);
		return EXIT_OPFAIL;
	}
	r = read_tab(a.config, tab, ctx->err, sizeof(ctx->err));
	if (r) {
		free(tab);
		return op_error(ctx, r);
	}
	/* Named devices must be configured. */
	for (int i = optind; i < argc; i++) {
		bool found = false;

		for (unsigned int j = 0; j < tab->n; j++)
			found |= !strcmp(tab->ent[j].name, argv[i]);
		if (!found) {
			fprintf(stderr, "dirtylogctl %s: %s is not in %s\n",
				ctx->cmd, argv[i], a.config);
			free(tab);
			return EXIT_NOTFOUND;
		}
	}
	if (ctx->json) {
		printf("{\"config\":");
		json_str(a.config);
		printf(",\"dry_run\":%s,\"devices\":[", a.dry_run ? "true" : "false");
	}
	/* Up in file order, down in reverse (later lines may stack on earlier). */
	for (unsigned int k = 0; k < tab->n; k++) {
		const struct tab_ent *e = &tab->ent[up ? k : tab->n - 1 - k];
		bool named = optind == argc;

		for (int i = optind; i < argc; i++)
			named |= !strcmp(e->name, argv[i]);
		if (e->err[0] && optind == argc) {
			report(ctx, &first, e, "failed", NULL, e->err);
			failed++;
			continue;
		}
		if (!named || (e->noauto && optind == argc && up))
			continue;
		if (e->err[0]) {
			report(ctx, &first, e, "failed", NULL, e->err);
			failed++;
		} else if ((up ? activate_one : deactivate_one)(ctx, e, a.dry_run,
								 &first)) {
			failed++;
		}
	}
	if (ctx->json)
		printf("],\"failed\":%u}\n", failed);
	free(tab);
	return failed ? EXIT_OPFAIL : 0;
}

int cmd_activate(struct dl_ctx *ctx, int argc, char **argv)
{
	return run_tab(ctx, argc, argv, true);
}

int cmd_deactivate(struct dl_ctx *ctx, int argc, char **argv)
{
	return run_tab(ctx, argc, argv, false);
}
