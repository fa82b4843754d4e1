# SPDX-License-Identifier: MIT
"""stb-logger: writes every message on the bus, one line each, in bus order.

It is a plain listener on ``$.*`` (with MSGONLYONCE, so it gets one copy of
each message) and the replier for ``$.STB.Logger.Counters``.  It never slows
anyone down: when it falls behind, KBUS drops the messages its full queue has
no room for, and the logger reports that, both in the log (a ``#`` line) and
in its counters.

Log line (fields separated by one space; ``data=`` comes last and runs to the
end of the line; ``%``, control characters and bytes that are not UTF-8
in it are written ``%XX``)::

    LINE ID KIND NAME from=F to=T irt=IRT flags=0xFL [data=DATA]

LINE counts lines since the logger started, ID is ``network:serial`` (``-``
for none), KIND is REQ, REP, STS (a KBUS status reply) or ANN (§11.5 of the
KBUS specification), IRT the id replied to or ``-``.  Lines starting with
``#`` are the logger's own notes (start, overflow, rotation).

Overflow: local message serial numbers grow by one per send on the device.
When the logger is about to pop a message and finds its queue full, an
overflow episode starts (counted in ``overflows``, noted in the log); it ends
when the queue has been emptied.  Gaps in serial numbers seen during an
episode are counted as ``missed`` (an upper bound: failed sends and status
replies, which no listener gets, use serial numbers too); gaps seen outside
episodes are counted as ``unseen``.
"""

from __future__ import annotations

import argparse
import os
from typing import TextIO

from kbus import Ksock, Message

from . import protocol
from .protocol import LOGGER_COUNTERS, Fields, Value
from .service import Service, common_arguments, main_for, uptime

KINDS = ("REQ", "REP", "STS", "ANN")


def kind_of(msg: Message) -> str:
    if msg.is_reply():
        return "STS" if msg.name.startswith(protocol.KBUS_PREFIX) else "REP"
    if msg.is_request():
        return "REQ"
    return "ANN"


def _plain(c: str) -> bool:
    return c >= " " and c not in ("%", "\x7f")


def escape_data(data: bytes) -> str:
    """Payload bytes for a log line: printable UTF-8 kept; ``%``, control
    bytes and bytes that are not UTF-8 as ``%XX``."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(chr(b) if 0x20 <= b < 0x7F and b != 0x25 else f"%{b:02X}" for b in data)
    if all(_plain(c) for c in text):
        return text
    return "".join(c if _plain(c) else f"%{ord(c):02X}" for c in text)


def unescape_data(text: str) -> bytes:
    """The inverse of :func:`escape_data` (for readers of the log)."""
    raw = text.encode("utf-8")
    if b"%" not in raw:
        return raw
    out = bytearray()
    i = 0
    while i < len(raw):
        if raw[i] == 0x25 and i + 3 <= len(raw):
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(raw[i])
            i += 1
    return bytes(out)


def format_line(lineno: int, msg: Message) -> str:
    line = (
        f"{lineno} {protocol.format_id(msg.id)} {kind_of(msg)} {msg.name} "
        f"from={msg.from_} to={msg.to} irt={protocol.format_id(msg.in_reply_to)} "
        f"flags=0x{msg.flags:x}"
    )
    data = msg.data
    if data:
        line += " data=" + escape_data(data)
    return line


class LogLine:
    """A parsed log line (for tests and tools)."""

    def __init__(self, text: str) -> None:
        head, sep, data = text.rstrip("\n").partition(" data=")
        parts = head.split(" ")
        if len(parts) != 8 or parts[2] not in KINDS:
            raise ValueError(f"not a message line: {text!r}")
        self.lineno = int(parts[0])
        self.id = parts[1]
        self.kind = parts[2]
        self.name = parts[3]
        self.from_ = int(parts[4].removeprefix("from="))
        self.to = int(parts[5].removeprefix("to="))
        self.irt = parts[6].removeprefix("irt=")
        self.flags = int(parts[7].removeprefix("flags="), 16)
        self.data = unescape_data(data) if sep else b""

    @property
    def serial(self) -> int:
        return protocol.parse_id(self.id)[1]


def read_log(path: str, backups: int = 99) -> list[str]:
    """All lines of a rotated log, oldest first (PATH.N ... PATH.1, PATH)."""
    lines: list[str] = []
    for n in range(backups, 0, -1):
        if os.path.exists(f"{path}.{n}"):
            with open(f"{path}.{n}", encoding="utf-8", errors="replace") as f:
                lines.extend(f.read().splitlines())
    if os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            lines.extend(f.read().splitlines())
    return lines


class RotatingLog:
    """A text file rotated by size: PATH -> PATH.1 -> ... -> PATH.BACKUPS."""

    def __init__(self, path: str, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self.rotations = 0
        self.bytes = 0
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file: TextIO = open(path, "a", encoding="utf-8")
        self._size = self._file.tell()

    def write(self, line: str) -> None:
        size = len(line.encode("utf-8")) + 1
        if self._size and self._size + size > self.max_bytes:
            self.rotate()
        self._file.write(line + "\n")
        self._size += size
        self.bytes += size

    def rotate(self) -> None:
        self._file.close()
        if self.backups > 0:
            for n in range(self.backups - 1, 0, -1):
                if os.path.exists(f"{self.path}.{n}"):
                    os.replace(f"{self.path}.{n}", f"{self.path}.{n + 1}")
            os.replace(self.path, f"{self.path}.1")
        self._file = open(self.path, "w", encoding="utf-8")
        self._size = 0
        self.rotations += 1

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class OverflowTracker:
    """Spots dropped messages from serial-number gaps (see the module doc).

    An overflow episode starts when the queue is seen full before a pop and
    ends when the queue has been emptied; gaps in local serial numbers within
    an episode count as ``missed``, the others as ``unseen``."""

    def __init__(self) -> None:
        self.last_serial: int | None = None
        self.overflows = 0  # episodes
        self.missed = 0
        self.unseen = 0
        self.in_episode = False

    def queue_seen(self, queued: int, limit: int) -> bool:
        """Before a pop: ``queued`` messages wait, the limit is ``limit``.
        True if this starts an overflow episode."""
        if queued >= limit and not self.in_episode:
            self.in_episode = True
            self.overflows += 1
            return True
        return False

    def caught_up(self) -> None:
        """The queue is empty: the episode (if any) is over."""
        self.in_episode = False

    def message(self, network_id: int, serial: int) -> int:
        """A message was read; returns how many ids were counted as missed."""
        if network_id != 0:
            return 0
        missed = 0
        last = self.last_serial
        if last is not None and serial > last + 1:
            gap = serial - last - 1
            if self.in_episode:
                self.missed += gap
                missed = gap
            else:
                self.unseen += gap
        if last is None or serial > last:
            self.last_serial = serial
        return missed


class LoggerService(Service):
    name = "logger"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.out = RotatingLog(args.log_file, args.max_bytes, args.backups)
        self.tracker = OverflowTracker()
        self.lineno = 0
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.synthetic = 0
        self.relayed = 0
        self.peak = 0
        self.limit = args.max_messages

    def note(self, text: str) -> None:
        self.out.write(f"# {uptime():.3f} {text}")

    def setup(self, ksock: Ksock) -> None:
        ksock.want_messages_once(True)
        ksock.bind("$.*")
        ksock.bind(LOGGER_COUNTERS, replier=True)
        self.limit = ksock.max_messages()
        self.note(f"start pid={os.getpid()} ksock={ksock.ksock_id()} max_messages={self.limit}")
        self.out.flush()

    def before_message(self, queued: int) -> None:
        self.peak = max(self.peak, queued)
        if self.tracker.queue_seen(queued, self.limit):
            self.note(f"overflow: queue full ({queued} of {self.limit}), messages may be lost")
            self.log.warning("overflow: queue full (%d of %d)", queued, self.limit)

    def handle(self, msg: Message) -> None:
        mid = msg.id
        if mid is not None:
            missed = self.tracker.message(mid.network_id, mid.serial_num)
            if missed:
                self.note(f"missed {missed} ids before {protocol.format_id(mid)}")
        self.lineno += 1
        rotations = self.out.rotations
        self.out.write(format_line(self.lineno, msg))
        if self.out.rotations != rotations:
            self.note(f"rotated (#{self.out.rotations})")
        kind = kind_of(msg)
        self.counts[kind] += 1
        if msg.is_synthetic():
            self.synthetic += 1
        if msg.name == protocol.CLIENT_STATUS:
            self.relayed += 1
        if msg.wants_us_to_reply() and msg.name == LOGGER_COUNTERS:
            self.out.flush()  # everything before the request is in the file
            self.serve_request(msg, self.counters)

    def counters(self, fields: Fields) -> dict[str, Value]:
        protocol.check_keys(fields, ())
        reply = protocol.ok(
            logged=self.lineno,
            requests=self.counts["REQ"],
            replies=self.counts["REP"],
            statuses=self.counts["STS"],
            announcements=self.counts["ANN"],
            synthetic=self.synthetic,
            relayed=self.relayed,
            overflows=self.tracker.overflows,
            missed=self.tracker.missed,
            unseen=self.tracker.unseen,
            queue_peak=self.peak,
            max_messages=self.limit,
            rotations=self.out.rotations,
            bytes=self.out.bytes,
            file=self.out.path,
        )
        return reply

    def after_batch(self) -> None:
        self.tracker.caught_up()
        self.out.flush()

    def run(self) -> int:
        try:
            return super().run()
        finally:
            self.note("stop")
            self.out.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-logger", description=__doc__.split("\n")[0])
    common_arguments(parser, max_messages=2000)
    parser.add_argument(
        "--log-file", default="/var/log/stb/bus.log", help="the log (default /var/log/stb/bus.log)"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=1 << 20, help="rotate when bigger (default 1 MiB)"
    )
    parser.add_argument("--backups", type=int, default=3, help="rotated files kept (default 3)")
    return main_for(LoggerService, parser, argv)
