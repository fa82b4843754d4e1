# SPDX-License-Identifier: MIT
"""The KBUS Ksock for MicroPython: one open file on ``/dev/kbus<N>``.

MicroPython's unix port has no ``fcntl`` and no ``os.read``/``os.write``, so
``open``, ``read``, ``write``, ``ioctl`` and ``close`` are libc's, called
through the ``ffi`` module; structure arguments are packed with ``struct``
and ``uctypes.addressof``.  Kernel errors surface as :class:`OSError` with the
kernel's errno, as in the CPython package.
"""

import errno
import os
import select
import struct

import ffi
import uctypes

from kbus import common as _common
from kbus.messages import _ORDER, POINTER_SIZE, Message, MessageId

_READ_RETRIES = 100
_PROC_BINDINGS = "/proc/kbus/bindings"
_O_RDONLY = 0
_O_RDWR = 2
_O_CLOEXEC = 0o2000000


def _open_libc():
    for name in ("libc.so.6", "libc.so", "libc.so.0"):
        try:
            return ffi.open(name)
        except OSError:
            pass
    raise OSError(errno.ENOENT, "kbus: cannot open the C library for ffi")


_libc = _open_libc()
_c_open = _libc.func("i", "open", "si")
_c_close = _libc.func("i", "close", "i")
_c_read = _libc.func("l", "read", "ipL")
_c_write = _libc.func("l", "write", "iPL")
_c_ioctl = _libc.func("i", "ioctl", "iLp")
_c_ioctl_int = _libc.func("i", "ioctl", "iLL")


def _ioctl_numbers():
    """The KBUS ioctl numbers: the generic Linux ``_IOC`` layout (x86, ARM,
    arm64, RISC-V, ...), ``sizeof(char *)`` as every argument's size."""
    magic = ord(_common.KBUS_IOC_MAGIC)
    dirs = {"": 0, "w": 1, "r": 2, "rw": 3}
    numbers = {}
    for name, nr, direction in _common.KBUS_IOCTL_TABLE:
        size = POINTER_SIZE if direction else 0
        numbers[name] = (dirs[direction] << 30) | (size << 16) | (magic << 8) | nr
    return numbers


_IOCTLS = _ioctl_numbers()
# struct kbus_bind_request / kbus_bind_query: u32, u32, char *
_NAME_ARG_FORMAT = _ORDER + "IIP"
_U32 = _ORDER + "I"
_ID_FORMAT = _ORDER + "II"


def _raise_errno(what):
    code = os.errno()
    raise OSError(code, f"{what}: errno {code}")


def _encode_name(name):
    if isinstance(name, str):
        return name.encode("utf-8")
    if isinstance(name, (bytes, bytearray)):
        return bytes(name)
    raise TypeError("a message name must be a str or bytes")


class Ksock:
    """A connection to a KBUS device: ``Ksock(which=0, mode='rw')``."""

    IOC_MAGIC = _common.KBUS_IOC_MAGIC

    def __init__(self, which=0, mode="rw"):
        if mode == "r":
            flags, mode_text = _O_RDONLY, "read"
        elif mode == "rw":
            flags, mode_text = _O_RDWR, "read/write"
        else:
            raise ValueError(f"Ksock mode should be 'r' or 'rw', not '{mode}'")
        self.which = which
        self.name = f"/dev/kbus{which}"
        self.mode = None
        self.fd = None
        self._poller = None
        fd = _c_open(self.name, flags | _O_CLOEXEC)
        if fd < 0:
            _raise_errno("open " + self.name)
        self.fd = fd
        self.mode = mode_text

    # -- plumbing --------------------------------------------------------------

    def _fileno(self):
        if self.fd is None:
            raise ValueError(f"Ksock device {self.which} is closed")
        return self.fd

    def _ioctl(self, name, arg=0):
        """ioctl with a buffer (bytearray, updated in place) or an int."""
        request = _IOCTLS[name]
        if isinstance(arg, int):
            result = _c_ioctl_int(self._fileno(), request, arg)
        else:
            result = _c_ioctl(self._fileno(), request, arg)
        if result < 0:
            _raise_errno("KBUS ioctl " + name)
        return result

    def _ioctl_u32(self, name, value=0):
        buf = bytearray(struct.pack(_U32, value & 0xFFFFFFFF))
        self._ioctl(name, buf)
        return struct.unpack(_U32, buf)[0]

    def _flag_ioctl(self, name, value, just_ask):
        return self._ioctl_u32(name, _common.KBUS_IOC_QUERY if just_ask else (1 if value else 0))

    def _name_ioctl(self, name, first, msg_name):
        name_b = bytearray(_encode_name(msg_name) + b"\0")  # kept alive until the call returns
        arg = bytearray(
            struct.pack(_NAME_ARG_FORMAT, first, len(name_b) - 1, uctypes.addressof(name_b))
        )
        result = self._ioctl(name, arg)
        return result, struct.unpack(_U32, arg)[0]

    def _id_ioctl(self, name):
        buf = bytearray(8)
        self._ioctl(name, buf)
        return MessageId(*struct.unpack(_ID_FORMAT, buf))

    # -- ioctls ----------------------------------------------------------------

    def close(self):
        """Close the Ksock (which also removes all its bindings)."""
        fd = self.fd
        self.fd = None
        self.mode = None
        self._poller = None
        if fd is not None:
            _c_close(fd)

    def bind(self, name, replier=False):
        """Bind to a message name (or wildcard), as a listener or replier."""
        self._name_ioctl("BIND", 1 if replier else 0, name)

    def unbind(self, name, replier=False):
        """Remove a binding; ``name`` and ``replier`` must match it."""
        self._name_ioctl("UNBIND", 1 if replier else 0, name)

    def ksock_id(self):
        return self._ioctl_u32("KSOCKID")

    def next_msg(self):
        """Pop the next message to be read; return its length, 0 if none."""
        buf = bytearray(4)
        if self._ioctl("NEXTMSG", buf) == 0:
            return 0
        return struct.unpack(_U32, buf)[0]

    def len_left(self):
        return self._ioctl_u32("LENLEFT")

    def send(self):
        """Send the message written so far; return its id."""
        return self._id_ioctl("SEND")

    def discard(self):
        self._ioctl("DISCARD", 0)

    def last_msg_id(self):
        return self._id_ioctl("LASTSENT")

    def find_replier(self, name):
        """The Ksock id of the replier bound to exactly ``name``, or None."""
        found, return_id = self._name_ioctl("REPLIER", 0, name)
        return return_id if found else None

    def max_messages(self):
        return self._ioctl_u32("MAXMSGS", _common.KBUS_IOC_MAXMSGS_QUERY)

    def set_max_messages(self, count):
        return self._ioctl_u32("MAXMSGS", count)

    def num_messages(self):
        return self._ioctl_u32("NUMMSGS")

    def num_unreplied_to(self):
        return self._ioctl_u32("UNREPLIEDTO")

    def want_messages_once(self, only_once=False, just_ask=False):
        return self._flag_ioctl("MSGONLYONCE", only_once, just_ask)

    def kernel_module_verbose(self, verbose=True, just_ask=False):
        return self._flag_ioctl("VERBOSE", verbose, just_ask)

    def new_device(self):
        return self._ioctl_u32("NEWDEVICE")

    def report_replier_binds(self, report_events=True, just_ask=False):
        return self._flag_ioctl("REPORTREPLIERBINDS", report_events, just_ask)

    def max_message_size(self):
        return self._ioctl_u32("MAXMSGSIZE", _common.KBUS_IOC_MAXMSGSIZE_QUERY)

    def set_max_message_size(self, count):
        return self._ioctl_u32("MAXMSGSIZE", count)

    # -- reading and writing -----------------------------------------------------

    def write_data(self, data):
        """Write raw bytes (part of a message); return how many were written."""
        data = bytes(data)
        written = 0
        while written < len(data):
            chunk = data[written:] if written else data
            count = _c_write(self._fileno(), chunk, len(chunk))
            if count < 0:
                if os.errno() == errno.EAGAIN:
                    raise OSError(errno.EAGAIN, "write to KBUS interrupted (EAGAIN)")
                _raise_errno("write to KBUS")
            if count == 0:
                raise OSError(errno.EIO, "KBUS write accepted no bytes")
            written += count
        return written

    def write_msg(self, message):
        """Write a message (its entire form) without sending it."""
        self.write_data(message.to_bytes())

    def send_msg(self, message):
        """Write a message and send it; return its id."""
        self.write_msg(message)
        return self.send()

    def read_data(self, count):
        """Read up to ``count`` bytes of the current message (b'' at its end)."""
        buf = bytearray(count)
        for _ in range(_READ_RETRIES):
            got = _c_read(self._fileno(), buf, count)
            if got >= 0:
                return bytes(buf[:got]) if got < count else bytes(buf)
            if os.errno() != errno.EAGAIN:
                _raise_errno("read from KBUS")
        raise OSError(errno.EAGAIN, "read from KBUS interrupted (EAGAIN)")

    def read_msg(self, length):
        """Read ``length`` bytes (the current message) as a Message, or None."""
        data = b""
        while len(data) < length:
            chunk = self.read_data(length - len(data))
            if not chunk:
                break
            data += chunk
        if not data:
            return None
        return Message.from_bytes(data)

    def read_next_msg(self):
        """Pop and read the next message; None if there is none."""
        length = self.next_msg()
        if length == 0:
            return None
        return self.read_msg(length)

    def wait_for_msg(self, timeout=None):
        """Wait until a message arrives (forever if ``timeout`` is None, else
        at most ``timeout`` seconds), then read it.  None on timeout."""
        if self._poller is None:
            self._poller = select.poll()
            self._poller.register(self._fileno(), select.POLLIN)
        ms = -1 if timeout is None else int(timeout * 1000)
        if not self._poller.poll(ms):
            return None
        return self.read_next_msg()

    def fileno(self):
        """The file descriptor, for ``select.poll().register(fd, ...)``."""
        return self._fileno()

    # -- protocols --------------------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc_value, traceback):
        self.close()

    def __iter__(self):
        return self

    def __next__(self):
        message = self.read_next_msg()
        if message is None:
            raise StopIteration
        return message

    def __str__(self):
        if self.fd is None:
            return f"Ksock device {self.which} (closed)"
        return f"Ksock device {self.which}, id {self.ksock_id()}, mode {self.mode}"

    def __repr__(self):
        if self.fd is None:
            return f"<Ksock {self.name} closed>"
        return f"<Ksock {self.name} open for {self.mode}>"


def read_bindings(names=None, path=_PROC_BINDINGS):
    """The current bindings from ``/proc/kbus/bindings``: a list of
    ``(who, is_replier, name)``, ``who`` being ``names[ksock_id]`` if
    present, else the Ksock id."""
    if names is None:
        names = {}
    result = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.split()
            if len(fields) != 5:
                raise ValueError(f"Cannot parse KBUS bindings line {line!r}")
            ksock_id = int(fields[1])
            if fields[3] not in ("R", "L"):
                raise ValueError(f"Unexpected replier/listener flag in line {line!r}")
            result.append((names.get(ksock_id, ksock_id), fields[3] == "R", fields[4]))
    return result
