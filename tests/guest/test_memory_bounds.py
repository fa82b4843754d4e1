# SPDX-License-Identifier: MIT
"""An unprivileged client cannot make KBUS hold unbounded kernel memory.

MAXMSGS accepts any count, so the bound is on bytes: a Ksock's queue holds
at most ``kbus_max_ksock_bytes`` of messages (entire lengths) and a device
at most ``kbus_max_device_bytes`` (queued copies, messages being read and
messages being written), of which one user may hold at most half of what is
left (test_hardening.py has the users' shares). A copy that would pass a
bound counts as "full":
a plain listener misses it, ALL_OR_FAIL gives EBUSY, a mandatory recipient
gives EBUSY (or EAGAIN with ALL_OR_WAIT), and a write that would pass the
device bound fails with ENOMEM. Nothing already queued is lost.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from kbus import Announcement, Message, Request, calc_entire_message_len

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

PARAMS = Path("/sys/module/kbus/parameters")
MiB = 1 << 20
DATA = 60_000  # bytes of data per message
SIZE = calc_entire_message_len(len("$.Mem.Big"), DATA)
FAIL = Message.ALL_OR_FAIL


def _param(name: str) -> int:
    return int((PARAMS / name).read_text())


def _big(flags: int = 0) -> Announcement:
    return Announcement("$.Mem.Big", b"m" * DATA, flags=flags)


def test_default_bounds_are_8_mib_per_ksock_and_64_mib_per_device() -> None:
    assert _param("kbus_max_ksock_bytes") == 8 * MiB
    assert _param("kbus_max_user_bytes") == 32 * MiB
    assert _param("kbus_max_device_bytes") == 64 * MiB


def test_a_listener_that_never_reads_holds_at_most_its_byte_bound(
    ksock: KsockFactory,
) -> None:
    hog, sender = ksock(), ksock()
    hog.set_max_messages(1_000_000)  # the count limit is no protection
    hog.bind("$.Mem.*")
    fits = 8 * MiB // SIZE
    for _ in range(fits + 20):
        sender.send_msg(_big())  # a full listener is skipped, the send works
    assert hog.num_messages() == fits
    with raises_errno(errno.EBUSY):
        sender.send_msg(_big(flags=FAIL))
    # reading makes room again, and nothing already queued was lost
    assert util.one_msg(hog).data == b"m" * DATA
    sender.send_msg(_big(flags=FAIL))
    assert len(util.drain(hog)) == fits


def test_small_messages_still_reach_a_listener_whose_bytes_are_used_up(
    ksock: KsockFactory,
) -> None:
    hog, sender = ksock(), ksock()
    hog.set_max_messages(1_000_000)
    hog.bind("$.Mem.*")
    while True:
        sender.send_msg(_big())
        if hog.num_messages() * SIZE + SIZE > 8 * MiB:
            break
    before = hog.num_messages()
    sender.send_msg(Announcement("$.Mem.Small", b"s"))
    assert hog.num_messages() == before + 1


def test_the_device_bound_covers_all_queues_together(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    module_loader(f"kbus_max_device_bytes={1 * MiB}")
    hogs = [ksock() for _ in range(3)]
    sender = ksock()
    for h in hogs:
        h.set_max_messages(1_000)
        h.bind("$.Mem.*")
    for _ in range(30):
        sender.send_msg(_big())
    total = sum(h.num_messages() for h in hogs)
    # one user (everything here is root's): half of the device
    assert total * SIZE <= 1 * MiB // 2
    assert total >= (1 * MiB // 2) // SIZE - 3  # every copy that fitted was made
    with raises_errno(errno.EBUSY):
        sender.send_msg(_big(flags=FAIL))


def test_a_request_to_a_replier_over_its_bound_gives_ebusy(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    module_loader(f"kbus_max_ksock_bytes={4 * SIZE}")
    replier, asker = ksock(), ksock()
    replier.set_max_messages(1_000)
    replier.bind("$.Mem.Big", replier=True)
    asker.set_max_messages(1_000)
    for _ in range(4):
        asker.send_msg(Request("$.Mem.Big", b"r" * DATA))
    with raises_errno(errno.EBUSY):
        asker.send_msg(Request("$.Mem.Big", b"r" * DATA))
    assert replier.num_messages() == 4


def test_half_written_messages_count_against_the_device_bound(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    size = 300_000
    # one user holds at most half of the device: two headers, not three
    module_loader(f"kbus_max_device_bytes={4 * size + 10_000}")
    writers = [ksock() for _ in range(3)]
    name = b"$.Mem.Write"
    data_len = size - calc_entire_message_len(len(name), 0)
    # just the header of an entire message: its buffer is allocated then
    header = raw.Header(name_len=len(name), data_len=data_len).pack()
    os.write(writers[0].fileno(), header)
    os.write(writers[1].fileno(), header)
    with raises_errno(errno.ENOMEM):
        os.write(writers[2].fileno(), header)
    writers[0].discard()  # gives its bytes back
    os.write(writers[2].fileno(), header)


def test_bytes_are_given_back_when_everything_closes(ksock: KsockFactory) -> None:
    hog, sender = ksock(), ksock()
    hog.bind("$.Mem.*")
    for _ in range(5):
        sender.send_msg(_big())
    hog.close()
    sender.close()
    # a fresh listener gets the full bound again
    fresh, sender2 = ksock(), ksock()
    fresh.set_max_messages(1_000_000)
    fresh.bind("$.Mem.*")
    for _ in range(8 * MiB // SIZE):
        sender2.send_msg(_big(flags=FAIL))
    assert fresh.num_messages() == 8 * MiB // SIZE
