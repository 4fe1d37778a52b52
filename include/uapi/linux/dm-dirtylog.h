/* SPDX-License-Identifier: GPL-2.0-only WITH Linux-syscall-note */
/*
 * dm-dirtylog userspace API: constants shared by the kernel target and the
 * dirtylogctl controller, and the generic netlink family "dm-dirtylog".
 * Documented by Documentation/netlink/specs/dm-dirtylog.yaml.
 *
 * Append-only: never renumber, reuse or change a value.
 */
#ifndef _UAPI_LINUX_DM_DIRTYLOG_H
#define _UAPI_LINUX_DM_DIRTYLOG_H

/* Device-mapper target name, as used in table lines. */
#define DM_DIRTYLOG_TARGET_NAME		"dirtylog"

/* Tracking block size limits, in 512-byte sectors (powers of two). */
#define DM_DIRTYLOG_MIN_BLOCK_SECTORS	8U	/* 4 KiB */
#define DM_DIRTYLOG_MAX_BLOCK_SECTORS	131072U	/* 64 MiB */

/* Longest checkpoint name; names use A-Z a-z 0-9 . _ : + - */
#define DM_DIRTYLOG_NAME_MAX		64

#define DM_DIRTYLOG_GENL_NAME		"dm-dirtylog"
#define DM_DIRTYLOG_GENL_VERSION	1
#define DM_DIRTYLOG_MCGRP_EVENTS	"events"

enum dm_dirtylog_state {
	DM_DIRTYLOG_STATE_RW = 1,	/* tracking */
	DM_DIRTYLOG_STATE_INVALID,	/* gaps after a metadata error: full backup */
	DM_DIRTYLOG_STATE_FAIL,		/* metadata unusable: writes refused */
};

/* Top-level attributes. */
enum {
	DM_DIRTYLOG_A_UNSPEC,
	DM_DIRTYLOG_A_PAD,
	DM_DIRTYLOG_A_DEV_NAME,		/* string: dm device name */
	DM_DIRTYLOG_A_DEV_UUID,		/* string: dm uuid */
	DM_DIRTYLOG_A_DEV_MAJOR,	/* u32 */
	DM_DIRTYLOG_A_DEV_MINOR,	/* u32 */
	DM_DIRTYLOG_A_BLOCK_SECTORS,	/* u32 */
	DM_DIRTYLOG_A_NR_BLOCKS,	/* u64 */
	DM_DIRTYLOG_A_SIZE_SECTORS,	/* u64 */
	DM_DIRTYLOG_A_STATE,		/* u32: enum dm_dirtylog_state */
	DM_DIRTYLOG_A_DIRTY_ACTIVE,	/* u64: blocks dirty in the active interval */
	DM_DIRTYLOG_A_NR_CHECKPOINTS,	/* u32 */
	DM_DIRTYLOG_A_LATEST_ID,	/* u64: 0 when there is no checkpoint */
	DM_DIRTYLOG_A_META_USED,	/* u64: 4 KiB metadata blocks */
	DM_DIRTYLOG_A_META_TOTAL,	/* u64 */
	DM_DIRTYLOG_A_INSTANCE_UUID,	/* string: 32 hex digits */
	DM_DIRTYLOG_A_CKPT_NAME,	/* string */
	DM_DIRTYLOG_A_CKPT_ID,		/* u64 */
	DM_DIRTYLOG_A_CKPT_CTIME,	/* u64: ns since the epoch */
	DM_DIRTYLOG_A_SINCE,		/* string: checkpoint name */
	DM_DIRTYLOG_A_UNTIL,		/* string: checkpoint name */
	DM_DIRTYLOG_A_EXTENT,		/* nest: DM_DIRTYLOG_A_EXT_* (repeated) */
	DM_DIRTYLOG_A_GENERATION,	/* u64: changes with every checkpoint op */
	DM_DIRTYLOG_A_DEVICE,		/* nest: a device selector (repeated) */
	DM_DIRTYLOG_A_MARK_START,	/* u64: first block */
	DM_DIRTYLOG_A_MARK_COUNT,	/* u64: number of blocks */
	DM_DIRTYLOG_A_BITMAP,		/* nest: DM_DIRTYLOG_A_BM_* (repeated) */
	DM_DIRTYLOG_A_DUMP_FORMAT,	/* u32: enum dm_dirtylog_dump_format */
	DM_DIRTYLOG_A_STRAY_CKPT,	/* string: left by a failed CKPT_NEW */
	DM_DIRTYLOG_A_META_COMMITS,	/* u64: commits since the metadata was opened */

	__DM_DIRTYLOG_A_MAX,
	DM_DIRTYLOG_A_MAX = __DM_DIRTYLOG_A_MAX - 1
};

/* Attributes of DM_DIRTYLOG_A_EXTENT. */
enum {
	DM_DIRTYLOG_A_EXT_UNSPEC,
	DM_DIRTYLOG_A_EXT_PAD,
	DM_DIRTYLOG_A_EXT_START,	/* u64: first block */
	DM_DIRTYLOG_A_EXT_COUNT,	/* u64: number of blocks */

	__DM_DIRTYLOG_A_EXT_MAX,
	DM_DIRTYLOG_A_EXT_MAX = __DM_DIRTYLOG_A_EXT_MAX - 1
};

/*
 * Attributes of DM_DIRTYLOG_A_BITMAP: a raw chunk of the dirty bitmap.
 * Bit i of the chunk (bit i % 8 of byte i / 8 of _BM_DATA) is block
 * _BM_START + i.  _BM_START is a multiple of 64 and the data a multiple
 * of 8 bytes; bits past the end of the device are zero.
 */
enum {
	DM_DIRTYLOG_A_BM_UNSPEC,
	DM_DIRTYLOG_A_BM_PAD,
	DM_DIRTYLOG_A_BM_START,		/* u64: block of bit 0 */
	DM_DIRTYLOG_A_BM_DATA,		/* binary: little-endian bitmap */

	__DM_DIRTYLOG_A_BM_MAX,
	DM_DIRTYLOG_A_BM_MAX = __DM_DIRTYLOG_A_BM_MAX - 1
};

/*
 * How DIRTY_GET encodes the map.  AUTO lets the kernel choose per chunk of
 * DM_DIRTYLOG_BM_CHUNK_BITS blocks whichever is smaller: EXTENT nests for
 * sparse stretches, BITMAP nests for dense ones.  Either way the items of
 * a dump are in ascending block order and never overlap; an extent may end
 * where a bitmap chunk starts, so a client that wants maximal extents
 * joins neighbours.
 */
enum dm_dirtylog_dump_format {
	DM_DIRTYLOG_DUMP_AUTO,
	DM_DIRTYLOG_DUMP_EXTENTS,
	DM_DIRTYLOG_DUMP_BITMAP,
};

/* Blocks per BITMAP chunk of a dump (the last one may be shorter). */
#define DM_DIRTYLOG_BM_CHUNK_BITS	10880U

/* Most bytes of bitmap data one MARK_DIRTY request may carry in total. */
#define DM_DIRTYLOG_MARK_BITMAP_MAX	32768U

/*
 * Commands.  A device is selected by DM_DIRTYLOG_A_DEV_NAME, _DEV_UUID or
 * _DEV_MAJOR + _DEV_MINOR (top level, or inside DM_DIRTYLOG_A_DEVICE nests
 * for CKPT_NEW on several devices at once).
 */
enum {
	DM_DIRTYLOG_CMD_UNSPEC,
	DM_DIRTYLOG_CMD_DEV_GET,	/* do: one device; dump: all */
	DM_DIRTYLOG_CMD_CKPT_NEW,	/* CKPT_NAME; one device or DEVICE nests */
	DM_DIRTYLOG_CMD_CKPT_DEL,	/* CKPT_NAME */
	DM_DIRTYLOG_CMD_CKPT_GET,	/* dump: the checkpoints of a device */
	DM_DIRTYLOG_CMD_RESET,
	DM_DIRTYLOG_CMD_DIRTY_GET,	/* dump: SINCE [UNTIL] [DUMP_FORMAT] */
	DM_DIRTYLOG_CMD_MARK_DIRTY,	/* MARK_START + MARK_COUNT, or BITMAPs */

	/* Notifications on DM_DIRTYLOG_MCGRP_EVENTS. */
	DM_DIRTYLOG_CMD_CKPT_CREATED_NTF,
	DM_DIRTYLOG_CMD_CKPT_DELETED_NTF,
	DM_DIRTYLOG_CMD_STATE_NTF,
	DM_DIRTYLOG_CMD_SPACE_LOW_NTF,
	DM_DIRTYLOG_CMD_RESIZE_NTF,

	__DM_DIRTYLOG_CMD_MAX,
	DM_DIRTYLOG_CMD_MAX = __DM_DIRTYLOG_CMD_MAX - 1
};

#endif /* _UAPI_LINUX_DM_DIRTYLOG_H */
