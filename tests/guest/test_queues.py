# SPDX-License-Identifier: MIT
"""Queue limits and accounting (§6.12, §8.2), full listeners and the send
flags (§8.3), ENOLCK, the sending state and the poll-for-write game (§8.4),
with the §18.8 (EALREADY keeps the message) and §18.11 (waiters woken
whenever room appears) fixes."""

from __future__ import annotations

import errno
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from kbus import Announcement, Ksock, Message, MessageId, Request, reply_to

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, fill, poll_out, raises_errno

WAIT = Message.ALL_OR_WAIT
FAIL = Message.ALL_OR_FAIL


def _listener(ksock: KsockFactory, name: str = "$.Q.Name") -> Ksock:
    k = ksock()
    k.bind(name)
    return k


# --------------------------------------------------------------------------
# Limits and full listeners


def test_listener_stops_receiving_at_max_messages(ksock: KsockFactory) -> None:
    k = _listener(ksock)
    k.set_max_messages(3)
    s = ksock()
    ids = [s.send_msg(Announcement("$.Q.Name", bytes([i]))) for i in range(5)]
    assert k.num_messages() == 3
    assert [m.id for m in util.drain(k)] == ids[:3]


def test_full_listener_is_skipped_silently(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    sent = ksock().send_msg(Announcement("$.Q.Name"))  # no error
    assert full.num_messages() == 1
    assert util.one_msg(roomy).id == sent
    assert util.one_msg(full).name.startswith("$.Fill.")  # only the filler
    assert full.num_messages() == 0


def test_lowering_max_messages_drops_nothing(ksock: KsockFactory) -> None:
    k = _listener(ksock)
    s = ksock()
    for _ in range(5):
        s.send_msg(Announcement("$.Q.Name"))
    assert k.set_max_messages(2) == 2
    assert k.num_messages() == 5
    s.send_msg(Announcement("$.Q.Name"))  # refused: over the limit
    assert k.num_messages() == 5
    for _ in range(4):
        util.one_msg(k)
    s.send_msg(Announcement("$.Q.Name"))  # 1 queued < 2: accepted
    assert k.num_messages() == 2


def test_outstanding_requests_occupy_queue_slots(ksock: KsockFactory) -> None:
    k, replier = _listener(ksock), ksock()
    replier.bind("$.Q.Ask", replier=True)
    k.set_max_messages(3)
    k.send_msg(Request("$.Q.Ask"))
    k.send_msg(Request("$.Q.Ask"))  # two slots reserved for the replies
    s = ksock()
    for _ in range(3):
        s.send_msg(Announcement("$.Q.Name"))
    assert k.num_messages() == 1


def test_reply_uses_the_reserved_slot(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(1)
    asker.send_msg(Request("$.Q.Ask"))  # asker is now "full"
    req = util.one_msg(replier)
    replier.send_msg(reply_to(req, b"fits"))  # no EBUSY: the slot was reserved
    assert util.one_msg(asker).data == b"fits"


def test_status_message_uses_the_reserved_slot(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(1)
    req = asker.send_msg(Request("$.Q.Ask"))
    replier.close()
    status = util.one_msg(asker)
    assert status.name == raw.NAME_GONEAWAY and status.in_reply_to == req


# --------------------------------------------------------------------------
# ENOLCK


def test_request_without_a_free_slot_gives_enolck(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(1)
    asker.send_msg(Request("$.Q.Ask"))
    with raises_errno(errno.ENOLCK):
        asker.send_msg(Request("$.Q.Ask"))
    assert replier.num_messages() == 1


def test_enolck_assigns_no_id_discards_and_leaves_no_sending_state(
    ksock: KsockFactory,
) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(1)
    first = asker.send_msg(Request("$.Q.Ask"))
    with raises_errno(errno.ENOLCK):
        asker.send_msg(Request("$.Q.Ask", flags=WAIT))  # ENOLCK even so
    assert asker.last_msg_id() == first
    with raises_errno(errno.ENOMSG):
        asker.send()
    assert poll_out(asker)
    nxt = asker.send_msg(Announcement("$.Q.Other"))  # write works
    assert nxt == first + 1  # the failed request consumed no serial


def test_request_from_a_ksock_with_a_full_queue_gives_enolck(
    ksock: KsockFactory,
) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    fill(asker, 2)
    with raises_errno(errno.ENOLCK):
        asker.send_msg(Request("$.Q.Ask"))
    util.one_msg(asker)
    asker.send_msg(Request("$.Q.Ask"))


def test_enolck_clears_when_the_reply_has_been_read(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(1)
    asker.send_msg(Request("$.Q.Ask"))
    replier.send_msg(reply_to(util.one_msg(replier)))
    with raises_errno(errno.ENOLCK):  # the reply now occupies the slot
        asker.send_msg(Request("$.Q.Ask"))
    assert util.one_msg(asker).is_reply()
    asker.send_msg(Request("$.Q.Ask"))


# --------------------------------------------------------------------------
# ALL_OR_FAIL


def test_all_or_fail_with_a_full_listener_gives_ebusy(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    s = ksock()
    before = s.send_msg(Announcement("$.Q.Other"))
    with raises_errno(errno.EBUSY):
        s.send_msg(Announcement("$.Q.Name", flags=FAIL))
    assert roomy.num_messages() == 0, "nothing may be delivered to anyone"
    assert full.num_messages() == 1
    assert s.last_msg_id() == before + 1  # an id was assigned
    with raises_errno(errno.ENOMSG):  # and the message discarded
        s.send()
    assert poll_out(s)


def test_all_or_fail_delivers_when_everyone_has_room(ksock: KsockFactory) -> None:
    a, b = _listener(ksock), _listener(ksock)
    sent = ksock().send_msg(Announcement("$.Q.Name", flags=FAIL))
    assert util.one_msg(a).id == sent and util.one_msg(b).id == sent


def test_request_to_a_full_replier_gives_ebusy(ksock: KsockFactory) -> None:
    replier, listener = ksock(), _listener(ksock)
    replier.bind("$.Q.Name", replier=True)
    fill(replier)
    asker = ksock()
    with raises_errno(errno.EBUSY):
        asker.send_msg(Request("$.Q.Name"))
    assert listener.num_messages() == 0, "all-or-nothing for mandatory recipients"
    with raises_errno(errno.EBUSY):
        asker.send_msg(Request("$.Q.Name", flags=FAIL))
    # no reservation was made for the failed requests: with a limit of 1,
    # the asker can still send a request
    asker.set_max_messages(1)
    replier.set_max_messages(5)
    asker.send_msg(Request("$.Q.Name"))


def test_reply_to_a_full_requester_gives_ebusy(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(2)
    asker.send_msg(Request("$.Q.Ask"))
    fill(asker, 2)  # one filler fits (1 queued + 1 reserved)
    asker.set_max_messages(1)  # now even the reply does not fit
    req = util.one_msg(replier)
    with raises_errno(errno.EBUSY):
        replier.send_msg(reply_to(req))
    # the reply was discarded, but the request is still owed
    assert replier.num_unreplied_to() == 1
    util.one_msg(asker)  # make room
    replier.send_msg(reply_to(req, b"now"))
    assert util.one_msg(asker).data == b"now"


# --------------------------------------------------------------------------
# ALL_OR_WAIT and the sending state (§8.4)


def test_all_or_wait_with_a_full_listener_gives_eagain_and_writes_the_id(
    ksock: KsockFactory,
) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    s = ksock()
    raw.write_all(s.fileno(), raw.entire_message(b"$.Q.Name", flags=WAIT))
    arg = raw.MsgId(0xFFFFFFFF, 0xFFFFFFFF)
    with raises_errno(errno.EAGAIN):
        raw.ioctl(s.fileno(), raw.IOC["SEND"], arg)
    assert arg.network_id == 0 and arg.serial_num not in (0, 0xFFFFFFFF)
    assert s.last_msg_id() == MessageId(0, arg.serial_num)
    assert roomy.num_messages() == 0, "nothing delivered yet"
    s.discard()


def test_write_in_sending_state_gives_ealready(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", flags=WAIT))
    with raises_errno(errno.EALREADY):
        os.write(s.fileno(), raw.entire_message(b"$.Q.Other"))
    with raises_errno(errno.EALREADY):
        os.write(s.fileno(), b"\0")
    s.discard()


def test_sending_state_is_not_writable_while_still_full(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", flags=WAIT))
    assert not poll_out(s)
    assert not poll_out(s, 50)
    s.discard()
    assert poll_out(s)


def test_send_retry_completes_after_the_receiver_reads(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", b"patient", flags=WAIT))
    pending = s.last_msg_id()
    with raises_errno(errno.EAGAIN):  # still full: still pending, same id
        s.send()
    assert s.last_msg_id() == pending
    util.one_msg(full)
    assert s.send() == pending
    for k in (full, roomy):
        msg = util.one_msg(k)
        assert (msg.id, msg.data) == (pending, b"patient")
    assert poll_out(s)
    with raises_errno(errno.ENOMSG):
        s.send()


def test_poll_for_write_retry_completes_after_the_receiver_reads(
    ksock: KsockFactory,
) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", b"polled", flags=WAIT))
    pending = s.last_msg_id()
    assert not poll_out(s)
    util.one_msg(full)
    assert poll_out(s)  # the retry inside poll delivered the message
    for k in (full, roomy):
        msg = util.one_msg(k)
        assert (msg.id, msg.data) == (pending, b"polled")
    with raises_errno(errno.ENOMSG):
        s.send()
    s.send_msg(Announcement("$.Q.Other"))  # writing works again


def _send_retries() -> int:
    """Pending sends KBUS retried on device 0 (0 before the first)."""
    for line in util.stats_device_block(0):
        m = re.fullmatch(r"    pending sends retried (\d+) times", line)
        if m:
            return int(m[1])
    return 0


def test_a_pending_send_is_retried_when_its_full_listener_reads_not_on_every_read(
    ksock: KsockFactory,
) -> None:
    # Each waiter polls for writability in a thread of its own, so each
    # is asleep in poll, where a wake-up retries its send under the device
    # lock. Reads elsewhere on the bus must not wake them: that let one
    # stuck listener slow every other Ksock's traffic.
    stuck = _listener(ksock)
    fill(stuck)
    waiters = [ksock() for _ in range(4)]
    sender, reader = ksock(), _listener(ksock, "$.Q.Elsewhere")
    for w in waiters:
        with raises_errno(errno.EAGAIN):
            w.send_msg(Announcement("$.Q.Name", b"waiting", flags=WAIT))
    before = _send_retries()
    with ThreadPoolExecutor(len(waiters)) as pool:
        polls = [pool.submit(poll_out, w, 30_000) for w in waiters]
        deadline = time.monotonic() + 10
        while _send_retries() < before + len(waiters):  # each poll tried once
            assert time.monotonic() < deadline, "the waiters never polled"
            time.sleep(0.01)
        asleep = _send_retries()

        for i in range(50):
            sender.send_msg(Announcement("$.Q.Elsewhere", b"%d" % i))
            assert reader.read_next_msg() is not None
        time.sleep(0.2)
        assert _send_retries() - asleep <= len(waiters), "woken by others' reads"
        assert not any(f.done() for f in polls)

        util.one_msg(stuck)  # room for one of them: its retry delivers
        deadline = time.monotonic() + 10
        while sum(f.done() for f in polls) < 1:
            assert time.monotonic() < deadline, "no waiter woke when room appeared"
            time.sleep(0.01)
        time.sleep(0.2)
        assert sum(f.done() for f in polls) == 1, "the queue had room for one"
        assert stuck.num_messages() == 1

        stuck.close()  # no listener left: every pending send goes
        assert all(f.result(timeout=10) for f in polls)


def test_ealready_keeps_the_pending_message_for_a_send_retry(
    ksock: KsockFactory,
) -> None:
    # §18.8: the original destroyed the pending message here
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", b"keep me", flags=WAIT))
    pending = s.last_msg_id()
    with raises_errno(errno.EALREADY):
        s.write_msg(Announcement("$.Q.Name", b"intruder"))
    util.one_msg(full)
    assert s.send() == pending
    msg = util.one_msg(full)
    assert (msg.id, msg.data) == (pending, b"keep me")


def test_ealready_keeps_the_pending_message_for_poll(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", b"keep me", flags=WAIT))
    with raises_errno(errno.EALREADY):
        os.write(s.fileno(), b"x" * 10)
    assert not poll_out(s)
    util.one_msg(full)
    assert poll_out(s)
    assert util.one_msg(full).data == b"keep me"


def test_discard_ends_the_sending_state(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", b"dropped", flags=WAIT))
    s.discard()
    with raises_errno(errno.ENOMSG):
        s.send()
    util.one_msg(full)
    assert poll_out(s)
    assert full.num_messages() == 0, "a discarded pending message is never sent"
    s.send_msg(Announcement("$.Q.Name", b"next"))
    assert util.one_msg(full).data == b"next"


def test_close_in_sending_state_drops_the_pending_message(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", flags=WAIT))
    s.close()
    util.one_msg(full)
    assert full.num_messages() == 0


def test_retry_recomputes_recipients(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Announcement("$.Q.Name", flags=WAIT))
    pending = s.last_msg_id()
    full.unbind("$.Q.Name")  # still full, but no longer a recipient
    late = _listener(ksock)  # a new recipient
    assert poll_out(s)
    assert util.one_msg(roomy).id == pending
    assert util.one_msg(late).id == pending
    assert full.num_messages() == 1


def test_send_retry_with_a_new_error_ends_the_state_without_status(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Q.Ask", replier=True)
    fill(replier)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Request("$.Q.Ask", flags=WAIT))
    replier.close()
    with raises_errno(errno.EADDRNOTAVAIL):
        s.send()
    with raises_errno(errno.ENOMSG):
        s.send()
    assert s.num_messages() == 0, "a SEND retry generates no status message"
    assert poll_out(s)


def test_request_to_a_full_replier_with_all_or_wait_gives_eagain(
    ksock: KsockFactory,
) -> None:
    replier = ksock()
    replier.bind("$.Q.Ask", replier=True)
    fill(replier)
    s = ksock()
    with raises_errno(errno.EAGAIN):
        s.send_msg(Request("$.Q.Ask", b"wait", flags=WAIT))
    pending = s.last_msg_id()
    util.one_msg(replier)
    assert poll_out(s)
    req = util.one_msg(replier)
    assert (req.id, req.data, req.wants_us_to_reply()) == (pending, b"wait", True)
    replier.send_msg(reply_to(req))
    assert util.one_msg(s).in_reply_to == pending


def test_reply_to_a_full_requester_with_all_or_wait_is_pending(
    ksock: KsockFactory,
) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    asker.set_max_messages(2)
    req_id = asker.send_msg(Request("$.Q.Ask"))
    fill(asker, 2)
    asker.set_max_messages(1)
    req = util.one_msg(replier)
    with raises_errno(errno.EAGAIN):
        replier.send_msg(reply_to(req, b"late", flags=WAIT))
    assert not poll_out(replier)
    util.one_msg(asker)  # the filler
    assert poll_out(replier)
    reply = util.one_msg(asker)
    assert (reply.in_reply_to, reply.data) == (req_id, b"late")
    assert replier.num_unreplied_to() == 0


def test_all_or_wait_reply_waits_for_a_full_listener(ksock: KsockFactory) -> None:
    asker, replier, full = ksock(), ksock(), _listener(ksock, "$.Q.Ask")
    replier.bind("$.Q.Ask", replier=True)
    asker.send_msg(Request("$.Q.Ask"))
    util.one_msg(full)  # the listener copy of the request
    fill(full)
    req = util.one_msg(replier)
    with raises_errno(errno.EAGAIN):
        replier.send_msg(reply_to(req, flags=WAIT))
    assert asker.num_messages() == 0
    util.one_msg(full)
    assert poll_out(replier)
    assert util.one_msg(asker).is_reply()
    assert util.one_msg(full).is_reply()


def test_reply_with_all_or_fail_and_a_full_listener_gives_ebusy(
    ksock: KsockFactory,
) -> None:
    asker, replier, full = ksock(), ksock(), _listener(ksock, "$.Q.Ask")
    replier.bind("$.Q.Ask", replier=True)
    asker.send_msg(Request("$.Q.Ask"))
    util.one_msg(full)
    fill(full)
    req = util.one_msg(replier)
    with raises_errno(errno.EBUSY):
        replier.send_msg(reply_to(req, flags=FAIL))
    assert asker.num_messages() == 0
    replier.send_msg(reply_to(req))  # default: the full listener is skipped
    assert util.one_msg(asker).is_reply()


# --------------------------------------------------------------------------
# §18.11: ALL_OR_WAIT pollers are woken whenever room appears


def _start_pending(ksock: KsockFactory, make: Callable[[], Message]) -> util.Child:
    child = util.Child(util.pending_sender(make))
    msg = child.recv()
    assert msg[0] == "pending", msg
    util.wait_until_sleeping(child.pid)
    return child


def _assert_woken(child: util.Child) -> None:
    # poll() looks at the Ksock once more when its timeout expires, and that
    # retry would succeed too: only an answer well before the timeout shows
    # that KBUS woke the poller.
    woken, seconds, _ = child.result()
    assert woken, f"the poller was not woken (slept {seconds:.1f} s)"
    assert seconds < util.PENDING_POLL_TIMEOUT / 2, (
        f"the poller was only woken by its own timeout ({seconds:.1f} s)"
    )


def test_poller_is_woken_when_the_full_listener_reads(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"w", flags=WAIT)
    ) as child:
        util.one_msg(full)
        _assert_woken(child)
    assert util.one_msg(full).data == b"w"


def test_poller_is_woken_when_room_appears_below_a_reservation(
    ksock: KsockFactory,
) -> None:
    # full = 1 queued + 1 reserved (max 2); reading the queued message frees a
    # slot without the count ever passing from max_messages to max-1
    full, replier = _listener(ksock), ksock()
    replier.bind("$.Q.Ask", replier=True)
    full.set_max_messages(2)
    full.send_msg(Request("$.Q.Ask"))
    fill(full, 2)
    assert full.num_messages() == 1
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"r", flags=WAIT)
    ) as child:
        util.one_msg(full)
        _assert_woken(child)
    assert util.one_msg(full).data == b"r"


def test_poller_is_woken_when_the_reply_in_the_reserved_slot_is_read(
    ksock: KsockFactory,
) -> None:
    # full = 0 queued + 1 reserved (max 1); the reply arrives and is read
    full, replier = _listener(ksock), ksock()
    replier.bind("$.Q.Ask", replier=True)
    full.set_max_messages(1)
    full.send_msg(Request("$.Q.Ask"))
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"x", flags=WAIT)
    ) as child:
        replier.send_msg(reply_to(util.one_msg(replier)))
        assert util.one_msg(full).is_reply()
        _assert_woken(child)
    assert util.one_msg(full).data == b"x"


def test_poller_is_woken_when_max_messages_is_raised(ksock: KsockFactory) -> None:
    full = _listener(ksock)
    fill(full)
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"m", flags=WAIT)
    ) as child:
        full.set_max_messages(10)
        _assert_woken(child)
    assert [m.data for m in util.drain(full)] == [b"filler", b"m"]


def test_poller_is_woken_when_the_full_ksock_closes(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    fill(full)
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"c", flags=WAIT)
    ) as child:
        full.close()
        _assert_woken(child)
    assert util.one_msg(roomy).data == b"c"


def test_poller_is_woken_when_the_full_listener_unbinds(ksock: KsockFactory) -> None:
    full, roomy = _listener(ksock), _listener(ksock)
    full.set_max_messages(1)
    ksock().send_msg(Announcement("$.Q.Name", b"old"))
    util.one_msg(roomy)
    with _start_pending(
        ksock, lambda: Announcement("$.Q.Name", b"u", flags=WAIT)
    ) as child:
        full.unbind("$.Q.Name")  # removes the queued message: room
        _assert_woken(child)
    assert util.one_msg(roomy).data == b"u"
    assert full.num_messages() == 0


def test_poller_is_woken_when_the_full_replier_reads(ksock: KsockFactory) -> None:
    replier = ksock()
    replier.bind("$.Q.Ask", replier=True)
    fill(replier)
    with _start_pending(ksock, lambda: Request("$.Q.Ask", b"q", flags=WAIT)) as child:
        util.one_msg(replier)
        _assert_woken(child)
    req = util.one_msg(replier)
    assert req.data == b"q" and req.wants_us_to_reply()


def test_max_messages_limit_counts_every_kind_of_incoming_message(
    ksock: KsockFactory,
) -> None:
    k, replier = ksock(), ksock()
    replier.bind("$.Q.Ask", replier=True)
    k.bind("$.Q.Ask")
    k.set_max_messages(3)
    other = ksock()
    for _ in range(5):
        other.send_msg(Request("$.Q.Ask"))  # listener copies of requests
    assert k.num_messages() == 3
