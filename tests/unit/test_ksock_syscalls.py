# SPDX-License-Identifier: MIT
"""Host unit tests of what the CPython Ksock does about the kernel's answers
(issue 15, item 3): EINTR in ioctls, KBUS's "interrupted, nothing consumed"
EAGAIN on read and write, the id of a send held up by ALL_OR_WAIT, the
helpers that complete such a send, wait_for_msg's deadline loop, the lock
that keeps threads sharing a Ksock from interleaving, and ``__all__``.

The kernel is faked: ``fcntl.ioctl`` and ``os.read``/``os.write`` of
:mod:`kbus.ksock` are replaced, the "device" is a temporary file or a
socket.  The same behaviour against the real module is tested in the guest
(tests/guest/test_python_api.py).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kbus
import kbus.ksock
from kbus import Ksock, Message, MessageId, Request

Handler = Callable[[Any], int]


class FakeKernel:
    """Stands in for fcntl.ioctl: handlers by request, calls recorded."""

    def __init__(self) -> None:
        self.calls: list[int] = []
        self.handlers: dict[int, Handler] = {}

    def __call__(self, fd: int, request: int, arg: Any = 0, mutate: bool = True) -> int:
        self.calls.append(request)
        view = None
        if not isinstance(arg, int):
            view = (ctypes.c_ubyte * memoryview(arg).nbytes).from_buffer(arg)
        return self.handlers[request](view)


def _ksock_on(fd: io.FileIO) -> Ksock:
    ksock = Ksock.__new__(Ksock)
    ksock.which = 0
    ksock.name = "/dev/kbus0"
    ksock._attach(fd, "read/write")
    return ksock


@pytest.fixture()
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = FakeKernel()
    monkeypatch.setattr(fcntl, "ioctl", fake)
    return fake


@pytest.fixture()
def ksock(tmp_path: Path, kernel: FakeKernel) -> Iterator[Ksock]:
    device = tmp_path / "kbus0"
    device.write_bytes(b"")
    fd = open(device, "r+b", buffering=0)
    assert isinstance(fd, io.FileIO)
    k = _ksock_on(fd)
    yield k
    k.close()


def _u32_out(value: int, retval: int = 0) -> Handler:
    def handler(view: Any) -> int:
        struct.pack_into("=I", view, 0, value)
        return retval

    return handler


def _interrupted(times: int, then: Handler) -> Handler:
    """A handler that fails with EINTR ``times`` times, then runs ``then``."""
    left = [times]

    def handler(view: Any) -> int:
        if left[0]:
            left[0] -= 1
            raise InterruptedError(errno.EINTR, os.strerror(errno.EINTR))
        return then(view)

    return handler


# ---------------------------------------------------------------------------
# EINTR and EAGAIN


def test_ioctl_interrupted_by_a_signal_is_repeated(ksock: Ksock, kernel: FakeKernel) -> None:
    kernel.handlers[Ksock.IOC_KSOCKID] = _interrupted(3, _u32_out(7))
    assert ksock.ksock_id() == 7
    assert kernel.calls == [Ksock.IOC_KSOCKID] * 4


def test_send_interrupted_by_a_signal_is_repeated(ksock: Ksock, kernel: FakeKernel) -> None:
    def send(view: Any) -> int:
        struct.pack_into("=II", view, 0, 0, 9)
        return 0

    kernel.handlers[Ksock.IOC_SEND] = _interrupted(1, send)
    assert ksock.send_msg(Message("$.A")) == MessageId(0, 9)


def test_other_ioctl_errors_are_raised(ksock: Ksock, kernel: FakeKernel) -> None:
    def fail(view: Any) -> int:
        raise OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))

    kernel.handlers[Ksock.IOC_BIND] = fail
    with pytest.raises(OSError) as info:
        ksock.bind("$.A", True)
    assert info.value.errno == errno.EADDRINUSE
    assert kernel.calls == [Ksock.IOC_BIND]


def _flaky(real: Callable[..., Any], failures: int) -> tuple[Callable[..., Any], list[int]]:
    """``real`` failing with EAGAIN ``failures`` times first."""
    count = [0]

    def call(*args: Any) -> Any:
        count[0] += 1
        if count[0] <= failures:
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return real(*args)

    return call, count


def test_write_interrupted_before_taking_anything_is_repeated(
    ksock: Ksock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write, count = _flaky(os.write, 5)
    monkeypatch.setattr(kbus.ksock.os, "write", write)
    msg = Message("$.A", b"data")
    ksock.write_msg(msg)
    assert count[0] == 6
    assert (tmp_path / "kbus0").read_bytes() == msg.to_bytes()


def test_write_gives_up_after_a_hundred_eagain(
    ksock: Ksock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write, count = _flaky(os.write, 1000)
    monkeypatch.setattr(kbus.ksock.os, "write", write)
    with pytest.raises(BlockingIOError):
        ksock.write_data(b"abcd")
    assert count[0] == 100


def test_read_interrupted_is_repeated(
    ksock: Ksock, kernel: FakeKernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    msg = Message("$.A", b"data", id=MessageId(0, 3))
    (tmp_path / "kbus0").write_bytes(msg.to_bytes())
    read, count = _flaky(os.read, 2)
    monkeypatch.setattr(kbus.ksock.os, "read", read)
    kernel.handlers[Ksock.IOC_NEXTMSG] = _u32_out(msg.total_length(), retval=1)
    assert ksock.read_next_msg() == msg
    assert count[0] == 3


# ---------------------------------------------------------------------------
# This implementation's additions: MSGCREDS, FILTERED, BATCHREAD


def test_sender_creds(ksock: Ksock, kernel: FakeKernel) -> None:
    def creds(view: Any) -> int:
        struct.pack_into("=IIII", view, 0, 1000, 100, 4242, 0)
        return 0

    kernel.handlers[Ksock.IOC_MSGCREDS] = creds
    got = ksock.sender_creds()
    assert got == (1000, 100, 4242, 0)
    assert (got.uid, got.gid, got.pid, got.synthetic) == (1000, 100, 4242, False)
    assert isinstance(got, kbus.ksock.SenderCreds)

    def synthetic(view: Any) -> int:
        struct.pack_into("=IIII", view, 0, 0xFFFFFFFF, 0xFFFFFFFF, 0, 1)
        return 0

    kernel.handlers[Ksock.IOC_MSGCREDS] = _interrupted(1, synthetic)
    assert ksock.sender_creds().synthetic

    def nothing_read(view: Any) -> int:
        raise OSError(errno.ENOMSG, os.strerror(errno.ENOMSG))

    kernel.handlers[Ksock.IOC_MSGCREDS] = nothing_read
    with pytest.raises(OSError) as info:
        ksock.sender_creds()
    assert info.value.errno == errno.ENOMSG


def test_num_filtered(ksock: Ksock, kernel: FakeKernel) -> None:
    kernel.handlers[Ksock.IOC_FILTERED] = _u32_out(17)
    assert ksock.num_filtered() == 17


def _batch_kernel(kernel: FakeKernel) -> list[int]:
    """BATCHREAD's handler; returns the list of values it was set to."""
    states: list[int] = []

    def batchread(view: Any) -> int:
        states.append(struct.unpack_from("=I", view)[0])
        struct.pack_into("=I", view, 0, 0)
        return 0

    kernel.handlers[Ksock.IOC_BATCHREAD] = batchread
    return states


def test_read_msgs_reads_a_batch_with_one_read(
    ksock: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    states = _batch_kernel(kernel)
    msgs = [Message("$.A", b"1", id=MessageId(0, 1)), Request("$.Bb", b"22", id=MessageId(0, 2))]
    reads: list[int] = []
    answers = [b"".join(m.to_bytes() for m in msgs), b""]

    def read(fd: int, size: int) -> bytes:
        reads.append(size)
        return answers.pop(0)

    monkeypatch.setattr(kbus.ksock.os, "read", read)
    assert ksock.read_msgs(4096) == msgs
    assert ksock.read_msgs() == []
    assert states == [1]  # switched on once, by the first read_msgs
    assert reads == [4096, kbus.ksock.BATCH_READ_SIZE]
    assert ksock.batch_read(False) == 0 and states == [1, 0]
    assert ksock.batch_read(just_ask=True) == 0 and states == [1, 0, 0xFFFFFFFF]


def test_read_msgs_reads_a_message_too_big_for_the_buffer_alone(
    ksock: Ksock, kernel: FakeKernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch_kernel(kernel)
    big = Message("$.Big", b"x" * 200, id=MessageId(0, 3))
    (tmp_path / "kbus0").write_bytes(big.to_bytes())
    real_read = os.read

    def read(fd: int, size: int) -> bytes:
        if size == 64:
            raise OSError(errno.EMSGSIZE, os.strerror(errno.EMSGSIZE))
        return real_read(fd, size)

    monkeypatch.setattr(kbus.ksock.os, "read", read)
    kernel.handlers[Ksock.IOC_NEXTMSG] = _u32_out(big.total_length(), retval=1)
    assert ksock.read_msgs(64) == [big]


def test_read_msgs_interrupted_is_repeated_and_bad_batches_raise(
    ksock: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    _batch_kernel(kernel)
    msg = Message("$.A", b"1")
    read, count = _flaky(lambda fd, size: msg.to_bytes(), 2)
    monkeypatch.setattr(kbus.ksock.os, "read", read)
    assert ksock.read_msgs() == [msg]
    assert count[0] == 3
    monkeypatch.setattr(kbus.ksock.os, "read", lambda fd, size: msg.to_bytes()[:-4])
    with pytest.raises(ValueError):
        ksock.read_msgs()


# ---------------------------------------------------------------------------
# ALL_OR_WAIT: the pending send


def _send_eagain(serial: int) -> Handler:
    def handler(view: Any) -> int:
        struct.pack_into("=II", view, 0, 0, serial)  # KBUS writes the id, then EAGAIN
        raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))

    return handler


def test_send_eagain_keeps_the_message_id(ksock: Ksock, kernel: FakeKernel) -> None:
    kernel.handlers[Ksock.IOC_SEND] = _send_eagain(42)
    with pytest.raises(BlockingIOError) as info:
        ksock.send_msg(Request("$.A", flags=Message.ALL_OR_WAIT))
    assert info.value.errno == errno.EAGAIN
    assert info.value.msg_id == MessageId(0, 42)  # type: ignore[attr-defined]
    # the (regular) file is writable at once: the send has been resolved
    assert ksock.complete_send(1.0) == MessageId(0, 42)


def test_send_msg_and_wait(ksock: Ksock, kernel: FakeKernel) -> None:
    kernel.handlers[Ksock.IOC_SEND] = _send_eagain(43)
    assert ksock.send_msg_and_wait(Message("$.A", flags=Message.ALL_OR_WAIT)) == MessageId(0, 43)

    def send(view: Any) -> int:
        struct.pack_into("=II", view, 0, 0, 44)
        return 0

    kernel.handlers[Ksock.IOC_SEND] = send
    assert ksock.send_msg_and_wait(Message("$.A")) == MessageId(0, 44)


def test_complete_send_without_a_pending_send_asks_lastsent(
    ksock: Ksock, kernel: FakeKernel
) -> None:
    def lastsent(view: Any) -> int:
        struct.pack_into("=II", view, 0, 0, 5)
        return 0

    kernel.handlers[Ksock.IOC_LASTSENT] = lastsent
    assert ksock.complete_send(0) == MessageId(0, 5)


@pytest.fixture()
def unwritable(kernel: FakeKernel) -> Iterator[Ksock]:
    """A Ksock on a socket whose peer reads nothing: never writable."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        while True:
            a.send(b"x" * 65536)
    except BlockingIOError:
        pass
    fd = io.FileIO(a.fileno(), "r+b", closefd=False)
    k = _ksock_on(fd)
    yield k
    k.close()
    a.close()
    b.close()


def test_complete_send_times_out(unwritable: Ksock, kernel: FakeKernel) -> None:
    kernel.handlers[Ksock.IOC_SEND] = _send_eagain(50)
    with pytest.raises(BlockingIOError):
        unwritable.send()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        unwritable.complete_send(0.2)
    assert time.monotonic() - t0 >= 0.15
    assert kernel.calls == [Ksock.IOC_SEND]  # still pending: nothing discarded


def test_send_msg_and_wait_discards_after_its_timeout(
    unwritable: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kbus.ksock.os, "write", lambda fd, data: len(data))
    kernel.handlers[Ksock.IOC_SEND] = _send_eagain(51)
    kernel.handlers[Ksock.IOC_DISCARD] = lambda view: 0
    with pytest.raises(TimeoutError):
        unwritable.send_msg_and_wait(Message("$.A", flags=Message.ALL_OR_WAIT), 0.1)
    assert kernel.calls == [Ksock.IOC_SEND, Ksock.IOC_DISCARD]


# ---------------------------------------------------------------------------
# wait_for_msg


def test_wait_for_msg_does_not_return_none_early(
    ksock: Ksock, kernel: FakeKernel, tmp_path: Path
) -> None:
    # The file is always readable, but the first NEXTMSGs find nothing (as
    # when another thread took the message): wait_for_msg keeps waiting.
    msg = Message("$.A", b"x", id=MessageId(0, 1))
    (tmp_path / "kbus0").write_bytes(msg.to_bytes())
    answers = [0, 0, 0, msg.total_length()]

    def nextmsg(view: Any) -> int:
        length = answers.pop(0)
        struct.pack_into("=I", view, 0, length)
        return 1 if length else 0

    kernel.handlers[Ksock.IOC_NEXTMSG] = nextmsg
    assert ksock.wait_for_msg(5) == msg
    kernel.handlers[Ksock.IOC_NEXTMSG] = _u32_out(0)
    t0 = time.monotonic()
    assert ksock.wait_for_msg(0.2) is None
    assert time.monotonic() - t0 >= 0.19
    assert ksock.wait_for_msg(0) is None


def test_wait_for_msg_uses_poll_not_select(
    ksock: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_select(*args: Any) -> None:
        raise AssertionError("select.select used (limited to fd numbers < 1024)")

    monkeypatch.setattr(kbus.ksock.select, "select", no_select)
    kernel.handlers[Ksock.IOC_NEXTMSG] = _u32_out(0)
    assert ksock.wait_for_msg(0.01) is None


def test_wait_for_msg_on_a_closed_ksock(ksock: Ksock) -> None:
    ksock.close()
    with pytest.raises(ValueError):
        ksock.wait_for_msg(0)


# ---------------------------------------------------------------------------
# Threads sharing a Ksock


def test_threads_do_not_interleave_write_and_send(
    ksock: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, int]] = []

    def write(fd: int, data: bytes) -> int:
        events.append(("write", threading.get_ident()))
        time.sleep(0.0005)  # give the other thread every chance to cut in
        return len(data)

    def send(view: Any) -> int:
        events.append(("send", threading.get_ident()))
        return 0

    monkeypatch.setattr(kbus.ksock.os, "write", write)
    kernel.handlers[Ksock.IOC_SEND] = send

    def sender() -> None:
        for _ in range(50):
            ksock.send_msg(Message("$.A", b"x"))

    threads = [threading.Thread(target=sender) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(events) == 300
    for (kind_a, who_a), (kind_b, who_b) in zip(events[::2], events[1::2]):
        assert (kind_a, kind_b) == ("write", "send")
        assert who_a == who_b


def test_threads_do_not_interleave_nextmsg_and_read(
    ksock: Ksock, kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    messages = [Message("$.A", b"m%d" % i, id=MessageId(0, i + 1)) for i in range(200)]
    current: list[bytes] = []
    queue = list(messages)

    def nextmsg(view: Any) -> int:
        if not queue:
            struct.pack_into("=I", view, 0, 0)
            return 0
        current[:] = [queue.pop(0).to_bytes()]
        struct.pack_into("=I", view, 0, len(current[0]))
        return 1

    def read(fd: int, count: int) -> bytes:
        time.sleep(0.0002)
        data = current[0][:count]
        current[0] = current[0][count:]
        return data

    monkeypatch.setattr(kbus.ksock.os, "read", read)
    kernel.handlers[Ksock.IOC_NEXTMSG] = nextmsg
    got: list[Message] = []

    def reader() -> None:
        for msg in ksock:
            got.append(msg)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=lambda m: m.id) == messages  # each read whole, once


# ---------------------------------------------------------------------------
# __all__


ORIGINAL_NAMES = {
    "Ksock",
    "BindStruct",
    "ReplierStruct",
    "SendResultStruct",
    "read_bindings",
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
}


def test_star_import_gives_the_original_names_only() -> None:
    namespace: dict[str, Any] = {}
    exec("from kbus import *", namespace)
    del namespace["__builtins__"]
    assert set(namespace) == ORIGINAL_NAMES
    assert set(kbus.__all__) == ORIGINAL_NAMES
    assert set(kbus.ksock.__all__) | set(kbus.messages.__all__) == ORIGINAL_NAMES
    for module in (kbus.ksock, kbus.messages):
        for name in module.__all__:
            assert getattr(module, name) is getattr(kbus, name)
