# SPDX-License-Identifier: MIT
# Rig component: MicroPython (the unix port) and the kbus module for it, for
# the cross-interpreter tests (tests/guest/test_micropython.py); included by
# tests/rig/rig.mk with RIG_ARCH set (see its "More components").
#
# Staged tree $(RIG)/stage/micropython/, laid out like the guest's root:
#   usr/bin/micropython              the interpreter (standard variant, with
#                                    ffi on the guest's libffi8; no ssl, no
#                                    btree, no frozen modules: Debian's +ds
#                                    source has their libraries removed)
#   usr/lib/micropython/kbus/        package/kbus/micropython/kbus/*.py and the
#                                    modules shared with the CPython package
#                                    (package/kbus/micropython/SHARED)
# Source: Debian's micropython orig tarball (versions.mk), downloaded once
# into $(DL). x86_64 is built with the host gcc, armhf with
# arm-linux-gnueabihf-gcc. Build tree: $(RIG)/micropython/.

MICROPYTHON_B := $(abspath $(RIG)/micropython)
MICROPYTHON_STAGE := $(RIG)/stage/micropython
MICROPYTHON_TARBALL := $(DL)/$(MICROPYTHON_ORIG)
MICROPYTHON_DEB_SPECS := $(foreach p,$(MICROPYTHON_DEBS),$(subst =,:$(DEB_ARCH)=,$(p)))
MICROPYTHON_MANIFEST := $(RIG)/micropython.debs
MICROPYTHON_KBUS_DIR := package/kbus/micropython
MICROPYTHON_KBUS_INPUTS := $(shell find $(MICROPYTHON_KBUS_DIR) -type f \
	-not -path '*/__pycache__/*' 2>/dev/null) \
	$(addprefix $(KBUS_PYTHON_DIR)/,$(file < $(MICROPYTHON_KBUS_DIR)/SHARED))
MICROPYTHON_TRIPLET := $(if $(KCROSS),arm-linux-gnueabihf,x86_64-linux-gnu)

$(MICROPYTHON_TARBALL): $(VERSIONS)
	@mkdir -p $(DL)
	curl -fsSL --retry 3 -o $@.tmp '$(MICROPYTHON_ORIG_URL)'
	echo '$(MICROPYTHON_ORIG_SHA256)  $@.tmp' | sha256sum -c --quiet - || \
		{ echo "$(MICROPYTHON_ORIG): not the pinned SHA-256 (tests/rig/versions.mk)" >&2; \
		rm -f $@.tmp; exit 1; }
	mv $@.tmp $@

$(MICROPYTHON_MANIFEST): $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(MICROPYTHON_DEB_SPECS)

# The interpreter: rebuilt only when the source or the pins change.
$(MICROPYTHON_B)/micropython: $(MICROPYTHON_TARBALL) $(MICROPYTHON_MANIFEST) \
		$(RIGSRC)/components/micropython.mk
	rm -rf $(MICROPYTHON_B) && mkdir -p $(MICROPYTHON_B)/src $(MICROPYTHON_B)/ffi
	tar -xJf $(MICROPYTHON_TARBALL) -C $(MICROPYTHON_B)/src --strip-components=1
	for deb in $$(cat $(MICROPYTHON_MANIFEST)); do \
		dpkg -x "$$deb" $(MICROPYTHON_B)/ffi || exit 1; done
	@echo "micropython ($(RIG_ARCH)): unix port"
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) --no-print-directory \
		-C $(MICROPYTHON_B)/src/ports/unix -j2 \
		CROSS_COMPILE=$(KCROSS) VARIANT=standard BUILD=$(MICROPYTHON_B)/build \
		FROZEN_MANIFEST= MICROPY_PY_SSL=0 MICROPY_PY_BTREE=0 MICROPY_PY_FFI=1 \
		LIBFFI_CFLAGS='-I$(MICROPYTHON_B)/ffi/usr/include/$(MICROPYTHON_TRIPLET)' \
		LIBFFI_LDFLAGS='-L$(MICROPYTHON_B)/ffi/usr/lib/$(MICROPYTHON_TRIPLET) -lffi -ldl' \
		CWARN=
	$(KCROSS)strip -o $@.tmp $(MICROPYTHON_B)/build/micropython
	mv $@.tmp $@

$(RIG)/micropython.inputs: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(sort $(MICROPYTHON_KBUS_INPUTS)) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(RIG)/stage/micropython.stamp: $(MICROPYTHON_B)/micropython $(RIG)/micropython.inputs \
		$(MICROPYTHON_KBUS_INPUTS)
	rm -rf $(MICROPYTHON_STAGE)
	mkdir -p $(MICROPYTHON_STAGE)/usr/bin $(MICROPYTHON_STAGE)/usr/lib/micropython/kbus
	cp $(MICROPYTHON_B)/micropython $(MICROPYTHON_STAGE)/usr/bin/
	cp $(MICROPYTHON_KBUS_DIR)/kbus/*.py $(MICROPYTHON_STAGE)/usr/lib/micropython/kbus/
	for f in $$(cat $(MICROPYTHON_KBUS_DIR)/SHARED); do \
		cp $(KBUS_PYTHON_DIR)/$$f $(MICROPYTHON_STAGE)/usr/lib/micropython/kbus/ || exit 1; done
	touch $@

RIG_STAGES += micropython
