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
    real: Path | None = None  # resolved, when discovery knows it (saves a resolve per file)


def display_path(path: Path, cwds: tuple[Path, ...] | None = None) -> str:
    # the name as given, not its symlink target (a dangling link must be reported by its own name)
    absolute = Path(os.path.abspath(path))
    if cwds is None:
        cwds = _cwds()
    for cwd in cwds:
        try:
            return absolute.relative_to(cwd).as_posix()
        except ValueError:
            continue
    return path.as_posix()


def _cwds() -> tuple[Path, ...]:
    cwd = Path.cwd()
    return (cwd, cwd.resolve())


def _is_special(path: Path) -> bool:
    """A FIFO, socket or device: reading it could block forever or never end."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False  # missing or a dangling link: reading it gives a clear per-file error
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


class _Excluder:
    def __init__(self, config: Config) -> None:
        self.root = config.root.resolve()
        patterns = [*config.exclude, *config.extend_exclude]
        self.spec = pathspec.GitIgnoreSpec.from_lines(patterns)
        self.respect_gitignore = config.respect_gitignore
        self._gitignores: dict[Path, pathspec.GitIgnoreSpec | None] = {}
        self._repo_roots: dict[Path, bool] = {}

    def excluded(self, path: Path, is_dir: bool, real: Path | None = None) -> bool:
        """`real`: the resolved path when the caller has it."""
        real = real if real is not None else path.resolve()
        name = path.name + ("/" if is_dir else "")
        if self.spec.match_file(name):
            return True
        try:
            rel: str | None = real.relative_to(self.root).as_posix()
        except ValueError:
            rel = None
        if rel is not None and self.spec.match_file(rel + ("/" if is_dir else "")):
            return True
        return self.respect_gitignore and self._gitignored(real, is_dir)

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

    def _is_repo_root(self, directory: Path) -> bool:
        known = self._repo_roots.get(directory)
        if known is None:
            known = self._repo_roots[directory] = (directory / ".git").exists()
        return known

    def _gitignored(self, real: Path, is_dir: bool) -> bool:
        for directory in real.parents:
            spec = self._gitignore(directory)
            if spec is not None:
                rel = real.relative_to(directory).as_posix() + ("/" if is_dir else "")
                if spec.match_file(rel):
                    return True
            if self._is_repo_root(directory):
                break
        return False


def discover(paths: list[str], config: Config) -> Iterator[SourcePath]:
    """Yield the Python files to lint, in a deterministic order, each once."""
    excluder = _Excluder(config)
    seen: set[Path] = set()
    cwds = _cwds()
    for raw in paths:
        path = Path(raw)
        if raw == "-":
            continue
        if not path.exists() and not path.is_symlink():
            raise ConfigError(f"path does not exist: {raw}")
        if path.is_dir():
            top = display_path(path, cwds)
            for file, rel, real in _walk(path, excluder):
                if real not in seen:
                    seen.add(real)
                    yield SourcePath(file, rel if top == "." else f"{top}/{rel}", real)
        else:
            if _is_special(path):
                raise ConfigError(f"not a regular file: {raw} (use '-' to read stdin)")
            if config.force_exclude and excluder.excluded(path, is_dir=False):
                continue
            key = path.resolve()
            if key not in seen:
                seen.add(key)
                yield SourcePath(path, display_path(path, cwds), key)


def _walk(top: Path, excluder: _Excluder) -> Iterator[tuple[Path, str, Path]]:
    """(path as opened, path relative to `top`, resolved path) of each Python file, files of a
    directory first, then its subdirectories, by name. The tree is resolved once: below it,
    only a symlinked file needs its own resolve (symlinked directories are not followed)."""
    yield from _walk_dir(top, "", top.resolve(), excluder)


def _walk_dir(
    directory: Path, rel: str, real: Path, excluder: _Excluder
) -> Iterator[tuple[Path, str, Path]]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return
    subdirs = []
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                subdirs.append(entry)
                continue
            if not entry.name.endswith(".py"):
                continue
            file = directory / entry.name
            if entry.is_symlink():
                if _is_special(file):
                    continue
                file_real = file.resolve()
            elif entry.is_file(follow_symlinks=False):
                file_real = real / entry.name
            else:
                continue  # a FIFO, socket or device: reading it could block forever
        except OSError:
            continue
        if not excluder.excluded(file, is_dir=False, real=file_real):
            yield file, rel + entry.name, file_real
    for entry in subdirs:
        sub = directory / entry.name
        sub_real = real / entry.name
        if not excluder.excluded(sub, is_dir=True, real=sub_real):
            yield from _walk_dir(sub, f"{rel}{entry.name}/", sub_real, excluder)
