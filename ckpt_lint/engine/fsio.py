"""Writing a fixed file: atomically, same mode, through symlinks, never half-written."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


class WriteError(Exception):
    """A file we may not or could not write; reported per file, the original stays intact."""


def check_writable(path: Path) -> Path:
    """The real file behind `path` (symlinks kept as links), or WriteError if it is read-only."""
    real = Path(os.path.realpath(path))
    try:
        st = real.stat()
    except OSError as exc:
        raise WriteError(f"cannot stat: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise WriteError("not a regular file")
    if not st.st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteError("file is read-only; not fixed")
    return real


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temp file in the same directory + fsync + os.replace, keeping the mode."""
    real = check_writable(path)
    mode = stat.S_IMODE(real.stat().st_mode)
    _remove_stale_temps(real)
    fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".ckpt-lint.tmp", dir=real.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        _before_replace(tmp)
        os.replace(tmp, real)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write: {exc.strerror or exc}") from None
        raise


STALE_AFTER_S = 600


def _remove_stale_temps(real: Path) -> None:
    """A run killed between writing its temp file and the rename leaves `.name.*.ckpt-lint.tmp`;
    remove ours for this file once old enough that no running fix can still own it."""
    import time

    for leftover in real.parent.glob(f".{glob_escape(real.name)}.*.ckpt-lint.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > STALE_AFTER_S:
                leftover.unlink()


def glob_escape(name: str) -> str:
    import glob

    return glob.escape(name)


def _before_replace(tmp: str) -> None:
    """Test hook: a failure injected here must leave the original file intact."""
