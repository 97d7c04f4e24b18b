"""Result cache in `.ckpt_lint_cache/`: per-file facts and results keyed by content hash.

One pickle per effective configuration (tool source, rules, options), loaded once and replaced
atomically at the end of a run, so concurrent runs never see a torn file (last writer wins).
- path -> (mtime_ns, size, sha256): a file whose mtime and size are unchanged is not re-read.
- sha256 -> phase-1 record (facts, error, candidate, and the import table caller scans ask).
- (sha256, project digest) -> phase-2 result (False: the project facts said no rule may fire
  there). The project digest covers every parsed file's hash, so a change to a caller in
  another file invalidates the results that depend on it.
A run that computed nothing new leaves the file untouched (a warm run only reads it).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tool_digest() -> str:
    """Hash of ckpt_lint's own source: a changed rule invalidates results even at one version."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256(str(FORMAT).encode())
    for path in sorted(root.rglob("*.py")):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@dataclass
class CacheData:
    stats: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    phase1: dict[str, Any] = field(default_factory=dict)
    phase2: dict[tuple[str, str], Any] = field(default_factory=dict)


class Cache:
    def __init__(self, directory: Path | None, settings_digest: str) -> None:
        self.directory = directory
        self.file = directory / f"{settings_digest[:24]}.pickle" if directory else None
        self.old = self._load()
        self.new = CacheData()

    @property
    def enabled(self) -> bool:
        return self.file is not None

    def _load(self) -> CacheData:
        if self.file is None:
            return CacheData()
        try:
            with open(self.file, "rb") as handle:
                data = pickle.load(handle)
            if isinstance(data, CacheData):
                return data
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
            pass  # a missing or unreadable cache is an empty one
        return CacheData()

    def known_hash(self, path: str, st: os.stat_result) -> str | None:
        entry = self.old.stats.get(path)
        if entry and entry[0] == st.st_mtime_ns and entry[1] == st.st_size:
            return entry[2]
        return None

    def save(self) -> None:
        if self.file is None or self.directory is None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            tag = self.directory / "CACHEDIR.TAG"
            if not tag.exists():
                tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# ckpt-lint cache\n")
                (self.directory / ".gitignore").write_text("*\n")
            fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                pickle.dump(self.new, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.file)
        except OSError:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
