# SPDX-License-Identifier: MIT
"""The SEND algorithm (§8.1, §8.3): who receives what, and the order of the
mandatory checks. Queue limits, the send flags and the sending state are in
test_queues.py; replies and status messages in test_requests.py; what SEND
changes in the header (§4.10) in test_readwrite.py."""

from __future__ import annotations

import errno

from kbus import Announcement, Ksock, Message, Reply, Request

import kbus_util as util
from kbus_util import KsockFactory, fill, raises_errno


def _pair(ksock: KsockFactory, name: str = "$.Send.Q") -> tuple[Ksock, Ksock]:
    asker, replier = ksock(), ksock()
    replier.bind(name, replier=True)
    return asker, replier


def test_announcement_reaches_every_matching_listener_once(ksock: KsockFactory) -> None:
    a, b, c = ksock(), ksock(), ksock()
    a.bind("$.Send.A")
    b.bind("$.Send.*")
    c.bind("$.Other")
    sent = ksock().send_msg(Announcement("$.Send.A", b"x"))
    assert [m.id for m in util.drain(a)] == [sent]
    assert [m.id for m in util.drain(b)] == [sent]
    assert c.num_messages() == 0


def test_request_reaches_the_replier_and_every_listener(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock, "$.Send.Q")
    listeners = [ksock() for _ in range(3)]
    for k, name in zip(listeners, ("$.Send.Q", "$.Send.*", "$.*"), strict=True):
        k.bind(name)
    sent = asker.send_msg(Request("$.Send.Q"))
    assert util.one_msg(replier).id == sent
    for k in listeners:
        assert [m.id for m in util.drain(k)] == [sent]
    assert asker.num_messages() == 0, "the sender gets nothing back by itself"


def test_mandatory_failure_delivers_nothing_to_listeners(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock, "$.Send.Q")
    listener = ksock()
    listener.bind("$.Send.Q")
    fill(replier)
    with raises_errno(errno.EBUSY):
        asker.send_msg(Request("$.Send.Q"))
    assert listener.num_messages() == 0


def test_request_without_a_replier_gives_eaddrnotavail(ksock: KsockFactory) -> None:
    k = ksock()
    listener = ksock()
    listener.bind("$.Send.Nobody")
    with raises_errno(errno.EADDRNOTAVAIL):
        k.send_msg(Request("$.Send.Nobody"))
    assert listener.num_messages() == 0
    with raises_errno(errno.ENOMSG):
        k.send()


def test_request_without_a_replier_gives_eaddrnotavail_before_listener_checks(
    ksock: KsockFactory,
) -> None:
    listener = ksock()
    listener.bind("$.Send.Nobody")
    fill(listener)
    with raises_errno(errno.EADDRNOTAVAIL):
        ksock().send_msg(Request("$.Send.Nobody", flags=Message.ALL_OR_FAIL))


def test_reply_checks_come_before_listener_checks(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.Send.Q")
    req_id = asker.send_msg(Request("$.Send.Q"))
    util.one_msg(replier)
    util.one_msg(listener)
    fill(listener)
    bogus = Reply(
        "$.Send.Q",
        to=asker.ksock_id(),
        in_reply_to=req_id + 99,
        flags=Message.ALL_OR_FAIL,
    )
    with raises_errno(errno.ECONNREFUSED):
        replier.send_msg(bogus)


def test_epipe_is_checked_before_replier_room(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    other = ksock()
    fill(replier)
    with raises_errno(errno.EPIPE):
        asker.send_msg(Request("$.Send.Q", to=other.ksock_id()))


def test_announcement_to_field_is_not_used_for_routing(ksock: KsockFactory) -> None:
    target, listener = ksock(), ksock()
    listener.bind("$.Send.Ann")
    ksock().send_msg(Announcement("$.Send.Ann", to=target.ksock_id()))
    assert target.num_messages() == 0
    assert util.one_msg(listener).to == target.ksock_id()


def test_announcement_without_listeners_is_dropped_successfully(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    sent = k.send_msg(Announcement("$.Send.Nobody.Listens"))
    assert sent.serial_num != 0 and k.last_msg_id() == sent
