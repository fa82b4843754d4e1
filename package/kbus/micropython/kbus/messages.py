# SPDX-License-Identifier: MIT
"""KBUS messages for MicroPython: the classes of the CPython package's
:mod:`kbus.messages`, as plain Python objects instead of ctypes structures.

The text of messages (``str()``, ``repr()``), the kind rules, the lengths and
the checks of :func:`reply_to` and :func:`stateful_request` come from
:mod:`kbus.common`, the module shared with the CPython package.  What differs
from CPython is listed in package/kbus/micropython/README.md.
"""

import struct
import sys

from kbus import common as _common

_ORDER = "<" if sys.byteorder == "little" else ">"
#: Size of a C pointer in this interpreter: 4 on ILP32, 8 on LP64.
POINTER_SIZE = struct.calcsize("P")
#: Length of a message header in bytes: 72 on ILP32, 88 on LP64.
MSG_HEADER_LEN = _common.header_len(POINTER_SIZE)
# The fifteen u32 fields before the pointers, the pointers' offset, the end
# guard's offset (the pointers are always NULL in what is written: an entire
# message carries its name and data after the header).
_HEAD_FORMAT = _ORDER + "15I"
_POINTERS_AT = 60 + (-60 % POINTER_SIZE)
_END_GUARD_AT = _POINTERS_AT + 2 * POINTER_SIZE
_U32 = _ORDER + "I"


def calc_padded_name_len(name_len):
    return _common.calc_padded_name_len(name_len)


def calc_padded_data_len(data_len):
    return _common.calc_padded_data_len(data_len)


def calc_entire_message_len(name_len, data_len):
    """``KBUS_ENTIRE_MSG_LEN``: the length of the entire form of a message."""
    return MSG_HEADER_LEN + calc_padded_name_len(name_len) + calc_padded_data_len(data_len) + 4


split_replier_bind_event_data = _common.split_replier_bind_event_data


class _Pair:
    """Two u32 values that compare as a tuple, only with their own kind.

    (One attribute holding a tuple: attributes are costly on MicroPython.)
    """

    def __init__(self, first=0, second=0):
        self._k = (first & 0xFFFFFFFF, second & 0xFFFFFFFF)

    def _key(self):
        return self._k

    def _is_zero(self):
        return self._k == (0, 0)

    def __eq__(self, other):
        return type(other) is type(self) and self._k == other._k

    def __ne__(self, other):
        return not self.__eq__(other)

    def __lt__(self, other):
        if type(other) is not type(self):
            raise TypeError("unorderable types")
        return self._k < other._k

    def __le__(self, other):
        return self == other or self < other

    def __gt__(self, other):
        return not self <= other

    def __ge__(self, other):
        return not self < other

    def __hash__(self):
        return hash((type(self).__name__, self._k))


class MessageId(_Pair):
    """A message id: (network id, serial number); ``{0,0}`` is "no id"."""

    @property
    def network_id(self):
        return self._k[0]

    @property
    def serial_num(self):
        return self._k[1]

    def __repr__(self):
        return f"MessageId({self._k[0]}, {self._k[1]})"

    def __str__(self):
        return _common.message_id_text(self._k[0], self._k[1])

    def __add__(self, other):
        if not isinstance(other, int) or isinstance(other, bool):
            raise TypeError("a MessageId can only be added to an int")
        return MessageId(self._k[0], (self._k[1] + other) & 0xFFFFFFFF)


class OrigFrom(_Pair):
    """``orig_from`` / ``final_to``: (network id, local Ksock id)."""

    @property
    def network_id(self):
        return self._k[0]

    @property
    def local_id(self):
        return self._k[1]

    def __repr__(self):
        return f"OrigFrom({self._k[0]}, {self._k[1]})"

    def __str__(self):
        return _common.orig_from_text(self._k[0], self._k[1])


def _pair(cls, value, what):
    """The two u32 of an id-like argument: a MessageId/OrigFrom, a 2-tuple or None."""
    if value is None:
        return (0, 0)
    if isinstance(value, cls):
        return value._k
    if isinstance(value, tuple) and len(value) == 2:
        return (_u32(value[0], what), _u32(value[1], what))
    raise TypeError(f"{what} must be a {cls.__name__}, a 2-tuple or None")


def _u32(value, what):
    if value is None:
        return 0
    if not isinstance(value, int) or not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"{what} must be an unsigned 32-bit int, not {value!r}")
    return value


def _as_bytes(data):
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError("Message data must be bytes, str or None")


def _name_bytes(name):
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, (bytes, bytearray)):
        return bytes(name)
    raise TypeError("Message name must be a str")


def _or_none(cls, a, b):
    return None if a == 0 and b == 0 else cls(a, b)


# Indices in Message._h, the fifteen u32 words of the header (as unpacked):
# start guard, id (2), in_reply_to (2), to, from, orig_from (2), final_to (2),
# extra, flags, name_len, data_len.  (One list, not an attribute per field:
# attributes are costly on MicroPython.)
_TO, _FROM, _FLAGS = 5, 6, 12


class Message:
    """A KBUS message: ``Message(name, data=None, to=None, from_=None,
    orig_from=None, final_to=None, in_reply_to=None, flags=None, id=None)``.

    Same fields, properties and methods as the CPython package's Message
    (without the ctypes structure ``msg``).
    """

    START_GUARD = _common.KBUS_MSG_START_GUARD
    END_GUARD = _common.KBUS_MSG_END_GUARD
    WANT_A_REPLY = _common.KBUS_BIT_WANT_A_REPLY
    WANT_YOU_TO_REPLY = _common.KBUS_BIT_WANT_YOU_TO_REPLY
    SYNTHETIC = _common.KBUS_BIT_SYNTHETIC
    URGENT = _common.KBUS_BIT_URGENT
    ALL_OR_WAIT = _common.KBUS_BIT_ALL_OR_WAIT
    ALL_OR_FAIL = _common.KBUS_BIT_ALL_OR_FAIL

    _repr_fields = ("data", "to", "from_", "orig_from", "final_to", "in_reply_to", "flags", "id")

    def __init__(
        self,
        name,
        data=None,
        to=None,
        from_=None,
        orig_from=None,
        final_to=None,
        in_reply_to=None,
        flags=None,
        id=None,
    ):
        self._set(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)
        self._check_fields()

    def _set(self, id, in_reply_to, to, from_, orig_from, final_to, flags, name, data):
        name_b = _name_bytes(name)
        if not name_b.startswith(b"$."):
            raise ValueError(f'Message name "{name}" does not start "$."')
        if len(name_b) < _common.KBUS_MIN_NAME_LEN:
            raise ValueError(
                f'Message name "{name}" is too short'
                f" (it must be at least {_common.KBUS_MIN_NAME_LEN} bytes)"
            )
        id_ = _pair(MessageId, id, "id")
        irt = _pair(MessageId, in_reply_to, "in_reply_to")
        of = _pair(OrigFrom, orig_from, "orig_from")
        ft = _pair(OrigFrom, final_to, "final_to")
        data_b = _as_bytes(data)
        self._h = [
            _common.KBUS_MSG_START_GUARD, id_[0], id_[1], irt[0], irt[1],
            _u32(to, "to"), _u32(from_, "from_"), of[0], of[1], ft[0], ft[1],
            0, _u32(flags, "flags"), len(name_b), len(data_b),
        ]  # fmt: skip
        self._name = name_b
        self._data = data_b

    def _check_fields(self):
        """Enforce the subclass's constraints (hook for subclasses)."""

    # -- alternative constructors ---------------------------------------------

    @classmethod
    def _new(cls, id, in_reply_to, to, from_, orig_from, final_to, flags, name, data):
        obj = object.__new__(cls)
        obj._set(id, in_reply_to, to, from_, orig_from, final_to, flags, name, data)
        obj._check_fields()
        return obj

    @classmethod
    def from_sequence(
        cls,
        seq,
        data=None,
        to=None,
        from_=None,
        orig_from=None,
        final_to=None,
        in_reply_to=None,
        flags=None,
        id=None,
    ):
        """From ``(id, in_reply_to, to, from_, orig_from, final_to, flags,
        name, data)``; any non-None argument replaces that field."""
        if len(seq) != 9:
            raise ValueError(f"Message sequence must have 9 items, not {len(seq)}")
        p = list(seq)
        for i, v in enumerate((id, in_reply_to, to, from_, orig_from, final_to, flags)):
            if v is not None:
                p[i] = v
        return cls._new(
            p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8] if data is None else data
        )

    @classmethod
    def from_message(
        cls,
        msg,
        data=None,
        to=None,
        from_=None,
        orig_from=None,
        final_to=None,
        in_reply_to=None,
        flags=None,
        id=None,
    ):
        """A copy of ``msg``, with any non-None argument replacing that field."""
        return cls.from_sequence(
            msg.extract(), data, to, from_, orig_from, final_to, in_reply_to, flags, id
        )

    @classmethod
    def from_bytes(cls, raw):
        """A message from its entire form (as read from a Ksock)."""
        raw = bytes(raw)
        if len(raw) < MSG_HEADER_LEN:
            raise ValueError(
                f"Cannot form entire message from {len(raw)} bytes (a header is {MSG_HEADER_LEN})"
            )
        f = struct.unpack_from(_HEAD_FORMAT, raw, 0)
        if f[0] != _common.KBUS_MSG_START_GUARD:
            raise ValueError("Cannot form entire message: no message start guard")
        name_len, data_len = f[13], f[14]
        total = calc_entire_message_len(name_len, data_len)
        if len(raw) < total:
            raise ValueError(
                f"Cannot form entire message from {len(raw)} bytes (the message it describes"
                f" is {total} bytes long)"
            )
        name_at = MSG_HEADER_LEN
        data_at = name_at + calc_padded_name_len(name_len)
        obj = object.__new__(cls)
        obj._h = list(f)
        obj._h[11] = 0
        obj._name = raw[name_at : name_at + name_len]
        obj._data = raw[data_at : data_at + data_len]
        return obj

    # -- fields ------------------------------------------------------------------

    @property
    def id(self):
        """The message id, or None if it is ``{0,0}``."""
        return _or_none(MessageId, self._h[1], self._h[2])

    @property
    def in_reply_to(self):
        return _or_none(MessageId, self._h[3], self._h[4])

    @property
    def to(self):
        return self._h[_TO]

    @property
    def from_(self):
        return self._h[_FROM]

    @property
    def orig_from(self):
        return _or_none(OrigFrom, self._h[7], self._h[8])

    @property
    def final_to(self):
        return _or_none(OrigFrom, self._h[9], self._h[10])

    @property
    def flags(self):
        return self._h[_FLAGS]

    @property
    def name(self):
        return _common.decode_name(self._name)

    @property
    def data(self):
        """The message data, or None if there is none."""
        return self._data if self._data else None

    def extract(self):
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

    def total_length(self):
        """The length of the entire form of this message."""
        return calc_entire_message_len(len(self._name), len(self._data))

    def to_bytes(self):
        """The entire form: header (NULL pointers), padded name, padded data,
        end guard; exactly :meth:`total_length` bytes."""
        name_len, data_len = len(self._name), len(self._data)
        buf = bytearray(self.total_length())
        h = self._h
        h[13] = name_len
        h[14] = data_len
        struct.pack_into(_HEAD_FORMAT, buf, 0, *h)
        struct.pack_into(_U32, buf, _END_GUARD_AT, _common.KBUS_MSG_END_GUARD)
        at = MSG_HEADER_LEN
        buf[at : at + name_len] = self._name
        at += calc_padded_name_len(name_len)
        buf[at : at + data_len] = self._data
        at += calc_padded_data_len(data_len)
        struct.pack_into(_U32, buf, at, _common.KBUS_MSG_END_GUARD)
        return bytes(buf)

    def equivalent(self, other):
        """True if ``to``, name and data match (ignoring id, flags, from, ...)."""
        return (self.to, self._name, self._data) == (other.to, other._name, other._data)

    def _compare_key(self):
        h = self._h
        return (tuple(h[1:11]), h[_FLAGS], self._name, self._data)

    def __eq__(self, other):
        return isinstance(other, Message) and self._compare_key() == other._compare_key()

    def __ne__(self, other):
        return not self.__eq__(other)

    # -- flags -------------------------------------------------------------------

    def set_want_reply(self, value=True):
        if value:
            self._h[_FLAGS] |= self.WANT_A_REPLY
        else:
            self._h[_FLAGS] &= ~self.WANT_A_REPLY & 0xFFFFFFFF

    def set_urgent(self, value=True):
        if value:
            self._h[_FLAGS] |= self.URGENT
        else:
            self._h[_FLAGS] &= ~self.URGENT & 0xFFFFFFFF

    def wants_us_to_reply(self):
        return bool(self._h[_FLAGS] & self.WANT_YOU_TO_REPLY)

    def is_synthetic(self):
        return bool(self._h[_FLAGS] & self.SYNTHETIC)

    def is_urgent(self):
        return bool(self._h[_FLAGS] & self.URGENT)

    def is_reply(self):
        return self._h[3] != 0 or self._h[4] != 0

    def is_request(self):
        return bool(self._h[_FLAGS] & self.WANT_A_REPLY)

    def is_stateful_request(self):
        return self.is_request() and self._h[_TO] != 0

    def _kind(self):
        return _KINDS[_common.kind_name(self._h[_FLAGS], self.is_reply(), self.name)]

    def cast(self):
        """A copy of this message as Status, Reply, Request or Announcement."""
        return self._kind().from_bytes(self.to_bytes())

    # -- text --------------------------------------------------------------------

    def __repr__(self):
        return _common.message_repr(
            type(self).__name__, self.name, [(f, getattr(self, f)) for f in self._repr_fields]
        )

    def __str__(self):
        h = self._h
        return _common.message_text(
            self._kind().__name__, self.name, self.id, h[_TO], h[_FROM],
            self.orig_from, self.final_to, self.in_reply_to, h[_FLAGS],
            self._data if self._data else None,
        )  # fmt: skip


class Announcement(Message):
    """A message that wants no reply."""

    _repr_fields = ("data", "to", "from_", "flags", "id")

    def __init__(self, name, data=None, to=None, from_=None, flags=None, id=None):
        super().__init__(name, data=data, to=to, from_=from_, flags=flags, id=id)

    def _check_fields(self):
        h = self._h
        h[3] = h[4] = h[7] = h[8] = h[9] = h[10] = 0

    def set_want_reply(self, value=True):
        raise TypeError("Announcements are not Requests")


class Request(Message):
    """A message that wants a reply; given ``to``, a stateful request."""

    _repr_fields = ("data", "to", "from_", "orig_from", "final_to", "flags", "id")

    def __init__(self, name, data=None, to=None, from_=None, final_to=None, flags=None, id=None):
        super().__init__(name, data=data, to=to, from_=from_, final_to=final_to, flags=flags, id=id)

    def _check_fields(self):
        self._h[_FLAGS] |= self.WANT_A_REPLY

    def set_want_reply(self, value=True):
        raise TypeError('Request always has "want a reply" set')


class Reply(Message):
    """A reply to a Request: ``in_reply_to`` must be set."""

    _repr_fields = ("data", "to", "from_", "orig_from", "in_reply_to", "flags", "id")

    def __init__(
        self,
        name,
        data=None,
        to=None,
        from_=None,
        orig_from=None,
        in_reply_to=None,
        flags=None,
        id=None,
    ):
        super().__init__(
            name,
            data=data,
            to=to,
            from_=from_,
            orig_from=orig_from,
            in_reply_to=in_reply_to,
            flags=flags,
            id=id,
        )

    def _check_fields(self):
        if not self.is_reply():
            raise ValueError("A Reply must specify in_reply_to")


_STATUS_ONLY_FROM_BYTES = "Use the Status.from_bytes() method to construct a Status"


class Status(Message):
    """A status message generated by KBUS (a reply named ``$.KBUS.…``)."""

    _repr_fields = ("data", "to", "from_", "in_reply_to", "flags", "id")

    def __init__(self, *args, **kwargs):
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_message(cls, *args, **kwargs):
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)

    @classmethod
    def from_sequence(cls, *args, **kwargs):
        raise NotImplementedError(_STATUS_ONLY_FROM_BYTES)


_KINDS = {"Status": Status, "Reply": Reply, "Request": Request, "Announcement": Announcement}


def reply_to(original, data=None, flags=0):
    """The Reply to a Request that KBUS asked us to answer."""
    _common.check_reply_to(original.flags, original)
    return Reply(original.name, data=data, in_reply_to=original.id, to=original.from_, flags=flags)


def stateful_request(earlier_msg, name, data=None, from_=None, flags=None, id=None):
    """A Request to the same replier as an earlier Reply or stateful Request."""
    if earlier_msg.is_reply():
        to = earlier_msg.from_
        final_to = earlier_msg.orig_from
    elif earlier_msg.is_stateful_request():
        to = earlier_msg.to
        final_to = earlier_msg.final_to
    else:
        raise _common.no_stateful_request(earlier_msg)
    return Request(name, data=data, to=to, from_=from_, final_to=final_to, flags=flags, id=id)
