#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# The UAPI header and the netlink YAML spec agree: every attribute and
# command of the spec has the same value in the header (compiled, so the
# values are the compiler's, not a regex's), and the header has no
# attribute or command the spec lacks.  Runs on the host.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$top/build}
spec=$top/Documentation/netlink/specs/dm-dirtylog.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name value pairs from the spec (python3's yaml is not guaranteed: parse
# the flow-style lists this spec uses with awk).
awk '
/^attribute-sets:/ { mode = "attr" }
/^operations:/ { mode = "op"; v = 0 }
/^mcast-groups:/ { mode = "" }
mode == "attr" && /^    name-prefix:/ { prefix = $2; v = 0; next }
mode == "attr" && /^      - \{name:/ {
	n = $0; sub(/.*name: */, "", n); sub(/,.*/, "", n)
	if (match($0, /value: [0-9]+/)) v = substr($0, RSTART + 7, RLENGTH - 7) + 0
	print toupper(prefix n), v; v++; next
}
mode == "op" && /^  name-prefix:/ { prefix = $2; next }
mode == "op" && /^      name:/ {
	n = $2; getline l
	if (l ~ /value:/) { split(l, a, ": "); v = a[2] + 0 }
	print toupper(prefix n), v; v++
}' "$spec" | tr '-' '_' > "$tmp/spec"

{
	echo '#include <stdio.h>'
	echo '#include <linux/dm-dirtylog.h>'
	echo 'int main(void) {'
	while read -r name value; do
		echo "printf(\"%s %d\\n\", \"$name\", (int)$name);"
	done < "$tmp/spec"
	echo 'return 0; }'
} > "$tmp/t.c"

echo "KTAP version 1"
echo "1..3"
if cc -I"$top/include/uapi" -o "$tmp/t" "$tmp/t.c" 2>"$tmp/cc.err"; then
	echo "ok 1 every spec name exists in the header"
else
	sed 's/^/# /' "$tmp/cc.err" | head -20
	echo "not ok 1 every spec name exists in the header"
fi
if [ -x "$tmp/t" ] && "$tmp/t" > "$tmp/hdr" && diff -u "$tmp/spec" "$tmp/hdr" > "$tmp/diff"; then
	echo "ok 2 values agree ($(wc -l < "$tmp/spec") names)"
else
	sed 's/^/# /' "$tmp/diff" 2>/dev/null | head -20
	echo "not ok 2 values agree"
fi
# Header names the spec lacks (max/internal ones aside).
# Enum members: a line that starts with the name.
grep -o -E '^[[:space:]]+DM_DIRTYLOG_(A|CMD)_[A-Z_0-9]+' "$top/include/uapi/linux/dm-dirtylog.h" |
	sed -E 's/^[[:space:]]+//' | grep -v -E '_MAX$' | sort -u > "$tmp/hnames"
# Operations start at 1: the spec leaves CMD_UNSPEC (0) implicit.
{ cut -d' ' -f1 "$tmp/spec"; echo DM_DIRTYLOG_CMD_UNSPEC; } | sort -u > "$tmp/snames"
extra=$(comm -23 "$tmp/hnames" "$tmp/snames" | tr '\n' ' ')
if [ -z "$extra" ]; then
	echo "ok 3 the header has nothing the spec lacks"
else
	echo "# only in the header: $extra"
	echo "not ok 3 the header has nothing the spec lacks"
fi
