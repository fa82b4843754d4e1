# SPDX-License-Identifier: MIT
"""stb-ctl: the remote control (UI) stand-in.

Sends one request and prints its reply as ``NAME PAYLOAD`` (or the KBUS
status, e.g. ``$.KBUS.Replier.GoneAway in_reply_to=0:12 from=5``); fires
pipelined bursts of decoder commands; runs stateful recording sessions.

Exit status: 0 ok; 1 the service answered status=error; 2 usage;
3 no answer from the service (no replier, KBUS status, EPIPE); 4 timeout.
"""

from __future__ import annotations

import argparse
import sys

from . import protocol
from .client import (
    Client,
    RecorderSession,
    ReplierReplaced,
    ReplyTimeout,
    RequestFailed,
    Response,
    burst,
    burst_commands,
)
from .protocol import DECODER, RECORDER, Value

EXIT_OK = 0
EXIT_ERROR_REPLY = 1
EXIT_USAGE = 2
EXIT_NO_ANSWER = 3
EXIT_TIMEOUT = 4


def _status(response: Response) -> int:
    print(response.text(), flush=True)
    if response.is_status:
        return EXIT_NO_ANSWER
    return EXIT_OK if response.ok else EXIT_ERROR_REPLY


def _pairs(words: list[str]) -> dict[str, Value]:
    """``["channel=5", "follow=1"]`` -> fields (values as given)."""
    fields: dict[str, Value] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"{word!r} is not key=value")
        fields[key] = value
    return fields


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stb-ctl", description="Remote control for the STB services on KBUS."
    )
    parser.add_argument("--device", type=int, default=0, help="KBUS device (default 0)")
    parser.add_argument("--timeout", type=float, default=10.0, help="reply timeout, s")
    parser.add_argument(
        "--no-relay", action="store_true", help="do not announce KBUS status replies"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("tune", help="tune the decoder to CHANNEL")
    p.add_argument("channel")
    for name in ("play", "pause", "stop"):
        sub.add_parser(name, help=f"decoder {name.capitalize()}")
    p = sub.add_parser("status", help="decoder Status")
    p.add_argument("--reset-journal", action="store_true", help="send journal=reset")
    p = sub.add_parser("rec-start", help="recorder Start")
    p.add_argument("--channel")
    p.add_argument("--follow", choices=["0", "1"])
    p = sub.add_parser("rec-stop", help="recorder Stop")
    p.add_argument("rec")
    sub.add_parser("rec-list", help="recorder List (every page, one line each)")
    sub.add_parser("rec-status", help="recorder Status")
    sub.add_parser("counters", help="logger Counters")
    p = sub.add_parser("request", help="any request: NAME [FIELD=VALUE...]")
    p.add_argument("name")
    p.add_argument("fields", nargs="*")
    p = sub.add_parser("burst", help="pipelined decoder commands (Tune, Pause, Play, Stop...)")
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--window", type=int, default=32, help="requests in flight (default 32)")
    sub.add_parser(
        "session",
        help="stateful recorder session: reads 'start [k=v...]', 'stop [rec=N]', 'list' "
        "lines from stdin",
    )
    return parser


def run_session(client: Client, timeout: float) -> int:
    """Each stdin line is a command for the same recorder instance."""
    session = RecorderSession(client)
    status = EXIT_OK
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            fields = _pairs(words[1:])
            verb = words[0]
            if verb == "start":
                response = session.request("Start", fields, timeout)
            elif verb == "stop":
                fields.setdefault("rec", session.last_rec)
                response = session.request("Stop", fields, timeout)
            elif verb == "list":
                response = session.request("List", fields, timeout)
            else:
                print(f"error: unknown session command {verb!r}", flush=True)
                status = EXIT_USAGE
                continue
        except ReplierReplaced as exc:
            print(f"error: EPIPE: the recorder of this session was replaced ({exc})", flush=True)
            return EXIT_NO_ANSWER
        except RequestFailed as exc:
            print(f"error: {exc}", flush=True)
            return EXIT_NO_ANSWER
        except ValueError as exc:
            print(f"error: {exc}", flush=True)
            status = EXIT_USAGE
            continue
        status = _status(response)
        if response.is_status:
            return status
    return status


def run(args: argparse.Namespace, client: Client) -> int:
    cmd = args.command
    timeout = args.timeout
    if cmd == "tune":
        return _status(client.request(DECODER + "Tune", {"channel": args.channel}, timeout))
    if cmd in ("play", "pause", "stop"):
        return _status(client.request(DECODER + cmd.capitalize(), {}, timeout))
    if cmd == "status":
        fields = {"journal": "reset"} if args.reset_journal else {}
        return _status(client.request(DECODER + "Status", fields, timeout))
    if cmd == "rec-start":
        fields = {"channel": args.channel, "follow": args.follow}
        return _status(client.request(RECORDER + "Start", fields, timeout))
    if cmd == "rec-stop":
        return _status(client.request(RECORDER + "Stop", {"rec": args.rec}, timeout))
    if cmd == "rec-list":  # one line per page (see List in docs/stb-messages.md)
        fields: dict[str, Value] = {}
        while True:
            response = client.request(RECORDER + "List", fields, timeout)
            status = _status(response)
            if status != EXIT_OK or "next" not in response.fields:
                return status
            fields = {"after": response.fields["next"]}
    if cmd == "rec-status":
        return _status(client.request(RECORDER + "Status", {}, timeout))
    if cmd == "counters":
        return _status(client.request(protocol.LOGGER_COUNTERS, {}, timeout))
    if cmd == "request":
        return _status(client.request(args.name, _pairs(args.fields), timeout))
    if cmd == "burst":
        result = burst(client, burst_commands(args.count), args.window, max(timeout, 60.0))
        print(result.text(), flush=True)
        return EXIT_OK if result.ok == result.sent else EXIT_ERROR_REPLY
    if cmd == "session":
        return run_session(client, timeout)
    raise AssertionError(cmd)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    window = getattr(args, "window", 0)
    try:
        client = Client(args.device, relay=not args.no_relay, max_messages=max(100, window + 8))
    except OSError as exc:
        print(f"stb-ctl: cannot open /dev/kbus{args.device}: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER
    try:
        return run(args, client)
    except ReplierReplaced as exc:
        print(f"error: EPIPE: {exc}", flush=True)
        return EXIT_NO_ANSWER
    except RequestFailed as exc:
        print(f"error: {exc}", flush=True)
        return EXIT_NO_ANSWER
    except ReplyTimeout as exc:
        print(f"error: {exc}", flush=True)
        return EXIT_TIMEOUT
    except ValueError as exc:
        print(f"stb-ctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        client.close()
