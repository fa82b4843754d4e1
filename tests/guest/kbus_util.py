# SPDX-License-Identifier: MIT
"""Shared helpers for the KBUS conformance suite: /proc parsing, module
(re)loading, device-node waiting and forked child processes with pipes."""

from __future__ import annotations

import errno
import os
import pickle
import re
import select
import signal
import stat
import struct
import subprocess
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import pytest
from kbus import Announcement, Ksock, Message

KsockFactory = Callable[..., Ksock]
"""The ``ksock`` fixture: ``ksock(which=0, mode="rw") -> Ksock``."""

STATS_PATH = "/proc/kbus/stats"
BINDINGS_PATH = "/proc/kbus/bindings"
BINDINGS_HEADER = (
    "# <device> is bound to <Ksock-ID> in <process-PID> as "
    "<Replier|Listener> for <message-name>"
)
NUM_DEVICES_PARAM = "/sys/module/kbus/parameters/kbus_num_devices"

_DEV_RE = re.compile(
    r"^dev +(\d+): next ksock (\d+) next msg (\d+) unsent unbindings (\d+)"
    r"((?:\(gone tragic\))?)$"
)
_KSOCK_RE = re.compile(r"^    ksock (\d+) last msg (\d+):(\d+) queue (\d+) of (\d+)$")


class KbusTestTimeout(Exception):
    """Raised by the per-test SIGALRM watchdog (deliberately not an OSError,
    so ``except OSError`` in a test cannot swallow it)."""


# --------------------------------------------------------------------------
# /proc/kbus


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def stats_text() -> str:
    return read_text(STATS_PATH)


def bindings_text() -> str:
    return read_text(BINDINGS_PATH)


def stats_device_block(dev: int, text: str | None = None) -> list[str]:
    """The lines of /proc/kbus/stats belonging to device ``dev`` (its ``dev``
    line first)."""
    lines = (stats_text() if text is None else text).splitlines()
    out: list[str] = []
    current = -1
    for line in lines:
        m = _DEV_RE.match(line)
        if line.startswith("dev"):
            assert m, f"malformed stats line {line!r}"
            current = int(m.group(1))
        if current == dev:
            out.append(line)
    return out


class DevStats:
    def __init__(self, line: str) -> None:
        m = _DEV_RE.match(line)
        assert m, f"malformed stats line {line!r}"
        self.dev = int(m.group(1))
        self.next_ksock = int(m.group(2))
        self.next_msg = int(m.group(3))
        self.unsent_unbindings = int(m.group(4))
        self.tragic = bool(m.group(5))


def dev_stats(dev: int = 0) -> DevStats:
    block = stats_device_block(dev)
    assert block, f"device {dev} missing from {STATS_PATH}"
    return DevStats(block[0])


_USERS_DEV_RE = re.compile(
    r"^dev +(\d+): bytes (\d+) of (\d+), users holding bytes (\d+),"
)


def device_bytes_held(dev: int = 0) -> tuple[int, int]:
    """From /proc/kbus/users: the bytes device ``dev`` holds charged, and the
    number of users holding them."""
    for line in read_text("/proc/kbus/users").splitlines():
        m = _USERS_DEV_RE.match(line)
        if m and int(m.group(1)) == dev:
            return int(m.group(2)), int(m.group(4))
    raise AssertionError(f"device {dev} missing from /proc/kbus/users")


def ksock_ids_in_stats(dev: int = 0) -> list[int]:
    ids = []
    for line in stats_device_block(dev)[1:]:
        if line.startswith("    ksock "):
            m = _KSOCK_RE.match(line)
            assert m, f"malformed stats line {line!r}"
            ids.append(int(m.group(1)))
    return ids


def ksock_stats_lines(ksock_id: int, dev: int = 0) -> list[str]:
    """The three lines describing one Ksock in /proc/kbus/stats."""
    block = stats_device_block(dev)
    for i, line in enumerate(block):
        if line.startswith(f"    ksock {ksock_id} "):
            return block[i : i + 3]
    raise AssertionError(f"ksock {ksock_id} not in stats: {block}")


def binding_lines(dev: int | None = None) -> list[str]:
    """Non-comment lines of /proc/kbus/bindings (for one device if given)."""
    out = []
    for line in bindings_text().splitlines():
        if line.startswith("#"):
            continue
        if dev is None or int(line.split(":", 1)[0]) == dev:
            out.append(line)
    return out


def binding_line(dev: int, ksock_id: int, pid: int, replier: bool, name: str) -> str:
    """A /proc/kbus/bindings line as printf("%3u: %8u %8lu  %c  %.*s\\n")."""
    return f"{dev:3d}: {ksock_id:8d} {pid:8d}  {'R' if replier else 'L'}  {name}"


# --------------------------------------------------------------------------
# Module and device nodes


def sanitizer_kernel() -> bool:
    """Running on one of the project's debug kernels (KASAN: release
    ``*-kbus-debug``, KCSAN: ``*-kbus-kcsan``; tests/debug/kernel-*.config),
    where every access is checked and timings mean nothing."""
    return "-kbus-" in os.uname().release


def module_loaded() -> bool:
    return os.path.isdir("/sys/module/kbus") and os.path.exists(STATS_PATH)


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=60, check=False
    )


def rmmod() -> subprocess.CompletedProcess[str]:
    return run("rmmod", "kbus")


def modprobe(*params: str) -> subprocess.CompletedProcess[str]:
    return run("modprobe", "kbus", *params)


def wait_for_path(path: str, timeout: float = 5.0, present: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(path) == present:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


def wait_for_device(n: int, timeout: float = 5.0) -> None:
    """Wait until /dev/kbus<n> exists as a character device (hot-plug
    latency, §2.1). It is not opened: opening would use up a Ksock id."""
    path = f"/dev/kbus{n}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if stat.S_ISCHR(os.stat(path).st_mode):
                return
        except FileNotFoundError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


def open_retry(factory: KsockFactory, n: int, timeout: float = 5.0) -> Ksock:
    """Open a Ksock on /dev/kbus<n>, retrying while the node is not there
    yet (a freshly created device may appear asynchronously, §6.17)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return factory(n)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENXIO, errno.ENODEV):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def reload_module(*params: str) -> None:
    """rmmod (if loaded) and modprobe with params; the load must succeed and
    /dev/kbus0 must appear."""
    if os.path.isdir("/sys/module/kbus"):
        res = rmmod()
        assert res.returncode == 0, f"rmmod kbus failed: {res.stderr}"
    res = modprobe(*params)
    assert res.returncode == 0, f"modprobe kbus {params} failed: {res.stderr}"
    wait_for_device(0)


def num_devices_param() -> int:
    return int(read_text(NUM_DEVICES_PARAM).strip())


# --------------------------------------------------------------------------
# Forked children


class _Pipe:
    """Length-prefixed pickles over a pair of pipe ends."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd = rfd
        self.wfd = wfd

    def send(self, obj: object) -> None:
        data = pickle.dumps(obj)
        buf = struct.pack("=I", len(data)) + data
        while buf:
            n = os.write(self.wfd, buf)
            buf = buf[n:]

    def _read_exact(self, n: int, deadline: float) -> bytes:
        out = b""
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("timed out waiting on pipe")
            r, _, _ = select.select([self.rfd], [], [], left)
            if not r:
                continue
            chunk = os.read(self.rfd, n - len(out))
            if not chunk:
                raise EOFError("pipe closed")
            out += chunk
        return out

    def recv(self, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        (length,) = struct.unpack("=I", self._read_exact(4, deadline))
        return pickle.loads(self._read_exact(length, deadline))


ChildConn = _Pipe


class Child:
    """A forked child running ``target(conn)``.

    The child closes every inherited descriptor except its pipe ends (so it
    never keeps the parent's Ksocks alive), arms its own SIGALRM watchdog and
    always leaves with os._exit. Its return value is sent back as
    ``("result", value)``; an exception as ``("error", traceback)``.
    Use as a context manager: on exit the child is killed if still running and
    always reaped."""

    def __init__(self, target: Callable[[ChildConn], object], timeout: int = 55):
        to_parent_r, to_parent_w = os.pipe()
        to_child_r, to_child_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(timeout)
                keep = {to_parent_w, to_child_r}
                for fd in _open_fds():
                    if fd > 2 and fd not in keep:
                        try:
                            os.close(fd)
                        except OSError:
                            pass
                conn = _Pipe(to_child_r, to_parent_w)
                try:
                    value = target(conn)
                    conn.send(("result", value))
                    code = 0
                except BaseException:  # noqa: BLE001 - report anything
                    conn.send(("error", traceback.format_exc()))
            finally:
                os._exit(code)
        os.close(to_parent_w)
        os.close(to_child_r)
        self.pid = pid
        self.conn = _Pipe(to_parent_r, to_child_w)
        self.status: int | None = None

    def send(self, obj: object) -> None:
        self.conn.send(obj)

    def recv(self, timeout: float = 20.0) -> Any:
        """The next object the child sent with conn.send; a child error is
        re-raised here."""
        msg = self.conn.recv(timeout)
        if isinstance(msg, tuple) and len(msg) == 2 and msg[0] == "error":
            raise AssertionError(f"child {self.pid} failed:\n{msg[1]}")
        return msg

    def result(self, timeout: float = 30.0) -> Any:
        """Wait for the child's final ("result", value) and reap it."""
        msg = self.recv(timeout)
        assert isinstance(msg, tuple) and msg[0] == "result", msg
        self.wait(timeout)
        return msg[1]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float = 30.0) -> int:
        """Reap the child (killing it after ``timeout``); returns the raw
        wait status."""
        deadline = time.monotonic() + timeout
        while self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.status = status
                break
            if time.monotonic() > deadline:
                self.kill()
                _, status = os.waitpid(self.pid, 0)
                self.status = status
                raise AssertionError(f"child {self.pid} did not finish")
            time.sleep(0.01)
        return self.status

    def close(self) -> None:
        if self.status is None:
            self.kill()
            _, self.status = os.waitpid(self.pid, 0)
        for fd in (self.conn.rfd, self.conn.wfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def as_user(
    uid: int,
    body: Callable[[ChildConn], object],
    timeout: int = 60,
    gid: int | None = None,
    groups: tuple[int, ...] = (),
) -> Child:
    """A child that drops to uid (gid defaults to uid; these supplementary
    groups, none by default), then runs body(conn)."""

    def target(conn: ChildConn) -> object:
        os.setgroups(list(groups))
        os.setgid(uid if gid is None else gid)
        os.setuid(uid)
        return body(conn)

    return Child(target, timeout=timeout)


def run_as(
    uid: int,
    body: Callable[[], object],
    timeout: int = 60,
    gid: int | None = None,
    groups: tuple[int, ...] = (),
) -> Any:
    """Run body() as uid (see as_user) in a child and return its result."""
    with as_user(uid, lambda conn: body(), timeout, gid, groups) as child:
        return child.result(timeout)


def _open_fds() -> list[int]:
    try:
        return [int(x) for x in os.listdir("/proc/self/fd")]
    except OSError:
        return list(range(3, 256))


def process_state(pid: int) -> str:
    """The state letter of a process from /proc/<pid>/stat."""
    text = read_text(f"/proc/{pid}/stat")
    return text.rsplit(")", 1)[1].split()[0]


def wait_until_sleeping(pid: int, timeout: float = 10.0) -> None:
    """Wait until a (single-threaded) child is asleep in a syscall, e.g. in
    poll(); then give it a moment more."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_state(pid) == "S":
            time.sleep(0.05)
            if process_state(pid) == "S":
                return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} never went to sleep")


# --------------------------------------------------------------------------
# Small test helpers


@contextmanager
def raises_errno(code: int) -> Iterator[None]:
    """Expect an OSError with exactly this errno."""
    with pytest.raises(OSError) as info:
        yield
    got = info.value.errno
    assert got == code, (
        f"expected {errno.errorcode.get(code, code)}, "
        f"got {errno.errorcode.get(got or 0, got)}: {info.value}"
    )


def drain(ksock: Ksock) -> list[Message]:
    """Read every message currently queued (non-blocking)."""
    out: list[Message] = []
    while True:
        msg = ksock.read_next_msg()
        if msg is None:
            return out
        out.append(msg)


def one_msg(ksock: Ksock) -> Message:
    """Read the next message, which must exist."""
    msg = ksock.read_next_msg()
    assert msg is not None, "expected a queued message"
    return msg


_fill_counter = 0


def fill(k: Ksock, max_messages: int = 1) -> None:
    """Make ``k`` full: limit its queue to ``max_messages`` and send it that
    many announcements (on a fresh name only it listens to); those that do
    not fit (because of outstanding requests) are silently skipped."""
    global _fill_counter
    _fill_counter += 1
    name = f"$.Fill.K{k.ksock_id()}.N{_fill_counter}"
    k.bind(name)
    k.set_max_messages(max_messages)
    for _ in range(max_messages - k.num_messages()):
        k.send_msg(Announcement(name, b"filler"))


def poll_out(k: Ksock, timeout_ms: int = 0) -> bool:
    """Poll ``k`` for writability (this retries a pending send, §8.4)."""
    p = select.poll()
    p.register(k.fileno(), select.POLLOUT)
    return any(ev & select.POLLOUT for _, ev in p.poll(timeout_ms))


#: How long a pending sender polls for POLLOUT before giving up (seconds).
PENDING_POLL_TIMEOUT = 20.0


def pending_sender(
    message: Callable[[], Message], poll_timeout: float = PENDING_POLL_TIMEOUT
) -> Callable[[ChildConn], object]:
    """A Child target: open a Ksock, send ``message()`` (which must return
    EAGAIN), report ``("pending", ksock_id, msg_id)``, then block in
    poll(POLLOUT). Returns ``(woken, seconds, queued)`` where ``queued`` lists
    the (name, in_reply_to) of messages then in its own queue."""

    def target(conn: ChildConn) -> object:
        with Ksock(0) as s:
            msg = message()  # a pointy message: keep it alive until SEND
            s.write_msg(msg)
            try:
                s.send()
            except OSError as exc:
                assert exc.errno == errno.EAGAIN, exc
            else:
                raise AssertionError("the send did not become pending")
            last = s.last_msg_id()
            conn.send(("pending", s.ksock_id(), (last.network_id, last.serial_num)))
            t0 = time.monotonic()
            woken = poll_out(s, int(poll_timeout * 1000))
            seconds = time.monotonic() - t0
            queued = []
            for m in drain(s):
                irt = m.in_reply_to
                queued.append((m.name, None if irt is None else irt.serial_num))
            return woken, seconds, queued

    return target
