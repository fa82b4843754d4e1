# SPDX-License-Identifier: MIT
"""Who may open /dev/kbusN: the product loads kbus with overlay/etc/init.d/
S50kbus, which passes kbus_dev_mode=$KBUS_MODE (0660 in overlay/etc/default/
kbus) and gives the nodes to group $KBUS_GROUP (kbus, gid 150, in
overlay/etc/group).  A process of another user outside that group gets
EACCES; a member (supplementary or primary group) gets in.  The rig runs as
root: each open is tried in a forked child that drops to uid/gid nobody
(65534) with the given groups.  Afterwards kbus is loaded with its defaults
again (the module_loader fixture), so other tests are unaffected."""

from __future__ import annotations

import errno
import grp
import os
import stat
import subprocess
from collections.abc import Callable

import pytest

import kbus_util as util

Loader = Callable[..., None]

KBUS_INIT = "/etc/init.d/S50kbus"
NOBODY = 65534


def kbus_gid() -> int:
    return grp.getgrnam("kbus").gr_gid


def open_as(uid: int, gid: int, groups: list[int], path: str, flags: int) -> int:
    """0 if a child running as uid/gid with these supplementary groups could
    open path, else the errno it got."""
    pid = os.fork()
    if pid == 0:
        code = 100
        try:
            os.setgroups(groups)
            os.setgid(gid)
            os.setuid(uid)
            fd = os.open(path, flags)
            os.close(fd)
            code = 0
        except OSError as exc:
            code = exc.errno if exc.errno else 101
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"child ended with status {status:#x}"
    return os.WEXITSTATUS(status)


@pytest.fixture
def loaded_by_init_script(module_loader: Loader) -> None:
    """kbus loaded the way the product boots it (S50kbus with /etc/default/
    kbus); module_loader's teardown loads the default module again."""
    module_loader()  # closes the test's Ksocks, default load
    res = util.rmmod()
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [KBUS_INIT, "start"], capture_output=True, text=True, timeout=60, check=False
    )
    assert res.returncode == 0 and "OK" in res.stdout, res.stdout + res.stderr
    util.wait_for_device(0)


def test_init_script_settings_are_mode_0660_and_group_kbus() -> None:
    settings = util.read_text("/etc/default/kbus")
    assert "KBUS_MODE=0660" in settings.splitlines()
    assert "KBUS_GROUP=kbus" in settings.splitlines()
    assert kbus_gid() == 150


def test_init_script_gives_the_node_mode_0660_and_group_kbus(
    loaded_by_init_script: None,
) -> None:
    st = os.stat("/dev/kbus0")
    assert stat.S_ISCHR(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660, oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (0, kbus_gid())
    assert util.read_text("/sys/module/kbus/parameters/kbus_dev_mode").strip() == "432"


@pytest.mark.parametrize("flags", [os.O_RDWR, os.O_RDONLY], ids=["rw", "ro"])
def test_a_user_outside_group_kbus_gets_eacces(
    loaded_by_init_script: None, flags: int
) -> None:
    assert open_as(NOBODY, NOBODY, [], "/dev/kbus0", flags) == errno.EACCES


@pytest.mark.parametrize("flags", [os.O_RDWR, os.O_RDONLY], ids=["rw", "ro"])
def test_a_member_of_group_kbus_gets_in(
    loaded_by_init_script: None, flags: int
) -> None:
    gid = kbus_gid()
    assert open_as(NOBODY, NOBODY, [gid], "/dev/kbus0", flags) == 0
    assert open_as(NOBODY, gid, [], "/dev/kbus0", flags) == 0


def test_with_the_default_mode_0666_anyone_gets_in(module_loader: Loader) -> None:
    """The contrast (and what the other tests run with): the default load
    (kbus_dev_mode 0666, group root) lets a non-member in."""
    module_loader()
    st = os.stat("/dev/kbus0")
    assert stat.S_IMODE(st.st_mode) == 0o666
    assert open_as(NOBODY, NOBODY, [], "/dev/kbus0", os.O_RDWR) == 0
