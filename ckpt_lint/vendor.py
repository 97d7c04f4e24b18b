"""Copy `ckpt_lint.runtime` into another project as a single file the fixes can import."""

from __future__ import annotations

import os
from pathlib import Path

from ckpt_lint import __version__
from ckpt_lint.config import ConfigError
from ckpt_lint.engine.fsio import WriteError, write_atomic

HEADER = (
    "# Vendored from ckpt_lint.runtime (ckpt-lint {version}) by `ckpt-lint vendor-runtime`.\n"
    "# Regenerate with that command rather than editing by hand.\n"
    # Not linted: its own deletions are the guarded primitives; rewriting them would recurse.
    "# ckpt-lint: skip-file\n"
)


def runtime_source() -> str:
    return (Path(__file__).parent / "runtime.py").read_text(encoding="utf-8")


def vendor_runtime(dest: Path) -> str:
    """Write the runtime to `dest` (atomically); returns a one-line description."""
    if dest.suffix != ".py":
        raise ConfigError(f"vendor destination must be a .py file: {dest}")
    if not dest.parent.is_dir():
        raise ConfigError(f"directory does not exist: {dest.parent}")
    data = (HEADER.format(version=__version__) + runtime_source()).encode("utf-8")
    if not dest.exists():
        dest.touch(mode=0o644)
    try:
        write_atomic(dest, data)
    except WriteError as exc:
        raise ConfigError(f"{dest}: {exc}") from None
    return f"wrote {dest} ({module_name_for_path(dest)})"


def module_name_for_path(dest: Path) -> str:
    """Import name of `dest`: its package path while the directories are packages."""
    dest = Path(os.path.abspath(dest))
    parts = [dest.stem]
    directory = dest.parent
    while (directory / "__init__.py").exists():
        parts.append(directory.name)
        directory = directory.parent
    return ".".join(reversed(parts))
