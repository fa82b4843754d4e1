# SPDX-License-Identifier: MIT
"""Run last (file name order): after the whole session, with everything
closed, the module unloads cleanly (no leaked references) and loads again."""

from __future__ import annotations

import gc
import os

from kbus import Announcement

import kbus_util as util
from kbus_util import KsockFactory


def test_rmmod_fails_while_a_ksock_is_open(ksock: KsockFactory) -> None:
    k = ksock()
    res = util.rmmod()
    assert res.returncode != 0, "the module must be pinned by an open Ksock"
    assert util.module_loaded()
    k.close()


def test_rmmod_succeeds_after_everything_is_closed_and_modprobe_works_again(
    ksock: KsockFactory,
) -> None:
    gc.collect()
    assert util.ksock_ids_in_stats(0) == []
    res = util.rmmod()
    assert res.returncode == 0, f"rmmod kbus failed: {res.stdout}{res.stderr}"
    assert not os.path.isdir("/sys/module/kbus")
    assert not os.path.exists(util.STATS_PATH)
    assert not os.path.exists(util.BINDINGS_PATH)
    assert util.wait_for_path("/dev/kbus0", present=False), "/dev/kbus0 not removed"
    res = util.modprobe()
    assert res.returncode == 0, f"modprobe kbus failed: {res.stdout}{res.stderr}"
    util.wait_for_device(0)
    assert util.num_devices_param() == 1
    k = ksock()
    assert k.ksock_id() == 1
    k.bind("$.Back")
    assert k.send_msg(Announcement("$.Back")).serial_num == 1
    assert util.one_msg(k).name == "$.Back"
