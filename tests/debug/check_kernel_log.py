#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Find kernel bug reports in kernel logs (make test-debug*'s verdict).

usage: check_kernel_log.py [--kmemleak FILE] [--module NAME] [--all-kcsan] [LOG...]

Each LOG is `dmesg` output or a serial console log.  Only the kernel's own
lines count: a line counts from a printk time stamp (``[   12.345678] ``,
CONFIG_PRINTK_TIME) on, so that shell output and test output mixed into a
console log cannot match.  Reported as bugs:

* KASAN ("BUG: KASAN: ..."), every other "BUG: ..." (sleeping function
  called from invalid context, scheduling while atomic, NULL pointer
  dereference, bad page state, workqueue lockup, ...), SLUB's own
  consistency reports ("BUG kmalloc-64 (Tainted: ...): ..."), "kernel BUG
  at", Oops (x86 "Oops: ...", ARM "Internal error: Oops ..." and "Unable to
  handle kernel ..."), general protection faults, panics, UBSAN, stack
  overflows (ARM's "Insufficient stack space");
* KCSAN data races ("BUG: KCSAN: data-race in ...", "BUG: KCSAN: assert:
  race in ..."), but only those where one of the racing accesses is the
  module's (kbus's): a "[kbus]" frame among the first four frames of that
  access's stack, with no synchronisation primitive (mutex, spinlock, wait
  queue, scheduler, RCU, ...: is_sync_function) above it.  So a race in a
  helper kbus calls on its own data (list debugging, memcpy, copy_to_user)
  counts, and so does one in kbus's own code; a race inside the mutex
  code that two kbus ioctls happen to contend on (osq_lock / osq_wait_next,
  seen under the fuzzer) does not, nor do the races among the kernel's own
  parts (the kernel is instrumented as a whole): those are listed, not
  counted (--all-kcsan counts every KCSAN report);
* lockdep and RCU lockdep: "WARNING: possible circular locking dependency
  detected", "WARNING: suspicious RCU usage", "WARNING: inconsistent lock
  state", "DEBUG_LOCKS_WARN_ON", ...;
* WARN()/WARN_ON() ("WARNING: CPU: ... at FILE:LINE", "cut here", ARM's
  "8<--- cut here ---");
* list corruption (CONFIG_DEBUG_LIST), hung tasks, RCU stalls, soft and
  hard lockups, kmemleak's "new suspected memory leaks".

A report is the line that starts it and the kernel lines after it: up to
its closing "=====" line for KASAN and KCSAN (whose reports are framed so),
at most 40 lines for the others.

--kmemleak FILE: the contents of /sys/kernel/debug/kmemleak after a scan;
every "unreferenced object" in it is a leak.  Fault injection's own
messages ("FAULT_INJECTION: forcing a failure" and its stack dump) and
allocation-failure warnings are not bugs.

Exit status: 0 clean, 1 reports found (each printed with the kernel lines
after it), 2 a file could not be read.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

# "[   12.345678] " possibly after a syslog level "<4>"; "[T123] "/"[C1] "
# (CONFIG_PRINTK_CALLER) may follow.
_STAMP = re.compile(r"\[\s*\d+\.\d{6}\]\s?(?:\[\s*[TC]\d+\]\s?)?")

# What starts a report, matched at the start of a kernel line's text.
_REPORT = re.compile(
    r"(?:"
    r"BUG: "  # KASAN, KCSAN, sleeping in atomic, NULL deref, bad page, spinlock, ...
    r"|BUG \S+ \((?:Not tainted|Tainted: [^)]*)\): "  # SLUB: "BUG kmalloc-64 (Not tainted): ..."
    r"|kernel BUG at "
    r"|WARNING: "  # WARN(), lockdep, RCU lockdep
    r"|-+\[ cut here \]-+"
    r"|8<-+ cut here -+"  # ARM, before "Unable to handle kernel ..."
    r"|Oops\b"
    r"|Internal error: "  # ARM: "Internal error: Oops: 5 [#1] SMP ARM"
    r"|Unable to handle kernel "  # ARM
    r"|general protection fault"
    r"|invalid opcode: "
    r"|Kernel panic"
    r"|UBSAN: "
    r"|DEBUG_LOCKS_WARN_ON"
    r"|INFO: task .* blocked for more than"
    r"|INFO: trying to register non-static key"
    r"|INFO: possible "
    r"|(?:rcu: )?INFO: \S+ (?:self-)?detected stalls?\b"
    r"|(?:watchdog: )?BUG: soft lockup"
    r"|(?:NMI )?[Ww]atchdog: (?:Watchdog )?detected hard LOCKUP"
    r"|Insufficient stack space to handle exception"  # ARM, VMAP_STACK
    r"|list_(?:add|del) corruption"
    r"|list_add double add"
    r"|kmemleak: \d+ new suspected memory leaks"
    r")"
)
# "cut here" lines, followed by the WARNING/BUG/Unable-to-handle line of the same report
_CUT_HERE = re.compile(r"-+\[ cut here \]-+|8<-+ cut here -+")
# KASAN and KCSAN reports end with a line of "="
_FRAMED = re.compile(r"BUG: K[AC]SAN: ")
_FRAME_END = re.compile(r"=+")
_KCSAN = re.compile(r"BUG: KCSAN: ")
# the line that starts one racing access's stack in a KCSAN report
_KCSAN_ACCESS = re.compile(
    r"(?:race at unknown origin, with )?"
    r"(?:read|write|read-write|assert no (?:accesses|writes))\b.* to 0x[0-9a-f]+ of \d+ bytes by "
)
# a stack frame: " func+0x1c/0x30 [module]"
_FRAME = re.compile(r"\s+([A-Za-z_.$][\w.$]*)\+0x[0-9a-f]+/0x[0-9a-f]+(?: \[(\w+)\])?")
# KCSAN: how deep under the module's frame the racing access may be
_KCSAN_DEPTH = 4
# the kernel's synchronisation primitives: a race inside them is theirs, not
# their caller's (the caller cannot make the lock's own accesses racy).  A
# function is one when its name, leading underscores dropped, starts with
# one of these or is one of _SYNC_NAMES (tests/fuzz/kbus-fuzz.c has the
# same lists).
_SYNC_PREFIXES = (
    "osq_",
    "mutex_",
    "ww_mutex",
    "rt_mutex",
    "raw_spin_",
    "do_raw_spin_",
    "spin_",
    "queued_",
    "rwsem",
    "down_",
    "up_read",
    "up_write",
    "wake_up",
    "try_to_wake_up",
    "autoremove_wake_function",
    "default_wake_function",
    "schedule",
    "preempt_schedule",
    "prepare_to_wait",
    "finish_wait",
    "add_wait_queue",
    "remove_wait_queue",
    "rcu_",
    "synchronize_rcu",
    "call_rcu",
    "lock_acquire",
    "lock_release",
    "complete",
    "wait_for_completion",
    # rhashtable's bucket locks (a bit spinlock in the bucket pointer): its
    # rehash worker reads that word while an insert takes the lock bit
    "bit_spin_",
    "rht_lock",
    "rht_unlock",
    "rht_assign_unlock",
)
_SYNC_NAMES = ("down", "up")


def is_sync_function(name: str) -> bool:
    """Whether the function is one of the kernel's synchronisation primitives."""
    bare = name.lstrip("_")
    return bare in _SYNC_NAMES or bare.startswith(_SYNC_PREFIXES)


# kernel lines kept after the line that starts a report (framed reports: up
# to their end, at most _FRAMED_LINES)
_CONTEXT_LINES = 40
_FRAMED_LINES = 400


@dataclass
class Report:
    """One bug report: where it starts and the kernel lines that follow."""

    source: str
    line_no: int
    lines: list[str] = field(default_factory=list)
    closed: bool = False  # a framed report that reached its "=====" line

    @property
    def title(self) -> str:
        return self.lines[0]

    @property
    def kind(self) -> str:
        """The line that says what it is (a "cut here" line is followed by it)."""
        if _CUT_HERE.fullmatch(self.lines[0]) and len(self.lines) > 1:
            return self.lines[1]
        return self.lines[0]

    @property
    def is_kcsan(self) -> bool:
        return bool(_KCSAN.match(self.title))

    def involves(self, module: str) -> bool:
        """Whether a frame of the module ("... [kbus]") is in the report."""
        tag = f"[{module}]"
        return any(tag in line for line in self.lines)

    def access_stacks(self) -> list[list[tuple[str, str]]]:
        """A KCSAN report's racing accesses: each its stack, (function, module) top first."""
        stacks: list[list[tuple[str, str]]] = []
        current: list[tuple[str, str]] | None = None
        for line in self.lines[1:]:
            if _KCSAN_ACCESS.match(line):
                current = []
                stacks.append(current)
                continue
            frame = _FRAME.fullmatch(line)
            if current is not None and frame:
                current.append((frame.group(1), frame.group(2) or ""))
            else:
                current = None
        return stacks

    def races_in(self, module: str) -> bool:
        """Whether one of a KCSAN report's racing accesses is the module's: a
        frame of it within the first _KCSAN_DEPTH frames of the access's stack,
        no synchronisation primitive above it."""
        for stack in self.access_stacks():
            for function, owner in stack[:_KCSAN_DEPTH]:
                if is_sync_function(function):
                    break  # the lock's own access, even out of line in the module
                if owner == module:
                    return True
        return False

    def format(self) -> str:
        body = "\n".join(f"    {line}" for line in self.lines)
        return f"{self.source}:{self.line_no}: {self.title}\n{body}"


def kernel_lines(text: str) -> list[tuple[int, str]]:
    """(line number, message text) of every line carrying a printk time stamp."""
    out = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.replace("\r", "")
        match = _STAMP.search(line)
        if match:
            out.append((number, line[match.end() :].rstrip()))
    return out


def find_reports(text: str, source: str = "log") -> list[Report]:
    """The bug reports in a kernel log (dmesg or a console log)."""
    reports: list[Report] = []
    current: Report | None = None
    for number, message in kernel_lines(text):
        if _REPORT.match(message):
            # "cut here" is followed by the WARNING/BUG line of the same report
            if (
                current is not None
                and _CUT_HERE.fullmatch(current.title)
                and (len(current.lines) == 1)
            ):
                current.lines.append(message)
                continue
            current = Report(source, number, [message])
            reports.append(current)
        elif current is not None and not current.closed:
            framed = bool(_FRAMED.match(current.title))
            if len(current.lines) < (_FRAMED_LINES if framed else _CONTEXT_LINES):
                current.lines.append(message)
                if framed and _FRAME_END.fullmatch(message):
                    current.closed = True
    return reports


def find_leaks(text: str, source: str = "kmemleak") -> list[Report]:
    """The leaks in the contents of /sys/kernel/debug/kmemleak."""
    reports: list[Report] = []
    current: Report | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("unreferenced object "):
            current = Report(source, number, [line])
            reports.append(current)
        elif current is not None and line and len(current.lines) < _CONTEXT_LINES:
            current.lines.append(line)
    return reports


def split_kcsan(reports: list[Report], module: str) -> tuple[list[Report], list[Report]]:
    """(the reports that count, the KCSAN reports whose races are not the module's)."""
    counted = [r for r in reports if not r.is_kcsan or r.races_in(module)]
    others = [r for r in reports if r.is_kcsan and not r.races_in(module)]
    return counted, others


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_kernel_log.py",
        description="Find KASAN, KCSAN, lockdep, WARN, BUG and kmemleak reports in kernel logs.",
    )
    parser.add_argument("logs", nargs="*", metavar="LOG", help="dmesg output or console log")
    parser.add_argument(
        "--kmemleak", action="append", default=[], metavar="FILE", help="kmemleak report"
    )
    parser.add_argument(
        "--module",
        default="kbus",
        help="KCSAN reports count when a racing access is this module's (default: kbus)",
    )
    parser.add_argument(
        "--all-kcsan", action="store_true", help="count every KCSAN report, whatever it involves"
    )
    args = parser.parse_args(argv)
    reports: list[Report] = []
    try:
        for name in args.logs:
            text = Path(name).read_text(encoding="utf-8", errors="replace")
            reports += find_reports(text, name)
        for name in args.kmemleak:
            text = Path(name).read_text(encoding="utf-8", errors="replace")
            reports += find_leaks(text, name)
    except OSError as err:
        print(f"check_kernel_log: {err}", file=sys.stderr)
        return 2
    checked = ", ".join([*args.logs, *args.kmemleak]) or "nothing"
    counted, others = (reports, []) if args.all_kcsan else split_kcsan(reports, args.module)
    if others:
        titles: dict[str, int] = {}
        for report in others:
            titles[report.title] = titles.get(report.title, 0) + 1
        print(
            f"check_kernel_log: {len(others)} KCSAN report(s) of races that are not "
            f"{args.module}'s (the kernel's own: not counted):"
        )
        for title, count in titles.items():
            print(f"    {count} x {title}")
    if not counted:
        print(f"check_kernel_log: no kernel bug report in {checked}")
        return 0
    for report in counted:
        print(report.format())
    print(f"check_kernel_log: {len(counted)} kernel bug report(s) in {checked}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
