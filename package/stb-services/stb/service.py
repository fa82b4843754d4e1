# SPDX-License-Identifier: MIT
"""What every STB service shares: options, logging, signals, the ready file
and journal, and a receive loop that survives bad messages.

A service is one Ksock.  Its loop waits with select() on the Ksock and on a
self-pipe that SIGTERM/SIGINT write to (so a stop request is seen at once),
reads every queued message in order, and hands each to :meth:`Service.handle`.
Whatever goes wrong with one message is logged, answered with an error reply
if the message was a request to us, and the loop goes on.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType

from kbus import Ksock, Message, MessageId, reply_to

from . import protocol
from .protocol import FieldError, PayloadError, Value

LOG_FORMAT = "%(asctime)s %(name)s[%(process)d]: %(levelname)s: %(message)s"
DEFAULT_RUN_DIR = "/run/stb"


def uptime() -> float:
    """Seconds since boot (CLOCK_BOOTTIME; as /proc/uptime)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def setup_logging(prog: str, level: str = "info") -> logging.Logger:
    """syslog-like lines on stderr: ``TIME prog[pid]: level: message``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%Y-%m-%dT%H:%M:%S"))
    log = logging.getLogger(prog)
    log.handlers[:] = [handler]
    log.setLevel(level.upper())
    log.propagate = False
    return log


def journal(run_dir: str | None, line: str) -> None:
    """Append ``UPTIME line`` to RUN_DIR/journal (the boot-time record of
    starts, readiness and exits that the supervisor and services keep)."""
    if not run_dir:
        return
    try:
        os.makedirs(run_dir, exist_ok=True)
        fd = os.open(os.path.join(run_dir, "journal"), os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, f"{uptime():.3f} {line}\n".encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def common_arguments(parser: argparse.ArgumentParser, max_messages: int) -> None:
    parser.add_argument("--device", type=int, default=0, help="KBUS device number (default 0)")
    parser.add_argument(
        "--max-messages",
        type=int,
        default=max_messages,
        help=f"queue limit of the service's Ksock (default {max_messages})",
    )
    parser.add_argument(
        "--run-dir",
        default=DEFAULT_RUN_DIR,
        help=f"where the ready file and journal go (default {DEFAULT_RUN_DIR}; '' for none)",
    )
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning"])


class Service:
    """Base class: subclasses set ``name`` and implement setup() and handle()."""

    name = "service"

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.log = setup_logging(f"stb-{self.name}", args.log_level)
        self.ksock: Ksock | None = None
        self.stopping = False
        self.handled = 0
        self.errors = 0
        self.queue_full_seen = 0
        self.queue_limit = 0  # the Ksock's queue limit (MAXMSGS), once running
        self._answered: MessageId | None = None  # the last request answered
        self._wake_r = -1
        self._wake_w = -1

    # -- hooks ------------------------------------------------------------------

    def setup(self, ksock: Ksock) -> None:
        """Bind, announce; called once the Ksock is open."""

    def handle(self, msg: Message) -> None:
        """One received message."""

    def after_batch(self) -> None:
        """Called when the queue has been emptied (e.g. to flush files)."""

    def before_message(self, queued: int) -> None:
        """Called before each message is read with the current queue length."""

    # -- requests ------------------------------------------------------------------

    def reply(self, request: Message, fields: dict[str, Value]) -> None:
        """Answer ``request``; a requester that went away is only logged.

        A request is answered once: :meth:`dispatch` sends no error reply
        for a request this has already answered (or found unanswerable)."""
        assert self.ksock is not None
        try:
            data = protocol.encode(fields)
        except ValueError as exc:  # a reply longer than a payload may be: a bug
            self.log.error("reply to %s too long: %s", request.name, exc)
            data = protocol.encode(protocol.error(protocol.E_INTERNAL, "reply too long"))
        try:
            self.ksock.send_msg(reply_to(request, data))
        except OSError as exc:
            if exc.errno in (errno.EADDRNOTAVAIL, errno.ECONNREFUSED, errno.EBUSY):
                self.log.warning(
                    "cannot reply to %s %s from %d: %s",
                    request.name,
                    protocol.format_id(request.id),
                    request.from_,
                    os.strerror(exc.errno or 0),
                )
            else:
                raise
        self._answered = request.id

    def serve_request(
        self, msg: Message, handler: Callable[[protocol.Fields], dict[str, Value]]
    ) -> dict[str, Value]:
        """Decode the payload, run ``handler``, reply with its fields or an
        error; a ``tag`` field of the request is echoed in the reply."""
        fields: protocol.Fields = {}
        try:
            fields = protocol.decode(msg.data)
            result = handler(fields)
        except PayloadError as exc:
            result = protocol.error(protocol.E_BAD_PAYLOAD, str(exc))
        except FieldError as exc:
            result = protocol.error(exc.code, exc.detail)
        if "tag" in fields:
            result["tag"] = fields["tag"]  # echoed, whatever the outcome
        if result.get("status") != "ok":
            self.errors += 1
            self.log.info("%s %s: %s", msg.name, protocol.format_id(msg.id), result.get("detail"))
        self.reply(msg, result)
        return result

    # -- the loop -------------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _ready(self, ksock: Ksock) -> None:
        run_dir = self.args.run_dir
        if not run_dir:
            return
        text = f"pid={os.getpid()} ksock={ksock.ksock_id()} uptime={uptime():.3f}\n"
        try:
            os.makedirs(run_dir, exist_ok=True)
            path = os.path.join(run_dir, f"{self.name}.ready")
            with open(path + ".tmp", "w") as f:
                f.write(text)
            os.replace(path + ".tmp", path)
        except OSError as exc:
            self.log.warning("cannot write the ready file: %s", exc)
        journal(run_dir, f"ready {self.name} {text.strip()}")

    def _unready(self) -> None:
        if self.args.run_dir:
            path = os.path.join(self.args.run_dir, f"{self.name}.ready")
            try:
                with open(path) as f:
                    mine = f.read().startswith(f"pid={os.getpid()} ")
                if mine:
                    os.unlink(path)
            except OSError:
                pass

    def dispatch(self, msg: Message) -> None:
        self._answered = None
        try:
            self.handle(msg)
        except Exception:
            self.errors += 1
            self.log.exception("while handling %s", msg)
            # one reply per request: not when the failure came after it
            if msg.wants_us_to_reply() and (self._answered is None or self._answered != msg.id):
                try:
                    self.reply(msg, protocol.error(protocol.E_INTERNAL, "internal error"))
                except Exception:
                    self.log.exception("cannot even send the error reply")

    def run(self) -> int:
        """Open the Ksock, set up, serve until SIGTERM/SIGINT; exit status."""
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        signal.set_wakeup_fd(self._wake_w)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        try:
            ksock = Ksock(self.args.device, "rw")
        except OSError as exc:
            self.log.error("cannot open /dev/kbus%d: %s", self.args.device, exc)
            return 1
        self.ksock = ksock
        try:
            ksock.set_max_messages(self.args.max_messages)
            self.setup(ksock)
            self._ready(ksock)
            self.log.info("ready: Ksock %d on /dev/kbus%d", ksock.ksock_id(), self.args.device)
            self._loop(ksock)
        finally:
            self._unready()
            ksock.close()
            self.ksock = None
        self.log.info("stopped (handled %d messages, %d errors)", self.handled, self.errors)
        journal(self.args.run_dir, f"exit {self.name} pid={os.getpid()} status=0")
        return 0

    def _loop(self, ksock: Ksock) -> None:
        limit = self.queue_limit = ksock.max_messages()
        while not self.stopping:
            readable, _, _ = select.select([ksock.fileno(), self._wake_r], [], [], 5.0)
            if self._wake_r in readable:
                try:
                    while os.read(self._wake_r, 64):
                        pass
                except BlockingIOError:
                    pass
            while not self.stopping:
                queued = ksock.num_messages()
                if queued == 0:
                    # NEXTMSG on an empty queue may still promote a set-aside event
                    msg = ksock.read_next_msg()
                    if msg is None:
                        break
                else:
                    if queued >= limit:
                        self.queue_full_seen += 1
                    self.before_message(queued)
                    msg = ksock.read_next_msg()
                    if msg is None:
                        break
                self.handled += 1
                self.dispatch(msg)
            self.after_batch()


def main_for(
    service_class: Callable[[argparse.Namespace], Service],
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
) -> int:
    args = parser.parse_args(argv)
    service = service_class(args)
    try:
        return service.run()
    except KeyboardInterrupt:
        return 0
