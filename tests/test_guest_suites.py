"""Run each guest test file (tests/guest/test_*.py) in the rig, one host test per file.

The list of files is taken when this module is imported; with none, nothing
is collected from here.  A failure shows the guest's pytest output.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GUEST_DIR = Path(__file__).resolve().parent / "guest"
GUEST_FILES = sorted(p.name for p in GUEST_DIR.glob("test_*.py"))

if GUEST_FILES:

    @pytest.mark.parametrize("name", GUEST_FILES)
    def test_guest_file(name: str, run_guest_pytest: Callable[..., tuple[str, int]]) -> None:
        output, rc = run_guest_pytest(f"tests/guest/{name}")
        assert rc == 0, f"guest pytest on tests/guest/{name} exited {rc}:\n{output}"
