#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The kernel matrix (issue #20, README.md "Supported kernels"): for every
# kernel the module was built for by 'make' (Debian's kernels and the
# trees of scripts/kernel-trees), the module is there, built against that
# kernel (its vermagic), and each compatibility probe of Kbuild chose what
# that kernel's history says it has.  The probes grep the kernel's headers;
# a pattern that matches the wrong thing still compiles on some kernels
# (the open-events fallback of compat.h compiles everywhere), so the
# choices are checked against a table written from the upstream history
# here, independently of the probes.  A kernel whose tree is missing is
# reported as skipped.
#
#   tests/rig/test_kbuild_11.sh [BUILD_DIR]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1

# ver_ge A B: version A >= B (major.minor only).
ver_ge()
{
	local a=$1 b=$2
	[[ $(printf '%s\n%s\n' "$b" "$a" | sort -V | head -n 1) == "$b" ]]
}

# expected KVER: the probes' macros, from when each API went upstream.
expected()
{
	local k=$1 v want=()
	v=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$k")
	# bitmap_from_arr64(): 5.19.
	ver_ge "$v" 5.19 && want+=(BITMAP_FROM_ARR64)
	# BLK_OPEN_* (blk_mode_t): 6.5.
	ver_ge "$v" 6.5 && want+=(BLK_OPEN)
	# dm_bufio_client_create() flags: 6.0.
	ver_ge "$v" 6.0 && want+=(BUFIO_FLAGS)
	# GENL_MCAST_CAP_SYS_ADMIN: 6.7, and Debian's 6.1 as a backport; the
	# 6.6.y stable line has the cap_sys_admin bit instead.
	if ver_ge "$v" 6.7 || [[ $k == 6.1.*-cloud-amd64 ]]; then
		want+=(GENL_MCAST_CAP)
	elif [[ $v == 6.6 ]]; then
		want+=(GENL_MCAST_CAP_BIT)
	fi
	# linux/unaligned.h: 6.12.
	ver_ge "$v" 6.12 && want+=(LINUX_UNALIGNED_H)
	((${#want[@]})) && printf '%s\n' "${want[@]}" | sort | tr '\n' ' '
}

kernels=()
for k in $("$top/scripts/kvers"); do
	kernels+=("$k debian")
done
while read -r v kind dir; do
	kernels+=("$v $kind")
done < <("$top/scripts/kernel-trees" list "$build")

echo "KTAP version 1"
echo "1..$((${#kernels[@]} + 1))"
n=0 rc=0 built=0
for line in "${kernels[@]}"; do
	read -r k kind <<<"$line"
	n=$((n + 1))
	name="$k ($kind): module built against it, probes as its history says"
	if [[ $kind == missing ]]; then
		echo "ok $n $name # SKIP no kernel tree"
		continue
	fi
	ko=$build/kmod/$k/dm-dirtylog.ko
	cmd=$build/kmod/$k/kernel/.dirtylog-netlink.o.cmd
	if [[ ! -f $ko || ! -f $cmd ]]; then
		echo "# $ko or $cmd missing: run make first"
		echo "not ok $n $name"
		rc=1
		continue
	fi
	built=$((built + 1))
	vm=$(modinfo -F vermagic "$ko")
	got=$(grep -o -- '-DDIRTYLOG_HAVE_[A-Z0-9_]*' "$cmd" | sed 's/^-DDIRTYLOG_HAVE_//' |
		sort -u | tr '\n' ' ')
	want=$(expected "$k")
	if [[ $vm == "$k "* && $got == "$want" ]]; then
		echo "# $k: ${got:-no probe matched}"
		echo "ok $n $name"
	else
		echo "# vermagic: $vm"
		echo "# probes: '$got', expected '$want'"
		echo "not ok $n $name"
		rc=1
	fi
done
# The oldest and the newest kernel of the matrix must really be there on
# a machine that has the trees, or the matrix proves little.
n=$((n + 1))
if ((built >= 2)); then
	echo "ok $n $built kernels checked"
else
	echo "not ok $n only $built kernels built"
	rc=1
fi
exit $rc
