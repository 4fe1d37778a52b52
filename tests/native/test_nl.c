// SPDX-License-Identifier: GPL-2.0-only
/*
 * The netlink client's parsers, without a kernel: error messages and their
 * extended-ack text are read from NLMSG_ERROR / NLMSG_DONE buffers laid
 * out here byte by byte as the kernel's netlink_ack() and
 * netlink_dump_done() build them; replies are built with libnl's
 * attribute writers from values chosen here.  Device selectors are
 * checked against a table of expected parses.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include "kselftest_harness.h"

#include "dl-nl.h"

/*
 * Raw netlink buffers.
 */

struct rawmsg {
	uint32_t words[256];	/* aligned storage */
	size_t len;
};

static unsigned char *raw_bytes(struct rawmsg *m)
{
	return (unsigned char *)m->words;
}

static struct nlmsghdr *raw_hdr(struct rawmsg *m)
{
	return (struct nlmsghdr *)m->words;
}

static void raw_start(struct rawmsg *m, uint16_t type, uint16_t flags)
{
	struct nlmsghdr h = {
		.nlmsg_type = type, .nlmsg_flags = flags,
		.nlmsg_seq = 7, .nlmsg_pid = 0,
	};

	memset(m->words, 0xa5, sizeof(m->words));	/* catch over-reads */
	memcpy(raw_bytes(m), &h, sizeof(h));
	m->len = sizeof(h);
}

/* Append @len bytes, then pad with zeros to a multiple of 4. */
static void raw_put(struct rawmsg *m, const void *data, size_t len)
{
	memcpy(raw_bytes(m) + m->len, data, len);
	m->len += len;
	while (m->len % 4)
		raw_bytes(m)[m->len++] = 0;
}

static void raw_tlv(struct rawmsg *m, uint16_t type, const void *data,
		    uint16_t len)
{
	struct nlattr a = { .nla_len = (uint16_t)(4 + len), .nla_type = type };

	memcpy(raw_bytes(m) + m->len, &a, sizeof(a));
	m->len += sizeof(a);
	raw_put(m, data, len);
}

static void raw_end(struct rawmsg *m)
{
	raw_hdr(m)->nlmsg_len = (uint32_t)m->len;
}

/* The error part of an NLMSG_ERROR: code and the echoed request header. */
static void raw_nlmsgerr(struct rawmsg *m, int error, uint32_t req_len)
{
	struct nlmsgerr e = { .error = error };

	e.msg.nlmsg_len = req_len;
	e.msg.nlmsg_type = 0x1234;
	e.msg.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	e.msg.nlmsg_seq = 7;
	memcpy(raw_bytes(m) + m->len, &e, sizeof(e));
	m->len += sizeof(e);
}

static const char kmsg[] = "Invalid checkpoint name: use A-Z a-z 0-9 . _ : + -";

TEST(ack_capped_with_message_after_offset)
{
	struct rawmsg m;
	uint32_t offs = 20;
	char msg[256];
	int error = 1;

	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
	raw_nlmsgerr(&m, -EINVAL, 64);
	raw_tlv(&m, NLMSGERR_ATTR_OFFS, &offs, sizeof(offs));
	raw_tlv(&m, NLMSGERR_ATTR_MSG, kmsg, sizeof(kmsg));
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(-EINVAL, error);
	EXPECT_STREQ(kmsg, msg);
}

/* Without NETLINK_CAP_ACK the whole request is echoed before the TLVs;
 * a request length that is not a multiple of 4 is padded. */
TEST(ack_uncapped_skips_the_echoed_request)
{
	static const unsigned int payloads[] = { 0, 1, 3, 4, 21, 36 };
	unsigned char body[64];
	struct rawmsg m;
	char msg[256];
	int error;

	for (unsigned int i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(0x40 + i);	/* not TLV-shaped */
	for (unsigned int i = 0; i < sizeof(payloads) / sizeof(payloads[0]); i++) {
		unsigned int p = payloads[i];

		raw_start(&m, NLMSG_ERROR, NLM_F_ACK_TLVS);
		raw_nlmsgerr(&m, -EEXIST, (uint32_t)(NLMSG_HDRLEN + p));
		if (p)
			raw_put(&m, body, p);
		raw_tlv(&m, NLMSGERR_ATTR_MSG, "exists", 7);
		raw_end(&m);
		error = 0;
		ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg,
					     sizeof(msg))) TH_LOG("payload %u", p);
		EXPECT_EQ(-EEXIST, error);
		EXPECT_STREQ("exists", msg) TH_LOG("payload %u", p);
	}
}

TEST(ack_without_tlv_flag_has_no_message)
{
	struct rawmsg m;
	char msg[16] = "junk";
	int error;

	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED);
	raw_nlmsgerr(&m, -ENODEV, 32);
	raw_tlv(&m, NLMSGERR_ATTR_MSG, "ignored", 8);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(-ENODEV, error);
	EXPECT_STREQ("", msg);
}

TEST(ack_success_is_error_zero)
{
	struct rawmsg m;
	char msg[16];
	int error = 5;

	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED);
	raw_nlmsgerr(&m, 0, 32);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(0, error);
	EXPECT_STREQ("", msg);
}

/* netlink_dump_done(): an int error code, then the TLVs. */
TEST(done_carries_the_dump_error_and_message)
{
	struct rawmsg m;
	int code = -ESTALE, error = 0;
	char msg[256];

	raw_start(&m, NLMSG_DONE, NLM_F_MULTI | NLM_F_ACK_TLVS);
	raw_put(&m, &code, sizeof(code));
	raw_tlv(&m, NLMSGERR_ATTR_MSG, "Tracking is invalid: reset needed", 34);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(-ESTALE, error);
	EXPECT_STREQ("Tracking is invalid: reset needed", msg);

	code = 0;
	raw_start(&m, NLMSG_DONE, NLM_F_MULTI);
	raw_put(&m, &code, sizeof(code));
	raw_end(&m);
	error = 3;
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(0, error);
	EXPECT_STREQ("", msg);

	/* No payload at all: success. */
	raw_start(&m, NLMSG_DONE, NLM_F_MULTI);
	raw_end(&m);
	error = 3;
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(0, error);
}

TEST(message_without_nul_and_truncation)
{
	struct rawmsg m;
	char msg[256], small[5];
	int error;

	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
	raw_nlmsgerr(&m, -EINVAL, 32);
	raw_tlv(&m, NLMSGERR_ATTR_MSG, "abcdef", 6);	/* no NUL inside */
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_STREQ("abcdef", msg);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, small, sizeof(small)));
	EXPECT_STREQ("abcd", small);
	EXPECT_EQ(-EINVAL, error);
}

TEST(malformed_tlvs_are_ignored_not_overread)
{
	struct rawmsg m;
	struct nlattr bad = { .nla_len = 200, .nla_type = NLMSGERR_ATTR_MSG };
	char msg[256];
	int error;

	/* An attribute longer than what is left. */
	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
	raw_nlmsgerr(&m, -EIO, 32);
	raw_put(&m, &bad, sizeof(bad));
	raw_put(&m, "xy", 2);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(-EIO, error);
	EXPECT_STREQ("", msg);

	/* An attribute shorter than its own header. */
	bad.nla_len = 2;
	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED | NLM_F_ACK_TLVS);
	raw_nlmsgerr(&m, -EIO, 32);
	raw_put(&m, &bad, sizeof(bad));
	raw_tlv(&m, NLMSGERR_ATTR_MSG, "unreachable", 12);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_STREQ("", msg);

	/* An echoed request longer than the message. */
	raw_start(&m, NLMSG_ERROR, NLM_F_ACK_TLVS);
	raw_nlmsgerr(&m, -EIO, 4000);
	raw_tlv(&m, NLMSGERR_ATTR_MSG, "unreachable", 12);
	raw_end(&m);
	ASSERT_EQ(0, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg, sizeof(msg)));
	EXPECT_EQ(-EIO, error);
	EXPECT_STREQ("", msg);
}

TEST(short_or_foreign_messages_are_refused)
{
	struct rawmsg m;
	char msg[16];
	int error = 9;

	/* Header claims more than was received. */
	raw_start(&m, NLMSG_ERROR, NLM_F_CAPPED);
	raw_nlmsgerr(&m, -EINVAL, 32);
	raw_end(&m);
	EXPECT_EQ(-EPROTO, dl_nl_parse_ack(raw_hdr(&m), m.len - 1, &error, msg,
					   sizeof(msg)));
	/* Too short to hold a struct nlmsgerr. */
	raw_start(&m, NLMSG_ERROR, 0);
	raw_put(&m, &error, sizeof(error));
	raw_end(&m);
	EXPECT_EQ(-EPROTO, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg,
					   sizeof(msg)));
	/* Neither an error nor a DONE. */
	raw_start(&m, 0x20, 0);
	raw_nlmsgerr(&m, -EINVAL, 32);
	raw_end(&m);
	EXPECT_EQ(-EPROTO, dl_nl_parse_ack(raw_hdr(&m), m.len, &error, msg,
					   sizeof(msg)));
	EXPECT_EQ(9, error);
	/* Shorter than a header. */
	EXPECT_EQ(-EPROTO, dl_nl_parse_ack(raw_hdr(&m), 8, &error, msg,
					   sizeof(msg)));
}

/*
 * Device selectors.
 */

TEST(selector_syntax)
{
	static const struct {
		const char *arg;
		bool uuid;
		int ret;
		enum dl_nl_sel_kind kind;
		uint32_t major, minor;
	} cases[] = {
		{ "dl0", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ "253:7", false, 0, DL_NL_SEL_DEVNO, 253, 7 },
		{ "0:0", false, 0, DL_NL_SEL_DEVNO, 0, 0 },
		{ "4294967295:4294967295", false, 0, DL_NL_SEL_DEVNO,
		  4294967295u, 4294967295u },
		{ "4294967296:1", false, -EINVAL, 0, 0, 0 },
		{ "1:4294967296", false, -EINVAL, 0, 0, 0 },
		{ "253:", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ ":7", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ "253:7:1", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ "25a:7", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ "vg-lv:data", false, 0, DL_NL_SEL_NAME, 0, 0 },
		{ "253:7", true, 0, DL_NL_SEL_UUID, 0, 0 },
		{ "LVM-abc", true, 0, DL_NL_SEL_UUID, 0, 0 },
		{ "", false, -EINVAL, 0, 0, 0 },
		{ "", true, -EINVAL, 0, 0, 0 },
	};
	struct dl_nl_sel sel;

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = dl_nl_sel_parse(cases[i].arg, cases[i].uuid, &sel);

		ASSERT_EQ(cases[i].ret, r) TH_LOG("'%s'", cases[i].arg);
		if (r)
			continue;
		EXPECT_EQ(cases[i].kind, sel.kind) TH_LOG("'%s'", cases[i].arg);
		if (sel.kind == DL_NL_SEL_DEVNO) {
			EXPECT_EQ(cases[i].major, sel.major);
			EXPECT_EQ(cases[i].minor, sel.minor);
		} else {
			EXPECT_EQ(cases[i].arg, sel.str);
		}
	}
}

TEST(selector_lengths)
{
	char name[200];
	struct dl_nl_sel sel;

	/* dm names hold up to 127 characters, uuids up to 128. */
	memset(name, 'n', sizeof(name));
	name[127] = '\0';
	EXPECT_EQ(0, dl_nl_sel_parse(name, false, &sel));
	name[127] = 'n';
	name[128] = '\0';
	EXPECT_EQ(-EINVAL, dl_nl_sel_parse(name, false, &sel));
	EXPECT_EQ(0, dl_nl_sel_parse(name, true, &sel));
	name[128] = 'n';
	name[129] = '\0';
	EXPECT_EQ(-EINVAL, dl_nl_sel_parse(name, true, &sel));
}

/*
 * Replies built with libnl's writers.
 */

static struct nl_msg *genl_new(void)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, 0, 1, 0x30, 0, 0, DM_DIRTYLOG_CMD_DEV_GET,
				DM_DIRTYLOG_GENL_VERSION)) {
		nlmsg_free(msg);
		msg = NULL;
	}
	return msg;
}

/* Parse the top-level attributes of @msg without a policy. */
static int genl_tb(struct nl_msg *msg, struct nlattr **tb)
{
	struct genlmsghdr *g = nlmsg_data(nlmsg_hdr(msg));

	return nla_parse(tb, DM_DIRTYLOG_A_MAX, genlmsg_attrdata(g, 0),
			 genlmsg_attrlen(g, 0), NULL);
}

static void put_full_dev(struct nl_msg *msg)
{
	nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, "backup-src");
	nla_put_string(msg, DM_DIRTYLOG_A_DEV_UUID, "LVM-0123456789");
	nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MAJOR, 253);
	nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MINOR, 4000000000u);
	nla_put_u32(msg, DM_DIRTYLOG_A_BLOCK_SECTORS, 128);
	nla_put_u64(msg, DM_DIRTYLOG_A_NR_BLOCKS, 0x100000001ULL);
	nla_put_u64(msg, DM_DIRTYLOG_A_SIZE_SECTORS, 0x8000000080ULL);
	nla_put_u32(msg, DM_DIRTYLOG_A_STATE, DM_DIRTYLOG_STATE_INVALID);
	nla_put_u64(msg, DM_DIRTYLOG_A_DIRTY_ACTIVE, 0x200000003ULL);
	nla_put_u32(msg, DM_DIRTYLOG_A_NR_CHECKPOINTS, 4096);
	nla_put_u64(msg, DM_DIRTYLOG_A_LATEST_ID, 0xfedcba9876543210ULL);
	nla_put_u64(msg, DM_DIRTYLOG_A_META_USED, 0x300000005ULL);
	nla_put_u64(msg, DM_DIRTYLOG_A_META_TOTAL, 0x400000007ULL);
	nla_put_u64(msg, DM_DIRTYLOG_A_META_COMMITS, 0x500000009ULL);
	nla_put_string(msg, DM_DIRTYLOG_A_INSTANCE_UUID,
		       "00112233445566778899aabbccddeeff");
}

TEST(dev_every_field)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nl_msg *msg = genl_new();
	struct dl_nl_dev d;

	ASSERT_NE(NULL, msg);
	put_full_dev(msg);
	ASSERT_EQ(0, genl_tb(msg, tb));
	ASSERT_EQ(0, dl_nl_parse_dev(tb, &d));
	EXPECT_STREQ("backup-src", d.name);
	EXPECT_STREQ("LVM-0123456789", d.uuid);
	EXPECT_EQ(253, d.major);
	EXPECT_EQ(4000000000u, d.minor);
	EXPECT_EQ(128, d.block_sectors);
	EXPECT_EQ(0x100000001ULL, d.nr_blocks);
	EXPECT_EQ(0x8000000080ULL, d.size_sectors);
	EXPECT_EQ(DM_DIRTYLOG_STATE_INVALID, d.state);
	EXPECT_EQ(0x200000003ULL, d.dirty_active);
	EXPECT_EQ(4096, d.nr_checkpoints);
	EXPECT_EQ(0xfedcba9876543210ULL, d.latest_id);
	EXPECT_EQ(0x300000005ULL, d.meta_used);
	EXPECT_EQ(0x400000007ULL, d.meta_total);
	EXPECT_EQ(0x500000009ULL, d.meta_commits);
	EXPECT_STREQ("00112233445566778899aabbccddeeff", d.instance_uuid);
	nlmsg_free(msg);
}

TEST(dev_optional_fields_default_to_zero)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nl_msg *msg = genl_new();
	struct dl_nl_dev d;

	ASSERT_NE(NULL, msg);
	nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, "d");
	nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MAJOR, 1);
	nla_put_u32(msg, DM_DIRTYLOG_A_DEV_MINOR, 2);
	nla_put_u32(msg, DM_DIRTYLOG_A_BLOCK_SECTORS, 8);
	ASSERT_EQ(0, genl_tb(msg, tb));
	memset(&d, 0x5a, sizeof(d));
	ASSERT_EQ(0, dl_nl_parse_dev(tb, &d));
	EXPECT_STREQ("", d.uuid);
	EXPECT_STREQ("", d.instance_uuid);
	EXPECT_EQ(0, d.nr_blocks);
	EXPECT_EQ(0, d.latest_id);
	EXPECT_EQ(0, d.state);
	nlmsg_free(msg);
}

TEST(dev_required_fields_and_sizes)
{
	static const int required[] = {
		DM_DIRTYLOG_A_DEV_NAME, DM_DIRTYLOG_A_DEV_MAJOR,
		DM_DIRTYLOG_A_DEV_MINOR, DM_DIRTYLOG_A_BLOCK_SECTORS,
	};
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nl_msg *msg = genl_new();
	struct dl_nl_dev d;
	struct nlattr *saved;
	char big[200];

	ASSERT_NE(NULL, msg);
	put_full_dev(msg);
	ASSERT_EQ(0, genl_tb(msg, tb));
	for (unsigned int i = 0; i < 4; i++) {
		saved = tb[required[i]];
		tb[required[i]] = NULL;
		EXPECT_EQ(-EPROTO, dl_nl_parse_dev(tb, &d)) TH_LOG("attr %d", required[i]);
		tb[required[i]] = saved;
	}
	nlmsg_free(msg);

	/* A name of 128 characters does not fit a dm name. */
	memset(big, 'x', sizeof(big));
	big[128] = '\0';
	msg = genl_new();
	ASSERT_NE(NULL, msg);
	put_full_dev(msg);
	nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, big);	/* last one wins */
	ASSERT_EQ(0, genl_tb(msg, tb));
	EXPECT_EQ(-EPROTO, dl_nl_parse_dev(tb, &d));
	nlmsg_free(msg);

	/* An instance uuid of 33 characters does not fit either. */
	big[33] = '\0';
	msg = genl_new();
	ASSERT_NE(NULL, msg);
	put_full_dev(msg);
	nla_put_string(msg, DM_DIRTYLOG_A_INSTANCE_UUID, big);
	ASSERT_EQ(0, genl_tb(msg, tb));
	EXPECT_EQ(-EPROTO, dl_nl_parse_dev(tb, &d));
	nlmsg_free(msg);
}

static struct nlattr *put_extent(struct nl_msg *msg, const uint64_t *start,
				 const uint64_t *count, bool pad)
{
	struct nlattr *nest = nla_nest_start(msg, DM_DIRTYLOG_A_EXTENT);

	if (pad)
		nla_put(msg, DM_DIRTYLOG_A_EXT_PAD, 0, NULL);
	if (start)
		nla_put_u64(msg, DM_DIRTYLOG_A_EXT_START, *start);
	if (count)
		nla_put_u64(msg, DM_DIRTYLOG_A_EXT_COUNT, *count);
	nla_nest_end(msg, nest);
	return nest;
}

TEST(extents)
{
	static const struct {
		uint64_t start, count;
		bool has_start, has_count, pad;
		int ret;
	} cases[] = {
		{ 20, 6, true, true, false, 0 },
		{ 0x123456789ULL, 0x100000000ULL, true, true, true, 0 },
		{ 0, 1, true, true, false, 0 },
		{ UINT64_MAX - 1, 1, true, true, false, 0 },
		{ UINT64_MAX, 1, true, true, false, -EPROTO },	/* wraps */
		{ 5, 0, true, true, false, -EPROTO },		/* empty */
		{ 5, 1, false, true, false, -EPROTO },
		{ 5, 1, true, false, false, -EPROTO },
	};
	uint64_t start, count;

	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nl_msg *msg = genl_new();
		struct nlattr *nest;

		ASSERT_NE(NULL, msg);
		nest = put_extent(msg, cases[i].has_start ? &cases[i].start : NULL,
				  cases[i].has_count ? &cases[i].count : NULL,
				  cases[i].pad);
		start = count = 77;
		EXPECT_EQ(cases[i].ret, dl_nl_parse_extent(nest, &start, &count))
			TH_LOG("case %u", i);
		if (!cases[i].ret) {
			EXPECT_EQ(cases[i].start, start);
			EXPECT_EQ(cases[i].count, count);
		}
		nlmsg_free(msg);
	}
}

TEST(ckpt_id_top_level)
{
	struct nl_msg *msg = genl_new();
	struct dl_nl_ckpt_id ids[2];
	unsigned int nr = 0;

	ASSERT_NE(NULL, msg);
	nla_put_u64(msg, DM_DIRTYLOG_A_CKPT_ID, 0x1000000002ULL);
	nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, "monday");
	nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, "dl0");	/* after the id */
	ASSERT_EQ(0, dl_nl_parse_ckpt_ids(nlmsg_hdr(msg), ids, 2, &nr));
	ASSERT_EQ(1, nr);
	EXPECT_EQ(0x1000000002ULL, ids[0].id);
	EXPECT_STREQ("dl0", ids[0].dev_name);
	nlmsg_free(msg);
}

/* One reply with a DEVICE nest per device; and the same ids spread over
 * one reply per device. */
TEST(ckpt_ids_per_device)
{
	static const char *const names[] = { "a", "bb", "" };
	static const uint64_t want[] = { 3, 1, 0x8000000000000000ULL };
	struct dl_nl_ckpt_id ids[3];
	struct nl_msg *msg;
	struct nlattr *nest;
	unsigned int nr = 0;

	msg = genl_new();
	ASSERT_NE(NULL, msg);
	nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, "c");
	for (unsigned int i = 0; i < 3; i++) {
		nest = nla_nest_start(msg, DM_DIRTYLOG_A_DEVICE);
		nla_put_u64(msg, DM_DIRTYLOG_A_CKPT_ID, want[i]);
		if (names[i][0])
			nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, names[i]);
		nla_nest_end(msg, nest);
	}
	ASSERT_EQ(0, dl_nl_parse_ckpt_ids(nlmsg_hdr(msg), ids, 3, &nr));
	ASSERT_EQ(3, nr);
	for (unsigned int i = 0; i < 3; i++) {
		EXPECT_EQ(want[i], ids[i].id);
		EXPECT_STREQ(names[i], ids[i].dev_name);
	}
	/* A fourth id does not fit. */
	nr = 1;
	EXPECT_EQ(-EPROTO, dl_nl_parse_ckpt_ids(nlmsg_hdr(msg), ids, 3, &nr));
	nlmsg_free(msg);

	nr = 0;
	for (unsigned int i = 0; i < 3; i++) {
		msg = genl_new();
		ASSERT_NE(NULL, msg);
		if (names[i][0])
			nla_put_string(msg, DM_DIRTYLOG_A_DEV_NAME, names[i]);
		nla_put_u64(msg, DM_DIRTYLOG_A_CKPT_ID, want[i]);
		ASSERT_EQ(0, dl_nl_parse_ckpt_ids(nlmsg_hdr(msg), ids, 3, &nr));
		nlmsg_free(msg);
	}
	ASSERT_EQ(3, nr);
	for (unsigned int i = 0; i < 3; i++) {
		EXPECT_EQ(want[i], ids[i].id);
		EXPECT_STREQ(names[i], ids[i].dev_name);
	}
}

TEST(ckpt_id_too_short)
{
	struct nl_msg *msg = genl_new();
	struct dl_nl_ckpt_id ids[1];
	unsigned int nr = 0;

	ASSERT_NE(NULL, msg);
	nla_put_u32(msg, DM_DIRTYLOG_A_CKPT_ID, 5);
	EXPECT_EQ(-EPROTO, dl_nl_parse_ckpt_ids(nlmsg_hdr(msg), ids, 1, &nr));
	nlmsg_free(msg);
}

TEST(bitmap_chunks)
{
	static const struct {
		uint64_t start;
		int len;		/* bytes of data, -1: no data attribute */
		bool has_start;
		int ret;
	} cases[] = {
		{ 0, 8, true, 0 },
		{ 10880, 1360, true, 0 },
		{ 64, 16, true, 0 },
		{ 32, 8, true, -EPROTO },		/* start not a multiple of 64 */
		{ 0, 12, true, -EPROTO },		/* not whole 64-bit words */
		{ 0, 0, true, -EPROTO },		/* empty */
		{ 0, -1, true, -EPROTO },		/* no data */
		{ 0, 8, false, -EPROTO },		/* no start */
		{ UINT64_MAX - 63, 16, true, -EPROTO },	/* wraps */
	};
	uint8_t data[1360];
	const uint8_t *bits;
	uint64_t start, nbits;

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct nl_msg *msg = genl_new();
		struct nlattr *nest;

		ASSERT_NE(NULL, msg);
		nest = nla_nest_start(msg, DM_DIRTYLOG_A_BITMAP);
		if (cases[i].has_start)
			nla_put_u64(msg, DM_DIRTYLOG_A_BM_START, cases[i].start);
		if (cases[i].len >= 0)
			nla_put(msg, DM_DIRTYLOG_A_BM_DATA, cases[i].len, data);
		nla_nest_end(msg, nest);
		start = nbits = 77;
		EXPECT_EQ(cases[i].ret, dl_nl_parse_bitmap(nest, &start, &bits, &nbits))
			TH_LOG("case %u", i);
		if (!cases[i].ret) {
			EXPECT_EQ(cases[i].start, start);
			EXPECT_EQ((uint64_t)cases[i].len * 8, nbits);
			EXPECT_EQ(0, memcmp(bits, data, (size_t)cases[i].len));
		}
		nlmsg_free(msg);
	}
}

/* A notification message of command @cmd describing a full device. */
static struct nl_msg *event_new(uint8_t cmd)
{
	struct nl_msg *msg = nlmsg_alloc();

	if (msg && !genlmsg_put(msg, 0, 0, 0x30, 0, 0, cmd,
				DM_DIRTYLOG_GENL_VERSION)) {
		nlmsg_free(msg);
		return NULL;
	}
	if (msg)
		put_full_dev(msg);
	return msg;
}

TEST(events)
{
	struct dl_nl_event ev;
	struct nl_msg *msg;
	char long_name[DL_NL_CKPT_NAME_LEN + 1];

	msg = event_new(DM_DIRTYLOG_CMD_CKPT_CREATED_NTF);
	ASSERT_NE(NULL, msg);
	nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, "nightly-7");
	nla_put_u64(msg, DM_DIRTYLOG_A_CKPT_ID, 0x100000002ULL);
	ASSERT_EQ(0, dl_nl_parse_event(nlmsg_hdr(msg), &ev));
	EXPECT_EQ(DM_DIRTYLOG_CMD_CKPT_CREATED_NTF, ev.cmd);
	EXPECT_STREQ("backup-src", ev.dev.name);
	EXPECT_EQ(0x100000001ULL, ev.dev.nr_blocks);
	EXPECT_STREQ("nightly-7", ev.ckpt);
	EXPECT_EQ(0x100000002ULL, ev.id);
	nlmsg_free(msg);

	/* Without a checkpoint: empty name, id 0. */
	msg = event_new(DM_DIRTYLOG_CMD_RESIZE_NTF);
	ASSERT_NE(NULL, msg);
	ASSERT_EQ(0, dl_nl_parse_event(nlmsg_hdr(msg), &ev));
	EXPECT_EQ(DM_DIRTYLOG_CMD_RESIZE_NTF, ev.cmd);
	EXPECT_STREQ("", ev.ckpt);
	EXPECT_EQ(0, ev.id);
	nlmsg_free(msg);

	/* A command that is not a notification. */
	msg = event_new(DM_DIRTYLOG_CMD_DEV_GET);
	ASSERT_NE(NULL, msg);
	EXPECT_EQ(-EPROTO, dl_nl_parse_event(nlmsg_hdr(msg), &ev));
	nlmsg_free(msg);

	/* A checkpoint name too long for any checkpoint. */
	msg = event_new(DM_DIRTYLOG_CMD_CKPT_DELETED_NTF);
	ASSERT_NE(NULL, msg);
	memset(long_name, 'a', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, long_name);
	EXPECT_EQ(-EPROTO, dl_nl_parse_event(nlmsg_hdr(msg), &ev));
	nlmsg_free(msg);

	/* No device description. */
	msg = nlmsg_alloc();
	ASSERT_NE(NULL, msg);
	ASSERT_NE(NULL, genlmsg_put(msg, 0, 0, 0x30, 0, 0,
				    DM_DIRTYLOG_CMD_STATE_NTF, 1));
	EXPECT_EQ(-EPROTO, dl_nl_parse_event(nlmsg_hdr(msg), &ev));
	nlmsg_free(msg);
}

TEST_HARNESS_MAIN
