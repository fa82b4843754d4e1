#!/usr/bin/env python3
"""Find kernel bug reports in kernel logs (make test-debug's verdict).

usage: check_kernel_log.py [--kmemleak FILE] [LOG...]

Each LOG is `dmesg` output or a serial console log.  Only the kernel's own
lines count: a line counts from a printk time stamp (``[   12.345678] ``,
CONFIG_PRINTK_TIME) on, so that shell output and test output mixed into a
console log cannot match.  Reported as bugs:

* KASAN ("BUG: KASAN: ..."), every other "BUG: ..." (sleeping function
  called from invalid context, scheduling while atomic, NULL pointer
  dereference, bad page state, ...), "kernel BUG at", Oops, general
  protection faults, panics, UBSAN;
* lockdep and RCU lockdep: "WARNING: possible circular locking dependency
  detected", "WARNING: suspicious RCU usage", "WARNING: inconsistent lock
  state", "DEBUG_LOCKS_WARN_ON", ...;
* WARN()/WARN_ON() ("WARNING: CPU: ... at FILE:LINE", "cut here");
* list corruption (CONFIG_DEBUG_LIST), hung tasks, kmemleak's "new
  suspected memory leaks".

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
    r"BUG: "  # KASAN, sleeping in atomic, NULL deref, bad page, spinlock, ...
    r"|kernel BUG at "
    r"|WARNING: "  # WARN(), lockdep, RCU lockdep
    r"|-+\[ cut here \]-+"
    r"|Oops\b"
    r"|general protection fault"
    r"|invalid opcode: "
    r"|Kernel panic"
    r"|UBSAN: "
    r"|DEBUG_LOCKS_WARN_ON"
    r"|INFO: task .* blocked for more than"
    r"|INFO: trying to register non-static key"
    r"|INFO: possible "
    r"|list_(?:add|del) corruption"
    r"|kmemleak: \d+ new suspected memory leaks"
    r")"
)

# kernel lines kept after the line that starts a report
_CONTEXT_LINES = 40


@dataclass
class Report:
    """One bug report: where it starts and the kernel lines that follow."""

    source: str
    line_no: int
    lines: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.lines[0]

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
                and re.fullmatch(r"-+\[ cut here \]-+", current.title)
                and (len(current.lines) == 1)
            ):
                current.lines.append(message)
                continue
            current = Report(source, number, [message])
            reports.append(current)
        elif current is not None and len(current.lines) < _CONTEXT_LINES:
            current.lines.append(message)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="check_kernel_log.py",
        description="Find KASAN, lockdep, WARN, BUG and kmemleak reports in kernel logs.",
    )
    parser.add_argument("logs", nargs="*", metavar="LOG", help="dmesg output or console log")
    parser.add_argument(
        "--kmemleak", action="append", default=[], metavar="FILE", help="kmemleak report"
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
    if not reports:
        print(f"check_kernel_log: no kernel bug report in {checked}")
        return 0
    for report in reports:
        print(report.format())
    print(f"check_kernel_log: {len(reports)} kernel bug report(s) in {checked}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
