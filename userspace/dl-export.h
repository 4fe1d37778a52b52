/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Export of changed data (dirtylogctl export), its point-in-time snapshot,
 * and revert.  The command line lives in dirtylogctl.c; this is the part
 * tests and other front ends can call.
 */
#ifndef DL_EXPORT_H
#define DL_EXPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dl-nl.h"

enum dl_export_format {
	DL_EXPORT_NATIVE,
	DL_EXPORT_RBD,
	DL_EXPORT_QCOW2,
	DL_EXPORT_RAW,
};

enum dl_progress {
	DL_PROGRESS_AUTO,	/* a line on stderr when it is a terminal */
	DL_PROGRESS_NONE,
	DL_PROGRESS_JSON,	/* one JSON object per line on stderr */
};

/*
 * A progress report on stderr for export, apply and revert: "WHAT: done /
 * total MiB, rate, ETA" rewritten in place at most once a second (auto,
 * when stderr is a terminal), or one JSON object per line (json).
 */
struct dl_progress_line {
	enum dl_progress mode;	/* auto resolved: none or auto (= a line) */
	uint64_t total, done;	/* bytes */
	double start, last;
	const char *what;
};

void dl_progress_init(struct dl_progress_line *pg, enum dl_progress mode,
		      uint64_t total, const char *what);
/* Show @pg (at most once a second unless @final, which ends the line). */
void dl_progress_show(struct dl_progress_line *pg, bool final);

struct dl_export_opts {
	const char *device;	/* dm name of the dirtylog device */
	const char *since;	/* base checkpoint; NULL: full export */
	const char *checkpoint;	/* the checkpoint the export creates */
	const char *output;	/* file, or "-" for standard output */
	const char *cow;	/* snapshot store: block device or file; NULL: temporary file */
	uint64_t cow_bytes;	/* size of a COW file made here; 0: from the dirty map */
	const char *backing;	/* qcow2: the previous export in the chain */
	enum dl_export_format format;
	enum dl_progress progress;
	bool fuzzy;		/* read the live device, no snapshot */
	bool lvm;		/* the data device is an LVM LV: lvcreate --snapshot */
};

struct dl_export_result {
	uint64_t base_id, new_id;
	uint64_t size;			/* bytes */
	uint32_t block_size;		/* bytes */
	uint64_t dirty_blocks;		/* blocks the map named */
	uint64_t data_bytes, zero_bytes;	/* what went out as data and as zero */
	uint64_t read_bytes;		/* read from the device (clean gaps included) */
	double seconds;
	bool rolled_back;		/* failed, and the new checkpoint was deleted again */
};

/*
 * dl_export() - create checkpoint o->checkpoint and write the data as it was
 * at that instant, changed since o->since (or all of it), to o->output.
 * On any failure after the checkpoint was made it is deleted again, so the
 * next export still covers everything.  Returns 0 or -errno with a reason
 * in @err.
 */
int dl_export(struct dl_nl *nl, const struct dl_export_opts *o,
	      struct dl_export_result *res, char *err, size_t errlen);

/*
 * dl_revert() - write back from @image every block of @device dirty since
 * checkpoint @ckpt, so that the device equals the image again (when the
 * image holds the device's content at @ckpt).  Unless @force, the device
 * must not be in use (opened exclusively).  The writes go through the
 * dirtylog device and are tracked.  @blocks and @bytes: what was copied.
 */
int dl_revert(struct dl_nl *nl, const char *device, const char *ckpt,
	      const char *image, bool force, enum dl_progress progress,
	      uint64_t *blocks, uint64_t *bytes, char *err, size_t errlen);

/* dl_export_format_parse() - "native", "rbd-diff", "qcow2", "raw"; -1 else. */
int dl_export_format_parse(const char *s);
const char *dl_export_format_name(enum dl_export_format f);

/* Set by a signal handler: a running export or revert stops and cleans up. */
extern volatile int dl_export_interrupted;

#endif /* DL_EXPORT_H */
