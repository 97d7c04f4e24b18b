"""docs/rules.md is generated from the rules; a stale page fails here."""

from __future__ import annotations

from ckpt_lint import docgen
from ckpt_lint.rules import all_rules, register, unregister
from tests.conftest import ROOT
from tests.engine.probe_rule import ProbeRule
from tests.integrations.conftest import python_tool

RULES_MD = ROOT / "docs" / "rules.md"


def test_rules_md_is_up_to_date():
    assert RULES_MD.read_text(encoding="utf-8") == docgen.render(), (
        "docs/rules.md is stale: run `python -m ckpt_lint.docgen`"
    )


def test_every_rule_has_a_section_with_its_docs():
    text = docgen.render()
    for rule in all_rules():
        assert f"## {rule.code} {rule.name}\n" in text
        for heading in rule.doc_sections():
            assert f"### {heading}\n" in text


def test_section_shows_docstring_options_and_first_examples():
    all_rules()
    register(ProbeRule)
    try:
        text = docgen.render()
    finally:
        unregister(ProbeRule.code)
    section = text[text.index("## CKP999 probe") :]
    assert "### What it does\n\nFlags `time.time()`." in section
    assert "```python\nimport time\nx = time.time()\n```" in section
    assert (
        "After `ckpt-lint fix`:\n\n```python\nimport time\nfrom ckpt_lint.runtime import stable_run_id"
        in section
    )
    assert "Not flagged:\n\n```python\nimport os\nos.getcwd()\n```" in section
    assert "| [CKP999](#ckp999-probe) | `probe` | Probe. | safe |" in text


def test_check_flag_exit_codes(tmp_path):
    target = tmp_path / "rules.md"
    stale = python_tool("ckpt_lint.docgen", "--check", "--output", str(target))
    assert stale.returncode == 1 and "stale" in stale.stderr
    written = python_tool("ckpt_lint.docgen", "--output", str(target))
    assert written.returncode == 0
    assert target.read_text(encoding="utf-8") == docgen.render()
    fresh = python_tool("ckpt_lint.docgen", "--check", "--output", str(target))
    assert fresh.returncode == 0, fresh.stderr
