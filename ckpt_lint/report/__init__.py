"""Reporters turn findings into output. They only read findings; they never call the engine.

Each module here defines `render(report: Report, out: TextIO) -> None` and is found by name
(`--format json` -> `ckpt_lint.report.json_format`), so adding a format needs no list edit.
"""

from __future__ import annotations

import importlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TextIO

from ckpt_lint.model import Finding

FORMATS = {"text": "text", "json": "json_format", "sarif": "sarif", "github": "github"}


@dataclass
class Report:
    findings: list[Finding]
    files_checked: int = 0
    fixed: int = 0
    errors: list[str] = field(default_factory=list)
    color: bool = False
    statistics: bool = False
    unsafe_fixes: bool = False
    rule_docs: dict[str, tuple[str, str, str]] = field(
        default_factory=dict
    )  # code -> name, summary, docs

    def counts(self) -> Counter[str]:
        return Counter(f.code for f in self.findings)


def render(fmt: str, report: Report, out: TextIO) -> None:
    module = importlib.import_module(f"{__name__}.{FORMATS[fmt]}")
    module.render(report, out)
