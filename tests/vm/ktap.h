/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * KTAP result lines for the VM programs that are not kselftest-harness
 * tests (benchmarks, the crash workload).  Include once per program.
 */
#ifndef DL_KTAP_H
#define DL_KTAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

static int ktap_n, ktap_failed;

static void ktap_result(bool ok, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), unused));

/* Print "ok N ..." or "not ok N ..." and count failures; flushed at once. */
static void ktap_result(bool ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d ", ok ? "" : "not ", ++ktap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		ktap_failed++;
}

#endif /* DL_KTAP_H */
