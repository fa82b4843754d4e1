# SPDX-License-Identifier: MIT
"""KBUS messages: ctypes mirrors of the message ABI and the Message classes.

The binary layout is that of the kernel module (specification §4).  Message
headers contain two pointers, so the header is 88 bytes long on LP64 and 72
bytes long on ILP32; :data:`MSG_HEADER_LEN` is computed by ctypes for the
running interpreter.

A message constructed from its parts (``Message('$.Fred', b'data')``) holds a
*pointy* header in its ``msg`` attribute: the header's ``name`` and ``data``
fields point into buffers owned by the Message object, so writing the header
alone to a Ksock is enough.  A message constructed from bytes (as read from a
Ksock) holds an *entire* structure: the header (with NULL pointers) followed
by the padded name, the padded data and the final end guard.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import string
from collections.abc import Sequence
from typing import Any, NoReturn, TypeVar, Union

from kbus import abi
from kbus import common as _common
from kbus.common import calc_padded_data_len as calc_padded_data_len
from kbus.common import calc_padded_name_len as calc_padded_name_len
from kbus.common import split_replier_bind_event_data as split_replier_bind_event_data

# ---------------------------------------------------------------------------
# Identifiers


class _U32Pair(ctypes.Structure):
    """Two u32 fields that compare as a tuple, only with their own kind
    (anything else gives ``NotImplemented``), and hash consistently."""

    def _key(self) -> tuple[int, int]:
        first, second = (name for name, _ in self._fields_)
        return (getattr(self, first), getattr(self, second))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() == other._key()

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() != other._key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() < other._key()

    def __le__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() <= other._key()

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() > other._key()

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self._key() >= other._key()

    def __hash__(self) -> int:
        return hash((type(self).__name__,) + self._key())

    def _is_zero(self) -> bool:
        return self._key() == (0, 0)


class MessageId(_U32Pair):
    """A message id, ``struct kbus_msg_id``: (network id, serial number).

    ``{0,0}`` means "no id".  Ids compare by network id and then serial
    number; adding an int to an id gives a new id with the serial number
    increased by that much.  Unlike the original binding, ids are hashable
    (consistently with ``==``), so they can be used as dictionary keys - do
    not change an id's fields while it is a key.
    """

    _fields_ = [
        ("network_id", ctypes.c_uint32),
        ("serial_num", ctypes.c_uint32),
    ]

    network_id: int
    serial_num: int

    def __repr__(self) -> str:
        return f"MessageId({self.network_id}, {self.serial_num})"

    def __str__(self) -> str:
        return _common.message_id_text(self.network_id, self.serial_num)

    def __add__(self, other: object) -> MessageId:
        if not isinstance(other, int) or isinstance(other, bool):
            return NotImplemented
        return MessageId(self.network_id, (self.serial_num + other) & 0xFFFFFFFF)


class OrigFrom(_U32Pair):
    """``struct kbus_orig_from``: (network id, local Ksock id).

    Used for the ``orig_from`` and ``final_to`` header fields (Limpets).
    Compares like :class:`MessageId`; there is no addition.
    """

    _fields_ = [
        ("network_id", ctypes.c_uint32),
        ("local_id", ctypes.c_uint32),
    ]

    network_id: int
    local_id: int

    def __repr__(self) -> str:
        return f"OrigFrom({self.network_id}, {self.local_id})"

    def __str__(self) -> str:
        return _common.orig_from_text(self.network_id, self.local_id)


# ---------------------------------------------------------------------------
# The message header (§4.4)


def _header_fields(pointer_type: Any) -> list[tuple[str, Any]]:
    """The fields of ``struct kbus_message_header``.

    ``pointer_type`` is the ctypes type used for the ``name`` and ``data``
    pointers; the real structure uses ``c_void_p``.  (Passing ``c_uint32`` or
    ``c_uint64`` gives the ILP32 or LP64 layout regardless of the running
    interpreter, which the unit tests use.)  The C field ``from`` is called
    ``from_`` since ``from`` is a Python keyword.
    """
    return [
        ("start_guard", ctypes.c_uint32),
        ("id", MessageId),
        ("in_reply_to", MessageId),
        ("to", ctypes.c_uint32),
        ("from_", ctypes.c_uint32),
        ("orig_from", OrigFrom),
        ("final_to", OrigFrom),
        ("extra", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("name_len", ctypes.c_uint32),
        ("data_len", ctypes.c_uint32),
        ("name", pointer_type),
        ("data", pointer_type),
        ("end_guard", ctypes.c_uint32),
    ]


class _MessageHeaderStruct(ctypes.Structure):
    """``struct kbus_message_header`` (``kbus_message_t``) - 88/72 bytes."""

    _fields_ = _header_fields(ctypes.c_void_p)

    start_guard: int
    id: MessageId
    in_reply_to: MessageId
    to: int
    from_: int
    orig_from: OrigFrom
    final_to: OrigFrom
    extra: int
    flags: int
    name_len: int
    data_len: int
    name: int | None
    data: int | None
    end_guard: int

    def __repr__(self) -> str:
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name, _ in self._fields_)
        return f"<{type(self).__name__} {parts}>"


#: Length of a message header in bytes: 88 on LP64, 72 on ILP32.
MSG_HEADER_LEN = ctypes.sizeof(_MessageHeaderStruct)


class _EntireMessageStructBase(ctypes.Structure):
    """Base of the (per-size) ``struct kbus_entire_message`` types.

    Fields: ``header`` (a header with NULL pointers), ``name`` (the name, a
    NUL and zero padding), ``data`` (the data and zero padding) and
    ``end_guard``.  Note that ``ctypes.sizeof`` of such a structure may
    include trailing alignment padding, so it can exceed the message's
    entire length; use :meth:`Message.total_length`.
    """

    header: _MessageHeaderStruct
    name: ctypes.Array[ctypes.c_ubyte]
    data: ctypes.Array[ctypes.c_ubyte]
    end_guard: int


@functools.lru_cache(maxsize=128)
def _entire_message_type(
    padded_name_len: int, padded_data_len: int
) -> type[_EntireMessageStructBase]:
    """The ``struct kbus_entire_message`` type for the given padded lengths.

    A bounded cache keeps the number of live structure types small however
    many different message sizes are seen.
    """
    return type(
        f"_EntireMessageStruct_{padded_name_len}_{padded_data_len}",
        (_EntireMessageStructBase,),
        {
            "_fields_": [
                ("header", _MessageHeaderStruct),
                ("name", ctypes.c_ubyte * padded_name_len),
                ("data", ctypes.c_ubyte * padded_data_len),
                ("end_guard", ctypes.c_uint32),
            ]
        },
    )


# ---------------------------------------------------------------------------
# Lengths (§4.5)


def calc_entire_message_len(name_len: int, data_len: int) -> int:
    """``KBUS_ENTIRE_MSG_LEN``: the length of the entire form of a message."""
    return MSG_HEADER_LEN + calc_padded_name_len(name_len) + calc_padded_data_len(data_len) + 4


# ---------------------------------------------------------------------------
# Helpers

_PRINTABLE = frozenset((string.ascii_letters + string.digits + string.punctuation).encode("ascii"))

_BytesLike = Union[bytes, bytearray, memoryview]
_DataArg = Union[bytes, bytearray, memoryview, str, None]
_IdArg = Union[MessageId, tuple[int, int], None]
_OrigFromArg = Union[OrigFrom, tuple[int, int], None]

_NAME_ENCODING = "utf-8"
# Names are normally ASCII; surrogateescape makes decoding total and lossless.
_NAME_ERRORS = "surrogateescape"


def _as_bytes(data: _DataArg, encoding: str, errors: str) -> bytes:
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode(encoding, errors)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"Message data must be bytes, str or None, not {type(data).__name__}")


def _name_bytes(name: str | bytes | bytearray) -> bytes:
    if isinstance(name, str):
        return name.encode(_NAME_ENCODING, _NAME_ERRORS)
    if isinstance(name, (bytes, bytearray)):
        return bytes(name)
    raise TypeError(f"Message name must be a str, not {type(name).__name__}")


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
    if isinstance(value, MessageId):
        return (value.network_id, value.serial_num)
    if isinstance(value, OrigFrom):
        return (value.network_id, value.local_id)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (_u32(value[0], what), _u32(value[1], what))
    raise TypeError(f"{what} must be a MessageId/OrigFrom, a 2-tuple or None, not {value!r}")


def _message_id_or_none(mid: MessageId) -> MessageId | None:
    if mid._is_zero():
        return None
    return MessageId(mid.network_id, mid.serial_num)


def _orig_from_or_none(of: OrigFrom) -> OrigFrom | None:
    if of._is_zero():
        return None
    return OrigFrom(of.network_id, of.local_id)


def _char_buffer(content: bytes, size: int) -> ctypes.Array[ctypes.c_ubyte]:
    """A ctypes byte array of ``size`` bytes holding ``content`` then zeros."""
    return (ctypes.c_ubyte * size).from_buffer_copy(content.ljust(size, b"\0"))


def _build_pointy(
    id: object,
    in_reply_to: object,
    to: int | None,
    from_: int | None,
    orig_from: object,
    final_to: object,
    flags: int | None,
    name: str | bytes | bytearray,
    data: _DataArg,
    encoding: str,
    errors: str,
) -> tuple[_MessageHeaderStruct, ctypes.Array[ctypes.c_ubyte], ctypes.Array[ctypes.c_ubyte] | None]:
    """Build a pointy header and the (padded) name and data buffers it uses."""
    name_b = _name_bytes(name)
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
    return hdr, name_buf, data_buf


def message_from_parts(
    id: _IdArg,
    in_reply_to: _IdArg,
    to: int | None,
    from_: int | None,
    orig_from: _OrigFromArg,
    final_to: _OrigFromArg,
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
    returned structure keeps alive (attribute ``_kbus_buffers``).
    """
    hdr, name_buf, data_buf = _build_pointy(
        id, in_reply_to, to, from_, orig_from, final_to, flags, name, data, encoding, errors
    )
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


# ---------------------------------------------------------------------------
# Messages

_M = TypeVar("_M", bound="Message")

_MESSAGE_SEQUENCE_LEN = 9


class Message:
    """A KBUS message.

    ``Message(name, data=None, to=None, from_=None, orig_from=None,
    final_to=None, in_reply_to=None, flags=None, id=None, encoding="utf-8",
    errors="strict")``

    ``name`` must start with ``$.`` (full validation is left to KBUS);
    ``data`` may be None, bytes or a str (encoded with ``encoding`` and
    ``errors``); ``to``/``from_``/``flags`` are ints (None means 0);
    ``id``/``in_reply_to`` are :class:`MessageId` and ``orig_from``/
    ``final_to`` :class:`OrigFrom` values, or None.

    The ctypes structure is in ``msg``: a pointy header for a message built
    from its parts, an entire message for one built from bytes.
    """

    START_GUARD = abi.KBUS_MSG_START_GUARD
    END_GUARD = abi.KBUS_MSG_END_GUARD

    WANT_A_REPLY = abi.KBUS_BIT_WANT_A_REPLY
    WANT_YOU_TO_REPLY = abi.KBUS_BIT_WANT_YOU_TO_REPLY
    SYNTHETIC = abi.KBUS_BIT_SYNTHETIC
    URGENT = abi.KBUS_BIT_URGENT
    ALL_OR_WAIT = abi.KBUS_BIT_ALL_OR_WAIT
    ALL_OR_FAIL = abi.KBUS_BIT_ALL_OR_FAIL

    #: Fields shown by repr(), in order (see §14.7).
    _repr_fields: tuple[str, ...] = (
        "data",
        "to",
        "from_",
        "orig_from",
        "final_to",
        "in_reply_to",
        "flags",
        "id",
    )

    msg: _MessageHeaderStruct | _EntireMessageStructBase
    _hdr: _MessageHeaderStruct
    _name_buf: ctypes.Array[ctypes.c_ubyte]
    _data_buf: ctypes.Array[ctypes.c_ubyte] | None

    def __init__(
        self,
        name: str | bytes,
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        orig_from: OrigFrom | None = None,
        final_to: OrigFrom | None = None,
        in_reply_to: MessageId | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        self._init_pointy(
            id, in_reply_to, to, from_, orig_from, final_to, flags, name, data, encoding, errors
        )
        self._check_fields()

    # -- construction helpers ------------------------------------------------

    def _init_pointy(
        self,
        id: object,
        in_reply_to: object,
        to: int | None,
        from_: int | None,
        orig_from: object,
        final_to: object,
        flags: int | None,
        name: str | bytes,
        data: _DataArg,
        encoding: str,
        errors: str,
    ) -> None:
        name_b = _name_bytes(name)
        if not name_b.startswith(b"$."):
            raise ValueError(f'Message name "{_decode_name(name_b)}" does not start "$."')
        if len(name_b) < abi.KBUS_MIN_NAME_LEN:
            raise ValueError(
                f'Message name "{_decode_name(name_b)}" is too short'
                f" (it must be at least {abi.KBUS_MIN_NAME_LEN} bytes)"
            )
        hdr, name_buf, data_buf = _build_pointy(
            id, in_reply_to, to, from_, orig_from, final_to, flags, name_b, data, encoding, errors
        )
        self.msg = hdr
        self._hdr = hdr
        self._name_buf = name_buf
        self._data_buf = data_buf
        # Also tie the buffers to the structure, in case someone keeps only msg.
        hdr._kbus_buffers = (name_buf, data_buf)

    def _init_entire(self, data: _BytesLike) -> None:
        raw = bytes(data)
        if len(raw) < MSG_HEADER_LEN:
            raise ValueError(
                f'Cannot form entire message from string "{raw!r}" of length {len(raw)}'
            )
        hdr = _MessageHeaderStruct.from_buffer_copy(raw, 0)
        if hdr.start_guard != abi.KBUS_MSG_START_GUARD:
            raise ValueError(
                f'Cannot form entire message from string "{raw!r}"'
                " which does not start with message start guard"
            )
        total = calc_entire_message_len(hdr.name_len, hdr.data_len)
        if len(raw) < total:
            raise ValueError(
                f'Cannot form entire message from string "{raw!r}" of length {len(raw)}'
                f" (the message it describes is {total} bytes long)"
            )
        cls = _entire_message_type(
            calc_padded_name_len(hdr.name_len), calc_padded_data_len(hdr.data_len)
        )
        entire = cls()
        ctypes.memmove(ctypes.addressof(entire), raw, total)
        # An entire message never has pointers in its header.
        entire.header.name = None
        entire.header.data = None
        self.msg = entire
        self._hdr = entire.header
        self._name_buf = entire.name
        self._data_buf = entire.data

    def _check_fields(self) -> None:
        """Enforce the subclass's constraints (hook for subclasses)."""

    @classmethod
    def _new_from_parts(
        cls: type[_M],
        parts: Sequence[Any],
        data: _DataArg,
        to: int | None,
        from_: int | None,
        orig_from: OrigFrom | None,
        final_to: OrigFrom | None,
        in_reply_to: MessageId | None,
        flags: int | None,
        id: MessageId | None,
        encoding: str,
        errors: str,
    ) -> _M:
        (p_id, p_in_reply_to, p_to, p_from, p_orig_from, p_final_to, p_flags, p_name, p_data) = (
            parts
        )
        obj = cls.__new__(cls)
        obj._init_pointy(
            p_id if id is None else id,
            p_in_reply_to if in_reply_to is None else in_reply_to,
            p_to if to is None else to,
            p_from if from_ is None else from_,
            p_orig_from if orig_from is None else orig_from,
            p_final_to if final_to is None else final_to,
            p_flags if flags is None else flags,
            p_name,
            p_data if data is None else data,
            encoding,
            errors,
        )
        obj._check_fields()
        return obj

    # -- alternative constructors ---------------------------------------------

    @classmethod
    def from_message(
        cls: type[_M],
        msg: Message,
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        orig_from: OrigFrom | None = None,
        final_to: OrigFrom | None = None,
        in_reply_to: MessageId | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> _M:
        """A copy of ``msg``, with any non-None argument replacing that field.

        The name cannot be changed, and the id-like fields cannot be reset
        to "none" this way (use :meth:`extract` and :meth:`from_sequence`).
        """
        return cls._new_from_parts(
            msg.extract(),
            data,
            to,
            from_,
            orig_from,
            final_to,
            in_reply_to,
            flags,
            id,
            encoding,
            errors,
        )

    @classmethod
    def from_sequence(
        cls: type[_M],
        seq: Sequence[Any],
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        orig_from: OrigFrom | None = None,
        final_to: OrigFrom | None = None,
        in_reply_to: MessageId | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> _M:
        """A message from a 9-item sequence as returned by :meth:`extract`:
        ``(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)``.
        Any non-None keyword argument replaces the corresponding item."""
        if len(seq) != _MESSAGE_SEQUENCE_LEN:
            raise ValueError(
                f"Message sequence must have {_MESSAGE_SEQUENCE_LEN} items, not {len(seq)}"
            )
        return cls._new_from_parts(
            seq, data, to, from_, orig_from, final_to, in_reply_to, flags, id, encoding, errors
        )

    @classmethod
    def from_bytes(cls: type[_M], data: _BytesLike) -> _M:
        """A message from its entire form, as read from a Ksock."""
        obj = cls.__new__(cls)
        obj._init_entire(data)
        obj._check_fields()
        return obj

    # -- properties -------------------------------------------------------------

    @property
    def id(self) -> MessageId | None:
        """The message id, or None if it is ``{0,0}``."""
        return _message_id_or_none(self._hdr.id)

    @property
    def in_reply_to(self) -> MessageId | None:
        """The id of the request this replies to, or None."""
        return _message_id_or_none(self._hdr.in_reply_to)

    @property
    def to(self) -> int:
        return self._hdr.to

    @property
    def from_(self) -> int:
        return self._hdr.from_

    @property
    def orig_from(self) -> OrigFrom | None:
        return _orig_from_or_none(self._hdr.orig_from)

    @property
    def final_to(self) -> OrigFrom | None:
        return _orig_from_or_none(self._hdr.final_to)

    @property
    def flags(self) -> int:
        return self._hdr.flags

    @property
    def name(self) -> str:
        return _decode_name(self._raw_name())

    @property
    def data(self) -> bytes | None:
        """The message data, or None if there is none."""
        if self._hdr.data_len == 0:
            return None
        return self._raw_data()

    @property
    def _id(self) -> MessageId:
        """The id field itself (a view: writing to it changes the message)."""
        return self._hdr.id

    @property
    def _in_reply_to(self) -> MessageId:
        return self._hdr.in_reply_to

    @property
    def _orig_from(self) -> OrigFrom:
        return self._hdr.orig_from

    @property
    def _final_to(self) -> OrigFrom:
        return self._hdr.final_to

    def _raw_name(self) -> bytes:
        return ctypes.string_at(ctypes.addressof(self._name_buf), self._hdr.name_len)

    def _raw_data(self) -> bytes:
        if self._data_buf is None or self._hdr.data_len == 0:
            return b""
        return ctypes.string_at(ctypes.addressof(self._data_buf), self._hdr.data_len)

    def is_pointy(self) -> bool:
        """True if ``msg`` is a pointy header (name/data held elsewhere)."""
        return isinstance(self.msg, _MessageHeaderStruct)

    # -- methods ----------------------------------------------------------------

    def extract(
        self,
    ) -> tuple[
        MessageId | None,
        MessageId | None,
        int,
        int,
        OrigFrom | None,
        OrigFrom | None,
        int,
        str,
        bytes | None,
    ]:
        """``(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)``"""
        return (
            self.id,
            self.in_reply_to,
            self.to,
            self.from_,
            self.orig_from,
            self.final_to,
            self.flags,
            self.name,
            self.data,
        )

    def total_length(self) -> int:
        """The length of the entire form of this message."""
        return calc_entire_message_len(self._hdr.name_len, self._hdr.data_len)

    def to_bytes(self) -> bytes:
        """The entire form of the message, exactly :meth:`total_length` bytes."""
        total = self.total_length()
        if isinstance(self.msg, _EntireMessageStructBase):
            return ctypes.string_at(ctypes.addressof(self.msg), total)
        hdr = self._hdr
        entire = _entire_message_type(
            calc_padded_name_len(hdr.name_len), calc_padded_data_len(hdr.data_len)
        )()
        ctypes.memmove(ctypes.addressof(entire.header), ctypes.addressof(hdr), MSG_HEADER_LEN)
        entire.header.name = None
        entire.header.data = None
        name = self._raw_name()
        ctypes.memmove(ctypes.addressof(entire.name), name, len(name))
        data = self._raw_data()
        if data:
            ctypes.memmove(ctypes.addressof(entire.data), data, len(data))
        entire.end_guard = abi.KBUS_MSG_END_GUARD
        return ctypes.string_at(ctypes.addressof(entire), total)

    def _bytes_to_write(self) -> bytes:
        """What must be written to a Ksock to transfer this message.

        For a pointy message, just the header (whose pointers point into
        buffers kept alive by this object); for an entire message, exactly
        :meth:`total_length` bytes (never ctypes' trailing padding).
        """
        if isinstance(self.msg, _MessageHeaderStruct):
            return ctypes.string_at(ctypes.addressof(self.msg), MSG_HEADER_LEN)
        return self.to_bytes()

    def equivalent(self, other: Message) -> bool:
        """True if ``to``, name and data match (ignoring id, flags, from, ...)."""
        a, b = self._hdr, other._hdr
        return (
            a.to == b.to
            and a.name_len == b.name_len
            and a.data_len == b.data_len
            and self._raw_name() == other._raw_name()
            and self._raw_data() == other._raw_data()
        )

    def _compare_key(self) -> tuple[Any, ...]:
        h = self._hdr
        return (
            h.id._key(),
            h.in_reply_to._key(),
            h.to,
            h.from_,
            h.orig_from._key(),
            h.final_to._key(),
            h.flags,
            h.name_len,
            h.data_len,
            self._raw_name(),
            self._raw_data(),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return False
        return self._compare_key() == other._compare_key()

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def set_want_reply(self, value: bool = True) -> None:
        """Set (or clear) the WANT_A_REPLY flag."""
        if value:
            self._hdr.flags |= self.WANT_A_REPLY
        else:
            self._hdr.flags &= ~self.WANT_A_REPLY & 0xFFFFFFFF

    def set_urgent(self, value: bool = True) -> None:
        """Set (or clear) the URGENT flag."""
        if value:
            self._hdr.flags |= self.URGENT
        else:
            self._hdr.flags &= ~self.URGENT & 0xFFFFFFFF

    def wants_us_to_reply(self) -> bool:
        """True if KBUS has marked this (request) as ours to answer."""
        return bool(self._hdr.flags & self.WANT_YOU_TO_REPLY)

    def is_synthetic(self) -> bool:
        return bool(self._hdr.flags & self.SYNTHETIC)

    def is_urgent(self) -> bool:
        return bool(self._hdr.flags & self.URGENT)

    def is_reply(self) -> bool:
        """True if ``in_reply_to`` is set."""
        return not self._hdr.in_reply_to._is_zero()

    def is_request(self) -> bool:
        """True if WANT_A_REPLY is set."""
        return bool(self._hdr.flags & self.WANT_A_REPLY)

    def is_stateful_request(self) -> bool:
        """True if WANT_A_REPLY is set and ``to`` is non-zero."""
        return self.is_request() and self._hdr.to != 0

    def _kind(self) -> type[Message]:
        kind = _common.kind_name(self._hdr.flags, self.is_reply(), self.name)
        return _KINDS[kind]

    def cast(self) -> Message:
        """A copy of this message as the appropriate subclass (§11.5):
        Status, Reply, Request or Announcement.  The copy is equal to the
        original (nothing is changed or dropped)."""
        obj = self._kind().__new__(self._kind())
        obj._init_entire(self.to_bytes())
        return obj

    # -- text ------------------------------------------------------------------

    def __repr__(self) -> str:
        return _common.message_repr(
            type(self).__name__, self.name, [(f, getattr(self, f)) for f in self._repr_fields]
        )

    def __str__(self) -> str:
        h = self._hdr
        return _common.message_text(
            self._kind().__name__,
            self.name,
            None if h.id._is_zero() else h.id,
            h.to,
            h.from_,
            None if h.orig_from._is_zero() else h.orig_from,
            None if h.final_to._is_zero() else h.final_to,
            None if h.in_reply_to._is_zero() else h.in_reply_to,
            h.flags,
            self._raw_data() if h.data_len else None,
        )


def _decode_name(name: bytes) -> str:
    return _common.decode_name(name)


class Announcement(Message):
    """A message that wants no reply.

    ``in_reply_to``, ``orig_from`` and ``final_to`` are always zero (also
    when built with :meth:`from_message`, :meth:`from_sequence` or
    :meth:`from_bytes`).
    """

    _repr_fields = ("data", "to", "from_", "flags", "id")

    def __init__(
        self,
        name: str | bytes,
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        super().__init__(
            name,
            data=data,
            to=to,
            from_=from_,
            flags=flags,
            id=id,
            encoding=encoding,
            errors=errors,
        )

    def _check_fields(self) -> None:
        self._hdr.in_reply_to = MessageId(0, 0)
        self._hdr.orig_from = OrigFrom(0, 0)
        self._hdr.final_to = OrigFrom(0, 0)

    def set_want_reply(self, value: bool = True) -> NoReturn:
        raise TypeError("Announcements are not Requests")


class Request(Message):
    """A message that wants a reply: WANT_A_REPLY is always set.

    Given ``to`` (a replier's Ksock id) it is a stateful request.
    """

    _repr_fields = ("data", "to", "from_", "orig_from", "final_to", "flags", "id")

    def __init__(
        self,
        name: str | bytes,
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        final_to: OrigFrom | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        super().__init__(
            name,
            data=data,
            to=to,
            from_=from_,
            final_to=final_to,
            flags=flags,
            id=id,
            encoding=encoding,
            errors=errors,
        )

    def _check_fields(self) -> None:
        self._hdr.flags |= self.WANT_A_REPLY

    def set_want_reply(self, value: bool = True) -> NoReturn:
        raise TypeError('Request always has "want a reply" set')


class Reply(Message):
    """A reply to a Request: ``in_reply_to`` must be set.

    The constructor does not swap any fields; use :func:`reply_to` to build
    the reply to a request.
    """

    _repr_fields = ("data", "to", "from_", "orig_from", "in_reply_to", "flags", "id")

    def __init__(
        self,
        name: str | bytes,
        data: _DataArg = None,
        to: int | None = None,
        from_: int | None = None,
        orig_from: OrigFrom | None = None,
        in_reply_to: MessageId | None = None,
        flags: int | None = None,
        id: MessageId | None = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        super().__init__(
            name,
            data=data,
            to=to,
            from_=from_,
            orig_from=orig_from,
            in_reply_to=in_reply_to,
            flags=flags,
            id=id,
            encoding=encoding,
            errors=errors,
        )

    def _check_fields(self) -> None:
        if self._hdr.in_reply_to._is_zero():
            raise ValueError("A Reply must specify in_reply_to")


_STATUS_ONLY_FROM_BYTES = "Use the Status.from_bytes() method to construct a Status"


class Status(Message):
    """A status message generated by KBUS (a reply named ``$.KBUS.…``).

    Only :meth:`Status.from_bytes` can construct one.
    """

    _repr_fields = ("data", "to", "from_", "in_reply_to", "flags", "id")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_message(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_sequence(cls, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)


_KINDS: dict[str, type[Message]] = {
    "Status": Status,
    "Reply": Reply,
    "Request": Request,
    "Announcement": Announcement,
}

# ---------------------------------------------------------------------------
# Module functions


def reply_to(
    original: Message,
    data: _DataArg = None,
    flags: int = 0,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> Reply:
    """The Reply to a Request that KBUS asked us to answer.

    The reply has the request's name, ``in_reply_to`` = the request's id and
    ``to`` = the request's sender.  The request's data and flags are not
    copied.
    """
    _common.check_reply_to(original.flags, original)
    return Reply(
        original.name,
        data=data,
        in_reply_to=original.id,
        to=original.from_,
        flags=flags,
        encoding=encoding,
        errors=errors,
    )


def stateful_request(
    earlier_msg: Message,
    name: str | bytes,
    data: _DataArg = None,
    from_: int | None = None,
    flags: int | None = None,
    id: MessageId | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> Request:
    """A Request to the same replier as an earlier Reply or stateful Request.

    From a Reply, ``to`` is its ``from_`` and ``final_to`` its ``orig_from``;
    from a stateful Request, its ``to`` and ``final_to`` are copied.
    """
    if earlier_msg.is_reply():
        to = earlier_msg.from_
        final_to = earlier_msg.orig_from
    elif earlier_msg.is_stateful_request():
        to = earlier_msg.to
        final_to = earlier_msg.final_to
    else:
        raise _common.no_stateful_request(earlier_msg)
    return Request(
        name,
        data=data,
        to=to,
        from_=from_,
        final_to=final_to,
        flags=flags,
        id=id,
        encoding=encoding,
        errors=errors,
    )
