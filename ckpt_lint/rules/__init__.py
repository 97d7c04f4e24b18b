"""The rule mechanism. One rule per module in this package; subclassing `Rule` registers it.

A rule is a class holding its code, kebab-case name, message, fix safety, options, docs (the
class docstring, in ruff's sections) and VALID/INVALID examples, which run as tests and render
into docs/rules.md. `check` reads like the sentence in its docs; how values flow, which guard
dominates a call, or who calls a function is asked of the shared analyses in
`ckpt_lint.analysis`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import libcst as cst

from ckpt_lint.model import Applicability, Edit, Finding, Fix, Related
from ckpt_lint.textfilter import TextFilter, as_filter

if TYPE_CHECKING:
    from ckpt_lint.analysis import FileAnalysis, FileFacts, ProjectFacts

DOC_SECTIONS = (
    "What it does",
    "Why is this bad?",
    "Example",
    "Use instead",
    "Fix safety",
    "Options",
)
DEFAULT_RUNTIME_MODULE = "ckpt_lint.runtime"


@dataclass(frozen=True)
class Valid:
    """Code that must produce no finding of this rule. `files` are sibling modules."""

    code: str
    files: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    path: str = "example.py"


@dataclass(frozen=True)
class Invalid:
    """Code that must produce `count` findings; `fixed` is the file after applying all fixes."""

    code: str
    fixed: str | None = None
    count: int = 1
    files: dict[str, str] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    path: str = "example.py"


@dataclass(frozen=True)
class Option:
    default: Any
    help: str

    def validate(self, name: str, value: Any) -> Any:
        expected = type(self.default)
        if expected in (list, tuple) and isinstance(value, (list, tuple)):
            return list(value)
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ValueError(f"option {name!r} expects {expected.__name__}, got {value!r}")
        return value


class Rule:
    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    message: ClassVar[str] = ""
    fix_safety: ClassVar[Applicability | None] = None
    options: ClassVar[dict[str, Option]] = {}
    # text a file must hold to possibly hold a finding of this rule (speed, issue 9): a
    # `TextFilter` (fast), or a plain bytes regex
    prefilter: ClassVar[TextFilter | bytes | None] = None
    VALID: ClassVar[list[Valid | str]] = []
    INVALID: ClassVar[list[Invalid]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.code and cls.__module__.startswith(__name__ + "."):
            register(cls)

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.settings = {k: o.default for k, o in self.options.items()}
        self.settings.update(options or {})

    def check(self, ctx: RuleContext) -> Iterator[Finding]:
        raise NotImplementedError

    def text_filter(self) -> TextFilter | None:
        """The prefilter under this rule's options (a rule with extra vocabulary widens it)."""
        return as_filter(self.prefilter)

    def may_fire(self, file: FileAnalysis) -> bool:
        """Phase 1's cheap answer from this file's own analyses: could `check` find anything
        here, given any project? A file no rule may fire in skips phase 2 (and its re-parse)."""
        return True

    def may_fire_in(self, facts: FileFacts, project: ProjectFacts) -> bool:
        """The project phase's answer from summaries alone: could `check` find anything in
        this file, given this project? Only files some rule says yes for are parsed again and
        checked, so a rule whose findings hinge on other files (callers' guards, remote sinks)
        should decide here what it can."""
        return True

    @classmethod
    def docs(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def summary(cls) -> str:
        return cls.docs().splitlines()[0] if cls.__doc__ else cls.name

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        sections: dict[str, str] = {}
        current = None
        for line in cls.docs().splitlines():
            heading = re.match(r"^##\s+(.*?)\s*$", line)
            if heading:
                current = heading.group(1)
                sections[current] = ""
            elif current:
                sections[current] += line + "\n"
        return {k: v.strip() for k, v in sections.items()}


_REGISTRY: dict[str, type[Rule]] = {}
_LOADED = False


def register(cls: type[Rule]) -> type[Rule]:
    if not re.fullmatch(r"CKP\d{3}", cls.code):
        raise ValueError(f"bad rule code {cls.code!r}")
    if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.name):
        raise ValueError(f"rule name must be kebab-case: {cls.name!r}")
    existing = _REGISTRY.get(cls.code)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"duplicate rule code {cls.code}: {existing.__name__} and {cls.__name__}")
    _REGISTRY[cls.code] = cls
    return cls


def unregister(code: str) -> None:
    _REGISTRY.pop(code, None)


def all_rules() -> list[type[Rule]]:
    global _LOADED
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            importlib.import_module(f"{__name__}.{info.name}")
        _LOADED = True
    return [_REGISTRY[c] for c in sorted(_REGISTRY)]


def rule_by_code_or_name(key: str) -> type[Rule] | None:
    for cls in all_rules():
        if key.upper() == cls.code or key == cls.name:
            return cls
    return None


class RuleContext:
    """What a rule sees of one file: its analyses, the project, and helpers to report and fix."""

    def __init__(
        self,
        rule: Rule,
        file: FileAnalysis,
        project: ProjectFacts,
        runtime_module: str = DEFAULT_RUNTIME_MODULE,
    ) -> None:
        self.rule = rule
        self.file = file
        self.parsed = file.parsed
        self.module = file.module
        self.project = project
        self.settings = rule.settings
        self.runtime_module = runtime_module

    def finding(
        self,
        node: cst.CSTNode,
        message: str,
        fix: Fix | None = None,
        related: tuple[Related, ...] = (),
    ) -> Finding:
        return Finding(
            code=self.rule.code,
            name=self.rule.name,
            message=message,
            path=self.parsed.path,
            start=self.parsed.start(node),
            end=self.parsed.end(node),
            fix=fix,
            related=related,
        )

    def fix(
        self, edits: list[Edit], message: str, applicability: Applicability | None = None
    ) -> Fix:
        level = applicability or self.rule.fix_safety or Applicability.DISPLAY_ONLY
        return Fix(level, tuple(edits), message)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        return self.parsed.replace(node, new)

    def import_runtime(self, name: str) -> tuple[str, list[Edit]]:
        """Make `name` from the runtime module usable here: (local name, edits to add the import)."""
        from ckpt_lint.analysis.names import Names
        from ckpt_lint.engine.imports import add_import as place_import

        # the project's own top-level packages sort as first-party, as isort would see them
        first_party = {f.module_name.split(".")[0] for f in self.project.files.values()}
        first_party.add(self.file.module_name.split(".")[0])
        return place_import(
            self.parsed, self.file.get(Names), self.runtime_module, name, first_party
        )
