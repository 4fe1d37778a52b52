/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Pull-mode backup (dirtylogctl backup begin|end): a point-in-time
 * snapshot of a dirtylog device and a checkpoint made at the same
 * instant, a qcow2 sidecar over the snapshot carrying the frozen dirty
 * map as a persistent bitmap (dl-qcow2bm.h), served read-only by qemu-nbd
 * so that NBD backup tools read the qemu:dirty-bitmap:NAME context and
 * copy only what changed.
 *
 * A backup's state is a file DIR/NAME.state (DIR: $DIRTYLOG_BACKUP_DIR,
 * default /var/lib/dirtylog/backup), written before anything is built
 * and removed only when everything is gone again, so that a crash of the
 * tool or of the host leaves what "backup end" needs to clean up.
 */
#ifndef DL_BACKUP_H
#define DL_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include "dl-nl.h"

#define DL_BACKUP_DIR_DEFAULT	"/var/lib/dirtylog/backup"

struct dl_backup_opts {
	const char *device;	/* dm name of the dirtylog device */
	const char *since;	/* bitmap since this checkpoint; NULL: full */
	const char *checkpoint;	/* the checkpoint the backup creates */
	const char *socket;	/* unix socket; NULL: DIR/NAME.sock unless port */
	unsigned int port;	/* TCP port on 127.0.0.1 instead; 0: none */
	const char *cow;	/* snapshot store (as export --cow) */
	uint64_t cow_bytes;	/* size of a COW file made here; 0: default */
};

struct dl_backup_info {
	char image[4096];	/* the qcow2 sidecar */
	char snapshot[4096];	/* the snapshot's node (the data file) */
	char socket[4096];	/* "" with a TCP port */
	unsigned int port;
	char uri[4200];		/* nbd+unix:///?socket=... or nbd://127.0.0.1:N */
	char bitmap[256];	/* "" for a full backup (no bitmap) */
	uint64_t id, since_id;
	uint64_t size;		/* bytes */
	uint32_t block_size;	/* bytes: the bitmap's granularity */
	uint64_t dirty_blocks;
	int server_pid;
};

/*
 * dl_backup_begin() - take the snapshot and checkpoint, write the sidecar,
 * start qemu-nbd, and say where it serves in @info.  Refused before
 * anything is made (nothing left behind): a device not in state rw, a
 * backup of the device already running, a missing SINCE or an existing
 * NEW, a socket path that exists, a port in use, no qemu-nbd.  A failure
 * later removes what was built and deletes NEW again.  Returns 0 or
 * -errno with a reason in @err.
 */
int dl_backup_begin(struct dl_nl *nl, const struct dl_backup_opts *o,
		    struct dl_backup_info *info, char *err, size_t errlen);

struct dl_backup_end_result {
	bool server_was_dead;	/* the server had died: treated as failed */
	bool rolled_back;	/* NEW was deleted again */
	char checkpoint[128];
};

/*
 * dl_backup_end() - stop the server, remove the snapshot, the sidecar and
 * the state.  With @failed, or when the server had died, NEW is deleted
 * again (its interval merges back: the next backup since the previous
 * checkpoint still holds every change).  Works from the state file alone,
 * also after a crash of the tool or a reboot (whatever is gone already is
 * skipped).  Returns 0, -ENOENT when no backup of @device is recorded, or
 * -errno with a reason in @err.
 */
int dl_backup_end(struct dl_nl *nl, const char *device, bool failed,
		  struct dl_backup_end_result *res, char *err, size_t errlen);

#endif /* DL_BACKUP_H */
