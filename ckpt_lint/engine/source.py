"""One source file: bytes on disk <-> text <-> LibCST module, keeping encoding and newlines."""

from __future__ import annotations

import codecs
import io
import re
import tokenize
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from ckpt_lint.model import Edit, Position

_NEWLINE = re.compile(r"\r\n|\r|\n")


class SourceError(Exception):
    """A file that cannot be read, decoded or parsed; becomes a CKP900 diagnostic."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass
class SourceText:
    """Decoded text plus what is needed to write it back byte-for-byte the same way."""

    text: str
    encoding: str = "utf-8"
    bom: bool = False

    @classmethod
    def decode(cls, data: bytes) -> SourceText:
        if b"\x00" in data:
            raise SourceError("binary file (contains NUL bytes)")
        try:
            encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        except SyntaxError as exc:
            if "invalid or missing" in str(exc):  # tokenize's wording when line 1-2 isn't UTF-8
                raise SourceError("not UTF-8 and no PEP 263 encoding declaration") from None
            raise SourceError(f"bad encoding declaration: {exc}") from None
        bom = data.startswith(codecs.BOM_UTF8)
        if bom:
            data = data[len(codecs.BOM_UTF8) :]
            encoding = "utf-8"
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            raise SourceError(f"cannot decode as {encoding}: {exc}", line, column) from None
        except LookupError as exc:
            raise SourceError(f"cannot decode as {encoding}: {exc}") from None
        return cls(text=text, encoding=encoding, bom=bom)

    def encode(self, text: str | None = None) -> bytes:
        body = (self.text if text is None else text).encode(self.encoding)
        return (codecs.BOM_UTF8 + body) if self.bom else body

    @property
    def newline(self) -> str:
        match = _NEWLINE.search(self.text)
        return match.group(0) if match else "\n"


def parse(text: str) -> cst.Module:
    """Parse with LibCST; every way it can fail becomes a SourceError."""
    try:
        return cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        raise SourceError(
            f"syntax error: {exc.message}", exc.raw_line, exc.raw_column + 1
        ) from None
    except RecursionError:
        raise SourceError("too deeply nested for the parser (RecursionError)") from None
    except Exception as exc:  # LibCST raises assorted internal errors on odd input
        raise SourceError(f"parser failure: {type(exc).__name__}: {exc}") from None


@dataclass
class ParsedFile:
    """A parsed file plus lazily computed positions; shared by every analysis and rule."""

    path: str
    source: SourceText
    module: cst.Module
    _positions: Any = field(default=None, repr=False)

    @classmethod
    def from_bytes(cls, path: str, data: bytes) -> ParsedFile:
        source = SourceText.decode(data)
        return cls(path=path, source=source, module=parse(source.text))

    def range(self, node: cst.CSTNode) -> CodeRange:
        """Position of a node; computed for the whole file the first time a finding needs one."""
        if self._positions is None:
            try:
                wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
                self._positions = wrapper.resolve(PositionProvider)
            except RecursionError:
                raise SourceError("too deeply nested to compute positions") from None
        return self._positions[node]

    def start(self, node: cst.CSTNode) -> Position:
        r = self.range(node)
        return Position(r.start.line, r.start.column + 1)

    def end(self, node: cst.CSTNode) -> Position:
        r = self.range(node)
        return Position(r.end.line, r.end.column + 1)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    def replace(self, node: cst.CSTNode, new: cst.CSTNode | str) -> Edit:
        """An edit that swaps `node` for `new` (a node or literal code)."""
        content = new if isinstance(new, str) else self.module.code_for_node(new)
        return Edit(self.start(node), self.end(node), content)


def line_offsets(text: str) -> list[int]:
    """Offset of the start of each line (index 0 is line 1)."""
    offsets = [0]
    offsets.extend(m.end() for m in _NEWLINE.finditer(text))
    return offsets


def apply_edits(text: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits; raises ValueError on overlap."""
    offsets = line_offsets(text)

    def offset(p: Position) -> int:
        return offsets[p.line - 1] + p.column - 1

    spans = sorted(((offset(e.start), offset(e.end), e.content) for e in edits), reverse=True)
    out = text
    last_start = len(text) + 1
    for start, end, content in spans:
        if end > last_start:
            raise ValueError("overlapping edits")
        out = out[:start] + content + out[end:]
        last_start = start
    return out
