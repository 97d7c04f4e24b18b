"""fixtures/ against their `# expect:` comments, noqa on every expected line, golden fixes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckpt_lint.engine.fixer import Fixer
from ckpt_lint.engine.source import parse
from ckpt_lint.rules import all_rules
from tests.conftest import FIXTURES, ROOT
from tests.fixture_expectations import expectations, fixture_files, lint_tree

GOLDEN = ROOT / "tests" / "golden"
REGISTERED = {r.code for r in all_rules()}


def expected_all() -> set[tuple[str, int, str]]:
    out = set()
    for p in fixture_files(FIXTURES):
        rel = p.relative_to(ROOT).as_posix()
        out |= {(rel, line, code) for line, code in expectations(p) if code in REGISTERED}
    return out


def test_cli_findings_match_expect_comments(cli):
    proc = cli("check", "--format", "json", "fixtures/")
    assert proc.returncode in (0, 1), proc.stderr
    got = {(f["path"], f["line"], f["code"]) for f in json.loads(proc.stdout)}
    expected = expected_all()
    assert sorted(got - expected) == [], "unexpected findings"
    assert sorted(expected - got) == [], "missing findings"
    assert proc.returncode == (1 if expected else 0)


@pytest.mark.parametrize(
    "path", [p for p in fixture_files(FIXTURES) if expectations(p)], ids=lambda p: p.relative_to(FIXTURES).as_posix()
)
def test_noqa_on_expected_lines_suppresses_everything(path):
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    for line_no, _code in expectations(path):
        line = lines[line_no - 1]
        lines[line_no - 1] = line.rstrip("\r\n") + "  # noqa" + line[len(line.rstrip("\r\n")) :]
    _, run = lint_tree(FIXTURES, {path: "".join(lines)})
    rel = path.relative_to(ROOT).as_posix()
    assert [f for f in run.findings if f.path == rel] == []


def _fixed_tree():
    linter, run = lint_tree(FIXTURES)
    report = Fixer(linter, unsafe=True).run(run, write=False)
    assert report.errors == []
    return {ff.path: ff for ff in report.files if ff.changed}


def test_golden_fixes(update_golden):
    fixed = _fixed_tree()
    if update_golden:
        for old in GOLDEN.rglob("*.fixed"):
            old.unlink()
        for old in GOLDEN.rglob("*.diff"):
            old.unlink()
    seen = set()
    for rel, ff in sorted(fixed.items()):
        parse(ff.fixed)  # every fixed file parses
        base = GOLDEN / Path(rel).relative_to("fixtures")
        golden_fixed = base.with_name(base.name + ".fixed")
        golden_diff = base.with_name(base.name + ".diff")
        seen |= {golden_fixed, golden_diff}
        if update_golden:
            golden_fixed.parent.mkdir(parents=True, exist_ok=True)
            golden_fixed.write_text(ff.fixed, encoding="utf-8")
            golden_diff.write_text(ff.diff(), encoding="utf-8")
            continue
        assert golden_fixed.exists(), f"no golden file for {rel}; run pytest --update-golden"
        assert ff.fixed == golden_fixed.read_text(encoding="utf-8"), f"{rel} fix changed"
        assert ff.diff() == golden_diff.read_text(encoding="utf-8")
    stale = {p for p in GOLDEN.rglob("*") if p.is_file()} - seen if GOLDEN.exists() else set()
    assert not stale, f"golden files without a fixture fix: {sorted(map(str, stale))}"


def test_fixes_are_idempotent_and_leave_no_fixable_finding():
    fixed = _fixed_tree()
    overrides = {ROOT / rel: ff.fixed for rel, ff in fixed.items()}
    linter, run = lint_tree(FIXTURES, overrides)
    again = Fixer(linter, unsafe=True).run(run, write=False)
    assert [ff.path for ff in again.files if ff.changed] == []


def test_expect_comments_name_registered_rules_only():
    codes = set()
    for p in fixture_files(FIXTURES):
        codes |= {c for _, c in expectations(p)}
    assert codes <= REGISTERED | {"CKP001", "CKP002", "CKP003"}


def test_dogfood_our_own_code_is_clean(cli):
    """ckpt-lint on its own source, tests and benchmarks (the runtime deletes, but gated)."""
    proc = cli("check", "--no-cache", "--format", "json", "ckpt_lint", "tests", "benchmarks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout) == []
