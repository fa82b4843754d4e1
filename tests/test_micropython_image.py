# SPDX-License-Identifier: MIT
"""The MicroPython STB image (BOARD=stb_qemu_arm_micropython): MicroPython and
the kbus module for it instead of CPython, checked from the host through the
guest's shell (the image has no python3, so no guest pytest).

The scripts of tests/micropython/ run on the image from the share: the talk
scenario, a replier and a requester in two MicroPython processes, and the
message formats, compared with what the CPython package prints on the host
for the same script (except the binary form's lengths and bytes: the host's
pointers are 64-bit, the guest's 32-bit).

MicroPython image environments only (lg_feature "micropython-image"):
tests/env/image-qemu-micropython.yaml, `make test-image
BOARD=stb_qemu_arm_micropython`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from labgrid.strategy import Strategy

pytestmark = pytest.mark.lg_feature("micropython-image")

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = "/mnt/share/tests/micropython"
GuestRun = Callable[..., tuple[str, int]]


@pytest.fixture(scope="module")
def mp_guest(strategy: Strategy, guest_run: GuestRun) -> GuestRun:
    """`guest_run` on a freshly booted image with the repository shared."""
    strategy.transition("off")
    strategy.transition("shell")
    output, rc = guest_run("rig-setup --share --load")
    assert rc == 0, output
    return guest_run


def test_the_image_has_micropython_and_no_cpython(mp_guest: GuestRun) -> None:
    output, rc = mp_guest("command -v micropython; command -v python3 || echo no-python3")
    assert rc == 0, output
    assert output.splitlines() == ["/usr/bin/micropython", "no-python3"]
    output, rc = mp_guest(
        "cd / && micropython -c 'import kbus, sys; print(sys.implementation.name, kbus.__file__)'"
    )
    assert rc == 0, output
    assert output == "micropython /usr/lib/micropython/kbus/__init__.py"


def test_talk_scenario(mp_guest: GuestRun) -> None:
    output, rc = mp_guest(f"cd {SCRIPTS} && micropython talk.py", timeout=120)
    assert rc == 0, output
    lines = output.splitlines()
    assert lines[-1] == "talk: OK"
    assert lines[0] == "<Announcement '$.Talk.Speak', id=[0:n+1], from=R, data=b'Ahem'>"


def test_replier_and_requester_in_two_processes(mp_guest: GuestRun) -> None:
    output, rc = mp_guest(
        # in a subshell: no job-control messages
        f"(cd {SCRIPTS} || exit 9; "
        "micropython exchange.py replier '$.Cross.Image' 5 > /tmp/replier.out 2>&1 & "
        "micropython exchange.py requester '$.Cross.Image' 5; r=$?; "
        'wait $!; s=$?; cat /tmp/replier.out; echo "rc $r $s")',
        timeout=120,
    )
    lines = output.splitlines()
    assert rc == 0, output
    assert lines[0] == "requester: OK", output
    assert lines[-2:] == ["replier: OK", "rc 0 0"], output


def test_message_formats_match_the_cpython_package(mp_guest: GuestRun) -> None:
    output, rc = mp_guest(f"cd {SCRIPTS} && micropython formats.py", timeout=60)
    assert rc == 0, output
    host = subprocess.run(
        [sys.executable, str(REPO / "tests" / "micropython" / "formats.py")],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "package" / "kbus" / "python")},
    ).stdout

    def texts(out: str) -> list[str]:
        # leave out "LEN LEN HEX": the header length depends on the pointer size
        return [line for line in out.splitlines() if not line[:1].isdigit()]

    assert len(texts(host)) > 30
    assert texts(output) == texts(host)
