# SPDX-License-Identifier: MIT
"""Allocation failures inside KBUS (failslab fault injection).

Runs where the kernel has failslab with its debugfs knobs and the per-task
fault injection files (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS:
the KASAN debug kernels of `make test-debug-kasan` and `make
test-debug-armhf`); skipped with the reason elsewhere (Debian's kernel has
no fault injection, nor has the KCSAN debug kernel).

Method: failslab is set to fail GFP_KERNEL allocations too (ignore-gfp-wait
off; __GFP_NOFAIL ones never fail), to leave kmemleak's own allocations
alone (cache-filter: the debug kernel marks every other slab cache at
boot) and to stay quiet
(verbose 0); then writing N to /proc/thread-self/fail-nth makes the N-th
slab allocation of this thread from then on fail, whoever makes it.  Each
test sweeps N = 1, 2, ... over one operation (one system call, or the write
and SEND of one message) until N is past the last allocation the operation
makes (the fault is no longer injected): every allocation on the way,
KBUS's own and the VFS's or driver core's, fails once.  After each injected
failure the test checks that the caller got ENOMEM and that nothing
half-done stayed behind (no binding, no queued copy, no event, nothing
owed, no device), or, where the operation coped (the kernel lets some
allocations fail quietly, e.g. a uevent's), that all of it happened.  Every
request that was sent gets exactly one reply, the bus still works, and at
the end of each test nothing is left on device 0 and it still grants its
whole byte budget (no bytes left charged).  The last test has kmemleak look
for leaks.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import kbus_raw as raw
import kbus_util as util

DEBUGFS = "/sys/kernel/debug"
FAILSLAB = f"{DEBUGFS}/failslab"
KMEMLEAK = f"{DEBUGFS}/kmemleak"
FAIL_NTH = "/proc/thread-self/fail-nth"
SLAB_SYSFS = "/sys/kernel/slab"
SWEEP_LIMIT = 400  # far more allocations than any single KBUS operation makes
DEVICE_BYTES = 200_000  # kbus_max_device_bytes for these tests
KSOCK = "/dev/kbus0"
KMEMLEAK_TIMEOUT = 300  # seconds for the kmemleak test (the guard's watchdog is 60)


def _mount_debugfs() -> None:
    if os.path.isdir(DEBUGFS) and not os.path.ismount(DEBUGFS):
        util.run("mount", "-t", "debugfs", "debugfs", DEBUGFS)


_mount_debugfs()
pytestmark = pytest.mark.skipif(
    not (os.path.isdir(FAILSLAB) and os.path.exists(FAIL_NTH)),
    reason="kernel without failslab fault injection (CONFIG_FAILSLAB, "
    "CONFIG_FAULT_INJECTION_DEBUG_FS): these tests run on the KASAN debug kernels, "
    "make test-debug-kasan",
)


class FailNth:
    """The calling thread's /proc/thread-self/fail-nth."""

    def __init__(self) -> None:
        self.fd = os.open(FAIL_NTH, os.O_RDWR)

    def arm(self, nth: int) -> None:
        os.write(self.fd, str(nth).encode())

    def disarm(self) -> bool:
        """Stop injecting; True if the armed fault was injected."""
        left = int(os.pread(self.fd, 32, 0))  # the file does not seek
        if left:
            os.write(self.fd, b"0")
        return left == 0

    def close(self) -> None:
        os.close(self.fd)


@dataclass
class Outcome:
    """What one injected failure did to the operation."""

    nth: int
    error: OSError | None  # None: the operation coped and succeeded
    result: Any = None


def _set(knob: str, value: str) -> str:
    path = f"{FAILSLAB}/{knob}"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(value)
    return old


def _marked(cache: str) -> bool:
    with open(f"{SLAB_SYSFS}/{cache}/failslab") as f:
        return f.read().strip() == "1"


def _check_cache_marks() -> None:
    """Every slab cache but kmemleak's own is marked for the cache filter
    (slub_debug=A, from the debug kernel's built-in command line; Linux 6.1
    lets them be set at boot only): kmemleak's metadata allocations, one
    per allocation and with a fallback pool, neither fail nor count."""
    if not (_marked("kmalloc-64") and _marked("kbus_qentry")):
        pytest.skip("slab caches not marked for failslab (boot with slub_debug=A)")
    if os.path.exists(KMEMLEAK):
        assert not _marked("kmemleak_object"), "kmemleak's allocations would count"


@pytest.fixture(scope="module", autouse=True)
def _kmemleak_baseline() -> None:
    """Forget the leaks kmemleak found before these tests (see the last one)."""
    if os.path.exists(KMEMLEAK):
        for command in ("scan", "clear"):
            with open(KMEMLEAK, "w") as f:
                f.write(command)


@pytest.fixture
def fail_nth(module_loader: Callable[..., None]) -> Iterator[FailNth]:
    """failslab ready for fail-nth, on a freshly loaded kbus with a small
    device byte bound (so that bytes left charged would show)."""
    module_loader(f"kbus_max_device_bytes={DEVICE_BYTES}")
    _check_cache_marks()
    knobs = (("ignore-gfp-wait", "N"), ("verbose", "0"), ("cache-filter", "Y"))
    saved = {knob: _set(knob, value) for knob, value in knobs}
    fail = FailNth()
    try:
        yield fail
        # before module_loader reloads kbus: nothing may be left behind
        assert util.ksock_ids_in_stats(0) == []
        assert util.binding_lines(0) == []
        assert util.dev_stats(0).unsent_unbindings == 0
        _assert_full_byte_budget()
    finally:
        fail.disarm()
        fail.close()
        for knob, value in saved.items():
            _set(knob, value)


def sweep(
    fail: FailNth,
    operation: Callable[[], Any],
    after: Callable[[Outcome], None],
) -> tuple[list[Outcome], Any]:
    """Run `operation` with its 1st, 2nd, ... allocation failing, calling
    `after` with each outcome, until no fault is injected any more; return
    the outcomes and the result of that last, undisturbed run."""
    outcomes: list[Outcome] = []
    for nth in range(1, SWEEP_LIMIT + 1):
        fail.arm(nth)
        try:
            result = operation()
            error = None
        except OSError as err:
            result, error = None, err
        finally:
            injected = fail.disarm()
        if not injected:
            assert error is None, f"failed with no fault injected: {error}"
            return outcomes, result
        outcome = Outcome(nth, error, result)
        outcomes.append(outcome)
        after(outcome)
    pytest.fail(f"the operation still allocates after {SWEEP_LIMIT} allocations")


def _assert_enomem(outcomes: list[Outcome]) -> None:
    """Every failure the caller saw is ENOMEM, and some were seen."""
    failed = [o for o in outcomes if o.error is not None]
    assert failed, "no injected failure reached the caller"
    wrong = [(o.nth, o.error) for o in failed if o.error.errno != errno.ENOMEM]
    assert not wrong, f"errors other than ENOMEM: {wrong}"


def _open(path: str = KSOCK) -> int:
    return os.open(path, os.O_RDWR)


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        os.close(fd)


def _send_reply(fd: int, request: raw.ParsedMessage, data: bytes) -> tuple[int, int]:
    header = raw.Header(in_reply_to=request.header.id, to=request.header.from_)
    raw.write_all(fd, raw.entire_message(request.name, data, header))
    return raw.send(fd)


def _bound(name: bytes) -> list[str]:
    """The device 0 bindings to exactly `name`."""
    return [
        line for line in util.binding_lines(0) if line.endswith(" " + name.decode())
    ]


def _drain(fd: int) -> list[raw.ParsedMessage]:
    out = []
    while (msg := raw.next_raw(fd)) is not None:
        out.append(msg)
    return out


def _assert_bus_works(path: str = KSOCK) -> None:
    """A listener gets an announcement; a request gets its reply."""
    a, b = _open(path), _open(path)
    try:
        raw.bind(a, b"$.Fail.Check")
        raw.bind(b, b"$.Fail.Check.Req", replier=True)
        raw.send_entire(b, b"$.Fail.Check", b"ping")
        msg = raw.next_raw(a)
        assert msg is not None and msg.data == b"ping"
        req_id = raw.send_entire(a, b"$.Fail.Check.Req", b"?", flags=raw.WANT_A_REPLY)
        req = raw.next_raw(b)
        assert req is not None and req.header.id == req_id
        _send_reply(b, req, b"!")
        reply = raw.next_raw(a)
        assert reply is not None and reply.header.in_reply_to == req_id
        assert reply.data == b"!"
    finally:
        _close_all([a, b])


def _assert_full_byte_budget() -> None:
    """No bytes stay charged: the device holds none, and one user gets its
    whole share of the bound (a user alone may take half of it,
    kbus_acct.c), which a single byte left charged would make it refuse."""
    assert util.device_bytes_held(0) == (0, 0)
    fd = _open()
    try:
        name = b"$.Fail.Budget"
        data_len = DEVICE_BYTES // 2 - raw.entire_len(len(name), 0)
        assert raw.entire_len(len(name), data_len) == DEVICE_BYTES // 2
        header = raw.Header(name_len=len(name), data_len=data_len).pack()
        os.write(fd, header)  # ENOMEM if bytes stayed charged
        raw.discard(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------


def test_open_fails_with_enomem_and_leaves_no_ksock(fail_nth: FailNth) -> None:
    def after(outcome: Outcome) -> None:
        if outcome.error is None:
            os.close(outcome.result)
        assert util.ksock_ids_in_stats(0) == [], f"at allocation {outcome.nth}"

    outcomes, fd = sweep(fail_nth, _open, after)
    os.close(fd)
    _assert_enomem(outcomes)
    _assert_bus_works()


@pytest.mark.parametrize("replier", [False, True], ids=["listener", "replier"])
def test_bind_fails_with_enomem_and_binds_nothing(
    fail_nth: FailNth, replier: bool
) -> None:
    """A replier binding also makes a bind event for a listener of them."""
    binder, watcher = _open(), _open()
    name = b"$.Fail.Bind"
    events = 1 if replier else 0
    try:
        raw.bind(watcher, raw.NAME_BIND_EVENT.encode())
        raw.u32_ioctl(watcher, "REPORTREPLIERBINDS", 1)

        def after(outcome: Outcome) -> None:
            if outcome.error is not None:
                assert not _bound(name), (
                    f"binding left after a failed bind ({outcome.nth})"
                )
                assert raw.nummsgs(watcher) == 0, "a bind event for a failed bind"
                return
            # it coped: all of it happened; undo it for the next round
            assert len(_bound(name)) == 1, f"allocation {outcome.nth}"
            assert len(_drain(watcher)) == events, f"allocation {outcome.nth}"
            raw.unbind(binder, name, replier=replier)
            _drain(watcher)

        outcomes, _ = sweep(
            fail_nth, lambda: raw.bind(binder, name, replier=replier), after
        )
        _assert_enomem(outcomes)
        assert len(_bound(name)) == 1, util.binding_lines(0)
        assert len(_drain(watcher)) == events
        raw.u32_ioctl(watcher, "REPORTREPLIERBINDS", 0)
    finally:
        _close_all([binder, watcher])
    _assert_bus_works()


@pytest.mark.parametrize("form", ["entire", "pointy"])
def test_send_to_several_listeners_is_all_or_nothing(
    fail_nth: FailNth, form: str
) -> None:
    sender = _open()
    listeners = [_open() for _ in range(3)]
    name, data = b"$.Fail.Send", b"x" * 3000  # data beyond the name's slab size
    keep: list[raw.Pointy] = []
    try:
        for fd in listeners:
            raw.bind(fd, name)
        raw.bind(listeners[0], b"$.Fail.*")  # a second copy for this one

        def send() -> tuple[int, int]:
            if form == "pointy":
                keep.append(raw.Pointy(name, data))
                os.write(sender, keep[-1].pack())
            else:
                raw.write_all(sender, raw.entire_message(name, data))
            return raw.send(sender)

        def after(outcome: Outcome) -> None:
            counts = [raw.nummsgs(fd) for fd in listeners]
            if outcome.error is None:
                assert counts == [2, 1, 1], f"allocation {outcome.nth}: {counts}"
                for fd in listeners:
                    _drain(fd)
            else:
                assert counts == [0, 0, 0], (
                    f"allocation {outcome.nth}: a failed send delivered"
                )
                raw.discard(sender)

        outcomes, msg_id = sweep(fail_nth, send, after)
        _assert_enomem(outcomes)
        got = [[m.header.id for m in _drain(fd)] for fd in listeners]
        assert got == [[msg_id, msg_id], [msg_id], [msg_id]]
    finally:
        _close_all([sender, *listeners])
    _assert_bus_works()


def test_requests_and_replies_fail_cleanly_and_each_request_gets_one_reply(
    fail_nth: FailNth,
) -> None:
    """Requests, the replier's NEXTMSG (which records what it owes) and
    replies, each under the sweep; in the end the requester has exactly one
    reply for every request that was sent."""
    requester, replier, listener = _open(), _open(), _open()
    name = b"$.Fail.Request"
    sent: list[tuple[int, int]] = []
    replied: list[tuple[int, int]] = []
    try:
        raw.bind(replier, name, replier=True)
        raw.bind(listener, name)

        def request() -> tuple[int, int]:
            raw.write_all(
                requester, raw.entire_message(name, b"q", flags=raw.WANT_A_REPLY)
            )
            return raw.send(requester)

        def read() -> raw.ParsedMessage | None:
            return raw.next_raw(replier)

        def reply(req: raw.ParsedMessage) -> None:
            _send_reply(replier, req, b"a")
            replied.append(req.header.id)

        # 1. the request
        def after_request(outcome: Outcome) -> None:
            if outcome.error is None:  # it went out: answer it
                sent.append(outcome.result)
                req = read()
                assert req is not None and req.header.id == outcome.result
                reply(req)
            else:
                raw.discard(requester)
            assert raw.nummsgs(replier) == 0, f"allocation {outcome.nth}"
            _drain(listener)

        outcomes, req_id = sweep(fail_nth, request, after_request)
        _assert_enomem(outcomes)
        sent.append(req_id)
        assert raw.nummsgs(replier) == 1

        # 2. the replier reads it
        def after_read(outcome: Outcome) -> None:
            if outcome.error is None:  # read it: answer, and queue another
                req = outcome.result
                assert req is not None and req.header.id == sent[-1]
                reply(req)
                sent.append(request())
            else:
                assert raw.unrepliedto(replier) == 0, "a failed NEXTMSG recorded a debt"
            assert raw.nummsgs(replier) == 1, f"allocation {outcome.nth}"

        outcomes, req = sweep(fail_nth, read, after_read)
        # NEXTMSG of a request moves its record to the replier's debts and
        # may allocate nothing at all; what fails must fail with ENOMEM
        failed = [(o.nth, o.error) for o in outcomes if o.error is not None]
        assert all(err.errno == errno.ENOMEM for _, err in failed), failed
        assert req is not None and req.header.id == sent[-1]
        assert raw.unrepliedto(replier) == 1

        # 3. the reply
        current = [req]

        def after_reply(outcome: Outcome) -> None:
            if outcome.error is None:  # it went out: owe another
                replied.append(current[0].header.id)
                sent.append(request())
                new = read()
                assert new is not None
                current[0] = new
            else:
                raw.discard(replier)
            assert raw.unrepliedto(replier) == 1, f"allocation {outcome.nth}"

        outcomes, _ = sweep(
            fail_nth, lambda: _send_reply(replier, current[0], b"a"), after_reply
        )
        _assert_enomem(outcomes)
        replied.append(current[0].header.id)
        assert raw.unrepliedto(replier) == 0

        answers = [(r.header.in_reply_to, r.data) for r in _drain(requester)]
        assert sorted(answers) == sorted((i, b"a") for i in sent)
        assert sorted(replied) == sorted(sent)
    finally:
        _close_all([requester, replier, listener])
    _assert_bus_works()


def _status_sweep(fail: FailNth, operation: str) -> None:
    """The replier of three requests (one read, two queued) goes away by
    `operation` (close or unbind) with its n-th allocation failing: the
    requester still gets exactly one answer per request.  Closing makes
    only allocations that cannot fail (__GFP_NOFAIL), which is checked."""
    name = b"$.Fail.Status"
    injected = 0
    for nth in range(1, SWEEP_LIMIT + 1):
        requester, replier = _open(), _open()
        try:
            raw.bind(replier, name, replier=True)
            ids = [
                raw.send_entire(requester, name, b"%d" % i, flags=raw.WANT_A_REPLY)
                for i in range(3)
            ]
            assert raw.next_raw(replier) is not None
            fail.arm(nth)
            try:
                if operation == "close":
                    os.close(replier)
                else:
                    raw.unbind(replier, name, replier=True)
                error = None
            except OSError as err:
                error = err
            finally:
                hit = fail.disarm()
            if operation == "close":
                replier = -1
                assert error is None, f"close at allocation {nth}: {error}"
            elif error is not None:
                assert error.errno == errno.ENOMEM, error
                assert hit
            if operation == "unbind" and replier >= 0:
                os.close(replier)  # answers whatever unbinding left
                replier = -1
            answers = _drain(requester)
            got = sorted(m.header.in_reply_to for m in answers)
            assert got == sorted(ids), (
                f"{operation} at allocation {nth}: answers {answers}"
            )
            assert all(m.header.flags & raw.SYNTHETIC for m in answers)
        finally:
            _close_all([fd for fd in (requester, replier) if fd >= 0])
        if not hit:
            break
        injected += 1
    else:
        pytest.fail(f"{operation} still allocates after {SWEEP_LIMIT} allocations")
    if operation == "close":
        # its answers come from __GFP_NOFAIL allocations: closing cannot fail
        assert not injected, f"closing made {injected} allocation(s) that could fail"
    else:
        assert injected, f"{operation} made no allocation that could fail"


def test_a_replier_closing_under_allocation_failures_answers_every_request(
    fail_nth: FailNth,
) -> None:
    _status_sweep(fail_nth, "close")
    _assert_bus_works()


def test_a_replier_unbinding_under_allocation_failures_answers_every_request(
    fail_nth: FailNth,
) -> None:
    _status_sweep(fail_nth, "unbind")
    _assert_bus_works()


def test_newdevice_fails_with_enomem_and_creates_no_device(fail_nth: FailNth) -> None:
    fd = _open()
    devices = [util.num_devices_param()]
    assert devices == [1]
    try:

        def after(outcome: Outcome) -> None:
            if outcome.error is None:  # it coped (e.g. without its uevent)
                assert outcome.result[1] == devices[0]
                devices[0] += 1
            assert util.num_devices_param() == devices[0], f"allocation {outcome.nth}"
            assert not os.path.exists(f"/dev/kbus{devices[0]}")

        outcomes, (_, index) = sweep(
            fail_nth, lambda: raw.u32_ioctl(fd, "NEWDEVICE"), after
        )
        _assert_enomem(outcomes)
        assert index == devices[0] and util.num_devices_param() == index + 1
    finally:
        os.close(fd)
    util.wait_for_device(index)
    _assert_bus_works(f"/dev/kbus{index}")


def test_nextmsg_of_a_set_aside_event_fails_with_enomem_not_silence(
    fail_nth: FailNth,
) -> None:
    """A listener full when repliers close gets their unbind events later
    (set aside, spec 18.10): NEXTMSG moves the next one to the queue, which
    needs a queue entry.  When that allocation fails, NEXTMSG must say
    ENOMEM: "no message" would tell the reader that its queue is empty while
    NUMMSGS and poll still count the events."""
    watcher = _open()
    repliers = [_open() for _ in range(3)]
    try:
        raw.bind(watcher, raw.NAME_BIND_EVENT.encode())
        raw.bind(watcher, b"$.Fail.Fill")
        raw.u32_ioctl(watcher, "REPORTREPLIERBINDS", 1)
        ids = set()
        for i, fd in enumerate(repliers):
            raw.bind(fd, b"$.Fail.Aside.%d" % i, replier=True)
            ids.add(raw.ksock_id(fd))
        assert len(_drain(watcher)) == 3  # the bind events
        raw.maxmsgs(watcher, 1)
        raw.send_entire(repliers[0], b"$.Fail.Fill")  # now it is full
        _close_all(repliers)
        repliers = []
        assert raw.nummsgs(watcher) == 4  # one queued, three set aside
        # popping the queued message succeeds although moving the next
        # event up fails: that event stays set aside
        fail_nth.arm(1)
        try:
            fill = raw.next_raw(watcher)
        finally:
            assert fail_nth.disarm(), "popping a message moved no set-aside event up"
        assert fill is not None and fill.name == b"$.Fail.Fill"
        assert raw.nummsgs(watcher) == 3 and raw.readable(watcher)
        # the queue is empty now: the next event must come up first
        fail_nth.arm(1)
        try:
            with util.raises_errno(errno.ENOMEM):
                raw.nextmsg(watcher)
        finally:
            assert fail_nth.disarm()
        assert raw.nummsgs(watcher) == 3
        events = _drain(watcher)
        binders = {struct.unpack("=III", e.data[:12])[1] for e in events}
        assert len(events) == 3 and binders == ids, events
        assert all(struct.unpack("=I", e.data[:4])[0] == 0 for e in events), "unbinds"
        raw.u32_ioctl(watcher, "REPORTREPLIERBINDS", 0)
    finally:
        _close_all([watcher, *repliers])
    _assert_bus_works()


def test_zz_kmemleak_finds_no_leak_after_all_these_failures(fail_nth: FailNth) -> None:
    """Run last in this file: kmemleak reports nothing new since its start
    (KBUS was reloaded between the tests, so its leaks would show without
    symbols: any leak counts)."""
    if not os.path.exists(KMEMLEAK):
        pytest.skip("kernel without kmemleak (CONFIG_DEBUG_KMEMLEAK)")
    signal.alarm(KMEMLEAK_TIMEOUT)  # scanning is slow under TCG
    with open(KMEMLEAK, "w") as f:
        f.write("scan")
    time.sleep(6)  # reported once unreferenced in two scans, 5 s apart
    with open(KMEMLEAK, "w") as f:
        f.write("scan")
    with open(KMEMLEAK) as f:
        report = f.read()
    assert "unreferenced object" not in report, "kmemleak:\n" + report
