#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The dirtylog target loads on this kernel, its table round-trips through
# dmsetup, status reports the block geometry, and the module unloads.
. "$(dirname "$0")/lib.sh"
trap dl_cleanup EXIT

ktap_plan 9
dl_cleanup
dl_fresh_meta

ktap_check "module loads" modprobe dm-dirtylog
ktap_check "target is registered with device-mapper" \
	sh -c 'dmsetup targets | grep -q "^dirtylog "'

meta=$(dl_devno $DL_META)
data=$(dl_devno $DL_DATA)
len=$(dl_sectors $DL_DATA)

ktap_check "create with a 64 KiB block size" \
	dmsetup create dl0 --table "0 $len dirtylog $DL_META $DL_DATA 128"

# The table comes back with devices as major:minor: a loadable line.
want="0 $len dirtylog $meta $data 128"
got=$(dmsetup table dl0)
[ "$got" = "$want" ]
ktap_result $? "table reads back as '$want' (got '$got')"

got=$(dmsetup table dl0)
dmsetup reload dl0 --table "$got" && dmsetup resume dl0
ktap_result $? "the printed table reloads"

ktap_check "remove" dmsetup remove dl0

# Status: block size in sectors and the number of blocks, the last one
# partial when the length is not a multiple of the block size.
dl_fresh_meta
odd=$((len - 24))
dmsetup create dl1 --table "0 $odd dirtylog $DL_META $DL_DATA 128"
want="0 $odd dirtylog 128 $(((odd + 127) / 128)) 0 0 0 "
got=$(dmsetup status dl1)
case $got in "$want"*/*" rw") true ;; *) false ;; esac
ktap_result $? "status of a fresh device with a partial last block is '$want.../... rw' (got '$got')"
ktap_check "remove the second device" dmsetup remove dl1
ktap_check "module unloads" rmmod dm_dirtylog

ktap_finish
