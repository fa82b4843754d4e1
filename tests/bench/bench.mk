# SPDX-License-Identifier: MIT
# `make bench RIG_ARCH=x86_64|armhf [BENCH_ARGS=...]` (included by the top-level
# Makefile): kbus-bench in the rig guest, booted without the STB services
# (--noload) so that nothing else is on the bus; prints the table and writes
# out/bench/ARCH.json.  Then tests/bench/py_rtt.py (copied into the share)
# adds the Python round trip (CPython and MicroPython) to the table and the
# JSON: py_rtt_vs_pipe, upy_rtt_vs_pipe; and tests/bench/bridge_rtt.py the
# same round trip between two buses through two kbus-bridges and Mosquitto:
# bridge_rtt_16_p50_us, bridge_rtt_vs_local.

BENCH_ARGS ?=

.PHONY: bench
ifeq ($(RIG_ARCH),)
bench:
	@echo "make bench: set RIG_ARCH=x86_64 or RIG_ARCH=armhf" >&2; exit 2
else
bench: rig-arch
	@mkdir -p $(OUT)/bench
	cp tests/bench/py_rtt.py tests/bench/bridge_rtt.py $(OUT)/bench/
	$(RIG_RUN) $(RIG_ARCH) --noload --share $(OUT)/bench --timeout 3600 -- \
		'modprobe kbus && kbus-bench $(BENCH_ARGS) --json /mnt/share/$(RIG_ARCH).json && \
		python3 /mnt/share/py_rtt.py $(BENCH_ARGS) --json /mnt/share/$(RIG_ARCH).json && \
		python3 /mnt/share/bridge_rtt.py $(BENCH_ARGS) --json /mnt/share/$(RIG_ARCH).json'
	@echo "bench: figures in $(OUT)/bench/$(RIG_ARCH).json"
endif
