"""`--format json`: one JSON array on stdout, sorted by path, line, column."""

from __future__ import annotations

import json
from typing import TextIO

from ckpt_lint.report import Report


def render(report: Report, out: TextIO) -> None:
    items = [f.to_json() for f in sorted(report.findings, key=lambda f: f.sort_key)]
    json.dump(items, out, indent=2, ensure_ascii=False)
    out.write("\n")
