# SPDX-License-Identifier: MIT
"""The KBUS bridge (package/kbus-bridge) in one guest: two buses, /dev/kbus0
("box A", bridge boxa) and /dev/kbus1 ("box B", bridge boxb), joined
through a Mosquitto broker on 127.0.0.1; a third bridge (boxc) shares
/dev/kbus0 for the echo tests.  tests/test_bridge_boxes.py runs the talk
between two guests over a network; here are the guarantees in detail:

* announcements cross with their origin (id and orig_from carry the
  sender's network id), in the sender's order, and never come back;
* every request a bridge takes gets exactly one answer: the reply, or a
  ``$.Bridge.*`` status when the replier went away, the far bridge died,
  the broker went, or nothing came in time; a late reply is dropped;
* the bounds hold (the MQTT queue, the pending requests) and what they
  drop is counted and announced;
* two bridges on one bus do not echo each other's messages or repliers.
"""

from __future__ import annotations

import errno
import json
import os
import random
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from types import FrameType

import pytest
from kbus import Announcement, Ksock, Message, Request, reply_to, stateful_request

import bridge_util as bu
import kbus_util as util

TEST_TIMEOUT = 300 * bu.SLOW
TIMEOUT = 4.0  # limits.request_timeout of the bridges (times bu.SLOW)

missing = bu.have_bridge()
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"no bridge here (missing: {missing})"
)


class BridgeTestTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BridgeTestTimeout("test took too long: watchdog fired")


@pytest.fixture(autouse=True)
def _kbus_guard() -> Iterator[None]:
    """Replaces the conformance suite's per-test guard: the bridges hold
    Ksocks on /dev/kbus0 between tests (the module fixture checks that none
    is left once they are stopped)."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(TEST_TIMEOUT))
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


class Boxes:
    def __init__(self) -> None:
        self.broker = bu.Broker()
        self.a = bu.BridgeProc("boxa", 0, self.broker.url, timeout=TIMEOUT)
        self.b = bu.BridgeProc("boxb", 1, self.broker.url, timeout=TIMEOUT)

    def net(self, bridge: bu.BridgeProc) -> int:
        state = bridge.state()
        assert state is not None, f"{bridge.node} does not answer: {bridge.log_text()}"
        return int(state["network_id"])


@pytest.fixture(scope="module")
def boxes() -> Iterator[Boxes]:
    util.reload_module("kbus_num_devices=2")
    util.wait_for_device(1)
    boxes = Boxes()
    boxes.broker.start()
    boxes.a.start()
    boxes.b.start()
    yield boxes
    logs = {b.node: b.log_text() for b in (boxes.a, boxes.b)}
    for bridge in (boxes.a, boxes.b):
        bridge.stop()
    boxes.broker.stop()
    for dev in (0, 1):
        assert util.ksock_ids_in_stats(dev) == [], (
            f"a Ksock left on /dev/kbus{dev}: {logs}"
        )
    util.reload_module()


def _ksock(device: int, max_messages: int = 500) -> Ksock:
    k = Ksock(device)
    k.set_max_messages(max_messages)
    return k


def _counters(bridge: bu.BridgeProc) -> dict[str, int]:
    state = bridge.state()
    assert state is not None, bridge.log_text()
    return dict(state["counters"])


def _answers(k: Ksock, mid: object, timeout: float = 3 * TIMEOUT) -> list[Message]:
    return bu.answer_of(k, mid, timeout)


# --------------------------------------------------------------------------
# announcements


def test_announcements_cross_in_order_with_their_origin_and_no_echo(
    boxes: Boxes,
) -> None:
    net_a = boxes.net(boxes.a)
    count = 150
    with _ksock(1, 1000) as far, _ksock(0, 1000) as near:
        far.bind("$.Test.Talk.*")
        near.bind("$.Test.Talk.*")

        def sender(tag: str) -> None:
            with Ksock(0) as k:
                for i in range(count):
                    k.send_msg(Announcement(f"$.Test.Talk.{tag}", f"{tag}{i}".encode()))

        threads = [threading.Thread(target=sender, args=(t,)) for t in ("Ros", "Guil")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        here = bu.collect(near, 2 * count, 10)
        there = bu.collect(far, 2 * count, 30)
        # nothing more: no copy comes back, none is doubled
        assert near.wait_for_msg(1.0 * bu.SLOW) is None
        assert far.wait_for_msg(0.5) is None
    assert len(here) == 2 * count
    assert [m.data for m in there] == [m.data for m in here], "another order on box B"
    for local, remote in zip(here, there, strict=True):
        assert (
            local.id is not None
            and remote.id is not None
            and remote.orig_from is not None
        )
        assert (remote.id.network_id, remote.id.serial_num) == (
            net_a,
            local.id.serial_num,
        )
        assert (remote.orig_from.network_id, remote.orig_from.local_id) == (
            net_a,
            local.from_,
        )
        assert remote.name == local.name


def test_names_outside_the_patterns_stay_home(boxes: Boxes) -> None:
    with _ksock(1) as far:
        far.bind("$.*")
        with Ksock(0) as k:
            k.send_msg(Announcement("$.Private.Thing", b"x"))
            k.send_msg(Announcement("$.Test.Public", b"y"))
        got = bu.collect(far, 1, 10)
        assert [m.name for m in got] == ["$.Test.Public"]
        # anything else that arrives is a bridge's own event, or KBUS's
        while (m := far.wait_for_msg(0.5 * bu.SLOW)) is not None:
            assert m.name.startswith(("$.Bridge.Event.", "$.KBUS.")), m


# --------------------------------------------------------------------------
# requests


def test_a_request_is_answered_by_the_replier_on_the_other_bus(boxes: Boxes) -> None:
    net_a = boxes.net(boxes.a)
    with Ksock(0) as replier, Ksock(1) as asker:
        replier_id = replier.ksock_id()
        replier.bind("$.Test.Echo", replier=True)
        bu.wait_replier("$.Test.Echo", device=1)
        mid = asker.send_msg(Request("$.Test.Echo", b"hello"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None and req.wants_us_to_reply()
        assert req.orig_from is not None and req.orig_from.local_id == asker.ksock_id()
        replier.send_msg(reply_to(req, b"hi"))
        answers = _answers(asker, mid)
    assert len(answers) == 1, answers
    reply = answers[0]
    assert (
        not bu.is_status(reply) and reply.data == b"hi" and reply.name == "$.Test.Echo"
    )
    assert reply.orig_from is not None
    assert (reply.orig_from.network_id, reply.orig_from.local_id) == (net_a, replier_id)
    # once the replier is gone, so is its proxy on box B
    bu.wait_replier("$.Test.Echo", device=1, gone=True)
    with Ksock(1) as asker, pytest.raises(OSError) as err:
        asker.send_msg(Request("$.Test.Echo"))
    assert err.value.errno == errno.EADDRNOTAVAIL


def test_a_stateful_request_reaches_the_same_replier_or_a_status(boxes: Boxes) -> None:
    with Ksock(0) as r1, Ksock(1) as asker:
        r1.bind("$.Test.Session", replier=True)
        bu.wait_replier("$.Test.Session", device=1)
        mid = asker.send_msg(Request("$.Test.Session", b"open"))
        req = r1.wait_for_msg(10 * bu.SLOW)
        assert req is not None
        r1.send_msg(reply_to(req, b"opened"))
        (reply,) = _answers(asker, mid)
        # the same replier again: it gets it
        mid = asker.send_msg(stateful_request(reply, "$.Test.Session", b"more"))
        req = r1.wait_for_msg(10 * bu.SLOW)
        assert req is not None and req.data == b"more" and req.to == r1.ksock_id()
        r1.send_msg(reply_to(req, b"ok"))
        assert [m.data for m in _answers(asker, mid)] == [b"ok"]
        # a stateful request that reaches r1's queue, then r1 goes: KBUS
        # says GoneAway to bridge boxa, and boxb says so to the requester
        before = _counters(boxes.a)["requests_in"]
        mid = asker.send_msg(stateful_request(reply, "$.Test.Session", b"last"))
        bu.wait_until(
            lambda: _counters(boxes.a)["requests_in"] > before,
            20,
            "the request on box A",
        )
        r1.close()
        answers = _answers(asker, mid)
        assert [m.name for m in answers] == ["$.Bridge.Replier.GoneAway"], answers
        assert b"status=$.KBUS.Replier.GoneAway" in (answers[0].data or b"")
        # another replier now: the session's requests get NotSameKsock
        bu.wait_replier("$.Test.Session", device=1, gone=True)
        with Ksock(0) as r2:
            r2.bind("$.Test.Session", replier=True)
            bu.wait_replier("$.Test.Session", device=1)
            mid = asker.send_msg(stateful_request(reply, "$.Test.Session", b"again"))
            answers = _answers(asker, mid)
            assert [m.name for m in answers] == ["$.Bridge.Replier.NotSameKsock"], (
                answers
            )
            assert r2.read_next_msg() is None


def test_a_replier_that_reads_and_leaves_gives_ignored(boxes: Boxes) -> None:
    with Ksock(1) as asker:
        proc = subprocess.Popen(
            ["python3", bu.__file__, "replier", "$.Test.Leaver", "--exit-after", "1"],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            bu.wait_replier("$.Test.Leaver", device=1)
            mid = asker.send_msg(Request("$.Test.Leaver", b"q"))
            answers = _answers(asker, mid)
        finally:
            proc.wait(30)
    assert [m.name for m in answers] == ["$.Bridge.Replier.Ignored"], answers


def test_no_answer_in_time_gives_timeout_and_the_late_reply_is_dropped(
    boxes: Boxes,
) -> None:
    late_before = _counters(boxes.b)["late_answers"]
    with Ksock(0) as replier, Ksock(1) as asker:
        replier.bind("$.Test.Slow", replier=True)
        bu.wait_replier("$.Test.Slow", device=1)
        start = time.monotonic()
        mid = asker.send_msg(Request("$.Test.Slow"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None
        answers = _answers(asker, mid, 3 * TIMEOUT)
        took = time.monotonic() - start
        assert [m.name for m in answers] == ["$.Bridge.Timeout"], answers
        assert took >= TIMEOUT * bu.SLOW * 0.9, took
        replier.send_msg(reply_to(req, b"too late"))
        assert asker.wait_for_msg(2 * bu.SLOW) is None  # never a second answer
    bu.wait_until(
        lambda: _counters(boxes.b)["late_answers"] > late_before,
        10,
        "the late answer counted",
    )


def test_the_broker_stopped_mid_request_gives_unreachable(boxes: Boxes) -> None:
    with Ksock(0) as replier, Ksock(1) as asker:
        replier.bind("$.Test.Outage", replier=True)
        bu.wait_replier("$.Test.Outage", device=1)
        mid = asker.send_msg(Request("$.Test.Outage", b"1"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None
        # it dies (SIGKILL): no goodbye, no wills (a broker that is shut down
        # publishes its clients' wills first: then the bridge says GoneAway)
        boxes.broker.stop(signal.SIGKILL)
        try:
            answers = _answers(asker, mid, 2 * TIMEOUT)
            assert [m.name for m in answers] == ["$.Bridge.Unreachable"], answers
            # while it is down: at once, and the proxy stays bound
            start = time.monotonic()
            mid = asker.send_msg(Request("$.Test.Outage", b"2"))
            answers = _answers(asker, mid, 2 * TIMEOUT)
            assert [m.name for m in answers] == ["$.Bridge.Unreachable"], answers
            assert time.monotonic() - start < TIMEOUT * bu.SLOW
            replier.send_msg(reply_to(req, b"answer nobody waits for"))
        finally:
            boxes.broker.start()
        for bridge in (boxes.a, boxes.b):
            bridge.wait_connected(60)
        counters = _counters(boxes.b)
        assert counters["disconnects"] >= 1 and counters["sessions_lost"] >= 1
        # and it works again (the states are published anew after the restart)
        bu.wait_until(
            lambda: (
                (boxes.b.state() or {}).get("peers", {}).get("boxa", {}).get("online")
            ),
            30,
            "boxb to see boxa again",
        )
        mid = asker.send_msg(Request("$.Test.Outage", b"3"))
        req = replier.wait_for_msg(10 * bu.SLOW)
        assert req is not None and req.data == b"3"
        replier.send_msg(reply_to(req, b"back"))
        assert [m.data for m in _answers(asker, mid)] == [b"back"]
        assert asker.wait_for_msg(1 * bu.SLOW) is None


def test_a_dead_bridge_gives_goneaway_and_its_repliers_leave(boxes: Boxes) -> None:
    with Ksock(0) as replier, Ksock(1) as asker:
        replier.bind("$.Test.Orphan", replier=True)
        bu.wait_replier("$.Test.Orphan", device=1)
        mid = asker.send_msg(Request("$.Test.Orphan"))
        assert replier.wait_for_msg(10 * bu.SLOW) is not None
        boxes.a.kill()  # no goodbye: the broker publishes its will
        try:
            answers = _answers(asker, mid, 4 * TIMEOUT)
            assert [m.name for m in answers] == ["$.Bridge.Replier.GoneAway"], answers
            assert b"reason=peer-will" in (answers[0].data or b"")
            bu.wait_replier("$.Test.Orphan", device=1, gone=True)
        finally:
            boxes.a.start()
        bu.wait_replier("$.Test.Orphan", device=1)


def test_every_request_gets_exactly_one_answer(boxes: Boxes) -> None:
    """Repliers that answer, answer late, read and leave, or leave with the
    request queued; requesters on box B; one answer each, whatever happens."""
    rng = random.Random(16)
    count = 24
    results: dict[int, list[str]] = {}
    lock = threading.Lock()

    def replier(name: str, behaviour: str) -> None:
        with Ksock(0) as k:
            k.bind(name, replier=True)
            ready.add(name)
            if behaviour == "leave-unread":
                # close with the request still queued (not read)
                select.select([k], [], [], 30 * bu.SLOW)
                return
            req = k.wait_for_msg(30 * bu.SLOW)
            if req is None:
                return
            if behaviour == "answer":
                k.send_msg(reply_to(req, b"ok"))
            elif behaviour == "late":
                time.sleep(TIMEOUT * bu.SLOW * 1.3)
                try:
                    k.send_msg(reply_to(req, b"late"))
                except OSError:
                    pass
            # "leave-read": close having read it

    ready: set[str] = set()
    plan = [
        rng.choice(["answer", "late", "leave-read", "leave-unread"])
        for _ in range(count)
    ]
    threads = []
    for i, behaviour in enumerate(plan):
        name = f"$.Test.Many.N{i}"
        t = threading.Thread(target=replier, args=(name, behaviour))
        t.start()
        threads.append(t)
    bu.wait_until(lambda: len(ready) == count, 30, "the repliers")
    for i in range(count):
        bu.wait_replier(f"$.Test.Many.N{i}", device=1)

    def asker(i: int) -> None:
        with Ksock(1) as k:
            mid = k.send_msg(Request(f"$.Test.Many.N{i}", b"q"))
            got = [m.name for m in _answers(k, mid, 4 * TIMEOUT)]
            with lock:
                results[i] = got

    askers = [threading.Thread(target=asker, args=(i,)) for i in range(count)]
    for t in askers:
        t.start()
    for t in askers + threads:
        t.join(120 * bu.SLOW)
    want = {
        "answer": "$.Test.Many.N{}",
        "late": "$.Bridge.Timeout",
        "leave-read": "$.Bridge.Replier.Ignored",
        "leave-unread": "$.Bridge.Replier.GoneAway",
    }
    for i, behaviour in enumerate(plan):
        assert results.get(i) == [want[behaviour].format(i)], (
            i,
            behaviour,
            results.get(i),
        )


# --------------------------------------------------------------------------
# bounds


def test_max_pending_requests_answer_busy(boxes: Boxes) -> None:
    boxes.b.stop()
    small = bu.BridgeProc("boxb", 1, boxes.broker.url, timeout=TIMEOUT, max_pending=2)
    small.start()
    try:
        with Ksock(0) as replier, Ksock(1) as asker:
            asker.set_max_messages(20)
            replier.bind("$.Test.Crowd", replier=True)
            bu.wait_replier("$.Test.Crowd", device=1)
            mids = [
                asker.send_msg(Request("$.Test.Crowd", str(i).encode()))
                for i in range(4)
            ]
            got = {}
            for _ in range(2):
                msg = asker.wait_for_msg(10 * bu.SLOW)
                assert msg is not None and msg.in_reply_to is not None
                got[mids.index(msg.in_reply_to)] = msg.name
            assert got == {2: "$.Bridge.Busy", 3: "$.Bridge.Busy"}
            for _ in range(2):
                req = replier.wait_for_msg(10 * bu.SLOW)
                assert req is not None
                replier.send_msg(reply_to(req, b"ok"))
            for _ in range(2):
                msg = asker.wait_for_msg(10 * bu.SLOW)
                assert msg is not None and msg.name == "$.Test.Crowd"
    finally:
        small.stop()
        boxes.b.start()


def test_a_full_mqtt_queue_drops_counts_and_says_so(boxes: Boxes) -> None:
    # a bridge on box A whose broker is not there: what it would publish waits
    # in its queue of 10, the rest is dropped, counted and announced
    lonely = bu.BridgeProc(
        "boxd",
        0,
        "mqtt://127.0.0.1:1",
        export=["$.Test.Flood.*"],
        imports=[],
        out_queue=10,
    )
    lonely.start(wait=False)
    try:
        # its retained state goes into the queue first (it may answer a state
        # request before that)
        queued = bu.wait_until(
            lambda: (lonely.state(timeout=2) or {}).get("mqtt_queue"),
            30,
            "boxd on the bus with its state queued",
        )
        with _ksock(0) as watch, Ksock(0) as k:
            watch.bind("$.Bridge.Event.Dropped")
            for i in range(50):
                k.send_msg(Announcement("$.Test.Flood.X", str(i).encode()))
            event = watch.wait_for_msg(20 * bu.SLOW)
            assert event is not None, lonely.log_text()
            fields = dict(w.split("=", 1) for w in (event.data or b"").decode().split())
            assert fields["bridge"] == "boxd" and fields["what"] == "dropped_out"
        dropped = 50 - (10 - queued)  # its state may wait in the queue too
        bu.wait_until(
            lambda: (
                (lonely.state() or {}).get("counters", {}).get("dropped_out") == dropped
            ),
            20,
            f"{dropped} drops counted",
        )
        state = lonely.state()
        assert (
            state is not None and state["mqtt_queue"] == 10 and not state["connected"]
        )
        assert state["counters"]["announcements_out"] + dropped == 50
        assert "dropped_out" in lonely.log_text()
    finally:
        lonely.stop()


# --------------------------------------------------------------------------
# two bridges on one bus


def test_two_bridges_on_one_bus_do_not_echo(boxes: Boxes) -> None:
    other = bu.BridgeProc("boxc", 0, boxes.broker.url, export=["$.Test.*"], imports=[])
    other.start()
    try:
        with Ksock(1) as far_replier, _ksock(1) as far, _ksock(0) as near:
            far.bind("$.Test.Echoes")
            near.bind("$.Test.Echoes")
            far_replier.bind("$.Test.FarAway", replier=True)
            bu.wait_replier("$.Test.FarAway", device=0)  # boxa's proxy on bus A
            with Ksock(1) as k:
                k.send_msg(Announcement("$.Test.Echoes", b"once"))
            assert [m.data for m in bu.collect(near, 1, 10)] == [b"once"]
            assert [m.data for m in bu.collect(far, 1, 10)] == [b"once"]
            assert near.wait_for_msg(1.5 * bu.SLOW) is None, "echoed onto bus A"
            assert far.wait_for_msg(0.5) is None, "echoed back to bus B"
            state = other.state()
            assert state is not None
            # boxc saw boxa's proxy for $.Test.FarAway and did not offer it
            assert state["exported_repliers"] == ["$.BridgeState.boxc"], state
            assert state["counters"]["announcements_out"] == 0, state
    finally:
        other.stop()
        bu.wait_replier("$.BridgeState.boxc", device=1, gone=True)


# --------------------------------------------------------------------------
# the command line


def test_status_shows_peers_proxies_and_counters(boxes: Boxes) -> None:
    res = subprocess.run(
        ["kbus-bridge", "-c", boxes.a.conf, "status"],
        capture_output=True,
        text=True,
        timeout=60 * bu.SLOW,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "bridge boxa" in res.stdout and "peer boxb: online" in res.stdout, res.stdout
    assert "proxy $.BridgeState.boxb -> boxb" in res.stdout, res.stdout
    res = subprocess.run(
        ["kbus-bridge", "status", "--all", "--json", "--device", "1"],
        capture_output=True,
        text=True,
        timeout=60 * bu.SLOW,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    states = [json.loads(line) for line in res.stdout.splitlines()]
    assert [s["node"] for s in states] == ["boxa", "boxb"]  # boxa through its proxy
    assert all(s["connected"] for s in states)


def test_the_default_configuration_bridges_nothing() -> None:
    if not os.path.exists("/etc/kbus-bridge.toml"):
        pytest.skip("no /etc/kbus-bridge.toml")
    res = subprocess.run(
        ["kbus-bridge", "check", "--enabled"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 3, res.stdout + res.stderr
    res = subprocess.run(
        ["kbus-bridge", "check"], capture_output=True, text=True, check=False
    )
    assert (
        res.returncode == 0
        and "export = []" in res.stdout
        and "import = []" in res.stdout
    )
    res = subprocess.run(
        ["/etc/init.d/S70kbus-bridge", "start"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0 and "not enabled" in res.stdout, res.stdout + res.stderr
