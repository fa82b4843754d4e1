# The debug rig kernel and `make test-debug` (included by the top-level
# Makefile).  x86_64 only; everything lands in out/rig/x86_64-debug/:
#   kernel, kernel-release  the debug kernel (tests/debug/build-kernel) from
#                           Debian's linux-source-6.1 at the rig's pinned
#                           KERNEL_VERSION (tests/rig/versions.mk) with the
#                           fragment tests/debug/kernel.config: KASAN,
#                           lockdep, kmemleak, failslab, ...; rebuilt only
#                           when the pin, the fragment or the script change
#   linux-build/            its build tree, which kbus.ko is built against
#   initrd.cpio             base.cpio (the x86_64 rig's Debian userland; no
#                           modules: the kernel has its drivers built in) +
#                           components.cpio (this kbus.ko, the x86_64 rig's
#                           components)
#   log/                    the console log of the last `make test-debug`

DEBUG_ARCH := x86_64-debug
DEBUG_RIG := $(OUT)/rig/$(DEBUG_ARCH)
DEBUG_DIR := tests/debug
DEBUG_ENV := tests/env/rig-$(DEBUG_ARCH).yaml
DEBUG_LOG := $(DEBUG_RIG)/log
# Jobs for the kernel build (default: all CPUs)
DEBUG_JOBS ?=

.PHONY: rig-debug test-debug

ifeq ($(ARCH),x86_64)
DEBUG_SOURCE_DEB := linux-source-6.1:all=$(KERNEL_VERSION)

# the pin alone (versions.mk also holds the userland pins)
$(DEBUG_RIG)/source.pin: FORCE
	@mkdir -p $(DEBUG_RIG)
	@echo '$(DEBUG_SOURCE_DEB)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@

$(DEBUG_RIG)/kernel: $(DEBUG_RIG)/source.pin $(DEBUG_DIR)/kernel.config $(DEBUG_DIR)/build-kernel
	$(FETCH) $(DEBUG_RIG)/source.debs $(DEBUG_SOURCE_DEB)
	$(if $(DEBUG_JOBS),JOBS=$(DEBUG_JOBS)) nice $(DEBUG_DIR)/build-kernel "$$(cat $(DEBUG_RIG)/source.debs)" \
		$(DEBUG_DIR)/kernel.config $(DEBUG_RIG)

$(DEBUG_RIG)/kernel-release: $(DEBUG_RIG)/kernel
	test -s $@

# kbus.ko against the debug kernel's build tree, from a copy (as rig.mk does)
$(DEBUG_RIG)/kbus.ko: $(RIG)/module.inputs $(MODULE_INPUTS) $(DEBUG_RIG)/kernel
	rm -rf $(DEBUG_RIG)/build && mkdir -p $(DEBUG_RIG)/build
	cp -a $(KBUS_MODULE_DIR) $(DEBUG_RIG)/build/module
	cp -a $(KBUS_INCLUDE_DIR) $(DEBUG_RIG)/build/include
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -C $(DEBUG_RIG)/linux-build \
		M=$(abspath $(DEBUG_RIG)/build/module) ARCH=x86 modules
	cp $(DEBUG_RIG)/build/module/kbus.ko $@

# The rig's drivers (RIG_MODULES) are built in: build-base finds them in
# modules.builtin and copies no module.
$(DEBUG_RIG)/base.cpio: $(RIG)/userland.debs $(DEBUG_RIG)/kernel-release $(OUT)/rig/busybox.list \
		$(RIGSRC)/build-base
	$(RIGSRC)/build-base $(DEBUG_RIG) "$$(cat $(DEBUG_RIG)/kernel-release)" $(DEBUG_RIG)/kroot \
		$(OUT)/rig/busybox.list $(RIG)/userland.debs $(RIG_MODULES)

$(DEBUG_RIG)/components.cpio: $(RIG)/components.inputs $(COMPONENT_INPUTS) $(DEBUG_RIG)/kbus.ko \
		$(DEBUG_RIG)/base.cpio $(RIGSRC)/build-components $(RIG_STAGE_STAMPS)
	$(RIGSRC)/build-components $(DEBUG_RIG) "$$(cat $(DEBUG_RIG)/kernel-release)" \
		$(DEBUG_RIG)/kbus.ko $(KBUS_PYTHON_DIR) $(RIGSRC)/rootfs $(OVERLAY_DIR) $(RIG_STAGE_DIRS)

$(DEBUG_RIG)/initrd.cpio: $(DEBUG_RIG)/base.cpio $(DEBUG_RIG)/components.cpio
	cat $^ > $@.tmp && mv $@.tmp $@

rig-debug: $(DEBUG_RIG)/kernel $(DEBUG_RIG)/initrd.cpio
else
rig-debug:
	@$(MAKE) --no-print-directory rig-debug ARCH=x86_64
endif

# The conformance suite on the debug kernel, then the kernel's own verdict:
# tests/test_debug_kernel.py clears the boot's kmemleak reports first and, last,
# unloads kbus, has kmemleak scan and checks dmesg and kmemleak with
# tests/debug/check_kernel_log.py; that script also checks the whole console
# log (which survives a guest reboot after a timeout).
DEBUG_TESTS := tests/test_debug_kernel.py::test_kmemleak_baseline tests/test_guest_suites.py \
	tests/test_fuzz.py tests/test_debug_kernel.py::test_kernel_log_is_clean

test-debug: $(SETUP_DONE)
	@$(MAKE) --no-print-directory rig-debug ARCH=x86_64
	@rm -rf $(DEBUG_LOG) && mkdir -p $(DEBUG_LOG)
	@status=0; start=$$(date +%s); \
	$(VENV)/bin/python -m pytest $(DEBUG_TESTS) --lg-env $(DEBUG_ENV) --lg-log=$(DEBUG_LOG) \
		$(PYTEST_ARGS) || status=1; \
	echo "test-debug: console log in $(DEBUG_LOG)/"; \
	$(VENV)/bin/python $(DEBUG_DIR)/check_kernel_log.py $(DEBUG_LOG)/console_* || status=1; \
	echo "test-debug: $$(($$(date +%s) - start)) s"; \
	exit $$status
