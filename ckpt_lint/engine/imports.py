"""Adding `from module import name` to a file the way isort/ruff would place it.

The new import goes into its section (future, stdlib, third-party, first-party, local), in
alphabetical order among that section's `from` imports; a missing section is opened with a
blank line. An existing `from module import ...` on one line is extended instead.
"""

from __future__ import annotations

import sys
from typing import Any

import libcst as cst

from ckpt_lint.analysis.names import Names, dotted
from ckpt_lint.model import Edit, Position

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, LOCAL = range(5)
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ()))


def section_of(module: str, relative: bool, first_party: set[str]) -> int:
    top = module.split(".")[0]
    if relative:
        return LOCAL
    if top == "__future__":
        return FUTURE
    if top in _STDLIB:
        return STDLIB
    return FIRST_PARTY if top in first_party else THIRD_PARTY


def _is_import_line(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in stmt.body
    )


def _key(stmt: cst.SimpleStatementLine, first_party: set[str]) -> tuple[int, int, str]:
    small = stmt.body[0]
    if isinstance(small, cst.ImportFrom):
        module = (dotted(small.module) if small.module is not None else "") or ""
        return section_of(module, bool(small.relative), first_party), 1, module.lower()
    assert isinstance(small, cst.Import)
    module = dotted(small.names[0].name) or ""
    return section_of(module, False, first_party), 0, module.lower()


def add_import(
    parsed: Any, names: Names, module: str, name: str, first_party: set[str]
) -> tuple[str, list[Edit]]:
    """(local name to use, edits) making `name` from `module` available in the file."""
    target = f"{module}.{name}"
    for local, qual in names.imports.items():
        if qual == target:
            return local, []
    body = list(parsed.module.body)
    start = 1 if body and _is_docstring(body[0]) else 0
    block: list[cst.SimpleStatementLine] = []
    for stmt in body[start:]:
        if not _is_import_line(stmt):
            break
        assert isinstance(stmt, cst.SimpleStatementLine)
        block.append(stmt)
        extended = _extend(parsed, stmt, module, name)
        if extended is not None:
            return name, [extended]
    newline = parsed.source.newline
    line = f"from {module} import {name}{newline}"
    if not block:
        anchor = body[0] if start else None
        if anchor is None:
            at = Position(len(parsed.module.header) + 1, 1)  # below shebang, cookie, comments
            return name, [Edit(at, at, line)]
        return name, [_after(parsed, anchor, newline + line)]
    ours = (section_of(module, False, first_party), 1, module.lower())
    same = [s for s in block if _key(s, first_party)[0] == ours[0]]
    if same:
        before = [s for s in same if _key(s, first_party) <= ours]
        if before:
            return name, [_after(parsed, before[-1], line)]
        at = Position(parsed.start(same[0]).line, 1)
        return name, [Edit(at, at, line)]
    earlier = [s for s in block if _key(s, first_party)[0] < ours[0]]
    if earlier:
        return name, [_after(parsed, earlier[-1], newline + line)]
    at = Position(parsed.start(block[0]).line, 1)
    return name, [Edit(at, at, line + newline)]


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    )


def _after(parsed: Any, stmt: cst.CSTNode, content: str) -> Edit:
    """Insert `content` on the line after `stmt` (or at the end of a file without newline)."""
    end = parsed.end(stmt)
    text = parsed.source.text
    if not text.endswith(("\n", "\r")) and end.line >= text.count("\n") + 1:
        nl = parsed.source.newline
        return Edit(end, end, nl + content.removesuffix(nl))
    at = Position(end.line + 1, 1)
    return Edit(at, at, content)


def _extend(parsed: Any, stmt: cst.SimpleStatementLine, module: str, name: str) -> Edit | None:
    for small in stmt.body:
        if (
            isinstance(small, cst.ImportFrom)
            and not small.relative
            and small.module is not None
            and dotted(small.module) == module
            and not isinstance(small.names, cst.ImportStar)
            and small.lpar is None
        ):
            new_names = [
                *[a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in small.names],
                cst.ImportAlias(name=cst.Name(name)),
            ]
            existing = [dotted(a.name) or "" for a in small.names]
            if existing == sorted(existing):  # keep a sorted list sorted, as isort would
                new_names.sort(key=lambda a: dotted(a.name) or "")
            return parsed.replace(small, small.with_changes(names=new_names))
    return None


def _referenced_names(module: cst.Module) -> dict[str, int]:
    """How often each bare name is used outside import statements (attribute heads included)."""
    from ckpt_lint.analysis.structure import children

    counts: dict[str, int] = {}
    stack: list[cst.CSTNode] = [module]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Import, cst.ImportFrom)):
            continue
        if type(node) is cst.Name:
            counts[node.value] = counts.get(node.value, 0) + 1
        elif isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            # names listed in __all__ or string annotations count as uses
            for word in _words(node):
                counts[word] = counts.get(word, 0) + 1
        stack.extend(children(node))
    return counts


def _words(node: cst.CSTNode) -> list[str]:
    import re

    code = cst.Module(body=[]).code_for_node(node)
    return re.findall(r"[A-Za-z_]\w*", code)


def prune_unused_imports(before: str, after: str, path: str) -> str:
    """Drop top-level imports that `after` no longer uses but `before` did: the ones a fix made
    unused (a file's other unused imports are not ours to touch). Package `__init__` files keep
    theirs: there an import can be a re-export."""
    if path.replace("\\", "/").endswith("__init__.py"):
        return after
    try:
        old, new = cst.parse_module(before), cst.parse_module(after)
    except Exception:
        return after
    used_before, used_after = _referenced_names(old), _referenced_names(new)
    stale = {n for n, c in used_before.items() if c and not used_after.get(n)}
    if not stale:
        return after

    def local(alias: cst.ImportAlias) -> str:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            return alias.asname.name.value
        return (dotted(alias.name) or "").split(".")[0]

    body: list[cst.BaseStatement] = []
    changed = False
    orphans: list[cst.EmptyLine] = []  # comments above a dropped import move to the next line
    for stmt in new.body:
        if orphans and isinstance(stmt, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            stmt = stmt.with_changes(leading_lines=[*orphans, *stmt.leading_lines])
            orphans = []
        if _is_import_line(stmt):
            assert isinstance(stmt, cst.SimpleStatementLine)
            smalls: list[cst.BaseSmallStatement] = []
            for small in stmt.body:
                names = small.names if isinstance(small, (cst.Import, cst.ImportFrom)) else None
                if isinstance(names, (list, tuple)):
                    keep = [a for a in names if local(a) not in stale]
                    if len(keep) != len(names):
                        changed = True
                        if not keep:
                            continue
                        keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
                        small = small.with_changes(names=keep)
                smalls.append(small)
            if not smalls:
                orphans = [line for line in stmt.leading_lines if line.comment is not None]
                continue
            last = smalls[-1].with_changes(semicolon=cst.MaybeSentinel.DEFAULT)
            stmt = stmt.with_changes(body=[*smalls[:-1], last])
        body.append(stmt)
    if changed and body and body[0] is not new.body[0]:
        # what was the first statement is gone: the new first one starts the file, no blank lines
        first = body[0]
        if isinstance(first, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            kept = [line for line in first.leading_lines if line.comment is not None]
            body[0] = first.with_changes(leading_lines=kept)
    return new.with_changes(body=body).code if changed else after
