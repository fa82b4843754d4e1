# SPDX-License-Identifier: MIT
"""Bad input never oopses or leaks: bad pointers (EFAULT) for every
pointer-taking ioctl, for bind/query names and for pointy name/data; bad
read/write buffers; huge lengths; garbage; closing in every awkward state.
(The autouse guard then checks that nothing is left on device 0.)"""

from __future__ import annotations

import errno
import os
import random

import pytest
from kbus import Announcement, Request, reply_to

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

BAD = raw.BAD_POINTERS
BAD_IDS = [hex(p) for p in BAD]
BAD_NON_NULL = [p for p in BAD if p]
BAD_NON_NULL_IDS = [hex(p) for p in BAD_NON_NULL]


# --------------------------------------------------------------------------
# ioctl argument pointers


@pytest.mark.parametrize("name", raw.POINTER_IOCTLS)
@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_bad_ioctl_argument_pointer_gives_efault(
    ksock: KsockFactory, name: str, pointer: int
) -> None:
    k = ksock()
    k.bind("$.Bad.Arg")
    if name in ("NEXTMSG", "LENLEFT"):
        ksock().send_msg(Announcement("$.Bad.Arg", b"queued"))
    unheard = Announcement("$.Bad.Unheard")  # pointy: must outlive SEND
    if name == "SEND":
        k.write_msg(unheard)
    with raises_errno(errno.EFAULT):
        raw.ioctl(k.fileno(), raw.IOC[name], pointer)
    k.discard()
    # the Ksock is still perfectly usable
    assert k.ksock_id() >= 1
    sent = k.send_msg(Announcement("$.Bad.Arg", b"after"))
    assert util.drain(k)[-1].id == sent


@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_no_argument_ioctls_ignore_the_argument(
    ksock: KsockFactory, pointer: int
) -> None:
    k = ksock()
    assert raw.ioctl(k.fileno(), raw.IOC["RESET"], pointer) == 0
    assert raw.ioctl(k.fileno(), raw.IOC["DISCARD"], pointer) == 0


@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_flag_ioctls_with_bad_pointers_change_nothing(
    ksock: KsockFactory, pointer: int
) -> None:
    k = ksock()
    for name in (
        "MSGONLYONCE",
        "VERBOSE",
        "REPORTREPLIERBINDS",
        "MAXMSGSIZE",
        "MAXMSGS",
    ):
        with raises_errno(errno.EFAULT):
            raw.ioctl(k.fileno(), raw.IOC[name], pointer)
    assert k.want_messages_once(just_ask=True) == 0
    assert k.kernel_module_verbose(just_ask=True) == 0
    assert k.report_replier_binds(just_ask=True) == 0
    assert k.max_message_size() == raw.DEFAULT_MAX_MSG_SIZE
    assert k.max_messages() == raw.DEFAULT_MAX_MESSAGES


# --------------------------------------------------------------------------
# name pointers inside bind/query structures


@pytest.mark.parametrize("cmd", ["BIND", "UNBIND"])
@pytest.mark.parametrize("replier", [False, True], ids=["listener", "replier"])
@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_bad_name_pointer_in_bind_request_gives_efault(
    ksock: KsockFactory, cmd: str, replier: bool, pointer: int
) -> None:
    k = ksock()
    fn = raw.bind if cmd == "BIND" else raw.unbind
    with raises_errno(errno.EFAULT):
        fn(k.fileno(), b"$.Bad.Name", replier, name_ptr=pointer)
    assert util.binding_lines(0) == []


@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_bad_name_pointer_in_replier_query_gives_efault(
    ksock: KsockFactory, pointer: int
) -> None:
    with raises_errno(errno.EFAULT):
        raw.replier(ksock().fileno(), b"$.Bad.Name", name_ptr=pointer)


def test_bind_name_running_into_an_unmapped_page_gives_efault(
    ksock: KsockFactory,
) -> None:
    name = b"$.Bad.Edge"
    addr = raw.bytes_before_guard_page(name[:-3])
    with raises_errno(errno.EFAULT):
        raw.bind(ksock().fileno(), name, name_ptr=addr)


def test_bind_name_ending_at_an_unmapped_page_is_fine(ksock: KsockFactory) -> None:
    # BIND needs exactly name_len bytes, no NUL
    name = b"$.Good.Edge"
    addr = raw.bytes_before_guard_page(name)
    k = ksock()
    raw.bind(k.fileno(), name, name_ptr=addr)
    assert [line.split()[-1] for line in util.binding_lines(0)] == ["$.Good.Edge"]
    k.unbind("$.Good.Edge")


# --------------------------------------------------------------------------
# pointy name/data pointers (dereferenced only at SEND, §4.6)


@pytest.mark.parametrize("pointer", BAD_NON_NULL, ids=BAD_NON_NULL_IDS)
def test_pointy_bad_name_pointer_gives_efault_at_send(
    ksock: KsockFactory, pointer: int
) -> None:
    listener = ksock()
    listener.bind("$.Bad.Pointy")
    k = ksock()
    msg = raw.Pointy(b"$.Bad.Pointy", b"data", name_ptr=pointer)
    raw.write_all(k.fileno(), msg.pack())  # not dereferenced yet
    with raises_errno(errno.EFAULT):
        raw.send(k.fileno())
    with raises_errno(errno.ENOMSG):
        raw.send(k.fileno())
    assert listener.num_messages() == 0
    assert k.last_msg_id().serial_num == 0, "no id assigned"


@pytest.mark.parametrize("pointer", BAD_NON_NULL, ids=BAD_NON_NULL_IDS)
def test_pointy_bad_data_pointer_gives_efault_at_send(
    ksock: KsockFactory, pointer: int
) -> None:
    listener = ksock()
    listener.bind("$.Bad.Pointy")
    k = ksock()
    msg = raw.Pointy(b"$.Bad.Pointy", b"data", data_ptr=pointer)
    raw.write_all(k.fileno(), msg.pack())
    with raises_errno(errno.EFAULT):
        raw.send(k.fileno())
    with raises_errno(errno.ENOMSG):
        raw.send(k.fileno())
    assert listener.num_messages() == 0


def test_pointy_name_without_a_readable_nul_gives_efault(ksock: KsockFactory) -> None:
    # KBUS copies name_len + 1 bytes of a pointy name
    k = ksock()
    addr = raw.bytes_before_guard_page(b"$.Bad.NoNul")
    msg = raw.Pointy(b"$.Bad.NoNul", name_ptr=addr)
    raw.write_all(k.fileno(), msg.pack())
    with raises_errno(errno.EFAULT):
        raw.send(k.fileno())


def test_pointy_name_and_data_ending_at_an_unmapped_page_are_fine(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.Good.Edge")
    name_addr = raw.bytes_before_guard_page(b"$.Good.Edge\0")
    data_addr = raw.bytes_before_guard_page(b"xyz")  # 3 bytes: no padding read
    msg = raw.Pointy(b"$.Good.Edge", b"xyz", name_ptr=name_addr, data_ptr=data_addr)
    raw.write_all(k.fileno(), msg.pack())
    raw.send(k.fileno())
    got = util.one_msg(k)
    assert (got.name, got.data) == ("$.Good.Edge", b"xyz")


# --------------------------------------------------------------------------
# read/write buffers


@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_write_from_a_bad_buffer_gives_efault(
    ksock: KsockFactory, pointer: int
) -> None:
    listener = ksock()
    listener.bind("$.Bad.Write")
    k = ksock()
    buf = raw.entire_message(b"$.Bad.Write", b"data")
    raw.write_all(k.fileno(), buf[:20])
    with raises_errno(errno.EFAULT):
        raw.libc_write(k.fileno(), pointer, 40)
    # (a pointer outside the user address range, e.g. 0xdead0000 on 32-bit,
    # is refused by the VFS before KBUS sees the write)
    k.discard()
    raw.write_all(k.fileno(), buf)
    k.send()
    assert util.one_msg(listener).data == b"data"


@pytest.mark.parametrize("pointer", [0, 1], ids=["0x0", "0x1"])
def test_write_efault_discards_the_partial_message(
    ksock: KsockFactory, pointer: int
) -> None:
    # low addresses pass the VFS range check, so KBUS itself meets the fault
    listener = ksock()
    listener.bind("$.Bad.Write")
    k = ksock()
    buf = raw.entire_message(b"$.Bad.Write", b"data")
    raw.write_all(k.fileno(), buf[:20])
    with raises_errno(errno.EFAULT):
        raw.libc_write(k.fileno(), pointer, 40)
    with raises_errno(errno.ENOMSG):
        k.send()
    raw.write_all(k.fileno(), buf)
    k.send()
    assert util.one_msg(listener).data == b"data"


@pytest.mark.parametrize("pointer", BAD, ids=BAD_IDS)
def test_read_into_a_bad_buffer_gives_efault(ksock: KsockFactory, pointer: int) -> None:
    k = ksock()
    k.bind("$.Bad.Read")
    s = ksock()
    s.send_msg(Announcement("$.Bad.Read", b"one"))
    s.send_msg(Announcement("$.Bad.Read", b"two"))
    length = k.next_msg()
    assert length > 0
    with raises_errno(errno.EFAULT):
        raw.libc_read(k.fileno(), pointer, length)
    # still usable afterwards
    assert util.one_msg(k).data == b"two"


def test_read_into_a_buffer_running_into_an_unmapped_page(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Bad.Read")
    ksock().send_msg(Announcement("$.Bad.Read", b"edge"))
    length = k.next_msg()
    addr = raw.bytes_before_guard_page(b"\0" * 10)
    try:
        got = raw.libc_read(k.fileno(), addr, length)
    except OSError as exc:
        assert exc.errno == errno.EFAULT
    else:
        assert 0 <= got <= 10
    assert k.next_msg() == 0


@pytest.mark.parametrize("fits", [raw.HDR_LEN, raw.HDR_LEN + 3, 1])
def test_read_that_faults_part_way_consumes_nothing(
    ksock: KsockFactory, fits: int
) -> None:
    """The buffer holds the first ``fits`` bytes (the header, a little more,
    one byte), then an unmapped page: the read fails with EFAULT and the
    message stays where it was, so a good read gets it whole from byte 0.
    (Found by kbus-fuzz: the header part used to count as read.)"""
    k = ksock()
    k.bind("$.Bad.Read")
    ksock().send_msg(Announcement("$.Bad.Read", b"payload"))
    length = k.next_msg()
    assert length > fits
    addr = raw.bytes_before_guard_page(b"\xaa" * fits)
    with raises_errno(errno.EFAULT):
        raw.libc_read(k.fileno(), addr, length)
    assert k.len_left() == length
    msg = raw.parse_entire(raw.read_current(k.fileno(), length))
    assert (msg.name, msg.data) == (b"$.Bad.Read", b"payload")


def test_zero_length_read_returns_0_and_keeps_the_position(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Zero")
    ksock().send_msg(Announcement("$.Zero"))
    length = k.next_msg()
    assert os.read(k.fileno(), 0) == b""
    assert k.len_left() == length


# --------------------------------------------------------------------------
# Huge lengths


@pytest.mark.parametrize("length", [0x3E9, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_huge_bind_name_length_gives_enametoolong(
    ksock: KsockFactory, length: int
) -> None:
    fd = ksock().fileno()
    with raises_errno(errno.ENAMETOOLONG):
        raw.bind(fd, b"$.Short", name_len=length)
    with raises_errno(errno.ENAMETOOLONG):
        raw.unbind(fd, b"$.Short", name_len=length)
    with raises_errno(errno.ENAMETOOLONG):
        raw.replier(fd, b"$.Short", name_len=length)


@pytest.mark.parametrize("length", [0x3E9, 0x7FFFFFFF, 0xFFFFFFFF])
@pytest.mark.parametrize("form", ["pointy", "entire"])
def test_huge_header_name_length_gives_enametoolong(
    ksock: KsockFactory, length: int, form: str
) -> None:
    k = ksock()
    if form == "pointy":
        header = raw.Pointy(b"$.Short", name_len=length).pack()
    else:
        header = raw.entire_message(b"$.Short", name_len=length)[: raw.HDR_LEN]
    with raises_errno(errno.ENAMETOOLONG):
        os.write(k.fileno(), header)


@pytest.mark.parametrize(
    "length", [409601, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFC, 0xFFFFFFFD, 0xFFFFFFFF]
)
@pytest.mark.parametrize("form", ["pointy", "entire"])
def test_huge_data_length_gives_emsgsize(
    ksock: KsockFactory, length: int, form: str
) -> None:
    # KBUS_ENTIRE_MSG_LEN must not wrap around for huge data lengths
    k = ksock()
    if form == "pointy":
        header = raw.Pointy(b"$.Short", b"tiny", data_len=length).pack()
    else:
        header = raw.entire_message(b"$.Short", b"tiny", data_len=length)[: raw.HDR_LEN]
    with raises_errno(errno.EMSGSIZE):
        os.write(k.fileno(), header)
    with raises_errno(errno.ENOMSG):
        k.send()


def test_huge_name_and_data_lengths_together(ksock: KsockFactory) -> None:
    k = ksock()
    header = raw.entire_message(b"$.S", name_len=1000, data_len=0xFFFFFC00)[
        : raw.HDR_LEN
    ]
    with raises_errno(errno.EMSGSIZE):
        os.write(k.fileno(), header)


# --------------------------------------------------------------------------
# Garbage


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_garbage_is_rejected_and_the_ksock_recovers(
    ksock: KsockFactory, seed: int
) -> None:
    rng = random.Random(seed)
    listener = ksock()
    listener.bind("$.After.Garbage")
    k = ksock()
    garbage = bytes(rng.randrange(256) for _ in range(500))
    assert garbage[:4] != raw.START_GUARD.to_bytes(4, "little")
    with raises_errno(errno.EINVAL):
        raw.write_all(k.fileno(), garbage[: raw.HDR_LEN])
    for _ in range(5):
        with pytest.raises(OSError):
            os.write(k.fileno(), garbage)
    with pytest.raises(OSError):
        k.send()
    k.discard()
    k.send_msg(Announcement("$.After.Garbage"))
    assert listener.num_messages() == 1


def test_header_with_valid_guards_and_random_fields_never_oopses(
    ksock: KsockFactory,
) -> None:
    rng = random.Random(42)
    listener = ksock()
    listener.bind("$.*")
    k = ksock()
    for _ in range(200):
        hdr = raw.Header(
            id=(rng.choice([0, rng.getrandbits(32)]), rng.getrandbits(32)),
            in_reply_to=(rng.choice([0, 0, rng.getrandbits(32)]), rng.getrandbits(32)),
            to=rng.choice([0, rng.getrandbits(32)]),
            flags=rng.getrandbits(32),
            name_len=rng.choice([0, 3, 6, 1000, 1001, rng.getrandbits(32)]),
            data_len=rng.choice([0, 1, 7, rng.getrandbits(32)]),
            name=rng.choice([0, 1, raw.BAD_POINTERS[-1]]),
            data=rng.choice([0, 1, raw.BAD_POINTERS[-1]]),
        )
        try:
            raw.write_all(k.fileno(), hdr.pack())
            raw.write_all(
                k.fileno(), bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            )
            raw.send(k.fileno())
        except OSError:
            pass
        k.discard()
    util.drain(listener)
    k.send_msg(Announcement("$.Still.Fine"))
    assert util.one_msg(listener).name == "$.Still.Fine"


# --------------------------------------------------------------------------
# Closing in awkward states


def test_close_with_many_queued_messages(ksock: KsockFactory) -> None:
    k, s = ksock(), ksock()
    k.bind("$.Close.*")
    k.set_max_messages(300)
    for i in range(250):
        s.send_msg(Announcement(f"$.Close.N{i % 7}", b"x" * (i % 50)))
    k.close()


def test_close_with_unread_and_popped_requests_answers_every_requester(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Close.Q", replier=True)
    askers = [ksock() for _ in range(4)]
    ids = [a.send_msg(Request("$.Close.Q")) for a in askers]
    util.one_msg(replier)
    replier.next_msg()
    replier.close()
    for asker, req_id in zip(askers, ids, strict=True):
        status = util.one_msg(asker)
        assert status.in_reply_to == req_id
        assert status.name in (raw.NAME_GONEAWAY, raw.NAME_IGNORED)


def test_close_with_a_half_written_message(ksock: KsockFactory) -> None:
    k = ksock()
    buf = raw.entire_message(b"$.Close.Half", b"d" * 100)
    raw.write_all(k.fileno(), buf[: len(buf) // 2])
    k.close()


def test_close_with_a_half_written_header(ksock: KsockFactory) -> None:
    k = ksock()
    raw.write_all(k.fileno(), raw.entire_message(b"$.Close.Half")[:5])
    k.close()


def test_close_with_a_complete_unsent_pointy_message(ksock: KsockFactory) -> None:
    k = ksock()
    msg = raw.Pointy(b"$.Close.Pointy", b"data")
    raw.write_all(k.fileno(), msg.pack())
    k.close()


def test_close_with_a_partly_read_message(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Close.Read")
    ksock().send_msg(Announcement("$.Close.Read", b"r" * 100))
    k.next_msg()
    k.read_data(30)
    k.close()


def test_close_with_outstanding_requests(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Close.Q", replier=True)
    for _ in range(20):  # more than the initial id table size of 16
        asker.send_msg(Request("$.Close.Q"))
    req = util.one_msg(replier)
    asker.close()
    with raises_errno(errno.EADDRNOTAVAIL):
        replier.send_msg(reply_to(req))
    replier.close()


def test_close_in_sending_state(ksock: KsockFactory) -> None:
    full = ksock()
    full.bind("$.Close.Full")
    util.fill(full)
    s = ksock()
    msg = Announcement("$.Close.Full", flags=raw.ALL_OR_WAIT)  # kept alive
    s.write_msg(msg)
    with raises_errno(errno.EAGAIN):
        s.send()
    s.close()
    full.close()


def test_close_of_a_replier_with_many_bindings_and_reporting_on(
    ksock: KsockFactory,
) -> None:
    reporter, listener = ksock(), ksock()
    reporter.report_replier_binds(True)
    listener.bind(raw.NAME_BIND_EVENT)
    listener.set_max_messages(1000)
    r = ksock()
    for i in range(100):
        r.bind(f"$.Close.R{i}", replier=True)
        r.bind(f"$.Close.L{i}")
    r.close()
    assert listener.num_messages() == 200


def test_many_ksocks_opened_and_closed(ksock: KsockFactory) -> None:
    ks = [ksock() for _ in range(50)]
    for i, k in enumerate(ks):
        k.bind(f"$.Many.K{i}")
    for k in ks[::2]:
        k.close()
    for k in ks[1::2]:
        k.close()


def test_fd_shared_by_dup_stays_open_until_the_last_close(ksock: KsockFactory) -> None:
    k = ksock()
    kid = k.ksock_id()
    dup = os.dup(k.fileno())
    k.close()
    try:
        assert kid in util.ksock_ids_in_stats(0)
        assert raw.ksock_id(dup) == kid
    finally:
        os.close(dup)
    assert kid not in util.ksock_ids_in_stats(0)
