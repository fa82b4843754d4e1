# SPDX-License-Identifier: MIT
# `make bench RIG_ARCH=x86_64|armhf [BENCH_ARGS=...]` (included by the top-level
# Makefile): kbus-bench in the rig guest, booted without the STB services
# (--noload) so that nothing else is on the bus; prints the table and writes
# out/bench/ARCH.json.

BENCH_ARGS ?=

.PHONY: bench
ifeq ($(RIG_ARCH),)
bench:
	@echo "make bench: set RIG_ARCH=x86_64 or RIG_ARCH=armhf" >&2; exit 2
else
bench: rig-arch
	@mkdir -p $(OUT)/bench
	$(RIG_RUN) $(RIG_ARCH) --noload --share $(OUT)/bench --timeout 3600 -- \
		'modprobe kbus && kbus-bench $(BENCH_ARGS) --json /mnt/share/$(RIG_ARCH).json'
	@echo "bench: figures in $(OUT)/bench/$(RIG_ARCH).json"
endif
