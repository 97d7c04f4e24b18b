"""Which processes of a distributed job can reach a statement: one (global), one per node, or all.

`Guards(file).classify(node)` looks at what dominates `node` inside its function: enclosing
`if`/`elif`/`else` (with negation), early `return`/`continue`/`break`/`raise`/`sys.exit` before it
in the same block, `assert`, `cond and f()` / `x if cond else y`, and the function's decorators
(`@rank_zero_only`, `@accelerator.on_main_process`). Conditions are read with the vocabulary of
DOMAIN.md: `accelerator.is_main_process`, `dist.get_rank() == 0`, `int(os.environ["RANK"]) == 0`,
`self.rank == 0` are global; `is_local_main_process`, `local_rank in [-1, 0]`, `LOCAL_RANK` are per
node; `a or b` is only as strong as its weaker side, `a and b` as its stronger one. Names and
attributes assigned from such expressions (`master_process = rank == 0`, `self.is_main = ...`)
carry the guard. Inside a Ray actor class local-rank guards hold on every actor (Ray sets
LOCAL_RANK=0 for each), so they count as no guard there.

What happens in callers is the call graph's business (`callgraph.py`); this module is per file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from ckpt_lint.analysis import Analysis
from ckpt_lint.analysis.names import Names, dotted, iter_statements
from ckpt_lint.analysis.structure import Structure


class GuardLevel(enum.IntEnum):
    """How many processes get past a guard; a larger value is a stronger guard."""

    NONE = 0  # every process
    PER_NODE = 1  # one process per node (local rank 0)
    GLOBAL = 2  # one process in the whole job


@dataclass(frozen=True)
class Guard:
    """The strongest condition dominating a node; `text` is the deciding (sub)expression."""

    level: GuardLevel
    text: str = ""
    node: cst.CSTNode | None = None
    note: str = ""  # why a guard-looking condition is weaker than it reads

    @property
    def describe(self) -> str:
        return f"`{self.text}`" if self.text else "no main-process guard"


UNGUARDED = Guard(GuardLevel.NONE)

GLOBAL_ENV = frozenset(
    {
        "RANK",
        "OMPI_COMM_WORLD_RANK",
        "PMI_RANK",
        "PMIX_RANK",
        "MV2_COMM_WORLD_RANK",
        "JSM_NAMESPACE_RANK",
        "SLURM_PROCID",
    }
)
LOCAL_ENV = frozenset(
    {"LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"}
)

# names/attributes/zero-arg calls that are true on exactly one process of the job
GLOBAL_FLAGS = frozenset(
    {
        "is_main_process",
        "is_global_main_process",
        "is_global_zero",
        "is_world_process_zero",
        "is_world_zero",
        "is_master",
        "is_master_process",
        "master_process",
        "is_main",
        "is_main_rank",
        "main_process",
        "is_rank_zero",
        "is_rank0",
        "rank0",
        "rank_zero",
        "is_first_process",
        "is_primary_host",
        "is_primary",
        "should_save",  # HF TrainingArguments: global unless save_on_each_node (DOMAIN.md: don't flag)
    }
)
LOCAL_FLAGS = frozenset(
    {
        "is_local_main_process",
        "is_local_process_zero",
        "is_local_zero",
        "is_local_master",
        "is_local_main",
        "is_local_rank_zero",
        "local_main_process",
        "is_node_main",
    }
)
# an expression holding the global rank (compared with 0 it is a global guard)
GLOBAL_RANK_NAMES = frozenset(
    {
        "rank",
        "global_rank",
        "world_rank",
        "process_index",
        "global_process_index",
        "process_rank",
        "rank_id",
        "my_rank",
        "mpi_rank",
        "get_rank",
        "get_global_rank",
        "get_process_index",
        "get_ordinal",
        "global_ordinal",
    }
)
LOCAL_RANK_NAMES = frozenset(
    {
        "local_rank",
        "local_process_index",
        "get_local_rank",
        "get_local_ordinal",
        "local_ordinal",
        "local_rank_id",
    }
)
GLOBAL_DECORATORS = frozenset({"rank_zero_only", "on_main_process", "main_process_only"})
LOCAL_DECORATORS = frozenset({"on_local_main_process", "local_rank_zero_only"})
EXIT_CALLS = frozenset({"sys.exit", "exit", "quit", "os._exit"})
RAY_LOCAL_NOTE = "which holds on every Ray actor (Ray sets LOCAL_RANK=0 for each)"
MAX_DEPTH = 4  # how far names are chased through assignments


def _int_value(expr: cst.BaseExpression) -> int | None:
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value, 0)
        except ValueError:
            return None
    if (
        isinstance(expr, cst.UnaryOperation)
        and isinstance(expr.operator, cst.Minus)
        and isinstance(expr.expression, cst.Integer)
    ):
        inner = _int_value(expr.expression)
        return None if inner is None else -inner
    return None


def _string_value(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except Exception:
            return None
        return value if isinstance(value, str) else None
    return None


def _last(expr: cst.BaseExpression) -> str | None:
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    return None


def body_statements(suite: cst.BaseSuite) -> list[cst.CSTNode]:
    """The statements of an indented block or the small statements of a one-line suite."""
    if isinstance(suite, cst.IndentedBlock):
        return list(suite.body)
    if isinstance(suite, cst.SimpleStatementSuite):
        return list(suite.body)
    return []


class Guards(Analysis):
    """Guard classification for any node of one file (memoized per condition and block)."""

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.structure = file.get(Structure)
        self.names = file.get(Names)
        self.code = file.module.code_for_node
        self._assignments: dict[cst.CSTNode, dict[str, list[cst.BaseExpression]]] = {}
        self._exits: dict[cst.CSTNode, list[tuple[int, list[tuple[cst.BaseExpression, bool]]]]] = {}
        self._actor: dict[cst.CSTNode, bool] = {}

    # ---- public API ---------------------------------------------------------------------------

    def classify(self, node: cst.CSTNode) -> Guard:
        """The strongest guard dominating `node` within its function (plus its decorators)."""
        actor = self.in_ray_actor(node)
        best = UNGUARDED
        for cond, positive in self.conditions(node):
            guard = self.condition(cond, positive, scope=node, actor=actor)
            best = _stronger(best, guard)
        func = self.structure.enclosing_function(node)
        if func is not None:
            best = _stronger(best, self.decorator_guard(func, actor))
        return best

    def conditions(self, node: cst.CSTNode) -> Iterator[tuple[cst.BaseExpression, bool]]:
        """(condition, must-be-true) pairs that hold whenever `node` runs, up to its function."""
        child = node
        for anc in self.structure.ancestors(node):
            if isinstance(anc, (cst.If, cst.While)) and child is anc.body:
                yield anc.test, True
            elif isinstance(anc, cst.If) and child is anc.orelse:
                yield anc.test, False
            elif isinstance(anc, cst.IfExp):
                if child is anc.body:
                    yield anc.test, True
                elif child is anc.orelse:
                    yield anc.test, False
            elif isinstance(anc, cst.MatchCase) and child is anc.body and anc.guard is not None:
                yield anc.guard, True
            elif isinstance(anc, cst.BooleanOperation) and child is anc.right:
                yield anc.left, isinstance(anc.operator, cst.And)
            elif isinstance(anc, (cst.IndentedBlock, cst.Module, cst.SimpleStatementLine)):
                yield from self._exits_before(anc, child)
            if isinstance(anc, (cst.FunctionDef, cst.Lambda, cst.ClassDef)):
                return
            child = anc

    def condition(
        self,
        expr: cst.BaseExpression,
        positive: bool = True,
        scope: cst.CSTNode | None = None,
        actor: bool = False,
    ) -> Guard:
        """Guard level implied by `expr` being true (or false when `positive` is False)."""
        return self._cond(expr, positive, scope or expr, actor, 0)

    def decorator_guard(self, func: cst.FunctionDef, actor: bool = False) -> Guard:
        best = UNGUARDED
        for dec in func.decorators:
            target = dec.decorator.func if isinstance(dec.decorator, cst.Call) else dec.decorator
            last = _last(target)
            if last in GLOBAL_DECORATORS:
                best = _stronger(
                    best, Guard(GuardLevel.GLOBAL, "@" + self.code(dec.decorator), dec)
                )
            elif last in LOCAL_DECORATORS:
                best = _stronger(best, self._level(GuardLevel.PER_NODE, dec, actor))
        return best

    def assigned_values(
        self, expr: cst.BaseExpression, scope: cst.CSTNode
    ) -> list[cst.BaseExpression]:
        """Values assigned to a name (enclosing functions, then module) or `self.x` attribute."""
        return self._assigned(expr, scope)

    def in_ray_actor(self, node: cst.CSTNode) -> bool:
        """Whether `node` sits in a class decorated with `@ray.remote` (each actor is a process)."""
        for anc in self.structure.ancestors(node):
            if isinstance(anc, cst.ClassDef):
                cached = self._actor.get(anc)
                if cached is None:
                    cached = any(self._is_ray_remote(d.decorator) for d in anc.decorators)
                    self._actor[anc] = cached
                if cached:
                    return True
        return False

    def _is_ray_remote(self, dec: cst.BaseExpression) -> bool:
        target = dec.func if isinstance(dec, cst.Call) else dec
        return self.names.qualname(target) == "ray.remote"

    # ---- conditions ---------------------------------------------------------------------------

    def _cond(
        self, expr: cst.BaseExpression, positive: bool, scope: cst.CSTNode, actor: bool, depth: int
    ) -> Guard:
        if depth > MAX_DEPTH:
            return UNGUARDED
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = expr.expression
            kind = self._rank_kind(inner, scope, depth) if positive else None
            if kind is not None:
                # `not rank` is `rank == 0`
                return self._rank_guard(kind, expr, actor)
            return self._cond(inner, not positive, scope, actor, depth)
        if isinstance(expr, cst.BooleanOperation):
            left = self._cond(expr.left, positive, scope, actor, depth)
            right = self._cond(expr.right, positive, scope, actor, depth)
            conjunction = isinstance(expr.operator, cst.And) == positive
            if conjunction:
                return _stronger(left, right)
            weaker = left if left.level <= right.level else right
            if max(left.level, right.level) > weaker.level:
                # `is_main_process or is_deepspeed`: every process the other side admits gets in
                note = "whose `or` lets every process in"
                return Guard(weaker.level, self.code(expr), expr, note)
            return weaker
        if isinstance(expr, cst.Comparison):
            return self._comparison(expr, positive, scope, actor, depth)
        flag = self._flag_kind(expr, scope, actor, depth)
        if flag is None:
            return UNGUARDED
        if not positive:
            return UNGUARDED
        return flag

    def _comparison(
        self, expr: cst.Comparison, positive: bool, scope: cst.CSTNode, actor: bool, depth: int
    ) -> Guard:
        if len(expr.comparisons) != 1:
            return UNGUARDED
        target = expr.comparisons[0]
        op = target.operator
        left, right = expr.left, target.comparator
        kind = self._rank_kind(left, scope, depth)
        other = right
        if kind is None:
            kind = self._rank_kind(right, scope, depth)
            other = left
            if kind is None:
                return UNGUARDED
        zero_test: bool | None = None  # True: "rank is 0"; False: "rank is not 0"
        value = _int_value(other)
        if value is None and _string_value(other) == "0":
            value = 0  # `os.environ.get("LOCAL_RANK", "0") == "0"`
        if isinstance(op, (cst.Equal, cst.Is)) and value == 0:
            zero_test = True
        elif isinstance(op, (cst.NotEqual, cst.IsNot)) and value == 0:
            zero_test = False
        elif isinstance(op, (cst.In, cst.NotIn)) and isinstance(
            other, (cst.List, cst.Tuple, cst.Set)
        ):
            values = {_int_value(e.value) for e in other.elements}
            if 0 in values and values <= {0, -1}:
                zero_test = isinstance(op, cst.In)
        elif other is right and value is not None:
            if isinstance(op, cst.GreaterThan) and value == 0:
                zero_test = False
            elif (isinstance(op, cst.LessThan) and value == 1) or (
                isinstance(op, cst.LessThanEqual) and value == 0
            ):
                zero_test = True
        if zero_test is None or zero_test != positive:
            return UNGUARDED
        return self._rank_guard(kind, expr, actor)

    def _rank_guard(self, kind: str | None, expr: cst.CSTNode, actor: bool) -> Guard:
        if kind == "global":
            return Guard(GuardLevel.GLOBAL, self.code(expr), expr)
        if kind == "local":
            return self._level(GuardLevel.PER_NODE, expr, actor)
        return UNGUARDED

    def _flag_kind(
        self, expr: cst.BaseExpression, scope: cst.CSTNode, actor: bool, depth: int
    ) -> Guard | None:
        """A boolean that is itself a main-process test: flag attribute, call or guard variable."""
        if isinstance(expr, cst.Call):
            qual = self.names.qualname(expr.func) or ""
            last = _last(expr.func)
            if last is None:
                return None
            if qual == "transformers.trainer_utils.is_main_process" or (
                last == "is_main_process" and expr.args and "local" in self.code(expr.args[0].value)
            ):
                # transformers' is_main_process(local_rank) checks the local rank despite its name
                return self._level(GuardLevel.PER_NODE, expr, actor)
            if last in GLOBAL_FLAGS:
                return self._level(GuardLevel.GLOBAL, expr, actor)
            if last in LOCAL_FLAGS:
                return self._level(GuardLevel.PER_NODE, expr, actor)
            return None
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        for value in self._assigned(expr, scope):
            guard = self._cond(value, True, scope, actor, depth + 1)
            if guard.level > GuardLevel.NONE:
                return Guard(guard.level, f"{self.code(expr)} = {guard.text}", expr)
        last = _last(expr)
        if last in LOCAL_FLAGS or (
            last and "local" in last and last.replace("local_", "") in GLOBAL_FLAGS
        ):
            return self._level(GuardLevel.PER_NODE, expr, actor)
        if last in GLOBAL_FLAGS:
            return self._level(GuardLevel.GLOBAL, expr, actor)
        return None

    def _level(self, level: GuardLevel, expr: cst.CSTNode, actor: bool) -> Guard:
        text = self.code(expr.decorator) if isinstance(expr, cst.Decorator) else self.code(expr)
        text = "@" + text if isinstance(expr, cst.Decorator) else text
        if level == GuardLevel.PER_NODE and actor:
            return Guard(GuardLevel.NONE, text, expr, RAY_LOCAL_NOTE)
        return Guard(level, text, expr)

    def _rank_kind(self, expr: cst.BaseExpression, scope: cst.CSTNode, depth: int) -> str | None:
        """ "global"/"local" when `expr` evaluates to the process's global/local rank."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(expr, cst.Call):
            func_last = _last(expr.func)
            if func_last in ("int", "str") and expr.args:
                return self._rank_kind(expr.args[0].value, scope, depth + 1)
            qual = self.names.qualname(expr.func) or dotted(expr.func) or ""
            if qual in ("os.getenv", "os.environ.get") or qual.endswith("environ.get"):
                return _env_kind(_string_value(expr.args[0].value)) if expr.args else None
            if func_last in LOCAL_RANK_NAMES:
                return "local"
            if func_last in GLOBAL_RANK_NAMES or qual == "jax.process_index":
                return "global"
            return None
        if isinstance(expr, cst.Subscript):
            base = self.names.qualname(expr.value) or dotted(expr.value) or ""
            if base.endswith("environ") and len(expr.slice) == 1:
                index = expr.slice[0].slice
                if isinstance(index, cst.Index):
                    return _env_kind(_string_value(index.value))
            return None
        if isinstance(expr, cst.NamedExpr):
            return self._rank_kind(expr.value, scope, depth + 1)
        if isinstance(expr, cst.IfExp):
            # `get_rank() if is_distributed() else 0`
            return self._rank_kind(expr.body, scope, depth + 1) or self._rank_kind(
                expr.orelse, scope, depth + 1
            )
        if not isinstance(expr, (cst.Name, cst.Attribute)):
            return None
        last = _last(expr)
        if last in LOCAL_RANK_NAMES:
            return "local"
        if last in GLOBAL_RANK_NAMES:
            return "global"
        for value in self._assigned(expr, scope):
            kind = self._rank_kind(value, scope, depth + 1)
            if kind is not None:
                return kind
        return None

    # ---- assignments --------------------------------------------------------------------------

    def _assigned(self, expr: cst.BaseExpression, scope: cst.CSTNode) -> list[cst.BaseExpression]:
        """Values assigned to a Name (enclosing functions, then module) or a `self.x` attribute."""
        text = dotted(expr)
        if text is None:
            return []
        if isinstance(expr, cst.Attribute):
            if not text.startswith(("self.", "cls.")) or text.count(".") != 1:
                return []
            cls = self.structure.enclosing_class(scope)
            return self._assignments_in(cls).get(text, []) if cls is not None else []
        holder: cst.CSTNode | None = self.structure.enclosing_function(scope)
        while holder is not None:
            found = self._assignments_in(holder).get(text)
            if found:
                return found
            holder = self.structure.enclosing_function(holder)
        return self._assignments_in(self.file.module).get(text, [])

    def _assignments_in(self, holder: cst.CSTNode) -> dict[str, list[cst.BaseExpression]]:
        cached = self._assignments.get(holder)
        if cached is not None:
            return cached
        table: dict[str, list[cst.BaseExpression]] = {}
        body = holder.body if isinstance(holder, (cst.FunctionDef, cst.ClassDef)) else holder
        for stmt in iter_statements(body):
            if isinstance(stmt, cst.Assign):
                for target in stmt.targets:
                    name = dotted(target.target)
                    if name is not None:
                        table.setdefault(name, []).append(stmt.value)
            elif isinstance(stmt, cst.AnnAssign) and stmt.value is not None:
                name = dotted(stmt.target)
                if name is not None:
                    table.setdefault(name, []).append(stmt.value)
        self._assignments[holder] = table
        return table

    # ---- early exits --------------------------------------------------------------------------

    def _exits_before(
        self, block: cst.CSTNode, child: cst.CSTNode
    ) -> Iterator[tuple[cst.BaseExpression, bool]]:
        entries = self._exits.get(block)
        if entries is None:
            entries = self._scan_exits(block)
            self._exits[block] = entries
        if not entries:
            return
        stmts = getattr(block, "body", ())
        index = next((i for i, s in enumerate(stmts) if s is child), None)
        if index is None:
            return
        for at, conds in entries:
            if at < index:
                yield from conds

    def _scan_exits(
        self, block: cst.CSTNode
    ) -> list[tuple[int, list[tuple[cst.BaseExpression, bool]]]]:
        out = []
        for i, stmt in enumerate(getattr(block, "body", ())):
            if isinstance(stmt, cst.If):
                conds = self._if_exit_conditions(stmt)
                if conds:
                    out.append((i, conds))
            elif isinstance(stmt, cst.SimpleStatementLine):
                asserts = [(s.test, True) for s in stmt.body if isinstance(s, cst.Assert)]
                if asserts:
                    out.append((i, asserts))
            elif isinstance(stmt, cst.Assert):
                out.append((i, [(stmt.test, True)]))
        return out

    def _if_exit_conditions(self, stmt: cst.If) -> list[tuple[cst.BaseExpression, bool]]:
        """Conditions known to hold after `stmt` when some of its branches leave the block."""
        body_exits = self._exits_block(stmt.body)
        orelse = stmt.orelse
        if isinstance(orelse, cst.Else):
            else_exits = self._exits_block(orelse.body)
            if body_exits and not else_exits:
                return [(stmt.test, False)]
            if else_exits and not body_exits:
                return [(stmt.test, True)]
            return []
        if not body_exits:
            return []
        # reaching past the statement means the test was false (and an elif chain completed)
        rest = self._if_exit_conditions(orelse) if isinstance(orelse, cst.If) else []
        return [(stmt.test, False), *rest]

    def _exits_block(self, suite: cst.BaseSuite) -> bool:
        stmts = body_statements(suite)
        if not stmts:
            return False
        last = stmts[-1]
        smalls = last.body if isinstance(last, cst.SimpleStatementLine) else [last]
        for small in smalls:
            if isinstance(small, (cst.Return, cst.Continue, cst.Break, cst.Raise)):
                return True
            if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                name = self.names.qualname(small.value.func) or dotted(small.value.func)
                if name in EXIT_CALLS:
                    return True
        return False


def _env_kind(name: str | None) -> str | None:
    if name in GLOBAL_ENV:
        return "global"
    if name in LOCAL_ENV:
        return "local"
    return None


def _stronger(a: Guard, b: Guard) -> Guard:
    if b.level > a.level:
        return b
    if b.level == a.level and not a.text and b.text:
        return b
    return a
