"""Resume lookups and what the code does when they find nothing.

A *lookup* is an expression whose purpose is finding a checkpoint: a call named like
`get_last_checkpoint`/`find_latest_checkpoint`, a `load_checkpoint` whose result is checked
(DeepSpeed returns `(None, None)`), a `listdir`/`glob`/`iterdir` filtered to `checkpoint*`,
`step_*`, `epoch_*`, `global_step*`, a call of a function of this file that returns such a
listing, or an `exists`/`isdir` check on a path named like a checkpoint or resume path.

For every `if` that tests a lookup result, the *not-found path* is the branch (or, after a found
branch that returns, the statements that follow) taken when nothing was found. It is a
*fresh start* when it only logs, prints or resets state (`step = 0`, `resume = None`) and then
falls through, with no raise, exit or error return. A site needs *evidence that a resume was
expected*: a resume request in a dominating condition (`if args.resume_from_checkpoint:`,
`== "latest"`), a lookup on an explicit resume path, or a lookup directory known to exist
(`os.makedirs` earlier, a dominating `isdir`, an earlier `if not isdir(d): return`).

Function-level shape: when the not-found path leaves the function returning None (a bare
`return`, `return None`, or a later `return <lookup var>`), the decision is the callers'. Each
file exports how it uses the results of calls (`fresh`: the caller branches on the result and
falls through on None; `strict`: it raises, asserts, or uses the value where None fails loudly,
like `os.path.join(f(...), ...)`). Such a site counts when some caller uses None as "start
fresh", or when no caller is known in the project (a library function whose own log announces
the fresh start); it does not when every known caller handles None strictly. A caller's own
silent fall-through on the result of a project function with such a site is not reported again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from ckpt_lint.analysis import Analysis, FileFacts, ProjectAnalysis
from ckpt_lint.analysis.names import Names, dotted
from ckpt_lint.analysis.structure import Structure, children
from ckpt_lint.textfilter import Pattern, words

LOOKUP_CALL = re.compile(
    r"(?:last|latest|newest|recent|resum|find|restore|auto)\w*(?:checkpoint|ckpt)"
    r"|(?:checkpoint|ckpt)\w*(?:last|latest|newest|recent|resum|restore)"
    r"|load\w*(?:checkpoint|ckpt)",
    re.IGNORECASE,
)
CHECKPOINT_ENTRY = re.compile(r"checkpoint|ckpt|step[-_*]|epoch[-_*]|global_step|iter_", re.I)
CHECKPOINT_PATH = re.compile(r"checkpoint|ckpt|resum|restore", re.I)
RESUME_WORD = re.compile(r"resum|restore|load_from|continue_from|from_checkpoint", re.I)
RESUME_MODE = re.compile(r"^['\"](?:latest|last|auto|true|must|allow)['\"]$", re.I)
LISTING_CALLS = frozenset({"os.listdir", "os.scandir", "glob.glob", "glob.iglob", "os.walk"})
LISTING_METHODS = frozenset({"iterdir", "glob", "rglob", "listdir", "ls"})
EXISTS_CALLS = frozenset({"os.path.exists", "os.path.isdir", "os.path.isfile", "os.path.lexists"})
EXISTS_METHODS = frozenset({"exists", "is_dir", "is_file", "isdir"})
MAKEDIRS_CALLS = frozenset({"os.makedirs", "os.mkdir"})
EXIT_CALLS = frozenset({"sys.exit", "exit", "quit", "os._exit", "os.abort"})
STRICT_RUNTIME = frozenset({"check_fresh_start", "resolve_resume"})
LOG_LEVELS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "log", "fatal"}
)
PRINT_NAMES = re.compile(
    r"(?:^|\.)(?:print|rprint|print0|print_rank_0|master_print|rank_zero_(?:info|warn|debug))$"
)
# wrappers that keep "a listing of checkpoints" a listing
PASS_THROUGH = frozenset(
    {"sorted", "list", "tuple", "set", "max", "min", "filter", "reversed", "str", "os.path.join"}
)
LOUD_WITH_NONE = frozenset(
    {"os.path.join", "open", "pathlib.Path", "os.listdir", "os.path.basename", "os.fspath"}
)
FRESH_FLAGS = (
    "overwrite_output_dir",
    "fresh_start",
    "force_fresh_start",
    "start_fresh",
    "from_scratch",
    "train_from_scratch",
)


@dataclass(frozen=True)
class Lookup:
    """An expression that looks for a checkpoint."""

    node: cst.CSTNode
    label: str  # how the message names it, e.g. "get_last_checkpoint(...)"
    directory: str | None  # code of the directory searched, when known
    explicit_resume: bool = False  # the searched path is a user-given resume path
    callee: str | None = None  # qualified name of the looking-up function, when resolved


@dataclass
class FreshStartSite:
    """A not-found path that only logs/resets and falls through."""

    lookup: Lookup
    branch: cst.If
    log_call: cst.Call | None  # first log/print call on the path (the report location)
    insert_before: cst.CSTNode | None  # silent path: the first statement of the path
    directory: str | None
    resume_requested: str | None  # why a resume was expected (code), None if not requested
    dir_known: str | None  # the directory known to exist, if that is the evidence
    returns_to_caller: bool
    function: cst.FunctionDef | None

    @property
    def report_node(self) -> cst.CSTNode:
        return self.log_call if self.log_call is not None else self.branch

    @property
    def has_local_evidence(self) -> bool:
        return self.resume_requested is not None or self.dir_known is not None


@dataclass
class _Var:
    lookup: Lookup | None  # set when the variable holds a lookup result
    callee: tuple[str, str | None] | None  # (bare name, qualname) of the call it holds


@dataclass
class _Env:
    """What is known at a point in one function body, in source order."""

    vars: dict[str, _Var] = field(default_factory=dict)
    # names holding a raw directory listing -> the directory listed
    listings: dict[str, str | None] = field(default_factory=dict)
    known_dirs: list[str] = field(default_factory=list)
    resume: list[str] = field(default_factory=list)  # dominating resume requests (code)


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _bare(func: cst.BaseExpression) -> str | None:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return None


def _string_texts(node: cst.CSTNode) -> Iterator[str]:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, (cst.SimpleString, cst.FormattedStringText)):
            yield cur.value
        stack.extend(children(cur))


def _names_in(node: cst.CSTNode) -> Iterator[str]:
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name):
            yield cur.value
        elif isinstance(cur, (cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            continue
        stack.extend(children(cur))


def _first_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
    return None


def is_log_call(call: cst.Call) -> bool:
    """logger.*, logging.*, print, accelerator.print, warnings.warn, rich/console print."""
    text = dotted(call.func)
    if text is None:
        return False
    head, _, last = text.rpartition(".")
    if PRINT_NAMES.search(text):
        return True
    if last in LOG_LEVELS and re.search(r"log", head, re.I):
        return True
    if text in ("warnings.warn", "console.log", "tqdm.write", "tqdm.tqdm.write"):
        return True
    return last in ("warn", "warning") and head == ""


# words a checkpoint lookup or a resume request cannot do without (also CKP003's prefilter)
LOOKUP_WORDS = words(
    "heckpoint", "CHECKPOINT", "kpt", "CKPT", "esum", "RESUM", "step_", "epoch_", before=b""
)
# every lookup is a call: a listing or existence test, or a call named for checkpoints (those
# of this file's own helpers hold one of these too); callers of another file's lookup helper
# are found through `interest`
LOOKUP_CALLS = words(
    *sorted(
        LISTING_METHODS
        | EXISTS_METHODS
        | {c.rsplit(".", 1)[-1] for c in LISTING_CALLS | EXISTS_CALLS}
    ),
    after=rb"\s*\(",
) | Pattern(rb"(?:checkpoint|ckpt)\w*\s*\(", ignore_case=True)
LOOKUP_TEXT = LOOKUP_WORDS & LOOKUP_CALLS  # CKP003's prefilter, and this analysis's


class ResumeSites(Analysis):
    """Fresh-start sites of one file, plus how this file uses call results (for callees)."""

    summary_key = "resume"
    prefilter = LOOKUP_TEXT

    @classmethod
    def empty_summary(cls) -> dict[str, Any]:
        return {"returning": {}, "uses": []}

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.names = file.get(Names)
        self.structure = file.get(Structure)
        self.sites: list[FreshStartSite] = []
        # (bare name, qualname or None, usage "fresh"/"strict", evidence at the call site)
        self.call_uses: list[tuple[str, str | None, str, bool]] = []
        self.listing_functions: set[str] = set()
        self.listing_functions = self._listing_functions()
        self._record_loud_uses()
        self._returns: dict[cst.FunctionDef | None, set[str]] = {}
        self._gives_value: dict[cst.FunctionDef | None, bool] = {}
        self.decides_not_found: set[cst.FunctionDef] = set()
        for func in self.structure.functions:
            self._walk_scope(func.body, func)
        self._walk_scope(file.module, None)

    # ---- public ---------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        returning = {self.structure.qualname(f): f.name.value for f in self.decides_not_found}
        return {"returning": returning, "uses": list(self.call_uses)}

    def interest(self) -> set[str]:
        return {self.structure.qualname(f) for f in self.decides_not_found}

    def fresh_start_flag(self, directory: str | None) -> str | None:
        """`cfg.flag` when the config object holding `directory` has an explicit fresh-start flag."""
        if directory is None or "." not in directory:
            return None
        base = directory.rsplit(".", 1)[0]
        if not re.fullmatch(r"[\w.]+", base):
            return None
        text = self.file.parsed.source.text
        for flag in FRESH_FLAGS:
            used = re.search(rf"\b{re.escape(base)}\.{flag}\b", text)
            declared = re.search(rf"^\s+{flag}\s*:|['\"]--{flag}['\"]", text, re.M)
            if used or declared:
                return f"{base}.{flag}"
        return None

    # ---- lookups ----------------------------------------------------------------------------

    def _listing_functions(self) -> set[str]:
        """Functions of this file that return a checkpoint listing (callers' lookups)."""
        found: set[str] = set()
        for _ in range(2):  # a helper of a helper
            for func in self.structure.functions:
                if func.name.value in found:
                    continue
                env = _Env()
                for stmt in _simple_statements(func.body):
                    if isinstance(stmt, cst.Assign):
                        self._assign(stmt.targets[0].target, stmt.value, env, record=False)
                    elif isinstance(stmt, cst.Return) and stmt.value is not None:
                        lk = self._lookup_of(stmt.value, env, listing_only=True)
                        if lk is not None:
                            found.add(func.name.value)
            self.listing_functions = found
        return found

    def _lookup_of(
        self, expr: cst.BaseExpression, env: _Env, listing_only: bool = False
    ) -> Lookup | None:
        """The lookup `expr` evaluates (or is derived from), if any."""
        if isinstance(expr, cst.Name):
            var = env.vars.get(expr.value)
            return var.lookup if var is not None else None
        if isinstance(expr, (cst.ListComp, cst.GeneratorExp, cst.SetComp)):
            return self._filtered_listing(expr, env)
        if isinstance(expr, cst.IfExp):
            return self._lookup_of(expr.body, env, listing_only) or self._lookup_of(
                expr.orelse, env, listing_only
            )
        if isinstance(expr, cst.Subscript):
            return self._lookup_of(expr.value, env, listing_only)
        if isinstance(expr, cst.BooleanOperation):
            return self._lookup_of(expr.left, env, listing_only) or self._lookup_of(
                expr.right, env, listing_only
            )
        if isinstance(expr, cst.NamedExpr):
            return self._lookup_of(expr.value, env, listing_only)
        if not isinstance(expr, cst.Call):
            return None
        qual = self.names.call_name(expr) or dotted(expr.func) or ""
        bare = _bare(expr.func) or ""
        if qual in PASS_THROUGH or bare in ("sorted", "max", "min"):
            for arg in expr.args:
                found = self._lookup_of(arg.value, env, listing_only)
                if found is not None:
                    return found
            return None
        if bare in self.listing_functions:
            directory = self._directory_arg(expr)
            callee = self.names.call_name(expr)
            return Lookup(expr, f"{bare}(...)", directory, callee=callee)
        if self._is_checkpoint_glob(expr, qual, bare):
            return Lookup(expr, f"{_short(expr.func)}(...)", self._glob_directory(expr))
        if listing_only:
            return None
        if LOOKUP_CALL.search(bare) and not self._is_runtime(qual, bare):
            directory = self._directory_arg(expr)
            explicit = directory is not None and bool(RESUME_WORD.search(directory))
            label = f"{_short(expr.func)}(...)"
            return Lookup(expr, label, directory, explicit, self.names.call_name(expr))
        return None

    def _is_runtime(self, qual: str, bare: str) -> bool:
        return bare in STRICT_RUNTIME or qual.rpartition(".")[2] in STRICT_RUNTIME

    def _filtered_listing(
        self, comp: cst.ListComp | cst.GeneratorExp | cst.SetComp, env: _Env
    ) -> Lookup | None:
        iters: list[cst.CompFor] = []
        node: cst.CompFor | None = comp.for_in
        while node is not None:
            iters.append(node)
            node = node.inner_for_in
        for for_in in iters:
            source = for_in.iter
            inner = self._lookup_of(source, env, listing_only=True)
            if inner is not None:
                return inner
            listing = self._raw_listing(source, env)
            if listing is None:
                continue
            directory, label = listing
            filters = [cond.test for f in iters for cond in f.ifs]
            if any(CHECKPOINT_ENTRY.search(s) for t in filters for s in _string_texts(t)):
                return Lookup(comp, f"{label} filtered to checkpoint entries", directory)
        return None

    def _raw_listing(self, expr: cst.BaseExpression, env: _Env) -> tuple[str | None, str] | None:
        """(directory, label) when `expr` lists a directory without filtering."""
        if isinstance(expr, cst.Name) and expr.value in env.listings:
            return env.listings[expr.value], f"{expr.value}"
        if isinstance(expr, cst.Call):
            qual = self.names.call_name(expr) or ""
            bare = _bare(expr.func) or ""
            if qual in PASS_THROUGH:
                arg = _first_arg(expr)
                return self._raw_listing(arg, env) if arg is not None else None
            if qual in LISTING_CALLS or (
                isinstance(expr.func, cst.Attribute) and bare in LISTING_METHODS
            ):
                return self._glob_directory(expr), f"{_short(expr.func)}(...)"
        return None

    def _is_checkpoint_glob(self, call: cst.Call, qual: str, bare: str) -> bool:
        is_glob = qual in ("glob.glob", "glob.iglob") or (
            isinstance(call.func, cst.Attribute) and bare in ("glob", "rglob")
        )
        return is_glob and any(
            CHECKPOINT_ENTRY.search(s) for a in call.args for s in _string_texts(a.value)
        )

    def _glob_directory(self, call: cst.Call) -> str | None:
        if isinstance(call.func, cst.Attribute) and (_bare(call.func) in LISTING_METHODS):
            owner = call.func.value
            qual = self.names.call_name(call) or ""
            if qual not in LISTING_CALLS:
                if isinstance(owner, cst.Call) and _bare(owner.func) == "Path":
                    arg = _first_arg(owner)
                    return _code(arg) if arg is not None else None
                return _code(owner)
        arg = _first_arg(call)
        if arg is None:
            return None
        if self._is_join(arg):
            return self._join_base(arg)
        if isinstance(arg, cst.FormattedString):
            for part in arg.parts:
                if isinstance(part, cst.FormattedStringExpression):
                    return _code(part.expression)
            return None
        return _code(arg)

    def _directory_arg(self, call: cst.Call) -> str | None:
        for keyword_arg in call.args:
            keyword = keyword_arg.keyword
            if keyword is not None and re.search(r"dir|path|folder", keyword.value):
                return _code(keyword_arg.value)
        arg = _first_arg(call)
        if arg is None:
            return None
        return self._join_base(arg) if self._is_join(arg) else _code(arg)

    def _is_join(self, arg: cst.BaseExpression) -> bool:
        return isinstance(arg, cst.Call) and (self.names.call_name(arg) or "") == "os.path.join"

    def _join_base(self, arg: cst.BaseExpression) -> str | None:
        """The directory of `os.path.join(directory, ...)`."""
        inner = _first_arg(arg) if isinstance(arg, cst.Call) else None
        return _code(inner) if inner is not None else None

    def _exists_check(self, expr: cst.BaseExpression) -> str | None:
        """The path code of `os.path.exists(p)` / `Path(p).exists()` / `p.is_dir()`."""
        if not isinstance(expr, cst.Call):
            return None
        qual = self.names.call_name(expr) or ""
        if qual in EXISTS_CALLS:
            arg = _first_arg(expr)
            return _code(arg) if arg is not None else None
        if isinstance(expr.func, cst.Attribute) and expr.func.attr.value in EXISTS_METHODS:
            owner = expr.func.value
            if isinstance(owner, cst.Call) and _bare(owner.func) == "Path":
                arg = _first_arg(owner)
                return _code(arg) if arg is not None else None
            return _code(owner)
        return None

    # ---- conditions -------------------------------------------------------------------------

    def _atoms(
        self, test: cst.BaseExpression, positive: bool
    ) -> list[tuple[cst.BaseExpression, bool]]:
        """Conjuncts that certainly hold in a branch: (expr, truthy?)."""
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self._atoms(test.expression, not positive)
        if isinstance(test, cst.BooleanOperation):
            if positive and isinstance(test.operator, cst.And):
                return self._atoms(test.left, True) + self._atoms(test.right, True)
            if not positive and isinstance(test.operator, cst.Or):
                return self._atoms(test.left, False) + self._atoms(test.right, False)
            return []
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comp = test.comparisons[0]
            op = comp.operator
            right = comp.comparator
            none = isinstance(right, cst.Name) and right.value == "None"
            if isinstance(op, (cst.Is, cst.Equal)) and none:
                return [(test.left, not positive)]
            if isinstance(op, (cst.IsNot, cst.NotEqual)) and none:
                return [(test.left, positive)]
            if isinstance(op, (cst.Equal, cst.In)) and positive:
                return [(test, True)]
            if isinstance(op, cst.NotEqual) and not positive:
                return [(test, True)]
            if isinstance(op, cst.NotEqual) and positive:
                return [(test.left, True)]  # set, just not that value
        return [(test, positive)]

    def _resume_request(self, atom: cst.BaseExpression, truthy: bool) -> str | None:
        if not truthy:
            return None
        if isinstance(atom, cst.Comparison):
            texts = [c.comparator for c in atom.comparisons]
            if any(isinstance(t, cst.SimpleString) and RESUME_MODE.match(t.value) for t in texts):
                return _code(atom)
            atom = atom.left
        text = dotted(atom) if isinstance(atom, (cst.Name, cst.Attribute)) else None
        if text and RESUME_WORD.search(text.rpartition(".")[2]):
            return text
        return None

    def _not_found_test(
        self, test: cst.BaseExpression, env: _Env
    ) -> tuple[Lookup | None, bool, str | None] | None:
        """(lookup, body_is_not_found, tested var) for `if` tests on a lookup or a call result."""
        negated = False
        while isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            negated = not negated
            test = test.expression
        if isinstance(test, cst.BooleanOperation):
            return None
        if isinstance(test, cst.NamedExpr) and isinstance(test.target, cst.Name):
            self._assign(test.target, test.value, env, record=True)
            test = test.target
        subject: cst.BaseExpression = test
        empty_when_true = False
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comp = test.comparisons[0]
            right = comp.comparator
            left = test.left
            if isinstance(left, cst.NamedExpr) and isinstance(left.target, cst.Name):
                self._assign(left.target, left.value, env, record=True)
                left = left.target
            if isinstance(right, cst.Name) and right.value == "None":
                if isinstance(comp.operator, (cst.Is, cst.Equal)):
                    subject, empty_when_true = left, True
                elif isinstance(comp.operator, (cst.IsNot, cst.NotEqual)):
                    subject, empty_when_true = left, False
                else:
                    return None
            elif _is_len_call(left) and isinstance(right, cst.Integer):
                value = int(right.value, 0)
                op = comp.operator
                if (isinstance(op, cst.Equal) and value == 0) or (
                    isinstance(op, cst.LessThan) and value == 1
                ):
                    empty_when_true = True
                elif (isinstance(op, (cst.GreaterThan, cst.NotEqual)) and value == 0) or (
                    isinstance(op, cst.GreaterThanEqual) and value == 1
                ):
                    empty_when_true = False
                else:
                    return None
                subject = _first_arg(left) or left  # type: ignore[arg-type]
            elif isinstance(right, (cst.List, cst.Tuple)) and not right.elements:
                if isinstance(comp.operator, cst.Equal):
                    subject, empty_when_true = left, True
                elif isinstance(comp.operator, cst.NotEqual):
                    subject, empty_when_true = left, False
                else:
                    return None
            else:
                return None
        elif _is_len_call(test):
            subject = _first_arg(test) or test  # type: ignore[arg-type]
        if negated:
            empty_when_true = not empty_when_true
        if isinstance(subject, cst.Name):
            var = env.vars.get(subject.value)
            if var is None or (var.lookup is None and var.callee is None):
                return None
            return var.lookup, empty_when_true, subject.value
        path = self._exists_check(subject)
        if path is not None and CHECKPOINT_PATH.search(path):
            explicit = bool(RESUME_WORD.search(path))
            label = f"{_short(subject.func)}({path})"  # type: ignore[attr-defined]
            # `if exists(p)` is the found side; `if not exists(p)` the not-found side
            return Lookup(subject, label, path, explicit), negated, None
        lk2 = self._lookup_of(subject, env)
        if lk2 is not None:
            return lk2, empty_when_true, None
        return None

    # ---- walking ----------------------------------------------------------------------------

    def _walk_scope(self, body: cst.CSTNode, func: cst.FunctionDef | None) -> None:
        env = _Env()
        returned = [s.value for s in _simple_statements(body) if isinstance(s, cst.Return)]
        self._returns[func] = {v.value for v in returned if isinstance(v, cst.Name)}
        self._gives_value[func] = any(
            v is not None and not (isinstance(v, cst.Name) and v.value == "None") for v in returned
        )
        statements = body.body if isinstance(body, (cst.Module, cst.IndentedBlock)) else []
        self._walk_block(list(statements), env, func)

    def _walk_block(
        self, statements: Sequence[cst.CSTNode], env: _Env, func: cst.FunctionDef | None
    ) -> None:
        for index, stmt in enumerate(statements):
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                continue
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    self._small(small, env)
            elif isinstance(stmt, cst.If):
                self._if(stmt, list(statements[index + 1 :]), env, func)
            else:
                for block in _blocks(stmt):
                    self._walk_block(block, env, func)

    def _small(self, small: cst.BaseSmallStatement, env: _Env) -> None:
        if isinstance(small, cst.Assign):
            for target in small.targets:
                self._assign(target.target, small.value, env, record=True)
        elif isinstance(small, cst.AnnAssign) and small.value is not None:
            self._assign(small.target, small.value, env, record=True)
        elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            self._made_dir(small.value, env)
        elif isinstance(small, cst.Assert):
            for name in _names_in(small.test):
                self._use(name, "strict", env)

    def _made_dir(self, call: cst.Call, env: _Env) -> None:
        qual = self.names.call_name(call) or ""
        arg = _first_arg(call)
        if qual in MAKEDIRS_CALLS and arg is not None:
            env.known_dirs.append(_code(arg))
        elif isinstance(call.func, cst.Attribute) and call.func.attr.value == "mkdir":
            owner = call.func.value
            if isinstance(owner, cst.Call) and _bare(owner.func) == "Path":
                inner = _first_arg(owner)
                if inner is not None:
                    env.known_dirs.append(_code(inner))
            else:
                env.known_dirs.append(_code(owner))

    def _assign(
        self, target: cst.BaseExpression, value: cst.BaseExpression, env: _Env, record: bool
    ) -> None:
        if isinstance(target, (cst.Tuple, cst.List)) and target.elements:
            # DeepSpeed: `path, state = engine.load_checkpoint(...)`; the path says found or not
            first = target.elements[0].value
            if isinstance(first, cst.Name) and isinstance(value, cst.Call):
                lookup = self._lookup_of(value, env)
                if lookup is not None:
                    env.vars[first.value] = _Var(lookup, None)
            return
        if not isinstance(target, cst.Name):
            return
        lookup = self._lookup_of(value, env)
        callee = None
        if isinstance(value, cst.Call):
            bare = _bare(value.func)
            if bare is not None:
                callee = (bare, self.names.call_name(value))
            listing = self._raw_listing(value, env)
            if listing is not None:
                env.listings[target.value] = listing[0]
        previous = env.vars.get(target.value)
        if lookup is None and previous is not None and previous.lookup is not None:
            lookup = previous.lookup  # assigned on another branch; any lookup origin counts
        env.vars[target.value] = _Var(lookup, callee)

    def _use(self, name: str, usage: str, env: _Env, evidence: bool = False) -> None:
        var = env.vars.get(name)
        if var is not None and var.callee is not None:
            self.call_uses.append((var.callee[0], var.callee[1], usage, evidence))
            env.vars[name] = _Var(var.lookup, None)  # first decisive use only

    def _record_loud_uses(self) -> None:
        """Calls whose result goes where None raises: `os.path.join(f(...), ...)`, `open(f())`."""
        for call in self.structure.calls:
            if (self.names.call_name(call) or "") not in LOUD_WITH_NONE:
                continue
            for arg in call.args:
                inner = arg.value
                if isinstance(inner, cst.Call) and (bare := _bare(inner.func)) is not None:
                    self.call_uses.append((bare, self.names.call_name(inner), "strict", False))

    def _if(
        self,
        stmt: cst.If,
        following: list[cst.CSTNode],
        env: _Env,
        func: cst.FunctionDef | None,
    ) -> None:
        tested = self._not_found_test(stmt.test, env)
        if tested is not None:
            self._judge(stmt, tested, following, env, func)
        body_atoms = self._atoms(stmt.test, True)
        else_atoms = self._atoms(stmt.test, False)
        self._branch(stmt.body.body, body_atoms, env, func)
        if isinstance(stmt.orelse, cst.Else):
            self._branch(stmt.orelse.body.body, else_atoms, env, func)
        elif isinstance(stmt.orelse, cst.If):
            saved = (len(env.known_dirs), len(env.resume))
            self._enter(else_atoms, env)
            self._if(stmt.orelse, [], env, func)
            del env.known_dirs[saved[0] :], env.resume[saved[1] :]
        # `if not isdir(d): return` makes `d` known to exist below
        if _exits(stmt.body.body) and stmt.orelse is None:
            self._enter(else_atoms, env, resume_too=False)

    def _enter(
        self, atoms: list[tuple[cst.BaseExpression, bool]], env: _Env, resume_too: bool = True
    ) -> None:
        for atom, truthy in atoms:
            path = self._exists_check(atom) if truthy else None
            if path is not None:
                env.known_dirs.append(path)
            request = self._resume_request(atom, truthy) if resume_too else None
            if request is not None:
                env.resume.append(request)

    def _branch(
        self,
        statements: Sequence[cst.CSTNode],
        atoms: list[tuple[cst.BaseExpression, bool]],
        env: _Env,
        func: cst.FunctionDef | None,
    ) -> None:
        saved = (len(env.known_dirs), len(env.resume))
        self._enter(atoms, env)
        self._walk_block(statements, env, func)
        del env.known_dirs[saved[0] :], env.resume[saved[1] :]

    def _judge(
        self,
        stmt: cst.If,
        tested: tuple[Lookup | None, bool, str | None],
        following: list[cst.CSTNode],
        env: _Env,
        func: cst.FunctionDef | None,
    ) -> None:
        lookup, body_is_not_found, var_name = tested
        found_body = stmt.orelse.body.body if isinstance(stmt.orelse, cst.Else) else None
        if body_is_not_found:
            path: list[cst.CSTNode] = list(stmt.body.body)
            falls_after = True
        elif isinstance(stmt.orelse, cst.Else):
            path = list(found_body or [])
            falls_after = True
        elif stmt.orelse is None and _exits(stmt.body.body):
            path = _until_exit(following)
            falls_after = False
        elif stmt.orelse is None:
            path = []
            falls_after = True
        else:
            return  # elif chains: the not-found side does something else
        verdict = _classify(path, self.names)
        if func is not None and lookup is not None and self._gives_value.get(func, False):
            hands_back = (falls_after and var_name in self._returns.get(func, set())) or any(
                isinstance(s, cst.Return) for p in path for s in _simple_statements(p)
            )
            if hands_back:
                # callers' silent branches on this function's result defer to this branch
                self.decides_not_found.add(func)
        var_evidence = bool(env.resume) or (
            lookup is not None and self._dir_known(lookup, env) is not None
        )
        if var_name is not None:
            # "handled": the caller's own not-found branch logs (its own site, if any)
            usage = "strict" if verdict is None else "handled" if verdict[0] else "fresh"
            self._use(var_name, usage, env, var_evidence)
        if verdict is None or lookup is None:
            return
        log_call, returns = verdict
        if returns and not self._gives_value.get(func, False):
            return  # an early exit of a procedure, not a lookup's None
        returns_to_caller = returns or (
            falls_after and var_name is not None and var_name in self._returns.get(func, set())
        )
        insert_before = None
        if log_call is None and path:
            insert_before = path[0]
        self.sites.append(
            FreshStartSite(
                lookup=lookup,
                branch=stmt,
                log_call=log_call,
                insert_before=insert_before,
                directory=lookup.directory or (env.known_dirs[-1] if env.known_dirs else None),
                resume_requested=env.resume[-1]
                if env.resume
                else (lookup.directory if lookup.explicit_resume else None),
                dir_known=self._dir_known(lookup, env),
                returns_to_caller=returns_to_caller and func is not None,
                function=func,
            )
        )

    def _dir_known(self, lookup: Lookup, env: _Env) -> str | None:
        if lookup.directory is None:
            return None
        for known in env.known_dirs:
            if known == lookup.directory or known.startswith(lookup.directory + "."):
                return known
        return None


def _short(func: cst.BaseExpression) -> str:
    return dotted(func) or _code(func)


def _is_len_call(expr: cst.BaseExpression) -> bool:
    return (
        isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "len"
    )


def _simple_statements(body: cst.CSTNode) -> Iterator[cst.BaseSmallStatement]:
    """Small statements of one function body, not descending into nested defs."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.BaseSmallStatement):
            yield cur
            continue
        if isinstance(cur, (cst.FunctionDef, cst.ClassDef, cst.BaseExpression)) and cur is not body:
            continue
        stack.extend(reversed(children(cur)))


def _blocks(stmt: cst.CSTNode) -> Iterator[Sequence[cst.CSTNode]]:
    for attr in ("body", "orelse", "finalbody", "handlers"):
        child = getattr(stmt, attr, None)
        if child is None:
            continue
        items = child if isinstance(child, (list, tuple)) else [child]
        for item in items:
            suite = (
                item.body if hasattr(item, "body") and not isinstance(item, cst.BaseSuite) else item
            )
            if isinstance(suite, cst.IndentedBlock):
                yield suite.body
            elif isinstance(suite, cst.SimpleStatementSuite):
                yield [cst.SimpleStatementLine(body=suite.body)]
            elif isinstance(suite, (list, tuple)):
                yield suite


def _exits(statements: Sequence[cst.CSTNode]) -> bool:
    """The block ends in return/raise/continue/break or an exit call."""
    if not statements:
        return False
    last = statements[-1]
    if isinstance(last, (cst.With, cst.Try)) and isinstance(last.body, cst.IndentedBlock):
        return _exits(last.body.body)
    if isinstance(last, cst.SimpleStatementLine) and last.body:
        small = last.body[-1]
        if isinstance(small, (cst.Return, cst.Raise, cst.Continue, cst.Break)):
            return True
        if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
            return (dotted(small.value.func) or "") in EXIT_CALLS
    return False


def _until_exit(statements: Sequence[cst.CSTNode]) -> list[cst.CSTNode]:
    out: list[cst.CSTNode] = []
    for stmt in statements:
        out.append(stmt)
        if _exits([stmt]) or not isinstance(stmt, cst.SimpleStatementLine):
            break
    return out


def _is_reset_value(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Name):
        return value.value in ("None", "False", "True")
    if isinstance(value, (cst.Integer, cst.Float)):
        return True
    if isinstance(value, cst.UnaryOperation) and isinstance(value.operator, cst.Minus):
        return isinstance(value.expression, (cst.Integer, cst.Float))
    if isinstance(value, (cst.List, cst.Tuple, cst.Dict, cst.Set)):
        return not value.elements if not isinstance(value, cst.Dict) else not value.elements
    if isinstance(value, cst.SimpleString):
        return value.value in ('""', "''")
    return False


def _classify(path: Sequence[cst.CSTNode], names: Names) -> tuple[cst.Call | None, bool] | None:
    """(first log call, returns None) when the path only logs/resets; None if it acts."""
    log_call: cst.Call | None = None
    returns = False
    for stmt in path:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return None
        for small in stmt.body:
            if isinstance(small, cst.Pass):
                continue
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                call = small.value
                qual = names.call_name(call) or dotted(call.func) or ""
                if qual in EXIT_CALLS or qual.rpartition(".")[2] in STRICT_RUNTIME:
                    return None
                if is_log_call(call):
                    log_call = log_call or call
                    continue
                return None
            if isinstance(small, cst.Expr) and isinstance(
                small.value, (cst.SimpleString, cst.ConcatenatedString)
            ):
                continue
            if isinstance(small, cst.Assign) and _is_reset_value(small.value):
                continue
            if (
                isinstance(small, cst.AnnAssign)
                and small.value is not None
                and _is_reset_value(small.value)
            ):
                continue
            if isinstance(small, cst.Return):
                value = small.value
                if value is None or (isinstance(value, cst.Name) and value.value == "None"):
                    returns = True
                    continue
                return None  # an error sentinel or a value: the caller is told
            return None
    return log_call, returns


class ResumeCallers(ProjectAnalysis):
    """How the project's call sites use results of functions that return None on not-found."""

    def __init__(self, files: dict[str, FileFacts], options: dict[str, Any]) -> None:
        super().__init__(files, options)
        self.returning: dict[str, str] = {}
        self.uses: list[tuple[str, str | None, str, bool]] = []
        for facts in files.values():
            summary = facts.get("resume") or {}
            self.returning.update(summary.get("returning", {}))
            self.uses.extend(tuple(u) for u in summary.get("uses", []))

    def uses_of(self, qualname: str) -> list[tuple[str, bool]]:
        """(usage, evidence at the call site) of every call resolving (or, unresolved, named) so."""
        bare = qualname.rpartition(".")[2]
        out = []
        for name, qual, usage, evidence in self.uses:
            if name != bare:
                continue
            # module roots differ between `src/pkg/mod.py` and `pkg.mod` imports
            same = qual is None or qual == qualname or qualname.endswith("." + qual)
            if same or (qual is not None and qual.endswith("." + qualname)):
                out.append((usage, evidence))
        return out

    def is_returning(self, qualname: str | None) -> bool:
        """A project function whose own not-found path returns None (reported there, if at all)."""
        if qualname is None:
            return False
        return any(q == qualname or q.endswith("." + qualname) for q in self.returning)
