#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Benchmark (make bench): streaming the dirty map of a 1 TiB device at
# 64 KiB blocks (16 Mi blocks, over dm-zero; metadata on a brd RAM disk)
# with every other block dirty, against reading the same bitmap from
# tmpfs.  dl_bench_dirtymap does the work and prints the ratios.
. "$(dirname "$0")/lib.sh"
cleanup() {
	dl_cleanup
	rmmod brd dm_zero 2>/dev/null
	return 0
}
trap cleanup EXIT
dl_cleanup
modprobe dm-dirtylog && modprobe dm-zero && modprobe brd rd_nr=1 rd_size=65536 ||
	exit 1
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ -b /dev/ram0 ] && break
	sleep 0.2
done
[ -b /dev/ram0 ] || { echo "# no /dev/ram0: $(ls /dev | tr '\n' ' ')"; exit 1; }
sectors=$((1 << 31))	# 1 TiB
dmsetup create bzero --table "0 $sectors zero" && dmsetup mknodes &&
dl_fresh_meta /dev/ram0 &&
dmsetup create bdl --table "0 $sectors dirtylog /dev/ram0 /dev/mapper/bzero 128" ||
	exit 1
./dl_bench_dirtymap bdl
