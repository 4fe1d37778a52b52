#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# Userspace is valgrind-clean: no invalid access, no definite leak, on the
# paths that run without a kernel (help, usage errors, failing operations)
# and in the native unit tests.  Every dirtylogctl run must also end with
# its documented exit code.  Runs on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
ctl=$build/bin/dirtylogctl
vg=(valgrind -q --error-exitcode=99 --leak-check=full
	--errors-for-leak-kinds=definite --trace-children=yes)

# Exit codes (dirtylogctl --help): netlink commands on a missing device end
# with 3 when the module is loaded, 5 (module not loaded) when it is not;
# a dump of every device succeeds only with the module.
if [ -d /sys/module/dm_dirtylog ]; then nf=3 all=0; else nf=5 all=5; fi
# "EXPECTED ARGS..."
cases=(
	"0 --help"
	"0 --version"
	"0 help create"
	"0 create --help"
	"3 create x --data /nonexistent --metadata /nonexistent"
	"2 create x --block-size 3K --data a --metadata b"
	"1 remove nosuchdevice"
	"2 bogus"
	# help for every new command
	"0 checkpoint --help"
	"0 checkpoint create --help"
	"0 checkpoint list --help"
	"0 checkpoint delete --help"
	"0 help checkpoint"
	"0 help checkpoint list"
	"0 reset --help"
	"0 mark-dirty --help"
	"0 dirty --help"
	"0 status --help"
	"2 help nosuchcommand"
	# netlink commands
	"$all status"
	"$all --json status"
	"$nf status nosuchdevice"
	"$nf status --json nosuchdevice"
	"$nf status --uuid LVM-nosuchuuid"
	"$nf checkpoint create nosuchdevice c1"
	"$nf checkpoint create nosuchdevice c1 --also nosuch2 --also nosuch3"
	"$nf checkpoint list nosuchdevice"
	"$nf checkpoint delete nosuchdevice c1"
	"$nf reset nosuchdevice"
	"$nf mark-dirty nosuchdevice 0 8"
	"$nf dirty nosuchdevice --since c1"
	"$nf --json dirty nosuchdevice --since c1 --until c2"
	# usage errors
	"2 status a b"
	"2 status --bogus"
	"2 checkpoint"
	"2 checkpoint bogus"
	"2 checkpoint create onlyadevice"
	"2 checkpoint create a c --also"
	"2 checkpoint list"
	"2 checkpoint delete a"
	"2 reset"
	"2 reset 4294967296:0"
	"2 mark-dirty a 1"
	"2 mark-dirty a x 1"
	"2 mark-dirty a 1 18446744073709551616"
	"2 dirty a"
	"2 dirty a --since"
	"2 dirty a b --since c1"
	"2 dirty a --since c1 --encoding sparse"
	"2 mark-dirty a --from"
	"2 mark-dirty a 1 2 --from f"
	"1 mark-dirty nosuchdevice --from /etc/passwd"
	"$nf dirty nosuchdevice --since c1 -o /tmp/never-written.dlbm"
	# bitmap files, offline
	"0 show --help"
	"0 merge --help"
	"0 monitor --help"
	"2 show"
	"2 show a b"
	"3 show /nonexistent"
	"1 show /etc/passwd"
	"1 show --json --extents /etc/passwd"
	"2 merge a b"
	"2 merge -o out"
	"3 merge /nonexistent -o /tmp/never-written.dlbm"
	"1 merge /etc/passwd /etc/group -o /tmp/never-written.dlbm"
	"2 monitor extra"
	"2 monitor --count 0"
	"2 monitor --count x"
	"2 export dl0"
	"2 export dl0 --checkpoint x"
	"2 export dl0 --checkpoint x -o /tmp/never --format vhd"
	"2 export dl0 --checkpoint x -o /tmp/never --fuzzy --cow /tmp/c"
	"2 apply onlyone"
	"3 apply /nonexistent /tmp/never-written.img"
	"1 verify /etc/passwd"
	"3 verify /nonexistent"
	"2 revert dl0 --to c1"
	# activate / deactivate: config parsing, no device touched
	"0 activate --help"
	"0 deactivate --help"
	"3 activate --config /nonexistent"
	"1 activate --config /etc/passwd"
	"1 --json deactivate --config /etc/passwd --dry-run"
	"3 activate --config /etc/passwd nosuchdevice"
	"2 activate --bogus"
)
# dirtylogctl metadata on a synthesised image (dl_metagen), clean, then
# with a table block and a page damaged: "EXPECTED ARGS..." with @IMG@.
meta_img=$(mktemp /tmp/test_valgrind_meta.XXXXXX)
meta_out=$(mktemp -u /tmp/test_valgrind_meta_out.XXXXXX)
"$build/tests/rig/dl_metagen" "$meta_img" 7 >/dev/null
meta_cases=(
	"0 metadata check @IMG@"
	"0 --json metadata check @IMG@"
	"0 metadata dump --extents @IMG@"
	"0 --json metadata dump --extents @IMG@"
	"0 metadata dump --since ck10 --until ck20 @IMG@"
	"3 --json metadata dump --since nosuch @IMG@"
	"2 metadata repair @IMG@"
	"2 metadata check"
	"3 metadata check /nonexistent"
	"@DAMAGE@"
	"6 metadata check @IMG@"
	"0 --json metadata dump @IMG@"
	"0 metadata repair -o @OUT@ @IMG@"
	"0 metadata check @OUT@"
	"0 --json metadata repair --yes @IMG@"
	"0 metadata check @IMG@"
	"@ZERO@"
	"6 metadata check @IMG@"
	"1 metadata repair --yes @IMG@"
	"0 metadata repair --yes --block-size 4K --data-sectors 2097152 @IMG@"
	"0 metadata dump @IMG@"
)
nmeta=0
for c in "${meta_cases[@]}"; do [[ $c == @* ]] || nmeta=$((nmeta + 1)); done
# Test point $n: dirtylogctl ARGS under valgrind is clean and exits WANT.
run_case() {
	local want=$1 args=$2 rc

	# shellcheck disable=SC2086
	"${vg[@]}" "$ctl" $args >/dev/null 2>"$build/valgrind.out"
	rc=$?
	if [ $rc -eq 99 ]; then
		sed 's/^/# /' "$build/valgrind.out"
		echo "not ok $n dirtylogctl $args is valgrind-clean"
		failed=$((failed + 1))
	elif [ $rc -ne "$want" ]; then
		sed 's/^/# /' "$build/valgrind.out"
		echo "not ok $n dirtylogctl $args exits $want (got $rc)"
		failed=$((failed + 1))
	else
		echo "ok $n dirtylogctl $args is valgrind-clean and exits $rc"
	fi
}

echo "KTAP version 1"
echo "1..$((${#cases[@]} + 8 + nmeta))"
n=0 failed=0
for c in "${cases[@]}"; do
	n=$((n + 1))
	want=${c%% *}
	args=${c#* }
	run_case "$want" "$args"
done

# The message for a missing module is exact, after the command name.
n=$((n + 1))
if [ "$nf" = 5 ]; then
	got=$("$ctl" checkpoint list dl0 2>&1 >/dev/null)
	if [ "$got" = "dirtylogctl checkpoint list: dm-dirtylog module not loaded" ]; then
		echo "ok $n without the module: 'dm-dirtylog module not loaded'"
	else
		echo "# got: $got"
		echo "not ok $n without the module: 'dm-dirtylog module not loaded'"
		failed=$((failed + 1))
	fi
else
	echo "ok $n without the module: 'dm-dirtylog module not loaded' # SKIP module loaded"
fi

for t in test_util test_nl test_bmfile test_diff test_qcow2; do
	n=$((n + 1))
	"${vg[@]}" "$build/tests/native/$t" >/dev/null 2>"$build/valgrind.out"
	rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $n native unit tests $t pass under valgrind"
	else
		sed 's/^/# /' "$build/valgrind.out"
		echo "not ok $n native unit tests $t pass under valgrind (exit $rc)"
		failed=$((failed + 1))
	fi
done
# The qcow2 writer on a whole random export, finished and unfinished.
for extra in "" --unfinished; do
	n=$((n + 1))
	img=$(mktemp /tmp/test_valgrind.XXXXXX)
	"${vg[@]}" "$build/tests/rig/dl_qcow2_gen" --out "$img" --size 20M \
		--cluster 4096 --seed $n --backing prev.qcow2 --backing-format qcow2 \
		$extra >/dev/null 2>"$build/valgrind.out"
	rc=$?
	rm -f "$img"
	if [ $rc -eq 0 ]; then
		echo "ok $n dl_qcow2_gen ${extra:---finished} is valgrind-clean"
	else
		sed 's/^/# /' "$build/valgrind.out"
		echo "not ok $n dl_qcow2_gen ${extra:---finished} is valgrind-clean (exit $rc)"
		failed=$((failed + 1))
	fi
done
for c in "${meta_cases[@]}"; do
	case $c in
	@DAMAGE@)	# garbage over the first table block and a bitmap page
		tb=$(od -An -tu8 -j 88 -N8 "$meta_img" | tr -d ' ')
		printf 'garbage' | dd of="$meta_img" bs=1 seek=$((tb * 4096 + 100)) conv=notrunc 2>/dev/null
		printf 'garbage' | dd of="$meta_img" bs=1 seek=$((4096 + 100)) conv=notrunc 2>/dev/null
		continue ;;
	@ZERO@)
		dd if=/dev/zero of="$meta_img" bs=4096 count=1 conv=notrunc 2>/dev/null
		rm -f "$meta_out"
		continue ;;
	esac
	n=$((n + 1))
	want=${c%% *}
	args=${c#* }
	args=${args//@IMG@/$meta_img}
	args=${args//@OUT@/$meta_out}
	run_case "$want" "$args"
done
rm -f "$meta_img" "$meta_out"
[ $failed -eq 0 ]
