#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
# check-timeout: 900
# Packaging: the Debian packages build from a clean copy of the tree with
# no module build and no test run, lintian finds no error, the packages
# hold what they should, DKMS builds the packaged module sources for every
# installed kernel (in a throwaway DKMS tree: the host's DKMS state and
# /lib/modules are not touched), dirtylog-tools installs, works and
# purges cleanly, the man pages render without warnings, the bash
# completion completes, and 'make install DESTDIR=... PREFIX=/usr' and
# 'make uninstall' put and remove the expected files.  DKMS also builds
# the module for each kernel tree of scripts/kernel-trees (5.15 to 7.1.5;
# a missing tree is skipped), refuses a kernel outside the supported range
# by its BUILD_EXCLUSIVE_KERNEL, and signs what it builds (modinfo -F
# signer), as 'make install MODULE_SIG_KEY=... MODULE_SIG_CERT=...' does.
# Runs on the host, as root (dirtylog-tools is really installed and
# removed again).
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
tmp=$(mktemp -d /tmp/dl-pkg09.XXXXXX)
installed_tools=0

cleanup()
{
	if ((installed_tools)); then
		apt-get purge -y -q -o DPkg::Lock::Timeout=300 dirtylog-tools \
			>/dev/null 2>&1 || dpkg --purge dirtylog-tools >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

version=$(cat "$top/VERSION")
kvers=$("$top/scripts/kvers")
nk=$(wc -w <<<"$kvers")
# The other kernels: "VER compile|boot|missing DIR" (unpacked by make).
mapfile -t trees < <("$top/scripts/kernel-trees" list "$build")
nt=${#trees[@]}
n=0
ok()     { n=$((n + 1)); echo "ok $n $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n $*"; }
skip()   { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
# Show a file (a log) as KTAP comments.
show()   { sed 's/^/# /' "$1" | tail -n "${2:-20}"; }

echo "KTAP version 1"
echo "1..$((14 + nk + nt))"

# 1. One version everywhere.
chv=$(cd "$top" && dpkg-parsechangelog -S Version 2>/dev/null)
toolv=$("$build/bin/dirtylogctl" --version 2>&1)
if [ "$chv" = "$version" ] && [ "$toolv" = "dirtylogctl $version" ] &&
	grep -q '^PACKAGE_VERSION="#MODULE_VERSION#"$' "$top/dkms.conf"; then
	ok "VERSION ($version), debian/changelog, dirtylogctl --version and dkms.conf agree"
else
	echo "# VERSION '$version', changelog '$chv', tool '$toolv'"
	not_ok "VERSION, debian/changelog, dirtylogctl --version and dkms.conf agree"
fi

# 2. The packages build from a clean copy of the tree: the files git knows
# (tracked or new, as they are in the working tree), nothing built.
src=$tmp/src/dm-dirtylog
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
	tar --null -cf - -T -) | tar -xf - -C "$src"
if (cd "$src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1 &&
	changes=$(ls "$tmp"/src/dm-dirtylog_"$version"_*.changes 2>/dev/null) &&
	tools_deb=$(ls "$tmp"/src/dirtylog-tools_"$version"_*.deb) &&
	dkms_deb=$(ls "$tmp"/src/dm-dirtylog-dkms_"$version"_all.deb); then
	ok "dpkg-buildpackage -us -uc -b builds both packages from a clean copy"
else
	show "$tmp/build.log"
	not_ok "dpkg-buildpackage -us -uc -b builds both packages from a clean copy"
	changes="" tools_deb="" dkms_deb=""
fi

# 3. ... without building a module (DKMS does that on install) or running
# the test suite (it needs VMs).
kos=$(find "$src" -name '*.ko' -o -name '*.mod.c' | head -3)
if [ -z "$kos" ] && [ -s "$tmp/build.log" ] &&
	! grep -q -E 'M=|scripts/check|run_tests|^ok [0-9]' "$tmp/build.log"; then
	ok "the package build built no module and ran no test"
else
	echo "# module objects: ${kos:-none}"
	grep -E 'M=|scripts/check|run_tests|^ok [0-9]' "$tmp/build.log" | show /dev/stdin 5
	not_ok "the package build built no module and ran no test"
fi

# 4. lintian: no errors (it exits non-zero on one; warnings are shown).
if [ -n "$changes" ] &&
	lintian --pedantic --fail-on error "$changes" >"$tmp/lintian.log" 2>&1 &&
	! grep -q '^E:' "$tmp/lintian.log"; then
	grep -E '^[WIP]:' "$tmp/lintian.log" | show /dev/stdin
	ok "lintian reports no error"
else
	[ -f "$tmp/lintian.log" ] && show "$tmp/lintian.log"
	not_ok "lintian reports no error"
fi

# Every path of $2 is in package $1 (dpkg-deb -c), else say which is not.
has_paths()
{
	local deb=$1 p rc=0
	shift
	dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$tmp/list"
	for p in "$@"; do
		grep -qxF "$p" "$tmp/list" || { echo "# $(basename "$deb") lacks $p"; rc=1; }
	done
	return $rc
}

# 5. dirtylog-tools: the tool, its man page, the completion; library
# dependencies from shlibs, no dkms.
if [ -n "$tools_deb" ] &&
	has_paths "$tools_deb" /usr/sbin/dirtylogctl /usr/share/man/man8/dirtylogctl.8.gz \
		/usr/share/bash-completion/completions/dirtylogctl \
		/lib/systemd/system/dirtylog-activate.service /etc/dirtylog/dirtylogtab \
		/usr/share/doc/dirtylog-tools/copyright &&
	deps=$(dpkg-deb -f "$tools_deb" Depends) &&
	[[ $deps == *libnl-genl-3-200* && $deps == *libdevmapper1.02.1* && $deps != *dkms* ]] &&
	! grep -q '^/usr/src' "$tmp/list"; then
	ok "dirtylog-tools holds dirtylogctl, its man page and completion; Depends: $deps"
else
	echo "# Depends: ${deps:-?}"
	not_ok "dirtylog-tools holds dirtylogctl, its man page and completion"
fi

# 6. dm-dirtylog-dkms: the DKMS source tree with a versioned dkms.conf,
# the target's man page; Architecture all, Depends dkms.
d=/usr/src/dm-dirtylog-$version
if [ -n "$dkms_deb" ] &&
	has_paths "$dkms_deb" "$d/dkms.conf" "$d/Kbuild" "$d/VERSION" \
		"$d/kernel/dirtylog-target.c" "$d/kernel/compat.h" \
		"$d/include/uapi/linux/dm-dirtylog.h" \
		/usr/share/man/man4/dm-dirtylog.4.gz &&
	[ "$(dpkg-deb -f "$dkms_deb" Architecture)" = all ] &&
	[[ $(dpkg-deb -f "$dkms_deb" Depends) == *dkms* ]] &&
	dpkg-deb -x "$dkms_deb" "$tmp/root" &&
	grep -qx "PACKAGE_VERSION=\"$version\"" "$tmp/root$d/dkms.conf" &&
	grep -qx 'AUTOINSTALL="yes"' "$tmp/root$d/dkms.conf" &&
	[ "$(cat "$tmp/root$d/VERSION")" = "$version" ] &&
	dpkg-deb -e "$dkms_deb" "$tmp/ctl" && grep -q 'dkms' "$tmp/ctl/postinst" &&
	! grep -E -q '\.(ko|o)$' "$tmp/list"; then
	ok "dm-dirtylog-dkms holds the module sources in $d, registered with dkms"
else
	not_ok "dm-dirtylog-dkms holds the module sources in $d, registered with dkms"
fi

# 7... DKMS builds the packaged sources for every installed kernel, in a
# throwaway DKMS tree; its signing key goes there too (dkms makes one).
export mok_signing_key=$tmp/mok.key mok_certificate=$tmp/mok.pub
dk=(--dkmstree "$tmp/dkms" --sourcetree "$tmp/root/usr/src")
mkdir -p "$tmp/dkms"
added=0
[ -f "$tmp/root$d/dkms.conf" ] &&
	dkms add -m dm-dirtylog -v "$version" "${dk[@]}" >"$tmp/dkms-add.log" 2>&1 && added=1
for k in $kvers; do
	log=$tmp/dkms-$k.log
	if ((added)) &&
		dkms build -m dm-dirtylog -v "$version" -k "$k" "${dk[@]}" >"$log" 2>&1 &&
		ko=$(ls "$tmp/dkms/dm-dirtylog/$version/$k"/*/module/dm-dirtylog.ko* 2>/dev/null | head -1) &&
		[ -n "$ko" ] &&
		[ "$(modinfo -F version "$ko")" = "$version" ] &&
		[[ $(modinfo -F vermagic "$ko") == "$k "* ]]; then
		ok "dkms build makes dm-dirtylog.ko $version for $k"
	else
		[ -f "$tmp/dkms-add.log" ] && show "$tmp/dkms-add.log" 5
		[ -f "$log" ] && show "$log"
		not_ok "dkms build makes dm-dirtylog.ko $version for $k"
	fi
done

# The kernel trees: dkms build against each (--kernelsourcedir), with the
# kernel's sign-file taken from Debian's 6.1 kbuild (the trees are
# prepared, not built: they have no scripts/sign-file); the compile-only
# trees have no Module.symvers, so modpost only warns there.
sign_tool=$(ls /usr/lib/linux-kbuild-*/scripts/sign-file 2>/dev/null | head -n 1)
for t in "${trees[@]}"; do
	read -r v kind dir <<<"$t"
	name="dkms build makes a signed dm-dirtylog.ko $version for $v ($kind tree)"
	if [[ $kind == missing ]]; then
		skip "$name" "no kernel tree $dir"
		continue
	fi
	ksrc=$dir
	[[ $kind == boot ]] && ksrc=$dir/linux
	log=$tmp/dkms-$v.log
	if ((added)) &&
		env ${sign_tool:+sign_file=$sign_tool} \
			$([[ $kind == compile ]] && echo KBUILD_MODPOST_WARN=1) \
			dkms build -m dm-dirtylog -v "$version" -k "$v" --kernelsourcedir "$ksrc" \
			"${dk[@]}" >"$log" 2>&1 &&
		ko=$(ls "$tmp/dkms/dm-dirtylog/$version/$v"/*/module/dm-dirtylog.ko* 2>/dev/null | head -1) &&
		[ -n "$ko" ] &&
		[[ $(modinfo -F vermagic "$ko") == "$v "* ]] &&
		[ "$(modinfo -F signer "$ko")" = "DKMS module signing key" ] &&
		! grep -v -E 'undefined!$|suppressed [0-9]+ unresolved' \
			"$tmp/dkms/dm-dirtylog/$version/$v"/*/log/make.log | grep -q -E 'warning:|error:'; then
		ok "$name"
	else
		[ -f "$log" ] && show "$log"
		[ -n "${ko:-}" ] && echo "# vermagic '$(modinfo -F vermagic "$ko")' signer '$(modinfo -F signer "$ko")'"
		not_ok "$name"
	fi
done

# A kernel outside the supported range is refused by name (exit 77, the
# BUILD_EXCLUSIVE message), not by a compiler error: 5.10 (older than
# the oldest supported) and 7.2 (newer than the newest), each given a
# real tree so that only the range can refuse it.
any=$(awk '$2 != "missing" { print $3; exit }' < <(printf '%s\n' "${trees[@]}"))
name="dkms refuses 5.10.0 and 7.2.0 by BUILD_EXCLUSIVE_KERNEL (exit 77), builds nothing"
if [ -z "$any" ]; then
	skip "$name" "no kernel tree to point at"
else
	[ -d "$any/linux" ] && any=$any/linux
	rc=0
	for v in 5.10.0 7.2.0; do
		dkms build -m dm-dirtylog -v "$version" -k "$v" --kernelsourcedir "$any" \
			"${dk[@]}" >"$tmp/excl-$v.log" 2>&1
		st=$?
		if [ "$st" != 77 ] || ! grep -q BUILD_EXCLUSIVE "$tmp/excl-$v.log" ||
			ls "$tmp/dkms/dm-dirtylog/$version/$v"/*/module/*.ko* >/dev/null 2>&1; then
			echo "# $v: exit $st"
			show "$tmp/excl-$v.log" 5
			rc=1
		fi
	done
	if ((rc == 0)); then ok "$name"; else not_ok "$name"; fi
fi

# The Debian kernels' DKMS builds above are signed with DKMS's key too.
name="the DKMS-built modules for the Debian kernels carry DKMS's signature"
rc=0
for k in $kvers; do
	ko=$(ls "$tmp/dkms/dm-dirtylog/$version/$k"/*/module/dm-dirtylog.ko* 2>/dev/null | head -1)
	s=$([ -n "$ko" ] && modinfo -F signer "$ko")
	[ "$s" = "DKMS module signing key" ] || { echo "# $k: signer '$s'"; rc=1; }
done
if ((rc == 0)); then ok "$name"; else not_ok "$name"; fi

# 8+nk-1. dirtylog-tools installs for real, works, and purges without a
# trace.  Left alone when the host already has it (or a dirtylogctl).
name="dirtylog-tools installs, dirtylogctl --version and man find it, purge removes it"
if [ -z "$tools_deb" ]; then
	not_ok "$name"
elif dpkg-query -W dirtylog-tools >/dev/null 2>&1 || [ -e /usr/sbin/dirtylogctl ]; then
	skip "$name" "dirtylog-tools or /usr/sbin/dirtylogctl already on this host"
else
	installed_tools=1
	if apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 \
			"$tools_deb" >"$tmp/apt.log" 2>&1 &&
		[ "$(/usr/sbin/dirtylogctl --version)" = "dirtylogctl $version" ] &&
		[ "$(man -w dirtylogctl)" = /usr/share/man/man8/dirtylogctl.8.gz ] &&
		[ -f /usr/share/bash-completion/completions/dirtylogctl ] &&
		apt-get purge -y -q -o DPkg::Lock::Timeout=300 dirtylog-tools \
			>>"$tmp/apt.log" 2>&1 &&
		installed_tools=0 &&
		! dpkg-query -W dirtylog-tools >/dev/null 2>&1 &&
		[ ! -e /usr/sbin/dirtylogctl ] &&
		[ ! -e /usr/share/bash-completion/completions/dirtylogctl ]; then
		ok "$name"
	else
		show "$tmp/apt.log"
		not_ok "$name"
	fi
fi

# Both man pages render without a warning from groff or man.
rc=0
for f in "$top/Documentation/man/dirtylogctl.8" "$top/Documentation/man/dm-dirtylog.4"; do
	MANWIDTH=80 man --warnings -l "$f" >/dev/null 2>"$tmp/man.err"
	if [ -s "$tmp/man.err" ]; then
		echo "# $(basename "$f"):"
		show "$tmp/man.err" 10
		rc=1
	fi
done
if ((rc == 0)); then
	ok "dirtylogctl.8 and dm-dirtylog.4 render without warnings"
else
	not_ok "dirtylogctl.8 and dm-dirtylog.4 render without warnings"
fi

# The completion: loads in a plain bash, completes commands, subcommands,
# options, device names (from dmsetup) and checkpoint names (from the
# tool's --json output), here from stand-ins for both; its command list
# is the tool's own (--help).
help_cmds=$("$build/bin/dirtylogctl" --help |
	awk '/^Commands:/ { c = 1; next } c && /^$/ { exit }
	     c && /^  [a-z]/ { print $1 }' | sort -u | tr '\n' ' ')
help_subs=$("$build/bin/dirtylogctl" --help |
	awk '/^  checkpoint [a-z]/ { print $2 }' | sort | tr '\n' ' ')
got=$(bash --norc --noprofile -c '
	set -u
	. "$1" || exit 1
	dmsetup() { printf "dla\t(253:0)\ndlb\t(253:1)\n"; }
	dirtylogctl() {
		[ "$*" = "--json checkpoint list dla" ] || return 1
		echo "{\"device\":\"dla\",\"checkpoints\":[{\"name\":\"monday\",\"id\":1,\"ctime_ns\":5},{\"name\":\"tuesday\",\"id\":2,\"ctime_ns\":6}]}"
	}
	c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _dirtylogctl
	      printf "%s\n" "${COMPREPLY[*]}"; }
	complete -p dirtylogctl >/dev/null || exit 1
	c dirtylogctl check
	c dirtylogctl "" | tr " " "\n" | sort | tr "\n" " "; echo
	c dirtylogctl checkpoint "" | tr " " "\n" | sort | tr "\n" " "; echo
	c dirtylogctl checkpoint delete d
	c dirtylogctl --json checkpoint delete dla t
	c dirtylogctl dirty dla --since ""
	c dirtylogctl dirty dla --enc
	c dirtylogctl export dla --format q
' bash "$top/scripts/completion/dirtylogctl" 2>&1)
want=$(printf '%s\n' checkpoint "$help_cmds" "$help_subs" "dla dlb" tuesday \
	"monday tuesday" --encoding qcow2)
if [ "$got" = "$want" ] && [ -n "$help_cmds" ]; then
	ok "bash completion: dirtylogctl check<TAB> gives checkpoint; commands as --help; devices, checkpoints"
else
	diff <(echo "$want") <(echo "$got") | sed 's/^/# /'
	not_ok "bash completion: dirtylogctl check<TAB> gives checkpoint; commands as --help; devices, checkpoints"
fi

# The boot unit passes systemd's own checks (directives, ordering
# dependencies, the commands it runs are executables), pointed at the
# freshly built tool.  A broken unit makes systemd-analyze fail.
sed "s|@SBINDIR@|$build/bin|g" "$top/scripts/systemd/dirtylog-activate.service.in" \
	>"$tmp/dirtylog-activate.service"
if systemd-analyze verify --man=no "$tmp/dirtylog-activate.service" >"$tmp/verify.log" 2>&1 &&
	! grep -q . "$tmp/verify.log"; then
	ok "systemd-analyze verify accepts dirtylog-activate.service"
else
	show "$tmp/verify.log"
	not_ok "systemd-analyze verify accepts dirtylog-activate.service"
fi

# make install into a DESTDIR (no DKMS there: modules_install per kernel),
# then make uninstall.
inst=$tmp/inst
want_files=(/usr/sbin/dirtylogctl /usr/share/man/man8/dirtylogctl.8
	/usr/share/man/man4/dm-dirtylog.4
	/usr/share/bash-completion/completions/dirtylogctl
	/usr/lib/systemd/system/dirtylog-activate.service /etc/dirtylog/dirtylogtab)
if make -C "$top" -s install BUILD="$build" DESTDIR="$inst" PREFIX=/usr \
		>"$tmp/install.log" 2>&1; then
	rc=0
	for f in "${want_files[@]}"; do
		[ -f "$inst$f" ] || { echo "# missing $f"; rc=1; }
	done
	for k in $kvers; do
		ko=$(ls "$inst/lib/modules/$k/updates/dm-dirtylog.ko"* 2>/dev/null)
		if [ -z "$ko" ]; then
			echo "# missing /lib/modules/$k/updates/dm-dirtylog.ko*"; rc=1
		fi
	done
	[ -x "$inst/usr/sbin/dirtylogctl" ] || rc=1
	(cd "$inst" && find . -type f | sed 's/^\./# installed /' | sort)
	make -C "$top" -s uninstall BUILD="$build" DESTDIR="$inst" PREFIX=/usr \
		>>"$tmp/install.log" 2>&1 || rc=1
	left=$(find "$inst" -type f | head -5)
	[ -z "$left" ] || { echo "# left after uninstall: $left"; rc=1; }
else
	show "$tmp/install.log"
	rc=1
fi
# ... and with a key of the user's, the installed modules are signed by it
# (the Debian 6.12 kernel installs them xz-compressed: modinfo reads both).
name="make install-module MODULE_SIG_KEY/MODULE_SIG_CERT installs signed modules"
if openssl req -new -x509 -nodes -days 2 -subj "/CN=dirtylog test key" -newkey rsa:2048 \
		-keyout "$tmp/sig.pem" -outform DER -out "$tmp/sig.der" >/dev/null 2>&1 &&
	make -C "$top" -s install-module BUILD="$build" DKMS=no DESTDIR="$tmp/signed" \
		MODULE_SIG_KEY="$tmp/sig.pem" MODULE_SIG_CERT="$tmp/sig.der" \
		>"$tmp/sign.log" 2>&1; then
	src=0
	for k in $kvers; do
		ko=$(ls "$tmp/signed/lib/modules/$k/updates/dm-dirtylog.ko"* 2>/dev/null)
		s=$([ -n "$ko" ] && modinfo -F signer "$ko")
		[ "$s" = "dirtylog test key" ] || { echo "# $k: signer '$s'"; src=1; }
	done
	# A key without its certificate is refused before anything is built.
	make -C "$top" -s install-module BUILD="$build" DKMS=no DESTDIR="$tmp/signed2" \
		MODULE_SIG_KEY="$tmp/sig.pem" >"$tmp/sign2.log" 2>&1 && src=1
	grep -q 'must both name files' "$tmp/sign2.log" || src=1
	[ -e "$tmp/signed2" ] && src=1
	if ((src == 0)); then ok "$name"; else show "$tmp/sign2.log" 5; not_ok "$name"; fi
else
	show "$tmp/sign.log"
	not_ok "$name"
fi

if ((rc == 0)); then
	ok "make install DESTDIR PREFIX=/usr installs tool, man pages, completion, module per kernel; uninstall removes them"
else
	show "$tmp/install.log" 10
	not_ok "make install DESTDIR PREFIX=/usr installs tool, man pages, completion, module per kernel; uninstall removes them"
fi
