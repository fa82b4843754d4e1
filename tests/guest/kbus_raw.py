# SPDX-License-Identifier: MIT
"""Raw KBUS ABI helpers for the conformance suite (spec §4 and §6).

Everything here is computed independently of the ``kbus`` package so that the
tests can check the binary interface itself: the header layout (72 bytes on
ILP32, 88 on LP64), the ioctl numbers (size field = ``sizeof(char *)``),
entire-form messages, and calls with deliberately bad pointers.

ioctls go through libc's ``ioctl`` via ctypes rather than ``fcntl.ioctl``,
because ``fcntl.ioctl`` only accepts a C ``int`` as a scalar argument, which
cannot express an arbitrary (bad) pointer such as ``0xdead0000``.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import select
import struct
from dataclasses import dataclass, field, replace

PTR_SIZE: int = ctypes.sizeof(ctypes.c_void_p)
LP64: bool = PTR_SIZE == 8
HDR_LEN: int = 88 if LP64 else 72

START_GUARD = 0x7375624B
END_GUARD = 0x4B627573
MAX_NAME_LEN = 1000

WANT_A_REPLY = 0x1
WANT_YOU_TO_REPLY = 0x2
SYNTHETIC = 0x4
URGENT = 0x8
ALL_OR_WAIT = 0x100
ALL_OR_FAIL = 0x200

QUERY = 0xFFFFFFFF  # "just ask" argument of MSGONLYONCE/VERBOSE/REPORTREPLIERBINDS

DEFAULT_MAX_MESSAGES = 100
DEFAULT_MAX_MSG_SIZE = 409600  # out-of-tree build default (§2.3)
ABS_MAX_MSG_SIZE = 409600
MIN_MAX_MSG_SIZE = 100

NAME_GONEAWAY = "$.KBUS.Replier.GoneAway"
NAME_IGNORED = "$.KBUS.Replier.Ignored"
NAME_UNBOUND = "$.KBUS.Replier.Unbound"
NAME_DISAPPEARED = "$.KBUS.Replier.Disappeared"
NAME_ERROR_SENDING = "$.KBUS.ErrorSending"
NAME_UNBIND_EVENTS_LOST = "$.KBUS.UnbindEventsLost"
NAME_BIND_EVENT = "$.KBUS.ReplierBindEvent"

# --------------------------------------------------------------------------
# ioctl numbers (§6.1)

IOC_MAGIC = ord("k")
_IOC_NONE = 0
_IOC_WRITE = 1
_IOC_READ = 2


def ioc(direction: int, nr: int, size: int, magic: int = IOC_MAGIC) -> int:
    """The generic Linux _IOC encoding."""
    return (direction << 30) | (size << 16) | (magic << 8) | nr


# name -> (nr, direction); direction None means _IO (no argument)
IOCTL_SPECS: dict[str, tuple[int, int]] = {
    "RESET": (1, _IOC_NONE),
    "BIND": (2, _IOC_WRITE),
    "UNBIND": (3, _IOC_WRITE),
    "KSOCKID": (4, _IOC_READ),
    "REPLIER": (5, _IOC_READ | _IOC_WRITE),
    "NEXTMSG": (6, _IOC_READ),
    "LENLEFT": (7, _IOC_READ),
    "SEND": (8, _IOC_READ),
    "DISCARD": (9, _IOC_NONE),
    "LASTSENT": (10, _IOC_READ),
    "MAXMSGS": (11, _IOC_READ | _IOC_WRITE),
    "NUMMSGS": (12, _IOC_READ),
    "UNREPLIEDTO": (13, _IOC_READ),
    "MSGONLYONCE": (14, _IOC_READ | _IOC_WRITE),
    "VERBOSE": (15, _IOC_READ | _IOC_WRITE),
    "NEWDEVICE": (16, _IOC_READ),
    "REPORTREPLIERBINDS": (17, _IOC_READ | _IOC_WRITE),
    "MAXMSGSIZE": (18, _IOC_READ | _IOC_WRITE),
}


def ioc_for(name: str, size: int = PTR_SIZE) -> int:
    nr, direction = IOCTL_SPECS[name]
    return ioc(direction, nr, 0 if direction == _IOC_NONE else size)


IOC: dict[str, int] = {name: ioc_for(name) for name in IOCTL_SPECS}
IOC_OTHER_ABI: dict[str, int] = {
    name: ioc_for(name, 4 if LP64 else 8) for name in IOCTL_SPECS
}

# The literal values of the spec table, for both ABIs (§6.1).
SPEC_IOCTL_VALUES_LP64: dict[str, int] = {
    "RESET": 0x00006B01,
    "BIND": 0x40086B02,
    "UNBIND": 0x40086B03,
    "KSOCKID": 0x80086B04,
    "REPLIER": 0xC0086B05,
    "NEXTMSG": 0x80086B06,
    "LENLEFT": 0x80086B07,
    "SEND": 0x80086B08,
    "DISCARD": 0x00006B09,
    "LASTSENT": 0x80086B0A,
    "MAXMSGS": 0xC0086B0B,
    "NUMMSGS": 0x80086B0C,
    "UNREPLIEDTO": 0x80086B0D,
    "MSGONLYONCE": 0xC0086B0E,
    "VERBOSE": 0xC0086B0F,
    "NEWDEVICE": 0x80086B10,
    "REPORTREPLIERBINDS": 0xC0086B11,
    "MAXMSGSIZE": 0xC0086B12,
}
SPEC_IOCTL_VALUES_ILP32: dict[str, int] = {
    "RESET": 0x00006B01,
    "BIND": 0x40046B02,
    "UNBIND": 0x40046B03,
    "KSOCKID": 0x80046B04,
    "REPLIER": 0xC0046B05,
    "NEXTMSG": 0x80046B06,
    "LENLEFT": 0x80046B07,
    "SEND": 0x80046B08,
    "DISCARD": 0x00006B09,
    "LASTSENT": 0x80046B0A,
    "MAXMSGS": 0xC0046B0B,
    "NUMMSGS": 0x80046B0C,
    "UNREPLIEDTO": 0x80046B0D,
    "MSGONLYONCE": 0xC0046B0E,
    "VERBOSE": 0xC0046B0F,
    "NEWDEVICE": 0x80046B10,
    "REPORTREPLIERBINDS": 0xC0046B11,
    "MAXMSGSIZE": 0xC0046B12,
}
SPEC_IOCTL_VALUES: dict[str, int] = (
    SPEC_IOCTL_VALUES_LP64 if LP64 else SPEC_IOCTL_VALUES_ILP32
)

# This implementation's additions (kbus_defns.h): real argument sizes, the
# same layouts on 32 and 64 bits.
IOC_MSGCREDS = ioc(_IOC_READ, 19, 16)
IOC_SETPOLICY = ioc(_IOC_WRITE, 20, 32)
IOC_FILTERED = ioc(_IOC_READ, 21, 4)
IOC_BATCHREAD = ioc(_IOC_READ | _IOC_WRITE, 22, 4)
POLICY_MAGIC = 0x6B506F6C
POLICY_VERSION = 1
DENY, ALLOW = 0, 1
OWN, LISTEN, SEND = 1, 2, 3
EVERYONE, USER, GROUP = 0, 1, 2
CREDS_SYNTHETIC = 0x1

# ioctls whose argument is a user pointer (all but RESET and DISCARD)
POINTER_IOCTLS: tuple[str, ...] = tuple(
    name for name, (_, d) in IOCTL_SPECS.items() if d != _IOC_NONE
)

# --------------------------------------------------------------------------
# libc access

_libc = ctypes.CDLL(None, use_errno=True)
_libc_ioctl = _libc.ioctl
_libc_ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc_ioctl.restype = ctypes.c_int
_libc_read = _libc.read
_libc_read.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc_read.restype = ctypes.c_ssize_t
_libc_write = _libc.write
_libc_write.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t]
_libc_write.restype = ctypes.c_ssize_t


_libc_mmap = _libc.mmap
_libc_mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc_mmap.restype = ctypes.c_void_p
_libc_mprotect = _libc.mprotect
_libc_mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc_mprotect.restype = ctypes.c_int


def _raise_errno() -> None:
    err = ctypes.get_errno()
    raise OSError(err, os.strerror(err))


def addr_of(arg: object) -> int | None:
    """A ctypes object's address, an int as is, None as NULL."""
    if arg is None:
        return None
    if isinstance(arg, int):
        return arg
    return ctypes.addressof(arg)  # type: ignore[arg-type]


def ioctl(fd: int, cmd: int, arg: object = None) -> int:
    """Call ioctl(2); ``arg`` is a ctypes object (passed by address), an int
    (passed as the pointer value) or None (NULL). Raises OSError on -1."""
    ret = _libc_ioctl(fd, cmd, addr_of(arg))
    if ret == -1:
        _raise_errno()
    return int(ret)


def libc_read(fd: int, addr: int, count: int) -> int:
    ret = _libc_read(fd, addr, count)
    if ret == -1:
        _raise_errno()
    return int(ret)


def libc_write(fd: int, addr: int, count: int) -> int:
    ret = _libc_write(fd, addr, count)
    if ret == -1:
        _raise_errno()
    return int(ret)


class U32Arg(ctypes.Structure):
    """A u32 argument in a buffer as large as the encoded ioctl size."""

    _fields_ = [("value", ctypes.c_uint32), ("_spare", ctypes.c_uint32)]


class MsgId(ctypes.Structure):
    _fields_ = [("network_id", ctypes.c_uint32), ("serial_num", ctypes.c_uint32)]

    def as_tuple(self) -> tuple[int, int]:
        return (int(self.network_id), int(self.serial_num))


class BindRequest(ctypes.Structure):
    _fields_ = [
        ("is_replier", ctypes.c_uint32),
        ("name_len", ctypes.c_uint32),
        ("name", ctypes.c_void_p),
    ]


class BindQuery(ctypes.Structure):
    _fields_ = [
        ("return_id", ctypes.c_uint32),
        ("name_len", ctypes.c_uint32),
        ("name", ctypes.c_void_p),
    ]


def u32_ioctl(fd: int, name: str, value: int = 0) -> tuple[int, int]:
    """An ioctl with a u32 in/out argument: returns (ioctl result, value out)."""
    arg = U32Arg(value, 0)
    ret = ioctl(fd, IOC[name], arg)
    return ret, int(arg.value)


def ksock_id(fd: int) -> int:
    return u32_ioctl(fd, "KSOCKID")[1]


def nextmsg(fd: int) -> tuple[int, int]:
    """NEXTMSG: (return value 1/0, length)."""
    return u32_ioctl(fd, "NEXTMSG")


def lenleft(fd: int) -> int:
    return u32_ioctl(fd, "LENLEFT")[1]


def nummsgs(fd: int) -> int:
    return u32_ioctl(fd, "NUMMSGS")[1]


def unrepliedto(fd: int) -> int:
    return u32_ioctl(fd, "UNREPLIEDTO")[1]


def maxmsgs(fd: int, value: int = 0) -> int:
    return u32_ioctl(fd, "MAXMSGS", value)[1]


def maxmsgsize(fd: int, value: int = 0) -> int:
    return u32_ioctl(fd, "MAXMSGSIZE", value)[1]


def send(fd: int) -> tuple[int, int]:
    arg = MsgId(0, 0)
    ioctl(fd, IOC["SEND"], arg)
    return arg.as_tuple()


def lastsent(fd: int) -> tuple[int, int]:
    arg = MsgId(0xFFFFFFFF, 0xFFFFFFFF)
    ioctl(fd, IOC["LASTSENT"], arg)
    return arg.as_tuple()


def discard(fd: int) -> None:
    ioctl(fd, IOC["DISCARD"])


def _bind_like(
    fd: int,
    cmd: str,
    name: bytes,
    replier: bool,
    name_len: int | None,
    name_ptr: int | None,
) -> int:
    buf = ctypes.create_string_buffer(name, len(name) + 1)
    req = BindRequest(
        1 if replier else 0,
        len(name) if name_len is None else name_len,
        ctypes.addressof(buf) if name_ptr is None else name_ptr,
    )
    return ioctl(fd, IOC[cmd], req)


def bind(
    fd: int,
    name: bytes,
    replier: bool = False,
    name_len: int | None = None,
    name_ptr: int | None = None,
) -> int:
    return _bind_like(fd, "BIND", name, replier, name_len, name_ptr)


def unbind(
    fd: int,
    name: bytes,
    replier: bool = False,
    name_len: int | None = None,
    name_ptr: int | None = None,
) -> int:
    return _bind_like(fd, "UNBIND", name, replier, name_len, name_ptr)


def replier(
    fd: int, name: bytes, name_len: int | None = None, name_ptr: int | None = None
) -> tuple[int, int]:
    """REPLIER: (ioctl result, return_id)."""
    buf = ctypes.create_string_buffer(name, len(name) + 1)
    query = BindQuery(
        0xFFFFFFFF,
        len(name) if name_len is None else name_len,
        ctypes.addressof(buf) if name_ptr is None else name_ptr,
    )
    ret = ioctl(fd, IOC["REPLIER"], query)
    return ret, int(query.return_id)


# --------------------------------------------------------------------------
# Message layout (§4)


def padded_name_len(n: int) -> int:
    return 4 * ((n + 1 + 3) // 4)


def padded_data_len(d: int) -> int:
    return 4 * ((d + 3) // 4)


def entire_len(n: int, d: int) -> int:
    return HDR_LEN + padded_name_len(n) + padded_data_len(d) + 4


if LP64:
    _HDR_FMT = "=I II II I I II II I I I I 4x Q Q I 4x"
else:
    _HDR_FMT = "=I II II I I II II I I I I I I I"
assert struct.calcsize(_HDR_FMT) == HDR_LEN

# offsets of interesting header fields
OFF_ID = 4
OFF_IN_REPLY_TO = 12
OFF_TO = 20
OFF_FROM = 24
OFF_EXTRA = 44
OFF_FLAGS = 48
OFF_NAME_LEN = 52
OFF_DATA_LEN = 56
OFF_NAME_PTR = 64 if LP64 else 60
OFF_DATA_PTR = 72 if LP64 else 64
OFF_END_GUARD = 80 if LP64 else 68


@dataclass
class Header:
    start_guard: int = START_GUARD
    id: tuple[int, int] = (0, 0)
    in_reply_to: tuple[int, int] = (0, 0)
    to: int = 0
    from_: int = 0
    orig_from: tuple[int, int] = (0, 0)
    final_to: tuple[int, int] = (0, 0)
    extra: int = 0
    flags: int = 0
    name_len: int = 0
    data_len: int = 0
    name: int = 0
    data: int = 0
    end_guard: int = END_GUARD

    def pack(self) -> bytes:
        return struct.pack(
            _HDR_FMT,
            self.start_guard,
            *self.id,
            *self.in_reply_to,
            self.to,
            self.from_,
            *self.orig_from,
            *self.final_to,
            self.extra,
            self.flags,
            self.name_len,
            self.data_len,
            self.name,
            self.data,
            self.end_guard,
        )

    @classmethod
    def unpack(cls, buf: bytes) -> Header:
        v = struct.unpack(_HDR_FMT, buf[:HDR_LEN])
        return cls(
            start_guard=v[0],
            id=(v[1], v[2]),
            in_reply_to=(v[3], v[4]),
            to=v[5],
            from_=v[6],
            orig_from=(v[7], v[8]),
            final_to=(v[9], v[10]),
            extra=v[11],
            flags=v[12],
            name_len=v[13],
            data_len=v[14],
            name=v[15],
            data=v[16],
            end_guard=v[17],
        )


def entire_message(
    name: bytes,
    data: bytes = b"",
    header: Header | None = None,
    *,
    flags: int | None = None,
    name_len: int | None = None,
    data_len: int | None = None,
    pad_byte: int = 0,
    final_guard: int = END_GUARD,
) -> bytes:
    """An entire-form message (§4.5). name_len/data_len default to the real
    lengths; other header fields come from ``header``; padding uses
    ``pad_byte``."""
    hdr = replace(header) if header is not None else Header()
    hdr.name_len = len(name) if name_len is None else name_len
    hdr.data_len = len(data) if data_len is None else data_len
    if flags is not None:
        hdr.flags = flags
    pad = bytes([pad_byte])
    name_part = name + pad * (padded_name_len(len(name)) - len(name))
    data_part = data + pad * (padded_data_len(len(data)) - len(data))
    return hdr.pack() + name_part + data_part + struct.pack("=I", final_guard)


@dataclass
class ParsedMessage:
    header: Header
    name: bytes
    data: bytes
    raw: bytes = field(repr=False, default=b"")


def parse_entire(buf: bytes) -> ParsedMessage:
    """Parse and sanity-check a message as read from a Ksock (§5.3)."""
    hdr = Header.unpack(buf)
    assert hdr.start_guard == START_GUARD, hex(hdr.start_guard)
    assert hdr.end_guard == END_GUARD, hex(hdr.end_guard)
    assert hdr.name == 0 and hdr.data == 0, "read messages must be entire"
    n, d = hdr.name_len, hdr.data_len
    assert len(buf) == entire_len(n, d), (len(buf), entire_len(n, d))
    off = HDR_LEN
    name = buf[off : off + n]
    name_pad = buf[off + n : off + padded_name_len(n)]
    assert name_pad == b"\0" * len(name_pad), "name padding must be zero"
    off += padded_name_len(n)
    data = buf[off : off + d]
    data_pad = buf[off + d : off + padded_data_len(d)]
    assert data_pad == b"\0" * len(data_pad), "data padding must be zero"
    off += padded_data_len(d)
    (final,) = struct.unpack("=I", buf[off : off + 4])
    assert final == END_GUARD, hex(final)
    return ParsedMessage(hdr, name, data, buf)


class Pointy:
    """A pointy message (§4.6): the header points into buffers owned by this
    object, which must stay alive until SEND returns. Pointers and lengths
    default to the real buffers; pass ``name_ptr``/``data_ptr`` (0 = NULL) or
    lengths to build deliberately wrong headers."""

    def __init__(
        self,
        name: bytes,
        data: bytes = b"",
        header: Header | None = None,
        *,
        flags: int | None = None,
        name_len: int | None = None,
        data_len: int | None = None,
        name_ptr: int | None = None,
        data_ptr: int | None = None,
    ) -> None:
        self.name_buf = ctypes.create_string_buffer(name, len(name) + 1)
        self.data_buf = ctypes.create_string_buffer(data, max(len(data), 1))
        self.header = replace(header) if header is not None else Header()
        self.header.name_len = len(name) if name_len is None else name_len
        self.header.data_len = len(data) if data_len is None else data_len
        if flags is not None:
            self.header.flags = flags
        self.header.name = (
            ctypes.addressof(self.name_buf) if name_ptr is None else name_ptr
        )
        if data_ptr is not None:
            self.header.data = data_ptr
        else:
            self.header.data = ctypes.addressof(self.data_buf) if data else 0

    def pack(self) -> bytes:
        return self.header.pack()

    def set_data(self, data: bytes) -> None:
        """Overwrite the data buffer in place (same length)."""
        ctypes.memmove(self.data_buf, data, len(data))


# --------------------------------------------------------------------------
# Higher-level raw operations on a file descriptor


def write_all(fd: int, buf: bytes, piece: int | None = None) -> None:
    """Write buf, in pieces of ``piece`` bytes if given; each write must
    consume exactly what it was given (§5.2)."""
    step = piece or len(buf) or 1
    for i in range(0, len(buf), step):
        chunk = buf[i : i + step]
        assert os.write(fd, chunk) == len(chunk)


def send_entire(
    fd: int, name: bytes, data: bytes = b"", flags: int = 0
) -> tuple[int, int]:
    write_all(fd, entire_message(name, data, flags=flags))
    return send(fd)


def read_current(fd: int, length: int, piece: int | None = None) -> bytes:
    """Read ``length`` bytes of the current message in pieces."""
    out = b""
    step = piece or length
    while len(out) < length:
        chunk = os.read(fd, min(step, length - len(out)))
        assert chunk, "premature end of message"
        out += chunk
    return out


def next_raw(fd: int) -> ParsedMessage | None:
    """NEXTMSG + read the whole message; None if the queue is empty."""
    ret, length = nextmsg(fd)
    if ret == 0:
        assert length == 0
        return None
    assert ret == 1
    buf = read_current(fd, length)
    assert os.read(fd, 16) == b"", "read past the end must return 0"
    return parse_entire(buf)


def poll_flags(fd: int, events: int, timeout_ms: int = 0) -> int:
    p = select.poll()
    p.register(fd, events)
    result = p.poll(timeout_ms)
    return result[0][1] if result else 0


def readable(fd: int, timeout_ms: int = 0) -> bool:
    return bool(poll_flags(fd, select.POLLIN, timeout_ms) & select.POLLIN)


def writable(fd: int, timeout_ms: int = 0) -> bool:
    return bool(poll_flags(fd, select.POLLOUT, timeout_ms) & select.POLLOUT)


def bind_event_data(is_bind: int, binder: int, name: bytes) -> bytes:
    """The expected data of a $.KBUS.ReplierBindEvent (§4.9)."""
    pad = padded_name_len(len(name)) - len(name)
    return struct.pack("=III", is_bind, binder, len(name)) + name + b"\0" * pad


def unmapped_address() -> int:
    """An address that is not mapped in this process (prefers 0xdead0000)."""
    spans = []
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = line.split()[0].split("-")
            spans.append((int(lo, 16), int(hi, 16)))
    for cand in (0xDEAD0000, 0xBAD00000, 0x10000):
        if not any(lo < cand + 0x10000 and cand < hi for lo, hi in spans):
            return cand
    raise AssertionError("no unmapped candidate address")


BAD_POINTERS: tuple[int, ...] = (0, 1, unmapped_address())


def bytes_before_guard_page(data: bytes) -> int:
    """Place ``data`` so that it ends exactly where an inaccessible page
    begins; returns its address. (The two pages are never unmapped.)"""
    page = os.sysconf("SC_PAGE_SIZE")
    base: int | None = _libc_mmap(
        None,
        2 * page,
        mmap.PROT_READ | mmap.PROT_WRITE,
        mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS,
        -1,
        0,
    )
    if base is None or base == ctypes.c_void_p(-1).value:
        _raise_errno()
    assert base is not None
    if _libc_mprotect(base + page, page, 0) != 0:  # PROT_NONE
        _raise_errno()
    addr = base + page - len(data)
    ctypes.memmove(addr, data, len(data))
    return addr


# --------------------------------------------------------------------------
# Credentials and policy (this implementation's additions)


def msg_creds(fd: int) -> tuple[int, int, int, int]:
    """(uid, gid, pid, flags) of the message NEXTMSG made current."""
    buf = ctypes.create_string_buffer(16)
    ioctl(fd, IOC_MSGCREDS, buf)
    uid, gid, pid, flags = struct.unpack("=IIII", buf.raw)
    return uid, gid, pid, flags


def filtered(fd: int) -> int:
    arg = U32Arg()
    ioctl(fd, IOC_FILTERED, arg)
    return int(arg.value)


Rule = tuple[int, int, int, int, str]  # action, effect, subject, id, pattern


def policy_blob(rules: list[Rule]) -> bytes:
    out = b""
    for action, effect, subject, ident, pattern in rules:
        name = pattern.encode()
        out += struct.pack("=BBBBIII", action, effect, subject, 0, ident, len(name), 0)
        out += name + b"\0" * (padded_data_len(len(name)) - len(name))
    return out


def set_policy(
    fd: int,
    rules: list[Rule],
    default: int = ALLOW,
    *,
    blob: bytes | None = None,
    num_rules: int | None = None,
    magic: int = POLICY_MAGIC,
) -> None:
    """SETPOLICY; ``blob``/``num_rules``/``magic`` override for bad input."""
    data = policy_blob(rules) if blob is None else blob
    buf = ctypes.create_string_buffer(data, len(data) or 1)
    hdr = struct.pack(
        "=IIIIIIQ",
        magic,
        POLICY_VERSION,
        default,
        len(rules) if num_rules is None else num_rules,
        len(data),
        0,
        ctypes.addressof(buf),
    )
    arg = ctypes.create_string_buffer(hdr, len(hdr))
    ioctl(fd, IOC_SETPOLICY, arg)


def batch_read(fd: int, value: int) -> int:
    """BATCHREAD: 0, 1, or QUERY; returns the previous state."""
    arg = U32Arg(value)
    ioctl(fd, IOC_BATCHREAD, arg)
    return int(arg.value)


def split_entire(buf: bytes) -> list[ParsedMessage]:
    """Whole entire messages, one after the other (a batch read)."""
    out = []
    off = 0
    while off < len(buf):
        hdr = Header.unpack(buf[off:])
        size = entire_len(hdr.name_len, hdr.data_len)
        out.append(parse_entire(buf[off : off + size]))
        off += size
    assert off == len(buf)
    return out
