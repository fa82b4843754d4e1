# SPDX-License-Identifier: MIT
"""labgrid strategy for the QEMU test rig: BusyBox init, a root shell on the console.

labgrid's own ShellStrategy waits for `systemctl is-system-running`, which a
BusyBox system does not have.  This one boots QEMU, waits for the shell
prompt, and makes the rig ready with `rig-setup` (mounts, the 9p share at
/mnt/share, `modprobe kbus`).  States: off, shell.  Imported by
tests/env/rig-*.yaml (`imports:`), which registers it with labgrid.
"""

from __future__ import annotations

import enum
from typing import Any

import attr
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry


class Status(enum.Enum):
    unknown = 0
    off = 1
    shell = 2


@target_factory.reg_driver
@attr.s(eq=False)
class BusyBoxShellStrategy(Strategy):
    """Switch the rig between off and a ready root shell."""

    bindings = {  # noqa: RUF012 (labgrid reads this class attribute)
        "power": "PowerProtocol",
        "console": "ConsoleProtocol",
        "shell": "ShellDriver",
    }

    status: Status = attr.ib(default=Status.unknown)
    setup_command: str = attr.ib(
        default="rig-setup --share --load", validator=attr.validators.instance_of(str)
    )
    setup_timeout: float = attr.ib(default=120.0, converter=float)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()

    @never_retry
    @step(args=["status"])
    def transition(self, status: Status | str, *, step: Any = None) -> None:  # noqa: ANN401
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            return
        if status == Status.off:
            self.target.deactivate(self.shell)
            self.target.deactivate(self.console)
            self.target.activate(self.power)
            self.power.off()
        elif status == Status.shell:
            self.transition(Status.off)
            self.target.activate(self.power)
            self.power.on()
            self.target.activate(self.console)
            self.target.activate(self.shell)
            output, _, rc = self.shell.run(self.setup_command, timeout=self.setup_timeout)
            if rc != 0:
                raise StrategyError(f"`{self.setup_command}` failed ({rc}): {' '.join(output)}")
        else:
            raise StrategyError(f"no transition found from {self.status} to {status}")
        self.status = status

    @never_retry
    @step(args=["status"])
    def force(self, status: Status | str, *, step: Any = None) -> None:  # noqa: ANN401
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.off:
            self.target.deactivate(self.shell)
            self.target.activate(self.power)
        elif status == Status.shell:
            self.target.activate(self.power)
            self.target.activate(self.shell)
        else:
            raise StrategyError(f"can not force state {status}")
        self.status = status
