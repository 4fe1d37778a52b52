// SPDX-License-Identifier: GPL-2.0-only
/*
 * A replayer for the log of the stock dm-log-writes target, for
 * tests/vm/test_replay_19.sh (Debian ships none).  Written from the
 * on-disk format in the kernel's
 * Documentation/admin-guide/device-mapper/log-writes.rst:
 *
 *   The log device starts with a super block of one "sector" (the logical
 *   block size of the logged device, given in the super block):
 *	__le64 magic (0x6a736677736872), __le64 version (1),
 *	__le64 nr_entries, __le32 sectorsize
 *   then nr_entries entries, each a header sector
 *	__le64 sector, __le64 nr_sectors, __le64 flags, __le64 data_len
 *   (a MARK's name, data_len bytes, follows the header in the same sector)
 *   and, unless DISCARD, nr_sectors sectors of the written data.  Sector
 *   numbers and counts are in units of sectorsize.
 *
 * Entries are in the order the target logged them: a write when it
 * completed, but a write without FUA only when a later FLUSH arrived, just
 * before the FLUSH entry.  Replaying every entry up to a FLUSH or FUA entry
 * gives a state the disk could have been in after a power cut; the
 * writes logged after it up to the next FLUSH were not yet flushed, so any
 * subset of them may have reached the disk as well.
 *
 *   dl_logreplay list LOG
 *	"entries N sectorsize S", then one line per entry:
 *	"INDEX FLAGS SECTOR COUNT [MARK]", INDEX from 0, FLAGS a
 *	comma-separated subset of FLUSH,FUA,DISCARD,MARK,META or "-", SECTOR
 *	and COUNT in 512-byte sectors.
 *
 *   dl_logreplay replay LOG DEV [--from A] (--to N | --to-mark NAME)
 *		[--then K] [--drop START+LEN]
 *   dl_logreplay replay LOG DEV --only I,J,... [--drop START+LEN]
 *	Write entries A (default 0) to N inclusive (or to the first mark
 *	NAME) to DEV, then at most K more writes or discards, stopping at
 *	the next FLUSH or FUA entry (marks do not count); or exactly
 *	the listed entries, in log order.  A discard writes zeros.  --drop
 *	leaves out every write touching the 512-byte sectors
 *	[START, START+LEN): a broken replay, to show that a test notices
 *	lost writes.  Ends with fsync.
 *
 * Exit status: 0, 1 on a malformed log or an I/O error, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <endian.h>
#include <unistd.h>

#define LW_MAGIC	0x6a736677736872ULL
#define LW_VERSION	1ULL
#define LW_FLUSH	(1ULL << 0)
#define LW_FUA		(1ULL << 1)
#define LW_DISCARD	(1ULL << 2)
#define LW_MARK		(1ULL << 3)
#define LW_META		(1ULL << 4)
#define ENTRY_BYTES	32u

struct entry {
	uint64_t sector;	/* in sectorsize units */
	uint64_t nr_sectors;
	uint64_t flags;
	uint64_t data_len;
	uint64_t off;		/* byte offset of the header in the log */
	char mark[4096];
};

struct log {
	int fd;
	uint64_t nr_entries;
	uint32_t sectorsize;
	uint64_t size;		/* bytes */
	uint64_t next_off;	/* of the entry after the last read */
	uint64_t next_index;
};

static uint64_t get_le64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static int full_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
				  (off_t)(off + done));

		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int full_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done,
				   (off_t)(off + done));

		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int log_open(struct log *lg, const char *path)
{
	unsigned char sb[4096];
	off_t end;

	lg->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (lg->fd < 0) {
		fprintf(stderr, "logreplay: open %s: %s\n", path, strerror(errno));
		return -1;
	}
	end = lseek(lg->fd, 0, SEEK_END);
	if (end < 0 || full_pread(lg->fd, sb, 512, 0)) {
		fprintf(stderr, "logreplay: cannot read the super block of %s\n",
			path);
		return -1;
	}
	lg->size = (uint64_t)end;
	lg->nr_entries = get_le64(sb + 16);
	memcpy(&lg->sectorsize, sb + 24, sizeof(lg->sectorsize));
	lg->sectorsize = le32toh(lg->sectorsize);
	if (get_le64(sb) != LW_MAGIC || get_le64(sb + 8) != LW_VERSION) {
		fprintf(stderr, "logreplay: %s is not a dm-log-writes log (magic %" PRIx64 ", version %" PRIu64 ")\n",
			path, get_le64(sb), get_le64(sb + 8));
		return -1;
	}
	if (lg->sectorsize < 512 || lg->sectorsize > 4096 ||
	    (lg->sectorsize & (lg->sectorsize - 1))) {
		fprintf(stderr, "logreplay: bad sector size %u\n", lg->sectorsize);
		return -1;
	}
	lg->next_off = lg->sectorsize;
	lg->next_index = 0;
	return 0;
}

/* Read the header of the next entry into @e (data stays in the log). */
static int log_next(struct log *lg, struct entry *e)
{
	unsigned char hdr[4096];
	uint64_t data_bytes;

	if (lg->next_index >= lg->nr_entries)
		return 1;
	if (lg->next_off + lg->sectorsize > lg->size ||
	    full_pread(lg->fd, hdr, lg->sectorsize, lg->next_off)) {
		fprintf(stderr, "logreplay: entry %" PRIu64 ": cannot read its header at byte %" PRIu64 "\n",
			lg->next_index, lg->next_off);
		return -1;
	}
	e->sector = get_le64(hdr);
	e->nr_sectors = get_le64(hdr + 8);
	e->flags = get_le64(hdr + 16);
	e->data_len = get_le64(hdr + 24);
	e->off = lg->next_off;
	e->mark[0] = 0;
	if (e->flags & LW_MARK) {
		if (e->data_len >= lg->sectorsize - ENTRY_BYTES) {
			fprintf(stderr, "logreplay: entry %" PRIu64 ": mark of %" PRIu64 " bytes\n",
				lg->next_index, e->data_len);
			return -1;
		}
		memcpy(e->mark, hdr + ENTRY_BYTES, e->data_len);
		e->mark[e->data_len] = 0;
	} else if (e->data_len) {
		/* Inline data (DAX): never produced for a block device. */
		fprintf(stderr, "logreplay: entry %" PRIu64 ": inline data not supported\n",
			lg->next_index);
		return -1;
	}
	data_bytes = (e->flags & LW_DISCARD) ? 0 : e->nr_sectors * lg->sectorsize;
	if (e->nr_sectors > (1ULL << 40) / lg->sectorsize ||
	    e->off + lg->sectorsize + data_bytes > lg->size) {
		fprintf(stderr, "logreplay: entry %" PRIu64 ": %" PRIu64 " sectors do not fit in the log\n",
			lg->next_index, e->nr_sectors);
		return -1;
	}
	lg->next_off += lg->sectorsize + data_bytes;
	lg->next_index++;
	return 0;
}

static void flag_string(uint64_t flags, char *out, size_t len)
{
	static const struct {
		uint64_t bit;
		const char *name;
	} names[] = {
		{ LW_FLUSH, "FLUSH" }, { LW_FUA, "FUA" }, { LW_DISCARD, "DISCARD" },
		{ LW_MARK, "MARK" }, { LW_META, "META" },
	};
	size_t n = 0;

	out[0] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (flags & names[i].bit)
			n += snprintf(out + n, len - n, "%s%s", n ? "," : "",
				      names[i].name);
	if (!n)
		snprintf(out, len, "-");
}

static int cmd_list(const char *path)
{
	struct log lg;
	struct entry e;
	uint32_t unit;
	char flags[64];
	int r;

	if (log_open(&lg, path))
		return 1;
	unit = lg.sectorsize / 512;
	printf("entries %" PRIu64 " sectorsize %u\n", lg.nr_entries,
	       lg.sectorsize);
	for (uint64_t i = 0; (r = log_next(&lg, &e)) == 0; i++) {
		flag_string(e.flags, flags, sizeof(flags));
		printf("%" PRIu64 " %s %" PRIu64 " %" PRIu64 "%s%s\n", i, flags,
		       e.sector * unit, e.nr_sectors * unit,
		       e.mark[0] ? " " : "", e.mark);
	}
	close(lg.fd);
	return r < 0;
}

struct replay_opts {
	uint64_t from, to, then;
	bool have_to;
	const char *to_mark;
	uint64_t *only;
	size_t nonly;
	uint64_t drop_start, drop_len;	/* 512-byte sectors */
};

static bool in_only(const struct replay_opts *o, uint64_t i)
{
	for (size_t k = 0; k < o->nonly; k++)
		if (o->only[k] == i)
			return true;
	return false;
}

/* Write entry @e (index @i) of @lg to @dev. */
static int apply(struct log *lg, const struct entry *e, uint64_t i, int dev,
		 const struct replay_opts *o, uint64_t *nwrites,
		 uint64_t *bytes)
{
	uint64_t len = e->nr_sectors * lg->sectorsize;
	uint64_t s512 = e->sector * (lg->sectorsize / 512);
	uint64_t n512 = len / 512;
	char *buf;

	if ((e->flags & LW_MARK) || !len)
		return 0;
	if (o->drop_len && s512 < o->drop_start + o->drop_len &&
	    o->drop_start < s512 + n512)
		return 0;
	buf = calloc(1, len);
	if (!buf) {
		fprintf(stderr, "logreplay: out of memory\n");
		return -1;
	}
	if (!(e->flags & LW_DISCARD) &&
	    full_pread(lg->fd, buf, len, e->off + lg->sectorsize)) {
		fprintf(stderr, "logreplay: entry %" PRIu64 ": cannot read its data\n",
			i);
		free(buf);
		return -1;
	}
	if (full_pwrite(dev, buf, len, e->sector * lg->sectorsize)) {
		fprintf(stderr, "logreplay: entry %" PRIu64 ": writing %" PRIu64 " bytes at sector %" PRIu64 ": %s\n",
			i, len, s512, strerror(errno));
		free(buf);
		return -1;
	}
	free(buf);
	(*nwrites)++;
	*bytes += len;
	return 0;
}

static int cmd_replay(const char *logpath, const char *devpath,
		      const struct replay_opts *o)
{
	uint64_t nwrites = 0, bytes = 0, i, last = 0, extra = 0;
	bool done = false, reached = false;
	struct log lg;
	struct entry e;
	int dev, r = 0;

	if (log_open(&lg, logpath))
		return 1;
	dev = open(devpath, O_WRONLY | O_CLOEXEC);
	if (dev < 0) {
		fprintf(stderr, "logreplay: open %s: %s\n", devpath,
			strerror(errno));
		close(lg.fd);
		return 1;
	}
	for (i = 0; !done && (r = log_next(&lg, &e)) == 0; i++) {
		if (o->nonly) {
			if (in_only(o, i))
				r = apply(&lg, &e, i, dev, o, &nwrites, &bytes);
			last = i;
		} else if (!reached) {
			if (i >= o->from)
				r = apply(&lg, &e, i, dev, o, &nwrites, &bytes);
			last = i;
			if ((o->have_to && i >= o->to) ||
			    (o->to_mark && (e.flags & LW_MARK) &&
			     !strcmp(e.mark, o->to_mark))) {
				reached = true;
				done = !o->then;
			}
		} else {
			if (e.flags & (LW_FLUSH | LW_FUA)) {
				done = true;
				break;
			}
			if (e.flags & LW_MARK)
				continue;
			r = apply(&lg, &e, i, dev, o, &nwrites, &bytes);
			last = i;
			done = ++extra >= o->then;
		}
		if (r)
			break;
	}
	if (r >= 0 && !o->nonly && !reached) {
		fprintf(stderr, "logreplay: the log (%" PRIu64 " entries) ends before the end point\n",
			lg.nr_entries);
		r = -1;
	}
	r = r < 0 ? -1 : 0;
	if (!r && fsync(dev)) {
		fprintf(stderr, "logreplay: fsync %s: %s\n", devpath,
			strerror(errno));
		r = -1;
	}
	if (!r)
		printf("replayed to entry %" PRIu64 " (%" PRIu64 " more): %" PRIu64 " writes, %" PRIu64 " bytes\n",
		       last, extra, nwrites, bytes);
	close(dev);
	close(lg.fd);
	return r ? 1 : 0;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 10);
	return !errno && end != s && !*end && s[0] != '-';
}

static bool parse_only(const char *s, struct replay_opts *o)
{
	char *copy = strdup(s), *tok, *save = NULL;
	bool ok = copy != NULL;

	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; ok && tok;
	     tok = strtok_r(NULL, ",", &save)) {
		uint64_t *p = realloc(o->only, (o->nonly + 1) * sizeof(*p));

		if (!p) {
			ok = false;
			break;
		}
		o->only = p;
		ok = parse_u64(tok, &o->only[o->nonly++]);
	}
	free(copy);
	return ok && o->nonly;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: dl_logreplay list LOG\n"
		"       dl_logreplay replay LOG DEV [--from A] (--to N | --to-mark NAME) [--then K] [--drop START+LEN]\n"
		"       dl_logreplay replay LOG DEV --only I,J,... [--drop START+LEN]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct replay_opts o = { 0 };
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "list"))
		return cmd_list(argv[2]);
	if (argc < 4 || strcmp(argv[1], "replay"))
		return usage();
	for (int i = 4; i < argc; i += 2) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = val != NULL;

		if (ok && !strcmp(opt, "--from")) {
			ok = parse_u64(val, &o.from);
		} else if (ok && !strcmp(opt, "--to")) {
			ok = parse_u64(val, &o.to);
			o.have_to = true;
		} else if (ok && !strcmp(opt, "--to-mark")) {
			o.to_mark = val;
		} else if (ok && !strcmp(opt, "--then")) {
			ok = parse_u64(val, &o.then);
		} else if (ok && !strcmp(opt, "--only")) {
			ok = parse_only(val, &o);
		} else if (ok && !strcmp(opt, "--drop")) {
			ok = sscanf(val, "%" SCNu64 "+%" SCNu64, &o.drop_start,
				    &o.drop_len) == 2;
		} else {
			ok = false;
		}
		if (!ok) {
			free(o.only);
			return usage();
		}
	}
	if (!o.nonly && o.have_to == !!o.to_mark) {
		free(o.only);
		return usage();
	}
	r = cmd_replay(argv[2], argv[3], &o);
	free(o.only);
	return r;
}
