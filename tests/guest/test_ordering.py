# SPDX-License-Identifier: MIT
"""Ordering (§1, §12.2): several sender processes at once and several
listeners; every listener sees the identical sequence, which is the send
order (ids increase, each sender's messages stay in its order)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

from kbus import Ksock

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory

SENDERS = 4
PER_SENDER = 200
TOTAL = SENDERS * PER_SENDER

Seq = list[tuple[tuple[int, int], bytes]]


def _sender(index: int) -> Callable[[util.ChildConn], object]:
    def target(conn: util.ChildConn) -> object:
        with Ksock(0) as k:
            fd = k.fileno()
            name = f"$.Order.S{index}".encode()
            msgs = [
                raw.entire_message(name, f"{index}:{i}".encode())
                for i in range(PER_SENDER)
            ]
            conn.send("ready")
            assert conn.recv(30) == "go"
            ids = []
            for buf in msgs:
                assert os.write(fd, buf) == len(buf)
                ids.append(raw.send(fd))
            return ids

    return target


def _read_all(fd: int, count: int) -> Seq:
    out: Seq = []
    for _ in range(count):
        msg = raw.next_raw(fd)
        assert msg is not None, f"only {len(out)} of {count} messages"
        out.append((msg.header.id, msg.data))
    assert raw.next_raw(fd) is None
    return out


def _concurrent_listener(conn: util.ChildConn) -> object:
    with Ksock(0) as k:
        k.set_max_messages(TOTAL + 10)
        k.bind("$.*")
        conn.send("ready")
        out: Seq = []
        while len(out) < TOTAL:
            assert raw.readable(k.fileno(), 20000), "listener starved"
            msg = raw.next_raw(k.fileno())
            assert msg is not None
            out.append((msg.header.id, msg.data))
        return out


def test_all_listeners_see_the_same_sequence_from_concurrent_senders(
    ksock: KsockFactory,
) -> None:
    l1, l2 = ksock(), ksock()
    for k, name in ((l1, "$.Order.*"), (l2, "$.Order.%")):
        k.set_max_messages(TOTAL + 10)
        k.bind(name)
    children = []
    try:
        reader = util.Child(_concurrent_listener)
        children.append(reader)
        assert reader.recv() == "ready"
        senders = [util.Child(_sender(i)) for i in range(SENDERS)]
        children.extend(senders)
        for child in senders:
            assert child.recv() == "ready"
        for child in senders:
            child.send("go")
        sent = [child.result(50) for child in senders]
        concurrent = reader.result(50)
    finally:
        for child in children:
            child.close()
    seq1 = _read_all(l1.fileno(), TOTAL)
    seq2 = _read_all(l2.fileno(), TOTAL)
    assert seq1 == seq2 == concurrent
    ids = [mid for mid, _ in seq1]
    assert ids == sorted(ids) and len(set(ids)) == TOTAL, "ids increase in send order"
    assert set(ids) == {tuple(i) for ids_ in sent for i in ids_}
    for index in range(SENDERS):
        mine = [data for _, data in seq1 if data.startswith(f"{index}:".encode())]
        assert mine == [f"{index}:{i}".encode() for i in range(PER_SENDER)]
    # sanity: every sender's block is there
    firsts = [data.split(b":")[0] for _, data in seq1]
    switches = sum(1 for a, b in itertools.pairwise(firsts) if a != b)
    assert switches >= SENDERS - 1


def test_listeners_with_different_bindings_agree_on_order(ksock: KsockFactory) -> None:
    a, b, c = ksock(), ksock(), ksock()
    a.bind("$.Ord.*")
    b.bind("$.Ord.X")
    b.bind("$.Ord.Y")
    c.bind("$.*")
    s1, s2 = ksock(), ksock()
    for i in range(20):
        (s1 if i % 3 else s2).send_msg(
            __import__("kbus").Announcement(
                "$.Ord.X" if i % 2 else "$.Ord.Y", bytes([i])
            )
        )
    seqs = [[(m.id, m.data) for m in util.drain(k)] for k in (a, b, c)]
    assert seqs[0] == seqs[1] == seqs[2]
    assert [d for _, d in seqs[0]] == [bytes([i]) for i in range(20)]
