# SPDX-License-Identifier: MIT
"""The KBUS Ksock: one open file on a KBUS device (``/dev/kbus<N>``).

Every kernel error surfaces as an :class:`OSError` whose ``errno`` is the
kernel's error number (``fcntl.ioctl``, ``open``, ``read`` and ``write``
raise it).
"""

from __future__ import annotations

import array
import ctypes
import errno
import fcntl
import io
import select
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from kbus import abi
from kbus.messages import Message, MessageId

_IOCTLS = abi.KBUS_IOCTLS

#: How often a read that KBUS interrupted (EAGAIN while waiting for the device
#: lock) is retried before giving up.
_READ_RETRIES = 100

#: The default location of the bindings report.
_PROC_BINDINGS = "/proc/kbus/bindings"


class BindStruct(ctypes.Structure):
    """``struct kbus_bind_request``: the argument of BIND and UNBIND."""

    _fields_ = [
        ("is_replier", ctypes.c_uint32),
        ("len", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
    ]

    is_replier: int
    len: int
    name: bytes | None


class ReplierStruct(ctypes.Structure):
    """``struct kbus_bind_query``: the argument of REPLIER."""

    _fields_ = [
        ("return_id", ctypes.c_uint32),
        ("len", ctypes.c_uint32),
        ("name", ctypes.c_char_p),
    ]

    return_id: int
    len: int
    name: bytes | None


class SendResultStruct(ctypes.Structure):
    """A send result (return value and message id).  Defined, but unused."""

    _fields_ = [
        ("retval", ctypes.c_int32),
        ("msg_id", MessageId),
    ]

    retval: int
    msg_id: MessageId


def _u32_buffer(value: int = 0) -> array.array[int]:
    """A mutable 4-byte buffer for an ioctl with a u32 argument."""
    return array.array("I", [value])  # C unsigned int: 4 bytes on every Linux ABI


def _encode_name(name: str | bytes) -> bytes:
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, (bytes, bytearray)):
        return bytes(name)
    raise TypeError(f"a message name must be a str or bytes, not {type(name).__name__}")


class Ksock:
    """A connection to a KBUS device: ``Ksock(which=0, mode='rw')``.

    Opens ``/dev/kbus<which>`` read-only (``mode='r'``) or read/write
    (``mode='rw'``), unbuffered.  Methods raise :class:`OSError` (with the
    kernel's errno) when KBUS reports an error.

    A Ksock can be used as a context manager (closing it on exit), iterated
    over (yielding the messages currently queued), and passed to
    ``select.select``/``select.poll`` (it has :meth:`fileno`).
    """

    IOC_MAGIC = abi.KBUS_IOC_MAGIC
    IOC_RESET = _IOCTLS["RESET"]
    IOC_BIND = _IOCTLS["BIND"]
    IOC_UNBIND = _IOCTLS["UNBIND"]
    IOC_KSOCKID = _IOCTLS["KSOCKID"]
    IOC_REPLIER = _IOCTLS["REPLIER"]
    IOC_NEXTMSG = _IOCTLS["NEXTMSG"]
    IOC_LENLEFT = _IOCTLS["LENLEFT"]
    IOC_SEND = _IOCTLS["SEND"]
    IOC_DISCARD = _IOCTLS["DISCARD"]
    IOC_LASTSENT = _IOCTLS["LASTSENT"]
    IOC_MAXMSGS = _IOCTLS["MAXMSGS"]
    IOC_NUMMSGS = _IOCTLS["NUMMSGS"]
    IOC_UNREPLIEDTO = _IOCTLS["UNREPLIEDTO"]
    IOC_MSGONLYONCE = _IOCTLS["MSGONLYONCE"]
    IOC_VERBOSE = _IOCTLS["VERBOSE"]
    IOC_NEWDEVICE = _IOCTLS["NEWDEVICE"]
    IOC_REPORTREPLIERBINDS = _IOCTLS["REPORTREPLIERBINDS"]
    IOC_MAXMSGSIZE = _IOCTLS["MAXMSGSIZE"]

    which: int
    name: str
    mode: str | None
    fd: io.FileIO | None

    def __init__(self, which: int = 0, mode: str = "rw") -> None:
        if mode == "r":
            file_mode = "rb"
            mode_text = "read"
        elif mode == "rw":
            file_mode = "r+b"
            mode_text = "read/write"
        else:
            raise ValueError(f"Ksock mode should be 'r' or 'rw', not '{mode}'")
        self.which = which
        self.name = f"/dev/kbus{which}"
        self.mode = None
        self.fd = None
        fd = open(self.name, file_mode, buffering=0)  # closed by close()
        assert isinstance(fd, io.FileIO)
        self.fd = fd
        self.mode = mode_text

    # -- plumbing --------------------------------------------------------------

    def _file(self) -> io.FileIO:
        if self.fd is None:
            raise ValueError(f"Ksock device {self.which} is closed")
        return self.fd

    def _ioctl(self, request: int, arg: Any = 0) -> int:
        """Call ioctl and return the kernel's return value.

        ``arg`` is either an int (commands without an argument) or a mutable
        buffer (array or ctypes structure) that the kernel may read and/or
        update in place.
        """
        result: int = fcntl.ioctl(self._file().fileno(), request, arg, True)
        return result

    def _ioctl_u32(self, request: int, value: int = 0) -> int:
        """ioctl with a u32 in/out argument; returns the value written back."""
        buf = _u32_buffer(value)
        self._ioctl(request, buf)
        return int(buf[0])

    def _flag_ioctl(self, request: int, value: bool, just_ask: bool) -> int:
        arg = abi.KBUS_IOC_QUERY if just_ask else (1 if value else 0)
        return self._ioctl_u32(request, arg)

    def _bind_ioctl(self, request: int, name: str | bytes, replier: bool) -> None:
        name_b = _encode_name(name)
        arg = BindStruct(1 if replier else 0, len(name_b), name_b)
        self._ioctl(request, arg)

    # -- ioctls ----------------------------------------------------------------

    def close(self) -> None:
        """Close the Ksock (which also removes all its bindings)."""
        fd = self.fd
        self.fd = None
        self.mode = None
        if fd is not None:
            fd.close()

    def bind(self, name: str | bytes, replier: bool = False) -> None:
        """Bind to a message name (or wildcard), as a listener or replier."""
        self._bind_ioctl(self.IOC_BIND, name, replier)

    def unbind(self, name: str | bytes, replier: bool = False) -> None:
        """Remove a binding; ``name`` and ``replier`` must match it."""
        self._bind_ioctl(self.IOC_UNBIND, name, replier)

    def ksock_id(self) -> int:
        """This Ksock's id (unique on its device)."""
        return self._ioctl_u32(self.IOC_KSOCKID)

    def next_msg(self) -> int:
        """Pop the next message to be read; return its length, 0 if none."""
        buf = _u32_buffer()
        popped = self._ioctl(self.IOC_NEXTMSG, buf)
        if popped == 0:
            return 0
        return int(buf[0])

    def len_left(self) -> int:
        """How many bytes of the message being read are still to be read."""
        return self._ioctl_u32(self.IOC_LENLEFT)

    def send(self) -> MessageId:
        """Send the message written so far; return its id."""
        msg_id = MessageId(0, 0)
        self._ioctl(self.IOC_SEND, msg_id)
        return msg_id

    def discard(self) -> None:
        """Throw away the message being written (and any pending send)."""
        self._ioctl(self.IOC_DISCARD, 0)

    def last_msg_id(self) -> MessageId:
        """The id of the last message this Ksock (attempted to) send."""
        msg_id = MessageId(0, 0)
        self._ioctl(self.IOC_LASTSENT, msg_id)
        return msg_id

    def find_replier(self, name: str | bytes) -> int | None:
        """The Ksock id of the replier bound to exactly ``name``, or None.

        No wildcard resolution is done: ``name`` must be the very string the
        replier bound to.  ``name`` may be a str (encoded as UTF-8) or bytes.
        """
        name_b = _encode_name(name)
        arg = ReplierStruct(0, len(name_b), name_b)
        found = self._ioctl(self.IOC_REPLIER, arg)
        if found == 0:
            return None
        return int(arg.return_id)

    def max_messages(self) -> int:
        """The maximum number of messages that may be queued for us."""
        return self._ioctl_u32(self.IOC_MAXMSGS, abi.KBUS_IOC_MAXMSGS_QUERY)

    def set_max_messages(self, count: int) -> int:
        """Set the queue limit (0 just asks); return the limit in force."""
        return self._ioctl_u32(self.IOC_MAXMSGS, count)

    def num_messages(self) -> int:
        """How many messages are queued for us."""
        return self._ioctl_u32(self.IOC_NUMMSGS)

    def num_unreplied_to(self) -> int:
        """How many requests we have read and still owe a reply to."""
        return self._ioctl_u32(self.IOC_UNREPLIEDTO)

    def want_messages_once(self, only_once: bool = False, just_ask: bool = False) -> int:
        """Receive each message only once (or not); return the previous state."""
        return self._flag_ioctl(self.IOC_MSGONLYONCE, only_once, just_ask)

    def kernel_module_verbose(self, verbose: bool = True, just_ask: bool = False) -> int:
        """Turn the device's kernel-log tracing on/off; return the previous state."""
        return self._flag_ioctl(self.IOC_VERBOSE, verbose, just_ask)

    def new_device(self) -> int:
        """Ask KBUS for a new device; return its number."""
        return self._ioctl_u32(self.IOC_NEWDEVICE)

    def report_replier_binds(self, report_events: bool = True, just_ask: bool = False) -> int:
        """Turn replier bind events on/off (device-wide); return the previous state.

        Turning them on also queues, on this Ksock, a bind event for every
        replier binding that already exists.
        """
        return self._flag_ioctl(self.IOC_REPORTREPLIERBINDS, report_events, just_ask)

    def max_message_size(self) -> int:
        """The device's maximum message size (entire message length)."""
        return self._ioctl_u32(self.IOC_MAXMSGSIZE, abi.KBUS_IOC_MAXMSGSIZE_QUERY)

    def set_max_message_size(self, count: int) -> int:
        """Set the device's maximum message size (0 queries, 1 asks for the
        absolute maximum); return the result."""
        return self._ioctl_u32(self.IOC_MAXMSGSIZE, count)

    # -- reading and writing -----------------------------------------------------

    def _write_all(self, data: bytes) -> int:
        fd = self._file()
        view = memoryview(data)
        written = 0
        while written < len(data):
            count = fd.write(view[written:])
            if count is None:
                # FileIO reports EAGAIN as None; KBUS returns it when a
                # write is interrupted while waiting for the device lock.
                raise BlockingIOError(errno.EAGAIN, "write to KBUS interrupted (EAGAIN)")
            if count == 0:  # pragma: no cover - KBUS always consumes everything
                raise OSError(errno.EIO, "KBUS write accepted no bytes")
            written += count
        fd.flush()
        return written

    def write_msg(self, message: Message) -> None:
        """Write a message (without sending it).

        A pointy message (one constructed from its parts) is written as its
        header alone, whose pointers refer to buffers that ``message`` keeps
        alive; an entire message (one constructed from bytes) is written as
        exactly :meth:`Message.total_length` bytes.
        """
        self._write_all(message._bytes_to_write())

    def send_msg(self, message: Message) -> MessageId:
        """Write a message and send it; return its id."""
        self.write_msg(message)
        return self.send()

    def write_data(self, data: bytes) -> int:
        """Write raw bytes (part of a message); return how many were written."""
        return self._write_all(bytes(data))

    def _read_some(self, count: int) -> bytes:
        fd = self._file()
        for _ in range(_READ_RETRIES):
            chunk = fd.read(count)
            if chunk is not None:
                return chunk
        raise BlockingIOError(errno.EAGAIN, "read from KBUS interrupted (EAGAIN)")

    def read_data(self, count: int) -> bytes:
        """Read up to ``count`` bytes of the current message (b'' at its end)."""
        return self._read_some(count)

    def read_msg(self, length: int) -> Message | None:
        """Read ``length`` bytes (the current message) as a Message.

        Returns None if nothing could be read.
        """
        parts: list[bytes] = []
        got = 0
        while got < length:
            chunk = self._read_some(length - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        if got == 0:
            return None
        return Message.from_bytes(b"".join(parts))

    def read_next_msg(self) -> Message | None:
        """Pop and read the next message; None if there is none."""
        length = self.next_msg()
        if length == 0:
            return None
        return self.read_msg(length)

    def wait_for_msg(self, timeout: float | None = None) -> Message | None:
        """Wait until a message arrives (forever if ``timeout`` is None, else
        for at most ``timeout`` seconds), then read it.  None on timeout."""
        readable, _, _ = select.select([self], [], [], timeout)
        if not readable:
            return None
        return self.read_next_msg()

    def fileno(self) -> int:
        """The file descriptor (for ``select``, ``poll``, ...)."""
        return self._file().fileno()

    # -- protocols --------------------------------------------------------------

    def __enter__(self) -> Ksock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __iter__(self) -> Ksock:
        return self

    def __next__(self) -> Message:
        message = self.read_next_msg()
        if message is None:
            raise StopIteration
        return message

    def __str__(self) -> str:
        if self.fd is None:
            return f"Ksock device {self.which} (closed)"
        return f"Ksock device {self.which}, id {self.ksock_id()}, mode {self.mode}"

    def __repr__(self) -> str:
        if self.fd is None:
            return f"<Ksock {self.name} closed>"
        return f"<Ksock {self.name} open for {self.mode}>"


def read_bindings(
    names: Mapping[int, Any] | None = None, path: str = _PROC_BINDINGS
) -> list[tuple[Any, bool, str]]:
    """Read the current bindings from ``/proc/kbus/bindings``.

    Returns a list of ``(who, is_replier, name)`` tuples, where ``who`` is
    ``names[ksock_id]`` if the Ksock id is a key of ``names``, and otherwise
    the Ksock id itself.  Bindings of every device are included.  ``path``
    allows reading another file with the same format.
    """
    if names is None:
        names = {}
    result: list[tuple[Any, bool, str]] = []
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split()
            if len(fields) != 5:
                raise ValueError(f"Cannot parse KBUS bindings line {line!r}")
            _device, ksock_id_text, _pid, kind, name = fields
            ksock_id = int(ksock_id_text)
            if kind == "R":
                is_replier = True
            elif kind == "L":
                is_replier = False
            else:
                raise ValueError(f"Unexpected replier/listener flag '{kind}' in line {line!r}")
            who = names.get(ksock_id, ksock_id)
            result.append((who, is_replier, name))
    return result
