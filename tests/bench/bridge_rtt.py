# SPDX-License-Identifier: MIT
"""The bridged round trip of `make bench`: a Request -> Reply between two
KBUS buses joined by two kbus-bridges and a Mosquitto broker, all in one
guest, beside the local Python round trip that py_rtt.py measured in the
same run.

    bridge_rtt.py [--quick] [--only SECTION] [--json FILE]

Bus A is /dev/kbus0, bus B a second device made with NEWDEVICE.  Bridge
"bencha" on A exports $.Bench.*, bridge "benchb" on B imports it; both
connect to a Mosquitto on 127.0.0.1 (plain mqtt://, TCP_NODELAY on both
sides, as docs/bridge.md recommends).  The replier runs on A and the
requester on B, each in its own process (py_rtt.py's roles, CPython), so a
round trip is: the requester's send on B, bridge benchb (the proxy replier)
reads it and publishes it, the broker passes it to bencha, which sends it on
A; the replier answers; the reply goes back the same way, and the requester
reads it.  Timed per round trip, 16 B, 2,000 of them (--quick: 200) after
50 untimed ones, like py_rtt.py.

Prints a table (the local Python round trip, then the bridged one) and merges
into FILE (kbus-bench's JSON, with py_rtt.py's figures): bridge_rtt_16_p50_us,
bridge_rtt_16_p99_us and bridge_rtt_vs_local (the bridged p50 over the local
Python p50).  Without kbus-bridge or mosquitto in the guest it says so and
writes nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from kbus import Ksock

HERE = os.path.dirname(os.path.abspath(__file__))
PY_RTT = os.path.join(HERE, "py_rtt.py")
NAME = "$.Bench.BridgeRTT"
SIZE = 16
WARMUP = 50  # py_rtt.py's
PORT = 18830  # not the tests' 1883 and 8883
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def _wait(pred: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bridge_rtt: timed out waiting for {what}")
        time.sleep(0.05)


def _listening(port: int) -> bool:
    import socket  # noqa: PLC0415

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _has_replier(device: int, name: str) -> bool:
    with Ksock(device) as k:
        return k.find_replier(name) is not None


def _bridge_config(node: str, device: int, export: str, imports: str) -> str:
    return (
        f'enabled = true\nnode = "{node}"\ndevice = {device}\n'
        f"export = [{export}]\nimport = [{imports}]\n"
        f'[broker]\nurl = "mqtt://127.0.0.1:{PORT}"\n'
        "[limits]\nrequest_timeout = 30.0\nstatus_interval = 0\n"
        '[log]\nlevel = "warning"\n'
    )


class Setup:
    """The broker and the two bridges, in a temporary folder."""

    def __init__(self, device_b: int) -> None:
        self.dir = tempfile.mkdtemp(prefix="kbus-bridge-rtt.")
        self.procs: list[subprocess.Popen[bytes]] = []
        self.device_b = device_b

    def _start(self, name: str, cmd: list[str]) -> None:
        with open(os.path.join(self.dir, f"{name}.log"), "wb") as log:
            self.procs.append(
                subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
                )
            )

    def start(self) -> None:
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(
                f"listener {PORT} 127.0.0.1\nallow_anonymous true\n"
                "persistence false\nuser root\nset_tcp_nodelay true\n"
            )
        self._start("mosquitto", [MOSQUITTO, "-c", conf])
        _wait(lambda: _listening(PORT), 20, "mosquitto")
        for node, device, export, imports in (
            ("bencha", 0, '"$.Bench.*"', ""),
            ("benchb", self.device_b, "", '"$.Bench.*"'),
        ):
            path = os.path.join(self.dir, f"{node}.toml")
            with open(path, "w") as f:
                f.write(_bridge_config(node, device, export, imports))
            self._start(node, ["kbus-bridge", "-c", path, "run"])

    def stop(self) -> None:
        for proc in reversed(self.procs):  # the bridges first, then the broker
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def logs(self) -> str:
        out = []
        for name in ("mosquitto", "bencha", "benchb"):
            path = os.path.join(self.dir, f"{name}.log")
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    out.append(f"--- {name}\n{f.read()[-2000:]}")
        return "\n".join(out)


def measure(count: int, device_b: int) -> tuple[float, float]:
    """(p50, p99) of the bridged round trip, in microseconds."""
    setup = Setup(device_b)
    setup.start()
    server = None
    try:
        server = subprocess.Popen(
            [sys.executable, PY_RTT, "replier", NAME, str(count + WARMUP), str(SIZE), "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError("bridge_rtt: the replier did not start")
        # benchb binds its proxy once bencha has offered the replier
        _wait(lambda: _has_replier(device_b, NAME), 60, f"the proxy for {NAME}")
        out = subprocess.run(
            [sys.executable, PY_RTT, "requester", NAME, str(count), str(SIZE), str(device_b)],
            capture_output=True,
            text=True,
            timeout=1200,
            check=True,
        ).stdout
        server.wait(timeout=60)
    except (RuntimeError, subprocess.SubprocessError):
        print(setup.logs(), file=sys.stderr)
        raise
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()
        setup.stop()
        shutil.rmtree(setup.dir, ignore_errors=True)
    p50, p99 = (float(x) for x in out.split())
    return p50, p99


def main(args: list[str]) -> int:
    quick = "--quick" in args
    json_path = args[args.index("--json") + 1] if "--json" in args else None
    if "--only" in args and args[args.index("--only") + 1] != "rtt":
        return 0
    missing = [p for p in ("kbus-bridge",) if not shutil.which(p)]
    if not os.path.exists(MOSQUITTO):
        missing.append("mosquitto")
    if missing:
        print(f"\nbridge round trip: skipped (no {', '.join(missing)} in this guest)")
        return 0
    count = 200 if quick else 2000
    figures: dict[str, float] = {}
    if json_path and os.path.exists(json_path):
        with open(json_path) as f:
            figures = json.load(f)
    with Ksock(0) as k:
        device_b = k.new_device()
    _wait(lambda: os.path.exists(f"/dev/kbus{device_b}"), 10, f"/dev/kbus{device_b}")
    p50, p99 = measure(count, device_b)

    local = figures.get(f"py_rtt_{SIZE}_p50_us")
    local_p99 = figures.get(f"py_rtt_{SIZE}_p99_us")
    figures[f"bridge_rtt_{SIZE}_p50_us"] = p50
    figures[f"bridge_rtt_{SIZE}_p99_us"] = p99
    vs_local = p50 / local if local else None
    if vs_local is not None:
        figures["bridge_rtt_vs_local"] = round(vs_local, 4)
    print(
        "\nBridged round trip (Request -> Reply from /dev/kbus"
        f"{device_b} to a replier on /dev/kbus0 through\ntwo kbus-bridges and"
        " Mosquitto on 127.0.0.1, CPython, each role in its own process),"
        f"\n{SIZE} B, {count} each, p50 and p99 in us"
    )
    print(f"{'round trip':34s} {'p50':>9s} {'p99':>9s} {'vs local':>9s}")
    nan = float("nan")
    print(f"{'local (py_rtt: one bus)':34s} {local or nan:9.1f} {local_p99 or nan:9.1f} {1:9.2f}")
    print(f"{'bridged (2 bridges + broker)':34s} {p50:9.1f} {p99:9.1f} {vs_local or nan:9.2f}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
