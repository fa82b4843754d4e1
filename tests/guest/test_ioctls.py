# SPDX-License-Identifier: MIT
"""Every ioctl of §6: numbering, arguments, return values and errnos."""

from __future__ import annotations

import ctypes
import errno

import pytest
from kbus import Announcement, Ksock, MessageId, Request, reply_to

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

# --------------------------------------------------------------------------
# §6.1 numbering


def test_abi_sizes_match_pointer_size() -> None:
    assert raw.HDR_LEN == (88 if ctypes.sizeof(ctypes.c_void_p) == 8 else 72)
    assert ctypes.sizeof(raw.BindRequest) == (16 if raw.LP64 else 12)
    assert ctypes.sizeof(raw.BindQuery) == (16 if raw.LP64 else 12)


@pytest.mark.parametrize("name", sorted(raw.IOCTL_SPECS))
def test_ioctl_number_matches_spec_table(name: str) -> None:
    assert raw.IOC[name] == raw.SPEC_IOCTL_VALUES[name]


@pytest.mark.parametrize("name", sorted(raw.IOCTL_SPECS))
def test_python_package_ioctl_constant_matches_spec_table(name: str) -> None:
    assert getattr(Ksock, f"IOC_{name}") == raw.SPEC_IOCTL_VALUES[name]


@pytest.mark.parametrize(
    "label,cmd",
    [
        ("number 0", raw.ioc(2, 0, raw.PTR_SIZE)),
        ("number 19 (past KBUS_IOC_MAXNR)", raw.ioc(2, 19, raw.PTR_SIZE)),
        ("number 0xFF", raw.ioc(3, 0xFF, raw.PTR_SIZE)),
        ("type 'j' instead of 'k'", raw.ioc(2, 4, raw.PTR_SIZE, magic=ord("j"))),
        ("KSOCKID with the other ABI's size", raw.IOC_OTHER_ABI["KSOCKID"]),
        ("BIND with the other ABI's size", raw.IOC_OTHER_ABI["BIND"]),
        ("MAXMSGSIZE with the other ABI's size", raw.IOC_OTHER_ABI["MAXMSGSIZE"]),
        (
            "KSOCKID with the real argument size 4",
            raw.ioc(2, 4, 4) if raw.LP64 else raw.ioc(2, 4, 8),
        ),
        ("KSOCKID encoded _IOW", raw.ioc(1, 4, raw.PTR_SIZE)),
        ("KSOCKID encoded _IO", raw.ioc(0, 4, 0)),
        ("BIND encoded _IOR", raw.ioc(2, 2, raw.PTR_SIZE)),
        ("RESET encoded _IOR", raw.ioc(2, 1, raw.PTR_SIZE)),
        ("DISCARD encoded _IOW", raw.ioc(1, 9, raw.PTR_SIZE)),
        ("MAXMSGS encoded _IOR", raw.ioc(2, 11, raw.PTR_SIZE)),
    ],
)
def test_ioctl_with_wrong_encoding_gives_enotty(
    ksock: KsockFactory, label: str, cmd: int
) -> None:
    k = ksock()
    arg = (ctypes.c_uint8 * 64)()  # a valid buffer, so EFAULT cannot apply
    with raises_errno(errno.ENOTTY):
        raw.ioctl(k.fileno(), cmd, arg)


def test_other_abi_values_differ_from_ours() -> None:
    # The size field is sizeof(char *): the two ABIs use different numbers
    # for every command that takes an argument (§6.1).
    for name in raw.POINTER_IOCTLS:
        assert raw.IOC_OTHER_ABI[name] != raw.IOC[name]


# --------------------------------------------------------------------------
# RESET (1)


def test_reset_does_nothing_and_returns_0(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Reset.Test")
    assert raw.ioctl(k.fileno(), raw.IOC["RESET"]) == 0
    assert raw.ioctl(k.fileno(), raw.IOC["RESET"], 0xDEAD0000) == 0
    assert util.binding_lines(0), "RESET must not remove bindings"


# --------------------------------------------------------------------------
# BIND (2) / UNBIND (3): basic success; the details are in test_bindings.py


def test_bind_and_unbind_return_0(ksock: KsockFactory) -> None:
    fd = ksock().fileno()
    assert raw.bind(fd, b"$.Bind.Test") == 0
    assert raw.bind(fd, b"$.Bind.Test", replier=True) == 0
    assert raw.unbind(fd, b"$.Bind.Test", replier=True) == 0
    assert raw.unbind(fd, b"$.Bind.Test") == 0


# --------------------------------------------------------------------------
# KSOCKID (4)


def test_ksock_ids_are_nonzero_and_distinct(ksock: KsockFactory) -> None:
    ids = [ksock().ksock_id() for _ in range(4)]
    assert all(i >= 1 for i in ids)
    assert len(set(ids)) == 4


def test_first_ksock_after_load_has_id_1(
    fresh_module: None, ksock: KsockFactory
) -> None:
    assert ksock().ksock_id() == 1
    assert ksock().ksock_id() == 2


def test_ksock_ids_are_not_reused_after_close(ksock: KsockFactory) -> None:
    a = ksock()
    first = a.ksock_id()
    a.close()
    b = ksock()
    assert b.ksock_id() == first + 1


def test_ksockid_ioctl_returns_0(ksock: KsockFactory) -> None:
    k = ksock()
    ret, value = raw.u32_ioctl(k.fileno(), "KSOCKID")
    assert ret == 0
    assert value == k.ksock_id()


# --------------------------------------------------------------------------
# REPLIER (5)


def test_replier_query_returns_1_and_the_replier_id(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Who.Answers", replier=True)
    q = ksock()
    assert raw.replier(q.fileno(), b"$.Who.Answers") == (1, r.ksock_id())
    assert q.find_replier("$.Who.Answers") == r.ksock_id()


def test_replier_query_returns_0_and_id_0_when_none(ksock: KsockFactory) -> None:
    q = ksock()
    assert raw.replier(q.fileno(), b"$.Nobody.Answers") == (0, 0)
    assert q.find_replier("$.Nobody.Answers") is None


def test_replier_query_ignores_listeners(ksock: KsockFactory) -> None:
    listener = ksock()
    listener.bind("$.Only.Listened")
    assert ksock().find_replier("$.Only.Listened") is None


def test_replier_query_is_exact_string_not_wildcard_resolution(
    ksock: KsockFactory,
) -> None:
    r = ksock()
    r.bind("$.Sensors.*", replier=True)
    q = ksock()
    assert q.find_replier("$.Sensors.Kitchen") is None
    assert q.find_replier("$.Sensors.*") == r.ksock_id()
    assert q.find_replier("$.Sensors.%") is None


def test_replier_query_accepts_bytes_and_str(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Str.Or.Bytes", replier=True)
    q = ksock()
    assert q.find_replier("$.Str.Or.Bytes") == r.ksock_id()
    assert q.find_replier(b"$.Str.Or.Bytes") == r.ksock_id()


@pytest.mark.parametrize("length", [0, raw.MAX_NAME_LEN + 1])
def test_replier_query_with_bad_length_gives_enametoolong(
    ksock: KsockFactory, length: int
) -> None:
    name = b"$." + b"a" * max(length - 2, 0)
    with raises_errno(errno.ENAMETOOLONG):
        raw.replier(ksock().fileno(), name, name_len=length)


def test_replier_query_does_not_validate_the_name(ksock: KsockFactory) -> None:
    q = ksock()
    for name in (b"Fred", b"$..x", b"$.a-b", b"$"):
        assert raw.replier(q.fileno(), name) == (0, 0)


def test_replier_query_accepts_a_1000_byte_name(ksock: KsockFactory) -> None:
    name = "$." + "n" * (raw.MAX_NAME_LEN - 2)
    r = ksock()
    r.bind(name, replier=True)
    assert ksock().find_replier(name) == r.ksock_id()


# --------------------------------------------------------------------------
# NEXTMSG (6)


def test_nextmsg_on_empty_queue_returns_0_and_length_0(ksock: KsockFactory) -> None:
    assert raw.nextmsg(ksock().fileno()) == (0, 0)


def test_nextmsg_returns_1_and_the_entire_length(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Next")
    k.send_msg(Announcement("$.Next", b"abc1234"))
    assert raw.nextmsg(k.fileno()) == (1, raw.entire_len(len("$.Next"), 7))
    assert raw.nextmsg(k.fileno()) == (0, 0)


def test_nextmsg_pops_even_if_never_read(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Next")
    k.send_msg(Announcement("$.Next", b"one"))
    k.send_msg(Announcement("$.Next", b"two"))
    assert k.num_messages() == 2
    assert k.next_msg() > 0
    assert k.num_messages() == 1
    msg = util.one_msg(k)
    assert msg.data == b"two"


def test_nextmsg_abandons_the_message_being_read(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Next")
    k.send_msg(Announcement("$.Next", b"first"))
    k.send_msg(Announcement("$.Next", b"second"))
    length = k.next_msg()
    assert len(k.read_data(10)) == 10
    assert k.len_left() == length - 10
    msg = util.one_msg(k)
    assert msg.data == b"second"
    assert k.read_data(10) == b""


# --------------------------------------------------------------------------
# LENLEFT (7) (every read position: test_readwrite.py)


def test_lenleft_is_0_without_a_current_message(ksock: KsockFactory) -> None:
    k = ksock()
    ret, value = raw.u32_ioctl(k.fileno(), "LENLEFT")
    assert (ret, value) == (0, 0)


def test_lenleft_after_nextmsg_is_the_whole_length(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Left")
    k.send_msg(Announcement("$.Left", b"xyz"))
    length = k.next_msg()
    assert k.len_left() == length
    k.read_data(length)
    assert k.len_left() == 0


# --------------------------------------------------------------------------
# SEND (8) (routing and errors: test_send.py, test_queues.py, test_requests.py)


def test_send_with_nothing_written_gives_enomsg(ksock: KsockFactory) -> None:
    with raises_errno(errno.ENOMSG):
        ksock().send()


def test_send_writes_the_new_id_and_returns_0(ksock: KsockFactory) -> None:
    k = ksock()
    raw.write_all(k.fileno(), raw.entire_message(b"$.Send.Id"))
    arg = raw.MsgId(0xFFFFFFFF, 0xFFFFFFFF)
    assert raw.ioctl(k.fileno(), raw.IOC["SEND"], arg) == 0
    assert arg.network_id == 0
    assert arg.serial_num != 0
    assert k.last_msg_id() == MessageId(0, arg.serial_num)


def test_send_ids_are_consecutive_serial_numbers(ksock: KsockFactory) -> None:
    k = ksock()
    a = k.send_msg(Announcement("$.Serial"))
    b = k.send_msg(Announcement("$.Serial"))
    c = ksock().send_msg(Announcement("$.Serial"))
    assert (a.network_id, b.network_id, c.network_id) == (0, 0, 0)
    assert b.serial_num == a.serial_num + 1
    assert c.serial_num == b.serial_num + 1


def test_first_message_after_load_has_id_0_1(
    fresh_module: None, ksock: KsockFactory
) -> None:
    assert ksock().send_msg(Announcement("$.First")) == MessageId(0, 1)


def test_send_twice_gives_enomsg_the_second_time(ksock: KsockFactory) -> None:
    k = ksock()
    k.send_msg(Announcement("$.Once"))
    with raises_errno(errno.ENOMSG):
        k.send()


# --------------------------------------------------------------------------
# DISCARD (9)


def test_discard_with_nothing_written_succeeds(ksock: KsockFactory) -> None:
    k = ksock()
    assert raw.ioctl(k.fileno(), raw.IOC["DISCARD"]) == 0
    k.discard()


def test_discard_drops_a_complete_unsent_message(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Discarded")
    msg = Announcement("$.Discarded")
    k.write_msg(msg)
    k.discard()
    with raises_errno(errno.ENOMSG):
        k.send()
    assert k.num_messages() == 0


def test_discard_drops_a_partly_written_message(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Discarded")
    msg = raw.entire_message(b"$.Discarded", b"data")
    raw.write_all(k.fileno(), msg[:30])
    k.discard()
    with raises_errno(errno.ENOMSG):
        k.send()
    # the next write starts a new message
    raw.write_all(k.fileno(), msg)
    k.send()
    assert util.one_msg(k).data == b"data"


def test_discard_does_not_affect_the_message_being_read(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Reading")
    k.send_msg(Announcement("$.Reading", b"keep me"))
    length = k.next_msg()
    first = k.read_data(5)
    other = Announcement("$.Other")
    k.write_msg(other)
    k.discard()
    assert k.len_left() == length - 5
    rest = k.read_data(length)
    assert raw.parse_entire(first + rest).data == b"keep me"


# --------------------------------------------------------------------------
# LASTSENT (10)


def test_lastsent_is_0_0_before_any_send(ksock: KsockFactory) -> None:
    k = ksock()
    assert raw.lastsent(k.fileno()) == (0, 0)
    assert k.last_msg_id() == MessageId(0, 0)


def test_lastsent_reports_the_last_sent_id(ksock: KsockFactory) -> None:
    k = ksock()
    k.send_msg(Announcement("$.Last"))
    second = k.send_msg(Announcement("$.Last"))
    assert k.last_msg_id() == second


def test_lastsent_is_per_ksock(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    sent = a.send_msg(Announcement("$.Last"))
    assert b.last_msg_id() == MessageId(0, 0)
    assert a.last_msg_id() == sent


def test_lastsent_is_updated_by_a_send_failing_after_id_assignment(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    before = k.send_msg(Announcement("$.Last"))
    with raises_errno(errno.EADDRNOTAVAIL):
        k.send_msg(Request("$.Last.Nobody.Replies"))
    assert k.last_msg_id() == before + 1


# --------------------------------------------------------------------------
# MAXMSGS (11)


def test_max_messages_defaults_to_100(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.max_messages() == raw.DEFAULT_MAX_MESSAGES
    assert raw.maxmsgs(k.fileno(), 0) == raw.DEFAULT_MAX_MESSAGES


def test_set_max_messages_returns_the_new_limit(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.set_max_messages(7) == 7
    assert k.max_messages() == 7
    assert k.set_max_messages(0) == 7


@pytest.mark.parametrize("value", [1, 1000, 0x7FFFFFFF, 0xFFFFFFFF])
def test_max_messages_accepts_any_nonzero_u32(ksock: KsockFactory, value: int) -> None:
    k = ksock()
    assert k.set_max_messages(value) == value
    assert k.max_messages() == value


def test_max_messages_is_per_ksock(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.set_max_messages(3)
    assert b.max_messages() == raw.DEFAULT_MAX_MESSAGES


# --------------------------------------------------------------------------
# NUMMSGS (12)


def test_nummsgs_counts_queued_messages(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.num_messages() == 0
    k.bind("$.Count")
    for i in range(3):
        k.send_msg(Announcement("$.Count"))
        assert k.num_messages() == i + 1
    k.next_msg()
    assert k.num_messages() == 2


# --------------------------------------------------------------------------
# UNREPLIEDTO (13)


def test_unrepliedto_counts_popped_requests_until_replied(ksock: KsockFactory) -> None:
    replier, asker = ksock(), ksock()
    replier.bind("$.Owed", replier=True)
    asker.send_msg(Request("$.Owed"))
    asker.send_msg(Request("$.Owed"))
    assert replier.num_unreplied_to() == 0  # queued, not yet popped
    first = util.one_msg(replier)
    assert replier.num_unreplied_to() == 1
    assert replier.next_msg() > 0  # popped but not read: still owed
    assert replier.num_unreplied_to() == 2
    replier.send_msg(reply_to(first))
    assert replier.num_unreplied_to() == 1


def test_unrepliedto_ignores_requests_received_as_listener(ksock: KsockFactory) -> None:
    replier, listener, asker = ksock(), ksock(), ksock()
    replier.bind("$.Owed", replier=True)
    listener.bind("$.Owed")
    asker.send_msg(Request("$.Owed"))
    util.one_msg(listener)
    assert listener.num_unreplied_to() == 0


# --------------------------------------------------------------------------
# MSGONLYONCE (14), VERBOSE (15), REPORTREPLIERBINDS (17): the 0/1/query
# convention


FLAG_IOCTLS = ["MSGONLYONCE", "VERBOSE", "REPORTREPLIERBINDS"]


@pytest.mark.parametrize("name", FLAG_IOCTLS)
def test_flag_ioctl_returns_previous_state(ksock: KsockFactory, name: str) -> None:
    fd = ksock().fileno()
    assert raw.u32_ioctl(fd, name, raw.QUERY) == (0, 0)
    assert raw.u32_ioctl(fd, name, 1) == (0, 0)
    assert raw.u32_ioctl(fd, name, raw.QUERY) == (0, 1)
    assert raw.u32_ioctl(fd, name, 1) == (0, 1)
    assert raw.u32_ioctl(fd, name, 0) == (0, 1)
    assert raw.u32_ioctl(fd, name, 0) == (0, 0)
    assert raw.u32_ioctl(fd, name, raw.QUERY) == (0, 0)


@pytest.mark.parametrize("name", FLAG_IOCTLS)
@pytest.mark.parametrize("value", [2, 3, 0x100, 0x7FFFFFFF, 0xFFFFFFFE])
def test_flag_ioctl_rejects_other_values_with_einval(
    ksock: KsockFactory, name: str, value: int
) -> None:
    fd = ksock().fileno()
    with raises_errno(errno.EINVAL):
        raw.u32_ioctl(fd, name, value)
    assert raw.u32_ioctl(fd, name, raw.QUERY)[1] == 0


def test_msgonlyonce_is_per_ksock(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    assert a.want_messages_once(True) == 0
    assert a.want_messages_once(just_ask=True) == 1
    assert b.want_messages_once(just_ask=True) == 0


def test_verbose_is_per_device(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    assert a.kernel_module_verbose(True) == 0
    assert b.kernel_module_verbose(just_ask=True) == 1
    assert b.kernel_module_verbose(False) == 1
    assert a.kernel_module_verbose(just_ask=True) == 0


def test_verbose_has_no_functional_effect(ksock: KsockFactory) -> None:
    a = ksock()
    a.kernel_module_verbose(True)
    a.bind("$.Verbose")
    sent = a.send_msg(Announcement("$.Verbose", b"v"))
    msg = util.one_msg(a)
    assert (msg.id, msg.data) == (sent, b"v")


def test_report_replier_binds_is_per_device(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    assert a.report_replier_binds(True) == 0
    assert b.report_replier_binds(just_ask=True) == 1
    assert b.report_replier_binds(False) == 1
    assert a.report_replier_binds(just_ask=True) == 0


def test_report_replier_binds_is_off_after_load(
    fresh_module: None, ksock: KsockFactory
) -> None:
    assert ksock().report_replier_binds(just_ask=True) == 0


def test_verbose_is_off_after_load(fresh_module: None, ksock: KsockFactory) -> None:
    assert ksock().kernel_module_verbose(just_ask=True) == 0


# --------------------------------------------------------------------------
# MAXMSGSIZE (18)


def test_max_message_size_defaults_to_409600(
    fresh_module: None, ksock: KsockFactory
) -> None:
    k = ksock()
    assert k.max_message_size() == raw.DEFAULT_MAX_MSG_SIZE
    assert raw.maxmsgsize(k.fileno(), 0) == raw.DEFAULT_MAX_MSG_SIZE


def test_max_message_size_1_queries_the_absolute_maximum(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.set_max_message_size(1) == raw.ABS_MAX_MSG_SIZE
    k.set_max_message_size(200)
    assert k.set_max_message_size(1) == raw.ABS_MAX_MSG_SIZE
    assert k.max_message_size() == 200


@pytest.mark.parametrize(
    "value", [100, 101, 1000, raw.ABS_MAX_MSG_SIZE - 1, raw.ABS_MAX_MSG_SIZE]
)
def test_max_message_size_can_be_set_from_100_to_absolute(
    ksock: KsockFactory, value: int
) -> None:
    k = ksock()
    assert k.set_max_message_size(value) == value
    assert k.max_message_size() == value


@pytest.mark.parametrize("value", [2, 50, 99, raw.ABS_MAX_MSG_SIZE + 1, 0xFFFFFFFF])
def test_max_message_size_outside_range_gives_einval(
    ksock: KsockFactory, value: int
) -> None:
    k = ksock()
    before = k.max_message_size()
    with raises_errno(errno.EINVAL):
        k.set_max_message_size(value)
    assert k.max_message_size() == before


def test_max_message_size_is_per_device(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.set_max_message_size(300)
    assert b.max_message_size() == 300
