"""stb-recorder: the replier for ``$.STB.Recorder.*`` (Start, Stop, List, Status).

It also listens to the decoder's requests (``$.STB.Decoder.<command>``) and
applies each, in bus order, to its own copy of the decoder state machine:
that is how it knows what the viewer watches, and recordings started with
``follow=1`` switch channel whenever the decoder is tuned.  It keeps the same
command journal as the decoder, so the two can be compared (Status).  A
``$.STB.Decoder.Event.Started`` announcement (a new decoder instance) resets
that copy and the journal.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from kbus import Ksock, Message, MessageId

from . import protocol
from .decoder import DecoderState, journal_command
from .protocol import (
    DECODER,
    DECODER_COMMANDS,
    DECODER_EVENT,
    E_BAD_STATE,
    E_BUSY,
    E_NO_CHANNEL,
    E_NO_SUCH_RECORDING,
    MAX_CHANNEL,
    MIN_CHANNEL,
    RECORDER,
    RECORDER_COMMANDS,
    CommandJournal,
    FieldError,
    Fields,
    PayloadError,
    Value,
)
from .service import Service, common_arguments, main_for

RECORDING = "recording"
STOPPED = "stopped"
MAX_ACTIVE = 8
MAX_KEPT = 32  # stopped recordings beyond this many are forgotten, oldest first
MAX_REC = 999999


@dataclass
class Recording:
    rec: int
    channel: int
    follow: bool
    state: str = RECORDING
    switches: int = 0

    def text(self) -> str:
        mode = "follow" if self.follow else "fixed"
        return f"{self.rec}:{self.channel}:{self.state}:{mode}:{self.switches}"


class RecorderState:
    """The recorder's state machine (no I/O)."""

    def __init__(self) -> None:
        self.recordings: dict[int, Recording] = {}
        self.next_rec = 1
        self.mirror = DecoderState()
        self.journal = CommandJournal()
        self.decoder_starts = 0

    # -- requests to the recorder -------------------------------------------------

    def request(self, command: str, fields: Fields) -> dict[str, Value]:
        if command == "Start":
            return self.start(fields)
        if command == "Stop":
            protocol.check_keys(fields, ("rec",))
            return self.stop(protocol.get_int(fields, "rec", 1, MAX_REC))
        if command == "List":
            protocol.check_keys(fields, ())
            return self.list_recordings()
        if command == "Status":
            protocol.check_keys(fields, ())
            return self.status()
        raise FieldError(protocol.E_UNKNOWN_COMMAND, f"no recorder command {command!r}")

    def start(self, fields: Fields) -> dict[str, Value]:
        protocol.check_keys(fields, ("channel", "follow"))
        given = "channel" in fields
        follow = protocol.get_flag(fields, "follow", default=not given)
        if given:
            channel = protocol.get_int(fields, "channel", MIN_CHANNEL, MAX_CHANNEL)
        elif self.mirror.channel is not None:
            channel = self.mirror.channel
        else:
            raise FieldError(E_NO_CHANNEL, "no channel given and the decoder is not tuned")
        active = sum(1 for r in self.recordings.values() if r.state == RECORDING)
        if active >= MAX_ACTIVE:
            raise FieldError(E_BUSY, f"already {active} recordings")
        rec = Recording(self.next_rec, channel, follow)
        self.next_rec = self.next_rec % MAX_REC + 1
        self.recordings[rec.rec] = rec
        self._forget_old()
        return protocol.ok(rec=rec.rec, channel=channel, follow=follow)

    def stop(self, rec_id: int) -> dict[str, Value]:
        rec = self.recordings.get(rec_id)
        if rec is None:
            raise FieldError(E_NO_SUCH_RECORDING, f"no recording {rec_id}")
        if rec.state != RECORDING:
            raise FieldError(E_BAD_STATE, f"recording {rec_id} is already stopped")
        rec.state = STOPPED
        return protocol.ok(rec=rec.rec, channel=rec.channel, switches=rec.switches)

    def list_recordings(self) -> dict[str, Value]:
        recs = sorted(self.recordings.values(), key=lambda r: r.rec)
        return protocol.ok(count=len(recs), recs=",".join(r.text() for r in recs))

    def status(self) -> dict[str, Value]:
        active = sum(1 for r in self.recordings.values() if r.state == RECORDING)
        return protocol.ok(
            commands=self.journal.count,
            digest=self.journal.digest,
            active=active,
            decoder_starts=self.decoder_starts,
            **self.mirror.snapshot(),
        )

    def _forget_old(self) -> None:
        stopped = [r.rec for r in self.recordings.values() if r.state == STOPPED]
        for rec_id in stopped[: max(0, len(self.recordings) - MAX_KEPT)]:
            del self.recordings[rec_id]

    # -- what the recorder observes ------------------------------------------------

    def observe_command(
        self, command: str, mid: MessageId | None, name: str, data: bytes | None
    ) -> list[str]:
        """A decoder request seen on the bus; returns notes for the log."""
        journal_command(self.journal, command, mid, name, data)
        try:
            outcome = self.mirror.apply(command, protocol.decode(data))
        except (PayloadError, FieldError):
            return []  # the decoder refuses it too
        notes = []
        if outcome.event is not None and outcome.event[0] == "Tuned":
            channel = self.mirror.channel
            assert channel is not None
            for rec in self.recordings.values():
                if rec.follow and rec.state == RECORDING and rec.channel != channel:
                    rec.channel = channel
                    rec.switches += 1
                    notes.append(f"recording {rec.rec} follows the decoder to channel {channel}")
        return notes

    def decoder_started(self) -> None:
        """A new decoder instance: it starts stopped, with an empty journal."""
        self.mirror = DecoderState()
        self.journal.reset()
        self.decoder_starts += 1


class RecorderService(Service):
    name = "recorder"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.state = RecorderState()

    def setup(self, ksock: Ksock) -> None:
        # Listen first, so the decoder requests are seen from the start.
        for command in DECODER_COMMANDS:
            ksock.bind(DECODER + command)
        ksock.bind(DECODER_EVENT + "Started")
        for command in RECORDER_COMMANDS:
            ksock.bind(RECORDER + command, replier=True)

    def handle(self, msg: Message) -> None:
        name = msg.name
        if msg.wants_us_to_reply():
            found = protocol.command_of(name, RECORDER, RECORDER_COMMANDS)
            if found is None:
                self.reply(msg, protocol.error(protocol.E_UNKNOWN_COMMAND, f"not ours: {name}"))
                return
            command = found

            def run(fields: Fields) -> dict[str, Value]:
                result = self.state.request(command, fields)
                if command == "Status":
                    result["overflows"] = self.queue_full_seen
                return result

            result = self.serve_request(msg, run)
            if result.get("status") == "ok" and command in ("Start", "Stop"):
                self.log.info("%s: %s", command, protocol.encode(result).decode())
            return
        if msg.is_reply():
            return  # the decoder's replies: the requests say all we need
        if name == DECODER_EVENT + "Started":
            self.state.decoder_started()
            self.log.info("a new decoder started: %s", (msg.data or b"").decode(errors="replace"))
            return
        observed = protocol.command_of(name, DECODER, DECODER_COMMANDS)
        if observed is not None and msg.is_request():
            for note in self.state.observe_command(observed, msg.id, name, msg.data):
                self.log.info("%s", note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-recorder", description=__doc__.split("\n")[0])
    common_arguments(parser, max_messages=50000)
    return main_for(RecorderService, parser, argv)
