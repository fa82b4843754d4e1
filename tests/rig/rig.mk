# SPDX-License-Identifier: MIT
# The QEMU test rig for one architecture: included by the top-level Makefile
# with RIG_ARCH set (x86_64 or armhf).  Everything lands in out/ (the cache):
#   out/dl/               downloaded .debs (pinned in tests/rig/versions.mk)
#   out/rig/ARCH/kernel   the guest kernel (ELF vmlinux on x86_64, zImage on armhf)
#   out/rig/ARCH/initrd.cpio = base.cpio (Debian userland, kernel modules;
#                         rebuilt when the pins change) + components.cpio
#                         (kbus.ko, the kbus Python package, rig files and
#                         overlay/; rebuilt in a second when they change)
#   out/rig/ARCH/build/   the copy of package/kbus/{module,include} kbus.ko is built in

include tests/rig/versions.mk

OUT ?= out
DL := $(OUT)/dl
RIG := $(OUT)/rig/$(RIG_ARCH)
RIGSRC := tests/rig

KBUS_MODULE_DIR ?= package/kbus/module
KBUS_INCLUDE_DIR ?= package/kbus/include
KBUS_PYTHON_DIR ?= package/kbus/python/kbus
OVERLAY_DIR ?= overlay

ifeq ($(RIG_ARCH),x86_64)
DEB_ARCH := amd64
KFLAVOUR := amd64
KIMAGE_PKG := linux-image-$(KERNEL_ABI)-amd64-unsigned
KARCH := x86
KCROSS :=
RIG_MODULES := virtio_pci 9pnet_virtio 9p
else ifeq ($(RIG_ARCH),armhf)
DEB_ARCH := armhf
KFLAVOUR := armmp
KIMAGE_PKG := linux-image-$(KERNEL_ABI)-armmp
KARCH := arm
KCROSS := arm-linux-gnueabihf-
RIG_MODULES := virtio_mmio virtio_pci 9pnet_virtio 9p
else
$(error RIG_ARCH must be x86_64 or armhf, not '$(RIG_ARCH)')
endif

KVER := $(KERNEL_ABI)-$(KFLAVOUR)
HDRROOT := $(RIG)/headers
KBUILD_DIR := $(HDRROOT)/usr/src/linux-headers-$(KVER)

KERNEL_DEBS := $(KIMAGE_PKG):$(DEB_ARCH)=$(KERNEL_VERSION)
HEADER_DEBS := linux-headers-$(KVER):$(DEB_ARCH)=$(KERNEL_VERSION) \
	linux-headers-$(KERNEL_ABI)-common:all=$(KERNEL_VERSION) \
	linux-kbuild-6.1:amd64=$(KERNEL_VERSION)
USER_DEBS := $(foreach p,$(RIG_ARCH_DEBS),$(subst =,:$(DEB_ARCH)=,$(p))) \
	$(foreach p,$(RIG_ALL_DEBS),$(subst =,:all=,$(p)))
# the applet list comes from the amd64 build of the same busybox (runs here)
BUSYBOX_HOST_DEB := $(subst =,:amd64=,$(filter busybox-static=%,$(RIG_ARCH_DEBS)))

FETCH := $(RIGSRC)/fetch-debs $(DL)
VERSIONS := $(RIGSRC)/versions.mk

# Input lists that change when files are added or removed (rewritten only
# when different, so that their time stamps mean "the set of files changed").
define file_list
	@mkdir -p $(dir $@)
	@find $(1) -type f -not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null \
		| LC_ALL=C sort > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
endef

MODULE_INPUTS := $(shell find $(KBUS_MODULE_DIR) $(KBUS_INCLUDE_DIR) -type f \
	-not -name '*.o' -not -name '*.ko' -not -name '*.cmd' -not -name '*.mod*' \
	-not -name 'modules.order' -not -name 'Module.symvers' 2>/dev/null)
COMPONENT_INPUTS := $(shell find $(KBUS_PYTHON_DIR) $(RIGSRC)/rootfs $(OVERLAY_DIR) -type f \
	-not -path '*/__pycache__/*' -not -name '*.pyc' 2>/dev/null)

.PHONY: rig-arch FORCE
rig-arch: $(RIG)/kernel $(RIG)/initrd.cpio $(RIG)/kernel-release

# More components: each tests/rig/components/NAME.mk builds a tree laid out
# like the guest's root in $(RIG)/stage/NAME/ (by a rule whose target is the
# stamp $(RIG)/stage/NAME.stamp) and adds NAME to RIG_STAGES.  The trees are
# copied into components.cpio after the kbus package and the overlay.
RIG_STAGES :=
include $(sort $(wildcard $(RIGSRC)/components/*.mk))
RIG_STAGE_STAMPS := $(foreach s,$(RIG_STAGES),$(RIG)/stage/$(s).stamp)
RIG_STAGE_DIRS := $(foreach s,$(RIG_STAGES),$(RIG)/stage/$(s))

# --- downloads -------------------------------------------------------------
# (manifests: the .deb paths; fetch-debs is a no-op for files already cached)
$(RIG)/kernel.debs: $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(KERNEL_DEBS)

$(RIG)/headers.debs: $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(HEADER_DEBS)

$(RIG)/userland.debs: $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(RIG)
	$(FETCH) $@ $(USER_DEBS)

$(OUT)/rig/busybox.list: $(VERSIONS) $(RIGSRC)/fetch-debs
	@mkdir -p $(OUT)/rig/busybox-host
	$(FETCH) $(OUT)/rig/busybox-host.debs $(BUSYBOX_HOST_DEB)
	rm -rf $(OUT)/rig/busybox-host && dpkg -x "$$(cat $(OUT)/rig/busybox-host.debs)" $(OUT)/rig/busybox-host
	$(OUT)/rig/busybox-host/bin/busybox --list-full | sed 's|^|/|' > $@.tmp
	grep -qx /sbin/init $@.tmp && mv $@.tmp $@

# --- kernel ------------------------------------------------------------------
$(RIG)/kernel-pkg/.stamp: $(RIG)/kernel.debs
	rm -rf $(RIG)/kernel-pkg && mkdir -p $(RIG)/kernel-pkg
	dpkg -x "$$(cat $<)" $(RIG)/kernel-pkg
	test -d $(RIG)/kernel-pkg/lib/modules/$(KVER)
	touch $@

$(RIG)/kernel: $(RIG)/kernel-pkg/.stamp $(RIGSRC)/extract-vmlinux
ifeq ($(RIG_ARCH),x86_64)
	$(RIGSRC)/extract-vmlinux $(RIG)/kernel-pkg/boot/vmlinuz-$(KVER) $@
else
	cp $(RIG)/kernel-pkg/boot/vmlinuz-$(KVER) $@.tmp && mv $@.tmp $@
endif

$(RIG)/kernel-release: $(VERSIONS)
	@mkdir -p $(RIG)
	echo $(KVER) > $@

# --- headers and kbus.ko -------------------------------------------------------
# The headers' Makefile includes the -common one by an absolute /usr/src path:
# point it at the unpacked copy.  The amd64 linux-kbuild gives host tools.
$(HDRROOT)/.stamp: $(RIG)/headers.debs
	rm -rf $(HDRROOT) && mkdir -p $(HDRROOT)
	for deb in $$(cat $<); do dpkg -x "$$deb" $(HDRROOT) || exit 1; done
	sed -i 's|^include /usr/src/|include $(abspath $(HDRROOT))/usr/src/|' $(KBUILD_DIR)/Makefile
	grep -q '$(abspath $(HDRROOT))' $(KBUILD_DIR)/Makefile
	test -x $(KBUILD_DIR)/scripts/mod/modpost
	touch $@

$(RIG)/module.inputs: FORCE
	$(call file_list,$(KBUS_MODULE_DIR) $(KBUS_INCLUDE_DIR))

# Built from a copy, never in package/.  MAKEFLAGS is dropped so that this
# Makefile's RIG_ARCH (or a command-line ARCH=...) does not reach the kernel's build system.
$(RIG)/kbus.ko: $(RIG)/module.inputs $(MODULE_INPUTS) $(HDRROOT)/.stamp
	@test -f $(KBUS_MODULE_DIR)/Kbuild || { echo "no $(KBUS_MODULE_DIR)/Kbuild" >&2; exit 1; }
	rm -rf $(RIG)/build && mkdir -p $(RIG)/build
	cp -a $(KBUS_MODULE_DIR) $(RIG)/build/module
	cp -a $(KBUS_INCLUDE_DIR) $(RIG)/build/include
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -C $(KBUILD_DIR) \
		M=$(abspath $(RIG)/build/module) ARCH=$(KARCH) CROSS_COMPILE=$(KCROSS) modules
	cp $(RIG)/build/module/kbus.ko $@

# --- initramfs -----------------------------------------------------------------
$(RIG)/base.cpio: $(RIG)/userland.debs $(RIG)/kernel-pkg/.stamp $(OUT)/rig/busybox.list \
		$(RIGSRC)/build-base
	$(RIGSRC)/build-base $(RIG) $(KVER) $(RIG)/kernel-pkg $(OUT)/rig/busybox.list \
		$(RIG)/userland.debs $(RIG_MODULES)

$(RIG)/components.inputs: FORCE
	$(call file_list,$(KBUS_PYTHON_DIR) $(RIGSRC)/rootfs $(OVERLAY_DIR))

$(RIG)/components.cpio: $(RIG)/components.inputs $(COMPONENT_INPUTS) $(RIG)/kbus.ko \
		$(RIG)/base.cpio $(RIGSRC)/build-components $(RIG_STAGE_STAMPS)
	$(RIGSRC)/build-components $(RIG) $(KVER) $(RIG)/kbus.ko $(KBUS_PYTHON_DIR) \
		$(RIGSRC)/rootfs $(OVERLAY_DIR) $(RIG_STAGE_DIRS)

$(RIG)/initrd.cpio: $(RIG)/base.cpio $(RIG)/components.cpio
	cat $^ > $@.tmp && mv $@.tmp $@
	@echo "rig $(RIG_ARCH): initrd $$(du -m $@ | cut -f1) MiB (base $$(du -m $(RIG)/base.cpio | cut -f1) MiB, components $$(du -k $(RIG)/components.cpio | cut -f1) KiB)"

# The package pins as NAME:ARCH=VERSION (for tests/setup's availability check).
.PHONY: rig-pins
rig-pins:
	@printf '%s\n' $(KERNEL_DEBS) $(HEADER_DEBS) $(USER_DEBS) $(BUSYBOX_HOST_DEB)
