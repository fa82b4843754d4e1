# SPDX-License-Identifier: MIT
"""Several QEMU guests on one network, for the tests of KBUS across boxes.

labgrid drives one guest per environment; the bridge tests need two boxes
that talk.  :class:`Boxes` boots them from the same labgrid environment file
(the rig, or the STB image): each guest is the environment's QEMUDriver
command (machine, kernel, initrd or disk in snapshot mode, the 9p share of
this repository), with its serial console on QEMU's stdio (driven with
pexpect) and one virtio-net interface.  The interfaces are wired to each
other point to point with QEMU's ``-netdev dgram`` over two Unix datagram
sockets in a private temporary folder: no host network, no TCP port, no
privileges, nothing shared with other users of the machine.  In the guests
they are eth0 with 10.77.0.1/24 (box A), 10.77.0.2/24 (box B).

    cfg = GuestConfig.from_labgrid(target.env.config, target.name)
    with Boxes(cfg, log_dir) as boxes:   # consoles: log_dir/console-a.log, ...
        boxes.start()
        out, rc = boxes["a"].run("uname -a")

Used by tests/test_bridge_boxes.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shlex
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pexpect

NETWORK = "10.77.0"
PROBE_INTERVAL = 0.5


class BoxError(Exception):
    """A box did not boot, or a command in it did not finish in time."""


@dataclass(frozen=True)
class GuestConfig:
    """How to boot a guest, from a labgrid environment's target."""

    qemu: list[str]  # the command, without console and network
    prompt: str
    login_prompt: str
    username: str
    setup: str  # what makes the guest ready (9p share, kbus loaded)
    net_device: str  # virtio-net-pci (x86_64) or virtio-net-device (arm virt)
    timeout_factor: float
    pythonpath: str

    @classmethod
    def from_labgrid(cls, env_config: Any, target: str = "main") -> GuestConfig:  # noqa: ANN401
        drivers = env_config.get_targets()[target]["drivers"]
        qemu = drivers["QEMUDriver"]
        shell = drivers["ShellDriver"]
        extra = shlex.split(qemu.get("extra_args", ""))
        cmd = [env_config.get_tool(qemu["qemu_bin"]), "-M", qemu["machine"]]
        if qemu.get("cpu"):
            cmd += ["-cpu", qemu["cpu"]]
        cmd += ["-m", qemu.get("memory", "512M")]
        cmd += ["-kernel", env_config.get_image_path(qemu["kernel"])]
        cmd += ["-append", qemu.get("boot_args", "")]
        cmd += ["-display", "none", *extra]
        pci = any("-pci" in a for a in extra if a.startswith("virtio-9p"))

        def option(name: str, default: str = "") -> str:
            value = env_config.get_target_option(target, name, default)
            return str(value) if value is not None else default

        return cls(
            qemu=cmd,
            prompt=shell["prompt"],
            login_prompt=shell.get("login_prompt", " login: "),
            username=shell.get("username", "root"),
            setup=option("guest_setup", "rig-setup --share --load"),
            net_device="virtio-net-pci" if pci else "virtio-net-device",
            timeout_factor=float(option("timeout_factor", "1")),
            pythonpath=option("guest_pythonpath"),
        )


class Box:
    """One guest: its QEMU, its console, a shell in it."""

    def __init__(self, name: str, index: int, cfg: GuestConfig, net: list[str], log: Path) -> None:
        self.name = name
        self.index = index
        self.cfg = cfg
        self.address = f"{NETWORK}.{index + 1}"
        mac = f"52:54:00:4b:42:{index + 1:02x}"
        self.cmd = [
            *cfg.qemu,
            *net,
            "-device",
            f"{cfg.net_device},netdev=net0,mac={mac}",
            "-chardev",
            "stdio,id=con,signal=off",
            "-serial",
            "chardev:con",
        ]
        self.log_path = log
        self.token = "box" + secrets.token_hex(5)
        self.child: pexpect.spawn | None = None

    def start(self) -> None:
        logfile = open(self.log_path, "w", encoding="utf-8", errors="replace")  # noqa: SIM115
        self.child = pexpect.spawn(
            self.cmd[0],
            self.cmd[1:],
            encoding="utf-8",
            codec_errors="replace",
            timeout=None,
            maxread=65536,
            echo=False,
        )
        self.child.logfile_read = logfile

    def wait_shell(self, timeout: float) -> None:
        """Until a quiet root shell answers (logging in if asked)."""
        child = self._child()
        deadline = time.monotonic() + timeout
        prompt = re.compile(self.cfg.prompt)
        login = re.compile(re.escape(self.cfg.login_prompt))
        while True:
            which = child.expect([prompt, login, pexpect.TIMEOUT], timeout=self._left(deadline))
            if which == 0:
                break
            if which == 1:
                child.sendline(self.cfg.username)
                continue
            raise BoxError(f"box {self.name}: no shell within {timeout:g} s")
        ready = f"{self.token}_rea\\dy"
        while True:  # probe until the shell answers (backslash: see tests/rig-run)
            child.send(f"\necho {ready}\n")
            try:
                child.expect(f"{self.token}_ready", timeout=PROBE_INTERVAL * 4)
                break
            except pexpect.TIMEOUT:
                if time.monotonic() > deadline:
                    raise BoxError(f"box {self.name}: the shell does not answer") from None
        child.send(f"stty -echo; PS1=''; PS2=''; printf '%s_%s\\n' {self.token} quiet\n")
        child.expect(f"{self.token}_quiet\r*\n", timeout=self._left(deadline))

    def run(self, cmd: str, timeout: float = 60.0) -> tuple[str, int]:
        """Run ``cmd`` with sh; (stdout and stderr, exit status).  The
        timeout is in x86_64 seconds, times the environment's factor."""
        child = self._child()
        scaled = timeout * self.cfg.timeout_factor
        quoted = shlex.quote(cmd)
        child.send(
            f"printf '%s_%s\\n' {self.token} start; sh -c {quoted} </dev/null 2>&1; "
            f"printf '\\n%s_%s_%d\\n' {self.token} end $?\n"
        )
        try:
            child.expect(f"{self.token}_start\r*\n", timeout=scaled)
            child.expect(rf"\r*\n{self.token}_end_(\d+)\r*\n", timeout=scaled)
        except pexpect.TIMEOUT:
            raise BoxError(
                f"box {self.name}: `{cmd}` did not finish within {scaled:g} s; "
                f"console so far: {child.before!r}"
            ) from None
        output = (child.before or "").replace("\r\n", "\n").replace("\r", "")
        return output, int(child.match.group(1))

    def check(self, cmd: str, timeout: float = 60.0) -> str:
        """run(), and BoxError unless it exits 0."""
        output, rc = self.run(cmd, timeout)
        if rc != 0:
            raise BoxError(f"box {self.name}: `{cmd}` exited {rc}:\n{output}")
        return output

    def close(self) -> None:
        if self.child is not None:
            with contextlib.suppress(Exception):
                self.child.terminate(force=True)
            if self.child.logfile_read:
                self.child.logfile_read.close()
            self.child = None

    def _child(self) -> pexpect.spawn:
        if self.child is None:
            raise BoxError(f"box {self.name} is not running")
        return self.child

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.1, deadline - time.monotonic())


class Boxes:
    """Two boxes wired together (see the module's docstring)."""

    def __init__(
        self, cfg: GuestConfig, log_dir: Path, names: tuple[str, str] = ("a", "b")
    ) -> None:
        self.cfg = cfg
        self.tmp = tempfile.mkdtemp(prefix="kbus-boxes-")
        socks = [os.path.join(self.tmp, f"{n}.sock") for n in names]
        log_dir.mkdir(parents=True, exist_ok=True)
        self.boxes: dict[str, Box] = {}
        for i, name in enumerate(names):
            other = socks[1 - i]
            net = [
                "-netdev",
                f"dgram,id=net0,local.type=unix,local.path={socks[i]},"
                f"remote.type=unix,remote.path={other}",
            ]
            self.boxes[name] = Box(name, i, cfg, net, log_dir / f"console-{name}.log")

    def __getitem__(self, name: str) -> Box:
        return self.boxes[name]

    def __iter__(self) -> Iterator[Box]:
        return iter(self.boxes.values())

    def start(self, boot_timeout: float = 300.0) -> None:
        """Boot both (at the same time), make each ready and put it on the
        network; every box can then ping the others."""
        for box in self:
            box.start()
        for box in self:
            box.wait_shell(boot_timeout * self.cfg.timeout_factor)
            box.check(f"{self.cfg.setup} >/dev/null", 120)
            box.check(
                "modprobe -q virtio_net 2>/dev/null; "
                "for i in $(seq 50); do [ -e /sys/class/net/eth0 ] && break; sleep 0.1; done; "
                f"ip link set eth0 up && ip addr add {box.address}/24 dev eth0",
                60,
            )
        for box in self:
            others = [b.address for b in self if b is not box]
            for address in others:
                box.check(
                    f"for i in $(seq 20); do ping -c 1 -W 1 {address} >/dev/null && exit 0; "
                    "done; exit 1",
                    60,
                )

    def close(self) -> None:
        for box in self:
            box.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> Boxes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
