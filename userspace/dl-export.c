// SPDX-License-Identifier: GPL-2.0-only
/*
 * Export of changed data and revert.
 *
 * Point in time.  The dirtylog device NAME maps onto data device D.  An
 * export builds, under one suspend of NAME:
 *
 *	NAME (dirtylog) -> NAME.xo (snapshot-origin D) -> D
 *	NAME.xs (snapshot D COW N 8): D as it was at the suspend
 *
 * and creates the new checkpoint while NAME is suspended, so the checkpoint
 * and the snapshot are the same instant: every write before it is on D, none
 * after it has reached D (the origin copies what it overwrites into the
 * COW store first).  The export reads the snapshot; afterwards NAME is put
 * back on D and both helpers are removed.
 *
 * Reading.  The dirty blocks are read in segments of at most SEG_BYTES,
 * aligned, with direct I/O, by NR_READERS threads into NR_SLOTS buffers;
 * clean gaps of at most GAP_BYTES between dirty blocks are read through
 * rather than split (never emitted).  Records go out in order: per unit of
 * min(block size, SEG_BYTES) bytes, data, or zero when it is all zeroes.
 */
#include "dl-export.h"
#include "dl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dl-bmfile.h"		/* dl_crc32c() */
#include "dl-diff.h"
#include "dl-dm.h"
#include "dl-lvm.h"
#include "dl-pit.h"
#include "dl-qcow2.h"

#define SEG_BYTES	(1u << 20)
#define GAP_BYTES	(64u << 10)
#define NR_SLOTS	8
#define NR_READERS	4
#define SNAP_CHUNK_SECTORS	1024
#define COW_MIN_BYTES	(256ull << 20)

volatile int dl_export_interrupted;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void dl_progress_show(struct dl_progress_line *pg, bool final)
{
	double t = now_s(), el = t - pg->start, rate;

	if (pg->mode == DL_PROGRESS_NONE || (!final && t - pg->last < 1.0))
		return;
	pg->last = t;
	rate = el > 0 ? pg->done / el : 0;
	if (pg->mode == DL_PROGRESS_JSON) {
		fprintf(stderr, "{\"%s_bytes_done\":%" PRIu64 ",\"bytes_total\":%" PRIu64
			",\"bytes_per_second\":%.0f,\"eta_seconds\":%.0f,\"final\":%s}\n",
			pg->what, pg->done, pg->total, rate,
			rate > 0 ? (pg->total - pg->done) / rate : -1.0,
			final ? "true" : "false");
	} else {
		fprintf(stderr, "\r%s: %" PRIu64 " / %" PRIu64 " MiB, %.1f MiB/s, ETA %.0f s   %s",
			pg->what, pg->done >> 20, pg->total >> 20, rate / 1048576,
			rate > 0 ? (pg->total - pg->done) / rate : 0.0,
			final ? "\n" : "");
	}
}

void dl_progress_init(struct dl_progress_line *pg, enum dl_progress mode,
		      uint64_t total, const char *what)
{
	if (mode == DL_PROGRESS_AUTO)
		mode = isatty(STDERR_FILENO) ? DL_PROGRESS_AUTO : DL_PROGRESS_NONE;
	pg->mode = mode;
	pg->total = total;
	pg->done = 0;
	pg->start = pg->last = now_s();
	pg->what = what;
}

int dl_export_format_parse(const char *s)
{
	if (!strcmp(s, "native"))
		return DL_EXPORT_NATIVE;
	if (!strcmp(s, "rbd-diff"))
		return DL_EXPORT_RBD;
	if (!strcmp(s, "qcow2"))
		return DL_EXPORT_QCOW2;
	if (!strcmp(s, "raw"))
		return DL_EXPORT_RAW;
	return -1;
}

const char *dl_export_format_name(enum dl_export_format f)
{
	static const char *const names[] = { "native", "rbd-diff", "qcow2", "raw" };

	return f <= DL_EXPORT_RAW ? names[f] : "?";
}

/* ---------------------------------------------------------------------- */
/* Dirty map */

struct dmap {
	uint64_t *bits;
	uint64_t nr;		/* blocks */
	uint64_t dirty;
};

static bool dmap_test(const struct dmap *m, uint64_t b)
{
	return b < m->nr && (m->bits[b / 64] >> (b % 64) & 1);
}

static int dmap_extent(uint64_t start, uint64_t count, void *arg)
{
	struct dmap *m = arg;

	if (start > m->nr || count > m->nr - start)
		return -ERANGE;
	for (uint64_t b = start; b < start + count; b++)
		m->bits[b / 64] |= 1ull << (b % 64);
	return 0;
}

static int dmap_chunk(uint64_t start, const uint8_t *bits, uint64_t nbits,
		      void *arg)
{
	struct dmap *m = arg;

	for (uint64_t i = 0; i < nbits; i++) {
		if (!(bits[i / 8] >> (i % 8) & 1))
			continue;
		if (start + i >= m->nr)
			return -ERANGE;
		m->bits[(start + i) / 64] |= 1ull << ((start + i) % 64);
	}
	return 0;
}

static void dmap_restart(void *arg)
{
	struct dmap *m = arg;

	memset(m->bits, 0, (m->nr + 63) / 64 * 8);
}

static void dmap_count(struct dmap *m)
{
	m->dirty = 0;
	for (uint64_t i = 0; i < (m->nr + 63) / 64; i++)
		m->dirty += (uint64_t)__builtin_popcountll(m->bits[i]);
}

/* The first dirty block at or after @b, or m->nr. */
static uint64_t dmap_next(const struct dmap *m, uint64_t b)
{
	while (b < m->nr) {
		uint64_t w = m->bits[b / 64] >> (b % 64);

		if (w)
			return b + (uint64_t)__builtin_ctzll(w);
		b = (b / 64 + 1) * 64;
	}
	return m->nr;
}

/* ---------------------------------------------------------------------- */
/* Point-in-time snapshot */


/* Replace the second word of a dirtylog table (the data device). */
static int swap_data(const char *params, uint32_t major, uint32_t minor,
		     char *out, size_t outlen)
{
	const char *a = strchr(params, ' '), *b;

	if (!a)
		return -EINVAL;
	b = strchr(a + 1, ' ');
	if (!b)
		return -EINVAL;
	if (snprintf(out, outlen, "%.*s %u:%u%s", (int)(a - params), params,
		     major, minor, b) >= (int)outlen)
		return -E2BIG;
	return 0;
}

static int sysfs_sectors(uint32_t major, uint32_t minor, uint64_t *sectors)
{
	char path[64];
	FILE *f;
	int r = -EIO;

	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/size", major, minor);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%" SCNu64, sectors) == 1)
		r = 0;
	fclose(f);
	return r;
}

/*
 * Open the snapshot's copy-on-write store: a block device as it is, a file
 * (made here at @bytes when it does not exist) through a loop device, or
 * with no @cow a temporary file in $TMPDIR or /var/tmp, unlinked at once.
 * @hold keeps a loop device alive until the snapshot holds it.
 */
static int cow_open(const char *cow, uint64_t bytes, char *dev, size_t devlen,
		    int *hold, char *err, size_t errlen)
{
	char tmpl[PATH_MAX];
	struct stat st;
	const char *dir;
	bool made = false;
	int fd, r;

	*hold = -1;
	if (cow && !stat(cow, &st) && S_ISBLK(st.st_mode)) {
		snprintf(dev, devlen, "%u:%u", major(st.st_rdev), minor(st.st_rdev));
		return 0;
	}
	if (cow) {
		snprintf(tmpl, sizeof(tmpl), "%s", cow);
		fd = open(cow, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			made = true;
		else if (errno == EEXIST)
			fd = open(cow, O_RDWR | O_CLOEXEC);
	} else {
		dir = getenv("TMPDIR");
		if (!dir || !*dir)
			dir = access("/var/tmp", W_OK) ? "/tmp" : "/var/tmp";
		snprintf(tmpl, sizeof(tmpl), "%s/dirtylog-cow-XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		made = fd >= 0;
	}
	if (fd < 0)
		return dl_fail(err, errlen, errno, "cannot open the snapshot store %s: %s",
			    tmpl, strerror(errno));
	if (made && ftruncate(fd, (off_t)bytes)) {
		r = dl_fail(err, errlen, errno, "cannot size the snapshot store %s: %s",
			 tmpl, strerror(errno));
		close(fd);
		unlink(tmpl);
		return r;
	}
	close(fd);
	r = dl_loop_attach(tmpl, dev, devlen, hold, err, errlen);
	/* The loop device keeps a temporary file alive; nothing else needs its name. */
	if (!cow || (r && made))
		unlink(tmpl);
	return r;
}

/*
 * Remove dm device @name in a child process, while the caller goes on:
 * the child's pid, or -1 (not forked: the caller removes it itself).
 */
static pid_t remove_in_child(const char *name)
{
	pid_t kid = fork();

	if (!kid) {
		char e[256];

		_exit(dl_dm_remove_any(name, e, sizeof(e)) ? 1 : 0);
	}
	return kid;
}

/* Did the child of remove_in_child() remove its device? */
static bool child_removed(pid_t kid)
{
	int st;

	if (kid <= 0)
		return false;
	while (waitpid(kid, &st, 0) < 0)
		if (errno != EINTR)
			return false;
	return WIFEXITED(st) && !WEXITSTATUS(st);
}

int dl_pit_release(struct dl_pit *p, char *err, size_t errlen)
{
	char e2[256];
	int r = 0, r2;

	if (p->lvm_mode)
		return dl_lvm_remove(&p->lvm, err, errlen);
	if (p->reloaded) {
		/*
		 * The snapshot does not depend on NAME's table: a child removes
		 * it while NAME goes back onto D (both wait for the kernel,
		 * mostly for RCU grace periods: 20-60 ms each in a TCG guest).
		 * A snapshot the child could not remove is removed below, with
		 * the error reported.
		 */
		pid_t kid = p->snap_made ? remove_in_child(p->snap) : -1;

		r = dl_dm_reload(p->dev, DL_TARGET_NAME, p->params, p->sectors,
				 err, errlen);
		if (!r)
			r = dl_dm_suspend(p->dev, err, errlen);
		r2 = dl_dm_resume(p->dev, r ? e2 : err, r ? sizeof(e2) : errlen);
		if (!r)
			r = r2;
		if (!r) {
			p->reloaded = false;
			/*
			 * NAME is off the origin, which holds nothing the
			 * snapshot needs: it goes while the child works (a
			 * failure is retried, and reported, below).
			 */
			if (p->origin_made && !dl_dm_remove_any(p->origin, e2, sizeof(e2)))
				p->origin_made = false;
		}
		if (child_removed(kid))
			p->snap_made = false;
		if (r)
			return r;	/* NAME still needs the origin: keep it */
	}
	if (p->snap_made) {
		r = dl_dm_remove_any(p->snap, err, errlen);
		if (r)
			return r;
		p->snap_made = false;
	}
	if (p->origin_made) {
		r = dl_dm_remove_any(p->origin, err, errlen);
		if (r)
			return r;
		p->origin_made = false;
	}
	return 0;
}

/* NAME's table and its data device. */
static int pit_table(struct dl_pit *p, const char *dev, char *err, size_t errlen)
{
	char target[64];
	int r;

	memset(p, 0, sizeof(*p));
	snprintf(p->dev, sizeof(p->dev), "%s", dev);
	r = dl_dm_table(dev, target, sizeof(target), p->params, sizeof(p->params),
			&p->sectors, err, errlen);
	if (r)
		return r;
	if (strcmp(target, DL_TARGET_NAME))
		return dl_fail(err, errlen, EINVAL, "%s is not a dirtylog device", dev);
	if (sscanf(p->params, "%*s %u:%u", &p->data_major, &p->data_minor) != 2)
		return dl_fail(err, errlen, EINVAL, "cannot parse the table of %s: %s",
			    dev, p->params);
	return 0;
}

/*
 * --lvm: the data device is an LVM logical volume VG/LV.  Its PVs are found
 * first; then, under one suspend of NAME, @instant(@arg) and
 * "lvcreate --snapshot -n NAME-xs VG/LV", which looks at nothing but those
 * PVs (it must not open NAME while it is suspended) and is killed after
 * DL_LVM_SUSPENDED_TIMEOUT_S.  NAME stays on the LV: LVM turns the LV itself into
 * the snapshot origin, under the same device number.  @cow_bytes is the
 * snapshot's size; when it is only the default (@cow_default), no more
 * than the VG has free.
 */
int dl_pit_take_lvm(struct dl_pit *p, const char *dev, uint64_t cow_bytes,
			bool cow_default,
			int (*instant)(void *arg, char *err, size_t errlen),
			void *arg, char *err, size_t errlen)
{
	char snap[DL_NL_DEV_NAME_LEN + 8], e2[256];
	int r, r2;

	r = pit_table(p, dev, err, errlen);
	if (r)
		return r;
	snprintf(snap, sizeof(snap), "%s-xs", dev);
	r = dl_lvm_open(&p->lvm, p->data_major, p->data_minor, snap, err, errlen);
	if (r)
		return r;
	p->lvm_mode = true;
	if (cow_default && cow_bytes > p->lvm.free_bytes && p->lvm.extent_bytes)
		cow_bytes = p->lvm.free_bytes / p->lvm.extent_bytes * p->lvm.extent_bytes;
	if (!cow_bytes)
		return dl_fail(err, errlen, ENOSPC,
			    "--lvm: VG %s has no free extent for the snapshot",
			    p->lvm.vg);

	r = dl_dm_suspend(dev, err, errlen);
	if (r)
		return r;
	/* Nothing is in flight to the LV: the checkpoint and the snapshot are one instant. */
	r = instant(arg, err, errlen);
	if (!r)
		r = dl_lvm_snapshot(&p->lvm, cow_bytes, err, errlen);
	r2 = dl_dm_resume(dev, r ? e2 : err, r ? sizeof(e2) : errlen);
	if (r && r2)
		fprintf(stderr, "dirtylogctl export: also cannot resume %s: %s\n", dev, e2);
	dl_lvm_reap(&p->lvm);
	if (!r)
		r = r2;
	if (!r)
		r = dl_lvm_wait_node(&p->lvm, err, errlen);
	if (!r)
		snprintf(p->path, sizeof(p->path), "%s", p->lvm.path);
	if (r && dl_pit_release(p, e2, sizeof(e2)))
		fprintf(stderr, "dirtylogctl export: also cannot remove the snapshot LV %s/%s: %s\n",
			p->lvm.vg, p->lvm.snap, e2);
	return r;
}

/*
 * Build the snapshot and call @instant(@arg) while NAME is suspended.  On
 * failure everything built is removed again.
 */
int dl_pit_take(struct dl_pit *p, const char *dev, const char *cow,
		    uint64_t cow_bytes,
		    int (*instant)(void *arg, char *err, size_t errlen), void *arg,
		    char *err, size_t errlen)
{
	char params[512], cowdev[PATH_MAX], table[PATH_MAX + 64];
	char e2[256];
	uint32_t omaj, omin, smaj, smin, chunk;
	uint64_t data_sectors;
	int hold = -1, r, r2;

	r = pit_table(p, dev, err, errlen);
	if (r)
		return r;
	r = sysfs_sectors(p->data_major, p->data_minor, &data_sectors);
	if (r)
		return dl_fail(err, errlen, -r, "cannot size data device %u:%u: %s",
			    p->data_major, p->data_minor, strerror(-r));
	snprintf(p->origin, sizeof(p->origin), "%s.xo", dev);
	snprintf(p->snap, sizeof(p->snap), "%s.xs", dev);

	r = cow_open(cow, cow_bytes, cowdev, sizeof(cowdev), &hold, err, errlen);
	if (r)
		return r;
	snprintf(table, sizeof(table), "%u:%u", p->data_major, p->data_minor);
	r = dl_dm_create_table(p->origin, "snapshot-origin", table, data_sectors,
			       err, errlen);
	if (r)
		goto out;
	p->origin_made = true;
	r = dl_dm_devnum(p->origin, &omaj, &omin, err, errlen);
	if (!r && swap_data(p->params, omaj, omin, params, sizeof(params)))
		r = dl_fail(err, errlen, EINVAL, "cannot parse the table of %s: %s",
			 dev, p->params);
	if (!r)
		r = dl_dm_reload(dev, DL_TARGET_NAME, params, p->sectors, err, errlen);
	if (r)
		goto out;
	p->reloaded = true;	/* at the next resume */

	r = dl_dm_suspend(dev, err, errlen);
	if (r)
		goto out;
	/* Nothing writes to D now: the snapshot and the checkpoint are one instant. */
	/*
	 * 512 KiB chunks: dm-snapshot splits every read into chunks (a 4 KiB
	 * chunk made a 1 MiB read 256 bios, 64 KiB ones cost 12% more time
	 * than 512 KiB in bench_export); a write during the export copies
	 * its chunk first, once.
	 */
	chunk = SNAP_CHUNK_SECTORS;
	snprintf(table, sizeof(table), "%u:%u %s N %u", p->data_major,
		 p->data_minor, cowdev, chunk);
	r = dl_dm_create_table(p->snap, "snapshot", table, data_sectors, err, errlen);
	if (!r) {
		p->snap_made = true;
		r = instant(arg, err, errlen);
	}
	r2 = dl_dm_resume(dev, r ? e2 : err, r ? sizeof(e2) : errlen);
	if (!r)
		r = r2;
	if (!r && dl_dm_devnum(p->snap, &smaj, &smin, err, errlen) == 0)
		snprintf(p->path, sizeof(p->path), "/dev/mapper/%s", p->snap);
	if (!r && access(p->path, R_OK))
		r = dl_fail(err, errlen, errno, "snapshot node %s: %s", p->path,
			 strerror(errno));
out:
	if (hold >= 0)
		close(hold);
	if (r)
		dl_pit_release(p, e2, sizeof(e2));
	return r;
}

/*
 * $DIRTYLOGCTL_SNAPSHOT_HOOK: a shell command run with the snapshot's node
 * as $1 before the export reads it (tests hash the snapshot with it).  A
 * non-zero exit fails the export.
 */
static int run_hook(const char *path, char *err, size_t errlen)
{
	const char *hook = getenv("DIRTYLOGCTL_SNAPSHOT_HOOK");
	int status;
	pid_t pid;

	if (!hook || !*hook)
		return 0;
	pid = fork();
	if (pid < 0)
		return dl_fail(err, errlen, errno, "cannot run the snapshot hook: %s",
			    strerror(errno));
	if (!pid) {
		dup2(STDERR_FILENO, STDOUT_FILENO);	/* stdout may carry the stream */
		execl("/bin/sh", "sh", "-c", hook, "dirtylogctl-hook", path, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return dl_fail(err, errlen, errno, "snapshot hook: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		return dl_fail(err, errlen, EIO, "the snapshot hook failed");
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Output sinks: the diff stream writers and qcow2 */

/* The diff writers report into the err buffer given at open; qcow2 keeps its own. */
struct sink {
	enum dl_export_format fmt;
	struct dl_diff_writer *w;
	struct dl_qcow2 *q;
	char *err;
	size_t errlen;
};

static int sink_qcow2_err(struct sink *s, int r)
{
	if (r)
		snprintf(s->err, s->errlen, "%s", dl_qcow2_error(s->q));
	return r;
}

/* @crc: dl_crc32c(0, @buf, @len) when the sink wants checksums (native). */
static int sink_data(struct sink *s, uint64_t off, uint64_t len, const void *buf,
		     uint32_t crc)
{
	if (s->q)
		return sink_qcow2_err(s, dl_qcow2_write(s->q, off, len, buf));
	if (s->fmt == DL_EXPORT_NATIVE)
		return dl_diff_write_data_crc(s->w, off, len, buf, crc);
	return dl_diff_write_data(s->w, off, len, buf);
}

static int sink_zero(struct sink *s, uint64_t off, uint64_t len)
{
	if (s->q)
		return sink_qcow2_err(s, dl_qcow2_zero(s->q, off, len));
	return dl_diff_write_zero(s->w, off, len);
}

static int sink_finish(struct sink *s)
{
	if (s->q)
		return sink_qcow2_err(s, dl_qcow2_finish(s->q));
	return dl_diff_writer_finish(s->w);
}

static void sink_free(struct sink *s)
{
	if (s->q)
		dl_qcow2_free(s->q);
	if (s->w)
		dl_diff_writer_free(s->w);
	s->q = NULL;
	s->w = NULL;
}

/* ---------------------------------------------------------------------- */
/* Reader pipeline */

struct seg {
	uint64_t off, len;	/* bytes to read */
};

struct pipeline {
	int fd;
	struct seg *segs;
	uint64_t nr_segs;
	void *buf[NR_SLOTS];
	int state[NR_SLOTS];	/* 0 free, 1 reading, 2 done, 3 failed */
	uint64_t slot_seg[NR_SLOTS];
	uint64_t next;		/* next segment a reader takes */
	uint64_t consumed;	/* segments the consumer finished */
	int error;		/* errno of a failed read */
	bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *reader(void *arg)
{
	struct pipeline *pl = arg;

	pthread_mutex_lock(&pl->lock);
	for (;;) {
		uint64_t i;
		unsigned int slot;
		ssize_t n = 0;
		int e = 0;

		/* Take the next segment once its slot is free again. */
		while (!pl->stop && pl->next < pl->nr_segs &&
		       pl->next >= pl->consumed + NR_SLOTS)
			pthread_cond_wait(&pl->cond, &pl->lock);
		if (pl->stop || pl->next >= pl->nr_segs)
			break;
		i = pl->next++;
		slot = i % NR_SLOTS;
		pl->state[slot] = 1;
		pl->slot_seg[slot] = i;
		pthread_mutex_unlock(&pl->lock);

		for (uint64_t done = 0; done < pl->segs[i].len; done += (uint64_t)n) {
			n = pread(pl->fd, (char *)pl->buf[slot] + done,
				  pl->segs[i].len - done,
				  (off_t)(pl->segs[i].off + done));
			if (n <= 0) {
				e = n ? errno : EIO;	/* short: the device shrank */
				break;
			}
		}

		pthread_mutex_lock(&pl->lock);
		pl->state[slot] = e ? 3 : 2;
		if (e && !pl->error)
			pl->error = e;
		pthread_cond_broadcast(&pl->cond);
	}
	pthread_mutex_unlock(&pl->lock);
	return NULL;
}

/* Cut the dirty blocks of @m into read segments (clean gaps <= GAP_BYTES read through). */
static int plan_segments(const struct dmap *m, uint64_t bs, uint64_t size,
			 struct seg **out, uint64_t *nr, uint64_t *read_bytes)
{
	uint64_t cap = 1024, n = 0, b = dmap_next(m, 0), total = 0;
	struct seg *s = malloc(cap * sizeof(*s));

	if (!s)
		return -ENOMEM;
	while (b < m->nr) {
		uint64_t off = b * bs, end = off + bs;

		/* Extend over following dirty blocks and small gaps. */
		for (;;) {
			uint64_t nb, nend;

			if (end >= size || end - off >= SEG_BYTES)
				break;
			nb = dmap_next(m, end / bs);
			if (nb >= m->nr || nb * bs - end > GAP_BYTES)
				break;
			nend = (nb + 1) * bs;
			if (nend - off > SEG_BYTES)
				break;
			end = nend;
		}
		if (end > size)
			end = size;
		/* A block larger than a segment goes in segment-sized pieces. */
		for (uint64_t o = off; o < end; o += SEG_BYTES) {
			if (n == cap) {
				struct seg *t = realloc(s, 2 * cap * sizeof(*s));

				if (!t) {
					free(s);
					return -ENOMEM;
				}
				s = t;
				cap *= 2;
			}
			s[n].off = o;
			s[n].len = end - o < SEG_BYTES ? end - o : SEG_BYTES;
			total += s[n].len;
			n++;
		}
		b = dmap_next(m, (end + bs - 1) / bs);
	}
	*out = s;
	*nr = n;
	*read_bytes = total;
	return 0;
}

static bool all_zero(const void *buf, size_t len)
{
	static const char zeroes[65536];
	const char *p = buf;

	/* libc's memcmp is vectorised: much faster than a word loop. */
	while (len) {
		size_t n = len < sizeof(zeroes) ? len : sizeof(zeroes);

		if (memcmp(p, zeroes, n))
			return false;
		p += n;
		len -= n;
	}
	return true;
}

/*
 * Is the unit @p of @len bytes all zeroes?  For a native stream the unit's
 * crc32c is computed here anyway (into @crc, for its record): a unit whose
 * crc is not that of @len zero bytes cannot be zero, so the data is read
 * once; only a match is confirmed byte by byte.
 */
struct zero_test {
	bool want_crc;
	uint64_t zlen;		/* the length zcrc is for */
	uint32_t zcrc;		/* crc32c of zlen zero bytes */
};

static bool unit_is_zero(struct zero_test *zt, const char *p, uint64_t len,
			 uint32_t *crc)
{
	if (!zt->want_crc)
		return all_zero(p, len);
	*crc = dl_crc32c(0, p, len);
	if (zt->zlen != len) {
		uint32_t z = dl_crc32c(0, p, 0);
		uint64_t left = len;

		while (left) {
			static const char zeroes[65536];
			uint64_t n = left < sizeof(zeroes) ? left : sizeof(zeroes);

			z = dl_crc32c(z, zeroes, n);
			left -= n;
		}
		zt->zlen = len;
		zt->zcrc = z;
	}
	return *crc == zt->zcrc && all_zero(p, len);
}

/* The pending data run of a segment: [doff, doff + dlen) with crc dcrc. */
struct data_run {
	uint64_t doff, dlen;
	uint32_t dcrc;
};

static int flush_run(struct sink *sk, struct data_run *dr, const struct seg *sg,
		     const char *buf, struct dl_export_result *res)
{
	int r;

	if (!dr->dlen)
		return 0;
	r = sink_data(sk, dr->doff, dr->dlen, buf + (dr->doff - sg->off), dr->dcrc);
	if (r)
		return r;
	res->data_bytes += dr->dlen;
	dr->dlen = 0;
	return 0;
}

/*
 * Emit the dirty units of one segment: data, or zero for a unit that is
 * all zeroes.  Zero runs are joined across segments in @zoff, @zlen.
 */
static int emit_segment(struct sink *sk, const struct dmap *m, uint64_t bs,
			uint64_t unit, const struct seg *sg, const char *buf,
			struct zero_test *zt, uint64_t *zoff, uint64_t *zlen,
			struct dl_export_result *res)
{
	struct data_run dr = { 0 };
	int r;

	for (uint64_t o = sg->off; o < sg->off + sg->len; o += unit) {
		uint64_t len = sg->off + sg->len - o < unit ? sg->off + sg->len - o : unit;
		const char *p = buf + (o - sg->off);
		uint32_t crc = 0;

		if (!dmap_test(m, o / bs)) {
			r = flush_run(sk, &dr, sg, buf, res);
			if (r)
				return r;
			continue;
		}
		if (unit_is_zero(zt, p, len, &crc)) {
			r = flush_run(sk, &dr, sg, buf, res);
			if (r)
				return r;
			if (*zlen && *zoff + *zlen == o) {
				*zlen += len;
			} else {
				if (*zlen) {
					r = sink_zero(sk, *zoff, *zlen);
					if (r)
						return r;
					res->zero_bytes += *zlen;
				}
				*zoff = o;
				*zlen = len;
			}
			continue;
		}
		if (*zlen) {
			r = sink_zero(sk, *zoff, *zlen);
			if (r)
				return r;
			res->zero_bytes += *zlen;
			*zlen = 0;
		}
		if (!dr.dlen) {
			dr.doff = o;
			dr.dcrc = crc;
		} else if (zt->want_crc) {
			dr.dcrc = dl_crc32c_combine(dr.dcrc, crc, len);
		}
		dr.dlen += len;
	}
	return flush_run(sk, &dr, sg, buf, res);
}

/* Read the dirty blocks of @m from @fd and send them to @sk. */
static int copy_out(int fd, const struct dmap *m, uint64_t bs, uint64_t size,
		    struct sink *sk, enum dl_progress mode,
		    struct dl_export_result *res, char *err, size_t errlen)
{
	struct pipeline pl = { .fd = fd };
	pthread_t th[NR_READERS];
	unsigned int nth = 0, k;
	uint64_t unit = bs < SEG_BYTES ? bs : SEG_BYTES, zoff = 0, zlen = 0;
	struct zero_test zt = { .want_crc = sk->fmt == DL_EXPORT_NATIVE };
	struct dl_progress_line pg;
	int r;

	r = plan_segments(m, bs, size, &pl.segs, &pl.nr_segs, &res->read_bytes);
	if (r)
		return dl_fail(err, errlen, -r, "out of memory");
	for (k = 0; k < NR_SLOTS; k++) {
		if (posix_memalign(&pl.buf[k], 4096, SEG_BYTES)) {
			r = dl_fail(err, errlen, ENOMEM, "out of memory");
			goto out;
		}
	}
	pthread_mutex_init(&pl.lock, NULL);
	pthread_cond_init(&pl.cond, NULL);
	for (nth = 0; nth < NR_READERS; nth++)
		if (pthread_create(&th[nth], NULL, reader, &pl))
			break;
	if (!nth) {
		r = dl_fail(err, errlen, EAGAIN, "cannot start reader threads");
		goto out_sync;
	}
	dl_progress_init(&pg, mode, res->read_bytes, "read");

	r = 0;
	for (uint64_t i = 0; i < pl.nr_segs && !r; i++) {
		unsigned int slot = i % NR_SLOTS;

		pthread_mutex_lock(&pl.lock);
		while (!(pl.slot_seg[slot] == i && pl.state[slot] >= 2) && !pl.error &&
		       !dl_export_interrupted)
			pthread_cond_wait(&pl.cond, &pl.lock);
		if (pl.error)
			r = dl_fail(err, errlen, pl.error,
				 "read error on the source at or after byte %" PRIu64 ": %s",
				 pl.segs[i].off, strerror(pl.error));
		else if (dl_export_interrupted)
			r = dl_fail(err, errlen, EINTR, "interrupted");
		pthread_mutex_unlock(&pl.lock);
		if (r)
			break;
		r = emit_segment(sk, m, bs, unit, &pl.segs[i], pl.buf[slot], &zt,
				 &zoff, &zlen, res);
		if (r) {
			/* the writer's reason */
			break;
		}
		pg.done += pl.segs[i].len;
		dl_progress_show(&pg, false);
		pthread_mutex_lock(&pl.lock);
		pl.state[slot] = 0;
		pl.consumed = i + 1;
		pthread_cond_broadcast(&pl.cond);
		pthread_mutex_unlock(&pl.lock);
	}
	if (!r && zlen) {
		r = sink_zero(sk, zoff, zlen);
		if (!r)
			res->zero_bytes += zlen;
	}
	if (pg.mode != DL_PROGRESS_NONE)
		dl_progress_show(&pg, true);
	pthread_mutex_lock(&pl.lock);
	pl.stop = true;
	pthread_cond_broadcast(&pl.cond);
	pthread_mutex_unlock(&pl.lock);
	for (k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
out_sync:
	pthread_cond_destroy(&pl.cond);
	pthread_mutex_destroy(&pl.lock);
out:
	for (k = 0; k < NR_SLOTS; k++)
		free(pl.buf[k]);
	free(pl.segs);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Export */

/*
 * rbd diff v1 has no place for what is not RBD's (the device instance,
 * checkpoint ids, block size, fuzzy): they go to FILE.json next to it,
 * written before the diff is renamed into place.
 */
static int write_sidecar(const struct dl_export_opts *o,
			 const struct dl_nl_dev *dev,
			 const struct dl_export_result *res, char *err,
			 size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 16];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s.json", o->output) >= (int)sizeof(path))
		return dl_fail(err, errlen, ENAMETOOLONG, "output name too long");
	snprintf(tmp, sizeof(tmp), "%s.partial", path);
	f = fopen(tmp, "we");
	if (!f)
		return dl_fail(err, errlen, errno, "cannot create %s: %s", tmp,
			       strerror(errno));
	fprintf(f, "{\"format\":\"rbd-diff\",\"device\":");
	dl_json_str(f, o->device);
	fprintf(f, ",\"instance_uuid\":\"%s\",\"size_bytes\":%" PRIu64
		",\"block_size_bytes\":%u,\"since\":", dev->instance_uuid,
		res->size, res->block_size);
	if (o->since)
		dl_json_str(f, o->since);
	else
		fprintf(f, "null");
	fprintf(f, ",\"since_id\":%" PRIu64 ",\"checkpoint\":", res->base_id);
	dl_json_str(f, o->checkpoint);
	fprintf(f, ",\"id\":%" PRIu64 ",\"fuzzy\":%s,\"dirty_blocks\":%" PRIu64
		",\"data_bytes\":%" PRIu64 ",\"zero_bytes\":%" PRIu64 "}\n",
		res->new_id, o->fuzzy ? "true" : "false", res->dirty_blocks,
		res->data_bytes, res->zero_bytes);
	return dl_commit_file(f, tmp, path, err, errlen);
}

struct ckpt_ids {
	const char *a, *b;
	uint64_t a_id, b_id;
};

static int ids_one(const char *name, uint64_t id, uint64_t ctime_ns, void *arg)
{
	struct ckpt_ids *c = arg;

	(void)ctime_ns;
	if (c->a && !strcmp(name, c->a))
		c->a_id = id;
	if (c->b && !strcmp(name, c->b))
		c->b_id = id;
	return 0;
}

static void ids_restart(void *arg)
{
	struct ckpt_ids *c = arg;

	c->a_id = c->b_id = 0;
}

struct instant_arg {
	struct dl_nl *nl;
	const struct dl_nl_sel *sel;
	const char *name;
	uint64_t id;
};

static int make_checkpoint(void *arg, char *err, size_t errlen)
{
	struct instant_arg *ia = arg;
	struct dl_nl_ckpt_id id;
	unsigned int nr = 0;
	int r = dl_nl_ckpt_new(ia->nl, ia->sel, 1, ia->name, &id, &nr);

	if (r)
		return dl_fail(err, errlen, -r, "cannot create checkpoint '%s': %s",
			    ia->name, ia->nl->err);
	if (nr != 1 || !id.id)
		return dl_fail(err, errlen, EIO, "no id for checkpoint '%s' in the reply",
			    ia->name);
	ia->id = id.id;
	return 0;
}

static int parse_uuid(const char *s, uint8_t out[16])
{
	for (int i = 0; i < 16; i++) {
		unsigned int v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int dl_export(struct dl_nl *nl, const struct dl_export_opts *o,
	      struct dl_export_result *res, char *err, size_t errlen)
{
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = o->device };
	struct instant_arg ia = { .nl = nl, .sel = &sel, .name = o->checkpoint };
	struct ckpt_ids ids = { .a = o->since, .b = o->checkpoint };
	struct dl_nl_dirty_opts dopt = { .format = DM_DIRTYLOG_DUMP_AUTO };
	struct dl_diff_info info;
	struct dmap m = { 0 };
	struct sink sk = { .fmt = o->format, .err = err, .errlen = errlen };
	struct dl_pit pit;
	struct dl_nl_dev dev;
	char tmp[PATH_MAX], e2[512];
	const char *src;
	bool made = false, have_pit = false, to_stdout = !strcmp(o->output, "-");
	struct stat st;
	uint64_t bs, size;
	double t0 = now_s();
	int fd = -1, in = -1, r;

	memset(res, 0, sizeof(*res));
	tmp[0] = 0;
	r = dl_nl_dev_get(nl, &sel, &dev);
	if (r)
		return dl_fail(err, errlen, -r, "%s", nl->err);
	if (dev.state != DM_DIRTYLOG_STATE_RW)
		return dl_fail(err, errlen, EIO,
			    "%s is in state %s: its map cannot be trusted; 'dirtylogctl reset' it and take a full export",
			    o->device, dev.state == DM_DIRTYLOG_STATE_FAIL ? "fail" : "invalid");
	r = dl_nl_ckpt_dump(nl, &sel, ids_one, ids_restart, &ids, NULL);
	if (r)
		return dl_fail(err, errlen, -r, "%s", nl->err);
	if (o->since && !ids.a_id)
		return dl_fail(err, errlen, ENOENT, "no checkpoint '%s' on %s", o->since,
			    o->device);
	if (ids.b_id)
		return dl_fail(err, errlen, EEXIST, "checkpoint '%s' exists already on %s",
			    o->checkpoint, o->device);
	if (o->format == DL_EXPORT_QCOW2 && o->since && !o->backing)
		return dl_fail(err, errlen, EINVAL,
			    "an incremental qcow2 export needs --backing (the previous export)");
	bs = (uint64_t)dev.block_sectors << 9;
	size = dev.size_sectors << 9;

	/* The output first: a file we cannot write must not cost a checkpoint. */
	if (!to_stdout && !stat(o->output, &st) && !S_ISREG(st.st_mode)) {
		/* A device or a fifo: written in place, nothing to rename. */
		fd = open(o->output, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return dl_fail(err, errlen, errno, "cannot open %s: %s", o->output,
				    strerror(errno));
	} else if (to_stdout) {
		fd = STDOUT_FILENO;
	} else {
		if (snprintf(tmp, sizeof(tmp), "%s.partial", o->output) >= (int)sizeof(tmp))
			return dl_fail(err, errlen, ENAMETOOLONG, "output name too long");
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return dl_fail(err, errlen, errno, "cannot create %s: %s", tmp,
				    strerror(errno));
	}

	m.nr = dev.nr_blocks;
	m.bits = calloc((m.nr + 63) / 64 + 1, 8);
	if (!m.bits) {
		r = dl_fail(err, errlen, ENOMEM, "out of memory for a map of %" PRIu64 " blocks",
			 m.nr);
		goto out;
	}

	if (o->fuzzy) {
		r = make_checkpoint(&ia, err, errlen);
		if (r)
			goto out;
	} else {
		uint64_t cow = o->cow_bytes;

		if (!cow) {
			/* As much as was written since the base: the export takes about as long. */
			cow = o->since ? dev.dirty_active * bs : size;
			if (cow < COW_MIN_BYTES)
				cow = COW_MIN_BYTES;
			if (cow > size + COW_MIN_BYTES)
				cow = size + COW_MIN_BYTES;
		}
		if (o->lvm)
			r = dl_pit_take_lvm(&pit, o->device, cow, !o->cow_bytes,
					 make_checkpoint, &ia, err, errlen);
		else
			r = dl_pit_take(&pit, o->device, o->cow, cow, make_checkpoint, &ia,
				     err, errlen);
		if (r) {
			made = ia.id != 0;
			goto out;
		}
		have_pit = true;
	}
	made = true;
	res->new_id = ia.id;
	res->base_id = ids.a_id;

	/* What to copy: the frozen interval since..new, or everything. */
	if (o->since) {
		dopt.extent = dmap_extent;
		dopt.chunk = dmap_chunk;
		dopt.restart = dmap_restart;
		dopt.arg = &m;
		r = dl_nl_dirty_fetch(nl, &sel, o->since, o->checkpoint, &dopt);
		if (r) {
			r = dl_fail(err, errlen, -r, "cannot read the dirty map: %s", nl->err);
			goto out;
		}
	} else {
		memset(m.bits, 0xff, (m.nr + 63) / 64 * 8);
		if (m.nr % 64)
			m.bits[m.nr / 64] = (1ull << (m.nr % 64)) - 1;
	}
	dmap_count(&m);
	res->dirty_blocks = m.dirty;
	res->size = size;
	res->block_size = (uint32_t)bs;

	memset(&info, 0, sizeof(info));
	if (parse_uuid(dev.instance_uuid, info.uuid)) {
		r = dl_fail(err, errlen, EIO, "bad instance uuid from the kernel");
		goto out;
	}
	info.size = size;
	info.block_size = (uint32_t)bs;
	info.full = !o->since;
	if (o->since) {
		snprintf(info.base_name, sizeof(info.base_name), "%s", o->since);
		info.base_id = ids.a_id;
	}
	snprintf(info.new_name, sizeof(info.new_name), "%s", o->checkpoint);
	info.new_id = ia.id;
	info.fuzzy = o->fuzzy;
	if (o->format == DL_EXPORT_QCOW2) {
		sk.q = dl_qcow2_create(fd, size, bs < SEG_BYTES ? (uint32_t)bs : SEG_BYTES,
				       o->since ? o->backing : NULL,
				       o->since ? "qcow2" : NULL, err, errlen);
		r = sk.q ? 0 : -EINVAL;
	} else {
		static const enum dl_diff_format f[] = {
			[DL_EXPORT_NATIVE] = DL_DIFF_NATIVE,
			[DL_EXPORT_RBD] = DL_DIFF_RBD,
			[DL_EXPORT_RAW] = DL_DIFF_RAW,
		};

		sk.w = dl_diff_writer_open(f[o->format], fd, &info, err, errlen);
		r = sk.w ? 0 : -EINVAL;
	}
	if (r)
		goto out;

	src = have_pit ? pit.path : NULL;
	if (!src) {
		snprintf(e2, sizeof(e2), "/dev/mapper/%s", o->device);
		src = e2;
	}
	if (have_pit) {
		r = run_hook(src, err, errlen);
		if (r)
			goto out;
	}
	in = open(src, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (in < 0) {
		r = dl_fail(err, errlen, errno, "cannot open %s: %s", src, strerror(errno));
		goto out;
	}
	r = copy_out(in, &m, bs, size, &sk, o->progress, res, err, errlen);
	if (!r)
		r = sink_finish(&sk);
	if (!r && tmp[0] && fsync(fd))
		r = dl_fail(err, errlen, errno, "cannot flush %s: %s", tmp, strerror(errno));
out:
	if (in >= 0)
		close(in);
	sink_free(&sk);
	if (have_pit) {
		int r2 = dl_pit_release(&pit, e2, sizeof(e2));

		if (r2 && !r) {
			r = dl_fail(err, errlen, -r2, "cannot remove the export snapshot: %s", e2);
		} else if (r2) {
			fprintf(stderr, "dirtylogctl export: also cannot remove the export snapshot: %s\n",
				e2);
		}
	}
	if (fd >= 0 && !to_stdout)
		close(fd);
	if (!r && tmp[0] && o->format == DL_EXPORT_RBD)
		r = write_sidecar(o, &dev, res, err, errlen);
	if (!r && tmp[0] && rename(tmp, o->output))
		r = dl_fail(err, errlen, errno, "cannot rename %s to %s: %s", tmp,
			 o->output, strerror(errno));
	if (r && tmp[0])
		unlink(tmp);
	if (r && made) {
		/* A failed backup must not lose changes: merge NEW's interval back. */
		int r2 = dl_nl_ckpt_del(nl, &sel, o->checkpoint);

		if (r2)
			fprintf(stderr, "dirtylogctl export: CANNOT DELETE checkpoint '%s' after the failure (%s): delete it before the next export\n",
				o->checkpoint, nl->err);
		else
			res->rolled_back = true;
	}
	free(m.bits);
	res->seconds = now_s() - t0;
	return r;
}

/* ---------------------------------------------------------------------- */
/* Revert */

int dl_revert(struct dl_nl *nl, const char *device, const char *ckpt,
	      const char *image, bool force, enum dl_progress progress,
	      uint64_t *blocks, uint64_t *bytes, char *err, size_t errlen)
{
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = device };
	struct dl_nl_dirty_opts dopt = { .format = DM_DIRTYLOG_DUMP_AUTO };
	struct dmap m = { 0 };
	struct dl_nl_dev dev;
	struct dl_progress_line pg;
	struct stat st;
	char path[PATH_MAX];
	void *buf = NULL;
	uint64_t bs, size, b;
	int in = -1, out = -1, r;

	*blocks = *bytes = 0;
	r = dl_nl_dev_get(nl, &sel, &dev);
	if (r)
		return dl_fail(err, errlen, -r, "%s", nl->err);
	if (dev.state != DM_DIRTYLOG_STATE_RW)
		return dl_fail(err, errlen, EIO,
			    "%s is in state %s: what changed is not known; copy the whole image instead",
			    device, dev.state == DM_DIRTYLOG_STATE_FAIL ? "fail" : "invalid");
	bs = (uint64_t)dev.block_sectors << 9;
	size = dev.size_sectors << 9;
	in = open(image, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", image, strerror(errno));
	if (fstat(in, &st)) {
		r = dl_fail(err, errlen, errno, "cannot stat %s: %s", image, strerror(errno));
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < size) {
		r = dl_fail(err, errlen, EINVAL,
			 "%s is smaller (%" PRIu64 " bytes) than %s (%" PRIu64 " bytes)",
			 image, (uint64_t)st.st_size, device, size);
		goto out;
	}
	snprintf(path, sizeof(path), "/dev/mapper/%s", device);
	if (!force) {
		int users = 0;

		r = dl_dm_open_count(device, &users, err, errlen);
		if (r)
			goto out;
		if (users) {
			r = dl_fail(err, errlen, EBUSY,
				 "%s is in use (%d openers: mounted, held or open): stop its users or pass --force",
				 device, users);
			goto out;
		}
	}
	/* O_EXCL: no one mounts or claims it while we write (unless forced). */
	out = open(path, O_WRONLY | O_CLOEXEC | (force ? 0 : O_EXCL));
	if (out < 0) {
		r = dl_fail(err, errlen, errno, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	m.nr = dev.nr_blocks;
	m.bits = calloc((m.nr + 63) / 64 + 1, 8);
	buf = malloc(bs < SEG_BYTES ? SEG_BYTES : SEG_BYTES);
	if (!m.bits || !buf) {
		r = dl_fail(err, errlen, ENOMEM, "out of memory");
		goto out;
	}
	dopt.extent = dmap_extent;
	dopt.chunk = dmap_chunk;
	dopt.restart = dmap_restart;
	dopt.arg = &m;
	r = dl_nl_dirty_fetch(nl, &sel, ckpt, NULL, &dopt);
	if (r) {
		r = dl_fail(err, errlen, -r, "cannot read the dirty map: %s", nl->err);
		goto out;
	}
	dmap_count(&m);
	dl_progress_init(&pg, progress, m.dirty * bs, "revert");
	for (b = dmap_next(&m, 0); b < m.nr; b = dmap_next(&m, b + 1)) {
		uint64_t off = b * bs, end = off + bs < size ? off + bs : size;

		if (dl_export_interrupted) {
			r = dl_fail(err, errlen, EINTR, "interrupted after %" PRIu64 " blocks: the device is part reverted",
				 *blocks);
			goto out;
		}
		for (uint64_t o = off; o < end; o += SEG_BYTES) {
			size_t len = end - o < SEG_BYTES ? end - o : SEG_BYTES;
			ssize_t n = pread(in, buf, len, (off_t)o);

			if (n != (ssize_t)len) {
				r = dl_fail(err, errlen, n < 0 ? errno : EIO,
					 "cannot read %s at byte %" PRIu64 ": %s", image, o,
					 n < 0 ? strerror(errno) : "short read");
				goto out;
			}
			n = pwrite(out, buf, len, (off_t)o);
			if (n != (ssize_t)len) {
				r = dl_fail(err, errlen, n < 0 ? errno : EIO,
					 "cannot write %s at byte %" PRIu64 ": %s", path, o,
					 n < 0 ? strerror(errno) : "short write");
				goto out;
			}
			*bytes += len;
			pg.done += len;
		}
		(*blocks)++;
		dl_progress_show(&pg, false);
	}
	if (fsync(out))
		r = dl_fail(err, errlen, errno, "cannot flush %s: %s", path, strerror(errno));
	if (pg.mode != DL_PROGRESS_NONE)
		dl_progress_show(&pg, true);
out:
	free(buf);
	free(m.bits);
	if (out >= 0)
		close(out);
	close(in);
	return r;
}
