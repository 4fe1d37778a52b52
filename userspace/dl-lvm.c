// SPDX-License-Identifier: GPL-2.0-only
/*
 * LVM snapshots for export --lvm.
 *
 * The lvm tool runs as a child (fork and exec, no shell).  The snapshot is
 * made while the dirtylog device stacked on the LV is suspended, and an
 * LVM command that opened a suspended device would wait in the kernel for
 * ever.  So every command gets a --config that accepts only the PVs of
 * the LV's VG (found before the suspend) and ignores suspended devices,
 * and a time limit (dl-lvm.h): a child still running after it is killed,
 * and one that cannot die at once (stuck in the kernel) is left for
 * dl_lvm_reap() after the caller has resumed its device.
 *
 * Snapshot monitoring by dmeventd is switched off: the snapshot lives for
 * one export, and a daemon started from here would hold our pipes.
 */
#include "dl-lvm.h"
#include "dl-util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dl-dm.h"

#define OUT_MAX		8192
#define MSG_MAX		1024

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

/* lvm's stderr as one line: lines stripped of indentation, joined by "; ". */
static void one_line(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = 0;
	while (*in && o + 1 < outlen) {
		const char *e = strchr(in, '\n');
		size_t n;

		while (*in == ' ' || *in == '\t')
			in++;
		n = e ? (size_t)(e - in) : strlen(in);
		if (n) {
			int w = snprintf(out + o, outlen - o, "%s%.*s", o ? "; " : "",
					 (int)n, in);

			o = w < 0 ? o : o + (size_t)w >= outlen ? outlen - 1 : o + (size_t)w;
		}
		if (!e)
			break;
		in = e + 1;
	}
}

static void child_exec(char *const argv[], int out, int errfd)
{
	int nul = open("/dev/null", O_RDONLY);

	if (nul >= 0)
		dup2(nul, STDIN_FILENO);
	dup2(out, STDOUT_FILENO);
	dup2(errfd, STDERR_FILENO);
	execvp("lvm", argv);
	execv("/sbin/lvm", argv);
	execv("/usr/sbin/lvm", argv);
	dprintf(STDERR_FILENO, "cannot run lvm: %s\n", strerror(errno));
	_exit(127);
}

/*
 * Run "lvm ARGV[1] ..." killed after @limit_s seconds; its standard output
 * into @out (when not NULL).  Returns 0 on exit status 0; otherwise a negative errno
 * with lvm's own message in @err, and *status (when not NULL) the exit
 * status (-1 when it did not exit).
 */
static int lvm_run(struct dl_lvm *l, char *const argv[], char *out, size_t outlen,
		   int *status, int limit_s, char *err, size_t errlen)
{
	char msg[MSG_MAX], line[MSG_MAX], drain[512];
	size_t olen = 0, mlen = 0;
	struct pollfd pfd[2];
	int po[2], pe[2], st = 0, r;
	int64_t deadline = now_ms() + (int64_t)limit_s * 1000, exited = 0;
	bool done = false;
	pid_t pid;

	if (status)
		*status = -1;
	if (out)
		out[0] = 0;
	if (pipe2(po, O_CLOEXEC))
		return dl_fail(err, errlen, errno, "cannot run lvm: %s", strerror(errno));
	if (pipe2(pe, O_CLOEXEC)) {
		r = errno;
		close(po[0]);
		close(po[1]);
		return dl_fail(err, errlen, r, "cannot run lvm: %s", strerror(r));
	}
	pid = fork();
	if (!pid)
		child_exec(argv, po[1], pe[1]);
	r = errno;
	close(po[1]);
	close(pe[1]);
	if (pid < 0) {
		close(po[0]);
		close(pe[0]);
		return dl_fail(err, errlen, r, "cannot run lvm: %s", strerror(r));
	}
	pfd[0] = (struct pollfd){ .fd = po[0], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = pe[0], .events = POLLIN };
	while (pfd[0].fd >= 0 || pfd[1].fd >= 0) {
		int64_t left = deadline - now_ms();

		if (left <= 0)
			break;
		/* Exited, but something it started still holds the pipes. */
		if (done && now_ms() - exited > 1000)
			break;
		if (poll(pfd, 2, left < 100 ? (int)left : 100) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			char *buf = i ? msg : out ? out : drain;
			size_t *len = i ? &mlen : &olen;
			size_t cap = i ? sizeof(msg) : out ? outlen : sizeof(drain);
			ssize_t n;

			if (pfd[i].fd < 0 || !pfd[i].revents)
				continue;
			if (buf == drain)
				*len = 0;
			/* Past the buffer: read into the drain and drop it. */
			if (*len + 1 >= cap)
				n = read(pfd[i].fd, drain, sizeof(drain));
			else
				n = read(pfd[i].fd, buf + *len, cap - 1 - *len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
				continue;
			}
			if (*len + 1 < cap)
				*len += (size_t)n;
		}
		if (!done && waitpid(pid, &st, WNOHANG) == pid) {
			done = true;
			exited = now_ms();
		}
	}
	msg[mlen] = 0;
	if (out)
		out[olen] = 0;
	for (int i = 0; i < 2; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	while (!done && now_ms() < deadline) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid || (w < 0 && errno != EINTR)) {
			done = w == pid;
			break;
		}
		sleep_ms(10);
	}
	if (!done) {
		kill(pid, SIGKILL);
		/* A child waiting on a suspended device dies only after the resume. */
		for (int i = 0; i < 100 && !done; i++) {
			done = waitpid(pid, &st, WNOHANG) == pid;
			if (!done)
				sleep_ms(10);
		}
		if (!done)
			l->stuck = pid;
		return dl_fail(err, errlen, ETIMEDOUT,
			    "lvm %s did not finish in %d s and was killed", argv[1],
			    limit_s);
	}
	one_line(msg, line, sizeof(line));
	if (WIFEXITED(st) && !WEXITSTATUS(st))
		return 0;
	if (status && WIFEXITED(st))
		*status = WEXITSTATUS(st);
	if (WIFEXITED(st))
		return dl_fail(err, errlen, EIO, "lvm %s failed (exit %d): %s", argv[1],
			    WEXITSTATUS(st), line[0] ? line : "no message");
	return dl_fail(err, errlen, EIO, "lvm %s killed by signal %d", argv[1],
		    WTERMSIG(st));
}

void dl_lvm_reap(struct dl_lvm *l)
{
	if (!l->stuck)
		return;
	for (int i = 0; i < 500; i++) {
		if (waitpid(l->stuck, NULL, WNOHANG) != 0) {
			l->stuck = 0;
			return;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "dirtylogctl: lvm (pid %d) killed after the time limit is still stuck\n",
		(int)l->stuck);
}

/*
 * Split a dm name VG-LV: a single '-' separates, "--" stands for '-' in
 * either name.  A further single '-' in the LV part marks an internal
 * layer (VG-LV-real, -cow, -tpool...): not a logical volume.
 */
static int split_dm_name(const char *dm, char *vg, size_t vglen, char *lv,
			 size_t lvlen)
{
	char *dst = vg;
	size_t n = 0, cap = vglen;
	bool in_lv = false;

	for (const char *p = dm; *p; p++) {
		if (*p == '-' && p[1] == '-') {
			p++;
		} else if (*p == '-') {
			if (in_lv || !n)
				return -1;
			dst[n] = 0;
			dst = lv;
			cap = lvlen;
			n = 0;
			in_lv = true;
			continue;
		}
		if (n + 1 >= cap)
			return -1;
		dst[n++] = *p;
	}
	if (!in_lv || !n)
		return -1;
	dst[n] = 0;
	return 0;
}

/* The dm name of VG/LV: '-' doubled in both. */
static void join_dm_name(const char *vg, const char *lv, char *out, size_t outlen)
{
	size_t o = 0;

	for (int part = 0; part < 2; part++) {
		for (const char *p = part ? lv : vg; *p && o + 3 < outlen; p++) {
			if (*p == '-')
				out[o++] = '-';
			out[o++] = *p;
		}
		if (!part && o + 2 < outlen)
			out[o++] = '-';
	}
	out[o] = 0;
}

/*
 * Append "a|^PATH$|" for one PV.  Regex characters a path may hold go in
 * brackets (no backslashes: they are an escape in the config syntax too);
 * any other unusual character is refused.
 */
static int add_pv(char *cfg, size_t cfglen, size_t *o, const char *pv)
{
	char re[PATH_MAX * 3];
	size_t n = 0;
	int w;

	for (const char *p = pv; *p; p++) {
		if (n + 4 >= sizeof(re))
			return -1;
		if (isalnum((unsigned char)*p) || strchr("/_-:@#%=,~", *p)) {
			re[n++] = *p;
		} else if (*p == '.' || *p == '+') {
			re[n++] = '[';
			re[n++] = *p;
			re[n++] = ']';
		} else {
			return -1;
		}
	}
	re[n] = 0;
	w = snprintf(cfg + *o, cfglen - *o, "\"a|^%s$|\", ", re);
	if (w < 0 || (size_t)w >= cfglen - *o)
		return -1;
	*o += (size_t)w;
	return 0;
}

static bool lv_name_ok(const char *s)
{
	if (!*s || *s == '-' || strlen(s) > 120)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("+_.-", *s))
			return false;
	return true;
}

/* Next line of @*p with leading blanks removed, or NULL. */
static char *next_line(char **p)
{
	char *s = *p, *e;

	while (*s == ' ' || *s == '\t' || *s == '\n')
		s++;
	if (!*s)
		return NULL;
	e = strchr(s, '\n');
	if (e) {
		*p = e + 1;
	} else {
		e = s + strlen(s);
		*p = e;
	}
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*e = 0;
	return s;
}

int dl_lvm_open(struct dl_lvm *l, uint32_t major, uint32_t minor,
		const char *snap, char *err, size_t errlen)
{
	char name[256], uuid[256], filter[1536], out[OUT_MAX], vglv[260];
	char *p, *row;
	size_t fo = 0;
	bool found = false;
	int r;

	memset(l, 0, sizeof(*l));
	r = dl_dm_name_uuid(major, minor, name, sizeof(name), uuid, sizeof(uuid),
			    err, errlen);
	if (r && r != -ENODEV)
		return r;
	/* "LVM-" and the VG's and LV's uuids (32 characters each), no layer suffix. */
	if (r || strncmp(uuid, "LVM-", 4) || strlen(uuid) != 68)
		return dl_fail(err, errlen, EINVAL,
			    "--lvm: data device %u:%u is not an LVM logical volume",
			    major, minor);
	if (split_dm_name(name, l->vg, sizeof(l->vg), l->lv, sizeof(l->lv)))
		return dl_fail(err, errlen, EINVAL,
			    "--lvm: data device %u:%u (%s) is not an LVM logical volume",
			    major, minor, name);
	if (!lv_name_ok(snap))
		return dl_fail(err, errlen, EINVAL,
			    "--lvm: '%s' is not a valid LVM volume name for the snapshot",
			    snap);
	snprintf(l->snap, sizeof(l->snap), "%s", snap);
	join_dm_name(l->vg, l->snap, name, sizeof(name));
	snprintf(l->path, sizeof(l->path), "/dev/mapper/%s", name);
	setenv("LVM_SUPPRESS_FD_WARNINGS", "1", 1);

	/* The VG's PVs; no device is suspended yet, but ignore any that is. */
	snprintf(l->config, sizeof(l->config),
		 "devices { ignore_suspended_devices = 1 } activation { monitoring = 0 }");
	{
		char *const argv[] = { "lvm", "vgs", "--config", l->config,
			"--noheadings", "--nosuffix", "--units", "b", "--separator", "|",
			"-o", "pv_name,vg_extent_size,vg_free", l->vg, NULL };

		r = lvm_run(l, argv, out, sizeof(out), NULL, DL_LVM_TIMEOUT_S, err, errlen);
		if (r)
			return r;
	}
	p = out;
	fo = 0;
	filter[0] = 0;
	while ((row = next_line(&p))) {
		char *pv = strtok(row, "|"), *ext = strtok(NULL, "|"), *fr = strtok(NULL, "|");

		if (!pv || !ext || !fr)
			continue;
		if (add_pv(filter, sizeof(filter), &fo, pv))
			return dl_fail(err, errlen, EINVAL,
				    "--lvm: cannot build a device filter for PV %s of VG %s",
				    pv, l->vg);
		l->extent_bytes = strtoull(ext, NULL, 10);
		l->free_bytes = strtoull(fr, NULL, 10);
	}
	if (!fo)
		return dl_fail(err, errlen, ENOENT, "--lvm: no PVs found for VG %s", l->vg);
	if (snprintf(l->config, sizeof(l->config),
		     "devices { ignore_suspended_devices = 1 filter = [ %s\"r|.*|\" ] global_filter = [ %s\"r|.*|\" ] } activation { monitoring = 0 }",
		     filter, filter) >= (int)sizeof(l->config))
		return dl_fail(err, errlen, E2BIG, "--lvm: VG %s has too many PVs", l->vg);

	/* Through that filter: the LV is the data device, the snapshot's name is free. */
	{
		char *const argv[] = { "lvm", "lvs", "--config", l->config,
			"--noheadings", "--separator", "|",
			"-o", "lv_name,lv_kernel_major,lv_kernel_minor", l->vg, NULL };

		r = lvm_run(l, argv, out, sizeof(out), NULL, DL_LVM_TIMEOUT_S, err, errlen);
		if (r)
			return r;
	}
	p = out;
	while ((row = next_line(&p))) {
		char *lv = strtok(row, "|"), *ma = strtok(NULL, "|"), *mi = strtok(NULL, "|");

		if (!lv || !ma || !mi)
			continue;
		if (!strcmp(lv, l->snap))
			return dl_fail(err, errlen, EEXIST,
				    "--lvm: LV %s/%s exists (left by an earlier export?): remove it with lvremove",
				    l->vg, l->snap);
		if (!strcmp(lv, l->lv) && strtoul(ma, NULL, 10) == major &&
		    strtoul(mi, NULL, 10) == minor)
			found = true;
	}
	snprintf(vglv, sizeof(vglv), "%s/%s", l->vg, l->lv);
	if (!found)
		return dl_fail(err, errlen, EINVAL,
			    "--lvm: data device %u:%u is not an LVM logical volume (lvs does not list %s as active there)",
			    major, minor, vglv);
	return 0;
}

int dl_lvm_snapshot(struct dl_lvm *l, uint64_t bytes, char *err, size_t errlen)
{
	char size[32], vglv[260];
	char *const argv[] = { "lvm", "lvcreate", "--config", l->config,
		"--snapshot", "-n", l->snap, "-L", size, vglv, NULL };
	int r;

	snprintf(size, sizeof(size), "%" PRIu64 "b", bytes);
	snprintf(vglv, sizeof(vglv), "%s/%s", l->vg, l->lv);
	r = lvm_run(l, argv, NULL, 0, NULL, DL_LVM_SUSPENDED_TIMEOUT_S, err, errlen);
	if (r)
		l->maybe = true;
	else
		l->made = true;
	return r;
}

int dl_lvm_wait_node(struct dl_lvm *l, char *err, size_t errlen)
{
	for (int i = 0; i < 500; i++) {
		int fd = open(l->path, O_RDONLY | O_CLOEXEC);

		if (fd >= 0) {
			close(fd);
			return 0;
		}
		if (errno != ENOENT)
			break;
		sleep_ms(10);
	}
	return dl_fail(err, errlen, errno, "snapshot node %s: %s", l->path,
		    strerror(errno));
}

int dl_lvm_remove(struct dl_lvm *l, char *err, size_t errlen)
{
	char vgs[260];
	char *const argv[] = { "lvm", "lvremove", "--config", l->config, "-f",
		vgs, NULL };
	int r, status;

	if (!l->made && !l->maybe)
		return 0;
	snprintf(vgs, sizeof(vgs), "%s/%s", l->vg, l->snap);
	if (!l->made) {
		/* lvcreate failed: remove only what it left. */
		char out[OUT_MAX];
		char *const lvs[] = { "lvm", "lvs", "--config", l->config,
			"--noheadings", "-o", "lv_name", l->vg, NULL };
		char *p = out, *row;
		bool there = false;

		r = lvm_run(l, lvs, out, sizeof(out), NULL, DL_LVM_TIMEOUT_S, err, errlen);
		if (r)
			return r;
		while ((row = next_line(&p)))
			there |= !strcmp(row, l->snap);
		if (!there) {
			l->maybe = false;
			return 0;
		}
	}
	r = lvm_run(l, argv, NULL, 0, &status, DL_LVM_TIMEOUT_S, err, errlen);
	if (r)
		return r;
	l->made = l->maybe = false;
	return 0;
}
