"""flake8 plugin: the same engine and messages as `ckpt-lint check`, reported through flake8.

flake8 calls a plugin once per file, possibly in `-j` worker processes, but CKP002 needs
whole-project facts (a deleting function's callers may live in other modules). So the plugin
lints the paths flake8 was given (or `--ckpt-project-root`) once per process with the engine's
`Linter`, keeps the findings by file, and answers each per-file call from that run. A file the
run did not cover (stdin, a file outside the root) is linted alone against the cached project
facts. `# noqa` is left to flake8 (the engine's own filter is off) and fixes are not offered.
"""

from __future__ import annotations

import argparse
import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from ckpt_lint import __version__
from ckpt_lint.config import ENGINE_CODES, Config, ConfigError, load_config
from ckpt_lint.engine.discovery import SourcePath, discover
from ckpt_lint.engine.runner import Linter, LintSettings, Unit, module_name_for, phase1, phase2
from ckpt_lint.model import Finding
from ckpt_lint.rules import all_rules

# flake8 reports unparsable files itself (E999); the plugin only ever sees files that parse
FLAKE8_OWNS = {"CKP900"}


@dataclass
class ProjectRun:
    """One whole-project lint: findings by resolved file path, plus what a late file needs."""

    linter: Linter
    findings: dict[Path, list[Finding]] = field(default_factory=dict)


def _settings(config: Config) -> LintSettings:
    codes = [r.code for r in all_rules()] + [c for c in ENGINE_CODES if c not in FLAKE8_OWNS]
    return LintSettings(
        codes=codes,
        rule_options=config.rule_options,
        runtime_module=config.runtime_module,
        apply_noqa=False,
    )


def build_project_run(
    roots: Sequence[str], config: Config, exclude: Sequence[str] = ()
) -> ProjectRun:
    """Lint `roots` as one project (phase 1 over all, phase 2 on candidates), noqa off."""
    config.extend_exclude = [*config.extend_exclude, *exclude]
    linter = Linter(_settings(config), jobs=1)
    sources: list[SourcePath] = []
    for root in roots:
        try:
            sources.extend(discover([root], config))
        except ConfigError:
            continue  # flake8 reports missing paths itself (E902)
    units = linter.units_for(sources)
    run = linter.lint_units(units)
    out = ProjectRun(linter)
    by_display: dict[str, Path] = {}
    for unit in units:
        assert unit.path is not None
        by_display[unit.display] = unit.path.resolve()
        out.findings[by_display[unit.display]] = []  # covered, even if the prefilter skipped it
    for result in run.results:
        if result.path in by_display:
            out.findings[by_display[result.path]].extend(result.findings)
    return out


def lint_alone(run: ProjectRun, filename: str, text: str) -> list[Finding]:
    """Lint a file the project run did not include, against the run's project facts."""
    path = Path(filename)
    module = module_name_for(path) if path.exists() else path.stem
    unit = Unit(filename, None, module, data=text.encode("utf-8"))
    settings = run.linter.settings
    first = phase1(unit, settings, keep=True)
    if not first.candidate and first.error is None:
        return []
    if first.error is not None:
        return [first.error] if first.error.code in settings.codes else []
    if first.facts is None:  # skip-file comment
        return []
    project = run.linter.project
    assert project is not None
    return phase2(first, project.with_file(first.facts), settings).findings


class CkptLintPlugin:
    """flake8 entry point `CKP` (flake8.extension)."""

    name = "ckpt-lint"
    version = __version__

    _options: ClassVar[argparse.Namespace | None] = None
    _active: ClassVar[bool] = True  # False when flake8 selects no CKP code: skip all work
    _runs: ClassVar[dict[tuple[Any, ...], ProjectRun]] = {}

    def __init__(self, tree: ast.AST, filename: str, lines: Sequence[str]) -> None:
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, parser: Any) -> None:
        parser.add_option(
            "--ckpt-project-root",
            default=None,
            parse_from_config=True,
            normalize_paths=True,
            help=(
                "ckpt-lint: directory whose files make up the project for cross-file facts "
                "(callers of checkpoint-deleting functions). Default: the paths flake8 was given."
            ),
        )

    @classmethod
    def parse_options(cls, options: argparse.Namespace) -> None:
        cls._options = options
        cls._active = cls._selected(options)
        if cls._active:
            cls._project_run()  # build before flake8 forks its workers, so they inherit it

    @staticmethod
    def _selected(options: argparse.Namespace) -> bool:
        try:
            from flake8.style_guide import Decision, DecisionEngine

            engine = DecisionEngine(options)
            return any(engine.decision_for(r.code) is Decision.Selected for r in all_rules())
        except Exception:  # an unknown flake8 version: build anyway, correctness first
            return True

    @classmethod
    def _roots(cls) -> list[str]:
        options = cls._options
        root = getattr(options, "ckpt_project_root", None) if options else None
        if root:
            return [str(root)]
        names = list(getattr(options, "filenames", None) or ["."]) if options else ["."]
        return [n for n in names if n != "-"]

    @classmethod
    def _project_run(cls) -> ProjectRun:
        roots = cls._roots()
        options = cls._options
        exclude = [
            *(getattr(options, "exclude", None) or []),
            *(getattr(options, "extend_exclude", None) or []),
        ]
        key = (tuple(roots), tuple(exclude))
        run = cls._runs.get(key)
        if run is None:
            anchor = Path(roots[0]) if roots else Path.cwd()
            try:
                config = load_config(None, search_from=anchor if anchor.exists() else Path.cwd())
            except ConfigError as exc:
                raise SystemExit(f"ckpt-lint: {exc}") from None
            run = build_project_run(roots, config, exclude)
            cls._runs[key] = run
        return run

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        if not self._active:
            return
        project = self._project_run()
        resolved = Path(self.filename).resolve() if self.filename not in ("-", "stdin") else None
        if resolved is not None and resolved in project.findings:
            findings = project.findings[resolved]
        else:
            findings = lint_alone(project, self.filename, "".join(self.lines))
        for f in findings:
            yield f.start.line, f.start.column - 1, f"{f.code} {f.message}", type(self)
