// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_bench_time: timings for bench_overhead.sh that a shell cannot take
 * (busybox has no sub-second clock, and starting dmsetup under TCG costs
 * more than the message it sends).
 *
 *   dl_bench_time msg [-w DEV] NAME COUNT FMT [FMT2]
 *	COUNT rounds i = 1..COUNT: with -w, first write one 4 KiB block of
 *	DEV (O_DIRECT, a different block each round) so that every interval
 *	holds a write; then send the target message FMT to NAME ("%d" in it
 *	becomes i) and, with FMT2, the message FMT2 with i - 1 (from round 2
 *	on).  Prints one line per round: "<us for FMT> <us for FMT2 or ->".
 *	Only the message ioctl is timed (as "dmsetup message" sends it).
 *
 *   dl_bench_time exec COUNT CMD [ARG...]
 *	Runs CMD COUNT times (its stdout to /dev/null) and prints the wall
 *	time of each run in microseconds, one per line.
 *
 * Exits 0, or 1 at the first failure (with the reason on stderr).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "dl-dm.h"

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int send_msg(const char *name, const char *fmt, int i, double *us)
{
	char msg[256], err[256];
	double t0;
	int r;

	snprintf(msg, sizeof(msg), fmt, i);
	t0 = now_us();
	r = dl_dm_message(name, msg, NULL, err, sizeof(err));
	*us = now_us() - t0;
	if (r)
		fprintf(stderr, "dl_bench_time: %s\n", err);
	return r;
}

static int write_block(int fd, void *buf, unsigned long long nr_blocks, int i)
{
	unsigned long long b = (unsigned long long)i * 2654435761ULL % nr_blocks;

	if (pwrite(fd, buf, 4096, (off_t)(b * 4096)) != 4096) {
		perror("dl_bench_time: write");
		return -1;
	}
	return 0;
}

static int cmd_msg(int argc, char **argv)
{
	unsigned long long bytes = 0;
	const char *wdev = NULL, *name, *fmt, *fmt2;
	void *buf = NULL;
	int fd = -1, count;
	char err[256];
	struct dl_dm_info info;

	if (argc >= 2 && !strcmp(argv[0], "-w")) {
		wdev = argv[1];
		argc -= 2;
		argv += 2;
	}
	if (argc < 3 || argc > 4)
		return 2;
	name = argv[0];
	count = atoi(argv[1]);
	fmt = argv[2];
	fmt2 = argc == 4 ? argv[3] : NULL;
	if (wdev) {
		fd = open(wdev, O_WRONLY | O_DIRECT);
		if (fd < 0 || ioctl(fd, BLKGETSIZE64, &bytes) || bytes < 4096 ||
		    posix_memalign(&buf, 4096, 4096)) {
			perror(wdev);
			return 1;
		}
		memset(buf, 0xa5, 4096);
	}
	/* Warm up: the first libdevmapper call opens the control node. */
	dl_dm_info(name, &info, err, sizeof(err));
	for (int i = 1; i <= count; i++) {
		double t1, t2 = -1;

		if (fd >= 0 && write_block(fd, buf, bytes / 4096, i))
			return 1;
		if (send_msg(name, fmt, i, &t1))
			return 1;
		if (fmt2 && i > 1 && send_msg(name, fmt2, i - 1, &t2))
			return 1;
		if (t2 < 0)
			printf("%.0f -\n", t1);
		else
			printf("%.0f %.0f\n", t1, t2);
	}
	fflush(stdout);
	free(buf);
	if (fd >= 0)
		close(fd);
	return 0;
}

static int cmd_exec(int argc, char **argv)
{
	int count, status;
	pid_t pid;

	if (argc < 2)
		return 2;
	count = atoi(argv[0]);
	for (int i = 0; i < count; i++) {
		double t0 = now_us();

		pid = fork();
		if (pid < 0) {
			perror("dl_bench_time: fork");
			return 1;
		}
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0)
				dup2(fd, 1);
			execvp(argv[1], argv + 1);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status)) {
			fprintf(stderr, "dl_bench_time: %s failed\n", argv[1]);
			return 1;
		}
		printf("%.0f\n", now_us() - t0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;

	if (argc >= 2 && !strcmp(argv[1], "msg"))
		r = cmd_msg(argc - 2, argv + 2);
	else if (argc >= 2 && !strcmp(argv[1], "exec"))
		r = cmd_exec(argc - 2, argv + 2);
	if (r == 2)
		fprintf(stderr,
			"usage: %s msg [-w DEV] NAME COUNT FMT [FMT2]\n"
			"       %s exec COUNT CMD [ARG...]\n", argv[0], argv[0]);
	return r;
}
