# SPDX-License-Identifier: MIT
"""Checks of the STB image (Buildroot: br2-external/, board/stb/, overlay/) as it boots.

kbus is loaded at boot by overlay/etc/init.d/S50kbus with the settings of
/etc/default/kbus, its nodes are root:kbus with mode 0660, a process outside
group kbus gets EACCES opening /dev/kbus0 (and one inside does not), the STB
services run when the image has them, and the image's own kbus Python
package, libkbus utilities and kernel are there.  On QEMU only (lg_feature
"qemu"): the image files on the host.

Image environments only (lg_feature "stb-image"): tests/env/image-qemu.yaml
(`make test-image`), tests/env/board-example.yaml.  The guest is booted
afresh for this module: the guest suites, run before, reload kbus with other
settings and stop the services.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from pathlib import Path

import pytest
from labgrid import Target
from labgrid.strategy import Strategy

pytestmark = pytest.mark.lg_feature("stb-image")

REPO = Path(__file__).resolve().parent.parent
GuestRun = Callable[..., tuple[str, int]]
NOBODY = 65534
STB_SERVICES_INIT = "/etc/init.d/S60stb-services"

# Opens /dev/kbus0 as uid/gid NOBODY with the given supplementary groups and
# prints the outcome as JSON: {"ok": true} or {"errno": N}.
OPEN_AS_NOBODY = f"""
import json, os, sys
os.setgroups([int(g) for g in sys.argv[1:]])
os.setgid({NOBODY})
os.setuid({NOBODY})
try:
    os.close(os.open("/dev/kbus0", os.O_RDWR))
    print(json.dumps({{"ok": True}}))
except OSError as e:
    print(json.dumps({{"errno": e.errno}}))
"""


@pytest.fixture(scope="module")
def booted(strategy: Strategy, guest_run: GuestRun) -> GuestRun:
    """`guest_run` on a freshly booted guest (no test has touched it yet)."""
    strategy.transition("off")
    strategy.transition("shell")
    return guest_run


@pytest.fixture(scope="module")
def kbus_settings(booted: GuestRun) -> dict[str, str]:
    """KBUS_DEVICES, KBUS_MODE, KBUS_GROUP as S50kbus sees them (its defaults
    overridden by /etc/default/kbus)."""
    output, rc = booted(
        "KBUS_DEVICES=1 KBUS_MODE=0660 KBUS_GROUP=kbus; "
        "[ -r /etc/default/kbus ] && . /etc/default/kbus; "
        'echo "$KBUS_DEVICES $KBUS_MODE $KBUS_GROUP"'
    )
    assert rc == 0, output
    devices, mode, group = output.split()
    return {"devices": devices, "mode": mode, "group": group}


def guest_json(run: GuestRun, script: str, *args: str) -> dict:
    output, rc = run(f"python3 -c {shlex.quote(script)} {' '.join(args)}")
    assert rc == 0, output
    return json.loads(output.splitlines()[-1])


def test_kernel_is_linux_6_1(booted: GuestRun) -> None:
    output, rc = booted("uname -r; uname -m")
    assert rc == 0, output
    release, machine = output.split("\n")
    assert release.startswith("6.1."), release
    assert machine.startswith("armv7"), machine


def test_kbus_is_loaded_at_boot_by_the_init_script(
    booted: GuestRun, kbus_settings: dict[str, str]
) -> None:
    output, rc = booted("/etc/init.d/S50kbus status")
    assert rc == 0, output
    # the module parameters are those of /etc/default/kbus: S50kbus loaded
    # it, not the test harness's plain `modprobe kbus` (mode 0666)
    output, rc = booted(
        "cat /sys/module/kbus/parameters/kbus_num_devices /sys/module/kbus/parameters/kbus_dev_mode"
    )
    assert rc == 0, output
    num_devices, dev_mode = output.split("\n")
    assert num_devices == kbus_settings["devices"]
    assert int(dev_mode) == int(kbus_settings["mode"], 8), oct(int(dev_mode))


def test_nodes_are_root_kbus_0660(booted: GuestRun, kbus_settings: dict[str, str]) -> None:
    nodes = guest_json(
        booted,
        "import grp, json, os, pwd, stat\n"
        "out = {}\n"
        "for n in sorted(os.listdir('/dev')):\n"
        "    if n.startswith('kbus'):\n"
        "        st = os.stat('/dev/' + n)\n"
        "        out[n] = [stat.S_ISCHR(st.st_mode), oct(stat.S_IMODE(st.st_mode)),\n"
        "                  pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name]\n"
        "print(json.dumps(out))",
    )
    want_names = [f"kbus{i}" for i in range(int(kbus_settings["devices"]))]
    assert sorted(nodes) == want_names
    for name, (is_char, mode, owner, group) in nodes.items():
        assert is_char, f"/dev/{name} is not a character device"
        assert (mode, owner, group) == ("0o660", "root", kbus_settings["group"]), (
            f"/dev/{name}: {mode} {owner}:{group}"
        )
    assert kbus_settings["mode"] == "0660"


def test_a_user_outside_group_kbus_gets_eacces(booted: GuestRun) -> None:
    result = guest_json(booted, OPEN_AS_NOBODY)
    assert result == {"errno": 13}, f"open(/dev/kbus0) as uid {NOBODY}, no groups: {result}"


def test_a_member_of_group_kbus_may_open(booted: GuestRun) -> None:
    output, rc = booted("sed -n 's/^kbus:[^:]*:\\([0-9]*\\):.*/\\1/p' /etc/group")
    assert rc == 0 and output.isdigit(), f"no group kbus in /etc/group: {output}"
    result = guest_json(booted, OPEN_AS_NOBODY, output)
    assert result == {"ok": True}, f"open(/dev/kbus0) as uid {NOBODY} in group kbus: {result}"


def test_stb_services_are_running(booted: GuestRun) -> None:
    _, rc = booted(f"test -x {STB_SERVICES_INIT}")
    if rc != 0:
        pytest.skip("the image has no STB services")
    output, rc = booted(f"{STB_SERVICES_INIT} status")
    assert rc == 0, f"{STB_SERVICES_INIT} status: {output}"
    output, rc = booted(
        'STB_SERVICES="logger decoder recorder" STB_RUN_DIR=/run/stb; '
        ". /etc/default/stb-services; "
        'for s in $STB_SERVICES; do test -s "$STB_RUN_DIR/$s.ready" || echo "$s not ready"; done'
    )
    assert rc == 0 and output == "", output


def test_the_images_kbus_python_package(booted: GuestRun) -> None:
    output, rc = booted("cd / && python3 -c 'import kbus; print(kbus.__file__)'")
    assert rc == 0, output
    assert output.startswith("/usr/lib/python3"), output


def test_the_images_libkbus_utilities(booted: GuestRun) -> None:
    _, rc = booted("test -x /usr/bin/kmsg")
    if rc != 0:
        pytest.skip("the image has no kbus-utils")
    output, rc = booted("kmsg --help >/dev/null && ls /usr/lib/libkbus.so.1")
    assert rc == 0, output


@pytest.mark.lg_feature("qemu")
def test_image_files_on_the_host(target: Target) -> None:
    # the board's images/ folder (the option image_dir: make test-image sets
    # it from the output folder), else out/br/BOARD/images of the repository
    board = target.env.config.get_target_option(target.name, "image_board")
    image_dir = target.env.config.get_target_option(target.name, "image_dir", "")
    images = Path(image_dir) if image_dir else REPO / "out" / "br" / str(board) / "images"
    out = images.parent
    for name in ("zImage", "rootfs.ext4", "start-qemu.sh"):
        assert (images / name).is_file(), f"{images / name} missing"
    kconfig = (out / "build" / "linux-custom" / ".config").read_text().splitlines()
    for option in (
        "CONFIG_MODULE_UNLOAD=y",
        "CONFIG_COMPAT_32BIT_TIME=y",
        "CONFIG_DEVTMPFS_MOUNT=y",
        "CONFIG_9P_FS=y",
        "CONFIG_VIRTIO_BLK=y",
    ):
        assert option in kconfig, f"kernel configuration lacks {option}"
