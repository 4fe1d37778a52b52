/* SPDX-License-Identifier: GPL-2.0-only */
/* Everything dirtylog-space.c needs is in linux/bitmap.h here. */
#include <linux/bitmap.h>
