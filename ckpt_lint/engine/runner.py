"""The two-phase lint.

Phase 1 (per file, parallel): read -> text filters -> parse -> analyses -> FileFacts (picklable
summaries). Every file is read once, for its text filters and its ImportTable; only files a
rule's filter matches are parsed. Then files whose imports reach a name those files export as
"interest" (e.g. a function that deletes checkpoints) are parsed too, until nothing new turns
up, so cross-file facts never miss a caller.
Project phase: ProjectFacts merges all FileFacts; each rule says from them (`may_fire_in`)
which candidate files may still hold a finding.
Phase 2 (those files only): rules check each file with the project facts -> findings.
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ckpt_lint.analysis import FileAnalysis, FileFacts, ProjectFacts, summary_keys
from ckpt_lint.config import Config
from ckpt_lint.engine.cache import Cache, content_hash
from ckpt_lint.engine.discovery import SourcePath, discover
from ckpt_lint.engine.source import ParsedFile, SourceError
from ckpt_lint.engine.suppress import is_suppressed, noqa_lines, skips_file
from ckpt_lint.model import FileResult, Finding, Position
from ckpt_lint.rules import Rule, RuleContext, all_rules

PARSE_ERROR = ("CKP900", "unparsable-file")
INTERNAL_ERROR = ("CKP901", "internal-error")
PARALLEL_THRESHOLD = 48  # below this many parses a process pool costs more than it saves


def module_name_for(
    path: Path, packages: dict[Path, str] | None = None, real: Path | None = None
) -> str:
    """Dotted module name: walk up while the directory is a package. `packages` memoises
    each directory's package name across the files of a run; `real` is the resolved path."""
    path = real if real is not None else path.resolve()
    package = _package_of(path.parent, {} if packages is None else packages)
    if path.name == "__init__.py":
        return package or path.stem
    return f"{package}.{path.stem}" if package else path.stem


def _package_of(directory: Path, memo: dict[Path, str]) -> str:
    """`a.b` for a directory b with an `__init__.py` inside a package a; "" for a plain one."""
    known = memo.get(directory)
    if known is None:
        if directory.name and (directory / "__init__.py").exists():
            parent = _package_of(directory.parent, memo)
            known = f"{parent}.{directory.name}" if parent else directory.name
        else:
            known = ""
        memo[directory] = known
    return known


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
    # how the work was cut down: candidates, files parsed only for callers, cache hits, ...
    stats: dict[str, int] = field(default_factory=dict)

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
    max_file_size: int = 1_000_000  # bytes; 0: no limit
    _rules: list[Rule] | None = field(default=None, repr=False, compare=False)

    def rules(self) -> list[Rule]:
        if self._rules is None:
            known = {r.code: r for r in [*all_rules(), *self.extra_rules]}
            self._rules = [known[c](self.rule_options.get(c)) for c in self.codes if c in known]
        return self._rules

    def digest(self) -> str:
        """What the cache must be keyed by besides file content."""
        import hashlib
        import json

        from ckpt_lint.engine.cache import tool_digest

        payload = json.dumps(
            [
                self.codes,
                self.rule_options,
                self.runtime_module,
                self.prefilter,
                self.per_file_ignores,
                self.apply_noqa,
                self.max_file_size,
                sorted(r.__qualname__ for r in self.extra_rules),
            ],
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256((tool_digest() + payload).encode()).hexdigest()

    @classmethod
    def from_config(cls, config: Config, prefilter: bool = True) -> LintSettings:
        return cls(
            codes=config.enabled_codes(),
            rule_options=config.rule_options,
            runtime_module=config.runtime_module,
            prefilter=prefilter,
            per_file_ignores=config.per_file_ignores,
            max_file_size=config.max_file_size,
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
    skipped: bool = False  # `# ckpt-lint: skip-file`
    digest: str | None = None  # sha256 of the content
    parsed: Any = None  # the FileAnalysis, kept in-process for phase 2
    # codes of the rules that may fire here by this file alone (None: not narrowed)
    rules: frozenset[str] | None = None
    # what its imports reach (`ImportTable.reachable`), while a caller scan may still need to
    # ask (facts skipped or absent)
    imports: frozenset[str] | None = None

    @property
    def cache_key(self) -> str:
        return f"{self.digest}\0{self.unit.display}\0{self.unit.module_name}"

    def for_cache(self) -> Phase1:
        return Phase1(
            Unit(self.unit.display, None, self.unit.module_name),
            self.facts,
            self.error,
            self.candidate,
            self.skipped,
            self.digest,
            rules=self.rules,
            imports=self.imports if self.facts is None or self.facts.skipped else None,
        )


def phase1(
    unit: Unit,
    settings: LintSettings,
    keep: bool,
    force: bool = False,
    need: frozenset[str] = frozenset(),
) -> Phase1:
    """Read, prefilter and (if a rule may fire here, or `force`) parse and summarise one file.
    `need`: summary keys other files depend on (parse, and compute those even if gated)."""
    out = Phase1(unit)
    try:
        data = unit.read()
        out.digest = content_hash(data)
        if skips_file(data):
            out.skipped = True
            return out
        matched = _matching_rules(data, settings)
        out.candidate = bool(matched)
        if not (out.candidate or force or need):
            out.imports = ImportTable(data).reachable()  # a later caller scan may ask
            return out
        limit = settings.max_file_size
        if limit and len(data) > limit:  # LibCST holds ~550 bytes of tree per byte of source
            raise SourceError(
                f"too large to analyse ({_size(len(data))} > {_size(limit)}); skipped "
                "(raise `max-file-size` to analyse it)"
            )
        parsed = ParsedFile.from_bytes(unit.display, data)
        analysis = FileAnalysis(parsed, unit.module_name, _analysis_options(settings))
        out.facts = analysis.facts(gate=None if force else data, need=need)
        if out.facts.skipped:
            out.imports = ImportTable(data).reachable()  # still gated: a caller scan may ask
        if out.candidate and settings.prefilter:
            out.rules = frozenset(rule.code for rule in matched if rule.may_fire(analysis))
            out.candidate = bool(out.rules)
        if keep and out.candidate:
            out.parsed = analysis
    except SourceError as exc:
        out.error = error_finding(PARSE_ERROR, unit.display, str(exc), exc.line, exc.column)
        out.candidate = False
    except RecursionError:
        out.error = error_finding(PARSE_ERROR, unit.display, "too deeply nested to analyse")
        out.candidate = False
    except Exception as exc:  # an analysis bug must not stop the run
        out.error = error_finding(INTERNAL_ERROR, unit.display, _internal(exc))
        out.candidate = False
    return out


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n / 1e3:.1f} kB"


def _internal(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" at {Path(frame.filename).name}:{frame.lineno}" if frame else ""
    return f"internal error{where}: {type(exc).__name__}: {exc} (please report)"


def _matching_rules(data: bytes, settings: LintSettings) -> list[Rule]:
    """The enabled rules whose text filter `data` matches (all of them without prefilter)."""
    if not settings.prefilter:
        return settings.rules()
    return [r for r in settings.rules() if (f := r.text_filter()) is None or f.search(data)]


class Interest:
    """Names other files must be parsed for, each with the module words a caller must mention.

    A caller in another file can only reach `pkg.utils.f` through an import naming `utils` (or
    `pkg`, for a re-export from the package): `from pkg.utils import f`, or `f` read as an
    attribute of a name bound to such a module. Each file's `ImportTable` (built in the first
    scan) answers that without reading the file again.
    """

    def __init__(
        self, words: dict[str, set[bytes]], kinds: dict[str, set[str]] | None = None
    ) -> None:
        self.words = words
        # `name\0module word` -> summary keys of the analyses that need the name's callers
        self.pairs: dict[str, set[str]] = {}
        for name, module_words in words.items():
            for word in module_words:
                key = name + "\0" + word.decode("latin-1")
                self.pairs[key] = (kinds or {}).get(name, set())
        self.keys = frozenset(self.pairs)  # `&` of two sets walks the smaller one

    @classmethod
    def of(cls, records: Iterable[Phase1]) -> Interest:
        words: dict[str, set[bytes]] = {}
        kinds: dict[str, set[str]] = {}
        pending: list[tuple[str, str, frozenset[str], set[bytes]]] = []

        def add(kind: str, name: str, tokens: set[bytes]) -> None:
            words.setdefault(name, set()).update(tokens)
            kinds.setdefault(name, set()).add(kind)

        for rec in records:
            if rec.facts is None or not (rec.facts.interest or rec.facts.conditional):
                continue
            parts = [p for p in rec.facts.module_name.split(".") if p]
            tokens = {p.encode() for p in parts[-2:]}
            for kind, name in rec.facts.interest:
                add(kind, name, tokens)
            pending.extend((k, n, deps, tokens) for k, n, deps in rec.facts.conditional)
        # a conditional name joins once a name it depends on has (matched by last part:
        # an over-approximation, so no caller is missed)
        active = {name.rsplit(".", 1)[-1] for name in words}
        changed = True
        while changed and pending:
            changed = False
            waiting = []
            for kind, name, deps, tokens in pending:
                if deps & active:
                    add(kind, name, tokens)
                    active.add(name.rsplit(".", 1)[-1])
                    changed = True
                else:
                    waiting.append((kind, name, deps, tokens))
            pending = waiting
        return cls(words, kinds)

    def __bool__(self) -> bool:
        return bool(self.words)

    def reached_from(self, reachable: frozenset[str]) -> set[str]:
        """Summary keys of the analyses that need a file reaching these (name, module word)
        pairs (`ImportTable.reachable`): those that declared a name it can call."""
        out: set[str] = set()
        for pair in reachable & self.keys:
            out |= self.pairs[pair]
        return out


_FROM = re.compile(rb"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]*(\([^)]*\)|[^\n#]*)", re.M)
_IMPORT = re.compile(rb"^[ \t]*import[ \t]+([^\n#;]+)", re.M)
_ALIAS = re.compile(rb"([\w.]+)(?:\s+as\s+(\w+))?")


class ImportTable:
    """What a file's import statements bring in, read with regexes (no parse): names imported
    from modules (by the words of the module path), local names bound to modules (`import
    a.utils as u`, `from a import utils`), and the attributes read on those (`u.f`)."""

    def __init__(self, data: bytes) -> None:
        self.from_names: dict[bytes, set[bytes]] = {}  # imported name -> words of its module
        self.module_locals: dict[bytes, set[bytes]] = {}  # module word -> local names for it
        for module, names in _FROM.findall(data):
            words = set(module.strip(b".").split(b".")) - {b""}
            for name, alias in _ALIAS.findall(names.strip(b"()")):
                self.from_names.setdefault(name, set()).update(words)
                self.module_locals.setdefault(name, set()).add(alias or name)
        for names in _IMPORT.findall(data):
            for dotted_name, alias in _ALIAS.findall(names):
                parts = dotted_name.split(b".")
                for word in parts:  # `import a.utils` binds `a`; `as u` binds the last part
                    self.module_locals.setdefault(word, set()).add(alias or dotted_name)
        # local name bound by an import -> attributes read on it, one or two deep
        # (`u.f`, `Trainer.save`, `u.Trainer.save`)
        self.attrs: dict[bytes, set[bytes]] = {}
        bound = sorted({n for names in self.module_locals.values() for n in names}, key=len)
        if bound:
            alternatives = b"|".join(re.escape(n) for n in reversed(bound))
            pattern = rb"\b(" + alternatives + rb")\s*\.\s*(\w+)(?:\s*\.\s*(\w+))?"
            for local, attr, inner in re.findall(pattern, data):
                found = self.attrs.setdefault(local, set())
                found.add(attr)
                if inner:
                    found.add(attr + b"." + inner)

    def reachable(self) -> frozenset[str]:
        """`name\0module word` for every name this file can call from another module: what
        a caller scan asks, kept per file between rounds in a fraction of the table's memory
        (a quarter on stdlib + site-packages)."""
        pairs = {
            (name + b"\0" + word).decode("latin-1")
            for name, words in self.from_names.items()
            for word in words
        }
        for name, words in self.from_names.items():  # `Trainer.save` on an imported class
            for local in self.module_locals.get(name, ()):
                for attr in self.attrs.get(local, ()):
                    if b"." not in attr:
                        pairs.update(
                            (name + b"." + attr + b"\0" + word).decode("latin-1") for word in words
                        )
        for word, bound in self.module_locals.items():
            for local in bound:
                pairs.update(
                    (a + b"\0" + word).decode("latin-1") for a in self.attrs.get(local, ())
                )
        return frozenset(pairs)


# ---- phase 2 ---------------------------------------------------------------------------------


def phase2(
    first: Phase1,
    project: ProjectFacts,
    settings: LintSettings,
    codes: frozenset[str] | None = None,
) -> FileResult:
    """Check one file with the project facts: the rules in `codes`, or (None) every rule whose
    text filter matches."""
    unit = first.unit
    result = FileResult(unit.display)
    try:
        analysis = first.parsed
        if analysis is None:
            parsed = ParsedFile.from_bytes(unit.display, unit.read())
            analysis = FileAnalysis(parsed, unit.module_name, _analysis_options(settings))
        findings: list[Finding] = []
        if codes is None:  # not narrowed by phase 1: the rules whose text filter matches
            data = analysis.parsed.source.encode() if settings.prefilter else b""
            codes = frozenset(r.code for r in _matching_rules(data, settings))
        for rule in settings.rules():
            if rule.code not in codes:
                continue  # this rule cannot fire here; its analyses need not run
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
Progress = Callable[[str, int, int], None]


def _worker_context() -> Any:
    """Workers start from a fresh server process, not as forks of this one: a fork of a main
    process holding 21k files' records counts all of it in the worker's resident memory as
    soon as reference counting touches it (peak RSS 567 MB on stdlib + site-packages)."""
    import multiprocessing

    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ckpt_lint.engine.runner", "ckpt_lint.analysis"])
        return context
    return None


def _init_worker(settings: LintSettings, project: ProjectFacts | None) -> None:
    _WORKER_STATE["settings"] = settings
    _WORKER_STATE["project"] = project


def _phase1_worker(unit: Unit) -> Phase1:
    return phase1(unit, _WORKER_STATE["settings"], keep=False)


def _phase1_caller_worker(job: tuple[Unit, frozenset[str]]) -> Phase1:
    return phase1(job[0], _WORKER_STATE["settings"], keep=False, need=job[1])


def _phase2_worker(job: tuple[Phase1, frozenset[str] | None]) -> FileResult:
    return phase2(job[0], _WORKER_STATE["project"], _WORKER_STATE["settings"], job[1])


class Linter:
    def __init__(
        self,
        settings: LintSettings,
        jobs: int = 1,
        cache: Cache | None = None,
        progress: Progress | None = None,
        reuse_runs: bool = True,
    ) -> None:
        """`reuse_runs`: a run over unchanged files may return the stored result without
        facts (off for `fix`, which needs the project facts)."""
        self.settings = settings
        self.reuse_runs = reuse_runs
        self.jobs = max(1, jobs)
        self.cache = cache or Cache(None, "")
        self.progress = progress
        self.project: ProjectFacts | None = None
        self.phase1_results: dict[str, Phase1] = {}
        # (mtime_ns, size) taken *before* a file is read: a file changed during the run then
        # looks changed to the next run, never stale
        self._stats: dict[str, tuple[int, int]] = {}
        self._computed = 0  # cache entries this run had to compute (0: nothing to save)

    def units_for(self, sources: Iterable[SourcePath]) -> list[Unit]:
        packages: dict[Path, str] = {}
        return [Unit(s.display, s.path, module_name_for(s.path, packages, s.real)) for s in sources]

    def lint_paths(self, paths: list[str], config: Config) -> RunResult:
        return self.lint_units(self.units_for(discover(paths, config)))

    def _parallel(self, count: int) -> bool:
        return self.jobs > 1 and count >= PARALLEL_THRESHOLD

    def _map(
        self, stage: str, fn: Any, local: Any, items: list[Any], project: Any = None
    ) -> list[Any]:
        """Run `local` in-process or `fn` in workers over items, reporting progress."""
        out: list[Any] = []
        if not items:
            return out
        if self._parallel(len(items)):
            chunk = max(1, min(64, len(items) // (self.jobs * 16)))
            with ProcessPoolExecutor(
                self.jobs,
                mp_context=_worker_context(),
                initializer=_init_worker,
                initargs=(self.settings, project),
            ) as pool:
                for result in pool.map(fn, items, chunksize=chunk):
                    out.append(result)
                    self._tick(stage, len(out), len(items))
        else:
            for item in items:
                out.append(local(item))
                self._tick(stage, len(out), len(items))
        return out

    def _tick(self, stage: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total)

    def _from_cache(self, unit: Unit) -> Phase1 | None:
        if not self.cache.enabled or unit.data is not None or unit.path is None:
            return None
        st = self._stats.get(unit.display) or self._stat(unit)
        if st is None:
            return None
        digest = self.cache.known_hash(os.path.abspath(unit.path), st)
        if digest is None:
            return None
        key = f"{digest}\0{unit.display}\0{unit.module_name}"
        record = self.cache.old.phase1.get(key)
        if record is None:
            return None
        return Phase1(
            unit,
            record.facts,
            record.error,
            record.candidate,
            record.skipped,
            digest,
            rules=record.rules,
            imports=record.imports,
        )

    def _stat(self, unit: Unit) -> tuple[int, int] | None:
        if unit.path is None or unit.data is not None:
            return None
        try:
            st = os.stat(unit.path)
        except OSError:
            return None
        self._stats[unit.display] = (st.st_mtime_ns, st.st_size)
        return self._stats[unit.display]

    def _fingerprint(self, units: list[Unit]) -> str | None:
        """Every input's name, module, mtime and size: equal fingerprints, equal results."""
        if not (self.cache.enabled and self.reuse_runs):
            return None
        stamps = []
        for unit in units:
            st = self._stat(unit)
            if st is None:
                return None
            path = os.path.abspath(unit.path)  # type: ignore[arg-type]
            stamps.append(f"{unit.display}\0{path}\0{unit.module_name}\0{st[0]}\0{st[1]}")
        return content_hash("\n".join(stamps).encode())

    def lint_units(self, units: list[Unit]) -> RunResult:
        fingerprint = self._fingerprint(units)
        if fingerprint is not None:
            replay = self.cache.run(fingerprint)
            if isinstance(replay, RunResult):
                stats = {**replay.stats, "cached_scan": len(units), "callers_parsed": 0}
                stats.update(checked=0, cached_results=stats.get("candidates", 0), cached_run=1)
                return RunResult(replay.results, replay.files_checked, replay.files_parsed, stats)
        out = self._lint_units(units)
        if fingerprint is not None:
            self.cache.save_run(fingerprint, out)
        return out

    def _lint_units(self, units: list[Unit]) -> RunResult:
        settings = self.settings
        keep = not self._parallel(len(units))
        records: dict[str, Phase1] = {}
        stats = {"files": len(units), "cached_scan": 0, "callers_parsed": 0, "interest_rounds": 0}
        todo: list[Unit] = []
        for unit in units:
            cached = self._from_cache(unit)
            if cached is not None:
                records[unit.display] = cached
                stats["cached_scan"] += 1
            else:
                todo.append(unit)
        for first in self._map(
            "scan", _phase1_worker, lambda u: phase1(u, settings, keep=keep), todo, None
        ):
            records[first.unit.display] = _interned(first)

        # the cross-file phase must see every caller of an interesting function
        every_key = summary_keys()
        while True:
            interest = Interest.of(records.values())
            if not interest:
                break
            hits: list[tuple[Unit, frozenset[str]]] = []
            for unit in units:
                rec = records[unit.display]
                if rec.skipped or rec.error is not None or rec.imports is None:
                    continue
                missing = every_key if rec.facts is None else rec.facts.skipped
                wanted = interest.reached_from(rec.imports) & missing if missing else None
                if wanted:  # a caller whose summaries for these analyses were skipped
                    done = every_key - missing  # keep what it already had
                    hits.append((unit, frozenset(wanted | done)))
            if not hits:
                break
            stats["interest_rounds"] += 1
            for unit, need in hits:
                rec = records[unit.display]
                if rec.parsed is not None:  # still parsed here: complete its summaries
                    source = rec.parsed.parsed.source
                    rec.facts = rec.parsed.facts(gate=source.encode(), need=need)
                    if not rec.facts.skipped:
                        rec.imports = None
            hits = [(u, n) for u, n in hits if records[u.display].parsed is None]
            stats["callers_parsed"] += len(hits)
            for first in self._map(
                "callers",
                _phase1_caller_worker,
                lambda job: phase1(job[0], settings, keep=False, need=job[1]),
                hits,
                None,
            ):
                records[first.unit.display] = _interned(first)
                if first.facts is None and first.error is None:
                    first.skipped = True  # parsed nothing (skip-file): never ask again

        facts = {d: r.facts for d, r in records.items() if r.facts is not None}
        project = ProjectFacts(facts, _analysis_options(settings))
        self.project = project
        self.phase1_results = records
        project_tag = content_hash(
            "\n".join(sorted(r.cache_key for r in records.values() if r.facts)).encode()
        )
        # phase 2 only where the project facts say some rule may fire, and only those rules
        results: list[FileResult] = []
        todo2 = []
        candidates = 0
        for rec in records.values():
            if not rec.candidate or rec.facts is None:
                continue
            key = (rec.cache_key, project_tag)
            hit = self.cache.old.phase2.get(key)  # False: no rule may fire here
            if hit is None:
                codes = _firing(rec, project, settings)
                if codes is not None and not codes:
                    hit = False
                    self._computed += 1
                else:
                    todo2.append((rec, codes))
                    candidates += 1
                    continue
            self.cache.new.phase2[key] = hit
            if isinstance(hit, FileResult):
                results.append(hit)
                candidates += 1
        if self._parallel(len(todo2)):
            for rec, _ in todo2:
                rec.parsed = None  # CST nodes do not cross process boundaries
        computed = self._map(
            "check",
            _phase2_worker,
            lambda job: phase2(job[0], project, settings, job[1]),
            todo2,
            project,
        )
        for (rec, _), result in zip(todo2, computed, strict=True):
            self.cache.new.phase2[(rec.cache_key, project_tag)] = result
        self._computed += len(todo2) + len(todo)
        results.extend(computed)

        self._remember(units, records)
        errors = [FileResult(r.unit.display, [r.error]) for r in records.values() if r.error]
        errors = [_filter_errors(r, settings) for r in errors]
        stats["candidates"] = candidates  # files checked, or whose check result was cached
        stats["checked"] = len(todo2)
        stats["cached_results"] = candidates - len(todo2)
        out = RunResult(files_checked=len(units), files_parsed=len(facts), stats=stats)
        out.results = sorted([*results, *errors], key=lambda r: r.path)
        return out

    def _remember(self, units: list[Unit], records: dict[str, Phase1]) -> None:
        if not self.cache.enabled:
            return
        new = self.cache.new
        for unit in units:
            rec = records[unit.display]
            st = self._stats.get(unit.display)
            if rec.digest is None or st is None or unit.data is not None:
                continue
            new.stats[os.path.abspath(unit.path or unit.display)] = (*st, rec.digest)
            new.phase1[rec.cache_key] = rec.for_cache()
        old = self.cache.old
        sizes = [len(new.stats), len(new.phase1), len(new.phase2)]
        if self._computed or sizes != [len(old.stats), len(old.phase1), len(old.phase2)]:
            self.cache.save()  # a run that computed nothing and dropped nothing leaves it as is


def _interned(record: Phase1) -> Phase1:
    """One copy of each (name, module word) string for all files: a worker's result arrives
    with its own copies, which for 21k files cost ~4x the memory."""
    if record.imports:
        record.imports = frozenset(map(sys.intern, record.imports))
    return record


def _firing(record: Phase1, project: ProjectFacts, settings: LintSettings) -> frozenset[str] | None:
    """Codes of the rules that may fire in this file given the project (None: not narrowed)."""
    facts = record.facts
    if not settings.prefilter or record.rules is None or facts is None:
        return None
    return frozenset(
        rule.code
        for rule in settings.rules()
        if rule.code in record.rules and rule.may_fire_in(facts, project)
    )


def _filter_errors(result: FileResult, settings: LintSettings) -> FileResult:
    ignored = _ignored_for(result.path, settings.per_file_ignores)
    result.findings = [
        f
        for f in result.findings
        if f.code in settings.codes and not any(f.code.startswith(c) for c in ignored)
    ]
    return result
