"""Shared analyses, computed once per file and asked by every rule.

Each analysis is a class taking a `FileAnalysis` (the per-file memo) and may ask for others
with `file.get(OtherAnalysis)`. An analysis that other files need to know about declares
`summary_key` and `summary()`: a small picklable value stored in `FileFacts` (phase 1).
A `ProjectAnalysis` subclass merges those summaries across the project (phase 2).

- `names`: imports, aliases and definitions -> qualified names (no LibCST scope metadata).
- `structure`: parents, enclosing functions/classes, statement lists (own cheap parent map).
- `guards`: which process(es) can reach a statement (global / per-node / all).
- `taint`: wall-clock and random values flowing into checkpoint paths.
- `callgraph`: who calls which function, under which guard, across modules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from ckpt_lint.engine.source import ParsedFile
    from ckpt_lint.textfilter import TextFilter

A = TypeVar("A", bound="Analysis")
P = TypeVar("P", bound="ProjectAnalysis")


class Analysis:
    """A per-file analysis. Subclasses set `summary_key` to export facts to the project phase."""

    summary_key: ClassVar[str | None] = None
    # text a file must hold for `summary()` to say anything; others get `empty_summary()`
    # in the first scan (a file that turns out to call into the project is re-read in full)
    prefilter: ClassVar[TextFilter | None] = None
    _summarizers: ClassVar[list[type[Analysis]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("summary_key"):
            Analysis._summarizers.append(cls)

    def __init__(self, file: FileAnalysis) -> None:
        self.file = file

    def summary(self) -> Any:
        raise NotImplementedError

    def interest(self) -> set[str]:
        """Qualified names of functions of this file whose call sites in *other* files its
        findings depend on."""
        return set()

    def conditional_interest(self) -> dict[str, frozenset[str]]:
        """Qualified names whose call sites matter only if a function named in their set (of
        any module) turns out to be of interest; the engine resolves these project-wide."""
        return {}

    @classmethod
    def empty_summary(cls) -> Any:
        return None

    @classmethod
    def prefilter_for(cls, options: dict[str, Any]) -> TextFilter | None:
        """The prefilter under these options (an analysis with extra vocabulary widens it)."""
        return cls.prefilter


class FileAnalysis:
    """Per-file memo of analyses; one per parsed file, shared by all rules."""

    def __init__(self, parsed: ParsedFile, module_name: str, options: dict[str, Any] | None = None):
        self.parsed = parsed
        self.module = parsed.module
        self.module_name = module_name
        self.options = options or {}
        self._cache: dict[type, Analysis] = {}

    def get(self, cls: type[A]) -> A:
        found = self._cache.get(cls)
        if found is None:
            found = cls(self)
            self._cache[cls] = found
        return found  # type: ignore[return-value]

    def facts(self, gate: bytes | None = None, need: Iterable[str] = ()) -> FileFacts:
        """Summaries of every analysis; with `gate` (the file's bytes), analyses whose prefilter
        the file does not match are skipped (listed in `FileFacts.skipped`) unless their
        summary key is in `need` (a caller in another file depends on it)."""
        _import_all()
        summaries: dict[str, Any] = {}
        interest: set[tuple[str, str]] = set()
        conditional: dict[tuple[str, str], frozenset[str]] = {}
        skipped: set[str] = set()
        for cls in Analysis._summarizers:
            key: str = cls.summary_key  # type: ignore[assignment]
            pattern = cls.prefilter_for(self.options) if gate is not None else None
            if pattern is not None and key not in need and not pattern.search(gate or b""):
                summaries[key] = cls.empty_summary()
                skipped.add(key)
                continue
            analysis = self.get(cls)
            summaries[key] = analysis.summary()
            interest.update((key, qual) for qual in analysis.interest())
            for qual, deps in analysis.conditional_interest().items():
                conditional[(key, qual)] = deps
        # other files reach this one only through names it defines or re-exports at module
        # level (imports resolve nothing else), so only those are worth scanning for
        from ckpt_lint.analysis.names import Names

        names = self.get(Names)
        importable = names.definitions.keys() | names.imports.keys()
        prefix = self.module_name + "."

        def exported(qual: str) -> str | None:
            name = caller_name(qual[len(prefix) :]) if qual.startswith(prefix) else ""
            return name if name.split(".", 1)[0] in importable else None

        wanted = {(key, n) for key, qual in interest if (n := exported(qual))}
        relayed = {
            (key, n, deps) for (key, qual), deps in conditional.items() if (n := exported(qual))
        }
        return FileFacts(
            path=self.parsed.path,
            module_name=self.module_name,
            summaries=summaries,
            interest=frozenset(wanted),
            skipped=frozenset(skipped),
            conditional=frozenset(relayed),
        )


@dataclass
class FileFacts:
    """Phase-1 output for one file: picklable summaries keyed by analysis."""

    path: str
    module_name: str
    summaries: dict[str, Any] = field(default_factory=dict)
    # (summary key, `caller_name`): what other files must write to call a function whose call
    # sites the analysis with that summary key needs to see
    interest: frozenset[tuple[str, str]] = frozenset()
    # summary keys of analyses skipped by their prefilter (empty summaries): a file found to
    # call into the project is parsed again for the ones its calls matter to
    skipped: frozenset[str] = frozenset()
    # (summary key, `caller_name`, names): interest only once a function named in `names`
    # (in any module) is of interest
    conditional: frozenset[tuple[str, str, frozenset[str]]] = frozenset()

    def get(self, key: str) -> Any:
        return self.summaries.get(key)


class ProjectAnalysis:
    """Merges FileFacts of all files into project-wide facts; registered by subclassing."""

    _registry: ClassVar[list[type[ProjectAnalysis]]] = []

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ProjectAnalysis._registry.append(cls)

    def __init__(self, files: dict[str, FileFacts], options: dict[str, Any]) -> None:
        self.files = files
        self.options = options


class ProjectFacts:
    """Project-wide facts, built lazily per ProjectAnalysis from all files' summaries."""

    def __init__(
        self, files: dict[str, FileFacts] | None = None, options: dict[str, Any] | None = None
    ):
        self.files = files or {}
        self.options = options or {}
        self._cache: dict[type, ProjectAnalysis] = {}

    def get(self, cls: type[P]) -> P:
        found = self._cache.get(cls)
        if found is None:
            found = cls(self.files, self.options)
            self._cache[cls] = found
        return found  # type: ignore[return-value]

    def with_file(self, facts: FileFacts) -> ProjectFacts:
        """The same project with one file's facts replaced (used when re-linting a fixed file)."""
        files = dict(self.files)
        files[facts.path] = facts
        return ProjectFacts(files, self.options)

    def by_module(self) -> dict[str, FileFacts]:
        return {f.module_name: f for f in self.files.values()}


CONSTRUCTORS = ("__init__", "__post_init__", "__new__")


def caller_name(local: str) -> str:
    """What a caller in another module writes to call `local` (a qualname inside its module):
    `f` for a function, `Trainer.save` for a method (called on the imported class), the class
    for its constructor. Deeper nesting is reached through its enclosing definitions."""
    parts = local.split(".")
    if len(parts) >= 2 and parts[1] in CONSTRUCTORS:
        return parts[0]
    return ".".join(parts[:2])


def summary_keys() -> frozenset[str]:
    """Keys of every analysis that exports a summary."""
    _import_all()
    return frozenset(c.summary_key for c in Analysis._summarizers if c.summary_key)


def _import_all() -> None:
    """Import every analysis module so that subclasses register themselves."""
    import importlib
    import pkgutil

    import ckpt_lint.analysis as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
