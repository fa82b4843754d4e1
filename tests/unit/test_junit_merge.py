# SPDX-License-Identifier: MIT
"""tests/junit_merge.py: the guest's JUnit XML merged into the host's.

The fixtures are shaped like pytest's XML (xunit2): the host's, with one
testcase per guest file (tests/test_guest_suites.py), and the guest's, one
file per guest file.  No guest testcase may be lost or carry another file's
name, a guest failure must stay that test's failure, and a guest file with
no XML (crashed, timed out) must keep its host verdict.
"""

from __future__ import annotations

import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "junit_merge.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("junit_merge", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up
    spec.loader.exec_module(module)
    return module


jm = _load()

HOST = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="rig-x86_64" errors="0" failures="3" skipped="1"
tests="8" time="120.5" timestamp="2026-12-03T20:00:00" hostname="ci">
<properties><property name="ENV_CONFIG" value="tests/env/rig-x86_64.yaml" /></properties>
<testcase classname="tests.test_rig_host" name="test_kernel" time="0.1" />
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_names.py]" time="20.0" />
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_padding.py]" time="9.0">
<failure message="AssertionError: guest pytest on tests/guest/test_padding.py exited 1">
FAILED test_padding.py::test_odd_length - assert 3 == 4</failure></testcase>
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_crash.py]" time="600.0">
<failure message="Failed: guest command timed out after 600 s (guest rebooted)">timeout</failure>
</testcase>
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_bridge.py]" time="0.0">
<skipped type="pytest.skip" message="in KBUS_GUEST_SKIP">skip</skipped></testcase>
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_torn.py]" time="3.0" />
<testcase classname="tests.test_guest_suites" name="test_guest_file[test_collect.py]" time="1.0">
<failure message="exited 2">ERROR test_collect.py</failure></testcase>
<testcase classname="tests.test_fuzz" name="test_kbus_fuzz_fixed_seeds" time="80.0" />
</testsuite></testsuites>
"""

GUEST = {
    # passed: three cases, one in a class, one skipped
    "test_names": """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="19.0">
<testcase classname="test_names" name="test_bind" time="1.0" />
<testcase classname="test_names.TestWildcards" name="test_star[a.*]" time="2.0" />
<testcase classname="test_names" name="test_no_dev1" time="0.0">
<skipped type="pytest.skip" message="one device">skip</skipped></testcase>
</testsuite></testsuites>
""",
    # failed: one failure, one pass
    "test_padding": """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="0" failures="1" skipped="0" tests="2" time="8.0">
<testcase classname="test_padding" name="test_even_length" time="1.0" />
<testcase classname="test_padding" name="test_odd_length" time="1.0">
<failure message="assert 3 == 4">def test_odd_length(): assert 3 == 4</failure></testcase>
</testsuite></testsuites>
""",
    # cut short (a share write torn): not merged
    "test_torn": '<?xml version="1.0"?><testsuites><testsuite name="pytest"><testcase classna',
    # a collection error: pytest writes classname=""
    "test_collect": """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="1" time="0.5">
<testcase classname="" name="test_collect" time="0.0">
<error message="collection failure">ImportError: no module named kbus_raw</error></testcase>
</testsuite></testsuites>
""",
}


def write(tmp_path: Path, guest: dict[str, str]) -> tuple[Path, Path]:
    host = tmp_path / "rig-x86_64.xml"
    host.write_text(HOST)
    guest_dir = tmp_path / "junit-guest" / "rig-x86_64"
    guest_dir.mkdir(parents=True)
    for stem, text in guest.items():
        (guest_dir / f"{stem}.xml").write_text(text)
    return host, guest_dir


def cases(root: ET.Element) -> list[tuple[str, str, str, str]]:
    """(suite, classname, name, outcome) of every testcase, in order."""
    return [
        (suite.get("name", ""), c.get("classname", ""), c.get("name", ""), jm.outcome(c))
        for suite in root.iter("testsuite")
        for c in suite.findall("testcase")
    ]


@pytest.fixture
def merged(tmp_path: Path) -> tuple[ET.Element, Any]:
    host, guest_dir = write(tmp_path, GUEST)
    root = ET.parse(host).getroot()
    summary = jm.merge(root, guest_dir)
    return root, summary


def test_every_guest_case_once_with_its_file_and_verdict(
    merged: tuple[ET.Element, Any],
) -> None:
    root, _ = merged
    s = "rig-x86_64"
    host = "tests.test_guest_suites"
    assert cases(root) == [
        (s, "tests.test_rig_host", "test_kernel", "passed"),
        # a passed file: replaced by its tests
        (s, "guest.test_names", "test_bind", "passed"),
        (s, "guest.test_names.TestWildcards", "test_star[a.*]", "passed"),
        (s, "guest.test_names", "test_no_dev1", "skipped"),
        # a failed file: kept, its tests after it
        (s, host, "test_guest_file[test_padding.py]", "failed"),
        (s, "guest.test_padding", "test_even_length", "passed"),
        (s, "guest.test_padding", "test_odd_length", "failed"),
        # no XML (timed out), a skipped file, a torn XML: the host's verdict only
        (s, host, "test_guest_file[test_crash.py]", "failed"),
        (s, host, "test_guest_file[test_bridge.py]", "skipped"),
        (s, host, "test_guest_file[test_torn.py]", "passed"),
        (s, host, "test_guest_file[test_collect.py]", "failed"),
        (s, "guest.test_collect", "test_collect", "error"),
        (s, "tests.test_fuzz", "test_kbus_fuzz_fixed_seeds", "passed"),
    ]


def test_guest_failure_is_that_tests_failure(merged: tuple[ET.Element, Any]) -> None:
    root, _ = merged
    (case,) = [c for c in root.iter("testcase") if c.get("name") == "test_odd_length"]
    assert case.get("classname") == "guest.test_padding"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "assert 3 == 4"
    assert "def test_odd_length" in (failure.text or "")
    assert case.get("time") == "1.0"


def test_counts_are_recounted(merged: tuple[ET.Element, Any]) -> None:
    root, _ = merged
    suite = root.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "13",
        "failures": "4",
        "errors": "1",
        "skipped": "2",
    }
    # the rest of the suite is the host's
    assert suite.get("time") == "120.5"
    assert suite.find("properties") is not None


def test_summary(merged: tuple[ET.Element, Any]) -> None:
    _, summary = merged
    assert summary.files == 3
    assert summary.cases == 6
    assert summary.kept == ["test_padding", "test_collect"]
    assert summary.missing == ["test_crash"]
    assert [b.split(":")[0] for b in summary.bad] == ["test_torn.xml"]


def test_no_guest_xml_changes_nothing_but_counts(tmp_path: Path) -> None:
    host, guest_dir = write(tmp_path, {})
    root = ET.parse(host).getroot()
    before = cases(root)
    jm.merge(root, guest_dir)
    assert cases(root) == before
    # and a missing folder (no guest run at all) is no folder of XML
    jm.merge(root, tmp_path / "none")
    assert cases(root) == before


def test_guest_xml_without_host_case_is_kept(tmp_path: Path) -> None:
    extra_xml = GUEST["test_names"].replace('"test_names', '"test_extra')
    host, guest_dir = write(tmp_path, {"test_extra": extra_xml})
    root = ET.parse(host).getroot()
    jm.merge(root, guest_dir)
    extra = [c for c in cases(root) if c[1].startswith("guest.")]
    assert [c[1:3] for c in extra] == [
        ("guest.test_extra", "test_bind"),
        ("guest.test_extra.TestWildcards", "test_star[a.*]"),
        ("guest.test_extra", "test_no_dev1"),
    ]
    assert cases(root)[-1][1] == "guest.test_extra"


def test_a_bare_testsuite_root(tmp_path: Path) -> None:
    # pytest before 5.1 wrote <testsuite> as the root
    host, guest_dir = write(tmp_path, {"test_padding": GUEST["test_padding"]})
    root = ET.parse(host).getroot().find("testsuite")
    assert root is not None
    jm.merge(root, guest_dir)
    names = [c[2] for c in cases(root)]
    assert names.count("test_odd_length") == 1
    assert root.get("tests") == "10"  # the failed file's host case stays


@pytest.mark.parametrize(
    ("guest", "stem", "expected"),
    [
        ("test_names", "test_names", "guest.test_names"),
        ("test_names.TestA", "test_names", "guest.test_names.TestA"),
        ("", "test_names", "guest.test_names"),
        # never another file's name, even one that starts the same
        ("test_names_more", "test_names", "guest.test_names.test_names_more"),
    ],
)
def test_classname(guest: str, stem: str, expected: str) -> None:
    assert jm.classname(guest, stem, "guest") == expected


def test_main_rewrites_the_host_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    host, guest_dir = write(tmp_path, GUEST)
    assert jm.main([str(host), str(guest_dir), "--prefix", "guest"]) == 0
    out = capsys.readouterr()
    assert "6 guest testcases from 3 files" in out.out
    assert "no guest XML: test_crash" in out.out
    assert "not merged: test_torn.xml" in out.err
    root = ET.parse(host).getroot()
    assert sum(1 for c in root.iter("testcase") if c.get("classname", "").startswith("guest.")) == 6
    assert not list(tmp_path.glob("*.tmp"))


def test_main_without_host_xml_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert jm.main([str(tmp_path / "none.xml"), str(tmp_path)]) == 1
    assert "none.xml" in capsys.readouterr().err
