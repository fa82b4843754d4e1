# SPDX-License-Identifier: MIT
"""stb-logger written on kbus.aio: the example of an STB service in asyncio.

The same service as :mod:`stb.logger` - a listener on ``$.*`` (MSGONLYONCE)
writing one line per message in bus order, noting overflows, and the
replier for ``$.STB.Logger.Counters`` - with the same log format, counters
and options, as one coroutine reading an :class:`kbus.aio.AsyncKsock`::

    python3 -m stb.aio_logger --log-file /tmp/bus.log --run-dir /tmp/run

It binds the names stb-logger binds, so the two do not run at the same time
(the second to bind ``$.STB.Logger.Counters`` gets EADDRINUSE).  Its ready
file and journal lines are ``aio-logger``'s.  SIGTERM, SIGINT and SIGHUP stop
it (exit status 0).

What asyncio changes: the loop is ``async for msg in ak`` instead of select()
and a self-pipe (signals are the event loop's ``add_signal_handler``), and
replies go through ``await ak.send(...)``.  The AsyncKsock reads at most one
message ahead (``max_buffered=1``), so KBUS's queue is still the one that
fills up when the logger falls behind, as the overflow notes expect.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import signal
import sys

from kbus import Message, reply_to
from kbus.aio import AsyncKsock

from . import protocol
from .logger import KINDS, OverflowTracker, RotatingLog, format_line, kind_of
from .protocol import LOGGER_COUNTERS, FieldError, Fields, PayloadError, Value
from .service import common_arguments, journal, setup_logging, uptime

NAME = "aio-logger"


class AioLogger:
    """The logger's state and its coroutines."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.log = setup_logging(f"stb-{NAME}", args.log_level)
        self.out = RotatingLog(args.log_file, args.max_bytes, args.backups)
        self.tracker = OverflowTracker()
        self.lineno = 0
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.synthetic = 0
        self.relayed = 0
        self.peak = 0
        self.limit = args.max_messages
        self.errors = 0

    def note(self, text: str) -> None:
        self.out.write(f"# {uptime():.3f} {text}")

    # -- the bus --------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            ak = AsyncKsock(self.args.device, max_buffered=1)
        except OSError as exc:
            self.log.error("cannot open /dev/kbus%d: %s", self.args.device, exc)
            return 1
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, ak.close)  # ends the async for below
        try:
            k = ak.ksock
            k.set_max_messages(self.args.max_messages)
            k.want_messages_once(True)
            k.bind("$.*")
            k.bind(LOGGER_COUNTERS, replier=True)
            self.limit = k.max_messages()
            self.note(f"start pid={os.getpid()} ksock={k.ksock_id()} max_messages={self.limit}")
            self.out.flush()
            self.ready(k.ksock_id())
            self.log.info("ready: Ksock %d on /dev/kbus%d", k.ksock_id(), self.args.device)
            async for msg in ak:
                await self.message(ak, msg)
        finally:
            ak.close()
            self.note("stop")
            self.out.close()
            self.unready()
        self.log.info("stopped (logged %d messages, %d errors)", self.lineno, self.errors)
        journal(self.args.run_dir, f"exit {NAME} pid={os.getpid()} status=0")
        return 0

    async def message(self, ak: AsyncKsock, msg: Message) -> None:
        # as stb-logger counts before popping: this message, what the
        # AsyncKsock has read ahead, and what still waits in KBUS's queue
        queued = ak.ksock.num_messages() + ak.buffered + 1
        self.peak = max(self.peak, queued)
        if self.tracker.queue_seen(queued, self.limit):
            self.note(f"overflow: queue full ({queued} of {self.limit}), messages may be lost")
            self.log.warning("overflow: queue full (%d of %d)", queued, self.limit)
        try:
            await self.handle(ak, msg)
        except Exception:
            self.errors += 1
            self.log.exception("while handling %s", msg)
        if ak.buffered == 0 and ak.ksock.num_messages() == 0:
            self.tracker.caught_up()
            self.out.flush()

    async def handle(self, ak: AsyncKsock, msg: Message) -> None:
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
        self.counts[kind_of(msg)] += 1
        if msg.is_synthetic():
            self.synthetic += 1
        if msg.name == protocol.CLIENT_STATUS:
            self.relayed += 1
        if msg.wants_us_to_reply() and msg.name == LOGGER_COUNTERS:
            self.out.flush()  # everything before the request is in the file
            await self.reply(ak, msg, self.counters_reply(msg))

    def counters_reply(self, msg: Message) -> dict[str, Value]:
        fields: Fields = {}
        try:
            fields = protocol.decode(msg.data)
            protocol.check_keys(fields, ())
            result = self.counters()
        except PayloadError as exc:
            result = protocol.error(protocol.E_BAD_PAYLOAD, str(exc))
        except FieldError as exc:
            result = protocol.error(exc.code, exc.detail)
        if "tag" in fields:
            result["tag"] = fields["tag"]
        return result

    def counters(self) -> dict[str, Value]:
        return protocol.ok(
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

    async def reply(self, ak: AsyncKsock, request: Message, fields: dict[str, Value]) -> None:
        """Answer ``request``; a requester that went away is only logged."""
        try:
            await ak.send(reply_to(request, protocol.encode(fields)))
        except OSError as exc:
            if exc.errno not in (errno.EADDRNOTAVAIL, errno.ECONNREFUSED, errno.EBUSY):
                raise
            self.log.warning(
                "cannot reply to %s from %d: %s", request.name, request.from_, exc.strerror
            )

    # -- the ready file ---------------------------------------------------------------

    def ready(self, ksock_id: int) -> None:
        run_dir = self.args.run_dir
        if not run_dir:
            return
        text = f"pid={os.getpid()} ksock={ksock_id} uptime={uptime():.3f}\n"
        os.makedirs(run_dir, exist_ok=True)
        path = os.path.join(run_dir, f"{NAME}.ready")
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        journal(run_dir, f"ready {NAME} {text.strip()}")

    def unready(self) -> None:
        if self.args.run_dir:
            try:
                os.unlink(os.path.join(self.args.run_dir, f"{NAME}.ready"))
            except OSError:
                pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m stb.aio_logger", description=__doc__.split("\n")[0]
    )
    common_arguments(parser, max_messages=2000)
    parser.add_argument(
        "--log-file", default="/var/log/stb/bus.log", help="the log (default /var/log/stb/bus.log)"
    )
    parser.add_argument(
        "--max-bytes", type=int, default=1 << 20, help="rotate when bigger (default 1 MiB)"
    )
    parser.add_argument("--backups", type=int, default=3, help="rotated files kept (default 3)")
    args = parser.parse_args(argv)
    return asyncio.run(AioLogger(args).run())


if __name__ == "__main__":
    sys.exit(main())
