# SPDX-License-Identifier: MIT
"""stb.aio_logger, the STB logger written on kbus.aio (the asyncio example),
run as ``python3 -m stb.aio_logger`` against the real bus: it logs every
message in bus order in stb-logger's format, answers $.STB.Logger.Counters
(after flushing the log), notes an overflow when its queue fills, and stops
cleanly on SIGTERM.  (The conformance suite's conftest has stopped the STB
services, so the names are free.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kbus import Announcement, Ksock, Request, reply_to
from stb import protocol
from stb.logger import LogLine, read_log

from kbus_util import KsockFactory

COUNTERS = protocol.LOGGER_COUNTERS


class AioLogger:
    def __init__(self, tmp: Path, max_messages: int) -> None:
        self.log = tmp / "bus.log"
        self.run_dir = tmp / "run"
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stb.aio_logger",
                "--log-file",
                str(self.log),
                "--run-dir",
                str(self.run_dir),
                "--max-messages",
                str(max_messages),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = self.run_dir / "aio-logger.ready"
        deadline = time.monotonic() + 120  # armhf under TCG, a loaded host
        while not ready.exists():
            assert self.proc.poll() is None, self.proc.communicate()[0]
            assert time.monotonic() < deadline, (
                "stb.aio_logger did not get ready in 120 s"
            )
            time.sleep(0.05)
        self.pid = self.proc.pid

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=120)
        return out


@pytest.fixture
def logger(tmp_path: Path) -> Iterator[AioLogger]:
    started = AioLogger(tmp_path, 20)
    yield started
    if started.proc.poll() is None:
        started.proc.kill()
        started.proc.wait()


def _counters(k: Ksock, tag: str) -> dict[str, str]:
    k.send_msg(Request(COUNTERS, protocol.encode({"tag": tag})))
    reply = k.wait_for_msg(60)
    assert reply is not None and reply.name == COUNTERS
    return protocol.decode(reply.data)


def _message_lines(path: Path) -> list[LogLine]:
    return [LogLine(line) for line in read_log(str(path)) if not line.startswith("#")]


def test_logs_in_bus_order_and_answers_counters(
    logger: AioLogger, ksock: KsockFactory
) -> None:
    a, b, asker = ksock(), ksock(), ksock()
    b.bind("$.AioLog.Ask", replier=True)
    a.send_msg(Announcement("$.AioLog.News", b"one"))
    req_id = a.send_msg(Request("$.AioLog.Ask", b"q"))
    req = b.wait_for_msg(60)
    assert req is not None
    b.send_msg(reply_to(req, b"a b%c"))
    counters = _counters(asker, "t1")
    assert counters["status"] == "ok" and counters["tag"] == "t1"
    # the counters request is logged (and counted) before it is answered
    assert (counters["announcements"], counters["requests"], counters["replies"]) == (
        "1",
        "2",
        "1",
    )
    assert counters["logged"] == "4" and counters["max_messages"] == "20"
    # (its own reply follows, once logged)
    lines = _message_lines(logger.log)[:4]
    assert [(x.kind, x.name, x.data) for x in lines] == [
        ("ANN", "$.AioLog.News", b"one"),
        ("REQ", "$.AioLog.Ask", b"q"),
        ("REP", "$.AioLog.Ask", b"a b%c"),
        ("REQ", COUNTERS, b"tag=t1"),
    ]
    assert lines[2].irt == protocol.format_id(req_id)
    assert [x.lineno for x in lines] == [1, 2, 3, 4]
    # a bad request gets an error reply
    asker.send_msg(Request(COUNTERS, b"nonsense"))
    bad = asker.wait_for_msg(60)
    assert bad is not None
    assert protocol.decode(bad.data)["status"] == "error"
    out = logger.stop()
    assert logger.proc.returncode == 0, out
    assert not (logger.run_dir / "aio-logger.ready").exists()
    notes = [x for x in read_log(str(logger.log)) if x.startswith("#")]
    assert notes[0].split()[2] == "start" and notes[-1].split()[2] == "stop"
    journal = (logger.run_dir / "journal").read_text()
    assert f"exit aio-logger pid={logger.pid} status=0" in journal


def test_notes_an_overflow(logger: AioLogger, ksock: KsockFactory) -> None:
    sender, asker = ksock(), ksock()
    os.kill(logger.pid, signal.SIGSTOP)
    try:
        for i in range(40):  # its queue holds 20
            sender.send_msg(Announcement("$.AioLog.Flood", b"%d" % i))
    finally:
        os.kill(logger.pid, signal.SIGCONT)
    deadline = time.monotonic() + 120
    while True:
        try:
            counters = _counters(asker, "after")
            break
        except OSError:  # EBUSY while the queue is still full
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert int(counters["overflows"]) == 1
    # the 20 dropped ids show as a gap before the next message logged
    # (missed if it comes while the queue is still full, else unseen)
    assert int(counters["missed"]) + int(counters["unseen"]) >= 20
    assert int(counters["queue_peak"]) == 20
    notes = [x for x in read_log(str(logger.log)) if x.startswith("#")]
    assert any("overflow: queue full (20 of 20)" in x for x in notes), notes
    logger.stop()
    assert logger.proc.returncode == 0
