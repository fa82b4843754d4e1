# SPDX-License-Identifier: MIT
# Rig component: kbus-fuzz (tests/fuzz/), built for the guest as
# usr/bin/kbus-fuzz (included by tests/rig/rig.mk with RIG_ARCH set; see its
# "More components"). It uses the kernel ABI header only, not libkbus.

FUZZ_SRC := tests/fuzz/kbus-fuzz.c
FUZZ_STAGE := $(RIG)/stage/fuzz

$(RIG)/stage/fuzz.stamp: $(FUZZ_SRC) $(KBUS_INCLUDE_DIR)/linux/kbus_defns.h \
		$(RIGSRC)/components/fuzz.mk
	rm -rf $(FUZZ_STAGE) && mkdir -p $(FUZZ_STAGE)/usr/bin
	$(KCROSS)gcc -O2 -g -Wall -Wextra -Werror -I$(KBUS_INCLUDE_DIR) \
		-o $(FUZZ_STAGE)/usr/bin/kbus-fuzz $(FUZZ_SRC) -pthread
	touch $@

RIG_STAGES += fuzz
