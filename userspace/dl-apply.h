/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Apply and verify diff streams (dirtylogctl apply, verify).
 *
 * A target remembers which chain it holds in a state file (by default
 * TARGET.dlstate for a regular file, /var/lib/dirtylogctl/apply-NAME.state
 * for a block device /dev/.../NAME):
 *
 *	dirtylog-apply 1
 *	state complete|incomplete
 *	uuid HEX32          (device instance; "-" for rbd diffs)
 *	checkpoint NAME
 *	id N
 *	size BYTES
 *
 * It says "incomplete" from before the first write of an apply until the
 * last stream is applied and flushed, so a failed apply is never mistaken
 * for a good one: the next apply must start again from a full export.
 */
#ifndef DL_APPLY_H
#define DL_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include "dl-export.h"

/* The contents of a state file. */
struct dl_apply_state {
	bool complete;
	char uuid[33];			/* "" for "-" (rbd) */
	char ckpt[DM_DIRTYLOG_NAME_MAX + 1];	/* "" for "-" */
	uint64_t id, size;
};

/*
 * dl_apply_state_parse() - parse the @len bytes of a state file at @buf
 * into @st: the six lines above, each exactly once, the first one first,
 * each "KEY VALUE\n" with one space (the checkpoint, which can be an rbd
 * snapshot name, may hold more); uuid 32 lower-case hex digits or "-";
 * checkpoint at most DM_DIRTYLOG_NAME_MAX bytes or "-"; id and size
 * decimal without sign that fit in 64 bits.  Returns 0, or -EBADMSG for
 * anything else (then the state file is refused, never half-believed).
 */
int dl_apply_state_parse(const char *buf, size_t len, struct dl_apply_state *st);

struct dl_stream_summary {
	const char *file;
	int format;			/* enum dl_diff_format */
	bool full, fuzzy;
	char uuid[33];			/* "" for rbd */
	char base[80], new_name[80];
	uint64_t base_id, new_id, size, block_size;
	uint64_t records, data_bytes, zero_bytes;
};

/*
 * dl_apply() - apply @n streams in order to @target (file or block
 * device), checking the chain and each record before writing it.
 * @state: state file, NULL for the default.  @sum gets one summary per
 * stream applied (the caller gives room for @n).  Returns 0 or -errno
 * with a reason in @err naming the file and record.
 */
int dl_apply(char **files, unsigned int n, const char *target,
	     const char *state, enum dl_progress progress,
	     struct dl_stream_summary *sum, char *err, size_t errlen);

/*
 * dl_verify() - read @n streams to their end, checking every checksum and,
 * when @chain, that each continues the one before.  Fills @sum.
 */
int dl_verify(char **files, unsigned int n, bool chain,
	      struct dl_stream_summary *sum, char *err, size_t errlen);

#endif /* DL_APPLY_H */
