# SPDX-License-Identifier: MIT
"""The KBUS Ksock: one open file on a KBUS device (``/dev/kbus<N>``).

Every kernel error surfaces as an :class:`OSError` whose ``errno`` is the
kernel's error number.  What the binding does about the kernel's answers:

* ioctls interrupted by a signal (``EINTR``) are repeated (CPython's
  ``fcntl.ioctl`` does not); reads and writes that KBUS reports as
  interrupted before it took any byte (``EAGAIN`` while waiting for the
  device lock) are repeated too, up to a hundred times;
* when SEND returns ``EAGAIN`` (an ``ALL_OR_WAIT`` message that a full queue
  holds up, specification §8.4) the send stays pending in KBUS: the
  :class:`BlockingIOError` raised carries the message's id as ``msg_id``, and
  :meth:`Ksock.complete_send` waits (polling for writability, which retries
  the delivery) until KBUS has resolved it;
* :meth:`Ksock.wait_for_msg` polls (``poll``, so any fd number works) until
  a message has actually been read or the timeout has passed;
* a lock makes write + SEND (``send_msg``) and NEXTMSG + read
  (``read_next_msg``) indivisible for threads sharing a Ksock.

Beyond the original binding, for this implementation's additions:
:meth:`Ksock.sender_creds` (who sent the message last read: MSGCREDS),
:meth:`Ksock.num_filtered` (messages the access policy withheld: FILTERED)
and :meth:`Ksock.read_msgs` (several whole messages per ``read``: BATCHREAD).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import os
import select
import struct
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any, NamedTuple

from kbus import abi
from kbus._native import MessageId
from kbus.core import Message, _message_from_entire, _split_batch

__all__ = ["Ksock", "BindStruct", "ReplierStruct", "SendResultStruct", "read_bindings"]

_IOCTLS = abi.KBUS_IOCTLS
_IOC_NEXTMSG = _IOCTLS["NEXTMSG"]
_IOC_SEND = _IOCTLS["SEND"]

#: How often a read or write that KBUS interrupted (EAGAIN while waiting for
#: the device lock, nothing transferred) is retried before giving up.
_READ_RETRIES = 100

#: The default location of the bindings report.
_PROC_BINDINGS = "/proc/kbus/bindings"

# C unsigned int: 4 bytes, native order, on every Linux ABI
_U32 = struct.Struct("=I")
_CREDS = struct.Struct(abi.KBUS_MSG_CREDS_FORMAT)

#: The buffer :meth:`Ksock.read_msgs` reads into by default (bytes).
BATCH_READ_SIZE = 65536


class SenderCreds(NamedTuple):
    """Who sent a message (``struct kbus_msg_creds``, :meth:`Ksock.sender_creds`):
    the sender's effective uid and gid and its process id as they were at
    its SEND, in the reader's namespaces (pid 0: not visible there)."""

    uid: int
    gid: int
    pid: int
    flags: int

    @property
    def synthetic(self) -> bool:
        """KBUS made the message itself (a status, a bind event): no sender;
        uid and gid are then 0xFFFFFFFF and pid 0."""
        return bool(self.flags & abi.KBUS_CREDS_SYNTHETIC)


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


def _encode_name(name: str | bytes) -> bytes:
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, (bytes, bytearray)):
        return bytes(name)
    raise TypeError(f"a message name must be a str or bytes, not {type(name).__name__}")


def _poll_ms(deadline: float | None) -> float | None:
    """The poll timeout (ms) left until ``deadline`` (monotonic), None for ever."""
    if deadline is None:
        return None
    return max(0.0, (deadline - time.monotonic()) * 1000.0)


class Ksock:
    """A connection to a KBUS device: ``Ksock(which=0, mode='rw')``.

    Opens ``/dev/kbus<which>`` read-only (``mode='r'``) or read/write
    (``mode='rw'``), unbuffered.  Methods raise :class:`OSError` (with the
    kernel's errno) when KBUS reports an error.

    A Ksock can be used as a context manager (closing it on exit), iterated
    over (yielding the messages currently queued), and passed to
    ``select.select``/``select.poll`` (it has :meth:`fileno`).  Threads may
    share a Ksock: each method is one indivisible step on it.
    """

    IOC_MAGIC = abi.KBUS_IOC_MAGIC
    IOC_RESET = _IOCTLS["RESET"]
    IOC_BIND = _IOCTLS["BIND"]
    IOC_UNBIND = _IOCTLS["UNBIND"]
    IOC_KSOCKID = _IOCTLS["KSOCKID"]
    IOC_REPLIER = _IOCTLS["REPLIER"]
    IOC_NEXTMSG = _IOC_NEXTMSG
    IOC_LENLEFT = _IOCTLS["LENLEFT"]
    IOC_SEND = _IOC_SEND
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
    IOC_MSGCREDS = abi.KBUS_EXTRA_IOCTLS["MSGCREDS"]
    IOC_FILTERED = abi.KBUS_EXTRA_IOCTLS["FILTERED"]
    IOC_BATCHREAD = abi.KBUS_EXTRA_IOCTLS["BATCHREAD"]

    which: int
    name: str
    mode: str | None = None
    fd: io.FileIO | None = None
    _fileno = -1
    _pending_id: MessageId | None = None
    _batch_on = False

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
        fd = open(self.name, file_mode, buffering=0)  # closed by close()
        assert isinstance(fd, io.FileIO)
        self._attach(fd, mode_text)

    def _attach(self, fd: io.FileIO, mode_text: str) -> None:
        """Make this Ksock use the open file ``fd``."""
        # re-entrant: close() may come from a signal handler mid-operation
        self._lock = threading.RLock()
        self._pollers: list[select.poll] = []
        self.fd = fd
        self._fileno = fd.fileno()
        self.mode = mode_text

    # -- plumbing --------------------------------------------------------------

    def _fd(self) -> int:
        fd = self._fileno
        if fd < 0:
            raise ValueError(f"Ksock device {self.which} is closed")
        return fd

    def _ioctl(self, request: int, arg: Any = 0) -> int:
        """Call ioctl and return the kernel's return value.

        ``arg`` is either an int (commands without an argument) or a mutable
        buffer (bytearray or ctypes structure) that the kernel may read
        and/or update in place.  A call interrupted by a signal (EINTR) is
        made again.
        """
        fd = self._fd()
        while True:
            try:
                result: int = fcntl.ioctl(fd, request, arg, True)
                return result
            except InterruptedError:
                continue

    def _ioctl_u32(self, request: int, value: int = 0) -> int:
        """ioctl with a u32 in/out argument; returns the value written back."""
        buf = bytearray(_U32.pack(value & 0xFFFFFFFF))
        self._ioctl(request, buf)
        return int(_U32.unpack(buf)[0])

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
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.acquire()
        try:
            fd = self.fd
            self.fd = None
            self.mode = None
            self._fileno = -1
            self._pollers = []
            if fd is not None:
                fd.close()
        finally:
            if lock is not None:
                lock.release()

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
        with self._lock:
            return self._next_msg()

    def _next_msg(self) -> int:
        fd = self._fileno
        if fd < 0:
            raise ValueError(f"Ksock device {self.which} is closed")
        buf = bytearray(4)
        while True:
            try:
                popped = fcntl.ioctl(fd, _IOC_NEXTMSG, buf, True)
                break
            except InterruptedError:
                continue
        if not popped:
            return 0
        return int(_U32.unpack(buf)[0])

    def len_left(self) -> int:
        """How many bytes of the message being read are still to be read."""
        return self._ioctl_u32(self.IOC_LENLEFT)

    def send(self) -> MessageId:
        """Send the message written so far; return its id.

        If KBUS answers ``EAGAIN`` (``ALL_OR_WAIT`` and a recipient's queue
        is full) the send is pending: the :class:`BlockingIOError` raised
        has the message's id in ``msg_id``; :meth:`complete_send` waits for
        KBUS to resolve it, :meth:`discard` drops it.
        """
        with self._lock:
            return self._send()

    def _send(self) -> MessageId:
        fd = self._fileno
        if fd < 0:
            raise ValueError(f"Ksock device {self.which} is closed")
        msg_id = MessageId()
        try:
            while True:
                try:
                    fcntl.ioctl(fd, _IOC_SEND, msg_id, True)
                    break
                except InterruptedError:
                    continue
        except BlockingIOError as exc:
            # KBUS wrote the id of the (pending) message before EAGAIN
            exc.msg_id = msg_id  # type: ignore[attr-defined]
            self._pending_id = msg_id
            raise
        return msg_id

    def discard(self) -> None:
        """Throw away the message being written (and any pending send)."""
        with self._lock:
            self._ioctl(self.IOC_DISCARD, 0)
            self._pending_id = None

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

    def sender_creds(self) -> SenderCreds:
        """Who sent the message this Ksock last read (MSGCREDS; not in the
        original KBUS): after :meth:`read_next_msg` (or :meth:`next_msg`),
        until the next message is popped; after :meth:`read_msgs`, the
        sender of the last message returned.  The credentials are the
        sender's as they were at its SEND, recorded by the kernel: nothing
        a client writes can change them.  A message KBUS made itself has
        ``synthetic`` set.  ``OSError(ENOMSG)`` if no message has been read.
        """
        buf = bytearray(_CREDS.size)
        self._ioctl(self.IOC_MSGCREDS, buf)
        uid, gid, pid, flags = _CREDS.unpack(buf)
        return SenderCreds(uid, gid, pid, flags)

    def num_filtered(self) -> int:
        """How many messages the device's access policy has withheld from
        this Ksock as a listener (FILTERED; docs/policy.md)."""
        buf = bytearray(4)
        self._ioctl(self.IOC_FILTERED, buf)
        return int(_U32.unpack(buf)[0])

    def batch_read(self, on: bool = True, just_ask: bool = False) -> int:
        """Switch batch reading (BATCHREAD; not in the original KBUS) on or
        off; return the previous state (1 or 0).  :meth:`read_msgs` switches
        it on by itself; NEXTMSG and :meth:`read_next_msg` work either way."""
        with self._lock:
            previous = self._flag_ioctl(self.IOC_BATCHREAD, on, just_ask)
            if not just_ask:
                self._batch_on = on
            return previous

    def read_msgs(self, size: int = BATCH_READ_SIZE) -> list[Message]:
        """Pop and read as many whole queued messages as fit in ``size``
        bytes, with one ``read`` (BATCHREAD, switched on for this Ksock the
        first time); ``[]`` if none is queued.  A message too big for
        ``size`` is read alone, as :meth:`read_next_msg` would.  A read that
        fails consumes nothing.  :meth:`sender_creds` then tells who sent the
        last one."""
        with self._lock:
            fd = self._fd()
            if not self._batch_on:
                self._flag_ioctl(self.IOC_BATCHREAD, True, False)
                self._batch_on = True
            for _ in range(_READ_RETRIES):
                try:
                    data = os.read(fd, size)
                    break
                except BlockingIOError:
                    # KBUS was interrupted while waiting for the device lock
                    continue
                except OSError as exc:
                    if exc.errno != errno.EMSGSIZE:
                        raise
                    # the next message does not fit: it stays queued
                    msg = self._recv()
                    return [] if msg is None else [msg]
            else:
                raise BlockingIOError(errno.EAGAIN, "read from KBUS interrupted (EAGAIN)")
            return _split_batch(data) if data else []

    def wait_for_msgs(
        self, timeout: float | None = None, size: int = BATCH_READ_SIZE
    ) -> list[Message]:
        """:meth:`wait_for_msg` for :meth:`read_msgs`: wait until messages
        are queued (for ever if ``timeout`` is None), then read as many as
        fit in ``size`` bytes; ``[]`` on timeout."""
        fd = self._fd()  # closed: ValueError
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        while True:
            if poller.poll(None if deadline is None else _poll_ms(deadline)):
                msgs = self.read_msgs(size)
                if msgs:
                    return msgs
            if deadline is not None and time.monotonic() >= deadline:
                return []

    # -- reading and writing -----------------------------------------------------

    def _write(self, data: bytes | bytearray) -> int:
        """Write all of ``data``; EAGAIN (interrupted, nothing taken) retried."""
        fd = self._fd()
        length = len(data)
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            return self._write_rest(fd, data, 0, 1)
        if written == length:
            return written
        return self._write_rest(fd, data, written, 0)

    def _write_rest(self, fd: int, data: bytes | bytearray, written: int, retries: int) -> int:
        length = len(data)
        while True:
            try:
                count = os.write(fd, data if not written else memoryview(data)[written:])
            except BlockingIOError:
                # KBUS was interrupted while waiting for the device lock
                retries += 1
                if retries >= _READ_RETRIES:
                    raise
                continue
            written += count
            if written >= length:
                return written
            if count == 0:  # pragma: no cover - KBUS always consumes everything
                raise OSError(errno.EIO, "KBUS write accepted no bytes")

    def write_msg(self, message: Message) -> None:
        """Write a message (without sending it): its entire form, exactly
        :meth:`Message.total_length` bytes."""
        with self._lock:
            self._write(message._b)

    def send_msg(self, message: Message) -> MessageId:
        """Write a message and send it; return its id.

        For an ``ALL_OR_WAIT`` message, see :meth:`send` (``EAGAIN``) and
        :meth:`send_msg_and_wait`.
        """
        with self._lock:
            fd = self._fd()
            data = message._b
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                written = self._write_rest(fd, data, 0, 1)
            if written != len(data):
                self._write_rest(fd, data, written, 0)
            return self._send()

    def complete_send(self, timeout: float | None = None) -> MessageId:
        """Wait until KBUS has resolved a pending send, then return its id.

        A send is pending after SEND answered ``EAGAIN`` (an ``ALL_OR_WAIT``
        message that a full queue holds up).  Polling the Ksock for
        writability makes KBUS retry the delivery; the Ksock is writable
        once the message has gone - delivered, or dropped if the retry
        failed otherwise (for a Request, KBUS then queues a
        ``$.KBUS.ErrorSending`` or ``$.KBUS.Replier.Disappeared`` status for
        us).  Returns at once if nothing is pending.  Raises
        :class:`TimeoutError` if the send is still pending after ``timeout``
        seconds (it stays pending: call again, or :meth:`discard`).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        poller = select.poll()
        poller.register(self._fd(), select.POLLOUT)
        while not poller.poll(_poll_ms(deadline)):
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(errno.ETIMEDOUT, "KBUS send still pending (ALL_OR_WAIT)")
        pending = self._pending_id
        self._pending_id = None
        return pending if pending is not None else self.last_msg_id()

    def send_msg_and_wait(self, message: Message, timeout: float | None = None) -> MessageId:
        """:meth:`send_msg`, and if the send is held up (``ALL_OR_WAIT``
        and a full queue), :meth:`complete_send`.  If it is still pending
        after ``timeout`` seconds it is discarded and :class:`TimeoutError`
        raised."""
        try:
            return self.send_msg(message)
        except BlockingIOError:
            pass
        try:
            return self.complete_send(timeout)
        except TimeoutError:
            self.discard()
            raise

    def write_data(self, data: bytes) -> int:
        """Write raw bytes (part of a message); return how many were written."""
        with self._lock:
            return self._write(bytes(data))

    def _read(self, count: int) -> bytes:
        fd = self._fd()
        for _ in range(_READ_RETRIES):
            try:
                return os.read(fd, count)
            except BlockingIOError:
                # KBUS was interrupted while waiting for the device lock
                continue
        raise BlockingIOError(errno.EAGAIN, "read from KBUS interrupted (EAGAIN)")

    def read_data(self, count: int) -> bytes:
        """Read up to ``count`` bytes of the current message (b'' at its end)."""
        with self._lock:
            return self._read(count)

    def _read_msg(self, length: int) -> Message | None:
        try:
            data = os.read(self._fd(), length)
        except BlockingIOError:
            data = self._read(length)
        if len(data) == length:
            return _message_from_entire(Message, data)
        return self._read_rest(data, length)

    def _read_rest(self, data: bytes, length: int) -> Message | None:
        """The rest of a message whose first read got ``data`` (short, or
        interrupted: b"")."""
        got = len(data)
        if not got:
            data = self._read(length)
            got = len(data)
        if got and got < length:
            parts = [data]
            while got < length:
                chunk = self._read(length - got)
                if not chunk:
                    break
                parts.append(chunk)
                got += len(chunk)
            data = b"".join(parts)
        if not data:
            return None
        return _message_from_entire(Message, data)

    def read_msg(self, length: int) -> Message | None:
        """Read ``length`` bytes (the current message) as a Message.

        Returns None if nothing could be read.
        """
        with self._lock:
            return self._read_msg(length)

    def _recv(self) -> Message | None:
        """NEXTMSG, read and parse: the next message or None (the caller
        holds the lock).  The round trip's hot path, in one function."""
        fd = self._fileno
        if fd < 0:
            raise ValueError(f"Ksock device {self.which} is closed")
        buf = bytearray(4)
        while True:
            try:
                if not fcntl.ioctl(fd, _IOC_NEXTMSG, buf, True):
                    return None
                break
            except InterruptedError:
                continue
        length = _U32.unpack(buf)[0]
        try:
            data = os.read(fd, length)
        except BlockingIOError:
            data = b""
        if len(data) == length:
            return _message_from_entire(Message, data)
        return self._read_rest(data, length)

    def read_next_msg(self) -> Message | None:
        """Pop and read the next message; None if there is none."""
        with self._lock:
            return self._recv()

    def wait_for_msg(self, timeout: float | None = None) -> Message | None:
        """Wait until a message arrives (forever if ``timeout`` is None, else
        for at most ``timeout`` seconds), then read it.  None on timeout.

        Polls, and reads when the Ksock is readable, until a message has
        been read: another thread reading the message first does not end
        the wait early."""
        fd = self._fd()  # closed: ValueError
        deadline = None if timeout is None else time.monotonic() + timeout
        pollers = self._pollers
        try:
            poller = pollers.pop()
        except IndexError:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
        try:
            while True:
                if poller.poll(None if deadline is None else _poll_ms(deadline)):
                    with self._lock:
                        msg = self._recv()
                    if msg is not None:
                        return msg
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        finally:
            pollers.append(poller)

    def fileno(self) -> int:
        """The file descriptor (for ``select``, ``poll``, ...)."""
        return self._fd()

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
