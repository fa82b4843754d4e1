# SPDX-License-Identifier: MIT
"""Message names: syntax (§3.1), length limits (§3.2), wildcard matching
(§3.3), reserved names (§3.4)."""

from __future__ import annotations

import errno

import pytest
from kbus import Announcement, Request

import kbus_raw as raw
from kbus_util import KsockFactory, raises_errno

# §3.1 examples
VALID_NAMES = [
    "$.Fred",
    "$.Fred.Jim",
    "$.Sensors.*",
    "$.Sensors.%",
    "$.*",
    "$.%",
    "$.a1.B2",
]
VALID_SENDABLE = [
    "$.Fred",
    "$.Fred.Jim",
    "$.a1.B2",
    "$.X",
    "$.A.B.C.D.E",
    "$.0",
    "$.9z",
]
INVALID_NAMES = [
    "",
    "$",
    "$x",
    "Fred",
    "$.",
    "$.Fred.",
    "$.Fred..Jim",
    "$.#",
    "$.Fred*",
    "$.*.Fred",
    "$..*",
]
# more consequences of the algorithm
INVALID_MORE = [
    "$$.Fred",
    ".$.Fred",
    "$..Fred",
    "$.Fred-Jim",
    "$.Fred_Jim",
    "$.Fred Jim",
    "$.Fred.*.*",
    "$.%.Fred",
    "$.Fred.%%",
    "$.Fred.**",
    "$.*%",
    "$.Fred\0",
    "$.Fr\0ed",
    "$.Fred/Jim",
    "$.Fred.Jim..*",
    "$.Fred.Jim.",
    "$.*.",
    "$.\u00e9t\u00e9",  # UTF-8 (continuation bytes are never alphanumeric)
]
INVALID_ALL = INVALID_NAMES + INVALID_MORE
NON_EMPTY_INVALID = [n for n in INVALID_ALL if n]
WILDCARDS = ["$.*", "$.%", "$.Fred.*", "$.Fred.%", "$.a.b.c.*"]


def _b(name: str) -> bytes:
    return name.encode("utf-8")


# --------------------------------------------------------------------------
# BIND / UNBIND


@pytest.mark.parametrize("name", VALID_NAMES)
@pytest.mark.parametrize("replier", [False, True], ids=["listener", "replier"])
def test_bind_valid_name_succeeds(
    ksock: KsockFactory, name: str, replier: bool
) -> None:
    k = ksock()
    k.bind(name, replier=replier)
    k.unbind(name, replier=replier)


@pytest.mark.parametrize("name", NON_EMPTY_INVALID)
@pytest.mark.parametrize("replier", [False, True], ids=["listener", "replier"])
def test_bind_invalid_name_gives_ebadmsg(
    ksock: KsockFactory, name: str, replier: bool
) -> None:
    with raises_errno(errno.EBADMSG):
        raw.bind(ksock().fileno(), _b(name), replier)


@pytest.mark.parametrize("name", NON_EMPTY_INVALID)
def test_unbind_invalid_name_gives_ebadmsg(ksock: KsockFactory, name: str) -> None:
    with raises_errno(errno.EBADMSG):
        raw.unbind(ksock().fileno(), _b(name))


def test_bind_zero_length_name_gives_ebadmsg(ksock: KsockFactory) -> None:
    fd = ksock().fileno()
    with raises_errno(errno.EBADMSG):
        raw.bind(fd, b"", name_len=0)
    with raises_errno(errno.EBADMSG):
        raw.bind(fd, b"$.Fred", name_len=0)


def test_unbind_zero_length_name_gives_ebadmsg(ksock: KsockFactory) -> None:
    with raises_errno(errno.EBADMSG):
        raw.unbind(ksock().fileno(), b"$.Fred", name_len=0)


def test_bind_uses_name_len_not_the_nul(ksock: KsockFactory) -> None:
    # the name need not be NUL-terminated: only name_len bytes count
    k = ksock()
    assert raw.bind(k.fileno(), b"$.Fred.Jim", name_len=6) == 0
    k.send_msg(Announcement("$.Fred"))
    k.send_msg(Announcement("$.Fred.Jim"))
    msgs = [m.name for m in iter(k)]
    assert msgs == ["$.Fred"]
    k.unbind("$.Fred")


def test_bind_1000_byte_name_succeeds(ksock: KsockFactory) -> None:
    name = "$." + "a" * (raw.MAX_NAME_LEN - 2)
    k = ksock()
    k.bind(name)
    k.bind(name, replier=True)
    k.unbind(name, replier=True)
    k.unbind(name)


def test_bind_1001_byte_name_gives_enametoolong(ksock: KsockFactory) -> None:
    name = "$." + "a" * (raw.MAX_NAME_LEN - 1)
    with raises_errno(errno.ENAMETOOLONG):
        ksock().bind(name)


def test_unbind_1001_byte_name_gives_enametoolong(ksock: KsockFactory) -> None:
    name = "$." + "a" * (raw.MAX_NAME_LEN - 1)
    with raises_errno(errno.ENAMETOOLONG):
        ksock().unbind(name)


def test_bind_long_invalid_name_reports_length_before_syntax(
    ksock: KsockFactory,
) -> None:
    with raises_errno(errno.ENAMETOOLONG):
        raw.bind(ksock().fileno(), b"#" * (raw.MAX_NAME_LEN + 1))


def test_names_are_case_sensitive(ksock: KsockFactory) -> None:
    r1, r2 = ksock(), ksock()
    r1.bind("$.Fred", replier=True)
    r2.bind("$.fred", replier=True)  # a different name: no EADDRINUSE
    assert ksock().find_replier("$.FRED") is None


# --------------------------------------------------------------------------
# Sending: entire form (validated at write) and pointy (validated at SEND)


@pytest.mark.parametrize("name", VALID_SENDABLE)
def test_send_valid_name_succeeds(ksock: KsockFactory, name: str) -> None:
    k = ksock()
    k.bind(name)
    k.send_msg(Announcement(name))
    msg = k.read_next_msg()
    assert msg is not None and msg.name == name


@pytest.mark.parametrize("name", WILDCARDS)
def test_send_wildcard_name_entire_gives_ebadmsg_at_write(
    ksock: KsockFactory, name: str
) -> None:
    k = ksock()
    with raises_errno(errno.EBADMSG):
        raw.write_all(k.fileno(), raw.entire_message(_b(name)))
    with raises_errno(errno.ENOMSG):
        k.send()


@pytest.mark.parametrize("name", WILDCARDS)
def test_send_wildcard_name_pointy_gives_ebadmsg_at_send(
    ksock: KsockFactory, name: str
) -> None:
    k = ksock()
    msg = raw.Pointy(_b(name))
    raw.write_all(k.fileno(), msg.pack())
    with raises_errno(errno.EBADMSG):
        raw.send(k.fileno())
    with raises_errno(errno.ENOMSG):
        raw.send(k.fileno())


@pytest.mark.parametrize("name", NON_EMPTY_INVALID)
def test_send_invalid_name_entire_gives_ebadmsg_at_write(
    ksock: KsockFactory, name: str
) -> None:
    k = ksock()
    with raises_errno(errno.EBADMSG):
        raw.write_all(k.fileno(), raw.entire_message(_b(name), b"data"))
    with raises_errno(errno.ENOMSG):
        k.send()


@pytest.mark.parametrize("name", NON_EMPTY_INVALID)
def test_send_invalid_name_pointy_gives_ebadmsg_at_send(
    ksock: KsockFactory, name: str
) -> None:
    k = ksock()
    msg = raw.Pointy(_b(name), b"data")
    raw.write_all(k.fileno(), msg.pack())  # pointy: complete after the header
    with raises_errno(errno.EBADMSG):
        raw.send(k.fileno())
    with raises_errno(errno.ENOMSG):
        raw.send(k.fileno())


def test_send_invalid_request_name_gives_ebadmsg_not_eaddrnotavail(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    msg = raw.Pointy(b"$.Bad..Name", flags=raw.WANT_A_REPLY)
    raw.write_all(k.fileno(), msg.pack())
    with raises_errno(errno.EBADMSG):
        raw.send(k.fileno())


def test_entire_message_invalid_name_fails_on_its_last_name_byte(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    buf = raw.entire_message(b"$.Fred.", b"")
    end_of_name = raw.HDR_LEN + len(b"$.Fred.")
    raw.write_all(k.fileno(), buf[: end_of_name - 1])
    with raises_errno(errno.EBADMSG):
        raw.write_all(k.fileno(), buf[end_of_name - 1 : end_of_name])


def test_header_with_zero_name_len_gives_einval(ksock: KsockFactory) -> None:
    k = ksock()
    with raises_errno(errno.EINVAL):
        raw.write_all(
            k.fileno(), raw.entire_message(b"$.Fred", name_len=0)[: raw.HDR_LEN]
        )
    msg = raw.Pointy(b"$.Fred", name_len=0)
    with raises_errno(errno.EINVAL):
        raw.write_all(k.fileno(), msg.pack())


def test_send_1000_byte_name_succeeds(ksock: KsockFactory) -> None:
    name = "$." + "b" * (raw.MAX_NAME_LEN - 2)
    k = ksock()
    k.bind(name)
    k.send_msg(Announcement(name, b"x"))
    msg = k.read_next_msg()
    assert msg is not None and msg.name == name


def test_send_1001_byte_name_gives_enametoolong_pointy(ksock: KsockFactory) -> None:
    name = b"$." + b"b" * (raw.MAX_NAME_LEN - 1)
    k = ksock()
    with raises_errno(errno.ENAMETOOLONG):
        raw.write_all(k.fileno(), raw.Pointy(name).pack())


def test_send_1001_byte_name_gives_enametoolong_entire(ksock: KsockFactory) -> None:
    name = b"$." + b"b" * (raw.MAX_NAME_LEN - 1)
    k = ksock()
    with raises_errno(errno.ENAMETOOLONG):
        raw.write_all(k.fileno(), raw.entire_message(name)[: raw.HDR_LEN])


# --------------------------------------------------------------------------
# §3.3 wildcard matching

MATCHES = [
    ("$.Sensors.*", "$.Sensors.Kitchen", True),
    ("$.Sensors.*", "$.Sensors.Kitchen.Toaster", True),
    ("$.Sensors.*", "$.Sensors", False),
    ("$.Sensors.*", "$.SensorsX.Kitchen", False),
    ("$.Sensors.*", "$.Sensor.Kitchen", False),
    ("$.Sensors.*", "$.sensors.Kitchen", False),
    ("$.Sensors.*", "$.Other.Sensors.Kitchen", False),
    ("$.Sensors.%", "$.Sensors.Kitchen", True),
    ("$.Sensors.%", "$.Sensors.K", True),
    ("$.Sensors.%", "$.Sensors.Kitchen.Toaster", False),
    ("$.Sensors.%", "$.Sensors", False),
    ("$.Sensors.%", "$.SensorsX", False),
    ("$.*", "$.A", True),
    ("$.*", "$.Sensors.Kitchen.Toaster", True),
    ("$.*", "$.Anything.At.All", True),
    ("$.%", "$.A", True),
    ("$.%", "$.Sensors", True),
    ("$.%", "$.Sensors.Kitchen", False),
    ("$.Fred", "$.Fred", True),
    ("$.Fred", "$.Fred.Jim", False),
    ("$.Fred", "$.Fre", False),
    ("$.Fred", "$.FredJim", False),
    ("$.Fred", "$.fred", False),
    ("$.a.b.*", "$.a.b.c", True),
    ("$.a.b.*", "$.a.bc", False),
    ("$.a.b.%", "$.a.b.c.d", False),
]


@pytest.mark.parametrize("binding,name,expected", MATCHES)
def test_listener_wildcard_matching(
    ksock: KsockFactory, binding: str, name: str, expected: bool
) -> None:
    listener, sender = ksock(), ksock()
    listener.bind(binding)
    sender.send_msg(Announcement(name))
    got = [m.name for m in iter(listener)]
    assert got == ([name] if expected else [])


@pytest.mark.parametrize("binding,name,expected", MATCHES)
def test_replier_wildcard_matching(
    ksock: KsockFactory, binding: str, name: str, expected: bool
) -> None:
    replier, sender = ksock(), ksock()
    replier.bind(binding, replier=True)
    if expected:
        sender.send_msg(Request(name))
        msg = replier.read_next_msg()
        assert msg is not None and msg.name == name and msg.wants_us_to_reply()
    else:
        with raises_errno(errno.EADDRNOTAVAIL):
            sender.send_msg(Request(name))
        assert replier.num_messages() == 0


# --------------------------------------------------------------------------
# §3.4 reserved names


def test_bind_replier_bind_event_as_replier_gives_ebadmsg(ksock: KsockFactory) -> None:
    with raises_errno(errno.EBADMSG):
        ksock().bind(raw.NAME_BIND_EVENT, replier=True)


def test_bind_replier_bind_event_as_listener_succeeds(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind(raw.NAME_BIND_EVENT)
    k.unbind(raw.NAME_BIND_EVENT)


def test_other_kbus_names_are_kbus_s_own(ksock: KsockFactory) -> None:
    """The original let clients use other $.KBUS. names; here they are
    reserved (test_policy.py), so that nobody can forge what KBUS says. They
    may still be listened to."""
    k = ksock()
    with raises_errno(errno.EPERM):
        k.bind("$.KBUS.Mine", replier=True)
    k.bind("$.KBUS.Mine")
    with raises_errno(errno.EPERM):
        k.send_msg(Announcement("$.KBUS.Mine"))
    assert k.num_messages() == 0
