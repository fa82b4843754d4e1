# Rig component: kbus-bench (tests/bench/), built for the guest as
# usr/bin/kbus-bench (included by tests/rig/rig.mk with ARCH set; see its
# "More components"). It uses the kernel ABI header only, not libkbus.

BENCH_SRC := tests/bench/kbus-bench.c
BENCH_STAGE := $(RIG)/stage/bench

$(RIG)/stage/bench.stamp: $(BENCH_SRC) $(KBUS_INCLUDE_DIR)/linux/kbus_defns.h \
		$(RIGSRC)/components/bench.mk
	rm -rf $(BENCH_STAGE) && mkdir -p $(BENCH_STAGE)/usr/bin
	$(KCROSS)gcc -O2 -Wall -Wextra -Werror -I$(KBUS_INCLUDE_DIR) \
		-o $(BENCH_STAGE)/usr/bin/kbus-bench $(BENCH_SRC)
	touch $@

RIG_STAGES += bench
