# SPDX-License-Identifier: MIT
"""Host unit tests for the pure-Python ``kbus`` package (no kernel module needed).

Run with ``python3 -m pytest tests/unit`` from the repository root; the
``conftest.py`` next to this file puts ``package/kbus/python`` on the path.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import kbus
from kbus import (
    MSG_HEADER_LEN,
    Announcement,
    BindStruct,
    Ksock,
    Message,
    MessageId,
    OrigFrom,
    ReplierStruct,
    Reply,
    Request,
    SendResultStruct,
    Status,
    abi,
    c_data_as_bytes,
    calc_entire_message_len,
    calc_padded_data_len,
    calc_padded_name_len,
    hexdata,
    hexify,
    message_from_parts,
    read_bindings,
    reply_to,
    split_replier_bind_event_data,
    stateful_request,
)
from kbus.messages import _header_fields, _MessageHeaderStruct

POINTER_SIZE = ctypes.sizeof(ctypes.c_char_p)
LP64 = POINTER_SIZE == 8

# ---------------------------------------------------------------------------
# Spec tables

# §4.4: field -> (offset LP64, offset ILP32)
HEADER_OFFSETS: dict[str, tuple[int, int]] = {
    "start_guard": (0, 0),
    "id": (4, 4),
    "in_reply_to": (12, 12),
    "to": (20, 20),
    "from_": (24, 24),
    "orig_from": (28, 28),
    "final_to": (36, 36),
    "extra": (44, 44),
    "flags": (48, 48),
    "name_len": (52, 52),
    "data_len": (56, 56),
    "name": (64, 60),
    "data": (72, 64),
    "end_guard": (80, 68),
}

# §6.1: name -> (value LP64, value ILP32)
IOCTL_TABLE: dict[str, tuple[int, int]] = {
    "RESET": (0x00006B01, 0x00006B01),
    "BIND": (0x40086B02, 0x40046B02),
    "UNBIND": (0x40086B03, 0x40046B03),
    "KSOCKID": (0x80086B04, 0x80046B04),
    "REPLIER": (0xC0086B05, 0xC0046B05),
    "NEXTMSG": (0x80086B06, 0x80046B06),
    "LENLEFT": (0x80086B07, 0x80046B07),
    "SEND": (0x80086B08, 0x80046B08),
    "DISCARD": (0x00006B09, 0x00006B09),
    "LASTSENT": (0x80086B0A, 0x80046B0A),
    "MAXMSGS": (0xC0086B0B, 0xC0046B0B),
    "NUMMSGS": (0x80086B0C, 0x80046B0C),
    "UNREPLIEDTO": (0x80086B0D, 0x80046B0D),
    "MSGONLYONCE": (0xC0086B0E, 0xC0046B0E),
    "VERBOSE": (0xC0086B0F, 0xC0046B0F),
    "NEWDEVICE": (0x80086B10, 0x80046B10),
    "REPORTREPLIERBINDS": (0xC0086B11, 0xC0046B11),
    "MAXMSGSIZE": (0xC0086B12, 0xC0046B12),
}

# (macro, nr, direction) with direction 0 = _IO, 1 = _IOW, 2 = _IOR, 3 = _IOWR
IOCTL_MACROS: dict[str, tuple[int, int]] = {
    "RESET": (1, 0),
    "BIND": (2, 1),
    "UNBIND": (3, 1),
    "KSOCKID": (4, 2),
    "REPLIER": (5, 3),
    "NEXTMSG": (6, 2),
    "LENLEFT": (7, 2),
    "SEND": (8, 2),
    "DISCARD": (9, 0),
    "LASTSENT": (10, 2),
    "MAXMSGS": (11, 3),
    "NUMMSGS": (12, 2),
    "UNREPLIEDTO": (13, 2),
    "MSGONLYONCE": (14, 3),
    "VERBOSE": (15, 3),
    "NEWDEVICE": (16, 2),
    "REPORTREPLIERBINDS": (17, 3),
    "MAXMSGSIZE": (18, 3),
}


def _header_type(pointer_type: Any) -> type[ctypes.Structure]:
    """The message header laid out with the given pointer-sized ctypes type."""
    return type("SimHeader", (ctypes.Structure,), {"_fields_": _header_fields(pointer_type)})


def _offset(cls: type, field: str) -> int:
    """Offset of a ctypes structure field (class attributes are CField objects)."""
    return int(getattr(cls, field).offset)


def _bind_event_data(is_bind: int, binder: int, name: bytes) -> bytes:
    padded = name + b"\0" * (calc_padded_name_len(len(name)) - len(name))
    return struct.pack("=III", is_bind, binder, len(name)) + padded


def _status_bytes(**kwargs: Any) -> bytes:
    return Message(**kwargs).to_bytes()


# ---------------------------------------------------------------------------
# ABI: sizes, offsets, constants, ioctl numbers


def test_header_size_running_abi() -> None:
    assert MSG_HEADER_LEN == ctypes.sizeof(_MessageHeaderStruct)
    assert MSG_HEADER_LEN == (88 if LP64 else 72)


@pytest.mark.parametrize("field", sorted(HEADER_OFFSETS))
def test_header_field_offsets_running_abi(field: str) -> None:
    lp64, ilp32 = HEADER_OFFSETS[field]
    offset = _offset(_MessageHeaderStruct, field)
    assert offset == (lp64 if LP64 else ilp32)


def test_header_layout_ilp32_simulated() -> None:
    # On i386/32-bit ARM a pointer is a 4-byte, 4-aligned quantity.
    hdr = _header_type(ctypes.c_uint32)
    assert ctypes.sizeof(hdr) == 72
    for field, (_, ilp32) in HEADER_OFFSETS.items():
        assert _offset(hdr, field) == ilp32, field


@pytest.mark.skipif(ctypes.alignment(ctypes.c_uint64) != 8, reason="needs 8-aligned u64")
def test_header_layout_lp64_simulated() -> None:
    hdr = _header_type(ctypes.c_uint64)
    assert ctypes.sizeof(hdr) == 88
    for field, (lp64, _) in HEADER_OFFSETS.items():
        assert _offset(hdr, field) == lp64, field


def test_id_structures_layout() -> None:
    for cls in (MessageId, OrigFrom):
        assert ctypes.sizeof(cls) == 8
        assert ctypes.alignment(cls) == 4
    assert _offset(MessageId, "network_id") == 0
    assert _offset(MessageId, "serial_num") == 4
    assert _offset(OrigFrom, "network_id") == 0
    assert _offset(OrigFrom, "local_id") == 4


def test_argument_structures_layout() -> None:
    for cls in (BindStruct, ReplierStruct):
        assert ctypes.sizeof(cls) == (16 if LP64 else 12)
        assert _offset(cls, "len") == 4
        assert _offset(cls, "name") == 8
    assert _offset(BindStruct, "is_replier") == 0
    assert _offset(ReplierStruct, "return_id") == 0
    assert _offset(SendResultStruct, "retval") == 0
    assert _offset(SendResultStruct, "msg_id") == 4


def test_constants() -> None:
    assert abi.KBUS_MSG_START_GUARD == 0x7375624B
    assert abi.KBUS_MSG_END_GUARD == 0x4B627573
    assert struct.pack("<I", abi.KBUS_MSG_START_GUARD) == b"Kbus"
    assert struct.pack("<I", abi.KBUS_MSG_END_GUARD) == b"subK"
    assert abi.KBUS_MAX_NAME_LEN == 1000
    assert abi.KBUS_IOC_MAGIC == "k"
    assert abi.KBUS_IOC_MAXNR == 18
    assert (
        abi.KBUS_BIT_WANT_A_REPLY,
        abi.KBUS_BIT_WANT_YOU_TO_REPLY,
        abi.KBUS_BIT_SYNTHETIC,
        abi.KBUS_BIT_URGENT,
        abi.KBUS_BIT_ALL_OR_WAIT,
        abi.KBUS_BIT_ALL_OR_FAIL,
    ) == (0x1, 0x2, 0x4, 0x8, 0x100, 0x200)
    assert Message.START_GUARD == 0x7375624B
    assert Message.END_GUARD == 0x4B627573
    assert (
        Message.WANT_A_REPLY,
        Message.WANT_YOU_TO_REPLY,
        Message.SYNTHETIC,
        Message.URGENT,
        Message.ALL_OR_WAIT,
        Message.ALL_OR_FAIL,
    ) == (1, 2, 4, 8, 0x100, 0x200)
    assert abi.KBUS_MSG_NAME_REPLIER_GONEAWAY == "$.KBUS.Replier.GoneAway"
    assert abi.KBUS_MSG_NAME_REPLIER_IGNORED == "$.KBUS.Replier.Ignored"
    assert abi.KBUS_MSG_NAME_REPLIER_UNBOUND == "$.KBUS.Replier.Unbound"
    assert abi.KBUS_MSG_NAME_REPLIER_DISAPPEARED == "$.KBUS.Replier.Disappeared"
    assert abi.KBUS_MSG_NAME_ERROR_SENDING == "$.KBUS.ErrorSending"
    assert abi.KBUS_MSG_NAME_UNBIND_EVENTS_LOST == "$.KBUS.UnbindEventsLost"
    assert abi.KBUS_MSG_NAME_REPLIER_BIND_EVENT == "$.KBUS.ReplierBindEvent"
    assert abi.KBUS_MSG_NOT_SAME_KSOCK == "$.KBUS.Replier.NotSameKsock"
    assert abi.KBUS_MSG_REMOTE_ERROR_PREFIX == "$.KBUS.RemoteError."


@pytest.mark.parametrize("pointer_size", [8, 4])
@pytest.mark.parametrize("command", sorted(IOCTL_TABLE))
def test_ioc_helper_against_spec_table(pointer_size: int, command: str) -> None:
    lp64, ilp32 = IOCTL_TABLE[command]
    expected = lp64 if pointer_size == 8 else ilp32
    nr, direction = IOCTL_MACROS[command]
    size = 0 if direction == 0 else pointer_size
    assert abi._IOC(direction, "k", nr, size) == expected
    assert abi._IOC(direction, 0x6B, nr, size) == expected
    macro: dict[int, Callable[[], int]] = {
        0: lambda: abi._IO("k", nr),
        1: lambda: abi._IOW("k", nr, pointer_size),
        2: lambda: abi._IOR("k", nr, pointer_size),
        3: lambda: abi._IOWR("k", nr, pointer_size),
    }
    assert macro[direction]() == expected
    assert abi.ioctl_numbers(pointer_size)[command] == expected


def test_ksock_ioctl_constants_match_running_abi() -> None:
    assert Ksock.IOC_MAGIC == "k"
    column = 0 if LP64 else 1
    if abi.native_ioc_layout() != abi.GENERIC_IOC_LAYOUT:
        pytest.skip("the spec table uses the generic _IOC layout")
    for command, values in IOCTL_TABLE.items():
        assert getattr(Ksock, f"IOC_{command}") == values[column], command
    assert abi.KBUS_IOCTLS == abi.ioctl_numbers(POINTER_SIZE)


def test_ioc_layouts_of_other_architectures() -> None:
    assert abi.ioc_layout_for_machine("x86_64") == abi.GENERIC_IOC_LAYOUT
    assert abi.ioc_layout_for_machine("aarch64") == abi.GENERIC_IOC_LAYOUT
    assert abi.ioc_layout_for_machine("armv7l") == abi.GENERIC_IOC_LAYOUT
    assert abi.ioc_layout_for_machine("riscv64") == abi.GENERIC_IOC_LAYOUT
    for machine in ("mips", "mips64", "ppc", "ppc64le", "sparc64", "alpha"):
        assert abi.ioc_layout_for_machine(machine) == abi.THREE_BIT_DIR_IOC_LAYOUT
    assert abi.ioc_layout_for_machine("parisc") == abi.PARISC_IOC_LAYOUT
    # BLKGETSIZE64 = _IOR(0x12, 114, size_t) is 0x40081272 on ppc64.
    assert abi._IOR(0x12, 114, 8, abi.THREE_BIT_DIR_IOC_LAYOUT) == 0x40081272
    assert abi._IOR(0x12, 114, 8) == 0x80081272
    mips = abi.ioctl_numbers(4, abi.THREE_BIT_DIR_IOC_LAYOUT)
    assert mips["RESET"] == 0x20006B01
    assert mips["BIND"] == 0x80046B02
    assert mips["KSOCKID"] == 0x40046B04
    assert mips["REPLIER"] == 0xC0046B05
    parisc = abi.ioctl_numbers(4, abi.PARISC_IOC_LAYOUT)
    assert parisc["BIND"] == 0x80046B02
    assert parisc["KSOCKID"] == 0x40046B04


def test_ioc_helper_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        abi._IOC(0, "k", 256, 0)
    with pytest.raises(ValueError):
        abi._IOC(0, "k", 1, 1 << 14)
    with pytest.raises(ValueError):
        abi._IOC(4, "k", 1, 0)
    with pytest.raises(ValueError):
        abi._IOC(0, "kk", 1, 0)


# ---------------------------------------------------------------------------
# Lengths


@pytest.mark.parametrize(
    ("name_len", "padded"), [(0, 4), (3, 4), (4, 8), (6, 8), (7, 8), (8, 12), (1000, 1004)]
)
def test_padded_name_len(name_len: int, padded: int) -> None:
    assert calc_padded_name_len(name_len) == padded


@pytest.mark.parametrize(("data_len", "padded"), [(0, 0), (1, 4), (4, 4), (5, 8), (7, 8)])
def test_padded_data_len(data_len: int, padded: int) -> None:
    assert calc_padded_data_len(data_len) == padded


def test_entire_lengths_worked_example() -> None:
    # §4.5: "$.Fred" without data is 100 bytes (LP64), with 7 bytes 108.
    assert calc_entire_message_len(6, 0) == MSG_HEADER_LEN + 8 + 0 + 4
    assert calc_entire_message_len(6, 7) == MSG_HEADER_LEN + 8 + 8 + 4
    if LP64:
        assert calc_entire_message_len(6, 0) == 100
        assert calc_entire_message_len(6, 7) == 108
    else:
        assert calc_entire_message_len(6, 0) == 84
        assert calc_entire_message_len(6, 7) == 92
    ilp32_header = ctypes.sizeof(_header_type(ctypes.c_uint32))
    assert ilp32_header + calc_padded_name_len(6) + calc_padded_data_len(0) + 4 == 84
    assert ilp32_header + calc_padded_name_len(6) + calc_padded_data_len(7) + 4 == 92
    # The smallest maximum message size (100) admits a 7-byte name on LP64.
    if LP64:
        assert calc_entire_message_len(7, 0) == 100
        assert calc_entire_message_len(3, 4) == 100
        assert calc_entire_message_len(8, 0) > 100


# ---------------------------------------------------------------------------
# Entire form: to_bytes / from_bytes


def _u32_at(raw: bytes, offset: int) -> int:
    value: int = struct.unpack_from("=I", raw, offset)[0]
    return value


def test_to_bytes_worked_example_without_data() -> None:
    msg = Message("$.Fred")
    raw = msg.to_bytes()
    h = MSG_HEADER_LEN
    assert len(raw) == msg.total_length() == calc_entire_message_len(6, 0)
    assert _u32_at(raw, 0) == Message.START_GUARD
    assert raw[4:20] == bytes(16)  # id and in_reply_to
    assert _u32_at(raw, _offset(_MessageHeaderStruct, "name_len")) == 6
    assert _u32_at(raw, _offset(_MessageHeaderStruct, "data_len")) == 0
    name_ptr = _offset(_MessageHeaderStruct, "name")
    assert raw[name_ptr : name_ptr + 2 * POINTER_SIZE] == bytes(2 * POINTER_SIZE)  # NULLs
    assert _u32_at(raw, _offset(_MessageHeaderStruct, "end_guard")) == Message.END_GUARD
    if LP64:
        assert raw[84:88] == bytes(4)  # tail padding of the header
    assert raw[h : h + 6] == b"$.Fred"
    assert raw[h + 6 : h + 8] == b"\0\0"  # NUL and one byte of padding
    assert _u32_at(raw, h + 8) == Message.END_GUARD
    if LP64:
        assert raw[88:94] == b"$.Fred"
        assert _u32_at(raw, 96) == Message.END_GUARD
        assert len(raw) == 100


def test_to_bytes_worked_example_with_data() -> None:
    msg = Message("$.Fred", data=b"abc1234")
    raw = msg.to_bytes()
    h = MSG_HEADER_LEN
    assert len(raw) == msg.total_length() == calc_entire_message_len(6, 7)
    assert _u32_at(raw, _offset(_MessageHeaderStruct, "data_len")) == 7
    assert raw[h : h + 8] == b"$.Fred\0\0"
    assert raw[h + 8 : h + 15] == b"abc1234"
    assert raw[h + 15 : h + 16] == b"\0"
    assert _u32_at(raw, h + 16) == Message.END_GUARD
    if LP64:
        assert raw[96:103] == b"abc1234"
        assert _u32_at(raw, 104) == Message.END_GUARD
        assert len(raw) == 108


def test_from_bytes_round_trip() -> None:
    original = Message(
        "$.Sensors.Kitchen",
        data=b"\x00\x01binary\xff",
        to=3,
        from_=4,
        orig_from=OrigFrom(5, 6),
        final_to=OrigFrom(7, 8),
        in_reply_to=MessageId(9, 10),
        flags=0x00010203,
        id=MessageId(11, 12),
    )
    raw = original.to_bytes()
    copy = Message.from_bytes(raw)
    assert copy == original
    assert copy.to_bytes() == raw
    assert not copy.is_pointy()
    assert original.is_pointy()
    assert copy.extract() == original.extract()
    assert Message.from_bytes(bytearray(raw)) == original
    assert Message.from_bytes(memoryview(raw)) == original
    # Trailing bytes beyond the message are ignored.
    assert Message.from_bytes(raw + b"junk") == original


def test_from_bytes_clears_pointers() -> None:
    msg = Message("$.Fred", b"1234")
    raw = bytearray(msg.to_bytes())
    struct.pack_into("=Q" if LP64 else "=I", raw, _offset(_MessageHeaderStruct, "name"), 0x1234)
    copy = Message.from_bytes(bytes(raw))
    assert copy.to_bytes() == msg.to_bytes()


def test_from_bytes_errors() -> None:
    with pytest.raises(
        ValueError, match=r"^Cannot form entire message from string .* of length 5$"
    ):
        Message.from_bytes(b"Kbus!")
    raw = bytearray(Message("$.Fred").to_bytes())
    raw[0:4] = b"XXXX"
    with pytest.raises(ValueError, match=r"which does not start with message start guard$") as info:
        Message.from_bytes(bytes(raw))
    assert str(info.value).startswith("Cannot form entire message from string ")
    good = Message("$.Fred", b"data").to_bytes()
    with pytest.raises(ValueError, match="Cannot form entire message from string"):
        Message.from_bytes(good[:-4])


def test_entire_message_write_length_is_exact() -> None:
    # §18.21 fix: never write ctypes' trailing structure padding.
    for name, data in (("$.Fred", b""), ("$.Fred", b"abc1234"), ("$.a", b"1234")):
        copy = Message.from_bytes(Message(name, data).to_bytes())
        assert len(copy._bytes_to_write()) == copy.total_length()
        assert copy._bytes_to_write() == copy.to_bytes()
        if LP64:
            # The ctypes structure itself may be longer than the message.
            assert ctypes.sizeof(copy.msg) >= copy.total_length()


# ---------------------------------------------------------------------------
# Pointy messages


def test_pointy_message_header_points_into_kept_buffers() -> None:
    msg = Message("$.Fred", data=b"abc1234")
    hdr = msg.msg
    assert isinstance(hdr, _MessageHeaderStruct)
    assert hdr.start_guard == Message.START_GUARD
    assert hdr.end_guard == Message.END_GUARD
    assert hdr.name_len == 6
    assert hdr.data_len == 7
    assert hdr.name is not None and hdr.data is not None
    assert ctypes.string_at(hdr.name, 8) == b"$.Fred\0\0"
    assert ctypes.string_at(hdr.data, 8) == b"abc1234\0"
    written = msg._bytes_to_write()
    assert len(written) == MSG_HEADER_LEN
    assert written == bytes(hdr)


def test_pointy_message_without_data_has_null_data_pointer() -> None:
    msg = Message("$.Fred")
    assert isinstance(msg.msg, _MessageHeaderStruct)
    assert msg.msg.data is None
    assert msg.msg.data_len == 0
    assert msg.data is None
    assert Message("$.Fred", data=b"").msg.data is None


def test_message_from_parts() -> None:
    hdr = message_from_parts((0, 1), (0, 0), 5, 6, (1, 2), (3, 4), 0x1, "$.Fred", "hi")
    assert hdr.id == MessageId(0, 1)
    assert hdr.in_reply_to == MessageId(0, 0)
    assert (hdr.to, hdr.from_, hdr.flags) == (5, 6, 1)
    assert hdr.orig_from == OrigFrom(1, 2)
    assert hdr.final_to == OrigFrom(3, 4)
    assert (hdr.name_len, hdr.data_len) == (6, 2)
    assert hdr.name is not None and hdr.data is not None
    assert ctypes.string_at(hdr.name, 7) == b"$.Fred\0"
    assert ctypes.string_at(hdr.data, 2) == b"hi"
    assert hdr.extra == 0


def test_c_data_as_bytes() -> None:
    array = (ctypes.c_ubyte * 8).from_buffer_copy(b"abcdefgh")
    assert c_data_as_bytes(array, 5) == b"abcde"
    chars = ctypes.create_string_buffer(b"xyz", 8)
    assert c_data_as_bytes(chars, 3) == b"xyz"


# ---------------------------------------------------------------------------
# repr() and str() (§14.7)


def test_repr_examples() -> None:
    assert repr(Message("$.Fred")) == "Message('$.Fred')"
    assert repr(Message("$.Fred", data=b"1234")) == "Message('$.Fred', data=b'1234')"
    assert (
        repr(Message("$.Actor.Speak", data=b"Ahem", from_=1, id=MessageId(0, 2)))
        == "Message('$.Actor.Speak', data=b'Ahem', from_=1, id=MessageId(0, 2))"
    )
    assert (
        repr(Announcement("$.Fred", data=b"12345678", flags=1))
        == "Announcement('$.Fred', data=b'12345678', flags=0x00000001)"
    )
    assert (
        repr(Request("$.Fred", data=b"1234", to=1234, final_to=OrigFrom(12, 23)))
        == "Request('$.Fred', data=b'1234', to=1234, final_to=OrigFrom(12, 23),"
        " flags=0x00000001)"
    )
    assert (
        repr(Reply("$.Fred", to=27, in_reply_to=MessageId(0, 132)))
        == "Reply('$.Fred', to=27, in_reply_to=MessageId(0, 132))"
    )
    assert (
        repr(
            Reply(
                "$.Fred",
                data=b"1234",
                to=27,
                in_reply_to=MessageId(0, 132),
                flags=Message.ALL_OR_WAIT,
            )
        )
        == "Reply('$.Fred', data=b'1234', to=27, in_reply_to=MessageId(0, 132),"
        " flags=0x00000100)"
    )
    status = Status.from_bytes(
        _status_bytes(name="$.KBUS.Dummy", to=99, from_=27, in_reply_to=MessageId(0, 132))
    )
    assert repr(status) == "Status('$.KBUS.Dummy', to=99, from_=27, in_reply_to=MessageId(0, 132))"


def test_repr_field_orders() -> None:
    parts: dict[str, Any] = {
        "data": b"d",
        "to": 1,
        "from_": 2,
        "orig_from": OrigFrom(3, 4),
        "final_to": OrigFrom(5, 6),
        "in_reply_to": MessageId(7, 8),
        "flags": 0x10000,
        "id": MessageId(9, 10),
    }
    full = Message("$.X", **parts)
    assert repr(full) == (
        "Message('$.X', data=b'd', to=1, from_=2, orig_from=OrigFrom(3, 4),"
        " final_to=OrigFrom(5, 6), in_reply_to=MessageId(7, 8), flags=0x00010000,"
        " id=MessageId(9, 10))"
    )
    raw = full.to_bytes()
    assert repr(Reply.from_bytes(raw)) == (
        "Reply('$.X', data=b'd', to=1, from_=2, orig_from=OrigFrom(3, 4),"
        " in_reply_to=MessageId(7, 8), flags=0x00010000, id=MessageId(9, 10))"
    )
    assert repr(Request.from_bytes(raw)) == (
        "Request('$.X', data=b'd', to=1, from_=2, orig_from=OrigFrom(3, 4),"
        " final_to=OrigFrom(5, 6), flags=0x00010001, id=MessageId(9, 10))"
    )
    assert repr(Status.from_bytes(raw)) == (
        "Status('$.X', data=b'd', to=1, from_=2, in_reply_to=MessageId(7, 8),"
        " flags=0x00010000, id=MessageId(9, 10))"
    )
    assert repr(Announcement.from_bytes(raw)) == (
        "Announcement('$.X', data=b'd', to=1, from_=2, flags=0x00010000, id=MessageId(9, 10))"
    )


def test_repr_evaluates_back() -> None:
    namespace: dict[str, Any] = {
        name: getattr(kbus, name)
        for name in ("Message", "Announcement", "Request", "Reply", "MessageId", "OrigFrom")
    }
    for msg in (
        Message("$.Fred", b"x", to=1, from_=2, orig_from=OrigFrom(1, 2), id=MessageId(0, 3)),
        Announcement("$.Fred", b"12345678", flags=1),
        Request("$.Fred", b"1234", to=1234, final_to=OrigFrom(12, 23)),
        Reply("$.Fred", b"1234", to=27, in_reply_to=MessageId(0, 132), flags=0x100),
    ):
        again = eval(repr(msg), namespace)
        assert again == msg
        assert type(again) is type(msg)


def test_str_examples() -> None:
    speak = Message("$.Actor.Speak", data=b"Ahem", from_=1, id=MessageId(0, 2))
    assert str(speak) == "<Announcement '$.Actor.Speak', id=[0:2], from=1, data=b'Ahem'>"

    query = Message(
        "$.Actor.Guildenstern.query",
        data=b"Were you speaking to me?",
        from_=1,
        id=MessageId(0, 6),
        flags=Message.WANT_A_REPLY | Message.WANT_YOU_TO_REPLY,
    )
    assert str(query) == (
        "<Request '$.Actor.Guildenstern.query', id=[0:6], from=1, flags=0x3 (REQ,YOU),"
        " data=b'Were you speaking to me?'>"
    )
    listener_copy = Message.from_message(query, flags=Message.WANT_A_REPLY)
    assert str(listener_copy) == (
        "<Request '$.Actor.Guildenstern.query', id=[0:6], from=1, flags=0x1 (REQ),"
        " data=b'Were you speaking to me?'>"
    )

    answer = reply_to(query, b"Yes, I was")
    assert str(answer) == (
        "<Reply '$.Actor.Guildenstern.query', to=1, in_reply_to=[0:6], data=b'Yes, I was'>"
    )

    gone = Status.from_bytes(
        _status_bytes(
            name="$.KBUS.Replier.GoneAway",
            id=MessageId(0, 9),
            to=1,
            from_=2,
            in_reply_to=MessageId(0, 8),
            flags=Message.SYNTHETIC,
        )
    )
    assert str(gone) == (
        "<Status '$.KBUS.Replier.GoneAway', id=[0:9], to=1, from=2, in_reply_to=[0:8],"
        " flags=0x4 (SYN)>"
    )

    event = Message.from_bytes(
        _status_bytes(
            name="$.KBUS.ReplierBindEvent",
            id=MessageId(0, 10),
            flags=0x204,
            data=_bind_event_data(1, 3, b"$.Fred"),
        )
    )
    assert str(event) == (
        "<ReplierBindEvent id=[0:10], flags=0x204 (SYN,aFL), [Bind '$.Fred' for 3]>"
    )

    lost = Message.from_bytes(
        _status_bytes(name="$.KBUS.UnbindEventsLost", id=MessageId(0, 11), flags=0x4)
    )
    assert str(lost) == "<Announcement '$.KBUS.UnbindEventsLost', id=[0:11], flags=0x4 (SYN)>"

    remote = Message(
        "$.Fred",
        id=MessageId(2, 17),
        from_=5,
        orig_from=OrigFrom(2, 4),
        in_reply_to=MessageId(0, 16),
    )
    assert str(remote) == "<Reply '$.Fred', id=[2:17], from=5, orig_from=(2,4), in_reply_to=[0:16]>"


def test_str_unbind_event_and_other_parts() -> None:
    event = Message(
        "$.KBUS.ReplierBindEvent", flags=0x204, data=_bind_event_data(0, 12, b"$.Sensors.*")
    )
    assert str(event) == "<ReplierBindEvent flags=0x204 (SYN,aFL), [Unbind '$.Sensors.*' for 12]>"
    msg = Message("$.Fred", to=3, final_to=OrigFrom(1, 9), flags=0x10000)
    assert str(msg) == "<Announcement '$.Fred', to=3, final_to=(1,9), flags=0x10000>"
    # KIND comes from the content, not the class.
    assert str(Message("$.KBUS.Thing", in_reply_to=MessageId(0, 1))).startswith("<Status ")
    assert str(Message("$.Fred", in_reply_to=MessageId(0, 1))).startswith("<Reply ")
    assert str(Message("$.Fred", flags=1)).startswith("<Request ")


@pytest.mark.parametrize(
    ("flags", "text"),
    [
        (0x1, "flags=0x1 (REQ)"),
        (0x2, "flags=0x2 (YOU)"),
        (0x4, "flags=0x4 (SYN)"),
        (0x8, "flags=0x8 (URG)"),
        (0x100, "flags=0x100 (aWT)"),
        (0x200, "flags=0x200 (aFL)"),
        (0x30F, "flags=0x30f (REQ,YOU,SYN,URG,aFL,aWT)"),
        (0x30A, "flags=0x30a (YOU,URG,aFL,aWT)"),
        (0x10000, "flags=0x10000"),
        (0xFFFF00F0, "flags=0xffff00f0"),
        (0x80000204, "flags=0x80000204 (SYN,aFL)"),
    ],
)
def test_str_flag_text(flags: int, text: str) -> None:
    msg = Message("$.Fred", flags=flags)
    parts = str(msg)[1:-1].split(", ")
    assert parts[-1] == text


# ---------------------------------------------------------------------------
# Message behaviour


def test_message_defaults_and_properties() -> None:
    msg = Message("$.Fred")
    assert msg.name == "$.Fred"
    assert msg.data is None
    assert (msg.to, msg.from_, msg.flags) == (0, 0, 0)
    assert msg.id is None
    assert msg.in_reply_to is None
    assert msg.orig_from is None
    assert msg.final_to is None
    assert msg._id == MessageId(0, 0)
    assert msg._in_reply_to == MessageId(0, 0)
    assert msg._orig_from == OrigFrom(0, 0)
    assert msg._final_to == OrigFrom(0, 0)


def test_message_data_encoding() -> None:
    assert Message("$.Fred", "text").data == b"text"
    assert Message("$.Fred", "caf\u00e9").data == b"caf\xc3\xa9"
    assert Message("$.Fred", "caf\u00e9", encoding="latin-1").data == b"caf\xe9"
    assert Message("$.Fred", "caf\u00e9", encoding="ascii", errors="replace").data == b"caf?"
    with pytest.raises(UnicodeEncodeError):
        Message("$.Fred", "caf\u00e9", encoding="ascii")
    assert Message("$.Fred", bytearray(b"xy")).data == b"xy"
    with pytest.raises(TypeError):
        Message("$.Fred", 5)  # type: ignore[arg-type]


def test_message_name_validation() -> None:
    with pytest.raises(ValueError) as info:
        Message("Fred")
    assert str(info.value) == 'Message name "Fred" does not start "$."'
    with pytest.raises(ValueError, match='does not start "\\$."'):
        Message("")
    with pytest.raises(ValueError):
        Message("$.")
    assert Message("$.a").name == "$.a"
    # Full syntax checking is left to KBUS.
    assert Message("$.Fred..Jim").name == "$.Fred..Jim"


def test_message_field_range_checks() -> None:
    with pytest.raises(ValueError):
        Message("$.Fred", to=-1)
    with pytest.raises(ValueError):
        Message("$.Fred", flags=1 << 32)
    assert Message("$.Fred", flags=0xFFFFFFFF).flags == 0xFFFFFFFF


def test_message_id_fields_writable_in_place() -> None:
    msg = Message("$.Fred")
    msg._id.network_id = 3
    msg._id.serial_num = 4
    assert msg.id == MessageId(3, 4)
    msg._orig_from.local_id = 9
    assert msg.orig_from == OrigFrom(0, 9)
    copy = Message.from_bytes(msg.to_bytes())
    copy._in_reply_to.serial_num = 77
    assert copy.in_reply_to == MessageId(0, 77)
    assert copy.is_reply()
    # The property returns a copy, not a view.
    mid = copy.in_reply_to
    assert mid is not None
    mid.serial_num = 1
    assert copy.in_reply_to == MessageId(0, 77)


def test_message_equality() -> None:
    a = Message("$.Fred", b"data", to=1, from_=2, id=MessageId(0, 3), flags=0x10000)
    b = Message("$.Fred", b"data", to=1, from_=2, id=MessageId(0, 3), flags=0x10000)
    assert a == b
    assert not (a != b)
    assert a == Message.from_bytes(b.to_bytes())
    assert a != Message.from_message(a, id=MessageId(0, 4))
    assert a != Message.from_message(a, flags=0)
    assert a != Message.from_message(a, from_=9)
    assert a != Message.from_message(a, data=b"datb")
    assert a != Message.from_message(a, orig_from=OrigFrom(1, 1))
    assert a != Message.from_message(a, final_to=OrigFrom(1, 1))
    assert a != Message.from_message(a, in_reply_to=MessageId(1, 1))
    assert a != Message("$.Fred", b"data", to=2, from_=2, id=MessageId(0, 3), flags=0x10000)
    assert a != Message("$.Jim", b"data", to=1, from_=2, id=MessageId(0, 3), flags=0x10000)
    assert a != "not a message"
    assert a != a.to_bytes()
    # Class does not matter for equality.
    assert Announcement("$.Fred") == Message("$.Fred")
    with pytest.raises(TypeError):
        hash(a)


def test_message_equivalent() -> None:
    a = Message("$.Fred", b"data", to=1)
    b = Message(
        "$.Fred",
        b"data",
        to=1,
        from_=7,
        id=MessageId(1, 2),
        flags=3,
        in_reply_to=MessageId(0, 5),
        orig_from=OrigFrom(1, 1),
        final_to=OrigFrom(2, 2),
    )
    assert a.equivalent(b)
    assert b.equivalent(a)
    assert a != b
    assert not a.equivalent(Message("$.Fred", b"data", to=2))
    assert not a.equivalent(Message("$.Fred", b"dat", to=1))
    assert not a.equivalent(Message("$.Fre", b"data", to=1))


def test_extract_and_from_sequence() -> None:
    msg = Message(
        "$.Fred",
        b"data",
        to=1,
        from_=2,
        orig_from=OrigFrom(3, 4),
        final_to=OrigFrom(5, 6),
        in_reply_to=MessageId(7, 8),
        flags=9,
        id=MessageId(10, 11),
    )
    seq = msg.extract()
    assert seq == (
        MessageId(10, 11),
        MessageId(7, 8),
        1,
        2,
        OrigFrom(3, 4),
        OrigFrom(5, 6),
        9,
        "$.Fred",
        b"data",
    )
    assert Message.from_sequence(seq) == msg
    assert Message.from_sequence(list(seq)) == msg
    changed = Message.from_sequence(seq, data=b"new", to=5, flags=0, id=MessageId(0, 1))
    assert changed.extract() == (
        MessageId(0, 1),
        MessageId(7, 8),
        5,
        2,
        OrigFrom(3, 4),
        OrigFrom(5, 6),
        0,
        "$.Fred",
        b"new",
    )
    empty = Message("$.Fred").extract()
    assert empty == (None, None, 0, 0, None, None, 0, "$.Fred", None)
    assert Message.from_sequence(empty) == Message("$.Fred")
    with pytest.raises(ValueError):
        Message.from_sequence(seq[:8])
    with pytest.raises(ValueError):
        Message.from_sequence((*seq, None))
    # Ids may be zeroed through extract()/from_sequence().
    cleared = (None, *seq[1:])
    assert Message.from_sequence(cleared).id is None


def test_from_message() -> None:
    msg = Message("$.Fred", b"data", to=1, from_=2, id=MessageId(0, 3), flags=0x8)
    copy = Message.from_message(msg)
    assert copy == msg
    assert copy is not msg
    assert copy.msg is not msg.msg
    other = Message.from_message(msg, data="text", to=4, from_=5, flags=0, id=MessageId(1, 1))
    assert other.name == "$.Fred"
    assert other.extract() == (MessageId(1, 1), None, 4, 5, None, None, 0, "$.Fred", b"text")
    latin = Message.from_message(msg, data="\u00e9", encoding="latin-1")
    assert latin.data == b"\xe9"
    # A message read from bytes can be copied too.
    assert Message.from_message(Message.from_bytes(msg.to_bytes())) == msg


def test_flag_methods() -> None:
    msg = Message("$.Fred")
    assert not msg.is_request()
    msg.set_want_reply()
    assert msg.is_request()
    assert msg.flags == Message.WANT_A_REPLY
    assert not msg.is_stateful_request()
    msg.set_urgent()
    assert msg.is_urgent()
    msg.set_urgent(False)
    assert not msg.is_urgent()
    msg.set_want_reply(False)
    assert msg.flags == 0
    assert not msg.wants_us_to_reply()
    assert Message("$.Fred", flags=Message.WANT_YOU_TO_REPLY).wants_us_to_reply()
    assert Message("$.Fred", flags=Message.SYNTHETIC).is_synthetic()
    assert not Message("$.Fred").is_synthetic()
    assert Message("$.Fred", flags=1, to=3).is_stateful_request()
    assert Message("$.Fred", in_reply_to=MessageId(0, 1)).is_reply()
    assert not Message("$.Fred").is_reply()
    # Application bits are kept when changing flags.
    app = Message("$.Fred", flags=0xABCD0000)
    app.set_want_reply()
    app.set_urgent()
    app.set_want_reply(False)
    assert app.flags == 0xABCD0008


def test_cast() -> None:
    announcement = Message("$.Fred", b"x", orig_from=OrigFrom(1, 2))
    request = Message("$.Fred", flags=3, to=4, id=MessageId(0, 5))
    reply = Message("$.Fred", in_reply_to=MessageId(0, 5), to=1)
    status = Message("$.KBUS.Replier.Ignored", in_reply_to=MessageId(0, 5), flags=4)
    event = Message("$.KBUS.ReplierBindEvent", flags=0x204, data=_bind_event_data(1, 2, b"$.a"))
    for msg, cls in (
        (announcement, Announcement),
        (request, Request),
        (reply, Reply),
        (status, Status),
        (event, Announcement),
    ):
        cast = msg.cast()
        assert type(cast) is cls
        assert cast == msg
        assert cast is not msg
        assert str(cast) == str(msg)
    # Something read from a Ksock casts the same way.
    assert type(Message.from_bytes(status.to_bytes()).cast()) is Status
    # A request that is also a reply is classified as a reply.
    assert type(Message("$.Fred", flags=1, in_reply_to=MessageId(0, 1)).cast()) is Reply


# ---------------------------------------------------------------------------
# Subclasses


def test_announcement() -> None:
    ann = Announcement("$.Fred", b"data", to=1, from_=2, flags=1, id=MessageId(0, 3))
    assert ann.extract() == (MessageId(0, 3), None, 1, 2, None, None, 1, "$.Fred", b"data")
    with pytest.raises(TypeError):
        Announcement("$.Fred", in_reply_to=MessageId(0, 1))  # type: ignore[call-arg]
    with pytest.raises(TypeError) as info:
        ann.set_want_reply()
    assert str(info.value) == "Announcements are not Requests"
    linked = Message(
        "$.Fred", in_reply_to=MessageId(0, 1), orig_from=OrigFrom(1, 2), final_to=OrigFrom(3, 4)
    )
    for made in (
        Announcement.from_message(linked),
        Announcement.from_sequence(linked.extract()),
        Announcement.from_bytes(linked.to_bytes()),
        Announcement.from_message(Message("$.Fred"), in_reply_to=MessageId(0, 2)),
    ):
        assert type(made) is Announcement
        assert made.in_reply_to is None
        assert made.orig_from is None
        assert made.final_to is None


def test_request() -> None:
    req = Request("$.Fred", b"data")
    assert req.flags == Message.WANT_A_REPLY
    assert req.is_request()
    assert not req.is_stateful_request()
    assert Request("$.Fred", flags=2).flags == 0x3
    assert Request("$.Fred", flags=Message.WANT_A_REPLY).flags == 0x1
    stateful = Request("$.Fred", to=5, final_to=OrigFrom(1, 2))
    assert stateful.is_stateful_request()
    assert stateful.final_to == OrigFrom(1, 2)
    with pytest.raises(TypeError) as info:
        req.set_want_reply()
    assert str(info.value) == 'Request always has "want a reply" set'
    plain = Message("$.Fred", flags=2)
    for made in (
        Request.from_message(plain),
        Request.from_sequence(plain.extract()),
        Request.from_bytes(plain.to_bytes()),
        Request.from_message(Message("$.Fred"), flags=2),
    ):
        assert type(made) is Request
        assert made.flags == 0x3


def test_reply() -> None:
    rep = Reply(
        "$.Fred",
        b"data",
        to=1,
        from_=2,
        orig_from=OrigFrom(3, 4),
        in_reply_to=MessageId(0, 5),
        flags=0,
        id=MessageId(0, 6),
    )
    assert rep.extract() == (
        MessageId(0, 6),
        MessageId(0, 5),
        1,
        2,
        OrigFrom(3, 4),
        None,
        0,
        "$.Fred",
        b"data",
    )
    assert rep.is_reply()
    bad_makers: list[Callable[[], object]] = [
        lambda: Reply("$.Fred"),
        lambda: Reply("$.Fred", in_reply_to=MessageId(0, 0)),
        lambda: Reply.from_message(Message("$.Fred")),
        lambda: Reply.from_sequence(Message("$.Fred").extract()),
        lambda: Reply.from_bytes(Message("$.Fred").to_bytes()),
    ]
    for bad in bad_makers:
        with pytest.raises(ValueError) as info:
            bad()
        assert str(info.value) == "A Reply must specify in_reply_to"
    with pytest.raises(TypeError):
        Reply("$.Fred", in_reply_to=MessageId(0, 1), final_to=OrigFrom(1, 1))  # type: ignore[call-arg]
    made = Reply.from_message(Message("$.Fred"), in_reply_to=MessageId(0, 9))
    assert type(made) is Reply
    assert made.in_reply_to == MessageId(0, 9)


def test_status() -> None:
    text = "Use the Status.from_bytes() method to construct a Status"
    with pytest.raises(NotImplementedError) as info:
        Status("$.KBUS.Replier.GoneAway")
    assert str(info.value) == text
    src = Message("$.KBUS.Replier.GoneAway", in_reply_to=MessageId(0, 1), flags=4)
    with pytest.raises(NotImplementedError):
        Status.from_message(src)
    with pytest.raises(NotImplementedError):
        Status.from_sequence(src.extract())
    status = Status.from_bytes(src.to_bytes())
    assert type(status) is Status
    assert status == src


# ---------------------------------------------------------------------------
# reply_to / stateful_request


def test_reply_to() -> None:
    req = Message(
        "$.Q",
        b"question",
        from_=7,
        id=MessageId(0, 42),
        flags=0x3 | Message.URGENT,
        orig_from=OrigFrom(1, 2),
    )
    rep = reply_to(req, b"answer")
    assert type(rep) is Reply
    assert rep.name == "$.Q"
    assert rep.data == b"answer"
    assert rep.to == 7
    assert rep.in_reply_to == MessageId(0, 42)
    assert rep.flags == 0
    assert rep.from_ == 0
    assert rep.id is None
    assert reply_to(req).data is None
    assert reply_to(req, flags=Message.ALL_OR_FAIL).flags == Message.ALL_OR_FAIL
    assert reply_to(req, "\u00e9", encoding="latin-1").data == b"\xe9"
    for flags in (0, 1, 2):
        bad = Message.from_message(req, flags=flags)
        with pytest.raises(ValueError) as info:
            reply_to(bad)
        assert str(info.value) == (
            "Cannot form a reply to a message that does not have WANT_A_REPLY and"
            f" WANT_YOU_TO_REPLY set: {bad}"
        )


def test_stateful_request() -> None:
    reply = Message(
        "$.Q",
        in_reply_to=MessageId(0, 1),
        from_=9,
        orig_from=OrigFrom(4, 5),
        to=3,
        final_to=OrigFrom(6, 6),
    )
    req = stateful_request(reply, "$.Q.More", b"more", flags=Message.URGENT)
    assert type(req) is Request
    assert req.to == 9
    assert req.final_to == OrigFrom(4, 5)
    assert req.flags == Message.WANT_A_REPLY | Message.URGENT
    assert req.data == b"more"
    assert req.name == "$.Q.More"
    assert req.is_stateful_request()
    again = stateful_request(req, "$.Q.Again", from_=2, id=MessageId(0, 7))
    assert again.to == 9
    assert again.final_to == OrigFrom(4, 5)
    assert again.from_ == 2
    assert again.id == MessageId(0, 7)
    for bad in (Message("$.Q"), Request("$.Q"), Message("$.Q", to=4)):
        with pytest.raises(ValueError):
            stateful_request(bad, "$.Q")


# ---------------------------------------------------------------------------
# Helpers


def test_split_replier_bind_event_data_spec_example() -> None:
    data = bytes.fromhex("01000000") + struct.pack("=I", 3) + bytes.fromhex("06000000")
    data += b"$.Fred\0\0"
    if sys.byteorder == "little":
        assert len(data) == 20
        assert split_replier_bind_event_data(data) == (1, 3, "$.Fred")
    assert split_replier_bind_event_data(_bind_event_data(0, 99, b"$.Sensors.*")) == (
        0,
        99,
        "$.Sensors.*",
    )
    assert len(_bind_event_data(1, 3, b"$.Fred")) == 12 + calc_padded_name_len(6)
    with pytest.raises(ValueError):
        split_replier_bind_event_data(b"\x01\x00\x00\x00")
    with pytest.raises(ValueError):
        split_replier_bind_event_data(struct.pack("=III", 1, 1, 10) + b"$.a\0")


def test_hexdata_and_hexify() -> None:
    assert hexdata(b"Hello, World!") == "Hello,\\x20World!"
    assert hexdata(b"\x00\x7f\xffA~") == "\\x00\\x7f\\xffA~"
    assert hexdata("caf\u00e9") == "caf\\xc3\\xa9"
    assert hexdata("caf\u00e9", encoding="latin-1") == "caf\\xe9"
    assert hexdata(b"") == ""
    assert hexify(b"Hellow") == "48 65 6c 6c 6f 77"
    assert hexify(b"\x00\xff") == "00 ff"
    assert hexify("ab") == "61 62"
    assert hexify(b"") == ""


def test_message_id() -> None:
    mid = MessageId(1, 2)
    assert repr(mid) == "MessageId(1, 2)"
    assert str(mid) == "[1:2]"
    assert mid == MessageId(1, 2)
    assert mid != MessageId(1, 3)
    assert mid != MessageId(0, 2)
    assert mid.__eq__((1, 2)) is NotImplemented
    assert mid != (1, 2)
    assert mid != OrigFrom(1, 2)
    assert MessageId(0, 5) < MessageId(0, 6)
    assert MessageId(0, 0xFFFFFFFF) < MessageId(1, 0)
    assert MessageId(1, 0) > MessageId(0, 99)
    assert MessageId(1, 1) <= MessageId(1, 1)
    assert MessageId(1, 2) >= MessageId(1, 1)
    assert sorted([MessageId(1, 1), MessageId(0, 9), MessageId(0, 2)]) == [
        MessageId(0, 2),
        MessageId(0, 9),
        MessageId(1, 1),
    ]
    with pytest.raises(TypeError):
        _ = MessageId(0, 1) < (0, 2)
    total = MessageId(1, 2) + 3
    assert total == MessageId(1, 5)
    assert mid == MessageId(1, 2)  # unchanged
    assert MessageId(0, 0xFFFFFFFF) + 1 == MessageId(0, 0)
    with pytest.raises(TypeError):
        _ = MessageId(1, 2) + "3"
    with pytest.raises(TypeError):
        _ = MessageId(1, 2) + MessageId(0, 1)
    # Hashable consistently with == (fix of §18.21).
    assert hash(MessageId(1, 2)) == hash(MessageId(1, 2))
    table = {MessageId(0, 1): "a", MessageId(0, 2): "b"}
    assert table[MessageId(0, 2)] == "b"
    assert len({MessageId(0, 1), MessageId(0, 1), MessageId(0, 2)}) == 2


def test_orig_from() -> None:
    of = OrigFrom(1, 2)
    assert repr(of) == "OrigFrom(1, 2)"
    assert str(of) == "(1,2)"
    assert of == OrigFrom(1, 2)
    assert of != OrigFrom(2, 1)
    assert OrigFrom(1, 2) < OrigFrom(1, 3) < OrigFrom(2, 0)
    assert of != MessageId(1, 2)
    with pytest.raises(TypeError):
        _ = of + 1  # type: ignore[operator]


def test_package_exports() -> None:
    namespace: dict[str, Any] = {}
    exec("from kbus import *", namespace)
    for name in (
        "Ksock",
        "BindStruct",
        "ReplierStruct",
        "SendResultStruct",
        "read_bindings",
        "MessageId",
        "OrigFrom",
        "Message",
        "Announcement",
        "Request",
        "Reply",
        "Status",
        "reply_to",
        "stateful_request",
        "split_replier_bind_event_data",
        "hexdata",
        "hexify",
        "c_data_as_bytes",
        "calc_padded_name_len",
        "calc_padded_data_len",
        "calc_entire_message_len",
        "message_from_parts",
        "MSG_HEADER_LEN",
    ):
        assert name in namespace, name
    assert namespace["MSG_HEADER_LEN"] == MSG_HEADER_LEN
    assert "_MessageHeaderStruct" not in namespace


# ---------------------------------------------------------------------------
# read_bindings

BINDINGS_SAMPLE = """\
# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>
  0:        3    22160  L  $.Jim.*
  0:        2    22159  R  $.Sensors.Kitchen.Temperature
  0:        1    22158  R  $.Sensors.*
# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener> for <message-name>
  1:        1    23021  L  $.Fred
"""


def test_read_bindings(tmp_path: Path) -> None:
    path = tmp_path / "bindings"
    path.write_text(BINDINGS_SAMPLE)
    assert read_bindings({}, str(path)) == [
        (3, False, "$.Jim.*"),
        (2, True, "$.Sensors.Kitchen.Temperature"),
        (1, True, "$.Sensors.*"),
        (1, False, "$.Fred"),
    ]
    assert read_bindings({1: "alpha", 3: "gamma"}, path=str(path)) == [
        ("gamma", False, "$.Jim.*"),
        (2, True, "$.Sensors.Kitchen.Temperature"),
        ("alpha", True, "$.Sensors.*"),
        ("alpha", False, "$.Fred"),
    ]
    empty = tmp_path / "empty"
    empty.write_text(BINDINGS_SAMPLE.splitlines()[0] + "\n")
    assert read_bindings({}, str(empty)) == []
    bad = tmp_path / "bad"
    bad.write_text("  0:        3    22160  X  $.Jim.*\n")
    with pytest.raises(ValueError):
        read_bindings({}, str(bad))


# ---------------------------------------------------------------------------
# Ksock without a kernel module


def test_ksock_mode_validation() -> None:
    for mode in ("w", "", "rb", "r+", "wr"):
        with pytest.raises(ValueError) as info:
            Ksock(0, mode)
        assert str(info.value) == f"Ksock mode should be 'r' or 'rw', not '{mode}'"


@pytest.mark.parametrize("which", [999, -1])
def test_ksock_missing_device(which: int) -> None:
    if os.path.exists(f"/dev/kbus{which}"):
        pytest.skip(f"/dev/kbus{which} exists")
    for mode in ("r", "rw"):
        with pytest.raises(FileNotFoundError) as info:
            Ksock(which, mode)
        assert info.value.errno == errno.ENOENT


class FakeKernel:
    """Stands in for fcntl.ioctl: records calls and plays the kernel's part."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, bytes | int]] = []
        self.handlers: dict[int, Callable[[Any], int]] = {}

    def __call__(self, fd: int, request: int, arg: Any = 0, mutate: bool = True) -> int:
        assert mutate is True
        if isinstance(arg, int):
            self.calls.append((request, arg))
            view = None
        else:
            nbytes = memoryview(arg).nbytes
            view = (ctypes.c_ubyte * nbytes).from_buffer(arg)
            self.calls.append((request, bytes(view)))
        handler = self.handlers.get(request)
        if handler is None:
            raise OSError(errno.ENOTTY, os.strerror(errno.ENOTTY))
        return handler(view)

    def u32_out(self, request: int, value: int, retval: int = 0) -> None:
        def handler(view: Any) -> int:
            struct.pack_into("=I", view, 0, value)
            return retval

        self.handlers[request] = handler


@pytest.fixture()
def fake_ksock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Ksock, FakeKernel, Path]]:
    """A Ksock whose "device" is a temporary file and whose ioctls are faked."""
    kernel = FakeKernel()
    monkeypatch.setattr(fcntl, "ioctl", kernel)
    device = tmp_path / "kbus0"
    device.write_bytes(b"")
    ksock = Ksock.__new__(Ksock)
    ksock.which = 0
    ksock.name = "/dev/kbus0"
    ksock.mode = "read/write"
    fd = open(device, "r+b", buffering=0)
    assert isinstance(fd, io.FileIO)
    ksock.fd = fd
    yield ksock, kernel, device
    ksock.close()


def test_ksock_text_and_close(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, _ = fake_ksock
    kernel.u32_out(Ksock.IOC_KSOCKID, 3)
    assert str(ksock) == "Ksock device 0, id 3, mode read/write"
    assert repr(ksock) == "<Ksock /dev/kbus0 open for read/write>"
    assert isinstance(ksock.fileno(), int)
    with ksock as same:
        assert same is ksock
    assert ksock.fd is None
    assert ksock.mode is None
    assert str(ksock) == "Ksock device 0 (closed)"
    assert repr(ksock) == "<Ksock /dev/kbus0 closed>"
    ksock.close()  # closing twice is harmless
    with pytest.raises(ValueError):
        ksock.ksock_id()


def test_ksock_context_manager_does_not_suppress(
    fake_ksock: tuple[Ksock, FakeKernel, Path],
) -> None:
    ksock, _, _ = fake_ksock
    with pytest.raises(RuntimeError), ksock:
        raise RuntimeError("boom")
    assert ksock.fd is None


def test_ksock_write_msg_pointy_and_entire(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, device = fake_ksock
    pointy = Message("$.Fred", b"abc1234")
    ksock.write_msg(pointy)
    assert device.read_bytes() == bytes(pointy.msg)
    assert len(device.read_bytes()) == MSG_HEADER_LEN
    entire = Message.from_bytes(pointy.to_bytes())
    ksock.write_msg(entire)
    assert len(device.read_bytes()) == MSG_HEADER_LEN + entire.total_length()
    assert device.read_bytes()[MSG_HEADER_LEN:] == pointy.to_bytes()
    assert ksock.write_data(b"xyz") == 3
    assert device.read_bytes().endswith(b"xyz")

    def send_handler(view: Any) -> int:
        struct.pack_into("=II", view, 0, 0, 77)
        return 0

    kernel.handlers[Ksock.IOC_SEND] = send_handler
    assert ksock.send_msg(Message("$.Fred")) == MessageId(0, 77)
    assert kernel.calls[-1] == (Ksock.IOC_SEND, bytes(8))


def test_ksock_read_side(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, device = fake_ksock
    first = Message("$.Fred", b"abc1234", id=MessageId(0, 1), from_=2)
    second = Message("$.Jim", id=MessageId(0, 2), flags=3)
    device.write_bytes(first.to_bytes() + second.to_bytes())
    lengths = [first.total_length(), second.total_length()]

    def next_handler(view: Any) -> int:
        if not lengths:
            struct.pack_into("=I", view, 0, 0)
            return 0
        struct.pack_into("=I", view, 0, lengths.pop(0))
        return 1

    kernel.handlers[Ksock.IOC_NEXTMSG] = next_handler
    got = list(ksock)
    assert got == [first, second]
    assert all(type(m) is Message for m in got)
    assert ksock.read_next_msg() is None
    assert ksock.read_data(10) == b""
    assert ksock.read_msg(100) is None


def test_ksock_next_msg_uses_ioctl_return_value(
    fake_ksock: tuple[Ksock, FakeKernel, Path],
) -> None:
    ksock, kernel, _ = fake_ksock
    kernel.u32_out(Ksock.IOC_NEXTMSG, 100, retval=1)
    assert ksock.next_msg() == 100
    kernel.u32_out(Ksock.IOC_NEXTMSG, 0, retval=0)
    assert ksock.next_msg() == 0
    kernel.u32_out(Ksock.IOC_NEXTMSG, 1234, retval=0)  # nothing popped
    assert ksock.next_msg() == 0


def test_ksock_bind_unbind_arguments(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, _ = fake_ksock
    seen: list[tuple[int, int, bytes]] = []

    def bind_handler(view: Any) -> int:
        is_replier, length = struct.unpack_from("=II", view, 0)
        pointer = struct.unpack_from("P", view, 8)[0]
        seen.append((is_replier, length, ctypes.string_at(pointer, length)))
        return 0

    kernel.handlers[Ksock.IOC_BIND] = bind_handler
    kernel.handlers[Ksock.IOC_UNBIND] = bind_handler
    ksock.bind("$.Sensors.*")
    ksock.bind("$.Fred", replier=True)
    ksock.unbind("$.Fred", True)
    assert seen == [(0, 11, b"$.Sensors.*"), (1, 6, b"$.Fred"), (1, 6, b"$.Fred")]
    assert [c[0] for c in kernel.calls] == [Ksock.IOC_BIND, Ksock.IOC_BIND, Ksock.IOC_UNBIND]
    assert all(
        len(c[1]) == ctypes.sizeof(BindStruct) for c in kernel.calls if isinstance(c[1], bytes)
    )

    def failing(view: Any) -> int:
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    kernel.handlers[Ksock.IOC_BIND] = failing
    with pytest.raises(OSError) as info:
        ksock.bind("$.Fred", replier=True)
    assert info.value.errno == errno.EADDRINUSE


def test_ksock_find_replier(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, _ = fake_ksock
    queried: list[bytes] = []

    def replier_handler(view: Any) -> int:
        length = struct.unpack_from("=I", view, 4)[0]
        pointer = struct.unpack_from("P", view, 8)[0]
        name = ctypes.string_at(pointer, length)
        queried.append(name)
        if name == b"$.Fred":
            struct.pack_into("=I", view, 0, 5)
            return 1
        struct.pack_into("=I", view, 0, 0)
        return 0

    kernel.handlers[Ksock.IOC_REPLIER] = replier_handler
    assert ksock.find_replier("$.Fred") == 5
    assert ksock.find_replier(b"$.Fred") == 5
    assert ksock.find_replier("$.Jim") is None
    assert queried == [b"$.Fred", b"$.Fred", b"$.Jim"]


def test_ksock_u32_ioctls(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, _ = fake_ksock
    inputs: dict[int, list[int]] = {}

    def echo_previous(request: int, previous: int) -> None:
        def handler(view: Any) -> int:
            inputs.setdefault(request, []).append(struct.unpack_from("=I", view, 0)[0])
            struct.pack_into("=I", view, 0, previous)
            return 0

        kernel.handlers[request] = handler

    for request in (
        Ksock.IOC_MSGONLYONCE,
        Ksock.IOC_VERBOSE,
        Ksock.IOC_REPORTREPLIERBINDS,
        Ksock.IOC_MAXMSGS,
        Ksock.IOC_MAXMSGSIZE,
    ):
        echo_previous(request, 1)
    assert ksock.want_messages_once(True) == 1
    assert ksock.want_messages_once() == 1
    assert ksock.want_messages_once(just_ask=True) == 1
    assert inputs[Ksock.IOC_MSGONLYONCE] == [1, 0, 0xFFFFFFFF]
    ksock.kernel_module_verbose()
    ksock.kernel_module_verbose(False)
    ksock.kernel_module_verbose(just_ask=True)
    assert inputs[Ksock.IOC_VERBOSE] == [1, 0, 0xFFFFFFFF]
    ksock.report_replier_binds()
    ksock.report_replier_binds(False)
    ksock.report_replier_binds(True, True)
    assert inputs[Ksock.IOC_REPORTREPLIERBINDS] == [1, 0, 0xFFFFFFFF]
    ksock.max_messages()
    ksock.set_max_messages(50)
    assert inputs[Ksock.IOC_MAXMSGS] == [0, 50]
    ksock.max_message_size()
    ksock.set_max_message_size(1)
    ksock.set_max_message_size(2048)
    assert inputs[Ksock.IOC_MAXMSGSIZE] == [0, 1, 2048]

    for request, method in (
        (Ksock.IOC_KSOCKID, ksock.ksock_id),
        (Ksock.IOC_LENLEFT, ksock.len_left),
        (Ksock.IOC_NUMMSGS, ksock.num_messages),
        (Ksock.IOC_UNREPLIEDTO, ksock.num_unreplied_to),
        (Ksock.IOC_NEWDEVICE, ksock.new_device),
    ):
        kernel.u32_out(request, 0xFFFFFFF0)
        assert method() == 0xFFFFFFF0


def test_ksock_id_ioctls(fake_ksock: tuple[Ksock, FakeKernel, Path]) -> None:
    ksock, kernel, _ = fake_ksock

    def lastsent(view: Any) -> int:
        struct.pack_into("=II", view, 0, 3, 4)
        return 0

    kernel.handlers[Ksock.IOC_LASTSENT] = lastsent
    assert ksock.last_msg_id() == MessageId(3, 4)
    kernel.handlers[Ksock.IOC_DISCARD] = lambda arg: 0
    ksock.discard()
    assert kernel.calls[-1] == (Ksock.IOC_DISCARD, 0)

    def send_fails(view: Any) -> int:
        raise OSError(errno.ENOMSG, os.strerror(errno.ENOMSG))

    kernel.handlers[Ksock.IOC_SEND] = send_fails
    with pytest.raises(OSError) as info:
        ksock.send()
    assert info.value.errno == errno.ENOMSG


def test_ksock_read_only_cannot_write(tmp_path: Path) -> None:
    device = tmp_path / "kbus0"
    device.write_bytes(b"")
    ksock = Ksock.__new__(Ksock)
    ksock.which = 0
    ksock.name = "/dev/kbus0"
    ksock.mode = "read"
    fd = open(device, "rb", buffering=0)
    assert isinstance(fd, io.FileIO)
    ksock.fd = fd
    try:
        with pytest.raises(OSError):
            ksock.write_msg(Message("$.Fred"))
        assert repr(ksock) == "<Ksock /dev/kbus0 open for read>"
    finally:
        ksock.close()
