/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel API differences between the supported kernels (6.1 LTS and
 * 6.12 LTS).  The code is written against the newest API; anything an
 * older kernel lacks is backfilled here (selected by build-time probes in
 * Kbuild where a header check is not enough), never by LINUX_VERSION_CODE
 * scattered through .c files.
 *
 * Differences already absorbed without a shim:
 *  - dm_get_device() takes fmode_t on 6.1 and blk_mode_t on 6.12; the
 *    target passes dm_table_get_mode(), whose return type follows suit.
 */
#ifndef DIRTYLOG_COMPAT_H
#define DIRTYLOG_COMPAT_H

#endif /* DIRTYLOG_COMPAT_H */
