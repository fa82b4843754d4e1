# SPDX-License-Identifier: MIT
"""Fixtures for the KBUS conformance suite (runs inside the QEMU guest).

* ``ksock``: factory opening Ksocks (default /dev/kbus0, read/write); every
  Ksock it opened is closed at teardown.
* an autouse guard: a 60 s SIGALRM watchdog per test; after the test it
  closes the factory's Ksocks and checks that device 0 has no Ksock, no
  binding and no set-aside event left, then resets the device-wide state
  (replier-bind reporting off, verbose off, max message size back to the
  default).
* ``fresh_module``: ``rmmod kbus; modprobe kbus`` so that Ksock ids and
  serial numbers start from scratch.
* ``module_loader``: load the module with parameters; the default module is
  restored at teardown.
* ``_no_stb_services`` (session, autouse): the guest boots with kbus loaded
  for the STB services (mode 0660, overlay/etc/init.d) and the services
  running; this suite needs the bus to itself and the default module, so
  the services are stopped (which also stops their respawning) and kbus is
  reloaded with its defaults when it was loaded otherwise, and the access
  policy the image loads at boot (S50kbus) is cleared, so that every file
  starts from the module's default (no policy). test_stb_scenarios.py and
  test_stb_policy.py load the policy and start the services again for
  their own tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from types import FrameType

import pytest
from kbus import Ksock

import kbus_raw as raw
import kbus_util as util

TEST_TIMEOUT = 60
TEARDOWN_TIMEOUT = 30
STB_SERVICES_INIT = "/etc/init.d/S60stb-services"
DEFAULT_DEV_MODE = 0o666
DEV_MODE_PARAM = "/sys/module/kbus/parameters/kbus_dev_mode"


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise util.KbusTestTimeout("test (or its teardown) took too long: watchdog fired")


@pytest.fixture(scope="session", autouse=True)
def _no_stb_services() -> None:
    if os.path.exists(STB_SERVICES_INIT):
        res = subprocess.run(
            [STB_SERVICES_INIT, "stop"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        output = res.stdout + res.stderr
        assert res.returncode == 0, f"{STB_SERVICES_INIT} stop: {output}"
    if util.module_loaded() and (
        util.num_devices_param() != 1
        or int(util.read_text(DEV_MODE_PARAM)) != DEFAULT_DEV_MODE
    ):
        util.reload_module()
    if util.module_loaded():
        with Ksock(0) as k:
            raw.set_policy(k.fileno(), [], raw.ALLOW)


@pytest.fixture
def _ksock_registry() -> Iterator[list[Ksock]]:
    registry: list[Ksock] = []
    yield registry
    _close_all(registry)


def _close_all(registry: list[Ksock]) -> None:
    for k in registry:
        if k.fd is not None:
            try:
                k.close()
            except OSError:
                pass


@pytest.fixture
def ksock(_ksock_registry: list[Ksock]) -> util.KsockFactory:
    """Open a Ksock: ``ksock()`` → /dev/kbus0 read/write;
    ``ksock(which, mode)`` as Ksock(which, mode)."""

    def factory(which: int = 0, mode: str = "rw") -> Ksock:
        k = Ksock(which, mode)
        _ksock_registry.append(k)
        return k

    return factory


def _reset_device0() -> None:
    with Ksock(0) as k:
        k.report_replier_binds(False)
        k.kernel_module_verbose(False)
        k.set_max_message_size(raw.DEFAULT_MAX_MSG_SIZE)


def _check_and_reset_device0(registry: list[Ksock]) -> None:
    _close_all(registry)
    if not util.module_loaded():
        return
    problems = []
    block = util.stats_device_block(0)
    leaked = [line.split()[1] for line in block[1:] if line.startswith("    ksock ")]
    if leaked:
        problems.append(f"Ksocks still open on device 0: {leaked}")
    dev = util.DevStats(block[0])
    if dev.unsent_unbindings or dev.tragic:
        problems.append(
            f"set-aside list not empty after every Ksock closed: {block[0]}"
        )
    bindings = util.binding_lines(0)
    if bindings:
        problems.append(f"bindings left on device 0: {bindings}")
    _reset_device0()
    assert not problems, "; ".join(problems)


@pytest.fixture(autouse=True)
def _kbus_guard(_ksock_registry: list[Ksock]) -> Iterator[None]:
    if not util.module_loaded():
        # An earlier test (or another suite) left the module unloaded.
        util.reload_module()
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
        signal.alarm(TEARDOWN_TIMEOUT)
        _check_and_reset_device0(_ksock_registry)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def fresh_module(_kbus_guard: None, _ksock_registry: list[Ksock]) -> None:
    """Reload kbus so that Ksock ids and message serial numbers restart."""
    _close_all(_ksock_registry)
    util.reload_module()


@pytest.fixture
def module_loader(
    _kbus_guard: None, _ksock_registry: list[Ksock]
) -> Iterator[Callable[..., None]]:
    """``load(*params)`` closes the factory's Ksocks and reloads kbus with
    module parameters (the load must succeed). The default module is loaded
    again at teardown."""

    def load(*params: str) -> None:
        _close_all(_ksock_registry)
        util.reload_module(*params)

    yield load
    _close_all(_ksock_registry)
    util.reload_module()
