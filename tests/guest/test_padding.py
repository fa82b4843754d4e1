# SPDX-License-Identifier: MIT
"""No uninitialised kernel bytes (or kernel pointers) reach user space.

Every buffer KBUS writes into is filled with 0xAA first, so that a byte the
kernel leaves stale, or a byte it copies from an uninitialised place, shows.
Checked: messages read back (spec §4.4, §4.5, §5.3: header padding on LP64,
``extra``, the NULL name/data pointers, the NUL and zero padding after the
name, the zero padding after the data, the final guard, nothing written past
the message) for user messages sent entire with non-zero padding or pointy,
for KBUS status messages and replier bind events; the ioctl results (u32
results write 4 bytes, message ids 8, the REPLIER query only its own
fields); and the /proc files (only the documented text, §13)."""

from __future__ import annotations

import ctypes
import re
import struct

import pytest
from kbus import Announcement, Request

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory

AA = 0xAA
SLACK = 32  # bytes after the message that read must leave alone


def aa_buffer(size: int) -> ctypes.Array[ctypes.c_ubyte]:
    return (ctypes.c_ubyte * size)(*([AA] * size))


def read_next_into_aa(fd: int) -> bytes:
    """NEXTMSG, then one read of more than the message into a 0xAA-filled
    buffer; returns the message bytes after checking the slack is intact."""
    ret, length = raw.nextmsg(fd)
    assert ret == 1, "no message queued"
    buf = aa_buffer(length + SLACK)
    got = raw.libc_read(fd, ctypes.addressof(buf), length + SLACK)
    assert got == length
    out = bytes(buf)
    assert out[length:] == bytes([AA]) * SLACK, "read wrote past the message"
    return out[:length]


def check_zero_bytes(m: bytes) -> raw.ParsedMessage:
    """Every byte the spec fixes to zero is zero; returns the parsed message."""
    hdr = raw.Header.unpack(m)
    n, d = hdr.name_len, hdr.data_len
    assert len(m) == raw.entire_len(n, d)
    assert hdr.extra == 0, f"extra {hdr.extra:#x}"
    assert (hdr.name, hdr.data) == (0, 0), "pointers in a read message"
    if raw.LP64:
        assert m[60:64] == bytes(4), f"header padding 60..63: {m[60:64].hex()}"
        assert m[84:88] == bytes(4), f"header tail padding: {m[84:88].hex()}"
    name_end = raw.HDR_LEN + n
    name_pad = m[name_end : raw.HDR_LEN + raw.padded_name_len(n)]
    assert name_pad == bytes(len(name_pad)), f"NUL and name padding: {name_pad.hex()}"
    data_at = raw.HDR_LEN + raw.padded_name_len(n)
    data_pad = m[data_at + d : data_at + raw.padded_data_len(d)]
    assert data_pad == bytes(len(data_pad)), f"data padding: {data_pad.hex()}"
    return raw.parse_entire(m)


# names of 3..6 bytes (padding 1, 4, 3, 2 bytes after the name) and data of
# 0..8 bytes (padding 0..3 after the data)
NAMES = [b"$.P", b"$.Pa", b"$.Pab", b"$.Pabc"]
DATA_LENGTHS = list(range(9))


@pytest.mark.parametrize("name", NAMES, ids=[n.decode() for n in NAMES])
def test_entire_message_with_garbage_padding_reads_back_zeroed(
    ksock: KsockFactory, name: bytes
) -> None:
    listener = ksock()
    listener.bind(name.decode())
    sender = ksock()
    header = raw.Header(extra=0xDEADBEEF)
    for d in DATA_LENGTHS:
        data = bytes(range(0x41, 0x41 + d))
        raw.write_all(
            sender.fileno(), raw.entire_message(name, data, header, pad_byte=0x5A)
        )
        raw.send(sender.fileno())
        msg = check_zero_bytes(read_next_into_aa(listener.fileno()))
        assert (msg.name, msg.data) == (name, data)


@pytest.mark.parametrize("d", [0, 1, 2, 3, 5])
def test_pointy_message_gets_a_nul_and_zero_padding(
    ksock: KsockFactory, d: int
) -> None:
    """The byte after a pointy name is copied (§4.6) but must not leak: here
    it is 'Z', and the reader still sees a NUL and zero padding."""
    listener = ksock()
    listener.bind("$.Pads")
    sender = ksock()
    data = b"\x01" * d
    pointy = raw.Pointy(b"$.PadsZ", data, raw.Header(extra=0x12345678), name_len=6)
    raw.write_all(sender.fileno(), pointy.pack())
    raw.send(sender.fileno())
    msg = check_zero_bytes(read_next_into_aa(listener.fileno()))
    assert (msg.name, msg.data) == (b"$.Pads", data)


def test_read_in_pieces_into_aa_buffers_gives_the_same_bytes(
    ksock: KsockFactory,
) -> None:
    listener = ksock()
    listener.bind("$.Pab")
    sender = ksock()
    raw.write_all(sender.fileno(), raw.entire_message(b"$.Pab", b"xyz", pad_byte=0xFF))
    raw.send(sender.fileno())
    ret, length = raw.nextmsg(listener.fileno())
    assert ret == 1
    pieces = b""
    for size in (5, 1, 60, 7, length):
        buf = aa_buffer(size + SLACK)
        got = raw.libc_read(listener.fileno(), ctypes.addressof(buf), size)
        assert bytes(buf)[got:] == bytes([AA]) * (size + SLACK - got)
        pieces += bytes(buf)[:got]
    assert len(pieces) == length
    check_zero_bytes(pieces)


def test_status_message_has_no_stray_bytes(ksock: KsockFactory) -> None:
    """$.KBUS.Replier.GoneAway: KBUS builds it itself (§11.3): no data,
    zero orig_from/final_to and padding."""
    requester = ksock()
    replier = ksock()
    replier.bind("$.Pad.Req", True)
    requester.send_msg(Request("$.Pad.Req", b"please"))
    replier.close()
    msg = check_zero_bytes(read_next_into_aa(requester.fileno()))
    assert msg.name == raw.NAME_GONEAWAY.encode()
    assert msg.data == b""
    assert msg.header.orig_from == (0, 0) and msg.header.final_to == (0, 0)
    assert msg.header.flags == raw.SYNTHETIC
    assert msg.header.to == requester.ksock_id()


def test_replier_bind_event_data_is_zero_padded(ksock: KsockFactory) -> None:
    """$.KBUS.ReplierBindEvent data (§4.9): the bound name NUL-terminated
    and zero-padded (here 6 bytes, 2 of padding)."""
    listener = ksock()
    listener.bind(raw.NAME_BIND_EVENT)
    listener.report_replier_binds(True)
    binder = ksock()
    binder.bind("$.Ev.x", True)
    msg = check_zero_bytes(read_next_into_aa(listener.fileno()))
    assert msg.name == raw.NAME_BIND_EVENT.encode()
    is_bind, who, name_len = struct.unpack("=III", msg.data[:12])
    assert (is_bind, who, name_len) == (1, binder.ksock_id(), 6)
    assert msg.data[12:] == b"$.Ev.x\0\0"
    assert msg.header.orig_from == (0, 0) and msg.header.final_to == (0, 0)


# --------------------------------------------------------------------------
# ioctl results

U32_RESULTS = [
    ("KSOCKID", 0),
    ("NEXTMSG", 0),
    ("LENLEFT", 0),
    ("MAXMSGS", 0),
    ("NUMMSGS", 0),
    ("UNREPLIEDTO", 0),
    ("MAXMSGSIZE", 0),
    ("MSGONLYONCE", raw.QUERY),
    ("VERBOSE", raw.QUERY),
    ("REPORTREPLIERBINDS", raw.QUERY),
]


@pytest.mark.parametrize(
    ("name", "value"), U32_RESULTS, ids=[n for n, _ in U32_RESULTS]
)
def test_u32_ioctl_result_writes_four_bytes_only(
    ksock: KsockFactory, name: str, value: int
) -> None:
    """The ioctl size says sizeof(char *), the value is a u32: bytes 4 on
    (and the 4 spare bytes of LP64) stay as they were."""
    k = ksock()
    k.bind("$.Pad.U32")
    ksock().send_msg(Announcement("$.Pad.U32", b"queued"))
    if name == "LENLEFT":
        k.next_msg()
    buf = aa_buffer(16)
    struct.pack_into("=I", buf, 0, value)
    raw.ioctl(k.fileno(), raw.IOC[name], buf)
    out = bytes(buf)
    assert out[4:] == bytes([AA]) * 12, f"{name} wrote {out.hex()}"


@pytest.mark.parametrize("name", ["SEND", "LASTSENT"])
def test_message_id_results_write_eight_bytes_only(
    ksock: KsockFactory, name: str
) -> None:
    k = ksock()
    raw.write_all(k.fileno(), raw.entire_message(b"$.Pad.Id"))
    buf = aa_buffer(24)
    if name == "LASTSENT":
        sent = raw.send(k.fileno())
        raw.ioctl(k.fileno(), raw.IOC["LASTSENT"], buf)
    else:
        raw.ioctl(k.fileno(), raw.IOC["SEND"], buf)
        sent = raw.lastsent(k.fileno())
    out = bytes(buf)
    assert struct.unpack("=II", out[:8]) == sent
    assert sent[0] == 0 and sent[1] > 0
    assert out[8:] == bytes([AA]) * 16, f"{name} wrote {out.hex()}"


def test_replier_query_writes_back_its_own_fields_only(ksock: KsockFactory) -> None:
    replier = ksock()
    replier.bind("$.Pad.Who", True)
    name = ctypes.create_string_buffer(b"$.Pad.Who")
    size = ctypes.sizeof(raw.BindQuery)
    buf = aa_buffer(size + 16)
    query = raw.BindQuery.from_buffer(buf)
    query.return_id = 0xFFFFFFFF
    query.name_len = 9
    query.name = ctypes.addressof(name)
    assert raw.ioctl(ksock().fileno(), raw.IOC["REPLIER"], buf) == 1
    assert query.return_id == replier.ksock_id()
    assert query.name_len == 9 and query.name == ctypes.addressof(name)
    assert bytes(buf)[size:] == bytes([AA]) * 16


# --------------------------------------------------------------------------
# /proc

_STATS_LINES = [
    re.compile(
        r"dev +\d+: next ksock \d+ next msg \d+"
        r" unsent unbindings \d+(\(gone tragic\))?"
    ),
    re.compile(r"    ksock \d+ last msg \d+:\d+ queue \d+ of \d+"),
    re.compile(
        r"      read byte \d+ of \d+, wrote byte \d+ of (HDR|NAME|NPAD|DATA|DPAD|FINAL)"
        r" \((not )?finished\), (not )?sending"
    ),
    re.compile(
        r"      outstanding requests \d+ \(size \d+, max \d+\),"
        r" unsent replies \d+ \(max \d+\)"
    ),
    # once a policy was loaded or something was denied (test_policy.py)
    re.compile(r"    policy: denied binds \d+ sends \d+, filtered \d+"),
    # once a pending ALL_OR_WAIT send was retried (test_queues.py)
    re.compile(r"    pending sends retried \d+ times"),
]
_BINDINGS_HEADER = (
    "# <device> is bound to <Ksock-ID> in <process-PID> as <Replier|Listener>"
    " for <message-name>"
)
_BINDING_LINE = re.compile(r" *\d+: +\d+ +\d+  [RL]  \$\.[A-Za-z0-9.*%]+")


def test_proc_files_hold_only_the_documented_text(ksock: KsockFactory) -> None:
    """With Ksocks in every state (bound, with a partly written message, a
    partly read one, an outstanding request), each line of the /proc files
    is one of the documented lines: plain decimal numbers, nothing else
    (no pointer, no stray byte)."""
    replier = ksock()
    replier.bind("$.Pad.Proc", True)
    replier.bind("$.Pad.*")
    requester = ksock()
    requester.send_msg(Request("$.Pad.Proc", b"q"))
    reader = ksock()
    reader.bind("$.Pad.Proc")
    requester.send_msg(Announcement("$.Pad.Proc", b"hello"))
    reader.next_msg()
    raw.read_current(reader.fileno(), 10)
    writer = ksock()
    raw.write_all(writer.fileno(), raw.entire_message(b"$.Pad.Half", b"abc")[:95])
    with open(util.STATS_PATH, "rb") as f:
        stats = f.read()
    with open(util.BINDINGS_PATH, "rb") as f:
        bindings = f.read()
    for text in (stats, bindings):
        assert all(b == 0x0A or 0x20 <= b < 0x7F for b in text), text
        assert text.endswith(b"\n")
    stats_lines = stats.decode().splitlines()
    assert len(stats_lines) >= 1 + 3 * 4
    for line in stats_lines:
        assert any(r.fullmatch(line) for r in _STATS_LINES), repr(line)
    binding_lines = bindings.decode().splitlines()
    assert binding_lines[0] == _BINDINGS_HEADER
    assert len(binding_lines) == 1 + 3
    for line in binding_lines[1:]:
        assert _BINDING_LINE.fullmatch(line), repr(line)
