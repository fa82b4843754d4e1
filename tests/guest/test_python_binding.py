# SPDX-License-Identifier: MIT
"""The kbus Python package's message core and system calls against the real
module (issue 15, items 2 and 3): the ctypes ``msg`` view of received
messages, the id of a send held up by ALL_OR_WAIT and the helpers that
complete it, wait_for_msg with any fd number and with other readers,
threads sharing a Ksock, and signals arriving all the time.  (The same
behaviour against a faked kernel: tests/unit/test_ksock_syscalls.py.)"""

from __future__ import annotations

import errno
import os
import resource
import signal
import threading
import time
from types import FrameType

import pytest
from kbus import Announcement, Ksock, Message, Request, reply_to

import kbus_util as util
from kbus_util import KsockFactory, fill, raises_errno

WAIT = Message.ALL_OR_WAIT


# --------------------------------------------------------------------------
# msg: the header view


def test_msg_of_a_received_message_has_every_header_field(
    ksock: KsockFactory,
) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.Py.View")
    sent = sender.send_msg(Announcement("$.Py.View", b"abc", flags=0x10000))
    msg = util.one_msg(listener)
    hdr = msg.msg
    assert (hdr.flags, hdr.from_, hdr.to, hdr.name_len, hdr.data_len) == (
        0x10000,
        sender.ksock_id(),
        0,
        9,
        3,
    )
    assert hdr.id == sent and hdr.name is None and hdr.data is None
    # assigning a field changes the message: send it again, changed
    hdr.flags = 0x20000
    hdr.to = 5
    assert (msg.flags, msg.to) == (0x20000, 5)
    again_id = listener.send_msg(msg)
    again = util.one_msg(listener)
    assert (again.id, again.flags, again.to, again.data) == (
        again_id,
        0x20000,
        5,
        b"abc",
    )
    assert again.from_ == listener.ksock_id()


# --------------------------------------------------------------------------
# ALL_OR_WAIT


def _full_listener(ksock: KsockFactory, name: str) -> Ksock:
    listener = ksock()
    listener.bind(name)
    fill(listener, 1)
    return listener


def test_send_eagain_keeps_the_id_and_complete_send_finishes_it(
    ksock: KsockFactory,
) -> None:
    listener = _full_listener(ksock, "$.Py.Wait")
    sender = ksock()
    with pytest.raises(BlockingIOError) as info:
        sender.send_msg(Announcement("$.Py.Wait", b"held", flags=WAIT))
    assert info.value.errno == errno.EAGAIN
    held = info.value.msg_id  # type: ignore[attr-defined]
    assert held == sender.last_msg_id() and held.serial_num != 0
    with pytest.raises(TimeoutError):
        sender.complete_send(0.2)  # still full: still pending
    with raises_errno(errno.EALREADY):
        sender.write_msg(Announcement("$.Py.Other"))
    util.drain(listener)  # room: the next poll delivers it
    assert sender.complete_send(10) == held
    got = util.one_msg(listener)
    assert (got.id, got.data) == (held, b"held")


def test_send_msg_and_wait_from_another_thread_making_room(
    ksock: KsockFactory,
) -> None:
    listener = _full_listener(ksock, "$.Py.Wait2")
    sender = ksock()
    # take just the filler: the held-up message may arrive at any moment
    timer = threading.Timer(0.3, listener.read_next_msg)
    timer.start()
    try:
        sent = sender.send_msg_and_wait(
            Announcement("$.Py.Wait2", b"x", flags=WAIT), 20
        )
    finally:
        timer.join()
    assert util.one_msg(listener).id == sent


def test_send_msg_and_wait_discards_on_timeout(ksock: KsockFactory) -> None:
    listener = _full_listener(ksock, "$.Py.Wait3")
    sender = ksock()
    with pytest.raises(TimeoutError):
        sender.send_msg_and_wait(Announcement("$.Py.Wait3", b"late", flags=WAIT), 0.2)
    # discarded: the Ksock writes again, and the message never arrives
    util.drain(listener)
    sender.send_msg(Announcement("$.Py.Wait3", b"next"))
    assert [m.data for m in util.drain(listener)] == [b"next"]


# --------------------------------------------------------------------------
# wait_for_msg


def test_wait_for_msg_with_an_fd_number_above_1024(ksock: KsockFactory) -> None:
    # select.select() cannot take fd numbers >= 1024 (FD_SETSIZE); poll can.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    fillers = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        k = ksock()
        assert k.fileno() >= 1024
        k.bind("$.Py.High")
        assert k.wait_for_msg(0.1) is None
        ksock().send_msg(Announcement("$.Py.High", b"hi"))
        msg = k.wait_for_msg(5)
        assert msg is not None and msg.data == b"hi"
        k.close()
    finally:
        for fd in fillers:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_wait_for_msg_is_not_ended_by_another_reader(ksock: KsockFactory) -> None:
    # Two threads wait on one Ksock; one message arrives, then another: each
    # thread gets one, neither returns None before its timeout.
    k = ksock()
    k.bind("$.Py.Two")
    got: list[Message | None] = []

    def waiter() -> None:
        got.append(k.wait_for_msg(20))

    threads = [threading.Thread(target=waiter) for _ in range(2)]
    for t in threads:
        t.start()
    sender = ksock()
    sender.send_msg(Announcement("$.Py.Two", b"1"))
    time.sleep(0.5)
    sender.send_msg(Announcement("$.Py.Two", b"2"))
    for t in threads:
        t.join()
    assert sorted(m.data for m in got if m is not None) == [b"1", b"2"]


# --------------------------------------------------------------------------
# Threads sharing a Ksock


def test_threads_sharing_a_ksock_send_and_read_whole_messages(
    ksock: KsockFactory,
) -> None:
    shared, listener = ksock(), ksock()
    listener.bind("$.Py.Threads")
    listener.set_max_messages(1000)
    per_thread = 100

    def payload(n: int, i: int) -> bytes:
        return (b"%d:%d;" % (n, i)) * (1 + i % 40)  # sizes vary

    def sender(n: int) -> None:
        for i in range(per_thread):
            shared.send_msg(Announcement("$.Py.Threads", payload(n, i)))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert listener.num_messages() == 3 * per_thread
    # now three threads read the one queue
    got: list[Message] = []

    def reader() -> None:
        got.extend(listener)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m.data or b"" for m in got) == sorted(
        payload(n, i) for n in range(3) for i in range(per_thread)
    )
    assert len({m.id for m in got}) == 3 * per_thread
    assert {(m.name, m.from_) for m in got} == {("$.Py.Threads", shared.ksock_id())}


# --------------------------------------------------------------------------
# Signals


def test_round_trips_under_a_storm_of_signals(ksock: KsockFactory) -> None:
    # A signal every half millisecond of CPU time (SIGPROF: the suite's
    # watchdog has SIGALRM), and another process hammering the device (so
    # that KBUS often waits for its lock): interrupted ioctls, reads and
    # writes must be repeated, never surface.
    hits = [0]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        hits[0] += 1

    pid = os.fork()
    if pid == 0:  # the hammer
        try:
            with Ksock(0) as h:
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    h.send_msg(Announcement("$.Py.Nobody", b"x" * 100))
        finally:
            os._exit(0)
    asker, answerer = ksock(), ksock()
    answerer.bind("$.Py.Storm", replier=True)
    old = signal.signal(signal.SIGPROF, on_signal)
    signal.setitimer(signal.ITIMER_PROF, 0.0005, 0.0005)
    try:
        for i in range(300):
            req_id = asker.send_msg(Request("$.Py.Storm", b"%d" % i))
            req = answerer.wait_for_msg(10)
            assert req is not None and req.id == req_id
            answerer.send_msg(reply_to(req, b"re"))
            rep = asker.wait_for_msg(10)
            assert rep is not None and rep.in_reply_to == req_id
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, old)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert hits[0] > 0
