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

int parse_sel(struct dl_ctx *ctx, const char *arg, struct dl_nl_sel *sel)
{
	if (dl_nl_sel_parse(arg, ctx->uuid, sel))
		return usage_error(ctx, "invalid %s '%s'",
				   ctx->uuid ? "dm uuid" : "DEVICE", arg);
	return 0;
}

/* A decimal number, digits only. */
int parse_u64(const char *s, uint64_t *v)
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

void *vec_push(struct vec *v)
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

void vec_clear(void *arg)
{
	((struct vec *)arg)->n = 0;
}

void vec_free(struct vec *v)
{
	free(v->items);
	v->items = NULL;
	v->n = v->cap = 0;
}

const char *state_name(uint32_t state)
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
	  "   \"metadata_commits\":N (metadata commits since the metadata was opened),\n"
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
	{ "backup begin", "NAME --checkpoint NEW [--since CKPT]\n"
	  "        [--socket PATH | --port N] [--cow DEV|FILE] [--cow-size SIZE]",
	  "Pull-mode backup: under one suspend, as export does, create\n"
	  "checkpoint NEW and a dm-snapshot of NAME's data device (--cow and\n"
	  "--cow-size as for export); write a qcow2 image over the snapshot\n"
	  "(external raw data file) that carries the dirty map since CKPT as a\n"
	  "persistent bitmap named CKPT, of the device's block size; and serve\n"
	  "it read-only with qemu-nbd on a unix socket (default\n"
	  "$DIRTYLOG_BACKUP_DIR/NAME.sock, DIRTYLOG_BACKUP_DIR being\n"
	  "/var/lib/dirtylog/backup unless set) or on 127.0.0.1:N (--port).  An\n"
	  "NBD client reads the metadata context qemu:dirty-bitmap:CKPT and\n"
	  "copies only the dirty extents.  Without --since it is a full backup:\n"
	  "no bitmap, read everything.  Refused, with nothing left behind: a\n"
	  "device not in state rw (take a full backup after 'reset'), a backup\n"
	  "of NAME already running, a missing CKPT or an existing NEW, a socket\n"
	  "path that exists, a port in use, no qemu-nbd.  Its state is kept in\n"
	  "$DIRTYLOG_BACKUP_DIR/NAME.state until 'backup end'.  --json prints\n"
	  "  {\"device\":STR,\"checkpoint\":STR,\"id\":N,\"since\":STR|null,\n"
	  "   \"since_id\":N,\"uri\":STR,\"socket\":STR|null,\"port\":N,\n"
	  "   \"bitmap\":STR|null,\"context\":STR|null,\"image\":STR,\n"
	  "   \"snapshot\":STR,\"size_bytes\":N,\"block_size_bytes\":N,\n"
	  "   \"dirty_blocks\":N,\"server_pid\":N}",
	  cmd_backup_begin },
	{ "backup end", "NAME [--failed]",
	  "End the backup of NAME: stop the NBD server, remove the snapshot,\n"
	  "the image and the state.  With --failed (the client did not finish),\n"
	  "or when the server had died, checkpoint NEW is deleted again, as a\n"
	  "failed export does: its interval merges back, and the next backup\n"
	  "since the previous checkpoint still holds every change.  Works from\n"
	  "the state file alone: after dirtylogctl was killed, or after a\n"
	  "reboot (then the server is gone: NEW is deleted).  --json prints\n"
	  "  {\"device\":STR,\"checkpoint\":STR,\"failed\":BOOL,\n"
	  "   \"server_was_dead\":BOOL,\"rolled_back\":BOOL}",
	  cmd_backup_end },
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
