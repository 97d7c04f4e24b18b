"""Read `# expect: CODE[, CODE]` comments from fixtures and lint fixtures in memory."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from ckpt_lint.engine.api import make_settings
from ckpt_lint.engine.runner import Linter, Unit, module_name_for
from ckpt_lint.engine.discovery import display_path

EXPECT = re.compile(r"#\s*expect:\s*(?P<codes>CKP\d{3}(?:\s*,\s*CKP\d{3})*)")


def expectations(path: Path) -> set[tuple[int, str]]:
    out = set()
    text = path.read_text(encoding="utf-8")
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            m = EXPECT.search(tok.string)
            if m:
                out |= {(tok.start[0], c.strip()) for c in m.group("codes").split(",")}
    return out


def fixture_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def lint_tree(root: Path, overrides: dict[Path, str] | None = None, codes=None):
    """Lint every fixture file under root (optionally with some contents replaced)."""
    overrides = overrides or {}
    units = []
    for p in fixture_files(root):
        data = overrides[p].encode() if p in overrides else None
        units.append(Unit(display_path(p), p, module_name_for(p), data=data))
    linter = Linter(make_settings(codes=codes), jobs=1)
    return linter, linter.lint_units(units)
