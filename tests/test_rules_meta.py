"""Every rule documents itself, carries examples, has fixtures, and its examples hold."""

from __future__ import annotations

import pytest

from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from ckpt_lint.rules import DOC_SECTIONS, Invalid, Valid, all_rules
from tests.conftest import FIXTURES, ROOT
from tests.fixture_expectations import expectations, fixture_files

RULES = all_rules()
SHIPPED = {"CKP001", "CKP002", "CKP003"}


def test_the_three_checks_are_registered():
    assert SHIPPED <= {r.code for r in RULES}


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_is_documented(rule):
    sections = rule.doc_sections()
    required = [s for s in DOC_SECTIONS if s != "Options" or rule.options]
    missing = [s for s in required if not sections.get(s)]
    assert not missing, f"{rule.code} docstring lacks sections {missing}"
    for name, option in rule.options.items():
        assert name in sections["Options"], f"option {name} undocumented"
        assert option.help
    assert rule.VALID and rule.INVALID
    assert rule.message


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_has_fixture_and_readme_entry(rule):
    assert any(rule.code in {c for _, c in expectations(p)} for p in fixture_files(FIXTURES))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"| {rule.code} |" in readme or f"| `{rule.code}` |" in readme


def _examples():
    for rule in RULES:
        for i, ex in enumerate(rule.VALID):
            yield pytest.param(rule, ex if isinstance(ex, Valid) else Valid(ex), id=f"{rule.code}-valid-{i}")
        for i, ex in enumerate(rule.INVALID):
            yield pytest.param(rule, ex, id=f"{rule.code}-invalid-{i}")


@pytest.mark.parametrize("rule,example", list(_examples()))
def test_example(rule, example):
    files = {example.path: example.code, **example.files}
    settings = make_settings(codes=[rule.code], options={rule.code: example.options})
    found = [f for f in findings_for(files, settings) if f.code == rule.code and f.path == example.path]
    if isinstance(example, Valid):
        assert found == [], [f.message for f in found]
        return
    assert isinstance(example, Invalid)
    assert len(found) == example.count, [f.message for f in found]
    fixed = fix_sources(files, settings, unsafe=True)[example.path]
    if example.fixed is None:
        assert fixed == example.code, "example has no `fixed` but a fix was applied"
    else:
        assert fixed == example.fixed
        again = fix_sources({**files, example.path: fixed}, settings, unsafe=True)[example.path]
        assert again == fixed, "fix is not idempotent"
