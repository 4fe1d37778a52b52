#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
# timeout: 1500
# Benchmark (make bench): what tracking costs a writer, against dm-linear
# and dm-era over the same data device, all in one boot.
#
# Data devices: a memory-backed null_blk (CPU cost alone) and the virtio
# disk.  Over each, at once: dm-linear, and dm-era and dirtylog in two
# states:
#   steady       every block of the test region already marked in the
#                current era / interval (the region was written once);
#   first-touch  a new era / checkpoint before every run, so that every
#                write of the run is the first one to its block.  4 KiB
#                random writes use 4 KiB tracking blocks for this (fio's
#                random map never repeats a block within a run); 64 KiB
#                sequential writes use 64 KiB blocks.
# Each configuration runs BENCH_RUNS times (default 5), interleaved round
# by round (the order rotates each round) after waiting for the CPUs to go
# idle; results are medians with min and max, and the ratio to dm-linear.
# Every result is a line "# bench: {JSON}" for scripts/bench-report; each
# speed goal of issue #7 is one KTAP result.
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")" || exit 1

RUNS=${BENCH_RUNS:-5}
RUNTIME=${BENCH_RUNTIME:-2}	# seconds per fio run (at most)
CKPT_ROUNDS=${BENCH_CKPT_ROUNDS:-20}	# per chunk; 5 chunks per target
W=/tmp/bench_overhead		# per-run results
# A row counts as behind dm-era when dirtylog's median is worse by more
# than this fraction: runs under TCG spread wider than that.
ERA_TIE=0.02

cleanup() {
	[ -n "$writer" ] && kill "$writer" 2>/dev/null && wait "$writer" 2>/dev/null
	dl_cleanup
	rmmod dm_era dm_zero null_blk brd 2>/dev/null
	return 0
}
trap cleanup EXIT
dl_cleanup
rm -rf "$W"
mkdir -p "$W"
modprobe dm-dirtylog && modprobe dm-era && modprobe dm-zero || exit 1

ktap_plan 18
# The guest's clock: "icount shift=N" when scripts/vm-run --icount makes it
# count instructions (then timings are the guest's own work), else "real".
clock=$(sed -n 's/.*dirtylog\.icount=\([0-9]*\).*/icount shift=\1/p' /proc/cmdline)
# The crc32c driver the metadata checksums use (mode_bench.sh loads
# crc32c-intel, as modprobe's softdep of libcrc32c does on a real system).
crc=$(awk '/^name/ { n = $3 } /^driver/ && n == "crc32c" { d = $3 }
	/^priority/ && n == "crc32c" && $3 > p { p = $3; best = d } END { print best }' /proc/crypto)
echo "# bench-env: {\"kernel\":\"$(uname -r)\",\"cpus\":$(nproc)," \
	"\"mem_mib\":$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)," \
	"\"clock\":\"${clock:-real}\",\"crc32c\":\"${crc:-none}\",\"runs\":$RUNS,\"runtime_s\":$RUNTIME}"

# --- helpers -------------------------------------------------------------

# Wait (at most 5 s, or SETTLE_TRIES times 0.2 s) until the guest's CPUs
# are idle, so that background work left by one run (dm-era digesting an
# old era, page freeing) is not billed to the next one.
# ratio A B: A / B to three decimals (0 when B is not positive).
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'
}

settle() {
	_i=0
	while [ $_i -lt "${SETTLE_TRIES:-25}" ]; do
		_a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
		sleep 0.2
		_b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
		echo "$_a $_b" | awk '{ b = $3 - $1; i = $4 - $2; exit !(b + i > 0 && b / (b + i) < 0.1) }' &&
			return 0
		_i=$((_i + 1))
	done
	return 0
}

# fio_run DEV RW BS QD REGION_MIB: one run of at most RUNTIME seconds over
# the first REGION_MIB of DEV (without time_based: a run that covers the
# region stops there, so no block is written twice).  Prints
# "iops p50_us p99_us total_ios" (latency: submission to completion).
fio_run() {
	case $2 in
	*read) _dir=read ;;
	*) _dir=write ;;
	esac
	fio --name=b --filename="$1" --rw="$2" --bs="$3" --iodepth="$4" \
		--ioengine=libaio --direct=1 --size="${5}m" --runtime="$RUNTIME" \
		--randrepeat=1 --lat_percentiles=1 --clat_percentiles=0 \
		--percentile_list=50:99 --output-format=json 2>/dev/null |
	awk -v want="$_dir" '
		function val(s) { s = $NF; sub(/,$/, "", s); return s }
		/^ *"(read|write|trim|sync)" : \{/ { s = $1; gsub(/"/, "", s); next }
		s != want { next }
		/"iops" :/ && iops == "" { iops = val() }
		/"total_ios" :/ && ios == "" { ios = val() }
		/"lat_ns" : \{/ { inlat = 1 }
		inlat && /"50\.000000" :/ { p50 = val() }
		inlat && /"99\.000000" :/ { p99 = val(); inlat = 0 }
		END {
			if (iops == "" || p99 == "") exit 1
			printf "%.1f %.1f %.1f %d\n", iops, p50 / 1000, p99 / 1000, ios
		}'
}

# stats FILE COLUMN: "median min max p99 n" of one column (p99 by
# nearest rank).
stats() {
	awk -v c="$2" '{ print $c }' "$1" | sort -n | awk '
		{ v[NR] = $1 }
		END {
			n = NR
			if (!n) { print "0 0 0 0 0"; exit }
			m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
			r = int(0.99 * n); if (r < 0.99 * n) r++
			print m, v[1], v[n], v[r], n
		}'
}

# bench_line FIELDS: one machine-readable result (FIELDS: JSON members).
bench_line() {
	echo "# bench: {$1}"
}

# A dirtylog or era device over DATA (whole device) with its own
# metadata, a dm-linear slice of META: mk_tracked NAME TARGET BLOCK_KIB
# DATA META SLICE SLICE_SECTORS.  The whole slice is written first (zeros,
# which also make the next load format it), so that neither null_blk's
# page allocation nor the host's file allocation is billed to the target
# when its copy-on-write metadata first reaches a block.
mk_tracked() {
	dmsetup create "$1-meta" --table "0 $7 linear $5 $(($6 * $7))" || return 1
	dmsetup mknodes >/dev/null 2>&1
	dd if=/dev/zero of="/dev/mapper/$1-meta" bs=1M count=$(($7 / 2048)) oflag=direct 2>/dev/null ||
		return 1
	dmsetup create "$1" --table "0 $(dl_sectors "$4") $2 /dev/mapper/$1-meta $4 $(($3 * 2))" ||
		return 1
	dmsetup mknodes >/dev/null 2>&1
}

prefill() {		# prefill DEV REGION_MIB
	dd if=/dev/zero of="$1" bs=1M count="$2" oflag=direct 2>/dev/null
}

# Write requests, KiB written and flushes of the metadata disk so far
# (only the configuration that runs touches it).
meta_stat() {
	awk '{ printf "%d %d %d\n", $5, $7 / 2, $16 }' "/sys/block/${META_DISK##*/}/stat"
}

# meta_commits TARGET DMNAME: dirtylog's metadata commits so far
# ("dirtylogctl status": every commit that wrote something), "-" for
# other targets.
meta_commits() {
	if [ "$1" = dirtylog ]; then
		dirtylogctl --json status "$2" |
			sed -n 's/.*"metadata_commits":\([0-9]*\).*/\1/p'
	else
		echo -
	fi
}

# One configuration is TARGET:STATE:DMNAME:BLOCK_KIB.  Before a run in
# state first-touch, a new checkpoint (dirtylog, "rN") or era; after it,
# dirtylog's previous checkpoint is deleted (one stays live).
ft_n=0
before_run() {		# before_run TARGET STATE DMNAME
	[ "$2" = first-touch ] || return 0
	ft_n=$((ft_n + 1))
	if [ "$1" = dirtylog ]; then
		dmsetup message "$3" 0 checkpoint "r$ft_n" >/dev/null
	else
		dmsetup message "$3" 0 checkpoint
	fi
}

# after_run TARGET STATE DMNAME META_STAT_BEFORE COMMITS_BEFORE: prints
# "<new marks> <metadata writes> <KiB> <flushes> <commits>" of a
# first-touch run ("-" for what does not apply) and deletes dirtylog's
# previous checkpoint.
after_run() {
	[ "$2" = first-touch ] || return 0
	_marks=-
	# New marks in this run (for the first-write fraction).
	[ "$1" = dirtylog ] && _marks=$(dl_status_field "$3" 3)
	echo "$_marks $(meta_stat) $4 $5 $(meta_commits "$1" "$3")" |
		awk '{ print $1, $2 - $5, $3 - $6, $4 - $7, ($9 == "-" ? "-" : $9 - $8) }'
	[ "$1" = dirtylog ] || return 0
	_prev=$(dmsetup message "$3" 0 list_checkpoints |
		awk 'NR == 1 { first = $1 } END { if (NR > 1) print first }')
	[ -n "$_prev" ] && dmsetup message "$3" 0 delete_checkpoint "$_prev" >/dev/null
}

# run_row DEV ROW RW BS QD REGION_MIB DATA_TAG CONFIG...: RUNS rounds of
# every CONFIG, the order rotated by one each round.
run_row() {
	_dev=$1 _row=$2 _rw=$3 _bs=$4 _qd=$5 _mib=$6
	shift 6
	_ncfg=$#
	_round=0
	while [ $_round -lt "$RUNS" ]; do
		_k=0
		while [ $_k -lt "$_ncfg" ]; do
			_idx=$(((_k + _round) % _ncfg + 1))
			eval "_cfg=\${$_idx}"
			IFS=: read -r _t _s _dm _bk <<-EOF
				$_cfg
			EOF
			before_run "$_t" "$_s" "$_dm"
			settle
			_m0=$(meta_stat)
			_g0=$(meta_commits "$_t" "$_dm")
			_r=$(fio_run "/dev/mapper/$_dm" "$_rw" "$_bs" "$_qd" "$_mib") ||
				{ echo "# fio failed on $_dm ($_row)"; return 1; }
			_extra=$(after_run "$_t" "$_s" "$_dm" "$_m0" "$_g0")
			echo "$_r ${_extra:--}" >> "$W/$_dev.$_row.$_s.$_t"
			_k=$((_k + 1))
		done
		_round=$((_round + 1))
	done
	for _cfg in "$@"; do
		IFS=: read -r _t _s _dm _bk <<-EOF
			$_cfg
		EOF
		report "$_dev" "$_row" "$_s" "$_t" "$_bk" "$_qd"
	done
}

# report DEV ROW STATE TARGET BLOCK_KIB QD: the JSON lines of one
# configuration (IOPS; at QD1 also p50 and p99 latency), ratios to the
# linear medians of the same row, and a summary line for the goals.
report() {
	_lin=$W/$1.$2.$3.linear
	[ -f "$_lin" ] || _lin=$W/$1.$2.steady.linear
	_f=$W/$1.$2.$3.$4
	[ "$4" = linear ] && _f=$_lin
	_metrics=iops
	[ "$6" = 1 ] && _metrics="iops p50_us p99_us"
	_col=1
	for _m in $_metrics; do
		read -r _med _min _max _p _n <<-EOF
			$(stats "$_f" $_col)
		EOF
		_lmed=$(stats "$_lin" $_col | cut -d' ' -f1)
		_ratio=$(ratio "$_med" "$_lmed")
		_extra=
		if [ "$3" = first-touch ] && [ "$_m" = iops ]; then
			# Per write of the run: metadata write requests, KiB and
			# flushes (medians), and for dirtylog the smallest
			# fraction of writes that were first writes; per commit
			# (dirtylog): data writes, metadata writes and flushes.
			_extra=$(awk '$4 > 0 && NF >= 8 {
					n++; w[n] = $6 / $4; k[n] = $7 / $4; f[n] = $8 / $4
					if ($5 != "-") { x = $5 / $4; if (fw == "" || x < fw) fw = x }
					if (NF >= 9 && $9 != "-" && $9 > 0) {
						c++; cw[c] = $4 / $9; cm[c] = $6 / $9; cf[c] = $8 / $9
					}
				}
				function med(a, n,   i, j, t) {
					for (i = 2; i <= n; i++)
						for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
							t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
						}
					return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
				}
				END {
					if (!n) exit
					printf ",\"meta_writes_per_write\":%.3f,\"meta_kib_per_write\":%.2f,\"meta_flushes_per_write\":%.3f", med(w, n), med(k, n), med(f, n)
					if (fw != "") printf ",\"first_writes_min\":%.3f", fw
					if (c) printf ",\"writes_per_commit\":%.1f,\"meta_writes_per_commit\":%.2f,\"meta_flushes_per_commit\":%.2f", med(cw, c), med(cm, c), med(cf, c)
				}' "$_f")
		fi
		bench_line "$(printf '"row":"%s","state":"%s","target":"%s","dev":"%s","block_kib":%s,"metric":"%s","median":%s,"min":%s,"max":%s,"ratio":%s,"runs":%s%s' \
			"$2" "$3" "$4" "$1" "${5:-0}" "$_m" "$_med" "$_min" "$_max" "$_ratio" "$_n" "$_extra")"
		echo "$1 $2 $3 $4 $_m $_med $_ratio" >> "$W/summary"
		_col=$((_col + 1))
	done
}

# ckpt_latency DEV: checkpoint create and delete latency on dirtylog, and
# dm-era's checkpoint, each with fio writing 4 KiB blocks at QD32 to the
# same device; 5 chunks of CKPT_ROUNDS, alternating dirtylog and era.
ckpt_latency() {
	dmsetup message dl_s 0 checkpoint base >/dev/null || return 1
	_c=1
	while [ $_c -le 5 ]; do
		for _t in dirtylog era; do
			if [ $_t = dirtylog ]; then _dm=dl_s; else _dm=era_s; fi
			fio --name=w --filename="/dev/mapper/$_dm" --rw=randwrite --bs=4k \
				--iodepth=32 --ioengine=libaio --direct=1 --size=256m \
				--time_based --runtime=600 >/dev/null 2>&1 &
			writer=$!
			sleep 1
			if [ $_t = dirtylog ]; then
				./dl_bench_time msg dl_s "$CKPT_ROUNDS" "checkpoint k${_c}_%d" \
					"delete_checkpoint k${_c}_%d" >> "$W/ckpt.$1.dirtylog" || return 1
			else
				./dl_bench_time msg era_s "$CKPT_ROUNDS" checkpoint \
					>> "$W/ckpt.$1.era" || return 1
			fi
			kill $writer
			wait $writer 2>/dev/null
			writer=
			settle
		done
		_c=$((_c + 1))
	done
	for _t in dirtylog era; do
		for _op in create delete; do
			_col=1
			[ $_op = delete ] && _col=2
			[ $_t = era ] && [ $_op = delete ] && continue
			awk -v c=$_col '$c != "-" { print $c / 1000 }' "$W/ckpt.$1.$_t" > "$W/ckpt.tmp"
			read -r _med _min _max _p99 _n <<-EOF
				$(stats "$W/ckpt.tmp" 1)
			EOF
			bench_line "$(printf '"row":"checkpoint-%s","state":"writer","target":"%s","dev":"%s","block_kib":64,"metric":"ms","median":%s,"min":%s,"max":%s,"p99":%s,"runs":%s' \
				"$_op" "$_t" "$1" "$_med" "$_min" "$_max" "$_p99" "$_n")"
			echo "$1 checkpoint-$_op writer $_t ms $_med -" >> "$W/summary"
			echo "$1 checkpoint-$_op writer $_t p99_ms $_p99 -" >> "$W/summary"
		done
	done
}

# overhead DEV DATA META SLICE_SECTORS REGION_MIB: every row over one data
# device.
overhead() {
	od=$1 odata=$2 ometa=$3 oss=$4 omib=$5
	dmsetup create lin --table "0 $(dl_sectors "$odata") linear $odata 0" &&
	mk_tracked era_s era 64 "$odata" "$ometa" 0 "$oss" &&
	mk_tracked dl_s dirtylog 64 "$odata" "$ometa" 1 "$oss" &&
	mk_tracked era_f64 era 64 "$odata" "$ometa" 2 "$oss" &&
	mk_tracked dl_f64 dirtylog 64 "$odata" "$ometa" 3 "$oss" &&
	mk_tracked era_f4 era 4 "$odata" "$ometa" 4 "$oss" &&
	mk_tracked dl_f4 dirtylog 4 "$odata" "$ometa" 5 "$oss" ||
		{ echo "# $od: cannot create the devices"; return 1; }
	# The region written once through linear (null_blk allocates its
	# pages, the host its file blocks), then through each steady device.
	prefill /dev/mapper/lin "$omib" && prefill /dev/mapper/era_s "$omib" &&
		prefill /dev/mapper/dl_s "$omib" || return 1
	ktap_diag "$od: region $omib MiB; dirtylog steady: $(dl_status_field dl_s 3) blocks marked"
	cfg_s="linear:steady:lin:0 era:steady:era_s:64 dirtylog:steady:dl_s:64"
	cfg_f4="era:first-touch:era_f4:4 dirtylog:first-touch:dl_f4:4"
	cfg_f64="era:first-touch:era_f64:64 dirtylog:first-touch:dl_f64:64"
	# shellcheck disable=SC2086
	run_row "$od" randwrite-4k-qd1 randwrite 4k 1 "$omib" $cfg_s $cfg_f4 &&
	run_row "$od" randwrite-4k-qd32 randwrite 4k 32 "$omib" $cfg_s $cfg_f4 &&
	run_row "$od" seqwrite-64k-qd8 write 64k 8 "$omib" $cfg_s $cfg_f64 &&
	run_row "$od" randread-4k-qd32 randread 4k 32 "$omib" $cfg_s &&
	ckpt_latency "$od" || return 1
	dmsetup remove_all
}

# --- memory: 1 TiB over dm-zero (slab + vmalloc before and after) ---------
# First, while the slab caches are quiet (as test_memory_09.sh measures).
kmem1() {
	sync
	echo 3 > /proc/sys/vm/drop_caches
	awk '/^(Slab|VmallocUsed):/ { s += $2 } END { print s }' /proc/meminfo
}
kmem() {		# slab + vmalloc in KiB, once two readings agree
	_prev=$(kmem1)
	for _i in 1 2 3 4 5; do
		sleep 0.5
		_cur=$(kmem1)
		[ $((_cur - _prev)) -le 32 ] && [ $((_prev - _cur)) -le 32 ] && break
		_prev=$_cur
	done
	echo "$_cur"
}
tib=2147483648
dmsetup create zero --table "0 $tib zero" && dmsetup mknodes >/dev/null 2>&1 || exit 1
for bs in 128 8; do
	blocks=$((tib / bs))
	pages=$(((blocks + 32639) / 32640))
	dl_fresh_meta "$DL_SPARE"
	base=$(kmem)
	dmsetup create mem --table "0 $tib dirtylog $DL_SPARE /dev/mapper/zero $bs" || exit 1
	empty=$(($(kmem) - base))
	dmsetup message mem 0 mark_dirty 0 $blocks || exit 1
	full=$(($(kmem) - base))
	dmsetup remove mem
	for st in empty full; do
		if [ $st = empty ]; then
			got=$empty want=$((pages * 16 / 1024))
		else
			got=$full want=$((pages * (4096 + 16) / 1024))
		fi
		bench_line "$(printf '"row":"memory-1tib","state":"%s","target":"dirtylog","dev":"dm-zero","block_kib":%s,"metric":"kib","median":%s,"formula":%s' \
			$st $((bs / 2)) "$got" "$want")"
	done
done
dmsetup remove zero


# --- null_blk (memory-backed): the CPU cost ----------------------------
modprobe null_blk nr_devices=2 memory_backed=1 gb=2 bs=4096 || exit 1
META_DISK=/dev/nullb1
overhead nullb /dev/nullb0 /dev/nullb1 131072 1024 || exit 1

# --- data on null_blk, metadata on the virtio disk ------------------------
# Where users put metadata: a disk whose flushes cost real time (the host's
# fdatasync of the image file, cache=none), under a data device that costs
# nothing.  First-touch 4 KiB random writes (4 KiB blocks), dm-era and
# dirtylog each with a slice of the virtio metadata disk.
META_DISK=$DL_META
dmsetup create lin --table "0 $(dl_sectors /dev/nullb0) linear /dev/nullb0 0" &&
	mk_tracked era_mv era 4 /dev/nullb0 "$DL_META" 0 40960 &&
	mk_tracked dl_mv dirtylog 4 /dev/nullb0 "$DL_META" 1 40960 ||
	{ echo "# nullb-vmeta: cannot create the devices"; exit 1; }
cfg_mv="linear:steady:lin:0 era:first-touch:era_mv:4 dirtylog:first-touch:dl_mv:4"
# shellcheck disable=SC2086
run_row nullb-vmeta randwrite-4k-qd32 randwrite 4k 32 1024 $cfg_mv &&
	run_row nullb-vmeta randwrite-4k-qd1 randwrite 4k 1 1024 $cfg_mv || exit 1
dmsetup remove_all
META_DISK=/dev/nullb1

# --- a large device: 256 GiB of dm-zero, 1 GiB of metadata ---------------
# The rows above write a 1 GiB region, 9 bitmap pages at 4 KiB blocks, so
# most first writes find their page in the interval already and commit in
# place.  Here random first writes spread over 256 GiB (2057 pages) mostly
# start a page of the interval: copy-on-write commits (pages, nodes,
# superblock) over a 1 GiB metadata device (262144 blocks), where any
# per-commit work that grows with the metadata device shows.  dm-zero
# costs nothing, like null_blk.
dmsetup create bigz --table "0 $((256 << 21)) zero" &&
	dmsetup mknodes >/dev/null 2>&1 &&
	dmsetup create lin --table "0 $((256 << 21)) linear /dev/mapper/bigz 0" &&
	mk_tracked era_big era 4 /dev/mapper/bigz /dev/nullb1 0 2097152 &&
	mk_tracked dl_big dirtylog 4 /dev/mapper/bigz /dev/nullb1 1 2097152 ||
	{ echo "# zero-256g: cannot create the devices"; exit 1; }
cfg_big="linear:steady:lin:0 era:first-touch:era_big:4 dirtylog:first-touch:dl_big:4"
# dm-era digests each old era in the background, a pass over 64M bits
# here: wait for it (up to 2 min), or it slows whatever runs next.
SETTLE_TRIES=600
# shellcheck disable=SC2086
run_row zero-256g randwrite-4k-qd32 randwrite 4k 32 262144 $cfg_big &&
	run_row zero-256g randwrite-4k-qd1 randwrite 4k 1 262144 $cfg_big || exit 1
SETTLE_TRIES=25
dmsetup remove_all

# --- write cost against live checkpoints (null_blk, 4 KiB blocks) -------
# dl_c1 keeps one checkpoint, dl_c256 256 (each interval holds a write).
dmsetup create lin --table "0 $(dl_sectors /dev/nullb0) linear /dev/nullb0 0" &&
	mk_tracked dl_c1 dirtylog 4 /dev/nullb0 /dev/nullb1 6 131072 &&
	mk_tracked dl_c256 dirtylog 4 /dev/nullb0 /dev/nullb1 7 131072 &&
	dmsetup message dl_c1 0 checkpoint c1 >/dev/null &&
	./dl_bench_time msg -w /dev/mapper/dl_c256 dl_c256 256 "checkpoint c%d" > "$W/c256" ||
	exit 1
ktap_diag "256 checkpoints made: $(dl_status_field dl_c256 4) live"
prefill /dev/mapper/dl_c1 1024 && prefill /dev/mapper/dl_c256 1024 || exit 1
run_ckpts() {		# run_ckpts STATE
	_row=randwrite-4k-qd32-ckpts
	_round=0
	while [ $_round -lt "$RUNS" ]; do
		for _dm in lin dl_c1 dl_c256; do
			_t=dirtylog-${_dm#dl_c}ckpt
			[ $_dm = lin ] && _t=linear
			_n=$((_round + 1))
			if [ "$1" = first-touch ] && [ $_dm != lin ]; then
				_live=${_dm#dl_c}
				dmsetup message $_dm 0 checkpoint "c$((_live + _n))" >/dev/null
			fi
			settle
			_r=$(fio_run "/dev/mapper/$_dm" randwrite 4k 32 1024) || return 1
			if [ "$1" = first-touch ] && [ $_dm != lin ]; then
				dmsetup message $_dm 0 delete_checkpoint "c$_n" >/dev/null
			fi
			echo "$_r -" >> "$W/nullb.$_row.$1.$_t"
		done
		_round=$((_round + 1))
	done
	for _t in linear dirtylog-1ckpt dirtylog-256ckpt; do
		report nullb $_row "$1" $_t 4 32
	done
}
run_ckpts steady || exit 1
# dirtylogctl dirty --since the oldest checkpoint, interleaved: the union
# of 256 intervals against one interval, with nearly the same answer (the
# region written since c1 on both, plus the 256 scattered single blocks).
_i=0
while [ $_i -lt "$RUNS" ]; do
	for _dm in dl_c1 dl_c256; do
		./dl_bench_time exec 1 dirtylogctl dirty $_dm --since c1 >> "$W/dirty.$_dm" ||
			exit 1
	done
	_i=$((_i + 1))
done
ktap_diag "dirty --since c1: dl_c1 $(dirtylogctl dirty dl_c1 --since c1 | wc -l) lines," \
	"dl_c256 $(dirtylogctl dirty dl_c256 --since c1 | wc -l) lines"
awk '{ print $1 / 1000 }' "$W/dirty.dl_c1" > "$W/d1"
c1med=$(stats "$W/d1" 1 | cut -d' ' -f1)
for _dm in dl_c1 dl_c256; do
	awk '{ print $1 / 1000 }' "$W/dirty.$_dm" > "$W/dms"
	read -r _med _min _max _p _n <<-EOF
		$(stats "$W/dms" 1)
	EOF
	bench_line "$(printf '"row":"dirty-since-oldest","state":"steady","target":"dirtylog-%sckpt","dev":"nullb","block_kib":4,"metric":"ms","median":%s,"min":%s,"max":%s,"ratio":%s,"runs":%s' \
		"${_dm#dl_c}" "$_med" "$_min" "$_max" \
		"$(ratio "$_med" "$c1med")" "$_n")"
done
run_ckpts first-touch || exit 1
ktap_diag "live checkpoints after the runs: dl_c1 $(dl_status_field dl_c1 4), dl_c256 $(dl_status_field dl_c256 4)"

# --- first-touch writes while a full dirty-map query runs ------------------
# A 64 GiB device over dm-zero at 4 KiB blocks (512 bitmap pages), fully
# marked in the interval q0..q1, its metadata on a brd RAM disk (bio-based
# like dm-zero: 6.12's null_blk lost a request of this mix once, a WARN in
# blk_zone_write_plug_finish_request after one in sbitmap_queue_get_shallow,
# and the commit waiting for it hung the run).  "query": a loop
# of 'dirtylogctl dirty --since q0' (512 frozen pages and the active ones)
# runs for the whole fio run; "first-touch": the same run without it.  Each
# run starts a new checkpoint (first-touch writes), the previous one is
# deleted after it.  Queries read frozen trees without the metadata lock
# (issue #18, point 10): the row says what a query costs a writer that
# waits for marks, CPU time of the query included (2 guest CPUs).
# "first-touch+cpu" is the control: the same run beside a shell loop that
# only burns CPU.  Under icount the guest's CPUs take turns on one host
# thread, so anything runnable beside the writer costs it about half; a
# query that stalls nobody costs no more than the loop does.
qsect=$((1 << 27))
dmsetup create qzero --table "0 $qsect zero" && dmsetup mknodes >/dev/null 2>&1 &&
	dmsetup create qlin --table "0 $qsect linear /dev/mapper/qzero 0" && dmsetup mknodes >/dev/null 2>&1 &&
	modprobe brd rd_nr=1 rd_size=131072 && dl_wait_for 5 test -b /dev/ram0 &&
	mk_tracked dl_q dirtylog 4 /dev/mapper/qzero /dev/ram0 0 131072 &&
	dmsetup message dl_q 0 checkpoint q0 >/dev/null &&
	dmsetup message dl_q 0 mark_dirty 0 $((qsect / 8)) &&
	dmsetup message dl_q 0 checkpoint q1 >/dev/null || exit 1
query_loop() {
	while [ ! -e "$W/qstop" ]; do
		dirtylogctl dirty dl_q --since q0 >/dev/null 2>>"$W/qerr" ||
			{ echo fail >> "$W/qfail"; return 1; }
		echo >> "$W/qcount"
	done
}
cpu_loop() {
	while [ ! -e "$W/qstop" ]; do :; done
}
run_qstall() {		# run_qstall QD
	_row=randwrite-4k-qd$1-query
	_round=0
	while [ $_round -lt "$RUNS" ]; do
		for _c in linear first-touch first-touch+query first-touch+cpu; do
			_dm=dl_q _t=dirtylog _s=$_c
			[ $_c = linear ] && _dm=qlin _t=linear _s=steady
			qn=$((qn + 1))
			[ $_dm = dl_q ] && dmsetup message dl_q 0 checkpoint "r$qn" >/dev/null
			settle
			rm -f "$W/qstop"
			qpid=
			[ $_c = first-touch+query ] && { query_loop & qpid=$!; }
			[ $_c = first-touch+cpu ] && { cpu_loop & qpid=$!; }
			[ -n "$qpid" ] && sleep 0.5
			_r=$(fio_run "/dev/mapper/$_dm" randwrite 4k "$1" 1024) || return 1
			[ -n "$qpid" ] && { touch "$W/qstop"; wait $qpid; }
			[ $_dm = dl_q ] && [ $qn -gt 1 ] &&
				dmsetup message dl_q 0 delete_checkpoint "r$((qn - 1))" >/dev/null 2>&1
			echo "$_r -" >> "$W/zero.$_row.$_s.$_t"
		done
		_round=$((_round + 1))
	done
	report zero "$_row" steady linear 0 "$1"
	report zero "$_row" first-touch dirtylog 4 "$1"
	report zero "$_row" first-touch+query dirtylog 4 "$1"
	report zero "$_row" first-touch+cpu dirtylog 4 "$1"
}
qn=0
run_qstall 32 && run_qstall 1 || exit 1
ktap_diag "full-map queries during the runs: $(wc -l < "$W/qcount" 2>/dev/null || echo 0)," \
	"failed: $(wc -l < "$W/qfail" 2>/dev/null || echo 0) $(head -c 200 "$W/qerr" 2>/dev/null)"
dmsetup remove_all
rmmod null_blk brd

# --- the virtio disk ------------------------------------------------------
META_DISK=$DL_META
overhead virtio "$DL_DATA" "$DL_META" 20480 448 || exit 1

for r in export apply; do
	bench_line "\"row\":\"$r\",\"note\":\"not measured: export lands with issue #5\""
	echo "# $r: not measured: export lands with issue #5"
done

# --- goals ------------------------------------------------------------------
S=$W/summary
get() {			# get DEV ROW STATE TARGET METRIC FIELD(6 median, 7 ratio)
	awk -v d="$1" -v r="$2" -v s="$3" -v t="$4" -v m="$5" -v f="$6" \
		'$1 == d && $2 == r && $3 == s && $4 == t && $5 == m { print $f }' "$S"
}
goal() {		# goal OK DESCRIPTION
	ktap_result "$1" "goal: $2"
}
atleast() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }'; }
atmost() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a <= b) }'; }

q=$(get zero randwrite-4k-qd32-query first-touch+query dirtylog iops 6)
f=$(get zero randwrite-4k-qd32-query first-touch dirtylog iops 6)
x=$(ratio "$q" "$f")
p=$(get zero randwrite-4k-qd1-query first-touch+query dirtylog p99_us 6)
p0=$(get zero randwrite-4k-qd1-query first-touch dirtylog p99_us 6)
atleast "$x" 0.8 && [ ! -s "$W/qfail" ]
goal $? "first-touch 4 KiB writes at QD32 during full-map queries >= 0.8 x without (measured $x; QD1 p99 $p us against $p0 us)"
c=$(get zero randwrite-4k-qd32-query first-touch+cpu dirtylog iops 6)
x=$(ratio "$q" "$c")
atleast "$x" 0.95 && [ ! -s "$W/qfail" ]
goal $? "full-map queries cost a QD32 first-touch writer no more than a loop burning CPU (queries / loop $x >= 0.95; the loop alone: $(ratio "$c" "$f") x without)"
# behind_era DEV: the rows of DEV where dirtylog is behind dm-era ("" if
# none): every row, state and metric both measured.
behind_era() {
	awk -v d="$1" -v tie=$ERA_TIE '
		$1 == d && ($4 == "dirtylog" || $4 == "era") {
			v[$2 " " $3 " " $5, $4] = $6; q[$2 " " $3 " " $5, $4] = $7
			k[$2 " " $3 " " $5] = $5
		}
		END {
			for (r in k) {
				dl = v[r, "dirtylog"]; era = v[r, "era"]
				if (dl == "" || era == "") continue
				n++
				higher = (k[r] == "iops")
				if (higher ? dl < era * (1 - tie) : dl > era * (1 + tie)) {
					# Ratios to linear where there are, else the values.
					if (q[r, "dirtylog"] != "-") {
						dl = q[r, "dirtylog"]; era = q[r, "era"] " x linear"
					}
					gsub(/ /, "/", r); printf "%s%s (%s vs %s)", sep, r, dl, era; sep = ", "
				}
			}
			if (!n) print "no rows"
		}' "$S"
}
for d in nullb virtio; do
	# Issue #19: 0.99 of linear on null_blk, dm-era's ratio on both
	# (behind_era below); first touch 0.85 on null_blk, 0.75 on virtio.
	steady=0.97 ft=0.75
	[ $d = nullb ] && steady=0.99 ft=0.85
	x=$(get $d randwrite-4k-qd32 steady dirtylog iops 7)
	atleast "$x" $steady
	goal $? "$d: steady 4 KiB random writes at QD32 >= $steady x linear IOPS (measured $x)"
	x=$(get $d randwrite-4k-qd1 steady dirtylog p99_us 7)
	atmost "$x" 1.10
	goal $? "$d: steady QD1 write p99 latency within 10% of linear (measured $x x linear)"
	x=$(get $d randwrite-4k-qd32 first-touch dirtylog iops 7)
	atleast "$x" $ft
	goal $? "$d: first-touch 4 KiB random writes at QD32 >= $ft x linear IOPS (measured $x)"
	x=$(get $d randread-4k-qd32 steady dirtylog iops 7)
	atleast "$x" 0.99
	goal $? "$d: 4 KiB random reads >= 0.99 x linear IOPS (measured $x)"
	behind=$(behind_era $d)
	[ -z "$behind" ]
	goal $? "$d: ahead of dm-era in every row (ties within ${ERA_TIE} count)${behind:+: behind in $behind}"
	x=$(get $d checkpoint-create writer dirtylog p99_ms 6)
	e=$(get $d checkpoint-create writer era p99_ms 6)
	atmost "$x" 10 && atmost "$x" "$(awk -v e="$e" 'BEGIN { print e / 2 }')"
	goal $? "$d: checkpoint create p99 < 10 ms and <= half of dm-era's with a writer running (measured $x ms, dm-era $e ms)"
	x=$(get $d checkpoint-delete writer dirtylog p99_ms 6)
	atmost "$x" 10
	goal $? "$d: checkpoint delete p99 < 10 ms with a writer running (measured $x ms)"
done
behind=$(behind_era nullb-vmeta)
[ -z "$behind" ]
goal $? "nullb-vmeta (metadata on virtio): ahead of dm-era in every row${behind:+: behind in $behind}"
behind=$(behind_era zero-256g)
[ -z "$behind" ]
goal $? "zero-256g (first writes over 256 GiB, 1 GiB of metadata): ahead of dm-era in every row${behind:+: behind in $behind}"
ktap_finish
