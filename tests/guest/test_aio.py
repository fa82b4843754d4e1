# SPDX-License-Identifier: MIT
"""kbus.aio, the asyncio interface, against the real module: recv and async
for, requests matched to their replies among other messages, concurrent
requests, statuses standing for replies, timeouts that leave the bus
consistent, ALL_OR_WAIT sends and requests held up by full queues, close."""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable

import pytest
from kbus import Announcement, Ksock, Message, Reply, Request, Status, reply_to
from kbus.aio import AsyncKsock

import kbus_util as util
from kbus_util import KsockFactory, fill

WAIT = Message.ALL_OR_WAIT


def run(main: Callable[[], Awaitable[None]], timeout: float = 40) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(main(), timeout)

    asyncio.run(bounded())


def test_recv_and_async_for(ksock: KsockFactory) -> None:
    sender = ksock()

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            ak.bind("$.Aio.*")
            for i in range(3):
                sender.send_msg(Announcement("$.Aio.News", b"%d" % i))
            first = await ak.recv()
            assert first.data == b"0" and first.from_ == sender.ksock_id()
            got = []
            async for msg in ak:
                got.append(msg.data)
                if len(got) == 2:
                    break
            assert got == [b"1", b"2"]
            # a message sent while recv() waits wakes it
            asyncio.get_running_loop().call_later(
                0.2, sender.send_msg, Announcement("$.Aio.Late", b"late")
            )
            assert (await ak.recv()).data == b"late"
            assert ak.buffered == 0

    run(main)


async def _serve(replier: AsyncKsock, prefix: bytes = b"re:") -> None:
    async for msg in replier:
        if msg.wants_us_to_reply():
            await replier.reply(msg, prefix + (msg.data or b""))


def test_concurrent_requests_get_their_own_replies(ksock: KsockFactory) -> None:
    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as r, AsyncKsock(ksock=ksock()) as q:
            r.bind("$.Aio.Q", replier=True)
            server = asyncio.create_task(_serve(r))
            replies = await asyncio.gather(
                *(q.request("$.Aio.Q", b"%d" % i, timeout=20) for i in range(20))
            )
            assert [m.data for m in replies] == [b"re:%d" % i for i in range(20)]
            assert all(m.from_ == r.ksock_id() for m in replies)
            req = Request("$.Aio.Q", b"msg")
            reply = await q.request(req, timeout=20)
            assert reply.data == b"re:msg" and isinstance(reply.cast(), Reply)
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
            assert q.ksock.num_messages() == 0 and r.ksock.num_unreplied_to() == 0

    run(main)


def test_request_among_other_messages(ksock: KsockFactory) -> None:
    # The requester also listens: announcements before and after the reply
    # go to recv(), in order; the reply goes to request().
    answerer, news = ksock(), ksock()
    answerer.bind("$.Aio.Ask", replier=True)

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            ak.bind("$.Aio.News")
            loop = asyncio.get_running_loop()

            def answer() -> None:
                req = answerer.read_next_msg()
                assert req is not None
                news.send_msg(Announcement("$.Aio.News", b"before"))
                answerer.send_msg(reply_to(req, b"answer"))
                news.send_msg(Announcement("$.Aio.News", b"after"))

            loop.call_later(0.2, answer)
            reply = await ak.request("$.Aio.Ask", b"q", timeout=20)
            assert reply.data == b"answer"
            assert (await ak.recv()).data == b"before"
            assert (await ak.recv()).data == b"after"

    run(main)


def test_a_status_stands_for_the_reply(ksock: KsockFactory) -> None:
    answerer = ksock()
    answerer.bind("$.Aio.Gone", replier=True)

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            asyncio.get_running_loop().call_later(0.2, answerer.close)
            reply = await ak.request("$.Aio.Gone", timeout=20)
            assert reply.name == "$.KBUS.Replier.GoneAway"
            assert isinstance(reply.cast(), Status)

    run(main)


def test_request_timeout_leaves_the_bus_consistent(ksock: KsockFactory) -> None:
    slow = ksock()
    slow.bind("$.Aio.Slow", replier=True)

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            with pytest.raises(asyncio.TimeoutError):
                await ak.request("$.Aio.Slow", b"1", timeout=0.3)
            # the replier answers late: the reply is read and dropped
            late = slow.read_next_msg()
            assert late is not None and late.data == b"1"
            slow.send_msg(reply_to(late, b"too late"))
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(ak.recv(), 0.5)
            assert ak.ksock.num_messages() == 0 and not ak._abandoned
            # and the next request works
            loop = asyncio.get_running_loop()

            def answer() -> None:
                req = slow.read_next_msg()
                assert req is not None
                slow.send_msg(reply_to(req, b"in time"))

            loop.call_later(0.2, answer)
            assert (await ak.request("$.Aio.Slow", b"2", timeout=20)).data == b"in time"
            assert slow.num_unreplied_to() == 0

    run(main)


def test_send_all_or_wait_waits_for_room(ksock: KsockFactory) -> None:
    listener = ksock()
    listener.bind("$.Aio.Full")
    fill(listener, 1)

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            loop = asyncio.get_running_loop()
            loop.call_later(0.3, listener.read_next_msg)  # the filler
            sent = await ak.send(
                Announcement("$.Aio.Full", b"held", flags=WAIT), timeout=20
            )
            got = util.one_msg(listener)
            assert (got.id, got.data) == (sent, b"held")
            # a send that never finds room is discarded after its timeout
            fill(listener, 1)
            with pytest.raises(asyncio.TimeoutError):
                await ak.send(
                    Announcement("$.Aio.Full", b"never", flags=WAIT), timeout=0.3
                )
            util.drain(listener)
            await ak.send(Announcement("$.Aio.Full", b"next"))  # no EALREADY
            assert [m.data for m in util.drain(listener)] == [b"next"]

    run(main)


def test_request_held_up_by_a_full_replier(ksock: KsockFactory) -> None:
    answerer = ksock()
    answerer.bind("$.Aio.Busy", replier=True)
    fill(answerer, 1)

    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            loop = asyncio.get_running_loop()

            def make_room_then_answer() -> None:
                util.drain(answerer)
                loop.call_later(0.3, answer)

            def answer() -> None:
                req = answerer.read_next_msg()
                assert req is not None and req.data == b"busy?"
                answerer.send_msg(reply_to(req, b"not any more"))

            loop.call_later(0.3, make_room_then_answer)
            req = Request("$.Aio.Busy", b"busy?", flags=WAIT)
            assert (await ak.request(req, timeout=20)).data == b"not any more"

    run(main)


def test_send_errors_are_raised(ksock: KsockFactory) -> None:
    async def main() -> None:
        async with AsyncKsock(ksock=ksock()) as ak:
            with pytest.raises(OSError) as info:
                await ak.request("$.Aio.Nobody", timeout=5)
            assert info.value.errno == errno.EADDRNOTAVAIL
            assert not ak._pending and not ak._abandoned
            with pytest.raises(ValueError):
                await ak.request(Announcement("$.Aio.Nobody"))

    run(main)


def test_close_ends_recv_async_for_and_requests(ksock: KsockFactory) -> None:
    answerer = ksock()
    answerer.bind("$.Aio.Never", replier=True)

    async def main() -> None:
        ak = AsyncKsock(ksock=ksock())
        ak.bind("$.Aio.Nothing")

        async def iterate() -> list[Message]:
            return [m async for m in ak]

        iterating = asyncio.create_task(iterate())
        receiving = asyncio.create_task(ak.recv())
        requesting = asyncio.create_task(ak.request("$.Aio.Never", timeout=20))
        await asyncio.sleep(0.3)
        ak.close()
        assert await iterating == []
        with pytest.raises(EOFError):
            await receiving
        with pytest.raises(EOFError):
            await requesting
        with pytest.raises(EOFError):
            await ak.recv()
        assert ak.ksock.fd is None

    run(main)


def test_wraps_an_open_ksock(ksock: KsockFactory) -> None:
    k: Ksock = ksock()

    async def main() -> None:
        ak = AsyncKsock(ksock=k)
        assert ak.ksock is k and ak.ksock_id() == k.ksock_id()
        ak.close()
        assert k.fd is None

    run(main)
