#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# The walk-through behind 'make demo', run inside the VM.
say() { printf '\n== %s\n' "$*"; }
run() { echo "# $*"; "$@"; }
set -e

say "Load the dm-dirtylog module"
run modprobe dm-dirtylog
run dmsetup targets

say "Create a dirtylog device over /dev/vda (metadata on /dev/vdb, 64 KiB blocks)"
run dirtylogctl create demo --data /dev/vda --metadata /dev/vdb --block-size 64K
run dirtylogctl status demo
run dmsetup table demo
run dmsetup status demo

say "Write 1 MiB at 3 MiB, then take checkpoint 'monday'"
run dd if=/dev/urandom of=/dev/mapper/demo bs=1M seek=3 count=1 oflag=direct
echo "checkpoint id: $(dmsetup message demo 0 checkpoint monday)"

say "Write 4 KiB at 10 MiB and 200 KiB at 100 MiB, then take checkpoint 'tuesday'"
run dd if=/dev/urandom of=/dev/mapper/demo bs=4k seek=2560 count=1 oflag=direct
run dd if=/dev/urandom of=/dev/mapper/demo bs=4k seek=25600 count=50 oflag=direct
echo "checkpoint id: $(dmsetup message demo 0 checkpoint tuesday)"

say "Discard 64 MiB at 256 MiB"
run blkdiscard -o 268435456 -l 67108864 /dev/mapper/demo

say "What changed since monday (64 KiB blocks: <start block> <count>)"
run dmsetup message demo 0 dirty monday
say "What changed between monday and tuesday"
run dmsetup message demo 0 dirty monday tuesday
say "What changed since tuesday"
run dmsetup message demo 0 dirty tuesday
run dmsetup message demo 0 list_checkpoints
run dmsetup status demo

say "Remove and re-create the device: the checkpoints are still there"
run dirtylogctl remove demo
run dirtylogctl create demo --data /dev/vda --metadata /dev/vdb --block-size 64K
run dmsetup message demo 0 dirty monday

say "Delete 'monday' (its interval merges away) and remove the device"
run dmsetup message demo 0 delete_checkpoint monday
run dmsetup message demo 0 list_checkpoints
run dirtylogctl remove demo
run rmmod dm_dirtylog
echo
echo "demo: done"
