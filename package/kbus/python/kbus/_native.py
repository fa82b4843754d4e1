# SPDX-License-Identifier: MIT
"""What the shared message core (:mod:`kbus.core`) takes from CPython: the
ctypes structures of the ABI.

* :class:`MessageId` and :class:`OrigFrom`, ``struct kbus_msg_id`` and
  ``struct kbus_orig_from`` (two u32 each), as ctypes structures, so that
  they can be fields of other structures and views into a message;
* ``struct kbus_message_header`` (:class:`_MessageHeaderStruct`), and
  :func:`header_view`, which lays it over a message's buffer (``msg``);
* the size of a pointer.

The MicroPython module has its own ``kbus/_native.py`` with the same names
(plain objects, no views).
"""

from __future__ import annotations

import ctypes
from typing import Any, TypeVar

#: Size of a C pointer in the running interpreter: 8 on LP64, 4 on ILP32.
POINTER_SIZE = ctypes.sizeof(ctypes.c_void_p)

_P = TypeVar("_P", bound="_U32Pair")


class _U32Pair(ctypes.Structure):
    """Two u32 fields that compare as a tuple, only with their own kind
    (anything else gives ``NotImplemented``), and hash consistently."""

    def _key(self) -> tuple[int, int]:
        first, second = (name for name, *_ in self._fields_)
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
        return hash((type(self).__name__, *self._key()))

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

    def _key(self) -> tuple[int, int]:
        return (self.network_id, self.serial_num)

    def __repr__(self) -> str:
        return f"MessageId({self.network_id}, {self.serial_num})"

    def __str__(self) -> str:
        return f"[{self.network_id}:{self.serial_num}]"

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

    def _key(self) -> tuple[int, int]:
        return (self.network_id, self.local_id)

    def __repr__(self) -> str:
        return f"OrigFrom({self.network_id}, {self.local_id})"

    def __str__(self) -> str:
        return f"({self.network_id},{self.local_id})"


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
        parts = ", ".join(f"{name}={getattr(self, name)!r}" for name, *_ in self._fields_)
        return f"<{type(self).__name__} {parts}>"


def header_view(buffer: bytearray) -> _MessageHeaderStruct:
    """The header of the message in ``buffer``, as a ctypes view of it."""
    return _MessageHeaderStruct.from_buffer(buffer)


def pair_view(cls: type[_P], buffer: bytearray, offset: int) -> _P:
    """The id-like field at ``offset`` of ``buffer``, as a ctypes view of it."""
    return cls.from_buffer(buffer, offset)
