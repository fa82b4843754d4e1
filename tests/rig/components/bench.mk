# SPDX-License-Identifier: MIT
# Rig component: kbus-bench (tests/bench/), built for the guest as
# usr/bin/kbus-bench (included by tests/rig/rig.mk with RIG_ARCH set; see its
# "More components"). It uses the kernel ABI header, not libkbus, and
# libdbus for its D-Bus floor: Debian's dbus-daemon, libdbus and their
# run-time libraries (BENCH_DBUS_DEBS in versions.mk) are staged beside it.
# The build tree (the unpacked packages, headers included) is $(RIG)/bench/.

BENCH_SRC := tests/bench/kbus-bench.c
BENCH_STAGE := $(RIG)/stage/bench
BENCH_B := $(RIG)/bench
BENCH_DBUS_SPECS := $(foreach p,$(BENCH_DBUS_DEBS),$(subst =,:$(DEB_ARCH)=,$(p)))
BENCH_DBUS_MANIFEST := $(RIG)/bench-dbus.debs

ifeq ($(RIG_ARCH),x86_64)
BENCH_TRIPLET := x86_64-linux-gnu
else
BENCH_TRIPLET := arm-linux-gnueabihf
endif
# libdbus's own dependencies are found in the build tree, and in the base
# rig's tree for those the base already carries (liblzma)
BENCH_LIBDIRS := $(BENCH_B)/lib/$(BENCH_TRIPLET):$(BENCH_B)/usr/lib/$(BENCH_TRIPLET):$(RIG)/base/lib/$(BENCH_TRIPLET)

$(BENCH_DBUS_MANIFEST): $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(BENCH_DBUS_SPECS)

# The run-time packages go into the guest (without documentation); the
# -dev package only into the build tree.
$(RIG)/stage/bench.stamp: $(BENCH_SRC) $(KBUS_INCLUDE_DIR)/linux/kbus_defns.h \
		$(RIGSRC)/components/bench.mk $(BENCH_DBUS_MANIFEST) $(RIG)/base.cpio
	rm -rf $(BENCH_STAGE) $(BENCH_B) && mkdir -p $(BENCH_STAGE)/usr/bin $(BENCH_B)
	for deb in $$(cat $(BENCH_DBUS_MANIFEST)); do \
		dpkg -x "$$deb" $(BENCH_B) || exit 1; \
		case "$$deb" in */*-dev_*) ;; *) dpkg -x "$$deb" $(BENCH_STAGE) || exit 1;; esac; \
	done
	rm -rf $(BENCH_STAGE)/usr/share/doc $(BENCH_STAGE)/usr/share/lintian \
		$(BENCH_STAGE)/usr/share/man $(BENCH_STAGE)/usr/lib/$(BENCH_TRIPLET)/audit
	test -x $(BENCH_STAGE)/usr/bin/dbus-daemon
	$(KCROSS)gcc -O2 -Wall -Wextra -Werror -I$(KBUS_INCLUDE_DIR) \
		-I$(BENCH_B)/usr/include/dbus-1.0 \
		-I$(BENCH_B)/usr/lib/$(BENCH_TRIPLET)/dbus-1.0/include \
		-o $(BENCH_STAGE)/usr/bin/kbus-bench $(BENCH_SRC) \
		$(BENCH_B)/lib/$(BENCH_TRIPLET)/libdbus-1.so.3 \
		-Wl,-rpath-link,$(BENCH_LIBDIRS)
	touch $@

RIG_STAGES += bench
