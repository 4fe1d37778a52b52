// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest side of the crash-consistency test (tests/rig/test_crash_03.sh).
 * Not named test_*: run_tests.sh must not run it; the mode scripts
 * mode_crashload.sh and mode_crashverify.sh do.
 *
 *   dl_crashload run SEED
 *	Create the dirtylog device "crash" (metadata /dev/vdb, data /dev/vda,
 *	4 KiB blocks) and write forever: random O_DIRECT writes in the first
 *	32 MiB, now and then fdatasync, and every ~50 writes a checkpoint
 *	c<N> after which the region is read back through the device and a
 *	64-bit hash per 4 KiB block is recorded on /dev/vdc (slot N % 64).
 *	Old checkpoints are deleted now and then.  The host kills the VM at
 *	a random moment.  The first boot gets fresh (all-zero) disk images
 *	from the host; later boots continue on the same disks.
 *
 *   dl_crashload verify
 *	Load the device over the existing metadata and, for every checkpoint
 *	with a valid record of the same name and id, check that every block
 *	whose content differs from the record is in "dirty <name>".  KTAP.
 *
 *   dl_crashload run SEED COUNT
 *	As run, but stop after COUNT checkpoints, leaving the device loaded
 *	(tests/vm/test_replay_19.sh).
 *
 * Environment (tests/vm/test_replay_19.sh; the defaults are the above):
 *   DL_CRASH_DEV, DL_CRASH_DATA, DL_CRASH_META, DL_CRASH_SPARE
 *	device name and the three paths; the spare may be a regular file.
 *   DL_CRASH_REGION_MB=N
 *	the region written and checked: its first N MiB (1 to 32).
 *   DL_CRASH_MARK=LW
 *	around every checkpoint create and delete, send "mark cb<N>" /
 *	"mark ca<N>" (create begun / acknowledged) and "mark db<N>" /
 *	"mark da<N>" to the dm-log-writes device LW.
 *   DL_CRASH_REPLAY=1 (verify)
 *	the data and metadata are a replayed earlier state: records marked
 *	deleted still count (the deletion may be later than the state), a
 *	checkpoint without a record fails, and the space-separated names in
 *	DL_CRASH_PRESENT must be listed and those in DL_CRASH_ABSENT must not.
 *
 * Record format on /dev/vdc, slot i at i * 128 KiB: a 4 KiB header (struct
 * rec_hdr, checksummed) followed by the hashes (their own checksum in the
 * header).  A torn record fails its checksum and is ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>
#include <time.h>
#include <unistd.h>

#include "dl-dm.h"
#include "ktap.h"

static const char *DEV_NAME = "crash";
static char DEV_PATH[128] = "/dev/mapper/crash";
static const char *DATA_DEV = "/dev/vda";
static const char *META_DEV = "/dev/vdb";
static const char *SPARE_DEV = "/dev/vdc";
static const char *MARK_DEV;	/* dm-log-writes device to mark, or NULL */
static bool replay_mode;
static uint32_t REGION = 32u << 20;	/* a multiple of 1 MiB */
#define BLOCK_SECTORS	8u
#define BLOCK		4096u
#define NBLOCKS		(REGION / BLOCK)
#define MAX_WRITE	(64u << 10)
#define SLOTS		64u
#define SLOT_BYTES	(128u << 10)
#define HDR_BYTES	4096u
#define HASH_BYTES	(NBLOCKS * 8u)
#define REC_MAGIC	0x314853415243444cULL	/* "DLCRASH1" */
#define REC_VERSION	1u
#define MAX_LIVE	8u
#define MAX_SHOWN	16

struct rec_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t deleted;
	uint64_t seq;		/* N of the checkpoint name c<N> */
	uint64_t id;		/* id the target answered */
	uint64_t seed;		/* of the run that wrote it */
	uint32_t nblocks;
	uint32_t block_bytes;
	uint64_t hashes_sum;	/* checksum of the hashes that follow */
	char name[64];
	uint64_t hdr_sum;	/* checksum of the 4 KiB header, this field 0 */
};

struct record {
	bool valid;
	struct rec_hdr hdr;
	uint64_t *hashes;
};

struct live {
	uint64_t seq;
	uint64_t id;
};

static uint64_t rng_state;

/* splitmix64 */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rnd_below(uint64_t n)
{
	return rnd() % n;
}

/* 64-bit hash of @len bytes (a multiple of 8) of an aligned buffer. */
static uint64_t hash64(const void *p, size_t len, uint64_t h)
{
	const uint64_t *w = p;

	for (size_t i = 0; i < len / 8; i++) {
		h ^= w[i] * 0x87c37b91114253d5ULL;
		h = (h << 31 | h >> 33) * 0x4cf5ad432745937fULL;
	}
	h ^= len;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void *xalloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, BLOCK, len)) {
		fprintf(stderr, "crashload: out of memory\n");
		exit(2);
	}
	memset(p, 0, len);
	return p;
}

static int xopen(const char *path, int flags)
{
	struct stat st;
	int fd;

	/* tmpfs has no O_DIRECT before 6.6: files are opened buffered. */
	if (stat(path, &st) || !S_ISREG(st.st_mode))
		flags |= O_DIRECT;
	fd = open(path, flags | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "crashload: open %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return fd;
}

static void xpwrite(int fd, const void *buf, size_t len, off_t off,
		    const char *what)
{
	ssize_t r = pwrite(fd, buf, len, off);

	if (r != (ssize_t)len) {
		fprintf(stderr, "crashload: write %s (%zu at %jd): %s\n", what,
			len, (intmax_t)off, r < 0 ? strerror(errno) : "short");
		exit(2);
	}
}

static int full_pread(int fd, void *buf, size_t len, off_t off)
{
	ssize_t r = pread(fd, buf, len, off);

	return r == (ssize_t)len ? 0 : -1;
}

static void xfdatasync(int fd, const char *what)
{
	if (fdatasync(fd)) {
		fprintf(stderr, "crashload: fdatasync %s: %s\n", what,
			strerror(errno));
		exit(2);
	}
}

/* Hash every 4 KiB block of the region as read through @path. */
static int region_hashes(const char *path, uint64_t *hashes)
{
	const size_t chunk = 1u << 20;
	unsigned char *buf = xalloc(chunk);
	int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	int r = 0;

	if (fd < 0) {
		free(buf);
		return -1;
	}
	for (uint32_t off = 0; off < REGION && !r; off += chunk) {
		if (full_pread(fd, buf, chunk, off)) {
			r = -1;
			break;
		}
		for (uint32_t b = 0; b < chunk / BLOCK; b++)
			hashes[off / BLOCK + b] = hash64(buf + b * BLOCK, BLOCK, 0);
	}
	close(fd);
	free(buf);
	return r;
}

static uint64_t hdr_checksum(const unsigned char *hdr_block)
{
	unsigned char *tmp = xalloc(HDR_BYTES);
	uint64_t sum;

	memcpy(tmp, hdr_block, HDR_BYTES);
	((struct rec_hdr *)tmp)->hdr_sum = 0;
	sum = hash64(tmp, HDR_BYTES, REC_MAGIC);
	free(tmp);
	return sum;
}

/* Write the record of checkpoint c<seq> (header and hashes) to its slot. */
static void write_record(int spare, uint64_t seq, uint64_t id, uint64_t seed,
			 const uint64_t *hashes)
{
	unsigned char *buf = xalloc(HDR_BYTES + HASH_BYTES);
	struct rec_hdr *h = (struct rec_hdr *)buf;

	h->magic = REC_MAGIC;
	h->version = REC_VERSION;
	h->seq = seq;
	h->id = id;
	h->seed = seed;
	h->nblocks = NBLOCKS;
	h->block_bytes = BLOCK;
	snprintf(h->name, sizeof(h->name), "c%" PRIu64, seq);
	memcpy(buf + HDR_BYTES, hashes, HASH_BYTES);
	h->hashes_sum = hash64(hashes, HASH_BYTES, REC_MAGIC);
	h->hdr_sum = hdr_checksum(buf);
	xpwrite(spare, buf, HDR_BYTES + HASH_BYTES,
		(off_t)(seq % SLOTS) * SLOT_BYTES, "record");
	xfdatasync(spare, "record");
	free(buf);
}

/* Read slot @slot; @rec->valid says whether it holds a sound record. */
static void read_record(int spare, unsigned int slot, struct record *rec,
			bool want_hashes)
{
	size_t len = want_hashes ? HDR_BYTES + HASH_BYTES : HDR_BYTES;
	unsigned char *buf = xalloc(len);
	const struct rec_hdr *h = (const struct rec_hdr *)buf;

	rec->valid = false;
	rec->hashes = NULL;
	if (full_pread(spare, buf, len, (off_t)slot * SLOT_BYTES))
		goto out;
	memcpy(&rec->hdr, h, sizeof(rec->hdr));
	if (h->magic != REC_MAGIC || h->version != REC_VERSION ||
	    h->hdr_sum != hdr_checksum(buf) || h->nblocks != NBLOCKS ||
	    h->block_bytes != BLOCK || h->seq % SLOTS != slot ||
	    !memchr(h->name, 0, sizeof(h->name)))
		goto out;
	if (want_hashes) {
		if (h->hashes_sum != hash64(buf + HDR_BYTES, HASH_BYTES, REC_MAGIC))
			goto out;
		rec->hashes = malloc(HASH_BYTES);
		if (!rec->hashes)
			goto out;
		memcpy(rec->hashes, buf + HDR_BYTES, HASH_BYTES);
	}
	rec->valid = true;
out:
	free(buf);
}

/* Mark the record of c<seq> deleted, if its slot still holds it. */
static void mark_deleted(int spare, uint64_t seq)
{
	unsigned char *buf = xalloc(HDR_BYTES);
	struct rec_hdr *h = (struct rec_hdr *)buf;
	off_t off = (off_t)(seq % SLOTS) * SLOT_BYTES;

	if (!full_pread(spare, buf, HDR_BYTES, off) && h->magic == REC_MAGIC &&
	    h->seq == seq && h->hdr_sum == hdr_checksum(buf)) {
		h->deleted = 1;
		h->hdr_sum = hdr_checksum(buf);
		xpwrite(spare, buf, HDR_BYTES, off, "record header");
		xfdatasync(spare, "record header");
	}
	free(buf);
}

/* One line of list_checkpoints: "<name> <id> <ctime_ns>". */
struct cp {
	char name[64];
	uint64_t id;
};

static int list_checkpoints(struct cp **out, size_t *n, char *err,
			    size_t errlen)
{
	char *resp = NULL, *line, *save = NULL;
	struct cp *cps = NULL;
	size_t cnt = 0, cap = 0;
	int r;

	r = dl_dm_message(DEV_NAME, "list_checkpoints", &resp, err, errlen);
	if (r)
		return r;
	for (line = strtok_r(resp, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct cp c;
		unsigned long long id, ctime;

		if (sscanf(line, "%63s %llu %llu", c.name, &id, &ctime) != 3) {
			snprintf(err, errlen, "bad list_checkpoints line '%s'",
				 line);
			r = -EPROTO;
			break;
		}
		c.id = id;
		if (cnt == cap) {
			struct cp *p;

			cap = cap ? 2 * cap : 16;
			p = realloc(cps, cap * sizeof(*cps));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			cps = p;
		}
		cps[cnt++] = c;
	}
	free(resp);
	if (r) {
		free(cps);
		return r;
	}
	*out = cps;
	*n = cnt;
	return 0;
}

static bool parse_seq(const char *name, uint64_t *seq)
{
	char *end;

	if (name[0] != 'c' || name[1] < '0' || name[1] > '9')
		return false;
	errno = 0;
	*seq = strtoull(name + 1, &end, 10);
	return !errno && !*end;
}

/* "mark <what><seq>" on the dm-log-writes device, if there is one. */
static void log_mark(const char *what, uint64_t seq)
{
	char msg[96], err[256];

	if (!MARK_DEV)
		return;
	snprintf(msg, sizeof(msg), "mark %s%" PRIu64, what, seq);
	if (dl_dm_message(MARK_DEV, msg, NULL, err, sizeof(err))) {
		fprintf(stderr, "crashload: %s on %s: %s\n", msg, MARK_DEV, err);
		exit(2);
	}
}

static void create_device(void)
{
	char err[256];

	if (system("modprobe dm-dirtylog")) {
		fprintf(stderr, "crashload: modprobe dm-dirtylog failed\n");
		exit(2);
	}
	if (dl_dm_create(DEV_NAME, META_DEV, DATA_DEV, BLOCK_SECTORS, err,
			 sizeof(err))) {
		fprintf(stderr, "crashload: cannot create %s: %s\n", DEV_NAME,
			err);
		exit(2);
	}
}

static void delete_checkpoint(int spare, struct live *live, size_t *nlive,
			      size_t i)
{
	char msg[96], err[256];
	int r;

	snprintf(msg, sizeof(msg), "delete_checkpoint c%" PRIu64, live[i].seq);
	log_mark("db", live[i].seq);
	r = dl_dm_message(DEV_NAME, msg, NULL, err, sizeof(err));
	if (r) {
		fprintf(stderr, "crashload: %s\n", err);
		exit(2);
	}
	log_mark("da", live[i].seq);
	/* The target first, then the record: a crash in between leaves a
	 * record without a checkpoint, which verify ignores. */
	mark_deleted(spare, live[i].seq);
	printf("crashload: deleted c%" PRIu64 " (id %" PRIu64 ")\n",
	       live[i].seq, live[i].id);
	memmove(&live[i], &live[i + 1], (*nlive - i - 1) * sizeof(*live));
	(*nlive)--;
}

/* Create checkpoint c<seq>; returns its id.  Exits on failure. */
static uint64_t create_checkpoint(int spare, uint64_t seq, struct live *live,
				  size_t *nlive)
{
	char msg[96], err[256], *resp = NULL, *end;
	unsigned long long id;
	int r;

	snprintf(msg, sizeof(msg), "checkpoint c%" PRIu64, seq);
	log_mark("cb", seq);
	r = dl_dm_message(DEV_NAME, msg, &resp, err, sizeof(err));
	if (r && *nlive) {
		/* Perhaps the target's checkpoint table is full. */
		printf("crashload: %s; deleting the oldest and retrying\n", err);
		delete_checkpoint(spare, live, nlive, 0);
		r = dl_dm_message(DEV_NAME, msg, &resp, err, sizeof(err));
	}
	if (r) {
		fprintf(stderr, "crashload: %s\n", err);
		exit(2);
	}
	log_mark("ca", seq);
	errno = 0;
	id = strtoull(resp, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (errno || end == resp || *end) {
		fprintf(stderr, "crashload: checkpoint answered '%s', not an id\n",
			resp);
		exit(2);
	}
	free(resp);
	return id;
}

/* Seconds since boot as in /proc/uptime ("0" if unreadable). */
static const char *uptime(void)
{
	static char up[32] = "0";
	FILE *f = fopen("/proc/uptime", "r");

	if (f) {
		if (fscanf(f, "%31[0-9.]", up) != 1)
			strcpy(up, "0");
		fclose(f);
	}
	return up;
}

static int live_cmp(const void *a, const void *b)
{
	const struct live *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int cmd_run(uint64_t seed, uint64_t count)
{
	uint64_t *hashes = xalloc(HASH_BYTES);
	unsigned char *buf = xalloc(MAX_WRITE);
	struct live live[SLOTS + 2];
	size_t nlive = 0, ncps = 0;
	uint64_t next_seq = 1, writes = 0, until_cp;
	unsigned int lbs = 512;
	struct cp *cps = NULL;
	char err[256];
	int fd, spare;

	rng_state = seed;
	printf("crashload: seed %" PRIu64 "\n", seed);
	create_device();
	spare = xopen(SPARE_DEV, O_RDWR);

	/* Continue the numbering of earlier boots: past every record and
	 * every checkpoint, so that no name is used twice. */
	for (unsigned int s = 0; s < SLOTS; s++) {
		struct record rec;

		read_record(spare, s, &rec, false);
		if (rec.valid && rec.hdr.seq >= next_seq)
			next_seq = rec.hdr.seq + 1;
	}
	if (list_checkpoints(&cps, &ncps, err, sizeof(err))) {
		fprintf(stderr, "crashload: %s\n", err);
		return 2;
	}
	for (size_t i = 0; i < ncps; i++) {
		uint64_t seq;

		if (!parse_seq(cps[i].name, &seq))
			continue;
		if (seq >= next_seq)
			next_seq = seq + 1;
		if (nlive < SLOTS) {
			live[nlive].seq = seq;
			live[nlive++].id = cps[i].id;
		}
	}
	free(cps);
	qsort(live, nlive, sizeof(*live), live_cmp);
	printf("crashload: %zu checkpoints exist, next is c%" PRIu64 "\n",
	       ncps, next_seq);
	while (nlive > MAX_LIVE)
		delete_checkpoint(spare, live, &nlive, 0);

	fd = xopen(DEV_PATH, O_RDWR);
	if (ioctl(fd, BLKSSZGET, &lbs) || lbs < 512 || lbs > BLOCK)
		lbs = 512;
	/* The host counts its kill from this line (the uptime is for
	 * whoever reads the log). */
	printf("crashload: workload running at uptime %ss (logical block %u)\n",
	       uptime(), lbs);
	until_cp = 30 + rnd_below(41);
	for (;;) {
		uint32_t len, off;

		if (lbs < BLOCK && rnd_below(8) == 0) {
			/* Sector-granular, not 4 KiB-aligned. */
			uint32_t units = REGION / lbs;

			len = lbs * (1 + (uint32_t)rnd_below(32));
			off = lbs * (uint32_t)rnd_below(units - len / lbs + 1);
		} else {
			len = BLOCK * (1 + (uint32_t)rnd_below(MAX_WRITE / BLOCK));
			off = BLOCK * (uint32_t)rnd_below(NBLOCKS - len / BLOCK + 1);
		}
		for (uint32_t i = 0; i < len / 8; i++)
			((uint64_t *)buf)[i] = rnd();
		xpwrite(fd, buf, len, off, DEV_PATH);
		writes++;
		if (rnd_below(10) == 0)
			xfdatasync(fd, DEV_PATH);
		if (--until_cp)
			continue;

		/* Checkpoint, then the region's content as of it. */
		until_cp = 30 + rnd_below(41);
		uint64_t seq = next_seq++;

		for (size_t i = 0; i < nlive; i++) {
			if (live[i].seq % SLOTS == seq % SLOTS) {
				delete_checkpoint(spare, live, &nlive, i);
				break;
			}
		}
		uint64_t id = create_checkpoint(spare, seq, live, &nlive);

		if (region_hashes(DEV_PATH, hashes)) {
			fprintf(stderr, "crashload: reading %s: %s\n", DEV_PATH,
				strerror(errno));
			return 2;
		}
		write_record(spare, seq, id, seed, hashes);
		live[nlive].seq = seq;
		live[nlive++].id = id;
		printf("crashload: checkpoint c%" PRIu64 " id %" PRIu64
		       " recorded after %" PRIu64 " writes\n", seq, id, writes);
		if (nlive > MAX_LIVE)
			delete_checkpoint(spare, live, &nlive, 0);
		else if (nlive > 1 && rnd_below(4) == 0)
			delete_checkpoint(spare, live, &nlive,
					  rnd_below(nlive - 1));
		if (count && !--count)
			break;
	}
	printf("crashload: stopped after %" PRIu64 " writes, %zu checkpoints live\n",
	       writes, nlive);
	close(fd);
	close(spare);
	free(hashes);
	free(buf);
	return 0;
}

/* Dirty extents "<start> <count>" per line into a bitmap of the region. */
static int dirty_bitmap(const char *name, unsigned char *bits,
			uint64_t nr_blocks, uint64_t *ndirty, char *err,
			size_t errlen)
{
	char msg[96], *resp = NULL, *line, *save = NULL;
	int r;

	snprintf(msg, sizeof(msg), "dirty %s", name);
	r = dl_dm_message(DEV_NAME, msg, &resp, err, errlen);
	if (r)
		return r;
	memset(bits, 0, NBLOCKS / 8);
	*ndirty = 0;
	for (line = strtok_r(resp, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		unsigned long long start, count;

		if (sscanf(line, "%llu %llu", &start, &count) != 2 || !count ||
		    start + count > nr_blocks || start + count < start) {
			snprintf(err, errlen, "bad dirty extent '%s' (device has %" PRIu64 " blocks)",
				 line, nr_blocks);
			r = -EPROTO;
			break;
		}
		*ndirty += count;
		for (uint64_t b = start; b < start + count && b < NBLOCKS; b++)
			bits[b / 8] |= 1u << (b % 8);
	}
	free(resp);
	return r;
}

/* The valid, not deleted record of checkpoint @c, or NULL. */
static struct record *record_of(struct record *recs, const struct cp *c)
{
	for (unsigned int s = 0; s < SLOTS; s++)
		if (recs[s].valid && (replay_mode || !recs[s].hdr.deleted) &&
		    !strcmp(recs[s].hdr.name, c->name) && recs[s].hdr.id == c->id)
			return &recs[s];
	return NULL;
}

/* Is checkpoint @name in the list? */
static bool listed(const struct cp *cps, size_t ncps, const char *name)
{
	for (size_t i = 0; i < ncps; i++)
		if (!strcmp(cps[i].name, name))
			return true;
	return false;
}

/*
 * Check the names in $DL_CRASH_PRESENT are listed and those in
 * $DL_CRASH_ABSENT are not; one diagnostic line per violation.
 */
static bool check_expected(const struct cp *cps, size_t ncps)
{
	static const char *const vars[2] = { "DL_CRASH_PRESENT", "DL_CRASH_ABSENT" };
	bool good = true;

	for (int v = 0; v < 2; v++) {
		const char *list = getenv(vars[v]);
		char *copy, *tok, *save = NULL;

		if (!list)
			continue;
		copy = strdup(list);
		if (!copy)
			return false;
		for (tok = strtok_r(copy, " ", &save); tok;
		     tok = strtok_r(NULL, " ", &save)) {
			if (listed(cps, ncps, tok) == (v == 0))
				continue;
			printf("# checkpoint %s: %s\n", tok, v == 0 ?
			       "acknowledged and not deleted, but missing" :
			       "never created or deletion acknowledged, but listed");
			good = false;
		}
		free(copy);
	}
	return good;
}

static int cmd_verify(void)
{
	struct record recs[SLOTS];
	struct dl_dm_info info;
	uint64_t *now = xalloc(HASH_BYTES);
	unsigned char *bits = xalloc(NBLOCKS / 8);
	char err[256], state[64] = "", *f[8] = { 0 }, *save = NULL, *tok;
	struct cp *cps = NULL;
	size_t ncps = 0, nverify = 0;
	uint64_t nr_blocks = NBLOCKS;
	int spare, nf = 0, list_r, r;
	bool readable = false;

	printf("KTAP version 1\n");
	if (system("modprobe dm-dirtylog")) {
		printf("1..1\nnot ok 1 modprobe dm-dirtylog\n");
		return 1;
	}
	/* Loading over the crashed metadata is a result of its own. */
	if (dl_dm_create(DEV_NAME, META_DEV, DATA_DEV, BLOCK_SECTORS, err,
			 sizeof(err))) {
		printf("1..1\n# %s\n", err);
		printf("not ok 1 device loads over the crashed metadata\n");
		printf("crashverify: 0 checkpoints verified\n");
		return 1;
	}

	/* <block_sectors> <nr_blocks> <dirty_active> <nr_checkpoints>
	 * <latest_id> <used>/<total> <state> */
	if (dl_dm_info(DEV_NAME, &info, err, sizeof(err))) {
		printf("# status: %s\n", err);
	} else {
		printf("# status: %s\n", info.status);
		for (tok = strtok_r(info.status, " ", &save); tok && nf < 8;
		     tok = strtok_r(NULL, " ", &save))
			f[nf++] = tok;
		if (nf >= 7) {
			snprintf(state, sizeof(state), "%s", f[6]);
			nr_blocks = strtoull(f[1], NULL, 10);
		}
	}
	list_r = list_checkpoints(&cps, &ncps, err, sizeof(err));
	if (list_r)
		printf("# %s\n", err);

	spare = xopen(SPARE_DEV, O_RDONLY);
	for (unsigned int s = 0; s < SLOTS; s++)
		read_record(spare, s, &recs[s], true);
	close(spare);
	for (size_t i = 0; i < ncps; i++)
		if (record_of(recs, &cps[i]))
			nverify++;
	if (nverify)
		readable = !region_hashes(DEV_PATH, now);

	printf("1..%zu\n", 4 + nverify + (replay_mode ? 2 : 0));
	ktap_result(true, "device loads over the crashed metadata");
	ktap_result(!strcmp(state, "rw"), "status state is rw (got '%s')", state);
	ktap_result(!list_r, "list_checkpoints answers (%zu checkpoints)", ncps);
	if (replay_mode) {
		ktap_result(nverify == ncps,
			    "every checkpoint has a record of its creation (%zu of %zu)",
			    nverify, ncps);
		ktap_result(!list_r && check_expected(cps, ncps),
			    "checkpoint list agrees with the acknowledged operations");
	}

	/* Records of deleted checkpoints are expected; others without a
	 * checkpoint (one lost in the crash?) are worth a line. */
	unsigned int gone = 0;

	for (unsigned int s = 0; s < SLOTS; s++) {
		bool found = false;

		/* In an earlier state most records are of the future. */
		if (!recs[s].valid || replay_mode)
			continue;
		for (size_t i = 0; i < ncps && !found; i++)
			found = !strcmp(recs[s].hdr.name, cps[i].name) &&
				recs[s].hdr.id == cps[i].id;
		if (!found && recs[s].hdr.deleted)
			gone++;
		else if (!found)
			printf("# record %s (id %" PRIu64 ") has no checkpoint: ignored\n",
			       recs[s].hdr.name, recs[s].hdr.id);
		else if (recs[s].hdr.deleted)
			printf("# record %s (id %" PRIu64 ") is marked deleted but the checkpoint exists: skipped\n",
			       recs[s].hdr.name, recs[s].hdr.id);
	}
	printf("# %u records of deleted checkpoints ignored\n", gone);
	for (size_t i = 0; i < ncps; i++) {
		struct record *rec = record_of(recs, &cps[i]);
		uint64_t changed = 0, missed = 0, ndirty = 0;

		if (!rec) {
			printf("# checkpoint %s (id %" PRIu64 ") has no valid record: skipped\n",
			       cps[i].name, cps[i].id);
			continue;
		}
		if (!readable) {
			ktap_result(false, "checkpoint %s (id %" PRIu64 "): %s unreadable",
			       cps[i].name, cps[i].id, DEV_PATH);
			continue;
		}
		r = dirty_bitmap(cps[i].name, bits, nr_blocks, &ndirty, err,
				 sizeof(err));
		if (r) {
			printf("# %s\n", err);
			ktap_result(false, "checkpoint %s (id %" PRIu64 "): dirty set unavailable",
			       cps[i].name, cps[i].id);
			continue;
		}
		/* Changed blocks outside the dirty set, shown as extents. */
		char ext[512] = "";
		size_t elen = 0;
		unsigned int shown = 0;
		uint32_t run = 0;

		for (uint32_t b = 0; b <= NBLOCKS; b++) {
			bool bad = b < NBLOCKS && now[b] != rec->hashes[b] &&
				   !(bits[b / 8] & (1u << (b % 8)));

			if (b < NBLOCKS && now[b] != rec->hashes[b])
				changed++;
			if (bad) {
				if (!missed++)
					printf("# %s: block %u changed (hash %016" PRIx64
					       " at the checkpoint, %016" PRIx64
					       " now) but is not dirty\n",
					       cps[i].name, b, rec->hashes[b], now[b]);
				run++;
				continue;
			}
			if (run && shown++ < MAX_SHOWN && elen < sizeof(ext))
				elen += snprintf(ext + elen, sizeof(ext) - elen,
						 " %u+%u", b - run, run);
			run = 0;
		}
		if (missed)
			printf("# %s: changed, not dirty (start+count):%s%s\n",
			       cps[i].name, ext, shown > MAX_SHOWN ? " ..." : "");
		ktap_result(!missed,
		       "checkpoint %s (id %" PRIu64 "): %" PRIu64 " changed blocks, %"
		       PRIu64 " outside its %" PRIu64 "-block dirty set",
		       cps[i].name, cps[i].id, changed, missed, ndirty);
	}

	/* A clean teardown: the next boot starts from a removed device. */
	r = dl_dm_remove(DEV_NAME, err, sizeof(err));
	if (r)
		printf("# %s\n", err);
	ktap_result(!r, "device removes");

	printf("crashverify: %zu checkpoints verified\n", nverify);
	for (unsigned int s = 0; s < SLOTS; s++)
		free(recs[s].hashes);
	free(cps);
	free(now);
	free(bits);
	return ktap_failed ? 1 : 0;
}

static void env_config(void)
{
	const char *v;

	if ((v = getenv("DL_CRASH_DEV")) && *v) {
		DEV_NAME = v;
		snprintf(DEV_PATH, sizeof(DEV_PATH), "/dev/mapper/%s", v);
	}
	if ((v = getenv("DL_CRASH_DATA")) && *v)
		DATA_DEV = v;
	if ((v = getenv("DL_CRASH_META")) && *v)
		META_DEV = v;
	if ((v = getenv("DL_CRASH_SPARE")) && *v)
		SPARE_DEV = v;
	if ((v = getenv("DL_CRASH_REGION_MB")) && *v) {
		unsigned long mb = strtoul(v, NULL, 10);

		if (mb < 1 || mb > 32) {
			fprintf(stderr, "crashload: DL_CRASH_REGION_MB must be 1 to 32\n");
			exit(2);
		}
		REGION = (uint32_t)mb << 20;
	}
	if ((v = getenv("DL_CRASH_MARK")) && *v)
		MARK_DEV = v;
	replay_mode = (v = getenv("DL_CRASH_REPLAY")) && *v && strcmp(v, "0");
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	env_config();
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "run"))
		return cmd_run(strtoull(argv[2], NULL, 0),
			       argc == 4 ? strtoull(argv[3], NULL, 0) : 0);
	if (argc == 2 && !strcmp(argv[1], "verify"))
		return cmd_verify();
	fprintf(stderr, "usage: dl_crashload run SEED [COUNT] | dl_crashload verify\n");
	return 2;
}
