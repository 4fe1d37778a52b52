/* SPDX-License-Identifier: GPL-2.0-only */
/* Small helpers shared by dirtylogctl and its tests. */
#ifndef DL_UTIL_H
#define DL_UTIL_H

#include <stdint.h>

/*
 * dl_parse_size() - parse a byte count such as "4096", "64K", "1M", "2G".
 * Suffixes K, M, G, T (powers of 1024, upper or lower case, optional "iB"
 * or "B") are accepted.  Returns 0 and stores the value, or -1 on a
 * malformed string or overflow.
 */
int dl_parse_size(const char *s, uint64_t *bytes);

/*
 * dl_block_size_sectors() - turn a block size in bytes into sectors, checking
 * the target's rule (power of two from 4 KiB to 64 MiB).  Returns the number
 * of 512-byte sectors, or 0 when the size is not allowed.
 */
uint32_t dl_block_size_sectors(uint64_t bytes);

#include <linux/dm-dirtylog.h>

#define DL_MIN_BLOCK_BYTES ((uint64_t)DM_DIRTYLOG_MIN_BLOCK_SECTORS << 9)
#define DL_MAX_BLOCK_BYTES ((uint64_t)DM_DIRTYLOG_MAX_BLOCK_SECTORS << 9)

#endif /* DL_UTIL_H */
