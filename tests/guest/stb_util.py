# SPDX-License-Identifier: MIT
"""What the STB guest tests share: the image's STB policy and the users the
services run as (overlay/etc/kbus/policy.d, overlay/etc/default/stb-services,
package/stb-services/stb-services.mk)."""

from __future__ import annotations

import grp
import pwd
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import kbus_util as util

INIT = "/etc/init.d/S60stb-services"
RUN_DIR = "/run/stb"
SERVICES = ("logger", "decoder", "recorder")  # in start order
POLICY_DIR = "/etc/kbus/policy.d"
SERVICE_USERS = {
    "logger": "stb-logger",
    "decoder": "stb-decoder",
    "recorder": "stb-recorder",
}


def kbus_policy(*args: str) -> None:
    """Run kbus-policy on device 0; it must succeed."""
    res = subprocess.run(
        ["kbus-policy", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0, (
        f"kbus-policy {' '.join(args)}: {res.stdout}{res.stderr}"
    )


def load_stb_policy() -> None:
    kbus_policy("load", POLICY_DIR)


def clear_policy() -> None:
    kbus_policy("clear")


def gid(name: str) -> int:
    return grp.getgrnam(name).gr_gid


def uid(name: str) -> int:
    return pwd.getpwnam(name).pw_uid


def user_groups(user: str) -> list[int]:
    """The supplementary groups the group database gives ``user``."""
    return [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]


def ready(name: str) -> dict[str, int]:
    """pid and ksock of a running service, from its ready file."""
    with open(f"{RUN_DIR}/{name}.ready") as f:
        fields = dict(w.split("=", 1) for w in f.read().split())
    return {"pid": int(fields["pid"]), "ksock": int(fields["ksock"])}


@contextmanager
def services_under_policy() -> Iterator[None]:
    """The services as the image runs them: the STB policy loaded (the
    conftest clears it at session start), each service as its own user.
    Afterwards they are stopped, must have left no Ksock and no binding on
    device 0, and the policy is cleared."""
    load_stb_policy()
    res = subprocess.run([INIT, "start"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    for name in SERVICES:
        ready(name)
    yield
    res = subprocess.run([INIT, "stop"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert util.ksock_ids_in_stats(0) == [], "a service left a Ksock open"
    assert util.binding_lines(0) == []
    clear_policy()
