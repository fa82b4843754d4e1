# SPDX-License-Identifier: MIT
"""Requests, replies and KBUS-generated status messages (§11): the reply
guarantee, stateful requests and EPIPE, and the poll-retry compensation
messages of §8.4 (with the §18.7 and §18.14 fixes)."""

from __future__ import annotations

import errno
import select
import signal

from kbus import (
    Announcement,
    Ksock,
    Message,
    MessageId,
    Reply,
    Request,
    reply_to,
    stateful_request,
)

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, fill, poll_out, raises_errno

WAIT = Message.ALL_OR_WAIT


def _pair(ksock: KsockFactory, name: str = "$.Req.Q") -> tuple[Ksock, Ksock]:
    asker, replier = ksock(), ksock()
    replier.bind(name, replier=True)
    return asker, replier


def _assert_status(
    msg: Message, name: str, to: int, from_: int, in_reply_to: MessageId
) -> None:
    assert msg.name == name
    assert msg.to == to
    assert msg.from_ == from_
    assert msg.in_reply_to == in_reply_to
    assert msg.flags == raw.SYNTHETIC
    assert msg.data is None
    assert msg.orig_from is None and msg.final_to is None
    assert msg.id is not None and msg.id.network_id == 0
    assert msg.id.serial_num > in_reply_to.serial_num


# --------------------------------------------------------------------------
# Request and reply


def test_request_reply_round_trip(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q", b"hello"))
    req = util.one_msg(replier)
    assert req.id == req_id and req.from_ == asker.ksock_id()
    assert req.flags == raw.WANT_A_REPLY | raw.WANT_YOU_TO_REPLY
    assert req.wants_us_to_reply() and req.in_reply_to is None and req.to == 0
    rep_id = replier.send_msg(reply_to(req, b"hi"))
    rep = asker.wait_for_msg(5.0)
    assert rep is not None
    assert rep.id == rep_id and rep.in_reply_to == req_id
    assert rep.to == asker.ksock_id() and rep.from_ == replier.ksock_id()
    assert rep.name == "$.Req.Q" and rep.data == b"hi"
    assert rep.flags == 0 and rep.is_reply()


def test_listener_gets_the_request_with_want_a_reply_only(ksock: KsockFactory) -> None:
    asker, _replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.Req.Q")
    req_id = asker.send_msg(Request("$.Req.Q"))
    msg = util.one_msg(listener)
    assert (msg.id, msg.flags) == (req_id, raw.WANT_A_REPLY)
    assert not msg.wants_us_to_reply()


def test_reply_goes_to_requester_and_listeners_but_not_the_replier(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.Req.*")
    req_id = asker.send_msg(Request("$.Req.Q"))
    util.one_msg(listener)
    rep_id = replier.send_msg(reply_to(util.one_msg(replier)))
    assert util.one_msg(asker).id == rep_id
    heard = util.one_msg(listener)
    assert (heard.id, heard.in_reply_to) == (rep_id, req_id)
    assert replier.num_messages() == 0


def test_reply_to_an_unlistened_name_reaches_only_the_requester(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    bystander = ksock()
    asker.send_msg(Request("$.Req.Q"))
    replier.send_msg(reply_to(util.one_msg(replier)))
    assert asker.num_messages() == 1 and bystander.num_messages() == 0


def test_second_reply_gives_econnrefused(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    asker.send_msg(Request("$.Req.Q"))
    req = util.one_msg(replier)
    replier.send_msg(reply_to(req))
    before = replier.last_msg_id()
    with raises_errno(errno.ECONNREFUSED):
        replier.send_msg(reply_to(req))
    assert replier.last_msg_id() == before + 1  # an id was assigned
    assert asker.num_messages() == 1


def test_reply_with_an_unknown_in_reply_to_gives_econnrefused(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q"))
    util.one_msg(replier)
    bogus = Reply("$.Req.Q", to=asker.ksock_id(), in_reply_to=req_id + 1000)
    with raises_errno(errno.ECONNREFUSED):
        replier.send_msg(bogus)


def test_reply_to_a_ksock_not_expecting_it_gives_econnrefused(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    other = ksock()
    req_id = asker.send_msg(Request("$.Req.Q"))
    util.one_msg(replier)
    with raises_errno(errno.ECONNREFUSED):
        replier.send_msg(Reply("$.Req.Q", to=other.ksock_id(), in_reply_to=req_id))


def test_reply_to_a_ksock_that_never_existed_gives_eaddrnotavail(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    with raises_errno(errno.EADDRNOTAVAIL):
        k.send_msg(Reply("$.Req.Q", to=0x7FFFFFF0, in_reply_to=MessageId(0, 1)))
    assert k.last_msg_id() != MessageId(0, 0)


def test_reply_to_a_closed_requester_gives_eaddrnotavail_and_clears_the_owed_entry(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.Req.Q")
    asker.send_msg(Request("$.Req.Q"))
    util.one_msg(listener)
    req = util.one_msg(replier)
    assert replier.num_unreplied_to() == 1
    asker.close()
    with raises_errno(errno.EADDRNOTAVAIL):
        replier.send_msg(reply_to(req))
    assert replier.num_unreplied_to() == 0
    assert listener.num_messages() == 0, "a failed reply reaches nobody"


def test_any_ksock_may_answer_a_request_by_its_id(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    third = ksock()
    req_id = asker.send_msg(Request("$.Req.Q"))
    util.one_msg(replier)
    third.send_msg(
        Reply("$.Req.Q", b"not the replier", to=asker.ksock_id(), in_reply_to=req_id)
    )
    rep = util.one_msg(asker)
    assert (rep.from_, rep.data) == (third.ksock_id(), b"not the replier")
    # only the actual replier's reply clears its owed entry
    assert replier.num_unreplied_to() == 1
    with raises_errno(errno.ECONNREFUSED):
        replier.send_msg(Reply("$.Req.Q", to=asker.ksock_id(), in_reply_to=req_id))


# --------------------------------------------------------------------------
# Status messages (§11.3)


def test_replier_closing_with_the_request_unread_sends_goneaway(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    replier_id = replier.ksock_id()
    req_id = asker.send_msg(Request("$.Req.Q"))
    replier.close()
    status = util.one_msg(asker)
    _assert_status(status, raw.NAME_GONEAWAY, asker.ksock_id(), replier_id, req_id)
    assert status.is_synthetic() and status.is_reply()
    assert str(status).startswith("<Status '$.KBUS.Replier.GoneAway'")
    assert asker.num_messages() == 0


def test_replier_unbinding_with_the_request_unread_sends_unbound(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q"))
    replier.unbind("$.Req.Q", replier=True)
    assert replier.num_messages() == 0, "the request is removed from its queue"
    status = util.one_msg(asker)
    _assert_status(
        status, raw.NAME_UNBOUND, asker.ksock_id(), replier.ksock_id(), req_id
    )


def test_replier_closing_after_popping_sends_ignored(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    replier_id = replier.ksock_id()
    req_id = asker.send_msg(Request("$.Req.Q"))
    util.one_msg(replier)
    replier.close()
    status = util.one_msg(asker)
    _assert_status(status, raw.NAME_IGNORED, asker.ksock_id(), replier_id, req_id)


def test_request_popped_but_never_read_still_gets_ignored(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q"))
    assert replier.next_msg() > 0
    replier.close()
    status = util.one_msg(asker)
    assert (status.name, status.in_reply_to) == (raw.NAME_IGNORED, req_id)


def test_each_unanswered_request_gets_its_own_status(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    popped = [asker.send_msg(Request("$.Req.Q")) for _ in range(2)]
    util.one_msg(replier)
    util.one_msg(replier)
    queued = [asker.send_msg(Request("$.Req.Q")) for _ in range(2)]
    replier.close()
    got = {
        (m.name, m.in_reply_to.serial_num) for m in util.drain(asker) if m.in_reply_to
    }
    assert got == {(raw.NAME_GONEAWAY, i.serial_num) for i in queued} | {
        (raw.NAME_IGNORED, i.serial_num) for i in popped
    }


def test_answered_requests_get_no_status_at_close(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    asker.send_msg(Request("$.Req.Q"))
    replier.send_msg(reply_to(util.one_msg(replier)))
    replier.close()
    msgs = util.drain(asker)
    assert len(msgs) == 1 and not msgs[0].is_synthetic()


def test_popped_request_survives_unbind_and_can_still_be_answered(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q"))
    req = util.one_msg(replier)
    replier.unbind("$.Req.Q", replier=True)
    assert asker.num_messages() == 0, "no Unbound for a popped request"
    assert replier.num_unreplied_to() == 1
    replier.send_msg(reply_to(req, b"still here"))
    rep = util.one_msg(asker)
    assert (rep.in_reply_to, rep.data) == (req_id, b"still here")


def test_status_messages_are_not_sent_to_listeners(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.*")
    listener.bind("$.KBUS.*")
    listener.bind(raw.NAME_GONEAWAY)
    asker.send_msg(Request("$.Req.Q"))
    util.drain(listener)  # the request copies
    replier.close()
    assert util.one_msg(asker).name == raw.NAME_GONEAWAY
    assert listener.num_messages() == 0


def test_status_messages_consume_serial_numbers(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    asker.send_msg(Request("$.Req.Q"))
    replier.close()
    status = util.one_msg(asker)
    assert status.id is not None
    nxt = asker.send_msg(Announcement("$.Req.After"))
    assert nxt == status.id + 1


def test_status_reply_frees_the_reservation(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock)
    asker.set_max_messages(1)
    asker.send_msg(Request("$.Req.Q"))
    replier.close()
    util.one_msg(asker)
    replier2 = ksock()
    replier2.bind("$.Req.Q", replier=True)
    asker.send_msg(Request("$.Req.Q"))  # no ENOLCK


def test_answered_requests_leave_their_reservations_to_the_next_ones(
    ksock: KsockFactory,
) -> None:
    """A requester keeps the answer reservations of its answered requests
    for its next ones: between requests it holds no bytes, and a request
    sent on a reused reservation still gets its status answer (of any
    length) when its replier lets it go."""
    asker, replier = _pair(ksock)
    for i in range(20):
        req_id = asker.send_msg(Request("$.Req.Q", b"%d" % i))
        replier.send_msg(reply_to(util.one_msg(replier), b"ok"))
        answer = util.one_msg(asker)
        assert answer.in_reply_to == req_id and answer.data == b"ok"
        assert util.device_bytes_held() == (0, 0)

    req_id = asker.send_msg(Request("$.Req.Q"))
    replier.unbind("$.Req.Q", replier=True)
    status = util.one_msg(asker)
    _assert_status(
        status, raw.NAME_UNBOUND, asker.ksock_id(), replier.ksock_id(), req_id
    )
    replier.bind("$.Req.Q", replier=True)
    req_id = asker.send_msg(Request("$.Req.Q"))
    replier_id = replier.ksock_id()
    replier.close()
    status = util.one_msg(asker)
    _assert_status(status, raw.NAME_GONEAWAY, asker.ksock_id(), replier_id, req_id)
    assert util.device_bytes_held() == (0, 0)


# --------------------------------------------------------------------------
# Repliers killed mid-request


def _replier_child(mode: str) -> util.Child:
    """A child process bound as replier to $.Req.Killed. ``mode``: "wait"
    (never pops), "pop" (pops and reads the request) or "partial" (pops and
    reads 10 bytes). It then waits to be killed."""

    def target(conn: util.ChildConn) -> object:
        with Ksock(0) as k:
            k.bind("$.Req.Killed", replier=True)
            conn.send(("ready", k.ksock_id()))
            if mode != "wait":
                r, _, _ = select.select([k], [], [], 20)
                assert r, "no request arrived"
                length = k.next_msg()
                assert length > 10
                assert len(k.read_data(10 if mode == "partial" else length)) > 0
                conn.send("popped")
            conn.recv(60)  # never answered: wait to be killed
        return None

    return util.Child(target)


def test_replier_killed_before_popping_gives_goneaway(ksock: KsockFactory) -> None:
    asker = ksock()
    with _replier_child("wait") as child:
        _, replier_id = child.recv()
        req_id = asker.send_msg(Request("$.Req.Killed"))
        child.kill(signal.SIGKILL)
        child.wait()
    status = asker.wait_for_msg(10)
    assert status is not None
    _assert_status(status, raw.NAME_GONEAWAY, asker.ksock_id(), replier_id, req_id)


def test_replier_killed_after_popping_gives_ignored(ksock: KsockFactory) -> None:
    asker = ksock()
    with _replier_child("pop") as child:
        _, replier_id = child.recv()
        req_id = asker.send_msg(Request("$.Req.Killed", b"x" * 100))
        assert child.recv() == "popped"
        child.kill(signal.SIGKILL)
        child.wait()
    status = asker.wait_for_msg(10)
    assert status is not None
    _assert_status(status, raw.NAME_IGNORED, asker.ksock_id(), replier_id, req_id)


def test_replier_killed_while_reading_gives_ignored(ksock: KsockFactory) -> None:
    asker = ksock()
    with _replier_child("partial") as child:
        _, replier_id = child.recv()
        req_id = asker.send_msg(Request("$.Req.Killed", b"x" * 100))
        assert child.recv() == "popped"
        child.kill(signal.SIGKILL)
        child.wait()
    status = asker.wait_for_msg(10)
    assert status is not None
    _assert_status(status, raw.NAME_IGNORED, asker.ksock_id(), replier_id, req_id)
    assert asker.num_messages() == 0


def test_replier_killed_at_an_arbitrary_point_gives_exactly_one_status(
    ksock: KsockFactory,
) -> None:
    asker = ksock()
    with _replier_child("pop") as child:
        child.recv()
        req_id = asker.send_msg(Request("$.Req.Killed"))
        child.kill(signal.SIGKILL)  # maybe before, maybe after the pop
        child.wait()
    status = asker.wait_for_msg(10)
    assert status is not None
    assert status.name in (raw.NAME_GONEAWAY, raw.NAME_IGNORED)
    assert status.in_reply_to == req_id
    assert asker.num_messages() == 0


# --------------------------------------------------------------------------
# Stateful requests (§11.4)


def test_stateful_request_reaches_the_same_replier(ksock: KsockFactory) -> None:
    asker, replier = _pair(ksock, "$.Req.S.*")
    asker.send_msg(Request("$.Req.S.A"))
    replier.send_msg(reply_to(util.one_msg(replier)))
    rep = util.one_msg(asker)
    follow = stateful_request(rep, "$.Req.S.B", b"again")
    assert follow.to == replier.ksock_id() and follow.is_stateful_request()
    fid = asker.send_msg(follow)
    got = util.one_msg(replier)
    assert (got.id, got.to, got.data) == (fid, replier.ksock_id(), b"again")
    assert got.wants_us_to_reply()
    # a stateful request can also be made from an earlier stateful request
    asker.send_msg(stateful_request(follow, "$.Req.S.C"))
    assert util.one_msg(replier).to == replier.ksock_id()


def test_stateful_request_to_field_is_kept_in_listener_copies(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    listener = ksock()
    listener.bind("$.Req.Q")
    asker.send_msg(Request("$.Req.Q", to=replier.ksock_id()))
    assert util.one_msg(listener).to == replier.ksock_id()


def test_stateful_request_to_a_replaced_replier_gives_epipe(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    old_id = replier.ksock_id()
    replier.close()
    newcomer = ksock()
    newcomer.bind("$.Req.Q", replier=True)
    listener = ksock()
    listener.bind("$.Req.Q")
    with raises_errno(errno.EPIPE):
        asker.send_msg(Request("$.Req.Q", to=old_id))
    assert newcomer.num_messages() == 0 and listener.num_messages() == 0
    assert asker.last_msg_id() != MessageId(0, 0)
    asker.send_msg(Request("$.Req.Q"))  # a plain request goes to the newcomer
    assert util.one_msg(newcomer).wants_us_to_reply()


def test_stateful_request_with_no_replier_gives_eaddrnotavail(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    old_id = replier.ksock_id()
    replier.unbind("$.Req.Q", replier=True)
    with raises_errno(errno.EADDRNOTAVAIL):
        asker.send_msg(Request("$.Req.Q", to=old_id))


def test_stateful_request_when_a_more_specific_replier_appears_gives_epipe(
    ksock: KsockFactory,
) -> None:
    asker, wild = _pair(ksock, "$.Req.W.*")
    specific = ksock()
    specific.bind("$.Req.W.X", replier=True)
    with raises_errno(errno.EPIPE):
        asker.send_msg(Request("$.Req.W.X", to=wild.ksock_id()))
    asker.send_msg(Request("$.Req.W.Y", to=wild.ksock_id()))
    assert util.one_msg(wild).name == "$.Req.W.Y"


def test_unread_stateful_request_gets_unbound_when_the_replier_unbinds(
    ksock: KsockFactory,
) -> None:
    # §18.7: the original sent nothing here
    asker, replier = _pair(ksock)
    req_id = asker.send_msg(Request("$.Req.Q", to=replier.ksock_id()))
    replier.unbind("$.Req.Q", replier=True)
    status = asker.wait_for_msg(5)
    assert status is not None
    _assert_status(
        status, raw.NAME_UNBOUND, asker.ksock_id(), replier.ksock_id(), req_id
    )


def test_unread_stateful_request_gets_goneaway_when_the_replier_closes(
    ksock: KsockFactory,
) -> None:
    # §18.7
    asker, replier = _pair(ksock)
    replier_id = replier.ksock_id()
    asker.set_max_messages(1)
    req_id = asker.send_msg(Request("$.Req.Q", to=replier_id))
    replier.close()
    status = asker.wait_for_msg(5)
    assert status is not None
    _assert_status(status, raw.NAME_GONEAWAY, asker.ksock_id(), replier_id, req_id)
    # and the reservation did not leak
    other = ksock()
    other.bind("$.Req.Q", replier=True)
    asker.send_msg(Request("$.Req.Q"))


def test_popped_stateful_request_gets_ignored_when_the_replier_closes(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    replier_id = replier.ksock_id()
    req_id = asker.send_msg(Request("$.Req.Q", to=replier_id))
    util.one_msg(replier)
    replier.close()
    status = util.one_msg(asker)
    _assert_status(status, raw.NAME_IGNORED, asker.ksock_id(), replier_id, req_id)


# --------------------------------------------------------------------------
# Compensation after a poll retry (§8.4)


def test_pending_request_whose_replier_closed_gets_disappeared_on_poll(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Req.P", replier=True)
    fill(replier)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Request("$.Req.P", flags=WAIT))
    pending = s.last_msg_id()
    replier.close()
    assert poll_out(s, 5000)
    status = util.one_msg(s)
    _assert_status(status, raw.NAME_DISAPPEARED, s.ksock_id(), 0, pending)
    with raises_errno(errno.ENOMSG):
        s.send()


def test_pending_request_whose_replier_unbound_gets_disappeared_on_poll(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Req.P", replier=True)
    fill(replier)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Request("$.Req.P", flags=WAIT))
    pending = s.last_msg_id()
    replier.unbind("$.Req.P", replier=True)
    assert poll_out(s, 5000)
    status = util.one_msg(s)
    _assert_status(status, raw.NAME_DISAPPEARED, s.ksock_id(), 0, pending)


def test_pending_request_failing_otherwise_gets_error_sending_on_poll(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Req.P", replier=True)
    fill(replier)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Request("$.Req.P", flags=WAIT, to=replier.ksock_id()))
    pending = s.last_msg_id()
    replier.unbind("$.Req.P", replier=True)  # still full (the filler)
    newcomer = ksock()
    newcomer.bind("$.Req.P", replier=True)  # the retry now gets EPIPE
    assert poll_out(s, 5000)
    status = util.one_msg(s)
    _assert_status(status, raw.NAME_ERROR_SENDING, s.ksock_id(), 0, pending)
    assert newcomer.num_messages() == 0


def test_pending_reply_whose_requester_closed_is_dropped_silently_on_poll(
    ksock: KsockFactory,
) -> None:
    # §18.14: the original pushed a Disappeared to the replier here
    asker, replier = _pair(ksock)
    asker.set_max_messages(2)
    asker.send_msg(Request("$.Req.Q"))
    fill(asker, 2)
    asker.set_max_messages(1)  # now the reply does not fit
    req = util.one_msg(replier)
    with raises_errno(errno.EAGAIN):
        replier.send_msg(reply_to(req, flags=WAIT))
    asker.close()
    assert poll_out(replier, 5000)
    assert replier.num_messages() == 0, "no Disappeared for a pending Reply"
    with raises_errno(errno.ENOMSG):
        replier.send()


def test_pending_reply_answered_by_someone_else_is_dropped_silently_on_poll(
    ksock: KsockFactory,
) -> None:
    asker, replier = _pair(ksock)
    asker.set_max_messages(2)
    req_id = asker.send_msg(Request("$.Req.Q"))
    fill(asker, 2)
    asker.set_max_messages(1)
    req = util.one_msg(replier)
    with raises_errno(errno.EAGAIN):
        replier.send_msg(reply_to(req, b"pending", flags=WAIT))
    util.one_msg(asker)  # room for one reply...
    ksock().send_msg(
        Reply("$.Req.Q", b"third party", to=asker.ksock_id(), in_reply_to=req_id)
    )
    assert poll_out(replier, 5000)  # ...the retry now gets ECONNREFUSED
    assert replier.num_messages() == 0
    assert [m.data for m in util.drain(asker)] == [b"third party"]


def test_pending_announcement_whose_listener_went_away_completes_on_poll(
    ksock: KsockFactory,
) -> None:
    full = ksock()
    full.bind("$.Req.Ann")
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Req.Ann", flags=WAIT))
    full.close()
    assert poll_out(s, 5000)
    assert s.num_messages() == 0
