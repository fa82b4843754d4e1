"""tests/debug/check_kernel_log.py: which kernel log lines are bug reports.

The samples are shaped like the reports of Linux 6.1 (KASAN, lockdep, RCU
lockdep, DEBUG_ATOMIC_SLEEP, WARN, BUG, kmemleak), as dmesg prints them and
as they reach a serial console between shell output.
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
    ],
    ids=["kasan", "lockdep", "rcu", "atomic-sleep", "warn", "kernel-bug", "list", "hung"],
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


def test_an_unreadable_log_is_an_error(tmp_path: Path) -> None:
    res = _run(str(tmp_path / "missing"))
    assert res.returncode == 2
