// SPDX-License-Identifier: GPL-2.0-only
/*
 * Change tracking checked against an in-memory model.
 *
 * The model keeps one bitmap per checkpoint interval: interval 0 holds what
 * was written before the oldest checkpoint, interval i what was written
 * after checkpoint i was created and before checkpoint i+1 (or now, for the
 * newest one, the active interval).  As in
 * Documentation/admin-guide/device-mapper/dirtylog.rst:
 *
 *   dirty X      = OR of the intervals after X up to the active one
 *   dirty X Y    = OR of the intervals after X up to and excluding Y's
 *   delete X     = merge X's interval into the previous one, except for the
 *                  oldest: the interval before it is dropped instead (only
 *                  visible in the active count once no checkpoint is left)
 *   reset        = forget every checkpoint; ids may start again
 *
 * Every operation is sequential (each write has completed before the next
 * message), so the target's answers must equal the model exactly: no block
 * missing and none extra.  A random mix of direct writes, BLKZEROOUT,
 * BLKDISCARD, mark_dirty, checkpoint, delete_checkpoint and reset runs at
 * 4 KiB, 64 KiB and 1 MiB blocks; malformed messages must fail with the
 * right errno and change nothing; and the whole state must survive
 * suspend/resume, a table reload and remove + create over the same
 * metadata.  Seed printed; rerun with DL_SEED=<n>.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "dl-dm.h"

#define REGION		(64ull << 20)	/* bytes most random I/O stays in */
#define BIG_DISCARD	(100ull << 20)	/* one discard marking many blocks */
#define STEPS		300
#define CHECK_EVERY	10
#define MAX_CPS		12		/* checkpoints the random test keeps */
#define NAME_MAX_LEN	64
#define IO_BUF		(4u << 20)	/* > 3 blocks of the largest variant */
#define HISTORY		32		/* operations shown when a check fails */
#define SNAP_MAX	64

static const char data_dev[] = "/dev/vda";
static const char meta_dev[] = "/dev/vdb";
static const char name_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:+-";

/* ---- randomness ------------------------------------------------------ */

static uint64_t rnd64(void)
{
	return ((uint64_t)random() << 62) ^ ((uint64_t)random() << 31) ^
	       (uint64_t)random();
}

/* Uniform-enough value in [0, n); 0 when n is 0. */
static uint64_t rnd(uint64_t n)
{
	return n ? rnd64() % n : 0;
}

/* ---- bitmaps ----------------------------------------------------------- */

static void bm_set_range(uint64_t *bm, uint64_t first, uint64_t count)
{
	for (uint64_t b = first; b < first + count; b++) {
		if (b % 64 == 0 && first + count - b >= 64) {
			bm[b / 64] = ~0ull;
			b += 63;
			continue;
		}
		bm[b / 64] |= 1ull << (b % 64);
	}
}

static bool bm_test(const uint64_t *bm, uint64_t b)
{
	return bm[b / 64] >> (b % 64) & 1;
}

static uint64_t bm_count(const uint64_t *bm, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* First bit >= @from that is set (@set) or clear (!@set), or @nbits. */
static uint64_t bm_find(const uint64_t *bm, uint64_t nbits, uint64_t from,
			bool set)
{
	while (from < nbits) {
		uint64_t w = set ? bm[from / 64] : ~bm[from / 64];

		w &= ~0ull << (from % 64);
		if (w) {
			uint64_t r = (from & ~63ull) + (uint64_t)__builtin_ctzll(w);

			return r < nbits ? r : nbits;
		}
		from = (from & ~63ull) + 64;
	}
	return nbits;
}

/* ---- extents ----------------------------------------------------------- */

struct extent {
	uint64_t start, count;
};

struct extents {
	struct extent *e;
	size_t n, cap;
};

static int ext_push(struct extents *x, uint64_t start, uint64_t count)
{
	if (x->n == x->cap) {
		size_t cap = x->cap ? 2 * x->cap : 64;
		struct extent *e = realloc(x->e, cap * sizeof(*e));

		if (!e)
			return -1;
		x->e = e;
		x->cap = cap;
	}
	x->e[x->n].start = start;
	x->e[x->n].count = count;
	x->n++;
	return 0;
}

static uint64_t ext_blocks(const struct extents *x)
{
	uint64_t n = 0;

	for (size_t i = 0; i < x->n; i++)
		n += x->e[i].count;
	return n;
}

/* Maximal runs of set bits, ascending. */
static int bm_to_extents(const uint64_t *bm, uint64_t nbits, struct extents *x)
{
	uint64_t s = 0, e;

	x->n = 0;
	while ((s = bm_find(bm, nbits, s, true)) < nbits) {
		e = bm_find(bm, nbits, s, false);
		if (ext_push(x, s, e - s))
			return -1;
		s = e;
	}
	return 0;
}

static const char *parse_u64(const char *p, uint64_t *v)
{
	uint64_t r = 0;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		if (r > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return NULL;
		r = r * 10 + (uint64_t)(*p - '0');
	}
	*v = r;
	return p;
}

/*
 * Parse a "dirty" answer: lines "<start> <count>\n", ascending, maximal
 * (no two extents overlapping or touching), inside @nr_blocks.  Returns
 * false with the reason in @why.
 */
static bool parse_extents(const char *resp, uint64_t nr_blocks,
			  struct extents *x, char *why, size_t whylen)
{
	const char *p = resp;
	uint64_t start, count;
	size_t line = 0;

	x->n = 0;
	while (*p) {
		const char *l = p;

		line++;
		p = parse_u64(p, &start);
		if (p && *p == ' ')
			p = parse_u64(p + 1, &count);
		else
			p = NULL;
		if (!p || *p != '\n') {
			snprintf(why, whylen,
				 "line %zu is not '<start> <count>\\n': '%.40s'",
				 line, l);
			return false;
		}
		p++;
		if (count == 0) {
			snprintf(why, whylen, "line %zu: extent of 0 blocks",
				 line);
			return false;
		}
		if (start >= nr_blocks || count > nr_blocks - start) {
			snprintf(why, whylen,
				 "line %zu: extent %" PRIu64 "+%" PRIu64
				 " beyond the %" PRIu64 " blocks of the device",
				 line, start, count, nr_blocks);
			return false;
		}
		if (x->n) {
			const struct extent *pe = &x->e[x->n - 1];
			uint64_t end = pe->start + pe->count;

			if (start < end) {
				snprintf(why, whylen,
					 "line %zu: extent %" PRIu64 "+%" PRIu64
					 " not after the previous %" PRIu64
					 "+%" PRIu64 " (unsorted or overlapping)",
					 line, start, count, pe->start,
					 pe->count);
				return false;
			}
			if (start == end) {
				snprintf(why, whylen,
					 "line %zu: extent %" PRIu64 "+%" PRIu64
					 " touches the previous %" PRIu64
					 "+%" PRIu64 " (not coalesced)",
					 line, start, count, pe->start,
					 pe->count);
				return false;
			}
		}
		if (ext_push(x, start, count)) {
			snprintf(why, whylen, "out of memory");
			return false;
		}
	}
	return true;
}

/* A checkpoint id answer: decimal digits, optionally one newline. */
static bool parse_id(const char *resp, uint64_t *id)
{
	const char *p = parse_u64(resp, id);

	if (p && *p == '\n')
		p++;
	return p && !*p;
}

/* ---- model --------------------------------------------------------- */

struct cp {
	char name[NAME_MAX_LEN + 1];
	uint64_t id;
	uint64_t ctime;		/* 0 until first seen in list_checkpoints */
};

struct model {
	uint64_t nr_blocks;
	uint64_t block_bytes;
	size_t words;
	int ncp;
	struct cp cp[MAX_CPS];
	/* iv[0]: before cp[0]; iv[i]: after cp[i-1]; iv[ncp] is active */
	uint64_t *iv[MAX_CPS + 1];
	/*
	 * Whether reset clears the active interval is not specified, so
	 * after a reset interval 0 is unknown (and the active count is not
	 * checked) until it is replaced by deleting the oldest checkpoint.
	 */
	bool base_unknown;
	uint64_t last_id;	/* highest id returned since the last reset */
};

static int model_init(struct model *m, uint64_t nr_blocks,
		      uint64_t block_bytes)
{
	memset(m, 0, sizeof(*m));
	m->nr_blocks = nr_blocks;
	m->block_bytes = block_bytes;
	m->words = (nr_blocks + 63) / 64;
	for (int i = 0; i <= MAX_CPS; i++) {
		m->iv[i] = calloc(m->words, sizeof(uint64_t));
		if (!m->iv[i])
			return -1;
	}
	return 0;
}

static void model_free(struct model *m)
{
	for (int i = 0; i <= MAX_CPS; i++) {
		free(m->iv[i]);
		m->iv[i] = NULL;
	}
}

static void model_mark_blocks(struct model *m, uint64_t first,
			      uint64_t count)
{
	bm_set_range(m->iv[m->ncp], first, count);
}

static void model_mark_bytes(struct model *m, uint64_t off, uint64_t len)
{
	uint64_t first = off / m->block_bytes;
	uint64_t last = (off + len - 1) / m->block_bytes;

	model_mark_blocks(m, first, last - first + 1);
}

static int model_find(const struct model *m, const char *name)
{
	for (int i = 0; i < m->ncp; i++)
		if (!strcmp(m->cp[i].name, name))
			return i;
	return -1;
}

static void model_checkpoint(struct model *m, const char *name, uint64_t id)
{
	struct cp *c = &m->cp[m->ncp];

	snprintf(c->name, sizeof(c->name), "%s", name);
	c->id = id;
	c->ctime = 0;
	m->ncp++;
	memset(m->iv[m->ncp], 0, m->words * sizeof(uint64_t));
	if (id > m->last_id)
		m->last_id = id;
}

/*
 * Delete cp[k]: its interval iv[k+1] merges into iv[k]; for the oldest,
 * iv[1] replaces iv[0] (the interval before the oldest is not kept).
 */
static void model_delete(struct model *m, int k)
{
	uint64_t *gone = m->iv[k + 1];

	if (k == 0) {
		memcpy(m->iv[0], gone, m->words * sizeof(uint64_t));
		m->base_unknown = false;
	} else {
		for (size_t w = 0; w < m->words; w++)
			m->iv[k][w] |= gone[w];
	}
	memmove(&m->cp[k], &m->cp[k + 1],
		(size_t)(m->ncp - k - 1) * sizeof(m->cp[0]));
	memmove(&m->iv[k + 1], &m->iv[k + 2],
		(size_t)(m->ncp - k - 1) * sizeof(m->iv[0]));
	m->iv[m->ncp] = gone;
	m->ncp--;
}

static void model_reset(struct model *m)
{
	m->ncp = 0;
	memset(m->iv[0], 0, m->words * sizeof(uint64_t));
	m->base_unknown = true;
	m->last_id = 0;		/* ids are never reused "until reset" */
}

/* Blocks written after cp[since] up to cp[until] (until < 0: up to now). */
static void model_dirty(const struct model *m, int since, int until,
			uint64_t *out)
{
	int last = until < 0 ? m->ncp : until;

	memset(out, 0, m->words * sizeof(uint64_t));
	for (int j = since + 1; j <= last; j++)
		for (size_t w = 0; w < m->words; w++)
			out[w] |= m->iv[j][w];
}

static bool model_active_known(const struct model *m)
{
	return m->ncp > 0 || !m->base_unknown;
}

/* ---- fixture ------------------------------------------------------- */

struct dl_status {
	uint64_t block_sectors, nr_blocks, dirty, ncp, latest, used, total;
	char state[16];
};

struct snap {
	int n;
	char label[SNAP_MAX][160];
	char *text[SNAP_MAX];
};

FIXTURE(tracking) {
	struct model m;
	uint32_t block_sectors;
	uint64_t dev_bytes;
	uint64_t lbs;		/* logical block size of the dm device */
	int fd;
	bool no_discard;
	unsigned char *buf;
	uint64_t *want, *got;	/* scratch bitmaps */
	struct extents wx, kx;	/* model and kernel extents */
	char name[32];
	char path[64];
	unsigned int seed;
	unsigned int step;
	char hist[HISTORY][200];
	unsigned int nhist;
};

FIXTURE_VARIANT(tracking) {
	uint32_t block_sectors;
};

FIXTURE_VARIANT_ADD(tracking, block_4k) { .block_sectors = 8 };
FIXTURE_VARIANT_ADD(tracking, block_64k) { .block_sectors = 128 };
FIXTURE_VARIANT_ADD(tracking, block_1m) { .block_sectors = 2048 };

typedef FIXTURE_DATA(tracking) tracking_t;

static void __attribute__((format(printf, 2, 3)))
hist(tracking_t *self, const char *fmt, ...)
{
	char *h = self->hist[self->nhist++ % HISTORY];
	va_list ap;
	int n;

	/* Numbered by step in the random test, by operation elsewhere. */
	n = snprintf(h, sizeof(self->hist[0]), "%s %u: ",
		     self->step ? "step" : "op",
		     self->step ? self->step : self->nhist);
	va_start(ap, fmt);
	vsnprintf(h + n, sizeof(self->hist[0]) - (size_t)n, fmt, ap);
	va_end(ap);
}

static void dump_history(struct __test_metadata *_metadata, tracking_t *self)
{
	unsigned int first = self->nhist > HISTORY ? self->nhist - HISTORY : 0;

	TH_LOG("seed %u; last %u operations, oldest first:", self->seed,
	       self->nhist - first);
	for (unsigned int i = first; i < self->nhist; i++)
		TH_LOG("  %s", self->hist[i % HISTORY]);
	TH_LOG("model: %d checkpoint(s), oldest first:", self->m.ncp);
	for (int i = 0; i < self->m.ncp; i++)
		TH_LOG("  '%s' id %" PRIu64, self->m.cp[i].name,
		       self->m.cp[i].id);
}

/* Log a (kernel) answer line by line, so that KTAP sees only comments. */
static void log_text(struct __test_metadata *_metadata, const char *label,
		     const char *text)
{
	const char *p = text ? text : "";
	int lines = 0;

	TH_LOG("%s (%zu bytes):", label, strlen(p));
	while (*p && lines++ < 20) {
		int len = (int)strcspn(p, "\n");

		TH_LOG("  | %.*s", len, p);
		p += len;
		if (*p)
			p++;
	}
	if (*p)
		TH_LOG("  | ...");
}

/*
 * Fail the test with a message, a text (a kernel answer, may be NULL) and
 * the recent operations.
 */
#define ENSURE_TXT(cond, text, fmt, ...) do {				\
	bool __ok = (cond);						\
	if (!__ok) {							\
		TH_LOG("check failed: %s", #cond);			\
		TH_LOG(fmt, ##__VA_ARGS__);				\
		if (text)						\
			log_text(_metadata, "answer", text);		\
		dump_history(_metadata, self);				\
	}								\
	ASSERT_TRUE(__ok);						\
} while (0)

#define ENSURE(cond, fmt, ...) ENSURE_TXT(cond, NULL, fmt, ##__VA_ARGS__)

static int __attribute__((format(printf, 3, 4)))
msg(tracking_t *self, char **resp, const char *fmt, ...)
{
	char m[512], err[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	return dl_dm_message(self->name, m, resp, err, sizeof(err));
}

static int zero_metadata(void)
{
	void *z;
	int fd, r = 0;

	if (posix_memalign(&z, 4096, 1u << 20))
		return -1;
	memset(z, 0, 1u << 20);
	fd = open(meta_dev, O_WRONLY | O_DIRECT);
	if (fd < 0 || pwrite(fd, z, 1u << 20, 0) != 1 << 20 || fsync(fd))
		r = -1;
	if (fd >= 0)
		close(fd);
	free(z);
	return r;
}

static int open_dev(tracking_t *self)
{
	int lbs = 0;

	self->fd = open(self->path, O_RDWR | O_DIRECT);
	if (self->fd < 0)
		return -1;
	if (ioctl(self->fd, BLKSSZGET, &lbs) || lbs < 512 || lbs > 4096)
		return -1;
	self->lbs = (uint64_t)lbs;
	return 0;
}

static void close_dev(tracking_t *self)
{
	if (self->fd >= 0)
		close(self->fd);
	self->fd = -1;
}

FIXTURE_SETUP(tracking)
{
	const char *env = getenv("DL_SEED");
	uint64_t bs = (uint64_t)variant->block_sectors << 9;
	char err[256];

	self->fd = -1;
	self->block_sectors = variant->block_sectors;
	self->seed = env ? (unsigned int)strtoul(env, NULL, 0) :
			   (unsigned int)time(NULL) ^ (unsigned int)getpid();
	TH_LOG("seed %u (rerun with DL_SEED=%u)", self->seed, self->seed);
	srandom(self->seed);

	ASSERT_EQ(0, system("modprobe dm-dirtylog"));
	snprintf(self->name, sizeof(self->name), "dltrk%u",
		 variant->block_sectors);
	snprintf(self->path, sizeof(self->path), "/dev/mapper/%s", self->name);
	/* A device left by an earlier case killed at its time limit. */
	dl_dm_remove(self->name, err, sizeof(err));

	/* An all-zero metadata device is formatted on first load. */
	ASSERT_EQ(0, zero_metadata()) TH_LOG("cannot zero %s", meta_dev);
	ASSERT_EQ(0, dl_dm_create(self->name, meta_dev, data_dev,
				  variant->block_sectors, err, sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_EQ(0, dl_blockdev_size(self->path, &self->dev_bytes, err,
				      sizeof(err)))
		TH_LOG("%s", err);
	ASSERT_LE(2 * BIG_DISCARD, self->dev_bytes);
	ASSERT_LE(4 * bs, REGION);
	ASSERT_EQ(0, open_dev(self)) TH_LOG("open %s: %s", self->path,
					    strerror(errno));
	ASSERT_EQ(0, self->dev_bytes % self->lbs);

	ASSERT_EQ(0, model_init(&self->m, (self->dev_bytes + bs - 1) / bs,
				bs));
	self->want = calloc(self->m.words, sizeof(uint64_t));
	self->got = calloc(self->m.words, sizeof(uint64_t));
	ASSERT_NE(NULL, self->want);
	ASSERT_NE(NULL, self->got);
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, IO_BUF));
	for (size_t i = 0; i < IO_BUF; i++)
		self->buf[i] = (unsigned char)(i * 131 + self->seed);
}

FIXTURE_TEARDOWN(tracking)
{
	char err[256];

	close_dev(self);
	dl_dm_remove(self->name, err, sizeof(err));
	model_free(&self->m);
	free(self->want);
	free(self->got);
	free(self->wx.e);
	free(self->kx.e);
	free(self->buf);
}

/* ---- queries and checks -------------------------------------------- */

static void get_status(struct __test_metadata *_metadata, tracking_t *self,
		       struct dl_status *st)
{
	struct dl_dm_info info;
	char err[256];

	ENSURE(dl_dm_info(self->name, &info, err, sizeof(err)) == 0,
	       "status of %s: %s", self->name, err);
	memset(st, 0, sizeof(*st));
	/* Fields added after these seven would not break the test. */
	ENSURE(sscanf(info.status,
		      "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %"
		      SCNu64 " %" SCNu64 "/%" SCNu64 " %15s",
		      &st->block_sectors, &st->nr_blocks, &st->dirty,
		      &st->ncp, &st->latest, &st->used, &st->total,
		      st->state) == 8,
	       "status '%s' is not '<block_sectors> <nr_blocks> <dirty> <nr checkpoints> <latest id> <used>/<total> <state>'",
	       info.status);
}

static void check_status(struct __test_metadata *_metadata, tracking_t *self)
{
	const struct model *m = &self->m;
	struct dl_status st;

	get_status(_metadata, self, &st);
	ENSURE(st.block_sectors == self->block_sectors,
	       "status block size %" PRIu64 ", table has %u",
	       st.block_sectors, self->block_sectors);
	ENSURE(st.nr_blocks == m->nr_blocks,
	       "status: %" PRIu64 " blocks, expected %" PRIu64,
	       st.nr_blocks, m->nr_blocks);
	ENSURE(st.ncp == (uint64_t)m->ncp,
	       "status: %" PRIu64 " checkpoints, model has %d",
	       st.ncp, m->ncp);
	if (model_active_known(m))
		ENSURE(st.dirty == bm_count(m->iv[m->ncp], m->words),
		       "status: %" PRIu64 " dirty blocks in the active interval, model has %" PRIu64,
		       st.dirty, bm_count(m->iv[m->ncp], m->words));
	/* The id of the newest checkpoint, 0 when there is none. */
	ENSURE(st.latest == (m->ncp ? m->cp[m->ncp - 1].id : 0),
	       "status: latest checkpoint id %" PRIu64 ", expected %" PRIu64 " (%s)",
	       st.latest, m->ncp ? m->cp[m->ncp - 1].id : 0,
	       m->ncp ? m->cp[m->ncp - 1].name : "no checkpoint");
	ENSURE(!strcmp(st.state, "rw"), "status: state '%s', expected rw",
	       st.state);
	ENSURE(st.total > 0 && st.used <= st.total,
	       "status: metadata %" PRIu64 "/%" PRIu64, st.used, st.total);
}

/*
 * Compare the kernel's extents with the model's; log the first differing
 * extent and the first block on which they disagree.
 */
static bool same_extents(struct __test_metadata *_metadata,
			 tracking_t *self, const char *what)
{
	const struct extents *k = &self->kx, *w = &self->wx;
	char ks[64] = "(none)", ws[64] = "(none)";
	uint64_t nbits = self->m.nr_blocks, b = nbits;
	size_t i;

	for (i = 0; i < k->n && i < w->n; i++)
		if (k->e[i].start != w->e[i].start ||
		    k->e[i].count != w->e[i].count)
			break;
	if (i == k->n && i == w->n)
		return true;
	if (i < k->n)
		snprintf(ks, sizeof(ks), "%" PRIu64 " %" PRIu64,
			 k->e[i].start, k->e[i].count);
	if (i < w->n)
		snprintf(ws, sizeof(ws), "%" PRIu64 " %" PRIu64,
			 w->e[i].start, w->e[i].count);
	TH_LOG("'%s': extent #%zu differs: kernel '%s', model '%s' (kernel %zu extents/%" PRIu64 " blocks, model %zu extents/%" PRIu64 " blocks)",
	       what, i, ks, ws, k->n, ext_blocks(k), w->n, ext_blocks(w));

	memset(self->got, 0, self->m.words * sizeof(uint64_t));
	for (i = 0; i < k->n; i++)
		bm_set_range(self->got, k->e[i].start, k->e[i].count);
	for (size_t x = 0; x < self->m.words && b == nbits; x++) {
		uint64_t d = self->got[x] ^ self->want[x];

		if (d)
			b = x * 64 + (uint64_t)__builtin_ctzll(d);
	}
	if (b < nbits)
		TH_LOG("first disagreement: block %" PRIu64 " (bytes %" PRIu64 "..%" PRIu64 ") is dirty only in the %s",
		       b, b * self->m.block_bytes,
		       (b + 1) * self->m.block_bytes - 1,
		       bm_test(self->got, b) ? "kernel's answer" : "model");
	return false;
}

/* "dirty <cp[since]> [<cp[until]>]" must equal the model exactly. */
static void check_dirty(struct __test_metadata *_metadata, tracking_t *self,
			int since, int until)
{
	const struct model *m = &self->m;
	char what[2 * NAME_MAX_LEN + 16], why[256];
	char *resp = NULL;
	int rc;

	if (until < 0)
		snprintf(what, sizeof(what), "dirty %s", m->cp[since].name);
	else
		snprintf(what, sizeof(what), "dirty %s %s", m->cp[since].name,
			 m->cp[until].name);
	model_dirty(m, since, until, self->want);
	ENSURE(bm_to_extents(self->want, m->nr_blocks, &self->wx) == 0,
	       "out of memory");
	rc = msg(self, &resp, "%s", what);
	ENSURE(rc == 0, "'%s' failed: %d (%s)", what, rc, strerror(-rc));
	ENSURE_TXT(parse_extents(resp, m->nr_blocks, &self->kx, why,
				 sizeof(why)),
		   resp, "'%s': malformed answer: %s", what, why);
	free(resp);
	ENSURE(same_extents(_metadata, self, what),
	       "'%s' is not exact (since checkpoint #%d, until %d, of %d)",
	       what, since, until, m->ncp);
}

/* list_checkpoints: names in order, recorded ids, stable ctimes. */
static void check_list(struct __test_metadata *_metadata, tracking_t *self)
{
	struct model *m = &self->m;
	uint64_t id, ctime, prev_id = 0, prev_ctime = 0;
	char *resp = NULL, *p, name[NAME_MAX_LEN + 2];
	const char *q;
	int rc, i;

	rc = msg(self, &resp, "list_checkpoints");
	ENSURE(rc == 0, "list_checkpoints failed: %d (%s)", rc, strerror(-rc));
	p = resp;
	for (i = 0; *p; i++) {
		size_t len = strcspn(p, " \n");

		ENSURE_TXT(i < m->ncp, resp,
			   "list_checkpoints has more than the model's %d checkpoints",
			   m->ncp);
		ENSURE_TXT(len >= 1 && len <= NAME_MAX_LEN && p[len] == ' ',
			   resp,
			   "list_checkpoints line %d is not '<name> <id> <ctime_ns>'",
			   i + 1);
		memcpy(name, p, len);
		name[len] = '\0';
		q = parse_u64(p + len + 1, &id);
		if (q && *q == ' ')
			q = parse_u64(q + 1, &ctime);
		else
			q = NULL;
		ENSURE_TXT(q && *q == '\n', resp,
			   "list_checkpoints line %d is not '<name> <id> <ctime_ns>\\n'",
			   i + 1);
		ENSURE_TXT(!strcmp(name, m->cp[i].name), resp,
			   "list_checkpoints entry %d is '%s', model has '%s'",
			   i + 1, name, m->cp[i].name);
		ENSURE(id == m->cp[i].id,
		       "list_checkpoints: '%s' has id %" PRIu64 ", creation returned %" PRIu64,
		       name, id, m->cp[i].id);
		ENSURE_TXT(id > prev_id, resp,
			   "list_checkpoints: ids not increasing at '%s'",
			   name);
		ENSURE_TXT(ctime >= prev_ctime, resp,
			   "list_checkpoints: ctime of '%s' before the previous one's",
			   name);
		if (!m->cp[i].ctime)
			m->cp[i].ctime = ctime;
		ENSURE(ctime == m->cp[i].ctime,
		       "list_checkpoints: ctime of '%s' changed from %" PRIu64 " to %" PRIu64,
		       name, m->cp[i].ctime, ctime);
		prev_id = id;
		prev_ctime = ctime;
		p = (char *)q + 1;
	}
	ENSURE_TXT(i == m->ncp, resp,
		   "list_checkpoints lists %d checkpoints, model has %d", i,
		   m->ncp);
	free(resp);
}

/* Full check: status, list, dirty since every checkpoint, two pairs. */
static void check_all(struct __test_metadata *_metadata, tracking_t *self)
{
	int n = self->m.ncp;

	check_status(_metadata, self);
	check_list(_metadata, self);
	for (int i = 0; i < n; i++)
		check_dirty(_metadata, self, i, -1);
	for (int k = 0; k < 2 && n >= 2; k++) {
		int a = (int)rnd((uint64_t)n - 1);
		int b = a + 1 + (int)rnd((uint64_t)(n - 1 - a));

		check_dirty(_metadata, self, a, b);
	}
}

/* ---- operations ------------------------------------------------------ */

static void blocks_of(const tracking_t *self, uint64_t off, uint64_t len,
		      char *out, size_t outlen)
{
	uint64_t bs = self->m.block_bytes;

	snprintf(out, outlen, "blocks %" PRIu64 "..%" PRIu64, off / bs,
		 (off + len - 1) / bs);
}

/*
 * A range inside [0, hi): whole blocks, a few sectors, a range straddling
 * a block boundary, or anything up to three blocks.  Granularity is the
 * device's logical block size.
 */
static void pick_range(const tracking_t *self, uint64_t hi, uint64_t *off,
		       uint64_t *len)
{
	uint64_t u = self->lbs, bs = self->m.block_bytes, o, l, b;

	switch (rnd(4)) {
	case 0:
		l = bs * (1 + rnd(3));
		o = bs * rnd(hi / bs);
		break;
	case 1:
		l = u * (1 + rnd(8));
		o = u * rnd(hi / u);
		break;
	case 2:
		b = bs * (1 + rnd(hi / bs - 1));
		l = u * (1 + rnd(bs / u < 8 ? bs / u : 8));
		o = b - l;
		l += u * (1 + rnd(8));
		break;
	default:
		l = u * (1 + rnd(3 * bs / u));
		o = u * rnd(hi / u);
		break;
	}
	if (l > hi)
		l = hi;
	if (o + l > hi)
		o = hi - l;
	*off = o;
	*len = l;
}

static void do_write(struct __test_metadata *_metadata, tracking_t *self,
		     uint64_t off, uint64_t len)
{
	char b[64];
	ssize_t r;

	blocks_of(self, off, len, b, sizeof(b));
	hist(self, "pwrite %" PRIu64 "+%" PRIu64 " (%s)", off, len, b);
	r = pwrite(self->fd, self->buf, len, (off_t)off);
	ENSURE(r == (ssize_t)len, "pwrite of %" PRIu64 " bytes at %" PRIu64 " returned %zd: %s",
	       len, off, r, strerror(errno));
	model_mark_bytes(&self->m, off, len);
}

static void do_range_ioctl(struct __test_metadata *_metadata,
			   tracking_t *self, bool discard, uint64_t off,
			   uint64_t len)
{
	const char *what = discard ? "BLKDISCARD" : "BLKZEROOUT";
	uint64_t range[2] = { off, len };
	char b[64];
	int e;

	if (discard && self->no_discard)
		return;
	blocks_of(self, off, len, b, sizeof(b));
	hist(self, "%s %" PRIu64 "+%" PRIu64 " (%s)", what, off, len, b);
	if (ioctl(self->fd, discard ? BLKDISCARD : BLKZEROOUT, range)) {
		e = errno;
		if (discard && e == EOPNOTSUPP) {
			TH_LOG("BLKDISCARD is not supported here: discards are not exercised");
			self->no_discard = true;
			return;
		}
		ENSURE(false, "%s %" PRIu64 "+%" PRIu64 " failed: %s", what,
		       off, len, strerror(e));
	}
	model_mark_bytes(&self->m, off, len);
}

static void do_mark_dirty(struct __test_metadata *_metadata,
			  tracking_t *self, uint64_t start, uint64_t count)
{
	int rc;

	hist(self, "mark_dirty %" PRIu64 " %" PRIu64, start, count);
	rc = msg(self, NULL, "mark_dirty %" PRIu64 " %" PRIu64, start, count);
	ENSURE(rc == 0, "mark_dirty %" PRIu64 " %" PRIu64 " failed: %d (%s)",
	       start, count, rc, strerror(-rc));
	model_mark_blocks(&self->m, start, count);
}

static void do_checkpoint(struct __test_metadata *_metadata,
			  tracking_t *self, const char *name)
{
	struct model *m = &self->m;
	struct dl_status st;
	char *resp = NULL;
	uint64_t id = 0;
	bool ok;
	int rc;

	hist(self, "checkpoint %s", name);
	rc = msg(self, &resp, "checkpoint %s", name);
	ENSURE(rc == 0, "checkpoint '%s' failed: %d (%s)", name, rc,
	       strerror(-rc));
	ok = parse_id(resp, &id);
	ENSURE(ok, "checkpoint '%s': answer '%s' is not a decimal id", name,
	       resp);
	free(resp);
	ENSURE(id > m->last_id,
	       "checkpoint '%s' got id %" PRIu64 ", not above the last id %" PRIu64 " (ids are never reused until reset)",
	       name, id, m->last_id);
	hist(self, "  -> id %" PRIu64, id);
	ENSURE(m->ncp < MAX_CPS, "test bug: too many checkpoints");
	model_checkpoint(m, name, id);

	/* A new checkpoint starts an empty active interval. */
	get_status(_metadata, self, &st);
	ENSURE(st.ncp == (uint64_t)m->ncp && st.latest == id && st.dirty == 0,
	       "status after checkpoint '%s' (id %" PRIu64 "): %" PRIu64 " checkpoints, latest %" PRIu64 ", %" PRIu64 " dirty; expected %d, %" PRIu64 ", 0",
	       name, id, st.ncp, st.latest, st.dirty, m->ncp, id);
}

static void do_delete(struct __test_metadata *_metadata, tracking_t *self,
		      int k)
{
	char name[NAME_MAX_LEN + 1];
	int rc;

	snprintf(name, sizeof(name), "%s", self->m.cp[k].name);
	hist(self, "delete_checkpoint %s (#%d of %d)", name, k, self->m.ncp);
	rc = msg(self, NULL, "delete_checkpoint %s", name);
	ENSURE(rc == 0, "delete_checkpoint '%s' failed: %d (%s)", name, rc,
	       strerror(-rc));
	model_delete(&self->m, k);
}

static void do_reset(struct __test_metadata *_metadata, tracking_t *self)
{
	int rc;

	hist(self, "reset");
	rc = msg(self, NULL, "reset");
	ENSURE(rc == 0, "reset failed: %d (%s)", rc, strerror(-rc));
	model_reset(&self->m);
}

/* A valid name (1..64 of [A-Za-z0-9._:+-]) no checkpoint has. */
static void random_name(const struct model *m, char *out)
{
	do {
		size_t len = rnd(8) == 0 ? NAME_MAX_LEN :
			     1 + rnd(rnd(4) == 0 ? NAME_MAX_LEN : 8);

		for (size_t i = 0; i < len; i++)
			out[i] = name_chars[rnd(sizeof(name_chars) - 1)];
		out[len] = '\0';
	} while (model_find(m, out) >= 0);
}

/* Oldest, newest or a middle one. */
static int pick_victim(const struct model *m)
{
	switch (rnd(3)) {
	case 0:
		return 0;
	case 1:
		return m->ncp - 1;
	default:
		return m->ncp >= 3 ? 1 + (int)rnd((uint64_t)m->ncp - 2) :
				     (int)rnd((uint64_t)m->ncp);
	}
}

TEST_F_TIMEOUT(tracking, random_ops_match_model, 240)
{
	struct model *m = &self->m;
	uint64_t region = REGION, dev = self->dev_bytes, off, len;
	unsigned int n_write = 0, n_zero = 0, n_discard = 0, n_big = 0,
		     n_mark = 0, n_cp = 0, n_del = 0, n_reset = 0, n_check = 0;
	char name[NAME_MAX_LEN + 1];

	/*
	 * Deterministic prologue: writes before the first checkpoint, which
	 * is then deleted: the active interval holds only what was written
	 * since it.
	 */
	do_write(_metadata, self, 0, 4 * m->block_bytes);
	check_status(_metadata, self);
	do_checkpoint(_metadata, self, "first");
	do_write(_metadata, self, 2 * m->block_bytes, self->lbs);
	do_write(_metadata, self, 6 * m->block_bytes, self->lbs);
	check_all(_metadata, self);
	do_delete(_metadata, self, 0);
	check_status(_metadata, self);

	for (self->step = 1; self->step <= STEPS; self->step++) {
		unsigned int r = (unsigned int)rnd(100);

		/* Make sure each rare operation happens at least once. */
		if (self->step == STEPS / 3 && !n_big)
			r = 52;
		if (self->step == STEPS / 2 && !n_reset)
			r = 85;

		if (r < 30) {
			pick_range(self, region, &off, &len);
			do_write(_metadata, self, off, len);
			n_write++;
		} else if (r < 36) {
			/* Anywhere, half of the time ending at the last byte. */
			pick_range(self, dev, &off, &len);
			if (rnd(2))
				off = dev - len;
			do_write(_metadata, self, off, len);
			n_write++;
		} else if (r < 44) {
			pick_range(self, rnd(8) ? region : dev, &off, &len);
			do_range_ioctl(_metadata, self, false, off, len);
			n_zero++;
		} else if (r < 52) {
			pick_range(self, rnd(8) ? region : dev, &off, &len);
			do_range_ioctl(_metadata, self, true, off, len);
			n_discard += !self->no_discard;
		} else if (r < 54) {
			len = BIG_DISCARD;
			switch (rnd(3)) {
			case 0:
				off = dev - len;
				break;
			case 1:
				off = self->lbs * rnd(REGION / self->lbs);
				break;
			default:
				off = self->lbs * rnd((dev - len) / self->lbs + 1);
				break;
			}
			do_range_ioctl(_metadata, self, true, off, len);
			n_big += !self->no_discard;
		} else if (r < 61) {
			uint64_t start, count;

			start = rnd(2) ? rnd(REGION / m->block_bytes) :
					 rnd(m->nr_blocks);
			count = 1 + rnd(m->nr_blocks - start < 4 ?
					m->nr_blocks - start : 4);
			if (rnd(10) == 0)	/* to the last block */
				count = m->nr_blocks - start;
			do_mark_dirty(_metadata, self, start, count);
			n_mark++;
		} else if (r < 85 && (r < 76 || !m->ncp) && m->ncp < MAX_CPS) {
			random_name(m, name);
			do_checkpoint(_metadata, self, name);
			n_cp++;
		} else if (r < 85) {
			do_delete(_metadata, self, pick_victim(m));
			n_del++;
		} else if (r < 86) {
			do_reset(_metadata, self);
			n_reset++;
		} else if (m->ncp) {
			/* A cheap check of one answer between full checks. */
			int a = (int)rnd((uint64_t)m->ncp);

			if (a + 1 < m->ncp && rnd(2))
				check_dirty(_metadata, self, a,
					    a + 1 + (int)rnd((uint64_t)(m->ncp - a - 1)));
			else
				check_dirty(_metadata, self, a, -1);
		} else {
			check_status(_metadata, self);
		}

		if (self->step % CHECK_EVERY == 0) {
			check_all(_metadata, self);
			n_check++;
		}
	}
	check_all(_metadata, self);
	n_check++;
	TH_LOG("%u steps: %u writes, %u zeroouts, %u discards, %u big discards, %u mark_dirty, %u checkpoints, %u deletes, %u resets; %u full checks%s",
	       STEPS, n_write, n_zero, n_discard, n_big, n_mark, n_cp, n_del,
	       n_reset, n_check,
	       self->no_discard ? " (discards unsupported: not exercised)" : "");
}

/* ---- snapshots: every answer, to compare before and after ------------ */

static void snap_add(struct __test_metadata *_metadata, tracking_t *self,
		     struct snap *s, const char *label, char *text)
{
	ENSURE(s->n < SNAP_MAX, "test bug: snapshot too large");
	snprintf(s->label[s->n], sizeof(s->label[0]), "%s", label);
	s->text[s->n++] = text;
}

static void snap_free(struct snap *s)
{
	for (int i = 0; i < s->n; i++)
		free(s->text[i]);
	s->n = 0;
}

/*
 * Status (without the metadata usage, which may change on its own),
 * list_checkpoints, dirty since every checkpoint and, with few
 * checkpoints, every pair.
 */
static void take_snapshot(struct __test_metadata *_metadata,
			  tracking_t *self, struct snap *s)
{
	const struct model *m = &self->m;
	char label[160], *text;
	struct dl_status st;
	int rc;

	s->n = 0;
	get_status(_metadata, self, &st);
	ENSURE(asprintf(&text, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %s",
			st.block_sectors, st.nr_blocks, st.dirty, st.ncp,
			st.latest, st.state) > 0, "out of memory");
	snap_add(_metadata, self, s, "status (without metadata usage)", text);
	rc = msg(self, &text, "list_checkpoints");
	ENSURE(rc == 0, "list_checkpoints failed: %d (%s)", rc, strerror(-rc));
	snap_add(_metadata, self, s, "list_checkpoints", text);
	for (int i = 0; i < m->ncp; i++) {
		for (int j = i; j <= m->ncp; j++) {
			if (j == i)	/* until now */
				snprintf(label, sizeof(label), "dirty %s",
					 m->cp[i].name);
			else if (j < m->ncp && m->ncp <= 6)
				snprintf(label, sizeof(label), "dirty %s %s",
					 m->cp[i].name, m->cp[j].name);
			else
				continue;
			rc = msg(self, &text, "%s", label);
			ENSURE(rc == 0, "'%s' failed: %d (%s)", label, rc,
			       strerror(-rc));
			snap_add(_metadata, self, s, label, text);
		}
	}
}

static bool same_snapshot(struct __test_metadata *_metadata,
			  const struct snap *a, const struct snap *b,
			  const char *after)
{
	if (a->n != b->n) {
		TH_LOG("after %s: %d answers instead of %d", after, b->n,
		       a->n);
		return false;
	}
	for (int i = 0; i < a->n; i++) {
		if (strcmp(a->label[i], b->label[i]) ||
		    strcmp(a->text[i], b->text[i])) {
			TH_LOG("after %s: the answer to '%s' changed",
			       after, a->label[i]);
			log_text(_metadata, "before", a->text[i]);
			log_text(_metadata, "now", b->text[i]);
			return false;
		}
	}
	return true;
}

/* ---- malformed messages --------------------------------------------- */

struct bad_msg {
	char msg[200];
	int err, alt;		/* expected -errno; alt: also accepted */
};

TEST_F_TIMEOUT(tracking, bad_messages_change_nothing, 120)
{
	struct model *m = &self->m;
	uint64_t nr = m->nr_blocks, bs = m->block_bytes;
	char longname[NAME_MAX_LEN + 2], okname[NAME_MAX_LEN + 1];
	struct bad_msg bad[64];
	struct snap s0, s;
	int nbad = 0, rc, k;

	/* Some state: dirty blocks in three intervals, two checkpoints. */
	do_write(_metadata, self, 0, 2 * bs);
	do_checkpoint(_metadata, self, "a");
	do_write(_metadata, self, 5 * bs + self->lbs, self->lbs);
	do_checkpoint(_metadata, self, "b");
	do_mark_dirty(_metadata, self, 7, 2);
	do_write(_metadata, self, self->dev_bytes - self->lbs, self->lbs);

	/* Boundaries that must be accepted. */
	memset(okname, 0, sizeof(okname));
	for (k = 0; k < NAME_MAX_LEN; k++)
		okname[k] = name_chars[(k * 7 + 52) % (sizeof(name_chars) - 1)];
	memcpy(okname, "A.z_0:+-", 8);
	do_checkpoint(_metadata, self, okname);
	do_write(_metadata, self, 9 * bs, bs);
	check_all(_metadata, self);
	do_delete(_metadata, self, model_find(m, okname));
	do_checkpoint(_metadata, self, "c");
	do_delete(_metadata, self, model_find(m, "c"));
	do_checkpoint(_metadata, self, "c");	/* a deleted name is free */
	do_delete(_metadata, self, model_find(m, "c"));
	do_mark_dirty(_metadata, self, nr - 1, 1);
	do_mark_dirty(_metadata, self, 0, 1);
	check_all(_metadata, self);

	memset(longname, 'x', NAME_MAX_LEN + 1);
	longname[NAME_MAX_LEN + 1] = '\0';
#define BAD(e, a, ...) do {						\
	snprintf(bad[nbad].msg, sizeof(bad[0].msg), __VA_ARGS__);	\
	bad[nbad].err = (e);						\
	bad[nbad].alt = (a);						\
	nbad++;								\
} while (0)
	BAD(-EINVAL, 0, "checkpoint %s", longname);
	BAD(-EINVAL, 0, "checkpoint c d");
	BAD(-EINVAL, 0, "checkpoint bad/name");
	BAD(-EINVAL, 0, "checkpoint \xc3\xa4");
	BAD(-EINVAL, 0, "checkpoint caf\xc3\xa9");
	BAD(-EINVAL, 0, "checkpoint x*y");
	BAD(-EINVAL, 0, "checkpoint semi;colon");
	BAD(-EINVAL, 0, "checkpoint");
	BAD(-EEXIST, 0, "checkpoint a");
	BAD(-EEXIST, 0, "checkpoint b");
	BAD(-ENOENT, 0, "delete_checkpoint nosuch");
	BAD(-ENOENT, 0, "delete_checkpoint A");
	BAD(-ENOENT, 0, "delete_checkpoint c");
	BAD(-EINVAL, 0, "delete_checkpoint");
	BAD(-ENOENT, 0, "dirty nosuch");
	BAD(-ENOENT, 0, "dirty a nosuch");
	BAD(-ENOENT, 0, "dirty nosuch b");
	BAD(-EINVAL, 0, "dirty b a");
	BAD(-EINVAL, 0, "dirty a a");
	BAD(-EINVAL, 0, "dirty");
	BAD(-EINVAL, 0, "dirty a b c");
	BAD(-EINVAL, 0, "frobnicate");
	BAD(-EINVAL, 0, "Checkpoint d");
	BAD(-EINVAL, 0, "mark_dirty %" PRIu64 " 1", nr);
	BAD(-EINVAL, 0, "mark_dirty %" PRIu64 " 2", nr - 1);
	BAD(-EINVAL, 0, "mark_dirty 0 %" PRIu64, nr + 1);
	BAD(-EINVAL, 0, "mark_dirty 0 0");
	BAD(-EINVAL, 0, "mark_dirty 18446744073709551615 2");
	BAD(-EINVAL, 0, "mark_dirty 1 18446744073709551615");
	BAD(-EINVAL, -ERANGE, "mark_dirty 99999999999999999999 1");
	BAD(-EINVAL, 0, "mark_dirty abc 1");
	BAD(-EINVAL, 0, "mark_dirty 1 x");
	BAD(-EINVAL, 0, "mark_dirty -1 1");
	BAD(-EINVAL, 0, "mark_dirty 1x 1");
	BAD(-EINVAL, 0, "mark_dirty 1");
	BAD(-EINVAL, 0, "mark_dirty");
	/* Extra arguments (beyond the documented forms). */
	BAD(-EINVAL, 0, "mark_dirty 1 1 1");
	BAD(-EINVAL, 0, "delete_checkpoint a b");
	BAD(-EINVAL, 0, "list_checkpoints extra");
	BAD(-EINVAL, 0, "reset now");
#undef BAD

	take_snapshot(_metadata, self, &s0);
	for (k = 0; k < nbad; k++) {
		char *resp = NULL;

		hist(self, "bad message '%s'", bad[k].msg);
		rc = msg(self, &resp, "%s", bad[k].msg);
		EXPECT_TRUE(rc == bad[k].err || (bad[k].alt && rc == bad[k].alt))
			TH_LOG("'%s' returned %d (%s), expected %d (%s)",
			       bad[k].msg, rc, rc ? strerror(-rc) : "success",
			       bad[k].err, strerror(-bad[k].err));
		free(resp);
		take_snapshot(_metadata, self, &s);
		EXPECT_TRUE(same_snapshot(_metadata, &s0, &s, bad[k].msg));
		snap_free(&s);
	}
	snap_free(&s0);
	/* And the model still holds exactly. */
	check_all(_metadata, self);
}

/* ---- persistence ---------------------------------------------------- */

static void random_writes(struct __test_metadata *_metadata,
			  tracking_t *self, int n)
{
	uint64_t off, len;

	for (int i = 0; i < n; i++) {
		pick_range(self, REGION, &off, &len);
		do_write(_metadata, self, off, len);
	}
}

static int run_logged(const char *cmd)
{
	char full[1024];
	int r;

	snprintf(full, sizeof(full), "( %s ) >/tmp/dl_tracking.log 2>&1", cmd);
	r = system(full);
	if (r && system("sed 's/^/# /' /tmp/dl_tracking.log >&2"))
		r = -1;
	return r;
}

static void suspend_resume(struct __test_metadata *_metadata,
			   tracking_t *self, bool reload)
{
	struct dl_dm_info info;
	char cmd[900], err[256];

	ENSURE(dl_dm_info(self->name, &info, err, sizeof(err)) == 0, "%s",
	       err);
	if (reload)
		snprintf(cmd, sizeof(cmd),
			 "dmsetup suspend %s && dmsetup reload %s --table '0 %" PRIu64 " dirtylog %s' && dmsetup resume %s",
			 self->name, self->name, info.length, info.table,
			 self->name);
	else
		snprintf(cmd, sizeof(cmd),
			 "dmsetup suspend %s && dmsetup resume %s",
			 self->name, self->name);
	hist(self, "%s", cmd);
	ENSURE(run_logged(cmd) == 0, "'%s' failed", cmd);
}

static void recreate(struct __test_metadata *_metadata, tracking_t *self)
{
	char err[256];

	hist(self, "remove and create again over the same metadata");
	close_dev(self);
	ENSURE(dl_dm_remove(self->name, err, sizeof(err)) == 0, "remove: %s",
	       err);
	ENSURE(dl_dm_create(self->name, meta_dev, data_dev,
			    self->block_sectors, err, sizeof(err)) == 0,
	       "create over the used metadata: %s", err);
	ENSURE(open_dev(self) == 0, "open %s: %s", self->path,
	       strerror(errno));
}

TEST_F_TIMEOUT(tracking, state_survives_reload_and_recreate, 180)
{
	struct model *m = &self->m;
	struct snap s0, s;
	uint64_t off, len;
	bool same;

	/* Five checkpoints with writes between, then delete two of them. */
	random_writes(_metadata, self, 10);
	do_checkpoint(_metadata, self, "p1");
	random_writes(_metadata, self, 8);
	do_mark_dirty(_metadata, self, m->nr_blocks - 3, 2);
	do_checkpoint(_metadata, self, "p2");
	random_writes(_metadata, self, 8);
	pick_range(self, REGION, &off, &len);
	do_range_ioctl(_metadata, self, false, off, len);
	pick_range(self, REGION, &off, &len);
	do_range_ioctl(_metadata, self, true, off, len);
	do_checkpoint(_metadata, self, "p3");
	random_writes(_metadata, self, 8);
	do_checkpoint(_metadata, self, "p4");
	random_writes(_metadata, self, 5);
	do_checkpoint(_metadata, self, "p5");
	random_writes(_metadata, self, 3);
	do_delete(_metadata, self, model_find(m, "p2"));	/* middle */
	do_delete(_metadata, self, model_find(m, "p5"));	/* newest */
	random_writes(_metadata, self, 5);
	do_write(_metadata, self, self->dev_bytes - self->lbs, self->lbs);
	check_all(_metadata, self);
	take_snapshot(_metadata, self, &s0);

	/* Suspend and resume: nothing changes, no checkpoint appears. */
	suspend_resume(_metadata, self, false);
	take_snapshot(_metadata, self, &s);
	same = same_snapshot(_metadata, &s0, &s, "suspend + resume");
	snap_free(&s);
	ENSURE(same, "suspend + resume changed the answers");
	check_all(_metadata, self);

	/* The same table loaded again. */
	suspend_resume(_metadata, self, true);
	take_snapshot(_metadata, self, &s);
	same = same_snapshot(_metadata, &s0, &s, "a table reload");
	snap_free(&s);
	ENSURE(same, "reloading the table changed the answers");
	check_all(_metadata, self);

	/* Tracking goes on in the new table. */
	random_writes(_metadata, self, 5);
	do_mark_dirty(_metadata, self, 1, 1);
	check_all(_metadata, self);
	snap_free(&s0);
	take_snapshot(_metadata, self, &s0);

	/* Remove, then create over the same (formatted) metadata. */
	recreate(_metadata, self);
	take_snapshot(_metadata, self, &s);
	same = same_snapshot(_metadata, &s0, &s, "remove + create");
	snap_free(&s);
	ENSURE(same, "remove + create changed the answers");
	check_all(_metadata, self);

	/* Ids keep increasing; old and new intervals both still work. */
	random_writes(_metadata, self, 4);
	do_checkpoint(_metadata, self, "p6");
	random_writes(_metadata, self, 4);
	do_delete(_metadata, self, model_find(m, "p1"));	/* oldest */
	check_all(_metadata, self);
	snap_free(&s0);
	take_snapshot(_metadata, self, &s0);
	recreate(_metadata, self);
	take_snapshot(_metadata, self, &s);
	same = same_snapshot(_metadata, &s0, &s, "a second remove + create");
	snap_free(&s);
	snap_free(&s0);
	ENSURE(same, "the second remove + create changed the answers");
	check_all(_metadata, self);
}

/* ---- the model itself, no device needed ----------------------------- */

TEST(model_self_check)
{
	static const struct {
		const char *text;
		bool ok;
	} answers[] = {
		{ "", true },
		{ "0 1\n2 3\n63 2\n127 3\n", true },
		{ "0 130\n", true },
		{ "0 1\n1 1\n", false },	/* touching: not coalesced */
		{ "5 1\n2 1\n", false },	/* descending */
		{ "0 3\n2 3\n", false },	/* overlapping */
		{ "0 0\n", false },
		{ "0 1", false },		/* no newline */
		{ "0 131\n", false },		/* beyond the device */
		{ "130 1\n", false },
		{ "a 1\n", false },
		{ "0  1\n", false },
		{ "0 1 \n", false },
		{ "\n", false },
		{ "-1 2\n", false },
		{ "99999999999999999999 1\n", false },
	};
	struct extents x = { 0 }, y = { 0 };
	uint64_t bm[3] = { 0 }, *want, *before;
	struct model m;
	char why[256];
	int since[3];

	/* Extents of a bitmap, across word boundaries and at the end. */
	bm_set_range(bm, 0, 1);
	bm_set_range(bm, 2, 3);
	bm_set_range(bm, 63, 2);
	bm_set_range(bm, 127, 3);
	ASSERT_EQ(0, bm_to_extents(bm, 130, &x));
	ASSERT_TRUE(parse_extents(answers[1].text, 130, &y, why, sizeof(why)))
		TH_LOG("%s", why);
	ASSERT_EQ(4, x.n);
	ASSERT_EQ(x.n, y.n);
	for (size_t i = 0; i < x.n; i++) {
		EXPECT_EQ(x.e[i].start, y.e[i].start);
		EXPECT_EQ(x.e[i].count, y.e[i].count);
	}
	ASSERT_EQ(9, bm_count(bm, 3));
	memset(bm, 0, sizeof(bm));
	bm_set_range(bm, 0, 130);
	ASSERT_EQ(0, bm_to_extents(bm, 130, &x));
	ASSERT_EQ(1, x.n);
	ASSERT_EQ(130, x.e[0].count);
	ASSERT_EQ(130, bm_count(bm, 3));
	memset(bm, 0, sizeof(bm));
	ASSERT_EQ(0, bm_to_extents(bm, 130, &x));
	ASSERT_EQ(0, x.n);
	for (size_t i = 0; i < ARRAY_SIZE(answers); i++) {
		why[0] = '\0';
		EXPECT_EQ(answers[i].ok,
			  parse_extents(answers[i].text, 130, &y, why,
					sizeof(why)))
			TH_LOG("answer '%s': %s", answers[i].text, why);
	}

	/* Byte ranges touch every block they overlap (4 KiB blocks). */
	ASSERT_EQ(0, model_init(&m, 130, 4096));
	model_mark_bytes(&m, 4096 - 512, 1024);
	model_mark_bytes(&m, 10 * 4096, 4096);
	model_mark_bytes(&m, 20 * 4096 + 512, 512);
	ASSERT_EQ(0, bm_to_extents(m.iv[0], 130, &x));
	ASSERT_EQ(3, x.n);
	EXPECT_EQ(0, x.e[0].start);
	EXPECT_EQ(2, x.e[0].count);
	EXPECT_EQ(10, x.e[1].start);
	EXPECT_EQ(1, x.e[1].count);
	EXPECT_EQ(20, x.e[2].start);
	EXPECT_EQ(1, x.e[2].count);

	/* Deleting any checkpoint keeps "dirty since" the others. */
	want = calloc(m.words, sizeof(uint64_t));
	before = calloc(3 * m.words, sizeof(uint64_t));
	ASSERT_NE(NULL, want);
	ASSERT_NE(NULL, before);
	for (int victim = 0; victim < 3; victim++) {
		model_reset(&m);
		model_mark_blocks(&m, 0, 1);	/* before c0: never queried */
		model_checkpoint(&m, "c0", 1);
		model_mark_blocks(&m, 1, 1);
		model_checkpoint(&m, "c1", 2);
		model_mark_blocks(&m, 2, 1);
		model_checkpoint(&m, "c2", 3);
		model_mark_blocks(&m, 3, 1);
		for (int i = 0; i < 3; i++)
			model_dirty(&m, i, -1, before + (size_t)i * m.words);
		ASSERT_EQ(1, bm_count(m.iv[3], m.words));
		ASSERT_EQ(3, bm_count(before, m.words));
		model_delete(&m, victim);
		ASSERT_EQ(2, m.ncp);
		for (int i = 0, j = 0; i < 3; i++) {
			if (i == victim)
				continue;
			since[j] = i;
			model_dirty(&m, j, -1, want);
			EXPECT_EQ(0, memcmp(want, before + (size_t)i * m.words,
					    m.words * sizeof(uint64_t)))
				TH_LOG("delete #%d changed dirty since #%d",
				       victim, since[j]);
			j++;
		}
		/* dirty c0 c2 covers blocks 1 and 2 whichever is left */
		if (victim == 1) {
			model_dirty(&m, 0, 1, want);
			EXPECT_EQ(2, bm_count(want, m.words));
			EXPECT_TRUE(bm_test(want, 1) && bm_test(want, 2));
		}
		/* the newest interval merged into the previous one */
		if (victim == 2)
			EXPECT_EQ(2, bm_count(m.iv[2], m.words));
		/* the interval before the oldest is dropped, not merged */
		if (victim == 0) {
			EXPECT_EQ(1, bm_count(m.iv[0], m.words));
			EXPECT_TRUE(bm_test(m.iv[0], 1));
			EXPECT_FALSE(m.base_unknown);
		}
	}
	model_free(&m);
	free(want);
	free(before);
	free(x.e);
	free(y.e);
}

TEST_HARNESS_MAIN
