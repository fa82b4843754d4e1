# SPDX-License-Identifier: MIT
"""The rig's own checks of kbus.ko (run in the guest): it is loaded, /dev/kbus0
is a character device Python can open, rmmod removes it, and the
kbus_num_devices parameter gives /dev/kbus0..N-1 with mode 0666."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator

import pytest


def sh(cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd, shell=True, capture_output=True, text=True, timeout=60, check=False
    )


def loaded() -> bool:
    with open("/proc/modules") as f:
        return any(line.split(" ", 1)[0] == "kbus" for line in f)


def kbus_nodes() -> list[str]:
    return sorted(n for n in os.listdir("/dev") if n.startswith("kbus"))


@pytest.fixture
def default_module_after() -> Iterator[None]:
    """Leave kbus loaded with its defaults, whatever the test did."""
    yield
    sh("rmmod kbus")
    res = sh("modprobe kbus")
    assert res.returncode == 0, res.stderr
    assert loaded()


def test_module_is_loaded() -> None:
    assert loaded(), "kbus is not in /proc/modules"
    assert os.path.isdir("/sys/module/kbus")


def test_dev_kbus0_is_a_char_device() -> None:
    st = os.stat("/dev/kbus0")
    assert stat.S_ISCHR(st.st_mode), oct(st.st_mode)


def test_python_opens_dev_kbus0() -> None:
    with open("/dev/kbus0", "r+b", buffering=0) as f:
        assert f.fileno() >= 0
        assert f.readable() and f.writable()


def test_rmmod_removes_the_device(default_module_after: None) -> None:
    res = sh("rmmod kbus")
    assert res.returncode == 0, res.stderr
    assert not loaded()
    assert not os.path.exists("/dev/kbus0")
    assert kbus_nodes() == []


def test_modprobe_with_three_devices(default_module_after: None) -> None:
    assert sh("rmmod kbus").returncode == 0
    res = sh("modprobe kbus kbus_num_devices=3")
    assert res.returncode == 0, res.stderr
    assert kbus_nodes() == ["kbus0", "kbus1", "kbus2"]
    for name in kbus_nodes():
        st = os.stat(f"/dev/{name}")
        assert stat.S_ISCHR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o666, f"/dev/{name}: {oct(st.st_mode)}"
