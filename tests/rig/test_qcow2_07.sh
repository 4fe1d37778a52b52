#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 600
# qcow2 exports (userspace/dl-qcow2.c) against QEMU's own tools.  For
# several cluster sizes (4 KiB, 64 KiB, 2 MiB, and a chain that mixes
# them) and virtual sizes that are not a multiple of the cluster size,
# tests/rig/dl_qcow2_gen writes a chain full -> inc1 -> inc2 of random
# exports (each the backing file of the next, zero extents hiding backing
# data) and a raw model image of each point.  Every image must pass
# "qemu-img check" (no errors, no leaks), show the right virtual size,
# cluster size and backing file in "qemu-img info", and read the same as
# its model, by "qemu-img compare" run from another directory (the
# backing name is relative to the overlay) and by "qemu-img convert" +
# sha256.  Also: a multi-TiB image with a few clusters; an export freed
# before finishing is refused as qcow2.  Runs on the host.
#
#   tests/rig/test_qcow2_07.sh [BUILD_DIR]
#
# Environment: DL_SEED (random; printed).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
gen=$build/tests/rig/dl_qcow2_gen
seed=${DL_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
[[ $seed =~ ^[0-9]+$ ]] || { echo "DL_SEED must be a number" >&2; exit 2; }
tmp=$(mktemp -d /var/tmp/test_qcow2.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

n=0 failed=0
result() {		# result STATUS(0=ok) DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n $2"
	else
		echo "not ok $n $2"
		failed=$((failed + 1))
	fi
}
diag() { sed 's/^/# /'; }

# Chains: name, virtual size, cluster size of full, inc1, inc2.
chains=(
	"c4k $((37 << 20 | 1536)) 4096 4096 4096"
	"c64k $((300 << 20 | 3584)) 65536 65536 65536"
	"c2m $((70 << 20 | 512)) 2097152 2097152 2097152"
	"mixed $((50 << 20 | 4096 * 3)) 65536 4096 2097152"
)
per_image=4
echo "KTAP version 1"
echo "1..$((${#chains[@]} * (3 * per_image + 1) + 5))"
echo "# seed $seed (rerun with DL_SEED=$seed)"

if [ ! -x "$gen" ] || ! command -v qemu-img >/dev/null; then
	echo "# needs $gen (make tests) and qemu-img (scripts/deps: qemu-utils)"
	exit 1
fi

# json_field FILE KEY: the value of "KEY": in qemu-img's JSON output.
json_field() {
	sed -n "s/^ *\"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1" | head -n 1
}

# check_image DIR IMG MODEL SIZE CLUSTER BACKING: the per-image checks.
check_image() {
	local dir=$1 img=$2 model=$3 size=$4 cs=$5 backing=$6 out what
	what="$(basename "$dir")/$img"

	out=$(qemu-img check -f qcow2 "$dir/$img" 2>&1)
	rc=$?
	if [ $rc -eq 0 ] && grep -q '^No errors were found on the image' <<<"$out"; then
		result 0 "$what: qemu-img check finds no errors and no leaks"
	else
		diag <<<"$out"
		result 1 "$what: qemu-img check finds no errors and no leaks (status $rc)"
	fi

	qemu-img info --output=json -f qcow2 "$dir/$img" >"$dir/info.json" 2>&1
	local vs cl bf bff
	vs=$(json_field "$dir/info.json" virtual-size)
	cl=$(json_field "$dir/info.json" cluster-size)
	bf=$(json_field "$dir/info.json" backing-filename)
	bff=$(json_field "$dir/info.json" backing-filename-format)
	if [ "$vs" = "$size" ] && [ "$cl" = "$cs" ] && [ "$bf" = "$backing" ] &&
		{ [ -z "$backing" ] || [ "$bff" = qcow2 ]; }; then
		result 0 "$what: qemu-img info: virtual size $size, cluster $cs, backing '${backing}'"
	else
		diag <"$dir/info.json"
		result 1 "$what: qemu-img info: virtual size $vs (want $size), cluster $cl (want $cs), backing '$bf' (want '$backing') format '$bff'"
	fi

	# From / so that only the overlay's directory can resolve the chain.
	out=$(cd / && qemu-img compare -f raw -F qcow2 "$dir/$model" "$dir/$img" 2>&1)
	rc=$?
	if [ $rc -eq 0 ]; then
		result 0 "$what: qemu-img compare: identical to the model"
	else
		diag <<<"$out"
		result 1 "$what: qemu-img compare: identical to the model (status $rc)"
	fi

	local want got
	out=$(cd / && qemu-img convert -f qcow2 -O raw "$dir/$img" "$dir/conv.raw" 2>&1)
	want=$(sha256sum <"$dir/$model" | cut -d' ' -f1)
	got=$(sha256sum <"$dir/conv.raw" 2>/dev/null | cut -d' ' -f1)
	if [ -n "$got" ] && [ "$want" = "$got" ]; then
		result 0 "$what: converted to raw, sha256 equals the model's"
	else
		diag <<<"$out"
		result 1 "$what: converted to raw, sha256 $got equals the model's $want"
	fi
	rm -f "$dir/conv.raw"
}

s=$seed
for c in "${chains[@]}"; do
	read -r name size cs0 cs1 cs2 <<<"$c"
	dir=$tmp/$name
	mkdir -p "$dir"
	truncate -s "$size" "$dir/zero.raw"
	prev_img= prev_model=zero.raw hidden=0
	i=0
	for img in full.qcow2 inc1.qcow2 inc2.qcow2; do
		cs_var=cs$i
		cs=${!cs_var}
		model=${img%.qcow2}.raw
		cp --sparse=always "$dir/$prev_model" "$dir/$model"
		back=()
		[ -n "$prev_img" ] && back=(--backing "$prev_img" --backing-format qcow2 --hide)
		s=$((s + 1))
		out=$("$gen" --out "$dir/$img" --model "$dir/$model" --size "$size" \
			--cluster "$cs" --seed "$s" --extents 24 --max-data 24M "${back[@]}" 2>&1)
		rc=$?
		echo "# $name/$img: cluster $cs, size $size, seed $s: $(tail -n 1 <<<"$out")"
		if [ $rc -ne 0 ]; then
			diag <<<"$out"
			for ((k = 0; k < per_image; k++)); do
				result 1 "$name/$img: dl_qcow2_gen failed"
			done
		else
			check_image "$dir" "$img" "$model" "$size" "$cs" "$prev_img"
			[ -n "$prev_img" ] &&
				hidden=$((hidden + $(sed -n 's/.* \([0-9]*\) zero clusters over data.*/\1/p' <<<"$out" | tail -n 1)))
		fi
		prev_img=$img prev_model=$model
		i=$((i + 1))
	done
	# The comparisons can fail: inc2 differs from the point before it,
	# and zero extents of the increments did hide backing data (--hide
	# plans each increment so that one does).
	(cd / && qemu-img compare -q -f raw -F qcow2 "$dir/inc1.raw" "$dir/inc2.qcow2")
	rc=$?
	if [ $rc -eq 1 ] && [ "$hidden" -gt 0 ]; then
		result 0 "$name: inc2 differs from inc1's model; $hidden zero clusters hid backing data"
	else
		result 1 "$name: inc2 differs from inc1's model (compare status $rc); $hidden zero clusters hid backing data"
	fi
done

# A multi-TiB device with a few dirty clusters: 8 TiB with 4 KiB clusters
# is the largest L1 table QEMU accepts (32 MiB).
dir=$tmp/big
mkdir -p "$dir"
size=$((8 << 40))
if truncate -s "$size" "$dir/big.raw" 2>/dev/null; then
	s=$((s + 1))
	out=$("$gen" --out "$dir/big.qcow2" --model "$dir/big.raw" --size "$size" \
		--cluster 4096 --seed "$s" --extents 8 --max-data 1M 2>&1)
	rc=$?
	echo "# big: cluster 4096, size $size, seed $s: $(tail -n 1 <<<"$out")"
	if [ $rc -eq 0 ]; then
		check_image_big() {
			out=$(qemu-img check -f qcow2 "$dir/big.qcow2" 2>&1)
			rc=$?
			[ $rc -eq 0 ] && grep -q '^No errors were found' <<<"$out"
			result $? "8 TiB image: qemu-img check finds no errors and no leaks"
			qemu-img info --output=json -f qcow2 "$dir/big.qcow2" >"$dir/info.json" 2>&1
			[ "$(json_field "$dir/info.json" virtual-size)" = "$size" ]
			result $? "8 TiB image: qemu-img info shows virtual size $size"
			out=$(qemu-img compare -f raw -F qcow2 "$dir/big.raw" "$dir/big.qcow2" 2>&1)
			result $? "8 TiB image: qemu-img compare: identical to the model"
		}
		check_image_big
	else
		diag <<<"$out"
		for k in 1 2 3; do result 1 "8 TiB image: dl_qcow2_gen failed"; done
	fi
else
	for k in 1 2 3; do echo "ok $((n += 1)) 8 TiB image # SKIP the file system holds no 8 TiB sparse file"; done
fi
rm -rf "$dir"

# An export freed without dl_qcow2_finish() is no qcow2 image.
dir=$tmp/unfinished
mkdir -p "$dir"
s=$((s + 1))
out=$("$gen" --out "$dir/u.qcow2" --size 10M --cluster 65536 --seed "$s" --unfinished 2>&1)
rc=$?
if [ $rc -eq 0 ] && ! qemu-img info -f qcow2 "$dir/u.qcow2" >"$dir/info" 2>&1 &&
	! qemu-img check -f qcow2 "$dir/u.qcow2" >>"$dir/info" 2>&1; then
	result 0 "an unfinished export is refused as qcow2 ($(head -n 1 "$dir/info"))"
else
	diag <<<"$out"
	diag <"$dir/info"
	result 1 "an unfinished export is refused as qcow2"
fi

# The same export finished is accepted: the refusal above is about finish.
out=$("$gen" --out "$dir/f.qcow2" --size 10M --cluster 65536 --seed "$s" 2>&1) &&
	qemu-img check -q -f qcow2 "$dir/f.qcow2" >/dev/null 2>&1
result $? "the same export, finished, passes qemu-img check"

[ $failed -eq 0 ]
