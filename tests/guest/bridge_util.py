# SPDX-License-Identifier: MIT
"""Helpers for the KBUS bridge tests (tests/guest/test_bridge.py and
test_bridge_tls.py in one guest, tests/test_bridge_boxes.py across two): a
Mosquitto broker (plain, or TLS with client certificates), a CA made with the
openssl command, bridge processes, and small KBUS actors.  Also a command
line, so that the host
can drive the same actors in each box:

    python3 bridge_util.py broker start|stop|kill [--port N] [--listen ADDR]
    python3 bridge_util.py bridge start NODE [--device N] [--broker URL]
        [--export P]... [--import P]... [--timeout S] [--out-queue N]
    python3 bridge_util.py bridge stop|kill NODE
    python3 bridge_util.py state NODE [--device N]          (JSON)
    python3 bridge_util.py wait-replier NAME [--device N] [--gone] [--timeout S]
    python3 bridge_util.py announce NAME COUNT [--sender S] [--device N]
    python3 bridge_util.py listen PATTERN COUNT [--device N] [--timeout S]
        [--ready FILE]
    python3 bridge_util.py replier NAME [--device N] [--ready FILE] [--count N]
        [--hold FILE]   (don't answer while FILE exists) [--exit-after N]
    python3 bridge_util.py request NAME [DATA] [--device N] [--timeout S]
        [--then-stateful NAME2 --between FILE]

Outputs are JSON lines.  Files go to /tmp/kbus-bridge-test/.
"""

from __future__ import annotations

import argparse
import grp
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kbus import Announcement, Ksock, Message, Request, reply_to, stateful_request

WORK = "/tmp/kbus-bridge-test"
BRIDGE_USER = "kbus-bridge"


def _user_exists(name: str) -> bool:
    import pwd  # noqa: PLC0415

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
DEFAULT_PORT = 1883
TLS_PORT = 8883
BRIDGE_PREFIXES = ("$.KBUS.", "$.Bridge.")
#: TCG is slow, and armhf slower still
SLOW = 3.0 if platform.machine().startswith("arm") else 1.0


def have_bridge() -> str:
    """'' if the bridge, paho-mqtt and mosquitto are here, else what is missing."""
    missing = []
    if not shutil.which("kbus-bridge"):
        missing.append("kbus-bridge")
    if not os.path.exists(MOSQUITTO):
        missing.append("mosquitto")
    try:
        import paho.mqtt.client  # noqa: F401
    except ImportError:
        missing.append("paho-mqtt")
    return ", ".join(missing)


def wait_until(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout * SLOW
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out ({timeout * SLOW:g} s) waiting for {what}")
        time.sleep(0.05)


def is_status(msg: Message) -> bool:
    return msg.is_reply() and msg.name.startswith(BRIDGE_PREFIXES)


def msg_dict(msg: Message) -> dict[str, Any]:
    return {
        "name": msg.name,
        "data": (msg.data or b"").decode("utf-8", "replace"),
        "id": [msg.id.network_id, msg.id.serial_num] if msg.id else None,
        "in_reply_to": (
            [msg.in_reply_to.network_id, msg.in_reply_to.serial_num]
            if msg.in_reply_to
            else None
        ),
        "orig_from": [msg.orig_from.network_id, msg.orig_from.local_id]
        if msg.orig_from
        else None,
        "from": msg.from_,
        "status": is_status(msg),
    }


# --------------------------------------------------------------------------
# certificates (the TLS tests)


@dataclass
class Cert:
    """A certificate and its key (PEM files)."""

    cert: str
    key: str


class Pki:
    """A CA made at test time with the openssl command (EC P-256 keys: quick
    to make under TCG), and the certificates it signs, in ``dir``.  A client's
    key is mode 0640, group kbus-bridge when there is one, as docs/bridge.md
    asks (the bridge reads it after it became that user)."""

    def __init__(self, dir: str, name: str) -> None:
        self.dir = dir
        os.makedirs(dir, exist_ok=True)
        os.chmod(dir, 0o755)
        self.ca = Cert(os.path.join(dir, "ca.crt"), os.path.join(dir, "ca.key"))
        _openssl(
            *("req", "-x509", "-days", "2", "-subj", f"/CN={name}"),
            *_new_key(self.ca.key),
            *("-out", self.ca.cert),
        )

    def issue(self, cn: str, server_ip: str | None = None) -> Cert:
        """A certificate for ``cn``: a server's for ``server_ip`` (its
        subjectAltName, which the bridge checks against the broker's
        address), else a client's."""
        base = os.path.join(self.dir, cn)
        out = Cert(base + ".crt", base + ".key")
        csr, ext = base + ".csr", base + ".ext"
        with open(ext, "w") as f:
            if server_ip:
                f.write(f"subjectAltName = IP:{server_ip}\n")
            usage = "serverAuth" if server_ip else "clientAuth"
            f.write(f"extendedKeyUsage = {usage}\n")
        _openssl("req", "-new", "-subj", f"/CN={cn}", *_new_key(out.key), "-out", csr)
        _openssl(
            *("x509", "-req", "-in", csr, "-CA", self.ca.cert, "-CAkey", self.ca.key),
            *("-CAcreateserial", "-days", "2", "-extfile", ext, "-out", out.cert),
        )
        if not server_ip and _group_exists(BRIDGE_USER):
            os.chown(out.key, 0, grp.getgrnam(BRIDGE_USER).gr_gid)
            os.chmod(out.key, 0o640)
        return out


def _new_key(path: str) -> list[str]:
    """openssl req's arguments for a new P-256 key, unencrypted, in path"""
    curve = "ec_paramgen_curve:prime256v1"
    return ["-newkey", "ec", "-pkeyopt", curve, "-nodes", "-keyout", path]


def _openssl(*args: str) -> None:
    cmd = ["openssl", *args]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"openssl {' '.join(args)}: {res.stderr}"


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


@dataclass
class BrokerTls:
    """A TLS listener's files: the CA that signs the client certificates it
    accepts (all of them are required), and the broker's own certificate.
    Each client's user name is its certificate's CN."""

    ca_file: str
    server: Cert


# --------------------------------------------------------------------------
# the broker


class Broker:
    """A Mosquitto broker for the tests (no persistence: a restart loses
    every session, as a broker that crashed would); with ``tls``, its one
    listener is TLS only and wants client certificates."""

    def __init__(
        self,
        port: int = DEFAULT_PORT,
        listen: str = "127.0.0.1",
        tls: BrokerTls | None = None,
    ) -> None:
        self.port = port
        self.listen = listen
        self.tls = tls
        self.dir = os.path.join(WORK, f"broker-{port}")
        self.conf = os.path.join(self.dir, "mosquitto.conf")
        self.pidfile = os.path.join(self.dir, "pid")
        self.log = os.path.join(self.dir, "log")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.listen in ("0.0.0.0", "127.0.0.1") else self.listen
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def pid(self) -> int | None:
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        if self.pid():
            return
        os.makedirs(self.dir, exist_ok=True)
        if self.tls is None:
            access = "allow_anonymous true\n"
        else:
            access = (
                f"cafile {self.tls.ca_file}\ncertfile {self.tls.server.cert}\n"
                f"keyfile {self.tls.server.key}\nrequire_certificate true\n"
                "use_identity_as_username true\nallow_anonymous false\n"
            )
        with open(self.conf, "w") as f:
            f.write(
                f"listener {self.port} {self.listen}\n" + access + "persistence false\n"
                "user root\n"
                "max_queued_messages 1000\n"
                "set_tcp_nodelay true\n"
            )
        log = open(self.log, "ab")  # the broker's, for its life
        proc = subprocess.Popen(
            [MOSQUITTO, "-c", self.conf],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        with open(self.pidfile, "w") as f:
            f.write(str(proc.pid))
        wait_until(
            lambda: self._listening() or proc.poll() is not None, 10, "mosquitto"
        )
        assert proc.poll() is None, f"mosquitto exited: {_tail(self.log)}"

    def _listening(self) -> bool:
        import socket

        host = "127.0.0.1" if self.listen == "0.0.0.0" else self.listen
        try:
            socket.create_connection((host, self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, sig)
        wait_until(lambda: not _alive(pid), 10, "mosquitto to stop")
        os.unlink(self.pidfile)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------
# bridges


class BridgeProc:
    """One kbus-bridge process with a configuration written for it."""

    def __init__(
        self,
        node: str,
        device: int = 0,
        broker: str = f"mqtt://127.0.0.1:{DEFAULT_PORT}",
        export: list[str] | None = None,
        imports: list[str] | None = None,
        timeout: float = 5.0,
        out_queue: int = 1000,
        max_pending: int = 256,
        keepalive: int = 10,
        extra: str = "",
        broker_keys: dict[str, str] | None = None,
    ) -> None:
        self.node = node
        self.device = device
        self.dir = os.path.join(WORK, f"bridge-{node}")
        self.conf = os.path.join(self.dir, "bridge.toml")
        self.log = os.path.join(self.dir, "log")
        self.pidfile = os.path.join(self.dir, "pid")
        self.broker = broker
        self.export = export if export is not None else ["$.Test.*"]
        self.imports = imports if imports is not None else ["$.Test.*"]
        # more [broker] keys: ca_file, cert_file, key_file, username, ...
        keys = (broker_keys or {}).items()
        more = "".join(f"{k} = {json.dumps(v)}\n" for k, v in keys)
        self.settings = (
            f'[broker]\nurl = "{broker}"\nkeepalive = {keepalive}\n'
            f"reconnect_min = 1\nreconnect_max = 2\n{more}"
            f"[limits]\nrequest_timeout = {timeout * SLOW}\nout_queue = {out_queue}\n"
            f"max_pending = {max_pending}\nstatus_interval = 0\n{extra}"
            '[log]\nlevel = "info"\n'
        )

    def write_config(self) -> None:
        """The configuration file (written by start(): each start its own)."""
        os.makedirs(self.dir, exist_ok=True)
        with open(self.conf, "w") as f:
            f.write(
                f'enabled = true\nnode = "{self.node}"\ndevice = {self.device}\n'
                f"export = {json.dumps(self.export)}\n"
                f"import = {json.dumps(self.imports)}\n" + self.settings
            )

    def pid(self) -> int | None:
        try:
            with open(self.pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def start(self, wait: bool = True) -> None:
        self.write_config()
        log = open(self.log, "ab")  # the bridge's, for its life
        # as the image runs it: as its own user when there is one (the STB
        # policy lets that user proxy the STB names)
        as_user = os.geteuid() == 0 and _user_exists(BRIDGE_USER)
        user = ["--user", BRIDGE_USER] if as_user else []
        proc = subprocess.Popen(
            ["kbus-bridge", "-c", self.conf, "run", *user],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        with open(self.pidfile, "w") as f:
            f.write(str(proc.pid))
        if wait:
            self.wait_connected()

    def wait_connected(self, timeout: float = 30) -> dict[str, Any]:
        def connected() -> dict[str, Any] | None:
            if self.pid() is None:
                raise AssertionError(f"bridge {self.node} exited: {_tail(self.log)}")
            state = self.state(timeout=2)
            return state if state and state["connected"] else None

        return wait_until(connected, timeout, f"bridge {self.node} connected")

    def state(self, timeout: float = 5.0) -> dict[str, Any] | None:
        return bridge_state(self.node, self.device, timeout)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, sig)
        wait_until(lambda: not _alive(pid), 20, f"bridge {self.node} to stop")

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_text(self) -> str:
        return _tail(self.log, 200)


def bridge_state(
    node: str, device: int = 0, timeout: float = 5.0
) -> dict[str, Any] | None:
    """The JSON state of bridge NODE, asked on /dev/kbusDEVICE (None if no
    bridge answers)."""
    with Ksock(device) as k:
        try:
            mid = k.send_msg(Request(f"$.BridgeState.{node}"))
        except OSError:
            return None
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            msg = k.wait_for_msg(max(0.0, deadline - time.monotonic()))
            if msg is not None and msg.in_reply_to == mid:
                if is_status(msg):
                    return None
                return json.loads(msg.data or b"{}")
    return None


def wait_replier(
    name: str, device: int = 0, gone: bool = False, timeout: float = 30
) -> None:
    """Until a replier is bound to exactly ``name`` on the device (or none)."""
    with Ksock(device) as k:
        wait_until(
            lambda: (k.find_replier(name) is None) == gone,
            timeout,
            f"{'no ' if gone else ''}replier for {name} on /dev/kbus{device}",
        )


def collect(k: Ksock, count: int, timeout: float) -> list[Message]:
    out: list[Message] = []
    deadline = time.monotonic() + timeout * SLOW
    while len(out) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        msg = k.wait_for_msg(left)
        if msg is not None:
            out.append(msg)
    return out


def answer_of(k: Ksock, mid: object, timeout: float) -> list[Message]:
    """Every message in reply to ``mid`` that arrives within ``timeout``
    (after the first one, a short extra wait catches a second answer)."""
    answers: list[Message] = []
    deadline = time.monotonic() + timeout * SLOW
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return answers
        msg = k.wait_for_msg(left)
        if msg is not None and msg.in_reply_to == mid:
            answers.append(msg)
            deadline = min(deadline, time.monotonic() + 0.5 * SLOW)


# --------------------------------------------------------------------------
# command line (the host's two-box tests)


def _print(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def _touch(path: str | None) -> None:
    if path:
        with open(path, "w"):
            pass


def cmd_broker(a: argparse.Namespace) -> None:
    broker = Broker(a.port, a.listen)
    if a.action == "start":
        broker.start()
    else:
        broker.stop(signal.SIGKILL if a.action == "kill" else signal.SIGTERM)
    _print({"broker": a.action, "url": broker.url})


def cmd_bridge(a: argparse.Namespace) -> None:
    bridge = BridgeProc(
        a.node,
        a.device,
        a.broker,
        a.export or None,
        a.imports or None,
        a.timeout,
        a.out_queue,
    )
    if a.action == "start":
        bridge.start(wait=False)
        _print({"bridge": a.node, "state": bridge.wait_connected(60)["connected"]})
    elif a.action == "stop":
        bridge.stop()
        _print({"bridge": a.node, "stopped": True})
    else:
        bridge.kill()
        _print({"bridge": a.node, "killed": True})


def cmd_state(a: argparse.Namespace) -> None:
    _print(bridge_state(a.node, a.device))


def cmd_wait_replier(a: argparse.Namespace) -> None:
    wait_replier(a.name, a.device, a.gone, a.timeout)
    _print({"replier": a.name, "present": not a.gone})


def cmd_announce(a: argparse.Namespace) -> None:
    with Ksock(a.device) as k:
        for i in range(a.count):
            k.send_msg(Announcement(a.name, f"sender={a.sender} n={i}".encode()))
    _print({"announced": a.count, "sender": a.sender})


def cmd_listen(a: argparse.Namespace) -> None:
    with Ksock(a.device) as k:
        k.set_max_messages(max(100, a.count + 10))
        k.bind(a.pattern)
        _touch(a.ready)
        for msg in collect(k, a.count, a.timeout):
            _print(msg_dict(msg))


def cmd_replier(a: argparse.Namespace) -> None:
    with Ksock(a.device) as k:
        k.bind(a.name, replier=True)
        _touch(a.ready)
        answered = 0
        while a.count == 0 or answered < a.count:
            msg = k.wait_for_msg(None)
            if msg is None or not msg.wants_us_to_reply():
                continue
            _print({"request": msg_dict(msg), "ksock": k.ksock_id()})
            if a.exit_after and answered + 1 >= a.exit_after:
                os._exit(0)  # leave it unanswered: KBUS says Ignored
            while a.hold and os.path.exists(a.hold):
                time.sleep(0.05)
            k.send_msg(reply_to(msg, b"answer=" + (msg.data or b"")))
            answered += 1


def cmd_request(a: argparse.Namespace) -> None:
    with Ksock(a.device) as k:
        mid = k.send_msg(Request(a.name, a.data.encode()))
        answers = answer_of(k, mid, a.timeout)
        _print({"answers": [msg_dict(m) for m in answers]})
        if a.then_stateful and answers and not is_status(answers[0]):
            while a.between and not os.path.exists(a.between):
                time.sleep(0.05)
            req = stateful_request(answers[0], a.then_stateful, b"again")
            try:
                mid2 = k.send_msg(req)
            except OSError as exc:
                _print({"stateful_errno": exc.errno})
                return
            _print({"stateful": [msg_dict(m) for m in answer_of(k, mid2, a.timeout)]})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bridge_util")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("broker")
    p.add_argument("action", choices=["start", "stop", "kill"])
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--listen", default="127.0.0.1")
    p = sub.add_parser("bridge")
    p.add_argument("action", choices=["start", "stop", "kill"])
    p.add_argument("node")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--broker", default=f"mqtt://127.0.0.1:{DEFAULT_PORT}")
    p.add_argument("--export", action="append", default=[])
    p.add_argument("--import", dest="imports", action="append", default=[])
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--out-queue", type=int, default=1000)
    p = sub.add_parser("state")
    p.add_argument("node")
    p.add_argument("--device", type=int, default=0)
    p = sub.add_parser("wait-replier")
    p.add_argument("name")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--gone", action="store_true")
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("announce")
    p.add_argument("name")
    p.add_argument("count", type=int)
    p.add_argument("--sender", default="s")
    p.add_argument("--device", type=int, default=0)
    p = sub.add_parser("listen")
    p.add_argument("pattern")
    p.add_argument("count", type=int)
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--ready")
    p = sub.add_parser("replier")
    p.add_argument("name")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--ready")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--hold")
    p.add_argument("--exit-after", type=int, default=0)
    p = sub.add_parser("request")
    p.add_argument("name")
    p.add_argument("data", nargs="?", default="")
    p.add_argument("--device", type=int, default=0)
    p.add_argument("--timeout", type=float, default=20)
    p.add_argument("--then-stateful")
    p.add_argument("--between")
    a = parser.parse_args(argv)
    os.makedirs(WORK, exist_ok=True)
    handler = {
        "broker": cmd_broker,
        "bridge": cmd_bridge,
        "state": cmd_state,
        "wait-replier": cmd_wait_replier,
        "announce": cmd_announce,
        "listen": cmd_listen,
        "replier": cmd_replier,
        "request": cmd_request,
    }[a.cmd]
    handler(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
