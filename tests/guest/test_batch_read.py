# SPDX-License-Identifier: MIT
"""BATCHREAD (this implementation's addition): one read() returns as many
whole messages as fit, so a listener makes one system call per batch
instead of a NEXTMSG and a read per message. Off by default: the original
read is untouched. Each message is copied before it leaves the queue, so a
read that faults consumes nothing it did not return; one that does not fit
at all stays queued (EMSGSIZE) for NEXTMSG."""

from __future__ import annotations

import ctypes
import errno
import os

from kbus import Announcement, MessageId, Reply, Request

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno


def _read(fd: int, size: int) -> bytes:
    return os.read(fd, size)


def _names(buf: bytes) -> list[bytes]:
    return [m.name for m in raw.split_entire(buf)]


def test_off_by_default_and_switchable(ksock: KsockFactory) -> None:
    fd = ksock().fileno()
    assert raw.batch_read(fd, raw.QUERY) == 0
    assert raw.batch_read(fd, 1) == 0
    assert raw.batch_read(fd, raw.QUERY) == 1
    assert raw.batch_read(fd, 0) == 1
    with raises_errno(errno.EINVAL):
        raw.batch_read(fd, 2)


def test_one_read_returns_every_queued_message_whole(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.Batch.*")
    for i in range(3):
        sender.send_msg(Announcement(f"$.Batch.M{i}", b"d" * (i * 5)))
    fd = listener.fileno()
    raw.batch_read(fd, 1)
    got = raw.split_entire(_read(fd, 65536))
    assert [m.name for m in got] == [b"$.Batch.M0", b"$.Batch.M1", b"$.Batch.M2"]
    assert [m.data for m in got] == [b"", b"d" * 5, b"d" * 10]
    assert listener.num_messages() == 0
    assert _read(fd, 65536) == b""  # nothing left: 0, as the original read


def test_a_read_takes_only_what_fits(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.Batch.*")
    for i in range(3):
        sender.send_msg(Announcement(f"$.Batch.N{i}", b"x"))
    size = raw.entire_len(len("$.Batch.N0"), 1)
    fd = listener.fileno()
    raw.batch_read(fd, 1)
    assert _names(_read(fd, 2 * size + size // 2)) == [b"$.Batch.N0", b"$.Batch.N1"]
    assert listener.num_messages() == 1
    with raises_errno(errno.EMSGSIZE):
        _read(fd, size - 1)  # the next does not fit at all: it stays
    assert listener.num_messages() == 1
    ret, length = raw.nextmsg(fd)  # NEXTMSG and a plain read still work
    assert (ret, length) == (1, size)
    assert raw.parse_entire(raw.read_current(fd, length)).name == b"$.Batch.N2"


def test_a_read_that_faults_consumes_nothing_it_did_not_return(
    ksock: KsockFactory,
) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.Batch.*")
    sender.send_msg(Announcement("$.Batch.F1", b"1"))
    sender.send_msg(Announcement("$.Batch.F2", b"2"))
    size = raw.entire_len(len("$.Batch.F1"), 1)
    fd = listener.fileno()
    raw.batch_read(fd, 1)
    # room for the first message, then an inaccessible page
    addr = raw.bytes_before_guard_page(b"\0" * size)
    got = raw.libc_read(fd, addr, 4 * size)
    assert got == size
    assert raw.parse_entire(ctypes.string_at(addr, size)).name == b"$.Batch.F1"
    assert listener.num_messages() == 1
    with raises_errno(errno.EFAULT):
        raw.libc_read(fd, raw.unmapped_address(), 4 * size)
    assert listener.num_messages() == 1
    assert _names(_read(fd, 4096)) == [b"$.Batch.F2"]


def test_a_half_read_message_is_finished_first(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.Batch.*")
    sender.send_msg(Announcement("$.Batch.H1", b"abc"))
    sender.send_msg(Announcement("$.Batch.H2", b"def"))
    fd = listener.fileno()
    _, length = raw.nextmsg(fd)
    head = _read(fd, 10)
    raw.batch_read(fd, 1)
    rest = _read(fd, 4096)  # the rest of the current message only
    assert len(head) + len(rest) == length
    assert raw.parse_entire(head + rest).name == b"$.Batch.H1"
    assert _names(_read(fd, 4096)) == [b"$.Batch.H2"]


def test_requests_read_in_a_batch_are_owed_and_answered(
    ksock: KsockFactory,
) -> None:
    replier, asker = ksock(), ksock()
    replier.bind("$.Batch.Ask", replier=True)
    asker.send_msg(Request("$.Batch.Ask", b"1"))
    asker.send_msg(Request("$.Batch.Ask", b"2"))
    fd = replier.fileno()
    raw.batch_read(fd, 1)
    got = raw.split_entire(_read(fd, 4096))
    assert [m.data for m in got] == [b"1", b"2"]
    assert all(m.header.flags & raw.WANT_YOU_TO_REPLY for m in got)
    assert replier.num_unreplied_to() == 2
    for m in got:
        replier.send_msg(
            Reply(
                "$.Batch.Ask",
                b"re" + m.data,
                in_reply_to=MessageId(*m.header.id),
                to=m.header.from_,
            )
        )
    assert replier.num_unreplied_to() == 0
    assert [m.data for m in util.drain(asker)] == [b"re1", b"re2"]


def test_the_sender_of_the_last_message_returned_is_known(
    ksock: KsockFactory,
) -> None:
    listener = ksock()
    listener.bind("$.Batch.*")

    def send() -> int:
        from kbus import Ksock

        with Ksock(0) as k:
            k.send_msg(Announcement("$.Batch.Who"))
        return os.getpid()

    ksock().send_msg(Announcement("$.Batch.Root"))
    pid = util.run_as(1000, send)
    fd = listener.fileno()
    raw.batch_read(fd, 1)
    assert _names(_read(fd, 4096)) == [b"$.Batch.Root", b"$.Batch.Who"]
    assert raw.msg_creds(fd) == (1000, 1000, pid, 0)
