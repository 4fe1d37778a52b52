/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the parts of dirtylogctl share: the run's context, exit codes,
 * option parsing, error reporting and small helpers (dirtylogctl.c, which
 * also holds the command table, help and main()), and the commands, in
 * files of their own: dirtylogctl-dev.c (create, remove, status,
 * checkpoint create|list|delete, reset, mark-dirty, monitor),
 * dirtylogctl-map.c (dirty, show, merge), dirtylogctl-diff.c (export,
 * apply, verify, revert), dirtylogctl-meta.c (metadata check, dump,
 * repair), dirtylogctl-activate.c (activate, deactivate) and
 * dirtylogctl-backup.c (backup begin, backup end).
 */
#ifndef DIRTYLOGCTL_H
#define DIRTYLOGCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dl-nl.h"

enum {
	EXIT_OPFAIL = 1,	/* refused by the kernel, I/O error, ... */
	EXIT_USAGE = 2,
	EXIT_NOTFOUND = 3,	/* ENOENT, ENODEV */
	EXIT_PERM = 4,		/* EPERM, EACCES */
	EXIT_NOMODULE = 5,	/* the netlink family is not registered */
	EXIT_DAMAGED = 6,	/* metadata check found problems */
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

/*
 * Options.  Every command takes --json; those that take DEVICE arguments
 * also --uuid.  Unknown options and missing arguments are usage errors.
 */
#define DL_OPT_JSON	{ "json", no_argument, NULL, 'J' }
#define DL_OPT_UUID	{ "uuid", no_argument, NULL, 'U' }
#define DL_OPT_END	{ NULL, 0, NULL, 0 }

int usage_error(struct dl_ctx *ctx, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The documented exit code for -errno @r. */
int exit_code(int r);
/* Netlink failures (-errno @r): the reason is in ctx->nl.err. */
int nl_error(struct dl_ctx *ctx, int r);
/* Library failures (-errno @r): the reason is in ctx->err. */
int op_error(struct dl_ctx *ctx, int r);
/* Open the netlink client once per run. */
int ctx_nl(struct dl_ctx *ctx);
/*
 * Parse options with @opts, leaving the operands in argv[optind..].  @fn
 * (may be NULL) takes the command's own options: it returns 0, or 1 for an
 * option that is not its own.
 */
int parse_opts(struct dl_ctx *ctx, int argc, char **argv,
	       const struct option *opts, int (*fn)(int c, void *priv),
	       void *priv);
/*
 * The checkpoint range and output file of the commands that take them:
 * -s/--since, -u/--until, -o/--output.  range_opt() stores @c's argument
 * for a command's option function: 0, or 1 when @c is none of them.
 */
struct range_args {
	const char *since, *until, *out;
};
int range_opt(int c, struct range_args *r);
/* @s as a JSON string on stdout (dl_json_str() for another stream). */
void json_str(const char *s);
/* A DEVICE argument (name, MAJOR:MINOR, or a uuid with --uuid). */
int parse_sel(struct dl_ctx *ctx, const char *arg, struct dl_nl_sel *sel);
/* A decimal u64: 0, or -1 when @s is not one. */
int parse_u64(const char *s, uint64_t *v);
/* "rw", "invalid", "fail" for enum dm_dirtylog_state. */
const char *state_name(uint32_t state);

/* A growing array of @size-byte items. */
struct vec {
	void *items;
	size_t n, cap, size;
};
void *vec_push(struct vec *v);
/* Empty @arg (a struct vec), for the dumps' restart callbacks. */
void vec_clear(void *arg);
void vec_free(struct vec *v);

int cmd_create(struct dl_ctx *ctx, int argc, char **argv);
int cmd_remove(struct dl_ctx *ctx, int argc, char **argv);
int cmd_status(struct dl_ctx *ctx, int argc, char **argv);
int cmd_ckpt_create(struct dl_ctx *ctx, int argc, char **argv);
int cmd_ckpt_list(struct dl_ctx *ctx, int argc, char **argv);
int cmd_ckpt_delete(struct dl_ctx *ctx, int argc, char **argv);
int cmd_reset(struct dl_ctx *ctx, int argc, char **argv);
int cmd_mark_dirty(struct dl_ctx *ctx, int argc, char **argv);
int cmd_monitor(struct dl_ctx *ctx, int argc, char **argv);
int cmd_dirty(struct dl_ctx *ctx, int argc, char **argv);
int cmd_show(struct dl_ctx *ctx, int argc, char **argv);
int cmd_merge(struct dl_ctx *ctx, int argc, char **argv);

int cmd_export(struct dl_ctx *ctx, int argc, char **argv);
int cmd_apply(struct dl_ctx *ctx, int argc, char **argv);
int cmd_verify(struct dl_ctx *ctx, int argc, char **argv);
int cmd_revert(struct dl_ctx *ctx, int argc, char **argv);
int cmd_meta_check(struct dl_ctx *ctx, int argc, char **argv);
int cmd_meta_dump(struct dl_ctx *ctx, int argc, char **argv);
int cmd_meta_repair(struct dl_ctx *ctx, int argc, char **argv);
int cmd_activate(struct dl_ctx *ctx, int argc, char **argv);
int cmd_deactivate(struct dl_ctx *ctx, int argc, char **argv);
int cmd_backup_begin(struct dl_ctx *ctx, int argc, char **argv);
int cmd_backup_end(struct dl_ctx *ctx, int argc, char **argv);

#endif /* DIRTYLOGCTL_H */
