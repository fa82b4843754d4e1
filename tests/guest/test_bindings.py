# SPDX-License-Identifier: MIT
"""BIND/UNBIND (§6.3, §6.4), binding roles and lifetime (§7.1, §7.2) and the
choice of replier (§7.3, with the §18.13 fix: the deeper `*` wins)."""

from __future__ import annotations

import errno

import pytest
from kbus import Announcement, Request, reply_to

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

# --------------------------------------------------------------------------
# BIND


def test_bind_replier_twice_gives_eaddrinuse(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Twice", replier=True)
    with raises_errno(errno.EADDRINUSE):
        k.bind("$.Twice", replier=True)


def test_bind_replier_already_bound_by_another_ksock_gives_eaddrinuse(
    ksock: KsockFactory,
) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Taken", replier=True)
    with raises_errno(errno.EADDRINUSE):
        b.bind("$.Taken", replier=True)
    assert b.find_replier("$.Taken") == a.ksock_id()


def test_bind_wildcard_replier_twice_gives_eaddrinuse(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.W.*", replier=True)
    with raises_errno(errno.EADDRINUSE):
        b.bind("$.W.*", replier=True)


def test_replier_uniqueness_is_by_exact_string(ksock: KsockFactory) -> None:
    a, b, c = ksock(), ksock(), ksock()
    a.bind("$.A.*", replier=True)
    b.bind("$.A.%", replier=True)
    c.bind("$.A.B", replier=True)
    q = ksock()
    assert q.find_replier("$.A.*") == a.ksock_id()
    assert q.find_replier("$.A.%") == b.ksock_id()
    assert q.find_replier("$.A.B") == c.ksock_id()


def test_replier_name_is_free_again_after_unbind(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Free", replier=True)
    a.unbind("$.Free", replier=True)
    b.bind("$.Free", replier=True)
    assert a.find_replier("$.Free") == b.ksock_id()


def test_replier_name_is_free_again_after_close(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Free", replier=True)
    a.close()
    b.bind("$.Free", replier=True)
    assert b.find_replier("$.Free") == b.ksock_id()


def test_listener_bindings_may_be_duplicated(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Dup")
    k.bind("$.Dup")
    ksock().send_msg(Announcement("$.Dup"))
    assert k.num_messages() == 2


def test_overlapping_wildcard_listeners_each_get_a_copy(ksock: KsockFactory) -> None:
    k = ksock()
    for name in ("$.*", "$.Over.*", "$.Over.%", "$.Over.Lap"):
        k.bind(name)
    sent = ksock().send_msg(Announcement("$.Over.Lap"))
    msgs = util.drain(k)
    assert len(msgs) == 4
    assert all(m.id == sent for m in msgs)


def test_ksock_may_be_replier_and_listener_for_the_same_name(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.Both", replier=True)
    k.bind("$.Both")
    ksock().send_msg(Request("$.Both"))
    msgs = util.drain(k)
    assert sorted(m.flags for m in msgs) == [
        raw.WANT_A_REPLY,
        raw.WANT_A_REPLY | raw.WANT_YOU_TO_REPLY,
    ]


def test_new_bindings_are_listed_first(ksock: KsockFactory) -> None:
    k = ksock()
    for name in ("$.Order.A", "$.Order.B", "$.Order.C"):
        k.bind(name)
    names = [line.split()[-1] for line in util.binding_lines(0)]
    assert names == ["$.Order.C", "$.Order.B", "$.Order.A"]


# --------------------------------------------------------------------------
# UNBIND


def test_unbind_of_a_name_never_bound_gives_einval(ksock: KsockFactory) -> None:
    with raises_errno(errno.EINVAL):
        ksock().unbind("$.Never.Bound")


def test_unbind_with_the_wrong_replier_flag_gives_einval(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Flag")
    with raises_errno(errno.EINVAL):
        k.unbind("$.Flag", replier=True)
    k.bind("$.Flag.R", replier=True)
    with raises_errno(errno.EINVAL):
        k.unbind("$.Flag.R")


def test_unbind_of_another_ksocks_binding_gives_einval(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Mine")
    with raises_errno(errno.EINVAL):
        b.unbind("$.Mine")


def test_unbind_wildcard_needs_the_identical_string(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Wild.*")
    for other in ("$.Wild.%", "$.*", "$.Wild.Thing"):
        with raises_errno(errno.EINVAL):
            k.unbind(other)
    k.unbind("$.Wild.*")


def test_unbind_removes_one_of_duplicate_bindings(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Dup")
    k.bind("$.Dup")
    k.unbind("$.Dup")
    ksock().send_msg(Announcement("$.Dup"))
    assert k.num_messages() == 1
    k.unbind("$.Dup")
    with raises_errno(errno.EINVAL):
        k.unbind("$.Dup")


def test_unbind_removes_queued_messages_of_that_binding(ksock: KsockFactory) -> None:
    k, s = ksock(), ksock()
    k.bind("$.U.A")
    k.bind("$.U.B")
    s.send_msg(Announcement("$.U.A", b"1"))
    s.send_msg(Announcement("$.U.B", b"2"))
    s.send_msg(Announcement("$.U.A", b"3"))
    k.unbind("$.U.A")
    assert [m.data for m in util.drain(k)] == [b"2"]


def test_unbind_removes_only_the_copies_of_that_binding(ksock: KsockFactory) -> None:
    k, s = ksock(), ksock()
    k.bind("$.U.*")
    k.bind("$.U.X")
    s.send_msg(Announcement("$.U.X"))
    assert k.num_messages() == 2
    k.unbind("$.U.*")
    assert k.num_messages() == 1
    assert util.one_msg(k).name == "$.U.X"


def test_unbind_does_not_remove_the_message_being_read(ksock: KsockFactory) -> None:
    k, s = ksock(), ksock()
    k.bind("$.U.R")
    s.send_msg(Announcement("$.U.R", b"being read"))
    s.send_msg(Announcement("$.U.R", b"queued"))
    length = k.next_msg()
    k.unbind("$.U.R")
    assert k.num_messages() == 0
    buf = k.read_data(length)
    assert raw.parse_entire(buf).data == b"being read"


def test_unbind_replier_keeps_listener_copies(ksock: KsockFactory) -> None:
    k, asker = ksock(), ksock()
    k.bind("$.U.Q", replier=True)
    k.bind("$.U.Q")
    req = asker.send_msg(Request("$.U.Q"))
    k.unbind("$.U.Q", replier=True)
    msgs = util.drain(k)
    assert [(m.id, m.flags) for m in msgs] == [(req, raw.WANT_A_REPLY)]
    status = util.one_msg(asker)
    assert status.name == raw.NAME_UNBOUND and status.in_reply_to == req


def test_unbind_does_not_need_write_access(ksock: KsockFactory) -> None:
    k = ksock(0, "r")
    k.bind("$.RO", replier=True)
    k.unbind("$.RO", replier=True)


def test_unbind_1000_byte_name(ksock: KsockFactory) -> None:
    name = "$." + "u" * (raw.MAX_NAME_LEN - 2)
    k = ksock()
    k.bind(name)
    k.unbind(name)


# --------------------------------------------------------------------------
# Roles (§7.1) and lifetime (§7.2)


def test_replier_binding_does_not_receive_announcements(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Role", replier=True)
    ksock().send_msg(Announcement("$.Role"))
    assert r.num_messages() == 0


def test_replier_binding_does_not_receive_replies(ksock: KsockFactory) -> None:
    r, asker = ksock(), ksock()
    r.bind("$.Role", replier=True)
    asker.send_msg(Request("$.Role"))
    req = util.one_msg(r)
    r.send_msg(reply_to(req))
    assert r.num_messages() == 0
    assert util.one_msg(asker).is_reply()


def test_non_chosen_replier_binding_delivers_nothing(ksock: KsockFactory) -> None:
    specific, wild = ksock(), ksock()
    specific.bind("$.Role.X", replier=True)
    wild.bind("$.Role.*", replier=True)
    ksock().send_msg(Request("$.Role.X"))
    assert (specific.num_messages(), wild.num_messages()) == (1, 0)


def test_sender_listening_to_its_own_name_receives_its_message(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.bind("$.Self")
    sent = k.send_msg(Announcement("$.Self"))
    msg = util.one_msg(k)
    assert msg.id == sent and msg.from_ == k.ksock_id()


def test_close_removes_all_bindings_of_that_ksock_only(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Life")
    a.bind("$.Life.R", replier=True)
    b.bind("$.Life")
    a_id = a.ksock_id()
    a.close()
    ids = {int(line.split()[1]) for line in util.binding_lines(0)}
    assert a_id not in ids and b.ksock_id() in ids
    ksock().send_msg(Announcement("$.Life"))
    assert b.num_messages() == 1
    assert b.find_replier("$.Life.R") is None


# --------------------------------------------------------------------------
# Choosing the replier (§7.3)

R1, R2, R3 = "$.Sensors.*", "$.Sensors.%", "$.Sensors.Kitchen.Temperature"
PRECEDENCE = [
    ("$.Sensors.Kitchen.Temperature", R3),
    ("$.Sensors.Kitchen", R2),
    ("$.Sensors.LivingRoom", R2),
    ("$.Sensors.LivingRoom.Temperature", R1),
]


@pytest.mark.parametrize(
    "order", [(R1, R2, R3), (R3, R2, R1), (R2, R3, R1)], ids=["123", "321", "231"]
)
@pytest.mark.parametrize("name,winner", PRECEDENCE)
def test_replier_precedence_specific_over_percent_over_star(
    ksock: KsockFactory, order: tuple[str, str, str], name: str, winner: str
) -> None:
    repliers = {}
    for binding in order:  # precedence must not depend on binding order
        repliers[binding] = ksock()
        repliers[binding].bind(binding, replier=True)
    ksock().send_msg(Request(name))
    for binding, k in repliers.items():
        msgs = util.drain(k)
        if binding == winner:
            assert len(msgs) == 1 and msgs[0].wants_us_to_reply()
        else:
            assert msgs == [], f"{binding} must not receive {name}"


@pytest.mark.parametrize(
    "deeper_first", [True, False], ids=["deeper-older", "deeper-newer"]
)
def test_deeper_star_replier_wins_regardless_of_recency(
    ksock: KsockFactory, deeper_first: bool
) -> None:
    shallow, deep = ksock(), ksock()
    if deeper_first:
        deep.bind("$.a.b.*", replier=True)
        shallow.bind("$.a.*", replier=True)
    else:
        shallow.bind("$.a.*", replier=True)
        deep.bind("$.a.b.*", replier=True)
    asker = ksock()
    asker.send_msg(Request("$.a.b.c"))
    asker.send_msg(Request("$.a.b.c.d"))
    asker.send_msg(Request("$.a.x"))
    assert [m.name for m in util.drain(deep)] == ["$.a.b.c", "$.a.b.c.d"]
    assert [m.name for m in util.drain(shallow)] == ["$.a.x"]


def test_percent_beats_a_star_of_the_same_depth(ksock: KsockFactory) -> None:
    star, pct = ksock(), ksock()
    star.bind("$.p.q.*", replier=True)
    pct.bind("$.p.q.%", replier=True)
    ksock().send_msg(Request("$.p.q.r"))
    assert (pct.num_messages(), star.num_messages()) == (1, 0)


def test_replier_query_stays_exact_string_with_wildcard_repliers(
    ksock: KsockFactory,
) -> None:
    shallow, deep = ksock(), ksock()
    shallow.bind("$.a.*", replier=True)
    deep.bind("$.a.b.*", replier=True)
    q = ksock()
    assert q.find_replier("$.a.b.c") is None
    assert q.find_replier("$.a.*") == shallow.ksock_id()
    assert q.find_replier("$.a.b.*") == deep.ksock_id()


def test_only_the_chosen_replier_copy_has_want_you_to_reply(
    ksock: KsockFactory,
) -> None:
    replier, l1, l2 = ksock(), ksock(), ksock()
    replier.bind("$.Pick.*", replier=True)
    replier.bind("$.Pick.*")  # also a listener: a plain extra copy
    l1.bind("$.Pick.Me")
    l2.bind("$.*")
    sent = ksock().send_msg(Request("$.Pick.Me"))
    mine = util.drain(replier)
    assert sorted(m.flags for m in mine) == [
        raw.WANT_A_REPLY,
        raw.WANT_A_REPLY | raw.WANT_YOU_TO_REPLY,
    ]
    for listener in (l1, l2):
        msgs = util.drain(listener)
        assert [(m.id, m.flags) for m in msgs] == [(sent, raw.WANT_A_REPLY)]
