# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
# Helpers for host tests against a throwaway Ceph cluster (sourced).
#
#   ceph_start DIR          scripts/ceph-local start; sets CEPH_CONF and
#                           ceph_start_seconds
#   ceph_stop               stops it (idempotent; call it from the trap)
#   crbd ARGS...            rbd -c $CEPH_CONF ARGS, bounded in time
#   model_apply FILE SEED OPS
#   ceph_image_apply IMAGE FILE OPS
#   ceph_export_matches IMAGE@SNAP FILE
#
# The expected content of an image lives in a model file, changed by OPS
# (one operation a line, byte offsets and lengths):
#   w OFF LEN   write LEN seeded random bytes at OFF
#   z OFF LEN   write zeroes at OFF
#   d OFF LEN   discard (the range must cover whole RBD objects)
# model_apply writes the model with dd; ceph_image_apply then makes the
# same change to an image through librbd (the Python binding Ceph ships),
# copying written bytes from the model; rbd export checks the result.
# Random bytes are an AES-128-CTR keystream keyed by SEED, the IV by the
# line's offset, so a seed replays a run.

_ceph_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_ceph_dir=
CEPH_CONF=
ceph_start_seconds=

# The interpreter whose modules include Ceph's, whatever python3 PATH finds.
_ceph_python=/usr/bin/python3

ceph_start() {
	local t0 out rc
	_ceph_dir=$1
	t0=$(date +%s.%N)
	out=$("$_ceph_top/scripts/ceph-local" start "$_ceph_dir" 2>&1)
	rc=$?
	# Its progress and errors as KTAP diagnostics.
	grep -v '^CEPH_CONF=' <<<"$out" | sed 's/^/# /'
	((rc == 0)) || return 1
	out=$(grep '^CEPH_CONF=' <<<"$out")
	# shellcheck disable=SC2034 # for the caller
	ceph_start_seconds=$(awk -v a="$(date +%s.%N)" -v b="$t0" \
		'BEGIN { printf "%.1f", a - b }')
	CEPH_CONF=${out#CEPH_CONF=}
	[[ -f $CEPH_CONF ]]
}

ceph_stop() {
	[[ -n $_ceph_dir ]] || return 0
	"$_ceph_top/scripts/ceph-local" stop "$_ceph_dir"
}

crbd() {
	timeout 60 rbd -c "$CEPH_CONF" "$@"
}

# model_apply FILE SEED OPS
model_apply() {
	local - file=$1 seed=$2 op off len
	set -o pipefail
	while read -r op off len; do
		[[ -n $op ]] || continue
		case $op in
		w)
			# openssl dies of SIGPIPE once head has enough.
			{ openssl enc -aes-128-ctr -nosalt \
				-K "$(printf '%032x' "$seed")" \
				-iv "$(printf '%032x' "$off")" </dev/zero 2>/dev/null || :; } |
				head -c "$len" |
				dd of="$file" bs=64K seek="$off" oflag=seek_bytes \
					iflag=fullblock conv=notrunc status=none || return 1
			;;
		z | d)
			head -c "$len" /dev/zero |
				dd of="$file" bs=64K seek="$off" oflag=seek_bytes \
					iflag=fullblock conv=notrunc status=none || return 1
			;;
		*)
			echo "model_apply: bad operation '$op'" >&2
			return 1
			;;
		esac
	done <<<"$3"
}

# ceph_image_apply IMAGE FILE OPS: IMAGE is [POOL/]NAME (pool rbd).
ceph_image_apply() {
	local pool=rbd image=$1
	if [[ $image == */* ]]; then
		pool=${image%%/*}
		image=${image#*/}
	fi
	timeout 60 "$_ceph_python" - "$CEPH_CONF" "$pool" "$image" "$2" "$3" <<'EOF'
import sys
import rados
import rbd

conf, pool, name, model, ops = sys.argv[1:]
with rados.Rados(conffile=conf) as cluster, \
        cluster.open_ioctx(pool) as ioctx, \
        rbd.Image(ioctx, name) as image, \
        open(model, 'rb') as f:
    for line in ops.splitlines():
        if not line.strip():
            continue
        op, off, length = line.split()
        off, length = int(off), int(length)
        if op == 'w':
            f.seek(off)
            data = f.read(length)
            assert len(data) == length, 'model too short'
            assert image.write(data, off) == length
        elif op == 'z':
            image.write_zeroes(off, length)
        elif op == 'd':
            image.discard(off, length)
        else:
            sys.exit('ceph_image_apply: bad operation ' + op)
EOF
}

# ceph_export_matches IMAGE[@SNAP] FILE: rbd export equals the model byte
# for byte (sha256); prints both hashes when they differ.
ceph_export_matches() {
	local - got want
	set -o pipefail
	got=$(crbd export --no-progress "$1" - | sha256sum) || return 1
	want=$(sha256sum <"$2")
	[[ $got == "$want" ]] && return 0
	echo "$1: sha256 ${got%% *}, model $2: ${want%% *}"
	return 1
}
