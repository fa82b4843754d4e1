# SPDX-License-Identifier: MIT
"""What the STB guest tests share: the image's STB policy and the users the
services run as (overlay/etc/kbus/policy.d, overlay/etc/default/stb-services,
package/stb-services/stb-services.mk)."""

from __future__ import annotations

import grp
import pwd
import subprocess

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
