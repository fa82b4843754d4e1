# SPDX-License-Identifier: MIT
"""The client side: requests and their replies, stateful recorder sessions,
and pipelined bursts (used by stb-ctl and the scenario tests).

KBUS gives a status reply (``$.KBUS.Replier.GoneAway`` ...) to the requester
only, never to listeners.  So that the logger can record it, a
:class:`Client` relays every status reply it gets as an announcement
``$.STB.Client.Status`` (see docs/stb-messages.md).
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Callable

from kbus import Announcement, Ksock, Message, MessageId, Request

from . import protocol
from .protocol import DECODER, RECORDER, Fields, Value


class RequestFailed(Exception):
    """KBUS refused to send the request (e.g. no replier: EADDRNOTAVAIL)."""

    def __init__(self, name: str, err: int) -> None:
        super().__init__(f"{name}: {errno.errorcode.get(err, err)}: {os.strerror(err)}")
        self.name = name
        self.errno = err


class ReplierReplaced(RequestFailed):
    """A stateful request found another replier than the session's (EPIPE)."""


class ReplyTimeout(Exception):
    """No reply within the time allowed."""


@dataclass
class Response:
    """The reply (or KBUS status) to one request."""

    request_id: MessageId
    message: Message
    fields: Fields = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.message.name

    @property
    def is_status(self) -> bool:
        """A KBUS status (the replier went away, ...) rather than a reply."""
        return self.message.name.startswith(protocol.KBUS_PREFIX)

    @property
    def ok(self) -> bool:
        return not self.is_status and self.fields.get("status") == "ok"

    def text(self) -> str:
        """One line: the name, then the payload (or the status's fields)."""
        if self.is_status:
            return (
                f"{self.name} in_reply_to={protocol.format_id(self.request_id)} "
                f"from={self.message.from_}"
            )
        return f"{self.name} {(self.message.data or b'').decode('utf-8', errors='replace')}"


def _key(mid: MessageId) -> tuple[int, int]:
    return (mid.network_id, mid.serial_num)


class Client:
    """One Ksock for sending requests and collecting replies."""

    def __init__(self, device: int = 0, relay: bool = True, max_messages: int = 0) -> None:
        self.ksock = Ksock(device, "rw")
        self.relay = relay
        if max_messages:
            self.ksock.set_max_messages(max_messages)
        self._replies: dict[tuple[int, int], Message] = {}
        self._names: dict[tuple[int, int], str] = {}

    def close(self) -> None:
        self.ksock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        name: str,
        fields: Mapping[str, Value] | None = None,
        to: int = 0,
        data: bytes | None = None,
    ) -> MessageId:
        """Send a request (``data`` overrides the payload built from
        ``fields``); RequestFailed/ReplierReplaced if KBUS refuses it."""
        payload = data if data is not None else protocol.encode(fields or {})
        try:
            mid = self.ksock.send_msg(Request(name, payload, to=to))
        except OSError as exc:
            err = exc.errno or 0
            if err == errno.EPIPE:
                raise ReplierReplaced(name, err) from None
            raise RequestFailed(name, err) from None
        self._names[_key(mid)] = name
        return mid

    def announce(self, name: str, fields: Mapping[str, Value]) -> MessageId:
        return self.ksock.send_msg(Announcement(name, protocol.encode(fields)))

    def _take(self, timeout: float | None) -> Message | None:
        return self.ksock.wait_for_msg(timeout)

    def wait(self, mid: MessageId, timeout: float = 10.0) -> Response:
        """The reply to request ``mid``.  Replies to our other requests that
        come meanwhile are kept for their own wait(); on ReplyTimeout the
        request is given up, and its reply, should it still come, dropped."""
        key = _key(mid)
        deadline = time.monotonic() + timeout
        while key not in self._replies:
            left = deadline - time.monotonic()
            if left <= 0:
                self._names.pop(key, None)  # given up: a late reply is stray
                raise ReplyTimeout(f"no reply to {protocol.format_id(mid)} within {timeout:g} s")
            msg = self._take(left)
            if msg is not None:
                self.keep(msg)
        return self._response(mid, self._replies.pop(key))

    def keep(self, msg: Message) -> bool:
        """Keep ``msg`` if it answers a request still waited for (sent with
        :meth:`send`, neither collected nor given up); False if stray."""
        irt = msg.in_reply_to
        if irt is None or _key(irt) not in self._names:
            return False
        self._replies[_key(irt)] = msg
        return True

    def _response(self, mid: MessageId, msg: Message) -> Response:
        name = self._names.pop(_key(mid), "")
        response = Response(mid, msg)
        if response.is_status:
            if self.relay:
                self.relay_status(response, name)
        else:
            try:
                response.fields = protocol.decode(msg.data)
            except protocol.PayloadError:
                response.fields = {}
        return response

    def relay_status(self, response: Response, request_name: str) -> None:
        """Announce a KBUS status reply so that listeners (the logger) see it."""
        try:
            self.announce(
                protocol.CLIENT_STATUS,
                {
                    "status": response.name,
                    "request": protocol.format_id(response.request_id),
                    "request_name": request_name or None,
                    "replier": response.message.from_,
                },
            )
        except OSError:
            pass

    def request(
        self,
        name: str,
        fields: Mapping[str, Value] | None = None,
        timeout: float = 10.0,
        to: int = 0,
        data: bytes | None = None,
    ) -> Response:
        return self.wait(self.send(name, fields, to=to, data=data), timeout)

    # -- shorthands -------------------------------------------------------------------

    def decoder(self, command: str, timeout: float = 10.0, **fields: Value) -> Response:
        return self.request(DECODER + command, fields, timeout)

    def recorder(self, command: str, timeout: float = 10.0, **fields: Value) -> Response:
        return self.request(RECORDER + command, fields, timeout)

    def logger_counters(self, timeout: float = 10.0) -> Response:
        return self.request(protocol.LOGGER_COUNTERS, {}, timeout)


class RecorderSession:
    """A stateful conversation with one recorder instance.

    The first request goes to whichever recorder is bound; later ones are
    stateful requests to that same Ksock, so if the recorder was replaced in
    between (restarted), KBUS refuses them with EPIPE: ReplierReplaced."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.replier: int | None = None
        self.last_rec: int | None = None

    def request(
        self,
        command: str,
        fields: Mapping[str, Value] | None = None,
        timeout: float = 10.0,
    ) -> Response:
        """A recorder request: to any recorder first, then to the same one."""
        mid = self.client.send(RECORDER + command, fields, to=self.replier or 0)
        response = self.client.wait(mid, timeout)
        if not response.is_status and self.replier is None:
            self.replier = response.message.from_
        if response.ok and command == "Start":
            self.last_rec = int(response.fields["rec"])
        return response

    def start(self, **fields: Value) -> Response:
        return self.request("Start", fields)

    def stop(self, rec: int | None = None) -> Response:
        return self.request("Stop", {"rec": rec if rec is not None else self.last_rec})

    def list_recordings(self, after: int | None = None) -> Response:
        """One page of List: the recordings numbered above ``after``; the
        reply's ``next`` field, if any, is the ``after`` of the next page."""
        return self.request("List", {"after": after})


# -- bursts ---------------------------------------------------------------------------

BURST_PATTERN = ("Tune", "Pause", "Play", "Stop")


def burst_commands(count: int, start: int = 0) -> Iterator[tuple[str, bytes]]:
    """``count`` decoder requests (name, payload): Tune, Pause, Play, Stop, ...
    on changing channels, so that each one changes the decoder's state."""
    for i in range(start, start + count):
        command = BURST_PATTERN[i % len(BURST_PATTERN)]
        if command == "Tune":
            payload = b"channel=%d" % (i // len(BURST_PATTERN) % MAX_BURST_CHANNEL + 1)
        else:
            payload = b""
        yield DECODER + command, payload


MAX_BURST_CHANNEL = 999


@dataclass
class BurstResult:
    sent: int = 0
    ok: int = 0
    errors: int = 0  # status=error replies
    statuses: int = 0  # KBUS status replies (GoneAway ...)
    seconds: float = 0.0

    def text(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"sent={self.sent} ok={self.ok} errors={self.errors} statuses={self.statuses} "
            f"seconds={self.seconds:.2f} rate={rate:.0f}/s"
        )


def burst(
    client: Client,
    commands: Iterator[tuple[str, bytes]],
    window: int = 32,
    timeout: float = 60.0,
    progress: Callable[[BurstResult], None] | None = None,
) -> BurstResult:
    """Send the requests keeping up to ``window`` unanswered (pipelined), and
    collect every reply.  The client's queue limit must exceed ``window``."""
    result = BurstResult()
    outstanding: dict[tuple[int, int], str] = {}
    pending = iter(commands)
    exhausted = False
    t0 = time.monotonic()
    ksock = client.ksock
    while True:
        while not exhausted and len(outstanding) < window:
            try:
                name, payload = next(pending)
            except StopIteration:
                exhausted = True
                break
            mid = client.send(name, data=payload)
            client._names.pop(_key(mid), None)
            outstanding[_key(mid)] = name
            result.sent += 1
        if not outstanding:
            break
        msg = ksock.read_next_msg() or ksock.wait_for_msg(timeout)
        if msg is None:
            raise ReplyTimeout(f"burst: no reply within {timeout:g} s ({result.text()})")
        irt = msg.in_reply_to
        if irt is None or _key(irt) not in outstanding:
            client.keep(msg)  # not one of the burst's: another request's, or stray
            continue
        name = outstanding.pop(_key(irt))
        if msg.name.startswith(protocol.KBUS_PREFIX):
            result.statuses += 1
            if client.relay:
                client.relay_status(Response(irt, msg), name)
        elif (msg.data or b"").startswith(b"status=ok"):
            result.ok += 1
        else:
            result.errors += 1
        if progress is not None and (result.ok + result.errors + result.statuses) % 1000 == 0:
            progress(result)
    result.seconds = time.monotonic() - t0
    return result
