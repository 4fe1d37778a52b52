/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * LVM snapshots for 'dirtylogctl export --lvm': the data device is an LVM
 * logical volume and the point-in-time copy is 'lvcreate --snapshot'.
 */
#ifndef DL_LVM_H
#define DL_LVM_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * lvcreate, run while the device stacked on the LV is suspended, is killed
 * after DL_LVM_SUSPENDED_TIMEOUT_S: one that waits on that device would
 * never finish.  The other commands (before the suspend and after the
 * resume) cannot wait on it; a loaded system may make them slow, and
 * killing an lvremove would fail an export whose data is complete, so
 * they get DL_LVM_TIMEOUT_S.
 */
#define DL_LVM_SUSPENDED_TIMEOUT_S	60
#define DL_LVM_TIMEOUT_S		600

struct dl_lvm {
	char vg[128], lv[128];	/* the origin LV */
	char snap[128];		/* the snapshot LV's name */
	char path[PATH_MAX];	/* the snapshot's node */
	char config[2048];	/* --config of every command: only the VG's PVs */
	uint64_t extent_bytes, free_bytes;	/* of the VG */
	pid_t stuck;		/* a child killed on timeout, not yet reaped */
	bool made;		/* the snapshot exists */
	bool maybe;		/* lvcreate failed: the snapshot might exist */
};

/*
 * dl_lvm_open() - check that @major:@minor is an LVM logical volume, find
 * its VG, LV and the VG's PVs, and that no LV named @snap exists in the
 * VG.  Scans devices: call it before anything is suspended.  Returns 0 or
 * -errno with a reason in @err (-EINVAL: not an LVM logical volume).
 */
int dl_lvm_open(struct dl_lvm *l, uint32_t major, uint32_t minor,
		const char *snap, char *err, size_t errlen);

/*
 * dl_lvm_snapshot() - lvcreate --snapshot -n l->snap -L @bytes VG/LV,
 * scanning only the VG's PVs and never a suspended device, within
 * DL_LVM_SUSPENDED_TIMEOUT_S seconds.  May be called while a device stacked on the
 * LV is suspended.  On failure l->maybe says the snapshot might have been
 * made after all (dl_lvm_remove() cleans up), and l->stuck may hold a
 * killed child to reap (dl_lvm_reap()) once the suspend is over.
 */
int dl_lvm_snapshot(struct dl_lvm *l, uint64_t bytes, char *err, size_t errlen);

/* dl_lvm_reap() - wait a little for a killed child; warn when it stays. */
void dl_lvm_reap(struct dl_lvm *l);

/*
 * dl_lvm_wait_node() - wait (up to a few seconds, for udev) until the
 * snapshot's node l->path can be opened.
 */
int dl_lvm_wait_node(struct dl_lvm *l, char *err, size_t errlen);

/*
 * dl_lvm_remove() - lvremove -f the snapshot when it was made (or might
 * have been).  Returns 0 or -errno with a reason in @err.
 */
int dl_lvm_remove(struct dl_lvm *l, char *err, size_t errlen);

#endif /* DL_LVM_H */
