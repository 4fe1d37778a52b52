# SPDX-License-Identifier: GPL-2.0-only
# Shared helpers for the VM shell tests (sourced).  Disks of the rig
# (data and spare: scripts/vm-run --disk-mib, make bench 1280 MiB):
#   /dev/vda  data, 512 MiB      /dev/vdb  metadata, 64 MiB
#   /dev/vdc  spare, 512 MiB
DL_DATA=/dev/vda
DL_META=/dev/vdb
DL_SPARE=/dev/vdc

_ktap_n=0
_ktap_failed=0

ktap_plan() {
	echo "KTAP version 1"
	echo "1..$1"
}

ktap_result() {		# ktap_result STATUS(0=ok) DESCRIPTION
	_ktap_n=$((_ktap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_ktap_n $2"
	else
		echo "not ok $_ktap_n $2"
		_ktap_failed=$((_ktap_failed + 1))
	fi
}

# ktap_check DESCRIPTION COMMAND...: one result from a command's status;
# the command's output is shown as diagnostics.
ktap_check() {
	_desc=$1
	shift
	_out=$("$@" 2>&1)
	_rc=$?
	[ -n "$_out" ] && echo "$_out" | sed 's/^/# /'
	ktap_result $_rc "$_desc"
}

ktap_diag() {
	echo "# $*"
}

ktap_finish() {
	[ "$_ktap_failed" -eq 0 ]
	exit $?
}

# Device number "major:minor" of a block device node.
dl_devno() {
	cat "/sys/class/block/${1##*/}/dev"
}

# Size of a block device in 512-byte sectors.
dl_sectors() {
	blockdev --getsz "$1"
}

# Remove every device-mapper device and the module, ignoring errors.
dl_cleanup() {
	dmsetup remove_all >/dev/null 2>&1
	rmmod dm_dirtylog >/dev/null 2>&1
	return 0
}

# sha256 of LEN bytes of a device at byte offset OFF (both multiples of 4096).
dl_sha() {		# dl_sha DEV OFF LEN
	dd if="$1" bs=4096 skip=$(($2 / 4096)) count=$(($3 / 4096)) iflag=direct 2>/dev/null |
		sha256sum | cut -d' ' -f1
}

# Poll until CMD... succeeds, once a second, for at most SECS seconds times
# DL_TIMEOUT_SCALE (slow kernels): the wait for something a background
# process is about to do, where a fixed sleep may be too short.
dl_wait_for() {		# dl_wait_for SECS CMD...
	_n=$(($1 * ${DL_TIMEOUT_SCALE:-1}))
	shift
	while ! "$@"; do
		[ $_n -gt 0 ] || return 1
		_n=$((_n - 1))
		sleep 1
	done
}

# True while a write is in flight on dm device NAME (bio accounting).
dl_write_inflight() {	# dl_write_inflight NAME
	_dm=$(dmsetup info -c --noheadings -o blkdevname "$1")
	[ "$(awk '{ print $2 }' /sys/block/$_dm/inflight)" -gt 0 ] 2>/dev/null
}

# Invert the bits MASK (default all) of the byte at offset OFF of a file:
# the byte always changes, whatever it held (writing a fixed value would
# leave a byte that already held it as it was).
dl_flip_byte() {	# dl_flip_byte FILE OFF [MASK]
	_b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	[ -n "$_b" ] || return 1
	printf "\\$(printf %03o $((_b ^ ${3:-255})))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}

# Give the metadata device an all-zero first block, so the next table load
# formats it afresh.
dl_fresh_meta() {
	dd if=/dev/zero of="${1:-$DL_META}" bs=64k count=16 oflag=direct 2>/dev/null
}

# True on a kernel with allocator debugging (scripts/debug-kernel: KASAN
# redzones and kmemleak's records make every allocation larger).
dl_debug_kernel() {
	[ -e /sys/kernel/debug/kmemleak ] || grep -q ' __asan_load8$' /proc/kallsyms
}

# Field N (1-based) of the target part of "dmsetup status" for device $1:
# block_sectors nr_blocks dirty_active nr_checkpoints latest_id used/total state
dl_status_field() {
	dmsetup status "$1" | awk -v f="$2" '{ print $(3 + f) }'
}
