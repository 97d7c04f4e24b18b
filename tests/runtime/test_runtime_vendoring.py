"""The runtime is one stdlib-only file: import hygiene, vendoring under another name, API shape."""

from __future__ import annotations

import argparse
import glob
import inspect
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ckpt_lint import runtime as rt
from tests.runtime.conftest import clean_environ

RUNTIME = Path(rt.__file__)

# The names the autofixes emit: renaming one breaks every fixed script.
AUTOFIX_API = {
    "ProcessInfo",
    "process_info",
    "is_main_process",
    "is_local_main_process",
    "is_deleting_process",
    "remove_tree",
    "remove_file",
    "remove_dir",
    "main_process_rmtree",
    "main_process_remove",
    "main_process_rmdir",
    "rotate_checkpoints",
    "config_hash",
    "stable_run_id",
    "stable_run_dir",
    "VOLATILE_KEYS",
    "restart_count",
    "record_attempt",
    "record_checkpoint",
    "read_ledger",
    "COMPLETE_MARKER",
    "mark_complete",
    "is_complete",
    "list_checkpoints",
    "find_latest_complete",
    "atomic_checkpoint_dir",
    "ResumeError",
    "FRESH_START_ENV",
    "resolve_resume",
    "check_fresh_start",
    "RUNTIME_VERSION",
}


def test_public_api_is_exported() -> None:
    assert set(rt.__all__) >= AUTOFIX_API
    assert all(hasattr(rt, name) for name in rt.__all__)
    assert rt.RUNTIME_VERSION == "1"


def test_every_public_function_documents_all_three_settings() -> None:
    for name in rt.__all__:
        obj = getattr(rt, name)
        if not inspect.isfunction(obj):
            continue
        doc = (inspect.getdoc(obj) or "").lower()
        for setting in ("single process", "torch.distributed", "env-only multi-process"):
            assert setting in doc, f"{name}'s docstring does not cover {setting!r}"


def test_importing_pulls_in_no_heavy_modules() -> None:
    code = (
        "import sys, ckpt_lint.runtime\n"
        "heavy = {'libcst', 'torch', 'numpy', 'jax'} & {m.split('.')[0] for m in sys.modules}\n"
        "assert not heavy, heavy\n"
        "print('clean')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=clean_environ(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


def test_source_has_no_package_relative_or_project_imports() -> None:
    source = RUNTIME.read_text()
    assert "from ." not in source
    assert "import ckpt_lint" not in source and "from ckpt_lint" not in source


# Key single-process assertions, run against the vendored copy only.
VENDORED_CHECKS = r"""
import argparse, importlib.util, json, os, sys, tempfile
assert importlib.util.find_spec("ckpt_lint") is None, "ckpt_lint must not be importable here"
import ckpt_runtime as rt
expected = json.loads(sys.argv[1])
assert rt.RUNTIME_VERSION == "1"
assert rt.process_info() == rt.ProcessInfo(0, 1, 0, 0, "single")
assert rt.config_hash(argparse.Namespace(lr=0.1, seed=3, local_rank=2)) == expected["hash"]
root = tempfile.mkdtemp()
out = os.path.join(root, "out")
assert rt.resolve_resume(out) is None
for step in (1, 2, 3):
    with rt.atomic_checkpoint_dir(os.path.join(out, f"step_{step}")) as tmp:
        open(os.path.join(tmp, "w.bin"), "w").close()
    rt.record_checkpoint(out, os.path.join(out, f"step_{step}"))
assert [os.path.basename(p) for p in rt.rotate_checkpoints(out, keep=2)] == ["step_1"]
assert rt.find_latest_complete(out) == os.path.join(out, "step_3")
rt._RECORDED_ATTEMPTS.clear()
assert rt.resolve_resume(out) == os.path.join(out, "step_3")
for name in ("step_2", "step_3"):
    assert rt.main_process_rmtree(os.path.join(out, name))
rt._RECORDED_ATTEMPTS.clear()
try:
    rt.resolve_resume(out)
    raise SystemExit("lost checkpoints were not noticed")
except rt.ResumeError as exc:
    assert "ledger" in str(exc)
assert not rt.remove_tree(os.path.join(out, "step_3"))
assert len(rt.read_ledger(out)["checkpoints"]) == 3
print("vendored ok", sys.version_info[:2])
"""


def _interpreters() -> list[str]:
    found = {sys.executable}
    # other CPython versions on this machine, if any (3.10-3.13 are supported)
    for minor in ("3.10", "3.12", "3.13"):
        for candidate in sorted(glob.glob(f"/root/.pyenv/versions/{minor}*/bin/python3")):
            found.add(candidate)
        which = shutil.which(f"python{minor}")
        if which and "/shims/" not in which:  # pyenv shims refuse versions not selected
            found.add(which)
    return sorted(found)


@pytest.mark.parametrize("python", _interpreters())
def test_vendored_copy_works_alone(tmp_path: Path, python: str) -> None:
    vendor = tmp_path / "open_instruct"
    vendor.mkdir()
    header = "# Vendored from ckpt_lint.runtime by `ckpt-lint vendor-runtime`.\n"
    (vendor / "ckpt_runtime.py").write_text(header + RUNTIME.read_text())
    expected = {"hash": rt.config_hash(argparse.Namespace(lr=0.1, seed=3, local_rank=0))}
    env = {k: v for k, v in clean_environ().items() if k != "PYTHONPATH"}
    result = subprocess.run(
        # -S: no site-packages (so no installed ckpt_lint), -E: ignore PYTHON* variables
        [python, "-S", "-E", "-c", VENDORED_CHECKS, json.dumps(expected)],
        cwd=vendor,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "vendored ok" in result.stdout


def test_vendored_file_is_the_whole_runtime() -> None:
    # one file, nothing beside it that it needs
    assert os.path.basename(rt.__file__) == "runtime.py"
    assert "__all__" in RUNTIME.read_text()
