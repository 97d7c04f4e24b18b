"""Imports, aliases and definitions -> qualified names, without LibCST's scope metadata.

`import time as t` makes `t.time` resolve to `time.time`; `from datetime import datetime as dt`
makes `dt.now` resolve to `datetime.datetime.now`; relative imports resolve against the module's
own dotted name. Flow-insensitive: an import anywhere in the file (function bodies, try/except)
counts, which is what conditional imports in training scripts need.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator

import libcst as cst

from ckpt_lint.analysis import Analysis

_BUILTINS = frozenset(dir(builtins))


def iter_statements(body: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every statement below `body` (compound and small), without visiting expressions."""
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Module):
            stack.extend(reversed(node.body))
            continue
        yield node
        if isinstance(node, cst.SimpleStatementLine):
            yield from node.body
            continue
        children: list[cst.CSTNode] = []
        for attr in ("body", "orelse", "finalbody", "handlers", "cases"):
            child = getattr(node, attr, None)
            if child is None:
                continue
            if isinstance(child, (list, tuple)):
                children.extend(child)
            elif isinstance(child, cst.BaseSuite):
                children.extend(child.body)
            else:
                children.append(child)
        stack.extend(reversed(children))


def dotted(expr: cst.BaseExpression) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None (calls, subscripts...)."""
    parts: list[str] = []
    node: cst.BaseExpression = expr
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if not isinstance(node, cst.Name):
        return None
    parts.append(node.value)
    return ".".join(reversed(parts))


def module_of(path_parts: list[str]) -> str:
    return ".".join(p for p in path_parts if p)


class Names(Analysis):
    """Local name -> fully qualified name for imports and this module's own definitions."""

    summary_key = "names"

    def __init__(self, file) -> None:  # type: ignore[no-untyped-def]
        super().__init__(file)
        self.module_name: str = file.module_name
        self.is_package = file.parsed.path.replace("\\", "/").endswith("__init__.py")
        self.imports: dict[str, str] = {}
        self.definitions: dict[str, str] = {}
        self.imported_modules: set[str] = set()
        for stmt in iter_statements(file.module):
            if isinstance(stmt, cst.Import):
                self._import(stmt)
            elif isinstance(stmt, cst.ImportFrom):
                self._import_from(stmt)
        for stmt in file.module.body:
            if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
                self.definitions[stmt.name.value] = f"{self.module_name}.{stmt.name.value}"

    def _import(self, stmt: cst.Import) -> None:
        for alias in stmt.names:
            full = dotted(alias.name)  # type: ignore[arg-type]
            if full is None:
                continue
            self.imported_modules.add(full)
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.imports[alias.asname.name.value] = full
            else:
                head = full.split(".")[0]
                self.imports[head] = head

    def _import_from(self, stmt: cst.ImportFrom) -> None:
        base = self.resolve_relative(stmt)
        if base is None:
            return
        self.imported_modules.add(base)
        if isinstance(stmt.names, cst.ImportStar):
            return
        for alias in stmt.names:
            name = dotted(alias.name)  # type: ignore[arg-type]
            if name is None:
                continue
            local = name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                local = alias.asname.name.value
            self.imports[local] = f"{base}.{name}"

    def resolve_relative(self, stmt: cst.ImportFrom) -> str | None:
        module = dotted(stmt.module) if stmt.module is not None else ""
        if module is None:
            return None
        level = len(stmt.relative)
        if level == 0:
            return module
        parts = self.module_name.split(".")
        if not self.is_package:
            parts = parts[:-1]
        if level > 1:
            parts = parts[: len(parts) - (level - 1)]
        return ".".join([*parts, module] if module else parts)

    def qualname(self, expr: cst.BaseExpression) -> str | None:
        """Fully qualified dotted name of a Name/Attribute chain, resolving imports and defs."""
        text = dotted(expr)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        base = self.imports.get(head) or self.definitions.get(head)
        if base is None:
            if head in _BUILTINS:
                base = head
            else:
                return None
        return f"{base}.{rest}" if rest else base

    def call_name(self, call: cst.Call) -> str | None:
        return self.qualname(call.func)

    def uses_any(self, prefixes: tuple[str, ...]) -> bool:
        """Whether the module imports any module under one of `prefixes`."""
        return any(m == p or m.startswith(p + ".") for m in self.imported_modules for p in prefixes)

    def summary(self) -> dict:
        return {"imports": dict(self.imports), "definitions": dict(self.definitions)}
