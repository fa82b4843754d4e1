# SPDX-License-Identifier: MIT
"""The kbus Python package against the real device (§14): Ksock methods and
protocols, message classes and their text forms for messages read from KBUS.
(Pure message construction is unit-tested on the host.)"""

from __future__ import annotations

import errno
import select
import time

import pytest
from kbus import (
    MSG_HEADER_LEN,
    Announcement,
    Ksock,
    Message,
    MessageId,
    Reply,
    Request,
    Status,
    calc_entire_message_len,
    reply_to,
)

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno


def test_msg_header_len_matches_the_abi() -> None:
    assert raw.HDR_LEN == MSG_HEADER_LEN
    assert calc_entire_message_len(6, 7) == raw.entire_len(6, 7)


def test_ksock_str_and_repr(ksock: KsockFactory) -> None:
    k = ksock()
    kid = k.ksock_id()
    assert str(k) == f"Ksock device 0, id {kid}, mode read/write"
    assert repr(k) == "<Ksock /dev/kbus0 open for read/write>"
    r = ksock(0, "r")
    assert str(r) == f"Ksock device 0, id {r.ksock_id()}, mode read"
    k.close()
    assert str(k) == "Ksock device 0 (closed)"
    assert repr(k) == "<Ksock /dev/kbus0 closed>"
    assert k.fd is None and k.mode is None


def test_ksock_context_manager_closes(ksock: KsockFactory) -> None:
    with Ksock(0) as k:
        kid = k.ksock_id()
        assert kid in util.ksock_ids_in_stats(0)
    assert kid not in util.ksock_ids_in_stats(0)


def test_ksock_context_manager_closes_on_error() -> None:
    with pytest.raises(RuntimeError), Ksock(0) as k:
        kid = k.ksock_id()
        raise RuntimeError("boom")
    assert kid not in util.ksock_ids_in_stats(0)


def test_kernel_errors_are_oserrors_with_errno(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Py.Dup", replier=True)
    with pytest.raises(OSError) as info:
        k.bind("$.Py.Dup", replier=True)
    assert info.value.errno == errno.EADDRINUSE


def test_ksock_works_with_select_and_poll(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Py.Sel")
    assert select.select([k], [], [], 0)[0] == []
    ksock().send_msg(Announcement("$.Py.Sel"))
    assert select.select([k], [], [], 0)[0] == [k]
    p = select.poll()
    p.register(k, select.POLLIN)
    assert p.poll(0) == [(k.fileno(), select.POLLIN)]


def test_wait_for_msg_times_out_with_none(ksock: KsockFactory) -> None:
    k = ksock()
    t0 = time.monotonic()
    assert k.wait_for_msg(0.2) is None
    assert time.monotonic() - t0 >= 0.15


def test_read_next_msg_returns_a_plain_message_or_none(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.read_next_msg() is None
    k.bind("$.Py.Plain")
    k.send_msg(Announcement("$.Py.Plain"))
    msg = k.read_next_msg()
    assert type(msg) is Message
    assert isinstance(msg.cast(), Announcement)


def test_read_msg_and_read_data(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Py.Read")
    k.send_msg(Announcement("$.Py.Read", b"payload"))
    length = k.next_msg()
    head = k.read_data(10)
    rest = k.read_data(length)
    assert k.read_data(10) == b""
    msg = Message.from_bytes(head + rest)
    assert msg.data == b"payload" and msg.total_length() == length
    k.send_msg(Announcement("$.Py.Read", b"again"))
    msg2 = k.read_msg(k.next_msg())
    assert msg2 is not None and msg2.data == b"again"
    assert k.read_msg(10) is None


def test_message_read_from_kbus_round_trips_through_to_bytes(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.Py.Bytes")
    k.send_msg(Announcement("$.Py.Bytes", b"abc1234"))
    length = k.next_msg()
    data = k.read_data(length)
    msg = Message.from_bytes(data)
    assert msg.to_bytes() == data
    # an entire message can be written back as it is
    k.write_msg(msg)
    k.send()
    again = util.one_msg(k)
    assert again.data == b"abc1234" and again.id != msg.id


def test_write_data_then_send(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Py.Raw")
    buf = raw.entire_message(b"$.Py.Raw", b"raw bytes")
    assert k.write_data(buf[:50]) == 50
    assert k.write_data(buf[50:]) == len(buf) - 50
    sent = k.send()
    assert util.one_msg(k).id == sent


def test_message_ids_are_hashable_and_ordered(ksock: KsockFactory) -> None:
    k = ksock()
    ids = [k.send_msg(Announcement("$.Py.Ids")) for _ in range(3)]
    assert len({*ids, *ids}) == 3
    assert ids == sorted(ids) and ids[0] < ids[1]
    assert ids[0] + 1 == ids[1]
    assert {ids[0]: "x"}[MessageId(0, ids[0].serial_num)] == "x"


def test_find_replier_accepts_str(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Py.Find", replier=True)
    assert ksock().find_replier("$.Py.Find") == r.ksock_id()


def test_status_from_kbus_casts_to_status(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Py.Status", replier=True)
    req_id = asker.send_msg(Request("$.Py.Status"))
    replier_id = replier.ksock_id()
    replier.close()
    status = util.one_msg(asker)
    cast = status.cast()
    assert isinstance(cast, Status)
    assert status.id is not None
    assert repr(cast) == (
        f"Status('$.KBUS.Replier.GoneAway', to={asker.ksock_id()}, from_={replier_id}, "
        f"in_reply_to={req_id!r}, flags=0x00000004, id={status.id!r})"
    )
    assert str(status) == (
        f"<Status '$.KBUS.Replier.GoneAway', id={status.id}, to={asker.ksock_id()}, "
        f"from={replier_id}, in_reply_to={req_id}, flags=0x4 (SYN)>"
    )


def test_request_and_reply_classes_on_the_wire(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Py.Q", replier=True)
    asker.send_msg(Request("$.Py.Q", b"q"))
    req = util.one_msg(replier)
    assert isinstance(req.cast(), Request) and req.wants_us_to_reply()
    rep = reply_to(req, b"a")
    assert (
        isinstance(rep, Reply)
        and rep.to == asker.ksock_id()
        and rep.in_reply_to == req.id
    )
    replier.send_msg(rep)
    got = util.one_msg(asker)
    assert isinstance(got.cast(), Reply)
    with pytest.raises(ValueError, match="WANT_A_REPLY and WANT_YOU_TO_REPLY"):
        reply_to(got)


def test_writing_methods_on_a_read_only_ksock_fail(ksock: KsockFactory) -> None:
    k = ksock(0, "r")
    with pytest.raises(OSError):
        k.write_msg(Announcement("$.Py.RO"))
    with pytest.raises(OSError):
        k.write_data(raw.entire_message(b"$.Py.RO"))


def test_send_with_nothing_written_raises_enomsg(ksock: KsockFactory) -> None:
    with raises_errno(errno.ENOMSG):
        ksock().send()
