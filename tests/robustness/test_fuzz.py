"""Bounded fuzz of check + fix (the full-size run is `python -m benchmarks.fuzz`)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from benchmarks.fuzz import (
    FuzzFailure,
    FuzzStats,
    exercise,
    generated_programs,
    mutated_projects,
    spliced_projects,
)
from ckpt_lint.analysis.structure import Structure
from ckpt_lint.engine.api import make_settings
from ckpt_lint.model import Applicability
from ckpt_lint.rules import Rule
from tests.robustness.conftest import FUZZ_PROFILE

PROFILE = settings.get_profile(FUZZ_PROFILE)
STATS = FuzzStats()


@settings(PROFILE)
@given(generated_programs())
def test_generated_programs_never_crash(program):
    exercise({"generated.py": program}, STATS)


@settings(PROFILE, max_examples=PROFILE.max_examples // 3)
@given(spliced_projects())
def test_hazards_beside_generated_code_fix_cleanly(files):
    exercise(files, STATS)


@settings(PROFILE, max_examples=PROFILE.max_examples * 2)
@given(mutated_projects)
def test_mutated_fixtures_never_crash_and_fixes_verify(files):
    exercise(files, STATS)


def test_fuzz_did_real_work():
    # runs last in this module: the fuzz above must have exercised fixes, not only no-op code
    assert STATS.programs >= 300
    assert STATS.fixes_verified > 50
    assert STATS.parse_errors > 0  # syntax-breaking mutations reached the CKP900 path


class _CrashingRule(Rule):
    """Test-only: raises inside check (not registered: it lives outside ckpt_lint.rules)."""

    code = "CKP998"
    name = "crashing-probe"
    message = "crash"

    def check(self, ctx):
        raise ZeroDivisionError("rule bug")


class _StubbornFixRule(Rule):
    """Test-only: flags `x = 1` and offers a fix that leaves the finding in place."""

    code = "CKP997"
    name = "stubborn-fix-probe"
    message = "stubborn"
    fix_safety = Applicability.SAFE

    def check(self, ctx):
        for call in ctx.file.get(Structure).calls:
            fix = ctx.fix([ctx.replace(call, ctx.parsed.code(call) + " or 0")], "no-op")
            yield ctx.finding(call, "stubborn", fix=fix)


def test_oracle_reports_internal_errors():
    lint = make_settings(extra_rules=(_CrashingRule,), prefilter=False)
    with pytest.raises(FuzzFailure, match="internal error.*ZeroDivisionError"):
        exercise({"a.py": "x = 1\n"}, lint=lint)


def test_oracle_reports_fixes_that_do_not_remove_their_finding():
    lint = make_settings(extra_rules=(_StubbornFixRule,), prefilter=False)
    with pytest.raises(FuzzFailure, match="rejected"):
        exercise({"a.py": "f()\n"}, lint=lint)
