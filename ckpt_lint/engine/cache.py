"""Result cache in `.ckpt_lint_cache/`: per-file facts and results keyed by content hash.

One pickle per effective configuration (tool source, rules, options), loaded once and replaced
atomically at the end of a run, so concurrent runs never see a torn file (last writer wins).
- path -> (mtime_ns, size, sha256): a file whose mtime and size are unchanged is not re-read.
- sha256 -> phase-1 record (facts, error, candidate, and the (name, module word) pairs its
  imports reach, which caller scans ask).
- (sha256, project digest) -> phase-2 result (False: the project facts said no rule may fire
  there). The project digest covers every parsed file's hash, so a change to a caller in
  another file invalidates the results that depend on it.
A run that computed nothing new leaves the file untouched. Beside it, `*.runs.pickle` maps a
fingerprint of a whole run's inputs (every file's path, mtime and size) to its result: a run
over unchanged files reads only that small file.
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


RUNS_KEPT = 8  # whole-run results remembered (a full CI run, pre-commit's file lists, ...)


class Cache:
    def __init__(self, directory: Path | None, settings_digest: str) -> None:
        self.directory = directory
        self.file = directory / f"{settings_digest[:24]}.pickle" if directory else None
        # whole runs, by fingerprint of every input file's (path, mtime, size): a run over
        # unchanged files reads this small file only, never the per-file records
        self.runs_file = directory / f"{settings_digest[:24]}.runs.pickle" if directory else None
        self._old: CacheData | None = None
        self._runs: dict[str, Any] | None = None
        self.new = CacheData()

    @property
    def enabled(self) -> bool:
        return self.file is not None

    @property
    def old(self) -> CacheData:
        if self._old is None:
            loaded = _load(self.file)
            self._old = loaded if isinstance(loaded, CacheData) else CacheData()
        return self._old

    def run(self, fingerprint: str) -> Any:
        """The stored result of a run over exactly these files, or None."""
        if self._runs is None:
            loaded = _load(self.runs_file)
            self._runs = loaded if isinstance(loaded, dict) else {}
        return self._runs.get(fingerprint)

    def save_run(self, fingerprint: str, result: Any) -> None:
        """Store a whole run's result, keeping the newest `RUNS_KEPT`."""
        if self.runs_file is None:
            return
        runs = dict(self._runs or {})
        runs.pop(fingerprint, None)
        runs[fingerprint] = result
        _atomic_dump(dict(list(runs.items())[-RUNS_KEPT:]), self.runs_file)

    def known_hash(self, path: str, stamp: tuple[int, int]) -> str | None:
        """The content hash recorded for `path` if its (mtime_ns, size) is unchanged."""
        entry = self.old.stats.get(path)
        if entry and (entry[0], entry[1]) == stamp:
            return entry[2]
        return None

    def save(self) -> None:
        if self.file is not None:
            _atomic_dump(self.new, self.file)


def _load(file: Path | None) -> Any:
    if file is None:
        return None
    try:
        with open(file, "rb") as handle:
            return pickle.load(handle)
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, TypeError):
        return None  # a missing or unreadable cache is an empty one


def _atomic_dump(value: Any, file: Path) -> None:
    directory = file.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tag = directory / "CACHEDIR.TAG"
        if not tag.exists():
            tag.write_text("Signature: 8a477f597d28d172789f06886806bc55\n# ckpt-lint cache\n")
            (directory / ".gitignore").write_text("*\n")
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, file)
    except OSError:
        with contextlib.suppress(OSError, UnboundLocalError):
            os.unlink(tmp)
