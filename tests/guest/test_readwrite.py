# SPDX-License-Identifier: MIT
"""write/read/poll semantics (§5.1-§5.4), the message layout (§4.4-§4.6), what
SEND changes in a message (§4.10) and the maximum message size (§6.19)."""

from __future__ import annotations

import errno
import os
import select
from dataclasses import replace

import pytest
from kbus import Announcement, Ksock, Message, MessageId, calc_entire_message_len

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

NAME = b"$.RW.Test"
DATA = b"abc1234"  # 7 bytes: the data part has one padding byte


def _listener(ksock: KsockFactory, name: bytes = NAME) -> tuple[int, Ksock]:
    k = ksock()
    k.bind(name.decode())
    return k.fileno(), k


# --------------------------------------------------------------------------
# Layout


def test_worked_example_lengths() -> None:
    # §4.5: $.Fred without data is 100 bytes on LP64, with 7 data bytes 108;
    # 16 less on ILP32.
    delta = 0 if raw.LP64 else 16
    assert raw.entire_len(6, 0) == 100 - delta
    assert raw.entire_len(6, 7) == 108 - delta
    assert calc_entire_message_len(6, 0) == 100 - delta
    assert calc_entire_message_len(6, 7) == 108 - delta


def test_read_message_is_in_entire_form(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME, DATA)
    msg = raw.next_raw(fd)  # parse_entire checks guards, NULL pointers, padding
    assert msg is not None
    assert msg.name == NAME and msg.data == DATA
    assert len(msg.raw) == raw.entire_len(len(NAME), len(DATA))
    assert msg.header.name_len == len(NAME) and msg.header.data_len == len(DATA)


def test_read_message_without_data_has_no_data_part(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME)
    msg = raw.next_raw(fd)
    assert msg is not None
    assert msg.header.data_len == 0 and msg.data == b""
    assert len(msg.raw) == raw.HDR_LEN + raw.padded_name_len(len(NAME)) + 4


@pytest.mark.parametrize("data_len", [1, 2, 3, 4, 5, 8])
def test_data_padding_is_to_a_multiple_of_4(ksock: KsockFactory, data_len: int) -> None:
    fd, _ = _listener(ksock)
    data = bytes(range(1, data_len + 1))
    raw.send_entire(ksock().fileno(), NAME, data)
    msg = raw.next_raw(fd)
    assert msg is not None and msg.data == data


@pytest.mark.parametrize("name", [b"$.A", b"$.AB", b"$.ABC", b"$.ABCD", b"$.ABCDE"])
def test_name_padding_includes_the_nul(ksock: KsockFactory, name: bytes) -> None:
    fd, _ = _listener(ksock, name)
    raw.send_entire(ksock().fileno(), name, b"d")
    msg = raw.next_raw(fd)
    assert msg is not None and msg.name == name
    assert raw.padded_name_len(len(name)) > len(name)


# --------------------------------------------------------------------------
# write (§5.2)


def test_write_returns_the_byte_count(ksock: KsockFactory) -> None:
    k = ksock()
    buf = raw.entire_message(NAME, DATA)
    assert os.write(k.fileno(), buf[:10]) == 10
    assert os.write(k.fileno(), buf[10:]) == len(buf) - 10
    k.discard()


def test_pointy_header_written_byte_by_byte_is_sent(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    sender = ksock()
    msg = raw.Pointy(NAME, DATA)
    raw.write_all(sender.fileno(), msg.pack(), piece=1)
    raw.send(sender.fileno())
    got = raw.next_raw(fd)
    assert got is not None and (got.name, got.data) == (NAME, DATA)


def test_entire_message_written_byte_by_byte_is_sent(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    sender = ksock()
    raw.write_all(sender.fileno(), raw.entire_message(NAME, DATA), piece=1)
    raw.send(sender.fileno())
    got = raw.next_raw(fd)
    assert got is not None and (got.name, got.data) == (NAME, DATA)


@pytest.mark.parametrize("piece", [2, 3, 5, 7, 13, raw.HDR_LEN - 1, raw.HDR_LEN + 5])
def test_entire_message_written_in_odd_pieces_is_sent(
    ksock: KsockFactory, piece: int
) -> None:
    fd, _ = _listener(ksock)
    sender = ksock()
    raw.write_all(sender.fileno(), raw.entire_message(NAME, DATA), piece=piece)
    raw.send(sender.fileno())
    got = raw.next_raw(fd)
    assert got is not None and (got.name, got.data) == (NAME, DATA)


def test_entire_message_padding_values_are_ignored(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    sender = ksock()
    buf = raw.entire_message(NAME, DATA, pad_byte=0xA5)  # even the name's NUL
    raw.write_all(sender.fileno(), buf)
    raw.send(sender.fileno())
    got = raw.next_raw(fd)  # padding is zero on the way out
    assert got is not None and (got.name, got.data) == (NAME, DATA)


def test_bytes_after_the_end_of_an_entire_message_give_emsgsize(
    ksock: KsockFactory,
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    with raises_errno(errno.EMSGSIZE):
        os.write(k.fileno(), raw.entire_message(NAME, DATA) + b"X")
    with raises_errno(errno.ENOMSG):
        k.send()
    assert raw.nummsgs(fd) == 0


def test_byte_after_a_complete_pointy_header_gives_emsgsize(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    msg = raw.Pointy(NAME)
    raw.write_all(k.fileno(), msg.pack())
    with raises_errno(errno.EMSGSIZE):
        os.write(k.fileno(), b"\0")
    with raises_errno(errno.ENOMSG):
        k.send()


def test_writing_a_second_message_before_send_gives_emsgsize(
    ksock: KsockFactory,
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    raw.write_all(k.fileno(), raw.entire_message(NAME, b"first"))
    with raises_errno(errno.EMSGSIZE):
        os.write(k.fileno(), raw.entire_message(NAME, b"second"))
    with raises_errno(errno.ENOMSG):  # the error discarded the message
        k.send()
    assert raw.nummsgs(fd) == 0


_PTRS = raw.Pointy(NAME, DATA)  # provides valid name/data addresses
_GOOD = raw.Header(name_len=len(NAME), data_len=len(DATA))
BAD_HEADERS: list[tuple[str, bytes, int]] = [
    ("bad start guard", replace(_GOOD, start_guard=0x7375624C).pack(), errno.EINVAL),
    (
        "start guard swapped",
        replace(_GOOD, start_guard=raw.END_GUARD).pack(),
        errno.EINVAL,
    ),
    ("bad end guard", replace(_GOOD, end_guard=0).pack(), errno.EINVAL),
    (
        "end guard swapped",
        replace(_GOOD, end_guard=raw.START_GUARD).pack(),
        errno.EINVAL,
    ),
    ("name_len 0", replace(_GOOD, name_len=0).pack(), errno.EINVAL),
    ("name_len 1001", replace(_GOOD, name_len=1001).pack(), errno.ENAMETOOLONG),
    (
        "name NULL but data set",
        replace(_GOOD, data=_PTRS.header.data).pack(),
        errno.EINVAL,
    ),
    (
        "name set, data NULL, data_len > 0",
        replace(_GOOD, name=_PTRS.header.name).pack(),
        errno.EINVAL,
    ),
    (
        "data_len 0 but data set",
        replace(
            _GOOD, name=_PTRS.header.name, data=_PTRS.header.data, data_len=0
        ).pack(),
        errno.EINVAL,
    ),
    (
        "both ALL_OR_WAIT and ALL_OR_FAIL",
        replace(_GOOD, flags=raw.ALL_OR_WAIT | raw.ALL_OR_FAIL).pack(),
        errno.EINVAL,
    ),
]


@pytest.mark.parametrize(
    "label,header,err", BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS]
)
def test_bad_header_is_rejected_when_complete(
    ksock: KsockFactory, label: str, header: bytes, err: int
) -> None:
    k = ksock()
    assert os.write(k.fileno(), header[:-1]) == len(header) - 1
    with raises_errno(err):
        os.write(k.fileno(), header[-1:])


@pytest.mark.parametrize(
    "label,header,err", BAD_HEADERS, ids=[c[0] for c in BAD_HEADERS]
)
def test_bad_header_error_discards_the_message(
    ksock: KsockFactory, label: str, header: bytes, err: int
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    with raises_errno(err):
        os.write(k.fileno(), header)
    with raises_errno(errno.ENOMSG):
        k.send()
    # the next write starts a new message
    raw.send_entire(k.fileno(), NAME, b"after")
    got = raw.next_raw(fd)
    assert got is not None and got.data == b"after"


def test_bad_final_end_guard_gives_einval(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    buf = raw.entire_message(NAME, DATA, final_guard=raw.START_GUARD)
    raw.write_all(k.fileno(), buf[:-1])
    with raises_errno(errno.EINVAL):
        os.write(k.fileno(), buf[-1:])
    with raises_errno(errno.ENOMSG):
        k.send()
    assert raw.nummsgs(fd) == 0


def test_send_of_an_incomplete_message_gives_einval_and_discards_it(
    ksock: KsockFactory,
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    buf = raw.entire_message(NAME, DATA)
    for cut in (1, raw.HDR_LEN - 1, raw.HDR_LEN, raw.HDR_LEN + 3, len(buf) - 1):
        raw.write_all(k.fileno(), buf[:cut])
        with raises_errno(errno.EINVAL):
            k.send()
        with raises_errno(errno.ENOMSG):
            k.send()
    assert raw.nummsgs(fd) == 0


def test_pointy_name_and_data_are_copied_at_send_time(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    msg = raw.Pointy(NAME, b"before!")
    raw.write_all(k.fileno(), msg.pack())
    msg.set_data(b"after!!")
    raw.send(k.fileno())
    msg.set_data(b"changed")  # too late: KBUS has its own copy now
    got = raw.next_raw(fd)
    assert got is not None and got.data == b"after!!"


def test_writing_alone_delivers_nothing(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    raw.write_all(k.fileno(), raw.entire_message(NAME, DATA))
    assert raw.nummsgs(fd) == 0
    k.discard()
    assert raw.nummsgs(fd) == 0


# --------------------------------------------------------------------------
# What SEND changes (§4.10)


def test_send_sets_from_clears_synthetic_and_extra_and_keeps_the_rest(
    ksock: KsockFactory,
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    flags = raw.SYNTHETIC | raw.WANT_YOU_TO_REPLY | 0x10 | 0x80 | 0x400 | 0xABCD0000
    hdr = raw.Header(
        id=(0, 999),
        to=77,
        from_=12345,
        orig_from=(3, 4),
        final_to=(5, 6),
        extra=0xABCD,
        flags=flags,
    )
    raw.write_all(k.fileno(), raw.entire_message(NAME, DATA, hdr))
    sent = raw.send(k.fileno())
    got = raw.next_raw(fd)
    assert got is not None
    h = got.header
    assert h.from_ == k.ksock_id()
    assert h.extra == 0
    assert h.flags == flags & ~(raw.SYNTHETIC | raw.WANT_YOU_TO_REPLY)
    assert h.to == 77
    assert h.orig_from == (3, 4) and h.final_to == (5, 6)
    assert h.in_reply_to == (0, 0)
    assert h.id == sent and sent[0] == 0 and sent[1] != 999
    assert (got.name, got.data) == (NAME, DATA)


def test_send_preserves_a_non_local_id_and_consumes_no_serial(
    ksock: KsockFactory,
) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    before = raw.send_entire(k.fileno(), NAME)
    raw.write_all(
        k.fileno(), raw.entire_message(NAME, b"remote", raw.Header(id=(7, 1234)))
    )
    assert raw.send(k.fileno()) == (7, 1234)
    assert raw.lastsent(k.fileno()) == (7, 1234)
    after = raw.send_entire(k.fileno(), NAME)
    assert after == (0, before[1] + 1)
    ids = [raw.next_raw(fd) for _ in range(3)]
    assert [m.header.id for m in ids if m] == [before, (7, 1234), after]


def test_listener_copies_never_carry_want_you_to_reply(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    k = ksock()
    k.send_msg(Announcement(NAME.decode(), flags=Message.WANT_YOU_TO_REPLY))
    got = raw.next_raw(fd)
    assert got is not None and got.header.flags == 0


def test_python_message_round_trip(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.RW.Py")
    sent = sender.send_msg(Announcement("$.RW.Py", b"Ahem", to=5))
    msg = listener.read_next_msg()
    assert msg is not None
    assert msg.id == sent and msg.from_ == sender.ksock_id() and msg.to == 5
    assert msg.data == b"Ahem" and msg.name == "$.RW.Py"
    assert msg.in_reply_to is None and msg.orig_from is None and msg.final_to is None


# --------------------------------------------------------------------------
# read (§5.3)


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 7, 11, raw.HDR_LEN + 1, 1000])
def test_message_read_in_odd_pieces_is_whole(ksock: KsockFactory, piece: int) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME, DATA)
    ret, length = raw.nextmsg(fd)
    assert ret == 1
    buf = b""
    while True:
        chunk = os.read(fd, piece)
        if not chunk:
            break
        assert len(chunk) == min(piece, length - len(buf)), "short read before the end"
        buf += chunk
    assert len(buf) == length
    parsed = raw.parse_entire(buf)
    assert (parsed.name, parsed.data) == (NAME, DATA)


def test_read_spanning_all_parts_returns_what_was_asked(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME, DATA)
    _, length = raw.nextmsg(fd)
    assert len(os.read(fd, raw.HDR_LEN + 3)) == raw.HDR_LEN + 3
    assert len(os.read(fd, length)) == length - raw.HDR_LEN - 3  # only at the end


def test_read_after_the_last_byte_returns_0(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME)
    _, length = raw.nextmsg(fd)
    assert len(os.read(fd, length)) == length
    assert os.read(fd, 100) == b""
    assert os.read(fd, 1) == b""


def test_read_without_a_current_message_returns_0(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    assert os.read(fd, 100) == b""
    raw.send_entire(ksock().fileno(), NAME)
    assert os.read(fd, 100) == b"", "read must not pop: NEXTMSG does"
    assert raw.nummsgs(fd) == 1


def test_lenleft_is_the_true_remaining_count_at_every_position(
    ksock: KsockFactory,
) -> None:
    # §6.8 / §18.9: also while the read position is inside the data part
    fd, _ = _listener(ksock)
    data = b"0123456789abcdefghi"  # 19 bytes, padded to 20
    raw.send_entire(ksock().fileno(), NAME, data)
    _, length = raw.nextmsg(fd)
    assert length == raw.entire_len(len(NAME), len(data))
    for pos in range(length):
        assert raw.lenleft(fd) == length - pos, f"LENLEFT wrong at position {pos}"
        assert len(os.read(fd, 1)) == 1
    assert raw.lenleft(fd) == 0
    assert os.read(fd, 1) == b""


@pytest.mark.parametrize("piece", [3, 6, 9])
def test_lenleft_after_reads_of_varying_size(ksock: KsockFactory, piece: int) -> None:
    fd, _ = _listener(ksock)
    data = bytes(range(50))
    raw.send_entire(ksock().fileno(), NAME, data)
    _, length = raw.nextmsg(fd)
    done = 0
    while done < length:
        done += len(os.read(fd, piece))
        assert raw.lenleft(fd) == length - done


def test_a_new_nextmsg_resets_lenleft(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    s = ksock().fileno()
    raw.send_entire(s, NAME, b"1")
    raw.send_entire(s, NAME, b"22222")
    _, first = raw.nextmsg(fd)
    os.read(fd, raw.HDR_LEN + 10)
    _, second = raw.nextmsg(fd)
    assert raw.lenleft(fd) == second != first


# --------------------------------------------------------------------------
# open modes (§5.1)


def test_read_only_ksock_cannot_write(ksock: KsockFactory) -> None:
    k = ksock(0, "r")
    with raises_errno(errno.EBADF):
        os.write(k.fileno(), raw.entire_message(NAME))


def test_read_only_ksock_can_bind_receive_and_use_ioctls(ksock: KsockFactory) -> None:
    k = ksock(0, "r")
    k.bind(NAME.decode())
    k.bind("$.RW.Replier", replier=True)
    assert k.find_replier("$.RW.Replier") == k.ksock_id()
    ksock().send_msg(Announcement(NAME.decode(), b"to a reader"))
    msg = k.read_next_msg()
    assert msg is not None and msg.data == b"to a reader"
    assert k.set_max_messages(5) == 5
    k.unbind(NAME.decode())


def test_read_only_ksock_is_never_writable(ksock: KsockFactory) -> None:
    k = ksock(0, "r")
    assert not raw.writable(k.fileno())


def test_write_only_open_can_send(ksock: KsockFactory) -> None:
    listener = ksock()
    listener.bind(NAME.decode())
    fd = os.open("/dev/kbus0", os.O_WRONLY)
    try:
        assert raw.ksock_id(fd) >= 1
        raw.send_entire(fd, NAME, b"wo")
        assert raw.writable(fd)
        with raises_errno(errno.EBADF):
            os.read(fd, 10)
    finally:
        os.close(fd)
    msg = listener.read_next_msg()
    assert msg is not None and msg.data == b"wo"


# --------------------------------------------------------------------------
# poll (§5.4)


def test_poll_readable_iff_queue_non_empty(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    assert not raw.readable(fd)
    raw.send_entire(ksock().fileno(), NAME)
    assert raw.readable(fd)
    raw.nextmsg(fd)  # popped, even though not read
    assert not raw.readable(fd)


def test_poll_writable_when_not_sending(ksock: KsockFactory) -> None:
    k = ksock()
    assert raw.writable(k.fileno())
    raw.write_all(k.fileno(), raw.entire_message(NAME)[:10])
    assert raw.writable(k.fileno())
    k.discard()


def test_select_never_reports_exceptional_conditions(ksock: KsockFactory) -> None:
    fd, _ = _listener(ksock)
    raw.send_entire(ksock().fileno(), NAME)
    r, w, x = select.select([fd], [fd], [fd], 0)
    assert (r, w, x) == ([fd], [fd], [])
    assert raw.poll_flags(fd, select.POLLPRI | select.POLLIN) & select.POLLPRI == 0


def test_poll_wakes_a_waiting_reader_when_a_message_arrives(
    ksock: KsockFactory,
) -> None:
    def waiter(conn: util.ChildConn) -> object:
        with Ksock(0) as k:
            k.bind("$.RW.Wake")
            conn.send("ready")
            msg = k.wait_for_msg(20)
            return None if msg is None else (msg.name, msg.data)

    with util.Child(waiter) as child:
        assert child.recv() == "ready"
        util.wait_until_sleeping(child.pid)
        ksock().send_msg(Announcement("$.RW.Wake", b"wake up"))
        assert child.result() == ("$.RW.Wake", b"wake up")


# --------------------------------------------------------------------------
# Maximum message size (§4.6, §6.19)


def _fits(max_size: int) -> tuple[bytes, bytes]:
    """A name and data whose entire length is exactly max_size (if possible)."""
    name = b"$.S"
    room = max_size - raw.entire_len(len(name), 0)
    assert room >= 0 and room % 4 == 0
    return name, b"d" * room


@pytest.mark.parametrize("form", ["pointy", "entire"])
@pytest.mark.parametrize("max_size", [100, 132, 1024])
def test_message_of_exactly_max_size_is_sent(
    ksock: KsockFactory, form: str, max_size: int
) -> None:
    k = ksock()
    k.set_max_message_size(max_size)
    name, data = _fits(max_size)
    k.bind(name.decode())
    if form == "pointy":
        msg = raw.Pointy(name, data)
        raw.write_all(k.fileno(), msg.pack())
        raw.send(k.fileno())
    else:
        raw.send_entire(k.fileno(), name, data)
    got = raw.next_raw(k.fileno())
    assert got is not None and got.data == data and len(got.raw) == max_size


@pytest.mark.parametrize("form", ["pointy", "entire"])
@pytest.mark.parametrize("max_size", [100, 132, 1024])
def test_message_over_max_size_gives_emsgsize(
    ksock: KsockFactory, form: str, max_size: int
) -> None:
    k = ksock()
    k.set_max_message_size(max_size)
    name, data = _fits(max_size)
    data += b"x"  # one more byte: four more with padding
    if form == "pointy":
        msg = raw.Pointy(name, data)
        with raises_errno(errno.EMSGSIZE):
            raw.write_all(k.fileno(), msg.pack())
    else:
        buf = raw.entire_message(name, data)
        # the size is known, and checked, as soon as the header is complete
        with raises_errno(errno.EMSGSIZE):
            raw.write_all(k.fileno(), buf[: raw.HDR_LEN])
    with raises_errno(errno.ENOMSG):
        k.send()


def test_max_size_100_admits_only_tiny_messages(ksock: KsockFactory) -> None:
    k = ksock()
    k.set_max_message_size(100)
    longest = 100 - raw.HDR_LEN - 4 - 1  # name + NUL within the padded name
    ok_name = b"$." + b"n" * (longest - 2)
    k.bind(ok_name.decode())
    raw.send_entire(k.fileno(), ok_name)
    with raises_errno(errno.EMSGSIZE):
        raw.write_all(k.fileno(), raw.Pointy(ok_name + b"n").pack())
    assert raw.next_raw(k.fileno()) is not None


def test_max_size_does_not_apply_to_messages_already_queued(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind(NAME.decode())
    raw.send_entire(k.fileno(), NAME, b"z" * 200)
    k.set_max_message_size(100)
    got = raw.next_raw(k.fileno())
    assert got is not None and got.data == b"z" * 200


def test_default_max_size_admits_a_409600_byte_message(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.max_message_size() == raw.DEFAULT_MAX_MSG_SIZE
    name, data = _fits(raw.DEFAULT_MAX_MSG_SIZE)
    k.bind(name.decode())
    msg = raw.Pointy(name, data)
    raw.write_all(k.fileno(), msg.pack())
    raw.send(k.fileno())
    with raises_errno(errno.EMSGSIZE):
        raw.write_all(k.fileno(), raw.Pointy(name, data + b"!").pack())
    got = k.read_next_msg()
    assert got is not None and got.data == data
    assert got.total_length() == raw.DEFAULT_MAX_MSG_SIZE


def test_python_send_of_an_oversized_message_gives_emsgsize(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.set_max_message_size(200)
    with raises_errno(errno.EMSGSIZE):
        k.send_msg(Announcement("$.Big", b"b" * 200))
    assert k.last_msg_id() == MessageId(0, 0)
