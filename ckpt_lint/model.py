"""Plain data that flows from the engine to fixers and reporters (picklable, no CST nodes)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Applicability(str, enum.Enum):
    """How far a fix may be trusted, ruff's vocabulary."""

    SAFE = "safe"
    UNSAFE = "unsafe"
    DISPLAY_ONLY = "display-only"


@dataclass(frozen=True, order=True)
class Position:
    """1-based line and 1-based column (code points), as editors and JSON output show them."""

    line: int
    column: int


@dataclass(frozen=True)
class Edit:
    """Replace the text between two positions (end exclusive) with `content`."""

    start: Position
    end: Position
    content: str

    def to_json(self) -> dict:
        return {
            "content": self.content,
            "location": {"row": self.start.line, "column": self.start.column},
            "end_location": {"row": self.end.line, "column": self.end.column},
        }


@dataclass(frozen=True)
class Fix:
    applicability: Applicability
    edits: tuple[Edit, ...]
    message: str = ""

    def to_json(self) -> dict:
        return {
            "applicability": self.applicability.value,
            "message": self.message,
            "edits": [e.to_json() for e in self.edits],
        }


@dataclass(frozen=True)
class Related:
    """A second location that explains a finding (e.g. the caller whose guard is too weak)."""

    path: str
    line: int
    column: int
    message: str

    def to_json(self) -> dict:
        return {
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


@dataclass(frozen=True)
class Finding:
    code: str
    name: str
    message: str
    path: str
    start: Position
    end: Position
    fix: Fix | None = None
    related: tuple[Related, ...] = ()

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.start.line, self.start.column, self.code)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "path": self.path,
            "line": self.start.line,
            "column": self.start.column,
            "end_line": self.end.line,
            "end_column": self.end.column,
            "fix": self.fix.to_json() if self.fix else None,
            "related": [r.to_json() for r in self.related],
        }


@dataclass
class FileResult:
    """Everything one file produced: findings, or a per-file error (CKP900) instead."""

    path: str
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0
