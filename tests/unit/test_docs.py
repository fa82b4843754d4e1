# SPDX-License-Identifier: MIT
"""The README and docs/: the README is the short front door, every page of
docs/ is linked from it, every relative link resolves, CI runs the README's
test command, and nothing names a path of one build machine."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_readme_is_short() -> None:
    assert README.stat().st_size < 12 * 1024


def test_readme_links_every_doc() -> None:
    linked = set(LINK.findall(README.read_text()))
    missing = [d.name for d in DOCS if f"docs/{d.name}" not in linked]
    assert not missing, f"docs not linked from README.md: {missing}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        assert (page.parent / target).exists(), f"{page.name}: {target} does not exist"


def readme_commands() -> list[str]:
    """The commands of the README's first shell block, without comments."""
    block = re.search(r"```sh\n(.*?)```", README.read_text(), re.DOTALL)
    assert block
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command() -> None:
    assert readme_commands() == ["make", "make test"]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert "make test" in [line.strip() for line in ci]


def test_no_path_of_one_machine() -> None:
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "README.md", "docs", "board", "br2-external"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    bad = re.compile(r"(?<![\w.$])/(?:work|tmp|home)/|shared build host|offline-buildroot")
    hits = []
    for name in files:
        for n, line in enumerate((REPO / name).read_text(errors="replace").splitlines(), 1):
            if bad.search(line):
                hits.append(f"{name}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_readme_board_list_matches_defconfigs() -> None:
    boards = sorted(
        p.name.removesuffix("_defconfig")
        for p in (REPO / "br2-external" / "configs").glob("*_defconfig")
    )
    rows = re.findall(r"^\| `(\w+)`", README.read_text(), re.MULTILINE)
    assert sorted(rows) == boards
