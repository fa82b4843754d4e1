# SPDX-License-Identifier: MIT
"""KBUS across two boxes: two rig guests on one network, a bridge in each.

tests/boxes.py boots two guests of the environment's rig (box A 10.77.0.1,
box B 10.77.0.2) joined point to point (QEMU ``-netdev dgram`` over Unix
sockets: no host network).  Box A is the gateway: it runs Mosquitto, the STB
services, and bridge ``boxa`` (export ``$.Test.*`` and ``$.STB.*``); box B
runs bridge ``boxb`` (import both, export ``$.Test.*``), connected to A's
broker over the network.  The actors in the boxes are
tests/guest/bridge_util.py's command line; the guarantees in detail are
tests/guest/test_bridge.py's (two buses in one guest).

The talk across machines: Rosencrantz's and Guildenstern's announcements on
A (two concurrent senders) heard on B in A's order with their origin; a
request from B answered by a replier on A; a stateful request whose replier
disappears answered by GoneAway; the STB decoder on A driven by ``stb-ctl``
on B; the broker stopped mid-request answered by the bridge's status.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from boxes import Box, Boxes, GuestConfig
from labgrid import Target

REPO = Path(__file__).resolve().parent.parent
UTIL = "cd /mnt/share/tests/guest && PYTHONDONTWRITEBYTECODE=1 python3 bridge_util.py"
WORK = "/tmp/kbus-bridge-test"  # bridge_util's folder, in each box
BROKER_PORT = 1883

pytestmark = pytest.mark.lg_feature("rig")


def util(box: Box, args: str, timeout: float = 120) -> list[Any]:
    """bridge_util.py ARGS in the box: its JSON lines (AssertionError on failure)."""
    out, rc = box.run(f"{UTIL} {args}", timeout)
    assert rc == 0, f"box {box.name}: bridge_util.py {args} exited {rc}:\n{out}"
    return [json.loads(line) for line in out.splitlines() if line.startswith(("{", "null"))]


def background(box: Box, args: str, name: str) -> None:
    """bridge_util.py ARGS in the background, its output in WORK/NAME.out."""
    box.check(
        f"mkdir -p {WORK} && rm -f {WORK}/{name}.out {WORK}/{name}.ready && "
        f"({UTIL} {args} --ready {WORK}/{name}.ready >{WORK}/{name}.out 2>&1 & "
        f"echo $! >{WORK}/{name}.pid) && "
        f"for i in $(seq 600); do [ -e {WORK}/{name}.ready ] && exit 0; sleep 0.1; done; "
        f"cat {WORK}/{name}.out; exit 1",
        90,
    )


def background_plain(box: Box, args: str, name: str) -> None:
    """Like background(), for a command without --ready."""
    box.check(
        f"mkdir -p {WORK} && rm -f {WORK}/{name}.out && "
        f"({UTIL} {args} >{WORK}/{name}.out 2>&1 & echo $! >{WORK}/{name}.pid)",
        30,
    )


def lines_of(box: Box, name: str, count: int, timeout: float = 120) -> list[Any]:
    """The first COUNT JSON lines of WORK/NAME.out, once it has them."""
    out = box.check(
        f"f={WORK}/{name}.out; for i in $(seq {int(timeout * 10)}); do "
        f'[ "$(grep -c "^[{{n]" $f 2>/dev/null)" -ge {count} ] && break; sleep 0.1; done; '
        f"cat $f",
        timeout + 30,
    )
    lines = [json.loads(line) for line in out.splitlines() if line.startswith(("{", "null"))]
    assert len(lines) >= count, f"box {box.name}: {name}.out has {len(lines)} of {count}:\n{out}"
    return lines[:count]


def state(box: Box, node: str) -> dict[str, Any]:
    result = util(box, f"state {node}")
    assert result and result[0], f"bridge {node} does not answer in box {box.name}"
    return dict(result[0])


@pytest.fixture(scope="module")
def boxes(target: Target, rig_arch: str) -> Iterator[Boxes]:
    cfg = GuestConfig.from_labgrid(target.env.config, target.name)
    log_dir = REPO / "out" / "bridge-boxes" / rig_arch
    with Boxes(cfg, log_dir) as two:
        two.start()
        a, b = two["a"], two["b"]
        for box in two:
            out, rc = box.run(
                "command -v kbus-bridge && command -v mosquitto && "
                "python3 -c 'import paho.mqtt.client'",
                60,
            )
            if rc != 0:
                pytest.skip(f"box {box.name} has no bridge, broker or paho-mqtt: {out}")
        # B is a client box: the STB services run on the gateway only
        b.check("/etc/init.d/S60stb-services stop >/dev/null 2>&1 || true", 60)
        util(a, f"broker start --listen 0.0.0.0 --port {BROKER_PORT}")
        util(
            a,
            "bridge start boxa --broker mqtt://127.0.0.1:1883 --timeout 8 "
            "--export '$.Test.*' --export '$.STB.*' --import '$.Test.*'",
        )
        util(
            b,
            f"bridge start boxb --broker mqtt://{a.address}:{BROKER_PORT} --timeout 8 "
            "--export '$.Test.*' --import '$.Test.*' --import '$.STB.*'",
        )
        yield two
        for box, node in ((b, "boxb"), (a, "boxa")):
            box.run(f"{UTIL} bridge stop {node}; cat {WORK}/bridge-{node}/log", 60)


def test_rosencrantz_and_guildenstern_heard_on_the_other_box_in_order(boxes: Boxes) -> None:
    a, b = boxes["a"], boxes["b"]
    count = 100
    state_a = state(a, "boxa")
    net_a, before_a = state_a["network_id"], state_a["counters"]
    before_b = state(b, "boxb")["counters"]
    background(b, f"listen '$.Test.Talk.*' {2 * count} --timeout 120", "far")
    background(a, f"listen '$.Test.Talk.*' {2 * count} --timeout 120", "near")
    a.check(
        f"({UTIL} announce '$.Test.Talk.Rosencrantz' {count} --sender ros & "
        f"{UTIL} announce '$.Test.Talk.Guildenstern' {count} --sender guil & wait)",
        120,
    )
    here = lines_of(a, "near", 2 * count)
    there = lines_of(b, "far", 2 * count)
    assert [m["data"] for m in there] == [m["data"] for m in here], "another order on box B"
    assert {m["data"].split()[0] for m in there} == {"sender=ros", "sender=guil"}
    for local, remote in zip(here, there, strict=True):
        assert remote["name"] == local["name"]
        assert remote["id"] == [net_a, local["id"][1]]
        assert remote["orig_from"] == [net_a, local["from"]]
    # nothing came back to A, nothing was doubled
    a.check("sleep 2")
    counters_a, counters_b = state(a, "boxa")["counters"], state(b, "boxb")["counters"]
    assert counters_a["announcements_out"] == 2 * count + before_a["announcements_out"]
    assert counters_a["announcements_in"] == before_a["announcements_in"]
    assert counters_b["announcements_in"] == 2 * count + before_b["announcements_in"]
    assert counters_b["announcements_out"] == before_b["announcements_out"]


def test_a_request_from_b_is_answered_by_the_replier_on_a(boxes: Boxes) -> None:
    a, b = boxes["a"], boxes["b"]
    net_a = state(a, "boxa")["network_id"]
    background(a, "replier '$.Test.Ask' --count 1", "ask")
    util(b, "wait-replier '$.Test.Ask' --timeout 60")
    (result,) = util(b, "request '$.Test.Ask' hello --timeout 30")
    answers = result["answers"]
    assert len(answers) == 1, answers
    assert not answers[0]["status"] and answers[0]["data"] == "answer=hello"
    (seen,) = lines_of(a, "ask", 1)
    assert answers[0]["orig_from"] == [net_a, seen["ksock"]]


def test_a_stateful_request_whose_replier_disappears_gets_goneaway(boxes: Boxes) -> None:
    a, b = boxes["a"], boxes["b"]
    background(a, "replier '$.Test.Session'", "session")
    util(b, "wait-replier '$.Test.Session' --timeout 60")
    b.check(f"rm -f {WORK}/go")
    background_plain(
        b,
        f"request '$.Test.Session' first --timeout 60 "
        f"--then-stateful '$.Test.Session' --between {WORK}/go",
        "stateful",
    )
    (first,) = lines_of(b, "stateful", 1)
    assert len(first["answers"]) == 1 and not first["answers"][0]["status"], first
    # the replier stops reading: the stateful request stays unread in its
    # queue on A; then it dies, and KBUS on A says GoneAway
    a.check(f"kill -STOP $(cat {WORK}/session.pid)")
    b.check(f"touch {WORK}/go")
    a.check(
        f"for i in $(seq 600); do {UTIL} state boxa | grep -q '\"pending_in\": 1' && exit 0; "
        "sleep 0.1; done; exit 1",
        120,
    )
    a.check(f"kill -KILL $(cat {WORK}/session.pid)")
    second = lines_of(b, "stateful", 2)[1]
    answers = second["stateful"]
    assert len(answers) == 1, second
    assert answers[0]["status"] and answers[0]["name"] == "$.Bridge.Replier.GoneAway", answers


def test_the_stb_decoder_on_a_is_driven_by_stb_ctl_on_b(boxes: Boxes) -> None:
    a, b = boxes["a"], boxes["b"]
    a.check(
        "/etc/init.d/S60stb-services status >/dev/null 2>&1 || /etc/init.d/S60stb-services start",
        120,
    )
    util(b, "wait-replier '$.STB.Decoder.Tune' --timeout 60")
    out = b.check("stb-ctl --timeout 30 tune 7", 60)
    assert "status=ok" in out, out
    local = a.check("stb-ctl --timeout 30 status", 60)
    assert "channel=7" in local, local
    remote = b.check("stb-ctl --timeout 30 status", 60)
    assert "channel=7" in remote, remote


def test_the_broker_stopped_mid_request_gives_the_bridges_status(boxes: Boxes) -> None:
    a, b = boxes["a"], boxes["b"]
    a.check(f"touch {WORK}/hold")
    background(a, f"replier '$.Test.Slow' --hold {WORK}/hold", "slow")
    util(b, "wait-replier '$.Test.Slow' --timeout 60")
    background_plain(b, "request '$.Test.Slow' wait --timeout 60", "slowreq")
    lines_of(a, "slow", 1)  # the request reached the replier on A
    util(a, f"broker kill --port {BROKER_PORT}")
    (result,) = lines_of(b, "slowreq", 1)
    answers = result["answers"]
    assert len(answers) == 1, answers
    assert answers[0]["status"] and answers[0]["name"] == "$.Bridge.Unreachable", answers
    a.check(f"rm -f {WORK}/hold")
    # the broker again: both bridges reconnect by themselves
    util(a, f"broker start --listen 0.0.0.0 --port {BROKER_PORT}")
    for box, node in ((a, "boxa"), (b, "boxb")):
        box.check(
            f"for i in $(seq 600); do {UTIL} state {node} | grep -q '\"connected\": true' "
            "&& exit 0; sleep 0.1; done; exit 1",
            120,
        )
