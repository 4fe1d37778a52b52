// SPDX-License-Identifier: GPL-2.0-only
/*
 * Netlink rules from the kernel review (issue #18):
 *
 * - a request that names a device by name and uuid selects it only when
 *   both match (finding 5);
 * - a CKPT_GET dump resumes after the last checkpoint it sent, so
 *   checkpoints deleted and created between two messages neither skip nor
 *   repeat an entry, and the dump says it was interrupted (finding 4);
 * - an atomic checkpoint of 16 devices with the longest names and uuids
 *   gets its whole reply: a reply that does not fit never turns
 *   checkpoints that were made into a reported failure (finding 3).
 *
 * Devices: dirtylog devices over dm-linear slices of /dev/vda (data) and
 * /dev/vdb (metadata).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/netlink.h>

#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kselftest_harness.h"

/*
 * The harness gives a TEST 30 s; making 16 devices takes longer on the
 * debug kernel (KASAN and lockdep under TCG).  TEST() reads this macro
 * where it is used.
 */
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300

#include "dl-nl.h"

static int run(const char *cmd)
{
	int r = system(cmd);

	return r == -1 ? -1 : WEXITSTATUS(r);
}

/* A dirtylog device NAME (dm uuid UUID) over slice I of vda and vdb. */
static int make_dev(const char *name, const char *uuid, int i)
{
	char cmd[4096];

	if (snprintf(cmd, sizeof(cmd),
		 "dmsetup create m%d --table '0 2048 linear /dev/vdb %d' && "
		 "dmsetup mknodes >/dev/null 2>&1 && "
		 "dd if=/dev/zero of=/dev/mapper/m%d bs=64k count=1 oflag=direct 2>/dev/null && "
		 "dmsetup create d%d --table '0 8192 linear /dev/vda %d' && "
		 "dmsetup mknodes >/dev/null 2>&1 && "
		 "dmsetup create %s -u %s --table '0 8192 dirtylog /dev/mapper/m%d /dev/mapper/d%d 8'",
		 i, i * 2048, i, i, i * 8192, name, uuid, i, i) >= (int)sizeof(cmd))
		return -1;
	return run(cmd);
}

static void cleanup(void)
{
	run("dmsetup remove_all >/dev/null 2>&1");
}

/* A raw generic netlink socket; @small gives it a tiny receive buffer. */
static int raw_socket(int small)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	int one = 1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    (small && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &one, sizeof(one)))) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_msg(int fd, struct nl_msg *m)
{
	ssize_t len = nlmsg_hdr(m)->nlmsg_len;

	return send(fd, nlmsg_hdr(m), (size_t)len, 0) == len ? 0 : -1;
}

/* The error code of the ack to a DEV_GET (0 when a device came back). */
static int dev_get_errno(int fd, int family, const char *name, const char *uuid,
			 char *got_name, size_t got_len)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nl_msg *m = nlmsg_alloc();
	struct nlmsghdr *nlh;
	static char buf[16384];
	ssize_t n;
	int len;

	got_name[0] = '\0';
	if (!m || !genlmsg_put(m, 0, 1, family, 0, NLM_F_REQUEST | NLM_F_ACK,
			       DM_DIRTYLOG_CMD_DEV_GET, DM_DIRTYLOG_GENL_VERSION) ||
	    nla_put_string(m, DM_DIRTYLOG_A_DEV_NAME, name) ||
	    nla_put_string(m, DM_DIRTYLOG_A_DEV_UUID, uuid) || send_msg(fd, m)) {
		nlmsg_free(m);
		return -EIO;
	}
	nlmsg_free(m);
	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			return -EIO;
		len = (int)n;
		for (nlh = (void *)buf; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_type == NLMSG_ERROR)
				return ((struct nlmsgerr *)nlmsg_data(nlh))->error;
			if (genlmsg_parse(nlh, 0, tb, DM_DIRTYLOG_A_MAX, NULL) == 0 &&
			    tb[DM_DIRTYLOG_A_DEV_NAME])
				snprintf(got_name, got_len, "%s",
					 nla_get_string(tb[DM_DIRTYLOG_A_DEV_NAME]));
		}
	}
}

TEST(name_and_uuid_must_both_match)
{
	struct dl_nl nl;
	char got[128];
	int fd;

	cleanup();
	ASSERT_EQ(0, run("modprobe dm-dirtylog"));
	ASSERT_EQ(0, make_dev("one", "uuid-one", 0));
	ASSERT_EQ(0, make_dev("two", "uuid-two", 1));
	ASSERT_EQ(0, dl_nl_open(&nl));
	fd = raw_socket(0);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, dev_get_errno(fd, nl.family, "one", "uuid-one", got, sizeof(got)));
	EXPECT_STREQ("one", got);
	EXPECT_EQ(0, dev_get_errno(fd, nl.family, "two", "uuid-two", got, sizeof(got)));
	EXPECT_STREQ("two", got);
	/* Either match alone used to select a device. */
	EXPECT_EQ(-ENODEV, dev_get_errno(fd, nl.family, "one", "uuid-two", got, sizeof(got)));
	EXPECT_STREQ("", got);
	EXPECT_EQ(-ENODEV, dev_get_errno(fd, nl.family, "two", "uuid-one", got, sizeof(got)));
	EXPECT_EQ(-ENODEV, dev_get_errno(fd, nl.family, "one", "uuid-none", got, sizeof(got)));
	EXPECT_EQ(-ENODEV, dev_get_errno(fd, nl.family, "none", "uuid-one", got, sizeof(got)));
	close(fd);
	dl_nl_close(&nl);
	cleanup();
}

#define NR_CKPTS	200
#define NR_DELETED	20

struct seen {
	int count[NR_CKPTS + 64];	/* by checkpoint number */
	int intr;
	int done;
};

/* Count the checkpoints "kNNN" in buf[0..len). */
static int take(struct seen *s, void *buf, int len)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nlmsghdr *nlh;
	unsigned int k;

	for (nlh = buf; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			s->intr = 1;
		if (nlh->nlmsg_type == NLMSG_DONE) {
			s->done = 1;
			continue;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR)
			return -1;
		if (genlmsg_parse(nlh, 0, tb, DM_DIRTYLOG_A_MAX, NULL) ||
		    !tb[DM_DIRTYLOG_A_CKPT_NAME] ||
		    sscanf(nla_get_string(tb[DM_DIRTYLOG_A_CKPT_NAME]), "k%u", &k) != 1 ||
		    k >= NR_CKPTS + 64)
			return -1;
		s->count[k]++;
	}
	return 0;
}

TEST(ckpt_dump_resumes_after_the_last_id)
{
	struct dl_nl nl, nl2;
	struct dl_nl_sel sel;
	struct dl_nl_ckpt_id id;
	struct seen s;
	struct nl_msg *req;
	static char buf[4096];
	unsigned int nr, k;
	char name[16];
	ssize_t got;
	int fd, msgs = 0;

	memset(&s, 0, sizeof(s));
	cleanup();
	ASSERT_EQ(0, run("modprobe dm-dirtylog"));
	ASSERT_EQ(0, make_dev("ck", "uuid-ck", 0));
	ASSERT_EQ(0, dl_nl_open(&nl));
	ASSERT_EQ(0, dl_nl_open(&nl2));
	ASSERT_EQ(0, dl_nl_sel_parse("ck", false, &sel));
	for (k = 0; k < NR_CKPTS; k++) {
		snprintf(name, sizeof(name), "k%03u", k);
		ASSERT_EQ(0, dl_nl_ckpt_new(&nl, &sel, 1, name, &id, &nr));
	}

	/*
	 * With a tiny receive buffer, read 4 KiB at a time (the kernel sizes
	 * a dump's messages by the largest read so far), the kernel builds
	 * one batch of about 70 entries ahead: after the first read, the
	 * second batch is queued and the third is built only when the second
	 * is read.  Change the list in between.
	 */
	fd = raw_socket(1);
	ASSERT_LE(0, fd);
	req = nlmsg_alloc();
	ASSERT_NE(NULL, req);
	ASSERT_NE(NULL, genlmsg_put(req, 0, 1, nl.family, 0, NLM_F_REQUEST | NLM_F_DUMP,
				    DM_DIRTYLOG_CMD_CKPT_GET, DM_DIRTYLOG_GENL_VERSION));
	ASSERT_EQ(0, nla_put_string(req, DM_DIRTYLOG_A_DEV_NAME, "ck"));
	ASSERT_EQ(0, send_msg(fd, req));
	nlmsg_free(req);
	got = recv(fd, buf, sizeof(buf), 0);
	ASSERT_LT(0, got);
	ASSERT_EQ(0, take(&s, buf, (int)got));
	ASSERT_EQ(0, s.done);
	msgs++;
	/* Delete checkpoints already sent, create new ones. */
	for (k = 1; k <= NR_DELETED; k++) {
		snprintf(name, sizeof(name), "k%03u", k);
		ASSERT_EQ(0, dl_nl_ckpt_del(&nl2, &sel, name));
	}
	for (k = NR_CKPTS; k < NR_CKPTS + 3; k++) {
		snprintf(name, sizeof(name), "k%03u", k);
		ASSERT_EQ(0, dl_nl_ckpt_new(&nl2, &sel, 1, name, &id, &nr));
	}
	while (!s.done) {
		got = recv(fd, buf, sizeof(buf), 0);
		ASSERT_LT(0, got);
		ASSERT_EQ(0, take(&s, buf, (int)got));
		msgs++;
	}
	TH_LOG("%d reads", msgs);
	ASSERT_LE(3, msgs);
	/* Every checkpoint that existed throughout: exactly once. */
	for (k = 0; k < NR_CKPTS; k++) {
		if (k >= 1 && k <= NR_DELETED)
			continue;
		EXPECT_EQ(1, s.count[k]) TH_LOG("checkpoint k%03u seen %d times", k, s.count[k]);
	}
	/* New ones come after the last id sent: each at most once. */
	for (k = NR_CKPTS; k < NR_CKPTS + 3; k++)
		EXPECT_GE(1, s.count[k]);
	EXPECT_EQ(1, s.intr);
	close(fd);
	dl_nl_close(&nl2);
	dl_nl_close(&nl);
	cleanup();
}

#define NR_DEVS		16

TEST(atomic_reply_of_16_long_names)
{
	struct dl_nl_sel sels[NR_DEVS];
	struct dl_nl_ckpt_id ids[NR_DEVS];
	char names[NR_DEVS][128], uuids[NR_DEVS][129], cmd[512];
	struct dl_nl nl;
	unsigned int nr = 0;
	int i;

	cleanup();
	ASSERT_EQ(0, run("modprobe dm-dirtylog"));
	for (i = 0; i < NR_DEVS; i++) {
		/* 127 and 128 characters: the longest dm allows. */
		memset(names[i], 'n', 127);
		names[i][127] = '\0';
		memset(uuids[i], 'u', 128);
		uuids[i][128] = '\0';
		snprintf(names[i], 4, "%02d", i);
		names[i][2] = 'n';
		snprintf(uuids[i], 4, "%02d", i);
		uuids[i][2] = 'u';
		ASSERT_EQ(0, make_dev(names[i], uuids[i], i));
		ASSERT_EQ(0, dl_nl_sel_parse(names[i], false, &sels[i]));
	}
	ASSERT_EQ(0, dl_nl_open(&nl));
	EXPECT_EQ(0, dl_nl_ckpt_new(&nl, sels, NR_DEVS, "all16", ids, &nr))
		TH_LOG("%s", nl.err);
	EXPECT_EQ(NR_DEVS, nr);
	for (i = 0; i < NR_DEVS && i < (int)nr; i++) {
		EXPECT_STREQ(names[i], ids[i].dev_name);
		EXPECT_EQ(1, ids[i].id);
	}
	/* Whatever the reply said, the checkpoint is on every device. */
	for (i = 0; i < NR_DEVS; i++) {
		ASSERT_GT((int)sizeof(cmd),
			  snprintf(cmd, sizeof(cmd),
				   "dmsetup message %s 0 list_checkpoints | grep -q '^all16 1 '",
				   names[i]));
		EXPECT_EQ(0, run(cmd));
	}
	dl_nl_close(&nl);
	cleanup();
}

TEST_HARNESS_MAIN
