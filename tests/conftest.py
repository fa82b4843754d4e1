# SPDX-License-Identifier: MIT
"""Host-side pytest fixtures for the QEMU test rig, driven through labgrid.

Run with an environment: `pytest tests --lg-env tests/env/rig-x86_64.yaml`
(`make test` runs each architecture).  Fixtures:

* `rig_arch`: "x86_64" or "armhf", from the environment's options;
* `rig_out`: the rig's products on the host, out/rig/NAME (NAME: the option
  `rig_name`, a debug kernel's rig, or `rig_arch`);
* `shell`: labgrid's ShellDriver, the strategy in state "shell" (booted, the
  repository at /mnt/share, kbus loaded);
* `guest_run`: run a shell command in the guest with a timeout scaled for TCG
  (armhf is slower), returning (output, exit status);
* `run_guest_pytest`: run the guest's pytest on a file under tests/guest/
  (as /mnt/share/tests/guest/...), returning (output, exit status); the
  option --guest-args='-k NAME' passes arguments on to it, and with
  --guest-junit-dir=DIR (a folder of this repository, e.g.
  out/junit-guest/rig-x86_64: the guest writes there through the share) the
  guest's pytest writes its JUnit XML, DIR/test_x.xml for test_x.py, which
  tests/junit_merge.py merges into the host's (`make test JUNIT_DIR=...`).

The same tests run on the STB image (tests/env/image-qemu.yaml, `make
test-image`) and on a real board (tests/env/board-example.yaml).  Options of
an environment's target that change how the guest is driven:

* `guest_setup`: the command that makes the guest ready before each guest
  test file (default `rig-setup --share --load`, which the image has too);
* `guest_pythonpath`: PYTHONPATH for the guest's pytest (the image carries
  no pytest: the environment points at out/guest-pylib/ through the share).

Tests that only make sense in one kind of environment carry
`pytest.mark.lg_feature(...)` marks, matched against the environment's
`features`: "rig" (the Debian-kernel test rig), "stb-image" (the Buildroot
image, QEMU or board), "qemu" (the image in QEMU: host-side image files).

tests/guest/ holds the guest's own tests: the host never collects them.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from labgrid import Target
from labgrid.driver import ShellDriver
from labgrid.strategy import Strategy
from pexpect import TIMEOUT

collect_ignore = ["guest"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--guest-args",
        default="",
        help="extra arguments for the guest's pytest, e.g. --guest-args='-k test_open -x'",
    )
    parser.addoption(
        "--guest-junit-dir",
        default="",
        metavar="DIR",
        help="a folder of this repository (emptied first) where the guest's pytest writes "
        "its JUnit XML, one file per guest file (tests/junit_merge.py merges them)",
    )


REPO = Path(__file__).resolve().parent.parent
GUEST_SHARE = "/mnt/share"
GUEST_SETUP = "rig-setup --share --load"
GUEST_PYTEST_TIMEOUT = 600.0  # seconds per guest test file on x86_64

# the guest's JUnit XML of one file, in the guest, before it is copied to the share
GUEST_JUNIT_TMP = "/tmp/kbus-guest-junit.xml"

GuestRun = Callable[..., tuple[str, int]]
GuestPytest = Callable[..., tuple[str, int]]


def guest_junit_dir(config: pytest.Config) -> Path | None:
    """--guest-junit-dir as a path relative to the repository (None: not set)."""
    value = str(config.getoption("--guest-junit-dir"))
    if not value:
        return None
    path = (REPO / value).resolve()
    if not path.is_relative_to(REPO) or path == REPO:
        raise pytest.UsageError(f"--guest-junit-dir {value}: not a folder in {REPO}")
    return path.relative_to(REPO)


def pytest_sessionstart(session: pytest.Session) -> None:
    # no guest XML of an earlier run is merged into this one's
    rel = guest_junit_dir(session.config)
    if rel is not None:
        shutil.rmtree(REPO / rel, ignore_errors=True)
        (REPO / rel).mkdir(parents=True)


@pytest.fixture(scope="session")
def rig_arch(target: Target) -> str:
    arch = target.env.config.get_target_option(target.name, "rig_arch")
    assert arch in ("x86_64", "armhf"), f"bad rig_arch option {arch!r}"
    return str(arch)


@pytest.fixture(scope="session")
def timeout_factor(target: Target) -> float:
    return float(target.env.config.get_target_option(target.name, "timeout_factor", 1))


@pytest.fixture(scope="session")
def rig_out(rig_arch: str, target: Target) -> Path:
    """The rig's build products on the host: out/rig/NAME, NAME the
    environment's `rig_name` option (a debug kernel's rig, e.g. x86_64-kcsan),
    by default its `rig_arch`."""
    name = target_option(target, "rig_name") or rig_arch
    return REPO / "out" / "rig" / name


@pytest.fixture(scope="session")
def shell(strategy: Strategy, target: Target) -> ShellDriver:
    strategy.transition("shell")
    return target.get_driver("ShellDriver")


@pytest.fixture(scope="session")
def guest_run(shell: ShellDriver, strategy: Strategy, timeout_factor: float) -> GuestRun:
    """`guest_run(cmd, timeout=30.0)` -> (output, exit status).

    The timeout is in x86_64 seconds, multiplied by the environment's
    timeout_factor.  A command that times out leaves the console out of step:
    the guest is rebooted (so later tests start clean) and the test fails.
    """

    def run(cmd: str, timeout: float = 30.0) -> tuple[str, int]:
        scaled = timeout * timeout_factor
        try:
            lines, _, rc = shell.run(cmd, timeout=scaled)
        except TIMEOUT:
            strategy.transition("off")
            strategy.transition("shell")
            pytest.fail(f"guest command timed out after {scaled:g} s (guest rebooted): {cmd}")
        return "\n".join(lines), rc

    return run


def target_option(target: Target, name: str, default: str = "") -> str:
    """An option of the environment's target, as a string ("" when unset)."""
    return str(target.env.config.get_target_option(target.name, name, default) or "")


@pytest.fixture(scope="session")
def run_guest_pytest(
    guest_run: GuestRun, request: pytest.FixtureRequest, target: Target
) -> GuestPytest:
    """`run_guest_pytest("tests/guest/test_x.py", *args)` -> (output, exit status).

    Runs the guest's `python3 -m pytest -p no:cacheprovider` in
    /mnt/share/tests/guest with PYTHONDONTWRITEBYTECODE=1 (nothing is written
    into the shared repository) and --confcutdir=. (this host conftest stays
    out), after making sure the rig is ready (share mounted, kbus loaded: an
    earlier file may have unloaded it) with the target's `guest_setup`, and
    with its `guest_pythonpath` as PYTHONPATH when it has one.

    With --guest-junit-dir=DIR, the guest's pytest writes JUnit XML to the
    guest's /tmp, copied afterwards to /mnt/share/DIR/test_x.xml; a share the
    guest cannot write to (a read-only NFS export, another folder) only
    means no XML: tests/junit_merge.py then keeps the file's host testcase.
    """
    setup = target_option(target, "guest_setup", GUEST_SETUP)
    pythonpath = target_option(target, "guest_pythonpath")
    env = f"PYTHONPATH={shlex.quote(pythonpath)} " if pythonpath else ""
    junit_dir = guest_junit_dir(request.config)

    def run(path: str, *args: str, timeout: float = GUEST_PYTEST_TIMEOUT) -> tuple[str, int]:
        rel = Path(path)
        if rel.is_absolute() or not (REPO / rel).is_file():
            raise ValueError(f"{path}: not a file of this repository")
        guest_path = shlex.quote(f"{GUEST_SHARE}/{rel.as_posix()}")
        words = [*shlex.split(request.config.getoption("--guest-args")), *args]
        extra = " ".join(shlex.quote(a) for a in words)
        junit = f"--junitxml={GUEST_JUNIT_TMP} " if junit_dir is not None else ""
        cmd = (
            f"{setup} >/dev/null && "
            f"cd {GUEST_SHARE}/tests/guest && "
            f"{env}PYTHONDONTWRITEBYTECODE=1 python3 -m pytest -p no:cacheprovider "
            f"--confcutdir=. --color=no -rfEs {junit}{guest_path} {extra} 2>&1"
        )
        if junit_dir is not None:
            (REPO / junit_dir / f"{rel.stem}.xml").unlink(missing_ok=True)
            xml = shlex.quote(f"{GUEST_SHARE}/{junit_dir.as_posix()}/{rel.stem}.xml")
            # the status stays pytest's (or the set-up's); a failed copy is silent
            cmd = (
                f"rm -f {GUEST_JUNIT_TMP} && {{ {cmd}; kbus_rc=$?; "
                f"cp {GUEST_JUNIT_TMP} {xml} 2>/dev/null; rm -f {GUEST_JUNIT_TMP}; "
                f"(exit $kbus_rc); }}"
            )
        return guest_run(cmd, timeout=timeout)

    return run
