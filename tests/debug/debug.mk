# SPDX-License-Identifier: MIT
# The debug rig kernels and `make test-debug*` (included by the top-level
# Makefile).  Three kernels, each built by tests/debug/build-kernel from
# Debian's linux-source-6.1 at the rig's pinned KERNEL_VERSION
# (tests/rig/versions.mk): `make tinyconfig` + kernel-common.config +
# kernel-ARCH.config + kernel-CHECKER.config (tests/debug/):
#
#   NAME          make targets                     checker
#   x86_64-kasan  rig-debug-kasan, test-debug-kasan  KASAN, kmemleak, failslab
#   x86_64-kcsan  rig-debug-kcsan, test-debug-kcsan  KCSAN (data races)
#   armhf-kasan   rig-debug-armhf, test-debug-armhf  KASAN, kmemleak, failslab
#
# (all of them: lockdep, DEBUG_ATOMIC_SLEEP, DEBUG_LIST, hung tasks).  `make
# rig-debug` and `make test-debug` are the two x86_64 kernels, KASAN first;
# the armhf one is slow under TCG and only run on demand.  Everything of
# kernel NAME lands in out/rig/NAME/:
#   kernel, kernel-release, config  the kernel (rebuilt only when the pin,
#                           a fragment or the script change), its `uname -r`
#                           and its .config
#   linux-build/            its build tree, which kbus.ko is built against
#   initrd.cpio             base.cpio (the ARCH rig's Debian userland; no
#                           modules: the kernel has its drivers built in) +
#                           components.cpio (this kbus.ko, the ARCH rig's
#                           components)
#   log/                    the logs of the last `make test-debug-*`
# tests/rig-run NAME boots it, tests/env/rig-NAME.yaml is its labgrid
# environment.

DEBUG_DIR := tests/debug
# short name (the make targets' suffix) -> kernel NAME
DEBUG_NAME_kasan := x86_64-kasan
DEBUG_NAME_kcsan := x86_64-kcsan
DEBUG_NAME_armhf := armhf-kasan
DEBUG_SHORT := kasan kcsan armhf
# `make test-debug` and `make rig-debug`, in this order
DEBUG_DEFAULT := kasan kcsan
# Jobs for the kernel builds (default: all CPUs)
DEBUG_JOBS ?=
DEBUG_SOURCE_DEB := linux-source-6.1:all=$(KERNEL_VERSION)

# x86_64-kcsan -> x86_64, kcsan
debug_arch = $(firstword $(subst -, ,$(1)))
debug_checker = $(lastword $(subst -, ,$(1)))

.PHONY: rig-debug test-debug $(foreach s,$(DEBUG_SHORT),rig-debug-$(s) test-debug-$(s))

# --- the rules of one kernel (needs rig.mk, i.e. RIG_ARCH = its architecture) ----
# $(1) = NAME
define debug_kernel_rules
$(OUT)/rig/$(1)/source.pin: FORCE
	@mkdir -p $(OUT)/rig/$(1)
	@echo '$(DEBUG_SOURCE_DEB)' > $$@.tmp
	@cmp -s $$@.tmp $$@ && rm -f $$@.tmp || mv $$@.tmp $$@

$(OUT)/rig/$(1)/kernel: $(OUT)/rig/$(1)/source.pin $(DEBUG_DIR)/build-kernel \
		$(DEBUG_DIR)/kernel-common.config $(DEBUG_DIR)/kernel-$(RIG_ARCH).config \
		$(DEBUG_DIR)/kernel-$(call debug_checker,$(1)).config
	$(FETCH) $(OUT)/rig/$(1)/source.debs $(DEBUG_SOURCE_DEB)
	$(if $(DEBUG_JOBS),JOBS=$(DEBUG_JOBS)) nice $(DEBUG_DIR)/build-kernel $(RIG_ARCH) \
		"$$$$(cat $(OUT)/rig/$(1)/source.debs)" $(OUT)/rig/$(1) $(DEBUG_DIR)/kernel-common.config \
		$(DEBUG_DIR)/kernel-$(RIG_ARCH).config $(DEBUG_DIR)/kernel-$(call debug_checker,$(1)).config

$(OUT)/rig/$(1)/kernel-release: $(OUT)/rig/$(1)/kernel
	test -s $$@

# kbus.ko against the kernel's build tree, from a copy (as rig.mk does)
$(OUT)/rig/$(1)/kbus.ko: $(RIG)/module.inputs $(MODULE_INPUTS) $(OUT)/rig/$(1)/kernel
	@test -f $(KBUS_MODULE_DIR)/Kbuild || { echo "no $(KBUS_MODULE_DIR)/Kbuild" >&2; exit 1; }
	rm -rf $(OUT)/rig/$(1)/build && mkdir -p $(OUT)/rig/$(1)/build
	cp -a $(KBUS_MODULE_DIR) $(OUT)/rig/$(1)/build/module
	cp -a $(KBUS_INCLUDE_DIR) $(OUT)/rig/$(1)/build/include
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL $(MAKE) -C $(OUT)/rig/$(1)/linux-build \
		M=$(abspath $(OUT)/rig/$(1)/build/module) ARCH=$(KARCH) CROSS_COMPILE=$(KCROSS) modules
	cp $(OUT)/rig/$(1)/build/module/kbus.ko $$@

# The rig's drivers (RIG_MODULES) are built in: build-base finds them in
# modules.builtin and copies no module.  But virtio_net: the debug kernels
# have no network (the two-box bridge tests run on Debian's kernel).
$(OUT)/rig/$(1)/base.cpio: $(RIG)/userland.debs $(OUT)/rig/$(1)/kernel-release \
		$(OUT)/rig/busybox.list $(RIGSRC)/build-base
	$(RIGSRC)/build-base $(OUT)/rig/$(1) "$$$$(cat $(OUT)/rig/$(1)/kernel-release)" \
		$(OUT)/rig/$(1)/kroot $(OUT)/rig/busybox.list $(RIG)/userland.debs \
		$(filter-out virtio_net,$(RIG_MODULES))

$(OUT)/rig/$(1)/components.cpio: $(RIG)/components.inputs $(COMPONENT_INPUTS) \
		$(OUT)/rig/$(1)/kbus.ko $(OUT)/rig/$(1)/base.cpio $(RIGSRC)/build-components \
		$(RIG_STAGE_STAMPS)
	$(RIGSRC)/build-components $(OUT)/rig/$(1) "$$$$(cat $(OUT)/rig/$(1)/kernel-release)" \
		$(OUT)/rig/$(1)/kbus.ko $(KBUS_PYTHON_DIR) $(RIGSRC)/rootfs $(OVERLAY_DIR) $(RIG_STAGE_DIRS)

$(OUT)/rig/$(1)/initrd.cpio: $(OUT)/rig/$(1)/base.cpio $(OUT)/rig/$(1)/components.cpio
	cat $$^ > $$@.tmp && mv $$@.tmp $$@

.PHONY: debug-rig-$(1)
debug-rig-$(1): $(OUT)/rig/$(1)/kernel $(OUT)/rig/$(1)/initrd.cpio
endef

ifneq ($(RIG_ARCH),)
$(foreach k,$(filter $(RIG_ARCH)-%,$(foreach s,$(DEBUG_SHORT),$(DEBUG_NAME_$(s)))),\
	$(eval $(call debug_kernel_rules,$(k))))
endif

# --- make rig-debug*, make test-debug* ----------------------------------------
# The conformance suite on a debug kernel, then the kernel's own verdict:
# tests/test_debug_kernel.py clears the boot's kmemleak reports first (where
# there is kmemleak) and, last, unloads kbus, has kmemleak scan and checks
# dmesg and kmemleak with tests/debug/check_kernel_log.py; that script also
# checks the whole console log (which survives a guest reboot after a
# timeout).  In between, the fuzzer's CI budget.
DEBUG_TESTS := tests/test_debug_kernel.py::test_kmemleak_baseline tests/test_guest_suites.py \
	tests/test_fuzz.py tests/test_debug_kernel.py::test_kernel_log_is_clean
# Guest files about the programs on the module (the STB services, the bridge,
# the MicroPython binding), not about the module: `make test` runs them on
# Debian's kernel; here they would add minutes per kernel and exercise no
# kernel path the other files do not (DEBUG_GUEST_SKIP= runs them too).
DEBUG_GUEST_SKIP ?= test_bridge.py test_bridge_tls.py test_stb_scenarios.py test_stb_policy.py \
	test_stb_aio_logger.py test_micropython.py
# KCSAN reports a race only where two contexts run kbus code at once: on the
# KCSAN kernel the fuzzer's budget (threads on one Ksock, budget churn, the
# race scenarios) and the guest files that run processes or threads on the
# same paths; the sequential files run on the KASAN kernel
# (DEBUG_GUEST_ONLY_kcsan= runs every file there too).
DEBUG_GUEST_ONLY_kcsan ?= test_hardening.py test_ordering.py test_libkbus.py test_policy.py \
	test_requests.py test_queues.py test_readwrite.py test_proc.py test_dev_access.py \
	test_python_binding.py test_zz_unload.py

# $(1) = short name
define debug_targets
rig-debug-$(1):
	@$$(MAKE) --no-print-directory debug-rig-$(DEBUG_NAME_$(1)) RIG_ARCH=$(call debug_arch,$(DEBUG_NAME_$(1)))

test-debug-$(1): $$(SETUP_DONE)
	@$$(MAKE) --no-print-directory rig-debug-$(1)
	@log=$(OUT)/rig/$(DEBUG_NAME_$(1))/log; rm -rf $$$$log && mkdir -p $$$$log; \
	status=0; start=$$$$(date +%s); \
	KBUS_GUEST_SKIP='$$(DEBUG_GUEST_SKIP)' KBUS_GUEST_ONLY='$$(DEBUG_GUEST_ONLY_$(1))' \
		$$(VENV)/bin/python -m pytest $$(DEBUG_TESTS) --lg-env tests/env/rig-$(DEBUG_NAME_$(1)).yaml \
		--lg-log=$$$$log $$(call junit_args,debug-$(DEBUG_NAME_$(1))) $$(PYTEST_ARGS) || status=1; \
	echo "test-debug-$(1): console log in $$$$log/"; \
	$$(call junit_merge,debug-$(DEBUG_NAME_$(1))) || status=1; \
	$$(VENV)/bin/python $$(DEBUG_DIR)/check_kernel_log.py $$$$log/console_* || status=1; \
	echo "test-debug-$(1): $(DEBUG_NAME_$(1)) $$$$(($$$$(date +%s) - start)) s, $$$$([ $$$$status = 0 ] && echo passed || echo FAILED)"; \
	exit $$$$status
endef
$(foreach s,$(DEBUG_SHORT),$(eval $(call debug_targets,$(s))))

rig-debug:
	@for s in $(DEBUG_DEFAULT); do $(MAKE) --no-print-directory rig-debug-$$s || exit 1; done

# Both x86_64 kernels, each whatever the other's result; fails if either fails.
test-debug: $(SETUP_DONE)
	@status=0; failed=; \
	for s in $(DEBUG_DEFAULT); do \
		echo "=== test-debug-$$s ==="; \
		$(MAKE) --no-print-directory test-debug-$$s || { status=1; failed="$$failed $$s"; }; \
	done; \
	[ $$status = 0 ] || echo "test-debug: failed:$$failed" >&2; \
	exit $$status
