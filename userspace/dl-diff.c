// SPDX-License-Identifier: GPL-2.0-only
/*
 * Diff streams (formats in dl-diff.h).
 *
 * Headers and records are packed and unpacked field by field through
 * explicit little-endian helpers.  Sequential formats go through a small
 * output buffer; the native stream checksum is kept over every byte as it
 * is emitted (writer) or consumed (reader), so neither side ever seeks.
 */
#include "dl-diff.h"
#include "dl-util.h"
#include "dl-bmfile.h"		/* dl_crc32c() */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define OUT_BUF_SIZE	(256U << 10)
/* Data from this size on is handed to writev() as it is, not copied. */
#define EMIT_DIRECT_MIN	(4U << 10)
#define IN_BUF_SIZE	(64U << 10)
#define SECTOR		512U

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static bool all_zero(const uint8_t *p, size_t len)
{
	while (len--)
		if (*p++)
			return false;
	return true;
}

static const char *format_name(enum dl_diff_format f)
{
	switch (f) {
	case DL_DIFF_NATIVE:
		return "native";
	case DL_DIFF_RBD:
		return "rbd";
	case DL_DIFF_RAW:
		return "raw";
	}
	return "unknown";
}

int dl_diff_rbd_name_ok(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name);
	const char *bad;

	if (!len) {
		dl_seterr(err, errlen, "invalid rbd snapshot name: the name is empty");
		return -EINVAL;
	}
	if (len > DL_RBD_NAME_MAX) {
		dl_seterr(err, errlen,
		       "invalid rbd snapshot name: %zu bytes, rbd reads at most %u",
		       len, DL_RBD_NAME_MAX);
		return -EINVAL;
	}
	bad = strpbrk(name, "/@");
	if (bad) {
		dl_seterr(err, errlen,
		       "invalid rbd snapshot name '%s': rbd does not allow '%c' "
		       "in snapshot names", name, *bad);
		return -EINVAL;
	}
	return 0;
}

/*
 * check_info() - the rules of the header table for @info.  @what starts
 * the message ("invalid diff info" for a writer, "invalid header" for a
 * reader).
 */
static int check_info(const struct dl_diff_info *info, const char *what,
		      char *err, size_t errlen)
{
	uint32_t bs = info->block_size;

	if (!memchr(info->base_name, 0, sizeof(info->base_name)) ||
	    !memchr(info->new_name, 0, sizeof(info->new_name))) {
		dl_seterr(err, errlen, "%s: checkpoint name longer than %u bytes",
		       what, DM_DIRTYLOG_NAME_MAX);
		return -EINVAL;
	}
	if (bs < DM_DIRTYLOG_MIN_BLOCK_SECTORS * SECTOR ||
	    bs > DM_DIRTYLOG_MAX_BLOCK_SECTORS * SECTOR || (bs & (bs - 1))) {
		dl_seterr(err, errlen,
		       "%s: block size %" PRIu32 " is not a power of two from %u "
		       "to %u bytes", what, bs,
		       DM_DIRTYLOG_MIN_BLOCK_SECTORS * SECTOR,
		       DM_DIRTYLOG_MAX_BLOCK_SECTORS * SECTOR);
		return -EINVAL;
	}
	if (info->size % SECTOR) {
		dl_seterr(err, errlen,
		       "%s: device size %" PRIu64 " is not a multiple of 512",
		       what, info->size);
		return -EINVAL;
	}
	if (info->full && (info->base_name[0] || info->base_id)) {
		dl_seterr(err, errlen,
		       "%s: a full export has no base checkpoint, but base '%s' "
		       "(id %" PRIu64 ") is given", what, info->base_name,
		       info->base_id);
		return -EINVAL;
	}
	if (!info->full && (!info->base_name[0] || !info->base_id)) {
		dl_seterr(err, errlen,
		       "%s: an incremental export needs a base checkpoint name "
		       "and id", what);
		return -EINVAL;
	}
	if (!info->new_name[0] != !info->new_id) {
		dl_seterr(err, errlen,
		       "%s: new checkpoint '%s' with id %" PRIu64 ": a name needs "
		       "an id >= 1, and id 0 (now) no name", what, info->new_name,
		       info->new_id);
		return -EINVAL;
	}
	if (!info->full && info->new_id && info->new_id <= info->base_id) {
		dl_seterr(err, errlen,
		       "%s: new checkpoint id %" PRIu64 " is not after base id %"
		       PRIu64, what, info->new_id, info->base_id);
		return -EINVAL;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

struct dl_diff_writer {
	enum dl_diff_format fmt;
	int fd;
	struct dl_diff_info info;
	char *err;
	size_t errlen;
	int failed;		/* sticky -errno after a failure */
	bool finished;
	uint64_t next_off;	/* end of the last record, bytes */
	uint64_t nr_records;
	uint64_t data_bytes;
	uint64_t written;	/* bytes that reached the fd (sequential) */
	uint32_t stream_crc;	/* native: crc32c of every byte emitted */
	uint8_t *buf;		/* sequential formats: pending output */
	size_t buf_len;
	/* raw */
	bool is_reg, is_blk;
	uint64_t orig_size;	/* regular file: size when opened */
	bool punch_ok;
};

static int write_fail(struct dl_diff_writer *w, int ret)
{
	if (ret == -EPIPE)
		dl_seterr(w->err, w->errlen,
		       "cannot write the %s diff: the reading end of the pipe "
		       "is closed (broken pipe) after %" PRIu64 " bytes",
		       format_name(w->fmt), w->written);
	else if (ret == -ENOSPC)
		dl_seterr(w->err, w->errlen,
		       "cannot write the %s diff: no space left on device after %"
		       PRIu64 " bytes", format_name(w->fmt), w->written);
	else
		dl_seterr(w->err, w->errlen,
		       "cannot write the %s diff after %" PRIu64 " bytes: %s",
		       format_name(w->fmt), w->written, strerror(-ret));
	w->failed = ret;
	return ret;
}

/* write() all of @len bytes, through short writes and EINTR. */
static int write_all(struct dl_diff_writer *w, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return write_fail(w, -errno);
		}
		if (!n)
			return write_fail(w, -EIO);
		p += n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
	}
	return 0;
}

/*
 * Write what is buffered, then @len bytes at @p, with one writev() where
 * the fd takes it all: the data is not copied into the buffer first.
 */
static int write_with_buf(struct dl_diff_writer *w, const void *p, size_t len)
{
	struct iovec iov[2] = {
		{ .iov_base = w->buf, .iov_len = w->buf_len },
		{ .iov_base = (void *)p, .iov_len = len },
	};
	unsigned int i = w->buf_len ? 0 : 1;

	while (i < 2) {
		ssize_t n = writev(w->fd, iov + i, (int)(2 - i));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->buf_len = 0;
			return write_fail(w, -errno);
		}
		if (!n) {
			w->buf_len = 0;
			return write_fail(w, -EIO);
		}
		w->written += (uint64_t)n;
		/* Past the entries written whole; into the one written part way. */
		while (i < 2 && (size_t)n >= iov[i].iov_len) {
			n -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < 2) {
			iov[i].iov_base = (uint8_t *)iov[i].iov_base + n;
			iov[i].iov_len -= (size_t)n;
		}
	}
	w->buf_len = 0;
	return 0;
}

static int flush_buf(struct dl_diff_writer *w)
{
	int ret = 0;

	if (w->buf_len)
		ret = write_all(w, w->buf, w->buf_len);
	w->buf_len = 0;
	return ret;
}

/*
 * Emit @len bytes of a sequential stream whose crc32c the caller knows
 * (@crc, native only): the stream checksum extends by combining.
 */
static int emit_crc(struct dl_diff_writer *w, const void *p, size_t len,
		    uint32_t crc)
{
	if (w->fmt == DL_DIFF_NATIVE)
		w->stream_crc = dl_crc32c_combine(w->stream_crc, crc, len);
	if (len >= EMIT_DIRECT_MIN)
		return write_with_buf(w, p, len);
	if (w->buf_len + len > OUT_BUF_SIZE) {
		int ret = flush_buf(w);

		if (ret)
			return ret;
	}
	memcpy(w->buf + w->buf_len, p, len);
	w->buf_len += len;
	return 0;
}

/* Emit @len bytes of a sequential stream. */
static int emit(struct dl_diff_writer *w, const void *p, size_t len)
{
	return emit_crc(w, p, len, w->fmt == DL_DIFF_NATIVE ? dl_crc32c(0, p, len) : 0);
}

static void pack_header(const struct dl_diff_info *info, uint8_t *h)
{
	uint32_t flags = (info->full ? DL_DIFF_FLAG_FULL : 0) |
			 (info->fuzzy ? DL_DIFF_FLAG_FUZZY : 0);

	memset(h, 0, DL_DIFF_HEADER_SIZE);
	memcpy(h + DL_DIFF_OFF_MAGIC, DL_DIFF_MAGIC, DL_DIFF_MAGIC_LEN);
	dl_put_le32(h + DL_DIFF_OFF_VERSION, DL_DIFF_VERSION);
	dl_put_le32(h + DL_DIFF_OFF_HEADER_SIZE, DL_DIFF_HEADER_SIZE);
	dl_put_le32(h + DL_DIFF_OFF_FLAGS, flags);
	dl_put_le32(h + DL_DIFF_OFF_BLOCK_SIZE, info->block_size);
	dl_put_le64(h + DL_DIFF_OFF_SIZE, info->size);
	memcpy(h + DL_DIFF_OFF_UUID, info->uuid, 16);
	dl_put_le64(h + DL_DIFF_OFF_BASE_ID, info->base_id);
	dl_put_le64(h + DL_DIFF_OFF_NEW_ID, info->new_id);
	memcpy(h + DL_DIFF_OFF_BASE_NAME, info->base_name,
	       strlen(info->base_name));
	memcpy(h + DL_DIFF_OFF_NEW_NAME, info->new_name,
	       strlen(info->new_name));
	dl_put_le32(h + DL_DIFF_OFF_HEADER_CRC,
		 dl_crc32c(0, h, DL_DIFF_OFF_HEADER_CRC));
}

static int rbd_name_record(struct dl_diff_writer *w, uint8_t tag,
			   const char *name)
{
	uint8_t h[5];
	size_t len = strlen(name);
	int ret;

	h[0] = tag;
	dl_put_le32(h + 1, (uint32_t)len);
	ret = emit(w, h, sizeof(h));
	return ret ? ret : emit(w, name, len);
}

static int write_start(struct dl_diff_writer *w)
{
	uint8_t h[DL_DIFF_HEADER_SIZE];
	int ret;

	switch (w->fmt) {
	case DL_DIFF_NATIVE:
		pack_header(&w->info, h);
		return emit(w, h, DL_DIFF_HEADER_SIZE);
	case DL_DIFF_RBD:
		ret = emit(w, DL_RBD_BANNER, DL_RBD_BANNER_LEN);
		if (!ret && !w->info.full)
			ret = rbd_name_record(w, DL_RBD_FROM_SNAP,
					      w->info.base_name);
		if (!ret && w->info.new_name[0])
			ret = rbd_name_record(w, DL_RBD_TO_SNAP,
					      w->info.new_name);
		if (!ret) {
			h[0] = DL_RBD_SIZE;
			dl_put_le64(h + 1, w->info.size);
			ret = emit(w, h, 9);
		}
		return ret;
	case DL_DIFF_RAW:
		return 0;
	}
	return -EINVAL;
}

static int raw_setup(struct dl_diff_writer *w)
{
	struct stat st;
	off_t end;

	if (lseek(w->fd, 0, SEEK_CUR) < 0) {
		int e = errno;

		if (e == ESPIPE)
			dl_seterr(w->err, w->errlen,
			       "raw output needs a seekable file or device, not "
			       "a pipe; use the native or rbd format to stream");
		else
			dl_seterr(w->err, w->errlen, "cannot seek the raw output: %s",
			       strerror(e));
		return -e;
	}
	if (fstat(w->fd, &st)) {
		int e = errno;

		dl_seterr(w->err, w->errlen, "cannot stat the raw output: %s",
		       strerror(e));
		return -e;
	}
	w->is_reg = S_ISREG(st.st_mode);
	w->is_blk = S_ISBLK(st.st_mode);
	w->punch_ok = true;
	if (w->is_reg) {
		w->orig_size = (uint64_t)st.st_size;
	} else if (w->is_blk) {
		end = lseek(w->fd, 0, SEEK_END);
		if (end < 0 || (uint64_t)end < w->info.size) {
			dl_seterr(w->err, w->errlen,
			       "raw output device is %jd bytes, smaller than the "
			       "%" PRIu64 "-byte image", (intmax_t)end, w->info.size);
			return -ENOSPC;
		}
		w->orig_size = (uint64_t)end;
	} else {
		dl_seterr(w->err, w->errlen,
		       "raw output must be a regular file or a block device");
		return -EINVAL;
	}
	return 0;
}

struct dl_diff_writer *dl_diff_writer_open(enum dl_diff_format f, int fd,
					   const struct dl_diff_info *info,
					   char *err, size_t errlen)
{
	struct dl_diff_writer *w;
	int ret;

	if (f != DL_DIFF_NATIVE && f != DL_DIFF_RBD && f != DL_DIFF_RAW) {
		dl_seterr(err, errlen, "unknown diff format %d", (int)f);
		errno = EINVAL;
		return NULL;
	}
	ret = check_info(info, "invalid diff info", err, errlen);
	if (!ret && f == DL_DIFF_RBD && !info->full)
		ret = dl_diff_rbd_name_ok(info->base_name, err, errlen);
	if (!ret && f == DL_DIFF_RBD && info->new_name[0])
		ret = dl_diff_rbd_name_ok(info->new_name, err, errlen);
	if (ret) {
		errno = -ret;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		goto out_nomem;
	w->fmt = f;
	w->fd = fd;
	w->info = *info;
	w->err = err;
	w->errlen = errlen;
	if (f == DL_DIFF_RAW) {
		ret = raw_setup(w);
		if (ret)
			goto out_free;
	} else {
		w->buf = malloc(OUT_BUF_SIZE);
		if (!w->buf) {
			free(w);
			goto out_nomem;
		}
	}
	ret = write_start(w);
	if (ret)
		goto out_free;
	return w;

out_free:
	dl_diff_writer_free(w);
	errno = -ret;
	return NULL;
out_nomem:
	dl_seterr(err, errlen, "out of memory");
	errno = ENOMEM;
	return NULL;
}

/* The rules every record must follow, checked before anything is written. */
static int check_record(struct dl_diff_writer *w, const char *kind,
			uint64_t off, uint64_t len)
{
	if (w->failed)
		return w->failed;
	if (w->finished) {
		dl_seterr(w->err, w->errlen,
		       "invalid record: %s record after the end of the diff", kind);
		return -EINVAL;
	}
	if (!len || off % SECTOR || len % SECTOR) {
		dl_seterr(w->err, w->errlen,
		       "invalid record: %s record [%" PRIu64 ", +%" PRIu64 "): "
		       "offset and length must be multiples of 512, length > 0",
		       kind, off, len);
		return -EINVAL;
	}
	if (off < w->next_off) {
		dl_seterr(w->err, w->errlen,
		       "records out of order: %s record [%" PRIu64 ", %" PRIu64
		       ") starts before the end of the previous record (%" PRIu64
		       ")", kind, off, off + len, w->next_off);
		return -EINVAL;
	}
	if (len > w->info.size || off > w->info.size - len) {
		dl_seterr(w->err, w->errlen,
		       "invalid record: %s record [%" PRIu64 ", +%" PRIu64 ") "
		       "goes past the device size %" PRIu64, kind, off, len,
		       w->info.size);
		return -EINVAL;
	}
	return 0;
}

static int pwrite_all(struct dl_diff_writer *w, const void *buf, size_t len,
		      uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(w->fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return write_fail(w, -errno);
		}
		if (!n)
			return write_fail(w, -EIO);
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
		w->written += (uint64_t)n;
	}
	return 0;
}

/* @known_crc: dl_crc32c(0, data, len) when the caller has it, else NULL. */
static int native_record(struct dl_diff_writer *w, uint32_t type,
			 uint64_t off, uint64_t len, const void *data,
			 const uint32_t *known_crc)
{
	uint8_t h[DL_DIFF_REC_SIZE];
	uint32_t crc, dcrc = 0;
	int ret;

	memset(h, 0, sizeof(h));
	dl_put_le32(h + DL_DIFF_REC_OFF_TYPE, type);
	dl_put_le64(h + DL_DIFF_REC_OFF_OFFSET, off);
	dl_put_le64(h + DL_DIFF_REC_OFF_LENGTH, len);
	/* The data is checksummed once, for the record and the stream. */
	crc = dl_crc32c(0, h, DL_DIFF_REC_OFF_CRC);
	if (data) {
		dcrc = known_crc ? *known_crc : dl_crc32c(0, data, (size_t)len);
		crc = dl_crc32c_combine(crc, dcrc, len);
	}
	dl_put_le32(h + DL_DIFF_REC_OFF_CRC, crc);
	ret = emit(w, h, sizeof(h));
	if (!ret && data)
		ret = emit_crc(w, data, (size_t)len, dcrc);
	return ret;
}

static int rbd_record(struct dl_diff_writer *w, uint8_t tag, uint64_t off,
		      uint64_t len, const void *data)
{
	uint8_t h[17];
	int ret;

	h[0] = tag;
	dl_put_le64(h + 1, off);
	dl_put_le64(h + 9, len);
	ret = emit(w, h, sizeof(h));
	if (!ret && data)
		ret = emit(w, data, (size_t)len);
	return ret;
}

static int raw_zero(struct dl_diff_writer *w, uint64_t off, uint64_t len)
{
	static const uint8_t zeroes[64 << 10];
	uint64_t end = off + len;

	/*
	 * Past the size the file had when opened, nothing was ever written
	 * (records ascend), so the range is already a hole.
	 */
	if (end > w->orig_size)
		end = w->orig_size;
	if (off >= end)
		return 0;
	if (w->punch_ok) {
		if (!fallocate(w->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			       (off_t)off, (off_t)(end - off)))
			return 0;
		if (errno != EOPNOTSUPP && errno != ENOSYS)
			return write_fail(w, -errno);
		w->punch_ok = false;
	}
	while (off < end) {
		size_t n = end - off < sizeof(zeroes) ? (size_t)(end - off) :
							sizeof(zeroes);
		int ret = pwrite_all(w, zeroes, n, off);

		if (ret)
			return ret;
		off += n;
	}
	return 0;
}

static int write_data(struct dl_diff_writer *w, uint64_t off, uint64_t len,
		      const void *buf, const uint32_t *known_crc)
{
	/* @known_crc covers all of @buf: of use only when one record does. */
	const uint32_t *whole_crc = len <= DL_DIFF_MAX_DATA ? known_crc : NULL;
	const uint8_t *p = buf;
	int ret = check_record(w, "data", off, len);

	if (ret)
		return ret;
	w->next_off = off + len;
	while (len) {
		uint64_t n = len < DL_DIFF_MAX_DATA ? len : DL_DIFF_MAX_DATA;

		switch (w->fmt) {
		case DL_DIFF_NATIVE:
			ret = native_record(w, DL_DIFF_REC_DATA, off, n, p, whole_crc);
			break;
		case DL_DIFF_RBD:
			ret = rbd_record(w, DL_RBD_WRITE, off, n, p);
			break;
		case DL_DIFF_RAW:
			ret = pwrite_all(w, p, (size_t)n, off);
			break;
		}
		if (ret)
			return ret;
		w->nr_records++;
		w->data_bytes += n;
		off += n;
		p += n;
		len -= n;
	}
	return 0;
}

int dl_diff_write_data(struct dl_diff_writer *w, uint64_t off, uint64_t len,
		       const void *buf)
{
	return write_data(w, off, len, buf, NULL);
}

int dl_diff_write_data_crc(struct dl_diff_writer *w, uint64_t off, uint64_t len,
			   const void *buf, uint32_t crc)
{
	return write_data(w, off, len, buf, &crc);
}

int dl_diff_write_zero(struct dl_diff_writer *w, uint64_t off, uint64_t len)
{
	int ret = check_record(w, "zero", off, len);

	if (ret)
		return ret;
	w->next_off = off + len;
	switch (w->fmt) {
	case DL_DIFF_NATIVE:
		ret = native_record(w, DL_DIFF_REC_ZERO, off, len, NULL, NULL);
		break;
	case DL_DIFF_RBD:
		ret = rbd_record(w, DL_RBD_ZERO, off, len, NULL);
		break;
	case DL_DIFF_RAW:
		ret = raw_zero(w, off, len);
		break;
	}
	if (!ret)
		w->nr_records++;
	return ret;
}

static int sync_out(struct dl_diff_writer *w)
{
	struct stat st;

	if (fstat(w->fd, &st) || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return 0;
	if (fsync(w->fd)) {
		int e = errno;

		dl_seterr(w->err, w->errlen, "cannot fsync the %s diff: %s",
		       format_name(w->fmt), strerror(e));
		w->failed = -e;
		return -e;
	}
	return 0;
}

int dl_diff_writer_finish(struct dl_diff_writer *w)
{
	uint8_t t[DL_DIFF_TRAILER_SIZE];
	int ret = 0;

	if (w->failed)
		return w->failed;
	if (w->finished) {
		dl_seterr(w->err, w->errlen, "the diff is already finished");
		return -EINVAL;
	}
	switch (w->fmt) {
	case DL_DIFF_NATIVE:
		memset(t, 0, sizeof(t));
		dl_put_le32(t + DL_DIFF_REC_OFF_TYPE, DL_DIFF_REC_TRAILER);
		dl_put_le64(t + DL_DIFF_TRL_OFF_RECORDS, w->nr_records);
		dl_put_le64(t + DL_DIFF_TRL_OFF_BYTES, w->data_bytes);
		dl_put_le32(t + DL_DIFF_TRL_OFF_STREAM_CRC, w->stream_crc);
		dl_put_le32(t + DL_DIFF_TRL_OFF_CRC,
			 dl_crc32c(0, t, DL_DIFF_TRL_OFF_CRC));
		ret = emit(w, t, sizeof(t));
		break;
	case DL_DIFF_RBD:
		t[0] = DL_RBD_END;
		ret = emit(w, t, 1);
		break;
	case DL_DIFF_RAW:
		if (w->is_reg && ftruncate(w->fd, (off_t)w->info.size)) {
			int e = errno;

			dl_seterr(w->err, w->errlen,
			       "cannot set the raw image size to %" PRIu64 ": %s",
			       w->info.size, strerror(e));
			w->failed = -e;
			return -e;
		}
		break;
	}
	if (!ret)
		ret = flush_buf(w);
	if (!ret)
		ret = sync_out(w);
	if (!ret)
		w->finished = true;
	return ret;
}

void dl_diff_writer_free(struct dl_diff_writer *w)
{
	if (!w)
		return;
	free(w->buf);
	free(w);
}

uint64_t dl_diff_writer_records(const struct dl_diff_writer *w)
{
	return w->nr_records;
}

uint64_t dl_diff_writer_data_bytes(const struct dl_diff_writer *w)
{
	return w->data_bytes;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

struct dl_diff_reader {
	enum dl_diff_format fmt;
	int fd;
	char *err;
	size_t errlen;
	struct dl_diff_info info;
	int state;		/* 0 reading, 1 at the end, -errno failed */
	uint64_t pos;		/* stream offset of the next byte */
	uint64_t index;		/* index of the next record */
	uint64_t next_off;	/* end of the previous record, bytes */
	uint64_t nr_records;
	uint64_t data_bytes;
	uint32_t stream_crc;	/* native: crc32c of all consumed bytes */
	uint8_t *data;		/* data of the last record handed out */
	size_t data_cap;
	uint8_t *ubuf;		/* dl_diff_reader_set_buffer(), one record */
	size_t ucap;
	/* rbd */
	int rbd_tag;		/* first data tag, read with the metadata */
	uint64_t rbd_left;	/* bytes of the current 'w' not handed out */
	uint64_t rbd_off;
	/* input buffer */
	uint8_t in[IN_BUF_SIZE];
	size_t in_len, in_pos;
};

/*
 * Read up to @len bytes; fewer only at end of stream.  -errno on error.
 * What the input buffer holds is used first; then a request of at least
 * IN_BUF_SIZE bytes, or any request while a caller's buffer is set
 * (r->ubuf), is read straight into @buf, a smaller one refills the input
 * buffer.
 */
static ssize_t rd(struct dl_diff_reader *r, void *buf, size_t len)
{
	bool direct = r->ubuf || len >= IN_BUF_SIZE;
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n;

		if (r->in_pos < r->in_len) {
			size_t k = r->in_len - r->in_pos;

			if (k > len - got)
				k = len - got;
			memcpy(p + got, r->in + r->in_pos, k);
			r->in_pos += k;
			got += k;
			continue;
		}
		if (direct)
			n = read(r->fd, p + got, len - got);
		else
			n = read(r->fd, r->in, IN_BUF_SIZE);
		if (n < 0) {
			int e = errno;

			if (e == EINTR)
				continue;
			dl_seterr(r->err, r->errlen,
			       "cannot read the diff at offset %" PRIu64 ": %s",
			       r->pos + got, strerror(e));
			return -e;
		}
		if (!n)
			break;
		if (direct) {
			got += (size_t)n;
		} else {
			r->in_len = (size_t)n;
			r->in_pos = 0;
		}
	}
	r->pos += got;
	return (ssize_t)got;
}

static int fail(struct dl_diff_reader *r, int ret)
{
	r->state = ret;
	return ret;
}

/* Bytes after the end marker are refused. */
static int expect_eof(struct dl_diff_reader *r, const char *marker)
{
	uint8_t b;
	uint64_t at = r->pos;
	ssize_t n = rd(r, &b, 1);

	if (n < 0)
		return fail(r, (int)n);
	if (n) {
		dl_seterr(r->err, r->errlen,
		       "trailing garbage: bytes after the %s, at offset %" PRIu64,
		       marker, at);
		return fail(r, -EFBIG);
	}
	r->state = 1;
	return 0;
}

static bool name_ok(const uint8_t *field)
{
	const uint8_t *nul = memchr(field, 0, DL_DIFF_NAME_LEN);

	return nul && all_zero(nul, (size_t)(field + DL_DIFF_NAME_LEN - nul));
}

static int native_open(struct dl_diff_reader *r, uint8_t *h)
{
	ssize_t n = rd(r, h + DL_DIFF_MAGIC_LEN,
		       DL_DIFF_HEADER_SIZE - DL_DIFF_MAGIC_LEN);
	size_t have;
	uint32_t v, flags, crc;
	struct dl_diff_info *info = &r->info;

	if (n < 0)
		return (int)n;
	have = DL_DIFF_MAGIC_LEN + (size_t)n;
	if (have >= DL_DIFF_OFF_VERSION + 4) {
		v = dl_get_le32(h + DL_DIFF_OFF_VERSION);
		if (v > DL_DIFF_VERSION) {
			dl_seterr(r->err, r->errlen,
			       "stream version %" PRIu32 " is newer than this tool "
			       "supports (version %u)", v, DL_DIFF_VERSION);
			return -EPROTONOSUPPORT;
		}
		if (v != DL_DIFF_VERSION) {
			dl_seterr(r->err, r->errlen,
			       "unsupported stream version %" PRIu32, v);
			return -EPROTONOSUPPORT;
		}
	}
	if (have >= DL_DIFF_OFF_HEADER_SIZE + 4) {
		v = dl_get_le32(h + DL_DIFF_OFF_HEADER_SIZE);
		if (v != DL_DIFF_HEADER_SIZE) {
			dl_seterr(r->err, r->errlen,
			       "unsupported header size %" PRIu32 " (version %u has "
			       "%u)", v, DL_DIFF_VERSION, DL_DIFF_HEADER_SIZE);
			return -EPROTONOSUPPORT;
		}
	}
	if (have < DL_DIFF_HEADER_SIZE) {
		dl_seterr(r->err, r->errlen,
		       "truncated: the stream ends after %zu bytes, inside the "
		       "%u-byte header", have, DL_DIFF_HEADER_SIZE);
		return -ENODATA;
	}
	crc = dl_crc32c(0, h, DL_DIFF_OFF_HEADER_CRC);
	v = dl_get_le32(h + DL_DIFF_OFF_HEADER_CRC);
	if (crc != v) {
		dl_seterr(r->err, r->errlen,
		       "header corrupt: checksum mismatch (stored 0x%08" PRIx32
		       ", computed 0x%08" PRIx32 ")", v, crc);
		return -EBADMSG;
	}
	flags = dl_get_le32(h + DL_DIFF_OFF_FLAGS);
	if (flags & ~(DL_DIFF_FLAG_FULL | DL_DIFF_FLAG_FUZZY)) {
		dl_seterr(r->err, r->errlen, "unsupported flags 0x%08" PRIx32, flags);
		return -EBADMSG;
	}
	if (!all_zero(h + DL_DIFF_OFF_RESERVED,
		      DL_DIFF_OFF_HEADER_CRC - DL_DIFF_OFF_RESERVED)) {
		dl_seterr(r->err, r->errlen, "nonzero reserved bytes in the header");
		return -EBADMSG;
	}
	if (!name_ok(h + DL_DIFF_OFF_BASE_NAME) ||
	    !name_ok(h + DL_DIFF_OFF_NEW_NAME)) {
		dl_seterr(r->err, r->errlen,
		       "unterminated name: a checkpoint name in the header has no "
		       "NUL or nonzero padding");
		return -EBADMSG;
	}
	info->full = flags & DL_DIFF_FLAG_FULL;
	info->fuzzy = flags & DL_DIFF_FLAG_FUZZY;
	info->block_size = dl_get_le32(h + DL_DIFF_OFF_BLOCK_SIZE);
	info->size = dl_get_le64(h + DL_DIFF_OFF_SIZE);
	memcpy(info->uuid, h + DL_DIFF_OFF_UUID, 16);
	info->base_id = dl_get_le64(h + DL_DIFF_OFF_BASE_ID);
	info->new_id = dl_get_le64(h + DL_DIFF_OFF_NEW_ID);
	memcpy(info->base_name, h + DL_DIFF_OFF_BASE_NAME, DL_DIFF_NAME_LEN);
	memcpy(info->new_name, h + DL_DIFF_OFF_NEW_NAME, DL_DIFF_NAME_LEN);
	r->stream_crc = dl_crc32c(0, h, DL_DIFF_HEADER_SIZE);
	return check_info(info, "invalid header", r->err, r->errlen);
}

static int rbd_truncated(struct dl_diff_reader *r, const char *where)
{
	dl_seterr(r->err, r->errlen,
	       "truncated: the rbd diff ends at offset %" PRIu64 " %s", r->pos,
	       where);
	return -ENODATA;
}

static int rbd_name(struct dl_diff_reader *r, char tag, char *out)
{
	uint8_t b[4];
	uint32_t len;
	ssize_t n = rd(r, b, 4);

	if (n < 0)
		return (int)n;
	if (n < 4)
		return rbd_truncated(r, "inside a snapshot name record");
	len = dl_get_le32(b);
	if (len >= DL_DIFF_NAME_LEN) {
		dl_seterr(r->err, r->errlen,
		       "invalid rbd diff: '%c' snapshot name of %" PRIu32
		       " bytes, longer than the %u this tool supports", tag, len,
		       DM_DIRTYLOG_NAME_MAX);
		return -EBADMSG;
	}
	n = rd(r, out, len);
	if (n < 0)
		return (int)n;
	if ((size_t)n < len)
		return rbd_truncated(r, "inside a snapshot name");
	out[len] = 0;
	if (strlen(out) != len || !len) {
		dl_seterr(r->err, r->errlen,
		       "invalid rbd diff: '%c' snapshot name is empty or holds a "
		       "NUL byte", tag);
		return -EBADMSG;
	}
	return 0;
}

static int rbd_open(struct dl_diff_reader *r)
{
	bool from = false, to = false, size = false;
	uint8_t tag, b[8];
	ssize_t n;
	int ret;

	for (;;) {
		uint64_t at = r->pos;

		n = rd(r, &tag, 1);
		if (n < 0)
			return (int)n;
		if (!n)
			return rbd_truncated(r, "before its first data record");
		switch (tag) {
		case DL_RBD_FROM_SNAP:
		case DL_RBD_TO_SNAP:
			if (tag == DL_RBD_FROM_SNAP ? from : to) {
				dl_seterr(r->err, r->errlen,
				       "invalid rbd diff: second '%c' record at "
				       "offset %" PRIu64, tag, at);
				return -EBADMSG;
			}
			ret = rbd_name(r, (char)tag, tag == DL_RBD_FROM_SNAP ?
				       r->info.base_name : r->info.new_name);
			if (ret)
				return ret;
			*(tag == DL_RBD_FROM_SNAP ? &from : &to) = true;
			break;
		case DL_RBD_SIZE:
			if (size) {
				dl_seterr(r->err, r->errlen,
				       "invalid rbd diff: second 's' record at "
				       "offset %" PRIu64, at);
				return -EBADMSG;
			}
			n = rd(r, b, 8);
			if (n < 0)
				return (int)n;
			if (n < 8)
				return rbd_truncated(r, "inside the size record");
			r->info.size = dl_get_le64(b);
			size = true;
			break;
		default:
			if (!size) {
				dl_seterr(r->err, r->errlen,
				       "invalid rbd diff: no image size ('s') before "
				       "tag 0x%02x at offset %" PRIu64, tag, at);
				return -EBADMSG;
			}
			r->rbd_tag = tag;
			r->pos--;	/* the tag is the first record's */
			r->info.full = !from;
			return 0;
		}
	}
}

struct dl_diff_reader *dl_diff_reader_open(int fd, struct dl_diff_info *info,
					   char *err, size_t errlen)
{
	struct dl_diff_reader *r = calloc(1, sizeof(*r));
	uint8_t h[DL_DIFF_HEADER_SIZE];
	ssize_t n;
	int ret;

	if (!r) {
		dl_seterr(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	r->fd = fd;
	r->err = err;
	r->errlen = errlen;
	r->rbd_tag = -1;
	memset(h, 0, sizeof(h));
	n = rd(r, h, DL_DIFF_MAGIC_LEN);
	if (n < 0) {
		ret = (int)n;
		goto out;
	}
	if ((size_t)n < DL_DIFF_MAGIC_LEN &&
	    (!memcmp(h, DL_DIFF_MAGIC, (size_t)n) ||
	     !memcmp(h, DL_RBD_BANNER, (size_t)n))) {
		dl_seterr(err, errlen,
		       "truncated: the stream ends after %zd bytes, inside the "
		       "magic", n);
		ret = -ENODATA;
	} else if (!memcmp(h, DL_DIFF_MAGIC, DL_DIFF_MAGIC_LEN)) {
		r->fmt = DL_DIFF_NATIVE;
		ret = native_open(r, h);
	} else if ((size_t)n == DL_DIFF_MAGIC_LEN &&
		   !memcmp(h, DL_RBD_BANNER, DL_DIFF_MAGIC_LEN)) {
		r->fmt = DL_DIFF_RBD;
		n = rd(r, h + DL_DIFF_MAGIC_LEN,
		       DL_RBD_BANNER_LEN - DL_DIFF_MAGIC_LEN);
		if (n < 0) {
			ret = (int)n;
		} else if ((size_t)n < DL_RBD_BANNER_LEN - DL_DIFF_MAGIC_LEN) {
			ret = rbd_truncated(r, "inside the banner");
		} else if (memcmp(h, DL_RBD_BANNER, DL_RBD_BANNER_LEN)) {
			dl_seterr(err, errlen,
			       "not a diff stream: an rbd diff but not \"rbd diff "
			       "v1\" (only v1 is supported)");
			ret = -EPROTONOSUPPORT;
		} else {
			ret = rbd_open(r);
		}
	} else {
		dl_seterr(err, errlen,
		       "not a diff stream: it starts with neither \"DLDIFF\" nor "
		       "\"rbd diff v1\"");
		ret = -EILSEQ;
	}
out:
	if (ret) {
		dl_diff_reader_free(r);
		errno = -ret;
		return NULL;
	}
	*info = r->info;
	return r;
}

uint64_t dl_diff_reader_pos(const struct dl_diff_reader *r)
{
	return r->pos;
}

enum dl_diff_format dl_diff_reader_format(const struct dl_diff_reader *r)
{
	return r->fmt;
}

/* Room for @len (<= DL_DIFF_MAX_DATA) bytes of data. */
static int alloc_data(struct dl_diff_reader *r, uint64_t len)
{
	uint8_t *p;

	if (len <= r->data_cap)
		return 0;
	p = realloc(r->data, (size_t)len);
	if (!p) {
		dl_seterr(r->err, r->errlen,
		       "out of memory for %" PRIu64 " bytes of record data", len);
		return -ENOMEM;
	}
	r->data = p;
	r->data_cap = (size_t)len;
	return 0;
}

/* Where @len bytes of record data go: the caller's buffer if it fits. */
static uint8_t *data_buf(struct dl_diff_reader *r, uint64_t len)
{
	if (!len)		/* refused later, by check_extent() */
		return r->in;
	if (r->ubuf && len <= r->ucap)
		return r->ubuf;
	return alloc_data(r, len) ? NULL : r->data;
}

void dl_diff_reader_set_buffer(struct dl_diff_reader *r, void *buf, size_t cap)
{
	r->ubuf = buf;
	r->ucap = buf ? cap : 0;
}

/* Order, alignment and size rules, after the record's checksum. */
static int check_extent(struct dl_diff_reader *r, uint64_t at, uint64_t off,
			uint64_t len, bool aligned)
{
	if (!len || (aligned && (off % SECTOR || len % SECTOR))) {
		dl_seterr(r->err, r->errlen,
		       "invalid record: record %" PRIu64 " at stream offset %"
		       PRIu64 " covers [%" PRIu64 ", +%" PRIu64 "): offset and "
		       "length must be multiples of 512, length > 0", r->index,
		       at, off, len);
		return -EINVAL;
	}
	if (off < r->next_off) {
		dl_seterr(r->err, r->errlen,
		       "records out of order: record %" PRIu64 " at stream "
		       "offset %" PRIu64 " starts at byte %" PRIu64 ", before the "
		       "end of the previous record (byte %" PRIu64 ")", r->index,
		       at, off, r->next_off);
		return -EINVAL;
	}
	if (len > r->info.size || off > r->info.size - len) {
		dl_seterr(r->err, r->errlen,
		       "invalid record: record %" PRIu64 " at stream offset %"
		       PRIu64 " covers [%" PRIu64 ", +%" PRIu64 "), past the "
		       "device size %" PRIu64, r->index, at, off, len,
		       r->info.size);
		return -EINVAL;
	}
	return 0;
}

static int native_trailer(struct dl_diff_reader *r, const uint8_t *h,
			  uint64_t at)
{
	uint8_t t[DL_DIFF_TRAILER_SIZE];
	uint32_t crc, v;

	memcpy(t, h, DL_DIFF_REC_SIZE);	/* the trailer is one header long */
	crc = dl_crc32c(0, t, DL_DIFF_TRL_OFF_CRC);
	v = dl_get_le32(t + DL_DIFF_TRL_OFF_CRC);
	if (crc != v || dl_get_le32(t + 4)) {
		dl_seterr(r->err, r->errlen,
		       "trailer corrupt: checksum mismatch in the trailer at "
		       "offset %" PRIu64, at);
		return -EBADMSG;
	}
	v = dl_get_le32(t + DL_DIFF_TRL_OFF_STREAM_CRC);
	if (v != r->stream_crc) {
		dl_seterr(r->err, r->errlen,
		       "trailer corrupt: stream checksum mismatch (stored 0x%08"
		       PRIx32 ", computed 0x%08" PRIx32 ")", v, r->stream_crc);
		return -EBADMSG;
	}
	if (dl_get_le64(t + DL_DIFF_TRL_OFF_RECORDS) != r->nr_records ||
	    dl_get_le64(t + DL_DIFF_TRL_OFF_BYTES) != r->data_bytes) {
		dl_seterr(r->err, r->errlen,
		       "trailer corrupt: the trailer counts %" PRIu64 " records "
		       "and %" PRIu64 " data bytes, the stream has %" PRIu64
		       " and %" PRIu64, dl_get_le64(t + DL_DIFF_TRL_OFF_RECORDS),
		       dl_get_le64(t + DL_DIFF_TRL_OFF_BYTES), r->nr_records,
		       r->data_bytes);
		return -EBADMSG;
	}
	return expect_eof(r, "trailer");
}

static int native_read(struct dl_diff_reader *r, struct dl_diff_record *rec)
{
	uint8_t h[DL_DIFF_REC_SIZE];
	uint64_t at = r->pos, off, len;
	uint32_t type, crc, stored, dcrc = 0;
	uint8_t *dst = NULL;
	ssize_t n = rd(r, h, sizeof(h));
	int ret;

	if (n < 0)
		return (int)n;
	if (n == 0) {
		dl_seterr(r->err, r->errlen,
		       "truncated: the stream ends at offset %" PRIu64 " after %"
		       PRIu64 " records without a trailer; the export is "
		       "incomplete", at, r->index);
		return -ENODATA;
	}
	if ((size_t)n < sizeof(h)) {
		dl_seterr(r->err, r->errlen,
		       "truncated: the stream ends at offset %" PRIu64 " inside "
		       "the header of record %" PRIu64, at + (uint64_t)n, r->index);
		return -ENODATA;
	}
	type = dl_get_le32(h + DL_DIFF_REC_OFF_TYPE);
	if (type == DL_DIFF_REC_TRAILER) {
		return native_trailer(r, h, at);
	}
	off = dl_get_le64(h + DL_DIFF_REC_OFF_OFFSET);
	len = dl_get_le64(h + DL_DIFF_REC_OFF_LENGTH);
	if (type != DL_DIFF_REC_DATA && type != DL_DIFF_REC_ZERO) {
		dl_seterr(r->err, r->errlen,
		       "record corrupt: record %" PRIu64 " at stream offset %"
		       PRIu64 " has unknown type 0x%08" PRIx32, r->index, at, type);
		return -EBADMSG;
	}
	if (dl_get_le32(h + 4) || dl_get_le32(h + 28)) {
		dl_seterr(r->err, r->errlen,
		       "record corrupt: record %" PRIu64 " at stream offset %"
		       PRIu64 " has nonzero reserved bytes", r->index, at);
		return -EBADMSG;
	}
	if (type == DL_DIFF_REC_DATA && len > DL_DIFF_MAX_DATA) {
		dl_seterr(r->err, r->errlen,
		       "record corrupt: record %" PRIu64 " at stream offset %"
		       PRIu64 " claims %" PRIu64 " bytes of data, more than the "
		       "%u a record may carry", r->index, at, len,
		       DL_DIFF_MAX_DATA);
		return -EBADMSG;
	}
	crc = dl_crc32c(0, h, DL_DIFF_REC_OFF_CRC);
	if (type == DL_DIFF_REC_DATA) {
		dst = data_buf(r, len);
		if (!dst)
			return -ENOMEM;
		n = rd(r, dst, (size_t)len);
		if (n < 0)
			return (int)n;
		if ((uint64_t)n < len) {
			dl_seterr(r->err, r->errlen,
			       "truncated: the stream ends at offset %" PRIu64
			       " inside the data of record %" PRIu64 " (stream "
			       "offset %" PRIu64 ")", r->pos, r->index, at);
			return -ENODATA;
		}
		dcrc = dl_crc32c(0, dst, (size_t)len);
		crc = dl_crc32c_combine(crc, dcrc, len);
	}
	stored = dl_get_le32(h + DL_DIFF_REC_OFF_CRC);
	if (crc != stored) {
		dl_seterr(r->err, r->errlen,
		       "record corrupt: record %" PRIu64 " at stream offset %"
		       PRIu64 ": checksum mismatch (stored 0x%08" PRIx32
		       ", computed 0x%08" PRIx32 ")", r->index, at, stored, crc);
		return -EBADMSG;
	}
	ret = check_extent(r, at, off, len, true);
	if (ret)
		return ret;
	r->stream_crc = dl_crc32c(r->stream_crc, h, sizeof(h));
	if (type == DL_DIFF_REC_DATA) {
		r->stream_crc = dl_crc32c_combine(r->stream_crc, dcrc, len);
		r->data_bytes += len;
	}
	r->nr_records++;
	rec->type = type == DL_DIFF_REC_DATA ? DL_DIFF_DATA : DL_DIFF_ZERO;
	rec->offset = off;
	rec->length = len;
	rec->data = type == DL_DIFF_REC_DATA ? dst : NULL;
	rec->index = r->index++;
	r->next_off = off + len;
	return 1;
}

/* The next piece of the current rbd 'w' record. */
static int rbd_piece(struct dl_diff_reader *r, struct dl_diff_record *rec)
{
	uint64_t n = r->rbd_left < DL_DIFF_MAX_DATA ? r->rbd_left :
						      DL_DIFF_MAX_DATA;
	uint8_t *dst = data_buf(r, n);
	ssize_t got;

	if (!dst)
		return -ENOMEM;
	got = rd(r, dst, (size_t)n);
	if (got < 0)
		return (int)got;
	if ((uint64_t)got < n)
		return rbd_truncated(r, "inside the data of a 'w' record");
	rec->type = DL_DIFF_DATA;
	rec->offset = r->rbd_off;
	rec->length = n;
	rec->data = dst;
	rec->index = r->index++;
	r->rbd_off += n;
	r->rbd_left -= n;
	r->data_bytes += n;
	return 1;
}

static int rbd_read(struct dl_diff_reader *r, struct dl_diff_record *rec)
{
	uint64_t at = r->pos, off, len;
	uint8_t tag, b[16];
	ssize_t n;
	int ret;

	if (r->rbd_left)
		return rbd_piece(r, rec);
	if (r->rbd_tag >= 0) {
		tag = (uint8_t)r->rbd_tag;
		r->rbd_tag = -1;
		r->pos++;
	} else {
		n = rd(r, &tag, 1);
		if (n < 0)
			return (int)n;
		if (!n)
			return rbd_truncated(r, "without its end record 'e'; the "
					     "export is incomplete");
	}
	if (tag == DL_RBD_END)
		return expect_eof(r, "end record 'e'");
	if (tag == DL_RBD_FROM_SNAP || tag == DL_RBD_TO_SNAP ||
	    tag == DL_RBD_SIZE) {
		dl_seterr(r->err, r->errlen,
		       "invalid rbd diff: metadata record '%c' at offset %" PRIu64
		       " after the data records", tag, at);
		return -EBADMSG;
	}
	if (tag != DL_RBD_WRITE && tag != DL_RBD_ZERO) {
		dl_seterr(r->err, r->errlen,
		       "invalid rbd diff: unknown tag 0x%02x at offset %" PRIu64
		       " (record %" PRIu64 ")", tag, at, r->index);
		return -EBADMSG;
	}
	n = rd(r, b, sizeof(b));
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(b))
		return rbd_truncated(r, "inside a record header");
	off = dl_get_le64(b);
	len = dl_get_le64(b + 8);
	ret = check_extent(r, at, off, len, false);
	if (ret)
		return ret;
	r->next_off = off + len;
	r->nr_records++;
	if (tag == DL_RBD_WRITE) {
		r->rbd_off = off;
		r->rbd_left = len;
		return rbd_piece(r, rec);
	}
	rec->type = DL_DIFF_ZERO;
	rec->offset = off;
	rec->length = len;
	rec->data = NULL;
	rec->index = r->index++;
	return 1;
}

int dl_diff_read_record(struct dl_diff_reader *r, struct dl_diff_record *rec)
{
	int ret;

	if (r->state) {
		dl_diff_reader_set_buffer(r, NULL, 0);
		return r->state < 0 ? r->state : 0;
	}
	ret = r->fmt == DL_DIFF_NATIVE ? native_read(r, rec) : rbd_read(r, rec);
	dl_diff_reader_set_buffer(r, NULL, 0);
	if (ret < 0)
		r->state = ret;
	return ret;
}

void dl_diff_reader_free(struct dl_diff_reader *r)
{
	if (!r)
		return;
	free(r->data);
	free(r);
}
