# SPDX-License-Identifier: MIT
"""The message core shared by CPython and MicroPython: ``Message`` and its
subclasses, ``reply_to`` and ``stateful_request``.

This module is installed in both the CPython package (package/kbus/python)
and the MicroPython module (package/kbus/micropython, listed in its
``SHARED``), so it is written in the subset of Python both run (see
:mod:`kbus.common`).  What differs between the interpreters comes from
:mod:`kbus._native`, which each has its own copy of: the ``MessageId`` and
``OrigFrom`` classes (ctypes structures on CPython, plain objects on
MicroPython), the pointer size, and the ctypes views behind ``msg``.

A message is held as one buffer: its *entire* form (specification §4.5),
exactly as KBUS reads and writes it - the header (``name`` and ``data``
pointers NULL), the name with its NUL and zero padding, the data with its
zero padding, and the final end guard.  Building a message packs that buffer
once; reading one from a Ksock keeps the bytes as they were read (nothing is
parsed until a field is asked for); writing one to a Ksock writes the buffer
as it is.  The buffer is ``bytes`` until something changes the message
(``set_urgent()``, a subclass's rule, ``msg``, ``_id``, ...), which turns it
into a ``bytearray`` for good, so that the ctypes views of CPython stay
valid.
"""

import struct
import sys

from kbus import common as _common
from kbus._native import POINTER_SIZE, MessageId, OrigFrom, header_view, pair_view

TYPE_CHECKING = False
if TYPE_CHECKING:  # never true when running; MicroPython has no typing module
    from typing import Any, NoReturn, TypeVar, Union

    _M = TypeVar("_M", bound="Message")
    _Buffer = Union[bytes, bytearray]
    _Pairish = Union[MessageId, OrigFrom, tuple[int, int], list[int], None]

# ---------------------------------------------------------------------------
# The layout (§4.4, §4.5)

_ORDER = "<" if sys.byteorder == "little" else ">"
# MicroPython allocates objects bigger than one heap block (a tuple of more
# than two items, say) slowly: its hot paths below use small unpacks and
# fill one bytearray instead.
_MICROPYTHON = sys.implementation.name == "micropython"
#: Length of a message header: 72 on ILP32, 88 on LP64.
MSG_HEADER_LEN = _common.header_len(POINTER_SIZE)
_H = MSG_HEADER_LEN
# The fifteen u32 fields: start guard, id (2), in_reply_to (2), to, from,
# orig_from (2), final_to (2), extra, flags, name_len, data_len.
_HEAD_FORMAT = _ORDER + "15I"
# the pointers follow, aligned to their size, then the end guard
_PTRS_AT = 60 + (-60 % POINTER_SIZE)
_END_AT = _PTRS_AT + 2 * POINTER_SIZE
_PTR_FORMAT = "Q" if POINTER_SIZE == 8 else "I"
# start guard, name_len, data_len and the two pointers, in one unpack
_CHECK_FORMAT = _ORDER + "I48xII" + str(_PTRS_AT - 60) + "x2" + _PTR_FORMAT


def _packer(fmt: str) -> "Any":
    try:
        return struct.Struct(fmt).pack
    except AttributeError:  # MicroPython: no struct.Struct

        def pack(*values: int) -> bytes:
            return struct.pack(fmt, *values)

        return pack


def _unpacker(fmt: str) -> "Any":
    try:
        return struct.Struct(fmt).unpack_from
    except AttributeError:

        def unpack_from(buffer: "_Buffer", offset: int = 0) -> "tuple[int, ...]":
            return struct.unpack_from(fmt, buffer, offset)

        return unpack_from


_pack_head = _packer(_HEAD_FORMAT)
_unpack_head = _unpacker(_HEAD_FORMAT)
_unpack_check = _unpacker(_CHECK_FORMAT)
_unpack_u32 = _unpacker(_ORDER + "I")
_unpack_2u32 = _unpacker(_ORDER + "II")
_unpack_2ptr = _unpacker(_ORDER + "2" + _PTR_FORMAT)
_U32 = _ORDER + "I"
_2U32 = _ORDER + "II"
_END = struct.pack(_U32, _common.KBUS_MSG_END_GUARD)
# the header after the fifteen u32: padding, NULL pointers, end guard, padding
_tail = bytearray(_H - 60)
struct.pack_into(_U32, _tail, _END_AT - 60, _common.KBUS_MSG_END_GUARD)
_HEAD_TAIL = bytes(_tail)
del _tail
_NULL_PTRS = bytes(2 * POINTER_SIZE)
# the NUL and zero padding after a name of length n: _NAME_PAD[n & 3];
# the zero padding after data of length n, and the end guard: _DATA_END[n & 3]
_NAME_PAD = (b"\0\0\0\0", b"\0\0\0", b"\0\0", b"\0")
_DATA_END = (_END, b"\0\0\0" + _END, b"\0\0" + _END, b"\0" + _END)
_ZERO_PAIR = (0, 0)
_STATUS_PREFIX = _common.KBUS_STATUS_NAME_PREFIX.encode()
_WANT_A_REPLY = _common.KBUS_BIT_WANT_A_REPLY
_WANT_YOU_TO_REPLY = _common.KBUS_BIT_WANT_YOU_TO_REPLY
_START_GUARD = _common.KBUS_MSG_START_GUARD
_SYNTHETIC = _common.KBUS_BIT_SYNTHETIC
_BIND_EVENT_NAME = _common.KBUS_MSG_NAME_REPLIER_BIND_EVENT.encode()

# byte offsets of the header fields
_ID, _IN_REPLY_TO, _TO, _FROM, _ORIG_FROM, _FINAL_TO, _FLAGS, _NAME_LEN = (
    4, 12, 20, 24, 28, 36, 48, 52,
)  # fmt: skip


def calc_padded_name_len(name_len: int) -> int:
    """``KBUS_PADDED_NAME_LEN``: name plus NUL, rounded up to 4 bytes."""
    return (name_len + 4) & ~3


def calc_padded_data_len(data_len: int) -> int:
    """``KBUS_PADDED_DATA_LEN``: data rounded up to 4 bytes."""
    return (data_len + 3) & ~3


def calc_entire_message_len(name_len: int, data_len: int) -> int:
    """``KBUS_ENTIRE_MSG_LEN``: the length of the entire form of a message."""
    return _H + ((name_len + 4) & ~3) + ((data_len + 3) & ~3) + 4


# ---------------------------------------------------------------------------
# Arguments


def _u32(value: "object", what: str) -> int:
    """A field value: an int (or anything with ``__index__``) in 0..2**32-1."""
    if not isinstance(value, int):
        index = getattr(value, "__index__", None)
        if index is None:
            raise TypeError(f"{what} must be an int, not {type(value).__name__}")
        value = index()
    assert isinstance(value, int)
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must fit in an unsigned 32-bit integer, not {value}")
    return int(value)


def _pair(value: "_Pairish", what: str) -> "tuple[int, int]":
    """The two u32 of an id-like field: a MessageId/OrigFrom, a 2-tuple or None."""
    if value is None:
        return _ZERO_PAIR
    if isinstance(value, (MessageId, OrigFrom)):
        return value._key()
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return (_u32(value[0], what), _u32(value[1], what))
    raise TypeError(f"{what} must be a MessageId/OrigFrom, a 2-tuple or None, not {value!r}")


def _data_bytes(data: "object", encoding: str, errors: str) -> bytes:
    if data is None:
        return b""
    if type(data) is bytes:
        return data
    if isinstance(data, str):
        return data.encode(encoding, errors)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"Message data must be bytes, str or None, not {type(data).__name__}")


def _check_name(name: "object") -> bytes:
    """The bytes of a message name, checked as far as the binding does (the
    rest is left to KBUS)."""
    if isinstance(name, str):
        # names are normally ASCII; surrogateescape keeps undecodable bytes
        # (MicroPython ignores the error handler: its str is always UTF-8)
        name_b = name.encode("utf-8", "surrogateescape")
    elif isinstance(name, (bytes, bytearray)):
        name_b = bytes(name)
    else:
        raise TypeError(f"Message name must be a str, not {type(name).__name__}")
    if name_b[:2] != b"$.":
        raise ValueError(f'Message name "{_common.decode_name(name_b)}" does not start "$."')
    if len(name_b) < _common.KBUS_MIN_NAME_LEN:
        raise ValueError(
            f'Message name "{_common.decode_name(name_b)}" is too short'
            f" (it must be at least {_common.KBUS_MIN_NAME_LEN} bytes)"
        )
    return name_b


# name -> (name length, the header's tail + the name + its padding): a
# program uses few names, so each is checked and encoded once.  Names given
# as str and as bytes are kept apart (MicroPython warns when a dictionary
# lookup compares bytes with str).
_NAMES: "dict[str, tuple[int, bytes]]" = {}
_RAW_NAMES: "dict[bytes, tuple[int, bytes]]" = {}
_NAMES_MAX = 256


def _name_block(name: "object") -> "tuple[int, bytes]":
    cache: dict[Any, tuple[int, bytes]] = _NAMES if type(name) is str else _RAW_NAMES
    try:
        return cache[name]
    except KeyError:
        pass
    except TypeError:  # unhashable (bytearray)
        name = bytes(name)  # type: ignore[call-overload]
    name_b = _check_name(name)
    block = (len(name_b), _HEAD_TAIL + name_b + _NAME_PAD[len(name_b) & 3])
    if len(cache) >= _NAMES_MAX:
        cache.clear()
    cache[name] = block
    return block


def _entire(
    id: "tuple[int, int]",
    in_reply_to: "tuple[int, int]",
    to: int,
    from_: int,
    orig_from: "tuple[int, int]",
    final_to: "tuple[int, int]",
    flags: int,
    name: "tuple[int, bytes]",
    data_b: bytes,
) -> "_Buffer":
    """The entire form of a message from its checked parts (``name`` from
    :func:`_name_block`)."""
    data_len = len(data_b)
    if _MICROPYTHON:
        at = 60 + len(name[1])
        buf = bytearray(at + ((data_len + 3) & ~3) + 4)
        struct.pack_into(
            _HEAD_FORMAT, buf, 0,
            _START_GUARD, id[0], id[1], in_reply_to[0], in_reply_to[1], to, from_,
            orig_from[0], orig_from[1], final_to[0], final_to[1], 0, flags,
            name[0], data_len,
        )  # fmt: skip
        buf[60:at] = name[1]
        buf[at : at + data_len] = data_b
        buf[-4:] = _END
        return buf
    return b"".join(
        (
            _pack_head(
                _START_GUARD,
                id[0],
                id[1],
                in_reply_to[0],
                in_reply_to[1],
                to,
                from_,
                orig_from[0],
                orig_from[1],
                final_to[0],
                final_to[1],
                0,
                flags,
                name[0],
                data_len,
            ),  # fmt: skip
            name[1],
            data_b,
            _DATA_END[data_len & 3],
        )
    )


def _message_from_entire(cls: "type[_M]", data: "object") -> "_M":
    """``cls.from_bytes(data)``: a message from its entire form."""
    raw = data if type(data) is bytes else bytes(data)  # type: ignore[call-overload]
    length = len(raw)
    if length < _H:
        raise ValueError(f'Cannot form entire message from string "{raw!r}" of length {length}')
    if _MICROPYTHON:
        guard = _unpack_u32(raw, 0)[0]
        name_len, data_len = _unpack_2u32(raw, _NAME_LEN)
        name_ptr, data_ptr = _unpack_2ptr(raw, _PTRS_AT)
    else:
        guard, name_len, data_len, name_ptr, data_ptr = _unpack_check(raw, 0)
    if guard != _START_GUARD:
        raise ValueError(
            f'Cannot form entire message from string "{raw!r}"'
            " which does not start with message start guard"
        )
    total = _H + ((name_len + 4) & ~3) + ((data_len + 3) & ~3) + 4
    if length != total:
        if length < total:
            raise ValueError(
                f'Cannot form entire message from string "{raw!r}" of length {length}'
                f" (the message it describes is {total} bytes long)"
            )
        raw = raw[:total]  # trailing bytes are not part of the message
    msg = object.__new__(cls)
    msg._b = raw
    if name_ptr or data_ptr:  # an entire message never has pointers
        msg._writable()[_PTRS_AT:_END_AT] = _NULL_PTRS
    if cls is not Message:
        msg._check_fields()
    return msg


def _split_batch(data: "bytes") -> "list[Message]":
    """The messages of one batch read (BATCHREAD): whole messages in entire
    form, one after the other.  ValueError if ``data`` is not that."""
    msgs = []
    offset = 0
    length = len(data)
    end_guard = _common.KBUS_MSG_END_GUARD
    while offset < length:
        if length - offset < _H:
            raise ValueError(f"batch read: {length - offset} bytes at {offset} are no message")
        name_len, data_len = _unpack_2u32(data, offset + _NAME_LEN)
        total = _H + ((name_len + 4) & ~3) + ((data_len + 3) & ~3) + 4
        if total > length - offset or _unpack_u32(data, offset + total - 4)[0] != end_guard:
            raise ValueError(f"batch read: no whole message at {offset}")
        msgs.append(_message_from_entire(Message, data[offset : offset + total]))
        offset += total
    return msgs


def _none_or(cls: "Any", pair: "tuple[int, ...]") -> "Any":
    return cls(pair[0], pair[1]) if pair[0] or pair[1] else None


# ---------------------------------------------------------------------------
# Messages


class Message:
    """A KBUS message.

    ``Message(name, data=None, to=None, from_=None, orig_from=None,
    final_to=None, in_reply_to=None, flags=None, id=None, encoding="utf-8",
    errors="strict")``

    ``name`` must start with ``$.`` (full validation is left to KBUS);
    ``data`` may be None, bytes or a str (encoded with ``encoding`` and
    ``errors``; MicroPython always uses UTF-8); ``to``/``from_``/``flags``
    are ints (None means 0); ``id``/``in_reply_to`` are :class:`MessageId`
    and ``orig_from``/``final_to`` :class:`OrigFrom` values (or 2-tuples),
    or None.
    """

    START_GUARD = _common.KBUS_MSG_START_GUARD
    END_GUARD = _common.KBUS_MSG_END_GUARD

    WANT_A_REPLY = _common.KBUS_BIT_WANT_A_REPLY
    WANT_YOU_TO_REPLY = _common.KBUS_BIT_WANT_YOU_TO_REPLY
    SYNTHETIC = _common.KBUS_BIT_SYNTHETIC
    URGENT = _common.KBUS_BIT_URGENT
    ALL_OR_WAIT = _common.KBUS_BIT_ALL_OR_WAIT
    ALL_OR_FAIL = _common.KBUS_BIT_ALL_OR_FAIL

    #: Fields shown by repr(), in order (§14.7).
    _repr_fields: "tuple[str, ...]" = (
        "data", "to", "from_", "orig_from", "final_to", "in_reply_to", "flags", "id",
    )  # fmt: skip

    # the entire form; the name as text once known; the ctypes view of msg
    _b: "_Buffer"
    _n: "str | None" = None
    _v: "Any" = None

    def __init__(
        self,
        name: "str | bytes",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        orig_from: "_Pairish" = None,
        final_to: "_Pairish" = None,
        in_reply_to: "_Pairish" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        self._set(
            name, data, to, from_, orig_from, final_to, in_reply_to, flags, id, encoding, errors
        )
        self._check_fields()

    def _set(
        self,
        name: "object",
        data: "object",
        to: "object",
        from_: "object",
        orig_from: "_Pairish",
        final_to: "_Pairish",
        in_reply_to: "_Pairish",
        flags: "object",
        id: "_Pairish",
        encoding: str,
        errors: str,
    ) -> None:
        # (every message is built here: the usual cases without calls)
        if type(name) is str:
            block = _NAMES.get(name)
            if block is None:
                block = _name_block(name)
            self._n = name
        else:
            block = _name_block(name)
        self._b = _entire(
            _ZERO_PAIR if id is None else _pair(id, "id"),
            _ZERO_PAIR if in_reply_to is None else _pair(in_reply_to, "in_reply_to"),
            0 if to is None else _u32(to, "to"),
            0 if from_ is None else _u32(from_, "from_"),
            _ZERO_PAIR if orig_from is None else _pair(orig_from, "orig_from"),
            _ZERO_PAIR if final_to is None else _pair(final_to, "final_to"),
            0 if flags is None else _u32(flags, "flags"),
            block,
            data if type(data) is bytes else _data_bytes(data, encoding, errors),
        )

    def _check_fields(self) -> None:
        """Enforce the subclass's constraints (hook for subclasses)."""

    def _writable(self) -> bytearray:
        """The buffer, made a bytearray (for good) if it was bytes."""
        b = self._b
        if type(b) is not bytearray:
            b = self._b = bytearray(b)
        return b

    def _set_u32(self, offset: int, value: int) -> None:
        struct.pack_into(_U32, self._writable(), offset, value)

    def _set_pair(self, offset: int, pair: "tuple[int, int]") -> None:
        if _unpack_2u32(self._b, offset) != pair:
            struct.pack_into(_2U32, self._writable(), offset, pair[0], pair[1])

    # -- alternative constructors ---------------------------------------------

    @classmethod
    def _from_parts(
        cls: "type[_M]",
        parts: "Any",
        data: "object",
        to: "object",
        from_: "object",
        orig_from: "_Pairish",
        final_to: "_Pairish",
        in_reply_to: "_Pairish",
        flags: "object",
        id: "_Pairish",
        encoding: str,
        errors: str,
    ) -> "_M":
        if len(parts) != 9:
            raise ValueError(f"Message sequence must have 9 items, not {len(parts)}")
        p_id, p_in_reply_to, p_to, p_from, p_orig_from, p_final_to, p_flags, p_name, p_data = parts
        msg = object.__new__(cls)
        msg._set(
            p_name,
            p_data if data is None else data,
            p_to if to is None else to,
            p_from if from_ is None else from_,
            p_orig_from if orig_from is None else orig_from,
            p_final_to if final_to is None else final_to,
            p_in_reply_to if in_reply_to is None else in_reply_to,
            p_flags if flags is None else flags,
            p_id if id is None else id,
            encoding,
            errors,
        )
        msg._check_fields()
        return msg

    @classmethod
    def from_message(
        cls: "type[_M]",
        msg: "Message",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        orig_from: "_Pairish" = None,
        final_to: "_Pairish" = None,
        in_reply_to: "_Pairish" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> "_M":
        """A copy of ``msg``, with any non-None argument replacing that field.

        The name cannot be changed, and the id-like fields cannot be reset
        to "none" this way (use :meth:`extract` and :meth:`from_sequence`).
        """
        return cls._from_parts(
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
        cls: "type[_M]",
        seq: "Any",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        orig_from: "_Pairish" = None,
        final_to: "_Pairish" = None,
        in_reply_to: "_Pairish" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> "_M":
        """A message from a 9-item sequence as returned by :meth:`extract`:
        ``(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)``.
        Any non-None keyword argument replaces the corresponding item."""
        return cls._from_parts(
            seq, data, to, from_, orig_from, final_to, in_reply_to, flags, id, encoding, errors
        )

    @classmethod
    def from_bytes(cls: "type[_M]", data: "bytes | bytearray | memoryview") -> "_M":
        """A message from its entire form, as read from a Ksock (bytes after
        the message are ignored)."""
        return _message_from_entire(cls, data)

    # -- fields ------------------------------------------------------------------

    @property
    def id(self) -> "MessageId | None":
        """The message id, or None if it is ``{0,0}``."""
        pair = _unpack_2u32(self._b, _ID)
        return MessageId(pair[0], pair[1]) if pair[0] or pair[1] else None

    @property
    def in_reply_to(self) -> "MessageId | None":
        """The id of the request this replies to, or None."""
        pair = _unpack_2u32(self._b, _IN_REPLY_TO)
        return MessageId(pair[0], pair[1]) if pair[0] or pair[1] else None

    @property
    def to(self) -> int:
        return int(_unpack_u32(self._b, _TO)[0])

    @property
    def from_(self) -> int:
        return int(_unpack_u32(self._b, _FROM)[0])

    @property
    def orig_from(self) -> "OrigFrom | None":
        pair = _unpack_2u32(self._b, _ORIG_FROM)
        return OrigFrom(pair[0], pair[1]) if pair[0] or pair[1] else None

    @property
    def final_to(self) -> "OrigFrom | None":
        pair = _unpack_2u32(self._b, _FINAL_TO)
        return OrigFrom(pair[0], pair[1]) if pair[0] or pair[1] else None

    @property
    def flags(self) -> int:
        return int(_unpack_u32(self._b, _FLAGS)[0])

    @property
    def name(self) -> str:
        name = self._n
        if name is None:
            name = self._n = _common.decode_name(self._raw_name())
        return name

    @property
    def data(self) -> "bytes | None":
        """The message data, or None if there is none."""
        b = self._b
        name_len, data_len = _unpack_2u32(b, _NAME_LEN)
        if not data_len:
            return None
        at = _H + ((name_len + 4) & ~3)
        return bytes(b[at : at + data_len])

    def _raw_name(self) -> bytes:
        return bytes(self._b[_H : _H + _unpack_u32(self._b, _NAME_LEN)[0]])

    def _raw_data(self) -> bytes:
        return self.data or b""

    @property
    def msg(self) -> "Any":
        """The header as a ctypes structure (CPython only): a view of this
        message's own buffer, so assigning a field (``m.msg.to = 3``)
        changes the message.  Its ``name`` and ``data`` pointers are NULL:
        the name and data follow the header in the same buffer."""
        view = self._v
        if view is None:
            view = self._v = header_view(self._writable())
        return view

    @property
    def _id(self) -> "MessageId":
        """The id field itself, even when zero (on CPython a view: writing to
        it changes the message; on MicroPython a copy)."""
        return pair_view(MessageId, self._writable(), _ID)

    @property
    def _in_reply_to(self) -> "MessageId":
        return pair_view(MessageId, self._writable(), _IN_REPLY_TO)

    @property
    def _orig_from(self) -> "OrigFrom":
        return pair_view(OrigFrom, self._writable(), _ORIG_FROM)

    @property
    def _final_to(self) -> "OrigFrom":
        return pair_view(OrigFrom, self._writable(), _FINAL_TO)

    def is_pointy(self) -> bool:
        """False: a message is always held (and written) in its entire form.
        (The original binding held messages built from parts as a header
        pointing at separate name and data buffers.)"""
        return False

    # -- methods ----------------------------------------------------------------

    def extract(
        self,
    ) -> (
        "tuple[MessageId | None, MessageId | None, int, int, OrigFrom | None,"
        " OrigFrom | None, int, str, bytes | None]"
    ):
        """``(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)``"""
        h = _unpack_head(self._b, 0)
        return (
            _none_or(MessageId, h[1:3]),
            _none_or(MessageId, h[3:5]),
            h[5],
            h[6],
            _none_or(OrigFrom, h[7:9]),
            _none_or(OrigFrom, h[9:11]),
            h[12],
            self.name,
            self.data,
        )

    def total_length(self) -> int:
        """The length of the entire form of this message."""
        return len(self._b)

    def to_bytes(self) -> bytes:
        """The entire form of the message, exactly :meth:`total_length` bytes."""
        b = self._b
        return b if type(b) is bytes else bytes(b)

    def equivalent(self, other: "Message") -> bool:
        """True if ``to``, name and data match (ignoring id, flags, from, ...)."""
        return (
            self.to == other.to
            and self._raw_name() == other._raw_name()
            and self._raw_data() == other._raw_data()
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return False
        a = self._b
        b = other._b
        # id, in_reply_to, to, from, orig_from, final_to; flags, name_len,
        # data_len (not the start guard or extra); then name and data
        return (
            a[4:44] == b[4:44]
            and a[48:60] == b[48:60]
            and self._raw_name() == other._raw_name()
            and self._raw_data() == other._raw_data()
        )

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def _change_flags(self, bit: int, value: bool) -> None:
        flags = _unpack_u32(self._b, _FLAGS)[0]
        self._set_u32(_FLAGS, flags | bit if value else flags & ~bit & 0xFFFFFFFF)

    def set_want_reply(self, value: bool = True) -> None:
        """Set (or clear) the WANT_A_REPLY flag."""
        self._change_flags(self.WANT_A_REPLY, value)

    def set_urgent(self, value: bool = True) -> None:
        """Set (or clear) the URGENT flag."""
        self._change_flags(self.URGENT, value)

    def wants_us_to_reply(self) -> bool:
        """True if KBUS has marked this (request) as ours to answer."""
        return bool(_unpack_u32(self._b, _FLAGS)[0] & _WANT_YOU_TO_REPLY)

    def is_synthetic(self) -> bool:
        return bool(_unpack_u32(self._b, _FLAGS)[0] & self.SYNTHETIC)

    def is_urgent(self) -> bool:
        return bool(_unpack_u32(self._b, _FLAGS)[0] & self.URGENT)

    def is_reply(self) -> bool:
        """True if ``in_reply_to`` is set."""
        return bool(_unpack_2u32(self._b, _IN_REPLY_TO) != _ZERO_PAIR)

    def is_request(self) -> bool:
        """True if WANT_A_REPLY is set."""
        return bool(_unpack_u32(self._b, _FLAGS)[0] & _WANT_A_REPLY)

    def is_stateful_request(self) -> bool:
        """True if WANT_A_REPLY is set and ``to`` is non-zero."""
        return self.is_request() and _unpack_u32(self._b, _TO)[0] != 0

    def is_status(self) -> bool:
        """True if this is a status KBUS made (``$.KBUS.Replier.GoneAway``
        ...): a reply named ``$.KBUS.…`` that the kernel marked SYNTHETIC.
        A message that only has such a name is not trusted as one."""
        b = self._b
        return bool(
            _unpack_u32(b, _FLAGS)[0] & _SYNTHETIC
            and _unpack_2u32(b, _IN_REPLY_TO) != _ZERO_PAIR
            and b[_H : _H + len(_STATUS_PREFIX)] == _STATUS_PREFIX
        )

    def is_replier_bind_event(self) -> bool:
        """True if this is a ``$.KBUS.ReplierBindEvent`` that the kernel made
        (SYNTHETIC): its data then splits with
        :func:`split_replier_bind_event_data`."""
        b = self._b
        return bool(
            _unpack_u32(b, _FLAGS)[0] & _SYNTHETIC
            and _unpack_u32(b, _NAME_LEN)[0] == len(_BIND_EVENT_NAME)
            and b[_H : _H + len(_BIND_EVENT_NAME)] == _BIND_EVENT_NAME
        )

    def _kind(self) -> "type[Message]":
        """The class this message belongs to (§11.5), from its content: a
        Status is a reply named ``$.KBUS.…`` that KBUS marked SYNTHETIC
        (no client can set that flag)."""
        b = self._b
        if _unpack_2u32(b, _IN_REPLY_TO) != _ZERO_PAIR:
            if (
                _unpack_u32(b, _FLAGS)[0] & _SYNTHETIC
                and b[_H : _H + len(_STATUS_PREFIX)] == _STATUS_PREFIX
            ):
                return Status
            return Reply
        if _unpack_u32(b, _FLAGS)[0] & _WANT_A_REPLY:
            return Request
        return Announcement

    def cast(self) -> "Message":
        """A copy of this message as the appropriate subclass (§11.5):
        Status, Reply, Request or Announcement.  The copy is equal to the
        original (nothing is changed or dropped)."""
        msg = object.__new__(self._kind())
        msg._b = bytes(self._b)
        msg._n = self._n
        return msg

    # -- text ------------------------------------------------------------------

    def __repr__(self) -> str:
        return _common.message_repr(
            type(self).__name__, self.name, [(f, getattr(self, f)) for f in self._repr_fields]
        )

    def __str__(self) -> str:
        h = _unpack_head(self._b, 0)
        text = _common.message_id_text
        return _common.message_text(
            self._kind().__name__,
            self.name,
            text(h[1], h[2]) if h[1] or h[2] else None,
            h[5],
            h[6],
            _common.orig_from_text(h[7], h[8]) if h[7] or h[8] else None,
            _common.orig_from_text(h[9], h[10]) if h[9] or h[10] else None,
            text(h[3], h[4]) if h[3] or h[4] else None,
            h[12],
            self.data,
        )


class Announcement(Message):
    """A message that wants no reply.

    ``in_reply_to``, ``orig_from`` and ``final_to`` are always zero (also
    when built with :meth:`from_message`, :meth:`from_sequence` or
    :meth:`from_bytes`).
    """

    _repr_fields = ("data", "to", "from_", "flags", "id")

    def __init__(
        self,
        name: "str | bytes",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        self._set(name, data, to, from_, None, None, None, flags, id, encoding, errors)

    def _check_fields(self) -> None:
        self._set_pair(_IN_REPLY_TO, _ZERO_PAIR)
        self._set_pair(_ORIG_FROM, _ZERO_PAIR)
        self._set_pair(_FINAL_TO, _ZERO_PAIR)

    def set_want_reply(self, value: bool = True) -> "NoReturn":
        raise TypeError("Announcements are not Requests")


class Request(Message):
    """A message that wants a reply: WANT_A_REPLY is always set.

    Given ``to`` (a replier's Ksock id) it is a stateful request.
    """

    _repr_fields = ("data", "to", "from_", "orig_from", "final_to", "flags", "id")

    def __init__(
        self,
        name: "str | bytes",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        final_to: "_Pairish" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        flags = _WANT_A_REPLY if flags is None else _u32(flags, "flags") | _WANT_A_REPLY
        self._set(name, data, to, from_, None, final_to, None, flags, id, encoding, errors)

    def _check_fields(self) -> None:
        flags = _unpack_u32(self._b, _FLAGS)[0]
        if not flags & _WANT_A_REPLY:
            self._set_u32(_FLAGS, flags | _WANT_A_REPLY)

    def set_want_reply(self, value: bool = True) -> "NoReturn":
        raise TypeError('Request always has "want a reply" set')


class Reply(Message):
    """A reply to a Request: ``in_reply_to`` must be set.

    The constructor does not swap any fields; use :func:`reply_to` to build
    the reply to a request.
    """

    _repr_fields = ("data", "to", "from_", "orig_from", "in_reply_to", "flags", "id")

    def __init__(
        self,
        name: "str | bytes",
        data: "bytes | bytearray | memoryview | str | None" = None,
        to: "int | None" = None,
        from_: "int | None" = None,
        orig_from: "_Pairish" = None,
        in_reply_to: "_Pairish" = None,
        flags: "int | None" = None,
        id: "_Pairish" = None,
        encoding: str = "utf-8",
        errors: str = "strict",
    ) -> None:
        self._set(name, data, to, from_, orig_from, None, in_reply_to, flags, id, encoding, errors)
        self._check_fields()

    def _check_fields(self) -> None:
        if _unpack_2u32(self._b, _IN_REPLY_TO) == _ZERO_PAIR:
            raise ValueError("A Reply must specify in_reply_to")


_STATUS_ONLY_FROM_BYTES = "Use the Status.from_bytes() method to construct a Status"


class Status(Message):
    """A status message generated by KBUS (a reply named ``$.KBUS.…``, with
    the SYNTHETIC flag: :meth:`Message.is_status`).

    Only :meth:`Status.from_bytes` can construct one.
    """

    _repr_fields = ("data", "to", "from_", "in_reply_to", "flags", "id")

    def __init__(self, *args: "Any", **kwargs: "Any") -> None:
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_message(cls, *args: "Any", **kwargs: "Any") -> "NoReturn":
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_sequence(cls, *args: "Any", **kwargs: "Any") -> "NoReturn":
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)


# ---------------------------------------------------------------------------
# Module functions


def reply_to(
    original: Message,
    data: "bytes | bytearray | memoryview | str | None" = None,
    flags: int = 0,
    encoding: str = "utf-8",
    errors: str = "strict",
) -> Reply:
    """The Reply to a Request that KBUS asked us to answer.

    The reply has the request's name, ``in_reply_to`` = the request's id and
    ``to`` = the request's sender.  The request's data and flags are not
    copied.
    """
    b = original._b
    if _MICROPYTHON:
        flags_in = _unpack_u32(b, _FLAGS)[0]
        request_id = _unpack_2u32(b, _ID)
        requester = _unpack_u32(b, _FROM)[0]
        name_len = _unpack_u32(b, _NAME_LEN)[0]
    else:
        h = _unpack_head(b, 0)
        flags_in, request_id, requester, name_len = h[12], (h[1], h[2]), h[6], h[13]
    _common.check_reply_to(flags_in, original)
    if request_id == _ZERO_PAIR:
        raise ValueError("A Reply must specify in_reply_to")
    reply = object.__new__(Reply)
    reply._b = _entire(
        _ZERO_PAIR,
        request_id,
        requester,
        0,
        _ZERO_PAIR,
        _ZERO_PAIR,
        flags if type(flags) is int and 0 <= flags <= 0xFFFFFFFF else _u32(flags, "flags"),
        _name_block(bytes(b[_H : _H + name_len])),
        _data_bytes(data, encoding, errors),
    )
    reply._n = original._n
    return reply


def stateful_request(
    earlier_msg: Message,
    name: "str | bytes",
    data: "bytes | bytearray | memoryview | str | None" = None,
    from_: "int | None" = None,
    flags: "int | None" = None,
    id: "_Pairish" = None,
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
