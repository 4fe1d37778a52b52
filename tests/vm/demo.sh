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

say "Write 1 MiB through the device and read it back from the data disk"
dd if=/dev/urandom of=/tmp/pattern bs=1M count=1 2>/dev/null
run dd if=/tmp/pattern of=/dev/mapper/demo bs=1M seek=3 oflag=direct
echo "written:   $(sha256sum < /tmp/pattern | cut -c1-16)"
echo "data disk: $(dd if=/dev/vda bs=1M skip=3 count=1 iflag=direct 2>/dev/null | sha256sum | cut -c1-16)"

say "Remove the device and unload the module"
run dirtylogctl remove demo
run rmmod dm_dirtylog
echo
echo "demo: done"
