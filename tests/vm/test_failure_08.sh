#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# Metadata device failures in both modes, recovery by reload, growing and
# the refusal to shrink, one metadata device per live device, and answers
# while suspended.
. "$(dirname "$0")/lib.sh"
trap 'dl_cleanup; modprobe -r dm-flakey' EXIT

dl_cleanup
dl_fresh_meta
modprobe dm-dirtylog || exit 1
modprobe dm-flakey
ktap_plan 28

msz=$(dl_sectors $DL_META)
len=$(dl_sectors $DL_DATA)
dev=/dev/mapper/fl
dmsetup create mdl --table "0 $msz linear $DL_META 0" || exit 1
dmsetup mknodes

wr() { dd if=/dev/urandom of=$dev bs=4096 seek="$1" count=1 oflag=direct 2>/dev/null; }
dirty() { dmsetup message fl 0 dirty "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
events() { dmsetup info fl | sed -n 's/^Event number: *//p'; }
meta_to() {		# meta_to TABLE: swap what lies under the metadata
	dmsetup suspend mdl && dmsetup load mdl --table "$1" && dmsetup resume mdl
}
reload_fl() { dmsetup suspend fl && dmsetup load fl --table "$1" && dmsetup resume fl; }
state() { dl_status_field fl 7; }
raw_block() { dd if=$DL_DATA bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | sha256sum; }

# --- default mode: the metadata device disappears ------------------------
table="0 $len dirtylog /dev/mapper/mdl $DL_DATA 8"
dmsetup create fl --table "$table" && dmsetup mknodes
wr 10 && dmsetup message fl 0 checkpoint c1 >/dev/null && wr 20
ev0=$(events)
before=$(raw_block 30)
meta_to "0 $msz error"
! wr 30
ktap_result $? "default mode: a first write after the metadata device fails is refused"
[ "$(state)" = fail ]
ktap_result $? "default mode: state is fail (got $(state))"
[ "$(events)" -gt "$ev0" ]
ktap_result $? "default mode: a dm event was raised ($ev0 -> $(events))"
[ "$(raw_block 30)" = "$before" ]
ktap_result $? "default mode: the refused write never reached the data device"
! wr 20
ktap_result $? "default mode: writes to marked blocks are refused too"
dd if=$dev of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null
ktap_result $? "default mode: reads keep working"
timeout 10 dmsetup status fl >/dev/null
ktap_result $? "default mode: status answers"

meta_to "0 $msz linear $DL_META 0"
reload_fl "$table"
ktap_result $? "reload over the healthy metadata device"
[ "$(state)" = rw ]
ktap_result $? "reload recovers: state rw (got $(state))"
wr 30
ktap_result $? "writes work again after recovery"
got=$(dirty c1)
[ "$got" = "20 1 30 1" ]
ktap_result $? "no mark was lost across the failure (dirty c1: '$got')"

# --- write errors only (dm-flakey error_writes), default mode ------------
meta_to "0 $msz flakey $DL_META 0 0 1 1 error_writes"
! wr 40
ktap_result $? "flakey error_writes: a first write is refused"
[ "$(state)" = fail ]
ktap_result $? "flakey error_writes: state is fail"
meta_to "0 $msz linear $DL_META 0"
reload_fl "$table" && wr 40
got=$(dirty c1)
[ "$got" = "20 1 30 1 40 1" ]
ktap_result $? "recovered after flakey: dirty c1 is '$got'"
dmsetup remove fl

# --- passthrough mode -----------------------------------------------------
dl_fresh_meta
ptable="0 $len dirtylog /dev/mapper/mdl $DL_DATA 8 1 passthrough_on_metadata_error"
dmsetup create fl --table "$ptable" && dmsetup mknodes
got=$(dmsetup table fl)
case $got in *" 1 passthrough_on_metadata_error") true ;; *) false ;; esac
ktap_result $? "the feature shows in the table line ($got)"
wr 10 && dmsetup message fl 0 checkpoint c1 >/dev/null && wr 20
meta_to "0 $msz error"
wr 50
ktap_result $? "passthrough: writes continue when the metadata device fails"
[ "$(state)" = invalid ]
ktap_result $? "passthrough: state is invalid (got $(state))"
! dmsetup message fl 0 dirty c1 >/dev/null 2>&1
ktap_result $? "passthrough: queries fail while invalid"
meta_to "0 $msz linear $DL_META 0"
reload_fl "$ptable"
[ "$(state)" = invalid ]
ktap_result $? "passthrough: invalid survives a reload (got $(state))"
dmsetup remove fl && dmsetup create fl --table "$ptable" && dmsetup mknodes
[ "$(state)" = invalid ]
ktap_result $? "passthrough: invalid survives remove + recreate (persisted)"
dmsetup message fl 0 reset && dmsetup message fl 0 checkpoint n1 >/dev/null && wr 60
got=$(dirty n1)
[ "$(state)" = rw ] && [ "$got" = "60 1" ]
ktap_result $? "reset starts a trusted chain again (state $(state), dirty n1 '$got')"
dmsetup remove fl

# --- grow and shrink -------------------------------------------------------
dl_fresh_meta
half=$((len / 2))
dmsetup create dl_data --table "0 $half linear $DL_DATA 0" && dmsetup mknodes
gtable="0 $half dirtylog /dev/mapper/mdl /dev/mapper/dl_data 8"
dmsetup create fl --table "$gtable" && dmsetup mknodes
wr 5 && dmsetup message fl 0 checkpoint g1 >/dev/null
dmsetup suspend dl_data && dmsetup load dl_data --table "0 $len linear $DL_DATA 0" &&
	dmsetup resume dl_data
reload_fl "0 $len dirtylog /dev/mapper/mdl /dev/mapper/dl_data 8"
ktap_result $? "grow: reload with twice the length"
got=$(dirty g1)
want="$((half / 8)) $(((len - half) / 8))"
[ "$got" = "$want" ]
ktap_result $? "grow: the new blocks are dirty since g1 (want '$want', got '$got')"
! reload_fl "$gtable" 2>/dev/null
ktap_result $? "shrink is refused"
dmsetup resume fl 2>/dev/null

# --- one live device per metadata device, answers while suspended --------
! dmsetup create fl2 --table "0 $(dl_sectors $DL_SPARE) dirtylog /dev/mapper/mdl $DL_SPARE 8" 2>/dev/null
ktap_result $? "a second live device on the same metadata is refused"
dmsetup suspend fl
timeout 10 dmsetup status fl >/dev/null
ktap_result $? "status answers while suspended"
got=$(timeout 10 dmsetup message fl 0 dirty g1 | tr '\n' ' ' | sed 's/ $//')
[ "$got" = "$want" ]
ktap_result $? "dirty answers while suspended ('$got')"
dmsetup resume fl
ktap_check "remove" dmsetup remove fl
ktap_finish
