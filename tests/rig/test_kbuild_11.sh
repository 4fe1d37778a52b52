#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The module builds on a kernel without GENL_MCAST_CAP_SYS_ADMIN (issue
# #18, finding 9): the 6.6.80 external-module tree of ../shared/kernels
# (6.6.y has the cap_sys_admin bit of the same fix instead; the module
# did not compile there before Kbuild probed it).  Unpacked under the
# build directory, built with W=1; any compiler warning or error fails.
# modpost's "undefined!" warnings are expected on these trees (they have
# no Module.symvers).  Skipped when the tree is not there.
#
#   tests/rig/test_kbuild_11.sh [BUILD_DIR]
#
# Environment: DL_KERNEL_TREES (default ../shared/kernels from the
# checkout, then /work/shared/kernels).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
trees=${DL_KERNEL_TREES:-}
for d in "$top/../shared/kernels" /work/shared/kernels; do
	[[ -z $trees && -f $d/extmod-6.6.80.tar.xz ]] && trees=$d
done
echo "KTAP version 1"
echo "1..2"
if [[ -z $trees ]]; then
	echo "ok 1 # SKIP no extmod-6.6.80.tar.xz (DL_KERNEL_TREES)"
	echo "ok 2 # SKIP no extmod-6.6.80.tar.xz"
	exit 0
fi
kdir=$build/extmod/6.6.80
mdir=$build/kmod/extmod-6.6.80
if [[ ! -f $kdir/Makefile ]]; then
	rm -rf "$kdir"
	mkdir -p "$kdir"
	tar -xJf "$trees/extmod-6.6.80.tar.xz" -C "$kdir" || exit 1
fi
rm -rf "$mdir"
mkdir -p "$mdir"
cp -a "$top/Kbuild" "$top/VERSION" "$top/kernel" "$top/include" "$mdir/"
out=$(make -s -C "$kdir" M="$mdir" W=1 KBUILD_MODPOST_WARN=1 modules 2>&1)
rc=$?
warn=$(echo "$out" | grep -E 'warning:|error:' | grep -v 'modpost: ' )
echo "$out" | grep -v 'undefined!' | sed 's/^/# /' | head -40
[[ $rc -eq 0 && -f $mdir/dm-dirtylog.ko ]]
echo "$([[ $? -eq 0 ]] && echo ok || echo not ok) 1 the module builds against 6.6.80"
[[ -z $warn ]]
echo "$([[ $? -eq 0 ]] && echo ok || echo not ok) 2 ... with no compiler warning"
[[ $rc -eq 0 && -f $mdir/dm-dirtylog.ko && -z $warn ]]
