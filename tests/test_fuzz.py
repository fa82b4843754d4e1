"""kbus-fuzz (tests/fuzz/kbus-fuzz.c) in the rig guest with a fixed budget:
a few fixed seeds, a bounded number of operations each, on a bus of its own
(the STB services stopped, kbus reloaded with its defaults).  The last run
unloads kbus and checks the kernel log; the module is loaded again (as the
boot did, overlay/etc/init.d/S50kbus) whatever happened.  The services stay
stopped: the guest suites stop them anyway.

A failure shows the fuzzer's report, with the seed and round to replay
(`make fuzz ARCH=... FUZZ_SEED=n`, README.md "Fuzzing").  Long runs are
`make fuzz`; this is the short budget for `make test` and CI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

pytestmark = pytest.mark.lg_feature("rig")

GuestRun = Callable[..., tuple[str, int]]

FUZZ_SEEDS = (1, 2, 3, 4)
FUZZ_OPS = 20000  # per seed: about 6 s each under TCG, x86_64 or armhf
FUZZ_TIMEOUT = 120.0  # per seed, x86_64 seconds (scaled for armhf)

SERVICES = "/etc/init.d/S60stb-services"
KBUS_INIT = "/etc/init.d/S50kbus"


@pytest.fixture
def own_bus(guest_run: GuestRun) -> Iterator[None]:
    """The services stopped and kbus freshly loaded with its defaults;
    afterwards kbus loaded again the way the boot loads it."""
    output, rc = guest_run(
        f"if [ -x {SERVICES} ]; then {SERVICES} stop >/dev/null; fi; "
        "if grep -q '^kbus ' /proc/modules; then rmmod kbus; fi; modprobe kbus",
        timeout=120,
    )
    assert rc == 0, f"could not give kbus-fuzz a bus of its own:\n{output}"
    yield
    output, rc = guest_run(
        "grep -q '^kbus ' /proc/modules || "
        f"{{ if [ -x {KBUS_INIT} ]; then {KBUS_INIT} start; else modprobe kbus; fi; }}",
        timeout=60,
    )
    assert rc == 0, f"could not load kbus again:\n{output}"


def test_kbus_fuzz_fixed_seeds(guest_run: GuestRun, own_bus: None) -> None:
    for i, seed in enumerate(FUZZ_SEEDS):
        unload = " --unload" if i == len(FUZZ_SEEDS) - 1 else ""
        cmd = f"kbus-fuzz --seed {seed} --ops {FUZZ_OPS} --quiet{unload} 2>&1"
        output, rc = guest_run(cmd, timeout=FUZZ_TIMEOUT)
        assert rc == 0, f"{cmd} exited {rc}:\n{output}"
        assert f"kbus-fuzz: no invariant breach (seed {seed})" in output, output
    output, rc = guest_run("grep -c '^kbus ' /proc/modules")
    assert output.strip() == "0", "kbus-fuzz --unload left kbus loaded"
