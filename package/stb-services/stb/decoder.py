"""stb-decoder: the replier for ``$.STB.Decoder.*`` requests.

It keeps the decoder state (:class:`DecoderState`: stopped, playing or
paused, and the tuned channel), answers Tune, Play, Pause, Stop and Status,
and announces ``$.STB.Decoder.Event.<Tuned|Playing|Paused|Stopped>`` after
every change (``$.STB.Decoder.Event.Started`` when it starts, before it binds,
so that every listener knows a new decoder instance begins with no state).
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

    def setup(self, ksock: Ksock) -> None:
        # Announce first: any request that reaches this instance comes after it.
        ksock.send_msg(
            Announcement(
                DECODER_EVENT + "Started",
                protocol.encode(
                    {"pid": os.getpid(), "ksock": ksock.ksock_id(), **self.state.snapshot()}
                ),
            )
        )
        for command in DECODER_COMMANDS:
            ksock.bind(DECODER + command, replier=True)

    def handle(self, msg: Message) -> None:
        if not msg.wants_us_to_reply():
            return
        name = msg.name
        command = protocol.command_of(name, DECODER, DECODER_COMMANDS)
        if command is None:
            self.reply(msg, protocol.error(protocol.E_UNKNOWN_COMMAND, f"not a command: {name}"))
            return
        data = msg.data
        journal_command(self.journal, command, msg.id, name, data)
        outcome: list[Outcome] = []

        def run(fields: Fields) -> dict[str, Value]:
            result = self.state.apply(command, fields)
            outcome.append(result)
            if command == "Status":
                result.reply.update(commands=self.journal.count, digest=self.journal.digest)
            return result.reply

        self.serve_request(msg, run)
        if outcome and outcome[0].event is not None:
            event, fields = outcome[0].event
            assert self.ksock is not None
            self.ksock.send_msg(
                Announcement(
                    DECODER_EVENT + event,
                    protocol.encode({**fields, "cause": protocol.format_id(msg.id)}),
                )
            )
            self.log.debug("%s: %s", event, fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-decoder", description=__doc__.split("\n")[0])
    common_arguments(parser, max_messages=1000)
    return main_for(DecoderService, parser, argv)
