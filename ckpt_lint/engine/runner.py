"""The two-phase lint.

Phase 1 (per file, parallel): read -> parse -> analyses -> FileFacts (picklable summaries).
Only files that a rule's prefilter matches are parsed first; then files mentioning a name that
those files export as "interest" (e.g. a function that deletes checkpoints) are parsed too,
until nothing new turns up, so cross-file facts never miss a caller.
Project phase: ProjectFacts merges all FileFacts.
Phase 2 (candidate files only): rules check each file with the project facts -> findings.
"""

from __future__ import annotations

import os
import re
import traceback
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckpt_lint.analysis import FileAnalysis, FileFacts, ProjectFacts
from ckpt_lint.config import Config
from ckpt_lint.engine.discovery import SourcePath, discover
from ckpt_lint.engine.source import ParsedFile, SourceError
from ckpt_lint.engine.suppress import is_suppressed, noqa_lines, skips_file
from ckpt_lint.model import FileResult, Finding, Position
from ckpt_lint.rules import Rule, RuleContext, all_rules

PARSE_ERROR = ("CKP900", "unparsable-file")
INTERNAL_ERROR = ("CKP901", "internal-error")
PARALLEL_THRESHOLD = 48  # below this many parses a process pool costs more than it saves


def module_name_for(path: Path) -> str:
    """Dotted module name: walk up while the directory is a package."""
    path = path.resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").exists() and directory.name:
        parts.append(directory.name)
        directory = directory.parent
    return ".".join(reversed(parts)) or path.stem


def error_finding(
    code_name: tuple[str, str], path: str, message: str, line: int = 1, col: int = 1
) -> Finding:
    pos = Position(max(line, 1), max(col, 1))
    return Finding(code_name[0], code_name[1], message, path, pos, pos)


@dataclass
class Unit:
    """One file to lint: where to read it, how to show it, and its module name."""

    display: str
    path: Path | None
    module_name: str
    data: bytes | None = None  # given directly (stdin, examples, fixer re-lint)

    def read(self) -> bytes:
        if self.data is not None:
            return self.data
        assert self.path is not None
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise SourceError(f"cannot read file: {exc.strerror or exc}") from None


@dataclass
class RunResult:
    results: list[FileResult] = field(default_factory=list)
    files_checked: int = 0
    files_parsed: int = 0

    @property
    def findings(self) -> list[Finding]:
        out = [f for r in self.results for f in r.findings]
        return sorted(out, key=lambda f: f.sort_key)


@dataclass
class LintSettings:
    """Everything a worker needs to lint (picklable)."""

    codes: list[str]
    rule_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    runtime_module: str = "ckpt_lint.runtime"
    prefilter: bool = True
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    extra_rules: list[type[Rule]] = field(default_factory=list)
    # off for hosts that own suppression themselves (flake8 handles noqa comments for the plugin)
    apply_noqa: bool = True

    def rules(self) -> list[Rule]:
        known = {r.code: r for r in [*all_rules(), *self.extra_rules]}
        return [known[c](self.rule_options.get(c)) for c in self.codes if c in known]

    @classmethod
    def from_config(cls, config: Config, prefilter: bool = True) -> LintSettings:
        return cls(
            codes=config.enabled_codes(),
            rule_options=config.rule_options,
            runtime_module=config.runtime_module,
            prefilter=prefilter,
            per_file_ignores=config.per_file_ignores,
        )


def _analysis_options(settings: LintSettings) -> dict[str, Any]:
    """Rule options that shared analyses read too (e.g. extra taint sources), flattened."""
    merged: dict[str, Any] = {}
    for opts in settings.rule_options.values():
        merged.update(opts)
    return merged


# ---- phase 1 ---------------------------------------------------------------------------------


@dataclass
class Phase1:
    unit: Unit
    facts: FileFacts | None = None
    error: Finding | None = None
    candidate: bool = False
    parsed: Any = None  # the FileAnalysis, kept in-process for phase 2


def phase1(unit: Unit, settings: LintSettings, keep: bool) -> Phase1:
    out = Phase1(unit)
    try:
        data = unit.read()
        if skips_file(data):
            return out
        out.candidate = _is_candidate(data, settings)
        parsed = ParsedFile.from_bytes(unit.display, data)
        analysis = FileAnalysis(parsed, unit.module_name, _analysis_options(settings))
        out.facts = analysis.facts()
        if keep and out.candidate:
            out.parsed = analysis
    except SourceError as exc:
        out.error = error_finding(PARSE_ERROR, unit.display, str(exc), exc.line, exc.column)
        out.candidate = False
    except RecursionError:
        out.error = error_finding(PARSE_ERROR, unit.display, "too deeply nested to analyse")
    except Exception as exc:  # an analysis bug must not stop the run
        out.error = error_finding(INTERNAL_ERROR, unit.display, _internal(exc))
    return out


def _internal(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"internal error{where}: {type(exc).__name__}: {exc} (please report)"


def _prefilter(settings: LintSettings) -> re.Pattern[bytes] | None:
    patterns = []
    for rule in settings.rules():
        if rule.prefilter is None:
            return None
        patterns.append(rule.prefilter)
    if not patterns:
        return None
    return re.compile(b"|".join(b"(?:" + p + b")" for p in patterns))


def _is_candidate(data: bytes, settings: LintSettings) -> bool:
    if not settings.prefilter:
        return True
    pattern = _prefilter(settings)
    return pattern is None or pattern.search(data) is not None


def _mentions(unit: Unit, names: frozenset[str]) -> bool:
    if not names:
        return False
    try:
        data = unit.read()
    except SourceError:
        return False
    pattern = re.compile(
        rb"\b(?:" + b"|".join(re.escape(n.encode()) for n in sorted(names)) + rb")\b"
    )
    return pattern.search(data) is not None


# ---- phase 2 ---------------------------------------------------------------------------------


def phase2(first: Phase1, project: ProjectFacts, settings: LintSettings) -> FileResult:
    unit = first.unit
    result = FileResult(unit.display)
    try:
        analysis = first.parsed
        if analysis is None:
            parsed = ParsedFile.from_bytes(unit.display, unit.read())
            analysis = FileAnalysis(parsed, unit.module_name, _analysis_options(settings))
        findings: list[Finding] = []
        for rule in settings.rules():
            ctx = RuleContext(rule, analysis, project, settings.runtime_module)
            try:
                findings.extend(rule.check(ctx))
            except RecursionError:
                findings.append(
                    error_finding(PARSE_ERROR, unit.display, "too deeply nested to analyse")
                )
            except Exception as exc:
                findings.append(
                    error_finding(INTERNAL_ERROR, unit.display, f"{rule.code}: {_internal(exc)}")
                )
        result.findings, result.suppressed = _suppress(
            findings, analysis.parsed.source.text, settings, unit
        )
    except SourceError as exc:
        result.findings = [error_finding(PARSE_ERROR, unit.display, str(exc), exc.line, exc.column)]
    return result


def _suppress(
    findings: list[Finding], text: str, settings: LintSettings, unit: Unit
) -> tuple[list[Finding], int]:
    if not findings:
        return [], 0
    ignored = _ignored_for(unit.display, settings.per_file_ignores)
    noqa = noqa_lines(text) if settings.apply_noqa else {}
    kept = [
        f
        for f in findings
        if not is_suppressed(f.code, f.start.line, noqa)
        and not any(f.code.startswith(c) for c in ignored)
    ]
    return sorted(kept, key=lambda f: f.sort_key), len(findings) - len(kept)


def _ignored_for(display: str, per_file_ignores: dict[str, list[str]]) -> set[str]:
    import fnmatch

    name = os.path.basename(display)
    out: set[str] = set()
    for pattern, codes in per_file_ignores.items():
        if fnmatch.fnmatch(display, pattern) or fnmatch.fnmatch(name, pattern):
            out.update(codes)
    return out


# ---- the run ---------------------------------------------------------------------------------

_WORKER_STATE: dict[str, Any] = {}


def _init_worker(settings: LintSettings, project: ProjectFacts | None) -> None:
    _WORKER_STATE["settings"] = settings
    _WORKER_STATE["project"] = project


def _phase1_worker(unit: Unit) -> Phase1:
    return phase1(unit, _WORKER_STATE["settings"], keep=False)


def _phase2_worker(first: Phase1) -> FileResult:
    return phase2(first, _WORKER_STATE["project"], _WORKER_STATE["settings"])


class Linter:
    def __init__(self, settings: LintSettings, jobs: int = 1) -> None:
        self.settings = settings
        self.jobs = max(1, jobs)
        self.project: ProjectFacts | None = None
        self.phase1_results: dict[str, Phase1] = {}

    def units_for(self, sources: Iterable[SourcePath]) -> list[Unit]:
        return [Unit(s.display, s.path, module_name_for(s.path)) for s in sources]

    def lint_paths(self, paths: list[str], config: Config) -> RunResult:
        return self.lint_units(self.units_for(discover(paths, config)))

    def _map(self, fn: Any, items: list[Any], init_project: ProjectFacts | None) -> list[Any]:
        if self.jobs == 1 or len(items) < PARALLEL_THRESHOLD:
            return [fn(i) for i in items]
        chunks = max(1, len(items) // (self.jobs * 8))
        with ProcessPoolExecutor(
            self.jobs, initializer=_init_worker, initargs=(self.settings, init_project)
        ) as pool:
            return list(pool.map(fn, items, chunksize=chunks))

    def lint_units(self, units: list[Unit]) -> RunResult:
        settings = self.settings
        in_process = self.jobs == 1 or len(units) < PARALLEL_THRESHOLD
        done: dict[str, Phase1] = {}
        pending: list[Unit] = []
        rest: list[Unit] = []
        for u in units:
            (pending if not settings.prefilter or _is_candidate_unit(u, settings) else rest).append(
                u
            )
        interest: frozenset[str] = frozenset()
        while pending:
            if in_process:
                firsts = [phase1(u, settings, keep=True) for u in pending]
            else:
                firsts = self._map(_phase1_worker, pending, None)
            for first in firsts:
                done[first.unit.display] = first
                if first.facts is not None:
                    interest |= first.facts.interest
            # the cross-file phase must see every caller of an interesting function
            pending = [u for u in rest if u.display not in done and _mentions(u, interest)]
        facts = {d: p.facts for d, p in done.items() if p.facts is not None}
        project = ProjectFacts(facts, _analysis_options(settings))
        self.project = project
        self.phase1_results = done
        candidates = [p for p in done.values() if p.candidate and p.facts is not None]
        if in_process:
            results = [phase2(p, project, settings) for p in candidates]
        else:
            for p in candidates:
                p.parsed = None
            results = self._map(_phase2_worker, candidates, project)
        errors = [
            FileResult(p.unit.display, [p.error]) for p in done.values() if p.error is not None
        ]
        errors = [_filter_errors(r, settings) for r in errors]
        out = RunResult(files_checked=len(units), files_parsed=len(facts))
        out.results = sorted([*results, *errors], key=lambda r: r.path)
        return out


def _filter_errors(result: FileResult, settings: LintSettings) -> FileResult:
    ignored = _ignored_for(result.path, settings.per_file_ignores)
    result.findings = [
        f
        for f in result.findings
        if f.code in settings.codes and not any(f.code.startswith(c) for c in ignored)
    ]
    return result


def _is_candidate_unit(unit: Unit, settings: LintSettings) -> bool:
    try:
        return _is_candidate(unit.read(), settings)
    except SourceError:
        return True  # let phase 1 report the read error
