# SPDX-License-Identifier: MIT
"""The device's name index: bindings sharing a name string, many levels, and
names of every length still route exactly as spec section 3.3 and 7.3 say.

KBUS keeps one index entry per bound name string and looks up the message
name and its wildcard prefixes, so these tests poke at what that could get
wrong: entries shared by several bindings and Ksocks, entries going away,
deep names, and the longest names.
"""

from __future__ import annotations

from kbus import Announcement, Ksock, Request, reply_to

import kbus_util as util
from kbus_util import KsockFactory


def _names(k: Ksock) -> list[str]:
    return [m.name for m in util.drain(k)]


def test_closing_a_ksock_bound_twice_to_one_name_keeps_others_bound(
    ksock: KsockFactory,
) -> None:
    twice, other, sender = ksock(), ksock(), ksock()
    twice.bind("$.Idx.Twice")
    twice.bind("$.Idx.Twice")
    twice.bind("$.Idx.Twice", replier=True)
    other.bind("$.Idx.Twice")
    twice.close()
    sender.send_msg(Announcement("$.Idx.Twice", b"after"))
    assert [m.data for m in util.drain(other)] == [b"after"]
    assert sender.find_replier("$.Idx.Twice") is None


def test_a_name_can_be_bound_again_after_its_last_binding_went(
    ksock: KsockFactory,
) -> None:
    a, b, sender = ksock(), ksock(), ksock()
    a.bind("$.Idx.Again.*")
    a.unbind("$.Idx.Again.*")
    sender.send_msg(Announcement("$.Idx.Again.X"))
    assert a.num_messages() == 0
    b.bind("$.Idx.Again.*")
    b.bind("$.Idx.Again.*", replier=True)
    sender.send_msg(Announcement("$.Idx.Again.X"))
    assert _names(b) == ["$.Idx.Again.X"]
    sender.send_msg(Request("$.Idx.Again.Y"))
    got = util.drain(b)
    assert [m.wants_us_to_reply() for m in got] == [True, False]


def test_unbinding_one_of_two_equal_bindings_leaves_one_copy(
    ksock: KsockFactory,
) -> None:
    k, sender = ksock(), ksock()
    k.bind("$.Idx.Dup")
    k.bind("$.Idx.Dup")
    sender.send_msg(Announcement("$.Idx.Dup"))
    assert len(util.drain(k)) == 2
    k.unbind("$.Idx.Dup")
    sender.send_msg(Announcement("$.Idx.Dup"))
    assert len(util.drain(k)) == 1


def test_every_matching_level_delivers_once(ksock: KsockFactory) -> None:
    k, sender = ksock(), ksock()
    patterns = [
        "$.*",
        "$.Idx.*",
        "$.Idx.A.*",
        "$.Idx.A.B.*",
        "$.Idx.A.B.%",
        "$.Idx.A.B.C",
    ]
    non_matching = [
        "$.%",
        "$.Idx.%",
        "$.Idx.A.%",
        "$.Idx.A.B.C.*",
        "$.Idx.A.B",
        "$.Idx.A.B.C.D",
        "$.Idx.A.BC",
        "$.Idx.AB.*",
    ]
    for name in patterns + non_matching:
        k.bind(name)
    sender.send_msg(Announcement("$.Idx.A.B.C"))
    assert len(util.drain(k)) == len(patterns)


def test_the_longest_name_with_the_most_levels_routes_and_replies(
    ksock: KsockFactory,
) -> None:
    # "$.a.a...a.ab": 1000 bytes (the maximum), 499 dots to look up "*" at.
    name = "$." + ".".join(["a"] * 499) + "b"
    assert len(name) == 1000
    listener, replier, sender = ksock(), ksock(), ksock()
    shallow = "$.a.*"
    deep = name[: name.rindex(".")] + ".*"
    listener.bind(shallow)
    listener.bind(deep)
    listener.bind(name[: name.rindex(".")] + ".%")
    replier.bind(shallow, replier=True)
    replier.bind(deep, replier=True)
    sender.set_max_messages(10)
    req_id = sender.send_msg(Request(name, b"deep"))
    assert len(util.drain(listener)) == 3
    req = util.one_msg(replier)
    assert req.wants_us_to_reply()
    assert util.drain(replier) == []  # only the deepest "*" replier got it
    replier.send_msg(reply_to(req, b"ok"))
    rep = util.one_msg(sender)
    assert rep.in_reply_to == req_id and rep.data == b"ok"


def test_many_bindings_on_other_names_do_not_change_routing(
    ksock: KsockFactory,
) -> None:
    crowd, k, sender = ksock(), ksock(), ksock()
    for i in range(2000):
        crowd.bind(f"$.Idx.Crowd{i}")
        if i % 10 == 0:
            crowd.bind(f"$.Idx.Crowd{i}.*")
    k.bind("$.Idx.Target")
    sender.send_msg(Announcement("$.Idx.Target"))
    sender.send_msg(Announcement("$.Idx.Crowd7"))
    sender.send_msg(Announcement("$.Idx.Crowd20.X"))
    assert _names(k) == ["$.Idx.Target"]
    assert _names(crowd) == ["$.Idx.Crowd7", "$.Idx.Crowd20.X"]
