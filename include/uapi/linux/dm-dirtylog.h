/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * dm-dirtylog userspace API: constants shared by the kernel target and the
 * dirtylogctl controller.  Append-only: never renumber or change a value.
 */
#ifndef _UAPI_LINUX_DM_DIRTYLOG_H
#define _UAPI_LINUX_DM_DIRTYLOG_H

/* Device-mapper target name, as used in table lines. */
#define DM_DIRTYLOG_TARGET_NAME		"dirtylog"

/* Tracking block size limits, in 512-byte sectors (powers of two). */
#define DM_DIRTYLOG_MIN_BLOCK_SECTORS	8U	/* 4 KiB */
#define DM_DIRTYLOG_MAX_BLOCK_SECTORS	131072U	/* 64 MiB */

#endif /* _UAPI_LINUX_DM_DIRTYLOG_H */
