# SPDX-License-Identifier: MIT
"""The Python round trip of `make bench`: a Request -> Reply through the kbus
Python package, with the replier in another process, beside the pipe
ping-pong floor that kbus-bench measured in the same run.

    py_rtt.py [--quick] [--only SECTION] [--json FILE]
        run the round trip under CPython (this interpreter) and, when the
        guest has it, MicroPython; print a table; merge the figures into
        FILE (kbus-bench's JSON), whose 16-byte pipe ping-pong p50 is the
        floor: py_rtt_vs_pipe (target <= 3) and upy_rtt_vs_pipe
    py_rtt.py replier NAME COUNT SIZE [DEVICE]
                                           (either interpreter) answer COUNT
                                            requests on NAME with SIZE bytes
                                            (on /dev/kbusDEVICE, default 0)
    py_rtt.py requester NAME COUNT SIZE [DEVICE]
                                           (either interpreter) COUNT timed
                                            round trips; prints p50 and p99 (us)
    py_rtt.py micro                        the message core's costs (us):
                                            build a Request, parse a message,
                                            reply_to

A round trip is what a Python requester pays: build the Request, send_msg,
wait_for_msg for the reply; the replier's wait_for_msg, reply_to and
send_msg happen inside it.  Timed per round trip, like kbus-bench's KBUS
and pipe round trips (2,000 of each; --quick: 200), after 50 untimed ones.
The roles run under either interpreter, so this file is written in the
Python that MicroPython compiles too (no ``*x`` in displays, ...).
"""

import sys
import time

from kbus import Ksock, Message, MessageId, Request, reply_to

IMPL = sys.implementation.name
if IMPL != "micropython":  # the orchestrator's modules
    import json
    import os
    import shutil
    import subprocess
NAME = "$.Bench.PyRTT"
SIZE = 16
WARMUP = 50

if IMPL == "micropython":

    def _now_us() -> int:
        return time.ticks_us()  # type: ignore[attr-defined]

    def _diff_us(later: int, earlier: int) -> int:
        return time.ticks_diff(later, earlier)  # type: ignore[attr-defined]

else:

    def _now_us() -> int:
        return time.perf_counter_ns() // 1000

    def _diff_us(later: int, earlier: int) -> int:
        return later - earlier


def percentile(values: list[int], p: float) -> int:
    """As kbus-bench: the value at rank round(p/100 * (n - 1)) of the sorted values."""
    ordered = sorted(values)
    return ordered[int(p / 100.0 * (len(ordered) - 1) + 0.5)]


def replier(name: str, count: int, size: int, device: int = 0) -> None:
    data = b"r" * size
    with Ksock(device) as k:
        k.bind(name, True)
        print("ready")
        sys.stdout.flush()
        for _ in range(count):
            k.send_msg(reply_to(k.wait_for_msg(), data))


def requester(name: str, count: int, size: int, device: int = 0) -> None:
    data = b"q" * size
    lat: list[int] = []
    with Ksock(device) as k:
        for _ in range(WARMUP):
            k.send_msg(Request(name, data))
            k.wait_for_msg()
        for _ in range(count):
            t0 = _now_us()
            req_id = k.send_msg(Request(name, data))
            reply = k.wait_for_msg()
            lat.append(_diff_us(_now_us(), t0))
            if reply.in_reply_to != req_id:
                raise AssertionError(f"reply to {reply.in_reply_to}, not {req_id}")
    print(f"{percentile(lat, 50)} {percentile(lat, 99)}")


def micro() -> None:
    """Microseconds per operation of the message core (best of 5 runs)."""
    data = b"x" * SIZE
    raw = Message(NAME, data, from_=3, id=MessageId(0, 7), flags=3).to_bytes()
    received = Message.from_bytes(raw)

    def build() -> None:
        Request(NAME, data)

    def parse() -> None:
        Message.from_bytes(raw)

    def parse_fields() -> tuple[object, ...]:
        m = Message.from_bytes(raw)
        return (m.name, m.data, m.id, m.from_)

    def reply() -> None:
        reply_to(received, data)

    n = 2000
    for label, op in (
        ("build", build),
        ("parse", parse),
        ("parse_fields", parse_fields),
        ("reply_to", reply),
    ):
        best: float | None = None
        for _ in range(5):
            t0 = _now_us()
            for _ in range(n):
                op()
            per = _diff_us(_now_us(), t0) / n
            best = per if best is None or per < best else best
        print(f"{label} {best:.2f}")


# ---------------------------------------------------------------------------
# The orchestrator (CPython only)


def _role(cmd: list[str], role: str, count: int, timeout: float) -> tuple[float, float]:
    """Run the replier and the requester (``cmd``: the interpreter); the
    requester's (p50, p99)."""
    name = f"{NAME}.{role}"
    server = subprocess.Popen(
        cmd + [__file__, "replier", name, str(count + WARMUP), str(SIZE)],  # noqa: RUF005
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{role} replier did not start")
        out = subprocess.run(
            cmd + [__file__, "requester", name, str(count), str(SIZE)],  # noqa: RUF005
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
        server.wait(timeout=timeout)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    p50, p99 = (float(x) for x in out.split())
    return p50, p99


def _micropython() -> str | None:
    path = shutil.which("micropython")
    if path is None:
        return None
    probe = subprocess.run([path, "-c", "import kbus"], capture_output=True, check=False)
    return path if probe.returncode == 0 else None


def main(args: list[str]) -> None:
    quick = "--quick" in args
    json_path = args[args.index("--json") + 1] if "--json" in args else None
    if "--only" in args and args[args.index("--only") + 1] != "rtt":
        return
    count = 200 if quick else 2000
    figures: dict[str, float] = {}
    if json_path and os.path.exists(json_path):
        with open(json_path) as f:
            figures = json.load(f)
    pipe = figures.get("rtt_16_pipe_p50_us")
    kbus_c = figures.get("rtt_16_kbus_p50_us")

    rows = [("py", f"cpython {sys.version.split()[0]}", [sys.executable])]
    upy = _micropython()
    if upy is not None:
        rows.append(("upy", "micropython", [upy]))
    results: dict[str, tuple[str, float, float]] = {}
    for key, label, cmd in rows:
        p50, p99 = _role(cmd, key, count, 600)
        results[key] = (label, p50, p99)

    print(
        f"\nPython round trip (Request -> Reply through the kbus package, replier in"
        f" another process;\nfloor: kbus-bench's pipe ping-pong of this run),"
        f" {SIZE} B, {count} each, p50 and p99 in us"
    )
    print(
        f"{'interpreter':18s} {'p50':>8s} {'p99':>8s} {'pipe p50':>9s} {'C kbus p50':>11s}"
        f" {'vs pipe':>8s} {'vs C kbus':>10s}"
    )
    for key, (label, p50, p99) in results.items():
        figures[f"{key}_rtt_{SIZE}_p50_us"] = p50
        figures[f"{key}_rtt_{SIZE}_p99_us"] = p99
        vs_pipe = p50 / pipe if pipe else None
        vs_kbus = p50 / kbus_c if kbus_c else None
        if vs_pipe is not None:
            figures[f"{key}_rtt_vs_pipe"] = round(vs_pipe, 4)
        if vs_kbus is not None:
            figures[f"{key}_rtt_vs_kbus"] = round(vs_kbus, 4)
        print(
            f"{label:18s} {p50:8.1f} {p99:8.1f} {pipe or float('nan'):9.1f}"
            f" {kbus_c or float('nan'):11.1f} {vs_pipe or float('nan'):8.2f}"
            f" {vs_kbus or float('nan'):10.2f}"
        )
    if "py_rtt_vs_pipe" in figures:
        verdict = "met" if figures["py_rtt_vs_pipe"] <= 3 else "NOT met"
        print(f"py_rtt_vs_pipe {figures['py_rtt_vs_pipe']:.2f} (target <= 3: {verdict})")
    if "upy_rtt_vs_pipe" in figures:
        print(f"upy_rtt_vs_pipe {figures['upy_rtt_vs_pipe']:.2f}")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(figures, f, indent=2)
            f.write("\n")


if len(sys.argv) >= 5 and sys.argv[1] in ("replier", "requester"):
    role = replier if sys.argv[1] == "replier" else requester
    device = int(sys.argv[5]) if len(sys.argv) >= 6 else 0
    role(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), device)
elif len(sys.argv) >= 2 and sys.argv[1] == "micro":
    micro()
elif IMPL == "micropython":
    print(__doc__)
    sys.exit(2)
else:
    main(sys.argv[1:])
