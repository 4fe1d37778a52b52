// SPDX-License-Identifier: GPL-2.0-only
/*
 * dl_nlfuzz SEED COUNT DEVNAME: send COUNT random, often malformed, requests
 * to the "dm-dirtylog" generic netlink family over a raw netlink socket and
 * check that every answer is well formed.
 *
 * After each request a "ping" (CTRL_CMD_GETFAMILY for the family, with
 * NLM_F_ACK) is sent once the request's own terminal message (ACK, error,
 * NLMSG_DONE) has been read, or at once when the request asked for no ACK
 * and is no dump; every reply up to the ping's ACK is checked.  So a request
 * that should get no answer (no ACK asked, or dropped by netlink for a
 * lying nlmsg_len) must get none, and one that asked for an answer must get
 * exactly one terminal message.  Any reply waited for longer than 5 s is a
 * failure.
 *
 * With --uid UID (and optionally --gid GID, default UID), it drops root
 * before it opens its socket (supplementary groups, gid, uid: no
 * capability is left) and checks the permission model of the family as
 * well: every operation, reads included, requires CAP_SYS_ADMIN, so no
 * request may succeed or get a message of the family back, and every
 * well-formed request (a known command, its own handler type, valid
 * attributes) must be refused with exactly EPERM.
 *
 * Exit status: 0 when every reply was well formed and none was missing.
 */
#include <errno.h>
#include <grp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/netlink.h>

#include <linux/dm-dirtylog.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif
#ifndef NLM_F_CAPPED
#define NLM_F_CAPPED 0x100
#endif
#ifndef NLM_F_ACK_TLVS
#define NLM_F_ACK_TLVS 0x200
#endif

#define SNDBUF_SIZE	16384
#define RCVBUF_SIZE	(1 << 20)
/* A reply later than this is a hang; times DL_TIMEOUT_SCALE on slow kernels. */
#define TIMEOUT_S	10

static int fd = -1;
static uint32_t portid;
static uint16_t family;
static uint32_t seq_next = 1;
static const char *devname;
static unsigned int dev_major, dev_minor;
static bool have_devno;
static unsigned char rbuf[RCVBUF_SIZE];

static unsigned long errcount[4096];
static unsigned long n_success, n_silent, n_dropped, n_replies, n_bad;
/* Answers to messages without NLM_F_REQUEST: netlink's own, not the family's. */
static unsigned long n_noreq;
static unsigned long n_dumps_intr, n_ext_msgs;
static bool unpriv;
static char last_ext_msg[160];
static unsigned long n_eperm_clean;

/* --- random numbers: xorshift64*, reproducible from the seed */
static uint64_t rng_state;

static uint64_t rnd64(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd(uint32_t n)		/* 0 .. n-1 */
{
	return n ? (uint32_t)((rnd64() >> 16) % n) : 0;
}

static bool chance(unsigned int percent)
{
	return rnd(100) < percent;
}

/* --- message building */
struct mbuf {
	unsigned char b[SNDBUF_SIZE];
	size_t len;
};

static bool room(struct mbuf *m, size_t n)
{
	return m->len + NLA_ALIGN(n) + 64 <= sizeof(m->b);
}

static void put_raw(struct mbuf *m, const void *p, size_t n)
{
	memcpy(m->b + m->len, p, n);
	memset(m->b + m->len + n, 0, NLA_ALIGN(n) - n);
	m->len += NLA_ALIGN(n);
}

/* An attribute whose header says payload length n (true length n). */
static void put_attr(struct mbuf *m, uint16_t type, const void *p, size_t n)
{
	struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + n), .nla_type = type };

	if (!room(m, NLA_HDRLEN + n))
		return;
	memcpy(m->b + m->len, &a, sizeof(a));
	m->len += NLA_HDRLEN;
	put_raw(m, p, n);
}

static void put_str(struct mbuf *m, uint16_t type, const char *s)
{
	put_attr(m, type, s, strlen(s) + 1);
}

static void put_u32(struct mbuf *m, uint16_t type, uint32_t v)
{
	put_attr(m, type, &v, sizeof(v));
}

static void put_u64(struct mbuf *m, uint16_t type, uint64_t v)
{
	put_attr(m, type, &v, sizeof(v));
}

/* Set while a well-formed request of an unprivileged run is built. */
static bool valid_names_only;

static size_t nest_start(struct mbuf *m, uint16_t type)
{
	struct nlattr a = { .nla_len = NLA_HDRLEN, .nla_type = type };
	size_t off = m->len;

	/* Well-formed requests mark their nests, as strict validation asks. */
	if (valid_names_only)
		a.nla_type |= NLA_F_NESTED;
	memcpy(m->b + m->len, &a, sizeof(a));
	m->len += NLA_HDRLEN;
	return off;
}

static void nest_end(struct mbuf *m, size_t off)
{
	struct nlattr a;

	memcpy(&a, m->b + off, sizeof(a));
	a.nla_len = (uint16_t)(m->len - off);
	memcpy(m->b + off, &a, sizeof(a));
}

static const char *const ckpt_names[] = {
	"fz0", "fz1", "fz2", "fz.3", "fz_4", "fz:5", "fz+6", "fz-7",
};

static const char *rand_ckpt_name(char *tmp, size_t tmplen)
{
	unsigned int i, n;

	if (valid_names_only || chance(80))
		return ckpt_names[rnd(sizeof(ckpt_names) / sizeof(ckpt_names[0]))];
	switch (rnd(5)) {
	case 0:
		return "";
	case 1:
		return "bad/name";
	case 2:				/* exactly NAME_MAX, or one more */
		n = DM_DIRTYLOG_NAME_MAX + rnd(2);
		break;
	case 3:
		n = DM_DIRTYLOG_NAME_MAX - 1;
		break;
	default:
		n = 1 + rnd(12);
		break;
	}
	if (n >= tmplen)
		n = tmplen - 1;
	for (i = 0; i < n; i++)
		tmp[i] = (char)(chance(90) ? 'a' + rnd(26) : 1 + rnd(255));
	tmp[n] = 0;
	return tmp;
}

/* A valid or wrong device selector. */
static void put_selector(struct mbuf *m)
{
	switch (rnd(8)) {
	case 0:
		if (have_devno) {
			put_u32(m, DM_DIRTYLOG_A_DEV_MAJOR, dev_major);
			put_u32(m, DM_DIRTYLOG_A_DEV_MINOR, dev_minor);
			break;
		}
		/* fall through */
	case 1: case 2: case 3: case 4:
		put_str(m, DM_DIRTYLOG_A_DEV_NAME, devname);
		break;
	case 5:
		put_str(m, DM_DIRTYLOG_A_DEV_NAME, chance(50) ? "nosuchdev" : "");
		break;
	case 6:
		put_str(m, DM_DIRTYLOG_A_DEV_UUID, chance(50) ? "DLTEST-nouuid" : "");
		break;
	default:
		put_u32(m, DM_DIRTYLOG_A_DEV_MAJOR, chance(50) ? dev_major : rnd64());
		if (chance(70))
			put_u32(m, DM_DIRTYLOG_A_DEV_MINOR, chance(50) ? dev_minor : rnd64());
		break;
	}
}

static void put_garbage(struct mbuf *m, size_t n)
{
	unsigned char g[1100];
	size_t i;

	if (n > sizeof(g))
		n = sizeof(g);
	for (i = 0; i < n; i++)
		g[i] = (unsigned char)rnd(256);
	if (room(m, n))
		put_raw(m, g, n);
}

static void put_fuzz_attr(struct mbuf *m, int depth);

/* DEVICE nests within DEVICE nests, DEPTH deep, a selector at the bottom. */
static void put_deep_device(struct mbuf *m, int depth)
{
	size_t off;

	if (depth <= 0 || !room(m, 64)) {
		put_selector(m);
		return;
	}
	off = nest_start(m, DM_DIRTYLOG_A_DEVICE | (chance(20) ? NLA_F_NESTED : 0));
	put_deep_device(m, depth - 1);
	if (chance(20))
		put_fuzz_attr(m, depth + 100);
	nest_end(m, off);
}

static void put_fuzz_attr(struct mbuf *m, int depth)
{
	char s[1100];
	uint16_t type;
	size_t n, i, off;

	if (!room(m, 1100))
		return;
	switch (rnd(16)) {
	case 0: case 1:			/* a valid id with a plausible value */
		type = (uint16_t)(1 + rnd(DM_DIRTYLOG_A_MAX));
		switch (type) {
		case DM_DIRTYLOG_A_DEV_NAME:
		case DM_DIRTYLOG_A_DEV_UUID:
		case DM_DIRTYLOG_A_INSTANCE_UUID:
			put_str(m, type, chance(50) ? devname : "x");
			break;
		case DM_DIRTYLOG_A_CKPT_NAME:
		case DM_DIRTYLOG_A_SINCE:
		case DM_DIRTYLOG_A_UNTIL:
			put_str(m, type, rand_ckpt_name(s, sizeof(s)));
			break;
		case DM_DIRTYLOG_A_DEV_MAJOR:
		case DM_DIRTYLOG_A_DEV_MINOR:
		case DM_DIRTYLOG_A_BLOCK_SECTORS:
		case DM_DIRTYLOG_A_STATE:
		case DM_DIRTYLOG_A_NR_CHECKPOINTS:
			put_u32(m, type, (uint32_t)rnd64());
			break;
		case DM_DIRTYLOG_A_DUMP_FORMAT:
			put_u32(m, type, chance(80) ? (uint32_t)rnd(3) : (uint32_t)rnd64());
			break;
		case DM_DIRTYLOG_A_BITMAP:
			/* start: often aligned and inside the device; data: often whole words */
			off = nest_start(m, type);
			if (chance(90))
				put_u64(m, DM_DIRTYLOG_A_BM_START,
					chance(60) ? 64 * rnd(4000) : (chance(50) ? rnd(300000) : rnd64()));
			if (chance(90)) {
				n = chance(70) ? 8 * (1 + rnd(64)) : rnd(600);
				for (i = 0; i < n; i++)
					s[i] = (char)(chance(50) ? 0 : rnd(256));
				put_attr(m, DM_DIRTYLOG_A_BM_DATA, s, n);
			}
			if (chance(5))
				put_u64(m, (uint16_t)(1 + rnd(6)), rnd64());
			nest_end(m, off);
			break;
		case DM_DIRTYLOG_A_EXTENT:
		case DM_DIRTYLOG_A_DEVICE:
			off = nest_start(m, type);
			if (type == DM_DIRTYLOG_A_DEVICE)
				put_selector(m);
			else
				put_u64(m, DM_DIRTYLOG_A_EXT_START, rnd64());
			nest_end(m, off);
			break;
		default:
			put_u64(m, type, chance(50) ? rnd(1000) : rnd64());
			break;
		}
		break;
	case 2:				/* unknown ids, and UNSPEC */
		type = chance(20) ? 0 : (uint16_t)(DM_DIRTYLOG_A_MAX + 1 + rnd(40 - DM_DIRTYLOG_A_MAX));
		n = rnd(20);
		put_attr(m, type, memset(s, 'u', n), n);
		break;
	case 3: case 4:			/* oversized / non-terminated strings */
		type = (uint16_t[]){ DM_DIRTYLOG_A_DEV_NAME, DM_DIRTYLOG_A_DEV_UUID,
			DM_DIRTYLOG_A_CKPT_NAME, DM_DIRTYLOG_A_SINCE,
			DM_DIRTYLOG_A_UNTIL }[rnd(5)];
		n = chance(50) ? rnd(1025) : (chance(50) ? DM_DIRTYLOG_NAME_MAX + rnd(3) - 1 : 126 + rnd(4));
		for (i = 0; i < n; i++)
			s[i] = (char)('a' + rnd(26));
		if (n && chance(50))
			s[n - 1] = 0;		/* terminated, else not */
		if (n > 2 && chance(10))
			s[rnd(n - 1)] = 0;	/* embedded NUL */
		put_attr(m, type, s, n);
		break;
	case 5: case 6:			/* integers with wrong lengths */
		type = (uint16_t[]){ DM_DIRTYLOG_A_DEV_MAJOR, DM_DIRTYLOG_A_DEV_MINOR,
			DM_DIRTYLOG_A_MARK_START, DM_DIRTYLOG_A_MARK_COUNT,
			DM_DIRTYLOG_A_CKPT_ID, DM_DIRTYLOG_A_PAD }[rnd(6)];
		n = rnd(17);
		for (i = 0; i < n; i++)
			s[i] = (char)rnd(256);
		put_attr(m, type, s, n);
		break;
	case 7:				/* empty nests */
		type = chance(70) ? DM_DIRTYLOG_A_DEVICE : DM_DIRTYLOG_A_EXTENT;
		put_attr(m, type | (chance(30) ? NLA_F_NESTED : 0), "", 0);
		break;
	case 8:				/* garbage nests */
		n = rnd(64);
		for (i = 0; i < n; i++)
			s[i] = (char)rnd(256);
		put_attr(m, DM_DIRTYLOG_A_DEVICE | (chance(30) ? NLA_F_NESTED : 0), s, n);
		break;
	case 9:				/* deeply nested DEVICE */
		put_deep_device(m, 1 + (int)rnd(depth > 100 ? 2 : 40));
		break;
	case 10:			/* DEVICE nest with fuzz inside */
		off = nest_start(m, DM_DIRTYLOG_A_DEVICE);
		if (chance(70))
			put_selector(m);
		if (depth < 3) {
			for (n = rnd(4); n; n--)
				put_fuzz_attr(m, depth + 1);
		}
		nest_end(m, off);
		break;
	case 11:			/* flag bits on valid types */
		type = (uint16_t)(rnd(DM_DIRTYLOG_A_MAX + 1) |
				  (chance(50) ? NLA_F_NESTED : NLA_F_NET_BYTEORDER));
		put_attr(m, type, "fz\0\0\0\0\0", 8);
		break;
	case 12:			/* a selector more (duplicates) */
		put_selector(m);
		break;
	case 13:
		put_str(m, DM_DIRTYLOG_A_CKPT_NAME, rand_ckpt_name(s, sizeof(s)));
		break;
	case 14:
		put_u64(m, DM_DIRTYLOG_A_MARK_START, chance(70) ? rnd(200000) : rnd64());
		put_u64(m, DM_DIRTYLOG_A_MARK_COUNT, chance(70) ? rnd(64) : rnd64());
		break;
	default:			/* random bytes as an attribute */
		n = rnd(32);
		for (i = 0; i < n; i++)
			s[i] = (char)rnd(256);
		put_attr(m, (uint16_t)rnd(65536), s, n);
		break;
	}
}

struct req {
	uint32_t seq;
	uint16_t flags;
	uint8_t cmd, version;
	bool dropped;		/* netlink must ignore it (nlmsg_len lies) */
	bool clean;		/* well-formed: only a permission check refuses it */
	bool want_terminal;	/* an ACK, error or DONE must come */
	size_t sent;
};

/* Build and send one random request; fills *r. */
static int send_fuzz(struct req *r)
{
	static struct mbuf m;
	struct nlmsghdr nh;
	struct genlmsghdr gh;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	uint16_t flags = 0;
	size_t total, hdr = NLMSG_HDRLEN + GENL_HDRLEN;
	uint32_t nlen;
	unsigned int i, nattr, short_by = 0;
	bool clean;
	char s[128];
	ssize_t w;

	memset(r, 0, sizeof(*r));
	m.len = hdr;

	if (chance(95))
		flags |= NLM_F_REQUEST;
	if (chance(50))
		flags |= NLM_F_ACK;
	if (chance(40))
		flags |= chance(85) ? NLM_F_DUMP : (chance(50) ? NLM_F_ROOT : NLM_F_MATCH);
	if (chance(10))
		flags |= (uint16_t)(1u << rnd(16));
	r->flags = flags;
	r->cmd = chance(75) ? (uint8_t)(1 + rnd(DM_DIRTYLOG_CMD_MARK_DIRTY)) : (uint8_t)rnd(21);
	r->version = chance(90) ? DM_DIRTYLOG_GENL_VERSION : (uint8_t)rnd(256);

	/* A third of the requests are well-formed, to let some succeed. */
	clean = chance(35);
	r->clean = clean && unpriv;
	valid_names_only = r->clean;
	if (clean) {
		r->cmd = (uint8_t)(1 + rnd(DM_DIRTYLOG_CMD_MARK_DIRTY));
		r->version = DM_DIRTYLOG_GENL_VERSION;
		flags = NLM_F_REQUEST | (chance(80) ? NLM_F_ACK : 0);
		if (r->cmd == DM_DIRTYLOG_CMD_CKPT_GET || r->cmd == DM_DIRTYLOG_CMD_DIRTY_GET ||
		    (r->cmd == DM_DIRTYLOG_CMD_DEV_GET && chance(50)))
			flags |= NLM_F_DUMP;
		r->flags = flags;
		if (r->cmd == DM_DIRTYLOG_CMD_RESET && chance(80))
			r->cmd = DM_DIRTYLOG_CMD_CKPT_NEW;	/* resets: rarer */
	}

	/* Sensible attributes for the command, often. */
	if (clean)
		put_str(&m, DM_DIRTYLOG_A_DEV_NAME, devname);
	else if (chance(60))
		put_selector(&m);
	if (clean || chance(50)) {
		switch (r->cmd) {
		case DM_DIRTYLOG_CMD_CKPT_NEW:
			if (chance(30)) {
				for (i = 1 + rnd(3); i; i--) {
					size_t off = nest_start(&m, DM_DIRTYLOG_A_DEVICE);

					put_selector(&m);
					nest_end(&m, off);
				}
			}
			/* fall through */
		case DM_DIRTYLOG_CMD_CKPT_DEL:
			put_str(&m, DM_DIRTYLOG_A_CKPT_NAME, rand_ckpt_name(s, sizeof(s)));
			break;
		case DM_DIRTYLOG_CMD_DIRTY_GET:
			put_str(&m, DM_DIRTYLOG_A_SINCE, rand_ckpt_name(s, sizeof(s)));
			if (chance(40))
				put_str(&m, DM_DIRTYLOG_A_UNTIL, rand_ckpt_name(s, sizeof(s)));
			if (chance(50))
				put_u32(&m, DM_DIRTYLOG_A_DUMP_FORMAT, (uint32_t)rnd(3));
			break;
		case DM_DIRTYLOG_CMD_MARK_DIRTY:
			if (chance(30)) {
				/* Dense random bits, aligned: the raw-chunk path. */
				size_t off = nest_start(&m, DM_DIRTYLOG_A_BITMAP);

				put_u64(&m, DM_DIRTYLOG_A_BM_START, 64 * rnd(2000));
				for (i = 0; i < 64; i++)
					s[i] = (char)rnd(256);
				put_attr(&m, DM_DIRTYLOG_A_BM_DATA, s, 64);
				nest_end(&m, off);
				break;
			}
			put_u64(&m, DM_DIRTYLOG_A_MARK_START, chance(80) ? rnd(100000) : rnd64());
			put_u64(&m, DM_DIRTYLOG_A_MARK_COUNT, chance(80) ? 1 + rnd(64) : rnd64());
			break;
		}
	}
	valid_names_only = false;
	nattr = clean || chance(30) ? 0 : rnd(8);
	for (i = 0; i < nattr; i++)
		put_fuzz_attr(&m, 0);
	if (!clean && chance(5) && room(&m, 4)) {		/* truncated nlattr header */
		short_by = 1 + rnd(3);
		put_garbage(&m, 4 - short_by);
	}
	if (!clean && chance(3) && room(&m, 8)) {	/* nla_len < 4 or too long */
		struct nlattr a = { .nla_len = (uint16_t)(chance(50) ? rnd(4) : 200 + rnd(60000)),
				    .nla_type = (uint16_t)rnd(DM_DIRTYLOG_A_MAX + 1) };
		memcpy(m.b + m.len, &a, sizeof(a));
		m.len += sizeof(a);
	}

	total = m.len;
	nlen = (uint32_t)(total - short_by);
	r->sent = total;
	if (!clean && chance(8)) {
		switch (rnd(4)) {
		case 0:		/* longer than sent: netlink drops it */
			nlen = (uint32_t)(total + 1 + rnd(4096));
			r->dropped = true;
			break;
		case 1:		/* shorter than a netlink header: dropped */
			nlen = rnd(NLMSG_HDRLEN);
			r->dropped = true;
			break;
		case 2:		/* shorter than the genl header */
			nlen = (uint32_t)(NLMSG_HDRLEN + rnd(GENL_HDRLEN));
			r->sent = NLMSG_ALIGN(nlen) + rnd(NLMSG_HDRLEN);
			break;
		default:	/* cuts into the attributes */
			nlen = (uint32_t)(hdr + rnd((uint32_t)(total - hdr + 1)));
			r->sent = NLMSG_ALIGN(nlen) + rnd(NLMSG_HDRLEN);
			break;
		}
		if (r->sent > total)
			r->sent = total;
		if (r->sent < NLMSG_ALIGN(nlen) && !r->dropped)
			r->sent = total;	/* keep it a single message */
	}
	if (!r->dropped && r->sent > NLMSG_ALIGN(nlen) + NLMSG_HDRLEN - 1)
		r->sent = NLMSG_ALIGN(nlen);

	r->seq = seq_next++;
	nh = (struct nlmsghdr){ .nlmsg_len = nlen, .nlmsg_type = family,
				.nlmsg_flags = flags, .nlmsg_seq = r->seq };
	gh = (struct genlmsghdr){ .cmd = r->cmd, .version = r->version,
				  .reserved = (uint16_t)(chance(95) ? 0 : rnd(65536)) };
	if (r->clean)
		gh.reserved = 0;
	memcpy(m.b, &nh, sizeof(nh));
	memcpy(m.b + NLMSG_HDRLEN, &gh, sizeof(gh));
	r->want_terminal = !r->dropped &&
		((flags & NLM_F_ACK) ||
		 ((flags & NLM_F_REQUEST) && (flags & NLM_F_DUMP) == NLM_F_DUMP));

	w = sendto(fd, m.b, r->sent, 0, (struct sockaddr *)&sa, sizeof(sa));
	if (w != (ssize_t)r->sent) {
		fprintf(stderr, "send: %s\n", w < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

static int send_ping(uint32_t seq)
{
	struct {
		struct nlmsghdr nh;
		struct genlmsghdr gh;
		unsigned char attrs[64];
	} msg;
	struct mbuf *m = calloc(1, sizeof(*m));
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t w;

	if (!m)
		return -1;
	m->len = 0;
	put_str(m, CTRL_ATTR_FAMILY_NAME, DM_DIRTYLOG_GENL_NAME);
	memset(&msg, 0, sizeof(msg));
	memcpy(msg.attrs, m->b, m->len);
	msg.nh.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + GENL_HDRLEN + m->len);
	msg.nh.nlmsg_type = GENL_ID_CTRL;
	msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	msg.nh.nlmsg_seq = seq;
	msg.gh.cmd = CTRL_CMD_GETFAMILY;
	msg.gh.version = 1;
	w = sendto(fd, &msg, msg.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
	free(m);
	if (w != (ssize_t)msg.nh.nlmsg_len) {
		fprintf(stderr, "send ping: %s\n", w < 0 ? strerror(errno) : "short");
		return -1;
	}
	return 0;
}

/* --- reply checking */
static const char *cur_what;	/* for messages */

static void bad(const struct nlmsghdr *nh, const char *fmt, const char *detail)
{
	n_bad++;
	printf("MALFORMED reply (%s): ", cur_what);
	printf(fmt, detail);
	if (nh)
		printf(" [type %u flags %#x seq %u len %u]", nh->nlmsg_type,
		       nh->nlmsg_flags, nh->nlmsg_seq, nh->nlmsg_len);
	printf("\n");
}

/* Attributes in [p, p+len): all headers sane and inside; 0 if fine. */
static int walk_attrs(const unsigned char *p, size_t len, int set, int depth)
{
	size_t off = 0;

	if (depth > 4)
		return -1;
	while (off < len) {
		struct nlattr a;
		size_t plen;
		uint16_t type;
		const unsigned char *v;

		if (len - off < NLA_HDRLEN)
			return -1;
		memcpy(&a, p + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > len - off)
			return -1;
		plen = a.nla_len - NLA_HDRLEN;
		v = p + off + NLA_HDRLEN;
		type = a.nla_type & NLA_TYPE_MASK;
		if (set == 0) {				/* dirtylog */
			switch (type) {
			case DM_DIRTYLOG_A_PAD:
				break;
			case DM_DIRTYLOG_A_DEV_NAME:
			case DM_DIRTYLOG_A_DEV_UUID:
			case DM_DIRTYLOG_A_INSTANCE_UUID:
			case DM_DIRTYLOG_A_CKPT_NAME:
			case DM_DIRTYLOG_A_SINCE:
			case DM_DIRTYLOG_A_UNTIL:
				if (!plen || memchr(v, 0, plen) != v + plen - 1)
					return -1;
				break;
			case DM_DIRTYLOG_A_DEV_MAJOR:
			case DM_DIRTYLOG_A_DEV_MINOR:
			case DM_DIRTYLOG_A_BLOCK_SECTORS:
			case DM_DIRTYLOG_A_STATE:
			case DM_DIRTYLOG_A_NR_CHECKPOINTS:
				if (plen != 4)
					return -1;
				break;
			case DM_DIRTYLOG_A_EXTENT:
				if (walk_attrs(v, plen, 1, depth + 1))
					return -1;
				break;
			case DM_DIRTYLOG_A_BITMAP:
				if (walk_attrs(v, plen, 3, depth + 1))
					return -1;
				break;
			case DM_DIRTYLOG_A_DUMP_FORMAT:
				if (plen != 4)
					return -1;
				break;
			case DM_DIRTYLOG_A_DEVICE:
				if (walk_attrs(v, plen, 0, depth + 1))
					return -1;
				break;
			default:
				if (type == 0 || type > DM_DIRTYLOG_A_MAX || plen != 8)
					return -1;
				break;
			}
		} else if (set == 1) {			/* extent */
			if (type == DM_DIRTYLOG_A_EXT_START || type == DM_DIRTYLOG_A_EXT_COUNT) {
				if (plen != 8)
					return -1;
			} else if (type != DM_DIRTYLOG_A_EXT_PAD) {
				return -1;
			}
		} else if (set == 3) {			/* bitmap chunk */
			if (type == DM_DIRTYLOG_A_BM_START) {
				uint64_t start;

				if (plen != 8)
					return -1;
				memcpy(&start, v, 8);
				if (start % 64)
					return -1;
			} else if (type == DM_DIRTYLOG_A_BM_DATA) {
				if (!plen || plen % 8)
					return -1;
			} else if (type != DM_DIRTYLOG_A_BM_PAD) {
				return -1;
			}
		}
		/* set 2: any attributes, only framing checked */
		off += NLA_ALIGN(a.nla_len);
	}
	return off == len || off == NLA_ALIGN(len) ? 0 : -1;
}

/* Extended-ack TLVs of an NLMSG_ERROR or NLMSG_DONE. */
static int check_ext_ack(const unsigned char *p, size_t len, uint32_t orig_len)
{
	size_t off = 0;

	if (walk_attrs(p, len, 2, 0))
		return -1;
	while (off + NLA_HDRLEN <= len) {
		struct nlattr a;
		const unsigned char *v = p + off + NLA_HDRLEN;
		size_t plen;
		uint32_t u;

		memcpy(&a, p + off, sizeof(a));
		plen = a.nla_len - NLA_HDRLEN;
		switch (a.nla_type & NLA_TYPE_MASK) {
		case NLMSGERR_ATTR_MSG:
			if (!plen || memchr(v, 0, plen) != v + plen - 1)
				return -1;
			n_ext_msgs++;
			snprintf(last_ext_msg, sizeof(last_ext_msg), "%s", (const char *)v);
			break;
		case NLMSGERR_ATTR_OFFS:
		case 6:		/* NLMSGERR_ATTR_MISS_NEST */
			if (plen != 4)
				return -1;
			memcpy(&u, v, 4);
			if (orig_len && u >= orig_len)
				return -1;
			break;
		case 5:		/* NLMSGERR_ATTR_MISS_TYPE */
			if (plen != 4)
				return -1;
			break;
		}
		off += NLA_ALIGN(a.nla_len);
	}
	return 0;
}

struct rstate {
	uint32_t fuzz_seq, ping_seq;
	const struct req *req;
	bool fuzz_done;		/* terminal of the fuzz request seen */
	bool ping_done;
	bool ping_reply;	/* ping's family reply seen */
	int fuzz_err;		/* errno of the terminal, or 0 */
	unsigned int fuzz_msgs;	/* messages of the family */
};

static void check_msg(struct rstate *st, const struct nlmsghdr *nh)
{
	const unsigned char *data = (const unsigned char *)NLMSG_DATA(nh);
	size_t plen = nh->nlmsg_len - NLMSG_HDRLEN;
	bool is_fuzz = nh->nlmsg_seq == st->fuzz_seq;
	bool is_ping = nh->nlmsg_seq == st->ping_seq;
	char d[64];

	n_replies++;
	if (nh->nlmsg_pid != portid) {
		snprintf(d, sizeof(d), "%u", nh->nlmsg_pid);
		bad(nh, "nlmsg_pid %s is not ours", d);
		return;
	}
	if (!is_fuzz && !is_ping) {
		bad(nh, "%sunexpected sequence number", "");
		return;
	}
	if (is_fuzz && st->req->dropped) {
		bad(nh, "%sanswer to a request netlink should have dropped", "");
		return;
	}
	if (is_fuzz && st->fuzz_done) {
		bad(nh, "%smessage after the request's terminal message", "");
		return;
	}
	if (is_ping && st->ping_done) {
		bad(nh, "%smessage after the ping's ACK", "");
		return;
	}

	if (nh->nlmsg_type == NLMSG_ERROR) {
		struct nlmsgerr e;
		size_t echo = 0, tlv;

		if (plen < sizeof(e)) {
			bad(nh, "%sNLMSG_ERROR too short", "");
			return;
		}
		memcpy(&e, data, sizeof(e));
		if (e.error > 0 || e.error < -4095) {
			snprintf(d, sizeof(d), "%d", e.error);
			bad(nh, "NLMSG_ERROR with error %s", d);
			return;
		}
		if (e.msg.nlmsg_seq != nh->nlmsg_seq) {
			bad(nh, "%sNLMSG_ERROR echoes another request", "");
			return;
		}
		if (!(nh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e.msg.nlmsg_len < NLMSG_HDRLEN) {
				bad(nh, "%suncapped error echoes a bad length", "");
				return;
			}
			echo = e.msg.nlmsg_len - NLMSG_HDRLEN;
		}
		tlv = NLMSG_ALIGN(sizeof(e) + echo);
		if (tlv > plen + 3) {
			bad(nh, "%sNLMSG_ERROR shorter than its echoed request", "");
			return;
		}
		if ((nh->nlmsg_flags & NLM_F_ACK_TLVS) && tlv < plen &&
		    check_ext_ack(data + tlv, plen - tlv, e.msg.nlmsg_len)) {
			bad(nh, "%sbad extended-ack attributes", "");
			return;
		}
		if (is_ping) {
			if (e.error) {
				snprintf(d, sizeof(d), "%d", e.error);
				bad(nh, "ping failed: %s", d);
			} else if (!st->ping_reply) {
				bad(nh, "%sping ACK without the family reply", "");
			}
			st->ping_done = true;
			return;
		}
		if (!st->req->want_terminal && e.error == 0) {
			bad(nh, "%sACK to a request without NLM_F_ACK", "");
			return;
		}
		st->fuzz_done = true;
		st->fuzz_err = -e.error;
		return;
	}
	if (nh->nlmsg_type == NLMSG_DONE) {
		int err;

		if (is_ping || plen < sizeof(int)) {
			bad(nh, "%sbad NLMSG_DONE", "");
			return;
		}
		memcpy(&err, data, sizeof(err));
		if (err > 0 || err < -4095) {
			snprintf(d, sizeof(d), "%d", err);
			bad(nh, "NLMSG_DONE with error %s", d);
			return;
		}
		if ((nh->nlmsg_flags & NLM_F_ACK_TLVS) &&
		    check_ext_ack(data + NLMSG_ALIGN(sizeof(int)),
				  plen > NLMSG_ALIGN(sizeof(int)) ? plen - NLMSG_ALIGN(sizeof(int)) : 0,
				  0)) {
			bad(nh, "%sbad extended-ack attributes in NLMSG_DONE", "");
			return;
		}
		if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
			n_dumps_intr++;
		st->fuzz_done = true;
		st->fuzz_err = -err;
		return;
	}
	if (is_ping) {
		if (nh->nlmsg_type != GENL_ID_CTRL || plen < GENL_HDRLEN ||
		    walk_attrs(data + GENL_HDRLEN, plen - GENL_HDRLEN, 2, 0)) {
			bad(nh, "%sbad ping reply", "");
			return;
		}
		st->ping_reply = true;
		return;
	}
	if (nh->nlmsg_type != family) {
		bad(nh, "%sreply of another family", "");
		return;
	}
	if (plen < GENL_HDRLEN) {
		bad(nh, "%sfamily message shorter than the genl header", "");
		return;
	}
	{
		const struct genlmsghdr *gh = (const struct genlmsghdr *)data;

		if (gh->cmd == 0 || gh->cmd > DM_DIRTYLOG_CMD_MARK_DIRTY) {
			snprintf(d, sizeof(d), "%u", gh->cmd);
			bad(nh, "reply with command %s", d);
			return;
		}
		if (gh->version != DM_DIRTYLOG_GENL_VERSION) {
			snprintf(d, sizeof(d), "%u", gh->version);
			bad(nh, "reply with version %s", d);
			return;
		}
	}
	if (walk_attrs(data + GENL_HDRLEN, plen - GENL_HDRLEN, 0, 0)) {
		bad(nh, "%sreply attributes malformed", "");
		return;
	}
	if (nh->nlmsg_flags & NLM_F_DUMP_INTR)
		n_dumps_intr++;
	st->fuzz_msgs++;
}

/* Read until DONE_FN(st) is true; -1 on timeout or socket error. */
static int read_until(struct rstate *st, bool ping)
{
	while (ping ? !st->ping_done : !st->fuzz_done) {
		struct iovec iov = { rbuf, sizeof(rbuf) };
		struct sockaddr_nl sa;
		struct msghdr mh = { .msg_name = &sa, .msg_namelen = sizeof(sa),
				     .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &mh, 0);
		struct nlmsghdr *nh;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			printf("%s: %s waiting for %s (fuzz seq %u: %s)\n",
			       errno == EAGAIN ? "TIMEOUT" : "recv error",
			       strerror(errno), ping ? "the ping's ACK" : "the request's answer",
			       st->fuzz_seq, cur_what);
			n_bad++;
			return -1;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			bad(NULL, "%sreceive truncated", "");
			return -1;
		}
		if (sa.nl_pid != 0) {
			bad(NULL, "%sdatagram not from the kernel", "");
			continue;
		}
		for (nh = (struct nlmsghdr *)rbuf; n > 0; ) {
			if (!NLMSG_OK(nh, n)) {
				bad(nh, "%sbad nlmsghdr framing in a datagram", "");
				break;
			}
			check_msg(st, nh);
			nh = NLMSG_NEXT(nh, n);
		}
	}
	return 0;
}

static int resolve_family(void)
{
	uint32_t seq = seq_next++;
	ssize_t n;
	struct nlmsghdr *nh;

	if (send_ping(seq))
		return -1;
	/* Parse by hand: family is unknown yet so check_msg cannot be used. */
	while ((n = recv(fd, rbuf, sizeof(rbuf), 0)) > 0) {
		for (nh = (struct nlmsghdr *)rbuf; NLMSG_OK(nh, n); nh = NLMSG_NEXT(nh, n)) {
			if (nh->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(nh);

				if (e->error) {
					fprintf(stderr, "family %s: %s\n", DM_DIRTYLOG_GENL_NAME,
						strerror(-e->error));
					return -1;
				}
				return family ? 0 : -1;
			}
			if (nh->nlmsg_type == GENL_ID_CTRL) {
				unsigned char *p = (unsigned char *)NLMSG_DATA(nh) + GENL_HDRLEN;
				int len = (int)nh->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
				struct nlattr *a;

				for (a = (struct nlattr *)p; len >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN &&
				     a->nla_len <= len;
				     len -= NLA_ALIGN(a->nla_len),
				     a = (struct nlattr *)((unsigned char *)a + NLA_ALIGN(a->nla_len)))
					if ((a->nla_type & NLA_TYPE_MASK) == CTRL_ATTR_FAMILY_ID)
						memcpy(&family, (unsigned char *)a + NLA_HDRLEN, 2);
			}
		}
	}
	perror("resolve family");
	return -1;
}

static const char *describe(const struct req *r, char *buf, size_t len)
{
	snprintf(buf, len, "#%u cmd %u version %u flags %#x%s%s%s len %zu",
		 r->seq, r->cmd, r->version, r->flags,
		 (r->flags & NLM_F_ACK) ? " ack" : "",
		 (r->flags & NLM_F_DUMP) == NLM_F_DUMP ? " dump" : "",
		 r->dropped ? " (lying nlmsg_len: dropped)" : "", r->sent);
	return buf;
}

int main(int argc, char **argv)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	socklen_t salen = sizeof(sa);
	struct timeval tv = { .tv_sec = TIMEOUT_S };
	unsigned long count, i, seed;
	int one = 1, big = RCVBUF_SIZE, capack = 0, e;
	struct stat stb;
	char path[300], what[160];

	long uid = -1, gid = -1;

	while (argc > 2 && (!strcmp(argv[1], "--uid") || !strcmp(argv[1], "--gid"))) {
		if (!strcmp(argv[1], "--uid"))
			uid = strtol(argv[2], NULL, 10);
		else
			gid = strtol(argv[2], NULL, 10);
		argv += 2;
		argc -= 2;
	}
	if (argc != 4 || (gid >= 0 && uid < 0)) {
		fprintf(stderr, "usage: %s [--uid UID [--gid GID]] SEED COUNT DEVNAME\n",
			argv[0]);
		return 2;
	}
	if (uid >= 0) {
		if (gid < 0)
			gid = uid;
		/* Nothing is open yet: the socket is the unprivileged user's. */
		if (setgroups(0, NULL) || setgid((gid_t)gid) || setuid((uid_t)uid)) {
			perror("dropping privileges");
			return 1;
		}
		if (uid && (!setuid(0) || !geteuid())) {
			fprintf(stderr, "could get root back after dropping it\n");
			return 1;
		}
		unpriv = uid != 0;
	}
	if (getenv("DL_TIMEOUT_SCALE")) {
		long scale = strtol(getenv("DL_TIMEOUT_SCALE"), NULL, 10);

		if (scale > 1 && scale <= 100)
			tv.tv_sec *= scale;
	}
	seed = strtoul(argv[1], NULL, 0);
	count = strtoul(argv[2], NULL, 0);
	devname = argv[3];
	rng_state = seed * 0x9E3779B97F4A7C15ULL + 0x1234567;
	if (!rng_state)
		rng_state = 1;
	printf("dl_nlfuzz: seed %lu, %lu messages, device %s, uid %u%s\n", seed, count,
	       devname, (unsigned int)getuid(), unpriv ? " (unprivileged: all refused)" : "");

	snprintf(path, sizeof(path), "/dev/mapper/%s", devname);
	if (!stat(path, &stb) && S_ISBLK(stb.st_mode)) {
		dev_major = major(stb.st_rdev);
		dev_minor = minor(stb.st_rdev);
		have_devno = true;
	}

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen)) {
		perror("netlink socket");
		return 1;
	}
	portid = sa.nl_pid;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one))) {
		perror("setsockopt");
		return 1;
	}
	if (resolve_family())
		return 1;
	printf("dl_nlfuzz: family id %u, port %u\n", family, portid);

	for (i = 0; i < count; i++) {
		struct req r;
		struct rstate st = { 0 };

		if (i % 200 == 0) {		/* errors echo whole requests, or not */
			capack = chance(50);
			setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &capack, sizeof(capack));
		}
		last_ext_msg[0] = '\0';
		if (send_fuzz(&r))
			return 1;
		cur_what = describe(&r, what, sizeof(what));
		st.fuzz_seq = r.seq;
		st.req = &r;
		if (r.want_terminal && read_until(&st, false))
			break;
		st.ping_seq = seq_next++;
		if (send_ping(st.ping_seq) || read_until(&st, true))
			break;
		if (r.want_terminal && !st.fuzz_done) {
			n_bad++;
			printf("MISSING terminal message (%s)\n", cur_what);
		}
		/* An ACK of a message that is no request is netlink's, not ours. */
		if (unpriv && (r.flags & NLM_F_REQUEST) &&
		    (st.fuzz_msgs || (st.fuzz_done && !st.fuzz_err))) {
			n_bad++;
			printf("UNPRIVILEGED request answered (%u messages, error %d): %s\n",
			       st.fuzz_msgs, st.fuzz_err, cur_what);
		}
		if (r.clean && !r.dropped) {
			if (!st.fuzz_done || st.fuzz_err != EPERM) {
				n_bad++;
				printf("UNPRIVILEGED well-formed request %s (\"%s\"), not refused with EPERM: %s\n",
				       st.fuzz_done ? strerror(st.fuzz_err) : "unanswered",
				       last_ext_msg, cur_what);
			} else {
				n_eperm_clean++;
			}
		}
		if (r.dropped)
			n_dropped++;
		else if (st.fuzz_done && st.fuzz_err)
			errcount[st.fuzz_err < 4096 ? st.fuzz_err : 0]++;
		else if ((st.fuzz_done || st.fuzz_msgs) && !(r.flags & NLM_F_REQUEST))
			n_noreq++;
		else if (st.fuzz_done || st.fuzz_msgs)
			n_success++;
		else
			n_silent++;
		if (n_bad > 20) {
			printf("too many failures, stopping\n");
			break;
		}
	}

	printf("dl_nlfuzz: seed %lu: %lu of %lu requests sent\n", seed,
	       i < count ? i + 1 : count, count);
	printf("  successes: %lu (plus %lu answered by silence: no ACK asked)\n",
	       n_success, n_silent);
	printf("  not requests (no NLM_F_REQUEST), acknowledged by netlink itself: %lu\n",
	       n_noreq);
	printf("  dropped by netlink (lying nlmsg_len): %lu\n", n_dropped);
	for (e = 1; e < 4096; e++)
		if (errcount[e])
			printf("  error %d (%s): %lu\n", e, strerror(e), errcount[e]);
	printf("  messages received: %lu, interrupted dumps: %lu, extack messages: %lu\n",
	       n_replies, n_dumps_intr, n_ext_msgs);
	if (unpriv)
		printf("  well-formed requests refused with EPERM: %lu\n", n_eperm_clean);
	printf("  malformed replies or timeouts: %lu\n", n_bad);
	return n_bad || i < count ? 1 : 0;
}
