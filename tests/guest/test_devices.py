# SPDX-License-Identifier: MIT
"""Devices, module parameters and NEWDEVICE (§2.1, §2.2, §6.17); device
nodes are mode 0666 by default (module parameter kbus_dev_mode)."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

import pytest
from kbus import Announcement, Ksock, Request

import kbus_raw as raw
import kbus_util as util
from kbus_util import KsockFactory, raises_errno

Loader = Callable[..., None]


def _mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _is_chardev(path: str) -> bool:
    return stat.S_ISCHR(os.stat(path).st_mode)


def test_dev_kbus0_is_a_character_device_with_mode_0666() -> None:
    assert _is_chardev("/dev/kbus0")
    assert _mode("/dev/kbus0") == 0o666


def test_num_devices_parameter_is_read_only_in_sysfs() -> None:
    assert _mode(util.NUM_DEVICES_PARAM) == 0o444
    assert util.num_devices_param() >= 1


def test_default_load_creates_one_device(fresh_module: None) -> None:
    assert util.num_devices_param() == 1
    assert os.path.exists("/dev/kbus0")
    assert util.wait_for_path("/dev/kbus1", present=False)


def test_module_parameter_num_devices_3_creates_three_devices(
    module_loader: Loader, ksock: KsockFactory
) -> None:
    module_loader("kbus_num_devices=3")
    assert util.num_devices_param() == 3
    for n in range(3):
        util.wait_for_device(n)
        assert _is_chardev(f"/dev/kbus{n}")
        assert _mode(f"/dev/kbus{n}") == 0o666
        assert ksock(n).ksock_id() == 1, "every device has its own Ksock ids"
    assert not os.path.exists("/dev/kbus3")
    stats = util.stats_text()
    assert [line[:7] for line in stats.splitlines() if line.startswith("dev")] == [
        "dev  0:",
        "dev  1:",
        "dev  2:",
    ]


@pytest.mark.parametrize("value", ["0", "257", "1000", "-1"])
def test_module_parameter_num_devices_out_of_range_fails_to_load(
    module_loader: Loader, value: str
) -> None:
    res = util.rmmod()
    assert res.returncode == 0, res.stderr
    res = util.modprobe(f"kbus_num_devices={value}")
    assert res.returncode != 0, "the load must fail"
    assert not os.path.isdir("/sys/module/kbus")
    assert not os.path.exists(util.STATS_PATH)


def test_module_parameter_dev_mode_sets_the_node_mode(
    module_loader: Loader, ksock: KsockFactory
) -> None:
    module_loader("kbus_dev_mode=0600", "kbus_num_devices=2")
    for n in range(2):
        util.wait_for_device(n)
        assert _mode(f"/dev/kbus{n}") == 0o600
    new = ksock().new_device()
    util.wait_for_device(new)
    assert _mode(f"/dev/kbus{new}") == 0o600


def test_node_mode_is_0666_again_after_a_default_load(module_loader: Loader) -> None:
    module_loader("kbus_dev_mode=0600")
    assert _mode("/dev/kbus0") == 0o600
    module_loader()
    assert _mode("/dev/kbus0") == 0o666


def test_opening_a_device_that_does_not_exist_gives_enoent(ksock: KsockFactory) -> None:
    missing = util.num_devices_param() + 10
    with raises_errno(errno.ENOENT):
        ksock(missing)
    with pytest.raises(FileNotFoundError):
        ksock(missing, "r")


def test_opening_a_negative_device_number_gives_enoent(ksock: KsockFactory) -> None:
    with raises_errno(errno.ENOENT):
        ksock(-1)


def test_ksock_mode_must_be_r_or_rw() -> None:
    with pytest.raises(ValueError, match="Ksock mode should be 'r' or 'rw', not 'w'"):
        Ksock(0, "w")


# --------------------------------------------------------------------------
# NEWDEVICE


def test_newdevice_returns_the_current_count_and_increments_it(
    ksock: KsockFactory,
) -> None:
    k = ksock()
    count = util.num_devices_param()
    fd = k.fileno()
    ret, new = raw.u32_ioctl(fd, "NEWDEVICE")
    assert (ret, new) == (0, count)
    assert util.num_devices_param() == count + 1
    assert k.new_device() == count + 1
    assert util.num_devices_param() == count + 2


def test_newdevice_node_appears_and_can_be_opened(ksock: KsockFactory) -> None:
    new = ksock().new_device()
    k = util.open_retry(ksock, new)  # may appear asynchronously: retried
    assert _is_chardev(f"/dev/kbus{new}")
    assert _mode(f"/dev/kbus{new}") == 0o666
    assert k.ksock_id() == 1, "a new device starts its own Ksock ids"
    assert k.send_msg(Announcement("$.New")).serial_num == 1


def test_new_device_works_from_any_device(ksock: KsockFactory) -> None:
    first = ksock().new_device()
    second = util.open_retry(ksock, first).new_device()
    assert second == first + 1
    util.open_retry(ksock, second)


def test_devices_share_no_bindings_or_messages(ksock: KsockFactory) -> None:
    new = ksock().new_device()
    a1, b1 = util.open_retry(ksock, new), ksock(new)
    a0, b0 = ksock(0), ksock(0)
    a0.bind("$.Dev.Name", replier=True)
    a1.bind("$.Dev.Name", replier=True)  # no EADDRINUSE: another device
    b0.bind("$.Dev.*")
    b1.bind("$.Dev.*")
    sent = b1.send_msg(Request("$.Dev.Name", b"on the new device"))
    assert a0.num_messages() == 0 and b0.num_messages() == 0
    assert util.one_msg(a1).id == sent
    assert util.one_msg(b1).id == sent
    assert b0.find_replier("$.Dev.Name") == a0.ksock_id()


def test_device_wide_settings_are_per_device(ksock: KsockFactory) -> None:
    new = ksock().new_device()
    k1 = util.open_retry(ksock, new)
    k0 = ksock(0)
    k0.report_replier_binds(True)
    k0.kernel_module_verbose(True)
    k0.set_max_message_size(500)
    assert k1.report_replier_binds(just_ask=True) == 0
    assert k1.kernel_module_verbose(just_ask=True) == 0
    assert k1.max_message_size() == raw.DEFAULT_MAX_MSG_SIZE


def test_newdevice_beyond_the_limit_gives_einval(
    module_loader: Loader, ksock: KsockFactory
) -> None:
    module_loader("kbus_num_devices=255")
    assert util.num_devices_param() == 255
    k = ksock()
    assert k.new_device() == 255
    util.open_retry(ksock, 255)
    with raises_errno(errno.EINVAL):
        k.new_device()
    assert util.num_devices_param() == 256
