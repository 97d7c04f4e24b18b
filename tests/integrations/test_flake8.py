"""The flake8 plugin under real `flake8`: same findings as the CLI, noqa owned by flake8,
whole-project facts with `-j`, and `--ckpt-project-root` for a single file."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ckpt_lint.rules import all_rules
from tests.conftest import FIXTURES, ROOT
from tests.fixture_expectations import expectations, fixture_files
from tests.integrations.conftest import python_tool

pytestmark = pytest.mark.integration

FORMAT = "--format=%(path)s\t%(row)d\t%(col)d\t%(code)s\t%(text)s"
REGISTERED = {r.code for r in all_rules()}


def flake8(
    *args: str, cwd: Path = ROOT, input: str | None = None
) -> tuple[int, list[tuple[str, int, int, str, str]]]:
    proc = python_tool(
        "flake8", "--isolated", "--select", "CKP", FORMAT, *args, cwd=cwd, input=input
    )
    assert proc.returncode in (0, 1), proc.stderr
    rows = []
    for line in proc.stdout.splitlines():
        path, row, col, code, text = line.split("\t")
        rows.append((os.path.normpath(path), int(row), int(col), code, text))
    return proc.returncode, sorted(rows)


def ckpt_lint_json(*args: str, cwd: Path = ROOT) -> list[tuple[str, int, int, str, str]]:
    proc = python_tool("ckpt_lint", "check", "--format", "json", *args, cwd=cwd)
    assert proc.returncode in (0, 1), proc.stderr
    return sorted(
        (os.path.normpath(f["path"]), f["line"], f["column"], f["code"], f["message"])
        for f in json.loads(proc.stdout)
    )


def test_plugin_is_registered_with_flake8():
    proc = python_tool("flake8", "--version")
    assert "ckpt-lint: " in proc.stdout


def test_flake8_matches_cli_on_fixtures():
    code, got = flake8("fixtures/")
    expected = ckpt_lint_json("fixtures/")
    assert {c for _, _, _, c, _ in expected} <= REGISTERED, "the CLI reported an engine error"
    assert got == expected
    assert code == (1 if expected else 0)
    # and both agree with the fixtures' own `# expect:` comments
    wanted = {
        (p.relative_to(ROOT).as_posix(), line, c)
        for p in fixture_files(FIXTURES)
        for line, c in expectations(p)
        if c in REGISTERED
    }
    assert wanted, "no rule is registered yet"
    assert {(Path(p).as_posix(), line, c) for p, line, _, c, _ in got} == wanted


def test_parallel_workers_see_the_same_project():
    _, serial = flake8("-j", "1", "fixtures/")
    _, parallel = flake8("-j", "2", "fixtures/")
    assert serial and parallel == serial


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    dest = tmp_path / "demo_project"
    shutil.copytree(FIXTURES / "demo_project", dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _append_comment(path: Path, line_no: int, comment: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    line = lines[line_no - 1]
    body = line.rstrip("\r\n")
    lines[line_no - 1] = f"{body}  {comment}{line[len(body) :]}"
    path.write_text("".join(lines), encoding="utf-8")


def test_noqa_is_left_to_flake8(demo_copy: Path):
    targets = [
        (p, line) for p in fixture_files(demo_copy) for line, c in expectations(p) if c == "CKP002"
    ]
    assert targets, "the demo project has no CKP002 line"
    _, before = flake8(".", cwd=demo_copy)
    ckp002 = {(p, line) for p, line, _, c, _ in before if c == "CKP002"}
    assert ckp002, "CKP002 is not reported before adding noqa"
    for path, line in targets:
        _append_comment(path, line, "# noqa: CKP002")
    _, after = flake8(".", cwd=demo_copy)
    assert [r for r in after if r[3] == "CKP002"] == []
    assert [r for r in after if r[3] != "CKP002"] == [r for r in before if r[3] != "CKP002"]
    # flake8, not the plugin, filtered them: with flake8's noqa handling off they are back
    _, disabled = flake8("--disable-noqa", ".", cwd=demo_copy)
    assert {(p, line) for p, line, _, c, _ in disabled if c == "CKP002"} == ckp002


def test_noqa_for_another_code_does_not_hide_ckp002(demo_copy: Path):
    _, before = flake8(".", cwd=demo_copy)
    rows = [r for r in before if r[3] == "CKP002"]
    assert rows
    path, line = demo_copy / rows[0][0], rows[0][1]
    _append_comment(path, line, "# noqa: CKP001")
    _, after = flake8(".", cwd=demo_copy)
    assert rows[0] in after


def test_single_file_with_project_root_sees_callers_in_other_files():
    whole = flake8("fixtures/")[1]
    for path in fixture_files(FIXTURES / "demo_project"):
        rel = path.relative_to(ROOT).as_posix()
        expected = [r for r in whole if Path(r[0]).as_posix() == rel]
        _, got = flake8(f"--ckpt-project-root={FIXTURES / 'demo_project'}", rel)
        assert got == expected, rel


def test_stdin_is_linted_like_the_file():
    path = FIXTURES / "ckp001" / "seed_shape.py"
    rel = path.relative_to(ROOT).as_posix()
    _, from_file = flake8(rel)
    assert from_file
    _, from_stdin = flake8(
        f"--stdin-display-name={rel}", "-", input=path.read_text(encoding="utf-8")
    )
    assert from_stdin == from_file
