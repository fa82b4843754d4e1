# SPDX-License-Identifier: MIT
# The STB image: Buildroot with this br2-external tree.  Included by the
# top-level Makefile; `make help` lists the targets, docs/image.md explains
# them.
#
#   BOARD=stb_qemu_arm     br2-external/configs/$(BOARD)_defconfig (default:
#                          QEMU; stb_beaglebone: the BeagleBone Black SD card)
#   BUILDROOT_SRC=/path    a Buildroot tree to use instead of fetching
#                          $(BUILDROOT_VERSION) into out/buildroot-$(BUILDROOT_VERSION)
#   EXTRA_CONFIG="f1 f2"   defconfig fragments merged after the defconfig (later
#                          values win); remembered in out/br/BOARD until given again
#   BR2_DL_DIR=/path       Buildroot's download cache (overrides the configuration's)
#   BR2_CCACHE_DIR=/path   build with Buildroot's ccache (BR2_CCACHE), its cache
#                          there; remembered in out/br/BOARD until given again
#                          (BR2_CCACHE_DIR= turns it off)
#   JLEVEL=N               jobs per package (BR2_JLEVEL; Buildroot's default: cores + 1)
#   V=1                    full build output on the terminal (always in build.log)
#
# Products: out/br/BOARD/ (Buildroot's O=): images/, build.log.

BUILDROOT_VERSION := 2026.02.3
BUILDROOT_GIT := https://gitlab.com/buildroot.org/buildroot.git
BUILDROOT_COMMIT := 679b9ead7620bbf193620d1ebf56f53c1764d37a
BUILDROOT_SRC ?=
BOARD ?= stb_qemu_arm
JLEVEL ?=
V ?=
QEMU_ARGS ?=
DEVICE ?=

# The boards: one per br2-external/configs/BOARD_defconfig (`make help` lists
# them).  A BOARD that has none stops every goal that builds, tests or flashes
# an image; the rig's goals (BOARD_FREE_GOALS) do not look at BOARD.
BOARDS := $(sort $(patsubst br2-external/configs/%_defconfig,%,$(wildcard br2-external/configs/*_defconfig)))
BOARD_FREE_GOALS := help setup test lint actionlint rig rig-% bench fuzz test-debug test-debug-% \
	rig-debug rig-debug-% debug-rig-% rig-arch rig-pins clean rig-clean distclean check-defconfigs
ifeq ($(filter $(BOARD),$(BOARDS)),)
ifneq ($(filter-out $(BOARD_FREE_GOALS),$(or $(MAKECMDGOALS),$(.DEFAULT_GOAL))),)
$(error BOARD=$(BOARD): no br2-external/configs/$(BOARD)_defconfig; the boards are: $(BOARDS))
endif
endif

BR_EXTERNAL := $(CURDIR)/br2-external
BR_DEFCONFIG := br2-external/configs/$(BOARD)_defconfig
BR_OUT := $(abspath $(OUT))/br/$(BOARD)
BR_CONFIG := $(BR_OUT)/.config
BR_LOG := $(BR_OUT)/build.log
BR_EXTRA_RECORD := $(BR_OUT)/.kbus-extra-config
# fragments of the last configuration, unless EXTRA_CONFIG is given
EXTRA_CONFIG ?= $(file < $(BR_EXTRA_RECORD))
EXTRA_CONFIG_ABS := $(abspath $(EXTRA_CONFIG))
# ccache: a fragment written into out/br/BOARD from BR2_CCACHE_DIR (an
# absolute path of this machine, so never in a committed file), merged last
BR_CCACHE_FRAGMENT := $(BR_OUT)/ccache.config
ifeq ($(origin BR2_CCACHE_DIR),undefined)
BR2_CCACHE_DIR := $(shell sed -n 's/^BR2_CCACHE_DIR="\(.*\)"$$/\1/p' $(BR_CCACHE_FRAGMENT) 2>/dev/null)
endif
# Buildroot reads BR2_CCACHE_DIR and BR2_DL_DIR from the environment too (CI
# sets them there), from its own folder: always absolute paths
ifneq ($(strip $(BR2_CCACHE_DIR)),)
override BR2_CCACHE_DIR := $(abspath $(BR2_CCACHE_DIR))
endif
ifneq ($(strip $(BR2_DL_DIR)),)
override BR2_DL_DIR := $(abspath $(BR2_DL_DIR))
endif
BR_CCACHE_LINES := $(if $(strip $(BR2_CCACHE_DIR)),'BR2_CCACHE=y' \
	'BR2_CCACHE_DIR="$(BR2_CCACHE_DIR)"','\# BR2_CCACHE is not set')

ifneq ($(BUILDROOT_SRC),)
BR_TREE := $(abspath $(BUILDROOT_SRC))
BR_TREE_READY := $(BR_TREE)/Makefile
else
BR_TREE := $(abspath $(OUT))/buildroot-$(BUILDROOT_VERSION)
BR_TREE_READY := $(BR_TREE)/.kbus-fetched
endif

# Buildroot runs without this make's command-line variables (RIG_ARCH=... or
# ARCH=... is the test rig's, not Buildroot's; an ARCH of the environment is
# unexported by the top-level Makefile) and with its own parallelism (BR2_JLEVEL).
# (A copy of $(MAKE), so that `make -n` does not run Buildroot.)
# As root (a CI container), GNU configure scripts (host-tar's) stop unless
# FORCE_UNSAFE_CONFIGURE=1.
BR_MAKE_BIN := $(MAKE)
BR_AS_ROOT := $(if $(filter 0,$(shell id -u)),FORCE_UNSAFE_CONFIGURE=1)
BR_MAKE = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(BR_AS_ROOT) $(BR_MAKE_BIN) --no-print-directory \
	-C $(BR_OUT) $(if $(JLEVEL),BR2_JLEVEL=$(JLEVEL)) \
	$(if $(BR2_DL_DIR),BR2_DL_DIR=$(abspath $(BR2_DL_DIR))) $(if $(V),V=1)

# `$(call br_run,GOALS,what)`: run Buildroot, the whole output into build.log;
# the terminal shows its ">>> package step" lines with the elapsed time (V=1:
# everything); on failure, the end of the log.
define br_run
@set -o pipefail; start=$$SECONDS; mkdir -p $(BR_OUT); \
	echo "==> $(2) (log: $(BR_LOG))"; \
	if $(BR_MAKE) $(1) 2>&1 | tee $(BR_LOG) | { \
		if [ -n '$(V)' ]; then cat; else \
		while IFS= read -r line; do \
			case $$line in *'>>> '*) t=$$((SECONDS - start)); line=$${line#*>>> }; \
				printf '[%3d:%02d] %s\n' $$((t / 60)) $$((t % 60)) "$${line%%$$'\033'*}";; \
			esac; \
		done; fi; }; then \
		t=$$((SECONDS - start)); \
		printf '==> %s: done in %d min %02d s\n' '$(2)' $$((t / 60)) $$((t % 60)); \
	else \
		echo "==> $(2): FAILED; end of $(BR_LOG):" >&2; tail -n 30 $(BR_LOG) >&2; exit 1; \
	fi
endef

.PHONY: image all buildroot-src configure qemu flash test-image menuconfig savedefconfig \
	pypi-sources image-clean check-package check-defconfigs guest-pylib FORCE

all: image

# checked by `make lint` (shellcheck, ruff)
IMAGE_SHELL_SCRIPTS := board/stb/post-build.sh board/stb/post-image.sh \
	board/stb/prepare-offline.sh board/stb/beaglebone/prepare-offline.sh \
	br2-external/scripts/changed-local-packages
IMAGE_PYTHON_SCRIPTS := br2-external/scripts/fetch-pypi-sources br2-external/scripts/flash-sdcard

# --- Buildroot itself ------------------------------------------------------------
buildroot-src: $(BR_TREE_READY)

ifeq ($(BUILDROOT_SRC),)
$(BR_TREE)/.kbus-fetched:
	@echo "==> Fetching Buildroot $(BUILDROOT_VERSION) ($(BUILDROOT_GIT))"
	rm -rf $(BR_TREE) $(BR_TREE).tmp
	git -c advice.detachedHead=false clone --progress --depth 1 \
		--branch $(BUILDROOT_VERSION) $(BUILDROOT_GIT) $(BR_TREE).tmp
	@commit=$$(git -C $(BR_TREE).tmp rev-parse HEAD); \
	if [ "$$commit" != $(BUILDROOT_COMMIT) ]; then \
		echo "Buildroot $(BUILDROOT_VERSION) is commit $$commit, expected $(BUILDROOT_COMMIT)" >&2; \
		exit 1; \
	fi
	mv $(BR_TREE).tmp $(BR_TREE)
	touch $@
else
$(BR_TREE)/Makefile:
	@echo "BUILDROOT_SRC=$(BUILDROOT_SRC): not a Buildroot tree (no Makefile)" >&2; exit 1
endif

# --- configuration -----------------------------------------------------------------
# The defconfig, then the EXTRA_CONFIG fragments (later values win), as one
# defconfig in out/br/BOARD/kbus_defconfig.  Redone when one of them changes.
$(BR_EXTRA_RECORD): FORCE
	@mkdir -p $(dir $@)
	@if [ "$$(cat $@ 2>/dev/null)" != '$(strip $(EXTRA_CONFIG_ABS))' ]; then \
		printf '%s' '$(strip $(EXTRA_CONFIG_ABS))' > $@; fi

$(BR_CCACHE_FRAGMENT): FORCE
	@mkdir -p $(dir $@)
	@new=$$(printf '%s\n' $(BR_CCACHE_LINES)); \
	if [ "$$(cat $@ 2>/dev/null)" != "$$new" ]; then printf '%s\n' "$$new" > $@; fi

$(BR_CONFIG): $(BR_DEFCONFIG) $(EXTRA_CONFIG_ABS) $(BR_EXTRA_RECORD) $(BR_CCACHE_FRAGMENT) | $(BR_TREE_READY)
	@test -f $(BR_DEFCONFIG) || { echo "BOARD=$(BOARD): no $(BR_DEFCONFIG)" >&2; exit 1; }
	@version=$$(sed -n 's/^export BR2_VERSION := *//p' $(BR_TREE)/Makefile); \
	case $$version in 2026.02*) ;; \
		*) echo "warning: Buildroot $$version in $(BR_TREE); this tree is for 2026.02.x" >&2;; \
	esac
	@echo "==> Configuring $(BOARD): $(BR_DEFCONFIG) $(EXTRA_CONFIG)$(if $(strip $(BR2_CCACHE_DIR)), ccache in $(BR2_CCACHE_DIR))"
	@mkdir -p $(BR_OUT)
	cat $(BR_DEFCONFIG) $(EXTRA_CONFIG_ABS) $(BR_CCACHE_FRAGMENT) > $(BR_OUT)/kbus_defconfig
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(BR_MAKE_BIN) --no-print-directory -C $(BR_TREE) \
		O=$(BR_OUT) BR2_EXTERNAL=$(BR_EXTERNAL) \
		BR2_DEFCONFIG=$(BR_OUT)/kbus_defconfig defconfig
	@touch $@

configure: $(BR_CONFIG)

# --- build -------------------------------------------------------------------------
# Buildroot does not notice edits to the packages built from this repository
# (local site method): those whose sources changed since they were last copied
# are rebuilt (<pkg>-rebuild), then the images are remade.
image: $(BR_CONFIG)
	$(call br_run,$$(br2-external/scripts/changed-local-packages $(BR_OUT)) all,Building $(BOARD))
	@echo "==> Images in $(BR_OUT)/images:"
	@cd $(BR_OUT)/images && ls -lL --block-size=K $$(find -L . -maxdepth 1 -type f -printf '%P\n' | sort)

# Buildroot's own targets: make br-linux-menuconfig, br-kbus-module-rebuild, ...
br-%: $(BR_CONFIG)
	$(BR_MAKE) $*

menuconfig: $(BR_CONFIG)
	$(BR_MAKE) menuconfig

# Back into br2-external/configs/BOARD_defconfig (its leading comment block is
# kept), unless EXTRA_CONFIG fragments were merged: their values (paths of
# this machine) must not land in the committed defconfig; then the result is
# out/br/BOARD/defconfig and the differences are shown, to carry over by hand.
savedefconfig: $(BR_CONFIG)
	$(BR_MAKE) savedefconfig BR2_DEFCONFIG=$(BR_OUT)/defconfig
	@if [ -n '$(strip $(EXTRA_CONFIG))' ]; then \
		echo "EXTRA_CONFIG ($(EXTRA_CONFIG)) is merged into this configuration:"; \
		echo "not writing $(BR_DEFCONFIG); differences of $(BR_OUT)/defconfig:"; \
		diff -u <(grep -v '^#' $(BR_DEFCONFIG)) $(BR_OUT)/defconfig || true; \
	else \
		{ sed -n '/^#/!q;p' $(BR_DEFCONFIG); cat $(BR_OUT)/defconfig; } > $(BR_DEFCONFIG).new; \
		mv $(BR_DEFCONFIG).new $(BR_DEFCONFIG); \
		echo "wrote $(BR_DEFCONFIG)"; \
	fi

# Offline builds (docs/offline-build.md): fetch the configured packages'
# sources that Buildroot would take from files.pythonhosted.org into the
# download cache, from there or from the PyPI mirror PYPI_FILES_URL.
PYPI_FILES_URL ?=
pypi-sources: $(BR_CONFIG)
	$(if $(PYPI_FILES_URL),PYPI_FILES_URL='$(PYPI_FILES_URL)') br2-external/scripts/fetch-pypi-sources $(BR_OUT)

image-clean:
	rm -rf $(BR_OUT)

# Buildroot's coding-style checker on this tree's recipes, defconfigs and board
# files (needs the Buildroot tree, and python3-magic and flake8 for its python3).
CHECK_PACKAGE_PYTHON ?= $(firstword $(wildcard /usr/bin/python3) python3)
CHECK_PACKAGE_FILES = $(abspath package/kbus/Config.in $(wildcard package/kbus/kbus-*/*) \
	$(wildcard package/stb-services/Config.in package/stb-services/*.mk) \
	$(wildcard package/kbus-bridge/Config.in package/kbus-bridge/*.mk package/kbus-bridge/S??*) \
	br2-external/Config.in br2-external/external.mk br2-external/external.desc \
	$(wildcard br2-external/configs/*_defconfig board/stb/*.sh board/stb/patches/*/*.hash))
check-package: | $(BR_TREE_READY)
	cd $(BR_TREE) && $(CHECK_PACKAGE_PYTHON) utils/check-package --br2-external $(CHECK_PACKAGE_FILES)

# Every committed defconfig is what `make savedefconfig` writes: each one is
# configured alone (no EXTRA_CONFIG, no ccache fragment) in
# out/check-defconfigs/BOARD, saved back (its leading comment block kept, as
# savedefconfig does) and compared with git diff --exit-code.  Needs the
# Buildroot tree; builds only Buildroot's kconfig.
CHECK_DEFCONFIGS_OUT := $(abspath $(OUT))/check-defconfigs
BR_KCONFIG = env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(BR_MAKE_BIN) -s --no-print-directory -C $(BR_TREE)
check-defconfigs: | $(BR_TREE_READY)
	@status=0; for b in $(BOARDS); do \
		committed=br2-external/configs/$${b}_defconfig; o=$(CHECK_DEFCONFIGS_OUT)/$$b; \
		rm -rf $$o && mkdir -p $$o && \
		$(BR_KCONFIG) O=$$o BR2_EXTERNAL=$(BR_EXTERNAL) BR2_DEFCONFIG=$(CURDIR)/$$committed \
			defconfig >$$o/kconfig.log 2>&1 && \
		$(BR_KCONFIG) O=$$o savedefconfig BR2_DEFCONFIG=$$o/defconfig >>$$o/kconfig.log 2>&1 || { \
			echo "$$b: Buildroot's defconfig/savedefconfig failed:" >&2; cat $$o/kconfig.log >&2; \
			status=1; continue; }; \
		{ sed -n '/^#/!q;p' $$committed; cat $$o/defconfig; } > $$o/$${b}_defconfig; \
		if git diff --no-index --exit-code $$committed $$o/$${b}_defconfig; then \
			echo "$$b: as savedefconfig writes it"; \
		else \
			echo "$$b: $$committed is not what savedefconfig writes (above: - committed, + saved)" >&2; \
			status=1; \
		fi; \
	done; exit $$status

# --- running it ----------------------------------------------------------------------
qemu:
	@test -x $(BR_OUT)/images/start-qemu.sh || { \
		echo "make qemu: no $(BR_OUT)/images/start-qemu.sh: build the QEMU image first" \
		"(make BOARD=stb_qemu_arm)" >&2; exit 1; }
	@echo "==> Booting $(BOARD) (log in as root; poweroff or Ctrl-A X ends QEMU)"
	$(BR_OUT)/images/start-qemu.sh $(QEMU_ARGS)

# `make flash DEVICE=/dev/sdX`: the board image, BOARD=stb_beaglebone unless
# BOARD is given.  DEVICE: a removable disk or an SD card in an MMC slot
# (mmcblkN of type SD); FLASH_FORCE=1 accepts any other whole disk.  bmaptool:
# the host's, else the one Buildroot built for the board (host-bmap-tools).
FLASH_BOARD := $(if $(filter file,$(origin BOARD)),stb_beaglebone,$(BOARD))
FLASH_FORCE ?=
flash:
	br2-external/scripts/flash-sdcard $(if $(filter-out 0 no,$(FLASH_FORCE)),--force) \
		--build-bmaptool '$(abspath $(OUT))/br/$(FLASH_BOARD)/host/bin/bmaptool' \
		'$(abspath $(OUT))/br/$(FLASH_BOARD)/images/sdcard.img' '$(DEVICE)'

# --- tests on the image ------------------------------------------------------------
# pytest and its dependencies for the guest's python3 (pure-Python wheels,
# unpacked; the guest finds them through the 9p share and PYTHONPATH, see
# tests/env/image-qemu.yaml): the image itself carries no test framework.
# The guest reaches it through the share of this repository (/mnt/share): it
# is in OUT when OUT is inside the repository, in its out/ otherwise.
GUEST_PYLIB := $(if $(filter $(CURDIR)/%,$(abspath $(OUT))),$(OUT),out)/guest-pylib
GUEST_PYTHONPATH := /mnt/share/$(patsubst $(CURDIR)/%,%,$(abspath $(GUEST_PYLIB)))/lib
GUEST_PYTEST := $(shell sed -n 's/^\(pytest==[^ ]*\).*/\1/p' tests/requirements.txt)

guest-pylib: $(GUEST_PYLIB)/.done

$(GUEST_PYLIB)/.done: tests/requirements.txt | $(SETUP_DONE)
	@pyver=$$(ls -d $(BR_OUT)/target/usr/lib/python3.* 2>/dev/null | sed -n '1s/.*python//p'); \
	pyver=$${pyver:-3.13}; \
	echo "==> $(GUEST_PYTEST) for the guest's python $$pyver into $(GUEST_PYLIB)"; \
	rm -rf $(GUEST_PYLIB) && mkdir -p $(GUEST_PYLIB)/wheels && \
	$(VENV)/bin/pip download -q --only-binary=:all: --python-version "$$pyver" \
		-d $(GUEST_PYLIB)/wheels '$(GUEST_PYTEST)' && \
	for w in $(GUEST_PYLIB)/wheels/*.whl; do \
		$(VENV)/bin/python -m zipfile -e "$$w" $(GUEST_PYLIB)/lib || exit 1; \
	done
	touch $@

# The QEMU images: one labgrid environment for both (its template variables
# LG_* from the board and the output folder), and the tests run on them (the
# MicroPython image has no CPython: only its own tests, from the host).
TEST_IMAGE_ENV_stb_qemu_arm := tests/env/image-qemu.yaml
TEST_IMAGE_TESTS_stb_qemu_arm := tests
TEST_IMAGE_NEEDS_stb_qemu_arm := guest-pylib
TEST_IMAGE_FEATURE_stb_qemu_arm := stb-image
TEST_IMAGE_ENV_stb_qemu_arm_micropython := tests/env/image-qemu.yaml
TEST_IMAGE_TESTS_stb_qemu_arm_micropython := tests/test_micropython_image.py
TEST_IMAGE_FEATURE_stb_qemu_arm_micropython := micropython-image
TEST_IMAGE_BOARDS := $(patsubst TEST_IMAGE_ENV_%,%,$(filter TEST_IMAGE_ENV_%,$(.VARIABLES)))
TEST_IMAGE_LG_VARS = LG_IMAGE_DIR='$(BR_OUT)/images' LG_BOARD='$(BOARD)' \
	LG_IMAGE_FEATURE='$(TEST_IMAGE_FEATURE_$(BOARD))' \
	LG_GUEST_PYTHONPATH='$(if $(TEST_IMAGE_NEEDS_$(BOARD)),$(GUEST_PYTHONPATH))'

test-image: $(SETUP_DONE)
	@test -n '$(TEST_IMAGE_ENV_$(BOARD))' || { \
		echo "make test-image: the tests run on the QEMU images" \
			"(BOARD=$(subst $(space), or ,$(TEST_IMAGE_BOARDS)))" >&2; \
		exit 2; }
	$(MAKE) --no-print-directory image $(TEST_IMAGE_NEEDS_$(BOARD))
	status=0; $(TEST_IMAGE_LG_VARS) \
		$(VENV)/bin/python -m pytest $(TEST_IMAGE_TESTS_$(BOARD)) --lg-env $(TEST_IMAGE_ENV_$(BOARD)) \
		$(call junit_args,image-$(BOARD)) $(PYTEST_ARGS) || status=1; \
	$(call junit_merge,image-$(BOARD)) || status=1; \
	exit $$status

FORCE:
