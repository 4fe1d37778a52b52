/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Kernel API differences between the supported kernels (5.15 to 7.1;
 * README.md, "Supported kernels").  The code is written against the
 * newest API; anything an older kernel lacks is backfilled here, selected
 * by build-time probes of the kernel's headers in Kbuild, never by
 * LINUX_VERSION_CODE: distribution kernels backport APIs, so a version
 * number does not say what a header holds.
 *
 * Differences already absorbed without a shim:
 *  - dm_get_device() takes fmode_t on 6.1 and blk_mode_t on 6.12; the
 *    target passes dm_table_get_mode(), whose return type follows suit.
 */
#ifndef DIRTYLOG_COMPAT_H
#define DIRTYLOG_COMPAT_H

#include <linux/bitmap.h>
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>

/* 6.12 moved asm/unaligned.h to linux/unaligned.h (probed in Kbuild). */
#ifdef DIRTYLOG_HAVE_LINUX_UNALIGNED_H
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * The metadata device is opened read-write whatever the table's mode (as
 * dm-era and dm-clone do): commits write it even under a read-only table.
 * 6.5 turned fmode_t's FMODE_* into blk_mode_t's BLK_OPEN_* (probed).
 */
#ifdef DIRTYLOG_HAVE_BLK_OPEN
#define DIRTYLOG_META_OPEN_MODE	(BLK_OPEN_READ | BLK_OPEN_WRITE)
#else
#define DIRTYLOG_META_OPEN_MODE	(FMODE_READ | FMODE_WRITE)
#endif

/*
 * Binding to the "events" multicast group needs CAP_SYS_ADMIN: event
 * payloads name checkpoints and count dirty blocks.  The flag that makes
 * genetlink check that is GENL_MCAST_CAP_SYS_ADMIN (upstream 6.7, Debian's
 * 6.1 as a backport), the bit cap_sys_admin on 6.6.y, and missing on
 * kernels without that fix (5.15.100): there anybody may listen, so events
 * carry only which device and what happened (DIRTYLOG_EVENTS_OPEN), and a
 * listener asks for the rest with DEV_GET, which checks the capability.
 */
#if defined(DIRTYLOG_HAVE_GENL_MCAST_CAP)
#define DIRTYLOG_MCGRP_ADMIN	.flags = GENL_MCAST_CAP_SYS_ADMIN
#define DIRTYLOG_EVENTS_OPEN	0
#elif defined(DIRTYLOG_HAVE_GENL_MCAST_CAP_BIT)
#define DIRTYLOG_MCGRP_ADMIN	.cap_sys_admin = 1
#define DIRTYLOG_EVENTS_OPEN	0
#else
#define DIRTYLOG_MCGRP_ADMIN	.flags = 0
#define DIRTYLOG_EVENTS_OPEN	1
#endif

/*
 * dm_bufio_client_create() gained a flags argument (and
 * DM_BUFIO_CLIENT_NO_SLEEP, probed) in 6.0; 5.15 takes six arguments.
 * The module passes no flag, so the older call means the same.
 */
#ifdef DIRTYLOG_HAVE_BUFIO_FLAGS
#define dirtylog_bufio_client_create(bdev, bs, reserved, aux, alloc, write) \
	dm_bufio_client_create(bdev, bs, reserved, aux, alloc, write, 0)
#else
#define dirtylog_bufio_client_create(bdev, bs, reserved, aux, alloc, write) \
	dm_bufio_client_create(bdev, bs, reserved, aux, alloc, write)
#endif

/*
 * bitmap_from_arr64() appeared in 5.19 (probed); 5.15 has only the
 * 32-bit variant.  This backfill copies the low @nbits of @buf into
 * @bitmap and clears the bits of its last long beyond @nbits, as the
 * kernel's does.
 */
#ifndef DIRTYLOG_HAVE_BITMAP_FROM_ARR64
static inline void bitmap_from_arr64(unsigned long *bitmap, const u64 *buf,
				     unsigned int nbits)
{
	unsigned int i;

	for (i = 0; i < nbits; i += 64) {
		u64 w = buf[i / 64];

#if BITS_PER_LONG == 64
		*bitmap++ = w;
#else
		*bitmap++ = lower_32_bits(w);
		if (i + 32 < nbits)
			*bitmap++ = upper_32_bits(w);
#endif
	}
	if (nbits % BITS_PER_LONG)
		bitmap[-1] &= BITMAP_LAST_WORD_MASK(nbits);
}
#endif

/*
 * Exported by dm-mod (EXPORT_SYMBOL_GPL, used by dm-thin) on both kernels
 * but declared only in drivers/md/dm.h, which linux-headers does not ship.
 */
void dm_internal_suspend_noflush(struct mapped_device *md);
void dm_internal_resume(struct mapped_device *md);

#endif /* DIRTYLOG_COMPAT_H */
