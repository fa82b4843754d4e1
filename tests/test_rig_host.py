# SPDX-License-Identifier: MIT
"""Host-side checks of the rig: kbus.ko is built for the guest's architecture and kernel."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

# the rig's own products (out/rig/ARCH): not in the STB image's environments
pytestmark = pytest.mark.lg_feature("rig")

# (ELF class, e_machine, `uname -m`) per rig architecture
ELF_TARGET = {"x86_64": (2, 62, "x86_64"), "armhf": (1, 40, "armv7l")}


def elf_section(path: Path, name: str) -> tuple[int, int, bytes]:
    """(ELF class, e_machine, contents of section `name`) of a little-endian ELF file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF", f"{path} is not ELF"
    elf_class, endian = data[4], data[5]
    assert endian == 1, f"{path}: not little-endian"
    (machine,) = struct.unpack_from("<H", data, 18)
    if elf_class == 2:
        shoff, shentsize, shnum, shstrndx = struct.unpack_from("<Q10xHHH", data, 40)
        fmt = "<IIQQQQ"
    else:
        shoff, shentsize, shnum, shstrndx = struct.unpack_from("<I10xHHH", data, 32)
        fmt = "<IIIIII"
    sections = [struct.unpack_from(fmt, data, shoff + i * shentsize) for i in range(shnum)]
    strtab = sections[shstrndx]
    names = data[strtab[4] : strtab[4] + strtab[5]]
    for sh_name, _type, _flags, _addr, offset, size in sections:
        if names[sh_name : names.index(b"\0", sh_name)].decode() == name:
            return elf_class, machine, data[offset : offset + size]
    raise AssertionError(f"{path}: no section {name}")


def modinfo(ko: Path) -> tuple[int, int, dict[str, str]]:
    elf_class, machine, raw = elf_section(ko, ".modinfo")
    fields = dict(f.split("=", 1) for f in raw.decode().split("\0") if "=" in f)
    return elf_class, machine, fields


def test_kbus_ko_is_built_for_the_rig_kernel(rig_arch: str, rig_out: Path) -> None:
    elf_class, machine, info = modinfo(rig_out / "kbus.ko")
    want_class, want_machine, _ = ELF_TARGET[rig_arch]
    assert (elf_class, machine) == (want_class, want_machine), (
        f"kbus.ko is ELF class {elf_class} machine {machine}, "
        f"want {want_class}/{want_machine} for {rig_arch}"
    )
    release = (rig_out / "kernel-release").read_text().strip()
    assert info.get("vermagic", "").split(" ")[0] == release
    assert info.get("name") == "kbus"
    assert info.get("license") == "GPL"


def test_guest_runs_the_rig_kernel_and_kbus(
    rig_arch: str, rig_out: Path, guest_run: Callable[..., tuple[str, int]]
) -> None:
    output, rc = guest_run("uname -r; uname -m; grep -c '^kbus ' /proc/modules")
    assert rc == 0, output
    release, machine, loaded = output.split("\n")
    assert release == (rig_out / "kernel-release").read_text().strip()
    assert machine == ELF_TARGET[rig_arch][2]
    assert loaded == "1", "kbus is not loaded in the guest"
