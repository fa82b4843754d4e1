# SPDX-License-Identifier: MIT
# Rig component: libkbus, kmsg, kspeed and the libkbus C tests, built for the
# guest (included by tests/rig/rig.mk with RIG_ARCH set; see its "More components").
#
# Staged tree $(RIG)/stage/libkbus/, laid out like the guest's root:
#   usr/lib/libkbus.so*                      the shared library
#   usr/bin/kmsg, usr/bin/kspeed             the utilities
#   usr/libexec/kbus-tests/test_*            the C tests (against libkbus.so)
# and on x86_64 only, when the sanitizer runtimes of versions.mk download:
#   usr/libexec/kbus-tests/sanitize/test_*   the C tests built with
#                                            -fsanitize=address,undefined
#                                            (libkbus linked in statically,
#                                            also sanitized)
#   usr/lib/x86_64-linux-gnu/lib{asan,ubsan,stdc++}.so.*  their runtimes
# x86_64 is built with the host gcc, armhf with arm-linux-gnueabihf-gcc,
# dynamically against the guest's Debian glibc. Build tree: $(RIG)/libkbus/.

LIBKBUS_DIR := package/kbus/libkbus
LIBKBUS_UTILS_DIR := package/kbus/utils
LIBKBUS_TESTS_DIR := tests/c
LIBKBUS_B := $(abspath $(RIG)/libkbus)
LIBKBUS_STAGE := $(RIG)/stage/libkbus
LIBKBUS_CC := $(KCROSS)gcc
LIBKBUS_CXX := $(KCROSS)g++
LIBKBUS_AR := $(KCROSS)ar
LIBKBUS_CFLAGS := -O2 -g
LIBKBUS_SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	-fno-sanitize-recover=all
LIBKBUS_SAN_LDFLAGS := -fsanitize=address,undefined

LIBKBUS_INPUTS := $(shell find $(LIBKBUS_DIR) $(LIBKBUS_UTILS_DIR) $(LIBKBUS_TESTS_DIR) \
	$(KBUS_INCLUDE_DIR) -type f -not -path '*/build/*' 2>/dev/null) \
	$(RIGSRC)/components/libkbus.mk

# Every sub-make gets its variables on the command line (they win over the
# rig's own command-line variables, which reach sub-makes via MAKEFLAGS).
LIBKBUS_MAKE = $(MAKE) --no-print-directory CC=$(LIBKBUS_CC) CXX=$(LIBKBUS_CXX) \
	AR=$(LIBKBUS_AR) CPPFLAGS= PREFIX=/usr WARNFLAGS='-Wall -Wextra -Werror'

ifeq ($(RIG_ARCH),x86_64)
LIBKBUS_SAN_SPECS := $(foreach p,$(LIBKBUS_SANITIZER_DEBS),$(subst =,:amd64=,$(p)))
LIBKBUS_SAN_MANIFEST := $(RIG)/libkbus-sanitizers.debs

$(LIBKBUS_SAN_MANIFEST): $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(LIBKBUS_SAN_SPECS)
else
LIBKBUS_SAN_MANIFEST :=
endif

# the list of input files, rewritten only when it changes (a file was added
# or removed); in-tree build/ folders are left out
$(RIG)/libkbus.inputs: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' $(sort $(LIBKBUS_INPUTS)) > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(RIG)/stage/libkbus.stamp: $(RIG)/libkbus.inputs $(LIBKBUS_INPUTS) $(LIBKBUS_SAN_MANIFEST)
	rm -rf $(LIBKBUS_B) $(LIBKBUS_STAGE)
	@echo "libkbus ($(RIG_ARCH)): library, kmsg, kspeed, kbus-policy"
	$(LIBKBUS_MAKE) -C $(LIBKBUS_DIR) O=$(LIBKBUS_B)/main CFLAGS='$(LIBKBUS_CFLAGS)' LDFLAGS= \
		DESTDIR=$(LIBKBUS_B)/destdir all install
	test -f $(LIBKBUS_B)/destdir/usr/include/kbus/kbus.h
	test -f $(LIBKBUS_B)/destdir/usr/include/kbus/linux/kbus_defns.h
	test -f $(LIBKBUS_B)/destdir/usr/lib/pkgconfig/libkbus.pc
	@echo "libkbus ($(RIG_ARCH)): C tests"
	$(LIBKBUS_MAKE) -C $(LIBKBUS_TESTS_DIR) O=$(LIBKBUS_B)/tests CFLAGS='$(LIBKBUS_CFLAGS)' \
		LDFLAGS= KBUS_CFLAGS=-I$(LIBKBUS_B)/main/include \
		KBUS_LIBS='-L$(LIBKBUS_B)/main -lkbus' all
	mkdir -p $(LIBKBUS_STAGE)/usr/lib $(LIBKBUS_STAGE)/usr/bin \
		$(LIBKBUS_STAGE)/usr/libexec/kbus-tests
	cp -a $(LIBKBUS_B)/destdir/usr/lib/libkbus.so* $(LIBKBUS_STAGE)/usr/lib/
	cp -a $(LIBKBUS_B)/destdir/usr/bin/kmsg $(LIBKBUS_B)/destdir/usr/bin/kspeed \
		$(LIBKBUS_B)/destdir/usr/bin/kbus-policy $(LIBKBUS_STAGE)/usr/bin/
	cp -a $(LIBKBUS_B)/tests/test_libkbus $(LIBKBUS_B)/tests/test_cxx \
		$(LIBKBUS_STAGE)/usr/libexec/kbus-tests/
ifeq ($(RIG_ARCH),x86_64)
	@echo "libkbus ($(RIG_ARCH)): sanitized C tests"
	$(LIBKBUS_MAKE) -C $(LIBKBUS_DIR) O=$(LIBKBUS_B)/san CFLAGS='$(LIBKBUS_SAN_CFLAGS)' \
		LDFLAGS='$(LIBKBUS_SAN_LDFLAGS)' lib
	$(LIBKBUS_MAKE) -C $(LIBKBUS_TESTS_DIR) O=$(LIBKBUS_B)/san-tests \
		CFLAGS='$(LIBKBUS_SAN_CFLAGS)' LDFLAGS='$(LIBKBUS_SAN_LDFLAGS)' \
		KBUS_CFLAGS=-I$(LIBKBUS_B)/san/include KBUS_LIBS=$(LIBKBUS_B)/san/libkbus.a all
	mkdir -p $(LIBKBUS_STAGE)/usr/libexec/kbus-tests/sanitize \
		$(LIBKBUS_STAGE)/usr/lib/x86_64-linux-gnu $(LIBKBUS_B)/debs
	cp -a $(LIBKBUS_B)/san-tests/test_libkbus $(LIBKBUS_B)/san-tests/test_cxx \
		$(LIBKBUS_STAGE)/usr/libexec/kbus-tests/sanitize/
	for deb in $$(cat $(LIBKBUS_SAN_MANIFEST)); do dpkg -x "$$deb" $(LIBKBUS_B)/debs || exit 1; done
	cp -a $(LIBKBUS_B)/debs/usr/lib/x86_64-linux-gnu/libasan.so.8* \
		$(LIBKBUS_B)/debs/usr/lib/x86_64-linux-gnu/libubsan.so.1* \
		$(LIBKBUS_B)/debs/usr/lib/x86_64-linux-gnu/libstdc++.so.6* \
		$(LIBKBUS_STAGE)/usr/lib/x86_64-linux-gnu/
	rm -f $(LIBKBUS_STAGE)/usr/lib/x86_64-linux-gnu/*.py
endif
	touch $@

RIG_STAGES += libkbus
