# SPDX-License-Identifier: MIT
"""The Python package's API for this implementation's additions, against the
real module: ``Ksock.sender_creds()`` (MSGCREDS), ``Ksock.num_filtered()``
(FILTERED), ``Ksock.read_msgs()``/``wait_for_msgs()`` (BATCHREAD), and
``$.KBUS.`` statuses and bind events trusted only when KBUS made them
(SYNTHETIC: ``Message.is_status()``, ``is_replier_bind_event()``, ``cast()``).
The raw ioctls themselves are tested in test_policy.py and
test_batch_read.py."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from kbus import Announcement, Ksock, Message, Reply, Request, Status, reply_to
from kbus.ksock import SenderCreds

import kbus_raw as raw
import kbus_util as util
from kbus_util import ChildConn, KsockFactory, raises_errno

BOB = 1001


def _send_as(uid: int, name: str, data: bytes = b"") -> int:
    def body() -> int:
        with Ksock(0) as k:
            k.send_msg(Announcement(name, data))
        return os.getpid()

    pid: int = util.run_as(uid, body)
    return pid


# --------------------------------------------------------------------------
# sender_creds


def test_sender_creds_of_the_message_last_read(ksock: KsockFactory) -> None:
    reader = ksock()
    reader.bind("$.PyWho.*")
    with raises_errno(errno.ENOMSG):
        reader.sender_creds()  # nothing read yet
    pid = _send_as(BOB, "$.PyWho.Bob")
    ksock().send_msg(Announcement("$.PyWho.Root"))
    assert util.one_msg(reader).name == "$.PyWho.Bob"
    creds = reader.sender_creds()
    assert isinstance(creds, SenderCreds)
    assert creds == (BOB, BOB, pid, 0)
    assert (creds.uid, creds.gid, creds.pid, creds.synthetic) == (BOB, BOB, pid, False)
    assert reader.sender_creds() == creds  # still known after the whole read
    assert util.one_msg(reader).name == "$.PyWho.Root"
    assert reader.sender_creds() == (0, 0, os.getpid(), 0)


def test_a_status_kbus_made_is_trusted_and_has_no_sender(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.PyWho.Ask", replier=True)
    req_id = asker.send_msg(Request("$.PyWho.Ask"))
    replier.close()  # KBUS answers $.KBUS.Replier.GoneAway
    status = util.one_msg(asker)
    assert status.name == "$.KBUS.Replier.GoneAway" and status.in_reply_to == req_id
    assert status.is_synthetic() and status.is_status()
    assert type(status.cast()) is Status
    creds = asker.sender_creds()
    assert creds.synthetic and creds.pid == 0
    assert (creds.uid, creds.gid) == (0xFFFFFFFF, 0xFFFFFFFF)


def test_a_bind_event_kbus_made_is_trusted(ksock: KsockFactory) -> None:
    watcher, service = ksock(), ksock()
    watcher.bind("$.KBUS.ReplierBindEvent")
    watcher.report_replier_binds(True)
    try:
        service.bind("$.PyWho.Svc", replier=True)
        event = util.one_msg(watcher)
        assert event.is_replier_bind_event()
        assert str(event).endswith(f"[Bind '$.PyWho.Svc' for {service.ksock_id()}]>")
        assert watcher.sender_creds().synthetic
    finally:
        watcher.report_replier_binds(False)


def test_names_alone_are_not_trusted(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    """With kbus_compat_open=1 a client may send $.KBUS. names again: what
    it sends arrives without SYNTHETIC (the kernel clears it), and the
    package takes it for an ordinary reply or announcement."""
    module_loader("kbus_compat_open=1")
    asker, replier, watcher = ksock(), ksock(), ksock()
    replier.bind("$.PyForge.Ask", replier=True)
    watcher.bind("$.KBUS.ReplierBindEvent")
    req_id = asker.send_msg(Request("$.PyForge.Ask"))
    req = util.one_msg(replier)
    forged = Reply(
        "$.KBUS.Replier.GoneAway",
        in_reply_to=req.id,
        to=req.from_,
        flags=Message.SYNTHETIC,
    )
    replier.send_msg(forged)
    got = util.one_msg(asker)
    assert got.name == "$.KBUS.Replier.GoneAway" and got.in_reply_to == req_id
    assert not got.is_synthetic()
    assert not got.is_status()
    assert type(got.cast()) is Reply
    assert asker.sender_creds() == (0, 0, os.getpid(), 0)
    event_data = raw.bind_event_data(1, 99, b"$.PyForge.Ask")
    asker.send_msg(
        Announcement("$.KBUS.ReplierBindEvent", event_data, flags=Message.SYNTHETIC)
    )
    event = util.one_msg(watcher)
    assert not event.is_synthetic()
    assert not event.is_replier_bind_event()
    assert not str(event).startswith("<ReplierBindEvent")


# --------------------------------------------------------------------------
# num_filtered


def test_num_filtered_counts_what_the_policy_withheld(ksock: KsockFactory) -> None:
    admin = ksock()
    raw.set_policy(
        admin.fileno(),
        [(raw.LISTEN, raw.DENY, raw.USER, BOB, "$.PySecret.*")],
        raw.ALLOW,
    )
    try:

        def snoop(conn: ChildConn) -> tuple[list[str], int]:
            with Ksock(0) as k:
                k.bind("$.PySecret.*")
                k.bind("$.PyPublic.*")
                before = k.num_filtered()
                conn.send("bound")
                assert conn.recv(30) == "sent"
                return [m.name for m in util.drain(k)], k.num_filtered() - before

        with util.as_user(BOB, snoop) as bob:
            assert bob.recv() == "bound"
            sender = ksock()
            sender.send_msg(Announcement("$.PySecret.Key"))
            sender.send_msg(Announcement("$.PySecret.Other"))
            sender.send_msg(Announcement("$.PyPublic.News"))
            bob.send("sent")
            assert bob.result() == (["$.PyPublic.News"], 2)
        assert admin.num_filtered() == 0
    finally:
        raw.set_policy(admin.fileno(), [], raw.ALLOW)


# --------------------------------------------------------------------------
# read_msgs: BATCHREAD


def test_read_msgs_takes_every_queued_message_in_one_read(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.PyBatch.*")
    assert listener.read_msgs() == []  # nothing queued (and batch reading now on)
    assert listener.batch_read(just_ask=True) == 1
    sent = [Announcement(f"$.PyBatch.M{i}", b"d" * (i * 5)) for i in range(5)]
    ids = [sender.send_msg(m) for m in sent]
    got = listener.read_msgs()
    assert [m.name for m in got] == [m.name for m in sent]
    assert [m.data for m in got] == [None, b"d" * 5, b"d" * 10, b"d" * 15, b"d" * 20]
    assert [m.id for m in got] == ids
    assert listener.num_messages() == 0
    assert listener.read_msgs() == []


def test_read_msgs_takes_only_what_fits_and_a_big_message_alone(
    ksock: KsockFactory,
) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.PyBatch.*")
    small = Announcement("$.PyBatch.Small", b"s")
    big = Announcement("$.PyBatch.Big", b"b" * 1000)
    for msg in (small, small, big, small):
        sender.send_msg(msg)
    size = 2 * small.total_length() + 8
    assert [m.name for m in listener.read_msgs(size)] == ["$.PyBatch.Small"] * 2
    got = listener.read_msgs(size)  # the big one does not fit: read alone
    assert [(m.name, m.data) for m in got] == [("$.PyBatch.Big", b"b" * 1000)]
    assert [m.name for m in listener.read_msgs(size)] == ["$.PyBatch.Small"]
    # the original reads still work with batch reading on
    sender.send_msg(small)
    assert util.one_msg(listener).name == "$.PyBatch.Small"


def test_requests_read_in_a_batch_are_answered_with_reply_to(
    ksock: KsockFactory,
) -> None:
    replier, asker = ksock(), ksock()
    replier.bind("$.PyBatch.Ask", replier=True)
    for i in range(3):
        asker.send_msg(Request("$.PyBatch.Ask", str(i).encode()))
    got = replier.read_msgs()
    assert [m.data for m in got] == [b"0", b"1", b"2"]
    assert all(m.wants_us_to_reply() for m in got)
    assert replier.num_unreplied_to() == 3
    for m in got:
        replier.send_msg(reply_to(m, b"re" + (m.data or b"")))
    assert replier.num_unreplied_to() == 0
    assert [m.data for m in util.drain(asker)] == [b"re0", b"re1", b"re2"]


def test_read_msgs_then_sender_creds_is_the_last_sender(ksock: KsockFactory) -> None:
    listener = ksock()
    listener.bind("$.PyBatch.*")
    ksock().send_msg(Announcement("$.PyBatch.Root"))
    pid = _send_as(BOB, "$.PyBatch.Bob")
    assert [m.name for m in listener.read_msgs()] == ["$.PyBatch.Root", "$.PyBatch.Bob"]
    assert listener.sender_creds() == (BOB, BOB, pid, 0)


def test_wait_for_msgs(ksock: KsockFactory) -> None:
    listener, sender = ksock(), ksock()
    listener.bind("$.PyBatch.*")
    start = time.monotonic()
    assert listener.wait_for_msgs(0.2) == []
    assert time.monotonic() - start >= 0.19
    sender.send_msg(Announcement("$.PyBatch.A"))
    sender.send_msg(Announcement("$.PyBatch.B"))
    got = listener.wait_for_msgs(5)
    assert [m.name for m in got] == ["$.PyBatch.A", "$.PyBatch.B"]
