# SPDX-License-Identifier: MIT
"""KBUS messages: the Message classes and the helpers of the original binding.

The message classes (``Message``, ``Announcement``, ``Request``, ``Reply``,
``Status``), ``reply_to`` and ``stateful_request`` are those of
:mod:`kbus.core`, the message core this package shares with the MicroPython
module: a message is held as the bytes of its entire form (specification
§4.5), packed and parsed with :mod:`struct`.  ``MessageId`` and ``OrigFrom``
are ctypes structures (:mod:`kbus._native`), and ``Message.msg`` is a ctypes
view of a message's header (built when first asked for).

The binary layout is that of the kernel module (§4).  Message headers
contain two pointers, so the header is 88 bytes long on LP64 and 72 bytes
long on ILP32 (:data:`MSG_HEADER_LEN`).

This module also keeps the ctypes helpers of the original API:
:func:`message_from_parts` (a *pointy* header, whose ``name`` and ``data``
point into buffers it keeps alive), :func:`c_data_as_bytes`,
:func:`hexdata` and :func:`hexify`.
"""

from __future__ import annotations

import ctypes
import operator
import string
from typing import Any, Union

from kbus import abi
from kbus._native import MessageId, OrigFrom, _MessageHeaderStruct
from kbus._native import _header_fields as _header_fields  # for the unit tests
from kbus.common import split_replier_bind_event_data
from kbus.core import (
    Announcement,
    Message,
    Reply,
    Request,
    Status,
    calc_entire_message_len,
    calc_padded_data_len,
    calc_padded_name_len,
    reply_to,
    stateful_request,
)

__all__ = [
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
]

#: Length of a message header in bytes: 88 on LP64, 72 on ILP32.
MSG_HEADER_LEN = ctypes.sizeof(_MessageHeaderStruct)

# ---------------------------------------------------------------------------
# Helpers

_PRINTABLE = frozenset((string.ascii_letters + string.digits + string.punctuation).encode("ascii"))

_DataArg = Union[bytes, bytearray, memoryview, str, None]
_PairArg = Union[MessageId, OrigFrom, tuple[int, int], None]


def _as_bytes(data: _DataArg, encoding: str, errors: str) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode(encoding, errors)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"Message data must be bytes, str or None, not {type(data).__name__}")


def _u32(value: int | None, what: str) -> int:
    if value is None:
        return 0
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an int, not {type(value).__name__}") from None
    if not 0 <= number <= 0xFFFFFFFF:
        raise ValueError(f"{what} must fit in an unsigned 32-bit integer, not {number}")
    return number


def _pair(value: object, what: str) -> tuple[int, int]:
    if value is None:
        return (0, 0)
    if isinstance(value, (MessageId, OrigFrom)):
        return value._key()
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (_u32(value[0], what), _u32(value[1], what))
    raise TypeError(f"{what} must be a MessageId/OrigFrom, a 2-tuple or None, not {value!r}")


def _char_buffer(content: bytes, size: int) -> ctypes.Array[ctypes.c_ubyte]:
    """A ctypes byte array of ``size`` bytes holding ``content`` then zeros."""
    return (ctypes.c_ubyte * size).from_buffer_copy(content.ljust(size, b"\0"))


def message_from_parts(
    id: _PairArg,
    in_reply_to: _PairArg,
    to: int | None,
    from_: int | None,
    orig_from: _PairArg,
    final_to: _PairArg,
    flags: int | None,
    name: str | bytes,
    data: _DataArg,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> _MessageHeaderStruct:
    """Build a pointy message header structure from its parts.

    ``id``, ``in_reply_to``, ``orig_from`` and ``final_to`` are 2-tuples (or
    the corresponding ctypes structures, or None for zero).  The name is
    NUL-terminated and padded, the data padded, each in a buffer that the
    returned structure keeps alive (attribute ``_kbus_buffers``); writing the
    structure alone to a Ksock sends the message.
    """
    name_b = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else bytes(name)
    data_b = _as_bytes(data, encoding, errors)
    name_buf = _char_buffer(name_b, calc_padded_name_len(len(name_b)))
    data_buf = _char_buffer(data_b, calc_padded_data_len(len(data_b))) if data_b else None

    hdr = _MessageHeaderStruct()
    hdr.start_guard = abi.KBUS_MSG_START_GUARD
    hdr.id = MessageId(*_pair(id, "id"))
    hdr.in_reply_to = MessageId(*_pair(in_reply_to, "in_reply_to"))
    hdr.to = _u32(to, "to")
    hdr.from_ = _u32(from_, "from_")
    hdr.orig_from = OrigFrom(*_pair(orig_from, "orig_from"))
    hdr.final_to = OrigFrom(*_pair(final_to, "final_to"))
    hdr.extra = 0
    hdr.flags = _u32(flags, "flags")
    hdr.name_len = len(name_b)
    hdr.data_len = len(data_b)
    hdr.name = ctypes.addressof(name_buf)
    hdr.data = ctypes.addressof(data_buf) if data_buf is not None else None
    hdr.end_guard = abi.KBUS_MSG_END_GUARD
    hdr._kbus_buffers = (name_buf, data_buf)
    return hdr


def c_data_as_bytes(data: Any, data_len: int) -> bytes:
    """Return the first ``data_len`` bytes of a ctypes array as ``bytes``."""
    return bytes(data[:data_len])


def hexdata(
    data: bytes | bytearray | str | None, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """Printable form of data: ASCII letters, digits and punctuation as
    themselves, every other byte as ``\\xNN``."""
    raw = _as_bytes(data, encoding, errors)
    return "".join(chr(b) if b in _PRINTABLE else f"\\x{b:02x}" for b in raw)


def hexify(
    data: bytes | bytearray | str | None, encoding: str = "utf-8", errors: str = "strict"
) -> str:
    """Space-separated two-digit lowercase hex of each byte of ``data``."""
    raw = _as_bytes(data, encoding, errors)
    return " ".join(f"{b:02x}" for b in raw)
