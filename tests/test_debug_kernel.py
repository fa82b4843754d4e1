"""The debug kernel's own verdict on a test run (make test-debug).

On the debug rig kernel only (lg_feature "debug-kernel",
tests/env/rig-x86_64-debug.yaml).  `make test-debug` runs
test_kmemleak_baseline first, then the conformance suite
(tests/test_guest_suites.py), then test_kernel_log_is_clean:

* test_kmemleak_baseline: kmemleak's reports from the boot (the kernel's
  own, before any test ran) are saved to out/rig/x86_64-debug/log/
  kmemleak-boot.txt and cleared, so that only what the tests leak counts;
* test_kernel_log_is_clean: with the STB services stopped and kbus unloaded
  (so that what its unload frees, or leaks, is seen too), kmemleak scans
  twice (an object is reported once it looked unreferenced and unchanged in
  two scans, at least 5 s old), then dmesg and the kmemleak report are
  saved to out/rig/x86_64-debug/log/{dmesg,kmemleak}.txt and checked by
  tests/debug/check_kernel_log.py: any KASAN, lockdep, WARN, BUG, ...
  report or leak fails the test with the report.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = pytest.mark.lg_feature("debug-kernel")

REPO = Path(__file__).resolve().parent.parent
CHECKER = REPO / "tests" / "debug" / "check_kernel_log.py"
LOG_DIR = Path("out") / "rig" / "x86_64-debug" / "log"
GUEST_LOG_DIR = f"/mnt/share/{LOG_DIR.as_posix()}"
KMEMLEAK = "/sys/kernel/debug/kmemleak"
DEBUGFS = (
    "grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || "
    "mount -t debugfs debugfs /sys/kernel/debug"
)

GuestRun = Callable[..., tuple[str, int]]


def _run_ok(guest_run: GuestRun, cmd: str, timeout: float = 60.0) -> str:
    output, rc = guest_run(cmd, timeout=timeout)
    assert rc == 0, f"`{cmd}` exited {rc}:\n{output}"
    return output


def test_kmemleak_baseline(guest_run: GuestRun) -> None:
    _run_ok(guest_run, f"rig-setup --share && {DEBUGFS} && mkdir -p {GUEST_LOG_DIR}")
    _run_ok(
        guest_run,
        f"echo scan > {KMEMLEAK} && cat {KMEMLEAK} > {GUEST_LOG_DIR}/kmemleak-boot.txt && "
        f"echo clear > {KMEMLEAK}",
        timeout=300,
    )


def test_kernel_log_is_clean(guest_run: GuestRun) -> None:
    _run_ok(guest_run, f"rig-setup --share && {DEBUGFS} && mkdir -p {GUEST_LOG_DIR}")
    # nothing may hold a Ksock: the services first, then unload kbus
    _run_ok(
        guest_run,
        "if [ -x /etc/init.d/S60stb-services ]; then /etc/init.d/S60stb-services stop; fi",
        timeout=120,
    )
    _run_ok(guest_run, "if grep -q '^kbus ' /proc/modules; then rmmod kbus; fi")
    _run_ok(
        guest_run,
        f"echo scan > {KMEMLEAK} && sleep 6 && echo scan > {KMEMLEAK} && "
        f"cat {KMEMLEAK} > {GUEST_LOG_DIR}/kmemleak.txt && dmesg > {GUEST_LOG_DIR}/dmesg.txt",
        timeout=300,
    )
    dmesg = REPO / LOG_DIR / "dmesg.txt"
    kmemleak = REPO / LOG_DIR / "kmemleak.txt"
    assert dmesg.read_text(errors="replace").strip(), f"{dmesg}: empty"
    res = subprocess.run(
        [sys.executable, str(CHECKER), str(dmesg), "--kmemleak", str(kmemleak)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, f"the debug kernel reported bugs:\n{res.stdout}{res.stderr}"
