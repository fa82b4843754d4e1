# SPDX-License-Identifier: MIT
"""Receiving (§9): NEXTMSG consumes, MSGONLYONCE (§9.2, with the §18.18 fix)
and URGENT (§9.3)."""

from __future__ import annotations

from kbus import Announcement, MessageId, Request, reply_to

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory

# --------------------------------------------------------------------------
# §9.1


def test_a_popped_but_unread_message_is_consumed(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.A")
    s = ksock()
    s.send_msg(Announcement("$.R.A", b"1"))
    s.send_msg(Announcement("$.R.A", b"2"))
    k.next_msg()
    k.next_msg()
    assert k.num_messages() == 0
    assert k.read_next_msg() is None


def test_queue_is_fifo_for_normal_messages(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.*")
    s = ksock()
    ids = [s.send_msg(Announcement(f"$.R.N{i}")) for i in range(5)]
    assert [m.id for m in util.drain(k)] == ids


def test_iterating_a_ksock_yields_queued_messages(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.It")
    s = ksock()
    for i in range(3):
        s.send_msg(Announcement("$.R.It", bytes([i])))
    assert [m.data for m in k] == [b"\0", b"\1", b"\2"]
    assert list(k) == []


# --------------------------------------------------------------------------
# MSGONLYONCE (§9.2)


def test_by_default_one_copy_per_matching_binding(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.Once")
    k.bind("$.R.Once")
    k.bind("$.R.*")
    ksock().send_msg(Announcement("$.R.Once"))
    assert k.num_messages() == 3


def test_only_once_gives_a_single_copy(ksock: KsockFactory) -> None:
    k = ksock()
    assert k.want_messages_once(True) == 0
    k.bind("$.R.Once")
    k.bind("$.R.Once")
    k.bind("$.R.*")
    k.bind("$.*")
    sent = ksock().send_msg(Announcement("$.R.Once"))
    assert [m.id for m in util.drain(k)] == [sent]


def test_only_once_does_not_collapse_distinct_messages(ksock: KsockFactory) -> None:
    k = ksock()
    k.want_messages_once(True)
    k.bind("$.R.Once")
    k.bind("$.R.*")
    s = ksock()
    a = s.send_msg(Announcement("$.R.Once"))
    b = s.send_msg(Announcement("$.R.Once"))
    assert [m.id for m in util.drain(k)] == [a, b]


def test_only_once_does_not_collapse_sends_with_the_same_non_local_id(
    ksock: KsockFactory,
) -> None:
    # §18.18: two distinct sends carrying the same preserved id {5,7}
    k = ksock()
    k.want_messages_once(True)
    k.bind("$.R.Once")
    k.bind("$.R.*")
    s = ksock()
    remote = MessageId(5, 7)
    assert s.send_msg(Announcement("$.R.Once", b"first", id=remote)) == remote
    assert s.send_msg(Announcement("$.R.Once", b"second", id=remote)) == remote
    msgs = util.drain(k)
    assert [(m.id, m.data) for m in msgs] == [(remote, b"first"), (remote, b"second")]


def test_only_once_collapses_copies_of_one_send_with_a_non_local_id(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.want_messages_once(True)
    k.bind("$.R.Once")
    k.bind("$.R.*")
    ksock().send_msg(Announcement("$.R.Once", id=MessageId(5, 8)))
    assert k.num_messages() == 1


def test_only_once_keeps_the_replier_copy_of_a_request(ksock: KsockFactory) -> None:
    k = ksock()
    k.want_messages_once(True)
    k.bind("$.R.Ask", replier=True)
    k.bind("$.R.Ask")
    k.bind("$.R.*")
    sent = ksock().send_msg(Request("$.R.Ask"))
    msgs = util.drain(k)
    assert [(m.id, m.flags) for m in msgs] == [
        (sent, raw.WANT_A_REPLY | raw.WANT_YOU_TO_REPLY)
    ]


def test_only_once_requester_gets_only_the_requester_copy_of_the_reply(
    ksock: KsockFactory,
) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.R.Ask", replier=True)
    asker.bind("$.R.Ask")
    asker.want_messages_once(True)
    req_id = asker.send_msg(Request("$.R.Ask"))
    assert [m.id for m in util.drain(asker)] == [req_id]  # its listener copy
    replier.send_msg(reply_to(util.one_msg(replier)))
    replies = util.drain(asker)
    assert len(replies) == 1 and replies[0].in_reply_to == req_id


def test_without_only_once_a_listening_requester_gets_the_reply_twice(
    ksock: KsockFactory,
) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.R.Ask", replier=True)
    asker.bind("$.R.Ask")
    req_id = asker.send_msg(Request("$.R.Ask"))
    util.drain(asker)
    replier.send_msg(reply_to(util.one_msg(replier)))
    replies = util.drain(asker)
    assert [m.in_reply_to for m in replies] == [req_id, req_id]


def test_only_once_change_applies_to_later_messages_only(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.Once")
    k.bind("$.R.Once")
    s = ksock()
    s.send_msg(Announcement("$.R.Once"))
    assert k.num_messages() == 2
    k.want_messages_once(True)
    assert k.num_messages() == 2, "already queued copies stay"
    s.send_msg(Announcement("$.R.Once"))
    assert k.num_messages() == 3
    k.want_messages_once(False)
    s.send_msg(Announcement("$.R.Once"))
    assert k.num_messages() == 5


# --------------------------------------------------------------------------
# URGENT (§9.3)


def test_urgent_message_goes_to_the_front(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.U")
    s = ksock()
    a = s.send_msg(Announcement("$.R.U", b"a"))
    b = s.send_msg(Announcement("$.R.U", b"b"))
    u = s.send_msg(Announcement("$.R.U", b"u", flags=raw.URGENT))
    assert [m.id for m in util.drain(k)] == [u, a, b]


def test_consecutive_urgent_messages_come_out_in_reverse_order(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.R.U")
    s = ksock()
    a = s.send_msg(Announcement("$.R.U"))
    u1 = s.send_msg(Announcement("$.R.U", flags=raw.URGENT))
    u2 = s.send_msg(Announcement("$.R.U", flags=raw.URGENT))
    u3 = s.send_msg(Announcement("$.R.U", flags=raw.URGENT))
    b = s.send_msg(Announcement("$.R.U"))
    assert [m.id for m in util.drain(k)] == [u3, u2, u1, a, b]


def test_urgent_flag_is_preserved_in_delivered_copies(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.R.U")
    ksock().send_msg(Announcement("$.R.U", flags=raw.URGENT))
    msg = util.one_msg(k)
    assert msg.flags == raw.URGENT and msg.is_urgent()


def test_urgent_request_listener_copy_is_ahead_of_the_replier_copy(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.R.UQ", replier=True)
    k.bind("$.R.UQ")
    sent = ksock().send_msg(Request("$.R.UQ", flags=raw.URGENT))
    msgs = util.drain(k)
    assert [(m.id, m.flags) for m in msgs] == [
        (sent, raw.URGENT | raw.WANT_A_REPLY),
        (sent, raw.URGENT | raw.WANT_A_REPLY | raw.WANT_YOU_TO_REPLY),
    ]


def test_urgent_goes_to_the_front_of_every_recipient(ksock: KsockFactory) -> None:
    k1, k2 = ksock(), ksock()
    k1.bind("$.R.U")
    k2.bind("$.R.*")
    s = ksock()
    a = s.send_msg(Announcement("$.R.U"))
    u = s.send_msg(Announcement("$.R.U", flags=raw.URGENT))
    assert [m.id for m in util.drain(k1)] == [u, a]
    assert [m.id for m in util.drain(k2)] == [u, a]


def test_status_messages_are_appended_at_the_tail(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.R.Ask", replier=True)
    asker.bind("$.R.Noise")
    req = asker.send_msg(Request("$.R.Ask"))
    noise = ksock().send_msg(Announcement("$.R.Noise"))
    replier.close()
    msgs = util.drain(asker)
    assert [m.id for m in msgs][:1] == [noise]
    assert msgs[1].name == raw.NAME_GONEAWAY and msgs[1].in_reply_to == req
