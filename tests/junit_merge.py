#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Merge the guest pytest's JUnit XML into the host's: one testcase per guest test.

usage: tests/junit_merge.py HOST_XML GUEST_DIR [--prefix guest]

The host runs each guest file (tests/guest/test_x.py) as one testcase,
``test_guest_file[test_x.py]`` (tests/test_guest_suites.py); with
``--guest-junit-dir=GUEST_DIR`` (tests/conftest.py) the guest's pytest writes
its own JUnit XML there, GUEST_DIR/test_x.xml.  This script puts the guest's
testcases into HOST_XML (rewritten in place), in the host testcase's suite
(e.g. ``rig-x86_64``) right after it, each with the classname
``PREFIX.test_x`` (``PREFIX.test_x.TestClass`` for a test in a class), so
that CI lists every guest test and says which file, and which rig or image
(the suite), it ran in.

The host testcase of a file stays when its guest run did not pass or skip (a
failed file: the guest's whole output and exit status), and goes when the
guest's testcases replace it.  A file without guest XML (the guest crashed or
timed out before writing it, a read-only share, a skipped file) keeps its host
testcase only, so its verdict is never lost.  A guest XML without a host
testcase is added at the end of the first suite.  The suites' counts (tests,
failures, errors, skipped) are recounted from their testcases.  The Makefile
runs this after `make test`, `make test-debug-*` and `make test-image` when
JUNIT_DIR is set.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

# the host testcase of a guest file (tests/test_guest_suites.py)
HOST_CASE = re.compile(r"test_guest_file\[(?P<stem>[^\[\]/]+)\.py\]")
COUNTED = {"failures": "failure", "errors": "error", "skipped": "skipped"}


@dataclass
class Summary:
    """What one merge did."""

    files: int = 0  # guest XML files merged
    cases: int = 0  # guest testcases added
    kept: list[str] = field(default_factory=list)  # host testcases kept beside theirs
    missing: list[str] = field(default_factory=list)  # guest files without XML
    bad: list[str] = field(default_factory=list)  # unreadable guest XML (not merged)


def outcome(case: ET.Element) -> str:
    """failed, error, skipped or passed (pytest writes at most failure + error)."""
    for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        if case.find(tag) is not None:
            return name
    return "passed"


def classname(guest: str, stem: str, prefix: str) -> str:
    """The merged classname: PREFIX.STEM[.Class], whatever the guest wrote
    (pytest writes "" for a file that failed to collect)."""
    if guest == stem or guest.startswith(f"{stem}."):
        return f"{prefix}.{guest}"
    return f"{prefix}.{stem}" + (f".{guest}" if guest else "")


def guest_cases(path: Path, prefix: str) -> list[ET.Element]:
    """The testcases of one guest XML file, relabelled (ET.ParseError, OSError
    when it cannot be read)."""
    root = ET.parse(path).getroot()
    cases = []
    for case in root.iter("testcase"):
        new = copy.deepcopy(case)
        new.set("classname", classname(case.get("classname", ""), path.stem, prefix))
        cases.append(new)
    return cases


def recount(suite: ET.Element) -> None:
    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    for attr, tag in COUNTED.items():
        suite.set(attr, str(sum(1 for c in cases if c.find(tag) is not None)))


def merge(host: ET.Element, guest_dir: Path, prefix: str = "guest") -> Summary:
    """Merge guest_dir/*.xml into the host XML tree `host` (changed in place)."""
    summary = Summary()
    suites = [host] if host.tag == "testsuite" else host.findall("testsuite")
    guest_files = {p.stem: p for p in sorted(guest_dir.glob("*.xml"))}
    for suite in suites:
        for case in suite.findall("testcase"):
            m = HOST_CASE.fullmatch(case.get("name", ""))
            if not m:
                continue
            stem = m["stem"]
            path = guest_files.pop(stem, None)
            if path is None:
                if outcome(case) != "skipped":
                    summary.missing.append(stem)
                continue
            try:
                cases = guest_cases(path, prefix)
            except (ET.ParseError, OSError) as e:
                summary.bad.append(f"{path.name}: {e}")
                continue
            if not cases:
                continue
            at = list(suite).index(case)
            suite[at + 1 : at + 1] = cases
            if outcome(case) in ("passed", "skipped"):
                suite.remove(case)
            else:
                summary.kept.append(stem)
            summary.files += 1
            summary.cases += len(cases)
        recount(suite)
    # guest XML without a host testcase (not expected: GUEST_DIR is emptied
    # before each run): not dropped
    for path in guest_files.values():
        if not suites:
            break
        try:
            cases = guest_cases(path, prefix)
        except (ET.ParseError, OSError) as e:
            summary.bad.append(f"{path.name}: {e}")
            continue
        suites[0].extend(cases)
        recount(suites[0])
        summary.files += 1
        summary.cases += len(cases)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host_xml", type=Path, help="the host pytest's JUnit XML (rewritten)")
    parser.add_argument("guest_dir", type=Path, help="the guest XML: test_x.xml per file")
    parser.add_argument("--prefix", default="guest", help="classname prefix (default: guest)")
    args = parser.parse_args(argv)
    me = "junit_merge"
    try:
        tree = ET.parse(args.host_xml)
    except (ET.ParseError, OSError) as e:
        print(f"{me}: {args.host_xml}: {e}", file=sys.stderr)
        return 1
    summary = merge(tree.getroot(), args.guest_dir, args.prefix)
    tmp = args.host_xml.with_name(args.host_xml.name + ".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, args.host_xml)
    print(
        f"{me}: {args.host_xml.name}: {summary.cases} guest testcases from {summary.files} files"
        + (f"; file testcases kept (failed): {' '.join(summary.kept)}" if summary.kept else "")
        + (f"; no guest XML: {' '.join(summary.missing)}" if summary.missing else "")
    )
    for bad in summary.bad:
        print(f"{me}: WARNING: not merged: {bad}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
