# SPDX-License-Identifier: GPL-2.0-only
#
# dm-dirtylog top-level Makefile.
#
#   make            module for every supported kernel with headers installed
#                   and for each kernel tree of scripts/kernel-trees (5.15
#                   to 7.1.5, unpacked under build/kernels), dirtylogctl
#                   and the tests
#   make check      dependencies, build, native tests, VM tests on each kernel
#   make bench      dependencies, build, the benchmarks in a VM on each kernel
#   make demo       dependencies, build, a short walk-through in a VM
#   make check-long the long reliability runs (hours; see testing.rst)
#   make check-debug  the VM suite on the debug kernel (KASAN, lockdep,
#                   kmemleak; scripts/debug-kernel builds it once, ~25 min)
#   make install    the module (through DKMS when dkms is installed), the
#                   tool, man pages, bash completion; 'make uninstall'
#
# Variables: KVERS="6.12.117+deb12-cloud-amd64 ..." picks kernels (default:
# every installed */cloud-amd64 kernel with headers); KDIR=/path/to/build
# builds the module against one kernel tree only (no VM tests);
# TESTS="test_target_01.sh ..." runs only the named VM tests;
# DL_KERNEL_TREES=DIR the prepared kernel trees (default ../shared/kernels;
# DL_KERNEL_TREES=none: Debian's kernels only).
# Install: DESTDIR, PREFIX (default /usr/local), DKMS=yes|no (default: yes
# when dkms is installed and DESTDIR is empty), MODULE_SIG_KEY and
# MODULE_SIG_CERT (DKMS=no: sign the module with this key).

SHELL    := /bin/bash
BUILD    ?= build
KVERS    ?= $(shell scripts/kvers)
# The one place the version lives: dirtylogctl --version, modinfo, dkms.conf
# and the Debian changelog follow it.
VERSION  := $(shell cat VERSION)
CC       ?= gcc
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude/uapi -Iuserspace
LDLIBS_DM  := $(shell pkg-config --libs devmapper 2>/dev/null || echo -ldevmapper)
# libnl-genl-3 for the netlink client (dl-nl.c), part of the library layer
# every userspace binary links.
CFLAGS_NL  := $(shell pkg-config --cflags libnl-genl-3.0 2>/dev/null || echo -I/usr/include/libnl3)
LDLIBS_NL  := $(shell pkg-config --libs libnl-genl-3.0 2>/dev/null || echo -lnl-genl-3 -lnl-3)
CFLAGS   += $(CFLAGS_NL)
LDLIBS   := $(LDLIBS_DM) $(LDLIBS_NL) -pthread
KSELFTEST  := $(BUILD)/kselftest
KSELFTEST_CFLAGS := -isystem $(KSELFTEST)
LINUX_SOURCE ?= /usr/src/linux-source-6.1.tar.xz

KSRC := Kbuild VERSION $(wildcard kernel/*.c kernel/*.h include/uapi/linux/*.h)
LIB_SRC := userspace/dl-util.c userspace/dl-dm.c userspace/dl-nl.c userspace/dl-bmfile.c \
	userspace/dl-diff.c userspace/dl-qcow2.c userspace/dl-export.c userspace/dl-apply.c \
	userspace/dl-lvm.c userspace/dl-meta.c userspace/dl-qcow2bm.c userspace/dl-backup.c
LIB_HDR := $(wildcard userspace/*.h include/uapi/linux/*.h)
# The library layer, compiled once into a static archive that the tool and
# every test binary link (the sanitizer builds of the fuzz targets compile
# the sources themselves, with their own flags).
LIB_OBJ := $(patsubst userspace/%.c,$(BUILD)/lib/%.o,$(LIB_SRC))
LIBDL   := $(BUILD)/libdirtylog.a

NATIVE_TESTS := $(patsubst tests/native/%.c,$(BUILD)/tests/native/%,$(wildcard tests/native/*.c))
VM_CTESTS    := $(patsubst tests/vm/%.c,$(BUILD)/tests/vm/%,$(wildcard tests/vm/*.c))
# Helper programs of the rig tests (tests/rig/test_*.sh run them from the
# build directory).
RIG_PROGS    := $(BUILD)/tests/rig/dl_difftool $(BUILD)/tests/rig/dl_qcow2_gen \
	$(BUILD)/tests/rig/dl_metagen $(BUILD)/tests/rig/dl_qcow2bm_gen

.PHONY: all modules modules-trees userspace tests deps check check-native check-vm bench demo \
	checkpatch sparse clean install install-tools install-dkms-src \
	install-module uninstall

all: modules modules-trees userspace tests $(BUILD)/uapi-alone.o

# The other kernels users run (README.md, "Supported kernels"): W=1, any
# warning fails; a kernel whose tree is missing is reported as skipped.
modules-trees:
	@scripts/kernel-trees build $(BUILD)

# The UAPI header must compile on its own in userspace.
$(BUILD)/uapi-alone.o: include/uapi/linux/dm-dirtylog.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Werror -x c -c -o $@ $<

deps:
	scripts/deps

# One build directory per kernel: kbuild writes objects next to the
# sources, so each kernel gets its own copy (timestamps kept, so rebuilds
# stay incremental).
ifneq ($(KDIR),)
modules:
	mkdir -p $(BUILD)/kmod/custom
	cp -a Kbuild VERSION kernel include $(BUILD)/kmod/custom/
	$(MAKE) -C $(KDIR) M=$(abspath $(BUILD))/kmod/custom W=1 modules
else
modules:
	@test -n "$(KVERS)" || { echo "no supported kernel headers found; run 'make deps'" >&2; exit 1; }
	@set -e; for k in $(KVERS); do \
		echo "  MODULE  $$k"; \
		mkdir -p $(BUILD)/kmod/$$k; \
		cp -a Kbuild VERSION kernel include $(BUILD)/kmod/$$k/; \
		$(MAKE) -s -C /lib/modules/$$k/build M=$(abspath $(BUILD))/kmod/$$k W=1 \
			modules 2>&1 | tee $(BUILD)/kmod/$$k/build.log; \
		test $${PIPESTATUS[0]:-0} = 0; \
		if grep -q 'warning:' $(BUILD)/kmod/$$k/build.log; then \
			echo "module build for $$k has warnings" >&2; exit 1; fi; \
		test -f $(BUILD)/kmod/$$k/dm-dirtylog.ko; \
		mkdir -p $(BUILD)/kmod/$$k/testmod; \
		cp -a tests/kmod/. $(BUILD)/kmod/$$k/testmod/; \
		$(MAKE) -s -C /lib/modules/$$k/build M=$(abspath $(BUILD))/kmod/$$k/testmod W=1 \
			modules 2>&1 | grep -v '^Skipping BTF' || true; \
		test -f $(BUILD)/kmod/$$k/testmod/dm-dlfault.ko; \
	done
endif

userspace: $(BUILD)/bin/dirtylogctl

$(BUILD)/lib/%.o: userspace/%.c $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBDL): $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

TOOL_SRC := userspace/dirtylogctl.c userspace/dirtylogctl-dev.c userspace/dirtylogctl-map.c \
	userspace/dirtylogctl-diff.c userspace/dirtylogctl-meta.c \
	userspace/dirtylogctl-activate.c userspace/dirtylogctl-backup.c

$(BUILD)/bin/dirtylogctl: $(TOOL_SRC) $(LIBDL) $(LIB_HDR) VERSION
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DDL_VERSION='"$(VERSION)"' $(LDFLAGS) -o $@ \
		$(TOOL_SRC) $(LIBDL) $(LDLIBS)

tests: $(NATIVE_TESTS) $(VM_CTESTS) $(RIG_PROGS)

$(KSELFTEST)/kselftest_harness.h:
	@mkdir -p $(KSELFTEST)/tmp
	@test -f $(LINUX_SOURCE) || { echo "$(LINUX_SOURCE) missing; run 'make deps'" >&2; exit 1; }
	tar -xJf $(LINUX_SOURCE) -C $(KSELFTEST)/tmp --wildcards \
		'*/tools/testing/selftests/kselftest.h' \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	cp $(KSELFTEST)/tmp/*/tools/testing/selftests/kselftest.h $(KSELFTEST)/
	mkdir -p $(KSELFTEST)/scripts
	cp $(KSELFTEST)/tmp/*/scripts/checkpatch.pl $(KSELFTEST)/tmp/*/scripts/spelling.txt \
		$(KSELFTEST)/tmp/*/scripts/const_structs.checkpatch $(KSELFTEST)/scripts/
	cp $(KSELFTEST)/tmp/*/tools/testing/selftests/kselftest_harness.h $@
	rm -rf $(KSELFTEST)/tmp

$(BUILD)/tests/native/%: tests/native/%.c $(LIBDL) $(LIB_HDR) $(KSELFTEST)/kselftest_harness.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KSELFTEST_CFLAGS) -o $@ $< $(LIBDL) $(LDLIBS)

# test_spacemap runs kernel/dirtylog-space.c itself, copied next to the
# userspace stand-ins of tests/native/kspace (its quoted includes then
# find those, not the kernel's).
KSPACE_STUBS := $(wildcard tests/native/kspace/*.h tests/native/kspace/linux/*.h)
$(BUILD)/tests/native/test_spacemap: tests/native/test_spacemap.c kernel/dirtylog-space.c $(KSPACE_STUBS) $(KSELFTEST)/kselftest_harness.h
	@mkdir -p $(@D) $(BUILD)/kspace
	cp -r tests/native/kspace/. kernel/dirtylog-space.c $(BUILD)/kspace/
	$(CC) $(CFLAGS) $(KSELFTEST_CFLAGS) -I$(BUILD)/kspace -o $@ $< $(BUILD)/kspace/dirtylog-space.c

$(BUILD)/tests/rig/dl_difftool: tests/rig/dl_difftool.c $(LIBDL) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIBDL)

$(BUILD)/tests/vm/%: tests/vm/%.c $(LIBDL) $(LIB_HDR) $(wildcard tests/vm/*.h) $(KSELFTEST)/kselftest_harness.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(KSELFTEST_CFLAGS) -o $@ $< $(LIBDL) $(LDLIBS)

$(BUILD)/tests/rig/%: tests/rig/%.c $(LIBDL) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIBDL) $(LDLIBS)

# Fuzzing (tests/fuzz, Documentation/testing.rst "Hostile input").  The
# corpus replay is a native test built with ASan and UBSan; "make fuzz"
# runs each libFuzzer harness (clang) for FUZZ_SECONDS on a copy of the
# committed corpus, crashes going to $(BUILD)/fuzz/crash-NAME-*.
FUZZ_NAMES   := bmfile diff state size
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

$(BUILD)/tests/native/test_fuzzcorpus: tests/native/test_fuzzcorpus.c $(wildcard tests/fuzz/*.[ch]) $(LIB_SRC) $(LIB_HDR) $(KSELFTEST)/kselftest_harness.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(FUZZ_SAN) $(KSELFTEST_CFLAGS) -DDL_FUZZ_CORPUS='"$(abspath tests/fuzz/corpus)"' \
		-o $@ $< $(LIB_SRC) $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB_SRC) $(LIB_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(filter-out -O2,$(CFLAGS)) -O1 -fsanitize=fuzzer $(FUZZ_SAN) -o $@ $< $(LIB_SRC) $(LDLIBS)

$(BUILD)/fuzz/dl_fuzz_seeds: tests/fuzz/dl_fuzz_seeds.c $(LIBDL) $(LIB_HDR)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LIBDL) $(LDLIBS)

.PHONY: fuzz fuzz-seeds
fuzz: $(addprefix $(BUILD)/fuzz/fuzz_,$(FUZZ_NAMES))
	@set -e; for n in $(FUZZ_NAMES); do \
		mkdir -p $(BUILD)/fuzz/corpus/$$n; \
		cp -n tests/fuzz/corpus/$$n/* $(BUILD)/fuzz/corpus/$$n/; \
		echo "  FUZZ    $$n for $(FUZZ_SECONDS) s"; \
		$(BUILD)/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=$(BUILD)/fuzz/crash-$$n- $(BUILD)/fuzz/corpus/$$n \
			2>$(BUILD)/fuzz/$$n.log || { tail -40 $(BUILD)/fuzz/$$n.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|Done [0-9]+ runs' $(BUILD)/fuzz/$$n.log | tail -2; \
	done

# Write the seeds of the committed corpus again with the project's writers.
fuzz-seeds: $(BUILD)/fuzz/dl_fuzz_seeds
	$(BUILD)/fuzz/dl_fuzz_seeds tests/fuzz/corpus

check: deps
	$(MAKE) all
	@scripts/check $(BUILD) "$(KVERS)"

check-native: all
	@scripts/check --native-only $(BUILD) "$(KVERS)"

check-vm: all
	@scripts/check --vm-only $(BUILD) "$(KVERS)"

# The debug-kernel lane (Documentation/testing.rst, "Debug kernel"): a 6.1
# kernel with KASAN, lockdep, kmemleak, failslab and fail_make_request,
# built once and cached outside the tree (scripts/debug-kernel;
# DL_DEBUG_KERNEL_DIR, default /var/cache/dm-dirtylog/debug-6.1).
# 'make check' runs a subset on it when it is cached; check-debug builds
# it if needed and runs every VM test.  Compiler warnings are gated by the
# stock kernels' builds; KASAN's stack instrumentation may add frame-size
# ones here, which do not fail this build.
# The long versions of the reliability suites (Documentation/testing.rst,
# "Long runs"): hours, not for CI.  300 SIGKILL crash iterations per
# kernel, every FLUSH/FUA point of an 8-checkpoint replay, an hour of soak,
# 2000 metadata bit flips, 30000 netlink requests, ten minutes per fuzz
# harness, and the whole VM suite on the debug kernel.
.PHONY: check-long
check-long: deps
	$(MAKE) all
	@rc=0; \
	DL_CRASH_ITERATIONS=300 DL_REPLAY_POINTS=all \
	DL_SOAK_SECONDS=3600 DL_METAFLIP_CASES=2000 DL_NLFUZZ_COUNT=30000 \
	VM_TIMEOUT=14400 VM_TIMEOUT_SCALE=8 scripts/check $(BUILD) "$(KVERS)" || rc=1; \
	$(MAKE) fuzz FUZZ_SECONDS=600 || rc=1; \
	$(MAKE) check-debug || rc=1; \
	exit $$rc

.PHONY: debug-kernel modules-debug check-debug
debug-kernel:
	scripts/debug-kernel

modules-debug:
	@k=$$(scripts/debug-kernel --print-kver) || { echo "no debug kernel; run 'make debug-kernel'" >&2; exit 1; }; \
	d=$$(scripts/debug-kernel --print-dir); \
	mkdir -p $(BUILD)/kmod/$$k; \
	cp -a Kbuild VERSION kernel include $(BUILD)/kmod/$$k/; \
	$(MAKE) -s -C $$d/linux M=$(abspath $(BUILD))/kmod/$$k W=1 modules 2>&1 | \
		tee $(BUILD)/kmod/$$k/build.log; \
	test $${PIPESTATUS[0]:-0} = 0 || exit 1; \
	test -f $(BUILD)/kmod/$$k/dm-dirtylog.ko; \
	mkdir -p $(BUILD)/kmod/$$k/testmod; \
	cp -a tests/kmod/. $(BUILD)/kmod/$$k/testmod/; \
	$(MAKE) -s -C $$d/linux M=$(abspath $(BUILD))/kmod/$$k/testmod W=1 modules; \
	test -f $(BUILD)/kmod/$$k/testmod/dm-dlfault.ko

check-debug: deps
	$(MAKE) all
	@scripts/check-debug $(BUILD)

# Benchmarks in the VM on each kernel (tests/vm/bench_*.sh); they print
# their ratios and fail when a speed goal is missed.  Under TCG the guest
# clock counts instructions (--icount), so that the host's load does not
# move the results.  scripts/bench-report writes each boot's results to
# $(BUILD)/bench/KVER-DATE.json with a chart (.png) and prints a table.
# The guest needs 4 GiB (a 1 GiB region on a memory-backed null_blk; a
# stream and a raw image of bench_export's 1 GiB device on tmpfs).
BENCH_ICOUNT ?= 2
# The bootable kernel trees (7.1.5) follow Debian's kernels.
bench: deps
	$(MAKE) all
	@rc=0; for k in $(KVERS) $$(scripts/kernel-trees boot $(BUILD)); do \
		case $$k in \
		/*) where="--kernel-dir $$k"; k=$$(cat $$k/kver) ;; \
		*) where="--kver $$k" ;; \
		esac; \
		scripts/vm-run --mode bench $$where --build $(BUILD) --mem 4096 --disk-mib 1280 \
			--icount $(BENCH_ICOUNT) --timeout 7200 || rc=1; \
		scripts/bench-report --out $(BUILD)/bench $(BUILD)/vm/$$k/results.ktap || rc=1; \
	done; exit $$rc

demo: deps
	$(MAKE) all
	scripts/vm-run --demo --kver $(lastword $(KVERS)) --build $(BUILD)

checkpatch: $(KSELFTEST)/kselftest_harness.h
	perl $(KSELFTEST)/scripts/checkpatch.pl --strict --no-tree -f \
		kernel/*.c kernel/*.h include/uapi/linux/*.h

sparse:
	@for k in $(KVERS); do \
		$(MAKE) -s -C /lib/modules/$$k/build M=$(abspath $(BUILD))/kmod/$$k C=2 modules; \
	done

clean:
	rm -rf $(BUILD)

# Installation.  The module goes through DKMS when it is there (so it is
# rebuilt for kernels installed later), else kbuild's modules_install puts
# the module built for each of $(KVERS) in /lib/modules/KVER/updates.
PREFIX      ?= /usr/local
SBINDIR     ?= $(PREFIX)/sbin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# Boot activation (dirtylogctl activate): the systemd unit and the config.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR  ?= /etc
# The DKMS source tree: dkms only looks in /usr/src, whatever PREFIX is.
DKMS_SRCDIR := /usr/src/dm-dirtylog-$(VERSION)
DKMS        ?= $(if $(DESTDIR),no,$(if $(shell command -v dkms 2>/dev/null),yes,no))

install: install-tools install-module

install-tools: userspace
	install -D -m 0755 $(BUILD)/bin/dirtylogctl $(DESTDIR)$(SBINDIR)/dirtylogctl
	install -D -m 0644 Documentation/man/dirtylogctl.8 $(DESTDIR)$(MANDIR)/man8/dirtylogctl.8
	install -D -m 0644 Documentation/man/dm-dirtylog.4 $(DESTDIR)$(MANDIR)/man4/dm-dirtylog.4
	install -D -m 0644 scripts/completion/dirtylogctl $(DESTDIR)$(BASHCOMPDIR)/dirtylogctl
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' scripts/systemd/dirtylog-activate.service.in \
		> $(DESTDIR)$(UNITDIR)/dirtylog-activate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/dirtylog-activate.service
	# The config is the admin's: never replaced.
	test -e $(DESTDIR)$(SYSCONFDIR)/dirtylog/dirtylogtab || \
		install -D -m 0644 scripts/systemd/dirtylogtab $(DESTDIR)$(SYSCONFDIR)/dirtylog/dirtylogtab

# What DKMS builds from: Kbuild expects kernel/ and include/uapi/ next to it.
install-dkms-src:
	install -d $(DESTDIR)$(DKMS_SRCDIR)/kernel $(DESTDIR)$(DKMS_SRCDIR)/include/uapi/linux
	install -m 0644 Kbuild VERSION $(DESTDIR)$(DKMS_SRCDIR)/
	install -m 0644 $(wildcard kernel/*.c kernel/*.h) $(DESTDIR)$(DKMS_SRCDIR)/kernel/
	install -m 0644 include/uapi/linux/dm-dirtylog.h $(DESTDIR)$(DKMS_SRCDIR)/include/uapi/linux/
	sed 's/#MODULE_VERSION#/$(VERSION)/' dkms.conf > $(DESTDIR)$(DKMS_SRCDIR)/dkms.conf
	chmod 0644 $(DESTDIR)$(DKMS_SRCDIR)/dkms.conf

ifeq ($(DKMS),yes)
# A reinstall of the same version replaces it (dkms refuses to add twice).
install-module:
	@test -z "$(DESTDIR)" || { echo "DKMS=yes acts on this system: drop DESTDIR or use DKMS=no" >&2; exit 1; }
	@test -n "$(KVERS)" || { echo "no supported kernel headers found; run 'make deps'" >&2; exit 1; }
	if dkms status -m dm-dirtylog -v $(VERSION) | grep -q .; then \
		dkms remove -m dm-dirtylog -v $(VERSION) --all; fi
	rm -rf $(DKMS_SRCDIR)
	$(MAKE) install-dkms-src DESTDIR=
	dkms add -m dm-dirtylog -v $(VERSION)
	set -e; for k in $(KVERS); do dkms install -m dm-dirtylog -v $(VERSION) -k $$k; done
else
# depmod runs here for the real system only; a DESTDIR gets the files alone.
# Distribution kernels sign modules with a key their headers do not ship:
# kbuild's own signing is skipped.  MODULE_SIG_KEY=key.pem and
# MODULE_SIG_CERT=cert.der (or .pem) sign the installed module with the
# kernel's sign-file and hash (Secure Boot: enroll the certificate with
# 'mokutil --import'; Documentation/admin-guide.rst, "Secure Boot").
MODULE_SIG_KEY  ?=
MODULE_SIG_CERT ?=
install-module: modules
	@test -z "$(MODULE_SIG_KEY)$(MODULE_SIG_CERT)" || \
		{ test -f "$(MODULE_SIG_KEY)" && test -f "$(MODULE_SIG_CERT)"; } || \
		{ echo "MODULE_SIG_KEY and MODULE_SIG_CERT must both name files" >&2; exit 1; }
	set -e; for k in $(KVERS); do \
		m=$(abspath $(BUILD))/kmod/$$k; \
		if [ -n "$(MODULE_SIG_KEY)" ]; then \
			kb=/lib/modules/$$k/build; \
			hash=$$(sed -n 's/^CONFIG_MODULE_SIG_HASH="\(.*\)"$$/\1/p' $$kb/.config); \
			s=$(abspath $(BUILD))/kmod/signed/$$k; \
			rm -rf $$s; mkdir -p $$s; \
			cp -a $$m/Kbuild $$m/dm-dirtylog.ko $$s/; \
			sed "s|^$$m/|$$s/|" $$m/modules.order >$$s/modules.order; \
			$$kb/scripts/sign-file $${hash:-sha256} "$(abspath $(MODULE_SIG_KEY))" \
				"$(abspath $(MODULE_SIG_CERT))" $$s/dm-dirtylog.ko; \
			m=$$s; \
		fi; \
		$(MAKE) -C /lib/modules/$$k/build M=$$m \
			INSTALL_MOD_PATH=$(abspath $(DESTDIR)) INSTALL_MOD_DIR=updates \
			CONFIG_MODULE_SIG_ALL= DEPMOD=true modules_install; \
		if [ -z "$(DESTDIR)" ]; then depmod -a $$k; fi; \
	done
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/dirtylogctl $(DESTDIR)$(MANDIR)/man8/dirtylogctl.8 \
		$(DESTDIR)$(MANDIR)/man4/dm-dirtylog.4 $(DESTDIR)$(BASHCOMPDIR)/dirtylogctl \
		$(DESTDIR)$(UNITDIR)/dirtylog-activate.service
	# The config only when it is still the sample (the admin's is kept).
	if cmp -s scripts/systemd/dirtylogtab $(DESTDIR)$(SYSCONFDIR)/dirtylog/dirtylogtab; then \
		rm -f $(DESTDIR)$(SYSCONFDIR)/dirtylog/dirtylogtab; \
		rmdir $(DESTDIR)$(SYSCONFDIR)/dirtylog 2>/dev/null || true; fi
ifeq ($(DKMS),yes)
	@test -z "$(DESTDIR)" || { echo "DKMS=yes acts on this system: drop DESTDIR or use DKMS=no" >&2; exit 1; }
	if dkms status -m dm-dirtylog -v $(VERSION) | grep -q .; then \
		dkms remove -m dm-dirtylog -v $(VERSION) --all; fi
	rm -rf $(DKMS_SRCDIR)
else
	set -e; for k in $(KVERS); do \
		rm -f $(DESTDIR)/lib/modules/$$k/updates/dm-dirtylog.ko \
			$(DESTDIR)/lib/modules/$$k/updates/dm-dirtylog.ko.xz \
			$(DESTDIR)/lib/modules/$$k/updates/dm-dirtylog.ko.zst \
			$(DESTDIR)/lib/modules/$$k/updates/dm-dirtylog.ko.gz; \
		if [ -z "$(DESTDIR)" ]; then depmod -a $$k; fi; \
	done
endif
