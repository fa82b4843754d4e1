# SPDX-License-Identifier: MIT
"""The top-level Makefile's interface: the rig's architecture and the boards.

An ARCH exported in a kernel developer's shell (ARCH=arm) must not reach the
rig (RIG_ARCH; ARCH=... counts only on the command line), and BOARD must name
a defconfig of br2-external/configs/.  Nothing is built: `make -pnq` runs no
recipe, and the one `make -n test` has its sub-make replaced by `true`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BOARDS = sorted(
    p.name.removesuffix("_defconfig") for p in (REPO / "br2-external/configs").glob("*_defconfig")
)


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("ARCH", "RIG_ARCH", "BOARD")}
    full_env.pop("MAKEFLAGS", None)
    full_env.update(env or {})
    return subprocess.run(
        ["make", "-C", str(REPO), "--no-print-directory", *args],
        capture_output=True,
        text=True,
        env=full_env,
        check=False,
        timeout=120,
    )


def variable(name: str, *args: str, env: dict[str, str] | None = None) -> str:
    out = make("-pnq", ".DEFAULT", *args, env=env).stdout
    m = re.search(rf"^{name} :?= ?(.*)$", out, re.MULTILINE)
    assert m, f"no {name} in the make database"
    return m.group(1).strip()


def test_boards_exist() -> None:
    assert "stb_qemu_arm" in BOARDS


@pytest.mark.parametrize(
    ("args", "env", "arches"),
    [
        ((), {}, "x86_64 armhf"),
        ((), {"ARCH": "arm"}, "x86_64 armhf"),
        (("ARCH=armhf",), {"ARCH": "arm"}, "armhf"),
        (("RIG_ARCH=x86_64",), {"ARCH": "arm"}, "x86_64"),
        ((), {"RIG_ARCH": "armhf", "ARCH": "arm"}, "armhf"),
    ],
)
def test_rig_arches(args: tuple[str, ...], env: dict[str, str], arches: str) -> None:
    assert variable("RIG_TEST_ARCHES", *args, env=env) == arches


def test_environment_arch_is_not_the_rigs() -> None:
    out = make("-n", "rig-run", env={"ARCH": "arm"})
    assert "set RIG_ARCH=x86_64 or RIG_ARCH=armhf" in out.stdout


def test_environment_arch_not_passed_on() -> None:
    # recipes (Buildroot, kernel builds) do not see the shell's ARCH
    show = 'kbus-show-arch: ; @echo "[$$ARCH]"'
    out = make("--eval", show, "kbus-show-arch", env={"ARCH": "arm"})
    assert out.stdout.strip() == "[]", out.stderr


def test_make_test_with_exported_arch_runs_both_rigs(tmp_path: Path) -> None:
    # the sub-make that builds each rig is `true`; the venv's python does not
    # exist, so no test runs (each architecture then counts as failed)
    out = make("-n", "test", "MAKE=true", f"VENV={tmp_path}/venv", env={"ARCH": "arm"})
    assert re.findall(r"^=== rig (\S+) ===$", out.stdout, re.MULTILINE) == ["x86_64", "armhf"]


def test_help_with_exported_arch() -> None:
    out = make("help", env={"ARCH": "arm"})
    assert out.returncode == 0, out.stderr
    assert "make test" in out.stdout
    assert f"BOARD={'|'.join(BOARDS)}" in out.stdout


def test_unknown_board_lists_the_boards() -> None:
    out = make("-n", "BOARD=foo")
    assert out.returncode != 0
    assert "BOARD=foo: no br2-external/configs/foo_defconfig" in out.stderr
    assert f"the boards are: {' '.join(BOARDS)}" in out.stderr


@pytest.mark.parametrize("goal", ["help", "lint", "test", "rig"])
def test_unknown_board_does_not_stop_rig_goals(goal: str) -> None:
    out = make("-pnq", goal, "BOARD=foo", "MAKE=true", "VENV=/nonexistent")
    assert "BOARD=foo" not in out.stderr


def test_flash_uses_the_build_bmaptool_as_fallback() -> None:
    out = make("-n", "flash", "DEVICE=/dev/mmcblk0")
    assert out.returncode == 0, out.stderr
    assert "--build-bmaptool" in out.stdout
    assert "/br/stb_beaglebone/host/bin/bmaptool" in out.stdout
    assert "--force" not in out.stdout
    assert "--force" in make("-n", "flash", "DEVICE=/dev/sdb", "FLASH_FORCE=1").stdout
