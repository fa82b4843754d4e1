# SPDX-License-Identifier: MIT
"""The kbus module on MicroPython (package/kbus/micropython) against the
CPython package, in the same guest: the talk scenario and the message
formats under both interpreters, and request/reply exchanges across
interpreters (MicroPython replier with CPython requester and vice versa).

The scripts are tests/micropython/*.py, which both interpreters run.  The rig
always carries MicroPython (tests/rig/components/micropython.mk); an image
without it (the CPython STB image) skips these tests, the rig never does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

SCRIPTS = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "micropython"
)
MICROPYTHON = shutil.which("micropython")
IN_RIG = open("/etc/hostname").read().strip() == "rig"

if MICROPYTHON is None and not IN_RIG:
    pytest.skip("this image has no MicroPython", allow_module_level=True)

INTERPRETERS = {
    "micropython": [MICROPYTHON or "micropython"],
    "cpython": [sys.executable],
}


def _run(impl: str, *args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        [*INTERPRETERS[impl], os.path.join(SCRIPTS, args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, (
        f"{impl} {' '.join(args)} exited {proc.returncode}:\n"
        f"{proc.stdout}\n{proc.stderr}"
    )
    return proc.stdout


def test_micropython_is_installed_with_kbus() -> None:
    assert MICROPYTHON is not None, "no micropython in PATH (rig component missing?)"
    out = subprocess.run(
        [
            MICROPYTHON,
            "-c",
            "import kbus, sys; print(sys.implementation.name, kbus.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split()[0] == "micropython"
    assert out.split()[1].startswith("/usr/lib/micropython/kbus/")


def test_talk_scenario_on_both_interpreters_gives_the_same_messages() -> None:
    mp = _run("micropython", "talk.py")
    cp = _run("cpython", "talk.py")
    assert mp.splitlines()[-1] == "talk: OK"
    assert mp == cp


def test_message_formats_and_bytes_match() -> None:
    script = os.path.join(SCRIPTS, "formats.py")
    mp = subprocess.run(
        [MICROPYTHON or "micropython", script],
        capture_output=True,
        text=True,
        check=False,
    )
    cp = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, check=False
    )
    assert (mp.returncode, cp.returncode) == (0, 0), mp.stderr + cp.stderr
    assert len(mp.stdout.splitlines()) > 20
    assert mp.stdout == cp.stdout


@pytest.mark.parametrize(
    ("replier", "requester"),
    [
        ("micropython", "cpython"),
        ("cpython", "micropython"),
        ("micropython", "micropython"),
    ],
)
def test_exchange_across_interpreters(replier: str, requester: str) -> None:
    name = f"$.Cross.{replier}.{requester}.{os.getpid()}"
    count = 5
    server = subprocess.Popen(
        [
            *INTERPRETERS[replier],
            os.path.join(SCRIPTS, "exchange.py"),
            "replier",
            name,
            str(count),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out = _run(requester, "exchange.py", "requester", name, str(count))
        assert out.strip() == "requester: OK"
        server_out, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, server_out
    assert server_out.splitlines()[-1] == "replier: OK"


def test_rtt_script_round_trips_on_both() -> None:
    for impl in ("micropython", "cpython"):
        out = _run(impl, "exchange.py", "rtt", "20", "16")
        assert out.startswith(f"rtt: {impl} "), out
