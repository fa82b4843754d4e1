"""Host unit tests of the STB state machines (decoder, recorder), the
logger's line format, rotation and overflow accounting, and the supervisor's
respawn delay (no kernel needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from stb import protocol
from stb.client import BURST_PATTERN, burst_commands
from stb.decoder import PAUSED, PLAYING, STOPPED, DecoderState, journal_command
from stb.logger import (
    LogLine,
    OverflowTracker,
    RotatingLog,
    escape_data,
    format_line,
    kind_of,
    read_log,
    unescape_data,
)
from stb.protocol import CommandJournal, FieldError
from stb.recorder import MAX_ACTIVE, RecorderState
from stb.supervisor import MAX_DELAY, MIN_DELAY, next_delay, parse_service

from kbus import Announcement, Message, MessageId, Reply, Request

# -- decoder ------------------------------------------------------------------------


def test_decoder_starts_stopped_and_untuned() -> None:
    d = DecoderState()
    assert d.snapshot() == {"state": STOPPED, "channel": None, "seq": 0}
    with pytest.raises(FieldError) as info:
        d.apply("Play", {})
    assert info.value.code == protocol.E_NO_CHANNEL
    with pytest.raises(FieldError) as info:
        d.apply("Pause", {})
    assert info.value.code == protocol.E_BAD_STATE


def test_decoder_transitions_and_events() -> None:
    d = DecoderState()
    out = d.apply("Tune", {"channel": "7"})
    assert out.event == ("Tuned", {"state": PLAYING, "channel": 7, "seq": 1})
    assert out.reply == {"status": "ok", "state": PLAYING, "channel": 7, "seq": 1, "changed": 1}
    same = d.apply("Tune", {"channel": "7"})
    assert same.event is None and same.reply["changed"] == 0 and same.reply["seq"] == 1
    assert d.apply("Play", {}).event is None
    assert d.apply("Pause", {}).event == ("Paused", {"state": PAUSED, "channel": 7, "seq": 2})
    assert d.apply("Pause", {}).event is None
    assert d.apply("Tune", {"channel": "7"}).event is not None  # paused -> playing again
    assert d.apply("Stop", {}).event == ("Stopped", {"state": STOPPED, "channel": 7, "seq": 4})
    assert d.apply("Stop", {}).event is None
    assert d.apply("Play", {}).event == ("Playing", {"state": PLAYING, "channel": 7, "seq": 5})
    status = d.apply("Status", {"tag": "x"})
    assert status.event is None and status.reply["state"] == PLAYING


@pytest.mark.parametrize(
    ("command", "fields", "code"),
    [
        ("Tune", {}, "missing-argument"),
        ("Tune", {"channel": "0"}, "bad-argument"),
        ("Tune", {"channel": "10000"}, "bad-argument"),
        ("Tune", {"channel": "x"}, "bad-argument"),
        ("Tune", {"channel": "1", "volume": "3"}, "bad-argument"),
        ("Play", {"channel": "1"}, "bad-argument"),
        ("Status", {"journal": "keep"}, "bad-argument"),
        ("Rewind", {}, "unknown-command"),
    ],
)
def test_decoder_refuses_bad_arguments_without_changing(
    command: str, fields: dict[str, str], code: str
) -> None:
    d = DecoderState()
    d.apply("Tune", {"channel": "3"})
    before = d.snapshot()
    with pytest.raises(FieldError) as info:
        d.apply(command, fields)
    assert info.value.code == code
    assert d.snapshot() == before


def test_journal_command_resets_on_status_journal_reset_only() -> None:
    j = CommandJournal()
    name = protocol.DECODER + "Status"
    journal_command(j, "Tune", MessageId(0, 1), protocol.DECODER + "Tune", b"channel=1")
    journal_command(j, "Status", MessageId(0, 2), name, b"tag=journal=reset")
    assert j.count == 2
    journal_command(j, "Status", MessageId(0, 3), name, b"journal=reset tag=a")
    assert j.count == 1
    fresh = CommandJournal()
    fresh.add(MessageId(0, 3), name, b"journal=reset tag=a")
    assert j.digest == fresh.digest
    journal_command(j, "Status", MessageId(0, 4), name, b"journal=reset journal=reset")
    assert j.count == 2  # malformed: no reset (the decoder refuses it too)


# -- recorder -------------------------------------------------------------------------


def observe(r: RecorderState, serial: int, command: str, data: bytes = b"") -> list[str]:
    return r.observe_command(command, MessageId(0, serial), protocol.DECODER + command, data)


def test_recorder_mirrors_the_decoder_from_the_requests_it_observes() -> None:
    r, d = RecorderState(), DecoderState()
    j = CommandJournal()
    commands = [
        ("Tune", b"channel=4"),
        ("Pause", b""),
        ("Pause", b"x"),
        ("Play", b""),
        ("Tune", b"channel=bad"),
        ("Stop", b""),
        ("Status", b"journal=reset"),
        ("Tune", b"channel=9"),
    ]
    for serial, (command, data) in enumerate(commands, 1):
        observe(r, serial, command, data)
        journal_command(j, command, MessageId(0, serial), protocol.DECODER + command, data)
        try:
            d.apply(command, protocol.decode(data))
        except (FieldError, protocol.PayloadError):
            pass
    assert r.mirror.snapshot() == d.snapshot()
    status = r.status()
    assert status["commands"] == j.count == 2
    assert status["digest"] == j.digest


def test_recorder_sessions_start_stop_list() -> None:
    r = RecorderState()
    with pytest.raises(FieldError) as info:
        r.request("Start", {})
    assert info.value.code == protocol.E_NO_CHANNEL
    fixed = r.request("Start", {"channel": "5"})
    assert fixed == {"status": "ok", "rec": 1, "channel": 5, "follow": False}
    observe(r, 1, "Tune", b"channel=8")
    follow = r.request("Start", {})
    assert follow == {"status": "ok", "rec": 2, "channel": 8, "follow": True}
    notes = observe(r, 2, "Tune", b"channel=11")
    assert notes == ["recording 2 follows the decoder to channel 11"]
    assert r.request("List", {})["recs"] == "1:5:recording:fixed:0,2:11:recording:follow:1"
    stopped = r.request("Stop", {"rec": "2"})
    assert stopped == {"status": "ok", "rec": 2, "channel": 11, "switches": 1}
    refused = [
        ({"rec": "2"}, "bad-state"),
        ({"rec": "9"}, "no-such-recording"),
        ({}, "missing-argument"),
        ({"rec": "x"}, "bad-argument"),
    ]
    for fields, code in refused:
        with pytest.raises(FieldError) as info:
            r.request("Stop", fields)
        assert info.value.code == code
    assert r.status()["active"] == 1


def test_recorder_limits_active_recordings_and_forgets_old_ones() -> None:
    r = RecorderState()
    for _ in range(MAX_ACTIVE):
        r.request("Start", {"channel": "1"})
    with pytest.raises(FieldError) as info:
        r.request("Start", {"channel": "1"})
    assert info.value.code == protocol.E_BUSY
    for n in range(1, 200):
        if n in r.recordings and r.recordings[n].state == "recording":
            r.request("Stop", {"rec": str(n)})
        r.request("Start", {"channel": "2"})
    assert len(r.recordings) <= 32 + MAX_ACTIVE
    assert len(protocol.encode(r.request("List", {}))) <= protocol.MAX_PAYLOAD


def test_recorder_resets_its_mirror_when_a_new_decoder_starts() -> None:
    r = RecorderState()
    observe(r, 1, "Tune", b"channel=3")
    r.decoder_started()
    assert r.mirror.snapshot() == DecoderState().snapshot()
    assert r.status()["commands"] == 0 and r.status()["decoder_starts"] == 1


# -- logger ---------------------------------------------------------------------------


def test_log_lines_format_and_parse_back() -> None:
    sent = Request("$.STB.Decoder.Tune", b"channel=5 tag=a%20b", id=MessageId(0, 7))
    req = Message.from_bytes(sent.to_bytes())
    line = format_line(3, req)
    assert line == (
        "3 0:7 REQ $.STB.Decoder.Tune from=0 to=0 irt=- flags=0x1 data=channel=5 tag=a%2520b"
    )
    parsed = LogLine(line)
    assert (parsed.lineno, parsed.id, parsed.kind, parsed.name) == (3, "0:7", "REQ", req.name)
    assert parsed.data == b"channel=5 tag=a%20b" and parsed.serial == 7 and parsed.flags == 1
    rep = Reply("$.STB.Decoder.Tune", to=4, in_reply_to=MessageId(0, 7), id=MessageId(0, 8))
    assert LogLine(format_line(4, rep)).irt == "0:7"
    assert LogLine(format_line(4, rep)).data == b""
    assert kind_of(rep) == "REP"
    status = Reply("$.KBUS.Replier.GoneAway", in_reply_to=MessageId(0, 7))
    assert kind_of(status) == "STS"
    assert kind_of(Announcement("$.STB.Decoder.Event.Tuned")) == "ANN"
    with pytest.raises(ValueError):
        LogLine("# 1.0 start")


@pytest.mark.parametrize(
    "data", [b"plain text", b"a\nb\rc", b"100%", b"\xff\x00\x80", "caf\u00e9".encode(), b" data=x"]
)
def test_log_data_escaping_keeps_one_line_and_round_trips(data: bytes) -> None:
    text = escape_data(data)
    assert "\n" not in text and "\r" not in text
    assert unescape_data(text) == data


def test_rotating_log_keeps_backups_in_order(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.log")
    log = RotatingLog(path, max_bytes=100, backups=2)
    for n in range(40):
        log.write(f"line {n:03d}")
    log.close()
    assert log.rotations > 2
    lines = read_log(path)
    numbers = [int(t.split()[1]) for t in lines]
    assert numbers == list(range(numbers[0], 40)), "oldest first, nothing out of order"
    assert numbers[0] > 0, "older files were dropped"
    assert all(len((tmp_path / name).read_bytes()) <= 100 for name in ("bus.log", "bus.log.1"))
    assert not (tmp_path / "bus.log.3").exists()
    # appending after a restart
    again = RotatingLog(path, max_bytes=100, backups=2)
    again.write("line 040")
    again.close()
    assert read_log(path)[-1] == "line 040"


def test_rotating_log_without_backups_truncates(tmp_path: Path) -> None:
    path = str(tmp_path / "bus.log")
    log = RotatingLog(path, max_bytes=50, backups=0)
    for n in range(20):
        log.write(f"line {n:03d}")
    log.close()
    assert not (tmp_path / "bus.log.1").exists()
    assert read_log(path)[-1] == "line 019"


def test_overflow_tracker_counts_gaps_as_missed_only_in_an_episode() -> None:
    t = OverflowTracker()
    for serial in (1, 2, 5):  # a gap with room in the queue: unseen (e.g. a status)
        assert t.message(0, serial) == 0
    assert (t.unseen, t.missed, t.overflows) == (2, 0, 0)
    assert t.queue_seen(10, 10) is True  # full: an episode starts
    assert t.queue_seen(10, 10) is False  # the same episode
    for serial in range(6, 16):
        t.message(0, serial)  # the messages that were queued
    assert t.message(0, 40) == 24  # then the ones dropped meanwhile
    assert (t.overflows, t.missed, t.unseen) == (1, 24, 2)
    t.caught_up()
    t.message(0, 43)
    assert (t.missed, t.unseen) == (24, 4)
    assert t.message(7, 1) == 0  # other networks' ids say nothing
    t.queue_seen(3, 10)
    assert t.overflows == 1


# -- client and supervisor ---------------------------------------------------------------


def test_burst_commands_change_the_decoder_state_every_time() -> None:
    d = DecoderState()
    commands = list(burst_commands(400))
    assert len(commands) == 400
    assert [name.rsplit(".", 1)[1] for name, _ in commands[:4]] == list(BURST_PATTERN)
    for name, data in commands:
        assert d.apply(name.rsplit(".", 1)[1], protocol.decode(data)).event is not None
    assert d.seq == 400


def test_respawn_delay_backs_off_for_a_crashing_service() -> None:
    assert next_delay(MIN_DELAY, 0.1) == 2 * MIN_DELAY
    delay = MIN_DELAY
    for _ in range(10):
        delay = next_delay(delay, 0.1)
    assert delay == MAX_DELAY
    assert next_delay(MAX_DELAY, 60.0) == MIN_DELAY


def test_supervisor_service_specs() -> None:
    child = parse_service("decoder=stb-decoder --run-dir '/run/x y'")
    assert child.name == "decoder" and child.argv == ["stb-decoder", "--run-dir", "/run/x y"]
    for bad in ("decoder", "=stb-decoder", "de-coder=x", "decoder="):
        with pytest.raises(Exception):  # noqa: B017 - argparse's error type
            parse_service(bad)
