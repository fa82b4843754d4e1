# SPDX-License-Identifier: MIT
"""What the shared message core (``kbus/core.py``) takes from MicroPython:
``MessageId`` and ``OrigFrom`` as plain objects, the pointer size, and no
ctypes views (the CPython package's ``kbus/_native.py`` has the ctypes
structures under the same names).
"""

import struct

#: Size of a C pointer in this interpreter: 4 on ILP32, 8 on LP64.
POINTER_SIZE = struct.calcsize("P")


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
        return f"[{self._k[0]}:{self._k[1]}]"

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
        return f"({self._k[0]},{self._k[1]})"


def header_view(buffer):
    """``Message.msg``: CPython only (a ctypes structure)."""
    raise AttributeError("'Message' object has no attribute 'msg' on MicroPython (no ctypes)")


def pair_view(cls, buffer, offset):
    """``Message._id`` and the like: here a copy, not a view."""
    first, second = struct.unpack_from("2I", buffer, offset)
    return cls(first, second)
