# SPDX-License-Identifier: MIT
"""The debug kernel's own verdict on a test run (make test-debug*).

On the debug rig kernels only (lg_feature "debug-kernel":
tests/env/rig-x86_64-kasan.yaml, rig-x86_64-kcsan.yaml, rig-armhf-kasan.yaml).
`make test-debug-*` runs test_kmemleak_baseline first, then the conformance
suite (tests/test_guest_suites.py) and the fuzzer, then
test_kernel_log_is_clean.  The logs go to out/rig/NAME/log/ (NAME: the
environment's rig_name, e.g. x86_64-kcsan):

* test_kmemleak_baseline (kernels with kmemleak, the KASAN ones; skipped on
  the others): kmemleak's reports from the boot (the kernel's own, before
  any test ran) are saved to kmemleak-boot.txt and cleared, so that only
  what the tests leak counts;
* test_kernel_log_is_clean: with the STB services stopped and kbus unloaded
  (so that what its unload frees, or leaks, is seen too), kmemleak (where
  there is one) scans twice (an object is reported once it looked
  unreferenced and unchanged in two scans, at least 5 s old); then dmesg
  and the kmemleak report are saved to dmesg.txt and kmemleak.txt, KCSAN's
  counters (where there is KCSAN) to kcsan.txt, and the logs are checked by
  tests/debug/check_kernel_log.py: any KASAN, KCSAN (involving kbus),
  lockdep, WARN, BUG, ... report or leak fails the test with the report.
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
KMEMLEAK = "/sys/kernel/debug/kmemleak"
KCSAN = "/sys/kernel/debug/kcsan"
DEBUGFS = (
    "grep -q ' /sys/kernel/debug debugfs ' /proc/mounts || "
    "mount -t debugfs debugfs /sys/kernel/debug"
)

GuestRun = Callable[..., tuple[str, int]]


@pytest.fixture(scope="module")
def log_dir(rig_out: Path) -> Path:
    """out/rig/NAME/log on the host."""
    return rig_out / "log"


def _guest_path(host: Path) -> str:
    """The guest's path of a host path inside the repository (the share)."""
    return f"/mnt/share/{host.relative_to(REPO).as_posix()}"


def _run_ok(guest_run: GuestRun, cmd: str, timeout: float = 60.0) -> str:
    output, rc = guest_run(cmd, timeout=timeout)
    assert rc == 0, f"`{cmd}` exited {rc}:\n{output}"
    return output


def _has(guest_run: GuestRun, path: str) -> bool:
    _, rc = guest_run(f"test -e {path}")
    return rc == 0


def test_kmemleak_baseline(guest_run: GuestRun, log_dir: Path) -> None:
    guest_log = _guest_path(log_dir)
    _run_ok(guest_run, f"rig-setup --share && {DEBUGFS} && mkdir -p {guest_log}")
    if not _has(guest_run, KMEMLEAK):
        pytest.skip("no kmemleak in this kernel (the KASAN kernels have it)")
    _run_ok(
        guest_run,
        f"echo scan > {KMEMLEAK} && cat {KMEMLEAK} > {guest_log}/kmemleak-boot.txt && "
        f"echo clear > {KMEMLEAK}",
        timeout=300,
    )


def test_kernel_log_is_clean(guest_run: GuestRun, log_dir: Path) -> None:
    guest_log = _guest_path(log_dir)
    _run_ok(guest_run, f"rig-setup --share && {DEBUGFS} && mkdir -p {guest_log}")
    # nothing may hold a Ksock: the services first, then unload kbus
    _run_ok(
        guest_run,
        "if [ -x /etc/init.d/S60stb-services ]; then /etc/init.d/S60stb-services stop; fi",
        timeout=120,
    )
    _run_ok(guest_run, "if grep -q '^kbus ' /proc/modules; then rmmod kbus; fi")
    args = [str(log_dir / "dmesg.txt")]
    if _has(guest_run, KMEMLEAK):
        _run_ok(
            guest_run,
            f"echo scan > {KMEMLEAK} && sleep 6 && echo scan > {KMEMLEAK} && "
            f"cat {KMEMLEAK} > {guest_log}/kmemleak.txt",
            timeout=300,
        )
        args += ["--kmemleak", str(log_dir / "kmemleak.txt")]
    if _has(guest_run, KCSAN):
        stats = _run_ok(guest_run, f"cat {KCSAN} | tee {guest_log}/kcsan.txt")
        assert "enabled: 1" in stats, f"KCSAN is not enabled:\n{stats}"
    _run_ok(guest_run, f"dmesg > {guest_log}/dmesg.txt")
    dmesg = log_dir / "dmesg.txt"
    assert dmesg.read_text(errors="replace").strip(), f"{dmesg}: empty"
    res = subprocess.run(
        [sys.executable, str(CHECKER), *args], capture_output=True, text=True, check=False
    )
    # the KCSAN reports that do not involve kbus: shown, not counted
    print(res.stdout)
    assert res.returncode == 0, f"the debug kernel reported bugs:\n{res.stdout}{res.stderr}"
