// SPDX-License-Identifier: GPL-2.0-only
/*
 * A streaming qcow2 v3 writer (format and layout in dl-qcow2.h).
 *
 * The calls of an export are kept as runs: a run is a stretch of guest
 * clusters that are either data stored in consecutive host clusters, or
 * zeroes.  dl_qcow2_finish() walks the runs once to write the L2 tables,
 * then generates the L1 table and the refcount structures a cluster at a
 * time.  All qcow2 integers are big-endian and are packed byte by byte.
 */
#include "dl-qcow2.h"
#include "dl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define QCOW2_MAGIC		0x514649fbU	/* "QFI\xfb" */
#define QCOW2_VERSION		3
#define QCOW2_HEADER_LEN	104
#define QCOW2_REFCOUNT_ORDER	4		/* 16-bit refcounts */
#define QCOW2_EXT_END		0x00000000U
#define QCOW2_EXT_BACKING_FMT	0xe2792acaU
#define QCOW2_EXT_FEATURES	0x6803f857U
#define QCOW2_FEATURE_ENTRY	48
#define QCOW2_OFLAG_COPIED	(1ULL << 63)	/* refcount exactly one */
#define QCOW2_OFLAG_ZERO	1ULL		/* reads as zeroes */
/* Host offsets in L1/L2 entries have bits 9-55. */
#define QCOW2_MAX_HOST		(1ULL << 56)

/* What cluster 0 holds until the header replaces it. */
#define UNFINISHED_MARKER	"dm-dirtylog qcow2 export, unfinished\n"

/* The names QEMU prints for feature bits it does not know. */
static const struct {
	uint8_t type;		/* 0 incompatible, 1 compatible, 2 autoclear */
	uint8_t bit;
	const char *name;
} feature_names[] = {
	{ 0, 0, "dirty bit" },
	{ 0, 1, "corrupt bit" },
	{ 0, 2, "external data file" },
	{ 0, 3, "compression type" },
	{ 0, 4, "extended L2 entries" },
	{ 1, 0, "lazy refcounts" },
	{ 2, 0, "bitmaps" },
	{ 2, 1, "raw external data" },
};

#define NR_FEATURES	(sizeof(feature_names) / sizeof(feature_names[0]))

/*
 * Guest clusters [guest, guest + count): zeroes when host is 0 (cluster 0
 * is the header, never data), else data in host clusters [host, host +
 * count).
 */
struct run {
	uint64_t guest;
	uint64_t count;
	uint64_t host;
};

struct dl_qcow2 {
	int fd;
	uint64_t size;			/* virtual size, bytes */
	uint32_t cs;			/* cluster size */
	uint32_t cluster_bits;
	uint32_t l2_entries;		/* entries per L2 table (cs / 8) */
	uint64_t l1_entries;
	char *backing;			/* NULL: none */
	char *backing_fmt;		/* NULL: none */
	bool feature_table;		/* the feature name table fits */

	struct run *runs;
	size_t nr_runs, cap_runs;
	uint64_t pos;			/* guest byte where the next call may start */
	uint64_t last_off;		/* start of the last call */
	bool called;			/* a write or zero was accepted */
	uint64_t next_host;		/* next free host cluster */

	bool finished;
	int failed;			/* -errno of a failed write, or 0 */
	char msg[DL_QCOW2_ERR_LEN];
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

#define QERR(q, fmt, ...) dl_seterr((q)->msg, sizeof((q)->msg), fmt, ##__VA_ARGS__)

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

/* Write @len zero bytes at @off. */
static int pwrite_zeroes(int fd, uint64_t len, uint64_t off)
{
	static const uint8_t zeroes[4096];

	while (len) {
		size_t n = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
		int ret = dl_pwrite_full(fd, zeroes, n, off);

		if (ret)
			return ret;
		len -= n;
		off += n;
	}
	return 0;
}

/* A failed I/O: remember it, so that every later call reports it. */
static int fail(struct dl_qcow2 *q, int ret, const char *what, uint64_t off)
{
	QERR(q, "cannot %s at image offset %" PRIu64 ": %s", what, off,
	     strerror(-ret));
	q->failed = ret;
	return ret;
}

/* The bytes the header, its extensions and the backing name take. */
static size_t header_bytes(size_t fmt_len, size_t backing_len, bool features)
{
	size_t n = QCOW2_HEADER_LEN;

	if (fmt_len)
		n += 8 + round8(fmt_len);
	if (features)
		n += 8 + round8(NR_FEATURES * QCOW2_FEATURE_ENTRY);
	return n + 8 + backing_len;	/* end marker, then the name */
}

/* ------------------------------------------------------------------ */
/* Create                                                              */
/* ------------------------------------------------------------------ */

static int check_fd(int fd, char *err, size_t errlen)
{
	struct stat st;
	int fl;

	if (fstat(fd, &st) < 0) {
		int e = errno;

		dl_seterr(err, errlen, "cannot stat the output: %s", strerror(e));
		return -e;
	}
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || S_ISCHR(st.st_mode)) {
		dl_seterr(err, errlen,
		       "the output is a %s: a qcow2 image needs a seekable file (a regular file or a block device)",
		       S_ISFIFO(st.st_mode) ? "pipe" :
		       S_ISSOCK(st.st_mode) ? "socket" : "character device");
		return -ESPIPE;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		dl_seterr(err, errlen,
		       "the output is neither a regular file nor a block device");
		return -EINVAL;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0) {
		int e = errno;

		dl_seterr(err, errlen, "cannot get the output's flags: %s", strerror(e));
		return -e;
	}
	if ((fl & O_ACCMODE) == O_RDONLY) {
		dl_seterr(err, errlen, "the output is not open for writing");
		return -EBADF;
	}
	if (fl & O_APPEND) {
		dl_seterr(err, errlen,
		       "the output is open with O_APPEND: positioned writes would land at its end");
		return -EINVAL;
	}
	if (S_ISREG(st.st_mode) && ftruncate(fd, 0) < 0) {
		int e = errno;

		dl_seterr(err, errlen, "cannot truncate the output: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int check_geometry(uint64_t size, uint32_t cs, char *err, size_t errlen)
{
	uint64_t l1;

	if (cs < DL_QCOW2_MIN_CLUSTER || cs > DL_QCOW2_MAX_CLUSTER ||
	    (cs & (cs - 1))) {
		dl_seterr(err, errlen,
		       "invalid cluster size %" PRIu32 ": must be a power of two from 512 to 2097152",
		       cs);
		return -EINVAL;
	}
	if (!size || size % 512) {
		dl_seterr(err, errlen,
		       "invalid size %" PRIu64 ": must be a positive multiple of 512 bytes",
		       size);
		return -EINVAL;
	}
	/* Entries of L1 = guest clusters / entries per L2, rounded up. */
	l1 = dl_div_round_up(dl_div_round_up(size, cs), cs / 8);
	if (l1 > DL_QCOW2_MAX_L1_BYTES / 8) {
		dl_seterr(err, errlen,
		       "size %" PRIu64 " needs an L1 table of %" PRIu64
		       " bytes with %" PRIu32 "-byte clusters; QEMU allows %llu: use larger clusters",
		       size, l1 * 8, cs, DL_QCOW2_MAX_L1_BYTES);
		return -EFBIG;
	}
	return 0;
}

struct dl_qcow2 *dl_qcow2_create(int fd, uint64_t size, uint32_t cluster_size,
				 const char *backing_file,
				 const char *backing_format,
				 char *err, size_t errlen)
{
	struct dl_qcow2 *q;
	size_t blen = backing_file ? strlen(backing_file) : 0;
	size_t flen = backing_format ? strlen(backing_format) : 0;
	int ret;

	dl_seterr(err, errlen, "%s", "");
	ret = check_geometry(size, cluster_size, err, errlen);
	if (ret)
		goto out_errno;
	if (backing_format && strcmp(backing_format, "qcow2") &&
	    strcmp(backing_format, "raw")) {
		dl_seterr(err, errlen, "invalid backing format '%s': must be qcow2 or raw",
		       backing_format);
		ret = -EINVAL;
		goto out_errno;
	}
	if (backing_format && !backing_file) {
		dl_seterr(err, errlen, "a backing format without a backing file");
		ret = -EINVAL;
		goto out_errno;
	}
	if (backing_file && !blen) {
		dl_seterr(err, errlen, "empty backing file name");
		ret = -EINVAL;
		goto out_errno;
	}
	if (blen > DL_QCOW2_MAX_BACKING) {
		dl_seterr(err, errlen, "backing file name of %zu bytes: qcow2 allows %u",
		       blen, DL_QCOW2_MAX_BACKING);
		ret = -ENAMETOOLONG;
		goto out_errno;
	}
	if (header_bytes(flen, blen, false) > cluster_size) {
		dl_seterr(err, errlen,
		       "backing file name of %zu bytes does not fit in a header cluster of %" PRIu32 " bytes",
		       blen, cluster_size);
		ret = -ENAMETOOLONG;
		goto out_errno;
	}
	ret = check_fd(fd, err, errlen);
	if (ret)
		goto out_errno;

	q = calloc(1, sizeof(*q));
	if (!q)
		goto out_nomem;
	q->fd = fd;
	q->size = size;
	q->cs = cluster_size;
	q->cluster_bits = (uint32_t)__builtin_ctz(cluster_size);
	q->l2_entries = cluster_size / 8;
	q->l1_entries = dl_div_round_up(dl_div_round_up(size, cluster_size),
				     q->l2_entries);
	q->feature_table = header_bytes(flen, blen, true) <= cluster_size;
	q->next_host = 1;
	if (backing_file) {
		q->backing = strdup(backing_file);
		if (!q->backing)
			goto out_free;
	}
	if (backing_format) {
		q->backing_fmt = strdup(backing_format);
		if (!q->backing_fmt)
			goto out_free;
	}

	/* Cluster 0: a marker now, the header at the very end. */
	ret = dl_pwrite_full(fd, UNFINISHED_MARKER, strlen(UNFINISHED_MARKER), 0);
	if (!ret)
		ret = pwrite_zeroes(fd, cluster_size - strlen(UNFINISHED_MARKER),
				    strlen(UNFINISHED_MARKER));
	if (ret) {
		dl_seterr(err, errlen, "cannot write the first cluster: %s",
		       strerror(-ret));
		dl_qcow2_free(q);
		goto out_errno;
	}
	return q;

out_free:
	dl_qcow2_free(q);
out_nomem:
	dl_seterr(err, errlen, "out of memory");
	ret = -ENOMEM;
out_errno:
	errno = -ret;
	return NULL;
}

void dl_qcow2_free(struct dl_qcow2 *q)
{
	if (!q)
		return;
	free(q->runs);
	free(q->backing);
	free(q->backing_fmt);
	free(q);
}

const char *dl_qcow2_error(const struct dl_qcow2 *q)
{
	return q->msg;
}

uint64_t dl_qcow2_image_size(const struct dl_qcow2 *q)
{
	return q->next_host * q->cs;
}

/* ------------------------------------------------------------------ */
/* Extents                                                             */
/* ------------------------------------------------------------------ */

/* Check a call's range; 0 or -errno with the message set. */
static int check_range(struct dl_qcow2 *q, const char *op, uint64_t off,
		       uint64_t len)
{
	if (q->failed) {
		/* The message of the failure stays. */
		return q->failed;
	}
	if (q->finished) {
		QERR(q, "%s after finish", op);
		return -EINVAL;
	}
	if (!len) {
		QERR(q, "%s of an empty range at %" PRIu64, op, off);
		return -EINVAL;
	}
	if (off >= q->size || len > q->size - off) {
		QERR(q, "%s of %" PRIu64 "+%" PRIu64 " past the end of the %" PRIu64 "-byte device",
		     op, off, len, q->size);
		return -ERANGE;
	}
	if (off % q->cs) {
		QERR(q, "%s at %" PRIu64 ": not a multiple of the cluster size %" PRIu32,
		     op, off, q->cs);
		return -EINVAL;
	}
	if (len % q->cs && off + len != q->size) {
		QERR(q, "%s of %" PRIu64 " bytes at %" PRIu64
		     ": not a multiple of the cluster size %" PRIu32 " and not ending at the device's end",
		     op, len, off, q->cs);
		return -EINVAL;
	}
	if (q->called && off < q->last_off) {
		QERR(q, "%s at %" PRIu64 " after one at %" PRIu64 ": ranges must come in ascending order",
		     op, off, q->last_off);
		return -EINVAL;
	}
	if (off < q->pos) {
		QERR(q, "%s at %" PRIu64 " overlaps the previous range, which ends at %" PRIu64,
		     op, off, q->pos);
		return -EINVAL;
	}
	return 0;
}

/* Make room for one more run, so that add_run() cannot fail after I/O. */
static int reserve_run(struct dl_qcow2 *q)
{
	struct run *n;
	size_t cap;

	if (q->nr_runs < q->cap_runs)
		return 0;
	cap = q->cap_runs ? 2 * q->cap_runs : 64;
	n = realloc(q->runs, cap * sizeof(*n));
	if (!n) {
		QERR(q, "out of memory for %zu extents", cap);
		return -ENOMEM;
	}
	q->runs = n;
	q->cap_runs = cap;
	return 0;
}

/*
 * Record guest clusters [@guest, @guest + @count) as zeroes (@host 0) or
 * data at @host: extend the last run when this continues it.
 */
static int add_run(struct dl_qcow2 *q, uint64_t guest, uint64_t count,
		   uint64_t host)
{
	struct run *r = q->nr_runs ? &q->runs[q->nr_runs - 1] : NULL;
	int ret;

	if (r && r->guest + r->count == guest &&
	    ((!host && !r->host) || (host && r->host && r->host + r->count == host))) {
		r->count += count;
		return 0;
	}
	ret = reserve_run(q);
	if (ret)
		return ret;
	q->runs[q->nr_runs++] = (struct run){ guest, count, host };
	return 0;
}

int dl_qcow2_write(struct dl_qcow2 *q, uint64_t off, uint64_t len,
		   const void *buf)
{
	uint64_t clusters, host_off, pad;
	int ret;

	ret = check_range(q, "write", off, len);
	if (ret)
		return ret;
	if (!buf) {
		QERR(q, "write of %" PRIu64 "+%" PRIu64 " without a buffer", off, len);
		return -EINVAL;
	}
	if (len > SIZE_MAX) {
		QERR(q, "write of %" PRIu64 " bytes: too large for one call", len);
		return -EINVAL;
	}
	clusters = dl_div_round_up(len, q->cs);
	/* Leave the metadata room below the limit as well; checked again at finish. */
	if (q->next_host + clusters > QCOW2_MAX_HOST / q->cs) {
		QERR(q, "write at %" PRIu64 ": the image would pass QEMU's 64 PiB host offset limit",
		     off);
		return -EFBIG;
	}
	ret = reserve_run(q);
	if (ret)
		return ret;

	host_off = q->next_host * q->cs;
	ret = dl_pwrite_full(q->fd, buf, (size_t)len, host_off);
	if (ret)
		return fail(q, ret, "write data", host_off);
	pad = clusters * q->cs - len;
	if (pad) {
		ret = pwrite_zeroes(q->fd, pad, host_off + len);
		if (ret)
			return fail(q, ret, "pad the last cluster", host_off + len);
	}
	ret = add_run(q, off / q->cs, clusters, q->next_host);
	if (ret)	/* cannot happen after reserve_run() */
		return ret;
	q->next_host += clusters;
	q->called = true;
	q->last_off = off;
	q->pos = off + len;
	return 0;
}

int dl_qcow2_zero(struct dl_qcow2 *q, uint64_t off, uint64_t len)
{
	int ret;

	ret = check_range(q, "zero", off, len);
	if (ret)
		return ret;
	/* Without a backing file, unallocated clusters read as zeroes. */
	if (q->backing) {
		ret = add_run(q, off / q->cs, dl_div_round_up(len, q->cs), 0);
		if (ret)
			return ret;
	}
	q->called = true;
	q->last_off = off;
	q->pos = off + len;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Finish                                                              */
/* ------------------------------------------------------------------ */

/* Number of distinct L2 tables the runs touch. */
static uint64_t count_l2(const struct dl_qcow2 *q)
{
	uint64_t n = 0, prev = UINT64_MAX;

	for (size_t i = 0; i < q->nr_runs; i++) {
		uint64_t first = q->runs[i].guest / q->l2_entries;
		uint64_t last = (q->runs[i].guest + q->runs[i].count - 1) /
				q->l2_entries;

		n += last - first + 1 - (first == prev);
		prev = last;
	}
	return n;
}

/*
 * Write the L2 tables from host cluster @start on, in ascending guest
 * order, and note in @l2idx the L1 index of each.
 */
static int write_l2(struct dl_qcow2 *q, uint8_t *buf, uint64_t start,
		    uint64_t *l2idx)
{
	uint64_t k = 0, done = 0;
	size_t i = 0;

	while (i < q->nr_runs) {
		uint64_t idx = (q->runs[i].guest + done) / q->l2_entries;
		uint64_t lim = (idx + 1) * q->l2_entries;
		int ret;

		memset(buf, 0, q->cs);
		while (i < q->nr_runs) {
			const struct run *r = &q->runs[i];
			uint64_t g = r->guest + done, n;

			if (g >= lim)
				break;
			n = r->count - done;
			if (n > lim - g)
				n = lim - g;
			for (uint64_t j = 0; j < n; j++) {
				uint64_t e = r->host ?
					(r->host + done + j) * q->cs | QCOW2_OFLAG_COPIED :
					QCOW2_OFLAG_ZERO;

				dl_put_be64(buf + ((g + j) % q->l2_entries) * 8, e);
			}
			done += n;
			if (done == r->count) {
				i++;
				done = 0;
			}
		}
		ret = dl_pwrite_full(q->fd, buf, q->cs, (start + k) * q->cs);
		if (ret)
			return fail(q, ret, "write an L2 table", (start + k) * q->cs);
		l2idx[k++] = idx;
	}
	return 0;
}

/* The L1 table: @nl2 tables with L1 indices @l2idx, stored from @l2start. */
static int write_l1(struct dl_qcow2 *q, uint8_t *buf, uint64_t start,
		    uint64_t nclusters, const uint64_t *l2idx, uint64_t nl2,
		    uint64_t l2start)
{
	uint64_t per = q->cs / 8, k = 0;

	for (uint64_t c = 0; c < nclusters; c++) {
		int ret;

		memset(buf, 0, q->cs);
		for (; k < nl2 && l2idx[k] / per == c; k++)
			dl_put_be64(buf + (l2idx[k] % per) * 8,
				 (l2start + k) * q->cs | QCOW2_OFLAG_COPIED);
		ret = dl_pwrite_full(q->fd, buf, q->cs, (start + c) * q->cs);
		if (ret)
			return fail(q, ret, "write the L1 table", (start + c) * q->cs);
	}
	return 0;
}

/*
 * The refcount table (@nt clusters from @rt) pointing at @nb blocks from
 * @rb, which give every host cluster below @total a refcount of 1.
 */
static int write_refcounts(struct dl_qcow2 *q, uint8_t *buf, uint64_t rt,
			   uint64_t nt, uint64_t rb, uint64_t nb, uint64_t total)
{
	uint64_t per_table = q->cs / 8, per_block = q->cs / 2;
	int ret;

	for (uint64_t c = 0; c < nt; c++) {
		memset(buf, 0, q->cs);
		for (uint64_t j = 0; j < per_table && c * per_table + j < nb; j++)
			dl_put_be64(buf + j * 8, (rb + c * per_table + j) * q->cs);
		ret = dl_pwrite_full(q->fd, buf, q->cs, (rt + c) * q->cs);
		if (ret)
			return fail(q, ret, "write the refcount table", (rt + c) * q->cs);
	}
	for (uint64_t b = 0; b < nb; b++) {
		memset(buf, 0, q->cs);
		for (uint64_t j = 0; j < per_block && b * per_block + j < total; j++)
			dl_put_be16(buf + j * 2, 1);
		ret = dl_pwrite_full(q->fd, buf, q->cs, (rb + b) * q->cs);
		if (ret)
			return fail(q, ret, "write a refcount block", (rb + b) * q->cs);
	}
	return 0;
}

/* The header cluster, with its extensions and the backing file name. */
static void build_header(const struct dl_qcow2 *q, uint8_t *buf,
			 uint64_t l1_off, uint64_t rt_off, uint64_t nt)
{
	size_t p = QCOW2_HEADER_LEN;

	memset(buf, 0, q->cs);
	dl_put_be32(buf + 0, QCOW2_MAGIC);
	dl_put_be32(buf + 4, QCOW2_VERSION);
	/* 8: backing_file_offset, 16: backing_file_size, below */
	dl_put_be32(buf + 20, q->cluster_bits);
	dl_put_be64(buf + 24, q->size);
	dl_put_be32(buf + 32, 0);				/* crypt_method */
	dl_put_be32(buf + 36, (uint32_t)q->l1_entries);
	dl_put_be64(buf + 40, l1_off);
	dl_put_be64(buf + 48, rt_off);
	dl_put_be32(buf + 56, (uint32_t)nt);
	dl_put_be32(buf + 60, 0);				/* nb_snapshots */
	dl_put_be64(buf + 64, 0);				/* snapshots_offset */
	dl_put_be64(buf + 72, 0);				/* incompatible: none */
	dl_put_be64(buf + 80, 0);				/* compatible */
	dl_put_be64(buf + 88, 0);				/* autoclear */
	dl_put_be32(buf + 96, QCOW2_REFCOUNT_ORDER);
	dl_put_be32(buf + 100, QCOW2_HEADER_LEN);

	if (q->backing_fmt) {
		size_t n = strlen(q->backing_fmt);

		dl_put_be32(buf + p, QCOW2_EXT_BACKING_FMT);
		dl_put_be32(buf + p + 4, (uint32_t)n);
		memcpy(buf + p + 8, q->backing_fmt, n);
		p += 8 + round8(n);
	}
	if (q->feature_table) {
		dl_put_be32(buf + p, QCOW2_EXT_FEATURES);
		dl_put_be32(buf + p + 4, NR_FEATURES * QCOW2_FEATURE_ENTRY);
		p += 8;
		for (size_t i = 0; i < NR_FEATURES; i++) {
			buf[p] = feature_names[i].type;
			buf[p + 1] = feature_names[i].bit;
			memcpy(buf + p + 2, feature_names[i].name,
			       strlen(feature_names[i].name));
			p += QCOW2_FEATURE_ENTRY;
		}
		p = round8(p);
	}
	dl_put_be32(buf + p, QCOW2_EXT_END);
	dl_put_be32(buf + p + 4, 0);
	p += 8;
	if (q->backing) {
		size_t n = strlen(q->backing);

		dl_put_be64(buf + 8, p);
		dl_put_be32(buf + 16, (uint32_t)n);
		memcpy(buf + p, q->backing, n);
	}
}

int dl_qcow2_finish(struct dl_qcow2 *q)
{
	uint64_t nl2, l2start, l1start, l1c, ndata, nt = 0, nb = 0, total;
	uint64_t *l2idx = NULL;
	uint8_t *buf = NULL;
	int ret;

	if (q->failed)
		return q->failed;
	if (q->finished) {
		QERR(q, "finish called twice");
		return -EINVAL;
	}

	nl2 = count_l2(q);
	l2start = q->next_host;
	l1start = l2start + nl2;
	l1c = dl_div_round_up(q->l1_entries * 8, q->cs);
	ndata = l1start + l1c;
	/*
	 * The refcount blocks count themselves and the table: grow both
	 * until they cover every cluster, the smallest fixed point.
	 */
	for (;;) {
		uint64_t b = dl_div_round_up(ndata + nt + nb, q->cs / 2);
		uint64_t t = dl_div_round_up(b * 8, q->cs);

		if (b == nb && t == nt)
			break;
		nb = b;
		nt = t;
	}
	total = ndata + nt + nb;
	if (total > QCOW2_MAX_HOST / q->cs) {
		QERR(q, "the image would pass QEMU's 64 PiB host offset limit");
		return -EFBIG;
	}

	buf = malloc(q->cs);
	l2idx = malloc((nl2 ? nl2 : 1) * sizeof(*l2idx));
	if (!buf || !l2idx) {
		QERR(q, "out of memory for %" PRIu64 " L2 tables", nl2);
		ret = -ENOMEM;
		goto out;
	}

	ret = write_l2(q, buf, l2start, l2idx);
	if (!ret)
		ret = write_l1(q, buf, l1start, l1c, l2idx, nl2, l2start);
	if (!ret)
		ret = write_refcounts(q, buf, ndata, nt, ndata + nt, nb, total);
	if (ret)
		goto out;
	/* Everything the header points to is durable before the header. */
	if (fsync(q->fd) < 0) {
		ret = fail(q, -errno, "sync the metadata", 0);
		goto out;
	}
	build_header(q, buf, l1start * q->cs, ndata * q->cs, nt);
	ret = dl_pwrite_full(q->fd, buf, q->cs, 0);
	if (ret) {
		fail(q, ret, "write the header", 0);
		goto out;
	}
	if (fsync(q->fd) < 0) {
		ret = fail(q, -errno, "sync the header", 0);
		goto out;
	}
	q->next_host = total;
	q->finished = true;
out:
	free(buf);
	free(l2idx);
	return ret;
}
