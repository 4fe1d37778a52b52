#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 600
# The qcow2 bitmap sidecar (userspace/dl-qcow2bm.c, issue #21) against
# QEMU's and libnbd's own tools.  For granularities of 4 KiB and 64 KiB,
# cluster sizes from 4 KiB to 2 MiB, virtual sizes that are not a multiple
# of the granularity, a full map, an empty one, no bitmap and a 1 TiB
# device, tests/rig/dl_qcow2bm_gen writes an image over a raw data file
# with a seeded random set of dirty granules.  Then:
#   - "qemu-img check" finds no error and no leak;
#   - "qemu-img info" shows the virtual size, the raw data file and the
#     bitmap with its name and granularity, neither in use nor auto;
#   - served read-only by qemu-nbd -B, "nbdinfo --map=qemu:dirty-bitmap:B"
#     lists exactly the generated granules, base:allocation is served and
#     covers the device, and "qemu-img map" with x-dirty-bitmap agrees;
#   - the data read over NBD (nbdcopy) is the data file, byte for byte;
#   - bad granularities, cluster sizes and names are refused.
# Runs on the host.
#
#   tests/rig/test_qcow2bm_12.sh [BUILD_DIR]
#
# Environment: DL_SEED (random; printed).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd) || exit 1
gen=$build/tests/rig/dl_qcow2bm_gen
seed=${DL_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
[[ $seed =~ ^[0-9]+$ ]] || { echo "DL_SEED must be a number" >&2; exit 2; }
tmp=$(mktemp -d /var/tmp/test_qcow2bm.XXXXXX)
srv_pid=
cleanup()
{
	[[ -n $srv_pid ]] && kill "$srv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

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

# Granule runs "START COUNT", merged where they touch, from byte ranges of
# nbdinfo's map (lines "OFFSET LENGTH TYPE DESC"; TYPE bit 0 = dirty).
map_to_runs()
{
	awk -v g="$1" '$3 % 2 == 1 {
		s = int($1 / g); e = int(($1 + $2 + g - 1) / g)
		if (n && s <= pe) { if (e > pe) pe = e; next }
		if (n) print ps, pe - ps
		ps = s; pe = e; n = 1
	} END { if (n) print ps, pe - ps }'
}

# The same for the generator's "ext START COUNT" lines.
gen_to_runs()
{
	awk '$1 == "ext" {
		s = $2; e = $2 + $3
		if (n && s <= pe) { if (e > pe) pe = e; next }
		if (n) print ps, pe - ps
		ps = s; pe = e; n = 1
	} END { if (n) print ps, pe - ps }'
}

serve()			# serve IMG BITMAP: qemu-nbd on $tmp/nbd.sock
{
	rm -f "$tmp/nbd.sock" "$tmp/nbd.pid"
	# From the image's directory: qemu-nbd takes a relative data file
	# name as relative to its working directory.
	(cd "$(dirname "$1")" &&
		qemu-nbd -r -f qcow2 ${2:+-B "$2"} --socket="$tmp/nbd.sock" --persistent \
			--fork --pid-file="$tmp/nbd.pid" "$1") 2>"$tmp/nbd.err" || return 1
	srv_pid=$(cat "$tmp/nbd.pid")
}

unserve()
{
	[[ -n $srv_pid ]] && kill "$srv_pid" 2>/dev/null
	while [[ -n $srv_pid ]] && kill -0 "$srv_pid" 2>/dev/null; do sleep 0.1; done
	srv_pid=
}

uri() { echo "nbd+unix:///?socket=$tmp/nbd.sock"; }

echo "KTAP version 1"
echo "# seed $seed (DL_SEED=$seed repeats this run)"
# name size cluster gran extents options
cases=(
	"g4k-c64k 67108864 65536 4096 12"
	"g4k-c4k-odd 10000896 4096 4096 8"
	"g64k-c64k-odd 100007936 65536 65536 16"
	"g64k-c2m 201326592 2097152 65536 6"
	"g4k-c512-one-granule 4096 512 4096 1"
	"g4k-full 33554432 65536 4096 1 --all"
	"g4k-empty 33554432 65536 4096 0"
	"g64k-1tib 1099511627776 2097152 65536 5"
)
echo "1..$((${#cases[@]} * 4 + 2))"
i=0
for c in "${cases[@]}"; do
	read -r name size cs gran next opt <<<"$c"
	i=$((i + 1))
	raw=$tmp/$name.raw img=$tmp/$name.qcow2
	# The data: random in small images, sparse in the large one.
	if ((size <= 256 << 20)); then
		head -c "$size" /dev/urandom >"$raw"
	else
		truncate -s "$size" "$raw"
		printf 'somewhere in the middle' | dd of="$raw" bs=1 seek=$((size / 2 + 12345)) \
			conv=notrunc status=none
	fi
	bm=b$i-$name
	if ! "$gen" --out "$img" --size "$size" --cluster "$cs" --data "$name.raw" \
			--bitmap "$bm" --gran "$gran" --seed "$((seed + i))" --extents "$next" \
			${opt:-} >"$tmp/$name.gen" 2>&1; then
		diag <"$tmp/$name.gen"
		for t in check info map data; do result 1 "$name: $t (no image)"; done
		continue
	fi
	echo "# $name: $(grep -c '^ext' "$tmp/$name.gen") extents of $(awk '$1 == "bits" { print $2 }' "$tmp/$name.gen") granules"

	# 1. qemu-img check.
	out=$(cd "$tmp" && qemu-img check "$img" 2>&1)
	st=$?
	[[ $st -eq 0 && $out == *"No errors were found"* && $out != *leak* ]]
	r=$?
	((r)) && diag <<<"$out"
	result "$r" "$name: qemu-img check finds no error and no leak"

	# 2. qemu-img info.
	(cd "$tmp" && qemu-img info --output=json "$img") >"$tmp/info.json" 2>&1
	r=0
	python3 - "$size" "$name.raw" "$bm" "$gran" "$tmp/info.json" >"$tmp/info.diag" 2>&1 <<'PY' || r=1
import json, sys
size, data, bm, gran = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
i = json.load(open(sys.argv[5]))
d = i["format-specific"]["data"]
assert i["virtual-size"] == size, i["virtual-size"]
assert d["data-file"] == data and d["data-file-raw"] is True, d
b = d["bitmaps"]
assert len(b) == 1 and b[0]["name"] == bm and b[0]["granularity"] == gran, b
assert b[0]["flags"] == [], b[0]["flags"]
PY
	((r)) && diag <"$tmp/info.diag"
	result "$r" "$name: qemu-img info: size, raw data file, bitmap $bm of granularity $gran, not in use"

	# 3. Over NBD: the dirty bitmap, base:allocation, qemu-img map.
	r=1
	if serve "$img" "$bm"; then
		nbdinfo --map="qemu:dirty-bitmap:$bm" "$(uri)" >"$tmp/map" 2>&1 &&
			nbdinfo --map "$(uri)" >"$tmp/alloc" 2>&1 &&
			qemu-img map --output=json --image-opts \
				"driver=nbd,server.type=unix,server.path=$tmp/nbd.sock,x-dirty-bitmap=qemu:dirty-bitmap:$bm" \
				>"$tmp/qmap" 2>&1
		st=$?
		want=$(gen_to_runs <"$tmp/$name.gen")
		got=$(map_to_runs "$gran" <"$tmp/map")
		# qemu-img map reports a dirty range as "data": false.
		qgot=$(python3 -c '
import json, sys
g = int(sys.argv[1]); runs = []
for e in json.load(open(sys.argv[2])):
    if e["data"]:
        continue
    s, t = e["start"] // g, -(-(e["start"] + e["length"]) // g)
    if runs and s <= runs[-1][1]:
        runs[-1][1] = max(runs[-1][1], t)
    else:
        runs.append([s, t])
for s, t in runs:
    print(s, t - s)' "$gran" "$tmp/qmap" 2>&1)
		alloc=$(awk '{ t += $2 } END { printf "%.0f\n", t }' "$tmp/alloc")
		if [[ $st -eq 0 && $got == "$want" && $qgot == "$want" && $alloc == "$size" ]]; then
			r=0
		else
			{
				echo "exit $st; want runs:"; echo "$want" | head -5
				echo "nbdinfo:"; echo "$got" | head -5
				echo "qemu-img map:"; echo "$qgot" | head -5
				echo "base:allocation covers $alloc of $size"
				head -5 "$tmp/nbd.err"
			} 2>&1 | diag
		fi
	else
		diag <"$tmp/nbd.err"
	fi
	result "$r" "$name: nbdinfo --map=qemu:dirty-bitmap and qemu-img map x-dirty-bitmap list exactly the dirty granules; base:allocation served"

	# 4. The data over NBD is the data file.
	r=1
	if [[ -n $srv_pid ]]; then
		if ((size <= 256 << 20)); then
			nbdcopy "$(uri)" "$tmp/copy" 2>&1 | diag
			cmp "$tmp/copy" "$raw" 2>&1 | diag
			[[ ${PIPESTATUS[0]} -eq 0 ]] && r=0
			rm -f "$tmp/copy"
		else
			# 1 TiB: the one written spot, through qemu-io's reads.
			got=$(qemu-io -r -f raw -c "read -v $((size / 2 + 12345)) 23" "$(uri)" 2>&1)
			[[ $got == *"somewhere.in.the"* && $got == *" .middle"* ]] && r=0
			((r)) && diag <<<"$got"
		fi
		unserve
	fi
	result "$r" "$name: the data read over NBD is the data file"
	rm -f "$raw"
done

# Bad arguments are refused with a reason.
bad=0
for args in "--gran 3000|power of two" "--gran 256|power of two" \
	"--gran 4096 --cluster 3000|power of two" "--gran 4096 --cluster 4194304|power of two" \
	"--gran 4096 --size 1000|multiple of 512"; do
	msg=${args#*|}
	# shellcheck disable=SC2086
	if "$gen" --out "$tmp/bad.qcow2" --size 1048576 --data x.raw --bitmap b \
			${args%|*} >"$tmp/bad.out" 2>&1 || ! grep -q "$msg" "$tmp/bad.out"; then
		echo "# '${args%|*}': accepted or without '$msg':"
		diag <"$tmp/bad.out"
		bad=1
	fi
done
if "$gen" --out "$tmp/bad.qcow2" --size 1048576 --data x.raw --bitmap "" --gran 4096 \
		>"$tmp/bad.out" 2>&1 || ! grep -q '1 to 1023 bytes' "$tmp/bad.out"; then
	diag <"$tmp/bad.out"
	bad=1
fi
result "$bad" "bad granularity, cluster size and empty bitmap name are refused"

# No bitmap: a plain data-file image, still clean and served.
r=1
head -c 1048576 /dev/urandom >"$tmp/nobm.raw"
if "$gen" --out "$tmp/nobm.qcow2" --size 1048576 --data nobm.raw >/dev/null 2>&1 &&
	(cd "$tmp" && qemu-img check nobm.qcow2 >/dev/null 2>&1) && serve "$tmp/nobm.qcow2" "" &&
	nbdcopy "$(uri)" "$tmp/nobm.copy" && cmp -s "$tmp/nobm.copy" "$tmp/nobm.raw"; then
	r=0
fi
unserve
result "$r" "without a bitmap: clean, and serves the data file"

echo "# $n tests, $failed failed"
((failed == 0))
