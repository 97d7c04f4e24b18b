"""`fix` killed between writing its temp file and replacing the original: the original is intact."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.conftest import FIXTURES, run_cli

# in the child: SIGKILL the process at the last moment before os.replace (nothing runs after it)
KILLED_BEFORE_REPLACE = """
import os, signal, sys
from ckpt_lint.engine import fsio
fsio._before_replace = lambda tmp: os.kill(os.getpid(), signal.SIGKILL)
from ckpt_lint.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_mid_write_leaves_the_original_intact(tmp_path):
    # a large file with a real fix (the seed's timestamped output dir, CKP001)
    padding = "".join(f"setting_{i} = {i}\n" for i in range(3000))
    original = ((FIXTURES / "ckp001" / "seed_shape.py").read_text() + padding).encode()
    target = tmp_path / "train.py"
    target.write_bytes(original)
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_REPLACE, "fix", "--unsafe-fixes", "--no-cache", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert target.read_bytes() == original
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p != target)
    # the only trace is our own fsync'd temp file, holding the complete fixed text
    assert len(leftovers) == 1, leftovers
    assert leftovers[0].startswith(".train.py.") and leftovers[0].endswith(".ckpt-lint.tmp")
    stale = (tmp_path / leftovers[0]).read_bytes()
    assert b"stable_run_id" in stale and stale.endswith(padding.encode())

    # the next run is not confused by the stale temp file: it is not linted, the fix goes through
    again = run_cli("fix", "--unsafe-fixes", "--no-cache", ".", cwd=tmp_path)
    assert "Traceback" not in again.stderr and ".ckpt-lint.tmp" not in again.stdout
    assert target.read_bytes() == stale
