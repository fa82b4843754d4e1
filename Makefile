# KBUS for set-top boxes: top-level Makefile.  `make help` lists the targets.
#
# ARCH selects the QEMU test rig's architecture (x86_64 or armhf); left empty,
# `make rig` and `make test` do both, x86_64 first.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

ARCHES := x86_64 armhf
ARCH ?=
OUT := out
VENV := .venv
CMD ?=
SHARE ?=
TIMEOUT ?=
PYTEST_ARGS ?=

RIG_RUN := tests/rig-run
SETUP_DONE := $(VENV)/.setup-done

ifneq ($(ARCH),)
include tests/rig/rig.mk
endif

.PHONY: help setup rig rig-run rig-shell test lint clean distclean

help:
	@echo 'KBUS for set-top boxes'
	@echo
	@echo 'Set-up and tests:'
	@echo '  make setup        install host tools (apt, as root) and the venv .venv/'
	@echo '  make test         build the rig and run all tests on x86_64, then armhf'
	@echo '                    (ARCH=x86_64|armhf for one; PYTEST_ARGS="-k NAME" to select)'
	@echo '  make lint         shellcheck, ruff (Python) and checkpatch --strict (kernel C)'
	@echo
	@echo 'QEMU test rig (cache in out/: downloads out/dl/, products out/rig/ARCH/):'
	@echo '  make rig          build the rig for both architectures (ARCH=... for one)'
	@echo "  make rig-run ARCH=x86_64 CMD='cat /proc/version' [SHARE=dir] [TIMEOUT=s]"
	@echo '                    boot the guest, load kbus.ko, run CMD as root, exit with its status'
	@echo '  make rig-shell ARCH=armhf [SHARE=dir]'
	@echo '                    boot the guest with its console on this terminal (Ctrl-A X quits)'
	@echo '  make clean        remove rig products (keeps downloads and .venv)'
	@echo '  make distclean    remove out/ and .venv/'
	@echo
	@echo 'The product image (Buildroot) is not built yet: a later issue adds it.'

# --- host tools --------------------------------------------------------------------
setup:
	tests/setup

# `make test` runs the set-up itself when the venv is missing or stale.
$(SETUP_DONE): tests/setup tests/requirements.txt tests/rig/versions.mk
	tests/setup

# --- the rig -----------------------------------------------------------------------
ifeq ($(ARCH),)
rig:
	@for a in $(ARCHES); do $(MAKE) --no-print-directory rig ARCH=$$a || exit 1; done

rig-run rig-shell:
	@echo "make $@: set ARCH=x86_64 or ARCH=armhf" >&2; exit 2
else
rig: rig-arch

rig-run: rig-arch
	@test -n '$(CMD)' || { echo "make rig-run: set CMD='...'" >&2; exit 2; }
	$(RIG_RUN) $(ARCH) $(if $(SHARE),--share '$(SHARE)') $(if $(TIMEOUT),--timeout $(TIMEOUT)) \
		-- '$(subst ','\'',$(CMD))'

rig-shell: rig-arch
	$(RIG_RUN) $(ARCH) --shell $(if $(SHARE),--share '$(SHARE)')
endif

# --- tests -------------------------------------------------------------------------
# One host pytest run per architecture, each against its labgrid environment;
# fails if any fails.
test: $(SETUP_DONE)
	@status=0; \
	for a in $(or $(ARCH),$(ARCHES)); do \
		echo "=== rig $$a ==="; \
		if $(MAKE) --no-print-directory rig ARCH=$$a; then \
			$(VENV)/bin/python -m pytest tests --lg-env tests/env/rig-$$a.yaml $(PYTEST_ARGS) \
				|| status=1; \
		else \
			echo "rig $$a: build failed" >&2; status=1; \
		fi; \
	done; \
	exit $$status

SHELL_SCRIPTS := tests/setup tests/rig/fetch-debs tests/rig/build-base \
	tests/rig/build-components tests/rig/rootfs/etc/init.d/rcS \
	tests/rig/rootfs/usr/sbin/rig-setup tests/rig/rootfs/etc/profile .ci/run
PYTHON_DIRS := package tests
PYTHON_SCRIPTS := tests/rig-run tests/rig/extract-vmlinux
KERNEL_C := $(wildcard package/kbus/module/*.[ch]) package/kbus/include/linux/kbus_defns.h

# checkpatch.pl from Debian's linux-source-6.1 (installed by tests/setup)
LINUX_SOURCE := /usr/src/linux-source-6.1.tar.xz
CHECKPATCH := $(OUT)/checkpatch/scripts/checkpatch.pl
$(CHECKPATCH): $(LINUX_SOURCE)
	mkdir -p $(OUT)/checkpatch
	tar -xJf $< -C $(OUT)/checkpatch --strip-components=1 linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt linux-source-6.1/scripts/const_structs.checkpatch
	touch $@

lint: $(SETUP_DONE) $(CHECKPATCH)
	shellcheck $(SHELL_SCRIPTS)
	$(VENV)/bin/ruff check $(PYTHON_DIRS) $(PYTHON_SCRIPTS)
	$(VENV)/bin/ruff format --check $(PYTHON_DIRS) $(PYTHON_SCRIPTS)
	$(CHECKPATCH) --no-tree --strict --quiet --show-types -f $(KERNEL_C)

clean:
	rm -rf $(OUT)/rig

distclean:
	rm -rf $(OUT) $(VENV)
