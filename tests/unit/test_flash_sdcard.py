# SPDX-License-Identifier: MIT
"""br2-external/scripts/flash-sdcard (`make flash`): which disks it accepts.

The checks run on a made-up /sys and /proc tree; nothing is written.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "br2-external" / "scripts" / "flash-sdcard"


def load_script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("flash_sdcard", str(SCRIPT))
    spec = importlib.util.spec_from_loader("flash_sdcard", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


flash = load_script()


def disk(
    root: Path,
    name: str,
    *,
    removable: str = "0",
    mmc_type: str | None = None,
    parts: tuple[str, ...] = (),
    holders: dict[str, str] | None = None,
) -> None:
    """A disk NAME under root/sys, with its partitions and holders."""
    d = root / "sys" / "block" / name
    (d / "device").mkdir(parents=True)
    (d / "holders").mkdir()
    (d / "removable").write_text(removable + "\n")
    (d / "size").write_text(f"{2048 * 300}\n")
    (root / "sys" / "class" / "block" / name).mkdir(parents=True)
    if mmc_type is not None:
        (d / "device" / "type").write_text(mmc_type + "\n")
        (d / "device" / "name").write_text("SD32G\n")
    else:
        (d / "device" / "vendor").write_text("Generic\n")
        (d / "device" / "model").write_text("Card Reader\n")
    for part in parts:
        (d / part / "holders").mkdir(parents=True)
        (d / part / "partition").write_text("1\n")
        cls = root / "sys" / "class" / "block" / part
        cls.mkdir(parents=True)
        (cls / "partition").write_text("1\n")
    for where, holder in (holders or {}).items():
        base = d if where == name else d / where
        (base / "holders" / holder).mkdir()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "mounts").write_text("/dev/sda2 / ext4 rw 0 0\n")
    (tmp_path / "proc" / "swaps").write_text("Filename Type Size Used Priority\n")
    return tmp_path


def test_removable_usb_reader_accepted(root: Path) -> None:
    disk(root, "sdb", removable="1", parts=("sdb1", "sdb2"))
    about = flash.check_device("sdb", root)
    assert about == "/dev/sdb: Generic Card Reader, 300 MiB, removable"


def test_sd_card_in_mmc_slot_accepted(root: Path) -> None:
    # built-in SD slots: the kernel never reports mmcblk devices as removable
    disk(root, "mmcblk0", mmc_type="SD", parts=("mmcblk0p1", "mmcblk0p2"))
    assert flash.check_device("mmcblk0", root) == "/dev/mmcblk0: SD32G, 300 MiB, SD card"


def test_emmc_refused_unless_forced(root: Path) -> None:
    disk(root, "mmcblk1", mmc_type="MMC")
    with pytest.raises(flash.FlashError, match="MMC device of type MMC.*FLASH_FORCE=1"):
        flash.check_device("mmcblk1", root)
    assert "accepted with --force" in flash.check_device("mmcblk1", root, force=True)


def test_fixed_disk_refused_unless_forced(root: Path) -> None:
    disk(root, "sdc")
    with pytest.raises(flash.FlashError, match="not removable"):
        flash.check_device("sdc", root)
    assert flash.check_device("sdc", root, force=True).startswith("/dev/sdc: ")


def test_partition_refused(root: Path) -> None:
    disk(root, "mmcblk0", mmc_type="SD", parts=("mmcblk0p1",))
    with pytest.raises(flash.FlashError, match="is a partition"):
        flash.check_device("mmcblk0p1", root)


def test_unknown_disk_refused(root: Path) -> None:
    with pytest.raises(flash.FlashError, match="not a whole disk"):
        flash.check_device("sdz", root)


@pytest.mark.parametrize(
    ("table", "line", "why"),
    [
        ("mounts", "/dev/mmcblk0p1 /media/boot vfat rw 0 0", "is mounted"),
        ("swaps", "/dev/mmcblk0p2 partition 1024 0 -2", "used as swap"),
    ],
)
def test_partition_in_use_refused(root: Path, table: str, line: str, why: str) -> None:
    disk(root, "mmcblk0", mmc_type="SD", parts=("mmcblk0p1", "mmcblk0p2"))
    with (root / "proc" / table).open("a") as f:
        f.write(line + "\n")
    with pytest.raises(flash.FlashError, match=why):
        flash.check_device("mmcblk0", root)
    with pytest.raises(flash.FlashError, match=why):
        flash.check_device("mmcblk0", root, force=True)


def test_held_partition_refused(root: Path) -> None:
    disk(root, "sdb", removable="1", parts=("sdb1",), holders={"sdb1": "dm-0"})
    with pytest.raises(flash.FlashError, match="held by dm-0"):
        flash.check_device("sdb", root)


def test_host_bmaptool_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = tmp_path / "host-bin"
    build = tmp_path / "out" / "host" / "bin"
    for d in (host, build):
        d.mkdir(parents=True)
        (d / "bmaptool").write_text("#!/bin/sh\n")
        (d / "bmaptool").chmod(0o755)
    monkeypatch.setenv("PATH", f"{host}{os.pathsep}/usr/bin:/bin")
    assert flash.find_bmaptool(str(build / "bmaptool")) == str(host / "bmaptool")
    # no bmaptool on the host: the build's
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert flash.find_bmaptool(str(build / "bmaptool")) == str(build / "bmaptool")
    with pytest.raises(flash.FlashError, match="no bmaptool"):
        flash.find_bmaptool(str(tmp_path / "missing" / "bmaptool"))


def test_main_refuses_without_device(capsys: pytest.CaptureFixture[str]) -> None:
    assert flash.main(["out/br/stb_beaglebone/images/sdcard.img", ""]) == 1
    assert "set DEVICE" in capsys.readouterr().err
