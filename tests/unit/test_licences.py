# SPDX-License-Identifier: MIT
"""Licences (LICENSE at the top of the tree): SPDX tags and the recipes' licence files.

Every tracked source file (C and C++ sources and headers, Python, shell and
other scripts with a ``#!`` line, JavaScript, Makefiles, ``*.mk``, Kbuild)
starts with an SPDX-License-Identifier line: on line 1, or on line 2 after
the ``#!`` line.  The kernel module (package/kbus/module/) is GPL-2.0, its
UAPI header (package/kbus/include/) "(GPL-2.0 WITH Linux-syscall-note) OR
MIT", everything else MIT; no GPL file anywhere else.  Buildroot's package
recipes (package/*/PKG/PKG.mk) follow Buildroot's style, with no SPDX line;
instead each names its licence text in PKG_LICENSE_FILES, which must exist
in the recipe's source folder (_SITE).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]

MODULE_DIR = "package/kbus/module/"
UAPI_DIR = "package/kbus/include/"
UAPI_ID = "(GPL-2.0 WITH Linux-syscall-note) OR MIT"
# identifier -> the folders where it may appear ("" is anywhere)
ALLOWED = {
    "MIT": ("",),
    "GPL-2.0": (MODULE_DIR,),
    UAPI_ID: (UAPI_DIR,),
}
# the licence each folder's files must carry (the first match wins)
REQUIRED = ((MODULE_DIR, "GPL-2.0"), (UAPI_DIR, UAPI_ID))

SOURCE_SUFFIXES = {".c", ".h", ".cc", ".cpp", ".hh", ".hpp", ".py", ".sh", ".mk", ".cjs", ".js"}
SOURCE_NAMES = {"Makefile", "Kbuild", "GNUmakefile"}
SPDX = re.compile(r"SPDX-License-Identifier:\s*(.+?)\s*(?:\*/)?\s*$")


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "ls-files", "-z"],
            capture_output=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git work tree (or no git): the tracked files are unknown")
    return [f for f in out.decode().split("\0") if f and (REPO / f).is_file()]


def is_buildroot_recipe(path: str) -> bool:
    """package/.../PKG/PKG.mk: Buildroot's style, no SPDX line."""
    p = PurePosixPath(path)
    return p.suffix == ".mk" and p.parts[0] == "package" and p.stem == p.parent.name


def is_source(path: str) -> bool:
    p = PurePosixPath(path)
    if is_buildroot_recipe(path):
        return False
    if p.suffix in SOURCE_SUFFIXES or p.name in SOURCE_NAMES:
        return True
    with open(REPO / path, "rb") as f:
        return f.read(2) == b"#!"


def spdx_id(path: str) -> str | None:
    """The identifier on line 1, or on line 2 after a #! line; None if none."""
    lines = (REPO / path).read_text(errors="replace").splitlines()[:2]
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    if not lines:
        return None
    m = SPDX.search(lines[0])
    return m.group(1) if m else None


def source_files() -> list[str]:
    return [f for f in tracked_files() if is_source(f)]


def test_the_scan_sees_the_tree() -> None:
    files = set(source_files())
    for f in (
        "Makefile",
        "package/kbus/module/kbus_main.c",
        "package/kbus/module/Kbuild",
        "package/kbus/include/linux/kbus_defns.h",
        "package/kbus/libkbus/kbus.h",
        "package/kbus/python/kbus/ksock.py",
        "package/stb-services/bin/stb-supervisor",
        "tests/rig/fetch-debs",
    ):
        assert f in files, f"{f} is not scanned"
    assert "package/kbus/kbus-module/kbus-module.mk" not in files


def test_every_source_file_has_an_spdx_line() -> None:
    missing = [f for f in source_files() if spdx_id(f) is None]
    assert not missing, (
        "no SPDX-License-Identifier on the first line (the second after #!): "
        + ", ".join(missing)
        + " (see LICENSE: MIT outside the kernel module)"
    )


def test_spdx_identifiers_are_allowed_where_they_are() -> None:
    wrong = []
    for f in source_files():
        ident = spdx_id(f)
        if ident is None:
            continue
        dirs = ALLOWED.get(ident)
        if dirs is None or not any(f.startswith(d) for d in dirs):
            wrong.append(f"{f}: {ident}")
            continue
        for prefix, required in REQUIRED:
            if f.startswith(prefix) and ident != required:
                wrong.append(f"{f}: {ident} (files under {prefix} are {required})")
    assert not wrong, "SPDX identifiers against LICENSE:\n" + "\n".join(wrong)


def test_gpl_only_in_the_kernel_module() -> None:
    gpl = [f for f in source_files() if "GPL" in (spdx_id(f) or "")]
    assert gpl, "the kernel module's files are GPL-2.0: none seen"
    outside = [f for f in gpl if not f.startswith((MODULE_DIR, UAPI_DIR))]
    assert not outside, f"GPL outside {MODULE_DIR} and {UAPI_DIR}: {outside}"


def test_licence_texts_exist() -> None:
    for name in ("LICENSE", "LICENSES/GPL-2.0.txt", "LICENSES/MIT.txt"):
        assert (REPO / name).is_file(), name
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO / "LICENSES/GPL-2.0.txt").read_text()
    assert "Permission is hereby granted" in (REPO / "LICENSES/MIT.txt").read_text()


def recipes() -> list[str]:
    return sorted(f for f in tracked_files() if is_buildroot_recipe(f))


def recipe_var(text: str, name: str) -> str | None:
    m = re.search(rf"^{name}\s*=\s*(.*)$", text, re.MULTILINE)
    return m.group(1).strip() if m else None


def test_every_recipe_names_existing_licence_files() -> None:
    found = recipes()
    assert len(found) >= 7, found
    problems = []
    for rec in found:
        text = (REPO / rec).read_text()
        prefix = PurePosixPath(rec).stem.upper().replace("-", "_")
        licence = recipe_var(text, f"{prefix}_LICENSE")
        files = recipe_var(text, f"{prefix}_LICENSE_FILES")
        site = recipe_var(text, f"{prefix}_SITE")
        if not licence or not files:
            problems.append(f"{rec}: no {prefix}_LICENSE or {prefix}_LICENSE_FILES")
            continue
        if site is None or not site.startswith("$(BR2_EXTERNAL_KBUS_PATH)/"):
            continue
        site_dir = REPO / "br2-external" / site.removeprefix("$(BR2_EXTERNAL_KBUS_PATH)/")
        for name in files.split():
            if not (site_dir / name).is_file():
                problems.append(f"{rec}: {name} is not in its _SITE ({site})")
        if "GPL" in licence and PurePosixPath(rec).parent.name != "kbus-module":
            problems.append(f"{rec}: {licence}: only kbus-module is GPL")
    assert not problems, "\n".join(problems)
