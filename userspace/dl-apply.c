// SPDX-License-Identifier: GPL-2.0-only
/* Apply and verify diff streams: see dl-apply.h. */
#include "dl-apply.h"
#include "dl-util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <limits.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dl-diff.h"

#define STATE_DIR "/var/lib/dirtylogctl"
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void uuid_hex(const uint8_t u[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", u[i]);
}

static void summarize(struct dl_stream_summary *s, const char *file,
		      const struct dl_diff_reader *rd, const struct dl_diff_info *in)
{
	memset(s, 0, sizeof(*s));
	s->file = file;
	s->format = dl_diff_reader_format(rd);
	s->full = in->full;
	s->fuzzy = in->fuzzy;
	if (s->format == DL_DIFF_NATIVE)
		uuid_hex(in->uuid, s->uuid);
	snprintf(s->base, sizeof(s->base), "%s", in->full ? "" : in->base_name);
	snprintf(s->new_name, sizeof(s->new_name), "%s", in->new_name);
	s->base_id = in->base_id;
	s->new_id = in->new_id;
	s->size = in->size;
	s->block_size = in->block_size;
}

/*
 * Does stream @s continue where @prev (a stream or the target's state)
 * left off?  Native streams match by instance uuid, name and id; rbd
 * streams carry only names.
 */
static int check_link(const struct dl_stream_summary *s, const char *prev_what,
		      const char *uuid, const char *ckpt, uint64_t id,
		      char *err, size_t errlen)
{
	if (s->full)
		return 0;
	if (uuid[0] && s->uuid[0] && strcmp(uuid, s->uuid))
		return dl_fail(err, errlen, EXDEV,
			    "%s: from another device instance (%s) than %s (%s)",
			    s->file, s->uuid, prev_what, uuid);
	if (strcmp(ckpt, s->base) || (id && s->base_id && id != s->base_id))
		return dl_fail(err, errlen, EXDEV,
			    "%s: starts at checkpoint '%s' (id %" PRIu64 "), but %s ends at '%s' (id %" PRIu64 ")",
			    s->file, s->base, s->base_id, prev_what, ckpt, id);
	return 0;
}

static int open_stream(const char *file, int *fd, char *err, size_t errlen)
{
	if (!strcmp(file, "-")) {
		*fd = STDIN_FILENO;
		return 0;
	}
	*fd = open(file, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", file, strerror(errno));
	return 0;
}

int dl_verify(char **files, unsigned int n, bool chain,
	      struct dl_stream_summary *sum, char *err, size_t errlen)
{
	char e[DL_DIFF_ERR_LEN];

	for (unsigned int i = 0; i < n; i++) {
		struct dl_diff_reader *rd;
		struct dl_diff_record rec;
		struct dl_diff_info in;
		int fd, r;

		r = open_stream(files[i], &fd, err, errlen);
		if (r)
			return r;
		rd = dl_diff_reader_open(fd, &in, e, sizeof(e));
		if (!rd) {
			r = dl_fail(err, errlen, errno, "%s: %s", files[i], e);
			goto next;
		}
		summarize(&sum[i], files[i], rd, &in);
		if (chain && i) {
			r = check_link(&sum[i], files[i - 1], sum[i - 1].uuid,
				       sum[i - 1].new_name, sum[i - 1].new_id, err, errlen);
			if (!r && sum[i].full)
				r = dl_fail(err, errlen, EXDEV, "%s: a full export in the middle of a chain",
					 files[i]);
			if (r)
				goto next;
		}
		while ((r = dl_diff_read_record(rd, &rec)) == 1) {
			sum[i].records++;
			if (rec.type == DL_DIFF_DATA)
				sum[i].data_bytes += rec.length;
			else
				sum[i].zero_bytes += rec.length;
		}
		if (r < 0)
			dl_fail(err, errlen, -r, "%s: %s", files[i], e);
next:
		dl_diff_reader_free(rd);
		if (fd != STDIN_FILENO)
			close(fd);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Target state */

static int state_path(const char *target, bool blockdev, const char *state,
		      char *out, size_t outlen)
{
	char copy[PATH_MAX];

	if (state) {
		snprintf(out, outlen, "%s", state);
		return 0;
	}
	if (!blockdev) {
		if (snprintf(out, outlen, "%s.dlstate", target) >= (int)outlen)
			return -ENAMETOOLONG;
		return 0;
	}
	snprintf(copy, sizeof(copy), "%s", target);
	if (mkdir(STATE_DIR, 0755) && errno != EEXIST)
		return -errno;
	snprintf(out, outlen, STATE_DIR "/apply-%s.state", basename(copy));
	return 0;
}

/* A decimal u64, digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *v)
{
	unsigned long long x;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EBADMSG;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EBADMSG;
	*v = x;
	return 0;
}

int dl_apply_state_parse(const char *buf, size_t len, struct dl_apply_state *cs)
{
	static const char *const keys[] = {
		"dirtylog-apply", "state", "uuid", "checkpoint", "id", "size",
	};
	unsigned int seen = 0;
	size_t pos = 0;

	memset(cs, 0, sizeof(*cs));
	while (pos < len) {
		char line[160], *val;
		const char *nl = memchr(buf + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
		unsigned int k;
		int r = 0;

		if (!nl || n >= sizeof(line) || memchr(buf + pos, '\0', n))
			return -EBADMSG;
		memcpy(line, buf + pos, n);
		line[n] = '\0';
		pos += n + 1;
		val = strchr(line, ' ');
		if (!val || !val[1])
			return -EBADMSG;
		*val++ = '\0';
		for (k = 0; k < ARRAY_SIZE(keys); k++)
			if (!strcmp(line, keys[k]))
				break;
		/* Only a checkpoint (an rbd snapshot name) may hold spaces. */
		if (k != 3 && strchr(val, ' '))
			return -EBADMSG;
		/* Known keys, each once, the magic line first. */
		if (k == ARRAY_SIZE(keys) || (seen & (1U << k)) || (!seen && k))
			return -EBADMSG;
		seen |= 1U << k;
		switch (k) {
		case 0:
			if (strcmp(val, "1"))
				r = -EBADMSG;
			break;
		case 1:
			if (!strcmp(val, "complete"))
				cs->complete = true;
			else if (strcmp(val, "incomplete"))
				r = -EBADMSG;
			break;
		case 2:
			if (strcmp(val, "-") &&
			    (strlen(val) != 32 || strspn(val, "0123456789abcdef") != 32))
				r = -EBADMSG;
			else if (strcmp(val, "-"))
				memcpy(cs->uuid, val, 33);
			break;
		case 3:
			if (strlen(val) > DM_DIRTYLOG_NAME_MAX)
				r = -EBADMSG;
			else if (strcmp(val, "-"))
				snprintf(cs->ckpt, sizeof(cs->ckpt), "%s", val);
			break;
		case 4:
			r = parse_u64(val, &cs->id);
			break;
		case 5:
			r = parse_u64(val, &cs->size);
			break;
		}
		if (r)
			return r;
	}
	return seen == (1U << ARRAY_SIZE(keys)) - 1 ? 0 : -EBADMSG;
}

/* 1: read, 0: no state file, -errno (-EBADMSG: not a valid state file). */
static int state_read(const char *path, struct dl_apply_state *cs)
{
	char buf[1024];
	ssize_t n;
	int fd, r;

	memset(cs, 0, sizeof(*cs));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	n = read(fd, buf, sizeof(buf));
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r)
		return r;
	/* The writer's files are far shorter than the buffer. */
	if ((size_t)n == sizeof(buf))
		return -EBADMSG;
	r = dl_apply_state_parse(buf, (size_t)n, cs);
	return r ? r : 1;
}

static int state_write(const char *path, const struct dl_apply_state *cs)
{
	char tmp[PATH_MAX + 8];
	FILE *f;
	int r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	fprintf(f, "dirtylog-apply 1\nstate %s\nuuid %s\ncheckpoint %s\nid %" PRIu64
		"\nsize %" PRIu64 "\n", cs->complete ? "complete" : "incomplete",
		cs->uuid[0] ? cs->uuid : "-", cs->ckpt[0] ? cs->ckpt : "-", cs->id,
		cs->size);
	if (fflush(f) || fsync(fileno(f)))
		r = -errno;
	if (fclose(f) && !r)
		r = -errno;
	if (!r && rename(tmp, path))
		r = -errno;
	if (r)
		unlink(tmp);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Apply */

/*
 * Data for a block device goes through O_DIRECT in aligned pieces (the
 * page cache would copy it once more and write it back page by page),
 * written by NR_WRITERS threads from NR_WBUF buffers: the next record is
 * read and its checksum verified while earlier ones are written, with
 * several writes in flight.  Records never overlap, so the order in which
 * the writes complete does not matter; every write has completed (and
 * its error, if any, is known) before a stream counts as applied.  What
 * is not aligned to 4 KiB, and image files, go through the page cache.
 */
#define DIRECT_ALIGN	4096
#define DIRECT_BUF	(1u << 20)
#define NR_WBUF		4
#define NR_WRITERS	3

struct wbuf {
	void *buf;
	uint64_t off, len, rec;	/* rec: the record it belongs to */
	int state;		/* 0 free, 1 queued, 2 being written,
				 * 3 lent out (wbuf_get()) */
};

struct target {
	int fd, dfd;		/* dfd: O_DIRECT, block devices only (-1) */
	struct wbuf w[NR_WBUF];
	pthread_t th[NR_WRITERS];
	unsigned int nr_threads;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	int error;		/* -errno of the first failed write */
	uint64_t err_rec, err_off, err_len;
};

static int write_all(int fd, const void *buf, uint64_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -EIO;
		buf = (const char *)buf + n;
		len -= (uint64_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static void *writer(void *arg)
{
	struct target *t = arg;

	pthread_mutex_lock(&t->lock);
	for (;;) {
		struct wbuf *b = NULL;
		int r;

		for (unsigned int k = 0; k < NR_WBUF && !b; k++)
			if (t->w[k].state == 1)
				b = &t->w[k];
		if (!b) {
			if (t->stop)
				break;
			pthread_cond_wait(&t->cond, &t->lock);
			continue;
		}
		b->state = 2;
		pthread_mutex_unlock(&t->lock);
		r = write_all(t->dfd, b->buf, b->len, b->off);
		pthread_mutex_lock(&t->lock);
		if (r && !t->error) {
			t->error = r;
			t->err_rec = b->rec;
			t->err_off = b->off;
			t->err_len = b->len;
		}
		b->state = 0;
		pthread_cond_broadcast(&t->cond);
	}
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

/* Set up O_DIRECT writing to block device @path; without it, the page cache. */
static void target_direct(struct target *t, const char *path)
{
	unsigned int k;

	for (k = 0; k < NR_WBUF; k++)
		if (posix_memalign(&t->w[k].buf, DIRECT_ALIGN, DIRECT_BUF))
			goto fail;
	if (pthread_mutex_init(&t->lock, NULL))
		goto fail;
	if (pthread_cond_init(&t->cond, NULL)) {
		pthread_mutex_destroy(&t->lock);
		goto fail;
	}
	t->dfd = open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (t->dfd < 0)
		goto fail_sync;
	for (t->nr_threads = 0; t->nr_threads < NR_WRITERS; t->nr_threads++)
		if (pthread_create(&t->th[t->nr_threads], NULL, writer, t))
			break;
	if (t->nr_threads)
		return;
	close(t->dfd);
	t->dfd = -1;
fail_sync:
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
fail:
	for (k = 0; k < NR_WBUF; k++) {
		free(t->w[k].buf);
		t->w[k].buf = NULL;
	}
}

/* Where a write failed: record index and byte range. */
struct wfail {
	uint64_t rec, off, len;
};

/* Wait until every queued write has completed: 0, or the first failure. */
static int target_drain(struct target *t, struct wfail *f)
{
	int r;

	if (t->dfd < 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		bool busy = false;

		for (unsigned int k = 0; k < NR_WBUF; k++)
			busy |= t->w[k].state != 0;
		if (!busy)
			break;
		pthread_cond_wait(&t->cond, &t->lock);
	}
	r = t->error;
	*f = (struct wfail){ t->err_rec, t->err_off, t->err_len };
	pthread_mutex_unlock(&t->lock);
	return r;
}

static void target_close(struct target *t)
{
	struct wfail f;

	if (t->dfd < 0)
		return;
	target_drain(t, &f);
	pthread_mutex_lock(&t->lock);
	t->stop = true;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int k = 0; k < t->nr_threads; k++)
		pthread_join(t->th[k], NULL);
	pthread_cond_destroy(&t->cond);
	pthread_mutex_destroy(&t->lock);
	close(t->dfd);
	t->dfd = -1;
	for (unsigned int k = 0; k < NR_WBUF; k++)
		free(t->w[k].buf);
}

/*
 * Wait for a free buffer and lend it out (state 3) until wbuf_queue() or
 * wbuf_put().  Returns NULL once a queued write has failed, with the
 * failure in @f and its -errno in @err.
 */
static struct wbuf *wbuf_get(struct target *t, struct wfail *f, int *err)
{
	struct wbuf *b = NULL;

	pthread_mutex_lock(&t->lock);
	while (!t->error) {
		for (unsigned int k = 0; k < NR_WBUF && !b; k++)
			if (t->w[k].state == 0)
				b = &t->w[k];
		if (b)
			break;
		pthread_cond_wait(&t->cond, &t->lock);
	}
	if (t->error) {
		*err = t->error;
		*f = (struct wfail){ t->err_rec, t->err_off, t->err_len };
		b = NULL;
	} else {
		b->state = 3;
	}
	pthread_mutex_unlock(&t->lock);
	return b;
}

/*
 * Hand a filled buffer to the writers.  Filled outside the lock: writers
 * only take queued buffers, and this thread is the only one that queues.
 */
static void wbuf_queue(struct target *t, struct wbuf *b, uint64_t off,
		       uint64_t len, uint64_t rec)
{
	b->off = off;
	b->len = len;
	b->rec = rec;
	pthread_mutex_lock(&t->lock);
	b->state = 1;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

static void wbuf_put(struct target *t, struct wbuf *b)
{
	pthread_mutex_lock(&t->lock);
	b->state = 0;
	pthread_mutex_unlock(&t->lock);
}

/* Can [@off, @off + @len) go through O_DIRECT? */
static bool direct_ok(const struct target *t, uint64_t off, uint64_t len)
{
	return t->dfd >= 0 && !(off % DIRECT_ALIGN) && !(len % DIRECT_ALIGN);
}

/*
 * Write record @rec's data.  O_DIRECT writes are queued; a failure of an
 * earlier queued write is returned here as soon as it is known.  On
 * failure @f says which write failed.
 */
static int write_data(struct target *t, const void *data, uint64_t len,
		      uint64_t off, uint64_t rec, struct wfail *f)
{
	*f = (struct wfail){ rec, off, len };
	if (!direct_ok(t, off, len))
		return write_all(t->fd, data, len, off);
	while (len) {
		uint64_t n = len < DIRECT_BUF ? len : DIRECT_BUF;
		struct wbuf *b;
		int r;

		b = wbuf_get(t, f, &r);
		if (!b)
			return r;
		memcpy(b->buf, data, n);
		wbuf_queue(t, b, off, n, rec);
		data = (const char *)data + n;
		off += n;
		len -= n;
	}
	return 0;
}

/*
 * The next record of @rd, its data read straight into a free O_DIRECT
 * buffer when there is direct I/O (no copy); a record that does not fit
 * one buffer or is not aligned is read into the reader's own buffer and
 * copied.  Returns what dl_diff_read_record() returns; *@w is set to a
 * failed queued write's -errno (with @f) instead, and then 0 is returned.
 * A data record that was read into a write buffer is queued already and
 * *@queued says so.
 */
static int read_record(struct target *t, struct dl_diff_reader *rd,
		       struct dl_diff_record *rec, bool *queued, int *w,
		       struct wfail *f)
{
	struct wbuf *b = NULL;
	int r;

	*queued = false;
	if (t->dfd >= 0) {
		b = wbuf_get(t, f, w);
		if (!b)
			return 0;
		dl_diff_reader_set_buffer(rd, b->buf, DIRECT_BUF);
	}
	r = dl_diff_read_record(rd, rec);
	if (!b)
		return r;
	if (r == 1 && rec->type == DL_DIFF_DATA && rec->data == b->buf &&
	    direct_ok(t, rec->offset, rec->length)) {
		wbuf_queue(t, b, rec->offset, rec->length, rec->index);
		*queued = true;
	} else {
		/*
		 * Free again.  Data left in it (an unaligned record) is
		 * written from it through the page cache by write_data(),
		 * before this thread, the only one handing out buffers,
		 * takes one again.
		 */
		wbuf_put(t, b);
	}
	return r;
}

static int zero_range(int fd, bool blockdev, uint64_t off, uint64_t len)
{
	static const char zeroes[65536];

	if (blockdev) {
		uint64_t range[2] = { off, len };

		if (!ioctl(fd, BLKZEROOUT, range))
			return 0;
	} else if (!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			      (off_t)off, (off_t)len)) {
		return 0;
	}
	while (len) {
		uint64_t n = len < sizeof(zeroes) ? len : sizeof(zeroes);
		int r = write_all(fd, zeroes, n, off);

		if (r)
			return r;
		off += n;
		len -= n;
	}
	return 0;
}

int dl_apply(char **files, unsigned int n, const char *target,
	     const char *state, enum dl_progress progress,
	     struct dl_stream_summary *sum, char *err, size_t errlen)
{
	char spath[PATH_MAX], e[DL_DIFF_ERR_LEN];
	struct dl_apply_state cs;
	struct stat st;
	bool blockdev, have_state;
	struct target tg = { .dfd = -1 };
	struct dl_progress_line pg;
	uint64_t total = 0, base = 0;
	int tfd, r;

	for (unsigned int i = 0; i < n; i++)
		if (strcmp(files[i], "-") && !stat(files[i], &st) && S_ISREG(st.st_mode))
			total += (uint64_t)st.st_size;
	dl_progress_init(&pg, progress, total, "apply");
	tfd = open(target, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (tfd < 0)
		return dl_fail(err, errlen, errno, "cannot open %s: %s", target, strerror(errno));
	if (fstat(tfd, &st)) {
		r = dl_fail(err, errlen, errno, "cannot stat %s: %s", target, strerror(errno));
		goto out;
	}
	blockdev = S_ISBLK(st.st_mode);
	tg.fd = tfd;
	if (blockdev)
		target_direct(&tg, target);
	if (!blockdev && !S_ISREG(st.st_mode)) {
		r = dl_fail(err, errlen, EINVAL, "%s is neither a file nor a block device", target);
		goto out;
	}
	r = state_path(target, blockdev, state, spath, sizeof(spath));
	if (r) {
		r = dl_fail(err, errlen, -r, "cannot place the state file of %s: %s", target,
			 strerror(-r));
		goto out;
	}
	r = state_read(spath, &cs);
	if (r < 0) {
		r = dl_fail(err, errlen, -r, "cannot read the state file %s: %s", spath,
			 r == -EBADMSG ? "not a dirtylogctl state file" : strerror(-r));
		goto out;
	}
	have_state = r == 1;

	for (unsigned int i = 0; i < n; i++) {
		struct dl_diff_reader *rd;
		struct dl_diff_record rec;
		struct dl_diff_info in;
		struct wfail f;
		uint64_t dev_size;
		bool queued;
		int fd, w;

		r = open_stream(files[i], &fd, err, errlen);
		if (r)
			goto out;
		rd = dl_diff_reader_open(fd, &in, e, sizeof(e));
		if (!rd) {
			r = dl_fail(err, errlen, errno, "%s: %s", files[i], e);
			goto next;
		}
		summarize(&sum[i], files[i], rd, &in);
		if (!in.full) {
			if (i)
				r = check_link(&sum[i], files[i - 1], sum[i - 1].uuid,
					       sum[i - 1].new_name, sum[i - 1].new_id,
					       err, errlen);
			else if (have_state && !cs.complete)
				r = dl_fail(err, errlen, EXDEV,
					 "%s is incomplete (an apply failed part way): start again from a full export",
					 target);
			else if (!have_state || !cs.ckpt[0])
				r = dl_fail(err, errlen, EXDEV,
					 "%s: an incremental, but %s holds no applied chain: apply a full export first",
					 files[i], target);
			else
				r = check_link(&sum[i], target, cs.uuid, cs.ckpt, cs.id,
					       err, errlen);
			if (r < 0)
				goto next;
		}
		if (blockdev) {
			if (ioctl(tfd, BLKGETSIZE64, &dev_size)) {
				r = dl_fail(err, errlen, errno, "cannot size %s: %s", target,
					 strerror(errno));
				goto next;
			}
			if (dev_size < in.size) {
				r = dl_fail(err, errlen, ENOSPC,
					 "%s is too small: %" PRIu64 " bytes, the stream needs %" PRIu64,
					 target, dev_size, in.size);
				goto next;
			}
		}
		/* From the first write on, the target is incomplete. */
		if (cs.complete || i == 0) {
			cs.complete = false;
			r = state_write(spath, &cs);
			if (r) {
				r = dl_fail(err, errlen, -r, "cannot write the state file %s: %s",
					 spath, strerror(-r));
				goto next;
			}
		}
		if (!blockdev && ftruncate(tfd, (off_t)in.size)) {
			r = dl_fail(err, errlen, errno, "cannot size %s to %" PRIu64 " bytes: %s",
				 target, in.size, strerror(errno));
			goto next;
		}
		w = 0;
		while (!w && (r = read_record(&tg, rd, &rec, &queued, &w, &f)) == 1) {
			f = (struct wfail){ rec.index, rec.offset, rec.length };
			if (rec.type == DL_DIFF_DATA) {
				if (!queued)
					w = write_data(&tg, rec.data, rec.length,
						       rec.offset, rec.index, &f);
				sum[i].data_bytes += rec.length;
			} else {
				w = zero_range(tfd, blockdev, rec.offset, rec.length);
				sum[i].zero_bytes += rec.length;
			}
			sum[i].records++;
			pg.done = base + dl_diff_reader_pos(rd);
			dl_progress_show(&pg, false);
		}
		/* Every queued write of the stream has completed before it counts. */
		if (!w && r >= 0)
			w = target_drain(&tg, &f);
		if (w) {
			r = dl_fail(err, errlen, -w,
				 "%s: cannot write record %" PRIu64 " (bytes %" PRIu64 "..%" PRIu64 ") to %s: %s",
				 files[i], f.rec, f.off, f.off + f.len, target, strerror(-w));
			goto next;
		}
		if (r < 0) {
			dl_fail(err, errlen, -r, "%s: %s; %s is left incomplete", files[i], e,
			     target);
			goto next;
		}
		{
			snprintf(cs.uuid, sizeof(cs.uuid), "%s", sum[i].uuid);
			snprintf(cs.ckpt, sizeof(cs.ckpt), "%s", in.new_name);
			cs.id = in.new_id;
			cs.size = in.size;
		}
next:
		if (rd)
			base += dl_diff_reader_pos(rd);
		dl_diff_reader_free(rd);
		if (fd != STDIN_FILENO)
			close(fd);
		if (r < 0)
			goto out;
	}
	if ((tg.dfd >= 0 && fsync(tg.dfd)) || fsync(tfd)) {
		r = dl_fail(err, errlen, errno, "cannot flush %s: %s", target, strerror(errno));
		goto out;
	}
	cs.complete = true;
	r = state_write(spath, &cs);

	if (r)
		r = dl_fail(err, errlen, -r, "cannot write the state file %s: %s", spath,
			 strerror(-r));
out:
	if (pg.mode != DL_PROGRESS_NONE) {
		pg.done = base;
		dl_progress_show(&pg, true);
	}
	target_close(&tg);
	close(tfd);
	return r;
}
