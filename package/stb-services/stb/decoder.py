# SPDX-License-Identifier: MIT
"""stb-decoder: the replier for ``$.STB.Decoder.*`` requests.

It keeps the decoder state (:class:`DecoderState`: stopped, playing or
paused, and the tuned channel), answers Tune, Play, Pause, Stop and Status,
and announces ``$.STB.Decoder.Event.<Tuned|Playing|Paused|Stopped>`` on
every change, just before the reply, with the whole state and its ``seq`` (so a listener that
missed some can tell, and catch up).  ``$.STB.Decoder.Event.Started`` says
that a new instance begins with no state: it is announced once the names
are bound (so a listener may ask Status at once) and before any request is
answered (so every other event of the instance comes after it).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from kbus import Announcement, Ksock, Message, MessageId

from . import protocol
from .protocol import (
    DECODER,
    DECODER_COMMANDS,
    DECODER_EVENT,
    E_BAD_ARGUMENT,
    E_BAD_STATE,
    E_NO_CHANNEL,
    MAX_CHANNEL,
    MIN_CHANNEL,
    CommandJournal,
    FieldError,
    Fields,
    PayloadError,
    Value,
)
from .service import Service, common_arguments, main_for

STOPPED = "stopped"
PLAYING = "playing"
PAUSED = "paused"

EVENT_FOR_STATE = {PLAYING: "Playing", PAUSED: "Paused", STOPPED: "Stopped"}


@dataclass
class Outcome:
    """What a command did: the reply fields and the event to announce (its
    short name, e.g. "Tuned", and fields), if the state changed."""

    reply: dict[str, Value]
    event: tuple[str, dict[str, Value]] | None = None


class DecoderState:
    """The decoder's state machine (no I/O: the recorder runs a copy of it
    on the requests it observes, and the host unit tests run it alone).

    * Tune channel=N: tunes to N and plays (a change unless already playing N);
    * Play: needs a channel; plays (a change unless already playing);
    * Pause: needs to be playing or paused (a change if playing);
    * Stop: stops (a change unless already stopped); the channel is kept;
    * Status [journal=reset]: no change.

    ``seq`` counts the changes.  Every reply has state, channel (when tuned),
    seq and, for transport commands, changed=0|1.
    """

    def __init__(self) -> None:
        self.state = STOPPED
        self.channel: int | None = None
        self.seq = 0

    def snapshot(self) -> dict[str, Value]:
        return {"state": self.state, "channel": self.channel, "seq": self.seq}

    def _change(self, state: str, event: str) -> Outcome:
        self.state = state
        self.seq += 1
        snap = self.snapshot()
        return Outcome(protocol.ok(**snap, changed=1), (event, snap))

    def _same(self) -> Outcome:
        return Outcome(protocol.ok(**self.snapshot(), changed=0))

    def apply(self, command: str, fields: Fields) -> Outcome:
        """Run one command; FieldError for a bad argument or state."""
        if command == "Tune":
            protocol.check_keys(fields, ("channel",))
            channel = protocol.get_int(fields, "channel", MIN_CHANNEL, MAX_CHANNEL)
            if channel == self.channel and self.state == PLAYING:
                return self._same()
            self.channel = channel
            return self._change(PLAYING, "Tuned")
        if command == "Play":
            protocol.check_keys(fields, ())
            if self.channel is None:
                raise FieldError(E_NO_CHANNEL, "nothing tuned: Tune first")
            if self.state == PLAYING:
                return self._same()
            return self._change(PLAYING, "Playing")
        if command == "Pause":
            protocol.check_keys(fields, ())
            if self.state == STOPPED:
                raise FieldError(E_BAD_STATE, "stopped: nothing to pause")
            if self.state == PAUSED:
                return self._same()
            return self._change(PAUSED, "Paused")
        if command == "Stop":
            protocol.check_keys(fields, ())
            if self.state == STOPPED:
                return self._same()
            return self._change(STOPPED, "Stopped")
        if command == "Status":
            protocol.check_keys(fields, ("journal",))
            if fields.get("journal", "reset") != "reset":
                raise FieldError(E_BAD_ARGUMENT, "journal must be 'reset'")
            return Outcome(protocol.ok(**self.snapshot()))
        raise FieldError(protocol.E_UNKNOWN_COMMAND, f"no decoder command {command!r}")


def journal_command(
    journal: CommandJournal,
    command: str,
    mid: MessageId | None,
    name: str,
    data: bytes | None,
) -> None:
    """Add a decoder request to a journal, first emptying it if the request is
    ``Status journal=reset`` (the decoder and the recorder both call this)."""
    if command == "Status" and data and b"journal=reset" in data:
        try:
            if protocol.decode(data).get("journal") == "reset":
                journal.reset()
        except PayloadError:
            pass
    journal.add(mid, name, data)


class DecoderService(Service):
    name = "decoder"

    def __init__(self, args: argparse.Namespace) -> None:
        super().__init__(args)
        self.state = DecoderState()
        self.journal = CommandJournal()
        self.started: MessageId | None = None  # the id of our Started event

    def setup(self, ksock: Ksock) -> None:
        # Bind first: whoever hears Started can ask this instance at once.
        # Nothing is answered before Started goes out (the loop starts after
        # setup), so every other event of this instance comes after it.
        for command in DECODER_COMMANDS:
            ksock.bind(DECODER + command, replier=True)
        self.started = ksock.send_msg(
            Announcement(
                DECODER_EVENT + "Started",
                protocol.encode(
                    {"pid": os.getpid(), "ksock": ksock.ksock_id(), **self.state.snapshot()}
                ),
            )
        )

    def _before_started(self, mid: MessageId | None) -> bool:
        """A request sent before our Started (between bind and announce):
        listeners saw it before Started, so it is not in their journals."""
        started = self.started
        if mid is None or started is None or mid.network_id != started.network_id:
            return False
        return bool(mid.serial_num < started.serial_num)

    def handle(self, msg: Message) -> None:
        if not msg.wants_us_to_reply():
            return
        name = msg.name
        command = protocol.command_of(name, DECODER, DECODER_COMMANDS)
        if command is None:
            self.reply(msg, protocol.error(protocol.E_UNKNOWN_COMMAND, f"not a command: {name}"))
            return
        data = msg.data
        if not self._before_started(msg.id):
            journal_command(self.journal, command, msg.id, name, data)

        def run(fields: Fields) -> dict[str, Value]:
            result = self.state.apply(command, fields)
            if command == "Status":
                result.reply.update(commands=self.journal.count, digest=self.journal.digest)
            if result.event is not None:
                # before the reply: whoever acts on the reply comes after the
                # event in bus order (the recorder knows the new channel)
                event, event_fields = result.event
                cause = protocol.format_id(msg.id)
                self.announce_event(event, {**event_fields, "cause": cause})
            return result.reply

        self.serve_request(msg, run)

    def announce_event(self, event: str, fields: dict[str, Value]) -> None:
        """Announce a change.  The change is made whatever happens: a failure
        is logged and counted, and the request still gets its one reply
        (listeners see the jump in seq)."""
        assert self.ksock is not None
        try:
            self.ksock.send_msg(Announcement(DECODER_EVENT + event, protocol.encode(fields)))
        except OSError as exc:
            self.errors += 1
            self.log.error("cannot announce %s seq=%s: %s", event, fields.get("seq"), exc)
            return
        self.log.debug("%s: %s", event, fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-decoder", description=__doc__.split("\n")[0])
    common_arguments(parser, max_messages=1000)
    return main_for(DecoderService, parser, argv)
