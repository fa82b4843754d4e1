# SPDX-License-Identifier: MIT
"""kbus-bridge: join this box's KBUS to other boxes' over an MQTT broker.

    kbus-bridge [-c FILE] run [--user USER]    the bridge (until SIGTERM)
    kbus-bridge [-c FILE] check [--enabled]    check the configuration
    kbus-bridge [-c FILE] status [NODE...] [--all] [--json]
                                               a bridge's state, asked over KBUS

Exit status: 0 ok; 1 error (configuration, KBUS); 2 usage; 3 check
--enabled: the configuration does not enable the bridge; status: no
answer (a ``$.Bridge.*`` or ``$.KBUS.*`` status instead, or no bridge).
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from typing import Any

from . import __version__, protocol
from . import config as configmod

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO = 3
BINDINGS = "/proc/kbus/bindings"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kbus-bridge",
        description="Bridge a KBUS device to other boxes' over MQTT v5 (docs/bridge.md).",
    )
    parser.add_argument(
        "-c",
        "--config",
        default=os.environ.get("KBUS_BRIDGE_CONFIG", configmod.DEFAULT_PATH),
        help=f"configuration file (default {configmod.DEFAULT_PATH})",
    )
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("run", help="run the bridge until SIGTERM/SIGINT")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--user",
        help="run as USER (its groups from the group database) once the configuration "
        "is read; needs root",
    )
    p = sub.add_parser("check", help="check the configuration and print it")
    p.add_argument(
        "--enabled", action="store_true", help="exit 3 unless it enables the bridge (quietly)"
    )
    p = sub.add_parser("status", help="the state of bridges, asked on the bus")
    p.add_argument("nodes", nargs="*", metavar="NODE", help="default: this box's (config)")
    p.add_argument("--all", action="store_true", help="every bridge this bus reaches")
    p.add_argument("--json", action="store_true", help="the JSON answer(s), one per line")
    p.add_argument("--device", type=int, help="KBUS device (default: the config's, or 0)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per answer")
    return parser


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(
            "%(asctime)s kbus-bridge[%(process)d]: %(levelname)s: %(message)s", "%Y-%m-%dT%H:%M:%S"
        )
    )
    root = logging.getLogger("kbus-bridge")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


def drop_privileges(user: str) -> None:
    """Become ``user``: its supplementary groups, its primary group, then its
    uid.  The image runs the bridge as its own user, whom the bus policy
    lets proxy other boxes' services (docs/bridge.md); the Ksock is opened
    before, as root, but the kernel judges each bind and send by the
    credentials of the moment.  Certificates and a password file must be
    readable by that user (e.g. 0640, group kbus-bridge): the bridge reads
    them again on each reconnect."""
    import pwd  # noqa: PLC0415

    entry = pwd.getpwnam(user)
    os.initgroups(user, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def cmd_run(args: argparse.Namespace) -> int:
    cfg = configmod.load(args.config)
    setup_logging(args.log_level or cfg.log_level)
    if not cfg.node:
        print(f"kbus-bridge: {args.config}: no node name", file=sys.stderr)
        return EXIT_ERROR
    from kbus import Ksock  # noqa: PLC0415 (check and status work without a bus)

    from .bridge import Bridge  # noqa: PLC0415
    from .transport import MqttTransport  # noqa: PLC0415 (needs paho-mqtt)

    with Ksock(cfg.device) as ksock:
        if args.user:
            # what needs root is done first: replier bind events are a
            # device-wide setting (the bridge asks again, and finds it on)
            if cfg.export:
                try:
                    ksock.report_replier_binds(True)
                except PermissionError:
                    pass  # the bridge says so in its log
            try:
                drop_privileges(args.user)
            except (KeyError, OSError) as exc:
                print(f"kbus-bridge: cannot run as {args.user}: {exc}", file=sys.stderr)
                return EXIT_ERROR
        bridge = Bridge(cfg, ksock, MqttTransport)
        bridge.run()
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    cfg = configmod.load(args.config)
    if args.enabled:
        return EXIT_OK if cfg.enabled else EXIT_NO
    b, lim = cfg.broker, cfg.limits
    print(f"{cfg.path}: ok")
    print(f"enabled = {str(cfg.enabled).lower()}")
    print(f"node = {cfg.node or '(none)'}  network_id = {cfg.network_id}  device = {cfg.device}")
    print(f"export = {cfg.export}")
    print(f"import = {cfg.imports}")
    print(
        f"broker = {b.url} (host {b.host} port {b.port}{', TLS' if b.tls else ''}) "
        f"prefix {b.prefix!r} client id {cfg.client_id!r}"
        + (f" user {b.username!r}" if b.username else "")
    )
    print(
        f"limits: request_timeout={lim.request_timeout:g} max_pending={lim.max_pending} "
        f"out_queue={lim.out_queue} receive_maximum={lim.receive_maximum} "
        f"kbus_queue={lim.kbus_queue} status_interval={lim.status_interval:g}"
    )
    return EXIT_OK


def _bridges_on_bus(device: int) -> list[str]:
    """Nodes whose $.BridgeState.NODE has a replier on the device (local
    bridges and the proxies of remote ones)."""
    found = []
    try:
        with open(BINDINGS, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if line.startswith("#") or len(fields) != 5:
                    continue
                dev, _ksock, _pid, kind, name = fields
                if (
                    dev.rstrip(":") == str(device)
                    and kind == "R"
                    and name.startswith(protocol.STATE_REQUEST_PREFIX)
                ):
                    found.append(name[len(protocol.STATE_REQUEST_PREFIX) :])
    except OSError:
        pass
    return sorted(set(found))


def _ask(device: int, node: str, timeout: float) -> tuple[dict[str, Any] | None, str]:
    from kbus import Ksock, Request  # noqa: PLC0415

    name = protocol.STATE_REQUEST_PREFIX + node
    with Ksock(device) as k:
        try:
            mid = k.send_msg(Request(name))
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                return None, f"{node}: no bridge answers {name} on /dev/kbus{device}"
            return None, f"{node}: {name}: {exc}"
        while True:
            msg = k.wait_for_msg(timeout)
            if msg is None:
                return None, f"{node}: no answer within {timeout:g} s"
            if msg.in_reply_to == mid:
                break
    if protocol.is_status(msg):
        data = (msg.data or b"").decode("utf-8", "replace")
        return None, f"{node}: {msg.name} {data}".rstrip()
    try:
        return json.loads(msg.data or b"{}"), ""
    except ValueError:
        return None, f"{node}: not JSON: {msg.data!r}"


def _text(state: dict[str, Any]) -> str:
    c = state.get("counters", {})
    lines = [
        f"bridge {state['node']} (network id {state['network_id']}, epoch {state['epoch']}) "
        f"on /dev/kbus{state['device']}, up {state['uptime']:g} s",
        f"  broker {state['broker']} as {state['client_id']}: "
        + ("connected" if state["connected"] else "NOT CONNECTED")
        + (f" ({state['broker_error']})" if state.get("broker_error") else "")
        + f", prefix {state['prefix']}",
        f"  export {' '.join(state['export']) or '-'}; import {' '.join(state['import']) or '-'}",
        f"  exported repliers: {' '.join(state['exported_repliers']) or '-'}",
    ]
    for node, peer in state.get("peers", {}).items():
        lines.append(
            f"  peer {node}: {'online' if peer['online'] else 'offline'}, network id "
            f"{peer['network_id']}, {len(peer['repliers'])} replier(s)"
        )
    for name, node in state.get("proxies", {}).items():
        lines.append(f"  proxy {name} -> {node}")
    if state.get("shadowed"):
        lines.append(f"  shadowed by local repliers: {' '.join(state['shadowed'])}")
    lines.append(
        f"  pending: {state['pending_out']} out, {state['pending_in']} in; "
        f"MQTT queue {state['mqtt_queue']}"
    )
    lines.append("  counters: " + " ".join(f"{k}={v}" for k, v in c.items()))
    if state.get("statuses"):
        lines.append(
            "  statuses given: " + " ".join(f"{k}={v}" for k, v in state["statuses"].items())
        )
    return "\n".join(lines)


def cmd_status(args: argparse.Namespace) -> int:
    device = args.device
    nodes = list(args.nodes)
    if device is None or (not nodes and not args.all):
        try:
            cfg = configmod.load(args.config)
        except configmod.ConfigError:
            cfg = None
        if device is None:
            device = cfg.device if cfg else 0
        if not nodes and not args.all and cfg and cfg.node:
            nodes = [cfg.node]
    if args.all:
        nodes = sorted(set(nodes) | set(_bridges_on_bus(device)))
    if not nodes:
        print("kbus-bridge status: no bridge named or found", file=sys.stderr)
        return EXIT_NO
    status = EXIT_OK
    for node in nodes:
        state, problem = _ask(device, node, args.timeout)
        if state is None:
            print(problem, file=sys.stderr)
            status = EXIT_NO
        elif args.json:
            print(json.dumps(state, sort_keys=True))
        else:
            print(_text(state))
    return status


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "check":
            return cmd_check(args)
        return cmd_status(args)
    except configmod.ConfigError as exc:
        print(f"kbus-bridge: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"kbus-bridge: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
