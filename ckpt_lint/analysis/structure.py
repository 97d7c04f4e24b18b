"""Parent links and enclosing definitions, from one cheap visitor (no ParentNodeProvider)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import libcst as cst

from ckpt_lint.analysis import Analysis

# fields that only hold whitespace, brackets and punctuation: never worth a parent link
_SKIPPED_FIELDS = ("whitespace", "lpar", "rpar", "leading_lines", "lines_after_decorators")
_SKIPPED_NAMES = {"header", "footer", "comma", "semicolon", "equal", "dot", "colon"}
_LEAVES = (
    cst.BaseParenthesizableWhitespace,
    cst.EmptyLine,
    cst.TrailingWhitespace,
    cst.Newline,
    cst.Comment,
)
# where dataclass field order differs from source order (LibCST's visiting order)
_SOURCE_ORDER: dict[type, tuple[str, ...]] = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields(cls: type) -> tuple[str, ...]:
    found = _FIELDS.get(cls)
    if found is None:
        found = _SOURCE_ORDER.get(cls) or tuple(
            f.name
            for f in dataclasses.fields(cls)
            if not f.name.startswith(_SKIPPED_FIELDS) and f.name not in _SKIPPED_NAMES
        )
        _FIELDS[cls] = found
    return found


_WANTED: dict[type, bool] = {}


def _wanted(cls: type) -> bool:
    """A node type worth a parent link (isinstance on LibCST's ABCs is slow: decide per type)."""
    found = _WANTED.get(cls)
    if found is None:
        found = issubclass(cls, cst.CSTNode) and not issubclass(cls, _LEAVES)
        _WANTED[cls] = found
    return found


def children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """Child nodes in source order, without whitespace and punctuation; a cheap `node.children`."""
    out: list[cst.CSTNode] = []
    for name in _fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is tuple or type(value) is list:
            out.extend(c for c in value if _wanted(type(c)))
        elif _wanted(type(value)):
            out.append(value)  # type: ignore[arg-type]
    return out


def walk(module: cst.Module) -> tuple[dict[cst.CSTNode, cst.CSTNode], list, list]:
    """Parent links, calls and function definitions in source order, in one pass.

    Reads dataclass fields directly instead of LibCST's visitor, which rebuilds every node's
    children on the way and costs about twice a parse.
    """
    parents: dict[cst.CSTNode, cst.CSTNode] = {}
    calls: list[cst.Call] = []
    functions: list[cst.FunctionDef] = []
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is cst.Call:
            calls.append(node)  # type: ignore[arg-type]
        elif kind is cst.FunctionDef:
            functions.append(node)  # type: ignore[arg-type]
        kids = children(node)
        for child in kids:
            parents[child] = node
        kids.reverse()
        stack.extend(kids)
    return parents, calls, functions


class Structure(Analysis):
    """Who contains whom: parents, enclosing statement/function/class, function qualnames."""

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.parents, self.calls, self.functions = walk(file.module)
        # self.calls: every call in source order, for rules to filter
        self._qualnames: dict[cst.FunctionDef, str] = {}

    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parents.get(node)
        while current is not None:
            yield current
            current = self.parents.get(current)

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for anc in self.ancestors(node):
            if isinstance(anc, cst.FunctionDef):
                return anc
        return None

    def enclosing_class(self, node: cst.CSTNode) -> cst.ClassDef | None:
        for anc in self.ancestors(node):
            if isinstance(anc, cst.ClassDef):
                return anc
            if isinstance(anc, cst.FunctionDef) and anc is not node:
                continue
        return None

    def enclosing_statement(self, node: cst.CSTNode) -> cst.CSTNode:
        """The innermost statement (small or compound) containing `node`."""
        current: cst.CSTNode | None = node
        while current is not None:
            if isinstance(current, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return current
            current = self.parents.get(current)
        return node

    def qualname(self, func: cst.FunctionDef) -> str:
        """`module.Class.method` / `module.outer.inner` for a function definition."""
        cached = self._qualnames.get(func)
        if cached is not None:
            return cached
        parts = [func.name.value]
        for anc in self.ancestors(func):
            if isinstance(anc, (cst.FunctionDef, cst.ClassDef)):
                parts.append(anc.name.value)
        name = ".".join([self.file.module_name, *reversed(parts)])
        self._qualnames[func] = name
        return name
