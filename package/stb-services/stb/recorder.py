# SPDX-License-Identifier: MIT
"""stb-recorder: the replier for ``$.STB.Recorder.*`` (Start, Stop, List, Status).

It knows what the viewer watches by following the decoder's events
(``$.STB.Decoder.Event.*``): each one carries the decoder's whole state and
its ``seq``, so the recorder takes the state from the events and never
guesses it from requests (KBUS drops a listener's copies when its queue is
full, and delivers requests the decoder never carries out).  A jump in
``seq``, an event from an instance it saw no ``Started`` of, or its own
queue found full make it ask the decoder (``Status``) and take the state
from the reply.  Recordings started with ``follow=1`` switch to each new
channel.  It also listens to the decoder's requests, only to keep the same
command journal as the decoder, so the two can be compared (Status).  A
``$.STB.Decoder.Event.Started`` announcement (a new decoder instance) resets
what it knows and the journal.

With ``--record-group GROUP`` only root and members of GROUP may ``Start``
a recording: the recorder asks KBUS who sent the request (the sender's
credentials as of its SEND, which no client can forge) and answers anyone
else ``not-permitted``.  Membership is the sender's effective group or the
group database's member list for the sender's user.
"""

from __future__ import annotations

import argparse
import errno
import grp
import pwd
from dataclasses import dataclass

from kbus import Ksock, Message, MessageId, Request

from . import protocol
from .decoder import PAUSED, PLAYING, STOPPED, journal_command
from .protocol import (
    DECODER,
    DECODER_COMMANDS,
    DECODER_EVENT,
    DECODER_EVENTS,
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
        """``rec:channel:state:mode:switches`` (as List gives it)."""
        mode = "follow" if self.follow else "fixed"
        return f"{self.rec}:{self.channel}:{self.state}:{mode}:{self.switches}"


class DecoderView:
    """What the recorder knows of the decoder: the instance (its Ksock id;
    ids grow, so a larger one is a later instance), state, channel and seq,
    as its last event or Status reply said."""

    def __init__(self, instance: int | None = None) -> None:
        self.instance = instance
        self.state = STOPPED
        self.channel: int | None = None
        self.seq = 0

    def snapshot(self) -> dict[str, Value]:
        return {"state": self.state, "channel": self.channel, "seq": self.seq}


def decoder_fields(fields: Fields) -> tuple[str, int | None, int]:
    """state, channel and seq of an event or a Status reply; FieldError if
    they are missing or bad."""
    state = fields.get("state")
    if state not in (STOPPED, PLAYING, PAUSED):
        raise FieldError(protocol.E_BAD_ARGUMENT, f"bad state {state!r}")
    channel = None
    if "channel" in fields:
        channel = protocol.get_int(fields, "channel", MIN_CHANNEL, MAX_CHANNEL)
    seq = protocol.get_int(fields, "seq", 0, 2**63)
    return state, channel, seq


class RecorderState:
    """The recorder's state machine (no I/O)."""

    def __init__(self) -> None:
        self.recordings: dict[int, Recording] = {}
        self.next_rec = 1
        self.view = DecoderView()
        self.journal = CommandJournal()
        self.decoder_starts = 0
        self.gaps = 0  # events found missing (a jump in seq, a missed Started)
        self.resyncs = 0  # decoder Status replies taken

    # -- requests to the recorder -------------------------------------------------

    def request(self, command: str, fields: Fields) -> dict[str, Value]:
        if command == "Start":
            return self.start(fields)
        if command == "Stop":
            protocol.check_keys(fields, ("rec",))
            return self.stop(protocol.get_int(fields, "rec", 1, MAX_REC))
        if command == "List":
            protocol.check_keys(fields, ("after",))
            after = protocol.get_int(fields, "after", 0, MAX_REC, default=0)
            return self.list_recordings(after, reserve=_tag_room(fields))
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
        elif self.view.channel is not None:
            channel = self.view.channel
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

    def list_recordings(self, after: int = 0, reserve: int = 0) -> dict[str, Value]:
        """The recordings numbered above ``after``, as many as fit in a
        payload (``reserve`` bytes kept for the echoed tag); ``next`` is the
        ``after`` of the next page when they did not all fit."""
        recs = sorted((r for r in self.recordings.values() if r.rec > after), key=lambda r: r.rec)
        total = len(self.recordings)
        # count=, recs=, next= and the separators, at their longest
        room = protocol.MAX_PAYLOAD - reserve - len(f"status=ok count={total} recs= next={MAX_REC}")
        texts: list[str] = []
        used = 0
        for rec in recs:
            text = rec.text()
            if used + len(text) + (1 if texts else 0) > room and texts:
                return protocol.ok(count=total, recs=",".join(texts), next=recs[len(texts) - 1].rec)
            texts.append(text)
            used += len(text) + (1 if len(texts) > 1 else 0)
        return protocol.ok(count=total, recs=",".join(texts))

    def status(self) -> dict[str, Value]:
        active = sum(1 for r in self.recordings.values() if r.state == RECORDING)
        return protocol.ok(
            commands=self.journal.count,
            digest=self.journal.digest,
            active=active,
            decoder_starts=self.decoder_starts,
            **self.view.snapshot(),
            gaps=self.gaps,
            resyncs=self.resyncs,
        )

    def _forget_old(self) -> None:
        stopped = [r.rec for r in self.recordings.values() if r.state == STOPPED]
        for rec_id in stopped[: max(0, len(self.recordings) - MAX_KEPT)]:
            del self.recordings[rec_id]

    # -- what the recorder observes ------------------------------------------------

    def observe_command(
        self, command: str, mid: MessageId | None, name: str, data: bytes | None
    ) -> None:
        """A listener copy of a decoder request: into the journal only (the
        decoder may never carry it out; its events say what it did)."""
        journal_command(self.journal, command, mid, name, data)

    def decoder_started(self, instance: int | None) -> bool:
        """``$.STB.Decoder.Event.Started`` from Ksock ``instance``: a new
        decoder, stopped, untuned, seq 0, with an empty journal.  False for
        the Started of an instance already known or replaced (ignored)."""
        known = self.view.instance
        if instance is not None and known is not None and instance <= known:
            return False
        self.view = DecoderView(instance)
        self.journal.reset()
        self.decoder_starts += 1
        return True

    def decoder_event(self, instance: int, fields: Fields) -> tuple[list[str], bool]:
        """A change event (Tuned, Playing, Paused, Stopped) from Ksock
        ``instance``: returns notes for the log and whether to ask the
        decoder its state (events went missing)."""
        try:
            state, channel, seq = decoder_fields(fields)
        except FieldError as exc:
            return [f"a decoder event with bad fields ({exc.detail}): asking Status"], True
        known = self.view.instance
        if known is not None and instance < known:
            return [], False  # from an instance since replaced
        if known is None or instance > known:
            # an instance whose Started this recorder did not see
            if known is not None:
                self.gaps += 1
            self.view = DecoderView(instance)
            notes = self._take(state, channel, seq)
            return [f"events of decoder {instance} missed (seq {seq}): asking Status", *notes], True
        if seq <= self.view.seq:
            return [], False  # already known (an earlier event, or a Status reply said it)
        missed = seq != self.view.seq + 1
        notes = self._take(state, channel, seq)
        if missed:
            self.gaps += 1
            notes.insert(0, f"decoder events missed before seq {seq}: asking Status")
        return notes, missed

    def decoder_status(self, instance: int, fields: Fields) -> list[str]:
        """The decoder's reply to our Status: its state now."""
        try:
            state, channel, seq = decoder_fields(fields)
        except FieldError as exc:
            return [f"a decoder Status reply with bad fields ({exc.detail})"]
        known = self.view.instance
        if known is not None and instance < known:
            return []  # from an instance since replaced
        if known is None or instance > known:
            self.view = DecoderView(instance)
        elif seq < self.view.seq:
            return []
        self.resyncs += 1
        return self._take(state, channel, seq)

    def _take(self, state: str, channel: int | None, seq: int) -> list[str]:
        """The decoder is now in ``state`` on ``channel`` (change ``seq``):
        follow=1 recordings switch to a new channel."""
        self.view.state, self.view.seq = state, seq
        notes = []
        if channel is not None and channel != self.view.channel:
            for rec in self.recordings.values():
                if rec.follow and rec.state == RECORDING and rec.channel != channel:
                    rec.channel = channel
                    rec.switches += 1
                    notes.append(f"recording {rec.rec} follows the decoder to channel {channel}")
        self.view.channel = channel
        return notes


def _tag_room(fields: Fields) -> int:
    """Bytes the echoed ``tag`` takes in the reply (`` tag=...``)."""
    if "tag" not in fields:
        return 0
    return len(" tag=" + protocol.escape(fields["tag"])) if fields["tag"] else len(" tag=")


RESYNC_TAG = "recorder-resync"
CHANGE_EVENTS = tuple(e for e in DECODER_EVENTS if e != "Started")


class RecorderService(Service):
    name = "recorder"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.record_gid: int | None = None
        self.record_members: frozenset[str] = frozenset()
        if args.record_group:
            try:
                group = grp.getgrnam(args.record_group)
            except KeyError:
                raise SystemExit(f"stb-recorder: no group {args.record_group!r}") from None
            self.record_gid = group.gr_gid
            self.record_members = frozenset(group.gr_mem)
        self.refused = 0  # Start requests refused for their sender
        self.state = RecorderState()
        self.need_resync = False  # ask the decoder its state after this batch
        self.resync_id: MessageId | None = None  # our Status request, unanswered

    def setup(self, ksock: Ksock) -> None:
        # Listen first, so the decoder's events and requests are seen from the start.
        for command in DECODER_COMMANDS:
            ksock.bind(DECODER + command)
        for event in DECODER_EVENTS:
            ksock.bind(DECODER_EVENT + event)
        for command in RECORDER_COMMANDS:
            ksock.bind(RECORDER + command, replier=True)
        self.need_resync = True  # what is the decoder doing now?
        self.resync()

    def may_record(self, msg: Message) -> bool:
        """Whether the sender of ``msg`` (just read) may start a recording."""
        if self.record_gid is None:
            return True
        assert self.ksock is not None
        creds = self.ksock.sender_creds()
        if creds.uid == 0 or creds.gid == self.record_gid:
            return True
        try:
            user = pwd.getpwuid(creds.uid)
        except KeyError:
            return False
        return user.pw_gid == self.record_gid or user.pw_name in self.record_members

    def resync(self) -> None:
        """Ask the decoder its state (one question at a time); the reply
        comes to handle().  No decoder bound: its Started will tell."""
        self.need_resync = False
        if self.resync_id is not None:
            return
        assert self.ksock is not None
        try:
            self.resync_id = self.ksock.send_msg(
                Request(DECODER + "Status", protocol.encode({"tag": RESYNC_TAG}))
            )
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                self.log.info("no decoder to ask its state: waiting for its Started")
            else:  # our queue or the decoder's is full: ask again later
                self.log.warning("cannot ask the decoder its state: %s", exc)
                self.need_resync = True

    def before_message(self, queued: int) -> None:
        if self.queue_limit and queued >= self.queue_limit and not self.need_resync:
            self.log.warning("queue full (%d): decoder events may be lost", queued)
            self.need_resync = True

    def after_batch(self) -> None:
        if self.need_resync:
            self.resync()

    def handle(self, msg: Message) -> None:
        name = msg.name
        if msg.wants_us_to_reply():
            found = protocol.command_of(name, RECORDER, RECORDER_COMMANDS)
            if found is None:
                self.reply(msg, protocol.error(protocol.E_UNKNOWN_COMMAND, f"not ours: {name}"))
                return
            command = found

            def run(fields: Fields) -> dict[str, Value]:
                if command == "Start" and not self.may_record(msg):
                    self.refused += 1
                    raise FieldError(
                        protocol.E_NOT_PERMITTED, f"only group {self.args.record_group} may record"
                    )
                result = self.state.request(command, fields)
                if command == "Status":
                    result["overflows"] = self.queue_full_seen
                    result["refused"] = self.refused
                return result

            result = self.serve_request(msg, run)
            if result.get("status") == "ok" and command in ("Start", "Stop"):
                self.log.info("%s: %s", command, protocol.encode(result).decode())
            return
        if msg.is_reply():
            if self.resync_id is not None and msg.in_reply_to == self.resync_id:
                self._resync_reply(msg)
            return  # the decoder's other replies: its events say what changed
        notes: list[str] = []
        if name == DECODER_EVENT + "Started":
            if self.state.decoder_started(msg.from_):
                self.log.info(
                    "a new decoder started: %s", (msg.data or b"").decode(errors="replace")
                )
        elif protocol.command_of(name, DECODER_EVENT, CHANGE_EVENTS) is not None:
            try:
                fields = protocol.decode(msg.data)
            except PayloadError:
                fields = {}
            notes, missed = self.state.decoder_event(msg.from_, fields)
            if missed:
                self.need_resync = True
        else:
            observed = protocol.command_of(name, DECODER, DECODER_COMMANDS)
            if observed is not None and msg.is_request():
                self.state.observe_command(observed, msg.id, name, msg.data)
        for note in notes:
            self.log.info("%s", note)

    def _resync_reply(self, msg: Message) -> None:
        self.resync_id = None
        if msg.is_status():
            self.log.info(
                "the decoder did not answer Status (%s): waiting for its Started", msg.name
            )
            return
        try:
            fields = protocol.decode(msg.data)
        except PayloadError:
            fields = {}
        if fields.get("status") != "ok":
            self.log.warning("the decoder refused Status: %s", fields)
            return
        for note in self.state.decoder_status(msg.from_, fields):
            self.log.info("%s", note)
        self.log.info("decoder state: %s", protocol.encode(self.state.view.snapshot()).decode())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-recorder", description=__doc__.split("\n")[0])
    common_arguments(parser, max_messages=50000)
    parser.add_argument(
        "--record-group",
        default="",
        metavar="GROUP",
        help="only root and members of GROUP may Start a recording (default: anyone)",
    )
    return main_for(RecorderService, parser, argv)
