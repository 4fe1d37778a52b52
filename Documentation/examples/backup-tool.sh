#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# A small backup tool built only on 'dirtylogctl ... --json': a chain of
# diff files (one full, then incrementals) and, beside each incremental,
# a bitmap file of exactly the blocks it covers.  It survives failed runs:
# whatever happens to a run, the next one still covers every change.
#
#   backup-tool.sh backup             one backup of $DEV into $REPO
#   backup-tool.sh restore N IMAGE    rebuild backup N (1 = the full) in IMAGE
#   backup-tool.sh list               the chain, with each bitmap file's count
#
# Environment: DEV (dirtylog device name, required), REPO (backup
# directory, required), PREFIX (checkpoint name prefix [bt]).
#
# The repository:
#   REPO/chain        one line per good backup: "SEQ CHECKPOINT"
#   REPO/SEQ.dld      the diff (native format) ending at CHECKPOINT
#   REPO/SEQ.dlbm     bitmap file (dirtylogctl dirty -o): the blocks of
#                     SEQ.dld, from the previous checkpoint to CHECKPOINT
#
# How failures are survived.  A backup is "good" only once its line is in
# REPO/chain, and only then is the previous checkpoint deleted.  So the
# device always keeps the checkpoint of the last good backup, and the next
# run exports everything since that checkpoint.  A run that fails:
#  - inside export (target full, I/O error, SIGTERM/SIGINT): export
#    deletes its new checkpoint itself and leaves only FILE.partial;
#  - after export (the bitmap file or the check of the diff fails, the
#    tool is killed before the chain is written): the new checkpoint
#    stays.  The next run finds it (a checkpoint with our prefix that the
#    chain does not know) and deletes it; deleting a checkpoint merges its
#    interval into the next one, so nothing it covered is lost.
# Files of failed runs are removed at the start of the next run.
# ('dirtylogctl mark-dirty --from FILE' is not needed here: it puts a
# bitmap file's blocks back into the active interval, the remedy when the
# checkpoint of the last good backup was deleted too early.  This tool
# never deletes it before the next backup is committed.)
#
# JSON is read with sed: dirtylogctl prints each --json answer on one line
# and the fields used here are numbers or plain names.
set -u

PREFIX=${PREFIX:-bt}
: "${DEV:?set DEV to the dirtylog device name}"
: "${REPO:?set REPO to the backup directory}"

die() { echo "backup-tool: $*" >&2; exit 1; }
# json_num KEY: the number KEY in the JSON object on stdin.
json_num() { sed -n "s/.*\"$1\":\([0-9][0-9]*\).*/\1/p"; }
# json_names: every "name":"..." on stdin, one per line.
json_names() { grep -o '"name":"[^"]*"' | sed 's/^"name":"//; s/"$//'; }

last_seq() { [ -s "$REPO/chain" ] && tail -n 1 "$REPO/chain" | cut -d' ' -f1 || echo 0; }
last_ckpt() { [ -s "$REPO/chain" ] && tail -n 1 "$REPO/chain" | cut -d' ' -f2; }

# Remove what failed runs left: stray checkpoints and files beyond the chain.
recover() {
	known=$(cut -d' ' -f2 "$REPO/chain" 2>/dev/null)
	dirtylogctl --json checkpoint list "$DEV" | json_names | while read -r c; do
		case $c in "$PREFIX"-*) ;; *) continue ;; esac
		echo "$known" | grep -qxF "$c" && continue
		echo "backup-tool: deleting checkpoint $c of a failed run"
		dirtylogctl checkpoint delete "$DEV" "$c" || exit 1
	done || die "cannot delete a stray checkpoint"
	seq=$(last_seq)
	for f in "$REPO"/*.dld "$REPO"/*.dlbm "$REPO"/*.partial; do
		[ -e "$f" ] || continue
		s=$(basename "$f" | sed 's/\..*//')
		case $s in *[!0-9]*) continue ;; esac
		[ "$(expr "$s" + 0)" -gt "$seq" ] || continue
		echo "backup-tool: removing $(basename "$f") of a failed run"
		rm -f "$f"
	done
}

backup() {
	mkdir -p "$REPO"
	recover
	prev=$(last_ckpt)
	seq=$(($(last_seq) + 1))
	s=$(printf %04d "$seq")
	# A name that was never used on this device: the sequence number and
	# the time (a failed run's name is deleted, never reused).
	new=$PREFIX-$s-$(date +%s)-$$
	if [ -z "$prev" ]; then
		since=""
	else
		since="--since $prev"
	fi
	# 1. The diff.  Export writes FILE.partial and renames it when done.
	# shellcheck disable=SC2086 # $since is empty or two words
	out=$(dirtylogctl --json export "$DEV" $since --checkpoint "$new" \
		-o "$REPO/$s.dld") || die "export failed; the next run covers these changes"
	blocks=$(echo "$out" | json_num dirty_blocks)
	# 2. The bitmap file of an incremental: what it covers, for 'list' and
	# for anyone who wants to know which blocks a backup holds.
	if [ -n "$prev" ]; then
		bm=$(dirtylogctl --json dirty "$DEV" --since "$prev" --until "$new" \
			-o "$REPO/$s.dlbm") || die "cannot save the bitmap file"
		[ "$(echo "$bm" | json_num dirty_blocks)" = "$blocks" ] ||
			die "the bitmap file and the export disagree"
	fi
	# 3. Read the diff back before trusting it.
	dirtylogctl --json verify "$REPO/$s.dld" >/dev/null || die "the new diff does not verify"
	# 4. Commit: the chain line (written aside, then renamed), then the
	# previous checkpoint is no longer needed.
	{ cat "$REPO/chain" 2>/dev/null; echo "$seq $new"; } >"$REPO/chain.new" &&
		sync && mv "$REPO/chain.new" "$REPO/chain" || die "cannot write the chain"
	[ -n "$prev" ] && dirtylogctl checkpoint delete "$DEV" "$prev"
	echo "backup $seq: $new, $blocks blocks"
}

restore() {
	n=$1 img=$2
	[ -s "$REPO/chain" ] && [ "$n" -ge 1 ] && [ "$n" -le "$(last_seq)" ] ||
		die "no backup $n"
	rm -f "$img" "$img.dlstate"
	i=1
	while [ "$i" -le "$n" ]; do
		dirtylogctl apply "$REPO/$(printf %04d "$i").dld" "$img" >/dev/null ||
			die "apply of backup $i failed"
		i=$((i + 1))
	done
	rm -f "$img.dlstate"
	echo "restored backup $n into $img"
}

list() {
	[ -s "$REPO/chain" ] || { echo "no backups"; return 0; }
	bms=""
	while read -r seq ckpt; do
		s=$(printf %04d "$seq")
		if [ -e "$REPO/$s.dlbm" ]; then
			b=$(dirtylogctl --json show "$REPO/$s.dlbm" | json_num dirty_blocks)
			echo "$seq $ckpt incremental, $b blocks"
			bms="$bms $REPO/$s.dlbm"
		else
			echo "$seq $ckpt full"
		fi
	done <"$REPO/chain"
	# The bitmap files cover consecutive intervals: merged, they say how
	# much changed since the full backup (blocks written on several
	# nights count once).
	[ -n "$bms" ] || return 0
	# shellcheck disable=SC2086 # file names without blanks
	b=$(dirtylogctl --json merge $bms -o "$REPO/merged.tmp" | json_num dirty_blocks) ||
		die "cannot merge the bitmap files"
	rm -f "$REPO/merged.tmp"
	echo "changed since the full backup: $b blocks"
}

case ${1:-} in
backup) backup ;;
restore) [ $# -eq 3 ] || die "usage: restore N IMAGE"; restore "$2" "$3" ;;
list) list ;;
*) die "usage: backup-tool.sh backup | restore N IMAGE | list" ;;
esac
