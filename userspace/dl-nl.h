/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Client of the "dm-dirtylog" generic netlink family (libnl-genl-3).
 *
 * Every call that talks to the kernel returns 0 or -errno and, on failure,
 * leaves a reason in nl->err: the kernel's extended-ack message when it
 * sent one, else strerror(errno) (or a description of a local failure).
 * One struct dl_nl serves one thread; after a transport failure (a libnl
 * error rather than an answer from the kernel) close it.
 */
#ifndef DL_NL_H
#define DL_NL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/dm-dirtylog.h>

struct nl_sock;
struct nlmsghdr;
struct nlattr;

/* dl_nl_open() fails with this when the family is not registered. */
#define DL_NL_ENOMODULE		ENOPKG
#define DL_NL_ENOMODULE_MSG	"dm-dirtylog module not loaded"

/* How often a dump interrupted by a concurrent change is started again. */
#define DL_NL_DUMP_RESTARTS	5

/* Sizes of the strings we keep, NUL included (DM_NAME_LEN, DM_UUID_LEN). */
#define DL_NL_DEV_NAME_LEN	128
#define DL_NL_DEV_UUID_LEN	129
#define DL_NL_INSTANCE_UUID_LEN	33
#define DL_NL_CKPT_NAME_LEN	(DM_DIRTYLOG_NAME_MAX + 1)

/*
 * Receive buffer.  The kernel sizes dump messages by the reader's buffer
 * but never above 32 KiB, so every message fits.
 */
#define DL_NL_RECV_BUF		65536

struct dl_nl {
	struct nl_sock *sock;
	int family;
	void *rxbuf;		/* DL_NL_RECV_BUF bytes for replies */
	uint64_t rx_bytes;	/* netlink bytes received so far */
	char err[512];
};

/* A device selector: exactly one of a dm name, a dm uuid or a dev number. */
enum dl_nl_sel_kind {
	DL_NL_SEL_NAME = 1,
	DL_NL_SEL_UUID,
	DL_NL_SEL_DEVNO,
};

struct dl_nl_sel {
	enum dl_nl_sel_kind kind;
	const char *str;	/* NAME, UUID: points into the parsed argument */
	uint32_t major, minor;	/* DEVNO */
};

/* A dirtylog device as DM_DIRTYLOG_CMD_DEV_GET describes it. */
struct dl_nl_dev {
	char name[DL_NL_DEV_NAME_LEN];
	char uuid[DL_NL_DEV_UUID_LEN];		/* "" when the device has none */
	uint32_t major, minor;
	uint32_t block_sectors;
	uint64_t nr_blocks;
	uint64_t size_sectors;
	uint32_t state;				/* enum dm_dirtylog_state */
	uint64_t dirty_active;
	uint32_t nr_checkpoints;
	uint64_t latest_id;
	uint64_t meta_used, meta_total;		/* 4 KiB metadata blocks */
	uint64_t meta_commits;			/* commits since the metadata was opened */
	char instance_uuid[DL_NL_INSTANCE_UUID_LEN];
	/* A checkpoint a failed atomic create left here, or "". */
	char stray_ckpt[DL_NL_CKPT_NAME_LEN];
};

/* One checkpoint id from a CKPT_NEW reply. */
struct dl_nl_ckpt_id {
	char dev_name[DL_NL_DEV_NAME_LEN];	/* "" when the reply has none */
	uint64_t id;
};

/*
 * dl_nl_open() - allocate a socket, connect it, turn on extended acks
 * (NETLINK_EXT_ACK, NETLINK_CAP_ACK) and resolve the family.  Returns 0, or
 * -errno with nl->err set and nothing left to close; -DL_NL_ENOMODULE with
 * nl->err exactly DL_NL_ENOMODULE_MSG when the family is not registered.
 */
int dl_nl_open(struct dl_nl *nl);

/* dl_nl_close() - release what dl_nl_open() set up (safe to call twice). */
void dl_nl_close(struct dl_nl *nl);

/*
 * dl_nl_sel_parse() - turn a command-line DEVICE into a selector.  With
 * @uuid the argument is a dm uuid; otherwise "MAJOR:MINOR" (decimal digits
 * on both sides) is a device number and anything else a dm name.  @sel
 * points into @arg.  Returns 0, or -EINVAL for an empty or too long string
 * or a device number that does not fit in 32 bits.
 */
int dl_nl_sel_parse(const char *arg, bool uuid, struct dl_nl_sel *sel);

/* dl_nl_dev_get() - describe one device. */
int dl_nl_dev_get(struct dl_nl *nl, const struct dl_nl_sel *sel,
		  struct dl_nl_dev *dev);

/*
 * Dumps.  @fn is called for every item in order; a nonzero return stops the
 * dump and is returned (it should be -errno and set nl->err).  When the
 * kernel marks the dump interrupted by a concurrent change
 * (NLM_F_DUMP_INTR, or a new DM_DIRTYLOG_A_GENERATION between messages),
 * the dump is started again from scratch, at most DL_NL_DUMP_RESTARTS
 * times: @restart (may be NULL) is called first so that the caller forgets
 * the items it was given, and *@restarts (may be NULL) counts the restarts.
 * When every attempt is interrupted the call fails with -EAGAIN.
 */
int dl_nl_dev_dump(struct dl_nl *nl,
		   int (*fn)(const struct dl_nl_dev *dev, void *arg),
		   void (*restart)(void *arg), void *arg, unsigned int *restarts);

/*
 * dl_nl_ckpt_new() - create checkpoint @name on the @n devices of @sels at
 * one instant (one device: top-level selector; several: one
 * DM_DIRTYLOG_A_DEVICE nest each).  Every DM_DIRTYLOG_A_CKPT_ID of the
 * reply (top level or inside DEVICE nests, in reply order) is stored in
 * @ids, which has room for @n; *@nr_ids is how many were found (at least 1).
 */
int dl_nl_ckpt_new(struct dl_nl *nl, const struct dl_nl_sel *sels,
		   unsigned int n, const char *name, struct dl_nl_ckpt_id *ids,
		   unsigned int *nr_ids);

/* dl_nl_ckpt_del() - delete checkpoint @name. */
int dl_nl_ckpt_del(struct dl_nl *nl, const struct dl_nl_sel *sel,
		   const char *name);

/* dl_nl_ckpt_dump() - the checkpoints of a device, oldest first. */
int dl_nl_ckpt_dump(struct dl_nl *nl, const struct dl_nl_sel *sel,
		    int (*fn)(const char *name, uint64_t id, uint64_t ctime_ns,
			      void *arg),
		    void (*restart)(void *arg), void *arg,
		    unsigned int *restarts);

/* dl_nl_reset() - forget every checkpoint and start a new chain. */
int dl_nl_reset(struct dl_nl *nl, const struct dl_nl_sel *sel);

/* dl_nl_mark_dirty() - mark @count blocks from @start dirty. */
int dl_nl_mark_dirty(struct dl_nl *nl, const struct dl_nl_sel *sel,
		     uint64_t start, uint64_t count);

/*
 * dl_nl_dirty_dump() - the extents dirty since checkpoint @since, up to now
 * or up to checkpoint @until (may be NULL), in ascending order, each once.
 * A reply whose extents overlap or go backwards fails with -EPROTO.
 */
int dl_nl_dirty_dump(struct dl_nl *nl, const struct dl_nl_sel *sel,
		     const char *since, const char *until,
		     int (*fn)(uint64_t start, uint64_t count, void *arg),
		     void (*restart)(void *arg), void *arg,
		     unsigned int *restarts);

/*
 * struct dl_nl_dirty_opts - how dl_nl_dirty_fetch() asks and answers
 * @format: DM_DIRTYLOG_DUMP_AUTO (kernel picks per chunk), _EXTENTS or
 *	    _BITMAP (the encoding on the wire; the answer is the same)
 * @extent: called with maximal extents in ascending order (extents the
 *	    kernel split at chunk boundaries are joined again)
 * @chunk: NULL, or called for each raw bitmap chunk instead of turning it
 *	   into extents: @nbits little-endian bits for blocks @start..
 *	   (a multiple of 64; bits past the device are clear).  Extents
 *	   and chunks then arrive interleaved, still ascending.
 * @restart: as for the other dumps (may be NULL)
 * @arg: for the callbacks
 * @restarts: out: how often the dump was started again
 * @bytes: out: netlink bytes received for the answer
 * @bytes_bitmap: out: bytes of raw bitmap among them
 */
struct dl_nl_dirty_opts {
	uint32_t format;
	int (*extent)(uint64_t start, uint64_t count, void *arg);
	int (*chunk)(uint64_t start, const uint8_t *bits, uint64_t nbits,
		     void *arg);
	void (*restart)(void *arg);
	void *arg;
	unsigned int restarts;
	uint64_t bytes;
	uint64_t bytes_bitmap;
};

/* dl_nl_dirty_fetch() - the dirty map, as struct dl_nl_dirty_opts says. */
int dl_nl_dirty_fetch(struct dl_nl *nl, const struct dl_nl_sel *sel,
		      const char *since, const char *until,
		      struct dl_nl_dirty_opts *o);

/*
 * dl_nl_mark_bitmap() - mark dirty every block whose bit is set in the
 * little-endian bitmap @bits of @nbits bits for blocks @start.. (@start a
 * multiple of 64), in requests of at most DM_DIRTYLOG_MARK_BITMAP_MAX
 * bytes; pieces with no bit set are not sent.  Each request is durable
 * when it returns; a failure leaves the earlier pieces marked.
 */
int dl_nl_mark_bitmap(struct dl_nl *nl, const struct dl_nl_sel *sel,
		      uint64_t start, const uint8_t *bits, uint64_t nbits);

/* One notification of the DM_DIRTYLOG_MCGRP_EVENTS group. */
struct dl_nl_event {
	uint8_t cmd;				/* DM_DIRTYLOG_CMD_*_NTF */
	struct dl_nl_dev dev;			/* the device, after the event */
	char ckpt[DL_NL_CKPT_NAME_LEN];		/* "" when none */
	uint64_t id;				/* 0 when none */
};

/*
 * dl_nl_monitor() - join the events group and call @fn for every event,
 * until @fn returns nonzero (which is returned) or reading fails.  When
 * the socket overflowed and events were lost, @lost (may be NULL: then it
 * is an error) is called and monitoring goes on.  The socket is not good
 * for requests afterwards.
 */
int dl_nl_monitor(struct dl_nl *nl,
		  int (*fn)(const struct dl_nl_event *ev, void *arg),
		  void (*lost)(void *arg), void *arg);

/*
 * Parsers, exposed for the unit tests.  None of them needs a socket.
 */

/*
 * dl_nl_parse_ack() - the error carried by an NLMSG_ERROR or NLMSG_DONE
 * message @nlh of @len bytes (at least nlh->nlmsg_len): stores the kernel's
 * error code (0 or -errno) in *@error and the NLMSGERR_ATTR_MSG text, or
 * "" when there is none, in @msg.  Works with and without NETLINK_CAP_ACK
 * (NLM_F_CAPPED).  Returns 0, or -EPROTO for a message of another type or
 * too short to hold an error code; malformed TLVs are ignored.
 */
int dl_nl_parse_ack(const struct nlmsghdr *nlh, size_t len, int *error,
		    char *msg, size_t msglen);

/*
 * dl_nl_parse_dev() - fill @dev from the attributes of a DEV_GET reply
 * (@tb indexed by attribute type, up to DM_DIRTYLOG_A_MAX, already checked
 * against the types of the UAPI header).  Absent optional attributes read
 * as 0 or "".  Returns 0, or -EPROTO when the name, the device number or
 * the block size is missing or a string does not fit.
 */
int dl_nl_parse_dev(struct nlattr **tb, struct dl_nl_dev *dev);

/*
 * dl_nl_parse_extent() - start and count of one DM_DIRTYLOG_A_EXTENT nest.
 * Returns 0, or -EPROTO when either is missing or the count is 0 or makes
 * the extent wrap around.
 */
int dl_nl_parse_extent(const struct nlattr *nest, uint64_t *start,
		       uint64_t *count);

/*
 * dl_nl_parse_bitmap() - start, data and size in bits of one
 * DM_DIRTYLOG_A_BITMAP nest (@bits points into the message).  Returns 0,
 * or -EPROTO when either is missing, the start is not a multiple of 64,
 * the data is empty or not whole 64-bit words, or the chunk wraps around.
 */
int dl_nl_parse_bitmap(const struct nlattr *nest, uint64_t *start,
		       const uint8_t **bits, uint64_t *nbits);

/*
 * dl_nl_parse_ckpt_ids() - append every DM_DIRTYLOG_A_CKPT_ID of the
 * generic netlink message @nlh (top level, then inside each
 * DM_DIRTYLOG_A_DEVICE nest, in message order) to @ids[*@nr..@max), with
 * the DM_DIRTYLOG_A_DEV_NAME found next to it if any.  Returns 0, or
 * -EPROTO for more than @max ids or a malformed id.
 */
int dl_nl_parse_ckpt_ids(struct nlmsghdr *nlh, struct dl_nl_ckpt_id *ids,
			 unsigned int max, unsigned int *nr);

/*
 * dl_nl_parse_event() - a notification message into @ev.  Returns 0, or
 * -EPROTO for a command that is not a notification or a malformed device
 * description, checkpoint name or id.
 */
int dl_nl_parse_event(struct nlmsghdr *nlh, struct dl_nl_event *ev);

#endif /* DL_NL_H */
