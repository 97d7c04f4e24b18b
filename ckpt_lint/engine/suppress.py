"""`# noqa`, `# noqa: CKP001,CKP002` and file-level `# ckpt-lint: skip-file`."""

from __future__ import annotations

import io
import re
import tokenize

# flake8's grammar: codes after "noqa:" separated by commas and/or whitespace
_NOQA = re.compile(
    r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE
)
SKIP_FILE = re.compile(rb"^[ \t]*#[ \t]*ckpt-lint:[ \t]*skip-file[ \t]*$", re.MULTILINE)

ALL = frozenset({"*"})


def noqa_lines(text: str) -> dict[int, frozenset[str]]:
    """Line -> codes suppressed there (`ALL` for a bare noqa). Only real comments count."""
    out: dict[int, frozenset[str]] = {}
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        tokens = []
        for number, raw in enumerate(text.splitlines(), 1):
            if "#" in raw:
                tokens.append(
                    tokenize.TokenInfo(
                        tokenize.COMMENT, raw[raw.index("#") :], (number, 0), (number, 0), raw
                    )
                )
    for tok in tokens:
        if tok.type != tokenize.COMMENT:
            continue
        match = _NOQA.search(tok.string)
        if not match:
            continue
        listed: str | None = match.group("codes")
        line: int = tok.start[0]
        if listed:
            parsed = frozenset(c.upper() for c in re.split(r"[,\s]+", listed) if c)
            out[line] = out.get(line, frozenset()) | parsed
        else:
            out[line] = ALL
    return out


def is_suppressed(code: str, line: int, noqa: dict[int, frozenset[str]]) -> bool:
    codes = noqa.get(line)
    if codes is None:
        return False
    return codes is ALL or "*" in codes or any(code.startswith(c) for c in codes)


def skips_file(data: bytes) -> bool:
    return SKIP_FILE.search(data) is not None
