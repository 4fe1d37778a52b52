/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The generic netlink family "dm-dirtylog" (dirtylog-netlink.c), the
 * layer above the store interface (dirtylog-store.h).
 */
#ifndef DIRTYLOG_NETLINK_H
#define DIRTYLOG_NETLINK_H

int dirtylog_nl_init(void);
void dirtylog_nl_exit(void);

#endif /* DIRTYLOG_NETLINK_H */
