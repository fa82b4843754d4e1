#!/usr/bin/env python3
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
  race in ..."), but only those that involve the module under test (a
  "[kbus]" frame anywhere in the report: the two racing accesses' stacks);
  the kernel is instrumented as a whole and races among its own parts are
  not this project's: they are listed, not counted (--all-kcsan counts
  them too);
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
    """(the reports that count, the KCSAN reports that do not involve the module)."""
    counted = [r for r in reports if not r.is_kcsan or r.involves(module)]
    others = [r for r in reports if r.is_kcsan and not r.involves(module)]
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
        help="KCSAN reports count when a frame of this module is in them (default: kbus)",
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
            f"check_kernel_log: {len(others)} KCSAN report(s) without a [{args.module}] frame "
            "(the kernel's own races: not counted):"
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
