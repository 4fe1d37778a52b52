/* SPDX-License-Identifier: GPL-2.0-only */
/* test_spacemap: the allocation kernel/compat.h provides, in userspace. */
#ifndef DL_KSPACE_COMPAT_H
#define DL_KSPACE_COMPAT_H

#include <linux/bitmap.h>

static inline void *dirtylog_kvcalloc_sized(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

#endif
