#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 600
# Soak: everything at once for DL_SOAK_SECONDS (default 120; a long run
# passes dirtylog.soak=N on the kernel command line, see vm-run): three
# fio writers (random aligned 4k..256k, random unaligned 512 B..96 KiB,
# sequential 12 KiB across block boundaries) over a 16 KiB-block device,
# while loops create and delete checkpoints, fetch dirty maps (netlink
# extents and bitmap, dmsetup message), poll status, suspend/resume and
# reload the table.  The run is cut into rounds; between rounds the
# writers have exited and a round checkpoint r<N> is taken, so:
#   - for every round checkpoint, "dirty r<N>" equals exactly the blocks
#     that fio's write logs (--write_iolog) say the later rounds touched
#     (the model), through dmsetup message and through netlink;
#   - a churn checkpoint that survives lies between its round's bounds;
#   - queries of "base" (never deleted) never fail during the run;
#   - the kernel log has no dirtylog error; after the device is removed
#     and the module unloaded no vmalloc area of dm_dirtylog remains and
#     the kmalloc caches hold no more than 1 MiB above what they held
#     before the module was loaded (a leak per write, commit or
#     checkpoint would be tens of thousands of objects; the slack covers
#     the shell, fio and dmsetup's own kernel objects).
. "$(dirname "$0")/lib.sh"
t=/tmp/sk27
trap 'touch $t/stop 2>/dev/null; kill $loops 2>/dev/null; wait 2>/dev/null; dl_cleanup; rm -rf $t' EXIT

dl_cleanup
ktap_plan 8
rm -rf $t
mkdir -p $t
secs=${DL_SOAK_SECONDS:-120}
seed=${DL_SEED:-$(awk 'BEGIN { srand(); print int(rand() * 1000000) }')}
ktap_diag "seed $seed, $secs s"
round=20
[ "$secs" -ge 600 ] && round=60
rounds=$(((secs + round - 1) / round))

kmalloc_bytes() {	# active kmalloc-* objects times size, in bytes
	sync
	echo 3 > /proc/sys/vm/drop_caches
	awk '$1 ~ /^kmalloc-/ { s += $2 * $4 } END { print s }' /proc/slabinfo
}
k0=$(kmalloc_bytes)
modprobe dm-dirtylog || exit 1
dl_fresh_meta
len=$(dl_sectors $DL_DATA)
bs=32				# 16 KiB blocks
B=$((bs * 512))
table="0 $len dirtylog $DL_META $DL_DATA $bs"
dmsetup create sk --table "$table" && dmsetup mknodes || exit 1
dev=/dev/mapper/sk
dmsetup message sk 0 checkpoint base >/dev/null || exit 1

echo 0 > $t/round
# --- background loops (each stops when $t/stop exists) ---------------------
loops=
(	# checkpoint churn: create, keep the last 3, delete older
	i=0
	while [ ! -e $t/stop ]; do
		i=$((i + 1))
		# The rounds read before and after bound the moment of creation.
		r1=$(cat $t/round)
		dmsetup message sk 0 checkpoint "k$i" >/dev/null 2>&1 &&
			echo "k$i $r1 $(cat $t/round)" >> $t/churn
		[ $i -gt 3 ] && dmsetup message sk 0 delete_checkpoint "k$((i - 3))" >/dev/null 2>&1 &&
			echo "k$((i - 3))" >> $t/deleted
		sleep 0.7
	done
) &
loops="$loops $!"
(	# dirty map fetches of base: must never fail
	n=0
	while [ ! -e $t/stop ]; do
		n=$((n + 1))
		case $((n % 3)) in
		0) dirtylogctl dirty sk --since base -o $t/q.bm >/dev/null 2>>$t/qerr || echo "nl $n" >> $t/qfail ;;
		1) dirtylogctl dirty sk --since base --encoding bitmap -o $t/q.bm >/dev/null 2>>$t/qerr ||
			echo "nlbm $n" >> $t/qfail ;;
		2) dmsetup message sk 0 dirty base >/dev/null 2>>$t/qerr || echo "msg $n" >> $t/qfail ;;
		esac
		# What the kernel and the checkpoint list said right after the first failure.
		[ -s $t/qfail ] && [ ! -e $t/qdiag ] && {
			dmesg | grep 'dirtylog' | tail -n 4
			dmsetup message sk 0 list_checkpoints 2>&1 | tr '\n' ' '
		} > $t/qdiag 2>&1
		echo $n > $t/nq
	done
) &
loops="$loops $!"
(	# status polling
	n=0
	while [ ! -e $t/stop ]; do
		n=$((n + 1))
		dmsetup status sk >/dev/null 2>&1 || echo "status $n" >> $t/qfail
		dirtylogctl status sk >/dev/null 2>&1 || echo "ctlstatus $n" >> $t/qfail
		dmsetup message sk 0 list_checkpoints >/dev/null 2>&1 || echo "list $n" >> $t/qfail
		echo $n > $t/ns
		sleep 0.2
	done
) &
loops="$loops $!"
(	# suspend/resume and reloads of the same table
	n=0
	while [ ! -e $t/stop ]; do
		n=$((n + 1))
		if [ $((n % 2)) = 0 ]; then
			dmsetup suspend sk && sleep 0.3 && dmsetup resume sk
		else
			dmsetup load sk --table "$table" && dmsetup suspend sk && dmsetup resume sk
		fi || echo "susp $n" >> $t/sfail
		echo $n > $t/nsr
		sleep 1
	done
) &
loops="$loops $!"

# --- rounds of writers -----------------------------------------------------
i=0
while [ $i -lt $rounds ]; do
	i=$((i + 1))
	echo $i > $t/round
	s=$((seed + i * 3))
	fio --name=a --filename=$dev --rw=randwrite --bssplit=4k/40:16k/30:64k/20:256k/10 \
		--direct=1 --ioengine=libaio --iodepth=4 --rate=384k --randseed=$s \
		--runtime=$round --time_based --write_iolog=$t/r$i.a >/dev/null 2>>$t/fioerr &
	fa=$!
	fio --name=b --filename=$dev --rw=randwrite --bsrange=512-96k --blockalign=512 \
		--direct=1 --ioengine=psync --rate=256k --randseed=$((s + 1)) \
		--runtime=$round --time_based --write_iolog=$t/r$i.b >/dev/null 2>>$t/fioerr &
	fb=$!
	off=$(((s * 7919 % 448) * 1048576))
	fio --name=c --filename=$dev --rw=write --bs=12k --offset=$off --size=64m \
		--direct=1 --ioengine=libaio --iodepth=2 --rate=256k \
		--runtime=$round --time_based --write_iolog=$t/r$i.c >/dev/null 2>>$t/fioerr &
	fc=$!
	wait $fa; ra=$?
	wait $fb; rb=$?
	wait $fc; rc=$?
	[ $ra$rb$rc = 000 ] || echo "round $i: fio exit $ra $rb $rc" >> $t/fioerr
	# Quiescent: no writer runs.  A suspend may hold the message; retry.
	j=0
	until dmsetup message sk 0 checkpoint "r$i" >/dev/null 2>>$t/rerr; do
		j=$((j + 1))
		[ $j -gt 20 ] && { echo "r$i not created" >> $t/fioerr; break; }
		sleep 0.5
	done
done
touch $t/stop
wait $loops 2>/dev/null
loops=
dmsetup resume sk 2>/dev/null
nw=$(cat $t/r*.? | grep -c ' write ')
[ "$nw" -gt 0 ] || echo "the write logs hold no write" >> $t/fioerr
ktap_diag "$rounds rounds of ${round} s, $nw writes, $(wc -l < $t/churn) churn checkpoints ($(wc -l < $t/deleted) deleted), $(cat $t/nq) dirty fetches, $(cat $t/ns) status rounds, $(cat $t/nsr) suspend/reloads"

[ ! -s $t/fioerr ]
ktap_result $? "writers and round checkpoints ran$( [ -s $t/fioerr ] && head -n 3 $t/fioerr | tr '\n' ' ')"
[ ! -s $t/qfail ] && [ ! -s $t/sfail ]
ktap_result $? "no query, status or suspend/reload failed$( [ -s $t/qfail ] && head -n 3 $t/qfail | tr '\n' ' ')$(head -n 2 $t/qerr 2>/dev/null | tr '\n' ' ')"
[ -s $t/qdiag ] && while read -r l; do ktap_diag "after the failure: $l"; done < $t/qdiag

# model FILES...: sorted unique blocks touched by the logged writes
model() {
	# iolog version 2: "FILE write OFF LEN"; version 3 puts a time first.
	cat "$@" /dev/null 2>/dev/null | awk -v B=$B '
		$2 == "write" { o = $3; l = $4 } $3 == "write" { o = $4; l = $5 }
		$2 == "write" || $3 == "write" {
			for (b = int(o / B); b <= int((o + l - 1) / B); b++) print b }' | sort -un
}
expand() { awk '{ for (i = 0; i < $2; i++) print $1 + i }'; }

# Exact: each round checkpoint against the logs of the rounds after it.
bad=
i=0
while [ $i -le $rounds ]; do
	if [ $i = 0 ]; then c=base; else c=r$i; fi
	later=
	j=$((i + 1))
	while [ $j -le $rounds ]; do later="$later $t/r$j.a $t/r$j.b $t/r$j.c"; j=$((j + 1)); done
	model $later > $t/want
	dmsetup message sk 0 dirty $c | expand > $t/got
	cmp -s $t/want $t/got || bad="$bad $c(msg: want $(wc -l < $t/want) got $(wc -l < $t/got))"
	i=$((i + 1))
done
[ -z "$bad" ]
ktap_result $? "every round checkpoint's dirty set equals the write logs exactly${bad:+:$bad}"

# The same through netlink for base, sent as extents and as bitmaps.
model $t/r*.? > $t/want
r=0
for enc in extents bitmap; do
	dirtylogctl dirty sk --since base --encoding $enc > $t/nl.$enc || r=1
	awk '$1 == "start" { print $2, $4 }' $t/nl.$enc | expand > $t/got
	cmp -s $t/want $t/got || { r=1; ktap_diag "netlink ($enc): want $(wc -l < $t/want) blocks, got $(wc -l < $t/got)"; }
done
[ $r = 0 ]
ktap_result $? "netlink dirty since base (extents and bitmaps) equals the model ($(wc -l < $t/want) blocks)"

# Surviving churn checkpoints lie between their round's bounds.
bad=
for c in $(dmsetup message sk 0 list_checkpoints | awk '$1 ~ /^k/ { print $1 }'); do
	r1=$(awk -v c=$c '$1 == c { print $2 }' $t/churn)
	r2=$(awk -v c=$c '$1 == c { print $3 }' $t/churn)
	upper= lower=
	j=$((r1 > 0 ? r1 : 1))
	while [ $j -le $rounds ]; do
		upper="$upper $t/r$j.a $t/r$j.b $t/r$j.c"
		[ $j -gt "$r2" ] && lower="$lower $t/r$j.a $t/r$j.b $t/r$j.c"
		j=$((j + 1))
	done
	dmsetup message sk 0 dirty $c | expand > $t/got
	model $upper > $t/up
	model $lower > $t/lo
	[ -z "$(comm -23 $t/got $t/up 2>/dev/null)" ] || bad="$bad $c(outside its round)"
	[ -z "$(comm -13 $t/got $t/lo 2>/dev/null)" ] || bad="$bad $c(misses later rounds)"
done
[ -z "$bad" ]
ktap_result $? "surviving churn checkpoints lie between their bounds${bad:+:$bad}"

dmesg | grep 'device-mapper: dirtylog' | grep -i -E 'error|fail|invalid' > $t/klog
[ ! -s $t/klog ]
ktap_result $? "no dirtylog error in the kernel log$( [ -s $t/klog ] && head -n 2 $t/klog | tr '\n' ' ')"

dmsetup remove sk && rmmod dm_dirtylog
ktap_result $? "remove the device and unload the module"
v=$(grep -c 'dm_dirtylog' /proc/vmallocinfo)
k1=$(kmalloc_bytes)
ktap_diag "kmalloc-* before load $k0 B, after unload $k1 B (delta $((k1 - k0))); vmalloc areas of dm_dirtylog: $v"
[ "$v" -eq 0 ] && [ $((k1 - k0)) -le 1048576 ]
ktap_result $? "unloading freed everything (vmalloc areas $v, kmalloc delta $((k1 - k0)) B <= 1 MiB)"
ktap_finish
