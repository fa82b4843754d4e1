# SPDX-License-Identifier: MIT
"""The image's STB policy (overlay/etc/kbus/policy.d/50-stb.conf), enforced
by the module, with the services running as their own users as the image
runs them (S50kbus loads the policy at boot, S60stb-services starts each
service as its user):

* the policy is loaded at boot and the services run as their own users;
* a process outside the STB groups cannot squat the services' names, cannot
  snoop on them and cannot command the services; even root cannot squat;
* a member of stb-ctl may command and watch; the recorder starts a
  recording only for root and the stb-record group (it checks the sender's
  credentials), and says ``not-permitted`` to the others;
* the refusals are counted in /proc/kbus/stats.

The conformance suite's conftest clears the policy at session start; this
module loads it again and starts the services, and stops them and clears the
policy at the end.
"""

from __future__ import annotations

import errno
import re
import select
import subprocess
from collections.abc import Iterator

import pytest
from kbus import Announcement, Ksock, Request
from stb.client import Client, RequestFailed

import kbus_raw as raw
import kbus_util as util
import stb_util
from kbus_util import ChildConn

OUTSIDER = 65534  # nobody: may use the bus (group kbus), in no STB group
CTL_USER = 4000  # in stb-ctl only
RECORD_USER = 4001  # effective group stb-record, and stb-ctl
MARKER = "$.Other.Marker"


@pytest.fixture(autouse=True)
def _kbus_guard() -> Iterator[None]:
    """Replaces the conformance suite's per-test guard, which wants device 0
    empty after each test: the services hold their Ksocks through this
    module (the module fixture checks that none is left once they stop)."""
    yield


@pytest.fixture(scope="module")
def services() -> Iterator[None]:
    with stb_util.services_under_policy():
        yield


def groups(*names: str) -> tuple[int, ...]:
    return tuple(stb_util.gid(n) for n in ("kbus", *names))


def status_ids(pid: int, key: str) -> list[int]:
    """The ids of a ``Uid:``/``Gid:``/``Groups:`` line of /proc/PID/status."""
    for line in util.read_text(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def policy_counters() -> tuple[int, int, int]:
    """(denied binds, denied sends, filtered) of device 0 in /proc/kbus/stats."""
    block = util.stats_device_block(0)
    for line in block:
        m = re.search(r"policy: denied binds (\d+) sends (\d+), filtered (\d+)", line)
        if m:
            return int(m[1]), int(m[2]), int(m[3])
    raise AssertionError(f"no policy line for device 0: {block}")


def test_the_image_loads_the_stb_policy_at_boot() -> None:
    res = subprocess.run(
        ["kbus-policy", "check", stb_util.POLICY_DIR], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stdout + res.stderr
    log = subprocess.run(["dmesg"], capture_output=True, text=True, check=True).stdout
    # S50kbus, at boot, as root: the first policy the kernel log records
    loads = re.findall(
        r"kbus0: policy (loaded|cleared) by uid (\d+) pid \d+: (\d+) rules", log
    )
    assert loads, "no policy load in the kernel log"
    assert loads[0][:2] == ("loaded", "0"), loads[0]
    assert int(loads[0][2]) >= 10, loads[0]


def test_each_service_runs_as_its_own_user(services: None) -> None:
    for name, user in stb_util.SERVICE_USERS.items():
        pid = stb_util.ready(name)["pid"]
        assert status_ids(pid, "Uid") == [stb_util.uid(user)] * 4, name
        assert status_ids(pid, "Gid") == [stb_util.gid(user)] * 4, name
        assert set(groups("stb")) <= set(status_ids(pid, "Groups")), name


def _try_to_own(names: list[str]) -> list[int]:
    out = []
    with Ksock(0) as k:
        for name in names:
            try:
                k.bind(name, replier=True)
                out.append(0)
            except OSError as exc:
                out.append(exc.errno)
    return out


def test_nobody_can_squat_the_service_names_not_even_root(services: None) -> None:
    names = [
        "$.STB.Decoder.Eject",
        "$.STB.Decoder.*",
        "$.STB.Recorder.Erase",
        "$.STB.*",
    ]
    before = policy_counters()[0]
    assert util.run_as(OUTSIDER, lambda: _try_to_own(names), groups=groups()) == [
        errno.EPERM
    ] * len(names)
    assert util.run_as(
        CTL_USER, lambda: _try_to_own(names), groups=groups("stb-ctl")
    ) == [errno.EPERM] * len(names)
    assert _try_to_own(names) == [errno.EPERM] * len(names)  # root
    assert policy_counters()[0] == before + 3 * len(names)
    # names outside $.STB. are as open as before
    assert util.run_as(
        OUTSIDER, lambda: _try_to_own(["$.Other.Service"]), groups=groups()
    ) == [0]


def _listen(conn: ChildConn) -> tuple[list[str], int]:
    """Listen to everything until the marker comes; what was heard, and how
    many messages the policy withheld."""
    with Ksock(0) as k:
        k.bind("$.*")
        conn.send("bound")
        heard: list[str] = []
        while MARKER not in heard:
            ready, _, _ = select.select([k], [], [], 30)
            assert ready, f"no marker within 30 s; heard {heard}"
            msg = k.read_next_msg()
            if msg is not None:
                heard.append(msg.name)
        return heard, raw.filtered(k.fileno())


def test_an_outsider_cannot_snoop_but_stb_ctl_can_watch(services: None) -> None:
    filtered_before = policy_counters()[2]
    with (
        util.as_user(OUTSIDER, _listen, groups=groups()) as outsider,
        util.as_user(CTL_USER, _listen, groups=groups("stb-ctl")) as ctl,
    ):
        assert outsider.recv() == "bound"
        assert ctl.recv() == "bound"
        with Client() as client:
            assert client.decoder("Tune", channel=7).ok
        with Ksock(0) as k:
            k.send_msg(Announcement(MARKER, b""))
        outsider_heard, outsider_filtered = outsider.result()
        ctl_heard, ctl_filtered = ctl.result()
    assert [n for n in outsider_heard if n.startswith("$.STB.")] == [], outsider_heard
    assert outsider_filtered >= 2, (
        outsider_filtered
    )  # at least the request and its reply
    assert "$.STB.Decoder.Tune" in ctl_heard, ctl_heard
    assert ctl_filtered == 0
    assert policy_counters()[2] >= filtered_before + outsider_filtered


def _command(command: str, fields: dict[str, str]) -> tuple[str, str] | int:
    """A recorder request through stb.client: (status, error) of the reply,
    or the errno KBUS refused the send with."""
    try:
        with Client() as client:
            reply = client.recorder(command, **fields)
    except RequestFailed as exc:
        return exc.errno
    return reply.fields.get("status", ""), reply.fields.get("error", "")


def test_an_outsider_cannot_command_the_services(services: None) -> None:
    before = policy_counters()[1]

    def body() -> list[int]:
        out = []
        with Ksock(0) as k:
            for name in (
                "$.STB.Recorder.Start",
                "$.STB.Decoder.Tune",
                "$.STB.Logger.Counters",
            ):
                try:
                    k.send_msg(Request(name, b"channel=1"))
                    out.append(0)
                except OSError as exc:
                    out.append(exc.errno)
        return out

    assert util.run_as(OUTSIDER, body, groups=groups()) == [errno.EPERM] * 3
    assert (
        util.run_as(OUTSIDER, lambda: _command("Status", {}), groups=groups())
        == errno.EPERM
    )
    assert policy_counters()[1] == before + 4


def test_only_root_and_the_record_group_may_start_a_recording(services: None) -> None:
    with Client() as client:
        assert client.decoder("Tune", channel=3).ok
        refused = int(client.recorder("Status").fields["refused"])
    # stb-ctl may ask the recorder, but not start a recording
    assert util.run_as(
        CTL_USER, lambda: _command("Status", {}), groups=groups("stb-ctl")
    ) == (
        "ok",
        "",
    )
    assert util.run_as(
        CTL_USER, lambda: _command("Start", {"channel": "3"}), groups=groups("stb-ctl")
    ) == ("error", "not-permitted")
    # the record group may (its effective group: what the sender's credentials carry)
    started = util.run_as(
        RECORD_USER,
        lambda: _command("Start", {"channel": "4"}),
        gid=stb_util.gid("stb-record"),
        groups=groups("stb-ctl"),
    )
    assert started == ("ok", ""), started
    # and root
    with Client() as client:
        reply = client.recorder("Start", channel=5)
        assert reply.ok, reply.text()
        status = client.recorder("Status").fields
        for entry in client.recorder("List").fields.get("recs", "").split(","):
            rec, _channel, state = (entry.split(":") + ["", ""])[:3]
            if state == "recording":
                assert client.recorder("Stop", rec=int(rec)).ok
    assert int(status["refused"]) == refused + 1, status
