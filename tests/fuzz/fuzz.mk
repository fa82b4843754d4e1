# SPDX-License-Identifier: MIT
# `make fuzz RIG_ARCH=x86_64|armhf [FUZZ_SEED=n] [FUZZ_OPS=n] [FUZZ_SECONDS=n]
# [FUZZ_ARGS=...]` (included by the top-level Makefile): kbus-fuzz in the rig
# guest, booted without the STB services (--noload) so that nothing else is
# on the bus; at the end kbus is unloaded and the kernel log checked.  The
# exit status is the fuzzer's (nonzero on any invariant breach).  FUZZ_ARGS
# passes more options: '--threads 4', '--churn --max-device-bytes 262144',
# '--scenario NAME [--unpriv]' (a scenario ignores --ops and --seconds; a
# guest crash shows as the run ending early with the panic on the console).

FUZZ_SEED ?=
FUZZ_OPS ?= 200000
FUZZ_SECONDS ?= 1800
FUZZ_ARGS ?=
FUZZ_CMD = kbus-fuzz $(if $(FUZZ_SEED),--seed $(FUZZ_SEED)) --ops $(FUZZ_OPS) \
	--seconds $(FUZZ_SECONDS) --unload $(FUZZ_ARGS)

.PHONY: fuzz
ifeq ($(RIG_ARCH),)
fuzz:
	@echo "make fuzz: set RIG_ARCH=x86_64 or RIG_ARCH=armhf" >&2; exit 2
else
fuzz: rig-arch
	$(RIG_RUN) $(RIG_ARCH) --noload --timeout $$(( $(FUZZ_SECONDS) * 2 + 600 )) -- \
		'modprobe kbus && $(FUZZ_CMD)'
endif

# `make lint`: kbus-fuzz compiled (-fsyntax-only) with -Wall -Wextra -Werror by
# gcc and arm-linux-gnueabihf-gcc (the rig builds it the same way).
FUZZ_LINT = for cc in gcc arm-linux-gnueabihf-gcc; do \
	$$cc -fsyntax-only -Wall -Wextra -Werror -Ipackage/kbus/include tests/fuzz/kbus-fuzz.c \
		|| exit 1; done
