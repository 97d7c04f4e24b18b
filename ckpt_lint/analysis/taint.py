"""Wall-clock and random values flowing into checkpoint paths (shared taint analysis).

Sources are calls such as `time.time()`, `datetime.now()`, `uuid4()` (resolved through the
module's imports); sinks are the names, attributes, keywords and calls that hold or create a
directory checkpoints are saved to or resumed from. Values propagate through assignments to
names and attribute paths (`args.exp_name`), f-strings, `+`/`%`/`/`, `.format`, `str()/int()`,
`os.path.join`, `Path(...)` and calls of functions whose return value is tainted.

The pass is flow-sensitive within a function: statements run in order, a plain assignment of a
clean value clears a name, branches are analysed separately and joined. Functions are summarised
(tainted return, return fields, parameters that reach a sink, attributes a call writes on its
arguments) and the file is re-analysed until the summaries stop changing. Across modules the
per-file summary exports "functions whose return is tainted" and "sinks reached by calls to
functions of other modules"; `TaintProject` resolves those to a fixpoint.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import libcst as cst

from ckpt_lint.analysis import Analysis, FileFacts, ProjectAnalysis
from ckpt_lint.analysis.names import Names, dotted
from ckpt_lint.analysis.structure import Structure, children
from ckpt_lint.textfilter import Pattern, TextFilter, words

# ---- vocabulary --------------------------------------------------------------------------------

SOURCE_CALLS = frozenset(
    {
        "time.time",
        "time.time_ns",
        "datetime.datetime.now",
        "datetime.datetime.utcnow",
        "datetime.datetime.today",
        "datetime.date.today",
        "uuid.uuid1",
        "uuid.uuid4",
        "os.getpid",
    }
)
SOURCE_MODULES = ("secrets", "random")  # every value-returning function of these modules
NOT_SOURCES = frozenset(
    {"random.seed", "random.Random", "random.SystemRandom", "random.getstate", "random.setstate"}
)
# these read the clock only when called without a time argument (value: arguments allowed)
_CLOCK_ARITY = {
    "time.strftime": 1,
    "time.localtime": 0,
    "time.gmtime": 0,
    "time.ctime": 0,
    "time.asctime": 0,
}

SINK_NAMES = frozenset(
    {
        "output_dir",
        "save_dir",
        "save_folder",
        "save_path",
        "checkpoint_dir",
        "checkpoint_path",
        "checkpoint_state_dir",
        "checkpoints_dir",
        "ckpt_dir",
        "ckpt_path",
        "run_dir",
        "project_dir",
        "default_root_dir",
        "dirpath",
        "resume_dir",
    }
)
# function -> (positional index of the path, keyword names of the path)
SINK_FUNCTIONS: dict[str, tuple[int, tuple[str, ...]]] = {
    "os.makedirs": (0, ("name",)),
    "os.mkdir": (0, ("path",)),
    "torch.save": (1, ("f",)),
}
# method name -> (positional index of the path, keyword names); -1 means the receiver is the path
SINK_METHODS: dict[str, tuple[int, tuple[str, ...]]] = {
    "mkdir": (-1, ()),
    "save_state": (0, ("output_dir",)),
    "load_state": (0, ("input_dir",)),
    "save_pretrained": (0, ("save_directory",)),
    "save_model": (0, ("output_dir",)),
    "save_checkpoint": (0, ("save_dir", "checkpoint_dir", "path")),
    "load_checkpoint": (0, ("load_dir", "checkpoint_dir", "path")),
}
# creating a directory for logs (TensorBoard, W&B) or a temporary one is not a checkpoint path
_NOT_CHECKPOINT_DIR = re.compile(
    r"(^|_)(log|logs|logging|tb|tensorboard|wandb|runs|events?"
    r"|tmp|temp|tmpdir|tempdir|scratch|staging|cache)(_|$)",
    re.I,
)
_DIR_CREATORS = frozenset({"os.makedirs", "os.mkdir", ".mkdir"})

# text a file must contain to call a source: every source lives in a stdlib module it imports
# (`os.getpid` aside: `os` is imported everywhere, so its name is the test), then a call named
# like one (an aliased import counts). CKP001's prefilter; the cheap import test goes first.
SOURCE_IMPORT = (
    Pattern(rb"from[ \t]+(?:time|datetime|uuid|secrets|random)\b")
    | Pattern(rb"import[ \t]+[^\n;#]*\b(?:time|datetime|uuid|secrets|random)\b")
    | Pattern(rb"getpid")
)
SOURCE_CALL = Pattern(
    rb"\b(?:time|time_ns|strftime|localtime|gmtime|ctime|asctime|now|utcnow|today|uuid1|uuid4"
    rb"|getpid|token_\w+|rand\w*|choices?|sample|shuffle|getrandbits|uniform)\s*\("
) | Pattern(rb"from\s+(?:time|datetime|uuid|secrets|random)\s+import[^\n]*\bas\b")
SOURCE_CALL_TEXT = SOURCE_IMPORT & SOURCE_CALL

# calls whose result carries the taint of their arguments
PROPAGATING_CALLS = frozenset(
    {
        "str",
        "int",
        "float",
        "round",
        "format",
        "repr",
        "hex",
        "abs",
        "os.path.join",
        "os.path.abspath",
        "os.path.expanduser",
        "os.path.expandvars",
        "os.path.normpath",
        "os.path.realpath",
        "os.fspath",
        "posixpath.join",
        "pathlib.Path",
        "pathlib.PurePath",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "time.strftime",
        "time.localtime",
        "time.gmtime",
        "time.ctime",
        "datetime.datetime.fromtimestamp",
        "datetime.datetime.utcfromtimestamp",
        "dataclasses.field",
    }
)
# methods whose result carries the receiver's taint (and, for some, the arguments')
RECEIVER_METHODS = frozenset(
    {
        "format",
        "strftime",
        "isoformat",
        "timestamp",
        "replace",
        "lower",
        "upper",
        "strip",
        "rstrip",
        "lstrip",
        "zfill",
        "hex",
        "join",
        "joinpath",
        "with_name",
        "with_stem",
        "with_suffix",
        "resolve",
        "absolute",
        "expanduser",
        "as_posix",
        "encode",
        "decode",
    }
)
ARGUMENT_METHODS = frozenset(
    {"format", "join", "joinpath", "with_name", "with_stem", "with_suffix"}
)
# the non-deterministic piece a fix replaces grows through these wrappers
WRAPPERS = frozenset(
    {
        "int",
        "str",
        "round",
        "float",
        "time.localtime",
        "time.gmtime",
        "time.strftime",
        "time.ctime",
        "datetime.datetime.fromtimestamp",
        "datetime.datetime.utcfromtimestamp",
    }
)
CONFIG_NAMES = ("args", "config", "cfg", "opts", "hparams", "training_args", "conf")
_CONFIG_SUFFIXES = ("_args", "_config", "_cfg")
# big libraries: results of their calls never carry a project function's taint
_LIBRARIES = frozenset(
    {
        "torch",
        "transformers",
        "accelerate",
        "numpy",
        "datasets",
        "deepspeed",
        "lightning",
        "pytorch_lightning",
        "wandb",
        "ray",
        "jax",
        "flax",
        "tensorflow",
        "pandas",
        "vllm",
        "peft",
        "trl",
        "huggingface_hub",
        "tqdm",
        "composer",
        "olmo_core",
        "omegaconf",
        "hydra",
        "yaml",
        "requests",
        "diffusers",
        "safetensors",
        "sklearn",
        "scipy",
        "libcst",
    }
)


# ---- taint values ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """A non-deterministic call in this file (index into `Structure.calls`)."""

    index: int


@dataclass(frozen=True)
class Extern:
    """The return value of a function of another project module."""

    qualname: str


@dataclass(frozen=True)
class Param:
    """Symbolic: the value of a parameter of the function being summarised."""

    function: str
    name: str


Origin: TypeAlias = Source | Extern | Param
# origin -> the names the value passed through on its way here ("via")
Taint: TypeAlias = dict[Origin, tuple[str, ...]]
State: TypeAlias = dict[str, Taint]
_CLEAN: Taint = {}
_VALUE_NODES = (
    cst.BaseExpression,
    cst.BaseFormattedStringContent,
    cst.Element,
    cst.BaseDictElement,
    cst.Index,
    cst.Slice,
)
_MAX_VIA = 4
_MAX_PASSES = 6
MODULE = "<module>"


def union(*taints: Taint) -> Taint:
    out: Taint = {}
    for t in taints:
        for origin, via in t.items():
            old = out.get(origin)
            if old is None or len(via) < len(old):
                out[origin] = via
    return out


def through(taint: Taint, name: str) -> Taint:
    """The taint after the value was stored in `name` (extends each via chain)."""
    return {o: v if name in v or len(v) >= _MAX_VIA else (*v, name) for o, v in taint.items()}


def _lookup(state: State, path: str) -> Taint:
    """Taint of an access path; the longest recorded prefix decides (`args` taints `args.x`)."""
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        found = state.get(".".join(parts[:end]))
        if found is not None:
            return found
    return _CLEAN


def _store(state: State, path: str, taint: Taint) -> None:
    """Strong update: `path` now holds `taint`, and everything below it is overwritten."""
    prefix = path + "."
    for key in [k for k in state if k.startswith(prefix)]:
        del state[key]
    state[path] = taint


def _join(a: State, b: State) -> State:
    if a is b:
        return dict(a)
    return {k: union(_lookup(a, k), _lookup(b, k)) for k in a.keys() | b.keys()}


def concrete(taint: Taint) -> Taint:
    """Only the real origins (sources, other modules' returns), no symbolic parameters."""
    return {o: v for o, v in taint.items() if not isinstance(o, Param)}


def _shape(taint: Taint) -> frozenset[Origin]:
    return frozenset(taint)


def _state_shape(state: State) -> frozenset:
    return frozenset((k, _shape(v)) for k, v in state.items() if v)


# ---- facts the analysis produces ---------------------------------------------------------------


@dataclass
class SinkHit:
    """A tainted value reaching a checkpoint path in this file."""

    node: cst.CSTNode  # the sink: assignment target, keyword argument or call
    text: str  # how the message names it: "args.output_dir", "os.makedirs(...)"
    taint: Taint
    through_call: str | None = None  # the local function whose parameter led here


@dataclass(frozen=True)
class RemoteSink:
    """A sink in another file reached by the return value of one of this file's functions."""

    path: str
    line: int
    column: int
    text: str
    via: tuple[str, ...]


@dataclass
class Flow:
    """One source with every sink its value reaches (local ones first, in source order)."""

    source: cst.Call
    piece: cst.BaseExpression  # the whole non-deterministic expression (what a fix replaces)
    sinks: list[tuple[SinkHit, tuple[str, ...]]]
    remote: list[RemoteSink]


@dataclass
class FunctionSummary:
    params: list[str] = field(default_factory=list)
    returns: Taint = field(default_factory=dict)
    fields: dict[str, Taint] = field(default_factory=dict)  # ".run_name" of the returned object
    mutations: dict[str, dict[str, Taint]] = field(default_factory=dict)  # param -> suffix -> taint
    param_sinks: dict[str, list[SinkHit]] = field(default_factory=dict)

    def shape(self) -> tuple:
        return (
            _shape(self.returns),
            tuple(sorted((k, _shape(v)) for k, v in self.fields.items())),
            tuple(
                sorted(
                    (p, tuple(sorted((k, _shape(v)) for k, v in m.items())))
                    for p, m in self.mutations.items()
                )
            ),
            tuple(sorted((p, len(h)) for p, h in self.param_sinks.items())),
        )


# ---- the per-file analysis ---------------------------------------------------------------------


class TaintAnalysis(Analysis):
    """Where this file's wall-clock/random values go, and what its functions return."""

    summary_key = "taint"

    # every flow starts at a source call: a file without one matters only as the caller of a
    # function returning another module's source value (passing it on, or into a sink), and
    # the engine parses exactly those callers for this analysis (`interest`)
    prefilter = SOURCE_CALL_TEXT

    @classmethod
    def empty_summary(cls) -> dict[str, Any]:
        return {"returns": {}, "extern_sinks": [], "local": False}

    @classmethod
    def prefilter_for(cls, options: dict[str, Any]) -> TextFilter | None:
        return with_extra_words(cls.prefilter, options.get("extra-sources", ()))

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.names = file.get(Names)
        self.structure = file.get(Structure)
        options = file.options or {}
        self.extra_sources = tuple(str(s) for s in options.get("extra-sources", ()) or ())
        extra_sinks = [str(s) for s in options.get("extra-sinks", ()) or ()]
        self.sink_names = SINK_NAMES | {s.lower() for s in extra_sinks if "." not in s}
        self.sink_functions = dict(SINK_FUNCTIONS)
        self.sink_methods = dict(SINK_METHODS)
        for s in extra_sinks:
            if s.startswith("."):
                self.sink_methods[s[1:]] = (0, ())
            elif "." in s:
                self.sink_functions[s] = (0, ())
        self.sources: dict[cst.Call, Source] = {}
        for index, call in enumerate(self.structure.calls):
            if self.is_source(call):
                self.sources[call] = Source(index)
        self.functions: dict[str, cst.FunctionDef] = {}
        for func in self.structure.functions:
            self.functions.setdefault(self.structure.qualname(func), func)
        self.temp_scopes = self._scopes_using_tempfile()
        self.summaries: dict[str, FunctionSummary] = {}
        self.hits: list[SinkHit] = []
        self.extern_hits: list[SinkHit] = []
        if self.sources or self._calls_project_functions():
            self._solve()

    # -- vocabulary ------------------------------------------------------------------------------

    def is_source(self, call: cst.Call) -> bool:
        qual = self.names.call_name(call)
        if qual is None:
            return False
        if qual in SOURCE_CALLS or _matches(qual, self.extra_sources):
            return True
        arity = _CLOCK_ARITY.get(qual)
        if arity is not None:
            return len(call.args) <= arity
        module, _, func = qual.rpartition(".")
        return module in SOURCE_MODULES and qual not in NOT_SOURCES and not func.startswith("_")

    def is_project_function(self, qual: str | None) -> bool:
        if qual is None or "." not in qual:
            return False
        root = qual.split(".", 1)[0]
        return root not in sys.stdlib_module_names and root not in _LIBRARIES

    def _scopes_using_tempfile(self) -> set[str]:
        out = set()
        for call in self.structure.calls:
            qual = self.names.call_name(call)
            if qual is not None and qual.startswith("tempfile."):
                func = self.structure.enclosing_function(call)
                out.add(self.structure.qualname(func) if func is not None else MODULE)
        return out

    def _calls_project_functions(self) -> bool:
        local = set(self.functions)
        return any(
            (q := self.names.call_name(c)) in local or self.is_project_function(q)
            for c in self.structure.calls
        )

    # -- fixpoint over the file's functions ------------------------------------------------------

    def _solve(self) -> None:
        flow = _Flow(self)
        flow.solve()
        self.summaries = flow.summaries
        self.hits = [h for hits in flow.hits.values() for h in hits]
        self.extern_hits = [h for hits in flow.extern_hits.values() for h in hits]

    # -- what rules and the project phase ask ----------------------------------------------------

    def flows(self, project: TaintProject | None = None) -> list[Flow]:
        """Every source whose value reaches a checkpoint path, here or in another module."""
        out: list[Flow] = []
        for call, source in self.sources.items():
            sinks: list[tuple[SinkHit, tuple[str, ...]]] = []
            for hit in self.hits:
                if source in hit.taint and all(hit.node is not s.node for s, _ in sinks):
                    sinks.append((hit, hit.taint[source]))
            remote = project.remote_sinks(self.file.parsed.path, source.index) if project else []
            if sinks or remote:
                out.append(Flow(call, self.piece(call), sinks, remote))
        out.sort(key=lambda f: self.structure.calls.index(f.source))
        return out

    def piece(self, call: cst.Call) -> cst.BaseExpression:
        """The whole non-deterministic expression around a source: `int(time.time())`,
        `datetime.now().strftime(...)`, `uuid4().hex[:8]`."""
        node: cst.BaseExpression = call
        while True:
            parent = self.structure.parent(node)
            if isinstance(parent, cst.Arg) and parent.keyword is None and parent.star == "":
                outer = self.structure.parent(parent)
                if (
                    isinstance(outer, cst.Call)
                    and outer.args
                    and outer.args[0] is parent
                    and self.names.call_name(outer) in WRAPPERS
                ):
                    node = outer
                    continue
            elif isinstance(parent, cst.Attribute) and parent.value is node:
                outer = self.structure.parent(parent)
                node = outer if isinstance(outer, cst.Call) and outer.func is parent else parent
                continue
            elif isinstance(parent, cst.Subscript) and parent.value is node:
                node = parent
                continue
            return node

    def config_for(self, node: cst.CSTNode) -> str | None:
        """The config object in scope whose hyperparameters identify the run, as code."""
        stmt = self.structure.enclosing_statement(node)
        targets: list[cst.BaseExpression] = []
        if isinstance(stmt, cst.Assign):
            targets = [t.target for t in stmt.targets]
        elif isinstance(stmt, (cst.AnnAssign, cst.AugAssign)):
            targets = [stmt.target]
        for target in targets:
            base = target.value if isinstance(target, (cst.Attribute, cst.Subscript)) else None
            text = dotted(base) if base is not None else None
            if text and text.split(".")[0] not in ("self", "cls"):
                return text
        func = self.structure.enclosing_function(node)
        while func is not None:
            for param in _all_params(func.params):
                name = param.name.value
                if name in CONFIG_NAMES or name.endswith(_CONFIG_SUFFIXES):
                    return name
            local = self._local_config(func, node)
            if local:
                return local
            if self.structure.enclosing_class(func) is not None:
                attr = self._self_config(func)
                if attr:
                    return attr
            func = self.structure.enclosing_function(func)
        return None

    def _local_config(self, func: cst.FunctionDef, before: cst.CSTNode) -> str | None:
        """A local `args = parse_args()` assigned earlier in the function."""
        stmt = self.structure.enclosing_statement(before)
        for small in _statements_in(func):
            if small is stmt:
                return None
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    if isinstance(t.target, cst.Name) and t.target.value in CONFIG_NAMES:
                        return t.target.value
        return None

    def _self_config(self, func: cst.FunctionDef) -> str | None:
        cls = self.structure.enclosing_class(func)
        if cls is None:
            return None
        seen: set[str] = set()
        for small in _statements_in(cls):
            if isinstance(small, cst.Assign):
                for t in small.targets:
                    text = dotted(t.target)
                    if text and text.startswith("self."):
                        seen.add(text[5:])
        for name in CONFIG_NAMES:
            if name in seen:
                return f"self.{name}"
        return None

    # -- phase-1 summary for the project phase ---------------------------------------------------

    def summary(self) -> dict[str, Any]:
        returns: dict[str, dict[str, list]] = {}
        for qual, summary in self.summaries.items():
            sources = sorted(o.index for o in summary.returns if isinstance(o, Source))
            externs = sorted(o.qualname for o in summary.returns if isinstance(o, Extern))
            if sources or externs:
                returns[qual] = {"sources": sources, "externs": externs}
        extern_sinks: list[tuple[str, str, int, int, tuple[str, ...]]] = []
        seen: set[tuple[str, int]] = set()
        for hit in self.extern_hits:
            for origin, via in hit.taint.items():
                if isinstance(origin, Extern) and (origin.qualname, id(hit.node)) not in seen:
                    seen.add((origin.qualname, id(hit.node)))
                    pos = self.file.parsed.start(hit.node)
                    extern_sinks.append((origin.qualname, hit.text, pos.line, pos.column, via))
        return {"returns": returns, "extern_sinks": extern_sinks, "local": self.local_flow()}

    def local_flow(self) -> bool:
        """Whether a source of this file reaches a sink in this file."""
        return any(source in hit.taint for hit in self.hits for source in self.sources.values())

    def interest(self) -> set[str]:
        """Functions returning a source's value: their callers may put it in a path."""
        return {
            q for q, s in self.summaries.items() if any(isinstance(o, Source) for o in s.returns)
        }

    def conditional_interest(self) -> dict[str, frozenset[str]]:
        """Functions passing on another module's return value: worth their callers only when
        that function (by name) returns a source's value, directly or passed on itself."""
        out = {}
        for qual, summary in self.summaries.items():
            if not any(isinstance(o, Source) for o in summary.returns):
                names = {
                    o.qualname.rsplit(".", 1)[-1] for o in summary.returns if isinstance(o, Extern)
                }
                if names:
                    out[qual] = frozenset(names)
        return out


# ---- one pass of the flow analysis over a file -------------------------------------------------


class _Flow:
    """The flow analysis of one file: each scope (module, function) is re-run until the
    summaries it reads (callees, class attributes, module globals) stop changing."""

    def __init__(self, taint: TaintAnalysis) -> None:
        self.t = taint
        self.names = taint.names
        self.structure = taint.structure
        self.summaries: dict[str, FunctionSummary] = {}
        self.module_state: State = {}
        self.class_attrs: dict[str, State] = {}
        self.attr_writes: dict[str, State] = {}  # method -> `self.x` taints it leaves behind
        self.hits: dict[str, list[SinkHit]] = {}
        self.extern_hits: dict[str, list[SinkHit]] = {}
        self.deps: dict[str, set[str]] = {}
        self.current: FunctionSummary | None = None
        self.current_name = MODULE
        self.current_class: str | None = None
        self.classes = {
            qual: cls.name.value
            for qual, func in taint.functions.items()
            if (cls := self.structure.enclosing_class(func)) is not None
        }

    def solve(self) -> None:
        scopes = [MODULE, *self.t.functions]
        dirty = set(scopes)
        for _ in range(_MAX_PASSES):
            changed: set[str] = set()
            for scope in scopes:
                if scope in dirty:
                    changed |= self.run_scope(scope)
            dirty = {s for s in scopes if self.deps.get(s, set()) & changed}
            if not dirty:
                return

    def run_scope(self, scope: str) -> set[str]:
        """Analyse one scope; returns the summary keys whose shape changed."""
        self.hits[scope], self.extern_hits[scope], self.deps[scope] = [], [], set()
        if scope == MODULE:
            before = _state_shape(self.module_state)
            self.current, self.current_name, self.current_class = None, MODULE, None
            self.module_state = self.block(self.t.file.module.body, {})
            return {MODULE} if _state_shape(self.module_state) != before else set()
        old = self.summaries.get(scope)
        self.function(scope, self.t.functions[scope])
        changed = (
            set() if old is not None and old.shape() == self.summaries[scope].shape() else {scope}
        )
        cls = self.classes.get(scope)
        if cls is not None:
            before = _state_shape(self.class_attrs.get(cls, {}))
            merged: State = {}
            for method, writes in self.attr_writes.items():
                if self.classes.get(method) == cls:
                    merged = {
                        k: union(merged.get(k, {}), writes.get(k, {}))
                        for k in merged.keys() | writes.keys()
                    }
            self.class_attrs[cls] = merged
            if _state_shape(merged) != before:
                changed.add(f"<class {cls}>")
        return changed

    def function(self, qual: str, func: cst.FunctionDef) -> None:
        summary = FunctionSummary(params=[p.name.value for p in _positional_params(func.params)])
        self.current_class = self.classes.get(qual)
        self.deps[qual].add(MODULE)
        state: State = {k: v for k, v in self.module_state.items() if v}
        params = [p.name.value for p in _all_params(func.params)]
        for name in params:
            _store(state, name, {Param(qual, name): ()})
        if self.current_class is not None and params and params[0] == "self":
            self.deps[qual].add(f"<class {self.current_class}>")
            state.update(self.class_attrs.get(self.current_class, {}))
        self.current, self.current_name = summary, qual
        end = self.block(_body_of(func), state)
        for name in params:
            for key, value in end.items():
                if key.startswith(name + ".") and any(not isinstance(o, Param) for o in value):
                    summary.mutations.setdefault(name, {})[key[len(name) :]] = value
        if self.current_class is not None and params and params[0] == "self":
            writes: State = {}
            for key, value in end.items():
                real = concrete(value)
                if key.startswith("self.") and real:
                    writes[key] = real
            self.attr_writes[qual] = writes
        self.summaries[qual] = summary
        self.current, self.current_name = None, MODULE

    # -- statements ------------------------------------------------------------------------------

    def block(self, body: Sequence[cst.CSTNode], state: State) -> State:
        for stmt in body:
            state = self.statement(stmt, state)
        return state

    def statement(self, stmt: cst.CSTNode, state: State) -> State:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                state = self.small(small, state)
            return state
        if isinstance(stmt, cst.If):
            self.eval(stmt.test, state)
            then = self.block(_suite(stmt.body), dict(state))
            orelse = self.statement_or_block(stmt.orelse, dict(state))
            return _join(then, orelse)
        if isinstance(stmt, (cst.For, cst.While)):
            return self.loop(stmt, state)
        if isinstance(stmt, (cst.Try, cst.TryStar)):
            after_body = self.block(_suite(stmt.body), dict(state))
            merged = _join(state, after_body)
            ends = [after_body]
            for handler in stmt.handlers:
                ends.append(self.block(_suite(handler.body), dict(merged)))
            if stmt.orelse is not None:
                ends[0] = self.block(_suite(stmt.orelse.body), ends[0])
            out = ends[0]
            for e in ends[1:]:
                out = _join(out, e)
            if stmt.finalbody is not None:
                out = self.block(_suite(stmt.finalbody.body), out)
            return out
        if isinstance(stmt, cst.With):
            for item in stmt.items:
                value = self.eval(item.item, state)
                if item.asname is not None:
                    self.assign(item.asname.name, value, state)
            return self.block(_suite(stmt.body), state)
        if isinstance(stmt, cst.Match):
            self.eval(stmt.subject, state)
            out = dict(state)
            for case in stmt.cases:
                out = _join(out, self.block(_suite(case.body), dict(state)))
            return out
        if isinstance(stmt, cst.FunctionDef):
            self.defaults(stmt, state)
            _store(state, stmt.name.value, _CLEAN)
            return state
        if isinstance(stmt, cst.ClassDef):
            self.block(_suite(stmt.body), dict(state))
            _store(state, stmt.name.value, _CLEAN)
            return state
        return state

    def statement_or_block(self, node: cst.CSTNode | None, state: State) -> State:
        if node is None:
            return state
        if isinstance(node, cst.If):
            return self.statement(node, state)
        if isinstance(node, cst.Else):
            return self.block(_suite(node.body), state)
        return state

    def loop(self, stmt: cst.For | cst.While, state: State) -> State:
        entry = state
        current = dict(state)
        for _ in range(2):  # a second round lets values assigned late in the body reach its top
            if isinstance(stmt, cst.For):
                self.assign(stmt.target, self.eval(stmt.iter, current), current)
            else:
                self.eval(stmt.test, current)
            current = _join(entry, self.block(_suite(stmt.body), dict(current)))
        if stmt.orelse is not None:
            current = self.block(_suite(stmt.orelse.body), current)
        return current

    def small(self, small: cst.BaseSmallStatement, state: State) -> State:
        if isinstance(small, cst.Assign):
            value = small.value
            taint = self.eval(value, state)
            fields = self.fields(value, state)
            for target in small.targets:
                self.assign(target.target, taint, state, value, fields)
        elif isinstance(small, cst.AnnAssign):
            if small.value is not None:
                taint = self.eval(small.value, state)
                self.assign(
                    small.target, taint, state, small.value, self.fields(small.value, state)
                )
        elif isinstance(small, cst.AugAssign):
            combined = union(self.eval(small.target, state), self.eval(small.value, state))
            self.assign(small.target, combined, state)
        elif isinstance(small, cst.Return):
            if small.value is not None and self.current is not None:
                returned = self.eval(small.value, state)
                self.current.returns = union(self.current.returns, returned)
                for suffix, field_taint in self.fields(small.value, state).items():
                    known = self.current.fields.get(suffix, {})
                    self.current.fields[suffix] = union(known, field_taint)
        elif isinstance(small, cst.Expr):
            self.eval(small.value, state)
        elif isinstance(small, (cst.Raise, cst.Assert)):
            for child in children(small):
                if isinstance(child, cst.BaseExpression):
                    self.eval(child, state)
        return state

    def defaults(self, func: cst.FunctionDef, state: State) -> None:
        """Parameter defaults are evaluated where the function is defined."""
        for param in _all_params(func.params):
            if param.default is not None:
                taint = self.eval(param.default, state)
                if taint and self.is_sink_name(param.name.value):
                    self.hit(param, f"{param.name.value}=", taint)

    # -- assignment ------------------------------------------------------------------------------

    def assign(
        self,
        target: cst.BaseExpression,
        taint: Taint,
        state: State,
        value: cst.BaseExpression | None = None,
        fields: dict[str, Taint] | None = None,
    ) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(
                target.elements
            ):
                for t_el, v_el in zip(target.elements, value.elements, strict=True):
                    self.assign(t_el.value, self.eval(v_el.value, state), state, v_el.value)
            else:
                for el in target.elements:
                    self.assign(el.value, taint, state)
            return
        if isinstance(target, cst.StarredElement):
            self.assign(target.value, taint, state)
            return
        path = self.path(target, state)
        if path is None:
            if isinstance(target, cst.Subscript):  # `paths[i] = x`: the container now holds x
                base = dotted(target.value)
                if base is not None:
                    _store(state, base, union(_lookup(state, base), taint))
            return
        if taint and self.is_sink_name(path):
            self.hit(target, path, taint)
        _store(state, path, through(taint, path))
        for suffix, value_taint in (fields or {}).items():
            state[path + suffix] = through(value_taint, path + suffix)

    def path(self, expr: cst.BaseExpression, state: State) -> str | None:
        """Access path of a name, attribute chain or string-keyed subscript (`cfg["out"]` -> cfg.out)."""
        text = dotted(expr)
        if text is not None:
            return text
        if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
            index = expr.slice[0].slice
            if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
                base = self.path(expr.value, state)
                key = index.value.evaluated_value
                if base is not None and isinstance(key, str) and key.isidentifier():
                    return f"{base}.{key}"
        return None

    def fields(self, value: cst.BaseExpression, state: State) -> dict[str, Taint]:
        """Taints of the sub-paths the value carries: `a = args` copies `args.exp_name`."""
        text = dotted(value)
        if text is not None:
            prefix = text + "."
            return {k[len(text) :]: v for k, v in state.items() if k.startswith(prefix)}
        if isinstance(value, cst.Call):
            summary = self.local_summary(value)
            if summary is not None:
                return {
                    k: self.substitute(v, summary, value, state) for k, v in summary.fields.items()
                }
        return {}

    # -- expressions -----------------------------------------------------------------------------

    def eval(self, expr: cst.CSTNode, state: State) -> Taint:
        if isinstance(expr, cst.Call):
            return self.call(expr, state)
        path = self.path(expr, state) if isinstance(expr, cst.BaseExpression) else None
        if path is not None:
            if isinstance(expr, cst.Subscript):
                self.eval(expr.value, state)
            return _lookup(state, path)
        if isinstance(expr, cst.Attribute):
            return self.eval(expr.value, state)
        if isinstance(expr, cst.Subscript):
            for el in expr.slice:
                self.eval(el, state)
            return self.eval(expr.value, state)
        if isinstance(expr, cst.Comparison) or (
            isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not)
        ):
            self.children(expr, state)  # a bool: only calls inside matter
            return _CLEAN
        if isinstance(expr, cst.NamedExpr):
            taint = self.eval(expr.value, state)
            self.assign(expr.target, taint, state, expr.value)
            return taint
        if isinstance(expr, cst.Lambda):
            return self.eval(
                expr.body, dict(state)
            )  # a default_factory produces what its body does
        if isinstance(expr, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            inner = dict(state)
            self.comprehension(expr.for_in, inner)
            if isinstance(expr, cst.DictComp):
                return union(self.eval(expr.key, inner), self.eval(expr.value, inner))
            return self.eval(expr.elt, inner)
        if isinstance(expr, cst.Dict):
            values: Taint = {}
            for item in expr.elements:
                if isinstance(item, cst.DictElement):
                    self.eval(item.key, state)
                values = union(values, self.eval(item.value, state))
            return values
        if isinstance(expr, cst.IfExp):
            self.eval(expr.test, state)
            return union(self.eval(expr.body, state), self.eval(expr.orelse, state))
        return self.children(expr, state)

    def children(self, expr: cst.CSTNode, state: State) -> Taint:
        """Union over sub-expressions: f-strings, operators, containers, `await`, `*x`."""
        out: Taint = {}
        for child in _sub_expressions(expr):
            out = union(out, self.eval(child, state))
        return out

    def comprehension(self, comp: cst.CompFor, state: State) -> None:
        self.assign(comp.target, self.eval(comp.iter, state), state)
        for cond in comp.ifs:
            self.eval(cond.test, state)
        if comp.inner_for_in is not None:
            self.comprehension(comp.inner_for_in, state)

    def call(self, call: cst.Call, state: State) -> Taint:
        receiver: Taint = _CLEAN
        method = call.func.attr.value if isinstance(call.func, cst.Attribute) else None
        if isinstance(call.func, cst.Attribute):
            receiver = self.eval(call.func.value, state)
        elif not isinstance(call.func, cst.Name):
            self.eval(call.func, state)
        args = [self.eval(a.value, state) for a in call.args]
        for a, taint in zip(call.args, args, strict=True):
            if a.keyword is not None and taint and self.is_sink_name(a.keyword.value):
                callee = dotted(call.func) or "call"
                self.hit(a, f"{callee}({a.keyword.value}=...)", taint)
        qual = self.names.call_name(call)
        self.call_sinks(call, qual, method, receiver, args)
        self.setattr_call(call, qual, args, state)
        source = self.t.sources.get(call)
        if source is not None:
            return {source: ()}
        summary = self.local_summary(call)
        if summary is not None:
            return self.local_call(call, summary, state, args)
        if qual is not None and (qual in PROPAGATING_CALLS or qual.startswith("pathlib.")):
            return union(*args)
        if qual == "getattr" and len(call.args) >= 2:
            path = self.getattr_path(call, state)
            return _lookup(state, path) if path else args[0]
        if self.t.is_project_function(qual) and not qual.startswith(self.t.file.module_name + "."):
            assert qual is not None
            return {Extern(qual): ()}
        if method in RECEIVER_METHODS:
            return union(receiver, *args) if method in ARGUMENT_METHODS else receiver
        return _CLEAN

    def call_sinks(
        self,
        call: cst.Call,
        qual: str | None,
        method: str | None,
        receiver: Taint,
        args: list[Taint],
    ) -> None:
        spec = self.t.sink_functions.get(qual) if qual else None
        name = qual
        if (
            spec is None
            and method is not None
            and (qual is None or qual.rsplit(".", 1)[-1] == method)
        ):
            spec = self.t.sink_methods.get(method)
            name = f".{method}"
        if spec is None:
            return
        index, keywords = spec
        if index == -1:
            taint, arg_node = (
                receiver,
                call.func.value if isinstance(call.func, cst.Attribute) else None,
            )
        else:
            taint, arg_node = _CLEAN, None
            positional = [i for i, a in enumerate(call.args) if a.keyword is None and a.star == ""]
            for i, a in enumerate(call.args):
                by_position = i in positional and positional.index(i) == index
                by_keyword = a.keyword is not None and (a.keyword.value in keywords or not keywords)
                if (by_position or by_keyword) and args[i]:
                    taint, arg_node = args[i], a.value
                    break
        if not taint:
            return
        if name in _DIR_CREATORS and self.log_or_temp_dir(arg_node, taint):
            return
        shown = dotted(call.func) or (f"{method}" if method else "call")
        self.hit(call, f"{shown}(...)", taint)

    def is_sink_name(self, path: str) -> bool:
        return path.rsplit(".", 1)[-1].lower() in self.t.sink_names

    def log_or_temp_dir(self, arg: cst.CSTNode | None, taint: Taint) -> bool:
        """A directory named like logs (`logging_dir`, `"tb_logs"`, `runs/...`) or made in a
        scope that works in the temp dir (`tempfile.gettempdir()`): not a checkpoint."""
        if self.current_name in self.t.temp_scopes:
            return True
        words = [via[-1] for via in taint.values() if via]
        stack = [arg] if arg is not None else []
        while stack:
            node = stack.pop()
            text = dotted(node) if isinstance(node, cst.BaseExpression) else None
            if text is not None:
                words.append(text)
            elif isinstance(node, cst.SimpleString):
                words.append(str(node.evaluated_value))
            elif isinstance(node, cst.FormattedStringText):
                words.append(node.value)
            elif isinstance(node, cst.Call):
                stack.extend(a.value for a in node.args)
            elif isinstance(node, cst.FormattedString):
                stack.extend(node.parts)
            else:
                stack.extend(_sub_expressions(node))
        leaves = (part for w in words for part in re.split(r"[/\\.\s-]+", w))
        return any(_NOT_CHECKPOINT_DIR.search(leaf) for leaf in leaves if leaf)

    def setattr_call(
        self, call: cst.Call, qual: str | None, args: list[Taint], state: State
    ) -> None:
        if qual == "setattr" and len(call.args) == 3:
            path = self.getattr_path(call, state)
            if path is not None:
                if args[2] and self.is_sink_name(path):
                    self.hit(call, path, args[2])
                _store(state, path, through(args[2], path))

    def getattr_path(self, call: cst.Call, state: State) -> str | None:
        base = self.path(call.args[0].value, state)
        key = call.args[1].value
        if base is None or not isinstance(key, cst.SimpleString):
            return None
        name = key.evaluated_value
        return f"{base}.{name}" if isinstance(name, str) and name.isidentifier() else None

    # -- calls of this file's functions ----------------------------------------------------------

    def local_summary(self, call: cst.Call) -> FunctionSummary | None:
        qual = self.resolve_local(call)
        if qual is None:
            return None
        self.deps[self.current_name].add(qual)
        return self.summaries.get(qual)

    def resolve_local(self, call: cst.Call) -> str | None:
        qual = self.names.call_name(call)
        if qual in self.t.functions:
            return qual
        text = dotted(call.func)
        if text is None:
            return None
        if text.startswith("self.") and text.count(".") == 1 and self.current_class is not None:
            cls_qual = f"{self.t.file.module_name}.{self.current_class}.{text[5:]}"
            return cls_qual if cls_qual in self.t.functions else None
        if qual is None and "." not in text:  # a nested function called by its bare name
            scope = self.current_name
            while scope:
                candidate = f"{scope}.{text}"
                if candidate in self.t.functions:
                    return candidate
                scope = scope.rpartition(".")[0]
        return None

    def bind(self, call: cst.Call, summary: FunctionSummary) -> dict[str, int]:
        """Parameter name -> index into call.args."""
        params = summary.params
        offset = (
            1
            if params and params[0] in ("self", "cls") and isinstance(call.func, cst.Attribute)
            else 0
        )
        bound: dict[str, int] = {}
        position = offset
        for i, a in enumerate(call.args):
            if a.star:
                continue
            if a.keyword is not None:
                bound[a.keyword.value] = i
            elif position < len(params):
                bound[params[position]] = i
                position += 1
        return bound

    def substitute(
        self, taint: Taint, summary: FunctionSummary, call: cst.Call, state: State
    ) -> Taint:
        """The callee's result taint with its parameters replaced by the caller's arguments."""
        bound = self.bind(call, summary)
        out: Taint = {}
        for origin, via in taint.items():
            if isinstance(origin, Param):
                index = bound.get(origin.name)
                if index is not None:
                    out = union(out, self.eval_quiet(call.args[index].value, state))
            else:
                out = union(out, {origin: via})
        return out

    def eval_quiet(self, expr: cst.BaseExpression, state: State) -> Taint:
        path = self.path(expr, state)
        if path is not None:
            return _lookup(state, path)
        hits, extern = self.hits[self.current_name], self.extern_hits[self.current_name]
        n_hits, n_extern = len(hits), len(extern)
        taint = self.eval(expr, state)
        del hits[n_hits:], extern[n_extern:]
        return taint

    def local_call(
        self, call: cst.Call, summary: FunctionSummary, state: State, args: list[Taint]
    ) -> Taint:
        bound = self.bind(call, summary)
        callee = dotted(call.func) or "call"
        for param, hits in summary.param_sinks.items():
            index = bound.get(param)
            if index is not None and args[index]:
                for hit in hits:
                    self.hit(hit.node, hit.text, through(args[index], f"{callee}()"), callee)
        for param, mutations in summary.mutations.items():
            index = bound.get(param)
            base = self.path(call.args[index].value, state) if index is not None else None
            if base is not None:
                for suffix, taint in mutations.items():
                    state[base + suffix] = union(_lookup(state, base + suffix), concrete(taint))
        return self.substitute(summary.returns, summary, call, state)

    # -- recording -------------------------------------------------------------------------------

    def hit(
        self, node: cst.CSTNode, text: str, taint: Taint, through_call: str | None = None
    ) -> None:
        real = concrete(taint)
        if self.current is not None:
            for origin in taint:
                if isinstance(origin, Param) and origin.function == self.current_name:
                    hits = self.current.param_sinks.setdefault(origin.name, [])
                    if all(h.node is not node for h in hits):
                        hits.append(SinkHit(node, text, {}, through_call))
        if not real:
            return
        hit = SinkHit(node, text, real, through_call)
        if any(isinstance(o, Source) for o in real):
            self.hits[self.current_name].append(hit)
        if any(isinstance(o, Extern) for o in real):
            self.extern_hits[self.current_name].append(hit)


# ---- project phase -----------------------------------------------------------------------------


class TaintProject(ProjectAnalysis):
    """Cross-module: which functions return a source's value, and where those values land."""

    def __init__(self, files: dict[str, FileFacts], options: dict[str, Any]) -> None:
        super().__init__(files, options)
        by_module = {f.module_name: f for f in files.values()}
        self._imports = {m: (f.get("names") or {}).get("imports", {}) for m, f in by_module.items()}
        # function qualname -> {(path, source index)}
        origins: dict[str, set[tuple[str, int]]] = {}
        depends: dict[str, set[str]] = {}
        for facts in files.values():
            summary = facts.get("taint") or {}
            for qual, ret in summary.get("returns", {}).items():
                origins.setdefault(qual, set()).update((facts.path, i) for i in ret["sources"])
                depends.setdefault(qual, set()).update(self.canonical(q) for q in ret["externs"])
        changed = True
        while changed:  # a function returning another module's tainted return is tainted too
            changed = False
            for qual, deps in depends.items():
                for dep in deps:
                    extra = origins.get(dep, set()) - origins.get(qual, set())
                    if extra:
                        origins.setdefault(qual, set()).update(extra)
                        changed = True
        self.origins = origins
        self._remote: dict[tuple[str, int], list[RemoteSink]] = {}
        for facts in sorted(files.values(), key=lambda f: f.path):
            for qual, text, line, column, via in (facts.get("taint") or {}).get("extern_sinks", []):
                for origin in sorted(origins.get(self.canonical(qual), ())):
                    sink = RemoteSink(facts.path, line, column, text, tuple(via))
                    self._remote.setdefault(origin, []).append(sink)

    def canonical(self, qual: str) -> str:
        """Follow re-exports: `pkg.make_name` imported in pkg/__init__.py from `pkg.naming`."""
        for _ in range(8):
            module, _, name = qual.rpartition(".")
            target = self._imports.get(module, {}).get(name)
            if target is None or target == qual:
                return qual
            qual = target
        return qual

    def remote_sinks(self, path: str, index: int) -> list[RemoteSink]:
        return self._remote.get((path, index), [])

    def tainted_returns(self) -> dict[str, set[tuple[str, int]]]:
        return {q: o for q, o in self.origins.items() if o}


# ---- small helpers -----------------------------------------------------------------------------


def with_extra_words(base: TextFilter | None, extra: Iterable[object]) -> TextFilter | None:
    """`base` widened by the last part of each configured extra source or sink (`a.b.now` ->
    `now`): a file calling one must reach the analysis (and CKP001) too."""
    names = [str(w).removesuffix(".*").rsplit(".", 1)[-1] for w in extra]
    names = [n.lstrip(".") for n in names if n.lstrip(".")]
    if base is None or not names:
        return base
    return base | words(*names, before=b"")


def _sub_expressions(expr: cst.CSTNode) -> Sequence[cst.CSTNode]:
    """Direct sub-expressions, without LibCST's `children` (which re-visits the node)."""
    if isinstance(expr, (cst.Name, cst.BaseNumber, cst.SimpleString, cst.Ellipsis)):
        return ()
    if isinstance(expr, (cst.BinaryOperation, cst.BooleanOperation, cst.ConcatenatedString)):
        return (expr.left, expr.right)
    if isinstance(expr, cst.FormattedString):
        return [p.expression for p in expr.parts if isinstance(p, cst.FormattedStringExpression)]
    if isinstance(expr, cst.FormattedStringExpression):
        return (expr.expression,)
    if isinstance(expr, (cst.Tuple, cst.List, cst.Set)):
        return [el.value for el in expr.elements]
    if isinstance(expr, (cst.Await, cst.UnaryOperation)):
        return (expr.expression,)
    if isinstance(expr, (cst.StarredElement, cst.Element, cst.Index)):
        return (expr.value,)
    if isinstance(expr, cst.Comparison):
        return [expr.left, *(c.comparator for c in expr.comparisons)]
    if isinstance(expr, (cst.Yield, cst.From)):
        value = expr.value if isinstance(expr, cst.Yield) else expr.item
        return (value,) if isinstance(value, cst.BaseExpression) else ()
    if isinstance(expr, cst.Slice):
        return [x for x in (expr.lower, expr.upper, expr.step) if x is not None]
    if isinstance(expr, cst.SubscriptElement):
        return (expr.slice,)
    return [c for c in children(expr) if isinstance(c, _VALUE_NODES)]


def _matches(qual: str, patterns: Iterable[str]) -> bool:
    return any(p == qual or (p.endswith(".*") and qual.startswith(p[:-1])) for p in patterns)


def _suite(body: cst.BaseSuite) -> Sequence[cst.CSTNode]:
    inner = body.body
    if isinstance(inner, (list, tuple)):
        return inner
    return [inner]  # type: ignore[list-item]


def _body_of(func: cst.FunctionDef) -> Sequence[cst.CSTNode]:
    return _suite(func.body)


def _all_params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg


def _positional_params(params: cst.Parameters) -> list[cst.Param]:
    return [*params.posonly_params, *params.params]


def _statements_in(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    from ckpt_lint.analysis.names import iter_statements

    body = node.body if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else node
    yield from iter_statements(body)  # type: ignore[arg-type]
