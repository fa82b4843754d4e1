# SPDX-License-Identifier: MIT
"""stb-supervisor: starts the STB services, respawns them when they die,
stops them all on SIGTERM.

    stb-supervisor [--run-dir DIR] [--log-dir DIR] [--user NAME=USER]... NAME=COMMAND...

Each NAME=COMMAND (a shell-style word list) is one service, started in the
order given; the supervisor waits until a service is ready (it writes
RUN_DIR/NAME.ready once bound on the bus) before starting the next, so the
logger can be first and see everything.  A service's stderr (and stdout) go
to LOG_DIR/NAME.log, rotated at each start once bigger than --log-max bytes.
A service that exits is started again after a delay: 0.5 s, doubled (up to
8 s) each time it dies within 10 s of its start.

``--user NAME=USER`` runs service NAME as USER (its uid, its primary group
and the groups the group database gives it), so that the bus policy can tell
the services apart; the supervisor itself must then run as root.

SIGTERM or SIGINT: stop every service (SIGTERM, in reverse order; SIGKILL
after --stop-timeout s) and exit 0, so nothing is respawned.  Every start,
ready, exit and stop goes to RUN_DIR/journal with the uptime; the
supervisor's own pid is in RUN_DIR/supervisor.pid.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shlex
import signal
import sys
import time
from dataclasses import dataclass
from types import FrameType

from .service import journal, setup_logging

MIN_DELAY = 0.5
MAX_DELAY = 8.0
STABLE = 10.0


@dataclass
class Child:
    name: str
    argv: list[str]
    pid: int | None = None
    started: float = 0.0
    delay: float = MIN_DELAY
    restart_at: float | None = None
    starts: int = 0
    user: str | None = None  # run as this user (--user NAME=USER)


def next_delay(previous: float, lived: float) -> float:
    """The respawn delay after a service lived ``lived`` seconds."""
    if lived >= STABLE:
        return MIN_DELAY
    return min(MAX_DELAY, previous * 2)


class Supervisor:
    def __init__(self, args: argparse.Namespace, children: list[Child]) -> None:
        self.args = args
        self.children = children
        self.by_pid: dict[int, Child] = {}
        self.stopping = False
        self.log = setup_logging("stb-supervisor", "info")

    def _journal(self, line: str) -> None:
        journal(self.args.run_dir, line)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        pass  # only interrupts the sleep

    def _open_log(self, name: str) -> int:
        path = os.path.join(self.args.log_dir, f"{name}.log")
        try:
            if os.path.getsize(path) > self.args.log_max:
                os.replace(path, path + ".1")
        except OSError:
            pass
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def spawn(self, child: Child) -> None:
        ready = os.path.join(self.args.run_dir, f"{child.name}.ready")
        try:
            os.unlink(ready)
        except OSError:
            pass
        log_fd = self._open_log(child.name)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_SETMASK, [])
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 1024)
                if child.user is not None:
                    drop_privileges(child.user)
                os.execvp(child.argv[0], child.argv)
            except OSError as exc:
                os.write(2, f"stb-supervisor: cannot start {child.name}: {exc}\n".encode())
            finally:
                os._exit(127)
        os.close(log_fd)
        child.pid = pid
        child.started = time.monotonic()
        child.restart_at = None
        child.starts += 1
        self.by_pid[pid] = child
        self._write_pid(child.name, pid)
        self.log.info("started %s (pid %d)", child.name, pid)
        self._journal(f"spawn {child.name} pid={pid} start={child.starts}")

    def _write_pid(self, name: str, pid: int | None) -> None:
        path = os.path.join(self.args.run_dir, f"{name}.pid")
        try:
            if pid is None:
                os.unlink(path)
            else:
                with open(path, "w") as f:
                    f.write(f"{pid}\n")
        except OSError:
            pass

    def wait_ready(self, child: Child, timeout: float) -> bool:
        path = os.path.join(self.args.run_dir, f"{child.name}.ready")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping:
            self.reap()
            if child.pid is None:
                return False
            try:
                with open(path) as f:
                    if f.read().startswith(f"pid={child.pid} "):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        return False

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.by_pid.pop(pid, None)
            if child is None:
                continue
            lived = time.monotonic() - child.started
            how = (
                f"status={os.WEXITSTATUS(status)}"
                if os.WIFEXITED(status)
                else f"signal={os.WTERMSIG(status)}"
            )
            child.pid = None
            self._write_pid(child.name, None)
            self._journal(f"died {child.name} pid={pid} {how} lived={lived:.1f}")
            if not self.stopping:
                child.delay = next_delay(child.delay, lived) if child.starts > 1 else MIN_DELAY
                child.restart_at = time.monotonic() + child.delay
                self.log.warning(
                    "%s (pid %d) exited (%s) after %.1f s; restart in %.1f s",
                    child.name,
                    pid,
                    how,
                    lived,
                    child.delay,
                )

    def run(self) -> int:
        os.makedirs(self.args.run_dir, exist_ok=True)
        os.makedirs(self.args.log_dir, exist_ok=True)
        with open(os.path.join(self.args.run_dir, "supervisor.pid"), "w") as f:
            f.write(f"{os.getpid()}\n")
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGCHLD, self._on_child)
        self._journal(f"supervisor start pid={os.getpid()}")
        for child in self.children:
            if self.stopping:
                break
            self.spawn(child)
            if not self.wait_ready(child, self.args.ready_timeout):
                self.log.error("%s not ready within %g s", child.name, self.args.ready_timeout)
        while not self.stopping:
            self.reap()
            now = time.monotonic()
            for child in self.children:
                if child.pid is None and child.restart_at is not None and now >= child.restart_at:
                    self.spawn(child)
            time.sleep(0.1)
        self.stop_all()
        self._journal(f"supervisor stop pid={os.getpid()}")
        try:
            os.unlink(os.path.join(self.args.run_dir, "supervisor.pid"))
        except OSError:
            pass
        return 0

    def stop_all(self) -> None:
        for child in reversed(self.children):
            if child.pid is not None:
                try:
                    os.kill(child.pid, signal.SIGCONT)
                    os.kill(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.args.stop_timeout
        while self.by_pid and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.05)
        for pid in list(self.by_pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        while self.by_pid:
            try:
                pid, _ = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            gone = self.by_pid.pop(pid, None)
            if gone is not None:
                self._journal(f"died {gone.name} pid={pid} signal=9 lived=-")
                self._write_pid(gone.name, None)


def drop_privileges(user: str) -> None:
    """Become ``user``: its supplementary groups, its primary group, its uid
    (in that order: each step needs the privileges the next one drops)."""
    entry = pwd.getpwnam(user)
    os.initgroups(user, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def parse_user(spec: str) -> tuple[str, str]:
    name, sep, user = spec.partition("=")
    if not sep or not name.isidentifier() or not user:
        raise argparse.ArgumentTypeError(f"{spec!r} is not NAME=USER")
    try:
        pwd.getpwnam(user)
    except KeyError:
        raise argparse.ArgumentTypeError(f"no user {user!r}") from None
    return name, user


def parse_service(spec: str) -> Child:
    name, sep, command = spec.partition("=")
    argv = shlex.split(command)
    if not sep or not name.isidentifier() or not argv:
        raise argparse.ArgumentTypeError(f"{spec!r} is not NAME=COMMAND")
    return Child(name, argv)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stb-supervisor", description=__doc__.split("\n")[0])
    parser.add_argument("--run-dir", default="/run/stb")
    parser.add_argument("--log-dir", default="/var/log/stb")
    parser.add_argument("--log-max", type=int, default=256 * 1024)
    parser.add_argument("--ready-timeout", type=float, default=60.0)
    parser.add_argument("--stop-timeout", type=float, default=10.0)
    parser.add_argument(
        "--user",
        action="append",
        default=[],
        type=parse_user,
        metavar="NAME=USER",
        help="run service NAME as USER (repeatable; needs root)",
    )
    parser.add_argument("services", nargs="+", type=parse_service, metavar="NAME=COMMAND")
    args = parser.parse_args(argv)
    names = [c.name for c in args.services]
    if len(set(names)) != len(names):
        parser.error("a service name is given twice")
    by_name = {c.name: c for c in args.services}
    for name, user in args.user:
        if name not in by_name:
            parser.error(f"--user {name}={user}: no service {name}")
        by_name[name].user = user
    try:
        os.setsid()  # no terminal, no signals from the shell that started us
    except OSError:
        pass  # already a session or process group leader
    return Supervisor(args, args.services).run()


if __name__ == "__main__":
    sys.exit(main())
