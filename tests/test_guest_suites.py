# SPDX-License-Identifier: MIT
"""Run each guest test file (tests/guest/test_*.py) in the rig, one host test per file.

The list of files is taken when this module is imported; with none, nothing
is collected from here.  A failure shows the guest's pytest output.  A file
the guest skips as a whole (e.g. test_micropython.py on an image without
MicroPython) is a skip here too, with the guest's reason.  With
``--guest-junit-dir`` (``make test JUNIT_DIR=...``) the guest's pytest also
writes JUnit XML, which tests/junit_merge.py merges into the host's: there,
each guest test is a testcase of its own (classname ``guest.test_x``).

``KBUS_GUEST_SKIP`` (space-separated file names, set by ``make test-debug*``)
skips files, with that reason: the debug kernels run the files that are
about the module, not those about the programs on top of it (services,
bridge, MicroPython binding), which ``make test`` runs.  ``KBUS_GUEST_ONLY``
(the KCSAN kernel) runs only the files named.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

# pytest's exit status when it collected no test (a file skipped as a whole)
NO_TESTS_COLLECTED = 5

GUEST_DIR = Path(__file__).resolve().parent / "guest"
GUEST_FILES = sorted(p.name for p in GUEST_DIR.glob("test_*.py"))
SKIPPED_FILES = frozenset(os.environ.get("KBUS_GUEST_SKIP", "").split())
ONLY_FILES = frozenset(os.environ.get("KBUS_GUEST_ONLY", "").split())

if GUEST_FILES:

    @pytest.mark.parametrize("name", GUEST_FILES)
    def test_guest_file(name: str, run_guest_pytest: Callable[..., tuple[str, int]]) -> None:
        if name in SKIPPED_FILES:
            pytest.skip(f"tests/guest/{name}: in KBUS_GUEST_SKIP (userland: make test runs it)")
        if ONLY_FILES and name not in ONLY_FILES:
            pytest.skip(f"tests/guest/{name}: not in KBUS_GUEST_ONLY (sequential: KASAN runs it)")
        output, rc = run_guest_pytest(f"tests/guest/{name}")
        if rc == NO_TESTS_COLLECTED:
            reasons = [line for line in output.splitlines() if line.startswith("SKIPPED ")]
            if reasons:
                pytest.skip(f"the guest skipped tests/guest/{name}: {reasons[0]}")
        assert rc == 0, f"guest pytest on tests/guest/{name} exited {rc}:\n{output}"
