/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace stand-ins for the kernel interfaces kernel/dirtylog-space.c
 * uses, so that test_spacemap can run it against a model.  Plain C, one
 * bit at a time where the kernel has word tricks: the kernel's bitmap
 * code is not under test.
 */
#ifndef DL_KSPACE_LINUX_BITMAP_H
#define DL_KSPACE_LINUX_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t u64;
typedef uint32_t u32;

#define BITS_PER_LONG		64
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define BIT_WORD(b)		((b) / BITS_PER_LONG)
#define BIT_MASK(b)		(1UL << ((b) % BITS_PER_LONG))

static inline bool test_bit(u64 b, const unsigned long *a)
{
	return a[BIT_WORD(b)] & BIT_MASK(b);
}

static inline void __set_bit(u64 b, unsigned long *a)
{
	a[BIT_WORD(b)] |= BIT_MASK(b);
}

static inline void __clear_bit(u64 b, unsigned long *a)
{
	a[BIT_WORD(b)] &= ~BIT_MASK(b);
}

static inline bool __test_and_set_bit(u64 b, unsigned long *a)
{
	bool was = test_bit(b, a);

	__set_bit(b, a);
	return was;
}

static inline unsigned long hweight_long(unsigned long w)
{
	return __builtin_popcountl(w);
}

static inline u64 find_next_bit(const unsigned long *a, u64 n, u64 i)
{
	for (; i < n; i++)
		if (test_bit(i, a))
			return i;
	return n;
}

static inline u64 find_next_zero_bit(const unsigned long *a, u64 n, u64 i)
{
	for (; i < n; i++)
		if (!test_bit(i, a))
			return i;
	return n;
}

static inline void bitmap_zero(unsigned long *a, u64 n)
{
	memset(a, 0, BITS_TO_LONGS(n) * sizeof(long));
}

static inline void bitmap_copy(unsigned long *d, const unsigned long *s, u64 n)
{
	memcpy(d, s, BITS_TO_LONGS(n) * sizeof(long));
}

static inline u64 bitmap_weight(const unsigned long *a, u64 n)
{
	u64 i, w = 0;

	for (i = 0; i < n; i++)
		w += test_bit(i, a);
	return w;
}

#define READ_ONCE(x)		(x)
#define WRITE_ONCE(x, v)	((x) = (v))
#define swap(a, b) \
	do { __typeof__(a) _t = (a); (a) = (b); (b) = _t; } while (0)

/* A WARN fails the test: the counts are never supposed to disagree. */
extern int dl_kspace_warnings;
#define WARN_ON_ONCE(c)	((c) ? (dl_kspace_warnings++, 1) : 0)

#define lockdep_assert_held(l)	((void)(l))
#define mutex_lock(l)		((void)(l))
#define mutex_unlock(l)		((void)(l))

/* Messages are expected (a double free is reported, not fatal). */
#define DMERR(...)		((void)0)
#define DMERR_LIMIT(...)	((void)0)

#endif
