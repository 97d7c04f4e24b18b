"""noqa on multi-line findings: the reported (first) line suppresses, like flake8; a fix never
rewrites a line that carries a noqa comment."""

from __future__ import annotations

from ckpt_lint.engine.api import findings_for, fix_sources, make_settings
from tests.conftest import FIXTURES

SETTINGS = make_settings(codes=["CKP003"])
# the found-check spans the `if` and its body: a finding from line 11 to line 12
SOURCE = (
    (FIXTURES / "ckp003" / "silent_fall_through.py").read_text().replace("  # expect: CKP003", "")
)


def test_the_fixture_finding_spans_several_lines():
    (finding,) = findings_for({"a.py": SOURCE}, SETTINGS)
    assert (finding.start.line, finding.end.line) == (11, 12)


def test_noqa_on_the_first_line_suppresses_and_nothing_is_fixed():
    text = SOURCE.replace("if ckpts:", "if ckpts:  # noqa: CKP003")
    assert findings_for({"a.py": text}, SETTINGS) == []
    assert fix_sources({"a.py": text}, SETTINGS)["a.py"] == text


def test_a_fix_keeps_a_noqa_line_inside_the_span_byte_for_byte():
    noqa_line = "        step = load(ckpts[-1])  # noqa: CKP003\n"
    text = SOURCE.replace("        step = load(ckpts[-1])\n", noqa_line)
    assert len(findings_for({"a.py": text}, SETTINGS)) == 1  # not the reported line: still found
    fixed = fix_sources({"a.py": text}, SETTINGS)["a.py"]
    assert fixed != text and noqa_line in fixed
