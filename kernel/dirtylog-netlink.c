// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog generic netlink family "dm-dirtylog": device and checkpoint
 * queries, checkpoint operations (also on several devices at one instant),
 * dirty-map dumps and event notifications.  The commands and attributes are
 * in include/uapi/linux/dm-dirtylog.h and described by
 * Documentation/netlink/specs/dm-dirtylog.yaml.
 *
 * Every operation, reads included, requires CAP_SYS_ADMIN in the caller's
 * user namespace over the initial one (a dirty map reveals what a tenant
 * wrote); it is checked in each handler.
 *
 * Locking: a handler holds dirtylog_stores_lock (dirtylog_lock_stores())
 * only to find its devices and take a reference to each
 * (dirtylog_store_get(), which also keeps the dm device from being freed);
 * it runs the operation, which may wait for the device's metadata lock and
 * its metadata I/O, without the lock, so a device that does not answer holds
 * up only its own callers.  Dumps find their device anew in every callback.
 */
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <net/genetlink.h>
#include <net/netlink.h>

#include <linux/dm-dirtylog.h>

#include "compat.h"
#include "dirtylog-netlink.h"
#include "dirtylog-store.h"

#define DM_MSG_PREFIX "dirtylog"

/* Most devices one CKPT_NEW may name. */
#define DIRTYLOG_NL_MAX_DEVICES	DIRTYLOG_MAX_ORDER

static struct genl_family dirtylog_nl_family;

static const struct nla_policy dirtylog_nl_dev_policy[DM_DIRTYLOG_A_MAX + 1] = {
	[DM_DIRTYLOG_A_DEV_NAME] = { .type = NLA_NUL_STRING, .len = DM_NAME_LEN - 1 },
	[DM_DIRTYLOG_A_DEV_UUID] = { .type = NLA_NUL_STRING, .len = DM_UUID_LEN - 1 },
	[DM_DIRTYLOG_A_DEV_MAJOR] = { .type = NLA_U32 },
	[DM_DIRTYLOG_A_DEV_MINOR] = { .type = NLA_U32 },
};

static const struct nla_policy dirtylog_nl_bm_policy[DM_DIRTYLOG_A_BM_MAX + 1] = {
	[DM_DIRTYLOG_A_BM_START] = { .type = NLA_U64 },
	[DM_DIRTYLOG_A_BM_DATA] = { .type = NLA_BINARY, .len = DM_DIRTYLOG_MARK_BITMAP_MAX },
};

static const struct nla_policy dirtylog_nl_policy[DM_DIRTYLOG_A_MAX + 1] = {
	[DM_DIRTYLOG_A_DEV_NAME] = { .type = NLA_NUL_STRING, .len = DM_NAME_LEN - 1 },
	[DM_DIRTYLOG_A_DEV_UUID] = { .type = NLA_NUL_STRING, .len = DM_UUID_LEN - 1 },
	[DM_DIRTYLOG_A_DEV_MAJOR] = { .type = NLA_U32 },
	[DM_DIRTYLOG_A_DEV_MINOR] = { .type = NLA_U32 },
	[DM_DIRTYLOG_A_CKPT_NAME] = { .type = NLA_NUL_STRING, .len = DM_DIRTYLOG_NAME_MAX },
	[DM_DIRTYLOG_A_SINCE] = { .type = NLA_NUL_STRING, .len = DM_DIRTYLOG_NAME_MAX },
	[DM_DIRTYLOG_A_UNTIL] = { .type = NLA_NUL_STRING, .len = DM_DIRTYLOG_NAME_MAX },
	[DM_DIRTYLOG_A_DEVICE] = NLA_POLICY_NESTED(dirtylog_nl_dev_policy),
	[DM_DIRTYLOG_A_MARK_START] = { .type = NLA_U64 },
	[DM_DIRTYLOG_A_MARK_COUNT] = { .type = NLA_U64 },
	[DM_DIRTYLOG_A_BITMAP] = NLA_POLICY_NESTED(dirtylog_nl_bm_policy),
	[DM_DIRTYLOG_A_DUMP_FORMAT] = NLA_POLICY_MAX(NLA_U32, DM_DIRTYLOG_DUMP_BITMAP),
};

static int dirtylog_nl_perm(struct sk_buff *skb, struct netlink_ext_ack *extack)
{
	if (netlink_capable(skb, CAP_SYS_ADMIN))
		return 0;
	NL_SET_ERR_MSG(extack, "dm-dirtylog: CAP_SYS_ADMIN is required");
	return -EPERM;
}

/*
 * Find the device that @tb selects: by name, dm uuid, or major + minor.
 * Context: dirtylog_stores_lock held.
 */
static struct dirtylog_store *dirtylog_nl_find(struct nlattr **tb,
					       struct netlink_ext_ack *extack,
					       int *err)
{
	struct dirtylog_store *st;
	bool by_dev = tb[DM_DIRTYLOG_A_DEV_MAJOR] && tb[DM_DIRTYLOG_A_DEV_MINOR];
	const char *name = tb[DM_DIRTYLOG_A_DEV_NAME] ?
			   nla_data(tb[DM_DIRTYLOG_A_DEV_NAME]) : NULL;
	const char *uuid = tb[DM_DIRTYLOG_A_DEV_UUID] ?
			   nla_data(tb[DM_DIRTYLOG_A_DEV_UUID]) : NULL;

	if (!by_dev && (tb[DM_DIRTYLOG_A_DEV_MAJOR] || tb[DM_DIRTYLOG_A_DEV_MINOR])) {
		NL_SET_ERR_MSG(extack, "dm-dirtylog: device major and minor go together");
		*err = -EINVAL;
		return NULL;
	}
	if (!by_dev && !name && !uuid) {
		NL_SET_ERR_MSG(extack, "dm-dirtylog: no device given (name, uuid or major:minor)");
		*err = -EINVAL;
		return NULL;
	}
	st = dirtylog_store_lookup(name, uuid, by_dev,
				   by_dev ? nla_get_u32(tb[DM_DIRTYLOG_A_DEV_MAJOR]) : 0,
				   by_dev ? nla_get_u32(tb[DM_DIRTYLOG_A_DEV_MINOR]) : 0);
	if (!st) {
		if (name && uuid && *uuid)
			NL_SET_ERR_MSG(extack,
				       "dm-dirtylog: no dirtylog device has both that name and that uuid");
		else
			NL_SET_ERR_MSG(extack, "dm-dirtylog: no such dirtylog device");
		*err = -ENODEV;
	}
	return st;
}

/*
 * Find the device @tb selects and take a reference to it, to be dropped
 * with dirtylog_store_put().  Context: dirtylog_stores_lock not held.
 */
static struct dirtylog_store *dirtylog_nl_get(struct nlattr **tb,
					      struct netlink_ext_ack *extack,
					      int *err)
{
	struct dirtylog_store *st;

	dirtylog_lock_stores();
	st = dirtylog_nl_find(tb, extack, err);
	if (st && dirtylog_store_get(st)) {
		NL_SET_ERR_MSG(extack, "dm-dirtylog: the device is being removed");
		*err = -ENODEV;
		st = NULL;
	}
	dirtylog_unlock_stores();
	return st;
}

static int put_dev_id(struct sk_buff *skb, const struct dirtylog_dev_info *di)
{
	if (nla_put_string(skb, DM_DIRTYLOG_A_DEV_NAME, di->name) ||
	    nla_put_u32(skb, DM_DIRTYLOG_A_DEV_MAJOR, di->major) ||
	    nla_put_u32(skb, DM_DIRTYLOG_A_DEV_MINOR, di->minor))
		return -EMSGSIZE;
	if (di->uuid[0] && nla_put_string(skb, DM_DIRTYLOG_A_DEV_UUID, di->uuid))
		return -EMSGSIZE;
	return 0;
}

static int put_dev_info(struct sk_buff *skb, struct dirtylog_store *st)
{
	struct dirtylog_dev_info di;

	dirtylog_store_info(st, &di);
	if (put_dev_id(skb, &di) ||
	    nla_put_u32(skb, DM_DIRTYLOG_A_BLOCK_SECTORS, di.block_sectors) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_NR_BLOCKS, di.stats.nr_blocks,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_SIZE_SECTORS, di.size_sectors,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u32(skb, DM_DIRTYLOG_A_STATE, di.state) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_DIRTY_ACTIVE, di.stats.dirty_active,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u32(skb, DM_DIRTYLOG_A_NR_CHECKPOINTS, di.stats.nr_checkpoints) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_LATEST_ID, di.stats.latest_id,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_META_USED, di.stats.meta_used,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_META_TOTAL, di.stats.meta_total,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_META_COMMITS, di.stats.commits,
			      DM_DIRTYLOG_A_PAD) ||
	    nla_put_string(skb, DM_DIRTYLOG_A_INSTANCE_UUID, di.instance_uuid) ||
	    nla_put_u64_64bit(skb, DM_DIRTYLOG_A_GENERATION, di.generation,
			      DM_DIRTYLOG_A_PAD))
		return -EMSGSIZE;
	if (di.stray[0] && nla_put_string(skb, DM_DIRTYLOG_A_STRAY_CKPT, di.stray))
		return -EMSGSIZE;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* DEV_GET */

static int dirtylog_nl_dev_get_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct dirtylog_store *st;
	struct sk_buff *msg;
	void *hdr;
	int r;

	r = dirtylog_nl_perm(skb, info->extack);
	if (r)
		return r;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	dirtylog_lock_stores();
	st = dirtylog_nl_find(info->attrs, info->extack, &r);
	if (!st)
		goto out_free;
	r = -EMSGSIZE;
	hdr = genlmsg_put_reply(msg, info, &dirtylog_nl_family, 0,
				DM_DIRTYLOG_CMD_DEV_GET);
	if (!hdr || put_dev_info(msg, st))
		goto out_free;
	genlmsg_end(msg, hdr);
	dirtylog_unlock_stores();
	return genlmsg_reply(msg, info);

out_free:
	dirtylog_unlock_stores();
	nlmsg_free(msg);
	return r;
}

static int dirtylog_nl_dev_get_dumpit(struct sk_buff *skb,
				      struct netlink_callback *cb)
{
	struct dirtylog_store *st;
	unsigned long idx = cb->args[0];
	void *hdr;
	int r;

	r = dirtylog_nl_perm(cb->skb, cb->extack);
	if (r)
		return r;
	dirtylog_lock_stores();
	for (; (st = dirtylog_store_nth(idx)); idx++) {
		hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid,
				  cb->nlh->nlmsg_seq, &dirtylog_nl_family,
				  NLM_F_MULTI, DM_DIRTYLOG_CMD_DEV_GET);
		if (!hdr)
			break;
		if (put_dev_info(skb, st)) {
			genlmsg_cancel(skb, hdr);
			break;
		}
		genlmsg_end(skb, hdr);
	}
	dirtylog_unlock_stores();
	cb->args[0] = idx;
	return skb->len;
}

/* ---------------------------------------------------------------------- */
/* Checkpoints */

static int check_name(struct nlattr *attr, struct netlink_ext_ack *extack)
{
	if (!attr) {
		NL_SET_ERR_MSG(extack, "dm-dirtylog: a checkpoint name is required");
		return -EINVAL;
	}
	if (!dirtylog_valid_name(nla_data(attr))) {
		NL_SET_ERR_MSG_ATTR(extack, attr,
				    "dm-dirtylog: invalid checkpoint name: use 1 to 64 of A-Z a-z 0-9 . _ : + -");
		return -EINVAL;
	}
	return 0;
}

static int ckpt_error(int r, struct netlink_ext_ack *extack)
{
	switch (r) {
	case -EEXIST:
		NL_SET_ERR_MSG(extack, "dm-dirtylog: a checkpoint of that name exists");
		break;
	case -ENOENT:
		NL_SET_ERR_MSG(extack, "dm-dirtylog: no checkpoint of that name");
		break;
	case -ENOSPC:
		NL_SET_ERR_MSG(extack, "dm-dirtylog: metadata full or checkpoint limit reached");
		break;
	case -EIO:
		NL_SET_ERR_MSG(extack, "dm-dirtylog: metadata I/O error");
		break;
	case -ESTALE:
		NL_SET_ERR_MSG(extack,
			       "dm-dirtylog: tracking invalid after a metadata error: reset, checkpoint, full backup");
		break;
	}
	return r;
}

/* The most one device's nest of a CKPT_NEW reply can take. */
static size_t ckpt_new_reply_size(void)
{
	return nla_total_size(0) +			/* DEVICE nest */
	       nla_total_size(DM_NAME_LEN) +		/* DEV_NAME */
	       nla_total_size(DM_UUID_LEN) +		/* DEV_UUID */
	       2 * nla_total_size(sizeof(u32)) +	/* DEV_MAJOR, _MINOR */
	       nla_total_size_64bit(sizeof(u64));	/* CKPT_ID */
}

/* Parse the DEVICE nests of a CKPT_NEW and take a reference to each. */
static int ckpt_new_devices(struct genl_info *info,
			    struct dirtylog_store **sts, unsigned int *np)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct nlattr *nest;
	unsigned int n = 0, j;
	int rem, r = 0;

	dirtylog_lock_stores();
	nla_for_each_attr(nest, genlmsg_data(info->genlhdr),
			  genlmsg_len(info->genlhdr), rem) {
		if (nla_type(nest) != DM_DIRTYLOG_A_DEVICE)
			continue;
		if (n == DIRTYLOG_NL_MAX_DEVICES) {
			NL_SET_ERR_MSG_ATTR(info->extack, nest,
					    "dm-dirtylog: too many devices (at most 16)");
			r = -E2BIG;
			break;
		}
		r = nla_parse_nested(tb, DM_DIRTYLOG_A_MAX, nest,
				     dirtylog_nl_dev_policy, info->extack);
		if (r)
			break;
		sts[n] = dirtylog_nl_find(tb, info->extack, &r);
		if (!sts[n])
			break;
		for (j = 0; j < n; j++)
			if (sts[j] == sts[n])
				break;
		if (j < n) {
			NL_SET_ERR_MSG_ATTR(info->extack, nest,
					    "dm-dirtylog: a device is named twice");
			r = -EINVAL;
			break;
		}
		if (dirtylog_store_get(sts[n])) {
			NL_SET_ERR_MSG_ATTR(info->extack, nest,
					    "dm-dirtylog: the device is being removed");
			r = -ENODEV;
			break;
		}
		n++;
	}
	dirtylog_unlock_stores();
	if (r) {
		while (n)
			dirtylog_store_put(sts[--n]);
	}
	*np = n;
	return r;
}

/*
 * Undo the checkpoints an atomic create made before it failed.  Deleting
 * the newest checkpoint merges its interval back into the active one, so
 * no change is lost; a device where that fails keeps the checkpoint,
 * which DEV_GET shows as its stray checkpoint.  Return: true if every
 * rollback worked.
 */
static bool ckpt_new_rollback(struct dirtylog_store **sts, const bool *made,
			      const u64 *ids, unsigned int n, const char *name)
{
	struct dirtylog_dev_info di;
	bool all = true;
	unsigned int i;
	int r;

	for (i = 0; i < n; i++) {
		if (!made[i])
			continue;
		/* By id: never another caller's checkpoint of the same name. */
		r = dirtylog_store_delete(sts[i], name, ids[i]);
		if (!r || r == -ENOENT)	/* deleted meanwhile: gone either way */
			continue;
		all = false;
		dirtylog_store_set_stray(sts[i], name);
		dirtylog_store_info(sts[i], &di);
		DMERR("%s: atomic checkpoint '%s' failed, rollback failed here (%d): delete it",
		      di.name, name, r);
	}
	return all;
}

/*
 * One instant on all devices.  Each device is quiesced in turn, upper
 * devices first (dirtylog_store_order()), and its checkpoint is created
 * at once while the devices below it still take I/O, its metadata writes
 * included.  A quiesced device takes no write until every device is
 * released, so each checkpoint is the device's state at the instant the
 * last one was quiesced.  All or none: after a failure the devices are
 * released first, then the checkpoints made are rolled back.
 */
static int ckpt_new_many(struct genl_info *info, const char *name,
			 struct sk_buff *msg)
{
	struct dirtylog_store *sts[DIRTYLOG_NL_MAX_DEVICES];
	unsigned int order[DIRTYLOG_NL_MAX_DEVICES];
	bool made[DIRTYLOG_NL_MAX_DEVICES] = { };
	u64 ids[DIRTYLOG_NL_MAX_DEVICES];
	unsigned int n, k, nsusp = 0;
	struct dirtylog_dev_info di;
	struct nlattr *nest;
	int r;

	r = ckpt_new_devices(info, sts, &n);
	if (r)
		return r;
	dirtylog_lock_stores();
	r = dirtylog_store_order(sts, n, order);
	dirtylog_unlock_stores();
	if (r == -ELOOP)
		NL_SET_ERR_MSG(info->extack,
			       "dm-dirtylog: two of the devices sit on each other");
	for (k = 0; k < n && !r; k++) {
		unsigned int i = order[k];

		dm_internal_suspend_noflush(dirtylog_store_owner(sts[i]));
		nsusp++;
		r = dirtylog_store_checkpoint(sts[i], name, &ids[i]);
		made[i] = !r;
	}
	while (nsusp)
		dm_internal_resume(dirtylog_store_owner(sts[order[--nsusp]]));
	if (r) {
		ckpt_error(r, info->extack);
		if (!ckpt_new_rollback(sts, made, ids, n, name))
			NL_SET_ERR_MSG(info->extack,
				       "dm-dirtylog: failed, and a rollback failed too: see stray-ckpt of each device");
		goto out;
	}

	/* The reply was sized for this: it cannot turn success into failure. */
	for (k = 0; k < n; k++) {
		dirtylog_store_info(sts[k], &di);
		nest = nla_nest_start(msg, DM_DIRTYLOG_A_DEVICE);
		if (WARN_ON_ONCE(!nest)) {
			r = -EMSGSIZE;
			break;
		}
		if (WARN_ON_ONCE(put_dev_id(msg, &di) ||
				 nla_put_u64_64bit(msg, DM_DIRTYLOG_A_CKPT_ID, ids[k],
						   DM_DIRTYLOG_A_PAD))) {
			nla_nest_cancel(msg, nest);
			r = -EMSGSIZE;
			break;
		}
		nla_nest_end(msg, nest);
	}
out:
	for (k = 0; k < n; k++)
		dirtylog_store_put(sts[k]);
	return r;
}

static int dirtylog_nl_ckpt_new_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct nlattr **tb = info->attrs;
	struct dirtylog_store *st;
	struct sk_buff *msg;
	const char *name;
	size_t size;
	void *hdr;
	u64 id;
	int r;

	r = dirtylog_nl_perm(skb, info->extack);
	if (!r)
		r = check_name(tb[DM_DIRTYLOG_A_CKPT_NAME], info->extack);
	if (r)
		return r;
	name = nla_data(tb[DM_DIRTYLOG_A_CKPT_NAME]);
	size = nla_total_size_64bit(sizeof(u64));
	if (tb[DM_DIRTYLOG_A_DEVICE])
		size = DIRTYLOG_NL_MAX_DEVICES * ckpt_new_reply_size();
	msg = genlmsg_new(size, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &dirtylog_nl_family, 0,
				DM_DIRTYLOG_CMD_CKPT_NEW);
	r = -EMSGSIZE;
	if (!hdr)
		goto out_free;

	if (tb[DM_DIRTYLOG_A_DEVICE]) {
		r = ckpt_new_many(info, name, msg);
	} else {
		st = dirtylog_nl_get(tb, info->extack, &r);
		if (st) {
			r = ckpt_error(dirtylog_store_checkpoint(st, name, &id),
				       info->extack);
			dirtylog_store_put(st);
			if (!r && WARN_ON_ONCE(nla_put_u64_64bit(msg, DM_DIRTYLOG_A_CKPT_ID,
								 id, DM_DIRTYLOG_A_PAD)))
				r = -EMSGSIZE;
		}
	}
	if (r)
		goto out_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
	return r;
}

/* Most BITMAP nests one MARK_DIRTY may carry. */
#define DIRTYLOG_NL_MAX_MARK_CHUNKS	1024

/*
 * The blocks a MARK_DIRTY names: MARK_START + MARK_COUNT, or BITMAP nests
 * (returned in *@chunksp, pointing into the request, for the caller to
 * free).  Each nest is checked here for what does not need the device.
 */
static int mark_chunks_parse(struct genl_info *info,
			     struct dirtylog_mark_chunk **chunksp,
			     unsigned int *nr)
{
	struct nlattr **tb = info->attrs;
	struct nlattr *bt[DM_DIRTYLOG_A_BM_MAX + 1];
	struct dirtylog_mark_chunk *c;
	struct nlattr *a;
	unsigned int n = 0;
	u32 bytes = 0, len;
	int rem, r;

	*chunksp = NULL;
	*nr = 0;
	if (!tb[DM_DIRTYLOG_A_BITMAP]) {
		if (tb[DM_DIRTYLOG_A_MARK_START] && tb[DM_DIRTYLOG_A_MARK_COUNT])
			return 0;
		NL_SET_ERR_MSG(info->extack,
			       "dm-dirtylog: mark start and count, or bitmaps, are required");
		return -EINVAL;
	}
	if (tb[DM_DIRTYLOG_A_MARK_START] || tb[DM_DIRTYLOG_A_MARK_COUNT]) {
		NL_SET_ERR_MSG(info->extack,
			       "dm-dirtylog: give a range or bitmaps, not both");
		return -EINVAL;
	}
	nla_for_each_attr(a, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem)
		if (nla_type(a) == DM_DIRTYLOG_A_BITMAP)
			n++;
	if (n > DIRTYLOG_NL_MAX_MARK_CHUNKS) {
		NL_SET_ERR_MSG(info->extack, "dm-dirtylog: too many bitmap chunks");
		return -E2BIG;
	}
	c = kcalloc(n, sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	n = 0;
	nla_for_each_attr(a, genlmsg_data(info->genlhdr), genlmsg_len(info->genlhdr), rem) {
		if (nla_type(a) != DM_DIRTYLOG_A_BITMAP)
			continue;
		r = nla_parse_nested(bt, DM_DIRTYLOG_A_BM_MAX, a,
				     dirtylog_nl_bm_policy, info->extack);
		if (r)
			goto fail;
		r = -EINVAL;
		if (!bt[DM_DIRTYLOG_A_BM_START] || !bt[DM_DIRTYLOG_A_BM_DATA]) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "dm-dirtylog: a bitmap needs a start and data");
			goto fail;
		}
		len = nla_len(bt[DM_DIRTYLOG_A_BM_DATA]);
		c[n].start = nla_get_u64(bt[DM_DIRTYLOG_A_BM_START]);
		if (!len || len % 8 || c[n].start % 64) {
			NL_SET_ERR_MSG_ATTR(info->extack, a,
					    "dm-dirtylog: bitmap start must be a multiple of 64 and data whole 64-bit words");
			goto fail;
		}
		bytes += len;
		if (bytes > DM_DIRTYLOG_MARK_BITMAP_MAX) {
			NL_SET_ERR_MSG(info->extack,
				       "dm-dirtylog: too much bitmap data in one request");
			r = -E2BIG;
			goto fail;
		}
		c[n].words = nla_data(bt[DM_DIRTYLOG_A_BM_DATA]);
		c[n].nr_words = len / 8;
		n++;
	}
	*chunksp = c;
	*nr = n;
	return 0;
fail:
	kfree(c);
	return r;
}

/* Run @op on the selected device: CKPT_DEL, RESET and MARK_DIRTY. */
static int dirtylog_nl_simple_doit(struct sk_buff *skb, struct genl_info *info)
{
	struct dirtylog_mark_chunk *chunks = NULL;
	struct nlattr **tb = info->attrs;
	unsigned int nr_chunks = 0;
	struct dirtylog_store *st;
	int r;

	r = dirtylog_nl_perm(skb, info->extack);
	if (r)
		return r;
	if (info->genlhdr->cmd == DM_DIRTYLOG_CMD_CKPT_DEL) {
		r = check_name(tb[DM_DIRTYLOG_A_CKPT_NAME], info->extack);
		if (r)
			return r;
	}
	if (info->genlhdr->cmd == DM_DIRTYLOG_CMD_MARK_DIRTY) {
		r = mark_chunks_parse(info, &chunks, &nr_chunks);
		if (r)
			return r;
	}
	st = dirtylog_nl_get(tb, info->extack, &r);
	if (st) {
		switch (info->genlhdr->cmd) {
		case DM_DIRTYLOG_CMD_CKPT_DEL:
			r = dirtylog_store_delete(st, nla_data(tb[DM_DIRTYLOG_A_CKPT_NAME]), 0);
			break;
		case DM_DIRTYLOG_CMD_RESET:
			r = dirtylog_store_reset(st);
			break;
		default:
			if (chunks)
				r = dirtylog_store_mark_chunks(st, chunks, nr_chunks);
			else
				r = dirtylog_store_mark(st,
							nla_get_u64(tb[DM_DIRTYLOG_A_MARK_START]),
							nla_get_u64(tb[DM_DIRTYLOG_A_MARK_COUNT]));
			if (r == -EINVAL && !chunks)
				NL_SET_ERR_MSG(info->extack,
					       "dm-dirtylog: range empty or outside the device");
			else if (r == -ERANGE)
				NL_SET_ERR_MSG(info->extack,
					       "dm-dirtylog: bitmap sets blocks past the end of the device");
			break;
		}
		ckpt_error(r, info->extack);
		dirtylog_store_put(st);
	}
	kfree(chunks);
	return r;
}

/* Parse a dump request again in each callback (both kernels agree on this). */
static int dump_attrs(struct netlink_callback *cb, struct nlattr **tb)
{
	return nlmsg_parse(cb->nlh, GENL_HDRLEN, tb, DM_DIRTYLOG_A_MAX,
			   dirtylog_nl_policy, cb->extack);
}

struct ckpt_dump {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	u64 after;		/* id of the last checkpoint sent */
};

static int ckpt_dump_one(void *ctx, const struct dirtylog_ckpt_info *ci)
{
	struct ckpt_dump *d = ctx;
	void *hdr;

	/* Ids only grow: whatever was created or deleted meanwhile, resuming
	 * after the last id sent neither skips nor repeats an entry.
	 */
	if (ci->id <= d->after)
		return 0;
	hdr = genlmsg_put(d->skb, NETLINK_CB(d->cb->skb).portid,
			  d->cb->nlh->nlmsg_seq, &dirtylog_nl_family, NLM_F_MULTI,
			  DM_DIRTYLOG_CMD_CKPT_GET);
	if (!hdr)
		return 1;
	genl_dump_check_consistent(d->cb, hdr);
	if (nla_put_string(d->skb, DM_DIRTYLOG_A_CKPT_NAME, ci->name) ||
	    nla_put_u64_64bit(d->skb, DM_DIRTYLOG_A_CKPT_ID, ci->id, DM_DIRTYLOG_A_PAD) ||
	    nla_put_u64_64bit(d->skb, DM_DIRTYLOG_A_CKPT_CTIME, ci->ctime_ns,
			      DM_DIRTYLOG_A_PAD)) {
		genlmsg_cancel(d->skb, hdr);
		return 1;
	}
	genlmsg_end(d->skb, hdr);
	d->after = ci->id;
	return 0;
}

/*
 * cb->args[0]: id of the last checkpoint sent; cb->seq: the checkpoint
 * generation at the start, so that a create or delete between two
 * messages flags the dump NLM_F_DUMP_INTR (the entries sent are still
 * each exactly once).
 */
static int dirtylog_nl_ckpt_get_dumpit(struct sk_buff *skb,
				       struct netlink_callback *cb)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct ckpt_dump d = { .skb = skb, .cb = cb, .after = cb->args[0] };
	struct dirtylog_dev_info di;
	struct dirtylog_store *st;
	int r;

	r = dirtylog_nl_perm(cb->skb, cb->extack);
	if (!r)
		r = dump_attrs(cb, tb);
	if (r)
		return r;
	st = dirtylog_nl_get(tb, cb->extack, &r);
	if (!st)
		return r;
	/* A new generation flags the next message (nl_dump_check_consistent()). */
	dirtylog_store_info(st, &di);
	cb->seq = (unsigned int)di.generation + 1;
	r = dirtylog_store_list(st, ckpt_dump_one, &d);
	dirtylog_store_put(st);
	if (r < 0)		/* not an empty list: the client must know */
		return ckpt_error(r, cb->extack);
	cb->args[0] = d.after;
	return skb->len;
}

/* ---------------------------------------------------------------------- */
/* Dirty map */

struct dirty_dump {
	struct sk_buff *skb;
	struct netlink_callback *cb;
	void *hdr;
	u64 resume;		/* first block not sent yet */
	bool full;		/* an extent did not fit */
};

static int dirty_dump_extent(void *ctx, u64 start, u64 count)
{
	struct dirty_dump *d = ctx;
	struct nlattr *nest;

	nest = nla_nest_start(d->skb, DM_DIRTYLOG_A_EXTENT);
	if (!nest)
		goto full;
	if (nla_put_u64_64bit(d->skb, DM_DIRTYLOG_A_EXT_START, start,
			      DM_DIRTYLOG_A_EXT_PAD) ||
	    nla_put_u64_64bit(d->skb, DM_DIRTYLOG_A_EXT_COUNT, count,
			      DM_DIRTYLOG_A_EXT_PAD)) {
		nla_nest_cancel(d->skb, nest);
		goto full;
	}
	nla_nest_end(d->skb, nest);
	d->resume = start + count;
	return 0;
full:
	d->full = true;
	return 1;
}

/* Word @k of a bitmap as 64 bits, whatever the size of a long. */
static u64 bitmap_word64(const unsigned long *bits, u32 k)
{
#if BITS_PER_LONG == 64
	return bits[k];
#else
	return bits[2 * k] | (u64)bits[2 * k + 1] << 32;
#endif
}

static int dirty_dump_chunk(void *ctx, u64 start, const unsigned long *bits,
			    u32 nbits)
{
	struct dirty_dump *d = ctx;
	u32 nwords = DIV_ROUND_UP(nbits, 64), k;
	struct nlattr *nest, *data;
	u8 *dst;
	u64 w;

	nest = nla_nest_start(d->skb, DM_DIRTYLOG_A_BITMAP);
	if (!nest)
		goto full;
	if (nla_put_u64_64bit(d->skb, DM_DIRTYLOG_A_BM_START, start,
			      DM_DIRTYLOG_A_BM_PAD))
		goto cancel;
	data = nla_reserve(d->skb, DM_DIRTYLOG_A_BM_DATA, nwords * 8);
	if (!data)
		goto cancel;
	dst = nla_data(data);
#if defined(__LITTLE_ENDIAN) && BITS_PER_LONG == 64
	/* The wire format is the in-memory one: one copy. */
	memcpy(dst, bits, nwords * 8);
	k = nwords - 1;
#else
	for (k = 0; k < nwords - 1; k++)
		put_unaligned_le64(bitmap_word64(bits, k), dst + 8 * k);
#endif
	/* Bits past the end of the chunk go out clear. */
	w = bitmap_word64(bits, k);
	if (nbits % 64)
		w &= GENMASK_ULL(nbits % 64 - 1, 0);
	put_unaligned_le64(w, dst + 8 * k);
	nla_nest_end(d->skb, nest);
	d->resume = start + nbits;
	return 0;
cancel:
	nla_nest_cancel(d->skb, nest);
full:
	d->full = true;
	return 1;
}

/*
 * cb->args[0]: first block still to send; cb->args[1]: set once the last
 * message went out; cb->seq: the checkpoint generation at the start, so a
 * checkpoint operation during the dump (between messages or during the
 * walk of one) marks it interrupted.
 */
static int dirtylog_nl_dirty_get_dumpit(struct sk_buff *skb,
					struct netlink_callback *cb)
{
	struct nlattr *tb[DM_DIRTYLOG_A_MAX + 1];
	struct dirty_dump d = { .skb = skb, .cb = cb, .resume = cb->args[0] };
	struct dirtylog_query q = {
		.extent = dirty_dump_extent, .chunk = dirty_dump_chunk, .ctx = &d,
	};
	struct dirtylog_dev_info di;
	struct dirtylog_store *st;
	u64 gen;
	int r;

	if (cb->args[1])
		return 0;
	r = dirtylog_nl_perm(cb->skb, cb->extack);
	if (!r)
		r = dump_attrs(cb, tb);
	if (!r && !tb[DM_DIRTYLOG_A_SINCE]) {
		NL_SET_ERR_MSG(cb->extack, "dm-dirtylog: a since checkpoint is required");
		r = -EINVAL;
	}
	if (!r)
		r = check_name(tb[DM_DIRTYLOG_A_SINCE], cb->extack);
	if (!r && tb[DM_DIRTYLOG_A_UNTIL])
		r = check_name(tb[DM_DIRTYLOG_A_UNTIL], cb->extack);
	if (r)
		return r;

	st = dirtylog_nl_get(tb, cb->extack, &r);
	if (!st)
		return r;
	dirtylog_store_info(st, &di);
	if (!cb->args[2]) {
		cb->seq = (unsigned int)di.generation + 1;
		cb->args[2] = 1;
	}
	d.hdr = genlmsg_put(skb, NETLINK_CB(cb->skb).portid, cb->nlh->nlmsg_seq,
			    &dirtylog_nl_family, NLM_F_MULTI,
			    DM_DIRTYLOG_CMD_DIRTY_GET);
	r = -EMSGSIZE;
	if (!d.hdr)
		goto out_put;
	/* Interrupted when the checkpoints changed since the first message. */
	if ((unsigned int)di.generation + 1 != cb->seq)
		cb->seq = (unsigned int)di.generation + 1;
	genl_dump_check_consistent(cb, d.hdr);
	if (nla_put_u64_64bit(skb, DM_DIRTYLOG_A_GENERATION, di.generation,
			      DM_DIRTYLOG_A_PAD)) {
		genlmsg_cancel(skb, d.hdr);
		goto out_put;
	}
	q.since = nla_data(tb[DM_DIRTYLOG_A_SINCE]);
	q.until = tb[DM_DIRTYLOG_A_UNTIL] ? nla_data(tb[DM_DIRTYLOG_A_UNTIL]) : NULL;
	q.from = d.resume;
	q.format = tb[DM_DIRTYLOG_A_DUMP_FORMAT] ?
		   nla_get_u32(tb[DM_DIRTYLOG_A_DUMP_FORMAT]) : DM_DIRTYLOG_DUMP_AUTO;
	r = dirtylog_store_query(st, &q);
	if (r) {
		genlmsg_cancel(skb, d.hdr);
		if (r == -ENOENT)
			NL_SET_ERR_MSG(cb->extack, "dm-dirtylog: no checkpoint of that name");
		else if (r == -EINVAL)
			NL_SET_ERR_MSG(cb->extack, "dm-dirtylog: until must be newer than since");
		else
			ckpt_error(r, cb->extack);
		goto out_put;
	}
	/*
	 * A checkpoint operation during the walk: the pages after it were
	 * answered for the new state.  Flag this message, which may be the
	 * last one (the final NLMSG_DONE is checked against cb->seq too).
	 */
	gen = di.generation;
	dirtylog_store_info(st, &di);
	if (di.generation != gen) {
		cb->seq = (unsigned int)di.generation + 1;
		genl_dump_check_consistent(cb, d.hdr);
	}
	genlmsg_end(skb, d.hdr);
	cb->args[0] = d.resume;
	/* The walk ended without running out of room: that was the last one. */
	if (!d.full)
		cb->args[1] = 1;
	r = skb->len;
out_put:
	dirtylog_store_put(st);
	return r;
}

/* ---------------------------------------------------------------------- */
/* Notifications */

/**
 * dirtylog_nl_notify() - announce an event on the "events" group
 * @st: the device
 * @cmd: DM_DIRTYLOG_CMD_*_NTF
 * @ckpt: checkpoint name, or NULL
 * @id: checkpoint id, or 0
 *
 * Context: process context, may sleep (GFP_NOIO: the worker calls it, and
 * requests inside their memalloc_noio scope).
 */
static void dirtylog_nl_notify(struct dirtylog_store *st, u8 cmd,
			       const char *ckpt, u64 id)
{
	struct sk_buff *msg;
	void *hdr;

	if (!genl_has_listeners(&dirtylog_nl_family, &init_net, 0))
		return;
	msg = genlmsg_new(NLMSG_DEFAULT_SIZE, GFP_NOIO);
	if (!msg)
		return;
	hdr = genlmsg_put(msg, 0, 0, &dirtylog_nl_family, 0, cmd);
	if (DIRTYLOG_EVENTS_OPEN) {
		/* Anybody may listen here (compat.h): say only which device. */
		struct dirtylog_dev_info di;

		dirtylog_store_info(st, &di);
		if (!hdr || put_dev_id(msg, &di)) {
			nlmsg_free(msg);
			return;
		}
	} else if (!hdr || put_dev_info(msg, st) ||
	    (ckpt && nla_put_string(msg, DM_DIRTYLOG_A_CKPT_NAME, ckpt)) ||
	    (id && nla_put_u64_64bit(msg, DM_DIRTYLOG_A_CKPT_ID, id, DM_DIRTYLOG_A_PAD))) {
		nlmsg_free(msg);
		return;
	}
	genlmsg_end(msg, hdr);
	genlmsg_multicast(&dirtylog_nl_family, msg, 0, 0, GFP_NOIO);
}

/* ---------------------------------------------------------------------- */
/* Family */

static const struct genl_ops dirtylog_nl_ops[] = {
	{
		.cmd = DM_DIRTYLOG_CMD_DEV_GET,
		.doit = dirtylog_nl_dev_get_doit,
		.dumpit = dirtylog_nl_dev_get_dumpit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_CKPT_NEW,
		.doit = dirtylog_nl_ckpt_new_doit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_CKPT_DEL,
		.doit = dirtylog_nl_simple_doit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_CKPT_GET,
		.dumpit = dirtylog_nl_ckpt_get_dumpit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_RESET,
		.doit = dirtylog_nl_simple_doit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_DIRTY_GET,
		.dumpit = dirtylog_nl_dirty_get_dumpit,
	},
	{
		.cmd = DM_DIRTYLOG_CMD_MARK_DIRTY,
		.doit = dirtylog_nl_simple_doit,
	},
};

static const struct genl_multicast_group dirtylog_nl_mcgrps[] = {
	/* A dirty map and checkpoint names are for the administrator only. */
	{ .name = DM_DIRTYLOG_MCGRP_EVENTS, DIRTYLOG_MCGRP_ADMIN, },
};

static struct genl_family dirtylog_nl_family __ro_after_init = {
	.name = DM_DIRTYLOG_GENL_NAME,
	.version = DM_DIRTYLOG_GENL_VERSION,
	.maxattr = DM_DIRTYLOG_A_MAX,
	.policy = dirtylog_nl_policy,
	.netnsok = false,
	.parallel_ops = true,
	.module = THIS_MODULE,
	.ops = dirtylog_nl_ops,
	.n_ops = ARRAY_SIZE(dirtylog_nl_ops),
	.mcgrps = dirtylog_nl_mcgrps,
	.n_mcgrps = ARRAY_SIZE(dirtylog_nl_mcgrps),
};

/* Register the family and become the target's event hook. */
int __init dirtylog_nl_init(void)
{
	int r = genl_register_family(&dirtylog_nl_family);

	if (!r)
		dirtylog_store_set_notify(dirtylog_nl_notify);
	return r;
}

void dirtylog_nl_exit(void)
{
	dirtylog_store_set_notify(NULL);
	genl_unregister_family(&dirtylog_nl_family);
}
