# SPDX-License-Identifier: MIT
"""The CI definitions for this tree's users (.github/workflows/ci.yml, .gitlab-ci.yml).

Every command they run must be `make` with goals and variables this
Makefile knows (so a workstation runs exactly what CI runs), every board of
their matrix must have a defconfig, the boards booted are exactly those
`make test-image` knows (a TEST_IMAGE_ENV_BOARD variable: the QEMU images),
and the test steps write JUnit XML, which the rig job publishes with the
rigs' console logs, also when a test failed.  The make database comes from
`make -pnq .DEFAULT`, which runs no recipe.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github" / "workflows" / "ci.yml"
GITLAB = REPO / ".gitlab-ci.yml"
# GitLab keywords at the top level that are not jobs
GITLAB_GLOBAL = {"image", "variables", "stages", "default", "include", "workflow", "services"}


@cache
def make_database() -> tuple[frozenset[str], frozenset[str], tuple[str, ...]]:
    """(targets, variables, pattern-rule prefixes) of the top-level Makefile."""
    out = subprocess.run(
        ["make", "-C", str(REPO), "--no-print-directory", "-pnq", ".DEFAULT"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    targets: set[str] = set()
    variables: set[str] = set()
    patterns: list[str] = []
    not_a_target = False
    for line in out.splitlines():
        if line.startswith("# Not a target:"):
            not_a_target = True
            continue
        if m := re.match(r"^([A-Za-z0-9_.%/-]+):(?:[^=]|$)", line):
            if not not_a_target:
                name = m.group(1)
                if name.endswith("%"):
                    patterns.append(name[:-1])
                else:
                    targets.add(name)
        elif m := re.match(r"^([A-Za-z0-9_]+) (?::|\?|\+)?= ", line):
            variables.add(m.group(1))
        not_a_target = False
    assert "lint" in targets, f"no make database from `make -pnq`:\n{out[-2000:]}"
    return frozenset(targets), frozenset(variables), tuple(patterns)


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path}: not a mapping"
    return data


def github_jobs() -> dict[str, dict[str, Any]]:
    return load(GITHUB)["jobs"]


def gitlab_jobs() -> dict[str, dict[str, Any]]:
    data = load(GITLAB)
    return {k: v for k, v in data.items() if k not in GITLAB_GLOBAL and isinstance(v, dict)}


def commands() -> Iterator[tuple[str, str]]:
    """(where, command) for every command of both files."""
    for name, job in github_jobs().items():
        for i, step in enumerate(job["steps"]):
            if "run" in step:
                yield f"ci.yml {name} step {i}", step["run"]
    for name, job in gitlab_jobs().items():
        for key in ("before_script", "script", "after_script"):
            for line in job.get(key, []):
                yield f".gitlab-ci.yml {name} {key}", line


ALL_COMMANDS = list(commands())


def test_both_files_have_commands() -> None:
    where = {w.split()[0] for w, _ in ALL_COMMANDS}
    assert where == {"ci.yml", ".gitlab-ci.yml"}


@pytest.mark.parametrize(("where", "command"), ALL_COMMANDS, ids=[w for w, _ in ALL_COMMANDS])
def test_command_is_a_known_make_target(where: str, command: str) -> None:
    words = shlex.split(command)
    assert words[:1] == ["make"], f"{where}: not a make command: {command!r}"
    targets, variables, patterns = make_database()
    for word in words[1:]:
        assert not word.startswith("-"), f"{where}: make option {word!r}: use a target"
        if "=" in word:
            name = word.split("=", 1)[0]
            assert name in variables, f"{where}: {name} is not a variable of the Makefile"
        else:
            known = word in targets or any(word.startswith(p) for p in patterns if p)
            assert known, f"{where}: {word!r} is not a make target"


def github_matrix() -> list[dict[str, Any]]:
    return list(github_jobs()["image"]["strategy"]["matrix"]["include"])


def gitlab_board_jobs() -> dict[str, dict[str, Any]]:
    return {
        job["variables"]["BOARD"]: job
        for job in gitlab_jobs().values()
        if "BOARD" in job.get("variables", {})
    }


def bootable_boards() -> list[str]:
    """The boards `make test-image` runs on (TEST_IMAGE_ENV_<board>)."""
    _, variables, _ = make_database()
    prefix = "TEST_IMAGE_ENV_"
    return sorted(v.removeprefix(prefix) for v in variables if v.startswith(prefix))


def test_matrix_covers_every_defconfig() -> None:
    configs = (REPO / "br2-external" / "configs").glob("*_defconfig")
    defconfigs = sorted(p.name.removesuffix("_defconfig") for p in configs)
    assert sorted(m["board"] for m in github_matrix()) == defconfigs
    assert sorted(gitlab_board_jobs()) == defconfigs


def test_github_boots_the_qemu_images() -> None:
    assert "stb_qemu_arm" in bootable_boards()
    booted = sorted(m["board"] for m in github_matrix() if m["boot"])
    assert booted == bootable_boards()
    job = github_jobs()["image"]
    for step in job["steps"]:
        if "test-image" in step.get("run", ""):
            assert step.get("if") == "matrix.boot"
    assert job["env"]["BOARD"] == "${{ matrix.board }}"


def test_gitlab_boots_the_qemu_images() -> None:
    booted = sorted(
        board
        for board, job in gitlab_board_jobs().items()
        if any("test-image" in line for line in job["script"])
    )
    assert booted == bootable_boards()


def test_rig_tests_run_first() -> None:
    assert github_jobs()["image"]["needs"] == "rig-tests"
    data = load(GITLAB)
    assert data["stages"].index(data["rig-tests"]["stage"]) < data["stages"].index("image")


@pytest.mark.parametrize("target", ["test", "test-image"])
def test_test_steps_write_junit(target: str) -> None:
    runs = [(w, c) for w, c in ALL_COMMANDS if shlex.split(c)[1:2] == [target]]
    assert {w.split()[0] for w, _ in runs} == {"ci.yml", ".gitlab-ci.yml"}
    for where, command in runs:
        assert "JUNIT_DIR=out/junit" in shlex.split(command), where


# where `make test` has labgrid write each rig's logs (the Makefile's test recipe)
RIG_LOG = "$(OUT)/rig/$$a/log"
RIG_LOG_GLOB = "out/rig/*/log"


def test_make_test_writes_the_published_logs() -> None:
    recipe = (REPO / "Makefile").read_text()
    assert f"log={RIG_LOG};" in recipe
    assert "--lg-log=$$log" in recipe


def test_rig_tests_publish_junit_and_logs_also_on_failure() -> None:
    steps = github_jobs()["rig-tests"]["steps"]
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    paths = {str(s["with"]["path"]).rstrip("/") for s in uploads}
    assert paths == {"out/junit/*.xml", RIG_LOG_GLOB}
    for step in uploads:
        assert step.get("if") == "${{ !cancelled() }}", step["name"]
    artifacts = gitlab_jobs()["rig-tests"]["artifacts"]
    assert artifacts["when"] == "always"
    assert {p.rstrip("/") for p in artifacts["paths"]} == {"out/junit", RIG_LOG_GLOB}
    assert artifacts["reports"]["junit"] == "out/junit/*.xml"
