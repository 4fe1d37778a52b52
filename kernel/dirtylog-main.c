// SPDX-License-Identifier: GPL-2.0-only
/*
 * dm-dirtylog module entry points: the netlink family first (it hooks the
 * target's events), then the device-mapper target; the other way round on
 * unload.
 */
#include <linux/device-mapper.h>
#include <linux/module.h>

#include "dirtylog-metadata.h"
#include "dirtylog-netlink.h"
#include "dirtylog-store.h"

#define DM_MSG_PREFIX "dirtylog"

static int __init dirtylog_init(void)
{
	int r;

	dirtylog_csum_init();
	r = dirtylog_nl_init();
	if (r) {
		DMERR("cannot register the netlink family: %d", r);
		return r;
	}
	r = dirtylog_target_init();
	if (r)
		dirtylog_nl_exit();
	return r;
}

static void __exit dirtylog_exit(void)
{
	dirtylog_target_exit();
	dirtylog_nl_exit();
}

module_init(dirtylog_init);
module_exit(dirtylog_exit);

MODULE_DESCRIPTION(DM_NAME " target recording changed blocks per checkpoint");
MODULE_LICENSE("GPL");
MODULE_VERSION(DIRTYLOG_VERSION);
