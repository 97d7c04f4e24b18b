"""In-memory entry points: lint or fix a set of sources without touching disk.

Used by rule examples (VALID/INVALID run as tests), docs generation and the flake8 plugin.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from ckpt_lint.engine.fixer import Fixer
from ckpt_lint.engine.runner import Linter, LintSettings, RunResult, Unit
from ckpt_lint.model import Finding
from ckpt_lint.rules import DEFAULT_RUNTIME_MODULE, Rule, all_rules


def module_name_from_relpath(path: str) -> str:
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def make_settings(
    codes: list[str] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
    extra_rules: tuple[type[Rule], ...] = (),
    runtime_module: str = DEFAULT_RUNTIME_MODULE,
    prefilter: bool = True,
    max_file_size: int = 1_000_000,
) -> LintSettings:
    known = [r.code for r in [*all_rules(), *extra_rules]] + ["CKP900", "CKP901"]
    return LintSettings(
        codes=codes if codes is not None else known,
        rule_options=options or {},
        runtime_module=runtime_module,
        prefilter=prefilter,
        extra_rules=list(extra_rules),
        max_file_size=max_file_size,
    )


def lint_sources(files: dict[str, str], settings: LintSettings) -> tuple[Linter, RunResult]:
    linter = Linter(settings, jobs=1)
    units = [
        Unit(path, None, module_name_from_relpath(path), data=text.encode("utf-8"))
        for path, text in files.items()
    ]
    return linter, linter.lint_units(units)


def findings_for(files: dict[str, str], settings: LintSettings) -> list[Finding]:
    return lint_sources(files, settings)[1].findings


def fix_sources(
    files: dict[str, str], settings: LintSettings, unsafe: bool = True
) -> dict[str, str]:
    """Apply every applicable fix; returns the new text of each file."""
    linter, run = lint_sources(files, settings)
    report = Fixer(linter, unsafe=unsafe).run(run, write=False)
    out = dict(files)
    for ff in report.files:
        if ff.changed:
            out[ff.path] = ff.fixed
    if report.errors:
        raise AssertionError("; ".join(report.errors))
    return out
