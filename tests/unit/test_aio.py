# SPDX-License-Identifier: MIT
"""Host unit tests of kbus.aio's dispatching, with a fake Ksock (a socket
pair stands for the device's readability): replies matched to requests
among other messages, late replies of timed-out requests dropped, reading
paused while max_buffered messages wait, close.  The real module:
tests/guest/test_aio.py."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import pytest

from kbus import Message, MessageId, Request
from kbus.aio import AsyncKsock


class FakeKsock:
    """Just what AsyncKsock uses; readable while messages are queued."""

    def __init__(self) -> None:
        self._a, self._b = socket.socketpair()
        self.queue: list[Message] = []
        self.sent: list[tuple[MessageId, Message]] = []
        self.reads = 0
        self.closed = False

    def fileno(self) -> int:
        return self._a.fileno()

    def push(self, msg: Message) -> None:
        if not self.queue:
            self._b.send(b"x")
        self.queue.append(msg)

    def read_next_msg(self) -> Message | None:
        if not self.queue:
            return None
        self.reads += 1
        msg = self.queue.pop(0)
        if not self.queue:
            self._a.recv(1)
        return msg

    def send_msg(self, msg: Message) -> MessageId:
        msg_id = MessageId(0, len(self.sent) + 1)
        self.sent.append((msg_id, msg))
        return msg_id

    def reply_to_last(self, data: bytes) -> None:
        msg_id, msg = self.sent[-1]
        self.push(Message(msg.name, data, in_reply_to=msg_id, from_=9))

    def close(self) -> None:
        self.closed = True
        self._a.close()
        self._b.close()


def run(main: Callable[[], Awaitable[None]]) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(main(), 10)

    asyncio.run(bounded())


def test_request_gets_its_reply_and_recv_the_rest() -> None:
    fake = FakeKsock()

    async def main() -> None:
        ak = AsyncKsock(ksock=fake)  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()

        def answer() -> None:
            fake.push(Message("$.News", b"before"))
            fake.reply_to_last(b"answer")
            fake.push(Message("$.News", b"after"))

        loop.call_later(0.05, answer)
        reply = await ak.request("$.Ask", b"q", timeout=5)
        assert (reply.data, reply.in_reply_to) == (b"answer", MessageId(0, 1))
        assert fake.sent[0][1] == Request("$.Ask", b"q")
        assert [(await ak.recv()).data, (await ak.recv()).data] == [b"before", b"after"]
        ak.close()

    run(main)


def test_late_reply_of_a_timed_out_request_is_dropped() -> None:
    fake = FakeKsock()

    async def main() -> None:
        ak = AsyncKsock(ksock=fake)  # type: ignore[arg-type]
        with pytest.raises(asyncio.TimeoutError):
            await ak.request("$.Slow", timeout=0.05)
        assert ak._abandoned == {MessageId(0, 1)} and not ak._pending
        fake.reply_to_last(b"too late")
        fake.push(Message("$.News", b"next"))
        assert (await ak.recv()).data == b"next"
        assert not ak._abandoned and fake.queue == []
        ak.close()

    run(main)


def test_reading_pauses_while_the_buffer_is_full() -> None:
    fake = FakeKsock()

    async def main() -> None:
        ak = AsyncKsock(ksock=fake, max_buffered=2)  # type: ignore[arg-type]
        for i in range(5):
            fake.push(Message("$.N", b"%d" % i))
        assert (await ak.recv()).data == b"0"
        await asyncio.sleep(0.05)
        assert ak.buffered == 2 and len(fake.queue) == 2  # read no further
        got = [(await ak.recv()).data for _ in range(4)]
        assert got == [b"1", b"2", b"3", b"4"]
        ak.close()

    run(main)


def test_close_ends_everything() -> None:
    fake = FakeKsock()

    async def main() -> None:
        ak = AsyncKsock(ksock=fake)  # type: ignore[arg-type]

        async def collect() -> list[Message]:
            return [m async for m in ak]

        collecting = asyncio.create_task(collect())
        asking = asyncio.create_task(ak.request("$.Never"))
        fake.push(Message("$.N", b"one"))
        await asyncio.sleep(0.05)
        ak.close()
        assert [m.data for m in await collecting] == [b"one"]
        with pytest.raises(EOFError):
            await asking
        with pytest.raises(EOFError):
            await ak.recv()
        assert fake.closed

    run(main)


def test_request_needs_a_request() -> None:
    async def main() -> None:
        ak = AsyncKsock(ksock=FakeKsock())  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await ak.request(Message("$.A"))
        with pytest.raises(TypeError):
            await ak.request(Request("$.A"), b"data")
        ak.close()

    run(main)
