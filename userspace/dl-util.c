// SPDX-License-Identifier: GPL-2.0-only
#include "dl-util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

int dl_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	default:
		return -1;
	}
	if (shift) {
		end++;
		if (*end && strcasecmp(end, "B") && strcasecmp(end, "iB"))
			return -1;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -1;
	*bytes = (uint64_t)v << shift;
	return 0;
}

uint32_t dl_block_size_sectors(uint64_t bytes)
{
	if (bytes < DL_MIN_BLOCK_BYTES || bytes > DL_MAX_BLOCK_BYTES ||
	    (bytes & (bytes - 1)))
		return 0;
	return (uint32_t)(bytes >> 9);
}

int dl_fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return e ? -e : -EIO;
}

void dl_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

void dl_json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

int dl_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int dl_commit_file(FILE *f, const char *tmp, const char *path, char *err,
		   size_t errlen)
{
	int r = 0;

	if (fflush(f) || fsync(fileno(f)))
		r = dl_fail(err, errlen, errno, "cannot write %s: %s", tmp, strerror(errno));
	if (fclose(f) && !r)
		r = dl_fail(err, errlen, errno, "cannot write %s: %s", tmp, strerror(errno));
	if (!r && rename(tmp, path))
		r = dl_fail(err, errlen, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r)
		unlink(tmp);
	return r;
}
