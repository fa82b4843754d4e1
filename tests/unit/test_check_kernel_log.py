# SPDX-License-Identifier: MIT
"""tests/debug/check_kernel_log.py: which kernel log lines are bug reports.

The samples are shaped like the reports of Linux 6.1 (KASAN, KCSAN, lockdep,
RCU lockdep, DEBUG_ATOMIC_SLEEP, WARN, BUG, SLUB, RCU stalls, ARM oopses,
kmemleak), as dmesg prints them and as they reach a serial console between
shell output.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "debug" / "check_kernel_log.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_kernel_log", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


ckl = _load()

CLEAN_BOOT = """\
[    0.000000] Linux version 6.1.176-kbus-debug (root@host) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP
[    0.000000] Command line: console=ttyS0 loglevel=5 panic=-1 cryptomgr.notests
[    0.012345] kasan: KernelAddressSanitizer initialized
[    0.345678] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    0.345679] ... MAX_LOCKDEP_SUBCLASSES:  8
[    1.234567] kmemleak: Kernel memory leak detector initialized (mem pool available: 15690)
[    2.000001] 9pnet: Installing 9P2000 support
[    3.100000] kbus: loading out-of-tree module taints kernel.
[    3.200000] kbus: 1 device(s), /dev/kbus0
"""

FAULT_INJECTION = """\
[   40.000001] FAULT_INJECTION: forcing a failure.
[   40.000001] name failslab, interval 1, probability 0, space 0, times 0
[   40.000002] CPU: 1 PID: 301 Comm: python3 Tainted: G           O       6.1.176-kbus-debug #1
[   40.000003] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2
[   40.000004] Call Trace:
[   40.000005]  <TASK>
[   40.000006]  dump_stack_lvl+0x5b/0x77
[   40.000007]  should_fail_ex.cold+0x5/0xa
[   40.000008]  __should_failslab+0xa1/0xc0
[   40.000009]  kmem_cache_alloc+0x3e/0x330
[   40.000010]  kbus_qentry_alloc+0x1a/0x30 [kbus]
[   40.000011]  </TASK>
[   40.000020] python3: page allocation failure: order:0, mode:0xcc0(GFP_KERNEL), nodemask=(null)
"""

KASAN = """\
[   55.123456] ==================================================================
[   55.123457] BUG: KASAN: use-after-free in kbus_push+0x2b/0x160 [kbus]
[   55.123458] Read of size 8 at addr ffff888003a1c2e8 by task python3/312
[   55.123459]
[   55.123460] CPU: 0 PID: 312 Comm: python3 Tainted: G           O       6.1.176-kbus-debug #1
[   55.123461] Call Trace:
[   55.123462]  kasan_report+0xbf/0xf0
[   55.123463]  kbus_push+0x2b/0x160 [kbus]
[   55.123464] ==================================================================
"""

LOCKDEP_CIRCULAR = """\
[   60.000000] ======================================================
[   60.000001] WARNING: possible circular locking dependency detected
[   60.000002] 6.1.176-kbus-debug #1 Tainted: G           O
[   60.000003] ------------------------------------------------------
[   60.000004] python3/320 is trying to acquire lock:
[   60.000005] ffff888003b0e0b8 (&ks->io_lock){+.+.}-{3:3}, at: kbus_poll+0x5c/0x1f0 [kbus]
"""

RCU = """\
[   61.000000] =============================
[   61.000001] WARNING: suspicious RCU usage
[   61.000002] 6.1.176-kbus-debug #1 Tainted: G           O
[   61.000003] -----------------------------
[   61.000004] include/linux/rcupdate.h:737 rcu_read_lock() used illegally while idle!
"""

SLEEPING = """\
[   62.000000] BUG: sleeping function called from invalid context at mm/slab.h:723
[   62.000001] in_atomic(): 1, irqs_disabled(): 0, non_block: 0, pid: 330, name: python3
[   62.000002] preempt_count: 1, expected: 0
"""

WARN = """\
[   63.000000] ------------[ cut here ]------------
[   63.000001] WARNING: CPU: 1 PID: 340 at kbus_send.c:263 kbus_route_run+0x3f1/0x480 [kbus]
[   63.000002] Modules linked in: kbus(O)
[   63.000003] CPU: 1 PID: 340 Comm: python3 Tainted: G           O       6.1.176-kbus-debug #1
[   63.000004] ---[ end trace 0000000000000000 ]---
"""

OOPS = """\
[   64.000000] BUG: kernel NULL pointer dereference, address: 0000000000000010
[   64.000001] #PF: supervisor read access in kernel mode
[   64.000002] Oops: 0000 [#1] PREEMPT SMP KASAN
[   64.000003] CPU: 0 PID: 350 Comm: rmmod Tainted: G           O       6.1.176-kbus-debug #1
"""

KERNEL_BUG = """\
[   65.000000] ------------[ cut here ]------------
[   65.000001] kernel BUG at mm/slub.c:435!
"""

LIST_CORRUPTION = """\
[   66.000000] list_del corruption. prev->next should be ffff888003c1d0a8, but was dead000000000100
"""

HUNG_TASK = """\
[  245.000000] INFO: task python3:360 blocked for more than 120 seconds.
[  245.000001]       Tainted: G           O       6.1.176-kbus-debug #1
"""

KMEMLEAK_FILE = """\
unreferenced object 0xffff888003d2a400 (size 128):
  comm "python3", pid 371, jiffies 4294937813 (age 12.340s)
  hex dump (first 32 bytes):
    6b 62 75 73 00 00 00 00 00 00 00 00 00 00 00 00  kbus............
  backtrace:
    [<ffffffff8135b0d1>] __kmem_cache_alloc_node+0x1b1/0x2e0
    [<ffffffffc0002a1e>] kbus_bind+0x8e/0x2a0 [kbus]
unreferenced object 0xffff888003d2a500 (size 64):
  comm "python3", pid 371, jiffies 4294937813 (age 12.340s)
  backtrace:
    [<ffffffff8135b0d1>] __kmem_cache_alloc_node+0x1b1/0x2e0
"""

# KCSAN (kernel/kcsan/report.c): a race between two kbus functions
KCSAN_KBUS = """\
[   80.100000] ==================================================================
[   80.100001] BUG: KCSAN: data-race in kbus_poll [kbus] / kbus_write_to_recipients [kbus]
[   80.100002]
[   80.100003] write to 0xffff8880046f2c18 of 4 bytes by task 405 on cpu 1:
[   80.100004]  kbus_write_to_recipients+0x2b3/0x580 [kbus]
[   80.100005]  kbus_send+0x3c1/0x6f0 [kbus]
[   80.100006]  kbus_ioctl+0x1a2/0xd40 [kbus]
[   80.100007]  __x64_sys_ioctl+0xb7/0xf0
[   80.100008]  do_syscall_64+0x3b/0x90
[   80.100009]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[   80.100010]
[   80.100011] read to 0xffff8880046f2c18 of 4 bytes by task 406 on cpu 0:
[   80.100012]  kbus_poll+0x8f/0x130 [kbus]
[   80.100013]  do_sys_poll+0x3a2/0x7b0
[   80.100014]  __x64_sys_poll+0x6a/0x1f0
[   80.100015]  do_syscall_64+0x3b/0x90
[   80.100016]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[   80.100017]
[   80.100018] value changed: 0x00000000 -> 0x00000001
[   80.100019]
[   80.100020] Reported by Kernel Concurrency Sanitizer on:
[   80.100021] CPU: 0 PID: 406 Comm: python3 Tainted: G           O       6.1.176-kbus-kcsan #1
[   80.100022] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2
[   80.100023] ==================================================================
"""

# KCSAN: a race of unknown origin in a core function called from kbus
KCSAN_KBUS_UNKNOWN_ORIGIN = """\
[   81.000000] ==================================================================
[   81.000001] BUG: KCSAN: data-race in __list_add_valid+0x31/0xd0
[   81.000002]
[   81.000003] race at unknown origin, with read to 0xffff888004a1b008 of 8 bytes \
by task 410 on cpu 1:
[   81.000004]  __list_add_valid+0x31/0xd0
[   81.000005]  kbus_queue_push+0x7e/0x1c0 [kbus]
[   81.000006]  kbus_send+0x3c1/0x6f0 [kbus]
[   81.000007]
[   81.000008] value changed: 0xffff888004a1b000 -> 0xffff888004c2d100
[   81.000009]
[   81.000010] Reported by Kernel Concurrency Sanitizer on:
[   81.000011] CPU: 1 PID: 410 Comm: kbus-fuzz Tainted: G           O       6.1.176-kbus-kcsan #1
[   81.000012] ==================================================================
"""

# KCSAN: the kernel's own race, no kbus frame in it
KCSAN_CORE = """\
[   82.000000] ==================================================================
[   82.000001] BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_nohz_next_event
[   82.000002]
[   82.000003] write to 0xffffffff8294b2d8 of 4 bytes by task 0 on cpu 1:
[   82.000004]  tick_nohz_idle_stop_tick+0x1c5/0x4a0
[   82.000005]  do_idle+0x9d/0x110
[   82.000006]
[   82.000007] read to 0xffffffff8294b2d8 of 4 bytes by task 0 on cpu 0:
[   82.000008]  tick_nohz_next_event+0x5e/0x2b0
[   82.000009]  do_idle+0x9d/0x110
[   82.000010]
[   82.000011] Reported by Kernel Concurrency Sanitizer on:
[   82.000012] CPU: 0 PID: 0 Comm: swapper/0 Not tainted 6.1.176-kbus-kcsan #1
[   82.000013] ==================================================================
"""

# KCSAN: a race inside the mutex code while two kbus ioctls contend for a
# mutex (seen on the KCSAN kernel under kbus-fuzz): the mutex's, not kbus's
KCSAN_OSQ = """\
[  900.000000] ==================================================================
[  900.000001] BUG: KCSAN: data-race in osq_lock / osq_wait_next
[  900.000002]
[  900.000003] write (marked) to 0xffff88803b2293c0 of 8 bytes by task 1471 on cpu 1:
[  900.000004]  osq_lock+0xc3/0x1ae
[  900.000005]  __mutex_lock+0x10b/0x494
[  900.000006]  mutex_lock_interruptible_nested+0x16/0x18
[  900.000007]  kbus_ioctl+0x287/0xafd [kbus]
[  900.000008]  vfs_ioctl+0x47/0x5a
[  900.000009]
[  900.000010] read to 0xffff88803b2293c0 of 8 bytes by task 1470 on cpu 0:
[  900.000011]  osq_wait_next+0x62/0xbb
[  900.000012]  osq_unlock+0x81/0xa0
[  900.000013]  __mutex_lock+0x147/0x494
[  900.000014]  mutex_lock_interruptible_nested+0x16/0x18
[  900.000015]  kbus_ioctl+0x7ef/0xafd [kbus]
[  900.000016]
[  900.000017] Reported by Kernel Concurrency Sanitizer on:
[  900.000018] CPU: 0 PID: 1470 Comm: kbus-fuzz Tainted: G           O       6.1.176-kbus-kcsan #1
[  900.000019] ==================================================================
"""

# KCSAN: kbus five calls above the racing access: the core's race
KCSAN_KBUS_DEEP = """\
[  901.000000] ==================================================================
[  901.000001] BUG: KCSAN: data-race in atime_needs_update / generic_update_time
[  901.000002]
[  901.000003] read to 0xffff888005c10bd0 of 8 bytes by task 484 on cpu 1:
[  901.000004]  atime_needs_update+0x143/0x1b5
[  901.000005]  touch_atime+0x55/0x1a7
[  901.000006]  shmem_file_read_iter+0x313/0x334
[  901.000007]  vfs_read+0x1cd/0x229
[  901.000008]  kernel_read+0x1/0x2
[  901.000009]  kbus_load_something+0x1/0x2 [kbus]
[  901.000010]
[  901.000011] Reported by Kernel Concurrency Sanitizer on:
[  901.000012] ==================================================================
"""

# ARM (arch/arm/mm/fault.c, arch/arm/kernel/traps.c)
ARM_OOPS = """\
[   90.000000] 8<--- cut here ---
[   90.000001] Unable to handle kernel NULL pointer dereference at virtual address 00000010
[   90.000002] [00000010] *pgd=00000000
[   90.000003] Internal error: Oops: 5 [#1] SMP ARM
[   90.000004] Modules linked in: kbus(O)
[   90.000005] PC is at kbus_release+0x4c/0x1a0 [kbus]
"""

RCU_STALL = """\
[  100.000000] rcu: INFO: rcu_sched self-detected stall on CPU
[  100.000001] rcu:     1-....: (2099 ticks this GP) idle=d5c/1/0x40000002
"""

SOFT_LOCKUP = """\
[  101.000000] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [python3:420]
"""

SLUB = """\
[  102.000000] =============================================================================
[  102.000001] BUG kmalloc-64 (Tainted: G           O      ): Poison overwritten
[  102.000002] -----------------------------------------------------------------------------
"""

LIST_DOUBLE_ADD = """\
[  103.000000] list_add double add: new=ffff888003c1d0a8, prev=ffff888003c1d0a8, next=ffff8880.
"""


@pytest.mark.parametrize(
    ("sample", "title"),
    [
        (KASAN, "BUG: KASAN: use-after-free in kbus_push+0x2b/0x160 [kbus]"),
        (LOCKDEP_CIRCULAR, "WARNING: possible circular locking dependency detected"),
        (RCU, "WARNING: suspicious RCU usage"),
        (SLEEPING, "BUG: sleeping function called from invalid context at mm/slab.h:723"),
        (WARN, "------------[ cut here ]------------"),
        (KERNEL_BUG, "------------[ cut here ]------------"),
        (LIST_CORRUPTION, LIST_CORRUPTION.split("] ", 1)[1].strip()),
        (HUNG_TASK, "INFO: task python3:360 blocked for more than 120 seconds."),
        (
            KCSAN_KBUS,
            "BUG: KCSAN: data-race in kbus_poll [kbus] / kbus_write_to_recipients [kbus]",
        ),
        (KCSAN_KBUS_UNKNOWN_ORIGIN, "BUG: KCSAN: data-race in __list_add_valid+0x31/0xd0"),
        (RCU_STALL, "rcu: INFO: rcu_sched self-detected stall on CPU"),
        (SOFT_LOCKUP, SOFT_LOCKUP.split("] ", 1)[1].strip()),
        (SLUB, "BUG kmalloc-64 (Tainted: G           O      ): Poison overwritten"),
        (LIST_DOUBLE_ADD, LIST_DOUBLE_ADD.split("] ", 1)[1].strip()),
    ],
    ids=[
        "kasan",
        "lockdep",
        "rcu",
        "atomic-sleep",
        "warn",
        "kernel-bug",
        "list",
        "hung",
        "kcsan",
        "kcsan-unknown-origin",
        "rcu-stall",
        "soft-lockup",
        "slub",
        "list-double-add",
    ],
)
def test_each_kind_of_report_is_found_once(sample: str, title: str) -> None:
    reports = ckl.find_reports(CLEAN_BOOT + sample + CLEAN_BOOT, "dmesg")
    assert [r.title for r in reports] == [title]
    assert reports[0].source == "dmesg"
    assert reports[0].line_no == CLEAN_BOOT.count("\n") + 1 + sample.split("\n").index(
        next(line for line in sample.split("\n") if title in line)
    )


def test_a_warn_report_keeps_its_warning_line_and_location() -> None:
    (report,) = ckl.find_reports(WARN)
    assert report.lines[1].startswith("WARNING: CPU: 1 PID: 340 at ")
    assert "kbus_send.c:263" in report.format()


def test_an_oops_after_a_bug_line_is_a_second_report() -> None:
    titles = [r.title for r in ckl.find_reports(OOPS)]
    assert titles == [
        "BUG: kernel NULL pointer dereference, address: 0000000000000010",
        "Oops: 0000 [#1] PREEMPT SMP KASAN",
    ]


def test_an_invalid_opcode_after_a_kernel_bug_is_a_second_report() -> None:
    text = KERNEL_BUG + "[   65.000002] invalid opcode: 0000 [#1] SMP KASAN\n"
    reports = ckl.find_reports(text)
    assert [r.title for r in reports] == [
        "------------[ cut here ]------------",
        "invalid opcode: 0000 [#1] SMP KASAN",
    ]
    assert reports[0].lines[1] == "kernel BUG at mm/slub.c:435!"


def test_an_arm_oops_keeps_its_cut_here_and_is_followed_by_the_internal_error() -> None:
    reports = ckl.find_reports(ARM_OOPS)
    assert [r.title for r in reports] == [
        "8<--- cut here ---",
        "Internal error: Oops: 5 [#1] SMP ARM",
    ]
    assert reports[0].kind.startswith("Unable to handle kernel NULL pointer dereference")
    assert "PC is at kbus_release+0x4c/0x1a0 [kbus]" in reports[1].lines


def test_a_kcsan_report_is_kept_whole_up_to_its_end_and_no_further() -> None:
    (report,) = ckl.find_reports(KCSAN_KBUS + CLEAN_BOOT)
    assert report.is_kcsan
    assert report.lines[-1] == "=" * 66
    assert "read to 0xffff8880046f2c18 of 4 bytes by task 406 on cpu 0:" in report.lines
    assert "value changed: 0x00000000 -> 0x00000001" in report.lines
    assert not any("9pnet" in line for line in report.lines)


def test_a_long_kcsan_report_keeps_its_second_stack() -> None:
    # the first access 60 frames deep in the core, the second kbus's: past
    # the 40 lines other reports keep
    head, tail = KCSAN_CORE.split("[   82.000006]\n", 1)
    deep = "".join(f"[   82.000005]  core_function_{i}+0x1/0x2\n" for i in range(60))
    tail = tail.replace(" tick_nohz_next_event+0x5e/0x2b0", " kbus_poll+0x8f/0x130 [kbus]")
    (report,) = ckl.find_reports(head + deep + "[   82.000006]\n" + tail)
    assert len(report.lines) > 70
    assert report.lines[-1] == "=" * 66
    assert [len(stack) for stack in report.access_stacks()] == [62, 2]
    assert report.races_in("kbus")


def test_a_kbus_frame_deep_under_the_race_does_not_make_it_kbuss() -> None:
    (report,) = ckl.find_reports(KCSAN_KBUS_DEEP)
    assert report.involves("kbus")
    assert not report.races_in("kbus")


def test_a_race_in_the_mutex_code_under_kbus_is_not_kbuss() -> None:
    (report,) = ckl.find_reports(KCSAN_OSQ)
    assert report.access_stacks()[0][:4] == [
        ("osq_lock", ""),
        ("__mutex_lock", ""),
        ("mutex_lock_interruptible_nested", ""),
        ("kbus_ioctl", "kbus"),
    ]
    assert not report.races_in("kbus")


KCSAN_RHT = """\
[  128.907480] ==================================================================
[  128.907480] BUG: KCSAN: data-race in rht_lock [kbus] / rht_ptr
[  128.907480]
[  128.907480] read-write (marked) to 0xffff8880035be428 of 8 bytes by task 657 on cpu 0:
[  128.907480]  rht_lock+0x1f/0x90 [kbus]
[  128.907480]  kbus_index_insert+0x8a/0x2c0 [kbus]
[  128.907480]  kbus_bind+0x1d2/0x470 [kbus]
[  128.907480]  kbus_ioctl+0x5e1/0x1590 [kbus]
[  128.907480]
[  128.907480] read to 0xffff8880035be428 of 8 bytes by task 17 on cpu 1:
[  128.907480]  rht_ptr+0x14/0x60
[  128.907480]  rhashtable_rehash_table+0x1a5/0x4a0
[  128.907480]  rht_deferred_worker+0x3c/0x1e0
[  128.907480]  process_one_work+0x3e8/0x8a0
[  128.907480]
[  128.907480] Reported by Kernel Concurrency Sanitizer on:
[  128.907480] ==================================================================
"""


def test_a_race_on_an_rhashtable_bucket_lock_under_kbus_is_not_kbuss() -> None:
    """rht_lock (a bit spinlock in the bucket word), out of line in kbus.ko,
    against rhashtable's own rehash worker reading that word: the lock's."""
    (report,) = ckl.find_reports(KCSAN_RHT)
    assert report.involves("kbus")
    assert not report.races_in("kbus")


def test_kcsan_reports_count_only_when_they_involve_kbus() -> None:
    reports = ckl.find_reports(
        KCSAN_CORE + KCSAN_KBUS + KCSAN_OSQ + KCSAN_KBUS_UNKNOWN_ORIGIN + KCSAN_CORE
    )
    counted, others = ckl.split_kcsan(reports, "kbus")
    assert [r.title for r in counted] == [
        "BUG: KCSAN: data-race in kbus_poll [kbus] / kbus_write_to_recipients [kbus]",
        "BUG: KCSAN: data-race in __list_add_valid+0x31/0xd0",
    ]
    assert [r.title for r in others] == [
        "BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_nohz_next_event",
        "BUG: KCSAN: data-race in osq_lock / osq_wait_next",
        "BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_nohz_next_event",
    ]
    # every other kind of report counts wherever it is
    counted, others = ckl.split_kcsan(ckl.find_reports(LOCKDEP_CIRCULAR + RCU), "kbus")
    assert len(counted) == 2 and others == []


def test_a_report_carries_the_kernel_lines_after_it() -> None:
    (report,) = ckl.find_reports(KASAN)
    assert "Read of size 8 at addr ffff888003a1c2e8 by task python3/312" in report.lines
    assert " kbus_push+0x2b/0x160 [kbus]" in report.lines


def test_a_clean_boot_and_fault_injection_are_not_bugs() -> None:
    assert ckl.find_reports(CLEAN_BOOT + FAULT_INJECTION + CLEAN_BOOT) == []


def test_only_time_stamped_lines_count_in_a_console_log() -> None:
    console = (
        "rig:/# python3 -m pytest -q test_failslab.py\r\n"
        "BUG: this is test output, not the kernel\r\n"
        "WARNING: neither is this\r\n"
        "..........                                                  [100%]\r\n"
        "10 passed in 12.34s\r\n"
    )
    assert ckl.find_reports(console) == []
    # a kernel line glued to shell output by the console still counts
    kasan = "[   70.000000] BUG: KASAN: double-free in kbus_msg_put+0x1/0x2 [kbus]"
    glued = console + "rig:/# " + kasan + "\r\n"
    (report,) = ckl.find_reports(glued)
    assert report.title == "BUG: KASAN: double-free in kbus_msg_put+0x1/0x2 [kbus]"
    assert report.line_no == 6


def test_syslog_levels_and_caller_ids_are_skipped() -> None:
    text = "<4>[   71.000000] [  T402] WARNING: suspicious RCU usage\n"
    assert [r.title for r in ckl.find_reports(text)] == ["WARNING: suspicious RCU usage"]


def test_kmemleak_reports_are_leaks() -> None:
    leaks = ckl.find_leaks(KMEMLEAK_FILE, "kmemleak")
    assert [r.title for r in leaks] == [
        "unreferenced object 0xffff888003d2a400 (size 128):",
        "unreferenced object 0xffff888003d2a500 (size 64):",
    ]
    assert "    [<ffffffffc0002a1e>] kbus_bind+0x8e/0x2a0 [kbus]" in leaks[0].lines
    assert ckl.find_leaks("") == []


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def test_the_command_fails_on_a_report_and_passes_a_clean_log(tmp_path: Path) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text(CLEAN_BOOT + FAULT_INJECTION)
    empty = tmp_path / "kmemleak"
    empty.write_text("")
    res = _run(str(clean), "--kmemleak", str(empty))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "no kernel bug report" in res.stdout

    bad = tmp_path / "dmesg"
    bad.write_text(CLEAN_BOOT + LOCKDEP_CIRCULAR)
    res = _run(str(clean), str(bad))
    assert res.returncode == 1
    assert f"{bad}:{CLEAN_BOOT.count(chr(10)) + 2}: WARNING: possible circular" in res.stdout
    assert "1 kernel bug report(s)" in res.stdout


def test_the_command_fails_on_a_leak(tmp_path: Path) -> None:
    leaks = tmp_path / "kmemleak"
    leaks.write_text(KMEMLEAK_FILE)
    res = _run("--kmemleak", str(leaks))
    assert res.returncode == 1
    assert "2 kernel bug report(s)" in res.stdout


def test_the_command_lists_but_does_not_count_the_kernels_own_races(tmp_path: Path) -> None:
    log = tmp_path / "console_main"
    log.write_text(CLEAN_BOOT + KCSAN_CORE + KCSAN_CORE)
    res = _run(str(log))
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 KCSAN report(s) of races that are not kbus's" in res.stdout
    assert "2 x BUG: KCSAN: data-race in tick_nohz_idle_stop_tick / tick_nohz_next_event" in (
        res.stdout
    )
    res = _run(str(log), "--all-kcsan")
    assert res.returncode == 1
    assert "2 kernel bug report(s)" in res.stdout
    log.write_text(CLEAN_BOOT + KCSAN_KBUS)
    res = _run(str(log), "--module", "other")
    assert res.returncode == 0, res.stdout

    log.write_text(CLEAN_BOOT + KCSAN_CORE + KCSAN_KBUS)
    res = _run(str(log))
    assert res.returncode == 1
    assert "kbus_write_to_recipients+0x2b3/0x580 [kbus]" in res.stdout
    assert "1 kernel bug report(s)" in res.stdout


def test_an_unreadable_log_is_an_error(tmp_path: Path) -> None:
    res = _run(str(tmp_path / "missing"))
    assert res.returncode == 2
