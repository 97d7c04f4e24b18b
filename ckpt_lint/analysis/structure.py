"""Parent links and enclosing definitions, from one cheap visitor (no ParentNodeProvider)."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from ckpt_lint.analysis import Analysis


class _ParentCollector(cst.CSTVisitor):
    def __init__(self) -> None:
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self.stack: list[cst.CSTNode] = []
        self.functions: list[cst.FunctionDef] = []
        self.calls: list[cst.Call] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.parents[node] = self.stack[-1]
        self.stack.append(node)
        if isinstance(node, cst.Call):
            self.calls.append(node)
        elif isinstance(node, cst.FunctionDef):
            self.functions.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


class Structure(Analysis):
    """Who contains whom: parents, enclosing statement/function/class, function qualnames."""

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        collector = _ParentCollector()
        file.module.visit(collector)
        self.parents = collector.parents
        self.functions = collector.functions
        self.calls = collector.calls  # every call in source order, for rules to filter
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
