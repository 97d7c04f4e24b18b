"""Who calls which function, under which guard, across modules; and where files delete.

Per file (`CallGraph`, phase 1): the functions defined (qualnames), the deletion calls
(`shutil.rmtree`, `os.remove`/`os.unlink`/`os.rmdir`, `Path.unlink`/`Path.rmdir`, through any
alias) with their local guard and mitigation, and every call site whose callee resolves to a
non-stdlib qualname (imports across modules, `self.method()` inside a class, nested defs),
with its guard and line. A class or function passed as an argument (`Parser((Config,))`,
`ray.remote(fn)`, `submit(fn)`) counts as a call of it there: constructing a config runs its
`__post_init__`. Everything in the summary is plain data.

Project-wide (`CallGraphProject`): for a function, the weakest way any process can reach it,
chasing callers' callers while a call site is itself unguarded inside a function. The top of a
chain (module-level code, or a function nobody calls) runs on every process of a distributed
module, on every actor inside a `@ray.remote` class, on the single driver of a Ray program, or in
one process when the module is a plain script.

Call-site lines: phase 1 summarises every parsed file, and LibCST positions for a whole file cost
about twice its parse, so lines come from CPython's `ast` (a tenth of the LibCST parse), matched
to LibCST calls by (dotted callee text, ordinal); positions are computed only when that fails.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from ckpt_lint.analysis import Analysis, FileFacts, ProjectAnalysis
from ckpt_lint.analysis.distributed import DistributedInfo, DistributedModules
from ckpt_lint.analysis.guards import Guard, GuardLevel, Guards
from ckpt_lint.analysis.names import _BUILTINS, Names, dotted
from ckpt_lint.analysis.structure import Structure, children
from ckpt_lint.textfilter import Pattern, words

FUNCTION_DELETIONS = {
    "shutil.rmtree": "shutil.rmtree",
    "os.remove": "os.remove",
    "os.unlink": "os.unlink",
    "os.rmdir": "os.rmdir",
    "pathlib.Path.unlink": "Path.unlink",
    "pathlib.Path.rmdir": "Path.rmdir",
}
METHOD_DELETIONS = {"unlink": "Path.unlink", "rmdir": "Path.rmdir"}
# text a file must contain to delete anything (`x.remove(` is list.remove): CKP002's prefilter
DELETION_TEXT = (
    words("rmtree", "rmdir", "unlink", before=b"")
    | Pattern(rb"\bos\.remove\s*\(")
    | Pattern(rb"(?<![\w.])remove\s*\(")
    | Pattern(rb"import\s+os\s+as\b")
)
ALREADY_GONE = frozenset(
    {"FileNotFoundError", "OSError", "IOError", "EnvironmentError", "Exception", "BaseException"}
)
# a path naming one process's own file: removing it on every process is the intent
PER_PROCESS_MARKERS = (
    "rank",
    "getpid",
    "uuid",
    "gethostname",
    "hostname",
    "mkstemp",
    "mkdtemp",
    "TemporaryDirectory",
    "NamedTemporaryFile",
    "process_index",
)
NOT_CALLS = frozenset({"isinstance", "issubclass", "cast", "getattr", "hasattr", "setattr", "type"})
STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | _BUILTINS
MAX_CHAIN = 25


@dataclass(frozen=True, slots=True)
class CallSite:
    """One call (or reference) of a project function: where, in which function, under what."""

    callee: str
    caller: str | None  # qualname of the enclosing function; None for module-level code
    level: GuardLevel
    guard: str
    line: int
    column: int
    mitigated: str = ""  # e.g. "try/except OSError" around the call in the caller
    reference: bool = False  # passed as a value rather than called
    note: str = ""  # why a guard-looking condition admits more processes


@dataclass(frozen=True, slots=True)
class FunctionInfo:
    qualname: str
    ray_actor: bool


@dataclass(frozen=True, slots=True)
class DeletionInfo:
    kind: str
    function: str | None
    level: GuardLevel
    mitigated: str
    reportable: bool = True  # see CallGraph.reportable


@dataclass(frozen=True)
class CallGraphSummary:
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    calls: tuple[CallSite, ...] = ()
    deletions: tuple[DeletionInfo, ...] = ()


@dataclass
class Deletion:
    """A deletion call in this file (in-process only: holds CST nodes for findings and fixes)."""

    call: cst.Call
    kind: str
    function: cst.FunctionDef | None
    qualname: str | None
    guard: Guard
    mitigated: str
    per_process: bool


class CallGraph(Analysis):
    """This file's functions, deletions and outgoing call sites."""

    summary_key = "callgraph"
    # a file without a deletion has nothing to export until a deletion's caller is found in it,
    # and the engine re-reads exactly those files in full
    prefilter = DELETION_TEXT

    @classmethod
    def empty_summary(cls) -> CallGraphSummary:
        return CallGraphSummary()

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.structure = file.get(Structure)
        self.names = file.get(Names)
        self.guards = file.get(Guards)
        self.code = file.module.code_for_node
        self.functions: dict[str, FunctionInfo] = {}
        for func in self.structure.functions:
            qual = self.structure.qualname(func)
            self.functions[qual] = FunctionInfo(qual, self.guards.in_ray_actor(func))
        self.deletions: list[Deletion] = [d for d in map(self._deletion, self.structure.calls) if d]
        self._summary: CallGraphSummary | None = None

    # ---- deletions ----------------------------------------------------------------------------

    def deletion_kind(self, call: cst.Call) -> str | None:
        """`shutil.rmtree`, `os.remove`, ..., `Path.unlink` when `call` deletes a path."""
        qual = self.names.qualname(call.func)
        if qual in FUNCTION_DELETIONS:
            return FUNCTION_DELETIONS[qual]
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value in METHOD_DELETIONS
            and (qual is None or qual.startswith("pathlib."))
            and not any(a.keyword is None for a in call.args)
        ):
            return METHOD_DELETIONS[func.attr.value]
        return None

    def _deletion(self, call: cst.Call) -> Deletion | None:
        kind = self.deletion_kind(call)
        if kind is None:
            return None
        func = self.structure.enclosing_function(call)
        return Deletion(
            call=call,
            kind=kind,
            function=func,
            qualname=self.structure.qualname(func) if func is not None else None,
            guard=self.guards.classify(call),
            mitigated=self.mitigation(call, kind),
            per_process=self._per_process_path(call, kind),
        )

    def reportable(self, deletion: Deletion) -> bool:
        """Whether some set of callers could make this deletion a finding: not one process's own
        file, not globally guarded here, and not tolerant of an already-gone path (unless the
        rule's `report-mitigated` asks for those). Only these need their callers found."""
        if deletion.per_process or deletion.guard.level >= GuardLevel.GLOBAL:
            return False
        return not deletion.mitigated or bool(self.file.options.get("report-mitigated"))

    def mitigation(self, call: cst.Call, kind: str | None = None) -> str:
        """How an already-gone path is tolerated here ("" when it is not)."""
        if kind is not None:
            for arg in call.args:
                name = arg.keyword.value if arg.keyword else None
                if name in ("ignore_errors", "missing_ok") and not (
                    isinstance(arg.value, cst.Name) and arg.value.value in ("False", "None")
                ):
                    return f"{name}={self.code(arg.value)}"
        child: cst.CSTNode = call
        for anc in self.structure.ancestors(call):
            if isinstance(anc, (cst.Try, cst.TryStar)) and child is anc.body:
                for handler in anc.handlers:
                    caught = self._caught(handler.type)
                    if caught and not _reraises(handler):
                        return f"try/except {caught}"
            elif isinstance(anc, cst.With) and child is anc.body:
                for item in anc.items:
                    ctx = item.item
                    if isinstance(ctx, cst.Call) and (self.names.qualname(ctx.func) or "").endswith(
                        "suppress"
                    ):
                        caught = next(
                            (n for n in (self._caught(a.value) for a in ctx.args) if n), ""
                        )
                        if caught:
                            return f"contextlib.suppress({caught})"
            if isinstance(anc, (cst.FunctionDef, cst.Lambda)):
                break
            child = anc
        return ""

    def _caught(self, expr: cst.BaseExpression | None) -> str:
        if expr is None:
            return "(bare)"
        if isinstance(expr, cst.Tuple):
            return next((n for n in (self._caught(e.value) for e in expr.elements) if n), "")
        text = dotted(expr)
        if text is not None and text.rsplit(".", 1)[-1] in ALREADY_GONE:
            return text
        return ""

    def _per_process_path(self, call: cst.Call, kind: str) -> bool:
        if kind.startswith("Path.") and isinstance(call.func, cst.Attribute):
            target: cst.BaseExpression | None = call.func.value
        else:
            target = call.args[0].value if call.args and call.args[0].keyword is None else None
        if target is None:
            return False
        texts = [self.code(target)]
        for name in _names_in(target):
            texts.extend(self.code(v) for v in self.guards.assigned_values(name, call))
        return any(marker in text for text in texts for marker in PER_PROCESS_MARKERS)

    # ---- call sites ---------------------------------------------------------------------------

    def resolve(self, func: cst.BaseExpression, at: cst.CSTNode) -> str | None:
        """Project qualname of a callee expression, or None (unknown, stdlib or builtin)."""
        text = dotted(func)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        if head in ("self", "cls") and rest and "." not in rest:
            cls = self.structure.enclosing_class(at)
            return f"{self._class_qualname(cls)}.{rest}" if cls is not None else None
        if not rest:
            scope = self.structure.enclosing_function(at)
            while scope is not None:
                candidate = f"{self.structure.qualname(scope)}.{head}"
                if candidate in self.functions:
                    return candidate
                scope = self.structure.enclosing_function(scope)
        qual = self.names.qualname(func)
        if qual is None or qual.split(".", 1)[0] in STDLIB:
            return None
        return qual

    def _class_qualname(self, cls: cst.ClassDef) -> str:
        parts = [cls.name.value]
        for anc in self.structure.ancestors(cls):
            if isinstance(anc, (cst.FunctionDef, cst.ClassDef)):
                parts.append(anc.name.value)
        return ".".join([self.file.module_name, *reversed(parts)])

    def _sites(self) -> list[tuple[cst.Call, str, bool]]:
        """(anchoring call, callee qualname, is-reference) for every project call here."""
        out: list[tuple[cst.Call, str, bool]] = []
        for call in self.structure.calls:
            callee = self.resolve(call.func, call)
            if callee is not None:
                out.append((call, callee, False))
            if _last_name(call.func) in NOT_CALLS:
                continue
            for arg in call.args:
                values = (
                    [e.value for e in arg.value.elements]
                    if isinstance(arg.value, (cst.Tuple, cst.List))
                    else [arg.value]
                )
                for value in values:
                    if isinstance(value, (cst.Name, cst.Attribute)):
                        target = self.resolve(value, call)
                        if target is not None and target != callee:
                            out.append((call, target, True))
        return out

    def summary(self) -> CallGraphSummary:
        if self._summary is not None:
            return self._summary
        sites = self._sites()
        lines = _LineIndex(self.file) if sites else None
        guards: dict[cst.Call, tuple[Guard, str]] = {}
        calls = []
        for call, callee, reference in sites:
            found = guards.get(call)
            if found is None:
                found = (self.guards.classify(call), self.mitigation(call))
                guards[call] = found
            guard, mitigated = found
            func = self.structure.enclosing_function(call)
            assert lines is not None
            line, column = lines.position(call)
            calls.append(
                CallSite(
                    callee=callee,
                    caller=self.structure.qualname(func) if func is not None else None,
                    level=guard.level,
                    guard=guard.text,
                    line=line,
                    column=column,
                    mitigated=mitigated,
                    reference=reference,
                    note=guard.note,
                )
            )
        deletions = tuple(
            DeletionInfo(d.kind, d.qualname, d.guard.level, d.mitigated, self.reportable(d))
            for d in self.deletions
        )
        self._summary = CallGraphSummary(dict(self.functions), tuple(calls), deletions)
        return self._summary

    def interest(self) -> set[str]:
        """Functions holding a deletion that some process other than the main one could reach,
        closed over unguarded calls in this file."""
        hot = {d.qualname for d in self.deletions if d.qualname and self.reportable(d)}
        if not hot:
            return set()
        summary = self.summary()
        changed = True
        while changed:
            changed = False
            for site in summary.calls:
                if (
                    site.callee in hot
                    and site.caller
                    and site.caller not in hot
                    and site.level < GuardLevel.GLOBAL
                ):
                    hot.add(site.caller)
                    changed = True
        return hot


class _LineIndex:
    """Line/column of LibCST calls via CPython's ast (cheap), matched by callee text + ordinal."""

    def __init__(self, file: Any) -> None:
        self.file = file
        self.ordinals: dict[cst.Call, tuple[str, int]] = {}
        seen: Counter[str] = Counter()
        for call in file.get(Structure).calls:
            text = _cst_key(call.func)
            self.ordinals[call] = (text, seen[text])
            seen[text] += 1
        self.positions: dict[str, list[tuple[int, int]]] | None = None
        self.expected = seen

    def _build(self) -> dict[str, list[tuple[int, int]]]:
        found: dict[str, list[tuple[int, int]]] = {}
        text = self.file.parsed.source.text
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return found
        lines = text.splitlines()
        raw: dict[str, list[tuple[int, int, int, int]]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                end = (-(node.end_lineno or 0), -(node.end_col_offset or 0))
                raw.setdefault(_ast_key(node.func), []).append((node.lineno, node.col_offset, *end))
        for name, spans in raw.items():
            spans.sort()  # source order; an enclosing call (longer span) before a nested one
            found[name] = [(ln, _char_column(lines, ln, col) + 1) for ln, col, _, _ in spans]
        return found

    def position(self, call: cst.Call) -> tuple[int, int]:
        key = self.ordinals.get(call)
        if key is not None:
            if self.positions is None:
                self.positions = self._build()
            known = self.positions.get(key[0], [])
            if len(known) == self.expected[key[0]]:
                return known[key[1]]
        start = self.file.parsed.start(call)  # exact fallback: whole-file positions, rare
        return start.line, start.column


def _cst_key(func: cst.BaseExpression) -> str:
    """Callee text for matching with ast: `a.b.c`, `*.attr` on other receivers, else `*`."""
    text = dotted(func)
    if text is not None:
        return text
    return f"*.{func.attr.value}" if isinstance(func, cst.Attribute) else "*"


def _ast_key(node: ast.expr) -> str:
    parts = []
    current = node
    while isinstance(current, ast.Attribute):
        parts.append(current.attr)
        current = current.value
    if isinstance(current, ast.Name):
        parts.append(current.id)
        return ".".join(reversed(parts))
    return f"*.{node.attr}" if isinstance(node, ast.Attribute) else "*"


def _char_column(lines: list[str], lineno: int, byte_offset: int) -> int:
    """ast columns count UTF-8 bytes; editors count characters."""
    line = lines[lineno - 1] if 0 < lineno <= len(lines) else ""
    if line.isascii():
        return byte_offset
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "ignore"))


def _last_name(expr: cst.BaseExpression) -> str | None:
    text = dotted(expr)
    return text.rsplit(".", 1)[-1] if text else None


def _names_in(expr: cst.BaseExpression) -> list[cst.Name]:
    """Bare names used in a path expression (one level: `os.path.join(root, name)` -> root, name)."""
    out: list[cst.Name] = []
    stack: list[cst.CSTNode] = [expr]
    while stack and len(out) < 16:
        node = stack.pop()
        if isinstance(node, cst.Name):
            out.append(node)
        elif isinstance(node, cst.Attribute):
            continue
        else:
            stack.extend(children(node))
    return out


def _reraises(handler: cst.ExceptHandler | cst.ExceptStarHandler) -> bool:
    body = handler.body
    stmts = body.body if isinstance(body, (cst.IndentedBlock, cst.SimpleStatementSuite)) else []
    if not stmts:
        return False
    last = stmts[-1]
    smalls = last.body if isinstance(last, cst.SimpleStatementLine) else [last]
    return any(isinstance(s, cst.Raise) for s in smalls)


# ---- project --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Link:
    """A call site together with the file it is in."""

    path: str
    module: str
    site: CallSite

    @property
    def where(self) -> str:
        return f"{self.path}:{self.site.line}"


@dataclass(frozen=True)
class Reach:
    """The weakest way processes reach a function: level, the deciding reason, the path there."""

    level: GuardLevel
    reason: str  # guard text at the deciding call site, or the top-of-chain description
    note: str = ""  # the deciding guard's caveat (`or`, Ray local rank)
    chain: tuple[Link, ...] = ()  # direct call site first, deciding site last
    mitigated: str = ""
    weak: tuple[Link, ...] = ()  # every call site on a path weaker than asked for
    entry: bool = False  # decided by the top of the chain rather than a call-site guard


class CallGraphProject(ProjectAnalysis):
    """Call sites project-wide, indexed by callee, and the transitive reach of a function."""

    def __init__(self, files: dict[str, FileFacts], options: dict[str, Any]) -> None:
        super().__init__(files, options)
        self.callers: dict[str, list[Link]] = {}
        self.functions: dict[str, tuple[str, FunctionInfo]] = {}
        for facts in files.values():
            summary = facts.get(CallGraph.summary_key)
            if not isinstance(summary, CallGraphSummary):
                continue
            for qual, info in summary.functions.items():
                self.functions[qual] = (facts.module_name, info)
            for site in summary.calls:
                link = Link(facts.path, facts.module_name, site)
                self.callers.setdefault(site.callee, []).append(link)
        self.distributed = DistributedModules(files, options)
        self._memo: dict[tuple[str, GuardLevel], Reach] = {}

    def sites_of(self, qualname: str) -> list[Link]:
        """Call sites of a function; constructing a class counts for its `__init__`/`__post_init__`."""
        sites = list(self.callers.get(qualname, ()))
        owner, _, last = qualname.rpartition(".")
        if last in ("__init__", "__post_init__", "__new__") and owner:
            sites.extend(self.callers.get(owner, ()))
        return sites

    def entry(self, module: str, qualname: str | None = None) -> Reach:
        """Who runs code at the top of a call chain (module level or an uncalled function)."""
        known = self.functions.get(qualname) if qualname else None
        if known is not None and known[1].ray_actor:
            return Reach(GuardLevel.NONE, "in a Ray actor (every actor runs it)", entry=True)
        own: DistributedInfo = self.distributed.own(module)
        if own.uses_ray:
            return Reach(GuardLevel.GLOBAL, "on the Ray driver (one process)", entry=True)
        if own.distributed:
            return Reach(GuardLevel.NONE, f"in `{module}` ({own.reason})", entry=True)
        return Reach(GuardLevel.GLOBAL, "in a single-process module", entry=True)

    def reach(self, qualname: str, required: GuardLevel = GuardLevel.GLOBAL) -> Reach:
        """Weakest reach of `qualname` over all call paths; paths weaker than `required` that are
        not mitigated win over mitigated ones, so a mitigated caller cannot hide a real one."""
        return self._reach(qualname, required, frozenset())

    def _reach(self, qualname: str, required: GuardLevel, stack: frozenset[str]) -> Reach:
        key = (qualname, required)
        cached = self._memo.get(key)
        if cached is not None:
            return cached
        if qualname in stack or len(stack) > MAX_CHAIN:
            return Reach(GuardLevel.GLOBAL, "recursive call")  # the outer path decides
        sites = self.sites_of(qualname)
        if not sites:
            module = self.functions[qualname][0] if qualname in self.functions else ""
            result = self.entry(module, qualname)
        else:
            inner = stack | {qualname}
            result = _pick([self._through(link, required, inner) for link in sites], required)
        self._memo[key] = result
        return result

    def _through(self, link: Link, required: GuardLevel, stack: frozenset[str]) -> Reach:
        site = link.site
        if site.level >= GuardLevel.GLOBAL:
            return Reach(site.level, site.guard, site.note, (link,), site.mitigated)
        if site.caller is not None:
            up = self._reach(site.caller, required, stack)
        else:
            up = self.entry(link.module)
        mitigated = site.mitigated or up.mitigated
        if site.level > up.level:
            # this call site's own guard decides; its callers only add processes it filters out
            weak: tuple[Link, ...] = (link,) if site.level < required else ()
            return Reach(site.level, site.guard, site.note, (link,), mitigated, weak)
        weak = (link, *up.weak) if up.level < required else ()
        return Reach(up.level, up.reason, up.note, (link, *up.chain), mitigated, weak, up.entry)


def _pick(options: list[Reach], required: GuardLevel) -> Reach:
    weak = [r for r in options if r.level < required]
    if not weak:
        return min(options, key=lambda r: r.level)
    best = min(weak, key=lambda r: (bool(r.mitigated), r.level))
    every_weak = tuple(dict.fromkeys(link for r in weak for link in r.weak))
    return Reach(
        best.level, best.reason, best.note, best.chain, best.mitigated, every_weak, best.entry
    )
