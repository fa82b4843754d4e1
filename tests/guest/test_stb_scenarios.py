# SPDX-License-Identifier: MIT
"""STB scenarios (issue 6): the decoder, recorder and logger services of
package/stb-services, started by overlay/etc/init.d/S60stb-services under
stb-supervisor, driven like the remote control would (stb.client, stb-ctl).

The conformance suite's conftest stops the services at session start (it
needs the bus to itself), so:

* boot start is checked from the record the init script, the supervisor and
  the services keep in /run/stb/journal (uptime stamps): they were started and
  ready before init started the console shell these tests run under;
* a module fixture starts the services for the other tests and stops them at
  the end (then no Ksock may be left on /dev/kbus0).
"""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from types import FrameType

import pytest
from kbus import MessageId
from stb import protocol
from stb.client import (
    BURST_PATTERN,
    Client,
    RecorderSession,
    ReplierReplaced,
    RequestFailed,
    Response,
    burst,
    burst_commands,
)
from stb.logger import LogLine, read_log
from stb.protocol import DECODER, RECORDER, CommandJournal

import kbus_util as util
import stb_util

INIT = stb_util.INIT
RUN_DIR = stb_util.RUN_DIR
BUS_LOG = "/var/log/stb/bus.log"
SERVICES = stb_util.SERVICES
TEST_TIMEOUT = 900  # seconds per test (the 10,000-command burst on armhf TCG)
BURST_COUNT = 10000
LOGGER_QUEUE = (
    2000  # STB_LOGGER_ARGS --max-messages in overlay/etc/default/stb-services
)


class ScenarioTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise ScenarioTimeout("scenario took too long: watchdog fired")


@pytest.fixture(autouse=True)
def _kbus_guard() -> Iterator[None]:
    """Replaces the conformance suite's per-test guard: the services hold
    Ksocks on device 0 during these tests (the module fixture checks that
    none is left once they are stopped), and a longer watchdog."""
    old = signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------
# helpers


def sh(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )


def uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


ready = stb_util.ready


def wait_respawned(name: str, old_pid: int, timeout: float = 120.0) -> dict[str, int]:
    """Wait until the supervisor has restarted ``name`` and it is ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = ready(name)
            if info["pid"] != old_pid and os.path.exists(f"/proc/{info['pid']}"):
                return info
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"{name} was not restarted within {timeout:g} s")


def journal() -> list[tuple[float, str]]:
    out = []
    with open(f"{RUN_DIR}/journal") as f:
        for line in f:
            stamp, _, text = line.strip().partition(" ")
            out.append((float(stamp), text))
    return out


def process_start(pid: int) -> float:
    """When a process started, in seconds since boot."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[19]) / os.sysconf("SC_CLK_TCK")


def parent_pid(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def console_shell() -> int:
    """The shell init started on the console (our ancestor whose parent is 1)."""
    pid = os.getpid()
    while parent_pid(pid) != 1:
        pid = parent_pid(pid)
    return pid


def wait_state(pid: int, state: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while util.process_state(pid) != state:
        assert time.monotonic() < deadline, f"process {pid} never got to state {state}"
        time.sleep(0.02)


def queue_length(ksock_id: int) -> int:
    line = util.ksock_stats_lines(ksock_id)[0]
    m = re.search(r"queue (\d+) of (\d+)", line)
    assert m, line
    return int(m.group(1))


def _wait_logger_caught_up(ksock_id: int, timeout: float = 300.0) -> None:
    """Until the logger's queue is empty (it popped everything itself, so
    it has seen it empty: its overflow episode, if any, is over)."""
    deadline = time.monotonic() + timeout
    while queue_length(ksock_id) != 0:
        assert time.monotonic() < deadline, "the logger did not catch up"
        time.sleep(0.1)
    time.sleep(0.5)  # from its last pop to its empty-queue check


def counters(client: Client, timeout: float = 120.0) -> dict[str, str]:
    """The logger's counters.  Its reply comes after it has logged (and
    flushed) everything sent before the request.  A logger whose queue is full
    refuses the request (EBUSY): try again until it has caught up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            response = client.logger_counters(timeout=timeout)
            assert response.ok, response.text()
            return response.fields
        except RequestFailed as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def log_lines() -> list[LogLine]:
    return [LogLine(t) for t in read_log(BUS_LOG) if t and not t.startswith("#")]


def notes() -> list[str]:
    return [t for t in read_log(BUS_LOG) if t.startswith("#")]


def serial(mid: MessageId | None) -> int:
    assert mid is not None
    return int(mid.serial_num)


def status_pair(client: Client) -> tuple[Response, Response]:
    """Decoder Status then recorder Status (the recorder answers after it has
    observed every decoder request sent before, the Status included)."""
    dec = client.decoder("Status")
    rec = client.recorder("Status")
    assert dec.ok and rec.ok, (dec.text(), rec.text())
    return dec, rec


# --------------------------------------------------------------------------
# boot (runs first: before this module starts the services itself)


def test_services_were_started_at_boot_and_ready_before_the_console_shell() -> None:
    shell_started = process_start(console_shell())
    # Both clocks tick in 1/100 s (/proc/uptime, USER_HZ start times): the
    # shell can start within the same tick as "init ready" is written.
    boot = [(t, text) for t, text in journal() if t <= shell_started]
    texts = [text for _, text in boot]
    assert any(t.startswith("init start ") for t in texts), boot
    assert "init ready" in texts, f"the services were not ready during boot: {boot}"
    for name in SERVICES:
        assert any(t.startswith(f"spawn {name} ") for t in texts), boot
        assert any(t.startswith(f"ready {name} ") for t in texts), boot
    # started in order: logger, decoder, recorder
    order = [t.split()[1] for t in texts if t.startswith("ready ")]
    assert order[:3] == list(SERVICES)


@pytest.fixture(scope="module")
def services() -> Iterator[None]:
    with stb_util.services_under_policy():
        yield


# --------------------------------------------------------------------------
# robustness


BAD_REQUESTS = [
    (DECODER + "Tune", b"channel=abc", "bad-argument"),
    (DECODER + "Tune", b"channel=0", "bad-argument"),
    (DECODER + "Tune", b"", "missing-argument"),
    (DECODER + "Tune", b"channel=5 channel=6", "bad-payload"),
    (DECODER + "Tune", b"\xff\xfe", "bad-payload"),
    (DECODER + "Play", b"volume=11", "bad-argument"),
    (DECODER + "Status", b"journal=keep", "bad-argument"),
    (DECODER + "Pause", b"no equals sign", "bad-payload"),
    (RECORDER + "Stop", b"rec=%ZZ", "bad-payload"),
    (RECORDER + "Stop", b"rec=424242", "no-such-recording"),
    (RECORDER + "Start", b"channel=10000", "bad-argument"),
    (RECORDER + "List", b"x" * 2000, "bad-payload"),
    (protocol.LOGGER_COUNTERS, b"\x00", "bad-payload"),
]


def test_bad_payloads_get_error_replies_and_the_services_keep_running(
    services: None,
) -> None:
    pids = {name: ready(name)["pid"] for name in SERVICES}
    with Client() as client:
        assert client.decoder("Stop").ok
        assert client.decoder("Pause").fields["error"] == "bad-state"
        for name, data, code in BAD_REQUESTS:
            response = client.request(name, data=data)
            assert not response.is_status, response.text()
            assert response.fields.get("status") == "error", (
                name,
                data,
                response.text(),
            )
            assert response.fields.get("error") == code, (name, data, response.text())
        assert client.decoder("Tune", channel=3).ok
        assert client.recorder("List").ok
    assert {name: ready(name)["pid"] for name in SERVICES} == pids


# --------------------------------------------------------------------------
# ordering: several concurrent senders

SENDERS = 4
COMMANDS_PER_SENDER = 60


def _sender(seed: int) -> object:
    def target(conn: util.ChildConn) -> object:
        rng = random.Random(seed)
        conn.recv()  # go
        sent = []
        with Client() as client:
            for i in range(COMMANDS_PER_SENDER):
                command = rng.choice(["Tune", "Play", "Pause", "Stop", "Status"])
                fields: dict[str, protocol.Value] = {"tag": f"s{seed}.{i}"}
                if command == "Tune":
                    fields["channel"] = rng.randint(1, 20)
                mid = client.send(DECODER + command, fields)
                response = client.wait(mid, timeout=120)
                assert not response.is_status, response.text()
                assert response.fields.get("tag") == fields["tag"]
                reply_id = response.message.id
                sent.append((serial(mid), serial(reply_id), response.fields["status"]))
        return sent

    return target


@pytest.fixture(scope="module")
def concurrent_run(services: None) -> dict[str, object]:
    """SENDERS processes send random decoder commands at the same time."""
    with Client() as client:
        reset = client.decoder("Status", journal="reset")
        assert reset.ok
        before = counters(client)
        children = [
            util.Child(_sender(seed), timeout=TEST_TIMEOUT) for seed in range(SENDERS)
        ]
        try:
            for child in children:
                child.send("go")
            results = [child.result(timeout=TEST_TIMEOUT) for child in children]
        finally:
            for child in children:
                child.close()
        dec, rec = status_pair(client)
        after = counters(client)
    return {
        "reset": reset,
        "results": results,
        "decoder": dec,
        "recorder": rec,
        "before": before,
        "after": after,
    }


def test_decoder_and_recorder_observe_identical_command_sequences(
    concurrent_run: dict[str, object],
) -> None:
    dec = concurrent_run["decoder"]
    rec = concurrent_run["recorder"]
    assert isinstance(dec, Response) and isinstance(rec, Response)
    total = SENDERS * COMMANDS_PER_SENDER
    # the reset Status, the senders' commands, the final Status
    assert int(dec.fields["commands"]) == total + 2
    assert rec.fields["commands"] == dec.fields["commands"]
    assert rec.fields["digest"] == dec.fields["digest"]
    # the recorder's copy of the decoder state machine agrees with the decoder
    for key in ("state", "channel", "seq"):
        assert rec.fields.get(key) == dec.fields.get(key), key
    assert rec.fields["overflows"] == "0"


def test_logger_file_is_in_bus_order_and_pairs_every_request_with_its_reply(
    concurrent_run: dict[str, object],
) -> None:
    before, after = concurrent_run["before"], concurrent_run["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["missed"] == before["missed"], "the logger overflowed"
    reset = concurrent_run["reset"]
    dec = concurrent_run["decoder"]
    assert isinstance(reset, Response) and isinstance(dec, Response)
    first = serial(reset.request_id)
    last = serial(dec.message.id)
    window = [
        line for line in log_lines() if line.id != "-" and first <= line.serial <= last
    ]
    serials = [line.serial for line in window]
    assert serials == sorted(set(serials)), "log lines out of bus order (or repeated)"
    by_serial = {line.serial: line for line in window}
    # every request and reply of the senders is there, with its kind
    results = concurrent_run["results"]
    assert isinstance(results, list)
    for sent in results:
        for req, rep, _status in sent:
            assert by_serial[req].kind == "REQ"
            assert by_serial[req].name.startswith(DECODER)
            assert by_serial[rep].kind == "REP"
            assert by_serial[rep].irt == f"0:{req}"
    # every request has exactly one reply, after it
    replies: dict[str, list[int]] = {}
    for line in window:
        if line.kind in ("REP", "STS"):
            replies.setdefault(line.irt, []).append(line.serial)
    for line in window:
        if line.kind == "REQ":
            got = replies.get(line.id, [])
            assert len(got) == 1 and got[0] > line.serial, (line.id, got)
    # replaying the decoder requests in log order gives the decoder's journal
    replay = CommandJournal()
    for line in window:
        if line.kind == "REQ" and line.name.startswith(DECODER):
            if line.serial == first:
                replay.reset()
            replay.add(MessageId(0, line.serial), line.name, line.data or None)
    assert replay.count == int(dec.fields["commands"])
    assert replay.digest == dec.fields["digest"]


# --------------------------------------------------------------------------
# volume


def test_a_burst_of_10000_commands_loses_nothing_for_the_repliers(
    services: None,
) -> None:
    with Client() as client:
        dec0, _ = status_pair(client)
        assert client.decoder("Status", journal="reset").ok
        t0 = time.monotonic()
        res = sh(
            "stb-ctl",
            "burst",
            "--count",
            str(BURST_COUNT),
            "--window",
            "32",
            timeout=900,
        )
        seconds = time.monotonic() - t0
        print(f"stb-ctl burst: {res.stdout.strip()} ({seconds:.1f} s)")
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"sent={BURST_COUNT} ok={BURST_COUNT} errors=0 statuses=0" in res.stdout
        dec, rec = status_pair(client)
    # the reset Status, the burst, the final Status: nothing missing anywhere
    assert int(dec.fields["commands"]) == BURST_COUNT + 2
    assert int(dec.fields["seq"]) - int(dec0.fields["seq"]) == BURST_COUNT
    assert rec.fields["commands"] == dec.fields["commands"]
    assert rec.fields["digest"] == dec.fields["digest"]
    assert rec.fields["seq"] == dec.fields["seq"]
    assert rec.fields["overflows"] == "0"
    assert len(BURST_PATTERN) == 4  # Tune, Pause, Play, Stop: each one a change


def test_a_slow_logger_overflows_visibly_and_never_blocks_the_decoder(
    services: None,
) -> None:
    logger = ready("logger")
    count = LOGGER_QUEUE // 2  # 3 messages each (request, reply, event)
    sent = 3 * count + 2  # and the Status request and its reply
    # An episode ends when the logger has emptied its queue: on a slow board
    # it may still be catching up with the previous test's burst, and this
    # overflow would then count in that episode.
    _wait_logger_caught_up(logger["ksock"])
    with Client(max_messages=100) as client:
        before = counters(client)
        _wait_logger_caught_up(logger["ksock"])
        os.kill(logger["pid"], signal.SIGSTOP)  # the slowest logger there is
        try:
            wait_state(logger["pid"], "T")
            result = burst(client, burst_commands(count), window=32, timeout=120)
            assert result.ok == count, result.text()
            # the decoder announces before replying; a Status request also makes
            # sure its last event is out before the logger runs again
            assert client.decoder("Status").ok
            assert queue_length(logger["ksock"]) == LOGGER_QUEUE
        finally:
            os.kill(logger["pid"], signal.SIGCONT)
        after = counters(client)
    assert int(after["overflows"]) == int(before["overflows"]) + 1
    missed = int(after["missed"]) - int(before["missed"])
    assert missed >= sent - LOGGER_QUEUE, (before, after)
    assert any("overflow: queue full" in n for n in notes())
    assert any(re.search(r"missed \d+ ids before", n) for n in notes())
    assert ready("logger")["pid"] == logger["pid"]


# --------------------------------------------------------------------------
# failures


def test_killed_decoder_gives_goneaway_which_is_logged_and_init_restarts_it(
    services: None,
) -> None:
    decoder = ready("decoder")
    # Stop the decoder while it waits, so that the request stays unread in its
    # queue: killing it then gives GoneAway (never Ignored).
    os.kill(decoder["pid"], signal.SIGSTOP)
    try:
        wait_state(decoder["pid"], "T")
        ctl = subprocess.Popen(
            ["stb-ctl", "--timeout", "120", "tune", "42"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while queue_length(decoder["ksock"]) == 0:
            assert ctl.poll() is None, ctl.communicate()
            assert time.monotonic() < deadline, "the request never reached the decoder"
            time.sleep(0.05)
    finally:
        os.kill(decoder["pid"], signal.SIGKILL)
    output, _ = ctl.communicate(timeout=120)
    assert ctl.returncode == 3, output
    m = re.match(
        r"\$\.KBUS\.Replier\.GoneAway in_reply_to=(0:\d+) from=(\d+)$", output.strip()
    )
    assert m, output
    request = m.group(1)
    assert int(m.group(2)) == decoder["ksock"]

    new = wait_respawned("decoder", decoder["pid"])
    assert new["ksock"] != decoder["ksock"]
    deaths = [
        t for _, t in journal() if t.startswith(f"died decoder pid={decoder['pid']} ")
    ]
    assert deaths and "signal=9" in deaths[0]
    with Client() as client:
        status = client.decoder("Status")
        assert status.ok and status.fields["state"] == "stopped"  # a new instance
        assert status.message.from_ == new["ksock"]
        assert client.decoder("Tune", channel=42).ok
        counters(client)  # the log is written up to here
    lines = log_lines()
    tunes = [line for line in lines if line.id == request]
    assert tunes and tunes[0].kind == "REQ" and tunes[0].name == DECODER + "Tune"
    relayed = [
        protocol.decode(line.data)
        for line in lines
        if line.name == protocol.CLIENT_STATUS and line.serial > tunes[0].serial
    ]
    assert {
        "status": "$.KBUS.Replier.GoneAway",
        "request": request,
        "request_name": DECODER + "Tune",
        "replier": str(decoder["ksock"]),
    } in relayed
    started = [
        line
        for line in lines
        if line.name == DECODER + "Event.Started" and line.from_ == new["ksock"]
    ]
    assert started


def test_recorder_follows_what_the_decoder_did_not_what_it_was_asked(
    services: None,
) -> None:
    """A Tune the decoder never carries out (stopped, then killed with it
    queued) changes nothing in the recorder: it follows the decoder's events,
    not its listener copies of the requests."""
    with Client() as client:
        assert client.decoder("Tune", channel=5).ok
        before = client.recorder("Status").fields
        assert (before["state"], before["channel"]) == ("playing", "5"), before
        decoder = ready("decoder")
        os.kill(decoder["pid"], signal.SIGSTOP)
        try:
            wait_state(decoder["pid"], "T")
            tune = client.send(DECODER + "Tune", {"channel": 77})
            # the recorder has its copy of the Tune (bus order) but no event
            rec = client.recorder("Status").fields
            assert (rec["state"], rec["channel"], rec["seq"]) == (
                "playing",
                "5",
                before["seq"],
            ), rec
            follow = client.recorder("Start")
            assert follow.ok and follow.fields["channel"] == "5", follow.text()
        finally:
            os.kill(decoder["pid"], signal.SIGKILL)  # the Tune is abandoned
        gone = client.wait(tune, timeout=120)
        assert gone.is_status, gone.text()
        wait_respawned("decoder", decoder["pid"])
        rec = client.recorder("Status").fields
        assert rec["state"] == "stopped" and "channel" not in rec, rec
        assert int(rec["decoder_starts"]) == int(before["decoder_starts"]) + 1
        stopped = client.recorder("Stop", rec=follow.fields["rec"])
        assert stopped.fields["channel"] == "5", stopped.text()


SMALL_QUEUE = 20  # the stand-alone recorder's queue below


def _start_service(name: str, run_dir: str, *args: str) -> subprocess.Popen[bytes]:
    """stb-NAME as its own user (as S60stb-services starts it: the policy
    lets only that user own the service's names); ``run_dir`` must be one
    that user can write (see _run_dir)."""
    user = stb_util.SERVICE_USERS[name]
    log = open(f"{run_dir}/{name}.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [f"stb-{name}", "--run-dir", run_dir, *args],
        stdout=log,
        stderr=log,
        user=user,
        group=stb_util.gid(user),
        extra_groups=stb_util.user_groups(user),
    )
    log.close()
    try:
        deadline = time.monotonic() + 120
        while not os.path.exists(f"{run_dir}/{name}.ready"):
            assert proc.poll() is None, f"stb-{name} exited {proc.returncode}"
            assert time.monotonic() < deadline, f"stb-{name} was not ready in 120 s"
            time.sleep(0.05)
    except BaseException:
        proc.kill()  # it must not keep the service's names from the next one
        proc.wait(timeout=60)
        raise
    return proc


@pytest.fixture
def service_run_dir() -> Iterator[str]:
    """A run directory the services' users can reach and write (pytest's
    tmp_path is under a root-only folder)."""
    path = tempfile.mkdtemp(prefix="stb-run-")
    os.chmod(path, 0o1777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_recorder_catches_up_with_status_after_its_queue_overflowed(
    services: None, service_run_dir: str
) -> None:
    """A recorder whose queue (20 messages here) overflows loses some of the
    decoder's events: it notices (the full queue, the jump in seq), asks the
    decoder Status and ends in step with it."""
    run_dir = service_run_dir
    res = sh(INIT, "stop")  # a decoder and a recorder of our own
    assert res.returncode == 0, res.stdout + res.stderr
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_start_service("decoder", run_dir))
        recorder = _start_service(
            "recorder", run_dir, "--max-messages", str(SMALL_QUEUE)
        )
        procs.append(recorder)
        with Client(max_messages=100) as client:
            assert client.decoder("Tune", channel=3).ok
            _, rec = status_pair(client)
            assert rec.fields["channel"] == "3", rec.text()
            os.kill(recorder.pid, signal.SIGSTOP)
            try:
                wait_state(recorder.pid, "T")
                # each command: a request, an event and a reply for its queue
                result = burst(client, burst_commands(2 * SMALL_QUEUE), window=4)
                assert result.ok == 2 * SMALL_QUEUE, result.text()
            finally:
                os.kill(recorder.pid, signal.SIGCONT)
            dec = client.decoder("Status").fields
            deadline = time.monotonic() + 120
            while True:
                try:
                    rec = client.recorder("Status")
                except RequestFailed as exc:  # its queue is still full
                    assert exc.errno == errno.EBUSY, exc
                    time.sleep(0.1)
                    continue
                view = [rec.fields.get(k) for k in ("state", "channel", "seq")]
                if view == [dec.get(k) for k in ("state", "channel", "seq")]:
                    break
                assert time.monotonic() < deadline, (dec, rec.fields)
                time.sleep(0.2)
        assert int(rec.fields["overflows"]) >= 1, rec.text()
        assert int(rec.fields["resyncs"]) >= 1, rec.text()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        res = sh(INIT, "start")  # as the module fixture had them
        assert res.returncode == 0, res.stdout + res.stderr


def test_stateful_recording_session_detects_a_replaced_recorder_with_epipe(
    services: None,
) -> None:
    recorder = ready("recorder")
    with Client() as client:
        session = RecorderSession(client)
        started = session.start(channel=7)
        assert started.ok, started.text()
        assert session.replier == recorder["ksock"]
        assert session.list_recordings().ok  # stateful requests reach it
        os.kill(recorder["pid"], signal.SIGTERM)  # exits cleanly: respawned
        new = wait_respawned("recorder", recorder["pid"])
        assert new["ksock"] != recorder["ksock"]
        with pytest.raises(ReplierReplaced) as info:
            session.stop()
        assert info.value.errno == errno.EPIPE
        # a new session reaches the new instance (which knows no recording 1)
        fresh = RecorderSession(client)
        assert fresh.list_recordings().fields["count"] == "0"
        assert fresh.replier == new["ksock"]
    deaths = [
        t for _, t in journal() if t.startswith(f"died recorder pid={recorder['pid']} ")
    ]
    assert deaths and "status=0" in deaths[0]


def test_stb_ctl_session_reports_epipe_for_a_replaced_recorder(services: None) -> None:
    recorder = ready("recorder")
    ctl = subprocess.Popen(
        ["stb-ctl", "--timeout", "120", "session"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert ctl.stdin is not None and ctl.stdout is not None
    ctl.stdin.write("start channel=9\n")
    ctl.stdin.flush()
    line = ctl.stdout.readline()
    assert line.startswith("$.STB.Recorder.Start status=ok rec="), line
    os.kill(recorder["pid"], signal.SIGKILL)
    wait_respawned("recorder", recorder["pid"])
    ctl.stdin.write("stop\n")
    ctl.stdin.flush()
    output, _ = ctl.communicate(timeout=120)
    assert output.startswith("error: EPIPE"), output
    assert ctl.returncode == 3


# --------------------------------------------------------------------------
# stop


def test_stop_ends_every_service_cleanly_and_stops_respawning(services: None) -> None:
    pids = {name: ready(name)["pid"] for name in SERVICES}
    res = sh(INIT, "stop")
    assert res.returncode == 0, res.stdout + res.stderr
    assert util.ksock_ids_in_stats(0) == []
    texts = [t for _, t in journal()]
    for name, pid in pids.items():
        assert f"exit {name} pid={pid} status=0" in texts
        assert any(t.startswith(f"died {name} pid={pid} status=0 ") for t in texts)
        assert not os.path.exists(f"{RUN_DIR}/{name}.ready")
    time.sleep(2)  # nothing comes back
    assert util.ksock_ids_in_stats(0) == []
    assert sh(INIT, "status").returncode == 3
    res = sh(INIT, "start")  # as the module fixture left them
    assert res.returncode == 0, res.stdout + res.stderr
