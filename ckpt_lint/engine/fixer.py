"""Apply fixes: pick non-overlapping edits, re-parse, re-lint, loop to a fixed point, write.

A fix iteration is kept only if the result parses and re-linting shows the fixed findings gone
with no new finding of any code; otherwise that file is rolled back and the failure reported.
Suppressed findings never reach here, so a `# noqa` line is never touched.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ckpt_lint.analysis import FileAnalysis, ProjectFacts
from ckpt_lint.engine.fsio import WriteError, write_atomic
from ckpt_lint.engine.imports import prune_unused_imports
from ckpt_lint.engine.runner import Linter, Phase1, RunResult, Unit, phase1, phase2
from ckpt_lint.engine.source import SourceError, SourceText, apply_edits, parse
from ckpt_lint.model import Applicability, Edit, Finding, Position

MAX_ITERATIONS = 10


@dataclass
class FileFix:
    path: str
    original: str
    fixed: str
    source: SourceText
    fixed_findings: list[Finding] = field(default_factory=list)
    remaining: list[Finding] = field(default_factory=list)
    error: str | None = None

    @property
    def changed(self) -> bool:
        return self.fixed != self.original

    def diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.fixed.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )


@dataclass
class FixReport:
    files: list[FileFix] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def fixed_count(self) -> int:
        return sum(len(f.fixed_findings) for f in self.files)


def applicable(finding: Finding, unsafe: bool) -> bool:
    if finding.fix is None or not finding.fix.edits:
        return False
    level = finding.fix.applicability
    return level is Applicability.SAFE or (unsafe and level is Applicability.UNSAFE)


def choose(findings: list[Finding]) -> tuple[list[Finding], list[Edit]]:
    """Non-overlapping fixes, first in the file wins; identical edits (an import) are shared."""
    chosen: list[Finding] = []
    taken: list[Edit] = []
    for finding in sorted(findings, key=lambda f: f.sort_key):
        assert finding.fix is not None
        new = [e for e in finding.fix.edits if e not in taken]
        if any(_overlaps(e, t) for e in new for t in taken):
            continue
        chosen.append(finding)
        taken.extend(new)
    return chosen, _merge_import_lines(taken)


_IMPORT_LINE = re.compile(
    r"(?P<pre>(?:\r?\n)?)from (?P<mod>[\w.]+) import (?P<names>[\w, ]+?)"
    r"(?P<nl>\r?\n)(?P<post>(?:\r?\n)?)\Z"
)


def _merge_import_lines(edits: list[Edit]) -> list[Edit]:
    """Two fixes adding `from m import a` and `from m import b` at one spot make one line."""
    merged: dict[tuple[Position, str, str, str, str], list[str]] = {}
    out: list[Edit] = []
    for edit in edits:
        match = _IMPORT_LINE.match(edit.content) if edit.start == edit.end else None
        if match is None:
            out.append(edit)
            continue
        key = (edit.start, match["mod"], match["pre"], match["nl"], match["post"])
        names = merged.setdefault(key, [])
        names.extend(n.strip() for n in match["names"].split(",") if n.strip() not in names)
    for (start, module, pre, nl, post), names in merged.items():
        line = f"{pre}from {module} import {', '.join(sorted(names))}{nl}{post}"
        out.append(Edit(start, start, line))
    return out


def _overlaps(a: Edit, b: Edit) -> bool:
    if a.start == a.end or b.start == b.end:  # insertions only clash strictly inside a span
        return b.start < a.start < b.end or a.start < b.start < a.end
    return a.start < b.end and b.start < a.end


class Fixer:
    def __init__(self, linter: Linter, unsafe: bool) -> None:
        self.linter = linter
        self.unsafe = unsafe
        assert linter.project is not None, "lint before fixing"
        self.project: ProjectFacts = linter.project

    def relint(self, unit: Unit, text: str, source: SourceText) -> list[Finding]:
        """Lint `text` as the new content of `unit`, in the project as it stands now."""
        data = source.encode(text)
        probe = Unit(unit.display, unit.path, unit.module_name, data=data)
        first = phase1(probe, self.linter.settings, keep=True, force=True)
        if first.error is not None:
            raise SourceError(first.error.message)
        assert first.facts is not None
        project = self.project.with_file(first.facts)
        first.candidate = True
        return phase2(first, project, self.linter.settings).findings

    def fix_file(self, first: Phase1, findings: list[Finding]) -> FileFix:
        unit = first.unit
        source = SourceText.decode(unit.read())
        result = FileFix(unit.display, source.text, source.text, source, remaining=findings)
        current_findings = findings
        text = source.text
        for _ in range(MAX_ITERATIONS + 1):
            todo = [f for f in current_findings if applicable(f, self.unsafe)]
            if not todo:
                break
            chosen, edits = choose(todo)
            try:
                candidate = apply_edits(text, edits)
                parse(candidate)
            except (ValueError, SourceError) as exc:
                result.error = f"fix for {_names(chosen)} does not produce valid code ({exc}); file left unchanged"
                return self._rollback(result, findings)
            try:
                after = self.relint(unit, candidate, source)
            except SourceError as exc:
                result.error = (
                    f"fix for {_names(chosen)} broke the file ({exc}); file left unchanged"
                )
                return self._rollback(result, findings)
            problem = _verify(current_findings, chosen, after)
            if problem:
                result.error = (
                    f"fix for {_names(chosen)} did not verify: {problem}; file left unchanged"
                )
                return self._rollback(result, findings)
            result.fixed_findings.extend(chosen)
            text, current_findings = candidate, after
        else:
            result.error = (
                f"fixes did not converge after {MAX_ITERATIONS} rounds; file left unchanged"
            )
            return self._rollback(result, findings)
        if text != source.text:
            pruned = prune_unused_imports(source.text, text, unit.display)
            if pruned != text and self._prune_verifies(unit, source, pruned, current_findings):
                text = pruned
        result.fixed = text
        result.remaining = current_findings
        if result.changed:
            # later files are re-linted against this file's fixed facts
            probe = Unit(unit.display, unit.path, unit.module_name, data=source.encode(text))
            facts = phase1(probe, self.linter.settings, keep=False, force=True).facts
            if facts is not None:
                self.project = self.project.with_file(facts)
        return result

    def _prune_verifies(
        self, unit: Unit, source: SourceText, text: str, findings: list[Finding]
    ) -> bool:
        """Dropping imports must parse and change no finding."""
        try:
            parse(text)
            after = self.relint(unit, text, source)
        except SourceError:
            return False
        return sorted(f.code for f in after) == sorted(f.code for f in findings)

    def _rollback(self, result: FileFix, findings: list[Finding]) -> FileFix:
        result.fixed = result.original
        result.fixed_findings = []
        result.remaining = findings
        return result

    def run(self, lint: RunResult, write: bool) -> FixReport:
        report = FixReport()
        for file_result in lint.results:
            first = self.linter.phase1_results.get(file_result.path)
            fixable = [f for f in file_result.findings if applicable(f, self.unsafe)]
            if first is None or not fixable:
                report.files.append(
                    FileFix(
                        file_result.path, "", "", SourceText(""), remaining=file_result.findings
                    )
                )
                continue
            fixed = self.fix_file(first, file_result.findings)
            if fixed.error:
                report.errors.append(f"{fixed.path}: {fixed.error}")
            if write and fixed.changed:
                assert first.unit.path is not None
                try:
                    write_atomic(Path(first.unit.path), fixed.source.encode(fixed.fixed))
                except WriteError as exc:
                    report.errors.append(f"{fixed.path}: {exc}")
                    fixed = self._rollback(fixed, file_result.findings)
            report.files.append(fixed)
        return report


def _names(findings: list[Finding]) -> str:
    return ", ".join(f"{f.code} at {f.start.line}:{f.start.column}" for f in findings)


def _verify(before: list[Finding], fixed: list[Finding], after: list[Finding]) -> str:
    """Each fixed finding must be gone and no code may gain findings."""
    expected = Counter(f.code for f in before) - Counter(f.code for f in fixed)
    got = Counter(f.code for f in after)
    worse = [f"{code} {got[code]} > {expected[code]}" for code in got if got[code] > expected[code]]
    return ", ".join(worse)


__all__ = ["Fixer", "FixReport", "FileFix", "applicable", "FileAnalysis"]
