"""The hooks in .pre-commit-hooks.yaml under real `pre-commit try-repo` in a throwaway git repo.

try-repo installs the hook environment from this checkout (committed files plus tracked
changes) with pip, so it needs the package index for libcst; each call builds a fresh env
(try-repo always uses a throwaway store, ~15 s with a warm pip cache).
Set CKPT_LINT_HOOK_REPO to try another checkout (e.g. a clean clone while others edit).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.integrations.conftest import python_tool, run_tool

pytestmark = pytest.mark.integration

HOOK_REPO = os.environ.get("CKPT_LINT_HOOK_REPO") or str(ROOT)

BAD = """\
import os
import shutil

import torch.distributed as dist


def train(output_dir, steps):
    dist.init_process_group("nccl")
    for step in range(steps):
        old = os.path.join(output_dir, f"step_{step - 2}")
        if os.path.isdir(old):
            shutil.rmtree(old)  # every rank deletes the same shared folder
"""
BAD_LINE = 12


@pytest.fixture(scope="session")
def pre_commit_home(  # try-repo builds in a throwaway store; this keeps pre-commit's log out of ~
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def bad_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "project"
    (repo / "vendored").mkdir(parents=True)
    (repo / "train.py").write_text(BAD, encoding="utf-8")
    (repo / "vendored" / "copied.py").write_text(BAD, encoding="utf-8")
    (repo / "notes.txt").write_text("shutil.rmtree(path)\n", encoding="utf-8")
    (repo / "pyproject.toml").write_text(
        '[tool.ckpt-lint]\nextend-exclude = ["vendored"]\n', encoding="utf-8"
    )
    for args in (
        ["git", "init", "-q"],
        ["git", "config", "user.email", "test@example.com"],
        ["git", "config", "user.name", "test"],
        ["git", "add", "."],
    ):
        subprocess.run(args, cwd=repo, check=True, capture_output=True)
    return repo


def try_repo(hook: str, repo: Path, home: Path) -> subprocess.CompletedProcess:
    return python_tool(
        "pre_commit", "try-repo", HOOK_REPO, hook, "--all-files", "--color=never",
        cwd=repo, env={"PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"},
    )  # fmt: skip


def test_cli_itself_flags_the_bad_file(bad_repo: Path):
    proc = python_tool("ckpt_lint", "check", "--format", "json", "train.py", cwd=bad_repo)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"code": "CKP002"' in proc.stdout


def test_check_hook_fails_on_findings_and_honours_config_excludes(
    bad_repo: Path, pre_commit_home: Path
):
    proc = try_repo("ckpt-lint", bad_repo, pre_commit_home)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out
    assert f"train.py:{BAD_LINE}:" in out and "CKP002" in out
    assert "copied.py" not in out
    assert (bad_repo / "train.py").read_text(encoding="utf-8") == BAD


def test_fix_hook_rewrites_then_check_hook_passes(bad_repo: Path, pre_commit_home: Path):
    fixed = try_repo("ckpt-lint-fix", bad_repo, pre_commit_home)
    out = fixed.stdout + fixed.stderr
    assert fixed.returncode == 1, out  # pre-commit fails a hook that modified files
    assert "files were modified by this hook" in out
    text = (bad_repo / "train.py").read_text(encoding="utf-8")
    assert "shutil.rmtree(" not in text
    assert "main_process_rmtree(old)" in text
    assert "from ckpt_lint.runtime import main_process_rmtree" in text
    compile(text, "train.py", "exec")
    assert (bad_repo / "vendored" / "copied.py").read_text(encoding="utf-8") == BAD

    run_tool(["git", "add", "-A"], cwd=bad_repo)
    again = try_repo("ckpt-lint", bad_repo, pre_commit_home)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Passed" in again.stdout
