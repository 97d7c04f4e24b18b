"""Which files a run looks at: directories recursed, excludes and .gitignore honoured,
explicit files always linted (unless `force_exclude`, which pre-commit hooks use)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pathspec

from ckpt_lint.config import Config, ConfigError


@dataclass(frozen=True)
class SourcePath:
    path: Path  # as opened
    display: str  # relative to cwd when under it (no ./), else as given


def display_path(path: Path) -> str:
    # the name as given, not its symlink target (a dangling link must be reported by its own name)
    absolute = Path(os.path.abspath(path))
    for cwd in (Path.cwd(), Path.cwd().resolve()):
        try:
            return absolute.relative_to(cwd).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _is_special(path: Path) -> bool:
    """A FIFO, socket or device: reading it could block forever or never end."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # missing or a dangling link: reading it gives a clear per-file error
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class _Excluder:
    def __init__(self, config: Config) -> None:
        self.root = config.root
        patterns = [*config.exclude, *config.extend_exclude]
        self.spec = pathspec.GitIgnoreSpec.from_lines(patterns)
        self.respect_gitignore = config.respect_gitignore
        self._gitignores: dict[Path, pathspec.GitIgnoreSpec | None] = {}

    def _rel(self, path: Path) -> str | None:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    def excluded(self, path: Path, is_dir: bool) -> bool:
        rel = self._rel(path)
        name = path.name + ("/" if is_dir else "")
        if self.spec.match_file(name):
            return True
        if rel is not None and self.spec.match_file(rel + ("/" if is_dir else "")):
            return True
        return self.respect_gitignore and self._gitignored(path, is_dir)

    def _gitignore(self, directory: Path) -> pathspec.GitIgnoreSpec | None:
        if directory not in self._gitignores:
            spec = None
            try:
                text = (directory / ".gitignore").read_text(encoding="utf-8", errors="replace")
                spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
            except OSError:
                pass
            self._gitignores[directory] = spec
        return self._gitignores[directory]

    def _gitignored(self, path: Path, is_dir: bool) -> bool:
        path = path.resolve()
        for directory in path.parents:
            spec = self._gitignore(directory)
            if spec is not None:
                rel = path.relative_to(directory).as_posix() + ("/" if is_dir else "")
                if spec.match_file(rel):
                    return True
            if (directory / ".git").exists():
                break
        return False


def discover(paths: list[str], config: Config) -> Iterator[SourcePath]:
    """Yield the Python files to lint, in a deterministic order, each once."""
    excluder = _Excluder(config)
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if raw == "-":
            continue
        if not path.exists() and not path.is_symlink():
            raise ConfigError(f"path does not exist: {raw}")
        if path.is_dir():
            for file in _walk(path, excluder):
                key = file.resolve()
                if key not in seen:
                    seen.add(key)
                    yield SourcePath(file, display_path(file))
        else:
            if _is_special(path):
                raise ConfigError(f"not a regular file: {raw} (use '-' to read stdin)")
            if config.force_exclude and excluder.excluded(path, is_dir=False):
                continue
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield SourcePath(path, display_path(path))


def _walk(top: Path, excluder: _Excluder) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(top):
        base = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not excluder.excluded(base / d, is_dir=True))
        for name in sorted(filenames):
            if name.endswith(".py"):
                file = base / name
                if not _is_special(file) and not excluder.excluded(file, is_dir=False):
                    yield file
