# SPDX-License-Identifier: MIT
"""Make the in-tree ``kbus`` and ``stb`` packages importable for the host unit tests."""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = Path(__file__).resolve().parents[2]
for _package_dir in (_REPO / "package" / "kbus" / "python", _REPO / "package" / "stb-services"):
    if str(_package_dir) not in sys.path:
        sys.path.insert(0, str(_package_dir))
