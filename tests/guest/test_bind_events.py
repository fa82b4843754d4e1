# SPDX-License-Identifier: MIT
"""Replier bind events (§10, §4.9, §6.18), the set-aside list and tragic state
(§10.4, with the §18.10 fixes)."""

from __future__ import annotations

import errno

from kbus import Announcement, Ksock, Message, Request, split_replier_bind_event_data

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, fill, raises_errno

EVENT = raw.NAME_BIND_EVENT


def _reporting(ksock: KsockFactory) -> Ksock:
    """Turn reporting on (from a Ksock of its own, which gets the snapshot)."""
    k = ksock()
    k.report_replier_binds(True)
    return k


def _event_listener(ksock: KsockFactory, name: str = EVENT) -> Ksock:
    k = ksock()
    k.bind(name)
    return k


def _assert_event(msg: Message, is_bind: int, binder: int, name: str) -> None:
    assert msg.name == EVENT
    assert msg.flags == raw.SYNTHETIC | raw.ALL_OR_FAIL  # 0x204
    assert msg.from_ == 0 and msg.to == 0
    assert msg.in_reply_to is None
    assert msg.orig_from is None and msg.final_to is None
    assert msg.id is not None and msg.id.network_id == 0 and msg.id.serial_num != 0
    assert msg.data == raw.bind_event_data(is_bind, binder, name.encode())
    assert split_replier_bind_event_data(msg.data) == (is_bind, binder, name)


def _events(k: Ksock) -> list[tuple[int, int, str]]:
    out = []
    for m in util.drain(k):
        assert m.name == EVENT, m
        assert m.data is not None
        out.append(split_replier_bind_event_data(m.data))
    return out


# --------------------------------------------------------------------------
# Live events


def test_no_events_while_reporting_is_off(ksock: KsockFactory) -> None:
    listener = _event_listener(ksock)
    r = ksock()
    r.bind("$.BE.Off", replier=True)
    r.unbind("$.BE.Off", replier=True)
    r.bind("$.BE.Off", replier=True)
    r.close()
    assert listener.num_messages() == 0


def test_replier_bind_sends_a_bind_event(ksock: KsockFactory) -> None:
    _reporting(ksock)
    listener = _event_listener(ksock)
    r = ksock()
    r.bind("$.BE.Fred", replier=True)
    _assert_event(util.one_msg(listener), 1, r.ksock_id(), "$.BE.Fred")


def test_bind_event_data_layout_for_dollar_fred(ksock: KsockFactory) -> None:
    _reporting(ksock)
    listener = _event_listener(ksock)
    r = ksock()
    r.bind("$.Fred", replier=True)
    got = raw.next_raw(listener.fileno())
    assert got is not None
    binder = r.ksock_id().to_bytes(4, "little")
    assert got.header.data_len == 20
    assert got.data == b"\x01\0\0\0" + binder + b"\x06\0\0\0" + b"$.Fred\0\0"


def test_bind_event_str_format(ksock: KsockFactory) -> None:
    _reporting(ksock)
    listener = _event_listener(ksock)
    r = ksock()
    r.bind("$.Fred", replier=True)
    msg = util.one_msg(listener)
    assert msg.id is not None
    assert str(msg) == (
        f"<ReplierBindEvent id=[0:{msg.id.serial_num}], flags=0x204 (SYN,aFL), "
        f"[Bind '$.Fred' for {r.ksock_id()}]>"
    )


def test_replier_unbind_sends_an_unbind_event(ksock: KsockFactory) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.BE.Un", replier=True)
    listener = _event_listener(ksock)
    r.unbind("$.BE.Un", replier=True)
    _assert_event(util.one_msg(listener), 0, r.ksock_id(), "$.BE.Un")


def test_closing_a_replier_sends_an_unbind_event_per_replier_binding(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    for name in ("$.BE.C1", "$.BE.C2.*", "$.BE.C3.%"):
        r.bind(name, replier=True)
    r.bind("$.BE.Listened")  # listener bindings produce no event
    rid = r.ksock_id()
    listener = _event_listener(ksock)
    r.close()
    msgs = util.drain(listener)
    assert len(msgs) == 3
    for m in msgs:
        assert m.flags == 0x204 and m.data is not None
    assert sorted(split_replier_bind_event_data(m.data or b"") for m in msgs) == [
        (0, rid, "$.BE.C1"),
        (0, rid, "$.BE.C2.*"),
        (0, rid, "$.BE.C3.%"),
    ]


def test_listener_binds_generate_no_events(ksock: KsockFactory) -> None:
    _reporting(ksock)
    listener = _event_listener(ksock)
    k = ksock()
    k.bind("$.BE.L")
    k.unbind("$.BE.L")
    k.bind("$.BE.L")
    k.close()
    assert listener.num_messages() == 0


def test_wildcard_listeners_receive_bind_events(ksock: KsockFactory) -> None:
    _reporting(ksock)
    everything = _event_listener(ksock, "$.*")
    kbus = _event_listener(ksock, "$.KBUS.*")
    r = ksock()
    r.bind("$.BE.W", replier=True)
    _assert_event(util.one_msg(everything), 1, r.ksock_id(), "$.BE.W")
    _assert_event(util.one_msg(kbus), 1, r.ksock_id(), "$.BE.W")


def test_binder_listening_for_events_sees_its_own_bind(ksock: KsockFactory) -> None:
    _reporting(ksock)
    r = _event_listener(ksock)
    r.bind("$.BE.Self", replier=True)
    _assert_event(util.one_msg(r), 1, r.ksock_id(), "$.BE.Self")


def test_bind_events_consume_serial_numbers(ksock: KsockFactory) -> None:
    _reporting(ksock)
    listener = _event_listener(ksock)
    s = ksock()
    before = s.send_msg(Announcement("$.BE.Tick"))
    s.bind("$.BE.Serial", replier=True)
    event = util.one_msg(listener)
    assert event.id == before + 1
    assert s.send_msg(Announcement("$.BE.Tick")) == before + 2


def test_replier_bind_event_cannot_be_bound_as_replier_even_when_reporting(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    with raises_errno(errno.EBADMSG):
        ksock().bind(EVENT, replier=True)


# --------------------------------------------------------------------------
# Explicit BIND/UNBIND with a full event listener (§10.3)


def test_bind_with_a_full_event_listener_gives_eagain_and_binds_nothing(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    full, roomy = _event_listener(ksock), _event_listener(ksock)
    fill(full)
    r = ksock()
    with raises_errno(errno.EAGAIN):
        r.bind("$.BE.Busy", replier=True)
    assert r.find_replier("$.BE.Busy") is None
    assert roomy.num_messages() == 0, "no event delivered to anyone"
    with raises_errno(errno.EADDRNOTAVAIL):
        r.send_msg(Request("$.BE.Busy"))
    util.one_msg(full)  # room again: the retry succeeds
    r.bind("$.BE.Busy", replier=True)
    _assert_event(util.one_msg(full), 1, r.ksock_id(), "$.BE.Busy")
    _assert_event(util.one_msg(roomy), 1, r.ksock_id(), "$.BE.Busy")


def test_unbind_with_a_full_event_listener_gives_eagain_and_keeps_the_binding(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.BE.Keep", replier=True)
    full = _event_listener(ksock)
    fill(full)
    with raises_errno(errno.EAGAIN):
        r.unbind("$.BE.Keep", replier=True)
    assert r.find_replier("$.BE.Keep") == r.ksock_id()
    util.one_msg(full)
    r.unbind("$.BE.Keep", replier=True)
    _assert_event(util.one_msg(full), 0, r.ksock_id(), "$.BE.Keep")


def test_unknown_unbind_gives_einval_before_the_event_check(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    full = _event_listener(ksock)
    fill(full)
    with raises_errno(errno.EINVAL):
        ksock().unbind("$.BE.Never", replier=True)


def test_listener_bind_is_not_affected_by_a_full_event_listener(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    full = _event_listener(ksock)
    fill(full)
    k = ksock()
    k.bind("$.BE.Plain")
    k.unbind("$.BE.Plain")


# --------------------------------------------------------------------------
# Snapshot on enabling (§6.18, §10.5)


def test_enabling_reports_existing_repliers_newest_first_to_the_caller_only(
    ksock: KsockFactory,
) -> None:
    a, b = ksock(), ksock()
    a.bind("$.Snap.A", replier=True)
    b.bind("$.Snap.B.*", replier=True)
    a.bind("$.Snap.C", replier=True)
    a.bind("$.Snap.Listened")
    other = _event_listener(ksock)
    caller = ksock()  # not bound to the event name at all
    assert caller.report_replier_binds(True) == 0
    msgs = util.drain(caller)
    expected = [
        (1, a.ksock_id(), "$.Snap.C"),
        (1, b.ksock_id(), "$.Snap.B.*"),
        (1, a.ksock_id(), "$.Snap.A"),
    ]
    for msg, (is_bind, binder, name) in zip(msgs, expected, strict=True):
        _assert_event(msg, is_bind, binder, name)
    assert other.num_messages() == 0


def test_enabling_again_repeats_the_snapshot(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Snap.Again", replier=True)
    caller = ksock()
    assert caller.report_replier_binds(True) == 0
    assert caller.report_replier_binds(True) == 1
    assert _events(caller) == [(1, r.ksock_id(), "$.Snap.Again")] * 2


def test_enabling_with_no_repliers_queues_nothing(ksock: KsockFactory) -> None:
    caller = ksock()
    caller.report_replier_binds(True)
    assert caller.num_messages() == 0


def test_disabling_or_querying_queues_no_snapshot(ksock: KsockFactory) -> None:
    r = ksock()
    r.bind("$.Snap.Q", replier=True)
    caller = ksock()
    caller.report_replier_binds(just_ask=True)
    caller.report_replier_binds(False)
    assert caller.num_messages() == 0


def test_snapshot_filling_the_callers_queue_gives_ebusy(ksock: KsockFactory) -> None:
    r = ksock()
    for name in ("$.Snap.1", "$.Snap.2", "$.Snap.3"):
        r.bind(name, replier=True)
    caller = ksock()
    caller.set_max_messages(2)
    with raises_errno(errno.EBUSY):
        caller.report_replier_binds(True)
    assert caller.report_replier_binds(just_ask=True) == 1, "reporting stays on"
    assert _events(caller) == [
        (1, r.ksock_id(), "$.Snap.3"),
        (1, r.ksock_id(), "$.Snap.2"),
    ]


# --------------------------------------------------------------------------
# Close with full listeners: the set-aside list (§10.4, §18.10)


def test_unbind_event_at_close_goes_directly_to_listeners_with_room(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.SA.Direct", replier=True)
    rid = r.ksock_id()
    full, roomy = _event_listener(ksock), _event_listener(ksock)
    fill(full)
    r.close()
    assert roomy.num_messages() == 1
    _assert_event(util.one_msg(roomy), 0, rid, "$.SA.Direct")
    assert util.dev_stats(0).unsent_unbindings == 1, "only the full listener's copy"


def test_full_listener_gets_the_set_aside_event_after_its_next_pop(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.SA.Later", replier=True)
    rid = r.ksock_id()
    full = _event_listener(ksock)
    fill(full)
    r.close()
    assert full.num_messages() == 2, "NUMMSGS counts set-aside events"
    assert util.dev_stats(0).unsent_unbindings == 1
    filler = util.one_msg(full)
    assert filler.data == b"filler"
    assert util.dev_stats(0).unsent_unbindings == 0, "promoted by the pop"
    _assert_event(util.one_msg(full), 0, rid, "$.SA.Later")
    assert full.num_messages() == 0


def test_set_aside_event_is_readable_and_promoted_with_an_empty_queue(
    ksock: KsockFactory,
) -> None:
    # §18.10: full through a reservation, not through queued messages
    _reporting(ksock)
    r, answerer = ksock(), ksock()
    r.bind("$.SA.Empty", replier=True)
    answerer.bind("$.SA.Ask", replier=True)
    rid = r.ksock_id()
    full = _event_listener(ksock)
    full.set_max_messages(1)
    full.send_msg(Request("$.SA.Ask"))  # 0 queued + 1 reserved = full
    r.close()
    assert full.num_messages() == 1
    assert raw.readable(full.fileno()), "set-aside events must make poll readable"
    msg = full.wait_for_msg(5)
    assert msg is not None
    _assert_event(msg, 0, rid, "$.SA.Empty")
    assert full.num_messages() == 0


def test_set_aside_events_are_discarded_when_the_listener_unbinds_the_event_name(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.SA.Drop", replier=True)
    full = _event_listener(ksock)
    fill(full)
    r.close()
    assert full.num_messages() == 2
    full.unbind(EVENT)
    assert full.num_messages() == 1
    assert util.dev_stats(0).unsent_unbindings == 0
    assert util.one_msg(full).data == b"filler"
    assert full.read_next_msg() is None


def test_set_aside_events_are_discarded_when_the_listener_closes(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.SA.Close", replier=True)
    full = _event_listener(ksock)
    fill(full)
    r.close()
    assert util.dev_stats(0).unsent_unbindings == 1
    full.close()
    assert util.dev_stats(0).unsent_unbindings == 0


def test_unbind_that_removes_queued_messages_promotes_a_set_aside_event(
    ksock: KsockFactory,
) -> None:
    _reporting(ksock)
    r = ksock()
    r.bind("$.SA.Unbind", replier=True)
    rid = r.ksock_id()
    full = _event_listener(ksock)
    full.bind("$.SA.Noise")
    full.set_max_messages(1)
    ksock().send_msg(Announcement("$.SA.Noise"))
    r.close()
    assert full.num_messages() == 2
    assert util.dev_stats(0).unsent_unbindings == 1
    full.unbind("$.SA.Noise")  # removes the queued message: one event promoted
    assert util.dev_stats(0).unsent_unbindings == 0
    assert full.num_messages() == 1
    _assert_event(util.one_msg(full), 0, rid, "$.SA.Unbind")


def test_several_set_aside_events_arrive_one_per_pop(ksock: KsockFactory) -> None:
    _reporting(ksock)
    r = ksock()
    names = ["$.SA.M1", "$.SA.M2", "$.SA.M3"]
    for name in names:
        r.bind(name, replier=True)
    rid = r.ksock_id()
    full = _event_listener(ksock)
    fill(full)
    r.close()
    assert full.num_messages() == 4
    assert util.dev_stats(0).unsent_unbindings == 3
    util.one_msg(full)  # the filler; one event promoted
    assert util.dev_stats(0).unsent_unbindings == 2
    got = _events(full)
    assert sorted(got) == [(0, rid, n) for n in names]


def test_too_many_set_aside_events_go_tragic_and_report_unbind_events_lost(
    ksock: KsockFactory,
) -> None:
    # KBUS_MAX_UNSENT_UNBIND_MESSAGES = 1000; 4 full listeners take 4 set-aside
    # copies per event, so events 1..250 fit and event 251 goes tragic.
    _reporting(ksock)
    r = ksock()
    for i in range(260):
        r.bind(f"$.Tragic.N{i}", replier=True)
    rid = r.ksock_id()
    listeners = [_event_listener(ksock) for _ in range(4)]
    for k in listeners:
        fill(k)
    r.close()
    stats = util.dev_stats(0)
    line = util.stats_device_block(0)[0]
    assert stats.tragic, line
    assert stats.unsent_unbindings >= 1000
    assert line.endswith(f" unsent unbindings {stats.unsent_unbindings}(gone tragic)")
    first = listeners[0]
    assert first.num_messages() == 1 + 250 + 1
    msgs = util.drain(first)
    assert msgs[0].data == b"filler"
    events = msgs[1:-1]
    assert len(events) == 250
    for m in events:
        assert m.name == EVENT and m.data is not None
        is_bind, binder, _ = split_replier_bind_event_data(m.data)
        assert (is_bind, binder) == (0, rid)
    lost = msgs[-1]
    assert lost.name == raw.NAME_UNBIND_EVENTS_LOST
    assert lost.flags == raw.SYNTHETIC
    assert (lost.from_, lost.to, lost.in_reply_to, lost.data) == (0, 0, None, None)
    assert lost.id is not None and lost.id.serial_num != 0
    for k in listeners[1:]:
        k.close()
    stats = util.dev_stats(0)
    assert (stats.unsent_unbindings, stats.tragic) == (0, False)
