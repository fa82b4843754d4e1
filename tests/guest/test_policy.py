# SPDX-License-Identifier: MIT
"""Who may say what: the per-device access policy and sender credentials.

Without a policy, everything is allowed as in the original, except that
names under ``$.KBUS.`` are KBUS's own: no process may send one (a forged
``$.KBUS.Replier.GoneAway``) or bind as its replier. A policy (SETPOLICY,
loaded by root with ``kbus-policy``) has rules "allow|deny own|listen|send
PATTERN [user|group]"; the most specific pattern with a rule that applies
decides, then user over group over everyone, deny over allow; no rule: the
default. Denied binds and sends get EPERM; a denied listener does not get the
message (FILTERED counts them). MSGCREDS tells a reader who sent a message,
as of its SEND. Every test plays the processes as real users (forked
children that drop to uid 1000, 1001 or nobody).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kbus import Announcement, Ksock, Reply, Request

import kbus_raw as raw
import kbus_util as util
from kbus_util import ChildConn, KsockFactory, raises_errno

Loader = Callable[..., None]

ALICE, BOB, NOBODY = 1000, 1001, 65534
CTL_GROUP = 2000  # a group only some of them are in


def _own(name: str, who: int = raw.EVERYONE, ident: int = 0, effect: int = raw.ALLOW):
    return (raw.OWN, effect, who, ident, name)


def _send(name: str, who: int = raw.EVERYONE, ident: int = 0, effect: int = raw.ALLOW):
    return (raw.SEND, effect, who, ident, name)


def _listen(
    name: str, who: int = raw.EVERYONE, ident: int = 0, effect: int = raw.ALLOW
):
    return (raw.LISTEN, effect, who, ident, name)


@pytest.fixture
def policy(ksock: KsockFactory) -> Iterator[Callable[..., None]]:
    """set(rules, default): load a policy on device 0; cleared afterwards."""
    admin = ksock()

    def load(rules: list[raw.Rule], default: int = raw.ALLOW) -> None:
        raw.set_policy(admin.fileno(), rules, default)

    yield load
    with Ksock(0) as k:
        raw.set_policy(k.fileno(), [], raw.ALLOW)


def _bind_as(uid: int, name: str, replier: bool = True, groups=()) -> int:
    def body() -> int:
        with Ksock(0) as k:
            try:
                k.bind(name, replier=replier)
            except OSError as exc:
                return exc.errno or 0
        return 0

    return util.run_as(uid, body, groups=groups)


def _send_as(uid: int, msg_name: str, groups=(), request: bool = False) -> int:
    def body() -> int:
        with Ksock(0) as k:
            try:
                if request:
                    k.send_msg(Request(msg_name, b"x"))
                else:
                    k.send_msg(Announcement(msg_name, b"x"))
            except OSError as exc:
                return exc.errno or 0
        return 0

    return util.run_as(uid, body, groups=groups)


# --------------------------------------------------------------------------
# Reserved names and the default


def test_no_process_may_send_a_kbus_name(ksock: KsockFactory) -> None:
    asker, replier, spy = ksock(), ksock(), ksock()
    spy.bind("$.KBUS.*")  # listening is fine
    replier.bind("$.Svc.Ask", replier=True)
    req_id = asker.send_msg(Request("$.Svc.Ask", b"q"))
    req = util.one_msg(replier)
    # a forged status answer to a real request
    with raises_errno(errno.EPERM):
        replier.send_msg(
            Reply("$.KBUS.Replier.GoneAway", in_reply_to=req_id, to=asker.ksock_id())
        )
    with raises_errno(errno.EPERM):
        asker.send_msg(Announcement("$.KBUS.ReplierBindEvent", b"\0" * 12))
    with raises_errno(errno.EPERM):
        replier.bind("$.KBUS.Mine", replier=True)
    # nothing got through, and the real answer still can
    assert [m.name for m in util.drain(spy)] == []
    replier.send_msg(Reply(req.name, b"ok", in_reply_to=req.id, to=req.from_))
    assert util.one_msg(asker).data == b"ok"


def test_compat_lets_processes_use_kbus_names(
    module_loader: Loader, ksock: KsockFactory
) -> None:
    module_loader("kbus_compat_open=1")
    k = ksock()
    k.bind("$.KBUS.Mine", replier=True)
    k.bind("$.KBUS.Mine")
    k.send_msg(Announcement("$.KBUS.Mine"))
    assert util.one_msg(k).name == "$.KBUS.Mine"


def test_only_privileged_users_load_a_policy(ksock: KsockFactory) -> None:
    def try_load() -> int:
        with Ksock(0) as k:
            try:
                raw.set_policy(k.fileno(), [_own("$.X")], raw.DENY)
            except OSError as exc:
                return exc.errno or 0
        return 0

    assert util.run_as(NOBODY, try_load) == errno.EPERM
    assert "no policy" in util.read_text("/proc/kbus/policy")


# --------------------------------------------------------------------------
# own


def test_only_the_named_user_may_own_a_service(policy: Callable[..., None]) -> None:
    policy(
        [
            _own("$.STB.*", effect=raw.DENY),
            _own("$.STB.Decoder.*", raw.USER, ALICE),
        ]
    )
    assert _bind_as(ALICE, "$.STB.Decoder.*") == 0
    assert _bind_as(ALICE, "$.STB.Decoder.Play") == 0
    # others cannot squat its names, nor a wildcard around them
    assert _bind_as(BOB, "$.STB.Decoder.Play") == errno.EPERM
    assert _bind_as(BOB, "$.STB.Decoder.*") == errno.EPERM
    assert _bind_as(BOB, "$.STB.*") == errno.EPERM
    assert _bind_as(BOB, "$.STB.%") == errno.EPERM
    assert _bind_as(ALICE, "$.STB.*") == errno.EPERM  # wider than allowed
    # listening is not owning; other names keep the default (allow)
    assert _bind_as(BOB, "$.STB.Decoder.Play", replier=False) == 0
    before = _denied_counts()
    assert _bind_as(BOB, "$.Other.Thing") == 0
    assert _bind_as(BOB, "$.STB.Tuner") == errno.EPERM
    assert _denied_counts()[0] == before[0] + 1


def test_a_user_rule_beats_a_group_rule_and_deny_wins_a_tie(
    policy: Callable[..., None],
) -> None:
    policy(
        [
            _own("$.Svc.*", raw.GROUP, CTL_GROUP, raw.ALLOW),
            _own("$.Svc.*", raw.USER, BOB, raw.DENY),
            _own("$.Tie", raw.EVERYONE, 0, raw.ALLOW),
            _own("$.Tie", raw.EVERYONE, 0, raw.DENY),
        ],
        raw.DENY,
    )
    assert _bind_as(ALICE, "$.Svc.A", groups=(CTL_GROUP,)) == 0
    assert _bind_as(BOB, "$.Svc.A", groups=(CTL_GROUP,)) == errno.EPERM
    assert _bind_as(ALICE, "$.Svc.A") == errno.EPERM  # not in the group
    assert _bind_as(ALICE, "$.Tie") == errno.EPERM


def test_the_most_specific_pattern_decides(policy: Callable[..., None]) -> None:
    policy(
        [
            _own("$.A.*", effect=raw.DENY),
            _own("$.A.B.*", effect=raw.ALLOW),
            _own("$.A.B.C", effect=raw.DENY),
            _own("$.A.B.%", raw.USER, ALICE, raw.DENY),
        ]
    )
    assert _bind_as(BOB, "$.A.X") == errno.EPERM
    assert _bind_as(BOB, "$.A.B.X.Y") == 0
    assert _bind_as(BOB, "$.A.B.C") == errno.EPERM
    assert _bind_as(BOB, "$.A.B.D") == 0  # the % rule is Alice's only
    assert _bind_as(ALICE, "$.A.B.D") == errno.EPERM
    assert _bind_as(ALICE, "$.A.B.X.Y") == 0


def test_a_default_deny_policy_denies_what_no_rule_allows(
    policy: Callable[..., None],
) -> None:
    policy([_own("$.Open.*")], raw.DENY)
    assert _bind_as(BOB, "$.Open.Door") == 0
    assert _bind_as(BOB, "$.Closed.Door") == errno.EPERM
    assert _send_as(BOB, "$.Closed.Door") == errno.EPERM


# --------------------------------------------------------------------------
# send


def test_only_a_group_may_send_requests_to_a_service(
    policy: Callable[..., None], ksock: KsockFactory
) -> None:
    svc = ksock()
    svc.bind("$.STB.Recorder.Start", replier=True)
    policy(
        [
            _send("$.STB.Recorder.*", effect=raw.DENY),
            _send("$.STB.Recorder.*", raw.GROUP, CTL_GROUP),
        ]
    )
    assert _send_as(BOB, "$.STB.Recorder.Start", (), True) == errno.EPERM

    def ask(conn: ChildConn) -> bytes:
        with Ksock(0) as k:
            k.send_msg(Request("$.STB.Recorder.Start", b"x"))
            answer = k.wait_for_msg(10)
            assert answer is not None
            return answer.data

    with util.as_user(ALICE, ask, groups=(CTL_GROUP,)) as alice:
        req = svc.wait_for_msg(10)
        assert req is not None and svc.num_messages() == 0
        # the replier answers, though it may not send that name itself
        svc.send_msg(Reply(req.name, b"done", in_reply_to=req.id, to=req.from_))
        assert alice.result() == b"done"


def _denied_counts() -> tuple[int, int, int]:
    for line in util.read_text("/proc/kbus/stats").splitlines():
        if line.startswith("    policy: "):
            w = line.replace(",", "").split()
            return int(w[3]), int(w[5]), int(w[7])
    return 0, 0, 0


def test_a_denied_send_is_discarded_and_counted(
    policy: Callable[..., None], ksock: KsockFactory
) -> None:
    listener = ksock()
    listener.bind("$.Quiet.*")
    policy([_send("$.Quiet.*", effect=raw.DENY)])
    before = _denied_counts()
    assert _send_as(BOB, "$.Quiet.Now") == errno.EPERM
    assert listener.num_messages() == 0
    after = _denied_counts()
    assert (after[0] - before[0], after[1] - before[1]) == (0, 1)


# --------------------------------------------------------------------------
# listen


def test_a_denied_listener_does_not_receive_and_can_tell(
    policy: Callable[..., None], ksock: KsockFactory
) -> None:
    policy(
        [
            _listen("$.Secret.*", effect=raw.DENY),
            _listen("$.Secret.*", raw.USER, ALICE),
        ]
    )

    def snoop(conn: ChildConn) -> tuple[list[str], int]:
        with Ksock(0) as k:
            k.bind("$.*")
            conn.send("bound")
            assert conn.recv(30) == "sent"
            names = [m.name for m in util.drain(k)]
            return names, raw.filtered(k.fileno())

    with util.as_user(BOB, snoop) as bob, util.as_user(ALICE, snoop) as alice:
        assert bob.recv() == "bound" and alice.recv() == "bound"
        sender = ksock()
        sender.send_msg(Announcement("$.Secret.Key", b"k"))
        sender.send_msg(Announcement("$.Public.News", b"n"))
        bob.send("sent")
        alice.send("sent")
        assert bob.result() == (["$.Public.News"], 1)
        assert alice.result() == (["$.Secret.Key", "$.Public.News"], 0)
    assert _denied_counts()[2] >= 1


# --------------------------------------------------------------------------
# loading


def test_bad_policies_are_refused_and_the_old_one_stays(
    policy: Callable[..., None], ksock: KsockFactory
) -> None:
    policy([_own("$.Kept.*")], raw.DENY)
    fd = ksock().fileno()
    with raises_errno(errno.EINVAL):
        raw.set_policy(fd, [_own("$.X")], magic=0x1234)
    with raises_errno(errno.EBADMSG):
        raw.set_policy(fd, [_own("$.bad..name")])
    with raises_errno(errno.EINVAL):
        raw.set_policy(fd, [(9, raw.ALLOW, raw.EVERYONE, 0, "$.X")])
    with raises_errno(errno.EINVAL):
        raw.set_policy(fd, [_own("$.X")], num_rules=2)  # runs off the end
    with raises_errno(errno.E2BIG):
        raw.set_policy(fd, [], num_rules=70_000, blob=b"")
    with raises_errno(errno.EFAULT):
        raw.ioctl(fd, raw.IOC_SETPOLICY, 16)  # an address nobody can read
    text = util.read_text("/proc/kbus/policy")
    assert "allow own $.Kept.*" in text and "default deny" in text


def test_policy_files_load_with_kbus_policy(tmp_path: Path) -> None:
    conf = tmp_path / "policy.d"
    conf.mkdir()
    (conf / "10-base.conf").write_text("# the base\ndefault deny\nallow listen $.*\n")
    (conf / "20-stb.conf").write_text(
        f"allow own $.STB.Decoder.* user {ALICE}\n"
        "allow send $.STB.* group 0\n"
        "deny send $.STB.Secret\n"
    )
    (conf / "README").write_text("not a .conf file: ignored\n")
    try:
        res = subprocess.run(
            ["kbus-policy", "check", str(conf)], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        assert "4 rules, default deny" in res.stdout
        res = subprocess.run(
            ["kbus-policy", "load", str(conf)], capture_output=True, text=True
        )
        assert res.returncode == 0, res.stderr
        text = util.read_text("/proc/kbus/policy")
        assert f"allow own $.STB.Decoder.* user {ALICE}" in text
        assert "deny send $.STB.Secret" in text
        assert _bind_as(ALICE, "$.STB.Decoder.*") == 0
        assert _bind_as(BOB, "$.STB.Decoder.*") == errno.EPERM
    finally:
        subprocess.run(["kbus-policy", "clear"], check=True)
    assert "no policy" in util.read_text("/proc/kbus/policy")


def test_kbus_policy_reports_errors_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text(
        "allow own $.Fine\n"
        "allow own $.Not..fine\n"
        "permit send $.X\n"
        "allow send $.X user no-such-user-here\n"
        "allow jump $.X\n"
    )
    res = subprocess.run(
        ["kbus-policy", "load", str(bad)], capture_output=True, text=True
    )
    assert res.returncode == 3
    err = res.stderr
    assert f"{bad}:2: name pattern" in err
    assert f'{bad}:3: expected "allow", "deny" or "default", not "permit"' in err
    assert f'{bad}:4: no user "no-such-user-here"' in err
    assert f'{bad}:5: unknown action "jump"' in err
    assert "4 errors, nothing loaded" in err
    assert "no policy" in util.read_text("/proc/kbus/policy")


# --------------------------------------------------------------------------
# Sender credentials


def _creds_of_next(k: Ksock) -> tuple[int, int, int, int]:
    """The sender of the next message, asked once it has been read whole."""
    assert k.read_next_msg() is not None
    return raw.msg_creds(k.fileno())


def test_a_reader_learns_who_sent_a_message(ksock: KsockFactory) -> None:
    reader = ksock()
    reader.bind("$.Who.*")

    def send() -> int:
        with Ksock(0) as k:
            k.send_msg(Announcement("$.Who.Bob", b"hi"))
        return os.getpid()

    pid = util.run_as(BOB, send, gid=CTL_GROUP)
    assert _creds_of_next(reader) == (BOB, CTL_GROUP, pid, 0)
    ksock().send_msg(Announcement("$.Who.Root"))
    assert _creds_of_next(reader) == (0, 0, os.getpid(), 0)


def test_credentials_are_those_at_send_not_at_write_or_open(
    ksock: KsockFactory,
) -> None:
    reader = ksock()
    reader.bind("$.Who.*")

    def write_as_root_send_as_bob(conn: ChildConn) -> int:
        pointy, entire = Ksock(0), Ksock(0)  # opened as root
        msg = Announcement("$.Who.Pointy", b"x")  # pointy: alive until SEND
        pointy.write_msg(msg)
        raw.write_all(entire.fileno(), raw.entire_message(b"$.Who.Entire", b"y"))
        os.setgid(CTL_GROUP)
        os.setuid(BOB)
        pointy.send()
        entire.send()
        return os.getpid()

    with util.Child(write_as_root_send_as_bob) as child:
        pid = child.result()
    assert _creds_of_next(reader) == (BOB, CTL_GROUP, pid, 0)
    assert _creds_of_next(reader) == (BOB, CTL_GROUP, pid, 0)


def test_a_forked_child_sending_on_its_parents_ksock_is_itself(
    ksock: KsockFactory,
) -> None:
    reader, shared = ksock(), ksock()
    reader.bind("$.Who.*")
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            shared.send_msg(Announcement("$.Who.Child"))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert _creds_of_next(reader)[2] == pid


def test_kbus_made_messages_say_so(ksock: KsockFactory) -> None:
    asker, replier = ksock(), ksock()
    replier.bind("$.Who.Ask", replier=True)
    asker.send_msg(Request("$.Who.Ask"))
    replier.close()  # GoneAway, made by KBUS
    uid, gid, pid, flags = _creds_of_next(asker)
    assert flags == raw.CREDS_SYNTHETIC and pid == 0
    assert (uid, gid) == (0xFFFFFFFF, 0xFFFFFFFF)


def test_credentials_need_a_message_being_read(ksock: KsockFactory) -> None:
    with raises_errno(errno.ENOMSG):
        raw.msg_creds(ksock().fileno())
