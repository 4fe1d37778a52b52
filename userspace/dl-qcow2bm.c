// SPDX-License-Identifier: GPL-2.0-only
/*
 * The qcow2 bitmap sidecar (format and layout in dl-qcow2bm.h).
 *
 * Everything is sized first (the number of stored bitmap clusters needs a
 * pass over the extents; the refcount structures count themselves, so
 * their size is found by iterating to a fixed point), then written in
 * file order a cluster at a time, the header last.
 */
#include "dl-qcow2bm.h"
#include "dl-util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QCOW2_MAGIC		0x514649fbU
#define QCOW2_HEADER_LEN	104
#define QCOW2_EXT_BITMAPS	0x23852875U
#define QCOW2_EXT_DATA_FILE	0x44415441U
#define QCOW2_INCOMPAT_DATA_FILE (1ULL << 2)
#define QCOW2_AUTOCLEAR_BITMAPS	(1ULL << 0)
#define QCOW2_AUTOCLEAR_RAW	(1ULL << 1)
#define QCOW2_OFLAG_COPIED	(1ULL << 63)
#define QCOW2_MAX_L1_BYTES	(32ULL << 20)
#define BITMAP_TYPE_DIRTY	1
#define BITMAP_DIR_ENTRY_LEN	24
/* Bitmap table entries of clusters that are not stored. */
#define BT_ALL_ZEROES		0ULL
#define BT_ALL_ONES		1ULL

enum bm_kind { BM_ZEROES, BM_ONES, BM_MIXED };

struct layout {
	uint32_t cs;
	uint32_t cluster_bits;
	uint64_t guest_clusters;
	uint64_t l2_tables;		/* = L1 entries */
	uint64_t l1_clusters;
	uint64_t bits;			/* bitmap bits (granules) */
	uint64_t bm_clusters;		/* bitmap data clusters, stored or not */
	uint64_t bm_stored;
	uint64_t bt_clusters;
	uint64_t dir_len;		/* bytes of the bitmap directory */
	uint64_t rt_clusters;
	uint64_t rb_clusters;
	uint64_t total;			/* host clusters of the image */
	/* First cluster of each area. */
	uint64_t rt, rb, l1, l2, bm, bt, dir;
};

static size_t round8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static unsigned int log2u(uint64_t v)
{
	unsigned int b = 0;

	while ((1ULL << b) < v)
		b++;
	return b;
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/*
 * The kind of bitmap data cluster @c (bits [lo, hi)), walking the extents
 * from *@cur on (clusters are asked for in ascending order).
 */
static enum bm_kind classify(const struct dl_qcow2bm_opts *o,
			     const struct layout *l, uint64_t c, size_t *cur)
{
	uint64_t per = (uint64_t)l->cs * 8;
	uint64_t lo = c * per, hi = lo + per, set = 0;
	size_t i;

	if (hi > l->bits)
		hi = l->bits;
	while (*cur < o->nr_extents &&
	       o->extents[*cur].start + o->extents[*cur].count <= lo)
		(*cur)++;
	for (i = *cur; i < o->nr_extents && o->extents[i].start < hi; i++) {
		uint64_t s = o->extents[i].start, e = s + o->extents[i].count;

		set += (e < hi ? e : hi) - (s > lo ? s : lo);
	}
	if (!set)
		return BM_ZEROES;
	/* A partial last cluster's tail bits must stay zero: stored. */
	if (set == per)
		return BM_ONES;
	return BM_MIXED;
}

/* Set bits [from, to) of @buf (least significant bit first). */
static void set_bits(uint8_t *buf, uint64_t from, uint64_t to)
{
	while (from < to && (from & 7))
		buf[from / 8] |= (uint8_t)(1U << (from & 7)), from++;
	if (to - from >= 8) {
		memset(buf + from / 8, 0xff, (to - from) / 8);
		from += (to - from) & ~7ULL;
	}
	while (from < to)
		buf[from / 8] |= (uint8_t)(1U << (from & 7)), from++;
}

static int check_opts(const struct dl_qcow2bm_opts *o, uint32_t cs,
		      char *err, size_t errlen)
{
	uint64_t bits, prev_end = 0;
	size_t i, df;

	if (!o->size || o->size % 512)
		return dl_fail(err, errlen, EINVAL,
			       "virtual size %" PRIu64 " is not a positive multiple of 512",
			       o->size);
	if (!pow2(cs) || cs < 512 || cs > (2U << 20))
		return dl_fail(err, errlen, EINVAL,
			       "cluster size %u is not a power of two from 512 to 2 MiB", cs);
	df = o->data_file ? strlen(o->data_file) : 0;
	if (!df || df > DL_QCOW2BM_MAX_DATA_FILE)
		return dl_fail(err, errlen, EINVAL,
			       "the data file name must have 1 to %u bytes",
			       DL_QCOW2BM_MAX_DATA_FILE);
	/* Header, data file name, bitmaps extension, end: one cluster. */
	if (QCOW2_HEADER_LEN + 8 + round8(df) + 8 + 24 + 8 > cs)
		return dl_fail(err, errlen, EINVAL,
			       "the data file name does not fit in a %u-byte header cluster", cs);
	if (!o->bitmap)
		return 0;
	if (!*o->bitmap || strlen(o->bitmap) > DL_QCOW2BM_MAX_NAME)
		return dl_fail(err, errlen, EINVAL,
			       "a bitmap name must have 1 to %u bytes", DL_QCOW2BM_MAX_NAME);
	if (!pow2(o->granularity) || o->granularity < DL_QCOW2BM_MIN_GRAN ||
	    o->granularity > DL_QCOW2BM_MAX_GRAN)
		return dl_fail(err, errlen, EINVAL,
			       "granularity %u is not a power of two from 512 bytes to 2 GiB",
			       o->granularity);
	bits = dl_div_round_up(o->size, o->granularity);
	for (i = 0; i < o->nr_extents; i++) {
		const struct dl_qcow2bm_extent *e = &o->extents[i];

		if (!e->count || e->start < prev_end || e->start >= bits ||
		    e->count > bits - e->start)
			return dl_fail(err, errlen, EINVAL,
				       "extent %zu (%" PRIu64 "+%" PRIu64 ") is empty, out of order or past granule %" PRIu64,
				       i, e->start, e->count, bits);
		prev_end = e->start + e->count;
	}
	return 0;
}

static int plan(const struct dl_qcow2bm_opts *o, struct layout *l,
		char *err, size_t errlen)
{
	uint64_t per_rb, fixed, c;
	size_t cur = 0;

	l->cluster_bits = log2u(l->cs);
	l->guest_clusters = dl_div_round_up(o->size, l->cs);
	l->l2_tables = dl_div_round_up(l->guest_clusters, l->cs / 8);
	if (l->l2_tables * 8 > QCOW2_MAX_L1_BYTES)
		return dl_fail(err, errlen, EFBIG,
			       "the L1 table would pass QEMU's 32 MiB: use larger clusters");
	l->l1_clusters = dl_div_round_up(l->l2_tables * 8, l->cs);
	if (o->bitmap) {
		l->bits = dl_div_round_up(o->size, o->granularity);
		l->bm_clusters = dl_div_round_up(dl_div_round_up(l->bits, 8), l->cs);
		for (c = 0; c < l->bm_clusters; c++)
			if (classify(o, l, c, &cur) == BM_MIXED)
				l->bm_stored++;
		l->bt_clusters = dl_div_round_up(l->bm_clusters * 8, l->cs);
		l->dir_len = round8(BITMAP_DIR_ENTRY_LEN + strlen(o->bitmap));
	}
	fixed = 1 + l->l1_clusters + l->l2_tables + l->bm_stored +
		l->bt_clusters + dl_div_round_up(l->dir_len, l->cs);
	/* Refcount blocks and table count themselves: grow to a fixed point. */
	per_rb = l->cs / 2;
	l->rt_clusters = 1;
	l->rb_clusters = 1;
	for (;;) {
		uint64_t total = fixed + l->rt_clusters + l->rb_clusters;
		uint64_t rb = dl_div_round_up(total, per_rb);
		uint64_t rt = dl_div_round_up(rb * 8, l->cs);

		if (rb <= l->rb_clusters && rt <= l->rt_clusters) {
			l->total = total;
			break;
		}
		l->rb_clusters = rb > l->rb_clusters ? rb : l->rb_clusters;
		l->rt_clusters = rt > l->rt_clusters ? rt : l->rt_clusters;
	}
	l->rt = 1;
	l->rb = l->rt + l->rt_clusters;
	l->l1 = l->rb + l->rb_clusters;
	l->l2 = l->l1 + l->l1_clusters;
	l->bm = l->l2 + l->l2_tables;
	l->bt = l->bm + l->bm_stored;
	l->dir = l->bt + l->bt_clusters;
	return 0;
}

struct writer {
	int fd;
	uint32_t cs;
	uint8_t *buf;
	char *err;
	size_t errlen;
};

/* Write the buffer as host cluster @c, then clear it. */
static int put_cluster(struct writer *w, uint64_t c, const char *what)
{
	int ret = dl_pwrite_full(w->fd, w->buf, w->cs, c * w->cs);

	memset(w->buf, 0, w->cs);
	if (ret)
		return dl_fail(w->err, w->errlen, -ret,
			       "cannot write the %s at image offset %" PRIu64 ": %s",
			       what, c * w->cs, strerror(-ret));
	return 0;
}

/*
 * An array of @n big-endian u64 from @first on, entry i being @fn(i),
 * written into consecutive clusters from @c.
 */
static int put_u64s(struct writer *w, uint64_t c, uint64_t n,
		    uint64_t (*fn)(const struct layout *, uint64_t),
		    const struct layout *l, const char *what)
{
	uint64_t per = w->cs / 8, i;
	int ret;

	for (i = 0; i < n; i++) {
		dl_put_be64(w->buf + (i % per) * 8, fn(l, i));
		if (i % per == per - 1 || i == n - 1) {
			ret = put_cluster(w, c + i / per, what);
			if (ret)
				return ret;
		}
	}
	return 0;
}

static uint64_t rt_entry(const struct layout *l, uint64_t i)
{
	return (l->rb + i) * l->cs;
}

static uint64_t l1_entry(const struct layout *l, uint64_t i)
{
	return QCOW2_OFLAG_COPIED | (l->l2 + i) * l->cs;
}

/* Guest cluster i at the same offset of the raw data file. */
static uint64_t l2_entry(const struct layout *l, uint64_t i)
{
	if (i >= l->guest_clusters)
		return 0;
	return QCOW2_OFLAG_COPIED | i * l->cs;
}

static int put_refcounts(struct writer *w, const struct layout *l)
{
	uint64_t per = w->cs / 2, i;
	int ret;

	ret = put_u64s(w, l->rt, l->rb_clusters, rt_entry, l, "refcount table");
	if (ret)
		return ret;
	for (i = 0; i < l->rb_clusters * per; i++) {
		if (i < l->total)
			dl_put_be16(w->buf + (i % per) * 2, 1);
		if (i % per == per - 1) {
			ret = put_cluster(w, l->rb + i / per, "refcount block");
			if (ret)
				return ret;
		}
	}
	return 0;
}

/* Bitmap data clusters, then the bitmap table, then the directory. */
static int put_bitmap(struct writer *w, const struct dl_qcow2bm_opts *o,
		      const struct layout *l)
{
	uint64_t per = (uint64_t)w->cs * 8, stored = 0, c, entry;
	uint64_t *table;
	size_t cur = 0, look = 0, i;
	uint8_t *p;
	int ret;

	table = calloc(l->bm_clusters ? l->bm_clusters : 1, sizeof(*table));
	if (!table)
		return dl_fail(w->err, w->errlen, ENOMEM, "out of memory");
	for (c = 0; c < l->bm_clusters; c++) {
		uint64_t lo = c * per, hi = lo + per > l->bits ? l->bits : lo + per;

		switch (classify(o, l, c, &look)) {
		case BM_ZEROES:
			table[c] = BT_ALL_ZEROES;
			continue;
		case BM_ONES:
			table[c] = BT_ALL_ONES;
			continue;
		case BM_MIXED:
			break;
		}
		while (cur < o->nr_extents &&
		       o->extents[cur].start + o->extents[cur].count <= lo)
			cur++;
		for (i = cur; i < o->nr_extents && o->extents[i].start < hi; i++) {
			uint64_t s = o->extents[i].start, e = s + o->extents[i].count;

			set_bits(w->buf, (s > lo ? s : lo) - lo, (e < hi ? e : hi) - lo);
		}
		table[c] = (l->bm + stored) * w->cs;
		ret = put_cluster(w, l->bm + stored, "bitmap data");
		if (ret)
			goto out;
		stored++;
	}
	for (c = 0; c < l->bm_clusters; c++) {
		uint64_t epc = w->cs / 8;

		dl_put_be64(w->buf + (c % epc) * 8, table[c]);
		if (c % epc == epc - 1 || c == l->bm_clusters - 1) {
			ret = put_cluster(w, l->bt + c / epc, "bitmap table");
			if (ret)
				goto out;
		}
	}
	/* The directory: one entry, flags 0 (not in use, not auto). */
	p = w->buf;
	entry = l->bt * w->cs;
	dl_put_be64(p, entry);
	dl_put_be32(p + 8, (uint32_t)l->bm_clusters);
	dl_put_be32(p + 12, 0);
	p[16] = BITMAP_TYPE_DIRTY;
	p[17] = (uint8_t)log2u(o->granularity);
	dl_put_be16(p + 18, (uint16_t)strlen(o->bitmap));
	dl_put_be32(p + 20, 0);
	memcpy(p + BITMAP_DIR_ENTRY_LEN, o->bitmap, strlen(o->bitmap));
	ret = put_cluster(w, l->dir, "bitmap directory");
out:
	free(table);
	return ret;
}

static void build_header(uint8_t *h, const struct dl_qcow2bm_opts *o,
			 const struct layout *l)
{
	size_t df = strlen(o->data_file), off = QCOW2_HEADER_LEN;
	uint64_t autoclear = QCOW2_AUTOCLEAR_RAW;

	if (o->bitmap)
		autoclear |= QCOW2_AUTOCLEAR_BITMAPS;
	dl_put_be32(h, QCOW2_MAGIC);
	dl_put_be32(h + 4, 3);
	dl_put_be32(h + 20, l->cluster_bits);
	dl_put_be64(h + 24, o->size);
	dl_put_be32(h + 36, (uint32_t)l->l2_tables);
	dl_put_be64(h + 40, l->l1 * l->cs);
	dl_put_be64(h + 48, l->rt * l->cs);
	dl_put_be32(h + 56, (uint32_t)l->rt_clusters);
	dl_put_be64(h + 72, QCOW2_INCOMPAT_DATA_FILE);
	dl_put_be64(h + 88, autoclear);
	dl_put_be32(h + 96, 4);
	dl_put_be32(h + 100, QCOW2_HEADER_LEN);
	dl_put_be32(h + off, QCOW2_EXT_DATA_FILE);
	dl_put_be32(h + off + 4, (uint32_t)df);
	memcpy(h + off + 8, o->data_file, df);
	off += 8 + round8(df);
	if (o->bitmap) {
		dl_put_be32(h + off, QCOW2_EXT_BITMAPS);
		dl_put_be32(h + off + 4, 24);
		dl_put_be32(h + off + 8, 1);
		dl_put_be64(h + off + 16, l->dir_len);
		dl_put_be64(h + off + 24, l->dir * l->cs);
		off += 8 + 24;
	}
	/* The end marker: 8 zero bytes, already there. */
}

int dl_qcow2bm_write(int fd, const struct dl_qcow2bm_opts *o, char *err,
		     size_t errlen)
{
	struct layout l = { .cs = o->cluster_size ? o->cluster_size : 65536 };
	struct writer w = { .fd = fd, .cs = l.cs, .err = err, .errlen = errlen };
	uint64_t n;
	int ret;

	ret = check_opts(o, l.cs, err, errlen);
	if (ret)
		return ret;
	ret = plan(o, &l, err, errlen);
	if (ret)
		return ret;
	w.buf = calloc(1, l.cs);
	if (!w.buf)
		return dl_fail(err, errlen, ENOMEM, "out of memory");
	if (ftruncate(fd, 0) || ftruncate(fd, (off_t)(l.total * l.cs))) {
		ret = dl_fail(err, errlen, errno, "cannot size the image: %s",
			      strerror(errno));
		goto out;
	}
	n = l.l2_tables * (l.cs / 8);
	ret = put_refcounts(&w, &l);
	if (!ret)
		ret = put_u64s(&w, l.l1, l.l2_tables, l1_entry, &l, "L1 table");
	if (!ret)
		ret = put_u64s(&w, l.l2, n, l2_entry, &l, "L2 tables");
	if (!ret && o->bitmap)
		ret = put_bitmap(&w, o, &l);
	if (ret)
		goto out;
	if (fsync(fd)) {
		ret = dl_fail(err, errlen, errno, "cannot sync the image: %s",
			      strerror(errno));
		goto out;
	}
	/* The header last: until now cluster 0 is zeroes, no qcow2 image. */
	build_header(w.buf, o, &l);
	ret = put_cluster(&w, 0, "header");
	if (!ret && fsync(fd))
		ret = dl_fail(err, errlen, errno, "cannot sync the image: %s",
			      strerror(errno));
out:
	free(w.buf);
	return ret;
}
