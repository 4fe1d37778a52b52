// SPDX-License-Identifier: GPL-2.0-only
/*
 * Client of the "dm-dirtylog" generic netlink family over libnl-genl-3.
 *
 * Every request is sent with NLM_F_ACK and read until its one terminal
 * message: the ACK of a do, the NLMSG_DONE of a dump, or an NLMSG_ERROR.
 * Replies are read even after a failure (a malformed reply, a callback
 * that gave up) so that the socket stays in step for the next request.
 *
 * libnl 3.7 (Debian 12) has no extended-ack support of its own: it hands
 * an NLMSG_ERROR's struct nlmsgerr to the error callback and ignores the
 * error code and TLVs of NLMSG_DONE.  Both are parsed here by
 * dl_nl_parse_ack().
 */
#include "dl-nl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/netlink.h>
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>

static void dl_nl_set_err(struct dl_nl *nl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void dl_nl_set_err(struct dl_nl *nl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nl->err, sizeof(nl->err), fmt, ap);
	va_end(ap);
}

/* The errno closest to a libnl error code (which is positive). */
static int dl_nl_errno(int nlerr)
{
	switch (nlerr < 0 ? -nlerr : nlerr) {
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_PERM:
		return EPERM;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_INTR:
		return EINTR;
	case NLE_BAD_SOCK:
		return EBADF;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	default:
		return EIO;
	}
}

/* Record a libnl failure: returns -errno, nl->err says what and why. */
static int dl_nl_lib_fail(struct dl_nl *nl, int nlerr, const char *what)
{
	dl_nl_set_err(nl, "%s: %s", what, nl_geterror(nlerr));
	return -dl_nl_errno(nlerr);
}

int dl_nl_open(struct dl_nl *nl)
{
	int one = 1, fd, r;

	memset(nl, 0, sizeof(*nl));
	nl->rxbuf = malloc(DL_NL_RECV_BUF);
	nl->sock = nl_socket_alloc();
	if (!nl->sock || !nl->rxbuf) {
		dl_nl_set_err(nl, "%s", strerror(ENOMEM));
		r = -ENOMEM;
		goto out_free_sock;
	}
	r = genl_connect(nl->sock);
	if (r < 0) {
		r = dl_nl_lib_fail(nl, r, "cannot open a generic netlink socket");
		goto out_free_sock;
	}
	/* Error messages from the kernel, without a copy of our request. */
	fd = nl_socket_get_fd(nl->sock);
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one))) {
		r = -errno;
		dl_nl_set_err(nl, "cannot turn on netlink extended acks: %s",
			      strerror(-r));
		goto out_free_sock;
	}
	/*
	 * The kernel sizes dump messages by the largest read so far, up to
	 * 32 KiB: read big from the start, so a dirty map comes in few
	 * messages.  No message is larger, so no peeking (it would read
	 * each message twice).
	 */
	nl_socket_disable_msg_peek(nl->sock);
	nl_socket_set_msg_buf_size(nl->sock, DL_NL_RECV_BUF);
	r = genl_ctrl_resolve(nl->sock, DM_DIRTYLOG_GENL_NAME);
	if (r == -NLE_OBJ_NOTFOUND) {
		dl_nl_set_err(nl, "%s", DL_NL_ENOMODULE_MSG);
		r = -DL_NL_ENOMODULE;
		goto out_free_sock;
	}
	if (r < 0) {
		r = dl_nl_lib_fail(nl, r, "cannot resolve the " DM_DIRTYLOG_GENL_NAME
				   " netlink family");
		goto out_free_sock;
	}
	nl->family = r;
	return 0;

out_free_sock:
	if (nl->sock)
		nl_socket_free(nl->sock);	/* also closes what genl_connect opened */
	nl->sock = NULL;
	free(nl->rxbuf);
	nl->rxbuf = NULL;
	return r;
}

void dl_nl_close(struct dl_nl *nl)
{
	if (nl->sock)
		nl_socket_free(nl->sock);
	nl->sock = NULL;
	free(nl->rxbuf);
	nl->rxbuf = NULL;
}

int dl_nl_sel_parse(const char *arg, bool uuid, struct dl_nl_sel *sel)
{
	const char *colon, *p;
	unsigned long long major = 0, minor = 0;
	bool devno;

	memset(sel, 0, sizeof(*sel));
	if (!arg || !*arg)
		return -EINVAL;
	if (uuid) {
		if (strlen(arg) >= DL_NL_DEV_UUID_LEN)
			return -EINVAL;
		sel->kind = DL_NL_SEL_UUID;
		sel->str = arg;
		return 0;
	}
	/* MAJOR:MINOR: one colon, decimal digits (at least one) either side. */
	colon = strchr(arg, ':');
	devno = colon && colon != arg && colon[1];
	for (p = arg; devno && *p; p++)
		if (p != colon && (*p < '0' || *p > '9'))
			devno = false;
	if (devno) {
		for (p = arg; p < colon; p++) {
			major = major * 10 + (unsigned int)(*p - '0');
			if (major > UINT32_MAX)
				return -EINVAL;
		}
		for (p = colon + 1; *p; p++) {
			minor = minor * 10 + (unsigned int)(*p - '0');
			if (minor > UINT32_MAX)
				return -EINVAL;
		}
		sel->kind = DL_NL_SEL_DEVNO;
		sel->major = (uint32_t)major;
		sel->minor = (uint32_t)minor;
		return 0;
	}
	if (strlen(arg) >= DL_NL_DEV_NAME_LEN)
		return -EINVAL;
	sel->kind = DL_NL_SEL_NAME;
	sel->str = arg;
	return 0;
}

/*
 * Parsers.
 */

int dl_nl_parse_ack(const struct nlmsghdr *nlh, size_t len, int *error,
		    char *msg, size_t msglen)
{
	const unsigned char *payload;
	size_t plen, off, alen;
	struct nlmsgerr e;
	int code;

	if (msg && msglen)
		msg[0] = '\0';
	if (len < NLMSG_HDRLEN || nlh->nlmsg_len < NLMSG_HDRLEN ||
	    nlh->nlmsg_len > len)
		return -EPROTO;
	payload = (const unsigned char *)nlh + NLMSG_HDRLEN;
	plen = nlh->nlmsg_len - NLMSG_HDRLEN;

	if (nlh->nlmsg_type == NLMSG_DONE) {
		/* An int error code (none from very old kernels), then TLVs. */
		if (plen < sizeof(code)) {
			*error = 0;
			return 0;
		}
		memcpy(&code, payload, sizeof(code));
		off = NLMSG_ALIGN(sizeof(code));
	} else if (nlh->nlmsg_type == NLMSG_ERROR) {
		if (plen < sizeof(e))
			return -EPROTO;
		memcpy(&e, payload, sizeof(e));
		code = e.error;
		/* The TLVs follow the echoed request, all of it unless capped. */
		off = sizeof(e);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e.msg.nlmsg_len < NLMSG_HDRLEN)
				off = plen + 1;		/* no sane TLVs */
			else
				off += e.msg.nlmsg_len - NLMSG_HDRLEN;
		}
		off = NLMSG_ALIGN(off);
	} else {
		return -EPROTO;
	}
	*error = code > 0 ? -code : code;

	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || !msg || !msglen)
		return 0;
	while (off + NLA_HDRLEN <= plen) {
		struct nlattr a;

		memcpy(&a, payload + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > plen - off)
			break;		/* malformed: ignore the rest */
		if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			const char *s = (const char *)payload + off + NLA_HDRLEN;

			alen = strnlen(s, a.nla_len - NLA_HDRLEN);
			if (alen >= msglen)
				alen = msglen - 1;
			memcpy(msg, s, alen);
			msg[alen] = '\0';
			break;
		}
		off += NLA_ALIGN(a.nla_len);
	}
	return 0;
}

/* Copy a string attribute into @dst of @size bytes: -EPROTO if it does not fit. */
static int dl_nl_copy_str(char *dst, size_t size, const struct nlattr *a)
{
	size_t n;

	dst[0] = '\0';
	if (!a)
		return 0;
	n = strnlen(nla_data(a), (size_t)nla_len(a));
	if (n >= size)
		return -EPROTO;
	memcpy(dst, nla_data(a), n);
	dst[n] = '\0';
	return 0;
}

static uint32_t dl_nl_u32(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u32(tb[type]) : 0;
}

static uint64_t dl_nl_u64(struct nlattr **tb, int type)
{
	return tb[type] ? nla_get_u64(tb[type]) : 0;
}

int dl_nl_parse_dev(struct nlattr **tb, struct dl_nl_dev *dev)
{
	memset(dev, 0, sizeof(*dev));
	if (!tb[DM_DIRTYLOG_A_DEV_NAME] || !tb[DM_DIRTYLOG_A_DEV_MAJOR] ||
	    !tb[DM_DIRTYLOG_A_DEV_MINOR] || !tb[DM_DIRTYLOG_A_BLOCK_SECTORS])
		return -EPROTO;
	if (dl_nl_copy_str(dev->name, sizeof(dev->name), tb[DM_DIRTYLOG_A_DEV_NAME]) ||
	    dl_nl_copy_str(dev->uuid, sizeof(dev->uuid), tb[DM_DIRTYLOG_A_DEV_UUID]) ||
	    dl_nl_copy_str(dev->instance_uuid, sizeof(dev->instance_uuid),
			   tb[DM_DIRTYLOG_A_INSTANCE_UUID]) ||
	    dl_nl_copy_str(dev->stray_ckpt, sizeof(dev->stray_ckpt),
			   tb[DM_DIRTYLOG_A_STRAY_CKPT]))
		return -EPROTO;
	if (!dev->name[0])
		return -EPROTO;
	dev->major = dl_nl_u32(tb, DM_DIRTYLOG_A_DEV_MAJOR);
	dev->minor = dl_nl_u32(tb, DM_DIRTYLOG_A_DEV_MINOR);
	dev->block_sectors = dl_nl_u32(tb, DM_DIRTYLOG_A_BLOCK_SECTORS);
	dev->nr_blocks = dl_nl_u64(tb, DM_DIRTYLOG_A_NR_BLOCKS);
	dev->size_sectors = dl_nl_u64(tb, DM_DIRTYLOG_A_SIZE_SECTORS);
	dev->state = dl_nl_u32(tb, DM_DIRTYLOG_A_STATE);
	dev->dirty_active = dl_nl_u64(tb, DM_DIRTYLOG_A_DIRTY_ACTIVE);
	dev->nr_checkpoints = dl_nl_u32(tb, DM_DIRTYLOG_A_NR_CHECKPOINTS);
	dev->latest_id = dl_nl_u64(tb, DM_DIRTYLOG_A_LATEST_ID);
	dev->meta_used = dl_nl_u64(tb, DM_DIRTYLOG_A_META_USED);
	dev->meta_total = dl_nl_u64(tb, DM_DIRTYLOG_A_META_TOTAL);
	dev->meta_commits = dl_nl_u64(tb, DM_DIRTYLOG_A_META_COMMITS);
	return 0;
}

static struct nla_policy dl_nl_ext_policy[DM_DIRTYLOG_A_EXT_MAX + 1] = {
	[DM_DIRTYLOG_A_EXT_START] = { .type = NLA_U64 },
	[DM_DIRTYLOG_A_EXT_COUNT] = { .type = NLA_U64 },
};

int dl_nl_parse_extent(const struct nlattr *nest, uint64_t *start,
		       uint64_t *count)
{
	struct nlattr *tb[DM_DIRTYLOG_A_EXT_MAX + 1];

	if (nla_parse_nested(tb, DM_DIRTYLOG_A_EXT_MAX, (struct nlattr *)nest,
			     dl_nl_ext_policy) < 0)
		return -EPROTO;
	if (!tb[DM_DIRTYLOG_A_EXT_START] || !tb[DM_DIRTYLOG_A_EXT_COUNT])
		return -EPROTO;
	*start = nla_get_u64(tb[DM_DIRTYLOG_A_EXT_START]);
	*count = nla_get_u64(tb[DM_DIRTYLOG_A_EXT_COUNT]);
	if (!*count || *start + *count < *start)
		return -EPROTO;
	return 0;
}

static struct nla_policy dl_nl_bm_policy[DM_DIRTYLOG_A_BM_MAX + 1] = {
	[DM_DIRTYLOG_A_BM_START]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_BM_DATA]		= { .type = NLA_UNSPEC },
};

int dl_nl_parse_bitmap(const struct nlattr *nest, uint64_t *start,
		       const uint8_t **bits, uint64_t *nbits)
{
	struct nlattr *tb[DM_DIRTYLOG_A_BM_MAX + 1];
	int len;

	if (nla_parse_nested(tb, DM_DIRTYLOG_A_BM_MAX, (struct nlattr *)nest,
			     dl_nl_bm_policy) < 0)
		return -EPROTO;
	if (!tb[DM_DIRTYLOG_A_BM_START] || !tb[DM_DIRTYLOG_A_BM_DATA])
		return -EPROTO;
	len = nla_len(tb[DM_DIRTYLOG_A_BM_DATA]);
	*start = nla_get_u64(tb[DM_DIRTYLOG_A_BM_START]);
	if (len <= 0 || len % 8 || *start % 64 ||
	    *start + (uint64_t)len * 8 < *start)
		return -EPROTO;
	*bits = nla_data(tb[DM_DIRTYLOG_A_BM_DATA]);
	*nbits = (uint64_t)len * 8;
	return 0;
}

/* The first well-formed DM_DIRTYLOG_A_DEV_NAME of an attribute stream. */
static const char *dl_nl_find_name(struct nlattr *head, int len)
{
	struct nlattr *a;
	int rem;

	nla_for_each_attr(a, head, len, rem)
		if (nla_type(a) == DM_DIRTYLOG_A_DEV_NAME && nla_len(a) > 0 &&
		    memchr(nla_data(a), '\0', (size_t)nla_len(a)))
			return nla_data(a);
	return NULL;
}

static int dl_nl_add_ids(struct nlattr *head, int len, bool top,
			 struct dl_nl_ckpt_id *ids, unsigned int max,
			 unsigned int *nr)
{
	const char *name = dl_nl_find_name(head, len);
	struct nlattr *a;
	int rem, r;

	nla_for_each_attr(a, head, len, rem) {
		if (nla_type(a) == DM_DIRTYLOG_A_CKPT_ID) {
			if (nla_len(a) < (int)sizeof(uint64_t) || *nr >= max)
				return -EPROTO;
			ids[*nr].id = nla_get_u64(a);
			ids[*nr].dev_name[0] = '\0';
			if (name && strlen(name) < sizeof(ids[*nr].dev_name))
				strcpy(ids[*nr].dev_name, name);
			(*nr)++;
		} else if (top && nla_type(a) == DM_DIRTYLOG_A_DEVICE) {
			r = dl_nl_add_ids(nla_data(a), nla_len(a), false, ids,
					  max, nr);
			if (r)
				return r;
		}
	}
	return 0;
}

int dl_nl_parse_ckpt_ids(struct nlmsghdr *nlh, struct dl_nl_ckpt_id *ids,
			 unsigned int max, unsigned int *nr)
{
	struct genlmsghdr *ghdr;

	if (!genlmsg_valid_hdr(nlh, 0))
		return -EPROTO;
	ghdr = nlmsg_data(nlh);
	return dl_nl_add_ids(genlmsg_attrdata(ghdr, 0), genlmsg_attrlen(ghdr, 0),
			     true, ids, max, nr);
}

/*
 * Requests.
 */

static struct nla_policy dl_nl_policy[DM_DIRTYLOG_A_MAX + 1] = {
	[DM_DIRTYLOG_A_DEV_NAME]	= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_DEV_UUID]	= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_DEV_MAJOR]	= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_DEV_MINOR]	= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_BLOCK_SECTORS]	= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_NR_BLOCKS]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_SIZE_SECTORS]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_STATE]		= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_DIRTY_ACTIVE]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_NR_CHECKPOINTS]	= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_LATEST_ID]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_META_USED]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_META_COMMITS]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_META_TOTAL]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_INSTANCE_UUID]	= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_CKPT_NAME]	= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_CKPT_ID]		= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_CKPT_CTIME]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_SINCE]		= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_UNTIL]		= { .type = NLA_STRING },
	[DM_DIRTYLOG_A_EXTENT]		= { .type = NLA_NESTED },
	[DM_DIRTYLOG_A_GENERATION]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_DEVICE]		= { .type = NLA_NESTED },
	[DM_DIRTYLOG_A_MARK_START]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_MARK_COUNT]	= { .type = NLA_U64 },
	[DM_DIRTYLOG_A_BITMAP]		= { .type = NLA_NESTED },
	[DM_DIRTYLOG_A_DUMP_FORMAT]	= { .type = NLA_U32 },
	[DM_DIRTYLOG_A_STRAY_CKPT]	= { .type = NLA_STRING },
};

struct dl_nl_req;

/* Handles one reply message of the family, attributes parsed into @tb. */
typedef int (*dl_nl_parse_fn)(struct dl_nl_req *req, struct nlmsghdr *nlh,
			      struct nlattr **tb);

struct dl_nl_req {
	struct dl_nl *nl;
	dl_nl_parse_fn parse;
	void *priv;
	bool check_gen;		/* a generation change interrupts the dump */
	/* per attempt: */
	int error;		/* first failure, -errno; nl->err says why */
	bool done;		/* the terminal message arrived */
	bool intr;		/* dump interrupted: discard, start again */
	bool have_gen;
	uint64_t gen;
};

/*
 * Record the first failure of a request: @msg, or when NULL what nl->err
 * already says (a parse callback sets it), or else strerror.
 */
static void dl_nl_req_fail(struct dl_nl_req *req, int error, const char *msg)
{
	if (req->error)
		return;
	req->error = error < 0 ? error : -EPROTO;
	if (msg)
		dl_nl_set_err(req->nl, "%s", msg);
	else if (!req->nl->err[0])
		dl_nl_set_err(req->nl, "%s", strerror(-req->error));
}

/* A message of the family answering the request. */
static void dl_nl_reply(struct dl_nl_req *req, struct nlmsghdr *nlh)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	uint64_t gen;
	int r;

	if (req->error || req->intr)
		return;
	if (genlmsg_parse(nlh, 0, tb, DM_DIRTYLOG_A_MAX, dl_nl_policy) < 0) {
		dl_nl_req_fail(req, -EPROTO, "malformed reply from the kernel");
		return;
	}
	if (req->check_gen && tb[DM_DIRTYLOG_A_GENERATION]) {
		gen = nla_get_u64(tb[DM_DIRTYLOG_A_GENERATION]);
		if (req->have_gen && gen != req->gen) {
			req->intr = true;
			return;
		}
		req->have_gen = true;
		req->gen = gen;
	}
	r = req->parse(req, nlh, tb);
	if (r)
		dl_nl_req_fail(req, r, NULL);
}

/* The kernel's answer to the request: record its error, if any. */
static void dl_nl_req_answer(struct dl_nl_req *req, struct nlmsghdr *nlh)
{
	char text[sizeof(req->nl->err)];
	int error;

	req->done = true;
	if (dl_nl_parse_ack(nlh, nlh->nlmsg_len, &error, text, sizeof(text))) {
		dl_nl_req_fail(req, -EPROTO, "malformed error message from the kernel");
		return;
	}
	if (!error)
		return;
	/* The reason is the kernel's own message when it gave one. */
	if (!text[0])
		snprintf(text, sizeof(text), "%s", strerror(-error));
	dl_nl_req_fail(req, error, text);
}

/*
 * Handle the messages of one read (@len bytes) that answer request @seq.
 * Messages of other sequence numbers are left over from an earlier
 * request that failed half way: skipped.
 */
static void dl_nl_handle(struct dl_nl_req *req, void *buf, size_t len,
			 uint32_t seq)
{
	struct nlmsghdr *nlh = buf;
	int rem = (int)len;

	for (; nlmsg_ok(nlh, rem); nlh = nlmsg_next(nlh, &rem)) {
		if (nlh->nlmsg_seq != seq || req->done)
			continue;
		if (nlh->nlmsg_flags & NLM_F_DUMP_INTR)
			req->intr = true;	/* read on up to NLMSG_DONE */
		switch (nlh->nlmsg_type) {
		case NLMSG_DONE:
		case NLMSG_ERROR:
			dl_nl_req_answer(req, nlh);
			break;
		case NLMSG_NOOP:
		case NLMSG_OVERRUN:
			break;
		default:
			if (nlh->nlmsg_type == req->nl->family)
				dl_nl_reply(req, nlh);
		}
	}
	if (rem && !req->done)
		dl_nl_req_fail(req, -EPROTO, "truncated message from the kernel");
}

/*
 * Send @msg and read every answer to it into @req.  Reads go straight into
 * one buffer kept with the socket (libnl's receive path would allocate and
 * copy every message).
 */
static int dl_nl_run(struct dl_nl_req *req, struct nl_msg *msg)
{
	struct dl_nl *nl = req->nl;
	struct iovec iov = { .iov_base = nl->rxbuf, .iov_len = DL_NL_RECV_BUF };
	struct sockaddr_nl from;
	struct msghdr mh = {
		.msg_name = &from, .msg_namelen = sizeof(from),
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	int fd = nl_socket_get_fd(nl->sock);
	uint32_t seq;
	ssize_t n;
	int r;

	req->error = 0;
	req->done = req->intr = req->have_gen = false;
	/* A resent message gets a fresh sequence number. */
	nlmsg_hdr(msg)->nlmsg_seq = NL_AUTO_SEQ;
	r = nl_send_auto(nl->sock, msg);
	if (r < 0)
		return dl_nl_lib_fail(nl, r, "cannot send the request");
	seq = nlmsg_hdr(msg)->nlmsg_seq;
	while (!req->done) {
		mh.msg_namelen = sizeof(from);
		n = recvmsg(fd, &mh, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n ? -errno : -EPIPE;
			if (n)
				dl_nl_set_err(nl, "cannot read the answer: %s", strerror(errno));
			else
				dl_nl_set_err(nl, "the kernel closed the netlink socket");
			req->error = r;
			break;
		}
		if (mh.msg_flags & MSG_TRUNC) {
			dl_nl_req_fail(req, -EMSGSIZE, "a message from the kernel did not fit the buffer");
			break;
		}
		if (from.nl_pid != 0)
			continue;	/* only the kernel talks to us */
		nl->rx_bytes += (uint64_t)n;
		dl_nl_handle(req, nl->rxbuf, (size_t)n, seq);
	}
	return req->error;
}

/*
 * Run a dump, restarting it when it is interrupted.  @msg is the request,
 * freed by the caller.
 */
static int dl_nl_run_dump(struct dl_nl_req *req, struct nl_msg *msg,
			  void (*reset)(struct dl_nl_req *req),
			  void (*restart)(void *arg), void *arg,
			  unsigned int *restarts)
{
	int r;

	for (unsigned int attempt = 0;; attempt++) {
		if (reset)
			reset(req);
		r = dl_nl_run(req, msg);
		if (r || !req->intr)
			return r;
		if (attempt == DL_NL_DUMP_RESTARTS) {
			dl_nl_set_err(req->nl,
				      "the device kept changing during the query (%u attempts); try again",
				      attempt + 1);
			return -EAGAIN;
		}
		if (restart)
			restart(arg);
		if (restarts)
			(*restarts)++;
	}
}

/* A request of up to @size bytes (0: libnl's default, a page). */
static struct nl_msg *dl_nl_msg_sized(struct dl_nl *nl, uint8_t cmd, int flags,
				      size_t size)
{
	struct nl_msg *msg = size ? nlmsg_alloc_size(size) : nlmsg_alloc();

	if (!msg)
		goto fail;
	if (!genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, nl->family, 0, flags,
			 cmd, DM_DIRTYLOG_GENL_VERSION)) {
		nlmsg_free(msg);
		goto fail;
	}
	return msg;
fail:
	dl_nl_set_err(nl, "%s", strerror(ENOMEM));
	return NULL;
}

static struct nl_msg *dl_nl_msg(struct dl_nl *nl, uint8_t cmd, int flags)
{
	return dl_nl_msg_sized(nl, cmd, flags, 0);
}

static int dl_nl_put_sel(struct nl_msg *msg, const struct dl_nl_sel *sel)
{
	switch (sel->kind) {
	case DL_NL_SEL_NAME:
		return nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, sel->str);
	case DL_NL_SEL_UUID:
		return nla_put_string(msg, DM_DIRTYLOG_A_DEV_UUID, sel->str);
	case DL_NL_SEL_DEVNO:
		if (nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MAJOR, sel->major))
			return -1;
		return nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MINOR, sel->minor);
	}
	return -1;
}

/*
 * A request for one device, with an optional string attribute.  Returns 0
 * and the message in *@msgp, or -errno with nl->err set.
 */
static int dl_nl_dev_msg(struct dl_nl *nl, uint8_t cmd, int flags,
			 const struct dl_nl_sel *sel, int str_type,
			 const char *str, struct nl_msg **msgp)
{
	struct nl_msg *msg = dl_nl_msg(nl, cmd, flags);

	*msgp = NULL;
	if (!msg)
		return -ENOMEM;
	if (dl_nl_put_sel(msg, sel) ||
	    (str && nla_put_string(msg, str_type, str))) {
		nlmsg_free(msg);
		dl_nl_set_err(nl, "request too large");
		return -EMSGSIZE;
	}
	*msgp = msg;
	return 0;
}

/* Requests without a reply payload: just the ACK. */
static int dl_nl_parse_none(struct dl_nl_req *req, struct nlmsghdr *nlh,
			    struct nlattr **tb)
{
	(void)req;
	(void)nlh;
	(void)tb;
	return 0;
}

/* Run a request answered by an ACK alone, then free it. */
static int dl_nl_simple(struct dl_nl *nl, struct nl_msg *msg)
{
	struct dl_nl_req req = { .nl = nl, .parse = dl_nl_parse_none };
	int r;

	r = dl_nl_run(&req, msg);
	nlmsg_free(msg);
	return r;
}

/* DEV_GET */

struct dl_nl_dev_req {
	struct dl_nl_dev *dev;		/* do: the answer */
	bool got;
	int (*fn)(const struct dl_nl_dev *dev, void *arg);	/* dump */
	void *arg;
};

static int dl_nl_parse_dev_msg(struct dl_nl_req *req, struct nlmsghdr *nlh,
			       struct nlattr **tb)
{
	struct dl_nl_dev_req *d = req->priv;
	struct dl_nl_dev dev;
	int r;

	(void)nlh;
	if (dl_nl_parse_dev(tb, &dev)) {
		dl_nl_set_err(req->nl, "malformed device description from the kernel");
		return -EPROTO;
	}
	if (d->fn) {
		r = d->fn(&dev, d->arg);
		if (r && !req->nl->err[0])
			dl_nl_set_err(req->nl, "%s", strerror(r < 0 ? -r : r));
		return r;
	}
	if (d->got) {
		dl_nl_set_err(req->nl, "the kernel described more than one device");
		return -EPROTO;
	}
	*d->dev = dev;
	d->got = true;
	return 0;
}

int dl_nl_dev_get(struct dl_nl *nl, const struct dl_nl_sel *sel,
		  struct dl_nl_dev *dev)
{
	struct dl_nl_dev_req d = { .dev = dev };
	struct dl_nl_req req = {
		.nl = nl, .parse = dl_nl_parse_dev_msg, .priv = &d,
	};
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_DEV_GET, 0, sel, 0, NULL, &msg);
	if (r)
		return r;
	r = dl_nl_run(&req, msg);
	nlmsg_free(msg);
	if (!r && !d.got) {
		dl_nl_set_err(nl, "the kernel sent no device description");
		r = -EPROTO;
	}
	return r;
}

int dl_nl_dev_dump(struct dl_nl *nl,
		   int (*fn)(const struct dl_nl_dev *dev, void *arg),
		   void (*restart)(void *arg), void *arg, unsigned int *restarts)
{
	struct dl_nl_dev_req d = { .fn = fn, .arg = arg };
	struct dl_nl_req req = {
		.nl = nl, .parse = dl_nl_parse_dev_msg, .priv = &d,
	};
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	msg = dl_nl_msg(nl, DM_DIRTYLOG_CMD_DEV_GET, NLM_F_DUMP);
	if (!msg)
		return -ENOMEM;
	r = dl_nl_run_dump(&req, msg, NULL, restart, arg, restarts);
	nlmsg_free(msg);
	return r;
}

/* CKPT_NEW */

struct dl_nl_ids_req {
	struct dl_nl_ckpt_id *ids;
	unsigned int max, nr;
};

static int dl_nl_parse_ids_msg(struct dl_nl_req *req, struct nlmsghdr *nlh,
			       struct nlattr **tb)
{
	struct dl_nl_ids_req *d = req->priv;

	(void)tb;
	if (dl_nl_parse_ckpt_ids(nlh, d->ids, d->max, &d->nr)) {
		dl_nl_set_err(req->nl, "malformed checkpoint ids from the kernel");
		return -EPROTO;
	}
	return 0;
}

int dl_nl_ckpt_new(struct dl_nl *nl, const struct dl_nl_sel *sels,
		   unsigned int n, const char *name, struct dl_nl_ckpt_id *ids,
		   unsigned int *nr_ids)
{
	struct dl_nl_ids_req d = { .ids = ids, .max = n };
	struct dl_nl_req req = {
		.nl = nl, .parse = dl_nl_parse_ids_msg, .priv = &d,
	};
	struct nl_msg *msg;
	struct nlattr *nest;
	int r;

	nl->err[0] = '\0';
	*nr_ids = 0;
	if (!n) {
		dl_nl_set_err(nl, "no device");
		return -EINVAL;
	}
	msg = dl_nl_msg(nl, DM_DIRTYLOG_CMD_CKPT_NEW, 0);
	if (!msg)
		return -ENOMEM;
	r = nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, name);
	if (n == 1) {
		r = r ? r : dl_nl_put_sel(msg, &sels[0]);
	} else {
		for (unsigned int i = 0; !r && i < n; i++) {
			nest = nla_nest_start(msg, DM_DIRTYLOG_A_DEVICE);
			if (!nest || dl_nl_put_sel(msg, &sels[i]))
				r = -1;
			else
				r = nla_nest_end(msg, nest);
		}
	}
	if (r) {
		nlmsg_free(msg);
		dl_nl_set_err(nl, "request too large");
		return -EMSGSIZE;
	}
	r = dl_nl_run(&req, msg);
	nlmsg_free(msg);
	if (!r && !d.nr) {
		dl_nl_set_err(nl, "the kernel sent no checkpoint id");
		r = -EPROTO;
	}
	*nr_ids = d.nr;
	return r;
}

int dl_nl_ckpt_del(struct dl_nl *nl, const struct dl_nl_sel *sel,
		   const char *name)
{
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_CKPT_DEL, 0, sel,
			  DM_DIRTYLOG_A_CKPT_NAME, name, &msg);
	return r ? r : dl_nl_simple(nl, msg);
}

/* CKPT_GET dump */

struct dl_nl_ckpt_req {
	int (*fn)(const char *name, uint64_t id, uint64_t ctime_ns, void *arg);
	void *arg;
};

static int dl_nl_parse_ckpt_msg(struct dl_nl_req *req, struct nlmsghdr *nlh,
				struct nlattr **tb)
{
	struct dl_nl_ckpt_req *d = req->priv;
	char name[DL_NL_CKPT_NAME_LEN];
	int r;

	(void)nlh;
	if (!tb[DM_DIRTYLOG_A_CKPT_NAME] || !tb[DM_DIRTYLOG_A_CKPT_ID] ||
	    dl_nl_copy_str(name, sizeof(name), tb[DM_DIRTYLOG_A_CKPT_NAME])) {
		dl_nl_set_err(req->nl, "malformed checkpoint from the kernel");
		return -EPROTO;
	}
	r = d->fn(name, nla_get_u64(tb[DM_DIRTYLOG_A_CKPT_ID]),
		  dl_nl_u64(tb, DM_DIRTYLOG_A_CKPT_CTIME), d->arg);
	if (r && !req->nl->err[0])
		dl_nl_set_err(req->nl, "%s", strerror(r < 0 ? -r : r));
	return r;
}

int dl_nl_ckpt_dump(struct dl_nl *nl, const struct dl_nl_sel *sel,
		    int (*fn)(const char *name, uint64_t id, uint64_t ctime_ns,
			      void *arg),
		    void (*restart)(void *arg), void *arg,
		    unsigned int *restarts)
{
	struct dl_nl_ckpt_req d = { .fn = fn, .arg = arg };
	struct dl_nl_req req = {
		.nl = nl, .parse = dl_nl_parse_ckpt_msg, .priv = &d,
		.check_gen = true,
	};
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_CKPT_GET, NLM_F_DUMP, sel, 0,
			  NULL, &msg);
	if (r)
		return r;
	r = dl_nl_run_dump(&req, msg, NULL, restart, arg, restarts);
	nlmsg_free(msg);
	return r;
}

int dl_nl_reset(struct dl_nl *nl, const struct dl_nl_sel *sel)
{
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_RESET, 0, sel, 0, NULL, &msg);
	return r ? r : dl_nl_simple(nl, msg);
}

int dl_nl_mark_dirty(struct dl_nl *nl, const struct dl_nl_sel *sel,
		     uint64_t start, uint64_t count)
{
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_MARK_DIRTY, 0, sel, 0, NULL, &msg);
	if (r)
		return r;
	if (nla_put_u64(msg, DM_DIRTYLOG_A_MARK_START, start) ||
	    nla_put_u64(msg, DM_DIRTYLOG_A_MARK_COUNT, count)) {
		nlmsg_free(msg);
		dl_nl_set_err(nl, "request too large");
		return -EMSGSIZE;
	}
	return dl_nl_simple(nl, msg);
}

/* DIRTY_GET dump */

struct dl_nl_dirty_req {
	struct dl_nl_dirty_opts *o;
	bool have_prev;
	uint64_t prev_end;	/* end of the last item received */
	uint64_t run_start;	/* extent not given to o->extent yet */
	uint64_t run_count;
};

static void dl_nl_dirty_reset(struct dl_nl_req *req)
{
	struct dl_nl_dirty_req *d = req->priv;

	d->have_prev = false;
	d->prev_end = 0;
	d->run_count = 0;
}

/* Give the pending extent to the caller. */
static int dl_nl_dirty_flush(struct dl_nl_dirty_req *d)
{
	uint64_t count = d->run_count;

	if (!count)
		return 0;
	d->run_count = 0;
	return d->o->extent(d->run_start, count, d->o->arg);
}

/* Add an extent, joined to the pending one when they touch. */
static int dl_nl_dirty_add(struct dl_nl_dirty_req *d, uint64_t start,
			   uint64_t count)
{
	int r;

	if (d->run_count && d->run_start + d->run_count == start) {
		d->run_count += count;
		return 0;
	}
	r = dl_nl_dirty_flush(d);
	d->run_start = start;
	d->run_count = count;
	return r;
}

#define DL_BIT(bits, i)	((bits)[(i) / 8] >> ((i) % 8) & 1)

/* The runs of set bits of a little-endian bitmap chunk, as extents. */
static int dl_nl_dirty_chunk_runs(struct dl_nl_dirty_req *d, uint64_t start,
				  const uint8_t *bits, uint64_t nbits)
{
	uint64_t i = 0, e;
	int r;

	while (i < nbits) {
		if (!(i % 8) && i + 8 <= nbits && !bits[i / 8]) {
			i += 8;
			continue;
		}
		if (!DL_BIT(bits, i)) {
			i++;
			continue;
		}
		for (e = i + 1; e < nbits;) {
			if (!(e % 8) && e + 8 <= nbits && bits[e / 8] == 0xff)
				e += 8;
			else if (DL_BIT(bits, e))
				e++;
			else
				break;
		}
		r = dl_nl_dirty_add(d, start + i, e - i);
		if (r)
			return r;
		i = e;
	}
	return 0;
}

static int dl_nl_dirty_item(struct dl_nl_req *req, uint64_t start,
			    uint64_t count)
{
	struct dl_nl_dirty_req *d = req->priv;

	if (d->have_prev && start < d->prev_end) {
		dl_nl_set_err(req->nl,
			      "the kernel sent extents out of order (%llu after %llu)",
			      (unsigned long long)start,
			      (unsigned long long)d->prev_end);
		return -EPROTO;
	}
	d->have_prev = true;
	d->prev_end = start + count;
	return 0;
}

static int dl_nl_parse_dirty_msg(struct dl_nl_req *req, struct nlmsghdr *nlh,
				 struct nlattr **tb)
{
	struct dl_nl_dirty_req *d = req->priv;
	struct genlmsghdr *ghdr = nlmsg_data(nlh);
	uint64_t start, count;
	const uint8_t *bits;
	struct nlattr *a;
	int rem, r = 0;

	(void)tb;
	nla_for_each_attr(a, genlmsg_attrdata(ghdr, 0), genlmsg_attrlen(ghdr, 0),
			  rem) {
		if (nla_type(a) == DM_DIRTYLOG_A_EXTENT) {
			if (dl_nl_parse_extent(a, &start, &count)) {
				dl_nl_set_err(req->nl, "malformed extent from the kernel");
				return -EPROTO;
			}
			r = dl_nl_dirty_item(req, start, count);
			if (!r)
				r = dl_nl_dirty_add(d, start, count);
		} else if (nla_type(a) == DM_DIRTYLOG_A_BITMAP) {
			if (dl_nl_parse_bitmap(a, &start, &bits, &count)) {
				dl_nl_set_err(req->nl, "malformed bitmap from the kernel");
				return -EPROTO;
			}
			r = dl_nl_dirty_item(req, start, count);
			if (r)
				return r;
			d->o->bytes_bitmap += count / 8;
			if (d->o->chunk) {
				r = dl_nl_dirty_flush(d);
				if (!r)
					r = d->o->chunk(start, bits, count, d->o->arg);
			} else {
				r = dl_nl_dirty_chunk_runs(d, start, bits, count);
			}
		} else {
			continue;
		}
		if (r) {
			if (!req->nl->err[0])
				dl_nl_set_err(req->nl, "%s", strerror(r < 0 ? -r : r));
			return r;
		}
	}
	return 0;
}

int dl_nl_dirty_fetch(struct dl_nl *nl, const struct dl_nl_sel *sel,
		      const char *since, const char *until,
		      struct dl_nl_dirty_opts *o)
{
	struct dl_nl_dirty_req d = { .o = o };
	struct dl_nl_req req = {
		.nl = nl, .parse = dl_nl_parse_dirty_msg, .priv = &d,
		.check_gen = true,
	};
	uint64_t rx = nl->rx_bytes;
	struct nl_msg *msg;
	int r;

	nl->err[0] = '\0';
	o->bytes = o->bytes_bitmap = 0;
	r = dl_nl_dev_msg(nl, DM_DIRTYLOG_CMD_DIRTY_GET, NLM_F_DUMP, sel,
			  DM_DIRTYLOG_A_SINCE, since, &msg);
	if (r)
		return r;
	if ((until && nla_put_string(msg, DM_DIRTYLOG_A_UNTIL, until)) ||
	    nla_put_u32(msg, DM_DIRTYLOG_A_DUMP_FORMAT, o->format)) {
		nlmsg_free(msg);
		dl_nl_set_err(nl, "request too large");
		return -EMSGSIZE;
	}
	r = dl_nl_run_dump(&req, msg, dl_nl_dirty_reset, o->restart, o->arg,
			   &o->restarts);
	nlmsg_free(msg);
	if (!r) {
		r = dl_nl_dirty_flush(&d);
		if (r && !nl->err[0])
			dl_nl_set_err(nl, "%s", strerror(r < 0 ? -r : r));
	}
	o->bytes = nl->rx_bytes - rx;
	return r;
}

int dl_nl_dirty_dump(struct dl_nl *nl, const struct dl_nl_sel *sel,
		     const char *since, const char *until,
		     int (*fn)(uint64_t start, uint64_t count, void *arg),
		     void (*restart)(void *arg), void *arg,
		     unsigned int *restarts)
{
	struct dl_nl_dirty_opts o = {
		.format = DM_DIRTYLOG_DUMP_AUTO, .extent = fn,
		.restart = restart, .arg = arg,
	};
	int r = dl_nl_dirty_fetch(nl, sel, since, until, &o);

	if (restarts)
		*restarts += o.restarts;
	return r;
}

/* MARK_DIRTY with bitmap chunks */

int dl_nl_mark_bitmap(struct dl_nl *nl, const struct dl_nl_sel *sel,
		      uint64_t start, const uint8_t *bits, uint64_t nbits)
{
	uint64_t step = (uint64_t)DM_DIRTYLOG_MARK_BITMAP_MAX * 8, n, w, i;
	uint8_t *buf;
	struct nl_msg *msg;
	struct nlattr *nest;
	int r = 0;

	nl->err[0] = '\0';
	if (start % 64) {
		dl_nl_set_err(nl, "bitmap start %llu is not a multiple of 64",
			      (unsigned long long)start);
		return -EINVAL;
	}
	buf = malloc(DM_DIRTYLOG_MARK_BITMAP_MAX);
	if (!buf) {
		dl_nl_set_err(nl, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	for (uint64_t off = 0; off < nbits && !r; off += n) {
		n = nbits - off < step ? nbits - off : step;
		w = (n + 63) / 64;
		/* Whole words; bits past @nbits are sent clear. */
		memset(buf, 0, w * 8);
		memcpy(buf, bits + off / 8, (n + 7) / 8);
		if (n % 8)
			buf[n / 8] &= (uint8_t)((1u << (n % 8)) - 1);
		for (i = 0; i < w * 8 && !buf[i]; i++)
			;
		if (i == w * 8)
			continue;	/* nothing set in this piece */
		msg = dl_nl_msg_sized(nl, DM_DIRTYLOG_CMD_MARK_DIRTY, 0,
				      DM_DIRTYLOG_MARK_BITMAP_MAX + 4096);
		if (!msg) {
			r = -ENOMEM;
			break;
		}
		if (dl_nl_put_sel(msg, sel)) {
			nlmsg_free(msg);
			dl_nl_set_err(nl, "request too large");
			r = -EMSGSIZE;
			break;
		}
		nest = nla_nest_start(msg, DM_DIRTYLOG_A_BITMAP);
		if (!nest || nla_put_u64(msg, DM_DIRTYLOG_A_BM_START, start + off) ||
		    nla_put(msg, DM_DIRTYLOG_A_BM_DATA, (int)(w * 8), buf)) {
			nlmsg_free(msg);
			dl_nl_set_err(nl, "request too large");
			r = -EMSGSIZE;
			break;
		}
		nla_nest_end(msg, nest);
		r = dl_nl_simple(nl, msg);
	}
	free(buf);
	return r;
}

/* Events */

int dl_nl_parse_event(struct nlmsghdr *nlh, struct dl_nl_event *ev)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct genlmsghdr *ghdr = nlmsg_data(nlh);
	struct nlattr *a;

	memset(ev, 0, sizeof(*ev));
	if (genlmsg_parse(nlh, 0, tb, DM_DIRTYLOG_A_MAX, dl_nl_policy) < 0)
		return -EPROTO;
	ev->cmd = ghdr->cmd;
	if (ev->cmd < DM_DIRTYLOG_CMD_CKPT_CREATED_NTF ||
	    ev->cmd > DM_DIRTYLOG_CMD_RESIZE_NTF)
		return -EPROTO;
	if (dl_nl_parse_dev(tb, &ev->dev))
		return -EPROTO;
	a = tb[DM_DIRTYLOG_A_CKPT_NAME];
	if (a) {
		if (nla_len(a) < 1 || (size_t)nla_len(a) > sizeof(ev->ckpt) ||
		    !memchr(nla_data(a), '\0', (size_t)nla_len(a)))
			return -EPROTO;
		memcpy(ev->ckpt, nla_data(a), (size_t)nla_len(a));
	}
	if (tb[DM_DIRTYLOG_A_CKPT_ID])
		ev->id = nla_get_u64(tb[DM_DIRTYLOG_A_CKPT_ID]);
	return 0;
}

struct dl_nl_mon {
	struct dl_nl *nl;
	int (*fn)(const struct dl_nl_event *ev, void *arg);
	void *arg;
	int stop;		/* what @fn returned, or -EPROTO */
};

static int dl_nl_mon_cb(struct nl_msg *msg, void *arg)
{
	struct dl_nl_mon *m = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct dl_nl_event ev;

	if (nlh->nlmsg_type != m->nl->family)
		return NL_SKIP;
	if (dl_nl_parse_event(nlh, &ev)) {
		dl_nl_set_err(m->nl, "malformed event from the kernel");
		m->stop = -EPROTO;
		return NL_STOP;
	}
	m->stop = m->fn(&ev, m->arg);
	return m->stop ? NL_STOP : NL_OK;
}

static int dl_nl_mon_seq_ok(struct nl_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
	return NL_OK;
}

int dl_nl_monitor(struct dl_nl *nl,
		  int (*fn)(const struct dl_nl_event *ev, void *arg),
		  void (*lost)(void *arg), void *arg)
{
	struct dl_nl_mon m = { .nl = nl, .fn = fn, .arg = arg };
	struct nl_cb *cb;
	int grp, r;

	nl->err[0] = '\0';
	grp = genl_ctrl_resolve_grp(nl->sock, DM_DIRTYLOG_GENL_NAME,
				    DM_DIRTYLOG_MCGRP_EVENTS);
	if (grp < 0)
		return dl_nl_lib_fail(nl, grp, "cannot find the events group");
	r = nl_socket_add_membership(nl->sock, grp);
	if (r < 0)
		return dl_nl_lib_fail(nl, r, "cannot join the events group");
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!cb) {
		dl_nl_set_err(nl, "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* Notifications carry no sequence number of ours. */
	nl_cb_set(cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, dl_nl_mon_seq_ok, NULL);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, dl_nl_mon_cb, &m);
	for (;;) {
		r = nl_recvmsgs_report(nl->sock, cb);
		if (m.stop) {
			r = m.stop;
			break;
		}
		if (r == -NLE_NOMEM && lost) {
			/* ENOBUFS: the socket overflowed and events were dropped. */
			lost(arg);
			continue;
		}
		if (r < 0) {
			r = dl_nl_lib_fail(nl, r, "cannot read events");
			break;
		}
		if (r == 0) {
			dl_nl_set_err(nl, "the kernel closed the netlink socket");
			r = -EPIPE;
			break;
		}
	}
	nl_cb_put(cb);
	return r;
}
