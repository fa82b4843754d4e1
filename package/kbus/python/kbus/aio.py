# SPDX-License-Identifier: MIT
"""KBUS for asyncio (CPython): :class:`AsyncKsock`.

An :class:`AsyncKsock` wraps a :class:`kbus.Ksock` for one event loop::

    import asyncio
    from kbus import reply_to
    from kbus.aio import AsyncKsock

    async def replier():
        async with AsyncKsock(0) as ak:
            ak.bind("$.Time.Now", replier=True)
            async for msg in ak:                    # every message, in order
                if msg.wants_us_to_reply():
                    await ak.send(reply_to(msg, b"12:00"))

    async def requester():
        async with AsyncKsock(0) as ak:
            reply = await ak.request("$.Time.Now", timeout=5)
            print(reply.data)

* The Ksock's fd is watched with the loop's ``add_reader``: when it is
  readable, queued messages are read (NEXTMSG + read never block) and
  dispatched - the reply (or the KBUS status that stands for it) to a
  request made with :meth:`AsyncKsock.request` completes that request's
  future (matched on ``in_reply_to``); every other message is buffered for
  :meth:`AsyncKsock.recv` and ``async for``.  At most ``max_buffered``
  messages are buffered: beyond that reading stops, so KBUS's own queue limit
  (and the senders' EBUSY/ALL_OR_WAIT) still applies.
* :meth:`AsyncKsock.send` sends at once; when KBUS holds a send up
  (``ALL_OR_WAIT`` and a full queue: SEND answered EAGAIN) it waits with
  ``add_writer`` - each time the fd is polled for writability KBUS retries
  the delivery - and returns the message id once the send has gone.  Sends
  are serialised (a Ksock has one message in the making).
* A request that times out (or is cancelled) leaves the bus consistent: if
  the request is still held up it is discarded, so no reply will come;
  otherwise its reply (KBUS guarantees one, or a status) is read when it
  arrives and dropped, instead of turning up in :meth:`recv`.
* Everything else is the wrapped Ksock's, in :attr:`AsyncKsock.ksock`
  (``ak.ksock.set_max_messages(...)``, ``ak.ksock.find_replier(...)``).

Closing (``close()``, or leaving ``async with``) closes the Ksock, drops the
buffered messages, ends ``async for`` and makes :meth:`recv` and pending
:meth:`request` calls raise :class:`EOFError`.
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Union

from kbus._native import MessageId
from kbus.core import Message, Request, reply_to
from kbus.ksock import Ksock

__all__ = ["AsyncKsock"]

_DataArg = Union[bytes, bytearray, memoryview, str, None]


class _Closed:
    """What wakes the readers of the buffer when the AsyncKsock closes."""


_CLOSED = _Closed()


class AsyncKsock:
    """A Ksock for asyncio: ``AsyncKsock(which=0, mode='rw')``, or
    ``AsyncKsock(ksock=k)`` to wrap an open :class:`~kbus.Ksock`.

    It belongs to the event loop that first uses it (``recv``, ``send``,
    ``request``).  ``max_buffered`` bounds the messages read ahead of
    :meth:`recv`.
    """

    def __init__(
        self,
        which: int = 0,
        mode: str = "rw",
        *,
        ksock: Ksock | None = None,
        max_buffered: int = 64,
    ) -> None:
        if max_buffered < 1:
            raise ValueError("max_buffered must be at least 1")
        self.ksock: Ksock = ksock if ksock is not None else Ksock(which, mode)
        self.max_buffered = max_buffered
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Message | _Closed] | None = None
        self._send_lock: asyncio.Lock | None = None
        self._pending: dict[MessageId, asyncio.Future[Message]] = {}
        self._abandoned: set[MessageId] = set()
        self._reading = False
        self._started = False
        self._closed = False
        self._error: BaseException | None = None

    # -- plumbing ----------------------------------------------------------------

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._queue = asyncio.Queue()
            self._send_lock = asyncio.Lock()
        elif self._loop is not loop:
            raise RuntimeError("this AsyncKsock belongs to another event loop")
        if self._closed:
            raise EOFError("the AsyncKsock is closed")
        return loop

    def _start_reading(self) -> None:
        self._started = True
        self._update_reader()

    def _update_reader(self) -> None:
        """Watch the fd while there is room in the buffer."""
        if self._loop is None or self._closed:
            return
        assert self._queue is not None
        want = self._started and self._error is None and self._queue.qsize() < self.max_buffered
        if want and not self._reading:
            self._loop.add_reader(self.ksock.fileno(), self._on_readable)
            self._reading = True
        elif not want and self._reading:
            self._loop.remove_reader(self.ksock.fileno())
            self._reading = False

    def _on_readable(self) -> None:
        assert self._queue is not None
        try:
            while self._queue.qsize() < self.max_buffered:
                msg = self.ksock.read_next_msg()
                if msg is None:
                    break
                self._dispatch(msg)
        except OSError as exc:
            self._fail(exc)
            return
        self._update_reader()

    def _dispatch(self, msg: Message) -> None:
        assert self._queue is not None
        in_reply_to = msg.in_reply_to
        if in_reply_to is not None:
            future = self._pending.pop(in_reply_to, None)
            if future is not None:
                if not future.done():
                    future.set_result(msg)
                return
            if in_reply_to in self._abandoned:
                # the reply to a request that timed out or was cancelled
                self._abandoned.discard(in_reply_to)
                return
        self._queue.put_nowait(msg)

    def _fail(self, exc: BaseException) -> None:
        """Reading failed: every waiter gets the error."""
        self._error = exc
        self._update_reader()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()
        if self._queue is not None:
            self._queue.put_nowait(_CLOSED)

    async def _wait_writable(self) -> None:
        assert self._loop is not None
        loop = self._loop
        fd = self.ksock.fileno()
        writable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not writable.done():
                writable.set_result(None)

        loop.add_writer(fd, ready)
        try:
            await writable
        finally:
            if not self._closed:
                loop.remove_writer(fd)

    def _send_resolved(self) -> bool:
        """Poll for writability once: this retries a held-up send; True if
        it has gone (delivered, or dropped by KBUS)."""
        poller = select.poll()
        poller.register(self.ksock.fileno(), select.POLLOUT)
        return bool(poller.poll(0))

    async def _send(self, message: Message, future: asyncio.Future[Message] | None) -> MessageId:
        """Send; with ``future``, register it for the reply as soon as the id
        is known (before waiting for a held-up send)."""
        self._bind_loop()
        assert self._send_lock is not None
        async with self._send_lock:
            try:
                msg_id = self.ksock.send_msg(message)
            except BlockingIOError as exc:
                held: MessageId = exc.msg_id  # type: ignore[attr-defined]
                msg_id = held
                if future is not None:
                    self._pending[msg_id] = future
                try:
                    await self._wait_writable()
                except BaseException:
                    if not self._closed and not self._send_resolved():
                        self.ksock.discard()  # nothing was sent: no reply will come
                        self._pending.pop(msg_id, None)
                    raise
                self.ksock.complete_send(0)
                return msg_id
            if future is not None:
                self._pending[msg_id] = future
            return msg_id

    # -- the Ksock ----------------------------------------------------------------

    def bind(self, name: str | bytes, replier: bool = False) -> None:
        """Bind to a message name (or wildcard), as a listener or replier."""
        self.ksock.bind(name, replier)

    def unbind(self, name: str | bytes, replier: bool = False) -> None:
        """Remove a binding."""
        self.ksock.unbind(name, replier)

    def ksock_id(self) -> int:
        return self.ksock.ksock_id()

    @property
    def buffered(self) -> int:
        """How many messages have been read ahead of :meth:`recv`."""
        if self._queue is None or self._closed or self._error is not None:
            return 0
        return self._queue.qsize()

    # -- receiving -------------------------------------------------------------------

    async def recv(self) -> Message:
        """The next message (that is not the reply to one of our
        :meth:`request` calls), waiting for one if need be."""
        self._bind_loop()
        self._start_reading()
        assert self._queue is not None
        item = await self._queue.get()
        if isinstance(item, _Closed):
            self._queue.put_nowait(item)  # for the other readers
            if self._error is not None and not self._closed:
                raise self._error
            raise EOFError("the AsyncKsock is closed")
        self._update_reader()
        return item

    def __aiter__(self) -> AsyncIterator[Message]:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.recv()
        except EOFError:
            raise StopAsyncIteration from None

    # -- sending -----------------------------------------------------------------------

    async def send(self, message: Message, timeout: float | None = None) -> MessageId:
        """Send ``message``; return its id.  If KBUS holds the send up
        (``ALL_OR_WAIT``), wait until it has gone; if that takes longer
        than ``timeout`` seconds, the send is discarded and
        :class:`TimeoutError` raised.  KBUS's refusals (EBUSY, EPIPE,
        EADDRNOTAVAIL, ...) are raised as :class:`OSError`."""
        return await asyncio.wait_for(self._send(message, None), timeout)

    async def reply(self, request: Message, data: _DataArg = None, flags: int = 0) -> MessageId:
        """``await send(reply_to(request, data, flags))``."""
        return await self.send(reply_to(request, data, flags))

    async def request(
        self,
        message: Message | str,
        data: _DataArg = None,
        *,
        timeout: float | None = None,
    ) -> Message:
        """Send a request and return its reply.

        ``message`` is a Request (or any message with WANT_A_REPLY), or a
        name, for ``Request(message, data)``.  The reply is the message
        whose ``in_reply_to`` is the request's id: the Reply, or the KBUS
        status that stands for it (``$.KBUS.Replier.GoneAway``, ``...Ignored``,
        ``...Unbound``, ``...Disappeared``, ``$.KBUS.ErrorSending``; its
        ``cast()`` is a :class:`~kbus.Status`).  After ``timeout`` seconds
        (send and reply together) :class:`TimeoutError` is raised and the
        reply, should it come, is dropped.
        """
        if isinstance(message, str):
            message = Request(message, data)
        elif data is not None:
            raise TypeError("data goes with a name, not with a message")
        if not message.is_request():
            raise ValueError(f"not a request (WANT_A_REPLY is not set): {message}")
        loop = self._bind_loop()
        self._start_reading()
        future: asyncio.Future[Message] = loop.create_future()
        return await asyncio.wait_for(self._request(message, future), timeout)

    async def _request(self, message: Message, future: asyncio.Future[Message]) -> Message:
        try:
            await self._send(message, future)
            return await future
        finally:
            if not future.done():
                future.cancel()
            # still registered: sent, but no reply yet; drop it when it comes
            for key, waiting in list(self._pending.items()):
                if waiting is future:
                    del self._pending[key]
                    if not self._closed:
                        self._abandoned.add(key)

    # -- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the Ksock; :meth:`recv` and pending requests get EOFError."""
        if self._closed:
            return
        self._closed = True
        if self._reading and self._loop is not None:
            self._loop.remove_reader(self.ksock.fileno())
            self._reading = False
        for future in self._pending.values():
            if not future.done():
                future.set_exception(EOFError("the AsyncKsock was closed"))
        self._pending.clear()
        self._abandoned.clear()
        if self._queue is not None:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(_CLOSED)
        self.ksock.close()

    async def __aenter__(self) -> AsyncKsock:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AsyncKsock {self.ksock!r}>"
