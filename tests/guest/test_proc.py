# SPDX-License-Identifier: MIT
"""/proc/kbus/bindings and /proc/kbus/stats, exact formats (§13). Most tests
reload the module so that Ksock ids and serial numbers are known."""

from __future__ import annotations

import errno
import os
import re
import stat

from kbus import (
    Announcement,
    Ksock,
    Message,
    MessageId,
    Request,
    read_bindings,
    reply_to,
)

import kbus_raw as raw
import kbus_util as util
from kbus_util import BINDINGS_HEADER, KsockFactory, binding_line

IDLE = "      read byte 0 of 0, wrote byte 0 of HDR (not finished), not sending"
NO_REQUESTS = "      outstanding requests 0 (size 16, max 0), unsent replies 0 (max 0)"


def _ksock_line(kid: int, last: tuple[int, int], queued: int, limit: int = 100) -> str:
    return f"    ksock {kid} last msg {last[0]}:{last[1]} queue {queued} of {limit}"


def _rw_line(ksock_id: int) -> str:
    return util.ksock_stats_lines(ksock_id)[1]


# --------------------------------------------------------------------------
# /proc/kbus/bindings


def test_proc_files_are_world_readable_only() -> None:
    for path in (util.BINDINGS_PATH, util.STATS_PATH):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o444, path


def test_bindings_file_with_no_bindings_has_just_the_header(
    fresh_module: None, ksock: KsockFactory
) -> None:
    ksock()
    assert util.bindings_text() == BINDINGS_HEADER + "\n"


def test_bindings_file_exact_format(fresh_module: None, ksock: KsockFactory) -> None:
    k1, k2, k3 = ksock(), ksock(), ksock()
    k1.bind("$.Sensors.*", replier=True)
    k2.bind("$.Sensors.Kitchen.Temperature", replier=True)
    k3.bind("$.Jim.*")
    pid = os.getpid()
    assert util.bindings_text() == (
        BINDINGS_HEADER
        + "\n"
        + f"  0:        3 {pid:8d}  L  $.Jim.*\n"
        + f"  0:        2 {pid:8d}  R  $.Sensors.Kitchen.Temperature\n"
        + f"  0:        1 {pid:8d}  R  $.Sensors.*\n"
    )


def test_bindings_file_lists_newest_first_including_duplicates(
    fresh_module: None, ksock: KsockFactory
) -> None:
    k = ksock()
    k.bind("$.A")
    k.bind("$.B", replier=True)
    k.bind("$.A")
    k.unbind("$.B", replier=True)
    pid = os.getpid()
    assert util.binding_lines(0) == [
        binding_line(0, 1, pid, False, "$.A"),
        binding_line(0, 1, pid, False, "$.A"),
    ]


def test_bindings_file_shows_the_pid_of_the_opener(
    fresh_module: None, ksock: KsockFactory
) -> None:
    def child_target(conn: util.ChildConn) -> object:
        with Ksock(0) as k:
            k.bind("$.Child.Bound")
            conn.send(k.ksock_id())
            conn.recv(30)
        return None

    with util.Child(child_target) as child:
        kid = child.recv()
        assert util.binding_lines(0) == [
            binding_line(0, kid, child.pid, False, "$.Child.Bound")
        ]
        child.send("done")
        child.result()


def test_bindings_file_reports_every_device_in_index_order(
    fresh_module: None, ksock: KsockFactory
) -> None:
    k0 = ksock()
    assert k0.new_device() == 1
    k1 = util.open_retry(ksock, 1)
    k1.bind("$.Fred")
    k0.bind("$.Jim", replier=True)
    pid = os.getpid()
    assert util.bindings_text() == (
        f"{BINDINGS_HEADER}\n"
        f"  0:        1 {pid:8d}  R  $.Jim\n"
        f"{BINDINGS_HEADER}\n"
        f"  1:        1 {pid:8d}  L  $.Fred\n"
    )


def test_read_bindings_parses_the_file(ksock: KsockFactory) -> None:
    a, b = ksock(), ksock()
    a.bind("$.RB.Replier", replier=True)
    b.bind("$.RB.*")
    names = {a.ksock_id(): "alice"}
    got = [t for t in read_bindings(names) if t[2].startswith("$.RB.")]
    assert got == [(b.ksock_id(), False, "$.RB.*"), ("alice", True, "$.RB.Replier")]


def test_bindings_of_a_closed_ksock_disappear(ksock: KsockFactory) -> None:
    k = ksock()
    k.bind("$.Gone")
    assert any(line.endswith("  L  $.Gone") for line in util.binding_lines(0))
    k.close()
    assert util.binding_lines(0) == []


# --------------------------------------------------------------------------
# /proc/kbus/stats


def test_stats_file_exact_format(fresh_module: None, ksock: KsockFactory) -> None:
    k1, k2 = ksock(), ksock()
    k2.bind("$.Stats")
    assert k1.send_msg(Announcement("$.Stats")) == MessageId(0, 1)
    assert util.stats_text() == (
        "dev  0: next ksock 3 next msg 2 unsent unbindings 0\n"
        "    ksock 2 last msg 0:0 queue 1 of 100\n"
        f"{IDLE}\n"
        f"{NO_REQUESTS}\n"
        "    ksock 1 last msg 0:1 queue 0 of 100\n"
        f"{IDLE}\n"
        f"{NO_REQUESTS}\n"
    )


def test_stats_file_reports_every_device_in_index_order(
    fresh_module: None, ksock: KsockFactory
) -> None:
    k0 = ksock()
    assert k0.new_device() == 1
    k1 = util.open_retry(ksock, 1)
    k1.set_max_messages(7)
    k0.send_msg(Announcement("$.Dev0"))
    k1.send_msg(Announcement("$.Dev1"))
    k1.send_msg(Announcement("$.Dev1"))
    assert util.stats_text() == (
        "dev  0: next ksock 2 next msg 2 unsent unbindings 0\n"
        "    ksock 1 last msg 0:1 queue 0 of 100\n"
        f"{IDLE}\n{NO_REQUESTS}\n"
        "dev  1: next ksock 2 next msg 3 unsent unbindings 0\n"
        "    ksock 1 last msg 0:2 queue 0 of 7\n"
        f"{IDLE}\n{NO_REQUESTS}\n"
    )


def test_stats_lists_ksocks_newest_first(ksock: KsockFactory) -> None:
    ids = [ksock().ksock_id() for _ in range(3)]
    assert util.ksock_ids_in_stats(0) == ids[::-1]


def test_stats_show_a_non_local_last_msg_id_and_queue_limit(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    k.set_max_messages(5)
    k.send_msg(Announcement("$.Remote", id=MessageId(7, 1234)))
    assert util.ksock_stats_lines(k.ksock_id())[0] == _ksock_line(
        k.ksock_id(), (7, 1234), 0, 5
    )


def test_stats_outstanding_requests_and_unsent_replies(
    fresh_module: None, ksock: KsockFactory
) -> None:
    asker, replier = ksock(), ksock()  # ids 1 and 2
    replier.bind("$.Ask", replier=True)
    asker.send_msg(Request("$.Ask"))  # 0:1
    asker.send_msg(Request("$.Ask"))  # 0:2
    assert util.ksock_stats_lines(1) == [
        _ksock_line(1, (0, 2), 0),
        IDLE,
        "      outstanding requests 2 (size 16, max 2), unsent replies 0 (max 0)",
    ]
    assert util.ksock_stats_lines(2)[0] == _ksock_line(2, (0, 0), 2)
    first = util.one_msg(replier)
    util.one_msg(replier)
    assert util.ksock_stats_lines(2)[2] == (
        "      outstanding requests 0 (size 16, max 0), unsent replies 2 (max 2)"
    )
    replier.send_msg(reply_to(first))  # 0:3
    assert util.ksock_stats_lines(2) == [
        _ksock_line(2, (0, 3), 0),
        IDLE,
        "      outstanding requests 0 (size 16, max 0), unsent replies 1 (max 2)",
    ]
    assert util.ksock_stats_lines(1) == [
        _ksock_line(1, (0, 2), 1),
        IDLE,
        "      outstanding requests 1 (size 16, max 2), unsent replies 0 (max 0)",
    ]


def test_stats_read_byte_is_true_at_every_position(ksock: KsockFactory) -> None:
    # §18.9: also inside the data part
    k = ksock()
    k.bind("$.Read.Pos")
    k.send_msg(Announcement("$.Read.Pos", b"0123456789abc"))
    total = k.next_msg()
    fd = k.fileno()
    for pos in range(total):
        assert _rw_line(k.ksock_id()) == (
            f"      read byte {pos} of {total}, "
            "wrote byte 0 of HDR (not finished), not sending"
        ), f"at position {pos}"
        assert len(os.read(fd, 1)) == 1
    assert _rw_line(k.ksock_id()) == IDLE, "a fully read message is released"


def _write_and_check(k: Ksock, buf: bytes, upto: int, expected: str) -> None:
    raw.write_all(k.fileno(), buf[:upto])
    line = _rw_line(k.ksock_id())
    assert line == f"      read byte 0 of 0, wrote byte {expected}, not sending", upto
    k.discard()


def test_stats_wrote_byte_shows_the_part_and_position(ksock: KsockFactory) -> None:
    k = ksock()
    name, data = b"$.Stats.W", b"12345"  # 9 + 3 name padding; 5 + 3 data padding
    buf = raw.entire_message(name, data)
    h, pn, pd = raw.HDR_LEN, raw.padded_name_len(9), raw.padded_data_len(5)
    assert (pn, pd) == (12, 8)
    _write_and_check(k, buf, 10, "10 of HDR (not finished)")
    _write_and_check(k, buf, h + 3, "3 of NAME (not finished)")
    _write_and_check(k, buf, h + 9 + 1, "1 of NPAD (not finished)")
    _write_and_check(k, buf, h + pn + 3, "3 of DATA (not finished)")
    _write_and_check(k, buf, h + pn + 5 + 1, "1 of DPAD (not finished)")
    _write_and_check(k, buf, h + pn + pd + 2, "2 of FINAL (not finished)")
    raw.write_all(k.fileno(), buf)
    assert re.fullmatch(
        r"      read byte 0 of 0, wrote byte \d+ of (HDR|NAME|NPAD|DATA|DPAD|FINAL)"
        r" \(finished\), not sending",
        _rw_line(k.ksock_id()),
    )
    k.discard()
    assert _rw_line(k.ksock_id()) == IDLE


def test_stats_show_a_complete_pointy_message_as_finished(ksock: KsockFactory) -> None:
    k = ksock()
    msg = raw.Pointy(b"$.Stats.P", b"data")
    raw.write_all(k.fileno(), msg.pack())
    assert re.fullmatch(
        r"      read byte 0 of 0, wrote byte \d+ of [A-Z]+ \(finished\), not sending",
        _rw_line(k.ksock_id()),
    )
    k.discard()


def test_stats_show_the_sending_state(ksock: KsockFactory) -> None:
    full = ksock()
    full.bind("$.Stats.Full")
    util.fill(full)
    s = ksock()
    msg = Announcement("$.Stats.Full", flags=Message.ALL_OR_WAIT)  # kept alive
    s.write_msg(msg)
    with util.raises_errno(errno.EAGAIN):
        s.send()
    assert re.fullmatch(
        r"      read byte 0 of 0, wrote byte \d+ of [A-Z]+ \(finished\), sending",
        _rw_line(s.ksock_id()),
    )
    s.discard()
    assert _rw_line(s.ksock_id()) == IDLE


def test_stats_dev_line_counts_set_aside_events(ksock: KsockFactory) -> None:
    reporter, r, full = ksock(), ksock(), ksock()
    reporter.report_replier_binds(True)
    r.bind("$.Stats.SA", replier=True)
    full.bind(raw.NAME_BIND_EVENT)
    util.fill(full)
    r.close()
    line = util.stats_device_block(0)[0]
    assert re.fullmatch(
        r"dev  0: next ksock \d+ next msg \d+ unsent unbindings 1", line
    ), line
    full.close()
    line = util.stats_device_block(0)[0]
    assert re.fullmatch(
        r"dev  0: next ksock \d+ next msg \d+ unsent unbindings 0", line
    ), line


def test_stats_next_counters_advance(ksock: KsockFactory) -> None:
    ksock().send_msg(Announcement("$.Stats.Count"))  # both counters in use
    before = util.dev_stats(0)
    k = ksock()
    assert k.ksock_id() == before.next_ksock
    sent = k.send_msg(Announcement("$.Stats.Count"))
    assert sent.serial_num == before.next_msg
    after = util.dev_stats(0)
    assert (after.next_ksock, after.next_msg) == (
        before.next_ksock + 1,
        before.next_msg + 1,
    )
