// SPDX-License-Identifier: GPL-2.0-only
/*
 * Pull-mode backup: begin and end (see dl-backup.h).
 *
 * The order of begin: refuse what can be refused before anything exists;
 * write the state file; snapshot + checkpoint under one suspend (dl-pit);
 * record them in the state; fetch the frozen map since..NEW; write the
 * sidecar; start qemu-nbd (--fork returns once it listens); record its
 * pid.  Any failure unwinds through backup_undo(), which is also what
 * "backup end" runs, from the state file alone.
 */
#include "dl-backup.h"
#include "dl-dm.h"
#include "dl-pit.h"
#include "dl-qcow2bm.h"
#include "dl-util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

/* The state of one backup, as kept in DIR/NAME.state. */
struct bstate {
	char device[DL_NL_DEV_NAME_LEN];
	char checkpoint[DL_NL_CKPT_NAME_LEN];
	char since[DL_NL_CKPT_NAME_LEN];
	uint64_t id;			/* 0 until NEW exists */
	char params[512];		/* NAME's own table */
	uint64_t sectors;
	char origin[DL_NL_DEV_NAME_LEN + 8];
	char snap[DL_NL_DEV_NAME_LEN + 8];
	char image[PATH_MAX];
	char socket[PATH_MAX];
	unsigned int port;
	int pid;			/* qemu-nbd; 0 until it runs */
	uint64_t started_ns;		/* CLOCK_REALTIME at begin */
};

static const char *backup_dir(void)
{
	const char *d = getenv("DIRTYLOG_BACKUP_DIR");

	return d && *d ? d : DL_BACKUP_DIR_DEFAULT;
}

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char p[PATH_MAX];
	size_t i;

	if (snprintf(p, sizeof(p), "%s", dir) >= (int)sizeof(p))
		return dl_fail(err, errlen, ENAMETOOLONG, "directory name too long");
	for (i = 1; p[i]; i++) {
		if (p[i] != '/')
			continue;
		p[i] = 0;
		if (mkdir(p, 0755) && errno != EEXIST)
			return dl_fail(err, errlen, errno, "cannot create %s: %s", p,
				       strerror(errno));
		p[i] = '/';
	}
	if (mkdir(p, 0700) && errno != EEXIST)
		return dl_fail(err, errlen, errno, "cannot create %s: %s", p,
			       strerror(errno));
	return 0;
}

static int state_path(const char *device, char *path, size_t len)
{
	if (snprintf(path, len, "%s/%s.state", backup_dir(), device) >= (int)len)
		return -ENAMETOOLONG;
	return 0;
}

/* Write the state file anew (a temporary file renamed, synced). */
static int state_save(const struct bstate *s, char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	FILE *f;

	if (state_path(s->device, path, sizeof(path)))
		return dl_fail(err, errlen, ENAMETOOLONG, "state file name too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return dl_fail(err, errlen, errno, "cannot write %s: %s", tmp,
			       strerror(errno));
	fprintf(f, "device=%s\ncheckpoint=%s\nsince=%s\nid=%" PRIu64 "\n"
		"params=%s\nsectors=%" PRIu64 "\norigin=%s\nsnap=%s\nimage=%s\n"
		"socket=%s\nport=%u\npid=%d\nstarted_ns=%" PRIu64 "\n", s->device,
		s->checkpoint, s->since, s->id, s->params, s->sectors, s->origin,
		s->snap, s->image, s->socket, s->port, s->pid, s->started_ns);
	return dl_commit_file(f, tmp, path, err, errlen);
}

static void copy_field(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

/* Read DIR/@device.state: 0, -ENOENT, or -EINVAL for a damaged file. */
static int state_load(const char *device, struct bstate *s, char *err,
		      size_t errlen)
{
	char path[PATH_MAX], line[PATH_MAX + 64];
	FILE *f;

	memset(s, 0, sizeof(*s));
	if (state_path(device, path, sizeof(path)))
		return dl_fail(err, errlen, ENAMETOOLONG, "state file name too long");
	f = fopen(path, "re");
	if (!f)
		return dl_fail(err, errlen, errno, "no backup of %s is recorded (%s: %s)",
			       device, path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		char *v = strchr(line, '=');

		if (!v)
			continue;
		*v++ = 0;
		v[strcspn(v, "\n")] = 0;
		if (!strcmp(line, "device"))
			copy_field(s->device, sizeof(s->device), v);
		else if (!strcmp(line, "checkpoint"))
			copy_field(s->checkpoint, sizeof(s->checkpoint), v);
		else if (!strcmp(line, "since"))
			copy_field(s->since, sizeof(s->since), v);
		else if (!strcmp(line, "id"))
			s->id = strtoull(v, NULL, 10);
		else if (!strcmp(line, "params"))
			copy_field(s->params, sizeof(s->params), v);
		else if (!strcmp(line, "sectors"))
			s->sectors = strtoull(v, NULL, 10);
		else if (!strcmp(line, "origin"))
			copy_field(s->origin, sizeof(s->origin), v);
		else if (!strcmp(line, "snap"))
			copy_field(s->snap, sizeof(s->snap), v);
		else if (!strcmp(line, "image"))
			copy_field(s->image, sizeof(s->image), v);
		else if (!strcmp(line, "socket"))
			copy_field(s->socket, sizeof(s->socket), v);
		else if (!strcmp(line, "port"))
			s->port = (unsigned int)strtoul(v, NULL, 10);
		else if (!strcmp(line, "pid"))
			s->pid = atoi(v);
		else if (!strcmp(line, "started_ns"))
			s->started_ns = strtoull(v, NULL, 10);
	}
	fclose(f);
	if (strcmp(s->device, device) || !s->checkpoint[0])
		return dl_fail(err, errlen, EINVAL, "%s is damaged: remove it and clean up by hand",
			       path);
	return 0;
}

/* Is @pid a running qemu-nbd (not a pid reused by something else)? */
static bool server_alive(int pid)
{
	char path[64], comm[64] = "";
	FILE *f;

	if (pid <= 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	if (!fgets(comm, sizeof(comm), f))
		comm[0] = 0;
	fclose(f);
	comm[strcspn(comm, "\n")] = 0;
	return !strcmp(comm, "qemu-nbd");
}

static void server_stop(int pid)
{
	int i;

	if (!server_alive(pid))
		return;
	kill(pid, SIGTERM);
	for (i = 0; i < 100 && server_alive(pid); i++) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		/* Reap it when it is our child (begin's failure path). */
		waitpid(pid, NULL, WNOHANG);
		nanosleep(&ts, NULL);
	}
	if (server_alive(pid))
		kill(pid, SIGKILL);
	waitpid(pid, NULL, WNOHANG);
}

/*
 * qemu-nbd processes serving @image: a begin killed while the server
 * started leaves one whose pid nobody recorded (the --fork parent, or the
 * daemon it is making).  Each is killed; twice over, for a parent that
 * forked its daemon meanwhile.
 */
static void kill_servers_of(const char *image)
{
	char path[64], buf[8192];
	struct dirent *de;
	int pass;

	for (pass = 0; pass < 2 && image[0]; pass++) {
		DIR *d = opendir("/proc");

		if (!d)
			return;
		while ((de = readdir(d))) {
			int pid = atoi(de->d_name), fd;
			ssize_t n, i;
			bool ours = false;

			if (pid <= 0 || !server_alive(pid))
				continue;
			snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
			fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				continue;
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			for (i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1) {
				buf[n] = 0;
				if (!strcmp(buf + i, image))
					ours = true;
			}
			if (ours)
				server_stop(pid);
		}
		closedir(d);
	}
}

static bool dm_exists(const char *name)
{
	uint32_t ma, mi;
	char e[256];

	return name[0] && !dl_dm_devnum(name, &ma, &mi, e, sizeof(e));
}

/*
 * Put NAME back on its data device and remove the snapshot devices, from
 * what exists now: NAME is reloaded only while its table still points at
 * the origin.
 */
static int snapshot_release(const struct bstate *s, char *err, size_t errlen)
{
	struct dl_pit p;
	uint32_t ma, mi, dma, dmi;
	char target[64], params[512], e[256];
	bool suspended, inactive;
	uint64_t sectors;

	/*
	 * A begin killed half way may have left NAME with a loaded table
	 * onto the origin (dropped: it never went live) or suspended
	 * (resumed: writes wait until then).
	 */
	if (!dl_dm_state(s->device, &suspended, &inactive, e, sizeof(e))) {
		if (inactive && dl_dm_clear(s->device, err, errlen))
			return -EIO;
		if (suspended && dl_dm_resume(s->device, err, errlen))
			return -EIO;
	}
	memset(&p, 0, sizeof(p));
	copy_field(p.dev, sizeof(p.dev), s->device);
	copy_field(p.params, sizeof(p.params), s->params);
	p.sectors = s->sectors;
	copy_field(p.origin, sizeof(p.origin), s->origin);
	copy_field(p.snap, sizeof(p.snap), s->snap);
	p.origin_made = dm_exists(s->origin);
	p.snap_made = dm_exists(s->snap);
	if (p.origin_made && s->params[0] &&
	    !dl_dm_devnum(s->origin, &ma, &mi, e, sizeof(e)) &&
	    !dl_dm_table(s->device, target, sizeof(target), params, sizeof(params),
			 &sectors, e, sizeof(e)) &&
	    sscanf(params, "%*s %u:%u", &dma, &dmi) == 2 && dma == ma && dmi == mi)
		p.reloaded = true;
	return dl_pit_release(&p, err, errlen);
}

struct made_find {
	const char *name;
	uint64_t id, ctime_ns;
};

static int made_one(const char *name, uint64_t id, uint64_t ctime_ns, void *arg)
{
	struct made_find *m = arg;

	if (!strcmp(name, m->name)) {
		m->id = id;
		m->ctime_ns = ctime_ns;
	}
	return 0;
}

static void made_restart(void *arg)
{
	((struct made_find *)arg)->id = 0;
}

/*
 * A begin killed between making NEW and recording its id: NEW is ours when
 * it was made after the backup started (begin refused an existing NEW).
 * Its id, or 0.
 */
static uint64_t made_by_us(struct dl_nl *nl, const struct bstate *s)
{
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = s->device };
	struct made_find m = { .name = s->checkpoint };

	if (!s->started_ns ||
	    dl_nl_ckpt_dump(nl, &sel, made_one, made_restart, &m, NULL))
		return 0;
	return m.id && m.ctime_ns >= s->started_ns ? m.id : 0;
}

/* Everything of @s that exists goes; NEW too when @rollback. */
static int backup_undo(struct dl_nl *nl, struct bstate *s, bool rollback,
		       bool *rolled_back, char *err, size_t errlen)
{
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = s->device };
	char path[PATH_MAX];
	int r;

	/* Killed before it recorded the pid: qemu-nbd's own pid file. */
	snprintf(path, sizeof(path), "%s/%s.pid", backup_dir(), s->device);
	if (!s->pid) {
		FILE *f = fopen(path, "re");

		if (f) {
			if (fscanf(f, "%d", &s->pid) != 1)
				s->pid = 0;
			fclose(f);
		}
	}
	server_stop(s->pid);
	kill_servers_of(s->image);
	unlink(path);
	if (s->socket[0])
		unlink(s->socket);
	r = snapshot_release(s, err, errlen);
	if (r)
		return r;	/* the state stays: end can be run again */
	if (s->image[0] && unlink(s->image) && errno != ENOENT)
		return dl_fail(err, errlen, errno, "cannot remove %s: %s", s->image,
			       strerror(errno));
	if (rollback && !s->id)
		s->id = made_by_us(nl, s);
	if (rollback && s->id) {
		r = dl_nl_ckpt_del(nl, &sel, s->checkpoint);
		if (r && r != -ENOENT)
			return dl_fail(err, errlen, -r,
				       "CANNOT DELETE checkpoint '%s' of %s (%s): delete it before the next backup",
				       s->checkpoint, s->device, nl->err);
		if (!r && rolled_back)
			*rolled_back = true;
	}
	snprintf(path, sizeof(path), "%s/%s.log", backup_dir(), s->device);
	unlink(path);
	if (!state_path(s->device, path, sizeof(path)))
		unlink(path);
	return 0;
}

struct instant {
	struct dl_nl *nl;
	struct bstate *s;
};

/* Under the suspend: NEW, recorded at once. */
static int make_new(void *arg, char *err, size_t errlen)
{
	struct instant *in = arg;
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = in->s->device };
	struct dl_nl_ckpt_id id;
	unsigned int nr = 0;
	int r = dl_nl_ckpt_new(in->nl, &sel, 1, in->s->checkpoint, &id, &nr);

	if (r)
		return dl_fail(err, errlen, -r, "cannot create checkpoint '%s': %s",
			       in->s->checkpoint, in->nl->err);
	if (nr != 1 || !id.id)
		return dl_fail(err, errlen, EIO, "no id for checkpoint '%s' in the reply",
			       in->s->checkpoint);
	in->s->id = id.id;
	return 0;
}

struct ckpt_find {
	const char *since, *fresh;
	uint64_t since_id;
	bool fresh_exists;
};

static int find_one(const char *name, uint64_t id, uint64_t ctime_ns, void *arg)
{
	struct ckpt_find *c = arg;

	(void)ctime_ns;
	if (c->since && !strcmp(name, c->since))
		c->since_id = id;
	if (!strcmp(name, c->fresh))
		c->fresh_exists = true;
	return 0;
}

static void find_restart(void *arg)
{
	struct ckpt_find *c = arg;

	c->since_id = 0;
	c->fresh_exists = false;
}

/* The frozen map as extents, merged where they touch. */
struct extents {
	struct dl_qcow2bm_extent *v;
	size_t n, cap;
	uint64_t blocks;
};

static int ext_add(uint64_t start, uint64_t count, void *arg)
{
	struct extents *x = arg;

	if (x->n && x->v[x->n - 1].start + x->v[x->n - 1].count == start) {
		x->v[x->n - 1].count += count;
	} else {
		if (x->n == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 256;
			void *p = realloc(x->v, cap * sizeof(*x->v));

			if (!p)
				return -ENOMEM;
			x->v = p;
			x->cap = cap;
		}
		x->v[x->n].start = start;
		x->v[x->n++].count = count;
	}
	x->blocks += count;
	return 0;
}

static void ext_restart(void *arg)
{
	struct extents *x = arg;

	x->n = 0;
	x->blocks = 0;
}

/* Is TCP @port on 127.0.0.1 free?  0, or -errno of the bind. */
static int port_free(unsigned int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)))
		r = -errno;
	close(fd);
	return r;
}

/* qemu-nbd on the PATH, or -ENOENT. */
static int find_qemu_nbd(char *out, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL, *d;

	snprintf(dirs, sizeof(dirs), "%s", path && *path ? path : "/usr/bin:/bin");
	for (d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(out, len, "%s/qemu-nbd", d);
		if (!access(out, X_OK))
			return 0;
	}
	return -ENOENT;
}

/*
 * Start qemu-nbd read-only on the sidecar; --fork makes it return once
 * the socket listens, its log (stderr) in DIR/NAME.log.  The pid from its
 * pid file.
 */
static int server_start(const char *exe, struct bstate *s, const char *bitmap,
			char *err, size_t errlen)
{
	char pidfile[PATH_MAX], logf[PATH_MAX], sockopt[PATH_MAX + 16], port[16];
	const char *argv[20];
	int n = 0, st, fd;
	pid_t kid;
	FILE *f;

	snprintf(pidfile, sizeof(pidfile), "%s/%s.pid", backup_dir(), s->device);
	snprintf(logf, sizeof(logf), "%s/%s.log", backup_dir(), s->device);
	unlink(pidfile);
	argv[n++] = exe;
	argv[n++] = "--read-only";
	argv[n++] = "--format=qcow2";
	argv[n++] = "--persistent";
	argv[n++] = "--shared=8";
	argv[n++] = "--fork";
	argv[n++] = "--pid-file";
	argv[n++] = pidfile;
	if (bitmap && *bitmap) {
		argv[n++] = "--bitmap";
		argv[n++] = bitmap;
	}
	if (s->port) {
		snprintf(port, sizeof(port), "%u", s->port);
		argv[n++] = "--bind=127.0.0.1";
		argv[n++] = "--port";
		argv[n++] = port;
	} else {
		snprintf(sockopt, sizeof(sockopt), "--socket=%s", s->socket);
		argv[n++] = sockopt;
	}
	argv[n++] = s->image;
	argv[n] = NULL;
	kid = fork();
	if (kid < 0)
		return dl_fail(err, errlen, errno, "fork: %s", strerror(errno));
	if (!kid) {
		fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	while (waitpid(kid, &st, 0) < 0)
		if (errno != EINTR)
			return dl_fail(err, errlen, errno, "waitpid: %s", strerror(errno));
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		char line[512] = "";

		f = fopen(logf, "re");
		if (f) {
			if (!fgets(line, sizeof(line), f))
				line[0] = 0;
			fclose(f);
		}
		line[strcspn(line, "\n")] = 0;
		return dl_fail(err, errlen, EIO, "qemu-nbd failed (exit %d): %s",
			       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st),
			       line[0] ? line : "no message");
	}
	f = fopen(pidfile, "re");
	if (!f || fscanf(f, "%d", &s->pid) != 1 || s->pid <= 0) {
		if (f)
			fclose(f);
		return dl_fail(err, errlen, EIO, "qemu-nbd wrote no pid to %s", pidfile);
	}
	fclose(f);
	return 0;
}

int dl_backup_begin(struct dl_nl *nl, const struct dl_backup_opts *o,
		    struct dl_backup_info *info, char *err, size_t errlen)
{
	struct dl_nl_sel sel = { .kind = DL_NL_SEL_NAME, .str = o->device };
	struct ckpt_find cf = { .since = o->since, .fresh = o->checkpoint };
	struct dl_nl_dirty_opts dopt = { .format = DM_DIRTYLOG_DUMP_AUTO };
	struct dl_qcow2bm_opts q = { 0 };
	struct extents x = { 0 };
	struct dl_pit pit;
	struct bstate s;
	struct instant in = { .nl = nl, .s = &s };
	struct dl_nl_dev dev;
	char path[PATH_MAX], exe[PATH_MAX], tmp[PATH_MAX + 16], e2[512];
	struct stat st;
	uint64_t cow, bs;
	bool saved = false;
	int r, fd;

	memset(info, 0, sizeof(*info));
	memset(&s, 0, sizeof(s));
	r = dl_nl_dev_get(nl, &sel, &dev);
	if (r)
		return dl_fail(err, errlen, -r, "%s", nl->err);
	if (dev.state != DM_DIRTYLOG_STATE_RW)
		return dl_fail(err, errlen, EIO,
			       "%s is in state %s: its map cannot be trusted; 'dirtylogctl reset' it and take a full backup",
			       o->device, dev.state == DM_DIRTYLOG_STATE_FAIL ? "fail" : "invalid");
	if (state_path(o->device, path, sizeof(path)))
		return dl_fail(err, errlen, ENAMETOOLONG, "device name too long");
	if (!stat(path, &st))
		return dl_fail(err, errlen, EEXIST,
			       "a backup of %s is recorded in %s: 'dirtylogctl backup end %s' first",
			       o->device, path, o->device);
	r = dl_nl_ckpt_dump(nl, &sel, find_one, find_restart, &cf, NULL);
	if (r)
		return dl_fail(err, errlen, -r, "%s", nl->err);
	if (o->since && !cf.since_id)
		return dl_fail(err, errlen, ENOENT, "no checkpoint '%s' on %s", o->since,
			       o->device);
	if (cf.fresh_exists)
		return dl_fail(err, errlen, EEXIST, "checkpoint '%s' exists already on %s",
			       o->checkpoint, o->device);
	if (find_qemu_nbd(exe, sizeof(exe)))
		return dl_fail(err, errlen, ENOENT,
			       "qemu-nbd not found on the PATH (Debian: apt install qemu-utils)");
	r = mkdir_p(backup_dir(), err, errlen);
	if (r)
		return r;

	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		s.started_ns = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
	}
	copy_field(s.device, sizeof(s.device), o->device);
	copy_field(s.checkpoint, sizeof(s.checkpoint), o->checkpoint);
	copy_field(s.since, sizeof(s.since), o->since ? o->since : "");
	s.port = o->port;
	if (o->port) {
		r = port_free(o->port);
		if (r)
			return dl_fail(err, errlen, -r, "port %u on 127.0.0.1: %s", o->port,
				       strerror(-r));
	} else {
		if ((o->socket ? snprintf(s.socket, sizeof(s.socket), "%s", o->socket) :
		     snprintf(s.socket, sizeof(s.socket), "%s/%s.sock", backup_dir(),
			      o->device)) >= (int)sizeof(s.socket) - 1)
			return dl_fail(err, errlen, ENAMETOOLONG, "socket path too long");
		/* Ours, with no backup recorded: a stale socket of a crash. */
		if (!o->socket && !lstat(s.socket, &st) && S_ISSOCK(st.st_mode))
			unlink(s.socket);
		if (!lstat(s.socket, &st))
			return dl_fail(err, errlen, EEXIST, "%s exists: choose another --socket",
				       s.socket);
	}
	if (snprintf(s.image, sizeof(s.image), "%s/%s.qcow2", backup_dir(),
		     o->device) >= (int)sizeof(s.image))
		return dl_fail(err, errlen, ENAMETOOLONG, "image path too long");
	bs = (uint64_t)dev.block_sectors << 9;
	/*
	 * What dl_pit_take() will build, known before it builds anything:
	 * NAME's table and the helper devices' names.
	 */
	{
		char target[64];

		r = dl_dm_table(o->device, target, sizeof(target), s.params,
				sizeof(s.params), &s.sectors, err, errlen);
		if (r)
			return r;
		snprintf(s.origin, sizeof(s.origin), "%s.xo", o->device);
		snprintf(s.snap, sizeof(s.snap), "%s.xs", o->device);
		if (dm_exists(s.origin) || dm_exists(s.snap))
			return dl_fail(err, errlen, EEXIST,
				       "%s or %s exists (an export running?): remove it first",
				       s.origin, s.snap);
	}

	/* From here on the state file knows what to clean up. */
	r = state_save(&s, err, errlen);
	if (r)
		return r;
	saved = true;
	cow = o->cow_bytes;
	if (!cow) {
		uint64_t size = dev.size_sectors << 9;

		/* Reads take a while: room for a good part of the device. */
		cow = o->since ? dev.dirty_active * bs : size;
		if (cow < (256ULL << 20))
			cow = 256ULL << 20;
		if (cow > size + (256ULL << 20))
			cow = size + (256ULL << 20);
	}
	r = dl_pit_take(&pit, o->device, o->cow, cow, make_new, &in, err, errlen);
	if (!r)
		r = state_save(&s, err, errlen);	/* NEW's id */
	if (r)
		goto fail;

	if (o->since) {
		dopt.extent = ext_add;
		dopt.restart = ext_restart;
		dopt.arg = &x;
		r = dl_nl_dirty_fetch(nl, &sel, o->since, o->checkpoint, &dopt);
		if (r) {
			r = dl_fail(err, errlen, -r, "cannot read the dirty map: %s", nl->err);
			goto fail;
		}
	}
	q.size = dev.size_sectors << 9;
	q.data_file = pit.path;
	q.bitmap = o->since;
	q.granularity = (uint32_t)bs;
	q.extents = x.v;
	q.nr_extents = x.n;
	snprintf(tmp, sizeof(tmp), "%s.partial", s.image);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = dl_fail(err, errlen, errno, "cannot create %s: %s", tmp, strerror(errno));
		goto fail;
	}
	r = dl_qcow2bm_write(fd, &q, err, errlen);
	close(fd);
	if (!r && rename(tmp, s.image))
		r = dl_fail(err, errlen, errno, "cannot rename %s: %s", tmp, strerror(errno));
	if (r) {
		unlink(tmp);
		goto fail;
	}
	r = server_start(exe, &s, o->since, err, errlen);
	if (r)
		goto fail;
	r = state_save(&s, err, errlen);
	if (r)
		goto fail;

	copy_field(info->image, sizeof(info->image), s.image);
	copy_field(info->snapshot, sizeof(info->snapshot), pit.path);
	copy_field(info->socket, sizeof(info->socket), s.port ? "" : s.socket);
	info->port = s.port;
	if (s.port)
		snprintf(info->uri, sizeof(info->uri), "nbd://127.0.0.1:%u", s.port);
	else
		snprintf(info->uri, sizeof(info->uri), "nbd+unix:///?socket=%s", s.socket);
	copy_field(info->bitmap, sizeof(info->bitmap), o->since ? o->since : "");
	info->id = s.id;
	info->since_id = cf.since_id;
	info->size = q.size;
	info->block_size = (uint32_t)bs;
	info->dirty_blocks = o->since ? x.blocks : dev.nr_blocks;
	info->server_pid = s.pid;
	free(x.v);
	return 0;
fail:
	free(x.v);
	if (saved && backup_undo(nl, &s, true, NULL, e2, sizeof(e2)))
		fprintf(stderr, "dirtylogctl backup: also cannot clean up: %s ('dirtylogctl backup end %s --failed' retries)\n",
			e2, o->device);
	return r;
}

int dl_backup_end(struct dl_nl *nl, const char *device, bool failed,
		  struct dl_backup_end_result *res, char *err, size_t errlen)
{
	struct bstate s;
	int r;

	memset(res, 0, sizeof(*res));
	r = state_load(device, &s, err, errlen);
	if (r)
		return r;
	copy_field(res->checkpoint, sizeof(res->checkpoint), s.checkpoint);
	/* A server that died, or never ran, did not serve the whole backup. */
	if (!server_alive(s.pid)) {
		res->server_was_dead = true;
		failed = true;
	}
	return backup_undo(nl, &s, failed, &res->rolled_back, err, errlen);
}
