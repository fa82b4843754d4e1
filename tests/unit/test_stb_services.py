# SPDX-License-Identifier: MIT
"""Host unit tests of the STB state machines (decoder, recorder), the
logger's line format, rotation and overflow accounting, and the supervisor's
respawn delay (no kernel needed)."""

from __future__ import annotations

import argparse
import errno
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pytest
from stb import client as client_module
from stb import protocol
from stb.client import BURST_PATTERN, Client, ReplyTimeout, burst, burst_commands
from stb.decoder import (
    PAUSED,
    PLAYING,
    STOPPED,
    DecoderService,
    DecoderState,
    journal_command,
)
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
from stb.recorder import (
    MAX_ACTIVE,
    MAX_KEPT,
    MAX_REC,
    RecorderService,
    RecorderState,
    Recording,
)
from stb.service import Service
from stb.supervisor import MAX_DELAY, MIN_DELAY, next_delay, parse_service, parse_user

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


def tuned(r: RecorderState, channel: int, seq: int, instance: int = 5) -> list[str]:
    fields = {"state": "playing", "channel": str(channel), "seq": str(seq), "cause": "0:1"}
    notes, missed = r.decoder_event(instance, fields)
    assert not missed
    return notes


def test_recorder_journals_the_decoder_requests_it_observes() -> None:
    r = RecorderState()
    j = CommandJournal()
    commands = [
        ("Tune", b"channel=4"),
        ("Pause", b""),
        ("Pause", b"x"),
        ("Status", b"journal=reset"),
        ("Tune", b"channel=9"),
    ]
    for serial, (command, data) in enumerate(commands, 1):
        observe(r, serial, command, data)
        journal_command(j, command, MessageId(0, serial), protocol.DECODER + command, data)
    status = r.status()
    assert status["commands"] == j.count == 2
    assert status["digest"] == j.digest
    assert status["channel"] is None, "requests do not change what it knows"


def test_recorder_sessions_start_stop_list() -> None:
    r = RecorderState()
    with pytest.raises(FieldError) as info:
        r.request("Start", {})
    assert info.value.code == protocol.E_NO_CHANNEL
    fixed = r.request("Start", {"channel": "5"})
    assert fixed == {"status": "ok", "rec": 1, "channel": 5, "follow": False}
    assert r.decoder_started(5)
    tuned(r, 8, 1)
    follow = r.request("Start", {})
    assert follow == {"status": "ok", "rec": 2, "channel": 8, "follow": True}
    notes = tuned(r, 11, 2)
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


def test_recorder_resets_its_view_when_a_new_decoder_starts() -> None:
    r = RecorderState()
    assert r.decoder_started(5)
    observe(r, 1, "Tune", b"channel=3")
    tuned(r, 3, 1)
    assert r.decoder_started(6)
    assert r.view.snapshot() == DecoderState().snapshot()
    assert r.status()["commands"] == 0 and r.status()["decoder_starts"] == 2
    assert not r.decoder_started(5), "the Started of an instance since replaced"
    assert r.status()["decoder_starts"] == 2


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
    status = Reply("$.KBUS.Replier.GoneAway", in_reply_to=MessageId(0, 7), flags=Message.SYNTHETIC)
    assert kind_of(status) == "STS"
    # only KBUS makes a status: a reply that merely has the name is a reply
    assert kind_of(Reply("$.KBUS.Replier.GoneAway", in_reply_to=MessageId(0, 7))) == "REP"
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


def test_supervisor_user_specs() -> None:
    assert parse_user("decoder=root") == ("decoder", "root")
    for bad in ("decoder", "decoder=", "=root", "de-coder=root", "decoder=no-such-user-here"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_user(bad)


# -- the services with a stand-in Ksock (issue 15) -----------------------------------------

REQ_FLAGS = 0x3  # WANT_A_REPLY | WANT_YOU_TO_REPLY: a request for us


class FakeKsock:
    """Records what a service or client does with its Ksock; ``queue`` holds
    the messages it will read; ``fail`` may refuse a send with an OSError."""

    def __init__(self, ksock_id: int = 7, limit: int = 1000) -> None:
        self.id = ksock_id
        self.limit = limit
        self.ops: list[str] = []
        self.sent: list[Message] = []
        self.queue: deque[Message] = deque()
        self.serial = 1000
        self.fail: Callable[[Message], int] | None = None
        self.on_send: Callable[[Message, MessageId], None] | None = None

    def ksock_id(self) -> int:
        return self.id

    def bind(self, name: str, replier: bool = False) -> None:
        self.ops.append(f"bind {name}")

    def send_msg(self, msg: Message) -> MessageId:
        err = self.fail(msg) if self.fail else 0
        if err:
            raise OSError(err, os.strerror(err))
        self.serial += 1
        mid = MessageId(0, self.serial)
        self.ops.append(f"send {msg.name}")
        self.sent.append(msg)
        if self.on_send:
            self.on_send(msg, mid)
        return mid

    def read_next_msg(self) -> Message | None:
        return self.queue.popleft() if self.queue else None

    def wait_for_msg(self, timeout: float | None = None) -> Message | None:
        if not self.queue and timeout:
            time.sleep(min(timeout, 0.01))
        return self.read_next_msg()

    def num_messages(self) -> int:
        return len(self.queue)

    def max_messages(self) -> int:
        return self.limit

    def set_max_messages(self, count: int) -> int:
        self.limit = count
        return count

    def close(self) -> None:
        self.ops.append("close")


def service_args(**more: object) -> argparse.Namespace:
    fields: dict[str, object] = {
        "device": 0,
        "max_messages": 1000,
        "run_dir": "",
        "log_level": "warning",
        "record_group": "",
    }
    return argparse.Namespace(**{**fields, **more})


def request(name: str, data: bytes = b"", serial: int = 50, from_: int = 9) -> Message:
    return Message(name, data, from_=from_, flags=REQ_FLAGS, id=MessageId(0, serial))


def event(name: str, data: bytes, from_: int, serial: int) -> Message:
    return Message(protocol.DECODER_EVENT + name, data, from_=from_, id=MessageId(0, serial))


def replies(ksock: FakeKsock) -> list[Message]:
    return [m for m in ksock.sent if m.in_reply_to is not None]


def test_decoder_binds_before_it_announces_started() -> None:
    fake = FakeKsock()
    decoder = DecoderService(service_args())
    decoder.ksock = fake
    decoder.setup(fake)
    started = fake.ops.index(f"send {protocol.DECODER_EVENT}Started")
    binds = [i for i, op in enumerate(fake.ops) if op.startswith("bind ")]
    assert len(binds) == len(protocol.DECODER_COMMANDS)
    assert max(binds) < started, fake.ops


def test_a_failed_event_announce_gets_one_reply_and_is_counted() -> None:
    fake = FakeKsock()
    decoder = DecoderService(service_args())
    decoder.ksock = fake
    fake.fail = lambda msg: 0 if msg.in_reply_to is not None else errno.ENOBUFS
    decoder.dispatch(request(protocol.DECODER + "Tune", b"channel=5 tag=t"))
    answers = replies(fake)
    assert len(answers) == 1, [m.data for m in answers]
    assert protocol.decode(answers[0].data)["status"] == "ok"
    assert decoder.errors == 1  # the lost event is counted and logged


def test_an_error_after_the_reply_is_logged_not_answered_again() -> None:
    class Fails(Service):
        def handle(self, msg: Message) -> None:
            self.reply(msg, protocol.ok())
            raise RuntimeError("after the reply")

    fake = FakeKsock()
    service = Fails(service_args())
    service.ksock = fake
    service.dispatch(request(protocol.DECODER + "Status", serial=60))
    service.dispatch(request(protocol.DECODER + "Status", serial=61))
    assert [protocol.decode(m.data)["status"] for m in replies(fake)] == ["ok", "ok"]
    assert service.errors == 2


def test_client_forgets_replies_to_requests_it_stopped_waiting_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeKsock(ksock_id=3)
    monkeypatch.setattr(client_module, "Ksock", lambda device, mode: fake)
    with Client(relay=False) as client:
        late = client.send(protocol.DECODER + "Status")
        with pytest.raises(ReplyTimeout):
            client.wait(late, timeout=0.05)
        mid = client.send(protocol.DECODER + "Status")
        for irt in (late, mid):  # the late reply comes first
            fake.queue.append(Reply(protocol.DECODER + "Status", b"status=ok", in_reply_to=irt))
        assert client.wait(mid, timeout=5).ok
        assert client._replies == {} and client._names == {}, "a stray reply is kept"
        fake.queue.append(Reply(protocol.DECODER + "Stop", b"status=ok", in_reply_to=late))
        again = client.send(protocol.DECODER + "Status")
        fake.queue.append(Reply(protocol.DECODER + "Status", b"status=ok", in_reply_to=again))
        assert client.wait(again, timeout=5).ok
        assert client._replies == {}


def test_burst_does_not_count_stray_replies(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKsock(ksock_id=3)
    monkeypatch.setattr(client_module, "Ksock", lambda device, mode: fake)

    def answer(msg: Message, mid: MessageId) -> None:
        if msg.is_request():
            fake.queue.append(Reply(msg.name, b"status=ok", in_reply_to=mid))

    fake.on_send = answer
    # the reply to a request this client gave up on earlier
    fake.queue.append(Reply(protocol.DECODER + "Tune", b"status=ok", in_reply_to=MessageId(0, 1)))
    with Client(relay=False) as client:
        result = burst(client, burst_commands(8), window=2, timeout=5)
    assert (result.sent, result.ok, result.errors, result.statuses) == (8, 8, 0, 0)


def test_recorder_list_always_fits_in_a_payload_and_pages_through_everything() -> None:
    r = RecorderState()
    # the longest texts there are: 6-digit numbers, 4-digit channels, many switches
    for n in range(MAX_KEPT):
        rec = Recording(MAX_REC - n, 9999, True, state="stopped", switches=999999)
        r.recordings[rec.rec] = rec
    for n in range(MAX_ACTIVE):
        rec = Recording(MAX_REC - MAX_KEPT - n, 9999, True, switches=999999)
        r.recordings[rec.rec] = rec
    tag = "x" * 200
    seen: list[str] = []
    after = None
    for _ in range(len(r.recordings)):
        fields: dict[str, str] = {"tag": tag}
        if after is not None:
            fields["after"] = after
        reply = r.request("List", fields)
        reply["tag"] = tag  # as the service echoes it
        assert len(protocol.encode(reply)) <= protocol.MAX_PAYLOAD
        assert reply["count"] == len(r.recordings)
        seen += str(reply["recs"]).split(",")
        if "next" not in reply:
            break
        after = str(reply["next"])
    assert seen == [rec.text() for rec in sorted(r.recordings.values(), key=lambda x: x.rec)]


def test_recorder_list_reply_goes_out_whole_from_the_service() -> None:
    fake = FakeKsock()
    recorder = RecorderService(service_args())
    recorder.ksock = fake
    for n in range(MAX_KEPT):
        rec = Recording(MAX_REC - n, 9999, n % 2 == 0, state="stopped", switches=99999)
        recorder.state.recordings[rec.rec] = rec
    recorder.dispatch(request(protocol.RECORDER + "List"))
    (answer,) = replies(fake)
    fields = protocol.decode(answer.data)
    assert fields["status"] == "ok", fields
    assert fields["count"] == str(MAX_KEPT)


def test_recorder_state_comes_from_the_decoder_events_not_its_requests() -> None:
    r = RecorderState()
    r.decoder_started(5)
    # a request copy the decoder never carried out (it died, or refused it)
    observe(r, 10, "Tune", b"channel=42")
    assert r.status()["channel"] is None and r.status()["seq"] == 0
    tuned(r, 3, 1)
    assert (r.status()["state"], r.status()["channel"], r.status()["seq"]) == ("playing", 3, 1)
    assert r.status()["commands"] == 1  # the journal still counts what it saw


def test_recorder_detects_a_gap_in_the_events_and_resyncs_with_status() -> None:
    fake = FakeKsock(ksock_id=8)
    recorder = RecorderService(service_args())
    recorder.ksock = fake
    recorder.dispatch(event("Started", b"pid=1 ksock=5 state=stopped seq=0", 5, 20))
    recorder.dispatch(event("Tuned", b"state=playing channel=4 seq=1 cause=0:21", 5, 22))
    follow = recorder.state.request("Start", {})
    assert follow["channel"] == 4
    recorder.after_batch()
    assert not [m for m in fake.sent if m.is_request()], "no resync while in step"
    # events 2 to 4 were dropped (a full queue): the next one shows the gap
    recorder.dispatch(event("Tuned", b"state=playing channel=9 seq=5 cause=0:40", 5, 41))
    status = recorder.state.status()
    assert (status["channel"], status["seq"], status["gaps"]) == (9, 5, 1)
    assert recorder.state.recordings[int(follow["rec"])].channel == 9  # followed
    recorder.after_batch()
    (ask,) = [m for m in fake.sent if m.is_request()]
    assert ask.name == protocol.DECODER + "Status"
    # the decoder has moved on since: its Status reply is the truth
    answer = Reply(
        ask.name,
        b"status=ok state=paused channel=9 seq=7 commands=3 digest=0 tag=recorder-resync",
        in_reply_to=MessageId(0, fake.serial),
        from_=5,
    )
    recorder.dispatch(answer)
    status = recorder.state.status()
    assert (status["state"], status["channel"], status["seq"]) == ("paused", 9, 7)
    assert status["resyncs"] == 1
    # older events (and a dead instance's) change nothing
    recorder.dispatch(event("Stopped", b"state=stopped channel=9 seq=6 cause=0:50", 5, 51))
    recorder.dispatch(event("Stopped", b"state=stopped channel=2 seq=9 cause=0:52", 4, 53))
    assert recorder.state.status()["state"] == "paused"


def test_recorder_resyncs_after_its_queue_was_full() -> None:
    fake = FakeKsock(ksock_id=8, limit=10)
    recorder = RecorderService(service_args())
    recorder.ksock = fake
    recorder.dispatch(event("Started", b"pid=1 ksock=5 state=stopped seq=0", 5, 20))
    recorder.queue_limit = 10  # as the service loop finds it
    recorder.before_message(9)
    recorder.after_batch()
    assert not [m for m in fake.sent if m.is_request()]
    recorder.before_message(10)
    recorder.after_batch()
    asks = [m for m in fake.sent if m.is_request()]
    assert [m.name for m in asks] == [protocol.DECODER + "Status"]


class Creds:
    def __init__(self, uid: int, gid: int) -> None:
        self.uid, self.gid, self.pid = uid, gid, 1234


class CredsKsock(FakeKsock):
    """A FakeKsock whose sender_creds() says who sent the last message read."""

    def __init__(self) -> None:
        super().__init__()
        self.creds: dict[int, Creds] = {}
        self.last: Creds | None = None

    def read_next_msg(self) -> Message | None:
        msg = super().read_next_msg()
        self.last = self.creds[msg.id.serial_num] if msg is not None else None
        return msg

    def sender_creds(self) -> Creds:
        assert self.last is not None
        return self.last


def test_recorder_with_a_record_group_starts_recordings_only_for_it_and_root() -> None:
    import grp
    import pwd

    group = grp.getgrgid(os.getgid())
    outsider = next(
        (
            p
            for p in pwd.getpwall()
            if p.pw_uid and p.pw_gid != group.gr_gid and p.pw_name not in group.gr_mem
        ),
        None,
    )
    if outsider is None:
        pytest.skip("no user outside this process's group in the user database")
    recorder = RecorderService(service_args(record_group=group.gr_name))
    fake = CredsKsock()
    recorder.ksock = fake  # type: ignore[assignment]
    senders = {
        51: Creds(outsider.pw_uid, outsider.pw_gid),  # not in the group
        52: Creds(outsider.pw_uid, group.gr_gid),  # the group as its effective group
        53: Creds(0, 0),  # root
        54: Creds(outsider.pw_uid, outsider.pw_gid),  # Status: anyone
    }
    fake.creds.update(senders)
    for serial, command in ((51, "Start"), (52, "Start"), (53, "Start"), (54, "Status")):
        data = b"channel=3" if command == "Start" else b""
        fake.queue.append(request(protocol.RECORDER + command, data, serial=serial))
    while (msg := fake.read_next_msg()) is not None:
        recorder.dispatch(msg)
    fields = [protocol.decode(m.data) for m in replies(fake)]
    assert [f["status"] for f in fields] == ["error", "ok", "ok", "ok"], fields
    assert fields[0]["error"] == protocol.E_NOT_PERMITTED
    assert fields[3]["refused"] == "1"


def test_recorder_refuses_to_start_with_an_unknown_record_group() -> None:
    with pytest.raises(SystemExit, match="no group"):
        RecorderService(service_args(record_group="no-such-group-here"))
