// SPDX-License-Identifier: GPL-2.0-only
/*
 * A dirty dump that resumes in the middle of a chunk stays ascending and
 * non-overlapping even when that chunk turns dense between two messages.
 *
 * The kernel builds the next message of a dump when the reader has room
 * for it.  With a tiny receive buffer it builds one message ahead: after
 * reading message 1, message 2 is queued and message 3 is not built until
 * message 2 is consumed.  So the test peeks at message 2, learns where it
 * ends (inside a chunk sent as extents), makes that chunk dense with a
 * MARK_DIRTY bitmap from a second socket, and only then consumes message
 * 2.  Message 3 must not send that chunk as a raw bitmap from its start,
 * which would repeat blocks already sent.  Every item is checked against
 * the model: the sparse pattern must all be there, nothing outside the
 * sparse pattern and the dense chunk may be, and a fresh dump afterwards
 * equals the model exactly.
 *
 * Device: dirtylog "dr" over /dev/vda (4 KiB blocks, metadata /dev/vdb).
 *
 * Second test: a dump that spans a remove and re-create of its device
 * (its since checkpoint deleted and made anew meanwhile) is flagged
 * interrupted.
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

#include "dl-nl.h"

#define NAME		"dr"
#define SPARSE_STEP	256	/* 42 runs per chunk: sent as extents */

struct model {
	uint64_t nr_blocks;
	uint8_t *want;		/* sparse pattern and the dense chunk */
	uint8_t *seen;		/* what the dump reported */
	uint64_t prev_end;
	int overlaps, outside;
	uint64_t last_item_end;
};

static int run(const char *cmd)
{
	int r = system(cmd);

	return r == -1 ? -1 : WEXITSTATUS(r);
}

static void see(struct model *m, uint64_t start, uint64_t nbits,
		const uint8_t *bits)
{
	if (start < m->prev_end)
		m->overlaps++;
	m->prev_end = start + nbits;
	m->last_item_end = start + nbits;
	for (uint64_t i = 0; i < nbits && start + i < m->nr_blocks; i++) {
		uint64_t b = start + i;

		if (bits && !(bits[i / 8] >> (i % 8) & 1))
			continue;
		if (!(m->want[b / 8] >> (b % 8) & 1))
			m->outside++;
		m->seen[b / 8] |= (uint8_t)(1u << (b % 8));
	}
}

/* Account for every item of the messages in buf[0..len). */
static int take(struct model *m, void *buf, int len, int *done)
{
	struct nlmsghdr *nlh;
	uint64_t start, count;
	const uint8_t *bits;
	struct nlattr *a;
	int rem;

	for (nlh = buf; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_type == NLMSG_DONE) {
			*done = 1;
			continue;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR)
			return -1;
		nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
				  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
			if (nla_type(a) == DM_DIRTYLOG_A_EXTENT) {
				if (dl_nl_parse_extent(a, &start, &count))
					return -1;
				see(m, start, count, NULL);
			} else if (nla_type(a) == DM_DIRTYLOG_A_BITMAP) {
				if (dl_nl_parse_bitmap(a, &start, &bits, &count))
					return -1;
				see(m, start, count, bits);
			}
		}
	}
	return 0;
}

static int exact(uint64_t start, uint64_t count, void *arg)
{
	struct model *m = arg;

	see(m, start, count, NULL);
	return 0;
}

/*
 * Send a DIRTY_GET dump of NAME since @since on a fresh raw socket with a
 * tiny receive buffer that is only ever read with 4 KiB reads, so that
 * messages stay small and the kernel builds one message ahead.  Returns
 * the socket, or -1.
 */
static int raw_dump_start(int family, const char *since)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct nl_msg *req;
	int fd, small = 1, ok;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0)
		return -1;
	req = nlmsg_alloc();
	ok = req && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	     !setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) &&
	     genlmsg_put(req, 0, 1, family, 0, NLM_F_REQUEST | NLM_F_DUMP,
			 DM_DIRTYLOG_CMD_DIRTY_GET, DM_DIRTYLOG_GENL_VERSION) &&
	     !nla_put_string(req, DM_DIRTYLOG_A_DEV_NAME, NAME) &&
	     !nla_put_string(req, DM_DIRTYLOG_A_SINCE, since) &&
	     !nla_put_u32(req, DM_DIRTYLOG_A_DUMP_FORMAT, DM_DIRTYLOG_DUMP_AUTO) &&
	     send(fd, nlmsg_hdr(req), nlmsg_hdr(req)->nlmsg_len, 0) ==
		(ssize_t)nlmsg_hdr(req)->nlmsg_len;
	nlmsg_free(req);
	if (!ok) {
		close(fd);
		return -1;
	}
	return fd;
}

TEST(resume_inside_a_chunk_that_turns_dense)
{
	struct dl_nl nl, nl2;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	struct dl_nl_ckpt_id id;
	struct model m = { 0 };
	unsigned int nr;
	uint8_t *sparse, *dense;
	char buf[4096];
	uint64_t chunk, cstart, n, len;
	int fd, done = 0, msgs = 0;
	ssize_t got;

	ASSERT_EQ(0, run("modprobe dm-dirtylog && "
			 "dd if=/dev/zero of=/dev/vdb bs=64k count=16 oflag=direct 2>/dev/null && "
			 "dmsetup create " NAME " --table \"0 $(blockdev --getsz /dev/vda) "
			 "dirtylog /dev/vdb /dev/vda 8\""));
	ASSERT_EQ(0, dl_nl_open(&nl));
	ASSERT_EQ(0, dl_nl_open(&nl2));
	ASSERT_EQ(0, dl_nl_sel_parse(NAME, false, &sel));
	ASSERT_EQ(0, dl_nl_dev_get(&nl, &sel, &dev));
	m.nr_blocks = dev.nr_blocks;
	len = (m.nr_blocks + 7) / 8;
	m.want = calloc(1, len);
	m.seen = calloc(1, len);
	sparse = calloc(1, len);
	dense = malloc(DM_DIRTYLOG_BM_CHUNK_BITS / 8);
	ASSERT_TRUE(m.want && m.seen && sparse && dense);
	ASSERT_EQ(0, dl_nl_ckpt_new(&nl, &sel, 1, "c0", &id, &nr));
	for (uint64_t b = 0; b < m.nr_blocks; b += SPARSE_STEP)
		sparse[b / 8] |= (uint8_t)(1u << (b % 8));
	memcpy(m.want, sparse, len);
	ASSERT_EQ(0, dl_nl_mark_bitmap(&nl, &sel, 0, sparse, m.nr_blocks));

	fd = raw_dump_start(nl.family, "c0");
	ASSERT_LE(0, fd);

	/* Message 1, then a look at message 2 without consuming it. */
	got = recv(fd, buf, sizeof(buf), 0);
	ASSERT_LT(0, got);
	ASSERT_EQ(0, take(&m, buf, (int)got, &done));
	ASSERT_EQ(0, done);
	got = recv(fd, buf, sizeof(buf), MSG_PEEK);
	ASSERT_LT(0, got);
	{
		struct model peek = m;

		peek.seen = calloc(1, len);
		ASSERT_NE(NULL, peek.seen);
		ASSERT_EQ(0, take(&peek, buf, (int)got, &done));
		ASSERT_EQ(0, done);
		m.last_item_end = peek.last_item_end;
		free(peek.seen);
	}
	chunk = m.last_item_end / DM_DIRTYLOG_BM_CHUNK_BITS;
	cstart = chunk * DM_DIRTYLOG_BM_CHUNK_BITS;
	TH_LOG("message 2 ends at block %" PRIu64 ", inside chunk %" PRIu64,
	       m.last_item_end, chunk);
	ASSERT_NE(cstart, m.last_item_end);
	n = m.nr_blocks - cstart < DM_DIRTYLOG_BM_CHUNK_BITS ?
	    m.nr_blocks - cstart : DM_DIRTYLOG_BM_CHUNK_BITS;
	/* That chunk turns dense: every other block. */
	memset(dense, 0x55, DM_DIRTYLOG_BM_CHUNK_BITS / 8);
	ASSERT_EQ(0, dl_nl_mark_bitmap(&nl2, &sel, cstart, dense, n));
	for (uint64_t b = cstart; b < cstart + n; b += 2)
		m.want[b / 8] |= (uint8_t)(1u << (b % 8));

	/* Now the rest of the dump. */
	while (!done) {
		got = recv(fd, buf, sizeof(buf), 0);
		ASSERT_LT(0, got);
		ASSERT_EQ(0, take(&m, buf, (int)got, &done));
		msgs++;
	}
	TH_LOG("%d more messages", msgs);
	EXPECT_EQ(0, m.overlaps);
	EXPECT_EQ(0, m.outside);
	n = 0;
	for (uint64_t i = 0; i < len; i++)
		n += (m.seen[i] & sparse[i]) != sparse[i];
	EXPECT_EQ(0, n) TH_LOG("%" PRIu64 " bytes of the sparse pattern missing", n);

	/* A fresh dump through the library equals the model exactly. */
	memset(m.seen, 0, len);
	m.prev_end = 0;
	ASSERT_EQ(0, dl_nl_dirty_dump(&nl2, &sel, "c0", NULL, exact, NULL, &m, NULL));
	EXPECT_EQ(0, memcmp(m.seen, m.want, len));
	EXPECT_EQ(0, m.overlaps);

	close(fd);
	dl_nl_close(&nl);
	dl_nl_close(&nl2);
	free(m.want);
	free(m.seen);
	free(sparse);
	free(dense);
	run("dmsetup remove " NAME);
}

/*
 * Note, for every message in buf[0..len), whether the dump says it was
 * interrupted: NLM_F_DUMP_INTR, or a generation other than *gen (the
 * first one seen is stored there).  Also reports NLMSG_DONE and errors.
 */
static int scan_gen(void *buf, int len, uint64_t *gen, int *intr, int *done,
		    int *err)
{
	struct nlmsghdr *nlh;
	struct nlattr *a;
	int rem;

	for (nlh = buf; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			*intr = 1;
		if (nlh->nlmsg_type == NLMSG_DONE) {
			*done = 1;
			continue;
		}
		if (nlh->nlmsg_type == NLMSG_ERROR) {
			*err = 1;
			*done = 1;
			continue;
		}
		nla_for_each_attr(a, genlmsg_attrdata(nlmsg_data(nlh), 0),
				  genlmsg_attrlen(nlmsg_data(nlh), 0), rem) {
			if (nla_type(a) != DM_DIRTYLOG_A_GENERATION)
				continue;
			if (!*gen)
				*gen = nla_get_u64(a);
			else if (nla_get_u64(a) != *gen)
				*intr = 1;
		}
	}
	return 0;
}

/*
 * A dump that spans a remove and re-create of its device, during which its
 * since checkpoint is deleted and made anew (empty), must say so: the
 * rest of the answer is for another checkpoint.  The generations of two
 * metadata instances came from per-instance counters that both started
 * at 0, so two checkpoint operations on each (x and c0 before the dump;
 * deleting and re-making c0 after) gave the same generation and the dump
 * went on silently with the new c0.
 */
TEST(dump_across_recreate_is_interrupted)
{
	struct dl_nl nl;
	struct dl_nl_sel sel;
	struct dl_nl_dev dev;
	struct dl_nl_ckpt_id id;
	unsigned int nr;
	uint8_t *sparse;
	char buf[4096];
	uint64_t gen = 0, len;
	int fd, done = 0, intr = 0, err = 0, msgs = 0;
	ssize_t got;

	ASSERT_EQ(0, run("modprobe dm-dirtylog && "
			 "dd if=/dev/zero of=/dev/vdb bs=64k count=16 oflag=direct 2>/dev/null && "
			 "dmsetup create " NAME " --table \"0 $(blockdev --getsz /dev/vda) "
			 "dirtylog /dev/vdb /dev/vda 8\""));
	ASSERT_EQ(0, dl_nl_open(&nl));
	ASSERT_EQ(0, dl_nl_sel_parse(NAME, false, &sel));
	ASSERT_EQ(0, dl_nl_dev_get(&nl, &sel, &dev));
	len = (dev.nr_blocks + 7) / 8;
	sparse = calloc(1, len);
	ASSERT_NE(NULL, sparse);
	for (uint64_t b = 0; b < dev.nr_blocks; b += SPARSE_STEP)
		sparse[b / 8] |= (uint8_t)(1u << (b % 8));
	ASSERT_EQ(0, dl_nl_ckpt_new(&nl, &sel, 1, "x", &id, &nr));
	ASSERT_EQ(0, dl_nl_ckpt_new(&nl, &sel, 1, "c0", &id, &nr));
	ASSERT_EQ(0, dl_nl_mark_bitmap(&nl, &sel, 0, sparse, dev.nr_blocks));

	fd = raw_dump_start(nl.family, "c0");
	ASSERT_LE(0, fd);

	got = recv(fd, buf, sizeof(buf), 0);
	ASSERT_LT(0, got);
	ASSERT_EQ(0, scan_gen(buf, (int)got, &gen, &intr, &done, &err));
	ASSERT_EQ(0, done);
	ASSERT_NE(0, gen);

	/* A new metadata instance; c0 deleted and made anew (empty). */
	ASSERT_EQ(0, run("dmsetup remove " NAME " && dmsetup create " NAME
			 " --table \"0 $(blockdev --getsz /dev/vda) dirtylog /dev/vdb /dev/vda 8\" && "
			 "dmsetup message " NAME " 0 delete_checkpoint c0 && "
			 "dmsetup message " NAME " 0 checkpoint c0 >/dev/null"));

	while (!done) {
		got = recv(fd, buf, sizeof(buf), 0);
		ASSERT_LT(0, got);
		ASSERT_EQ(0, scan_gen(buf, (int)got, &gen, &intr, &done, &err));
		msgs++;
	}
	TH_LOG("%d more messages, interrupted %d, error %d", msgs, intr, err);
	EXPECT_TRUE(intr || err);

	close(fd);
	dl_nl_close(&nl);
	free(sparse);
	run("dmsetup remove " NAME);
}

TEST_HARNESS_MAIN
