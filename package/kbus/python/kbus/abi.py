# SPDX-License-Identifier: MIT
"""KBUS binary-interface constants and ioctl number helpers.

This module collects, under their C names, the constants of the KBUS ABI
(specification §4.1 and §6.1) so that Python code does not have to repeat
magic numbers:

* the message guards (``KBUS_MSG_START_GUARD``, ``KBUS_MSG_END_GUARD``);
* the name length limit (``KBUS_MAX_NAME_LEN``);
* the header flag bits (``KBUS_BIT_WANT_A_REPLY`` ... ``KBUS_BIT_ALL_OR_FAIL``);
* the names of the messages KBUS (and Limpets) generate
  (``KBUS_MSG_NAME_REPLIER_GONEAWAY`` ...);
* the ioctl "magic" type byte and the highest ioctl number;
* the argument values understood by the MSGONLYONCE / VERBOSE /
  REPORTREPLIERBINDS / MAXMSGSIZE ioctls.

It also provides the Linux ``_IOC`` encoding as functions (``_IOC``, ``_IO``,
``_IOR``, ``_IOW``, ``_IOWR``), and :func:`ioctl_numbers`, which computes the
numeric value of every KBUS ioctl for a given pointer size.  KBUS encodes
``sizeof(char *)`` as the size of every command that has an argument, so the
values differ between 64-bit (pointer size 8) and 32-bit (pointer size 4)
userlands.  :data:`KBUS_IOCTLS` holds the values for the running interpreter.

Most architectures (x86, ARM, arm64, RISC-V, ...) use the generic ``_IOC``
layout; MIPS, PowerPC, SPARC and Alpha use a 3-bit direction field, and
PA-RISC swaps the read/write direction bits.  :func:`ioc_layout_for_machine`
chooses the right one from ``os.uname().machine``.

The names exported by the :mod:`kbus` package itself (``Message``,
``Ksock``, ...) do not depend on this module being imported by user code.
"""

from __future__ import annotations

import ctypes
import os
from typing import NamedTuple

from kbus import common as _common

# The constants are shared with the MicroPython module (kbus.common, where
# they are documented); this module keeps offering them under their C names.
KBUS_MSG_START_GUARD = _common.KBUS_MSG_START_GUARD
KBUS_MSG_END_GUARD = _common.KBUS_MSG_END_GUARD
KBUS_MAX_NAME_LEN = _common.KBUS_MAX_NAME_LEN
KBUS_MIN_NAME_LEN = _common.KBUS_MIN_NAME_LEN
KBUS_BIT_WANT_A_REPLY = _common.KBUS_BIT_WANT_A_REPLY
KBUS_BIT_WANT_YOU_TO_REPLY = _common.KBUS_BIT_WANT_YOU_TO_REPLY
KBUS_BIT_SYNTHETIC = _common.KBUS_BIT_SYNTHETIC
KBUS_BIT_URGENT = _common.KBUS_BIT_URGENT
KBUS_BIT_ALL_OR_WAIT = _common.KBUS_BIT_ALL_OR_WAIT
KBUS_BIT_ALL_OR_FAIL = _common.KBUS_BIT_ALL_OR_FAIL
KBUS_APPLICATION_FLAGS_MASK = _common.KBUS_APPLICATION_FLAGS_MASK
KBUS_MSG_NAME_REPLIER_GONEAWAY = _common.KBUS_MSG_NAME_REPLIER_GONEAWAY
KBUS_MSG_NAME_REPLIER_IGNORED = _common.KBUS_MSG_NAME_REPLIER_IGNORED
KBUS_MSG_NAME_REPLIER_UNBOUND = _common.KBUS_MSG_NAME_REPLIER_UNBOUND
KBUS_MSG_NAME_REPLIER_DISAPPEARED = _common.KBUS_MSG_NAME_REPLIER_DISAPPEARED
KBUS_MSG_NAME_ERROR_SENDING = _common.KBUS_MSG_NAME_ERROR_SENDING
KBUS_MSG_NAME_UNBIND_EVENTS_LOST = _common.KBUS_MSG_NAME_UNBIND_EVENTS_LOST
KBUS_MSG_NAME_REPLIER_BIND_EVENT = _common.KBUS_MSG_NAME_REPLIER_BIND_EVENT
KBUS_MSG_NOT_SAME_KSOCK = _common.KBUS_MSG_NOT_SAME_KSOCK
KBUS_MSG_REMOTE_ERROR_PREFIX = _common.KBUS_MSG_REMOTE_ERROR_PREFIX
KBUS_STATUS_NAME_PREFIX = _common.KBUS_STATUS_NAME_PREFIX
KBUS_IOC_QUERY = _common.KBUS_IOC_QUERY
KBUS_IOC_MAXMSGS_QUERY = _common.KBUS_IOC_MAXMSGS_QUERY
KBUS_IOC_MAXMSGSIZE_QUERY = _common.KBUS_IOC_MAXMSGSIZE_QUERY
KBUS_IOC_MAXMSGSIZE_QUERY_ABSOLUTE = _common.KBUS_IOC_MAXMSGSIZE_QUERY_ABSOLUTE
KBUS_MIN_MAX_MESSAGE_SIZE = _common.KBUS_MIN_MAX_MESSAGE_SIZE
KBUS_IOC_MAGIC = _common.KBUS_IOC_MAGIC
KBUS_IOC_MAXNR = _common.KBUS_IOC_MAXNR
KBUS_IOCTL_TABLE = _common.KBUS_IOCTL_TABLE

# ---------------------------------------------------------------------------
# ioctl encoding (§6.1)


class IocLayout(NamedTuple):
    """Bit layout of a Linux ioctl request number (``asm/ioctl.h``)."""

    nrbits: int
    typebits: int
    sizebits: int
    dirbits: int
    none: int
    write: int
    read: int

    @property
    def nrshift(self) -> int:
        return 0

    @property
    def typeshift(self) -> int:
        return self.nrshift + self.nrbits

    @property
    def sizeshift(self) -> int:
        return self.typeshift + self.typebits

    @property
    def dirshift(self) -> int:
        return self.sizeshift + self.sizebits


#: ``asm-generic/ioctl.h`` - x86, ARM, arm64, RISC-V, s390, ...
GENERIC_IOC_LAYOUT = IocLayout(
    nrbits=8, typebits=8, sizebits=14, dirbits=2, none=0, write=1, read=2
)
#: MIPS, PowerPC, SPARC and Alpha: 13 size bits, 3 direction bits.
THREE_BIT_DIR_IOC_LAYOUT = IocLayout(
    nrbits=8, typebits=8, sizebits=13, dirbits=3, none=1, write=4, read=2
)
#: PA-RISC: generic field sizes, but read and write bits swapped.
PARISC_IOC_LAYOUT = IocLayout(nrbits=8, typebits=8, sizebits=14, dirbits=2, none=0, write=2, read=1)


def ioc_layout_for_machine(machine: str) -> IocLayout:
    """Return the ioctl layout used on the machine named by ``uname -m``."""
    machine = machine.lower()
    if machine.startswith(("mips", "ppc", "powerpc", "sparc", "alpha")):
        return THREE_BIT_DIR_IOC_LAYOUT
    if machine.startswith("parisc"):
        return PARISC_IOC_LAYOUT
    return GENERIC_IOC_LAYOUT


def native_ioc_layout() -> IocLayout:
    """Return the ioctl layout of the machine we are running on."""
    return ioc_layout_for_machine(os.uname().machine)


def _type_byte(type_: int | str) -> int:
    if isinstance(type_, str):
        if len(type_) != 1:
            raise ValueError(f"ioctl type must be a single character, not {type_!r}")
        return ord(type_)
    return type_


def _IOC(  # noqa: N802 - named after the C macro
    direction: int,
    type_: int | str,
    nr: int,
    size: int,
    layout: IocLayout = GENERIC_IOC_LAYOUT,
) -> int:
    """Encode an ioctl number exactly as the C ``_IOC`` macro does."""
    tbyte = _type_byte(type_)
    if not 0 <= direction < (1 << layout.dirbits):
        raise ValueError(f"ioctl direction {direction} out of range")
    if not 0 <= tbyte < (1 << layout.typebits):
        raise ValueError(f"ioctl type {tbyte} out of range")
    if not 0 <= nr < (1 << layout.nrbits):
        raise ValueError(f"ioctl number {nr} out of range")
    if not 0 <= size < (1 << layout.sizebits):
        raise ValueError(f"ioctl size {size} out of range")
    return (
        (direction << layout.dirshift)
        | (tbyte << layout.typeshift)
        | (nr << layout.nrshift)
        | (size << layout.sizeshift)
    )


def _IO(  # noqa: N802
    type_: int | str, nr: int, layout: IocLayout = GENERIC_IOC_LAYOUT
) -> int:
    """``_IO(type, nr)``: a command without an argument."""
    return _IOC(layout.none, type_, nr, 0, layout)


def _IOR(  # noqa: N802
    type_: int | str, nr: int, size: int, layout: IocLayout = GENERIC_IOC_LAYOUT
) -> int:
    """``_IOR(type, nr, T)`` with ``size = sizeof(T)``: kernel writes to user."""
    return _IOC(layout.read, type_, nr, size, layout)


def _IOW(  # noqa: N802
    type_: int | str, nr: int, size: int, layout: IocLayout = GENERIC_IOC_LAYOUT
) -> int:
    """``_IOW(type, nr, T)`` with ``size = sizeof(T)``: kernel reads from user."""
    return _IOC(layout.write, type_, nr, size, layout)


def _IOWR(  # noqa: N802
    type_: int | str, nr: int, size: int, layout: IocLayout = GENERIC_IOC_LAYOUT
) -> int:
    """``_IOWR(type, nr, T)`` with ``size = sizeof(T)``: both directions."""
    return _IOC(layout.read | layout.write, type_, nr, size, layout)


def ioctl_numbers(pointer_size: int, layout: IocLayout = GENERIC_IOC_LAYOUT) -> dict[str, int]:
    """Return ``{"RESET": ..., "BIND": ..., ...}`` for the given pointer size.

    Every KBUS command with an argument encodes ``sizeof(char *)`` (the
    ``pointer_size`` given here) as its size - not the size of the real
    argument - exactly as the kernel module's header does (§6.1).
    """
    result: dict[str, int] = {}
    for name, nr, direction in KBUS_IOCTL_TABLE:
        if direction == "":
            value = _IO(KBUS_IOC_MAGIC, nr, layout)
        elif direction == "r":
            value = _IOR(KBUS_IOC_MAGIC, nr, pointer_size, layout)
        elif direction == "w":
            value = _IOW(KBUS_IOC_MAGIC, nr, pointer_size, layout)
        else:
            value = _IOWR(KBUS_IOC_MAGIC, nr, pointer_size, layout)
        result[name] = value
    return result


#: Size of a C pointer in the running interpreter: 8 on LP64, 4 on ILP32.
POINTER_SIZE = ctypes.sizeof(ctypes.c_char_p)

#: The KBUS ioctl numbers for the running interpreter and machine.
KBUS_IOCTLS: dict[str, int] = ioctl_numbers(POINTER_SIZE, native_ioc_layout())
