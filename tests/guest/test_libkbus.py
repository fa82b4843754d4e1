# SPDX-License-Identifier: MIT
"""libkbus and its utilities in the guest (tests/rig/components/libkbus.mk
stages them): the C test binaries (and, on x86_64, the same tests built with
AddressSanitizer and UBSan) and the interoperability of the C tools with the
Python binding: kmsg sending to a Python listener, a Python requester with a
kmsg replier, `kmsg listen '$.*'` showing a live stream, `kmsg --json`, and
kspeed printing its figures."""

from __future__ import annotations

import json
import os
import platform
import re
import select
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

import pytest
from kbus import Announcement, Message, Reply, Request, reply_to

import kbus_raw as raw
from kbus_util import KsockFactory

TESTS_DIR = "/usr/libexec/kbus-tests"
SANITIZED_DIR = f"{TESTS_DIR}/sanitize"
KMSG = "/usr/bin/kmsg"
KSPEED = "/usr/bin/kspeed"
CLOSING_RE = re.compile(r"^(\d+) passed, (\d+) failed$")
SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def _binaries(directory: str) -> list[str]:
    if not os.path.isdir(directory):
        return []
    return sorted(
        os.path.join(directory, n)
        for n in os.listdir(directory)
        if n.startswith("test_")
    )


def _run(
    argv: list[str], timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **env},
    )


def _check_c_test_output(proc: subprocess.CompletedProcess[str]) -> int:
    out = proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{out}"
    assert lines, f"no output:\n{out}"
    m = CLOSING_RE.match(lines[-1])
    assert m, f"no closing line 'N passed, N failed':\n{out}"
    passed, failed = int(m.group(1)), int(m.group(2))
    assert failed == 0 and passed > 0, out
    results = [ln for ln in lines if ln.split(" ", 1)[0] in ("PASS", "FAIL", "SKIP")]
    assert all(ln.startswith("PASS ") for ln in results), out
    assert len(results) == passed, out
    return passed


# --------------------------------------------------------------------------
# the C tests

C_TESTS = _binaries(TESTS_DIR)
SANITIZED_TESTS = _binaries(SANITIZED_DIR)  # x86_64 only


def test_c_test_binaries_are_installed() -> None:
    names = [os.path.basename(b) for b in _binaries(TESTS_DIR)]
    assert "test_libkbus" in names and "test_cxx" in names, names
    assert os.path.exists("/usr/lib/libkbus.so.1")


@pytest.mark.parametrize("binary", C_TESTS, ids=[os.path.basename(b) for b in C_TESTS])
def test_c_tests(binary: str) -> None:
    proc = _run([binary], KBUS_TEST_REQUIRE_DEVICE="1")
    passed = _check_c_test_output(proc)
    print(f"{binary}: {passed} passed")


def test_sanitized_c_tests_exist_on_x86_64() -> None:
    if platform.machine() != "x86_64":
        pytest.skip("the sanitized build is x86_64 only")
    names = [os.path.basename(b) for b in _binaries(SANITIZED_DIR)]
    assert "test_libkbus" in names and "test_cxx" in names, names


@pytest.mark.parametrize(
    "binary", SANITIZED_TESTS, ids=[os.path.basename(b) for b in SANITIZED_TESTS]
)
def test_sanitized_c_tests(binary: str) -> None:
    proc = _run([binary], timeout=300, KBUS_TEST_REQUIRE_DEVICE="1", **SANITIZER_ENV)
    out = proc.stdout + proc.stderr
    assert "Sanitizer" not in out and "runtime error" not in out, out
    passed = _check_c_test_output(proc)
    print(f"{binary} (ASan+UBSan): {passed} passed")


# --------------------------------------------------------------------------
# helpers for the utilities


class Background:
    """A utility running in the background, its stdout and stderr piped."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )

    def _line(self, stream: IO[str] | None, timeout: float) -> str:
        assert stream is not None
        ready, _, _ = select.select([stream], [], [], timeout)
        assert ready, f"no output within {timeout} s"
        line = stream.readline()
        assert line, f"end of output (exit {self.proc.poll()})"
        return line.rstrip("\n")

    def stdout_line(self, timeout: float = 20) -> str:
        return self._line(self.proc.stdout, timeout)

    def stderr_line(self, timeout: float = 20) -> str:
        return self._line(self.proc.stderr, timeout)

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate()


@contextmanager
def background(*argv: str) -> Iterator[Background]:
    bg = Background(list(argv))
    try:
        yield bg
    finally:
        bg.kill()


# --------------------------------------------------------------------------
# kmsg: C sender, Python listener


def test_kmsg_send_to_python_listener(ksock: KsockFactory) -> None:
    listener = ksock(0, "r")
    listener.bind("$.LibkbusTest.Send")
    proc = _run([KMSG, "send", "$.LibkbusTest.Send", "Hellow"], timeout=30)
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    m = re.fullmatch(
        r"<Announcement '\$\.LibkbusTest\.Send' id=\[0:(\d+)\] from=(\d+) "
        r"data=Hellow>",
        line,
    )
    assert m, line
    msg = listener.read_next_msg()
    assert msg is not None
    assert msg.name == "$.LibkbusTest.Send"
    assert msg.data == b"Hellow"
    assert msg.id is not None and msg.id.serial_num == int(m.group(1))
    assert msg.from_ == int(m.group(2))
    assert msg.flags == 0 and msg.in_reply_to is None and not msg.is_request()
    assert listener.read_next_msg() is None


def test_kmsg_send_options(ksock: KsockFactory) -> None:
    listener = ksock(0, "r")
    listener.bind("$.LibkbusTest.Opts")
    args = shlex.split("--data-hex --urgent --flags 0x10000 send $.LibkbusTest.Opts")
    proc = _run([KMSG, *args, "00 ff:41"])
    assert proc.returncode == 0, proc.stderr
    shown = proc.stdout.strip()
    assert shown.endswith(r"flags=0x10008 URG data=\x00\xffA>"), shown
    proc = _run([KMSG, "-z", "send", "$.LibkbusTest.Opts", "text"])
    assert proc.returncode == 0, proc.stderr
    first, second = listener.read_next_msg(), listener.read_next_msg()
    assert first is not None and second is not None
    assert first.data == b"\x00\xffA" and first.flags == 0x10008
    assert second.data == b"text\x00"
    # data from a file (here standard input)
    proc = subprocess.run(
        [KMSG, "--data-file", "-", "send", "$.LibkbusTest.Opts"],
        input="from stdin",
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    third = listener.read_next_msg()
    assert third is not None and third.data == b"from stdin"


def test_kmsg_exit_codes(ksock: KsockFactory) -> None:
    assert _run([KMSG]).returncode == 1
    assert _run([KMSG, "frobnicate", "$.A"]).returncode == 1
    assert _run([KMSG, "--bogus", "send", "$.A"]).returncode == 1
    assert _run([KMSG, "--bus", "250", "send", "$.A"]).returncode == 10
    assert _run([KMSG, "listen", "Not.A.Name"]).returncode == 11
    # a request nobody answers, and a wildcard send
    assert _run([KMSG, "call", "$.LibkbusTest.Nobody"]).returncode == 12
    assert _run([KMSG, "send", "$.LibkbusTest.*"]).returncode == 12
    # listen with --count not reached before --timeout
    proc = _run(
        [KMSG, "--count", "1", "--timeout", "0.5", "listen", "$.LibkbusTest.Quiet"]
    )
    assert proc.returncode == 14, proc.stderr
    # listen for a while, no count: fine
    proc = _run([KMSG, "--timeout", "0.3", "listen", "$.LibkbusTest.Quiet"])
    assert proc.returncode == 0, proc.stderr


def test_help_covers_every_option() -> None:
    kmsg_options = [
        "--bus", "--count", "--timeout", "--data-hex", "--data-file", "--nul",
        "--echo", "--urgent", "--all-or-wait", "--all-or-fail", "--flags", "--to",
        "--only-once", "--max-messages", "--json", "--full", "--dump", "--quiet",
        "--verbose", "--help", "--version",
    ]  # fmt: skip
    kspeed_options = [
        "--bus", "--listeners", "--size", "--count", "--requests", "--warmup",
        "--queue", "--lossy", "--name", "--timeout", "--json", "--help", "--version",
    ]  # fmt: skip
    for tool, options in ((KMSG, kmsg_options), (KSPEED, kspeed_options)):
        options.append("Exit codes")
        proc = _run([tool, "--help"])
        assert proc.returncode == 0
        missing = [o for o in options if o not in proc.stdout]
        assert not missing, f"{tool} --help does not mention {missing}"
        assert _run([tool, "--version"]).stdout.startswith(os.path.basename(tool))


# --------------------------------------------------------------------------
# kmsg reply: Python requester, C replier; kmsg call: C requester, Python replier


def test_python_requester_kmsg_replier(ksock: KsockFactory) -> None:
    name = "$.LibkbusTest.Reply"
    with background(
        KMSG, "--count", "2", "--timeout", "40", "reply", name, "pong"
    ) as bg:
        banner = bg.stderr_line()
        assert banner.startswith("kmsg: replying on /dev/kbus0 as Ksock "), banner
        requester = ksock()
        replier_id = requester.find_replier(name)
        assert replier_id is not None and replier_id > 0
        for text in (b"ping", b"ping again"):
            req_id = requester.send_msg(Request(name, text))
            reply = requester.wait_for_msg(20)
            assert reply is not None, "no reply from kmsg"
            assert reply.is_reply() and reply.in_reply_to == req_id
            assert reply.name == name and reply.data == b"pong"
            assert reply.from_ == replier_id and reply.to == requester.ksock_id()
            shown = bg.stdout_line()
            expected = (
                f"<Request '{name}' id={req_id} from={requester.ksock_id()} "
                f"flags=0x3 REQ YOU data={text.decode()}>"
            )
            assert shown == expected
        rc, _, err = bg.finish()
        assert rc == 0, err


def test_python_requester_kmsg_echo_replier(ksock: KsockFactory) -> None:
    name = "$.LibkbusTest.Echo"
    with background(KMSG, "-q", "-c", "1", "-t", "40", "--echo", "reply", name) as bg:
        requester = ksock()
        for _ in range(200):
            if requester.find_replier(name):
                break
            select.select([], [], [], 0.05)
        payload = bytes(range(256))
        req_id = requester.send_msg(Request(name, payload))
        reply = requester.wait_for_msg(20)
        assert reply is not None and reply.in_reply_to == req_id
        assert reply.data == payload
        rc, out, err = bg.finish()
        assert rc == 0 and err == "", err
        assert out.count("\n") == 1 and out.endswith("...>\n"), out  # abbreviated


def test_kmsg_call_python_replier(ksock: KsockFactory) -> None:
    name = "$.LibkbusTest.Call"
    replier = ksock()
    replier.bind(name, replier=True)
    with background(KMSG, "--timeout", "30", "call", name, "what time is it") as bg:
        req = replier.wait_for_msg(20)
        assert req is not None and req.wants_us_to_reply()
        assert req.data == b"what time is it"
        replier.send_msg(reply_to(req, b"tea time"))
        rc, out, err = bg.finish()
    assert rc == 0, err
    assert out == (
        f"<Reply '{name}' id=[0:{replier.last_msg_id().serial_num}] "
        f"to={req.from_} from={replier.ksock_id()} in_reply_to={req.id} "
        "data=tea time>\n"
    )


def test_kmsg_call_status_and_timeout(ksock: KsockFactory) -> None:
    name = "$.LibkbusTest.Ignore"
    replier = ksock()
    replier.bind(name, replier=True)
    # the replier never answers: timeout
    proc = _run([KMSG, "--timeout", "0.5", "call", name])
    assert proc.returncode == 14, proc.stderr
    assert replier.read_next_msg() is not None  # the request did arrive
    # the replier goes away without answering: a status message, exit 15
    with background(KMSG, "--json", "--timeout", "30", "call", name) as bg:
        assert replier.wait_for_msg(20) is not None
        replier.close()
        rc, out, err = bg.finish()
    assert rc == 15, err
    status = json.loads(out)
    assert status["kind"] == "Status" and status["name"] == "$.KBUS.Replier.Ignored"


def test_kmsg_call_does_not_take_a_forged_status_for_kbus(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    """With kbus_compat_open=1 a replier may answer with a $.KBUS. name
    again, but the kernel clears SYNTHETIC on it: kmsg (libkbus's
    kbus_msg_is_status) shows an ordinary Reply and exits 0, not 15 as if
    the replier had gone away."""
    module_loader("kbus_compat_open=1")
    name = "$.LibkbusTest.Forge"
    replier = ksock()
    replier.bind(name, replier=True)
    with background(KMSG, "--json", "--timeout", "30", "call", name) as bg:
        req = replier.wait_for_msg(20)
        assert req is not None and req.wants_us_to_reply()
        replier.send_msg(
            Reply(
                "$.KBUS.Replier.GoneAway",
                in_reply_to=req.id,
                to=req.from_,
                flags=Message.SYNTHETIC,
            )
        )
        rc, out, err = bg.finish()
    assert rc == 0, err
    got = json.loads(out)
    assert got["kind"] == "Reply" and got["name"] == "$.KBUS.Replier.GoneAway", got
    assert "SYN" not in got["flag_names"], got


def test_kmsg_listen_does_not_take_a_forged_bind_event_for_kbus(
    module_loader: Callable[..., None], ksock: KsockFactory
) -> None:
    """Under kbus_compat_open=1 a client may announce $.KBUS.ReplierBindEvent
    with well-formed data, but without SYNTHETIC: kmsg shows an
    Announcement, with no decoded bind_event."""
    module_loader("kbus_compat_open=1")
    data = raw.bind_event_data(1, 99, b"$.LibkbusTest.Squat")
    with background(
        KMSG, "--json", "-c", "1", "-t", "40", "listen", "$.KBUS.ReplierBindEvent"
    ) as bg:
        bg.stderr_line()
        ksock().send_msg(
            Announcement("$.KBUS.ReplierBindEvent", data, flags=Message.SYNTHETIC)
        )
        obj = json.loads(bg.stdout_line())
        rc, _, err = bg.finish()
    assert rc == 0, err
    assert obj["kind"] == "Announcement" and "bind_event" not in obj, obj
    assert "SYN" not in obj["flag_names"], obj


def test_kmsg_all_or_wait_call_keeps_the_default_timeout(ksock: KsockFactory) -> None:
    """`kmsg -w call` without -t: a listener's full queue holds the send up,
    but for the 10 s call timeout at most, not for ever."""
    name = "$.LibkbusTest.FullListener"
    replier = ksock()
    replier.bind(name, replier=True)
    listener = ksock(0, "r")
    listener.bind(name)
    listener.set_max_messages(1)
    ksock().send_msg(Announcement(name, b"fills the queue"))
    started = time.monotonic()
    proc = _run([KMSG, "-w", "call", name], timeout=60)
    seconds = time.monotonic() - started
    assert proc.returncode == 14, (proc.returncode, proc.stderr)
    assert "timeout" in proc.stderr
    assert 9 < seconds < 50, seconds
    assert replier.read_next_msg() is None  # discarded: never sent


def test_kmsg_reports_output_errors(ksock: KsockFactory) -> None:
    """Standard output that cannot be written (here /dev/full) is an error."""
    listener = ksock(0, "r")
    listener.bind("$.LibkbusTest.Full")
    with open("/dev/full", "w") as full:
        proc = subprocess.run(
            [KMSG, "send", "$.LibkbusTest.Full", "x"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            check=False,
        )
    assert proc.returncode == 16, (proc.returncode, proc.stderr)
    assert "standard output" in proc.stderr
    assert listener.read_next_msg() is not None  # it was sent all the same


# --------------------------------------------------------------------------
# kmsg listen: a live stream, text and JSON


def test_kmsg_listen_shows_live_stream(ksock: KsockFactory) -> None:
    sender = ksock()
    sid = sender.ksock_id()
    with background(KMSG, "--count", "4", "--timeout", "40", "listen", "$.*") as bg:
        banner = bg.stderr_line()
        assert banner.startswith("kmsg: listening on /dev/kbus0 as Ksock "), banner
        assert banner.endswith("to '$.*'"), banner
        messages: list[Message] = [
            Announcement("$.LibkbusTest.Live.One", b"first"),
            Announcement("$.LibkbusTest.Live.Two"),
            Announcement("$.LibkbusTest.Live.Three", b"\x80\xffbin\n"),
            Announcement("$.LibkbusTest.Live.Four", b"x" * 30, flags=Message.URGENT),
        ]
        expected_data = [
            " data=first",
            "",
            r" data=\x80\xffbin\x0a",
            " flags=0x8 URG data=" + "x" * 20 + "...",
        ]
        for msg, data in zip(messages, expected_data, strict=True):
            mid = sender.send_msg(msg)
            # each line shows up before the next message is even sent
            line = bg.stdout_line()
            assert line == f"<Announcement '{msg.name}' id={mid} from={sid}{data}>"
        rc, out, err = bg.finish()
        assert rc == 0, err
        assert out == ""


def test_kmsg_json(ksock: KsockFactory) -> None:
    sender = ksock()
    with background(
        KMSG, "--json", "-c", "4", "-t", "40", "listen", "$.LibkbusTest.Json.%"
    ) as bg:
        bg.stderr_line()
        text = b'say "hi"\n\tnow\\'
        ids = [
            sender.send_msg(Announcement("$.LibkbusTest.Json.Text", text)),
            sender.send_msg(Announcement("$.LibkbusTest.Json.Bin", b"\x00\x01\xfe")),
            sender.send_msg(Announcement("$.LibkbusTest.Json.Empty", flags=0x10100)),
            sender.send_msg(Announcement("$.LibkbusTest.Json.Long", b"y" * 100)),
        ]
        lines = [bg.stdout_line() for _ in ids]
        rc, _, err = bg.finish()
    assert rc == 0, err
    objs = [json.loads(line) for line in lines]
    keys = {
        "kind",
        "name",
        "id",
        "in_reply_to",
        "to",
        "from",
        "orig_from",
        "final_to",
        "flags",
        "flag_names",
        "data_len",
        "data",
        "data_encoding",
    }
    for obj, mid in zip(objs, ids, strict=True):
        assert set(obj) == keys, obj
        assert obj["kind"] == "Announcement"
        assert obj["id"] == [mid.network_id, mid.serial_num]
        assert obj["in_reply_to"] is None and obj["orig_from"] is None
        assert obj["from"] == sender.ksock_id() and obj["to"] == 0
    texts, binary, empty, long = objs
    assert texts["name"] == "$.LibkbusTest.Json.Text"
    assert texts["data"] == text.decode() and texts["data_encoding"] == "text"
    assert binary["data"] == "0001fe" and binary["data_encoding"] == "hex"
    assert binary["data_len"] == 3
    assert empty["data"] is None and empty["data_encoding"] is None
    assert empty["flags"] == 0x10100 and empty["flag_names"] == ["aWT"]
    assert long["data"] == "y" * 100  # JSON is never abbreviated


def test_kmsg_json_bind_event(ksock: KsockFactory) -> None:
    switch = ksock(0, "r")
    switch.report_replier_binds(True)
    try:
        with background(
            KMSG, "--json", "-c", "1", "-t", "40", "listen", "$.KBUS.ReplierBindEvent"
        ) as bg:
            bg.stderr_line()
            replier = ksock()
            replier.bind("$.LibkbusTest.Bound", replier=True)
            obj = json.loads(bg.stdout_line())
            rc, _, err = bg.finish()
        assert rc == 0, err
    finally:
        switch.report_replier_binds(False)
    assert obj["kind"] == "ReplierBindEvent"
    assert obj["flag_names"] == ["SYN", "aFL"]
    assert obj["bind_event"] == {
        "is_bind": 1,
        "binder": replier.ksock_id(),
        "name": "$.LibkbusTest.Bound",
    }


# --------------------------------------------------------------------------
# kspeed


ANNOUNCE_RE = re.compile(
    r"^announce size=(\d+) listeners=(\d+) messages=(\d+) lost=(\d+) elapsed_s=[\d.]+ "
    r"msgs_per_s=([\d.]+) deliveries_per_s=([\d.]+) send_msgs_per_s=([\d.]+)$"
)
RTT_RE = re.compile(
    r"^rtt size=(\d+) requests=(\d+) p50_us=([\d.]+) p90_us=([\d.]+) p99_us=([\d.]+) "
    r"min_us=([\d.]+) max_us=([\d.]+) mean_us=([\d.]+) round_trips_per_s=([\d.]+)$"
)


def test_kspeed_prints_its_figures() -> None:
    args = shlex.split("-l 1,2 -s 16,1024 -n 200 -r 100 -W 10")
    proc = _run([KSPEED, *args], timeout=240)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    announce = [ANNOUNCE_RE.match(ln) for ln in lines if ln.startswith("announce")]
    rtt = [RTT_RE.match(ln) for ln in lines if ln.startswith("rtt")]
    assert len(announce) == 4 and all(announce), proc.stdout
    assert len(rtt) == 2 and all(rtt), proc.stdout
    combos = [(int(m.group(1)), int(m.group(2))) for m in announce if m]
    assert combos == [(16, 1), (16, 2), (1024, 1), (1024, 2)]
    for m in announce:
        assert m and int(m.group(3)) == 200 and int(m.group(4)) == 0  # nothing lost
        assert float(m.group(5)) > 0
    for m in rtt:
        assert m
        p50, p90, p99 = (float(m.group(i)) for i in (3, 4, 5))
        assert 0 < float(m.group(6)) <= p50 <= p90 <= p99 <= float(m.group(7))
    print(proc.stdout)


def test_kspeed_json_and_lossy() -> None:
    args = shlex.split("--json --lossy --queue 10 -n 300 -l 2 -r 50 announce rtt")
    proc = _run([KSPEED, *args], timeout=240)
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(ln) for ln in proc.stdout.strip().splitlines()]
    assert [o["test"] for o in objs] == ["announce", "rtt"]
    ann, rtt = objs
    assert ann["messages"] == 300 and ann["listeners"] == 2
    assert 0 <= ann["lost"] <= 600 and ann["msgs_per_s"] > 0
    assert rtt["requests"] == 50 and rtt["p50_us"] <= rtt["p99_us"]
    assert _run([KSPEED, "--size", "1000000"]).returncode == 1  # too big for the device
    assert _run([KSPEED, "bogus"]).returncode == 1
